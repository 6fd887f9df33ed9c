-- usage_hourly and usage_daily: priced usage by time x requester x group x cost_center x
-- endpoint x served entity x price version, from the priced_requests view. One model serves
-- both grains (tokenledger fills in the time columns and keys marked in double braces): each grain is
-- computed from the requests, because a day's percentiles cannot be made from its hours'.
-- Cost is summed at full precision; rounding happens once, at the export.
SELECT
  {{time_columns}}
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
  -- nearest-rank percentiles (the ceil(q*n)-th smallest, as DuckDB's quantile_disc), in
  -- integer arithmetic so that 0.95 * 20 cannot become 19.000000000000004
  array_element(
    array_sort(array_agg(execution_duration_ms) FILTER (WHERE execution_duration_ms IS NOT NULL)),
    CAST((count(execution_duration_ms) + 1) / 2 AS BIGINT)) AS latency_p50_ms,
  array_element(
    array_sort(array_agg(execution_duration_ms) FILTER (WHERE execution_duration_ms IS NOT NULL)),
    CAST((95 * count(execution_duration_ms) + 99) / 100 AS BIGINT)) AS latency_p95_ms,
  max(execution_duration_ms) AS latency_max_ms
FROM priced_requests
GROUP BY {{time_keys}}, requester, "group", cost_center, endpoint_name, served_entity_name,
  entity_type, provider, currency, pricing_mode, price_version
