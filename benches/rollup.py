#!/usr/bin/env python3
"""Rollup benchmark: tokenledger next to the DuckDB anchor on the same data, interleaved, then
a check that both agree on requests, tokens, cost and latency percentiles.

usage: python3 benches/rollup.py DATA_DIR [--repeat N] [--bin PATH] [--no-duckdb]

DATA_DIR is a directory written by ../shared/bench/gen_inference.py and ingested by
benches/ingest.py (which leaves the warehouse in DATA_DIR/out_tokenledger). The data's
prices.csv and principals.csv are copied into the warehouse's config/. Each tokenledger run
is `rollup --full` (both usage tables, written to Delta); the anchor's rollup writes
hourly.parquet. Measured as in benches/ingest.py. Build first: cargo build --release.
"""
import glob, json, os, shutil, sys
from urllib.parse import unquote

from ingest import ANCHOR, arguments, measure


def active_files(table):
    """The data files of a Delta table's latest version (adds minus removes in its log)."""
    files = {}
    for commit in sorted(glob.glob(os.path.join(table, "_delta_log", "*.json"))):
        for line in open(commit):
            action = json.loads(line)
            if "add" in action:
                files[action["add"]["path"]] = True
            if "remove" in action:
                files.pop(action["remove"]["path"], None)
    return [os.path.join(table, unquote(p)) for p in files]


def agreement(data, wh):
    import duckdb
    con = duckdb.connect()
    ours = con.execute(
        "SELECT count(*), sum(requests), sum(input_tokens + cache_read_input_tokens), sum(output_tokens), "
        "sum(cache_read_input_tokens), CAST(sum(cost) AS DECIMAL(38,10))::VARCHAR, sum(latency_p50_ms), "
        f"sum(latency_p95_ms) FROM read_parquet({active_files(os.path.join(wh, 'usage_hourly'))!r})").fetchone()
    theirs = con.execute(
        "SELECT count(*), sum(requests), sum(input_tokens), sum(output_tokens), sum(cached_input_tokens), "
        "sum(cost_usd)::VARCHAR, sum(p50_latency_ms), sum(p95_latency_ms) "
        f"FROM read_parquet('{os.path.join(data, 'out_duckdb', 'hourly.parquet')}')").fetchone()
    names = ["hourly rows", "requests", "input tokens (all)", "output tokens", "cached input tokens",
             "cost", "sum of p50", "sum of p95"]
    print(f"\n{'':<20} {'tokenledger':>22} {'duckdb':>22}")
    for name, a, b in zip(names, ours, theirs):
        print(f"{name:<20} {a if isinstance(a, str) else format(a, ','):>22} "
              f"{b if isinstance(b, str) else format(b, ','):>22} {'' if a == b else '  DIFFERENT'}")
    return ours == theirs


def main():
    a = arguments(__doc__).parse_args()
    wh = os.path.join(a.data, "out_tokenledger")
    if not os.path.isdir(os.path.join(wh, "inference")):
        sys.exit(f"no warehouse in {wh}: run benches/ingest.py {a.data} first")
    for f in ("prices.csv", "principals.csv"):
        shutil.copy(os.path.join(a.data, f), os.path.join(wh, "config", f))
    rows = []
    for i in range(a.repeat):
        s, cpu, rss, anon, out = measure([a.bin, "-q", "-w", wh, "--format", "json", "rollup", "--full"])
        summary = json.loads(out)
        rows.append(dict(engine="tokenledger", run=i + 1, seconds=s, cpu_seconds=cpu, peak_rss_mb=rss, peak_anon_mb=anon,
                         requests=summary["requests"], out_rows=summary["hourly_rows"] + summary["daily_rows"]))
        if not a.no_duckdb:
            s, cpu, rss, anon, out = measure([sys.executable, ANCHOR, a.data, "--steps", "rollup"])
            d = json.loads([l for l in out.splitlines() if l.startswith("{")][-1])
            rows.append(dict(engine="duckdb", run=i + 1, seconds=d["seconds"], cpu_seconds=d.get("cpu_seconds", cpu),
                             peak_rss_mb=d["peak_rss_mb"], peak_anon_mb=d.get("peak_anon_mb", anon),
                             requests=d["rows"], out_rows=d.get("out_rows")))
    print(f"{'engine':<12} {'run':>3} {'seconds':>8} {'cpu s':>7} {'requests/s':>11} {'peak RSS MB':>12} {'peak anon MB':>13} {'rows written':>13}")
    for r in rows:
        print(f"{r['engine']:<12} {r['run']:>3} {r['seconds']:>8.2f} {r['cpu_seconds']:>7.1f} {r['requests'] / r['seconds']:>11,.0f} "
              f"{r['peak_rss_mb']:>12,.0f} {r['peak_anon_mb']:>13,.0f} {r['out_rows'] or 0:>13,}")
    if not a.no_duckdb and not agreement(a.data, wh):
        sys.exit("tokenledger and duckdb disagree")


if __name__ == "__main__":
    main()
