//! JSON lines: chunks that end at a newline; over-long lines are quarantined without being
//! buffered. The same cutting serves CSV rows ([`super::csv_rows`]), which end at a newline
//! outside quotes.

use std::io::Read;
use std::path::Path;

use std::sync::Arc;

use super::csv_rows::CsvLayout;
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
    spare: &mut dyn FnMut() -> Vec<u8>,
) -> Result<bool> {
    let records =
        Records { first_line: 1, last_end: |buf| memchr::memrchr(b'\n', buf), typing: Typing::Strict, csv: None };
    line_chunks(reader, path, opts, records, emit, spare)
}

/// What the records of a stream cut by [`line_chunks`] are.
pub(super) struct Records {
    /// The line number of the stream's first byte.
    pub first_line: u64,
    /// Where the last record of a buffer that starts with a record ends: its newline.
    pub last_end: fn(&[u8]) -> Option<usize>,
    pub typing: Typing,
    /// The header of CSV rows.
    pub csv: Option<Arc<CsvLayout>>,
}

/// Cuts a stream of records that end at a newline ([`Records::last_end`]) into chunks of
/// about `chunk_bytes`. A record longer than `max_line_bytes` is never buffered whole: its
/// head is kept for the quarantine row and the rest is skipped up to the next newline.
/// `spare` gives a chunk's buffer its consumer is done with (or an empty one) to read the
/// next chunk into ([`fill`]).
pub(super) fn line_chunks(
    reader: &mut dyn Read,
    path: &Path,
    opts: ChunkOptions,
    records: Records,
    emit: &mut dyn FnMut(Chunk) -> bool,
    spare: &mut dyn FnMut() -> Vec<u8>,
) -> Result<bool> {
    let chunk = |seq, data, first, count| {
        let mut chunk = lines_chunk(seq, data, LineNumbers::From { first, count }, records.typing);
        chunk.csv = records.csv.clone();
        chunk
    };
    let mut seq = 0u64;
    let mut line_no = records.first_line;
    let mut carry: Vec<u8> = Vec::new();
    // (line number, head of the line, bytes seen so far) of an over-long line being skipped
    let mut skipping: Option<(u64, Vec<u8>, u64)> = None;
    loop {
        // the bytes carried over, then the file's next ones; a long carry (a record growing
        // past a read) is read on in its own buffer, not copied into another each time
        let target = (carry.len() + (64 << 10)).max(opts.chunk_bytes);
        let before = carry.len();
        let mut buf = if before >= 64 << 10 {
            std::mem::take(&mut carry)
        } else {
            let mut buf = spare();
            buf.resize(buf.len().max(target), 0);
            buf[..before].copy_from_slice(&carry);
            carry.clear();
            buf
        };
        fill(reader, &mut buf, before, target).map_err(read_error(path))?;
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

        // the bytes of a record over the cap, from its start
        let over = match (records.last_end)(&buf) {
            Some(p) => {
                carry = buf.split_off(p + 1);
                let lines = memchr::memchr_iter(b'\n', &buf).count() as u64;
                let first = line_no;
                line_no += lines;
                if !emit(chunk(seq, buf, first, lines)) {
                    return Ok(false);
                }
                seq += 1;
                (carry.len() > opts.max_line_bytes).then(|| std::mem::take(&mut carry))
            }
            None if eof => {
                // the last line has no newline: still a record
                if !buf.iter().all(u8::is_ascii_whitespace) {
                    let lines = memchr::memchr_iter(b'\n', &buf).count() as u64 + 1;
                    return Ok(emit(chunk(seq, buf, line_no, lines)));
                }
                return Ok(true);
            }
            None if buf.len() > opts.max_line_bytes => Some(buf),
            None => {
                carry = buf;
                None
            }
        };
        if let Some(part) = over {
            match over_long(&part, seq, &mut line_no, opts.max_line_bytes) {
                OverLong::Quarantined(chunk, rest) => {
                    seq += 1;
                    if !emit(chunk) {
                        return Ok(false);
                    }
                    carry = rest;
                }
                OverLong::Skipping(skip) => skipping = Some(skip),
            }
        }
        if eof && carry.is_empty() && skipping.is_none() {
            return Ok(true);
        }
    }
}

/// Reads the stream's next bytes into `buf` after its first `kept`, up to `target` bytes in
/// all (fewer only at its end), and cuts `buf` there. They are read into `buf`'s length, not
/// its spare capacity: the standard library zeroes spare capacity before a reader of
/// tokenledger's own (the one that hashes the file) reads into it, 2.4 % of a native ingest's
/// instructions, while a used chunk's buffer is written over as it stands.
fn fill(reader: &mut dyn Read, buf: &mut Vec<u8>, kept: usize, target: usize) -> std::io::Result<()> {
    buf.resize(buf.len().max(target), 0);
    let mut filled = kept;
    while filled < target {
        match reader.read(&mut buf[filled..target]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(filled);
    Ok(())
}

/// What becomes of an over-long record.
enum OverLong {
    /// Quarantined up to its end, with the bytes after it.
    Quarantined(Chunk, Vec<u8>),
    /// Its end is not read yet: (line number, head, bytes so far).
    Skipping((u64, Vec<u8>, u64)),
}

/// A record over `cap` bytes, `part` being its bytes so far (from its start on line
/// `line_no`): it ends at the first newline past the cap. A JSON line has none before its
/// end; a CSV row with an unclosed quote has no end, and the rows after that newline are read
/// again. `line_no` moves past the newlines it takes.
fn over_long(part: &[u8], seq: u64, line_no: &mut u64, cap: usize) -> OverLong {
    let first = *line_no;
    let head = part[..crate::ingest::record::RAW_CAP_BYTES.min(part.len())].to_vec();
    match memchr::memchr(b'\n', &part[cap.min(part.len())..]) {
        Some(q) => {
            let end = cap + q;
            *line_no += memchr::memchr_iter(b'\n', &part[..=end]).count() as u64;
            OverLong::Quarantined(too_long_chunk(seq, first, &head, end as u64, cap), part[end + 1..].to_vec())
        }
        None => {
            *line_no += memchr::memchr_iter(b'\n', part).count() as u64;
            OverLong::Skipping((first, head, part.len() as u64))
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
        csv: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::sources::Source;

    fn chunks_of(input: &[u8], chunk_bytes: usize, max_line_bytes: usize) -> Vec<Chunk> {
        let read = |spare: &mut dyn FnMut() -> Vec<u8>| {
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
                spare,
            )
            .unwrap();
            out
        };
        let fresh = read(&mut Vec::new);
        // read into used buffers of any length, full of stale bytes: none of them shows
        let mut n = 0;
        let used = read(&mut || {
            n += 1;
            vec![b'#'; [0, 5, 70_000, 3 * chunk_bytes][n % 4]]
        });
        assert_eq!(format!("{used:?}"), format!("{fresh:?}"));
        fresh
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
        let numbers: Vec<(u64, u64)> = chunks
            .iter()
            .map(|c| match c.lines {
                LineNumbers::From { first, count } => (first, count),
                LineNumbers::Each(_) => panic!("JSON lines are numbered from the first"),
            })
            .collect();
        // each chunk says how many lines it holds (a read takes 64 KiB at least), the last
        // (no newline at its end) too
        assert_eq!(numbers, vec![(1, 3), (4, 1)]);
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
        assert!(matches!(last.lines, LineNumbers::From { first: 3, count: 1 }));
    }
}
