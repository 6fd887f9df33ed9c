//! Anthropic's Admin API cost report (`GET /v1/organizations/cost_report`) and messages usage
//! report (`GET /v1/organizations/usage_report/messages`), as their pages are saved (see
//! `pages`). Buckets are bounded by `starting_at` and `ending_at`, RFC 3339.
//!
//! Cost report (platform.claude.com/docs/en/api/admin/cost_report): `amount` is the "cost
//! amount in lowest currency units (e.g. cents) as a decimal string. For example, "123.45" in
//! "USD" represents $1.23", so the cost is `amount` / 100, exactly (the decimal point moves; no
//! division rounds). `cost_type` is tokens, web_search, code_execution (or session_usage);
//! `token_type` one of uncached_input_tokens, output_tokens, cache_read_input_tokens,
//! cache_creation.ephemeral_5m_input_tokens, cache_creation.ephemeral_1h_input_tokens; both
//! are null unless the report is grouped by description. `workspace_id` is the account.
//!
//! Usage report (platform.claude.com/docs/en/api/admin/usage_report/retrieve_messages): the
//! counts are disjoint already: `uncached_input_tokens` (Input), `cache_read_input_tokens`
//! (CachedInput), `cache_creation.ephemeral_5m_input_tokens` and `..._1h_...` (CacheWrite, one
//! line each, its field named in the description), `output_tokens` (Output) and
//! `server_tool_use.web_search_requests` (WebSearch). The report counts no requests.

use std::path::Path;

use super::pages::{Bounds, Group, Item, read};
use super::{Bad, BillSource};
use crate::bill::line::{BillLine, ChargeKind, ParsedBill};
use crate::error::Result;

const PROVIDER: &str = "anthropic";

/// Cost report pages.
pub fn parse_cost(path: &Path, bytes: &[u8]) -> Result<ParsedBill> {
    read(path, bytes, BillSource::AnthropicCost, Bounds::Rfc3339, cost_line)
}

/// Messages usage report pages.
pub fn parse_usage(path: &Path, bytes: &[u8]) -> Result<ParsedBill> {
    read(path, bytes, BillSource::AnthropicUsage, Bounds::Rfc3339, usage_lines)
}

/// The charge kind of a cost report's `token_type`.
fn token_kind(token_type: &str) -> ChargeKind {
    match token_type {
        "uncached_input_tokens" => ChargeKind::Input,
        "cache_read_input_tokens" => ChargeKind::CachedInput,
        "cache_creation.ephemeral_5m_input_tokens" | "cache_creation.ephemeral_1h_input_tokens" => {
            ChargeKind::CacheWrite
        }
        "output_tokens" => ChargeKind::Output,
        _ => ChargeKind::Other,
    }
}

fn cost_line(item: &Item<'_>) -> std::result::Result<Vec<BillLine>, Bad> {
    let cents = item.amount("amount")?;
    let mut cost = cents;
    // cents to major units: the same digits, two more decimal places
    cost.set_scale(cents.scale() + 2).map_err(|_| Bad::amount("amount", &cents.to_string()))?;
    let currency = item.currency("currency")?;
    let (cost_type, token_type) = (item.text("cost_type")?, item.text("token_type")?);
    let kind = match (cost_type.as_deref(), token_type.as_deref()) {
        (Some("web_search"), _) => ChargeKind::WebSearch,
        (Some("tokens") | None, Some(token_type)) => token_kind(token_type),
        _ => ChargeKind::Other,
    };
    let mut line = item.line(PROVIDER, kind);
    line.provider_model = item.text("model")?;
    line.service_tier = item.text("service_tier")?.map(|t| t.to_lowercase());
    line.context_window = item.text("context_window")?;
    line.inference_geo = item.text("inference_geo")?;
    line.account = item.text("workspace_id")?;
    line.cost = Some(cost);
    line.currency = Some(currency);
    line.description = item.text("description")?;
    Ok(vec![line])
}

fn usage_lines(item: &Item<'_>) -> std::result::Result<Vec<BillLine>, Bad> {
    let counts = [
        (ChargeKind::Input, "uncached_input_tokens", Some(item.required_count("uncached_input_tokens")?)),
        (ChargeKind::CachedInput, "cache_read_input_tokens", item.count("cache_read_input_tokens")?),
        (
            ChargeKind::CacheWrite,
            "cache_creation.ephemeral_5m_input_tokens",
            item.count("cache_creation.ephemeral_5m_input_tokens")?,
        ),
        (
            ChargeKind::CacheWrite,
            "cache_creation.ephemeral_1h_input_tokens",
            item.count("cache_creation.ephemeral_1h_input_tokens")?,
        ),
        (ChargeKind::Output, "output_tokens", Some(item.required_count("output_tokens")?)),
        (
            ChargeKind::WebSearch,
            "server_tool_use.web_search_requests",
            item.count("server_tool_use.web_search_requests")?,
        ),
    ];
    let group = Group {
        model: item.text("model")?,
        service_tier: item.text("service_tier")?.map(|t| t.to_lowercase()),
        context_window: item.text("context_window")?,
        inference_geo: item.text("inference_geo")?,
        account: item.text("workspace_id")?,
        api_key_id: item.text("api_key_id")?,
        user_id: item.text("account_id")?,
    };
    Ok(counts
        .into_iter()
        .filter_map(|(kind, field, count)| {
            let quantity = count.filter(|c| *c > 0)?;
            Some(item.usage_line(PROVIDER, kind, &group, quantity, field))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use rust_decimal::Decimal;

    use super::*;

    fn page(results: &str) -> String {
        format!(
            r#"{{"data": [{{"starting_at": "2025-08-01T00:00:00Z", "ending_at": "2025-08-02T00:00:00Z",
            "results": [{results}]}}], "has_more": true, "next_page": "page_MjAyNS0wNS0xNFQwMDowMDowMFo="}}"#
        )
    }

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn the_cost_report_reference_example_is_in_cents() {
        // platform.claude.com/docs/en/api/admin/cost_report, its example: "123.78912" cents
        let parsed = parse_cost(
            Path::new("cost.json"),
            page(
                r#"{"amount": "123.78912", "context_window": "0-200k", "cost_type": "tokens", "currency": "USD",
                "description": "Claude Sonnet 4 Usage - Input Tokens", "model": "claude-sonnet-4-20250514",
                "service_tier": "standard", "token_type": "uncached_input_tokens",
                "workspace_id": "wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ"}"#,
            )
            .as_bytes(),
        )
        .unwrap();
        let line = &parsed.lines[0];
        assert_eq!(line.cost, Some(d("1.2378912")));
        assert_eq!(line.cost.unwrap().to_string(), "1.2378912");
        assert_eq!((line.charge_kind, line.provider.as_str()), (ChargeKind::Input, "anthropic"));
        assert_eq!(
            (line.provider_model.as_deref(), line.service_tier.as_deref(), line.context_window.as_deref()),
            (Some("claude-sonnet-4-20250514"), Some("standard"), Some("0-200k"))
        );
        assert_eq!(line.account.as_deref(), Some("wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ"));
        assert_eq!(line.description.as_deref(), Some("Claude Sonnet 4 Usage - Input Tokens"));
        assert_eq!(line.period_start.to_rfc3339(), "2025-08-01T00:00:00+00:00");
        // the documented rule itself: "123.45" USD is $1.2345 (the page rounds it to $1.23)
        let cents = parse_cost(Path::new("cost.json"), page(r#"{"amount": "123.45", "currency": "USD"}"#).as_bytes());
        assert_eq!(cents.unwrap().lines[0].cost, Some(d("1.2345")));
    }

    #[test]
    fn cost_types_and_token_types_are_charge_kinds() {
        let cases = [
            (r#""cost_type": "tokens", "token_type": "output_tokens""#, ChargeKind::Output),
            (r#""cost_type": "tokens", "token_type": "cache_read_input_tokens""#, ChargeKind::CachedInput),
            (
                r#""cost_type": "tokens", "token_type": "cache_creation.ephemeral_5m_input_tokens""#,
                ChargeKind::CacheWrite,
            ),
            (
                r#""cost_type": "tokens", "token_type": "cache_creation.ephemeral_1h_input_tokens""#,
                ChargeKind::CacheWrite,
            ),
            (r#""cost_type": "web_search", "token_type": null"#, ChargeKind::WebSearch),
            (r#""cost_type": "code_execution", "token_type": null"#, ChargeKind::Other),
            (r#""cost_type": null, "token_type": null"#, ChargeKind::Other),
        ];
        for (fields, kind) in cases {
            let result = format!(r#"{{"amount": "12.5", "currency": "EUR", {fields}}}"#);
            let parsed = parse_cost(Path::new("c.json"), page(&result).as_bytes()).unwrap();
            assert_eq!(parsed.lines[0].charge_kind, kind, "{fields}");
            assert_eq!((parsed.lines[0].cost, parsed.lines[0].currency.as_deref()), (Some(d("0.125")), Some("EUR")));
        }
    }

    #[test]
    fn bad_cost_rows_say_why() {
        for (result, code, says) in [
            (r#"{"currency": "USD"}"#, "missing_field", "amount"),
            (r#"{"amount": "12.3.4", "currency": "USD"}"#, "bad_amount", "\"12.3.4\""),
            (r#"{"amount": ["12"], "currency": "USD"}"#, "wrong_type", "amount"),
            (r#"{"amount": "7.9228162514264337593543950335", "currency": "USD"}"#, "bad_amount", "amount"),
            (r#"{"amount": "12", "currency": "US Dollar"}"#, "unknown_currency", "\"US Dollar\""),
        ] {
            let parsed = parse_cost(Path::new("c.json"), page(result).as_bytes()).unwrap();
            assert!(parsed.lines.is_empty(), "{result}");
            assert_eq!(parsed.bad_rows[0].reason_code, code, "{result}: {}", parsed.bad_rows[0].reason);
            assert!(parsed.bad_rows[0].reason.contains(says), "{result}: {}", parsed.bad_rows[0].reason);
        }
        let bad_time = page(r#"{"amount": "1", "currency": "USD"}"#).replace("2025-08-01T00:00:00Z", "yesterday");
        let parsed = parse_cost(Path::new("c.json"), bad_time.as_bytes()).unwrap();
        assert_eq!(parsed.bad_rows[0].reason_code, "bad_timestamp");
        assert!(parsed.bad_rows[0].reason.contains("starting_at \"yesterday\""), "{}", parsed.bad_rows[0].reason);
    }

    #[test]
    fn the_usage_report_reference_example_in_disjoint_buckets() {
        // platform.claude.com/docs/en/api/admin/usage_report/retrieve_messages, its example
        let parsed = parse_usage(
            Path::new("usage.json"),
            page(
                r#"{"api_key_id": "apikey_01Rj2N8SVvo6BePZj99NhmiT",
                "cache_creation": {"ephemeral_1h_input_tokens": 1000, "ephemeral_5m_input_tokens": 500},
                "cache_read_input_tokens": 200, "context_window": "0-200k", "model": "claude-sonnet-4-20250514",
                "output_tokens": 500, "server_tool_use": {"web_search_requests": 10}, "service_tier": "standard",
                "uncached_input_tokens": 1500, "workspace_id": "wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ"}"#,
            )
            .as_bytes(),
        )
        .unwrap();
        let got: Vec<_> = parsed.lines.iter().map(|l| (l.charge_kind, l.quantity.unwrap())).collect();
        assert_eq!(
            got,
            [
                (ChargeKind::Input, 1500),
                (ChargeKind::CachedInput, 200),
                (ChargeKind::CacheWrite, 500),
                (ChargeKind::CacheWrite, 1000),
                (ChargeKind::Output, 500),
                (ChargeKind::WebSearch, 10),
            ]
        );
        assert_eq!(parsed.lines[3].description.as_deref(), Some("cache_creation.ephemeral_1h_input_tokens"));
        assert!(parsed.lines.iter().all(|l| l.api_key_id.as_deref() == Some("apikey_01Rj2N8SVvo6BePZj99NhmiT")
            && l.account.as_deref() == Some("wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ")
            && l.cost.is_none()
            && l.requests.is_none()));
        for (result, code) in [
            (r#"{"output_tokens": 5}"#, "missing_field"),
            (
                r#"{"uncached_input_tokens": 5, "output_tokens": 5, "cache_creation": {"ephemeral_5m_input_tokens": -1}}"#,
                "negative_value",
            ),
            (r#"{"uncached_input_tokens": 5, "output_tokens": 5, "model": 4}"#, "wrong_type"),
        ] {
            let parsed = parse_usage(Path::new("u.json"), page(result).as_bytes()).unwrap();
            assert_eq!(parsed.bad_rows[0].reason_code, code, "{result}");
        }
    }
}
