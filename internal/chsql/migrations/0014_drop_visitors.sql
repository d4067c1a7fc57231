-- visitors held, per site and visitor id, first and last seen, sessions and
-- page views: a subset of visitor_profiles, kept by a view of its own on
-- every insert. Its two readers (returning sessions in sessionstats and the
-- visitor_type breakdown) read first_seen from visitor_profiles now, where
-- the same minState(time) over the same events is kept. One table less to
-- write a part to on every insert.
DROP TABLE IF EXISTS visitors_mv;

DROP TABLE IF EXISTS visitors;
