//! End-to-end tests of `generate`: determinism, counts, invariants, bad lines, config files.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use chrono::{Datelike, NaiveDate};
use serde_json::Value;

use super::bad_lines::{BAD_KINDS, BadKind};
use super::catalog::{
    BATCH_JOB, BUSINESS_HOURS, ENDPOINTS, ENTITIES, EntityType, GROUPS, Kind, POOLS, PRICE_CHANGES, bills_cache_writes,
};
use super::config_files::budgets_csv;
use super::context::entity_index;
use super::inference::Spend;
use super::limits::{CACHE_BLOCK, COST_CENTER_BUDGETS, GROUP_BUDGETS, MAX_DAYS, MAX_PAYLOAD_BYTES, SERVICE_GROUP};
use super::render::{BAD_REQUEST_TIME, BAD_UTF8};
use super::{GenOptions, GenSummary, generate};

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("tokenledger-gen-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&p);
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn small_opts(dir: &TempDir, rows: u64) -> GenOptions {
    let mut o = GenOptions::new(dir.0.clone());
    o.rows = rows;
    o.days = 7;
    o.users = 300;
    o
}

fn read(path: &Path) -> Vec<u8> {
    fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn split_lines(bytes: &[u8]) -> Vec<&[u8]> {
    assert!(bytes.ends_with(b"\n"), "file must end with a newline");
    bytes[..bytes.len() - 1].split(|&b| b == b'\n').collect()
}

fn expected_bad(bad_lines: u64, kind: BadKind) -> u64 {
    let n = BAD_KINDS.len() as u64;
    bad_lines / n + u64::from((kind as u64) < bad_lines % n)
}

const FIELDS: [&str; 21] = [
    "request_id",
    "client_request_id",
    "request_time",
    "endpoint_name",
    "served_entity_name",
    "served_entity_type",
    "provider",
    "requester",
    "status_code",
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "cache_creation_input_tokens",
    "reasoning_tokens",
    "execution_duration_ms",
    "request_streaming",
    "is_fallback",
    "guardrail_action",
    "usage_context",
    "request",
    "response",
];

/// The top-level keys appear exactly in FIELDS order (serde_json's Value does not keep order).
fn assert_field_order(line: &[u8]) {
    let text = std::str::from_utf8(line).expect("utf-8");
    let mut at = 0;
    for (i, f) in FIELDS.iter().enumerate() {
        let key = if i == 0 { format!("{{\"{f}\":") } else { format!(",\"{f}\":") };
        let pos = text[at..].find(&key).unwrap_or_else(|| panic!("{f} missing or out of order in {text}"));
        at += pos + key.len();
    }
}

#[test]
fn same_options_give_same_bytes() {
    let (a, b, c) = (TempDir::new("det-a"), TempDir::new("det-b"), TempDir::new("det-c"));
    let mut oa = small_opts(&a, 3000);
    oa.dup_rate = 0.02;
    oa.bad_rate = 0.01;
    let ob = GenOptions { out: b.0.clone(), ..oa.clone() };
    let sa = generate(&oa).expect("run a");
    let sb = generate(&ob).expect("run b");
    assert_eq!(sa.files.len(), 6);
    assert_eq!(sb.files.len(), sa.files.len());
    for (fa, fb) in sa.files.iter().zip(&sb.files) {
        assert_eq!(fa.file_name(), fb.file_name());
        assert!(read(fa) == read(fb), "{} differs between runs", fa.display());
    }
    let oc = GenOptions { out: c.0.clone(), seed: oa.seed + 1, ..oa.clone() };
    generate(&oc).expect("run c");
    assert_ne!(read(&a.0.join("logs/inference.jsonl")), read(&c.0.join("logs/inference.jsonl")));
}

#[test]
fn counts_and_request_ids_add_up() {
    let dir = TempDir::new("counts");
    let mut o = small_opts(&dir, 5000);
    o.dup_rate = 0.02;
    o.bad_rate = 0.02;
    let s = generate(&o).expect("generate");
    let bytes = read(&dir.0.join("logs/inference.jsonl"));
    let lines = split_lines(&bytes);
    assert_eq!(lines.len() as u64, s.lines);
    assert_eq!(s.lines, s.unique_rows + s.duplicate_lines + s.bad_lines);
    assert_eq!(s.uncompressed_bytes, bytes.len() as u64);
    assert_eq!(s.unique_rows, 5000);
    assert!(s.duplicate_lines > 0 && s.bad_lines >= 9);

    let (mut truncated, mut bad_utf8, mut missing_id, mut dups, mut conflicts) = (0u64, 0, 0, 0, 0);
    let mut first: HashMap<String, &[u8]> = HashMap::new();
    for line in &lines {
        let v: Value = match serde_json::from_slice(line) {
            Ok(v) => v,
            Err(_) if std::str::from_utf8(line).is_err() => {
                bad_utf8 += 1;
                continue;
            }
            Err(_) => {
                truncated += 1;
                continue;
            }
        };
        let Some(id) = v.get("request_id").and_then(Value::as_str) else {
            missing_id += 1;
            continue;
        };
        assert_field_order(line);
        match first.get(id) {
            None => {
                first.insert(id.to_string(), line);
            }
            Some(prev) if prev == line => dups += 1,
            Some(_) => conflicts += 1,
        }
    }
    assert_eq!(truncated, expected_bad(s.bad_lines, BadKind::TruncatedJson));
    assert_eq!(bad_utf8, expected_bad(s.bad_lines, BadKind::InvalidUtf8));
    assert_eq!(missing_id, expected_bad(s.bad_lines, BadKind::MissingRequestId));
    assert_eq!(conflicts, s.conflict_lines);
    assert_eq!(conflicts, expected_bad(s.bad_lines, BadKind::Conflict));
    assert_eq!(dups, s.duplicate_lines);
    // Every valid request and every parseable bad line other than conflicts has its own id.
    assert_eq!(first.len() as u64, s.unique_rows + s.bad_lines - s.conflict_lines - missing_id - truncated - bad_utf8);

    let manifest: Value = serde_json::from_slice(&read(&dir.0.join("manifest.json"))).expect("manifest");
    assert_eq!(manifest["lines"], s.lines);
    assert_eq!(manifest["bad_lines"], s.bad_lines);
    for f in manifest["files"].as_array().expect("files") {
        let name = f["name"].as_str().expect("name");
        assert_eq!(f["bytes"], read(&dir.0.join(name)).len() as u64, "{name}");
    }
}

#[test]
fn valid_lines_keep_the_token_invariants() {
    let dir = TempDir::new("tokens");
    let mut o = small_opts(&dir, 20_000);
    o.dup_rate = 0.01;
    let s = generate(&o).expect("generate");
    let bytes = read(&dir.0.join("logs/inference.jsonl"));
    let start = o.start.and_hms_opt(0, 0, 0).expect("midnight");
    let end = start + chrono::Duration::days(i64::from(o.days));
    let mut status_counts: HashMap<i64, u64> = HashMap::new();
    let mut per_requester: HashMap<String, u64> = HashMap::new();
    let (mut blocked, mut cache_writes, mut reasoning) = (0u64, 0u64, 0u64);
    let mut last_completion = start;
    let mut seen = std::collections::HashSet::new();
    for line in split_lines(&bytes) {
        let v: Value = serde_json::from_slice(line).expect("valid line parses");
        assert_field_order(line);
        let status = v["status_code"].as_i64().expect("status");
        *status_counts.entry(status).or_default() += 1;
        // the nightly batch job is one service principal's by design; the skew is the people's
        if v["endpoint_name"] != BATCH_JOB.endpoint {
            *per_requester.entry(v["requester"].as_str().expect("requester").to_string()).or_default() += 1;
        }
        let entity = &ENTITIES[entity_index(v["served_entity_name"].as_str().expect("entity")).expect("known")];
        assert_eq!(v["served_entity_type"], entity.etype.as_str());
        assert_eq!(v["provider"], entity.provider);
        let is_blocked = v["guardrail_action"] == "BLOCKED";
        assert!(is_blocked || v["guardrail_action"].is_null());
        if is_blocked {
            blocked += 1;
            assert_eq!(status, 400);
        }
        let tok = |f: &str| v[f].as_i64();
        let names =
            ["input_tokens", "output_tokens", "cached_input_tokens", "cache_creation_input_tokens", "reasoning_tokens"];
        let should_be_null = status == 429 || status == 400;
        for f in names {
            assert_eq!(v[f].is_null(), should_be_null, "{f} for status {status}: {v}");
        }
        if !should_be_null {
            let (input, output) = (tok("input_tokens").expect("in"), tok("output_tokens").expect("out"));
            let (cached, written) =
                (tok("cached_input_tokens").expect("c"), tok("cache_creation_input_tokens").expect("w"));
            let reason = tok("reasoning_tokens").expect("r");
            assert!(input >= 1 && output >= 0 && cached >= 0 && written >= 0 && reason >= 0);
            assert!(cached + written <= input, "{v}");
            assert!(reason <= output, "{v}");
            assert_eq!(cached % CACHE_BLOCK, 0);
            assert_eq!(written % CACHE_BLOCK, 0);
            if status >= 500 {
                assert_eq!((output, cached, written, reason), (0, 0, 0, 0));
            }
            if written > 0 {
                cache_writes += 1;
                assert!(bills_cache_writes(entity) && status == 200);
            }
            if reason > 0 {
                reasoning += 1;
                assert_eq!(entity.kind, Kind::Reason);
            }
            if entity.kind == Kind::Emb {
                assert_eq!(output, 0);
            }
        }
        if entity.kind == Kind::Emb {
            assert_eq!(v["request_streaming"], false);
        }
        let t =
            chrono::NaiveDateTime::parse_from_str(v["request_time"].as_str().expect("time"), "%Y-%m-%dT%H:%M:%S%.3fZ")
                .expect("request_time parses");
        assert!(t >= start && t < end);
        // Requests are written in completion order (start + duration), apart from duplicates and
        // the requests whose start was clamped to the start of the range.
        let done = t + chrono::Duration::milliseconds(tok("execution_duration_ms").expect("duration"));
        let first_time = seen.insert(v["request_id"].as_str().expect("id").to_string());
        if first_time && t > start {
            assert!(done >= last_completion, "out of completion order: {v}");
            last_completion = done;
        }
        match &v["usage_context"] {
            Value::Null => {}
            Value::Object(m) => {
                assert!(m["project"].is_string());
                assert!(m.len() == 1 || m["cost_center"].as_str().is_some_and(|c| c.starts_with("CC-")));
            }
            other => panic!("usage_context {other}"),
        }
        for f in ["request", "response"] {
            let doc = v[f].as_str().expect("payload string");
            serde_json::from_str::<Value>(doc).unwrap_or_else(|e| panic!("{f} is not JSON ({e}): {doc}"));
        }
    }
    let n = s.lines as f64;
    let share = |status: i64| status_counts.get(&status).copied().unwrap_or(0) as f64 / n;
    assert!((0.955..0.975).contains(&share(200)), "200 share {}", share(200));
    assert!((0.015..0.025).contains(&share(429)), "429 share {}", share(429));
    assert!(blocked > 0 && cache_writes > 0 && reasoning > 0);
    let top = per_requester.values().max().copied().unwrap_or(0) as f64 / per_requester.values().sum::<u64>() as f64;
    assert!((0.02..0.09).contains(&top), "top requester share {top}");
}

#[test]
fn gzip_decompresses_to_the_plain_bytes() {
    let (plain, gz) = (TempDir::new("plain"), TempDir::new("gz"));
    let o = small_opts(&plain, 3000);
    let og = GenOptions { out: gz.0.clone(), gzip: true, ..o.clone() };
    let sp = generate(&o).expect("plain");
    let sg = generate(&og).expect("gzip");
    assert!(!gz.0.join("logs/inference.jsonl").exists());
    let mut unzipped = Vec::new();
    flate2::read::GzDecoder::new(File::open(gz.0.join("logs/inference.jsonl.gz")).expect("open"))
        .read_to_end(&mut unzipped)
        .expect("gunzip");
    assert!(unzipped == read(&plain.0.join("logs/inference.jsonl")));
    assert_eq!(sp.uncompressed_bytes, sg.uncompressed_bytes);
    assert_eq!(sp.lines, sg.lines);
}

#[test]
fn every_bad_kind_appears() {
    let dir = TempDir::new("bad");
    let mut o = small_opts(&dir, 2000);
    o.bad_rate = 0.05;
    let s = generate(&o).expect("generate");
    assert!(s.bad_lines >= 9, "{s:?}");
    let bytes = read(&dir.0.join("logs/inference.jsonl"));
    let mut seen = [0u64; 9];
    let mut ids: HashMap<String, Vec<u8>> = HashMap::new();
    for line in split_lines(&bytes) {
        if line.windows(2).any(|w| w == BAD_UTF8) {
            seen[BadKind::InvalidUtf8 as usize] += 1;
            continue;
        }
        let Ok(v) = serde_json::from_slice::<Value>(line) else {
            seen[BadKind::TruncatedJson as usize] += 1;
            continue;
        };
        let Some(id) = v.get("request_id").and_then(Value::as_str) else {
            seen[BadKind::MissingRequestId as usize] += 1;
            continue;
        };
        if ids.get(id).is_some_and(|prev| prev != line) {
            seen[BadKind::Conflict as usize] += 1;
        }
        ids.entry(id.to_string()).or_insert_with(|| line.to_vec());
        if v["output_tokens"] == -5 {
            seen[BadKind::NegativeOutputTokens as usize] += 1;
        }
        if v["request_time"] == BAD_REQUEST_TIME {
            seen[BadKind::BadRequestTime as usize] += 1;
        }
        if v["status_code"] == 700 {
            seen[BadKind::Status700 as usize] += 1;
        }
        if v["input_tokens"] == "lots" {
            seen[BadKind::InputTokensString as usize] += 1;
        }
        if let (Some(c), Some(i)) = (v["cached_input_tokens"].as_i64(), v["input_tokens"].as_i64())
            && c > i
        {
            seen[BadKind::CachedAboveInput as usize] += 1;
        }
    }
    for kind in BAD_KINDS {
        assert!(seen[kind as usize] >= 1, "{kind:?} missing");
        assert_eq!(seen[kind as usize], expected_bad(s.bad_lines, kind), "{kind:?}");
    }
}

#[test]
fn bad_lines_are_only_added() {
    let (clean, dirty) = (TempDir::new("clean"), TempDir::new("dirty"));
    let mut o = small_opts(&clean, 3000);
    o.dup_rate = 0.01;
    let od = GenOptions { out: dirty.0.clone(), bad_rate: 0.03, ..o.clone() };
    generate(&o).expect("clean");
    let s = generate(&od).expect("dirty");
    let (a, b) = (read(&clean.0.join("logs/inference.jsonl")), read(&dirty.0.join("logs/inference.jsonl")));
    let (a, b) = (split_lines(&a), split_lines(&b));
    assert_eq!(b.len() - a.len(), s.bad_lines as usize);
    // The clean file is a subsequence of the dirty one.
    let mut rest = a.iter().peekable();
    for line in &b {
        if rest.peek() == Some(&line) {
            rest.next();
        }
    }
    assert!(rest.next().is_none());
}

#[test]
fn payload_size_follows_the_option() {
    let (none, big) = (TempDir::new("pay0"), TempDir::new("pay2k"));
    let o = GenOptions { payload_bytes: 0, ..small_opts(&none, 500) };
    let s0 = generate(&o).expect("no payload");
    let bytes = read(&none.0.join("logs/inference.jsonl"));
    for line in split_lines(&bytes) {
        let v: Value = serde_json::from_slice(line).expect("parse");
        assert!(v["request"].is_null() && v["response"].is_null());
    }
    let s2 = generate(&GenOptions { payload_bytes: 2000, out: big.0.clone(), ..o }).expect("2 KB payload");
    let per_line = |s: &GenSummary| s.uncompressed_bytes as f64 / s.lines as f64;
    let extra = per_line(&s2) - per_line(&s0);
    assert!((1000.0..2600.0).contains(&extra), "2 KB payloads add {extra} B per line");
}

#[test]
fn invalid_options_are_rejected() {
    let dir = TempDir::new("invalid");
    let base = small_opts(&dir, 10);
    let cases = [
        GenOptions { rows: 0, ..base.clone() },
        GenOptions { days: 0, ..base.clone() },
        GenOptions { days: MAX_DAYS + 1, ..base.clone() },
        GenOptions { users: 0, ..base.clone() },
        GenOptions { payload_bytes: MAX_PAYLOAD_BYTES + 1, ..base.clone() },
        GenOptions { dup_rate: f64::NAN, ..base.clone() },
        GenOptions { dup_rate: -0.1, ..base.clone() },
        GenOptions { bad_rate: 1.5, ..base.clone() },
        GenOptions { start: NaiveDate::from_ymd_opt(1960, 1, 1).expect("date"), ..base.clone() },
        GenOptions { start: NaiveDate::from_ymd_opt(9999, 12, 1).expect("date"), ..base.clone() },
    ];
    for o in cases {
        let err = generate(&o).expect_err("must be rejected");
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
        assert!(!err.to_string().is_empty());
    }
    assert!(!dir.0.exists(), "nothing is written for invalid options");
    // Extreme but valid options work.
    let o = GenOptions { rows: 1, days: 1, users: 1, dup_rate: 1.0, bad_rate: 1.0, ..base };
    let s = generate(&o).expect("tiny run");
    assert_eq!((s.unique_rows, s.duplicate_lines, s.bad_lines, s.lines), (1, 1, 1, 3));
}

#[test]
fn config_files_have_the_agreed_shape() {
    let dir = TempDir::new("config");
    let o = small_opts(&dir, 2000);
    generate(&o).expect("generate");
    let text = |name: &str| String::from_utf8(read(&dir.0.join("config").join(name))).expect("utf-8 csv");
    for name in ["prices.csv", "principals.csv", "budgets.csv", "capacity.csv"] {
        let t = text(name);
        assert!(t.ends_with('\n') && !t.contains('\r') && !t.contains('#'), "{name}");
    }

    let prices = text("prices.csv");
    let rows: Vec<Vec<&str>> = prices.lines().map(|l| l.split(',').collect()).collect();
    assert_eq!(
        rows[0].join(","),
        "served_entity_name,effective_from,currency,input_price_per_1m,cached_input_price_per_1m,\
         output_price_per_1m,cache_write_price_per_1m,pricing_mode,retires_on"
    );
    assert_eq!(rows.len(), 1 + ENTITIES.len() + PRICE_CHANGES.len() + 1);
    assert!(rows[1..].iter().all(|r| r.len() == 9 && r[2] == "USD"));
    let keys: Vec<(&str, &str)> = rows[1..].iter().map(|r| (r[0], r[1])).collect();
    assert!(keys.windows(2).all(|w| w[0] < w[1]), "sorted by (name, effective_from)");
    let row = |name: &str, from: &str| rows.iter().find(|r| r[0] == name && r[1] == from).cloned();
    assert_eq!(row("claude-3-5-sonnet", "2023-11-28").expect("base")[6], "3.75");
    assert_eq!(row("claude-3-5-sonnet", "2025-01-05").expect("change")[6], "3.375");
    assert_eq!(row("gpt-4o", "2023-11-28").expect("base")[6], "");
    assert_eq!(row("gpt-4o-mini", "2025-02-07").expect("future price")[3], "0.12");
    assert_eq!(row("o1", "2023-11-28").expect("o1")[8], "2025-02-22");
    assert_eq!(row("llama-3-70b-pt", "2023-11-28").expect("pt")[7], "provisioned");
    assert_eq!(row("gemini-1-5-pro", "2023-11-28").expect("gemini")[4], "0.3125");

    let principals = text("principals.csv");
    let mut lines = principals.lines();
    assert_eq!(lines.next(), Some("requester,group,cost_center"));
    let n = lines.clone().count();
    assert!(n > 280 && n < 312, "{n} principals");
    assert!(lines.all(|l| l.split(',').count() == 3 && l.contains(",CC-")));

    let budgets = text("budgets.csv");
    let rows: Vec<Vec<&str>> = budgets.lines().map(|l| l.split(',').collect()).collect();
    assert_eq!(rows[0].join(","), "scope,name,period,amount,currency,thresholds");
    assert_eq!(rows.len(), 1 + GROUP_BUDGETS + COST_CENTER_BUDGETS);
    assert!(rows[1..=GROUP_BUDGETS].iter().all(|r| r[0] == "group" && r[2] == "monthly"));
    assert!(rows[GROUP_BUDGETS + 1..].iter().all(|r| r[0] == "cost_center" && r[2] == "quarterly"));
    assert!(rows[1..].iter().all(|r| r[3].parse::<f64>().is_ok_and(|a| a > 0.0) && r[4] == "USD"));

    let capacity = text("capacity.csv");
    let rows: Vec<Vec<&str>> = capacity.lines().map(|l| l.split(',').collect()).collect();
    assert_eq!(
        rows[0].join(","),
        "pool,endpoint_name,served_entity_name,cost_per_hour,currency,effective_from,effective_to,owner_group"
    );
    assert_eq!(rows.len(), 1 + POOLS.len());
    for r in &rows[1..] {
        let e = &ENTITIES[entity_index(r[2]).expect("entity")];
        assert_eq!(e.etype, EntityType::Provisioned);
        assert!(ENDPOINTS.iter().any(|ep| ep.name == r[1] && ep.models.iter().any(|(m, _)| *m == r[2])));
        assert!(r[3].parse::<f64>().is_ok_and(|rate| rate > 0.0), "{r:?}");
        assert!((GROUPS.contains(&r[7]) || r[7] == SERVICE_GROUP) && r[5] == "2025-01-01" && r[6].is_empty());
    }
    // every provisioned entity that gets traffic has its pool there: no hours go unpaid
    for ep in &ENDPOINTS {
        for (m, _) in ep.models {
            if ENTITIES[entity_index(m).expect("entity")].etype == EntityType::Provisioned {
                assert!(rows[1..].iter().any(|r| r[1] == ep.name && r[2] == *m), "{m} on {} has no pool", ep.name);
            }
        }
    }
}

#[test]
fn budgets_are_placed_one_over_one_warned_the_rest_comfortable() {
    let dir = TempDir::new("budget-placement");
    let mut o = small_opts(&dir, 1);
    o.days = 31;
    // January: a monthly budget covers the 31 days, a quarterly one 90
    let mut spend = Spend::new();
    for (g, s) in spend.by_group.iter_mut().enumerate() {
        *s = 100.0 + 37.0 * g as f64;
    }
    for (c, s) in spend.by_cost_center.iter_mut().enumerate() {
        *s = 50.0 + 11.0 * c as f64;
    }
    // one pool, busy 100 of the 744 hours, all of them the first group's
    spend.pools[0].busy_hours = 100.0;
    spend.pools[0].group_hours[0] = 100.0;
    spend.pools[0].cost_center_hours[0] = 100.0;
    let mut rates = vec![0.0; POOLS.len()];
    rates[0] = 2.0;
    let owner = GROUPS.iter().position(|g| *g == POOLS[0].owner).expect("owner") as u8;
    let csv = budgets_csv(&o, &spend, &rates, &[owner, 0, 0]);

    let charged = |name: &str| -> f64 {
        let g = GROUPS.iter().position(|g| *g == name).unwrap_or(GROUPS.len());
        let pool = if g == 0 { 200.0 } else { 0.0 } + if g == usize::from(owner) { 2.0 * 644.0 } else { 0.0 };
        spend.by_group[g] + pool
    };
    let rows: Vec<Vec<&str>> = csv.lines().skip(1).map(|l| l.split(',').collect()).collect();
    let used: Vec<f64> =
        rows.iter().filter(|r| r[0] == "group").map(|r| charged(r[1]) / r[3].parse::<f64>().expect("amount")).collect();
    assert_eq!(used.len(), GROUP_BUDGETS);
    assert_eq!(used.iter().filter(|&&u| u >= 1.0).count(), 1, "one over budget: {used:?}");
    assert_eq!(used.iter().filter(|&&u| (0.8..1.0).contains(&u)).count(), 1, "one past 80 %: {used:?}");
    assert_eq!(used.iter().filter(|&&u| u < 0.5).count(), GROUP_BUDGETS - 2, "the rest under 50 %: {used:?}");
    // the biggest spenders carry the budgets, the over-budget one is the second biggest
    let over = rows.iter().zip(&used).find(|(_, u)| **u >= 1.0).map(|(r, _)| r[1]).expect("over");
    let mut by_spend: Vec<&str> = GROUPS.iter().copied().chain([SERVICE_GROUP]).collect();
    by_spend.sort_by(|a, b| charged(b).total_cmp(&charged(a)));
    assert_eq!(over, by_spend[1]);

    // the cost centres' quarter: January's spend, forecast over 90 days
    let centers: Vec<f64> = rows
        .iter()
        .filter(|r| r[0] == "cost_center")
        .map(|r| {
            let n: u16 = r[1].trim_start_matches("CC-").parse().expect("cost centre");
            let slot = if n == 9000 { usize::from(super::limits::COST_CENTERS) } else { usize::from(n - 1000) };
            let pool = if slot == 0 { 200.0 } else { 0.0 };
            (spend.by_cost_center[slot] + pool) * 90.0 / 31.0 / r[3].parse::<f64>().expect("amount")
        })
        .collect();
    assert_eq!(centers.len(), COST_CENTER_BUDGETS);
    assert!((0.9..1.0).contains(&centers[0]), "the first forecast past 90 %: {centers:?}");
    assert!(centers[1] < 0.75, "the second forecast comfortable: {centers:?}");
}

#[test]
fn pools_are_busy_in_working_hours_or_the_night_window_and_idle_otherwise() {
    let dir = TempDir::new("pool-hours");
    // 36 % of the rows are the nightly job's
    let mut o = small_opts(&dir, 32_000);
    o.days = 14;
    o.payload_bytes = 0;
    generate(&o).expect("generate");
    let text = String::from_utf8(read(&dir.0.join("logs/inference.jsonl"))).expect("utf-8");
    // the interactive pool's traffic, and the nightly batch job's
    let pooled: Vec<(&str, &str)> =
        POOLS.iter().filter(|p| p.endpoint != BATCH_JOB.endpoint).map(|p| (p.endpoint, p.entity)).collect();
    assert_eq!(pooled.len(), 1);
    // per hour of the range: requests to the interactive pool, and all requests
    let mut pool_hours = vec![0u32; 14 * 24];
    let mut all_hours = vec![0u32; 14 * 24];
    let (mut batch, mut batch_in_window, mut batch_requesters, mut batch_inputs) =
        (0u32, 0u32, std::collections::BTreeSet::new(), Vec::new());
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else { continue };
        let (Some(ep), Some(entity), Some(t)) =
            (v["endpoint_name"].as_str(), v["served_entity_name"].as_str(), v["request_time"].as_str())
        else {
            continue;
        };
        let Ok(t) = chrono::DateTime::parse_from_rfc3339(t) else { continue };
        let h = ((t.timestamp() - 1_735_689_600) / 3600) as usize; // hours since 2025-01-01
        all_hours[h] += 1;
        if pooled.contains(&(ep, entity)) {
            pool_hours[h] += 1;
        }
        if ep == BATCH_JOB.endpoint {
            batch += 1;
            // a request starts a minute or two before it completes in the window
            batch_in_window += u32::from(BATCH_JOB.hours.contains(&(h % 24)));
            assert!((BATCH_JOB.hours.start - 1..BATCH_JOB.hours.end).contains(&(h % 24)), "{line}");
            batch_requesters.insert(v["requester"].as_str().unwrap_or_default().to_owned());
            if let Some(input) = v["input_tokens"].as_i64() {
                batch_inputs.push(input);
            }
        }
    }
    let share = f64::from(batch) / f64::from(all_hours.iter().sum::<u32>());
    assert!((BATCH_JOB.share - 0.03..BATCH_JOB.share + 0.03).contains(&share), "the batch job's share {share}");
    assert!(f64::from(batch_in_window) > 0.95 * f64::from(batch), "{batch_in_window} of {batch} in the window");
    assert_eq!(batch_requesters.len(), 1, "one service principal runs the job: {batch_requesters:?}");
    // long documents, each within the model's context
    batch_inputs.sort_unstable();
    let median = batch_inputs[batch_inputs.len() / 2];
    assert!((40_000..80_000).contains(&median), "median document {median} tokens");
    assert!(batch_inputs.last().is_some_and(|&m| m <= BATCH_JOB.max_input), "{:?}", batch_inputs.last());
    let working = |h: usize| {
        let day = NaiveDate::from_ymd_opt(2025, 1, 1).expect("date") + chrono::Days::new(h as u64 / 24);
        day.weekday().number_from_monday() <= 5 && BUSINESS_HOURS.contains(&(h % 24))
    };
    let share_in_working = |counts: &[u32]| {
        let total: u32 = counts.iter().sum();
        let working: u32 = counts.iter().enumerate().filter(|(h, _)| working(*h)).map(|(_, n)| n).sum();
        f64::from(working) / f64::from(total)
    };
    let (pools, all) = (share_in_working(&pool_hours), share_in_working(&all_hours));
    assert!(pools > 0.85 && all < 0.65, "the RAG pool's traffic is in working hours ({pools}), the rest less ({all})");
    let idle_nights = (0..pool_hours.len()).filter(|&h| !working(h) && pool_hours[h] == 0).count();
    let busy_days = (0..pool_hours.len()).filter(|&h| working(h) && pool_hours[h] > 0).count();
    let working_hours = (0..pool_hours.len()).filter(|&h| working(h)).count();
    assert!(busy_days * 10 >= working_hours * 9, "nearly every working hour is busy: {busy_days} of {working_hours}");
    assert!(idle_nights > 50, "{idle_nights} idle hours at night or at weekends");
}
