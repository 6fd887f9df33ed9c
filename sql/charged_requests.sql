-- charged_requests: every inference row with who is charged for it, the instant its price and
-- owner are looked up at (priced_at), and the tier keys its price depends on. The one place that
-- decides who pays.
--
-- {{usage_context_overrides}} is TRUE when config/settings.toml turns the option on: then a
-- request's usage_context['end_user_to_charge'] is the requester it is charged to, its
-- usage_context['cost_center'] the cost center and its usage_context['group'] the group (over
-- the ones in principals.csv). {{source_groups}} is TRUE when the table has LiteLLM rows: their
-- usage_context['group'] (their team_id) is their group, with or without the option.
SELECT
  request_id,
  request_date,
  request_time,
  request_time AS priced_at,
  CASE WHEN {{usage_context_overrides}}
       THEN COALESCE(usage_context['end_user_to_charge'], requester)
       ELSE requester END AS requester,
  CASE WHEN {{usage_context_overrides}} THEN usage_context['cost_center'] END AS context_cost_center,
  CASE WHEN {{usage_context_overrides}} OR ({{source_groups}} AND source = 'litellm') THEN usage_context['group'] END AS context_group,
  endpoint_name,
  served_entity_name,
  entity_type,
  provider,
  status_code,
  token_count_source,
  is_fallback,
  guardrail_action,
  execution_duration_ms,
  input_tokens,
  cache_read_input_tokens,
  cache_creation_input_tokens,
  output_tokens,
  reasoning_tokens,
  -- what else the bill depends on (columns added after the first release are NULL on older
  -- rows: the standard tier, 5-minute cache writes, no audio, no searches)
  COALESCE(service_tier, 'standard') AS service_tier,
  -- the context tier: the highest threshold of the price book the whole prompt is greater
  -- than (filled in from prices.csv; 0 when the book has none)
  {{context_band}} AS above_prompt_tokens,
  -- the region it is priced in: its inference_geo when the price book has a premium for it
  -- (filled in from prices.csv), else ''
  {{price_geo}} AS price_geo,
  COALESCE(cache_creation_1h_input_tokens, 0) AS cache_creation_1h_input_tokens,
  COALESCE(input_audio_tokens, 0) AS input_audio_tokens,
  COALESCE(output_audio_tokens, 0) AS output_audio_tokens,
  COALESCE(web_search_requests, 0) AS web_search_requests,
  CAST(1 AS BIGINT) AS requests
FROM inference
