//! One request: the record of a single gateway call, drawn from the context.

use rand::{Rng, RngCore};
use rand_chacha::ChaCha8Rng;

use super::catalog::{BATCH_JOB, ENTITIES, Kind};
use super::context::Ctx;
use super::limits::{
    CACHE_BLOCK, CACHE_READ_MIN_INPUT, CACHE_READ_RATE, CACHE_WRITE_RATE, CORPUS_SLACK, COST_CENTERS, FALLBACK_RATE,
    FAVOURITE_ENDPOINT_SHARE, FIRST_COST_CENTER, GATEWAY_TIMEOUT_MS, MAX_EMBEDDING_INPUT_TOKENS, MAX_INPUT_TOKENS,
    MAX_OUTPUT_TOKENS, MIN_PAYLOAD_TEXT, NULL_CLIENT_ID_RATE, OFF_HOURS_POOLED_MOVED, PAYLOAD_OVERHEAD, PROMPT_SIGMA,
    REASONING_OUTPUT_STRETCH, STATUS_MIX, STREAMING_RATE, TIMEOUT_503_RATE, USAGE_NULL_BELOW, USAGE_PROJECT_ONLY_BELOW,
    USUAL_PROJECT_SHARE,
};
use super::random::{lognormal, pick, unit, uuid_v4};
use Kind::{Emb, Large, Reason, Small};
/// Token fields of one line. Signed so that a bad line can carry a negative count.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Tokens {
    /// Total input, including `cached` and `cache_write` (OpenAI-style totals).
    pub(super) input: i64,
    /// Total output, including `reasoning`.
    pub(super) output: i64,
    pub(super) cached: i64,
    pub(super) cache_write: i64,
    pub(super) reasoning: i64,
}

#[derive(Clone, Copy, Debug)]
pub(super) enum UsageContext {
    Null,
    Project(u16),
    ProjectAndCostCenter(u16, u16),
}

/// Byte ranges of the corpus used as request and response text.
#[derive(Clone, Copy, Debug)]
pub(super) struct Payload {
    pub(super) request: (u32, u32),
    pub(super) response: Option<(u32, u32)>,
}

#[derive(Clone, Copy, Debug)]
pub(super) struct Record {
    pub(super) id: u128,
    pub(super) client_id: Option<u64>,
    /// Request start, ms after the start of the range.
    pub(super) start_ms: i64,
    pub(super) endpoint: u8,
    pub(super) entity: u16,
    pub(super) requester: u32,
    pub(super) status: u16,
    pub(super) guardrail_blocked: bool,
    /// `None` for 429 and 400: the gateway never reached the model.
    pub(super) tokens: Option<Tokens>,
    pub(super) duration_ms: i64,
    pub(super) streaming: bool,
    pub(super) fallback: bool,
    pub(super) usage: UsageContext,
    /// `None` when payload_bytes is 0.
    pub(super) payload: Option<Payload>,
}

fn draw_status(u: f64) -> (u16, bool) {
    STATUS_MIX.iter().find(|(bound, _, _)| u < *bound).map_or((503, false), |&(_, s, b)| (s, b))
}

/// What the model would have consumed and produced; the status decides how much of it is logged.
/// The prompt's size comes from the endpoint's workload (`prompt_mu`), the output's from the model;
/// the batch job's documents and answers from `BATCH_JOB`.
fn draw_tokens(rng: &mut ChaCha8Rng, ctx: &Ctx, entity: usize, prompt_mu: f64, batch: bool) -> Tokens {
    let kind = ENTITIES[entity].kind;
    let (input, output) = if kind == Emb {
        ((lognormal(rng, 5.7, 1.0) as i64).clamp(1, MAX_EMBEDDING_INPUT_TOKENS), 0)
    } else if batch {
        let (input, output) = (BATCH_JOB.input, BATCH_JOB.output);
        (
            (lognormal(rng, input.0.ln(), input.1) as i64).clamp(1, BATCH_JOB.max_input),
            (lognormal(rng, output.0.ln(), output.1) as i64).clamp(1, BATCH_JOB.max_output),
        )
    } else {
        let input = (lognormal(rng, prompt_mu, PROMPT_SIGMA) as i64).clamp(1, MAX_INPUT_TOKENS);
        let stretch = if kind == Reason { REASONING_OUTPUT_STRETCH } else { 1.0 };
        (input, ((lognormal(rng, 5.2, 1.1) * stretch) as i64).clamp(1, MAX_OUTPUT_TOKENS))
    };
    let mut t = Tokens { input, output, ..Tokens::default() };
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
    let budget = ctx.payload_bytes.saturating_sub(PAYLOAD_OVERHEAD).max(MIN_PAYLOAD_TEXT) as f64;
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
pub(super) fn gen_record(
    ctx: &Ctx,
    rng: &mut ChaCha8Rng,
    text_rng: &mut ChaCha8Rng,
    done_ms: i64,
    force_ok: bool,
) -> Record {
    let cat = &ctx.catalog;
    let batch = unit(rng) < ctx.batch_share_at(done_ms);
    let mut requester = pick(&cat.req_cum, unit(rng));
    let mut endpoint = if unit(rng) < FAVOURITE_ENDPOINT_SHARE {
        usize::from(cat.favourite[requester])
    } else {
        pick(&ctx.ep_cum, unit(rng))
    };
    // The pools' endpoints serve people at work: at night and at weekends most of their callers
    // are elsewhere, so the pools sit idle for hours, as real ones do.
    if ctx.pooled_endpoint[endpoint] && !ctx.is_business_hour(done_ms) && unit(rng) < OFF_HOURS_POOLED_MOVED {
        endpoint = pick(&ctx.unpooled_ep_cum, unit(rng));
    }
    if batch {
        (requester, endpoint) = (ctx.batch_requester, ctx.batch_endpoint);
    }
    let ep = &ctx.endpoints[endpoint];
    let mut entity = ep.models[pick(&ep.cum, unit(rng))];
    let (status, guardrail_blocked) = if force_ok { (200, false) } else { draw_status(unit(rng)) };
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
    let drawn = draw_tokens(rng, ctx, usize::from(entity), ep.prompt_mu, batch);
    let tokens = match status {
        200 => Some(drawn),
        429 | 400 => None,
        // Server errors: the prompt was processed (and is billed by some providers), nothing came back.
        _ => Some(Tokens { input: drawn.input, ..Tokens::default() }),
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
