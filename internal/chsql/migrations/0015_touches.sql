-- Attribution (internal/reports/attribution.go): the visits that something
-- brought. touches keeps every event whose own values say where the
-- visitor came from (a source other than (direct) and (internal), a utm_*
-- tag, an affiliate or a click id): in practice a session's landing, the
-- rest of a session having the site itself as referrer. The reports credit
-- each event to its session's first touch, or else to the visitor's last
-- touch before it. Plain rows, written by a materialized view on every
-- insert, so that a report reads a few columns of the touches of its
-- period instead of merging the states of every session. A touch kept
-- twice (an event redelivered, the backfill overlapping the view) changes
-- no answer: the reports look up the first or the last one.
CREATE TABLE IF NOT EXISTS touches (
    site_id      String,
    visitor_id   String,
    time         DateTime,
    session_id   String,
    source       String,
    medium       String,
    utm_source   String,
    utm_medium   String,
    utm_campaign String,
    utm_term     String,
    utm_content  String,
    affiliate    String,
    click_id     String
) ENGINE = MergeTree
PARTITION BY toYYYYMM(time)
ORDER BY (site_id, time, visitor_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS touches_mv TO touches AS
SELECT site_id, visitor_id, time, session_id, source, medium, utm_source, utm_medium, utm_campaign, utm_term, utm_content,
       affiliate, click_id
FROM events
WHERE visitor_id != '' AND is_bot = 0 AND ingest != 'email'
  AND (source NOT IN ('(direct)', '(internal)', '') OR utm_source != '' OR utm_medium != '' OR utm_campaign != ''
       OR utm_term != '' OR utm_content != '' OR affiliate != '' OR click_id != '');

INSERT INTO touches (site_id, visitor_id, time, session_id, source, medium, utm_source, utm_medium, utm_campaign, utm_term,
                     utm_content, affiliate, click_id)
SELECT site_id, visitor_id, time, session_id, source, medium, utm_source, utm_medium, utm_campaign, utm_term, utm_content,
       affiliate, click_id
FROM events
WHERE visitor_id != '' AND is_bot = 0 AND ingest != 'email'
  AND (source NOT IN ('(direct)', '(internal)', '') OR utm_source != '' OR utm_medium != '' OR utm_campaign != ''
       OR utm_term != '' OR utm_content != '' OR affiliate != '' OR click_id != '');
