//! `tokenledger close` and `tokenledger restatements`

use std::path::PathBuf;

use clap::Args;

use super::{Cli, OutputFormat, print_json};
use crate::chargeback::close::{ExportOptions, Restatement, close, reopen, restatements};
use crate::error::{Error, Result};
use crate::output::Table;
use crate::warehouse::Warehouse;

#[derive(Debug, Args)]
#[command(after_help = "\
Books a month: its chargeback (by --by, trued up with --true-up, pools at their billed hours
with --capacity-from-bill) is kept in the warehouse, and the close recorded in the periods
table with the table versions and config it was computed from and what each key was charged.
From then on `chargeback --period MONTH` gives exactly those bytes. Whatever moves the month
later (late records, a re-rate, a back-dated principal, a true-up) shows in the first open
month's chargeback as adjustment lines with prior_period = MONTH; closing that month books
them, so each difference is posted once. Closing a closed month again changes nothing.

Examples:
  tokenledger close --period 2025-01 --output jan-closed.csv
  tokenledger close --period 2025-01 --by cost_center,group --true-up
  tokenledger close --period 2025-01 --reopen --reason \"prices of Jan 14 were wrong\"
  tokenledger restatements --period 2025-01")]
pub struct CloseArgs {
    /// The month to close, YYYY-MM (UTC).
    #[arg(long, value_name = "YYYY-MM")]
    pub period: String,
    /// Keys of the lines, comma-separated (as chargeback --by).
    #[arg(long, value_delimiter = ',', default_value = "cost_center,group")]
    pub by: Vec<String>,
    /// Close the month trued up to its bills (chargeback --true-up).
    #[arg(long)]
    pub true_up: bool,
    /// Close the month with its provisioned pools at their billed hours (chargeback --capacity-from-bill).
    #[arg(long)]
    pub capacity_from_bill: bool,
    /// Also write the closed export (and its manifest) to this file.
    #[arg(long, value_name = "FILE.csv")]
    pub output: Option<PathBuf>,
    /// Reopen the closed month instead (recorded, with --reason); its numbers may change again.
    #[arg(long, requires = "reason")]
    pub reopen: bool,
    /// Why the month is reopened.
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
}

pub async fn run_close(warehouse: &Warehouse, args: &CloseArgs, cli: &Cli) -> Result<i32> {
    if args.reopen {
        let event = reopen(warehouse, &args.period, args.reason.as_deref().unwrap_or_default()).await?;
        if cli.format == OutputFormat::Json {
            print_json(&serde_json::json!({ "period": event.period, "reopened": event.event_id }))?;
        } else if !cli.quiet {
            println!(
                "reopened {} (event {}): its chargeback is computed again until it is closed",
                event.period, event.event_id
            );
        }
        return Ok(0);
    }
    let options = ExportOptions { true_up: args.true_up, capacity_from_bill: args.capacity_from_bill };
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let closed = close(warehouse, &args.period, &args.by, options, &arguments).await?;
    if let Some(path) = &args.output {
        crate::output::write_atomic(path, &closed.bytes)?;
        crate::output::write_atomic(&PathBuf::from(format!("{}.manifest.json", path.display())), &closed.manifest)?;
    }
    let e = &closed.event;
    if cli.format == OutputFormat::Json {
        print_json(&serde_json::json!({
            "period": e.period, "event_id": e.event_id, "already_closed": closed.already, "by": e.by,
            "export_sha256": e.export_sha256, "totals": e.totals,
            "carried": e.carried.keys().collect::<Vec<_>>(),
        }))?;
    } else if !cli.quiet {
        let when = crate::time::rfc3339(e.at);
        match closed.already {
            true => println!("{} was closed at {when} (event {}): nothing changed", e.period, e.event_id),
            false => println!("closed {} by {} (event {})", e.period, e.by.join(","), e.event_id),
        }
        for (currency, total) in &e.totals {
            println!("total {currency} {total}");
        }
        if !e.carried.is_empty() {
            let carried: Vec<&str> = e.carried.keys().map(String::as_str).collect();
            println!("carries the adjustments of {}", carried.join(", "));
        }
        if let Some(path) = &args.output {
            println!("wrote {}", path.display());
        }
    }
    Ok(0)
}

#[derive(Debug, Args)]
#[command(after_help = "\
Per closed month: what moved since its close, by key (closed, booked = closed plus the
adjustments already posted, today, and the requests that moved), the totals moved and still
pending (not yet posted as adjustments), what moved it where the tables tell (records
ingested after the close, dates re-rated with changed prices, principals or settings, pools,
another reconciliation of the bills) and the table versions read then and now.

Examples:
  tokenledger restatements
  tokenledger restatements --period 2025-01 --format csv --output jan-restated.csv")]
pub struct RestatementsArgs {
    /// Only this closed month, YYYY-MM.
    #[arg(long, value_name = "YYYY-MM")]
    pub period: Option<String>,
    /// Write the rows (csv or json, by --format) to this file instead of printing them.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

pub async fn run_restatements(warehouse: &Warehouse, args: &RestatementsArgs, cli: &Cli) -> Result<i32> {
    let all = restatements(warehouse, args.period.as_deref()).await?;
    match cli.format {
        OutputFormat::Json => {
            let text = serde_json::to_string_pretty(&all)? + "\n";
            match &args.output {
                Some(path) => crate::output::write_atomic(path, text.as_bytes())?,
                None => print!("{text}"),
            }
        }
        OutputFormat::Csv => {
            let (header, rows) = csv_rows(&all);
            let bytes = crate::output::csv_bytes(header, rows)?;
            match &args.output {
                Some(path) => crate::output::write_atomic(path, &bytes)?,
                None => print!("{}", String::from_utf8_lossy(&bytes)),
            }
        }
        _ if args.output.is_some() => {
            return Err(Error::Usage("--output writes csv or json: add --format csv or --format json".into()));
        }
        _ => {
            if all.is_empty() {
                println!("no closed periods: `tokenledger close --period YYYY-MM` closes one");
            }
            for r in &all {
                println!("{} closed at {} by {} (event {})", r.period, r.closed_at, r.by.join(","), r.close_event);
                let (header, rows) = csv_rows(std::slice::from_ref(r));
                let mut t = Table::with_header(header[1..].to_vec());
                for row in rows {
                    t.row_vec(row[1..].to_vec());
                }
                if r.rows.is_empty() {
                    println!("  nothing moved since the close");
                } else {
                    print!("{}", t.render());
                }
                for (currency, moved) in &r.moved {
                    let pending = r.pending.get(currency).copied().unwrap_or_default();
                    println!("  moved {currency} {moved} since the close; {pending} not yet posted as adjustments");
                }
                for cause in &r.causes {
                    println!("  cause: {cause}");
                }
                println!("  tables at close {}, today {}", r.closed_from, r.today_from);
            }
        }
    }
    Ok(0)
}

/// The restatements' key rows, for csv and the table.
fn csv_rows(all: &[Restatement]) -> (Vec<String>, Vec<Vec<String>>) {
    let keys = all.first().map_or(1, |r| r.by.len());
    let mut header = vec!["period".to_string()];
    header.extend(all.first().map_or(vec!["keys".to_string()], |r| r.by.clone()));
    header.extend(["currency", "closed", "booked", "today", "moved", "pending", "requests_moved"].map(String::from));
    let money = |d: Option<rust_decimal::Decimal>| d.map(|d| d.to_string()).unwrap_or_default();
    let mut rows = Vec::new();
    for r in all {
        for k in &r.rows {
            let mut row = vec![r.period.clone()];
            row.extend(k.keys.iter().map(|c| crate::output::neutralise(c)));
            row.resize(1 + keys, String::new());
            let zero = rust_decimal::Decimal::ZERO;
            let moved = k.today.unwrap_or(zero) - k.closed.unwrap_or(zero);
            let pending = k.today.unwrap_or(zero) - k.booked.unwrap_or(zero);
            row.extend([
                crate::output::neutralise(&k.currency),
                money(k.closed),
                money(k.booked),
                money(k.today),
                moved.to_string(),
                pending.to_string(),
                k.requests_moved.to_string(),
            ]);
            rows.push(row);
        }
    }
    (header, rows)
}
