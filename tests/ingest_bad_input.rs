//! Bad input: every kind is quarantined with its reason, nothing panics, nothing is lost.

use crate::util::{Env, MIXED, as_u64, data_files, longs, num_rows, sorted, strings, table_version};

/// `tests/data/native_mixed.jsonl`: line -> what must happen to it.
const EXPECTED_QUARANTINE: [(i64, &str); 11] = [
    (4, "conflicting_duplicate"),
    (5, "malformed_record"),
    (6, "missing_field"),
    (7, "negative_value"),
    (8, "bad_timestamp"),
    (9, "bad_status"),
    (10, "wrong_type"),
    (11, "invalid_utf8"),
    (12, "inconsistent_tokens"),
    (13, "field_too_long"),
    (18, "malformed_record"),
];

#[test]
fn each_kind_of_bad_record_is_quarantined_with_its_reason() {
    let env = Env::init();
    let s = env.ingest_json(&[MIXED]);
    // 18 lines, one blank: 17 records = 5 written + 1 duplicate + 11 quarantined
    assert_eq!(as_u64(&s, "records_read"), 17);
    assert_eq!(as_u64(&s, "rows_written"), 5);
    assert_eq!(as_u64(&s, "duplicates_skipped"), 1);
    assert_eq!(as_u64(&s, "quarantined"), 11);
    assert_eq!(s["quarantined_by_reason"]["malformed_record"], 2);

    let q = env.rows("quarantine");
    let mut got: Vec<(i64, String)> =
        longs(&q, "line_number").into_iter().zip(strings(&q, "reason_code").into_iter().map(Option::unwrap)).collect();
    got.sort();
    let want: Vec<(i64, String)> = EXPECTED_QUARANTINE.iter().map(|(l, r)| (*l, r.to_string())).collect();
    assert_eq!(got, want);
    for (reason, raw) in strings(&q, "reason").iter().zip(strings(&q, "raw")) {
        assert!(reason.as_ref().is_some_and(|r| r.len() > 10), "a reason a person can read");
        assert!(raw.is_some_and(|r| !r.is_empty()), "the raw text is kept");
    }
    let files = strings(&q, "source_file");
    assert!(files.iter().all(|f| f.as_ref().unwrap().ends_with("native_mixed.jsonl")));
    // the conflicting line names its request id; the written version is the first one
    let ids = strings(&q, "request_id");
    assert!(ids.contains(&Some("req-0002".to_string())));
    let rows = env.rows("inference");
    assert_eq!(sorted(strings(&rows, "request_id")), vec!["req-0001", "req-0002", "req-0012", "req-0013", "req-0014"]);
    let out: Vec<i64> = longs(&rows, "output_tokens");
    assert!(!out.contains(&999), "the conflicting version was not written");
    // 429 without counts: zero tokens, marked absent
    let sources = strings(&rows, "token_count_source");
    assert_eq!(sources.iter().filter(|s| s.as_deref() == Some("absent")).count(), 1);
}

#[test]
fn over_long_lines_are_quarantined_not_buffered() {
    let env = Env::init();
    let first = crate::util::mixed_lines(1).remove(0);
    let huge = first.replace("héllo", &"y".repeat(50_000)).replace("req-0001", "req-huge");
    let f = env.write("huge.jsonl", format!("{first}\n{huge}\n"));
    let s = env.ingest_json(&["--max-line-bytes", "10000", f.to_str().unwrap()]);
    assert_eq!(as_u64(&s, "rows_written"), 1);
    assert_eq!(s["quarantined_by_reason"]["line_too_long"], 1);
    let q = env.rows("quarantine");
    assert_eq!(longs(&q, "line_number"), vec![2]);
    assert!(longs(&q, "raw_bytes")[0] > 50_000);
    assert!(strings(&q, "raw")[0].as_ref().unwrap().len() <= 4096);
}

#[test]
fn too_many_quarantined_records_fail_and_write_nothing() {
    let env = Env::init();
    let err = env.fails(&["ingest", "--max-quarantine-ratio", "0.1", MIXED], 4);
    assert!(err.contains("quarantined") && err.contains("nothing was written"), "{err}");
    assert_eq!(table_version(&env.wh().join("inference")), 0);
    assert_eq!(table_version(&env.wh().join("quarantine")), 0);
    // and the file is not marked as ingested: a run with a looser limit takes it
    let s = env.ingest_json(&["--max-quarantine-ratio", "0.9", MIXED]);
    assert_eq!(as_u64(&s, "rows_written"), 5);
}

#[test]
fn a_corrupt_file_fails_the_run_naming_it_and_commits_nothing() {
    let env = Env::init();
    let good = env.generate("data", &["--rows", "200", "--days", "1", "--gzip"]);
    let bytes = std::fs::read(good.join("logs/inference.jsonl.gz")).unwrap();
    let broken = env.write("in/broken.jsonl.gz", &bytes[..bytes.len() / 2]);
    let fine = env.write("in/fine.jsonl", std::fs::read(MIXED).unwrap());
    let err = env.fails(&["ingest", fine.to_str().unwrap(), broken.to_str().unwrap()], 1);
    assert!(err.contains("broken.jsonl.gz"), "{err}");
    assert_eq!(table_version(&env.wh().join("inference")), 0, "nothing committed");
    assert!(data_files(&env.wh().join("inference")).is_empty());
}

#[test]
fn generated_bad_lines_are_all_accounted_for() {
    let env = Env::init();
    let data = env.generate("data", &["--rows", "2000", "--days", "3", "--bad-rate", "0.02"]);
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("manifest.json")).unwrap()).unwrap();
    let s = env.ingest_json(&[data.join("logs").to_str().unwrap()]);
    assert_eq!(as_u64(&s, "records_read"), as_u64(&manifest, "lines"));
    assert_eq!(as_u64(&s, "rows_written"), as_u64(&manifest, "unique_rows"));
    assert_eq!(as_u64(&s, "quarantined"), as_u64(&manifest, "bad_lines"));
    assert_eq!(as_u64(&s, "duplicates_skipped"), as_u64(&manifest, "duplicate_lines"));
    let reasons = s["quarantined_by_reason"].as_object().unwrap();
    for r in [
        "malformed_record",
        "missing_field",
        "negative_value",
        "bad_timestamp",
        "bad_status",
        "wrong_type",
        "invalid_utf8",
        "inconsistent_tokens",
        "conflicting_duplicate",
    ] {
        assert!(reasons.contains_key(r), "no {r} in {reasons:?}");
    }
    assert_eq!(num_rows(&env.rows("quarantine")) as u64, as_u64(&manifest, "bad_lines"));
}

#[test]
fn a_file_of_garbage_is_quarantined_whole_with_its_fingerprint() {
    // More rejects than are held back while the file's fingerprint is unknown (50,000).
    let env = Env::init();
    let f = env.write("garbage.jsonl", "{nope\n".repeat(60_000));
    let s = env.ingest_json(&[f.to_str().unwrap()]);
    assert_eq!(as_u64(&s, "quarantined"), 60_000);
    let q = env.rows("quarantine");
    assert_eq!(num_rows(&q), 60_000);
    let fps = sorted(strings(&q, "source_file_fingerprint"));
    assert_eq!(fps.first(), fps.last());
    assert_eq!(fps[0], s["files"][0]["fingerprint"].as_str().unwrap());
}

#[test]
fn bad_rows_of_a_litellm_csv_are_quarantined_with_their_line_id_and_text() {
    let env = Env::init();
    let header = "request_id,call_type,startTime,endTime,model,model_group,user,prompt_tokens,completion_tokens,status";
    let good =
        |id: &str| format!("{id},acompletion,2025-03-01 10:00:00,2025-03-01 10:00:01,m,chat,a@x.com,10,2,success");
    let csv = [
        header.to_string(),
        good("r-1"),
        // a bad time: the adapter refuses it, naming the row's request id
        "r-2,acompletion,yesterday,,m,chat,a@x.com,10,2,success".to_string(),
        "short,row".to_string(),
        // a quoted cell over two lines is one row, on the line it starts on
        "r-3,\"acompletion\nsecond line\",2025-03-01 10:00:00,,m,chat,a@x.com,10,2,success".to_string(),
        good("r-4"),
    ]
    .join("\r\n");
    let f = env.write("spend.csv", format!("{csv}\r\n"));
    let s = env.ingest_json(&["--source", "litellm", f.to_str().unwrap()]);
    assert_eq!(as_u64(&s, "records_read"), 5);
    assert_eq!(as_u64(&s, "rows_written"), 3);
    assert_eq!(written(&env), vec![(2, "r-1".to_string()), (5, "r-3".to_string()), (7, "r-4".to_string())]);
    let q = env.rows("quarantine");
    let mut got: Vec<_> = longs(&q, "line_number")
        .into_iter()
        .zip(strings(&q, "reason_code"))
        .zip(strings(&q, "request_id"))
        .zip(strings(&q, "raw"))
        .map(|(((line, code), id), raw)| (line, code, id, raw))
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            (
                3,
                Some("bad_timestamp".to_string()),
                Some("r-2".to_string()),
                Some("r-2,acompletion,yesterday,,m,chat,a@x.com,10,2,success".to_string())
            ),
            (4, Some("malformed_record".to_string()), None, Some("short,row".to_string())),
        ]
    );
}

#[test]
fn a_line_repeated_in_one_file_is_a_duplicate_or_again_a_conflict() {
    let env = Env::init();
    let line = |id: &str, tokens: u32| {
        format!(
            r#"{{"request_id":"{id}","request_time":"2025-02-01T00:00:0{tokens}Z","endpoint_name":"e","served_entity_name":"m","requester":"r","status_code":200,"input_tokens":{tokens},"output_tokens":1}}"#
        )
    };
    let first = env.write("in/first.jsonl", line("a", 1) + "\n");
    env.ingest_json(&[first.to_str().unwrap()]);
    // "a" again with other content, three times; "b" new, then twice again; "c" in two versions,
    // the first repeated after the second
    let lines = [line("a", 2), line("b", 3), line("a", 2), line("b", 3), line("c", 4), line("c", 5), line("c", 4)];
    let lines = [&lines[..], &lines[..1], &lines[1..2]].concat();
    let second = env.write("in/second.jsonl", lines.join("\n") + "\n");
    let s = env.ingest_json(&[second.to_str().unwrap()]);
    assert_eq!(as_u64(&s, "records_read"), 9, "{s}");
    assert_eq!(as_u64(&s, "rows_written"), 2, "{s}");
    assert_eq!(as_u64(&s, "duplicates_skipped"), 3, "{s}");
    assert_eq!(s["quarantined_by_reason"]["conflicting_duplicate"], 4, "{s}");
    let q = env.rows("quarantine");
    let mut got: Vec<(i64, Option<String>)> =
        longs(&q, "line_number").into_iter().zip(strings(&q, "request_id")).collect();
    got.sort();
    let id = |s: &str| Some(s.to_string());
    assert_eq!(got, vec![(1, id("a")), (3, id("a")), (6, id("c")), (8, id("a"))]);
    assert_eq!(written(&env), vec![(1, "a".to_string()), (2, "b".to_string()), (5, "c".to_string())]);
}

/// The rows of the inference table: their source line and request id, sorted.
fn written(env: &Env) -> Vec<(i64, String)> {
    let rows = env.rows("inference");
    let mut written: Vec<(i64, String)> = longs(&rows, "source_line")
        .into_iter()
        .zip(strings(&rows, "request_id").into_iter().map(Option::unwrap))
        .collect();
    written.sort();
    written
}
