//! The price book (`config/prices.csv`): what a million tokens of each served entity cost, and
//! since when. See the module docs of [`crate::pricing`] for the file conventions.

use std::collections::HashMap;
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

/// One validated row of the price book: the prices of one served entity from one date.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PriceRow {
    pub served_entity_name: String,
    /// First day the price applies (inclusive, from 00:00 UTC).
    pub effective_from: NaiveDate,
    /// First day it no longer applies (exclusive); `None`: until the entity's next row, if any.
    pub effective_to: Option<NaiveDate>,
    /// Three uppercase letters, e.g. `USD`.
    pub currency: String,
    /// Price of one million uncached input tokens.
    pub input_per_1m: Decimal,
    /// Price of one million cache-read input tokens.
    pub cached_input_per_1m: Decimal,
    /// Price of one million output tokens (reasoning included).
    pub output_per_1m: Decimal,
    /// Price of one million cache-creation tokens; `None` (empty cell) means the input price, see
    /// [`PriceRow::cache_write_or_input`].
    pub cache_write_per_1m: Option<Decimal>,
    pub pricing_mode: PricingMode,
    /// When the model is retired; informational, it does not end the price.
    pub retires_on: Option<NaiveDate>,
    /// Physical line in the file (1-based), for messages.
    pub line: usize,
}

impl PriceRow {
    /// The cache-write price, falling back to the input price as providers without a separate
    /// cache-creation price bill those tokens as input.
    pub fn cache_write_or_input(&self) -> Decimal {
        self.cache_write_per_1m.unwrap_or(self.input_per_1m)
    }

    /// A stable identifier of this price version, `<served_entity_name>@<effective_from>`
    /// (e.g. `gpt-4o@2025-03-01`), stored with the costs it produced so re-rating is traceable.
    pub fn version(&self) -> String {
        format!("{}@{}", self.served_entity_name, self.effective_from)
    }

    /// The largest number of decimal places among this row's prices.
    fn price_scale(&self) -> u32 {
        [self.input_per_1m, self.cached_input_per_1m, self.output_per_1m, self.cache_write_or_input()]
            .iter()
            .map(Decimal::scale)
            .max()
            .unwrap_or(0)
    }
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
/// `None` when the exact result cannot be represented (more than 28 decimal places or 96 bits of
/// mantissa, which takes absurd token counts or prices): the caller must treat that as an error,
/// not as zero. Negative token counts are computed as given; rejecting them is ingest's job.
pub fn request_cost(row: &PriceRow, input: i64, cache_read: i64, cache_write: i64, output: i64) -> Option<Decimal> {
    let terms = [
        (input, row.input_per_1m),
        (cache_read, row.cached_input_per_1m),
        (cache_write, row.cache_write_or_input()),
        (output, row.output_per_1m),
    ];
    let scale = row.price_scale();
    let mut sum: i128 = 0;
    for (tokens, price) in terms {
        // price = mantissa / 10^price.scale(); bring every price to the common scale exactly.
        let to_common_scale = 10_i128.checked_pow(scale.checked_sub(price.scale())?)?;
        let mantissa = price.mantissa().checked_mul(to_common_scale)?;
        sum = sum.checked_add(i128::from(tokens).checked_mul(mantissa)?)?;
    }
    Decimal::try_from_i128_with_scale(sum, scale.checked_add(PER_MILLION_SCALE)?).ok()
}

/// The validated price book: rows sorted by (`served_entity_name`, `effective_from`), periods that do not
/// overlap.
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
        rows.sort_by(|a, b| {
            (a.served_entity_name.as_str(), a.effective_from).cmp(&(b.served_entity_name.as_str(), b.effective_from))
        });
        check_periods(&rows, &mut problems);
        let by_entity = index_by(&rows, |r| r.served_entity_name.as_str());
        problems.into_result(Self { rows, by_entity })
    }

    /// Reads and validates the price book in `file` (messages name it).
    pub fn load(file: &ConfigFile) -> Result<Self, ConfigError> {
        file.parse(Self::from_csv_str)
    }

    /// All rows, sorted by (`served_entity_name`, `effective_from`).
    pub fn rows(&self) -> &[PriceRow] {
        &self.rows
    }

    /// The row in force for `served_entity_name` at `at_micros` (UTC microseconds since the
    /// epoch): the latest row whose `effective_from` is at or before that instant, unless its
    /// `effective_to` has passed. `None` means unpriced, which must never be read as free.
    pub fn price_at(&self, served_entity_name: &str, at_micros: i64) -> Option<&PriceRow> {
        let rows = self.rows.get(self.by_entity.get(served_entity_name)?.clone())?;
        let started = rows.partition_point(|r| date_start_micros(r.effective_from) <= at_micros);
        let row = rows.get(started.checked_sub(1)?)?;
        match row.effective_to {
            Some(to) if at_micros >= date_start_micros(to) => None,
            _ => Some(row),
        }
    }

    /// Every row with the day its period ends (exclusive): its `effective_to`, else the entity's
    /// next `effective_from`, else `None` (open). For building a range-join table of prices.
    pub fn periods(&self) -> impl Iterator<Item = (&PriceRow, Option<NaiveDate>)> + '_ {
        self.rows.iter().enumerate().map(|(i, row)| {
            let next_from = self
                .rows
                .get(i + 1)
                .filter(|next| next.served_entity_name == row.served_entity_name)
                .map(|next| next.effective_from);
            // Validation guarantees effective_to <= the next start; `min` keeps this true anyway.
            let end = match (row.effective_to, next_from) {
                (Some(to), Some(next)) => Some(to.min(next)),
                (to, next) => to.or(next),
            };
            (row, end)
        })
    }

    /// The most decimal places of any price in the book. [`request_cost`] results have this
    /// scale + 6, so a fixed-scale decimal column of scale s holds every cost exactly when this is
    /// at most s - 6.
    pub fn max_price_scale(&self) -> u32 {
        self.rows.iter().map(PriceRow::price_scale).max().unwrap_or(0)
    }

    /// A deterministic rendering of the validated rows, for the caller to hash as the price book's
    /// identity. It depends only on the prices, not on comments, column order, line numbers or
    /// how a number was written (`2.5` and `2.50` render alike), so reformatting the file keeps
    /// the identity while any change that could alter a cost changes it.
    pub fn canonical_text(&self) -> String {
        let mut text = COLUMNS.iter().map(|c| c.name).collect::<Vec<_>>().join(",");
        text.push('\n');
        let date = |d: Option<NaiveDate>| d.map(|d| d.to_string()).unwrap_or_default();
        let price = |p: Decimal| p.normalize().to_string();
        for r in &self.rows {
            // Same order as COLUMNS.
            let _ = writeln!(
                text,
                "{},{},{},{},{},{},{},{},{},{}",
                csv_cell(&r.served_entity_name),
                r.effective_from,
                date(r.effective_to),
                r.currency,
                price(r.input_per_1m),
                price(r.cached_input_per_1m),
                price(r.output_per_1m),
                r.cache_write_per_1m.map(price).unwrap_or_default(),
                r.pricing_mode,
                date(r.retires_on),
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
    let input = row.required(INPUT_PRICE, parse_price);
    let cached = row.required(CACHED_INPUT_PRICE, parse_price);
    let output = row.required(OUTPUT_PRICE, parse_price);
    let cache_write = row.optional(CACHE_WRITE_PRICE, parse_price);
    let mode = row.optional(PRICING_MODE, PricingMode::parse_cell);
    let retires_on = row.optional(RETIRES_ON, parse_date);
    if let (Ok(from), Ok(Some(to))) = (&from, &to)
        && to <= from
    {
        row.problem(format!(
            "{EFFECTIVE_TO} {to} is not after {EFFECTIVE_FROM} {from}; make it later or leave it empty"
        ));
        return None;
    }
    let (
        Ok(entity),
        Ok(from),
        Ok(to),
        Ok(currency),
        Ok(input),
        Ok(cached),
        Ok(output),
        Ok(cache_write),
        Ok(mode),
        Ok(retires_on),
    ) = (entity, from, to, currency, input, cached, output, cache_write, mode, retires_on)
    else {
        return None;
    };
    Some(PriceRow {
        served_entity_name: entity,
        effective_from: from,
        effective_to: to,
        currency,
        input_per_1m: input,
        cached_input_per_1m: cached,
        output_per_1m: output,
        cache_write_per_1m: cache_write,
        pricing_mode: mode.unwrap_or_default(),
        retires_on,
        line: row.number(),
    })
}

/// Reports rows of one entity whose periods overlap. `rows` is sorted by (entity, from), and a
/// row without `effective_to` ends where the next begins, so only neighbours can collide.
fn check_periods(rows: &[PriceRow], problems: &mut Problems) {
    for pair in rows.windows(2) {
        let [earlier, later] = pair else { continue };
        if earlier.served_entity_name != later.served_entity_name {
            continue;
        }
        if earlier.effective_from == later.effective_from {
            problems.at(
                later.line,
                format!(
                    "{} has two rows with {EFFECTIVE_FROM} {} (the other is line {}); keep one",
                    later.served_entity_name, later.effective_from, earlier.line
                ),
            );
        } else if let Some(to) = earlier.effective_to
            && to > later.effective_from
        {
            problems.at(
                earlier.line,
                format!(
                    "{EFFECTIVE_TO} {to} runs past {}, when the row on line {} for {} starts; \
                     set {EFFECTIVE_TO} to {} or earlier (or leave it empty to end at the next row)",
                    later.effective_from, later.line, later.served_entity_name, later.effective_from
                ),
            );
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
        assert_eq!((gpt.input_per_1m, gpt.line), (dec("2.00"), 9));
        assert_eq!(gpt.cache_write_or_input(), dec("2.00"));
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
        assert_eq!(book.price_at("m", micros("2025-06-01T00:00:00Z")).unwrap().input_per_1m, dec("1.00"));
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
        assert_eq!((row.currency.as_str(), row.output_per_1m, row.input_per_1m), ("EUR", dec("8.00"), dec("2.00")));
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
            input_per_1m: dec(input),
            cached_input_per_1m: dec(cached),
            output_per_1m: dec(output),
            cache_write_per_1m: cache_write.map(dec),
            pricing_mode: PricingMode::PerToken,
            retires_on: None,
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
        assert_eq!(defaulted.cache_write_or_input(), dec("3.00"));
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
