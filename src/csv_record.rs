//! Reading one CSV record: the cells of a row, unquoted. The gateways' CSV exports and the
//! config files ([`crate::pricing`]) are read with it.
//!
//! The rules are RFC 4180's as the csv crate reads them (its `csv_core` state machine with
//! the default settings, which a property test below holds this reader to): cells are cut
//! by commas, a record ends at `\n`, `\r` or `\r\n`, blank lines are no records, a cell that
//! starts with a quote runs to the next lone quote and `""` inside it is one quote. Malformed
//! text is read the same way too: what follows a closing quote up to the next comma or line
//! end belongs to the cell, and a quote inside an unquoted cell is an ordinary byte.
//!
//! It differs from `csv_core` in how it gets there. `csv_core` steps a state machine byte by
//! byte; this reader looks at sixteen bytes at a time with vector comparisons: it copies a
//! quoted cell a block at a time up to its next quote, and jumps over an unquoted cell to the
//! comma or line end that ends it. The JSON cells of a gateway's export are most of its bytes,
//! and `csv_core` spent a quarter of the instructions of a LiteLLM CSV ingest on them.

use wide::u8x16;

/// What [`next_record`] read.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// A record: it starts at byte `start` of the input (after the blank lines before it),
    /// and it and its line end take the input up to `consumed`. Its cells are in `out`, cell
    /// `i` at [`cell_span`]`(ends, i)`.
    Record { start: usize, consumed: usize },
    /// The input has ended.
    End,
    /// The input ended inside a record and more may come.
    Unfinished,
}

/// Reads the next record of `input` (the whole rest of the input when `eof`) into `out` and
/// `ends` (emptied first).
pub fn next_record(input: &[u8], eof: bool, out: &mut Vec<u8>, ends: &mut Vec<usize>) -> Next {
    out.clear();
    ends.clear();
    let start = input.iter().position(|b| !matches!(b, b'\n' | b'\r')).unwrap_or(input.len());
    if start == input.len() {
        return if eof { Next::End } else { Next::Unfinished };
    }
    let mut pos = start;
    loop {
        // a cell starts at `pos`
        if input.get(pos) == Some(&b'"') {
            pos = quoted_cell(input, pos + 1, out);
        }
        // the unquoted rest of the cell: all of an unquoted one, what follows the closing
        // quote of a quoted one
        let stop = match input.get(pos) {
            // most often a quoted cell's closing quote is the cell's end
            Some(b',' | b'\n' | b'\r') => Some(pos),
            _ => unquoted_end(input, pos),
        };
        let end = stop.unwrap_or(input.len());
        if pos < end {
            out.extend_from_slice(&input[pos..end]);
        }
        ends.push(out.len());
        match stop {
            Some(at) if input[at] == b',' => pos = at + 1,
            Some(at) => return Next::Record { start, consumed: at + 1 },
            None if eof => return Next::Record { start, consumed: input.len() },
            None => return Next::Unfinished,
        }
    }
}

/// Where the unquoted text from `pos` ends: the next comma or line end, if any. Sixteen bytes
/// at a time (three vector comparisons): a gateway's unquoted cells are short (ids, counts,
/// times), too short for a call to `memchr3` to pay; the input's last few bytes go to it.
fn unquoted_end(input: &[u8], mut pos: usize) -> Option<usize> {
    let (comma, newline, carriage) = (u8x16::splat(b','), u8x16::splat(b'\n'), u8x16::splat(b'\r'));
    while let Some(block) = input.get(pos..pos + 16) {
        let v = u8x16::new(block.try_into().expect("sixteen bytes"));
        let ends = (v.cmp_eq(comma) | v.cmp_eq(newline) | v.cmp_eq(carriage)).move_mask() as u32;
        if ends != 0 {
            return Some(pos + ends.trailing_zeros() as usize);
        }
        pos += 16;
    }
    memchr::memchr3(b',', b'\n', b'\r', &input[pos..]).map(|at| pos + at)
}

/// Where cell `i` of a record lies in its unquoted text, `ends` being where each cell ends.
pub fn cell_span(ends: &[usize], i: usize) -> std::ops::Range<usize> {
    let start = if i == 0 { 0 } else { ends[i - 1] };
    start..ends[i]
}

/// Copies a quoted cell's text from `pos` (just past its opening quote) to `out`, `""` as one
/// quote: where the input goes on after its closing quote (the input's end when it has none).
fn quoted_cell(input: &[u8], mut pos: usize, out: &mut Vec<u8>) -> usize {
    let quote = u8x16::splat(b'"');
    loop {
        // sixteen bytes at a time up to the next quote, found by one vector comparison (SSE2
        // on x86-64, NEON on aarch64): the JSON a gateway writes in a cell has a quote every
        // few bytes, too often for a call to memchr to pay
        while let Some(block) = input.get(pos..pos + 16) {
            let block: [u8; 16] = block.try_into().expect("sixteen bytes");
            let quotes = u8x16::new(block).cmp_eq(quote).move_mask() as u32;
            // all sixteen copied (one store), then the bytes from the quote on taken back
            out.extend_from_slice(&block);
            if quotes == 0 {
                pos += 16;
                continue;
            }
            let at = quotes.trailing_zeros() as usize;
            if quotes & (2 << at) != 0 {
                // a doubled quote within the block: one kept, and on from the byte after
                out.truncate(out.len() - 15 + at);
                pos += at + 2;
                continue;
            }
            out.truncate(out.len() - 16 + at);
            pos += at;
            break;
        }
        match input.get(pos) {
            None => return input.len(),
            Some(b'"') if input.get(pos + 1) == Some(&b'"') => {
                out.push(b'"');
                pos += 2;
            }
            Some(b'"') => return pos + 1,
            // the last few bytes of the input
            Some(byte) => {
                out.push(*byte);
                pos += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every record of `input` read by `csv_core`: where it starts, its cells, and the bytes
    /// it took.
    fn csv_core_records(input: &[u8]) -> Vec<(Vec<Vec<u8>>, usize)> {
        let mut reader = csv_core::Reader::new();
        let (mut out, mut ends) = (vec![0_u8; input.len() + 1], vec![0_usize; input.len() + 2]);
        let (mut pos, mut nout, mut nend, mut records) = (0, 0, 0, Vec::new());
        loop {
            let (result, nin, o, e) = reader.read_record(&input[pos..], &mut out[nout..], &mut ends[nend..]);
            (pos, nout, nend) = (pos + nin, nout + o, nend + e);
            match result {
                csv_core::ReadRecordResult::Record => {
                    let cells = (0..nend).map(|i| out[cell_span(&ends, i)].to_vec());
                    records.push((cells.collect(), pos));
                    (nout, nend) = (0, 0);
                }
                csv_core::ReadRecordResult::End => return records,
                // the input's last record ends with the next, empty, read
                csv_core::ReadRecordResult::InputEmpty => {}
                other => panic!("{other:?}"),
            }
        }
    }

    /// Every record of `input` read by [`next_record`], as [`csv_core_records`] gives them.
    fn our_records(input: &[u8]) -> Vec<(Vec<Vec<u8>>, usize)> {
        let (mut out, mut ends, mut pos, mut records) = (Vec::new(), Vec::new(), 0, Vec::new());
        loop {
            match next_record(&input[pos..], true, &mut out, &mut ends) {
                Next::Record { consumed, .. } => {
                    let cells = (0..ends.len()).map(|i| out[cell_span(&ends, i)].to_vec());
                    pos += consumed;
                    records.push((cells.collect(), pos));
                }
                Next::End => return records,
                Next::Unfinished => panic!("an input read to its end is never unfinished"),
            }
        }
    }

    #[test]
    fn quoted_cells_lose_their_quotes_and_keep_one_of_each_doubled_quote() {
        let (mut out, mut ends) = (Vec::new(), Vec::new());
        let input = b"\r\n\n\"{\"\"k\"\": \"\"v,\n\"\"}\",x\"y,\"a\"b,,\"\"\"\"\r\nnext";
        let Next::Record { start, consumed } = next_record(input, true, &mut out, &mut ends) else {
            panic!("a record")
        };
        assert_eq!((start, ends.len()), (3, 5));
        assert_eq!(&input[consumed..], b"\nnext", "the \\n of a \\r\\n is left to the next record's blank lines");
        let cells: Vec<&[u8]> = (0..ends.len()).map(|i| &out[cell_span(&ends, i)]).collect();
        assert_eq!(cells, vec![&b"{\"k\": \"v,\n\"}"[..], b"x\"y", b"ab", b"", b"\""]);
    }

    #[test]
    fn a_record_the_input_may_not_hold_whole_is_unfinished_until_the_input_ends() {
        let (mut out, mut ends) = (Vec::new(), Vec::new());
        for input in [&b"a,b"[..], b"a,", b"\"a\nb", b"\"a\"", b"\n\n"] {
            assert_eq!(next_record(input, false, &mut out, &mut ends), Next::Unfinished, "{input:?}");
        }
        assert_eq!(next_record(b"a,", true, &mut out, &mut ends), Next::Record { start: 0, consumed: 2 });
        assert_eq!(ends, [1, 1]);
        assert_eq!(next_record(b"\"a\nb", true, &mut out, &mut ends), Next::Record { start: 0, consumed: 4 });
        assert_eq!((&out[..], &ends[..]), (&b"a\nb"[..], &[3][..]));
        assert_eq!(next_record(b"\r\n", true, &mut out, &mut ends), Next::End);
        assert_eq!(next_record(b"a\n", false, &mut out, &mut ends), Next::Record { start: 0, consumed: 2 });
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        /// Any bytes, CSV or not (quotes anywhere, lone CRs, bytes that are not UTF-8): the
        /// records, their cells and the bytes each takes are `csv_core`'s.
        #[test]
        fn records_equal_csv_cores_whatever_the_bytes(
            input in proptest::collection::vec(proptest::sample::select(b"a,\"\n\r \xc3\xa9".to_vec()), 0..200)
        ) {
            proptest::prop_assert_eq!(our_records(&input), csv_core_records(&input));
        }

        /// Rows as gateways write them: quoted cells with long runs between their quotes (so
        /// a block of sixteen holds one quote, several, or none, and a doubled quote may
        /// straddle two blocks) and unquoted cells short and long: read as `csv_core` reads them.
        #[test]
        fn gateway_rows_equal_csv_cores(
            cells in proptest::collection::vec(
                (
                    proptest::collection::vec(proptest::sample::select(b"aaaaaaaaaaaaaaaaaaaa\"\",\n{}".to_vec()), 0..60),
                    0..40_usize,
                ),
                1..8,
            ),
            line_end in proptest::sample::select(vec![&b"\n"[..], b"\r\n", b"\r", b""]),
        ) {
            let mut input = Vec::new();
            for (quoted, unquoted) in &cells {
                input.push(b'"');
                input.extend(quoted.iter().flat_map(|b| if *b == b'"' { &b"\"\""[..] } else { std::slice::from_ref(b) }));
                input.extend_from_slice(b"\",");
                input.extend(std::iter::repeat_n(b'u', *unquoted));
                input.push(b',');
            }
            input.extend_from_slice(line_end);
            input.extend_from_slice(b"id-0123456789abcdef-0123456789,7\n");
            proptest::prop_assert_eq!(our_records(&input), csv_core_records(&input));
        }
    }
}
