//! `tokenledger rollup`

use chrono::NaiveDate;
use clap::Args;

use super::{Cli, OutputFormat, print_json, show_progress};
use crate::engine::DEFAULT_MEMORY_LIMIT;
use crate::error::Result;
use crate::output::{Table, thousands};
use crate::rollup::{RollupOptions, Scope, rollup};
use crate::warehouse::Warehouse;

#[derive(Debug, Args)]
#[command(after_help = "\
Prices each request with config/prices.csv (the price in force at its request_time), assigns
it to a group and cost center with config/principals.csv (unknown requesters go to
'unassigned' / 'UNALLOCATED'; config/settings.toml can let usage_context choose), and
rewrites the usage_hourly and usage_daily tables from the inference table, each in one atomic
commit. The SQL is in sql/priced_requests.sql and sql/usage.sql. Requests without a price
keep a NULL cost and are counted as unpriced, never as free.

Which dates are recomputed:
  (default)            those whose inference data changed since the last rollup (late data
                       for an old date recomputes that date), including changed dates an
                       earlier --from/--to rollup left out; every date the first time
  --full               every date that has inference data
  --from D --to D      the dates in that range (either end may be left open): a restatement
  --rerate             with --from/--to or --full, after a price change: also reports each
                       currency's cost of those dates before and after

Examples:
  tokenledger rollup
  tokenledger rollup --rerate --from 2025-01-01 --to 2025-01-31
  tokenledger rollup --full --memory-limit 4GiB")]
pub struct RollupArgs {
    /// Recompute every date, not only those whose inference data changed since the last rollup.
    #[arg(long, conflicts_with_all = ["from", "to"])]
    pub full: bool,
    /// Recompute the dates from this one (YYYY-MM-DD, inclusive).
    #[arg(long, value_name = "DATE")]
    pub from: Option<NaiveDate>,
    /// Recompute the dates up to this one (YYYY-MM-DD, inclusive).
    #[arg(long, value_name = "DATE")]
    pub to: Option<NaiveDate>,
    /// Re-rate the dates of --from/--to (or --full) with the current prices and report the change in cost.
    #[arg(long)]
    pub rerate: bool,
    /// Memory the query engine may use before it spills to disk (e.g. 512MiB, 4GiB).
    #[arg(long, value_name = "SIZE", default_value_t = bytesize::ByteSize::b(DEFAULT_MEMORY_LIMIT as u64))]
    pub memory_limit: bytesize::ByteSize,
}

pub async fn run(warehouse: &Warehouse, args: &RollupArgs, cli: &Cli) -> Result<i32> {
    let scope = match (args.full, args.from, args.to) {
        (true, _, _) => Scope::All,
        (false, None, None) => Scope::Changed,
        (false, from, to) => Scope::Range { from: from.unwrap_or(NaiveDate::MIN), to: to.unwrap_or(NaiveDate::MAX) },
    };
    let opts = RollupOptions {
        scope,
        rerate: args.rerate,
        memory_limit: super::memory_bytes(args.memory_limit),
        progress: show_progress(cli) && cli.format == OutputFormat::Text,
        ..RollupOptions::default()
    };
    let summary = rollup(warehouse, &opts).await?;
    match cli.format {
        OutputFormat::Json => print_json(&summary)?,
        _ => {
            let mut t = Table::key_value();
            let recomputed = match summary.dates_recomputed.as_slice() {
                [] => "none (no new inference data)".to_string(),
                [one] => one.clone(),
                [first, .., last] => format!("{} ({first} .. {last})", summary.dates_recomputed.len()),
            };
            t.row([format!("dates recomputed ({})", summary.mode), recomputed]);
            t.row(["requests recomputed".into(), thousands(summary.requests_recomputed)]);
            t.row(["dates".into(), thousands(summary.dates)]);
            t.row(["requests".into(), thousands(summary.requests)]);
            t.row(["usage_hourly rows".into(), thousands(summary.hourly_rows)]);
            t.row(["usage_daily rows".into(), thousands(summary.daily_rows)]);
            for (currency, cost) in &summary.cost {
                t.row([format!("cost ({currency}, unrounded)"), cost.clone()]);
            }
            for change in &summary.rerate {
                t.row([
                    format!("re-rated cost ({})", change.currency),
                    format!("{} -> {} (change {})", change.before, change.after, change.change),
                ]);
            }
            t.row(["unpriced requests".into(), thousands(summary.unpriced_requests)]);
            t.row(["unpriced tokens".into(), thousands(summary.unpriced_tokens)]);
            t.row(["unmetered requests".into(), thousands(summary.unmetered_requests)]);
            t.row(["requests of unknown requesters".into(), thousands(summary.unknown_requester_requests)]);
            t.row(["elapsed".into(), format!("{:.2} s", summary.elapsed_seconds)]);
            print!("{}", t.render());
            if summary.unpriced_requests > 0 {
                println!(
                    "\n{} requests have no price in config/prices.csv at their time: they are counted as \
                     unpriced, not as free. Add the missing prices, then re-rate those dates \
                     (tokenledger rollup --rerate --from DATE --to DATE).",
                    thousands(summary.unpriced_requests)
                );
            }
            if summary.unmetered_requests > 0 {
                println!(
                    "\n{} successful requests were logged without token counts (and without payload text to \
                     estimate them from): their cost is unknown, not zero. They are counted as unmetered \
                     (report unpriced_usage lists them); fix the gateway's usage logging, e.g. stream with \
                     stream_options.include_usage.",
                    thousands(summary.unmetered_requests)
                );
            }
            for notice in &summary.notices {
                println!("\n{notice}");
            }
        }
    }
    Ok(0)
}
