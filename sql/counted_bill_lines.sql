-- counted_bill_lines: the lines of bill_lines that count for the days {{from}} .. {{to}}, for
-- reconcile and chargeback --true-up alike. tokenledger fills in what is in double braces.
--
-- - A later export of the same periods replaces an earlier one (Anthropic's reports are final
--   only about 30 days after the usage date; a month is often exported twice): of the lines of
--   one source, provider and period, only those of the newest import count.
-- - The gateway's record of an external provider's spend (Databricks' external_model_spend) and
--   that provider's own bill are two views of the same money: on a day a provider has its own
--   bill, that bill counts and the gateway's view does not.
-- - pool_endpoint: a Databricks line of an endpoint a provisioned pool serves that day
--   (pool_days, from config/capacity.csv) is that pool's hours when it names no other model:
--   no model, the endpoint itself, or the pool's served entity. A pay-per-token destination
--   behind the same AI Gateway endpoint names its own model and stays usage.
SELECT c.*, p.endpoint_name AS pool_endpoint
FROM (
  SELECT * EXCLUDE (newest, own_bill)
  FROM (
    SELECT b.*,
           max(imported_at) OVER (PARTITION BY source, provider, period_start, period_end) AS newest,
           max(CASE WHEN source = 'databricks-external-spend' THEN 0 ELSE 1 END)
             OVER (PARTITION BY provider, bill_date) AS own_bill
    FROM bill_lines b
    WHERE bill_date BETWEEN DATE '{{from}}' AND DATE '{{to}}'
  ) lines
  WHERE imported_at = newest AND NOT (source = 'databricks-external-spend' AND own_bill = 1)
) c
LEFT JOIN (
  SELECT "date", endpoint_name, served_entity_name AS model FROM pool_days
  WHERE endpoint_name IS NOT NULL AND served_entity_name IS NOT NULL
  UNION
  SELECT "date", endpoint_name, endpoint_name AS model FROM pool_days WHERE endpoint_name IS NOT NULL
) p
  ON c.provider = 'databricks' AND p."date" = c.bill_date AND p.endpoint_name = c.endpoint_name
 AND p.model = COALESCE(c.provider_model, c.endpoint_name)
