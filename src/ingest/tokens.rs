//! Token normalisation: every source's counts become the same disjoint buckets.
//!
//! Providers count differently. OpenAI's `prompt_tokens` *includes* the cached tokens
//! (`prompt_tokens_details.cached_tokens`); Anthropic's `input_tokens` *excludes* cache reads
//! and cache writes, which it reports apart. The ledger stores disjoint buckets, so that
//! `input + cache_read + cache_creation` is the whole prompt and each bucket has one price.

use super::validate::{ReasonCode, Reject};

/// Where the token counts of a row came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenCountSource {
    /// The gateway or provider reported them.
    Reported,
    /// Estimated from text length (no usage object in the log).
    Estimated,
    /// No counts at all (typically a 429 or a 4xx): all buckets are zero.
    Absent,
}

impl TokenCountSource {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenCountSource::Reported => "reported",
            TokenCountSource::Estimated => "estimated",
            TokenCountSource::Absent => "absent",
        }
    }
}

/// Disjoint token buckets of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenBuckets {
    /// Prompt tokens that were neither read from nor written to a cache.
    pub input: i64,
    pub cache_read: i64,
    pub cache_creation: i64,
    /// All generated tokens, reasoning included.
    pub output: i64,
    /// The part of `output` spent on reasoning, when the provider says.
    pub reasoning: Option<i64>,
    /// The part of `cache_creation` written with a 1-hour TTL (billed above the 5-minute
    /// writes), when the provider says.
    pub cache_creation_1h: Option<i64>,
    /// The part of `input` that is audio, when the provider says.
    pub input_audio: Option<i64>,
    /// The part of `output` that is audio, when the provider says.
    pub output_audio: Option<i64>,
    pub source: TokenCountSource,
}

/// Counts as a source reports them, before normalisation; `None` is absent.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Reported {
    pub input: Option<i64>,
    pub cache_read: Option<i64>,
    pub cache_creation: Option<i64>,
    pub output: Option<i64>,
    pub reasoning: Option<i64>,
    /// Anthropic's `cache_creation.ephemeral_1h_input_tokens`: a part of `cache_creation`.
    pub cache_creation_1h: Option<i64>,
    /// OpenAI's `prompt_tokens_details.audio_tokens`: a part of the prompt.
    pub input_audio: Option<i64>,
    /// OpenAI's `completion_tokens_details.audio_tokens`: a part of the output.
    pub output_audio: Option<i64>,
}

impl Reported {
    /// No count at all.
    pub fn is_empty(&self) -> bool {
        self.input.is_none() && self.cache_read.is_none() && self.cache_creation.is_none() && self.output.is_none()
    }
}

/// The buckets of counts reported in `style`.
pub fn normalise(r: Reported, style: super::usage::TokenStyle) -> Result<TokenBuckets, Reject> {
    match style {
        super::usage::TokenStyle::OpenAi => openai_style(r),
        super::usage::TokenStyle::Anthropic => anthropic_style(r),
    }
}

/// Estimated buckets from the characters of the prompt and of the output (Databricks' rule:
/// `(characters + 1) / 4` tokens each).
pub fn estimated(input_chars: i64, output_chars: i64) -> TokenBuckets {
    TokenBuckets {
        input: super::usage::estimated_tokens(input_chars.max(0)),
        cache_read: 0,
        cache_creation: 0,
        output: super::usage::estimated_tokens(output_chars.max(0)),
        reasoning: None,
        cache_creation_1h: None,
        input_audio: None,
        output_audio: None,
        source: TokenCountSource::Estimated,
    }
}

fn inconsistent(msg: String) -> Reject {
    Reject::new(ReasonCode::InconsistentTokens, msg)
}

/// OpenAI-style counts: `input` is the whole prompt, cache reads and writes are parts of it.
/// The native format and LiteLLM use this convention (LiteLLM's `prompt_tokens` of an
/// Anthropic call counts its cache reads and writes too).
pub fn openai_style(r: Reported) -> Result<TokenBuckets, Reject> {
    if r.input.is_none() && r.output.is_none() {
        if r.cache_read.unwrap_or(0) > 0 || r.cache_creation.unwrap_or(0) > 0 {
            return Err(inconsistent("cached tokens are given but input_tokens is missing".into()));
        }
        return Ok(absent());
    }
    let total_input = r.input.unwrap_or(0);
    let cached = r.cache_read.unwrap_or(0);
    let written = r.cache_creation.unwrap_or(0);
    let cached_parts =
        cached.checked_add(written).ok_or_else(|| inconsistent("cached token counts overflow".into()))?;
    if cached_parts > total_input {
        return Err(inconsistent(format!(
            "cached_input_tokens ({cached}) + cache_creation_input_tokens ({written}) exceed input_tokens ({total_input}), which includes them"
        )));
    }
    reported(total_input - cached_parts, cached, written, r.output.unwrap_or(0), r)
}

/// Anthropic-style counts: `input` excludes cache reads and cache writes.
pub fn anthropic_style(r: Reported) -> Result<TokenBuckets, Reject> {
    if r.input.is_none() && r.output.is_none() && r.cache_read.is_none() && r.cache_creation.is_none() {
        return Ok(absent());
    }
    reported(r.input.unwrap_or(0), r.cache_read.unwrap_or(0), r.cache_creation.unwrap_or(0), r.output.unwrap_or(0), r)
}

/// The buckets, checked: each part (reasoning, audio, 1-hour cache writes) within the bucket
/// it is a part of.
fn reported(
    input: i64,
    cache_read: i64,
    cache_creation: i64,
    output: i64,
    r: Reported,
) -> Result<TokenBuckets, Reject> {
    for (part, name, whole, whole_name) in [
        (r.reasoning, "reasoning_tokens", output, "output_tokens"),
        (r.output_audio, "output_audio_tokens", output, "output_tokens"),
        (r.input_audio, "input_audio_tokens", input, "the uncached input tokens"),
        (r.cache_creation_1h, "cache_creation_1h_input_tokens", cache_creation, "cache_creation_input_tokens"),
    ] {
        if let Some(part) = part
            && part > whole
        {
            return Err(inconsistent(format!("{name} ({part}) exceed {whole_name} ({whole}), which includes them")));
        }
    }
    Ok(TokenBuckets {
        input,
        cache_read,
        cache_creation,
        output,
        reasoning: r.reasoning,
        cache_creation_1h: r.cache_creation_1h,
        input_audio: r.input_audio,
        output_audio: r.output_audio,
        source: TokenCountSource::Reported,
    })
}

fn absent() -> TokenBuckets {
    TokenBuckets {
        input: 0,
        cache_read: 0,
        cache_creation: 0,
        output: 0,
        reasoning: None,
        cache_creation_1h: None,
        input_audio: None,
        output_audio: None,
        source: TokenCountSource::Absent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rep(input: Option<i64>, cache_read: Option<i64>, cache_creation: Option<i64>, output: Option<i64>) -> Reported {
        Reported { input, cache_read, cache_creation, output, ..Reported::default() }
    }

    #[test]
    fn openai_cached_tokens_are_taken_out_of_input() {
        let b = openai_style(rep(Some(2048), Some(1024), Some(256), Some(10))).unwrap();
        assert_eq!((b.input, b.cache_read, b.cache_creation, b.output), (768, 1024, 256, 10));
        assert_eq!(b.source, TokenCountSource::Reported);
    }

    #[test]
    fn openai_cached_above_input_is_rejected() {
        let e = openai_style(rep(Some(100), Some(128), None, Some(1))).unwrap_err();
        assert_eq!(e.code, ReasonCode::InconsistentTokens);
    }

    #[test]
    fn anthropic_cache_tokens_are_already_apart() {
        let b = anthropic_style(rep(Some(20), Some(1024), Some(300), Some(50))).unwrap();
        assert_eq!((b.input, b.cache_read, b.cache_creation, b.output), (20, 1024, 300, 50));
    }

    #[test]
    fn no_counts_is_absent_with_zero_buckets() {
        for f in [openai_style, anthropic_style] {
            let b = f(Reported::default()).unwrap();
            assert_eq!(b.source, TokenCountSource::Absent);
            assert_eq!(b.input + b.cache_read + b.cache_creation + b.output, 0);
        }
    }

    #[test]
    fn audio_and_one_hour_cache_writes_are_parts_of_their_buckets() {
        // OpenAI: 1,000 prompt tokens of which 400 audio (none cached); 300 output of which 120 audio
        let mut r = rep(Some(1000), Some(0), None, Some(300));
        (r.input_audio, r.output_audio) = (Some(400), Some(120));
        let b = openai_style(r).unwrap();
        assert_eq!((b.input, b.input_audio, b.output, b.output_audio), (1000, Some(400), 300, Some(120)));
        r.output_audio = Some(301);
        assert_eq!(openai_style(r).unwrap_err().code, ReasonCode::InconsistentTokens);
        // Anthropic: 5,000 cache-write tokens of which 3,000 with the 1-hour TTL
        let mut r = rep(Some(20), Some(0), Some(5000), Some(10));
        r.cache_creation_1h = Some(3000);
        assert_eq!(anthropic_style(r).unwrap().cache_creation_1h, Some(3000));
        r.cache_creation_1h = Some(5001);
        assert_eq!(anthropic_style(r).unwrap_err().code, ReasonCode::InconsistentTokens);
    }

    #[test]
    fn reasoning_is_part_of_output() {
        let mut r = rep(Some(10), None, None, Some(100));
        r.reasoning = Some(101);
        assert_eq!(openai_style(r).unwrap_err().code, ReasonCode::InconsistentTokens);
        r.reasoning = Some(60);
        assert_eq!(openai_style(r).unwrap().reasoning, Some(60));
    }
}
