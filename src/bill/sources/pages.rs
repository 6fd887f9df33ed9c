//! The JSON pages of the providers' usage and cost APIs, as they are saved: one page as
//! returned, several pages one after another (concatenated, or one per line), or a JSON array of
//! pages. Both OpenAI and Anthropic page the same way: a page has `data`, an array of time
//! buckets, and `has_more`/`next_page`; a bucket has its bounds and `results`, the rows of the
//! bill. This module walks pages, buckets and results and numbers the results 1.. in file
//! order; each source maps one result to its lines.

use std::path::Path;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde_json::{Map, Value};

use super::{Bad, BillSource, input_format};
use crate::bill::line::{BillLine, ChargeKind, ParsedBill};
use crate::error::Result;
use crate::money::{decimal_from_json, decimal_from_text};

/// How a source's buckets give their bounds.
#[derive(Debug, Clone, Copy)]
pub(super) enum Bounds {
    /// OpenAI: `start_time` and `end_time`, unix seconds.
    UnixSeconds,
    /// Anthropic: `starting_at` and `ending_at`, RFC 3339.
    Rfc3339,
}

impl Bounds {
    fn fields(self) -> (&'static str, &'static str) {
        match self {
            Bounds::UnixSeconds => ("start_time", "end_time"),
            Bounds::Rfc3339 => ("starting_at", "ending_at"),
        }
    }

    /// The bucket's period, or why it has none.
    fn of(self, bucket: &Map<String, Value>) -> std::result::Result<(DateTime<Utc>, DateTime<Utc>), Bad> {
        let (start_field, end_field) = self.fields();
        let one = |field: &str| -> std::result::Result<DateTime<Utc>, Bad> {
            let label = format!("the bucket's {field}");
            match (self, bucket.get(field)) {
                (_, None | Some(Value::Null)) => Err(Bad::missing(&label)),
                (Bounds::UnixSeconds, Some(Value::Number(n))) => n
                    .as_i64()
                    .and_then(super::unix_seconds)
                    .ok_or_else(|| Bad::timestamp(&label, &n.to_string(), "unix seconds of 2000-2100")),
                (Bounds::Rfc3339, Some(Value::String(s))) => {
                    super::timestamp(s).ok_or_else(|| Bad::timestamp(&label, s, "an RFC 3339 time of 2000-2100"))
                }
                (Bounds::UnixSeconds, Some(v)) => Err(Bad::wrong_type(&label, "unix seconds", &v.to_string())),
                (Bounds::Rfc3339, Some(v)) => Err(Bad::wrong_type(&label, "an RFC 3339 string", &v.to_string())),
            }
        };
        super::period(one(start_field)?, one(end_field)?, (start_field, end_field))
    }
}

/// One result of a bucket: a row of the bill, with its number and its bucket's period.
pub(super) struct Item<'a> {
    pub row_number: i64,
    pub period: (DateTime<Utc>, DateTime<Utc>),
    pub fields: &'a Map<String, Value>,
}

impl Item<'_> {
    /// The value at a dotted path (`amount.value`, `cache_creation.ephemeral_5m_input_tokens`);
    /// `None` when it is missing or null.
    fn at(&self, path: &str) -> Option<&Value> {
        let mut parts = path.split('.');
        let mut value = self.fields.get(parts.next()?)?;
        for part in parts {
            value = value.as_object()?.get(part)?;
        }
        (!value.is_null()).then_some(value)
    }

    /// A string field; `None` when missing or null.
    pub fn text(&self, path: &str) -> std::result::Result<Option<String>, Bad> {
        match self.at(path) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(Bad::wrong_type(path, "a string", &other.to_string())),
        }
    }

    /// A string field the row cannot do without.
    pub fn required_text(&self, path: &str) -> std::result::Result<String, Bad> {
        self.text(path)?.filter(|s| !s.trim().is_empty()).ok_or_else(|| Bad::missing(path))
    }

    /// A token or request count: a non-negative integer (`12.0` too: some exports write counts
    /// as floats); `None` when missing or null.
    pub fn count(&self, path: &str) -> std::result::Result<Option<i64>, Bad> {
        let Some(value) = self.at(path) else { return Ok(None) };
        let count = match value {
            Value::Number(n) => n.as_i64().or_else(|| decimal_from_json(n).filter(|d| d.fract().is_zero())?.to_i64()),
            _ => None,
        };
        match count {
            Some(c) if c < 0 => Err(Bad::negative(path, c)),
            Some(c) => Ok(Some(c)),
            None => Err(Bad::wrong_type(path, "a whole number", &value.to_string())),
        }
    }

    /// A count the row cannot do without.
    pub fn required_count(&self, path: &str) -> std::result::Result<i64, Bad> {
        self.count(path)?.ok_or_else(|| Bad::missing(path))
    }

    /// A boolean field; `None` when missing or null.
    pub fn boolean(&self, path: &str) -> std::result::Result<Option<bool>, Bad> {
        match self.at(path) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(Bad::wrong_type(path, "true or false", &other.to_string())),
        }
    }

    /// An amount the row cannot do without, exact: a JSON number read from its shortest text
    /// ([`decimal_from_json`]), or decimal text in a string.
    pub fn amount(&self, path: &str) -> std::result::Result<Decimal, Bad> {
        match self.at(path) {
            None => Err(Bad::missing(path)),
            Some(Value::Number(n)) => decimal_from_json(n).ok_or_else(|| Bad::amount(path, &n.to_string())),
            Some(Value::String(s)) => decimal_from_text(s).ok_or_else(|| Bad::amount(path, s)),
            Some(other) => Err(Bad::wrong_type(path, "a number or decimal text", &other.to_string())),
        }
    }

    /// An ISO 4217 currency code the row cannot do without, upper-cased.
    pub fn currency(&self, path: &str) -> std::result::Result<String, Bad> {
        let text = self.required_text(path)?;
        super::iso_currency(&text).ok_or_else(|| Bad::currency(path, &text))
    }

    /// A blank line of this row (see [`super::blank_line`]).
    pub fn line(&self, provider: &str, kind: ChargeKind) -> BillLine {
        super::blank_line(self.row_number, provider, self.period, kind)
    }

    /// A usage line of this row: `quantity` of `kind`, with the result's grouping fields and
    /// `what` (the field it counts) as its description.
    pub fn usage_line(&self, provider: &str, kind: ChargeKind, group: &Group, quantity: i64, what: &str) -> BillLine {
        let mut line = self.line(provider, kind);
        line.provider_model.clone_from(&group.model);
        line.service_tier.clone_from(&group.service_tier);
        line.context_window.clone_from(&group.context_window);
        line.inference_geo.clone_from(&group.inference_geo);
        line.account.clone_from(&group.account);
        line.api_key_id.clone_from(&group.api_key_id);
        line.user_id.clone_from(&group.user_id);
        line.quantity = Some(quantity);
        line.description = Some(what.to_string());
        line
    }
}

/// What a usage result is grouped by (`group_by`): every line of the result carries it.
#[derive(Debug, Default)]
pub(super) struct Group {
    pub model: Option<String>,
    pub service_tier: Option<String>,
    pub context_window: Option<String>,
    pub inference_geo: Option<String>,
    pub account: Option<String>,
    pub api_key_id: Option<String>,
    pub user_id: Option<String>,
}

/// Reads every result of the pages in `bytes` with `lines`; a result it refuses, and a page or
/// bucket that is not one, is a bad row. A file without a single page is not `source`'s.
pub(super) fn read(
    path: &Path,
    bytes: &[u8],
    source: BillSource,
    bounds: Bounds,
    mut lines: impl FnMut(&Item<'_>) -> std::result::Result<Vec<BillLine>, Bad>,
) -> Result<ParsedBill> {
    let mut parsed = ParsedBill::default();
    let mut row = 0i64;
    let mut pages = 0usize;
    let mut first_problem: Option<String> = None;
    let bad = |parsed: &mut ParsedBill, row: &mut i64, why: Bad, raw: String| {
        *row += 1;
        parsed.bad_rows.push(why.at(*row, raw));
    };
    for value in values(bytes) {
        let (value, raw) = match value {
            Ok(read) => read,
            Err((error, raw)) => {
                first_problem.get_or_insert_with(|| format!("it is not JSON ({error})"));
                bad(&mut parsed, &mut row, Bad::malformed(format!("not JSON: {error}")), raw);
                continue;
            }
        };
        let in_array = value.is_array();
        let page_values = match value {
            Value::Array(items) => items,
            single => vec![single],
        };
        for page in &page_values {
            let raw_page = || if in_array { page.to_string() } else { raw.clone() };
            let data = match page.as_object().map(|p| p.get("data")) {
                Some(Some(Value::Array(data))) => data,
                Some(_) => {
                    let why = "the page has no `data` array of time buckets (is it an error response?)";
                    first_problem.get_or_insert_with(|| format!("its first JSON object is not a page: {why}"));
                    bad(&mut parsed, &mut row, Bad::malformed(why.into()), raw_page());
                    continue;
                }
                None => {
                    let why = format!("a page must be a JSON object, not {}", json_type(page));
                    first_problem.get_or_insert_with(|| why.clone());
                    bad(&mut parsed, &mut row, Bad::malformed(why), raw_page());
                    continue;
                }
            };
            pages += 1;
            for bucket in data {
                let Some(fields) = bucket.as_object() else {
                    let why = format!("a time bucket must be a JSON object, not {}", json_type(bucket));
                    bad(&mut parsed, &mut row, Bad::malformed(why), bucket.to_string());
                    continue;
                };
                // OpenAI's API reference names the array `result`, its examples and its API `results`
                let results = match fields.get("results").or_else(|| fields.get("result")) {
                    Some(Value::Array(results)) => results,
                    _ => {
                        let why = "the time bucket has no `results` array";
                        bad(&mut parsed, &mut row, Bad::malformed(why.into()), bucket.to_string());
                        continue;
                    }
                };
                let period = bounds.of(fields);
                for result in results {
                    row += 1;
                    let outcome = match (&period, result.as_object()) {
                        (Err(why), _) => Err(why.clone()),
                        (Ok(_), None) => {
                            Err(Bad::malformed(format!("a result must be a JSON object, not {}", json_type(result))))
                        }
                        (Ok(period), Some(fields)) => lines(&Item { row_number: row, period: *period, fields }),
                    };
                    match outcome {
                        Ok(mut read) => parsed.lines.append(&mut read),
                        Err(why) => parsed.bad_rows.push(why.at(row, result.to_string())),
                    }
                }
            }
        }
    }
    if pages == 0 {
        let why = first_problem.unwrap_or_else(|| "it holds no page".into());
        return Err(input_format(
            path,
            format!("{why}, so it is not {}. Name the bill's source with --source {}", source.what(), super::CHOICES),
        ));
    }
    Ok(parsed)
}

/// The JSON values of `bytes` one after another, each with its text. A value that does not
/// parse is skipped with its text up to the next line that starts a value (`{` or `[` in the
/// first column: a page of JSON lines, or of pretty-printed pages), so one broken page of many
/// costs that page only.
pub(super) fn values(
    bytes: &[u8],
) -> impl Iterator<Item = std::result::Result<(Value, String), (String, String)>> + '_ {
    let mut pos = 0usize;
    std::iter::from_fn(move || {
        pos += bytes[pos..].iter().take_while(|b| b.is_ascii_whitespace()).count();
        if pos >= bytes.len() {
            return None;
        }
        let rest = &bytes[pos..];
        let mut stream = serde_json::Deserializer::from_slice(rest).into_iter::<Value>();
        let next = stream.next()?;
        let text = |end: usize| String::from_utf8_lossy(&rest[..end]).trim().to_string();
        Some(match next {
            Ok(value) => {
                let end = stream.byte_offset();
                pos += end;
                Ok((value, text(end)))
            }
            Err(error) => {
                let end = next_value_line(rest);
                pos += end;
                Err((error.to_string(), text(end)))
            }
        })
    })
}

/// The offset of the first line after the first that starts with `{` or `[`, or the end.
fn next_value_line(bytes: &[u8]) -> usize {
    let mut at = 0;
    while let Some(newline) = bytes[at..].iter().position(|b| *b == b'\n') {
        at += newline + 1;
        if matches!(bytes.get(at), Some(b'{' | b'[')) {
            return at;
        }
    }
    bytes.len()
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The source of JSON pages, from the first result found (the first pages may be empty):
/// OpenAI's results name their endpoint in `object`; Anthropic's have none, and a cost result
/// has `amount`, a usage result `uncached_input_tokens`.
pub(super) fn detect(bytes: &[u8]) -> std::result::Result<BillSource, String> {
    let mut saw_page = false;
    for value in values(bytes) {
        let value = match value {
            Ok((value, _)) => value,
            Err((error, _)) if !saw_page => return Err(format!("it is not JSON ({error})")),
            Err(_) => continue,
        };
        let pages = match value {
            Value::Array(items) => items,
            single => vec![single],
        };
        for page in &pages {
            let Some(Value::Array(data)) = page.get("data") else {
                if saw_page {
                    continue;
                }
                let keys: Vec<&str> =
                    page.as_object().map(|o| o.keys().map(String::as_str).take(8).collect()).unwrap_or_default();
                return Err(format!(
                    "it is JSON but not API pages: a page has a `data` array of time buckets, its first value has {}",
                    if keys.is_empty() { "no keys".to_string() } else { format!("the keys {}", keys.join(", ")) }
                ));
            };
            saw_page = true;
            let first = data
                .iter()
                .filter_map(|b| b.get("results").or_else(|| b.get("result")))
                .filter_map(Value::as_array)
                .flatten()
                .find_map(Value::as_object);
            if let Some(result) = first {
                return of_result(result);
            }
        }
    }
    Err("it holds no result to tell its source by (every page's `data` is empty)".into())
}

fn of_result(result: &Map<String, Value>) -> std::result::Result<BillSource, String> {
    match result.get("object").and_then(Value::as_str) {
        Some("organization.costs.result") => Ok(BillSource::OpenaiCosts),
        Some("organization.usage.completions.result") => Ok(BillSource::OpenaiUsage),
        Some(other) => Err(format!(
            "its results are `{other}`: of OpenAI's usage endpoints only the completions usage \
             (organization.usage.completions.result) and the costs (organization.costs.result) are bills"
        )),
        None if result.contains_key("amount") => Ok(BillSource::AnthropicCost),
        None if result.contains_key("uncached_input_tokens") => Ok(BillSource::AnthropicUsage),
        None => {
            let keys: Vec<&str> = result.keys().map(String::as_str).take(8).collect();
            Err(format!("its first result (keys {}) is of no bill source", keys.join(", ")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(bytes: &str) -> Result<ParsedBill> {
        read(Path::new("p.json"), bytes.as_bytes(), BillSource::OpenaiCosts, Bounds::UnixSeconds, |item| {
            let mut line = item.line("test", ChargeKind::Other);
            line.quantity = Some(item.required_count("n")?);
            Ok(vec![line])
        })
    }

    const PAGE: &str = r#"{"object": "page", "data": [{"object": "bucket", "start_time": 1735689600, "end_time": 1735776000,
        "results": [{"n": 1}, {"n": 2}]}], "has_more": false, "next_page": null}"#;

    #[test]
    fn pages_as_saved_one_after_another_lines_or_an_array() {
        let numbers = |p: &ParsedBill| p.lines.iter().map(|l| (l.row_number, l.quantity.unwrap())).collect::<Vec<_>>();
        let two = vec![(1, 1), (2, 2), (3, 1), (4, 2)];
        assert_eq!(numbers(&ids(&format!("{PAGE}{PAGE}")).unwrap()), two);
        let one_line = PAGE.replace('\n', " ");
        assert_eq!(numbers(&ids(&format!("{one_line}\n{one_line}\n")).unwrap()), two);
        assert_eq!(numbers(&ids(&format!("[{PAGE}, {PAGE}]")).unwrap()), two);
        let line = &ids(PAGE).unwrap().lines[0];
        assert_eq!(
            (line.period_start.to_rfc3339(), line.period_end.to_rfc3339()),
            ("2025-01-01T00:00:00+00:00".into(), "2025-01-02T00:00:00+00:00".into())
        );
    }

    #[test]
    fn a_page_without_data_is_a_bad_row_and_a_file_without_pages_an_error() {
        let error_page = r#"{"error": {"message": "rate limited", "type": "requests"}}"#;
        let parsed = ids(&format!("{}\n{error_page}\n{}\n", PAGE.replace('\n', " "), PAGE.replace('\n', " "))).unwrap();
        assert_eq!(parsed.lines.len(), 4);
        assert_eq!(parsed.bad_rows.len(), 1);
        let bad = &parsed.bad_rows[0];
        assert_eq!((bad.row_number, bad.reason_code, bad.raw.as_str()), (3, "malformed_record", error_page));
        assert!(bad.reason.contains("no `data` array"), "{}", bad.reason);
        // rows after it keep counting
        assert_eq!(parsed.lines.last().unwrap().row_number, 5);

        let err = ids(error_page).unwrap_err().to_string();
        assert!(
            err.contains("no `data` array") && err.contains("OpenAI Costs API pages") && err.contains("--source"),
            "{err}"
        );
        let err = ids("start_time,end_time\n1,2\n").unwrap_err().to_string();
        assert!(err.contains("not JSON"), "{err}");
    }

    #[test]
    fn a_broken_page_among_json_lines_costs_that_page_only() {
        let one_line = PAGE.replace('\n', " ");
        let broken = &one_line[..60];
        let parsed = ids(&format!("{one_line}\n{broken}\n{one_line}\n")).unwrap();
        assert_eq!(parsed.lines.len(), 4);
        assert_eq!(parsed.bad_rows.len(), 1);
        assert_eq!((parsed.bad_rows[0].reason_code, parsed.bad_rows[0].raw.as_str()), ("malformed_record", broken));
    }

    #[test]
    fn bad_buckets_make_their_results_bad_rows() {
        let page = |bucket: &str| format!(r#"{{"object": "page", "data": [{bucket}]}}"#);
        let cases = [
            (r#"{"end_time": 1735776000, "results": [{"n": 1}]}"#, "missing_field", "the bucket's start_time"),
            (
                r#"{"start_time": "2025-01-01", "end_time": 1735776000, "results": [{"n": 1}]}"#,
                "wrong_type",
                "start_time",
            ),
            (
                r#"{"start_time": 1735689600000, "end_time": 1735776000, "results": [{"n": 1}]}"#,
                "bad_timestamp",
                "unix seconds",
            ),
            (
                r#"{"start_time": 1735776000, "end_time": 1735689600, "results": [{"n": 1}]}"#,
                "bad_timestamp",
                "is not after",
            ),
            (r#"{"start_time": 1735689600, "end_time": 1735776000}"#, "malformed_record", "no `results`"),
            (
                r#"{"start_time": 1735689600, "end_time": 1735776000, "results": [7]}"#,
                "malformed_record",
                "not a number",
            ),
            (
                r#"{"start_time": 1735689600, "end_time": 1735776000, "results": [{"n": -1}]}"#,
                "negative_value",
                "n is -1",
            ),
            (
                r#"{"start_time": 1735689600, "end_time": 1735776000, "results": [{"n": 1.5}]}"#,
                "wrong_type",
                "whole number",
            ),
            (r#"{"start_time": 1735689600, "end_time": 1735776000, "results": [{}]}"#, "missing_field", "n is missing"),
        ];
        for (bucket, code, says) in cases {
            let parsed = ids(&page(bucket)).unwrap();
            assert!(parsed.lines.is_empty(), "{bucket}");
            let bad = &parsed.bad_rows[0];
            assert_eq!(bad.reason_code, code, "{bucket}: {}", bad.reason);
            assert!(bad.reason.contains(says), "{bucket}: {}", bad.reason);
        }
        // a count written as a float with no fraction is still a count
        let parsed =
            ids(&page(r#"{"start_time": 1735689600, "end_time": 1735776000, "results": [{"n": 59200.0}]}"#)).unwrap();
        assert_eq!(parsed.lines[0].quantity, Some(59200));
    }
}
