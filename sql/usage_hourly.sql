-- usage_hourly: priced usage by hour x requester x group x cost_center x endpoint x served
-- entity x price version. The source of truth of the rollup (like a dbt model).
--
-- Inputs (registered by tokenledger):
--   inference   the Delta table (one row per request)
--   prices      one row per price period: served_entity_name, valid_from, valid_to (NULL =
--               open), currency, pricing_mode, price_version, and per-TOKEN prices as exact
--               decimals (the per-1M price moved 6 places, so no division happens here)
--   principals  requester -> group, cost_center for valid_from .. valid_to (NULL = open)
-- Money stays decimal: tokens are cast to DECIMAL(20,0) before they meet a price, and the
-- cost is summed at full precision (rounding happens once, at the export).
WITH priced AS (
  SELECT
    i.request_date,
    i.request_time,
    i.requester,
    i.endpoint_name,
    i.served_entity_name,
    i.entity_type,
    i.provider,
    i.status_code,
    i.is_fallback,
    i.guardrail_action,
    i.execution_duration_ms,
    i.input_tokens,
    i.cache_read_input_tokens,
    i.cache_creation_input_tokens,
    i.output_tokens,
    i.reasoning_tokens,
    p.currency,
    p.pricing_mode,
    p.price_version,
    CAST(i.input_tokens AS DECIMAL(20, 0)) * p.input_per_token
      + CAST(i.cache_read_input_tokens AS DECIMAL(20, 0)) * p.cache_read_per_token
      + CAST(i.cache_creation_input_tokens AS DECIMAL(20, 0)) * p.cache_write_per_token
      + CAST(i.output_tokens AS DECIMAL(20, 0)) * p.output_per_token AS cost
  FROM inference i
  LEFT JOIN prices p
    ON p.served_entity_name = i.served_entity_name
   AND i.request_time >= p.valid_from
   AND (p.valid_to IS NULL OR i.request_time < p.valid_to)
),
attributed AS (
  SELECT
    priced.*,
    COALESCE(u."group", 'unassigned') AS "group",
    COALESCE(u.cost_center, 'UNALLOCATED') AS cost_center,
    u.requester IS NULL AS unknown_requester
  FROM priced
  LEFT JOIN principals u
    ON u.requester = priced.requester
   AND priced.request_time >= u.valid_from
   AND (u.valid_to IS NULL OR priced.request_time < u.valid_to)
)
SELECT
  request_date AS "date",
  date_trunc('hour', request_time) AS hour,
  requester,
  "group",
  cost_center,
  endpoint_name,
  served_entity_name,
  entity_type,
  provider,
  currency,
  pricing_mode,
  price_version,
  bool_or(unknown_requester) AS unknown_requester,
  count(*) AS requests,
  sum(CASE WHEN status_code BETWEEN 200 AND 299 THEN 1 ELSE 0 END) AS succeeded,
  sum(CASE WHEN status_code = 429 THEN 1 ELSE 0 END) AS rate_limited,
  sum(CASE WHEN status_code BETWEEN 500 AND 599 THEN 1 ELSE 0 END) AS server_errors,
  sum(CASE WHEN status_code BETWEEN 400 AND 499 AND status_code <> 429 THEN 1 ELSE 0 END) AS client_errors,
  sum(CASE WHEN is_fallback THEN 1 ELSE 0 END) AS fallback_requests,
  sum(CASE WHEN upper(guardrail_action) = 'BLOCKED' THEN 1 ELSE 0 END) AS guardrail_blocked,
  sum(input_tokens) AS input_tokens,
  sum(cache_read_input_tokens) AS cache_read_input_tokens,
  sum(cache_creation_input_tokens) AS cache_creation_input_tokens,
  sum(output_tokens) AS output_tokens,
  sum(COALESCE(reasoning_tokens, 0)) AS reasoning_tokens,
  sum(cost) AS cost,
  sum(CASE WHEN price_version IS NULL THEN 1 ELSE 0 END) AS unpriced_requests,
  sum(CASE WHEN price_version IS NULL
      THEN input_tokens + cache_read_input_tokens + cache_creation_input_tokens + output_tokens
      ELSE 0 END) AS unpriced_tokens,
  max(execution_duration_ms) AS latency_max_ms
FROM attributed
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12
