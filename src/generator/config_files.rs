//! The configuration files: principals.csv, budgets.csv and capacity.csv (prices.csv is in
//! `prices`).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use rand::Rng;

use super::GenOptions;
use super::catalog::{ENDPOINTS, ENTITIES, Endpoint, EntityType, GROUPS, Kind};
use super::context::{Ctx, cost_center_of_slot, group_name};
use super::inference::Spend;
use super::limits::{
    COST_CENTER_BUDGETS, DAYS_PER_MONTH, DAYS_PER_QUARTER, GROUP_BUDGETS, STREAM_BUDGETS, STREAM_CAPACITY, WRITE_BUFFER,
};
use super::random::{stream_rng, unit};
use Kind::{Emb, Large, Reason, Small};
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

/// Rounds to two significant digits (budgets are round numbers), at least 1.00.
fn budget_amount(x: f64) -> String {
    if x.is_nan() || x < 1.0 {
        return "1.00".into();
    }
    let step = 10f64.powi(x.log10().floor() as i32 - 1);
    format!("{:.2}", ((x / step).round() * step).max(1.0))
}

/// Monthly budgets for the biggest groups and quarterly ones for the biggest cost centres, sized from
/// the spend actually generated times a factor in [0.7, 1.6), so some budgets are exceeded and
/// others are not.
pub(super) fn budgets_csv(opts: &GenOptions, spend: &Spend) -> String {
    let mut rng = stream_rng(opts.seed, STREAM_BUDGETS);
    let days = f64::from(opts.days);
    let mut s = String::from("scope,name,period,amount,currency,thresholds\n");

    let mut groups: Vec<(usize, f64)> = spend.by_group.iter().copied().enumerate().collect();
    groups.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    for &(g, total) in groups.iter().take(GROUP_BUDGETS) {
        let factor = 0.7 + 0.9 * unit(&mut rng);
        let amount = budget_amount(total / days * DAYS_PER_MONTH * factor);
        s += &format!("group,{},monthly,{amount},USD,50;80;100\n", group_name(g as u8));
    }
    let mut centers: Vec<(usize, f64)> = spend.by_cost_center.iter().copied().enumerate().collect();
    centers.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    for &(slot, total) in centers.iter().take(COST_CENTER_BUDGETS) {
        let factor = 0.7 + 0.9 * unit(&mut rng);
        let amount = budget_amount(total / days * DAYS_PER_QUARTER * factor);
        s += &format!("cost_center,CC-{},quarterly,{amount},USD,75;90;100\n", cost_center_of_slot(slot));
    }
    s
}

/// One capacity pool per provisioned-throughput entity, on the endpoint that sends it the most traffic.
pub(super) fn capacity_csv(opts: &GenOptions) -> io::Result<String> {
    let mut rng = stream_rng(opts.seed, STREAM_CAPACITY);
    let mut s = String::from(
        "pool,endpoint_name,served_entity_name,cost_per_hour,currency,effective_from,effective_to,owner_group\n",
    );
    let total_weight = |e: &Endpoint| e.models.iter().map(|(_, w)| f64::from(*w)).sum::<f64>();
    for e in ENTITIES.iter().filter(|e| e.etype == EntityType::Provisioned) {
        let mut best: Option<(&str, f64)> = None;
        for ep in &ENDPOINTS {
            for &(m, w) in ep.models {
                let share = f64::from(ep.weight) * f64::from(w) / total_weight(ep);
                if m == e.name && best.is_none_or(|(_, s)| share > s) {
                    best = Some((ep.name, share));
                }
            }
        }
        let Some((endpoint, _)) = best else {
            return Err(io::Error::new(io::ErrorKind::InvalidData, format!("{} is on no endpoint", e.name)));
        };
        let cost_per_hour = match e.kind {
            Emb => "4.00",
            Small => "6.00",
            Large | Reason => "24.00",
        };
        let owner = GROUPS[rng.random_range(0..GROUPS.len())];
        s += &format!("pool-{},{endpoint},{},{cost_per_hour},USD,{},,{owner}\n", e.name, e.name, opts.start);
    }
    Ok(s)
}
