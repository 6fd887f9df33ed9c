//! Rendering a record as one JSON line, without serde: the field order and bytes are fixed.

use super::catalog::Kind::Emb;
use super::catalog::{ENDPOINTS, ENTITIES};
use super::context::Ctx;
use super::limits::MS_PER_HOUR;
use super::request::{Record, UsageContext};
const HEX: &[u8; 16] = b"0123456789abcdef";

fn push_hex(buf: &mut Vec<u8>, v: u128, digits: u32) {
    for i in (0..digits).rev() {
        buf.push(HEX[((v >> (4 * i)) & 0xf) as usize]);
    }
}

pub(super) fn push_uuid(buf: &mut Vec<u8>, id: u128) {
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
pub(super) enum Flaw {
    None,
    NoRequestId,
    BadRequestTime,
    InputTokensAsString,
    InvalidUtf8Requester,
}

/// A request_time that no date parser accepts.
pub(super) const BAD_REQUEST_TIME: &str = "2025-13-45T99:00:00Z";
pub(super) const BAD_UTF8: [u8; 2] = [0xff, 0xfe];

/// Writes one JSON line (with its `\n`). Every string written here is either from the catalog or
/// pre-escaped corpus text, so no escaping is needed; the tests parse every line with serde_json.
pub(super) fn render(ctx: &Ctx, r: &Record, flaw: Flaw, buf: &mut Vec<u8>) {
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
    buf.extend_from_slice(if r.streaming { b",\"request_streaming\":true" } else { b",\"request_streaming\":false" });
    buf.extend_from_slice(if r.fallback { b",\"is_fallback\":true" } else { b",\"is_fallback\":false" });
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
            buf.extend_from_slice(br#"{\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":\""#);
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
                400 if r.guardrail_blocked => ("GUARDRAIL_BLOCKED", "input blocked by safety guardrail"),
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
