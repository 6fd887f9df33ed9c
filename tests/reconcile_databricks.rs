//! Databricks' bills end to end: usage from `system.ai_gateway.usage`, the bill from
//! `system.billing.usage` (DBUs at a flat rate) and `system.ai_gateway.external_model_spend`,
//! each with one planted fault; `reconcile` flags exactly those, and `chargeback --true-up`
//! (with and without `--capacity-from-bill`) adds up to the billed amount to the cent.
//!
//! The workspace, March 2025 (days 1-5 of traffic; the provisioned endpoint billed all month):
//! - `prod_claude` routes to the foundation model `databricks-claude-sonnet-4-5` (destination
//!   `claude_fm`), pay-per-token, billed in DBUs by the hour: 3.00 / 15.00 USD per 1M tokens.
//! - `prod_gpt` routes to OpenAI's `gpt-4o` (destination `gpt4o`), an external model whose
//!   spend the gateway records in `external_model_spend`: 2.50 / 10.00 per 1M.
//! - `llama_pt`, provisioned throughput for `llama-70b-pt`: a pool of 10.00 USD an hour in
//!   `capacity.csv`, billed 20 DBUs an hour at 0.50 USD a DBU.
//!
//! Faults: the bill charges `prod_claude` 10 % more on March 2 (cost_mismatch); the gateway
//! records gpt-4o spend on March 6, a day without logs (missing_in_ledger); `llama_pt` is billed
//! 30 DBUs an hour from 12:00 to 18:00 on March 4 (its capacity row: cost_mismatch).

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::util::{Env, read_csv};

const PRICES: &str = "\
served_entity_name,effective_from,currency,input_price_per_1m,cached_input_price_per_1m,output_price_per_1m,provider,catalog_model
claude_fm,2025-03-01,USD,3.00,0.30,15.00,databricks,databricks-claude-sonnet-4-5
gpt4o,2025-03-01,USD,2.50,1.25,10.00,openai,gpt-4o
llama-70b-pt,2025-03-01,USD,1.00,1.00,1.00,databricks,
";

const PRINCIPALS: &str = "requester,group,cost_center\nana@example.com,search,CC-100\nbob@example.com,support,CC-200\n";

const CAPACITY: &str =
    "pool,endpoint_name,served_entity_name,cost_per_hour,currency,effective_from,effective_to,owner_group
pool-llama,llama_pt,llama-70b-pt,10.00,USD,2025-03-01,,search
";

/// USD a DBU (`bill import --dbu-rate`).
const DBU_RATE: &str = "0.5";
const THROUGH: &str = "2025-04-01T00:00:00Z";

/// (endpoint, destination, destination type, destination_model, url segment, per-1M input / output)
const ENDPOINTS: [(&str, &str, &str, &str, [i64; 2]); 3] = [
    ("prod_claude", "claude_fm", "FOUNDATION_MODEL", "databricks-claude-sonnet-4-5", [300, 1500]),
    ("prod_gpt", "gpt4o", "EXTERNAL_MODEL", "gpt-4o", [250, 1000]),
    ("llama_pt", "llama-70b-pt", "FOUNDATION_MODEL", "llama-70b-pt", [100, 100]),
];

struct Request {
    day: u32,
    hour: u32,
    endpoint: usize,
    requester: &'static str,
    input: i64,
    output: i64,
}

impl Request {
    /// Its cost at the book's prices, exact.
    fn cost(&self) -> Decimal {
        let [i, o] = ENDPOINTS[self.endpoint].4;
        Decimal::from(self.input * i + self.output * o) / Decimal::from(100_000_000)
    }
}

fn requests() -> Vec<Request> {
    let mut out = Vec::new();
    for day in 1..=5 {
        for endpoint in 0..ENDPOINTS.len() {
            for (k, hour) in [9, 11, 14, 16].into_iter().enumerate() {
                out.push(Request {
                    day,
                    hour,
                    endpoint,
                    requester: if k % 2 == 0 { "ana@example.com" } else { "bob@example.com" },
                    input: 40_000 * (day as i64) + 1_317 * (k as i64) + 11 * endpoint as i64,
                    output: 3_000 + 97 * (k as i64) + day as i64,
                });
            }
        }
    }
    out
}

fn dec(s: &str) -> Decimal {
    s.parse().unwrap_or_else(|e| panic!("{s:?}: {e}"))
}

/// An hour of March 2025 (hour 24 is the next day's midnight), as Databricks writes instants.
fn at(day: u32, hour: u32) -> String {
    let start = chrono::NaiveDate::from_ymd_opt(2025, 3, day).unwrap().and_hms_opt(0, 0, 0).unwrap();
    (start + chrono::Duration::hours(hour as i64)).format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// The gateway's usage rows, as `SELECT * FROM system.ai_gateway.usage` exports them.
fn usage(rs: &[Request]) -> String {
    rs.iter()
        .enumerate()
        .map(|(i, r)| {
            let (endpoint, destination, kind, model, _) = ENDPOINTS[r.endpoint];
            json!({
                "event_time": format!("2025-03-{:02}T{:02}:{:02}:00.000Z", r.day, r.hour, i % 60),
                "request_id": format!("req-{i}"),
                "endpoint_name": endpoint,
                "destination_type": format!("DESTINATION_TYPE_{kind}"),
                "destination_name": destination,
                "destination_model": model,
                "requester": r.requester,
                "requester_type": "USER",
                "url": format!("https://dbc-1.cloud.databricks.com/ai-gateway/model-services/{endpoint}/invocations"),
                "input_tokens": r.input,
                "output_tokens": r.output,
                "total_tokens": r.input + r.output,
                "status_code": 200,
                "latency_ms": 800,
            })
            .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// One `system.billing.usage` row: DBUs of an endpoint in one hour.
fn billing_row(
    id: usize,
    day: u32,
    hour: u32,
    endpoint: &str,
    model: Option<&str>,
    serving: &str,
    dbus: Decimal,
) -> Value {
    let mut gateway = json!({"endpoint_name": endpoint});
    if let Some(m) = model {
        gateway["destination_model"] = json!(m);
    }
    json!({
        "record_id": format!("rec-{id}"),
        "account_id": "acc-1",
        "workspace_id": "1234567890123456",
        "sku_name": "PREMIUM_SERVERLESS_REAL_TIME_INFERENCE_US_EAST_N_VIRGINIA",
        "cloud": "AWS",
        "usage_start_time": at(day, hour),
        "usage_end_time": at(day, hour + 1),
        "usage_date": format!("2025-03-{day:02}"),
        "custom_tags": {"team": "platform"},
        "usage_unit": "DBU",
        "usage_quantity": dbus.to_string(),
        "usage_metadata": {"endpoint_name": endpoint, "ai_gateway": gateway},
        "identity_metadata": {"run_by": "svc-gateway@example.com"},
        "record_type": "ORIGINAL",
        "billing_origin_product": "MODEL_SERVING",
        "product_features": {"serving_type": serving},
        "usage_type": "COMPUTE_TIME",
    })
}

/// The month's bills: billing.usage (the foundation model's DBUs per hour with traffic, the
/// provisioned endpoint's DBUs every hour of March), external_model_spend (gpt-4o per hour and
/// user), with the planted faults; and the billed total in USD per source.
fn bills(rs: &[Request]) -> (String, String, Decimal, Decimal, Decimal) {
    let rate = dec(DBU_RATE);
    let mut billing = Vec::new();
    let mut ppt_total = Decimal::ZERO;
    // pay-per-token: the hour's cost in DBUs
    let mut hours: BTreeMap<(u32, u32), Decimal> = BTreeMap::new();
    for r in rs.iter().filter(|r| r.endpoint == 0) {
        *hours.entry((r.day, r.hour)).or_default() += r.cost();
    }
    for ((day, hour), cost) in hours {
        // planted: March 2 billed 10 % above the book
        let cost = if day == 2 { cost * dec("1.1") } else { cost };
        ppt_total += cost;
        let row =
            billing_row(billing.len(), day, hour, "prod_claude", Some(ENDPOINTS[0].3), "FOUNDATION_MODEL", cost / rate);
        billing.push(row);
    }
    // provisioned throughput: every hour of the month
    let mut pt_total = Decimal::ZERO;
    for day in 1..=31 {
        for hour in 0..24 {
            // planted: six hours of March 4 billed 30 DBUs instead of 20
            let dbus = if day == 4 && (12..18).contains(&hour) { dec("30") } else { dec("20") };
            pt_total += dbus * rate;
            let row = billing_row(billing.len(), day, hour, "llama_pt", None, "PROVISIONED_THROUGHPUT", dbus);
            billing.push(row);
        }
    }
    // external model spend: gpt-4o per hour and user, and (planted) spend on March 6
    let mut spend: BTreeMap<(u32, u32, &str), Decimal> = BTreeMap::new();
    for r in rs.iter().filter(|r| r.endpoint == 1) {
        *spend.entry((r.day, r.hour, r.requester)).or_default() += r.cost();
    }
    spend.insert((6, 10, "ana@example.com"), dec("1.25"));
    let mut external = Vec::new();
    let mut spend_total = Decimal::ZERO;
    for ((day, hour, user), cost) in spend {
        spend_total += cost;
        external.push(json!({
            "account_id": "acc-1",
            "workspace_id": "1234567890123456",
            "usage_start_time": at(day, hour),
            "usage_end_time": at(day, hour + 1),
            "usage_date": format!("2025-03-{day:02}"),
            "usage_unit": "USD",
            "usage_quantity": cost.to_string(),
            "usage_metadata": {"provider": "OPENAI", "model": "gpt-4o", "endpoint_name": "prod_gpt"},
            "identity_metadata": {"run_by": user},
        }));
    }
    let lines = |rows: Vec<Value>| rows.iter().map(Value::to_string).collect::<Vec<_>>().join("\n");
    (lines(billing), lines(external), ppt_total, pt_total, spend_total)
}

/// A warehouse with the workspace's price book, principals and pool.
fn workspace() -> Env {
    let env = Env::init();
    env.write("wh/config/prices.csv", PRICES);
    env.write("wh/config/principals.csv", PRINCIPALS);
    env.write("wh/config/capacity.csv", CAPACITY);
    env
}

fn column(rows: &[Vec<String>], name: &str) -> usize {
    rows[0].iter().position(|c| c == name).unwrap_or_else(|| panic!("no column {name} in {:?}", rows[0]))
}

/// The USD total line of a chargeback CSV, and the sum of its other lines of `charges`.
fn totals(rows: &[Vec<String>], charges: &[&str]) -> (Decimal, Decimal) {
    let (charge, cost, currency) = (column(rows, "charge"), column(rows, "cost"), column(rows, "currency"));
    let total = rows.iter().find(|r| r[charge] == "total" && r[currency] == "USD").expect("a USD total");
    let sum = rows[1..].iter().filter(|r| charges.contains(&r[charge].as_str())).map(|r| dec(&r[cost])).sum();
    (dec(&total[cost]), sum)
}

#[test]
fn databricks_bills_reconcile_and_the_chargeback_adds_up_to_them() {
    let env = workspace();
    let rs = requests();
    let logs = env.write("ai_gateway_usage.jsonl", usage(&rs));
    env.ok(&["ingest", "--source", "databricks-ai-gateway", logs.to_str().unwrap()]);
    env.ok(&["rollup"]);
    let (billing, external, ppt_total, pt_total, spend_total) = bills(&rs);
    let billing = env.write("bills/billing_usage.jsonl", billing);
    let external = env.write("bills/external_model_spend.jsonl", external);
    let out = env.ok(&[
        "bill",
        "import",
        "--source",
        "databricks-billing",
        "--dbu-rate",
        DBU_RATE,
        billing.to_str().unwrap(),
    ]);
    assert!(out.contains("0 rows quarantined"), "{out}");
    let out = env.ok(&["bill", "import", "--source", "databricks-external-spend", external.to_str().unwrap()]);
    assert!(out.contains("0 rows quarantined"), "{out}");
    let billed = ppt_total + pt_total + spend_total;

    // reconcile flags exactly the three faults
    env.fails(&["reconcile", "--period", "2025-03", "--format", "csv", "--output", "recon.csv"], 7);
    let rows = read_csv(&env.path("recon.csv"));
    let (day, provider, model, kind, status) = (
        column(&rows, "date"),
        column(&rows, "provider"),
        column(&rows, "provider_model"),
        column(&rows, "charge_kind"),
        column(&rows, "status"),
    );
    let not_ok: BTreeMap<(String, String, String, String), String> = rows[1..]
        .iter()
        .filter(|r| r[status] != "ok")
        .map(|r| ((r[day].clone(), r[provider].clone(), r[model].clone(), r[kind].clone()), r[status].clone()))
        .collect();
    let key = |d: &str, p: &str, m: &str, k: &str| (d.to_string(), p.to_string(), m.to_string(), k.to_string());
    let want = BTreeMap::from([
        (key("2025-03-02", "databricks", "databricks-claude-sonnet-4-5", "all"), "cost_mismatch".to_string()),
        (key("2025-03-06", "openai", "gpt-4o", "all"), "missing_in_ledger".to_string()),
        (key("2025-03-04", "databricks", "llama_pt", "capacity"), "cost_mismatch".to_string()),
    ]);
    assert_eq!(not_ok, want, "rows not ok:\n{rows:?}");
    // the rest is ok: 4 days of the foundation model, 5 of gpt-4o, 30 of the pool
    assert_eq!(rows.len() - 1 - want.len(), 4 + 5 + 30, "ok rows:\n{rows:?}");
    let text = String::from_utf8(env.run(&["reconcile", "--period", "2025-03"]).stdout).unwrap();
    assert!(
        text.contains("databricks databricks-billing") && text.contains("openai databricks-external-spend"),
        "reconcile says which bills it counted:\n{text}"
    );
    assert!(text.contains("--capacity-from-bill"), "the pool's note names the fix:\n{text}");

    // trued up, the chargeback is the bill, to the cent: the pool at capacity.csv's rate plus
    // the true-up, or at the billed rate with the pool's difference not trued up twice
    let expected = tokenledger::money::round(billed, 2);
    for flags in [&["--true-up"][..], &["--true-up", "--capacity-from-bill"][..]] {
        let mut args = vec!["chargeback", "--period", "2025-03", "--through", THROUGH, "--output", "cb.csv"];
        args.extend(flags);
        env.ok(&args);
        let cb = read_csv(&env.path("cb.csv"));
        let (total, lines) = totals(&cb, &["usage", "capacity", "idle", "true_up", "unmetered"]);
        assert_eq!(total, expected, "{flags:?}: the chargeback total is the bills' total\n{cb:?}");
        assert_eq!(lines, total, "{flags:?}: the lines add up to the total");
    }
    // the manifest says what the bill priced
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(env.path("cb.csv.manifest.json")).unwrap()).unwrap();
    let priced = &manifest["capacity_from_bill"];
    assert_eq!(priced["billed_endpoints"], json!(["llama_pt"]), "{manifest}");
    assert_eq!(priced["bill_covers_to"], json!("2025-04-01T00:00:00Z"), "{manifest}");

    // --capacity-from-bill alone: the pool's lines are its bill, to the cent
    env.ok(&["chargeback", "--period", "2025-03", "--through", THROUGH, "--capacity-from-bill", "--output", "cap.csv"]);
    let (_, pool) = totals(&read_csv(&env.path("cap.csv")), &["capacity", "idle"]);
    assert_eq!(pool, tokenledger::money::round(pt_total, 2), "the pool costs what the bill charged");
    env.ok(&["chargeback", "--period", "2025-03", "--through", THROUGH, "--output", "book.csv"]);
    let (_, pool) = totals(&read_csv(&env.path("book.csv")), &["capacity", "idle"]);
    assert_eq!(pool, dec("7440.00"), "without the flag the pool costs capacity.csv's 10.00 x 744 hours");

    // FOCUS, trued up with the billed hours: BilledCost is the bills' total
    env.ok(&[
        "--format",
        "focus",
        "chargeback",
        "--period",
        "2025-03",
        "--through",
        THROUGH,
        "--true-up",
        "--capacity-from-bill",
        "--output",
        "focus.csv",
    ]);
    let focus = read_csv(&env.path("focus.csv"));
    let billed_cost: Decimal = focus[1..].iter().map(|r| dec(&r[column(&focus, "BilledCost")])).sum();
    assert_eq!(tokenledger::money::round(billed_cost, 2), expected, "FOCUS BilledCost is the bills' total");
}

#[test]
fn a_scheduled_run_charges_the_pools_billed_hours_with_capacity_from_bill() {
    let env = workspace();
    let rs = requests();
    env.write("inbox/ai_gateway_usage.jsonl", usage(&rs));
    let (billing, _, _, pt_total, _) = bills(&rs);
    env.write("bills/billing_usage.jsonl", billing);
    env.write(
        "tokenledger.toml",
        "warehouse = \"wh\"\n[inbox]\npaths = [\"inbox\"]\n\
         [bills]\npaths = [\"bills\"]\nsource = \"databricks-billing\"\ndbu_rate = \"0.5\"\ncapacity_from_bill = true\n\
         [export]\ndir = \"out\"\nperiod = \"2025-03\"\nbudgets = false\n",
    );
    let out = env.run(&["run", "--config", "tokenledger.toml"]);
    // the planted faults make the reconciliation not ok (7); the export is written first
    assert_eq!(out.status.code(), Some(7), "{}", crate::util::show(&out));
    let cb = read_csv(&env.path("out/chargeback-2025-03.csv"));
    let (_, pool) = totals(&cb, &["capacity", "idle"]);
    assert_eq!(pool, tokenledger::money::round(pt_total, 2), "the pool costs what the bill charged");
    let manifest = std::fs::read_to_string(env.path("out/chargeback-2025-03.csv.manifest.json")).unwrap();
    assert!(manifest.contains("--capacity-from-bill") && manifest.contains("\"billed_endpoints\""), "{manifest}");
}

#[test]
fn capacity_from_bill_without_a_databricks_bill_says_what_to_import() {
    let env = workspace();
    let logs = env.write("ai_gateway_usage.jsonl", usage(&requests()));
    env.ok(&["ingest", "--source", "databricks-ai-gateway", logs.to_str().unwrap()]);
    env.ok(&["rollup"]);
    let err = env.fails(&["chargeback", "--period", "2025-03", "--capacity-from-bill"], 2);
    assert!(err.contains("bill import --source databricks-billing"), "{err}");
}
