-- The session statistics' refresh after new events narrows to the
-- sessions that had them (issue 24: at 100M events it recomputed every
-- session of the touched hours, 140,000 an hour, with each visitor's first
-- sighting read from visitor_profiles: 5.5 s for 1,000 events).
--
-- sessions_touched says which sessions had events since the last refresh
-- (hours_touched said only which hours, and every session of an hour was
-- recomputed); its view replaces hours_touched's, so that inserts pay no
-- view more. The table hours_touched stays, no longer written: a processor
-- of the version before, still running during an upgrade, finds no
-- touched hour there and refreshes nothing, where a dropped table failed
-- its every refresh.
--
-- session_summaries keeps each session's figures as the last refresh
-- computed them, a row per hour the session has events in: in the hour it
-- began, sessions = 1 and its figures; in its other hours, zeros, which
-- replace the row of an hour it no longer begins in (an earlier event
-- arrived late). An hour's row of sessions_hourly is the sum of that
-- hour's rows here (FINAL), so that a refresh recomputes the touched
-- sessions and sums their hours, not every session of them.
-- started_at lets a period that cuts an hour (a zone half an hour off
-- UTC) count that hour's sessions by their start.
--
-- Sessions are refreshed under a new kind of refresh (session_summaries in
-- the refreshes table), so the first refresh of each site after this
-- migration rebuilds it whole and fills session_summaries.
CREATE TABLE IF NOT EXISTS sessions_touched (
    site_id    String,
    hour       DateTime,
    session_id String,
    touched_at DateTime
) ENGINE = MergeTree
PARTITION BY toYYYYMMDD(touched_at)
ORDER BY (site_id, touched_at, hour, session_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS sessions_touched_mv TO sessions_touched AS
SELECT site_id, toStartOfHour(time) AS hour, session_id, now() AS touched_at
FROM events WHERE session_id != '' AND is_bot = 0
GROUP BY site_id, hour, session_id;

DROP TABLE IF EXISTS hours_touched_mv;

CREATE TABLE IF NOT EXISTS session_summaries (
    site_id      String,
    hour         DateTime,
    session_id   String,
    started_at   DateTime,
    sessions     UInt8,
    new_sessions UInt8,
    bounces      UInt8,
    duration     UInt32,
    version      UInt64
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(hour)
ORDER BY (site_id, hour, session_id);
