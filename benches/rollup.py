#!/usr/bin/env python3
"""Rollup benchmark: tokenledger's `rollup --full` next to the DuckDB and Polars versions of the
same job on the same requests, interleaved, after a check that all three agree on requests,
tokens, cost and latency percentiles.

usage: python3 benches/rollup.py DATA_DIR [--rows N] [--repeat N] [--peers duckdb,polars|none] [--bin PATH]

Needs what benches/ingest.py leaves in DATA_DIR (the warehouse in DATA_DIR/out_tokenledger and
each peer's Parquet in DATA_DIR/out_PEER/inference); with --rows on an empty DATA_DIR it runs
one ingest of each first. tokenledger writes both usage tables (hourly and daily) to Delta; a
peer writes its hourly table to one Parquet file (see benches/peer_duckdb.py for the rules they
share). Measured as in benches/ingest.py. Build first: cargo build --release.
"""
import json, os, subprocess, sys

import harness
from harness import active_files, arguments, measure, peers_of, run_peer

OURS = ("SELECT count(*), sum(requests), sum(input_tokens + cache_read_input_tokens + cache_creation_input_tokens), "
        "sum(cache_read_input_tokens), sum(cache_creation_input_tokens), sum(output_tokens), sum(unpriced_requests), "
        "CAST(CAST(sum(cost) AS DECIMAL(38,12)) AS VARCHAR), sum(latency_p50_ms), sum(latency_p95_ms) "
        "FROM read_parquet({files})")
THEIRS = ("SELECT count(*), sum(requests), sum(input_tokens), sum(cached_input_tokens), sum(cache_creation_input_tokens), "
          "sum(output_tokens), sum(unpriced_requests), CAST(CAST(sum(cost_usd) AS DECIMAL(38,12)) AS VARCHAR), "
          "sum(p50_latency_ms), sum(p95_latency_ms) FROM read_parquet('{file}')")
NAMES = ["hourly rows", "requests", "input tokens (all)", "cache reads", "cache writes", "output tokens",
         "unpriced requests", "cost", "sum of p50 ms", "sum of p95 ms"]


def agreement(a, peers, wh):
    queries = {"tokenledger": OURS.format(files=repr(active_files(os.path.join(wh, "usage_hourly"))))}
    for engine in peers:
        queries[engine] = THEIRS.format(file=os.path.join(a.data, f"out_{engine}", "hourly.parquet"))
    totals = {e: tuple(rows[0]) for e, rows in harness.peer_queries(queries).items()}
    return harness.check_agreement(NAMES, totals)


def main():
    a = arguments(__doc__).parse_args()
    peers = peers_of(a)
    wh = harness.warehouse(a.data)
    if not os.path.isdir(os.path.join(wh, "inference")):
        if not a.rows:
            sys.exit(f"no warehouse in {wh}: run benches/ingest.py {a.data} first (or pass --rows N)")
        subprocess.run([sys.executable, os.path.join(harness.HERE, "ingest.py"), a.data, "--rows", str(a.rows),
                        "--repeat", "1", "--bin", a.bin, "--peers", a.peers], check=True)
    harness.copy_config(a.data, wh)
    rows = []
    for i in range(a.repeat):
        s, cpu, rss, anon, out = measure([a.bin, "-q", "-w", wh, "--format", "json", "rollup", "--full"])
        summary = json.loads(out)
        rows.append(dict(engine="tokenledger", run=i + 1, seconds=s, cpu_seconds=cpu, peak_rss_mb=rss, peak_anon_mb=anon,
                         records=summary["requests"], written=summary["hourly_rows"] + summary["daily_rows"]))
        for engine in peers:
            rows.append(dict(run_peer(engine, a.data, "rollup"), run=i + 1))
        if i == 0 and peers and not agreement(a, peers, wh):
            sys.exit("the engines' hourly tables differ: no times reported")
    print(f"\n{rows[0]['records']:,} requests; tokenledger writes usage_hourly and usage_daily, a peer its hourly table")
    harness.median_table(rows, [
        ("seconds", lambda r: r["seconds"], "{:.2f}"),
        ("CPU s", lambda r: r["cpu_seconds"], "{:.1f}"),
        ("requests/s", lambda r: r["records"] / r["seconds"], "{:,.0f}"),
        ("peak RSS MB", lambda r: r["peak_rss_mb"], "{:,.0f}"),
        ("peak anon MB", lambda r: r["peak_anon_mb"], "{:,.0f}"),
        ("rows written", lambda r: r["written"], "{:,.0f}"),
    ])


if __name__ == "__main__":
    main()
