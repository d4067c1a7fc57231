-- Per site, day and page (and per site, day and source): page views and
-- unique visitors, so the dashboard's top lists merge a few rows per day
-- instead of scanning every event of the period. Same filters as the
-- reports: no bots; page views count only type 'pageview'.
CREATE TABLE IF NOT EXISTS pages_daily (
    site_id   String,
    day       Date,
    url_path  String,
    pageviews AggregateFunction(count),
    visitors  AggregateFunction(uniq, String)
) ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (site_id, day, url_path);

CREATE TABLE IF NOT EXISTS sources_daily (
    site_id   String,
    day       Date,
    source    String,
    pageviews AggregateFunction(countIf, UInt8),
    visitors  AggregateFunction(uniq, String)
) ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (site_id, day, source);

-- Events stored before this migration: the processor runs migrations before
-- it consumes, so nothing is inserted between this backfill and the views
-- below (several processors starting at once could double a few events).
INSERT INTO pages_daily (site_id, day, url_path, pageviews, visitors)
SELECT site_id, toDate(time) AS day, url_path, countState(), uniqState(visitor_id)
FROM events WHERE type = 'pageview' AND is_bot = 0
GROUP BY site_id, day, url_path;

INSERT INTO sources_daily (site_id, day, source, pageviews, visitors)
SELECT site_id, toDate(time) AS day, source, countIfState(type = 'pageview'), uniqState(visitor_id)
FROM events WHERE is_bot = 0
GROUP BY site_id, day, source;

CREATE MATERIALIZED VIEW IF NOT EXISTS pages_daily_mv TO pages_daily AS
SELECT site_id, toDate(time) AS day, url_path, countState() AS pageviews, uniqState(visitor_id) AS visitors
FROM events WHERE type = 'pageview' AND is_bot = 0
GROUP BY site_id, day, url_path;

CREATE MATERIALIZED VIEW IF NOT EXISTS sources_daily_mv TO sources_daily AS
SELECT site_id, toDate(time) AS day, source, countIfState(type = 'pageview') AS pageviews, uniqState(visitor_id) AS visitors
FROM events WHERE is_bot = 0
GROUP BY site_id, day, source;
