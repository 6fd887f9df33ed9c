//! CSV and Parquet inputs of the native format give the same rows as JSON lines.

use std::sync::Arc;

use crate::util::{Env, as_u64, longs, sorted, strings};

fn json_rows(env: &Env) -> Vec<(String, i64, i64)> {
    let rows = env.rows("inference");
    let mut v: Vec<(String, i64, i64)> = strings(&rows, "request_id")
        .into_iter()
        .map(Option::unwrap)
        .zip(longs(&rows, "input_tokens"))
        .zip(longs(&rows, "output_tokens"))
        .map(|((a, b), c)| (a, b, c))
        .collect();
    v.sort();
    v
}

#[test]
fn csv_gives_the_same_rows_as_json_lines() {
    let header = "request_id,request_time,endpoint_name,served_entity_name,served_entity_type,provider,requester,status_code,input_tokens,output_tokens,cached_input_tokens,execution_duration_ms,is_fallback,usage_context";
    let csv = format!(
        "{header}\n\
         c-1,2025-01-01T10:00:00Z,chat,gpt-4o,EXTERNAL_MODEL,openai,a@x.com,200,1000,10,512,50,false,\"{{\"\"project\"\":\"\"p\"\"}}\"\n\
         c-2,1735725600123,chat,gpt-4o,EXTERNAL_MODEL,openai,b@x.com,429,,,,3,false,\n\
         c-3,2025-01-01T10:00:00Z,chat,gpt-4o,EXTERNAL_MODEL,openai,b@x.com,200,lots,1,0,3,false,\n\
         c-4,2025-01-01T10:00:00Z,chat,gpt-4o,EXTERNAL_MODEL,openai,b@x.com,200,5,1\n"
    );
    let env = Env::init();
    let f = env.write("calls.csv", csv);
    let s = env.ingest_json(&[f.to_str().unwrap()]);
    assert_eq!(as_u64(&s, "records_read"), 4);
    assert_eq!(as_u64(&s, "rows_written"), 2);
    assert_eq!(s["quarantined_by_reason"]["wrong_type"], 1);
    assert_eq!(s["quarantined_by_reason"]["malformed_record"], 1, "short row");
    assert_eq!(json_rows(&env), vec![("c-1".into(), 488, 10), ("c-2".into(), 0, 0)]);
    let q = env.rows("quarantine");
    assert_eq!(sorted(strings(&q, "reason_code")), vec!["malformed_record", "wrong_type"]);
    assert_eq!(longs(&q, "line_number").iter().copied().max(), Some(5), "CSV line numbers count the header");
}

#[test]
fn a_config_csv_is_refused_not_quarantined_row_by_row() {
    let env = Env::init();
    let f = env.write("principals.csv", "requester,group,cost_center\na@x.com,g,CC-1\n");
    let err = env.fails(&["ingest", f.to_str().unwrap()], 1);
    assert!(err.contains("principals.csv") && err.contains("request_id"), "{err}");
}

#[test]
fn parquet_gives_the_same_rows_as_json_lines() {
    // Parquet written by arrow from the good lines of the fixture, with inferred types
    // (timestamps as strings, usage_context as a struct).
    let env = Env::init();
    let good = crate::util::mixed_lines(2);
    let jsonl = env.write("good.jsonl", good.join("\n") + "\n");
    env.ingest_json(&[jsonl.to_str().unwrap()]);
    let expected = json_rows(&env);
    assert_eq!(expected.len(), 2);

    let text = good.join("\n");
    let (schema, _) = arrow::json::reader::infer_json_schema(std::io::Cursor::new(text.as_bytes()), None).unwrap();
    let schema = Arc::new(schema);
    let reader = arrow::json::ReaderBuilder::new(schema.clone()).build(std::io::Cursor::new(text.as_bytes())).unwrap();
    let path = env.path("good.parquet");
    let mut writer = parquet::arrow::ArrowWriter::try_new(std::fs::File::create(&path).unwrap(), schema, None).unwrap();
    for b in reader {
        writer.write(&b.unwrap()).unwrap();
    }
    writer.close().unwrap();

    let env2 = Env::init();
    let s = env2.ingest_json(&[path.to_str().unwrap()]);
    assert_eq!(as_u64(&s, "quarantined"), 0, "{s}");
    assert_eq!(json_rows(&env2), expected);
}
