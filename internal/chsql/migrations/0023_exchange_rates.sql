-- Currencies (issue #19): an order keeps its own currency and amount, and
-- every report shows amounts in the site's reporting currency, converted
-- at the rate of the order's day (internal/money).
--
-- exchange_rates holds the daily reference rates the operator loads (the
-- ECB's eurofxref CSV, through the dashboards' API or bin/fx): how many
-- units of a currency one euro buys on a day; EUR itself is stored as 1
-- on every day loaded. A day loaded again takes the newest version.
CREATE TABLE IF NOT EXISTS exchange_rates (
    day      Date,
    currency String,
    per_eur  Float64,
    version  UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (currency, day);

-- A person's revenue is converted order by order at the rate of its day,
-- so the per-visitor aggregates keep each order's (order key, amount in
-- micros, currency, UTC day) besides order_revenue's (key, amount). The
-- pairs are a set, so the backfill may overlap what the view adds
-- meanwhile: the view is made again first.
ALTER TABLE visitor_profiles ADD COLUMN order_money AggregateFunction(groupUniqArrayIf, Tuple(String, Int64, String, Date), UInt8);

DROP TABLE IF EXISTS visitor_profiles_mv;

CREATE MATERIALIZED VIEW IF NOT EXISTS visitor_profiles_mv TO visitor_profiles AS
SELECT site_id, visitor_id,
       minState(time) AS first_seen, maxState(time) AS last_seen, uniqIfState(session_id, session_id != '') AS sessions,
       countIfState(type = 'pageview') AS pageviews, countIfState(type = 'add_to_cart') AS carts,
       countIfState(type = 'begin_checkout') AS checkouts, countIfState(type = 'sign_up') AS signups,
       uniqExactIfState(order_id, type = 'purchase' AND order_id != '') AS orders,
       sumIfState(revenue_micros, type = 'purchase') AS revenue,
       minIfState(time, type = 'purchase') AS first_order, maxIfState(time, type = 'purchase') AS last_order,
       maxIfState(time, type = 'subscribe') AS subscribed, maxIfState(time, type = 'unsubscribe') AS unsubscribed,
       groupUniqArrayIfState((if(order_id != '', order_id, toString(event_id)), revenue_micros), type = 'purchase') AS order_revenue,
       groupUniqArrayIfState((if(order_id != '', order_id, toString(event_id)), revenue_micros, currency, toDate(time)), type = 'purchase') AS order_money
FROM events WHERE visitor_id != '' AND is_bot = 0
GROUP BY site_id, visitor_id;

INSERT INTO visitor_profiles (site_id, visitor_id, order_money)
SELECT site_id, visitor_id,
       groupUniqArrayIfState((if(order_id != '', order_id, toString(event_id)), revenue_micros, currency, toDate(time)), type = 'purchase')
FROM events WHERE visitor_id != '' AND is_bot = 0
GROUP BY site_id, visitor_id;

-- The people table's revenue is recomputed converted at the next refresh:
-- every visitor id with a purchase counts as touched.
INSERT INTO people_touched (site_id, visitor_id, touched_at)
SELECT site_id, visitor_id, now() FROM events WHERE type = 'purchase' AND visitor_id != '' GROUP BY site_id, visitor_id;
