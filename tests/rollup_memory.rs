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
    assert_eq!(dates, ["2025-01-01", "2025-01-02", "2025-01-03", "2025-01-05", "2025-01-06", "2025-01-07", "2025-01-08", "2025-01-10"]);
    assert_eq!(plain["requests"], 1002);
    assert_eq!(number(&env, "(SELECT count(DISTINCT \"date\") FROM usage_daily)"), 10);
    assert_eq!(rollup(&env, &[])["dates_recomputed"], serde_json::json!([]));
}
