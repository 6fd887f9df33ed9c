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

/// ana (group search) sends one request a day at 09:00, January 1 to February 3, each costing
/// 0.50 (see the test below).
fn a_month_of_cached_requests() -> Env {
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
    env
}

#[test]
fn a_dollar_budget_used_up_on_the_20th_rejects_the_rest_of_the_month() {
    // ana (group search) sends one request a day at 09:00, January 1 to February 3: 300,000
    // input tokens of which 200,000 cached, 100,000 at 2.50 and 200,000 at 1.25 per million:
    // 0.50 a day. Priced as raw input tokens it would be 0.75, and the budget gone on the 13th:
    // a dollar budget counts the cost, cache discount included.
    let env = a_month_of_cached_requests();
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

// ---- suggest limits, --emit, --chart ----

const DAY: [&str; 4] = ["--from", "2025-03-03", "--to", "2025-03-03"];

fn suggest(env: &Env, extra: &[&str]) -> Value {
    let mut args = vec!["--format", "json", "suggest", "limits"];
    args.extend(DAY);
    args.extend(extra);
    let out = env.ok(&args);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}):\n{out}"))
}

/// (proposed tokens a minute, measured %, met, replays) of the suggestion's only endpoint.
fn proposal(s: &Value) -> (u64, Decimal, bool, u64) {
    let e = &s["endpoints"][0];
    assert_eq!(s["endpoints"].as_array().unwrap().len(), 1, "{s}");
    (
        e["tokens_per_minute"].as_u64().unwrap_or_else(|| panic!("{s}")),
        dec(e["measured_percent"].as_str().unwrap()),
        e["met"].as_bool().unwrap(),
        s["rounds"].as_u64().unwrap(),
    )
}

#[test]
fn suggested_limits_to_reject_at_most_a_share_meet_it_when_replayed() {
    let env = warehouse();
    // per user and minute (calls, tokens): ana (4, 1.15M) (3, 2M), bob (2, 1M) (1, 1,000,001)
    // (1, 1M), carol (1, 10k); carol's 429 is not demand. 20% of 12 requests: two may go. A
    // minute over L loses ceil(calls × (d − L) / d) requests: from L = 1,150,000 only ana's
    // second minute is over, losing two; read as 1,200,000. Replayed: a6 and a7 go (16.67%).
    let s = suggest(&env, &["--reject-at-most", "20%"]);
    assert_eq!(proposal(&s), (1_200_000, dec("16.67"), true, 1));
    assert!(s["limits_toml"].as_str().unwrap().contains("key = \"user\"\ntokens = 1200000\n"), "{s}");
    // 10%: one may go; the estimate allows L = 1,333,334 (1.4M: ana's second minute loses 0.9
    // of a request), but the replay rejects a6 and a7 there too (16.67%): the goal is
    // tightened to 6%, none may go, and her 2,000,000 peak fits exactly
    let s = suggest(&env, &["--reject-at-most", "10%"]);
    assert_eq!(proposal(&s), (2_000_000, dec("0"), true, 2));

    // the proposal saved with --output is a limits.toml simulate replays the same way
    let mut args = vec!["suggest", "limits", "--reject-at-most", "20%", "--output", "proposal.toml"];
    args.extend(DAY);
    let text = env.ok(&args);
    assert!(text.contains("chat: target met: yes (measured 16.67% of the requests rejected; target 20%)"), "{text}");
    assert!(text.contains("The proposal is in proposal.toml"), "{text}");
    let sim = simulate(&env, &std::fs::read_to_string(env.path("proposal.toml")).unwrap(), &[]);
    assert_eq!(sim["endpoints"][0]["rejected_requests"], 2);
}

/// One endpoint where ana sends nine 100k requests in each of two minutes, bob one of 123,456
/// tokens and carol one of 100k in each of three.
fn shares_warehouse() -> Env {
    let env = Env::init();
    env.write("wh/config/prices.csv", PRICES);
    let mut lines = Vec::new();
    let mut record = |id: String, minute: u32, who: &str, tokens: u64| {
        lines.push(format!(
            r#"{{"request_id":"{id}","request_time":"2025-03-03T10:0{minute}:{:02}Z","endpoint_name":"chat","served_entity_name":"gpt-4o","requester":"{who}@example.com","status_code":200,"input_tokens":{tokens},"output_tokens":0}}"#,
            lines.len() % 60
        ))
    };
    for minute in 0..2 {
        for i in 0..9 {
            record(format!("a{minute}{i}"), minute, "ana", 100_000);
        }
    }
    for minute in 0..3 {
        record(format!("b{minute}"), minute, "bob", 123_456);
        record(format!("c{minute}"), minute, "carol", 100_000);
    }
    let logs = env.write("shares.jsonl", lines.join("\n"));
    env.ok(&["ingest", logs.to_str().unwrap()]);
    env
}

#[test]
fn suggested_limits_for_a_largest_share_meet_it_when_replayed() {
    let env = shares_warehouse();
    // under L: ana 2L of 2L + 370,368 + 300,000, at most half up to L = 335,184 (340,000 would
    // give her 50.35%: kept exact). Replayed, ana's windows take three 100k requests a minute:
    // 600,000 of 1,270,368 tokens served, 47.23%.
    let s = suggest(&env, &["--max-share", "50%"]);
    assert_eq!(proposal(&s), (335_184, dec("47.23"), true, 1));
    let ana = s["simulation"]["principals"].as_array().unwrap().iter().find(|p| p["requester"] == "ana@example.com");
    assert_eq!(counts(ana.unwrap())[..2], [18, 12]);
    // with no limit ana has 72.86%: at most 80% needs none
    let s = suggest(&env, &["--max-share", "80%"]);
    let e = &s["endpoints"][0];
    assert_eq!(
        (e["outcome"].as_str(), e["met"].as_bool(), e["measured_percent"].as_str()),
        (Some("not_needed"), Some(true), Some("72.86"))
    );
    assert!(s["limits_toml"].as_str().unwrap().contains("# chat: meets the goal without a limit"), "{s}");
    // a goal is required, and one only
    let mut args = vec!["suggest", "limits"];
    args.extend(DAY);
    assert!(env.fails(&args, 2).contains("--max-share"));
    args.extend(["--max-share", "101%"]);
    assert!(env.fails(&args, 2).contains("between 0% and 100%"));
}

#[test]
fn emit_writes_the_gateways_own_configuration() {
    let env = warehouse();
    let mut args = vec!["suggest", "limits", "--reject-at-most", "20%", "--emit", "databricks", "--output", "rl.json"];
    args.extend(DAY);
    env.ok(&args);
    let json: Value = serde_json::from_str(&std::fs::read_to_string(env.path("rl.json")).unwrap()).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"chat": {"rate_limits": [{"key": "user", "tokens": 1_200_000, "renewal_period": "minute"}]}})
    );
    // per group: search (ana, carol) and support (bob) each get the endpoint as a model's limit
    let mut args = vec!["suggest", "limits", "--reject-at-most", "20%", "--key", "user_group", "--emit", "litellm"];
    args.extend(["--output", "teams.yaml"]);
    args.extend(DAY);
    env.ok(&args);
    let yaml = std::fs::read_to_string(env.path("teams.yaml")).unwrap();
    let teams = yaml.split_once("teams:\n").unwrap_or_else(|| panic!("{yaml}")).1;
    let tokens = |team: &str| {
        let entry = teams.split("  - team_id: ").find(|e| e.starts_with(&format!("\"{team}\""))).unwrap();
        let line = entry.lines().find(|l| l.trim_start().starts_with("\"chat\": ")).unwrap();
        line.trim().trim_start_matches("\"chat\": ").parse::<u64>().unwrap()
    };
    assert!(tokens("search") > 0 && tokens("search") == tokens("support"), "{yaml}");
    assert!(yaml.contains("    model_tpm_limit:\n") && yaml.ends_with("users: []\n"), "{yaml}");

    // simulate --emit: the limits file replayed, init's "*" block on the data's endpoint
    let mut args = vec!["simulate", "limits", "--emit", "litellm"];
    args.extend(DAY);
    let yaml = env.ok(&args);
    for user in ["ana", "bob", "carol"] {
        let entry = format!("  - user_id: \"{user}@example.com\"\n    tpm_limit: 100000\n    rpm_limit: 60\n");
        assert!(yaml.contains(&entry), "{entry} in\n{yaml}");
    }
    args[3] = "databricks";
    let json: Value = serde_json::from_str(&env.ok(&args)).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"chat": {"rate_limits": [{"key": "user", "calls": 60, "tokens": 100_000, "renewal_period": "minute"}]}})
    );
}

#[test]
fn the_chart_draws_the_busiest_minutes_against_the_limit() {
    let env = warehouse();
    let file = env.write("proposal.toml", limit("key = \"user\"", "tokens = 1000000"));
    let svg = env.path("demand.svg");
    let mut args = vec!["simulate", "limits", "--limits", file.to_str().unwrap(), "--chart", svg.to_str().unwrap()];
    args.extend(DAY);
    env.ok(&args);
    let doc = std::fs::read_to_string(&svg).unwrap();
    let doc = roxmltree::Document::parse(&doc).unwrap();
    let texts: Vec<&str> =
        doc.descendants().filter(|n| n.has_tag_name("text")).filter_map(|n| n.text()).map(str::trim).collect();
    for want in [
        "chat: tokens per minute against the limit, 2025-03-03 .. 2025-03-03",
        // ana's 10:01: a5 + a6 + a7
        "busiest user: peak 2,000,000 at 2025-03-03 10:01",
        "limit: 1,000,000 tokens a minute, per user (line 4)",
    ] {
        assert!(texts.contains(&want), "{want:?} not in {texts:?}");
    }
    let series: Vec<_> =
        doc.descendants().filter(|n| n.has_tag_name("polyline") && n.attribute("stroke-width") == Some("2")).collect();
    assert_eq!(series.len(), 2);
    // the limit is flat; 600 spans of the day's 1,440 minutes
    let points = |n: &roxmltree::Node| n.attribute("points").unwrap().split(' ').filter(|p| !p.is_empty()).count();
    assert_eq!((points(&series[0]), points(&series[1])), (600, 600));
    let ys: std::collections::BTreeSet<&str> =
        series[1].attribute("points").unwrap().split(' ').filter_map(|p| p.split(',').nth(1)).collect();
    assert_eq!(ys.len(), 1, "a flat limit line");

    // an endpoint without a limit has nothing to draw against
    args.extend(["--chart-endpoint", "rag"]);
    let err = env.fails(&args, 2);
    assert!(err.contains("no limit of limits.toml is in force on endpoint `rag`"), "{err}");
}

#[test]
fn a_suggested_monthly_budget_is_replayed_and_emitted_as_litellm_budgets() {
    let env = a_month_of_cached_requests();
    let range = ["--from", "2025-01-01", "--to", "2025-02-03"];
    let mut args = vec!["--format", "json", "suggest", "limits", "--monthly-budget", "9.75 USD", "--key", "user_group"];
    args.extend(range);
    let s: Value = serde_json::from_str(&env.ok(&args)).unwrap();
    assert_eq!(s["met"], true);
    let budgets = s["simulation"]["budgets"].as_array().unwrap();
    // the hard budget: used up on the 20th, the 21st to the 31st rejected; the warning at 80%
    // (7.80): reached on the 16th (7.50 after the 15th)
    let hard = budgets.iter().find(|b| b["budget"]["enforcement"] == "hard").unwrap();
    assert_eq!(
        (hard["first_used_up_at"].as_str(), hard["rejected_requests"].as_u64()),
        (Some("2025-01-20T09:00Z"), Some(11))
    );
    let soft = budgets.iter().find(|b| b["budget"]["enforcement"] == "soft").unwrap();
    assert_eq!(
        (soft["first_used_up_at"].as_str(), soft["rejected_requests"].as_u64()),
        (Some("2025-01-16T09:00Z"), Some(0))
    );
    assert_eq!(dec(soft["budget"]["amount"].as_str().unwrap()), dec("7.80"));
    // as LiteLLM's team budget
    let mut args = vec!["suggest", "limits", "--monthly-budget", "9.75USD", "--key", "user_group", "--emit", "litellm"];
    args.extend(range);
    args.extend(["--output", "team.yaml"]);
    let table = env.ok(&args);
    assert!(table.contains("target met: yes") && table.contains("2025-01-20T09:00Z"), "{table}");
    let yaml = std::fs::read_to_string(env.path("team.yaml")).unwrap();
    assert!(
        yaml.ends_with("teams:\n  - team_id: \"search\"\n    max_budget: 9.75\n    soft_budget: 7.8\n    budget_duration: \"1mo\"\nusers: []\n"),
        "{yaml}"
    );
    // a budget that is not money is a usage error
    let mut args = vec!["suggest", "limits", "--monthly-budget", "lots"];
    args.extend(range);
    let err = env.fails(&args, 2);
    assert!(err.contains("500 USD"), "{err}");
}

#[test]
fn requests_on_a_provisioned_pool_save_nothing_when_rejected_and_spend_no_budget() {
    // the pool's hours are paid whether a request is sent or not: its traffic is throttled by
    // the limits like any other, but rejecting it avoids no spend and it uses up no budget
    let env = Env::init();
    env.write(
        "wh/config/prices.csv",
        "served_entity_name,effective_from,currency,input_price_per_1m,cached_input_price_per_1m,output_price_per_1m,cache_write_price_per_1m,pricing_mode,retires_on\n\
         gpt-4o,2025-01-01,USD,2.50,1.25,10.00,,per_token,\n\
         llama-pt,2025-01-01,USD,5.00,5.00,15.00,,provisioned,\n",
    );
    env.write("wh/config/principals.csv", PRINCIPALS);
    let record = |id: &str, second: u32, entity: &str| {
        format!(
            r#"{{"request_id":"{id}","request_time":"2025-03-03T10:00:{second:02}Z","endpoint_name":"chat","served_entity_name":"{entity}","requester":"ana@example.com","status_code":200,"input_tokens":100000,"output_tokens":0}}"#
        )
    };
    let logs = [
        record("p1", 1, "llama-pt"),
        record("p2", 2, "llama-pt"),
        record("g1", 3, "gpt-4o"),
        record("g2", 4, "gpt-4o"),
    ];
    let path = env.write("pool.jsonl", logs.join("\n"));
    env.ok(&["ingest", path.to_str().unwrap()]);
    // one call a minute: p2, g1 and g2 are rejected; only the gpt-4o calls (0.25 each) save spend
    let limits = format!(
        "{}\n[[budget]]\nkey = \"user\"\nbudget = \"0.01 USD\"\nrenewal_period = \"day\"\nenforcement = \"soft\"\n",
        limit("key = \"user\"", "calls = 1")
    );
    let sim = simulate(&env, &limits, &[]);
    assert_eq!(counts(principal(&sim, "ana"))[1], 3);
    assert_eq!(usd(principal(&sim, "ana")), dec("0.5"));
    // p1, the only request admitted, ran on the pool: the budget saw no spend
    let b = &sim["budgets"][0];
    assert_eq!((dec(b["spent"].as_str().unwrap()), b["periods_used_up"].as_u64()), (dec("0"), Some(0)));
}
