//! Limits and tuning constants: the bounds `validate` enforces, the shape of the generated traffic
//! (mixes, rates, skews) and the ids of the random streams.

/// 2: prompts sized by the endpoint's workload, few pools busy in working hours, budgets placed.
pub(super) const GENERATOR_VERSION: u32 = 2;
/// Rows per random stream (see the module docs on determinism).
pub(super) const CHUNK_ROWS: u64 = 65_536;
pub(super) const MAX_DAYS: u32 = 36_600;
pub(super) const MAX_USERS: u32 = 10_000_000;
pub(super) const MAX_PAYLOAD_BYTES: usize = 1_000_000;
pub(super) const MS_PER_HOUR: i64 = 3_600_000;

/// Number of service principals appended to the users; half of them are missing from principals.csv.
pub(super) const SERVICE_PRINCIPALS: usize = 12;
pub(super) const SERVICE_GROUP: &str = "svc-batch-jobs";
pub(super) const SERVICE_COST_CENTER: u16 = 9000;
/// Cost centres are `CC-1000` .. `CC-1021`; groups share them round-robin.
pub(super) const COST_CENTERS: u16 = 22;
pub(super) const FIRST_COST_CENTER: u16 = 1000;
/// Share of users missing from the HR extract (they end up `unassigned` in a chargeback).
pub(super) const MISSING_USER_RATE: f64 = 0.01;
/// Share of users whose cost centre is not their group's.
pub(super) const OTHER_COST_CENTER_RATE: f64 = 0.05;
/// Group sizes fall off as 1 / (rank + 1)^GROUP_SKEW.
pub(super) const GROUP_SKEW: f64 = 0.8;
/// Zipf–Mandelbrot requester weights 1 / (rank + q)^s: top requester ≈ 4 %, tail ≈ 1e-5.
pub(super) const ZIPF_Q: f64 = 6.0;
pub(super) const ZIPF_S: f64 = 1.2;
/// Share of a requester's calls that go to their favourite endpoint.
pub(super) const FAVOURITE_ENDPOINT_SHARE: f64 = 0.7;

pub(super) const WEEKEND_FACTOR: f64 = 0.35;
/// Traffic grows linearly by this fraction from the first to the last hour.
pub(super) const GROWTH_OVER_RANGE: f64 = 0.5;

/// Cumulative status mix: 200 96.6 %, 429 2 %, 400 0.5 % (of which 0.3 points are guardrail blocks),
/// 500 0.5 %, 503 0.4 %. Blocks are a subset of the 400s so the overall status mix stays as specified.
pub(super) const STATUS_MIX: [(f64, u16, bool); 6] = [
    (0.966, 200, false),
    (0.986, 429, false),
    (0.989, 400, true),
    (0.991, 400, false),
    (0.996, 500, false),
    (1.0, 503, false),
];
/// Share of 200s on endpoints with a fallback that the fallback entity served.
pub(super) const FALLBACK_RATE: f64 = 0.02;
pub(super) const STREAMING_RATE: f64 = 0.4;
pub(super) const NULL_CLIENT_ID_RATE: f64 = 0.55;
/// usage_context: null below the first bound, project only below the second, else project + cost centre.
pub(super) const USAGE_NULL_BELOW: f64 = 0.25;
pub(super) const USAGE_PROJECT_ONLY_BELOW: f64 = 0.55;
/// Share of usage contexts that name the requester's usual project.
pub(super) const USUAL_PROJECT_SHARE: f64 = 0.8;

/// Spread (σ of the lognormal) of a prompt around its endpoint's median.
pub(super) const PROMPT_SIGMA: f64 = 1.0;
/// A reasoning model's output (its reasoning included) is this many times a chat model's.
pub(super) const REASONING_OUTPUT_STRETCH: f64 = 6.0;
/// Share of the requests to a pool's endpoint outside working hours that go to another endpoint.
pub(super) const OFF_HOURS_POOLED_MOVED: f64 = 0.85;

/// Prompt caching works in blocks of this many tokens (OpenAI and Anthropic both use 128-ish blocks).
pub(super) const CACHE_BLOCK: i64 = 128;
pub(super) const CACHE_READ_MIN_INPUT: i64 = 1024;
pub(super) const CACHE_READ_RATE: f64 = 0.35;
pub(super) const CACHE_WRITE_RATE: f64 = 0.15;
pub(super) const MAX_INPUT_TOKENS: i64 = 200_000;
pub(super) const MAX_EMBEDDING_INPUT_TOKENS: i64 = 8191;
pub(super) const MAX_OUTPUT_TOKENS: i64 = 32_768;
/// 503s that are gateway timeouts (60 s plus a little) rather than fast failures.
pub(super) const TIMEOUT_503_RATE: f64 = 0.3;
pub(super) const GATEWAY_TIMEOUT_MS: i64 = 60_000;

/// Duplicates are re-emitted 1..=MAX_DUP_DELAY unique lines later.
pub(super) const MAX_DUP_DELAY: u64 = 2000;
/// The JSON around the request and response text of a status-200 chat line is about this long.
pub(super) const PAYLOAD_OVERHEAD: usize = 160;
pub(super) const MIN_PAYLOAD_TEXT: usize = 8;
pub(super) const CORPUS_MIN_BYTES: usize = 1_200_000;
/// Slack at the end of the corpus so a text slice can always be extended to a word boundary.
pub(super) const CORPUS_SLACK: usize = 1024;

/// The base price row of every entity is dated this many days before the start.
pub(super) const BASE_PRICE_LEAD_DAYS: u64 = 400;
/// The future-dated price that must never apply inside the range.
pub(super) const FUTURE_PRICE_AFTER_END_DAYS: u64 = 30;
pub(super) const FUTURE_PRICE: (&str, &str, &str, &str) = ("gpt-4o-mini", "0.12", "0.06", "0.48");
/// Entities with a `retires_on` date (this many days after the end of the range).
pub(super) const RETIRING: [&str; 2] = ["claude-3-opus", "o1"];
pub(super) const RETIRE_AFTER_END_DAYS: u64 = 45;

pub(super) const GROUP_BUDGETS: usize = 10;
pub(super) const COST_CENTER_BUDGETS: usize = 2;
/// Budgets are placed by construction: each is the group's (or cost centre's) charged cost per
/// day, over its period, divided by the share of it the budget should show as used. By spend
/// rank: one group over budget, one past the 80 % warning, the others comfortably under (below
/// 50 %, so no threshold at all); amounts round to two significant digits, which moves a share
/// by at most 5 % of itself, so each stays on its side of the thresholds.
pub(super) const BUDGET_OVER: (usize, f64) = (1, 1.12);
pub(super) const BUDGET_WARNING: (usize, f64) = (3, 0.88);
pub(super) const BUDGET_COMFORTABLE: (f64, f64) = (0.25, 0.45);
/// Quarterly cost-centre budgets, by spend rank: the share of the budget the quarter's forecast
/// reaches (the first past the 90 % threshold, still under the budget).
pub(super) const COST_CENTER_FORECAST_USE: [f64; COST_CENTER_BUDGETS] = [0.93, 0.6];
/// Hours of pool traffic kept open before they are split: a line is written at completion, so a
/// request's start hour trails the newest line by its duration (minutes, at most a few hours).
pub(super) const POOL_RING_HOURS: usize = 64;

// Random stream ids (ChaCha8 stream numbers). Chunk streams add the chunk index to their base.
pub(super) const STREAM_CATALOG: u64 = 1;
pub(super) const STREAM_CORPUS: u64 = 2;
pub(super) const STREAM_DUPS: u64 = 3;
pub(super) const STREAM_BAD: u64 = 4;
pub(super) const STREAM_BUDGETS: u64 = 5;
pub(super) const STREAM_ROWS: u64 = 1 << 40;
pub(super) const STREAM_PAYLOAD: u64 = 2 << 40;

/// Capacity of the `BufWriter`s the inference log and principals.csv are written through.
pub(super) const WRITE_BUFFER: usize = 1 << 20;
