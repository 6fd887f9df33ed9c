#!/usr/bin/env python3
r"""Write tests/data/gateway/: gateway-log fixtures and, independently, the records expected of them.

    python3 scripts/gateway_fixtures.py        (standard library only; fixed seed, no wall clock)

Inputs: Databricks served_entities (.csv/.jsonl), endpoint_usage (.csv/.jsonl), an AI Gateway
payload table (payload.jsonl), LiteLLM_SpendLogs (litellm.csv / litellm.json = one JSON array),
usage_objects.json (a corpus of provider usage shapes), the Databricks Unity AI Gateway usage table
system.ai_gateway.usage (ai_gateway_usage.csv/.jsonl), the new AI Gateway payload table shape
(ai_gateway_payload.jsonl) and a legacy endpoint_usage file over a migration window in which
ai_gateway_usage recorded 40 of the same requests (endpoint_usage_migration.csv). The CSV and JSON form
of a source hold the same requests in the same order; the script reads back BOTH files it wrote,
normalises each with the rules below, asserts they agree, and writes expected/<source>.jsonl: one
{"line": N, "row": {...}} or {"line": N, "quarantine": CODE} per input record (N 1-based: CSV data
row, JSONL line, array index); an ai_gateway_usage record with failed routing attempts gives
{"line": N, "rows": [attempt 1 row, ..., attempt n-1 row, the row]}. Generation of these last three
sources is appended after the others, so the older files stay byte-identical.

Rules (the Rust adapters follow exactly these):
* Token buckets are disjoint: input (uncached prompt), cache_read, cache_creation, output (all
  generated text, reasoning included) and reasoning (a part of output, or null). token_count_source
  is reported | estimated | absent (absent: all buckets 0, reasoning null).
* Timestamps: YYYY-MM-DD[T or space]HH:MM:SS[.1-6 digits][Z or +HH:MM or -HH:MM]; no zone = UTC;
  anything else (or an impossible date) is a bad timestamp. request_time_us = UTC microseconds.
* CSV: an empty cell is null in every column; JSON columns hold JSON text.
* OpenAI usage (non-null "prompt_tokens"): cached = prompt_tokens_details.cached_tokens (0 when
  missing/null); input = prompt_tokens - cached; cache_read = cached; cache_creation = 0;
  output = completion_tokens (0 when missing/null); reasoning = completion_tokens_details.
  reasoning_tokens (null when missing/null; 0 stays 0). Other keys (audio_tokens...) are ignored.
* Anthropic usage (non-null "input_tokens", no non-null "prompt_tokens"): input = input_tokens;
  cache_read = cache_read_input_tokens or 0; cache_creation = cache_creation_input_tokens or 0;
  output = output_tokens or 0; reasoning null. ("x or 0" means null/missing -> 0.)
* A response is a JSON object, or a stream: a JSON array of chunks, or SSE text (text that is not
  JSON, split on "\n", lines "data:<spaces><json>"; "data: [DONE]", other lines and data that is not
  JSON skipped). A stream containing a message_start event is Anthropic: usage = the first
  message_start.message.usage with output_tokens replaced by the LAST message_delta event's non-null
  usage.output_tokens, if any. Otherwise the LAST chunk with a non-null "usage" object gives the
  usage. No usage anywhere = no usage. A usage object with neither key = no usage.
* No usage: status 2xx -> estimated: input = (input_chars + 1) // 4, output = (output_chars + 1)
  // 4, cache 0, reasoning null (even when both are 0); other status -> absent.
  Characters = Python len() (Unicode scalar values) of the decoded JSON strings. Request:
  messages[].content (a string, or the "text" of every part of an array) + prompt (string or array
  of strings) + input (string or array of strings); nothing else ("system" is not counted).
  Response: choices[].message.content, choices[].text, choices[].delta.content, content[].text,
  delta.text, summed over every chunk of a stream. A null or unparseable body counts 0.
* Databricks: served entity = the served_entities row of that served_entity_id with the greatest
  change_time <= request_time (equal times: greater endpoint_config_version; row order and
  endpoint_delete_time do not matter); none -> quarantine unknown_entity. It gives endpoint_name,
  served_entity_name, entity_type and provider = external_model_config.provider (null without
  external_model_config).
  endpoint_usage: tokens = input/output_token_count ("reported", a null one counts 0) when either is
  non-null; else estimated from input/output_character_count ((c+1)//4, null counts 0) when either is
  non-null; else absent. usage_context: keys sorted, {} or null -> null.
  payload: tokens from the response (above; a response with usage is "reported" whatever the
  status); requester null -> "unknown"; has_request/has_response = the column is a non-null string;
  request_streaming and usage_context null.
* LiteLLM: prompt_tokens INCLUDES cache reads and writes. cache_read = usage_object.
  prompt_tokens_details.cached_tokens when present and non-null, else usage_object.
  cache_read_input_tokens, else 0; cache_creation = usage_object.cache_creation_input_tokens or 0;
  input = prompt_tokens - cache_read - cache_creation; output = completion_tokens; reasoning =
  completion_tokens_details.reasoning_tokens or null. "reported" when prompt_tokens or
  completion_tokens is non-null (a null one counts 0), else absent. Quarantine, first match wins:
  bad_timestamp (startTime), negative_value (a negative token count), inconsistent_tokens
  (reported and input < 0). status 200 for "success", else error_information.error_code (a JSON
  integer or a string of ASCII digits) if in 100..599, else 500. duration = floor((endTime -
  startTime) in ms). Empty means null or "". spend: the decimal as written (the shortest round-trip
  text of the float), rounded half-even to 10 places, written with exactly 10 decimals.
  has_request/has_response: messages/response is not null, {}, [] or "" (a CSV cell is JSON text).
* Rows not listed otherwise below: attempt null, service_tier null, requester_type null.
* Databricks AI Gateway usage (system.ai_gateway.usage) -> source "databricks-ai-gateway". Checks in
  this order, first match wins: mcp_metadata non-null with a non-null json_rpc_method -> quarantine
  not_model_traffic; request_time_us = event_time (timestamp rules above) else bad_timestamp;
  request_id null -> missing_field; endpoint_name = endpoint_name, else service_name, else
  missing_field; served_entity_name = destination_name, else destination_model, else missing_field.
  served_entity_id = destination_id; entity_type = destination_type upper-cased with a leading
  "DESTINATION_TYPE_" removed (null -> null); provider = "databricks" when entity_type is
  "FOUNDATION_MODEL", else the url path segment right after "/ai-gateway/" (up to the next "/")
  lower-cased, null when that segment is "model-services" or "mcp-services", when the url has no
  "/ai-gateway/" and when the url is null. requester = requester, null or "" -> "unknown";
  requester_type "USER" -> "user", "SERVICE_PRINCIPAL" -> "service_principal", other text
  lower-cased, null -> null; client_request_id null. usage_context = request_tags, keys sorted, {} or
  null -> null; status_code as given; execution_duration_ms = latency_ms; request_streaming = null
  when response_content_type is null, else whether it starts with "text/event-stream".
  service_tier = invocation_metadata.service_tier lower-cased, "default" -> "standard" (null
  invocation_metadata or tier -> null). Tokens (OpenAI style: input_tokens is the WHOLE prompt, cache
  reads and writes included; total_tokens ignored): i = input_tokens, o = output_tokens, cr/cw/r =
  token_details.cache_read_input_tokens / cache_creation_input_tokens / output_reasoning_tokens (null
  token_details: all null). Any of i, o, cr, cw, r negative -> negative_value. i and o both null:
  cr or cw > 0 -> inconsistent_tokens, else absent. Otherwise reported: cache_read = cr or 0,
  cache_creation = cw or 0, input = (i or 0) - cache_read - cache_creation (< 0 ->
  inconsistent_tokens), output = o or 0, reasoning = r (null stays null; r > output ->
  inconsistent_tokens). A quarantine covers the whole record (no attempt rows).
  Attempts = routing_information.attempts (routing_information null, attempts null or [] -> none):
  none -> attempt null, is_fallback false; one -> attempt 1, is_fallback false; n >= 2 -> the row
  has attempt n, is_fallback true, and the record ALSO yields n-1 failed-attempt rows before it,
  k = 1..n-1 in order: request_id "<request_id>#attempt-<k>", served_entity_name =
  attempts[k-1].destination, status_code = attempts[k-1].status_code, execution_duration_ms =
  attempts[k-1].latency_ms, tokens absent, attempt k, is_fallback false, served_entity_id /
  entity_type / provider the row's when that destination equals the row's served_entity_name, else
  null; every other field as the row's. sampling_fraction, source_reported_cost null; has_request,
  has_response false.
* AI Gateway payload table (new shape) -> source "databricks-ai-gateway-payload": request_time_us =
  event_time (else bad_timestamp); request_id null -> missing_field; served_entity_name =
  destination_name, else destination_model, else missing_field (checks in this order);
  served_entity_id null; entity_type and provider as for usage rows; endpoint_name = the url path
  segment right after "/model-services/" or "/serving-endpoints/" (up to the next "/"), else
  served_entity_name; requester null or "" -> "unknown"; requester_type null; usage_context =
  request_tags as above; status_code, sampling_fraction as given; execution_duration_ms = latency_ms;
  tokens from the response and has_request/has_response exactly as the payload rule above;
  request_streaming null, attempt null, is_fallback false, service_tier null, client_request_id null.
* endpoint_usage_migration.csv is the legacy endpoint_usage shape and follows its rules above.
"""
from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import random
import re
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "gateway"
SEED = 20250301
UTC = dt.timezone.utc
EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)
ROW_KEYS = ["request_id", "client_request_id", "request_time_us", "endpoint_name", "served_entity_name",
            "served_entity_id", "entity_type", "provider", "requester", "usage_context", "status_code",
            "execution_duration_ms", "request_streaming", "is_fallback", "attempt", "input_tokens",
            "cache_read_input_tokens", "cache_creation_input_tokens", "output_tokens", "reasoning_tokens",
            "token_count_source", "sampling_fraction", "source_reported_cost", "service_tier", "requester_type",
            "has_request", "has_response", "source"]
TOKEN_KEYS = ["input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens", "output_tokens"]

# ----------------------------------------------------------------------------- time helpers

def us(y, mo, d, h=0, mi=0, s=0, ms=0, micro=0) -> int:
    return (dt.datetime(y, mo, d, h, mi, s, ms * 1000 + micro, tzinfo=UTC) - EPOCH) // dt.timedelta(microseconds=1)


def utc(t_us: int, offset_h: int = 0) -> dt.datetime:
    return EPOCH + dt.timedelta(microseconds=t_us) + dt.timedelta(hours=offset_h)


def fmt_ms(t_us: int, style: str) -> str:
    """style: 'z' 2025-03-01T10:00:00.123Z | 'space' 2025-03-01 10:00:00.123 | '+01'/'-05' offsets."""
    if style in ("z", "space"):
        d = utc(t_us)
        return d.strftime("%Y-%m-%d" + ("T" if style == "z" else " ") + "%H:%M:%S.") + f"{d.microsecond // 1000:03d}" + ("Z" if style == "z" else "")
    h = int(style)
    d = utc(t_us, h)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond // 1000:03d}" + f"{'+' if h >= 0 else '-'}{abs(h):02d}:00"


TS_RE = re.compile(r"(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?(Z|[+-]\d\d:\d\d)?")


def parse_ts(s) -> int | None:
    """The oracle's timestamp parser: UTC microseconds, or None for a bad timestamp."""
    m = TS_RE.fullmatch(s) if isinstance(s, str) else None
    if not m:
        return None
    try:
        d = dt.datetime(*map(int, m.groups()[:6]), int((m[7] or "0").ljust(6, "0")), tzinfo=UTC)
    except ValueError:
        return None
    off = 0
    if m[8] and m[8] != "Z":
        off = (1 if m[8][0] == "+" else -1) * (int(m[8][1:3]) * 3600 + int(m[8][4:6]) * 60) * 10**6
    return (d - EPOCH) // dt.timedelta(microseconds=1) - off


def uid(rng) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) % 4]}{h[17:20]}-{h[20:]}"


def pick(rng, weighted: dict):
    return rng.choices(list(weighted), weights=list(weighted.values()))[0]


def dumps(v, ascii_=False) -> str:
    return json.dumps(v, ensure_ascii=ascii_, separators=(",", ":"))


# ----------------------------------------------------------------------------- text pools (non-ASCII on purpose)
PROMPTS = [
    "What's the weather in 東京 tomorrow?", "Explain naïve Bayes in two sentences.",
    "Summarise the Q4 report for the café chain ☕.", "Привет! Сколько будет 2+2?",
    "数据湖和数据仓库有什么区别？", "Write a haiku about Zürich → München trains 🚆",
    "Thanks 👍🏽 that worked!", "¿Dónde está la biblioteca?", "Classify the sentiment: 'I love this 😍'",
    "Plain ASCII prompt about Delta Lake time travel and vacuum retention.",
    "Family emoji 👨‍👩‍👧 is five code points.", "SELECT * FROM orders WHERE amount > 100;",
]
ANSWERS = [
    "Tomorrow in 東京: sunny, 18°C.", "Naïve Bayes assumes features are independent given the class.",
    "Sure! 😊 Here is a summary:\n- revenue up 12%\n- costs flat", "Два плюс два — четыре.",
    "数据湖存储原始数据；数据仓库存储建模后的数据。", "Rails hum at dawn / Zürich fades to München / coffee ☕ still warm",
    "You're welcome! 🎉", "La biblioteca está en la calle Mayor.", "positive",
    "Delta Lake keeps old versions until VACUUM removes files older than the retention period.",
]
SYSTEM = "You are a helpful assistant. Réponds brièvement."

# ----------------------------------------------------------------------------- provider response shapes

def oa_usage(p, c, cached=None, reasoning=None, details="full"):
    u = {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}
    if details == "full":
        u["prompt_tokens_details"] = {"cached_tokens": cached or 0, "audio_tokens": 0}
        u["completion_tokens_details"] = {"reasoning_tokens": reasoning or 0, "audio_tokens": 0,
                                          "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}
    elif details == "null":
        u["prompt_tokens_details"] = None
        u["completion_tokens_details"] = None
    return u


def oa_chat(text, usage, model="gpt-4o-2024-08-06"):
    r = {"id": "chatcmpl-AzX1", "object": "chat.completion", "created": 1740823200, "model": model,
         "choices": [{"index": 0, "message": {"role": "assistant", "content": text, "refusal": None},
                      "logprobs": None, "finish_reason": "stop"}]}
    if usage is not None:
        r["usage"] = usage
    r["system_fingerprint"] = "fp_f9f4fb6dbf"
    return r


def oa_stream(text, usage, model="gpt-4o-2024-08-06", usage_field=True):
    """Chunks: a role chunk, content pieces, a finish chunk, and (include_usage) a usage chunk."""
    base = {"id": "chatcmpl-AzS9", "object": "chat.completion.chunk", "created": 1740823200, "model": model}
    pieces = [text[i:i + 7] for i in range(0, len(text), 7)]
    deltas = [{"role": "assistant", "content": ""}] + [{"content": p} for p in pieces] + [{}]
    chunks = []
    for i, d in enumerate(deltas):
        c = dict(base, choices=[{"index": 0, "delta": d, "logprobs": None,
                                 "finish_reason": "stop" if i == len(deltas) - 1 else None}])
        if usage_field:
            c["usage"] = None
        chunks.append(c)
    if usage is not None:
        chunks.append(dict(base, choices=[], usage=usage))
    return chunks


def sse(chunks, ascii_=False) -> str:
    return "".join(f"data: {dumps(c, ascii_)}\n\n" for c in chunks) + "data: [DONE]\n\n"


def an_usage(i, o, cr=None, cw=None, fields="values"):
    u = {"input_tokens": i}
    if fields == "values":
        u.update(cache_creation_input_tokens=cw or 0, cache_read_input_tokens=cr or 0)
    elif fields == "null":
        u.update(cache_creation_input_tokens=None, cache_read_input_tokens=None)
    u["output_tokens"] = o
    return u


def an_msg(text, usage, model="claude-3-5-sonnet-20241022"):
    return {"id": "msg_01XFDUDYJgAACzvnptvVoYEL", "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": text}], "stop_reason": "end_turn", "stop_sequence": None,
            "usage": usage}


def an_stream(text, usage, out, model="claude-3-5-sonnet-20241022", delta=True):
    ev = [{"type": "message_start", "message": {"id": "msg_01Strm", "type": "message", "role": "assistant",
           "model": model, "content": [], "stop_reason": None, "stop_sequence": None, "usage": usage}},
          {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
          {"type": "ping"}]
    ev += [{"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text[i:i + 9]}}
           for i in range(0, len(text), 9)]
    ev.append({"type": "content_block_stop", "index": 0})
    if delta:
        ev.append({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                   "usage": {"output_tokens": out}})
        ev.append({"type": "message_stop"})
    return ev


ERR_429 = {"error": {"message": "Rate limit reached for gpt-4o in organization org-x on tokens per min (TPM).",
                     "type": "tokens", "param": None, "code": "rate_limit_exceeded"}}
ERR_500 = {"error": {"message": "The server had an error while processing your request.", "type": "server_error",
                     "param": None, "code": None}}
ERR_400 = {"error_code": "BAD_REQUEST", "message": "BAD_REQUEST: 'messages' must contain at least one message."}

# ----------------------------------------------------------------------------- the oracle: usage & characters

def text_of(v) -> int:
    return len(v) if isinstance(v, str) else 0


def request_chars(body) -> int:
    if not isinstance(body, dict):
        return 0
    n = 0
    for m in body.get("messages") or []:
        c = m.get("content") if isinstance(m, dict) else None
        n += text_of(c) if not isinstance(c, list) else sum(text_of(p.get("text")) for p in c if isinstance(p, dict))
    for key in ("prompt", "input"):
        v = body.get(key)
        n += sum(text_of(x) for x in v) if isinstance(v, list) else text_of(v)
    return n


def response_chars(v) -> int:
    if isinstance(v, list):
        return sum(response_chars(x) for x in v)
    if not isinstance(v, dict):
        return 0
    n = 0
    for ch in v.get("choices") if isinstance(v.get("choices"), list) else []:
        if isinstance(ch, dict):
            n += text_of(ch.get("text"))
            for k in ("message", "delta"):
                if isinstance(ch.get(k), dict):
                    n += text_of(ch[k].get("content"))
    if isinstance(v.get("content"), list):
        n += sum(text_of(p.get("text")) for p in v["content"] if isinstance(p, dict))
    if isinstance(v.get("delta"), dict):
        n += text_of(v["delta"].get("text"))
    return n


def buckets_of(u) -> dict | None:
    """One usage object -> buckets (OpenAI or Anthropic style), or None."""
    if not isinstance(u, dict):
        return None
    g = lambda d, k: d.get(k) if isinstance(d, dict) else None  # noqa: E731
    if u.get("prompt_tokens") is not None:
        cached = g(u.get("prompt_tokens_details"), "cached_tokens") or 0
        return {"input": u["prompt_tokens"] - cached, "cache_read": cached, "cache_creation": 0,
                "output": u.get("completion_tokens") or 0,
                "reasoning": g(u.get("completion_tokens_details"), "reasoning_tokens")}
    if u.get("input_tokens") is not None:
        return {"input": u["input_tokens"], "cache_read": u.get("cache_read_input_tokens") or 0,
                "cache_creation": u.get("cache_creation_input_tokens") or 0,
                "output": u.get("output_tokens") or 0, "reasoning": None}
    return None


def extras_of(v) -> dict:
    """What a response says besides the five buckets, non-null keys only: the audio parts of input and output
    (OpenAI prompt/completion_tokens_details.audio_tokens, or input/output_tokens_details), the 1-hour part of
    the cache writes (Anthropic cache_creation.ephemeral_1h_input_tokens) of the usage object the buckets come
    from; and, from the LAST chunk that says each: web_search_requests (usage.server_tool_use), service_tier
    (usage.service_tier, else the chunk's own service_tier, OpenAI) and inference_geo (usage.inference_geo),
    where a chunk's usage objects are its usage and its message.usage."""
    g = lambda d, k: d.get(k) if isinstance(d, dict) else None  # noqa: E731
    chunks = [c for c in (v if isinstance(v, list) else [v]) if isinstance(c, dict)]
    starts = [c for c in chunks if c.get("type") == "message_start"]
    if starts:
        u = (starts[0].get("message") or {}).get("usage")
    else:
        with_usage = [c for c in chunks if isinstance(c.get("usage"), dict)]
        u = with_usage[-1]["usage"] if with_usage else None
    out = {}
    if isinstance(u, dict):
        if u.get("prompt_tokens") is not None or (u.get("completion_tokens") is not None and u.get("input_tokens") is None):
            out["input_audio"] = g(u.get("prompt_tokens_details"), "audio_tokens")
            out["output_audio"] = g(u.get("completion_tokens_details"), "audio_tokens")
        elif u.get("input_tokens_details") is not None or u.get("output_tokens_details") is not None:
            out["input_audio"] = g(u.get("input_tokens_details"), "audio_tokens")
            out["output_audio"] = g(u.get("output_tokens_details"), "audio_tokens")
        elif u.get("input_tokens") is not None or u.get("output_tokens") is not None:
            out["cache_creation_1h"] = g(u.get("cache_creation"), "ephemeral_1h_input_tokens")
    for c in reversed(chunks):
        for usage in (c.get("usage"), g(c.get("message"), "usage")):
            if isinstance(usage, dict):
                if out.get("web_search_requests") is None:
                    out["web_search_requests"] = g(usage.get("server_tool_use"), "web_search_requests")
                if out.get("service_tier") is None:
                    out["service_tier"] = usage.get("service_tier")
                if out.get("inference_geo") is None:
                    out["inference_geo"] = usage.get("inference_geo")
        if out.get("service_tier") is None:
            out["service_tier"] = c.get("service_tier")
    return {k: x for k, x in out.items() if x is not None}


def parse_body(text):
    """Stored text -> a JSON value, a list of SSE chunks, or None (null / unparseable)."""
    if not isinstance(text, str):
        return None
    try:
        return json.loads(text)
    except ValueError:
        pass
    lines = [l.rstrip("\r") for l in text.split("\n")]
    if not any(l.startswith("data:") for l in lines):
        return None
    chunks = []
    for l in lines:
        payload = l[5:].strip() if l.startswith("data:") else "[DONE]"
        if payload != "[DONE]":
            try:
                chunks.append(json.loads(payload))
            except ValueError:
                pass
    return chunks


def usage_of(v) -> dict | None:
    if isinstance(v, dict):
        return buckets_of(v.get("usage"))
    if not isinstance(v, list):
        return None
    events = [c for c in v if isinstance(c, dict)]
    starts = [c for c in events if c.get("type") == "message_start"]
    if starts:
        b = buckets_of((starts[0].get("message") or {}).get("usage"))
        deltas = [c for c in events if c.get("type") == "message_delta" and isinstance(c.get("usage"), dict)
                  and c["usage"].get("output_tokens") is not None]
        if b and deltas:
            b["output"] = deltas[-1]["usage"]["output_tokens"]
        return b
    with_usage = [c for c in events if isinstance(c.get("usage"), dict)]
    return buckets_of(with_usage[-1]["usage"]) if with_usage else None


def tokens(b: dict | None, source: str) -> dict:
    if b is None:
        b, source = {"input": 0, "cache_read": 0, "cache_creation": 0, "output": 0, "reasoning": None}, "absent"
    return {"input_tokens": b["input"], "cache_read_input_tokens": b["cache_read"],
            "cache_creation_input_tokens": b["cache_creation"], "output_tokens": b["output"],
            "reasoning_tokens": b["reasoning"], "token_count_source": source}


def estimate(in_chars: int, out_chars: int) -> dict:
    return tokens({"input": (in_chars + 1) // 4, "cache_read": 0, "cache_creation": 0,
                   "output": (out_chars + 1) // 4, "reasoning": None}, "estimated")


def row(**kw) -> dict:
    assert set(kw) == set(ROW_KEYS), set(kw) ^ set(ROW_KEYS)
    assert all(kw[k] >= 0 for k in TOKEN_KEYS), kw
    return {k: kw[k] for k in ROW_KEYS}


# ----------------------------------------------------------------------------- Databricks served_entities
SE_COLS = ["served_entity_id", "account_id", "workspace_id", "created_by", "endpoint_name", "endpoint_id",
           "served_entity_name", "entity_type", "entity_name", "entity_version", "endpoint_config_version", "task",
           "external_model_config", "foundation_model_config", "change_time", "endpoint_delete_time"]
ACCOUNT, WORKSPACE = "7d2c1e4f-0a9b-4c3d-8e5f-61a2b3c4d5e6", "1234567890123456"
ENT_ROWS = [  # key, config version, change_time, endpoint, served entity, type, entity_name, version, task, provider, fm config, deleted
    ("gpt4o", 3, us(2025, 2, 20, 9), "chat-prod", "gpt-4o", "EXTERNAL_MODEL", "gpt-4o", None, "llm/v1/chat", "openai", None, None),
    ("gpt4o", 4, us(2025, 3, 5, 12), "chat-prod", "gpt-4o-2024-11-20", "EXTERNAL_MODEL", "gpt-4o-2024-11-20", None, "llm/v1/chat", "openai", None, None),
    ("claude", 1, us(2025, 2, 10, 15, 30), "claude-chat", "claude-3-5-sonnet", "EXTERNAL_MODEL", "claude-3-5-sonnet-20241022", None, "llm/v1/chat", "anthropic", None, None),
    ("llama", 1, us(2025, 1, 15, 8), "llama-pt", "llama-70b", "FOUNDATION_MODEL", "system.ai.meta_llama_v3_3_70b_instruct", "1", "llm/v1/chat", None, (0, 9500), None),
    ("llama", 2, us(2025, 3, 3, 8, 30), "llama-pt", "llama-70b-pt", "FOUNDATION_MODEL", "system.ai.meta_llama_v3_3_70b_instruct", "1", "llm/v1/chat", None, (9500, 19000), None),
    ("llama", 3, us(2025, 3, 7, 18), "llama-prod", "llama-70b-pt", "FOUNDATION_MODEL", "system.ai.meta_llama_v3_3_70b_instruct", "1", "llm/v1/chat", None, (9500, 19000), None),
    ("embed", 2, us(2025, 2, 1), "embeddings", "text-embedding-3-small", "EXTERNAL_MODEL", "text-embedding-3-small", None, "llm/v1/embeddings", "openai", None, None),
    ("fraud", 1, us(2025, 3, 4), "fraud-scorer", "fraud_model-7", "CUSTOM_MODEL", "main.ml.fraud_model", "7", None, None, None, None),
    ("instruct", 5, us(2025, 2, 25, 11, 15, 30), "completions-legacy", "gpt-35-turbo-instruct", "EXTERNAL_MODEL", "gpt-3.5-turbo-instruct", None, "llm/v1/completions", "openai", None, us(2025, 3, 9)),
    ("llama8b", 1, us(2025, 2, 1), "databricks-meta-llama-3-1-8b-instruct", "databricks-meta-llama-3-1-8b-instruct", "FOUNDATION_MODEL", "system.ai.meta_llama_v3_1_8b_instruct", "2", "llm/v1/chat", None, None, None),
    ("haiku", 1, us(2025, 2, 12, 10), "assistant", "claude-haiku", "EXTERNAL_MODEL", "claude-3-haiku-20240307", None, "llm/v1/chat", "anthropic", None, None),
    ("haiku", 2, us(2025, 3, 6, 9, 45), "assistant", "claude-haiku-bedrock", "EXTERNAL_MODEL", "anthropic.claude-3-haiku-20240307-v1:0", None, "llm/v1/chat", "amazon-bedrock", None, None),
]
KEYS = ["gpt4o", "claude", "llama", "embed", "fraud", "instruct", "llama8b", "haiku", "unknown1", "unknown2"]


def gen_served_entities(rng, ids):
    """Rows (typed, JSONL shape), written in a shuffled order: the lookup must not depend on it."""
    eps = {}
    rows = []
    for key, ver, ct, ep, sen, et, en, ev, task, prov, fm, dele in ENT_ROWS:
        eps.setdefault(key, f"{rng.getrandbits(128):032x}")
        rows.append({"served_entity_id": ids[key], "account_id": ACCOUNT, "workspace_id": WORKSPACE,
                     "created_by": "platform-team@example.com", "endpoint_name": ep, "endpoint_id": eps[key],
                     "served_entity_name": sen, "entity_type": et, "entity_name": en, "entity_version": ev,
                     "endpoint_config_version": ver, "task": task,
                     "external_model_config": {"provider": prov} if prov else None,
                     "foundation_model_config": {"min_provisioned_throughput": fm[0], "max_provisioned_throughput": fm[1]} if fm else None,
                     "change_time": ct, "endpoint_delete_time": dele})
    rng.shuffle(rows)
    return rows


def write_served_entities(rows):
    with open(OUT / "served_entities.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(SE_COLS)
        for i, r in enumerate(rows):
            cell = {"external_model_config": r["external_model_config"] and dumps(r["external_model_config"]),
                    "foundation_model_config": r["foundation_model_config"] and dumps(r["foundation_model_config"]),
                    "change_time": fmt_ms(r["change_time"], "space")[:19] if i % 2 == 0 else fmt_ms(r["change_time"], "z"),
                    "endpoint_delete_time": r["endpoint_delete_time"] and fmt_ms(r["endpoint_delete_time"], "z")}
            w.writerow([cell.get(c, r[c]) for c in SE_COLS])
    with open(OUT / "served_entities.jsonl", "w", encoding="utf-8", newline="\n") as f:
        for r in rows:
            j = dict(r, change_time=fmt_ms(r["change_time"], "z"),
                     endpoint_delete_time=r["endpoint_delete_time"] and fmt_ms(r["endpoint_delete_time"], "z"))
            f.write(json.dumps(j, ensure_ascii=False) + "\n")


def read_csv(name):
    with open(OUT / name, newline="", encoding="utf-8") as f:
        return [{k: (v if v != "" else None) for k, v in r.items()} for r in csv.DictReader(f)]


def read_jsonl(name, **kw):
    with open(OUT / name, encoding="utf-8") as f:
        return [json.loads(l, **kw) for l in f]


def entity_table() -> dict:
    """Read served_entities back from both files; {id: [(change_time_us, fields)]}."""
    def norm(r, from_csv):
        ext = json.loads(r["external_model_config"]) if from_csv and r["external_model_config"] else r["external_model_config"]
        return r["served_entity_id"], (parse_ts(r["change_time"]), int(r["endpoint_config_version"])), {
            "endpoint_name": r["endpoint_name"], "served_entity_name": r["served_entity_name"],
            "entity_type": r["entity_type"], "provider": (ext or {}).get("provider")}
    a = [norm(r, True) for r in read_csv("served_entities.csv")]
    b = [norm(r, False) for r in read_jsonl("served_entities.jsonl")]
    assert a == b and all(t[0] is not None for _, t, _ in a)
    table = {}
    for sid, t, fields in a:
        table.setdefault(sid, []).append((t, fields))
    return table


def lookup(table, sid, t_us):
    cands = [(t, f) for t, f in table.get(sid, []) if t[0] <= t_us]   # t = (change_time, endpoint_config_version)
    return max(cands, key=lambda c: c[0])[1] if cands else None


# ----------------------------------------------------------------------------- Databricks endpoint_usage
EU_COLS = ["workspace_id", "account_id", "client_request_id", "databricks_request_id", "requester", "status_code",
           "request_time", "input_token_count", "output_token_count", "input_character_count",
           "output_character_count", "usage_context", "request_streaming", "served_entity_id"]
REQUESTERS = ["alice@example.com", "bob@example.com", "zoë.müller@example.com", "etl-bot@example.com",
              "3f9c2b1a-77de-4c5b-9e0a-1b2c3d4e5f60"]
CONTEXTS = [None] * 6 + [{}, {"project": "rag", "end_user_to_charge": "u1"}, {"project": "search", "cost_center": "CC-1042"},
                         {"team": "équipe-data", "project": "rag", "a_b_test_group": "B"}]
USAGE_W = {"gpt4o": 30, "claude": 12, "llama": 22, "embed": 12, "fraud": 6, "instruct": 6, "llama8b": 10,
           "haiku": 10, "unknown1": 2, "unknown2": 2}
T0, T1 = us(2025, 3, 1), us(2025, 3, 11)


def rand_time(rng) -> int:
    return T0 + rng.randrange((T1 - T0) // 1000) * 1000


def usage_record(rng, ids, key, t, status=None, kind=None):
    status = status or pick(rng, {200: 86, 429: 7, 500: 4, 400: 3})
    kinds = {200: {"reported": 80, "chars_only": 8, "all_null": 4, "input_only": 4},
             429: {"zero": 5, "all_null": 4, "chars_only": 1}, 500: {"zero": 1, "all_null": 2},
             400: {"all_null": 2, "chars_only": 1}}[status]
    kind = kind or pick(rng, kinds)
    itok, otok = rng.randint(5, 4000), (0 if key == "embed" else rng.randint(1, 1500))
    ichr, ochr = itok * 4 + rng.randint(-3, 9), (otok * 4 + rng.randint(0, 9) if otok else 0)
    counts = {"reported": (itok, otok, ichr, ochr), "input_only": (itok, None, ichr, ochr),
              "zero": (0, 0, rng.choice([None, ichr]), None), "all_null": (None, None, None, None),
              "chars_only": (None, None, ichr, rng.choice([None, ochr]) if status == 200 else None)}[kind]
    return {"workspace_id": WORKSPACE, "account_id": ACCOUNT,
            "client_request_id": None if rng.random() < 0.2 else f"cli-{rng.getrandbits(32):08x}",
            "databricks_request_id": uid(rng), "requester": rng.choice(REQUESTERS), "status_code": status,
            "request_time": t, "input_token_count": counts[0], "output_token_count": counts[1],
            "input_character_count": counts[2], "output_character_count": counts[3],
            "usage_context": rng.choice(CONTEXTS),
            "request_streaming": None if key == "fraud" else (False if key == "embed" else rng.choice([True, False, False])),
            "served_entity_id": ids[key]}


def gen_usage(rng, ids):
    recs = [usage_record(rng, ids, pick(rng, USAGE_W), rand_time(rng)) for _ in range(306)]
    specials = [("gpt4o", us(2025, 3, 5, 12)), ("gpt4o", us(2025, 3, 5, 11, 59, 59, 999)),   # at / 1 ms before a change
                ("llama", us(2025, 3, 3, 8, 30)), ("llama", us(2025, 3, 7, 17, 59, 59, 999)),
                ("instruct", us(2025, 3, 9, 14)), ("instruct", us(2025, 3, 10, 8, 1, 2, 3)),  # after endpoint_delete_time
                ("fraud", us(2025, 3, 3, 23, 59, 59, 999)), ("fraud", us(2025, 3, 4))]      # 1 ms before / at creation
    recs += [usage_record(rng, ids, k, t, 200, "reported") for k, t in specials]
    recs += [usage_record(rng, ids, k, rand_time(rng), 200, kind) for k, kind in
             [("llama", "chars_only"), ("gpt4o", "all_null"), ("claude", "chars_only"), ("unknown1", "reported"),
              ("embed", "input_only"), ("haiku", "all_null")]]
    recs.sort(key=lambda r: (r["request_time"], r["databricks_request_id"]))
    return recs


def write_usage(recs, rng):
    with open(OUT / "endpoint_usage.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(EU_COLS)
        for r in recs:
            style = rng.choice(["space", "z", "+1", "-5"])
            cell = {"request_time": fmt_ms(r["request_time"], style),
                    "usage_context": None if r["usage_context"] is None else dumps(r["usage_context"], ascii_=rng.random() < 0.3),
                    "request_streaming": None if r["request_streaming"] is None else str(r["request_streaming"]).lower()}
            w.writerow([cell.get(c, r[c]) for c in EU_COLS])
    with open(OUT / "endpoint_usage.jsonl", "w", encoding="utf-8", newline="\n") as f:
        for r in recs:
            f.write(json.dumps(dict(r, request_time=fmt_ms(r["request_time"], "z")), ensure_ascii=False) + "\n")


def decode_usage_csv(r):
    out = dict(r)
    for c in ("status_code", "input_token_count", "output_token_count", "input_character_count", "output_character_count"):
        out[c] = None if r[c] is None else int(r[c])
    out["usage_context"] = None if r["usage_context"] is None else json.loads(r["usage_context"])
    out["request_streaming"] = None if r["request_streaming"] is None else {"true": True, "false": False}[r["request_streaming"]]
    return out


def normalise_usage(r, table):
    t = parse_ts(r["request_time"])
    ent = lookup(table, r["served_entity_id"], t)
    if ent is None:
        return {"quarantine": "unknown_entity"}
    ti, to, ci, co = (r[c] for c in ("input_token_count", "output_token_count", "input_character_count", "output_character_count"))
    if ti is not None or to is not None:
        tok = tokens({"input": ti or 0, "cache_read": 0, "cache_creation": 0, "output": to or 0, "reasoning": None}, "reported")
    elif ci is not None or co is not None:
        tok = estimate(ci or 0, co or 0)
    else:
        tok = tokens(None, "absent")
    ctx = r["usage_context"] or None
    return {"row": row(request_id=r["databricks_request_id"], client_request_id=r["client_request_id"], request_time_us=t,
                       **ent, served_entity_id=r["served_entity_id"], requester=r["requester"],
                       usage_context=ctx and dict(sorted(ctx.items())), status_code=r["status_code"],
                       execution_duration_ms=None, request_streaming=r["request_streaming"], is_fallback=False, attempt=None, **tok,
                       sampling_fraction=None, source_reported_cost=None, service_tier=None, requester_type=None,
                       has_request=False, has_response=False, source="databricks-usage")}


# ----------------------------------------------------------------------------- Databricks payload table
PL_COLS = ["databricks_request_id", "client_request_id", "request_date", "request_time", "status_code", "sampling_fraction",
           "execution_duration_ms", "request", "response", "served_entity_id", "logging_error_codes", "requester"]
PAYLOAD_W = {"gpt4o": 34, "claude": 14, "llama": 16, "embed": 10, "fraud": 5, "instruct": 8, "llama8b": 6,
             "haiku": 10, "unknown1": 2, "unknown2": 1}


def chat_request(rng, stream, anthropic=False):
    msgs = [] if anthropic else [{"role": "system", "content": SYSTEM}]
    if rng.random() < 0.35:   # content as an array of parts (a part without text counts 0)
        parts = [{"type": "text", "text": rng.choice(PROMPTS)}, {"type": "text", "text": rng.choice(PROMPTS)}]
        if rng.random() < 0.4:
            parts.append({"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}})
        msgs.append({"role": "user", "content": parts})
    else:
        msgs.append({"role": "user", "content": rng.choice(PROMPTS)})
    if not anthropic and rng.random() < 0.2:    # a tool-call turn: content null counts 0
        msgs += [{"role": "assistant", "content": None, "tool_calls": [{"id": "call_1", "type": "function",
                  "function": {"name": "lookup", "arguments": "{\"q\":\"東京\"}"}}]},
                 {"role": "tool", "tool_call_id": "call_1", "content": "{\"temp_c\": 18}"}]
    body = {"messages": msgs, "max_tokens": 512, "temperature": 0.2}
    if anthropic:
        body = {"model": "claude-3-5-sonnet-20241022", "system": SYSTEM, **body}  # system is NOT counted
    if stream:
        body["stream"] = True
        if not anthropic:
            body["stream_options"] = {"include_usage": True}
    return body


def payload_response(rng, key, status):
    """(request body, response value or SSE text or None, kind tag)."""
    if status == 429:
        return chat_request(rng, False), ERR_429, "error_429"
    if status in (500, 400):
        return chat_request(rng, False), ERR_500 if status == 500 else ERR_400, f"error_{status}"
    text = rng.choice(ANSWERS)
    p, c = rng.randint(20, 3000), rng.randint(1, 800)
    if key in ("claude", "haiku"):
        kind = pick(rng, {"an_msg": 5, "an_msg_cache": 4, "an_msg_cache_null": 2, "an_stream": 4, "an_stream_no_delta": 1,
                          "an_msg_no_usage": 1, "response_too_large": 1})
        cr, cw = rng.choice([(0, 1024), (2048, 0), (1536, 310)])
        req = chat_request(rng, kind.startswith("an_stream"), anthropic=True)
        if kind in ("an_msg", "an_msg_no_usage", "response_too_large"):   # estimates skip "system", count content[].text
            resp = an_msg(text, an_usage(p, c, fields="none"))
            return req, None if kind == "response_too_large" else resp if kind == "an_msg" else {k: v for k, v in resp.items() if k != "usage"}, kind
        if kind.startswith("an_msg_cache"):
            return req, an_msg(text, an_usage(p, c, cr, cw, "null" if kind.endswith("null") else "values")), kind
        return req, an_stream(text, an_usage(p, 1, cr, cw), c, delta=kind == "an_stream"), kind
    if key == "embed":
        inp = rng.choice(PROMPTS) if rng.random() < 0.5 else [rng.choice(PROMPTS), rng.choice(PROMPTS)]
        n = 1 if isinstance(inp, str) else 2
        resp = {"object": "list", "data": [{"object": "embedding", "index": i,
                "embedding": [round(rng.uniform(-1, 1), 4) for _ in range(4)]} for i in range(n)],
                "model": "text-embedding-3-small", "usage": {"prompt_tokens": p // 10 + 1, "total_tokens": p // 10 + 1}}
        if rng.random() < 0.15:  # an OpenAI-compatible server that returns no usage: input chars are estimated
            del resp["usage"]
            return {"input": inp, "model": "text-embedding-3-small"}, resp, "embeddings_no_usage"
        return {"input": inp, "model": "text-embedding-3-small"}, resp, "embeddings"
    if key == "instruct":
        prompt = rng.choice(PROMPTS) if rng.random() < 0.6 else [rng.choice(PROMPTS), rng.choice(PROMPTS)]
        kind = pick(rng, {"completion": 3, "completion_no_usage": 1})
        resp = {"id": "cmpl-9x", "object": "text_completion", "created": 1740823200, "model": "gpt-3.5-turbo-instruct",
                "choices": [{"text": text, "index": 0, "logprobs": None, "finish_reason": "length"}]}
        if kind == "completion":
            resp["usage"] = oa_usage(p, c, details="none")
        return {"prompt": prompt, "max_tokens": 256}, resp, kind
    if key == "fraud":
        return {"dataframe_records": [{"amount": 120.5, "country": "FR"}]}, {"predictions": [0.0132]}, "custom_no_usage"
    if key in ("llama", "llama8b"):
        kind = pick(rng, {"chat_no_details": 5, "stream_array": 2, "chat_no_usage": 1})
    else:
        kind = pick(rng, {"chat_details": 6, "chat_no_details": 2, "chat_details_null": 2, "chat_cached": 3,
                          "chat_reasoning": 2, "stream_array": 3, "stream_sse": 3, "stream_no_usage": 1,
                          "chat_no_usage": 1, "unparseable": 1, "response_too_large": 2})
    model = "meta-llama-3.3-70b-instruct-121024" if key.startswith("llama") else "gpt-4o-2024-08-06"
    req = chat_request(rng, kind.startswith("stream"))
    cached = 1024 + 128 * rng.randint(0, 8)
    u = {"chat_details": lambda: oa_usage(p, c), "chat_no_details": lambda: oa_usage(p, c, details="none"),
         "chat_details_null": lambda: oa_usage(p, c, details="null"),
         "chat_cached": lambda: oa_usage(p + cached, c, cached=cached),
         "chat_reasoning": lambda: oa_usage(p + 1152, c + 448, reasoning=448, cached=rng.choice([0, 1152])),
         "stream_array": lambda: oa_usage(p, c, details=rng.choice(["full", "none"])),
         "stream_sse": lambda: oa_usage(p + 1280, c, cached=rng.choice([0, 1280]))}
    if kind in ("stream_array", "stream_sse"):
        chunks = oa_stream(text, u[kind](), model)
        return req, (chunks if kind == "stream_array" else sse(chunks, ascii_=rng.random() < 0.5)), kind
    if kind == "stream_no_usage":
        return req, oa_stream(text, None, model, usage_field=False), kind
    if kind == "chat_no_usage":
        return req, oa_chat(text, None, model), kind
    if kind == "unparseable":  # a truncated body
        return req, dumps(oa_chat(text, oa_usage(p, c), model))[:57], kind
    if kind == "response_too_large":
        return req, None, kind
    return req, oa_chat(text, u[kind](), model), kind


def gen_payload(rng, ids):
    recs, tags = [], []
    times = [rand_time(rng) for _ in range(314)] + [us(2025, 3, 5, 12), us(2025, 3, 6, 9, 44, 59, 999), us(2025, 3, 6, 9, 45),
                                                    us(2025, 3, 1, 0, 0, 0, 1), us(2025, 3, 3, 12), us(2025, 3, 10, 23, 59, 59, 999)]
    keys = [pick(rng, PAYLOAD_W) for _ in range(314)] + ["gpt4o", "haiku", "haiku", "llama", "fraud", "claude"]
    for i, (t, key) in enumerate(zip(times, keys)):
        status = 200 if i >= 314 else pick(rng, {200: 88, 429: 6, 500: 4, 400: 2})
        req, resp, kind = payload_response(rng, key, status)
        resp_text = resp if isinstance(resp, str) or resp is None else dumps(resp, ascii_=rng.random() < 0.3)
        codes = ["MAX_RESPONSE_SIZE_EXCEEDED"] if kind == "response_too_large" else []
        req_text = dumps(req, ascii_=rng.random() < 0.3)
        if i == 100 or i == 230:   # a request over 1 MiB is not logged
            req_text, codes, kind = None, ["MAX_REQUEST_SIZE_EXCEEDED"], kind + "+request_too_large"
        recs.append({"databricks_request_id": uid(rng), "client_request_id": None if rng.random() < 0.3 else f"app-{i:04d}",
                     "request_date": fmt_ms(t, "z")[:10], "request_time": t, "status_code": status,
                     "sampling_fraction": 0.25 if rng.random() < 0.12 else 1.0,
                     "execution_duration_ms": rng.randint(2, 40) if status != 200 else rng.randint(150, 20000),
                     "request": req_text, "response": resp_text, "served_entity_id": ids[key], "logging_error_codes": codes,
                     "requester": None if rng.random() < 0.03 or i == 5 else rng.choice(REQUESTERS)})
        tags.append(kind)
    order = sorted(range(len(recs)), key=lambda i: (recs[i]["request_time"], recs[i]["databricks_request_id"]))
    return [recs[i] for i in order], [tags[i] for i in order]


def normalise_payload(r, table):
    t = parse_ts(r["request_time"])
    ent = lookup(table, r["served_entity_id"], t)
    if ent is None:
        return {"quarantine": "unknown_entity"}
    resp = parse_body(r["response"])
    b = usage_of(resp)
    if b is not None:
        tok = tokens(b, "reported")
    elif 200 <= r["status_code"] < 300:
        tok = estimate(request_chars(parse_body(r["request"])), response_chars(resp))
    else:
        tok = tokens(None, "absent")
    return {"row": row(request_id=r["databricks_request_id"], client_request_id=r["client_request_id"], request_time_us=t,
                       **ent, served_entity_id=r["served_entity_id"], requester=r["requester"] or "unknown",
                       usage_context=None, status_code=r["status_code"], execution_duration_ms=r["execution_duration_ms"],
                       request_streaming=None, is_fallback=False, attempt=None, **tok, sampling_fraction=r["sampling_fraction"],
                       source_reported_cost=None, service_tier=None, requester_type=None, has_request=isinstance(r["request"], str),
                       has_response=isinstance(r["response"], str), source="databricks-payload")}


# ----------------------------------------------------------------------------- LiteLLM_SpendLogs
LL_COLS = ["request_id", "call_type", "api_key", "spend", "total_tokens", "prompt_tokens", "completion_tokens", "startTime",
           "endTime", "completionStartTime", "model", "model_id", "model_group", "custom_llm_provider", "api_base", "user",
           "metadata", "cache_hit", "cache_key", "request_tags", "team_id", "end_user", "requester_ip_address", "messages",
           "response", "session_id", "status"]
LL_MODELS = {  # key: model, model_group, custom_llm_provider, api_base, call_type, usage style, $/input token, $/output token
    "gpt-4o": ("gpt-4o-2024-08-06", "gpt-4o", "openai", "https://api.openai.com/v1", "acompletion", "openai", 2.5e-06, 1e-05),
    "mini": ("gpt-4o-mini", "gpt-4o-mini", "openai", "https://api.openai.com/v1", "completion", "openai", 1.5e-07, 6e-07),
    "azure": ("azure/gpt-4o-eu", "gpt-4o", "azure", "https://contoso-eu.openai.azure.com/", "acompletion", "openai", 2.5e-06, 1e-05),
    "o3": ("o3-mini", "reasoning", "openai", "https://api.openai.com/v1", "acompletion", "reasoning", 1.1e-06, 4.4e-06),
    "sonnet": ("claude-3-5-sonnet-20241022", "claude-sonnet", "anthropic", "https://api.anthropic.com/v1/messages", "acompletion", "anthropic", 3e-06, 1.5e-05),
    "haiku": ("bedrock/anthropic.claude-3-haiku-20240307-v1:0", "claude-haiku", "bedrock", "https://bedrock-runtime.us-east-1.amazonaws.com", "completion", "anthropic", 2.5e-07, 1.25e-06),
    "embed": ("text-embedding-3-small", "embeddings", "openai", "https://api.openai.com/v1", "aembedding", "embedding", 2e-08, 0.0),
    "gemini": ("gemini-1.5-pro", "gemini", "vertex_ai", "https://us-central1-aiplatform.googleapis.com", "acompletion", "openai", 1.25e-06, 5e-06),
}
LL_W = {"gpt-4o": 25, "mini": 15, "azure": 8, "o3": 8, "sonnet": 18, "haiku": 10, "embed": 10, "gemini": 6}
TEAMS = ["team-search", "team-rag", "équipe-finance", None]
ALIASES = ["search-prod-key", "rag-batch", None, "finance-notebooks"]
TAGS = [[], [], ["prod"], ["prod", "rag"], ["env:staging", "app:chatbot"], ["batch"]]
ERRORS = [("429", "RateLimitError", "litellm.RateLimitError: RateLimitError: OpenAIException - Rate limit reached"),
          ("500", "InternalServerError", "litellm.InternalServerError: AnthropicException - Overloaded"),
          ("400", "BadRequestError", "litellm.BadRequestError: context_length_exceeded"),
          ("408", "Timeout", "litellm.Timeout: Request timed out after 600.0 seconds")]


def ll_time(t_us, style) -> str:
    d = utc(t_us)
    if style == "pg":    # a Postgres export: no zone, trailing zeros of the fraction dropped
        frac = f"{d.microsecond:06d}".rstrip("0")
        return d.strftime("%Y-%m-%d %H:%M:%S") + ("." + frac if frac else "")
    iso = d.isoformat()  # Python drops the fraction when it is 0
    return iso.replace("+00:00", "Z") if style == "z" else iso


def ll_usage_object(style, p, c, cr, cw, reasoning, details_null=False):
    if style == "embedding":
        return {"prompt_tokens": p, "completion_tokens": 0, "total_tokens": p, "prompt_tokens_details": None}
    u = {"completion_tokens": c, "prompt_tokens": p, "total_tokens": p + c,
         "completion_tokens_details": None if style == "anthropic" else
         {"accepted_prediction_tokens": 0, "audio_tokens": 0, "reasoning_tokens": reasoning, "rejected_prediction_tokens": 0},
         "prompt_tokens_details": None if details_null else {"audio_tokens": None if style == "anthropic" else 0, "cached_tokens": cr}}
    if style == "anthropic":
        u.update(cache_creation_input_tokens=cw, cache_read_input_tokens=cr)
    return u


def litellm_record(rng, i, special=None):
    key = pick(rng, LL_W) if special not in ("inconsistent", "precedence", "negative") else \
        {"inconsistent": "sonnet", "precedence": "haiku", "negative": "gpt-4o"}[special]
    model, group, prov, base, call_type, style, pin, pout = LL_MODELS[key]
    ok = not (special or "").startswith("fail") and (special is not None or rng.random() < 0.88)
    start = rand_time(rng) + rng.randrange(1000)
    if i % 97 == 3:
        start -= start % 1_000_000          # a whole second: no fraction at all
    elif i % 89 == 5:
        start -= start % 10_000             # trailing zeros in the fraction
    end = start + rng.randint(80_000, 30_000_000) + rng.randrange(1000)
    team, alias, user = rng.choice(TEAMS), rng.choice(ALIASES), rng.choice(["alice@example.com", "svc-etl", "", "bob@example.com"])
    end_user = rng.choice(["", "", "customer-42", "cust_東京_7"])
    p = c = cr = cw = 0
    reasoning, uo, md_extra = None, None, {}
    if ok:
        p, c = rng.randint(10, 4000), (0 if style == "embedding" else rng.randint(1, 1200))
        if style == "anthropic":
            cr, cw = rng.choice([(0, 0), (2048, 0), (0, 1536), (4096, 320)])
            p += cr + cw
        elif style != "embedding" and rng.random() < 0.3:
            cr = 1024 + 128 * rng.randint(0, 10)
            p += cr
        reasoning = (rng.choice([256, 1024, 0]) if style == "reasoning" else 0) if style != "anthropic" else None
        c += reasoning or 0
        if special == "inconsistent":
            cr, cw, p = 2048, 512, 900         # LiteLLM-style prompt_tokens that left the cache out
        if special == "negative":
            c = -rng.choice([1, 3, 17])
        uo = ll_usage_object(style, p, c, cr, cw, reasoning, details_null=style == "anthropic" and rng.random() < 0.4)
        if special == "precedence":            # cached_tokens 0 present and non-null: it wins over cache_read_input_tokens
            p, cr, cw = 700, 0, 0
            uo = ll_usage_object("anthropic", p, c, 0, 0, None)
            uo["cache_read_input_tokens"] = 512
        spend = p * pin + c * pout if special != "negative" else 0.0
    else:
        code, cls, msg = rng.choice(ERRORS)
        code = {"fail_int": 401, "fail_999": "999", "fail_none": "None"}.get(special, code)  # 401 as a JSON number
        md_extra["error_information"] = {"error_code": code, "error_class": cls, "error_message": msg, "llm_provider": prov}
        if special == "fail_noinfo":
            md_extra = {}                       # no error_information at all -> 500
        spend = 0.0
        if rng.random() < 0.35:
            p = c = None                        # no counts at all -> absent
    spend = {"tie1": 2.5e-10, "tie2": 1.5e-10, "tie3": 0.00012345665, "tie4": 5e-11}.get(special, spend)
    metadata = {"user_api_key": hashlib.sha256(f"sk-{alias}".encode()).hexdigest(), "user_api_key_alias": alias,
                "user_api_key_team_id": team, "user_api_key_user_id": user or None, "spend_logs_metadata": None,
                "requester_ip_address": "10.0.3.17", "applied_guardrails": [], "status": "success" if ok else "failure",
                "usage_object": uo, **md_extra}
    text = rng.choice(PROMPTS)
    if style == "embedding":
        messages = [text, rng.choice(PROMPTS)]
        response = {"object": "list", "data": [], "model": model, "usage": uo}   # LiteLLM drops the vectors
    else:
        messages = [{"role": "user", "content": text}]
        response = {"id": f"chatcmpl-{i:05d}", "object": "chat.completion", "model": model,
                    "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": rng.choice(ANSWERS)}}],
                    "usage": uo} if ok else {}
    stored = rng.random()
    if stored < 0.25:
        messages, response = {}, {}             # store_prompts_in_spend_logs off
    elif stored < 0.28:
        messages = []
    if i == 42:
        messages = ""
    rec = {"request_id": f"chatcmpl-{uid(rng)}" if style != "anthropic" else f"msg_{uid(rng).replace('-', '')[:24]}",
           "call_type": call_type, "api_key": metadata["user_api_key"], "spend": spend,
           "total_tokens": None if p is None else p + c, "prompt_tokens": p, "completion_tokens": c,
           "startTime": start, "endTime": end, "completionStartTime": start + (end - start) // 3 if call_type == "acompletion" else end,
           "model": model, "model_id": "" if rng.random() < 0.08 else hashlib.sha256(model.encode()).hexdigest(),
           "model_group": "" if rng.random() < 0.1 else group, "custom_llm_provider": "" if rng.random() < 0.05 else prov,
           "api_base": base, "user": user, "metadata": metadata, "cache_hit": "False", "cache_key": "Cache OFF",
           "request_tags": rng.choice(TAGS), "team_id": team, "end_user": end_user, "requester_ip_address": "10.0.3.17",
           "messages": messages, "response": response, "session_id": uid(rng), "status": "success" if ok else "failure"}
    return rec


def gen_litellm(rng):
    specials = {17: "inconsistent", 140: "inconsistent", 263: "inconsistent", 55: "negative", 201: "negative",
                300: "negative", 88: "precedence", 9: "tie1", 120: "tie2", 180: "tie3", 240: "tie4",
                77: "bad_ts", 222: "bad_ts", 31: "fail_int", 131: "fail_999", 231: "fail_none", 281: "fail_noinfo"}
    recs = []
    for i in range(320):
        r = litellm_record(rng, i, specials.get(i) if specials.get(i) != "bad_ts" else None)
        if specials.get(i) == "bad_ts":
            r["startTime"] = "2025-13-03T10:00:00Z" if i == 77 else "03/04/2025 10:00:00"
        recs.append(r)
    return recs


def write_litellm(recs, rng):
    def t(v, style):
        return v if isinstance(v, str) else ll_time(v, style)
    with open(OUT / "litellm.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(LL_COLS)
        for r in recs:
            style = rng.choice(["pg", "pg", "iso"])
            cell = {c: t(r[c], style) for c in ("startTime", "endTime", "completionStartTime")}
            cell.update({c: json.dumps(r[c], ensure_ascii=False) for c in ("metadata", "request_tags", "messages", "response")})
            cell["spend"] = repr(r["spend"])    # what Postgres writes for a float8: shortest round-trip text
            w.writerow([cell.get(c, r[c]) for c in LL_COLS])
    out = []
    for r in recs:
        style = rng.choice(["z", "iso"])
        out.append({c: (t(r[c], style) if c in ("startTime", "endTime", "completionStartTime") else r[c]) for c in LL_COLS})
    (OUT / "litellm.json").write_text(json.dumps(out, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def decode_litellm_csv(r):
    out = dict(r)
    for c in ("total_tokens", "prompt_tokens", "completion_tokens"):
        out[c] = None if r[c] is None else int(r[c])
    for c in ("metadata", "request_tags", "messages", "response"):
        out[c] = None if r[c] is None else json.loads(r[c])
    out["spend"] = None if r["spend"] is None else Decimal(r["spend"])
    return out


def normalise_litellm(r):
    empty = lambda v: v is None or v == ""  # noqa: E731
    t = parse_ts(r["startTime"])
    if t is None:
        return {"quarantine": "bad_timestamp"}
    md = r["metadata"] if isinstance(r["metadata"], dict) else {}
    uo = md.get("usage_object") if isinstance(md.get("usage_object"), dict) else {}
    ptd, ctd = uo.get("prompt_tokens_details"), uo.get("completion_tokens_details")
    cached = ptd.get("cached_tokens") if isinstance(ptd, dict) else None
    cr = cached if cached is not None else (uo.get("cache_read_input_tokens") or 0)
    cw = uo.get("cache_creation_input_tokens") or 0
    reasoning = ctd.get("reasoning_tokens") if isinstance(ctd, dict) else None
    p, c = r["prompt_tokens"], r["completion_tokens"]
    if any(v is not None and v < 0 for v in (p, c, cr, cw, reasoning)):
        return {"quarantine": "negative_value"}
    if p is None and c is None:
        tok = tokens(None, "absent")
    else:
        if (p or 0) - cr - cw < 0:
            return {"quarantine": "inconsistent_tokens"}
        tok = tokens({"input": (p or 0) - cr - cw, "cache_read": cr, "cache_creation": cw, "output": c or 0,
                      "reasoning": reasoning}, "reported")
    status = 200
    if r["status"] != "success":
        code = (md.get("error_information") or {}).get("error_code")
        n = int(code) if isinstance(code, int) and not isinstance(code, bool) else \
            int(code) if isinstance(code, str) and re.fullmatch("[0-9]+", code) else None
        status = n if n is not None and 100 <= n <= 599 else 500
    ctx = {}
    if not empty(r["team_id"]):
        ctx.update(team_id=r["team_id"], group=r["team_id"])
    for k, v in (("end_user", r["end_user"]), ("key_alias", md.get("user_api_key_alias")),
                 ("request_tags", ",".join(r["request_tags"] or [])), ("call_type", r["call_type"])):
        if not empty(v):
            ctx[k] = v
    e = parse_ts(r["endTime"])
    kept = lambda v: v not in (None, {}, [], "")  # noqa: E731
    cost = None if r["spend"] is None else f"{Decimal(r['spend']).quantize(Decimal('1e-10'), rounding=ROUND_HALF_EVEN):f}"
    return {"row": row(request_id=r["request_id"], client_request_id=None, request_time_us=t,
                       endpoint_name=r["model"] if empty(r["model_group"]) else r["model_group"],
                       served_entity_name=r["model"], served_entity_id=None if empty(r["model_id"]) else r["model_id"],
                       entity_type=None, provider=None if empty(r["custom_llm_provider"]) else r["custom_llm_provider"],
                       requester=r["user"] if not empty(r["user"]) else r["end_user"] if not empty(r["end_user"]) else "unknown",
                       usage_context=dict(sorted(ctx.items())) or None, status_code=status,
                       execution_duration_ms=None if e is None else (e - t) // 1000, request_streaming=None,
                       is_fallback=False, attempt=None, **tok, sampling_fraction=None, source_reported_cost=cost,
                       service_tier=None, requester_type=None,
                       has_request=kept(r["messages"]), has_response=kept(r["response"]), source="litellm")}


# ----------------------------------------------------------------------------- Databricks Unity AI Gateway
AIGW_COLS = ["event_time", "account_id", "workspace_id", "request_id", "endpoint_id", "endpoint_name", "endpoint_metadata",
             "endpoint_tags", "destination_type", "destination_name", "destination_id", "destination_model", "requester",
             "requester_type", "ip_address", "url", "user_agent", "api_type", "request_tags", "input_tokens", "output_tokens",
             "total_tokens", "token_details", "latency_ms", "time_to_first_byte_ms", "response_content_type", "status_code",
             "routing_information", "invocation_id", "invocation_metadata", "service_type", "service_id", "service_name",
             "service_tags", "mcp_metadata", "schema_version"]
AIGW_JSON_COLS = ("endpoint_metadata", "endpoint_tags", "request_tags", "token_details", "routing_information",
                  "invocation_metadata", "service_tags", "mcp_metadata")
AIGW_INT_COLS = ("input_tokens", "output_tokens", "total_tokens", "latency_ms", "time_to_first_byte_ms", "status_code")
AIGW_PL_COLS = ["event_time", "request_id", "invocation_id", "request_tags", "status_code", "sampling_fraction", "latency_ms",
                "request", "response", "destination_type", "destination_name", "destination_model", "logging_error_codes",
                "requester", "time_to_first_byte_ms", "schema_version", "url", "api_type"]
AIGW_HOST = "https://dbc-7f3a9c21-5b8e.cloud.databricks.com"
AIGW_DESTS = {  # destination_name: destination_type, destination_model, legacy served_entities key, token family
    "claude_primary": ("DESTINATION_TYPE_EXTERNAL_MODEL", "claude-sonnet-4-5", "claude", "claude"),
    "claude_fm": ("DESTINATION_TYPE_FOUNDATION_MODEL", "databricks-claude-sonnet-4-5", "claude", "claude"),
    "gpt4o_primary": ("DESTINATION_TYPE_EXTERNAL_MODEL", "gpt-4o", "gpt4o", "gpt"),
    "gpt4o_fallback": ("DESTINATION_TYPE_EXTERNAL_MODEL", "gpt-4o", "gpt4o", "gpt"),
    "o3_mini": ("DESTINATION_TYPE_EXTERNAL_MODEL", "o3-mini", "gpt4o", "reasoning"),
    "llama_fm": ("DESTINATION_TYPE_FOUNDATION_MODEL", "databricks-meta-llama-3-3-70b-instruct", "llama", "llama"),
    "gte_large": ("DESTINATION_TYPE_FOUNDATION_MODEL", "databricks-gte-large-en", "embed", "embed"),
}
AIGW_ENDPOINTS = {  # endpoint_name: api types, destinations (weights), fallback chain, provider-native path (+ its api type)
    "main.ai_services.prod_claude": ({"ANTHROPIC_MESSAGES": 3, "OPENAI_CHAT_COMPLETIONS": 2}, {"claude_primary": 8, "claude_fm": 1},
                                     ["claude_primary", "claude_fm"], ("anthropic/v1/messages", "ANTHROPIC_MESSAGES")),
    "main.ai_services.chat": ({"OPENAI_CHAT_COMPLETIONS": 1}, {"gpt4o_primary": 8, "gpt4o_fallback": 1, "o3_mini": 3, "llama_fm": 4},
                              ["gpt4o_primary", "gpt4o_fallback", "llama_fm"], ("openai/v1/chat/completions", "OPENAI_CHAT_COMPLETIONS")),
    "main.ai_services.embeddings": ({"OPENAI_EMBEDDINGS": 1}, {"gte_large": 1}, None, None),
}
AIGW_EP_W = {"main.ai_services.prod_claude": 4, "main.ai_services.chat": 5, "main.ai_services.embeddings": 2}
AIGW_SPS = ["8a3f2c1d-6b7e-4f90-a1b2-c3d4e5f60718", "0e9d8c7b-6a5f-4e3d-9c2b-1a0f9e8d7c6b", REQUESTERS[4]]
AIGW_TAGS = [None] * 4 + [{}] * 2 + [{"cost_center": "CC-1042", "project": "rag"}, {"project": "support-bot", "cost_center": "CC-1042"},
                                     {"project": "search"}, {"team": "équipe-data", "cost_center": "CC-2077"}]
AIGW_AGENTS = ["OpenAI/Python 1.54.3", "Anthropic/Python 0.40.0", "databricks-sdk-py/0.38.0", "mlflow/2.19.0", "curl/8.5.0",
               "langchain-databricks/0.1.1"]


def aigw_setup(rng) -> dict:
    """Per-endpoint and per-destination constants (ids, metadata, tags)."""
    gw = {"dest_id": {d: uid(rng) for d in AIGW_DESTS}, "ep": {}}
    for k, ep in enumerate(AIGW_ENDPOINTS):
        created = us(2025, 1, 20 + k, 10, 15)
        short = ep.rsplit(".", 1)[1]
        gw["ep"][ep] = {"endpoint_id": f"{rng.getrandbits(128):032x}",
                        "endpoint_metadata": {"creator": "platform-team@example.com", "creation_time": fmt_ms(created, "z"),
                                              "last_updated_time": fmt_ms(created + 86_400_000_000 * (9 + 3 * k), "z"),
                                              "destinations": [{"name": d, "type": AIGW_DESTS[d][0], "model": AIGW_DESTS[d][1]}
                                                               for d in AIGW_ENDPOINTS[ep][1]],
                                              "inference_table": f"main.ai_services.{short}_payload"},
                        "endpoint_tags": {"team": "ml-platform", "env": "prod"} if k != 2 else {"team": "search", "env": "prod", "tier": "gold"}}
    return gw


def aigw_record(rng, gw, t, status=None, n=None, ep=None):
    """One system.ai_gateway.usage row (typed: event_time in microseconds, structs as dicts)."""
    ep = ep or pick(rng, AIGW_EP_W)
    apis, dests, chain, native = AIGW_ENDPOINTS[ep]
    status = status or pick(rng, {200: 88, 429: 6, 500: 4, 400: 2})
    if n is None:
        n = pick(rng, {2: 3, 3: 1}) if chain and status == 200 and rng.random() < 0.09 else 1
    n = min(n, len(chain)) if chain else 1
    dest = chain[n - 1] if n > 1 else pick(rng, dests)
    dtype, model, _, fam = AIGW_DESTS[dest]
    if "FOUNDATION" in dtype and rng.random() < 0.3:
        dtype = "FOUNDATION_MODEL"
    api = pick(rng, apis) if dest != "llama_fm" else "OPENAI_CHAT_COMPLETIONS"
    url = f"{AIGW_HOST}/ai-gateway/model-services/{ep}/invocations"
    if native and api == native[1] and rng.random() < 0.35:
        url = f"{AIGW_HOST}/ai-gateway/{native[0]}"
    if rng.random() < 0.02:
        url = None
    stream = api != "OPENAI_EMBEDDINGS" and rng.random() < 0.35
    i = o = r = td = None
    if status != 200:
        if rng.random() < 0.7:
            i = o = 0
    elif fam == "embed":
        i, o = rng.randint(3, 600), 0
        if rng.random() < 0.4:
            td = {"cache_read_input_tokens": None, "cache_creation_input_tokens": None, "output_reasoning_tokens": None}
    else:
        u, o, cr, cw = rng.randint(20, 4000), rng.randint(1, 1500), 0, 0
        if fam == "claude":
            cr, cw = rng.choice([0, 0, 0, 2048, 4096, 12288]), rng.choice([0, 0, 0, 1024, 310])
            r = rng.randint(0, o) if rng.random() < 0.15 else None   # extended thinking (part of output)
        elif fam in ("gpt", "reasoning"):
            cr = 0 if rng.random() < 0.65 else 1024 + 128 * rng.randint(0, 10)
            if fam == "reasoning":
                o = rng.randint(200, 3000)
                r = rng.randint(64, o)
            else:
                r = rng.choice([0, None])
        i = u + cr + cw
        if fam == "llama":
            td = None if rng.random() < 0.7 else {"cache_read_input_tokens": 0, "cache_creation_input_tokens": 0, "output_reasoning_tokens": None}
        elif cr or cw or r or rng.random() < 0.85:
            td = {"cache_read_input_tokens": cr, "cache_creation_input_tokens": cw if fam == "claude" else rng.choice([0, None]),
                  "output_reasoning_tokens": r}
    if status == 200:
        lat = rng.randint(20, 400) if fam == "embed" else rng.randint(150, 20000)
        ctype = rng.choice(["text/event-stream", "text/event-stream; charset=utf-8"]) if stream else "application/json"
        if rng.random() < 0.03:
            ctype = None
        ttfb = rng.randint(80, min(lat, 3000)) if stream else lat
    else:
        lat, ctype, ttfb = rng.randint(2, 400), rng.choice(["application/json", None]), None
    if n > 1:
        atts = [{"action": "PRIMARY" if k == 0 else "FALLBACK", "destination": d, "status_code": rng.choice([429, 503]),
                 "latency_ms": rng.randint(15, 2500)} for k, d in enumerate(chain[:n - 1])]
        atts.append({"action": "FALLBACK", "destination": dest, "status_code": status, "latency_ms": lat})
        routing = {"attempts": atts}
        lat = sum(a["latency_ms"] for a in atts) + rng.randint(1, 30)
        ttfb = ttfb and ttfb + lat - atts[-1]["latency_ms"]
    else:
        x = rng.random()
        routing = None if x < 0.07 else {"attempts": []} if x < 0.09 else {"attempts": None} if x < 0.1 else \
            {"attempts": [{"action": "PRIMARY", "destination": dest, "status_code": status, "latency_ms": lat}]}
    x = rng.random()
    requester, rtype = (None, None) if x < 0.03 else (rng.choice(AIGW_SPS), "SERVICE_PRINCIPAL") if x < 0.25 else \
        (rng.choice(REQUESTERS[:4]), "USER")
    inv = None if rng.random() < 0.2 else {"source": pick(rng, {"API": 6, "PLAYGROUND": 1, "AI_QUERY": 2}),
                                           "service_tier": pick(rng, {None: 3, "default": 4, "priority": 1, "flex": 1, "batch": 1})}
    e = gw["ep"][ep]
    return {"event_time": t, "account_id": ACCOUNT, "workspace_id": WORKSPACE, "request_id": uid(rng),
            "endpoint_id": e["endpoint_id"], "endpoint_name": ep, "endpoint_metadata": e["endpoint_metadata"],
            "endpoint_tags": e["endpoint_tags"], "destination_type": dtype, "destination_name": dest,
            "destination_id": gw["dest_id"][dest], "destination_model": model, "requester": requester, "requester_type": rtype,
            "ip_address": f"10.12.{rng.randint(0, 40)}.{rng.randint(2, 254)}", "url": url, "user_agent": rng.choice(AIGW_AGENTS),
            "api_type": api, "request_tags": rng.choice(AIGW_TAGS), "input_tokens": i, "output_tokens": o,
            "total_tokens": None if i is None and o is None else (i or 0) + (o or 0), "token_details": td, "latency_ms": lat,
            "time_to_first_byte_ms": ttfb, "response_content_type": ctype, "status_code": status, "routing_information": routing,
            "invocation_id": uid(rng), "invocation_metadata": inv, "service_type": "MODEL_SERVICE", "service_id": e["endpoint_id"],
            "service_name": ep, "service_tags": e["endpoint_tags"],
            "mcp_metadata": {"json_rpc_method": None, "tool_name": None, "server_type": None, "client_name": None} if rng.random() < 0.05 else None,
            "schema_version": "1"}


def aigw_mcp(rng, gw, t, method):
    """An MCP call through the gateway: no endpoint, no model, no tokens."""
    svc = rng.choice(["main.ai_services.github_mcp", "main.ai_services.uc_functions_mcp"])
    return {c: None for c in AIGW_COLS} | {
        "event_time": t, "account_id": ACCOUNT, "workspace_id": WORKSPACE, "request_id": uid(rng),
        "requester": rng.choice(REQUESTERS[:4]), "requester_type": "USER", "ip_address": f"10.12.{rng.randint(0, 40)}.{rng.randint(2, 254)}",
        "url": f"{AIGW_HOST}/ai-gateway/mcp-services/{svc}/mcp", "user_agent": rng.choice(["claude-code/1.0.61", "Cursor/0.48.2"]),
        "api_type": "MCP", "request_tags": {}, "latency_ms": rng.randint(5, 900), "response_content_type": "application/json",
        "status_code": 200, "invocation_id": uid(rng), "service_type": "MCP_SERVICE", "service_id": hashlib.sha256(svc.encode()).hexdigest()[:32],
        "service_name": svc, "service_tags": {"owner": "devex"},
        "mcp_metadata": {"json_rpc_method": method, "tool_name": "search_issues" if method == "tools/call" else None,
                         "server_type": "MANAGED" if "uc_functions" in svc else "EXTERNAL",
                         "client_name": rng.choice(["claude-code", "cursor"])},
        "schema_version": "1"}


def gen_aigw(rng, gw):
    """(records in event_time order, a tag per record: 'normal', 'mcp:<method>' or the one fault it carries)."""
    recs = [(aigw_record(rng, gw, rand_time(rng)), "normal") for _ in range(330)]
    recs += [(aigw_mcp(rng, gw, rand_time(rng), m), "mcp:" + m)
             for m in ("initialize", "initialize", "tools/list", "tools/list", "tools/call", "tools/call", "tools/call")]
    def special(tag, ep, status=200):
        r = aigw_record(rng, gw, rand_time(rng), status, 1, ep)
        if tag == "cache_read_gt_input":
            r["token_details"] = {"cache_read_input_tokens": r["input_tokens"] + 512, "cache_creation_input_tokens": 0,
                                  "output_reasoning_tokens": None}
        elif tag == "negative_output":
            r["output_tokens"] = -3
            r["total_tokens"] = r["input_tokens"] - 3
            r["token_details"] = None
        elif tag == "bad_event_time":
            r["event_time"] = "2025-13-01 00:00:00"
        elif tag == "missing_request_id":
            r["request_id"] = None
        elif tag in ("2xx_tokens_null", "429_tokens_null"):
            r.update(input_tokens=None, output_tokens=None, total_tokens=None, token_details=None)
        elif tag == "endpoint_name_null":
            r["endpoint_name"] = None
        elif tag == "destination_name_null":
            r["destination_name"] = None
            r["routing_information"] = None
        elif tag == "destination_type_null":
            r["destination_type"] = None
        return r, tag
    recs += [special(*a) for a in [("cache_read_gt_input", "main.ai_services.prod_claude"), ("negative_output", "main.ai_services.chat"),
                                   ("bad_event_time", "main.ai_services.chat"), ("missing_request_id", "main.ai_services.prod_claude"),
                                   ("2xx_tokens_null", "main.ai_services.chat"), ("429_tokens_null", "main.ai_services.chat", 429),
                                   ("endpoint_name_null", "main.ai_services.embeddings"), ("destination_name_null", "main.ai_services.chat"),
                                   ("destination_type_null", "main.ai_services.prod_claude"), ("destination_type_null", "main.ai_services.chat")]]
    # the bad event_time (a drawn time replaced by text) sorts as 2025-03-05 00:00 UTC
    order = sorted(range(len(recs)), key=lambda k: (recs[k][0]["event_time"] if isinstance(recs[k][0]["event_time"], int) else T0 + 4 * 86_400_000_000,
                                                   recs[k][0]["request_id"] or ""))
    return [recs[k][0] for k in order], [recs[k][1] for k in order]


def write_aigw(recs, rng):
    styles = []
    with open(OUT / "ai_gateway_usage.jsonl", "w", encoding="utf-8", newline="\n") as f:
        for r in recs:
            style = "+1" if rng.random() < 0.15 else "z"
            styles.append("jsonl " + style)
            t = r["event_time"] if isinstance(r["event_time"], str) else fmt_ms(r["event_time"], style)
            f.write(json.dumps({c: t if c == "event_time" else r[c] for c in AIGW_COLS}, ensure_ascii=False) + "\n")
    with open(OUT / "ai_gateway_usage.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(AIGW_COLS)
        for r in recs:
            style = "space" if rng.random() < 0.6 else "z"
            styles.append("csv " + style)
            cell = {c: None if r[c] is None else dumps(r[c], ascii_=rng.random() < 0.3) for c in AIGW_JSON_COLS}
            cell["event_time"] = r["event_time"] if isinstance(r["event_time"], str) else fmt_ms(r["event_time"], style)
            w.writerow([cell.get(c, r[c]) for c in AIGW_COLS])
    return styles


def decode_aigw_csv(r):
    out = dict(r)
    for c in AIGW_INT_COLS:
        out[c] = None if r[c] is None else int(r[c])
    for c in AIGW_JSON_COLS:
        out[c] = None if r[c] is None else json.loads(r[c])
    return out


def aigw_entity(dtype, url):
    """(entity_type, provider) of a destination_type and the request url."""
    et = None if dtype is None else dtype.upper().removeprefix("DESTINATION_TYPE_")
    if et == "FOUNDATION_MODEL":
        return et, "databricks"
    if not isinstance(url, str) or "/ai-gateway/" not in url:
        return et, None
    seg = url.split("/ai-gateway/", 1)[1].split("/", 1)[0].lower()
    return et, None if seg in ("model-services", "mcp-services", "") else seg


def tags_context(tags):
    return dict(sorted(tags.items())) if tags else None


def normalise_aigw(r) -> dict:
    mcp = r["mcp_metadata"]
    if isinstance(mcp, dict) and mcp.get("json_rpc_method") is not None:
        return {"quarantine": "not_model_traffic"}
    t = parse_ts(r["event_time"])
    if t is None:
        return {"quarantine": "bad_timestamp"}
    ep = r["endpoint_name"] if r["endpoint_name"] is not None else r["service_name"]
    sen = r["destination_name"] if r["destination_name"] is not None else r["destination_model"]
    if r["request_id"] is None or ep is None or sen is None:
        return {"quarantine": "missing_field"}
    et, prov = aigw_entity(r["destination_type"], r["url"])
    td = r["token_details"] or {}
    i, o = r["input_tokens"], r["output_tokens"]
    cr, cw, rr = (td.get(k) for k in ("cache_read_input_tokens", "cache_creation_input_tokens", "output_reasoning_tokens"))
    if any(v is not None and v < 0 for v in (i, o, cr, cw, rr)):
        return {"quarantine": "negative_value"}
    if i is None and o is None:
        if (cr or 0) > 0 or (cw or 0) > 0:
            return {"quarantine": "inconsistent_tokens"}
        tok = tokens(None, "absent")
    else:
        b = {"input": (i or 0) - (cr or 0) - (cw or 0), "cache_read": cr or 0, "cache_creation": cw or 0, "output": o or 0, "reasoning": rr}
        if b["input"] < 0 or (rr is not None and rr > b["output"]):
            return {"quarantine": "inconsistent_tokens"}
        tok = tokens(b, "reported")
    rtype = r["requester_type"]
    inv = r["invocation_metadata"] or {}
    tier = inv.get("service_tier")
    tier = None if tier is None else {"default": "standard"}.get(tier.lower(), tier.lower())
    ctype = r["response_content_type"]
    atts = (r["routing_information"] or {}).get("attempts") or []
    base = dict(request_id=r["request_id"], client_request_id=None, request_time_us=t, endpoint_name=ep, served_entity_name=sen,
                served_entity_id=r["destination_id"], entity_type=et, provider=prov,
                requester=r["requester"] or "unknown", usage_context=tags_context(r["request_tags"]), status_code=r["status_code"],
                execution_duration_ms=r["latency_ms"], request_streaming=None if ctype is None else ctype.startswith("text/event-stream"),
                is_fallback=len(atts) >= 2, attempt=len(atts) or None, **tok, sampling_fraction=None, source_reported_cost=None,
                service_tier=tier, requester_type=None if rtype is None else {"USER": "user", "SERVICE_PRINCIPAL": "service_principal"}.get(rtype, rtype.lower()),
                has_request=False, has_response=False, source="databricks-ai-gateway")
    if len(atts) < 2:
        return {"row": row(**base)}
    failed = []
    for k, a in enumerate(atts[:-1], 1):
        same = a["destination"] == sen
        failed.append(row(**(base | tokens(None, "absent") | dict(
            request_id=f"{r['request_id']}#attempt-{k}", served_entity_name=a["destination"], status_code=a["status_code"],
            execution_duration_ms=a["latency_ms"], attempt=k, is_fallback=False,
            served_entity_id=base["served_entity_id"] if same else None, entity_type=et if same else None, provider=prov if same else None))))
    return {"rows": failed + [row(**base)]}


def gen_aigw_payload(rng, gw, usage, results):
    """~320 rows of the AI Gateway payload table; about a third are requests of ai_gateway_usage (same request_id,
    event_time, status_code). Returns (rows in event_time order, response kinds, how each row was made)."""
    joinable = [u for u, res in zip(usage, results) if "quarantine" not in res and u["request_id"] and u["destination_name"]]
    joined = rng.sample(joinable, 107)
    specs = [(u, "joined") for u in joined] + [(None, "standalone")] * 209 + \
            [(None, "missing_request_id"), (None, "destination_name_null"), (None, "destination_name_null"), (None, "destination_null")]
    recs, kinds, how = [], [], []
    for k, (u, tag) in enumerate(specs):
        if u is None:
            u = aigw_record(rng, gw, rand_time(rng))
            x = rng.random()
            if x < 0.1:
                u["url"] = f"{AIGW_HOST}/serving-endpoints/{u['endpoint_name']}/invocations"
            elif x < 0.12:
                u["url"] = None
        api, fam = u["api_type"], AIGW_DESTS[u["destination_name"]][3]
        key = "claude" if api == "ANTHROPIC_MESSAGES" else "embed" if api == "OPENAI_EMBEDDINGS" else "llama" if fam == "llama" else "gpt4o"
        req, resp, kind = payload_response(rng, key, u["status_code"])
        resp_text = resp if isinstance(resp, str) or resp is None else dumps(resp, ascii_=rng.random() < 0.3)
        req_text = dumps(req, ascii_=rng.random() < 0.3)
        codes = ["MAX_RESPONSE_SIZE_EXCEEDED"] if kind == "response_too_large" else []
        if k in (40, 250):
            req_text, codes, kind = None, ["MAX_REQUEST_SIZE_EXCEEDED"], kind + "+request_too_large"
        p = {"event_time": u["event_time"], "request_id": u["request_id"], "invocation_id": u["invocation_id"],
             "request_tags": u["request_tags"], "status_code": u["status_code"],
             "sampling_fraction": 1.0 if tag == "joined" or rng.random() < 0.85 else 0.25, "latency_ms": u["latency_ms"],
             "request": req_text, "response": resp_text, "destination_type": u["destination_type"],
             "destination_name": u["destination_name"], "destination_model": u["destination_model"], "logging_error_codes": codes,
             "requester": u["requester"], "time_to_first_byte_ms": u["time_to_first_byte_ms"], "schema_version": "1",
             "url": u["url"], "api_type": api}
        if tag == "missing_request_id":
            p["request_id"] = None
        elif tag == "destination_name_null":
            p["destination_name"] = None
        elif tag == "destination_null":
            p["destination_name"] = p["destination_model"] = None
        recs.append(p)
        kinds.append(kind)
        how.append(tag)
    order = sorted(range(len(recs)), key=lambda k: (recs[k]["event_time"], recs[k]["request_id"] or ""))
    return [recs[k] for k in order], [kinds[k] for k in order], [how[k] for k in order]


PL_ENDPOINT_RE = re.compile(r"/(?:model-services|serving-endpoints)/([^/]+)")


def normalise_aigw_payload(r) -> dict:
    t = parse_ts(r["event_time"])
    if t is None:
        return {"quarantine": "bad_timestamp"}
    sen = r["destination_name"] if r["destination_name"] is not None else r["destination_model"]
    if r["request_id"] is None or sen is None:
        return {"quarantine": "missing_field"}
    et, prov = aigw_entity(r["destination_type"], r["url"])
    m = PL_ENDPOINT_RE.search(r["url"]) if isinstance(r["url"], str) else None
    resp = parse_body(r["response"])
    b = usage_of(resp)
    if b is not None:
        tok = tokens(b, "reported")
    elif 200 <= r["status_code"] < 300:
        tok = estimate(request_chars(parse_body(r["request"])), response_chars(resp))
    else:
        tok = tokens(None, "absent")
    return {"row": row(request_id=r["request_id"], client_request_id=None, request_time_us=t, endpoint_name=m[1] if m else sen,
                       served_entity_name=sen, served_entity_id=None, entity_type=et, provider=prov,
                       requester=r["requester"] or "unknown", usage_context=tags_context(r["request_tags"]), status_code=r["status_code"],
                       execution_duration_ms=r["latency_ms"], request_streaming=None, is_fallback=False, attempt=None, **tok,
                       sampling_fraction=r["sampling_fraction"], source_reported_cost=None, service_tier=None, requester_type=None,
                       has_request=isinstance(r["request"], str), has_response=isinstance(r["response"], str),
                       source="databricks-ai-gateway-payload")}


def gen_migration(rng, ids, table, usage, results):
    """The legacy endpoint_usage shape over a migration window (2025-03-08 .. T1): 40 requests that ai_gateway_usage also
    recorded (same databricks_request_id, status_code, time; token counts = its input/output_tokens) and 20 legacy-only."""
    start = us(2025, 3, 8)
    cands = [u for u, res in zip(usage, results) if "quarantine" not in res and isinstance(u["event_time"], int)
             and u["event_time"] >= start and u["requester"] and u["input_tokens"] is not None and u["output_tokens"] is not None]
    recs = []
    for u in rng.sample(cands, 40):
        i, o = u["input_tokens"], u["output_tokens"]
        ct = u["response_content_type"]
        recs.append({"workspace_id": WORKSPACE, "account_id": ACCOUNT,
                     "client_request_id": None if rng.random() < 0.3 else f"cli-{rng.getrandbits(32):08x}",
                     "databricks_request_id": u["request_id"], "requester": u["requester"], "status_code": u["status_code"],
                     "request_time": u["event_time"], "input_token_count": i, "output_token_count": o,
                     "input_character_count": i * 4 + rng.randint(-3, 9) if i else rng.choice([0, None]),
                     "output_character_count": o * 4 + rng.randint(0, 9) if o else 0,
                     "usage_context": u["request_tags"], "request_streaming": None if ct is None else ct.startswith("text/event-stream"),
                     "served_entity_id": ids[AIGW_DESTS[u["destination_name"]][2]]})
    keys = {"gpt4o": 5, "claude": 3, "llama": 3, "embed": 2, "llama8b": 1, "haiku": 2}
    recs += [usage_record(rng, ids, pick(rng, keys), start + rng.randrange((T1 - start) // 1000) * 1000) for _ in range(20)]
    assert all(lookup(table, r["served_entity_id"], r["request_time"]) for r in recs)
    recs.sort(key=lambda r: (r["request_time"], r["databricks_request_id"]))
    return recs


def write_usage_csv(name, recs, rng):
    with open(OUT / name, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(EU_COLS)
        for r in recs:
            style = rng.choice(["space", "z", "+1", "-5"])
            cell = {"request_time": fmt_ms(r["request_time"], style),
                    "usage_context": None if r["usage_context"] is None else dumps(r["usage_context"], ascii_=rng.random() < 0.3),
                    "request_streaming": None if r["request_streaming"] is None else str(r["request_streaming"]).lower()}
            w.writerow([cell.get(c, r[c]) for c in EU_COLS])


# ----------------------------------------------------------------------------- usage_objects.json: a hand-curated corpus

def E(i, cr, cw, o, r):  # noqa: E743
    return {"input": i, "cache_read": cr, "cache_creation": cw, "output": o, "reasoning": r}


def an_stream_searches():
    """An Anthropic stream whose message_start has a 1-hour cache write and whose last message_delta carries the
    cumulative usage with the web searches (as the Messages API streams server tool use)."""
    usage = {"input_tokens": 40, "cache_creation_input_tokens": 1200, "cache_read_input_tokens": 0,
             "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 1200},
             "output_tokens": 1, "service_tier": "priority"}
    ev = an_stream("Searching the web 🔎", usage, 77)
    for e in ev:
        if e["type"] == "message_delta":
            e["usage"] = {"output_tokens": 77, "server_tool_use": {"web_search_requests": 2}}
    return ev


def corpus() -> list:
    oa_full = lambda p, c, cached, reas: {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c,  # noqa: E731
        "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": reas, "audio_tokens": 0, "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}}
    sse_anthropic = "".join(f"event: {e['type']}\ndata: {dumps(e)}\n\n" for e in an_stream("Hej då 👋", an_usage(12, 1, 0, 300), 40))
    sse_openai = ": keep-alive\n\n" + "".join(f"data:{dumps(c)}\n\n" for c in oa_stream("Grüße aus 東京", oa_full(310, 9, 256, 0))) + "data: [DONE]\n\n"
    cumulative = oa_stream("partial usage", None, "meta-llama-3.1-8b-instruct")
    for k, ch in enumerate(cumulative):    # vLLM continuous_usage_stats: a running usage in every chunk
        ch["usage"] = {"prompt_tokens": 40, "completion_tokens": k, "total_tokens": 40 + k}
    two_deltas = an_stream("two deltas", an_usage(30, 1), 5)
    two_deltas.insert(-2, {"type": "message_delta", "delta": {"stop_reason": None, "stop_sequence": None}, "usage": {"output_tokens": 3}})
    return [
        {"name": "openai_chat_no_details", "response": oa_chat("Hi!", {"prompt_tokens": 19, "completion_tokens": 10, "total_tokens": 29}), "expect": E(19, 0, 0, 10, None)},
        {"name": "openai_chat_details_cached_0", "response": oa_chat("ok", oa_full(1117, 46, 0, 0)), "expect": E(1117, 0, 0, 46, 0)},
        {"name": "openai_chat_cached", "response": oa_chat("cached", oa_full(2006, 300, 1920, 0)), "expect": E(86, 1920, 0, 300, 0)},
        {"name": "openai_chat_details_null", "response": oa_chat("x", {"prompt_tokens": 57, "completion_tokens": 17, "total_tokens": 74,
            "prompt_tokens_details": None, "completion_tokens_details": None}), "expect": E(57, 0, 0, 17, None)},
        {"name": "openai_details_without_cached_or_reasoning_keys", "response": oa_chat("x", {"prompt_tokens": 80, "completion_tokens": 8,
            "total_tokens": 88, "prompt_tokens_details": {"audio_tokens": 0}, "completion_tokens_details": {"audio_tokens": 0}}), "expect": E(80, 0, 0, 8, None)},
        {"name": "openai_audio_tokens_are_parts_of_input_and_output", "response": oa_chat(None, {"prompt_tokens": 45, "completion_tokens": 120, "total_tokens": 165,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 12, "text_tokens": 33, "image_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 96, "text_tokens": 24}}, "gpt-4o-audio-preview-2024-12-17"), "expect": E(45, 0, 0, 120, 0),
            "expect_extras": {"input_audio": 12, "output_audio": 96}},
        {"name": "openai_priority_tier", "response": oa_chat("fast", oa_full(1200, 80, 1024, 0), "gpt-4o-2024-08-06") | {"service_tier": "priority"},
            "expect": E(176, 1024, 0, 80, 0), "expect_extras": {"input_audio": 0, "output_audio": 0, "service_tier": "priority"}},
        {"name": "openai_flex_stream", "response": [ch | {"service_tier": "flex"} for ch in oa_stream("slow and cheap", oa_full(900, 40, 0, 24), "o3-2025-04-16")],
            "expect": E(900, 0, 0, 40, 24), "expect_extras": {"input_audio": 0, "output_audio": 0, "service_tier": "flex"}},
        {"name": "openai_default_tier", "response": oa_chat("std", oa_full(10, 2, 0, 0)) | {"service_tier": "default"},
            "expect": E(10, 0, 0, 2, 0), "expect_extras": {"input_audio": 0, "output_audio": 0, "service_tier": "default"}},
        {"name": "openai_o1_reasoning", "response": oa_chat("42", oa_full(1600, 2560, 0, 2048), "o1-2024-12-17"), "expect": E(1600, 0, 0, 2560, 2048)},
        {"name": "openai_o3_mini_reasoning_and_cache", "response": oa_chat("done", oa_full(5000, 900, 4864, 640), "o3-mini-2025-01-31"), "expect": E(136, 4864, 0, 900, 640)},
        {"name": "openai_embeddings", "response": {"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": [0.0023, -0.0093]}],
            "model": "text-embedding-3-small", "usage": {"prompt_tokens": 8, "total_tokens": 8}}, "expect": E(8, 0, 0, 0, None)},
        {"name": "openai_legacy_completion", "response": {"id": "cmpl-uqkvlQyYK7bGYrRHQ0eXlWi7", "object": "text_completion", "created": 1589478378,
            "model": "gpt-3.5-turbo-instruct", "choices": [{"text": "\n\nThis is indeed a test", "index": 0, "logprobs": None, "finish_reason": "length"}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}}, "expect": E(5, 0, 0, 7, None)},
        {"name": "azure_openai_with_content_filter", "response": dict(oa_chat("Bonjour", oa_full(1250, 30, 1152, 0)),
            prompt_filter_results=[{"prompt_index": 0, "content_filter_results": {"hate": {"filtered": False, "severity": "safe"}}}]), "expect": E(98, 1152, 0, 30, 0)},
        {"name": "databricks_llama_chat", "response": oa_chat("Llama says hi", {"prompt_tokens": 28, "completion_tokens": 120, "total_tokens": 148},
            "meta-llama-3.3-70b-instruct-121024"), "expect": E(28, 0, 0, 120, None)},
        {"name": "gemini_openai_compat", "response": {"id": "nZbSZ4PzIfKVmNAP", "object": "chat.completion", "created": 1741854109, "model": "gemini-2.0-flash",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hola 🌍"}, "finish_reason": "stop"}],
            "usage": {"completion_tokens": 14, "prompt_tokens": 9, "total_tokens": 23}}, "expect": E(9, 0, 0, 14, None)},
        {"name": "anthropic_no_cache_fields", "response": an_msg("Hello!", {"input_tokens": 2095, "output_tokens": 503}), "expect": E(2095, 0, 0, 503, None)},
        {"name": "anthropic_cache_write", "response": an_msg("Noted.", {"input_tokens": 21, "cache_creation_input_tokens": 188086,
            "cache_read_input_tokens": 0, "output_tokens": 393}), "expect": E(21, 0, 188086, 393, None)},
        {"name": "anthropic_cache_read_with_ttl_breakdown", "response": an_msg("Again.", {"input_tokens": 3, "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 188086, "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
            "output_tokens": 12, "service_tier": "standard", "server_tool_use": None}), "expect": E(3, 188086, 0, 12, None)},
        {"name": "anthropic_1h_cache_write_and_web_search", "response": an_msg("Here is what I found.", {"input_tokens": 2048,
            "cache_creation_input_tokens": 5000, "cache_read_input_tokens": 0,
            "cache_creation": {"ephemeral_5m_input_tokens": 2000, "ephemeral_1h_input_tokens": 3000}, "output_tokens": 503,
            "server_tool_use": {"web_search_requests": 3}, "service_tier": "standard", "inference_geo": "us"}),
            "expect": E(2048, 0, 5000, 503, None),
            "expect_extras": {"cache_creation_1h": 3000, "web_search_requests": 3, "service_tier": "standard", "inference_geo": "us"}},
        {"name": "anthropic_batch_tier", "response": an_msg("batched", {"input_tokens": 900, "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0, "output_tokens": 300, "service_tier": "batch"}),
            "expect": E(900, 0, 0, 300, None), "expect_extras": {"service_tier": "batch"}},
        {"name": "anthropic_stream_1h_write_and_searches_in_the_last_delta", "response": an_stream_searches(),
            "expect": E(40, 0, 1200, 77, None),
            "expect_extras": {"cache_creation_1h": 1200, "web_search_requests": 2, "service_tier": "priority"}},
        {"name": "anthropic_cache_fields_null", "response": an_msg("ok", {"input_tokens": 50, "cache_creation_input_tokens": None,
            "cache_read_input_tokens": None, "output_tokens": 20}), "expect": E(50, 0, 0, 20, None)},
        {"name": "anthropic_tool_use", "response": dict(an_msg("Let me check.", an_usage(384, 58)), stop_reason="tool_use",
            content=[{"type": "text", "text": "Let me check."}, {"type": "tool_use", "id": "toolu_01A", "name": "get_weather", "input": {"city": "東京"}}]),
            "expect": E(384, 0, 0, 58, None)},
        {"name": "anthropic_stream_array", "response": an_stream("Naïve streaming ✓", an_usage(472, 1, 1024, 0), 89), "expect": E(472, 1024, 0, 89, None)},
        {"name": "anthropic_stream_no_message_delta", "response": an_stream("cut off", an_usage(25, 1, fields="none"), 0, delta=False), "expect": E(25, 0, 0, 1, None)},
        {"name": "anthropic_stream_two_message_deltas_last_wins", "response": two_deltas, "expect": E(30, 0, 0, 5, None)},
        {"name": "anthropic_stream_sse_text", "response": sse_anthropic, "expect": E(12, 0, 300, 40, None)},
        {"name": "openai_stream_array_usage_last", "response": oa_stream("Hello there, 世界", oa_full(52, 6, 0, 0)), "expect": E(52, 0, 0, 6, 0)},
        {"name": "openai_stream_cumulative_usage_last_wins", "response": cumulative, "expect": E(40, 0, 0, len(cumulative) - 1, None)},
        {"name": "openai_stream_sse_text", "response": sse_openai, "expect": E(54, 256, 0, 9, 0)},
        {"name": "openai_stream_no_usage", "response": oa_stream("no usage here", None), "expect": None},
        {"name": "openai_stream_sse_no_usage", "response": sse(oa_stream("nada", None)), "expect": None},
        {"name": "openai_chat_usage_null", "response": oa_chat("x", None) | {"usage": None}, "expect": None},
        {"name": "openai_error_429", "response": ERR_429, "expect": None},
        {"name": "databricks_error_body", "response": {"error_code": "REQUEST_LIMIT_EXCEEDED",
            "message": "REQUEST_LIMIT_EXCEEDED: Exceeded workspace QPS rate limit for databricks-meta-llama-3-3-70b-instruct."}, "expect": None},
    ]


# ----------------------------------------------------------------------------- main

def write_expected(name, results):
    with open(OUT / "expected" / name, "w", encoding="utf-8", newline="\n") as f:
        for n, res in enumerate(results, 1):
            f.write(json.dumps({"line": n, **res}, ensure_ascii=False) + "\n")


def tally(items) -> dict:
    out = {}
    for x in items:
        out[x] = out.get(x, 0) + 1
    return dict(sorted(out.items(), key=lambda kv: str(kv[0])))


def outcome(res):
    return res.get("quarantine") and "quarantine:" + res["quarantine"] or (res.get("row") or res["rows"][-1])["token_count_source"]


def final_rows(results):
    """Each record's own row (for records with failed attempts: the last one)."""
    return [res.get("row") or res["rows"][-1] for res in results if "quarantine" not in res]


def main():
    rng = random.Random(SEED)
    (OUT / "expected").mkdir(parents=True, exist_ok=True)
    ids = {k: uid(rng) for k in KEYS}
    write_served_entities(gen_served_entities(rng, ids))
    table = entity_table()
    stats = {}

    usage = gen_usage(rng, ids)
    write_usage(usage, rng)
    a = [normalise_usage(decode_usage_csv(r), table) for r in read_csv("endpoint_usage.csv")]
    b = [normalise_usage(r, table) for r in read_jsonl("endpoint_usage.jsonl")]
    assert a == b, "endpoint_usage: CSV and JSONL disagree"
    write_expected("endpoint_usage.jsonl", a)
    multi = {ids[k] for k in ("gpt4o", "llama", "haiku")}
    stats["endpoint_usage"] = {
        "outcome": tally(outcome(x) for x in a), "status_code": tally(r["status_code"] for r in usage),
        "client_request_id null": sum(r["client_request_id"] is None for r in usage),
        "usage_context null / {}": (sum(r["usage_context"] is None for r in usage), sum(r["usage_context"] == {} for r in usage)),
        "request_streaming null": sum(r["request_streaming"] is None for r in usage),
        "tokens null, chars present (estimated)": sum(r["input_token_count"] is None and r["output_token_count"] is None and
                                                      (r["input_character_count"] is not None or r["output_character_count"] is not None) for r in usage),
        "one token count null (reported, 0)": sum((r["input_token_count"] is None) != (r["output_token_count"] is None) for r in usage),
        "non-2xx estimated": sum(x.get("row", {}).get("token_count_source") == "estimated" and x["row"]["status_code"] >= 300 for x in a),
        "unknown id": sum(r["served_entity_id"] in (ids["unknown1"], ids["unknown2"]) for r in usage),
        "SCD version used (id, endpoint, entity)": tally((x["row"]["served_entity_id"][:8], x["row"]["endpoint_name"], x["row"]["served_entity_name"])
                                                         for x in a if "row" in x and x["row"]["served_entity_id"] in multi),
        "after endpoint_delete_time": sum(r["served_entity_id"] == ids["instruct"] and r["request_time"] >= us(2025, 3, 9) for r in usage)}

    payload, kinds = gen_payload(rng, ids)
    with open(OUT / "payload.jsonl", "w", encoding="utf-8", newline="\n") as f:
        for r in payload:
            f.write(json.dumps({c: fmt_ms(r[c], "z") if c == "request_time" else r[c] for c in PL_COLS}, ensure_ascii=False) + "\n")
    p = [normalise_payload(r, table) for r in read_jsonl("payload.jsonl")]
    write_expected("payload.jsonl", p)
    stats["payload"] = {"outcome": tally(outcome(x) for x in p), "response kind": tally(kinds),
                        "status_code": tally(r["status_code"] for r in payload),
                        "requester null": sum(r["requester"] is None for r in payload),
                        "sampling_fraction 0.25": sum(r["sampling_fraction"] == 0.25 for r in payload),
                        "request null / response null": (sum(r["request"] is None for r in payload), sum(r["response"] is None for r in payload)),
                        "client_request_id null": sum(r["client_request_id"] is None for r in payload),
                        "estimated with 0 tokens both": sum(x.get("row", {}).get("token_count_source") == "estimated" and
                                                            x["row"]["input_tokens"] == x["row"]["output_tokens"] == 0 for x in p)}

    ll = gen_litellm(rng)
    write_litellm(ll, rng)
    a = [normalise_litellm(decode_litellm_csv(r)) for r in read_csv("litellm.csv")]
    b = [normalise_litellm(r) for r in json.loads((OUT / "litellm.json").read_text(encoding="utf-8"), parse_float=Decimal)]
    assert a == b, "litellm: CSV and JSON disagree"
    write_expected("litellm.jsonl", a)
    rows = [x["row"] for x in a if "row" in x]
    stats["litellm"] = {"outcome": tally(outcome(x) for x in a), "status_code": tally(r["status_code"] for r in rows),
                        "spend in scientific notation": sum("e" in repr(r["spend"]) for r in ll),
                        "user empty -> end_user / unknown": tally(r["requester"] for r in rows if r["requester"] in ("unknown",) or r["requester"].startswith("cust")),
                        "team_id empty": sum(r["team_id"] is None for r in ll), "model_group empty": sum(r["model_group"] == "" for r in ll),
                        "model_id empty": sum(r["model_id"] == "" for r in ll), "provider empty": sum(r["custom_llm_provider"] == "" for r in ll),
                        "request_tags []": sum(r["request_tags"] == [] for r in ll),
                        "has_request false / has_response false": (sum(not r["has_request"] for r in rows), sum(not r["has_response"] for r in rows)),
                        "cache_read from cache_read_input_tokens (details null)": sum(isinstance((r["metadata"].get("usage_object") or {}).get("cache_read_input_tokens"), int)
                                                                                      and (r["metadata"]["usage_object"].get("prompt_tokens_details") is None) for r in ll),
                        "reasoning > 0": sum((r["reasoning_tokens"] or 0) > 0 for r in rows)}

    cases = corpus()
    for c in cases:
        v = parse_body(c["response"]) if isinstance(c["response"], str) else c["response"]
        assert usage_of(v) == c["expect"], (c["name"], usage_of(v), c["expect"])
        if "expect_extras" in c:
            assert extras_of(v) == c["expect_extras"], (c["name"], extras_of(v), c["expect_extras"])
    (OUT / "usage_objects.json").write_text(json.dumps(cases, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    stats["usage_objects"] = {"cases": len(cases), "expect null": sum(c["expect"] is None for c in cases)}

    # --- Databricks Unity AI Gateway (appended: everything above draws from rng exactly as before)
    gw = aigw_setup(rng)
    usage_gw, gw_tags = gen_aigw(rng, gw)
    styles = write_aigw(usage_gw, rng)
    a = [normalise_aigw(decode_aigw_csv(r)) for r in read_csv("ai_gateway_usage.csv")]
    b = [normalise_aigw(r) for r in read_jsonl("ai_gateway_usage.jsonl")]
    assert a == b, "ai_gateway_usage: CSV and JSONL disagree"
    assert len(a) == len(usage_gw)
    write_expected("ai_gateway_usage.jsonl", a)
    fin = final_rows(a)
    def n_attempts(r):
        ri = r["routing_information"]
        return "routing_information null" if ri is None else "attempts null" if ri.get("attempts") is None else len(ri["attempts"]) or "[]"
    stats["ai_gateway_usage"] = {
        "records / rows (failed attempts included)": (len(a), sum(len(x.get("rows", [0])) for x in a if "quarantine" not in x)),
        "outcome": tally(outcome(x) for x in a), "status_code": tally(r["status_code"] for r in usage_gw),
        "special rows (one deliberate fault or edge each)": tally(t for t in gw_tags if t != "normal" and not t.startswith("mcp:")),
        "MCP rows (json_rpc_method)": tally(t[4:] for t in gw_tags if t.startswith("mcp:")),
        "mcp_metadata with all fields null (model traffic)": sum(r["mcp_metadata"] is not None and r["mcp_metadata"]["json_rpc_method"] is None for r in usage_gw),
        "attempts": tally(n_attempts(r) for r in usage_gw),
        "failed-attempt rows": sum(len(x["rows"]) - 1 for x in a if "rows" in x),
        "service_tier (rows)": tally(str(r["service_tier"]) for r in fin),
        "invocation_metadata null": sum(r["invocation_metadata"] is None for r in usage_gw),
        "requester_type (input)": tally(str(r["requester_type"]) for r in usage_gw),
        "requester null": sum(r["requester"] is None for r in usage_gw),
        "destination_type (input)": tally(str(r["destination_type"]) for r in usage_gw),
        "provider (rows)": tally(str(r["provider"]) for r in fin),
        "url null / provider-native": (sum(r["url"] is None for r in usage_gw),
                                       sum(r["url"] is not None and "/model-services/" not in r["url"] and "/mcp-services/" not in r["url"] for r in usage_gw)),
        "request_tags null / {}": (sum(r["request_tags"] is None for r in usage_gw), sum(r["request_tags"] == {} for r in usage_gw)),
        "token_details null": sum(r["token_details"] is None for r in usage_gw),
        "rows with cache_read / cache_creation / reasoning > 0": (sum(r["cache_read_input_tokens"] > 0 for r in fin),
                                                                 sum(r["cache_creation_input_tokens"] > 0 for r in fin),
                                                                 sum((r["reasoning_tokens"] or 0) > 0 for r in fin)),
        "request_streaming (rows)": tally(str(r["request_streaming"]) for r in fin),
        "event_time styles": tally(styles)}

    pl, pl_kinds, pl_how = gen_aigw_payload(rng, gw, usage_gw, a)
    with open(OUT / "ai_gateway_payload.jsonl", "w", encoding="utf-8", newline="\n") as f:
        for r in pl:
            f.write(json.dumps({c: fmt_ms(r[c], "z") if c == "event_time" else r[c] for c in AIGW_PL_COLS}, ensure_ascii=False) + "\n")
    p = [normalise_aigw_payload(r) for r in read_jsonl("ai_gateway_payload.jsonl")]
    write_expected("ai_gateway_payload.jsonl", p)
    by_id = {(u["request_id"], u["event_time"], u["status_code"]) for u in usage_gw if u["request_id"]}
    joined = sum((r["request_id"], r["event_time"], r["status_code"]) in by_id for r in pl)
    assert joined == pl_how.count("joined")
    def url_kind(u):
        return "null" if u is None else next((k for k in ("/model-services/", "/serving-endpoints/", "/ai-gateway/") if k in u), "other").strip("/")
    stats["ai_gateway_payload"] = {
        "records": len(p), "outcome": tally(outcome(x) for x in p), "how made": tally(pl_how),
        "joined to ai_gateway_usage (request_id, event_time, status_code)": joined,
        "response kind": tally(pl_kinds), "status_code": tally(r["status_code"] for r in pl),
        "url": tally(url_kind(r["url"]) for r in pl),
        "endpoint_name from url / from served_entity_name": (sum(url_kind(r["url"]) in ("model-services", "serving-endpoints") for r in pl),
                                                             sum(url_kind(r["url"]) not in ("model-services", "serving-endpoints") for r in pl)),
        "requester null": sum(r["requester"] is None for r in pl),
        "sampling_fraction 0.25": sum(r["sampling_fraction"] == 0.25 for r in pl),
        "request null / response null": (sum(r["request"] is None for r in pl), sum(r["response"] is None for r in pl))}

    mig = gen_migration(rng, ids, table, usage_gw, a)
    write_usage_csv("endpoint_usage_migration.csv", mig, rng)
    m = [normalise_usage(decode_usage_csv(r), table) for r in read_csv("endpoint_usage_migration.csv")]
    write_expected("endpoint_usage_migration.jsonl", m)
    gw_keys = {(u["request_id"], u["status_code"]) for u in usage_gw if u["request_id"]}
    overlap = sum((r["databricks_request_id"], r["status_code"]) in gw_keys for r in mig)
    assert overlap == 40 and len(mig) == 60
    stats["endpoint_usage_migration"] = {
        "records": len(m), "outcome": tally(outcome(x) for x in m),
        "overlap with ai_gateway_usage (request_id and status_code)": overlap, "legacy only": len(mig) - overlap,
        "endpoint (rows)": tally(x["row"]["endpoint_name"] for x in m if "row" in x)}
    write_readme(stats)
    for k, v in stats.items():
        print(k)
        for kk, vv in v.items():
            print(f"  {kk}: {vv}")


def write_readme(stats):
    lines = ["# Gateway-log fixtures", "",
             "Written by `python3 scripts/gateway_fixtures.py` (run it from the repo root; deterministic, standard library",
             "only). Do not edit these files by hand: change the script and run it again. The script is also the oracle:",
             "it reads back every file it wrote, normalises each record in Python and writes `expected/`; for the sources",
             "with two forms it checks that the CSV and the JSON form give the same expected records.", "",
             "| file | what |", "|---|---|",
             "| `served_entities.csv` / `.jsonl` | Databricks `system.serving.served_entities` (SCD: several rows per id; rows shuffled) |",
             "| `endpoint_usage.csv` / `.jsonl` | Databricks `system.serving.endpoint_usage`, the same requests in the same order |",
             "| `payload.jsonl` | a Databricks AI Gateway payload (inference) table; `request`/`response` are JSON text (or SSE text) |",
             "| `litellm.csv` / `litellm.json` | LiteLLM `LiteLLM_SpendLogs`: a CSV export and a JSON array export of the same requests |",
             "| `ai_gateway_usage.jsonl` / `.csv` | Databricks `system.ai_gateway.usage` (Unity AI Gateway), the same requests in the same order; a record with failed attempts gives several rows |",
             "| `ai_gateway_payload.jsonl` | the new AI Gateway payload (inference) table shape; about a third of its requests are in `ai_gateway_usage` |",
             "| `endpoint_usage_migration.csv` | the legacy `endpoint_usage` shape over a migration window: requests also in `ai_gateway_usage` (same request id and status) and legacy-only ones |",
             "| `usage_objects.json` | a corpus of provider responses with the token buckets expected of them (`expect: null` = no usage) |",
             "| `expected/<source>.jsonl` | per input record, in order: `{\"line\": N, \"row\": {...}}` or `{\"line\": N, \"quarantine\": CODE}`; an AI Gateway usage record with failed attempts: `{\"line\": N, \"rows\": [attempt 1, ..., the row]}` |",
             "", "`line` is 1-based: the CSV data row (header excluded), the JSONL line, or the LiteLLM array element.",
             "`expected/endpoint_usage.jsonl`, `expected/litellm.jsonl` and `expected/ai_gateway_usage.jsonl` hold for both forms of their source.", "",
             "## Rules", "", "The rules are in the docstring of the script (the Rust adapters follow the same ones). In short:", "",
             "- buckets are disjoint: input (uncached), cache_read, cache_creation, output (reasoning included), reasoning (part of output or null);",
             "- OpenAI usage: input = prompt_tokens - cached_tokens; Anthropic usage: input = input_tokens, caches apart;",
             "- streams (JSON arrays of chunks, SSE text): the last chunk with usage; Anthropic: message_start usage + last message_delta output_tokens;",
             "- no usage: 2xx -> estimated, (chars + 1) // 4 on Unicode scalar values; otherwise absent;",
             "- Databricks served entity: the served_entities row with the latest change_time <= request_time, else quarantine `unknown_entity`;",
             "- LiteLLM prompt_tokens include cache reads and writes; spend -> `source_reported_cost`, 10 places, half-even;",
             "- AI Gateway usage: input_tokens include cache reads and writes; MCP traffic -> quarantine `not_model_traffic`; a fallback",
             "  (2+ routing attempts) also yields one absent-token row per failed attempt (`<request_id>#attempt-<k>`);",
             "- AI Gateway payload: tokens as the payload rule; endpoint from the `/model-services/<name>` or `/serving-endpoints/<name>` url;",
             "- CSV: an empty cell is null; JSON-valued columns hold JSON text; a time without a zone is UTC.", "",
             "## Counts (as generated)", ""]
    def show(v):
        if isinstance(v, dict):
            return ", ".join(f"{'/'.join(map(str, k)) if isinstance(k, tuple) else k} {n}" for k, n in v.items())
        return " / ".join(map(str, v)) if isinstance(v, tuple) else str(v)
    for src, v in stats.items():
        lines.append(f"- **{src}**")
        lines += [f"  - {k}: {show(vv)}" for k, vv in v.items()]
    (OUT / "README.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
