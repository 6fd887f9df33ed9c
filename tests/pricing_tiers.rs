//! Prices as the providers bill them: context tiers, service tiers, 1-hour cache writes, audio,
//! web searches and negotiated discounts, each request priced by hand from the providers'
//! published price pages, and the same requests through every adapter priced alike.
//!
//! Prices used (per million tokens unless said):
//! - Claude Sonnet 4 (anthropic.com/pricing, docs.anthropic.com "Pricing"): input 3.00, output
//!   15.00, cache write 5 min 3.75 (1.25x input), 1 h 6.00 (2x), cache read 0.30; a prompt over
//!   200k tokens is billed whole at 6.00 / 22.50 (cache write 7.50 / 12.00, read 0.60); batch
//!   is 50 % of these; web search 10.00 per 1,000 searches.
//! - GPT-4o (platform.openai.com/docs/pricing): 2.50 / cached 1.25 / output 10.00; priority
//!   processing 4.25 / 2.125 / 17.00; batch 1.25 / 5.00.
//! - GPT-4o audio preview: text 2.50 / 10.00, audio input 40.00, audio output 80.00.
//! - A regional premium: Anthropic prices inference kept in the US (`inference_geo` us) at 1.1x
//!   (docs.anthropic.com, data residency); other regions pay the rates elsewhere.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::util::Env;

const PRICES: &str = "\
served_entity_name,effective_from,currency,input_price_per_1m,cached_input_price_per_1m,output_price_per_1m,cache_write_price_per_1m,service_tier,tier_multiplier,above_prompt_tokens,cache_write_1h_price_per_1m,input_audio_price_per_1m,output_audio_price_per_1m,web_search_price_per_1k,provider,inference_geo
claude-sonnet-4,2025-06-01,USD,3.00,0.30,15.00,3.75,,,,6.00,,,10.00,anthropic,
claude-sonnet-4,2025-06-01,USD,6.00,0.60,22.50,7.50,,,200000,12.00,,,10.00,anthropic,
claude-sonnet-4,2025-06-01,USD,,,,,batch,0.5,,,,,,anthropic,
gpt-4o,2025-06-01,USD,2.50,1.25,10.00,,,,,,,,,openai,
gpt-4o,2025-06-01,USD,4.25,2.125,17.00,,priority,,,,,,,openai,
gpt-4o,2025-06-01,USD,1.25,0.625,5.00,,batch,,,,,,,openai,
gpt-4o-audio-preview,2025-06-01,USD,2.50,1.25,10.00,,,,,,40.00,80.00,,openai,
claude-sonnet-4,2025-06-01,USD,,,,,,1.1,,,,,,anthropic,us
";

/// 15 % off Claude Sonnet 4 from July.
const DISCOUNTS: &str =
    "provider,served_entity_name,effective_from,percent,note\n,claude-sonnet-4,2025-07-01,15,enterprise\n";

/// One request as the ledger holds it: entity, tier, and counts (input is the whole prompt,
/// OpenAI style, as native records count it).
struct Case {
    id: &'static str,
    day: &'static str,
    entity: &'static str,
    tier: Option<&'static str>,
    prompt: i64,
    cache_read: i64,
    cache_write: i64,
    cache_write_1h: i64,
    output: i64,
    input_audio: i64,
    output_audio: i64,
    searches: i64,
    geo: Option<&'static str>,
    /// Hand-computed list cost and cost (after the discount); `None`: unpriced.
    list: Option<&'static str>,
    cost: Option<&'static str>,
}

const fn case(id: &'static str, entity: &'static str, prompt: i64, output: i64) -> Case {
    Case {
        id,
        day: "2025-06-10",
        entity,
        tier: None,
        prompt,
        cache_read: 0,
        cache_write: 0,
        cache_write_1h: 0,
        output,
        input_audio: 0,
        output_audio: 0,
        searches: 0,
        geo: None,
        list: None,
        cost: None,
    }
}

fn cases() -> Vec<Case> {
    vec![
        // 250,000 prompt tokens: the whole request at the long-context rates:
        // 250,000 x 6.00 + 1,000 x 22.50 = 1,522,500 / 10^6
        Case { list: Some("1.5225"), cost: Some("1.5225"), ..case("a-long-250k", "claude-sonnet-4", 250_000, 1_000) },
        // 199,999: the base rates: 199,999 x 3.00 + 1,000 x 15.00 = 614,997 / 10^6
        Case { list: Some("0.614997"), cost: Some("0.614997"), ..case("b-199999", "claude-sonnet-4", 199_999, 1_000) },
        // a 1-hour cache write of 10,000 tokens with 100 uncached: 100 x 3 + 10,000 x 6 + 500 x 15
        Case {
            cache_write: 10_000,
            cache_write_1h: 10_000,
            list: Some("0.0678"),
            cost: Some("0.0678"),
            ..case("c-1h-write", "claude-sonnet-4", 10_100, 500)
        },
        // batch, half price through the tier multiplier: 10,000 x 1.50 + 2,000 x 7.50
        Case {
            tier: Some("batch"),
            list: Some("0.03"),
            cost: Some("0.03"),
            ..case("d-batch", "claude-sonnet-4", 10_000, 2_000)
        },
        // priority: 176 x 4.25 + 1,024 x 2.125 + 300 x 17.00 = 8,024 / 10^6
        Case {
            tier: Some("priority"),
            cache_read: 1_024,
            list: Some("0.008024"),
            cost: Some("0.008024"),
            ..case("e-priority", "gpt-4o", 1_200, 300)
        },
        // 3 web searches: 2,048 x 3 + 503 x 15 = 13,689 / 10^6, + 3 x 10 / 1,000
        Case {
            searches: 3,
            list: Some("0.043689"),
            cost: Some("0.043689"),
            ..case("f-searches", "claude-sonnet-4", 2_048, 503)
        },
        // audio: 33 x 2.50 + 12 x 40 + 24 x 10 + 96 x 80 = 8,482.5 / 10^6
        Case {
            input_audio: 12,
            output_audio: 96,
            list: Some("0.0084825"),
            cost: Some("0.0084825"),
            ..case("g-audio", "gpt-4o-audio-preview", 45, 120)
        },
        // July: 15 % off the list price of b: 0.614997 x 0.85
        Case {
            day: "2025-07-02",
            list: Some("0.614997"),
            cost: Some("0.52274745"),
            ..case("h-discounted", "claude-sonnet-4", 199_999, 1_000)
        },
        // run in the US: f's tokens at 1.1x: 13,689 x 1.1 / 10^6 (no searches)
        Case {
            geo: Some("us"),
            list: Some("0.0150579"),
            cost: Some("0.0150579"),
            ..case("k-us", "claude-sonnet-4", 2_048, 503)
        },
        // run in the EU, which has no premium: the rates elsewhere
        Case {
            geo: Some("eu"),
            list: Some("0.013689"),
            cost: Some("0.013689"),
            ..case("l-eu", "claude-sonnet-4", 2_048, 503)
        },
        // flex: a tier the book lacks for gpt-4o: unpriced, not priced at the standard rate
        Case { tier: Some("flex"), ..case("i-flex", "gpt-4o", 1_000, 100) },
        // a 1-hour cache write on an entity the book has no 1-hour price for: unpriced
        Case { cache_write: 2_000, cache_write_1h: 2_000, ..case("j-no-1h-rate", "gpt-4o", 3_000, 10) },
    ]
}

fn native_line(c: &Case) -> Value {
    let mut v = json!({
        "request_id": c.id, "request_time": format!("{}T10:00:00Z", c.day), "endpoint_name": "chat",
        "served_entity_name": c.entity, "requester": "ana@example.com", "status_code": 200,
        "input_tokens": c.prompt, "cached_input_tokens": c.cache_read, "cache_creation_input_tokens": c.cache_write,
        "output_tokens": c.output,
    });
    let o = v.as_object_mut().unwrap();
    if let Some(t) = c.tier {
        o.insert("service_tier".into(), json!(t));
    }
    if let Some(g) = c.geo {
        o.insert("inference_geo".into(), json!(g));
    }
    for (k, n) in [
        ("cache_creation_1h_input_tokens", c.cache_write_1h),
        ("input_audio_tokens", c.input_audio),
        ("output_audio_tokens", c.output_audio),
        ("web_search_requests", c.searches),
    ] {
        if n > 0 {
            o.insert(k.into(), json!(n));
        }
    }
    v
}

fn is_anthropic(c: &Case) -> bool {
    c.entity.starts_with("claude")
}

/// The provider's own usage object of the request's response.
fn usage_object(c: &Case) -> Value {
    if is_anthropic(c) {
        json!({
            "input_tokens": c.prompt - c.cache_read - c.cache_write,
            "cache_read_input_tokens": c.cache_read, "cache_creation_input_tokens": c.cache_write,
            "cache_creation": {"ephemeral_5m_input_tokens": c.cache_write - c.cache_write_1h, "ephemeral_1h_input_tokens": c.cache_write_1h},
            "output_tokens": c.output, "server_tool_use": {"web_search_requests": c.searches},
            "service_tier": c.tier.unwrap_or("standard"), "inference_geo": c.geo,
        })
    } else {
        json!({
            "prompt_tokens": c.prompt, "completion_tokens": c.output, "total_tokens": c.prompt + c.output,
            "prompt_tokens_details": {"cached_tokens": c.cache_read, "audio_tokens": c.input_audio},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": c.output_audio},
        })
    }
}

fn response(c: &Case) -> Value {
    if is_anthropic(c) {
        json!({"id": "msg_01", "type": "message", "role": "assistant", "model": c.entity,
               "content": [{"type": "text", "text": "ok"}], "stop_reason": "end_turn", "usage": usage_object(c)})
    } else {
        let mut r = json!({"id": "chatcmpl-1", "object": "chat.completion", "model": c.entity,
                           "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
                           "usage": usage_object(c)});
        if let Some(t) = c.tier {
            r["service_tier"] = json!(if t == "standard" { "default" } else { t });
        }
        r
    }
}

/// A row of a Unity AI Gateway payload table logging the request.
fn gateway_payload_line(c: &Case) -> Value {
    json!({
        "event_time": format!("{} 10:00:00", c.day), "request_id": c.id, "status_code": 200, "sampling_fraction": 1.0,
        "latency_ms": 900, "request": json!({"messages": [{"role": "user", "content": "hi"}]}).to_string(),
        "response": response(c).to_string(), "destination_type": "DESTINATION_TYPE_EXTERNAL_MODEL",
        "destination_name": c.entity, "destination_model": c.entity, "requester": "ana@example.com",
        "url": "https://ws.cloud.databricks.com/ai-gateway/model-services/main.ai.chat/invocations",
        "api_type": "OPENAI_CHAT_COMPLETIONS",
    })
}

/// A LiteLLM spend log row of the request: prompt_tokens counts cache reads and writes; the
/// provider's usage object is in metadata.
fn litellm_line(c: &Case) -> Value {
    let mut usage = usage_object(c);
    if is_anthropic(c) {
        usage["prompt_tokens"] = json!(c.prompt);
        usage["completion_tokens"] = json!(c.output);
    } else if let Some(t) = c.tier {
        usage["service_tier"] = json!(t);
    }
    json!({
        "request_id": c.id, "call_type": "acompletion", "spend": 0.001, "startTime": format!("{}T10:00:00Z", c.day),
        "endTime": format!("{}T10:00:01Z", c.day), "model": c.entity, "model_group": "chat", "user": "ana@example.com",
        "prompt_tokens": c.prompt, "completion_tokens": c.output, "status": "success",
        "metadata": {"usage_object": usage},
    })
}

/// Per request id: list cost, cost and price version (`None`: unpriced).
type Priced = BTreeMap<String, (Option<Decimal>, Option<Decimal>, Option<String>)>;

fn priced(env: &Env) -> Priced {
    let out = env.ok(&[
        "--format",
        "json",
        "sql",
        "SELECT request_id, CAST(list_cost AS VARCHAR) AS list_cost, CAST(cost AS VARCHAR) AS cost, price_version \
         FROM priced_requests ORDER BY request_id",
    ]);
    let dec = |v: &Value| v.as_str().map(|s| s.parse::<Decimal>().unwrap().normalize());
    out.lines()
        .filter(|l| !l.trim().is_empty())
        .flat_map(|l| match serde_json::from_str::<Value>(l).unwrap() {
            Value::Array(rows) => rows,
            row => vec![row],
        })
        .map(|r| {
            (
                r["request_id"].as_str().unwrap().to_string(),
                (dec(&r["list_cost"]), dec(&r["cost"]), r["price_version"].as_str().map(str::to_string)),
            )
        })
        .collect()
}

fn warehouse_with_prices() -> Env {
    let env = Env::init();
    env.write("wh/config/prices.csv", PRICES);
    env.write("wh/config/discounts.csv", DISCOUNTS);
    env
}

fn check(what: &str, env: &Env, cases: &[Case]) {
    let got = priced(env);
    for c in cases {
        let (list, cost, version) = got.get(c.id).unwrap_or_else(|| panic!("{what}: no row for {}: {got:?}", c.id));
        let want = |s: Option<&str>| s.map(|s| s.parse::<Decimal>().unwrap().normalize());
        assert_eq!((list, cost), (&want(c.list), &want(c.cost)), "{what}: {} ({version:?})", c.id);
        assert_eq!(version.is_none(), c.list.is_none(), "{what}: {}: unpriced rows have no price version", c.id);
    }
}

#[test]
fn requests_are_priced_as_the_providers_bill_them() {
    let env = warehouse_with_prices();
    let lines: String = cases().iter().map(|c| format!("{}\n", native_line(c))).collect();
    let file = env.write("native.jsonl", lines);
    env.ingest_json(&[file.to_str().unwrap()]);
    env.ok(&["rollup"]);
    check("native", &env, &cases());
    let versions = priced(&env);
    assert_eq!(versions["a-long-250k"].2.as_deref(), Some("claude-sonnet-4@2025-06-01>200000"));
    assert_eq!(versions["d-batch"].2.as_deref(), Some("claude-sonnet-4@2025-06-01/batch"));
    assert_eq!(versions["k-us"].2.as_deref(), Some("claude-sonnet-4@2025-06-01~us"));
    assert_eq!(versions["l-eu"].2.as_deref(), Some("claude-sonnet-4@2025-06-01"));
    // the usage tables carry the tier keys, both costs and the discount
    let out = env.ok(&[
        "--format",
        "csv",
        "sql",
        "SELECT \"date\", service_tier, above_prompt_tokens, inference_geo, CAST(sum(list_cost) AS VARCHAR) AS list_cost, \
         CAST(sum(cost) AS VARCHAR) AS cost, sum(web_search_requests) AS searches, sum(unpriced_requests) AS unpriced, \
         max(discount_id) AS discount FROM usage_daily GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4",
    ]);
    let rows: Vec<&str> = out.lines().collect();
    assert_eq!(
        rows[0],
        "date,service_tier,above_prompt_tokens,inference_geo,list_cost,cost,searches,unpriced,discount"
    );
    // June, standard, base tier, no premium: b + c + f + g + l (+ j unpriced)
    // = 0.614997 + 0.0678 + 0.043689 + 0.0084825 + 0.013689
    assert!(rows.contains(&"2025-06-10,standard,0,,0.748657500000,0.748657500000,3,1,"), "{out}");
    assert!(rows.contains(&"2025-06-10,standard,0,us,0.015057900000,0.015057900000,0,0,"), "{out}");
    assert!(rows.contains(&"2025-06-10,standard,200000,,1.522500000000,1.522500000000,0,0,"), "{out}");
    assert!(
        rows.contains(&"2025-07-02,standard,0,,0.614997000000,0.522747450000,0,0,*/claude-sonnet-4@2025-07-01 -15%"),
        "{out}"
    );
    assert!(rows.contains(&"2025-06-10,flex,0,,,,0,1,"), "{out}");
    // FOCUS: ListCost is the list price, EffectiveCost and BilledCost what is paid
    let focus = env.path("focus.csv");
    env.ok(&["--format", "focus", "chargeback", "--period", "2025-07", "--output", focus.to_str().unwrap()]);
    let mut reader = csv::Reader::from_path(&focus).unwrap();
    let header = reader.headers().unwrap().clone();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let row = reader.records().next().unwrap().unwrap();
    assert_eq!(&row[col("ListCost")], "0.614997000000");
    assert_eq!(&row[col("EffectiveCost")], "0.522747450000");
    assert_eq!(&row[col("BilledCost")], "0.522747450000");
    assert_eq!(&row[col("SkuPriceId")], "claude-sonnet-4@2025-06-01");
}

#[test]
fn the_same_requests_price_alike_through_every_adapter() {
    let priced_cases: Vec<Case> = cases().into_iter().filter(|c| c.list.is_some()).collect();
    type Line = fn(&Case) -> Value;
    let forms: [(&str, Line); 2] =
        [("ai_gateway_payload.jsonl", gateway_payload_line), ("litellm.jsonl", litellm_line)];
    for (name, line) in forms {
        let env = warehouse_with_prices();
        let text: String = priced_cases.iter().map(|c| format!("{}\n", line(c))).collect();
        let file = env.write(name, text);
        let s = env.ingest_json(&[file.to_str().unwrap()]);
        assert_eq!(s["quarantined"], json!(0), "{name}: {s}");
        env.ok(&["rollup"]);
        check(name, &env, &priced_cases);
    }
}
