//! `tokenledger rollup`

use clap::Args;

use super::{Cli, OutputFormat, print_json};
use crate::error::Result;
use crate::fmt::{Table, thousands};
use crate::rollup::rollup;
use crate::warehouse::Warehouse;

#[derive(Debug, Args)]
#[command(after_help = "\
Prices each request with config/prices.csv (the price in force at its request_time), assigns
it to a group and cost center with config/principals.csv (unknown requesters go to
'unassigned' / 'UNALLOCATED'), and rewrites the usage_hourly and usage_daily tables from the
inference table, each in one atomic commit: only the dates whose inference data changed since
the last rollup (late data for an old date recomputes that date), or every date with --full.
The SQL is in sql/priced_requests.sql and sql/usage.sql. Requests without a price keep a NULL cost and are counted as unpriced.")]
pub struct RollupArgs {
    /// Recompute every date, not only those whose inference data changed since the last rollup.
    #[arg(long)]
    pub full: bool,
}

pub async fn run(warehouse: &Warehouse, args: &RollupArgs, cli: &Cli) -> Result<i32> {
    let summary = rollup(warehouse, args.full).await?;
    match cli.format {
        OutputFormat::Json => print_json(&summary)?,
        OutputFormat::Text => {
            let mut t = Table::key_value();
            let recomputed = match summary.dates_recomputed.as_slice() {
                [] => "none (no new inference data)".to_string(),
                [one] => one.clone(),
                [first, .., last] => format!("{} ({first} .. {last})", summary.dates_recomputed.len()),
            };
            t.row([format!("dates recomputed ({})", summary.mode), recomputed]);
            t.row(["dates".into(), thousands(summary.dates)]);
            t.row(["requests".into(), thousands(summary.requests)]);
            t.row(["usage_hourly rows".into(), thousands(summary.hourly_rows)]);
            t.row(["usage_daily rows".into(), thousands(summary.daily_rows)]);
            for (currency, cost) in &summary.cost {
                t.row([format!("cost ({currency}, unrounded)"), cost.clone()]);
            }
            t.row(["unpriced requests".into(), thousands(summary.unpriced_requests)]);
            t.row(["unpriced tokens".into(), thousands(summary.unpriced_tokens)]);
            t.row(["requests of unknown requesters".into(), thousands(summary.unknown_requester_requests)]);
            t.row(["elapsed".into(), format!("{:.2} s", summary.elapsed_seconds)]);
            print!("{}", t.render());
            if summary.unpriced_requests > 0 {
                println!(
                    "\n{} requests have no price in config/prices.csv at their time: they are counted as \
                     unpriced, not as free. Add the missing prices and run rollup again.",
                    thousands(summary.unpriced_requests)
                );
            }
        }
    }
    Ok(0)
}
