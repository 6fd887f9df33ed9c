//! Capacity pools in every output: each pool hour charged exactly once (overlapping rows
//! refused, a rate change chains), never into hours the data has not reached, zero-rate pools,
//! and budget status charging what the chargeback charges, to the cent.

use rust_decimal::Decimal;

use crate::util::{Env, read_csv};

fn col(rows: &[Vec<String>], name: &str) -> usize {
    rows[0].iter().position(|h| h == name).unwrap_or_else(|| panic!("no column {name} in {:?}", rows[0]))
}

fn dec(s: &str) -> Decimal {
    s.parse().unwrap_or_else(|e| panic!("{s:?}: {e}"))
}

/// A warehouse with pooled traffic on `ep` / `m` by alice (group ds) and bob (group web) on
/// the given days (10:00 UTC), priced per token at 1 USD per 1M, with `capacity` as capacity.csv.
fn pooled(days: &[&str], capacity: &str) -> Env {
    let env = Env::init();
    let mut log = String::new();
    for (i, day) in days.iter().enumerate() {
        for (who, tokens) in [("alice", 3000), ("bob", 1000)] {
            log += &format!(
                r#"{{"request_id":"{who}-{i}","request_time":"{day}T10:00:00Z","endpoint_name":"ep","served_entity_name":"m","requester":"{who}","status_code":200,"input_tokens":{tokens},"output_tokens":0}}"#
            );
            log.push('\n');
        }
    }
    let f = env.write("log.jsonl", log);
    env.ingest_json(&[f.to_str().unwrap()]);
    env.write(
        "wh/config/prices.csv",
        "served_entity_name,effective_from,currency,input_price_per_1m,cached_input_price_per_1m,output_price_per_1m\nm,2025-01-01,USD,1,1,1\n",
    );
    env.write("wh/config/principals.csv", "requester,group,cost_center\nalice,ds,CC-1\nbob,web,CC-2\n");
    env.write("wh/config/capacity.csv", format!("pool,endpoint_name,served_entity_name,cost_per_hour,currency,effective_from,effective_to,owner_group\n{capacity}"));
    env.ok(&["rollup"]);
    env
}

/// The chargeback's lines (not the totals) by group, as (group, charge) -> cost.
fn lines(env: &Env, args: &[&str]) -> (Vec<(String, String, Decimal)>, serde_json::Value) {
    let out = env.path("cb.csv");
    let mut all = vec!["chargeback", "--by", "group", "--output", out.to_str().unwrap()];
    all.extend_from_slice(args);
    env.ok(&all);
    let rows = read_csv(&out);
    let (g, c, cost) = (col(&rows, "group"), col(&rows, "charge"), col(&rows, "cost"));
    let lines =
        rows[1..].iter().filter(|r| r[c] != "total").map(|r| (r[g].clone(), r[c].clone(), dec(&r[cost]))).collect();
    let manifest = serde_json::from_str(&std::fs::read_to_string(env.path("cb.csv.manifest.json")).unwrap()).unwrap();
    (lines, manifest)
}

fn pool_total(lines: &[(String, String, Decimal)]) -> Decimal {
    lines.iter().filter(|(_, c, _)| c == "capacity" || c == "idle").map(|(_, _, d)| *d).sum()
}

/// The FOCUS export's pool rows: (BilledCost sum, PricingQuantity hours sum, last ChargePeriodEnd).
fn focus_pool_rows(env: &Env, args: &[&str]) -> (Decimal, Decimal, String) {
    let out = env.path("focus.csv");
    let mut all = vec!["--format", "focus", "chargeback", "--output", out.to_str().unwrap()];
    all.extend_from_slice(args);
    env.ok(&all);
    let rows = read_csv(&out);
    let (unit, cost, qty, end) = (
        col(&rows, "PricingUnit"),
        col(&rows, "BilledCost"),
        col(&rows, "PricingQuantity"),
        col(&rows, "ChargePeriodEnd"),
    );
    let pool: Vec<&Vec<String>> = rows[1..].iter().filter(|r| r[unit] == "Hours").collect();
    let last = pool.iter().map(|r| r[end].clone()).max().unwrap_or_default();
    (pool.iter().map(|r| dec(&r[cost])).sum(), pool.iter().map(|r| dec(&r[qty])).sum(), last)
}

/// Each group's spend in `budget status` (budgets of 1,000,000 USD for ds, web and g).
fn budget_spent(env: &Env, args: &[&str]) -> Vec<(String, Decimal)> {
    env.write(
        "wh/config/budgets.csv",
        "scope,name,period,amount,currency,thresholds\ngroup,ds,monthly,1000000,USD,100\ngroup,web,monthly,1000000,USD,100\ngroup,g,monthly,1000000,USD,100\n",
    );
    let mut all = vec!["--format", "json", "budget", "status"];
    all.extend_from_slice(args);
    let s: serde_json::Value = serde_json::from_str(&env.ok(&all)).unwrap();
    s.as_array()
        .unwrap()
        .iter()
        .map(|b| (b["name"].as_str().unwrap().to_string(), dec(b["spent"].as_str().unwrap())))
        .collect()
}

fn by_group(lines: &[(String, String, Decimal)], group: &str) -> Decimal {
    lines.iter().filter(|(g, _, _)| g == group).map(|(_, _, d)| *d).sum()
}

#[test]
fn a_rate_change_written_as_a_new_row_charges_each_hour_once_everywhere() {
    // the old row left open, as in prices.csv: 24.00 until the 15th, then 20.00
    let env = pooled(
        &["2025-01-02", "2025-01-20", "2025-02-01"],
        "v1,ep,m,24,USD,2025-01-01,,g\nv2,ep,m,20,USD,2025-01-15,,g\n",
    );
    let want = Decimal::from(24 * 24 * 14 + 20 * 24 * 17); // every January hour once, at its rate
    let (jan, manifest) = lines(&env, &["--period", "2025-01"]);
    assert_eq!(pool_total(&jan), want, "{jan:?}");
    assert!(jan.iter().all(|(_, _, d)| *d >= Decimal::ZERO), "no usage line goes negative: {jan:?}");
    assert_eq!(
        manifest["capacity_charged_through"], "2025-02-01T00:00:00Z",
        "the data has passed January: charged whole"
    );
    let (focus_cost, focus_hours, _) = focus_pool_rows(&env, &["--period", "2025-01"]);
    assert_eq!((focus_cost, focus_hours), (want, Decimal::from(31 * 24)));
    // budget status charges what the chargeback charges, group by group
    for (group, spent) in budget_spent(&env, &["--period", "2025-01"]) {
        assert_eq!(spent, by_group(&jan, &group), "{group}");
    }
    // rows that would charge the same hours twice are refused, with their lines
    env.write(
        "wh/config/capacity.csv",
        "pool,endpoint_name,served_entity_name,cost_per_hour,currency,effective_from,effective_to,owner_group\n\
         v1,ep,m,24,USD,2025-01-01,2025-01-20,g\nv2,ep,m,20,USD,2025-01-15,,g\n",
    );
    let err = env.fails(&["chargeback", "--period", "2025-01"], 2);
    assert!(err.contains("line 3") && err.contains("`v1`") && err.contains("same hours"), "{err}");
}

#[test]
fn an_open_period_charges_pools_through_the_end_of_the_data_in_every_output() {
    // data through January 10: the pool's hours after that have not happened yet
    let env = pooled(&["2025-01-02", "2025-01-10"], "p,ep,m,10,USD,2025-01-01,,g\n");
    let (jan, manifest) = lines(&env, &["--period", "2025-01"]);
    assert_eq!(pool_total(&jan), Decimal::from(10 * 24 * 10), "ten days of hours, not 31: {jan:?}");
    assert_eq!(manifest["capacity_charged_through"], "2025-01-11T00:00:00Z");
    let (focus_cost, focus_hours, last_end) = focus_pool_rows(&env, &["--period", "2025-01"]);
    assert_eq!(
        (focus_cost, focus_hours, last_end.as_str()),
        (Decimal::from(2400), Decimal::from(240), "2025-01-11T00:00:00Z")
    );
    for (group, spent) in budget_spent(&env, &[]) {
        assert_eq!(spent, by_group(&jan, &group), "{group}");
    }
    // --through: finance charges the pool to an instant of its choosing, inside the period
    let (jan, manifest) = lines(&env, &["--period", "2025-01", "--through", "2025-01-20T12:00:00Z"]);
    assert_eq!(pool_total(&jan), Decimal::from(10 * (19 * 24 + 12)));
    assert_eq!(manifest["capacity_charged_through"], "2025-01-20T12:00:00Z");
    let (_, hours, last_end) = focus_pool_rows(&env, &["--period", "2025-01", "--through", "2025-01-20T12:00:00Z"]);
    assert_eq!(
        (hours, last_end.as_str()),
        (Decimal::from(19 * 24 + 12), "2025-01-20T12:00:00Z"),
        "the last day's rows end at --through"
    );
    let err = env.fails(&["chargeback", "--period", "2025-01", "--through", "2025-01-20T12:30:00Z"], 2);
    assert!(err.contains("whole UTC hour"), "{err}");
}

#[test]
fn a_zero_rate_pool_exports_zero_cost_rows_and_focus_refuses_share_idle() {
    let env = pooled(&["2025-01-02", "2025-02-01"], "free,ep,m,0,USD,2025-01-01,,g\n");
    let (cost, hours, _) = focus_pool_rows(&env, &["--period", "2025-01"]);
    assert_eq!((cost, hours), (Decimal::ZERO, Decimal::from(31 * 24)), "zero cost, every hour still counted");
    let (jan, _) = lines(&env, &["--period", "2025-01"]);
    assert_eq!(pool_total(&jan), Decimal::ZERO);
    let out = env.path("f.csv");
    let err = env.fails(
        &["--format", "focus", "chargeback", "--period", "2025-01", "--share-idle", "--output", out.to_str().unwrap()],
        2,
    );
    assert!(err.contains("--share-idle") && err.contains("focus"), "{err}");
    assert!(!out.exists());
}

#[test]
fn budget_status_rounds_as_the_chargeback_does() {
    let env = Env::init();
    let line = |id: &str, who: &str, entity: &str, tokens: u32| {
        format!(
            r#"{{"request_id":"{id}","request_time":"2025-03-01T10:00:00Z","endpoint_name":"chat","served_entity_name":"{entity}","requester":"{who}","status_code":200,"input_tokens":{tokens},"output_tokens":0}}"#
        )
    };
    // x and y each spend half a cent: the chargeback's lines add up to the 0.01 total, so one of
    // them is 0.01 and the other 0.00; z spends exactly 12.25 of 100.00
    let log =
        [line("a", "xu", "n", 1000), line("b", "yu", "n", 1000), line("c", "zu", "m", 1_000_000)].join("\n") + "\n";
    let f = env.write("log.jsonl", log);
    env.ingest_json(&[f.to_str().unwrap()]);
    env.write(
        "wh/config/prices.csv",
        "served_entity_name,effective_from,currency,input_price_per_1m,cached_input_price_per_1m,output_price_per_1m\nn,2025-01-01,USD,5,5,5\nm,2025-01-01,USD,12.25,12.25,12.25\n",
    );
    env.write("wh/config/principals.csv", "requester,group,cost_center\nxu,x,CC\nyu,y,CC\nzu,z,CC\n");
    env.write(
        "wh/config/budgets.csv",
        "scope,name,period,amount,currency,thresholds\ngroup,x,monthly,1,USD,100\ngroup,y,monthly,1,USD,100\ngroup,z,monthly,100,USD,100\n",
    );
    env.ok(&["rollup"]);
    let (cb, _) = lines(&env, &["--period", "2025-03"]);
    let s: serde_json::Value = serde_json::from_str(&env.ok(&["--format", "json", "budget", "status"])).unwrap();
    for b in s.as_array().unwrap() {
        let name = b["name"].as_str().unwrap();
        assert_eq!(dec(b["spent"].as_str().unwrap()), by_group(&cb, name), "{name}: {s}");
    }
    assert_eq!((s[0]["spent"].as_str(), s[1]["spent"].as_str()), (Some("0.01"), Some("0.00")), "{s}");
    // a percentage rounds half away from zero, as money does: 12.25 % is 12.3, not 12.2
    assert_eq!(s[2]["used_percent"].as_str(), Some("12.3"), "{s}");
}
