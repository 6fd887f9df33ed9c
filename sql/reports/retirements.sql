-- description: Recent usage of served entities whose retires_on (prices.csv) is near or past
-- param: as_of
-- param: within_days 90
-- param: lookback_days 30
-- `as_of` defaults to the last day with usage; the usage counted is the `lookback_days` up to
-- and including it. days_left is negative for an entity already retired and still called.
WITH as_of AS (
  SELECT COALESCE(CAST(NULLIF({{as_of}}, '') AS DATE), (SELECT max("date") FROM usage_daily)) AS day
),
retiring AS (
  SELECT p.served_entity_name, max(p.retires_on) AS retires_on
  FROM prices p
  WHERE p.retires_on IS NOT NULL
  GROUP BY p.served_entity_name
)
SELECT r.served_entity_name, r.retires_on,
       CAST(r.retires_on AS INT) - CAST(a.day AS INT) AS days_left,
       string_agg(DISTINCT u.endpoint_name, ';' ORDER BY u.endpoint_name) AS endpoints,
       count(DISTINCT u.requester) AS requesters,
       count(DISTINCT u."group") AS groups,
       sum(u.requests) AS requests,
       sum(u.input_tokens + u.cache_read_input_tokens + u.cache_creation_input_tokens + u.output_tokens) AS tokens,
       sum(u.cost) AS cost
FROM retiring r
CROSS JOIN as_of a
JOIN usage_daily u
  ON u.served_entity_name = r.served_entity_name
 AND u."date" > a.day - CAST({{lookback_days}} AS INT)
 AND u."date" <= a.day
WHERE r.retires_on <= a.day + CAST({{within_days}} AS INT)
GROUP BY r.served_entity_name, r.retires_on, a.day
ORDER BY r.retires_on, r.served_entity_name
