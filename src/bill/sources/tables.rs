//! The rows of an export of a Databricks system table, as a `SELECT *` is downloaded: CSV with a
//! header row (a struct or map column as JSON text, null as an empty cell), JSON lines (one
//! object per row; a JSON array of row objects too), or Parquet (structs and maps as such). Each
//! row becomes one JSON object whose struct and map columns are nested objects, so that a
//! source reads `usage_metadata.endpoint_name` the same way from all three. Rows are numbered
//! 1.. in file order (CSV data rows without the header, JSON objects, Parquet rows).

use std::path::Path;

use arrow::array::{Array, AsArray};
use arrow::datatypes::DataType;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::{Map, Value};

use super::{Bad, input_format};
use crate::error::Result;
use crate::money::{decimal_from_json, decimal_from_text};

/// One row of an export: its fields, or why it is not a row, with its text.
pub(super) struct TableRow {
    pub number: i64,
    pub fields: std::result::Result<Map<String, Value>, Bad>,
    pub raw: String,
}

/// An export's rows and the columns any of them has (a JSON row leaves out its null fields).
pub(super) struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<TableRow>,
}

impl Table {
    /// The `required` columns the export lacks.
    pub fn missing<'a>(&self, required: &[&'a str]) -> Vec<&'a str> {
        required.iter().copied().filter(|c| !self.columns.iter().any(|n| n == c)).collect()
    }
}

/// The export in `bytes`: Parquet by its magic bytes, JSON when it starts with `{` or `[`, else
/// CSV. A file that holds no row of either kind is an error that names `what` it should be.
pub(super) fn read(path: &Path, bytes: &[u8], what: &str) -> Result<Table> {
    if bytes.starts_with(super::focus::PARQUET_MAGIC) {
        return read_parquet(path, bytes);
    }
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace()).copied();
    if matches!(first, Some(b'{' | b'[')) { read_json(path, bytes, what) } else { read_csv(path, bytes, what) }
}

/// The columns of a Parquet file's schema; `None` when it is not readable Parquet.
pub(super) fn parquet_columns(bytes: &[u8]) -> Option<Vec<String>> {
    let builder =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::copy_from_slice(bytes))
            .ok()?;
    Some(builder.schema().fields().iter().map(|f| f.name().clone()).collect())
}

/// The keys of the first JSON row object (of a JSON array of them too); `None` when the first
/// value is not an object with keys.
pub(super) fn json_columns(bytes: &[u8]) -> Option<Vec<String>> {
    let (value, _) = super::pages::values(bytes).next()?.ok()?;
    let object = match value {
        Value::Object(object) => object,
        Value::Array(items) => items.into_iter().next()?.as_object()?.clone(),
        _ => return None,
    };
    Some(object.keys().cloned().collect())
}

fn read_csv(path: &Path, bytes: &[u8], what: &str) -> Result<Table> {
    let mut reader =
        csv::ReaderBuilder::new().has_headers(true).flexible(true).from_reader(super::focus::strip_bom(bytes));
    let columns: Vec<String> = match reader.headers() {
        Ok(headers) => headers.iter().map(|h| h.trim().to_string()).collect(),
        Err(e) => return Err(input_format(path, format!("its header row is not CSV ({e}), so it is not {what}"))),
    };
    let mut rows = Vec::new();
    let mut record = csv::ByteRecord::new();
    let mut number = 0i64;
    loop {
        number += 1;
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                // the reader cannot go on past a broken record (an unclosed quote runs to the end)
                let why = Bad::malformed(format!("not a CSV record: {e}"));
                rows.push(TableRow { number, fields: Err(why), raw: String::new() });
                break;
            }
        }
        let raw = super::focus::csv_text(&record);
        let fields = if record.len() == columns.len() {
            csv_fields(&columns, &record)
        } else {
            Err(Bad::malformed(format!("the row has {} fields, the header {} columns", record.len(), columns.len())))
        };
        rows.push(TableRow { number, fields, raw });
    }
    Ok(Table { columns, rows })
}

/// A CSV row as an object: an empty cell is null, a cell that starts with `{` or `[` is the
/// JSON text of a struct or map column (and must parse), any other cell its text.
fn csv_fields(columns: &[String], record: &csv::ByteRecord) -> std::result::Result<Map<String, Value>, Bad> {
    let mut fields = Map::new();
    for (name, cell) in columns.iter().zip(record.iter()) {
        let text = std::str::from_utf8(cell)
            .map_err(|_| Bad::wrong_type(name, "UTF-8 text", &String::from_utf8_lossy(cell)))?
            .trim();
        let value = if text.is_empty() {
            Value::Null
        } else if text.starts_with(['{', '[']) {
            serde_json::from_str(text)
                .map_err(|e| Bad::malformed(format!("{name} holds no JSON {} ({e})", json_kind(text))))?
        } else {
            Value::String(text.to_string())
        };
        fields.insert(name.clone(), value);
    }
    Ok(fields)
}

fn json_kind(text: &str) -> &'static str {
    if text.starts_with('[') { "array" } else { "object" }
}

fn read_json(path: &Path, bytes: &[u8], what: &str) -> Result<Table> {
    let mut columns: Vec<String> = Vec::new();
    let mut rows = Vec::new();
    let mut objects = 0usize;
    let mut first_problem = None;
    let mut number = 0i64;
    let mut push = |rows: &mut Vec<TableRow>, columns: &mut Vec<String>, value: Value, raw: String| {
        number += 1;
        let fields = match value {
            Value::Object(object) => {
                for key in object.keys() {
                    if !columns.contains(key) {
                        columns.push(key.clone());
                    }
                }
                Ok(object)
            }
            other => Err(Bad::malformed(format!("a row must be a JSON object, not {other}"))),
        };
        rows.push(TableRow { number, fields, raw });
    };
    for value in super::pages::values(bytes) {
        match value {
            Ok((Value::Array(items), _)) => {
                for item in items {
                    objects += usize::from(item.is_object());
                    let raw = item.to_string();
                    push(&mut rows, &mut columns, item, raw);
                }
            }
            Ok((value, raw)) => {
                objects += usize::from(value.is_object());
                push(&mut rows, &mut columns, value, raw);
            }
            Err((error, raw)) => {
                first_problem.get_or_insert_with(|| format!("it is not JSON ({error})"));
                push(&mut rows, &mut columns, Value::Null, raw);
                if let Some(row) = rows.last_mut() {
                    row.fields = Err(Bad::malformed(format!("not JSON: {error}")));
                }
            }
        }
    }
    if objects == 0 {
        let why = first_problem.unwrap_or_else(|| "it holds no JSON object of a row".into());
        return Err(input_format(path, format!("{why}, so it is not {what}")));
    }
    Ok(Table { columns, rows })
}

fn read_parquet(path: &Path, bytes: &[u8]) -> Result<Table> {
    let unreadable = |e: &dyn std::fmt::Display| input_format(path, format!("not a readable Parquet file: {e}"));
    let builder =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::copy_from_slice(bytes))
            .map_err(|e| unreadable(&e))?;
    let columns: Vec<String> = builder.schema().fields().iter().map(|f| f.name().clone()).collect();
    let reader = builder.build().map_err(|e| unreadable(&e))?;
    let mut rows = Vec::new();
    let mut number = 0i64;
    for batch in reader {
        let batch = batch.map_err(|e| unreadable(&e))?;
        for row in 0..batch.num_rows() {
            number += 1;
            let mut fields = Map::new();
            for (name, column) in columns.iter().zip(batch.columns()) {
                fields.insert(name.clone(), json_value(column.as_ref(), row).map_err(|e| unreadable(&e))?);
            }
            let raw = Value::Object(fields.clone()).to_string();
            rows.push(TableRow { number, fields: Ok(fields), raw });
        }
    }
    Ok(Table { columns, rows })
}

/// The value at `row` of a Parquet column as JSON: a struct or map as an object, a list as an
/// array, integers and booleans as such, anything else (decimals, timestamps, floats, text) as
/// the text Arrow prints, so that a decimal stays exact and a timestamp is RFC 3339.
fn json_value(array: &dyn Array, row: usize) -> std::result::Result<Value, arrow::error::ArrowError> {
    if array.is_null(row) {
        return Ok(Value::Null);
    }
    Ok(match array.data_type() {
        DataType::Struct(fields) => {
            let columns = array.as_struct().columns();
            let mut object = Map::new();
            for (field, column) in fields.iter().zip(columns) {
                object.insert(field.name().clone(), json_value(column.as_ref(), row)?);
            }
            Value::Object(object)
        }
        DataType::Map(_, _) => {
            let entries = array.as_map().value(row);
            let (keys, values) = (entries.column(0), entries.column(1));
            let mut object = Map::new();
            for i in 0..entries.len() {
                let key = match json_value(keys.as_ref(), i)? {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                object.insert(key, json_value(values.as_ref(), i)?);
            }
            Value::Object(object)
        }
        DataType::List(_) => {
            let items = array.as_list::<i32>().value(row);
            Value::Array(
                (0..items.len()).map(|i| json_value(items.as_ref(), i)).collect::<std::result::Result<_, _>>()?,
            )
        }
        DataType::LargeList(_) => {
            let items = array.as_list::<i64>().value(row);
            Value::Array(
                (0..items.len()).map(|i| json_value(items.as_ref(), i)).collect::<std::result::Result<_, _>>()?,
            )
        }
        DataType::Boolean => Value::Bool(array.as_boolean().value(row)),
        data_type => {
            let text = ArrayFormatter::try_new(array, &FormatOptions::default())?.value(row).to_string();
            match data_type {
                DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => {
                    text.parse::<i64>().map(Value::from).unwrap_or(Value::String(text))
                }
                DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64 => {
                    text.parse::<u64>().map(Value::from).unwrap_or(Value::String(text))
                }
                _ => Value::String(text),
            }
        }
    })
}

/// One row's fields, read by dotted paths (`usage_metadata.ai_gateway.endpoint_name`) into its
/// struct columns, or as a column of that very name (an export that flattened the structs).
pub(super) struct Row<'a> {
    pub fields: &'a Map<String, Value>,
}

impl Row<'_> {
    /// The value at `path`; `None` when missing or null.
    pub fn at(&self, path: &str) -> Option<&Value> {
        lookup(self.fields, path)
    }

    /// A text field (a number, as an id may be written, taken as its text); `None` when
    /// missing, null or blank.
    pub fn text(&self, path: &str) -> std::result::Result<Option<String>, Bad> {
        match self.at(path) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.trim().to_string()).filter(|s| !s.is_empty())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(other) => Err(Bad::wrong_type(path, "text", &other.to_string())),
        }
    }

    /// The first of `paths` that has text.
    pub fn first_text(&self, paths: &[&str]) -> std::result::Result<Option<String>, Bad> {
        for path in paths {
            if let Some(text) = self.text(path)? {
                return Ok(Some(text));
            }
        }
        Ok(None)
    }

    pub fn required_text(&self, path: &str) -> std::result::Result<String, Bad> {
        self.text(path)?.ok_or_else(|| Bad::missing(path))
    }

    /// A decimal, exact: a JSON number from its shortest text, or decimal text (Spark writes
    /// a `decimal(38,18)` with all 18 places; zeros past the last digit are dropped first, so
    /// that a large quantity still fits a decimal's 28 digits).
    pub fn decimal(&self, path: &str) -> std::result::Result<Option<Decimal>, Bad> {
        match self.at(path) {
            None => Ok(None),
            Some(Value::Number(n)) => decimal_from_json(n)
                .or_else(|| exact(&n.to_string()))
                .map(Some)
                .ok_or_else(|| Bad::amount(path, &n.to_string())),
            Some(Value::String(s)) => exact(s).map(Some).ok_or_else(|| Bad::amount(path, s)),
            Some(other) => Err(Bad::wrong_type(path, "a decimal number", &other.to_string())),
        }
    }

    pub fn required_decimal(&self, path: &str) -> std::result::Result<Decimal, Bad> {
        self.decimal(path)?.ok_or_else(|| Bad::missing(path))
    }

    /// A timestamp the row cannot do without (see [`time`]).
    pub fn required_time(&self, path: &str) -> std::result::Result<DateTime<Utc>, Bad> {
        let text = self.required_text(path)?;
        time(&text).ok_or_else(|| Bad::timestamp(path, &text, "a timestamp of 2000-2100 with its offset, or UTC"))
    }

    /// A timestamp, when the row has one.
    pub fn time(&self, path: &str) -> std::result::Result<Option<DateTime<Utc>>, Bad> {
        match self.text(path)? {
            None => Ok(None),
            Some(text) => time(&text)
                .map(Some)
                .ok_or_else(|| Bad::timestamp(path, &text, "a timestamp of 2000-2100 with its offset, or UTC")),
        }
    }
}

/// `path` in `fields`: the column of that name, else the first dotted part's object and the
/// rest of the path in it.
fn lookup<'a>(fields: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    if let Some(value) = fields.get(path) {
        return (!value.is_null()).then_some(value);
    }
    path.match_indices('.').find_map(|(at, _)| match fields.get(&path[..at]) {
        Some(Value::Object(inner)) => lookup(inner, &path[at + 1..]),
        _ => None,
    })
}

/// Decimal text, exact, with the zeros after its last fractional digit dropped.
pub(super) fn exact(text: &str) -> Option<Decimal> {
    let text = text.trim();
    let trimmed = if text.contains('.') && !text.contains(['e', 'E']) {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        text
    };
    decimal_from_text(trimmed)
}

/// A timestamp as Databricks writes one: RFC 3339 (`2023-01-09T10:00:00.000Z`), the SQL form
/// of the billing reference's examples (`2023-01-09 10:00:00.000+00:00`, an offset after a
/// space-separated time), or without an offset as UTC (see [`super::timestamp`]).
pub(super) fn time(text: &str) -> Option<DateTime<Utc>> {
    let t = text.trim();
    super::timestamp(t).or_else(|| {
        ["%Y-%m-%d %H:%M:%S%.f%:z", "%Y-%m-%d %H:%M:%S%.f%#z", "%Y-%m-%dT%H:%M:%S%.f%#z"]
            .iter()
            .find_map(|f| DateTime::parse_from_str(t, f).ok())
            .map(|d| d.with_timezone(&Utc))
            .and_then(|d| super::timestamp(&d.to_rfc3339()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_billing_references_timestamps_are_read() {
        // docs.databricks.com/aws/en/admin/system-tables/billing: usage_start_time's example
        let t = time("2023-01-09 10:00:00.000+00:00").unwrap();
        assert_eq!(t.to_rfc3339(), "2023-01-09T10:00:00+00:00");
        assert_eq!(time("2023-01-09 11:00:00.000+01:00").unwrap(), t);
        assert_eq!(time("2023-01-09T10:00:00.000Z").unwrap(), t);
        assert_eq!(time("2023-01-09 10:00:00").unwrap(), t);
        assert_eq!(time("09/01/2023 10:00"), None);
    }

    #[test]
    fn decimals_keep_every_digit_and_drop_spark_padding() {
        assert_eq!(exact("1.500000000000000000"), Some(Decimal::new(15, 1)));
        // 11 integer digits and 18 places are 29 digits, more than a decimal holds: the padding goes
        assert_eq!(exact("12345678901.500000000000000000").map(|d| d.to_string()).as_deref(), Some("12345678901.5"));
        assert_eq!(exact("-0.000347222222222222"), Some("-0.000347222222222222".parse().unwrap()));
        assert_eq!(exact("100"), Some(Decimal::from(100)));
        assert_eq!(exact("1,5"), None);
    }

    #[test]
    fn dotted_paths_reach_into_structs_or_flattened_columns() {
        let fields: Map<String, Value> = serde_json::from_str(
            r#"{"usage_metadata": {"endpoint_name": "e1", "ai_gateway": {"destination_model": "m"}},
                "identity_metadata.run_by": "ana@example.com", "workspace_id": 1234567890123456, "sku_name": null}"#,
        )
        .unwrap();
        let row = Row { fields: &fields };
        assert_eq!(row.text("usage_metadata.endpoint_name").unwrap().as_deref(), Some("e1"));
        assert_eq!(row.text("usage_metadata.ai_gateway.destination_model").unwrap().as_deref(), Some("m"));
        assert_eq!(row.text("identity_metadata.run_by").unwrap().as_deref(), Some("ana@example.com"));
        assert_eq!(row.text("workspace_id").unwrap().as_deref(), Some("1234567890123456"));
        assert_eq!(row.text("sku_name").unwrap(), None);
        assert_eq!(row.required_text("sku_name").unwrap_err().code, "missing_field");
        assert_eq!(row.text("usage_metadata").unwrap_err().code, "wrong_type");
    }

    #[test]
    fn csv_cells_of_structs_are_json_and_must_parse() {
        let csv = "a,usage_metadata\n1,\"{\"\"endpoint_name\"\": \"\"e\"\"}\"\n2,{broken\n3,\n";
        let table = read(Path::new("t.csv"), csv.as_bytes(), "a table").unwrap();
        assert_eq!(table.columns, ["a", "usage_metadata"]);
        let first = table.rows[0].fields.as_ref().unwrap();
        assert_eq!(Row { fields: first }.text("usage_metadata.endpoint_name").unwrap().as_deref(), Some("e"));
        let bad = table.rows[1].fields.as_ref().unwrap_err();
        assert_eq!(bad.code, "malformed_record");
        assert!(bad.reason.contains("usage_metadata"), "{}", bad.reason);
        assert_eq!(table.rows[2].fields.as_ref().unwrap()["usage_metadata"], Value::Null);
        assert_eq!(table.rows.iter().map(|r| r.number).collect::<Vec<_>>(), [1, 2, 3]);
    }
}
