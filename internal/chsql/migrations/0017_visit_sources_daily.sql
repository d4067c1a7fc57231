-- The overview's top sources are the breakdown's: page views and visitors
-- per source the visit is credited to (visit_source, 0016), no longer per
-- each page view's own referrer (which made a visit's later pages
-- (internal)). sources_daily is filled again from the events, which 0016
-- credited. The processor runs migrations before it consumes, and the
-- view comes back last, so a run cut short is run again whole.
DROP TABLE IF EXISTS sources_daily_mv;

TRUNCATE TABLE sources_daily;

INSERT INTO sources_daily (site_id, day, source, pageviews, visitors, visitors_hll)
SELECT site_id, toDate(time) AS day, visit_source, countIfState(type = 'pageview'), uniqState(visitor_id),
       uniqHLL12State(visitor_id)
FROM events WHERE is_bot = 0 AND ingest != 'email'
GROUP BY site_id, day, visit_source;

CREATE MATERIALIZED VIEW IF NOT EXISTS sources_daily_mv TO sources_daily AS
SELECT site_id, toDate(time) AS day, visit_source AS source, countIfState(type = 'pageview') AS pageviews,
       uniqState(visitor_id) AS visitors, uniqHLL12State(visitor_id) AS visitors_hll
FROM events WHERE is_bot = 0 AND ingest != 'email'
GROUP BY site_id, day, visit_source;
