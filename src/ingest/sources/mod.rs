//! Input files: finding them, recognising their format, and cutting them into chunks of
//! records that parse workers can handle independently.
//!
//! Every format becomes JSON lines here (Parquet rows and the elements of a JSON array are
//! rendered as one-line JSON objects) or CSV rows, read into their cells by the workers, so
//! one validator serves all of them; each [`Source`] (the system that wrote the log) has its
//! adapter that maps its fields (from a CSV row's cells directly, or from the row rendered
//! as a JSON object).
//!
//! Layout: `discover` finds the files and recognises their format by name, `fingerprint`
//! identifies a file by its content, `chunk` cuts a file into chunks (one file per format:
//! JSON lines, JSON array, CSV, Parquet); the types they share are here.

pub mod ai_gateway;
pub mod databricks;
pub mod detect;
pub mod litellm;
pub mod native;

mod chunk;
mod discover;
mod fingerprint;

pub use chunk::csv_rows::{CsvColumn, CsvLayout, CsvRow};
pub use chunk::{read_chunks, too_long_message};
pub use detect::{Source, SourceChoice};
pub use discover::{discover, format_of};
pub use fingerprint::{file_fingerprint, quick_fingerprint};

use std::path::PathBuf;

use super::record::Rejected;
use super::validate::{Reject, Typing, ValidRecord};

/// A line's records: the request, and the attempts of it that failed before the gateway fell
/// back to the destination that answered, in order (only the AI Gateway's usage rows have
/// those).
#[derive(Debug, PartialEq)]
pub struct Parsed<'a> {
    pub record: ValidRecord<'a>,
    pub failed_attempts: Vec<ValidRecord<'a>>,
}

impl<'a> Parsed<'a> {
    pub fn one(record: ValidRecord<'a>) -> Self {
        Self { record, failed_attempts: Vec::new() }
    }
}

/// The container format of an input file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    JsonLines,
    Csv,
    Parquet,
}

/// One input file to ingest.
#[derive(Debug, Clone)]
pub struct InputFile {
    pub path: PathBuf,
    pub format: Format,
    pub gzip: bool,
    /// Size on disk (compressed size for `.gz`).
    pub size: u64,
    /// Which system wrote it (native until detected or given).
    pub source: Source,
}

/// How line numbers of a chunk's lines are known.
#[derive(Debug, Clone)]
pub enum LineNumbers {
    /// `count` physical lines, the first of which has number `first` (JSON lines files, and
    /// CSV files, whose rows may span lines).
    From { first: u64, count: u64 },
    /// One number per line of `data` (JSON array elements, Parquet rows).
    Each(Vec<u64>),
}

impl LineNumbers {
    /// The lines of the chunk, as the reader counted them when it cut the chunk (so that a
    /// parse worker makes room for its records without counting them again).
    pub fn count(&self) -> usize {
        match self {
            LineNumbers::From { count, .. } => *count as usize,
            LineNumbers::Each(numbers) => numbers.len(),
        }
    }
}

/// A piece of a file: whole JSON lines, plus rejects the reader itself found.
#[derive(Debug)]
pub struct Chunk {
    pub seq: u64,
    pub data: Vec<u8>,
    pub lines: LineNumbers,
    pub typing: Typing,
    /// Records rejected before parsing (lines over the length cap, CSV rows that are not UTF-8).
    pub rejects: Vec<Rejected>,
    /// Records in `rejects` count as read records too.
    pub prerejected_records: u64,
    /// Set when `data` holds CSV rows as the file has them (a row may span lines), with the
    /// file's header: read them with [`CsvLayout::rows`]. Otherwise `data` holds JSON lines.
    pub csv: Option<std::sync::Arc<CsvLayout>>,
}

/// A record of a chunk, as its adapter reads it.
#[derive(Debug)]
pub enum RecordText<'a> {
    /// A JSON line.
    Json(&'a [u8]),
    /// A CSV row's cells.
    Row(CsvRow<'a>),
}

impl Chunk {
    /// Calls `each` with every record of the chunk: its line number, its offset in `data`,
    /// its bytes as the file has them, and the record (or why a CSV row's cells cannot be
    /// read). Blank lines are no records.
    pub fn for_each_record(&self, mut each: impl FnMut(u64, usize, &[u8], Result<RecordText<'_>, Reject>)) {
        if let Some(layout) = &self.csv {
            let first = match &self.lines {
                LineNumbers::From { first, .. } => *first,
                LineNumbers::Each(numbers) => numbers.first().copied().unwrap_or(1),
            };
            layout.rows(&self.data, first, |line, start, raw, row| each(line, start, raw, row.map(RecordText::Row)));
            return;
        }
        let data = &self.data;
        let (mut start, mut index) = (0, 0);
        while start < data.len() {
            let end = memchr::memchr(b'\n', &data[start..]).map_or(data.len(), |p| start + p);
            let line_no = match &self.lines {
                LineNumbers::From { first, .. } => first + index as u64,
                LineNumbers::Each(numbers) => numbers.get(index).copied().unwrap_or(0),
            };
            let mut line = &data[start..end];
            if line.last() == Some(&b'\r') {
                line = &line[..line.len() - 1];
            }
            // blank lines separate nothing and carry nothing: they are not records
            if !line.iter().all(u8::is_ascii_whitespace) {
                each(line_no, start, line, Ok(RecordText::Json(line)));
            }
            start = end + 1;
            index += 1;
        }
    }
}

/// Knobs of the chunkers.
#[derive(Debug, Clone, Copy)]
pub struct ChunkOptions {
    pub chunk_bytes: usize,
    pub max_line_bytes: usize,
    /// Columns a CSV or Parquet file must have (its source's key fields): without them the
    /// file is something else and is refused whole instead of quarantining every row.
    pub required: &'static [&'static str],
    /// CSV columns whose cells are carried as JSON when they hold a JSON object or array
    /// ([`Source::json_columns`]).
    pub json_columns: &'static [&'static str],
    /// What the file holds, for messages ("native records", "LiteLLM spend logs").
    pub what: &'static str,
}
