-- description: Guardrail blocks by endpoint and group, and the share of requests blocked
-- param: from 1970-01-01
-- param: to 9999-12-31
SELECT endpoint_name, "group",
       sum(guardrail_blocked) AS blocked,
       sum(requests) AS requests,
       round(100.0 * sum(guardrail_blocked) / sum(requests), 2) AS blocked_pct
FROM usage_daily
WHERE "date" BETWEEN DATE {{from}} AND DATE {{to}}
GROUP BY endpoint_name, "group"
HAVING sum(guardrail_blocked) > 0
ORDER BY blocked DESC, endpoint_name, "group"
