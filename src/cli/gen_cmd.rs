//! `tokenledger gen`

use std::path::PathBuf;

use clap::Args;

use super::{Cli, OutputFormat, print_json};
use crate::error::{Error, Result};
use crate::generator::{GenOptions, generate};
use crate::output::thousands;

#[derive(Debug, Args)]
#[command(after_help = "\
Writes OUT/logs/inference.jsonl (or .jsonl.gz) plus matching OUT/config/prices.csv,
principals.csv, capacity.csv and budgets.csv, and OUT/manifest.json. Two provisioned pools at
list rates (dollars an hour): a RAG assistant's, busy in working hours, and a nightly batch
job's (36% of the rows: long documents to a 405B model between 01:00 and 05:00 UTC), which at
the sample's size (15,000 rows a month) pays off against pay-per-token; the RAG pool does not. The budgets follow
from what the chargeback will charge each group and cost center (one group over budget, one
past its 80% warning, the rest under 50%). The same options give the same bytes.")]
pub struct GenArgs {
    /// Unique requests to generate.
    #[arg(long, default_value_t = 10_000)]
    pub rows: u64,
    /// Days of traffic, starting at --start.
    #[arg(long, default_value_t = 30)]
    pub days: u32,
    /// First day (UTC), YYYY-MM-DD.
    #[arg(long, default_value = "2025-01-01")]
    pub start: String,
    /// Random seed: the same seed gives the same bytes.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Distinct human requesters (plus 12 service principals).
    #[arg(long, default_value_t = 5000)]
    pub users: u32,
    /// Approximate bytes of request + response text per line; 0 = no payloads.
    #[arg(long, default_value_t = 200)]
    pub payload_bytes: usize,
    /// Fraction of extra exact duplicate lines (a gateway's logging retries).
    #[arg(long, default_value_t = 0.005)]
    pub dup_rate: f64,
    /// Fraction of extra deliberately bad lines (malformed, negative tokens, conflicts...).
    #[arg(long, default_value_t = 0.0)]
    pub bad_rate: f64,
    /// Write inference.jsonl.gz instead of inference.jsonl.
    #[arg(long)]
    pub gzip: bool,
    /// Output directory.
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(args: &GenArgs, cli: &Cli) -> Result<i32> {
    let start = chrono::NaiveDate::parse_from_str(&args.start, "%Y-%m-%d")
        .map_err(|e| Error::Usage(format!("--start {:?} is not a YYYY-MM-DD date: {e}", args.start)))?;
    let opts = GenOptions {
        rows: args.rows,
        days: args.days,
        start,
        seed: args.seed,
        users: args.users,
        payload_bytes: args.payload_bytes,
        dup_rate: args.dup_rate,
        bad_rate: args.bad_rate,
        gzip: args.gzip,
        out: args.out.clone(),
    };
    let started = std::time::Instant::now();
    let summary = generate(&opts).map_err(|e| match e.kind() {
        std::io::ErrorKind::InvalidInput => Error::Usage(e.to_string()),
        _ => Error::Io(e),
    })?;
    match cli.format {
        OutputFormat::Json => print_json(&serde_json::json!({
            "unique_rows": summary.unique_rows,
            "duplicate_lines": summary.duplicate_lines,
            "bad_lines": summary.bad_lines,
            "conflict_lines": summary.conflict_lines,
            "lines": summary.lines,
            "uncompressed_bytes": summary.uncompressed_bytes,
            "files": summary.files,
        }))?,
        _ => {
            println!(
                "Wrote {} lines ({} requests, {} duplicates, {} bad) — {:.1} MB in {:.1} s to {}",
                thousands(summary.lines),
                thousands(summary.unique_rows),
                thousands(summary.duplicate_lines),
                thousands(summary.bad_lines),
                summary.uncompressed_bytes as f64 / 1e6,
                started.elapsed().as_secs_f64(),
                args.out.display()
            );
            for f in &summary.files {
                println!("  {}", f.display());
            }
        }
    }
    Ok(0)
}
