//! A `tokenledger run` killed (SIGKILL) at any moment — ingesting, rolling up, exporting —
//! and then run again ends with every table and export equal to an uninterrupted run's.

use std::time::{Duration, Instant};

use crate::util::{Env, show};

/// Everything a cycle produces, in a comparable form: the tables' rows sorted (the inference
/// rows by id with their content fingerprint, lineage aside) and the export's bytes.
fn state(env: &Env) -> Vec<String> {
    let sql = |q: &str| -> String {
        let out = env.ok(&["--format", "csv", "sql", q]);
        let mut lines: Vec<&str> = out.lines().collect();
        lines.sort_unstable();
        lines.join("\n")
    };
    vec![
        sql(
            "SELECT request_id, record_fingerprint, request_time, input_tokens, output_tokens, source_file, source_line FROM inference",
        ),
        sql("SELECT source_file, line_number, reason_code, raw FROM quarantine"),
        sql("SELECT * FROM usage_daily"),
        sql("SELECT * FROM usage_hourly"),
        String::from_utf8_lossy(&std::fs::read(env.path("exports/chargeback-2025-01.csv")).unwrap_or_default())
            .into_owned(),
    ]
}

fn warehouse(inbox: &std::path::Path, config: &std::path::Path) -> Env {
    let env = Env::init();
    for f in ["prices.csv", "principals.csv"] {
        std::fs::copy(config.join(f), env.wh().join("config").join(f)).unwrap();
    }
    env.write(
        "tokenledger.toml",
        format!(
            "warehouse = \"wh\"\n[inbox]\npaths = [\"{}\"]\n[export]\ndir = \"exports\"\nbudgets = false\n",
            inbox.display()
        ),
    );
    env
}

#[test]
fn killed_runs_rerun_to_the_same_tables_and_exports() {
    let data = Env::new();
    let mut inbox = Vec::new();
    for (i, start) in ["2025-01-10", "2025-01-20", "2025-01-30"].iter().enumerate() {
        let dir = data.generate(
            &format!("d{i}"),
            &["--rows", "400", "--days", "2", "--start", start, "--seed", &i.to_string(), "--bad-rate", "0.01"],
        );
        inbox.push(dir);
    }
    let inbox_dir = data.path("inbox");
    std::fs::create_dir_all(&inbox_dir).unwrap();
    for (i, d) in inbox.iter().enumerate() {
        std::fs::copy(d.join("logs/inference.jsonl"), inbox_dir.join(format!("part-{i}.jsonl"))).unwrap();
    }
    let config = inbox[0].join("config");
    let args = ["-q", "run", "--config", "tokenledger.toml", "--today", "2025-02-02"];

    let reference = warehouse(&inbox_dir, &config);
    let started = Instant::now();
    reference.ok(&args);
    let full = started.elapsed();
    let want = state(&reference);
    assert!(want[0].lines().count() > 1000 && !want[4].is_empty(), "the reference run did its work");

    // eight moments spread over the run reach each step (ingest, rollup, export) more than once
    let moments = 8;
    let mut outcomes = Vec::new();
    for k in 0..moments {
        let victim = warehouse(&inbox_dir, &config);
        let delay = full.mul_f64(k as f64 / (moments - 1) as f64) + Duration::from_millis(5);
        let mut child = victim.command(&args).spawn().unwrap();
        std::thread::sleep(delay);
        let killed = child.try_wait().unwrap().is_none();
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        outcomes.push(killed);
        // the next cycle takes the dead run's lock over and finishes the job
        let out = victim.run(&args);
        assert_eq!(out.status.code(), Some(0), "re-run after a kill at {delay:?}\n{}", show(&out));
        let got = state(&victim);
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!(g == w, "re-run after a kill at {delay:?}: part {i} differs from the uninterrupted run's");
        }
    }
    assert!(outcomes.iter().filter(|k| **k).count() >= moments / 2, "most kills hit a running cycle: {outcomes:?}");
}
