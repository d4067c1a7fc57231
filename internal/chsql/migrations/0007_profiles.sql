-- People: what each visitor did (kept incrementally by materialized views),
-- who they turned out to be (the identity map), what they are interested
-- in, what they consented to, and the segments built on top of that.
--
-- A profile is keyed by visitor id; the processor gives a server-side event
-- without one (an order from a backend that knows only the customer) the
-- visitor id 'u:' + its user id, so it still joins its person.

-- The identity map: the first user id (normalised e-mail or account id) a
-- visitor id gave is its person for good. Every event of that visitor id,
-- before and after, belongs to that person; several visitor ids (devices)
-- join one person by giving the same user id; a later, different identify
-- never moves history away.
CREATE TABLE IF NOT EXISTS identities (
    site_id       String,
    visitor_id    String,
    person        AggregateFunction(argMin, String, DateTime),
    identified_at AggregateFunction(min, DateTime)
) ENGINE = AggregatingMergeTree
ORDER BY (site_id, visitor_id);

-- What lifecycle classes and segments are computed from, per visitor id.
-- Orders count distinct order ids, so a redelivered purchase counts once.
CREATE TABLE IF NOT EXISTS visitor_profiles (
    site_id      String,
    visitor_id   String,
    first_seen   AggregateFunction(min, DateTime),
    last_seen    AggregateFunction(max, DateTime),
    sessions     AggregateFunction(uniqIf, String, UInt8),
    pageviews    AggregateFunction(countIf, UInt8),
    carts        AggregateFunction(countIf, UInt8),
    checkouts    AggregateFunction(countIf, UInt8),
    signups      AggregateFunction(countIf, UInt8),
    orders       AggregateFunction(uniqExactIf, String, UInt8),
    revenue      AggregateFunction(sumIf, Int64, UInt8),
    first_order  AggregateFunction(minIf, DateTime, UInt8),
    last_order   AggregateFunction(maxIf, DateTime, UInt8),
    subscribed   AggregateFunction(maxIf, DateTime, UInt8),
    unsubscribed AggregateFunction(maxIf, DateTime, UInt8)
) ENGINE = AggregatingMergeTree
ORDER BY (site_id, visitor_id);

-- Interests: sections (first path segment of page views) and product
-- categories (the "category" prop of product views) per visitor id.
CREATE TABLE IF NOT EXISTS visitor_interests (
    site_id    String,
    visitor_id String,
    kind       String,
    interest   String,
    views      AggregateFunction(count),
    last_seen  AggregateFunction(max, DateTime)
) ENGINE = AggregatingMergeTree
ORDER BY (site_id, visitor_id, kind, interest);

-- The consent ledger: one row per purpose per consent, subscribe or
-- unsubscribe event, never updated; the current state of a purpose is its
-- latest row. source and wording come from the event's props of those
-- names (the form and the exact text version the person agreed to).
CREATE TABLE IF NOT EXISTS consents (
    site_id    String,
    visitor_id String,
    user_id    String,
    time       DateTime,
    event_id   UUID,
    purpose    String,
    granted    UInt8,
    source     String,
    wording    String,
    ip         String
) ENGINE = MergeTree
PARTITION BY toYYYYMM(time)
ORDER BY (site_id, visitor_id, purpose, time);

-- Manual changes through the API, by person key (normalised user id, or the
-- visitor id of an anonymous person): a class that wins over the computed
-- one, and populations (consumer, pro, reseller... any tag). The latest
-- version wins; computed classes never touch this table.
CREATE TABLE IF NOT EXISTS profile_overrides (
    site_id     String,
    person_key  String,
    class       String,
    populations Array(String),
    updated_at  DateTime,
    version     UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (site_id, person_key);

-- Rule segments defined through the API; the rules are JSON. Deleting keeps
-- a row with deleted = 1 so that the latest version stays the truth.
CREATE TABLE IF NOT EXISTS segments (
    site_id    String,
    segment_id String,
    name       String,
    rules      String,
    created_at DateTime,
    deleted    UInt8,
    version    UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (site_id, segment_id);

-- Who was in each segment (and class) at the last evaluation, so the next
-- one can tell who entered and who left.
CREATE TABLE IF NOT EXISTS segment_members (
    site_id    String,
    segment_id String,
    person_key String,
    member     UInt8,
    changed_at DateTime,
    version    UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (site_id, segment_id, person_key);

-- Member counts over time, one row per evaluation; seq (nanoseconds)
-- orders evaluations within one second.
CREATE TABLE IF NOT EXISTS segment_sizes (
    site_id    String,
    segment_id String,
    time       DateTime,
    members    UInt64,
    entered    UInt64,
    left       UInt64,
    seq        UInt64
) ENGINE = MergeTree
PARTITION BY toYYYYMM(time)
ORDER BY (site_id, segment_id, time, seq);

INSERT INTO identities (site_id, visitor_id, person, identified_at)
SELECT site_id, visitor_id, argMinState(user_id, time), minState(time)
FROM events WHERE user_id != '' AND visitor_id != '' AND is_bot = 0
GROUP BY site_id, visitor_id;

INSERT INTO visitor_profiles (site_id, visitor_id, first_seen, last_seen, sessions, pageviews, carts, checkouts, signups, orders, revenue, first_order, last_order, subscribed, unsubscribed)
SELECT site_id, visitor_id,
       minState(time), maxState(time), uniqIfState(session_id, session_id != ''), countIfState(type = 'pageview'),
       countIfState(type = 'add_to_cart'), countIfState(type = 'begin_checkout'), countIfState(type = 'sign_up'),
       uniqExactIfState(order_id, type = 'purchase' AND order_id != ''), sumIfState(revenue_micros, type = 'purchase'),
       minIfState(time, type = 'purchase'), maxIfState(time, type = 'purchase'),
       maxIfState(time, type = 'subscribe'), maxIfState(time, type = 'unsubscribe')
FROM events WHERE visitor_id != '' AND is_bot = 0
GROUP BY site_id, visitor_id;

INSERT INTO visitor_interests (site_id, visitor_id, kind, interest, views, last_seen)
SELECT site_id, visitor_id, if(type = 'pageview', 'section', 'category') AS kind,
       if(type = 'pageview', concat('/', splitByChar('/', url_path)[2]), prop_values[indexOf(prop_keys, 'category')]) AS interest,
       countState(), maxState(time)
FROM events
WHERE is_bot = 0 AND visitor_id != '' AND type IN ('pageview', 'product_view') AND interest NOT IN ('', '/')
GROUP BY site_id, visitor_id, kind, interest;

INSERT INTO consents (site_id, visitor_id, user_id, time, event_id, purpose, granted, source, wording, ip)
SELECT site_id, visitor_id, user_id, time, event_id, c.1, c.2,
       if(has(prop_keys, 'source'), prop_values[indexOf(prop_keys, 'source')], ingest), prop_values[indexOf(prop_keys, 'wording')], ip
FROM events
ARRAY JOIN if(type = 'consent',
    arrayFilter(p -> NOT has(['source', 'wording'], p.1), arrayMap((k, v) -> (k, toUInt8(has(['1', 'true', 'yes', 'granted'], lower(v)))), prop_keys, prop_values)),
    arrayMap(l -> (l, toUInt8(type = 'subscribe')), if(prop_values[indexOf(prop_keys, 'lists')] != '', splitByChar(',', prop_values[indexOf(prop_keys, 'lists')]), ['newsletter']))) AS c
WHERE type IN ('consent', 'subscribe', 'unsubscribe') AND is_bot = 0 AND visitor_id != '';

CREATE MATERIALIZED VIEW IF NOT EXISTS identities_mv TO identities AS
SELECT site_id, visitor_id, argMinState(user_id, time) AS person, minState(time) AS identified_at
FROM events WHERE user_id != '' AND visitor_id != '' AND is_bot = 0
GROUP BY site_id, visitor_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS visitor_profiles_mv TO visitor_profiles AS
SELECT site_id, visitor_id,
       minState(time) AS first_seen, maxState(time) AS last_seen, uniqIfState(session_id, session_id != '') AS sessions,
       countIfState(type = 'pageview') AS pageviews, countIfState(type = 'add_to_cart') AS carts,
       countIfState(type = 'begin_checkout') AS checkouts, countIfState(type = 'sign_up') AS signups,
       uniqExactIfState(order_id, type = 'purchase' AND order_id != '') AS orders,
       sumIfState(revenue_micros, type = 'purchase') AS revenue,
       minIfState(time, type = 'purchase') AS first_order, maxIfState(time, type = 'purchase') AS last_order,
       maxIfState(time, type = 'subscribe') AS subscribed, maxIfState(time, type = 'unsubscribe') AS unsubscribed
FROM events WHERE visitor_id != '' AND is_bot = 0
GROUP BY site_id, visitor_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS visitor_interests_mv TO visitor_interests AS
SELECT site_id, visitor_id, if(type = 'pageview', 'section', 'category') AS kind,
       if(type = 'pageview', concat('/', splitByChar('/', url_path)[2]), prop_values[indexOf(prop_keys, 'category')]) AS interest,
       countState() AS views, maxState(time) AS last_seen
FROM events
WHERE is_bot = 0 AND visitor_id != '' AND type IN ('pageview', 'product_view') AND interest NOT IN ('', '/')
GROUP BY site_id, visitor_id, kind, interest;

CREATE MATERIALIZED VIEW IF NOT EXISTS consents_mv TO consents AS
SELECT site_id, visitor_id, user_id, time, event_id, c.1 AS purpose, c.2 AS granted,
       if(has(prop_keys, 'source'), prop_values[indexOf(prop_keys, 'source')], ingest) AS source,
       prop_values[indexOf(prop_keys, 'wording')] AS wording, ip
FROM events
ARRAY JOIN if(type = 'consent',
    arrayFilter(p -> NOT has(['source', 'wording'], p.1), arrayMap((k, v) -> (k, toUInt8(has(['1', 'true', 'yes', 'granted'], lower(v)))), prop_keys, prop_values)),
    arrayMap(l -> (l, toUInt8(type = 'subscribe')), if(prop_values[indexOf(prop_keys, 'lists')] != '', splitByChar(',', prop_values[indexOf(prop_keys, 'lists')]), ['newsletter']))) AS c
WHERE type IN ('consent', 'subscribe', 'unsubscribe') AND is_bot = 0 AND visitor_id != '';
