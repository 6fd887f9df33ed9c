//! The golden tests: every fixture of `tests/data/bills` (written by `scripts/bill_fixtures.py`)
//! read with `--source auto`, its lines summed per (provider, provider_model, charge_kind,
//! date, currency) and compared, exactly, with the sums the script's own reading of the
//! formats wrote beside it (`<name>.expected.csv`); the bad rows with `<name>.expected_bad.csv`.
//! The Databricks exports of `tests/data/bills/databricks` (`scripts/databricks_bill_fixtures.py`)
//! likewise, summed per (provider, provider_model, date, currency) with their DBUs and cost.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use rust_decimal::Decimal;

use super::{BillSource, ParseOptions, parse};
use crate::bill::line::{BillLine, ParsedBill};

const FIXTURES: [(&str, BillSource); 10] = [
    ("openai_costs.json", BillSource::OpenaiCosts),
    ("openai_usage.jsonl", BillSource::OpenaiUsage),
    ("anthropic_cost.json", BillSource::AnthropicCost),
    ("anthropic_usage.json", BillSource::AnthropicUsage),
    ("focus.csv", BillSource::Focus),
    ("bad_rows_openai_costs.json", BillSource::OpenaiCosts),
    ("bad_rows_openai_usage.jsonl", BillSource::OpenaiUsage),
    ("bad_rows_anthropic_cost.json", BillSource::AnthropicCost),
    ("bad_rows_anthropic_usage.json", BillSource::AnthropicUsage),
    ("bad_rows_focus.csv", BillSource::Focus),
];

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/bills")
}

/// `name` without its extension.
fn stem(name: &str) -> &str {
    name.rsplit_once('.').map_or(name, |(stem, _)| stem)
}

/// The lines summed per key, as the expected CSV writes them: `provider, provider_model,
/// charge_kind, date, currency, quantity, requests, cost`, an empty cell for none, the cost
/// without trailing zeros.
fn sums(lines: &[BillLine]) -> Vec<String> {
    type Sum = (Option<i64>, Option<i64>, Option<Decimal>);
    fn add<T: std::ops::Add<Output = T>>(sum: Option<T>, value: Option<T>) -> Option<T> {
        match (sum, value) {
            (Some(s), Some(v)) => Some(s + v),
            (s, v) => s.or(v),
        }
    }
    let mut sums: BTreeMap<[String; 5], Sum> = BTreeMap::new();
    for line in lines {
        let key = [
            line.provider.clone(),
            line.provider_model.clone().unwrap_or_default(),
            line.charge_kind.as_str().to_string(),
            line.period_start.date_naive().to_string(),
            line.currency.clone().unwrap_or_default(),
        ];
        let sum = sums.entry(key).or_default();
        *sum = (add(sum.0, line.quantity), add(sum.1, line.requests), add(sum.2, line.cost));
    }
    let text = |v: Option<String>| v.unwrap_or_default();
    sums.into_iter()
        .map(|(key, (quantity, requests, cost))| {
            format!(
                "{},{},{},{}",
                key.join(","),
                text(quantity.map(|q| q.to_string())),
                text(requests.map(|r| r.to_string())),
                text(cost.map(|c| c.normalize().to_string()))
            )
        })
        .collect()
}

/// The data lines of an expected CSV (its header left out).
fn expected(name: &str) -> Vec<String> {
    let path = dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines().skip(1).map(str::to_string).collect()
}

fn read(name: &str) -> (BillSource, ParsedBill) {
    let path = dir().join(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    parse(BillSource::Auto, &path, &bytes, &ParseOptions::default()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn every_fixture_gives_the_oracles_sums() {
    for (name, source) in FIXTURES {
        let (read_as, parsed) = read(name);
        assert_eq!(read_as, source, "{name}");
        assert_eq!(sums(&parsed.lines), expected(&format!("{}.expected.csv", stem(name))), "{name}");
        let bad: Vec<String> = parsed.bad_rows.iter().map(|b| format!("{},{}", b.row_number, b.reason_code)).collect();
        let expected_bad = if name.starts_with("bad_rows_") {
            expected(&format!("{}.expected_bad.csv", stem(name)))
        } else {
            Vec::new()
        };
        assert_eq!(bad, expected_bad, "{name}: {:#?}", parsed.bad_rows);
        // every bad row names a field or says what it is, and keeps the row's text
        assert!(parsed.bad_rows.iter().all(|b| !b.reason.is_empty() && !b.raw.is_empty()), "{name}");
    }
}

#[test]
fn the_fixtures_hold_a_month_of_several_hundred_rows() {
    let mut rows = 0;
    for (name, _) in FIXTURES {
        let (_, parsed) = read(name);
        let numbers = parsed.lines.iter().map(|l| l.row_number).chain(parsed.bad_rows.iter().map(|b| b.row_number));
        rows += numbers.max().unwrap_or(0);
        assert!(parsed.lines.iter().all(|l| l.period_start.format("%Y-%m").to_string() == "2025-01"), "{name}");
    }
    assert!(rows >= 300, "{rows} rows");
}

#[test]
fn focus_as_parquet_reads_as_its_csv() {
    let path = dir().join("focus.csv");
    let bytes = std::fs::read(&path).unwrap();
    let columns = super::focus::csv_columns(&bytes).unwrap();
    let schema = Arc::new(arrow::datatypes::Schema::new(
        columns
            .iter()
            .map(|c| arrow::datatypes::Field::new(c, arrow::datatypes::DataType::Utf8, true))
            .collect::<Vec<_>>(),
    ));
    let reader =
        arrow::csv::ReaderBuilder::new(schema.clone()).with_header(true).build(std::io::Cursor::new(&bytes)).unwrap();
    let mut parquet = Vec::new();
    let mut writer = parquet::arrow::ArrowWriter::try_new(&mut parquet, schema, None).unwrap();
    for batch in reader {
        writer.write(&batch.unwrap()).unwrap();
    }
    writer.close().unwrap();
    let (source, from_parquet) =
        parse(BillSource::Auto, &path.with_extension("parquet"), &parquet, &ParseOptions::default()).unwrap();
    let (_, from_csv) = read("focus.csv");
    assert_eq!(source, BillSource::Focus);
    assert_eq!(from_parquet.lines, from_csv.lines);
}

const DATABRICKS: [(&str, BillSource); 5] = [
    ("databricks/billing_usage.csv", BillSource::DatabricksBilling),
    ("databricks/billing_usage.jsonl", BillSource::DatabricksBilling),
    ("databricks/external_model_spend.csv", BillSource::DatabricksExternalSpend),
    ("databricks/bad_rows_billing_usage.csv", BillSource::DatabricksBilling),
    ("databricks/bad_rows_external_model_spend.csv", BillSource::DatabricksExternalSpend),
];

/// The list prices of the Databricks fixtures.
fn list_prices() -> ParseOptions {
    let path = dir().join("databricks/list_prices.csv");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let prices = super::databricks::ListPrices::parse(&path, &bytes).unwrap_or_else(|e| panic!("{e}"));
    ParseOptions { list_prices: Some(prices), dbu_rate: None }
}

/// Databricks lines summed per key, as the expected CSV writes them: `provider, provider_model,
/// date, currency, usage_quantity, cost`, decimals without trailing zeros, empty for none.
fn databricks_sums(lines: &[BillLine]) -> Vec<String> {
    let mut sums: BTreeMap<[String; 4], (Option<Decimal>, Decimal)> = BTreeMap::new();
    for line in lines {
        let key = [
            line.provider.clone(),
            line.provider_model.clone().unwrap_or_default(),
            line.period_start.date_naive().to_string(),
            line.currency.clone().unwrap_or_default(),
        ];
        let sum = sums.entry(key).or_default();
        sum.0 = match (sum.0, line.usage_quantity) {
            (Some(s), Some(q)) => Some(s + q),
            (s, q) => s.or(q),
        };
        sum.1 += line.cost.unwrap_or_default();
    }
    let text = |d: Decimal| d.normalize().to_string();
    sums.into_iter()
        .map(|(key, (quantity, cost))| {
            format!("{},{},{}", key.join(","), quantity.map(text).unwrap_or_default(), text(cost))
        })
        .collect()
}

#[test]
fn every_databricks_export_gives_the_oracles_sums() {
    let options = list_prices();
    for (name, source) in DATABRICKS {
        let path = dir().join(name);
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let (read_as, parsed) =
            parse(BillSource::Auto, &path, &bytes, &options).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(read_as, source, "{name}");
        assert_eq!(databricks_sums(&parsed.lines), expected(&format!("{}.expected.csv", stem(name))), "{name}");
        let bad: Vec<String> = parsed.bad_rows.iter().map(|b| format!("{},{}", b.row_number, b.reason_code)).collect();
        let expected_bad = if name.contains("/bad_rows_") {
            expected(&format!("{}.expected_bad.csv", stem(name)))
        } else {
            Vec::new()
        };
        assert_eq!(bad, expected_bad, "{name}: {:#?}", parsed.bad_rows);
        assert!(parsed.bad_rows.iter().all(|b| !b.reason.is_empty() && !b.raw.is_empty()), "{name}");
        let skipped = expected(&format!("{}.expected_skipped.csv", stem(name)));
        assert_eq!(vec![parsed.skipped.to_string()], skipped, "{name}: rows of other products skipped");
    }
}

#[test]
fn the_billing_export_reads_the_same_as_csv_and_json_lines() {
    let options = list_prices();
    let read = |name: &str| {
        let path = dir().join(name);
        parse(BillSource::Auto, &path, &std::fs::read(&path).unwrap(), &options).unwrap().1
    };
    let (csv, json) = (read("databricks/billing_usage.csv"), read("databricks/billing_usage.jsonl"));
    assert!(csv.lines.len() >= 200, "{} lines", csv.lines.len());
    assert_eq!(csv, json);
    // the month's DBUs include a retraction and its restatement, and a price change mid-month
    assert!(csv.lines.iter().any(|l| l.usage_quantity.is_some_and(|q| q < Decimal::ZERO)));
    let prices: std::collections::BTreeSet<String> = csv
        .lines
        .iter()
        .filter(|l| l.usage_quantity.is_some_and(|q| !q.is_zero()))
        .map(|l| (l.cost.unwrap() / l.usage_quantity.unwrap()).normalize().to_string())
        .collect();
    assert!(prices.len() >= 3, "{prices:?}");
}

#[test]
fn a_billing_export_with_a_flat_dbu_rate_costs_rate_times_dbus() {
    let path = dir().join("databricks/billing_usage.csv");
    let rate: Decimal = "0.07".parse().unwrap();
    let options = ParseOptions { list_prices: None, dbu_rate: Some(rate) };
    let (_, parsed) = parse(BillSource::DatabricksBilling, &path, &std::fs::read(&path).unwrap(), &options).unwrap();
    assert!(!parsed.lines.is_empty());
    for line in &parsed.lines {
        assert_eq!(line.cost, Some(line.usage_quantity.unwrap() * rate), "row {}", line.row_number);
        assert_eq!(line.currency.as_deref(), Some("USD"));
    }
}
