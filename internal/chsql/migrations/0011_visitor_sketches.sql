-- Unique visitors of the overview as HyperLogLog sketches (uniqHLL12: at
-- most 2.5 KB a state, exact up to 16 visitors, about 1.6% error above),
-- beside the uniq states of the same rollups, which stay for whoever reads
-- them. At 10M events, merging a month of the hourly uniq states took
-- 0.5 s, the daily ones per source 0.4 s and those of the top ten pages
-- 0.16 s; the sketches merge in 15 to 30 ms.
--
-- The views are made again with the new column (a migration runs before
-- the processor consumes). A sketch counts a visitor once however often it
-- sees them, so the backfills may overlap what the views add meanwhile.
ALTER TABLE events_hourly ADD COLUMN visitors_hll AggregateFunction(uniqHLL12If, String, UInt8);

ALTER TABLE pages_daily ADD COLUMN visitors_hll AggregateFunction(uniqHLL12, String);

ALTER TABLE sources_daily ADD COLUMN visitors_hll AggregateFunction(uniqHLL12, String);

DROP TABLE IF EXISTS events_hourly_mv;

CREATE MATERIALIZED VIEW IF NOT EXISTS events_hourly_mv TO events_hourly AS
SELECT
    site_id,
    toStartOfHour(time) AS hour,
    countIfState(type = 'pageview' AND is_bot = 0) AS pageviews,
    countState() AS events,
    uniqIfState(visitor_id, is_bot = 0) AS visitors,
    uniqHLL12IfState(visitor_id, is_bot = 0) AS visitors_hll
FROM events WHERE ingest != 'email'
GROUP BY site_id, hour;

DROP TABLE IF EXISTS pages_daily_mv;

CREATE MATERIALIZED VIEW IF NOT EXISTS pages_daily_mv TO pages_daily AS
SELECT site_id, toDate(time) AS day, url_path, countState() AS pageviews, uniqState(visitor_id) AS visitors,
       uniqHLL12State(visitor_id) AS visitors_hll
FROM events WHERE type = 'pageview' AND is_bot = 0
GROUP BY site_id, day, url_path;

DROP TABLE IF EXISTS sources_daily_mv;

CREATE MATERIALIZED VIEW IF NOT EXISTS sources_daily_mv TO sources_daily AS
SELECT site_id, toDate(time) AS day, source, countIfState(type = 'pageview') AS pageviews, uniqState(visitor_id) AS visitors,
       uniqHLL12State(visitor_id) AS visitors_hll
FROM events WHERE is_bot = 0 AND ingest != 'email'
GROUP BY site_id, day, source;

INSERT INTO events_hourly (site_id, hour, visitors_hll)
SELECT site_id, toStartOfHour(time) AS hour, uniqHLL12IfState(visitor_id, is_bot = 0)
FROM events WHERE ingest != 'email'
GROUP BY site_id, hour;

INSERT INTO pages_daily (site_id, day, url_path, visitors_hll)
SELECT site_id, toDate(time) AS day, url_path, uniqHLL12State(visitor_id)
FROM events WHERE type = 'pageview' AND is_bot = 0
GROUP BY site_id, day, url_path;

INSERT INTO sources_daily (site_id, day, source, visitors_hll)
SELECT site_id, toDate(time) AS day, source, uniqHLL12State(visitor_id)
FROM events WHERE is_bot = 0 AND ingest != 'email'
GROUP BY site_id, day, source;
