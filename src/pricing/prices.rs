//! The price book (`config/prices.csv`): what a million tokens of each served entity cost, and
//! since when, on every axis a provider bills: the service tier (standard, batch, priority,
//! flex), the context tier (a prompt above a threshold is priced whole at that tier's rates),
//! 1-hour cache writes, audio tokens, reasoning tokens priced apart, web searches and a fee per
//! request. See the module docs of [`crate::pricing`] for the file conventions.
//!
//! A row's key is (`served_entity_name`, `service_tier`, `above_prompt_tokens`); each key has
//! its own effective-dated periods. [`PriceBook::resolve`] gives the rates a request is billed
//! at: the row of its tier with the highest threshold its prompt is above, with the empty rates
//! of a `tier_multiplier` row taken from the standard tier. A rate a request needs that the
//! book lacks leaves that request unpriced, never priced at a neighbouring rate.

use std::collections::{BTreeSet, HashMap};
use std::fmt::{self, Write as _};
use std::ops::Range;

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::{
    Column, ConfigError, ConfigFile, Header, Line, Problems, Row, csv_cell, index_by, parse_currency, parse_date,
    parse_price, parse_text, read_table,
};
use crate::time::date_start_micros;

const SERVED_ENTITY_NAME: &str = "served_entity_name";
const EFFECTIVE_FROM: &str = "effective_from";
const EFFECTIVE_TO: &str = "effective_to";
const CURRENCY: &str = "currency";
const INPUT_PRICE: &str = "input_price_per_1m";
const CACHED_INPUT_PRICE: &str = "cached_input_price_per_1m";
const OUTPUT_PRICE: &str = "output_price_per_1m";
const CACHE_WRITE_PRICE: &str = "cache_write_price_per_1m";
const PRICING_MODE: &str = "pricing_mode";
const RETIRES_ON: &str = "retires_on";
const SERVICE_TIER: &str = "service_tier";
const TIER_MULTIPLIER: &str = "tier_multiplier";
const ABOVE_PROMPT_TOKENS: &str = "above_prompt_tokens";
const CACHE_WRITE_1H_PRICE: &str = "cache_write_1h_price_per_1m";
const INPUT_AUDIO_PRICE: &str = "input_audio_price_per_1m";
const OUTPUT_AUDIO_PRICE: &str = "output_audio_price_per_1m";
const REASONING_PRICE: &str = "reasoning_price_per_1m";
const WEB_SEARCH_PRICE: &str = "web_search_price_per_1k";
const REQUEST_FEE: &str = "request_fee";
const PROVIDER: &str = "provider";
const CATALOG_MODEL: &str = "catalog_model";
const INFERENCE_GEO: &str = "inference_geo";

const COLUMNS: &[Column] = &[
    Column { name: SERVED_ENTITY_NAME, required: true },
    Column { name: EFFECTIVE_FROM, required: true },
    Column { name: EFFECTIVE_TO, required: false },
    Column { name: CURRENCY, required: true },
    Column { name: INPUT_PRICE, required: true },
    Column { name: CACHED_INPUT_PRICE, required: true },
    Column { name: OUTPUT_PRICE, required: true },
    Column { name: CACHE_WRITE_PRICE, required: false },
    Column { name: PRICING_MODE, required: false },
    Column { name: RETIRES_ON, required: false },
    Column { name: SERVICE_TIER, required: false },
    Column { name: TIER_MULTIPLIER, required: false },
    Column { name: ABOVE_PROMPT_TOKENS, required: false },
    Column { name: CACHE_WRITE_1H_PRICE, required: false },
    Column { name: INPUT_AUDIO_PRICE, required: false },
    Column { name: OUTPUT_AUDIO_PRICE, required: false },
    Column { name: REASONING_PRICE, required: false },
    Column { name: WEB_SEARCH_PRICE, required: false },
    Column { name: REQUEST_FEE, required: false },
    Column { name: PROVIDER, required: false },
    Column { name: CATALOG_MODEL, required: false },
    Column { name: INFERENCE_GEO, required: false },
];

/// Prices are per million tokens: the cost of one request is the token-weighted sum divided by
/// 10^6, which is exact in decimal by adding 6 to the scale.
const PER_MILLION_SCALE: u32 = 6;

/// How an entity is paid for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PricingMode {
    /// Billed per token at the row's prices.
    #[default]
    PerToken,
    /// Provisioned throughput: the pool's hourly cost (capacity.csv) is what is paid; the per-token
    /// prices are the figures used to show or allocate usage.
    Provisioned,
}

impl PricingMode {
    /// The spelling used in `prices.csv`.
    pub fn as_str(self) -> &'static str {
        match self {
            PricingMode::PerToken => "per_token",
            PricingMode::Provisioned => "provisioned",
        }
    }

    fn parse_cell(text: &str) -> Result<PricingMode, String> {
        match text {
            "per_token" => Ok(PricingMode::PerToken),
            "provisioned" => Ok(PricingMode::Provisioned),
            _ => Err("is not a pricing mode; use per_token or provisioned (empty means per_token)".to_string()),
        }
    }
}

impl fmt::Display for PricingMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The provider's service tier a request ran on. OpenAI names `default` (standard), `flex` and
/// `priority` (platform.openai.com/docs/api-reference/chat/object, `service_tier`); Anthropic
/// `standard`, `batch` and `priority` (`usage.service_tier`); both bill batch at half price.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ServiceTier {
    #[default]
    Standard,
    Batch,
    Priority,
    Flex,
}

impl ServiceTier {
    pub const ALL: [ServiceTier; 4] =
        [ServiceTier::Standard, ServiceTier::Batch, ServiceTier::Priority, ServiceTier::Flex];

    /// The spelling in `prices.csv` and in the `service_tier` columns.
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceTier::Standard => "standard",
            ServiceTier::Batch => "batch",
            ServiceTier::Priority => "priority",
            ServiceTier::Flex => "flex",
        }
    }

    fn parse_cell(text: &str) -> Result<ServiceTier, String> {
        ServiceTier::ALL
            .into_iter()
            .find(|t| t.as_str() == text)
            .ok_or_else(|| "is not a service tier; use standard, batch, priority or flex (empty means standard)".into())
    }
}

/// A context-tier threshold: a whole number of tokens.
fn parse_tokens(text: &str) -> Result<i64, String> {
    match text.parse::<i64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err("is not a number of tokens above 0; write e.g. 200000".into()),
    }
}

/// One validated row of the price book: the prices of one served entity on one tier from one
/// date. A rate is `None` when the cell is empty; see [`PriceBook::resolve`] for what that means.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PriceRow {
    pub served_entity_name: String,
    /// First day the price applies (inclusive, from 00:00 UTC).
    pub effective_from: NaiveDate,
    /// First day it no longer applies (exclusive); `None`: until the key's next row, if any.
    pub effective_to: Option<NaiveDate>,
    /// Three uppercase letters, e.g. `USD`.
    pub currency: String,
    /// Price of one million uncached input tokens.
    pub input_per_1m: Option<Decimal>,
    /// Price of one million cache-read input tokens.
    pub cached_input_per_1m: Option<Decimal>,
    /// Price of one million output tokens (reasoning included, unless priced apart).
    pub output_per_1m: Option<Decimal>,
    /// Price of one million cache-creation tokens written with the 5-minute TTL; `None` (empty
    /// cell) means the input price, see [`PriceRow::cache_write_or_input`].
    pub cache_write_per_1m: Option<Decimal>,
    pub pricing_mode: PricingMode,
    /// When the model is retired; informational, it does not end the price.
    pub retires_on: Option<NaiveDate>,
    pub service_tier: ServiceTier,
    /// The row applies to requests whose prompt (uncached input + cache reads + cache writes) is
    /// greater than this many tokens, whole; `None` is the base tier.
    pub above_prompt_tokens: Option<i64>,
    /// On a non-standard tier: its empty rates are the standard tier's times this.
    pub tier_multiplier: Option<Decimal>,
    /// Price of one million cache-creation tokens written with the 1-hour TTL.
    pub cache_write_1h_per_1m: Option<Decimal>,
    pub input_audio_per_1m: Option<Decimal>,
    pub output_audio_per_1m: Option<Decimal>,
    /// Price of one million reasoning tokens when priced apart; `None` is the output price.
    pub reasoning_per_1m: Option<Decimal>,
    /// Price of one thousand web searches.
    pub web_search_per_1k: Option<Decimal>,
    /// A fee per request, on top of the tokens.
    pub request_fee: Option<Decimal>,
    /// Informational: who bills it, and the catalog key a row was imported from.
    pub provider: Option<String>,
    pub catalog_model: Option<String>,
    /// A regional premium: the row applies to requests the provider ran in this region (the
    /// request's `inference_geo`, lower case), and its `tier_multiplier` multiplies every rate
    /// the request would pay elsewhere. `None` for every other row.
    pub inference_geo: Option<String>,
    /// Physical line in the file (1-based), for messages.
    pub line: usize,
}

impl PriceRow {
    /// The cache-write price, falling back to the input price as providers without a separate
    /// cache-creation price bill those tokens as input.
    pub fn cache_write_or_input(&self) -> Option<Decimal> {
        self.cache_write_per_1m.or(self.input_per_1m)
    }

    /// A stable identifier of this price version, `<served_entity_name>@<effective_from>`, with
    /// `/<tier>` for a tier other than standard and `>N` for a context tier (e.g. `gpt-4o@2025-03-01`,
    /// `claude-sonnet-4@2025-06-01/batch>200000`), stored with the costs it produced so re-rating is
    /// traceable, and the SKU price id of FOCUS exports.
    pub fn version(&self) -> String {
        let mut v = format!("{}@{}", self.served_entity_name, self.effective_from);
        if self.service_tier != ServiceTier::Standard {
            let _ = write!(v, "/{}", self.service_tier.as_str());
        }
        if let Some(t) = self.above_prompt_tokens {
            let _ = write!(v, ">{t}");
        }
        if let Some(g) = &self.inference_geo {
            let _ = write!(v, "~{g}");
        }
        v
    }

    /// The key in words: `m`, `m (batch)`, `m (above 200000 prompt tokens)`.
    fn key_label(&self) -> String {
        let mut label = self.served_entity_name.clone();
        match (self.service_tier, self.above_prompt_tokens) {
            (ServiceTier::Standard, None) => {}
            (tier, None) => label += &format!(" ({})", tier.as_str()),
            (ServiceTier::Standard, Some(t)) => label += &format!(" (above {t} prompt tokens)"),
            (tier, Some(t)) => label += &format!(" ({}, above {t} prompt tokens)", tier.as_str()),
        }
        if let Some(g) = &self.inference_geo {
            label += &format!(" (in {g})");
        }
        label
    }

    /// The key the row's periods belong to.
    fn key(&self) -> (&str, ServiceTier, i64, &str) {
        (
            self.served_entity_name.as_str(),
            self.service_tier,
            self.above_prompt_tokens.unwrap_or(0),
            self.inference_geo.as_deref().unwrap_or(""),
        )
    }

    /// Every rate of the row, in one order (the cache write is the fourth).
    fn rates(&self) -> [Option<Decimal>; 10] {
        [
            self.input_per_1m,
            self.cached_input_per_1m,
            self.output_per_1m,
            self.cache_write_per_1m,
            self.cache_write_1h_per_1m,
            self.input_audio_per_1m,
            self.output_audio_per_1m,
            self.reasoning_per_1m,
            self.web_search_per_1k,
            self.request_fee,
        ]
    }

    /// The rates of [`PriceRow::rates`], to change in place.
    fn rates_mut(&mut self) -> [&mut Option<Decimal>; 10] {
        [
            &mut self.input_per_1m,
            &mut self.cached_input_per_1m,
            &mut self.output_per_1m,
            &mut self.cache_write_per_1m,
            &mut self.cache_write_1h_per_1m,
            &mut self.input_audio_per_1m,
            &mut self.output_audio_per_1m,
            &mut self.reasoning_per_1m,
            &mut self.web_search_per_1k,
            &mut self.request_fee,
        ]
    }

    /// The largest number of decimal places among this row's prices.
    fn price_scale(&self) -> u32 {
        self.rates().iter().flatten().map(Decimal::scale).max().unwrap_or(0)
    }
}

/// What one request (or a sum of requests) consumed, in the ledger's disjoint buckets and the
/// parts of them billed at their own rates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub requests: i64,
    pub input: i64,
    pub cache_read: i64,
    /// Every cache write, the 1-hour ones included.
    pub cache_creation: i64,
    /// The part of `cache_creation` written with the 1-hour TTL.
    pub cache_creation_1h: i64,
    pub output: i64,
    /// Parts of `output` and of `input` billed apart.
    pub reasoning: i64,
    pub input_audio: i64,
    pub output_audio: i64,
    pub web_search_requests: i64,
}

/// The cost of one request at `row`'s prices, from the four disjoint token buckets:
///
/// `(input × input + cache_read × cached_input + cache_write × cache_write_or_input + output × output) / 10^6`
///
/// The result is exact, never rounded: it is computed on the decimal mantissas in `i128`, and
/// the division by 10^6 only adds 6 to the scale. Its scale is therefore the row's largest price
/// scale + 6 (prices with up to 4 decimals give scale 10, which fits DECIMAL(38,10) exactly);
/// e.g. 200,000 tokens at 75.00 is `15.00000000`, 1 token at 0.075 is `0.000000075`.
///
/// `None` when a rate the tokens need is missing, or when the exact result cannot be
/// represented (more than 28 decimal places or 96 bits of mantissa, which takes absurd token
/// counts or prices): the caller must treat that as unpriced or an error, not as zero.
pub fn request_cost(row: &PriceRow, input: i64, cache_read: i64, cache_write: i64, output: i64) -> Option<Decimal> {
    let usage = Usage { input, cache_read, cache_creation: cache_write, output, ..Usage::default() };
    usage_cost(row, &usage)
}

/// The cost of `usage` at `row`'s prices (a resolved row, see [`PriceBook::resolve`]), every
/// axis: 5-minute and 1-hour cache writes, audio and reasoning at their own rates where the row
/// has them, web searches per thousand, and the fee per request. Exact, as [`request_cost`].
pub fn usage_cost(row: &PriceRow, u: &Usage) -> Option<Decimal> {
    // a part billed apart replaces its share of its bucket's rate
    let input = row.input_per_1m;
    let output = row.output_per_1m;
    let reasoning_rate = row.reasoning_per_1m.or(output);
    let per_million = [
        (u.input - u.input_audio, input),
        (u.input_audio, row.input_audio_per_1m),
        (u.cache_read, row.cached_input_per_1m),
        (u.cache_creation - u.cache_creation_1h, row.cache_write_or_input()),
        (u.cache_creation_1h, row.cache_write_1h_per_1m),
        (u.output - u.output_audio - u.reasoning, output),
        (u.output_audio, row.output_audio_per_1m),
        (u.reasoning, reasoning_rate),
    ];
    let per_thousand = [(u.web_search_requests, row.web_search_per_1k)];
    let per_unit = [(u.requests, row.request_fee.or(Some(Decimal::ZERO)))];
    let scale = row.price_scale() + PER_MILLION_SCALE;
    let mut sum: i128 = 0;
    let terms = per_million
        .iter()
        .map(|t| (*t, PER_MILLION_SCALE))
        .chain(per_thousand.iter().map(|t| (*t, 3)))
        .chain(per_unit.iter().map(|t| (*t, 0)));
    for ((tokens, price), divisor_scale) in terms {
        if tokens == 0 {
            continue;
        }
        let price = price?;
        // price / 10^divisor = mantissa / 10^(price.scale + divisor); bring it to `scale` exactly.
        let to_common_scale = 10_i128.checked_pow(scale.checked_sub(price.scale() + divisor_scale)?)?;
        let mantissa = price.mantissa().checked_mul(to_common_scale)?;
        sum = sum.checked_add(i128::from(tokens).checked_mul(mantissa)?)?;
    }
    Decimal::try_from_i128_with_scale(sum, scale).ok()
}

/// The validated price book: rows sorted by key (`served_entity_name`, `service_tier`,
/// `above_prompt_tokens`) and `effective_from`, periods of a key that do not overlap.
#[derive(Clone, Debug, Default)]
pub struct PriceBook {
    rows: Vec<PriceRow>,
    /// `served_entity_name` -> its rows' range in `rows`.
    by_entity: HashMap<String, Range<usize>>,
}

impl PriceBook {
    /// Parses and validates a price book; `file_label` names the file in messages.
    pub fn from_csv_str(text: &str, file_label: &str) -> Result<Self, ConfigError> {
        let mut problems = Problems::new(file_label);
        let Some((header, lines)) = read_table(text, COLUMNS, &mut problems) else {
            return problems.into_result(Self::default());
        };
        let mut rows: Vec<PriceRow> = lines.iter().filter_map(|line| parse_row(&header, line, &mut problems)).collect();
        // Stable, so rows with the same key keep their file order for the duplicate message.
        rows.sort_by(|a, b| (a.key(), a.effective_from).cmp(&(b.key(), b.effective_from)));
        check_periods(&rows, &mut problems);
        check_tiers(&rows, &mut problems);
        let by_entity = index_by(&rows, |r| r.served_entity_name.as_str());
        problems.into_result(Self { rows, by_entity })
    }

    /// Reads and validates the price book in `file` (messages name it).
    pub fn load(file: &ConfigFile) -> Result<Self, ConfigError> {
        file.parse(Self::from_csv_str)
    }

    /// All rows, sorted by key and `effective_from`.
    pub fn rows(&self) -> &[PriceRow] {
        &self.rows
    }

    /// The rows of one entity.
    fn entity_rows(&self, served_entity_name: &str) -> &[PriceRow] {
        self.by_entity.get(served_entity_name).and_then(|r| self.rows.get(r.clone())).unwrap_or(&[])
    }

    /// The standard, base-tier row in force for `served_entity_name` at `at_micros` (UTC
    /// microseconds since the epoch). `None` means unpriced, which must never be read as free.
    pub fn price_at(&self, served_entity_name: &str, at_micros: i64) -> Option<&PriceRow> {
        self.row_at(served_entity_name, ServiceTier::Standard, 0, "", at_micros)
    }

    /// The row of one key in force at `at_micros`: the latest whose `effective_from` is at or
    /// before it, unless its `effective_to` has passed.
    fn row_at(&self, entity: &str, tier: ServiceTier, above: i64, geo: &str, at_micros: i64) -> Option<&PriceRow> {
        let rows = self.entity_rows(entity);
        let key = (entity, tier, above, geo);
        let start = rows.partition_point(|r| r.key() < key);
        let end = rows.partition_point(|r| r.key() <= key);
        let rows = &rows[start..end];
        let started = rows.partition_point(|r| date_start_micros(r.effective_from) <= at_micros);
        let row = rows.get(started.checked_sub(1)?)?;
        match row.effective_to {
            Some(to) if at_micros >= date_start_micros(to) => None,
            _ => Some(row),
        }
    }

    /// The row of `tier` in force at `at_micros` with the highest threshold at or below
    /// `context_band` (the highest book threshold the prompt is above, 0 for none).
    fn tier_row_at(&self, entity: &str, tier: ServiceTier, context_band: i64, at_micros: i64) -> Option<&PriceRow> {
        let mut thresholds: Vec<i64> = self
            .entity_rows(entity)
            .iter()
            .filter(|r| r.service_tier == tier && r.inference_geo.is_none())
            .map(|r| r.above_prompt_tokens.unwrap_or(0))
            .filter(|t| *t <= context_band)
            .collect();
        thresholds.dedup();
        thresholds.into_iter().rev().find_map(|t| self.row_at(entity, tier, t, "", at_micros))
    }

    /// The rates a request of `served_entity_name` on `tier` whose prompt is
    /// `prompt_tokens` long is billed at, at `at_micros`: a row whose rates are all resolved
    /// (its `version` names the row, tier and threshold used), or `None` (unpriced).
    ///
    /// The tier's row with the highest `above_prompt_tokens` the prompt is **greater than** applies
    /// to the whole request (Anthropic bills a Claude Sonnet 4.x request whose input passes
    /// 200k tokens at the long-context rates for all its tokens, docs.anthropic.com "Long context
    /// pricing"; Google prices Gemini 2.5 Pro prompts over 200k the same way). An empty rate of a
    /// row with a `tier_multiplier` is the standard tier's rate (for the same prompt) times it.
    /// Other empty rates stay missing: a request that needs one is unpriced.
    pub fn resolve(
        &self,
        served_entity_name: &str,
        tier: ServiceTier,
        prompt_tokens: i64,
        at_micros: i64,
    ) -> Option<PriceRow> {
        let band = self.context_bands().into_iter().rev().find(|t| prompt_tokens > *t).unwrap_or(0);
        self.resolve_band(served_entity_name, tier, band, at_micros)
    }

    fn resolve_band(&self, entity: &str, tier: ServiceTier, band: i64, at_micros: i64) -> Option<PriceRow> {
        let row = self.tier_row_at(entity, tier, band, at_micros)?;
        let mut out = row.clone();
        if let Some(m) = row.tier_multiplier {
            // a rate the tier row lacks is the standard row's times the multiplier (an empty
            // cache-write price of the standard row is its input price)
            let base = self.tier_row_at(entity, ServiceTier::Standard, band, at_micros).map(|standard| {
                let mut rates = standard.rates();
                rates[3] = standard.cache_write_or_input();
                rates
            });
            for (i, rate) in out.rates_mut().into_iter().enumerate() {
                if rate.is_none() {
                    *rate = base.and_then(|b| b[i]).and_then(|b| b.checked_mul(m));
                }
            }
            out.tier_multiplier = None;
        }
        Some(out)
    }

    /// The rates of a request run in `geo` (lower case; "" for none): the rates elsewhere,
    /// times the entity's regional premium for `geo` in force, if it has one (the version then
    /// ends in `~geo`).
    fn resolve_geo(&self, entity: &str, tier: ServiceTier, band: i64, geo: &str, at_micros: i64) -> Option<PriceRow> {
        let mut rates = self.resolve_band(entity, tier, band, at_micros)?;
        let premium = if geo.is_empty() { None } else { self.row_at(entity, ServiceTier::Standard, 0, geo, at_micros) };
        if let Some(m) = premium.and_then(|p| p.tier_multiplier) {
            // an empty cache-write price is the input price, multiplied with it
            for rate in rates.rates_mut() {
                *rate = rate.and_then(|r| r.checked_mul(m));
            }
            rates.inference_geo = Some(geo.to_string());
        }
        Some(rates)
    }

    /// Every region the book has a premium for, ascending.
    pub fn geos(&self) -> Vec<String> {
        let set: BTreeSet<&str> = self.rows.iter().filter_map(|r| r.inference_geo.as_deref()).collect();
        set.into_iter().map(str::to_string).collect()
    }

    /// Every context-tier threshold in the book, ascending: a request's band is the highest
    /// one its prompt is greater than.
    pub fn context_bands(&self) -> Vec<i64> {
        let set: BTreeSet<i64> = self.rows.iter().filter_map(|r| r.above_prompt_tokens).collect();
        set.into_iter().collect()
    }

    /// The resolved rates of every entity, tier and context band, over the periods in which
    /// they do not change: `(rates, band, valid_from, valid_to)` (a `None` end is open). The
    /// rollup's `prices` table, so that the SQL prices a request with an equi-join.
    pub fn resolved_periods(&self) -> Vec<(PriceRow, i64, String, NaiveDate, Option<NaiveDate>)> {
        let mut bands = vec![0];
        bands.extend(self.context_bands());
        let mut geos = vec![String::new()];
        geos.extend(self.geos());
        let mut out = Vec::new();
        let mut entities: Vec<&String> = self.by_entity.keys().collect();
        entities.sort();
        for entity in entities {
            let rows = self.entity_rows(entity);
            // the days on which any of the entity's rows starts or ends
            let mut days: BTreeSet<NaiveDate> = BTreeSet::new();
            for (row, end) in self.periods().filter(|(r, _)| &r.served_entity_name == entity) {
                days.insert(row.effective_from);
                days.extend(end);
            }
            let days: Vec<NaiveDate> = days.into_iter().collect();
            let tiers: BTreeSet<ServiceTier> = rows.iter().map(|r| r.service_tier).collect();
            for (i, from) in days.iter().enumerate() {
                let to = days.get(i + 1).copied();
                for tier in &tiers {
                    for band in &bands {
                        // every region of the book, so that the SQL's equi-join finds a row for a
                        // request run where this entity has no premium (its rates elsewhere)
                        for geo in &geos {
                            let at = date_start_micros(*from);
                            if let Some(rates) = self.resolve_geo(entity, *tier, *band, geo, at) {
                                out.push((rates, *band, geo.clone(), *from, to));
                            }
                        }
                    }
                }
            }
        }
        out
    }

    /// Every row with the day its period ends (exclusive): its `effective_to`, else the key's
    /// next `effective_from`, else `None` (open).
    pub fn periods(&self) -> impl Iterator<Item = (&PriceRow, Option<NaiveDate>)> + '_ {
        self.rows.iter().enumerate().map(|(i, row)| {
            let next_from = self.rows.get(i + 1).filter(|next| next.key() == row.key()).map(|next| next.effective_from);
            // Validation guarantees effective_to <= the next start; `min` keeps this true anyway.
            let end = match (row.effective_to, next_from) {
                (Some(to), Some(next)) => Some(to.min(next)),
                (to, next) => to.or(next),
            };
            (row, end)
        })
    }

    /// The most decimal places of any price in the book (a tier multiplier's product included).
    /// [`request_cost`] results have this scale + 6, so a fixed-scale decimal column of scale s
    /// holds every cost exactly when this is at most s - 6.
    pub fn max_price_scale(&self) -> u32 {
        let rates = self.rows.iter().map(PriceRow::price_scale).max().unwrap_or(0);
        let multiplier = self.rows.iter().filter_map(|r| r.tier_multiplier).map(|m| m.scale()).max();
        rates + multiplier.unwrap_or(0)
    }

    /// A deterministic rendering of the validated rows, for the caller to hash as the price book's
    /// identity. It depends only on the prices, not on comments, column order, line numbers or
    /// how a number was written (`2.5` and `2.50` render alike), so reformatting the file keeps
    /// the identity while any change that could alter a cost changes it.
    pub fn canonical_text(&self) -> String {
        // a book that uses none of the columns added since the first release renders as it did
        // then, so its identity stays the one older exports recorded
        let extended = self.rows.iter().any(|r| {
            r.service_tier != ServiceTier::Standard
                || r.above_prompt_tokens.is_some()
                || r.tier_multiplier.is_some()
                || r.rates()[4..].iter().any(Option::is_some)
                || r.provider.is_some()
                || r.catalog_model.is_some()
                || r.inference_geo.is_some()
        });
        let columns = if extended { COLUMNS.len() } else { 10 };
        let mut text = COLUMNS[..columns].iter().map(|c| c.name).collect::<Vec<_>>().join(",");
        text.push('\n');
        let date = |d: Option<NaiveDate>| d.map(|d| d.to_string()).unwrap_or_default();
        let price = |p: Option<Decimal>| p.map(|p| p.normalize().to_string()).unwrap_or_default();
        let text_cell = |t: &Option<String>| t.as_deref().map(csv_cell).unwrap_or_default();
        for r in &self.rows {
            // Same order as COLUMNS.
            let _ = write!(
                text,
                "{},{},{},{},{},{},{},{},{},{}",
                csv_cell(&r.served_entity_name),
                r.effective_from,
                date(r.effective_to),
                r.currency,
                price(r.input_per_1m),
                price(r.cached_input_per_1m),
                price(r.output_per_1m),
                price(r.cache_write_per_1m),
                r.pricing_mode,
                date(r.retires_on),
            );
            if !extended {
                text.push('\n');
                continue;
            }
            let _ = writeln!(
                text,
                ",{},{},{},{},{},{},{},{},{},{},{},{}",
                r.service_tier.as_str(),
                price(r.tier_multiplier),
                r.above_prompt_tokens.map(|t| t.to_string()).unwrap_or_default(),
                price(r.cache_write_1h_per_1m),
                price(r.input_audio_per_1m),
                price(r.output_audio_per_1m),
                price(r.reasoning_per_1m),
                price(r.web_search_per_1k),
                price(r.request_fee),
                text_cell(&r.provider),
                text_cell(&r.catalog_model),
                text_cell(&r.inference_geo),
            );
        }
        text
    }
}

/// One data line into a [`PriceRow`], or `None` after recording everything wrong with it.
fn parse_row(header: &Header, line: &Line, problems: &mut Problems) -> Option<PriceRow> {
    let mut row = Row::new(header, line, problems)?;
    // Every cell is read before any is given up on, so one pass reports all of a row's problems.
    let entity = row.required(SERVED_ENTITY_NAME, parse_text);
    let from = row.required(EFFECTIVE_FROM, parse_date);
    let to = row.optional(EFFECTIVE_TO, parse_date);
    let currency = row.required(CURRENCY, parse_currency);
    let tier = row.optional(SERVICE_TIER, ServiceTier::parse_cell);
    let above = row.optional(ABOVE_PROMPT_TOKENS, parse_tokens);
    let geo = row.optional(INFERENCE_GEO, |t| Ok(t.to_ascii_lowercase()));
    // the base row of an entity names the three rates every request needs; a tier row may
    // leave them to its multiplier, or missing; a regional premium is a multiplier only
    let base = matches!((&tier, &above, &geo), (Ok(None | Some(ServiceTier::Standard)), Ok(None), Ok(None)));
    let [input, cached, output] = [INPUT_PRICE, CACHED_INPUT_PRICE, OUTPUT_PRICE].map(|column| {
        if base { row.required(column, parse_price).map(Some) } else { row.optional(column, parse_price) }
    });
    let cache_write = row.optional(CACHE_WRITE_PRICE, parse_price);
    let mode = row.optional(PRICING_MODE, PricingMode::parse_cell);
    let retires_on = row.optional(RETIRES_ON, parse_date);
    let multiplier = row.optional(TIER_MULTIPLIER, parse_price);
    let cache_write_1h = row.optional(CACHE_WRITE_1H_PRICE, parse_price);
    let input_audio = row.optional(INPUT_AUDIO_PRICE, parse_price);
    let output_audio = row.optional(OUTPUT_AUDIO_PRICE, parse_price);
    let reasoning = row.optional(REASONING_PRICE, parse_price);
    let web_search = row.optional(WEB_SEARCH_PRICE, parse_price);
    let fee = row.optional(REQUEST_FEE, parse_price);
    let provider = row.optional(PROVIDER, parse_text);
    let catalog_model = row.optional(CATALOG_MODEL, parse_text);
    if let (Ok(from), Ok(Some(to))) = (&from, &to)
        && to <= from
    {
        row.problem(format!(
            "{EFFECTIVE_TO} {to} is not after {EFFECTIVE_FROM} {from}; make it later or leave it empty"
        ));
        return None;
    }
    if let Ok(Some(g)) = &geo {
        let rated = [
            &input,
            &cached,
            &output,
            &cache_write,
            &cache_write_1h,
            &input_audio,
            &output_audio,
            &reasoning,
            &web_search,
            &fee,
        ]
        .iter()
        .any(|r| matches!(r, Ok(Some(_))));
        let plain = matches!((&tier, &above), (Ok(None | Some(ServiceTier::Standard)), Ok(None)));
        if rated || !plain || !matches!(multiplier, Ok(Some(_))) {
            row.problem(format!(
                "{INFERENCE_GEO} {g} makes the row a regional premium: give only {TIER_MULTIPLIER} (e.g. 1.1), \
                 no rates, {SERVICE_TIER} or {ABOVE_PROMPT_TOKENS}"
            ));
            return None;
        }
    } else if let (Ok(None | Some(ServiceTier::Standard)), Ok(Some(m))) = (&tier, &multiplier) {
        row.problem(format!(
            "{TIER_MULTIPLIER} {m} is on a standard row, which has no tier to multiply; give the rates, or set {SERVICE_TIER}"
        ));
        return None;
    }
    Some(PriceRow {
        served_entity_name: entity.ok()?,
        effective_from: from.ok()?,
        effective_to: to.ok()?,
        currency: currency.ok()?,
        input_per_1m: input.ok()?,
        cached_input_per_1m: cached.ok()?,
        output_per_1m: output.ok()?,
        cache_write_per_1m: cache_write.ok()?,
        pricing_mode: mode.ok()?.unwrap_or_default(),
        retires_on: retires_on.ok()?,
        service_tier: tier.ok()?.unwrap_or_default(),
        above_prompt_tokens: above.ok()?,
        tier_multiplier: multiplier.ok()?,
        cache_write_1h_per_1m: cache_write_1h.ok()?,
        input_audio_per_1m: input_audio.ok()?,
        output_audio_per_1m: output_audio.ok()?,
        reasoning_per_1m: reasoning.ok()?,
        web_search_per_1k: web_search.ok()?,
        request_fee: fee.ok()?,
        provider: provider.ok()?,
        catalog_model: catalog_model.ok()?,
        inference_geo: geo.ok()?,
        line: row.number(),
    })
}

/// Reports rows of one key whose periods overlap. `rows` is sorted by (key, from), and a row
/// without `effective_to` ends where the next begins, so only neighbours can collide.
fn check_periods(rows: &[PriceRow], problems: &mut Problems) {
    for pair in rows.windows(2) {
        let [earlier, later] = pair else { continue };
        if earlier.key() != later.key() {
            continue;
        }
        let what = later.key_label();
        if earlier.effective_from == later.effective_from {
            problems.at(
                later.line,
                format!(
                    "{what} has two rows with {EFFECTIVE_FROM} {} (the other is line {}); keep one",
                    later.effective_from, earlier.line
                ),
            );
        } else if let Some(to) = earlier.effective_to
            && to > later.effective_from
        {
            problems.at(
                earlier.line,
                format!(
                    "{EFFECTIVE_TO} {to} runs past {}, when the row on line {} for {what} starts; \
                     set {EFFECTIVE_TO} to {} or earlier (or leave it empty to end at the next row)",
                    later.effective_from, later.line, later.effective_from
                ),
            );
        }
    }
}

/// A tier row needs the entity's standard rows to fall back on, in one currency: reports tier
/// rows of an entity without any base row, and entities priced in two currencies at once.
fn check_tiers(rows: &[PriceRow], problems: &mut Problems) {
    for r in rows.iter().filter(|r| r.key().1 != ServiceTier::Standard || r.key().2 != 0 || !r.key().3.is_empty()) {
        let base = rows.iter().find(|b| b.key() == (r.served_entity_name.as_str(), ServiceTier::Standard, 0, ""));
        match base {
            None => problems.at(
                r.line,
                format!(
                    "{} has a row but no standard row without {ABOVE_PROMPT_TOKENS}; add the base prices first",
                    r.key_label()
                ),
            ),
            Some(b) if b.currency != r.currency => problems.at(
                r.line,
                format!(
                    "currency {} differs from the {} of {}'s base row on line {}; price an entity in one currency",
                    r.currency, b.currency, r.served_entity_name, b.line
                ),
            ),
            Some(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    const HEADER: &str = "served_entity_name,effective_from,currency,input_price_per_1m,\
                          cached_input_price_per_1m,output_price_per_1m,cache_write_price_per_1m,pricing_mode,retires_on";

    fn book(text: &str) -> PriceBook {
        PriceBook::from_csv_str(text, "prices.csv").unwrap_or_else(|e| panic!("{e}"))
    }

    /// The problem lines of a book that must fail to load.
    fn problems(text: &str) -> Vec<String> {
        match PriceBook::from_csv_str(text, "prices.csv") {
            Err(ConfigError::Invalid { problems, count, .. }) => {
                assert_eq!(count, problems.len());
                problems
            }
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    fn micros(rfc3339: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(rfc3339).unwrap().timestamp_micros()
    }

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn the_init_template_loads() {
        let book = book(include_str!("../warehouse/templates/prices.csv"));
        assert_eq!(book.rows().len(), 5);
        let sonnet = book.price_at("claude-3-5-sonnet", micros("2025-01-01T00:00:00Z")).unwrap();
        assert_eq!(sonnet.cache_write_per_1m, Some(dec("3.75")));
        let gpt = book.price_at("gpt-4o", micros("2025-03-01T00:00:00Z")).unwrap();
        assert_eq!((gpt.input_per_1m, gpt.line), (Some(dec("2.00")), 9));
        assert_eq!(gpt.cache_write_or_input(), Some(dec("2.00")));
        let pt = book.price_at("llama-3-70b-pt", micros("2025-01-01T00:00:00Z")).unwrap();
        assert_eq!(pt.pricing_mode, PricingMode::Provisioned);
    }

    #[test]
    fn the_sample_data_loads() {
        let book = book(include_str!("../../sample_data/config/prices.csv"));
        assert!(book.rows().len() > 40);
        let opus = book.rows().iter().find(|r| r.served_entity_name == "claude-3-opus").unwrap();
        assert_eq!(opus.retires_on, Some(day("2025-03-18")));
        assert!(book.max_price_scale() <= 4, "sample costs fit DECIMAL(38,10)");
    }

    #[test]
    fn price_changes_at_midnight_utc() {
        let book = book(&format!(
            "{HEADER}\n\
             m,2025-01-01,USD,1.00,0.50,2.00,,,\n\
             m,2025-01-15,USD,0.80,0.40,1.60,,,\n"
        ));
        let version = |at| book.price_at("m", micros(at)).map(PriceRow::version);
        assert_eq!(version("2025-01-14T23:59:59.999999Z").as_deref(), Some("m@2025-01-01"));
        assert_eq!(version("2025-01-15T00:00:00Z").as_deref(), Some("m@2025-01-15"));
        assert_eq!(version("2025-01-01T00:00:00Z").as_deref(), Some("m@2025-01-01"));
        assert_eq!(version("2099-01-01T00:00:00Z").as_deref(), Some("m@2025-01-15"), "last row is open");
        assert_eq!(version("2024-12-31T23:59:59.999999Z"), None, "before the first row");
        assert_eq!(book.price_at("unknown-model", micros("2025-01-20T00:00:00Z")), None);
        assert_eq!(book.price_at("m", i64::MIN), None);
        assert!(book.price_at("m", i64::MAX).is_some());
    }

    #[test]
    fn effective_to_is_exclusive_and_a_gap_is_unpriced() {
        let book = book(
            "served_entity_name,effective_from,effective_to,currency,input_price_per_1m,\
             cached_input_price_per_1m,output_price_per_1m\n\
             m,2025-01-01,2025-02-01,USD,1,1,1\n\
             m,2025-03-01,,USD,2,2,2\n",
        );
        let version = |at| book.price_at("m", micros(at)).map(PriceRow::version);
        assert_eq!(version("2025-01-31T23:59:59.999999Z").as_deref(), Some("m@2025-01-01"));
        assert_eq!(version("2025-02-01T00:00:00Z"), None);
        assert_eq!(version("2025-02-28T12:00:00Z"), None);
        assert_eq!(version("2025-03-01T00:00:00Z").as_deref(), Some("m@2025-03-01"));
        let ends: Vec<_> = book.periods().map(|(r, end)| (r.line, end)).collect();
        assert_eq!(ends, vec![(2, Some(day("2025-02-01"))), (3, None)]);
    }

    #[test]
    fn a_future_dated_row_does_not_apply_before_its_date() {
        let book = book(&format!(
            "{HEADER}\n\
             m,2024-01-01,USD,1.00,0.50,2.00,,,\n\
             m,2030-06-01,USD,9.00,9.00,9.00,,,\n\
             only-future,2030-06-01,USD,1,1,1,,,\n"
        ));
        assert_eq!(book.price_at("m", micros("2025-06-01T00:00:00Z")).unwrap().input_per_1m, Some(dec("1.00")));
        assert_eq!(book.price_at("only-future", micros("2025-06-01T00:00:00Z")), None);
        let ends: Vec<_> = book.periods().map(|(r, end)| (r.version(), end)).collect();
        assert_eq!(ends[0], ("m@2024-01-01".to_string(), Some(day("2030-06-01"))));
    }

    #[test]
    fn columns_may_come_in_any_order_and_optional_ones_may_be_absent() {
        let book = book(
            "output_price_per_1m , currency,served_entity_name,cached_input_price_per_1m,effective_from,input_price_per_1m\n\
             8.00,EUR, gpt-4o ,1.00,2025-03-01,2.00\n",
        );
        let row = &book.rows()[0];
        assert_eq!(row.served_entity_name, "gpt-4o");
        assert_eq!(
            (row.currency.as_str(), row.output_per_1m, row.input_per_1m),
            ("EUR", Some(dec("8.00")), Some(dec("2.00")))
        );
        assert_eq!(
            (row.cache_write_per_1m, row.pricing_mode, row.retires_on, row.effective_to),
            (None, PricingMode::PerToken, None, None)
        );
    }

    #[test]
    fn an_empty_book_is_valid_and_prices_nothing() {
        let book = book(&format!("# nothing yet\n{HEADER}\n\n"));
        assert!(book.rows().is_empty());
        assert_eq!(book.price_at("m", 0), None);
    }

    #[test]
    fn every_cell_problem_is_reported_with_its_physical_line() {
        let text = format!(
            "# comment line 1\n\
             \n\
             {HEADER}\n\
             # comment line 4\n\
             a,2025-01-01,USD,-1.00,0.5,abc,,,\n\
             \n\
             ,2025/01/01,usd,1,1,1,,ptu,2025-02-30\n\
             b,2025-01-01,USD,1,1,1,,provisioned\n\
             c,2025-01-01,USD,1,,1,1.2.3,,\n"
        );
        let p = problems(&text);
        let expected = [
            "prices.csv line 5: input_price_per_1m `-1.00` is negative",
            "prices.csv line 5: output_price_per_1m `abc` is not a number",
            "prices.csv line 7: served_entity_name is empty",
            "prices.csv line 7: effective_from `2025/01/01` is not a date; write it as YYYY-MM-DD",
            "prices.csv line 7: currency `usd` is not an ISO 4217 code; write it in capitals: USD",
            "prices.csv line 7: pricing_mode `ptu` is not a pricing mode; use per_token or provisioned",
            "prices.csv line 7: retires_on `2025-02-30` is not a day in the calendar",
            "prices.csv line 8: has 8 cells but the header has 9 columns",
            "prices.csv line 9: cached_input_price_per_1m is empty",
            "prices.csv line 9: cache_write_price_per_1m `1.2.3` is not a number",
        ];
        assert_eq!(p.len(), expected.len(), "{p:#?}");
        for (got, want) in p.iter().zip(expected) {
            assert!(got.starts_with(want), "{got:?} should start with {want:?}");
            assert!(got.contains("; "), "says what to do: {got}");
        }
    }

    #[test]
    fn effective_to_must_be_after_effective_from() {
        let p = problems(
            "served_entity_name,effective_from,effective_to,currency,input_price_per_1m,\
             cached_input_price_per_1m,output_price_per_1m\n\
             m,2025-01-01,2025-01-01,USD,1,1,1\n\
             n,2025-01-02,2025-01-01,USD,1,1,1\n\
             o,2025-01-01,2025-01-02,USD,1,1,1\n",
        );
        assert_eq!(p.len(), 2, "{p:#?}");
        assert!(p[0].starts_with("prices.csv line 2: effective_to 2025-01-01 is not after effective_from 2025-01-01;"));
        assert!(p[1].starts_with("prices.csv line 3: effective_to 2025-01-01 is not after effective_from 2025-01-02;"));
    }

    #[test]
    fn overlapping_periods_are_reported() {
        let p = problems(
            "served_entity_name,effective_from,effective_to,currency,input_price_per_1m,\
             cached_input_price_per_1m,output_price_per_1m\n\
             # effective_to past the next row's start:\n\
             m,2025-01-01,2025-02-15,USD,1,1,1\n\
             m,2025-02-01,,USD,2,2,2\n\
             # the same entity and date twice, out of order and apart:\n\
             n,2025-03-01,,USD,1,1,1\n\
             m2,2025-01-01,,USD,1,1,1\n\
             n,2025-03-01,,USD,1,1,1\n\
             # touching periods are fine:\n\
             t,2025-01-01,2025-02-01,USD,1,1,1\n\
             t,2025-02-01,,USD,1,1,1\n",
        );
        assert_eq!(p.len(), 2, "{p:#?}");
        assert!(
            p[0].starts_with("prices.csv line 3: effective_to 2025-02-15 runs past 2025-02-01, when the row on line 4 for m starts; set effective_to to 2025-02-01 or earlier"),
            "{}",
            p[0]
        );
        assert!(
            p[1].starts_with(
                "prices.csv line 8: n has two rows with effective_from 2025-03-01 (the other is line 6); keep one"
            ),
            "{}",
            p[1]
        );
    }

    #[test]
    fn header_problems_are_reported_on_the_header_line() {
        let p = problems(
            "# prices\n\
             served_entity_name,effective_from,currency,input_price_per_1m,output_price_per_1m,discount,currency,\n\
             m,2025-01-01,USD,1,1,5,USD,\n",
        );
        let expected = [
            "prices.csv line 2: unknown column `discount`; remove or rename it (known columns: served_entity_name, effective_from,",
            "prices.csv line 2: column `currency` appears twice in the header; keep one",
            "prices.csv line 2: header cell 8 is empty;",
            "prices.csv line 2: missing required column `cached_input_price_per_1m`; add it to the header",
        ];
        assert_eq!(p.len(), expected.len(), "{p:#?}");
        for (got, want) in p.iter().zip(expected) {
            assert!(got.starts_with(want), "{got:?} should start with {want:?}");
        }
    }

    #[test]
    fn unknown_columns_do_not_stop_the_rows_being_checked() {
        let p = problems(&format!("{HEADER},note\nm,2025-01-01,USD,1,1,x,,,,hello\n"));
        assert_eq!(p.len(), 2, "{p:#?}");
        assert!(p[0].starts_with("prices.csv line 1: unknown column `note`"));
        assert!(p[1].starts_with("prices.csv line 2: output_price_per_1m `x` is not a number"));
    }

    #[test]
    fn a_file_without_header_is_reported() {
        for text in ["", "# only comments\n\n", "\u{feff}"] {
            let p = problems(text);
            assert_eq!(p.len(), 1);
            assert!(p[0].starts_with("prices.csv line 1: no header line; the first line that is not a comment must name the columns: served_entity_name,"));
        }
    }

    #[test]
    fn windows_line_endings_and_a_byte_order_mark_are_accepted() {
        let book = book(&format!("\u{feff}{HEADER}\r\nm,2025-01-01,USD,1,1,1,,,\r\n"));
        assert_eq!(book.rows()[0].line, 2);
    }

    #[test]
    fn all_problems_are_counted_but_at_most_fifty_listed() {
        let mut text = format!("{HEADER}\n");
        for i in 0..60 {
            text += &format!("m{i},2025-01-01,USD,1,1,-1,,,\n");
        }
        match PriceBook::from_csv_str(&text, "prices.csv") {
            Err(ConfigError::Invalid { count: 60, problems, .. }) => {
                assert_eq!(problems.len(), 50);
                assert!(problems[49].starts_with("prices.csv line 51:"));
            }
            other => panic!("{other:?}"),
        }
    }

    fn row(input: &str, cached: &str, output: &str, cache_write: Option<&str>) -> PriceRow {
        PriceRow {
            served_entity_name: "m".to_string(),
            effective_from: day("2025-01-01"),
            effective_to: None,
            currency: "USD".to_string(),
            input_per_1m: Some(dec(input)),
            cached_input_per_1m: Some(dec(cached)),
            output_per_1m: Some(dec(output)),
            cache_write_per_1m: cache_write.map(dec),
            pricing_mode: PricingMode::PerToken,
            retires_on: None,
            service_tier: ServiceTier::Standard,
            above_prompt_tokens: None,
            tier_multiplier: None,
            cache_write_1h_per_1m: None,
            input_audio_per_1m: None,
            output_audio_per_1m: None,
            reasoning_per_1m: None,
            web_search_per_1k: None,
            request_fee: None,
            provider: None,
            catalog_model: None,
            inference_geo: None,
            line: 2,
        }
    }

    #[test]
    fn request_cost_openai_style_cached_input() {
        // gpt-4o at 2.50 / 1.25 / 10.00: 1,200 prompt tokens of which 1,024 cached, 300 output.
        // (176 × 2.50 + 1024 × 1.25 + 300 × 10.00) / 10^6 = (440 + 1280 + 3000) / 10^6.
        let cost = request_cost(&row("2.50", "1.25", "10.00", None), 176, 1024, 0, 300).unwrap();
        assert_eq!(cost, dec("0.00472"));
        assert_eq!(cost.to_string(), "0.00472000", "scale = price scale 2 + 6");
    }

    #[test]
    fn request_cost_anthropic_cache_write_explicit_and_defaulted() {
        // claude-3-5-sonnet 3.00 / 0.30 / 15.00, cache write 3.75: 100 input, 2,000 cache read,
        // 1,000 cache write, 500 output: (300 + 600 + 3750 + 7500) / 10^6 = 0.01215.
        let sonnet = row("3.00", "0.30", "15.00", Some("3.75"));
        assert_eq!(request_cost(&sonnet, 100, 2000, 1000, 500), Some(dec("0.01215")));
        // Without a cache-write price the 1,000 tokens cost the input price: 3000 instead of 3750.
        let defaulted = row("3.00", "0.30", "15.00", None);
        assert_eq!(defaulted.cache_write_or_input(), Some(dec("3.00")));
        assert_eq!(request_cost(&defaulted, 100, 2000, 1000, 500), Some(dec("0.01140")));
    }

    #[test]
    fn request_cost_is_exact() {
        let cost = request_cost(&row("0.075", "0", "0", None), 1, 0, 0, 0).unwrap();
        assert_eq!(cost.to_string(), "0.000000075");
        let opus = request_cost(&row("15.00", "1.50", "75.00", None), 0, 0, 0, 200_000).unwrap();
        assert_eq!(opus.to_string(), "15.00000000");
        // Mixed scales: 3.375 (scale 3) with 0.3125 (scale 4) gives scale 4 + 6 = 10.
        let mixed = request_cost(&row("3.375", "0.3125", "0", None), 7, 13, 0, 0).unwrap();
        assert_eq!(mixed.to_string(), "0.0000276875"); // (23.625 + 4.0625) / 10^6
        // Big but realistic: a billion tokens of each kind at 4-decimal prices.
        let big = request_cost(
            &row("1.2345", "0.1234", "9.8765", Some("2.5")),
            1_000_000_000,
            1_000_000_000,
            1_000_000_000,
            1_000_000_000,
        );
        assert_eq!(big, Some(dec("13734.4")));
        assert_eq!(request_cost(&row("1", "1", "1", None), 0, 0, 0, 0), Some(Decimal::ZERO));
    }

    #[test]
    fn request_cost_never_panics_and_never_rounds() {
        let huge = row("79228162514264337593543950.335", "0", "0", None);
        assert_eq!(request_cost(&huge, i64::MAX, 0, 0, 0), None);
        let fine = row("0.0000000000000000000001", "0", "0", None); // scale 22 + 6 = 28: still exact
        assert_eq!(
            request_cost(&fine, 1, 0, 0, 0).map(|d| d.to_string()),
            Some("0.0000000000000000000000000001".to_string())
        );
        let too_fine = row("0.00000000000000000000001", "0", "0", None); // scale 23 + 6 > 28
        assert_eq!(request_cost(&too_fine, 1, 0, 0, 0), None);
        let max = row("9999", "9999", "9999", Some("9999"));
        assert!(request_cost(&max, i64::MAX, i64::MAX, i64::MAX, i64::MAX).is_some());
        assert!(request_cost(&max, i64::MIN, i64::MIN, i64::MIN, i64::MIN).is_some());
    }

    #[test]
    fn a_regional_premium_multiplies_the_rates_elsewhere_and_has_no_rates_of_its_own() {
        let header = "served_entity_name,effective_from,currency,input_price_per_1m,cached_input_price_per_1m,\
                      output_price_per_1m,tier_multiplier,inference_geo";
        let b = book(&format!("{header}\nm,2025-01-01,USD,3,0.3,15,,\nm,2025-01-01,USD,,,,1.1,US\n"));
        assert_eq!(b.geos(), vec!["us".to_string()]);
        let at = micros("2025-02-01T00:00:00Z");
        let us = b.resolve_geo("m", ServiceTier::Standard, 0, "us", at).unwrap();
        assert_eq!((us.input_per_1m, us.output_per_1m), (Some(dec("3.3")), Some(dec("16.5"))));
        assert_eq!(us.version(), "m@2025-01-01~us");
        let eu = b.resolve_geo("m", ServiceTier::Standard, 0, "eu", at).unwrap();
        assert_eq!((eu.input_per_1m, eu.version()), (Some(dec("3")), "m@2025-01-01".to_string()));
        let p = problems(&format!("{header}\nm,2025-01-01,USD,3,0.3,15,,\nm,2025-01-01,USD,4,,,1.1,us\n"));
        assert!(p[0].starts_with("prices.csv line 3: inference_geo us makes the row a regional premium"), "{p:?}");
    }

    #[test]
    fn canonical_text_ignores_formatting_but_not_prices() {
        let a = book(&format!(
            "# a comment\n{HEADER}\nm,2025-01-01,USD,2.50,1.250,10,,,\nb,2025-01-01,USD,1,1,1,,provisioned,2026-01-01\n"
        ));
        let b = book(
            "currency,served_entity_name,effective_from,input_price_per_1m,cached_input_price_per_1m,output_price_per_1m,pricing_mode,retires_on\n\
             USD,b,2025-01-01,1.0,1,1.00,provisioned,2026-01-01\n\
             \n\
             USD,m,2025-01-01,2.5,1.25,10.00,per_token,\n",
        );
        assert_eq!(a.canonical_text(), b.canonical_text());
        assert_eq!(
            a.canonical_text(),
            "served_entity_name,effective_from,effective_to,currency,input_price_per_1m,cached_input_price_per_1m,\
             output_price_per_1m,cache_write_price_per_1m,pricing_mode,retires_on\n\
             b,2025-01-01,,USD,1,1,1,,provisioned,2026-01-01\n\
             m,2025-01-01,,USD,2.5,1.25,10,,per_token,\n"
        );
        let c = book(&format!(
            "{HEADER}\nm,2025-01-01,USD,2.51,1.25,10,,,\nb,2025-01-01,USD,1,1,1,,provisioned,2026-01-01\n"
        ));
        assert_ne!(a.canonical_text(), c.canonical_text());
        let quoted = book(&format!("{HEADER}\n\"we,ird\"\"name\",2025-01-01,USD,1,1,1,,,\n"));
        assert!(quoted.canonical_text().ends_with("\n\"we,ird\"\"name\",2025-01-01,,USD,1,1,1,,per_token,\n"));
    }

    #[test]
    fn load_reads_a_file_and_names_it_in_errors() {
        let dir = std::env::temp_dir().join(format!("tokenledger-pricing-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("prices.csv");
        std::fs::write(&path, format!("{HEADER}\nm,2025-01-01,USD,1,1,1,,,\n")).unwrap();
        assert_eq!(PriceBook::load(&ConfigFile::from_path(&path).unwrap()).unwrap().rows().len(), 1);
        std::fs::write(&path, format!("{HEADER}\nm,2025-01-01,USD,1,1,-1,,,\n")).unwrap();
        let err = PriceBook::load(&ConfigFile::from_path(&path).unwrap()).unwrap_err().to_string();
        assert!(err.contains(&format!("{} line 2: output_price_per_1m", path.display())), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
        let missing = PriceBook::load(&ConfigFile::from_path(&dir.join("nope.csv")).unwrap()).unwrap_err();
        assert!(matches!(missing, ConfigError::Io { .. }));
        assert!(missing.to_string().starts_with("cannot read "), "{missing}");
    }
}
