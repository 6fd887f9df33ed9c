-- usage_hourly and usage_daily: priced usage by period x requester x group x cost_center x
-- endpoint x served entity x service tier x context tier x price version. list_cost is the
-- price book's; cost is after any negotiated discount (config/discounts.csv), and is what is
-- charged back. One model serves both grains (tokenledger fills in what is marked in double
-- braces): usage_by_period is the sums of the grain (usage_by_hour's, or usage_by_day's made
-- from them), pricing prices them (priced_usage), and this picks the table's columns. A day's
-- percentiles come from its hours' durations, not from their percentiles.
-- Cost is summed at full precision; rounding happens once, at the export.
SELECT
  request_date AS "date",
  {{time_columns}}
  requester,
  "group",
  cost_center,
  endpoint_name,
  served_entity_name,
  entity_type,
  provider,
  service_tier,
  above_prompt_tokens,
  NULLIF(price_geo, '') AS inference_geo,
  currency,
  pricing_mode,
  price_version,
  discount_id,
  unknown_requester,
  requests,
  succeeded,
  rate_limited,
  server_errors,
  client_errors,
  fallback_requests,
  guardrail_blocked,
  input_tokens,
  cache_read_input_tokens,
  cache_creation_input_tokens,
  output_tokens,
  reasoning_tokens,
  cache_creation_1h_input_tokens,
  input_audio_tokens,
  output_audio_tokens,
  web_search_requests,
  list_cost,
  cost,
  CASE WHEN price_version IS NULL THEN requests ELSE 0 END AS unpriced_requests,
  CASE WHEN price_version IS NULL
       THEN input_tokens + cache_read_input_tokens + cache_creation_input_tokens + output_tokens
       ELSE 0 END AS unpriced_tokens,
  unmetered_requests,
  latency_p50_ms,
  latency_p95_ms,
  latency_max_ms
FROM priced_usage
