#!/usr/bin/env python3
"""Ingest benchmark: tokenledger next to DuckDB and Polars doing the same job on the same file,
interleaved, after a check that all three wrote the same requests.

usage: python3 benches/ingest.py DATA_DIR [--rows N] [--repeat N] [--peers duckdb,polars|none]
                                 [--bin PATH] [--results FILE]

DATA_DIR is written by `tokenledger gen` (with --rows N it is generated first when it has no
log). Each tokenledger run ingests DATA_DIR/logs/inference.jsonl into a fresh warehouse in
DATA_DIR/out_tokenledger (the data's prices.csv and principals.csv copied into its config/, for
benches/rollup.py); the peers (benches/peer_duckdb.py, peer_polars.py, installed into a
virtualenv on first use) write date-partitioned Parquet, one row per request id. Before any
time is printed, the three outputs must agree: requests per date and every token bucket's sum.
MB/s is the log's bytes / wall seconds (1 MB = 10^6 bytes); a peer's seconds are its query
alone, tokenledger's the whole process. Build first: cargo build --release.
"""
import json, os, shutil, subprocess, sys

import harness
from harness import active_files, arguments, measure, peers_of, run_peer

# requests per date and the token sums, from tokenledger's Delta table (disjoint buckets) and
# from a peer's Parquet (the log's columns: input_tokens counts the whole prompt)
OURS = ("SELECT CAST(request_date AS VARCHAR), count(*), count(DISTINCT request_id), "
        "sum(input_tokens + cache_read_input_tokens + cache_creation_input_tokens), sum(cache_read_input_tokens), "
        "sum(cache_creation_input_tokens), sum(output_tokens) FROM read_parquet({files}, hive_partitioning = true) GROUP BY ALL ORDER BY 1")
THEIRS = ("SELECT CAST(request_date AS VARCHAR), count(*), count(DISTINCT request_id), sum(input_tokens), "
          "sum(cached_input_tokens), sum(cache_creation_input_tokens), sum(output_tokens) "
          "FROM read_parquet('{dir}/*/*.parquet', hive_partitioning = true) GROUP BY ALL ORDER BY 1")


def tokenledger_ingest(a, log, wh):
    shutil.rmtree(wh, ignore_errors=True)
    subprocess.run([a.bin, "-q", "-w", wh, "init"], check=True, stdout=subprocess.DEVNULL)
    harness.copy_config(a.data, wh)
    s, cpu, rss, anon, out = measure([a.bin, "-q", "-w", wh, "--format", "json", "ingest", log])
    summary = json.loads(out)
    return dict(engine="tokenledger", seconds=s, process_seconds=s, cpu_seconds=cpu, peak_rss_mb=rss,
                peak_anon_mb=anon, records=summary["records_read"], written=summary["rows_written"])


def agreement(a, peers, wh):
    """-> True when every peer's table has tokenledger's requests per date and token sums."""
    queries = {"tokenledger": OURS.format(files=repr(active_files(os.path.join(wh, "inference"))))}
    for engine in peers:
        queries[engine] = THEIRS.format(dir=os.path.join(a.data, f"out_{engine}", "inference"))
    by_engine = harness.peer_queries(queries)
    totals = {e: (len(rows), *(sum(r[i] for r in rows) for i in range(1, 7))) for e, rows in by_engine.items()}
    same_dates = all(by_engine[e] == by_engine["tokenledger"] for e in by_engine)
    names = ["dates", "rows", "request ids", "input tokens (all)", "cache reads", "cache writes", "output tokens"]
    return harness.check_agreement(names, totals) and same_dates


def main():
    ap = arguments(__doc__)
    ap.add_argument("--results", help="append one JSON line per run to this file")
    a = ap.parse_args()
    peers = peers_of(a)
    log = harness.ensure_data(a)
    size = os.path.getsize(log)
    wh = harness.warehouse(a.data)
    rows = []
    for i in range(a.repeat):
        rows.append(dict(tokenledger_ingest(a, log, wh), run=i + 1))
        for engine in peers:
            rows.append(dict(run_peer(engine, a.data, "ingest"), run=i + 1))
        if i == 0 and peers and not agreement(a, peers, wh):
            sys.exit("the engines wrote different requests: no times reported")
    records = rows[0]["records"]
    for r in rows:
        r.update(records=records, input_bytes=size)
    print(f"\n{os.path.basename(log)}: {size / 1e6:,.0f} MB, {records:,} lines, {rows[0]['written']:,} requests")
    harness.median_table(rows, [
        ("seconds", lambda r: r["seconds"], "{:.2f}"),
        ("CPU s", lambda r: r["cpu_seconds"], "{:.1f}"),
        ("records/s", lambda r: r["records"] / r["seconds"], "{:,.0f}"),
        ("MB/s", lambda r: r["input_bytes"] / 1e6 / r["seconds"], "{:.0f}"),
        ("peak RSS MB", lambda r: r["peak_rss_mb"], "{:,.0f}"),
        ("peak anon MB", lambda r: r["peak_anon_mb"], "{:,.0f}"),
    ])
    if a.results:
        with open(a.results, "a") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")


if __name__ == "__main__":
    main()
