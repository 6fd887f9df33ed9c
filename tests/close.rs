//! Closing periods: March is closed; late March records, a re-rated March day and a principal
//! moved with a back-dated effective_from all move March afterwards. March's export stays the
//! same bytes; April's chargeback carries the movement as adjustment lines that add up to
//! today's March minus closed March to the cent; closing April books them, so May posts only
//! what moved after that; restatements names each cause.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde_json::Value;

use crate::util::{Env, read_csv};

const PRICES: &str = "\
served_entity_name,effective_from,currency,input_price_per_1m,cached_input_price_per_1m,output_price_per_1m
gpt-4o,2025-01-01,USD,2.50,1.25,10.00
";

const PRINCIPALS: &str = "requester,group,cost_center\nana@example.com,search,CC-100\nbob@example.com,support,CC-200\n";

fn record(id: &str, time: &str, who: &str, input: i64, output: i64) -> String {
    format!(
        r#"{{"request_id":"{id}","request_time":"{time}","endpoint_name":"chat","served_entity_name":"gpt-4o","requester":"{who}","status_code":200,"input_tokens":{input},"output_tokens":{output}}}"#
    )
}

/// Days 1-5 of `month` (YYYY-MM), four requests a day by ana and bob.
fn month_logs(month: &str) -> String {
    let mut lines = Vec::new();
    for day in 1..=5 {
        for i in 0..4 {
            let who = if i % 2 == 0 { "ana@example.com" } else { "bob@example.com" };
            let time = format!("{month}-{day:02}T{:02}:00:00Z", 9 + i);
            lines.push(record(&format!("{month}-{day}-{i}"), &time, who, 100_000 + 7_919 * i + day, 20_000 + 37 * i));
        }
    }
    lines.join("\n")
}

fn dec(s: &str) -> Decimal {
    s.parse().unwrap_or_else(|e| panic!("{s:?}: {e}"))
}

fn column(rows: &[Vec<String>], name: &str) -> usize {
    rows[0].iter().position(|c| c == name).unwrap_or_else(|| panic!("no {name} in {:?}", rows[0]))
}

/// The USD total of a chargeback CSV.
fn total(rows: &[Vec<String>]) -> Decimal {
    let (charge, currency, cost) = (column(rows, "charge"), column(rows, "currency"), column(rows, "cost"));
    dec(&rows.iter().find(|r| r[charge] == "total" && r[currency] == "USD").expect("a USD total")[cost])
}

/// The adjustment lines of a chargeback CSV: (prior period, cost center, group) -> cost.
fn adjustments(rows: &[Vec<String>]) -> BTreeMap<(String, String, String), Decimal> {
    let (charge, prior, cc, group, cost) = (
        column(rows, "charge"),
        column(rows, "prior_period"),
        column(rows, "cost_center"),
        column(rows, "group"),
        column(rows, "cost"),
    );
    rows[1..]
        .iter()
        .filter(|r| r[charge] == "adjustment")
        .map(|r| ((r[prior].clone(), r[cc].clone(), r[group].clone()), dec(&r[cost])))
        .collect()
}

/// Today's total of `month` (not the closed export): a chargeback by other keys than the close's.
fn today_total(env: &Env, month: &str, file: &str) -> Decimal {
    env.ok(&["chargeback", "--period", month, "--by", "group", "--output", file]);
    total(&read_csv(&env.path(file)))
}

fn ingest(env: &Env, name: &str, text: String) {
    let path = env.write(name, text);
    env.ok(&["ingest", path.to_str().unwrap()]);
}

#[test]
fn a_closed_month_keeps_its_bytes_and_later_movement_is_posted_once_in_the_open_month() {
    let env = Env::init();
    env.write("wh/config/prices.csv", PRICES);
    env.write("wh/config/principals.csv", PRINCIPALS);
    ingest(&env, "march.jsonl", month_logs("2025-03"));
    ingest(&env, "april.jsonl", month_logs("2025-04"));
    env.ok(&["rollup"]);

    let out = env.ok(&["close", "--period", "2025-03", "--output", "march-closed.csv"]);
    assert!(out.contains("closed 2025-03 by cost_center,group"), "{out}");
    let closed_bytes = std::fs::read(env.path("march-closed.csv")).unwrap();
    let closed_total = total(&read_csv(&env.path("march-closed.csv")));
    // closing again changes nothing
    let again = env.ok(&["close", "--period", "2025-03"]);
    assert!(again.contains("nothing changed"), "{again}");
    // by other keys it is refused with the way out
    let err = env.fails(&["close", "--period", "2025-03", "--by", "group"], 2);
    assert!(err.contains("--reopen"), "{err}");
    env.ok(&["--format", "focus", "chargeback", "--period", "2025-03", "--output", "march-focus.csv"]);
    let closed_focus = std::fs::read(env.path("march-focus.csv")).unwrap();
    // April, the first open month, has nothing to carry yet
    env.ok(&["chargeback", "--period", "2025-04", "--output", "april-0.csv"]);
    assert!(adjustments(&read_csv(&env.path("april-0.csv"))).is_empty());

    // 1. late March records (a new requester too: UNALLOCATED)
    let late = [
        record("late-1", "2025-03-10T10:00:00Z", "ana@example.com", 400_000, 1_000),
        record("late-2", "2025-03-11T10:00:00Z", "carol@example.com", 250_000, 9_000),
    ];
    ingest(&env, "late.jsonl", late.join("\n"));
    env.ok(&["rollup"]);
    // 2. a March day re-rated with a corrected price
    env.write("wh/config/prices.csv", format!("{PRICES}gpt-4o,2025-03-02,USD,2.75,1.25,11.00\n"));
    // 3. bob moved to search / CC-100 from March 4, back-dated
    env.write(
        "wh/config/principals.csv",
        "requester,group,cost_center,effective_from,effective_to\n\
         ana@example.com,search,CC-100,,\nbob@example.com,support,CC-200,,2025-03-04\n\
         bob@example.com,search,CC-100,2025-03-04,\n",
    );
    env.ok(&["rollup", "--rerate", "--from", "2025-03-02", "--to", "2025-03-05"]);

    // March's export is the closed bytes, whatever moved
    let err = String::from_utf8(
        env.command(&["chargeback", "--period", "2025-03", "--output", "march-again.csv"]).output().unwrap().stderr,
    )
    .unwrap();
    assert_eq!(std::fs::read(env.path("march-again.csv")).unwrap(), closed_bytes, "the closed bytes");
    assert!(err.contains("is closed") && err.contains("adjustments in the chargeback of 2025-04"), "{err}");

    env.ok(&["--format", "focus", "chargeback", "--period", "2025-03", "--output", "march-focus-again.csv"]);
    assert_eq!(std::fs::read(env.path("march-focus-again.csv")).unwrap(), closed_focus, "the closed FOCUS bytes");

    // April carries March's movement: per key, adding up to today's March minus closed March
    let march_today = today_total(&env, "2025-03", "march-today.csv");
    assert_ne!(march_today, closed_total, "March moved");
    env.ok(&["chargeback", "--period", "2025-04", "--output", "april.csv"]);
    let april = read_csv(&env.path("april.csv"));
    let adj = adjustments(&april);
    assert!(adj.keys().all(|(p, _, _)| p == "2025-03"), "{adj:?}");
    assert_eq!(adj.values().sum::<Decimal>(), march_today - closed_total, "to the cent: {adj:?}");
    // the keys that moved: bob's back-dated days leave CC-200 for CC-100, carol is new
    assert!(adj.get(&("2025-03".into(), "CC-200".into(), "support".into())).is_some_and(|c| c.is_sign_negative()));
    assert!(adj.contains_key(&("2025-03".into(), "UNALLOCATED".into(), "unassigned".into())), "{adj:?}");
    // the lines add up to the total, adjustments included
    let april_total = total(&april);
    let (charge, cost) = (column(&april, "charge"), column(&april, "cost"));
    let sum: Decimal = april[1..].iter().filter(|r| r[charge] != "total").map(|r| dec(&r[cost])).sum();
    assert_eq!(sum, april_total, "April's lines add up to its total");

    // FOCUS carries them as Adjustment rows over the month they correct, valid FOCUS 1.3
    env.ok(&["--format", "focus", "chargeback", "--period", "2025-04", "--output", "april-focus.csv"]);
    let focus = read_csv(&env.path("april-focus.csv"));
    let problems = crate::focus::spec_problems(&focus);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    let (category, start, billed) =
        (column(&focus, "ChargeCategory"), column(&focus, "ChargePeriodStart"), column(&focus, "BilledCost"));
    let corrections: Decimal = focus[1..]
        .iter()
        .filter(|r| r[category] == "Adjustment" && r[start].starts_with("2025-03-01"))
        .map(|r| dec(&r[billed]))
        .sum();
    assert_eq!(corrections, march_today - closed_total, "FOCUS adjustments of March");

    // restatements names each cause
    let text = env.ok(&["restatements", "--period", "2025-03"]);
    for cause in ["2 records of 2 date(s) ingested after the close", "prices.csv", "principals re-attributed"] {
        assert!(text.contains(cause), "{cause} in:\n{text}");
    }
    let json: Value = serde_json::from_str(&env.ok(&["--format", "json", "restatements"])).unwrap();
    assert_eq!(dec(json[0]["moved"]["USD"].as_str().unwrap()), march_today - closed_total, "{json}");

    // closing April books March's adjustments: May posts none of them again
    let out = env.ok(&["close", "--period", "2025-04"]);
    assert!(out.contains("carries the adjustments of 2025-03"), "{out}");
    env.ok(&["chargeback", "--period", "2025-05", "--output", "may-0.csv"]);
    assert!(adjustments(&read_csv(&env.path("may-0.csv"))).is_empty(), "posted once");
    // a later March record moves March again: May carries only that
    ingest(&env, "later.jsonl", record("late-3", "2025-03-20T10:00:00Z", "ana@example.com", 1_000_000, 0));
    env.ok(&["rollup"]);
    env.ok(&["chargeback", "--period", "2025-05", "--output", "may.csv"]);
    let may = adjustments(&read_csv(&env.path("may.csv")));
    assert_eq!(may, BTreeMap::from([(("2025-03".into(), "CC-100".into(), "search".into()), dec("2.75"))]));
    // Σ closed exports + Σ open adjustments = the ledger today, per currency, to the cent
    let april_closed = total(&read_csv(&env.path("april.csv")));
    let ledger = today_total(&env, "2025-03", "m.csv") + today_total(&env, "2025-04", "a.csv");
    assert_eq!(closed_total + april_closed + may.values().sum::<Decimal>(), ledger, "conservation");

    // March cannot be reopened while April, which booked its movement, is closed
    let err = env.fails(&["close", "--period", "2025-03", "--reopen", "--reason", "wrong prices"], 2);
    assert!(err.contains("Reopen 2025-04 first"), "{err}");
    let out = env.ok(&["close", "--period", "2025-04", "--reopen", "--reason", "late invoices"]);
    assert!(out.contains("reopened 2025-04"), "{out}");
}

/// A step of the property test.
#[derive(Debug, Clone)]
enum Step {
    /// A late record of month 0..3, on a day, with some input tokens.
    Late(usize, u32, i64),
    /// A corrected price from a March day on, and every date re-rated.
    Reprice(u32, u32),
    /// Close the first open month.
    Close,
}

const MONTHS: [&str; 3] = ["2025-03", "2025-04", "2025-05"];

fn step() -> impl proptest::strategy::Strategy<Value = Step> {
    use proptest::prelude::*;
    prop_oneof![
        (0..3usize, 1..28u32, 1..2_000_000i64).prop_map(|(m, d, t)| Step::Late(m, d, t)),
        (1..28u32, 200..400u32).prop_map(|(d, p)| Step::Reprice(d, p)),
        Just(Step::Close),
        Just(Step::Close),
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 2, ..Default::default() })]

    /// Whatever is ingested, re-rated and closed, the closed exports and the first open month's
    /// adjustments add up to the ledger's total of the closed months today, to the cent.
    #[test]
    fn closed_exports_and_open_adjustments_are_the_ledger_today(steps in proptest::collection::vec(step(), 3..5)) {
        let env = Env::init();
        env.write("wh/config/prices.csv", PRICES);
        env.write("wh/config/principals.csv", PRINCIPALS);
        for m in MONTHS {
            ingest(&env, &format!("{m}.jsonl"), month_logs(m));
        }
        env.ok(&["rollup"]);
        let mut closed: Vec<Decimal> = Vec::new();
        for (i, s) in steps.iter().enumerate() {
            match s {
                Step::Late(m, day, tokens) => {
                    let time = format!("{}-{day:02}T12:00:00Z", MONTHS[*m]);
                    ingest(&env, &format!("late-{i}.jsonl"), record(&format!("late-{i}"), &time, "ana@example.com", *tokens, 0));
                    env.ok(&["rollup"]);
                }
                Step::Reprice(day, cents) => {
                    let price = Decimal::new(i64::from(*cents), 2);
                    env.write("wh/config/prices.csv", format!("{PRICES}gpt-4o,2025-03-{day:02},USD,{price},1.25,10.00\n"));
                    env.ok(&["rollup", "--rerate", "--from", "2025-03-01", "--to", "2025-05-31"]);
                }
                Step::Close if closed.len() < MONTHS.len() => {
                    let month = MONTHS[closed.len()];
                    let file = format!("closed-{month}.csv");
                    env.ok(&["close", "--period", month, "--output", &file]);
                    closed.push(total(&read_csv(&env.path(&file))));
                }
                Step::Close => {}
            }
            if closed.is_empty() {
                continue;
            }
            let first_open = ["2025-04", "2025-05", "2025-06"][closed.len() - 1];
            env.ok(&["chargeback", "--period", first_open, "--output", "open.csv"]);
            let pending: Decimal = adjustments(&read_csv(&env.path("open.csv"))).values().sum();
            let today: Decimal =
                MONTHS[..closed.len()].iter().map(|m| today_total(&env, m, "today.csv")).sum();
            proptest::prop_assert_eq!(closed.iter().sum::<Decimal>() + pending, today, "after {:?}", &steps[..=i]);
        }
    }
}

#[test]
fn a_scheduled_run_closes_the_previous_month_close_after_days_after_its_end() {
    let env = Env::init();
    env.write("wh/config/prices.csv", PRICES);
    env.write("wh/config/principals.csv", PRINCIPALS);
    env.write("inbox/march.jsonl", month_logs("2025-03"));
    env.write(
        "tokenledger.toml",
        "warehouse = \"wh\"\n[inbox]\npaths = [\"inbox\"]\n\
         [export]\ndir = \"out\"\nbudgets = false\nclose_after_days = 5\n",
    );
    // April 3: March ended 3 days ago, it stays open
    let record = |today: &str| -> Value {
        let out = env.ok(&["--format", "json", "run", "--config", "tokenledger.toml", "--today", today]);
        serde_json::from_str(&out).unwrap()
    };
    let early = record("2025-04-03");
    assert!(!early["notes"].to_string().contains("closed 2025-03"), "{early}");
    let exported = std::fs::read(env.path("out/chargeback-2025-03.csv")).unwrap();
    // April 6: due, it is closed, and the export is the closed bytes from then on
    let due = record("2025-04-06");
    assert!(due["notes"].to_string().contains("closed 2025-03"), "{due}");
    let restated = env.ok(&["restatements", "--period", "2025-03"]);
    assert!(restated.contains("nothing moved since the close"), "{restated}");
    // a late March record after the close: the closed export does not change
    env.write("inbox/late.jsonl", record_line());
    record("2025-04-07");
    assert_eq!(std::fs::read(env.path("out/chargeback-2025-03.csv")).unwrap(), exported, "closed bytes");
    let restated = env.ok(&["restatements", "--period", "2025-03"]);
    assert!(restated.contains("1 records of 1 date(s) ingested after the close"), "{restated}");
}

fn record_line() -> String {
    record("late-run", "2025-03-15T10:00:00Z", "ana@example.com", 500_000, 0)
}
