//! Keeping a warehouse lean: `compact` merges the small files that hourly ingests and
//! restatements leave (Delta's optimize: the same rows in fewer files), `vacuum` deletes the
//! files no version within the retention window reads, and payload retention drops the
//! request/response text of old requests while every usage fact stays.
//!
//! Neither changes what a table holds, so their commits are marked
//! (`tokenledger.operation`) and the incremental rollup does not recompute the dates they
//! rewrite.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::NaiveDate;
use deltalake::writer::{DeltaWriter, RecordBatchWriter};
use futures::StreamExt;

use crate::error::{Error, Result};
use crate::warehouse::schema::{INFERENCE, INFERENCE_PARTITION, TABLES, inference_schema};
use crate::warehouse::{OPERATION_KEY, Warehouse, commit_replace_partitions, writer_properties};

/// The value of [`OPERATION_KEY`] on a payload-retention commit.
pub const PAYLOAD_RETENTION: &str = "payload_retention";

/// Every table of the warehouse that exists.
pub async fn tables(warehouse: &Warehouse) -> Result<Vec<&'static str>> {
    let mut existing = Vec::new();
    for table in TABLES {
        if warehouse.has_table(table).await? {
            existing.push(table);
        }
    }
    Ok(existing)
}

/// What `compact` did to one table.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Compacted {
    pub table: String,
    pub files_removed: u64,
    pub files_added: u64,
    pub partitions: u64,
    pub version: Option<i64>,
}

/// Merges small files of `table` into files of about `target_bytes`.
pub async fn compact(warehouse: &Warehouse, table: &str, target_bytes: u64) -> Result<Compacted> {
    let t = warehouse.open_table(table).await?;
    let target =
        std::num::NonZeroU64::new(target_bytes).ok_or_else(|| Error::Usage("--target-size must be above 0".into()))?;
    let mut metadata = serde_json::Map::new();
    metadata.insert(OPERATION_KEY.into(), "compact".into());
    let (t, metrics) = t
        .optimize()
        .with_target_size(target)
        .with_writer_properties(writer_properties())
        .with_commit_properties(deltalake::kernel::transaction::CommitProperties::default().with_metadata(metadata))
        .await?;
    let changed = metrics.num_files_removed > 0 || metrics.num_files_added > 0;
    Ok(Compacted {
        table: table.into(),
        files_removed: metrics.num_files_removed,
        files_added: metrics.num_files_added,
        partitions: metrics.partitions_optimized,
        version: changed.then(|| t.version().map_or(0, |v| v as i64)),
    })
}

/// Hours of versions `vacuum` keeps readable by default: a week, as Delta Lake does.
pub const DEFAULT_RETAIN_HOURS: u64 = 168;

/// What `vacuum` did to one table.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Vacuumed {
    pub table: String,
    pub files_deleted: usize,
    pub dry_run: bool,
}

/// Deletes the files of `table` that no version newer than `retain_hours` ago reads. Below
/// Delta's safe default of a week, versions older than that can no longer be read
/// (`chargeback --as-of-version` of an old export fails).
pub async fn vacuum(warehouse: &Warehouse, table: &str, retain_hours: u64, dry_run: bool) -> Result<Vacuumed> {
    let t = warehouse.open_table(table).await?;
    let (_, metrics) = t
        .vacuum()
        .with_retention_period(chrono::Duration::hours(retain_hours as i64))
        .with_enforce_retention_duration(false)
        .with_dry_run(dry_run)
        .await?;
    Ok(Vacuumed { table: table.into(), files_deleted: metrics.files_deleted.len(), dry_run })
}

/// What payload retention did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct PayloadRetention {
    /// Requests before this day lose their payload text.
    pub before: String,
    pub dates_rewritten: Vec<String>,
    pub rows_rewritten: u64,
    pub version: Option<i64>,
}

/// Drops `request` and `response` of the inference rows of dates before `before`: each such
/// date is rewritten whole, every other column as it was, in one commit. The files that held
/// the text stay until a vacuum deletes them.
pub async fn drop_payloads_before(warehouse: &Warehouse, before: NaiveDate) -> Result<PayloadRetention> {
    let mut table = warehouse.open_table(INFERENCE).await?;
    // the rewrite is committed from here: its reads run here too, whatever the engine
    let local = crate::engine::Engine::Local;
    let ctx = local.context_with_memory(crate::engine::DEFAULT_MEMORY_LIMIT).await?;
    ctx.register_table(INFERENCE, local.delta_table(&ctx, &table).await?)?;
    let day = |d: NaiveDate| d.format("%Y-%m-%d").to_string();
    let dates: BTreeSet<String> = {
        let sql = format!(
            "SELECT DISTINCT CAST({INFERENCE_PARTITION} AS VARCHAR) AS d FROM {INFERENCE} \
             WHERE {INFERENCE_PARTITION} < DATE '{}' AND (request IS NOT NULL OR response IS NOT NULL)",
            day(before)
        );
        let mut out = BTreeSet::new();
        for b in ctx.sql(&sql).await?.collect().await? {
            let col = arrow::compute::cast(b.column(0), &arrow::datatypes::DataType::Utf8)?;
            let col = arrow::array::AsArray::as_string::<i32>(&col);
            out.extend(col.iter().flatten().map(str::to_string));
        }
        out
    };
    let mut report = PayloadRetention { before: day(before), ..Default::default() };
    if dates.is_empty() {
        return Ok(report);
    }
    let schema = inference_schema();
    let columns: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| match f.name().as_str() {
            "request" | "response" => format!("CAST(NULL AS VARCHAR) AS {}", f.name()),
            name => format!("\"{name}\""),
        })
        .collect();
    let list: Vec<String> = dates.iter().map(|d| format!("DATE '{d}'")).collect();
    let sql =
        format!("SELECT {} FROM {INFERENCE} WHERE {INFERENCE_PARTITION} IN ({})", columns.join(", "), list.join(", "));
    let mut writer = RecordBatchWriter::for_table(&table)?.with_writer_properties(writer_properties());
    let mut stream = ctx.sql(&sql).await?.execute_stream().await?;
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        // DataFusion may hand strings back as views: the table's own types
        let cast = batch
            .columns()
            .iter()
            .zip(schema.fields())
            .map(|(c, f)| arrow::compute::cast(c, f.data_type()))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let batch = arrow::record_batch::RecordBatch::try_new(Arc::clone(&schema), cast)?;
        report.rows_rewritten += batch.num_rows() as u64;
        writer.write(batch).await?;
    }
    let adds = writer.flush().await?;
    let mut metadata = serde_json::Map::new();
    metadata.insert(OPERATION_KEY.into(), PAYLOAD_RETENTION.into());
    metadata.insert("tokenledger.payloads_before".into(), day(before).into());
    report.version = Some(commit_replace_partitions(&mut table, &dates, adds, metadata).await?);
    report.dates_rewritten = dates.into_iter().collect();
    Ok(report)
}
