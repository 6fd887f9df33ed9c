//! `config/budgets.csv`: how much a group, cost center or requester may spend per month or
//! quarter, and the percentages at which someone should hear about it.

use rust_decimal::Decimal;

use super::{
    Column, ConfigError, ConfigFile, Header, Line, Problems, Row, parse_currency, parse_price, parse_text, read_table,
};

const SCOPE: &str = "scope";
const NAME: &str = "name";
const PERIOD: &str = "period";
const AMOUNT: &str = "amount";
const CURRENCY: &str = "currency";
const THRESHOLDS: &str = "thresholds";

const COLUMNS: &[Column] = &[
    Column { name: SCOPE, required: true },
    Column { name: NAME, required: true },
    Column { name: PERIOD, required: true },
    Column { name: AMOUNT, required: true },
    Column { name: CURRENCY, required: true },
    Column { name: THRESHOLDS, required: false },
];

/// What a budget is for: the usage tables' column it filters on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BudgetScope {
    Group,
    CostCenter,
    Requester,
}

impl BudgetScope {
    /// The usage tables' column.
    pub fn column(self) -> &'static str {
        match self {
            BudgetScope::Group => "group",
            BudgetScope::CostCenter => "cost_center",
            BudgetScope::Requester => "requester",
        }
    }
}

/// How long a budget's amount lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BudgetPeriod {
    Monthly,
    Quarterly,
}

/// One row of `budgets.csv`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Budget {
    pub scope: BudgetScope,
    pub name: String,
    pub period: BudgetPeriod,
    pub amount: Decimal,
    pub currency: String,
    /// Percentages of `amount`, ascending (100 when the file gives none).
    pub thresholds: Vec<Decimal>,
    /// Physical line in the file.
    pub line: usize,
}

/// Every budget of the file, in file order.
#[derive(Debug, Clone, Default)]
pub struct Budgets {
    pub rows: Vec<Budget>,
}

impl Budgets {
    pub fn from_csv_str(text: &str, file_label: &str) -> Result<Self, ConfigError> {
        let mut problems = Problems::new(file_label);
        let Some((header, lines)) = read_table(text, COLUMNS, &mut problems) else {
            return problems.into_result(Self::default());
        };
        let rows: Vec<Budget> = lines.iter().filter_map(|line| parse_row(&header, line, &mut problems)).collect();
        let mut seen = std::collections::HashMap::new();
        for b in &rows {
            if let Some(first) = seen.insert((b.scope, b.name.clone(), b.period, b.currency.clone()), b.line) {
                problems.at(
                    b.line,
                    format!("repeats the budget of line {first} (same scope, name, period and currency); keep one"),
                );
            }
        }
        problems.into_result(Self { rows })
    }

    /// Reads and validates the budgets in `file`; a missing file is no budgets.
    pub fn load(file: &ConfigFile) -> Result<Self, ConfigError> {
        file.parse_or_default(Self::from_csv_str)
    }
}

fn parse_scope(text: &str) -> Result<BudgetScope, String> {
    match text {
        "group" => Ok(BudgetScope::Group),
        "cost_center" => Ok(BudgetScope::CostCenter),
        "requester" => Ok(BudgetScope::Requester),
        _ => Err("is not a scope; use group, cost_center or requester".into()),
    }
}

fn parse_period(text: &str) -> Result<BudgetPeriod, String> {
    match text {
        "monthly" => Ok(BudgetPeriod::Monthly),
        "quarterly" => Ok(BudgetPeriod::Quarterly),
        _ => Err("is not a period; use monthly or quarterly".into()),
    }
}

/// `50;80;100`: positive percentages.
fn parse_thresholds(text: &str) -> Result<Vec<Decimal>, String> {
    let mut values = text
        .split(';')
        .map(|t| match parse_price(t.trim()) {
            Ok(p) if p > Decimal::ZERO => Ok(p),
            _ => Err(format!("has `{}`, not a percentage above 0; write them like 50;80;100", t.trim())),
        })
        .collect::<Result<Vec<_>, _>>()?;
    values.sort();
    values.dedup();
    Ok(values)
}

fn parse_row(header: &Header, line: &Line, problems: &mut Problems) -> Option<Budget> {
    let mut row = Row::new(header, line, problems)?;
    let scope = row.required(SCOPE, parse_scope);
    let name = row.required(NAME, parse_text);
    let period = row.required(PERIOD, parse_period);
    let amount = row.required(AMOUNT, parse_price);
    let currency = row.required(CURRENCY, parse_currency);
    let thresholds = row.optional(THRESHOLDS, parse_thresholds);
    let (Ok(scope), Ok(name), Ok(period), Ok(amount), Ok(currency), Ok(thresholds)) =
        (scope, name, period, amount, currency, thresholds)
    else {
        return None;
    };
    Some(Budget {
        scope,
        name,
        period,
        amount,
        currency,
        thresholds: thresholds.unwrap_or_else(|| vec![Decimal::ONE_HUNDRED]),
        line: row.number(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_and_the_sample_parse() {
        let template =
            Budgets::from_csv_str(include_str!("../warehouse/templates/budgets.csv"), "budgets.csv").unwrap();
        assert_eq!(template.rows.len(), 2);
        assert_eq!(template.rows[1].scope, BudgetScope::CostCenter);
        assert_eq!(template.rows[1].period, BudgetPeriod::Quarterly);
        assert_eq!(template.rows[0].thresholds, vec![Decimal::from(50), Decimal::from(80), Decimal::from(100)]);
    }

    #[test]
    fn mistakes_are_listed_with_their_lines() {
        let text = "scope,name,period,amount,currency,thresholds\n\
                    team,x,monthly,10,USD,50\n\
                    group,x,weekly,10,USD,50\n\
                    group,x,monthly,-3,USD,50\n\
                    group,y,monthly,10,usd,0;50\n\
                    group,z,monthly,10,USD,\n\
                    group,z,monthly,20,USD,\n";
        let err = Budgets::from_csv_str(text, "budgets.csv").unwrap_err().to_string();
        for want in [
            "line 2: scope `team`",
            "line 3: period `weekly`",
            "line 4: amount `-3`",
            "line 5: currency `usd`",
            "line 5: thresholds",
            "line 7: repeats the budget of line 6",
        ] {
            assert!(err.contains(want), "{want} in\n{err}");
        }
    }
}
