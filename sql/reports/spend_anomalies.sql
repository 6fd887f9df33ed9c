-- description: Days whose group spend moved min_change_pct from its trailing 7-day average
-- param: from 1970-01-01
-- param: to 9999-12-31
-- param: min_change_pct 50
-- param: min_cost 1
-- A day with no usage of a group counts as zero spend for it (days are those with any usage).
-- A day needs 3 days of history to be judged; `min_cost` ignores moves between small amounts.
WITH days AS (
  SELECT DISTINCT "date" FROM usage_daily WHERE "date" BETWEEN DATE {{from}} AND DATE {{to}}
),
groups AS (
  SELECT DISTINCT "group", currency FROM usage_daily
  WHERE currency IS NOT NULL AND "date" BETWEEN DATE {{from}} AND DATE {{to}}
),
spend AS (
  SELECT "date", "group", currency, sum(cost) AS cost
  FROM usage_daily
  WHERE currency IS NOT NULL AND "date" BETWEEN DATE {{from}} AND DATE {{to}}
  GROUP BY "date", "group", currency
),
daily AS (
  SELECT d."date", g."group", g.currency, COALESCE(s.cost, CAST(0 AS DECIMAL(38, 12))) AS cost
  FROM days d CROSS JOIN groups g
  LEFT JOIN spend s ON s."date" = d."date" AND s."group" = g."group" AND s.currency = g.currency
),
judged AS (
  SELECT *,
         lag(cost) OVER (PARTITION BY "group", currency ORDER BY "date") AS previous_day,
         avg(cost) OVER (PARTITION BY "group", currency ORDER BY "date" ROWS BETWEEN 7 PRECEDING AND 1 PRECEDING) AS trailing_avg,
         count(*) OVER (PARTITION BY "group", currency ORDER BY "date" ROWS BETWEEN 7 PRECEDING AND 1 PRECEDING) AS history_days
  FROM daily
)
SELECT "date", "group", currency,
       round(cost, 2) AS cost,
       round(previous_day, 2) AS previous_day,
       round(trailing_avg, 2) AS trailing_avg,
       CASE WHEN trailing_avg = 0 THEN NULL
            ELSE round(100 * (CAST(cost AS DOUBLE) - CAST(trailing_avg AS DOUBLE)) / CAST(trailing_avg AS DOUBLE), 1) END AS change_pct,
       CASE WHEN cost > trailing_avg THEN 'spike' ELSE 'drop' END AS direction
FROM judged
WHERE history_days >= 3
  AND greatest(cost, trailing_avg) >= CAST({{min_cost}} AS DECIMAL(38, 12))
  AND (trailing_avg = 0
       OR abs(CAST(cost AS DOUBLE) - CAST(trailing_avg AS DOUBLE)) >= CAST({{min_change_pct}} AS DOUBLE) / 100 * CAST(trailing_avg AS DOUBLE))
ORDER BY "date", "group", currency
