//! `simulate limits --chart`: one endpoint's per-minute demand against its limit.
//!
//! A month has 44,640 minutes, more than a chart has pixels: the minutes of the range are cut
//! into at most [`POINTS`] equal buckets and each is drawn at the busiest minute in it (the
//! peak is what meets a limit). The buckets are filled as the per-minute demand streams in, so
//! memory is the buckets, whatever the range.

use chrono::NaiveDate;

use super::demand::{self, DemandQuery};
use super::window::MICROS_PER_MINUTE;
use crate::error::{Error, Result};
use crate::output::chart::{Chart, ChartKind};
use crate::output::thousands;
use crate::pricing::{Limit, LimitKey, Limits};
use crate::warehouse::Warehouse;

/// Points on the chart's x axis at most.
pub const POINTS: u64 = 600;

/// The chart and what it shows.
#[derive(Debug, Clone)]
pub struct DemandChart {
    pub chart: Chart,
    /// The busiest minute's demand and the minute (since the Unix epoch).
    pub peak: u64,
    pub peak_minute: i64,
    /// The limit drawn, and its unit (`tokens` or `calls`).
    pub limit: u64,
    pub unit: &'static str,
}

/// The limit to draw on `endpoint`: its whole-endpoint limit if it has one, else the first in
/// force on it.
fn limit_on<'a>(limits: &'a Limits, endpoint: &'a str) -> Option<&'a Limit> {
    let mut in_force = limits.on_endpoint(endpoint).map(|(_, l)| l);
    let first = limits.on_endpoint(endpoint).map(|(_, l)| l).next();
    in_force.find(|l| l.key == LimitKey::Endpoint).or(first)
}

/// `minute` (since the epoch) as `YYYY-MM-DD HH:MM` in UTC.
fn minute_text(minute: i64) -> String {
    chrono::DateTime::from_timestamp(minute * 60, 0)
        .map_or_else(|| minute.to_string(), |t| t.format("%Y-%m-%d %H:%M").to_string())
}

/// Whose demand is drawn against `limit`, and the limit's scope, in words.
fn who(limit: &Limit) -> (String, String) {
    match (limit.key, limit.principal.as_deref()) {
        (LimitKey::Endpoint, _) => ("the endpoint's demand".into(), "whole endpoint".into()),
        (_, Some(principal)) => (format!("{principal}'s demand"), format!("for {principal}")),
        (LimitKey::UserGroup, None) => ("busiest group".into(), "per group, shared".into()),
        (LimitKey::User, None) => ("busiest user".into(), "per user".into()),
        (LimitKey::ServicePrincipal, None) => ("busiest requester".into(), "per service principal".into()),
    }
}

/// `endpoint`'s per-minute demand over `from ..= to` against its limit in `limits`.
pub async fn demand_chart(
    warehouse: &Warehouse,
    limits: &Limits,
    from: NaiveDate,
    to: NaiveDate,
    endpoint: &str,
    memory_limit: usize,
) -> Result<DemandChart> {
    let limit = limit_on(limits, endpoint).ok_or_else(|| {
        Error::Usage(format!(
            "no limit of limits.toml is in force on endpoint `{endpoint}`: --chart draws an endpoint's demand against its limit; name one that has a limit with --chart-endpoint"
        ))
    })?;
    let (unit, value) = match limit.tokens {
        Some(tokens) => ("tokens", tokens),
        None => ("calls", limit.calls.unwrap_or(0)),
    };
    let query = DemandQuery {
        from,
        to,
        key: limit.key,
        endpoint: Some(endpoint.to_string()),
        principal: limit.principal.clone(),
    };
    let start = crate::time::date_start_micros(from).div_euclid(MICROS_PER_MINUTE);
    let minutes = (to - from).num_days().max(0) as u64 * 1440 + 1440;
    let buckets = minutes.min(POINTS);
    let bucket_of = |minute: i64| (u64::try_from(minute - start).unwrap_or(0) * buckets / minutes).min(buckets - 1);
    let mut peaks = vec![0u64; buckets as usize];
    let (mut peak, mut peak_minute) = (0u64, start);
    let ctx = demand::session(warehouse, memory_limit).await?;
    demand::scan(&ctx, &query, memory_limit, |m| {
        let demand = if unit == "tokens" { m.tokens } else { m.calls };
        let slot = &mut peaks[bucket_of(m.minute) as usize];
        *slot = (*slot).max(demand);
        if demand > peak || (demand == peak && m.minute < peak_minute) {
            (peak, peak_minute) = (demand, m.minute);
        }
    })
    .await?;
    let (demand_name, scope) = who(limit);
    let title = format!("{endpoint}: {unit} per minute against the limit, {from} .. {to}");
    let x_label = format!("UTC minute (the busiest of each of {buckets} spans)");
    let mut chart = Chart::new(ChartKind::Line, &title, &x_label, &format!("{unit} per minute"));
    let demand_series = format!("{demand_name}: peak {} at {}", thousands(peak), minute_text(peak_minute));
    let limit_series = format!("limit: {} {unit} a minute, {scope} (line {})", thousands(value), limit.line);
    for (bucket, demand) in peaks.iter().enumerate() {
        // the first minute of the bucket: the smallest m with (m - start) * buckets / minutes = bucket
        let first = start + (bucket as u64 * minutes).div_ceil(buckets) as i64;
        let label = minute_text(first);
        chart.add(&label, &demand_series, *demand as f64);
        chart.add(&label, &limit_series, value as f64);
    }
    Ok(DemandChart { chart, peak, peak_minute, limit: value, unit })
}
