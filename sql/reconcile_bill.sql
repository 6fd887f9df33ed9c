-- reconcile_bill: the bill's side of a reconciliation: the lines that count
-- (sql/counted_bill_lines.sql) per day x provider x model x charge kind.
--
-- Tokens come from the usage reports where there are any (openai-usage, anthropic-usage), else
-- from the cost lines that state them (FOCUS ConsumedQuantity); the cost from the cost lines.
-- Databricks' lines of an endpoint a provisioned pool serves that day (pool_days, from
-- config/capacity.csv) are that pool's hours: kind `capacity`, named by the endpoint.
SELECT
  bill_date AS "date",
  provider,
  CASE WHEN p.endpoint_name IS NOT NULL THEN p.endpoint_name ELSE COALESCE(provider_model, '') END AS provider_model,
  CASE WHEN p.endpoint_name IS NOT NULL THEN 'capacity' ELSE charge_kind END AS kind,
  max(currency) AS currency,
  count(DISTINCT currency) AS currencies,
  sum(requests) AS requests,
  sum(CASE WHEN source IN ('openai-usage', 'anthropic-usage') THEN quantity END) AS usage_quantity,
  sum(CASE WHEN cost IS NOT NULL THEN quantity END) AS cost_quantity,
  sum(cost) AS cost
FROM counted_bill_lines c
LEFT JOIN (SELECT DISTINCT "date", endpoint_name FROM pool_days WHERE endpoint_name IS NOT NULL) p
  ON p."date" = c.bill_date AND p.endpoint_name = c.endpoint_name AND c.provider = 'databricks'
GROUP BY 1, 2, 3, 4
