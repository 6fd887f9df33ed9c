-- description: Top requesters of each endpoint and their share of its tokens (who monopolizes it)
-- param: from 1970-01-01
-- param: to 9999-12-31
-- param: top 5
WITH per_requester AS (
  SELECT endpoint_name, requester, "group",
         sum(requests) AS requests,
         sum(input_tokens + cache_read_input_tokens + cache_creation_input_tokens + output_tokens) AS tokens,
         sum(cost) AS cost
  FROM usage_daily
  WHERE "date" BETWEEN DATE {{from}} AND DATE {{to}}
  GROUP BY endpoint_name, requester, "group"
),
ranked AS (
  SELECT *,
         row_number() OVER (PARTITION BY endpoint_name ORDER BY tokens DESC, requester) AS rank,
         CAST(tokens AS DOUBLE) / sum(tokens) OVER (PARTITION BY endpoint_name) AS share
  FROM per_requester
)
SELECT endpoint_name, rank, requester, "group", requests, tokens, round(100 * share, 1) AS share_pct, cost
FROM ranked
WHERE rank <= CAST({{top}} AS BIGINT)
ORDER BY endpoint_name, rank
