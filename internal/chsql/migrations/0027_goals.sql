-- Saved goals (issue #26): a conversion a site reports on, one of an
-- event's name, a page path (exact, or with * wildcards) or an order.
-- A change is a new row with a higher version; a deleted goal is a row
-- with deleted = 1. Readers take each goal's row of the highest version.
CREATE TABLE IF NOT EXISTS goals (
    site_id    String,
    goal_id    String,
    name       String,
    kind       String,
    value      String,
    created_at DateTime,
    deleted    UInt8,
    version    UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (site_id, goal_id);
