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
use crate::warehouse::Warehouse;

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
    billed: Option<&BilledCapacity>,
) -> Result<(Vec<Allocated>, HashMap<(Vec<String>, String), Decimal>)> {
    // (charge, keys, currency) -> (amount, hours)
    let mut charges: BTreeMap<(Charge, Vec<String>, String), (Decimal, Decimal)> = BTreeMap::new();
    let mut pooled: HashMap<(Vec<String>, String), Decimal> = HashMap::new();
    let quote = |s: &str| format!("'{}'", s.replace('\'', "''"));
    let keys_sql: Vec<String> = key_columns.iter().map(|c| format!("\"{c}\"")).collect();
    for pool in pools {
        let (from, to) = active_span(pool, (lo, hi));
        if from >= to {
            continue;
        }
        let rate = |hour: i64| billed.and_then(|b| b.rate(pool, hour)).unwrap_or(pool.cost_per_hour);
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
        let mut busy = std::collections::BTreeSet::new();
        let mut period_tokens: BTreeMap<Vec<String>, i64> = BTreeMap::new();
        for (hour, rows) in &hours {
            let total: i64 = rows.iter().map(|(_, t)| t).sum();
            if total == 0 {
                continue; // requests without tokens (429s): the hour is idle
            }
            busy.insert(*hour);
            for (keys, t) in rows {
                *period_tokens.entry(keys.clone()).or_default() += t;
            }
            let tokens: Vec<i64> = rows.iter().map(|(_, t)| *t).collect();
            let keys = rows.iter().map(|(k, _)| k);
            add_shares(&mut charges, Charge::Capacity, keys, &tokens, (rate(*hour), Decimal::ONE), &pool.currency);
        }
        // the idle hours cost the sum of their rates (each its own where a bill priced it)
        let idle_hours = (from..to).step_by(HOUR as usize).filter(|h| !busy.contains(h));
        let (idle, idle_cost) = idle_hours.fold((0_i64, Decimal::ZERO), |(n, cost), h| (n + 1, cost + rate(h)));
        let total_tokens: i64 = period_tokens.values().sum();
        if idle > 0 && share_idle && total_tokens > 0 {
            // --share-idle: the idle hours go to the pool's users, by their tokens in the period
            let tokens: Vec<i64> = period_tokens.values().copied().collect();
            let idle = (idle_cost, Decimal::from(idle));
            add_shares(&mut charges, Charge::Idle, period_tokens.keys(), &tokens, idle, &pool.currency);
        } else if idle > 0 {
            let keys = key_columns
                .iter()
                .map(|c| if *c == "group" { pool.owner_group.clone() } else { "*IDLE*".to_string() })
                .collect();
            let (amount, hours) = charges.entry((Charge::Idle, keys, pool.currency.clone())).or_default();
            *amount += idle_cost;
            *hours += Decimal::from(idle);
        }
    }
    let allocated = charges
        .into_iter()
        .map(|((charge, keys, currency), (amount, hours))| Allocated { keys, currency, charge, amount, hours })
        .collect();
    Ok((allocated, pooled))
}

/// The part of `[lo, hi)` in which `pool` is in force.
fn active_span(pool: &Pool, (lo, hi): (i64, i64)) -> (i64, i64) {
    (lo.max(date_start_micros(pool.effective_from)), hi.min(pool.effective_to.map_or(i64::MAX, date_start_micros)))
}

/// Adds `(amount, hours)` of a pool split among `keys` by their `tokens` (a positive total):
/// the amounts and the hours each by largest remainder at 12 decimals, so that they add up to
/// the amount and to the hours exactly.
fn add_shares<'a>(
    charges: &mut BTreeMap<(Charge, Vec<String>, String), (Decimal, Decimal)>,
    charge: Charge,
    keys: impl Iterator<Item = &'a Vec<String>>,
    tokens: &[i64],
    (amount, hours): (Decimal, Decimal),
    currency: &str,
) {
    let total = Decimal::from(tokens.iter().sum::<i64>());
    let amounts: Vec<Decimal> = tokens.iter().map(|t| amount * Decimal::from(*t) / total).collect();
    let hour_shares: Vec<Decimal> = tokens.iter().map(|t| hours * Decimal::from(*t) / total).collect();
    for ((keys, amount), share) in keys.zip(largest_remainder(&amounts, 12)).zip(largest_remainder(&hour_shares, 12)) {
        let (a, h) = charges.entry((charge, keys.clone(), currency.to_string())).or_default();
        *a += amount;
        *h += share;
    }
}

/// What a Databricks bill (`bill import --source databricks-billing`) charged the pools'
/// endpoints, hour by hour, for `chargeback --capacity-from-bill`. Provisioned throughput is
/// billed per endpoint and hour in `system.billing.usage` (`usage_metadata.endpoint_name`,
/// `usage_start_time` .. `usage_end_time`); that amount becomes the hour's rate of the
/// endpoint's pools, shared among them by their `capacity.csv` rates where an endpoint has
/// several. Inside the span the bill covers, an hour of a billed endpoint without a bill line
/// cost nothing (the endpoint was scaled to zero); outside it, and for an endpoint the bill
/// does not name, `capacity.csv`'s rate stays.
#[derive(Debug, Clone, Default)]
pub struct BilledCapacity {
    /// `[lo, hi)`, UTC microseconds: from the first to the end of the last billing line.
    pub span: (i64, i64),
    /// endpoint -> hour -> billed amount (exact to 12 decimals).
    pub endpoints: BTreeMap<String, BTreeMap<i64, Decimal>>,
    /// The pools, to share an endpoint's hour among.
    pools: Vec<Pool>,
}

impl BilledCapacity {
    /// The billed lines of the pools' endpoints over `[lo, hi)` (UTC microseconds), as
    /// reconcile counts them (the newest import of each period), from `warehouse`'s
    /// `bill_lines`; registers `bill_lines` and `counted_bill_lines` in `ctx`.
    pub async fn load(
        ctx: &SessionContext,
        warehouse: &Warehouse,
        pools: &[Pool],
        (lo, hi): (i64, i64),
    ) -> Result<Self> {
        let day =
            |micros: i64| chrono::DateTime::from_timestamp_micros(micros).map(|t| t.date_naive()).unwrap_or_default();
        let no_bill = || {
            Error::Usage(format!(
                "--capacity-from-bill prices provisioned hours with the Databricks bill, and none covers {} .. {}: \
                 import an export of system.billing.usage first (`tokenledger bill import --source databricks-billing \
                 FILE --list-prices FILE`)",
                day(lo),
                day(hi - 1)
            ))
        };
        if crate::model::register_counted_bill_lines(ctx, warehouse, day(lo), day(hi - 1)).await?.is_none() {
            return Err(no_bill());
        }
        // every line of the billing export makes the span it covers; a pool's lines price its hours
        let sql = "SELECT arrow_cast(period_start, 'Int64'), arrow_cast(period_end, 'Int64'), pool_endpoint, \
                          currency, CAST(cost AS VARCHAR) \
                   FROM counted_bill_lines WHERE source = 'databricks-billing' AND cost IS NOT NULL \
                   ORDER BY period_start, endpoint_name, row_number";
        let mut billed = BilledCapacity { span: (i64::MAX, i64::MIN), pools: pools.to_vec(), ..Default::default() };
        for b in ctx.sql(sql).await?.collect().await? {
            let ints = cast_columns(&b, [0, 1], &DataType::Int64)?;
            let text = cast_columns(&b, [2, 3, 4], &DataType::Utf8)?;
            for row in 0..b.num_rows() {
                let (start, end) = (int_at(&ints[0], row), int_at(&ints[1], row));
                billed.span = (billed.span.0.min(start), billed.span.1.max(end));
                let endpoint = text_at(&text[0], row);
                if endpoint.is_empty() {
                    continue;
                }
                let currency = text_at(&text[1], row);
                let pool_currency =
                    pools.iter().find(|p| p.endpoint_name.as_deref() == Some(&endpoint)).map(|p| &p.currency);
                if pool_currency.is_some_and(|c| *c != currency) {
                    return Err(Error::Usage(format!(
                        "the Databricks bill charges endpoint {endpoint} in {currency}, and capacity.csv's pools of it are \
                         in {}: --capacity-from-bill cannot mix them; give the pools the bill's currency",
                        pool_currency.map_or("", |c| c.as_str())
                    )));
                }
                let cost: Decimal =
                    text_at(&text[2], row).parse().map_err(|e| Error::Internal(format!("billed cost: {e}")))?;
                // a line over several hours is spread evenly over them (billing.usage's are hourly)
                let first = start.div_euclid(HOUR) * HOUR;
                let hours: Vec<i64> = (first..end.max(first + 1)).step_by(HOUR as usize).collect();
                let even = vec![cost / Decimal::from(hours.len()); hours.len()];
                let per_hour = billed.endpoints.entry(endpoint).or_default();
                for (hour, amount) in hours.into_iter().zip(largest_remainder(&even, 12)) {
                    *per_hour.entry(hour).or_default() += amount;
                }
            }
        }
        if billed.span.0 >= billed.span.1 {
            return Err(no_bill());
        }
        Ok(billed)
    }

    /// The endpoints of pools the bill names, and those it does not (their rate stays capacity.csv's).
    pub fn coverage(&self) -> (Vec<String>, Vec<String>) {
        let mut pooled: Vec<String> = self.pools.iter().filter_map(|p| p.endpoint_name.clone()).collect();
        pooled.sort();
        pooled.dedup();
        pooled.into_iter().partition(|e| self.endpoints.contains_key(e))
    }

    /// The billed rate of `pool` in `hour`, if the bill prices it: the endpoint's billed amount
    /// shared among its pools in force then by their capacity.csv rates (equally when those
    /// are all zero), by largest remainder at 12 decimals.
    fn rate(&self, pool: &Pool, hour: i64) -> Option<Decimal> {
        let endpoint = pool.endpoint_name.as_deref()?;
        let hours = self.endpoints.get(endpoint)?;
        if hour < self.span.0 || hour >= self.span.1 {
            return None;
        }
        let amount = hours.get(&hour).copied().unwrap_or_default();
        let siblings: Vec<&Pool> = self
            .pools
            .iter()
            .filter(|p| p.endpoint_name.as_deref() == Some(endpoint))
            .filter(|p| {
                let (from, to) = active_span(p, (hour, hour + HOUR));
                from < to
            })
            .collect();
        if siblings.len() <= 1 {
            return Some(amount);
        }
        let rates: Vec<Decimal> = siblings.iter().map(|p| p.cost_per_hour).collect();
        let total: Decimal = rates.iter().sum();
        let weights: Vec<Decimal> = if total.is_zero() { vec![Decimal::ONE; rates.len()] } else { rates };
        let total: Decimal = weights.iter().sum();
        let shares: Vec<Decimal> = weights.iter().map(|w| amount * *w / total).collect();
        let mine = siblings.iter().position(|p| p.line == pool.line)?;
        largest_remainder(&shares, 12).get(mine).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(line: usize, endpoint: &str, rate: &str) -> Pool {
        Pool {
            pool: format!("pool-{line}"),
            endpoint_name: Some(endpoint.into()),
            served_entity_name: None,
            cost_per_hour: rate.parse().unwrap(),
            currency: "USD".into(),
            effective_from: chrono::NaiveDate::from_ymd_opt(2025, 1, 1).unwrap(),
            effective_to: None,
            owner_group: "g".into(),
            line,
        }
    }

    #[test]
    fn a_billed_hour_is_shared_by_the_endpoints_pools_and_unbilled_hours_keep_their_rate() {
        let start = date_start_micros(chrono::NaiveDate::from_ymd_opt(2025, 1, 1).unwrap());
        let pools = vec![pool(2, "pt", "24.00"), pool(3, "pt", "6.00"), pool(4, "other", "5.00")];
        let billed = BilledCapacity {
            span: (start, start + 2 * HOUR),
            endpoints: BTreeMap::from([(
                "pt".to_string(),
                BTreeMap::from([(start, "10.000000000001".parse().unwrap())]),
            )]),
            pools: pools.clone(),
        };
        let (big, small) = (billed.rate(&pools[0], start).unwrap(), billed.rate(&pools[1], start).unwrap());
        // 24 : 6 of the hour's bill, and the shares add up to it exactly
        assert_eq!((big, small), ("8.000000000001".parse().unwrap(), "2.000000000000".parse().unwrap()));
        // an hour the bill covers without a line for the endpoint cost nothing
        assert_eq!(billed.rate(&pools[0], start + HOUR), Some(Decimal::ZERO));
        // outside the span, and for an endpoint the bill does not name, capacity.csv's rate
        assert_eq!(billed.rate(&pools[0], start + 2 * HOUR), None);
        assert_eq!(billed.rate(&pools[2], start), None);
        assert_eq!(billed.coverage(), (vec!["pt".to_string()], vec!["other".to_string()]));
    }
}
