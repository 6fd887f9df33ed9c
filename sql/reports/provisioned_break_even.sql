-- description: Each endpoint's traffic priced pay-per-token and provisioned, and the break-even
-- param: from 1970-01-01
-- param: to 9999-12-31
-- param: rate_per_hour
-- The window is the days with usage between `from` and `to`, every hour of them (a pool costs
-- its hours whether used or not). The pay-per-token cost is the traffic at the price book's
-- prices; the provisioned cost is the hourly rate of the pools in config/capacity.csv that
-- serve that traffic on the window's last day, or `rate_per_hour` for traffic no pool serves.
-- break_even_tokens_per_hour: the traffic per hour at which the two cost the same.
WITH window_days AS (
  SELECT min("date") AS first_day, max("date") AS last_day
  FROM usage_daily
  WHERE "date" BETWEEN DATE {{from}} AND DATE {{to}}
),
traffic AS (
  SELECT endpoint_name, served_entity_name, currency,
         sum(requests) AS requests,
         sum(input_tokens + cache_read_input_tokens + cache_creation_input_tokens + output_tokens) AS tokens,
         sum(cost) AS pay_per_token_cost
  FROM usage_daily
  WHERE "date" BETWEEN DATE {{from}} AND DATE {{to}}
  GROUP BY endpoint_name, served_entity_name, currency
),
pool_rates AS (
  SELECT t.endpoint_name, t.served_entity_name, sum(c.cost_per_hour) AS rate, string_agg(c.pool, ';') AS pools
  FROM traffic t
  CROSS JOIN window_days w
  JOIN capacity c
    ON (c.endpoint_name IS NULL OR c.endpoint_name = t.endpoint_name)
   AND (c.served_entity_name IS NULL OR c.served_entity_name = t.served_entity_name)
   AND c.effective_from <= w.last_day
   AND (c.effective_to IS NULL OR c.effective_to > w.last_day)
  GROUP BY t.endpoint_name, t.served_entity_name
),
priced AS (
  SELECT t.*,
         24 * (CAST(w.last_day AS INT) - CAST(w.first_day AS INT) + 1) AS hours,
         COALESCE(r.rate, CAST(NULLIF({{rate_per_hour}}, '') AS DECIMAL(38, 6))) AS rate_per_hour,
         r.pools
  FROM traffic t
  CROSS JOIN window_days w
  LEFT JOIN pool_rates r ON r.endpoint_name = t.endpoint_name AND r.served_entity_name = t.served_entity_name
)
SELECT endpoint_name, served_entity_name, currency, requests, tokens, hours,
       CAST(round(CAST(tokens AS DOUBLE) / hours) AS BIGINT) AS tokens_per_hour,
       pay_per_token_cost,
       pools,
       rate_per_hour,
       rate_per_hour * CAST(hours AS DECIMAL(20, 0)) AS provisioned_cost,
       CASE WHEN rate_per_hour IS NULL OR pay_per_token_cost IS NULL THEN NULL
            WHEN pay_per_token_cost <= rate_per_hour * CAST(hours AS DECIMAL(20, 0)) THEN 'pay_per_token'
            ELSE 'provisioned' END AS cheaper,
       CASE WHEN rate_per_hour IS NULL OR pay_per_token_cost IS NULL OR pay_per_token_cost = 0 THEN NULL
            ELSE CAST(ceil(CAST(rate_per_hour AS DOUBLE) * tokens / CAST(pay_per_token_cost AS DOUBLE)) AS BIGINT) END
         AS break_even_tokens_per_hour
FROM priced
ORDER BY pay_per_token_cost DESC NULLS LAST, endpoint_name, served_entity_name
