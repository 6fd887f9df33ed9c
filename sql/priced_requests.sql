-- priced_requests: every inference row with its price and its owner. The one place where a
-- request meets the price book and the principals; the usage models aggregate this view.
--
-- Inputs (registered by tokenledger):
--   inference   the Delta table (one row per request)
--   prices      one row per price period: served_entity_name, valid_from, valid_to (NULL =
--               open), currency, pricing_mode, price_version, and per-TOKEN prices as exact
--               decimals (the per-1M price moved 6 places, so no division happens here)
--   principals  requester -> group, cost_center for valid_from .. valid_to (NULL = open)
-- Money stays decimal: tokens are cast to DECIMAL(20,0) before they meet a price. A request
-- without a price in force has a NULL cost and price_version: unpriced, never free.
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
SELECT * FROM attributed
