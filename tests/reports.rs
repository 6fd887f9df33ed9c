//! Named reports on a fixture, checked as SQL output against expected rows (in the spirit of
//! DataFusion's sqllogictest files).

use crate::util::Env;

fn fixture() -> Env {
    let env = Env::init();
    let line = |id: &str, who: &str, endpoint: &str, model: &str, tokens: u32, guardrail: &str| {
        format!(
            r#"{{"request_id":"{id}","request_time":"2025-03-02T10:00:00Z","endpoint_name":"{endpoint}","served_entity_name":"{model}","requester":"{who}","status_code":200,"input_tokens":{tokens},"output_tokens":0,"guardrail_action":{guardrail}}}"#
        )
    };
    let log = [
        line("a", "alice", "chat", "m", 300, "null"),
        line("b", "bob", "chat", "m", 100, r#""BLOCKED""#),
        line("c", "carol", "chat", "m", 50, "null"),
        line("d", "bob", "search", "mystery", 70, "null"),
    ];
    let f = env.write("log.jsonl", log.join("\n") + "\n");
    env.ingest_json(&[f.to_str().unwrap()]);
    env.write(
        "wh/config/prices.csv",
        "served_entity_name,effective_from,currency,input_price_per_1m,cached_input_price_per_1m,output_price_per_1m\nm,2025-01-01,USD,1,1,1\n",
    );
    env.write("wh/config/principals.csv", "requester,group,cost_center\nalice,ds,CC-1\nbob,web,CC-2\ncarol,web,CC-2\n");
    env.ok(&["rollup"]);
    env
}

/// The report's rows as `a | b | c` lines, without the table's borders.
fn rows(env: &Env, args: &[&str]) -> Vec<String> {
    let mut all = vec!["report"];
    all.extend_from_slice(args);
    let text = env.ok(&all);
    text.lines()
        .filter(|l| l.starts_with('|'))
        .skip(1) // header
        .map(|l| l.trim_matches('|').split('|').map(str::trim).collect::<Vec<_>>().join(" | "))
        .collect()
}

#[test]
fn reports_give_the_expected_rows() {
    let env = fixture();
    assert_eq!(
        rows(&env, &["top_consumers", "--param", "top=2"]),
        [
            "chat | 1 | alice | ds | 1 | 300 | 66.7 | 0.000300000000",
            "chat | 2 | bob | web | 1 | 100 | 22.2 | 0.000100000000",
            "search | 1 | bob | web | 1 | 70 | 100.0 | ",
        ]
    );
    assert_eq!(rows(&env, &["guardrail_blocks"]), ["chat | web | 1 | 2 | 50.0"]);
    assert_eq!(rows(&env, &["unpriced_usage"]), ["mystery | 2025-03-02 | 2025-03-02 | 1 | 70"]);
    // parameters narrow the dates; an unknown one is a usage error
    assert!(rows(&env, &["unpriced_usage", "--param", "from=2025-03-03"]).is_empty());
    let out = env.path("none.csv");
    env.ok(&["report", "unpriced_usage", "--param", "from=2025-03-03", "--output", out.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "served_entity_name,first_day,last_day,requests,tokens\n");
    let err = env.fails(&["report", "unpriced_usage", "--param", "since=2025-01-01"], 2);
    assert!(err.contains("from, to"), "{err}");
    let list = env.ok(&["report", "--list"]);
    assert!(list.contains("top_consumers") && list.contains("top (5)"), "{list}");
}
