//! Where rows come from, and the `quarantine` table's rows: shared by everything that reads
//! files into the warehouse (gateway logs, bills), so that every rejected record lands in one
//! table the same way.

use arrow::array::{ArrayRef, Date32Builder, Int64Builder, StringBuilder, TimestampMicrosecondBuilder};
use arrow::record_batch::RecordBatch;
use std::sync::Arc;

use crate::error::Result;
use crate::warehouse::schema::quarantine_schema;

/// Where a batch of rows came from; the same for every row of one input file.
#[derive(Debug, Clone)]
pub struct Lineage {
    /// Which adapter read the file (`native`, `openai-costs` ...).
    pub source: String,
    pub source_file: String,
    /// Id of the run that read it (an ingest or a bill import).
    pub ingest_batch_id: String,
    /// Microseconds since the epoch, UTC: when that run started.
    pub ingested_at_us: i64,
}

/// Longest raw text kept in a quarantine row; `raw_bytes` keeps the real length.
pub const RAW_CAP_BYTES: usize = 4096;

/// `bytes` as text for a person to read: invalid UTF-8 replaced, cut at a char boundary.
pub fn capped_text(bytes: &[u8]) -> String {
    let head = &bytes[..bytes.len().min(RAW_CAP_BYTES)];
    let mut text = String::from_utf8_lossy(head).into_owned();
    if text.len() > RAW_CAP_BYTES {
        let mut cut = RAW_CAP_BYTES;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    text
}

/// One rejected record: where it is in its file, why, and its text.
#[derive(Debug, Clone, Copy)]
pub struct QuarantineRow<'a> {
    /// Line number (JSON lines, CSV) or 1-based row number (Parquet, bill rows).
    pub line_number: i64,
    pub request_id: Option<&'a str>,
    pub reason_code: &'a str,
    pub reason: &'a str,
    /// The record's text, capped by the caller ([`capped_text`]).
    pub raw: &'a str,
    /// Length of the original record in bytes.
    pub raw_bytes: i64,
}

/// Builds `quarantine` batches.
pub struct QuarantineBatchBuilder {
    ingest_date: Date32Builder,
    ingest_batch_id: StringBuilder,
    ingested_at: TimestampMicrosecondBuilder,
    source: StringBuilder,
    source_file: StringBuilder,
    source_file_fingerprint: StringBuilder,
    line_number: Int64Builder,
    request_id: StringBuilder,
    reason_code: StringBuilder,
    reason: StringBuilder,
    raw: StringBuilder,
    raw_bytes: Int64Builder,
    rows: usize,
}

impl Default for QuarantineBatchBuilder {
    fn default() -> Self {
        Self {
            ingest_date: Date32Builder::new(),
            ingest_batch_id: StringBuilder::new(),
            ingested_at: TimestampMicrosecondBuilder::new().with_timezone("UTC"),
            source: StringBuilder::new(),
            source_file: StringBuilder::new(),
            source_file_fingerprint: StringBuilder::new(),
            line_number: Int64Builder::new(),
            request_id: StringBuilder::new(),
            reason_code: StringBuilder::new(),
            reason: StringBuilder::new(),
            raw: StringBuilder::new(),
            raw_bytes: Int64Builder::new(),
            rows: 0,
        }
    }
}

impl QuarantineBatchBuilder {
    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Appends one rejected record of the file `lineage` names (`file_fingerprint` its hash).
    pub fn append(&mut self, lineage: &Lineage, file_fingerprint: &str, row: QuarantineRow<'_>) {
        self.ingest_date.append_value(crate::time::day_of_micros(lineage.ingested_at_us));
        self.ingest_batch_id.append_value(&lineage.ingest_batch_id);
        self.ingested_at.append_value(lineage.ingested_at_us);
        self.source.append_value(&lineage.source);
        self.source_file.append_value(&lineage.source_file);
        self.source_file_fingerprint.append_value(file_fingerprint);
        self.line_number.append_value(row.line_number);
        self.request_id.append_option(row.request_id);
        self.reason_code.append_value(row.reason_code);
        self.reason.append_value(row.reason);
        self.raw.append_value(row.raw);
        self.raw_bytes.append_value(row.raw_bytes);
        self.rows += 1;
    }

    pub fn finish(&mut self) -> Result<RecordBatch> {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.ingest_date.finish()),
            Arc::new(self.ingest_batch_id.finish()),
            Arc::new(self.ingested_at.finish()),
            Arc::new(self.source.finish()),
            Arc::new(self.source_file.finish()),
            Arc::new(self.source_file_fingerprint.finish()),
            Arc::new(self.line_number.finish()),
            Arc::new(self.request_id.finish()),
            Arc::new(self.reason_code.finish()),
            Arc::new(self.reason.finish()),
            Arc::new(self.raw.finish()),
            Arc::new(self.raw_bytes.finish()),
        ];
        self.rows = 0;
        Ok(RecordBatch::try_new(quarantine_schema(), columns)?)
    }
}
