//! `tokenledger reconcile`: the ledger beside the providers' bills, per day x provider x the
//! provider's model x charge kind, with a status for each row; the rows land in the
//! `reconciliation` table (the period's rows replaced), which `chargeback --true-up` reads.
//!
//! Both sides are summed in SQL (`sql/reconcile_ledger.sql`, `sql/reconcile_bill.sql`); the
//! comparison is here, in exact decimals.

use std::collections::{BTreeMap, BTreeSet};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Date32Type, Decimal128Type, Int64Type};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Serialize;

use crate::engine::{cast_columns, int_at, text_at};
use crate::error::{Error, Result};
use crate::model::{Inputs, bill_models_table, register_config, register_counted_bill_lines};
use crate::pricing::BillMapping;
use crate::warehouse::Warehouse;
use crate::warehouse::schema::{BILL_LINES, RECONCILIATION, RECONCILIATION_PARTITION, reconciliation_schema};

/// The ledger's side, summed per day x provider x model x kind.
const LEDGER_SQL: &str = include_str!("../../sql/reconcile_ledger.sql");
/// The bill's side.
const BILL_SQL: &str = include_str!("../../sql/reconcile_bill.sql");

/// A cost difference below this (in the currency's major unit) is rounding, not a finding:
/// bills are rounded to the cent, the ledger is not.
const COST_FLOOR: Decimal = Decimal::from_parts(5, 0, 0, false, 3);

/// Options of one reconciliation.
#[derive(Debug, Clone)]
pub struct ReconcileOptions {
    /// The month, as `YYYY-MM`, and its first and last day.
    pub period: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// The relative difference that is still `ok` (0.005 for 0.5 %).
    pub tolerance: Decimal,
}

/// What a row of the reconciliation found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Tokens and cost agree within the tolerance.
    Ok,
    /// The bill has usage the logs lack (lost logs, a bypassed gateway).
    MissingInLedger,
    /// The logs have usage the bill does not charge.
    MissingInBill,
    /// The tokens agree, the cost does not: the book's price is not the one billed.
    PriceMismatch,
    /// The tokens disagree.
    VolumeMismatch,
    /// The cost disagrees and the bill gives no tokens to tell price from volume.
    CostMismatch,
    /// The bill names a model no served entity is billed under: map it in config/bill_mapping.csv.
    UnmatchedModel,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::MissingInLedger => "missing_in_ledger",
            Status::MissingInBill => "missing_in_bill",
            Status::PriceMismatch => "price_mismatch",
            Status::VolumeMismatch => "volume_mismatch",
            Status::CostMismatch => "cost_mismatch",
            Status::UnmatchedModel => "unmatched_model",
        }
    }
}

/// One row: a day, provider, model and kind, on both sides.
#[derive(Debug, Clone, Serialize)]
pub struct ReconcileRow {
    pub date: NaiveDate,
    pub provider: String,
    pub provider_model: String,
    /// The charge kind, or `all` where the bill does not split the model's cost by kind.
    pub charge_kind: String,
    pub currency: Option<String>,
    pub ledger_requests: i64,
    pub ledger_tokens: i64,
    #[serde(with = "rust_decimal::serde::str_option")]
    pub ledger_cost: Option<Decimal>,
    /// Tokens the ledger could not price (their cost is missing from ledger_cost).
    pub ledger_unpriced_tokens: i64,
    pub bill_requests: Option<i64>,
    pub bill_tokens: Option<i64>,
    #[serde(with = "rust_decimal::serde::str_option")]
    pub bill_cost: Option<Decimal>,
    /// bill - ledger.
    #[serde(with = "rust_decimal::serde::str_option")]
    pub difference: Option<Decimal>,
    pub status: Status,
    /// What the status rests on, for a person (implied unit prices, the mapping to add).
    pub note: String,
}

/// The result of `reconcile`.
#[derive(Debug, Clone, Serialize)]
pub struct Reconciliation {
    pub reconcile_id: String,
    pub period: String,
    /// The providers the imported bills cover in the period (only their usage is compared).
    pub providers: Vec<String>,
    /// Providers in the ledger that no imported bill covers (not compared).
    pub unbilled_providers: Vec<String>,
    pub rows: Vec<ReconcileRow>,
    /// The bill files the rows rest on (fingerprint, path, source): those whose lines count
    /// (the newest export of a period; a provider's own bill over the gateway's view of it).
    pub bill_files: Vec<(String, String, String)>,
    /// Which bills were used per provider: (provider, source, counted). A gateway's view of a
    /// provider's spend is not counted where the provider's own bill covers it.
    pub bill_sources: Vec<(String, String, bool)>,
    pub usage_daily_version: i64,
    pub bill_lines_version: i64,
    pub reconciliation_version: Option<i64>,
}

impl Reconciliation {
    /// Rows whose status is not ok.
    pub fn findings(&self) -> impl Iterator<Item = &ReconcileRow> {
        self.rows.iter().filter(|r| r.status != Status::Ok)
    }
}

/// One side's sums of a (date, provider, model, kind).
#[derive(Debug, Clone, Default)]
struct Side {
    currency: Option<String>,
    currencies: i64,
    requests: Option<i64>,
    tokens: Option<i64>,
    cost: Option<Decimal>,
    unpriced_tokens: i64,
}

impl Side {
    fn add(&mut self, other: &Side) {
        let sum_i = |a: Option<i64>, b: Option<i64>| match (a, b) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
        };
        self.currency = self.currency.clone().or_else(|| other.currency.clone());
        self.currencies = self.currencies.max(other.currencies);
        self.requests = sum_i(self.requests, other.requests);
        self.tokens = sum_i(self.tokens, other.tokens);
        self.cost = match (self.cost, other.cost) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or_default() + b.unwrap_or_default()),
        };
        self.unpriced_tokens += other.unpriced_tokens;
    }
}

type Key = (NaiveDate, String, String, String);

/// Reconciles the period of `options`: reads both sides, compares them, and replaces the
/// period's rows of the `reconciliation` table.
pub async fn reconcile(warehouse: &Warehouse, options: &ReconcileOptions) -> Result<Reconciliation> {
    let inputs = Inputs::load(warehouse).await?;
    let mapping = BillMapping::load(&warehouse.config_file("bill_mapping.csv").await?)?;
    let engine = warehouse.engine();
    let ctx = engine.context_with_memory(crate::engine::DEFAULT_MEMORY_LIMIT).await?;
    // the lines that count, once for the three queries that read them
    let Some(bill_lines_version) = register_counted_bill_lines(&ctx, warehouse, options.from, options.to).await? else {
        return Err(Error::NoTable { table: BILL_LINES.into(), warehouse: warehouse.to_string() });
    };
    let usage = warehouse.open_table("usage_daily").await?;
    let usage_daily_version = usage.version().unwrap_or(0) as i64;
    ctx.register_table("usage_daily", engine.delta_table(&ctx, &usage).await?)?;
    register_config(&ctx, engine, &inputs)?;
    ctx.register_table("bill_models", engine.small_table(bill_models_table(&inputs.book, &mapping)?)?)?;
    let fill =
        |sql: &str| sql.replace("{{from}}", &options.from.to_string()).replace("{{to}}", &options.to.to_string());
    let ledger = ctx.sql(&fill(LEDGER_SQL)).await?.collect().await?;
    let bill = ctx.sql(BILL_SQL).await?.collect().await?;
    let files_sql = "SELECT DISTINCT source_file_fingerprint, source_file, source FROM counted_bill_lines \
                     ORDER BY source_file, source_file_fingerprint";
    let mut bill_files = Vec::new();
    for b in ctx.sql(files_sql).await?.collect().await? {
        let t = cast_columns(&b, 0..3, &DataType::Utf8)?;
        for row in 0..b.num_rows() {
            bill_files.push((text_at(&t[0], row), text_at(&t[1], row), text_at(&t[2], row)));
        }
    }
    let sources_sql = format!(
        "SELECT b.provider, b.source, max(CASE WHEN c.source IS NULL THEN 0 ELSE 1 END) AS counted \
         FROM (SELECT DISTINCT provider, source FROM bill_lines \
               WHERE bill_date BETWEEN DATE '{from}' AND DATE '{to}') b \
         LEFT JOIN (SELECT DISTINCT provider, source FROM counted_bill_lines) c \
           ON c.provider = b.provider AND c.source = b.source \
         GROUP BY b.provider, b.source ORDER BY 1, 2",
        from = options.from,
        to = options.to
    );
    let mut bill_sources = Vec::new();
    for b in ctx.sql(&sources_sql).await?.collect().await? {
        let t = cast_columns(&b, 0..2, &DataType::Utf8)?;
        let counted = cast_columns(&b, [2], &DataType::Int64)?;
        for row in 0..b.num_rows() {
            bill_sources.push((text_at(&t[0], row), text_at(&t[1], row), int_at(&counted[0], row) == 1));
        }
    }
    let ledger = sides(&ledger, false)?;
    let bill = sides(&bill, true)?;
    let mapped: BTreeSet<(String, String)> =
        mapping.models.iter().map(|m| (m.provider.clone(), m.provider_model.clone())).collect();
    let mut result = compare(ledger, bill, &mapped, options.tolerance);
    result.reconcile_id = uuid::Uuid::new_v4().to_string();
    result.period = options.period.clone();
    result.bill_files = bill_files;
    result.bill_sources = bill_sources;
    result.usage_daily_version = usage_daily_version;
    result.bill_lines_version = bill_lines_version;
    result.reconciliation_version = Some(write(warehouse, &result).await?);
    Ok(result)
}

/// The rows of a side's query, by key. `bill`: the bill's columns (usage and cost quantities).
fn sides(batches: &[RecordBatch], bill: bool) -> Result<BTreeMap<Key, Side>> {
    let mut out = BTreeMap::new();
    for b in batches {
        let col =
            |name: &str| b.column_by_name(name).ok_or_else(|| Error::Internal(format!("reconcile query lacks {name}")));
        let to_i64 =
            |name: &str| -> Result<arrow::array::ArrayRef> { Ok(arrow::compute::cast(col(name)?, &DataType::Int64)?) };
        let dates = col("date")?.as_primitive::<Date32Type>().clone();
        // provider, model, kind, currency
        let texts = cast_columns(b, 1..5, &DataType::Utf8)?;
        let requests = to_i64("requests")?;
        let quantity = if bill {
            // tokens from the usage reports where there are any, else from the cost lines
            let usage = to_i64("usage_quantity")?;
            let cost = to_i64("cost_quantity")?;
            arrow::compute::kernels::zip::zip(&arrow::compute::is_not_null(&usage)?, &usage, &cost)?
        } else {
            to_i64("quantity")?
        };
        let unpriced = if bill { None } else { Some(to_i64("unpriced_quantity")?) };
        let currencies = to_i64("currencies")?;
        let cost = col("cost")?;
        let cost_scale = match cost.data_type() {
            DataType::Decimal128(_, s) => *s as u32,
            other => return Err(Error::Internal(format!("reconcile cost is {other}"))),
        };
        let cost = cost.as_primitive::<Decimal128Type>();
        let (requests, quantity, currencies) = (
            requests.as_primitive::<Int64Type>(),
            quantity.as_primitive::<Int64Type>(),
            currencies.as_primitive::<Int64Type>(),
        );
        let opt = |a: &arrow::array::PrimitiveArray<Int64Type>, i: usize| (!a.is_null(i)).then(|| a.value(i));
        for i in 0..b.num_rows() {
            let date = dates.value_as_date(i).ok_or_else(|| Error::Internal("reconcile date out of range".into()))?;
            let key = (date, text_at(&texts[0], i), text_at(&texts[1], i), text_at(&texts[2], i));
            let currency = text_at(&texts[3], i);
            let side = Side {
                currency: (!currency.is_empty()).then_some(currency),
                currencies: opt(currencies, i).unwrap_or(0),
                requests: opt(requests, i),
                tokens: opt(quantity, i),
                cost: (!cost.is_null(i)).then(|| Decimal::from_i128_with_scale(cost.value(i), cost_scale)),
                unpriced_tokens: unpriced.as_ref().and_then(|u| opt(u.as_primitive::<Int64Type>(), i)).unwrap_or(0),
            };
            out.entry(key).or_insert_with(Side::default).add(&side);
        }
    }
    Ok(out)
}

/// `0.5%` or `0.005`.
pub fn parse_tolerance(text: &str) -> Result<Decimal> {
    let bad = || Error::Usage(format!("tolerance {text:?}: give a percentage like 0.5% or a fraction like 0.005"));
    let (number, scale) = match text.trim().strip_suffix('%') {
        Some(n) => (n.trim(), Decimal::ONE_HUNDRED),
        None => (text.trim(), Decimal::ONE),
    };
    let value: Decimal = number.parse().map_err(|_| bad())?;
    let value = value / scale;
    if value < Decimal::ZERO || value >= Decimal::ONE {
        return Err(bad());
    }
    Ok(value)
}

/// Whether `a` and `b` differ by more than `tolerance` of the larger.
fn differ(a: Decimal, b: Decimal, tolerance: Decimal) -> bool {
    (a - b).abs() > tolerance * a.abs().max(b.abs())
}

/// A price per million tokens, for people.
fn per_million(cost: Decimal, tokens: i64) -> Option<String> {
    (tokens > 0).then(|| {
        let p = cost * Decimal::from(1_000_000) / Decimal::from(tokens);
        format!("{}", crate::money::round(p, 4).normalize())
    })
}

/// Compares the two sides. A (day, provider, model) whose bill has no kinds but `other` is
/// compared as one row of kind `all`; providers no bill covers are left out.
fn compare(
    ledger: BTreeMap<Key, Side>,
    bill: BTreeMap<Key, Side>,
    mapped: &BTreeSet<(String, String)>,
    tolerance: Decimal,
) -> Reconciliation {
    let providers: BTreeSet<String> = bill.keys().map(|k| k.1.clone()).collect();
    let unbilled: BTreeSet<String> = ledger.keys().map(|k| k.1.clone()).filter(|p| !providers.contains(p)).collect();
    // the models the ledger bills under in the period, and the mapped ones
    let known: BTreeSet<(String, String)> =
        ledger.keys().map(|k| (k.1.clone(), k.2.clone())).chain(mapped.iter().cloned()).collect();
    // (day, provider, model) whose bill splits the cost by kind
    let split: BTreeSet<(NaiveDate, String, String)> =
        bill.keys().filter(|k| k.3 != "other").map(|k| (k.0, k.1.clone(), k.2.clone())).collect();
    let group = |k: &Key| -> Key {
        if split.contains(&(k.0, k.1.clone(), k.2.clone())) {
            k.clone()
        } else {
            (k.0, k.1.clone(), k.2.clone(), "all".into())
        }
    };
    let mut pairs: BTreeMap<Key, (Side, Option<Side>)> = BTreeMap::new();
    for (k, side) in ledger.into_iter().filter(|(k, _)| providers.contains(&k.1)) {
        pairs.entry(group(&k)).or_default().0.add(&side);
    }
    for (k, side) in bill {
        pairs.entry(group(&k)).or_default().1.get_or_insert_with(Side::default).add(&side);
    }
    let rows = pairs
        .into_iter()
        .map(|((date, provider, provider_model, kind), (l, b))| {
            let (status, mut note) = status_of(&provider, &provider_model, &l, b.as_ref(), &known, tolerance);
            if kind == "capacity" && status == Status::CostMismatch {
                // a pool's day: the bill is the rate that counts
                note = format!(
                    "the endpoint's hours are billed {}, capacity.csv's rate gives {}: chargeback \
                     --capacity-from-bill charges the billed hours",
                    b.as_ref().and_then(|b| b.cost).unwrap_or_default().round_dp(2),
                    l.cost.unwrap_or_default().round_dp(2)
                );
            }
            let difference = match (&b, l.cost) {
                (Some(b), l) if b.cost.is_some() || l.is_some() => {
                    Some(b.cost.unwrap_or_default() - l.unwrap_or_default())
                }
                (None, Some(l)) => Some(-l),
                _ => None,
            };
            ReconcileRow {
                date,
                provider,
                provider_model,
                charge_kind: kind,
                currency: b.as_ref().and_then(|b| b.currency.clone()).or(l.currency.clone()),
                ledger_requests: l.requests.unwrap_or(0),
                ledger_tokens: l.tokens.unwrap_or(0),
                ledger_cost: l.cost,
                ledger_unpriced_tokens: l.unpriced_tokens,
                bill_requests: b.as_ref().and_then(|b| b.requests),
                bill_tokens: b.as_ref().and_then(|b| b.tokens),
                bill_cost: b.as_ref().and_then(|b| b.cost),
                difference,
                status,
                note,
            }
        })
        .collect();
    Reconciliation {
        reconcile_id: String::new(),
        period: String::new(),
        providers: providers.into_iter().collect(),
        unbilled_providers: unbilled.into_iter().collect(),
        rows,
        bill_files: Vec::new(),
        bill_sources: Vec::new(),
        usage_daily_version: 0,
        bill_lines_version: 0,
        reconciliation_version: None,
    }
}

fn status_of(
    provider: &str,
    model: &str,
    l: &Side,
    b: Option<&Side>,
    known: &BTreeSet<(String, String)>,
    tolerance: Decimal,
) -> (Status, String) {
    let ledger_has = l.tokens.unwrap_or(0) > 0 || l.cost.is_some_and(|c| !c.is_zero());
    let Some(b) = b else {
        return (Status::MissingInBill, "the bill charges nothing for this usage".into());
    };
    let bill_has = b.tokens.unwrap_or(0) > 0 || b.cost.is_some_and(|c| !c.is_zero());
    if !ledger_has {
        if !bill_has {
            return (Status::Ok, String::new());
        }
        if model.is_empty() {
            return (Status::UnmatchedModel, "the bill line names no model".into());
        }
        if !known.contains(&(provider.to_string(), model.to_string())) {
            return (
                Status::UnmatchedModel,
                format!(
                    "no served entity is billed as {provider} `{model}`: add `{provider},{model},SERVED_ENTITY,,` to \
                     config/bill_mapping.csv (or its catalog_model to prices.csv)"
                ),
            );
        }
        return (Status::MissingInLedger, "the bill charges usage the logs do not have".into());
    }
    if b.currencies > 1
        || l.currencies > 1
        || (b.currency.is_some() && l.currency.is_some() && b.currency != l.currency)
    {
        return (Status::CostMismatch, format!("currencies differ: ledger {:?}, bill {:?}", l.currency, b.currency));
    }
    let tokens_differ = match (l.tokens, b.tokens) {
        (Some(lt), Some(bt)) => differ(Decimal::from(lt), Decimal::from(bt), tolerance),
        _ => false,
    };
    if tokens_differ {
        return (
            Status::VolumeMismatch,
            format!("{} tokens in the ledger, {} billed", l.tokens.unwrap_or(0), b.tokens.unwrap_or(0)),
        );
    }
    if let (Some(lc), Some(bc)) = (l.cost, b.cost)
        && (lc - bc).abs() > COST_FLOOR
        && differ(lc, bc, tolerance)
    {
        return match b.tokens {
            Some(bt) => {
                let billed = per_million(bc, bt).unwrap_or_default();
                let book = per_million(lc, l.tokens.unwrap_or(0)).unwrap_or_default();
                (Status::PriceMismatch, format!("billed {billed} per 1M, the book {book} per 1M"))
            }
            None => (Status::CostMismatch, "the bill gives no tokens to tell price from volume".into()),
        };
    }
    if l.unpriced_tokens > 0 {
        return (Status::CostMismatch, format!("{} tokens are unpriced in the ledger", l.unpriced_tokens));
    }
    (Status::Ok, String::new())
}

/// Replaces the period's rows of `reconciliation` with `result`'s.
async fn write(warehouse: &Warehouse, result: &Reconciliation) -> Result<i64> {
    use arrow::array::{Date32Builder, Decimal128Builder, Int64Builder, StringBuilder, TimestampMicrosecondBuilder};
    use deltalake::writer::{DeltaWriter, RecordBatchWriter};
    let mut table = if warehouse.has_table(RECONCILIATION).await? {
        warehouse.open_table(RECONCILIATION).await?
    } else {
        warehouse.create_table(RECONCILIATION, &reconciliation_schema(), RECONCILIATION_PARTITION).await?
    };
    let now = chrono::Utc::now().timestamp_micros();
    let money = || Decimal128Builder::new().with_data_type(crate::warehouse::schema::BILL_MONEY);
    let mut period = StringBuilder::new();
    let mut id = StringBuilder::new();
    let mut at = TimestampMicrosecondBuilder::new().with_timezone("UTC");
    let mut date = Date32Builder::new();
    let mut texts: [StringBuilder; 4] = Default::default(); // provider, model, kind, currency
    let mut ints: [Int64Builder; 5] = Default::default(); // ledger req, tokens, unpriced, bill req, tokens
    let (mut lc, mut bc, mut diff) = (money(), money(), money());
    let (mut status, mut note) = (StringBuilder::new(), StringBuilder::new());
    let (mut uv, mut bv) = (Int64Builder::new(), Int64Builder::new());
    for r in &result.rows {
        period.append_value(&result.period);
        id.append_value(&result.reconcile_id);
        at.append_value(now);
        date.append_value(crate::time::epoch_days(r.date));
        for (b, v) in texts.iter_mut().zip([
            Some(&r.provider),
            Some(&r.provider_model),
            Some(&r.charge_kind),
            r.currency.as_ref(),
        ]) {
            b.append_option(v);
        }
        for (b, v) in ints.iter_mut().zip([
            Some(r.ledger_requests),
            Some(r.ledger_tokens),
            Some(r.ledger_unpriced_tokens),
            r.bill_requests,
            r.bill_tokens,
        ]) {
            b.append_option(v);
        }
        for (b, v) in [(&mut lc, r.ledger_cost), (&mut bc, r.bill_cost), (&mut diff, r.difference)] {
            b.append_option(v.map(super::import::bill_money).transpose()?);
        }
        status.append_value(r.status.as_str());
        note.append_option((!r.note.is_empty()).then_some(&r.note));
        uv.append_value(result.usage_daily_version);
        bv.append_value(result.bill_lines_version);
    }
    let mut columns: Vec<arrow::array::ArrayRef> = vec![
        std::sync::Arc::new(period.finish()),
        std::sync::Arc::new(id.finish()),
        std::sync::Arc::new(at.finish()),
        std::sync::Arc::new(date.finish()),
    ];
    columns.extend(texts.iter_mut().map(|b| std::sync::Arc::new(b.finish()) as arrow::array::ArrayRef));
    columns.extend(ints.iter_mut().map(|b| std::sync::Arc::new(b.finish()) as arrow::array::ArrayRef));
    columns.extend([
        std::sync::Arc::new(lc.finish()) as arrow::array::ArrayRef,
        std::sync::Arc::new(bc.finish()),
        std::sync::Arc::new(diff.finish()),
        std::sync::Arc::new(status.finish()),
        std::sync::Arc::new(note.finish()),
        std::sync::Arc::new(uv.finish()),
        std::sync::Arc::new(bv.finish()),
    ]);
    let batch = RecordBatch::try_new(reconciliation_schema(), columns)?;
    let mut writer =
        RecordBatchWriter::for_table(&table)?.with_writer_properties(crate::warehouse::writer_properties());
    if batch.num_rows() > 0 {
        writer.write(batch).await?;
    }
    let adds = writer.flush().await?;
    let mut metadata = serde_json::Map::new();
    metadata.insert("tokenledger.reconcile_id".into(), result.reconcile_id.clone().into());
    let partitions = BTreeSet::from([result.period.clone()]);
    crate::warehouse::commit_replace_partitions(&mut table, &partitions, adds, metadata).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn side(tokens: i64, cost: &str) -> Side {
        Side {
            currency: Some("USD".into()),
            currencies: 1,
            requests: None,
            tokens: Some(tokens),
            cost: Some(d(cost)),
            unpriced_tokens: 0,
        }
    }

    #[test]
    fn tolerances_are_percentages_or_fractions() {
        assert_eq!(parse_tolerance("0.5%").unwrap(), d("0.005"));
        assert_eq!(parse_tolerance("0.01").unwrap(), d("0.01"));
        for bad in ["-1%", "abc", "100%", "2"] {
            assert!(parse_tolerance(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn statuses_follow_tokens_then_cost_within_the_tolerance() {
        let known = BTreeSet::from([("openai".to_string(), "gpt-4o".to_string())]);
        let tol = d("0.005");
        let st = |l: &Side, b: Option<&Side>| status_of("openai", "gpt-4o", l, b, &known, tol).0;
        assert_eq!(st(&side(1000, "1.00"), Some(&side(1004, "1.004"))), Status::Ok);
        assert_eq!(st(&side(1000, "1.00"), Some(&side(1100, "1.10"))), Status::VolumeMismatch);
        assert_eq!(st(&side(1000, "1.00"), Some(&side(1000, "1.10"))), Status::PriceMismatch);
        assert_eq!(st(&side(1000, "1.00"), None), Status::MissingInBill);
        assert_eq!(st(&Side::default(), Some(&side(1000, "1.00"))), Status::MissingInLedger);
        let unknown = status_of("openai", "gpt-9", &Side::default(), Some(&side(1, "1")), &known, tol);
        assert_eq!(unknown.0, Status::UnmatchedModel);
        assert!(unknown.1.contains("bill_mapping.csv"), "{}", unknown.1);
        // a bill without tokens: a cost difference is not told apart
        let mut cost_only = side(0, "2.00");
        cost_only.tokens = None;
        assert_eq!(st(&side(1000, "1.00"), Some(&cost_only)), Status::CostMismatch);
        // differences under half a cent are rounding
        assert_eq!(st(&side(10, "0.001"), Some(&side(10, "0.004"))), Status::Ok);
    }

    #[test]
    fn a_model_the_bill_does_not_split_is_one_row_of_all_kinds() {
        let day = NaiveDate::from_ymd_opt(2025, 1, 1).unwrap();
        let key = |kind: &str| (day, "microsoft".to_string(), "gpt-4o".to_string(), kind.to_string());
        let ledger = BTreeMap::from([(key("input"), side(100, "1")), (key("output"), side(10, "2"))]);
        let bill = BTreeMap::from([(key("other"), side(110, "3"))]);
        let r = compare(ledger, bill, &BTreeSet::new(), d("0.005"));
        assert_eq!(r.rows.len(), 1);
        assert_eq!((r.rows[0].charge_kind.as_str(), r.rows[0].status), ("all", Status::Ok));
        assert_eq!(r.rows[0].ledger_cost, Some(d("3")));
    }
}
