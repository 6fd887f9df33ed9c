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
//! It ports `shared/bench/gen_inference.py` (same catalog, same distributions, not the same
//! bytes), because a ledger that only ever sees uniform toy data hides the hard cases:
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

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::{Datelike, Days, NaiveDate, Weekday};
use flate2::Compression;
use flate2::Crc;
use flate2::write::GzEncoder;
use rand::seq::SliceRandom;
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use serde::Serialize;

// ------------------------------------------------------------------------------------------------
// Public API
// ------------------------------------------------------------------------------------------------

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
    let path = opts.out.join(CONFIG_DIR).join("capacity.csv");
    fs::write(&path, capacity_csv(opts)?)?;
    files.push(path);

    let path = opts.out.join(LOGS_DIR).join(if opts.gzip {
        "inference.jsonl.gz"
    } else {
        "inference.jsonl"
    });
    let stats = write_inference(&ctx, opts, &path)?;
    files.push(path);

    let path = opts.out.join(CONFIG_DIR).join("budgets.csv");
    fs::write(&path, budgets_csv(opts, &stats.spend))?;
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

// ------------------------------------------------------------------------------------------------
// Limits and tuning constants
// ------------------------------------------------------------------------------------------------

const GENERATOR_VERSION: u32 = 1;
/// Sub-folder of `out` holding the inference log.
pub const LOGS_DIR: &str = "logs";
/// Sub-folder of `out` holding the configuration CSVs.
pub const CONFIG_DIR: &str = "config";
/// Rows per random stream (see the module docs on determinism).
const CHUNK_ROWS: u64 = 65_536;
const MAX_DAYS: u32 = 36_600;
const MAX_USERS: u32 = 10_000_000;
const MAX_PAYLOAD_BYTES: usize = 1_000_000;
const MS_PER_HOUR: i64 = 3_600_000;

/// Number of service principals appended to the users; half of them are missing from principals.csv.
const SERVICE_PRINCIPALS: usize = 12;
const SERVICE_GROUP: &str = "svc-batch-jobs";
const SERVICE_COST_CENTER: u16 = 9000;
/// Cost centres are `CC-1000` .. `CC-1021`; groups share them round-robin.
const COST_CENTERS: u16 = 22;
const FIRST_COST_CENTER: u16 = 1000;
/// Share of users missing from the HR extract (they end up `unassigned` in a chargeback).
const MISSING_USER_RATE: f64 = 0.01;
/// Share of users whose cost centre is not their group's.
const OTHER_COST_CENTER_RATE: f64 = 0.05;
/// Group sizes fall off as 1 / (rank + 1)^GROUP_SKEW.
const GROUP_SKEW: f64 = 0.8;
/// Zipf–Mandelbrot requester weights 1 / (rank + q)^s: top requester ≈ 4 %, tail ≈ 1e-5.
const ZIPF_Q: f64 = 6.0;
const ZIPF_S: f64 = 1.2;
/// Share of a requester's calls that go to their favourite endpoint.
const FAVOURITE_ENDPOINT_SHARE: f64 = 0.7;

const WEEKEND_FACTOR: f64 = 0.35;
/// Traffic grows linearly by this fraction from the first to the last hour.
const GROWTH_OVER_RANGE: f64 = 0.5;

/// Cumulative status mix: 200 96.6 %, 429 2 %, 400 0.5 % (of which 0.3 points are guardrail blocks),
/// 500 0.5 %, 503 0.4 %. Blocks are a subset of the 400s so the overall status mix stays as specified.
const STATUS_MIX: [(f64, u16, bool); 6] = [
    (0.966, 200, false),
    (0.986, 429, false),
    (0.989, 400, true),
    (0.991, 400, false),
    (0.996, 500, false),
    (1.0, 503, false),
];
/// Share of 200s on endpoints with a fallback that the fallback entity served.
const FALLBACK_RATE: f64 = 0.02;
const STREAMING_RATE: f64 = 0.4;
const NULL_CLIENT_ID_RATE: f64 = 0.55;
/// usage_context: null below the first bound, project only below the second, else project + cost centre.
const USAGE_NULL_BELOW: f64 = 0.25;
const USAGE_PROJECT_ONLY_BELOW: f64 = 0.55;
/// Share of usage contexts that name the requester's usual project.
const USUAL_PROJECT_SHARE: f64 = 0.8;

/// Prompt caching works in blocks of this many tokens (OpenAI and Anthropic both use 128-ish blocks).
const CACHE_BLOCK: i64 = 128;
const CACHE_READ_MIN_INPUT: i64 = 1024;
const CACHE_READ_RATE: f64 = 0.35;
const CACHE_WRITE_RATE: f64 = 0.15;
const MAX_INPUT_TOKENS: i64 = 200_000;
const MAX_EMBEDDING_INPUT_TOKENS: i64 = 8191;
const MAX_OUTPUT_TOKENS: i64 = 32_768;
/// 503s that are gateway timeouts (60 s plus a little) rather than fast failures.
const TIMEOUT_503_RATE: f64 = 0.3;
const GATEWAY_TIMEOUT_MS: i64 = 60_000;

/// Duplicates are re-emitted 1..=MAX_DUP_DELAY unique lines later.
const MAX_DUP_DELAY: u64 = 2000;
/// The JSON around the request and response text of a status-200 chat line is about this long.
const PAYLOAD_OVERHEAD: usize = 160;
const MIN_PAYLOAD_TEXT: usize = 8;
const CORPUS_MIN_BYTES: usize = 1_200_000;
/// Slack at the end of the corpus so a text slice can always be extended to a word boundary.
const CORPUS_SLACK: usize = 1024;

/// The base price row of every entity is dated this many days before the start.
const BASE_PRICE_LEAD_DAYS: u64 = 400;
/// The future-dated price that must never apply inside the range.
const FUTURE_PRICE_AFTER_END_DAYS: u64 = 30;
const FUTURE_PRICE: (&str, &str, &str, &str) = ("gpt-4o-mini", "0.12", "0.06", "0.48");
/// Entities with a `retires_on` date (this many days after the end of the range).
const RETIRING: [&str; 2] = ["claude-3-opus", "o1"];
const RETIRE_AFTER_END_DAYS: u64 = 45;

const GROUP_BUDGETS: usize = 10;
const COST_CENTER_BUDGETS: usize = 2;
const DAYS_PER_MONTH: f64 = 30.4375;
const DAYS_PER_QUARTER: f64 = 91.3125;

// Random stream ids (ChaCha8 stream numbers). Chunk streams add the chunk index to their base.
const STREAM_CATALOG: u64 = 1;
const STREAM_CORPUS: u64 = 2;
const STREAM_DUPS: u64 = 3;
const STREAM_BAD: u64 = 4;
const STREAM_BUDGETS: u64 = 5;
const STREAM_CAPACITY: u64 = 6;
const STREAM_ROWS: u64 = 1 << 40;
const STREAM_PAYLOAD: u64 = 2 << 40;

// ------------------------------------------------------------------------------------------------
// Catalog (ported from gen_inference.py; prices are illustrative)
// ------------------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum EntityType {
    PayPerToken,
    Provisioned,
    External,
}

impl EntityType {
    fn as_str(self) -> &'static str {
        match self {
            EntityType::PayPerToken => "FOUNDATION_MODEL_PAY_PER_TOKEN",
            EntityType::Provisioned => "PROVISIONED_THROUGHPUT",
            EntityType::External => "EXTERNAL_MODEL",
        }
    }
}

/// Drives token counts and latency: embeddings have no output, reasoning models long slow outputs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Emb,
    Small,
    Large,
    Reason,
}

struct Entity {
    name: &'static str,
    etype: EntityType,
    provider: &'static str,
    /// USD per 1M tokens, kept as decimal strings so the CSV carries them exactly.
    input: &'static str,
    output: &'static str,
    cached: &'static str,
    kind: Kind,
}

const fn ent(
    name: &'static str,
    etype: EntityType,
    provider: &'static str,
    input: &'static str,
    output: &'static str,
    cached: &'static str,
    kind: Kind,
) -> Entity {
    Entity {
        name,
        etype,
        provider,
        input,
        output,
        cached,
        kind,
    }
}

use EntityType::{External as EXT, PayPerToken as PPT, Provisioned as PT};
use Kind::{Emb, Large, Reason, Small};

#[rustfmt::skip]
const ENTITIES: [Entity; 40] = [
    ent("gpt-4o",                                  EXT, "openai",         "2.50",  "10.00", "1.25",   Large),
    ent("gpt-4o-mini",                             EXT, "openai",         "0.15",  "0.60",  "0.075",  Small),
    ent("gpt-4.1",                                 EXT, "openai",         "2.00",  "8.00",  "0.50",   Large),
    ent("gpt-4.1-mini",                            EXT, "openai",         "0.40",  "1.60",  "0.10",   Small),
    ent("gpt-4.1-nano",                            EXT, "openai",         "0.10",  "0.40",  "0.025",  Small),
    ent("o3-mini",                                 EXT, "openai",         "1.10",  "4.40",  "0.55",   Reason),
    ent("o1",                                      EXT, "openai",         "15.00", "60.00", "7.50",   Reason),
    ent("text-embedding-3-large",                  EXT, "openai",         "0.13",  "0",     "0.13",   Emb),
    ent("text-embedding-3-small",                  EXT, "openai",         "0.02",  "0",     "0.02",   Emb),
    ent("claude-3-5-sonnet",                       EXT, "anthropic",      "3.00",  "15.00", "0.30",   Large),
    ent("claude-3-5-haiku",                        EXT, "anthropic",      "0.80",  "4.00",  "0.08",   Small),
    ent("claude-3-7-sonnet",                       EXT, "anthropic",      "3.00",  "15.00", "0.30",   Large),
    ent("claude-3-opus",                           EXT, "anthropic",      "15.00", "75.00", "1.50",   Large),
    ent("gemini-1-5-pro",                          EXT, "google",         "1.25",  "5.00",  "0.3125", Large),
    ent("gemini-1-5-flash",                        EXT, "google",         "0.075", "0.30",  "0.019",  Small),
    ent("gemini-2-0-flash",                        EXT, "google",         "0.10",  "0.40",  "0.025",  Small),
    ent("command-r-plus",                          EXT, "cohere",         "2.50",  "10.00", "2.50",   Large),
    ent("command-r",                               EXT, "cohere",         "0.15",  "0.60",  "0.15",   Small),
    ent("mistral-large",                           EXT, "mistral",        "2.00",  "6.00",  "2.00",   Large),
    ent("titan-embed-text-v2",                     EXT, "amazon-bedrock", "0.02",  "0",     "0.02",   Emb),
    ent("databricks-meta-llama-3-3-70b-instruct",  PPT, "databricks",     "0.50",  "1.50",  "0.50",   Large),
    ent("databricks-meta-llama-3-1-405b-instruct", PPT, "databricks",     "5.00",  "15.00", "5.00",   Large),
    ent("databricks-meta-llama-3-1-8b-instruct",   PPT, "databricks",     "0.15",  "0.45",  "0.15",   Small),
    ent("databricks-claude-3-7-sonnet",            PPT, "databricks",     "3.00",  "15.00", "0.30",   Large),
    ent("databricks-dbrx-instruct",                PPT, "databricks",     "0.75",  "2.25",  "0.75",   Large),
    ent("databricks-mixtral-8x7b-instruct",        PPT, "databricks",     "0.50",  "1.00",  "0.50",   Small),
    ent("databricks-gte-large-en",                 PPT, "databricks",     "0.10",  "0",     "0.10",   Emb),
    ent("databricks-bge-large-en",                 PPT, "databricks",     "0.10",  "0",     "0.10",   Emb),
    ent("databricks-llama-4-maverick",             PPT, "databricks",     "0.50",  "1.50",  "0.50",   Large),
    ent("databricks-gemma-3-12b",                  PPT, "databricks",     "0.15",  "0.50",  "0.15",   Small),
    ent("llama-3-70b-pt",                          PT,  "databricks",     "0.40",  "1.20",  "0.40",   Large),
    ent("llama-3-1-8b-pt",                         PT,  "databricks",     "0.08",  "0.24",  "0.08",   Small),
    ent("mixtral-8x7b-pt",                         PT,  "databricks",     "0.30",  "0.60",  "0.30",   Small),
    ent("dbrx-pt",                                 PT,  "databricks",     "0.50",  "1.50",  "0.50",   Large),
    ent("custom-finetune-llama-3-8b-pt",           PT,  "databricks",     "0.10",  "0.30",  "0.10",   Small),
    ent("bge-large-en-pt",                         PT,  "databricks",     "0.02",  "0",     "0.02",   Emb),
    ent("qwen-2-5-72b-pt",                         PT,  "databricks",     "0.40",  "1.20",  "0.40",   Large),
    ent("mistral-7b-pt",                           PT,  "databricks",     "0.05",  "0.15",  "0.05",   Small),
    ent("gte-large-en-pt",                         PT,  "databricks",     "0.02",  "0",     "0.02",   Emb),
    ent("llama-3-3-70b-pt",                        PT,  "databricks",     "0.40",  "1.20",  "0.40",   Large),
];

/// Anthropic models bill cache writes; so does Claude served as a Databricks foundation model.
fn bills_cache_writes(e: &Entity) -> bool {
    e.provider == "anthropic" || e.name.starts_with("databricks-claude")
}

struct Endpoint {
    name: &'static str,
    /// Relative share of traffic.
    weight: u32,
    /// Served entities and their traffic split.
    models: &'static [(&'static str, u32)],
    /// Entity that serves a small share of the 200s when the primary fails over.
    fallback: Option<&'static str>,
}

const fn ep(
    name: &'static str,
    weight: u32,
    models: &'static [(&'static str, u32)],
    fallback: Option<&'static str>,
) -> Endpoint {
    Endpoint {
        name,
        weight,
        models,
        fallback,
    }
}

#[rustfmt::skip]
const ENDPOINTS: [Endpoint; 20] = [
    ep("ai-gateway-chat-prod", 20, &[("gpt-4o", 6), ("gpt-4o-mini", 4)], Some("claude-3-5-sonnet")),
    ep("ai-gateway-chat-dev", 5, &[("gpt-4o-mini", 5), ("gpt-4.1-nano", 3), ("gpt-4.1-mini", 2)], None),
    ep("openai-reasoning", 3, &[("o3-mini", 8), ("o1", 2)], Some("gpt-4.1")),
    ep("anthropic-prod", 12,
       &[("claude-3-5-sonnet", 5), ("claude-3-7-sonnet", 3), ("claude-3-5-haiku", 2)],
       Some("databricks-claude-3-7-sonnet")),
    ep("anthropic-research", 2, &[("claude-3-opus", 3), ("claude-3-7-sonnet", 7)], None),
    ep("gemini-prod", 5, &[("gemini-1-5-pro", 3), ("gemini-1-5-flash", 4), ("gemini-2-0-flash", 3)], None),
    ep("embeddings-prod", 15, &[("text-embedding-3-large", 3), ("text-embedding-3-small", 7)],
       Some("titan-embed-text-v2")),
    ep("embeddings-internal", 8,
       &[("databricks-gte-large-en", 3), ("databricks-bge-large-en", 3), ("bge-large-en-pt", 2),
         ("gte-large-en-pt", 2)],
       None),
    ep("rag-assistant", 8, &[("databricks-meta-llama-3-3-70b-instruct", 7), ("llama-3-3-70b-pt", 3)],
       Some("gpt-4o-mini")),
    ep("llama-batch-pt", 4, &[("llama-3-70b-pt", 5), ("llama-3-1-8b-pt", 5)], None),
    ep("code-assistant", 6, &[("claude-3-7-sonnet", 5), ("gpt-4.1", 5)], Some("gpt-4o")),
    ep("fm-api-llama", 3,
       &[("databricks-meta-llama-3-1-405b-instruct", 2), ("databricks-meta-llama-3-1-8b-instruct", 5),
         ("databricks-llama-4-maverick", 3)],
       None),
    ep("fm-api-misc", 2,
       &[("databricks-dbrx-instruct", 2), ("databricks-mixtral-8x7b-instruct", 3),
         ("databricks-gemma-3-12b", 3), ("databricks-claude-3-7-sonnet", 2)],
       None),
    ep("cohere-search", 2, &[("command-r-plus", 4), ("command-r", 6)], None),
    ep("mistral-eu", 1, &[("mistral-large", 5), ("mistral-7b-pt", 5)], None),
    ep("finetune-support-bot", 2, &[("custom-finetune-llama-3-8b-pt", 1)],
       Some("databricks-meta-llama-3-1-8b-instruct")),
    ep("analytics-sql-agent", 2, &[("gpt-4.1-mini", 4), ("claude-3-5-haiku", 3), ("qwen-2-5-72b-pt", 3)], None),
    ep("doc-summarizer-pt", 2, &[("mixtral-8x7b-pt", 5), ("dbrx-pt", 5)], None),
    ep("bedrock-titan", 1, &[("titan-embed-text-v2", 1)], None),
    ep("sandbox-playground", 1,
       &[("gpt-4o", 2), ("claude-3-5-sonnet", 2), ("gemini-2-0-flash", 2), ("llama-3-1-8b-pt", 2),
         ("databricks-meta-llama-3-3-70b-instruct", 2)],
       None),
];

/// (entity, fraction of the range at which the new price starts, input, cached, output $/1M).
#[rustfmt::skip]
const PRICE_CHANGES: [(&str, f64, &str, &str, &str); 4] = [
    ("gpt-4o",                                 0.5,  "2.00", "1.00", "8.00"),
    ("claude-3-5-sonnet",                      0.66, "2.70", "0.27", "13.50"),
    ("databricks-meta-llama-3-3-70b-instruct", 0.33, "0.45", "0.45", "1.35"),
    ("llama-3-70b-pt",                         0.75, "0.35", "0.35", "1.05"),
];

#[rustfmt::skip]
const GROUPS: [&str; 30] = [
    "data-science", "ml-platform", "search", "support-eng", "marketing-analytics", "finance-bi",
    "legal-ops", "sales-eng", "security", "hr-analytics", "growth", "payments", "risk", "mobile",
    "web-frontend", "infra", "data-eng", "research", "product-ops", "customer-success",
    "trust-safety", "ads", "recommendations", "devex", "it-ops", "procurement", "bizops",
    "localization", "design", "qa",
];

/// Relative traffic per UTC hour of day.
const DIURNAL: [f64; 24] = [
    0.35, 0.3, 0.25, 0.22, 0.22, 0.25, 0.35, 0.5, 0.7, 0.85, 0.95, 1.0, 1.0, 1.05, 1.15, 1.25, 1.3,
    1.25, 1.15, 1.0, 0.85, 0.7, 0.55, 0.45,
];

const FIRST_NAMES: &str = "james mary robert patricia john jennifer michael linda david elizabeth william \
    barbara richard susan joseph jessica thomas sarah chris karen daniel lisa matthew nancy anthony betty \
    mark sandra paul ashley steven kim andrew emily joshua donna kevin michelle brian carol george amanda \
    wei li priya arjun yuki hana omar fatima lars ingrid jose lucia chen mei ana pedro";
const LAST_NAMES: &str = "smith johnson williams brown jones garcia miller davis rodriguez martinez \
    hernandez lopez gonzalez wilson anderson thomas taylor moore jackson martin lee perez thompson white \
    harris sanchez clark ramirez lewis robinson walker young allen king wright scott torres nguyen hill \
    flores green adams nelson baker hall rivera campbell mitchell carter roberts patel kumar zhang wang \
    tanaka sato muller schmidt rossi silva";
/// Payload vocabulary, already escaped for the *outer* JSON string: the payloads are JSON documents
/// stored as strings, so the last word (`\n` inside the inner document) appears as `\\n` in the line.
/// No word contains `"`, so whole words can be copied into a line without further escaping.
const WORDS: &str = "the a of to and in is for on with that this model token cost latency request \
    response please summarize explain why how table query customer revenue forecast churn pipeline \
    python rust sql spark cluster notebook error retry budget quarter report draft email translate \
    résumé naïve café façade über straße 東京 データ 모델 ok yes no 42 3.14 2025 v1 v2 json-like item-7 \
    foo_bar \\\\n";
const PROJECT_KINDS: [&str; 7] = ["rag", "chatbot", "etl", "eval", "agent", "search", "summ"];
const PROJECTS_PER_KIND: usize = 15;

// ------------------------------------------------------------------------------------------------
// Validation
// ------------------------------------------------------------------------------------------------

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

fn validate(o: &GenOptions) -> io::Result<()> {
    if o.rows == 0 {
        return Err(invalid("rows must be > 0".into()));
    }
    if o.days == 0 || o.days > MAX_DAYS {
        return Err(invalid(format!(
            "days must be in 1..={MAX_DAYS}, got {}",
            o.days
        )));
    }
    if o.users == 0 || o.users > MAX_USERS {
        return Err(invalid(format!(
            "users must be in 1..={MAX_USERS}, got {}",
            o.users
        )));
    }
    if o.payload_bytes > MAX_PAYLOAD_BYTES {
        return Err(invalid(format!(
            "payload_bytes must be at most {MAX_PAYLOAD_BYTES}, got {}",
            o.payload_bytes
        )));
    }
    for (name, v) in [("dup_rate", o.dup_rate), ("bad_rate", o.bad_rate)] {
        if !(0.0..=1.0).contains(&v) {
            return Err(invalid(format!(
                "{name} must be a number in [0, 1], got {v}"
            )));
        }
    }
    // Timestamps are written with 4-digit years; the price table reaches 400 days back and
    // retirements 45 days past the end.
    if o.start.year() < 1970 {
        return Err(invalid(format!(
            "start must be 1970-01-01 or later, got {}",
            o.start
        )));
    }
    let last = o
        .start
        .checked_add_days(Days::new(u64::from(o.days) + RETIRE_AFTER_END_DAYS));
    if last.is_none_or(|d| d.year() > 9999) {
        return Err(invalid(format!(
            "start {} + {} days runs past the year 9999",
            o.start, o.days
        )));
    }
    Ok(())
}

// ------------------------------------------------------------------------------------------------
// Random helpers
// ------------------------------------------------------------------------------------------------

/// An independent ChaCha8 stream per purpose, so one part of the output never shifts another.
fn stream_rng(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

fn cumulative(weights: impl IntoIterator<Item = f64>) -> Vec<f64> {
    let mut total = 0.0;
    weights
        .into_iter()
        .map(|w| {
            total += w;
            total
        })
        .collect()
}

/// Index drawn from cumulative weights with a uniform `u` in [0, 1) (bisect-right, like Python).
fn pick(cum: &[f64], u: f64) -> usize {
    let total = cum.last().copied().unwrap_or(0.0);
    let x = u * total;
    cum.partition_point(|&c| c <= x)
        .min(cum.len().saturating_sub(1))
}

fn lognormal(rng: &mut ChaCha8Rng, mu: f64, sigma: f64) -> f64 {
    let z: f64 = rng.sample(StandardNormal);
    (mu + sigma * z).exp()
}

fn unit(rng: &mut ChaCha8Rng) -> f64 {
    rng.random::<f64>()
}

/// 122 random bits with the RFC 4122 version (4) and variant bits set.
fn uuid_v4(rng: &mut ChaCha8Rng) -> u128 {
    let bits: u128 = rng.random();
    (bits & !(0xf << 76) & !(0x3 << 62)) | (0x4 << 76) | (0x2 << 62)
}

// ------------------------------------------------------------------------------------------------
// Context: catalog, traffic curve, corpus, prices
// ------------------------------------------------------------------------------------------------

struct Principal {
    /// Index into `group_names()`.
    group: u8,
    /// Cost centre number (`CC-<n>`).
    cost_center: u16,
}

struct Catalog {
    requesters: Vec<String>,
    req_cum: Vec<f64>,
    favourite: Vec<u8>,
    project: Vec<u16>,
    projects: Vec<String>,
    /// `None`: missing from principals.csv.
    principals: Vec<Option<Principal>>,
}

struct ResolvedEndpoint {
    models: Vec<u16>,
    cum: Vec<f64>,
    fallback: Option<u16>,
}

/// One row of prices.csv.
struct PriceRow {
    entity: usize,
    from: NaiveDate,
    input: &'static str,
    cached: &'static str,
    output: &'static str,
    cache_write: Option<String>,
    retires_on: Option<NaiveDate>,
}

/// Per-token USD prices from `from_ms` (relative to the start) on; only used to size the budgets.
struct PricePoint {
    from_ms: i64,
    input: f64,
    cached: f64,
    output: f64,
    cache_write: f64,
}

struct Ctx {
    rows: u64,
    payload_bytes: usize,
    total_ms: i64,
    hour_cum: Vec<f64>,
    hour_w: Vec<f64>,
    /// `YYYY-MM-DDTHH:` for every hour of the range.
    hour_prefix: Vec<[u8; 14]>,
    catalog: Catalog,
    endpoints: Vec<ResolvedEndpoint>,
    ep_cum: Vec<f64>,
    caches_reads: Vec<bool>,
    caches_writes: Vec<bool>,
    corpus: Vec<u8>,
    price_rows: Vec<PriceRow>,
    price_points: Vec<Vec<PricePoint>>,
}

fn entity_index(name: &str) -> io::Result<usize> {
    ENTITIES.iter().position(|e| e.name == name).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("catalog names unknown entity {name}"),
        )
    })
}

fn group_names() -> impl Iterator<Item = &'static str> {
    GROUPS.iter().copied().chain([SERVICE_GROUP])
}

fn group_name(ix: u8) -> &'static str {
    group_names().nth(usize::from(ix)).unwrap_or(SERVICE_GROUP)
}

/// Spend slot of a cost centre number: the 22 regular ones, then CC-9000.
fn cost_center_slot(cc: u16) -> usize {
    if cc == SERVICE_COST_CENTER {
        usize::from(COST_CENTERS)
    } else {
        usize::from(cc - FIRST_COST_CENTER)
    }
}

fn cost_center_of_slot(slot: usize) -> u16 {
    if slot == usize::from(COST_CENTERS) {
        SERVICE_COST_CENTER
    } else {
        FIRST_COST_CENTER + slot as u16
    }
}

impl Ctx {
    fn new(o: &GenOptions) -> io::Result<Ctx> {
        let endpoints = ENDPOINTS
            .iter()
            .map(|e| {
                let models = e
                    .models
                    .iter()
                    .map(|(m, _)| entity_index(m).map(|i| i as u16))
                    .collect::<io::Result<Vec<_>>>()?;
                let fallback = e.fallback.map(entity_index).transpose()?.map(|i| i as u16);
                let cum = cumulative(e.models.iter().map(|(_, w)| f64::from(*w)));
                Ok(ResolvedEndpoint {
                    models,
                    cum,
                    fallback,
                })
            })
            .collect::<io::Result<Vec<_>>>()?;
        let ep_cum = cumulative(ENDPOINTS.iter().map(|e| f64::from(e.weight)));
        let (hour_w, hour_prefix) = hour_table(o.start, o.days);
        let price_rows = price_rows(o.start, o.days)?;
        let price_points = price_points(o.start, &price_rows)?;
        Ok(Ctx {
            rows: o.rows,
            payload_bytes: o.payload_bytes,
            total_ms: i64::from(o.days) * 24 * MS_PER_HOUR,
            hour_cum: cumulative(hour_w.iter().copied()),
            hour_w,
            hour_prefix,
            catalog: build_catalog(o.seed, o.users as usize, &ep_cum),
            endpoints,
            ep_cum,
            // A model caches reads only when cached input is billed lower (as in the Python generator).
            caches_reads: ENTITIES
                .iter()
                .map(|e| e.kind != Emb && e.input != e.cached)
                .collect(),
            caches_writes: ENTITIES.iter().map(bills_cache_writes).collect(),
            corpus: if o.payload_bytes > 0 {
                build_corpus(o.seed, o.payload_bytes)
            } else {
                Vec::new()
            },
            price_rows,
            price_points,
        })
    }

    /// Completion time (ms after the start) of unique row `i`: the inverse CDF of the traffic curve
    /// at (i + jitter) / rows, so rows come out in near-sorted completion order.
    fn completion_ms(&self, i: u64, jitter: f64) -> i64 {
        let total = self.hour_cum.last().copied().unwrap_or(1.0);
        let u = (i as f64 + jitter) / self.rows as f64 * total;
        let h = self
            .hour_cum
            .partition_point(|&c| c <= u)
            .min(self.hour_cum.len() - 1);
        let into = ((u - (self.hour_cum[h] - self.hour_w[h])) / self.hour_w[h]).clamp(0.0, 1.0);
        h as i64 * MS_PER_HOUR + ((into * MS_PER_HOUR as f64) as i64).min(MS_PER_HOUR - 1)
    }
}

/// Hourly traffic weights (diurnal × weekend × growth) and the timestamp prefix of every hour.
fn hour_table(start: NaiveDate, days: u32) -> (Vec<f64>, Vec<[u8; 14]>) {
    let hours = days as usize * 24;
    let mut weights = Vec::with_capacity(hours);
    let mut prefixes = Vec::with_capacity(hours);
    for (d, date) in start.iter_days().take(days as usize).enumerate() {
        let weekend = matches!(date.weekday(), Weekday::Sat | Weekday::Sun);
        for (hod, diurnal) in DIURNAL.iter().enumerate() {
            let h = d * 24 + hod;
            let growth = 1.0 + GROWTH_OVER_RANGE * h as f64 / hours as f64;
            weights.push(diurnal * if weekend { WEEKEND_FACTOR } else { 1.0 } * growth);
            let mut p = [0u8; 14];
            let s = format!("{}T{:02}:", date.format("%Y-%m-%d"), hod);
            p.copy_from_slice(&s.as_bytes()[..14]);
            prefixes.push(p);
        }
    }
    (weights, prefixes)
}

fn build_catalog(seed: u64, users: usize, ep_cum: &[f64]) -> Catalog {
    let mut rng = stream_rng(seed, STREAM_CATALOG);
    let first: Vec<&str> = FIRST_NAMES.split_whitespace().collect();
    let last: Vec<&str> = LAST_NAMES.split_whitespace().collect();

    // first.last@example.com, with a counter suffix for repeated names (first.last2, first.last3, ...).
    let mut seen: HashMap<(usize, usize), u32> = HashMap::new();
    let mut requesters = Vec::with_capacity(users + SERVICE_PRINCIPALS);
    for _ in 0..users {
        let (f, l) = (
            rng.random_range(0..first.len()),
            rng.random_range(0..last.len()),
        );
        let n = seen.entry((f, l)).or_insert(0);
        *n += 1;
        requesters.push(if *n == 1 {
            format!("{}.{}@example.com", first[f], last[l])
        } else {
            format!("{}.{}{}@example.com", first[f], last[l], n)
        });
    }
    for _ in 0..SERVICE_PRINCIPALS {
        let mut s = Vec::with_capacity(36);
        push_uuid(&mut s, uuid_v4(&mut rng));
        requesters.push(String::from_utf8_lossy(&s).into_owned());
    }

    let group_cum = cumulative((0..GROUPS.len()).map(|r| 1.0 / ((r + 1) as f64).powf(GROUP_SKEW)));
    let principals = (0..requesters.len())
        .map(|i| {
            if i >= users {
                // Service principals: every other one is registered to the batch-jobs group.
                return (i - users).is_multiple_of(2).then_some(Principal {
                    group: GROUPS.len() as u8,
                    cost_center: SERVICE_COST_CENTER,
                });
            }
            if unit(&mut rng) < MISSING_USER_RATE {
                return None;
            }
            let g = pick(&group_cum, unit(&mut rng));
            let cc_slot = if unit(&mut rng) < OTHER_COST_CENTER_RATE {
                rng.random_range(0..COST_CENTERS)
            } else {
                g as u16 % COST_CENTERS
            };
            Some(Principal {
                group: g as u8,
                cost_center: FIRST_COST_CENTER + cc_slot,
            })
        })
        .collect();

    // Zipf–Mandelbrot activity over a random rank order, service principals included.
    let mut order: Vec<usize> = (0..requesters.len()).collect();
    order.shuffle(&mut rng);
    let mut weights = vec![0.0; requesters.len()];
    for (rank, &i) in order.iter().enumerate() {
        weights[i] = 1.0 / (rank as f64 + ZIPF_Q).powf(ZIPF_S);
    }
    let favourite = (0..requesters.len())
        .map(|_| pick(ep_cum, unit(&mut rng)) as u8)
        .collect();
    let projects: Vec<String> = PROJECT_KINDS
        .iter()
        .flat_map(|k| (0..PROJECTS_PER_KIND).map(move |n| format!("proj-{k}-{n}")))
        .collect();
    let project = (0..requesters.len())
        .map(|_| rng.random_range(0..projects.len()) as u16)
        .collect();
    Catalog {
        req_cum: cumulative(weights),
        requesters,
        favourite,
        project,
        projects,
        principals,
    }
}

/// A long random run of whole words separated by single spaces, with a space at both ends, so any
/// slice between two spaces is whole words (never a split escape or UTF-8 sequence).
fn build_corpus(seed: u64, payload_bytes: usize) -> Vec<u8> {
    let mut rng = stream_rng(seed, STREAM_CORPUS);
    let words: Vec<&str> = WORDS.split_whitespace().collect();
    let target = CORPUS_MIN_BYTES.max(3 * payload_bytes + CORPUS_SLACK);
    let mut corpus = Vec::with_capacity(target + 32);
    corpus.push(b' ');
    while corpus.len() < target {
        corpus.extend_from_slice(words[rng.random_range(0..words.len())].as_bytes());
        corpus.push(b' ');
    }
    corpus
}

// ------------------------------------------------------------------------------------------------
// Prices
// ------------------------------------------------------------------------------------------------

/// `price × 1.25` computed exactly on the decimal string (Anthropic bills cache writes at 125 %).
/// Keeps at least two decimals and drops other trailing zeros: "3.00" → "3.75", "2.70" → "3.375".
fn times_five_quarters(price: &str) -> io::Result<String> {
    let bad = || io::Error::new(io::ErrorKind::InvalidData, format!("bad price {price:?}"));
    let (int, frac) = price.split_once('.').unwrap_or((price, ""));
    if int.is_empty()
        || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
        || frac.len() > 12
    {
        return Err(bad());
    }
    let mantissa: u128 = format!("{int}{frac}").parse().map_err(|_| bad())?;
    let product = mantissa.checked_mul(125).ok_or_else(bad)?;
    let scale = frac.len() + 2;
    let digits = format!("{product:0>width$}", width = scale + 1);
    let (int, frac) = digits.split_at(digits.len() - scale);
    let keep = frac.trim_end_matches('0').len().max(2);
    Ok(format!("{int}.{}", &frac[..keep]))
}

fn price_rows(start: NaiveDate, days: u32) -> io::Result<Vec<PriceRow>> {
    let range_err = || invalid(format!("price dates out of range for start {start}"));
    let add = |d: u64| start.checked_add_days(Days::new(d)).ok_or_else(range_err);
    let base = start
        .checked_sub_days(Days::new(BASE_PRICE_LEAD_DAYS))
        .ok_or_else(range_err)?;
    let end = u64::from(days);
    let cache_write = |e: &Entity, input: &str| -> io::Result<Option<String>> {
        if bills_cache_writes(e) {
            times_five_quarters(input).map(Some)
        } else {
            Ok(None)
        }
    };
    let mut rows = Vec::new();
    for (i, e) in ENTITIES.iter().enumerate() {
        let retires_on = if RETIRING.contains(&e.name) {
            Some(add(end + RETIRE_AFTER_END_DAYS)?)
        } else {
            None
        };
        rows.push(PriceRow {
            entity: i,
            from: base,
            input: e.input,
            cached: e.cached,
            output: e.output,
            cache_write: cache_write(e, e.input)?,
            retires_on,
        });
    }
    let changes = PRICE_CHANGES
        .iter()
        .map(|&(n, frac, i, c, o)| (n, (f64::from(days) * frac).floor() as u64, i, c, o))
        .chain([(
            FUTURE_PRICE.0,
            end + FUTURE_PRICE_AFTER_END_DAYS,
            FUTURE_PRICE.1,
            FUTURE_PRICE.2,
            FUTURE_PRICE.3,
        )]);
    for (name, offset, input, cached, output) in changes {
        let entity = entity_index(name)?;
        rows.push(PriceRow {
            entity,
            from: add(offset)?,
            input,
            cached,
            output,
            cache_write: cache_write(&ENTITIES[entity], input)?,
            retires_on: None,
        });
    }
    rows.sort_by(|a, b| (ENTITIES[a.entity].name, a.from).cmp(&(ENTITIES[b.entity].name, b.from)));
    Ok(rows)
}

fn price_points(start: NaiveDate, rows: &[PriceRow]) -> io::Result<Vec<Vec<PricePoint>>> {
    let per_token = |s: &str| -> io::Result<f64> {
        s.parse::<f64>()
            .map(|p| p / 1e6)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, format!("bad price {s:?}")))
    };
    let mut points: Vec<Vec<PricePoint>> = (0..ENTITIES.len()).map(|_| Vec::new()).collect();
    for r in rows {
        let input = per_token(r.input)?;
        points[r.entity].push(PricePoint {
            from_ms: (r.from - start).num_days() * 24 * MS_PER_HOUR,
            input,
            cached: per_token(r.cached)?,
            output: per_token(r.output)?,
            cache_write: r
                .cache_write
                .as_deref()
                .map(per_token)
                .transpose()?
                .unwrap_or(input),
        });
    }
    Ok(points)
}

fn prices_csv(rows: &[PriceRow]) -> String {
    let mut s = String::from(
        "served_entity_name,effective_from,currency,input_price_per_1m,cached_input_price_per_1m,\
         output_price_per_1m,cache_write_price_per_1m,pricing_mode,retires_on\n",
    );
    for r in rows {
        let e = &ENTITIES[r.entity];
        let mode = if e.etype == EntityType::Provisioned {
            "provisioned"
        } else {
            "per_token"
        };
        let retires = r.retires_on.map(|d| d.to_string()).unwrap_or_default();
        s += &format!(
            "{},{},USD,{},{},{},{},{},{}\n",
            e.name,
            r.from,
            r.input,
            r.cached,
            r.output,
            r.cache_write.as_deref().unwrap_or(""),
            mode,
            retires
        );
    }
    s
}

// ------------------------------------------------------------------------------------------------
// One request
// ------------------------------------------------------------------------------------------------

/// Token fields of one line. Signed so that a bad line can carry a negative count.
#[derive(Clone, Copy, Debug, Default)]
struct Tokens {
    /// Total input, including `cached` and `cache_write` (OpenAI-style totals).
    input: i64,
    /// Total output, including `reasoning`.
    output: i64,
    cached: i64,
    cache_write: i64,
    reasoning: i64,
}

#[derive(Clone, Copy, Debug)]
enum UsageContext {
    Null,
    Project(u16),
    ProjectAndCostCenter(u16, u16),
}

/// Byte ranges of the corpus used as request and response text.
#[derive(Clone, Copy, Debug)]
struct Payload {
    request: (u32, u32),
    response: Option<(u32, u32)>,
}

#[derive(Clone, Copy, Debug)]
struct Record {
    id: u128,
    client_id: Option<u64>,
    /// Request start, ms after the start of the range.
    start_ms: i64,
    endpoint: u8,
    entity: u16,
    requester: u32,
    status: u16,
    guardrail_blocked: bool,
    /// `None` for 429 and 400: the gateway never reached the model.
    tokens: Option<Tokens>,
    duration_ms: i64,
    streaming: bool,
    fallback: bool,
    usage: UsageContext,
    /// `None` when payload_bytes is 0.
    payload: Option<Payload>,
}

fn draw_status(u: f64) -> (u16, bool) {
    STATUS_MIX
        .iter()
        .find(|(bound, _, _)| u < *bound)
        .map_or((503, false), |&(_, s, b)| (s, b))
}

/// What the model would have consumed and produced; the status decides how much of it is logged.
fn draw_tokens(rng: &mut ChaCha8Rng, ctx: &Ctx, entity: usize) -> Tokens {
    let kind = ENTITIES[entity].kind;
    let (input, output) = if kind == Emb {
        (
            (lognormal(rng, 5.7, 1.0) as i64).clamp(1, MAX_EMBEDDING_INPUT_TOKENS),
            0,
        )
    } else {
        let input = (lognormal(rng, 6.8, 1.3) as i64).clamp(1, MAX_INPUT_TOKENS);
        let stretch = if kind == Reason { 4.0 } else { 1.0 };
        (
            input,
            ((lognormal(rng, 5.2, 1.1) * stretch) as i64).clamp(1, MAX_OUTPUT_TOKENS),
        )
    };
    let mut t = Tokens {
        input,
        output,
        ..Tokens::default()
    };
    if ctx.caches_reads[entity] && input >= CACHE_READ_MIN_INPUT && unit(rng) < CACHE_READ_RATE {
        t.cached = (input as f64 * (0.2 + 0.75 * unit(rng))) as i64 / CACHE_BLOCK * CACHE_BLOCK;
    }
    if ctx.caches_writes[entity] && unit(rng) < CACHE_WRITE_RATE {
        // Only the uncached part of the prompt can be written to the cache, in whole blocks.
        let fresh = input - t.cached;
        if fresh >= CACHE_BLOCK {
            let part = (fresh as f64 * (0.3 + 0.6 * unit(rng))) as i64 / CACHE_BLOCK * CACHE_BLOCK;
            t.cache_write = part.max(CACHE_BLOCK);
        }
    }
    if kind == Reason {
        t.reasoning = (output as f64 * (0.3 + 0.5 * unit(rng))) as i64;
    }
    t
}

/// Latency grows with model size and output; rejected requests are fast; some 503s are timeouts.
fn draw_duration(rng: &mut ChaCha8Rng, kind: Kind, status: u16, blocked: bool, t: &Tokens) -> i64 {
    match status {
        200 => {
            let (base, per_output) = match kind {
                Emb => (40.0, 0.0),
                Small => (250.0, 8.0),
                Large => (600.0, 25.0),
                Reason => (3000.0, 30.0),
            };
            let mean = base + t.output as f64 * per_output + t.input as f64 * 0.02;
            (mean * lognormal(rng, 0.0, 0.35)) as i64
        }
        // A guardrail scans the prompt before rejecting it.
        400 if blocked => 15 + (unit(rng) * 250.0) as i64,
        429 => 2 + (unit(rng) * 40.0) as i64,
        400 => 2 + (unit(rng) * 120.0) as i64,
        _ => {
            if status == 503 && unit(rng) < TIMEOUT_503_RATE {
                GATEWAY_TIMEOUT_MS + (unit(rng) * 500.0) as i64
            } else {
                (lognormal(rng, 7.5, 1.0) as i64).min(120_000)
            }
        }
    }
}

/// Whole words of the corpus, about `n` bytes long.
fn draw_text(rng: &mut ChaCha8Rng, corpus: &[u8], n: usize) -> (u32, u32) {
    let n = n.max(1);
    // The corpus is at least 3 × payload_bytes + CORPUS_SLACK long and n ≤ 1.5 × payload_bytes + 12,
    // so the range is not empty and both scans end on a space well before the end of the corpus.
    let mut a = rng.random_range(0..corpus.len() - n - CORPUS_SLACK / 2);
    while corpus[a] != b' ' {
        a += 1;
    }
    a += 1;
    let mut b = a + n;
    while corpus[b] != b' ' {
        b += 1;
    }
    (a as u32, b as u32)
}

fn draw_payload(rng: &mut ChaCha8Rng, ctx: &Ctx, kind: Kind, status: u16) -> Payload {
    let budget = ctx
        .payload_bytes
        .saturating_sub(PAYLOAD_OVERHEAD)
        .max(MIN_PAYLOAD_TEXT) as f64;
    // An embedding call has no response text, so its input gets the whole budget.
    let share = if kind == Emb { 2.0 } else { 1.0 };
    let n = (budget * share * (0.25 + 0.5 * unit(rng))) as usize;
    let request = draw_text(rng, &ctx.corpus, n);
    let response = if status == 200 && kind != Emb {
        let n = (budget * (0.25 + 0.5 * unit(rng))) as usize;
        Some(draw_text(rng, &ctx.corpus, n))
    } else {
        None
    };
    Payload { request, response }
}

/// One request completing at `done_ms`. `rng` drives everything but the payload text, which comes from
/// `text_rng` so payload_bytes does not change the other fields. `force_ok` makes it a 200 (bad lines).
fn gen_record(
    ctx: &Ctx,
    rng: &mut ChaCha8Rng,
    text_rng: &mut ChaCha8Rng,
    done_ms: i64,
    force_ok: bool,
) -> Record {
    let cat = &ctx.catalog;
    let requester = pick(&cat.req_cum, unit(rng));
    let endpoint = if unit(rng) < FAVOURITE_ENDPOINT_SHARE {
        usize::from(cat.favourite[requester])
    } else {
        pick(&ctx.ep_cum, unit(rng))
    };
    let ep = &ctx.endpoints[endpoint];
    let mut entity = ep.models[pick(&ep.cum, unit(rng))];
    let (status, guardrail_blocked) = if force_ok {
        (200, false)
    } else {
        draw_status(unit(rng))
    };
    let mut fallback = false;
    if let Some(fb) = ep.fallback
        && status == 200
        && unit(rng) < FALLBACK_RATE
    {
        entity = fb;
        fallback = true;
    }
    let kind = ENTITIES[usize::from(entity)].kind;
    let streaming = kind != Emb && unit(rng) < STREAMING_RATE;
    let drawn = draw_tokens(rng, ctx, usize::from(entity));
    let tokens = match status {
        200 => Some(drawn),
        429 | 400 => None,
        // Server errors: the prompt was processed (and is billed by some providers), nothing came back.
        _ => Some(Tokens {
            input: drawn.input,
            ..Tokens::default()
        }),
    };
    let duration_ms = draw_duration(rng, kind, status, guardrail_blocked, &drawn);
    let start_ms = (done_ms - duration_ms).clamp(0, ctx.total_ms - 1);
    let id = uuid_v4(rng);
    let client_id = (unit(rng) >= NULL_CLIENT_ID_RATE).then(|| rng.next_u64() & 0xffff_ffff_ffff);
    let x = unit(rng);
    let usage = if x < USAGE_NULL_BELOW {
        UsageContext::Null
    } else {
        let project = if unit(rng) < USUAL_PROJECT_SHARE {
            cat.project[requester]
        } else {
            rng.random_range(0..cat.projects.len()) as u16
        };
        if x < USAGE_PROJECT_ONLY_BELOW {
            UsageContext::Project(project)
        } else {
            UsageContext::ProjectAndCostCenter(
                project,
                FIRST_COST_CENTER + (requester % usize::from(COST_CENTERS)) as u16,
            )
        }
    };
    let payload = (ctx.payload_bytes > 0).then(|| draw_payload(text_rng, ctx, kind, status));
    Record {
        id,
        client_id,
        start_ms,
        endpoint: endpoint as u8,
        entity,
        requester: requester as u32,
        status,
        guardrail_blocked,
        tokens,
        duration_ms,
        streaming,
        fallback,
        usage,
        payload,
    }
}

// ------------------------------------------------------------------------------------------------
// Rendering
// ------------------------------------------------------------------------------------------------

const HEX: &[u8; 16] = b"0123456789abcdef";

fn push_hex(buf: &mut Vec<u8>, v: u128, digits: u32) {
    for i in (0..digits).rev() {
        buf.push(HEX[((v >> (4 * i)) & 0xf) as usize]);
    }
}

fn push_uuid(buf: &mut Vec<u8>, id: u128) {
    push_hex(buf, id >> 96, 8);
    buf.push(b'-');
    push_hex(buf, id >> 80, 4);
    buf.push(b'-');
    push_hex(buf, id >> 64, 4);
    buf.push(b'-');
    push_hex(buf, id >> 48, 4);
    buf.push(b'-');
    push_hex(buf, id, 12);
}

fn push_u64(buf: &mut Vec<u8>, mut v: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    buf.extend_from_slice(&tmp[i..]);
}

fn push_i64(buf: &mut Vec<u8>, v: i64) {
    if v < 0 {
        buf.push(b'-');
    }
    push_u64(buf, v.unsigned_abs());
}

fn push_padded(buf: &mut Vec<u8>, v: i64, width: usize) {
    let mut tmp = [b'0'; 3];
    let mut v = v;
    for slot in tmp[..width].iter_mut().rev() {
        *slot = b'0' + (v % 10) as u8;
        v /= 10;
    }
    buf.extend_from_slice(&tmp[..width]);
}

/// How a bad line deviates from a valid rendering (the other bad kinds change the record itself).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Flaw {
    None,
    NoRequestId,
    BadRequestTime,
    InputTokensAsString,
    InvalidUtf8Requester,
}

/// A request_time that no date parser accepts.
const BAD_REQUEST_TIME: &str = "2025-13-45T99:00:00Z";
const BAD_UTF8: [u8; 2] = [0xff, 0xfe];

/// Writes one JSON line (with its `\n`). Every string written here is either from the catalog or
/// pre-escaped corpus text, so no escaping is needed; the tests parse every line with serde_json.
fn render(ctx: &Ctx, r: &Record, flaw: Flaw, buf: &mut Vec<u8>) {
    let e = &ENTITIES[usize::from(r.entity)];
    buf.push(b'{');
    if flaw != Flaw::NoRequestId {
        buf.extend_from_slice(b"\"request_id\":\"");
        push_uuid(buf, r.id);
        buf.extend_from_slice(b"\",");
    }
    buf.extend_from_slice(b"\"client_request_id\":");
    match r.client_id {
        None => buf.extend_from_slice(b"null"),
        Some(c) => {
            buf.extend_from_slice(b"\"app-");
            push_hex(buf, u128::from(c), 12);
            buf.push(b'"');
        }
    }
    buf.extend_from_slice(b",\"request_time\":\"");
    if flaw == Flaw::BadRequestTime {
        buf.extend_from_slice(BAD_REQUEST_TIME.as_bytes());
    } else {
        let hour = (r.start_ms / MS_PER_HOUR) as usize;
        let in_hour = r.start_ms % MS_PER_HOUR;
        buf.extend_from_slice(&ctx.hour_prefix[hour]);
        push_padded(buf, in_hour / 60_000, 2);
        buf.push(b':');
        push_padded(buf, in_hour % 60_000 / 1000, 2);
        buf.push(b'.');
        push_padded(buf, in_hour % 1000, 3);
        buf.push(b'Z');
    }
    buf.extend_from_slice(b"\",\"endpoint_name\":\"");
    buf.extend_from_slice(ENDPOINTS[usize::from(r.endpoint)].name.as_bytes());
    buf.extend_from_slice(b"\",\"served_entity_name\":\"");
    buf.extend_from_slice(e.name.as_bytes());
    buf.extend_from_slice(b"\",\"served_entity_type\":\"");
    buf.extend_from_slice(e.etype.as_str().as_bytes());
    buf.extend_from_slice(b"\",\"provider\":\"");
    buf.extend_from_slice(e.provider.as_bytes());
    buf.extend_from_slice(b"\",\"requester\":\"");
    let requester = ctx.catalog.requesters[r.requester as usize].as_bytes();
    if flaw == Flaw::InvalidUtf8Requester {
        let cut = requester.len() / 2;
        buf.extend_from_slice(&requester[..cut]);
        buf.extend_from_slice(&BAD_UTF8);
        buf.extend_from_slice(&requester[cut..]);
    } else {
        buf.extend_from_slice(requester);
    }
    buf.extend_from_slice(b"\",\"status_code\":");
    push_u64(buf, u64::from(r.status));
    match r.tokens {
        None => buf.extend_from_slice(
            b",\"input_tokens\":null,\"output_tokens\":null,\"cached_input_tokens\":null,\
              \"cache_creation_input_tokens\":null,\"reasoning_tokens\":null",
        ),
        Some(t) => {
            buf.extend_from_slice(b",\"input_tokens\":");
            if flaw == Flaw::InputTokensAsString {
                buf.extend_from_slice(b"\"lots\"");
            } else {
                push_i64(buf, t.input);
            }
            buf.extend_from_slice(b",\"output_tokens\":");
            push_i64(buf, t.output);
            buf.extend_from_slice(b",\"cached_input_tokens\":");
            push_i64(buf, t.cached);
            buf.extend_from_slice(b",\"cache_creation_input_tokens\":");
            push_i64(buf, t.cache_write);
            buf.extend_from_slice(b",\"reasoning_tokens\":");
            push_i64(buf, t.reasoning);
        }
    }
    buf.extend_from_slice(b",\"execution_duration_ms\":");
    push_i64(buf, r.duration_ms);
    buf.extend_from_slice(if r.streaming {
        b",\"request_streaming\":true"
    } else {
        b",\"request_streaming\":false"
    });
    buf.extend_from_slice(if r.fallback {
        b",\"is_fallback\":true"
    } else {
        b",\"is_fallback\":false"
    });
    buf.extend_from_slice(if r.guardrail_blocked {
        b",\"guardrail_action\":\"BLOCKED\""
    } else {
        b",\"guardrail_action\":null"
    });
    buf.extend_from_slice(b",\"usage_context\":");
    let projects = &ctx.catalog.projects;
    match r.usage {
        UsageContext::Null => buf.extend_from_slice(b"null"),
        UsageContext::Project(p) => {
            buf.extend_from_slice(b"{\"project\":\"");
            buf.extend_from_slice(projects[usize::from(p)].as_bytes());
            buf.extend_from_slice(b"\"}");
        }
        UsageContext::ProjectAndCostCenter(p, cc) => {
            buf.extend_from_slice(b"{\"project\":\"");
            buf.extend_from_slice(projects[usize::from(p)].as_bytes());
            buf.extend_from_slice(b"\",\"cost_center\":\"CC-");
            push_u64(buf, u64::from(cc));
            buf.extend_from_slice(b"\"}");
        }
    }
    buf.push(b',');
    render_payload(ctx, r, buf);
    buf.extend_from_slice(b"}\n");
}

/// `request` and `response` hold JSON documents as strings (inner quotes escaped), like a gateway
/// that logs raw bodies: chat messages or embedding inputs, and choices, embeddings or an error.
fn render_payload(ctx: &Ctx, r: &Record, buf: &mut Vec<u8>) {
    let Some(p) = r.payload else {
        buf.extend_from_slice(b"\"request\":null,\"response\":null");
        return;
    };
    let text = |(a, b): (u32, u32)| &ctx.corpus[a as usize..b as usize];
    let emb = ENTITIES[usize::from(r.entity)].kind == Emb;
    let tokens = r.tokens.unwrap_or_default();
    buf.extend_from_slice(b"\"request\":\"");
    if emb {
        buf.extend_from_slice(br#"{\"input\":[\""#);
        buf.extend_from_slice(text(p.request));
        buf.extend_from_slice(br#"\"]}"#);
    } else {
        buf.extend_from_slice(br#"{\"messages\":[{\"role\":\"user\",\"content\":\""#);
        buf.extend_from_slice(text(p.request));
        buf.extend_from_slice(br#"\"}]"#);
        if r.streaming {
            buf.extend_from_slice(br#",\"stream\":true"#);
        }
        buf.push(b'}');
    }
    buf.extend_from_slice(b"\",\"response\":\"");
    match (r.status, p.response) {
        (200, Some(resp)) => {
            buf.extend_from_slice(
                br#"{\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":\""#,
            );
            buf.extend_from_slice(text(resp));
            buf.extend_from_slice(br#"\"}}],\"usage\":{\"prompt_tokens\":"#);
            push_i64(buf, tokens.input);
            buf.extend_from_slice(br#",\"completion_tokens\":"#);
            push_i64(buf, tokens.output);
            buf.extend_from_slice(b"}}");
        }
        (200, None) => {
            buf.extend_from_slice(
                br#"{\"object\":\"list\",\"data\":[{\"object\":\"embedding\",\"index\":0}],\"usage\":{\"prompt_tokens\":"#,
            );
            push_i64(buf, tokens.input);
            buf.extend_from_slice(b"}}");
        }
        (status, _) => {
            let (code, message) = match status {
                429 => ("REQUEST_LIMIT_EXCEEDED", "rate limit exceeded"),
                400 if r.guardrail_blocked => {
                    ("GUARDRAIL_BLOCKED", "input blocked by safety guardrail")
                }
                400 => ("BAD_REQUEST", "invalid request body"),
                503 => ("TEMPORARILY_UNAVAILABLE", "upstream unavailable"),
                _ => ("INTERNAL_ERROR", "upstream returned an error"),
            };
            buf.extend_from_slice(br#"{\"error_code\":\""#);
            buf.extend_from_slice(code.as_bytes());
            buf.extend_from_slice(br#"\",\"message\":\""#);
            buf.extend_from_slice(message.as_bytes());
            buf.extend_from_slice(br#"\"}"#);
        }
    }
    buf.push(b'"');
}

// ------------------------------------------------------------------------------------------------
// Bad lines
// ------------------------------------------------------------------------------------------------

/// The deliberately bad lines, emitted in this order, cycling. Apart from `Conflict` (an earlier
/// line's request_id) and `MissingRequestId`, each carries a fresh unique request_id. Each is built
/// from a fresh status-200 request.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum BadKind {
    /// The first half of a valid line (cut on a UTF-8 boundary), then `\n`: not parseable JSON.
    TruncatedJson,
    /// A valid line without the `request_id` field.
    MissingRequestId,
    /// `output_tokens` is -5.
    NegativeOutputTokens,
    /// `request_time` is `2025-13-45T99:00:00Z`.
    BadRequestTime,
    /// `status_code` is 700.
    Status700,
    /// `input_tokens` is the string `"lots"`.
    InputTokensString,
    /// Bytes 0xff 0xfe in the middle of the requester string: the line is not UTF-8.
    InvalidUtf8,
    /// `cached_input_tokens` = `input_tokens` + 128.
    CachedAboveInput,
    /// An earlier line's request_id and content, with `output_tokens` raised by 1..=64.
    Conflict,
}

const BAD_KINDS: [BadKind; 9] = [
    BadKind::TruncatedJson,
    BadKind::MissingRequestId,
    BadKind::NegativeOutputTokens,
    BadKind::BadRequestTime,
    BadKind::Status700,
    BadKind::InputTokensString,
    BadKind::InvalidUtf8,
    BadKind::CachedAboveInput,
    BadKind::Conflict,
];

impl BadKind {
    fn name(self) -> &'static str {
        match self {
            BadKind::TruncatedJson => "truncated_json",
            BadKind::MissingRequestId => "missing_request_id",
            BadKind::NegativeOutputTokens => "negative_output_tokens",
            BadKind::BadRequestTime => "bad_request_time",
            BadKind::Status700 => "status_700",
            BadKind::InputTokensString => "input_tokens_string",
            BadKind::InvalidUtf8 => "invalid_utf8",
            BadKind::CachedAboveInput => "cached_above_input",
            BadKind::Conflict => "conflict",
        }
    }
}

/// Renders a bad line of `kind` near `done_ms`. `earlier` is the most recent emitted request.
fn render_bad(
    ctx: &Ctx,
    kind: BadKind,
    rng: &mut ChaCha8Rng,
    done_ms: i64,
    earlier: &Record,
    buf: &mut Vec<u8>,
) {
    // Text positions come from a sub-stream so the record's own draws stay on the bad stream.
    let mut text_rng = ChaCha8Rng::seed_from_u64(rng.next_u64());
    let mut r = gen_record(ctx, rng, &mut text_rng, done_ms, true);
    let mut tokens = r.tokens.unwrap_or_default();
    let mut flaw = Flaw::None;
    match kind {
        BadKind::TruncatedJson => {
            render(ctx, &r, Flaw::None, buf);
            let mut cut = buf.len() / 2;
            while cut > 0 && (buf[cut] & 0xc0) == 0x80 {
                cut -= 1;
            }
            buf.truncate(cut);
            buf.push(b'\n');
            return;
        }
        BadKind::MissingRequestId => flaw = Flaw::NoRequestId,
        BadKind::NegativeOutputTokens => {
            tokens.output = -5;
            tokens.reasoning = 0;
        }
        BadKind::BadRequestTime => flaw = Flaw::BadRequestTime,
        BadKind::Status700 => r.status = 700,
        BadKind::InputTokensString => flaw = Flaw::InputTokensAsString,
        BadKind::InvalidUtf8 => flaw = Flaw::InvalidUtf8Requester,
        BadKind::CachedAboveInput => tokens.cached = tokens.input + CACHE_BLOCK,
        BadKind::Conflict => {
            r = *earlier;
            tokens = r.tokens.unwrap_or_default();
            tokens.output += 1 + rng.random_range(0..64);
        }
    }
    r.tokens = Some(tokens);
    render(ctx, &r, flaw, buf);
}

// ------------------------------------------------------------------------------------------------
// The inference file
// ------------------------------------------------------------------------------------------------

/// Spend per group and cost centre (from principals.csv), to size the budgets.
struct Spend {
    by_group: Vec<f64>,
    by_cost_center: Vec<f64>,
}

impl Spend {
    fn new() -> Spend {
        Spend {
            by_group: vec![0.0; GROUPS.len() + 1],
            by_cost_center: vec![0.0; usize::from(COST_CENTERS) + 1],
        }
    }

    fn add(&mut self, ctx: &Ctx, r: &Record) {
        let (Some(t), Some(p)) = (r.tokens, &ctx.catalog.principals[r.requester as usize]) else {
            return;
        };
        let points = &ctx.price_points[usize::from(r.entity)];
        let Some(price) = points.iter().rev().find(|pp| pp.from_ms <= r.start_ms) else {
            return;
        };
        let fresh = (t.input - t.cached - t.cache_write) as f64;
        let cost = fresh * price.input
            + t.cached as f64 * price.cached
            + t.cache_write as f64 * price.cache_write
            + t.output as f64 * price.output;
        self.by_group[usize::from(p.group)] += cost;
        self.by_cost_center[cost_center_slot(p.cost_center)] += cost;
    }
}

struct InferenceStats {
    lines: u64,
    bytes: u64,
    crc32: u32,
    duplicate_lines: u64,
    bad_lines: u64,
    bad_by_kind: [u64; 9],
    spend: Spend,
}

/// Counts and checksums every line on its way to the writer.
struct LineSink<W: Write> {
    w: W,
    crc: Crc,
    lines: u64,
    bytes: u64,
}

impl<W: Write> LineSink<W> {
    fn emit(&mut self, line: &[u8]) -> io::Result<()> {
        self.crc.update(line);
        self.lines += 1;
        self.bytes += line.len() as u64;
        self.w.write_all(line)
    }
}

const WRITE_BUFFER: usize = 1 << 20;

fn write_inference(ctx: &Ctx, opts: &GenOptions, path: &Path) -> io::Result<InferenceStats> {
    let file = File::create(path)?;
    if opts.gzip {
        let gz = GzEncoder::new(file, Compression::new(1));
        let (stats, w) = stream_lines(ctx, opts, BufWriter::with_capacity(WRITE_BUFFER, gz))?;
        w.into_inner().map_err(|e| e.into_error())?.finish()?;
        Ok(stats)
    } else {
        let (stats, mut w) = stream_lines(ctx, opts, BufWriter::with_capacity(WRITE_BUFFER, file))?;
        w.flush()?;
        Ok(stats)
    }
}

fn stream_lines<W: Write>(ctx: &Ctx, opts: &GenOptions, w: W) -> io::Result<(InferenceStats, W)> {
    let mut sink = LineSink {
        w,
        crc: Crc::new(),
        lines: 0,
        bytes: 0,
    };
    let mut dup_rng = stream_rng(opts.seed, STREAM_DUPS);
    let mut bad_rng = stream_rng(opts.seed, STREAM_BAD);
    // Lines waiting to be re-emitted, keyed by the unique row after which they go.
    let mut pending: BTreeMap<u64, Vec<Vec<u8>>> = BTreeMap::new();
    let mut spend = Spend::new();
    let (mut duplicate_lines, mut bad_lines) = (0u64, 0u64);
    let mut bad_by_kind = [0u64; 9];
    // The conflict kind reuses the latest request that has token counts (nearly always a 200).
    let mut latest_with_tokens: Option<Record> = None;
    let mut line = Vec::with_capacity(4096);
    let mut bad = Vec::with_capacity(4096);

    for chunk in 0..opts.rows.div_ceil(CHUNK_ROWS) {
        let mut rng = stream_rng(opts.seed, STREAM_ROWS + chunk);
        let mut text_rng = stream_rng(opts.seed, STREAM_PAYLOAD + chunk);
        let rows = chunk * CHUNK_ROWS..opts.rows.min((chunk + 1) * CHUNK_ROWS);
        for i in rows {
            let done_ms = ctx.completion_ms(i, unit(&mut rng));
            let rec = gen_record(ctx, &mut rng, &mut text_rng, done_ms, false);
            line.clear();
            render(ctx, &rec, Flaw::None, &mut line);
            sink.emit(&line)?;
            spend.add(ctx, &rec);
            if rec.tokens.is_some() || latest_with_tokens.is_none() {
                latest_with_tokens = Some(rec);
            }

            if opts.dup_rate > 0.0 && unit(&mut dup_rng) < opts.dup_rate {
                let at = i + 1 + dup_rng.random_range(0..MAX_DUP_DELAY);
                pending.entry(at).or_default().push(line.clone());
                duplicate_lines += 1;
            }
            if let Some(due) = pending.remove(&i) {
                for l in &due {
                    sink.emit(l)?;
                }
            }

            if opts.bad_rate > 0.0 && unit(&mut bad_rng) < opts.bad_rate {
                let kind = BAD_KINDS[(bad_lines % BAD_KINDS.len() as u64) as usize];
                let earlier = latest_with_tokens.as_ref().unwrap_or(&rec);
                bad.clear();
                render_bad(ctx, kind, &mut bad_rng, done_ms, earlier, &mut bad);
                sink.emit(&bad)?;
                bad_lines += 1;
                bad_by_kind[kind as usize] += 1;
            }
        }
    }
    // Duplicates scheduled past the last row still go out, in schedule order.
    for due in pending.into_values() {
        for l in &due {
            sink.emit(l)?;
        }
    }
    let stats = InferenceStats {
        lines: sink.lines,
        bytes: sink.bytes,
        crc32: sink.crc.sum(),
        duplicate_lines,
        bad_lines,
        bad_by_kind,
        spend,
    };
    Ok((stats, sink.w))
}

// ------------------------------------------------------------------------------------------------
// Config files
// ------------------------------------------------------------------------------------------------

fn write_principals(ctx: &Ctx, path: &Path) -> io::Result<()> {
    let mut w = BufWriter::with_capacity(WRITE_BUFFER, File::create(path)?);
    w.write_all(b"requester,group,cost_center\n")?;
    for (name, p) in ctx.catalog.requesters.iter().zip(&ctx.catalog.principals) {
        if let Some(p) = p {
            writeln!(w, "{name},{},CC-{}", group_name(p.group), p.cost_center)?;
        }
    }
    w.flush()
}

/// Rounds to two significant digits (budgets are round numbers), at least 1.00.
fn budget_amount(x: f64) -> String {
    if x.is_nan() || x < 1.0 {
        return "1.00".into();
    }
    let step = 10f64.powi(x.log10().floor() as i32 - 1);
    format!("{:.2}", ((x / step).round() * step).max(1.0))
}

/// Monthly budgets for the biggest groups and quarterly ones for the biggest cost centres, sized from
/// the spend actually generated times a factor in [0.7, 1.6), so some budgets are exceeded and
/// others are not.
fn budgets_csv(opts: &GenOptions, spend: &Spend) -> String {
    let mut rng = stream_rng(opts.seed, STREAM_BUDGETS);
    let days = f64::from(opts.days);
    let mut s = String::from("scope,name,period,amount,currency,thresholds\n");

    let mut groups: Vec<(usize, f64)> = spend.by_group.iter().copied().enumerate().collect();
    groups.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    for &(g, total) in groups.iter().take(GROUP_BUDGETS) {
        let factor = 0.7 + 0.9 * unit(&mut rng);
        let amount = budget_amount(total / days * DAYS_PER_MONTH * factor);
        s += &format!(
            "group,{},monthly,{amount},USD,50;80;100\n",
            group_name(g as u8)
        );
    }
    let mut centers: Vec<(usize, f64)> = spend.by_cost_center.iter().copied().enumerate().collect();
    centers.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    for &(slot, total) in centers.iter().take(COST_CENTER_BUDGETS) {
        let factor = 0.7 + 0.9 * unit(&mut rng);
        let amount = budget_amount(total / days * DAYS_PER_QUARTER * factor);
        s += &format!(
            "cost_center,CC-{},quarterly,{amount},USD,75;90;100\n",
            cost_center_of_slot(slot)
        );
    }
    s
}

/// One capacity pool per provisioned-throughput entity, on the endpoint that sends it the most traffic.
fn capacity_csv(opts: &GenOptions) -> io::Result<String> {
    let mut rng = stream_rng(opts.seed, STREAM_CAPACITY);
    let mut s = String::from(
        "pool,endpoint_name,served_entity_name,cost_per_hour,currency,effective_from,effective_to,owner_group\n",
    );
    let total_weight = |e: &Endpoint| e.models.iter().map(|(_, w)| f64::from(*w)).sum::<f64>();
    for e in ENTITIES
        .iter()
        .filter(|e| e.etype == EntityType::Provisioned)
    {
        let mut best: Option<(&str, f64)> = None;
        for ep in &ENDPOINTS {
            for &(m, w) in ep.models {
                let share = f64::from(ep.weight) * f64::from(w) / total_weight(ep);
                if m == e.name && best.is_none_or(|(_, s)| share > s) {
                    best = Some((ep.name, share));
                }
            }
        }
        let Some((endpoint, _)) = best else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{} is on no endpoint", e.name),
            ));
        };
        let cost_per_hour = match e.kind {
            Emb => "4.00",
            Small => "6.00",
            Large | Reason => "24.00",
        };
        let owner = GROUPS[rng.random_range(0..GROUPS.len())];
        s += &format!(
            "pool-{},{endpoint},{},{cost_per_hour},USD,{},,{owner}\n",
            e.name, e.name, opts.start
        );
    }
    Ok(s)
}

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

fn manifest_json(opts: &GenOptions, s: &GenSummary, stats: &InferenceStats) -> io::Result<String> {
    let files = s
        .files
        .iter()
        .map(|p| {
            Ok(ManifestFile {
                // relative to `out`, e.g. "config/prices.csv"
                name: p
                    .strip_prefix(&opts.out)
                    .unwrap_or(p)
                    .to_string_lossy()
                    .into_owned(),
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
            .map(|&k| ManifestBadKind {
                kind: k.name(),
                lines: stats.bad_by_kind[k as usize],
            })
            .collect(),
        files,
    };
    let mut json = serde_json::to_string_pretty(&m).map_err(io::Error::other)?;
    json.push('\n');
    Ok(json)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use std::collections::HashMap;
    use std::io::Read;

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> TempDir {
            let p =
                std::env::temp_dir().join(format!("tokenledger-gen-{}-{name}", std::process::id()));
            let _ = fs::remove_dir_all(&p);
            TempDir(p)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn small_opts(dir: &TempDir, rows: u64) -> GenOptions {
        let mut o = GenOptions::new(dir.0.clone());
        o.rows = rows;
        o.days = 7;
        o.users = 300;
        o
    }

    fn read(path: &Path) -> Vec<u8> {
        fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
    }

    fn split_lines(bytes: &[u8]) -> Vec<&[u8]> {
        assert!(bytes.ends_with(b"\n"), "file must end with a newline");
        bytes[..bytes.len() - 1].split(|&b| b == b'\n').collect()
    }

    fn expected_bad(bad_lines: u64, kind: BadKind) -> u64 {
        let n = BAD_KINDS.len() as u64;
        bad_lines / n + u64::from((kind as u64) < bad_lines % n)
    }

    const FIELDS: [&str; 21] = [
        "request_id",
        "client_request_id",
        "request_time",
        "endpoint_name",
        "served_entity_name",
        "served_entity_type",
        "provider",
        "requester",
        "status_code",
        "input_tokens",
        "output_tokens",
        "cached_input_tokens",
        "cache_creation_input_tokens",
        "reasoning_tokens",
        "execution_duration_ms",
        "request_streaming",
        "is_fallback",
        "guardrail_action",
        "usage_context",
        "request",
        "response",
    ];

    /// The top-level keys appear exactly in FIELDS order (serde_json's Value does not keep order).
    fn assert_field_order(line: &[u8]) {
        let text = std::str::from_utf8(line).expect("utf-8");
        let mut at = 0;
        for (i, f) in FIELDS.iter().enumerate() {
            let key = if i == 0 {
                format!("{{\"{f}\":")
            } else {
                format!(",\"{f}\":")
            };
            let pos = text[at..]
                .find(&key)
                .unwrap_or_else(|| panic!("{f} missing or out of order in {text}"));
            at += pos + key.len();
        }
    }

    #[test]
    fn same_options_give_same_bytes() {
        let (a, b, c) = (
            TempDir::new("det-a"),
            TempDir::new("det-b"),
            TempDir::new("det-c"),
        );
        let mut oa = small_opts(&a, 3000);
        oa.dup_rate = 0.02;
        oa.bad_rate = 0.01;
        let ob = GenOptions {
            out: b.0.clone(),
            ..oa.clone()
        };
        let sa = generate(&oa).expect("run a");
        let sb = generate(&ob).expect("run b");
        assert_eq!(sa.files.len(), 6);
        assert_eq!(sb.files.len(), sa.files.len());
        for (fa, fb) in sa.files.iter().zip(&sb.files) {
            assert_eq!(fa.file_name(), fb.file_name());
            assert!(
                read(fa) == read(fb),
                "{} differs between runs",
                fa.display()
            );
        }
        let oc = GenOptions {
            out: c.0.clone(),
            seed: oa.seed + 1,
            ..oa.clone()
        };
        generate(&oc).expect("run c");
        assert_ne!(
            read(&a.0.join("logs/inference.jsonl")),
            read(&c.0.join("logs/inference.jsonl"))
        );
    }

    #[test]
    fn counts_and_request_ids_add_up() {
        let dir = TempDir::new("counts");
        let mut o = small_opts(&dir, 5000);
        o.dup_rate = 0.02;
        o.bad_rate = 0.02;
        let s = generate(&o).expect("generate");
        let bytes = read(&dir.0.join("logs/inference.jsonl"));
        let lines = split_lines(&bytes);
        assert_eq!(lines.len() as u64, s.lines);
        assert_eq!(s.lines, s.unique_rows + s.duplicate_lines + s.bad_lines);
        assert_eq!(s.uncompressed_bytes, bytes.len() as u64);
        assert_eq!(s.unique_rows, 5000);
        assert!(s.duplicate_lines > 0 && s.bad_lines >= 9);

        let (mut truncated, mut bad_utf8, mut missing_id, mut dups, mut conflicts) =
            (0u64, 0, 0, 0, 0);
        let mut first: HashMap<String, &[u8]> = HashMap::new();
        for line in &lines {
            let v: Value = match serde_json::from_slice(line) {
                Ok(v) => v,
                Err(_) if std::str::from_utf8(line).is_err() => {
                    bad_utf8 += 1;
                    continue;
                }
                Err(_) => {
                    truncated += 1;
                    continue;
                }
            };
            let Some(id) = v.get("request_id").and_then(Value::as_str) else {
                missing_id += 1;
                continue;
            };
            assert_field_order(line);
            match first.get(id) {
                None => {
                    first.insert(id.to_string(), line);
                }
                Some(prev) if prev == line => dups += 1,
                Some(_) => conflicts += 1,
            }
        }
        assert_eq!(truncated, expected_bad(s.bad_lines, BadKind::TruncatedJson));
        assert_eq!(bad_utf8, expected_bad(s.bad_lines, BadKind::InvalidUtf8));
        assert_eq!(
            missing_id,
            expected_bad(s.bad_lines, BadKind::MissingRequestId)
        );
        assert_eq!(conflicts, s.conflict_lines);
        assert_eq!(conflicts, expected_bad(s.bad_lines, BadKind::Conflict));
        assert_eq!(dups, s.duplicate_lines);
        // Every valid request and every parseable bad line other than conflicts has its own id.
        assert_eq!(
            first.len() as u64,
            s.unique_rows + s.bad_lines - s.conflict_lines - missing_id - truncated - bad_utf8
        );

        let manifest: Value =
            serde_json::from_slice(&read(&dir.0.join("manifest.json"))).expect("manifest");
        assert_eq!(manifest["lines"], s.lines);
        assert_eq!(manifest["bad_lines"], s.bad_lines);
        for f in manifest["files"].as_array().expect("files") {
            let name = f["name"].as_str().expect("name");
            assert_eq!(f["bytes"], read(&dir.0.join(name)).len() as u64, "{name}");
        }
    }

    #[test]
    fn valid_lines_keep_the_token_invariants() {
        let dir = TempDir::new("tokens");
        let mut o = small_opts(&dir, 20_000);
        o.dup_rate = 0.01;
        let s = generate(&o).expect("generate");
        let bytes = read(&dir.0.join("logs/inference.jsonl"));
        let start = o.start.and_hms_opt(0, 0, 0).expect("midnight");
        let end = start + chrono::Duration::days(i64::from(o.days));
        let mut status_counts: HashMap<i64, u64> = HashMap::new();
        let mut per_requester: HashMap<String, u64> = HashMap::new();
        let (mut blocked, mut cache_writes, mut reasoning) = (0u64, 0u64, 0u64);
        let mut last_completion = start;
        let mut seen = std::collections::HashSet::new();
        for line in split_lines(&bytes) {
            let v: Value = serde_json::from_slice(line).expect("valid line parses");
            assert_field_order(line);
            let status = v["status_code"].as_i64().expect("status");
            *status_counts.entry(status).or_default() += 1;
            *per_requester
                .entry(v["requester"].as_str().expect("requester").to_string())
                .or_default() += 1;
            let entity = &ENTITIES
                [entity_index(v["served_entity_name"].as_str().expect("entity")).expect("known")];
            assert_eq!(v["served_entity_type"], entity.etype.as_str());
            assert_eq!(v["provider"], entity.provider);
            let is_blocked = v["guardrail_action"] == "BLOCKED";
            assert!(is_blocked || v["guardrail_action"].is_null());
            if is_blocked {
                blocked += 1;
                assert_eq!(status, 400);
            }
            let tok = |f: &str| v[f].as_i64();
            let names = [
                "input_tokens",
                "output_tokens",
                "cached_input_tokens",
                "cache_creation_input_tokens",
                "reasoning_tokens",
            ];
            let should_be_null = status == 429 || status == 400;
            for f in names {
                assert_eq!(
                    v[f].is_null(),
                    should_be_null,
                    "{f} for status {status}: {v}"
                );
            }
            if !should_be_null {
                let (input, output) = (
                    tok("input_tokens").expect("in"),
                    tok("output_tokens").expect("out"),
                );
                let (cached, written) = (
                    tok("cached_input_tokens").expect("c"),
                    tok("cache_creation_input_tokens").expect("w"),
                );
                let reason = tok("reasoning_tokens").expect("r");
                assert!(input >= 1 && output >= 0 && cached >= 0 && written >= 0 && reason >= 0);
                assert!(cached + written <= input, "{v}");
                assert!(reason <= output, "{v}");
                assert_eq!(cached % CACHE_BLOCK, 0);
                assert_eq!(written % CACHE_BLOCK, 0);
                if status >= 500 {
                    assert_eq!((output, cached, written, reason), (0, 0, 0, 0));
                }
                if written > 0 {
                    cache_writes += 1;
                    assert!(bills_cache_writes(entity) && status == 200);
                }
                if reason > 0 {
                    reasoning += 1;
                    assert_eq!(entity.kind, Kind::Reason);
                }
                if entity.kind == Kind::Emb {
                    assert_eq!(output, 0);
                }
            }
            if entity.kind == Kind::Emb {
                assert_eq!(v["request_streaming"], false);
            }
            let t = chrono::NaiveDateTime::parse_from_str(
                v["request_time"].as_str().expect("time"),
                "%Y-%m-%dT%H:%M:%S%.3fZ",
            )
            .expect("request_time parses");
            assert!(t >= start && t < end);
            // Requests are written in completion order (start + duration), apart from duplicates and
            // the requests whose start was clamped to the start of the range.
            let done =
                t + chrono::Duration::milliseconds(tok("execution_duration_ms").expect("duration"));
            let first_time = seen.insert(v["request_id"].as_str().expect("id").to_string());
            if first_time && t > start {
                assert!(done >= last_completion, "out of completion order: {v}");
                last_completion = done;
            }
            match &v["usage_context"] {
                Value::Null => {}
                Value::Object(m) => {
                    assert!(m["project"].is_string());
                    assert!(
                        m.len() == 1
                            || m["cost_center"]
                                .as_str()
                                .is_some_and(|c| c.starts_with("CC-"))
                    );
                }
                other => panic!("usage_context {other}"),
            }
            for f in ["request", "response"] {
                let doc = v[f].as_str().expect("payload string");
                serde_json::from_str::<Value>(doc)
                    .unwrap_or_else(|e| panic!("{f} is not JSON ({e}): {doc}"));
            }
        }
        let n = s.lines as f64;
        let share = |status: i64| status_counts.get(&status).copied().unwrap_or(0) as f64 / n;
        assert!(
            (0.955..0.975).contains(&share(200)),
            "200 share {}",
            share(200)
        );
        assert!(
            (0.015..0.025).contains(&share(429)),
            "429 share {}",
            share(429)
        );
        assert!(blocked > 0 && cache_writes > 0 && reasoning > 0);
        let top = per_requester.values().max().copied().unwrap_or(0) as f64 / n;
        assert!((0.02..0.09).contains(&top), "top requester share {top}");
    }

    #[test]
    fn gzip_decompresses_to_the_plain_bytes() {
        let (plain, gz) = (TempDir::new("plain"), TempDir::new("gz"));
        let o = small_opts(&plain, 3000);
        let og = GenOptions {
            out: gz.0.clone(),
            gzip: true,
            ..o.clone()
        };
        let sp = generate(&o).expect("plain");
        let sg = generate(&og).expect("gzip");
        assert!(!gz.0.join("logs/inference.jsonl").exists());
        let mut unzipped = Vec::new();
        flate2::read::GzDecoder::new(File::open(gz.0.join("logs/inference.jsonl.gz")).expect("open"))
            .read_to_end(&mut unzipped)
            .expect("gunzip");
        assert!(unzipped == read(&plain.0.join("logs/inference.jsonl")));
        assert_eq!(sp.uncompressed_bytes, sg.uncompressed_bytes);
        assert_eq!(sp.lines, sg.lines);
    }

    #[test]
    fn every_bad_kind_appears() {
        let dir = TempDir::new("bad");
        let mut o = small_opts(&dir, 2000);
        o.bad_rate = 0.05;
        let s = generate(&o).expect("generate");
        assert!(s.bad_lines >= 9, "{s:?}");
        let bytes = read(&dir.0.join("logs/inference.jsonl"));
        let mut seen = [0u64; 9];
        let mut ids: HashMap<String, Vec<u8>> = HashMap::new();
        for line in split_lines(&bytes) {
            if line.windows(2).any(|w| w == BAD_UTF8) {
                seen[BadKind::InvalidUtf8 as usize] += 1;
                continue;
            }
            let Ok(v) = serde_json::from_slice::<Value>(line) else {
                seen[BadKind::TruncatedJson as usize] += 1;
                continue;
            };
            let Some(id) = v.get("request_id").and_then(Value::as_str) else {
                seen[BadKind::MissingRequestId as usize] += 1;
                continue;
            };
            if ids.get(id).is_some_and(|prev| prev != line) {
                seen[BadKind::Conflict as usize] += 1;
            }
            ids.entry(id.to_string()).or_insert_with(|| line.to_vec());
            if v["output_tokens"] == -5 {
                seen[BadKind::NegativeOutputTokens as usize] += 1;
            }
            if v["request_time"] == BAD_REQUEST_TIME {
                seen[BadKind::BadRequestTime as usize] += 1;
            }
            if v["status_code"] == 700 {
                seen[BadKind::Status700 as usize] += 1;
            }
            if v["input_tokens"] == "lots" {
                seen[BadKind::InputTokensString as usize] += 1;
            }
            if let (Some(c), Some(i)) = (
                v["cached_input_tokens"].as_i64(),
                v["input_tokens"].as_i64(),
            ) && c > i
            {
                seen[BadKind::CachedAboveInput as usize] += 1;
            }
        }
        for kind in BAD_KINDS {
            assert!(seen[kind as usize] >= 1, "{kind:?} missing");
            assert_eq!(
                seen[kind as usize],
                expected_bad(s.bad_lines, kind),
                "{kind:?}"
            );
        }
    }

    #[test]
    fn bad_lines_are_only_added() {
        let (clean, dirty) = (TempDir::new("clean"), TempDir::new("dirty"));
        let mut o = small_opts(&clean, 3000);
        o.dup_rate = 0.01;
        let od = GenOptions {
            out: dirty.0.clone(),
            bad_rate: 0.03,
            ..o.clone()
        };
        generate(&o).expect("clean");
        let s = generate(&od).expect("dirty");
        let (a, b) = (
            read(&clean.0.join("logs/inference.jsonl")),
            read(&dirty.0.join("logs/inference.jsonl")),
        );
        let (a, b) = (split_lines(&a), split_lines(&b));
        assert_eq!(b.len() - a.len(), s.bad_lines as usize);
        // The clean file is a subsequence of the dirty one.
        let mut rest = a.iter().peekable();
        for line in &b {
            if rest.peek() == Some(&line) {
                rest.next();
            }
        }
        assert!(rest.next().is_none());
    }

    #[test]
    fn payload_size_follows_the_option() {
        let (none, big) = (TempDir::new("pay0"), TempDir::new("pay2k"));
        let o = GenOptions {
            payload_bytes: 0,
            ..small_opts(&none, 500)
        };
        let s0 = generate(&o).expect("no payload");
        let bytes = read(&none.0.join("logs/inference.jsonl"));
        for line in split_lines(&bytes) {
            let v: Value = serde_json::from_slice(line).expect("parse");
            assert!(v["request"].is_null() && v["response"].is_null());
        }
        let s2 = generate(&GenOptions {
            payload_bytes: 2000,
            out: big.0.clone(),
            ..o
        })
        .expect("2 KB payload");
        let per_line = |s: &GenSummary| s.uncompressed_bytes as f64 / s.lines as f64;
        let extra = per_line(&s2) - per_line(&s0);
        assert!(
            (1000.0..2600.0).contains(&extra),
            "2 KB payloads add {extra} B per line"
        );
    }

    #[test]
    fn invalid_options_are_rejected() {
        let dir = TempDir::new("invalid");
        let base = small_opts(&dir, 10);
        let cases = [
            GenOptions {
                rows: 0,
                ..base.clone()
            },
            GenOptions {
                days: 0,
                ..base.clone()
            },
            GenOptions {
                days: MAX_DAYS + 1,
                ..base.clone()
            },
            GenOptions {
                users: 0,
                ..base.clone()
            },
            GenOptions {
                payload_bytes: MAX_PAYLOAD_BYTES + 1,
                ..base.clone()
            },
            GenOptions {
                dup_rate: f64::NAN,
                ..base.clone()
            },
            GenOptions {
                dup_rate: -0.1,
                ..base.clone()
            },
            GenOptions {
                bad_rate: 1.5,
                ..base.clone()
            },
            GenOptions {
                start: NaiveDate::from_ymd_opt(1960, 1, 1).expect("date"),
                ..base.clone()
            },
            GenOptions {
                start: NaiveDate::from_ymd_opt(9999, 12, 1).expect("date"),
                ..base.clone()
            },
        ];
        for o in cases {
            let err = generate(&o).expect_err("must be rejected");
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
            assert!(!err.to_string().is_empty());
        }
        assert!(!dir.0.exists(), "nothing is written for invalid options");
        // Extreme but valid options work.
        let o = GenOptions {
            rows: 1,
            days: 1,
            users: 1,
            dup_rate: 1.0,
            bad_rate: 1.0,
            ..base
        };
        let s = generate(&o).expect("tiny run");
        assert_eq!(
            (s.unique_rows, s.duplicate_lines, s.bad_lines, s.lines),
            (1, 1, 1, 3)
        );
    }

    #[test]
    fn config_files_have_the_agreed_shape() {
        let dir = TempDir::new("config");
        let o = small_opts(&dir, 2000);
        generate(&o).expect("generate");
        let text =
            |name: &str| String::from_utf8(read(&dir.0.join("config").join(name))).expect("utf-8 csv");
        for name in [
            "prices.csv",
            "principals.csv",
            "budgets.csv",
            "capacity.csv",
        ] {
            let t = text(name);
            assert!(
                t.ends_with('\n') && !t.contains('\r') && !t.contains('#'),
                "{name}"
            );
        }

        let prices = text("prices.csv");
        let rows: Vec<Vec<&str>> = prices.lines().map(|l| l.split(',').collect()).collect();
        assert_eq!(
            rows[0].join(","),
            "served_entity_name,effective_from,currency,input_price_per_1m,cached_input_price_per_1m,\
             output_price_per_1m,cache_write_price_per_1m,pricing_mode,retires_on"
        );
        assert_eq!(rows.len(), 1 + ENTITIES.len() + PRICE_CHANGES.len() + 1);
        assert!(rows[1..].iter().all(|r| r.len() == 9 && r[2] == "USD"));
        let keys: Vec<(&str, &str)> = rows[1..].iter().map(|r| (r[0], r[1])).collect();
        assert!(
            keys.windows(2).all(|w| w[0] < w[1]),
            "sorted by (name, effective_from)"
        );
        let row =
            |name: &str, from: &str| rows.iter().find(|r| r[0] == name && r[1] == from).cloned();
        assert_eq!(
            row("claude-3-5-sonnet", "2023-11-28").expect("base")[6],
            "3.75"
        );
        assert_eq!(
            row("claude-3-5-sonnet", "2025-01-05").expect("change")[6],
            "3.375"
        );
        assert_eq!(row("gpt-4o", "2023-11-28").expect("base")[6], "");
        assert_eq!(
            row("gpt-4o-mini", "2025-02-07").expect("future price")[3],
            "0.12"
        );
        assert_eq!(row("o1", "2023-11-28").expect("o1")[8], "2025-02-22");
        assert_eq!(
            row("llama-3-70b-pt", "2023-11-28").expect("pt")[7],
            "provisioned"
        );
        assert_eq!(
            row("gemini-1-5-pro", "2023-11-28").expect("gemini")[4],
            "0.3125"
        );

        let principals = text("principals.csv");
        let mut lines = principals.lines();
        assert_eq!(lines.next(), Some("requester,group,cost_center"));
        let n = lines.clone().count();
        assert!(n > 280 && n < 312, "{n} principals");
        assert!(lines.all(|l| l.split(',').count() == 3 && l.contains(",CC-")));

        let budgets = text("budgets.csv");
        let rows: Vec<Vec<&str>> = budgets.lines().map(|l| l.split(',').collect()).collect();
        assert_eq!(
            rows[0].join(","),
            "scope,name,period,amount,currency,thresholds"
        );
        assert_eq!(rows.len(), 1 + GROUP_BUDGETS + COST_CENTER_BUDGETS);
        assert!(
            rows[1..=GROUP_BUDGETS]
                .iter()
                .all(|r| r[0] == "group" && r[2] == "monthly")
        );
        assert!(
            rows[GROUP_BUDGETS + 1..]
                .iter()
                .all(|r| r[0] == "cost_center" && r[2] == "quarterly")
        );
        assert!(
            rows[1..]
                .iter()
                .all(|r| r[3].parse::<f64>().is_ok_and(|a| a >= 1.0) && r[4] == "USD")
        );

        let capacity = text("capacity.csv");
        let rows: Vec<Vec<&str>> = capacity.lines().map(|l| l.split(',').collect()).collect();
        assert_eq!(
            rows[0].join(","),
            "pool,endpoint_name,served_entity_name,cost_per_hour,currency,effective_from,effective_to,owner_group"
        );
        let pt = ENTITIES
            .iter()
            .filter(|e| e.etype == EntityType::Provisioned)
            .count();
        assert_eq!(rows.len(), 1 + pt);
        for r in &rows[1..] {
            let e = &ENTITIES[entity_index(r[2]).expect("entity")];
            assert_eq!(e.etype, EntityType::Provisioned);
            assert!(
                ENDPOINTS
                    .iter()
                    .any(|ep| ep.name == r[1] && ep.models.iter().any(|(m, _)| *m == r[2]))
            );
            assert!(GROUPS.contains(&r[7]) && r[5] == "2025-01-01" && r[6].is_empty());
        }
    }

    #[test]
    fn cache_write_prices_are_exact() {
        assert_eq!(times_five_quarters("3.00").expect("3"), "3.75");
        assert_eq!(times_five_quarters("2.70").expect("2.7"), "3.375");
        assert_eq!(times_five_quarters("0.80").expect("0.8"), "1.00");
        assert_eq!(times_five_quarters("15.00").expect("15"), "18.75");
        assert_eq!(times_five_quarters("0.075").expect("0.075"), "0.09375");
        assert_eq!(times_five_quarters("4").expect("4"), "5.00");
        assert!(times_five_quarters("-1").is_err() && times_five_quarters("").is_err());
    }
}
