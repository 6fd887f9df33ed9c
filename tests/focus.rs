//! The FOCUS export: 1.3 by default, checked cell by cell against the specification's column list
//! (tests/data/focus_1_3_columns.csv), and 1.2 with `--focus-version 1.2`, byte for byte the
//! export before 1.3 (tests/data/focus_1_2_pinned.csv, written by the binary before 1.3 existed).
//!
//! The warehouse: March 2025, two days (10:00 UTC) of
//! - alice (group ds, CC-1) on endpoint chat, databricks-claude-3-7-sonnet served by Databricks;
//! - bob (group web, CC-2) on endpoint chat, gpt-4o from OpenAI at a negotiated 10 % off;
//! - alice (3000 tokens) and bob (1000) on endpoint pt, llama-pt, whose traffic provisioned pool
//!   pool-a pays at 10 USD an hour, idle hours to the group platform;
//! - an OpenAI bill (a FOCUS file) for 2025-03-02's gpt-4o input, reconciled and trued up.

use std::collections::{BTreeMap, HashMap};

use rust_decimal::Decimal;
use serde_json::Value;

use crate::util::{Env, read_csv};

const PRICES: &str = "\
served_entity_name,effective_from,currency,input_price_per_1m,cached_input_price_per_1m,output_price_per_1m
databricks-claude-3-7-sonnet,2025-01-01,USD,3,0.3,15
gpt-4o,2025-01-01,USD,2.5,1.25,10
llama-pt,2025-01-01,USD,1,1,1
";

const BILL: &str = "\
BillingAccountId,ChargeCategory,ChargeClass,ChargeDescription,ChargePeriodStart,ChargePeriodEnd,BilledCost,EffectiveCost,ListCost,BillingCurrency,ConsumedQuantity,ConsumedUnit,ProviderName,ServiceProviderName,ServiceName,SkuMeter,SubAccountId,ResourceName
ba-1,Usage,,gpt-4o Input Tokens,2025-03-02T00:00:00Z,2025-03-03T00:00:00Z,0.01,0.01,0.01,USD,2000,Tokens,OpenAI,OpenAI,OpenAI API,gpt-4o Input Tokens,proj,chat
";

/// The warehouse described above, rolled up, the bill imported and reconciled.
fn warehouse() -> Env {
    let env = Env::init();
    let mut log = String::new();
    for (i, day) in ["2025-03-01", "2025-03-02"].iter().enumerate() {
        for (n, (who, endpoint, entity, provider, input, output)) in [
            ("alice", "chat", "databricks-claude-3-7-sonnet", "databricks", 1000, 200),
            ("bob", "chat", "gpt-4o", "openai", 2000, 100),
            ("alice", "pt", "llama-pt", "databricks", 3000, 0),
            ("bob", "pt", "llama-pt", "databricks", 1000, 0),
        ]
        .into_iter()
        .enumerate()
        {
            let line = serde_json::json!({"request_id": format!("r{i}-{n}"), "request_time": format!("{day}T10:00:00Z"),
                "endpoint_name": endpoint, "served_entity_name": entity, "provider": provider, "requester": who,
                "status_code": 200, "input_tokens": input, "output_tokens": output});
            log += &format!("{line}\n");
        }
    }
    let logs = env.write("log.jsonl", log);
    env.ok(&["ingest", logs.to_str().unwrap()]);
    env.write("wh/config/prices.csv", PRICES);
    env.write("wh/config/principals.csv", "requester,group,cost_center\nalice,ds,CC-1\nbob,web,CC-2\n");
    env.write(
        "wh/config/capacity.csv",
        "pool,endpoint_name,served_entity_name,cost_per_hour,currency,effective_from,effective_to,owner_group\n\
         pool-a,pt,llama-pt,10,USD,2025-01-01,,platform\n",
    );
    env.write(
        "wh/config/discounts.csv",
        "provider,served_entity_name,effective_from,effective_to,percent,note\nopenai,,2025-01-01,,10,enterprise agreement\n",
    );
    env.ok(&["rollup"]);
    let bill = env.write("openai_focus.csv", BILL);
    env.ok(&["bill", "import", "--source", "focus", bill.to_str().unwrap()]);
    // the bill differs from the ledger: reconcile says so (exit code 7) and records it
    let out = env.run(&["reconcile", "--period", "2025-03"]);
    assert!(matches!(out.status.code(), Some(0 | 7)), "{}", crate::util::show(&out));
    env
}

/// `--format focus chargeback --period 2025-03 --true-up` with `extra` arguments; the CSV's rows.
fn export(env: &Env, extra: &[&str]) -> (Vec<Vec<String>>, Vec<u8>) {
    let out = env.path("focus.csv");
    let mut args = vec!["--format", "focus", "chargeback", "--period", "2025-03", "--true-up"];
    args.extend_from_slice(extra);
    args.extend(["--output", out.to_str().unwrap()]);
    env.ok(&args);
    (read_csv(&out), std::fs::read(&out).unwrap())
}

#[test]
fn focus_version_1_2_writes_the_bytes_of_the_export_before_1_3() {
    let env = warehouse();
    let (_, bytes) = export(&env, &["--focus-version", "1.2"]);
    let pinned = include_bytes!("data/focus_1_2_pinned.csv");
    if bytes != pinned {
        let (got, want) = (String::from_utf8_lossy(&bytes), String::from_utf8_lossy(pinned));
        let first = got.lines().zip(want.lines()).position(|(g, w)| g != w);
        panic!("1.2 export differs from tests/data/focus_1_2_pinned.csv at line {first:?}:\n{got}");
    }
}

/// One column of the specification's list.
struct Spec {
    data_type: String,
    allows_nulls: bool,
    allowed: Vec<String>,
    feature_level: String,
}

/// tests/data/focus_1_3_columns.csv by column name.
fn spec_columns() -> BTreeMap<String, Spec> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/focus_1_3_columns.csv");
    let mut reader = csv::ReaderBuilder::new().comment(Some(b'#')).from_path(path).unwrap();
    let mut columns = BTreeMap::new();
    for record in reader.records() {
        let r = record.unwrap();
        let allowed = r[3].split('|').filter(|v| !v.is_empty()).map(String::from).collect();
        let spec = Spec {
            data_type: r[1].to_string(),
            allows_nulls: &r[2] == "True",
            allowed,
            feature_level: r[4].to_string(),
        };
        columns.insert(r[0].to_string(), spec);
    }
    assert_eq!(columns.len(), 65, "FOCUS 1.3's Cost and Usage dataset has 65 columns");
    columns
}

/// Why `cell` is not a value of `spec`'s type, or None.
fn type_error(spec: &Spec, cell: &str) -> Option<String> {
    match spec.data_type.as_str() {
        "Decimal" => cell.parse::<Decimal>().err().map(|e| format!("not a decimal: {e}")),
        // ISO 8601 in UTC, as FOCUS's Date/Time Format requires
        "Date/Time" => chrono::NaiveDateTime::parse_from_str(cell, "%Y-%m-%dT%H:%M:%SZ")
            .err()
            .map(|e| format!("not an ISO 8601 UTC date/time: {e}")),
        "JSON" => match serde_json::from_str::<Value>(cell) {
            Ok(Value::Object(_)) => None,
            Ok(other) => Some(format!("JSON but not an object: {other}")),
            Err(e) => Some(format!("not JSON: {e}")),
        },
        "String" => None,
        other => Some(format!("unknown data type {other} in the column list")),
    }
}

/// Every cell of a FOCUS 1.3 export (`rows`, the header first) that breaks the spec's column
/// list: a null where none is allowed, a value not allowed, a cell not of the column's type.
pub fn spec_problems(rows: &[Vec<String>]) -> Vec<String> {
    let spec = spec_columns();
    let header = &rows[0];
    let mut problems = Vec::new();
    for (line, row) in rows.iter().enumerate().skip(1) {
        for (column, cell) in header.iter().zip(row) {
            let Some(s) = spec.get(column) else { continue };
            let problem = if cell.is_empty() {
                (!s.allows_nulls).then(|| "null, and the column allows none".to_string())
            } else if !s.allowed.is_empty() && !s.allowed.contains(cell) {
                Some(format!("not one of {:?}", s.allowed))
            } else {
                type_error(s, cell)
            };
            if let Some(p) = problem {
                problems.push(format!("line {} {column} {cell:?}: {p}", line + 1));
            }
        }
    }
    problems
}

#[test]
fn focus_1_3_export_conforms_to_the_specification_column_list() {
    let env = warehouse();
    let (rows, _) = export(&env, &[]);
    let spec = spec_columns();
    let header = &rows[0];
    for column in header {
        assert!(spec.contains_key(column) || column.starts_with("x_"), "{column} is neither FOCUS 1.3's nor x_");
    }
    for (name, s) in &spec {
        if s.feature_level == "Mandatory" {
            assert!(header.contains(name), "mandatory column {name} missing");
        }
    }
    assert!(rows.len() > 10, "{rows:?}");
    let problems = spec_problems(&rows);
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    let at = |name: &str| header.iter().position(|h| h == name).unwrap();
    let json = |row: &Vec<String>, name: &str| serde_json::from_str::<Value>(&row[at(name)]).ok();
    let mut ratios: HashMap<(String, String), Decimal> = HashMap::new();
    for row in &rows[1..] {
        // each charge lies in the billing period and ends after it starts
        let (start, end) = (&row[at("ChargePeriodStart")], &row[at("ChargePeriodEnd")]);
        assert!(
            start < end && start >= &row[at("BillingPeriodStart")] && end <= &row[at("BillingPeriodEnd")],
            "{row:?}"
        );
        // AllocatedTags repeat no key of Tags
        if let (Some(Value::Object(allocated)), Some(Value::Object(tags))) =
            (json(row, "AllocatedTags"), json(row, "Tags"))
        {
            assert!(allocated.keys().all(|k| !tags.contains_key(k)), "{row:?}");
        }
        // the allocation columns come together, or not at all
        let allocation = ["AllocatedMethodId", "AllocatedMethodDetails", "AllocatedResourceId", "AllocatedTags"];
        let present = allocation.iter().filter(|c| !row[at(c)].is_empty()).count();
        assert!(present == 0 || present == allocation.len(), "{row:?}");
        if let Some(details) = json(row, "AllocatedMethodDetails") {
            for element in details["Elements"].as_array().expect("Elements") {
                assert!(element["UsageUnit"].is_string() && element["UsageQuantity"].is_number(), "{details}");
                let ratio: Decimal = element["AllocatedRatio"].to_string().parse().unwrap();
                let origin = (row[at("CapacityReservationId")].clone(), row[at("ChargePeriodStart")].clone());
                *ratios.entry(origin).or_default() += ratio;
            }
        }
        if let Some(contract) = json(row, "ContractApplied") {
            for element in contract["Elements"].as_array().expect("Elements") {
                for key in ["ContractID", "ContractCommitmentID"] {
                    assert!(element[key].is_string(), "{contract}");
                }
                let applied: Decimal = element["ContractCommitmentAppliedCost"].to_string().parse().unwrap();
                assert_eq!(applied, row[at("EffectiveCost")].parse::<Decimal>().unwrap(), "{row:?}");
            }
        }
    }
    // a pool's day is the origin charge: its allocated charges' ratios add up to exactly 1
    assert_eq!(ratios.len(), 2, "pool-a on two days: {ratios:?}");
    assert!(ratios.values().all(|r| *r == Decimal::ONE), "{ratios:?}");
}

#[test]
fn focus_1_3_names_providers_splits_pools_and_applies_the_discount_contract() {
    let env = warehouse();
    let (rows, _) = export(&env, &[]);
    let at = |name: &str| rows[0].iter().position(|h| h == name).unwrap_or_else(|| panic!("no column {name}"));
    let day1: Vec<&Vec<String>> =
        rows[1..].iter().filter(|r| r[at("ChargePeriodStart")] == "2025-03-01T00:00:00Z").collect();
    let find =
        |pred: &dyn Fn(&Vec<String>) -> bool| *day1.iter().find(|r| pred(r)).unwrap_or_else(|| panic!("{rows:?}"));

    // an Anthropic model served through Databricks: Anthropic's service, Databricks' host
    let claude = find(&|r| r[at("SkuId")] == "databricks-claude-3-7-sonnet");
    assert_eq!(
        (claude[at("ServiceProviderName")].as_str(), claude[at("HostProviderName")].as_str()),
        ("Anthropic", "Databricks")
    );
    assert_eq!(claude[at("ContractApplied")], "", "no discount priced it");
    let gpt = find(&|r| r[at("SkuId")] == "gpt-4o");
    assert_eq!((gpt[at("ServiceProviderName")].as_str(), gpt[at("HostProviderName")].as_str()), ("OpenAI", "OpenAI"));

    // the discounted row names the discount as the contract that priced it, and what it paid
    let contract: Value =
        serde_json::from_str(&gpt[at("ContractApplied")]).expect("ContractApplied on the discounted row");
    let element = &contract["Elements"][0];
    assert_eq!(element["ContractCommitmentID"], "openai/*@2025-01-01 -10%", "{contract}");
    let paid: Decimal = gpt[at("BilledCost")].parse().unwrap();
    let list: Decimal = gpt[at("ListCost")].parse().unwrap();
    assert_eq!(paid, list * Decimal::new(9, 1), "10 % off the list price");
    assert_eq!(element["ContractCommitmentAppliedCost"].to_string().parse::<Decimal>().unwrap(), paid);

    // the pool's busy hour split by tokens (alice 3000 : bob 1000 of 10.00), its 23 idle hours
    // to the owner group: each row's AllocatedRatio of the day's 240.00
    let pool = |status: &str, group: &str| {
        find(&|r| {
            r[at("CapacityReservationStatus")] == status && r[at("PricingUnit")] == "Hours" && r[at("x_Group")] == group
        })
    };
    let ratio = |row: &Vec<String>| -> Decimal {
        let details: Value = serde_json::from_str(&row[at("AllocatedMethodDetails")]).unwrap();
        details["Elements"][0]["AllocatedRatio"].to_string().parse().unwrap()
    };
    let alice = pool("Used", "ds");
    assert_eq!(alice[at("AllocatedMethodId")], "tokenledger-pool-token-share");
    assert_eq!(
        (alice[at("AllocatedResourceId")].as_str(), alice[at("AllocatedResourceName")].as_str()),
        ("CC-1/ds", "ds")
    );
    let tags: Value = serde_json::from_str(&alice[at("AllocatedTags")]).unwrap();
    assert_eq!(tags, serde_json::json!({"group": "ds", "cost_center": "CC-1"}));
    assert_eq!(
        (alice[at("BilledCost")].parse::<Decimal>().unwrap(), ratio(alice)),
        (Decimal::new(75, 1), Decimal::new(3125, 5))
    );
    let idle = pool("Unused", "platform");
    assert_eq!(idle[at("AllocatedMethodId")], "tokenledger-pool-idle-to-owner");
    assert_eq!(idle[at("AllocatedResourceName")], "platform");
    assert!(idle[at("AllocatedMethodDetails")].contains("owner group"), "the method details say where idle hours go");
    assert_eq!(ratio(idle) + ratio(alice) + ratio(pool("Used", "web")), Decimal::ONE);
    // the pooled traffic itself is not an allocated charge
    let pooled = find(&|r| r[at("SkuId")] == "llama-pt" && r[at("PricingUnit")] == "Tokens");
    assert_eq!((pooled[at("AllocatedMethodId")].as_str(), pooled[at("BilledCost")].as_str()), ("", "0"));

    // the true-up corrects the days the OpenAI bill covers, not the whole month
    let true_ups: Vec<&Vec<String>> = rows[1..].iter().filter(|r| r[at("ChargeCategory")] == "Adjustment").collect();
    assert!(!true_ups.is_empty(), "{rows:?}");
    for r in true_ups {
        assert_eq!(r[at("ServiceProviderName")], "OpenAI");
        assert_eq!(
            (r[at("ChargePeriodStart")].as_str(), r[at("ChargePeriodEnd")].as_str()),
            ("2025-03-01T00:00:00Z", "2025-03-03T00:00:00Z"),
            "{r:?}"
        );
    }
}
