//! Cutting an input file into chunks of records: the reader that counts and hashes the bytes,
//! and the dispatch to the chunker of the file's format.

pub(crate) mod csv_rows;
mod json_array;
mod json_lines;
mod parquet_rows;
mod structure;

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use twox_hash::XxHash3_128;

use super::{Chunk, ChunkOptions, Format, InputFile, LineNumbers, detect};
use crate::error::{Error, Result};
use crate::ingest::validate::Typing;
use csv_rows::csv_chunks;
use json_array::json_array_chunks;
use json_lines::json_line_chunks;
use parquet_rows::parquet_chunks;

/// Counts and hashes the file's bytes as they are read: the progress bar's position, and
/// the file's fingerprint without a second pass over it.
struct Counting<R> {
    inner: R,
    counter: Arc<AtomicU64>,
    hasher: Arc<std::sync::Mutex<XxHash3_128>>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.counter.fetch_add(n as u64, Ordering::Relaxed);
        self.hasher.lock().expect("only the reader thread hashes").write(&buf[..n]);
        Ok(n)
    }
}

fn open(
    file: &InputFile,
    counter: Arc<AtomicU64>,
    hasher: Arc<std::sync::Mutex<XxHash3_128>>,
) -> Result<Box<dyn Read + Send>> {
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
/// same as [`file_fingerprint`](super::file_fingerprint)) when the whole file was read as a stream (not Parquet).
/// `spare` gives the buffer of a chunk its consumer is done with (or an empty one), which the
/// next chunk of JSON lines or CSV rows is read into.
pub fn read_chunks(
    file: &InputFile,
    opts: ChunkOptions,
    counter: Arc<AtomicU64>,
    emit: &mut dyn FnMut(Chunk) -> bool,
    spare: &mut dyn FnMut() -> Vec<u8>,
) -> Result<Option<String>> {
    let hasher = Arc::new(std::sync::Mutex::new(XxHash3_128::new()));
    let complete = match file.format {
        Format::JsonLines => {
            let mut reader = BufReader::with_capacity(1 << 16, open(file, counter, hasher.clone())?);
            let complete = if detect::starts_with_array(&mut reader).map_err(read_error(&file.path))? {
                json_array_chunks(&mut reader, &file.path, opts, emit)?
            } else {
                json_line_chunks(&mut reader, &file.path, opts, emit, spare)?
            };
            // gzip may stop before the end of the file's bytes (trailing garbage): hash them all
            complete && std::io::copy(&mut reader, &mut std::io::sink()).is_ok()
        }
        Format::Csv => {
            let mut reader = open(file, counter, hasher.clone())?;
            csv_chunks(&mut reader, &file.path, opts, emit, spare)?
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
    Ok(Some(format!("{:032x}", hasher.finish_128())))
}

fn read_error(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Input { path: path.to_path_buf(), source }
}

fn lines_chunk(seq: u64, data: Vec<u8>, lines: LineNumbers, typing: Typing) -> Chunk {
    Chunk { seq, data, lines, typing, rejects: Vec::new(), prerejected_records: 0, csv: None }
}

/// An empty chunk of records numbered one by one, with room for `chunk_bytes` and the record
/// that fills it: its buffer is not grown by copies.
fn numbered_chunk(seq: u64, opts: &ChunkOptions, typing: Typing) -> Chunk {
    let data = Vec::with_capacity(opts.chunk_bytes + (64 << 10).min(opts.max_line_bytes));
    lines_chunk(seq, data, LineNumbers::Each(Vec::new()), typing)
}

/// A JSON document made one line: its newlines become blanks. Between tokens they are blanks
/// already, and a JSON string cannot hold a raw one.
fn blank_newlines(bytes: &mut [u8]) {
    let mut from = 0;
    while let Some(p) = memchr::memchr2(b'\n', b'\r', &bytes[from..]) {
        bytes[from + p] = b' ';
        from += p + 1;
    }
}

/// The quarantine message of an over-long line.
pub fn too_long_message(total: u64, cap: usize) -> String {
    format!("the line is {total} bytes long, over --max-line-bytes {cap}; raise it if such records are real")
}
