-- Trust levels for what changes a person (issue #21). A consent, a
-- subscription, its withdrawal and a user id that joins a visitor to a
-- person count only when a source proves them: the server API with its
-- site key or the dashboards' import ('server'), a newsletter link or
-- token of the person's own mail ('link'), a confirmation the person made,
-- as the server API attests with a confirm event ('confirmed'). What a
-- browser says (the snippet, the pixel) is a 'claim': anyone can send any
-- e-mail address and any wording there (internal/event ProofOf).
--
-- events.proof is written by the processor; an event stored before reads
-- it from the door it came in by (ingest), as the processor decides it
-- now: an import was the dashboards' (ingest 'email', source 'import').

ALTER TABLE events ADD COLUMN proof String DEFAULT multiIf(
    ingest = 'api' AND type = 'confirm', 'confirmed',
    ingest = 'api', 'server',
    ingest = 'email' AND prop_values[indexOf(prop_keys, 'source')] = 'import', 'server',
    ingest = 'email', 'link',
    'claim');

-- The consent ledger records how each entry was proven; the state of a
-- purpose for e-mail use is its latest proven entry
-- (internal/profiles.ProvenWord). A confirm grants the lists it names.
-- The ledger is rebuilt from the events, so every entry recorded before
-- gets its proof: the view is made again first, and the backfill takes
-- the events it has not (an insert racing the two lands once).
ALTER TABLE consents ADD COLUMN proof String;

DROP TABLE IF EXISTS consents_mv;

TRUNCATE TABLE consents;

CREATE MATERIALIZED VIEW IF NOT EXISTS consents_mv TO consents AS
SELECT site_id, visitor_id, user_id, time, event_id, c.1 AS purpose, c.2 AS granted,
       if(has(prop_keys, 'source'), prop_values[indexOf(prop_keys, 'source')], ingest) AS source,
       prop_values[indexOf(prop_keys, 'wording')] AS wording, ip, proof
FROM events
ARRAY JOIN if(type = 'consent',
    arrayFilter(p -> NOT has(['source', 'wording'], p.1), arrayMap((k, v) -> (k, toUInt8(has(['1', 'true', 'yes', 'granted'], lower(v)))), prop_keys, prop_values)),
    arrayMap(l -> (l, toUInt8(type != 'unsubscribe')), if(prop_values[indexOf(prop_keys, 'lists')] != '', splitByChar(',', prop_values[indexOf(prop_keys, 'lists')]), ['newsletter']))) AS c
WHERE type IN ('consent', 'subscribe', 'unsubscribe', 'confirm') AND is_bot = 0 AND visitor_id != '';

INSERT INTO consents (site_id, visitor_id, user_id, time, event_id, purpose, granted, source, wording, ip, proof)
SELECT site_id, visitor_id, user_id, time, event_id, c.1, c.2,
       if(has(prop_keys, 'source'), prop_values[indexOf(prop_keys, 'source')], ingest), prop_values[indexOf(prop_keys, 'wording')], ip, proof
FROM events
ARRAY JOIN if(type = 'consent',
    arrayFilter(p -> NOT has(['source', 'wording'], p.1), arrayMap((k, v) -> (k, toUInt8(has(['1', 'true', 'yes', 'granted'], lower(v)))), prop_keys, prop_values)),
    arrayMap(l -> (l, toUInt8(type != 'unsubscribe')), if(prop_values[indexOf(prop_keys, 'lists')] != '', splitByChar(',', prop_values[indexOf(prop_keys, 'lists')]), ['newsletter']))) AS c
WHERE type IN ('consent', 'subscribe', 'unsubscribe', 'confirm') AND is_bot = 0 AND visitor_id != ''
    AND event_id NOT IN (SELECT event_id FROM consents);

-- The identity map joins a visitor id to a person only on a proven user
-- id; proven_by is how the first one was proven. (A column named proof
-- would be the view's alias of its state, which its WHERE cannot read.)
-- Rebuilt from the events, so that the joins browsers claimed go.
ALTER TABLE identities ADD COLUMN proven_by AggregateFunction(argMin, String, String);

DROP TABLE IF EXISTS identities_mv;

TRUNCATE TABLE identities;

CREATE MATERIALIZED VIEW IF NOT EXISTS identities_mv TO identities AS
SELECT site_id, visitor_id, argMinState(user_id, concat(hex(toUInt64(time) + 4294967296), toString(event_id))) AS first_user_id,
       minState(time) AS identified_at,
       argMinState(proof, concat(hex(toUInt64(time) + 4294967296), toString(event_id))) AS proven_by
FROM events WHERE user_id != '' AND visitor_id != '' AND is_bot = 0 AND proof != 'claim'
GROUP BY site_id, visitor_id;

INSERT INTO identities (site_id, visitor_id, first_user_id, identified_at, proven_by)
SELECT site_id, visitor_id, argMinState(user_id, concat(hex(toUInt64(time) + 4294967296), toString(event_id))),
       minState(time), argMinState(proof, concat(hex(toUInt64(time) + 4294967296), toString(event_id)))
FROM events WHERE user_id != '' AND visitor_id != '' AND is_bot = 0 AND proof != 'claim'
GROUP BY site_id, visitor_id;

-- What browsers claimed: each user id a visitor id said it was, kept on
-- that visitor id only (its profile lists them), never a join. A proven
-- user id for the same visitor id (the server API's identify with the
-- browser's ff_vid, the landing of a newsletter link) joins it.
CREATE TABLE IF NOT EXISTS identity_claims (
    site_id       String,
    visitor_id    String,
    user_id       String,
    first_claimed AggregateFunction(min, DateTime),
    last_claimed  AggregateFunction(max, DateTime)
) ENGINE = AggregatingMergeTree
ORDER BY (site_id, visitor_id, user_id);

DROP TABLE IF EXISTS identity_claims_mv;

TRUNCATE TABLE identity_claims;

CREATE MATERIALIZED VIEW IF NOT EXISTS identity_claims_mv TO identity_claims AS
SELECT site_id, visitor_id, user_id, minState(time) AS first_claimed, maxState(time) AS last_claimed
FROM events WHERE user_id != '' AND visitor_id != '' AND is_bot = 0 AND proof = 'claim'
GROUP BY site_id, visitor_id, user_id;

INSERT INTO identity_claims (site_id, visitor_id, user_id, first_claimed, last_claimed)
SELECT site_id, visitor_id, user_id, minState(time), maxState(time)
FROM events WHERE user_id != '' AND visitor_id != '' AND is_bot = 0 AND proof = 'claim'
GROUP BY site_id, visitor_id, user_id;

-- The people table was built on the old map: a person only claims made
-- is no person now (a tombstone, newer than any row), and every visitor
-- id is recomputed at the next refresh, whose rows are newer still.
INSERT INTO people (site_id, person_key, deleted, version)
SELECT site_id, person_key, toUInt8(1), (SELECT max(version) + 1 FROM people)
FROM people
WHERE deleted = 0
    AND (site_id, person_key) NOT IN (SELECT site_id, argMinMerge(first_user_id) FROM identities GROUP BY site_id, visitor_id)
    AND (site_id, person_key) NOT IN (SELECT site_id, visitor_id FROM visitor_profiles)
GROUP BY site_id, person_key;

INSERT INTO people_touched (site_id, visitor_id, touched_at)
SELECT site_id, visitor_id, now() FROM visitor_profiles GROUP BY site_id, visitor_id;
