//! Successful requests logged without token counts are not free: tokens taken from the logged
//! payload where there is one, and otherwise counted as unmetered in every output.

use crate::util::{Env, longs, read_csv, strings};

#[test]
fn a_success_without_counts_is_estimated_from_its_payload_or_counted_as_unmetered() {
    let env = Env::init();
    let rec = |id: &str, status: u32, extra: &str| {
        format!(
            r#"{{"request_id":"{id}","request_time":"2025-03-01T10:00:00Z","endpoint_name":"chat","served_entity_name":"m","requester":"alice","status_code":{status}{extra}}}"#
        )
    };
    let log = [
        // a stream logged without include_usage and without payloads: cost unknown
        rec("silent", 200, ""),
        // the payload's characters give an estimate: (11 + 1) / 4 = 3 in, (7 + 1) / 4 = 2 out
        rec(
            "texts",
            200,
            r#","request":"{\"messages\":[{\"role\":\"user\",\"content\":\"hello world\"}]}","response":"goodbye""#,
        ),
        // the logged response reports its usage: that is the count
        rec("usage", 200, r#","response":"{\"choices\":[],\"usage\":{\"prompt_tokens\":40,\"completion_tokens\":2}}""#),
        // a 429 without counts costs nothing, as before
        rec("limited", 429, ""),
        rec("counted", 200, r#","input_tokens":1000000,"output_tokens":0"#),
    ]
    .join("\n")
        + "\n";
    let f = env.write("log.jsonl", log);
    env.ingest_json(&[f.to_str().unwrap()]);
    let rows = env.rows("inference");
    let ids = strings(&rows, "request_id");
    let at = |id: &str| ids.iter().position(|i| i.as_deref() == Some(id)).unwrap();
    let (source, input, output) =
        (strings(&rows, "token_count_source"), longs(&rows, "input_tokens"), longs(&rows, "output_tokens"));
    assert_eq!(source[at("silent")].as_deref(), Some("absent"));
    assert_eq!((source[at("texts")].as_deref(), input[at("texts")], output[at("texts")]), (Some("estimated"), 3, 2));
    assert_eq!((source[at("usage")].as_deref(), input[at("usage")], output[at("usage")]), (Some("reported"), 40, 2));
    assert_eq!(source[at("limited")].as_deref(), Some("absent"));

    env.write(
        "wh/config/prices.csv",
        "served_entity_name,effective_from,currency,input_price_per_1m,cached_input_price_per_1m,output_price_per_1m\nm,2025-01-01,USD,1,1,1\n",
    );
    env.write("wh/config/principals.csv", "requester,group,cost_center\nalice,ds,CC-1\n");
    let summary: serde_json::Value = serde_json::from_str(&env.ok(&["--format", "json", "rollup"])).unwrap();
    assert_eq!(summary["unmetered_requests"], 1, "{summary}");
    assert!(env.ok(&["rollup", "--full"]).contains("unmetered requests"));

    // the chargeback: a line of its own, without a cost; --fail-on-unpriced fails on it
    let out = env.path("mar.csv");
    let args = ["chargeback", "--period", "2025-03", "--by", "group", "--output", out.to_str().unwrap()];
    env.ok(&args);
    let mut rows = read_csv(&out);
    let header = rows.remove(0);
    let c = |name: &str| header.iter().position(|h| h == name).unwrap();
    let line = |charge: &str| {
        rows.iter().find(|r| r[c("charge")] == charge).unwrap_or_else(|| panic!("no {charge} line in {rows:?}"))
    };
    let unmetered = line("unmetered");
    assert_eq!(
        (unmetered[c("requests")].as_str(), unmetered[c("unmetered_requests")].as_str(), unmetered[c("cost")].as_str()),
        ("1", "1", "")
    );
    assert_eq!(line("usage")[c("requests")], "4", "the other four requests");
    assert_eq!((line("total")[c("requests")].as_str(), line("total")[c("unmetered_requests")].as_str()), ("5", "1"));
    let out = env.run(&[&args[..], &["--fail-on-unpriced"]].concat());
    assert_eq!(out.status.code(), Some(6), "{}", crate::util::show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("without token counts"));

    // the unpriced report lists it
    let report = env.ok(&["--format", "csv", "report", "unpriced_usage"]);
    assert!(
        report.lines().next().unwrap().contains("unmetered_requests")
            && report.contains("m,2025-03-01,2025-03-01,0,0,1"),
        "{report}"
    );
}
