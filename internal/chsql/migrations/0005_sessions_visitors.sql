-- Sessions (from the snippet's session_id: 30 minutes without events, or a
-- new campaign, start a new one) and visitors, kept by materialized views.
-- A session is "returning" when its visitor was first seen before it began.
-- Hits without a session id (pixels, server API) are not in sessions.
CREATE TABLE IF NOT EXISTS sessions (
    site_id    String,
    session_id String,
    visitor_id AggregateFunction(any, String),
    started_at AggregateFunction(min, DateTime),
    ended_at   AggregateFunction(max, DateTime),
    events     AggregateFunction(count),
    pageviews  AggregateFunction(countIf, UInt8),
    entry_path AggregateFunction(argMin, String, DateTime),
    exit_path  AggregateFunction(argMax, String, DateTime),
    source     AggregateFunction(argMin, String, DateTime)
) ENGINE = AggregatingMergeTree
ORDER BY (site_id, session_id);

CREATE TABLE IF NOT EXISTS visitors (
    site_id    String,
    visitor_id String,
    first_seen AggregateFunction(min, DateTime),
    last_seen  AggregateFunction(max, DateTime),
    sessions   AggregateFunction(uniq, String),
    pageviews  AggregateFunction(countIf, UInt8)
) ENGINE = AggregatingMergeTree
ORDER BY (site_id, visitor_id);

INSERT INTO sessions (site_id, session_id, visitor_id, started_at, ended_at, events, pageviews, entry_path, exit_path, source)
SELECT site_id, session_id, anyState(visitor_id), minState(time), maxState(time), countState(),
       countIfState(type = 'pageview'), argMinState(url_path, time), argMaxState(url_path, time), argMinState(source, time)
FROM events WHERE session_id != '' AND is_bot = 0
GROUP BY site_id, session_id;

INSERT INTO visitors (site_id, visitor_id, first_seen, last_seen, sessions, pageviews)
SELECT site_id, visitor_id, minState(time), maxState(time), uniqState(session_id), countIfState(type = 'pageview')
FROM events WHERE visitor_id != '' AND is_bot = 0
GROUP BY site_id, visitor_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS sessions_mv TO sessions AS
SELECT site_id, session_id, anyState(visitor_id) AS visitor_id, minState(time) AS started_at, maxState(time) AS ended_at,
       countState() AS events, countIfState(type = 'pageview') AS pageviews,
       argMinState(url_path, time) AS entry_path, argMaxState(url_path, time) AS exit_path,
       argMinState(source, time) AS source
FROM events WHERE session_id != '' AND is_bot = 0
GROUP BY site_id, session_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS visitors_mv TO visitors AS
SELECT site_id, visitor_id, minState(time) AS first_seen, maxState(time) AS last_seen,
       uniqState(session_id) AS sessions, countIfState(type = 'pageview') AS pageviews
FROM events WHERE visitor_id != '' AND is_bot = 0
GROUP BY site_id, visitor_id;
