//! Query results for people and programs: an aligned table, CSV, JSON lines or Parquet, to a
//! terminal, a stream or a file. `sql`, `report` and the interactive shell all write through
//! here, so a result looks the same wherever it goes.

use std::io::Write;
use std::path::Path;

use arrow::datatypes::DataType;
use arrow::record_batch::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};

use super::{csv_error, neutralise};
use crate::error::{Error, Result};

/// How rows are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Aligned columns with borders, for a terminal.
    Table,
    /// CSV with a header line; text cells that a spreadsheet would run as a formula are
    /// neutralised (see [`neutralise`]).
    Csv,
    /// One JSON object per row.
    Json,
    /// An Apache Parquet file (only to a file).
    Parquet,
}

impl Format {
    /// The format a file's extension asks for: `.parquet`, `.json` / `.jsonl` / `.ndjson`, or
    /// CSV for anything else.
    pub fn for_path(path: &Path) -> Self {
        match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
            Some("parquet") => Format::Parquet,
            Some("json" | "jsonl" | "ndjson") => Format::Json,
            _ => Format::Csv,
        }
    }

    /// Parses a shell's `\format NAME`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "table" | "text" => Some(Format::Table),
            "csv" => Some(Format::Csv),
            "json" => Some(Format::Json),
            "parquet" => Some(Format::Parquet),
            _ => None,
        }
    }
}

/// The number of rows of `batches`.
pub fn row_count(batches: &[RecordBatch]) -> usize {
    batches.iter().map(RecordBatch::num_rows).sum()
}

/// Writes `batches` to a stream (a terminal, a pipe) in `format`.
pub fn write(batches: &[RecordBatch], format: Format, out: &mut dyn Write) -> Result<()> {
    match format {
        Format::Table => writeln!(out, "{}", arrow::util::pretty::pretty_format_batches(batches)?)?,
        Format::Csv => write_csv(batches, out)?,
        Format::Json => {
            let mut writer = arrow::json::LineDelimitedWriter::new(out);
            for b in batches {
                writer.write(b)?;
            }
            writer.finish()?;
        }
        Format::Parquet => {
            return Err(Error::Usage(
                "Parquet is a binary file format: give --output FILE.parquet (or choose --format csv or json)".into(),
            ));
        }
    }
    Ok(())
}

/// Writes `batches` to the file at `path` (replaced whole: written aside, then renamed).
pub fn write_file(batches: &[RecordBatch], format: Format, path: &Path) -> Result<()> {
    let tmp = super::temp_beside(path);
    {
        let file = std::fs::File::create(&tmp).map_err(|source| Error::Output { path: path.to_path_buf(), source })?;
        let mut file = std::io::BufWriter::new(file);
        if format == Format::Parquet {
            let schema = batches
                .first()
                .map(RecordBatch::schema)
                .unwrap_or_else(|| std::sync::Arc::new(arrow::datatypes::Schema::empty()));
            let mut writer = parquet::arrow::ArrowWriter::try_new(&mut file, schema, None)?;
            for b in batches {
                writer.write(b)?;
            }
            writer.close()?;
        } else {
            write(batches, format, &mut file)?;
        }
        file.flush()?;
    }
    std::fs::rename(&tmp, path).map_err(|source| Error::Output { path: path.to_path_buf(), source })?;
    Ok(())
}

/// CSV through the csv crate: one formatter per column, and text neutralised for spreadsheets
/// (numbers are written as they are: a negative number is data, not a formula).
fn write_csv(batches: &[RecordBatch], out: &mut dyn Write) -> Result<()> {
    let mut writer = csv::Writer::from_writer(out);
    let Some(first) = batches.first() else { return Ok(()) };
    writer.write_record(first.schema().fields().iter().map(|f| f.name().as_str())).map_err(csv_error)?;
    let options = FormatOptions::default().with_null("");
    for batch in batches {
        let columns = batch
            .columns()
            .iter()
            .map(|c| Ok((ArrayFormatter::try_new(c.as_ref(), &options)?, is_text(c.data_type()))))
            .collect::<Result<Vec<_>>>()?;
        let mut record = Vec::with_capacity(columns.len());
        for row in 0..batch.num_rows() {
            record.clear();
            for (formatter, text) in &columns {
                let cell = formatter.value(row).to_string();
                record.push(if *text { neutralise(&cell) } else { cell });
            }
            writer.write_record(&record).map_err(csv_error)?;
        }
    }
    writer.flush()?;
    Ok(())
}

fn is_text(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Dictionary(..))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{Field, Schema};

    use super::*;

    fn batch() -> RecordBatch {
        let schema = Schema::new(vec![Field::new("who", DataType::Utf8, true), Field::new("n", DataType::Int64, true)]);
        RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(StringArray::from(vec![Some("=HYPERLINK(\"x\")"), Some("bob"), None])),
                Arc::new(Int64Array::from(vec![Some(-5), Some(7), None])),
            ],
        )
        .unwrap()
    }

    #[test]
    fn csv_neutralises_formulas_in_text_but_not_numbers() {
        let mut out = Vec::new();
        write(&[batch()], Format::Csv, &mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "who,n\n\"'=HYPERLINK(\"\"x\"\")\",-5\nbob,7\n,\n");
    }

    #[test]
    fn formats_follow_the_file_extension() {
        assert_eq!(Format::for_path(Path::new("a.PARQUET")), Format::Parquet);
        assert_eq!(Format::for_path(Path::new("a.jsonl")), Format::Json);
        assert_eq!(Format::for_path(Path::new("a.csv")), Format::Csv);
        assert_eq!(Format::for_path(Path::new("a")), Format::Csv);
        assert!(write(&[batch()], Format::Parquet, &mut Vec::new()).unwrap_err().to_string().contains("--output"));
    }
}
