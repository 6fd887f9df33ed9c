-- usage_by_day: the hours' sums of usage_by_hour summed per day, with the same keys but the
-- hour. A day's percentiles come from its hours' lists of durations put together: the same
-- values as the day's requests, so the same nearest-rank percentiles, without reading the
-- requests again. priced_at is the start of the day (00:00 UTC of request_date).
-- The keys are filled in by tokenledger as in usage_by_hour.
SELECT
  request_date,
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
  -- never NULL (a day of a key has at least one hour of it), and said so: the column is NOT
  -- NULL in the table's contract, as count(*) is in usage_by_hour
  COALESCE(sum(requests), 0) AS requests,
  sum(succeeded) AS succeeded,
  sum(rate_limited) AS rate_limited,
  sum(server_errors) AS server_errors,
  sum(client_errors) AS client_errors,
  sum(fallback_requests) AS fallback_requests,
  sum(guardrail_blocked) AS guardrail_blocked,
  sum(unmetered_requests) AS unmetered_requests,
  sum(input_tokens) AS input_tokens,
  sum(cache_read_input_tokens) AS cache_read_input_tokens,
  sum(cache_creation_input_tokens) AS cache_creation_input_tokens,
  sum(output_tokens) AS output_tokens,
  sum(reasoning_tokens) AS reasoning_tokens,
  {{billed_parts}}
  value_list(durations) AS durations,
  list_quantile_disc(value_list(durations), 0.5) AS latency_p50_ms,
  list_quantile_disc(value_list(durations), 0.95) AS latency_p95_ms,
  max(latency_max_ms) AS latency_max_ms
FROM usage_by_hour
GROUP BY request_date, requester, {{context_cost_center_key}} endpoint_name, served_entity_name, entity_type, provider
  {{service_tier_key}}{{context_band_key}}{{price_geo_key}}
