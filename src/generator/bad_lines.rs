//! The deliberately bad lines mixed in when `bad_rate > 0`.

use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::context::Ctx;
use super::limits::CACHE_BLOCK;
use super::render::{Flaw, render};
use super::request::{Record, gen_record};
/// The deliberately bad lines, emitted in this order, cycling. Apart from `Conflict` (an earlier
/// line's request_id) and `MissingRequestId`, each carries a fresh unique request_id. Each is built
/// from a fresh status-200 request.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum BadKind {
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

pub(super) const BAD_KINDS: [BadKind; 9] = [
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
    pub(super) fn name(self) -> &'static str {
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
pub(super) fn render_bad(
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
