//! Named reports on a hand-made fixture, checked as SQL output against expected rows in
//! `tests/data/reports.slt`, in the spirit of DataFusion's sqllogictest files: each block is a
//! command (`report NAME ARGS...` or `sql QUERY`), a `----` line, and the rows it must print
//! (cells joined by ` | `). `TOKENLEDGER_BLESS=1 cargo test reports` rewrites the file with
//! what the commands print now — then read the diff before committing it.

use crate::util::Env;

const SLT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/reports.slt");

/// One request of the fixture's log.
struct Req<'a> {
    id: &'a str,
    time: &'a str,
    who: &'a str,
    endpoint: &'a str,
    model: &'a str,
    tokens: u64,
    status: u16,
    fallback: bool,
    guardrail: Option<&'a str>,
}

fn req<'a>(id: &'a str, time: &'a str, who: &'a str, endpoint: &'a str, model: &'a str, tokens: u64) -> Req<'a> {
    Req { id, time, who, endpoint, model, tokens, status: 200, fallback: false, guardrail: None }
}

/// The fixture: what each report needs to have something to say, with numbers that are easy to
/// check by hand (every price is 1 or 2 per million tokens).
pub fn fixture() -> Env {
    let env = Env::init();
    let mut log = vec![
        // top consumers and guardrail blocks (2025-03-02)
        req("a", "2025-03-02T10:00:00Z", "alice", "chat", "m", 300),
        Req { guardrail: Some("BLOCKED"), ..req("b", "2025-03-02T10:00:00Z", "bob", "chat", "m", 100) },
        req("c", "2025-03-02T10:00:00Z", "carol", "chat", "m", 50),
        // unpriced
        req("d", "2025-03-02T10:00:30Z", "bob", "search", "mystery", 70),
        // rate limits: bob sends 3 requests in the minute 11:00, two of them refused
        Req { status: 429, ..req("r1", "2025-03-02T11:00:01Z", "bob", "chat", "m", 0) },
        Req { status: 429, ..req("r2", "2025-03-02T11:00:02Z", "bob", "chat", "m", 0) },
        req("r3", "2025-03-02T11:00:03Z", "bob", "chat", "m", 40),
        req("r4", "2025-03-02T11:05:00Z", "bob", "chat", "m", 20),
        // a fallback of chat, answered by m-backup (2 per 1M)
        Req { fallback: true, ..req("f1", "2025-03-02T12:00:00Z", "carol", "chat", "m-backup", 200) },
        // provisioned traffic of an unknown requester on the pooled endpoint
        req("p1", "2025-03-02T13:00:00Z", "dave", "batch", "pt-model", 1000),
        req("p2", "2025-03-02T14:00:00Z", "dave", "batch", "pt-model", 1000),
        // a model that retires on 2025-04-15
        req("o1", "2025-03-05T09:00:00Z", "alice", "chat", "old-model", 100),
    ];
    // anomalies: alice spends 1.00 a day for four days, then 3.00
    let days = ["2025-03-03T08:00:00Z", "2025-03-04T08:00:00Z", "2025-03-05T08:00:00Z", "2025-03-06T08:00:00Z"];
    let ids = ["s3", "s4", "s5", "s6"];
    for (id, time) in ids.iter().zip(days) {
        log.push(req(id, time, "alice", "chat", "m", 1_000_000));
    }
    log.push(req("s7", "2025-03-07T08:00:00Z", "alice", "chat", "m", 3_000_000));
    let lines: Vec<String> = log
        .iter()
        .map(|r| {
            format!(
                r#"{{"request_id":"{}","request_time":"{}","endpoint_name":"{}","served_entity_name":"{}","requester":"{}","status_code":{},"input_tokens":{},"output_tokens":0,"execution_duration_ms":100,"is_fallback":{},"guardrail_action":{}}}"#,
                r.id,
                r.time,
                r.endpoint,
                r.model,
                r.who,
                r.status,
                r.tokens,
                r.fallback,
                r.guardrail.map_or("null".to_string(), |g| format!("\"{g}\""))
            )
        })
        .collect();
    let f = env.write("log.jsonl", lines.join("\n") + "\n");
    env.ingest_json(&[f.to_str().unwrap()]);
    env.write(
        "wh/config/prices.csv",
        "served_entity_name,effective_from,currency,input_price_per_1m,cached_input_price_per_1m,output_price_per_1m,pricing_mode,retires_on\n\
         m,2025-01-01,USD,1,1,1,per_token,\n\
         m-backup,2025-01-01,USD,2,2,2,per_token,\n\
         old-model,2025-01-01,USD,1,1,1,per_token,2025-04-15\n\
         pt-model,2025-01-01,USD,2,2,2,provisioned,\n",
    );
    env.write("wh/config/principals.csv", "requester,group,cost_center\nalice,ds,CC-1\nbob,web,CC-2\ncarol,web,CC-2\n");
    env.write(
        "wh/config/capacity.csv",
        "pool,endpoint_name,served_entity_name,cost_per_hour,currency,effective_from,effective_to,owner_group\n\
         pool-pt,batch,pt-model,0.01,USD,2025-01-01,,ml\n",
    );
    env.ok(&["rollup"]);
    env
}

/// The rows a command prints as `a | b | c` lines, without the table's borders.
fn rows(env: &Env, command: &str) -> Vec<String> {
    let (verb, rest) = command.split_once(' ').unwrap_or((command, ""));
    let args: Vec<&str> = match verb {
        "sql" => vec!["sql", rest],
        _ => command.split_whitespace().collect(),
    };
    env.ok(&args)
        .lines()
        .filter(|l| l.starts_with('|'))
        .skip(1) // header
        .map(|l| l.trim_matches('|').split('|').map(str::trim).collect::<Vec<_>>().join(" | ").trim_end().to_string())
        .collect()
}

/// The blocks of the .slt file: (comment lines, command, expected rows); a block of comments
/// alone has no command.
fn blocks(text: &str) -> Vec<(Vec<String>, Option<String>, Vec<String>)> {
    let mut out = Vec::new();
    for block in text.split("\n\n").filter(|b| !b.trim().is_empty()) {
        let mut lines = block.lines();
        let mut comments = Vec::new();
        let command = loop {
            match lines.next() {
                Some(l) if l.starts_with('#') => comments.push(l.to_string()),
                Some(l) => break Some(l.to_string()),
                None => break None,
            }
        };
        if command.is_some() {
            assert_eq!(lines.next(), Some("----"), "{SLT}: `----` after {command:?}");
        }
        out.push((comments, command, lines.map(str::to_string).collect()));
    }
    out
}

#[test]
fn reports_give_the_expected_rows() {
    let env = fixture();
    let text = std::fs::read_to_string(SLT).unwrap();
    let bless = std::env::var_os("TOKENLEDGER_BLESS").is_some();
    let mut blessed = String::new();
    let mut failures = Vec::new();
    for (comments, command, expected) in blocks(&text) {
        for c in comments {
            blessed.push_str(&c);
            blessed.push('\n');
        }
        let Some(command) = command else {
            blessed.push('\n');
            continue;
        };
        let actual = rows(&env, &command);
        if actual != expected {
            failures.push(format!(
                "{command}\n  expected:\n    {}\n  actual:\n    {}",
                expected.join("\n    "),
                actual.join("\n    ")
            ));
        }
        blessed.push_str(&format!("{command}\n----\n"));
        for r in &actual {
            blessed.push_str(r);
            blessed.push('\n');
        }
        blessed.push('\n');
    }
    if bless {
        std::fs::write(SLT, blessed.trim_end().to_string() + "\n").unwrap();
        return;
    }
    assert!(failures.is_empty(), "{} of the blocks in {SLT} differ:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn report_parameters_and_files() {
    let env = fixture();
    let out = env.path("none.csv");
    env.ok(&["report", "unpriced_usage", "--param", "from=2025-03-03", "--output", out.to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "served_entity_name,first_day,last_day,requests,tokens,unmetered_requests\n"
    );
    let err = env.fails(&["report", "unpriced_usage", "--param", "since=2025-01-01"], 2);
    assert!(err.contains("from, to"), "{err}");
    let err = env.fails(&["report", "nope"], 2);
    assert!(err.contains("top_consumers") && err.contains("rate_limits"), "{err}");
    let list = env.ok(&["report", "--list"]);
    for name in
        ["top_consumers", "rate_limits", "fallbacks", "provisioned_break_even", "retirements", "spend_anomalies"]
    {
        assert!(list.contains(name), "{name}: {list}");
    }
    assert!(list.contains("top (5)") && list.contains("headroom (1.5)"), "{list}");
    // a report to Parquet keeps its types: read it back
    let parquet = env.path("top.parquet");
    env.ok(&["report", "top_consumers", "--output", parquet.to_str().unwrap()]);
    let file = std::fs::File::open(&parquet).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
    assert_eq!(
        reader.schema().field_with_name("cost").unwrap().data_type(),
        &arrow::datatypes::DataType::Decimal128(38, 12)
    );
    let rows: usize = reader.build().unwrap().map(|b| b.unwrap().num_rows()).sum();
    assert_eq!(rows, 5, "chat: alice, bob, carol; search: bob; batch: dave");
    // a report without a chart says which have one
    let err = env.fails(&["report", "fallbacks", "--chart", "x.svg"], 2);
    assert!(err.contains("daily_spend"), "{err}");
}
