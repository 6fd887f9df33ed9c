//! Content fingerprints of input files: a file ingested once is recognised again under any name.

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use xxhash_rust::xxh3::Xxh3;

use crate::error::{Error, Result};

/// A content hash of the file's bytes (xxh3-128, hex): a file ingested once is recognised
/// again under any name.
pub fn file_fingerprint(path: &Path, progress: &AtomicU64) -> Result<String> {
    let mut file = File::open(path).map_err(|source| Error::Input { path: path.to_path_buf(), source })?;
    let mut hasher = Xxh3::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(|source| Error::Input { path: path.to_path_buf(), source })?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        progress.fetch_add(n as u64, Ordering::Relaxed);
    }
    Ok(format!("{:032x}", hasher.digest128()))
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
    let mut hasher = Xxh3::new();
    hasher.update(&size.to_le_bytes());
    let mut buf = Vec::with_capacity(EDGE as usize);
    (&mut file).take(EDGE).read_to_end(&mut buf).map_err(err)?;
    hasher.update(&buf);
    if size > 2 * EDGE {
        file.seek(SeekFrom::Start(size - EDGE)).map_err(err)?;
        buf.clear();
        (&mut file).take(EDGE).read_to_end(&mut buf).map_err(err)?;
        hasher.update(&buf);
    } else if size > EDGE {
        buf.clear();
        file.read_to_end(&mut buf).map_err(err)?;
        hasher.update(&buf);
    }
    Ok(format!("{:032x}", hasher.digest128()))
}
