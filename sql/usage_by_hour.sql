-- usage_by_hour: charged requests summed per hour x requester x endpoint x served entity x
-- service tier x context tier, before pricing. The tier keys are per request, so each sum has
-- one price. priced_at is the start of the hour: sql/pricing.sql prices each row at that
-- instant. usage_by_day sums these sums per day (the rollup computes them once per date and
-- keeps them for both tables; for a unit too big to keep them, it sums the requests straight
-- into days with this model instead, the start of the day as the period's).
-- context_cost_center and context_group are grouping keys only when usage_context overrides are on
-- (context_group also when the table has LiteLLM rows: {{context_cost_center_key}}); otherwise
-- they are NULL on every row (likewise the service tier when no request says one, and the
-- context tier when the price book has no thresholds, and the region when it has no regional
-- premiums: their keys are empty then and they are literals here, and the sums of 1-hour cache
-- writes, audio and searches are 0 when no request has any), and a constant key would make
-- DataFusion aggregate in its slower partially-sorted mode. max() of a key is the key.
SELECT
  request_date,
  -- the start of the hour (or of the day, above)
  {{period_start}} AS priced_at,
  requester,
  max(context_cost_center) AS context_cost_center,
  max(context_group) AS context_group,
  endpoint_name,
  served_entity_name,
  entity_type,
  provider,
  {{service_tier}},
  {{above_prompt_tokens}},
  {{price_geo}},
  count(*) AS requests,
  sum(CASE WHEN status_code BETWEEN 200 AND 299 THEN 1 ELSE 0 END) AS succeeded,
  sum(CASE WHEN status_code = 429 THEN 1 ELSE 0 END) AS rate_limited,
  sum(CASE WHEN status_code BETWEEN 500 AND 599 THEN 1 ELSE 0 END) AS server_errors,
  sum(CASE WHEN status_code BETWEEN 400 AND 499 AND status_code <> 429 THEN 1 ELSE 0 END) AS client_errors,
  sum(CASE WHEN is_fallback THEN 1 ELSE 0 END) AS fallback_requests,
  sum(CASE WHEN upper(guardrail_action) = 'BLOCKED' THEN 1 ELSE 0 END) AS guardrail_blocked,
  -- a success whose log has no token counts (a stream without include_usage, a lost usage
  -- object) and no payload to estimate them from: its cost is unknown, not zero
  sum(CASE WHEN status_code BETWEEN 200 AND 299 AND token_count_source = 'absent' THEN 1 ELSE 0 END) AS unmetered_requests,
  sum(input_tokens) AS input_tokens,
  sum(cache_read_input_tokens) AS cache_read_input_tokens,
  sum(cache_creation_input_tokens) AS cache_creation_input_tokens,
  sum(output_tokens) AS output_tokens,
  sum(COALESCE(reasoning_tokens, 0)) AS reasoning_tokens,
  {{billed_parts}}
  -- the hour's durations, kept for the day's percentiles (a day's cannot be made from its
  -- hours' percentiles); nearest-rank percentiles, the ceil(q*n)-th smallest duration
  -- (DuckDB's quantile_disc; tokenledger functions here, exact and in integer arithmetic)
  value_list(execution_duration_ms) AS durations,
  list_quantile_disc(value_list(execution_duration_ms), 0.5) AS latency_p50_ms,
  list_quantile_disc(value_list(execution_duration_ms), 0.95) AS latency_p95_ms,
  max(execution_duration_ms) AS latency_max_ms
FROM charged_requests
GROUP BY request_date, 2, requester, {{context_cost_center_key}} endpoint_name, served_entity_name, entity_type, provider
  {{service_tier_key}}{{context_band_key}}{{price_geo_key}}
