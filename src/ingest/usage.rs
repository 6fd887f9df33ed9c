//! Provider usage objects and payload text: what a logged response says it cost in tokens,
//! and, when it says nothing, how many characters the request and response held (Databricks
//! estimates `(characters + 1) / 4` tokens then, and so do we).
//!
//! Shapes read (the corpus in `tests/data/gateway/usage_objects.json` pins them):
//! - OpenAI chat / completions / embeddings: `usage.prompt_tokens` (cached tokens included,
//!   `prompt_tokens_details.cached_tokens`), `completion_tokens`,
//!   `completion_tokens_details.reasoning_tokens`;
//! - Anthropic messages: `usage.input_tokens` (cache reads and writes apart:
//!   `cache_read_input_tokens`, `cache_creation_input_tokens`), `output_tokens`;
//! - streams, as a JSON array of chunks or as SSE text (`data: {...}` lines): OpenAI's usage is
//!   in its last chunk with one; Anthropic's input side is in `message_start`, its output count
//!   in the last `message_delta`.
//!
//! The bucket rules themselves are in [`super::tokens`].

use serde_json::Value;

use super::tokens::Reported;

/// How a usage object counts prompt tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TokenStyle {
    /// The prompt count includes cache reads and writes (OpenAI, LiteLLM, the native format).
    #[default]
    OpenAi,
    /// Cache reads and writes are counted apart from the input (Anthropic).
    Anthropic,
}

/// The counts of a usage object and how it counts them; `None` when `usage` is not one (an
/// object with a non-null `prompt_tokens`, `input_tokens` or `completion_tokens`).
pub fn from_usage_object(usage: &Value) -> Option<(Reported, TokenStyle)> {
    let obj = usage.as_object()?;
    let has = |k: &str| obj.get(k).is_some_and(|v| !v.is_null());
    let int = |k: &str| obj.get(k).and_then(Value::as_i64);
    let detail = |a: &str, b: &str| obj.get(a).and_then(|d| d.get(b)).and_then(Value::as_i64);
    // OpenAI counts the cached part inside the prompt, under two sets of names: chat,
    // completions and embeddings, and the Responses API
    let openai = |prompt: &str, prompt_details: &str, completion: &str, completion_details: &str| Reported {
        input: int(prompt),
        cache_read: detail(prompt_details, "cached_tokens"),
        cache_creation: None,
        output: int(completion),
        reasoning: detail(completion_details, "reasoning_tokens"),
        // platform.openai.com/docs/api-reference/chat/object: usage.prompt_tokens_details
        // .audio_tokens and completion_tokens_details.audio_tokens, parts of the two counts
        input_audio: detail(prompt_details, "audio_tokens"),
        output_audio: detail(completion_details, "audio_tokens"),
        cache_creation_1h: None,
    };
    if has("prompt_tokens") || (has("completion_tokens") && !has("input_tokens")) {
        return Some((
            openai("prompt_tokens", "prompt_tokens_details", "completion_tokens", "completion_tokens_details"),
            TokenStyle::OpenAi,
        ));
    }
    if has("input_tokens_details") || has("output_tokens_details") {
        return Some((
            openai("input_tokens", "input_tokens_details", "output_tokens", "output_tokens_details"),
            TokenStyle::OpenAi,
        ));
    }
    if has("input_tokens") || has("output_tokens") {
        return Some((
            Reported {
                input: int("input_tokens"),
                cache_read: int("cache_read_input_tokens"),
                cache_creation: int("cache_creation_input_tokens"),
                output: int("output_tokens"),
                reasoning: None,
                // docs.anthropic.com, prompt caching: usage.cache_creation splits
                // cache_creation_input_tokens by TTL into ephemeral_5m_input_tokens and
                // ephemeral_1h_input_tokens
                cache_creation_1h: detail("cache_creation", "ephemeral_1h_input_tokens"),
                input_audio: None,
                output_audio: None,
            },
            TokenStyle::Anthropic,
        ));
    }
    None
}

/// The chunks of a logged response: a stream (JSON array, or SSE text) as its events, a plain
/// response as itself. Text that is neither JSON nor SSE gives nothing.
pub fn response_chunks(text: &str) -> Vec<Value> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Array(chunks)) => chunks,
        Ok(v) => vec![v],
        // SSE: `data: <json>` lines among `event:` lines, `: comments` and blanks
        Err(_) => text
            .lines()
            .filter_map(|l| l.trim_end_matches('\r').strip_prefix("data:"))
            .map(str::trim)
            .filter(|d| *d != "[DONE]")
            .filter_map(|d| serde_json::from_str(d).ok())
            .collect(),
    }
}

/// What [`from_response`] and [`labels_of`] read of a response chunk. The rest (the generated
/// text, most of a body's bytes) is skipped without being unescaped or copied.
/// A key absent is None, a key present Some, null included (`{"usage": null}` is not `{}` to
/// the readers).
#[derive(serde::Deserialize)]
struct UsageChunk {
    #[serde(default, rename = "type", deserialize_with = "present")]
    kind: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    usage: Option<Value>,
    #[serde(default)]
    message: Option<UsageMessage>,
    #[serde(default, deserialize_with = "present")]
    service_tier: Option<Value>,
}

#[derive(serde::Deserialize)]
struct UsageMessage {
    #[serde(default, deserialize_with = "present")]
    usage: Option<Value>,
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    <Value as serde::Deserialize>::deserialize(d).map(Some)
}

impl UsageChunk {
    /// The chunk as the object of only the keys it read.
    fn into_value(self) -> Value {
        let mut object = serde_json::Map::new();
        let mut put = |k: &str, v: Option<Value>| {
            if let Some(v) = v {
                object.insert(k.to_string(), v);
            }
        };
        put("type", self.kind);
        put("usage", self.usage);
        put("service_tier", self.service_tier);
        put(
            "message",
            self.message.map(|m| Value::Object(m.usage.into_iter().map(|u| ("usage".to_string(), u)).collect())),
        );
        Value::Object(object)
    }
}

/// A response's chunks as [`response_chunks`] cuts them, each holding only what
/// [`from_response`] and [`labels_of`] read, when the body is a JSON object or array of objects
/// that shows usage; otherwise None, and the caller reads the whole body with
/// [`response_chunks`] (to count characters, or to cut a stream of server-sent events).
fn usage_chunks(text: &str) -> Option<Vec<Value>> {
    let chunks: Vec<Value> = match text.trim_start().as_bytes().first()? {
        b'{' => vec![serde_json::from_str::<UsageChunk>(text).ok()?.into_value()],
        b'[' => serde_json::from_str::<Vec<UsageChunk>>(text).ok()?.into_iter().map(UsageChunk::into_value).collect(),
        _ => return None,
    };
    from_response(&chunks).is_some().then_some(chunks)
}

/// A logged response's chunks for [`from_response`], [`labels_of`] and [`response_chars`]:
/// read for the usage only when it shows usage, else whole.
pub fn chunks_of(text: &str) -> Vec<Value> {
    usage_chunks(text).unwrap_or_else(|| response_chunks(text))
}

/// The usage a response (plain or streamed) reports, if any.
pub fn from_response(chunks: &[Value]) -> Option<(Reported, TokenStyle)> {
    // Anthropic streams: the input side arrives first, the output count last
    let start = chunks.iter().find(|c| c.get("type").and_then(Value::as_str) == Some("message_start"));
    if let Some(usage) = start.and_then(|s| s.get("message")).and_then(|m| m.get("usage")) {
        let (mut reported, style) = from_usage_object(usage)?;
        let last_delta = chunks
            .iter()
            .rev()
            .filter(|c| c.get("type").and_then(Value::as_str) == Some("message_delta"))
            .find_map(|c| c.get("usage").and_then(|u| u.get("output_tokens")).and_then(Value::as_i64));
        if let Some(output) = last_delta {
            reported.output = Some(output);
        }
        return Some((reported, style));
    }
    chunks.iter().rev().find_map(|c| c.get("usage").filter(|u| !u.is_null()).and_then(from_usage_object))
}

/// What a response says besides its token counts: tool calls billed per use and the tier and
/// region it was served in.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct UsageLabels {
    /// Anthropic's `usage.server_tool_use.web_search_requests`.
    pub web_search_requests: Option<i64>,
    /// OpenAI's response `service_tier` (`default`, `flex`, `priority`); Anthropic's
    /// `usage.service_tier` (`standard`, `batch`, `priority`).
    pub service_tier: Option<String>,
    /// Anthropic's `usage.inference_geo`.
    pub inference_geo: Option<String>,
}

/// The labels of a usage object (the response it belongs to may add the OpenAI tier).
pub fn labels_of_usage(usage: &Value) -> UsageLabels {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
    UsageLabels {
        web_search_requests: usage
            .get("server_tool_use")
            .and_then(|t| t.get("web_search_requests"))
            .and_then(Value::as_i64),
        service_tier: text(usage.get("service_tier")),
        inference_geo: text(usage.get("inference_geo")),
    }
}

/// The labels of a logged response (plain or streamed): the last chunk that says, for each.
pub fn labels_of(chunks: &[Value]) -> UsageLabels {
    let mut out = UsageLabels::default();
    for c in chunks.iter().rev() {
        let usages = [c.get("usage"), c.get("message").and_then(|m| m.get("usage"))];
        for usage in usages.into_iter().flatten().filter(|u| u.is_object()) {
            let l = labels_of_usage(usage);
            out.web_search_requests = out.web_search_requests.or(l.web_search_requests);
            out.service_tier = out.service_tier.or(l.service_tier);
            out.inference_geo = out.inference_geo.or(l.inference_geo);
        }
        if out.service_tier.is_none() {
            out.service_tier = c.get("service_tier").and_then(Value::as_str).map(str::to_string);
        }
    }
    out
}

/// Characters of the prompt text of a request body: messages' contents, `prompt`, `input`.
pub fn request_chars(request: &Value) -> usize {
    let mut n = 0;
    if let Some(messages) = request.get("messages").and_then(Value::as_array) {
        for m in messages {
            n += content_chars(m.get("content"));
        }
    }
    n + text_or_texts(request.get("prompt")) + text_or_texts(request.get("input"))
}

/// Characters of the generated text of a response's chunks.
pub fn response_chars(chunks: &[Value]) -> usize {
    let mut n = 0;
    for c in chunks {
        if let Some(choices) = c.get("choices").and_then(Value::as_array) {
            for choice in choices {
                n += content_chars(choice.get("message").and_then(|m| m.get("content")));
                n += text_or_texts(choice.get("text"));
                n += content_chars(choice.get("delta").and_then(|d| d.get("content")));
            }
        }
        // Anthropic: a message's content blocks, and a stream's text deltas
        if c.get("choices").is_none() {
            n += content_chars(c.get("content"));
        }
        n += text_or_texts(c.get("delta").and_then(|d| d.get("text")));
    }
    n
}

/// A message content: a string, or an array of parts whose `text` counts.
fn content_chars(content: Option<&Value>) -> usize {
    match content {
        Some(Value::String(s)) => s.chars().count(),
        Some(Value::Array(parts)) => parts.iter().map(|p| text_or_texts(p.get("text"))).sum(),
        _ => 0,
    }
}

/// A string, or the strings of an array.
fn text_or_texts(v: Option<&Value>) -> usize {
    match v {
        Some(Value::String(s)) => s.chars().count(),
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).map(|s| s.chars().count()).sum(),
        _ => 0,
    }
}

/// The tokens of a request logged without counts, from its payload text: the usage object of
/// the logged response if it has one, else an estimate from the characters of the prompt and
/// of the output (text that is not a JSON request or a JSON / SSE response counts whole).
/// `None` when there is no payload text at all.
pub fn tokens_from_payload(
    request: Option<&str>,
    response: Option<&str>,
) -> Option<Result<super::tokens::TokenBuckets, super::validate::Reject>> {
    let (request, response) = (request.filter(|t| !t.is_empty()), response.filter(|t| !t.is_empty()));
    if request.is_none() && response.is_none() {
        return None;
    }
    let chunks = response.map(chunks_of).unwrap_or_default();
    if let Some((reported, style)) = from_response(&chunks) {
        return Some(super::tokens::normalise(reported, style));
    }
    // a request body's prompt text; a body without messages, prompt or input counts whole
    let input_chars = request.map_or(0, |r| match serde_json::from_str::<Value>(r) {
        Ok(v @ Value::Object(_)) if request_chars(&v) > 0 => request_chars(&v),
        _ => r.chars().count(),
    });
    let output_chars = match response {
        Some(_) if !chunks.is_empty() => response_chars(&chunks),
        Some(r) => r.chars().count(),
        None => 0,
    };
    Some(Ok(super::tokens::estimated(input_chars as i64, output_chars as i64)))
}

/// Databricks' estimate of the tokens in `chars` characters.
pub fn estimated_tokens(chars: i64) -> i64 {
    (chars + 1) / 4
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn openai_and_anthropic_usage_objects() {
        let (r, s) = from_usage_object(
            &json!({"prompt_tokens": 100, "completion_tokens": 20, "prompt_tokens_details": {"cached_tokens": 64}}),
        )
        .unwrap();
        assert_eq!((r.input, r.cache_read, r.output, s), (Some(100), Some(64), Some(20), TokenStyle::OpenAi));
        let (r, s) =
            from_usage_object(&json!({"input_tokens": 5, "output_tokens": 7, "cache_read_input_tokens": null}))
                .unwrap();
        assert_eq!((r.input, r.cache_read, r.output, s), (Some(5), None, Some(7), TokenStyle::Anthropic));
        assert!(from_usage_object(&json!({"total": 3})).is_none());
        assert!(from_usage_object(&json!({"prompt_tokens": null, "completion_tokens": null})).is_none());
        // the Responses API counts like chat completions, under Anthropic-like names
        let (r, s) = from_usage_object(&json!({"input_tokens": 50, "input_tokens_details": {"cached_tokens": 32}, "output_tokens": 9, "output_tokens_details": {"reasoning_tokens": 4}})).unwrap();
        assert_eq!((r.input, r.cache_read, r.reasoning, s), (Some(50), Some(32), Some(4), TokenStyle::OpenAi));
    }

    #[test]
    fn sse_streams_and_arrays_are_chunks() {
        let sse = "data: {\"choices\":[{\"delta\":{\"content\":\"hé\"}}]}\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2}}\n\ndata: [DONE]\n";
        let chunks = response_chunks(sse);
        assert_eq!(chunks.len(), 2);
        assert_eq!(response_chars(&chunks), 2);
        assert_eq!(from_response(&chunks).unwrap().0.output, Some(2));
        assert!(response_chunks("not json").is_empty());
    }

    /// The corpus of real-shaped usage objects and responses (tests/data/gateway/usage_objects.json):
    /// each gives the expected buckets, or none.
    #[test]
    fn the_corpus_of_provider_usage_objects() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/gateway/usage_objects.json");
        let corpus: Vec<serde_json::Value> = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert!(corpus.len() >= 20, "{} cases", corpus.len());
        for case in &corpus {
            let name = case["name"].as_str().unwrap();
            let text = match &case["response"] {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let chunks = response_chunks(&text);
            let got = from_response(&chunks).map(|(r, style)| crate::ingest::tokens::normalise(r, style).unwrap());
            let want = &case["expect"];
            match got {
                None => assert!(want.is_null(), "{name}: no usage found, expected {want}"),
                Some(b) => {
                    let buckets = json!({"input": b.input, "cache_read": b.cache_read, "cache_creation": b.cache_creation, "output": b.output, "reasoning": b.reasoning});
                    assert_eq!(&buckets, want, "{name}");
                    // the billed parts and labels, where the case names them
                    if let Some(want) = case.get("expect_extras") {
                        let l = labels_of(&chunks);
                        let extras = json!({
                            "input_audio": b.input_audio, "output_audio": b.output_audio,
                            "cache_creation_1h": b.cache_creation_1h, "web_search_requests": l.web_search_requests,
                            "service_tier": l.service_tier, "inference_geo": l.inference_geo,
                        });
                        let extras: serde_json::Map<_, _> = extras
                            .as_object()
                            .unwrap()
                            .iter()
                            .filter(|(_, v)| !v.is_null())
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect();
                        assert_eq!(&serde_json::Value::Object(extras), want, "{name}: extras");
                    }
                }
            }
        }
    }

    #[test]
    fn characters_are_counted_as_unicode_scalars() {
        let req = json!({"messages": [{"role": "user", "content": "東京"}, {"role": "user", "content": [{"type": "text", "text": "ab"}]}], "input": ["x", "yz"]});
        assert_eq!(request_chars(&req), 7);
        assert_eq!(estimated_tokens(7), 2);
        assert_eq!(estimated_tokens(0), 0);
    }

    #[test]
    fn the_usage_read_of_a_body_is_what_the_whole_body_gives() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/gateway/usage_objects.json");
        let corpus: Vec<serde_json::Value> = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let mut texts: Vec<String> = corpus
            .iter()
            .map(|case| match &case["response"] {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect();
        // the corners where a key present as null is not a key absent
        texts.extend(
            [
                r#"[{"type":"message_start","message":{"id":"m"}},{"usage":{"input_tokens":3,"output_tokens":1}}]"#,
                r#"[{"type":"message_start","message":{"usage":null}},{"usage":{"input_tokens":3,"output_tokens":1}}]"#,
                r#"[{"type":"message_start","message":null},{"usage":{"input_tokens":3,"output_tokens":1}}]"#,
                r#"{"usage":null,"service_tier":"flex","choices":[]}"#,
                r#"{"usage":{"prompt_tokens":5,"completion_tokens":2},"service_tier":null}"#,
                r#"[{"usage":{"prompt_tokens":5,"completion_tokens":2}},"not an object"]"#,
                r#"{"message":"text","usage":{"prompt_tokens":5}}"#,
            ]
            .map(String::from),
        );
        let mut fast = 0;
        for text in &texts {
            let whole = response_chunks(text);
            let Some(read) = usage_chunks(text) else {
                continue;
            };
            fast += 1;
            assert_eq!(from_response(&read), from_response(&whole), "{text}");
            assert_eq!(labels_of(&read), labels_of(&whole), "{text}");
            assert!(from_response(&whole).is_some(), "{text}");
        }
        assert!(fast >= 15, "the usage read served {fast} of {} bodies", texts.len());
    }
}
