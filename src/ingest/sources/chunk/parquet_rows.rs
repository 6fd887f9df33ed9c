//! Parquet: one JSON object per row, read batch by batch.

use std::fs::File;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow::datatypes::{DataType, Field, Schema};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::{lines_chunk, read_error};
use crate::error::{Error, Result};
use crate::ingest::sources::{Chunk, ChunkOptions, InputFile, LineNumbers};
use crate::ingest::validate::Typing;

/// Parquet with columns named like the native fields. Rows are rendered as JSON (with UTC
/// timestamps written as RFC 3339) and validated like any other record; line numbers are
/// 1-based row numbers.
pub(super) fn parquet_chunks(
    file: &InputFile,
    counter: Arc<AtomicU64>,
    opts: ChunkOptions,
    emit: &mut dyn FnMut(Chunk) -> bool,
) -> Result<bool> {
    let path = &file.path;
    let bad = |e: &dyn std::fmt::Display| Error::InputFormat {
        path: path.clone(),
        message: format!("not a readable Parquet file: {e}"),
    };
    let f = File::open(path).map_err(read_error(path))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(f)
        .map_err(|e| bad(&e))?
        .with_batch_size(8192)
        .build()
        .map_err(|e| bad(&e))?;
    let names: Vec<String> =
        arrow::record_batch::RecordBatchReader::schema(&reader).fields().iter().map(|f| f.name().clone()).collect();
    let missing: Vec<&str> = opts.required.iter().copied().filter(|c| !names.iter().any(|n| n == c)).collect();
    if !missing.is_empty() {
        return Err(Error::InputFormat {
            path: path.clone(),
            message: format!("not a Parquet file of {}: it lacks the columns {}", opts.what, missing.join(", ")),
        });
    }
    let mut row = 1u64;
    for (seq, batch) in (0u64..).zip(reader) {
        let batch = batch.map_err(|e| bad(&e))?;
        let batch = timestamps_as_utc(batch)?;
        let mut data = Vec::with_capacity(opts.chunk_bytes.min(64 << 20));
        {
            let mut writer = arrow::json::LineDelimitedWriter::new(&mut data);
            writer.write(&batch)?;
            writer.finish()?;
        }
        let lines: Vec<u64> = (row..row + batch.num_rows() as u64).collect();
        row += batch.num_rows() as u64;
        if !emit(lines_chunk(seq, data, LineNumbers::Each(lines), Typing::FromText)) {
            return Ok(false);
        }
    }
    counter.fetch_add(file.size, Ordering::Relaxed);
    Ok(true)
}

/// Timestamps without a zone are UTC by the ledger's convention; giving them the zone makes
/// the JSON writer print an offset, which the validator requires.
fn timestamps_as_utc(batch: arrow::record_batch::RecordBatch) -> Result<arrow::record_batch::RecordBatch> {
    let schema = batch.schema();
    if !schema.fields().iter().any(|f| matches!(f.data_type(), DataType::Timestamp(_, None))) {
        return Ok(batch);
    }
    let mut fields = Vec::new();
    let mut columns = Vec::new();
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        if let DataType::Timestamp(unit, None) = field.data_type() {
            let to = DataType::Timestamp(*unit, Some("UTC".into()));
            columns.push(arrow::compute::cast(column, &to)?);
            fields.push(Field::new(field.name(), to, field.is_nullable()));
        } else {
            columns.push(column.clone());
            fields.push(field.as_ref().clone());
        }
    }
    Ok(arrow::record_batch::RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?)
}
