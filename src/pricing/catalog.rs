//! Importing a published price catalog into the price book: LiteLLM's
//! `model_prices_and_context_window.json` (a JSON object: model key -> prices per token) becomes
//! rows of `config/prices.csv`, compared with the rows in force at a date and appended to the
//! file's text, whose comments and rows stay as they are.
//!
//! Each catalog model gives a standard row; a context-tier row per `_above_<N>k_tokens`
//! threshold (`above_prompt_tokens` = N × 1000); and a row per service tier it has prices for
//! (`_batches` -> batch, `_priority` -> priority, `_flex` -> flex), with or without a threshold.
//! A row's key is (`served_entity_name`, `service_tier`, `above_prompt_tokens`).
//!
//! Rates are the catalog's per-token decimals × 10^6, exact: a JSON number is read through its
//! shortest decimal text (`3e-07` -> `0.3`), never multiplied as a float. A rate the catalog
//! lacks for a tier row is left empty (missing: a request that needs it is unpriced, never priced
//! at another tier's rate); the standard row's cache-read price is the input price when the
//! catalog has none, as a provider without caching bills no cache reads.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::{Map, Value};

use super::{
    Column, ConfigError, ConfigFile, Header, Line, Problems, Row, csv_cell, data_lines, parse_date, parse_text,
};
use crate::error::{Error, Result};

/// The catalog's first entry describes the fields; it prices nothing.
const SAMPLE_SPEC: &str = "sample_spec";
/// The catalog's prices are in US dollars.
const CATALOG_CURRENCY: &str = "USD";
/// A price in the book has at most this many decimal places per million tokens (the rollup's
/// fixed cost scale is 12 decimal places per token).
const MAX_PRICE_DECIMALS: u32 = 6;

const SERVED_ENTITY_NAME: &str = "served_entity_name";
const EFFECTIVE_FROM: &str = "effective_from";
const EFFECTIVE_TO: &str = "effective_to";
const CURRENCY: &str = "currency";
const RETIRES_ON: &str = "retires_on";
const SERVICE_TIER: &str = "service_tier";
const TIER_MULTIPLIER: &str = "tier_multiplier";
const ABOVE_PROMPT_TOKENS: &str = "above_prompt_tokens";
const WEB_SEARCH_PRICE: &str = "web_search_price_per_1k";
const PROVIDER: &str = "provider";
const CATALOG_MODEL: &str = "catalog_model";

/// Every column of the price book, in the order a header gains the ones it lacks. Only the two
/// that identify a row are required here: the book's own loader checks the rest.
const BOOK_COLUMNS: &[Column] = &[
    Column { name: SERVED_ENTITY_NAME, required: true },
    Column { name: EFFECTIVE_FROM, required: true },
    Column { name: EFFECTIVE_TO, required: false },
    Column { name: CURRENCY, required: false },
    Column { name: "input_price_per_1m", required: false },
    Column { name: "cached_input_price_per_1m", required: false },
    Column { name: "output_price_per_1m", required: false },
    Column { name: "cache_write_price_per_1m", required: false },
    Column { name: "pricing_mode", required: false },
    Column { name: RETIRES_ON, required: false },
    Column { name: SERVICE_TIER, required: false },
    Column { name: TIER_MULTIPLIER, required: false },
    Column { name: ABOVE_PROMPT_TOKENS, required: false },
    Column { name: "cache_write_1h_price_per_1m", required: false },
    Column { name: "input_audio_price_per_1m", required: false },
    Column { name: "output_audio_price_per_1m", required: false },
    Column { name: "reasoning_price_per_1m", required: false },
    Column { name: WEB_SEARCH_PRICE, required: false },
    Column { name: "request_fee", required: false },
    Column { name: PROVIDER, required: false },
    Column { name: CATALOG_MODEL, required: false },
];

/// The columns an imported row sets (written empty when the catalog has no value), compared with
/// the row in force. The book's other columns (pricing_mode, request_fee, any of the user's) are
/// carried over from that row: the catalog says nothing about them.
const OWNED_COLUMNS: [&str; 14] = [
    CURRENCY,
    "input_price_per_1m",
    "cached_input_price_per_1m",
    "output_price_per_1m",
    "cache_write_price_per_1m",
    "cache_write_1h_price_per_1m",
    "input_audio_price_per_1m",
    "output_audio_price_per_1m",
    "reasoning_price_per_1m",
    WEB_SEARCH_PRICE,
    TIER_MULTIPLIER,
    RETIRES_ON,
    PROVIDER,
    CATALOG_MODEL,
];

/// Owned columns that describe a row without changing what a request costs: a difference in them
/// alone does not make a new row.
const DESCRIPTIVE_COLUMNS: [&str; 2] = [PROVIDER, CATALOG_MODEL];

/// The columns that say which row a row is and when it applies; never carried over.
const ROW_KEY_COLUMNS: [&str; 5] =
    [SERVED_ENTITY_NAME, EFFECTIVE_FROM, EFFECTIVE_TO, SERVICE_TIER, ABOVE_PROMPT_TOKENS];

// ------------------------------------------------------------------------------------------------
// Rates, tiers and the catalog's field names
// ------------------------------------------------------------------------------------------------

/// One per-token rate of a row: the catalog field of its standard price and its book column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Rate {
    Input,
    CachedInput,
    Output,
    CacheWrite,
    CacheWrite1h,
    InputAudio,
    OutputAudio,
    Reasoning,
}

impl Rate {
    const ALL: [Rate; 8] = [
        Rate::Input,
        Rate::CachedInput,
        Rate::Output,
        Rate::CacheWrite,
        Rate::CacheWrite1h,
        Rate::InputAudio,
        Rate::OutputAudio,
        Rate::Reasoning,
    ];

    /// The catalog's field for the standard rate; a tier's field adds its suffixes.
    fn field(self) -> &'static str {
        match self {
            Rate::Input => "input_cost_per_token",
            Rate::CachedInput => "cache_read_input_token_cost",
            Rate::Output => "output_cost_per_token",
            Rate::CacheWrite => "cache_creation_input_token_cost",
            Rate::CacheWrite1h => "cache_creation_input_token_cost_above_1hr",
            Rate::InputAudio => "input_cost_per_audio_token",
            Rate::OutputAudio => "output_cost_per_audio_token",
            Rate::Reasoning => "output_cost_per_reasoning_token",
        }
    }

    fn column(self) -> &'static str {
        match self {
            Rate::Input => "input_price_per_1m",
            Rate::CachedInput => "cached_input_price_per_1m",
            Rate::Output => "output_price_per_1m",
            Rate::CacheWrite => "cache_write_price_per_1m",
            Rate::CacheWrite1h => "cache_write_1h_price_per_1m",
            Rate::InputAudio => "input_audio_price_per_1m",
            Rate::OutputAudio => "output_audio_price_per_1m",
            Rate::Reasoning => "reasoning_price_per_1m",
        }
    }

    /// The rates the book requires of a standard row (a tier row may leave them empty: missing).
    fn required(self) -> bool {
        matches!(self, Rate::Input | Rate::CachedInput | Rate::Output)
    }
}

/// A service tier, as the book spells it (`service_tier`; empty means standard).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Tier {
    Standard,
    Batch,
    Priority,
    Flex,
}

impl Tier {
    const ALL: [Tier; 4] = [Tier::Standard, Tier::Batch, Tier::Priority, Tier::Flex];

    fn as_str(self) -> &'static str {
        match self {
            Tier::Standard => "standard",
            Tier::Batch => "batch",
            Tier::Priority => "priority",
            Tier::Flex => "flex",
        }
    }

    /// The suffix of the catalog's fields for this tier.
    fn suffix(self) -> &'static str {
        match self {
            Tier::Standard => "",
            Tier::Batch => "_batches",
            Tier::Priority => "_priority",
            Tier::Flex => "_flex",
        }
    }

    /// The book's cell: empty for standard, as rows written before tiers existed have it.
    fn cell(self) -> &'static str {
        if self == Tier::Standard { "" } else { self.as_str() }
    }

    fn parse_cell(text: &str) -> Result<Tier, String> {
        match text {
            "" => Ok(Tier::Standard),
            _ => Tier::ALL.into_iter().find(|t| t.as_str() == text).ok_or_else(|| {
                "is not a service tier; use standard, batch, priority or flex (empty means standard)".into()
            }),
        }
    }
}

/// Which rate, tier and prompt threshold a catalog field prices:
/// `<rate field>[_above_<N>k_tokens][_batches|_priority|_flex]`; `None` for any other field.
fn rate_field(field: &str) -> Option<(Rate, Tier, Option<u64>)> {
    let (rest, tier) = Tier::ALL
        .into_iter()
        .filter(|t| *t != Tier::Standard)
        .find_map(|t| field.strip_suffix(t.suffix()).map(|rest| (rest, t)))
        .unwrap_or((field, Tier::Standard));
    let threshold = rest.strip_suffix("k_tokens").and_then(|r| r.rsplit_once("_above_"));
    let (base, above) = match threshold {
        Some((base, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
            (base, Some(n.parse::<u64>().ok()?.checked_mul(1000)?))
        }
        _ => (rest, None),
    };
    let rate = Rate::ALL.into_iter().find(|r| r.field() == base)?;
    Some((rate, tier, above))
}

/// A row's tier and prompt threshold: the rest of its key.
type TierKey = (Tier, Option<u64>);

/// How a row's tier reads in messages: `standard`, `batch`, `standard above 200000 prompt tokens`.
fn describe_tier((tier, above): TierKey) -> String {
    match above {
        Some(n) => format!("{} above {n} prompt tokens", tier.as_str()),
        None => tier.as_str().to_string(),
    }
}

// ------------------------------------------------------------------------------------------------
// The catalog
// ------------------------------------------------------------------------------------------------

/// LiteLLM's model price catalog, read whole: each model's fields by key (`sample_spec` left out).
#[derive(Debug)]
pub struct Catalog {
    path: PathBuf,
    models: BTreeMap<String, Map<String, Value>>,
}

/// Which catalog models to import, and under which served-entity names.
#[derive(Debug, Default, Clone)]
pub struct CatalogSelection {
    /// `litellm_provider` values; empty: any provider.
    pub providers: Vec<String>,
    /// Catalog keys; empty: every model (of the providers) priced per token.
    pub models: Vec<String>,
    /// (served entity name, catalog key): the key's rows are written under that name.
    pub aliases: Vec<(String, String)>,
}

/// One model's prices, read from its catalog entry.
#[derive(Debug)]
struct ModelPrices {
    provider: String,
    /// The rates of each row the model has, by (tier, threshold); the standard row is (Standard, None).
    rows: BTreeMap<TierKey, BTreeMap<Rate, Decimal>>,
    web_search_per_1k: Option<Decimal>,
    retires_on: Option<NaiveDate>,
}

impl Catalog {
    /// Reads the catalog at `path`: a file that cannot be read, or is not the catalog's shape, is
    /// an input error naming it.
    pub fn from_path(path: &Path) -> Result<Catalog> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Input { path: path.to_path_buf(), source })?;
        Catalog::from_json_str(&text, path)
    }

    /// Parses the catalog's text; `path` names it in messages.
    pub fn from_json_str(text: &str, path: &Path) -> Result<Catalog> {
        let bad = |message: String| Error::InputFormat { path: path.to_path_buf(), message };
        let value: Value = serde_json::from_str(text).map_err(|e| {
            bad(format!("not valid JSON ({e}); give LiteLLM's model_prices_and_context_window.json unchanged"))
        })?;
        let Value::Object(entries) = value else {
            return Err(bad(format!(
                "the catalog is a JSON {}, not an object of model key -> prices; give LiteLLM's \
                 model_prices_and_context_window.json",
                json_type(&value)
            )));
        };
        let mut models = BTreeMap::new();
        for (key, entry) in entries {
            if key == SAMPLE_SPEC {
                continue;
            }
            let Value::Object(fields) = entry else {
                return Err(bad(format!(
                    "model `{key}` is a JSON {}, not an object of prices; fix or remove that entry",
                    json_type(&entry)
                )));
            };
            match fields.get("litellm_provider") {
                None | Some(Value::Null) | Some(Value::String(_)) => {}
                Some(other) => {
                    return Err(bad(format!(
                        "model `{key}`: litellm_provider is a JSON {}, not a provider name; fix that entry",
                        json_type(other)
                    )));
                }
            }
            models.insert(key, fields);
        }
        Ok(Catalog { path: path.to_path_buf(), models })
    }

    /// How many models the catalog has (`sample_spec` not counted).
    pub fn len(&self) -> usize {
        self.models.len()
    }

    pub fn is_empty(&self) -> bool {
        self.models.is_empty()
    }

    fn provider(&self, key: &str) -> &str {
        match self.models.get(key).and_then(|f| f.get("litellm_provider")) {
            Some(Value::String(p)) => p,
            _ => "",
        }
    }

    fn bad(&self, key: &str, field: &str, what: impl std::fmt::Display) -> Error {
        Error::InputFormat {
            path: self.path.clone(),
            message: format!("model `{key}`, field `{field}` {what}; fix that entry or leave the model out"),
        }
    }

    /// A price of the catalog as an exact decimal: the JSON number's shortest decimal text
    /// (`3e-07`, `0.01`, `0`), parsed without going through a float. `None` for null.
    fn decimal(&self, key: &str, field: &str, value: &Value) -> Result<Option<Decimal>> {
        let number = match value {
            Value::Null => return Ok(None),
            Value::Number(n) => n,
            other => return Err(self.bad(key, field, format!("is a JSON {}, not a number", json_type(other)))),
        };
        let text = number.to_string();
        let decimal = crate::money::decimal_from_json(number)
            .ok_or_else(|| self.bad(key, field, format!("is {text}, more than a decimal holds exactly")))?;
        if decimal < Decimal::ZERO {
            return Err(self.bad(key, field, format!("is {text}; a price cannot be negative")));
        }
        Ok(Some(decimal.abs()))
    }

    /// `decimal × factor`, exact, without trailing zeros (`3e-07` × 10^6 = `0.3`).
    fn scaled(&self, key: &str, field: &str, value: &Value, factor: i64) -> Result<Option<Decimal>> {
        let Some(decimal) = self.decimal(key, field, value)? else { return Ok(None) };
        decimal
            .checked_mul(Decimal::from(factor))
            .map(|d| Some(d.normalize()))
            .ok_or_else(|| self.bad(key, field, format!("is {value}, too large to be a price")))
    }

    /// The prices of model `key`: `Ok(Err(why))` when it cannot be a row of the book (it is not
    /// priced per token, or a price is finer than the book holds); an error when a value is not
    /// what the catalog's fields hold.
    fn prices(&self, key: &str) -> Result<std::result::Result<ModelPrices, String>> {
        let Some(fields) = self.models.get(key) else {
            return Err(Error::Internal(format!("catalog model {key} looked up but not read")));
        };
        let mut rows: BTreeMap<TierKey, BTreeMap<Rate, Decimal>> = BTreeMap::new();
        for (field, value) in fields {
            if let Some((rate, tier, above)) = rate_field(field)
                && let Some(price) = self.scaled(key, field, value, 1_000_000)?
            {
                rows.entry((tier, above)).or_default().insert(rate, price);
            }
        }
        let standard = rows.get(&(Tier::Standard, None));
        for rate in [Rate::Input, Rate::Output] {
            if !standard.is_some_and(|r| r.contains_key(&rate)) {
                return Ok(Err(format!("no {} (it is not priced per token)", rate.field())));
            }
        }
        let web_search_per_1k = match fields.get("search_context_cost_per_query") {
            None | Some(Value::Null) => None,
            Some(Value::Object(sizes)) => {
                let field = "search_context_cost_per_query.search_context_size_medium";
                match sizes.get("search_context_size_medium") {
                    Some(value) => self.scaled(key, field, value, 1000)?,
                    None => None,
                }
            }
            Some(other) => {
                let what = format!("is a JSON {}, not an object of prices per query", json_type(other));
                return Err(self.bad(key, "search_context_cost_per_query", what));
            }
        };
        for (field, price) in rows
            .iter()
            .flat_map(|((tier, above), rates)| rates.iter().map(move |(rate, p)| (tier_field(*rate, *tier, *above), p)))
            .chain(web_search_per_1k.iter().map(|p| ("search_context_cost_per_query".to_string(), p)))
        {
            if price.scale() > MAX_PRICE_DECIMALS {
                return Ok(Err(format!(
                    "{field} gives {price} in the price book, more than the {MAX_PRICE_DECIMALS} decimal places \
                     it holds; add the model's row by hand"
                )));
            }
        }
        let retires_on = match fields.get("deprecation_date") {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) => {
                Some(parse_date(text).map_err(|why| self.bad(key, "deprecation_date", format!("`{text}` {why}")))?)
            }
            Some(other) => {
                let what = format!("is a JSON {}, not a date (YYYY-MM-DD)", json_type(other));
                return Err(self.bad(key, "deprecation_date", what));
            }
        };
        Ok(Ok(ModelPrices { provider: self.provider(key).to_string(), rows, web_search_per_1k, retires_on }))
    }

    /// The keys `selection` picks, checked: every named model exists, is of a selected provider
    /// and is priced per token; every named provider has a model.
    fn select(&self, selection: &CatalogSelection) -> Result<Vec<&str>> {
        let providers: BTreeSet<&str> = self.models.keys().map(|k| self.provider(k)).collect();
        for provider in &selection.providers {
            if !providers.contains(provider.as_str()) {
                return Err(Error::Usage(format!(
                    "no model of the catalog {} has litellm_provider `{provider}`{}",
                    self.path.display(),
                    close_names(provider, providers.iter().copied())
                )));
            }
        }
        let of_provider =
            |key: &str| selection.providers.is_empty() || selection.providers.iter().any(|p| p == self.provider(key));
        let named = selection.models.iter().chain(selection.aliases.iter().map(|(_, key)| key));
        for key in named {
            if !self.models.contains_key(key) {
                return Err(Error::Usage(format!(
                    "no model `{key}` in the catalog {}{}",
                    self.path.display(),
                    close_names(key, self.models.keys().map(String::as_str))
                )));
            }
            if !of_provider(key) {
                return Err(Error::Usage(format!(
                    "model `{key}` is of provider `{}`, not of the providers selected ({})",
                    self.provider(key),
                    selection.providers.join(", ")
                )));
            }
            if !selection.models.is_empty() && !selection.models.contains(key) {
                return Err(Error::Usage(format!(
                    "model `{key}` is given a served entity name but is not among the models selected ({})",
                    selection.models.join(", ")
                )));
            }
        }
        Ok(self
            .models
            .keys()
            .map(String::as_str)
            .filter(|k| of_provider(k) && (selection.models.is_empty() || selection.models.iter().any(|m| m == k)))
            .collect())
    }
}

/// The catalog field of `rate` for a tier row, for messages.
fn tier_field(rate: Rate, tier: Tier, above: Option<u64>) -> String {
    let above = above.map(|n| format!("_above_{}k_tokens", n / 1000)).unwrap_or_default();
    format!("{}{above}{}", rate.field(), tier.suffix())
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// `; close: a, b` with the names most like `given`, or nothing when none is close.
fn close_names<'a>(given: &str, names: impl Iterator<Item = &'a str>) -> String {
    let given_lower = given.to_lowercase();
    let mut scored: Vec<(f64, &str)> = names
        .filter(|n| !n.is_empty())
        .map(|n| {
            let lower = n.to_lowercase();
            let contains = lower.contains(&given_lower) || given_lower.contains(&lower);
            let score = strsim::jaro_winkler(&given_lower, &lower);
            (if contains { score.max(0.9) } else { score }, n)
        })
        .filter(|(score, _)| *score >= 0.85)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    let close: Vec<&str> = scored.into_iter().take(5).map(|(_, n)| n).collect();
    if close.is_empty() { String::new() } else { format!("; close: {}", close.join(", ")) }
}

// ------------------------------------------------------------------------------------------------
// The price book, at the text level
// ------------------------------------------------------------------------------------------------

/// One data row of the price book: its key, its period and its cells as written.
#[derive(Debug)]
struct BookRow {
    line: usize,
    entity: String,
    tier: Tier,
    above: Option<u64>,
    from: NaiveDate,
    to: Option<NaiveDate>,
    cells: csv::StringRecord,
}

/// The price book's text with its header and rows read, not interpreted beyond the row keys:
/// the book's loader validates prices, this only needs to find, compare and append rows.
#[derive(Debug)]
struct BookText {
    name: String,
    text: String,
    /// The header's column names and its physical line; `None` for a missing or empty file.
    header: Option<(Vec<String>, usize)>,
    rows: Vec<BookRow>,
}

impl BookText {
    fn parse(file: &ConfigFile) -> Result<BookText, ConfigError> {
        let text = file.text.clone().unwrap_or_default();
        let mut problems = Problems::new(&file.name);
        let mut lines = data_lines(&text, &mut problems).into_iter();
        let Some(first) = lines.next() else {
            return problems.into_result(BookText { name: file.name.clone(), text, header: None, rows: Vec::new() });
        };
        let names: Vec<String> = first.cells.iter().map(str::to_string).collect();
        let header = book_header(&first, &mut problems);
        let rows = match &header {
            Some(header) => lines.filter_map(|line| book_row(header, line, &mut problems)).collect(),
            None => Vec::new(),
        };
        let header = Some((names, first.number));
        problems.into_result(BookText { name: file.name.clone(), text, header, rows })
    }

    /// The cell of `row` under `column` (trimmed), empty when the book has no such column.
    fn cell<'r>(&self, row: &'r BookRow, column: &str) -> &'r str {
        let position = self.header.as_ref().and_then(|(names, _)| names.iter().position(|n| n == column));
        position.and_then(|p| row.cells.get(p)).unwrap_or_default()
    }

    /// The row of (`entity`, `tier`) in force on `date`: the latest that starts on or before it,
    /// unless its `effective_to` has passed.
    fn in_force(&self, entity: &str, (tier, above): TierKey, date: NaiveDate) -> Option<&BookRow> {
        let row = self
            .rows
            .iter()
            .filter(|r| r.entity == entity && r.tier == tier && r.above == above && r.from <= date)
            .max_by_key(|r| (r.from, r.line))?;
        if row.to.is_some_and(|to| to <= date) { None } else { Some(row) }
    }

    /// The served entities whose rows name `key` as their catalog model.
    fn entities_of(&self, key: &str) -> BTreeSet<&str> {
        self.rows.iter().filter(|r| self.cell(r, CATALOG_MODEL) == key).map(|r| r.entity.as_str()).collect()
    }

    fn has_column(&self, column: &str) -> bool {
        self.header.as_ref().is_some_and(|(names, _)| names.iter().any(|n| n == column))
    }
}

/// The header of the book: where each known column is. Columns this version does not know are
/// kept (they are carried over by position), so only duplicates and missing key columns are
/// problems.
fn book_header(line: &Line, problems: &mut Problems) -> Option<Header> {
    let mut positions: Vec<(&'static str, usize)> = Vec::new();
    for (position, name) in line.cells.iter().enumerate() {
        if let Some(column) = BOOK_COLUMNS.iter().find(|c| c.name == name) {
            if positions.iter().any(|(n, _)| *n == column.name) {
                problems.at(line.number, format!("column `{name}` appears twice in the header; keep one"));
            } else {
                positions.push((column.name, position));
            }
        }
    }
    Header::complete(line, BOOK_COLUMNS, positions, problems)
}

fn book_row(header: &Header, line: Line, problems: &mut Problems) -> Option<BookRow> {
    let mut row = Row::new(header, &line, problems)?;
    let entity = row.required(SERVED_ENTITY_NAME, parse_text);
    let from = row.required(EFFECTIVE_FROM, parse_date);
    let to = row.optional(EFFECTIVE_TO, parse_date);
    let tier = row.optional(SERVICE_TIER, Tier::parse_cell);
    let above = row.optional(ABOVE_PROMPT_TOKENS, parse_tokens);
    let (Ok(entity), Ok(from), Ok(to), Ok(tier), Ok(above)) = (entity, from, to, tier, above) else {
        return None;
    };
    let number = row.number();
    Some(BookRow { line: number, entity, tier: tier.unwrap_or(Tier::Standard), above, from, to, cells: line.cells })
}

/// A count of tokens: digits only.
fn parse_tokens(text: &str) -> Result<u64, String> {
    text.parse::<u64>()
        .ok()
        .filter(|_| text.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| "is not a number of tokens; write it as digits, e.g. 200000".to_string())
}

// ------------------------------------------------------------------------------------------------
// The import: rows, the diff, the new text
// ------------------------------------------------------------------------------------------------

/// How an imported row compares with the book's row of the same key in force at the date.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RowStatus {
    /// The book has no row of this key in force: appended.
    New,
    /// The book's row has other prices: a row from the date is appended.
    Changed,
    /// The book's row has the same prices (compared as decimals): nothing is written.
    Unchanged,
    /// The book's row has other prices but a row from the date cannot be appended: the row in
    /// force starts on that date, or ends after it. Nothing is written until it is resolved.
    Conflict,
}

/// One column of an imported row whose value differs from the book's.
#[derive(Clone, Debug, Serialize)]
pub struct Change {
    pub column: &'static str,
    /// The book's value (empty: none).
    pub current: String,
    pub new: String,
}

/// One row the import gives, and how it compares with the book.
#[derive(Clone, Debug, Serialize)]
pub struct PlannedRow {
    pub served_entity_name: String,
    pub service_tier: &'static str,
    pub above_prompt_tokens: Option<u64>,
    pub catalog_model: String,
    pub status: RowStatus,
    /// The line of the book's row in force, if any.
    pub current_line: Option<usize>,
    /// The columns that differ (every filled one for a new row); empty when unchanged.
    pub changes: Vec<Change>,
    /// The row's cells by column, as it is written.
    #[serde(skip)]
    cells: BTreeMap<String, String>,
}

/// A catalog model that gives no row, and why.
#[derive(Clone, Debug, Serialize)]
pub struct Skipped {
    pub model: String,
    pub reason: String,
}

/// What importing a catalog into a price book would do: rows compared with the book's, models
/// skipped, notes; [`ImportPlan::new_text`] gives the book's new text.
#[derive(Debug, Serialize)]
pub struct ImportPlan {
    pub price_book: String,
    pub effective_from: String,
    pub rows: Vec<PlannedRow>,
    pub skipped: Vec<Skipped>,
    pub notes: Vec<String>,
    #[serde(skip)]
    book: BookText,
}

/// Compares the rows `selection` picks from `catalog`, from `effective_from`, with the price
/// book in `book` (its rows in force at that date).
pub fn plan_import(
    catalog: &Catalog,
    selection: &CatalogSelection,
    book: &ConfigFile,
    effective_from: NaiveDate,
) -> Result<ImportPlan> {
    let book = BookText::parse(book)?;
    let keys = catalog.select(selection)?;
    let mut rows: BTreeMap<(String, TierKey), PlannedRow> = BTreeMap::new();
    let mut skipped = Vec::new();
    let mut cache_read_is_input = BTreeSet::new();
    let mut left_empty: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
    for key in keys {
        let prices = match catalog.prices(key)? {
            Ok(prices) => prices,
            Err(reason) if selection.models.iter().any(|m| m == key) => {
                return Err(Error::Usage(format!("model `{key}` cannot be imported: {reason}")));
            }
            Err(reason) => {
                skipped.push(Skipped { model: key.to_string(), reason });
                continue;
            }
        };
        let aliased: Vec<&str> =
            selection.aliases.iter().filter(|(_, k)| k == key).map(|(name, _)| name.as_str()).collect();
        let names: Vec<&str> = match (aliased.is_empty(), book.entities_of(key)) {
            (false, _) => aliased,
            (true, known) if !known.is_empty() => known.into_iter().collect(),
            (true, _) => vec![key],
        };
        for name in names {
            for (tier_key, rates) in &prices.rows {
                let cells = row_cells(key, &prices, *tier_key, rates);
                let planned = compare(&book, name, key, *tier_key, cells, effective_from);
                let standard = *tier_key == (Tier::Standard, None);
                if planned.status != RowStatus::Unchanged && standard && !rates.contains_key(&Rate::CachedInput) {
                    cache_read_is_input.insert(key.to_string());
                }
                if planned.status != RowStatus::Unchanged && !standard {
                    for rate in Rate::ALL.into_iter().filter(|r| r.required() && !rates.contains_key(r)) {
                        left_empty
                            .entry(rate.column())
                            .or_default()
                            .push(format!("{name} {}", describe_tier(*tier_key)));
                    }
                }
                if let Some(other) = rows.get(&(name.to_string(), *tier_key)) {
                    return Err(Error::Usage(format!(
                        "served entity `{name}` would be priced from two catalog models, `{}` and `{key}`; \
                         give one of them another name",
                        other.catalog_model
                    )));
                }
                rows.insert((name.to_string(), *tier_key), planned);
            }
        }
    }
    let mut notes = Vec::new();
    if !cache_read_is_input.is_empty() {
        notes.push(format!(
            "cached_input_price_per_1m is the input price for {}: the catalog has no cache_read_input_token_cost \
             (a provider without prompt caching bills no cache reads)",
            cache_read_is_input.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    for (column, rows) in left_empty {
        notes.push(format!(
            "{column} is left empty on {}: the catalog has no rate for the tier, so a request that needs one is \
             unpriced, never priced at another tier's rate",
            rows.join(", ")
        ));
    }
    Ok(ImportPlan {
        price_book: book.name.clone(),
        effective_from: effective_from.to_string(),
        rows: rows.into_values().collect(),
        skipped,
        notes,
        book,
    })
}

/// The owned cells of one imported row (the key and carried-over cells are added by [`compare`]).
fn row_cells(
    key: &str,
    prices: &ModelPrices,
    tier_key: TierKey,
    rates: &BTreeMap<Rate, Decimal>,
) -> BTreeMap<String, String> {
    let standard = tier_key == (Tier::Standard, None);
    let mut cells: BTreeMap<String, String> = OWNED_COLUMNS.iter().map(|c| (c.to_string(), String::new())).collect();
    let mut set = |column: &str, value: String| {
        cells.insert(column.to_string(), value);
    };
    set(CURRENCY, CATALOG_CURRENCY.to_string());
    for (rate, price) in rates {
        set(rate.column(), price.to_string());
    }
    if standard {
        if !rates.contains_key(&Rate::CachedInput)
            && let Some(input) = rates.get(&Rate::Input)
        {
            set(Rate::CachedInput.column(), input.to_string());
        }
        if let Some(price) = prices.web_search_per_1k {
            set(WEB_SEARCH_PRICE, price.to_string());
        }
    }
    set(RETIRES_ON, prices.retires_on.map(|d| d.to_string()).unwrap_or_default());
    set(PROVIDER, prices.provider.clone());
    set(CATALOG_MODEL, key.to_string());
    cells
}

/// Two cells hold the same value: the same text, or the same decimal (`1.50` and `1.5`).
fn same_value(a: &str, b: &str) -> bool {
    a == b || matches!((Decimal::from_str_exact(a), Decimal::from_str_exact(b)), (Ok(x), Ok(y)) if x == y)
}

/// The imported row of (`name`, `tier_key`) with its owned `cells`, compared with the book's row
/// in force on `date`.
fn compare(
    book: &BookText,
    name: &str,
    key: &str,
    tier_key: TierKey,
    mut cells: BTreeMap<String, String>,
    date: NaiveDate,
) -> PlannedRow {
    let current = book.in_force(name, tier_key, date);
    let mut changes = Vec::new();
    let mut priced_alike = true;
    for column in OWNED_COLUMNS {
        let now = current.map(|row| book.cell(row, column)).unwrap_or_default();
        let new = cells.get(column).map(String::as_str).unwrap_or_default();
        if !same_value(now, new) && (current.is_some() || !new.is_empty()) {
            priced_alike &= DESCRIPTIVE_COLUMNS.contains(&column);
            changes.push(Change { column, current: now.to_string(), new: new.to_string() });
        }
    }
    let status = match current {
        None => RowStatus::New,
        Some(_) if priced_alike => RowStatus::Unchanged,
        Some(row) if row.from == date || row.to.is_some() => RowStatus::Conflict,
        Some(_) => RowStatus::Changed,
    };
    if status == RowStatus::Unchanged {
        changes.clear();
    }
    if let (Some(row), Some((names, _))) = (current, &book.header) {
        for (position, column) in names.iter().enumerate() {
            if !OWNED_COLUMNS.contains(&column.as_str()) && !ROW_KEY_COLUMNS.contains(&column.as_str()) {
                cells.insert(column.clone(), row.cells.get(position).unwrap_or_default().to_string());
            }
        }
    }
    cells.insert(SERVED_ENTITY_NAME.to_string(), name.to_string());
    cells.insert(EFFECTIVE_FROM.to_string(), date.to_string());
    cells.insert(SERVICE_TIER.to_string(), tier_key.0.cell().to_string());
    cells.insert(ABOVE_PROMPT_TOKENS.to_string(), tier_key.1.map(|n| n.to_string()).unwrap_or_default());
    PlannedRow {
        served_entity_name: name.to_string(),
        service_tier: tier_key.0.as_str(),
        above_prompt_tokens: tier_key.1,
        catalog_model: key.to_string(),
        status,
        current_line: current.map(|r| r.line),
        changes,
        cells,
    }
}

impl RowStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RowStatus::New => "new",
            RowStatus::Changed => "changed",
            RowStatus::Unchanged => "unchanged",
            RowStatus::Conflict => "conflict",
        }
    }
}

impl ImportPlan {
    /// How many rows have `status`.
    pub fn count(&self, status: RowStatus) -> usize {
        self.rows.iter().filter(|r| r.status == status).count()
    }

    /// The rows that are appended: new and changed ones.
    pub fn to_write(&self) -> impl Iterator<Item = &PlannedRow> {
        self.rows.iter().filter(|r| matches!(r.status, RowStatus::New | RowStatus::Changed))
    }

    /// The book's text with the new and changed rows appended, its comments and rows as they
    /// were (old rows padded with empty cells when the header gains columns); `None` when there
    /// is nothing to write. A conflict is an error naming the book's lines.
    pub fn new_text(&self) -> Result<Option<String>> {
        let conflicts: Vec<String> = self
            .rows
            .iter()
            .filter(|r| r.status == RowStatus::Conflict)
            .filter_map(|r| {
                let row = self.book.rows.iter().find(|b| Some(b.line) == r.current_line)?;
                let what = format!("{} ({})", r.served_entity_name, describe_tier((tier_of(r), r.above_prompt_tokens)));
                Some(match row.to {
                    Some(to) => format!(
                        "{} line {}: the row of {what} in force on {} ends on {to}, so a row from {} would overlap it; \
                         clear its effective_to, or import from {to}",
                        self.book.name, row.line, self.effective_from, self.effective_from
                    ),
                    None => format!(
                        "{} line {}: {what} already has a row from {} with other prices; edit or remove that row, \
                         or import from a later date",
                        self.book.name, row.line, self.effective_from
                    ),
                })
            })
            .collect();
        if !conflicts.is_empty() {
            return Err(Error::Config(format!("nothing was written:\n{}", conflicts.join("\n"))));
        }
        let written: Vec<&PlannedRow> = self.to_write().collect();
        if written.is_empty() {
            return Ok(None);
        }
        let added: Vec<&str> = BOOK_COLUMNS
            .iter()
            .map(|c| c.name)
            .filter(|c| {
                !self.book.has_column(c) && written.iter().any(|r| r.cells.get(*c).is_some_and(|v| !v.is_empty()))
            })
            .collect();
        let eol = if self.book.text.contains("\r\n") { "\r\n" } else { "\n" };
        let (mut text, columns) = match &self.book.header {
            Some((names, header_line)) => {
                let data: BTreeSet<usize> = self.book.rows.iter().map(|r| r.line).collect();
                let mut columns = names.clone();
                columns.extend(added.iter().map(|c| c.to_string()));
                (pad_lines(&self.book.text, *header_line, &data, &added), columns)
            }
            None => {
                // no header yet: the columns the rows fill (every standard row fills the required ones)
                let columns: Vec<String> = added.iter().map(|c| c.to_string()).collect();
                let mut text = self.book.text.clone();
                if !text.is_empty() && !text.ends_with('\n') {
                    text.push_str(eol);
                }
                text.push_str(&columns.join(","));
                text.push_str(eol);
                (text, columns)
            }
        };
        if !text.is_empty() && !text.ends_with('\n') {
            text.push_str(eol);
        }
        for row in written {
            let cells: Vec<String> =
                columns.iter().map(|c| csv_cell(row.cells.get(c).map(String::as_str).unwrap_or_default())).collect();
            text.push_str(&cells.join(","));
            text.push_str(eol);
        }
        Ok(Some(text))
    }
}

fn tier_of(row: &PlannedRow) -> Tier {
    Tier::parse_cell(row.service_tier).unwrap_or(Tier::Standard)
}

/// `text` with `added` column names appended to the header line and an empty cell per added
/// column to each data line; comments, blank lines and line endings unchanged.
fn pad_lines(text: &str, header_line: usize, data: &BTreeSet<usize>, added: &[&str]) -> String {
    if added.is_empty() {
        return text.to_string();
    }
    let lines: Vec<String> = text
        .split('\n')
        .enumerate()
        .map(|(i, raw)| {
            let number = i + 1;
            let (body, cr) = raw.strip_suffix('\r').map_or((raw, ""), |b| (b, "\r"));
            if number == header_line {
                format!("{body},{}{cr}", added.join(","))
            } else if data.contains(&number) {
                format!("{body}{}{cr}", ",".repeat(added.len()))
            } else {
                raw.to_string()
            }
        })
        .collect();
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog(json: &str) -> Catalog {
        Catalog::from_json_str(json, Path::new("catalog.json")).unwrap()
    }

    fn book(text: &str) -> ConfigFile {
        ConfigFile { name: "prices.csv".into(), text: Some(text.into()) }
    }

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn catalog_fields_name_their_rate_tier_and_threshold() {
        assert_eq!(rate_field("input_cost_per_token"), Some((Rate::Input, Tier::Standard, None)));
        assert_eq!(rate_field("output_cost_per_token_batches"), Some((Rate::Output, Tier::Batch, None)));
        assert_eq!(
            rate_field("cache_read_input_token_cost_above_272k_tokens_priority"),
            Some((Rate::CachedInput, Tier::Priority, Some(272_000)))
        );
        assert_eq!(
            rate_field("cache_creation_input_token_cost_above_1hr"),
            Some((Rate::CacheWrite1h, Tier::Standard, None))
        );
        assert_eq!(
            rate_field("cache_creation_input_token_cost_above_1hr_above_200k_tokens"),
            Some((Rate::CacheWrite1h, Tier::Standard, Some(200_000)))
        );
        assert_eq!(rate_field("input_cost_per_token_flex"), Some((Rate::Input, Tier::Flex, None)));
        for other in [
            "input_cost_per_image",
            "input_cost_per_token_above_k_tokens",
            "input_cost_per_character_above_128k_tokens",
            "max_tokens",
        ] {
            assert_eq!(rate_field(other), None, "{other}");
        }
        assert_eq!(
            tier_field(Rate::CachedInput, Tier::Priority, Some(272_000)),
            "cache_read_input_token_cost_above_272k_tokens_priority"
        );
    }

    #[test]
    fn prices_per_million_are_exact_decimals() {
        let c = catalog(
            r#"{"m": {"input_cost_per_token": 3e-07, "output_cost_per_token": 1.5e-05,
                      "cache_read_input_token_cost": 0.0000001, "cache_creation_input_token_cost": 0,
                      "search_context_cost_per_query": {"search_context_size_medium": 0.0275}}}"#,
        );
        let prices = c.prices("m").unwrap().unwrap();
        let standard = &prices.rows[&(Tier::Standard, None)];
        let text = |r: Rate| standard[&r].to_string();
        assert_eq!(text(Rate::Input), "0.3");
        assert_eq!(text(Rate::Output), "15");
        assert_eq!(text(Rate::CachedInput), "0.1");
        assert_eq!(text(Rate::CacheWrite), "0");
        assert_eq!(prices.web_search_per_1k.unwrap().to_string(), "27.5");
    }

    #[test]
    fn a_price_finer_than_the_book_or_not_per_token_skips_the_model() {
        let c = catalog(
            r#"{"fine": {"input_cost_per_token": 1.234567e-13, "output_cost_per_token": 1e-06},
                "image": {"input_cost_per_pixel": 1.9e-08, "output_cost_per_pixel": 0.0},
                "bad": {"input_cost_per_token": "0.000001", "output_cost_per_token": 1e-06},
                "negative": {"input_cost_per_token": -1e-06, "output_cost_per_token": 1e-06}}"#,
        );
        assert!(c.prices("fine").unwrap().unwrap_err().contains("more than the 6 decimal places"));
        assert!(c.prices("image").unwrap().unwrap_err().contains("no input_cost_per_token"));
        let err = c.prices("bad").err().unwrap().to_string();
        assert!(err.contains("model `bad`, field `input_cost_per_token` is a JSON string, not a number"), "{err}");
        let err = c.prices("negative").err().unwrap().to_string();
        assert!(err.contains("cannot be negative"), "{err}");
    }

    #[test]
    fn the_new_text_keeps_comments_and_line_endings_and_pads_old_rows() {
        let text = "# prices\r\nserved_entity_name,effective_from,currency,input_price_per_1m,cached_input_price_per_1m,output_price_per_1m\r\n\
                    # a comment between rows\r\nm,2025-01-01,USD,1,1,2\r\n";
        let c = catalog(
            r#"{"m": {"input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06, "litellm_provider": "p",
                      "input_cost_per_token_batches": 5e-07}}"#,
        );
        let plan = plan_import(&c, &CatalogSelection::default(), &book(text), day("2025-06-01")).unwrap();
        let statuses: Vec<_> = plan.rows.iter().map(|r| (r.service_tier, r.status)).collect();
        assert_eq!(statuses, vec![("standard", RowStatus::Unchanged), ("batch", RowStatus::New)]);
        let new = plan.new_text().unwrap().unwrap();
        assert_eq!(
            new,
            "# prices\r\nserved_entity_name,effective_from,currency,input_price_per_1m,cached_input_price_per_1m,output_price_per_1m,service_tier,provider,catalog_model\r\n\
             # a comment between rows\r\nm,2025-01-01,USD,1,1,2,,,\r\n\
             m,2025-06-01,USD,0.5,,,batch,p,m\r\n"
        );
    }

    #[test]
    fn a_row_from_the_same_date_with_other_prices_is_a_conflict() {
        let text = "served_entity_name,effective_from,effective_to,currency,input_price_per_1m,cached_input_price_per_1m,output_price_per_1m\n\
                    m,2025-06-01,,USD,9,9,9\n\
                    n,2025-01-01,2025-12-01,USD,9,9,9\n";
        let c = catalog(
            r#"{"m": {"input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06},
                "n": {"input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06}}"#,
        );
        let plan = plan_import(&c, &CatalogSelection::default(), &book(text), day("2025-06-01")).unwrap();
        assert_eq!(plan.count(RowStatus::Conflict), 2);
        let err = plan.new_text().unwrap_err().to_string();
        assert!(err.contains("prices.csv line 2: m (standard) already has a row from 2025-06-01"), "{err}");
        assert!(
            err.contains("prices.csv line 3: the row of n (standard) in force on 2025-06-01 ends on 2025-12-01"),
            "{err}"
        );
    }

    #[test]
    fn close_names_are_the_similar_ones() {
        let names = ["gpt-4o", "gpt-4o-mini", "claude-sonnet-4-5", "o3"];
        let close = close_names("gpt-4oo", names.into_iter());
        assert!(close.contains("gpt-4o") && close.contains("gpt-4o-mini") && !close.contains("claude"), "{close}");
        assert_eq!(close_names("zzzz", names.into_iter()), "");
    }
}
