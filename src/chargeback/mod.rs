//! Chargeback: what finance receives. Usage of a period summed by the keys finance asks for
//! (cost center, group, ...), money rounded to the currency's minor unit so that the lines add
//! up to the rounded total exactly, unpriced usage on lines of its own, and a CSV that is safe
//! to open in a spreadsheet, with a manifest that says what it was made from.
//!
//! Provisioned pools are allocated in `capacity`; `focus` writes the FOCUS export and
//! `budget` the budget status.

mod budget;
mod capacity;
pub mod close;
mod focus;
mod true_up;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use arrow::array::Array;
use arrow::datatypes::DataType;
use chrono::NaiveDate;
use datafusion::prelude::SessionContext;
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};

pub use crate::money::{largest_remainder, minor_unit, round};
pub use budget::{BudgetStatus, budget_status};
pub use capacity::BilledCapacity;
pub use focus::{COLUMNS as FOCUS_COLUMNS, FocusExport, FocusVersion, focus_bytes};

use crate::engine::{cast_columns, int_at, text_at};
use crate::error::{Error, Result};
use crate::output::neutralise;
use crate::pricing::Pool;
use crate::warehouse::Warehouse;
use crate::warehouse::rated::{CONFIG_FILES, RatedDates, RatedWith, StaleConfig, config_digests};

/// The key columns a chargeback can be broken down by: (name on the command line, column).
pub const KEYS: [(&str, &str); 6] = [
    ("cost_center", "cost_center"),
    ("group", "group"),
    ("requester", "requester"),
    ("endpoint", "endpoint_name"),
    ("served_entity", "served_entity_name"),
    ("provider", "provider"),
];

/// The key of the total lines.
pub const TOTAL: &str = "*TOTAL*";

pub use crate::time::Period;

/// What to export.
#[derive(Debug, Clone)]
pub struct ChargebackOptions {
    pub period: Period,
    /// Command-line key names, in order (see [`KEYS`]).
    pub by: Vec<String>,
    /// Read the usage table as it was then, to reproduce an earlier export.
    pub as_of: Option<AsOf>,
    /// The time zone whose midnights bound the period (UTC when `None`): then the period is
    /// read from `usage_hourly`, which is kept per UTC hour.
    pub tz: Option<chrono_tz::Tz>,
    /// Idle pool hours go to the pool's users by their tokens, not to its owner group.
    pub share_idle: bool,
    /// Charge capacity pools of an open period through this UTC instant (microseconds, a whole
    /// hour) instead of the end of the data; see `capacity_until`.
    pub through: Option<i64>,
    /// Add the month's reconciliation with the bills as `true_up` lines (see `true_up`).
    pub true_up: bool,
    /// Price provisioned pools' hours with what the Databricks bill charged their endpoints
    /// (see [`BilledCapacity`]) instead of capacity.csv's rate, where the bill covers them.
    pub capacity_from_bill: bool,
}

/// A past state of a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AsOf {
    /// A Delta version (the manifest of an export records the one it read).
    Version(u64),
    /// The version current at an RFC 3339 instant, e.g. `2025-02-01T00:00:00Z`.
    Timestamp(String),
}

/// What a chargeback line charges for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Charge {
    /// Tokens at their prices.
    Usage,
    /// Successes logged without token counts: cost unknown.
    Unmetered,
    /// A share of provisioned pools' busy hours.
    Capacity,
    /// Pool hours without traffic.
    Idle,
    /// The difference between the provider's bill and the ledger (`--true-up`).
    TrueUp,
    /// What a closed period moved by since it was closed (`prior_period` names it).
    Adjustment,
    /// The sum of a currency's lines.
    Total,
}

impl Charge {
    /// The word in the CSV's `charge` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Charge::Usage => "usage",
            Charge::Unmetered => "unmetered",
            Charge::Capacity => "capacity",
            Charge::Idle => "idle",
            Charge::TrueUp => "true_up",
            Charge::Adjustment => "adjustment",
            Charge::Total => "total",
        }
    }
}

impl std::fmt::Display for Charge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One line of a chargeback.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Line {
    /// Values of the keys, in the order asked for ([`TOTAL`] on a total line).
    pub keys: Vec<String>,
    /// Empty for unpriced usage.
    pub currency: String,
    pub charge: Charge,
    /// On an `adjustment` line: the closed period (`YYYY-MM`) it corrects.
    pub prior_period: Option<String>,
    pub requests: i64,
    pub input_tokens: i64,
    pub cache_read_input_tokens: i64,
    pub cache_creation_input_tokens: i64,
    pub output_tokens: i64,
    pub unpriced_requests: i64,
    pub unpriced_tokens: i64,
    /// Successful requests logged without token counts (on `unmetered` lines, and on unpriced
    /// lines, which have no cost either way).
    pub unmetered_requests: i64,
    /// Rounded to the currency's minor unit; `None` for unpriced and unmetered usage.
    pub cost: Option<Decimal>,
    /// The cost before rounding (what the rounded costs were made from).
    #[serde(skip)]
    pub unrounded: Option<Decimal>,
}

/// A chargeback: its lines (the total lines last), and what it was made from.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Chargeback {
    pub period: Period,
    pub by: Vec<String>,
    pub lines: Vec<Line>,
    /// Currency -> the unrounded total and the rounded one.
    pub totals: BTreeMap<String, (String, String)>,
    pub unpriced_requests: i64,
    /// Successful requests without token counts: their cost is unknown (`unmetered` lines).
    pub unmetered_requests: i64,
    /// Capacity pools were charged through this instant (RFC 3339): the period's end, or the
    /// end of the data (or `--through`) while the period is open. `None` without pools.
    pub capacity_through: Option<String>,
    /// The usage table read (`usage_daily`, or `usage_hourly` for a period in a time zone) and its version.
    pub table: String,
    pub table_version: i64,
    /// The `usage_hourly` version read for capacity pools, if any.
    pub hourly_version: Option<i64>,
    /// The time zone of the period's boundaries.
    pub tz: String,
    /// The config files (file -> SHA-256) the period's dates were rated with, and which
    /// dates each; `unknown` for dates rolled up before tokenledger recorded it.
    pub rated_with: Vec<RatedDates>,
    /// The config files read at export time (capacity pools), file -> SHA-256.
    pub config_at_export: BTreeMap<String, String>,
    /// The rollup's config files that changed since the period's dates were rated, and those dates.
    pub config_changed: Option<StaleConfig>,
    /// With `--true-up`: the reconciliation and the bill files (fingerprint, path) it rests on.
    pub true_up: Option<TrueUpSource>,
    /// With `--capacity-from-bill`: what the bill priced.
    pub capacity_from_bill: Option<CapacityFromBill>,
    /// The closed periods whose movement since their close this chargeback carries as
    /// `adjustment` lines (see [`close::adjust`]).
    pub adjustments: Vec<close::Carried>,
}

/// What `--capacity-from-bill` priced, for the manifest.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CapacityFromBill {
    /// The span the bill covers (RFC 3339): inside it, billed endpoints' hours cost what the bill says.
    pub bill_covers_from: String,
    pub bill_covers_to: String,
    /// Pool endpoints the bill names, and those it does not (priced by capacity.csv).
    pub billed_endpoints: Vec<String>,
    pub endpoints_not_in_bill: Vec<String>,
}

impl CapacityFromBill {
    fn of(billed: &BilledCapacity) -> Self {
        let (billed_endpoints, endpoints_not_in_bill) = billed.coverage();
        CapacityFromBill {
            bill_covers_from: crate::time::rfc3339(billed.span.0),
            bill_covers_to: crate::time::rfc3339(billed.span.1),
            billed_endpoints,
            endpoints_not_in_bill,
        }
    }
}

/// What a true-up was made from, for the manifest.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TrueUpSource {
    pub reconcile_id: String,
    pub bill_files: Vec<(String, String)>,
    /// Bill - ledger per currency, exact.
    pub difference: BTreeMap<String, String>,
}

/// Reads `usage_daily` for the period and builds the chargeback.
pub async fn chargeback(warehouse: &Warehouse, opts: &ChargebackOptions) -> Result<Chargeback> {
    let columns = key_columns(&opts.by)?;
    let (table_name, range) = match opts.tz {
        None | Some(chrono_tz::UTC) => ("usage_daily", None),
        Some(tz) => ("usage_hourly", Some(utc_range(&opts.period, tz)?)),
    };
    let ctx = warehouse.engine().context_with_memory(crate::engine::DEFAULT_MEMORY_LIMIT).await?;
    let version = register_usage(&ctx, warehouse, table_name, "usage", opts.as_of.as_ref()).await?;
    // the UTC dates the period reads, and what they were rated with
    let (first, last) = match range {
        None => (opts.period.start, opts.period.end.pred_opt().unwrap_or(opts.period.end)),
        Some((lo, hi)) => {
            let day = |micros: i64| {
                chrono::DateTime::from_timestamp_micros(micros).map_or(opts.period.start, |t| t.date_naive())
            };
            (day(lo), day(hi - 1))
        }
    };
    let rated = RatedWith::read(warehouse, table_name, version).await?;
    let config_changed = match &rated {
        Some(rated) => rated.stale(&config_digests(warehouse, &CONFIG_FILES).await?, Some((first, last))),
        None => None,
    };
    let filter = match range {
        None => format!("\"date\" >= DATE '{}' AND \"date\" < DATE '{}'", opts.period.start, opts.period.end),
        Some((lo, hi)) => format!("hour >= {} AND hour < {}", utc_instant_sql(lo), utc_instant_sql(hi)),
    };
    let keys: Vec<String> = columns.iter().map(|c| format!("\"{c}\"")).collect();
    let sql = format!(
        "SELECT {keys}, currency, sum(requests), sum(input_tokens), sum(cache_read_input_tokens), \
                sum(cache_creation_input_tokens), sum(output_tokens), sum(unpriced_requests), sum(unpriced_tokens), \
                sum(unmetered_requests), CAST(sum(cost) AS VARCHAR) \
         FROM usage WHERE {filter} \
         GROUP BY {keys}, currency ORDER BY {keys}, currency NULLS LAST",
        keys = keys.join(", "),
    );
    let mut lines = Vec::new();
    let mut unrounded = Vec::new();
    for batch in ctx.sql(&sql).await?.collect().await? {
        let n = columns.len();
        let texts = cast_columns(&batch, (0..=n).chain([n + 9]), &DataType::Utf8)?;
        let ints = cast_columns(&batch, n + 1..n + 9, &DataType::Int64)?;
        for row in 0..batch.num_rows() {
            let int = |i: usize| int_at(&ints[i], row);
            let cost_text = text_at(&texts[n + 1], row);
            let amount = (!cost_text.is_empty())
                .then(|| cost_text.parse::<Decimal>())
                .transpose()
                .map_err(|e| Error::Internal(format!("cost {cost_text:?} in {table_name}: {e}")))?;
            let keys: Vec<String> = texts[..n].iter().map(|k| text_at(k, row)).collect();
            let currency = text_at(&texts[n], row);
            // priced successes without counts: their own line, without a cost (unknown, not
            // zero); unpriced ones have no cost anyway and stay on their unpriced line
            let unmetered = int(7);
            let split = if currency.is_empty() { 0 } else { unmetered };
            unrounded.push(amount);
            lines.push(Line {
                keys: keys.clone(),
                currency: currency.clone(),
                charge: Charge::Usage,
                prior_period: None,
                requests: int(0) - split,
                input_tokens: int(1),
                cache_read_input_tokens: int(2),
                cache_creation_input_tokens: int(3),
                output_tokens: int(4),
                unpriced_requests: int(5),
                unpriced_tokens: int(6),
                unmetered_requests: unmetered - split,
                cost: None,
                unrounded: None,
            });
            if split > 0 {
                unrounded.push(None);
                lines.push(Line {
                    requests: split,
                    unmetered_requests: split,
                    ..Line::empty(keys, currency, Charge::Unmetered)
                });
            }
        }
    }
    // provisioned pools: their hours replace the per-token cost of the traffic they serve
    let (pools, hourly_version) = register_pools(&ctx, warehouse, opts.as_of.as_ref()).await?;
    let mut capacity_through = None;
    let mut capacity_from_bill = None;
    if opts.capacity_from_bill && pools.is_empty() {
        return Err(Error::Usage(
            "--capacity-from-bill prices the pools of config/capacity.csv, and it has none".into(),
        ));
    }
    if !pools.is_empty() {
        let (lo, hi) = match range {
            Some(r) => r,
            None => {
                (crate::time::date_start_micros(opts.period.start), crate::time::date_start_micros(opts.period.end))
            }
        };
        let until = capacity_until(&ctx, (lo, hi), opts.through).await?;
        capacity_through = Some(crate::time::rfc3339(until));
        let billed = match opts.capacity_from_bill {
            true => Some(BilledCapacity::load(&ctx, warehouse, &pools, (lo, hi)).await?),
            false => None,
        };
        capacity_from_bill = billed.as_ref().map(CapacityFromBill::of);
        let (allocated, pooled) =
            capacity::allocate(&ctx, &pools, (lo, until), &columns, opts.share_idle, billed.as_ref()).await?;
        for (line, amount) in lines.iter().zip(unrounded.iter_mut()) {
            if line.charge != Charge::Usage {
                continue;
            }
            if let (Some(a), Some(p)) = (amount.as_mut(), pooled.get(&(line.keys.clone(), line.currency.clone()))) {
                *a -= *p;
            }
        }
        for a in allocated {
            lines.push(Line::empty(a.keys, a.currency, a.charge));
            unrounded.push(Some(a.amount));
        }
    }
    // the bills' differences from the ledger, shared by the keys' ledger cost
    let mut true_up_source = None;
    if opts.true_up {
        let month = opts.period.start.format("%Y-%m").to_string();
        if opts.period != Period::month(&month)? || range.is_some() {
            return Err(Error::Usage(
                "--true-up charges back a month's bills: give --period YYYY-MM (in UTC, as bills are)".into(),
            ));
        }
        let t = true_up::true_up(&ctx, warehouse, &month, &columns, opts.capacity_from_bill).await?;
        for ((keys, currency), amount) in t.amounts {
            lines.push(Line::empty(keys, currency, Charge::TrueUp));
            unrounded.push(Some(amount));
        }
        true_up_source = Some(TrueUpSource {
            reconcile_id: t.reconcile_id,
            bill_files: t.bill_files,
            difference: t.difference.into_iter().map(|(c, d)| (c, d.normalize().to_string())).collect(),
        });
    }
    // round each currency's lines together, then one total line per currency
    let currencies: Vec<String> = {
        let mut c: Vec<String> = lines.iter().filter(|l| !l.currency.is_empty()).map(|l| l.currency.clone()).collect();
        c.sort();
        c.dedup();
        c
    };
    let mut totals = BTreeMap::new();
    let mut total_lines = Vec::new();
    for currency in &currencies {
        let idx: Vec<usize> =
            (0..lines.len()).filter(|&i| &lines[i].currency == currency && unrounded[i].is_some()).collect();
        let amounts: Vec<Decimal> = idx.iter().map(|&i| unrounded[i].unwrap_or_default()).collect();
        let scale = minor_unit(currency)?;
        for (&i, rounded) in idx.iter().zip(largest_remainder(&amounts, scale)) {
            lines[i].cost = Some(rounded);
            lines[i].unrounded = unrounded[i];
        }
        let sum: Decimal = amounts.iter().sum();
        totals.insert(currency.clone(), (sum.to_string(), round(sum, scale).to_string()));
        total_lines.push(total_line(&lines, columns.len(), currency, Some(round(sum, scale))));
    }
    if lines.iter().any(|l| l.currency.is_empty()) {
        total_lines.push(total_line(&lines, columns.len(), "", None));
    }
    // a key's share of a true-up that rounds to nothing is no line (the total is the same)
    lines.retain(|l| !(l.charge == Charge::TrueUp && l.cost.is_some_and(|c| c.is_zero())));
    let unpriced_requests = lines.iter().map(|l| l.unpriced_requests).sum();
    let unmetered_requests = lines.iter().map(|l| l.unmetered_requests).sum();
    lines.extend(total_lines);
    Ok(Chargeback {
        period: opts.period,
        by: opts.by.clone(),
        lines,
        totals,
        unpriced_requests,
        unmetered_requests,
        capacity_through,
        table: table_name.to_string(),
        table_version: version,
        hourly_version,
        tz: opts.tz.map_or_else(|| "UTC".to_string(), |tz| tz.name().to_string()),
        rated_with: RatedWith::between(rated.as_ref(), first, last),
        config_at_export: config_digests(warehouse, &["capacity.csv"]).await?,
        config_changed,
        true_up: true_up_source,
        capacity_from_bill,
        adjustments: Vec::new(),
    })
}

/// Through when capacity pools are charged over `[lo, hi)` (UTC microseconds): a period the
/// data has passed is charged whole; an open one through the end of the data (the end of the
/// last UTC date with usage in `hourly`, the date budget status counts through), or through
/// `through` when given, never past its end.
/// The chargeback, the FOCUS export and budget status all charge pools through this instant,
/// so none of them charges idle hours that have not happened yet.
async fn capacity_until(ctx: &SessionContext, (lo, hi): (i64, i64), through: Option<i64>) -> Result<i64> {
    let until = match through {
        Some(t) => t,
        None => {
            let batches = ctx.sql("SELECT arrow_cast(max(hour), 'Int64') FROM hourly").await?.collect().await?;
            let last = match batches.first().filter(|b| b.num_rows() > 0) {
                Some(b) => cast_columns(b, [0], &DataType::Int64)?.remove(0),
                None => return Ok(lo),
            };
            use crate::time::MICROS_PER_DAY as DAY;
            if last.is_null(0) { lo } else { (int_at(&last, 0).div_euclid(DAY) + 1) * DAY }
        }
    };
    Ok(until.clamp(lo, hi.max(lo)))
}

/// The period's bounds in `tz` as UTC microseconds: the first instant of its first day and of
/// the day after it. The usage tables are kept per UTC hour, so a zone whose day starts inside
/// a UTC hour (India, Nepal, ...) cannot be cut exactly.
fn utc_range(period: &Period, tz: chrono_tz::Tz) -> Result<(i64, i64)> {
    let bound = |day: NaiveDate| -> Result<i64> {
        let instant = local_day_start(day, tz)?;
        let micros = instant.timestamp_micros();
        if micros % crate::time::MICROS_PER_HOUR != 0 {
            return Err(Error::Usage(format!(
                "the day {day} in {tz} starts at {instant}, not on a whole UTC hour, and usage is kept per UTC hour: \
                 use a zone with a whole-hour offset, or UTC"
            )));
        }
        Ok(micros)
    };
    Ok((bound(period.start)?, bound(period.end)?))
}

/// The first instant of the local date `day` in `tz`: its midnight, or, where the clocks jump
/// over midnight (America/Santiago on 2024-09-08 goes from 23:59:59 to 01:00), the instant of
/// the jump, when that date begins on the local clock.
fn local_day_start(day: NaiveDate, tz: chrono_tz::Tz) -> Result<chrono::DateTime<chrono_tz::Tz>> {
    use chrono::{Offset, TimeZone};
    let midnight = day.and_time(chrono::NaiveTime::MIN);
    if let Some(instant) = tz.from_local_datetime(&midnight).earliest() {
        return Ok(instant);
    }
    // Midnight is in a gap. With the offsets a day before and a day after (zones change
    // offset months apart), the jump is after midnight read at the later offset and no later
    // than midnight read at the earlier one; between those two instants the local clock is
    // before midnight until the jump and after it from then on, so the jump is found by
    // bisection to the second (tz data is in whole seconds).
    let missing =
        || Error::Usage(format!("{day} has no midnight in {tz}, and its first instant could not be found: use UTC"));
    let instant = |utc: i64| chrono::DateTime::from_timestamp(utc, 0).map(|t| t.with_timezone(&tz)).ok_or_else(missing);
    let offset_at = |utc: i64| instant(utc).map(|t| i64::from(t.offset().fix().local_minus_utc()));
    // seconds of the local midnight as if it were UTC
    let midnight_utc = midnight.and_utc().timestamp();
    let (before, after) = (offset_at(midnight_utc - 86_400)?, offset_at(midnight_utc + 86_400)?);
    if after <= before {
        return Err(missing());
    }
    // the local clock reads before midnight at `lo`, and midnight or later at `hi`
    let (mut lo, mut hi) = (midnight_utc - after, midnight_utc - before);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if mid + offset_at(mid)? >= midnight_utc { hi = mid } else { lo = mid }
    }
    instant(hi)
}

fn key_columns(by: &[String]) -> Result<Vec<&'static str>> {
    if by.is_empty() {
        return Err(Error::Usage("--by needs at least one key".into()));
    }
    by.iter()
        .map(|k| {
            KEYS.iter().find(|(name, _)| name == k).map(|(_, c)| *c).ok_or_else(|| {
                let names: Vec<&str> = KEYS.iter().map(|(n, _)| *n).collect();
                Error::UnknownKey { key: k.clone(), known: names.join(", ") }
            })
        })
        .collect()
}

impl Line {
    /// The counts, in the CSV's order: requests, input, cache read, cache creation and output
    /// tokens, unpriced requests, unpriced tokens, unmetered requests.
    pub fn counts(&self) -> [i64; 8] {
        [
            self.requests,
            self.input_tokens,
            self.cache_read_input_tokens,
            self.cache_creation_input_tokens,
            self.output_tokens,
            self.unpriced_requests,
            self.unpriced_tokens,
            self.unmetered_requests,
        ]
    }

    /// The counts to change, in the order of [`Line::counts`].
    pub fn counts_mut(&mut self) -> [&mut i64; 8] {
        [
            &mut self.requests,
            &mut self.input_tokens,
            &mut self.cache_read_input_tokens,
            &mut self.cache_creation_input_tokens,
            &mut self.output_tokens,
            &mut self.unpriced_requests,
            &mut self.unpriced_tokens,
            &mut self.unmetered_requests,
        ]
    }

    /// A line of `charge` with no counts and no cost yet.
    fn empty(keys: Vec<String>, currency: String, charge: Charge) -> Self {
        Line {
            keys,
            currency,
            charge,
            prior_period: None,
            requests: 0,
            input_tokens: 0,
            cache_read_input_tokens: 0,
            cache_creation_input_tokens: 0,
            output_tokens: 0,
            unpriced_requests: 0,
            unpriced_tokens: 0,
            unmetered_requests: 0,
            cost: None,
            unrounded: None,
        }
    }
}

/// The sum of the lines of `currency` (empty: unpriced usage) under the key [`TOTAL`].
fn total_line(lines: &[Line], keys: usize, currency: &str, cost: Option<Decimal>) -> Line {
    let of: Vec<&Line> = lines.iter().filter(|l| l.currency == currency).collect();
    let sum = |f: fn(&Line) -> i64| of.iter().map(|l| f(l)).sum();
    Line {
        requests: sum(|l| l.requests),
        input_tokens: sum(|l| l.input_tokens),
        cache_read_input_tokens: sum(|l| l.cache_read_input_tokens),
        cache_creation_input_tokens: sum(|l| l.cache_creation_input_tokens),
        output_tokens: sum(|l| l.output_tokens),
        unpriced_requests: sum(|l| l.unpriced_requests),
        unpriced_tokens: sum(|l| l.unpriced_tokens),
        unmetered_requests: sum(|l| l.unmetered_requests),
        cost,
        ..Line::empty(vec![TOTAL.to_string(); keys], currency.to_string(), Charge::Total)
    }
}

impl Chargeback {
    /// The CSV header.
    pub fn header(&self) -> Vec<String> {
        let mut h = vec!["period_start".to_string(), "period_end".to_string()];
        h.extend(self.by.iter().cloned());
        h.extend(
            [
                "currency",
                "charge",
                "prior_period",
                "requests",
                "input_tokens",
                "cache_read_input_tokens",
                "cache_creation_input_tokens",
                "output_tokens",
                "unpriced_requests",
                "unpriced_tokens",
                "unmetered_requests",
                "cost",
            ]
            .map(String::from),
        );
        h
    }

    /// Each line's cells, as written to the CSV (text neutralised, numbers plain).
    pub fn rows(&self) -> Vec<Vec<String>> {
        let last_day = self.period.end.pred_opt().unwrap_or(self.period.end);
        self.lines
            .iter()
            .map(|l| {
                let mut r = vec![self.period.start.to_string(), last_day.to_string()];
                r.extend(l.keys.iter().map(|k| neutralise(k)));
                r.push(neutralise(&l.currency));
                r.push(l.charge.to_string());
                r.push(l.prior_period.clone().unwrap_or_default());
                r.extend(l.counts().map(|n| n.to_string()));
                r.push(l.cost.map(|c| c.to_string()).unwrap_or_default());
                r
            })
            .collect()
    }

    /// The lines' rounded costs as a bar per key, stacked by charge (usage, capacity, idle);
    /// the total and unpriced lines are not drawn. With more than one currency a bar's label
    /// names its currency.
    pub fn chart(&self) -> crate::output::chart::Chart {
        use crate::output::chart::{Chart, ChartKind};
        let currencies: std::collections::BTreeSet<&str> =
            self.lines.iter().filter(|l| l.cost.is_some()).map(|l| l.currency.as_str()).collect();
        let last_day = self.period.end.pred_opt().unwrap_or(self.period.end);
        let unit = currencies.iter().copied().collect::<Vec<_>>().join(" / ");
        let mut chart = Chart::new(
            ChartKind::Bar,
            &format!("Chargeback {} .. {} by {}", self.period.start, last_day, self.by.join(", ")),
            &self.by.join(" / "),
            &format!("cost ({unit})"),
        );
        let mut lines: Vec<&Line> =
            self.lines.iter().filter(|l| l.charge != Charge::Total && l.cost.is_some()).collect();
        // the largest first: the bars read from the top
        let mut key_totals: BTreeMap<(&[String], &str), Decimal> = BTreeMap::new();
        for l in &lines {
            *key_totals.entry((&l.keys, &l.currency)).or_default() += l.cost.unwrap_or_default();
        }
        let key_total = |l: &Line| key_totals[&(l.keys.as_slice(), l.currency.as_str())];
        lines.sort_by(|a, b| key_total(b).cmp(&key_total(a)).then(a.keys.cmp(&b.keys)));
        for l in lines {
            let mut label = l.keys.join(" / ");
            if currencies.len() > 1 {
                label = format!("{label} ({})", l.currency);
            }
            let cost = l.cost.unwrap_or_default().to_string().parse::<f64>().unwrap_or(0.0);
            chart.add(&label, l.charge.as_str(), cost);
        }
        chart
    }

    /// Writes the CSV to `path` and its manifest beside it (`<path>.manifest.json`); returns
    /// the manifest's path. The same chargeback gives the same bytes.
    pub fn write_csv(&self, path: &Path, arguments: &[String]) -> Result<PathBuf> {
        let bytes = crate::output::csv_bytes(self.header(), self.rows())?;
        crate::output::write_atomic(path, &bytes)?;
        let file = path.file_name().map(|f| f.to_string_lossy().to_string()).unwrap_or_default();
        let manifest = self.manifest(&file, &bytes, arguments);
        let manifest_path = PathBuf::from(format!("{}.manifest.json", path.display()));
        crate::output::write_atomic(&manifest_path, (serde_json::to_string_pretty(&manifest)? + "\n").as_bytes())?;
        Ok(manifest_path)
    }

    /// The manifest of the CSV `bytes` of this chargeback, written as `file`: what it was made
    /// from, and `arguments` to make it again.
    pub fn manifest(&self, file: &str, bytes: &[u8], arguments: &[String]) -> serde_json::Value {
        serde_json::json!({
            "file": file,
            "sha256": hex::encode(Sha256::digest(bytes)),
            "rows": self.lines.len(),
            "period": { "start": self.period.start.to_string(), "end_exclusive": self.period.end.to_string() },
            "by": self.by,
            "arguments": arguments,
            "tables": { self.table.clone(): { "version": self.table_version } },
            "usage_hourly_version_for_capacity": self.hourly_version,
            "capacity_charged_through": self.capacity_through,
            "time_zone": self.tz,
            "rated_with": self.rated_with,
            "config_read_at_export": self.config_at_export,
            "config_changed_since_rated": self.config_changed,
            "true_up": self.true_up,
            "capacity_from_bill": self.capacity_from_bill,
            "adjustments": self.adjustments,
            "totals": self.totals.iter().map(|(c, (exact, rounded))| {
                (c.clone(), serde_json::json!({ "unrounded": exact, "rounded": rounded }))
            }).collect::<serde_json::Map<_, _>>(),
            "unpriced_requests": self.unpriced_requests,
            "unmetered_requests": self.unmetered_requests,
            "tokenledger_version": env!("CARGO_PKG_VERSION"),
        })
    }
}

// ------------------------------------------------------------------------------------------------
// Shared by the chargeback, FOCUS, capacity and budget queries
// ------------------------------------------------------------------------------------------------

/// A UTC instant (microseconds) as a SQL expression of the usage tables' `hour` type.
fn utc_instant_sql(micros: i64) -> String {
    format!("arrow_cast({micros}, 'Timestamp(Microsecond, Some(\"UTC\"))')")
}

/// Opens the usage table `table` (at `as_of`, if given) and registers it in `ctx` as `name`;
/// returns the version read.
async fn register_usage(
    ctx: &SessionContext,
    warehouse: &Warehouse,
    table: &str,
    name: &str,
    as_of: Option<&AsOf>,
) -> Result<i64> {
    if !warehouse.has_table(table).await? {
        return Err(Error::NoTable { table: table.to_string(), warehouse: warehouse.to_string() });
    }
    let url = warehouse.table_url(table)?;
    let delta =
        match as_of {
            None => deltalake::open_table(url).await?,
            Some(AsOf::Version(v)) => deltalake::open_table_with_version(url, *v)
                .await
                .map_err(|e| Error::NoVersion { table: table.to_string(), version: *v, reason: e.to_string() })?,
            Some(AsOf::Timestamp(t)) => deltalake::open_table_with_ds(url, t).await.map_err(|e| {
                Error::Usage(format!("{table} as of {t:?}: {e} (use RFC 3339, e.g. 2025-02-01T00:00:00Z)"))
            })?,
        };
    ctx.register_table(name, warehouse.engine().delta_table(ctx, &delta).await?)?;
    Ok(delta.version().map_or(0, |v| v as i64))
}

/// The pools of `config/capacity.csv`; when there are any, `usage_hourly` (at `as_of`) is
/// registered in `ctx` as `hourly` for [`capacity::allocate`], and its version returned.
async fn register_pools(
    ctx: &SessionContext,
    warehouse: &Warehouse,
    as_of: Option<&AsOf>,
) -> Result<(Vec<Pool>, Option<i64>)> {
    let pools = crate::pricing::Capacity::load(&warehouse.config_file("capacity.csv").await?)?.pools;
    if pools.is_empty() {
        return Ok((pools, None));
    }
    if matches!(as_of, Some(AsOf::Version(_))) {
        return Err(Error::Usage(
            "--as-of-version names one table's version; with capacity pools (which read usage_hourly too) use --as-of TIMESTAMP".into(),
        ));
    }
    let version = register_usage(ctx, warehouse, "usage_hourly", "hourly", as_of).await?;
    Ok((pools, Some(version)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods() {
        let jan = Period::month("2025-01").unwrap();
        assert_eq!((jan.start.to_string(), jan.end.to_string()), ("2025-01-01".into(), "2025-02-01".into()));
        let dec = Period::month("2024-12").unwrap();
        assert_eq!(dec.end.to_string(), "2025-01-01");
        assert!(Period::month("2025-13").is_err());
        assert!(Period::month("January").is_err());
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(Period::days(d("2025-01-05"), d("2025-01-05")).unwrap().end, d("2025-01-06"));
        assert!(Period::days(d("2025-01-06"), d("2025-01-05")).is_err());
    }

    #[test]
    fn periods_in_a_time_zone() {
        let jan = Period::month("2025-01").unwrap();
        // New York is UTC-5 in January: 2025-01-01T05:00Z .. 2025-02-01T05:00Z
        let (lo, hi) = utc_range(&jan, chrono_tz::America::New_York).unwrap();
        assert_eq!(chrono::DateTime::from_timestamp_micros(lo).unwrap().to_rfc3339(), "2025-01-01T05:00:00+00:00");
        assert_eq!(chrono::DateTime::from_timestamp_micros(hi).unwrap().to_rfc3339(), "2025-02-01T05:00:00+00:00");
        let err = utc_range(&jan, chrono_tz::Asia::Kolkata).unwrap_err().to_string();
        assert!(err.contains("whole UTC hour"), "{err}");
    }

    #[test]
    fn a_day_without_a_midnight_starts_when_its_clock_does() {
        // Santiago moves from -04 to -03 at 2024-09-08 00:00, which becomes 01:00 local: the
        // day starts at 01:00 -03 = 04:00 UTC, and the day before ends there too.
        let santiago = chrono_tz::America::Santiago;
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let utc = |micros: i64| chrono::DateTime::from_timestamp_micros(micros).unwrap().to_rfc3339();
        let starting = Period::days(d("2024-09-08"), d("2024-09-09")).unwrap();
        let (lo, hi) = utc_range(&starting, santiago).unwrap();
        assert_eq!((utc(lo), utc(hi)), ("2024-09-08T04:00:00+00:00".into(), "2024-09-10T03:00:00+00:00".into()));
        let ending = Period::days(d("2024-09-01"), d("2024-09-07")).unwrap();
        let (lo, hi) = utc_range(&ending, santiago).unwrap();
        assert_eq!((utc(lo), utc(hi)), ("2024-09-01T04:00:00+00:00".into(), "2024-09-08T04:00:00+00:00".into()));
        // the first instant is on the local date itself, at 01:00
        assert_eq!(local_day_start(d("2024-09-08"), santiago).unwrap().to_rfc3339(), "2024-09-08T01:00:00-03:00");
        // a month over the change, as --period gives it
        let (lo, hi) = utc_range(&Period::month("2024-09").unwrap(), santiago).unwrap();
        assert_eq!((utc(lo), utc(hi)), ("2024-09-01T04:00:00+00:00".into(), "2024-10-01T03:00:00+00:00".into()));
    }

    #[test]
    fn keys_are_checked() {
        assert_eq!(key_columns(&["group".into(), "endpoint".into()]).unwrap(), vec!["group", "endpoint_name"]);
        let err = key_columns(&["team".into()]).unwrap_err().to_string();
        assert!(err.contains("cost_center"), "{err}");
    }
}
