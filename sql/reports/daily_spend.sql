-- description: Spend per group per day at token prices (pools' hours are in chargeback)
-- param: from 1970-01-01
-- param: to 9999-12-31
-- chart: line x=date y=cost series=group unit_column=currency
-- chart_title: Spend per group per day
SELECT "date", "group", currency, sum(requests) AS requests, sum(cost) AS cost
FROM usage_daily
WHERE currency IS NOT NULL AND "date" BETWEEN DATE {{from}} AND DATE {{to}}
GROUP BY "date", "group", currency
ORDER BY "date", "group", currency
