//! `tokenledger bill import`: bill files into `bill_lines`, exactly once per file.
//!
//! A file is identified by a hash of its bytes, as ingest identifies log files: the commit that
//! adds its lines records the Delta application transaction `tokenledger.bill.<hash>` with
//! them, so a file imported again (under any name) is skipped. Rows the source cannot read, and
//! cost lines in a currency the price book does not price in, go to `quarantine` with the
//! reason, first, marked with the same transaction, so a run that dies between the two commits
//! does not write them twice.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, Date32Builder, Decimal128Builder, Int64Builder, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow::record_batch::RecordBatch;
use deltalake::kernel::Transaction;
use deltalake::writer::{DeltaWriter, RecordBatchWriter};
use rust_decimal::Decimal;
use serde::Serialize;

use super::line::{BadBillRow, BillLine, ParsedBill};
use super::sources::databricks::ListPrices;
use super::sources::{BillSource, ParseOptions, parse};
use crate::error::{Error, Result};
use crate::warehouse::lineage::{Lineage, QuarantineBatchBuilder, QuarantineRow, capped_text};
use crate::warehouse::schema::{
    BILL_LINES, BILL_LINES_PARTITION, BILL_MONEY, BILL_MONEY_SCALE, QUARANTINE, bill_lines_schema,
};
use crate::warehouse::{Warehouse, commit_append, has_transaction, writer_properties};

/// Options of one `bill import`.
#[derive(Debug, Clone)]
pub struct BillImportOptions {
    pub paths: Vec<PathBuf>,
    pub source: BillSource,
    /// The currencies the price book prices in: a cost line in another currency cannot be
    /// compared with the ledger and is quarantined (`currency_not_held`). Empty: any.
    pub currencies: BTreeSet<String>,
    /// `--list-prices`: an export of Databricks' `system.billing.list_prices`, which prices the
    /// DBUs of a `databricks-billing` file.
    pub list_prices: Option<PathBuf>,
    /// `--dbu-rate`: one price per DBU (USD) for every row of a `databricks-billing` file,
    /// when there is no list price export.
    pub dbu_rate: Option<Decimal>,
}

/// What happened to one file.
#[derive(Debug, Clone, Serialize)]
pub struct BillFileOutcome {
    pub path: String,
    /// What it was read as.
    pub source: String,
    pub fingerprint: String,
    /// `imported` or `skipped: already imported`.
    pub status: String,
    pub lines: usize,
    pub quarantined: usize,
    /// Rows left out on purpose (Databricks usage of products other than model serving).
    pub skipped: usize,
    /// Billed cost per currency, exact.
    pub cost: Vec<(String, String)>,
}

/// What a `bill import` did.
#[derive(Debug, Clone, Serialize)]
pub struct BillImportSummary {
    /// Id of the import (`quarantine.ingest_batch_id` of its bad rows).
    pub import_id: String,
    pub files: Vec<BillFileOutcome>,
    pub lines: usize,
    pub quarantined: usize,
    /// Rows left out on purpose, of all files.
    pub skipped: usize,
    pub bill_lines_version: Option<i64>,
}

/// The currencies the price book prices in: the bills' costs the ledger can compare.
pub fn held_currencies(book: &crate::pricing::PriceBook) -> BTreeSet<String> {
    book.rows().iter().map(|r| r.currency.clone()).collect()
}

/// The application-transaction id of a bill file.
fn bill_app_id(fingerprint: &str) -> String {
    format!("tokenledger.bill.{fingerprint}")
}

/// Imports the files of `options` (each a bill file; directories are not searched: bills are
/// few and named).
pub async fn import_bills(warehouse: &Warehouse, options: &BillImportOptions) -> Result<BillImportSummary> {
    let import_id = uuid::Uuid::new_v4().to_string();
    let now = chrono::Utc::now().timestamp_micros();
    let mut table = if warehouse.has_table(BILL_LINES).await? {
        warehouse.open_table(BILL_LINES).await?
    } else {
        warehouse.create_table(BILL_LINES, &bill_lines_schema(), BILL_LINES_PARTITION).await?
    };
    let mut quarantine = warehouse.open_table(QUARANTINE).await?;
    let mut summary = BillImportSummary {
        import_id: import_id.clone(),
        files: Vec::new(),
        lines: 0,
        quarantined: 0,
        skipped: 0,
        bill_lines_version: None,
    };
    let parse_options = ParseOptions {
        list_prices: match &options.list_prices {
            Some(path) => {
                let bytes = std::fs::read(path).map_err(|source| Error::Input { path: path.clone(), source })?;
                Some(ListPrices::parse(path, &bytes)?)
            }
            None => None,
        },
        dbu_rate: options.dbu_rate,
    };
    let mut seen = BTreeSet::new();
    // the list prices that price Databricks' DBUs may sit among the bills (a glob of a folder): they are no bill
    let list_prices = options.list_prices.as_ref().and_then(|l| l.canonicalize().ok());
    let bills = options.paths.iter().filter(|p| list_prices.is_none() || p.canonicalize().ok() != list_prices);
    for path in bills {
        let bytes = std::fs::read(path).map_err(|source| Error::Input { path: path.clone(), source })?;
        let fingerprint = format!("{:032x}", twox_hash::XxHash3_128::oneshot(&bytes));
        let app_id = bill_app_id(&fingerprint);
        let shown = path.display().to_string();
        if !seen.insert(fingerprint.clone()) || has_transaction(&table, app_id.clone()).await? {
            summary.files.push(BillFileOutcome {
                path: shown,
                source: String::new(),
                fingerprint,
                status: "skipped: already imported".into(),
                lines: 0,
                quarantined: 0,
                skipped: 0,
                cost: Vec::new(),
            });
            continue;
        }
        let (source, parsed) = parse(options.source, path, &bytes, &parse_options)?;
        let skipped = parsed.skipped;
        let (lines, bad_rows) = comparable_lines(parsed, &options.currencies);
        let lineage = Lineage {
            source: source.as_str().to_string(),
            source_file: shown.clone(),
            ingest_batch_id: import_id.clone(),
            ingested_at_us: now,
        };
        let txn = || vec![Transaction::new(app_id.clone(), 1)];
        // quarantine first: a run that dies before the lines commit finds the file's
        // quarantine transaction next time and does not write its bad rows twice
        if !bad_rows.is_empty() && !has_transaction(&quarantine, app_id.clone()).await? {
            let mut rows = QuarantineBatchBuilder::default();
            for bad in &bad_rows {
                let raw = capped_text(bad.raw.as_bytes());
                rows.append(
                    &lineage,
                    &fingerprint,
                    QuarantineRow {
                        line_number: bad.row_number,
                        request_id: None,
                        reason_code: bad.reason_code,
                        reason: &bad.reason,
                        raw: &raw,
                        raw_bytes: bad.raw.len() as i64,
                    },
                );
            }
            let mut writer = RecordBatchWriter::for_table(&quarantine)?.with_writer_properties(writer_properties());
            writer.write(rows.finish()?).await?;
            let adds = writer.flush().await?;
            commit_append(&mut quarantine, adds, txn(), metadata(&import_id)).await?;
        }
        let mut writer = RecordBatchWriter::for_table(&table)?.with_writer_properties(writer_properties());
        if !lines.is_empty() {
            writer.write(lines_batch(&lines, &lineage, &fingerprint)?).await?;
        }
        let adds = writer.flush().await?;
        summary.bill_lines_version = Some(commit_append(&mut table, adds, txn(), metadata(&import_id)).await?);
        summary.lines += lines.len();
        summary.quarantined += bad_rows.len();
        summary.skipped += skipped;
        summary.files.push(BillFileOutcome {
            path: shown,
            source: source.as_str().to_string(),
            fingerprint,
            status: "imported".into(),
            lines: lines.len(),
            quarantined: bad_rows.len(),
            skipped,
            cost: cost_by_currency(&lines),
        });
    }
    Ok(summary)
}

fn metadata(import_id: &str) -> serde_json::Map<String, serde_json::Value> {
    let mut m = serde_json::Map::new();
    m.insert("tokenledger.bill_import_id".into(), import_id.into());
    m
}

/// The lines whose money the ledger can hold and compare, and the rest as bad rows: a cost in
/// a currency the price book does not price in (`held`; empty = any) is not comparable and is
/// not converted at a guessed rate; an amount with more decimal places than `bill_lines` keeps
/// would have to be rounded.
fn comparable_lines(parsed: ParsedBill, held: &BTreeSet<String>) -> (Vec<BillLine>, Vec<BadBillRow>) {
    let ParsedBill { lines, mut bad_rows, .. } = parsed;
    let mut kept = Vec::with_capacity(lines.len());
    for line in lines {
        let too_fine = [line.cost, line.list_cost, line.effective_cost, line.usage_quantity]
            .into_iter()
            .flatten()
            .find(|v| v.normalize().scale() > BILL_MONEY_SCALE as u32);
        let (reason_code, reason) = match (&line.currency, too_fine) {
            (_, Some(v)) => (
                "bad_amount",
                format!(
                    "the amount {v} has more than {BILL_MONEY_SCALE} decimal places, which the ledger cannot keep exactly"
                ),
            ),
            (Some(c), None) if !held.is_empty() && !held.contains(c) && line.cost.is_some() => {
                let prices: Vec<&str> = held.iter().map(String::as_str).collect();
                (
                    "currency_not_held",
                    format!(
                        "a cost in {c}, but the price book prices in {} only: the ledger cannot compare it; \
                         import the bill in {} or add prices in {c}",
                        prices.join(", "),
                        prices.join(" or "),
                    ),
                )
            }
            _ => {
                kept.push(line);
                continue;
            }
        };
        bad_rows.push(BadBillRow { row_number: line.row_number, reason_code, reason, raw: format!("{line:?}") });
    }
    bad_rows.sort_by_key(|b| b.row_number);
    (kept, bad_rows)
}

/// The total billed per currency, as exact decimal text.
fn cost_by_currency(lines: &[BillLine]) -> Vec<(String, String)> {
    let mut totals: std::collections::BTreeMap<String, Decimal> = Default::default();
    for line in lines {
        if let (Some(c), Some(cost)) = (&line.currency, line.cost) {
            *totals.entry(c.clone()).or_default() += cost;
        }
    }
    totals.into_iter().map(|(c, t)| (c, t.normalize().to_string())).collect()
}

/// `value` as the mantissa of a bill money column (`bill_lines`, `reconciliation`), exactly;
/// the bills' amounts were checked to fit by [`comparable_lines`].
pub(crate) fn bill_money(value: Decimal) -> Result<i128> {
    crate::money::mantissa_at_scale(value, BILL_MONEY_SCALE as u32)
        .ok_or_else(|| Error::Internal(format!("{value} does not fit a bill money column")))
}

/// The rows of `bill_lines` for `lines`.
fn lines_batch(lines: &[BillLine], lineage: &Lineage, fingerprint: &str) -> Result<RecordBatch> {
    let ts = || TimestampMicrosecondBuilder::new().with_timezone("UTC");
    let money = || Decimal128Builder::new().with_data_type(BILL_MONEY);
    let (mut date, mut import_id, mut imported_at, mut source, mut file, mut fp, mut row) = (
        Date32Builder::new(),
        StringBuilder::new(),
        ts(),
        StringBuilder::new(),
        StringBuilder::new(),
        StringBuilder::new(),
        Int64Builder::new(),
    );
    let (mut provider, mut start, mut end, mut model, mut kind) =
        (StringBuilder::new(), ts(), ts(), StringBuilder::new(), StringBuilder::new());
    let mut texts: [StringBuilder; 6] = Default::default(); // tier, context, geo, account, key, user
    let (mut quantity, mut requests) = (Int64Builder::new(), Int64Builder::new());
    let (mut cost, mut list_cost, mut effective_cost) = (money(), money(), money());
    let (mut currency, mut description) = (StringBuilder::new(), StringBuilder::new());
    let (mut usage_quantity, mut usage_unit, mut endpoint_name) = (money(), StringBuilder::new(), StringBuilder::new());
    for l in lines {
        date.append_value(crate::time::day_of_micros(l.period_start.timestamp_micros()));
        import_id.append_value(&lineage.ingest_batch_id);
        imported_at.append_value(lineage.ingested_at_us);
        source.append_value(&lineage.source);
        file.append_value(&lineage.source_file);
        fp.append_value(fingerprint);
        row.append_value(l.row_number);
        provider.append_value(&l.provider);
        start.append_value(l.period_start.timestamp_micros());
        end.append_value(l.period_end.timestamp_micros());
        model.append_option(l.provider_model.as_deref());
        kind.append_value(l.charge_kind.as_str());
        let optional = [&l.service_tier, &l.context_window, &l.inference_geo, &l.account, &l.api_key_id, &l.user_id];
        for (builder, value) in texts.iter_mut().zip(optional) {
            builder.append_option(value.as_deref());
        }
        quantity.append_option(l.quantity);
        requests.append_option(l.requests);
        for (builder, value) in
            [(&mut cost, l.cost), (&mut list_cost, l.list_cost), (&mut effective_cost, l.effective_cost)]
        {
            builder.append_option(value.map(bill_money).transpose()?);
        }
        currency.append_option(l.currency.as_deref());
        description.append_option(l.description.as_deref());
        usage_quantity.append_option(l.usage_quantity.map(bill_money).transpose()?);
        usage_unit.append_option(l.usage_unit.as_deref());
        endpoint_name.append_option(l.endpoint_name.as_deref());
    }
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(date.finish()),
        Arc::new(import_id.finish()),
        Arc::new(imported_at.finish()),
        Arc::new(source.finish()),
        Arc::new(file.finish()),
        Arc::new(fp.finish()),
        Arc::new(row.finish()),
        Arc::new(provider.finish()),
        Arc::new(start.finish()),
        Arc::new(end.finish()),
        Arc::new(model.finish()),
        Arc::new(kind.finish()),
    ];
    columns.extend(texts.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
    columns.extend([
        Arc::new(quantity.finish()) as ArrayRef,
        Arc::new(requests.finish()),
        Arc::new(cost.finish()),
        Arc::new(list_cost.finish()),
        Arc::new(effective_cost.finish()),
        Arc::new(currency.finish()),
        Arc::new(description.finish()),
        Arc::new(usage_quantity.finish()),
        Arc::new(usage_unit.finish()),
        Arc::new(endpoint_name.finish()),
    ]);
    Ok(RecordBatch::try_new(bill_lines_schema(), columns)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bill::line::ChargeKind;

    fn line(row: i64, cost: &str, currency: &str) -> BillLine {
        let t = chrono::DateTime::from_timestamp(1_735_689_600, 0).unwrap();
        BillLine {
            cost: Some(cost.parse().unwrap()),
            currency: Some(currency.into()),
            ..crate::bill::sources::blank_line(row, "databricks", (t, t), ChargeKind::Other)
        }
    }

    #[test]
    fn dbus_times_a_price_are_kept_whole_and_other_currencies_are_not_compared() {
        let parsed = ParsedBill {
            // 18 places of DBUs times a price of 3 places: 21 places, kept exactly
            lines: vec![
                line(1, "0.032611111111111111111", "USD"),
                line(2, "0.1234567890123456789012345", "USD"),
                line(3, "1.5", "EUR"),
            ],
            ..ParsedBill::default()
        };
        let (kept, bad) = comparable_lines(parsed, &BTreeSet::from(["USD".to_string()]));
        assert_eq!(kept.len(), 1);
        assert_eq!(bill_money(kept[0].cost.unwrap()).unwrap(), 32_611_111_111_111_111_111_000);
        let codes: Vec<(i64, &str)> = bad.iter().map(|b| (b.row_number, b.reason_code)).collect();
        assert_eq!(codes, [(2, "bad_amount"), (3, "currency_not_held")]);
    }
}
