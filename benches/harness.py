"""What every benchmark of benches/ shares: the data set, the peers' Python, and measuring a child.

The data set is a directory written by `tokenledger gen` (DIR/logs/inference.jsonl and
DIR/config/prices.csv, principals.csv); a benchmark given `--rows N` and a directory without a
log generates it first (`gen --rows N --days 30 --start 2025-01-01`, seed 42: the same bytes
every time). The peers (benches/peer_duckdb.py, benches/peer_polars.py) run in a virtualenv
outside the clone with pinned DuckDB and Polars, installed on first use, the way
scripts/test.sh installs moto.

Measured per run: wall seconds, CPU seconds (user + sys of the child, from wait4), peak RSS
(ru_maxrss of the child) and peak anonymous RSS (sampled from /proc every 50 ms).
"""
import argparse, glob, json, os, subprocess, sys, tempfile, time
from urllib.parse import unquote

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PEER_ENV = os.environ.get("TOKENLEDGER_BENCH_ENV", os.path.join(os.path.expanduser("~"), ".cache", "tokenledger-bench-env"))
# the versions the README's numbers were measured with
PEER_PACKAGES = ["duckdb==2.0.1", "polars==2.1.0"]
PEERS = ("duckdb", "polars")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def peer_python():
    """The virtualenv's python, with the pinned peers installed (once)."""
    python = os.path.join(PEER_ENV, "bin", "python")
    stamp = os.path.join(PEER_ENV, "installed.txt")
    wanted = "\n".join(PEER_PACKAGES)
    if not (os.path.exists(stamp) and open(stamp).read() == wanted):
        print(f"installing {' '.join(PEER_PACKAGES)} into {PEER_ENV} (once)", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", "--clear", PEER_ENV], check=True)
        subprocess.run([python, "-m", "pip", "install", "--quiet", *PEER_PACKAGES], check=True)
        with open(stamp, "w") as f:
            f.write(wanted)
    return python


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


def run_peer(engine, data, step):
    """One step of a peer in its own process; -> a result row. Its seconds are the step's work
    alone (the peer times it after the interpreter and the library are loaded); CPU and RSS are
    the whole child's."""
    script = os.path.join(HERE, f"peer_{engine}.py")
    s, cpu, rss, anon, out = measure([peer_python(), script, data, step])
    d = json.loads(out.strip().splitlines()[-1])
    return dict(engine=engine, seconds=d["seconds"], process_seconds=s, cpu_seconds=cpu, peak_rss_mb=rss,
                peak_anon_mb=anon, records=d["records"], written=d["written"])


def arguments(description):
    """The options every comparison takes."""
    ap = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", help="a directory written by `tokenledger gen` (made with --rows when it has no log)")
    ap.add_argument("--rows", type=int, help="generate DATA first with `tokenledger gen --rows N` when it has no log")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--bin", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "tokenledger"))
    ap.add_argument("--peers", default=",".join(PEERS), help="duckdb,polars (default), one of them, or none")
    return ap


def peers_of(a):
    chosen = [p for p in a.peers.split(",") if p and p != "none"]
    unknown = [p for p in chosen if p not in PEERS]
    if unknown:
        sys.exit(f"--peers: unknown {unknown}; choose from {', '.join(PEERS)} or none")
    return chosen


def inference_log(data):
    return os.path.join(data, "logs", "inference.jsonl")


def ensure_data(a):
    """The data set of a comparison: DATA as given, or generated with --rows."""
    if not os.path.exists(a.bin):
        sys.exit(f"no tokenledger binary at {a.bin}: cargo build --release (or pass --bin)")
    log = inference_log(a.data)
    if not os.path.exists(log):
        if not a.rows:
            sys.exit(f"no {log}: pass --rows N to generate it with `tokenledger gen`")
        print(f"generating {a.rows:,} requests into {a.data}", file=sys.stderr)
        subprocess.run([a.bin, "-q", "gen", "--rows", str(a.rows), "--days", "30", "--start", "2025-01-01",
                        "--seed", "42", "--out", a.data], check=True, stdout=subprocess.DEVNULL)
    return log


def warehouse(data):
    return os.path.join(data, "out_tokenledger")


def copy_config(data, wh):
    """The data's price book and principals into the warehouse (pools and budgets stay out: the
    peers price tokens only)."""
    for name in ("prices.csv", "principals.csv"):
        with open(os.path.join(data, "config", name), "rb") as src, open(os.path.join(wh, "config", name), "wb") as dst:
            dst.write(src.read())


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


QUERIES = """
import duckdb, json, sys
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")
print(json.dumps({name: [list(r) for r in con.execute(sql).fetchall()] for name, sql in json.loads(sys.argv[1]).items()}))
"""


def peer_queries(queries):
    """{name: SQL} -> {name: rows}, each SQL run by the peers' DuckDB (outputs are read with it,
    so the check needs nothing the peers do not)."""
    out = subprocess.run([peer_python(), "-c", QUERIES, json.dumps(queries)], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def check_agreement(names, results):
    """Prints one column per engine of `results` ({engine: tuple of values}); -> True when every
    engine's values equal the first's."""
    engines = list(results)
    print(f"\n{'':<22}" + "".join(f"{e:>24}" for e in engines))
    first = results[engines[0]]
    for i, name in enumerate(names):
        cells = [results[e][i] for e in engines]
        shown = "".join(f"{c if isinstance(c, str) else format(c, ','):>24}" for c in cells)
        print(f"{name:<22}{shown}{'' if all(c == first[i] for c in cells) else '   DIFFERENT'}")
    return all(results[e] == first for e in engines)


def median_table(rows, columns, ratios=True):
    """Every run and, per engine, the median of each column over its runs (the README's table);
    columns are (title, function of a row, format). `ratios`: then tokenledger's median time
    against each other engine's."""
    import statistics
    width = [max(10, len(t)) for t, _, _ in columns]
    ew = max([12] + [len(r["engine"]) for r in rows])
    print(f"\n{'engine':<{ew}} {'run':>6} " + " ".join(f"{t:>{w}}" for (t, _, _), w in zip(columns, width)))
    for engine in dict.fromkeys(r["engine"] for r in rows):
        runs = [r for r in rows if r["engine"] == engine]
        lines = [(str(i + 1), [key(r) for _, key, _ in columns]) for i, r in enumerate(runs)]
        if len(runs) > 1:
            lines.append(("median", [statistics.median(key(r) for r in runs) for _, key, _ in columns]))
        for label, values in lines:
            print(f"{engine:<{ew}} {label:>6} " + " ".join(f"{fmt.format(v):>{w}}" for v, (_, _, fmt), w in zip(values, columns, width)))
    if not ratios:
        return
    ours = [r["seconds"] for r in rows if r["engine"] == "tokenledger"]
    for engine in dict.fromkeys(r["engine"] for r in rows if r["engine"] != "tokenledger"):
        theirs = [r["seconds"] for r in rows if r["engine"] == engine]
        ratio = statistics.median(ours) / statistics.median(theirs)
        print(f"tokenledger's median time is {ratio:.2f}x {engine}'s ({engine} takes {1 / ratio:.2f}x tokenledger's)")
