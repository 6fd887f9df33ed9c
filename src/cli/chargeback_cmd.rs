//! `tokenledger chargeback`

use std::path::PathBuf;

use chrono::NaiveDate;
use clap::Args;

use super::{Cli, OutputFormat, print_json};
use crate::chargeback::close::{
    History, PeriodEvent, adjust, closed_bytes, cost_by_currency, difference, snapshot, today,
};
use crate::chargeback::{AsOf, ChargebackOptions, Period, chargeback};
use crate::error::{Error, Result};
use crate::output::Table;
use crate::warehouse::Warehouse;

/// Exit code of `--fail-on-unpriced` when the period has usage without a known cost.
pub const EXIT_UNPRICED: i32 = 6;

#[derive(Debug, Args)]
#[command(after_help = "\
Sums usage_daily over a period by the keys of --by, one line per key and currency, and one
*TOTAL* line per currency. Cost is rounded to the currency's minor unit (cents) so that the
lines add up exactly to the rounded total (largest remainder). Usage without a price has its
own lines, with an empty cost, and its own *TOTAL* line: it is never a silent zero.

Successful requests logged without token counts (a stream without include_usage) have lines
of their own too (charge = unmetered, empty cost): their cost is unknown, not zero.

Provisioned-throughput pools in config/capacity.csv cost every hour of the period: busy hours
are split by token share (charge = capacity), hours without traffic go to the pool's owner
group (charge = idle), and the pooled traffic's per-token price is not charged on top. While
the period is open (the data ends inside it), pools are charged through the end of the data
(the end of the last UTC day with usage), or --through; the manifest says through when.

With --output, writes a CSV that is safe to open in a spreadsheet (cells that start with
= + - @ are prefixed with ') and FILE.manifest.json beside it: the table version read, the
config files (SHA-256) each date was rated with, those read at export (capacity.csv), the
arguments, the totals and the CSV's SHA-256. The same arguments on the same table version give
the same bytes; when today's config differs from the one the dates were rated with, a notice
on stderr (and the manifest) names the files and the dates.

Examples:
  tokenledger chargeback --period 2025-01 --by cost_center,group --output jan.csv
  tokenledger chargeback --from 2025-01-01 --to 2025-01-15 --by requester
  tokenledger chargeback --period 2025-01 --fail-on-unpriced --output jan.csv   # exit 6 if any cost is unknown
  tokenledger chargeback --period 2025-01 --through 2025-01-20T00:00:00Z        # pools of an open month through the 19th
  tokenledger chargeback --period 2025-01 --as-of-version 12 --output jan.csv   # reproduce an export that read version 12
  tokenledger chargeback --period 2025-01 --tz America/New_York                 # January in New York (read per hour)
  tokenledger --format focus chargeback --period 2025-01 --output focus.csv     # FOCUS 1.3 for FinOps tools
  tokenledger --format focus chargeback --period 2025-01 --focus-version 1.2 --output focus.csv  # as FOCUS 1.2
  tokenledger chargeback --period 2025-01 --by group --chart jan.svg            # each group's cost as a bar
  tokenledger chargeback --period 2025-01 --true-up --output jan.csv             # the invoice: bills - ledger as true_up lines")]
pub struct ChargebackArgs {
    /// The month to charge back, YYYY-MM (UTC).
    #[arg(long, value_name = "YYYY-MM", conflicts_with_all = ["from", "to"], required_unless_present_all = ["from", "to"])]
    pub period: Option<String>,
    /// First day of the period (YYYY-MM-DD, inclusive), with --to.
    #[arg(long, value_name = "DATE", requires = "to")]
    pub from: Option<NaiveDate>,
    /// Last day of the period (YYYY-MM-DD, inclusive), with --from.
    #[arg(long, value_name = "DATE", requires = "from")]
    pub to: Option<NaiveDate>,
    /// Keys of the lines, comma-separated: cost_center, group, requester, endpoint, served_entity, provider.
    #[arg(long, value_delimiter = ',', default_value = "cost_center,group")]
    pub by: Vec<String>,
    /// Write the chargeback to this CSV file (and a manifest beside it) instead of printing it.
    #[arg(long, value_name = "FILE.csv")]
    pub output: Option<PathBuf>,
    /// Exit with code 6 when the period has usage without a known cost (after writing the file): requests
    /// without a price, and successful requests logged without token counts (unmetered).
    #[arg(long)]
    pub fail_on_unpriced: bool,
    /// Charge capacity pools of an open period through this instant (RFC 3339, a whole UTC hour, e.g.
    /// 2025-01-20T00:00:00Z) instead of the end of the data. A period the data has passed is always charged whole.
    #[arg(long, value_name = "TIMESTAMP")]
    pub through: Option<String>,
    /// Read usage_daily at this Delta version (the manifest of an earlier export names it): the same bytes again.
    #[arg(long, value_name = "N", conflicts_with = "as_of")]
    pub as_of_version: Option<u64>,
    /// Read usage_daily as it was at this instant (RFC 3339, e.g. 2025-02-01T00:00:00Z).
    #[arg(long, value_name = "TIMESTAMP")]
    pub as_of: Option<String>,
    /// Charge the idle hours of capacity pools to their users, by their tokens in the period, instead of the owner group.
    #[arg(long)]
    pub share_idle: bool,
    /// Charge back the bills: add the month's reconciliation (`tokenledger reconcile`) as true_up lines, each
    /// day's and model's difference shared by the keys' ledger cost, so that the lines add up to the bills.
    #[arg(long)]
    pub true_up: bool,
    /// Price provisioned pools' hours with the Databricks bill (`bill import --source databricks-billing`): each hour
    /// of a pool's endpoint costs what system.billing.usage charged for it, instead of capacity.csv's rate. Hours
    /// outside the span the bill covers, and endpoints it does not name, keep capacity.csv's rate.
    #[arg(long)]
    pub capacity_from_bill: bool,
    /// The time zone whose midnights bound the period (an IANA name such as Europe/Berlin; whole-hour offsets only).
    #[arg(long, value_name = "ZONE", default_value = "UTC")]
    pub tz: chrono_tz::Tz,
    /// With --format focus: the FOCUS release to write. 1.3 adds ServiceProviderName and HostProviderName, the
    /// split cost allocation columns on capacity pool rows (AllocatedMethodId, AllocatedMethodDetails,
    /// AllocatedResourceId, AllocatedResourceName, AllocatedTags) and ContractApplied on discounted rows; 1.2
    /// writes the columns and bytes of exports before 1.3.
    #[arg(long, value_name = "VERSION", default_value = "1.3")]
    pub focus_version: crate::chargeback::FocusVersion,
    /// Draw the lines' costs as stacked bars (usage, capacity, idle) to FILE.svg or FILE.png.
    #[arg(long, value_name = "FILE.svg|FILE.png")]
    pub chart: Option<PathBuf>,
}

pub async fn run(warehouse: &Warehouse, args: &ChargebackArgs, cli: &Cli) -> Result<i32> {
    let period = match (&args.period, args.from, args.to) {
        (Some(month), _, _) => Period::month(month)?,
        (None, Some(from), Some(to)) => Period::days(from, to)?,
        _ => return Err(Error::Usage("give --period YYYY-MM, or --from DATE --to DATE".into())),
    };
    if cli.format == OutputFormat::Focus {
        return focus(warehouse, args, period).await;
    }
    let as_of = match (args.as_of_version, &args.as_of) {
        (Some(v), _) => Some(AsOf::Version(v)),
        (None, Some(t)) => Some(AsOf::Timestamp(t.clone())),
        (None, None) => None,
    };
    let through = parse_through(args.through.as_deref())?;
    let reading_the_past = as_of.is_some();
    // a closed month is its closed bytes; the first open month carries the closed ones' movement
    let history = match as_of.is_none() && args.tz == chrono_tz::UTC {
        true => Some(History::load(warehouse).await?),
        false => None,
    };
    if let Some(close) = history.as_ref().and_then(|h| h.closed(&period.start.format("%Y-%m").to_string()))
        && Period::month(&close.period)? == period
    {
        if close.by == args.by {
            return closed(warehouse, close, history.as_ref(), args, cli).await;
        }
        eprintln!(
            "notice: {} is closed by {}; this is today's view by {}, not a closed export",
            close.period,
            close.by.join(","),
            args.by.join(",")
        );
    }
    let mut report = chargeback(
        warehouse,
        &ChargebackOptions {
            period,
            by: args.by.clone(),
            as_of,
            tz: Some(args.tz),
            share_idle: args.share_idle,
            through,
            true_up: args.true_up,
            capacity_from_bill: args.capacity_from_bill,
        },
    )
    .await?;
    if let Some(history) = &history {
        for notice in adjust(warehouse, &mut report, history).await? {
            eprintln!("notice: {notice}");
        }
    }
    if let Some(changed) = &report.config_changed {
        if reading_the_past {
            eprintln!(
                "notice: {} version {} was rated with config that differs from today's: {} changed since dates {} \
                 were rolled up. The export shows what they were computed with then (the manifest records both).",
                report.table,
                report.table_version,
                changed.file_keys(),
                changed.dates.join(", ")
            );
        } else {
            eprintln!("notice: {}", changed.notice());
        }
    }
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    if let Some(path) = &args.chart {
        super::draw(&report.chart(), path, cli)?;
    }
    match (&args.output, cli.format) {
        (Some(path), format) => {
            let manifest = report.write_csv(path, &arguments)?;
            if format == OutputFormat::Json {
                print_json(
                    &serde_json::json!({ "csv": path, "manifest": manifest, "lines": report.lines.len(), "totals": report.totals }),
                )?;
            } else if !cli.quiet {
                println!("wrote {} ({} lines) and {}", path.display(), report.lines.len(), manifest.display());
                for (currency, (_, rounded)) in &report.totals {
                    println!("total {currency} {rounded}");
                }
            }
        }
        (None, OutputFormat::Json) => print_json(&report)?,
        (None, _) => {
            let mut t = Table::with_header(report.header());
            for row in report.rows() {
                t.row_vec(row);
            }
            print!("{}", t.render());
        }
    }
    if let Some(through) = report.capacity_through.as_deref().filter(|_| !cli.quiet && cli.format != OutputFormat::Json)
    {
        eprintln!("capacity pools charged through {through}");
    }
    unpriced_outcome(report.unpriced_requests, report.unmetered_requests, args.fail_on_unpriced)
}

/// The chargeback of a closed month: the bytes kept at its close, and how much it has moved since.
async fn closed(
    warehouse: &Warehouse,
    close: &PeriodEvent,
    history: Option<&History>,
    args: &ChargebackArgs,
    cli: &Cli,
) -> Result<i32> {
    let (bytes, manifest) = closed_bytes(warehouse, close).await?;
    match (&args.output, cli.format) {
        (Some(path), _) => {
            crate::output::write_atomic(path, &bytes)?;
            crate::output::write_atomic(&PathBuf::from(format!("{}.manifest.json", path.display())), &manifest)?;
            if !cli.quiet && cli.format != OutputFormat::Json {
                println!("wrote {} (the closed export of {})", path.display(), close.period);
                for (currency, total) in &close.totals {
                    println!("total {currency} {total}");
                }
            }
        }
        (None, format) => {
            let unreadable = |e: csv::Error| Error::Internal(format!("the closed export of {}: {e}", close.period));
            let mut reader = csv::Reader::from_reader(bytes.as_slice());
            let header: Vec<String> = reader.headers().map_err(unreadable)?.iter().map(str::to_string).collect();
            let rows: Vec<Vec<String>> = reader
                .records()
                .map(|r| r.map(|r| r.iter().map(str::to_string).collect()))
                .collect::<std::result::Result<_, _>>()
                .map_err(unreadable)?;
            if format == OutputFormat::Json {
                let objects: Vec<serde_json::Map<String, serde_json::Value>> = rows
                    .iter()
                    .map(|r| header.iter().cloned().zip(r.iter().map(|c| c.clone().into())).collect())
                    .collect();
                print_json(
                    &serde_json::json!({ "closed": close.period, "event_id": close.event_id, "lines": objects }),
                )?;
            } else {
                let mut t = Table::with_header(header);
                for row in rows {
                    t.row_vec(row);
                }
                print!("{}", t.render());
            }
        }
    }
    // how far today's month is from the closed one, and where that difference is posted
    let now = snapshot(&today(warehouse, close).await?);
    let moved = cost_by_currency(&difference(&now, &close.lines));
    if !cli.quiet {
        let when = crate::time::rfc3339(close.at);
        eprintln!("{} is closed (at {when}, event {}): these are its closed bytes", close.period, close.event_id);
        let first_open = history.and_then(History::first_open).unwrap_or_default();
        for (currency, m) in moved.iter().filter(|(_, m)| !m.is_zero()) {
            eprintln!(
                "it has moved by {currency} {m} since: adjustments in the chargeback of {first_open} \
                 (tokenledger restatements --period {})",
                close.period
            );
        }
    }
    Ok(0)
}

/// `--through`: an RFC 3339 instant on a whole UTC hour, as microseconds.
fn parse_through(text: Option<&str>) -> Result<Option<i64>> {
    let Some(text) = text else { return Ok(None) };
    let instant = chrono::DateTime::parse_from_rfc3339(text)
        .map_err(|e| Error::Usage(format!("--through {text:?}: {e}; use RFC 3339, e.g. 2025-01-20T00:00:00Z")))?;
    let micros = instant.timestamp_micros();
    if micros.rem_euclid(crate::time::MICROS_PER_HOUR) != 0 {
        return Err(Error::Usage(format!("--through {text:?} is not a whole UTC hour: pools are charged by the hour")));
    }
    Ok(Some(micros))
}

/// `--format focus`: the FOCUS CSV of the period (1.3, or `--focus-version 1.2`).
async fn focus(warehouse: &Warehouse, args: &ChargebackArgs, period: crate::chargeback::Period) -> Result<i32> {
    let Some(path) = &args.output else {
        return Err(Error::Usage("--format focus writes a file: give --output FILE.csv".into()));
    };
    if args.tz != chrono_tz::UTC || args.as_of_version.is_some() || args.as_of.is_some() {
        return Err(Error::Usage("--format focus covers UTC days of the current tables: drop --tz / --as-of".into()));
    }
    if args.share_idle {
        // FOCUS rows are per day, and a day's idle hours cannot be split by the period's token
        // shares without rows that disagree with the CSV chargeback's: refuse rather than ignore
        return Err(Error::Usage(
            "--share-idle is not available with --format focus: its rows charge idle pool hours to the pool \
             (CapacityReservationStatus Unused) per day. Drop --share-idle, or export the CSV chargeback for shared idle hours"
                .into(),
        ));
    }
    let through = parse_through(args.through.as_deref())?;
    // a closed month's FOCUS export is the one kept at its close
    let history = History::load(warehouse).await?;
    if let Some(close) = history.closed(&period.start.format("%Y-%m").to_string())
        && Period::month(&close.period)? == period
    {
        match crate::chargeback::close::closed_focus_bytes(warehouse, close, args.focus_version).await? {
            Some(bytes) => {
                crate::output::write_atomic(path, &bytes)?;
                println!(
                    "wrote {} (the FOCUS export of {} as closed, event {})",
                    path.display(),
                    close.period,
                    close.event_id
                );
                return Ok(0);
            }
            None => eprintln!(
                "notice: {} is closed; FOCUS {} was not kept at its close and is made from today's tables",
                close.period,
                args.focus_version.name()
            ),
        }
    }
    let (t, f) = (args.true_up, args.capacity_from_bill);
    let (bytes, export) = crate::chargeback::focus_bytes(warehouse, &period, through, t, f, args.focus_version).await?;
    crate::output::write_atomic(path, &bytes)?;
    println!("wrote {} ({} FOCUS rows)", path.display(), export.rows);
    for (currency, cost) in &export.billed_cost {
        println!("BilledCost {currency} {cost}");
    }
    if let Some(through) = &export.capacity_through {
        println!("capacity pools charged through {through}");
    }
    unpriced_outcome(export.unpriced_requests, export.unmetered_requests, args.fail_on_unpriced)
}

/// Says how much usage has no known cost; the exit code `--fail-on-unpriced` asks for.
fn unpriced_outcome(unpriced_requests: i64, unmetered_requests: i64, fail_on_unpriced: bool) -> Result<i32> {
    if unpriced_requests > 0 {
        eprintln!(
            "{} requests in the period have no price: they are not costed (chargeback lines with an empty cost; left \
             out of a FOCUS export). Add their prices to \
             config/prices.csv and re-rate the period (tokenledger rollup --rerate --from DATE --to DATE).",
            crate::output::thousands(unpriced_requests as u64)
        );
    }
    if unmetered_requests > 0 {
        eprintln!(
            "{} successful requests in the period were logged without token counts: their cost is unknown \
             (chargeback lines `unmetered` with an empty cost). Fix the gateway's usage logging (e.g. streams with \
             stream_options.include_usage) and re-ingest, or log the payloads so that tokens can be estimated.",
            crate::output::thousands(unmetered_requests as u64)
        );
    }
    if fail_on_unpriced && (unpriced_requests > 0 || unmetered_requests > 0) {
        return Ok(EXIT_UNPRICED);
    }
    Ok(0)
}
