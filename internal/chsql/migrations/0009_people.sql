-- People kept as rows, so that a segment over a million people reads a
-- million narrow rows instead of merging fourteen aggregate states per
-- visitor id and grouping them by person at every request.
--
-- people_touched notes which visitor ids had events and when ClickHouse took
-- them; a refresh (processor/profiles Refresh) recomputes, from
-- visitor_profiles and identities, only the people those visitor ids belong
-- to, and writes them here with a newer version. An anonymous visitor id
-- that has since joined a person gets a row with deleted = 1.
CREATE TABLE IF NOT EXISTS people (
    site_id     String,
    person_key  String,
    user_id     String,
    devices     UInt64,
    first_seen  DateTime,
    last_seen   DateTime,
    sessions    UInt64,
    pageviews   UInt64,
    carts       UInt64,
    checkouts   UInt64,
    signups     UInt64,
    orders      UInt64,
    revenue     Int64,
    first_order DateTime,
    last_order  DateTime,
    subscribed  UInt8,
    deleted     UInt8,
    version     UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (site_id, person_key);

-- Partitioned by day so that a refresh can drop what every refresh has
-- passed; touched_at is the server's clock when the insert ran.
CREATE TABLE IF NOT EXISTS people_touched (
    site_id    String,
    visitor_id String,
    touched_at DateTime
) ENGINE = MergeTree
PARTITION BY toYYYYMMDD(touched_at)
ORDER BY (site_id, touched_at, visitor_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS people_touched_mv TO people_touched AS
SELECT site_id, visitor_id, now() AS touched_at
FROM events WHERE visitor_id != '' AND is_bot = 0
GROUP BY site_id, visitor_id;

-- One row per completed refresh of a derived table (kind: people, and
-- later ones): the next refresh of the site starts from the last upto.
CREATE TABLE IF NOT EXISTS refreshes (
    site_id  String,
    kind     String,
    upto     DateTime,
    written  UInt64,
    full     UInt8
) ENGINE = MergeTree
ORDER BY (site_id, kind, upto);

-- Who viewed a section (or a category), ordered by the interest so that a
-- segment on one section reads that section's visitors only;
-- visitor_interests is ordered by visitor for the profile page.
CREATE TABLE IF NOT EXISTS interest_visitors (
    site_id    String,
    kind       String,
    interest   String,
    visitor_id String,
    last_seen  AggregateFunction(max, DateTime)
) ENGINE = AggregatingMergeTree
ORDER BY (site_id, kind, interest, visitor_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS interest_visitors_mv TO interest_visitors AS
SELECT site_id, if(type = 'pageview', 'section', 'category') AS kind,
       if(type = 'pageview', concat('/', splitByChar('/', url_path)[2]), prop_values[indexOf(prop_keys, 'category')]) AS interest,
       visitor_id, maxState(time) AS last_seen
FROM events
WHERE is_bot = 0 AND visitor_id != '' AND type IN ('pageview', 'product_view') AND interest NOT IN ('', '/')
GROUP BY site_id, kind, interest, visitor_id;

INSERT INTO interest_visitors (site_id, kind, interest, visitor_id, last_seen)
SELECT site_id, kind, interest, visitor_id, maxMergeState(last_seen)
FROM visitor_interests GROUP BY site_id, kind, interest, visitor_id;
