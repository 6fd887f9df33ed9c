//! `tokenledger chargeback`: lines that add up to the cent, the same bytes twice, a manifest
//! that describes the file, spreadsheet-safe cells, and unpriced usage that is never free.

use rust_decimal::Decimal;
use sha2::{Digest, Sha256};

use crate::util::{Env, ingested_warehouse, read_csv};

#[test]
fn a_month_adds_up_to_the_cent_and_is_reproducible() {
    let env = ingested_warehouse(3000, 40); // 2025-01-01 .. 2025-02-09
    let rollup: serde_json::Value = serde_json::from_str(&env.ok(&["--format", "json", "rollup"])).unwrap();
    let out = env.path("jan.csv");
    let args = ["chargeback", "--period", "2025-01", "--by", "cost_center,group", "--output", out.to_str().unwrap()];
    env.ok(&args);
    let first = std::fs::read(&out).unwrap();
    env.ok(&args);
    assert_eq!(std::fs::read(&out).unwrap(), first, "same arguments, same table version: same bytes");

    let rows = read_csv(&out);
    assert_eq!(rows[0][..4], ["period_start", "period_end", "cost_center", "group"]);
    let cost_col = rows[0].iter().position(|h| h == "cost").unwrap();
    let req_col = rows[0].iter().position(|h| h == "requests").unwrap();
    let (lines, totals): (Vec<&Vec<String>>, Vec<&Vec<String>>) = rows[1..].iter().partition(|r| r[2] != "*TOTAL*");
    assert!(lines.iter().all(|r| r[0] == "2025-01-01" && r[1] == "2025-01-31"));
    let usd: Decimal = lines.iter().filter(|r| r[4] == "USD").map(|r| r[cost_col].parse::<Decimal>().unwrap()).sum();
    let total = totals.iter().find(|r| r[4] == "USD").unwrap();
    assert_eq!(usd, total[cost_col].parse::<Decimal>().unwrap(), "the lines add up to the total line exactly");
    assert!(lines.iter().all(|r| r[cost_col].is_empty() || r[cost_col].parse::<Decimal>().unwrap().scale() <= 2));
    let requests: i64 = lines.iter().map(|r| r[req_col].parse::<i64>().unwrap()).sum();
    assert!(requests > 0 && requests < rollup["requests"].as_i64().unwrap(), "January only");

    // the manifest describes the file
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(env.path("jan.csv.manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["sha256"], hex::encode(Sha256::digest(&first)));
    assert_eq!(manifest["rows"], rows.len() - 1);
    assert_eq!(manifest["totals"]["USD"]["rounded"], total[cost_col]);
    assert_eq!(manifest["tables"]["usage_daily"]["version"], rollup["versions"][1][1]);
    assert_eq!(manifest["time_zone"], "UTC");
    assert_eq!(manifest["rated_with"][0]["config"]["prices.csv"].as_str().unwrap().len(), 64);
    assert_eq!(manifest["rated_with"][0]["dates"], serde_json::json!(["2025-01-01..2025-01-31"]));

    // late data for January arrives and is rolled up: the export changes, and the version in
    // the first manifest gives the first bytes again
    let late = r#"{"request_id":"late-1","request_time":"2025-01-20T12:00:00Z","endpoint_name":"chat","served_entity_name":"gpt-4o","requester":"late@x.com","status_code":200,"input_tokens":1000000,"output_tokens":0}"#;
    let f = env.write("late.jsonl", format!("{late}\n"));
    env.ingest_json(&[f.to_str().unwrap()]);
    env.ok(&["rollup"]);
    env.ok(&args);
    assert_ne!(std::fs::read(&out).unwrap(), first);
    let version = manifest["tables"]["usage_daily"]["version"].to_string();
    env.ok(&[&args[..], &["--as-of-version", &version]].concat());
    assert_eq!(std::fs::read(&out).unwrap(), first, "--as-of-version reproduces the earlier export");
    let err = env.fails(&[&args[..], &["--as-of-version", "999"]].concat(), 2);
    assert!(err.contains("no version 999"), "{err}");

    // the terminal table shows the same total; a bad key is a usage error
    let text = env.ok(&["chargeback", "--period", "2025-01", "--as-of-version", &version]);
    assert!(text.contains("*TOTAL*") && text.contains(&total[cost_col]), "{text}");
    let err = env.fails(&["chargeback", "--period", "2025-01", "--by", "team"], 2);
    assert!(err.contains("cost_center"), "{err}");
}

#[test]
fn cells_that_a_spreadsheet_would_run_are_neutralised_and_unpriced_usage_is_flagged() {
    let env = Env::init();
    let line = |id: &str, who: &str, model: &str| {
        format!(
            r#"{{"request_id":"{id}","request_time":"2025-03-03T10:00:00Z","endpoint_name":"chat","served_entity_name":"{model}","requester":"{who}","status_code":200,"input_tokens":1000000,"output_tokens":0}}"#
        )
    };
    let log = [
        line("a", "=HYPERLINK(\\\"http://evil\\\")", "m"),
        line("b", "@SUM(1+1)", "m"),
        line("c", "bob", "unknown-model"),
    ];
    let f = env.write("log.jsonl", log.join("\n") + "\n");
    env.ingest_json(&[f.to_str().unwrap()]);
    env.write(
        "wh/config/prices.csv",
        "served_entity_name,effective_from,currency,input_price_per_1m,cached_input_price_per_1m,output_price_per_1m\nm,2025-01-01,USD,0.005,0,0\n",
    );
    env.ok(&["rollup"]);
    let out = env.path("mar.csv");
    let args = ["chargeback", "--period", "2025-03", "--by", "requester", "--output", out.to_str().unwrap()];
    // unpriced usage: written, said, and exit 6 when asked to fail
    let err = env.fails(&[&args[..], &["--fail-on-unpriced"]].concat(), 6);
    assert!(err.contains("1 requests in the period have no price"), "{err}");
    let focus = env.path("focus.csv");
    let err = env.fails(
        &[
            "--format",
            "focus",
            "chargeback",
            "--period",
            "2025-03",
            "--output",
            focus.to_str().unwrap(),
            "--fail-on-unpriced",
        ],
        6,
    );
    assert!(err.contains("left") && !std::fs::read_to_string(&focus).unwrap().contains("unknown-model"), "{err}");
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.contains("'=HYPERLINK(\"\"http://evil\"\")") && text.contains("'@SUM(1+1)"), "{text}");
    assert!(!text.lines().any(|l| l.starts_with('=') || l.contains(",=") || l.contains(",@")), "{text}");
    let rows = read_csv(&out);
    let cost = rows[0].iter().position(|h| h == "cost").unwrap();
    let bob = rows.iter().find(|r| r[2] == "bob").unwrap();
    assert_eq!((bob[3].as_str(), bob[cost].as_str()), ("", ""), "unpriced: no currency, no cost, never 0");
    // two requests of 1M tokens at 0.005 per 1M: half a cent each, one cent in total, and the
    // lines add up to it (largest remainder gives the cent to one of them)
    let priced: Vec<&Vec<String>> = rows[1..].iter().filter(|r| r[3] == "USD").collect();
    let sum: Decimal = priced.iter().filter(|r| r[2] != "*TOTAL*").map(|r| r[cost].parse::<Decimal>().unwrap()).sum();
    let total = priced.iter().find(|r| r[2] == "*TOTAL*").unwrap();
    assert_eq!((sum.to_string(), total[cost].as_str()), ("0.01".to_string(), "0.01"));
    // without --fail-on-unpriced the run succeeds
    env.ok(&args);
}

#[test]
fn a_month_in_a_time_zone_is_cut_at_its_midnights() {
    let env = Env::init();
    let line = |id: &str, time: &str| {
        format!(
            r#"{{"request_id":"{id}","request_time":"{time}","endpoint_name":"chat","served_entity_name":"m","requester":"alice","status_code":200,"input_tokens":1000000,"output_tokens":0}}"#
        )
    };
    // UTC:      December,             January,              January,              February
    // New York: December,             December 31,          January 31,           January 31
    let log = [
        line("a", "2024-12-31T12:00:00Z"),
        line("b", "2025-01-01T03:00:00Z"),
        line("c", "2025-01-31T23:30:00Z"),
        line("d", "2025-02-01T03:00:00Z"),
    ];
    let f = env.write("log.jsonl", log.join("\n") + "\n");
    env.ingest_json(&[f.to_str().unwrap()]);
    env.write(
        "wh/config/prices.csv",
        "served_entity_name,effective_from,currency,input_price_per_1m,cached_input_price_per_1m,output_price_per_1m\nm,2024-01-01,USD,1,1,1\n",
    );
    env.ok(&["rollup"]);
    let total_requests = |extra: &[&str]| -> i64 {
        let mut args = vec!["--format", "json", "chargeback", "--period", "2025-01", "--by", "requester"];
        args.extend_from_slice(extra);
        let v: serde_json::Value = serde_json::from_str(&env.ok(&args)).unwrap();
        v["lines"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["keys"][0] == "*TOTAL*")
            .map(|l| l["requests"].as_i64().unwrap())
            .sum()
    };
    assert_eq!(total_requests(&[]), 2, "UTC January: b and c");
    assert_eq!(total_requests(&["--tz", "America/New_York"]), 2, "New York January: c and d");
    let v: serde_json::Value = serde_json::from_str(&env.ok(&[
        "--format",
        "json",
        "chargeback",
        "--period",
        "2025-01",
        "--tz",
        "America/New_York",
    ]))
    .unwrap();
    assert_eq!((v["table"].as_str(), v["tz"].as_str()), (Some("usage_hourly"), Some("America/New_York")));
    let err = env.fails(&["chargeback", "--period", "2025-01", "--tz", "Asia/Kolkata"], 2);
    assert!(err.contains("whole UTC hour"), "{err}");
    let err = env.fails(&["chargeback", "--period", "2025-01", "--tz", "Mars/Olympus"], 2);
    assert!(err.contains("Mars/Olympus"), "{err}");
}

#[test]
fn focus_export_has_the_specification_columns_and_the_same_cost() {
    let env = ingested_warehouse(3000, 40);
    env.ok(&["rollup"]);
    let out = env.path("focus.csv");
    env.ok(&["--format", "focus", "chargeback", "--period", "2025-01", "--output", out.to_str().unwrap()]);
    let rows = read_csv(&out);
    let header = &rows[0];
    for column in tokenledger::chargeback::FOCUS_COLUMNS {
        assert!(header.iter().any(|h| h == column), "FOCUS column {column} missing");
    }
    let custom: Vec<&String> =
        header.iter().filter(|h| !tokenledger::chargeback::FOCUS_COLUMNS.contains(&h.as_str())).collect();
    assert!(!custom.is_empty() && custom.iter().all(|h| h.starts_with("x_")), "{custom:?}");
    let at = |name: &str| header.iter().position(|h| h == name).unwrap();
    let instant = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap_or_else(|e| panic!("{s:?}: {e}"));
    let mut billed = Decimal::ZERO;
    for r in &rows[1..] {
        let cost: Decimal = r[at("BilledCost")].parse().unwrap();
        for same in ["EffectiveCost", "ListCost", "ContractedCost"] {
            assert_eq!(r[at(same)].parse::<Decimal>().unwrap(), cost);
        }
        billed += cost;
        let (start, end) = (instant(&r[at("ChargePeriodStart")]), instant(&r[at("ChargePeriodEnd")]));
        assert_eq!(end - start, chrono::Duration::days(1));
        assert!(
            r[at("ChargePeriodStart")].ends_with("T00:00:00Z") && r[at("ChargePeriodStart")].starts_with("2025-01-")
        );
        assert_eq!(
            (r[at("BillingPeriodStart")].as_str(), r[at("BillingPeriodEnd")].as_str()),
            ("2025-01-01T00:00:00Z", "2025-02-01T00:00:00Z")
        );
        assert_eq!(
            (r[at("ChargeCategory")].as_str(), r[at("BillingCurrency")].as_str(), r[at("PricingUnit")].as_str()),
            ("Usage", "USD", "Tokens")
        );
        assert!(r[at("PricingQuantity")].parse::<i64>().unwrap() >= 0);
        assert!(serde_json::from_str::<serde_json::Value>(&r[at("Tags")]).unwrap().is_object());
    }
    // the same money as the chargeback, unrounded
    let cb: serde_json::Value =
        serde_json::from_str(&env.ok(&["--format", "json", "chargeback", "--period", "2025-01"])).unwrap();
    assert_eq!(billed, cb["totals"]["USD"][0].as_str().unwrap().parse::<Decimal>().unwrap());
    let err = env.fails(&["--format", "focus", "rollup"], 2);
    assert!(err.contains("chargeback"), "{err}");
}

#[test]
fn a_pool_costs_every_hour_shared_by_tokens_with_idle_hours_to_its_owner() {
    let env = Env::init();
    let line = |id: &str, time: &str, who: &str, endpoint: &str, tokens: u32| {
        format!(
            r#"{{"request_id":"{id}","request_time":"{time}","endpoint_name":"{endpoint}","served_entity_name":"m-pt","requester":"{who}","status_code":200,"input_tokens":{tokens},"output_tokens":0}}"#
        )
    };
    let log = [
        // hour 10: alice 300 tokens, bob 100: 7.50 and 2.50 of the 10.00
        line("a", "2025-03-01T10:05:00Z", "alice", "pt-ep", 300),
        line("b", "2025-03-01T10:40:00Z", "bob", "pt-ep", 100),
        // hour 11: alice alone
        line("c", "2025-03-01T11:00:00Z", "alice", "pt-ep", 50),
        // the same model on another endpoint is not the pool's traffic: priced per token
        line("d", "2025-03-01T12:00:00Z", "bob", "other-ep", 1_000_000),
    ];
    let f = env.write("log.jsonl", log.join("\n") + "\n");
    env.ingest_json(&[f.to_str().unwrap()]);
    env.write(
        "wh/config/prices.csv",
        "served_entity_name,effective_from,currency,input_price_per_1m,cached_input_price_per_1m,output_price_per_1m,pricing_mode\nm-pt,2025-01-01,USD,1,1,1,provisioned\n",
    );
    env.write("wh/config/principals.csv", "requester,group,cost_center\nalice,ds,CC-1\nbob,web,CC-2\n");
    env.write(
        "wh/config/capacity.csv",
        "pool,endpoint_name,served_entity_name,cost_per_hour,currency,effective_from,effective_to,owner_group\npt-pool,pt-ep,m-pt,10.00,USD,2025-03-01,,platform\n",
    );
    env.ok(&["rollup"]);
    let out = env.path("day.csv");
    env.ok(&[
        "chargeback",
        "--from",
        "2025-03-01",
        "--to",
        "2025-03-01",
        "--by",
        "group",
        "--output",
        out.to_str().unwrap(),
    ]);
    let rows = read_csv(&out);
    let at = |name: &str| rows[0].iter().position(|h| h == name).unwrap();
    let got: Vec<String> =
        rows[1..].iter().map(|r| format!("{} {} {}", r[at("group")], r[at("charge")], r[at("cost")])).collect();
    assert_eq!(
        got,
        [
            "ds usage 0.00",     // alice's pooled tokens are paid by the pool, not per token
            "web usage 1.00",    // bob's 1M tokens elsewhere: 1.00 per token price
            "ds capacity 17.50", // 7.50 + 10.00
            "web capacity 2.50",
            "platform idle 220.00", // 22 idle hours x 10.00
            "*TOTAL* total 241.00", // 24 x 10.00 + 1.00
        ],
        "{rows:?}"
    );
    // --share-idle: the 220.00 idle goes to the users by their tokens in the day (350 : 100)
    env.ok(&[
        "chargeback",
        "--from",
        "2025-03-01",
        "--to",
        "2025-03-01",
        "--by",
        "group",
        "--share-idle",
        "--output",
        out.to_str().unwrap(),
    ]);
    let rows = read_csv(&out);
    let got: Vec<String> =
        rows[1..].iter().map(|r| format!("{} {} {}", r[at("group")], r[at("charge")], r[at("cost")])).collect();
    assert_eq!(
        got,
        [
            "ds usage 0.00",
            "web usage 1.00",
            "ds capacity 17.50",
            "web capacity 2.50",
            "ds idle 171.11",
            "web idle 48.89",
            "*TOTAL* total 241.00"
        ],
        "{rows:?}"
    );
    // the FOCUS export carries the same money: pooled traffic at 0, the pool's hours as rows
    let focus = env.path("focus.csv");
    env.ok(&[
        "--format",
        "focus",
        "chargeback",
        "--from",
        "2025-03-01",
        "--to",
        "2025-03-01",
        "--output",
        focus.to_str().unwrap(),
    ]);
    let f = read_csv(&focus);
    let col = |name: &str| f[0].iter().position(|h| h == name).unwrap();
    let sum = |status: &str, unit: &str| -> Decimal {
        f[1..]
            .iter()
            .filter(|r| r[col("CapacityReservationStatus")] == status && r[col("PricingUnit")] == unit)
            .map(|r| r[col("BilledCost")].parse::<Decimal>().unwrap())
            .sum()
    };
    assert_eq!(sum("Used", "Hours"), Decimal::new(2000, 2), "{f:?}");
    assert_eq!(sum("Unused", "Hours"), Decimal::new(22000, 2));
    assert_eq!(sum("Used", "Tokens"), Decimal::ZERO, "pooled traffic is not charged per token");
    assert_eq!(sum("", "Tokens"), Decimal::ONE);
    let idle = f[1..].iter().find(|r| r[col("CapacityReservationStatus")] == "Unused").unwrap();
    assert_eq!((idle[col("PricingQuantity")].as_str(), idle[col("x_Group")].as_str()), ("22", "platform"));
    // budgets see the same charges: the owner group pays the idle hours of the day so far
    env.write("wh/config/budgets.csv", "scope,name,period,amount,currency,thresholds\ngroup,platform,monthly,1000,USD,50;100\ngroup,ds,monthly,1000,USD,100\n");
    let s: serde_json::Value = serde_json::from_str(&env.ok(&["--format", "json", "budget", "status"])).unwrap();
    assert_eq!((s[0]["spent"].as_str(), s[1]["spent"].as_str()), (Some("220.00"), Some("17.50")), "{s}");
    // --as-of-version cannot pin two tables
    let err = env.fails(&["chargeback", "--from", "2025-03-01", "--to", "2025-03-01", "--as-of-version", "1"], 2);
    assert!(err.contains("--as-of TIMESTAMP"), "{err}");
}
