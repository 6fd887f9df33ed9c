-- pricing: the rows of {{input}} with the price in force at their priced_at, their owner at
-- that instant, and their cost. The one place where usage meets the price book and the
-- principals, used twice: over single requests (the priced_requests view) and over usage
-- already summed per hour or day (usage_hourly, usage_daily). Prices and principals change
-- at 00:00 UTC of a date, so an hour or a day has one price and one owner, and since cost is
-- linear in tokens, pricing the sums is exact and much cheaper than pricing every request.
--
-- Inputs (registered by tokenledger):
--   {{input}}   rows with priced_at, requester, context_cost_center, context_group, served_entity_name and
--               the four disjoint token buckets
--   prices      one row per price period: served_entity_name, valid_from, valid_to (NULL =
--               open), currency, pricing_mode, price_version, and per-TOKEN prices as exact
--               decimals (the per-1M price moved 6 places, so no division happens here)
--   principals  requester -> group, cost_center for valid_from .. valid_to (NULL = open)
-- Money stays decimal: tokens are cast to DECIMAL(20,0) before they meet a price. A row
-- without a price in force has a NULL cost and price_version: unpriced, never free.
SELECT
  r.* EXCLUDE (context_cost_center, context_group),
  COALESCE(r.context_group, w."group", 'unassigned') AS "group",
  COALESCE(r.context_cost_center, w.cost_center, 'UNALLOCATED') AS cost_center,
  w.requester IS NULL AS unknown_requester,
  p.currency,
  p.pricing_mode,
  p.price_version,
  CAST(r.input_tokens AS DECIMAL(20, 0)) * p.input_per_token
    + CAST(r.cache_read_input_tokens AS DECIMAL(20, 0)) * p.cache_read_per_token
    + CAST(r.cache_creation_input_tokens AS DECIMAL(20, 0)) * p.cache_write_per_token
    + CAST(r.output_tokens AS DECIMAL(20, 0)) * p.output_per_token AS cost
FROM {{input}} r
LEFT JOIN prices p
  ON p.served_entity_name = r.served_entity_name
 AND r.priced_at >= p.valid_from
 AND (p.valid_to IS NULL OR r.priced_at < p.valid_to)
LEFT JOIN principals w
  ON w.requester = r.requester
 AND r.priced_at >= w.valid_from
 AND (w.valid_to IS NULL OR r.priced_at < w.valid_to)
