-- Newsletter campaigns and their recipients. Each recipient has an opaque
-- token; the collector's /o/, /c/ and /u/ events carry only the token and
-- the processor finds site, campaign and e-mail here.
CREATE TABLE IF NOT EXISTS campaigns (
    site_id      String,
    campaign_id  String,
    name         String,
    purpose      String,
    sent_at      DateTime,
    cost_micros  Int64,
    currency     String,
    created_at   DateTime,
    version      UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (site_id, campaign_id);

CREATE TABLE IF NOT EXISTS recipients (
    site_id     String,
    campaign_id String,
    token       String,
    email       String,
    external_id String,
    added_at    DateTime
) ENGINE = ReplacingMergeTree
ORDER BY (site_id, campaign_id, email);

-- Newsletter events (sends, opens, clicks, unsubscribes: ingest 'email')
-- are not site traffic: the visitors of the site's charts and sources must
-- not count a recipient whose mail client fetched a pixel. The two views
-- that counted every event are made again without them.
DROP TABLE IF EXISTS events_hourly_mv;

CREATE MATERIALIZED VIEW IF NOT EXISTS events_hourly_mv TO events_hourly AS
SELECT
    site_id,
    toStartOfHour(time) AS hour,
    countIfState(type = 'pageview' AND is_bot = 0) AS pageviews,
    countState() AS events,
    uniqIfState(visitor_id, is_bot = 0) AS visitors
FROM events WHERE ingest != 'email'
GROUP BY site_id, hour;

DROP TABLE IF EXISTS sources_daily_mv;

CREATE MATERIALIZED VIEW IF NOT EXISTS sources_daily_mv TO sources_daily AS
SELECT site_id, toDate(time) AS day, source, countIfState(type = 'pageview') AS pageviews, uniqState(visitor_id) AS visitors
FROM events WHERE is_bot = 0 AND ingest != 'email'
GROUP BY site_id, day, source;
