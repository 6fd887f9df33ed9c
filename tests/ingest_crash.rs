//! A process killed at any moment of an ingest leaves the tables as before or as after, and a
//! re-run ends exactly where an uninterrupted run does.

use std::time::Instant;

use crate::util::{Env, num_rows, read_table, sorted, strings, table_version};

#[test]
fn killed_ingests_leave_the_table_before_or_after_and_reruns_converge() {
    let env = Env::new();
    let data = env.generate("data", &["--rows", "60000", "--days", "4", "--bad-rate", "0.001"]);
    let logs = data.join("logs");

    // the reference: one uninterrupted run
    let reference = Env::init();
    let started = Instant::now();
    reference.ingest_json(&[logs.to_str().unwrap()]);
    let full = started.elapsed();
    let want_ids = sorted(strings(&reference.rows("inference"), "request_id"));
    let want_quarantine = num_rows(&reference.rows("quarantine"));
    assert_eq!(want_ids.len(), 60_000);

    // kill at moments spread over the whole run (opening, hashing, parsing, writing, committing)
    let points = 8;
    for k in 0..points {
        let victim = Env::init();
        let delay = full.mul_f64(k as f64 / (points - 1) as f64 * 1.1);
        let mut child = victim.command(&["-q", "ingest", logs.to_str().unwrap()]).spawn().unwrap();
        std::thread::sleep(delay);
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();

        let inference = victim.wh().join("inference");
        let version = table_version(&inference);
        let ids = sorted(strings(&read_table(&inference), "request_id"));
        match version {
            0 => assert!(ids.is_empty(), "kill at {delay:?}: version 0 must be empty"),
            _ => assert_eq!(ids, want_ids, "kill at {delay:?}: a committed version is complete"),
        }
        let q = num_rows(&read_table(&victim.wh().join("quarantine")));
        assert!(q == 0 || q == want_quarantine, "kill at {delay:?}: quarantine has {q} rows");

        // the re-run finishes the job, without counting anything twice
        victim.ok(&["-q", "ingest", logs.to_str().unwrap()]);
        assert_eq!(
            sorted(strings(&victim.rows("inference"), "request_id")),
            want_ids,
            "re-run after kill at {delay:?}"
        );
        assert_eq!(num_rows(&victim.rows("quarantine")), want_quarantine, "re-run after kill at {delay:?}");
    }
}
