//! What commands write, for people and programs, in one place: aligned tables on the
//! terminal ([`table`]), query results as a table, CSV, JSON lines or Parquet ([`results`]),
//! charts as SVG or PNG ([`chart`]), and files replaced whole ([`write_atomic`]). CSV for finance
//! is safe to open in a spreadsheet ([`neutralise`]). The chargeback, FOCUS, reports, `sql` and
//! the shell all write through here, so a number looks the same wherever it goes.

pub mod chart;
pub mod results;
pub mod table;

use std::path::Path;

pub use table::{Table, thousands};

use crate::error::{Error, Result};

/// A cell as a spreadsheet will not run it: text that starts with `=`, `+`, `-`, `@`, a tab or
/// a carriage return gets a leading `'` (OWASP's advice for CSV injection). Numbers written as
/// numbers are never passed through here: a negative number is data, not a formula.
pub fn neutralise(cell: &str) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{cell}") } else { cell.to_string() }
}

/// A cell of a column that holds numbers and text alike (FOCUS rows): a plain decimal number
/// (`-0.05`, a true-up) is data and stays as it is; anything else is [`neutralise`]d.
pub fn neutralise_unless_number(cell: &str) -> String {
    if cell.parse::<rust_decimal::Decimal>().is_ok() { cell.to_string() } else { neutralise(cell) }
}

/// A CSV file for finance: a header and rows of cells (each cell as given: neutralise text
/// before), CRLF line ends as spreadsheets expect, as bytes.
pub fn csv_bytes<R: IntoIterator<Item = impl AsRef<[u8]>>>(
    header: R,
    rows: impl IntoIterator<Item = R>,
) -> Result<Vec<u8>> {
    let mut out = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(Vec::new());
    out.write_record(header).map_err(csv_error)?;
    for row in rows {
        out.write_record(row).map_err(csv_error)?;
    }
    out.into_inner().map_err(|e| Error::Internal(format!("CSV buffer: {e}")))
}

/// A failure of the csv writer.
pub fn csv_error(e: csv::Error) -> Error {
    Error::Internal(format!("writing CSV: {e}"))
}

/// Replaces the file at `path` whole with `bytes`: written beside it, then renamed, so a reader
/// (or a crash) sees the old file or the new one, never half of one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = temp_beside(path);
    std::fs::write(&tmp, bytes).map_err(|source| Error::Output { path: path.to_path_buf(), source })?;
    std::fs::rename(&tmp, path).map_err(|source| Error::Output { path: path.to_path_buf(), source })
}

/// Where a file is written before it is renamed to `path`: beside it (the same file system),
/// hidden.
fn temp_beside(path: &Path) -> std::path::PathBuf {
    path.with_file_name(format!(".{}.tmp", path.file_name().map(|f| f.to_string_lossy()).unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_stay_numbers_and_formulas_do_not() {
        assert_eq!(neutralise_unless_number("-0.05"), "-0.05");
        assert_eq!(neutralise_unless_number("12.5"), "12.5");
        for bad in ["-1+1", "=SUM(A1)", "+cmd", "-", "@x"] {
            assert!(neutralise_unless_number(bad).starts_with('\''), "{bad:?}");
        }
    }

    #[test]
    fn formula_like_cells_are_neutralised() {
        for bad in ["=1+1", "+cmd", "-2", "@SUM(A1)", "\tx", "\rx", "=HYPERLINK(\"http://x\")"] {
            assert!(neutralise(bad).starts_with('\''), "{bad:?}");
        }
        for fine in ["CC-1000", "data-science", "alice@example.com", "東京", ""] {
            assert_eq!(neutralise(fine), fine);
        }
    }

    #[test]
    fn csv_for_finance_has_crlf_lines_and_files_are_replaced_whole() {
        let bytes = csv_bytes(vec!["a", "b"], vec![vec!["1", "x,y"]]).unwrap();
        assert_eq!(bytes, b"a,b\r\n1,\"x,y\"\r\n");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        write_atomic(&path, b"old").unwrap();
        write_atomic(&path, &bytes).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file left behind");
    }
}
