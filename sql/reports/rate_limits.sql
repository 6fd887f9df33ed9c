-- description: 429s per requester, peak and percentile QPM / TPM, and suggested limits
-- param: from 1970-01-01
-- param: to 9999-12-31
-- param: percentile 0.99
-- param: headroom 1.5
-- The suggestion is the requester's per-minute demand at `percentile` (nearest rank, over the
-- minutes in which it sent anything, 429s included: they are demand the gateway refused) times
-- `headroom`, rounded up. Peaks are the busiest single minute.
WITH per_minute AS (
  SELECT requester, "group",
         date_trunc('minute', request_time) AS minute,
         count(*) AS requests,
         sum(input_tokens + cache_read_input_tokens + cache_creation_input_tokens + output_tokens) AS tokens,
         sum(CASE WHEN status_code = 429 THEN 1 ELSE 0 END) AS rate_limited
  FROM priced_requests
  WHERE request_date BETWEEN DATE {{from}} AND DATE {{to}}
  GROUP BY requester, "group", date_trunc('minute', request_time)
),
per_requester AS (
  SELECT requester, "group",
         sum(requests) AS requests,
         sum(rate_limited) AS rate_limited,
         count(*) AS active_minutes,
         max(requests) AS peak_qpm,
         max(tokens) AS peak_tpm,
         quantile_disc(requests, CAST({{percentile}} AS DOUBLE)) AS pctl_qpm,
         quantile_disc(tokens, CAST({{percentile}} AS DOUBLE)) AS pctl_tpm
  FROM per_minute
  GROUP BY requester, "group"
)
SELECT requester, "group", requests, rate_limited,
       round(100.0 * rate_limited / requests, 2) AS rate_limited_pct,
       active_minutes, peak_qpm, pctl_qpm, peak_tpm, pctl_tpm,
       CAST(ceil(pctl_qpm * CAST({{headroom}} AS DOUBLE)) AS BIGINT) AS suggested_qpm,
       CAST(ceil(pctl_tpm * CAST({{headroom}} AS DOUBLE)) AS BIGINT) AS suggested_tpm
FROM per_requester
ORDER BY rate_limited DESC, requests DESC, requester, "group"
