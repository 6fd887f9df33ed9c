//! `tokenledger compact` and `tokenledger vacuum`

use clap::Args;

use super::{Cli, OutputFormat, print_json};
use crate::error::{Error, Result};
use crate::maintenance::{compact, drop_payloads_before, tables, vacuum};
use crate::output::{Table, thousands};
use crate::warehouse::Warehouse;

#[derive(Debug, Args)]
#[command(after_help = "\
Merges the small files that frequent ingests and restatements leave into files of about
--target-size, in one commit per table; the rows stay the same (the rollup does not recompute
anything for it). Old files stay on disk until `tokenledger vacuum`.

Examples:
  tokenledger compact
  tokenledger compact --table inference --target-size 128MiB")]
pub struct CompactArgs {
    /// The tables to compact (default: all of them).
    #[arg(long, value_delimiter = ',')]
    pub table: Vec<String>,
    /// The size of the files to write.
    #[arg(long, value_name = "SIZE", default_value = "256MiB")]
    pub target_size: bytesize::ByteSize,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Deletes the data files that no table version newer than --retain-hours reads: what
restatements, compaction and payload retention replaced. A version older than that can no
longer be read, so an export cannot be reproduced with --as-of-version past it; the default
keeps a week, as Delta Lake does.

With --payload-retention-days N, first drops the request and response text of every request
older than N days (before the day --today names, default today, UTC): those dates are rewritten
without their payloads, every usage fact kept, and the vacuum then deletes the files that held
the text (once they are older than --retain-hours).

Examples:
  tokenledger vacuum --dry-run
  tokenledger vacuum --payload-retention-days 30 --retain-hours 0   # personal data gone now")]
pub struct VacuumArgs {
    /// Keep the files that versions of the last HOURS read.
    #[arg(long, value_name = "HOURS", default_value_t = crate::maintenance::DEFAULT_RETAIN_HOURS)]
    pub retain_hours: u64,
    /// Only say what would be deleted.
    #[arg(long)]
    pub dry_run: bool,
    /// Drop request/response text of requests older than this many days first.
    #[arg(long, value_name = "DAYS")]
    pub payload_retention_days: Option<u32>,
    /// The day retention counts back from (UTC), for tests and backfills.
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub today: Option<chrono::NaiveDate>,
}

pub async fn run_compact(warehouse: &Warehouse, args: &CompactArgs, cli: &Cli) -> Result<i32> {
    let names = chosen(warehouse, &args.table).await?;
    let mut done = Vec::new();
    for name in names {
        done.push(compact(warehouse, name, args.target_size.as_u64()).await?);
    }
    match cli.format {
        OutputFormat::Json => print_json(&done)?,
        _ => {
            let mut t = Table::new(["table", "files removed", "files written", "partitions", "version"]);
            for c in &done {
                t.row([
                    c.table.clone(),
                    thousands(c.files_removed),
                    thousands(c.files_added),
                    thousands(c.partitions),
                    c.version.map_or("unchanged".into(), |v| v.to_string()),
                ]);
            }
            print!("{}", t.render());
        }
    }
    Ok(0)
}

pub async fn run_vacuum(warehouse: &Warehouse, args: &VacuumArgs, cli: &Cli) -> Result<i32> {
    let retention = match args.payload_retention_days {
        Some(days) if !args.dry_run => {
            let today = args.today.unwrap_or_else(|| chrono::Utc::now().date_naive());
            Some(drop_payloads_before(warehouse, today - chrono::Days::new(days as u64)).await?)
        }
        _ => None,
    };
    let mut done = Vec::new();
    for name in tables(warehouse).await? {
        done.push(vacuum(warehouse, name, args.retain_hours, args.dry_run).await?);
    }
    match cli.format {
        OutputFormat::Json => print_json(&serde_json::json!({ "payload_retention": retention, "vacuum": done }))?,
        _ => {
            if let Some(r) = &retention {
                println!(
                    "payloads before {} dropped: {} rows of {} dates rewritten{}",
                    r.before,
                    thousands(r.rows_rewritten),
                    r.dates_rewritten.len(),
                    r.version.map_or(String::new(), |v| format!(" (inference version {v})"))
                );
            }
            let mut t = Table::new(["table", if args.dry_run { "files to delete" } else { "files deleted" }]);
            for v in &done {
                t.row([v.table.clone(), thousands(v.files_deleted as u64)]);
            }
            print!("{}", t.render());
        }
    }
    Ok(0)
}

async fn chosen<'a>(warehouse: &Warehouse, asked: &'a [String]) -> Result<Vec<&'a str>> {
    let all = tables(warehouse).await?;
    if asked.is_empty() {
        return Ok(all);
    }
    asked
        .iter()
        .map(|t| {
            if all.contains(&t.as_str()) {
                Ok(t.as_str())
            } else {
                Err(Error::Usage(format!("no table {t} in the warehouse; it has {}", all.join(", "))))
            }
        })
        .collect()
}
