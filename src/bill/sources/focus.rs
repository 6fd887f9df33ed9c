//! A FOCUS export (FinOps Open Cost and Usage Specification 1.0-1.3), as CSV with a header row
//! or as Parquet; the column names are the spec's (github.com/FinOps-Open-Cost-and-Usage-Spec,
//! specification/columns).
//!
//! Every row is a line: `BilledCost` the cost, `ListCost` and `EffectiveCost` beside it,
//! `BillingCurrency`, `ChargePeriodStart`/`ChargePeriodEnd` the period, the provider from
//! `ServiceProviderName` (1.3; `ServiceProvider` in its drafts) else `ProviderName`
//! (lower-cased), `SubAccountId` the account, `ChargeDescription` the description (else
//! `SkuMeter`). Which charge it is:
//! - `ChargeCategory` Credit or Adjustment: Other (the description says what);
//! - a `ConsumedUnit` of tokens (`Tokens`, `1K Tokens`, `1000 Tokens`): the kind from the words
//!   of `SkuMeter`, `ChargeDescription` and `ConsumedUnit` (cache write, cached input, input,
//!   output; Azure's meters abbreviate them `Inp`, `Outp`, `cchd`), else Other; the quantity
//!   `ConsumedQuantity` in tokens;
//! - words saying web search: WebSearch, `ConsumedQuantity` the searches;
//! - anything else (another service's rows, taxes, purchases): Other, kept with its cost:
//!   reconcile compares only providers and models it has usage for.
//!
//! The model: FOCUS has no model column and its spec has no AI example, so the most specific
//! text is used: an export's own `x_Model` / `x_ModelName` / `x_ModelId` column when it has one,
//! else, on token and web search rows, `SkuMeter` up to its first charge word
//! (`gpt-4o-2024-08-06 Input Tokens` is gpt-4o-2024-08-06). `ResourceName` is not a model: it
//! names the deployment or account the charge is for.

use std::collections::HashMap;
use std::path::Path;

use arrow::array::Array;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use super::{Bad, BillSource, input_format};
use crate::bill::line::{BillLine, ChargeKind, ParsedBill};
use crate::error::Result;
use crate::money::decimal_from_text;

/// The first bytes of a Parquet file.
pub(super) const PARQUET_MAGIC: &[u8] = b"PAR1";

/// Columns every FOCUS export has (and the provider, under one of its names).
const REQUIRED: [&str; 4] = ["BilledCost", "BillingCurrency", "ChargePeriodStart", "ChargePeriodEnd"];
const PROVIDER: [&str; 3] = ["ServiceProviderName", "ServiceProvider", "ProviderName"];
/// An export's own model column (custom columns start with `x_`), most specific first.
const MODEL: [&str; 3] = ["x_Model", "x_ModelName", "x_ModelId"];

/// Whether `columns` are a FOCUS export's.
pub(super) fn is_focus(columns: &[String]) -> bool {
    missing_columns(columns).is_empty()
}

fn missing_columns(columns: &[String]) -> Vec<&'static str> {
    let has = |c: &str| columns.iter().any(|n| n == c);
    let mut missing: Vec<&'static str> = REQUIRED.into_iter().filter(|c| !has(c)).collect();
    if !PROVIDER.iter().any(|c| has(c)) {
        missing.push("ProviderName (or ServiceProviderName)");
    }
    missing
}

/// The columns of a CSV's header row; `None` when the first line is not CSV text.
pub(super) fn csv_columns(bytes: &[u8]) -> Option<Vec<String>> {
    let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(strip_bom(bytes));
    let headers = reader.headers().ok()?;
    Some(headers.iter().map(|h| h.trim().to_string()).collect())
}

pub(super) fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes)
}

/// A FOCUS file: Parquet by its magic bytes, else CSV.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<ParsedBill> {
    if bytes.starts_with(PARQUET_MAGIC) { parse_parquet(path, bytes) } else { parse_csv(path, bytes) }
}

fn check_columns(path: &Path, columns: &[String]) -> Result<()> {
    super::check_columns(path, &missing_columns(columns), BillSource::Focus)
}

fn parse_csv(path: &Path, bytes: &[u8]) -> Result<ParsedBill> {
    let mut reader = csv::ReaderBuilder::new().has_headers(true).flexible(true).from_reader(strip_bom(bytes));
    let columns: Vec<String> = match reader.headers() {
        Ok(headers) => headers.iter().map(|h| h.trim().to_string()).collect(),
        Err(e) => {
            return Err(input_format(path, format!("its header row is not CSV ({e}), so it is not a FOCUS export")));
        }
    };
    check_columns(path, &columns)?;
    let mut parsed = ParsedBill::default();
    let mut record = csv::ByteRecord::new();
    let mut row_number = 0i64;
    loop {
        row_number += 1;
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                // the reader cannot go on past a broken record (an unclosed quote runs to the end)
                parsed.bad_rows.push(Bad::malformed(format!("not a CSV record: {e}")).at(row_number, String::new()));
                break;
            }
        }
        let raw = csv_text(&record);
        if record.len() != columns.len() {
            let why = format!("the row has {} fields, the header {} columns", record.len(), columns.len());
            parsed.bad_rows.push(Bad::malformed(why).at(row_number, raw));
            continue;
        }
        let mut cells = HashMap::new();
        let mut not_text = None;
        for (name, field) in columns.iter().zip(record.iter()) {
            match std::str::from_utf8(field) {
                Ok(text) if !text.trim().is_empty() => {
                    cells.insert(name.as_str(), text.trim().to_string());
                }
                Ok(_) => {}
                Err(_) => not_text = Some(name.as_str()),
            }
        }
        let outcome = match not_text {
            Some(name) => Err(Bad::wrong_type(name, "UTF-8 text", &String::from_utf8_lossy(&record[0]))),
            None => line(row_number, &cells),
        };
        match outcome {
            Ok(line) => parsed.lines.push(line),
            Err(why) => parsed.bad_rows.push(why.at(row_number, raw)),
        }
    }
    Ok(parsed)
}

/// A CSV record as a line of CSV text.
pub(super) fn csv_text(record: &csv::ByteRecord) -> String {
    let mut writer = csv::WriterBuilder::new().terminator(csv::Terminator::Any(b'\n')).from_writer(Vec::new());
    let text = writer.write_byte_record(record).ok().and_then(|()| writer.into_inner().ok()).unwrap_or_default();
    String::from_utf8_lossy(&text).trim_end_matches('\n').to_string()
}

fn parse_parquet(path: &Path, bytes: &[u8]) -> Result<ParsedBill> {
    let unreadable = |e: &dyn std::fmt::Display| input_format(path, format!("not a readable Parquet file: {e}"));
    let builder =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::copy_from_slice(bytes))
            .map_err(|e| unreadable(&e))?;
    let columns: Vec<String> = builder.schema().fields().iter().map(|f| f.name().clone()).collect();
    check_columns(path, &columns)?;
    let reader = builder.build().map_err(|e| unreadable(&e))?;
    let options = FormatOptions::default();
    let mut parsed = ParsedBill::default();
    let mut row_number = 0i64;
    for batch in reader {
        let batch = batch.map_err(|e| unreadable(&e))?;
        // each cell as the text Arrow prints it: a decimal as written, a timestamp in RFC 3339
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| unreadable(&e))?;
        for row in 0..batch.num_rows() {
            row_number += 1;
            let mut cells = HashMap::new();
            let mut raw = serde_json::Map::new();
            for ((name, column), formatter) in columns.iter().zip(batch.columns()).zip(&formatters) {
                if column.is_null(row) {
                    raw.insert(name.clone(), serde_json::Value::Null);
                    continue;
                }
                let text = formatter.value(row).to_string();
                raw.insert(name.clone(), serde_json::Value::String(text.clone()));
                if !text.trim().is_empty() {
                    cells.insert(name.as_str(), text.trim().to_string());
                }
            }
            match line(row_number, &cells) {
                Ok(line) => parsed.lines.push(line),
                Err(why) => parsed.bad_rows.push(why.at(row_number, serde_json::Value::Object(raw).to_string())),
            }
        }
    }
    Ok(parsed)
}

/// The line of one row; `cells` holds its non-empty cells by column.
fn line(row_number: i64, cells: &HashMap<&str, String>) -> std::result::Result<BillLine, Bad> {
    let get = |c: &str| cells.get(c).map(String::as_str);
    let required = |c: &str| get(c).ok_or_else(|| Bad::missing(c));
    let time = |c: &str| {
        let text = required(c)?;
        super::timestamp(text).ok_or_else(|| Bad::timestamp(c, text, "an ISO 8601 UTC time of 2000-2100"))
    };
    let amount = |c: &str| get(c).map(|t| decimal_from_text(t).ok_or_else(|| Bad::amount(c, t))).transpose();
    let period =
        super::period(time("ChargePeriodStart")?, time("ChargePeriodEnd")?, ("ChargePeriodStart", "ChargePeriodEnd"))?;
    let cost = amount("BilledCost")?.ok_or_else(|| Bad::missing("BilledCost"))?;
    let currency_text = required("BillingCurrency")?;
    let currency = super::iso_currency(currency_text).ok_or_else(|| Bad::currency("BillingCurrency", currency_text))?;
    let provider =
        PROVIDER.iter().find_map(|c| get(c)).ok_or_else(|| Bad::missing("ServiceProviderName or ProviderName"))?;

    let meter = get("SkuMeter");
    let description = get("ChargeDescription").or(meter);
    let unit = get("ConsumedUnit");
    let words = words_of(&[meter, get("ChargeDescription"), unit]);
    let category = get("ChargeCategory").map(str::to_ascii_lowercase);
    let adjustment = matches!(category.as_deref(), Some("credit" | "adjustment"));
    let tokens = unit.and_then(tokens_per_unit).transpose()?;
    let searches = words.windows(2).any(|w| w == ["web", "search"]);
    let (kind, per_unit) = match (adjustment, tokens) {
        (true, _) => (ChargeKind::Other, None),
        (false, Some(per_unit)) => (token_kind(&words), Some(per_unit)),
        (false, None) if searches => (ChargeKind::WebSearch, Some(1)),
        (false, None) => (ChargeKind::Other, None),
    };
    let quantity = match per_unit {
        Some(per_unit) => Some(quantity(get("ConsumedQuantity"), per_unit)?),
        None => None,
    };

    let mut line = super::blank_line(row_number, &provider.to_lowercase(), period, kind);
    line.provider_model =
        MODEL.iter().find_map(|c| get(c)).map(str::to_string).or_else(|| per_unit.and(meter).and_then(model_of_meter));
    line.account = get("SubAccountId").map(str::to_string);
    line.quantity = quantity;
    line.cost = Some(cost);
    line.list_cost = amount("ListCost")?;
    line.effective_cost = amount("EffectiveCost")?;
    line.currency = Some(currency);
    line.description = description.map(str::to_string);
    Ok(line)
}

/// Tokens per consumed unit when the unit counts tokens: `Tokens` 1, `1K Tokens` and `1000
/// Tokens` 1000, `1M Tokens` 1,000,000 (FOCUS's UnitFormat puts a multiplier before the
/// unit); `None` for another unit.
fn tokens_per_unit(unit: &str) -> Option<std::result::Result<i64, Bad>> {
    let lower = unit.to_ascii_lowercase();
    let words: Vec<&str> = lower.split_whitespace().collect();
    let (last, multiplier) = words.split_last()?;
    if !matches!(*last, "token" | "tokens") {
        return None;
    }
    Some(match multiplier {
        [] => Ok(1),
        [m] => {
            let (digits, scale) = match m.as_bytes().last() {
                Some(b'k') => (&m[..m.len() - 1], 1_000),
                Some(b'm') => (&m[..m.len() - 1], 1_000_000),
                _ => (*m, 1),
            };
            digits.parse::<i64>().ok().and_then(|d| d.checked_mul(scale)).filter(|n| *n > 0).ok_or_else(|| {
                Bad::wrong_type("ConsumedUnit", "a count of tokens (Tokens, 1K Tokens, 1000 Tokens)", unit)
            })
        }
        _ => Err(Bad::wrong_type("ConsumedUnit", "a count of tokens (Tokens, 1K Tokens, 1000 Tokens)", unit)),
    })
}

/// `ConsumedQuantity` × `per_unit`, a whole number of tokens or searches.
fn quantity(text: Option<&str>, per_unit: i64) -> std::result::Result<i64, Bad> {
    let text = text.ok_or_else(|| Bad::missing("ConsumedQuantity"))?;
    let consumed = decimal_from_text(text).ok_or_else(|| Bad::wrong_type("ConsumedQuantity", "a number", text))?;
    let total = consumed.checked_mul(Decimal::from(per_unit));
    match total {
        Some(t) if t < Decimal::ZERO => Err(Bad::negative("ConsumedQuantity", text)),
        Some(t) if t.fract().is_zero() => {
            t.to_i64().ok_or_else(|| Bad::wrong_type("ConsumedQuantity", "a count that fits", text))
        }
        _ => Err(Bad::wrong_type("ConsumedQuantity", "a whole number of units", text)),
    }
}

/// The lower-cased words of the texts (split at anything not a letter or digit).
fn words_of(texts: &[Option<&str>]) -> Vec<String> {
    texts
        .iter()
        .flatten()
        .flat_map(|t| t.split(|c: char| !c.is_alphanumeric()))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// The words that say what a token charge is for.
const KIND_WORDS: [&str; 12] =
    ["input", "inp", "prompt", "output", "outp", "completion", "cached", "cchd", "cache", "tokens", "token", "batch"];

fn token_kind(words: &[String]) -> ChargeKind {
    let has = |w: &[&str]| words.iter().any(|x| w.contains(&x.as_str()));
    let cache = has(&["cached", "cchd", "cache"]);
    if cache && has(&["write", "writes", "creation", "wrt"]) {
        ChargeKind::CacheWrite
    } else if cache {
        ChargeKind::CachedInput
    } else if has(&["input", "inp", "prompt"]) {
        ChargeKind::Input
    } else if has(&["output", "outp", "completion"]) {
        ChargeKind::Output
    } else {
        ChargeKind::Other
    }
}

/// The model a meter names: its text up to the first charge word, separators trimmed.
fn model_of_meter(meter: &str) -> Option<String> {
    let word = meter.split(|c: char| !c.is_alphanumeric()).find(|w| KIND_WORDS.contains(&w.to_lowercase().as_str()))?;
    // the word is a slice of the meter: its offset is where the model ends
    let at = word.as_ptr() as usize - meter.as_ptr() as usize;
    let model = meter.get(..at)?.trim_end_matches(|c: char| !c.is_alphanumeric());
    (!model.is_empty()).then(|| model.to_string())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Decimal128Array, Float64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
    use arrow::datatypes::{DataType, Field, Schema, TimeUnit};

    use super::*;

    const HEADER: &str = "BillingAccountId,ChargeCategory,ChargeClass,ChargeDescription,ChargePeriodStart,ChargePeriodEnd,\
        BilledCost,EffectiveCost,ListCost,BillingCurrency,ConsumedQuantity,ConsumedUnit,ProviderName,ServiceProviderName,\
        ServiceName,SkuMeter,SubAccountId,ResourceName";

    fn csv(rows: &[&str]) -> ParsedBill {
        let text = format!("{HEADER}\n{}\n", rows.join("\n"));
        parse(Path::new("focus.csv"), text.as_bytes()).unwrap()
    }

    #[test]
    fn an_azure_openai_token_row() {
        let parsed = csv(&["ba-1,Usage,,gpt-4o-2024-08-06 Input Tokens,2025-01-01T00:00:00Z,2025-01-02T00:00:00Z,\
            0.125,0.12,0.125,USD,50,1K Tokens,Microsoft,Microsoft,Azure OpenAI,gpt-4o-2024-08-06 Input Tokens,sub-1,aoai-east"]);
        let line = &parsed.lines[0];
        assert_eq!(
            (line.provider.as_str(), line.charge_kind, line.quantity),
            ("microsoft", ChargeKind::Input, Some(50_000))
        );
        assert_eq!(line.provider_model.as_deref(), Some("gpt-4o-2024-08-06"));
        assert_eq!(
            (
                line.cost.unwrap().to_string(),
                line.effective_cost.unwrap().to_string(),
                line.list_cost.unwrap().to_string()
            ),
            ("0.125".into(), "0.12".into(), "0.125".into())
        );
        assert_eq!((line.account.as_deref(), line.currency.as_deref()), (Some("sub-1"), Some("USD")));
        assert_eq!(line.period_end.to_rfc3339(), "2025-01-02T00:00:00+00:00");
    }

    #[test]
    fn charge_kinds_from_the_meter_words() {
        for (meter, kind, model) in [
            ("gpt-4o-2024-08-06 Cached Input Tokens", ChargeKind::CachedInput, Some("gpt-4o-2024-08-06")),
            ("gpt-4o-0806-Inp-glbl", ChargeKind::Input, Some("gpt-4o-0806")),
            ("gpt-4o-0806-Outp-glbl", ChargeKind::Output, Some("gpt-4o-0806")),
            ("gpt 4o 0806 cchd Inp glbl", ChargeKind::CachedInput, Some("gpt 4o 0806")),
            ("claude-sonnet-4-5 Cache Write Tokens", ChargeKind::CacheWrite, Some("claude-sonnet-4-5")),
            ("Tokens", ChargeKind::Other, None),
        ] {
            let row = format!(
                "ba,Usage,,,2025-01-01T00:00:00Z,2025-01-02T00:00:00Z,1,1,1,USD,7,Tokens,Microsoft,,Azure OpenAI,{meter},s,r"
            );
            let parsed = csv(&[&row]);
            let line = &parsed.lines[0];
            assert_eq!(
                (line.charge_kind, line.provider_model.as_deref(), line.quantity),
                (kind, model, Some(7)),
                "{meter}"
            );
        }
    }

    #[test]
    fn credits_and_other_services_are_kept_as_other() {
        let parsed = csv(&[
            "ba,Credit,,Azure credit offer,2025-01-01T00:00:00Z,2025-02-01T00:00:00Z,-25.00,-25.00,0,USD,,,Microsoft,,,,s,",
            "ba,Usage,,Hot LRS Data Stored,2025-01-01T00:00:00Z,2025-01-02T00:00:00Z,0.5,0.5,0.5,USD,12.5,GB/Month,Microsoft,,Storage,Data Stored,s,st1",
        ]);
        let got: Vec<_> = parsed
            .lines
            .iter()
            .map(|l| (l.charge_kind, l.quantity, l.cost.unwrap().to_string(), l.description.clone()))
            .collect();
        assert_eq!(
            got,
            [
                (ChargeKind::Other, None, "-25.00".into(), Some("Azure credit offer".into())),
                (ChargeKind::Other, None, "0.5".into(), Some("Hot LRS Data Stored".into())),
            ]
        );
        assert!(parsed.lines.iter().all(|l| l.provider_model.is_none()));
    }

    #[test]
    fn bad_focus_rows_say_why() {
        let good = "ba,Usage,,d,2025-01-01T00:00:00Z,2025-01-02T00:00:00Z,1.5,1.5,1.5,USD,10,Tokens,Microsoft,,Azure OpenAI,gpt-4o Input Tokens,s,r";
        let cells: Vec<&str> = good.split(',').collect();
        let with = |i: usize, v: &str| {
            let mut c = cells.clone();
            c[i] = v;
            c.join(",")
        };
        for (row, code, says) in [
            (with(4, "Jan 1"), "bad_timestamp", "ChargePeriodStart \"Jan 1\""),
            (with(5, "2024-12-31T00:00:00Z"), "bad_timestamp", "is not after"),
            (with(6, ""), "missing_field", "BilledCost"),
            (with(6, "1.5 USD"), "bad_amount", "\"1.5 USD\""),
            (with(9, "Euro"), "unknown_currency", "\"Euro\""),
            (with(10, "-10"), "negative_value", "ConsumedQuantity"),
            (with(10, "1.5"), "wrong_type", "whole number"),
            (with(10, ""), "missing_field", "ConsumedQuantity"),
            (with(11, "many Tokens"), "wrong_type", "ConsumedUnit"),
            (with(12, ""), "missing_field", "ProviderName"),
            (format!("{good},extra"), "malformed_record", "fields"),
        ] {
            let parsed = csv(&[good, &row]);
            assert_eq!(parsed.lines.len(), 1, "{row}");
            let bad = &parsed.bad_rows[0];
            assert_eq!((bad.row_number, bad.reason_code), (2, code), "{row}: {}", bad.reason);
            assert!(bad.reason.contains(says), "{row}: {}", bad.reason);
            assert_eq!(bad.raw, row);
        }
    }

    #[test]
    fn a_csv_without_focus_columns_is_refused() {
        let err = parse(Path::new("x.csv"), b"BilledCost,Currency\n1,USD\n").unwrap_err().to_string();
        assert!(err.contains("BillingCurrency, ChargePeriodStart") && err.contains("--source"), "{err}");
    }

    #[test]
    fn parquet_with_typed_columns() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("ChargePeriodStart", DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), false),
            Field::new("ChargePeriodEnd", DataType::Timestamp(TimeUnit::Microsecond, None), false),
            Field::new("BilledCost", DataType::Decimal128(20, 10), false),
            Field::new("BillingCurrency", DataType::Utf8, false),
            Field::new("ServiceProviderName", DataType::Utf8, false),
            Field::new("ConsumedQuantity", DataType::Float64, true),
            Field::new("ConsumedUnit", DataType::Utf8, true),
            Field::new("SkuMeter", DataType::Utf8, true),
        ]));
        let day = 1_735_689_600_000_000i64;
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(TimestampMicrosecondArray::from(vec![day, day]).with_timezone("UTC")),
                Arc::new(TimestampMicrosecondArray::from(vec![day + 86_400_000_000, day])),
                Arc::new(Decimal128Array::from(vec![1_250_000_000i128, 1]).with_precision_and_scale(20, 10).unwrap()),
                Arc::new(StringArray::from(vec!["USD", "USD"])),
                Arc::new(StringArray::from(vec!["Microsoft", "Microsoft"])),
                Arc::new(Float64Array::from(vec![Some(0.3), None])),
                Arc::new(StringArray::from(vec![Some("1M Tokens"), None])),
                Arc::new(StringArray::from(vec![Some("o3-mini Output Tokens"), None])),
            ],
        )
        .unwrap();
        let mut bytes = Vec::new();
        let mut writer = parquet::arrow::ArrowWriter::try_new(&mut bytes, schema, None).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        let (source, parsed) =
            super::super::parse(BillSource::Auto, Path::new("focus.parquet"), &bytes, &Default::default()).unwrap();
        assert_eq!(source, BillSource::Focus);
        let line = &parsed.lines[0];
        assert_eq!(
            (line.charge_kind, line.quantity, line.provider_model.as_deref()),
            (ChargeKind::Output, Some(300_000), Some("o3-mini"))
        );
        assert_eq!(
            (line.cost.unwrap().normalize().to_string(), line.period_end.to_rfc3339()),
            ("0.125".into(), "2025-01-02T00:00:00+00:00".into())
        );
        // the second row ends when it starts: a bad row, shown as JSON
        let bad = &parsed.bad_rows[0];
        assert_eq!((bad.row_number, bad.reason_code), (2, "bad_timestamp"));
        let raw: serde_json::Value = serde_json::from_str(&bad.raw).unwrap();
        assert_eq!(raw["ConsumedQuantity"], serde_json::Value::Null);
        assert_eq!(raw["BillingCurrency"], "USD");
    }
}
