//! The configuration files: principals.csv, budgets.csv and capacity.csv (prices.csv is in
//! `prices`).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use chrono::{Datelike, NaiveDate};

use super::GenOptions;
use super::catalog::{GROUPS, POOLS};
use super::context::{Ctx, cost_center_of_slot, group_name};
use super::inference::Spend;
use super::limits::{
    BUDGET_COMFORTABLE, BUDGET_OVER, BUDGET_WARNING, COST_CENTER_FORECAST_USE, COST_CENTERS, GROUP_BUDGETS,
    STREAM_BUDGETS, WRITE_BUFFER,
};
use super::random::{stream_rng, unit};
pub(super) fn write_principals(ctx: &Ctx, path: &Path) -> io::Result<()> {
    let mut w = BufWriter::with_capacity(WRITE_BUFFER, File::create(path)?);
    w.write_all(b"requester,group,cost_center\n")?;
    for (name, p) in ctx.catalog.requesters.iter().zip(&ctx.catalog.principals) {
        if let Some(p) = p {
            writeln!(w, "{name},{},CC-{}", group_name(p.group), p.cost_center)?;
        }
    }
    w.flush()
}

/// `x` rounded to two significant digits (budgets are round numbers), as decimal text with two to
/// six decimals (a small sample's budgets can be cents).
fn two_significant(x: f64) -> String {
    if x.is_nan() || x <= 0.0 {
        return "0.00".into();
    }
    let exponent = x.log10().floor() as i32 - 1;
    let rounded = (x / 10f64.powi(exponent)).round() * 10f64.powi(exponent);
    format!("{rounded:.decimals$}", decimals = (-exponent).clamp(2, 6) as usize)
}

/// The last day of the range and the number of days of its month and of its quarter: the
/// periods `budget status` reports on by default.
fn budget_periods(opts: &GenOptions) -> (f64, f64) {
    let last = opts.start + chrono::Days::new(u64::from(opts.days.saturating_sub(1)));
    let first_of = |month0: u32| NaiveDate::from_ymd_opt(last.year(), month0 + 1, 1).unwrap_or(last);
    let days_between = |a: NaiveDate, months: u32| {
        a.checked_add_months(chrono::Months::new(months)).map_or(30, |b| (b - a).num_days()) as f64
    };
    let quarter0 = last.month0() / 3 * 3;
    (days_between(first_of(last.month0()), 1), days_between(first_of(quarter0), 3))
}

/// Monthly budgets for the biggest groups and quarterly ones for the biggest cost centres, placed
/// by construction (see `BUDGET_OVER`): from what each is charged, the per-token cost of its
/// traffic no pool serves plus its share of the pools' busy hours and, for a pool's owner group,
/// the idle hours — as `budget status` will count it.
pub(super) fn budgets_csv(opts: &GenOptions, spend: &Spend, rates: &[f64], pool_owners: &[u8]) -> String {
    let mut rng = stream_rng(opts.seed, STREAM_BUDGETS);
    let range_hours = f64::from(opts.days) * 24.0;
    let (mut groups, mut centers) = (spend.by_group.clone(), spend.by_cost_center.clone());
    for ((pool, rate), &owner) in spend.pools.iter().zip(rates).zip(pool_owners) {
        for (g, hours) in groups.iter_mut().zip(&pool.group_hours) {
            *g += rate * hours;
        }
        for (c, hours) in centers.iter_mut().zip(&pool.cost_center_hours) {
            *c += rate * hours;
        }
        // idle hours go to the owner group; by cost centre they are a line of their own
        groups[usize::from(owner)] += rate * (range_hours - pool.busy_hours);
    }
    let days = f64::from(opts.days);
    let (month_days, quarter_days) = budget_periods(opts);
    let mut s = String::from("scope,name,period,amount,currency,thresholds\n");

    // the requesters missing from principals.csv are no group's budget
    let mut ranked: Vec<(usize, f64)> = groups.iter().copied().enumerate().take(GROUPS.len() + 1).collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    for (rank, &(g, total)) in ranked.iter().take(GROUP_BUDGETS).enumerate() {
        let used = match rank {
            r if r == BUDGET_OVER.0 => BUDGET_OVER.1,
            r if r == BUDGET_WARNING.0 => BUDGET_WARNING.1,
            _ => BUDGET_COMFORTABLE.0 + (BUDGET_COMFORTABLE.1 - BUDGET_COMFORTABLE.0) * unit(&mut rng),
        };
        let amount = two_significant(total / days * month_days / used);
        s += &format!("group,{},monthly,{amount},USD,50;80;100\n", group_name(g as u8));
    }
    let mut ranked: Vec<(usize, f64)> = centers.iter().copied().enumerate().take(COST_CENTERS as usize + 1).collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    for (&(slot, total), used) in ranked.iter().zip(COST_CENTER_FORECAST_USE) {
        let amount = two_significant(total / days * quarter_days / used);
        s += &format!("cost_center,CC-{},quarterly,{amount},USD,75;90;100\n", cost_center_of_slot(slot));
    }
    s
}

/// The pools of `POOLS` at their list rates. Returns the CSV and the rates.
pub(super) fn capacity_csv(opts: &GenOptions) -> (String, Vec<f64>) {
    let mut s = String::from(
        "pool,endpoint_name,served_entity_name,cost_per_hour,currency,effective_from,effective_to,owner_group\n",
    );
    let mut rates = Vec::with_capacity(POOLS.len());
    for p in &POOLS {
        rates.push(p.cost_per_hour.parse().unwrap_or(0.0));
        s += &format!("{},{},{},{},USD,{},,{}\n", p.name, p.endpoint, p.entity, p.cost_per_hour, opts.start, p.owner);
    }
    (s, rates)
}
