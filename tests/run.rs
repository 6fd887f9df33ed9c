//! `tokenledger run`: the scheduled cycle, its lock, its records and its exit codes.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::{BIN, Env, MIXED, show};

/// A warehouse with the generator's price book and principals, an inbox of generated logs, and
/// a `tokenledger.toml` with `extra` appended.
fn setup(rows: u32, extra: &str) -> Env {
    let env = Env::init();
    let data = env.generate("data", &["--rows", &rows.to_string(), "--days", "3", "--start", "2025-01-30"]);
    for f in ["prices.csv", "principals.csv"] {
        std::fs::copy(data.join("config").join(f), env.wh().join("config").join(f)).unwrap();
    }
    std::fs::create_dir_all(env.path("inbox")).unwrap();
    std::fs::copy(data.join("logs/inference.jsonl"), env.path("inbox/day1.jsonl")).unwrap();
    env.write(
        "tokenledger.toml",
        format!(
            "warehouse = \"wh\"\n[inbox]\npaths = [\"inbox\"]\n[export]\ndir = \"exports\"\nbudgets = false\n{extra}"
        ),
    );
    env
}

fn run(env: &Env, args: &[&str]) -> std::process::Output {
    let mut all = vec!["run", "--config", "tokenledger.toml", "--today", "2025-02-02"];
    all.extend_from_slice(args);
    env.run(&all)
}

/// A cycle that must succeed; its record as `--format json` prints it.
fn cycle_record(env: &Env) -> serde_json::Value {
    let out = run(env, &["--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn runs_json(env: &Env) -> Vec<serde_json::Value> {
    env.ok(&["--format", "json", "runs"]).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn a_cycle_ingests_rolls_up_exports_and_records_and_files_count_once() {
    let env = setup(400, "");
    let record = cycle_record(&env);
    assert_eq!((record["outcome"].as_str(), record["files_ingested"].as_i64()), (Some("ok"), Some(1)), "{record}");
    assert!(record["rows_written"].as_i64().unwrap() > 300);
    // the export is the chargeback of the last closed month, as the command writes it
    let export = env.path("exports/chargeback-2025-01.csv");
    let by_hand = env.path("by_hand.csv");
    env.ok(&["chargeback", "--period", "2025-01", "--output", by_hand.to_str().unwrap()]);
    assert_eq!(std::fs::read(&export).unwrap(), std::fs::read(&by_hand).unwrap());
    assert!(env.path("exports/chargeback-2025-01.csv.manifest.json").exists());

    // a re-delivered file and a renamed copy are not counted again
    std::fs::copy(env.path("inbox/day1.jsonl"), env.path("inbox/day1-again.jsonl")).unwrap();
    let record = cycle_record(&env);
    assert_eq!(
        (record["files_ingested"].as_i64(), record["files_skipped"].as_i64(), record["rows_written"].as_i64()),
        (Some(0), Some(2), Some(0)),
        "{record}"
    );
    assert_eq!(record["dates_recomputed"], 0, "nothing changed: {record}");
    std::fs::rename(env.path("inbox/day1.jsonl"), env.path("inbox/renamed.jsonl")).unwrap();
    assert_eq!(run(&env, &[]).status.code(), Some(0));

    let runs = runs_json(&env);
    assert_eq!(runs.len(), 3, "{runs:?}");
    assert!(runs.iter().all(|r| r["outcome"] == "ok" && r["exit_code"] == 0), "{runs:?}");
    assert_eq!(
        runs.iter().map(|r| r["rows"].as_i64().unwrap()).filter(|n| *n > 0).count(),
        1,
        "rows written once: {runs:?}"
    );
    let table = env.ok(&["runs"]);
    assert!(table.contains("outcome") && table.contains("chargeback-2025-01.csv"), "{table}");
}

#[test]
fn every_exit_code_of_run() {
    // 2: a config error (an unknown key, a secret), before anything is done
    let env = setup(100, "[inbox.extra]\n");
    let out = run(&env, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    env.write("tokenledger.toml", "warehouse = \"wh\"\naws_secret_access_key = \"abc\"\n");
    let out = run(&env, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("environment"));
    env.write("tokenledger.toml", "warehouse = \"nowhere\"\n");
    let out = run(&env, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("init"), "{}", show(&out));

    // 4: too much quarantined: nothing ingested, and the run is recorded
    let env = setup(100, "");
    std::fs::copy(MIXED, env.path("inbox/mixed.jsonl")).unwrap();
    env.write("tokenledger.toml", "warehouse = \"wh\"\n[inbox]\npaths = [\"inbox\"]\nmax_quarantine_ratio = 0.01\n");
    let out = run(&env, &[]);
    assert_eq!(out.status.code(), Some(4), "{}", show(&out));
    assert!(crate::util::data_files(&env.wh().join("inference")).is_empty(), "nothing was written");
    let runs = runs_json(&env);
    assert_eq!(
        (runs[0]["outcome"].as_str(), runs[0]["exit_code"].as_i64()),
        (Some("quarantine_over"), Some(4)),
        "{runs:?}"
    );
    assert!(runs[0]["error"].as_str().unwrap().contains("quarantined"));

    // 1: a step fails (the served entities file is missing): recorded with the error
    env.write(
        "tokenledger.toml",
        "warehouse = \"wh\"\n[inbox]\npaths = [\"inbox\"]\nserved_entities = \"missing.csv\"\n",
    );
    let out = run(&env, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert_eq!(runs_json(&env)[0]["outcome"], "failed");

    // 3: a budget is spent; the work is done first
    let env = setup(300, "");
    env.write(
        "wh/config/budgets.csv",
        "scope,name,period,amount,currency,thresholds\ngroup,data-science,monthly,0.01,USD,50;100\n",
    );
    env.write("tokenledger.toml", "warehouse = \"wh\"\n[inbox]\npaths = [\"inbox\"]\n[export]\ndir = \"exports\"\n");
    let out = run(&env, &[]);
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    assert!(env.path("exports/chargeback-2025-01.csv").exists());
    assert_eq!(runs_json(&env)[0]["outcome"], "budget_over");

    // 5: another run holds the lock (a live process on this host): named, nothing done
    let holder = serde_json::json!({"pid": 1, "host": tokenledger::run::lock::host_name(), "started_at": chrono::Utc::now().to_rfc3339(), "run_id": "the-holder"});
    env.write("wh/_tokenledger/run.lock", holder.to_string());
    let out = run(&env, &[]);
    assert_eq!(out.status.code(), Some(5), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("run the-holder (pid 1"), "{}", show(&out));
    assert_eq!(runs_json(&env).len(), 1, "a locked-out run is not recorded");
}

#[test]
fn two_runs_at_once_one_waits_or_is_refused_and_a_stale_lock_is_taken_over() {
    let env = setup(3000, "");
    let spawn = |wait: &str| {
        Command::new(BIN)
            .args(["run", "--config", "tokenledger.toml", "--today", "2025-02-02", "--wait", wait])
            .current_dir(env.dir.path())
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let first = spawn("0");
    let lock = env.wh().join("_tokenledger/run.lock");
    let started = Instant::now();
    while !lock.exists() && started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(lock.exists(), "the first run takes the lock");
    let refused = spawn("0").wait_with_output().unwrap();
    let waiter = spawn("300");
    let first = first.wait_with_output().unwrap();
    let waited = waiter.wait_with_output().unwrap();
    assert_eq!(first.status.code(), Some(0), "{}", show(&first));
    // the refused run either met the lock (5) or, on a fast machine, came after the first (0)
    eprintln!("the second run exited with {:?}", refused.status.code());
    match refused.status.code() {
        Some(5) => assert!(String::from_utf8_lossy(&refused.stderr).contains("is locked by run"), "{}", show(&refused)),
        other => assert_eq!(other, Some(0), "{}", show(&refused)),
    }
    assert_eq!(waited.status.code(), Some(0), "{}", show(&waited));
    assert!(!lock.exists(), "released");
    let runs = runs_json(&env);
    let rows: i64 = runs.iter().map(|r| r["rows"].as_i64().unwrap()).sum();
    assert_eq!(runs.iter().filter(|r| r["rows"].as_i64() > Some(0)).count(), 1, "one run ingested the file: {runs:?}");
    assert!(rows > 2500);

    // a lock left by a killed run (its process is gone) is taken over at once
    let dead = serde_json::json!({"pid": u32::MAX - 1, "host": tokenledger::run::lock::host_name(), "started_at": chrono::Utc::now().to_rfc3339(), "run_id": "killed"});
    env.write("wh/_tokenledger/run.lock", dead.to_string());
    let out = env.run(&["--format", "json", "run", "--config", "tokenledger.toml", "--today", "2025-02-02"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let record: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(record["notes"][0].as_str().unwrap().contains("stale lock of run killed"), "{record}");
}

#[test]
fn logs_are_json_objects_for_collectors() {
    let env = setup(100, "");
    let out = env.run(&["--log-format", "json", "run", "--config", "tokenledger.toml", "--today", "2025-02-02"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stderr)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let messages: Vec<&str> = lines.iter().filter_map(|l| l["message"].as_str()).collect();
    assert!(messages.contains(&"run started") && messages.contains(&"run finished"), "{messages:?}");
    assert!(lines.iter().any(|l| l["message"] == "run finished" && l["outcome"] == "ok"), "{lines:?}");
}

#[test]
fn a_cycle_can_drop_old_payloads() {
    let env = setup(200, "[maintenance]\npayload_retention_days = 1\nvacuum_retain_hours = 0\n");
    let record = cycle_record(&env);
    assert!(
        record["notes"][0].as_str().unwrap().starts_with("payloads before 2025-02-01 dropped from 2 dates"),
        "{record}"
    );
    let left = env.ok(&[
        "--format",
        "csv",
        "sql",
        "SELECT CAST(request_date AS VARCHAR) AS d, count(request) AS n FROM inference GROUP BY 1 ORDER BY 1",
    ]);
    assert_eq!(left.lines().filter(|l| l.ends_with(",0")).count(), 2, "{left}");
}

#[test]
fn commands_that_write_wait_for_no_one_while_a_run_holds_the_lock() {
    let env = setup(100, "");
    let holder = serde_json::json!({"pid": 1, "host": tokenledger::run::lock::host_name(), "started_at": chrono::Utc::now().to_rfc3339(), "run_id": "scheduled"});
    env.write("wh/_tokenledger/run.lock", holder.to_string());
    for args in [vec!["ingest", "inbox"], vec!["rollup"], vec!["compact"], vec!["vacuum"]] {
        let err = env.fails(&args, 5);
        assert!(err.contains("locked by run scheduled (pid 1"), "{args:?}: {err}");
    }
    // readers do not take it
    env.ok(&["sql", "SELECT count(*) FROM inference"]);
    std::fs::remove_file(env.wh().join("_tokenledger/run.lock")).unwrap();
    env.ok(&["-q", "ingest", "inbox"]);
    assert!(!env.wh().join("_tokenledger/run.lock").exists(), "an ingest releases the lock");
}

#[test]
fn a_warehouse_given_as_a_file_uri_runs_the_same_cycle() {
    let env = setup(100, "");
    let uri = url::Url::from_directory_path(env.wh()).unwrap().to_string();
    assert!(uri.starts_with("file:///"));
    env.write(
        "tokenledger.toml",
        format!("warehouse = \"{uri}\"\n[inbox]\npaths = [\"inbox\"]\n[export]\ndir = \"exports\"\nbudgets = false\n"),
    );
    let record = cycle_record(&env);
    assert!(record["rows_written"].as_i64() > Some(50), "{record}");
    let by_uri = Command::new(BIN).args(["-w", &uri, "--format", "json", "runs"]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&by_uri.stdout).lines().count(), 1, "{}", show(&by_uri));
    // a scheme that is not an object store is refused, naming the ones that are
    env.write("tokenledger.toml", "warehouse = \"ftp://host/warehouse\"\n");
    let out = run(&env, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("s3://"), "{}", show(&out));
}

#[test]
fn a_cycle_hashes_payloads_with_the_key_from_the_environment_and_records_no_key() {
    let env = setup(100, "");
    let config = std::fs::read_to_string(env.path("tokenledger.toml")).unwrap();
    env.write("tokenledger.toml", config.replace("[inbox]\n", "[inbox]\npayloads = \"hash\"\n"));
    let out = run(&env, &[]);
    assert_eq!(out.status.code(), Some(2), "no key: {}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("TOKENLEDGER_PAYLOAD_KEY"), "{}", show(&out));

    let key = "run-payload-key-0123456789abcdef";
    let out = env
        .command(&["run", "--config", "tokenledger.toml", "--today", "2025-02-02"])
        .env("TOKENLEDGER_PAYLOAD_KEY", key)
        .env("RUST_LOG", "debug")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(!show(&out).contains(key), "{}", show(&out));
    let requests = crate::util::strings(&env.rows("inference"), "request");
    assert!(
        requests.iter().flatten().all(|r| r.starts_with("hmac-sha256:")) && requests.iter().flatten().count() > 50,
        "{requests:?}"
    );
    let holding = |dir| crate::util::files_holding(&env.path(dir), key);
    assert_eq!((holding("wh"), holding("exports")), (vec![], vec![]), "the key is in the warehouse or the exports");
    assert_eq!(runs_json(&env).len(), 2, "both runs are recorded");
}
