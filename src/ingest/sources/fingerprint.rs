//! Content fingerprints of input files: a file ingested once is recognised again under any name.

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use twox_hash::XxHash3_128;

use crate::error::{Error, Result};

/// A content hash of the file's bytes (xxh3-128, hex): a file ingested once is recognised
/// again under any name.
pub fn file_fingerprint(path: &Path, progress: &AtomicU64) -> Result<String> {
    let mut file = File::open(path).map_err(|source| Error::Input { path: path.to_path_buf(), source })?;
    let mut hasher = XxHash3_128::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(|source| Error::Input { path: path.to_path_buf(), source })?;
        if n == 0 {
            break;
        }
        hasher.write(&buf[..n]);
        progress.fetch_add(n as u64, Ordering::Relaxed);
    }
    Ok(format!("{:032x}", hasher.finish_128()))
}

/// A cheap identity check: xxh3-128 of the size, the first and the last MiB. Files with
/// different quick fingerprints certainly differ; equal ones may still differ, and are then
/// told apart by [`file_fingerprint`]. It lets a new file be ingested with one read instead
/// of a hashing pass before the real one.
pub fn quick_fingerprint(path: &Path, size: u64) -> Result<String> {
    use std::io::{Seek, SeekFrom};
    const EDGE: u64 = 1 << 20;
    let err = |source| Error::Input { path: path.to_path_buf(), source };
    let mut file = File::open(path).map_err(err)?;
    let mut hasher = XxHash3_128::new();
    hasher.write(&size.to_le_bytes());
    let mut buf = Vec::with_capacity(EDGE as usize);
    (&mut file).take(EDGE).read_to_end(&mut buf).map_err(err)?;
    hasher.write(&buf);
    if size > 2 * EDGE {
        file.seek(SeekFrom::Start(size - EDGE)).map_err(err)?;
        buf.clear();
        (&mut file).take(EDGE).read_to_end(&mut buf).map_err(err)?;
        hasher.write(&buf);
    } else if size > EDGE {
        buf.clear();
        file.read_to_end(&mut buf).map_err(err)?;
        hasher.write(&buf);
    }
    Ok(format!("{:032x}", hasher.finish_128()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_files_fingerprint_is_the_one_stored_by_earlier_versions() {
        // the ingest ledger recognises a re-delivered file by these: the values were computed
        // by the version before XXH3's kernel was chosen at run time (a file of 1 MiB and 7
        // bytes is read in two pieces, the second in the hash's buffer)
        let dir = tempfile::tempdir().unwrap();
        let fingerprints: Vec<(String, String)> = [0usize, 241, 5_000, (1 << 20) + 7, (3 << 20) + 5]
            .into_iter()
            .map(|len| {
                let path = dir.path().join(format!("{len}.jsonl"));
                let bytes: Vec<u8> = (0..len).map(|i| (i.wrapping_mul(2_654_435_761) >> 7) as u8).collect();
                std::fs::write(&path, &bytes).unwrap();
                let whole = file_fingerprint(&path, &AtomicU64::new(0)).unwrap();
                // `bill import` hashes a bill's bytes in one call
                assert_eq!(format!("{:032x}", XxHash3_128::oneshot(&bytes)), whole);
                (whole, quick_fingerprint(&path, len as u64).unwrap())
            })
            .collect();
        let expected: Vec<(String, String)> = [
            ("99aa06d3014798d86001c324468d497f", "2c0a8a99dc147d5445c3b49d035665b2"),
            ("3aa2ee77177a50fcddb128241a3b606b", "00dce79c60bb8bfe1c8a7350a3dfee86"),
            ("1a7137efe93b8211263abca14ca3a5a1", "f3fa2db88cc0225f222b28dbe48fb370"),
            ("bc6fc80c37c61b0d7f8ef8764121dcc6", "61f79133a07c325a2668222f070d2f21"),
            ("6f2d5bb5ccc150a754685d6045738fd2", "babd6344ff275632ba820d991f12a4e5"),
        ]
        .iter()
        .map(|(f, q)| (f.to_string(), q.to_string()))
        .collect();
        assert_eq!(fingerprints, expected);
    }
}
