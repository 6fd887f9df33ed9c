//! OpenAI's organization Costs API (`GET /v1/organization/costs`) and completions Usage API
//! (`GET /v1/organization/usage/completions`), as their pages are saved (see `pages`).
//!
//! Costs (platform.openai.com/docs/api-reference/usage/costs_object): one line per result,
//! the cost `amount.value` (a JSON number, read exactly from its shortest text; decimal text in
//! a string is read too, as some exports write it), `amount.currency` ("lowercase ISO-4217",
//! upper-cased here), `line_item` (`"gpt-4o-2024-08-06, input"` with `group_by=line_item`: the
//! model, then after the last ", " what it charges), `project_id` the account.
//!
//! Usage (platform.openai.com/docs/api-reference/usage/completions_object): one result becomes
//! usage lines in the ledger's disjoint buckets, read as the reference defines the counts:
//! `input_tokens` is "the aggregated number of input tokens used, including cached and
//! cache-write tokens. This includes text, audio, and image tokens"; `input_cached_tokens` the
//! cached input "across text, audio, and image inputs"; `input_cache_write_tokens` the input
//! written to the cache; `output_tokens` "the aggregated number of output tokens used across
//! text, audio, and image outputs". So Input = input_tokens - input_cached_tokens -
//! input_cache_write_tokens, CachedInput = input_cached_tokens, CacheWrite =
//! input_cache_write_tokens, Output = output_tokens; `input_audio_tokens` and
//! `output_audio_tokens` are parts of these (audio is in the Input and Output buckets, as the
//! ledger counts it) and make no lines of their own. `num_model_requests` goes on the Input
//! line only, so that summing a result's lines counts each request once.

use std::path::Path;

use super::pages::{Bounds, Group, Item, read};
use super::{Bad, BillSource};
use crate::bill::line::{BillLine, ChargeKind, ParsedBill};
use crate::error::Result;

const PROVIDER: &str = "openai";

/// Costs API pages.
pub fn parse_costs(path: &Path, bytes: &[u8]) -> Result<ParsedBill> {
    read(path, bytes, BillSource::OpenaiCosts, Bounds::UnixSeconds, cost_line)
}

/// Completions Usage API pages.
pub fn parse_usage(path: &Path, bytes: &[u8]) -> Result<ParsedBill> {
    read(path, bytes, BillSource::OpenaiUsage, Bounds::UnixSeconds, usage_lines)
}

fn cost_line(item: &Item<'_>) -> std::result::Result<Vec<BillLine>, Bad> {
    let cost = item.amount("amount.value")?;
    let currency = item.currency("amount.currency")?;
    let line_item = item.text("line_item")?;
    let (model, kind) = line_item.as_deref().map_or((None, ChargeKind::Other), split_line_item);
    let mut line = item.line(PROVIDER, kind);
    line.provider_model = model;
    line.account = item.text("project_id")?;
    line.api_key_id = item.text("api_key_id")?;
    line.cost = Some(cost);
    line.currency = Some(currency);
    line.description = line_item;
    Ok(vec![line])
}

/// A `line_item` as the model and the kind of charge: `"gpt-4o-2024-08-06, cached input"` is
/// gpt-4o-2024-08-06's cached input. Token parts name their modality too (`audio input`,
/// `text output`); web search tool calls are searches; anything else (`Image models`, a
/// fine-tuning line) is Other, its text kept in the line's description.
fn split_line_item(text: &str) -> (Option<String>, ChargeKind) {
    let Some((model, part)) = text.rsplit_once(", ") else {
        let kind = if text.to_lowercase().contains("web search") { ChargeKind::WebSearch } else { ChargeKind::Other };
        return (None, kind);
    };
    let part = part.trim().to_lowercase();
    let words: Vec<&str> = part.split_whitespace().collect();
    let kind = match words.as_slice() {
        _ if part.contains("web search") => ChargeKind::WebSearch,
        ["cache" | "cached", "write" | "writes", ..] => ChargeKind::CacheWrite,
        ["cached" | "cache", .., "input"] | ["cache", "read"] | ["cached", "input", "tokens"] => {
            ChargeKind::CachedInput
        }
        ["input"] | ["text" | "audio" | "image" | "uncached", "input"] | ["input", "tokens"] => ChargeKind::Input,
        ["output"] | ["text" | "audio" | "image" | "reasoning", "output"] | ["output", "tokens"] => ChargeKind::Output,
        _ => ChargeKind::Other,
    };
    let model = model.trim();
    ((!model.is_empty()).then(|| model.to_string()), kind)
}

fn usage_lines(item: &Item<'_>) -> std::result::Result<Vec<BillLine>, Bad> {
    let input = item.required_count("input_tokens")?;
    let output = item.required_count("output_tokens")?;
    let requests = item.required_count("num_model_requests")?;
    let cached = item.count("input_cached_tokens")?.unwrap_or(0);
    let cache_write = item.count("input_cache_write_tokens")?.unwrap_or(0);
    let uncached = input - cached - cache_write;
    if uncached < 0 {
        return Err(Bad::inconsistent(format!(
            "input_tokens {input} is less than input_cached_tokens {cached} + input_cache_write_tokens {cache_write}, \
             which it includes"
        )));
    }
    if let Some(stated) = item.count("input_uncached_tokens")?
        && stated != uncached
    {
        return Err(Bad::inconsistent(format!(
            "input_uncached_tokens {stated} is not input_tokens {input} - input_cached_tokens {cached} - \
             input_cache_write_tokens {cache_write} = {uncached}"
        )));
    }
    // `batch` is a group of its own (group_by=batch); a batch request's tier is batch
    let tier = match (item.boolean("batch")?, item.text("service_tier")?) {
        (Some(true), _) => Some("batch".to_string()),
        (_, Some(tier)) if tier.eq_ignore_ascii_case("default") => Some("standard".to_string()),
        (_, tier) => tier.map(|t| t.to_lowercase()),
    };
    let group = Group {
        model: item.text("model")?,
        service_tier: tier,
        account: item.text("project_id")?,
        api_key_id: item.text("api_key_id")?,
        user_id: item.text("user_id")?,
        ..Group::default()
    };
    let mut lines = Vec::new();
    if uncached > 0 || requests > 0 {
        let what =
            "input_tokens less input_cached_tokens and input_cache_write_tokens (num_model_requests on this line)";
        let mut input_line = item.usage_line(PROVIDER, ChargeKind::Input, &group, uncached, what);
        input_line.requests = Some(requests);
        lines.push(input_line);
    }
    for (kind, quantity, what) in [
        (ChargeKind::CachedInput, cached, "input_cached_tokens"),
        (ChargeKind::CacheWrite, cache_write, "input_cache_write_tokens"),
        (ChargeKind::Output, output, "output_tokens"),
    ] {
        if quantity > 0 {
            lines.push(item.usage_line(PROVIDER, kind, &group, quantity, what));
        }
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use rust_decimal::Decimal;

    use super::*;

    fn parse(read: fn(&Path, &[u8]) -> Result<ParsedBill>, results: &str) -> ParsedBill {
        let page = format!(
            r#"{{"object": "page", "data": [{{"object": "bucket", "start_time": 1730419200, "end_time": 1730505600,
            "results": [{results}]}}], "has_more": false, "next_page": null}}"#
        );
        read(Path::new("openai.json"), page.as_bytes()).unwrap()
    }

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn the_costs_reference_example() {
        // platform.openai.com/docs/api-reference/usage/costs_object, its example
        let parsed = parse(
            parse_costs,
            r#"{"object": "organization.costs.result", "amount": {"value": 0.06, "currency": "usd"},
                "line_item": "Image models", "project_id": "proj_abc"}"#,
        );
        let line = &parsed.lines[0];
        assert_eq!(
            (line.provider.as_str(), line.charge_kind, line.provider_model.as_deref()),
            ("openai", ChargeKind::Other, None)
        );
        assert_eq!((line.cost, line.currency.as_deref()), (Some(d("0.06")), Some("USD")));
        assert_eq!((line.account.as_deref(), line.description.as_deref()), (Some("proj_abc"), Some("Image models")));
        assert_eq!((line.period_start.to_rfc3339(), line.quantity), ("2024-11-01T00:00:00+00:00".into(), None));
    }

    #[test]
    fn cost_amounts_are_exact_decimals_of_the_float_text() {
        let parsed = parse(
            parse_costs,
            r#"{"amount": {"value": 0.30000000000000004, "currency": "usd"}, "line_item": "gpt-4o-2024-08-06, input"},
               {"amount": {"value": 3e-07, "currency": "usd"}, "line_item": "gpt-4o-2024-08-06, output"},
               {"amount": {"value": "0.8958740000000000", "currency": "usd"}, "line_item": null}"#,
        );
        let costs: Vec<String> = parsed.lines.iter().map(|l| l.cost.unwrap().to_string()).collect();
        assert_eq!(costs, ["0.30000000000000004", "0.0000003", "0.8958740000000000"]);
        assert_eq!(parsed.lines[2].charge_kind, ChargeKind::Other);
        assert_eq!(parsed.lines[2].description, None);
    }

    #[test]
    fn line_items_name_the_model_and_the_charge() {
        for (text, model, kind) in [
            ("gpt-4o-2024-08-06, input", Some("gpt-4o-2024-08-06"), ChargeKind::Input),
            ("gpt-4o-2024-08-06, cached input", Some("gpt-4o-2024-08-06"), ChargeKind::CachedInput),
            (
                "gpt-4o-audio-preview-2024-12-17, audio input",
                Some("gpt-4o-audio-preview-2024-12-17"),
                ChargeKind::Input,
            ),
            (
                "gpt-4o-audio-preview-2024-12-17, cached audio input",
                Some("gpt-4o-audio-preview-2024-12-17"),
                ChargeKind::CachedInput,
            ),
            ("o3-2025-04-16, Output", Some("o3-2025-04-16"), ChargeKind::Output),
            ("gpt-5, cache write", Some("gpt-5"), ChargeKind::CacheWrite),
            ("gpt-5, cache write input", Some("gpt-5"), ChargeKind::CacheWrite),
            ("gpt-4o-2024-08-06, web search tool calls", Some("gpt-4o-2024-08-06"), ChargeKind::WebSearch),
            ("web search tool calls", None, ChargeKind::WebSearch),
            ("ft:gpt-4o-mini, training", Some("ft:gpt-4o-mini"), ChargeKind::Other),
            ("Image models", None, ChargeKind::Other),
        ] {
            assert_eq!(split_line_item(text), (model.map(str::to_string), kind), "{text}");
        }
    }

    #[test]
    fn the_usage_reference_example_in_disjoint_buckets() {
        // developers.openai.com/api/reference (GET /organization/usage/completions), its example:
        // 1000 input tokens of which 800 cached, 500 output, 5 requests
        let parsed = parse(
            parse_usage,
            r#"{"object": "organization.usage.completions.result", "input_tokens": 1000, "output_tokens": 500,
                "input_cached_tokens": 800, "input_audio_tokens": 0, "output_audio_tokens": 0, "num_model_requests": 5,
                "project_id": null, "user_id": null, "api_key_id": null, "model": null, "batch": null, "service_tier": null}"#,
        );
        let got: Vec<_> = parsed.lines.iter().map(|l| (l.charge_kind, l.quantity, l.requests)).collect();
        assert_eq!(
            got,
            [
                (ChargeKind::Input, Some(200), Some(5)),
                (ChargeKind::CachedInput, Some(800), None),
                (ChargeKind::Output, Some(500), None)
            ]
        );
        // the buckets add up to what was billed, each request counted once
        assert_eq!(parsed.lines.iter().filter_map(|l| l.quantity).sum::<i64>(), 1000 + 500);
        assert!(parsed.lines.iter().all(|l| l.cost.is_none() && l.currency.is_none() && l.row_number == 1));
    }

    #[test]
    fn audio_and_cache_writes_stay_inside_their_buckets() {
        // the reference's object example with audio: 300 audio tokens are part of the 5000 input
        // tokens and 200 of the 1000 output tokens, not more tokens
        let parsed = parse(
            parse_usage,
            r#"{"object": "organization.usage.completions.result", "input_tokens": 5000, "output_tokens": 1000,
                "input_cached_tokens": 4000, "input_cache_write_tokens": 250, "input_uncached_tokens": 750,
                "input_audio_tokens": 300, "output_audio_tokens": 200, "num_model_requests": 5,
                "project_id": "proj_abc", "user_id": "user-abc", "api_key_id": "key_abc",
                "model": "gpt-4o-mini-2024-07-18", "batch": false, "service_tier": "default"}"#,
        );
        let got: Vec<_> = parsed.lines.iter().map(|l| (l.charge_kind, l.quantity.unwrap())).collect();
        assert_eq!(
            got,
            [
                (ChargeKind::Input, 750),
                (ChargeKind::CachedInput, 4000),
                (ChargeKind::CacheWrite, 250),
                (ChargeKind::Output, 1000)
            ]
        );
        let line = &parsed.lines[0];
        assert_eq!(line.service_tier.as_deref(), Some("standard"));
        assert_eq!(
            (
                line.provider_model.as_deref(),
                line.account.as_deref(),
                line.api_key_id.as_deref(),
                line.user_id.as_deref()
            ),
            (Some("gpt-4o-mini-2024-07-18"), Some("proj_abc"), Some("key_abc"), Some("user-abc"))
        );
        let batch = parse(
            parse_usage,
            r#"{"input_tokens": 10, "output_tokens": 0, "num_model_requests": 1, "batch": true, "service_tier": "default"}"#,
        );
        assert_eq!(batch.lines.len(), 1);
        assert_eq!(batch.lines[0].service_tier.as_deref(), Some("batch"));
    }

    #[test]
    fn bad_cost_and_usage_rows_say_why() {
        let costs = [
            (r#"{"line_item": "x"}"#, "missing_field", "amount.value"),
            (r#"{"amount": {"value": true, "currency": "usd"}}"#, "wrong_type", "amount.value"),
            (r#"{"amount": {"value": "12,50", "currency": "usd"}}"#, "bad_amount", "\"12,50\""),
            (r#"{"amount": {"value": 1e40, "currency": "usd"}}"#, "bad_amount", "amount.value"),
            (r#"{"amount": {"value": 1.5, "currency": "dollars"}}"#, "unknown_currency", "\"dollars\""),
            (r#"{"amount": {"value": 1.5}}"#, "missing_field", "amount.currency"),
            (r#"{"amount": {"value": 1.5, "currency": "usd"}, "project_id": 7}"#, "wrong_type", "project_id"),
        ];
        for (result, code, says) in costs {
            let parsed = parse(parse_costs, result);
            assert!(parsed.lines.is_empty(), "{result}");
            let bad = &parsed.bad_rows[0];
            assert_eq!(bad.reason_code, code, "{result}: {}", bad.reason);
            assert!(bad.reason.contains(says), "{result}: {}", bad.reason);
            assert_eq!(
                serde_json::from_str::<serde_json::Value>(&bad.raw).unwrap(),
                serde_json::from_str::<serde_json::Value>(result).unwrap()
            );
        }
        let usage = [
            (r#"{"output_tokens": 1, "num_model_requests": 1}"#, "missing_field", "input_tokens"),
            (
                r#"{"input_tokens": -5, "output_tokens": 1, "num_model_requests": 1}"#,
                "negative_value",
                "input_tokens is -5",
            ),
            (r#"{"input_tokens": "5", "output_tokens": 1, "num_model_requests": 1}"#, "wrong_type", "input_tokens"),
            (
                r#"{"input_tokens": 5, "input_cached_tokens": 8, "output_tokens": 1, "num_model_requests": 1}"#,
                "inconsistent_tokens",
                "input_cached_tokens 8",
            ),
            (
                r#"{"input_tokens": 5, "input_uncached_tokens": 4, "output_tokens": 1, "num_model_requests": 1}"#,
                "inconsistent_tokens",
                "input_uncached_tokens 4",
            ),
            (
                r#"{"input_tokens": 5, "output_tokens": 1, "num_model_requests": 1, "batch": "yes"}"#,
                "wrong_type",
                "batch",
            ),
        ];
        for (result, code, says) in usage {
            let parsed = parse(parse_usage, result);
            assert!(parsed.lines.is_empty(), "{result}");
            assert_eq!(parsed.bad_rows[0].reason_code, code, "{result}: {}", parsed.bad_rows[0].reason);
            assert!(parsed.bad_rows[0].reason.contains(says), "{result}: {}", parsed.bad_rows[0].reason);
        }
    }
}
