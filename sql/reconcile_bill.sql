-- reconcile_bill: the bill's side of a reconciliation: the lines that count
-- (sql/counted_bill_lines.sql) per day x provider x model x charge kind.
--
-- Tokens come from the usage reports where there are any (openai-usage, anthropic-usage), else
-- from the cost lines that state them (FOCUS ConsumedQuantity); the cost from the cost lines.
-- Databricks' lines of a provisioned pool's hours (pool_endpoint, see counted_bill_lines.sql)
-- are kind `capacity`, named by the endpoint.
SELECT
  bill_date AS "date",
  provider,
  COALESCE(pool_endpoint, provider_model, '') AS provider_model,
  CASE WHEN pool_endpoint IS NOT NULL THEN 'capacity' ELSE charge_kind END AS kind,
  max(currency) AS currency,
  count(DISTINCT currency) AS currencies,
  sum(requests) AS requests,
  sum(CASE WHEN source IN ('openai-usage', 'anthropic-usage') THEN quantity END) AS usage_quantity,
  sum(CASE WHEN cost IS NOT NULL THEN quantity END) AS cost_quantity,
  sum(cost) AS cost
FROM counted_bill_lines
GROUP BY 1, 2, 3, 4
