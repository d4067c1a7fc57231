-- An order the shop's server sends with the customer's id only is stored
-- under the pseudo-visitor u:<user id> (event.UserVisitorPrefix): no
-- browser, no visit. It must not count as a visitor: six buyers each with
-- a browser and a server copy of their order were twelve visitors. The
-- rollups' visitor states leave ids starting u: out (the reports' Visitors
-- metric, internal/reports, does the same over events), and are filled
-- again from the events. sources_daily's states are uniq without a
-- condition, so it leaves those rows out whole: a page view sent by the
-- server under u: is no visit's page view either. The processor runs
-- migrations before it consumes, and the views come back last, so a run
-- cut short is run again whole.
DROP TABLE IF EXISTS events_hourly_mv;

TRUNCATE TABLE events_hourly;

INSERT INTO events_hourly (site_id, hour, pageviews, events, visitors, visitors_hll)
SELECT site_id, toStartOfHour(time) AS hour, countIfState(type = 'pageview' AND is_bot = 0), countState(),
       uniqIfState(visitor_id, is_bot = 0 AND substring(visitor_id, 1, 2) != 'u:'),
       uniqHLL12IfState(visitor_id, is_bot = 0 AND substring(visitor_id, 1, 2) != 'u:')
FROM events WHERE ingest != 'email'
GROUP BY site_id, hour;

CREATE MATERIALIZED VIEW IF NOT EXISTS events_hourly_mv TO events_hourly AS
SELECT
    site_id,
    toStartOfHour(time) AS hour,
    countIfState(type = 'pageview' AND is_bot = 0) AS pageviews,
    countState() AS events,
    uniqIfState(visitor_id, is_bot = 0 AND substring(visitor_id, 1, 2) != 'u:') AS visitors,
    uniqHLL12IfState(visitor_id, is_bot = 0 AND substring(visitor_id, 1, 2) != 'u:') AS visitors_hll
FROM events WHERE ingest != 'email'
GROUP BY site_id, hour;

DROP TABLE IF EXISTS sources_daily_mv;

TRUNCATE TABLE sources_daily;

INSERT INTO sources_daily (site_id, day, source, pageviews, visitors, visitors_hll)
SELECT site_id, toDate(time) AS day, visit_source, countIfState(type = 'pageview'), uniqState(visitor_id),
       uniqHLL12State(visitor_id)
FROM events WHERE is_bot = 0 AND ingest != 'email' AND substring(visitor_id, 1, 2) != 'u:'
GROUP BY site_id, day, visit_source;

CREATE MATERIALIZED VIEW IF NOT EXISTS sources_daily_mv TO sources_daily AS
SELECT site_id, toDate(time) AS day, visit_source AS source, countIfState(type = 'pageview') AS pageviews,
       uniqState(visitor_id) AS visitors, uniqHLL12State(visitor_id) AS visitors_hll
FROM events WHERE is_bot = 0 AND ingest != 'email' AND substring(visitor_id, 1, 2) != 'u:'
GROUP BY site_id, day, visit_source;
