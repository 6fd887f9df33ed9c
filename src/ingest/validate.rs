//! Validation: one loosely typed input record in, one [`ValidRecord`] or one [`Reject`] out.
//!
//! Every source adapter turns its rows into a [`RawRecord`] of [`Val`]s; the rules of what a
//! valid inference record is (required fields, types, ranges, lengths) live only here.

use std::borrow::Cow;

use chrono::{DateTime, NaiveDate, NaiveTime};

use super::tokens::{self, TokenBuckets};
pub use super::usage::TokenStyle;

/// Why a record was quarantined. The `code` is stable (scripts filter on it); the message
/// in [`Reject`] says what exactly was wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ReasonCode {
    /// Not parseable as a record at all (broken JSON, wrong CSV column count...).
    MalformedRecord,
    /// The bytes are not UTF-8.
    InvalidUtf8,
    /// The line is longer than `--max-line-bytes`.
    LineTooLong,
    /// A required field is missing or null.
    MissingField,
    /// A field has the wrong type (a string where a number belongs...).
    WrongType,
    /// `request_time` is not RFC 3339 / epoch milliseconds, or outside 2000..2100.
    BadTimestamp,
    /// A token count or duration is negative.
    NegativeValue,
    /// Token counts contradict each other (cached tokens above input tokens...).
    InconsistentTokens,
    /// `status_code` is not in 100..=599.
    BadStatus,
    /// A string is longer than its cap.
    FieldTooLong,
    /// The same `request_id` was seen before with different content.
    ConflictingDuplicate,
    /// A Databricks `served_entity_id` with no served_entities version in force at the request.
    UnknownEntity,
    /// A row of a gateway's log that is not a model request (an MCP tool call): kept for the
    /// record, not metered.
    NotModelTraffic,
}

impl ReasonCode {
    pub const ALL: [ReasonCode; 13] = [
        ReasonCode::MalformedRecord,
        ReasonCode::InvalidUtf8,
        ReasonCode::LineTooLong,
        ReasonCode::MissingField,
        ReasonCode::WrongType,
        ReasonCode::BadTimestamp,
        ReasonCode::NegativeValue,
        ReasonCode::InconsistentTokens,
        ReasonCode::BadStatus,
        ReasonCode::FieldTooLong,
        ReasonCode::ConflictingDuplicate,
        ReasonCode::UnknownEntity,
        ReasonCode::NotModelTraffic,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReasonCode::MalformedRecord => "malformed_record",
            ReasonCode::InvalidUtf8 => "invalid_utf8",
            ReasonCode::LineTooLong => "line_too_long",
            ReasonCode::MissingField => "missing_field",
            ReasonCode::WrongType => "wrong_type",
            ReasonCode::BadTimestamp => "bad_timestamp",
            ReasonCode::NegativeValue => "negative_value",
            ReasonCode::InconsistentTokens => "inconsistent_tokens",
            ReasonCode::BadStatus => "bad_status",
            ReasonCode::FieldTooLong => "field_too_long",
            ReasonCode::ConflictingDuplicate => "conflicting_duplicate",
            ReasonCode::UnknownEntity => "unknown_entity",
            ReasonCode::NotModelTraffic => "not_model_traffic",
        }
    }
}

impl std::fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A rejected record: the reason code and a message a person can act on.
#[derive(Debug, Clone, PartialEq)]
pub struct Reject {
    pub code: ReasonCode,
    pub message: String,
}

impl Reject {
    pub fn new(code: ReasonCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }
}

/// A usage context: its keys and values, text borrowed from the record where it can be.
pub type Context<'a> = Vec<(Cow<'a, str>, Cow<'a, str>)>;

/// One field's value as the source gave it, before validation.
#[derive(Debug, Clone, PartialEq)]
pub enum Val<'a> {
    Bool(bool),
    Int(i64),
    /// A number that is not an integer (or does not fit an i64).
    Float(f64),
    Str(Cow<'a, str>),
    /// A JSON object or array.
    Json(serde_json::Value),
    /// An object of strings an adapter built itself (LiteLLM's `usage_context`), its text
    /// borrowed from the record where it can be.
    Pairs(Context<'a>),
    /// A time the adapter has already read, in microseconds since the epoch (LiteLLM reads its
    /// `startTime` for the duration; validation takes it as read, not parsed twice).
    Micros(i64),
}

impl<'a> Val<'a> {
    /// A name-like value as text: a string trimmed (none when blank; still borrowed when it
    /// was), or an integer (an id an export wrote as a number).
    pub fn text(self) -> Option<Cow<'a, str>> {
        match self {
            Val::Str(s) if trim(&s).is_empty() => None,
            Val::Str(Cow::Borrowed(s)) => Some(Cow::Borrowed(trim(s))),
            Val::Str(Cow::Owned(s)) if trim(&s).len() == s.len() => Some(Cow::Owned(s)),
            Val::Str(s) => Some(Cow::Owned(trim(&s).to_string())),
            Val::Int(i) => Some(Cow::Owned(i.to_string())),
            _ => None,
        }
    }

    fn type_name(&self) -> &'static str {
        match self {
            Val::Bool(_) => "a boolean",
            Val::Int(_) | Val::Float(_) => "a number",
            Val::Str(_) => "a string",
            Val::Json(serde_json::Value::Array(_)) => "an array",
            Val::Json(_) | Val::Pairs(_) => "an object",
            Val::Micros(_) => "a timestamp",
        }
    }
}

/// The fields of the native record format; `None` is absent or null.
#[derive(Debug, Default, Clone)]
pub struct RawRecord<'a> {
    pub request_id: Option<Val<'a>>,
    pub client_request_id: Option<Val<'a>>,
    pub request_time: Option<Val<'a>>,
    pub endpoint_name: Option<Val<'a>>,
    pub served_entity_name: Option<Val<'a>>,
    pub served_entity_id: Option<Val<'a>>,
    pub entity_type: Option<Val<'a>>,
    pub provider: Option<Val<'a>>,
    pub requester: Option<Val<'a>>,
    pub usage_context: Option<Val<'a>>,
    pub status_code: Option<Val<'a>>,
    pub execution_duration_ms: Option<Val<'a>>,
    pub request_streaming: Option<Val<'a>>,
    pub is_fallback: Option<Val<'a>>,
    pub attempt: Option<Val<'a>>,
    pub guardrail_action: Option<Val<'a>>,
    pub input_tokens: Option<Val<'a>>,
    pub cached_input_tokens: Option<Val<'a>>,
    pub cache_creation_input_tokens: Option<Val<'a>>,
    pub output_tokens: Option<Val<'a>>,
    pub reasoning_tokens: Option<Val<'a>>,
    pub request: Option<Val<'a>>,
    pub response: Option<Val<'a>>,
    /// The fraction of requests the source logged (Databricks payload tables sample).
    pub sampling_fraction: Option<Val<'a>>,
    /// What the source says the request cost (LiteLLM's `spend`), kept for reconciliation.
    pub source_reported_cost: Option<Val<'a>>,
    /// The provider's service tier (standard, batch, priority, flex).
    pub service_tier: Option<Val<'a>>,
    /// user or service_principal.
    pub requester_type: Option<Val<'a>>,
    /// Parts of the token counts the provider bills at their own rates.
    pub cache_creation_1h_input_tokens: Option<Val<'a>>,
    pub input_audio_tokens: Option<Val<'a>>,
    pub output_audio_tokens: Option<Val<'a>>,
    /// Server-side web searches, billed per search.
    pub web_search_requests: Option<Val<'a>>,
    /// Where the provider ran the request (Anthropic's `inference_geo`).
    pub inference_geo: Option<Val<'a>>,
    /// How the token fields count the prompt.
    pub token_style: TokenStyle,
    /// Characters of the prompt and of the output, for an estimate when no count is given.
    pub estimate_from_chars: Option<(i64, i64)>,
    /// Timestamps without an offset are UTC (exports of Databricks and LiteLLM tables); the
    /// native format requires an offset.
    pub zone_less_time_is_utc: bool,
}

/// A record that passed validation, tokens normalised into disjoint buckets.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidRecord<'a> {
    pub request_id: Cow<'a, str>,
    pub client_request_id: Option<Cow<'a, str>>,
    /// Microseconds since the Unix epoch, UTC.
    pub request_time_us: i64,
    pub endpoint_name: Cow<'a, str>,
    pub served_entity_name: Cow<'a, str>,
    pub served_entity_id: Option<Cow<'a, str>>,
    pub entity_type: Option<Cow<'a, str>>,
    pub provider: Option<Cow<'a, str>>,
    pub requester: Cow<'a, str>,
    /// Sorted by key, so that equal contexts fingerprint equally.
    pub usage_context: Option<Context<'a>>,
    pub status_code: i32,
    pub execution_duration_ms: Option<i64>,
    pub request_streaming: Option<bool>,
    pub is_fallback: bool,
    pub attempt: Option<i32>,
    pub guardrail_action: Option<Cow<'a, str>>,
    pub tokens: TokenBuckets,
    pub request: Option<Cow<'a, str>>,
    pub response: Option<Cow<'a, str>>,
    pub sampling_fraction: Option<f64>,
    /// At [`COST_SCALE`] decimals.
    pub source_reported_cost: Option<i128>,
    /// Lower case; OpenAI's `default` is `standard`.
    pub service_tier: Option<Cow<'a, str>>,
    /// Lower case: `user`, `service_principal`.
    pub requester_type: Option<Cow<'a, str>>,
    pub web_search_requests: Option<i64>,
    pub inference_geo: Option<Cow<'a, str>>,
}

/// Decimals of `source_reported_cost` (the table's DECIMAL(38, 10)).
pub const COST_SCALE: u32 = 10;

/// Caps on string lengths, in bytes. Identity fields are short in every real gateway; a
/// megabyte "requester" is a bug upstream, and would bloat every usage table.
pub const MAX_ID_BYTES: usize = 256;
pub const MAX_NAME_BYTES: usize = 512;
/// Payloads are bounded by the line cap (`--max-line-bytes`), not here.
const MAX_CONTEXT_BYTES: usize = 16 * 1024;

/// Timestamps outside this range are almost certainly unit mistakes (seconds for
/// milliseconds, microseconds for milliseconds): reject rather than file them in 1970 or 50000.
const MIN_TIME: NaiveDate = NaiveDate::from_ymd_opt(2000, 1, 1).unwrap();
const MAX_TIME: NaiveDate = NaiveDate::from_ymd_opt(2100, 1, 1).unwrap();

/// How strictly scalars are typed: JSON keeps its types; CSV has only text, so numbers and
/// booleans are parsed from strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Typing {
    Strict,
    FromText,
}

/// Validates `raw`; the first problem found is the reason.
pub fn validate<'a>(raw: RawRecord<'a>, typing: Typing) -> Result<ValidRecord<'a>, Reject> {
    let request_id = required_str(raw.request_id, "request_id", MAX_ID_BYTES)?;
    let request_time_us = timestamp(raw.request_time, typing, raw.zone_less_time_is_utc)?;
    let requester = required_str(raw.requester, "requester", MAX_NAME_BYTES)?;
    let endpoint_name = required_str(raw.endpoint_name, "endpoint_name", MAX_NAME_BYTES)?;
    let served_entity_name = required_str(raw.served_entity_name, "served_entity_name", MAX_NAME_BYTES)?;
    let status = int(raw.status_code, "status_code", typing)?.ok_or_else(|| missing("status_code"))?;
    if !(100..=599).contains(&status) {
        return Err(Reject::new(
            ReasonCode::BadStatus,
            format!("status_code {status} is not an HTTP status (100..=599)"),
        ));
    }
    let execution_duration_ms = non_negative(raw.execution_duration_ms, "execution_duration_ms", typing)?;
    let attempt = match int(raw.attempt, "attempt", typing)? {
        Some(a) if !(0..=i32::MAX as i64).contains(&a) => {
            return Err(Reject::new(ReasonCode::NegativeValue, format!("attempt {a} is out of range")));
        }
        a => a.map(|a| a as i32),
    };
    let reported = tokens::Reported {
        input: non_negative(raw.input_tokens, "input_tokens", typing)?,
        cache_read: non_negative(raw.cached_input_tokens, "cached_input_tokens", typing)?,
        cache_creation: non_negative(raw.cache_creation_input_tokens, "cache_creation_input_tokens", typing)?,
        output: non_negative(raw.output_tokens, "output_tokens", typing)?,
        reasoning: non_negative(raw.reasoning_tokens, "reasoning_tokens", typing)?,
        cache_creation_1h: non_negative(raw.cache_creation_1h_input_tokens, "cache_creation_1h_input_tokens", typing)?,
        input_audio: non_negative(raw.input_audio_tokens, "input_audio_tokens", typing)?,
        output_audio: non_negative(raw.output_audio_tokens, "output_audio_tokens", typing)?,
    };
    let tokens = match (raw.estimate_from_chars, reported.is_empty()) {
        (Some((input_chars, output_chars)), true) => tokens::estimated(input_chars, output_chars),
        _ => tokens::normalise(reported, raw.token_style)?,
    };
    let request = payload(raw.request, "request")?;
    let response = payload(raw.response, "response")?;
    // A success logged without counts (a stream without include_usage, a lost usage object)
    // is not free: the logged response's own usage object, else an estimate from the payload's
    // characters as Databricks makes it. With no payload either it stays `absent`, and the
    // rollup counts it as unmetered.
    let tokens = if tokens.source == tokens::TokenCountSource::Absent && (200..=299).contains(&status) {
        match super::usage::tokens_from_payload(request.as_deref(), response.as_deref()) {
            Some(Ok(buckets)) => buckets,
            Some(Err(reject)) => return Err(reject),
            None => tokens,
        }
    } else {
        tokens
    };
    Ok(ValidRecord {
        request_id,
        client_request_id: optional_str(raw.client_request_id, "client_request_id", MAX_ID_BYTES)?,
        request_time_us,
        endpoint_name,
        served_entity_name,
        served_entity_id: optional_str(raw.served_entity_id, "served_entity_id", MAX_ID_BYTES)?,
        entity_type: optional_str(raw.entity_type, "entity_type", MAX_NAME_BYTES)?,
        provider: optional_str(raw.provider, "provider", MAX_NAME_BYTES)?,
        requester,
        usage_context: usage_context(raw.usage_context)?,
        status_code: status as i32,
        execution_duration_ms,
        request_streaming: boolean(raw.request_streaming, "request_streaming", typing)?,
        is_fallback: boolean(raw.is_fallback, "is_fallback", typing)?.unwrap_or(false),
        attempt,
        guardrail_action: optional_str(raw.guardrail_action, "guardrail_action", MAX_NAME_BYTES)?,
        tokens,
        request,
        response,
        sampling_fraction: fraction(raw.sampling_fraction, typing)?,
        source_reported_cost: cost(raw.source_reported_cost)?,
        service_tier: service_tier(optional_str(raw.service_tier, "service_tier", MAX_NAME_BYTES)?),
        requester_type: lower_case(optional_str(raw.requester_type, "requester_type", MAX_NAME_BYTES)?),
        web_search_requests: non_negative(raw.web_search_requests, "web_search_requests", typing)?,
        inference_geo: lower_case(optional_str(raw.inference_geo, "inference_geo", MAX_NAME_BYTES)?),
    })
}

/// A label in lower case (Databricks writes `SERVICE_PRINCIPAL`, OpenAI `priority`); blank is none.
fn lower_case(v: Option<Cow<'_, str>>) -> Option<Cow<'_, str>> {
    let v = v?;
    let t = trim(&v);
    if t.is_empty() {
        None
    } else if t.len() == v.len() && !t.bytes().any(|b| b.is_ascii_uppercase()) {
        Some(v)
    } else {
        Some(Cow::Owned(t.to_ascii_lowercase()))
    }
}

/// `service_tier` in the ledger's words: OpenAI's response says `default` for the standard tier
/// (platform.openai.com/docs/api-reference/chat/object, `service_tier`).
fn service_tier(v: Option<Cow<'_, str>>) -> Option<Cow<'_, str>> {
    match lower_case(v) {
        Some(t) if t == "default" => Some(Cow::Borrowed("standard")),
        other => other,
    }
}

/// `sampling_fraction`: a number in (0, 1].
fn fraction(v: Option<Val<'_>>, typing: Typing) -> Result<Option<f64>, Reject> {
    let f = match v {
        None => return Ok(None),
        Some(Val::Float(f)) => f,
        Some(Val::Int(i)) => i as f64,
        Some(Val::Str(s)) if typing == Typing::FromText && trim(&s).is_empty() => return Ok(None),
        Some(Val::Str(s)) if typing == Typing::FromText => trim(&s).parse().map_err(|_| {
            Reject::new(ReasonCode::WrongType, format!("sampling_fraction must be a number, got {:?}", trim(&s)))
        })?,
        Some(other) => return Err(wrong_type("sampling_fraction", "a number", &other)),
    };
    if f > 0.0 && f <= 1.0 {
        Ok(Some(f))
    } else {
        Err(Reject::new(ReasonCode::WrongType, format!("sampling_fraction {f} is not in (0, 1]")))
    }
}

/// A cost the source reported, as a decimal at [`COST_SCALE`] places (rounded half to even):
/// decimal text, or a JSON number read through its shortest decimal rendering, never a float
/// sum.
fn cost(v: Option<Val<'_>>) -> Result<Option<i128>, Reject> {
    let text = match &v {
        None => return Ok(None),
        Some(Val::Str(s)) if trim(s).is_empty() => return Ok(None),
        Some(Val::Str(s)) => trim(s).to_string(),
        Some(Val::Int(i)) => i.to_string(),
        Some(Val::Float(f)) => f.to_string(),
        Some(other) => return Err(wrong_type("spend", "a decimal number", other)),
    };
    let parsed = rust_decimal::Decimal::from_str_exact(&text)
        .or_else(|_| rust_decimal::Decimal::from_scientific(&text))
        .map_err(|_| Reject::new(ReasonCode::WrongType, format!("spend must be a decimal number, got {text:?}")))?;
    if parsed.is_sign_negative() {
        return Err(Reject::new(ReasonCode::NegativeValue, format!("spend is {text}; a cost cannot be negative")));
    }
    let mut scaled = parsed.round_dp_with_strategy(COST_SCALE, rust_decimal::RoundingStrategy::MidpointNearestEven);
    scaled.rescale(COST_SCALE);
    Ok(Some(scaled.mantissa()))
}

/// A timestamp field of an export (`change_time`, LiteLLM's `endTime`): RFC 3339, or without
/// an offset as UTC, or epoch milliseconds.
pub(crate) fn export_time(v: Option<Val<'_>>, field: &str, typing: Typing) -> Result<i64, Reject> {
    timestamp(v, typing, true).map_err(|r| Reject::new(r.code, r.message.replace("request_time", field)))
}

/// A count field of an export (character counts, LiteLLM's cache counts): a non-negative
/// integer or nothing.
pub(crate) fn export_count(v: Option<Val<'_>>, field: &str, typing: Typing) -> Result<Option<i64>, Reject> {
    non_negative(v, field, typing)
}

fn missing(field: &str) -> Reject {
    Reject::new(ReasonCode::MissingField, format!("required field {field} is missing or null"))
}

fn wrong_type(field: &str, expected: &str, got: &Val<'_>) -> Reject {
    Reject::new(ReasonCode::WrongType, format!("{field} must be {expected}, got {}{}", got.type_name(), excerpt(got)))
}

/// A short rendering of an offending value for messages.
fn excerpt(v: &Val<'_>) -> String {
    let text = match v {
        Val::Bool(b) => b.to_string(),
        Val::Int(i) => i.to_string(),
        Val::Float(n) => n.to_string(),
        Val::Str(s) => format!("{s:?}"),
        Val::Json(j) => j.to_string(),
        Val::Pairs(pairs) => format!("{pairs:?}"),
        Val::Micros(us) => DateTime::from_timestamp_micros(*us).map_or_else(|| us.to_string(), |d| d.to_rfc3339()),
    };
    let cut: String = text.chars().take(40).collect();
    if cut.len() < text.len() { format!(" {cut}...") } else { format!(" {cut}") }
}

fn required_str<'a>(v: Option<Val<'a>>, field: &str, cap: usize) -> Result<Cow<'a, str>, Reject> {
    match optional_str(v, field, cap)? {
        Some(s) if !trim(&s).is_empty() => Ok(s),
        _ => Err(missing(field)),
    }
}

fn optional_str<'a>(v: Option<Val<'a>>, field: &str, cap: usize) -> Result<Option<Cow<'a, str>>, Reject> {
    match v {
        None => Ok(None),
        Some(Val::Str(s)) => {
            if s.len() > cap {
                Err(Reject::new(
                    ReasonCode::FieldTooLong,
                    format!("{field} is {} bytes long, over the cap of {cap}", s.len()),
                ))
            } else {
                Ok(Some(s))
            }
        }
        Some(other) => Err(wrong_type(field, "a string", &other)),
    }
}

/// Request and response payloads: text, or a JSON document that we keep as its JSON text.
fn payload<'a>(v: Option<Val<'a>>, field: &str) -> Result<Option<Cow<'a, str>>, Reject> {
    match v {
        None => Ok(None),
        Some(Val::Str(s)) => Ok(Some(s)),
        Some(Val::Json(v)) => Ok(Some(Cow::Owned(v.to_string()))),
        Some(other) => Err(wrong_type(field, "a string or a JSON document", &other)),
    }
}

fn int(v: Option<Val<'_>>, field: &str, typing: Typing) -> Result<Option<i64>, Reject> {
    // most counts are integers, which own nothing: returned without a call to `Val`'s drop
    // glue, which a value matched whole takes (1.2 % of a native ingest's instructions)
    if let Some(Val::Int(i)) = v {
        std::mem::forget(v);
        return Ok(Some(i));
    }
    match v {
        None => Ok(None),
        Some(Val::Int(i)) => Ok(Some(i)),
        // 12.0 is an integer written by a float-happy logger; 12.5 is not a count.
        Some(Val::Float(f)) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(Some(f as i64)),
        Some(Val::Float(f)) => Err(Reject::new(ReasonCode::WrongType, format!("{field} must be an integer, got {f}"))),
        Some(Val::Str(s)) if typing == Typing::FromText => {
            let t = trim(&s);
            t.parse::<i64>()
                .map(Some)
                .map_err(|_| Reject::new(ReasonCode::WrongType, format!("{field} must be an integer, got {t:?}")))
        }
        Some(other) => Err(wrong_type(field, "an integer", &other)),
    }
}

fn non_negative(v: Option<Val<'_>>, field: &str, typing: Typing) -> Result<Option<i64>, Reject> {
    match int(v, field, typing)? {
        Some(i) if i < 0 => Err(Reject::new(
            ReasonCode::NegativeValue,
            format!("{field} is {i}; counts and durations cannot be negative"),
        )),
        other => Ok(other),
    }
}

fn boolean(v: Option<Val<'_>>, field: &str, typing: Typing) -> Result<Option<bool>, Reject> {
    match v {
        None => Ok(None),
        Some(Val::Bool(b)) => Ok(Some(b)),
        Some(Val::Str(s)) if typing == Typing::FromText => match trim(&s).to_ascii_lowercase().as_str() {
            "true" | "t" | "1" | "yes" => Ok(Some(true)),
            "false" | "f" | "0" | "no" => Ok(Some(false)),
            other => Err(Reject::new(ReasonCode::WrongType, format!("{field} must be true or false, got {other:?}"))),
        },
        Some(other) => Err(wrong_type(field, "a boolean", &other)),
    }
}

/// `request_time`: RFC 3339 with an offset or `Z` (any precision down to microseconds), or
/// epoch milliseconds as an integer.
fn timestamp(v: Option<Val<'_>>, typing: Typing, zone_less_is_utc: bool) -> Result<i64, Reject> {
    let bad = |msg: String| Reject::new(ReasonCode::BadTimestamp, msg);
    let micros = match v {
        None => return Err(missing("request_time")),
        Some(Val::Int(ms)) => ms.checked_mul(1000).ok_or_else(|| bad(format!("request_time {ms} is out of range")))?,
        Some(Val::Micros(us)) => us,
        Some(Val::Str(s)) => {
            let t = trim(&s);
            if typing == Typing::FromText && !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
                let ms: i64 = t.parse().map_err(|_| bad(format!("request_time {t:?} is out of range")))?;
                ms.checked_mul(1000).ok_or_else(|| bad(format!("request_time {t:?} is out of range")))?
            } else if let Some(micros) = utc_micros(t) {
                micros
            } else if let Some(micros) = zone_less_is_utc.then(|| zone_less_micros(t)).flatten() {
                micros
            } else {
                DateTime::parse_from_rfc3339(t)
                    .map_err(|e| {
                        bad(format!(
                            "request_time {t:?} is not an RFC 3339 timestamp with offset or Z, nor epoch milliseconds ({e})"
                        ))
                    })?
                    .timestamp_micros()
            }
        }
        Some(other) => return Err(wrong_type("request_time", "an RFC 3339 string or epoch milliseconds", &other)),
    };
    const MIN: i64 = MIN_TIME.and_time(NaiveTime::MIN).and_utc().timestamp_micros();
    const MAX: i64 = MAX_TIME.and_time(NaiveTime::MIN).and_utc().timestamp_micros();
    if !(MIN..MAX).contains(&micros) {
        let shown =
            DateTime::from_timestamp_micros(micros).map(|d| d.to_rfc3339()).unwrap_or_else(|| micros.to_string());
        return Err(bad(format!(
            "request_time {shown} is outside 2000-01-01..2100-01-01 (epoch values must be milliseconds)"
        )));
    }
    Ok(micros)
}

/// `2025-03-01 10:00:00.123` or `2025-03-01T10:00:00`: a timestamp without an offset, as UTC.
fn zone_less_micros(t: &str) -> Option<i64> {
    match zone_less_common(t) {
        Some(read) => read,
        None => ZONE_LESS_FORMATS
            .iter()
            .find_map(|f| chrono::NaiveDateTime::parse_from_str(t, f).ok())
            .map(|d| d.and_utc().timestamp_micros()),
    }
}

const ZONE_LESS_FORMATS: [&str; 2] = ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"];

/// The shape exports write, read by hand (parsing by format string was a tenth of a LiteLLM
/// row's cost): `YYYY-MM-DD[ T]HH:MM:SS[.1-9 digits]` is Some(its time, None when it is no
/// date); that shape with more after it (`Z`, an offset) is Some(None), not zone-less; any
/// other text is None, left to [`ZONE_LESS_FORMATS`].
fn zone_less_common(t: &str) -> Option<Option<i64>> {
    match date_time_prefix(t.as_bytes())? {
        (_, end) if end < t.len() => Some(None),
        (time, _) => Some(time),
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.1-9 digits]Z`, the form gateways write (the native log's every
/// time), read by hand: chrono's RFC 3339 parser was 1.4 % of a native ingest. None for any
/// other text, even valid RFC 3339 (an offset, a lower-case `t` or `z`, a space): that is
/// left to chrono, and so is a date that does not exist, for chrono's words on it.
fn utc_micros(t: &str) -> Option<i64> {
    let b = t.as_bytes();
    // the cheap tests first: an export's zone-less time is read once, by zone_less_common
    if b.get(10) != Some(&b'T') || b.last() != Some(&b'Z') {
        return None;
    }
    match date_time_prefix(b)? {
        (Some(micros), end) if end + 1 == b.len() => Some(micros),
        _ => None,
    }
}

/// `YYYY-MM-DD[ T]HH:MM:SS[.1-9 digits]` at the start of `b`: its time (None when it is no
/// date, as chrono says) and the length of the shape; None when `b` does not start with it or
/// the second is 60 (a leap second, left to chrono's rules).
fn date_time_prefix(b: &[u8]) -> Option<(Option<i64>, usize)> {
    let shape =
        b.len() >= 19 && b[4] == b'-' && b[7] == b'-' && matches!(b[10], b' ' | b'T') && b[13] == b':' && b[16] == b':';
    if !shape {
        return None;
    }
    let (year, month, day) = (ascii_number(&b[0..4])?, ascii_number(&b[5..7])?, ascii_number(&b[8..10])?);
    let (hour, minute, second) = (ascii_number(&b[11..13])?, ascii_number(&b[14..16])?, ascii_number(&b[17..19])?);
    let (mut nanos, mut end) = (0, 19);
    if b.get(19) == Some(&b'.') {
        let n = b[20..].iter().take_while(|d| d.is_ascii_digit()).count();
        if !(1..=9).contains(&n) {
            return None;
        }
        nanos = ascii_number(&b[20..20 + n])? * 10u32.pow(9 - n as u32);
        end = 20 + n;
    }
    if second == 60 {
        return None;
    }
    let date = chrono::NaiveDate::from_ymd_opt(year as i32, month, day);
    let time = chrono::NaiveTime::from_hms_nano_opt(hour, minute, second, nanos);
    Some((date.zip(time).map(|(d, t)| d.and_time(t).and_utc().timestamp_micros()), end))
}

/// `str::trim` with the common case first: text that starts and ends with a visible ASCII
/// character is returned as it is (no Unicode whitespace is ASCII above the space), without
/// decoding a character at either end. Every cell of a CSV export is trimmed a few times on its
/// way through an adapter and validation; std's trim was 3 % of a LiteLLM CSV ingest.
#[inline]
pub(crate) fn trim(s: &str) -> &str {
    let visible = |b: u8| b > b' ' && b < 0x80;
    match s.as_bytes() {
        [first, .., last] if visible(*first) && visible(*last) => s,
        [only] if visible(*only) => s,
        _ => s.trim(),
    }
}

/// The number ASCII digits write (at most nine), in one pass; None when a byte is not a digit.
/// Inlined: each field of a timestamp is a few digits at a fixed place.
#[inline(always)]
fn ascii_number(digits: &[u8]) -> Option<u32> {
    let mut value = 0;
    for d in digits {
        let d = d.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        value = value * 10 + u32::from(d);
    }
    Some(value)
}

/// `usage_context`: a JSON object whose values are strings (numbers and booleans are kept as
/// their JSON text), or the pairs an adapter built. Sorted by key so equal contexts compare
/// equal.
fn usage_context(v: Option<Val<'_>>) -> Result<Option<Context<'_>>, Reject> {
    let map = match v {
        None => return Ok(None),
        Some(Val::Pairs(pairs)) => return capped_context(pairs).map(Some),
        Some(Val::Json(serde_json::Value::Object(map))) => map,
        // CSV carries the object as JSON text in the cell.
        Some(Val::Str(s)) if s.trim_start().starts_with('{') => {
            if s.len() > MAX_CONTEXT_BYTES {
                return Err(Reject::new(
                    ReasonCode::FieldTooLong,
                    format!("usage_context is {} bytes long, over the cap of {MAX_CONTEXT_BYTES}", s.len()),
                ));
            }
            serde_json::from_str(&s).map_err(|e| {
                Reject::new(ReasonCode::WrongType, format!("usage_context must be a JSON object of strings: {e}"))
            })?
        }
        Some(Val::Str(s)) if trim(&s).is_empty() => return Ok(None),
        Some(other) => return Err(wrong_type("usage_context", "a JSON object of strings", &other)),
    };
    let mut pairs = Vec::with_capacity(map.len());
    for (k, v) in map {
        let v = match v {
            serde_json::Value::String(s) => s,
            serde_json::Value::Null => continue,
            serde_json::Value::Bool(_) | serde_json::Value::Number(_) => v.to_string(),
            _ => {
                return Err(Reject::new(
                    ReasonCode::WrongType,
                    format!("usage_context.{k} must be a string, got a nested object or array"),
                ));
            }
        };
        pairs.push((Cow::Owned(k), Cow::Owned(v)));
    }
    capped_context(pairs).map(Some)
}

/// A context's pairs sorted, and refused when their text is over the cap.
fn capped_context<'a>(mut pairs: Context<'a>) -> Result<Context<'a>, Reject> {
    pairs.sort();
    let bytes: usize = pairs.iter().map(|(k, v)| k.len() + v.len()).sum();
    if bytes > MAX_CONTEXT_BYTES {
        return Err(Reject::new(
            ReasonCode::FieldTooLong,
            format!("usage_context holds {bytes} bytes of text, over the cap of {MAX_CONTEXT_BYTES}"),
        ));
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trim_is_strs_trim_at_the_edges_of_ascii_and_unicode_whitespace() {
        let cases = [
            "",
            " ",
            "a",
            " a",
            "a ",
            "\ta\n",
            "\x7f",
            "!~",
            "\u{a0}a",
            "a\u{a0}",
            "\u{85}",
            "a\u{3000}",
            "\u{2028}b",
            "é",
            "é ",
            " é",
            "\x1f",
            "a b",
            "\u{feff}a",
        ];
        for s in cases {
            assert_eq!(trim(s), s.trim(), "{s:?}");
        }
    }

    proptest::proptest! {
        /// Whatever the characters at either end, ASCII or not, whitespace or not.
        #[test]
        fn trim_is_strs_trim(s in "[ \t\n\x0b\x0c\r\x1c-\x21\x7e\x7f\u{85}\u{a0}\u{1680}\u{2000}\u{200b}\u{3000}\u{feff}aé]{0,6}") {
            proptest::prop_assert_eq!(trim(&s), s.trim());
        }
    }

    #[test]
    fn the_hand_read_export_time_is_what_the_format_strings_read() {
        let by_format = |t: &str| {
            ZONE_LESS_FORMATS
                .iter()
                .find_map(|f| chrono::NaiveDateTime::parse_from_str(t, f).ok())
                .map(|d| d.and_utc().timestamp_micros())
        };
        let cases = [
            "2025-03-01 10:00:00",
            "2025-03-01T10:00:00.1",
            "2025-03-01 10:00:00.123456",
            "2025-03-01 10:00:00.123456789",
            "2024-02-29 23:59:59.999",
            "2025-02-29 10:00:00",
            "2025-13-01 10:00:00",
            "2025-03-01 24:00:00",
            "2025-03-01 10:60:00",
            "2025-03-01 10:00:00Z",
            "2025-03-01T10:00:00.5+01:00",
            "2025-03-01 10:00:00.",
            "2025-03-01 10:00:00.1234567891",
            "2025-03-01 1:00:00",
            "2025-3-01 10:00:00",
            "2025-03-01_10:00:00",
            "2025-03-01 10:00:0x",
        ];
        for t in cases {
            assert_eq!(zone_less_micros(t), by_format(t), "{t}");
            if let Some(read) = zone_less_common(t) {
                assert_eq!(read, by_format(t), "{t} read by hand");
            }
        }
        assert_eq!(zone_less_common("2025-03-01 10:00:00.25"), Some(Some(1_740_823_200_250_000)));
    }

    proptest::proptest! {
        /// The hand-read `...Z` time is chrono's RFC 3339 reading of the same text, and every
        /// text of that form that chrono reads is read by hand too (dates that do not exist,
        /// hour 24, second 60, ten digits of fraction, other separators and zones included).
        #[test]
        fn the_hand_read_utc_time_is_chronos(
            date in (1999..2101_u32, 0..14_u32, 0..33_u32),
            time in (0..25_u32, 0..61_u32, 0..61_u32),
            fraction in proptest::option::of("[0-9]{1,10}"),
            separator in proptest::sample::select(vec!['T', 't', ' ']),
            zone in proptest::sample::select(vec!["Z", "z", "+00:00", "-01:30", ""]),
        ) {
            let ((y, mo, d), (h, mi, s)) = (date, time);
            let dot = fraction.as_ref().map(|f| format!(".{f}")).unwrap_or_default();
            let text = format!("{y:04}-{mo:02}-{d:02}{separator}{h:02}:{mi:02}:{s:02}{dot}{zone}");
            let by_chrono = DateTime::parse_from_rfc3339(&text).ok().map(|t| t.timestamp_micros());
            match utc_micros(&text) {
                Some(micros) => proptest::prop_assert_eq!(Some(micros), by_chrono, "{}", text),
                None => {
                    let hand_form = separator == 'T' && zone == "Z" && s < 60 && fraction.is_none_or(|f| f.len() <= 9);
                    proptest::prop_assert!(!(hand_form && by_chrono.is_some()), "{} left to chrono", text);
                }
            }
        }
    }
}
