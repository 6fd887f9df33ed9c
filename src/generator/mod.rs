//! Deterministic generator of realistic LLM-gateway inference logs and the config CSVs that go
//! with them.
//!
//! `generate` writes into one output directory:
//!
//! * `inference.jsonl` (or `inference.jsonl.gz`): one JSON object per line, one line per request,
//!   in roughly completion-time order, shaped like an AI-gateway inference table (see [`generate`]
//!   for the fields);
//! * `prices.csv`, `principals.csv`, `budgets.csv`, `capacity.csv`: the configuration a chargeback
//!   pipeline joins the log with;
//! * `manifest.json`: the options, the line counts and the size of every file.
//!
//! It exists because a ledger that only ever sees uniform toy data hides the hard cases:
//!
//! * **Skew.** Requesters follow a Zipf–Mandelbrot law (the top one sends about 4 % of the
//!   traffic, the tail about 10⁻⁵ each), every requester has a favourite endpoint, traffic follows
//!   a diurnal curve, drops on weekends and grows by 50 % over the range. Token counts are
//!   lognormal and heavy-tailed.
//! * **Messy but legal data.** Error statuses with null tokens, 5xx with input but no output,
//!   fallbacks to another entity, guardrail blocks, cached and cache-write input tokens, reasoning
//!   tokens, streaming, optional `usage_context`, UTF-8 payloads with escapes, a log that is only
//!   *near*-sorted (the timestamp is the request start but lines are written at completion) and
//!   exact duplicate lines (logging retries).
//! * **Economics a platform lead recognises.** Prompts are sized by the endpoint's workload (a
//!   chat turn thousands of tokens, a RAG call or a coding agent tens of thousands, cached where
//!   the model bills cache reads lower), reasoning models write long outputs, and two
//!   provisioned pools (`POOLS`) cost list rates of dollars an hour: the RAG assistant's serves
//!   people at work (outside weekday working hours most of its callers go elsewhere, so it idles
//!   at night), and a nightly batch job (`BATCH_JOB`) sends few but long documents to a 405B
//!   model's pool, worth more at pay-per-token prices than the pool's hours. The budgets follow
//!   from what the chargeback will charge each group and cost
//!   centre (`inference::Spend` splits the pools' hours as `chargeback::capacity` does), placed
//!   by construction: one group over budget, one past its warning, the rest comfortably under.
//! * **Illegal data on request.** With `bad_rate > 0`, deliberately broken lines of nine kinds
//!   (`BadKind`) are mixed in, including request-id conflicts, so ingest error handling can be
//!   tested.
//!
//! Determinism: every random decision comes from ChaCha8 streams derived from `seed`, so the same
//! options give the same bytes (the floating-point maths, `exp` and `powf`, comes from the
//! platform's libm, so compare bytes across machines only on the same target). Rows are generated
//! in chunks of `CHUNK_ROWS` with one stream per chunk, so a parallel version could produce the
//! same bytes; duplicates and bad lines have their own streams, so turning `bad_rate` on only
//! *adds* lines and leaves every other line as it was. Output is streamed through a `BufWriter`;
//! only the lines waiting to be re-emitted as duplicates (at most 2000 lines back) are held in
//! memory.
//!
//! Layout: this file holds the public API; `limits` the tuning constants, `catalog` the static
//! entities, endpoints and vocabularies, `validate` the option checks, `random` the streams,
//! `context` what every line is drawn from, `prices` prices.csv, `request` one request,
//! `render` its JSON line, `bad_lines` the broken ones, `inference` the log file, `config_files`
//! the other CSVs and `manifest` manifest.json.

mod bad_lines;
mod catalog;
mod config_files;
mod context;
mod inference;
mod limits;
mod manifest;
mod prices;
mod random;
mod render;
mod request;
#[cfg(test)]
mod tests;
mod validate;

use std::fs;
use std::io;
use std::path::PathBuf;

use chrono::NaiveDate;

use bad_lines::BadKind;
use config_files::{budgets_csv, capacity_csv, write_principals};
use context::Ctx;
use inference::write_inference;
use manifest::manifest_json;
use prices::prices_csv;
use validate::validate;

/// Sub-folder of `out` holding the inference log.
pub const LOGS_DIR: &str = "logs";
/// Sub-folder of `out` holding the configuration CSVs.
pub const CONFIG_DIR: &str = "config";

/// What to generate. Build with [`GenOptions::new`] and override fields.
#[derive(Debug, Clone, PartialEq)]
pub struct GenOptions {
    /// Unique requests (lines before duplicates and bad lines are added). Must be > 0.
    pub rows: u64,
    /// Length of the time range in days, starting at `start` 00:00 UTC. Must be > 0.
    pub days: u32,
    /// First UTC day of the range.
    pub start: NaiveDate,
    /// Seed of every random stream; the same options give the same bytes.
    pub seed: u64,
    /// Number of human requesters (12 service principals are added). Must be > 0.
    pub users: u32,
    /// Approximate bytes of request + response text per line; 0 writes null payloads.
    pub payload_bytes: usize,
    /// Probability that a request's line is written a second time, 1..=2000 lines later. In [0, 1].
    pub dup_rate: f64,
    /// Probability that a deliberately bad line is inserted after a request's line. In [0, 1].
    pub bad_rate: f64,
    /// Write `inference.jsonl.gz` (gzip level 1) instead of `inference.jsonl`.
    pub gzip: bool,
    /// Output directory (created if missing).
    pub out: PathBuf,
}

impl GenOptions {
    /// Defaults: 1000 rows over 30 days from 2025-01-01, seed 42, 5000 users, ~200 B payloads,
    /// 0.5 % duplicates, no bad lines, plain JSONL.
    pub fn new(out: PathBuf) -> Self {
        GenOptions {
            rows: 1000,
            days: 30,
            start: NaiveDate::from_ymd_opt(2025, 1, 1).unwrap_or_default(),
            seed: 42,
            users: 5000,
            payload_bytes: 200,
            dup_rate: 0.005,
            bad_rate: 0.0,
            gzip: false,
            out,
        }
    }
}

/// What `generate` wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenSummary {
    /// Distinct requests written (= `rows`).
    pub unique_rows: u64,
    /// Exact re-emissions of earlier lines.
    pub duplicate_lines: u64,
    /// Deliberately bad lines, all kinds (including the conflicts).
    pub bad_lines: u64,
    /// Bad lines that reuse an earlier line's `request_id` with different content.
    pub conflict_lines: u64,
    /// Lines in the inference file: `unique_rows + duplicate_lines + bad_lines`.
    pub lines: u64,
    /// Bytes of the inference file before compression.
    pub uncompressed_bytes: u64,
    /// Every file written, in write order (`manifest.json` last).
    pub files: Vec<PathBuf>,
}

/// Generates the data set described in the module docs into `opts.out`.
///
/// Inference fields, in this order: `request_id`, `client_request_id`, `request_time`,
/// `endpoint_name`, `served_entity_name`, `served_entity_type`, `provider`, `requester`,
/// `status_code`, `input_tokens`, `output_tokens`, `cached_input_tokens`,
/// `cache_creation_input_tokens`, `reasoning_tokens`, `execution_duration_ms`, `request_streaming`,
/// `is_fallback`, `guardrail_action`, `usage_context`, `request`, `response`.
/// `input_tokens` includes the cached and cache-creation tokens; `output_tokens` includes the
/// reasoning tokens. The five token fields are null for status 429 and 400 (guardrail blocks are 400s).
///
/// Invalid options are rejected with `ErrorKind::InvalidInput` before anything is written.
pub fn generate(opts: &GenOptions) -> io::Result<GenSummary> {
    validate(opts)?;
    // Logs and configuration in separate folders, so that `tokenledger ingest OUT/logs`
    // reads only logs and OUT/config/ can be copied into a warehouse's config/.
    fs::create_dir_all(opts.out.join(LOGS_DIR))?;
    fs::create_dir_all(opts.out.join(CONFIG_DIR))?;
    let ctx = Ctx::new(opts)?;
    let mut files = Vec::new();

    let path = opts.out.join(CONFIG_DIR).join("principals.csv");
    write_principals(&ctx, &path)?;
    files.push(path);
    let path = opts.out.join(CONFIG_DIR).join("prices.csv");
    fs::write(&path, prices_csv(&ctx.price_rows))?;
    files.push(path);
    let (capacity, rates) = capacity_csv(opts);
    let path = opts.out.join(CONFIG_DIR).join("capacity.csv");
    fs::write(&path, capacity)?;
    files.push(path);
    let path = opts.out.join(LOGS_DIR).join(if opts.gzip { "inference.jsonl.gz" } else { "inference.jsonl" });
    let stats = write_inference(&ctx, opts, &path)?;
    files.push(path);

    // the budgets follow from the traffic just written
    let path = opts.out.join(CONFIG_DIR).join("budgets.csv");
    fs::write(&path, budgets_csv(opts, &stats.spend, &rates, &ctx.pool_owners))?;
    files.push(path);

    let mut summary = GenSummary {
        unique_rows: opts.rows,
        duplicate_lines: stats.duplicate_lines,
        bad_lines: stats.bad_lines,
        conflict_lines: stats.bad_by_kind[BadKind::Conflict as usize],
        lines: stats.lines,
        uncompressed_bytes: stats.bytes,
        files,
    };
    let path = opts.out.join("manifest.json");
    fs::write(&path, manifest_json(opts, &summary, &stats)?)?;
    summary.files.push(path);
    Ok(summary)
}
