//! The parallel read -> parse -> dedup -> write pipeline for one input file.
//!
//! A reader thread cuts the file into chunks; worker threads parse and validate chunks into
//! Arrow batches (the CPU-heavy part); the async consumer takes the results back in file
//! order — so that "first occurrence wins" is deterministic — dedups them and streams them
//! into the Delta writers. A fixed number of permits bounds the chunks in flight, so memory
//! stays flat however large the file.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow::array::AsArray;
use arrow::datatypes::Date32Type;
use arrow::record_batch::RecordBatch;
use deltalake::writer::{DeltaWriter, RecordBatchWriter};
use indicatif::ProgressBar;

use super::dedup::{Dedup, Seen, SeenSet};
use super::record::{InferenceBatchBuilder, Lineage, Payloads, QuarantineBatchBuilder, Rejected, fingerprint, id_hash};
use super::sources::databricks::{self, ServedEntities};
use super::sources::{
    Chunk, ChunkOptions, CsvLayout, InputFile, Parsed, RecordText, Source, ai_gateway, litellm, native, read_chunks,
    too_long_message,
};
use super::validate::ReasonCode;
use crate::engine::partition_runs::write_by_partition;
use crate::error::{Error, Result};
use crate::warehouse::schema::{INFERENCE_PARTITION, QUARANTINE_PARTITION};

/// Rows buffered before a quarantine batch is handed to its writer.
const QUARANTINE_BATCH_ROWS: usize = 8192;
/// Parquet bytes written before the writers are flushed (open files finalised).
const FLUSH_BYTES: usize = 192 << 20;
/// Date partitions with an open data file at once. Each open file holds an upload buffer
/// (5 MB) and a row group in the making, so 90 open days would cost most of a gigabyte;
/// gateway logs arrive nearly in time order, so a handful is enough to write each day's
/// rows into one or two files. Out-of-order input makes more, smaller files, never more
/// memory.
const MAX_OPEN_PARTITIONS: usize = 4;

/// What workers need to turn a chunk into rows.
pub struct ParseContext {
    pub lineage: Arc<Lineage>,
    pub payloads: Payloads,
    /// Lines longer than this are quarantined (the reader only stops them from being
    /// buffered whole when they span reads).
    pub max_line_bytes: usize,
    /// Which adapter reads the lines.
    pub source: Source,
    /// Names the models of Databricks rows (empty for other sources).
    pub entities: Arc<ServedEntities>,
}

impl ParseContext {
    /// One line through the source's adapter.
    fn parse<'a>(
        &'a self,
        line: &'a [u8],
        typing: crate::ingest::validate::Typing,
        scratch: &'a mut native::LineScratch,
    ) -> std::result::Result<Parsed<'a>, crate::ingest::validate::Reject> {
        match self.source {
            Source::Native => native::parse_line(line, typing, scratch).map(Parsed::one),
            Source::DatabricksAiGateway => ai_gateway::parse_usage_line(line, typing, scratch),
            Source::DatabricksAiGatewayPayload => ai_gateway::parse_payload_line(line, typing, scratch),
            Source::DatabricksUsage => {
                databricks::parse_usage_line(line, typing, &self.entities, scratch).map(Parsed::one)
            }
            Source::DatabricksPayload => {
                databricks::parse_payload_line(line, typing, &self.entities, scratch).map(Parsed::one)
            }
            Source::Litellm => litellm::parse_line(line, typing).map(Parsed::one),
        }
    }
}

/// A parsed chunk: valid rows (not yet deduplicated) and rejects.
struct ParsedChunk {
    seq: u64,
    batch: Option<RecordBatch>,
    /// Per row of `batch`: request-id hash and content fingerprint.
    keys: Vec<(u64, u64)>,
    /// Per row of `batch`: its line number and byte range in `data` (raw text for conflicts).
    rows: Vec<(u64, usize, usize)>,
    /// Records the chunk holds again, with the content and request id of an earlier row.
    repeats: Vec<Repeat>,
    rejects: Vec<Rejected>,
    records: u64,
    /// Rows of attempts that failed before a fallback (on top of one row per record).
    failed_attempt_rows: u64,
    data: Vec<u8>,
}

/// A record that repeats an earlier row of its chunk, the same content under the same request
/// id (a re-delivered line, most often close to its first). It is kept out of the chunk's
/// batch: dropped from the batch by the writer, it would cut a run of rows of one date in two,
/// each part a call into Delta's writer (with 0.5 % repeated lines, 3 % of an ingest's
/// instructions). The writer checks it after the batch's rows, where it can only be what its
/// first was, a duplicate or a conflict with the version already ingested, never new.
struct Repeat {
    key: (u64, u64),
    line: u64,
    start: usize,
    end: usize,
    request_id: String,
}

fn parse_chunk(mut chunk: Chunk, ctx: &ParseContext) -> Result<ParsedChunk> {
    let lines = chunk.lines.count();
    let mut builder =
        InferenceBatchBuilder::with_capacity(ctx.lineage.clone(), ctx.payloads.clone(), lines, chunk.data.len());
    let mut keys = Vec::with_capacity(lines);
    let mut rows = Vec::with_capacity(lines);
    let (mut in_chunk, mut repeats) = (SeenSet::with_capacity(lines), Vec::new());
    let mut rejects = std::mem::take(&mut chunk.rejects);
    let mut records = chunk.prerejected_records;
    let mut failed_attempt_rows = 0;
    let columns = chunk.csv.as_deref().map(|layout| ctx.csv_columns(layout));
    // a CSV row rendered as JSON for an adapter that reads JSON
    let mut json = Vec::new();
    let mut scratch = native::LineScratch::default();
    let mut failure = None;
    chunk.for_each_record(|line_no, start, raw, record| {
        records += 1;
        if raw.len() > ctx.max_line_bytes {
            rejects.push(Rejected::new(
                line_no,
                raw,
                None,
                ReasonCode::LineTooLong,
                too_long_message(raw.len() as u64, ctx.max_line_bytes),
            ));
            return;
        }
        // the CSV row, whose request id cell a reject names
        let mut csv_row = None;
        let parsed = match record {
            Ok(RecordText::Json(line)) => ctx.parse(line, chunk.typing, &mut scratch),
            Ok(RecordText::Row(row)) => {
                csv_row = Some(row);
                match columns.as_ref().expect("a CSV chunk has its columns") {
                    CsvColumns::Litellm(columns) => {
                        litellm::parse_row(columns, &row, chunk.typing, &mut scratch).map(Parsed::one)
                    }
                    CsvColumns::AsJson => match row.json(&mut json) {
                        Ok(line) => ctx.parse(line, chunk.typing, &mut scratch),
                        Err(e) => {
                            failure.get_or_insert(e);
                            return;
                        }
                    },
                }
            }
            Err(reject) => Err(reject),
        };
        match parsed {
            Ok(Parsed { record, failed_attempts }) => {
                failed_attempt_rows += failed_attempts.len() as u64;
                for record in failed_attempts.iter().chain(std::iter::once(&record)) {
                    let (fp, id) = (fingerprint(ctx.source, record), id_hash(&record.request_id));
                    let end = start + raw.len();
                    if in_chunk.check_and_insert(id, fp) == Seen::Duplicate {
                        let request_id = record.request_id.to_string();
                        repeats.push(Repeat { key: (id, fp), line: line_no, start, end, request_id });
                        continue;
                    }
                    keys.push((id, fp));
                    rows.push((line_no, start, end));
                    builder.append(record, line_no, fp);
                }
            }
            Err(reject) => rejects.push(Rejected::new(
                line_no,
                raw,
                match csv_row {
                    Some(row) => row.named(ctx.source.id_field()).map(native::quarantined_id),
                    None if columns.is_none() => native::request_id_of(raw, ctx.source.id_field()),
                    // a CSV row whose cells could not be read
                    None => None,
                },
                reject.code,
                reject.message,
            )),
        }
    });
    if let Some(e) = failure {
        return Err(e);
    }
    let batch = if builder.is_empty() { None } else { Some(builder.finish()?) };
    Ok(ParsedChunk {
        seq: chunk.seq,
        batch,
        keys,
        rows,
        repeats,
        rejects,
        records,
        failed_attempt_rows,
        data: chunk.data,
    })
}

/// How a chunk's CSV rows reach their adapter.
enum CsvColumns {
    /// Their cells, read by LiteLLM's adapter.
    Litellm(Box<litellm::CsvColumns>),
    /// Rendered as JSON objects, for the adapters that read JSON.
    AsJson,
}

impl ParseContext {
    fn csv_columns(&self, layout: &CsvLayout) -> CsvColumns {
        match self.source {
            Source::Litellm => CsvColumns::Litellm(Box::new(litellm::CsvColumns::of(layout))),
            _ => CsvColumns::AsJson,
        }
    }
}

/// Counts for one file.
#[derive(Debug, Default, Clone)]
pub struct FileCounts {
    pub records: u64,
    /// Rows for attempts that failed before a fallback: each record is one row, plus these.
    pub failed_attempt_rows: u64,
    pub written: u64,
    pub duplicates: u64,
    pub quarantined: BTreeMap<ReasonCode, u64>,
    pub partitions: BTreeSet<i32>,
}

impl FileCounts {
    pub fn quarantined_total(&self) -> u64 {
        self.quarantined.values().sum()
    }
}

/// The state one ingest run carries across its files.
pub struct RunState {
    pub dedup: Dedup,
    pub inference: RecordBatchWriter,
    pub quarantine: RecordBatchWriter,
    pub quarantine_rows: QuarantineBatchBuilder,
    pub inference_adds: Vec<deltalake::kernel::Add>,
    pub quarantine_adds: Vec<deltalake::kernel::Add>,
    /// Date partitions written to since the last flush.
    pub open_partitions: BTreeSet<i32>,
}

impl RunState {
    async fn write_quarantine_rows(&mut self, force: bool) -> Result<()> {
        if self.quarantine_rows.len() >= QUARANTINE_BATCH_ROWS || (force && !self.quarantine_rows.is_empty()) {
            let batch = self.quarantine_rows.finish()?;
            write_by_partition(&mut self.quarantine, &batch, QUARANTINE_PARTITION, None).await?;
        }
        Ok(())
    }

    /// Finalises the open `inference` data files (their adds are committed at the end).
    async fn flush_inference(&mut self) -> Result<()> {
        let adds = self.inference.flush().await?;
        self.inference_adds.extend(adds);
        self.open_partitions.clear();
        Ok(())
    }

    /// Finalises every open data file and returns all the files written in this run.
    pub async fn finish(&mut self) -> Result<()> {
        self.write_quarantine_rows(true).await?;
        self.inference_adds.extend(self.inference.flush().await?);
        self.quarantine_adds.extend(self.quarantine.flush().await?);
        Ok(())
    }
}

/// Quarantine rows held back while a file's fingerprint is not known yet; past this many the
/// file is hashed on the spot (only badly broken files get there).
const MAX_PENDING_REJECTS: usize = 50_000;

/// Per-file settings.
pub struct FileJob<'a> {
    pub file: &'a InputFile,
    /// The file's fingerprint when it was hashed before reading; otherwise it is computed
    /// while the file is read (quarantine rows, which carry it, wait for it).
    pub fingerprint: Option<String>,
    pub parse: Arc<ParseContext>,
    pub chunks: ChunkOptions,
    pub threads: usize,
    /// False when this file's quarantine rows are already in the table (a run that crashed
    /// between the two commits): they are counted but not written twice.
    pub write_quarantine: bool,
}

/// Runs the pipeline over one file, streaming its rows into the run's writers. Returns the
/// counts and the file's fingerprint.
pub async fn process_file(
    mut job: FileJob<'_>,
    state: &mut RunState,
    progress: &ProgressBar,
    counter: &Arc<AtomicU64>,
) -> Result<(FileCounts, String)> {
    let in_flight = job.threads * 2 + 2;
    let (chunk_tx, chunk_rx) = crossbeam_channel::bounded::<Chunk>(job.threads);
    // a permit to read a chunk is the buffer of one the writer is done with, which the next
    // chunk is read into (its bytes already there, so it is not zeroed again first)
    let (permit_tx, permit_rx) = crossbeam_channel::bounded::<Vec<u8>>(in_flight);
    for _ in 0..in_flight {
        permit_tx.send(Vec::new()).expect("the channel has room for every permit");
    }
    let (result_tx, mut result_rx) = tokio::sync::mpsc::channel::<Result<ParsedChunk>>(in_flight);

    let reader = {
        let file = job.file.clone();
        let counter = counter.clone();
        let opts = job.chunks;
        std::thread::Builder::new().name("tokenledger-read".into()).spawn(move || {
            let spare = std::cell::Cell::new(Vec::new());
            let mut emit = |chunk| match permit_rx.recv() {
                Ok(buffer) => {
                    spare.set(buffer);
                    chunk_tx.send(chunk).is_ok()
                }
                Err(_) => false,
            };
            read_chunks(&file, opts, counter, &mut emit, &mut || spare.take())
        })?
    };
    let mut workers = Vec::new();
    for i in 0..job.threads {
        let rx = chunk_rx.clone();
        let tx = result_tx.clone();
        let ctx = job.parse.clone();
        workers.push(std::thread::Builder::new().name(format!("tokenledger-parse-{i}")).spawn(move || {
            for chunk in rx {
                if tx.blocking_send(parse_chunk(chunk, &ctx)).is_err() {
                    break;
                }
            }
        })?);
    }
    drop(chunk_rx);
    drop(result_tx);

    let mut counts = FileCounts::default();
    let mut pending_rejects = Vec::new();
    let outcome: Result<()> = async {
        let mut pending = BTreeMap::new();
        let mut next = 0u64;
        while let Some(parsed) = result_rx.recv().await {
            let parsed = parsed?;
            pending.insert(parsed.seq, parsed);
            while let Some(parsed) = pending.remove(&next) {
                let buffer = consume(parsed, &mut job, state, &mut counts, &mut pending_rejects).await?;
                next += 1;
                let _ = permit_tx.send(buffer);
                progress.set_position(counter.load(Ordering::Relaxed));
                if next.is_multiple_of(8) {
                    let secs = progress.elapsed().as_secs_f64().max(1e-3);
                    progress.set_message(format!(
                        "{} records, {} records/s",
                        crate::output::thousands(counts.records),
                        crate::output::thousands((counts.records as f64 / secs) as u64)
                    ));
                }
            }
        }
        Ok(())
    }
    .await;
    // Unblock and stop the threads whatever happened, then report the first error.
    drop(result_rx);
    drop(permit_tx);
    let mut panicked = false;
    for w in workers {
        panicked |= w.join().is_err();
    }
    let read = reader.join().map_err(|_| Error::Internal("the reader thread panicked".into()))?;
    outcome?;
    let streamed = read?;
    if panicked {
        return Err(Error::Internal("a parse thread panicked".into()));
    }
    let fingerprint = match (job.fingerprint.take(), streamed) {
        (Some(known), Some(streamed)) if known != streamed => {
            return Err(Error::InputFormat {
                path: job.file.path.clone(),
                message: "the file changed while it was being ingested; nothing was written, try again".into(),
            });
        }
        (Some(known), _) => known,
        (None, Some(streamed)) => streamed,
        (None, None) => return Err(Error::Internal("the file was not read to its end".into())),
    };
    for reject in pending_rejects.drain(..) {
        if job.write_quarantine {
            state.quarantine_rows.append(&job.parse.lineage, &fingerprint, reject.quarantine_row());
        }
    }
    state.write_quarantine_rows(false).await?;
    Ok((counts, fingerprint))
}

/// Queues a quarantine row: written at once when the file's fingerprint is known, held back
/// until the end of the file otherwise (hashing the file now if too many pile up).
fn quarantine(
    job: &mut FileJob<'_>,
    state: &mut RunState,
    pending: &mut Vec<Rejected>,
    reject: Rejected,
) -> Result<()> {
    if !job.write_quarantine {
        return Ok(());
    }
    if job.fingerprint.is_none() && pending.len() >= MAX_PENDING_REJECTS {
        job.fingerprint = Some(super::sources::file_fingerprint(&job.file.path, &AtomicU64::new(0))?);
    }
    match &job.fingerprint {
        Some(fp) => {
            for r in pending.drain(..) {
                state.quarantine_rows.append(&job.parse.lineage, fp, r.quarantine_row());
            }
            state.quarantine_rows.append(&job.parse.lineage, fp, reject.quarantine_row());
        }
        None => pending.push(reject),
    }
    Ok(())
}

/// The quarantine row of a record whose request id was ingested with other content.
fn conflicting(line: u64, raw: &[u8], request_id: &str) -> Rejected {
    Rejected::new(
        line,
        raw,
        Some(request_id.to_string()),
        ReasonCode::ConflictingDuplicate,
        format!("request_id {request_id} was already ingested with different content; the first version is kept"),
    )
}

/// Dedups a parsed chunk's rows and writes them and its rejects; gives back the chunk's
/// buffer, which the reader reads a later chunk into.
async fn consume(
    parsed: ParsedChunk,
    job: &mut FileJob<'_>,
    state: &mut RunState,
    counts: &mut FileCounts,
    pending: &mut Vec<Rejected>,
) -> Result<Vec<u8>> {
    counts.records += parsed.records;
    counts.failed_attempt_rows += parsed.failed_attempt_rows;
    for reject in parsed.rejects {
        *counts.quarantined.entry(reject.code).or_default() += 1;
        quarantine(job, state, pending, reject)?;
    }
    if let Some(batch) = parsed.batch {
        let ids = batch.column(0).as_string::<i32>();
        let dates = batch.column_by_name(INFERENCE_PARTITION).expect("schema has the partition column");
        let dates = dates.as_primitive::<Date32Type>();
        let mut last = None;
        for &d in dates.values().iter() {
            if last != Some(d) {
                state.dedup.prepare(d).await?;
                last = Some(d);
            }
        }
        let mut keep = Vec::with_capacity(parsed.keys.len());
        // the dates of the rows written: partitions touched, and the files they keep open
        let mut written_dates = BTreeSet::new();
        for (row, &(id, fp)) in parsed.keys.iter().enumerate() {
            match state.dedup.check_and_insert(id, fp) {
                Seen::New => {
                    keep.push(true);
                    written_dates.insert(dates.value(row));
                }
                Seen::Duplicate => {
                    counts.duplicates += 1;
                    keep.push(false);
                }
                Seen::Conflict => {
                    keep.push(false);
                    *counts.quarantined.entry(ReasonCode::ConflictingDuplicate).or_default() += 1;
                    let (line, start, end) = parsed.rows[row];
                    let reject = conflicting(line, &parsed.data[start..end], ids.value(row));
                    quarantine(job, state, pending, reject)?;
                }
            }
        }
        for repeat in &parsed.repeats {
            match state.dedup.check_and_insert(repeat.key.0, repeat.key.1) {
                Seen::Duplicate => counts.duplicates += 1,
                Seen::Conflict => {
                    *counts.quarantined.entry(ReasonCode::ConflictingDuplicate).or_default() += 1;
                    let reject = conflicting(repeat.line, &parsed.data[repeat.start..repeat.end], &repeat.request_id);
                    quarantine(job, state, pending, reject)?;
                }
                Seen::New => {
                    return Err(Error::Internal(format!(
                        "request_id {} at line {} repeats an earlier row of its chunk, yet was not seen",
                        repeat.request_id, repeat.line
                    )));
                }
            }
        }
        let written = keep.iter().filter(|k| **k).count();
        if written > 0 {
            counts.written += written as u64;
            counts.partitions.extend(&written_dates);
            let new = written_dates.difference(&state.open_partitions).count();
            if !state.open_partitions.is_empty() && state.open_partitions.len() + new > MAX_OPEN_PARTITIONS {
                state.flush_inference().await?;
            }
            state.open_partitions.extend(written_dates);
            write_by_partition(&mut state.inference, &batch, INFERENCE_PARTITION, Some(&keep)).await?;
        }
    }
    state.write_quarantine_rows(false).await?;
    if state.inference.buffer_len() > FLUSH_BYTES {
        state.flush_inference().await?;
    }
    if state.quarantine.buffer_len() > FLUSH_BYTES {
        let adds = state.quarantine.flush().await?;
        state.quarantine_adds.extend(adds);
    }
    Ok(parsed.data)
}
