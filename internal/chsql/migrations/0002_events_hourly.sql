-- Per site and hour: page views, events and unique visitors, kept by a
-- materialized view on every insert into events. Visitors are uniq states,
-- so hours merge into correct daily or monthly uniques (uniqIfMerge).
CREATE TABLE IF NOT EXISTS events_hourly (
    site_id   String,
    hour      DateTime,
    pageviews AggregateFunction(countIf, UInt8),
    events    AggregateFunction(count),
    visitors  AggregateFunction(uniqIf, String, UInt8)
) ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (site_id, hour);

CREATE MATERIALIZED VIEW IF NOT EXISTS events_hourly_mv TO events_hourly AS
SELECT
    site_id,
    toStartOfHour(time) AS hour,
    countIfState(type = 'pageview' AND is_bot = 0) AS pageviews,
    countState() AS events,
    uniqIfState(visitor_id, is_bot = 0) AS visitors
FROM events
GROUP BY site_id, hour;
