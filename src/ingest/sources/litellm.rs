//! LiteLLM's `LiteLLM_SpendLogs`, exported as CSV (JSON columns as text) or JSON (one array of
//! objects, as its UI and `/spend/logs` give it; JSON lines work too).
//!
//! The mapping: `model_group` (the name the client asked for) is the endpoint and `model` (the
//! deployment that answered) the served entity; `user`, else `end_user`, the requester;
//! `team_id` goes into `usage_context` as `team_id` and as `group` (the rollup charges a
//! LiteLLM request to its team), with `end_user`, the key alias, the request tags and the call
//! type. `prompt_tokens` counts cache reads and writes (LiteLLM reports Anthropic
//! calls that way too); the cache counts come from `metadata.usage_object`. LiteLLM's own
//! `spend` is kept as `source_reported_cost`, to reconcile with, never as our cost.

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::native::fields;
use crate::ingest::validate::{RawRecord, Reject, Typing, Val, ValidRecord, export_time, validate};

/// One spend log row.
pub fn parse_line(line: &[u8], typing: Typing) -> Result<ValidRecord<'_>, Reject> {
    let mut f = fields(line)?;
    // empty strings are how the exports write "none"
    let mut take = |name: &str| match f.remove(name) {
        Some(Val::Str(s)) if s.trim().is_empty() => None,
        other => other,
    };
    let metadata = json_of(take("metadata"));
    let usage_object = metadata.as_ref().and_then(|m| m.get("usage_object"));
    let int_at = |path: &[&str]| {
        let mut v = usage_object?;
        for p in path {
            v = v.get(p)?;
        }
        v.as_i64()
    };
    let cache_read =
        int_at(&["prompt_tokens_details", "cached_tokens"]).or_else(|| int_at(&["cache_read_input_tokens"]));
    let cache_creation = int_at(&["cache_creation_input_tokens"]);
    let reasoning = int_at(&["completion_tokens_details", "reasoning_tokens"]);
    // the usage object is the provider's, passed through: its other billed parts read as the
    // provider's own (crate::ingest::usage)
    let cache_creation_1h = int_at(&["cache_creation", "ephemeral_1h_input_tokens"]);
    let input_audio = int_at(&["prompt_tokens_details", "audio_tokens"]);
    let output_audio = int_at(&["completion_tokens_details", "audio_tokens"]);
    let labels = usage_object.map(crate::ingest::usage::labels_of_usage).unwrap_or_default();

    let start = take("startTime");
    let end = take("endTime");
    // a bad startTime is the record's bad timestamp; a bad endTime only loses the duration
    let duration = match (&start, end) {
        (Some(s), Some(e)) => {
            let s = export_time(Some(s.clone()), "startTime", typing)?;
            export_time(Some(e), "endTime", typing).ok().map(|e| Val::Int((e - s).div_euclid(1000)))
        }
        _ => None,
    };
    let status = match take("status") {
        Some(Val::Str(s)) if s.trim().eq_ignore_ascii_case("failure") => {
            let code = metadata
                .as_ref()
                .and_then(|m| m.get("error_information"))
                .and_then(|e| e.get("error_code"))
                .and_then(|c| c.as_i64().or_else(|| c.as_str().and_then(|s| s.trim().parse().ok())))
                .filter(|c| (100..=599).contains(c));
            Val::Int(code.unwrap_or(500))
        }
        Some(Val::Str(s)) if s.trim().eq_ignore_ascii_case("success") => Val::Int(200),
        Some(other) => other,
        None => Val::Int(200),
    };
    let text = |v: &Option<Val<'_>>| v.as_ref().and_then(Val::text);
    let team = text(&take("team_id"));
    let end_user = text(&take("end_user"));
    let user = take("user");
    let model = take("model");
    let model_group = take("model_group");
    let mut context = Map::new();
    let mut put = |k: &str, v: Option<String>| {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            context.insert(k.to_string(), Value::String(v));
        }
    };
    put("team_id", team.clone());
    put("group", team);
    put("end_user", end_user.clone());
    put(
        "key_alias",
        metadata.as_ref().and_then(|m| m.get("user_api_key_alias")).and_then(Value::as_str).map(str::to_string),
    );
    let tags: Vec<String> = match json_of(take("request_tags")) {
        Some(Value::Array(tags)) => tags.iter().filter_map(Value::as_str).map(str::to_string).collect(),
        _ => Vec::new(),
    };
    put("request_tags", Some(tags.join(",")));
    put("call_type", text(&take("call_type")));

    let requester =
        user.or_else(|| end_user.map(|u| Val::Str(Cow::Owned(u)))).unwrap_or(Val::Str(Cow::Borrowed("unknown")));
    let raw = RawRecord {
        request_id: take("request_id"),
        request_time: start,
        endpoint_name: model_group.or_else(|| model.clone()),
        served_entity_name: model,
        served_entity_id: take("model_id"),
        provider: take("custom_llm_provider"),
        requester: Some(requester),
        usage_context: (!context.is_empty()).then_some(Val::Json(Value::Object(context))),
        status_code: Some(status),
        execution_duration_ms: duration,
        input_tokens: take("prompt_tokens"),
        output_tokens: take("completion_tokens"),
        cached_input_tokens: cache_read.map(Val::Int),
        cache_creation_input_tokens: cache_creation.map(Val::Int),
        reasoning_tokens: reasoning.map(Val::Int),
        cache_creation_1h_input_tokens: cache_creation_1h.map(Val::Int),
        input_audio_tokens: input_audio.map(Val::Int),
        output_audio_tokens: output_audio.map(Val::Int),
        web_search_requests: labels.web_search_requests.map(Val::Int),
        service_tier: labels.service_tier.map(|t| Val::Str(Cow::Owned(t))),
        inference_geo: labels.inference_geo.map(|g| Val::Str(Cow::Owned(g))),
        request: payload(take("messages")),
        response: payload(take("response")),
        source_reported_cost: take("spend"),
        zone_less_time_is_utc: true,
        ..RawRecord::default()
    };
    validate(raw, typing)
}

/// A JSON column: an object as it is, or JSON text (CSV).
fn json_of(v: Option<Val<'_>>) -> Option<Value> {
    match v {
        Some(Val::Json(j)) => Some(j),
        Some(Val::Str(s)) => serde_json::from_str(&s).ok(),
        _ => None,
    }
}

/// A payload column; LiteLLM writes `{}` when it stored nothing.
fn payload(v: Option<Val<'_>>) -> Option<Val<'_>> {
    let empty = |s: &str| matches!(s.trim(), "" | "{}" | "[]" | "\"\"" | "null");
    match v {
        Some(Val::Json(j)) if empty(&j.to_string()) => None,
        Some(Val::Json(j)) => Some(Val::Str(Cow::Owned(j.to_string()))),
        Some(Val::Str(s)) if empty(&s) => None,
        other => other,
    }
}
