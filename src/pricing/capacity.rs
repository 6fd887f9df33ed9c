//! `config/capacity.csv`: provisioned-throughput pools, reserved capacity paid by the hour
//! whether used or not.


use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::{Column, ConfigError, Header, Line, Problems, Row, parse_currency, parse_date, parse_price, parse_text, ConfigFile, read_table};

const POOL: &str = "pool";
const ENDPOINT: &str = "endpoint_name";
const ENTITY: &str = "served_entity_name";
const COST: &str = "cost_per_hour";
const CURRENCY: &str = "currency";
const FROM: &str = "effective_from";
const TO: &str = "effective_to";
const OWNER: &str = "owner_group";

const COLUMNS: &[Column] = &[
    Column { name: POOL, required: true },
    Column { name: ENDPOINT, required: false },
    Column { name: ENTITY, required: false },
    Column { name: COST, required: true },
    Column { name: CURRENCY, required: true },
    Column { name: FROM, required: true },
    Column { name: TO, required: false },
    Column { name: OWNER, required: true },
];

/// One pool: the traffic of an endpoint and/or served entity, for a rate per hour.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Pool {
    pub pool: String,
    /// The endpoint whose traffic the pool serves (any endpoint when `None`).
    pub endpoint_name: Option<String>,
    /// The served entity whose traffic the pool serves (any when `None`).
    pub served_entity_name: Option<String>,
    pub cost_per_hour: Decimal,
    pub currency: String,
    pub effective_from: NaiveDate,
    /// Exclusive; open-ended when `None`.
    pub effective_to: Option<NaiveDate>,
    /// Who pays the hours without traffic.
    pub owner_group: String,
    pub line: usize,
}

/// Every pool of the file.
#[derive(Debug, Clone, Default)]
pub struct Capacity {
    pub pools: Vec<Pool>,
}

impl Capacity {
    pub fn from_csv_str(text: &str, file_label: &str) -> Result<Self, ConfigError> {
        let mut problems = Problems::new(file_label);
        let Some((header, lines)) = read_table(text, COLUMNS, &mut problems) else {
            return problems.into_result(Self::default());
        };
        let pools: Vec<Pool> = lines.iter().filter_map(|line| parse_row(&header, line, &mut problems)).collect();
        let mut seen = std::collections::HashMap::new();
        for p in &pools {
            if let Some(first) = seen.insert(p.pool.clone(), p.line) {
                problems.at(p.line, format!("pool `{}` is already defined on line {first}; give each pool one row", p.pool));
            }
        }
        problems.into_result(Self { pools })
    }

    /// Reads and validates the pools in `file`; a missing file is no pools.
    pub fn load(file: &ConfigFile) -> Result<Self, ConfigError> {
        file.parse_or_default(Self::from_csv_str)
    }
}

fn parse_row(header: &Header, line: &Line, problems: &mut Problems) -> Option<Pool> {
    let mut row = Row::new(header, line, problems)?;
    let pool = row.required(POOL, parse_text);
    let endpoint = row.optional(ENDPOINT, parse_text);
    let entity = row.optional(ENTITY, parse_text);
    let cost = row.required(COST, parse_price);
    let currency = row.required(CURRENCY, parse_currency);
    let from = row.required(FROM, parse_date);
    let to = row.optional(TO, parse_date);
    let owner = row.required(OWNER, parse_text);
    let (Ok(pool), Ok(endpoint_name), Ok(served_entity_name), Ok(cost_per_hour), Ok(currency), Ok(effective_from), Ok(effective_to), Ok(owner_group)) =
        (pool, endpoint, entity, cost, currency, from, to, owner)
    else {
        return None;
    };
    if endpoint_name.is_none() && served_entity_name.is_none() {
        row.problem(format!("{ENDPOINT} and {ENTITY} are both empty; say which traffic the pool serves"));
        return None;
    }
    if effective_to.is_some_and(|to| to <= effective_from) {
        row.problem(format!("{TO} is not after {FROM}; make it later or leave it empty"));
        return None;
    }
    Some(Pool { pool, endpoint_name, served_entity_name, cost_per_hour, currency, effective_from, effective_to, owner_group, line: row.number() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_has_no_live_pool_and_the_sample_parses() {
        let template = Capacity::from_csv_str(include_str!("../warehouse/templates/capacity.csv"), "capacity.csv").unwrap();
        assert!(template.pools.is_empty());
        let text = "pool,endpoint_name,served_entity_name,cost_per_hour,currency,effective_from,effective_to,owner_group\n\
                    p,ep,,24.00,USD,2025-01-01,,ml\n";
        let c = Capacity::from_csv_str(text, "capacity.csv").unwrap();
        assert_eq!((c.pools[0].served_entity_name.clone(), c.pools[0].cost_per_hour), (None, Decimal::from(24)));
    }

    #[test]
    fn mistakes_are_listed_with_their_lines() {
        let text = "pool,endpoint_name,served_entity_name,cost_per_hour,currency,effective_from,effective_to,owner_group\n\
                    p,,,1,USD,2025-01-01,,ml\n\
                    q,ep,,-1,USD,2025-01-01,,ml\n\
                    r,ep,,1,USD,2025-02-01,2025-01-01,ml\n\
                    s,ep,,1,USD,2025-01-01,,ml\n\
                    s,ep2,,1,USD,2025-01-01,,ml\n";
        let err = Capacity::from_csv_str(text, "capacity.csv").unwrap_err().to_string();
        for want in ["line 2: endpoint_name and served_entity_name", "line 3: cost_per_hour `-1`", "line 4: effective_to", "line 6: pool `s`"] {
            assert!(err.contains(want), "{want} in\n{err}");
        }
    }
}
