//! Real gateway logs: Databricks endpoint_usage and payload tables and LiteLLM spend logs, on
//! the realistic fixtures of `tests/data/gateway/`. `scripts/gateway_fixtures.py` writes them
//! and, with its own implementation of the rules, the rows each must become
//! (`expected/*.jsonl`): the adapters are checked against an independent oracle, row by row.

use std::collections::BTreeMap;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Decimal128Type, Float64Type, Int32Type, Int64Type, TimestampMicrosecondType};
use serde_json::{Value, json};

use crate::util::{Env, read_table};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/gateway");

fn data(name: &str) -> String {
    format!("{DATA}/{name}")
}

/// The oracle's outcome per record number: a row, or the reason it is quarantined.
fn expected(name: &str) -> BTreeMap<i64, Value> {
    let text = std::fs::read_to_string(data(&format!("expected/{name}.jsonl"))).unwrap();
    text.lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            let line = v["line"].as_i64().unwrap();
            let outcome = match (v.get("row"), v.get("rows")) {
                (Some(row), _) => row.clone(),
                // a request the gateway retried: its failed attempts' rows, then its own
                (None, Some(rows)) => rows.clone(),
                (None, None) => json!({"quarantine": v["quarantine"]}),
            };
            (line, outcome)
        })
        .collect()
}

/// What the warehouse holds, in the oracle's shape: inference rows, and quarantine rows as
/// `{"quarantine": reason}`, in the order of the input (by line, and the oracle counts
/// records, so the n-th of each is compared: a CSV's line numbers count its header).
fn actual(env: &Env) -> Vec<Value> {
    actual_by_line(env).into_values().collect()
}

fn actual_by_line(env: &Env) -> BTreeMap<i64, Value> {
    let mut rows: BTreeMap<i64, Vec<Value>> = BTreeMap::new();
    for batch in env.rows("inference") {
        for row in 0..batch.num_rows() {
            let line = cell(&batch, "source_line", row).as_i64().unwrap();
            rows.entry(line).or_default().push(row_json(&batch, row));
        }
    }
    // one row per record, except a request with failed attempts: those rows in attempt order
    let mut out: BTreeMap<i64, Value> = rows
        .into_iter()
        .map(|(line, mut rows)| {
            if rows.len() == 1 {
                return (line, rows.pop().unwrap());
            }
            rows.sort_by_key(|r| r["attempt"].as_i64());
            (line, Value::Array(rows))
        })
        .collect();
    for batch in read_table(&env.wh().join("quarantine")) {
        for row in 0..batch.num_rows() {
            let line = cell(&batch, "line_number", row).as_i64().unwrap();
            let reason = cell(&batch, "reason_code", row);
            assert!(
                out.insert(line, json!({"quarantine": reason})).is_none(),
                "line {line} both written and quarantined"
            );
        }
    }
    out
}

fn row_json(batch: &RecordBatch, row: usize) -> Value {
    let keys = [
        "request_id",
        "client_request_id",
        "endpoint_name",
        "served_entity_name",
        "served_entity_id",
        "entity_type",
        "provider",
        "requester",
        "usage_context",
        "status_code",
        "execution_duration_ms",
        "request_streaming",
        "is_fallback",
        "attempt",
        "input_tokens",
        "cache_read_input_tokens",
        "cache_creation_input_tokens",
        "output_tokens",
        "reasoning_tokens",
        "token_count_source",
        "sampling_fraction",
        "source_reported_cost",
        "service_tier",
        "requester_type",
        "source",
    ];
    let mut obj: serde_json::Map<String, Value> = keys.iter().map(|k| (k.to_string(), cell(batch, k, row))).collect();
    obj.insert("request_time_us".into(), cell(batch, "request_time", row));
    obj.insert("has_request".into(), json!(!cell(batch, "request", row).is_null()));
    obj.insert("has_response".into(), json!(!cell(batch, "response", row).is_null()));
    Value::Object(obj)
}

/// One cell as JSON: timestamps as UTC microseconds, decimals as text, maps as objects.
fn cell(batch: &RecordBatch, name: &str, row: usize) -> Value {
    let a = batch.column_by_name(name).unwrap_or_else(|| panic!("no column {name}"));
    if a.is_null(row) {
        return Value::Null;
    }
    match a.data_type() {
        DataType::Utf8 => json!(a.as_string::<i32>().value(row)),
        DataType::Int64 => json!(a.as_primitive::<Int64Type>().value(row)),
        DataType::Int32 => json!(a.as_primitive::<Int32Type>().value(row)),
        DataType::Float64 => json!(a.as_primitive::<Float64Type>().value(row)),
        DataType::Boolean => json!(a.as_boolean().value(row)),
        DataType::Timestamp(..) => json!(a.as_primitive::<TimestampMicrosecondType>().value(row)),
        DataType::Decimal128(..) => json!(a.as_primitive::<Decimal128Type>().value_as_string(row)),
        DataType::Map(..) => {
            let entries = a.as_map().value(row);
            let (k, v) = (entries.column(0).as_string::<i32>(), entries.column(1).as_string::<i32>());
            Value::Object((0..entries.len()).map(|i| (k.value(i).to_string(), json!(v.value(i)))).collect())
        }
        other => panic!("{name}: no JSON for {other}"),
    }
}

/// Compares the outcomes record by record and says which differ, and how.
fn assert_same(what: &str, expected: &BTreeMap<i64, Value>, actual: &[Value]) {
    let mut diffs = Vec::new();
    for (i, (line, e)) in expected.iter().enumerate() {
        match actual.get(i) {
            None => diffs.push(format!("line {line}: expected {e}, got nothing")),
            Some(a) if a != e => {
                let fields: Vec<String> = match (e.as_object(), a.as_object()) {
                    (Some(eo), Some(ao)) => eo
                        .iter()
                        .filter(|(k, v)| ao.get(*k) != Some(v))
                        .map(|(k, v)| format!("{k}: expected {v}, got {}", ao.get(k).unwrap_or(&Value::Null)))
                        .collect(),
                    _ => vec![format!("expected {e}, got {a}")],
                };
                diffs.push(format!("line {line}: {}", fields.join("; ")));
            }
            Some(_) => {}
        }
    }
    for extra in actual.iter().skip(expected.len()) {
        diffs.push(format!("not expected: {extra}"));
    }
    assert!(
        diffs.is_empty(),
        "{what}: {} of {} records differ:\n{}",
        diffs.len(),
        expected.len(),
        diffs.iter().take(25).cloned().collect::<Vec<_>>().join("\n")
    );
}

fn ingest(env: &Env, args: &[&str]) -> Value {
    env.ingest_json(args)
}

/// Ingests each form of the same requests (a log, and the served_entities export it needs, if
/// any) into its own warehouse, checks each against the oracle, and that the forms give the
/// same rows.
fn golden_in_every_form(name: &str, source: &str, forms: &[(&str, Option<&str>)]) {
    let expected = expected(name);
    assert!(expected.len() >= 300, "a realistic fixture: {} records", expected.len());
    let mut outcomes = Vec::new();
    for (log, entities) in forms {
        let env = Env::init();
        let mut args: Vec<String> = entities.iter().flat_map(|e| ["--served-entities".to_string(), data(e)]).collect();
        args.push(data(log));
        let s = ingest(&env, &args.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(s["files"][0]["source"], source, "detected: {s}");
        // every record is a row, a duplicate or quarantined; a request's failed attempts add rows
        let n = |k: &str| s[k].as_u64().unwrap();
        assert_eq!(
            n("records_read") + n("failed_attempt_rows"),
            n("rows_written") + n("duplicates_skipped") + n("quarantined"),
            "{s}"
        );
        let got = actual(&env);
        assert_same(log, &expected, &got);
        outcomes.push(got);
    }
    assert!(outcomes.windows(2).all(|w| w[0] == w[1]), "the same requests in every form are the same rows");
}

#[test]
fn endpoint_usage_csv_and_json_lines_give_the_oracles_rows() {
    golden_in_every_form(
        "endpoint_usage",
        "databricks-usage",
        &[("endpoint_usage.csv", Some("served_entities.csv")), ("endpoint_usage.jsonl", Some("served_entities.jsonl"))],
    );
}

#[test]
fn payload_tables_give_the_oracles_rows() {
    golden_in_every_form("payload", "databricks-payload", &[("payload.jsonl", Some("served_entities.csv"))]);
}

#[test]
fn ai_gateway_usage_csv_and_json_lines_give_the_oracles_rows() {
    golden_in_every_form(
        "ai_gateway_usage",
        "databricks-ai-gateway",
        &[("ai_gateway_usage.csv", None), ("ai_gateway_usage.jsonl", None)],
    );
}

#[test]
fn ai_gateway_payload_tables_give_the_oracles_rows() {
    golden_in_every_form("ai_gateway_payload", "databricks-ai-gateway-payload", &[("ai_gateway_payload.jsonl", None)]);
    // --source databricks-payload names both payload shapes; the columns tell which
    let env = Env::init();
    let s = ingest(&env, &["--source", "databricks-payload", &data("ai_gateway_payload.jsonl")]);
    assert_eq!(s["files"][0]["source"], "databricks-ai-gateway-payload", "{s}");
}

#[test]
fn ai_gateway_usage_as_parquet_with_structs_maps_and_lists_gives_the_same_rows() {
    // the JSON lines export as Parquet with the table's nested types, as a download of
    // `SELECT * FROM system.ai_gateway.usage` has them (event_time kept as text: one row of
    // the fixture has a bad one on purpose, which a timestamp column could not hold)
    use std::sync::Arc;

    use arrow::datatypes::{Field, Fields, Schema};
    let text = |n: &str| Field::new(n, DataType::Utf8, true);
    let long = |n: &str| Field::new(n, DataType::Int64, true);
    let map = |n: &str| {
        let entries = Field::new(
            "entries",
            DataType::Struct(Fields::from(vec![text("keys").with_nullable(false), text("values")])),
            false,
        );
        Field::new(n, DataType::Map(Arc::new(entries), false), true)
    };
    let strukt = |n: &str, fields: Vec<Field>| Field::new(n, DataType::Struct(Fields::from(fields)), true);
    let attempt = DataType::Struct(Fields::from(vec![
        text("action"),
        text("destination"),
        Field::new("status_code", DataType::Int32, true),
        long("latency_ms"),
    ]));
    let schema = Arc::new(Schema::new(vec![
        text("event_time"),
        text("request_id"),
        text("endpoint_name"),
        map("endpoint_tags"),
        text("destination_type"),
        text("destination_name"),
        text("destination_id"),
        text("destination_model"),
        text("requester"),
        text("requester_type"),
        text("url"),
        map("request_tags"),
        long("input_tokens"),
        long("output_tokens"),
        long("total_tokens"),
        strukt(
            "token_details",
            vec![long("cache_read_input_tokens"), long("cache_creation_input_tokens"), long("output_reasoning_tokens")],
        ),
        long("latency_ms"),
        text("response_content_type"),
        Field::new("status_code", DataType::Int32, true),
        strukt(
            "routing_information",
            vec![Field::new("attempts", DataType::List(Arc::new(Field::new("element", attempt, true))), true)],
        ),
        strukt("invocation_metadata", vec![text("source"), text("service_tier")]),
        text("service_name"),
        strukt(
            "mcp_metadata",
            vec![text("json_rpc_method"), text("tool_name"), text("server_type"), text("client_name")],
        ),
    ]));
    let env = Env::init();
    let jsonl = std::fs::File::open(data("ai_gateway_usage.jsonl")).unwrap();
    let reader = arrow::json::ReaderBuilder::new(schema.clone()).build(std::io::BufReader::new(jsonl)).unwrap();
    let parquet = env.path("ai_gateway_usage.parquet");
    let mut writer =
        parquet::arrow::ArrowWriter::try_new(std::fs::File::create(&parquet).unwrap(), schema, None).unwrap();
    for batch in reader {
        writer.write(&batch.unwrap()).unwrap();
    }
    writer.close().unwrap();
    let s = ingest(&env, &[parquet.to_str().unwrap()]);
    assert_eq!(s["files"][0]["source"], "databricks-ai-gateway", "detected: {s}");
    assert_same("ai_gateway_usage.parquet", &expected("ai_gateway_usage"), &actual(&env));
}

/// The request ids of an expected file's rows (failed attempts' rows included).
fn expected_ids(name: &str) -> Vec<(String, i64)> {
    let mut ids = Vec::new();
    for outcome in expected(name).values() {
        let rows = match outcome {
            Value::Array(rows) => rows.clone(),
            row if row.get("request_id").is_some() => vec![row.clone()],
            _ => continue,
        };
        ids.extend(
            rows.iter().map(|r| (r["request_id"].as_str().unwrap().to_string(), r["status_code"].as_i64().unwrap())),
        );
    }
    ids
}

#[test]
fn a_request_in_ai_gateway_usage_and_legacy_endpoint_usage_is_one_request_in_either_order() {
    let gateway: BTreeMap<String, i64> = expected_ids("ai_gateway_usage").into_iter().collect();
    let legacy = expected_ids("endpoint_usage_migration");
    let overlap = legacy.iter().filter(|(id, _)| gateway.contains_key(id)).count();
    assert!(overlap >= 30 && legacy.len() - overlap >= 10, "a migration window: {overlap} of {}", legacy.len());
    let entities = data("served_entities.csv");
    let rows_by_id = |env: &Env| -> BTreeMap<String, (String, usize)> {
        let mut out: BTreeMap<String, (String, usize)> = BTreeMap::new();
        for batch in env.rows("inference") {
            for row in 0..batch.num_rows() {
                let id = cell(&batch, "request_id", row).as_str().unwrap().to_string();
                let source = cell(&batch, "source", row).as_str().unwrap().to_string();
                out.entry(id).or_insert((source, 0)).1 += 1;
            }
        }
        out
    };
    // one run with both: the gateway's usage table is read first whatever the names, so the
    // request keeps its cache split and attempts
    let env = Env::init();
    let s = ingest(
        &env,
        &["--served-entities", &entities, &data("endpoint_usage_migration.csv"), &data("ai_gateway_usage.jsonl")],
    );
    let legacy_file = s["files"].as_array().unwrap().iter().find(|f| f["source"] == "databricks-usage").unwrap();
    assert_eq!(s["files"][0]["source"], "databricks-ai-gateway", "{s}");
    assert_eq!(legacy_file["duplicates_skipped"], json!(overlap), "{s}");
    assert_eq!(legacy_file["rows_written"], json!(legacy.len() - overlap), "{s}");
    let rows = rows_by_id(&env);
    assert!(rows.values().all(|(_, n)| *n == 1), "every request id is one row");
    assert_eq!(rows.len(), gateway.len() + legacy.len() - overlap);
    for (id, _) in legacy.iter().filter(|(id, _)| gateway.contains_key(id)) {
        assert_eq!(rows[id].0, "databricks-ai-gateway", "{id}");
    }
    // two runs, the legacy export first: the gateway's rows of those requests are duplicates,
    // not conflicts
    let env = Env::init();
    ingest(&env, &["--served-entities", &entities, &data("endpoint_usage_migration.csv")]);
    let s = ingest(&env, &[&data("ai_gateway_usage.jsonl")]);
    assert_eq!(s["duplicates_skipped"], json!(overlap), "{s}");
    assert!(s["quarantined_by_reason"].get("conflicting_duplicate").is_none(), "{s}");
    assert_eq!(rows_by_id(&env).len(), gateway.len() + legacy.len() - overlap);
    // the same request id with another status is a different record: a conflict
    let (id, status) = legacy.iter().find(|(id, _)| gateway.contains_key(id)).unwrap();
    let other = if *status == 200 { 500 } else { 200 };
    let env = Env::init();
    ingest(&env, &[&data("ai_gateway_usage.jsonl")]);
    let line = format!(
        r#"{{"databricks_request_id":"{id}","request_time":"2025-03-09T10:00:00Z","requester":"a@example.com","status_code":{other},"input_token_count":5,"output_token_count":1,"served_entity_id":"x"}}"#
    );
    let mut csv_rows = csv::Reader::from_path(data("endpoint_usage_migration.csv")).unwrap();
    let entity =
        csv_rows.deserialize::<BTreeMap<String, String>>().next().unwrap().unwrap()["served_entity_id"].clone();
    let file = env.write(
        "conflict.jsonl",
        format!("{}\n", line.replace(r#""served_entity_id":"x""#, &format!(r#""served_entity_id":"{entity}""#))),
    );
    let s = ingest(&env, &["--source", "databricks-usage", "--served-entities", &entities, file.to_str().unwrap()]);
    assert_eq!(s["quarantined_by_reason"]["conflicting_duplicate"], json!(1), "{s}");
}

#[test]
fn litellm_csv_and_json_array_give_the_oracles_rows() {
    golden_in_every_form("litellm", "litellm", &[("litellm.csv", None), ("litellm.json", None)]);
}

#[test]
fn auto_tells_each_file_by_its_columns_and_refuses_what_fits_no_source() {
    let env = Env::init();
    for f in ["endpoint_usage.csv", "payload.jsonl", "litellm.json", "ai_gateway_usage.csv", "ai_gateway_payload.jsonl"]
    {
        std::fs::create_dir_all(env.path("inbox")).unwrap();
        std::fs::copy(data(f), env.path(&format!("inbox/{f}"))).unwrap();
    }
    let native = r#"{"request_id":"n-1","request_time":"2025-03-01T10:00:00Z","endpoint_name":"chat","served_entity_name":"m","requester":"a","status_code":200,"input_tokens":5,"output_tokens":1}"#;
    env.write("inbox/native.jsonl", format!("{native}\n"));
    let inbox = env.path("inbox");
    // Databricks rows need the served entities
    let err = env.fails(&["ingest", inbox.to_str().unwrap()], 2);
    assert!(err.contains("--served-entities") && err.contains("endpoint_usage.csv"), "{err}");
    let s = ingest(&env, &["--served-entities", &data("served_entities.csv"), inbox.to_str().unwrap()]);
    let sources: BTreeMap<String, String> = s["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().rsplit('/').next().unwrap().to_string(),
                f["source"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        sources,
        BTreeMap::from([
            ("ai_gateway_payload.jsonl".into(), "databricks-ai-gateway-payload".into()),
            ("ai_gateway_usage.csv".into(), "databricks-ai-gateway".into()),
            ("endpoint_usage.csv".into(), "databricks-usage".into()),
            ("litellm.json".into(), "litellm".into()),
            ("native.jsonl".into(), "native".into()),
            ("payload.jsonl".into(), "databricks-payload".into()),
        ])
    );
    // and the source is recorded per row
    let rows = env.rows("inference");
    let mut by_source: BTreeMap<String, usize> = BTreeMap::new();
    for s in crate::util::strings(&rows, "source") {
        *by_source.entry(s.unwrap()).or_default() += 1;
    }
    assert_eq!(by_source.len(), 6, "{by_source:?}");

    // a CSV of something else is refused whole, naming what each source lacks
    let other = env.write("other.csv", "id,when,tokens\n1,2025-03-01,5\n");
    let err = env.fails(&["ingest", other.to_str().unwrap()], 1);
    assert!(
        err.contains("fit none of the sources") && err.contains("litellm (lacks request_id, startTime, model"),
        "{err}"
    );
    // the served_entities export given as a log says where it belongs
    let err = env.fails(&["ingest", &data("served_entities.csv")], 1);
    assert!(err.contains("pass it with --served-entities"), "{err}");
    // a named source must fit the file
    let env = Env::init();
    let err = env.fails(&["ingest", "--source", "litellm", &data("endpoint_usage.csv")], 1);
    assert!(err.contains("not a CSV of LiteLLM spend logs") && err.contains("startTime"), "{err}");
}

#[test]
fn endpoint_usage_as_parquet_with_a_map_and_timestamps_gives_the_same_rows() {
    // the JSON lines export written as Parquet with the table's own types, as a download of
    // `SELECT * FROM system.serving.endpoint_usage` has them: usage_context a map, request_time
    // a timestamp
    use std::sync::Arc;

    use arrow::datatypes::{Field, Fields, Schema, TimeUnit};
    let map = DataType::Map(
        Arc::new(Field::new(
            "entries",
            DataType::Struct(Fields::from(vec![
                Field::new("keys", DataType::Utf8, false),
                Field::new("values", DataType::Utf8, true),
            ])),
            false,
        )),
        false,
    );
    let text = |n: &str| Field::new(n, DataType::Utf8, true);
    let long = |n: &str| Field::new(n, DataType::Int64, true);
    let schema = Arc::new(Schema::new(vec![
        text("workspace_id"),
        text("account_id"),
        text("client_request_id"),
        text("databricks_request_id"),
        text("requester"),
        Field::new("status_code", DataType::Int32, true),
        Field::new("request_time", DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), true),
        long("input_token_count"),
        long("output_token_count"),
        long("input_character_count"),
        long("output_character_count"),
        Field::new("usage_context", map, true),
        Field::new("request_streaming", DataType::Boolean, true),
        text("served_entity_id"),
    ]));
    let env = Env::init();
    let jsonl = std::fs::File::open(data("endpoint_usage.jsonl")).unwrap();
    let reader = arrow::json::ReaderBuilder::new(schema.clone()).build(std::io::BufReader::new(jsonl)).unwrap();
    let parquet = env.path("endpoint_usage.parquet");
    let mut writer =
        parquet::arrow::ArrowWriter::try_new(std::fs::File::create(&parquet).unwrap(), schema, None).unwrap();
    for batch in reader {
        writer.write(&batch.unwrap()).unwrap();
    }
    writer.close().unwrap();
    let s = ingest(&env, &["--served-entities", &data("served_entities.jsonl"), parquet.to_str().unwrap()]);
    assert_eq!(s["files"][0]["source"], "databricks-usage", "detected: {s}");
    assert_same("endpoint_usage.parquet", &expected("endpoint_usage"), &actual(&env));
}

#[test]
fn litellm_teams_are_the_groups_of_their_requests() {
    let env = Env::init();
    // principals.csv does not decide a LiteLLM request's group: its team does
    env.write("wh/config/principals.csv", "requester,group,cost_center\nalice@example.com,from-principals,CC-1\n");
    ingest(&env, &[&data("litellm.csv")]);
    let one = |sql: &str| -> Value {
        let out = env.ok(&["--format", "json", "sql", sql]);
        serde_json::from_str::<Value>(out.trim()).unwrap()["n"].clone()
    };
    env.ok(&["rollup"]);
    let teams = one("SELECT count(DISTINCT usage_context['team_id']) AS n FROM inference");
    assert!(teams.as_i64().unwrap() >= 3, "{teams}");
    let misplaced = "SELECT count(*) AS n FROM priced_requests p JOIN inference i ON i.request_id = p.request_id \
                     WHERE p.\"group\" <> COALESCE(i.usage_context['team_id'], CASE WHEN i.requester = 'alice@example.com' THEN 'from-principals' ELSE 'unassigned' END)";
    assert_eq!(one(misplaced), json!(0));
    // the usage tables agree with the requests, team by team
    let by_team = "SELECT count(*) AS n FROM (SELECT \"group\", sum(requests) AS r FROM usage_daily GROUP BY 1) u \
                   FULL JOIN (SELECT \"group\", count(*) AS r FROM priced_requests GROUP BY 1) p ON u.\"group\" = p.\"group\" \
                   WHERE u.r IS DISTINCT FROM p.r";
    assert_eq!(one(by_team), json!(0));
    assert_eq!(
        one("SELECT count(DISTINCT \"group\") AS n FROM usage_daily").as_i64().unwrap(),
        teams.as_i64().unwrap() + 2,
        "teams, alice's group, unassigned"
    );
}
