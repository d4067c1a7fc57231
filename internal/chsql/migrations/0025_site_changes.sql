-- The site registry's writes can no longer undo each other (issue #19):
-- the sites table (0021) kept one whole row a change, written from what
-- the writer had read, so two dashboards changing one site at once could
-- each write the other's change away (a revoked key came back in 2 of 10
-- rounds). Now nothing is rewritten whole:
-- * site_changes is a log of changes; each row names in `fields` the
--   settings it changes (domains.<host> and affiliate_rates.<id> one
--   entry each), and readers apply the rows in version order, field by
--   field. A row with no fields is a site's creation (or a copy of the
--   old table's row), taking every setting.
-- * site_keys holds one row when a key is made and one when it is
--   revoked; a key with a revoked row is revoked whatever else is written.
-- The sites table is copied once (its newest row of each site) and no
-- longer read or written.
CREATE TABLE IF NOT EXISTS site_changes (
    site_id                String,
    name                   String,
    domains                Array(String),
    time_zone              String,
    currency               String,
    loyal_orders           UInt32,
    loyal_revenue          Float64,
    inactive_days          UInt32,
    affiliate_rate         Float64,
    affiliate_ids          Array(String),
    affiliate_rates        Array(Float64),
    accept_foreign_domains UInt8,
    retention_days         UInt32,
    deleted                UInt8,
    created_at             DateTime,
    updated_at             DateTime,
    version                UInt64,
    fields                 Array(String)
) ENGINE = MergeTree
ORDER BY (site_id, version);

CREATE TABLE IF NOT EXISTS site_keys (
    site_id String,
    key_id  String,
    name    String,
    hash    String,
    created DateTime,
    revoked UInt8,
    at      DateTime
) ENGINE = MergeTree
ORDER BY (site_id, key_id, revoked);

INSERT INTO site_changes (site_id, name, domains, time_zone, currency, loyal_orders, loyal_revenue, inactive_days,
    affiliate_rate, affiliate_ids, affiliate_rates, accept_foreign_domains, retention_days, deleted, created_at, updated_at,
    version, fields)
SELECT site_id, name, domains, time_zone, currency, loyal_orders, loyal_revenue, inactive_days,
    affiliate_rate, affiliate_ids, affiliate_rates, accept_foreign_domains, retention_days, deleted, created_at, updated_at,
    version, emptyArrayString()
FROM sites
WHERE (site_id, version) IN (SELECT site_id, max(version) FROM sites GROUP BY site_id)
  AND site_id NOT IN (SELECT site_id FROM site_changes);

INSERT INTO site_keys (site_id, key_id, name, hash, created, revoked, at)
SELECT site_id, k_id, k_name, k_hash, k_created, 0, updated_at
FROM sites
ARRAY JOIN key_ids AS k_id, key_names AS k_name, key_hashes AS k_hash, key_created AS k_created
WHERE (site_id, version) IN (SELECT site_id, max(version) FROM sites GROUP BY site_id)
  AND deleted = 0
  AND site_id NOT IN (SELECT site_id FROM site_keys);
