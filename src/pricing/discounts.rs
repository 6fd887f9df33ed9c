//! Negotiated discounts (`config/discounts.csv`, optional): a percentage off the list price of a
//! provider's entities, or of one served entity, effective-dated. The usage tables carry both
//! `list_cost` (the price book's) and `cost` (after the discount), which is what is charged back
//! and what FOCUS reports as EffectiveCost next to ListCost. See the module docs of
//! [`crate::pricing`] for the file conventions.
//!
//! When two discounts cover a request, the one naming its served entity wins over the one
//! naming only its provider; two of the same kind at once are refused.

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::{
    Column, ConfigError, ConfigFile, Header, Line, Problems, Row, parse_date, parse_price, parse_text, read_table,
};

const PROVIDER: &str = "provider";
const SERVED_ENTITY_NAME: &str = "served_entity_name";
const EFFECTIVE_FROM: &str = "effective_from";
const EFFECTIVE_TO: &str = "effective_to";
const PERCENT: &str = "percent";
const NOTE: &str = "note";

const COLUMNS: &[Column] = &[
    Column { name: PROVIDER, required: false },
    Column { name: SERVED_ENTITY_NAME, required: false },
    Column { name: EFFECTIVE_FROM, required: true },
    Column { name: EFFECTIVE_TO, required: false },
    Column { name: PERCENT, required: true },
    Column { name: NOTE, required: false },
];

/// Decimal places a percentage may have: 12.5 % is 0.875 of the list price, four places at most,
/// so that a discounted per-token price stays exact in the usage tables' decimals.
const MAX_PERCENT_SCALE: u32 = 2;

/// One validated discount.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Discount {
    /// The provider it applies to (the `provider` of the requests); `None`: any.
    pub provider: Option<String>,
    /// The served entity it applies to; `None`: every entity of the provider.
    pub served_entity_name: Option<String>,
    pub effective_from: NaiveDate,
    pub effective_to: Option<NaiveDate>,
    /// Percent off the list price, e.g. 15 for 15 %.
    pub percent: Decimal,
    pub line: usize,
}

impl Discount {
    /// What is paid of the list price: 1 - percent / 100, exact.
    pub fn factor(&self) -> Decimal {
        Decimal::ONE - self.percent / Decimal::ONE_HUNDRED
    }

    /// A name for the discount in exports: `anthropic/claude-sonnet-4@2025-01-01 -15%`.
    pub fn id(&self) -> String {
        format!(
            "{}/{}@{} -{}%",
            self.provider.as_deref().unwrap_or("*"),
            self.served_entity_name.as_deref().unwrap_or("*"),
            self.effective_from,
            self.percent.normalize()
        )
    }

    fn key(&self) -> (Option<&str>, Option<&str>) {
        (self.provider.as_deref(), self.served_entity_name.as_deref())
    }
}

/// The validated discounts, sorted by (provider, served entity, effective_from).
#[derive(Clone, Debug, Default)]
pub struct Discounts {
    rows: Vec<Discount>,
}

impl Discounts {
    /// Parses and validates discounts; `file_label` names the file in messages.
    pub fn from_csv_str(text: &str, file_label: &str) -> Result<Self, ConfigError> {
        let mut problems = Problems::new(file_label);
        let Some((header, lines)) = read_table(text, COLUMNS, &mut problems) else {
            return problems.into_result(Self::default());
        };
        let mut rows: Vec<Discount> = lines.iter().filter_map(|l| parse_row(&header, l, &mut problems)).collect();
        rows.sort_by(|a, b| (a.key(), a.effective_from).cmp(&(b.key(), b.effective_from)));
        for pair in rows.windows(2) {
            let [a, b] = pair else { continue };
            let overlaps = a.key() == b.key() && a.effective_to.is_none_or(|to| to > b.effective_from);
            if overlaps {
                problems.at(
                    b.line,
                    format!(
                        "this discount overlaps the one on line {} for the same provider and entity; end that one \
                         with {EFFECTIVE_TO} {} or earlier",
                        a.line, b.effective_from
                    ),
                );
            }
        }
        problems.into_result(Self { rows })
    }

    /// The discounts in `file`; none when the file is absent (discounts are optional).
    pub fn load(file: &ConfigFile) -> Result<Self, ConfigError> {
        file.parse_or_default(Self::from_csv_str)
    }

    pub fn rows(&self) -> &[Discount] {
        &self.rows
    }

    /// The discount that covers a request of `served_entity_name` from `provider` at
    /// `at_micros`: the entity's own before the provider's.
    pub fn find(&self, provider: Option<&str>, served_entity_name: &str, at_micros: i64) -> Option<&Discount> {
        let covers = |d: &&Discount| {
            crate::time::date_start_micros(d.effective_from) <= at_micros
                && d.effective_to.is_none_or(|to| at_micros < crate::time::date_start_micros(to))
                && d.provider.as_deref().is_none_or(|p| Some(p) == provider)
        };
        let own = self.rows.iter().filter(covers).find(|d| d.served_entity_name.as_deref() == Some(served_entity_name));
        own.or_else(|| self.rows.iter().filter(covers).find(|d| d.served_entity_name.is_none()))
    }
}

fn parse_percent(text: &str) -> Result<Decimal, String> {
    let p = parse_price(text)?;
    if p.is_zero() || p >= Decimal::ONE_HUNDRED {
        return Err("is not a percentage between 0 and 100 (exclusive); write e.g. 15 for 15 %".into());
    }
    if p.normalize().scale() > MAX_PERCENT_SCALE {
        return Err(format!("has more than {MAX_PERCENT_SCALE} decimal places; round it, e.g. 12.5"));
    }
    Ok(p)
}

fn parse_row(header: &Header, line: &Line, problems: &mut Problems) -> Option<Discount> {
    let mut row = Row::new(header, line, problems)?;
    let provider = row.optional(PROVIDER, parse_text);
    let entity = row.optional(SERVED_ENTITY_NAME, parse_text);
    let from = row.required(EFFECTIVE_FROM, parse_date);
    let to = row.optional(EFFECTIVE_TO, parse_date);
    let percent = row.required(PERCENT, parse_percent);
    let _note = row.optional(NOTE, parse_text);
    if let (Ok(None), Ok(None)) = (&provider, &entity) {
        row.problem(format!("names neither a {PROVIDER} nor a {SERVED_ENTITY_NAME}; give one or both"));
        return None;
    }
    if let (Ok(from), Ok(Some(to))) = (&from, &to)
        && to <= from
    {
        row.problem(format!(
            "{EFFECTIVE_TO} {to} is not after {EFFECTIVE_FROM} {from}; make it later or leave it empty"
        ));
        return None;
    }
    Some(Discount {
        provider: provider.ok()?,
        served_entity_name: entity.ok()?,
        effective_from: from.ok()?,
        effective_to: to.ok()?,
        percent: percent.ok()?,
        line: row.number(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn micros(day: &str) -> i64 {
        crate::time::date_start_micros(NaiveDate::parse_from_str(day, "%Y-%m-%d").unwrap())
    }

    #[test]
    fn the_entity_discount_wins_over_the_providers_and_periods_end() {
        let d = Discounts::from_csv_str(
            "provider,served_entity_name,effective_from,effective_to,percent,note\n\
             anthropic,,2025-01-01,,10,enterprise agreement\n\
             anthropic,claude-sonnet-4,2025-03-01,2025-04-01,15,\n",
            "discounts.csv",
        )
        .unwrap();
        let at = |e: &str, day: &str| d.find(Some("anthropic"), e, micros(day)).map(|d| d.factor().to_string());
        assert_eq!(at("claude-sonnet-4", "2025-02-01").as_deref(), Some("0.90"));
        assert_eq!(at("claude-sonnet-4", "2025-03-15").as_deref(), Some("0.85"));
        assert_eq!(at("claude-sonnet-4", "2025-04-01").as_deref(), Some("0.90"));
        assert_eq!(at("claude-haiku", "2025-03-15").as_deref(), Some("0.90"));
        assert_eq!(d.find(Some("openai"), "gpt-4o", micros("2025-03-15")), None);
        assert_eq!(d.find(None, "claude-sonnet-4", micros("2025-03-15")), None, "the provider must match");
    }

    #[test]
    fn bad_rows_are_reported_with_their_lines() {
        let err = Discounts::from_csv_str(
            "provider,served_entity_name,effective_from,percent\n\
             ,,2025-01-01,10\n\
             openai,,2025-01-01,100\n\
             openai,,2025-01-01,12.345\n\
             azure,,2025-01-01,5\n\
             azure,,2025-02-01,6\n",
            "discounts.csv",
        )
        .unwrap_err()
        .to_string();
        for want in [
            "discounts.csv line 2: names neither a provider nor a served_entity_name",
            "discounts.csv line 3: percent `100` is not a percentage between 0 and 100",
            "discounts.csv line 4: percent `12.345` has more than 2 decimal places",
            "discounts.csv line 6: this discount overlaps the one on line 5",
        ] {
            assert!(err.contains(want), "{want}\n{err}");
        }
        assert!(Discounts::load(&ConfigFile { name: "discounts.csv".into(), text: None }).unwrap().rows().is_empty());
    }
}
