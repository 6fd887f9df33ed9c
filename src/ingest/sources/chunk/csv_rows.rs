//! CSV with a header row: chunks of whole rows as the file has them, cut where a newline
//! stands outside quotes; the parse workers read each row into its cells ([`CsvLayout::rows`]).
//!
//! The reader thread only looks for quotes and newlines. Reading the cells (unquoting,
//! checking UTF-8) is the workers' share, and so is rendering a row as a JSON object for an
//! adapter that reads JSON: a source whose adapter reads the cells themselves (LiteLLM's)
//! skips that.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use super::blank_newlines;
use super::json_lines::{Records, line_chunks};
use super::read_error;
use crate::csv_record::{Next, cell_span, next_record};
use crate::error::{Error, Result};
use crate::ingest::sources::{Chunk, ChunkOptions};
use crate::ingest::validate::{ReasonCode, Reject, Typing};

/// CSV with a header row naming the source's columns, cut into chunks of whole rows.
pub(super) fn csv_chunks(
    reader: &mut dyn Read,
    path: &Path,
    opts: ChunkOptions,
    emit: &mut dyn FnMut(Chunk) -> bool,
    spare: &mut dyn FnMut() -> Vec<u8>,
) -> Result<bool> {
    let (layout, rest, header_lines) = read_header(reader, path, &opts)?;
    let mut rows = std::io::Cursor::new(rest).chain(reader);
    let records =
        Records { first_line: 1 + header_lines, last_end: last_row_end, typing: Typing::FromText, csv: Some(layout) };
    line_chunks(&mut rows, path, opts, records, emit, spare)
}

/// Reads the header row: the rows' layout, the bytes read past the header, and the newlines
/// the header took.
fn read_header(reader: &mut dyn Read, path: &Path, opts: &ChunkOptions) -> Result<(Arc<CsvLayout>, Vec<u8>, u64)> {
    let mut buf = Vec::new();
    loop {
        let before = buf.len();
        reader.take(64 << 10).read_to_end(&mut buf).map_err(read_error(path))?;
        let eof = buf.len() == before;
        let bom = if buf.starts_with(b"\xEF\xBB\xBF") { 3 } else { 0 };
        if let Some((cells, used)) = first_record(&buf[bom..], eof) {
            let rest = buf.split_off(bom + used);
            let header_lines = newlines(&buf);
            let headers: Vec<String> = cells.iter().map(|h| String::from_utf8_lossy(h).trim().to_string()).collect();
            let missing: Vec<&str> =
                opts.required.iter().copied().filter(|c| !headers.iter().any(|h| h == c)).collect();
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
            return Ok((Arc::new(CsvLayout::new(headers, opts.json_columns)), rest, header_lines));
        }
        if buf.len() > opts.max_line_bytes {
            return Err(Error::InputFormat {
                path: path.to_path_buf(),
                message: format!(
                    "bad CSV header: its row does not end within --max-line-bytes {} (an unclosed quote?)",
                    opts.max_line_bytes
                ),
            });
        }
    }
}

/// The cells of the first record of `text` and the bytes it takes, once it is whole (or the
/// input has ended: `eof`). No record at all is a header of no columns.
fn first_record(text: &[u8], eof: bool) -> Option<(Vec<Vec<u8>>, usize)> {
    let (mut out, mut ends) = (Vec::new(), Vec::new());
    match next_record(text, eof, &mut out, &mut ends) {
        Next::Record { consumed, .. } => {
            let cells = (0..ends.len()).map(|i| out[cell_span(&ends, i)].to_vec()).collect();
            Some((cells, consumed))
        }
        Next::End => Some((Vec::new(), text.len())),
        Next::Unfinished => None,
    }
}

/// The newlines in `bytes`. A row holds one as a rule, its last byte: finding the first is
/// cheaper than counting them (`memchr`'s count adds up each block's matches, its search only
/// tests whether a block has one), and nothing is left to count after it.
fn newlines(bytes: &[u8]) -> u64 {
    match memchr::memchr(b'\n', bytes) {
        Some(first) => 1 + memchr::memchr_iter(b'\n', &bytes[first + 1..]).count() as u64,
        None => 0,
    }
}

/// Where the last whole row of `buf` (which starts with a row) ends: its newline, the last
/// one with an even number of quotes before it. A quoted cell may hold newlines, and its own
/// quotes come in pairs (`""`), so a newline ends a row exactly when the quotes before it are
/// even. (Malformed CSV, a stray quote in an unquoted cell, can make a chunk end inside a
/// row; its two halves are then quarantined for their field counts, and the next chunk
/// starts afresh.)
fn last_row_end(buf: &[u8]) -> Option<usize> {
    // whether the quotes in buf[..end] are odd
    let mut odd = memchr::memchr_iter(b'"', buf).count() % 2 == 1;
    let mut end = buf.len();
    while let Some(p) = memchr::memrchr2(b'\n', b'"', &buf[..end]) {
        if buf[p] == b'"' {
            odd = !odd;
        } else if !odd {
            return Some(p);
        }
        end = p;
    }
    None
}

/// The header of a CSV file, as the workers read its rows with it.
#[derive(Debug)]
pub struct CsvLayout {
    headers: Vec<String>,
    /// Per column: the later columns of the same name. A name the header repeats keeps its
    /// last non-empty cell.
    later: Vec<Vec<usize>>,
    /// Per column: its `"name":` as JSON, for rendering a row as a JSON object.
    keys: Vec<Vec<u8>>,
    /// Per column: whether a cell that holds a JSON object or array is carried as JSON
    /// ([`crate::ingest::sources::Source::json_columns`]).
    json: Vec<bool>,
}

/// The columns of one name in a [`CsvLayout`], first to last.
#[derive(Debug, Clone, Default)]
pub struct CsvColumn(Vec<usize>);

impl CsvLayout {
    fn new(headers: Vec<String>, json_columns: &[&str]) -> Self {
        let later = (0..headers.len()).map(|i| (i + 1..headers.len()).filter(|j| headers[*j] == headers[i]).collect());
        let keys = headers
            .iter()
            .map(|name| {
                let mut key = serde_json::to_vec(name).expect("a string serialises");
                key.push(b':');
                key
            })
            .collect();
        let json = headers.iter().map(|h| json_columns.contains(&h.as_str())).collect();
        Self { later: later.collect(), keys, json, headers }
    }

    /// The columns named `name` (none when the header lacks it).
    pub fn column(&self, name: &str) -> CsvColumn {
        CsvColumn((0..self.headers.len()).filter(|i| self.headers[*i] == name).collect())
    }

    /// Reads the rows of `data` (whole rows, the first on line `first_line`): calls `each`
    /// with a row's line number, its offset in `data`, its bytes as the file has them, and
    /// its cells or why they cannot be read. Blank lines are no rows.
    pub fn rows(
        &self,
        data: &[u8],
        first_line: u64,
        mut each: impl FnMut(u64, usize, &[u8], Result<CsvRow<'_>, Reject>),
    ) {
        // a row's cells, reused from row to row
        let (mut out, mut ends) = (Vec::new(), Vec::with_capacity(self.headers.len() + 1));
        let (mut pos, mut line) = (0, first_line);
        loop {
            let Next::Record { start, consumed } = next_record(&data[pos..], true, &mut out, &mut ends) else {
                return;
            };
            let (lead, start) = (pos, pos + start);
            pos += consumed;
            // the blank lines before a row are skipped with it
            let row_line = line + newlines(&data[lead..start]);
            let taken = &data[start..pos];
            line = row_line + newlines(taken);
            let mut raw = taken;
            while let [rest @ .., b'\n' | b'\r'] = raw {
                raw = rest;
            }
            let row = self.row(&out, &ends).map_err(|mut reject| {
                // the line the row's last byte is on
                let last = line - u64::from(taken.ends_with(b"\n"));
                if reject.code == ReasonCode::MalformedRecord && last > row_line {
                    reject
                        .message
                        .push_str(&format!("; the row runs from line {row_line} to {last}: is a quote left open?"));
                }
                reject
            });
            each(row_line, start, raw, row);
        }
    }

    /// A row of cells, `ends` being where each ends in `text`.
    fn row<'a>(&'a self, text: &'a [u8], ends: &'a [usize]) -> Result<CsvRow<'a>, Reject> {
        if ends.len() != self.headers.len() {
            return Err(Reject::new(
                ReasonCode::MalformedRecord,
                format!("the row has {} fields, the header {}", ends.len(), self.headers.len()),
            ));
        }
        let whole = simdutf8::basic::from_utf8(text).ok();
        match whole {
            // a cell may not end inside a character even when the row's text is UTF-8
            Some(text) if ends.iter().all(|e| text.is_char_boundary(*e)) => Ok(CsvRow { layout: self, text, ends }),
            _ => {
                let bad =
                    (0..ends.len()).find(|i| std::str::from_utf8(&text[cell_span(ends, *i)]).is_err()).unwrap_or(0);
                Err(Reject::new(
                    ReasonCode::InvalidUtf8,
                    format!("field {} is not valid UTF-8", self.headers.get(bad).map_or("", String::as_str)),
                ))
            }
        }
    }
}

/// One row's cells, UTF-8, as many as the header's columns.
#[derive(Debug, Clone, Copy)]
pub struct CsvRow<'a> {
    layout: &'a CsvLayout,
    text: &'a str,
    ends: &'a [usize],
}

impl<'a> CsvRow<'a> {
    fn cell(&self, i: usize) -> &'a str {
        &self.text[cell_span(self.ends, i)]
    }

    /// The cell of `column`: the last non-empty one of its name; none when all are empty.
    pub fn get(&self, column: &CsvColumn) -> Option<&'a str> {
        column.0.iter().rev().map(|i| self.cell(*i)).find(|c| !c.is_empty())
    }

    /// The cell of the column named `name` (for a quarantine row's request id).
    pub fn named(&self, name: &str) -> Option<&'a str> {
        self.get(&self.layout.column(name))
    }

    /// The row as one JSON object of its non-empty cells, written into `out` (emptied first):
    /// strings, except a cell of a JSON column that holds a JSON object or array, carried as
    /// that JSON on one line.
    pub fn json<'b>(&self, out: &'b mut Vec<u8>) -> Result<&'b [u8]> {
        out.clear();
        out.push(b'{');
        for i in 0..self.ends.len() {
            let cell = self.cell(i);
            if cell.is_empty() || self.layout.later[i].iter().any(|j| !self.cell(*j).is_empty()) {
                continue;
            }
            if out.len() > 1 {
                out.push(b',');
            }
            out.extend_from_slice(&self.layout.keys[i]);
            if self.layout.json[i] && is_json_document(cell) {
                // blanks between its tokens may be newlines (a JSON string holds none)
                let at = out.len();
                out.extend_from_slice(cell.as_bytes());
                blank_newlines(&mut out[at..]);
            } else {
                serde_json::to_writer(&mut *out, cell)?;
            }
        }
        out.push(b'}');
        Ok(out)
    }
}

/// A JSON object or array, whole.
fn is_json_document(text: &str) -> bool {
    matches!(text.trim_start().as_bytes().first(), Some(b'{' | b'['))
        && serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok()
}

/// The first chunk of the CSV `text` as `source` wrote it.
#[cfg(test)]
pub(crate) fn csv_chunk(text: &[u8], source: crate::ingest::sources::Source) -> Chunk {
    let opts = ChunkOptions {
        chunk_bytes: 1 << 20,
        max_line_bytes: 1 << 20,
        required: source.required(),
        json_columns: source.json_columns(),
        what: source.what(),
    };
    all_chunks(text, opts).expect("a CSV with the source's columns").remove(0)
}

/// Every chunk of the CSV `input`, cut with `opts`.
#[cfg(test)]
fn all_chunks(input: &[u8], opts: ChunkOptions) -> Result<Vec<Chunk>> {
    let mut chunks = Vec::new();
    let mut emit = |c| {
        chunks.push(c);
        true
    };
    csv_chunks(&mut &input[..], Path::new("t.csv"), opts, &mut emit, &mut Vec::new)?;
    Ok(chunks)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A row refused: its line, why, and its text.
    type Refused = (u64, ReasonCode, String);

    /// The chunks of `input` (chunks of about `chunk_bytes`) and each row as its line
    /// number and JSON rendering, or its reject's line number and reason.
    fn rows(input: &[u8], chunk_bytes: usize) -> (Vec<Chunk>, Vec<(u64, serde_json::Value)>, Vec<Refused>) {
        let opts = ChunkOptions {
            chunk_bytes,
            max_line_bytes: 1 << 20,
            required: &["a"],
            json_columns: &["j"],
            what: "records",
        };
        let chunks = all_chunks(input, opts).unwrap();
        let (mut good, mut bad) = (Vec::new(), Vec::new());
        for c in &chunks {
            let crate::ingest::sources::LineNumbers::From { first, .. } = c.lines else {
                panic!("CSV chunks count lines")
            };
            c.csv.as_ref().expect("a CSV chunk has its layout").rows(&c.data, first, |line, start, raw, row| {
                assert_eq!(&c.data[start..start + raw.len()], raw);
                match row {
                    Ok(row) => {
                        let mut json = Vec::new();
                        let json = row.json(&mut json).unwrap();
                        good.push((line, serde_json::from_slice(json).expect("each row is one JSON object")));
                    }
                    Err(r) => bad.push((line, r.code, String::from_utf8_lossy(raw).into_owned())),
                }
            });
        }
        (chunks, good, bad)
    }

    #[test]
    fn a_row_is_one_json_object_of_its_non_empty_cells() {
        let input = "\u{feff}a,b,c\n1,\"x, \"\"quoted\"\" \\ é\n\t\",\n,,\n\r\n\"{\"\"k\"\": [1]}\",2,3".as_bytes();
        let (_, lines, rejects) = rows(input, 1 << 20);
        assert!(rejects.is_empty());
        assert_eq!(
            lines,
            vec![
                (2, serde_json::json!({"a": "1", "b": "x, \"quoted\" \\ é\n\t"})),
                (4, serde_json::json!({})),
                (6, serde_json::json!({"a": "{\"k\": [1]}", "b": "2", "c": "3"})),
            ]
        );
    }

    #[test]
    fn rows_ending_in_crlf_are_numbered_by_their_own_line() {
        // the csv crate's positions numbered such rows one line early (the header's line for
        // the first row): a row's line is where its first byte is
        let (_, lines, rejects) = rows(b"a,b\r\n1,2\r\n\r\n3,\"x\r\ny\"\r\n4,5\r\n", 1 << 20);
        assert!(rejects.is_empty());
        let numbers: Vec<u64> = lines.iter().map(|(line, _)| *line).collect();
        assert_eq!(numbers, vec![2, 4, 6]);
        assert_eq!(lines[1].1, serde_json::json!({"a": "3", "b": "x\r\ny"}));
    }

    #[test]
    fn chunks_end_between_rows_even_where_a_quoted_cell_holds_newlines() {
        let mut input = b"a,b\n".to_vec();
        // reads are 64 KiB: they end inside rows
        for i in 0..5000 {
            input.extend(format!("{i},\"line one\n\"\"two\"\"\nthree\"\n").as_bytes());
        }
        let (chunks, lines, rejects) = rows(&input, 30);
        assert!(chunks.len() > 1, "{} chunks", chunks.len());
        assert!(chunks.iter().all(|c| c.data.ends_with(b"three\"\n")), "chunks end with a row");
        assert!(rejects.is_empty(), "{rejects:?}");
        assert_eq!(lines.len(), 5000);
        for (i, (line, row)) in lines.iter().enumerate() {
            assert_eq!(*line, 2 + 3 * i as u64);
            assert_eq!(row, &serde_json::json!({"a": i.to_string(), "b": "line one\n\"two\"\nthree"}));
        }
    }

    #[test]
    fn a_repeated_column_keeps_its_last_non_empty_cell_and_a_bad_row_is_refused_with_its_text() {
        let (_, lines, _) = rows(b"a,b,a\n1,2,3\n4,5,\n", 1 << 20);
        let rows_only: Vec<_> = lines.into_iter().map(|(_, r)| r).collect();
        assert_eq!(rows_only, vec![serde_json::json!({"a": "3", "b": "2"}), serde_json::json!({"a": "4", "b": "5"})]);
        let (_, lines, rejects) = rows(b"a,b\n1,\xff\n2,3\n4\n5,\xc3,\xa9\n", 1 << 20);
        assert_eq!(lines, vec![(3, serde_json::json!({"a": "2", "b": "3"}))]);
        let reasons: Vec<_> = rejects.iter().map(|r| (r.0, r.1)).collect();
        assert_eq!(
            reasons,
            vec![(2, ReasonCode::InvalidUtf8), (4, ReasonCode::MalformedRecord), (5, ReasonCode::MalformedRecord)]
        );
        assert_eq!(rejects[1].2, "4", "the row as the file has it");
        let (_, lines, rejects) = rows(b"a,b\n\"open,1\n2,3\n4,5\n", 1 << 20);
        assert!(lines.is_empty());
        assert_eq!(rejects.len(), 1);
        let opts =
            ChunkOptions { chunk_bytes: 64, max_line_bytes: 100, required: &["a"], json_columns: &[], what: "records" };
        let mut message = String::new();
        csv_chunks(
            &mut &b"a,b\n\"open,1\n2,3\n4,5\n"[..],
            Path::new("t.csv"),
            opts,
            &mut |c| {
                c.for_each_record(|_, _, _, record| message = record.err().map(|r| r.message).unwrap_or_default());
                true
            },
            &mut Vec::new,
        )
        .unwrap();
        assert_eq!(message, "the row has 1 fields, the header 2; the row runs from line 2 to 4: is a quote left open?");
        let (_, _, rejects) = rows(b"a,b\n\xc3,\xa9\n", 1 << 20);
        assert_eq!(
            rejects.iter().map(|r| r.1).collect::<Vec<_>>(),
            vec![ReasonCode::InvalidUtf8],
            "a cell ends inside a character"
        );
    }

    #[test]
    fn a_json_column_holding_json_is_carried_as_json_and_anything_else_as_text() {
        let input =
            "a,j\n1,\"{\"\"k\"\": [1,\n 2]}\"\n2,\"{not json\"\n3,[]\n4,\"\"\"s\"\"\"\n5,\"[1] x\"\n".as_bytes();
        let (_, lines, rejects) = rows(input, 1 << 20);
        assert!(rejects.is_empty());
        let rows_only: Vec<_> = lines.into_iter().map(|(_, r)| r).collect();
        assert_eq!(
            rows_only,
            vec![
                serde_json::json!({"a": "1", "j": {"k": [1, 2]}}),
                serde_json::json!({"a": "2", "j": "{not json"}),
                serde_json::json!({"a": "3", "j": []}),
                serde_json::json!({"a": "4", "j": "\"s\""}),
                serde_json::json!({"a": "5", "j": "[1] x"}),
            ]
        );
    }

    #[test]
    fn an_unclosed_quote_is_one_over_long_row_and_the_rows_after_it_are_read() {
        let mut input = b"a,b\n1,\"open\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', 300));
        input.extend(b"\n2,ok\n3,ok\n");
        let opts =
            ChunkOptions { chunk_bytes: 64, max_line_bytes: 100, required: &["a"], json_columns: &[], what: "records" };
        let chunks = all_chunks(&input, opts).unwrap();
        let too_long: Vec<_> = chunks.iter().flat_map(|c| &c.rejects).map(|r| (r.line, r.code)).collect();
        assert_eq!(too_long, vec![(2, ReasonCode::LineTooLong)]);
        let mut read = Vec::new();
        for c in &chunks {
            let crate::ingest::sources::LineNumbers::From { first, .. } = c.lines else { continue };
            c.csv.as_ref().unwrap().rows(&c.data, first, |line, _, _, row| {
                read.push((line, row.unwrap().named("a").unwrap().to_string()))
            });
        }
        assert_eq!(read, vec![(4, "2".to_string()), (5, "3".to_string())]);
    }

    #[test]
    fn a_header_without_the_required_columns_is_refused() {
        let opts =
            ChunkOptions { chunk_bytes: 64, max_line_bytes: 100, required: &["a"], json_columns: &[], what: "records" };
        for input in [&b"x,y\n1,2\n"[..], b""] {
            let err = csv_chunks(&mut &input[..], Path::new("t.csv"), opts, &mut |_| true, &mut Vec::new).unwrap_err();
            assert!(err.to_string().contains("the header lacks a"), "{err}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(16))]
        /// Whatever the cells hold (commas, quotes, newlines, CR) and wherever a read of the
        /// file ends, every row comes out with the cells the csv crate reads, numbered by the
        /// line it starts on.
        #[test]
        fn rows_equal_the_csv_crates_whatever_the_cuts(
            cells in proptest::collection::vec("[a-z,\"\n\r \u{e9}]{0,10}", 3..30),
            crlf in proptest::bool::ANY,
            repeat in 8000usize..12000,
        ) {
            let terminator = if crlf { csv::Terminator::CRLF } else { csv::Terminator::Any(b'\n') };
            let mut written = Vec::new();
            // each row's first line
            let mut starts = Vec::new();
            {
                let mut w = csv::WriterBuilder::new().terminator(terminator).from_writer(&mut written);
                w.write_record(["a", "b", "c"]).unwrap();
                w.flush().unwrap();
            }
            let mut expected = Vec::new();
            let mut newlines = written.iter().filter(|b| **b == b'\n').count() as u64;
            for i in 0..repeat {
                // a row of three cells taken from the generated ones, the first numbered
                let first = format!("{i}-{}", cells[(i * 3) % cells.len()]);
                let row: Vec<&str> =
                    std::iter::once(first.as_str()).chain((1..3).map(|j| cells[(i * 3 + j) % cells.len()].as_str())).collect();
                starts.push(1 + newlines);
                let before = written.len();
                let mut w = csv::WriterBuilder::new().terminator(terminator).from_writer(&mut written);
                w.write_record(&row).unwrap();
                w.flush().unwrap();
                drop(w);
                newlines += written[before..].iter().filter(|b| **b == b'\n').count() as u64;
                expected.push(row.iter().map(|c| c.to_string()).collect::<Vec<_>>());
            }
            let reference: Vec<Vec<String>> = csv::Reader::from_reader(&written[..])
                .records()
                .map(|r| r.unwrap().iter().map(str::to_string).collect())
                .collect();
            proptest::prop_assert_eq!(&reference, &expected);

            let opts = ChunkOptions { chunk_bytes: 1, max_line_bytes: 1 << 20, required: &["a"], json_columns: &[], what: "records" };
            let chunks = all_chunks(&written, opts).unwrap();
            proptest::prop_assert!(chunks.len() > 1, "reads of 64 KiB cut the file");
            let (mut read, mut lines) = (Vec::new(), Vec::new());
            for c in &chunks {
                c.for_each_record(|line, _, _, record| {
                    let Ok(crate::ingest::sources::RecordText::Row(row)) = record else { panic!("{record:?}") };
                    read.push((0..3).map(|i| row.cell(i).to_string()).collect::<Vec<_>>());
                    lines.push(line);
                });
            }
            proptest::prop_assert_eq!(read, expected);
            proptest::prop_assert_eq!(lines, starts);
        }
    }
}
