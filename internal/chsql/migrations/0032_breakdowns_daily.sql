-- Breakdowns that stay interactive as data grows (issue 24): a breakdown
-- of a month of 10M events read every event (2 to 3.5 s); on a site with
-- 100,000 visitors or more in the period its visitors and sessions are
-- uniqHLL12 sketches, which merge per day as cheaply as the overview's.
--
-- breakdowns_daily: per site and UTC day, the events of each combination
-- of the low-cardinality dimensions (type, host, source, medium, device,
-- browser, OS, country: columns named as the events' so that a report's
-- filters read them as they are); page_breakdowns the same per page, per
-- UTC day (days = 1) and per UTC week from Monday (days = 7): a month by
-- page merges each page's four whole weeks and a few days, not its 30
-- days (at 10M events, 500 pages: merging a sketch costs about 25 us on
-- 18.16, and the pages' 15,000 daily rows took 300 ms to rank).
-- Each holds the breakdown's traffic metrics as aggregate states of the
-- expressions internal/reports defines (Metric.Sketch, else Events:
-- TestRollupStatesAreTheMetrics): visitors and sessions as uniqHLL12,
-- page views and events as counts. A breakdown merges them for the
-- period's whole UTC days and reads the rest from the events
-- (internal/reports' daySplit, as the overview's top lists).
--
-- purchases is a copy of the purchase events' columns the reports read:
-- a breakdown's orders and revenue count each order once (internal/orders),
-- which needs the orders' keys. breakdowns_daily leaves purchases out: the
-- processor credits an order's earlier copies again (an ALTER TABLE ...
-- UPDATE of their visit_* columns, processor/attribute's qRecredit),
-- which no aggregate state can follow; a breakdown over it reads their
-- traffic from purchases, which the recredit updates too. The pages'
-- rollup keys by no visit_* column and counts them. The erasure finds
-- purchases by its identifier columns.
--
-- The processor runs migrations before it consumes; a run cut short is
-- run again whole: the views go first and come back last, the tables are
-- emptied before their backfill.
CREATE TABLE IF NOT EXISTS breakdowns_daily (
    site_id         String,
    day             Date,
    type            String,
    url_host        String,
    visit_source    String,
    visit_medium    String,
    device          String,
    browser         String,
    os              String,
    country         String,
    visitors_state  AggregateFunction(uniqHLL12If, String, UInt8),
    pageviews_state AggregateFunction(countIf, UInt8),
    sessions_state  AggregateFunction(uniqHLL12If, String, UInt8),
    events_state    AggregateFunction(count)
) ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (site_id, day, type, url_host, visit_source, visit_medium, device, browser, os, country);

CREATE TABLE IF NOT EXISTS page_breakdowns (
    site_id         String,
    days            UInt8,
    day             Date,
    url_path        String,
    visitors_state  AggregateFunction(uniqHLL12If, String, UInt8),
    pageviews_state AggregateFunction(countIf, UInt8),
    sessions_state  AggregateFunction(uniqHLL12If, String, UInt8),
    events_state    AggregateFunction(count)
) ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (site_id, days, day, url_path);

CREATE TABLE IF NOT EXISTS purchases (
    event_id       UUID,
    time           DateTime,
    site_id        String,
    type           String,
    visitor_id     String,
    session_id     String,
    order_id       String,
    revenue_micros Int64,
    currency       String,
    url_host       String,
    url_path       String,
    visit_source   String,
    visit_medium   String,
    device         String,
    browser        String,
    os             String,
    country        String,
    is_bot         UInt8,
    ingest         String
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(time)
ORDER BY (site_id, time, event_id);

DROP TABLE IF EXISTS breakdowns_daily_mv;

DROP TABLE IF EXISTS page_breakdowns_mv;

DROP TABLE IF EXISTS purchases_mv;

TRUNCATE TABLE breakdowns_daily;

TRUNCATE TABLE page_breakdowns;

TRUNCATE TABLE purchases;

INSERT INTO breakdowns_daily (site_id, day, type, url_host, visit_source, visit_medium, device, browser, os, country,
                              visitors_state, pageviews_state, sessions_state, events_state)
SELECT site_id, toDate(time) AS day, type, url_host, visit_source, visit_medium, device, browser, os, country,
       uniqHLL12IfState(visitor_id, substring(visitor_id, 1, 2) != 'u:'), countIfState(type = 'pageview'),
       uniqHLL12IfState(session_id, session_id != ''), countState()
FROM events WHERE is_bot = 0 AND ingest != 'email' AND type != 'purchase'
GROUP BY site_id, day, type, url_host, visit_source, visit_medium, device, browser, os, country;

INSERT INTO page_breakdowns (site_id, days, day, url_path, visitors_state, pageviews_state, sessions_state, events_state)
SELECT site_id, days, if(days = 1, toDate(time), toMonday(time)) AS day, url_path,
       uniqHLL12IfState(visitor_id, substring(visitor_id, 1, 2) != 'u:'), countIfState(type = 'pageview'),
       uniqHLL12IfState(session_id, session_id != ''), countState()
FROM events ARRAY JOIN [1, 7] AS days WHERE is_bot = 0 AND ingest != 'email'
GROUP BY site_id, days, day, url_path;

INSERT INTO purchases (event_id, time, site_id, type, visitor_id, session_id, order_id, revenue_micros, currency,
                       url_host, url_path, visit_source, visit_medium, device, browser, os, country, is_bot, ingest)
SELECT event_id, time, site_id, type, visitor_id, session_id, order_id, revenue_micros, currency,
       url_host, url_path, visit_source, visit_medium, device, browser, os, country, is_bot, ingest
FROM events WHERE type = 'purchase';

CREATE MATERIALIZED VIEW IF NOT EXISTS breakdowns_daily_mv TO breakdowns_daily AS
SELECT site_id, toDate(time) AS day, type, url_host, visit_source, visit_medium, device, browser, os, country,
       uniqHLL12IfState(visitor_id, substring(visitor_id, 1, 2) != 'u:') AS visitors_state,
       countIfState(type = 'pageview') AS pageviews_state,
       uniqHLL12IfState(session_id, session_id != '') AS sessions_state,
       countState() AS events_state
FROM events WHERE is_bot = 0 AND ingest != 'email' AND type != 'purchase'
GROUP BY site_id, day, type, url_host, visit_source, visit_medium, device, browser, os, country;

CREATE MATERIALIZED VIEW IF NOT EXISTS page_breakdowns_mv TO page_breakdowns AS
SELECT site_id, days, if(days = 1, toDate(time), toMonday(time)) AS day, url_path,
       uniqHLL12IfState(visitor_id, substring(visitor_id, 1, 2) != 'u:') AS visitors_state,
       countIfState(type = 'pageview') AS pageviews_state,
       uniqHLL12IfState(session_id, session_id != '') AS sessions_state,
       countState() AS events_state
FROM events ARRAY JOIN [1, 7] AS days WHERE is_bot = 0 AND ingest != 'email'
GROUP BY site_id, days, day, url_path;

CREATE MATERIALIZED VIEW IF NOT EXISTS purchases_mv TO purchases AS
SELECT event_id, time, site_id, type, visitor_id, session_id, order_id, revenue_micros, currency,
       url_host, url_path, visit_source, visit_medium, device, browser, os, country, is_bot, ingest
FROM events WHERE type = 'purchase';
