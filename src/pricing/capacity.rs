//! `config/capacity.csv`: provisioned-throughput pools, reserved capacity paid by the hour
//! whether used or not.
//!
//! Rows follow the price book's rule: a row for an endpoint / served entity applies from its
//! `effective_from` until its `effective_to` or, when that is empty, until the next row for the
//! same endpoint and served entity begins (a rate change is a new row). Two rows that would
//! serve the same traffic in the same hour are refused: each hour of traffic has one pool, so
//! its rate is charged once and its pooled per-token cost taken off the usage lines once.

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::{
    Column, ConfigError, ConfigFile, Header, Line, Problems, Row, parse_currency, parse_date, parse_price, parse_text,
    read_table,
};

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
    /// Exclusive; open-ended when `None`. An empty `effective_to` in the file is filled in with
    /// the next row's `effective_from` for the same endpoint and served entity.
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
        let mut pools: Vec<Pool> = lines.iter().filter_map(|line| parse_row(&header, line, &mut problems)).collect();
        let mut seen = std::collections::HashMap::new();
        for p in &pools {
            if let Some(first) = seen.insert(p.pool.clone(), p.line) {
                problems.at(
                    p.line,
                    format!("pool `{}` is already defined on line {first}; give each pool one row", p.pool),
                );
            }
        }
        end_open_rows_at_the_next(&mut pools);
        check_overlaps(&pools, &mut problems);
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
    let (
        Ok(pool),
        Ok(endpoint_name),
        Ok(served_entity_name),
        Ok(cost_per_hour),
        Ok(currency),
        Ok(effective_from),
        Ok(effective_to),
        Ok(owner_group),
    ) = (pool, endpoint, entity, cost, currency, from, to, owner)
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
    Some(Pool {
        pool,
        endpoint_name,
        served_entity_name,
        cost_per_hour,
        currency,
        effective_from,
        effective_to,
        owner_group,
        line: row.number(),
    })
}

/// Gives each row without `effective_to` the `effective_from` of the next row for the same
/// endpoint and served entity (the price book's rule), keeping the file's order.
fn end_open_rows_at_the_next(pools: &mut [Pool]) {
    let mut order: Vec<usize> = (0..pools.len()).collect();
    order.sort_by(|&a, &b| {
        let key = |p: &Pool| (p.endpoint_name.clone(), p.served_entity_name.clone(), p.effective_from, p.line);
        key(&pools[a]).cmp(&key(&pools[b]))
    });
    for pair in order.windows(2) {
        let (earlier, later) = (pair[0], pair[1]);
        let same_traffic = pools[earlier].endpoint_name == pools[later].endpoint_name
            && pools[earlier].served_entity_name == pools[later].served_entity_name;
        if same_traffic
            && pools[earlier].effective_to.is_none()
            && pools[earlier].effective_from < pools[later].effective_from
        {
            pools[earlier].effective_to = Some(pools[later].effective_from);
        }
    }
}

/// Whether two pools could serve one request: each names an endpoint and/or a served entity,
/// and an empty one matches any.
fn same_traffic(a: &Pool, b: &Pool) -> bool {
    let meets = |x: &Option<String>, y: &Option<String>| x.is_none() || y.is_none() || x == y;
    meets(&a.endpoint_name, &b.endpoint_name) && meets(&a.served_entity_name, &b.served_entity_name)
}

/// Reports pairs of pools that would serve the same traffic on the same day.
fn check_overlaps(pools: &[Pool], problems: &mut Problems) {
    let until = |p: &Pool| p.effective_to.map_or("open".to_string(), |d| format!("until {d}"));
    for (i, a) in pools.iter().enumerate() {
        for b in &pools[i + 1..] {
            let overlap = a.effective_from < b.effective_to.unwrap_or(NaiveDate::MAX)
                && b.effective_from < a.effective_to.unwrap_or(NaiveDate::MAX);
            if same_traffic(a, b) && overlap {
                problems.at(
                    b.line,
                    format!(
                        "pool `{}` ({} from {}, {}) serves traffic of pool `{}` on line {} ({} from {}, {}) in the same hours; \
                         end one before the other starts (for a rate change, leave {TO} empty on the older row of the same \
                         endpoint and served entity: it then ends where the newer row begins)",
                        b.pool,
                        traffic(b),
                        b.effective_from,
                        until(b),
                        a.pool,
                        a.line,
                        traffic(a),
                        a.effective_from,
                        until(a)
                    ),
                );
            }
        }
    }
}

fn traffic(p: &Pool) -> String {
    match (&p.endpoint_name, &p.served_entity_name) {
        (Some(e), Some(m)) => format!("{e} / {m}"),
        (Some(e), None) => format!("{e} / any entity"),
        (None, Some(m)) => format!("any endpoint / {m}"),
        (None, None) => "all traffic".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_has_no_live_pool_and_the_sample_parses() {
        let template =
            Capacity::from_csv_str(include_str!("../warehouse/templates/capacity.csv"), "capacity.csv").unwrap();
        assert!(template.pools.is_empty());
        let text = "pool,endpoint_name,served_entity_name,cost_per_hour,currency,effective_from,effective_to,owner_group\n\
                    p,ep,,24.00,USD,2025-01-01,,ml\n";
        let c = Capacity::from_csv_str(text, "capacity.csv").unwrap();
        assert_eq!((c.pools[0].served_entity_name.clone(), c.pools[0].cost_per_hour), (None, Decimal::from(24)));
    }

    const HEADER: &str =
        "pool,endpoint_name,served_entity_name,cost_per_hour,currency,effective_from,effective_to,owner_group\n";

    #[test]
    fn an_open_row_ends_where_the_next_row_of_its_traffic_begins() {
        // a rate change written as in prices.csv: the old row left open
        let c = Capacity::from_csv_str(
            &format!(
                "{HEADER}v1,ep,m,24,USD,2025-01-01,,g\nv2,ep,m,20,USD,2025-01-15,,g\nother,ep2,,5,USD,2025-01-01,,g\n"
            ),
            "capacity.csv",
        )
        .unwrap();
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(c.pools[0].effective_to, Some(d("2025-01-15")));
        assert_eq!(c.pools[1].effective_to, None);
        assert_eq!(c.pools[2].effective_to, None);
        // rows in any order in the file
        let c = Capacity::from_csv_str(
            &format!("{HEADER}v2,ep,m,20,USD,2025-01-15,,g\nv1,ep,m,24,USD,2025-01-01,,g\n"),
            "capacity.csv",
        )
        .unwrap();
        assert_eq!((c.pools[0].effective_to, c.pools[1].effective_to), (None, Some(d("2025-01-15"))));
    }

    #[test]
    fn pools_that_would_serve_the_same_hours_are_refused() {
        for (rows, line) in [
            // an explicit end past the next row's start
            ("v1,ep,m,24,USD,2025-01-01,2025-01-20,g\nv2,ep,m,20,USD,2025-01-15,,g\n", "line 3"),
            // the same start twice
            ("v1,ep,m,24,USD,2025-01-01,,g\nv2,ep,m,20,USD,2025-01-01,,g\n", "line 3"),
            // an endpoint-wide pool and an entity pool on that endpoint
            ("a,ep,,24,USD,2025-01-01,,g\nb,ep,m,20,USD,2025-01-10,2025-01-12,g\n", "line 3"),
            ("a,,m,24,USD,2025-01-01,,g\nb,ep,m,20,USD,2024-12-01,2025-01-02,g\n", "line 3"),
        ] {
            let err = Capacity::from_csv_str(&format!("{HEADER}{rows}"), "capacity.csv").unwrap_err().to_string();
            assert!(err.contains(&format!("{line}: pool `")) && err.contains("same hours"), "{rows}: {err}");
        }
        // back to back, or different traffic: fine
        for rows in [
            "v1,ep,m,24,USD,2025-01-01,2025-01-15,g\nv2,ep,m,20,USD,2025-01-15,,g\n",
            "a,ep,m,24,USD,2025-01-01,,g\nb,ep,m2,20,USD,2025-01-01,,g\nc,ep2,,1,USD,2025-01-01,,g\n",
        ] {
            Capacity::from_csv_str(&format!("{HEADER}{rows}"), "capacity.csv").unwrap();
        }
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
        for want in [
            "line 2: endpoint_name and served_entity_name",
            "line 3: cost_per_hour `-1`",
            "line 4: effective_to",
            "line 6: pool `s`",
        ] {
            assert!(err.contains(want), "{want} in\n{err}");
        }
    }
}
