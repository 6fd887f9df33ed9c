//! What the rollup remembers between runs: the dates a range rollup left out, and the config
//! each date was rated with.

use crate::util::{Env, ingested_warehouse};

/// `tokenledger --format json rollup ARGS`, parsed.
fn rollup(env: &Env, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["--format", "json", "rollup"];
    all.extend_from_slice(args);
    serde_json::from_str(&env.ok(&all)).unwrap()
}

/// One number from `tokenledger sql`.
fn number(env: &Env, sql: &str) -> i64 {
    let out = env.ok(&["--format", "json", "sql", &format!("SELECT {sql} AS n")]);
    let row: serde_json::Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"));
    row["n"].as_i64().unwrap_or(0)
}

/// Requests of `date` in usage_daily.
fn daily_requests(env: &Env, date: &str) -> i64 {
    number(env, &format!("(SELECT sum(requests) FROM usage_daily WHERE \"date\" = DATE '{date}')"))
}

/// `n` requests of 1M uncached input tokens of gpt-4o on `date`, ingested.
fn ingest_late(env: &Env, name: &str, date: &str, n: usize) {
    let lines: Vec<String> = (0..n)
        .map(|i| {
            format!(
                r#"{{"request_id":"{name}-{i}","request_time":"{date}T12:00:00Z","endpoint_name":"chat","served_entity_name":"gpt-4o","requester":"late@x.com","status_code":200,"input_tokens":1000000,"output_tokens":0}}"#
            )
        })
        .collect();
    let f = env.write(&format!("{name}.jsonl"), lines.join("\n") + "\n");
    env.ingest_json(&[f.to_str().unwrap()]);
}

#[test]
fn a_range_rollup_leaves_the_dates_outside_it_to_the_next_plain_rollup() {
    // the issue's steps: Jan 1-10 rolled up; late rows for Jan 12; a re-rate of Jan 1-5; a plain rollup
    let env = ingested_warehouse(1000, 10);
    rollup(&env, &[]);
    ingest_late(&env, "late", "2025-01-12", 3);
    let rerate = rollup(&env, &["--rerate", "--from", "2025-01-01", "--to", "2025-01-05"]);
    assert_eq!(rerate["dates_recomputed"].as_array().unwrap().len(), 5);
    assert_eq!(daily_requests(&env, "2025-01-12"), 0, "not in the range");
    let plain = rollup(&env, &[]);
    assert_eq!(plain["dates_recomputed"], serde_json::json!(["2025-01-12"]), "{plain}");
    assert_eq!(daily_requests(&env, "2025-01-12"), 3);
    assert_eq!(plain["requests"], 1003);
    // and then it is done: nothing more to recompute
    assert_eq!(rollup(&env, &[])["dates_recomputed"], serde_json::json!([]));
}

#[test]
fn a_first_rollup_that_is_a_range_leaves_the_other_dates_to_the_next_plain_rollup() {
    let env = ingested_warehouse(1000, 10);
    let first = rollup(&env, &["--from", "2025-01-03", "--to", "2025-01-04"]);
    assert_eq!(first["dates_recomputed"], serde_json::json!(["2025-01-03", "2025-01-04"]));
    // a second range, and late data inside the first range that the second does not cover
    ingest_late(&env, "late", "2025-01-03", 2);
    rollup(&env, &["--from", "2025-01-09", "--to", "2025-01-09"]);
    // the dates neither range covered, and Jan 3 (changed since the range that covered it)
    let plain = rollup(&env, &[]);
    let dates: Vec<&str> = plain["dates_recomputed"].as_array().unwrap().iter().map(|d| d.as_str().unwrap()).collect();
    assert_eq!(
        dates,
        [
            "2025-01-01",
            "2025-01-02",
            "2025-01-03",
            "2025-01-05",
            "2025-01-06",
            "2025-01-07",
            "2025-01-08",
            "2025-01-10"
        ]
    );
    assert_eq!(plain["requests"], 1002);
    assert_eq!(number(&env, "(SELECT count(DISTINCT \"date\") FROM usage_daily)"), 10);
    assert_eq!(rollup(&env, &[])["dates_recomputed"], serde_json::json!([]));
}

/// The manifest of `chargeback --period 2025-01 ARGS --output jan.csv`, and the command's stderr.
fn export(env: &Env, args: &[&str]) -> (serde_json::Value, String) {
    let out = env.path("jan.csv");
    let mut all = vec!["chargeback", "--period", "2025-01", "--output", out.to_str().unwrap()];
    all.extend_from_slice(args);
    let run = env.run(&all);
    assert!(run.status.success(), "{}", crate::util::show(&run));
    let manifest = std::fs::read_to_string(env.path("jan.csv.manifest.json")).unwrap();
    (serde_json::from_str(&manifest).unwrap(), String::from_utf8_lossy(&run.stderr).into_owned())
}

fn sha256_of(env: &Env, config: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(std::fs::read(env.wh().join("config").join(config)).unwrap()))
}

/// The price book with a comment appended: other bytes, the same prices.
fn touch_prices(env: &Env, comment: &str) {
    let path = env.wh().join("config/prices.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, format!("{text}# {comment}\n")).unwrap();
}

#[test]
fn the_manifest_says_which_config_rated_each_date_and_as_of_says_when_it_changed() {
    let env = ingested_warehouse(1000, 10);
    rollup(&env, &[]);
    let old_prices = sha256_of(&env, "prices.csv");
    let (first, stderr) = export(&env, &[]);
    let config = serde_json::json!({
        "prices.csv": old_prices,
        "principals.csv": sha256_of(&env, "principals.csv"),
        "settings.toml": sha256_of(&env, "settings.toml"),
        "discounts.csv": sha256_of(&env, "discounts.csv"),
    });
    assert_eq!(first["rated_with"], serde_json::json!([{ "config": config, "dates": ["2025-01-01..2025-01-10"] }]));
    assert_eq!(first["config_read_at_export"]["capacity.csv"], sha256_of(&env, "capacity.csv"));
    assert_eq!(first["config_changed_since_rated"], serde_json::Value::Null);
    assert!(!stderr.contains("notice"), "{stderr}");

    // a new price book, two dates re-rated with it
    touch_prices(&env, "new prices");
    rollup(&env, &["--rerate", "--from", "2025-01-03", "--to", "2025-01-04"]);
    let (second, _) = export(&env, &[]);
    let mut new_config = config.clone();
    new_config["prices.csv"] = sha256_of(&env, "prices.csv").into();
    let sets = second["rated_with"].as_array().unwrap();
    assert_eq!(sets.len(), 2, "{second}");
    assert!(
        sets.contains(
            &serde_json::json!({ "config": config, "dates": ["2025-01-01..2025-01-02", "2025-01-05..2025-01-10"] })
        ),
        "{second}"
    );
    assert!(
        sets.contains(&serde_json::json!({ "config": new_config, "dates": ["2025-01-03..2025-01-04"] })),
        "{second}"
    );

    // the first export again: its dates were rated with the old price book, and it says so
    let version = first["tables"]["usage_daily"]["version"].to_string();
    let (again, stderr) = export(&env, &["--as-of-version", &version]);
    assert_eq!(again["rated_with"], first["rated_with"]);
    assert!(
        stderr.contains("notice") && stderr.contains("config/prices.csv") && stderr.contains("2025-01-01..2025-01-10"),
        "{stderr}"
    );
    assert_eq!(
        again["config_changed_since_rated"],
        serde_json::json!({ "files": ["prices.csv"], "dates": ["2025-01-01..2025-01-10"] })
    );
}

#[test]
fn dates_rated_with_a_changed_config_are_named_on_every_run_until_restated() {
    let env = ingested_warehouse(1000, 10);
    rollup(&env, &[]);
    env.write(
        "wh/config/budgets.csv",
        "scope,name,period,amount,currency,thresholds\ngroup,data-science,monthly,1000000,USD,50\n",
    );
    let budget = |env: &Env| {
        let out = env.run(&["--format", "json", "budget", "status"]);
        assert!(out.status.success(), "{}", crate::util::show(&out));
        let statuses: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        (statuses[0]["stale_config"].clone(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    assert_eq!(budget(&env).0, serde_json::Value::Null);

    // a new price book, and new data on one date: that date gets the new prices, the others keep the old
    touch_prices(&env, "new prices");
    ingest_late(&env, "late", "2025-01-05", 1);
    let stale =
        serde_json::json!({ "files": ["prices.csv"], "dates": ["2025-01-01..2025-01-04", "2025-01-06..2025-01-10"] });
    let first = rollup(&env, &[]);
    assert_eq!(first["dates_recomputed"], serde_json::json!(["2025-01-05"]));
    assert_eq!(first["stale_config"], stale, "{first}");
    let notice = first["notices"][0].as_str().unwrap();
    assert!(
        notice.contains("config/prices.csv") && notice.contains("2025-01-01..2025-01-04, 2025-01-06..2025-01-10"),
        "{notice}"
    );
    // not once: every rollup says it again, also after a compaction of the usage tables
    env.ok(&["compact"]);
    let again = rollup(&env, &[]);
    assert_eq!((&again["dates_recomputed"], &again["stale_config"]), (&serde_json::json!([]), &stale), "{again}");
    let text = env.ok(&["rollup"]);
    assert!(text.contains("2025-01-01..2025-01-04, 2025-01-06..2025-01-10"), "{text}");
    // budget status warns about the dates of its period, and says which in its JSON
    let (in_budget, stderr) = budget(&env);
    assert_eq!(in_budget, stale);
    assert!(stderr.contains("warning") && stderr.contains("2025-01-06..2025-01-10"), "{stderr}");
    // and a scheduled cycle keeps it in its record
    std::fs::create_dir_all(env.path("inbox")).unwrap();
    env.write("tokenledger.toml", "warehouse = \"wh\"\n[inbox]\npaths = [\"inbox\"]\n[export]\nbudgets = false\n");
    let out = env.run(&["--format", "json", "run", "--config", "tokenledger.toml", "--today", "2025-02-02"]);
    assert!(out.status.success(), "{}", crate::util::show(&out));
    let record: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        record["notes"].as_array().unwrap().iter().any(|n| n.as_str().unwrap().contains("2025-01-01..2025-01-04")),
        "{record}"
    );

    // part of them restated: the rest is still named; all restated: nothing more to say
    let part = rollup(&env, &["--rerate", "--from", "2025-01-01", "--to", "2025-01-04"]);
    assert_eq!(part["stale_config"]["dates"], serde_json::json!(["2025-01-06..2025-01-10"]), "{part}");
    let all = rollup(&env, &["--rerate", "--from", "2025-01-06", "--to", "2025-01-10"]);
    assert_eq!((&all["stale_config"], &all["notices"]), (&serde_json::Value::Null, &serde_json::json!([])), "{all}");
    assert_eq!(rollup(&env, &[])["notices"], serde_json::json!([]));
    let (in_budget, stderr) = budget(&env);
    assert_eq!(in_budget, serde_json::Value::Null);
    assert!(!stderr.contains("warning"), "{stderr}");
}
