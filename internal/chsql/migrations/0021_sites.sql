-- The site registry (internal/sites): each shop's settings, which every
-- program (collector, processor, dashboards) reads every few seconds. A
-- change is a new row with a higher version; readers take each site's
-- row of the highest version, so a change is seen whatever the merges
-- have done. API keys are stored as the SHA-256 of the key, never the key.
CREATE TABLE IF NOT EXISTS sites (
    site_id                String,
    name                   String,
    domains                Array(String),
    time_zone              String,
    currency               String,
    key_ids                Array(String),
    key_names              Array(String),
    key_hashes             Array(String),
    key_created            Array(DateTime),
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
    version                UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY site_id;
