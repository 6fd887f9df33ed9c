//! The `runs` table: one row per cycle of `tokenledger run` (start, end, outcome, exit code,
//! counts, the table versions written, the exports, the error), and `tokenledger runs`.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, Date32Array, Int32Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use deltalake::writer::{DeltaWriter, RecordBatchWriter};

use crate::error::{Error, Result};
use crate::warehouse::schema::{RUNS, RUNS_PARTITION, runs_schema};
use crate::warehouse::{Warehouse, commit_append};

/// What one cycle did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RunRecord {
    pub run_id: String,
    pub started_at_us: i64,
    pub ended_at_us: i64,
    /// `ok`, `budget_over`, `quarantine_over`, `config_error` or `failed`.
    pub outcome: String,
    pub exit_code: i32,
    pub host: String,
    pub pid: i64,
    pub config: String,
    pub files_ingested: i64,
    pub files_skipped: i64,
    pub records_read: i64,
    pub rows_written: i64,
    pub quarantined: i64,
    pub dates_recomputed: i64,
    pub inference_version: Option<i64>,
    pub usage_hourly_version: Option<i64>,
    pub usage_daily_version: Option<i64>,
    pub exports: Vec<String>,
    pub budgets_over: i64,
    /// Budgets are spent and the config asks to fail on it (exit 3).
    #[serde(skip)]
    pub budget_alert: bool,
    /// The reconciliation with the bills has rows that are not ok, and the config asks to fail
    /// on it (exit 7; it wins over a budget's 3, which the notes and budgets_over still show).
    #[serde(skip)]
    pub reconcile_alert: bool,
    pub notes: Vec<String>,
    pub error: Option<String>,
}

impl RunRecord {
    pub fn start(config: &std::path::Path) -> Self {
        Self {
            run_id: uuid::Uuid::new_v4().to_string(),
            started_at_us: chrono::Utc::now().timestamp_micros(),
            host: super::lock::host_name(),
            pid: std::process::id() as i64,
            config: config.canonicalize().unwrap_or_else(|_| config.to_path_buf()).display().to_string(),
            ..Self::default()
        }
    }

    /// The outcome and exit code of a cycle that ended with `result`.
    pub fn finish(&mut self, result: &Result<()>) {
        self.ended_at_us = chrono::Utc::now().timestamp_micros();
        let (outcome, code) = match result {
            Ok(()) if self.reconcile_alert => ("unreconciled", super::EXIT_UNRECONCILED),
            Ok(()) if self.budget_alert => ("budget_over", super::EXIT_OVER_BUDGET),
            Ok(()) => ("ok", 0),
            Err(e) => {
                self.error = Some(e.to_string());
                match e.exit_code() {
                    2 => ("config_error", 2),
                    4 => ("quarantine_over", 4),
                    code => ("failed", code),
                }
            }
        };
        self.outcome = outcome.into();
        self.exit_code = code;
    }

    fn batch(&self) -> Result<RecordBatch> {
        let text = |s: &str| -> ArrayRef { Arc::new(StringArray::from(vec![s.to_string()])) };
        let opt_text = |s: Option<String>| -> ArrayRef { Arc::new(StringArray::from(vec![s])) };
        let long = |v: i64| -> ArrayRef { Arc::new(Int64Array::from(vec![v])) };
        let opt_long = |v: Option<i64>| -> ArrayRef { Arc::new(Int64Array::from(vec![v])) };
        let time = |us: i64| -> ArrayRef { Arc::new(TimestampMicrosecondArray::from(vec![us]).with_timezone("UTC")) };
        let joined = |v: &[String]| (!v.is_empty()).then(|| v.join("; "));
        let columns = vec![
            Arc::new(Date32Array::from(vec![crate::time::day_of_micros(self.started_at_us)])) as ArrayRef,
            text(&self.run_id),
            time(self.started_at_us),
            time(self.ended_at_us),
            text(&self.outcome),
            Arc::new(Int32Array::from(vec![self.exit_code])),
            text(&self.host),
            long(self.pid),
            text(&self.config),
            long(self.files_ingested),
            long(self.files_skipped),
            long(self.records_read),
            long(self.rows_written),
            long(self.quarantined),
            long(self.dates_recomputed),
            opt_long(self.inference_version),
            opt_long(self.usage_hourly_version),
            opt_long(self.usage_daily_version),
            opt_text(joined(&self.exports)),
            long(self.budgets_over),
            opt_text(joined(&self.notes)),
            opt_text(self.error.clone()),
        ];
        Ok(RecordBatch::try_new(runs_schema(), columns)?)
    }
}

/// Appends `record` to the warehouse's `runs` table (created by the first run).
pub async fn append(warehouse: &Warehouse, record: &RunRecord) -> Result<i64> {
    let mut table = if warehouse.has_table(RUNS).await? {
        warehouse.open_table(RUNS).await?
    } else {
        warehouse.create_table(RUNS, &runs_schema(), RUNS_PARTITION).await?
    };
    let mut writer = RecordBatchWriter::for_table(&table)?;
    writer.write(record.batch()?).await?;
    let adds = writer.flush().await?;
    let mut metadata = serde_json::Map::new();
    metadata.insert("tokenledger.run_id".into(), record.run_id.clone().into());
    commit_append(&mut table, adds, Vec::new(), metadata).await
}

/// The latest `limit` runs, newest first, as the query's rows.
pub async fn list_runs(warehouse: &Warehouse, limit: usize) -> Result<Vec<RecordBatch>> {
    if !warehouse.has_table(RUNS).await? {
        return Err(Error::Usage(format!(
            "no runs yet in {warehouse}: the runs table is written by tokenledger run --config FILE"
        )));
    }
    let ctx = warehouse.engine().context_with_memory(crate::engine::DEFAULT_MEMORY_LIMIT).await?;
    let table = deltalake::open_table(warehouse.table_url(RUNS)?).await?;
    ctx.register_table(RUNS, warehouse.engine().delta_table(&ctx, &table).await?)?;
    let sql = format!(
        "SELECT CAST(started_at AS VARCHAR) AS started_at, \
                round(CAST(CAST(ended_at AS BIGINT) - CAST(started_at AS BIGINT) AS DOUBLE) / 1e6, 2) AS seconds, \
                outcome, exit_code, files_ingested AS files, files_skipped AS skipped, rows_written AS rows, quarantined, \
                dates_recomputed AS dates, usage_daily_version, exports, error, run_id \
         FROM runs ORDER BY started_at DESC LIMIT {limit}"
    );
    Ok(ctx.sql(&sql).await?.collect().await?)
}
