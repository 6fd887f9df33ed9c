//! The native record format: one JSON object per line with the fields of DESIGN.md
//! (what `tokenledger gen` and `../shared/bench/gen_inference.py` write). The same fields
//! also arrive as CSV columns or Parquet columns; see [`super::text_record`].

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::ingest::validate::{RawRecord, ReasonCode, Reject, Typing, Val, ValidRecord, validate};

/// Field names of the native format as they appear in a JSON line. Values are kept raw so
/// that a wrong type becomes a precise quarantine reason instead of a generic parse error.
#[derive(Deserialize)]
struct NativeLine<'a> {
    #[serde(borrow, default)]
    request_id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    client_request_id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    request_time: Option<&'a RawValue>,
    #[serde(borrow, default)]
    endpoint_name: Option<&'a RawValue>,
    #[serde(borrow, default)]
    served_entity_name: Option<&'a RawValue>,
    #[serde(borrow, default)]
    served_entity_id: Option<&'a RawValue>,
    /// `served_entity_type` is what the generators write; `entity_type` is the column name.
    #[serde(borrow, default, alias = "served_entity_type")]
    entity_type: Option<&'a RawValue>,
    #[serde(borrow, default)]
    provider: Option<&'a RawValue>,
    #[serde(borrow, default)]
    requester: Option<&'a RawValue>,
    #[serde(borrow, default)]
    usage_context: Option<&'a RawValue>,
    #[serde(borrow, default)]
    status_code: Option<&'a RawValue>,
    #[serde(borrow, default)]
    execution_duration_ms: Option<&'a RawValue>,
    #[serde(borrow, default)]
    request_streaming: Option<&'a RawValue>,
    #[serde(borrow, default)]
    is_fallback: Option<&'a RawValue>,
    #[serde(borrow, default)]
    attempt: Option<&'a RawValue>,
    #[serde(borrow, default)]
    guardrail_action: Option<&'a RawValue>,
    #[serde(borrow, default)]
    input_tokens: Option<&'a RawValue>,
    #[serde(borrow, default, alias = "cache_read_input_tokens")]
    cached_input_tokens: Option<&'a RawValue>,
    #[serde(borrow, default)]
    cache_creation_input_tokens: Option<&'a RawValue>,
    #[serde(borrow, default)]
    output_tokens: Option<&'a RawValue>,
    #[serde(borrow, default)]
    reasoning_tokens: Option<&'a RawValue>,
    #[serde(borrow, default)]
    request: Option<&'a RawValue>,
    #[serde(borrow, default)]
    response: Option<&'a RawValue>,
}

/// Parses and validates one JSON line of the native format. `typing` is
/// [`Typing::FromText`] for lines made from CSV rows, whose values are all strings.
pub fn parse_line(line: &[u8], typing: Typing) -> Result<ValidRecord<'_>, Reject> {
    let text = std::str::from_utf8(line).map_err(|e| {
        Reject::new(ReasonCode::InvalidUtf8, format!("the line is not valid UTF-8 (first bad byte at offset {})", e.valid_up_to()))
    })?;
    // serde would also fill the struct from a JSON array, field by field: refuse early
    if text.trim_start().as_bytes().first() != Some(&b'{') {
        return Err(Reject::new(ReasonCode::MalformedRecord, "not a JSON object"));
    }
    let parsed: NativeLine<'_> = serde_json::from_str(text)
        .map_err(|e| Reject::new(ReasonCode::MalformedRecord, format!("not a JSON object: {e}")))?;
    let raw = RawRecord {
        request_id: val(parsed.request_id)?,
        client_request_id: val(parsed.client_request_id)?,
        request_time: val(parsed.request_time)?,
        endpoint_name: val(parsed.endpoint_name)?,
        served_entity_name: val(parsed.served_entity_name)?,
        served_entity_id: val(parsed.served_entity_id)?,
        entity_type: val(parsed.entity_type)?,
        provider: val(parsed.provider)?,
        requester: val(parsed.requester)?,
        usage_context: val(parsed.usage_context)?,
        status_code: val(parsed.status_code)?,
        execution_duration_ms: val(parsed.execution_duration_ms)?,
        request_streaming: val(parsed.request_streaming)?,
        is_fallback: val(parsed.is_fallback)?,
        attempt: val(parsed.attempt)?,
        guardrail_action: val(parsed.guardrail_action)?,
        input_tokens: val(parsed.input_tokens)?,
        cached_input_tokens: val(parsed.cached_input_tokens)?,
        cache_creation_input_tokens: val(parsed.cache_creation_input_tokens)?,
        output_tokens: val(parsed.output_tokens)?,
        reasoning_tokens: val(parsed.reasoning_tokens)?,
        request: val(parsed.request)?,
        response: val(parsed.response)?,
    };
    validate(raw, typing)
}

/// Best effort: the `request_id` of a line that failed validation, for the quarantine row.
pub fn request_id_of(line: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct IdOnly {
        request_id: Option<serde_json::Value>,
    }
    let text = std::str::from_utf8(line).ok()?;
    match serde_json::from_str::<IdOnly>(text).ok()?.request_id? {
        serde_json::Value::String(s) => Some(s.chars().take(256).collect()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A raw JSON value as a [`Val`], borrowing from the line where no unescaping is needed.
fn val(raw: Option<&RawValue>) -> Result<Option<Val<'_>>, Reject> {
    let Some(raw) = raw else { return Ok(None) };
    let s = raw.get();
    Ok(match s.as_bytes().first() {
        Some(b'"') => {
            let inner = &s[1..s.len() - 1];
            if memchr::memchr(b'\\', inner.as_bytes()).is_none() {
                Some(Val::Str(Cow::Borrowed(inner)))
            } else {
                let owned: String = serde_json::from_str(s)
                    .map_err(|e| Reject::new(ReasonCode::MalformedRecord, format!("bad string escape: {e}")))?;
                Some(Val::Str(Cow::Owned(owned)))
            }
        }
        Some(b't') => Some(Val::Bool(true)),
        Some(b'f') => Some(Val::Bool(false)),
        Some(b'n') => None,
        Some(b'{') | Some(b'[') => Some(Val::Json(Cow::Borrowed(s))),
        _ => match s.parse::<i64>() {
            Ok(i) => Some(Val::Int(i)),
            Err(_) => Some(Val::Number(s)),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"request_id":"r1","client_request_id":null,"request_time":"2025-01-01T10:00:00.123Z","endpoint_name":"chat","served_entity_name":"gpt-4o","served_entity_type":"EXTERNAL_MODEL","provider":"openai","requester":"a@x.com","status_code":200,"input_tokens":2048,"output_tokens":10,"cached_input_tokens":1024,"execution_duration_ms":5,"is_fallback":false,"usage_context":{"project":"p","cost_center":"CC-1"},"request":"{\"q\":\"東京\"}","response":null}"#;

    #[test]
    fn parses_a_good_line() {
        let r = parse_line(GOOD.as_bytes(), Typing::Strict).unwrap();
        assert_eq!(r.request_id, "r1");
        assert_eq!(r.request_time_us, 1_735_725_600_123_000);
        assert_eq!(r.tokens.input, 1024);
        assert_eq!(r.tokens.cache_read, 1024);
        assert_eq!(r.entity_type.as_deref(), Some("EXTERNAL_MODEL"));
        assert_eq!(r.request.as_deref(), Some("{\"q\":\"東京\"}"));
        assert_eq!(
            r.usage_context,
            Some(vec![("cost_center".into(), "CC-1".into()), ("project".into(), "p".into())])
        );
    }

    fn reason(line: &str) -> ReasonCode {
        parse_line(line.as_bytes(), Typing::Strict).unwrap_err().code
    }

    #[test]
    fn each_problem_has_its_reason() {
        assert_eq!(reason(&GOOD[..40]), ReasonCode::MalformedRecord);
        assert_eq!(reason("[1,2]"), ReasonCode::MalformedRecord);
        assert_eq!(reason(&GOOD.replace(r#""request_id":"r1","#, "")), ReasonCode::MissingField);
        assert_eq!(reason(&GOOD.replace(r#""output_tokens":10"#, r#""output_tokens":-5"#)), ReasonCode::NegativeValue);
        assert_eq!(reason(&GOOD.replace("2025-01-01T10:00:00.123Z", "2025-13-45T99:00:00Z")), ReasonCode::BadTimestamp);
        assert_eq!(reason(&GOOD.replace("2025-01-01T10:00:00.123Z", "2025-01-01 10:00:00")), ReasonCode::BadTimestamp);
        assert_eq!(reason(&GOOD.replace(r#""status_code":200"#, r#""status_code":700"#)), ReasonCode::BadStatus);
        assert_eq!(reason(&GOOD.replace(r#""input_tokens":2048"#, r#""input_tokens":"lots""#)), ReasonCode::WrongType);
        assert_eq!(reason(&GOOD.replace(r#""input_tokens":2048"#, r#""input_tokens":12.5"#)), ReasonCode::WrongType);
        assert_eq!(reason(&GOOD.replace(r#""cached_input_tokens":1024"#, r#""cached_input_tokens":4096"#)), ReasonCode::InconsistentTokens);
        assert_eq!(reason(&GOOD.replace("a@x.com", &"x".repeat(600))), ReasonCode::FieldTooLong);
        let mut bad = GOOD.as_bytes().to_vec();
        bad[30] = 0xff;
        assert_eq!(parse_line(&bad, Typing::Strict).unwrap_err().code, ReasonCode::InvalidUtf8);
    }

    #[test]
    fn epoch_millis_and_offsets_are_accepted() {
        let ms = GOOD.replace(r#""2025-01-01T10:00:00.123Z""#, "1735725600123");
        assert_eq!(parse_line(ms.as_bytes(), Typing::Strict).unwrap().request_time_us, 1_735_725_600_123_000);
        let off = GOOD.replace("2025-01-01T10:00:00.123Z", "2025-01-01T11:00:00.123+01:00");
        assert_eq!(parse_line(off.as_bytes(), Typing::Strict).unwrap().request_time_us, 1_735_725_600_123_000);
        // seconds instead of milliseconds land in 1970: a unit mistake, not data
        let secs = GOOD.replace(r#""2025-01-01T10:00:00.123Z""#, "1735725600");
        assert_eq!(reason(&secs), ReasonCode::BadTimestamp);
    }

    #[test]
    fn null_tokens_are_absent_not_rejected() {
        let line = GOOD
            .replace(r#""input_tokens":2048"#, r#""input_tokens":null"#)
            .replace(r#""output_tokens":10"#, r#""output_tokens":null"#)
            .replace(r#""cached_input_tokens":1024"#, r#""cached_input_tokens":null"#);
        let r = parse_line(line.as_bytes(), Typing::Strict).unwrap();
        assert_eq!(r.tokens.source.as_str(), "absent");
        assert_eq!(r.tokens.input + r.tokens.output, 0);
    }

    #[test]
    fn request_id_is_recovered_for_quarantine() {
        assert_eq!(request_id_of(GOOD.replace("2048", "-1").as_bytes()).as_deref(), Some("r1"));
        assert_eq!(request_id_of(b"{not json"), None);
    }
}
