//! Reconciling the ledger with the providers' bills, end to end: logs, bills made from the same
//! requests with planted faults, `reconcile` flagging exactly those, and `chargeback --true-up`
//! adding up to the bills to the cent.
//!
//! Prices (per million tokens; the providers' list prices): GPT-4o 2.50 / cached 1.25 / output
//! 10.00, GPT-4o mini 0.15 / 0.075 / 0.60, Claude Sonnet 4.5 3.00 / 0.30 / 15.00.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::util::{Env, read_csv};

const PRICES: &str = "\
served_entity_name,effective_from,currency,input_price_per_1m,cached_input_price_per_1m,output_price_per_1m,provider,catalog_model
gpt-4o,2025-01-01,USD,2.50,1.25,10.00,openai,
gpt-4o-mini,2025-01-01,USD,0.15,0.075,0.60,openai,
claude-sonnet,2025-01-01,USD,3.00,0.30,15.00,anthropic,claude-sonnet-4-5-20250929
";

const PRINCIPALS: &str = "requester,group,cost_center\nana@example.com,search,CC-100\nbob@example.com,support,CC-200\n";

/// gpt-4o is billed as gpt-4o-2024-08-06 (a mapping row); claude-sonnet by the price book's
/// catalog_model; gpt-4o-mini under its own name.
/// OpenAI project proj_main belongs to cost center CC-900 (an account row).
const MAPPING: &str = "provider,provider_model,served_entity_name,account,cost_center
openai,gpt-4o-2024-08-06,gpt-4o,,
openai,,,proj_main,CC-900
";

/// (served entity, provider, the bill's model id, per-1M prices input / cached / output)
const MODELS: [(&str, &str, &str, [&str; 3]); 3] = [
    ("gpt-4o", "openai", "gpt-4o-2024-08-06", ["2.50", "1.25", "10.00"]),
    ("gpt-4o-mini", "openai", "gpt-4o-mini", ["0.15", "0.075", "0.60"]),
    ("claude-sonnet", "anthropic", "claude-sonnet-4-5-20250929", ["3.00", "0.30", "15.00"]),
];

/// One logged request.
struct Request {
    day: u32,
    model: usize,
    requester: &'static str,
    prompt: i64,
    cached: i64,
    output: i64,
}

fn requests() -> Vec<Request> {
    let mut out = Vec::new();
    for day in 1..=5 {
        for model in 0..MODELS.len() {
            for i in 0..3 {
                let prompt = 1_000_000 * (day as i64 + 1) + 1_000 * model as i64 + 37 * i;
                out.push(Request {
                    day,
                    model,
                    requester: if i == 2 { "bob@example.com" } else { "ana@example.com" },
                    prompt,
                    cached: prompt / 4,
                    output: 20_000 + 100 * day as i64 + i,
                });
            }
        }
    }
    out
}

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

/// Day x model -> (uncached input, cached, output, requests).
fn sums(rs: &[Request]) -> BTreeMap<(u32, usize), [i64; 4]> {
    let mut m: BTreeMap<(u32, usize), [i64; 4]> = BTreeMap::new();
    for r in rs {
        let e = m.entry((r.day, r.model)).or_default();
        e[0] += r.prompt - r.cached;
        e[1] += r.cached;
        e[2] += r.output;
        e[3] += 1;
    }
    m
}

fn day_start(day: u32) -> i64 {
    1_740_787_200 + (day as i64 - 1) * 86_400 // 2025-03-01T00:00:00Z
}

/// The bills of the month: OpenAI usage and costs pages, Anthropic usage and cost reports,
/// made from `rs` with the planted faults: Claude billed 10 % above its price, and a model
/// no served entity is billed under on day 2.
fn bills(rs: &[Request]) -> (Value, Value, Value, Value, Decimal) {
    let mut total = Decimal::ZERO;
    let (mut oa_usage, mut oa_costs, mut an_usage, mut an_cost) = (vec![], vec![], vec![], vec![]);
    let mut per_day: BTreeMap<u32, Vec<(usize, [i64; 4])>> = BTreeMap::new();
    for ((day, model), s) in sums(rs) {
        per_day.entry(day).or_default().push((model, s));
    }
    for (day, models) in per_day {
        let (mut ou, mut oc, mut au, mut ac) = (vec![], vec![], vec![], vec![]);
        let mut models: Vec<(&str, &str, [&str; 3], [i64; 4])> =
            models.iter().map(|(m, s)| (MODELS[*m].1, MODELS[*m].2, MODELS[*m].3, *s)).collect();
        if day == 2 {
            models.push(("openai", "gpt-4.1-2025-04-14", ["2.00", "0.50", "8.00"], [5000, 0, 700, 2]));
        }
        for (provider, model, prices, [input, cached, output, n]) in models {
            let markup = if provider == "anthropic" { dec("1.1") } else { Decimal::ONE };
            let cost =
                |tokens: i64, price: &str| Decimal::from(tokens) * dec(price) * markup / Decimal::from(1_000_000);
            let costs = [
                ("input", cost(input, prices[0])),
                ("cached input", cost(cached, prices[1])),
                ("output", cost(output, prices[2])),
            ];
            total += costs.iter().map(|(_, c)| *c).sum::<Decimal>();
            if provider == "openai" {
                ou.push(json!({"object": "organization.usage.completions.result", "input_tokens": input + cached,
                    "input_cached_tokens": cached, "output_tokens": output, "num_model_requests": n, "model": model}));
                for (kind, c) in costs.iter().filter(|(_, c)| !c.is_zero()) {
                    let value: Value = serde_json::from_str(&c.normalize().to_string()).unwrap();
                    let project = if model.starts_with("gpt-4.1") { "proj_sandbox" } else { "proj_main" };
                    oc.push(
                        json!({"object": "organization.costs.result", "amount": {"value": value, "currency": "usd"},
                        "line_item": format!("{model}, {kind}"), "project_id": project}),
                    );
                }
            } else {
                au.push(json!({"uncached_input_tokens": input, "cache_read_input_tokens": cached,
                    "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
                    "output_tokens": output, "server_tool_use": {"web_search_requests": 0}, "model": model}));
                for ((_, c), token_type) in
                    costs.iter().zip(["uncached_input_tokens", "cache_read_input_tokens", "output_tokens"])
                {
                    let cents = (*c * Decimal::ONE_HUNDRED).normalize().to_string();
                    ac.push(json!({"currency": "USD", "amount": cents, "cost_type": "tokens", "token_type": token_type,
                        "model": model, "service_tier": "standard", "description": "usage", "workspace_id": "wrkspc_main"}));
                }
            }
        }
        let (start, end) = (day_start(day), day_start(day + 1));
        let iso = |t: i64| chrono::DateTime::from_timestamp(t, 0).unwrap().format("%Y-%m-%dT%H:%M:%SZ").to_string();
        oa_usage.push(json!({"object": "bucket", "start_time": start, "end_time": end, "results": ou}));
        oa_costs.push(json!({"object": "bucket", "start_time": start, "end_time": end, "results": oc}));
        an_usage.push(json!({"starting_at": iso(start), "ending_at": iso(end), "results": au}));
        an_cost.push(json!({"starting_at": iso(start), "ending_at": iso(end), "results": ac}));
    }
    let page = |data: Vec<Value>| json!({"object": "page", "data": data, "has_more": false, "next_page": null});
    let anthropic_page = |data: Vec<Value>| json!({"data": data, "has_more": false, "next_page": null});
    (page(oa_usage), page(oa_costs), anthropic_page(an_usage), anthropic_page(an_cost), total)
}

/// A warehouse with the price book, the principals and the bill mapping of this file.
fn priced_env() -> Env {
    let env = Env::init();
    env.write("wh/config/prices.csv", PRICES);
    env.write("wh/config/principals.csv", PRINCIPALS);
    env.write("wh/config/bill_mapping.csv", MAPPING);
    env
}

fn native(rs: &[Request]) -> String {
    rs.iter()
        .enumerate()
        .map(|(i, r)| {
            json!({"request_id": format!("r{i}"), "request_time": format!("2025-03-{:02}T10:{:02}:00Z", r.day, i % 60),
                "endpoint_name": "chat", "served_entity_name": MODELS[r.model].0, "provider": MODELS[r.model].1,
                "requester": r.requester, "status_code": 200, "input_tokens": r.prompt, "cached_input_tokens": r.cached,
                "output_tokens": r.output})
            .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn reconcile_flags_exactly_the_planted_faults_and_true_up_charges_the_bills() {
    let env = priced_env();
    let all = requests();
    // planted: day 3's gpt-4o-mini logs are lost
    let logged: Vec<Request> = requests().into_iter().filter(|r| !(r.day == 3 && r.model == 1)).collect();
    let logs = env.write("logs.jsonl", native(&logged));
    env.ok(&["ingest", logs.to_str().unwrap()]);
    env.ok(&["rollup"]);
    let (oa_usage, oa_costs, an_usage, an_cost, billed) = bills(&all);
    let files = [
        env.write("bills/openai_usage.json", oa_usage.to_string()),
        env.write("bills/openai_costs.json", oa_costs.to_string()),
        env.write("bills/anthropic_usage.json", an_usage.to_string()),
        env.write("bills/anthropic_cost.json", an_cost.to_string()),
    ];
    let mut args = vec!["bill", "import"];
    args.extend(files.iter().map(|f| f.to_str().unwrap()));
    let out = env.ok(&args);
    assert!(out.contains("0 rows quarantined"), "{out}");

    env.fails(&["reconcile", "--period", "2025-03", "--format", "csv", "--output", "recon.csv"], 7);
    let rows = read_csv(&env.path("recon.csv"));
    let col = |name: &str| rows[0].iter().position(|c| c == name).unwrap();
    let (model, kind, day, status) = (col("provider_model"), col("charge_kind"), col("date"), col("status"));
    let mut not_ok = BTreeMap::new();
    for r in &rows[1..] {
        if r[status] != "ok" {
            not_ok.insert((r[day].clone(), r[model].clone(), r[kind].clone()), r[status].clone());
        }
    }
    let mut want = BTreeMap::new();
    for kind in ["input", "cached_input", "output"] {
        want.insert(
            ("2025-03-03".to_string(), "gpt-4o-mini".to_string(), kind.to_string()),
            "missing_in_ledger".to_string(),
        );
        for d in 1..=5 {
            let key = (format!("2025-03-0{d}"), "claude-sonnet-4-5-20250929".to_string(), kind.to_string());
            want.insert(key, "price_mismatch".to_string());
        }
    }
    for kind in ["input", "output"] {
        want.insert(("2025-03-02".into(), "gpt-4.1-2025-04-14".into(), kind.into()), "unmatched_model".into());
    }
    assert_eq!(not_ok, want, "rows not ok:\n{rows:?}");
    // every other row is ok: 5 days x 2 models x 3 kinds, less day 3's missing mini
    assert_eq!(rows.len() - 1 - want.len(), 5 * 2 * 3 - 3, "ok rows");
    // the table for people names the fix for the unmatched model and the implied prices
    let text = String::from_utf8(env.run(&["reconcile", "--period", "2025-03"]).stdout).unwrap();
    assert!(
        text.contains("config/bill_mapping.csv")
            && text.contains("billed 3.3 per 1M, the book 3 per 1M")
            && text.contains("bills counted: anthropic anthropic-cost, anthropic anthropic-usage, openai openai-costs"),
        "{text}"
    );

    // the chargeback charged back at the invoice: its total is the bills' total, to the cent
    env.ok(&["chargeback", "--period", "2025-03", "--true-up", "--output", "cb.csv"]);
    let cb = read_csv(&env.path("cb.csv"));
    let head = &cb[0];
    let at = |name: &str| head.iter().position(|c| c == name).unwrap();
    let total = cb.iter().find(|r| r[at("charge")] == "total" && r[at("currency")] == "USD").expect("a USD total");
    assert_eq!(
        dec(&total[at("cost")]),
        tokenledger::money::round(billed, 2),
        "the chargeback total is the bills' total"
    );
    let true_ups: Vec<&Vec<String>> = cb.iter().filter(|r| r[at("charge")] == "true_up").collect();
    // bill cost no logged request explains: to the cost center of its project where one is
    // mapped (day 3's lost gpt-4o-mini logs, proj_main), else UNALLOCATED (the sandbox's model)
    let unexplained = |cc: &str| true_ups.iter().any(|r| r[at("cost_center")] == cc && r[at("group")] == "UNALLOCATED");
    assert!(unexplained("CC-900") && unexplained("UNALLOCATED"), "{true_ups:?}");
    assert!(true_ups.iter().any(|r| r[at("cost_center")] == "CC-100"), "{true_ups:?}");
    let sum: Decimal = cb[1..].iter().filter(|r| r[at("charge")] != "total").map(|r| dec(&r[at("cost")])).sum();
    assert_eq!(sum, dec(&total[at("cost")]), "the lines add up to the total");
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(env.path("cb.csv.manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["true_up"]["bill_files"].as_array().unwrap().len(), 4, "{manifest}");

    // FOCUS carries the true-up as Adjustment rows: its BilledCost adds up to the bills exactly
    env.ok(&["--format", "focus", "chargeback", "--period", "2025-03", "--true-up", "--output", "focus.csv"]);
    let focus = read_csv(&env.path("focus.csv"));
    let f = |name: &str| focus[0].iter().position(|c| c == name).unwrap();
    let billed_cost: Decimal = focus[1..].iter().map(|r| dec(&r[f("BilledCost")])).sum();
    assert_eq!(billed_cost, billed, "FOCUS BilledCost is the bills' total, exactly");
    assert!(focus[1..].iter().any(|r| r[f("ChargeCategory")] == "Adjustment"), "true-up rows are adjustments");

    // importing the same bills again changes nothing
    let again = env.ok(&args);
    assert_eq!(again.matches("skipped: already imported").count(), 4, "{again}");
}

#[test]
fn bills_that_cannot_be_compared_are_refused_or_quarantined_with_the_reason() {
    let env = Env::init();
    env.write("wh/config/prices.csv", PRICES);
    // a gateway log is no bill: refused, naming the sources
    let log = env.write("logs.jsonl", native(&requests()[..2]));
    let err = env.fails(&["bill", "import", log.to_str().unwrap()], 1);
    assert!(err.contains("--source"), "{err}");
    let empty = env.write("empty.json", "");
    let err = env.fails(&["bill", "import", empty.to_str().unwrap()], 1);
    assert!(err.contains("empty"), "{err}");
    // a cost in a currency the price book does not price in is quarantined, the rest imported
    let page = json!({"data": [{"starting_at": "2025-03-01T00:00:00Z", "ending_at": "2025-03-02T00:00:00Z", "results": [
        {"currency": "USD", "amount": "150", "cost_type": "tokens", "token_type": "output_tokens", "model": "claude-sonnet-4-5-20250929"},
        {"currency": "EUR", "amount": "99", "cost_type": "tokens", "token_type": "output_tokens", "model": "claude-sonnet-4-5-20250929"}
    ]}], "has_more": false});
    let bill = env.write("cost.json", page.to_string());
    let out = env.ok(&["--format", "json", "bill", "import", bill.to_str().unwrap()]);
    let summary: Value = serde_json::from_str(&out).unwrap();
    assert_eq!((summary["lines"].as_u64(), summary["quarantined"].as_u64()), (Some(1), Some(1)), "{summary}");
    let q = env.ok(&["sql", "--format", "csv", "SELECT reason_code, reason FROM quarantine"]);
    assert!(q.contains("currency_not_held") && q.contains("prices in USD only"), "{q}");
    let lines = env.ok(&["sql", "--format", "csv", "SELECT CAST(cost AS VARCHAR) AS cost FROM bill_lines"]);
    assert!(lines.contains("1.5"), "150 cents are 1.50 USD: {lines}");
    // reconcile before the usage tables exist says what to run
    let err = env.fails(&["reconcile", "--period", "2025-03"], 2);
    assert!(err.contains("rollup"), "{err}");
}

#[test]
fn a_scheduled_run_imports_the_bills_reconciles_the_month_and_exports_the_invoice() {
    let env = priced_env();
    let all = requests();
    let logged: Vec<Request> = requests().into_iter().filter(|r| !(r.day == 3 && r.model == 1)).collect();
    env.write("inbox/logs.jsonl", native(&logged));
    let (oa_usage, oa_costs, an_usage, an_cost, billed) = bills(&all);
    env.write("bills/openai_usage.json", oa_usage.to_string());
    env.write("bills/openai_costs.json", oa_costs.to_string());
    env.write("bills/anthropic_usage.json", an_usage.to_string());
    env.write("bills/anthropic_cost.json", an_cost.to_string());
    env.write(
        "tokenledger.toml",
        "warehouse = \"wh\"\n[inbox]\npaths = [\"inbox\"]\n[bills]\npaths = [\"bills\"]\ntrue_up = true\n\
         [export]\ndir = \"exports\"\nperiod = \"2025-03\"\nbudgets = false\n",
    );
    let out = env.run(&["--format", "json", "run", "--config", "tokenledger.toml"]);
    assert_eq!(out.status.code(), Some(7), "rows not ok exit 7\n{}", crate::util::show(&out));
    let record: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(record["outcome"], "unreconciled", "{record}");
    let notes = record["notes"].to_string();
    assert!(notes.contains("reconcile 2025-03: 20 of 47 rows not ok"), "{notes}");
    // the export is the invoice
    let cb = read_csv(&env.path("exports/chargeback-2025-03.csv"));
    let at = |name: &str| cb[0].iter().position(|c| c == name).unwrap();
    let total = cb.iter().find(|r| r[at("charge")] == "total").unwrap();
    assert_eq!(dec(&total[at("cost")]), tokenledger::money::round(billed, 2));
    // the next cycle imports nothing again and reconciles the same
    let out = env.run(&["--format", "json", "run", "--config", "tokenledger.toml"]);
    assert_eq!(out.status.code(), Some(7), "{}", crate::util::show(&out));
    let record: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(!record["notes"].to_string().contains("bills:"), "no bill imported twice: {record}");
}

#[test]
fn a_later_export_of_the_same_period_replaces_the_earlier_one() {
    let env = Env::init();
    env.write("wh/config/prices.csv", PRICES);
    let logs = env.write("logs.jsonl", native(&requests()));
    env.ok(&["ingest", logs.to_str().unwrap()]);
    env.ok(&["rollup"]);
    // Anthropic's report for March 1st, exported twice: the second export restates the day
    let export = |cents: &str| {
        json!({"data": [{"starting_at": "2025-03-01T00:00:00Z", "ending_at": "2025-03-02T00:00:00Z", "results": [
            {"currency": "USD", "amount": cents, "cost_type": "tokens", "token_type": "output_tokens",
             "model": "claude-sonnet-4-5-20250929"}]}], "has_more": false})
        .to_string()
    };
    let first = env.write("cost-early.json", export("100"));
    env.ok(&["bill", "import", first.to_str().unwrap()]);
    let second = env.write("cost-final.json", export("250"));
    env.ok(&["bill", "import", second.to_str().unwrap()]);
    env.fails(&["reconcile", "--period", "2025-03", "--format", "csv", "--output", "r.csv"], 7);
    let rows = read_csv(&env.path("r.csv"));
    let col = |name: &str| rows[0].iter().position(|c| c == name).unwrap();
    let day1: Vec<&Vec<String>> =
        rows.iter().filter(|r| r[col("date")] == "2025-03-01" && r[col("charge_kind")] == "output").collect();
    assert_eq!(day1.len(), 1, "{rows:?}");
    assert_eq!(dec(&day1[0][col("bill_cost")]), dec("2.5"), "the final export counts, not both");
}

/// The total of a column of a Databricks fixture's expected sums.
fn expected_total(name: &str, column: &str) -> Decimal {
    let rows = read_csv(&databricks_fixture(name));
    let at = rows[0].iter().position(|c| c == column).unwrap();
    rows[1..].iter().filter(|r| !r[at].is_empty()).map(|r| dec(&r[at])).sum()
}

fn databricks_fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/bills/databricks").join(name)
}

#[test]
fn a_databricks_billing_export_is_imported_with_its_list_prices_and_refused_without_them() {
    let env = Env::init();
    env.write("wh/config/prices.csv", PRICES);
    let usage = databricks_fixture("billing_usage.csv");
    let prices = databricks_fixture("list_prices.csv");
    let (usage, prices) = (usage.to_str().unwrap(), prices.to_str().unwrap());
    // DBUs are no money: without prices the file is refused, saying what to give, and nothing is written
    for args in [&["bill", "import", "--source", "databricks-billing", usage][..], &["bill", "import", usage][..]] {
        let err = env.fails(args, 2);
        assert!(err.contains("--list-prices") && err.contains("--dbu-rate"), "{err}");
    }
    // the price list is not a bill
    let err = env.fails(&["bill", "import", prices], 1);
    assert!(err.contains("--list-prices"), "{err}");

    let out = env.ok(&[
        "--format",
        "json",
        "bill",
        "import",
        "--source",
        "databricks-billing",
        "--list-prices",
        prices,
        usage,
    ]);
    let summary: Value = serde_json::from_str(&out).unwrap();
    let skipped: u64 = read_csv(&databricks_fixture("billing_usage.expected_skipped.csv"))[1][0].parse().unwrap();
    assert_eq!(summary["quarantined"].as_u64(), Some(0), "{summary}");
    assert_eq!(summary["skipped"].as_u64(), Some(skipped), "{summary}");
    let file = &summary["files"][0];
    assert_eq!(file["source"], "databricks-billing");
    let cost = expected_total("billing_usage.expected.csv", "cost");
    assert_eq!(file["cost"], json!([["USD", cost.normalize().to_string()]]), "{summary}");
    // the DBUs themselves, their unit and the endpoints are in bill_lines
    let got = env.ok(&[
        "sql",
        "--format",
        "csv",
        "SELECT CAST(SUM(usage_quantity) AS VARCHAR) AS dbus, COUNT(DISTINCT endpoint_name) AS endpoints, \
         MIN(usage_unit) AS unit, MIN(provider) AS provider FROM bill_lines",
    ]);
    let row: Vec<&str> = got.lines().nth(1).unwrap().split(',').collect();
    assert_eq!(dec(row[0]), expected_total("billing_usage.expected.csv", "usage_quantity"), "{got}");
    assert_eq!(&row[1..], ["4", "DBU", "databricks"], "{got}");

    // the external model spend export goes in by its columns, in dollars
    let spend = databricks_fixture("external_model_spend.csv");
    let out = env.ok(&["--format", "json", "bill", "import", spend.to_str().unwrap()]);
    let summary: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(summary["files"][0]["source"], "databricks-external-spend", "{summary}");
    let cost = expected_total("external_model_spend.expected.csv", "cost");
    assert_eq!(summary["files"][0]["cost"], json!([["USD", cost.normalize().to_string()]]), "{summary}");
}

#[test]
fn the_gateways_view_of_spend_is_not_counted_where_the_providers_own_bill_is() {
    let env = Env::init();
    env.write("wh/config/prices.csv", PRICES);
    env.write("wh/config/bill_mapping.csv", MAPPING);
    let logs = env.write("logs.jsonl", native(&requests()));
    env.ok(&["ingest", logs.to_str().unwrap()]);
    env.ok(&["rollup"]);
    let (_, oa_costs, ..) = bills(&requests());
    let own = env.write("openai_costs.json", oa_costs.to_string());
    // Databricks' external_model_spend of the same OpenAI traffic on March 1st (one hour of it),
    // and of Anthropic's on March 2nd, which has no bill of its own here
    let header = "record_id,account_id,workspace_id,usage_start_time,usage_end_time,usage_date,usage_unit,\
                  usage_quantity,usage_metadata,identity_metadata,custom_tags";
    let row = |id: &str, day: &str, provider: &str, model: &str, usd: &str| {
        format!(
            "{id},acc,1,{day}T10:00:00.000Z,{day}T11:00:00.000Z,{day},USD,{usd},\
             \"{{\"\"provider\"\":\"\"{provider}\"\",\"\"model\"\":\"\"{model}\"\",\"\"endpoint_name\"\":\"\"chat\"\"}}\",\
             \"{{\"\"run_by\"\":\"\"ana@example.com\"\"}}\",\"{{}}\""
        )
    };
    let spend = env.write(
        "external_model_spend.csv",
        [
            header.to_string(),
            row("s1", "2025-03-01", "openai", "gpt-4o-2024-08-06", "99.00"),
            row("s2", "2025-03-02", "anthropic", "claude-sonnet-4-5-20250929", "7.00"),
        ]
        .join("\n")
            + "\n",
    );
    env.ok(&["bill", "import", own.to_str().unwrap(), spend.to_str().unwrap()]);
    let out = env.run(&["reconcile", "--period", "2025-03", "--format", "csv", "--output", "r.csv"]);
    assert_eq!(out.status.code(), Some(7), "{}", crate::util::show(&out));
    let rows = read_csv(&env.path("r.csv"));
    let col = |name: &str| rows[0].iter().position(|c| c == name).unwrap();
    let billed = |provider: &str, day: &str| -> Decimal {
        rows[1..]
            .iter()
            .filter(|r| r[col("provider")] == provider && r[col("date")] == day && !r[col("bill_cost")].is_empty())
            .map(|r| dec(&r[col("bill_cost")]))
            .sum()
    };
    // OpenAI's own bill counts on March 1st, not the 99 USD of the gateway's view
    let own_day1: Decimal = bills_total_for_day(&oa_costs, 0);
    assert_eq!(billed("openai", "2025-03-01"), own_day1);
    // Anthropic has no bill of its own: the gateway's view counts
    assert_eq!(billed("anthropic", "2025-03-02"), dec("7.00"));
    let text = String::from_utf8(env.run(&["reconcile", "--period", "2025-03"]).stdout).unwrap();
    assert!(text.contains("anthropic databricks-external-spend, openai openai-costs"), "{text}");
    assert!(
        text.contains("not counted (the provider's own bill covers the same spend): openai databricks-external-spend"),
        "{text}"
    );
}

/// The cost of the `day`-th bucket of an OpenAI costs page.
fn bills_total_for_day(page: &Value, day: usize) -> Decimal {
    page["data"][day]["results"].as_array().unwrap().iter().map(|r| dec(&r["amount"]["value"].to_string())).sum()
}

#[test]
fn a_scheduled_run_prices_databricks_dbus_with_the_list_prices_beside_the_bills() {
    let env = Env::init();
    for f in ["billing_usage.csv", "list_prices.csv"] {
        std::fs::create_dir_all(env.path("bills")).unwrap();
        std::fs::copy(databricks_fixture(f), env.path("bills").join(f)).unwrap();
    }
    env.write(
        "tokenledger.toml",
        "warehouse = \"wh\"\n[bills]\npaths = [\"bills\"]\nlist_prices = \"bills/list_prices.csv\"\n\
         [export]\nperiod = \"2025-01\"\nbudgets = false\n",
    );
    let out = env.run(&["--format", "json", "run", "--config", "tokenledger.toml"]);
    // no logs: every billed model is unexplained, so the reconciliation is not ok (7), not an error
    assert_eq!(out.status.code(), Some(7), "{}", crate::util::show(&out));
    let record: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(record["notes"].to_string().contains("lines imported"), "{record}");
    let cost = env.ok(&["sql", "--format", "csv", "SELECT CAST(sum(cost) AS VARCHAR) AS c FROM bill_lines"]);
    let total = expected_total("billing_usage.expected.csv", "cost");
    assert_eq!(dec(cost.lines().nth(1).unwrap()), total, "{cost}");
}
