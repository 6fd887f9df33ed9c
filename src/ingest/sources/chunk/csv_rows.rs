//! CSV with a header row: one JSON object of strings per row.

use std::io::Read;
use std::path::Path;

use super::lines_chunk;
use crate::error::{Error, Result};
use crate::ingest::record::Rejected;
use crate::ingest::sources::{Chunk, ChunkOptions, LineNumbers};
use crate::ingest::validate::{ReasonCode, Typing};

/// CSV with a header row naming the native fields. Each row becomes a JSON object of
/// strings (empty cells are absent); numbers and booleans are parsed from that text later.
pub(super) fn csv_chunks(
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
                    chunk.rejects.push(Rejected::new(
                        line,
                        b"",
                        None,
                        ReasonCode::MalformedRecord,
                        format!("bad CSV record: {e}"),
                    ));
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
            chunk.rejects.push(Rejected::new(
                line,
                &raw,
                None,
                ReasonCode::InvalidUtf8,
                format!("field {field} is not valid UTF-8"),
            ));
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
            let full = std::mem::replace(
                &mut chunk,
                lines_chunk(seq, Vec::new(), LineNumbers::Each(Vec::new()), Typing::FromText),
            );
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
