//! Databricks' Unity AI Gateway tables, as a `SELECT *` downloads them (CSV, JSON lines or
//! Parquet; structs and maps as nested values or as JSON text):
//! - `system.ai_gateway.usage`, one row per request the gateway served: endpoint, destination
//!   (the served entity), requester and requester type, request tags, token counts, latency,
//!   the routing attempts and the service tier;
//! - the gateway's payload (inference) tables, `<endpoint>_payload`: the logged request and
//!   response of a sample of requests, joined to the usage rows by `request_id`.
//!
//! Unlike the legacy tables, both name the destination themselves: no served_entities export
//! is needed.
//!
//! Token counts (Databricks documents the columns, not whether `input_tokens` counts the
//! cache): `input_tokens` is the whole prompt, cache reads and cache writes included, as in the
//! OpenAI-compatible responses the gateway returns (`usage.prompt_tokens`), and `total_tokens`
//! is `input_tokens + output_tokens`. Databricks' own usage dashboards compute the cache-hit
//! share as `token_details.cache_read_input_tokens / input_tokens`, which only holds under that
//! reading. `output_tokens` includes `token_details.output_reasoning_tokens`. The unit test
//! below pins the rule on such a row, and the golden fixtures of `tests/data/gateway/`
//! (written by `scripts/gateway_fixtures.py`, an independent implementation) hold it row by row.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::Parsed;
use super::databricks::{is_empty_map, payload_tokens};
use super::native::{LineScratch, Loose};
use crate::ingest::usage::TokenStyle;
use crate::ingest::validate::{RawRecord, ReasonCode, Reject, Typing, Val, trim, validate};

/// One row of `system.ai_gateway.usage`.
///
/// A request the gateway retried on another destination (`routing_information.attempts`, more
/// than one) becomes one row per attempt: the failed ones (`<request_id>#attempt-<k>`, no
/// tokens, their own destination, status and latency) and the one that answered
/// (`is_fallback`, `attempt` = the number of attempts). So a 429 from the first destination is
/// a 429 in the rate-limit measures, on the destination that gave it.
pub fn parse_usage_line<'a>(
    line: &'a [u8],
    typing: Typing,
    scratch: &'a mut LineScratch,
) -> Result<Parsed<'a>, Reject> {
    usage_rows(scratch.row(line)?, typing)
}

/// The records of a usage row: its attempts that failed, then the one that answered.
fn usage_rows(mut f: GatewayRow<'_>, typing: Typing) -> Result<Parsed<'_>, Reject> {
    if let Some(method) =
        object(f.mcp_metadata.0.take(), "mcp_metadata")?.and_then(|m| text_of(m.get("json_rpc_method")))
    {
        return Err(Reject::new(
            ReasonCode::NotModelTraffic,
            format!("an MCP {method} call through the gateway, not a model request: tokenledger meters model traffic"),
        ));
    }
    let tokens = object(f.token_details.0.take(), "token_details")?.unwrap_or_default();
    let invocation = object(f.invocation_metadata.0.take(), "invocation_metadata")?.unwrap_or_default();
    let routing = object(f.routing_information.0.take(), "routing_information")?.unwrap_or_default();
    let url = text(f.url.0.as_ref());
    let mut raw = destination(&mut f, url.as_deref())?;
    raw.request_id = f.request_id.0;
    raw.request_time = f.event_time.0;
    raw.endpoint_name = f.endpoint_name.0.filter(is_text).or(f.service_name.0);
    raw.requester = requester(f.requester.0);
    raw.requester_type = f.requester_type.0;
    raw.usage_context = f.request_tags.0.filter(|c| !is_empty_map(c));
    raw.status_code = f.status_code.0;
    raw.execution_duration_ms = f.latency_ms.0;
    raw.request_streaming =
        text(f.response_content_type.0.as_ref()).map(|t| Val::Bool(trim(&t).starts_with("text/event-stream")));
    raw.service_tier = json_val(invocation.get("service_tier"));
    raw.input_tokens = f.input_tokens.0;
    raw.output_tokens = f.output_tokens.0;
    raw.cached_input_tokens = json_val(tokens.get("cache_read_input_tokens"));
    raw.cache_creation_input_tokens = json_val(tokens.get("cache_creation_input_tokens"));
    raw.reasoning_tokens = json_val(tokens.get("output_reasoning_tokens"));
    raw.token_style = TokenStyle::OpenAi;
    raw.zone_less_time_is_utc = true;

    let attempts: &[Value] = routing.get("attempts").and_then(Value::as_array).map_or(&[], Vec::as_slice);
    let n = attempts.len();
    if n > 0 {
        raw.attempt = Some(Val::Int(n as i64));
        raw.is_fallback = Some(Val::Bool(n > 1));
    }
    let mut failed_attempts = Vec::with_capacity(n.saturating_sub(1));
    for (k, attempt) in (1..).zip(attempts.iter().take(n.saturating_sub(1))) {
        failed_attempts.push(validate(failed_attempt(&raw, attempt, k)?, typing)?);
    }
    Ok(Parsed { record: validate(raw, typing)?, failed_attempts })
}

/// The row of attempt `k` that failed: the request's identity, time and principal, the
/// attempt's destination, status and latency, and no tokens (the destination refused it).
fn failed_attempt<'a>(request: &RawRecord<'a>, attempt: &Value, k: i64) -> Result<RawRecord<'a>, Reject> {
    let field = |name: &str| format!("routing_information.attempts[{}].{name}", k - 1);
    let destination = attempt.get("destination").and_then(Value::as_str).filter(|d| !trim(d).is_empty());
    let status = json_val(attempt.get("status_code"))
        .ok_or_else(|| Reject::new(ReasonCode::MissingField, format!("{} is missing or null", field("status_code"))))?;
    let id = match &request.request_id {
        Some(Val::Str(id)) => Some(Val::Str(Cow::Owned(format!("{}#attempt-{k}", trim(id))))),
        other => other.clone(),
    };
    let same_destination = match (&request.served_entity_name, destination) {
        (Some(Val::Str(name)), Some(d)) => trim(name) == trim(d),
        _ => false,
    };
    let keep = |v: &Option<Val<'a>>| if same_destination { v.clone() } else { None };
    Ok(RawRecord {
        request_id: id,
        served_entity_name: Some(Val::Str(Cow::Owned(destination.unwrap_or("unknown").to_string()))),
        served_entity_id: keep(&request.served_entity_id),
        entity_type: keep(&request.entity_type),
        provider: keep(&request.provider),
        status_code: Some(status),
        execution_duration_ms: json_val(attempt.get("latency_ms")),
        attempt: Some(Val::Int(k)),
        is_fallback: Some(Val::Bool(false)),
        input_tokens: None,
        cached_input_tokens: None,
        cache_creation_input_tokens: None,
        output_tokens: None,
        reasoning_tokens: None,
        ..request.clone()
    })
}

/// One row of a Unity AI Gateway payload (inference) table. The table has no endpoint column
/// (it is the endpoint's own table): the endpoint is named by the request's URL
/// (`.../model-services/<endpoint>/...`), else the row is filed under its destination.
pub fn parse_payload_line<'a>(
    line: &'a [u8],
    typing: Typing,
    scratch: &'a mut LineScratch,
) -> Result<Parsed<'a>, Reject> {
    payload_row(scratch.row(line)?, typing)
}

/// The record of a payload row.
fn payload_row(mut f: GatewayRow<'_>, typing: Typing) -> Result<Parsed<'_>, Reject> {
    let url = text(f.url.0.as_ref());
    let mut raw = destination(&mut f, url.as_deref())?;
    raw.served_entity_id = None;
    raw.request_id = f.request_id.0;
    raw.request_time = f.event_time.0;
    raw.endpoint_name = url
        .as_deref()
        .and_then(|u| segment_after(u, "/model-services/").or_else(|| segment_after(u, "/serving-endpoints/")))
        .map(|e| Val::Str(Cow::Owned(e.to_string())))
        .or_else(|| raw.served_entity_name.clone());
    raw.requester = requester(f.requester.0);
    raw.usage_context = f.request_tags.0.filter(|c| !is_empty_map(c));
    raw.status_code = f.status_code.0;
    raw.execution_duration_ms = f.latency_ms.0;
    raw.sampling_fraction = f.sampling_fraction.0;
    raw.zone_less_time_is_utc = true;
    payload_tokens(&mut raw, f.request.0, f.response.0);
    Ok(Parsed::one(validate(raw, typing)?))
}

/// The columns of the gateway's usage and payload tables that the mappings read, borrowed from
/// the line (each table has some of them; the others are skipped unparsed).
#[derive(Deserialize)]
struct GatewayRow<'a> {
    #[serde(borrow, default)]
    request_id: Loose<'a>,
    #[serde(borrow, default)]
    event_time: Loose<'a>,
    #[serde(borrow, default)]
    requester: Loose<'a>,
    #[serde(borrow, default)]
    request_tags: Loose<'a>,
    #[serde(borrow, default)]
    status_code: Loose<'a>,
    #[serde(borrow, default)]
    latency_ms: Loose<'a>,
    #[serde(borrow, default)]
    url: Loose<'a>,
    #[serde(borrow, default)]
    destination_name: Loose<'a>,
    #[serde(borrow, default)]
    destination_model: Loose<'a>,
    #[serde(borrow, default)]
    destination_type: Loose<'a>,
    #[serde(borrow, default)]
    destination_id: Loose<'a>,
    // the usage table's
    #[serde(borrow, default)]
    endpoint_name: Loose<'a>,
    #[serde(borrow, default)]
    service_name: Loose<'a>,
    #[serde(borrow, default)]
    requester_type: Loose<'a>,
    #[serde(borrow, default)]
    response_content_type: Loose<'a>,
    #[serde(borrow, default)]
    input_tokens: Loose<'a>,
    #[serde(borrow, default)]
    output_tokens: Loose<'a>,
    #[serde(borrow, default)]
    mcp_metadata: Loose<'a>,
    #[serde(borrow, default)]
    token_details: Loose<'a>,
    #[serde(borrow, default)]
    invocation_metadata: Loose<'a>,
    #[serde(borrow, default)]
    routing_information: Loose<'a>,
    // the payload table's
    #[serde(borrow, default)]
    sampling_fraction: Loose<'a>,
    #[serde(borrow, default)]
    request: Loose<'a>,
    #[serde(borrow, default)]
    response: Loose<'a>,
}

/// The served entity of a row: `destination_name` (else `destination_model`), its id, its type
/// (`DESTINATION_TYPE_EXTERNAL_MODEL` -> `EXTERNAL_MODEL`) and provider: Databricks for its
/// foundation models, else the provider a native-API URL names (`/ai-gateway/anthropic/...`).
fn destination<'a>(f: &mut GatewayRow<'a>, url: Option<&str>) -> Result<RawRecord<'a>, Reject> {
    let name = f.destination_name.0.take().filter(is_text).or_else(|| f.destination_model.0.take().filter(is_text));
    let entity_type = text(f.destination_type.0.as_ref()).map(|t| {
        let t = trim(&t).to_ascii_uppercase();
        t.strip_prefix("DESTINATION_TYPE_").map_or(t.clone(), str::to_string)
    });
    let provider = match entity_type.as_deref() {
        Some("FOUNDATION_MODEL") => Some("databricks".to_string()),
        _ => url
            .and_then(|u| segment_after(u, "/ai-gateway/"))
            .filter(|s| !matches!(*s, "model-services" | "mcp-services"))
            .map(str::to_ascii_lowercase),
    };
    Ok(RawRecord {
        served_entity_name: name,
        served_entity_id: f.destination_id.0.take(),
        entity_type: entity_type.map(|t| Val::Str(Cow::Owned(t))),
        provider: provider.map(|p| Val::Str(Cow::Owned(p))),
        ..RawRecord::default()
    })
}

/// A NULL requester (Databricks leaves it empty for some internal callers) is kept, as unknown.
fn requester(v: Option<Val<'_>>) -> Option<Val<'_>> {
    v.filter(is_text).or(Some(Val::Str(Cow::Borrowed("unknown"))))
}

/// The path segment after `marker` in a URL, up to the next `/`, `?` or `#`.
fn segment_after<'u>(url: &'u str, marker: &str) -> Option<&'u str> {
    let rest = &url[url.find(marker)? + marker.len()..];
    let seg = rest.split(['/', '?', '#']).next()?;
    (!seg.is_empty()).then_some(seg)
}

fn is_text(v: &Val<'_>) -> bool {
    matches!(v, Val::Str(s) if !trim(s).is_empty())
}

fn text(v: Option<&Val<'_>>) -> Option<String> {
    // only a string or an integer is text (and cheap to clone)
    v.filter(|v| matches!(v, Val::Str(_) | Val::Int(_))).cloned().and_then(Val::text).map(Cow::into_owned)
}

fn text_of(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty()).map(str::to_string)
}

/// A struct column: a nested object, or its JSON text (a CSV export); NULL or blank is none.
fn object(v: Option<Val<'_>>, field: &str) -> Result<Option<Map<String, Value>>, Reject> {
    let bad =
        |got: &str| Reject::new(ReasonCode::WrongType, format!("{field} must be a struct (a JSON object), got {got}"));
    match v {
        None => Ok(None),
        Some(Val::Json(Value::Object(m))) => Ok(Some(m)),
        Some(Val::Str(s)) if trim(&s).is_empty() => Ok(None),
        Some(Val::Str(s)) => match serde_json::from_str::<Value>(&s) {
            Ok(Value::Object(m)) => Ok(Some(m)),
            Ok(Value::Null) => Ok(None),
            _ => Err(bad("text that is not a JSON object")),
        },
        Some(_) => Err(bad("a scalar or an array")),
    }
}

/// A nested JSON value as a field value; null is none.
fn json_val(v: Option<&Value>) -> Option<Val<'static>> {
    match v? {
        Value::Null => None,
        Value::Bool(b) => Some(Val::Bool(*b)),
        Value::Number(n) => Some(n.as_i64().map_or_else(|| Val::Float(n.as_f64().unwrap_or(f64::NAN)), Val::Int)),
        Value::String(s) => Some(Val::Str(Cow::Owned(s.clone()))),
        other => Some(Val::Json(other.clone())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::sources::native::{assert_readers_agree, damaged_json, row};
    use crate::ingest::tokens::TokenCountSource;

    /// A Claude row of the gateway's usage table as Databricks' cache-efficiency query reads it:
    /// 16,400 prompt tokens of which 15,580 (95 %) were cache reads and 400 a cache write.
    const ROW: &str = r#"{"event_time":"2026-06-01 09:30:00.125","request_id":"r-1","endpoint_name":"main.ai.prod_claude","destination_type":"DESTINATION_TYPE_EXTERNAL_MODEL","destination_name":"claude_primary","destination_model":"claude-sonnet-4-5","requester":"ana@example.com","requester_type":"USER","url":"https://ws/ai-gateway/anthropic/v1/messages","input_tokens":16400,"output_tokens":210,"total_tokens":16610,"token_details":{"cache_read_input_tokens":15580,"cache_creation_input_tokens":400,"output_reasoning_tokens":64},"latency_ms":2100,"response_content_type":"text/event-stream","status_code":200,"invocation_metadata":{"source":"API","service_tier":"default"}}"#;

    /// A usage row with request tags, retried on a second destination.
    const RETRIED_ROW: &str = r#"{"event_time":"2026-06-01 09:30:00.125","request_id":"r-2","endpoint_name":"main.ai.prod_claude","destination_type":"DESTINATION_TYPE_EXTERNAL_MODEL","destination_name":"claude_primary","destination_model":"claude-sonnet-4-5","requester":"ana@example.com","requester_type":"USER","request_tags":{"cost_center":"CC-1","n":7},"input_tokens":1640,"output_tokens":21,"token_details":{"cache_read_input_tokens":1558,"output_reasoning_tokens":6},"latency_ms":2100,"status_code":200,"routing_information":{"attempts":[{"destination":"claude_eu","status_code":429,"latency_ms":12},{"destination":"claude_primary","status_code":200,"latency_ms":2088}]},"invocation_metadata":{"service_tier":"priority"}}"#;

    /// A payload row whose response carries its usage.
    const PAYLOAD_ROW: &str = r#"{"event_time":"2025-03-01T00:23:50.646Z","request_id":"r-3","request_tags":{"project":"rag"},"status_code":200,"sampling_fraction":1.0,"latency_ms":1132,"request":"{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}","response":"{\"usage\":{\"prompt_tokens\":14,\"completion_tokens\":7,\"total_tokens\":21}}","destination_type":"DESTINATION_TYPE_FOUNDATION_MODEL","destination_name":"llama_fm","destination_model":"databricks-meta-llama-3-3-70b-instruct","requester":"etl-bot@example.com","url":"https://ws/ai-gateway/model-services/main.ai.chat/invocations"}"#;

    /// A row through both readers, as a usage row and as a payload row: simd-json's path must
    /// give what serde_json's gives.
    fn read_both(line: &[u8]) {
        let (mut scratch, mut other) = (LineScratch::default(), LineScratch::default());
        let fast = parse_usage_line(line, Typing::Strict, &mut scratch);
        let slow = row::<GatewayRow>(line).and_then(|f| usage_rows(f, Typing::Strict));
        assert_readers_agree(line, &fast, &slow);
        let fast = parse_payload_line(line, Typing::Strict, &mut other);
        let slow = row::<GatewayRow>(line).and_then(|f| payload_row(f, Typing::Strict));
        assert_readers_agree(line, &fast, &slow);
    }

    #[test]
    fn the_rows_are_read_as_serde_json_reads_them() {
        let mut scratch = LineScratch::default();
        let retried = parse_usage_line(RETRIED_ROW.as_bytes(), Typing::Strict, &mut scratch);
        assert_eq!(retried.expect("a valid row").failed_attempts.len(), 1);
        let mut scratch = LineScratch::default();
        let payload = parse_payload_line(PAYLOAD_ROW.as_bytes(), Typing::Strict, &mut scratch);
        assert_eq!(payload.expect("a valid row").record.tokens.output, 7);
        for line in [ROW, RETRIED_ROW, PAYLOAD_ROW] {
            read_both(line.as_bytes());
        }
        for (from, to) in [
            ("\"n\":7", "\"n\":-0"),
            ("\"input_tokens\":1640", "\"input_tokens\":-0"),
            ("\"output_reasoning_tokens\":6", "\"output_reasoning_tokens\":-0"),
            ("\"status_code\":429", "\"status_code\":-0"),
            ("\"latency_ms\":12", "\"latency_ms\":-0"),
            ("\"project\":\"rag\"", "\"project\":-0"),
            ("\"service_tier\":\"priority\"", "\"service_tier\":-0"),
        ] {
            for row in [RETRIED_ROW, PAYLOAD_ROW] {
                read_both(row.replace(from, to).as_bytes());
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1000))]
        /// A row with one byte changed, inserted or cut off: simd-json's path gives what
        /// serde_json's gives, records or reason.
        #[test]
        fn both_readers_agree_on_damaged_usage_rows(line in damaged_json(RETRIED_ROW)) {
            read_both(&line);
        }

        #[test]
        fn both_readers_agree_on_damaged_payload_rows(line in damaged_json(PAYLOAD_ROW)) {
            read_both(&line);
        }
    }

    #[test]
    fn input_tokens_of_a_usage_row_include_its_cache_reads_and_writes() {
        let mut scratch = LineScratch::default();
        let p = parse_usage_line(ROW.as_bytes(), Typing::Strict, &mut scratch).unwrap();
        let t = p.record.tokens;
        assert_eq!((t.input, t.cache_read, t.cache_creation, t.output, t.reasoning), (420, 15580, 400, 210, Some(64)));
        assert_eq!(t.source, TokenCountSource::Reported);
        assert_eq!(t.input + t.cache_read + t.cache_creation + t.output, 16610, "total_tokens is the whole request");
        let r = &p.record;
        assert_eq!((r.entity_type.as_deref(), r.provider.as_deref()), (Some("EXTERNAL_MODEL"), Some("anthropic")));
        assert_eq!((r.service_tier.as_deref(), r.requester_type.as_deref()), (Some("standard"), Some("user")));
        assert_eq!(r.request_streaming, Some(true));
        // cache reads above the prompt they are part of contradict the rule: quarantined
        let bad = ROW.replace(r#""input_tokens":16400"#, r#""input_tokens":15000"#);
        assert_eq!(
            parse_usage_line(bad.as_bytes(), Typing::Strict, &mut LineScratch::default()).unwrap_err().code,
            ReasonCode::InconsistentTokens
        );
    }

    #[test]
    fn a_request_that_fell_back_is_a_row_per_attempt() {
        let row = ROW.replace(
            r#""status_code":200,"#,
            r#""status_code":200,"routing_information":{"attempts":[{"action":"PRIMARY","destination":"claude_eu","status_code":429,"latency_ms":12},{"action":"FALLBACK","destination":"claude_primary","status_code":200,"latency_ms":2088}]},"#,
        );
        let mut scratch = LineScratch::default();
        let p = parse_usage_line(row.as_bytes(), Typing::Strict, &mut scratch).unwrap();
        assert_eq!((p.record.attempt, p.record.is_fallback), (Some(2), true));
        let [failed] = p.failed_attempts.as_slice() else { panic!("{:?}", p.failed_attempts) };
        assert_eq!(failed.request_id, "r-1#attempt-1");
        assert_eq!(
            (failed.served_entity_name.as_ref(), failed.status_code, failed.attempt),
            ("claude_eu", 429, Some(1))
        );
        assert_eq!(failed.tokens.source, TokenCountSource::Absent);
        assert_eq!(failed.provider, None, "another destination's provider is not known");
        // an MCP call is not a model request
        let mcp = ROW.replace(
            r#""status_code":200,"#,
            r#""status_code":200,"mcp_metadata":{"json_rpc_method":"tools/call","tool_name":"search"},"#,
        );
        assert_eq!(
            parse_usage_line(mcp.as_bytes(), Typing::Strict, &mut LineScratch::default()).unwrap_err().code,
            ReasonCode::NotModelTraffic
        );
    }

    #[test]
    fn url_segments_name_the_endpoint_and_the_native_api_provider() {
        let u = "https://ws.cloud.databricks.com/ai-gateway/model-services/main.ai.chat/invocations";
        assert_eq!(segment_after(u, "/model-services/"), Some("main.ai.chat"));
        assert_eq!(segment_after(u, "/ai-gateway/"), Some("model-services"));
        let native = "https://ws.cloud.databricks.com/ai-gateway/anthropic/v1/messages?x=1";
        assert_eq!(segment_after(native, "/ai-gateway/"), Some("anthropic"));
        assert_eq!(segment_after(native, "/model-services/"), None);
        assert_eq!(segment_after("https://h/ai-gateway/", "/ai-gateway/"), None);
    }
}
