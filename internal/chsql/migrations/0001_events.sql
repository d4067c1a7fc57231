-- Raw events, one row per accepted hit. Partitioned by month so old months
-- can be dropped whole; ordered by site and time for the reports, with the
-- event id last so ReplacingMergeTree folds any duplicate that reached
-- Kafka twice (a producer retry after a lost acknowledgement).
CREATE TABLE IF NOT EXISTS events (
    event_id        UUID,
    time            DateTime,
    site_id         String,
    type            String,
    name            String,
    visitor_id      String,
    session_id      String,
    user_id         String,
    url             String,
    url_host        String,
    url_path        String,
    title           String,
    referrer        String,
    referrer_host   String,
    source          String,
    medium          String,
    utm_source      String,
    utm_medium      String,
    utm_campaign    String,
    utm_term        String,
    utm_content     String,
    affiliate       String,
    click_id        String,
    order_id        String,
    revenue_micros  Int64,
    currency        String,
    browser         String,
    browser_version String,
    os              String,
    device          String,
    is_bot          UInt8,
    ip              String,
    user_agent      String,
    ingest          String,
    prop_keys       Array(String),
    prop_values     Array(String)
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(time)
ORDER BY (site_id, time, event_id);
