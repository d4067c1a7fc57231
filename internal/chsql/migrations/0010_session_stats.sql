-- Sessions per hour they began in, so that the overview sums a row an hour
-- instead of merging every session of the site. A session's start, page
-- views and length are known only once its events are in, so a refresh
-- (processor/sessionstats) recomputes the hours in which the sessions that
-- had new events began; hours_touched says which hours had events since the
-- last refresh.
--
-- session_parts keeps each session's states per hour, ordered by hour: the
-- sessions of a few hours, with their neighbouring hours, are a range of
-- it, where the sessions table (ordered by session id) would be read whole.
CREATE TABLE IF NOT EXISTS session_parts (
    site_id    String,
    hour       DateTime,
    session_id String,
    visitor_id AggregateFunction(any, String),
    started_at AggregateFunction(min, DateTime),
    ended_at   AggregateFunction(max, DateTime),
    pageviews  AggregateFunction(countIf, UInt8)
) ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (site_id, hour, session_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS session_parts_mv TO session_parts AS
SELECT site_id, toStartOfHour(time) AS hour, session_id, anyState(visitor_id) AS visitor_id,
       minState(time) AS started_at, maxState(time) AS ended_at, countIfState(type = 'pageview') AS pageviews
FROM events WHERE session_id != '' AND is_bot = 0
GROUP BY site_id, hour, session_id;

CREATE TABLE IF NOT EXISTS hours_touched (
    site_id    String,
    hour       DateTime,
    touched_at DateTime
) ENGINE = MergeTree
PARTITION BY toYYYYMMDD(touched_at)
ORDER BY (site_id, touched_at, hour);

CREATE MATERIALIZED VIEW IF NOT EXISTS hours_touched_mv TO hours_touched AS
SELECT site_id, toStartOfHour(time) AS hour, now() AS touched_at
FROM events WHERE session_id != '' AND is_bot = 0
GROUP BY site_id, hour;

-- bounces: sessions with one page view or none; duration: seconds from
-- first to last event, summed; new_sessions: the visitor was first seen in
-- the session.
CREATE TABLE IF NOT EXISTS sessions_hourly (
    site_id      String,
    hour         DateTime,
    sessions     UInt64,
    new_sessions UInt64,
    bounces      UInt64,
    duration     UInt64,
    version      UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (site_id, hour);

INSERT INTO session_parts (site_id, hour, session_id, visitor_id, started_at, ended_at, pageviews)
SELECT site_id, toStartOfHour(time) AS hour, session_id, anyState(visitor_id), minState(time), maxState(time),
       countIfState(type = 'pageview')
FROM events WHERE session_id != '' AND is_bot = 0
GROUP BY site_id, hour, session_id;
