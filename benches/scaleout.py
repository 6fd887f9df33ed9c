#!/usr/bin/env python3
"""Scale-out benchmark: the same jobs on the local engine and on a Ballista cluster of
executors on this machine's loopback, interleaved, and a check that both give equal results.

usage: python3 benches/scaleout.py DATA_DIR [--repeat N] [--bin PATH] [--executors N]
                                   [--slots N] [--steps rollup,chargeback,rate_limits,scan]
                                   [--results FILE]

DATA_DIR holds a warehouse that benches/ingest.py left in DATA_DIR/out_tokenledger (the
data's prices.csv and principals.csv are copied into its config/). The script starts
`tokenledger cluster --port 0 --executors N --slots S` (default 2 executors of 1 slot: two
cores, one task each) and runs each step with `--engine local`, then with the cluster's
`ballista://` address:

  rollup       rollup --full: both usage tables from every request, written to Delta
  chargeback   chargeback --period 2025-01 --by group,cost_center to a CSV
  rate_limits  report rate_limits: per-minute demand of every requester over every request
  scan         sql: requests, tokens and p95 latency by endpoint over the whole inference table

Measured per run: wall seconds of the command; CPU seconds of the command's process and, for
the cluster, of the cluster process (scheduler and executors) over the same interval; peak
RSS of the command (ru_maxrss) and of the cluster (VmRSS sampled every 50 ms). After each
pair the outputs must be equal: the chargeback CSV byte for byte, the report and the scan
row for row, and a checksum of usage_hourly after each rollup. Exits non-zero otherwise.
Build first: cargo build --release --features ballista.
"""
import hashlib, json, os, shutil, statistics, subprocess, sys, tempfile

import harness
from harness import arguments, run_measured

SCAN = ("SELECT endpoint_name, count(*) AS requests, sum(input_tokens) AS input_tokens, "
        "sum(output_tokens) AS output_tokens, quantile_disc(execution_duration_ms, 0.95) AS p95_ms "
        "FROM inference GROUP BY endpoint_name ORDER BY endpoint_name")
HOURLY_CHECKSUM = ("SELECT count(*) AS rows, sum(requests) AS requests, sum(output_tokens) AS output_tokens, "
                   "sum(cost) AS cost, sum(latency_p95_ms) AS p95 FROM usage_hourly")


def start_cluster(bin, executors, slots, work_dir):
    p = subprocess.Popen([bin, "cluster", "--port", "0", "--executors", str(executors), "--slots", str(slots),
                          "--work-dir", work_dir], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         env=dict(os.environ, RUST_LOG="warn"))
    engine = p.stdout.readline().decode().strip()
    if not engine.startswith("ballista://"):
        p.kill()
        sys.exit(f"tokenledger cluster said {engine!r}; was the binary built with --features ballista?")
    return p, engine


def main():
    ap = arguments(__doc__)
    ap.add_argument("--executors", type=int, default=2)
    ap.add_argument("--slots", type=int, default=1)
    ap.add_argument("--steps", default="rollup,chargeback,rate_limits,scan")
    ap.add_argument("--period", default="2025-01")
    ap.add_argument("--results", help="append one JSON line per run to this file")
    a = ap.parse_args()
    wh = harness.warehouse(a.data)
    if not os.path.isdir(os.path.join(wh, "inference")):
        sys.exit(f"no warehouse in {wh}: run benches/ingest.py {a.data} --repeat 1 --peers none first")
    harness.copy_config(a.data, wh)
    steps = a.steps.split(",")
    work = tempfile.mkdtemp(prefix="tokenledger-scaleout-")
    cluster, address = start_cluster(a.bin, a.executors, a.slots, os.path.join(work, "executors"))
    print(f"cluster: {address}, {a.executors} executors of {a.slots} task slots (pid {cluster.pid})", file=sys.stderr)
    base = [a.bin, "-q", "-w", wh]

    def command(step, engine):
        e = ["--engine", engine]
        if step == "rollup":
            return base + e + ["rollup", "--full"]
        if step == "chargeback":
            return base + e + ["chargeback", "--period", a.period, "--by", "group,cost_center",
                               "--output", os.path.join(work, f"chargeback-{engine == 'local'}.csv")]
        if step == "rate_limits":
            return base + e + ["--format", "csv", "report", "rate_limits"]
        if step == "scan":
            return base + e + ["--format", "csv", "sql", SCAN]
        sys.exit(f"unknown step {step!r}")

    def result(step, engine, out):
        """What must be equal between engines: a digest of the step's output."""
        if step == "rollup":  # the table it wrote, read back locally
            out = subprocess.run(base + ["--format", "csv", "sql", HOURLY_CHECKSUM], check=True,
                                 capture_output=True, text=True).stdout
        elif step == "chargeback":
            out = open(os.path.join(work, f"chargeback-{engine == 'local'}.csv")).read()
        else:
            out = "\n".join(sorted(out.splitlines()))
        return hashlib.sha256(out.encode()).hexdigest()[:12]

    rows, ok = [], True
    try:
        for i in range(a.repeat):
            for step in steps:
                digests = {}
                for name, engine in (("local", "local"), ("ballista", address)):
                    m = run_measured(command(step, engine), watch=cluster.pid if name == "ballista" else None)
                    digests[name] = result(step, engine, m.pop("stdout"))
                    rows.append(dict(step=step, engine=name, run=i + 1, digest=digests[name], **m))
                if digests["local"] != digests["ballista"]:
                    print(f"{step}: the cluster's output differs ({digests})", file=sys.stderr)
                    ok = False
    finally:
        cluster.terminate()
        cluster.wait()
        shutil.rmtree(work, ignore_errors=True)

    print(f"{'step':<12} {'engine':<9} {'run':>3} {'seconds':>8} {'cmd cpu s':>10} {'cluster cpu s':>14} "
          f"{'cmd RSS MB':>11} {'cluster RSS MB':>15} {'output':>13}")
    for r in rows:
        print(f"{r['step']:<12} {r['engine']:<9} {r['run']:>3} {r['seconds']:>8.2f} {r['cpu_seconds']:>10.1f} "
              f"{r['watched_cpu_seconds']:>14.1f} {r['peak_rss_mb']:>11,.0f} {r['watched_rss_mb']:>15,.0f} {r['digest']:>13}")
    print(f"\n{'step':<12} {'local s (median)':>17} {'ballista s (median)':>20} {'overhead':>10} {'ratio':>6}")
    for step in steps:
        med = {e: statistics.median(r["seconds"] for r in rows if r["step"] == step and r["engine"] == e)
               for e in ("local", "ballista")}
        print(f"{step:<12} {med['local']:>17.2f} {med['ballista']:>20.2f} {med['ballista'] - med['local']:>+9.2f}s "
              f"{med['ballista'] / med['local']:>5.1f}x")
    if a.results:
        with open(a.results, "a") as f:
            for r in rows:
                f.write(json.dumps(dict(r, executors=a.executors, slots=a.slots)) + "\n")
    if not ok:
        sys.exit("local and cluster results differ")


if __name__ == "__main__":
    main()
