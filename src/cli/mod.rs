//! Command-line definitions (clap) and dispatch; one file per command.

mod bill_cmd;
mod budget_cmd;
mod chargeback_cmd;
mod close_cmd;
mod cluster_cmd;
mod gen_cmd;
mod ingest_cmd;
mod init_cmd;
mod maintenance_cmd;
mod prices_cmd;
mod reconcile_cmd;
mod report_cmd;
mod rollup_cmd;
mod run_cmd;
mod simulate_cmd;
mod sql_cmd;
mod suggest_cmd;

use clap::{Parser, Subcommand, ValueEnum};

use crate::error::{Error, Result};
use crate::warehouse::Warehouse;

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  failure (unreadable input file, failed write, internal error)
  2  usage or configuration error
  3  budget status, run: a budget is spent (budget status --fail-on-forecast: forecast to be)
  4  ingest, run: more records quarantined than the ratio allowed (nothing was written)
  5  run, ingest, rollup, bill import, reconcile, compact, vacuum: another command holds the warehouse's lock (named)
  6  chargeback --fail-on-unpriced: the period has usage without a known cost (no price, or unmetered)
  7  reconcile: a row of the reconciliation with the bill is not ok (missing, mismatched, unmatched)";

/// tokenledger: the usage and chargeback ledger for LLM gateways.
///
/// Ingests gateway logs (native, Databricks, LiteLLM) into a Delta Lake warehouse exactly once,
/// rolls them up into priced usage tables, and charges them back to the cent; analysts query it
/// with SQL and reports, schedulers run it with `tokenledger run`.
#[derive(Debug, Parser)]
#[command(name = "tokenledger", version, after_help = EXIT_CODES)]
pub struct Cli {
    /// The warehouse: a directory, or a file://, s3://, gs:// or az:// URL.
    #[arg(short, long, global = true, env = "TOKENLEDGER_WAREHOUSE", default_value = "./warehouse")]
    pub warehouse: String,

    /// Where queries run: local (this process), or ballista://HOST:PORT[?partitions=N], a
    /// Ballista scheduler (a build with the `ballista` feature; `tokenledger cluster` starts one
    /// on this machine). N: tasks per stage, best the cluster's task slots (default 16).
    #[arg(long, global = true, env = "TOKENLEDGER_ENGINE")]
    pub engine: Option<crate::engine::Engine>,

    /// Output format: text (or table) for people, json for machines; csv and parquet for sql and report results (csv also for reconcile, restatements and simulate).
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,

    /// Less output: no progress bar, no per-file log lines.
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// More log output (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Log lines as text for people, or as JSON objects for log collectors.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    #[value(alias = "table")]
    Text,
    Json,
    /// CSV rows: `sql`, `report`, `reconcile`, `restatements` and `simulate` only.
    Csv,
    /// A Parquet file (with --output): `sql` and `report` only.
    Parquet,
    /// FOCUS 1.2 CSV (FinOps Open Cost and Usage Specification): `chargeback` only.
    Focus,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a warehouse: the Delta tables and commented example configuration.
    Init(init_cmd::InitArgs),
    /// Ingest gateway log files (JSON lines, CSV, Parquet; .gz accepted) into the inference table.
    Ingest(ingest_cmd::IngestArgs),
    /// Price and attribute the inference table into the usage_hourly and usage_daily tables.
    Rollup(rollup_cmd::RollupArgs),
    /// Chargeback for finance: a period's cost by cost center, group, ... rounded to the cent.
    Chargeback(chargeback_cmd::ChargebackArgs),
    /// Budgets: spend against config/budgets.csv, forecast, thresholds (exit 3 when over).
    Budget(budget_cmd::BudgetArgs),
    /// The providers' bills: import cost and usage reports and FOCUS exports into bill_lines.
    Bill(bill_cmd::BillArgs),
    /// Reconcile the ledger with the imported bills: per day, provider, model and charge kind (exit 7 when not ok).
    Reconcile(reconcile_cmd::ReconcileArgs),
    /// Close a month: its export never changes; later movement becomes adjustments in the first open month.
    Close(close_cmd::CloseArgs),
    /// What moved in the closed months since their close, by key and cause.
    Restatements(close_cmd::RestatementsArgs),
    /// The price book: import a published price catalog (LiteLLM's) into config/prices.csv.
    Prices(prices_cmd::PricesArgs),
    /// Replay the history under proposed gateway rate limits (config/limits.toml): who would be rejected, what it saves.
    Simulate(simulate_cmd::SimulateArgs),
    /// Propose rate limits for a goal (--max-share, --reject-at-most) from the history, replayed to check them (--emit: gateway config).
    Suggest(suggest_cmd::SuggestArgs),
    /// Run a named report (sql/reports/): top consumers, rate limits, fallbacks, break-even, anomalies ... (--chart draws it)
    Report(report_cmd::ReportArgs),
    /// Read-only SQL over the warehouse's tables: one query, or an interactive shell without one.
    Sql(sql_cmd::SqlArgs),
    /// Merge small files of the tables (same rows, fewer files).
    Compact(maintenance_cmd::CompactArgs),
    /// Delete files no recent version reads; with --payload-retention-days, drop old payload text first.
    Vacuum(maintenance_cmd::VacuumArgs),
    /// One scheduled batch cycle: ingest the inbox, roll up, export, check budgets (see tokenledger.toml).
    Run(run_cmd::RunArgs),
    /// The cycles `tokenledger run` recorded, newest first.
    Runs(run_cmd::RunsArgs),
    /// A Ballista scheduler and executors on this machine (loopback unless --host), for --engine ballista:// (feature `ballista`).
    Cluster(cluster_cmd::ClusterArgs),
    /// Generate realistic synthetic gateway logs and matching config, for demos and benchmarks.
    Gen(gen_cmd::GenArgs),
}

/// Runs the parsed command line; returns the process exit code for non-error outcomes.
/// What the user can do about `error`, in the command line's words: the library's errors say
/// what went wrong, this says which command or flag fixes it.
pub fn hint(error: &Error) -> Option<String> {
    match error {
        Error::NoTable { table, .. } if table.starts_with("usage_") => Some("run `tokenledger rollup` first".into()),
        Error::NoTable { table, .. } if table == "bill_lines" => Some("import the providers' bills first: `tokenledger bill import FILE...`".into()),
        Error::NoTable { table, .. } if table == "runs" => Some("the runs table is written by `tokenledger run --config FILE`".into()),
        Error::NoTable { .. } => {
            Some("run `tokenledger init` first (or pass -w/--warehouse, or set TOKENLEDGER_WAREHOUSE, to point at an existing warehouse)".into())
        }
        Error::NoVersion { .. } => Some("the manifest of an export names the version it read; --as-of TIMESTAMP reads the version current at an instant".into()),
        Error::EmptyRange { .. } => Some("give --from a day on or before --to".into()),
        Error::NotAMonth { .. } => Some("--period takes a month, e.g. --period 2025-01 (or use --from DATE --to DATE)".into()),
        Error::UnknownKey { .. } => Some("--by takes keys separated by commas, e.g. --by cost_center,group".into()),
        _ => None,
    }
}

/// The stack of each of the runtime's threads.
const STACK_BYTES: usize = 8 << 20;

/// What `main` does with a parsed command line: logging, a multi-threaded runtime, the
/// command, its exit code (errors printed with their hint). In the library, not in main.rs,
/// because an async function's state machine is compiled in the crate that polls it: polled
/// from the binary, every command's code was compiled once more in the binary's crate.
pub fn main(cli: Cli) -> i32 {
    init_logging(cli.quiet, cli.verbose, cli.log_format);
    // DataFusion plans, optimizes and encodes (for a cluster) its plans by recursion, one
    // frame per node: the usage model's plans are deep enough to overflow tokio's default
    // 2 MiB worker stack in a debug build's cluster
    let runtime = match tokio::runtime::Builder::new_multi_thread().thread_stack_size(STACK_BYTES).enable_all().build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return 1;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            // the crate's messages already say what their source said; printing the chain
            // again would repeat it
            eprintln!("error: {e}");
            if let Some(hint) = hint(&e) {
                eprintln!("hint: {hint}");
            }
            e.exit_code()
        }
    }
}

/// Log lines on stderr, plain or JSON (`--log-format json`); `RUST_LOG` overrides `-q` / `-v`.
fn init_logging(quiet: bool, verbose: u8, format: LogFormat) {
    let level = match (quiet, verbose) {
        (true, _) => "warn",
        (false, 0) => "tokenledger=info,warn",
        (false, 1) => "tokenledger=debug,warn",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false);
    match format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
    }
}

pub async fn run(cli: Cli) -> Result<i32> {
    let engine = cli.engine.clone().unwrap_or_default();
    let warehouse = || Warehouse::new(&cli.warehouse).map(|w| w.with_engine(engine.clone()));
    if cli.format == OutputFormat::Focus && !matches!(cli.command, Command::Chargeback(_)) {
        return Err(crate::error::Error::Usage(
            "--format focus is a chargeback export: tokenledger --format focus chargeback --period YYYY-MM --output FILE.csv".into(),
        ));
    }
    if (cli.format == OutputFormat::Parquet && !matches!(cli.command, Command::Sql(_) | Command::Report(_)))
        || (cli.format == OutputFormat::Csv
            && !matches!(
                cli.command,
                Command::Sql(_)
                    | Command::Report(_)
                    | Command::Reconcile(_)
                    | Command::Restatements(_)
                    | Command::Simulate(_)
            ))
    {
        return Err(crate::error::Error::Usage(
            "--format csv and --format parquet are for query results (sql, report; csv for reconcile, restatements and simulate too); the chargeback writes CSV with --output FILE.csv".into(),
        ));
    }
    // the commands that write take the warehouse's lock for as long as they run
    let writer = match &cli.command {
        Command::Ingest(_) => Some("ingest"),
        Command::Bill(_) => Some("bill import"),
        Command::Reconcile(_) => Some("reconcile"),
        Command::Close(_) => Some("close"),
        Command::Rollup(_) => Some("rollup"),
        Command::Compact(_) => Some("compact"),
        Command::Vacuum(_) => Some("vacuum"),
        _ => None,
    };
    let lock = match writer {
        Some(command) => writer_lock(&warehouse()?, command).await?,
        None => None,
    };
    let result = match &cli.command {
        Command::Init(args) => init_cmd::run(&warehouse()?, args, &cli).await,
        Command::Ingest(args) => ingest_cmd::run(&warehouse()?, args, &cli).await,
        Command::Rollup(args) => rollup_cmd::run(&warehouse()?, args, &cli).await,
        Command::Chargeback(args) => chargeback_cmd::run(&warehouse()?, args, &cli).await,
        Command::Budget(args) => budget_cmd::run(&warehouse()?, args, &cli).await,
        Command::Sql(args) => sql_cmd::run(&warehouse()?, args, &cli).await,
        Command::Report(args) => report_cmd::run(&warehouse()?, args, &cli).await,
        Command::Simulate(args) => simulate_cmd::run(&warehouse()?, args, &cli).await,
        Command::Suggest(args) => suggest_cmd::run(&warehouse()?, args, &cli).await,
        Command::Prices(args) => prices_cmd::run(&warehouse()?, args, &cli).await,
        Command::Bill(args) => bill_cmd::run(&warehouse()?, args, &cli).await,
        Command::Reconcile(args) => reconcile_cmd::run(&warehouse()?, args, &cli).await,
        Command::Close(args) => close_cmd::run_close(&warehouse()?, args, &cli).await,
        Command::Restatements(args) => close_cmd::run_restatements(&warehouse()?, args, &cli).await,
        Command::Compact(args) => maintenance_cmd::run_compact(&warehouse()?, args, &cli).await,
        Command::Vacuum(args) => maintenance_cmd::run_vacuum(&warehouse()?, args, &cli).await,
        Command::Run(args) => run_cmd::run(args, &cli).await,
        Command::Runs(args) => run_cmd::runs(&warehouse()?, args, &cli).await,
        Command::Gen(args) => gen_cmd::run(args, &cli),
        Command::Cluster(args) => cluster_cmd::run(args).await,
    };
    if let Some(lock) = lock {
        lock.release().await;
    }
    result
}

/// The warehouse's lock for a command that writes to it, so that a manual command and a
/// scheduled `run` never write at once (exit 5, naming the holder, when it is taken). No lock
/// for a warehouse that does not exist yet: the command says so itself.
async fn writer_lock(warehouse: &Warehouse, command: &str) -> Result<Option<crate::run::lock::RunLock>> {
    if !warehouse.has_table(crate::warehouse::schema::INFERENCE).await? {
        return Ok(None);
    }
    let id = uuid::Uuid::new_v4().to_string();
    let stale_after = crate::run::lock::DEFAULT_STALE_AFTER;
    crate::run::lock::RunLock::acquire_for(command, warehouse, &id, std::time::Duration::ZERO, stale_after)
        .await
        .map(Some)
}

/// `--chart FILE`: draws `chart` and says so.
pub(crate) fn draw(chart: &crate::output::chart::Chart, path: &std::path::Path, cli: &Cli) -> Result<()> {
    chart.render(path)?;
    if !cli.quiet {
        eprintln!("drew {}", path.display());
    }
    Ok(())
}

/// A `--memory-limit` in bytes, as the memory pool takes it.
pub(crate) fn memory_bytes(limit: bytesize::ByteSize) -> usize {
    usize::try_from(limit.as_u64()).unwrap_or(usize::MAX)
}

/// Whether to draw progress bars: on a terminal, unless quiet or a machine reads stdout.
pub(crate) fn show_progress(cli: &Cli) -> bool {
    use std::io::IsTerminal;
    !cli.quiet && std::io::stderr().is_terminal()
}

pub(crate) fn print_json<T: serde::Serialize>(value: &T) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_library_says_what_went_wrong_and_the_command_line_says_what_to_run() {
        let no_usage = Error::NoTable { table: "usage_daily".into(), warehouse: "wh".into() };
        assert_eq!(no_usage.to_string(), "no usage_daily table in warehouse wh");
        assert_eq!(no_usage.exit_code(), 2);
        assert!(hint(&no_usage).unwrap().contains("tokenledger rollup"));
        let no_inference = Error::NoTable { table: "inference".into(), warehouse: "wh".into() };
        assert!(hint(&no_inference).unwrap().contains("tokenledger init"));
        let day = |s: &str| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let range = Error::EmptyRange { from: day("2025-01-06"), to: day("2025-01-05") };
        assert!(!range.to_string().contains("--"), "no flag in the library's words: {range}");
        assert!(hint(&range).unwrap().contains("--from"));
        assert!(hint(&Error::Internal("x".into())).is_none());
    }
}
