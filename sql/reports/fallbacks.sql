-- description: Fallbacks per endpoint: how often, which served entity answered, at what cost
-- param: from 1970-01-01
-- param: to 9999-12-31
WITH endpoint_requests AS (
  SELECT endpoint_name, count(*) AS requests
  FROM charged_requests
  WHERE request_date BETWEEN DATE {{from}} AND DATE {{to}}
  GROUP BY endpoint_name
)
SELECT f.endpoint_name,
       f.served_entity_name AS answered_by,
       count(*) AS fallbacks,
       e.requests AS endpoint_requests,
       round(100.0 * count(*) / e.requests, 2) AS fallback_pct,
       sum(CASE WHEN f.status_code BETWEEN 200 AND 299 THEN 1 ELSE 0 END) AS succeeded,
       sum(f.input_tokens + f.cache_read_input_tokens + f.cache_creation_input_tokens + f.output_tokens) AS tokens,
       f.currency,
       sum(f.cost) AS cost,
       sum(CASE WHEN f.price_version IS NULL THEN 1 ELSE 0 END) AS unpriced
FROM priced_requests f
JOIN endpoint_requests e ON e.endpoint_name = f.endpoint_name
WHERE f.is_fallback AND f.request_date BETWEEN DATE {{from}} AND DATE {{to}}
GROUP BY f.endpoint_name, f.served_entity_name, e.requests, f.currency
ORDER BY fallbacks DESC, f.endpoint_name, answered_by, f.currency
