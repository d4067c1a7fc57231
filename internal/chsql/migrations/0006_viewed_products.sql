-- Products each visitor viewed (the snippet's viewProduct: product id in the
-- "id" prop, its name in the event name), keyed by visitor so that a shop
-- can ask for one visitor's recently viewed products on the next visit.
CREATE TABLE IF NOT EXISTS viewed_products (
    site_id     String,
    visitor_id  String,
    product_id  String,
    last_viewed AggregateFunction(max, DateTime),
    views       AggregateFunction(count),
    name        AggregateFunction(argMax, String, DateTime)
) ENGINE = AggregatingMergeTree
ORDER BY (site_id, visitor_id, product_id);

INSERT INTO viewed_products (site_id, visitor_id, product_id, last_viewed, views, name)
SELECT site_id, visitor_id, prop_values[indexOf(prop_keys, 'id')] AS product_id,
       maxState(time), countState(), argMaxState(name, time)
FROM events
WHERE type = 'product_view' AND is_bot = 0 AND visitor_id != '' AND has(prop_keys, 'id')
GROUP BY site_id, visitor_id, product_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS viewed_products_mv TO viewed_products AS
SELECT site_id, visitor_id, prop_values[indexOf(prop_keys, 'id')] AS product_id,
       maxState(time) AS last_viewed, countState() AS views, argMaxState(name, time) AS name
FROM events
WHERE type = 'product_view' AND is_bot = 0 AND visitor_id != '' AND has(prop_keys, 'id')
GROUP BY site_id, visitor_id, product_id;
