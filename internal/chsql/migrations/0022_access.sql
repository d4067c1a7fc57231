-- Accounts and scoped access to the dashboards (issue #21,
-- internal/access). Both tables are ReplacingMergeTree keyed by their id
-- and read with argMax(column, version): a change, a revocation or a
-- deletion is a new row with a higher version, so the answer is the same
-- before and after the server merges them, on 18.16 as on current
-- ClickHouse.
--
-- access_users: a person who logs in. password_hash is bcrypt's
-- (golang.org/x/crypto/bcrypt, salt and cost inside); grants lists the
-- sites and each role, 'shop=editor,blog=viewer'; admin may do everything.
CREATE TABLE IF NOT EXISTS access_users (
    name          String,
    password_hash String,
    admin         UInt8,
    grants        String,
    deleted       UInt8,
    updated_at    DateTime,
    version       UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY name;
-- access_credentials: what a request may show instead of a password. kind
-- is 'session' (a login's cookie, for user_name), 'token' (an API token,
-- its grants 'shop=read,blog=write'), 'share' (a read-only link to one
-- site's reports) or 'key' (a site's public key, recently viewed products
-- only, from the origins listed). hash is the hex SHA-256 of the secret,
-- which is shown once and never stored: the secrets are 32 random bytes,
-- so a fast hash is enough (no password to guess).
CREATE TABLE IF NOT EXISTS access_credentials (
    id         String,
    kind       String,
    hash       String,
    user_name  String,
    grants     String,
    origins    String,
    label      String,
    created_at DateTime,
    expires_at DateTime,
    revoked    UInt8,
    version    UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY id;
