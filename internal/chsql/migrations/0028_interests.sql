-- One table of interests instead of two (issue 24: every view on events
-- writes a part on every insert). visitor_interests (0007, by visitor, for
-- the profile page) and interest_visitors (0009, by section, for segments)
-- held the same rows; interest_visitors takes visitor_interests' count of
-- views and serves both: a visitor's rows are found through the key's
-- (kind, interest) runs, a few granules each. Both views are dropped
-- first; then the step in Go (interests.go) fills interest_visitors again
-- from visitor_interests while that table is there (0029 drops it) and
-- makes the view last, so that a run cut short is run again whole (the
-- processor runs migrations before it consumes).
--
-- 18.16 has no ADD COLUMN IF NOT EXISTS: the runner skips a column that is
-- there already.
ALTER TABLE interest_visitors ADD COLUMN views AggregateFunction(count) AFTER visitor_id;

DROP TABLE IF EXISTS interest_visitors_mv;

DROP TABLE IF EXISTS visitor_interests_mv;
