//! One line of a provider's bill, as every bill source reads it: the unit that `bill import`
//! writes to the `bill_lines` table and that `reconcile` compares with the usage tables.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

/// What a bill line charges for, in the ledger's terms: the token buckets of the `inference`
/// table (disjoint, so that they add up), web searches, and everything else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ChargeKind {
    /// Uncached input tokens (audio input included).
    Input,
    /// Input tokens read from the prompt cache.
    CachedInput,
    /// Input tokens written to the prompt cache (5-minute and 1-hour writes alike).
    CacheWrite,
    /// Output tokens (reasoning and audio output included).
    Output,
    /// Web searches (server-side tool calls), counted per search.
    WebSearch,
    /// Anything else the bill charges for (code execution, fees, a line it does not explain).
    Other,
}

impl ChargeKind {
    pub const ALL: [ChargeKind; 6] = [
        ChargeKind::Input,
        ChargeKind::CachedInput,
        ChargeKind::CacheWrite,
        ChargeKind::Output,
        ChargeKind::WebSearch,
        ChargeKind::Other,
    ];

    /// The name stored in `bill_lines.charge_kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChargeKind::Input => "input",
            ChargeKind::CachedInput => "cached_input",
            ChargeKind::CacheWrite => "cache_write",
            ChargeKind::Output => "output",
            ChargeKind::WebSearch => "web_search",
            ChargeKind::Other => "other",
        }
    }
}

/// One line of a bill. A cost line (a cost report) has `cost` and no `quantity` or a
/// quantity the bill states; a usage line (a usage report) has a `quantity` and no cost.
#[derive(Debug, Clone, PartialEq)]
pub struct BillLine {
    /// 1-based position of the bill row in its file (rows of all pages counted in file order;
    /// CSV and Parquet rows), so that a person can find it.
    pub row_number: i64,
    /// The provider as the ledger's `inference.provider` names it: `openai`, `anthropic`; for
    /// FOCUS the `ServiceProviderName` (else `ProviderName`) lower-cased.
    pub provider: String,
    /// Start (inclusive) and end (exclusive) of the period the line charges, UTC.
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    /// The model as the provider names it (`gpt-4o-2024-08-06`); None when the bill does not
    /// say (an ungrouped usage bucket, an organisation-level fee).
    pub provider_model: Option<String>,
    pub charge_kind: ChargeKind,
    /// `standard` | `batch` | `priority` | `flex`, as the ledger names tiers; None when the
    /// bill does not say.
    pub service_tier: Option<String>,
    /// Anthropic's `context_window` (`0-200k`, `200k-1M`) as given.
    pub context_window: Option<String>,
    pub inference_geo: Option<String>,
    /// The bill's account scope: OpenAI `project_id`, Anthropic `workspace_id`, FOCUS
    /// `SubAccountId`.
    pub account: Option<String>,
    pub api_key_id: Option<String>,
    pub user_id: Option<String>,
    /// Tokens of `charge_kind` (searches for web_search), in the ledger's disjoint buckets.
    pub quantity: Option<i64>,
    /// Model requests, when the bill counts them (OpenAI `num_model_requests`).
    pub requests: Option<i64>,
    /// What the provider charged (FOCUS `BilledCost`), exact, in major units of `currency`
    /// (Anthropic's cents already divided by 100).
    pub cost: Option<Decimal>,
    /// The cost before negotiated discounts where the bill gives it (FOCUS `ListCost`).
    pub list_cost: Option<Decimal>,
    /// FOCUS `EffectiveCost` where given.
    pub effective_cost: Option<Decimal>,
    /// ISO 4217 code, upper case; None on usage lines.
    pub currency: Option<String>,
    /// The bill's own words for the line (`line_item`, `description`, `ChargeDescription`).
    pub description: Option<String>,
    /// The bill's own quantity when it is not tokens, exact: Databricks' `usage_quantity` in
    /// `usage_unit` (DBUs, hours). Signed: a retraction takes back what it retracts.
    pub usage_quantity: Option<Decimal>,
    /// The unit of `usage_quantity` as the bill names it (`DBU`).
    pub usage_unit: Option<String>,
    /// The serving endpoint the line is for, where the bill says (Databricks).
    pub endpoint_name: Option<String>,
}

/// A bill row that could not be read, kept with the reason (it goes to `quarantine`).
#[derive(Debug, Clone, PartialEq)]
pub struct BadBillRow {
    pub row_number: i64,
    /// Short code: `malformed_record`, `missing_field`, `wrong_type`, `bad_timestamp`,
    /// `negative_value`, `bad_amount`, `unknown_currency`, `inconsistent_tokens` (counts that
    /// contradict each other, as OpenAI's `input_tokens` below its cached part),
    /// `no_list_price` (a Databricks SKU without a list price in force at the usage time).
    pub reason_code: &'static str,
    /// What exactly was wrong, for a person.
    pub reason: String,
    /// The row's text (a JSON object, a CSV line, a Parquet row rendered as JSON).
    pub raw: String,
}

/// Everything one bill file holds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParsedBill {
    pub lines: Vec<BillLine>,
    pub bad_rows: Vec<BadBillRow>,
    /// Rows read and left out on purpose because they are not the ledger's (Databricks usage
    /// of other products than model serving): counted, neither lines nor bad rows.
    pub skipped: usize,
}
