#!/usr/bin/env python3
"""Rate-limit replay benchmark: `simulate limits` over a range next to `rollup --full` of the
same warehouse, interleaved, each measured for wall time, CPU time and peak RSS.

usage: python3 benches/limits.py WAREHOUSE --from DATE --to DATE [--limits FILE] [--repeat N] [--bin PATH]

WAREHOUSE is an ingested warehouse (e.g. the one benches/ingest.py leaves in
DATA_DIR/out_tokenledger, or `tokenledger gen --rows 10000000` ingested). --limits defaults to
benches/limits.toml: per-user and whole-endpoint limits on every endpoint, a hard monthly
budget per group and a soft daily one per user. The replay reads
the range's requests in time order (a sort that spills past --memory-limit) and keeps one
minute's counts; the rollup prices and aggregates the same requests into both usage tables.
Build first: cargo build --release.
"""
import argparse, json, os, sys

from harness import ROOT, measure


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("warehouse")
    ap.add_argument("--from", dest="start", required=True)
    ap.add_argument("--to", dest="end", required=True)
    ap.add_argument("--limits", default=os.path.join(ROOT, "benches", "limits.toml"))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--bin", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "tokenledger"))
    a = ap.parse_args()
    if not os.path.isdir(os.path.join(a.warehouse, "inference")):
        sys.exit(f"no warehouse in {a.warehouse}: ingest first (benches/ingest.py, or tokenledger ingest)")
    base = [a.bin, "-q", "-w", a.warehouse, "--format", "json"]
    steps = {
        "rollup --full": base + ["rollup", "--full"],
        "simulate limits": base + ["simulate", "limits", "--from", a.start, "--to", a.end, "--limits", a.limits],
    }
    rows, requests = [], None
    for i in range(a.repeat):
        for step, cmd in steps.items():
            s, cpu, rss, anon, out = measure(cmd)
            if step == "simulate limits":
                sim = json.loads(out)
                requests = sum(e["requests"] for e in sim["endpoints"])
                rejected = sum(e["rejected_requests"] for e in sim["endpoints"])
            rows.append(dict(step=step, run=i + 1, seconds=s, cpu=cpu, rss=rss, anon=anon))
    print(f"{'step':<16} {'run':>3} {'seconds':>8} {'cpu s':>7} {'requests/s':>11} {'peak RSS MB':>12} {'peak anon MB':>13}")
    for r in rows:
        print(f"{r['step']:<16} {r['run']:>3} {r['seconds']:>8.2f} {r['cpu']:>7.1f} {requests / r['seconds']:>11,.0f} "
              f"{r['rss']:>12,.0f} {r['anon']:>13,.0f}")
    for step in steps:
        times = sorted(r["seconds"] for r in rows if r["step"] == step)
        print(f"median {step:<16} {times[len(times) // 2]:.2f} s")
    print(f"replayed {requests:,} requests, {rejected:,} rejected")


if __name__ == "__main__":
    main()
