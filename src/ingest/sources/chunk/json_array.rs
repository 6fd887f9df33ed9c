//! A JSON array of records (LiteLLM's export): one line per element.

use std::path::Path;

use super::{blank_newlines, numbered_chunk, read_error, too_long_message};
use crate::error::{Error, Result};
use crate::ingest::record::Rejected;
use crate::ingest::sources::{Chunk, ChunkOptions, LineNumbers};
use crate::ingest::validate::{ReasonCode, Typing};

/// The bytes that change where an element is: quotes, brackets, braces and commas.
const STRUCTURAL: [bool; 256] = {
    let mut table = [false; 256];
    let mut k = 0;
    let bytes = *b"\"{}[],";
    while k < bytes.len() {
        table[bytes[k] as usize] = true;
        k += 1;
    }
    table
};

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
    let mut seq = 0u64;
    let mut chunk = numbered_chunk(seq, &opts, Typing::Strict);
    // the element being read is written straight into the chunk, from `start` on; `head` keeps
    // the first bytes of an element over the cap (`too_long`: its length), for the quarantine
    let mut start = 0usize;
    let mut head: Vec<u8> = Vec::new();
    let (mut index, mut depth, mut in_string, mut escaped, mut too_long) = (0u64, 0usize, false, false, 0u64);
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
    loop {
        let buf = reader.fill_buf().map_err(read_error(path))?;
        if buf.is_empty() {
            break;
        }
        let n = buf.len();
        let mut i = 0;
        // where the element's bytes not yet copied start in `buf`: the scan only finds where
        // an element ends, and its bytes are copied in one piece (per buffer read)
        let mut from = 0;
        while i < n {
            if depth == 0 {
                // before the array's '[' (after it, depth is at least 1 until its ']')
                if buf[i] == b'[' {
                    depth = 1;
                } else if !buf[i].is_ascii_whitespace() {
                    return Err(Error::InputFormat {
                        path: path.to_path_buf(),
                        message: "not a JSON array of records".into(),
                    });
                }
                i += 1;
                from = i;
                continue;
            }
            if in_string {
                // most of an element is string contents: jump to the next quote or backslash
                if escaped {
                    escaped = false;
                    i += 1;
                    continue;
                }
                match memchr::memchr2(b'"', b'\\', &buf[i..]) {
                    Some(p) => {
                        if buf[i + p] == b'\\' {
                            escaped = true;
                        } else {
                            in_string = false;
                        }
                        i += p + 1;
                    }
                    None => i = n,
                }
                continue;
            }
            // what lies between the bytes that matter (numbers, literals, colons, blanks)
            match buf[i..].iter().position(|b| STRUCTURAL[usize::from(*b)]) {
                Some(run) => i += run,
                None => break,
            }
            let b = buf[i];
            i += 1;
            let mut ends_element = false;
            match b {
                b'"' => in_string = true,
                b'{' | b'[' => depth += 1,
                b'}' | b']' => depth -= 1,
                b',' if depth == 1 => ends_element = true,
                _ => {}
            }
            if depth == 0 || ends_element {
                // the element's bytes, without the ',' or the array's ']' that ends it
                append(&mut chunk, start, &mut head, &mut too_long, &buf[from..i - 1]);
                from = i;
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
                if depth == 0 {
                    // the closing ']': what follows is not read
                    reader.consume(n);
                    return Ok(emit(chunk));
                }
            }
        }
        if depth > 0 {
            append(&mut chunk, start, &mut head, &mut too_long, &buf[from..n]);
        }
        reader.consume(n);
    }
    Err(Error::InputFormat {
        path: path.to_path_buf(),
        message: "the JSON array is not closed (a truncated file?)".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn array_chunks(input: &[u8], max_line_bytes: usize) -> Result<Vec<Chunk>> {
        let mut out = Vec::new();
        let mut reader = std::io::BufReader::with_capacity(7, std::io::Cursor::new(input.to_vec()));
        let opts = ChunkOptions { chunk_bytes: 64, max_line_bytes, required: &[], json_columns: &[], what: "records" };
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
        json_array_chunks(&mut reader, Path::new("t.json"), opts, &mut |c| {
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
                .map(|(i, t)| serde_json::json!({"i": i, "t": t, "nested": [t, {"u": t}]}))
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
