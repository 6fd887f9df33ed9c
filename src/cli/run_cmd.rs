//! `tokenledger run` and `tokenledger runs`

use std::path::PathBuf;

use clap::Args;

use super::sql_cmd::print_batches;
use super::{Cli, OutputFormat, print_json, show_progress};
use crate::error::Result;
use crate::run::{RunOptions, list_runs, run as run_cycle};
use crate::warehouse::Warehouse;

#[derive(Debug, Args)]
#[command(after_help = "\
One batch cycle, for a scheduler: under the warehouse's lock, ingest the inbox's new files
(each file once, by the hash of its bytes), roll up the dates that changed, import the new
bills of [bills] and reconcile the period with them, write the chargeback of the configured
period into the export folder (trued up to the bills with bills.true_up), and check the budgets. The
cycle is appended to the warehouse's runs table (tokenledger runs), also when it fails.
`tokenledger init` writes an example config to the warehouse's config/tokenledger.toml.

Exit codes:
  0  the cycle did everything
  1  a step failed (unreadable input, failed write): the error is in the runs table
  2  usage or configuration error (a bad tokenledger.toml, no warehouse)
  3  a budget is spent (export.fail_on_budget); the cycle's work is done
  4  more records quarantined than inbox.max_quarantine_ratio (nothing was ingested)
  5  another run holds the warehouse's lock (named in the message); nothing was done
  7  a row of the reconciliation with the bills is not ok (bills.fail_on_mismatch); the
     cycle's work is done (7 wins over 3)

Examples:
  tokenledger run --config /data/warehouse/config/tokenledger.toml
  tokenledger --log-format json run --config tokenledger.toml --wait 600
  0 * * * *  tokenledger -q run --config /data/warehouse/config/tokenledger.toml   # cron, hourly")]
pub struct RunArgs {
    /// The cycle's configuration (see the example `init` writes: config/tokenledger.toml).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Seconds to wait for another run's lock (default: the config's lock.wait_seconds).
    #[arg(long, value_name = "SECONDS")]
    pub wait: Option<u64>,
    /// The day the cycle runs on (UTC), for backfills: the last closed month is the one before it.
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub today: Option<chrono::NaiveDate>,
}

pub async fn run(args: &RunArgs, cli: &Cli) -> Result<i32> {
    let opts = RunOptions {
        config: args.config.clone(),
        wait: args.wait.map(std::time::Duration::from_secs),
        today: args.today,
        progress: show_progress(cli),
        engine: cli.engine.clone(),
    };
    let record = run_cycle(&opts).await?;
    match cli.format {
        OutputFormat::Json => print_json(&record)?,
        _ if cli.quiet => {}
        _ => {
            let mut t = crate::output::Table::key_value();
            let n = |v: i64| crate::output::thousands(v.max(0) as u64);
            t.row(["run".into(), record.run_id.clone()]);
            t.row(["outcome".into(), record.outcome.clone()]);
            t.row([
                "files ingested".into(),
                format!("{} ({} seen before)", n(record.files_ingested), n(record.files_skipped)),
            ]);
            t.row(["rows written".into(), n(record.rows_written)]);
            t.row(["quarantined".into(), n(record.quarantined)]);
            t.row(["dates rolled up".into(), n(record.dates_recomputed)]);
            for e in &record.exports {
                t.row(["exported".into(), e.clone()]);
            }
            t.row(["budgets spent".into(), n(record.budgets_over)]);
            t.row(["seconds".into(), format!("{:.2}", (record.ended_at_us - record.started_at_us) as f64 / 1e6)]);
            print!("{}", t.render());
        }
    }
    Ok(record.exit_code)
}

#[derive(Debug, Args)]
pub struct RunsArgs {
    /// How many runs to show.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
}

pub async fn runs(warehouse: &Warehouse, args: &RunsArgs, cli: &Cli) -> Result<i32> {
    let batches = list_runs(warehouse, args.limit).await?;
    print_batches(&batches, None, cli)
}
