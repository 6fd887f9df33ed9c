//! A JSON array of records (LiteLLM's export): one line per element.

use std::path::Path;

use super::structure::{Structure, StructureScanner};
use super::{blank_newlines, detect, numbered_chunk, read_error, too_long_message};
use crate::error::{Error, Result};
use crate::ingest::record::Rejected;
use crate::ingest::sources::{Chunk, ChunkOptions, LineNumbers};
use crate::ingest::validate::{ReasonCode, Typing};

/// A JSON array of objects (LiteLLM's export): each element becomes one line, numbered by its
/// 1-based position. Newlines between tokens are blanks (a JSON string cannot hold a raw
/// newline), so an element's bytes with them replaced are a one-line record. An element over
/// `max_line_bytes` is quarantined without being kept whole.
pub(super) fn json_array_chunks(
    reader: &mut dyn std::io::BufRead,
    path: &Path,
    opts: ChunkOptions,
    emit: &mut dyn FnMut(Chunk) -> bool,
) -> Result<bool> {
    scan_array(reader, path, opts, SCAN_BYTES, emit)
}

/// [`json_array_chunks`], reading `scan_bytes` (at least 128) at a time.
fn scan_array(
    reader: &mut dyn std::io::BufRead,
    path: &Path,
    opts: ChunkOptions,
    scan_bytes: usize,
    emit: &mut dyn FnMut(Chunk) -> bool,
) -> Result<bool> {
    let mut seq = 0u64;
    let mut chunk = numbered_chunk(seq, &opts, Typing::Strict);
    // the element being read is written straight into the chunk, from `start` on; `head` keeps
    // the first bytes of an element over the cap (`too_long`: its length), for the quarantine
    let mut start = 0usize;
    let mut head: Vec<u8> = Vec::new();
    let (mut index, mut too_long) = (0u64, 0u64);
    let finish = |chunk: &mut Chunk, start: usize, head: &mut Vec<u8>, too_long: &mut u64, index: u64| {
        if *too_long > 0 {
            let mut r = Rejected::new(
                index,
                head,
                None,
                ReasonCode::LineTooLong,
                too_long_message(*too_long, opts.max_line_bytes),
            );
            r.raw_bytes = *too_long;
            chunk.rejects.push(r);
            chunk.prerejected_records += 1;
        } else {
            // what follows an element's last token (its leading blanks were never written)
            let kept = chunk.data[start..].trim_ascii_end().len();
            chunk.data.truncate(start + kept);
            if kept > 0 {
                blank_newlines(&mut chunk.data[start..]);
                chunk.data.push(b'\n');
                if let LineNumbers::Each(numbers) = &mut chunk.lines {
                    numbers.push(index);
                }
            }
        }
        head.clear();
        *too_long = 0;
    };
    // an element's bytes, kept up to the cap; past it only counted. Its leading blanks are
    // never written.
    let append = |chunk: &mut Chunk, start: usize, head: &mut Vec<u8>, too_long: &mut u64, bytes: &[u8]| {
        let len = chunk.data.len() - start;
        let bytes = if *too_long == 0 && len == 0 { bytes.trim_ascii_start() } else { bytes };
        if *too_long > 0 {
            *too_long += bytes.len() as u64;
        } else if len + bytes.len() > opts.max_line_bytes {
            *too_long = (len + bytes.len()) as u64;
            let room = opts.max_line_bytes - len;
            head.extend_from_slice(&chunk.data[start..]);
            head.extend_from_slice(&bytes[..room]);
            head.truncate(crate::ingest::record::RAW_CAP_BYTES);
            chunk.data.truncate(start);
        } else {
            chunk.data.extend_from_slice(bytes);
        }
    };
    // what precedes the array's '[' (a blank file is an array never closed)
    if detect::starts_with_array(reader).map_err(read_error(path))? {
        reader.consume(1);
    } else if reader.fill_buf().map_err(read_error(path))?.is_empty() {
        return Err(not_closed(path));
    } else {
        return Err(Error::InputFormat { path: path.to_path_buf(), message: "not a JSON array of records".into() });
    }
    // the array's bytes, read into `buf` and scanned 64 at a time; the scan only finds where an
    // element ends, and its bytes are copied into the chunk in one piece (`from`: where the
    // bytes not yet copied start)
    let mut buf = vec![0u8; scan_bytes.max(128)];
    let (mut len, mut scanned, mut from) = (0usize, 0usize, 0usize);
    let mut scanner = StructureScanner::default();
    let mut depth = 1usize;
    loop {
        let read = read_some(reader, &mut buf[len..]).map_err(read_error(path))?;
        len += read;
        while len - scanned >= 64 || (read == 0 && scanned < len) {
            let valid = (len - scanned).min(64);
            // a whole block is scanned where it lies; the last, short one padded with blanks
            let structure = match buf[scanned..scanned + valid].try_into() {
                Ok(block) => scanner.block(block),
                Err(_) => {
                    let mut block = [b' '; 64];
                    block[..valid].copy_from_slice(&buf[scanned..scanned + valid]);
                    scanner.block(&block)
                }
            };
            let (mut ends, closed) = element_ends(structure, &mut depth);
            while ends != 0 {
                let end = scanned + ends.trailing_zeros() as usize;
                ends &= ends - 1;
                // the element's bytes, without the ',' or the array's ']' that ends it
                append(&mut chunk, start, &mut head, &mut too_long, &buf[from..end]);
                from = end + 1;
                index += 1;
                finish(&mut chunk, start, &mut head, &mut too_long, index);
                if chunk.data.len() >= opts.chunk_bytes {
                    seq += 1;
                    let full = std::mem::replace(&mut chunk, numbered_chunk(seq, &opts, Typing::Strict));
                    if !emit(full) {
                        return Ok(false);
                    }
                }
                start = chunk.data.len();
            }
            if closed {
                // what follows the closing ']' is not read
                return Ok(emit(chunk));
            }
            scanned += valid;
        }
        if read == 0 {
            return Err(not_closed(path));
        }
        append(&mut chunk, start, &mut head, &mut too_long, &buf[from..scanned]);
        buf.copy_within(scanned..len, 0);
        (len, scanned, from) = (len - scanned, 0, 0);
    }
}

/// The bytes of the array read at a time: a few hundred KiB, so that an element's bytes are
/// still in the cache when they are copied into the chunk.
const SCAN_BYTES: usize = 256 << 10;

/// The element ends in a block: the commas at depth 1 and the ']' that closes the array (then
/// true, and nothing after it counts). `depth` is 1 inside the array, between its elements.
fn element_ends(block: Structure, depth: &mut usize) -> (u64, bool) {
    let mut ends = 0u64;
    let mut braces = block.open | block.close;
    // the bits from `segment` on; between two brackets or braces the depth does not change
    let mut segment = 0u32;
    loop {
        let next = if braces == 0 { 64 } else { braces.trailing_zeros() };
        if *depth == 1 {
            let below_next = if next == 64 { u64::MAX } else { (1u64 << next) - 1 };
            ends |= block.comma & below_next & u64::MAX.checked_shl(segment).unwrap_or(0);
        }
        if braces == 0 {
            return (ends, false);
        }
        braces &= braces - 1;
        if block.open >> next & 1 == 1 {
            *depth += 1;
        } else {
            *depth -= 1;
            if *depth == 0 {
                return (ends | 1u64 << next, true);
            }
        }
        segment = next + 1;
    }
}

/// Reads what is there to read (0 at the end), retrying an interrupted read.
fn read_some(reader: &mut dyn std::io::BufRead, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        match reader.read(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

fn not_closed(path: &Path) -> Error {
    Error::InputFormat { path: path.to_path_buf(), message: "the JSON array is not closed (a truncated file?)".into() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn array_chunks(input: &[u8], max_line_bytes: usize) -> Result<Vec<Chunk>> {
        let mut out = Vec::new();
        let mut reader = std::io::BufReader::with_capacity(7, std::io::Cursor::new(input.to_vec()));
        let opts = ChunkOptions { chunk_bytes: 64, max_line_bytes, required: &[], json_columns: &[], what: "records" };
        scan_array(&mut reader, Path::new("t.json"), opts, 128, &mut |c| {
            out.push(c);
            true
        })?;
        Ok(out)
    }

    #[test]
    fn a_json_array_becomes_one_line_per_element_numbered_by_position() {
        // pretty-printed, with brackets, braces, commas and escaped quotes inside strings, and a
        // reader that sees 7 bytes at a time
        let input =
            b"  [\n  {\"a\": \"x],}\\\"{\\\\\",\n   \"b\": [1, {\"c\": 2}]},\n  {\"a\": \"\\u00e9\"}\n]\ntrailing";
        let chunks = array_chunks(input, 1 << 20).unwrap();
        let data: Vec<u8> = chunks.iter().flat_map(|c| c.data.clone()).collect();
        let lines: Vec<serde_json::Value> =
            data.split(|b| *b == b'\n').filter(|l| !l.is_empty()).map(|l| serde_json::from_slice(l).unwrap()).collect();
        assert_eq!(
            lines,
            vec![serde_json::json!({"a": "x],}\"{\\", "b": [1, {"c": 2}]}), serde_json::json!({"a": "é"})]
        );
        let numbers: Vec<u64> = chunks
            .iter()
            .flat_map(|c| match &c.lines {
                LineNumbers::Each(n) => n.clone(),
                _ => vec![],
            })
            .collect();
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
        let err = array_chunks(b"  \n ", 1000).unwrap_err().to_string();
        assert!(err.contains("not closed"), "a blank file: {err}");
        assert!(array_chunks(b"{\"not\": \"an array\"}", 1000).unwrap_err().to_string().contains("not a JSON array"));
    }

    fn elements_of(input: &[u8], read_size: usize) -> Vec<serde_json::Value> {
        let mut reader = std::io::BufReader::with_capacity(read_size, std::io::Cursor::new(input.to_vec()));
        let opts = ChunkOptions {
            chunk_bytes: 100,
            max_line_bytes: 1 << 20,
            required: &[],
            json_columns: &[],
            what: "records",
        };
        let mut data = Vec::new();
        // the buffer ingest uses, or one of a few blocks: elements and blocks straddle its refills
        let scan_bytes = if read_size.is_multiple_of(2) { SCAN_BYTES } else { 128 + 7 * read_size };
        scan_array(&mut reader, Path::new("t.json"), opts, scan_bytes, &mut |c| {
            data.extend(c.data);
            true
        })
        .unwrap();
        data.split(|b| *b == b'\n').filter(|l| !l.is_empty()).map(|l| serde_json::from_slice(l).unwrap()).collect()
    }

    proptest::proptest! {
        /// Whatever the strings hold (quotes, backslashes, brackets, commas, newlines as
        /// escapes) and however the reader cuts the bytes, each element comes out whole.
        #[test]
        fn every_element_comes_out_whole(
            texts in proptest::collection::vec("[a-z\"\\\\\\[\\]{},: \n\u{e9}]{0,12}", 0..8),
            pretty in proptest::bool::ANY,
            read_size in 1usize..40,
        ) {
            let elements: Vec<serde_json::Value> = texts
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    // nested deep enough that whole blocks lie inside an element
                    serde_json::json!({"i": i, "t": t, "nested": [t, {"u": t}], "deep": {"a": {"b": [t, t, {"c": [t, t]}]}}})
                })
                .collect();
            let input = if pretty {
                serde_json::to_vec_pretty(&elements).unwrap()
            } else {
                serde_json::to_vec(&elements).unwrap()
            };
            proptest::prop_assert_eq!(elements_of(&input, read_size), elements);
        }
    }
}
