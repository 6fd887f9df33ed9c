//! Finding the input files and recognising their format by name.

use std::path::{Path, PathBuf};

use super::{Format, InputFile, Source};
use crate::error::{Error, Result};

/// Recognises a file by its name: `.jsonl`, `.ndjson`, `.json`, `.csv` (each optionally `.gz`)
/// and `.parquet`.
pub fn format_of(path: &Path) -> Option<(Format, bool)> {
    let name = path.file_name()?.to_str()?.to_ascii_lowercase();
    let (stem, gzip) = match name.strip_suffix(".gz") {
        Some(stem) => (stem.to_string(), true),
        None => (name, false),
    };
    let format = if stem.ends_with(".jsonl") || stem.ends_with(".ndjson") || stem.ends_with(".json") {
        Format::JsonLines
    } else if stem.ends_with(".csv") {
        Format::Csv
    } else if stem.ends_with(".parquet") && !gzip {
        Format::Parquet
    } else {
        return None;
    };
    Some((format, gzip))
}

/// The files named by `paths`: files as given, directories searched recursively for
/// supported names (hidden files and other names are skipped). Sorted and deduplicated, so
/// the order of ingest, and therefore which of two conflicting records wins, is stable.
pub fn discover(paths: &[PathBuf]) -> Result<Vec<InputFile>> {
    let mut found = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|source| Error::Input { path: path.clone(), source })?;
        if meta.is_dir() {
            walk(path, &mut found)?;
        } else {
            let Some((format, gzip)) = format_of(path) else {
                return Err(Error::Usage(format!(
                    "{}: unsupported file type; tokenledger reads .jsonl/.ndjson/.json, .csv \
                     (optionally .gz) and .parquet files",
                    path.display()
                )));
            };
            found.push(InputFile { path: path.clone(), format, gzip, size: meta.len(), source: Source::Native });
        }
    }
    found.sort_by(|a, b| a.path.cmp(&b.path));
    found.dedup_by(|a, b| a.path == b.path);
    Ok(found)
}

fn walk(dir: &Path, found: &mut Vec<InputFile>) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|source| Error::Input { path: dir.to_path_buf(), source })?;
    for entry in entries {
        let entry = entry.map_err(|source| Error::Input { path: dir.to_path_buf(), source })?;
        let path = entry.path();
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let meta = std::fs::metadata(&path).map_err(|source| Error::Input { path: path.clone(), source })?;
        if meta.is_dir() {
            walk(&path, found)?;
        } else if let Some((format, gzip)) = format_of(&path) {
            found.push(InputFile { path, format, gzip, size: meta.len(), source: Source::Native });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_recognised_by_name() {
        assert_eq!(format_of(Path::new("a/x.jsonl.gz")), Some((Format::JsonLines, true)));
        assert_eq!(format_of(Path::new("x.NDJSON")), Some((Format::JsonLines, false)));
        assert_eq!(format_of(Path::new("x.csv")), Some((Format::Csv, false)));
        assert_eq!(format_of(Path::new("x.parquet")), Some((Format::Parquet, false)));
        assert_eq!(format_of(Path::new("x.txt")), None);
    }
}
