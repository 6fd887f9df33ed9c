//! `tokenledger run`: one batch cycle for a scheduler. Under the warehouse's lock it ingests the
//! inbox's new files, rolls up the dates that changed, imports the providers' new bills and
//! reconciles the month with them, writes the configured chargeback export (trued up to the
//! bills when asked) and checks the budgets; then it appends what it did to the `runs` table, whatever the
//! outcome. Each step is atomic on its own (one commit per table, files written aside and
//! renamed), so a cycle killed at any moment leaves the tables as before or after each step,
//! and the next cycle finishes the job.

pub mod config;
pub mod lock;
pub mod record;

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{Datelike, NaiveDate};

pub use config::{ExportPeriod, RunConfig};
pub use record::{RunRecord, list_runs};

use crate::bill::import::{BillImportOptions, held_currencies, import_bills};
use crate::bill::reconcile::{ReconcileOptions, parse_tolerance, reconcile};
use crate::chargeback::close::{ExportOptions, History, adjust, close, closed_bytes};
use crate::chargeback::{ChargebackOptions, Period, budget_status, chargeback};
use crate::error::{Error, Result};
use crate::ingest::{IngestOptions, ingest};
use crate::rollup::{RollupOptions, rollup};
use crate::warehouse::Warehouse;
use crate::warehouse::schema::INFERENCE;

/// Exit code of a cycle that found a budget spent (its work done and recorded).
pub const EXIT_OVER_BUDGET: i32 = 3;
/// Exit code of a cycle whose reconciliation with the bills has rows that are not ok (the
/// same as `tokenledger reconcile`'s).
pub const EXIT_UNRECONCILED: i32 = 7;

/// How a cycle is run.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub config: PathBuf,
    /// Overrides the config's `lock.wait_seconds`.
    pub wait: Option<Duration>,
    /// The day the cycle runs on (UTC); the last closed month is the one before it.
    pub today: Option<NaiveDate>,
    pub progress: bool,
    /// Overrides the config's `engine`.
    pub engine: Option<crate::engine::Engine>,
}

/// The month before `today`'s.
pub fn last_closed_month(today: NaiveDate) -> String {
    let first = today.with_day(1).unwrap_or(today);
    let previous = first.pred_opt().unwrap_or(first);
    format!("{:04}-{:02}", previous.year(), previous.month())
}

/// Runs one cycle; the record says what happened (also when a step failed: the error is in it
/// and in the `Err`). A cycle that cannot take the lock is not recorded.
pub async fn run(opts: &RunOptions) -> Result<RunRecord> {
    let config = RunConfig::load(&opts.config)?;
    let engine = match &opts.engine {
        Some(engine) => engine.clone(),
        None => config.engine.as_deref().unwrap_or("local").parse()?,
    };
    let warehouse = Warehouse::new(&config.warehouse_location())?.with_engine(engine);
    if !warehouse.has_table(INFERENCE).await? {
        return Err(Error::Usage(format!(
            "{}: no warehouse at {warehouse}; create it with tokenledger -w {warehouse} init",
            opts.config.display(),
        )));
    }
    let mut record = RunRecord::start(&opts.config);
    let wait = opts.wait.unwrap_or(Duration::from_secs(config.lock.wait_seconds));
    let stale_after = Duration::from_secs(config.lock.stale_after_seconds);
    let lock = lock::RunLock::acquire(&warehouse, &record.run_id, wait, stale_after).await?;
    if let Some(old) = &lock.took_over {
        record.notes.push(format!("took over the stale lock of {old}"));
    }
    tracing::info!(run_id = %record.run_id, warehouse = %warehouse, "run started");
    let outcome = cycle(&warehouse, &config, opts, &mut record).await;
    record.finish(&outcome);
    if let Err(e) = record::append(&warehouse, &record).await {
        tracing::error!(error = %e, "the run's record could not be written to the runs table");
    }
    lock.release().await;
    tracing::info!(run_id = %record.run_id, outcome = %record.outcome, exit_code = record.exit_code, "run finished");
    outcome.map(|()| record)
}

async fn cycle(warehouse: &Warehouse, config: &RunConfig, opts: &RunOptions, record: &mut RunRecord) -> Result<()> {
    // 1. ingest the inbox's new files
    let today = opts.today.unwrap_or_else(|| chrono::Utc::now().date_naive());
    let paths = config.inbox_paths()?;
    if paths.is_empty() {
        tracing::info!("the inbox is empty");
    } else {
        let summary = ingest(
            warehouse,
            &IngestOptions {
                paths,
                payloads: config.inbox.payloads,
                max_quarantine_ratio: config.inbox.max_quarantine_ratio,
                progress: opts.progress,
                source: config.inbox.source,
                served_entities: config.inbox.served_entities.as_deref().map(|p| config.path(p)),
                ..IngestOptions::default()
            },
        )
        .await?;
        record.files_ingested = summary.files_read as i64;
        record.files_skipped = summary.files_skipped as i64;
        record.records_read = summary.records_read as i64;
        record.rows_written = summary.rows_written as i64;
        record.quarantined = summary.quarantined as i64;
        tracing::info!(
            files = summary.files_read,
            skipped = summary.files_skipped,
            rows = summary.rows_written,
            quarantined = summary.quarantined,
            "ingested"
        );
    }

    // 2. roll up the dates that changed
    let summary = rollup(warehouse, &RollupOptions { progress: opts.progress, ..RollupOptions::default() }).await?;
    record.dates_recomputed = summary.dates_recomputed.len() as i64;
    record.inference_version = Some(summary.inference_version);
    for (table, version) in &summary.versions {
        match table.as_str() {
            "usage_daily" => record.usage_daily_version = Some(*version),
            "usage_hourly" => record.usage_hourly_version = Some(*version),
            _ => {}
        }
    }
    tracing::info!(dates = summary.dates_recomputed.len(), requests = summary.requests_recomputed, "rolled up");
    if let Some(stale) = &summary.stale_config {
        tracing::warn!(files = %stale.files.join(", "), dates = %stale.dates.join(", "), "dates rated with config that changed since");
        record.notes.push(stale.notice());
    }

    let month = match &config.export.period {
        ExportPeriod::LastClosedMonth => last_closed_month(today),
        ExportPeriod::Month(month) => month.clone(),
    };
    // 3. the providers' bills: the new ones imported, the month reconciled with them
    // (bill import skips the list prices where they sit among the bills)
    let list_prices = config.bills.list_prices.as_deref().map(|p| config.path(p));
    let bill_paths: Vec<PathBuf> = config.bill_paths()?;
    if !bill_paths.is_empty() {
        let book = crate::pricing::PriceBook::load(&warehouse.config_file("prices.csv").await?)?;
        // Databricks billing exports need list prices, which [bills] does not name (yet): a
        // cycle refuses such a file with the advice `bill import` gives
        let options = BillImportOptions {
            paths: bill_paths,
            source: config.bills.source,
            currencies: held_currencies(&book),
            list_prices,
            dbu_rate: config
                .bills
                .dbu_rate
                .as_deref()
                .map(|r| {
                    r.parse::<rust_decimal::Decimal>()
                        .map_err(|_| Error::Config(format!("bills.dbu_rate {r:?}: give a decimal, e.g. \"0.07\"")))
                })
                .transpose()?,
        };
        let imported = import_bills(warehouse, &options).await?;
        tracing::info!(
            files = imported.files.len(),
            lines = imported.lines,
            quarantined = imported.quarantined,
            "bills imported"
        );
        if imported.lines > 0 || imported.quarantined > 0 {
            record
                .notes
                .push(format!("bills: {} lines imported, {} rows quarantined", imported.lines, imported.quarantined));
        }
    }
    let reconciled = config.bills.reconcile && warehouse.has_table(crate::warehouse::schema::BILL_LINES).await?;
    if reconciled {
        let period = Period::month(&month)?;
        let options = ReconcileOptions {
            period: month.clone(),
            from: period.start,
            to: period.end.pred_opt().unwrap_or(period.end),
            tolerance: parse_tolerance(&config.bills.tolerance)?,
        };
        let result = reconcile(warehouse, &options).await?;
        let not_ok = result.findings().count();
        tracing::info!(month = %month, rows = result.rows.len(), not_ok, "reconciled with the bills");
        record.notes.push(format!("reconcile {month}: {not_ok} of {} rows not ok", result.rows.len()));
        if not_ok > 0 {
            record.reconcile_alert = config.bills.fail_on_mismatch;
        }
    }

    // 4. the previous month closed, close_after_days after its end
    if let Some(days) = config.export.close_after_days {
        let previous = last_closed_month(today);
        let due = Period::month(&previous)?.end + chrono::Days::new(u64::from(days));
        if today >= due && History::load(warehouse).await?.closed(&previous).is_none() {
            let options = ExportOptions {
                true_up: config.bills.true_up && reconciled,
                capacity_from_bill: config.bills.capacity_from_bill,
            };
            let arguments = ["close", "--period", &previous, "--by", &config.export.by.join(",")].map(String::from);
            let closed = close(warehouse, &previous, &config.export.by, options, &arguments).await?;
            let carried: Vec<&str> = closed.event.carried.keys().map(String::as_str).collect();
            tracing::info!(month = %previous, event = %closed.event.event_id, "closed");
            record.notes.push(match carried.is_empty() {
                true => format!("closed {previous}"),
                false => format!("closed {previous}, carrying the adjustments of {}", carried.join(", ")),
            });
        }
    }
    // 4b. the chargeback of the period
    if let Some(dir) = &config.export.dir {
        let dir = config.path(dir);
        let bills = ExportBills {
            true_up: config.bills.true_up && reconciled,
            capacity_from_bill: config.bills.capacity_from_bill,
        };
        let path = export_chargeback(warehouse, &dir, &month, &config.export.by, bills).await?;
        record.exports.push(path.display().to_string());
    }
    // 5. payload retention: old text dropped, the files that held it vacuumed
    if let Some(days) = config.maintenance.payload_retention_days {
        let dropped =
            crate::maintenance::drop_payloads_before(warehouse, today - chrono::Days::new(days as u64)).await?;
        let retain = config.maintenance.vacuum_retain_hours.unwrap_or(crate::maintenance::DEFAULT_RETAIN_HOURS);
        let vacuumed = crate::maintenance::vacuum(warehouse, INFERENCE, retain, false).await?;
        tracing::info!(before = %dropped.before, dates = dropped.dates_rewritten.len(), files_deleted = vacuumed.files_deleted, "payload retention");
        if !dropped.dates_rewritten.is_empty() {
            record.notes.push(format!(
                "payloads before {} dropped from {} dates",
                dropped.before,
                dropped.dates_rewritten.len()
            ));
        }
    }
    // 6. the budgets
    if config.export.budgets && warehouse.read(&crate::warehouse::config_key("budgets.csv")).await?.is_some() {
        let statuses = budget_status(warehouse, None).await?;
        let over: Vec<String> = statuses
            .iter()
            .filter(|s| s.over)
            .map(|s| format!("{} {}", s.budget.scope.column(), s.budget.name))
            .collect();
        record.budgets_over = over.len() as i64;
        if !over.is_empty() {
            tracing::warn!(budgets = %over.join(", "), "budgets spent");
            record.budget_alert = config.export.fail_on_budget;
        }
    }
    Ok(())
}

/// How the export charges the bills (`[bills] true_up`, `capacity_from_bill`).
#[derive(Debug, Clone, Copy)]
struct ExportBills {
    true_up: bool,
    capacity_from_bill: bool,
}

/// Writes `DIR/chargeback-MONTH.csv` and its manifest, as `tokenledger chargeback --period
/// MONTH --by BY --output FILE` would (the manifest says so, to reproduce it).
async fn export_chargeback(
    warehouse: &Warehouse,
    dir: &Path,
    month: &str,
    by: &[String],
    bills: ExportBills,
) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Output { path: dir.to_path_buf(), source })?;
    let dir = dir.canonicalize()?;
    let path = dir.join(format!("chargeback-{month}.csv"));
    let period = Period::month(month)?;
    // the month is over by the clock: its pools are charged whole even if its last hours had no traffic
    let through = Some(crate::time::date_start_micros(period.end));
    // a closed month is its closed bytes
    let history = History::load(warehouse).await?;
    if let Some(close) = history.closed(month).filter(|c| c.by == by) {
        let (bytes, manifest) = closed_bytes(warehouse, close).await?;
        crate::output::write_atomic(&path, &bytes)?;
        crate::output::write_atomic(&PathBuf::from(format!("{}.manifest.json", path.display())), &manifest)?;
        tracing::info!(file = %path.display(), "closed chargeback exported");
        return Ok(path);
    }
    let mut report = chargeback(
        warehouse,
        &ChargebackOptions {
            period,
            by: by.to_vec(),
            as_of: None,
            tz: None,
            share_idle: false,
            through,
            true_up: bills.true_up,
            capacity_from_bill: bills.capacity_from_bill,
        },
    )
    .await?;
    for notice in adjust(warehouse, &mut report, &history).await? {
        tracing::warn!("{notice}");
    }
    let arguments = vec![
        "-w".to_string(),
        warehouse.to_string(),
        "chargeback".into(),
        "--period".into(),
        month.to_string(),
        "--by".into(),
        by.join(","),
        "--through".into(),
        crate::time::rfc3339(crate::time::date_start_micros(period.end)),
        "--output".into(),
        path.display().to_string(),
    ];
    let flags = [(bills.true_up, "--true-up"), (bills.capacity_from_bill, "--capacity-from-bill")];
    let arguments = [arguments, flags.iter().filter(|(on, _)| *on).map(|(_, f)| f.to_string()).collect()].concat();
    report.write_csv(&path, &arguments)?;
    tracing::info!(file = %path.display(), lines = report.lines.len(), "chargeback exported");
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_closed_month_is_the_one_before_today() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(last_closed_month(d("2025-02-03")), "2025-01");
        assert_eq!(last_closed_month(d("2025-01-01")), "2024-12");
        assert_eq!(last_closed_month(d("2025-03-31")), "2025-02");
    }
}
