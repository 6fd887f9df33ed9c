//! `compact`, `vacuum` and payload retention: fewer files, the same rows; old payload text
//! gone from the disk, every usage fact kept; and the rollup recomputes nothing for them.

use std::path::{Path, PathBuf};

use arrow::array::Array;

use crate::util::{Env, data_files};

/// Two ingests of three days each: two files per date.
fn warehouse() -> Env {
    let env = Env::init();
    for seed in ["1", "2"] {
        let data = env
            .generate(&format!("d{seed}"), &["--rows", "600", "--days", "3", "--seed", seed, "--payload-bytes", "80"]);
        if seed == "1" {
            for f in ["prices.csv", "principals.csv"] {
                std::fs::copy(data.join("config").join(f), env.wh().join("config").join(f)).unwrap();
            }
        }
        env.ok(&["-q", "ingest", data.join("logs").to_str().unwrap()]);
    }
    env.ok(&["-q", "rollup"]);
    env
}

/// The query's rows as sorted CSV lines.
fn rows(env: &Env, sql: &str) -> Vec<String> {
    let mut lines: Vec<String> = env.ok(&["--format", "csv", "sql", sql]).lines().map(str::to_string).collect();
    lines.sort();
    lines
}

/// Every Parquet file under `dir`, referenced by the table or not.
fn parquet_on_disk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(parquet_on_disk(&p));
        } else if p.extension().is_some_and(|x| x == "parquet") {
            out.push(p);
        }
    }
    out
}

fn recomputed(env: &Env) -> serde_json::Value {
    let out = env.ok(&["--format", "json", "rollup"]);
    serde_json::from_str::<serde_json::Value>(&out).unwrap()["dates_recomputed"].clone()
}

const FACTS: &str = "SELECT request_id, record_fingerprint, request_time, input_tokens, cache_read_input_tokens, output_tokens, status_code FROM inference";

#[test]
fn compact_and_vacuum_keep_the_rows_in_fewer_files() {
    let env = warehouse();
    let inference = env.wh().join("inference");
    let before_files = data_files(&inference).len();
    let facts = rows(&env, FACTS);
    let usage = rows(&env, "SELECT * FROM usage_hourly");
    let out = env.ok(&["--format", "json", "compact"]);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let inf = report.as_array().unwrap().iter().find(|t| t["table"] == "inference").unwrap();
    assert!(inf["files_removed"].as_u64() > inf["files_added"].as_u64(), "{report}");
    assert!(data_files(&inference).len() < before_files);
    assert_eq!(rows(&env, FACTS), facts, "the same rows");
    assert_eq!(recomputed(&env), serde_json::json!([]), "compaction changes no date");
    assert_eq!(rows(&env, "SELECT * FROM usage_hourly"), usage);

    // the replaced files stay until a vacuum; a dry run deletes nothing
    let on_disk = parquet_on_disk(&inference).len();
    assert!(on_disk > data_files(&inference).len());
    env.ok(&["vacuum", "--retain-hours", "0", "--dry-run"]);
    assert_eq!(parquet_on_disk(&inference).len(), on_disk);
    // the default keeps a week of versions: nothing this young goes
    env.ok(&["vacuum"]);
    assert_eq!(parquet_on_disk(&inference).len(), on_disk);
    env.ok(&["vacuum", "--retain-hours", "0"]);
    assert_eq!(parquet_on_disk(&inference).len(), data_files(&inference).len());
    assert_eq!(rows(&env, FACTS), facts);
}

#[test]
fn payload_retention_drops_old_text_and_keeps_every_fact() {
    let env = warehouse();
    let facts = rows(&env, FACTS);
    let usage = rows(&env, "SELECT * FROM usage_daily");
    let payloads = "SELECT CAST(request_date AS VARCHAR) AS d, count(*) AS n, count(request) AS req, count(response) AS resp FROM inference GROUP BY 1";
    let before = rows(&env, payloads);
    assert!(before.iter().skip(1).all(|l| !l.ends_with(",0,0")), "the logs have payloads: {before:?}");
    let out = env.ok(&[
        "--format",
        "json",
        "vacuum",
        "--payload-retention-days",
        "1",
        "--today",
        "2025-01-03",
        "--retain-hours",
        "0",
    ]);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["payload_retention"]["dates_rewritten"], serde_json::json!(["2025-01-01"]), "{report}");
    let after = rows(&env, payloads);
    let day = |rows: &[String], d: &str| rows.iter().find(|l| l.starts_with(d)).cloned().unwrap();
    let n = day(&before, "2025-01-01").split(',').nth(1).unwrap().to_string();
    assert_eq!(day(&after, "2025-01-01"), format!("2025-01-01,{n},0,0"), "the old day has no payloads left");
    assert_eq!(day(&after, "2025-01-02"), day(&before, "2025-01-02"), "a recent day keeps them");
    assert_eq!(rows(&env, FACTS), facts, "every usage fact is kept");
    assert_eq!(recomputed(&env), serde_json::json!([]), "payload retention changes no usage");
    assert_eq!(rows(&env, "SELECT * FROM usage_daily"), usage);

    // and the text is gone from the disk, not only from the current version: every file of
    // the old day, referenced or not, holds no payload
    let old_day: Vec<PathBuf> = parquet_on_disk(&env.wh().join("inference"))
        .into_iter()
        .filter(|f| f.to_string_lossy().contains("request_date=2025-01-01"))
        .collect();
    assert!(!old_day.is_empty());
    for f in old_day {
        for b in read_table_file(&f) {
            for col in ["request", "response"] {
                assert_eq!(
                    b.column_by_name(col).unwrap().null_count(),
                    b.num_rows(),
                    "{} still holds {col} text",
                    f.display()
                );
            }
        }
    }
}

fn read_table_file(f: &Path) -> Vec<arrow::array::RecordBatch> {
    let file = std::fs::File::open(f).unwrap();
    parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn tables_write_a_checkpoint_every_ten_commits() {
    // a command replays the commits since a table's last checkpoint: the table's creation and
    // ten ingests of one request each are eleven versions, and the tenth (0 to 9) writes one
    let env = Env::init();
    for i in 1..=10 {
        let line = format!(
            r#"{{"request_id":"r{i}","request_time":"2025-01-{i:02}T12:00:00Z","endpoint_name":"chat","served_entity_name":"gpt-4o","requester":"a@x.com","status_code":200,"input_tokens":10,"output_tokens":1}}"#
        );
        let f = env.write(&format!("l{i}.jsonl"), format!("{line}\n"));
        env.ok(&["-q", "ingest", f.to_str().unwrap()]);
    }
    let log = env.wh().join("inference/_delta_log");
    let checkpoints: Vec<String> = std::fs::read_dir(&log)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".checkpoint."))
        .collect();
    assert_eq!(checkpoints, ["00000000000000000009.checkpoint.parquet"]);
    assert_eq!(rows(&env, "SELECT count(*) AS n, count(DISTINCT request_date) AS d FROM inference"), ["10,10", "n,d"]);
}
