//! Provisioned capacity: every hour of a pool costs its rate whether used or not. Each hour's
//! rate is split among the chargeback's keys by their share of the pool's tokens in that hour
//! (largest remainder at the usage tables' 12 decimals, so the shares add up to the rate
//! exactly); hours without tokens are idle and charged to the pool's owner group (or, with
//! `--share-idle`, to the pool's users by their tokens in the period). The traffic
//! a pool serves is paid by the pool, so its per-token cost is taken off the usage lines.

use std::collections::{BTreeMap, HashMap};

use arrow::datatypes::DataType;
use datafusion::prelude::SessionContext;
use rust_decimal::Decimal;

use super::{Charge, cast_columns, int_at, largest_remainder, text_at, utc_instant_sql};
use crate::error::{Error, Result};
use crate::pricing::Pool;
use crate::time::date_start_micros;

use crate::time::MICROS_PER_HOUR as HOUR;

/// A pool's charge to one key: its share of the busy hours (`capacity`) or the idle hours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allocated {
    pub keys: Vec<String>,
    pub currency: String,
    /// `capacity` or `idle`.
    pub charge: Charge,
    /// Exact (12 decimals).
    pub amount: Decimal,
    /// The pool hours this charge pays for (a key's token share of each busy hour, or idle
    /// hours), exact to 12 decimals: a zero-rate pool still has hours.
    pub hours: Decimal,
}

/// What the pools cost over `[lo, hi)` (UTC microseconds, whole hours), split by the key
/// columns of `hourly` (a registered `usage_hourly`), and the per-token cost of the pooled
/// traffic per (keys, currency), which the usage lines must not charge again.
pub async fn allocate(
    ctx: &SessionContext,
    pools: &[Pool],
    (lo, hi): (i64, i64),
    key_columns: &[&str],
    share_idle: bool,
) -> Result<(Vec<Allocated>, HashMap<(Vec<String>, String), Decimal>)> {
    // (charge, keys, currency) -> (amount, hours)
    let mut charges: BTreeMap<(Charge, Vec<String>, String), (Decimal, Decimal)> = BTreeMap::new();
    let mut pooled: HashMap<(Vec<String>, String), Decimal> = HashMap::new();
    let quote = |s: &str| format!("'{}'", s.replace('\'', "''"));
    let keys_sql: Vec<String> = key_columns.iter().map(|c| format!("\"{c}\"")).collect();
    for pool in pools {
        let from = lo.max(date_start_micros(pool.effective_from));
        let to = hi.min(pool.effective_to.map_or(i64::MAX, date_start_micros));
        if from >= to {
            continue;
        }
        let mut filter = format!("hour >= {} AND hour < {}", utc_instant_sql(from), utc_instant_sql(to));
        if let Some(e) = &pool.endpoint_name {
            filter += &format!(" AND endpoint_name = {}", quote(e));
        }
        if let Some(e) = &pool.served_entity_name {
            filter += &format!(" AND served_entity_name = {}", quote(e));
        }
        let sql = format!(
            "SELECT arrow_cast(hour, 'Int64'), {keys}, currency, \
                    sum(input_tokens + cache_read_input_tokens + cache_creation_input_tokens + output_tokens), \
                    CAST(sum(cost) AS VARCHAR) \
             FROM hourly WHERE {filter} GROUP BY hour, {keys}, currency ORDER BY hour, {keys}, currency",
            keys = keys_sql.join(", ")
        );
        // hour -> [(keys, tokens)]
        let mut hours: BTreeMap<i64, Vec<(Vec<String>, i64)>> = BTreeMap::new();
        for batch in ctx.sql(&sql).await?.collect().await? {
            let n = key_columns.len();
            let ints = cast_columns(&batch, [0, n + 2], &DataType::Int64)?;
            let text = cast_columns(&batch, (1..=n + 1).chain([n + 3]), &DataType::Utf8)?;
            for row in 0..batch.num_rows() {
                let keys: Vec<String> = text[..n].iter().map(|k| text_at(k, row)).collect();
                let currency = text_at(&text[n], row);
                let cost = text_at(&text[n + 1], row);
                if !cost.is_empty() && !currency.is_empty() {
                    let c: Decimal = cost.parse().map_err(|e| Error::Internal(format!("pooled cost: {e}")))?;
                    *pooled.entry((keys.clone(), currency)).or_default() += c;
                }
                hours.entry(int_at(&ints[0], row)).or_default().push((keys, int_at(&ints[1], row)));
            }
        }
        let mut busy = 0_i64;
        let mut period_tokens: BTreeMap<Vec<String>, i64> = BTreeMap::new();
        for rows in hours.values() {
            let total: i64 = rows.iter().map(|(_, t)| t).sum();
            if total == 0 {
                continue; // requests without tokens (429s): the hour is idle
            }
            busy += 1;
            for (keys, t) in rows {
                *period_tokens.entry(keys.clone()).or_default() += t;
            }
            let tokens: Vec<i64> = rows.iter().map(|(_, t)| *t).collect();
            add_shares(&mut charges, Charge::Capacity, rows.iter().map(|(k, _)| k), &tokens, Decimal::ONE, pool);
        }
        let idle = (to - from) / HOUR - busy;
        let total_tokens: i64 = period_tokens.values().sum();
        if idle > 0 && share_idle && total_tokens > 0 {
            // --share-idle: the idle hours go to the pool's users, by their tokens in the period
            let tokens: Vec<i64> = period_tokens.values().copied().collect();
            add_shares(&mut charges, Charge::Idle, period_tokens.keys(), &tokens, Decimal::from(idle), pool);
        } else if idle > 0 {
            let keys = key_columns
                .iter()
                .map(|c| if *c == "group" { pool.owner_group.clone() } else { "*IDLE*".to_string() })
                .collect();
            let (amount, hours) = charges.entry((Charge::Idle, keys, pool.currency.clone())).or_default();
            *amount += pool.cost_per_hour * Decimal::from(idle);
            *hours += Decimal::from(idle);
        }
    }
    let allocated = charges
        .into_iter()
        .map(|((charge, keys, currency), (amount, hours))| Allocated { keys, currency, charge, amount, hours })
        .collect();
    Ok((allocated, pooled))
}

/// Adds `hours` of `pool` split among `keys` by their `tokens` (a positive total): the amounts
/// and the hours each by largest remainder at 12 decimals, so that they add up to rate x hours
/// and to the hours exactly.
fn add_shares<'a>(
    charges: &mut BTreeMap<(Charge, Vec<String>, String), (Decimal, Decimal)>,
    charge: Charge,
    keys: impl Iterator<Item = &'a Vec<String>>,
    tokens: &[i64],
    hours: Decimal,
    pool: &Pool,
) {
    let total = Decimal::from(tokens.iter().sum::<i64>());
    let amounts: Vec<Decimal> = tokens.iter().map(|t| pool.cost_per_hour * hours * Decimal::from(*t) / total).collect();
    let hour_shares: Vec<Decimal> = tokens.iter().map(|t| hours * Decimal::from(*t) / total).collect();
    for ((keys, amount), share) in keys.zip(largest_remainder(&amounts, 12)).zip(largest_remainder(&hour_shares, 12)) {
        let (a, h) = charges.entry((charge, keys.clone(), pool.currency.clone())).or_default();
        *a += amount;
        *h += share;
    }
}
