//! JSON lines: chunks that end at a newline; over-long lines are quarantined without being buffered.

use std::io::Read;
use std::path::Path;

use super::{lines_chunk, read_error, too_long_message};
use crate::error::Result;
use crate::ingest::record::Rejected;
use crate::ingest::sources::{Chunk, ChunkOptions, LineNumbers};
use crate::ingest::validate::{ReasonCode, Typing};

/// Cuts a stream of JSON lines into chunks of about `chunk_bytes` that end at a newline.
/// A line longer than `max_line_bytes` is never buffered whole: its head is kept for the
/// quarantine row and the rest is skipped up to the next newline.
pub(super) fn json_line_chunks(
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

fn too_long_chunk(seq: u64, line: u64, head: &[u8], total: u64, cap: usize) -> Chunk {
    let reject = Rejected::new(line, head, None, ReasonCode::LineTooLong, too_long_message(total, cap));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::sources::Source;

    fn chunks_of(input: &[u8], chunk_bytes: usize, max_line_bytes: usize) -> Vec<Chunk> {
        let mut out = Vec::new();
        json_line_chunks(
            &mut std::io::Cursor::new(input.to_vec()),
            Path::new("t.jsonl"),
            ChunkOptions {
                chunk_bytes,
                max_line_bytes,
                required: Source::Native.required(),
                json_columns: &[],
                what: Source::Native.what(),
            },
            &mut |c| {
                out.push(c);
                true
            },
        )
        .unwrap();
        out
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
}
