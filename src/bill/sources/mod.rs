//! The bill sources: each reads one provider's bill export into [`BillLine`]s, and rows it
//! cannot read into [`BadBillRow`]s with the reason. Parsing only; `bill import` writes them.
//!
//! Layout: `openai` (the Costs and the completions Usage API), `anthropic` (the Admin API's cost
//! and messages usage reports), `focus` (a FOCUS 1.0-1.3 export, CSV or Parquet), `databricks`
//! (exports of the system tables `system.billing.usage`, priced with `system.billing.list_prices`,
//! and `system.ai_gateway.external_model_spend`); `pages` reads the API sources' JSON pages for
//! the first two, `tables` the rows of a system table export for `databricks`. `--source auto`
//! tells the source from the content: the `object` fields or the keys of the JSON results, the
//! columns of a FOCUS file or of a system table export.

pub mod anthropic;
pub mod databricks;
pub mod focus;
pub mod openai;
mod pages;
mod tables;

#[cfg(test)]
mod golden;

use std::path::Path;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use rust_decimal::Decimal;

use super::line::{BadBillRow, BillLine, ChargeKind, ParsedBill};
use crate::error::{Error, Result};

/// What wrote a bill file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BillSource {
    /// Told from the file's content.
    #[default]
    Auto,
    /// OpenAI Costs API pages (`GET /v1/organization/costs`).
    OpenaiCosts,
    /// OpenAI Usage API pages (`/v1/organization/usage/completions`).
    OpenaiUsage,
    /// Anthropic cost report pages (`/v1/organizations/cost_report`).
    AnthropicCost,
    /// Anthropic usage report pages (`/v1/organizations/usage_report/messages`).
    AnthropicUsage,
    /// A FOCUS 1.0-1.3 export (CSV or Parquet).
    Focus,
    /// An export of Databricks' `system.billing.usage` (CSV, JSON lines or Parquet).
    DatabricksBilling,
    /// An export of Databricks' `system.ai_gateway.external_model_spend`.
    DatabricksExternalSpend,
}

impl BillSource {
    /// The name stored in `bill_lines.source` and `quarantine.source`.
    pub fn as_str(self) -> &'static str {
        match self {
            BillSource::Auto => "auto",
            BillSource::OpenaiCosts => "openai-costs",
            BillSource::OpenaiUsage => "openai-usage",
            BillSource::AnthropicCost => "anthropic-cost",
            BillSource::AnthropicUsage => "anthropic-usage",
            BillSource::Focus => "focus",
            BillSource::DatabricksBilling => "databricks-billing",
            BillSource::DatabricksExternalSpend => "databricks-external-spend",
        }
    }

    /// What its files hold, for messages.
    pub fn what(self) -> &'static str {
        match self {
            BillSource::Auto => "a bill",
            BillSource::OpenaiCosts => "OpenAI Costs API pages (GET /v1/organization/costs)",
            BillSource::OpenaiUsage => "OpenAI completions Usage API pages (GET /v1/organization/usage/completions)",
            BillSource::AnthropicCost => "Anthropic cost report pages (GET /v1/organizations/cost_report)",
            BillSource::AnthropicUsage => {
                "Anthropic messages usage report pages (GET /v1/organizations/usage_report/messages)"
            }
            BillSource::Focus => "a FOCUS export (CSV with a header row, or Parquet)",
            BillSource::DatabricksBilling => {
                "a Databricks billable usage export (system.billing.usage: CSV, JSON lines or Parquet)"
            }
            BillSource::DatabricksExternalSpend => {
                "a Databricks external model spend export (system.ai_gateway.external_model_spend: CSV, JSON lines \
                 or Parquet)"
            }
        }
    }
}

/// The sources `--source` names, for messages.
const CHOICES: &str = "openai-costs, openai-usage, anthropic-cost, anthropic-usage, focus, databricks-billing or \
                       databricks-external-spend";

/// What some sources need besides the file: the prices of Databricks' DBUs.
#[derive(Debug, Clone, Default)]
pub struct ParseOptions {
    /// `--list-prices`: the SKUs' list prices over time.
    pub list_prices: Option<databricks::ListPrices>,
    /// `--dbu-rate`: one USD price per DBU for every row, without list prices.
    pub dbu_rate: Option<Decimal>,
}

/// Reads the whole bill file `path` (its bytes) as `source` (`Auto`: told from the content)
/// and returns the source it was read as with its lines and bad rows. A file that is not a
/// bill of that source at all is an [`Error::InputFormat`] that says what was expected.
pub fn parse(
    source: BillSource,
    path: &Path,
    bytes: &[u8],
    options: &ParseOptions,
) -> Result<(BillSource, ParsedBill)> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        // a zero-byte export is a failed download more often than a month without charges
        return Err(input_format(
            path,
            "the file is empty, so there is no bill to import; download the export again (an API page with no \
             buckets is `{\"data\": [], ...}`, a FOCUS file without charges still has its header row)"
                .into(),
        ));
    }
    let source = match source {
        BillSource::Auto => detect(path, bytes)?,
        chosen => {
            // a file of another source read as this one would quarantine every row as missing
            // fields; say which source it is instead
            if let Ok(other) = detect(path, bytes)
                && other != chosen
            {
                return Err(input_format(
                    path,
                    format!(
                        "it holds {}, not {}: import it with --source {} (or --source auto)",
                        other.what(),
                        chosen.what(),
                        other.as_str()
                    ),
                ));
            }
            chosen
        }
    };
    let parsed = match source {
        BillSource::OpenaiCosts => openai::parse_costs(path, bytes)?,
        BillSource::OpenaiUsage => openai::parse_usage(path, bytes)?,
        BillSource::AnthropicCost => anthropic::parse_cost(path, bytes)?,
        BillSource::AnthropicUsage => anthropic::parse_usage(path, bytes)?,
        BillSource::Focus => focus::parse(path, bytes)?,
        BillSource::DatabricksBilling => databricks::parse_billing(path, bytes, options)?,
        BillSource::DatabricksExternalSpend => databricks::parse_external_spend(path, bytes)?,
        BillSource::Auto => return Err(Error::Internal("bill source left as auto after detection".into())),
    };
    Ok((source, parsed))
}

/// The source of a bill file, from its content: Parquet or CSV with FOCUS columns is `focus`,
/// with the columns of a Databricks system table export that table's source; JSON lines of
/// system table rows likewise; JSON pages are told by their first result (OpenAI's `object`
/// names the endpoint; Anthropic's results have no `object`: a cost result has `amount`, a
/// usage result `uncached_input_tokens`).
pub fn detect(path: &Path, bytes: &[u8]) -> Result<BillSource> {
    if bytes.starts_with(focus::PARQUET_MAGIC) {
        let columns = tables::parquet_columns(bytes).unwrap_or_default();
        return match databricks::detect(&columns) {
            Some(source) if !focus::is_focus(&columns) => databricks::usable(path, source),
            _ => Ok(BillSource::Focus),
        };
    }
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace()).copied();
    if matches!(first, Some(b'{' | b'[')) {
        if let Some(source) = tables::json_columns(bytes).and_then(|columns| databricks::detect(&columns)) {
            return databricks::usable(path, source);
        }
        return pages::detect(bytes)
            .map_err(|why| input_format(path, format!("{why}. Name it with --source {CHOICES}")));
    }
    match focus::csv_columns(bytes) {
        Some(columns) if focus::is_focus(&columns) => Ok(BillSource::Focus),
        Some(columns) => match databricks::detect(&columns) {
            Some(source) => databricks::usable(path, source),
            None => {
                let shown: Vec<&str> = columns.iter().take(10).map(String::as_str).collect();
                Err(input_format(
                    path,
                    format!(
                        "cannot tell which bill it is: it is not JSON, and its first line ({}{}) is neither a FOCUS header \
                     (BilledCost, ChargePeriodStart, ...) nor a Databricks system table's (usage_quantity, ...). Name \
                     it with --source {CHOICES}",
                        shown.join(", "),
                        if columns.len() > shown.len() { ", ..." } else { "" }
                    ),
                ))
            }
        },
        None => Err(input_format(
            path,
            format!(
                "cannot tell which bill it is: it is neither JSON pages, a FOCUS CSV nor Parquet. Name it with \
                 --source {CHOICES}"
            ),
        )),
    }
}

fn input_format(path: &Path, message: String) -> Error {
    Error::InputFormat { path: path.to_path_buf(), message }
}

/// A file of `source` must have its `required` columns: Ok when none is `missing`, else the
/// error that names them.
fn check_columns(path: &Path, missing: &[&str], source: BillSource) -> Result<()> {
    if missing.is_empty() {
        return Ok(());
    }
    Err(input_format(
        path,
        format!(
            "it has no {} column, so it is not {}. Name the bill's source with --source {CHOICES}",
            missing.join(", "),
            source.what(),
        ),
    ))
}

/// Why a bill row could not be read: a [`BadBillRow`] without its place and text.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Bad {
    pub code: &'static str,
    pub reason: String,
}

impl Bad {
    pub fn malformed(reason: String) -> Bad {
        Bad { code: "malformed_record", reason }
    }

    pub fn missing(field: &str) -> Bad {
        Bad { code: "missing_field", reason: format!("required field {field} is missing or null") }
    }

    pub fn wrong_type(field: &str, expected: &str, got: &str) -> Bad {
        Bad { code: "wrong_type", reason: format!("{field} must be {expected}, got {}", excerpt(got)) }
    }

    pub fn timestamp(field: &str, got: &str, expected: &str) -> Bad {
        Bad { code: "bad_timestamp", reason: format!("{field} {} is not {expected}", excerpt(got)) }
    }

    pub fn negative(field: &str, value: impl std::fmt::Display) -> Bad {
        Bad { code: "negative_value", reason: format!("{field} is {value}; a count cannot be negative") }
    }

    pub fn amount(field: &str, got: &str) -> Bad {
        Bad { code: "bad_amount", reason: format!("{field} {} is not a decimal amount", excerpt(got)) }
    }

    pub fn currency(field: &str, got: &str) -> Bad {
        Bad { code: "unknown_currency", reason: format!("{field} {} is not an ISO 4217 currency code", excerpt(got)) }
    }

    pub fn inconsistent(reason: String) -> Bad {
        Bad { code: "inconsistent_tokens", reason }
    }

    pub fn at(self, row_number: i64, raw: String) -> BadBillRow {
        BadBillRow { row_number, reason_code: self.code, reason: self.reason, raw }
    }
}

/// A value as a message shows it: quoted, at most 40 characters.
fn excerpt(text: &str) -> String {
    let cut: String = text.chars().take(40).collect();
    if cut.len() < text.len() { format!("{cut:?}...") } else { format!("{cut:?}") }
}

/// A line of row `row_number` with the bill's period and kind, every other field empty.
pub(crate) fn blank_line(
    row_number: i64,
    provider: &str,
    (period_start, period_end): (DateTime<Utc>, DateTime<Utc>),
    charge_kind: ChargeKind,
) -> BillLine {
    BillLine {
        row_number,
        provider: provider.to_string(),
        period_start,
        period_end,
        provider_model: None,
        charge_kind,
        service_tier: None,
        context_window: None,
        inference_geo: None,
        account: None,
        api_key_id: None,
        user_id: None,
        quantity: None,
        requests: None,
        cost: None,
        list_cost: None,
        effective_cost: None,
        currency: None,
        description: None,
        usage_quantity: None,
        usage_unit: None,
        endpoint_name: None,
    }
}

/// An ISO 4217 code, upper-cased (OpenAI writes `usd`); `None` for anything else.
pub(super) fn iso_currency(text: &str) -> Option<String> {
    let code = text.trim().to_ascii_uppercase();
    iso_currency::Currency::from_code(&code).map(|_| code)
}

/// Bills run from 2000 to 2100; a time outside is a unit mistake (milliseconds for seconds).
fn plausible(t: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let first = NaiveDate::from_ymd_opt(2000, 1, 1)?.and_hms_opt(0, 0, 0)?.and_utc();
    let last = NaiveDate::from_ymd_opt(2100, 1, 1)?.and_hms_opt(0, 0, 0)?.and_utc();
    (first..=last).contains(&t).then_some(t)
}

/// A timestamp of a bill: RFC 3339 (`2025-01-01T00:00:00Z`, any offset), or without an offset
/// (`2025-01-01T00:00:00`, `2025-01-01 00:00:00`, as a Parquet timestamp without a zone
/// prints) as UTC, or a date as its midnight UTC.
pub(super) fn timestamp(text: &str) -> Option<DateTime<Utc>> {
    let t = text.trim();
    let parsed = DateTime::parse_from_rfc3339(t)
        .map(|d| d.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
                .iter()
                .find_map(|f| NaiveDateTime::parse_from_str(t, f).ok())
                .map(|d| d.and_utc())
        })
        .or_else(|| {
            NaiveDate::parse_from_str(t, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0)).map(|d| d.and_utc())
        })?;
    plausible(parsed)
}

/// Unix seconds (OpenAI's bucket bounds) as a time.
pub(super) fn unix_seconds(seconds: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(seconds, 0).and_then(plausible)
}

/// A period that ends after it starts.
pub(super) fn period(
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    fields: (&str, &str),
) -> std::result::Result<(DateTime<Utc>, DateTime<Utc>), Bad> {
    if end <= start {
        return Err(Bad {
            code: "bad_timestamp",
            reason: format!("{} {} is not after {} {}", fields.1, end.to_rfc3339(), fields.0, start.to_rfc3339()),
        });
    }
    Ok((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path() -> &'static Path {
        Path::new("bill.json")
    }

    #[test]
    fn each_source_is_told_from_its_content() {
        let openai_costs = r#"{"object": "page", "data": [{"object": "bucket", "start_time": 1730419200,
            "end_time": 1730505600, "results": [{"object": "organization.costs.result",
            "amount": {"value": 0.06, "currency": "usd"}, "line_item": null, "project_id": null}]}],
            "has_more": false, "next_page": null}"#;
        assert_eq!(detect(path(), openai_costs.as_bytes()).unwrap(), BillSource::OpenaiCosts);
        let openai_usage = r#"{"object": "page", "data": [{"object": "bucket", "start_time": 1730419200,
            "end_time": 1730505600, "results": [{"object": "organization.usage.completions.result",
            "input_tokens": 1000, "output_tokens": 500, "num_model_requests": 5}]}]}"#;
        assert_eq!(detect(path(), openai_usage.as_bytes()).unwrap(), BillSource::OpenaiUsage);
        let anthropic_cost = r#"{"data": [{"starting_at": "2025-08-01T00:00:00Z", "ending_at": "2025-08-02T00:00:00Z",
            "results": [{"currency": "USD", "amount": "123.78912", "cost_type": "tokens"}]}], "has_more": false}"#;
        assert_eq!(detect(path(), anthropic_cost.as_bytes()).unwrap(), BillSource::AnthropicCost);
        let anthropic_usage = r#"[{"data": [{"starting_at": "2025-08-01T00:00:00Z", "ending_at": "2025-08-02T00:00:00Z",
            "results": [{"uncached_input_tokens": 1500, "output_tokens": 500}]}], "has_more": false}]"#;
        assert_eq!(detect(path(), anthropic_usage.as_bytes()).unwrap(), BillSource::AnthropicUsage);
        let focus_csv = "\u{feff}BilledCost,BillingCurrency,ChargePeriodStart,ChargePeriodEnd,ProviderName\n1,USD,2025-01-01T00:00:00Z,2025-01-02T00:00:00Z,Microsoft\n";
        assert_eq!(detect(path(), focus_csv.as_bytes()).unwrap(), BillSource::Focus);
        // the first page may be empty; the first result anywhere decides
        let late = r#"{"object": "page", "data": [], "has_more": true, "next_page": "p2"}
            {"object": "page", "data": [{"object": "bucket", "start_time": 1730419200, "end_time": 1730505600,
            "results": [{"object": "organization.costs.result", "amount": {"value": 1, "currency": "usd"}}]}]}"#;
        assert_eq!(detect(path(), late.as_bytes()).unwrap(), BillSource::OpenaiCosts);
    }

    #[test]
    fn files_of_no_source_are_refused_with_the_choices() {
        for (content, says) in [
            ("a,b\n1,2\n", "is neither a FOCUS header"),
            (r#"{"error": {"message": "invalid admin key"}}"#, "--source"),
            (r#"{"object": "page", "data": [], "has_more": false}"#, "holds no result"),
            (
                r#"{"object": "page", "data": [{"object": "bucket", "start_time": 1, "end_time": 2, "results": [{"object": "organization.usage.embeddings.result", "input_tokens": 1}]}]}"#,
                "organization.usage.embeddings.result",
            ),
        ] {
            let err = parse(BillSource::Auto, path(), content.as_bytes(), &ParseOptions::default()).unwrap_err();
            let text = err.to_string();
            assert!(matches!(err, Error::InputFormat { .. }), "{text}");
            assert!(text.contains(says) && text.contains("--source"), "{content}: {text}");
        }
    }

    #[test]
    fn an_empty_file_is_an_error_not_an_empty_bill() {
        for source in [BillSource::Auto, BillSource::OpenaiCosts, BillSource::Focus] {
            let err = parse(source, path(), b" \n", &ParseOptions::default()).unwrap_err().to_string();
            assert!(err.contains("the file is empty"), "{err}");
        }
    }

    #[test]
    fn a_file_of_another_source_says_which_to_choose() {
        let usage = r#"{"data": [{"starting_at": "2025-08-01T00:00:00Z", "ending_at": "2025-08-02T00:00:00Z",
            "results": [{"uncached_input_tokens": 1500, "output_tokens": 500}]}]}"#;
        let err =
            parse(BillSource::OpenaiCosts, path(), usage.as_bytes(), &ParseOptions::default()).unwrap_err().to_string();
        assert!(err.contains("--source anthropic-usage"), "{err}");
        let err = parse(BillSource::Focus, path(), usage.as_bytes(), &ParseOptions::default()).unwrap_err().to_string();
        assert!(err.contains("--source anthropic-usage"), "{err}");
        let err = parse(BillSource::OpenaiUsage, path(), b"not json at all", &ParseOptions::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("OpenAI completions Usage API pages") && err.contains("--source"), "{err}");
    }

    #[test]
    fn timestamps_of_bills() {
        let t = |s: &str| timestamp(s).map(|d| d.to_rfc3339());
        assert_eq!(t("2025-01-01T00:00:00Z").as_deref(), Some("2025-01-01T00:00:00+00:00"));
        assert_eq!(t("2025-01-01T01:00:00+01:00").as_deref(), Some("2025-01-01T00:00:00+00:00"));
        assert_eq!(t("2025-01-01 00:00:00").as_deref(), Some("2025-01-01T00:00:00+00:00"));
        assert_eq!(t("2025-01-01").as_deref(), Some("2025-01-01T00:00:00+00:00"));
        assert_eq!(t("01/02/2025"), None);
        assert_eq!(t("2025-02-30T00:00:00Z"), None);
        // epoch milliseconds given as seconds land in the year 56000: refused
        assert_eq!(unix_seconds(1_735_689_600_000), None);
        assert_eq!(unix_seconds(1_735_689_600).map(|d| d.to_rfc3339()).as_deref(), Some("2025-01-01T00:00:00+00:00"));
    }
}
