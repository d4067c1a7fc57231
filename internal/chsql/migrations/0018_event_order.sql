-- The first or last event of a session, a visitor or a product, when
-- several share a second. time is in whole seconds, and migrations 0005 to
-- 0007 keyed their argMin/argMax states by time alone: of the events of one
-- second, the state kept whichever ClickHouse read first, and 18.16 and
-- current versions read them in different orders (2,000 sessions of three
-- page views in one second had the entry page /p2 on one and /p1 on the
-- other). The states are now keyed by the order in which the events
-- happened: their second, then their id (internal/event NewID: the
-- millisecond, a counter of the collector's ids in that millisecond, then
-- random bits, so the order is total), as one text,
--     concat(hex(toUInt64(time) + 4294967296), toString(event_id))
-- the second in ten hex digits (adding 2^32 gives every DateTime the same
-- width) followed by the id's text, whose order is the id's bytes' order.
-- internal/reports (EventOrder) orders the reports' events by the same
-- text; a String key costs argMin far less than the tuple (time, id).
--
-- sessions keeps the path of the first and the last page view (entry_page,
-- exit_page: the reports' entry and exit pages) and the source of the
-- first event (entry_source); identities the first user id (first_user_id);
-- viewed_products the latest name (product_name). ClickHouse 18.16 changes
-- neither a column's type nor its name, so these are new columns, filled
-- from the stored events, and the old ones (entry_path, exit_path, source;
-- person; name) are dropped. The runner takes an ADD COLUMN that finds its
-- column there, and a DROP COLUMN that finds it gone, as done, so a
-- migration cut short runs again; the backfills may overlap what the views
-- add meanwhile, since the first or last of an event kept twice is the same.

ALTER TABLE sessions ADD COLUMN entry_page AggregateFunction(argMinIf, String, String, UInt8);

ALTER TABLE sessions ADD COLUMN exit_page AggregateFunction(argMaxIf, String, String, UInt8);

ALTER TABLE sessions ADD COLUMN entry_source AggregateFunction(argMin, String, String);

DROP TABLE IF EXISTS sessions_mv;

ALTER TABLE sessions DROP COLUMN entry_path;

ALTER TABLE sessions DROP COLUMN exit_path;

ALTER TABLE sessions DROP COLUMN source;

CREATE MATERIALIZED VIEW IF NOT EXISTS sessions_mv TO sessions AS
SELECT site_id, session_id, anyState(visitor_id) AS visitor_id, minState(time) AS started_at, maxState(time) AS ended_at,
       countState() AS events, countIfState(type = 'pageview') AS pageviews,
       argMinIfState(url_path, concat(hex(toUInt64(time) + 4294967296), toString(event_id)), type = 'pageview') AS entry_page,
       argMaxIfState(url_path, concat(hex(toUInt64(time) + 4294967296), toString(event_id)), type = 'pageview') AS exit_page,
       argMinState(source, concat(hex(toUInt64(time) + 4294967296), toString(event_id))) AS entry_source
FROM events WHERE session_id != '' AND is_bot = 0
GROUP BY site_id, session_id;

INSERT INTO sessions (site_id, session_id, entry_page, exit_page, entry_source)
SELECT site_id, session_id,
       argMinIfState(url_path, concat(hex(toUInt64(time) + 4294967296), toString(event_id)), type = 'pageview'),
       argMaxIfState(url_path, concat(hex(toUInt64(time) + 4294967296), toString(event_id)), type = 'pageview'),
       argMinState(source, concat(hex(toUInt64(time) + 4294967296), toString(event_id)))
FROM events WHERE session_id != '' AND is_bot = 0
GROUP BY site_id, session_id;

ALTER TABLE identities ADD COLUMN first_user_id AggregateFunction(argMin, String, String);

DROP TABLE IF EXISTS identities_mv;

ALTER TABLE identities DROP COLUMN person;

CREATE MATERIALIZED VIEW IF NOT EXISTS identities_mv TO identities AS
SELECT site_id, visitor_id, argMinState(user_id, concat(hex(toUInt64(time) + 4294967296), toString(event_id))) AS first_user_id,
       minState(time) AS identified_at
FROM events WHERE user_id != '' AND visitor_id != '' AND is_bot = 0
GROUP BY site_id, visitor_id;

INSERT INTO identities (site_id, visitor_id, first_user_id)
SELECT site_id, visitor_id, argMinState(user_id, concat(hex(toUInt64(time) + 4294967296), toString(event_id)))
FROM events WHERE user_id != '' AND visitor_id != '' AND is_bot = 0
GROUP BY site_id, visitor_id;

ALTER TABLE viewed_products ADD COLUMN product_name AggregateFunction(argMax, String, String);

DROP TABLE IF EXISTS viewed_products_mv;

ALTER TABLE viewed_products DROP COLUMN name;

CREATE MATERIALIZED VIEW IF NOT EXISTS viewed_products_mv TO viewed_products AS
SELECT site_id, visitor_id, prop_values[indexOf(prop_keys, 'id')] AS product_id,
       maxState(time) AS last_viewed, countState() AS views,
       argMaxState(name, concat(hex(toUInt64(time) + 4294967296), toString(event_id))) AS product_name
FROM events
WHERE type = 'product_view' AND is_bot = 0 AND visitor_id != '' AND has(prop_keys, 'id')
GROUP BY site_id, visitor_id, product_id;

INSERT INTO viewed_products (site_id, visitor_id, product_id, product_name)
SELECT site_id, visitor_id, prop_values[indexOf(prop_keys, 'id')] AS product_id,
       argMaxState(name, concat(hex(toUInt64(time) + 4294967296), toString(event_id)))
FROM events
WHERE type = 'product_view' AND is_bot = 0 AND visitor_id != '' AND has(prop_keys, 'id')
GROUP BY site_id, visitor_id, product_id;
