-- Sessions per hour they began in, so that the overview sums a row an hour
-- instead of merging every session of the site. A session's start is known
-- only once all its events are in, so a refresh (processor/sessionstats)
-- recomputes the hours whose sessions had new events, from the sessions
-- table; session_hours says which sessions had events in an hour, and
-- hours_touched which hours had events since the last refresh.
CREATE TABLE IF NOT EXISTS session_hours (
    site_id    String,
    hour       DateTime,
    session_id String
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (site_id, hour, session_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS session_hours_mv TO session_hours AS
SELECT site_id, toStartOfHour(time) AS hour, session_id
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

INSERT INTO session_hours (site_id, hour, session_id)
SELECT site_id, toStartOfHour(time) AS hour, session_id
FROM events WHERE session_id != '' AND is_bot = 0
GROUP BY site_id, hour, session_id;
