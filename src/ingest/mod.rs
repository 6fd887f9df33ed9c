//! `tokenledger ingest`: gateway log files into the `inference` table, rejects into
//! `quarantine`, exactly once.
//!
//! Exactly once works at two levels:
//! - **files**: each input file is identified by a hash of its bytes. The commit that adds
//!   a file's rows also records a Delta application transaction `tokenledger.ingest.<hash>`,
//!   so the file's rows and the fact that it was ingested land atomically; a file seen again
//!   (under any name) is skipped.
//! - **records**: every request id is checked against the table and the run: the same id
//!   with the same content is skipped as a duplicate, with different content quarantined.
//!
//! A run makes at most one commit to each table: quarantine first, then inference. If it
//! dies between the two, the next run finds the files' quarantine transactions and does not
//! write their quarantine rows again.

pub mod dedup;
mod pipeline;
pub mod record;
pub mod sources;
pub mod summary;
pub mod tokens;
pub mod usage;
pub mod validate;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use deltalake::kernel::Transaction;
use deltalake::writer::RecordBatchWriter;
use indicatif::ProgressBar;

use crate::error::{Error, Result};
use crate::warehouse::schema::{INFERENCE, QUARANTINE};
use crate::warehouse::{Warehouse, commit_append, has_transaction, writer_properties};
use pipeline::{FileCounts, FileJob, ParseContext, RunState};
pub use record::PayloadMode;
use record::Payloads;
use sources::databricks::ServedEntities;
use sources::{ChunkOptions, InputFile};
pub use summary::{FileOutcome, FileStatus, IngestSummary};
use validate::ReasonCode;

/// Options of one ingest run.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    pub paths: Vec<PathBuf>,
    pub payloads: PayloadMode,
    /// Quarantined / read above which the run writes nothing and fails (exit code 4).
    pub max_quarantine_ratio: Option<f64>,
    pub max_line_bytes: usize,
    /// Parse threads; 0 = one per core.
    pub threads: usize,
    /// Show a progress bar (on a terminal).
    pub progress: bool,
    /// What wrote the files (`auto`: told per file from its columns).
    pub source: sources::SourceChoice,
    /// The Databricks served_entities export that names the endpoints and models of
    /// endpoint_usage and payload rows.
    pub served_entities: Option<PathBuf>,
}

impl Default for IngestOptions {
    fn default() -> Self {
        Self {
            paths: Vec::new(),
            payloads: PayloadMode::Keep,
            max_quarantine_ratio: None,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
            threads: 0,
            progress: false,
            source: sources::SourceChoice::Auto,
            served_entities: None,
        }
    }
}

/// Default cap on one input line: far above any real request log line with payloads.
pub const DEFAULT_MAX_LINE_BYTES: usize = 16 << 20;
const CHUNK_BYTES: usize = 4 << 20;
const TARGET_FILE_BYTES: u64 = 256 << 20;

/// The application-transaction id that marks a file as ingested.
fn file_app_id(fingerprint: &str) -> String {
    format!("tokenledger.ingest.{fingerprint}")
}

/// The application-transaction id of a file's quick fingerprint (see `quick_fingerprint`).
fn quick_app_id(quick: &str) -> String {
    format!("tokenledger.ingest.quick.{quick}")
}

/// The served_entities export, loaded when a file needs it (and refused when it is missing).
fn served_entities(
    files: &[sources::InputFile],
    path: Option<&std::path::Path>,
) -> Result<sources::databricks::ServedEntities> {
    let needing = files.iter().find(|f| f.source.needs_served_entities());
    match (needing, path) {
        (Some(file), None) => Err(Error::Usage(format!(
            "{} holds {}, which name their model by served_entity_id only: give --served-entities FILE, an export of \
             system.serving.served_entities (SELECT * FROM system.serving.served_entities)",
            file.path.display(),
            file.source.what()
        ))),
        (_, Some(path)) => {
            let entities = sources::databricks::ServedEntities::load(path)?;
            tracing::debug!(ids = entities.ids(), "served entities loaded");
            Ok(entities)
        }
        (None, None) => Ok(Default::default()),
    }
}

/// A file that is new to the warehouse, to be read in this run.
struct NewFile {
    file: InputFile,
    /// Its quick fingerprint (see `sources::quick_fingerprint`).
    quick: String,
    /// Its content fingerprint when it had to be hashed before reading (its quick fingerprint
    /// was seen before); otherwise the file is hashed while it is read.
    full: Option<String>,
}

/// The two tables a run writes.
struct Tables {
    inference: deltalake::DeltaTable,
    quarantine: deltalake::DeltaTable,
}

/// What the steps of one run share once its files are known.
struct Run<'a> {
    warehouse: &'a Warehouse,
    opts: &'a IngestOptions,
    batch_id: String,
    ingested_at_us: i64,
    bar: ProgressBar,
    /// Input bytes dealt with so far (read or skipped): the bar's position.
    counter: Arc<AtomicU64>,
}

/// What the rows of every file are parsed with.
struct Parsing {
    payloads: Payloads,
    entities: Arc<ServedEntities>,
}

/// What reading the new files leaves for the commits.
#[derive(Default)]
struct FilesRead {
    /// Application transactions of the inference commit: every file read.
    inference_txns: Vec<Transaction>,
    /// Application transactions of the quarantine commit: the files whose rejects were written.
    quarantine_txns: Vec<Transaction>,
    /// Date partitions that received rows.
    partitions: BTreeSet<i32>,
}

/// Runs one ingest.
pub async fn ingest(warehouse: &Warehouse, opts: &IngestOptions) -> Result<IngestSummary> {
    let started = Instant::now();
    let ingested_at_us = chrono::Utc::now().timestamp_micros();
    let batch_id = uuid::Uuid::new_v4().to_string();
    check_options(opts)?;
    let payloads = opts.payloads.resolve()?;
    let files = plan_files(opts)?;
    let parsing = Parsing { payloads, entities: Arc::new(served_entities(&files, opts.served_entities.as_deref())?) };
    let mut tables = Tables {
        inference: warehouse.open_table(INFERENCE).await?,
        quarantine: warehouse.open_table(QUARANTINE).await?,
    };

    let total_bytes: u64 = files.iter().map(|f| f.size).sum();
    let run = Run {
        warehouse,
        opts,
        batch_id,
        ingested_at_us,
        bar: crate::progress::bar(total_bytes, crate::progress::Unit::Bytes, opts.progress),
        counter: Arc::new(AtomicU64::new(0)),
    };
    let mut summary = IngestSummary::new(run.batch_id.clone());
    let todo = run.select_new_files(&files, &tables, &mut summary).await?;
    tracing::debug!(new_files = todo.len(), "files checked");
    let mut partitions = BTreeSet::new();
    if !todo.is_empty() {
        let mut state = run.open_writers(&tables, &todo).await?;
        let read = run.read_files(todo, &tables.quarantine, &parsing, &mut state, &mut summary).await?;
        state.finish().await?;
        summary.tally();
        tracing::debug!(
            inference_files = state.inference_adds.len(),
            quarantine_files = state.quarantine_adds.len(),
            table_rows_loaded = state.dedup.table_rows_loaded,
            "data files written"
        );
        run.check_quarantine_ratio(&state, &summary).await?;
        run.commit(&mut tables, &mut state, read.inference_txns, read.quarantine_txns, &mut summary).await?;
        partitions = read.partitions;
    }
    tracing::debug!("committed");
    run.bar.finish_and_clear();
    finish_summary(&mut summary, partitions, total_bytes, started);
    Ok(summary)
}

/// Refuses options no run can honour, before anything is read.
fn check_options(opts: &IngestOptions) -> Result<()> {
    if let Some(r) = opts.max_quarantine_ratio
        && !(0.0..=1.0).contains(&r)
    {
        return Err(Error::Usage(format!("--max-quarantine-ratio must be between 0 and 1, got {r}")));
    }
    Ok(())
}

/// The input files, each with the source that wrote it (given, or detected from its columns).
fn plan_files(opts: &IngestOptions) -> Result<Vec<InputFile>> {
    let mut files = sources::discover(&opts.paths)?;
    for file in &mut files {
        file.source = opts.source.resolve(file)?;
    }
    // stable: in the order found, except that a request several Databricks tables recorded
    // is first read from the most complete one
    files.sort_by_key(|f| f.source.read_order());
    Ok(files)
}

impl Run<'_> {
    /// The files not ingested before; the others are skipped and recorded in `summary`.
    ///
    /// The quick fingerprint (size, first and last MiB) tells a new file at once, and the new
    /// file is then hashed while it is read: one pass over its bytes. Only a file whose quick
    /// fingerprint was seen before (in the table or twice in this run) is hashed whole first,
    /// to tell a re-delivery from a look-alike.
    async fn select_new_files(
        &self,
        files: &[InputFile],
        tables: &Tables,
        summary: &mut IngestSummary,
    ) -> Result<Vec<NewFile>> {
        self.bar.set_prefix("checking");
        let quick: Vec<String> =
            files.iter().map(|f| sources::quick_fingerprint(&f.path, f.size)).collect::<Result<_>>()?;
        let mut quick_in_run: HashMap<&str, usize> = HashMap::new();
        for q in &quick {
            *quick_in_run.entry(q.as_str()).or_default() += 1;
        }
        let mut todo = Vec::new();
        let mut full_in_run = HashSet::new();
        for (file, q) in files.iter().zip(&quick) {
            let seen_before = quick_in_run[q.as_str()] > 1
                // Parquet is not read as a stream, so it cannot be hashed on the way
                || file.format == sources::Format::Parquet
                || has_transaction(&tables.inference, quick_app_id(q)).await?
                || has_transaction(&tables.quarantine, quick_app_id(q)).await?;
            let full =
                if seen_before { Some(sources::file_fingerprint(&file.path, &AtomicU64::new(0))?) } else { None };
            let status = match &full {
                Some(fp) if !full_in_run.insert(fp.clone()) => Some(FileStatus::SkippedSameContentInRun),
                Some(fp) if has_transaction(&tables.inference, file_app_id(fp)).await? => {
                    Some(FileStatus::SkippedAlreadyIngested)
                }
                _ => None,
            };
            match (status, &full) {
                (Some(status), Some(fp)) => {
                    self.counter.fetch_add(file.size, Ordering::Relaxed);
                    summary.files.push(FileOutcome::skipped(file, fp, status));
                }
                _ => todo.push(NewFile { file: file.clone(), quick: q.clone(), full }),
            }
        }
        Ok(todo)
    }

    /// The run's writers, and the dedup state over the request ids already in the table.
    async fn open_writers(&self, tables: &Tables, todo: &[NewFile]) -> Result<RunState> {
        self.bar.set_prefix("loading ids");
        Ok(RunState {
            dedup: dedup_for(&tables.inference, todo).await?,
            inference: RecordBatchWriter::for_table(&tables.inference)?
                .with_writer_properties(writer_properties())
                .with_target_file_size(TARGET_FILE_BYTES),
            quarantine: RecordBatchWriter::for_table(&tables.quarantine)?.with_writer_properties(writer_properties()),
            quarantine_rows: Default::default(),
            inference_adds: Vec::new(),
            quarantine_adds: Vec::new(),
            open_partitions: BTreeSet::new(),
        })
    }

    /// Reads, validates and dedups the new files into the writers (nothing is committed yet),
    /// and records each file's outcome in `summary`.
    async fn read_files(
        &self,
        todo: Vec<NewFile>,
        quarantine: &deltalake::DeltaTable,
        parsing: &Parsing,
        state: &mut RunState,
        summary: &mut IngestSummary,
    ) -> Result<FilesRead> {
        let threads = if self.opts.threads == 0 {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        } else {
            self.opts.threads
        };
        self.bar.set_prefix("ingesting");
        let mut read = FilesRead::default();
        for NewFile { file, quick, full } in todo {
            let parse = self.parse_context(&file, parsing);
            // Both fingerprints are recorded in both commits, so a file whose quick one is
            // new to the quarantine table has certainly not had its rejects written.
            let quarantine_done = match &full {
                Some(fp) => has_transaction(quarantine, file_app_id(fp)).await?,
                None => false,
            };
            if !self.opts.progress {
                tracing::info!(file = %file.path.display(), bytes = file.size, "ingesting");
            }
            let job = FileJob {
                file: &file,
                fingerprint: full,
                parse,
                chunks: ChunkOptions {
                    chunk_bytes: CHUNK_BYTES,
                    max_line_bytes: self.opts.max_line_bytes,
                    required: file.source.required(),
                    json_columns: file.source.json_columns(),
                    what: file.source.what(),
                },
                threads,
                write_quarantine: !quarantine_done,
            };
            let before = self.counter.load(Ordering::Relaxed);
            let (counts, fp): (FileCounts, String) =
                pipeline::process_file(job, state, &self.bar, &self.counter).await?;
            // exact even where the reader counted differently (Parquet is counted at the end)
            self.counter.store(before + file.size, Ordering::Relaxed);
            self.bar.set_position(self.counter.load(Ordering::Relaxed));
            read.partitions.extend(counts.partitions.iter().copied());
            summary.files.push(FileOutcome::ingested(&file, &fp, &counts));
            let txns = [Transaction::new(file_app_id(&fp), 1), Transaction::new(quick_app_id(&quick), 1)];
            read.inference_txns.extend(txns.clone());
            if !quarantine_done {
                read.quarantine_txns.extend(txns);
            }
        }
        Ok(read)
    }

    /// What the parse workers of `file` need: its lineage and the run's parse settings.
    fn parse_context(&self, file: &InputFile, parsing: &Parsing) -> Arc<ParseContext> {
        let lineage = Arc::new(record::Lineage {
            source: file.source.as_str().into(),
            source_file: file.path.canonicalize().unwrap_or_else(|_| file.path.clone()).display().to_string(),
            ingest_batch_id: self.batch_id.clone(),
            ingested_at_us: self.ingested_at_us,
        });
        Arc::new(ParseContext {
            lineage,
            payloads: parsing.payloads.clone(),
            max_line_bytes: self.opts.max_line_bytes,
            source: file.source,
            entities: parsing.entities.clone(),
        })
    }

    /// Over `--max-quarantine-ratio`, the run writes nothing: its data files are removed and
    /// it fails.
    async fn check_quarantine_ratio(&self, state: &RunState, summary: &IngestSummary) -> Result<()> {
        let Some(limit) = self.opts.max_quarantine_ratio else {
            return Ok(());
        };
        // MCP calls in a gateway's log are set aside, not faults of the data
        let not_model = summary.quarantined_by_reason.get(ReasonCode::NotModelTraffic.as_str()).copied().unwrap_or(0);
        let bad = summary.quarantined - not_model;
        let ratio = bad as f64 / summary.records_read.saturating_sub(not_model).max(1) as f64;
        if ratio > limit {
            discard_files(self.warehouse, INFERENCE, &state.inference_adds).await;
            discard_files(self.warehouse, QUARANTINE, &state.quarantine_adds).await;
            self.bar.finish_and_clear();
            return Err(Error::QuarantineRatioExceeded {
                quarantined: bad,
                read: summary.records_read - not_model,
                ratio: ratio * 100.0,
                limit: limit * 100.0,
            });
        }
        Ok(())
    }

    /// One commit to each table, quarantine first (see the module docs); records the versions.
    async fn commit(
        &self,
        tables: &mut Tables,
        state: &mut RunState,
        inference_txns: Vec<Transaction>,
        quarantine_txns: Vec<Transaction>,
        summary: &mut IngestSummary,
    ) -> Result<()> {
        self.bar.set_prefix("committing");
        let metadata = commit_metadata(&self.batch_id, summary);
        if !quarantine_txns.is_empty() {
            summary.quarantine_version = Some(
                commit_append(
                    &mut tables.quarantine,
                    std::mem::take(&mut state.quarantine_adds),
                    quarantine_txns,
                    metadata.clone(),
                )
                .await?,
            );
        }
        summary.inference_version = Some(
            commit_append(&mut tables.inference, std::mem::take(&mut state.inference_adds), inference_txns, metadata)
                .await?,
        );
        Ok(())
    }
}

/// The run-wide figures of the summary: partitions, bytes, speed and the totals.
fn finish_summary(summary: &mut IngestSummary, partitions: BTreeSet<i32>, total_bytes: u64, started: Instant) {
    summary.partitions_touched = partitions.into_iter().map(date_string).collect();
    summary.bytes_read = total_bytes;
    summary.elapsed_seconds = started.elapsed().as_secs_f64();
    summary.tally();
}

/// What the commit records about the run (shown by `DESCRIBE HISTORY` in Spark and friends).
fn commit_metadata(batch_id: &str, s: &IngestSummary) -> serde_json::Map<String, serde_json::Value> {
    let mut m = serde_json::Map::new();
    m.insert("tokenledger.command".into(), "ingest".into());
    m.insert("tokenledger.ingest_batch_id".into(), batch_id.into());
    m.insert("tokenledger.version".into(), env!("CARGO_PKG_VERSION").into());
    m.insert("tokenledger.records_read".into(), s.records_read.into());
    m.insert("tokenledger.rows_written".into(), s.rows_written.into());
    m.insert("tokenledger.quarantined".into(), s.quarantined.into());
    m
}

/// Dedup state over the table's data files, with room for the rows about to come.
async fn dedup_for(table: &deltalake::DeltaTable, todo: &[NewFile]) -> Result<dedup::Dedup> {
    let files = table.snapshot()?.log_data().iter().map(|file| file.object_store_path()).collect();
    let incoming: u64 = todo.iter().map(|new| estimate_records(&new.file)).sum();
    dedup::Dedup::new(table.object_store(), files, incoming as usize).await
}

/// A guess of a file's record count from its first megabyte, so the dedup set is sized once
/// instead of doubling (and briefly holding two tables) while 10M ids stream in.
fn estimate_records(file: &InputFile) -> u64 {
    use std::io::Read;
    if file.format != sources::Format::JsonLines || file.gzip {
        return 0;
    }
    let mut head = vec![0u8; 1 << 20];
    let n = std::fs::File::open(&file.path).and_then(|mut f| f.read(&mut head)).unwrap_or(0);
    let lines = memchr::memchr_iter(b'\n', &head[..n]).count() as u64;
    if lines == 0 { 0 } else { file.size * lines / n as u64 }
}

/// Removes data files written by a run that decided not to commit (they are invisible to
/// Delta anyway; this only saves `vacuum` the work).
async fn discard_files(warehouse: &Warehouse, table: &str, adds: &[deltalake::kernel::Add]) {
    for add in adds {
        let decoded =
            url::form_urlencoded::parse(add.path.as_bytes()).map(|(k, v)| format!("{k}{v}")).collect::<String>();
        for candidate in [add.path.clone(), decoded] {
            let _ = warehouse.delete(&format!("{table}/{candidate}")).await;
        }
    }
}

fn date_string(days: i32) -> String {
    chrono::DateTime::from_timestamp(days as i64 * 86_400, 0)
        .map(|d| d.date_naive().to_string())
        .unwrap_or_else(|| days.to_string())
}
