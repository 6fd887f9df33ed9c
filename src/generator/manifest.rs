//! manifest.json: the options, the line counts and the size of every file written.

use std::fs;
use std::io;

use serde::Serialize;

use super::bad_lines::BAD_KINDS;
use super::inference::InferenceStats;
use super::limits::GENERATOR_VERSION;
use super::{GenOptions, GenSummary};
#[derive(Serialize)]
struct ManifestOptions {
    rows: u64,
    days: u32,
    start: String,
    seed: u64,
    users: u32,
    payload_bytes: usize,
    dup_rate: f64,
    bad_rate: f64,
    gzip: bool,
}

#[derive(Serialize)]
struct ManifestFile {
    name: String,
    bytes: u64,
}

#[derive(Serialize)]
struct ManifestBadKind {
    kind: &'static str,
    lines: u64,
}

#[derive(Serialize)]
struct Manifest {
    generator: &'static str,
    generator_version: u32,
    options: ManifestOptions,
    unique_rows: u64,
    duplicate_lines: u64,
    bad_lines: u64,
    conflict_lines: u64,
    lines: u64,
    uncompressed_bytes: u64,
    /// CRC-32 of the uncompressed inference bytes (same as the gzip trailer's).
    inference_crc32: String,
    bad_kinds: Vec<ManifestBadKind>,
    files: Vec<ManifestFile>,
}

pub(super) fn manifest_json(opts: &GenOptions, s: &GenSummary, stats: &InferenceStats) -> io::Result<String> {
    let files = s
        .files
        .iter()
        .map(|p| {
            Ok(ManifestFile {
                // relative to `out`, e.g. "config/prices.csv"
                name: p.strip_prefix(&opts.out).unwrap_or(p).to_string_lossy().into_owned(),
                bytes: fs::metadata(p)?.len(),
            })
        })
        .collect::<io::Result<Vec<_>>>()?;
    let m = Manifest {
        generator: "tokenledger-gen",
        generator_version: GENERATOR_VERSION,
        options: ManifestOptions {
            rows: opts.rows,
            days: opts.days,
            start: opts.start.to_string(),
            seed: opts.seed,
            users: opts.users,
            payload_bytes: opts.payload_bytes,
            dup_rate: opts.dup_rate,
            bad_rate: opts.bad_rate,
            gzip: opts.gzip,
        },
        unique_rows: s.unique_rows,
        duplicate_lines: s.duplicate_lines,
        bad_lines: s.bad_lines,
        conflict_lines: s.conflict_lines,
        lines: s.lines,
        uncompressed_bytes: s.uncompressed_bytes,
        inference_crc32: format!("{:08x}", stats.crc32),
        bad_kinds: BAD_KINDS
            .iter()
            .map(|&k| ManifestBadKind { kind: k.name(), lines: stats.bad_by_kind[k as usize] })
            .collect(),
        files,
    };
    let mut json = serde_json::to_string_pretty(&m).map_err(io::Error::other)?;
    json.push('\n');
    Ok(json)
}
