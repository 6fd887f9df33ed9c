//! Input files: finding them, recognising their format, and cutting them into chunks of
//! records that parse workers can handle independently.
//!
//! Every format becomes JSON lines here (CSV rows, Parquet rows and the elements of a JSON
//! array are rendered as one-line JSON objects), so one validator serves all of them; each
//! [`Source`] (the system that wrote the log) has its adapter that maps its fields.

pub mod databricks;
pub mod detect;
pub mod litellm;
pub mod native;

pub use detect::Source;

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow::datatypes::{DataType, Field, Schema};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use xxhash_rust::xxh3::Xxh3;

use super::record::Rejected;
use super::validate::{ReasonCode, Typing};
use crate::error::{Error, Result};

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

/// Recognises a file by its name: `.jsonl`, `.ndjson`, `.json`, `.csv` (each optionally `.gz`)
/// and `.parquet`.
pub fn format_of(path: &Path) -> Option<(Format, bool)> {
    let name = path.file_name()?.to_str()?.to_ascii_lowercase();
    let (stem, gzip) = match name.strip_suffix(".gz") {
        Some(stem) => (stem.to_string(), true),
        None => (name, false),
    };
    let format = if stem.ends_with(".jsonl") || stem.ends_with(".ndjson") || stem.ends_with(".json") {
        Format::JsonLines
    } else if stem.ends_with(".csv") {
        Format::Csv
    } else if stem.ends_with(".parquet") && !gzip {
        Format::Parquet
    } else {
        return None;
    };
    Some((format, gzip))
}

/// The files named by `paths`: files as given, directories searched recursively for
/// supported names (hidden files and other names are skipped). Sorted and deduplicated, so
/// the order of ingest, and therefore which of two conflicting records wins, is stable.
pub fn discover(paths: &[PathBuf]) -> Result<Vec<InputFile>> {
    let mut found = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|source| Error::Input { path: path.clone(), source })?;
        if meta.is_dir() {
            walk(path, &mut found)?;
        } else {
            let Some((format, gzip)) = format_of(path) else {
                return Err(Error::Usage(format!(
                    "{}: unsupported file type; tokenledger reads .jsonl/.ndjson/.json, .csv \
                     (optionally .gz) and .parquet files",
                    path.display()
                )));
            };
            found.push(InputFile { path: path.clone(), format, gzip, size: meta.len(), source: Source::Native });
        }
    }
    found.sort_by(|a, b| a.path.cmp(&b.path));
    found.dedup_by(|a, b| a.path == b.path);
    Ok(found)
}

fn walk(dir: &Path, found: &mut Vec<InputFile>) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|source| Error::Input { path: dir.to_path_buf(), source })?;
    for entry in entries {
        let entry = entry.map_err(|source| Error::Input { path: dir.to_path_buf(), source })?;
        let path = entry.path();
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let meta = std::fs::metadata(&path).map_err(|source| Error::Input { path: path.clone(), source })?;
        if meta.is_dir() {
            walk(&path, found)?;
        } else if let Some((format, gzip)) = format_of(&path) {
            found.push(InputFile { path, format, gzip, size: meta.len(), source: Source::Native });
        }
    }
    Ok(())
}

/// A content hash of the file's bytes (xxh3-128, hex): a file ingested once is recognised
/// again under any name.
pub fn file_fingerprint(path: &Path, progress: &AtomicU64) -> Result<String> {
    let mut file = File::open(path).map_err(|source| Error::Input { path: path.to_path_buf(), source })?;
    let mut hasher = Xxh3::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(|source| Error::Input { path: path.to_path_buf(), source })?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        progress.fetch_add(n as u64, Ordering::Relaxed);
    }
    Ok(format!("{:032x}", hasher.digest128()))
}

/// A cheap identity check: xxh3-128 of the size, the first and the last MiB. Files with
/// different quick fingerprints certainly differ; equal ones may still differ, and are then
/// told apart by [`file_fingerprint`]. It lets a new file be ingested with one read instead
/// of a hashing pass before the real one.
pub fn quick_fingerprint(path: &Path, size: u64) -> Result<String> {
    use std::io::{Seek, SeekFrom};
    const EDGE: u64 = 1 << 20;
    let err = |source| Error::Input { path: path.to_path_buf(), source };
    let mut file = File::open(path).map_err(err)?;
    let mut hasher = Xxh3::new();
    hasher.update(&size.to_le_bytes());
    let mut buf = Vec::with_capacity(EDGE as usize);
    (&mut file).take(EDGE).read_to_end(&mut buf).map_err(err)?;
    hasher.update(&buf);
    if size > 2 * EDGE {
        file.seek(SeekFrom::Start(size - EDGE)).map_err(err)?;
        buf.clear();
        (&mut file).take(EDGE).read_to_end(&mut buf).map_err(err)?;
        hasher.update(&buf);
    } else if size > EDGE {
        buf.clear();
        file.read_to_end(&mut buf).map_err(err)?;
        hasher.update(&buf);
    }
    Ok(format!("{:032x}", hasher.digest128()))
}

/// How line numbers of a chunk's lines are known.
#[derive(Debug, Clone)]
pub enum LineNumbers {
    /// Physical lines, the first of which has this number (JSON lines files).
    From(u64),
    /// One number per line of `data` (CSV records, Parquet rows).
    Each(Vec<u64>),
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
}

/// Knobs of the chunkers.
#[derive(Debug, Clone, Copy)]
pub struct ChunkOptions {
    pub chunk_bytes: usize,
    pub max_line_bytes: usize,
    /// Columns a CSV or Parquet file must have (its source's key fields): without them the
    /// file is something else and is refused whole instead of quarantining every row.
    pub required: &'static [&'static str],
    /// What the file holds, for messages ("native records", "LiteLLM spend logs").
    pub what: &'static str,
}

/// Counts and hashes the file's bytes as they are read: the progress bar's position, and
/// the file's fingerprint without a second pass over it.
struct Counting<R> {
    inner: R,
    counter: Arc<AtomicU64>,
    hasher: Arc<std::sync::Mutex<Xxh3>>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.counter.fetch_add(n as u64, Ordering::Relaxed);
        self.hasher.lock().expect("only the reader thread hashes").update(&buf[..n]);
        Ok(n)
    }
}

fn open(file: &InputFile, counter: Arc<AtomicU64>, hasher: Arc<std::sync::Mutex<Xxh3>>) -> Result<Box<dyn Read + Send>> {
    let f = File::open(&file.path).map_err(|source| Error::Input { path: file.path.clone(), source })?;
    let counted = Counting { inner: f, counter, hasher };
    Ok(if file.gzip {
        Box::new(flate2::read::MultiGzDecoder::new(BufReader::with_capacity(1 << 20, counted)))
    } else {
        Box::new(counted)
    })
}

/// Reads `file` and hands its records to `emit` in chunks, in order. `emit` returns false
/// when the consumer has stopped; reading stops too. Returns the file's fingerprint (the
/// same as [`file_fingerprint`]) when the whole file was read as a stream (not Parquet).
pub fn read_chunks(
    file: &InputFile,
    opts: ChunkOptions,
    counter: Arc<AtomicU64>,
    emit: &mut dyn FnMut(Chunk) -> bool,
) -> Result<Option<String>> {
    let hasher = Arc::new(std::sync::Mutex::new(Xxh3::new()));
    let complete = match file.format {
        Format::JsonLines => {
            let mut reader = BufReader::with_capacity(1 << 16, open(file, counter, hasher.clone())?);
            let complete = if detect::starts_with_array(&mut reader).map_err(read_error(&file.path))? {
                json_array_chunks(&mut reader, &file.path, opts, emit)?
            } else {
                json_line_chunks(&mut reader, &file.path, opts, emit)?
            };
            // gzip may stop before the end of the file's bytes (trailing garbage): hash them all
            complete && std::io::copy(&mut reader, &mut std::io::sink()).is_ok()
        }
        Format::Csv => {
            let mut reader = open(file, counter, hasher.clone())?;
            csv_chunks(&mut reader, &file.path, opts, emit)?
        }
        // Parquet is read by seeking, not as a stream: ingest hashes it whole before reading
        Format::Parquet => {
            parquet_chunks(file, counter, opts, emit)?;
            return Ok(None);
        }
    };
    if !complete {
        return Ok(None);
    }
    let hasher = hasher.lock().expect("reader finished");
    Ok(Some(format!("{:032x}", hasher.digest128())))
}

fn read_error(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Input { path: path.to_path_buf(), source }
}

/// Cuts a stream of JSON lines into chunks of about `chunk_bytes` that end at a newline.
/// A line longer than `max_line_bytes` is never buffered whole: its head is kept for the
/// quarantine row and the rest is skipped up to the next newline.
fn json_line_chunks(
    reader: &mut dyn Read,
    path: &Path,
    opts: ChunkOptions,
    emit: &mut dyn FnMut(Chunk) -> bool,
) -> Result<bool> {
    let mut seq = 0u64;
    let mut line_no = 1u64;
    let mut carry: Vec<u8> = Vec::new();
    // (line number, head of the line, bytes seen so far) of an over-long line being skipped
    let mut skipping: Option<(u64, Vec<u8>, u64)> = None;
    loop {
        let mut buf = std::mem::take(&mut carry);
        let target = (buf.len() + (64 << 10)).max(opts.chunk_bytes);
        buf.reserve(target.saturating_sub(buf.len()));
        let before = buf.len();
        reader.take((target - before) as u64).read_to_end(&mut buf).map_err(read_error(path))?;
        let eof = buf.len() == before;

        if let Some((line, head, seen)) = skipping.as_mut() {
            match memchr::memchr(b'\n', &buf) {
                Some(p) => {
                    *seen += p as u64;
                    let chunk = too_long_chunk(seq, *line, head, *seen, opts.max_line_bytes);
                    seq += 1;
                    if !emit(chunk) {
                        return Ok(false);
                    }
                    skipping = None;
                    line_no += 1;
                    carry = buf.split_off(p + 1);
                    continue;
                }
                None => {
                    *seen += buf.len() as u64;
                    if eof {
                        let chunk = too_long_chunk(seq, *line, head, *seen, opts.max_line_bytes);
                        return Ok(emit(chunk));
                    }
                    continue;
                }
            }
        }

        match memchr::memrchr(b'\n', &buf) {
            Some(p) => {
                carry = buf.split_off(p + 1);
                let lines = memchr::memchr_iter(b'\n', &buf).count() as u64;
                let first = line_no;
                line_no += lines;
                if !emit(lines_chunk(seq, buf, LineNumbers::From(first), Typing::Strict)) {
                    return Ok(false);
                }
                seq += 1;
                if carry.len() > opts.max_line_bytes {
                    let head = carry[..crate::ingest::record::RAW_CAP_BYTES.min(carry.len())].to_vec();
                    skipping = Some((line_no, head, carry.len() as u64));
                    carry.clear();
                }
            }
            None if eof => {
                // the last line has no newline: still a record
                if !buf.iter().all(u8::is_ascii_whitespace) {
                    return Ok(emit(lines_chunk(seq, buf, LineNumbers::From(line_no), Typing::Strict)));
                }
                return Ok(true);
            }
            None if buf.len() > opts.max_line_bytes => {
                let head = buf[..crate::ingest::record::RAW_CAP_BYTES.min(buf.len())].to_vec();
                skipping = Some((line_no, head, buf.len() as u64));
            }
            None => carry = buf,
        }
        if eof && carry.is_empty() && skipping.is_none() {
            return Ok(true);
        }
    }
}

fn lines_chunk(seq: u64, data: Vec<u8>, lines: LineNumbers, typing: Typing) -> Chunk {
    Chunk { seq, data, lines, typing, rejects: Vec::new(), prerejected_records: 0 }
}

/// The quarantine message of an over-long line.
pub fn too_long_message(total: u64, cap: usize) -> String {
    format!("the line is {total} bytes long, over --max-line-bytes {cap}; raise it if such records are real")
}

fn too_long_chunk(seq: u64, line: u64, head: &[u8], total: u64, cap: usize) -> Chunk {
    let reject = Rejected::new(
        line,
        head,
        None,
        ReasonCode::LineTooLong,
        too_long_message(total, cap),
    );
    let mut r = reject;
    r.raw_bytes = total;
    Chunk {
        seq,
        data: Vec::new(),
        lines: LineNumbers::Each(Vec::new()),
        typing: Typing::Strict,
        rejects: vec![r],
        prerejected_records: 1,
    }
}

/// A JSON array of objects (LiteLLM's export): each element becomes one line, numbered by its
/// 1-based position. Newlines between tokens are blanks (a JSON string cannot hold a raw
/// newline), so an element's bytes with them replaced are a one-line record. An element over
/// `max_line_bytes` is quarantined without being kept whole.
fn json_array_chunks(
    reader: &mut dyn std::io::BufRead,
    path: &Path,
    opts: ChunkOptions,
    emit: &mut dyn FnMut(Chunk) -> bool,
) -> Result<bool> {
    let mut seq = 0u64;
    let mut chunk = lines_chunk(seq, Vec::new(), LineNumbers::Each(Vec::new()), Typing::Strict);
    let mut element: Vec<u8> = Vec::new();
    let (mut index, mut depth, mut in_string, mut escaped, mut too_long) = (0u64, 0usize, false, false, 0u64);
    let finish = |element: &mut Vec<u8>, too_long: &mut u64, chunk: &mut Chunk, index: u64| {
        if *too_long > 0 {
            let mut r = Rejected::new(index, element, None, ReasonCode::LineTooLong, too_long_message(*too_long, opts.max_line_bytes));
            r.raw_bytes = *too_long;
            chunk.rejects.push(r);
            chunk.prerejected_records += 1;
        } else if !element.iter().all(u8::is_ascii_whitespace) {
            for b in element.iter_mut() {
                if *b == b'\n' || *b == b'\r' {
                    *b = b' ';
                }
            }
            chunk.data.extend_from_slice(element.trim_ascii());
            chunk.data.push(b'\n');
            if let LineNumbers::Each(numbers) = &mut chunk.lines {
                numbers.push(index);
            }
        }
        element.clear();
        *too_long = 0;
    };
    loop {
        let buf = reader.fill_buf().map_err(read_error(path))?;
        if buf.is_empty() {
            break;
        }
        let n = buf.len();
        for &b in buf {
            if depth == 0 {
                // before the array's '[' (after it, depth is at least 1 until its ']')
                if b == b'[' {
                    depth = 1;
                } else if !b.is_ascii_whitespace() {
                    return Err(Error::InputFormat { path: path.to_path_buf(), message: "not a JSON array of records".into() });
                }
                continue;
            }
            let mut ends_element = false;
            if in_string {
                if escaped {
                    escaped = false;
                } else if b == b'\\' {
                    escaped = true;
                } else if b == b'"' {
                    in_string = false;
                }
            } else {
                match b {
                    b'"' => in_string = true,
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => depth -= 1,
                    b',' if depth == 1 => ends_element = true,
                    _ => {}
                }
            }
            if depth == 0 || ends_element {
                index += 1;
                finish(&mut element, &mut too_long, &mut chunk, index);
                if chunk.data.len() >= opts.chunk_bytes {
                    seq += 1;
                    let full = std::mem::replace(&mut chunk, lines_chunk(seq, Vec::new(), LineNumbers::Each(Vec::new()), Typing::Strict));
                    if !emit(full) {
                        return Ok(false);
                    }
                }
                if depth == 0 {
                    // the closing ']': what follows is not read
                    reader.consume(n);
                    return Ok(emit(chunk));
                }
                continue;
            }
            if too_long > 0 {
                too_long += 1;
            } else if element.len() >= opts.max_line_bytes {
                too_long = element.len() as u64 + 1;
                element.truncate(crate::ingest::record::RAW_CAP_BYTES);
            } else {
                element.push(b);
            }
        }
        reader.consume(n);
    }
    Err(Error::InputFormat { path: path.to_path_buf(), message: "the JSON array is not closed (a truncated file?)".into() })
}

/// CSV with a header row naming the native fields. Each row becomes a JSON object of
/// strings (empty cells are absent); numbers and booleans are parsed from that text later.
fn csv_chunks(
    reader: &mut dyn Read,
    path: &Path,
    opts: ChunkOptions,
    emit: &mut dyn FnMut(Chunk) -> bool,
) -> Result<bool> {
    let mut csv = csv::ReaderBuilder::new().flexible(true).has_headers(true).from_reader(reader);
    let headers: Vec<String> = csv
        .byte_headers()
        .map_err(|e| Error::InputFormat { path: path.to_path_buf(), message: format!("bad CSV header: {e}") })?
        .iter()
        .map(|h| String::from_utf8_lossy(h).trim().to_string())
        .collect();
    let missing: Vec<&str> = opts.required.iter().copied().filter(|c| !headers.iter().any(|h| h == c)).collect();
    if !missing.is_empty() {
        return Err(Error::InputFormat {
            path: path.to_path_buf(),
            message: format!(
                "not a CSV of {}: the header lacks {} (is this a config file? \
                 point ingest at the log files only, or name their format with --source)",
                opts.what,
                missing.join(", ")
            ),
        });
    }
    let mut seq = 0u64;
    let mut chunk = lines_chunk(seq, Vec::new(), LineNumbers::Each(Vec::new()), Typing::FromText);
    let mut record = csv::ByteRecord::new();
    loop {
        let more = match csv.read_byte_record(&mut record) {
            Ok(more) => more,
            Err(e) => match e.kind() {
                csv::ErrorKind::Io(_) => {
                    return Err(Error::InputFormat { path: path.to_path_buf(), message: e.to_string() });
                }
                _ => {
                    let line = e.position().map_or(0, |p| p.line());
                    chunk.rejects.push(Rejected::new(line, b"", None, ReasonCode::MalformedRecord, format!("bad CSV record: {e}")));
                    chunk.prerejected_records += 1;
                    continue;
                }
            },
        };
        if !more {
            break;
        }
        let line = record.position().map_or(0, |p| p.line());
        let raw = record.iter().collect::<Vec<_>>().join(&b","[..]);
        if record.len() != headers.len() {
            chunk.rejects.push(Rejected::new(
                line,
                &raw,
                None,
                ReasonCode::MalformedRecord,
                format!("the row has {} fields, the header {}", record.len(), headers.len()),
            ));
            chunk.prerejected_records += 1;
            continue;
        }
        let mut object = serde_json::Map::new();
        let mut utf8_error = None;
        for (name, cell) in headers.iter().zip(record.iter()) {
            match std::str::from_utf8(cell) {
                Ok("") => {}
                Ok(text) => {
                    object.insert(name.clone(), serde_json::Value::String(text.to_string()));
                }
                Err(_) => utf8_error = Some(name.clone()),
            }
        }
        if let Some(field) = utf8_error {
            chunk.rejects.push(Rejected::new(line, &raw, None, ReasonCode::InvalidUtf8, format!("field {field} is not valid UTF-8")));
            chunk.prerejected_records += 1;
            continue;
        }
        serde_json::to_writer(&mut chunk.data, &object)?;
        chunk.data.push(b'\n');
        if let LineNumbers::Each(lines) = &mut chunk.lines {
            lines.push(line);
        }
        if chunk.data.len() >= opts.chunk_bytes {
            seq += 1;
            let full = std::mem::replace(&mut chunk, lines_chunk(seq, Vec::new(), LineNumbers::Each(Vec::new()), Typing::FromText));
            if !emit(full) {
                return Ok(false);
            }
        }
    }
    if !chunk.data.is_empty() || !chunk.rejects.is_empty() {
        return Ok(emit(chunk));
    }
    Ok(true)
}

/// Parquet with columns named like the native fields. Rows are rendered as JSON (with UTC
/// timestamps written as RFC 3339) and validated like any other record; line numbers are
/// 1-based row numbers.
fn parquet_chunks(
    file: &InputFile,
    counter: Arc<AtomicU64>,
    opts: ChunkOptions,
    emit: &mut dyn FnMut(Chunk) -> bool,
) -> Result<bool> {
    let path = &file.path;
    let bad = |e: &dyn std::fmt::Display| Error::InputFormat { path: path.clone(), message: format!("not a readable Parquet file: {e}") };
    let f = File::open(path).map_err(read_error(path))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(f)
        .map_err(|e| bad(&e))?
        .with_batch_size(8192)
        .build()
        .map_err(|e| bad(&e))?;
    let names: Vec<String> = arrow::record_batch::RecordBatchReader::schema(&reader).fields().iter().map(|f| f.name().clone()).collect();
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

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks_of(input: &[u8], chunk_bytes: usize, max_line_bytes: usize) -> Vec<Chunk> {
        let mut out = Vec::new();
        json_line_chunks(
            &mut std::io::Cursor::new(input.to_vec()),
            Path::new("t.jsonl"),
            ChunkOptions { chunk_bytes, max_line_bytes, required: Source::Native.required(), what: Source::Native.what() },
            &mut |c| {
                out.push(c);
                true
            },
        )
        .unwrap();
        out
    }

    fn array_chunks(input: &[u8], max_line_bytes: usize) -> Result<Vec<Chunk>> {
        let mut out = Vec::new();
        let mut reader = std::io::BufReader::with_capacity(7, std::io::Cursor::new(input.to_vec()));
        let opts = ChunkOptions { chunk_bytes: 64, max_line_bytes, required: &[], what: "records" };
        json_array_chunks(&mut reader, Path::new("t.json"), opts, &mut |c| {
            out.push(c);
            true
        })?;
        Ok(out)
    }

    #[test]
    fn a_json_array_becomes_one_line_per_element_numbered_by_position() {
        // pretty-printed, with brackets, braces, commas and escaped quotes inside strings, and a
        // reader that sees 7 bytes at a time
        let input = b"  [\n  {\"a\": \"x],}\\\"{\\\\\",\n   \"b\": [1, {\"c\": 2}]},\n  {\"a\": \"\\u00e9\"}\n]\ntrailing";
        let chunks = array_chunks(input, 1 << 20).unwrap();
        let data: Vec<u8> = chunks.iter().flat_map(|c| c.data.clone()).collect();
        let lines: Vec<serde_json::Value> = data.split(|b| *b == b'\n').filter(|l| !l.is_empty()).map(|l| serde_json::from_slice(l).unwrap()).collect();
        assert_eq!(lines, vec![serde_json::json!({"a": "x],}\"{\\", "b": [1, {"c": 2}]}), serde_json::json!({"a": "é"})]);
        let numbers: Vec<u64> = chunks.iter().flat_map(|c| match &c.lines { LineNumbers::Each(n) => n.clone(), _ => vec![] }).collect();
        assert_eq!(numbers, vec![1, 2]);
        assert!(array_chunks(b"[]", 100).unwrap().iter().all(|c| c.data.is_empty() && c.rejects.is_empty()));
    }

    #[test]
    fn a_huge_array_element_is_quarantined_and_a_truncated_array_is_an_error() {
        let big = format!("[{{\"a\": \"{}\"}}, {{\"b\": 1}}]", "x".repeat(5000));
        let chunks = array_chunks(big.as_bytes(), 1000).unwrap();
        let rejects: Vec<&Rejected> = chunks.iter().flat_map(|c| &c.rejects).collect();
        assert_eq!(rejects.len(), 1);
        assert_eq!((rejects[0].line, rejects[0].code), (1, ReasonCode::LineTooLong));
        assert!(rejects[0].raw_bytes > 5000);
        let data: Vec<u8> = chunks.iter().flat_map(|c| c.data.clone()).collect();
        assert_eq!(String::from_utf8(data).unwrap(), "{\"b\": 1}\n", "the next element is read");
        let err = array_chunks(b"[{\"a\": 1}, {\"b\"", 1000).unwrap_err().to_string();
        assert!(err.contains("not closed"), "{err}");
        assert!(array_chunks(b"{\"not\": \"an array\"}", 1000).unwrap_err().to_string().contains("not a JSON array"));
    }

    #[test]
    fn chunks_end_at_newlines_and_number_lines() {
        let input = b"aaaa\nbbbb\ncccc\ndddd";
        let chunks = chunks_of(input, 6, 1000);
        let joined: Vec<u8> = chunks.iter().flat_map(|c| c.data.clone()).collect();
        assert_eq!(joined, input);
        for c in &chunks {
            assert!(c.data.ends_with(b"\n") || c.data == b"dddd");
        }
        let LineNumbers::From(last) = chunks.last().unwrap().lines else { panic!() };
        assert_eq!(last, 4);
    }

    #[test]
    fn over_long_lines_become_rejects_without_buffering() {
        let mut input = b"ok1\n".to_vec();
        // longer than one read (64 KiB), so the reader meets it as a carried-over line
        input.extend(std::iter::repeat_n(b'x', 200_000));
        input.extend(b"\nok3\n");
        let chunks = chunks_of(&input, 64, 100);
        let rejects: Vec<&Rejected> = chunks.iter().flat_map(|c| &c.rejects).collect();
        assert_eq!(rejects.len(), 1);
        assert_eq!(rejects[0].line, 2);
        assert_eq!(rejects[0].code, ReasonCode::LineTooLong);
        assert_eq!(rejects[0].raw_bytes, 200_000);
        let text: Vec<u8> = chunks.iter().flat_map(|c| c.data.clone()).collect();
        assert_eq!(text, b"ok1\nok3\n");
        let last = chunks.iter().rev().find(|c| !c.data.is_empty()).unwrap();
        assert!(matches!(last.lines, LineNumbers::From(3)));
    }

    #[test]
    fn formats_are_recognised_by_name() {
        assert_eq!(format_of(Path::new("a/x.jsonl.gz")), Some((Format::JsonLines, true)));
        assert_eq!(format_of(Path::new("x.NDJSON")), Some((Format::JsonLines, false)));
        assert_eq!(format_of(Path::new("x.csv")), Some((Format::Csv, false)));
        assert_eq!(format_of(Path::new("x.parquet")), Some((Format::Parquet, false)));
        assert_eq!(format_of(Path::new("x.txt")), None);
    }
}
