-- pricing: the rows of {{input}} with the price in force at their priced_at for their served
-- entity, service tier and context tier, their owner at that instant, their list cost and their
-- cost after any negotiated discount. The one place where usage meets the price book, the
-- discounts and the principals, used twice: over single requests (the priced_requests view)
-- and over usage already summed per hour or day (usage_hourly, usage_daily). Prices, discounts
-- and principals change at 00:00 UTC of a date, and the tier keys are per request, so an hour
-- or a day of one key has one price and one owner; cost is linear in tokens, so pricing the
-- sums is exact and much cheaper than pricing every request.
--
-- Inputs (registered by tokenledger):
--   {{input}}   rows with priced_at, requester, context_cost_center, context_group,
--               served_entity_name, provider, service_tier, above_prompt_tokens, price_geo, requests, the
--               four disjoint token buckets and their parts billed apart (1-hour cache writes,
--               audio, reasoning) and web_search_requests
--   prices      the resolved rates of each served entity x service tier x context tier x region
--               (its regional premium applied; '' for none) over
--               valid_from .. valid_to (NULL = open): per-TOKEN prices as exact decimals (the
--               per-1M price moved 6 places, so no division happens here); audio and reasoning
--               as the difference to their bucket's rate; web searches and the fee per request.
--               A rate the book lacks is NULL.
--   discounts   factor of the list price paid, by served entity and/or provider, over a period
--   principals  requester -> group, cost_center for valid_from .. valid_to (NULL = open)
-- What the data or the config do not have costs nothing: tokenledger joins on the service
-- tier, context tier and region only when some request or price has them (else the prices
-- joined are only the standard, untiered, unregional rows), leaves out the discount
-- joins when there are no discounts, and the terms of 1-hour cache writes, audio, searches,
-- reasoning priced apart and request fees when no request or no price has them (the double
-- braces; sql/pricing_parts.sql holds the full terms).
-- Money stays decimal: cost_of(count, rate, ...) is each count times its rate, summed exactly
-- (tokenledger's function: what adding up CAST(count AS DECIMAL(20, 0)) * COALESCE(rate, 0)
-- gives, in one pass over the rows instead of a pass per cast, product and sum); a rate the
-- price lacks counts as 0 there, because a row that needs it has no price: a row without a
-- price in force, or that needs a rate its price lacks, joins no price (the missing rate is
-- part of the join's condition, so no column needs a second look), and its cost, currency and
-- price_version are NULL: unpriced, never free (nor priced at a neighbouring tier's rate).
SELECT
  j.* EXCLUDE (context_cost_center, context_group, discount_factor),
  -- the factor has 4 decimals and a per-token price at most 8 (checked when the tables are
  -- built), so the cast back to the cost's scale drops only zeros: exact, never rounded
  {{discounted_cost}} AS cost
FROM (
  SELECT
    r.*,
    COALESCE(r.context_group, w."group", 'unassigned') AS "group",
    COALESCE(r.context_cost_center, w.cost_center, 'UNALLOCATED') AS cost_center,
    w.requester IS NULL AS unknown_requester,
    p.currency,
    p.pricing_mode,
    p.price_version,
    {{discount_factor}} AS discount_factor,
    {{discount_id}} AS discount_id,
    CASE WHEN p.price_version IS NOT NULL THEN cost_of(
      r.input_tokens, p.input_per_token,
      r.cache_read_input_tokens, p.cache_read_per_token,
      r.cache_creation_input_tokens - r.cache_creation_1h_input_tokens, p.cache_write_per_token,
      r.output_tokens, p.output_per_token
      {{part_terms}})
    END AS list_cost
  FROM {{input}} r
  LEFT JOIN {{prices}} p
    ON p.served_entity_name = r.served_entity_name
   {{tier_keys}}
   AND r.priced_at >= p.valid_from
   AND (p.valid_to IS NULL OR r.priced_at < p.valid_to)
   -- a rate the row needs and the price lacks (most prices have every rate: their rows skip
   -- the checks)
   AND (p.has_every_rate OR NOT (
        (r.input_tokens > 0 AND p.input_per_token IS NULL)
        OR (r.cache_read_input_tokens > 0 AND p.cache_read_per_token IS NULL)
        OR (r.cache_creation_input_tokens > r.cache_creation_1h_input_tokens AND p.cache_write_per_token IS NULL)
        OR (r.output_tokens > 0 AND p.output_per_token IS NULL)
        {{part_checks}}))
  LEFT JOIN principals w
    ON w.requester = r.requester
   AND r.priced_at >= w.valid_from
   AND (w.valid_to IS NULL OR r.priced_at < w.valid_to)
  {{discount_joins}}
) j
