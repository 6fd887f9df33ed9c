#!/usr/bin/env python3
"""tokenledger's job done the way a careful analyst would do it in DuckDB: the peer the
benchmarks compare with.

usage: peer_duckdb.py DATA_DIR ingest|rollup|chargeback

DATA_DIR is written by `tokenledger gen`. Outputs go to DATA_DIR/out_duckdb/:
  ingest      logs/inference.jsonl -> inference/request_date=YYYY-MM-DD/*.parquet (zstd), one row
              per request_id (the log's exact duplicate lines dropped)
  rollup      inference -> hourly.parquet: per hour x requester x group x cost center x served
              entity x endpoint, requests, errors, the token buckets, cost and latency percentiles
  chargeback  hourly.parquet -> chargeback.csv: per month x group x cost center, and a *TOTAL*
              line per month, cost rounded to the cent
Prints one JSON line: the step's seconds (its queries alone, after the library is loaded), the
records read and the rows written.

The rules are tokenledger's, so the outputs can be compared: input_tokens counts the whole
prompt (cache reads and writes included); a price is in force from its effective_from until the
entity's next one; usage is summed per hour before it is priced (prices change at midnight, so
an hour has one price); an hour that needs a rate its price lacks, or has no price, is unpriced
(its cost NULL, never zero); a requester missing from principals.csv is charged to 'unassigned'
/ 'UNALLOCATED'; percentiles are nearest-rank (quantile_disc).
"""
import json, os, sys, time

import duckdb

JSON_COLUMNS = """{
  request_id: 'VARCHAR', client_request_id: 'VARCHAR', request_time: 'TIMESTAMP',
  endpoint_name: 'VARCHAR', served_entity_name: 'VARCHAR', served_entity_type: 'VARCHAR',
  provider: 'VARCHAR', requester: 'VARCHAR', status_code: 'INTEGER',
  input_tokens: 'BIGINT', output_tokens: 'BIGINT', cached_input_tokens: 'BIGINT',
  cache_creation_input_tokens: 'BIGINT', reasoning_tokens: 'BIGINT', execution_duration_ms: 'BIGINT',
  request_streaming: 'BOOLEAN', is_fallback: 'BOOLEAN', guardrail_action: 'VARCHAR',
  usage_context: 'STRUCT(project VARCHAR, cost_center VARCHAR)', request: 'VARCHAR', response: 'VARCHAR'}"""

# per-1M prices as exact decimals; 0.000001 is a DECIMAL literal, so the product stays exact
PRICES = """
SELECT served_entity_name,
       CAST(effective_from AS TIMESTAMP) AS valid_from,
       CAST(lead(effective_from) OVER (PARTITION BY served_entity_name ORDER BY effective_from) AS TIMESTAMP) AS valid_to,
       CAST(input_price_per_1m * 0.000001 AS DECIMAL(38,12)) AS input_ppt,
       CAST(cached_input_price_per_1m * 0.000001 AS DECIMAL(38,12)) AS cached_ppt,
       CAST(cache_write_price_per_1m * 0.000001 AS DECIMAL(38,12)) AS cache_write_ppt,
       CAST(output_price_per_1m * 0.000001 AS DECIMAL(38,12)) AS output_ppt
FROM read_csv('{prices}', header = true, columns = {{
  served_entity_name: 'VARCHAR', effective_from: 'DATE', currency: 'VARCHAR',
  input_price_per_1m: 'DECIMAL(18,6)', cached_input_price_per_1m: 'DECIMAL(18,6)',
  output_price_per_1m: 'DECIMAL(18,6)', cache_write_price_per_1m: 'DECIMAL(18,6)',
  pricing_mode: 'VARCHAR', retires_on: 'DATE'}})
"""

ROLLUP = """
WITH hourly AS (
  SELECT date_trunc('hour', request_time) AS hour, requester, served_entity_name, endpoint_name,
         count(*) AS requests,
         count(*) FILTER (WHERE status_code = 429) AS errors_429,
         count(*) FILTER (WHERE status_code BETWEEN 500 AND 599) AS errors_5xx,
         count(*) FILTER (WHERE status_code BETWEEN 400 AND 499 AND status_code <> 429) AS errors_4xx_other,
         CAST(sum(COALESCE(input_tokens, 0)) AS BIGINT) AS input_tokens,
         CAST(sum(COALESCE(cached_input_tokens, 0)) AS BIGINT) AS cached_input_tokens,
         CAST(sum(COALESCE(cache_creation_input_tokens, 0)) AS BIGINT) AS cache_creation_input_tokens,
         CAST(sum(COALESCE(output_tokens, 0)) AS BIGINT) AS output_tokens,
         quantile_disc(execution_duration_ms, 0.5) AS p50_latency_ms,
         quantile_disc(execution_duration_ms, 0.95) AS p95_latency_ms
  FROM read_parquet('{inference}/*/*.parquet')
  GROUP BY ALL),
prices AS ({prices_sql}),
users AS (
  SELECT * FROM read_csv('{principals}', header = true,
                         columns = {{requester: 'VARCHAR', "group": 'VARCHAR', cost_center: 'VARCHAR'}})),
priced AS (
  SELECT h.*, u."group", u.cost_center,
         p.valid_from IS NOT NULL AND NOT (
           (h.input_tokens - h.cached_input_tokens - h.cache_creation_input_tokens > 0 AND p.input_ppt IS NULL)
           OR (h.cached_input_tokens > 0 AND p.cached_ppt IS NULL)
           OR (h.cache_creation_input_tokens > 0 AND p.cache_write_ppt IS NULL)
           OR (h.output_tokens > 0 AND p.output_ppt IS NULL)) AS priced,
         (h.input_tokens - h.cached_input_tokens - h.cache_creation_input_tokens) * COALESCE(p.input_ppt, 0)
           + h.cached_input_tokens * COALESCE(p.cached_ppt, 0)
           + h.cache_creation_input_tokens * COALESCE(p.cache_write_ppt, 0)
           + h.output_tokens * COALESCE(p.output_ppt, 0) AS token_cost
  FROM hourly h
  LEFT JOIN prices p ON p.served_entity_name = h.served_entity_name
   AND h.hour >= p.valid_from AND (p.valid_to IS NULL OR h.hour < p.valid_to)
  LEFT JOIN users u ON u.requester = h.requester)
SELECT hour, requester, COALESCE("group", 'unassigned') AS "group",
       COALESCE(cost_center, 'UNALLOCATED') AS cost_center, served_entity_name, endpoint_name,
       requests, errors_429, errors_5xx, errors_4xx_other,
       input_tokens, cached_input_tokens, cache_creation_input_tokens, output_tokens,
       CASE WHEN priced THEN 0 ELSE requests END AS unpriced_requests,
       CAST(CASE WHEN priced THEN token_cost END AS DECIMAL(38,12)) AS cost_usd,
       p50_latency_ms, p95_latency_ms
FROM priced
"""

CHARGEBACK = """
SELECT strftime(hour, '%Y-%m') AS month,
       COALESCE("group", '*TOTAL*') AS "group", COALESCE(cost_center, '*TOTAL*') AS cost_center,
       count(DISTINCT requester) AS users,
       CAST(sum(requests) AS BIGINT) AS requests,
       CAST(sum(input_tokens) AS BIGINT) AS input_tokens,
       CAST(sum(output_tokens) AS BIGINT) AS output_tokens,
       ROUND(sum(cost_usd), 2) AS cost_usd
FROM read_parquet('{hourly}')
GROUP BY GROUPING SETS ((month, "group", cost_center), (month))
ORDER BY month, "group", cost_center
"""


def paths(data):
    out = os.path.join(data, "out_duckdb")
    os.makedirs(out, exist_ok=True)
    return dict(jsonl=os.path.join(data, "logs", "inference.jsonl"), inference=os.path.join(out, "inference"),
                prices=os.path.join(data, "config", "prices.csv"), principals=os.path.join(data, "config", "principals.csv"),
                hourly=os.path.join(out, "hourly.parquet"), chargeback=os.path.join(out, "chargeback.csv"),
                tmp=os.path.join(out, "tmp"))


def ingest(con, p):
    t0 = time.perf_counter()
    # exact duplicate lines share request_id; DISTINCT ON keeps one copy
    written = con.execute(f"""
        COPY (SELECT DISTINCT ON (request_id) *, CAST(request_time AS DATE) AS request_date
              FROM read_json('{p['jsonl']}', format = 'newline_delimited', columns = {JSON_COLUMNS}))
        TO '{p['inference']}' (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (request_date), OVERWRITE)""").fetchone()[0]
    seconds = time.perf_counter() - t0
    return seconds, None, written  # the log's lines: the benchmark counts them once


def rollup(con, p):
    t0 = time.perf_counter()
    sql = ROLLUP.format(prices_sql=PRICES.format(**p), **p)
    written = con.execute(f"COPY ({sql}) TO '{p['hourly']}' (FORMAT parquet, COMPRESSION zstd)").fetchone()[0]
    seconds = time.perf_counter() - t0
    records = con.execute(f"SELECT count(*) FROM read_parquet('{p['inference']}/*/*.parquet')").fetchone()[0]
    return seconds, records, written


def chargeback(con, p):
    t0 = time.perf_counter()
    written = con.execute(f"COPY ({CHARGEBACK.format(**p)}) TO '{p['chargeback']}' (HEADER, DELIMITER ',')").fetchone()[0]
    seconds = time.perf_counter() - t0
    records = con.execute(f"SELECT count(*) FROM read_parquet('{p['hourly']}')").fetchone()[0]
    return seconds, records, written


def main():
    if len(sys.argv) != 3 or sys.argv[2] not in ("ingest", "rollup", "chargeback"):
        sys.exit(__doc__)
    p = paths(sys.argv[1])
    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = false")
    con.execute("SET enable_progress_bar = false")
    con.execute(f"SET temp_directory = '{p['tmp']}'")
    seconds, records, written = globals()[sys.argv[2]](con, p)
    print(json.dumps(dict(engine="duckdb", version=duckdb.__version__, step=sys.argv[2], seconds=seconds,
                          records=records, written=int(written),
                          threads=int(con.execute("SELECT current_setting('threads')").fetchone()[0]))))


if __name__ == "__main__":
    main()
