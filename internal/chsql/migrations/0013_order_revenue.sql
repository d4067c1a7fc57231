-- A person's revenue counts each order once. visitor_profiles.revenue sums
-- every purchase event, so an order the shop's backend sent twice (two
-- event ids) counted twice; order_revenue keeps the distinct (order,
-- revenue) pairs instead, a purchase without an order id keyed by its
-- event id. The pairs are a set, so the backfill may overlap what the view
-- adds meanwhile.
ALTER TABLE visitor_profiles ADD COLUMN order_revenue AggregateFunction(groupUniqArrayIf, Tuple(String, Int64), UInt8);

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
       groupUniqArrayIfState((if(order_id != '', order_id, toString(event_id)), revenue_micros), type = 'purchase') AS order_revenue
FROM events WHERE visitor_id != '' AND is_bot = 0
GROUP BY site_id, visitor_id;

INSERT INTO visitor_profiles (site_id, visitor_id, order_revenue)
SELECT site_id, visitor_id,
       groupUniqArrayIfState((if(order_id != '', order_id, toString(event_id)), revenue_micros), type = 'purchase')
FROM events WHERE visitor_id != '' AND is_bot = 0
GROUP BY site_id, visitor_id;
