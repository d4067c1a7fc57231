-- Attribution computed ahead (processor/attribute). Each event keeps, beside
-- its own source, medium, utm_* tags, affiliate and click id, those of the
-- visit it is credited to (visit_*), which the processor writes: a report
-- by source reads a column, as one by page does, where 0015's reports
-- matched every event to the visitor's landings at query time (26.6 s for
-- a month by source at 10M events, 2.1 s by page). An empty visit_source
-- is an event stored before this migration; the processor never writes
-- one.
--
-- 18.16 has no ADD COLUMN IF NOT EXISTS: the runner skips a column that is
-- there already.
ALTER TABLE events ADD COLUMN visit_source String AFTER click_id;

ALTER TABLE events ADD COLUMN visit_medium String AFTER visit_source;

ALTER TABLE events ADD COLUMN visit_utm_source String AFTER visit_medium;

ALTER TABLE events ADD COLUMN visit_utm_medium String AFTER visit_utm_source;

ALTER TABLE events ADD COLUMN visit_utm_campaign String AFTER visit_utm_medium;

ALTER TABLE events ADD COLUMN visit_utm_term String AFTER visit_utm_campaign;

ALTER TABLE events ADD COLUMN visit_utm_content String AFTER visit_utm_term;

ALTER TABLE events ADD COLUMN visit_affiliate String AFTER visit_utm_content;

ALTER TABLE events ADD COLUMN visit_click_id String AFTER visit_affiliate;

-- What the processor needs to know of a visitor it does not remember,
-- ordered by visitor, so that it reads a batch's visitors by primary key:
-- their touches (touch = 1: 0015's events whose own values say where the
-- visitor came from) and when their sessions began (touch = 0: the first
-- counted event of the session in each insert, whose least is the
-- session's start). Small granules, since a look-up reads a few rows per
-- visitor. A row kept twice (the backfill overlapping the views, this
-- migration run again) changes no answer: a look-up takes the least and
-- the greatest time of each.
CREATE TABLE IF NOT EXISTS visitor_visits (
    site_id      String,
    visitor_id   String,
    time         DateTime,
    session_id   String,
    touch        UInt8,
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
ORDER BY (site_id, visitor_id, time)
SETTINGS index_granularity = 256;

CREATE MATERIALIZED VIEW IF NOT EXISTS visitor_touches_mv TO visitor_visits AS
SELECT site_id, visitor_id, time, session_id, 1 AS touch, source, medium, utm_source, utm_medium, utm_campaign, utm_term,
       utm_content, affiliate, click_id
FROM events
WHERE visitor_id != '' AND is_bot = 0 AND ingest != 'email'
  AND (source NOT IN ('(direct)', '(internal)', '') OR utm_source != '' OR utm_medium != '' OR utm_campaign != ''
       OR utm_term != '' OR utm_content != '' OR affiliate != '' OR click_id != '');

CREATE MATERIALIZED VIEW IF NOT EXISTS visitor_sessions_mv TO visitor_visits AS
SELECT site_id, visitor_id, min(time) AS time, session_id, 0 AS touch, '' AS source, '' AS medium, '' AS utm_source,
       '' AS utm_medium, '' AS utm_campaign, '' AS utm_term, '' AS utm_content, '' AS affiliate, '' AS click_id
FROM events
WHERE visitor_id != '' AND session_id != '' AND is_bot = 0 AND ingest != 'email'
GROUP BY site_id, visitor_id, session_id;

INSERT INTO visitor_visits (site_id, visitor_id, time, session_id, touch, source, medium, utm_source, utm_medium, utm_campaign,
                            utm_term, utm_content, affiliate, click_id)
SELECT site_id, visitor_id, time, session_id, 1, source, medium, utm_source, utm_medium, utm_campaign, utm_term, utm_content,
       affiliate, click_id
FROM events
WHERE visitor_id != '' AND is_bot = 0 AND ingest != 'email'
  AND (source NOT IN ('(direct)', '(internal)', '') OR utm_source != '' OR utm_medium != '' OR utm_campaign != ''
       OR utm_term != '' OR utm_content != '' OR affiliate != '' OR click_id != '');

INSERT INTO visitor_visits (site_id, visitor_id, time, session_id, touch)
SELECT site_id, visitor_id, min(time), session_id, 0
FROM events
WHERE visitor_id != '' AND session_id != '' AND is_bot = 0 AND ingest != 'email'
GROUP BY site_id, visitor_id, session_id;

-- Nothing reads 0015's touches any more.
DROP TABLE IF EXISTS touches_mv;

DROP TABLE IF EXISTS touches;

-- The events stored before: each is credited by the rule the processor
-- applies (processor/attribute, rule.go), in SQL, into a copy of events
-- (visit_backfill), whose partitions the runner then attaches to events and
-- merges (chsql/backfill.go): a row and its credited copy share their key,
-- and the copy, attached last, is the one ReplacingMergeTree keeps.
-- Attaching fires no materialized view, so no rollup counts an event twice.
--
-- Per visit (a session, or the second of an event without one) of the
-- counted events (a human's, with a visitor id, not a newsletter's): when
-- it began (anchor), its first touch (ft) and how many it had; per
-- visitor, every landing (a session's first touch, or a touch without a
-- session) sorted (as ClickHouse sorts tuples: time, session, values);
-- cand, the visitor's landings in the window before the anchor.
-- An event is credited to its session's first touch if that is at or
-- before it, else to the last of cand, else (direct). An event not counted
-- keeps its own values, or (direct).
DROP TABLE IF EXISTS visit_backfill;

CREATE TABLE visit_backfill AS events;

INSERT INTO visit_backfill (event_id, time, site_id, type, name, visitor_id, session_id, user_id, url, url_host, url_path, title,
                            referrer, referrer_host, source, medium, utm_source, utm_medium, utm_campaign, utm_term, utm_content,
                            affiliate, click_id, visit_source, visit_medium, visit_utm_source, visit_utm_medium,
                            visit_utm_campaign, visit_utm_term, visit_utm_content, visit_affiliate, visit_click_id, order_id,
                            revenue_micros, currency, browser, browser_version, os, device, country, is_bot, ip, user_agent,
                            ingest, prop_keys, prop_values)
SELECT event_id, time, site_id, type, name, visitor_id, session_id, user_id, url, url_host, url_path, title, referrer,
       referrer_host, source, medium, utm_source, utm_medium, utm_campaign, utm_term, utm_content, affiliate, click_id,
       tupleElement(credit, 1), tupleElement(credit, 2), tupleElement(credit, 3), tupleElement(credit, 4),
       tupleElement(credit, 5), tupleElement(credit, 6), tupleElement(credit, 7), tupleElement(credit, 8),
       tupleElement(credit, 9), order_id, revenue_micros, currency, browser, browser_version, os, device, country, is_bot,
       ip, user_agent, ingest, prop_keys, prop_values
FROM (
    SELECT *,
           multiIf(visitor_id = '' OR is_bot = 1 OR ingest = 'email',
                   if(source NOT IN ('(direct)', '(internal)', '') OR utm_source != '' OR utm_medium != ''
                          OR utm_campaign != '' OR utm_term != '' OR utm_content != '' OR affiliate != '' OR click_id != '',
                      (source, medium, utm_source, utm_medium, utm_campaign, utm_term, utm_content, affiliate, click_id),
                      ('(direct)', '(none)', '', '', '', '', '', '', '')),
                   session_id != '' AND n_touch > 0 AND tupleElement(ft, 1) <= time,
                   (tupleElement(ft, 2), tupleElement(ft, 3), tupleElement(ft, 4), tupleElement(ft, 5),
                    tupleElement(ft, 6), tupleElement(ft, 7), tupleElement(ft, 8), tupleElement(ft, 9),
                    tupleElement(ft, 10)),
                   length(cand) > 0,
                   (tupleElement(cand[-1], 3), tupleElement(cand[-1], 4), tupleElement(cand[-1], 5),
                    tupleElement(cand[-1], 6), tupleElement(cand[-1], 7), tupleElement(cand[-1], 8),
                    tupleElement(cand[-1], 9), tupleElement(cand[-1], 10), tupleElement(cand[-1], 11)),
                   ('(direct)', '(none)', '', '', '', '', '', '', '')) AS credit
    FROM (
        SELECT *, if(session_id = '', toUInt32(time), 0) AS sec FROM events WHERE visit_source = ''
    ) AS e ANY LEFT JOIN (
        SELECT site_id, visitor_id, session_id, sec, n_touch, ft,
               arrayFilter((x, at) -> tupleElement(x, 1) <= at AND tupleElement(x, 1) + 2592000 >= at,
                           ts, replicate(anchor, ts)) AS cand
        FROM (
            SELECT site_id, visitor_id, session_id, if(session_id = '', toUInt32(time), 0) AS sec, min(time) AS anchor,
                   countIf(touch) AS n_touch,
                   minIf((time, source, medium, utm_source, utm_medium, utm_campaign, utm_term, utm_content, affiliate,
                          click_id), touch) AS ft
            FROM (
                SELECT site_id, visitor_id, session_id, time, source, medium, utm_source, utm_medium, utm_campaign,
                       utm_term, utm_content, affiliate, click_id,
                       source NOT IN ('(direct)', '(internal)', '') OR utm_source != '' OR utm_medium != ''
                           OR utm_campaign != '' OR utm_term != '' OR utm_content != '' OR affiliate != ''
                           OR click_id != '' AS touch
                FROM events WHERE visitor_id != '' AND is_bot = 0 AND ingest != 'email'
            )
            GROUP BY site_id, visitor_id, session_id, sec
        ) AS v ANY LEFT JOIN (
            SELECT site_id, visitor_id, arraySort(groupArray(landing)) AS ts
            FROM (
                SELECT site_id, visitor_id,
                       min((time, session_id, source, medium, utm_source, utm_medium, utm_campaign, utm_term,
                            utm_content, affiliate, click_id)) AS landing
                FROM events
                WHERE visitor_id != '' AND is_bot = 0 AND ingest != 'email'
                  AND (source NOT IN ('(direct)', '(internal)', '') OR utm_source != '' OR utm_medium != '' OR utm_campaign != ''
                       OR utm_term != '' OR utm_content != '' OR affiliate != '' OR click_id != '')
                GROUP BY site_id, visitor_id, session_id,
                         if(session_id = '', cityHash64(toUInt32(time), source, medium, utm_source, utm_medium, utm_campaign,
                                                        utm_term, utm_content, affiliate, click_id), 0)
            )
            GROUP BY site_id, visitor_id
        ) AS t USING (site_id, visitor_id)
    ) AS c USING (site_id, visitor_id, session_id, sec)
);
