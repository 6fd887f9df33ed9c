//! `tokenledger budget status`: spend, forecast, thresholds and the exit code a scheduler alerts on.

use crate::util::Env;

/// A warehouse where alice (group ds, cost center CC-1) spent 3.00 USD on 2025-03-01 and 3.00
/// USD on 2025-03-10, rolled up.
fn spent_in_march() -> Env {
    let env = Env::init();
    let line = |id: &str, day: &str| {
        format!(
            r#"{{"request_id":"{id}","request_time":"2025-03-{day}T10:00:00Z","endpoint_name":"chat","served_entity_name":"m","requester":"alice","status_code":200,"input_tokens":1000000,"output_tokens":0}}"#
        )
    };
    let f = env.write("log.jsonl", [line("a", "01"), line("b", "10")].join("\n") + "\n");
    env.ingest_json(&[f.to_str().unwrap()]);
    env.write(
        "wh/config/prices.csv",
        "served_entity_name,effective_from,currency,input_price_per_1m,cached_input_price_per_1m,output_price_per_1m\nm,2025-01-01,USD,3,3,3\n",
    );
    env.write("wh/config/principals.csv", "requester,group,cost_center\nalice,ds,CC-1\n");
    env.ok(&["rollup"]);
    env
}

fn status(env: &Env, args: &[&str], code: i32) -> serde_json::Value {
    let mut all = vec!["--format", "json", "budget", "status"];
    all.extend_from_slice(args);
    let out = env.run(&all);
    assert_eq!(out.status.code(), Some(code), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn spend_forecast_thresholds_and_exit_codes() {
    let env = spent_in_march();
    env.write(
        "wh/config/budgets.csv",
        "scope,name,period,amount,currency,thresholds\ngroup,ds,monthly,10,USD,50;80;100\n",
    );
    // 6.00 of 10: the 50% threshold; 10 days of data in a 31-day month: forecast 6 x 31 / 10
    let s = status(&env, &[], 0);
    let ds = &s[0];
    assert_eq!((ds["period_label"].as_str(), ds["data_through"].as_str()), (Some("2025-03"), Some("2025-03-10")));
    assert_eq!((ds["spent"].as_str(), ds["used_percent"].as_str()), (Some("6.00"), Some("60.0")));
    assert_eq!(ds["crossed"], serde_json::json!(["50"]));
    assert_eq!((ds["forecast"].as_str(), ds["forecast_percent"].as_str()), (Some("18.60"), Some("186.0")));
    assert_eq!((ds["over"].as_bool(), ds["forecast_over"].as_bool()), (Some(false), Some(true)));
    status(&env, &["--fail-on-forecast"], 3);
    let text = env.ok(&["budget", "status"]);
    assert!(text.contains("forecast over") && text.contains("6.00 (60.0%)"), "{text}");

    // a quarterly budget already spent: exit 3 without asking
    env.write(
        "wh/config/budgets.csv",
        "scope,name,period,amount,currency,thresholds\ngroup,ds,monthly,10,USD,50;80;100\ncost_center,CC-1,quarterly,5,USD,80;100\n",
    );
    let s = status(&env, &[], 3);
    assert_eq!((s[1]["period_label"].as_str(), s[1]["over"].as_bool()), (Some("2025-Q1"), Some(true)));
    assert_eq!(s[1]["crossed"], serde_json::json!(["80", "100"]));
    // February: nothing spent in the month, the quarter still holds March
    let s = status(&env, &["--period", "2025-02"], 3);
    assert_eq!((s[0]["spent"].as_str(), s[0]["over"].as_bool()), (Some("0.00"), Some(false)));
    assert_eq!(s[1]["spent"], "6.00");

    // a broken budgets file is a config error with its line
    env.write("wh/config/budgets.csv", "scope,name,period,amount,currency\nteam,x,monthly,1,USD\n");
    let err = env.fails(&["budget", "status"], 2);
    assert!(err.contains("line 2") && err.contains("scope"), "{err}");
}

/// What `gen` writes tells one story: its budgets are set from the traffic it generated, as the
/// chargeback charges it, at any size; its pools cost list rates, and at about the sample's size
/// (12,000 requests a month here) the batch job's pool pays off and the RAG assistant's does not.
#[test]
fn generated_budgets_and_pools_come_out_as_placed() {
    let env = Env::init();
    let data = env.generate(
        "data",
        &["--rows", "12000", "--days", "31", "--start", "2025-01-01", "--users", "300", "--payload-bytes", "0"],
    );
    for f in ["prices.csv", "principals.csv", "budgets.csv", "capacity.csv"] {
        std::fs::copy(data.join("config").join(f), env.wh().join("config").join(f)).unwrap();
    }
    env.ok(&["-q", "ingest", data.join("logs").to_str().unwrap()]);
    env.ok(&["-q", "rollup"]);

    // groups: one over budget (exit 3), one past 80 % and under 100 %, the rest under 50 %
    let s = status(&env, &[], 3);
    let groups: Vec<&serde_json::Value> = s.as_array().unwrap().iter().filter(|b| b["scope"] == "group").collect();
    let used = |b: &serde_json::Value| b["used_percent"].as_str().unwrap().parse::<f64>().unwrap();
    let over: Vec<f64> = groups.iter().filter(|b| b["over"] == true).map(|b| used(b)).collect();
    let warned: Vec<f64> = groups.iter().filter(|b| (80.0..100.0).contains(&used(b))).map(|b| used(b)).collect();
    let calm = groups.iter().filter(|b| used(b) < 50.0 && b["crossed"].as_array().unwrap().is_empty()).count();
    assert_eq!((over.len(), warned.len(), calm), (1, 1, groups.len() - 2), "{s:#}");
    // the cost centres' quarter: January spent a third, the forecast says where the quarter ends
    let forecast: Vec<f64> = s
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["scope"] == "cost_center")
        .map(|b| b["forecast_percent"].as_str().unwrap().parse::<f64>().unwrap())
        .collect();
    assert_eq!(forecast.len(), 2, "{s:#}");
    assert!((90.0..100.0).contains(&forecast[0]) && forecast[1] < 75.0, "{forecast:?}");

    // the batch job's pool pays off against pay-per-token, the RAG assistant's does not
    let report = env.ok(&["--format", "csv", "report", "provisioned_break_even"]);
    let rows = report.lines().filter(|l| l.contains("pool-")).collect::<Vec<_>>();
    assert_eq!(rows.len(), 2, "{report}");
    let cheaper = |pool: &str| rows.iter().find(|r| r.contains(pool)).map(|r| r.split(',').nth(11).unwrap_or_default());
    assert_eq!(cheaper("pool-doc-extraction-405b"), Some("provisioned"), "{report}");
    assert_eq!(cheaper("pool-rag-llama-70b"), Some("pay_per_token"), "{report}");
}
