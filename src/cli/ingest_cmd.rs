//! `tokenledger ingest`

use std::path::PathBuf;

use clap::Args;

use super::{Cli, OutputFormat, print_json, show_progress};
use crate::error::Result;
use crate::ingest::sources::SourceChoice;
use crate::ingest::{DEFAULT_MAX_LINE_BYTES, IngestOptions, PayloadMode, ingest};
use crate::warehouse::Warehouse;

#[derive(Debug, Args)]
#[command(after_help = "\
Files are recognised by name: .jsonl, .ndjson, .json (JSON lines, or one JSON array), .csv,
each optionally .gz, and .parquet. Directories are searched recursively. What wrote each file
(--source auto) is told from its columns: tokenledger's native records; Databricks'
system.ai_gateway.usage or an AI Gateway payload table; Databricks' legacy
system.serving.endpoint_usage or legacy payload table (both need --served-entities); or
LiteLLM's LiteLLM_SpendLogs. A file that fits none is refused, naming what each lacks.

A file whose bytes were ingested before is skipped, under any name; a request id seen before is
skipped (same content) or quarantined (different content). A Databricks request recorded by
several of its tables (usage, legacy endpoint_usage, payload) is one request: the usage table is
read first. Bad records go to the quarantine table with a reason.

Exit codes: 0 ok; 1 unreadable file or failed write (nothing is committed);
2 usage error; 4 quarantine ratio over --max-quarantine-ratio (nothing is committed).

Examples:
  tokenledger ingest logs/
  tokenledger ingest ai_gateway_usage.parquet
  tokenledger ingest --served-entities served_entities.csv endpoint_usage.csv
  tokenledger ingest --source litellm spend_logs.json")]
pub struct IngestArgs {
    /// Files or directories to ingest.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,

    /// What to store of request/response payloads, which may hold personal data. `hash` needs a
    /// secret key of at least 16 bytes in the environment variable TOKENLEDGER_PAYLOAD_KEY.
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

    /// What wrote the files: auto tells each file by its columns.
    #[arg(long, value_name = "SOURCE", value_enum, default_value_t = SourceChoice::Auto)]
    pub source: SourceChoice,

    /// An export of Databricks system.serving.served_entities (CSV, JSON lines or Parquet): it
    /// names the endpoint and model of each served_entity_id in the legacy endpoint_usage and
    /// payload rows (the AI Gateway's tables name them themselves).
    #[arg(long, value_name = "FILE")]
    pub served_entities: Option<PathBuf>,
}

pub async fn run(warehouse: &Warehouse, args: &IngestArgs, cli: &Cli) -> Result<i32> {
    let opts = IngestOptions {
        paths: args.paths.clone(),
        payloads: args.payloads,
        max_quarantine_ratio: args.max_quarantine_ratio,
        max_line_bytes: args.max_line_bytes,
        threads: args.threads,
        progress: show_progress(cli),
        source: args.source,
        served_entities: args.served_entities.clone(),
    };
    let summary = ingest(warehouse, &opts).await?;
    match cli.format {
        OutputFormat::Json => print_json(&summary)?,
        _ => print!("{}", summary.render()),
    }
    Ok(0)
}
