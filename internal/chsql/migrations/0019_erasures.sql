-- Erasures (GDPR art. 17, internal/erasure). For each identifier of an
-- erased person (visitor ids, user ids and e-mail addresses, newsletter
-- tokens), a tombstone: the hex of an HMAC-SHA-256 of its kind, site and
-- value, never the identifier. The erasure writes them before it deletes
-- the person's rows; the processor holds them in memory and drops any
-- later event that carries one (a Kafka replay, a collector's spool, an
-- old newsletter link), and an import leaves such recipients out.
-- key_check names the key that wrote a row, so that a processor given
-- another -erasure-secret says so instead of letting the person back in.
-- Rows are never deleted: an erasure stays.
CREATE TABLE IF NOT EXISTS erasures (
    site_id   String,
    hash      String,
    key_check String,
    erased_at DateTime
) ENGINE = MergeTree
ORDER BY (site_id, hash);
-- The tombstones' key when the programs are given no -erasure-secret: a
-- random one, made by the first program that needs it; all read the
-- oldest row.
CREATE TABLE IF NOT EXISTS erasure_key (
    key        String,
    created_at DateTime
) ENGINE = MergeTree
ORDER BY created_at;
