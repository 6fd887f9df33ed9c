-- description: Tokens per served entity by bucket, and each entity's share
-- param: from 1970-01-01
-- param: to 9999-12-31
-- chart: bar x=served_entity_name y=input_tokens,cache_read_input_tokens,cache_creation_input_tokens,output_tokens unit=tokens
-- chart_title: Tokens per served entity
WITH per_entity AS (
  SELECT served_entity_name,
         sum(requests) AS requests,
         sum(input_tokens) AS input_tokens,
         sum(cache_read_input_tokens) AS cache_read_input_tokens,
         sum(cache_creation_input_tokens) AS cache_creation_input_tokens,
         sum(output_tokens) AS output_tokens,
         sum(input_tokens + cache_read_input_tokens + cache_creation_input_tokens + output_tokens) AS tokens
  FROM usage_daily
  WHERE "date" BETWEEN DATE {{from}} AND DATE {{to}}
  GROUP BY served_entity_name
)
SELECT *, round(100 * CAST(tokens AS DOUBLE) / sum(tokens) OVER (), 2) AS share_pct
FROM per_entity
ORDER BY tokens DESC, served_entity_name
