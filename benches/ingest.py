#!/usr/bin/env python3
"""Ingest benchmark: tokenledger next to the DuckDB anchor, on the same files, interleaved.

usage: python3 benches/ingest.py DATA_DIR [--repeat N] [--bin PATH] [--no-duckdb] [--results FILE]

DATA_DIR is a directory written by ../shared/bench/gen_inference.py (inference.jsonl) or by
`tokenledger gen` (logs/inference.jsonl). Each tokenledger run ingests into a fresh warehouse
in DATA_DIR/out_tokenledger. Measured per run (the same way as ../shared/bench/harness.py):
wall seconds, CPU seconds, peak RSS (ru_maxrss of the child) and peak anonymous RSS (sampled
from /proc every 50 ms). MB/s is uncompressed input bytes / wall seconds (1 MB = 10^6 bytes).
Build first: cargo build --release.
"""
import argparse, json, os, shutil, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
ANCHOR = os.path.join(ROOT, "..", "shared", "bench", "anchor_duckdb.py")


CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """utime + stime of a running process, from /proc (fields 14 and 15 of stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def status_kb(pid, field):
    """A field of /proc/PID/status in kB (RssAnon, VmRSS), 0 when absent."""
    try:
        with open(f"/proc/{pid}/status") as f:
            return next(int(l.split()[1]) for l in f if l.startswith(field + ":"))
    except (OSError, StopIteration):
        return 0


def run_measured(cmd, env=None, watch=None):
    """Runs cmd; -> dict of seconds, cpu_seconds, peak_rss_mb, peak_anon_mb, stdout, and for
    `watch` (the pid of a server the command talks to) its CPU seconds and peak VmRSS meanwhile."""
    watch_cpu = cpu_seconds(watch) if watch else 0.0
    watch_rss = peak_anon = 0
    # output to files, not pipes: a report of a megabyte would fill a pipe nobody reads yet
    stdout, stderr = tempfile.TemporaryFile(), tempfile.TemporaryFile()
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=stdout, stderr=stderr, env=env)
    while True:
        pid, status, ru = os.wait4(p.pid, os.WNOHANG)
        if pid:
            break
        peak_anon = max(peak_anon, status_kb(p.pid, "RssAnon"))
        if watch:
            watch_rss = max(watch_rss, status_kb(watch, "VmRSS"))
        time.sleep(0.05)
    seconds = time.perf_counter() - t0
    stdout.seek(0)
    stderr.seek(0)
    out, err = stdout.read().decode(), stderr.read().decode()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.exit(f"{cmd} failed ({code}):\n{out}\n{err}")
    return dict(seconds=seconds, cpu_seconds=ru.ru_utime + ru.ru_stime, peak_rss_mb=ru.ru_maxrss / 1024,
                peak_anon_mb=peak_anon / 1024, stdout=out,
                watched_cpu_seconds=(cpu_seconds(watch) - watch_cpu) if watch else 0.0, watched_rss_mb=watch_rss / 1024)


def measure(cmd, env=None):
    """Runs cmd; -> (seconds, cpu_seconds, peak_rss_mb, peak_anon_mb, stdout)"""
    m = run_measured(cmd, env)
    return m["seconds"], m["cpu_seconds"], m["peak_rss_mb"], m["peak_anon_mb"], m["stdout"]


def arguments(description):
    """The options every benchmark takes: DATA_DIR, --repeat, --bin, --no-duckdb."""
    ap = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--bin", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "tokenledger"))
    ap.add_argument("--no-duckdb", action="store_true")
    return ap


def main():
    ap = arguments(__doc__)
    ap.add_argument("--results", help="append one JSON line per run to this file")
    a = ap.parse_args()
    jsonl = next((p for p in (os.path.join(a.data, "inference.jsonl"), os.path.join(a.data, "logs", "inference.jsonl"))
                  if os.path.exists(p)), None)
    if not jsonl:
        sys.exit(f"no inference.jsonl in {a.data}")
    size = os.path.getsize(jsonl)
    wh = os.path.join(a.data, "out_tokenledger")
    rows = []
    for i in range(a.repeat):
        shutil.rmtree(wh, ignore_errors=True)
        subprocess.run([a.bin, "-q", "-w", wh, "init"], check=True, stdout=subprocess.DEVNULL)
        s, cpu, rss, anon, out = measure([a.bin, "-q", "-w", wh, "--format", "json", "ingest", jsonl])
        summary = json.loads(out)
        rows.append(dict(engine="tokenledger", run=i + 1, seconds=s, cpu_seconds=cpu, peak_rss_mb=rss, peak_anon_mb=anon,
                         records=summary["records_read"], written=summary["rows_written"], input_bytes=size))
        if not a.no_duckdb:
            s, cpu, rss, anon, out = measure([sys.executable, ANCHOR, a.data, "--steps", "ingest"])
            d = json.loads([l for l in out.splitlines() if l.startswith("{")][-1])
            rows.append(dict(engine="duckdb", run=i + 1, seconds=d["seconds"], cpu_seconds=d.get("cpu_seconds", cpu),
                             peak_rss_mb=d["peak_rss_mb"], peak_anon_mb=d.get("peak_anon_mb", anon),
                             records=d["rows"], written=d.get("out_rows"), input_bytes=size))
    print(f"{'engine':<12} {'run':>3} {'seconds':>8} {'cpu s':>7} {'records/s':>11} {'MB/s':>7} {'peak RSS MB':>12} {'peak anon MB':>13} {'written':>11}")
    for r in rows:
        r["records_per_s"] = r["records"] / r["seconds"]
        r["mb_per_s"] = r["input_bytes"] / 1e6 / r["seconds"]
        print(f"{r['engine']:<12} {r['run']:>3} {r['seconds']:>8.2f} {r['cpu_seconds']:>7.1f} {r['records_per_s']:>11,.0f} "
              f"{r['mb_per_s']:>7.1f} {r['peak_rss_mb']:>12,.0f} {r['peak_anon_mb']:>13,.0f} {r['written'] or 0:>11,}")
    if a.results:
        with open(a.results, "a") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")


if __name__ == "__main__":
    main()
