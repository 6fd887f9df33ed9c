//! `--engine ballista://`: the same jobs on a Ballista cluster (a scheduler and two executors
//! on loopback, started by `tokenledger cluster`) give the same tables and bytes as locally.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::util::{BIN, Env, KillOnDrop, show};

/// `tokenledger cluster` as a child process, killed on drop.
struct Cluster {
    _child: KillOnDrop,
    engine: String,
}

impl Cluster {
    fn start(env: &Env) -> Self {
        Self::start_with(env, Vec::new())
    }

    /// A cluster whose processes have `vars` in their environment (object-store settings).
    fn start_with(env: &Env, vars: Vec<(&'static str, String)>) -> Self {
        Self::spawn(env, vars, &["--port", "0", "--executors", "2", "--slots", "1"])
    }

    /// `tokenledger cluster ARGS`, its executors' work directories under `ballista/`.
    fn spawn(env: &Env, vars: Vec<(&'static str, String)>, args: &[&str]) -> Self {
        let mut child = Command::new(BIN)
            .envs(vars)
            .arg("cluster")
            .args(args)
            .arg("--work-dir")
            .arg(env.path("ballista"))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start tokenledger cluster");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let engine = line.trim().to_string();
        assert!(engine.starts_with("ballista://127.0.0.1:"), "cluster said {engine:?}");
        Self { _child: KillOnDrop(child), engine }
    }
}

/// `tokenledger -w WAREHOUSE ARGS` in the env's directory; asserts success, returns stdout.
fn ok(env: &Env, warehouse: &str, args: &[&str]) -> String {
    let out = env.command_on(warehouse, args).output().unwrap();
    assert!(out.status.success(), "-w {warehouse} {args:?}\n{}", show(&out));
    String::from_utf8(out.stdout).unwrap()
}

/// Sorted CSV lines of a query over `warehouse`, run on `engine`.
fn query(env: &Env, warehouse: &std::path::Path, engine: &str, sql: &str) -> Vec<String> {
    let out = env.command_on(warehouse, &["--engine", engine, "--format", "csv", "sql", sql]).output().unwrap();
    assert!(out.status.success(), "{sql} on {engine}\n{}", show(&out));
    let mut lines: Vec<String> = String::from_utf8(out.stdout).unwrap().lines().map(str::to_string).collect();
    lines.sort();
    lines
}

#[test]
fn rollup_chargeback_sql_and_reports_on_a_cluster_equal_a_local_run() {
    let env = Env::init();
    let cluster = Cluster::start(&env);
    // four days across the month's end: a few days keep the test quick (every job costs the
    // cluster's scheduling) and still cross the period boundary
    let data = env.generate("data", &["--rows", "2000", "--days", "4", "--start", "2025-01-30"]);
    // two warehouses of the same logs: one run locally, one on the cluster
    for wh in ["wh", "cl"] {
        if wh == "cl" {
            ok(&env, "cl", &["init"]);
        }
        for f in ["prices.csv", "principals.csv", "capacity.csv", "budgets.csv"] {
            std::fs::copy(data.join("config").join(f), env.path(wh).join("config").join(f)).unwrap();
        }
        std::fs::create_dir_all(env.path(&format!("{wh}-inbox"))).unwrap();
        std::fs::copy(data.join("logs/inference.jsonl"), env.path(&format!("{wh}-inbox/logs.jsonl"))).unwrap();
        let engine = if wh == "cl" { format!("engine = \"{}\"\n", cluster.engine) } else { String::new() };
        env.write(
            &format!("{wh}.toml"),
            format!(
                "warehouse = \"{wh}\"\n{engine}[inbox]\npaths = [\"{wh}-inbox\"]\n[export]\ndir = \"{wh}-exports\"\n"
            ),
        );
    }
    // the run config's `engine` key sends the cycle's rollup and export to the cluster
    let mut records = Vec::new();
    for wh in ["wh", "cl"] {
        let out = env.run(&["--format", "json", "run", "--config", &format!("{wh}.toml"), "--today", "2025-02-10"]);
        assert!(matches!(out.status.code(), Some(0 | 3)), "{}", show(&out));
        records.push(serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap());
    }
    assert_eq!(records[0]["dates_recomputed"], records[1]["dates_recomputed"]);
    assert!(records[1]["dates_recomputed"].as_i64() >= Some(4), "{}", records[1]);
    let export = |wh: &str| std::fs::read(env.path(&format!("{wh}-exports/chargeback-2025-01.csv"))).unwrap();
    assert!(export("cl").len() > 500);
    assert_eq!(export("wh"), export("cl"), "the cluster's chargeback export differs");

    // the usage tables the cluster's rollup wrote, read locally, equal the local rollup's
    for table in ["usage_hourly", "usage_daily"] {
        let (l, c) = (
            query(&env, &env.wh(), "local", &format!("SELECT * FROM {table}")),
            query(&env, &env.path("cl"), "local", &format!("SELECT * FROM {table}")),
        );
        assert!(l.len() > 50, "{table}: {} rows", l.len());
        assert_eq!(l, c, "{table} differs");
    }

    // a rollup --full and a time-zone chargeback on the cluster change nothing
    ok(&env, "cl", &["--engine", &cluster.engine, "-q", "rollup", "--full"]);
    assert_eq!(
        query(&env, &env.path("cl"), "local", "SELECT * FROM usage_daily"),
        query(&env, &env.wh(), "local", "SELECT * FROM usage_daily")
    );
    let tz = |wh: &str, engine: &str| {
        let out = env.path(&format!("{wh}-berlin.csv"));
        ok(
            &env,
            wh,
            &[
                "--engine",
                engine,
                "-q",
                "chargeback",
                "--period",
                "2025-01",
                "--tz",
                "Europe/Berlin",
                "--output",
                out.to_str().unwrap(),
            ],
        );
        std::fs::read(out).unwrap()
    };
    assert_eq!(tz("wh", "local"), tz("cl", &cluster.engine));

    // SQL over the inference table (a Delta snapshot as one Parquet scan), config tables and views
    for sql in [
        "SELECT request_date, endpoint_name, count(*), sum(input_tokens) FROM inference GROUP BY 1, 2",
        "SELECT requester, sum(cost) FROM priced_requests GROUP BY 1",
        "SELECT * FROM prices",
        "SELECT scope, name, amount FROM budgets",
    ] {
        let (l, c) = (query(&env, &env.wh(), "local", sql), query(&env, &env.wh(), &cluster.engine, sql));
        assert!(l.len() > 1, "{sql}: no rows");
        assert_eq!(l, c, "{sql}");
    }
    // a named report (quantile_disc, which the executors know) gives the same rows
    let report = |engine: &str| env.ok(&["--engine", engine, "--format", "csv", "report", "rate_limits"]);
    assert_eq!(report("local"), report(&cluster.engine));
    // both executors did work
    let jobs = |i: usize| std::fs::read_dir(env.path(&format!("ballista/executor-{i}"))).map_or(0, |d| d.count());
    assert!(jobs(0) > 0 && jobs(1) > 0, "executor work dirs: {} and {}", jobs(0), jobs(1));
}

#[test]
fn an_unreachable_or_malformed_engine_is_a_usage_error() {
    let env = Env::init();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let stderr = env.fails(&["--engine", &format!("ballista://127.0.0.1:{port}"), "sql", "SELECT 1"], 2);
    assert!(stderr.contains("Ballista scheduler"), "{stderr}");
    let stderr = env.fails(&["--engine", "spark://x:1", "sql", "SELECT 1"], 2);
    assert!(stderr.contains("ballista://HOST:PORT"), "{stderr}");
}

/// A warehouse in S3 (moto on loopback): the executors and the scheduler find the bucket's
/// store from the files' URLs, with the credentials of their own environment.
#[test]
fn an_s3_warehouse_rolls_up_and_charges_back_on_the_cluster() {
    use object_store::{ObjectStoreExt, PutPayload};
    let Some(s3) = crate::object_store::S3Server::start() else { return };
    let env = Env::new();
    let cluster = Cluster::start_with(&env, s3.env());
    let data = env.generate("data", &["--rows", "1500", "--days", "4", "--start", "2025-01-29"]);
    let wh = "s3://lake/cluster-wh";
    s3.ok(&env, wh, &["init"]);
    for f in ["prices.csv", "principals.csv", "budgets.csv"] {
        let bytes = std::fs::read(data.join("config").join(f)).unwrap();
        crate::object_store::block_on(
            s3.bucket().put(&format!("cluster-wh/config/{f}").into(), PutPayload::from(bytes)),
        )
        .unwrap();
    }
    s3.ok(&env, wh, &["-q", "ingest", data.join("logs").to_str().unwrap()]);
    s3.ok(&env, wh, &["-q", "rollup"]);
    let daily = |engine: &str| {
        let mut lines: Vec<String> = s3
            .ok(&env, wh, &["--engine", engine, "--format", "csv", "sql", "SELECT * FROM usage_daily"])
            .lines()
            .map(str::to_string)
            .collect();
        lines.sort();
        lines
    };
    let local = daily("local");
    assert!(local.len() > 20, "{} rows", local.len());
    assert_eq!(daily(&cluster.engine), local, "the cluster reads other rows");
    s3.ok(&env, wh, &["--engine", &cluster.engine, "-q", "rollup", "--full"]);
    assert_eq!(daily("local"), local, "the cluster's rollup wrote other rows");
    let charge = |engine: &str| {
        let out = env.path(&format!("cb-{}.csv", engine.len()));
        s3.ok(
            &env,
            wh,
            &["--engine", engine, "-q", "chargeback", "--period", "2025-01", "--output", out.to_str().unwrap()],
        );
        std::fs::read(out).unwrap()
    };
    assert_eq!(charge("local"), charge(&cluster.engine));
    // the FOCUS export reads the tables through the command's engine too (a bare session of
    // its own had no store for the bucket)
    let focus = |engine: &str| {
        let out = env.path(&format!("focus-{}.csv", engine.len()));
        s3.ok(
            &env,
            wh,
            &[
                "--engine",
                engine,
                "--format",
                "focus",
                "chargeback",
                "--period",
                "2025-01",
                "--output",
                out.to_str().unwrap(),
            ],
        );
        std::fs::read(out).unwrap()
    };
    let local_focus = focus("local");
    assert!(local_focus.split(|b| *b == b'\n').count() > 3, "{}", String::from_utf8_lossy(&local_focus));
    assert_eq!(focus(&cluster.engine), local_focus);
    // the budget status is computed in the command's process whatever the engine
    let budget = |engine: &str| {
        let out = s3.tokenledger(&env, wh, &["--engine", engine, "--format", "json", "budget", "status"]);
        assert!(matches!(out.status.code(), Some(0 | 3)), "budget status on {engine}\n{}", show(&out));
        (out.status.code(), String::from_utf8(out.stdout).unwrap())
    };
    let local = budget("local");
    assert!(local.1.contains("\"spent\""), "{local:?}");
    assert_eq!(budget(&cluster.engine), local);
}

/// A scheduler alone, then two executors that join it from another process (how a real
/// cluster gets executors that know tokenledger's functions).
#[test]
fn executors_join_a_running_scheduler() {
    let env = crate::util::ingested_warehouse(800, 3);
    env.ok(&["-q", "rollup"]);
    // a scheduler alone, at the address the workers reach it at (loopback here)
    let scheduler = Cluster::spawn(&env, Vec::new(), &["--host", "127.0.0.1", "--port", "0", "--executors", "0"]);
    let address = scheduler.engine.trim_start_matches("ballista://").to_string();
    let executors = Cluster::spawn(&env, Vec::new(), &["--scheduler", &address, "--executors", "2", "--slots", "1"]);
    assert_eq!(executors.engine, scheduler.engine, "the joined executors name their scheduler");
    let report = |engine: &str| env.ok(&["--engine", engine, "--format", "csv", "report", "rate_limits"]);
    let local = report("local");
    assert!(local.lines().count() > 2, "{local}");
    assert_eq!(report(&scheduler.engine), local);
    let jobs = |i: usize| std::fs::read_dir(env.path(&format!("ballista/executor-{i}"))).map_or(0, |d| d.count());
    assert!(jobs(0) + jobs(1) > 0, "the joined executors ran nothing");
}

#[test]
fn executors_hold_to_their_memory_limit_and_say_when_a_job_needs_more() {
    let env = crate::util::ingested_warehouse(800, 3);
    // too little for any join's build side, which cannot spill
    let starved = Cluster::spawn(
        &env,
        Vec::new(),
        &["--port", "0", "--executors", "1", "--slots", "1", "--memory-limit", "1KiB"],
    );
    let out = env.run(&["--engine", &starved.engine, "rollup"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(stderr.contains("the cluster's executors allow") && stderr.contains("larger --memory-limit"), "{stderr}");
    drop(starved);
    // a limit the jobs fit in changes nothing
    let bounded = Cluster::spawn(
        &env,
        Vec::new(),
        &["--port", "0", "--executors", "2", "--slots", "1", "--memory-limit", "256MiB"],
    );
    let report = |engine: &str| env.ok(&["--engine", engine, "--format", "csv", "report", "rate_limits"]);
    let local = report("local");
    assert!(local.lines().count() > 2, "{local}");
    assert_eq!(report(&bounded.engine), local);
}
