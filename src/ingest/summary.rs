//! What an ingest run reports: per file and in total, for people and for machines.

use std::collections::BTreeMap;

use serde::Serialize;

use super::pipeline::FileCounts;
use super::sources::{Format, InputFile};
use crate::output::{Table, thousands};

/// What happened to one input file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileStatus {
    Ingested,
    /// A file with the same bytes was ingested by an earlier run.
    SkippedAlreadyIngested,
    /// Another file of this run has the same bytes.
    SkippedSameContentInRun,
}

impl FileStatus {
    fn label(self) -> &'static str {
        match self {
            FileStatus::Ingested => "ingested",
            FileStatus::SkippedAlreadyIngested => "skipped: already ingested",
            FileStatus::SkippedSameContentInRun => "skipped: same content as another file",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct FileOutcome {
    pub path: String,
    pub format: Format,
    /// Which system wrote it (`native`, `databricks-usage`, ...).
    pub source: crate::ingest::sources::Source,
    pub gzip: bool,
    pub bytes: u64,
    pub fingerprint: String,
    pub status: FileStatus,
    pub records_read: u64,
    /// Rows for the attempts of a request that failed before the gateway fell back (the AI
    /// Gateway's `routing_information`): `records_read + failed_attempt_rows = rows_written +
    /// duplicates_skipped + quarantined`.
    pub failed_attempt_rows: u64,
    pub rows_written: u64,
    pub duplicates_skipped: u64,
    pub quarantined: u64,
    #[serde(skip)]
    pub quarantined_by_reason: BTreeMap<String, u64>,
}

impl FileOutcome {
    pub fn skipped(file: &InputFile, fingerprint: &str, status: FileStatus) -> Self {
        Self::with_counts(file, fingerprint, status, &FileCounts::default())
    }

    pub fn ingested(file: &InputFile, fingerprint: &str, counts: &FileCounts) -> Self {
        Self::with_counts(file, fingerprint, FileStatus::Ingested, counts)
    }

    fn with_counts(file: &InputFile, fingerprint: &str, status: FileStatus, c: &FileCounts) -> Self {
        Self {
            path: file.path.display().to_string(),
            format: file.format,
            source: file.source,
            gzip: file.gzip,
            bytes: file.size,
            fingerprint: fingerprint.to_string(),
            status,
            records_read: c.records,
            failed_attempt_rows: c.failed_attempt_rows,
            rows_written: c.written,
            duplicates_skipped: c.duplicates,
            quarantined: c.quarantined_total(),
            quarantined_by_reason: c.quarantined.iter().map(|(k, v)| (k.as_str().to_string(), *v)).collect(),
        }
    }
}

/// The summary of a run; `--format json` prints it as is.
#[derive(Debug, Clone, Serialize)]
pub struct IngestSummary {
    pub ingest_batch_id: String,
    pub files_read: u64,
    pub files_skipped: u64,
    pub records_read: u64,
    /// See [`FileOutcome::failed_attempt_rows`].
    pub failed_attempt_rows: u64,
    pub rows_written: u64,
    pub duplicates_skipped: u64,
    pub quarantined: u64,
    pub quarantined_by_reason: BTreeMap<String, u64>,
    pub partitions_touched: Vec<String>,
    pub bytes_read: u64,
    pub elapsed_seconds: f64,
    pub records_per_second: f64,
    pub mb_per_second: f64,
    /// Table versions this run committed (none when nothing was new).
    pub inference_version: Option<i64>,
    pub quarantine_version: Option<i64>,
    pub files: Vec<FileOutcome>,
}

impl IngestSummary {
    pub fn new(ingest_batch_id: String) -> Self {
        Self {
            ingest_batch_id,
            files_read: 0,
            files_skipped: 0,
            records_read: 0,
            failed_attempt_rows: 0,
            rows_written: 0,
            duplicates_skipped: 0,
            quarantined: 0,
            quarantined_by_reason: BTreeMap::new(),
            partitions_touched: Vec::new(),
            bytes_read: 0,
            elapsed_seconds: 0.0,
            records_per_second: 0.0,
            mb_per_second: 0.0,
            inference_version: None,
            quarantine_version: None,
            files: Vec::new(),
        }
    }

    /// Recomputes the totals from the per-file outcomes.
    pub fn tally(&mut self) {
        let ingested = || self.files.iter().filter(|f| f.status == FileStatus::Ingested);
        self.files_read = ingested().count() as u64;
        self.files_skipped = self.files.len() as u64 - self.files_read;
        self.records_read = ingested().map(|f| f.records_read).sum();
        self.failed_attempt_rows = ingested().map(|f| f.failed_attempt_rows).sum();
        self.rows_written = ingested().map(|f| f.rows_written).sum();
        self.duplicates_skipped = ingested().map(|f| f.duplicates_skipped).sum();
        self.quarantined = ingested().map(|f| f.quarantined).sum();
        let mut by_reason = BTreeMap::new();
        for f in ingested() {
            for (k, v) in &f.quarantined_by_reason {
                *by_reason.entry(k.clone()).or_default() += v;
            }
        }
        self.quarantined_by_reason = by_reason;
        if self.elapsed_seconds > 0.0 {
            self.records_per_second = self.records_read as f64 / self.elapsed_seconds;
            self.mb_per_second = self.bytes_read as f64 / 1e6 / self.elapsed_seconds;
        }
    }

    /// The summary for a person: what was read, what was written, what to look at.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut files = Table::new(["file", "source", "status", "records", "written", "duplicates", "quarantined"]);
        for f in &self.files {
            files.row([
                f.path.clone(),
                f.source.as_str().to_string(),
                f.status.label().to_string(),
                thousands(f.records_read),
                thousands(f.rows_written),
                thousands(f.duplicates_skipped),
                thousands(f.quarantined),
            ]);
        }
        if !self.files.is_empty() {
            out.push_str(&files.render());
            out.push('\n');
        }
        let mut t = Table::key_value();
        t.row(["files read".into(), thousands(self.files_read)]);
        t.row(["files skipped (seen before)".into(), thousands(self.files_skipped)]);
        t.row(["records read".into(), thousands(self.records_read)]);
        if self.failed_attempt_rows > 0 {
            t.row(["  + rows of failed attempts".into(), thousands(self.failed_attempt_rows)]);
        }
        t.row(["rows written".into(), thousands(self.rows_written)]);
        t.row(["duplicates skipped".into(), thousands(self.duplicates_skipped)]);
        t.row(["quarantined".into(), thousands(self.quarantined)]);
        for (reason, n) in &self.quarantined_by_reason {
            t.row([format!("  {reason}"), thousands(*n)]);
        }
        let parts = &self.partitions_touched;
        let touched = match parts.len() {
            0 => "none".to_string(),
            1 => parts[0].clone(),
            n => format!("{n} ({} .. {})", parts[0], parts[n - 1]),
        };
        t.row(["partitions touched".into(), touched]);
        t.row(["elapsed".into(), format!("{:.2} s", self.elapsed_seconds)]);
        t.row([
            "throughput".into(),
            format!("{} records/s, {:.1} MB/s", thousands(self.records_per_second as u64), self.mb_per_second),
        ]);
        if let Some(v) = self.inference_version {
            t.row(["inference table version".into(), v.to_string()]);
        }
        out.push_str(&t.render());
        if self.quarantined > 0 {
            out.push_str(
                "\nQuarantined records are in the quarantine table with the reason and the raw text \
                 (see the README, \"Looking at quarantined records\").\n",
            );
        }
        out
    }
}
