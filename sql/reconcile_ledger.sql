-- reconcile_ledger: the ledger's side of a reconciliation with the providers' bills: usage_daily
-- per day x the provider and model id a bill names x charge kind, with each kind's cost from
-- the rates that priced it (so that a wrong cached-input price shows on the cached_input row).
-- tokenledger fills in what is in double braces.
--
-- Inputs (registered by tokenledger):
--   usage_daily   the priced usage
--   prices        the resolved rates (see sql/pricing.sql)
--   discounts     factor of the list price paid
--   bill_models   served entity -> the provider and provider_model its bill names it by
--                 (config/bill_mapping.csv, else the price book's catalog_model; an entity
--                 without a row is billed under its own name and its own provider)
--   pool_days     provisioned pools (config/capacity.csv) per day in force, with their day's
--                 cost by rate: a pool's traffic is paid by its hours, so it is left out of
--                 the token rows, and the pool is compared as kind `capacity` under provider
--                 databricks and its endpoint, as system.billing.usage bills provisioned
--                 throughput (per endpoint and hour)
-- The kinds are the ledger's disjoint buckets, as bill_lines has them: input (audio input
-- included), cached_input, cache_write (5-minute and 1-hour), output (reasoning and audio
-- output included), web_search (searches) and other (request fees). Their list costs add up to
-- the row's list_cost exactly; each is discounted by the row's factor (4 decimals, so exact).
WITH sums AS (
  -- the rows of one price: summing first makes the join and the unpivot small
  SELECT "date", provider, served_entity_name, service_tier, above_prompt_tokens, inference_geo, currency,
         price_version, discount_id,
         sum(requests) AS requests,
         sum(input_tokens) AS input_tokens,
         sum(cache_read_input_tokens) AS cache_read_input_tokens,
         sum(cache_creation_input_tokens) AS cache_creation_input_tokens,
         sum(cache_creation_1h_input_tokens) AS cache_creation_1h_input_tokens,
         sum(output_tokens) AS output_tokens,
         sum(reasoning_tokens) AS reasoning_tokens,
         sum(input_audio_tokens) AS input_audio_tokens,
         sum(output_audio_tokens) AS output_audio_tokens,
         sum(web_search_requests) AS web_search_requests
  FROM (
    -- the traffic no pool serves
    SELECT u.*
    FROM usage_daily u
    LEFT JOIN pool_days p
      ON p."date" = u."date"
     AND (p.endpoint_name IS NULL OR p.endpoint_name = u.endpoint_name)
     AND (p.served_entity_name IS NULL OR p.served_entity_name = u.served_entity_name)
    WHERE u."date" BETWEEN DATE '{{from}}' AND DATE '{{to}}' AND p."date" IS NULL
  ) unpooled
  GROUP BY "date", provider, served_entity_name, service_tier, above_prompt_tokens, inference_geo, currency,
           price_version, discount_id
),
rated AS (
  SELECT
    s.*,
    p.price_version IS NOT NULL AS priced,
    COALESCE(d.factor, CAST(1 AS DECIMAL(10, 4))) AS factor,
    -- each count times its rate, summed exactly, a rate the price lacks as 0 (as in sql/pricing.sql)
    cost_of(s.input_tokens, p.input_per_token,
            s.input_audio_tokens, p.input_audio_extra_per_token) AS input_cost,
    cost_of(s.cache_read_input_tokens, p.cache_read_per_token) AS cached_input_cost,
    cost_of(s.cache_creation_input_tokens - s.cache_creation_1h_input_tokens, p.cache_write_per_token,
            s.cache_creation_1h_input_tokens, p.cache_write_1h_per_token) AS cache_write_cost,
    cost_of(s.output_tokens, p.output_per_token,
            s.reasoning_tokens, p.reasoning_extra_per_token,
            s.output_audio_tokens, p.output_audio_extra_per_token) AS output_cost,
    cost_of(s.web_search_requests, p.web_search_per_request) AS web_search_cost,
    cost_of(s.requests, p.request_fee) AS other_cost
  FROM sums s
  LEFT JOIN prices p
    ON p.price_version = s.price_version
   AND p.served_entity_name = s.served_entity_name
   AND p.service_tier = s.service_tier
   AND p.above_prompt_tokens = s.above_prompt_tokens
   AND p.inference_geo = COALESCE(s.inference_geo, '')
   AND CAST(s."date" AS TIMESTAMP) >= p.valid_from
   AND (p.valid_to IS NULL OR CAST(s."date" AS TIMESTAMP) < p.valid_to)
  LEFT JOIN discounts d ON d.discount_id = s.discount_id
),
kinds AS (
  SELECT
    r."date",
    COALESCE(m.provider, r.provider) AS provider,
    COALESCE(m.provider_model, r.served_entity_name) AS provider_model,
    k.kind,
    r.currency,
    r.priced,
    CASE WHEN k.kind = 'input' THEN r.requests ELSE 0 END AS requests,
    CASE k.kind
      WHEN 'input' THEN r.input_tokens
      WHEN 'cached_input' THEN r.cache_read_input_tokens
      WHEN 'cache_write' THEN r.cache_creation_input_tokens
      WHEN 'output' THEN r.output_tokens
      WHEN 'web_search' THEN r.web_search_requests
    END AS quantity,
    CAST(r.factor * CASE k.kind
      WHEN 'input' THEN r.input_cost
      WHEN 'cached_input' THEN r.cached_input_cost
      WHEN 'cache_write' THEN r.cache_write_cost
      WHEN 'output' THEN r.output_cost
      WHEN 'web_search' THEN r.web_search_cost
      ELSE r.other_cost
    END AS DECIMAL(38, 12)) AS cost
  FROM rated r
  CROSS JOIN (VALUES ('input'), ('cached_input'), ('cache_write'), ('output'), ('web_search'), ('other')) AS k(kind)
  LEFT JOIN bill_models m ON m.served_entity_name = r.served_entity_name
)
SELECT
  "date",
  provider,
  provider_model,
  kind,
  max(currency) AS currency,
  count(DISTINCT currency) AS currencies,
  sum(requests) AS requests,
  sum(quantity) AS quantity,
  sum(CASE WHEN priced THEN cost END) AS cost,
  sum(CASE WHEN priced THEN 0 ELSE quantity END) AS unpriced_quantity
FROM kinds
WHERE provider IS NOT NULL
GROUP BY "date", provider, provider_model, kind
-- a kind with nothing in it is no row (a model without web searches has no web_search row)
HAVING sum(quantity) > 0 OR sum(CASE WHEN priced THEN cost END) <> 0
UNION ALL
-- the pools' hours, per endpoint and day
SELECT
  "date",
  'databricks' AS provider,
  provider_model,
  'capacity' AS kind,
  max(currency) AS currency,
  count(DISTINCT currency) AS currencies,
  CAST(NULL AS BIGINT) AS requests,
  CAST(NULL AS BIGINT) AS quantity,
  sum(cost) AS cost,
  CAST(0 AS BIGINT) AS unpriced_quantity
FROM pool_days
GROUP BY "date", provider_model
