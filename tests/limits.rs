//! `simulate limits`: a small hand-made history of one endpoint replayed under proposed limits,
//! every outcome computed by hand (see the comments on `HISTORY`).

use rust_decimal::Decimal;
use serde_json::Value;

use crate::util::{Env, read_csv};

const PRICES: &str = "\
served_entity_name,effective_from,currency,input_price_per_1m,cached_input_price_per_1m,output_price_per_1m
gpt-4o,2025-01-01,USD,2.50,1.25,10.00
";

const PRINCIPALS: &str = "requester,group,cost_center\nana@example.com,search,CC-100\ncarol@example.com,search,CC-100\nbob@example.com,support,CC-200\n";

/// (id, time, requester, status, input tokens, output tokens). Under 1,000,000 tokens a minute
/// per user: ana's window at 10:00 holds a1 + a2 = 900k, so a3 (150k) is rejected and a4
/// (100k) fills it to exactly 1,000k; at 10:01 a5 (1.1M) alone is over; a6 + a7 = 900k fit.
/// Bob: b1 + b2 = 1,000k exactly; b3 (1,000,001) is over; b4 starts 10:02. Carol's c1 was a
/// 429 in the history: not replayed.
const HISTORY: [(&str, &str, &str, i32, i64, i64); 13] = [
    ("a1", "10:00:05", "ana", 200, 400_000, 100_000),
    ("b1", "10:00:10", "bob", 200, 900_000, 50_000),
    ("c1", "10:00:15", "carol", 429, 0, 0),
    ("c2", "10:00:16", "carol", 200, 5_000, 5_000),
    ("a2", "10:00:20", "ana", 200, 300_000, 100_000),
    ("a3", "10:00:30", "ana", 200, 100_000, 50_000),
    ("b2", "10:00:40", "bob", 200, 40_000, 10_000),
    ("a4", "10:00:50", "ana", 200, 80_000, 20_000),
    ("a5", "10:01:00", "ana", 200, 1_000_000, 100_000),
    ("a6", "10:01:30", "ana", 200, 500_000, 0),
    ("a7", "10:01:40", "ana", 200, 400_000, 0),
    ("b3", "10:01:59.999", "bob", 200, 1_000_000, 1),
    ("b4", "10:02:00", "bob", 200, 1_000_000, 0),
];

fn history() -> String {
    HISTORY
        .iter()
        .map(|(id, time, who, status, input, output)| {
            format!(
                r#"{{"request_id":"{id}","request_time":"2025-03-03T{time}Z","endpoint_name":"chat","served_entity_name":"gpt-4o","requester":"{who}@example.com","status_code":{status},"input_tokens":{input},"output_tokens":{output}}}"#
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn limit(key_and_principal: &str, amounts: &str) -> String {
    format!(
        "[[endpoint]]\nname = \"chat\"\n\n[[endpoint.limit]]\n{key_and_principal}\n{amounts}\nrenewal_period = \"minute\"\n"
    )
}

/// A warehouse with the history ingested (no rollup: the replay reads the priced requests).
fn warehouse() -> Env {
    let env = Env::init();
    env.write("wh/config/prices.csv", PRICES);
    env.write("wh/config/principals.csv", PRINCIPALS);
    let logs = env.write("history.jsonl", history());
    env.ok(&["ingest", logs.to_str().unwrap()]);
    env
}

fn simulate(env: &Env, limits: &str, extra: &[&str]) -> Value {
    let file = env.write("proposal.toml", limits);
    let mut args = vec!["--format", "json", "simulate", "limits", "--from", "2025-03-03", "--to", "2025-03-03"];
    args.extend(["--limits", file.to_str().unwrap()]);
    args.extend(extra);
    let out = env.ok(&args);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}):\n{out}"))
}

fn principal<'a>(sim: &'a Value, who: &str) -> &'a Value {
    let requester = format!("{who}@example.com");
    sim["principals"].as_array().unwrap().iter().find(|p| p["requester"] == requester.as_str()).unwrap()
}

/// (requests, rejected, tokens rejected, delayed, minutes affected) of one principal.
fn counts(p: &Value) -> [u64; 5] {
    ["requests", "rejected_requests", "rejected_tokens", "delayed_requests", "minutes_affected"]
        .map(|k| p[k].as_u64().unwrap_or_else(|| panic!("{k} in {p}")))
}

fn usd(p: &Value) -> Decimal {
    p["spend_avoided"]["USD"].as_str().map_or(Decimal::ZERO, |s| s.parse().unwrap())
}

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

#[test]
fn a_per_user_token_limit_rejects_exactly_the_requests_over_it_minute_by_minute() {
    let env = warehouse();
    let tpm = limit("key = \"user\"", "tokens = 1000000");
    let sim = simulate(&env, &tpm, &[]);
    // ana: a3 (150k) and a5 (1.1M); bob: b3 (1,000,001); carol's 429 is not replayed
    assert_eq!(counts(principal(&sim, "ana")), [7, 2, 1_250_000, 0, 2]);
    assert_eq!(counts(principal(&sim, "bob")), [4, 1, 1_000_001, 0, 1]);
    assert_eq!(counts(principal(&sim, "carol")), [1, 0, 0, 0, 0]);
    assert_eq!(principal(&sim, "carol")["history_429s"], 1);
    // the spend avoided is the rejected requests' cost, exact: a3 0.25 + 0.50, a5 2.50 + 1.00;
    // b3 2.50 + 0.00001
    assert_eq!(usd(principal(&sim, "ana")), dec("4.25"));
    assert_eq!(usd(principal(&sim, "bob")), dec("2.50001"));
    let endpoint = &sim["endpoints"][0];
    assert_eq!((endpoint["endpoint"].as_str(), counts(endpoint)), (Some("chat"), [12, 3, 2_250_001, 0, 2]));
    assert_eq!(usd(endpoint), dec("6.75001"));
    // ana's tokens: 3,150,000 of 6,160,001 before; 1,900,000 of 3,910,000 after
    assert_eq!(principal(&sim, "ana")["token_share_before"], "51.14");
    assert_eq!(principal(&sim, "ana")["token_share_after"], "48.59");
    // the blast radius: ana and bob were never rate limited before; carol was, and is not now
    let blast: Vec<&str> =
        sim["blast_radius"].as_array().unwrap().iter().map(|p| p["requester"].as_str().unwrap()).collect();
    assert_eq!(blast, vec!["ana@example.com", "bob@example.com"]);

    // the table: thousands separators, spend to the cent
    let file = env.path("proposal.toml");
    let args = ["simulate", "limits", "--from", "2025-03-03", "--to", "2025-03-03", "--limits", file.to_str().unwrap()];
    let table = env.ok(&args);
    let ana = table.lines().find(|l| l.contains("ana@example.com")).unwrap_or_else(|| panic!("{table}"));
    assert!(ana.contains("1,250,000") && ana.contains("4.25 USD"), "{table}");
    let bob = table.lines().find(|l| l.contains("bob@example.com")).unwrap();
    assert!(bob.contains("1,000,001") && bob.contains("2.50 USD"), "{table}");
    // CSV: every principal and the endpoint's total, spend exact
    let mut csv_args = vec!["--format", "csv"];
    csv_args.extend(args);
    csv_args.extend(["--output", "sim.csv"]);
    env.ok(&csv_args);
    let rows = read_csv(&env.path("sim.csv"));
    let col = |name: &str| rows[0].iter().position(|c| c == name).unwrap();
    let total = rows.iter().find(|r| r[col("requester")] == "*").unwrap();
    assert_eq!((total[col("spend_avoided")].as_str(), total[col("currency")].as_str()), ("6.75001", "USD"));
    assert_eq!(rows.len(), 1 + 3 + 1);
}

#[test]
fn a_group_limit_is_shared_by_its_members() {
    let env = warehouse();
    let sim = simulate(&env, &limit("key = \"user_group\"\nprincipal = \"search\"", "calls = 2"), &[]);
    // 10:00: a1 and carol's c2 fill the group's two calls, so a2, a3 and a4 are rejected; 10:01:
    // a5, a6, then a7 is rejected. Bob (support) has no limit.
    assert_eq!(counts(principal(&sim, "ana")), [7, 4, 400_000 + 150_000 + 100_000 + 400_000, 0, 2]);
    assert_eq!(counts(principal(&sim, "carol")), [1, 0, 0, 0, 0]);
    assert_eq!(counts(principal(&sim, "bob")), [4, 0, 0, 0, 0]);
    assert_eq!(principal(&sim, "ana")["limit_lines"], serde_json::json!([4]));
    // each user counted apart instead, ana has two calls a minute of her own: a3, a4 and a7 are over
    let per_user = simulate(&env, &limit("key = \"user\"", "calls = 2"), &[]);
    assert_eq!(counts(principal(&per_user, "ana"))[1], 3);
}

#[test]
fn retry_after_moves_a_rejected_request_into_the_next_minute() {
    let env = warehouse();
    let sim = simulate(&env, &limit("key = \"user\"", "tokens = 1000000"), &["--retry-after"]);
    // a3 is retried at 10:01:00 and admitted (150k); then a5 is over and waits for 10:02, where
    // it is over again (final); a6 fits (650k) but a7 no longer does (1,050k): it goes through
    // at 10:02. b3 is over at 10:01 and at 10:02; b4 still fits after it.
    assert_eq!(counts(principal(&sim, "ana")), [7, 1, 1_100_000, 2, 3]);
    assert_eq!(counts(principal(&sim, "bob")), [4, 1, 1_000_001, 0, 2]);
    assert_eq!(usd(principal(&sim, "ana")), dec("3.5"));
}

#[test]
fn the_template_init_writes_is_the_default_and_bad_limits_are_refused_with_their_lines() {
    let env = warehouse();
    // init's limits.toml: each user 60 calls and 100,000 tokens a minute
    let out = env.ok(&["--format", "json", "simulate", "limits", "--from", "2025-03-03", "--to", "2025-03-03"]);
    let sim: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(counts(principal(&sim, "carol"))[1], 0);
    // every request of ana's but a4 (exactly 100,000) is over, and bob's but b2 (50,000)
    assert_eq!(counts(principal(&sim, "ana"))[1], 6);
    assert_eq!(counts(principal(&sim, "bob"))[1], 3);

    let bad = env.write(
        "bad.toml",
        "# a proposal\n[[endpoint]]\nname = \"chat\"\n\n[[endpoint.limit]]\nkey = \"team\"\ncalls = 5\nrenewal_period = \"minute\"\n\n\
         [[endpoint.limit]]\nkey = \"user\"\nrenewal_period = \"second\"\n",
    );
    let args = ["simulate", "limits", "--from", "2025-03-03", "--to", "2025-03-03", "--limits", bad.to_str().unwrap()];
    let err = env.fails(&args, 2);
    for want in [
        "bad.toml line 6: key `team`",
        "bad.toml line 10: this limit has neither calls nor tokens",
        "bad.toml line 12: renewal_period `second`",
    ] {
        assert!(err.contains(want), "{want} in\n{err}");
    }
    env.write(
        "bad.toml",
        "[[endpoint]]\nname = \"chat\"\n[[endpoint.limit]]\ncalls = 5\nrenewal_period = \"minute\"\nburst = 2\n",
    );
    let err = env.fails(&args, 2);
    assert!(err.contains("bad.toml line 6") && err.contains("burst"), "{err}");
}

#[test]
fn service_principals_are_known_by_their_requester_type_and_the_csv_is_spreadsheet_safe() {
    let env = Env::init();
    env.write("wh/config/prices.csv", PRICES);
    // a group a spreadsheet would run as a formula
    env.write(
        "wh/config/principals.csv",
        "requester,group,cost_center\netl-app-id,+etl,CC-1\nana@example.com,search,CC-2\n",
    );
    let record = |id: &str, second: u32, who: &str, kind: &str| {
        format!(
            r#"{{"request_id":"{id}","request_time":"2025-03-03T10:00:{second:02}Z","endpoint_name":"chat","served_entity_name":"gpt-4o","requester":"{who}","requester_type":"{kind}","status_code":200,"input_tokens":1000,"output_tokens":10}}"#
        )
    };
    let logs = [
        record("s1", 1, "etl-app-id", "service_principal"),
        record("s2", 2, "etl-app-id", "service_principal"),
        record("u1", 3, "ana@example.com", "user"),
        record("u2", 4, "ana@example.com", "user"),
    ];
    let path = env.write("sp.jsonl", logs.join("\n"));
    env.ok(&["ingest", path.to_str().unwrap()]);
    // service principals: one call a minute; users (the default): two
    let limits = format!(
        "{}\n[[endpoint.limit]]\nkey = \"user\"\ncalls = 2\nrenewal_period = \"minute\"\n",
        limit("key = \"service_principal\"", "calls = 1")
    );
    let sim = simulate(&env, &limits, &[]);
    let by = |who: &str| {
        sim["principals"].as_array().unwrap().iter().find(|p| p["requester"] == who).unwrap()["rejected_requests"]
            .clone()
    };
    assert_eq!((by("etl-app-id"), by("ana@example.com")), (serde_json::json!(1), serde_json::json!(0)));

    let file = env.path("proposal.toml");
    let from_to = ["--from", "2025-03-03", "--to", "2025-03-03", "--limits", file.to_str().unwrap()];
    let mut args = vec!["--format", "csv", "simulate", "limits", "--output", "sp.csv"];
    args.extend(from_to);
    env.ok(&args);
    let rows = read_csv(&env.path("sp.csv"));
    let group = rows[0].iter().position(|c| c == "group").unwrap();
    assert!(rows.iter().any(|r| r[group] == "'+etl"), "{rows:?}");
    assert!(!rows.iter().any(|r| r[group] == "+etl"), "{rows:?}");
}

#[test]
fn a_dollar_budget_used_up_on_the_20th_rejects_the_rest_of_the_month() {
    // ana (group search) sends one request a day at 09:00, January 1 to February 3: 300,000
    // input tokens of which 200,000 cached, 100,000 at 2.50 and 200,000 at 1.25 per million:
    // 0.50 a day. Priced as raw
    // input tokens it would be 0.75, and the budget gone on the 13th: a dollar budget counts
    // the cost, cache discount included.
    let env = Env::init();
    env.write("wh/config/prices.csv", PRICES);
    env.write("wh/config/principals.csv", PRINCIPALS);
    let days = (1..=31).map(|d| format!("2025-01-{d:02}")).chain((1..=3).map(|d| format!("2025-02-{d:02}")));
    let logs: Vec<String> = days
        .map(|day| {
            format!(
                r#"{{"request_id":"r{day}","request_time":"{day}T09:00:00Z","endpoint_name":"chat","served_entity_name":"gpt-4o","requester":"ana@example.com","status_code":200,"input_tokens":300000,"cached_input_tokens":200000,"output_tokens":0}}"#
            )
        })
        .collect();
    let path = env.write("month.jsonl", logs.join("\n"));
    env.ok(&["ingest", path.to_str().unwrap()]);
    // 9.75 a month: 9.50 spent after the 19th, so the 20th's request still goes through (its
    // cost is known only after it) and takes the month to 10.00; the 21st to the 31st are
    // rejected; February starts afresh.
    let budget =
        "[[budget]]\nkey = \"user_group\"\nprincipal = \"search\"\nbudget = \"9.75 USD\"\nrenewal_period = \"month\"\n";
    let file = env.write("budget.toml", budget);
    let range = ["--from", "2025-01-01", "--to", "2025-02-03", "--limits", file.to_str().unwrap()];
    let mut args = vec!["--format", "json", "simulate", "limits"];
    args.extend(range);
    let sim: Value = serde_json::from_str(&env.ok(&args)).unwrap();
    assert_eq!(counts(principal(&sim, "ana")), [34, 11, 11 * 300_000, 0, 11]);
    assert_eq!(usd(principal(&sim, "ana")), dec("5.5"));
    let b = &sim["budgets"][0];
    assert_eq!((b["principal"].as_str(), b["first_used_up_at"].as_str()), (Some("search"), Some("2025-01-20T09:00Z")));
    assert_eq!(
        (b["rejected_requests"].as_u64(), b["periods"].as_u64(), b["periods_used_up"].as_u64()),
        (Some(11), Some(2), Some(1))
    );
    assert_eq!(dec(b["spent"].as_str().unwrap()), dec("11.50"));
    // the table says it the way finance reads it
    let mut args = vec!["simulate", "limits"];
    args.extend(range);
    let table = env.ok(&args);
    let line = table.lines().find(|l| l.contains("9.75 USD / month hard")).unwrap_or_else(|| panic!("{table}"));
    for want in ["search", "11.50 USD", "1 of 2", "2025-01-20T09:00Z", "5.50 USD"] {
        assert!(line.contains(want), "{want} in {line}\n{table}");
    }
}
