//! CSV with a header row: one JSON object of strings per row.

use std::io::Read;
use std::path::Path;

use super::{blank_newlines, numbered_chunk};
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
    // each column's `"name":` as JSON, written once, and the later columns of the same name: a
    // name the header repeats keeps its last non-empty cell
    let keys: Vec<(Vec<u8>, Vec<usize>)> = headers
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let mut key = serde_json::to_vec(name).expect("a string serialises");
            key.push(b':');
            (key, (i + 1..headers.len()).filter(|j| headers[*j] == *name).collect())
        })
        .collect();
    let json: Vec<bool> = headers.iter().map(|h| opts.json_columns.contains(&h.as_str())).collect();
    let mut seq = 0u64;
    let mut chunk = numbered_chunk(seq, &opts, Typing::FromText);
    let mut record = csv::ByteRecord::new();
    let raw_of = |record: &csv::ByteRecord| record.iter().collect::<Vec<_>>().join(&b","[..]);
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
        if record.len() != headers.len() {
            chunk.rejects.push(Rejected::new(
                line,
                &raw_of(&record),
                None,
                ReasonCode::MalformedRecord,
                format!("the row has {} fields, the header {}", record.len(), headers.len()),
            ));
            chunk.prerejected_records += 1;
            continue;
        }
        // the row as one JSON object of strings, written straight into the chunk
        let start = chunk.data.len();
        let mut utf8_error = None;
        chunk.data.push(b'{');
        for (((name, (key, later)), json), cell) in headers.iter().zip(&keys).zip(&json).zip(record.iter()) {
            if later.iter().any(|j| !record[*j].is_empty()) {
                continue;
            }
            match std::str::from_utf8(cell) {
                Ok("") => {}
                Ok(text) => {
                    if chunk.data.len() > start + 1 {
                        chunk.data.push(b',');
                    }
                    chunk.data.extend_from_slice(key);
                    if *json && is_json_document(text) {
                        // blanks between its tokens may be newlines (a JSON string holds none)
                        let at = chunk.data.len();
                        chunk.data.extend_from_slice(text.as_bytes());
                        blank_newlines(&mut chunk.data[at..]);
                    } else {
                        serde_json::to_writer(&mut chunk.data, text)?;
                    }
                }
                Err(_) => {
                    utf8_error = Some(name.clone());
                    break;
                }
            }
        }
        if let Some(field) = utf8_error {
            chunk.data.truncate(start);
            chunk.rejects.push(Rejected::new(
                line,
                &raw_of(&record),
                None,
                ReasonCode::InvalidUtf8,
                format!("field {field} is not valid UTF-8"),
            ));
            chunk.prerejected_records += 1;
            continue;
        }
        chunk.data.extend_from_slice(b"}\n");
        if let LineNumbers::Each(lines) = &mut chunk.lines {
            lines.push(line);
        }
        if chunk.data.len() >= opts.chunk_bytes {
            seq += 1;
            let full = std::mem::replace(&mut chunk, numbered_chunk(seq, &opts, Typing::FromText));
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

/// A JSON object or array, whole.
fn is_json_document(text: &str) -> bool {
    matches!(text.trim_start().as_bytes().first(), Some(b'{' | b'['))
        && serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(input: &[u8]) -> (Vec<serde_json::Value>, Vec<Rejected>) {
        let opts = ChunkOptions {
            chunk_bytes: 40,
            max_line_bytes: 1 << 20,
            required: &["a"],
            json_columns: &["j"],
            what: "records",
        };
        let (mut lines, mut rejects) = (Vec::new(), Vec::new());
        csv_chunks(&mut &input[..], Path::new("t.csv"), opts, &mut |c| {
            lines.extend(
                c.data
                    .split(|b| *b == b'\n')
                    .filter(|l| !l.is_empty())
                    .map(|l| serde_json::from_slice::<serde_json::Value>(l).expect("each row is one JSON object")),
            );
            rejects.extend(c.rejects);
            true
        })
        .unwrap();
        (lines, rejects)
    }

    #[test]
    fn a_row_is_one_json_object_of_its_non_empty_cells() {
        let input = "a,b,c\n1,\"x, \"\"quoted\"\" \\ é\n\t\",\n,,\n\"{\"\"k\"\": [1]}\",2,3\n".as_bytes();
        let (lines, rejects) = rows(input);
        assert!(rejects.is_empty());
        assert_eq!(
            lines,
            vec![
                serde_json::json!({"a": "1", "b": "x, \"quoted\" \\ é\n\t"}),
                serde_json::json!({}),
                serde_json::json!({"a": "{\"k\": [1]}", "b": "2", "c": "3"}),
            ]
        );
    }

    #[test]
    fn a_repeated_column_keeps_its_last_non_empty_cell_and_a_bad_row_leaves_nothing_behind() {
        let (lines, _) = rows(b"a,b,a\n1,2,3\n4,5,\n");
        assert_eq!(lines, vec![serde_json::json!({"a": "3", "b": "2"}), serde_json::json!({"a": "4", "b": "5"})]);
        let (lines, rejects) = rows(b"a,b\n1,\xff\n2,3\n4\n");
        assert_eq!(lines, vec![serde_json::json!({"a": "2", "b": "3"})]);
        let reasons: Vec<_> = rejects.iter().map(|r| (r.line, r.code)).collect();
        assert_eq!(reasons, vec![(2, ReasonCode::InvalidUtf8), (4, ReasonCode::MalformedRecord)]);
        assert!(rejects[0].message.contains("field b"), "{}", rejects[0].message);
    }

    #[test]
    fn a_json_column_holding_json_is_carried_as_json_and_anything_else_as_text() {
        let input =
            "a,j\n1,\"{\"\"k\"\": [1,\n 2]}\"\n2,\"{not json\"\n3,[]\n4,\"\"\"s\"\"\"\n5,\"[1] x\"\n".as_bytes();
        let (lines, rejects) = rows(input);
        assert!(rejects.is_empty());
        assert_eq!(
            lines,
            vec![
                serde_json::json!({"a": "1", "j": {"k": [1, 2]}}),
                serde_json::json!({"a": "2", "j": "{not json"}),
                serde_json::json!({"a": "3", "j": []}),
                serde_json::json!({"a": "4", "j": "\"s\""}),
                serde_json::json!({"a": "5", "j": "[1] x"}),
            ]
        );
    }
}
