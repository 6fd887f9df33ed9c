//! `tokenledger ingest`

use std::path::PathBuf;

use clap::Args;

use super::{Cli, OutputFormat, print_json, show_progress};
use crate::error::Result;
use crate::ingest::{DEFAULT_MAX_LINE_BYTES, IngestOptions, PayloadMode, ingest};
use crate::warehouse::Warehouse;

#[derive(Debug, Args)]
#[command(after_help = "\
Files are recognised by name: .jsonl, .ndjson, .json (JSON lines), .csv, each optionally .gz,
and .parquet. Directories are searched recursively. A file whose bytes were ingested before
is skipped, under any name; a request id seen before is skipped (same content) or
quarantined (different content). Bad records go to the quarantine table with a reason.

Exit codes: 0 ok; 1 unreadable file or failed write (nothing is committed);
2 usage error; 4 quarantine ratio over --max-quarantine-ratio (nothing is committed).")]
pub struct IngestArgs {
    /// Files or directories to ingest.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,

    /// What to store of request/response payloads, which may hold personal data.
    #[arg(long, value_enum, default_value_t = PayloadMode::Keep)]
    pub payloads: PayloadMode,

    /// Fail (exit 4, write nothing) when more than this fraction of records is quarantined,
    /// e.g. 0.01 for 1%.
    #[arg(long, value_name = "R")]
    pub max_quarantine_ratio: Option<f64>,

    /// Longest accepted input line; longer lines are quarantined without being buffered.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_LINE_BYTES)]
    pub max_line_bytes: usize,

    /// Parse threads (default: one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
}

pub async fn run(warehouse: &Warehouse, args: &IngestArgs, cli: &Cli) -> Result<i32> {
    let opts = IngestOptions {
        paths: args.paths.clone(),
        payloads: args.payloads,
        max_quarantine_ratio: args.max_quarantine_ratio,
        max_line_bytes: args.max_line_bytes,
        threads: args.threads,
        progress: show_progress(cli),
    };
    let summary = ingest(warehouse, &opts).await?;
    match cli.format {
        OutputFormat::Json => print_json(&summary)?,
        _ => print!("{}", summary.render()),
    }
    Ok(0)
}
