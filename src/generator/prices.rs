//! Prices: the rows of prices.csv and the per-token prices that size the budgets.

use std::io;

use chrono::{Days, NaiveDate};

use super::catalog::{ENTITIES, Entity, EntityType, PRICE_CHANGES, bills_cache_writes};
use super::context::entity_index;
use super::limits::{
    BASE_PRICE_LEAD_DAYS, FUTURE_PRICE, FUTURE_PRICE_AFTER_END_DAYS, MS_PER_HOUR, RETIRE_AFTER_END_DAYS, RETIRING,
};
use super::validate::invalid;
/// One row of prices.csv.
pub(super) struct PriceRow {
    entity: usize,
    from: NaiveDate,
    input: &'static str,
    cached: &'static str,
    output: &'static str,
    cache_write: Option<String>,
    retires_on: Option<NaiveDate>,
}

/// Per-token USD prices from `from_ms` (relative to the start) on; only used to size the budgets.
pub(super) struct PricePoint {
    pub(super) from_ms: i64,
    pub(super) input: f64,
    pub(super) cached: f64,
    pub(super) output: f64,
    pub(super) cache_write: f64,
}

/// `price × 1.25` computed exactly on the decimal string (Anthropic bills cache writes at 125 %).
/// Keeps at least two decimals and drops other trailing zeros: "3.00" → "3.75", "2.70" → "3.375".
fn times_five_quarters(price: &str) -> io::Result<String> {
    let bad = || io::Error::new(io::ErrorKind::InvalidData, format!("bad price {price:?}"));
    let (int, frac) = price.split_once('.').unwrap_or((price, ""));
    if int.is_empty() || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) || frac.len() > 12 {
        return Err(bad());
    }
    let mantissa: u128 = format!("{int}{frac}").parse().map_err(|_| bad())?;
    let product = mantissa.checked_mul(125).ok_or_else(bad)?;
    let scale = frac.len() + 2;
    let digits = format!("{product:0>width$}", width = scale + 1);
    let (int, frac) = digits.split_at(digits.len() - scale);
    let keep = frac.trim_end_matches('0').len().max(2);
    Ok(format!("{int}.{}", &frac[..keep]))
}

pub(super) fn price_rows(start: NaiveDate, days: u32) -> io::Result<Vec<PriceRow>> {
    let range_err = || invalid(format!("price dates out of range for start {start}"));
    let add = |d: u64| start.checked_add_days(Days::new(d)).ok_or_else(range_err);
    let base = start.checked_sub_days(Days::new(BASE_PRICE_LEAD_DAYS)).ok_or_else(range_err)?;
    let end = u64::from(days);
    let cache_write = |e: &Entity, input: &str| -> io::Result<Option<String>> {
        if bills_cache_writes(e) { times_five_quarters(input).map(Some) } else { Ok(None) }
    };
    let mut rows = Vec::new();
    for (i, e) in ENTITIES.iter().enumerate() {
        let retires_on = if RETIRING.contains(&e.name) { Some(add(end + RETIRE_AFTER_END_DAYS)?) } else { None };
        rows.push(PriceRow {
            entity: i,
            from: base,
            input: e.input,
            cached: e.cached,
            output: e.output,
            cache_write: cache_write(e, e.input)?,
            retires_on,
        });
    }
    let changes = PRICE_CHANGES
        .iter()
        .map(|&(n, frac, i, c, o)| (n, (f64::from(days) * frac).floor() as u64, i, c, o))
        .chain([(FUTURE_PRICE.0, end + FUTURE_PRICE_AFTER_END_DAYS, FUTURE_PRICE.1, FUTURE_PRICE.2, FUTURE_PRICE.3)]);
    for (name, offset, input, cached, output) in changes {
        let entity = entity_index(name)?;
        rows.push(PriceRow {
            entity,
            from: add(offset)?,
            input,
            cached,
            output,
            cache_write: cache_write(&ENTITIES[entity], input)?,
            retires_on: None,
        });
    }
    rows.sort_by(|a, b| (ENTITIES[a.entity].name, a.from).cmp(&(ENTITIES[b.entity].name, b.from)));
    Ok(rows)
}

pub(super) fn price_points(start: NaiveDate, rows: &[PriceRow]) -> io::Result<Vec<Vec<PricePoint>>> {
    let per_token = |s: &str| -> io::Result<f64> {
        s.parse::<f64>()
            .map(|p| p / 1e6)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, format!("bad price {s:?}")))
    };
    let mut points: Vec<Vec<PricePoint>> = (0..ENTITIES.len()).map(|_| Vec::new()).collect();
    for r in rows {
        let input = per_token(r.input)?;
        points[r.entity].push(PricePoint {
            from_ms: (r.from - start).num_days() * 24 * MS_PER_HOUR,
            input,
            cached: per_token(r.cached)?,
            output: per_token(r.output)?,
            cache_write: r.cache_write.as_deref().map(per_token).transpose()?.unwrap_or(input),
        });
    }
    Ok(points)
}

pub(super) fn prices_csv(rows: &[PriceRow]) -> String {
    let mut s = String::from(
        "served_entity_name,effective_from,currency,input_price_per_1m,cached_input_price_per_1m,\
         output_price_per_1m,cache_write_price_per_1m,pricing_mode,retires_on\n",
    );
    for r in rows {
        let e = &ENTITIES[r.entity];
        let mode = if e.etype == EntityType::Provisioned { "provisioned" } else { "per_token" };
        let retires = r.retires_on.map(|d| d.to_string()).unwrap_or_default();
        s += &format!(
            "{},{},USD,{},{},{},{},{},{}\n",
            e.name,
            r.from,
            r.input,
            r.cached,
            r.output,
            r.cache_write.as_deref().unwrap_or(""),
            mode,
            retires
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_write_prices_are_exact() {
        assert_eq!(times_five_quarters("3.00").expect("3"), "3.75");
        assert_eq!(times_five_quarters("2.70").expect("2.7"), "3.375");
        assert_eq!(times_five_quarters("0.80").expect("0.8"), "1.00");
        assert_eq!(times_five_quarters("15.00").expect("15"), "18.75");
        assert_eq!(times_five_quarters("0.075").expect("0.075"), "0.09375");
        assert_eq!(times_five_quarters("4").expect("4"), "5.00");
        assert!(times_five_quarters("-1").is_err() && times_five_quarters("").is_err());
    }
}
