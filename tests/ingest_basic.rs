//! Clean ingests: exact counts, exactly once across runs and files, gzip, directories.

use crate::util::{Env, as_u64, files_holding, longs, num_rows, show, sorted, strings, table_version};

fn gen_summary(dir: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap()
}

#[test]
fn clean_ingest_counts_exactly() {
    let env = Env::init();
    let data = env.generate("data", &["--rows", "3000", "--days", "5", "--dup-rate", "0.01"]);
    let manifest = gen_summary(&data);
    let unique = as_u64(&manifest, "unique_rows");
    let dups = as_u64(&manifest, "duplicate_lines");
    assert!(dups > 0, "the generator should have made duplicates");
    let s = env.ingest_json(&[data.join("logs").to_str().unwrap()]);
    for key in [
        "files_read",
        "files_skipped",
        "records_read",
        "rows_written",
        "duplicates_skipped",
        "quarantined",
        "quarantined_by_reason",
    ] {
        assert!(s.get(key).is_some(), "summary lacks {key}: {s}");
    }
    assert_eq!(as_u64(&s, "files_read"), 1);
    assert_eq!(as_u64(&s, "records_read"), unique + dups);
    assert_eq!(as_u64(&s, "rows_written"), unique);
    assert_eq!(as_u64(&s, "duplicates_skipped"), dups);
    assert_eq!(as_u64(&s, "quarantined"), 0);
    assert_eq!(s["partitions_touched"].as_array().unwrap().len(), 5);

    let rows = env.rows("inference");
    assert_eq!(num_rows(&rows) as u64, unique);
    let mut ids = sorted(strings(&rows, "request_id"));
    ids.dedup();
    assert_eq!(ids.len() as u64, unique, "request ids are unique in the table");
    // the partition directories are the request dates
    let parts: Vec<_> = std::fs::read_dir(env.wh().join("inference"))
        .unwrap()
        .filter_map(|e| {
            let n = e.unwrap().file_name().to_string_lossy().into_owned();
            n.starts_with("request_date=").then_some(n)
        })
        .collect();
    assert_eq!(parts.len(), 5, "{parts:?}");
}

#[test]
fn same_file_twice_or_renamed_adds_nothing() {
    let env = Env::init();
    let data = env.generate("data", &["--rows", "500", "--days", "2"]);
    let file = data.join("logs/inference.jsonl");
    let first = env.ingest_json(&[file.to_str().unwrap()]);
    let version = table_version(&env.wh().join("inference"));
    let rows = num_rows(&env.rows("inference"));
    assert_eq!(rows as u64, as_u64(&first, "rows_written"));

    let again = env.ingest_json(&[file.to_str().unwrap()]);
    assert_eq!(as_u64(&again, "files_skipped"), 1);
    assert_eq!(as_u64(&again, "rows_written"), 0);
    assert_eq!(again["files"][0]["status"], "skipped_already_ingested");
    let renamed = env.path("elsewhere/renamed.jsonl");
    std::fs::create_dir_all(renamed.parent().unwrap()).unwrap();
    std::fs::copy(&file, &renamed).unwrap();
    let again = env.ingest_json(&[renamed.to_str().unwrap()]);
    assert_eq!(as_u64(&again, "files_skipped"), 1);
    assert_eq!(table_version(&env.wh().join("inference")), version, "no new commit");
    assert_eq!(num_rows(&env.rows("inference")), rows);

    let text = env.ok(&["ingest", file.to_str().unwrap()]);
    assert!(text.contains("skipped: already ingested"), "{text}");
}

#[test]
fn overlapping_files_count_each_request_once() {
    let env = Env::init();
    let data = env.generate("data", &["--rows", "300", "--days", "2", "--dup-rate", "0"]);
    let text = std::fs::read_to_string(data.join("logs/inference.jsonl")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 300);
    let a = env.write("in/a.jsonl", lines[..200].join("\n") + "\n");
    let b = env.write("in/b.jsonl", lines[100..].join("\n") + "\n");
    let s = env.ingest_json(&[a.to_str().unwrap()]);
    assert_eq!(as_u64(&s, "rows_written"), 200);
    let s = env.ingest_json(&[b.to_str().unwrap()]);
    assert_eq!(as_u64(&s, "rows_written"), 100);
    assert_eq!(as_u64(&s, "duplicates_skipped"), 100);
    assert_eq!(num_rows(&env.rows("inference")), 300);
}

/// A line of date 2025-02-0`day` with the request id `id`; `tokens` tells a conflicting copy.
fn dated_line(id: &str, day: u32, second: u32, tokens: u32) -> String {
    format!(
        r#"{{"request_id":"{id}","request_time":"2025-02-0{day}T00:{:02}:{:02}Z","endpoint_name":"e","served_entity_name":"m","requester":"r","status_code":200,"input_tokens":{tokens},"output_tokens":1}}"#,
        second / 60 % 60,
        second % 60
    )
}

#[test]
fn every_row_reaches_its_date_partition_in_file_order() {
    let env = Env::init();
    // long runs of one date broken by a duplicate and a conflicting copy (written as slices
    // of the parsed batch), then dates interleaved row by row (copied out date by date)
    let mut long_runs = Vec::new();
    for n in 0..2000u32 {
        let day = 1 + n / 1000;
        long_runs.push(dated_line(&format!("d{day}-{n}"), day, n, 5));
        match n {
            500 => long_runs.push(dated_line("d1-10", 1, 10, 5)),
            1500 => long_runs.push(dated_line("d2-1200", 2, 1200, 6)),
            _ => {}
        }
    }
    let mut interleaved = Vec::new();
    for n in 0..400u32 {
        let day = 3 + n % 2;
        interleaved.push(dated_line(&format!("d{day}-{n}"), day, n, 7));
        if n % 50 == 49 {
            interleaved.push(dated_line(&format!("d{day}-{n}"), day, n, 7));
        }
    }
    // the line where each request id first appears: the rows the table must hold
    let mut expected = std::collections::BTreeMap::new();
    for (file, lines) in [("a.jsonl", &long_runs), ("b.jsonl", &interleaved)] {
        let path = env.write(&format!("in/{file}"), lines.join("\n") + "\n");
        let s = env.ingest_json(&[path.to_str().unwrap()]);
        assert_eq!(as_u64(&s, "quarantined"), u64::from(file == "a.jsonl"), "{s}");
        for (i, line) in lines.iter().enumerate() {
            let id = line.split('"').nth(3).unwrap().to_string();
            expected.entry(id).or_insert(i as i64 + 1);
        }
    }
    assert_eq!(expected.len(), 2400);

    let mut seen = std::collections::BTreeMap::new();
    for file in crate::util::data_files(&env.wh().join("inference")) {
        let dir = file.parent().unwrap().file_name().unwrap().to_string_lossy().into_owned();
        let rows = crate::util::read_table_file(&file);
        let ids = strings(&rows, "request_id");
        let lines = longs(&rows, "source_line");
        assert!(lines.windows(2).all(|w| w[0] < w[1]), "{file:?}: rows out of file order: {lines:?}");
        for (id, line) in ids.into_iter().zip(lines) {
            let id = id.unwrap();
            let day = id[1..2].parse::<u32>().unwrap();
            assert_eq!(dir, format!("request_date=2025-02-0{day}"), "{id} is in {file:?}");
            assert!(seen.insert(id.clone(), line).is_none(), "{id} was written twice");
        }
    }
    assert_eq!(seen, expected);
}

#[test]
fn data_files_encode_each_column_as_the_writer_settings_say() {
    use parquet::basic::{Compression, Encoding};
    let env = Env::init();
    let data = env.generate("data", &["--rows", "300", "--days", "1"]);
    env.ingest_json(&[data.join("logs").to_str().unwrap()]);
    let files = crate::util::data_files(&env.wh().join("inference"));
    let file = std::fs::File::open(&files[0]).unwrap();
    let meta = parquet::file::reader::SerializedFileReader::new(file).unwrap();
    let meta = parquet::file::reader::FileReader::metadata(&meta);
    let chunk = |name: &str| {
        let row_group = meta.row_group(0);
        let i = (0..row_group.num_columns()).find(|&i| row_group.column(i).column_path().string() == name).unwrap();
        let column = row_group.column(i);
        (column.compression(), column.encodings().collect::<Vec<_>>())
    };
    for column in ["request_time", "source_line"] {
        let (compression, encodings) = chunk(column);
        assert!(encodings.contains(&Encoding::DELTA_BINARY_PACKED), "{column}: {encodings:?}");
        assert!(!encodings.contains(&Encoding::RLE_DICTIONARY), "{column}: {encodings:?}");
        assert!(matches!(compression, Compression::ZSTD(_)), "{column}: {compression:?}");
    }
    assert_eq!(chunk("record_fingerprint").0, Compression::UNCOMPRESSED);
    for column in ["request_id", "request", "response", "input_tokens", "execution_duration_ms", "output_tokens"] {
        let (compression, encodings) = chunk(column);
        assert!(!encodings.contains(&Encoding::RLE_DICTIONARY), "{column}: {encodings:?}");
        assert!(matches!(compression, Compression::ZSTD(_)), "{column}: {compression:?}");
    }
    assert!(chunk("served_entity_name").1.contains(&Encoding::RLE_DICTIONARY));
}

#[test]
fn directories_gzip_and_empty_files() {
    let env = Env::init();
    let plain = env.generate("plain", &["--rows", "400", "--days", "3"]);
    let gz = env.generate("gz", &["--rows", "400", "--days", "3", "--gzip"]);
    assert!(gz.join("logs/inference.jsonl.gz").is_file());
    // a directory holding the gzip file, an empty file and a file in a subdirectory
    let dir = env.path("inbox");
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::copy(gz.join("logs/inference.jsonl.gz"), dir.join("sub/day1.jsonl.gz")).unwrap();
    std::fs::write(dir.join("empty.jsonl"), "").unwrap();
    std::fs::write(dir.join(".hidden.jsonl"), "garbage").unwrap();
    std::fs::write(dir.join("README.txt"), "not a log").unwrap();
    let s = env.ingest_json(&[dir.to_str().unwrap()]);
    assert_eq!(as_u64(&s, "files_read"), 2, "{s}");
    assert_eq!(as_u64(&s, "quarantined"), 0);
    let from_gz = sorted(strings(&env.rows("inference"), "request_id"));

    let env2 = Env::init();
    env2.ingest_json(&[plain.join("logs").to_str().unwrap()]);
    let from_plain = sorted(strings(&env2.rows("inference"), "request_id"));
    assert_eq!(from_gz.len(), 400);
    assert_eq!(from_gz, from_plain, "gzip and plain give the same rows");
}

#[test]
fn payload_modes() {
    let env = Env::init();
    let line = crate::util::mixed_lines(1).remove(0);
    let f = env.write("one.jsonl", format!("{line}\n"));
    let keep = Env::init();
    keep.ingest_json(&[f.to_str().unwrap()]);
    let kept = strings(&keep.rows("inference"), "request")[0].clone().unwrap();
    assert!(kept.contains("東京"), "{kept}");

    let out = ingest_hashed(&env, Some(KEY), &f);
    assert!(out.status.success(), "{}", show(&out));
    let hashed = strings(&env.rows("inference"), "request")[0].clone().unwrap();
    assert!(hashed.starts_with("hmac-sha256:") && hashed.len() == 12 + 8 + 1 + 64, "{hashed}");
    assert!(!hashed.contains("東京"));

    let dropped = Env::init();
    dropped.ingest_json(&["--payloads", "drop", f.to_str().unwrap()]);
    let rows = dropped.rows("inference");
    assert_eq!(strings(&rows, "request"), vec![None]);
    assert_eq!(strings(&rows, "response"), vec![None]);
    // usage facts are the same whatever the payload mode
    assert_eq!(longs(&rows, "input_tokens"), longs(&keep.rows("inference"), "input_tokens"));
}

const KEY: &str = "payload-key-for-tests-0123456789";

/// `ingest --payloads hash FILE` with `key` (if any) in TOKENLEDGER_PAYLOAD_KEY, logging all.
fn ingest_hashed(env: &Env, key: Option<&str>, file: &std::path::Path) -> std::process::Output {
    let mut c = env.command(&["ingest", "--payloads", "hash", file.to_str().unwrap()]);
    c.env("RUST_LOG", "debug");
    if let Some(key) = key {
        c.env("TOKENLEDGER_PAYLOAD_KEY", key);
    }
    c.output().unwrap()
}

/// The (request, response) cells of the one row ingested from `file` with `key`, after
/// checking that the key is nowhere in the output, the logs or the warehouse's bytes.
fn hashed_cells(key: &str, file: &std::path::Path) -> (String, String) {
    let env = Env::init();
    let out = ingest_hashed(&env, Some(key), file);
    assert!(out.status.success(), "{}", show(&out));
    assert!(!show(&out).contains(key), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("DEBUG"), "the logs were on: {}", show(&out));
    assert_eq!(files_holding(&env.wh(), key), Vec::<std::path::PathBuf>::new(), "the key is in the warehouse");
    let rows = env.rows("inference");
    let request = strings(&rows, "request")[0].clone().unwrap();
    assert!(!files_holding(&env.wh(), &request).is_empty(), "the search sees the rows' values");
    (request, strings(&rows, "response")[0].clone().unwrap())
}

#[test]
fn hashed_payloads_join_within_one_key_only() {
    let env = Env::new();
    let line = crate::util::mixed_lines(1).remove(0);
    let f = env.write("one.jsonl", format!("{line}\n"));
    let key_id = |cell: &str| cell.split(':').nth(1).unwrap().to_string();

    let (request, response) = hashed_cells(KEY, &f);
    assert_eq!(hashed_cells(KEY, &f), (request.clone(), response.clone()), "same text, same key: same cells");
    assert_ne!(request, response);
    assert_eq!(key_id(&request), key_id(&response));
    assert!(key_id(&request).len() == 8 && key_id(&request).bytes().all(|b| b.is_ascii_hexdigit()), "{request}");

    let (other_request, _) = hashed_cells("another-key-of-32-bytes-abcdefgh", &f);
    assert_ne!(key_id(&other_request), key_id(&request), "another key, another key id");
    assert_ne!(other_request.rsplit(':').next(), request.rsplit(':').next(), "another key, another hash");
}

#[test]
fn hashing_without_a_key_is_refused_and_writes_nothing() {
    let line = crate::util::mixed_lines(1).remove(0);
    for key in [None, Some(""), Some("fifteen-bytes!!")] {
        let env = Env::init();
        let f = env.write("one.jsonl", format!("{line}\n"));
        let out = ingest_hashed(&env, key, &f);
        assert_eq!(out.status.code(), Some(2), "a usage error: {}", show(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("set it to at least 16 random bytes") && err.contains("TOKENLEDGER_PAYLOAD_KEY"), "{err}");
        if let Some(key) = key.filter(|k| !k.is_empty()) {
            assert!(!err.contains(key), "the key is not repeated: {err}");
        }
        assert_eq!(table_version(&env.wh().join("inference")), 0, "nothing committed");
        assert_eq!(table_version(&env.wh().join("quarantine")), 0, "nothing committed");
    }
}

#[test]
fn text_summary_is_tidy() {
    let env = Env::init();
    let data = env.generate("data", &["--rows", "1500", "--days", "2"]);
    let out = env.ok(&["ingest", data.join("logs").to_str().unwrap()]);
    assert!(out.contains("rows written"), "{out}");
    assert!(out.contains("1,500"), "thousands separators: {out}");
    assert!(out.contains("records/s"), "{out}");
    assert!(out.contains("partitions touched"), "{out}");
}

#[test]
fn sample_data_ingests_as_its_manifest_says() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("sample_data/manifest.json")).unwrap()).unwrap();
    let env = Env::init();
    let s = env.ingest_json(&[root.join("sample_data/logs").to_str().unwrap()]);
    assert_eq!(as_u64(&s, "records_read"), as_u64(&manifest, "lines"));
    assert_eq!(as_u64(&s, "rows_written"), as_u64(&manifest, "unique_rows"));
    assert_eq!(as_u64(&s, "duplicates_skipped"), as_u64(&manifest, "duplicate_lines"));
    assert_eq!(as_u64(&s, "quarantined"), as_u64(&manifest, "bad_lines"));
    assert_eq!(s["partitions_touched"].as_array().unwrap().len(), 31);
}

#[test]
fn look_alike_files_are_told_apart_and_fingerprints_are_stable() {
    // Same size, same first and last MiB, one request changed in the middle: the quick
    // fingerprint collides, the full one does not.
    let env = Env::init();
    let data = env.generate("data", &["--rows", "6000", "--days", "2", "--dup-rate", "0"]);
    let text = std::fs::read_to_string(data.join("logs/inference.jsonl")).unwrap();
    assert!(text.len() > 3 << 20, "the file must be longer than head + tail");
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let mid = lines.len() / 2;
    let id = lines[mid][15..51].to_string();
    let mut other_id = id.clone();
    other_id.replace_range(0..4, if id.starts_with("ffff") { "eeee" } else { "ffff" });
    lines[mid] = lines[mid].replace(&id, &other_id);
    let a = env.write("a.jsonl", text.clone());
    let b = env.write("b.jsonl", lines.join("\n") + "\n");
    assert_eq!(std::fs::metadata(&a).unwrap().len(), std::fs::metadata(&b).unwrap().len());

    let first = env.ingest_json(&[a.to_str().unwrap()]);
    let second = env.ingest_json(&[b.to_str().unwrap()]);
    assert_eq!(second["files"][0]["status"], "ingested", "{second}");
    assert_eq!(as_u64(&second, "rows_written"), 1);
    assert_eq!(as_u64(&second, "duplicates_skipped"), 5999);
    assert_ne!(first["files"][0]["fingerprint"], second["files"][0]["fingerprint"]);
    // both are known now, whichever way they come back
    let again = env.ingest_json(&[b.to_str().unwrap(), a.to_str().unwrap()]);
    assert_eq!(as_u64(&again, "files_skipped"), 2, "{again}");
    // the fingerprint hashed while reading equals the one hashed up front
    let copy = env.write("copy-of-a.jsonl", text);
    let skipped = env.ingest_json(&[copy.to_str().unwrap()]);
    assert_eq!(skipped["files"][0]["fingerprint"], first["files"][0]["fingerprint"]);
}

#[test]
fn a_warehouse_of_an_earlier_version_gains_the_new_columns_and_its_rows_read_them_as_null() {
    use std::sync::Arc;

    use tokenledger::warehouse::Warehouse;
    use tokenledger::warehouse::schema::{INFERENCE, INFERENCE_PARTITION, inference_schema};
    // an inference table as the version before service_tier and requester_type wrote it, with
    // one row in it
    let env = Env::new();
    let full = inference_schema();
    // the first release's columns end with `response`; every column after it was added since
    let first = full.fields().iter().position(|f| f.name() == "response").unwrap() + 1;
    let old = Arc::new(arrow::datatypes::Schema::new(full.fields()[..first].to_vec()));
    let row = r#"{"request_id":"old-1","source":"native","source_file":"/logs/a.jsonl","source_line":1,
        "ingest_batch_id":"b","ingested_at":"2025-03-02T00:00:00Z","record_fingerprint":7,
        "request_time":"2025-03-01T10:00:00Z","request_date":"2025-03-01","endpoint_name":"chat",
        "served_entity_name":"gpt-4o","requester":"a@example.com","status_code":200,"is_fallback":false,
        "input_tokens":10,"cache_read_input_tokens":0,"cache_creation_input_tokens":0,"output_tokens":2,
        "token_count_source":"reported"}"#
        .replace('\n', "");
    let batch = arrow::json::ReaderBuilder::new(old.clone()).build(row.as_bytes()).unwrap().next().unwrap().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let wh = Warehouse::new(env.wh().to_str().unwrap()).unwrap();
        let table = wh.create_table(INFERENCE, &old, INFERENCE_PARTITION).await.unwrap();
        table.write(vec![batch]).with_save_mode(deltalake::protocol::SaveMode::Append).await.unwrap();
    });
    // init (and any command that opens the table) adds the columns in place
    let out = env.ok(&["init"]);
    assert!(out.contains("inference"), "{out}");
    let line = r#"{"request_id":"new-1","request_time":"2025-03-01T11:00:00Z","endpoint_name":"chat","served_entity_name":"gpt-4o","requester":"b@example.com","status_code":200,"input_tokens":5,"output_tokens":1,"service_tier":"Default","requester_type":"SERVICE_PRINCIPAL","web_search_requests":2}"#;
    let file = env.write("new.jsonl", format!("{line}\n"));
    env.ingest_json(&[file.to_str().unwrap()]);
    let got = env.ok(&[
        "--format",
        "csv",
        "sql",
        "SELECT request_id, service_tier, requester_type, web_search_requests FROM inference ORDER BY request_id",
    ]);
    assert_eq!(
        got,
        "request_id,service_tier,requester_type,web_search_requests\nnew-1,standard,service_principal,2\nold-1,,,\n",
        "{got}"
    );
}
