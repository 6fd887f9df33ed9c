-- reconcile_bill: the bill's side of a reconciliation: bill_lines per day x provider x model x
-- charge kind. tokenledger fills in what is in double braces.
--
-- A later export of the same periods replaces an earlier one (Anthropic's reports are final
-- only about 30 days after the usage date; a month is often exported twice): of the lines of
-- one source, provider and period, only those of the newest import count.
-- Tokens come from the usage reports where there are any (openai-usage, anthropic-usage), else
-- from the cost lines that state them (FOCUS ConsumedQuantity); the cost from the cost lines.
WITH lines AS (
  SELECT b.*, max(imported_at) OVER (PARTITION BY source, provider, period_start, period_end) AS newest
  FROM bill_lines b
  WHERE bill_date BETWEEN DATE '{{from}}' AND DATE '{{to}}'
)
SELECT
  bill_date AS "date",
  provider,
  COALESCE(provider_model, '') AS provider_model,
  charge_kind AS kind,
  max(currency) AS currency,
  count(DISTINCT currency) AS currencies,
  sum(requests) AS requests,
  sum(CASE WHEN source IN ('openai-usage', 'anthropic-usage') THEN quantity END) AS usage_quantity,
  sum(CASE WHEN cost IS NOT NULL THEN quantity END) AS cost_quantity,
  sum(cost) AS cost,
  string_agg(DISTINCT source_file_fingerprint, ',') AS files
FROM lines
WHERE imported_at = newest
GROUP BY bill_date, provider, COALESCE(provider_model, ''), charge_kind
