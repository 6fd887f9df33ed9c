-- charged_requests: every inference row with who is charged for it, and the instant its price
-- and owner are looked up at (priced_at). The one place that decides who pays.
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
  reasoning_tokens
FROM inference
