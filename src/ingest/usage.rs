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

use serde::Deserialize;
use serde::de::IgnoredAny;
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

/// What the readers take of a usage object, read in one pass from the JSON (a log line, a
/// response body, or a `Value`) without building a map of it. Any JSON is accepted: a value
/// that is not an object is no usage object, a count that is not an integer is no count (but
/// a key present, unless null), and the keys not named here are skipped. A key given twice
/// keeps its last value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Usage {
    /// The value was an object.
    is_object: bool,
    prompt_tokens: Count,
    completion_tokens: Count,
    input_tokens: Count,
    output_tokens: Count,
    cache_read_input_tokens: Count,
    cache_creation_input_tokens: Count,
    prompt_tokens_details: Details,
    completion_tokens_details: Details,
    input_tokens_details: Details,
    output_tokens_details: Details,
    cache_creation: Details,
    server_tool_use: Details,
    service_tier: Option<String>,
    inference_geo: Option<String>,
}

/// A count of a usage object: whether its key is there and not null, and its value when it
/// is an integer that fits an i64.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Count {
    present: bool,
    value: Option<i64>,
}

/// A nested object of counts (`prompt_tokens_details`, `cache_creation`, ...): whether its key
/// is there and not null, and the counts the readers take of it (the others skipped).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Details {
    present: bool,
    cached_tokens: Option<i64>,
    reasoning_tokens: Option<i64>,
    audio_tokens: Option<i64>,
    ephemeral_1h_input_tokens: Option<i64>,
    web_search_requests: Option<i64>,
}

/// A JSON value read as text when it is a string, else as none (and skipped).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Text(pub(crate) Option<String>);

/// Implements `Deserialize` for a lenient type, one that takes any JSON: `$read` reads an
/// object (its `MapAccess` bound to `$map`), null gives `Default`, and a scalar gives what
/// [`FromScalar`] makes of it, else `$other`, as does an array (skipped).
macro_rules! lenient {
    ($ty:ty, $expecting:literal, |$map:ident| $read:block, other = $other:expr) => {
        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                use $crate::ingest::usage::FromScalar;
                struct V;
                impl<'de> serde::de::Visitor<'de> for V {
                    type Value = $ty;
                    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut $map: A) -> Result<$ty, A::Error> $read
                    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<$ty, A::Error> {
                        while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                        Ok($other)
                    }
                    fn visit_unit<E>(self) -> Result<$ty, E> {
                        Ok(<$ty>::default())
                    }
                    fn visit_none<E>(self) -> Result<$ty, E> {
                        Ok(<$ty>::default())
                    }
                    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<$ty, D::Error> {
                        <$ty as serde::Deserialize>::deserialize(d)
                    }
                    fn visit_bool<E>(self, _: bool) -> Result<$ty, E> {
                        Ok($other)
                    }
                    fn visit_i64<E>(self, v: i64) -> Result<$ty, E> {
                        // simd-json's -0, a float to serde_json (which this follows)
                        if v == $crate::ingest::sources::native::SIMD_NEGATIVE_ZERO {
                            return Ok($other);
                        }
                        Ok(<$ty>::from_int(Some(v)).unwrap_or($other))
                    }
                    fn visit_u64<E>(self, v: u64) -> Result<$ty, E> {
                        Ok(<$ty>::from_int(i64::try_from(v).ok()).unwrap_or($other))
                    }
                    fn visit_f64<E>(self, _: f64) -> Result<$ty, E> {
                        Ok($other)
                    }
                    fn visit_str<E>(self, v: &str) -> Result<$ty, E> {
                        Ok(<$ty>::from_text(v).unwrap_or($other))
                    }
                }
                d.deserialize_any(V)
            }
        }
    };
}
pub(crate) use lenient;

/// What a scalar gives, for the types that take one (a count an integer, text a string).
pub(crate) trait FromScalar: Sized {
    fn from_int(_: Option<i64>) -> Option<Self> {
        None
    }
    fn from_text(_: &str) -> Option<Self> {
        None
    }
}

impl FromScalar for Usage {}
impl FromScalar for Details {}
impl FromScalar for Count {
    fn from_int(value: Option<i64>) -> Option<Self> {
        Some(Count { present: true, value })
    }
}
impl FromScalar for Text {
    fn from_text(text: &str) -> Option<Self> {
        Some(Text(Some(text.to_string())))
    }
}

lenient!(
    Count,
    "a count",
    |map| {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Count { present: true, value: None })
    },
    other = Count { present: true, value: None }
);

lenient!(
    Text,
    "text",
    |map| {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Text(None))
    },
    other = Text(None)
);

lenient!(
    Details,
    "an object of counts",
    |map| {
        let mut d = Details { present: true, ..Details::default() };
        while let Some(key) = map.next_key::<UsageKey>()? {
            let slot = match key {
                UsageKey::CachedTokens => &mut d.cached_tokens,
                UsageKey::ReasoningTokens => &mut d.reasoning_tokens,
                UsageKey::AudioTokens => &mut d.audio_tokens,
                UsageKey::Ephemeral1hInputTokens => &mut d.ephemeral_1h_input_tokens,
                UsageKey::WebSearchRequests => &mut d.web_search_requests,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            *slot = map.next_value::<Count>()?.value;
        }
        Ok(d)
    },
    other = Details { present: true, ..Details::default() }
);

lenient!(
    Usage,
    "a usage object",
    |map| {
        let mut u = Usage { is_object: true, ..Usage::default() };
        while let Some(key) = map.next_key::<UsageKey>()? {
            match key {
                UsageKey::PromptTokens => u.prompt_tokens = map.next_value()?,
                UsageKey::CompletionTokens => u.completion_tokens = map.next_value()?,
                UsageKey::InputTokens => u.input_tokens = map.next_value()?,
                UsageKey::OutputTokens => u.output_tokens = map.next_value()?,
                UsageKey::CacheReadInputTokens => u.cache_read_input_tokens = map.next_value()?,
                UsageKey::CacheCreationInputTokens => u.cache_creation_input_tokens = map.next_value()?,
                UsageKey::PromptTokensDetails => u.prompt_tokens_details = map.next_value()?,
                UsageKey::CompletionTokensDetails => u.completion_tokens_details = map.next_value()?,
                UsageKey::InputTokensDetails => u.input_tokens_details = map.next_value()?,
                UsageKey::OutputTokensDetails => u.output_tokens_details = map.next_value()?,
                UsageKey::CacheCreation => u.cache_creation = map.next_value()?,
                UsageKey::ServerToolUse => u.server_tool_use = map.next_value()?,
                UsageKey::ServiceTier => u.service_tier = map.next_value::<Text>()?.0,
                UsageKey::InferenceGeo => u.inference_geo = map.next_value::<Text>()?.0,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(u)
    },
    other = Usage::default()
);

/// The keys the readers take, of a usage object and of its nested objects.
#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum UsageKey {
    PromptTokens,
    CompletionTokens,
    InputTokens,
    OutputTokens,
    CacheReadInputTokens,
    CacheCreationInputTokens,
    PromptTokensDetails,
    CompletionTokensDetails,
    InputTokensDetails,
    OutputTokensDetails,
    CacheCreation,
    ServerToolUse,
    ServiceTier,
    InferenceGeo,
    CachedTokens,
    ReasoningTokens,
    AudioTokens,
    #[serde(rename = "ephemeral_1h_input_tokens")]
    Ephemeral1hInputTokens,
    WebSearchRequests,
    #[serde(other)]
    Other,
}

impl Usage {
    /// The counts of the usage object and how it counts them; `None` when it is not one (an
    /// object with a non-null `prompt_tokens`, `input_tokens` or `completion_tokens`).
    pub fn reported(&self) -> Option<(Reported, TokenStyle)> {
        if !self.is_object {
            return None;
        }
        // OpenAI counts the cached part inside the prompt, under two sets of names: chat,
        // completions and embeddings, and the Responses API
        let openai = |prompt: Count, prompt_details: Details, completion: Count, completion_details: Details| {
            Reported {
                input: prompt.value,
                cache_read: prompt_details.cached_tokens,
                cache_creation: None,
                output: completion.value,
                reasoning: completion_details.reasoning_tokens,
                // platform.openai.com/docs/api-reference/chat/object: usage.prompt_tokens_details
                // .audio_tokens and completion_tokens_details.audio_tokens, parts of the two counts
                input_audio: prompt_details.audio_tokens,
                output_audio: completion_details.audio_tokens,
                cache_creation_1h: None,
            }
        };
        if self.prompt_tokens.present || (self.completion_tokens.present && !self.input_tokens.present) {
            let r = openai(
                self.prompt_tokens,
                self.prompt_tokens_details,
                self.completion_tokens,
                self.completion_tokens_details,
            );
            return Some((r, TokenStyle::OpenAi));
        }
        if self.input_tokens_details.present || self.output_tokens_details.present {
            let r =
                openai(self.input_tokens, self.input_tokens_details, self.output_tokens, self.output_tokens_details);
            return Some((r, TokenStyle::OpenAi));
        }
        if self.input_tokens.present || self.output_tokens.present {
            return Some((
                Reported {
                    input: self.input_tokens.value,
                    cache_read: self.cache_read_input_tokens.value,
                    cache_creation: self.cache_creation_input_tokens.value,
                    output: self.output_tokens.value,
                    reasoning: None,
                    // docs.anthropic.com, prompt caching: usage.cache_creation splits
                    // cache_creation_input_tokens by TTL into ephemeral_5m_input_tokens and
                    // ephemeral_1h_input_tokens
                    cache_creation_1h: self.cache_creation.ephemeral_1h_input_tokens,
                    input_audio: None,
                    output_audio: None,
                },
                TokenStyle::Anthropic,
            ));
        }
        None
    }

    /// The labels of the usage object (the response it belongs to may add the OpenAI tier).
    pub fn labels(&self) -> UsageLabels {
        UsageLabels {
            web_search_requests: self.server_tool_use.web_search_requests,
            service_tier: self.service_tier.clone(),
            inference_geo: self.inference_geo.clone(),
        }
    }

    /// The counts a LiteLLM spend log takes of the usage object it passes through (the
    /// provider's, OpenAI's or Anthropic's shape), besides its own prompt and completion
    /// counts (`input` and `output` are none here).
    pub fn passed_through(&self) -> Reported {
        Reported {
            input: None,
            cache_read: self.prompt_tokens_details.cached_tokens.or(self.cache_read_input_tokens.value),
            cache_creation: self.cache_creation_input_tokens.value,
            output: None,
            reasoning: self.completion_tokens_details.reasoning_tokens,
            cache_creation_1h: self.cache_creation.ephemeral_1h_input_tokens,
            input_audio: self.prompt_tokens_details.audio_tokens,
            output_audio: self.completion_tokens_details.audio_tokens,
        }
    }
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
/// text, most of a body's bytes) is skipped without being unescaped or copied. A chunk that
/// is not an object reads as one with none of these keys.
///
/// The usage objects are boxed: a [`Usage`] is about 700 bytes, most chunks of a stream have
/// none, and a chunk is moved several times as it is read (boxing them took 3 % off the
/// instructions of a payload table's ingest).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UsageChunk {
    /// `type`, when it is text.
    kind: Option<String>,
    /// `usage`, when the chunk has the key (null included: such a usage is no object).
    usage: Option<Box<Usage>>,
    /// `message.usage` when `message` is an object with that key, whatever its value (a
    /// `message_start` whose usage is null has no usage, which is not a usage absent).
    message_usage: Option<Box<Usage>>,
    service_tier: Option<String>,
}

impl FromScalar for UsageChunk {}

lenient!(
    UsageChunk,
    "a response chunk",
    |map| {
        let mut c = UsageChunk::default();
        while let Some(key) = map.next_key::<ChunkKey>()? {
            match key {
                ChunkKey::Type => c.kind = map.next_value::<Text>()?.0,
                ChunkKey::Usage => c.usage = Some(Box::new(map.next_value()?)),
                ChunkKey::Message => c.message_usage = map.next_value::<Message>()?.0,
                ChunkKey::ServiceTier => c.service_tier = map.next_value::<Text>()?.0,
                ChunkKey::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(c)
    },
    other = UsageChunk::default()
);

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum ChunkKey {
    Type,
    Usage,
    Message,
    ServiceTier,
    #[serde(other)]
    Other,
}

/// A chunk's `message`: its `usage` when it is an object with that key.
#[derive(Default)]
struct Message(Option<Box<Usage>>);

impl FromScalar for Message {}

lenient!(
    Message,
    "a message",
    |map| {
        let mut usage = None;
        while let Some(key) = map.next_key::<ChunkKey>()? {
            match key {
                // present: null included (a Usage reads null as no usage object)
                ChunkKey::Usage => usage = Some(Box::new(map.next_value_seed(PresentUsage)?)),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Message(usage))
    },
    other = Message(None)
);

/// Reads a usage value as present even when it is null (an `Option` would make null absent).
struct PresentUsage;

impl<'de> serde::de::DeserializeSeed<'de> for PresentUsage {
    type Value = Usage;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Usage, D::Error> {
        Usage::deserialize(d)
    }
}

/// A logged response as the readers take it: the chunks' usage, and the whole chunks when the
/// body shows no usage (to count its characters) or is not JSON (a stream of server-sent
/// events).
#[derive(Debug, Default)]
pub struct ResponseChunks {
    pub usage: Vec<UsageChunk>,
    pub whole: Vec<Value>,
}

/// A response's chunks as [`response_chunks`] cuts them, read for their usage only, when the
/// body is a JSON object or array that shows usage; otherwise None, and the caller reads the
/// whole body with [`response_chunks`] (to count characters, or to cut a stream of
/// server-sent events).
fn usage_chunks(text: &str) -> Option<Vec<UsageChunk>> {
    let chunks: Vec<UsageChunk> = match text.trim_start().as_bytes().first()? {
        b'{' => vec![serde_json::from_str::<UsageChunk>(text).ok()?],
        b'[' => serde_json::from_str::<Vec<UsageChunk>>(text).ok()?,
        _ => return None,
    };
    from_response(&chunks).is_some().then_some(chunks)
}

/// The usage read of chunks already parsed whole.
fn usage_of(chunks: &[Value]) -> Vec<UsageChunk> {
    chunks.iter().map(|c| UsageChunk::deserialize(c).unwrap_or_default()).collect()
}

/// A logged response's chunks for [`from_response`], [`labels_of`] and [`response_chars`]:
/// read for the usage only when it shows usage, else whole.
pub fn chunks_of(text: &str) -> ResponseChunks {
    match usage_chunks(text) {
        Some(usage) => ResponseChunks { usage, whole: Vec::new() },
        None => {
            let whole = response_chunks(text);
            ResponseChunks { usage: usage_of(&whole), whole }
        }
    }
}

/// The usage a response (plain or streamed) reports, if any.
pub fn from_response(chunks: &[UsageChunk]) -> Option<(Reported, TokenStyle)> {
    // Anthropic streams: the input side arrives first, the output count last
    let start = chunks.iter().find(|c| c.kind.as_deref() == Some("message_start"));
    if let Some(usage) = start.and_then(|s| s.message_usage.as_deref()) {
        let (mut reported, style) = usage.reported()?;
        let last_delta = chunks
            .iter()
            .rev()
            .filter(|c| c.kind.as_deref() == Some("message_delta"))
            .find_map(|c| c.usage.as_deref().filter(|u| u.is_object).and_then(|u| u.output_tokens.value));
        if let Some(output) = last_delta {
            reported.output = Some(output);
        }
        return Some((reported, style));
    }
    chunks.iter().rev().find_map(|c| c.usage.as_deref().and_then(Usage::reported))
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

/// The labels of a logged response (plain or streamed): the last chunk that says, for each.
pub fn labels_of(chunks: &[UsageChunk]) -> UsageLabels {
    let mut out = UsageLabels::default();
    for c in chunks.iter().rev() {
        for usage in [c.usage.as_deref(), c.message_usage.as_deref()].into_iter().flatten().filter(|u| u.is_object) {
            let l = usage.labels();
            out.web_search_requests = out.web_search_requests.or(l.web_search_requests);
            out.service_tier = out.service_tier.or(l.service_tier);
            out.inference_geo = out.inference_geo.or(l.inference_geo);
        }
        if out.service_tier.is_none() {
            out.service_tier = c.service_tier.clone();
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
    if let Some((reported, style)) = from_response(&chunks.usage) {
        return Some(super::tokens::normalise(reported, style));
    }
    // a request body's prompt text; a body without messages, prompt or input counts whole
    let input_chars = request.map_or(0, |r| match serde_json::from_str::<Value>(r) {
        Ok(v @ Value::Object(_)) if request_chars(&v) > 0 => request_chars(&v),
        _ => r.chars().count(),
    });
    let output_chars = match response {
        Some(_) if !chunks.whole.is_empty() => response_chars(&chunks.whole),
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

    /// The counts of a usage object given as a parsed value.
    fn from_usage_object(usage: &Value) -> Option<(Reported, TokenStyle)> {
        Usage::deserialize(usage).ok()?.reported()
    }

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

    /// A usage object is read in one pass, with no map built: values that are not what a key
    /// holds read as a value does (`as_i64`, `as_str`, `get` of a non-object), whether the
    /// object comes as text or as a parsed value.
    #[test]
    fn odd_values_in_a_usage_object_read_as_their_json_value_reads() {
        // (text, the input, cache and output counts and the style read)
        type Read = Option<(Option<i64>, Option<i64>, Option<i64>, TokenStyle)>;
        let cases: [(&str, Read); 9] = [
            // a count that is not an integer is a key present without a count
            (r#"{"prompt_tokens": 10.0, "completion_tokens": 3}"#, Some((None, None, Some(3), TokenStyle::OpenAi))),
            (r#"{"prompt_tokens": "10", "completion_tokens": [1]}"#, Some((None, None, None, TokenStyle::OpenAi))),
            (
                r#"{"input_tokens": 18446744073709551615, "output_tokens": 1, "cache_read_input_tokens": -2}"#,
                Some((None, Some(-2), Some(1), TokenStyle::Anthropic)),
            ),
            // details that are not an object have no counts, but are there
            (
                r#"{"prompt_tokens": 5, "prompt_tokens_details": [{"cached_tokens": 1}]}"#,
                Some((Some(5), None, None, TokenStyle::OpenAi)),
            ),
            (r#"{"input_tokens": 5, "input_tokens_details": 3}"#, Some((Some(5), None, None, TokenStyle::OpenAi))),
            (
                r#"{"input_tokens": 5, "input_tokens_details": null}"#,
                Some((Some(5), None, None, TokenStyle::Anthropic)),
            ),
            // the last of a key given twice
            (
                r#"{"prompt_tokens": 1, "prompt_tokens": null, "output_tokens": 4}"#,
                Some((None, None, Some(4), TokenStyle::Anthropic)),
            ),
            (r#"{"total_tokens": 3, "nested": {"prompt_tokens": 1}}"#, None),
            (r#"[{"prompt_tokens": 1}]"#, None),
        ];
        for (text, want) in cases {
            let from_text = serde_json::from_str::<Usage>(text).unwrap();
            let value: Value = serde_json::from_str(text).unwrap();
            assert_eq!(Usage::deserialize(&value).unwrap(), from_text, "{text}");
            let got =
                from_text.reported().map(|(r, style)| (r.input, r.cache_read.or(r.cache_creation), r.output, style));
            assert_eq!(got, want, "{text}");
        }
        let labels = serde_json::from_str::<Usage>(
            r#"{"service_tier": 1, "inference_geo": "us", "server_tool_use": {"web_search_requests": 2.5}}"#,
        )
        .unwrap()
        .labels();
        assert_eq!(
            labels,
            UsageLabels { web_search_requests: None, service_tier: None, inference_geo: Some("us".into()) }
        );
        // not an object at all: no usage, and no labels
        for text in ["null", "3", r#""text""#, "true", "[]"] {
            let u = serde_json::from_str::<Usage>(text).unwrap();
            assert_eq!((u.reported(), u.labels()), (None, UsageLabels::default()), "{text}");
        }
    }

    #[test]
    fn sse_streams_and_arrays_are_chunks() {
        let sse = "data: {\"choices\":[{\"delta\":{\"content\":\"hé\"}}]}\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2}}\n\ndata: [DONE]\n";
        let chunks = response_chunks(sse);
        assert_eq!(chunks.len(), 2);
        assert_eq!(response_chars(&chunks), 2);
        assert_eq!(from_response(&usage_of(&chunks)).unwrap().0.output, Some(2));
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
            let chunks = usage_of(&response_chunks(&text));
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

    /// A stream's chunks are read and moved one by one: a chunk holds its usage objects boxed,
    /// not inline (two usage objects made a chunk 1.5 KB).
    #[test]
    fn a_response_chunk_is_small_to_move() {
        assert!(std::mem::size_of::<Usage>() > 500, "{} bytes", std::mem::size_of::<Usage>());
        assert!(std::mem::size_of::<UsageChunk>() <= 64, "{} bytes", std::mem::size_of::<UsageChunk>());
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
            let whole = usage_of(&response_chunks(text));
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
