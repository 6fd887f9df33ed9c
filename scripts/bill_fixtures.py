#!/usr/bin/env python3
r"""Write tests/data/bills/: providers' bills for January 2025 and, independently, what reading them must give.

    python3 scripts/bill_fixtures.py        (standard library only; fixed seed, no wall clock)

Bills (shapes from the providers' API references and the FOCUS spec; see tests/data/bills/README.md):
* openai_costs.json    OpenAI Costs API pages (GET /v1/organization/costs, group_by=line_item,project_id),
                       three pretty-printed pages one after another, has_more/next_page;
* openai_usage.jsonl   OpenAI completions Usage API pages (group_by=model,project_id,batch), one per line,
                       with audio and batch results;
* anthropic_cost.json  Anthropic cost report pages (group_by=workspace_id,description) as one JSON array,
                       amounts in cents with fractions, every token type, web search, code execution, a EUR row;
* anthropic_usage.json Anthropic messages usage report pages (group_by=model,workspace_id,service_tier);
* focus.csv            a FOCUS 1.2 export with the 1.3 ServiceProviderName column: Azure OpenAI-like token rows,
                       a storage row, a Credit;
* bad_rows_<source>.*  a few good rows and one row of each kind of bad row the source can meet.

Beside each, <name>.expected.csv: the lines the bill must give, summed per (provider, provider_model,
charge_kind, date, currency), with quantity, requests and cost (exact decimal text, no trailing zeros; an
empty cell when no line of the group has one), sorted; and for bad_rows_*, <name>.expected_bad.csv:
row_number,reason_code of each bad row. The sums are computed here from what was generated, not by reading
the files back, with these rules (the Rust sources follow exactly these):
* rows are numbered 1.. in file order: every result of every bucket of every page; a page without `data`, a
  bucket without `results` and a value that is not JSON take a number too; CSV data rows 1.. (header not
  counted);
* OpenAI costs: cost = amount.value as the shortest decimal text of the float (Python repr), currency upper;
  line_item "MODEL, input|cached input|output" -> that model and kind, "... web search tool calls" ->
  web_search, anything else (or null) -> other with no model;
* OpenAI usage: input = input_tokens - input_cached_tokens - input_cache_write_tokens (audio tokens are part
  of input_tokens and output_tokens), cached_input = input_cached_tokens, cache_write =
  input_cache_write_tokens, output = output_tokens; num_model_requests on the input line only; a line for each
  non-zero bucket, the input line also when there are requests;
* Anthropic cost: cost = amount / 100 (cents); token_type -> kind (both cache_creation TTLs cache_write),
  cost_type web_search -> web_search, code_execution -> other; the model null on non-token rows;
* Anthropic usage: one line per non-zero count: uncached_input_tokens, cache_read_input_tokens, each
  cache_creation TTL, output_tokens, server_tool_use.web_search_requests;
* FOCUS: provider = ServiceProviderName lower-cased; token rows (ConsumedUnit "Tokens" / "1K Tokens"):
  quantity = ConsumedQuantity x unit, model = SkuMeter before its "Input"/"Output"/"Cached" word; Credit and
  non-token rows: other, no quantity, no model.
"""

import json
import os
import random
from datetime import datetime, timedelta, timezone
from decimal import Decimal

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "bills")
RNG = random.Random(20250131)
DAYS = [datetime(2025, 1, 1, tzinfo=timezone.utc) + timedelta(days=d) for d in range(31)]
DAY = timedelta(days=1)

OPENAI_MODELS = ["gpt-4o-2024-08-06", "gpt-4o-mini-2024-07-18", "o3-mini-2025-01-31"]
# a fine-tuned model: no price book knows it
UNKNOWN_MODEL = "ft:gpt-4o-mini-2024-07-18:acme::A1b2C3d4"
AUDIO_MODEL = "gpt-4o-audio-preview-2024-12-17"
PROJECTS = ["proj_ledger_alpha", "proj_ledger_beta"]
CLAUDE = ["claude-sonnet-4-5-20250929", "claude-haiku-4-5-20251001"]
WORKSPACES = ["wrkspc_01LedgerAlpha", "wrkspc_01LedgerBeta"]


def unix(t):
    return int(t.timestamp())


def rfc3339(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def dec_text(d):
    """A decimal as the expected CSV writes it: no exponent, no trailing zeros."""
    d = d.normalize()
    text = format(d, "f")
    return "0" if text in ("-0", "0") else text


class Sums:
    """The oracle: the lines a bill must give, summed per key."""

    def __init__(self):
        self.sums = {}
        self.bad = []

    def line(self, provider, model, kind, day, currency="", quantity=None, requests=None, cost=None):
        key = (provider, model or "", kind, day.strftime("%Y-%m-%d"), currency)
        q, r, c = self.sums.get(key, (None, None, None))
        add = lambda a, b: b if a is None else (a if b is None else a + b)
        self.sums[key] = (add(q, quantity), add(r, requests), add(c, cost))

    def write(self, name):
        stem = name.rsplit(".", 1)[0]
        rows = ["provider,provider_model,charge_kind,date,currency,quantity,requests,cost"]
        for key in sorted(self.sums):
            q, r, c = self.sums[key]
            cells = list(key) + ["" if q is None else str(q), "" if r is None else str(r), "" if c is None else dec_text(c)]
            assert not any("," in cell for cell in cells), cells
            rows.append(",".join(cells))
        write(stem + ".expected.csv", "\n".join(rows) + "\n")
        if name.startswith("bad_rows_"):
            write(stem + ".expected_bad.csv", "row_number,reason_code\n" + "".join(f"{n},{code}\n" for n, code in self.bad))


def write(name, text):
    with open(os.path.join(OUT, name), "w", encoding="utf-8", newline="") as f:
        f.write(text)


def pages(buckets, per_page, cursor):
    """Buckets cut into pages as the APIs return them."""
    chunks = [buckets[i : i + per_page] for i in range(0, len(buckets), per_page)]
    out = []
    for i, chunk in enumerate(chunks):
        more = i + 1 < len(chunks)
        out.append({"data": chunk, "has_more": more, "next_page": cursor(i + 1) if more else None})
    return out


def openai_page(page):
    return {"object": "page", **page}


# --- OpenAI Costs ---------------------------------------------------------------------------------------


def openai_cost_value():
    kind = RNG.random()
    if kind < 0.1:
        return 0.1 + 0.2  # 0.30000000000000004: the float's shortest text is the amount
    if kind < 0.2:
        return RNG.choice([3e-07, 1.5e-06, 4.2e-05])
    return round(RNG.uniform(0.001, 9.0), RNG.choice([2, 4, 6, 8]))


def openai_costs():
    sums = Sums()
    buckets = []
    for day in DAYS:
        results = []
        for project in PROJECTS:
            for model in OPENAI_MODELS + [UNKNOWN_MODEL]:
                if RNG.random() < 0.6:
                    continue
                for part, kind in [("input", "input"), ("cached input", "cached_input"), ("output", "output")]:
                    if part == "cached input" and RNG.random() < 0.6:
                        continue
                    value = openai_cost_value()
                    results.append(result_cost(value, f"{model}, {part}", project))
                    sums.line("openai", model, kind, day, "USD", cost=Decimal(repr(value)))
        if day.day % 3 == 0:
            value = openai_cost_value()
            results.append(result_cost(value, "gpt-4o-2024-08-06, web search tool calls", PROJECTS[0]))
            sums.line("openai", "gpt-4o-2024-08-06", "web_search", day, "USD", cost=Decimal(repr(value)))
        if day.day % 7 == 0:
            value = openai_cost_value()
            results.append(result_cost(value, "Image models", PROJECTS[1]))
            sums.line("openai", None, "other", day, "USD", cost=Decimal(repr(value)))
        if day.day == 15:
            results.append(result_cost(0.06, None, None))
            sums.line("openai", None, "other", day, "USD", cost=Decimal("0.06"))
        buckets.append({"object": "bucket", "start_time": unix(day), "end_time": unix(day + DAY), "results": results})
    text = "".join(json.dumps(openai_page(p), indent=2) + "\n" for p in pages(buckets, 12, lambda i: f"page_AAAAAGd{i:04d}"))
    write("openai_costs.json", text)
    sums.write("openai_costs.json")


def result_cost(value, line_item, project):
    return {
        "object": "organization.costs.result",
        "amount": {"value": value, "currency": "usd"},
        "line_item": line_item,
        "project_id": project,
    }


# --- OpenAI Usage ---------------------------------------------------------------------------------------


def usage_result(model, project, batch, input_tokens, cached, output, requests, audio_in=0, audio_out=0, cache_write=None):
    r = {
        "object": "organization.usage.completions.result",
        "input_tokens": input_tokens,
        "output_tokens": output,
        "input_cached_tokens": cached,
        "input_audio_tokens": audio_in,
        "output_audio_tokens": audio_out,
        "num_model_requests": requests,
        "project_id": project,
        "user_id": None,
        "api_key_id": None,
        "model": model,
        "batch": batch,
        "service_tier": None,
    }
    if cache_write is not None:
        r["input_cache_write_tokens"] = cache_write
    return r


def add_usage(sums, day, model, result):
    uncached = result["input_tokens"] - result["input_cached_tokens"] - result.get("input_cache_write_tokens", 0)
    requests = result["num_model_requests"]
    if uncached > 0 or requests > 0:
        sums.line("openai", model, "input", day, quantity=uncached, requests=requests)
    for kind, q in [
        ("cached_input", result["input_cached_tokens"]),
        ("cache_write", result.get("input_cache_write_tokens", 0)),
        ("output", result["output_tokens"]),
    ]:
        if q > 0:
            sums.line("openai", model, kind, day, quantity=q)


def openai_usage():
    sums = Sums()
    buckets = []
    for day in DAYS:
        results = []
        for project in PROJECTS:
            for model in OPENAI_MODELS + [UNKNOWN_MODEL]:
                if RNG.random() < 0.4:
                    continue
                batch = model == "gpt-4o-mini-2024-07-18" and RNG.random() < 0.3
                requests = RNG.randint(1, 400)
                input_tokens = requests * RNG.randint(200, 3000)
                cached = RNG.choice([0, input_tokens // RNG.randint(2, 5)])
                output = requests * RNG.randint(20, 900)
                cache_write = RNG.choice([None, None, 0, input_tokens // 10])
                if cache_write is not None and cached + cache_write > input_tokens:
                    cache_write = 0
                results.append(usage_result(model, project, batch, input_tokens, cached, output, requests, cache_write=cache_write))
        if day.day % 4 == 1:
            # audio is part of input_tokens and output_tokens, not more tokens
            requests = RNG.randint(1, 30)
            audio_in, audio_out = requests * 900, requests * 400
            input_tokens = audio_in + requests * 150
            output = audio_out + requests * 60
            results.append(usage_result(AUDIO_MODEL, PROJECTS[0], False, input_tokens, 0, output, requests, audio_in, audio_out))
        if day.day == 20:
            # a group with requests but only cached input: the input line carries the requests
            results.append(usage_result("gpt-4o-2024-08-06", PROJECTS[1], False, 4096, 4096, 12, 3))
            # a group with nothing: no lines
            results.append(usage_result("gpt-4o-2024-08-06", PROJECTS[0], True, 0, 0, 0, 0))
        for r in results:
            add_usage(sums, day, r["model"], r)
        buckets.append({"object": "bucket", "start_time": unix(day), "end_time": unix(day + DAY), "results": results})
    text = "".join(json.dumps(openai_page(p)) + "\n" for p in pages(buckets, 7, lambda i: f"page_AAAAAGu{i:04d}"))
    write("openai_usage.jsonl", text)
    sums.write("openai_usage.jsonl")


# --- Anthropic cost report -----------------------------------------------------------------------------

TOKEN_TYPES = [
    ("uncached_input_tokens", "input", "Input Tokens"),
    ("output_tokens", "output", "Output Tokens"),
    ("cache_read_input_tokens", "cached_input", "Cache Read Input Tokens"),
    ("cache_creation.ephemeral_5m_input_tokens", "cache_write", "Cache Write (5m) Input Tokens"),
    ("cache_creation.ephemeral_1h_input_tokens", "cache_write", "Cache Write (1h) Input Tokens"),
]


def cents():
    return f"{RNG.randint(0, 250000) / 10000:.4f}" if RNG.random() < 0.3 else f"{RNG.randint(1, 9999999) / 10000:.4f}"


def anthropic_cost():
    sums = Sums()
    buckets = []
    for day in DAYS:
        results = []
        for workspace, model in [(WORKSPACES[0], CLAUDE[0]), (WORKSPACES[1], CLAUDE[0]), (WORKSPACES[0], CLAUDE[1])]:
            name = "Claude Sonnet 4.5" if "sonnet" in model else "Claude Haiku 4.5"
            for tier in ["standard", "batch"]:
                if tier == "batch" and RNG.random() < 0.8:
                    continue
                for token_type, kind, words in TOKEN_TYPES:
                    if RNG.random() < 0.55:
                        continue
                    amount = cents()
                    results.append(
                        {
                            "currency": "USD",
                            "amount": amount,
                            "workspace_id": workspace,
                            "description": f"{name} Usage - {words}",
                            "cost_type": "tokens",
                            "context_window": RNG.choice(["0-200k", "0-200k", "200k-1M"]),
                            "model": model,
                            "service_tier": tier,
                            "token_type": token_type,
                            "inference_geo": "global",
                        }
                    )
                    sums.line("anthropic", model, kind, day, "USD", cost=Decimal(amount).scaleb(-2))
        if day.day % 2 == 0:
            amount = f"{RNG.randint(1, 500)}.{RNG.randint(0, 9999):04d}"
            results.append(non_token(amount, "USD", WORKSPACES[0], "Web Search", "web_search"))
            sums.line("anthropic", None, "web_search", day, "USD", cost=Decimal(amount).scaleb(-2))
        if day.day % 5 == 0:
            amount = f"{RNG.randint(1, 90)}.{RNG.randint(0, 9999):04d}"
            results.append(non_token(amount, "USD", WORKSPACES[1], "Code Execution Usage", "code_execution"))
            sums.line("anthropic", None, "other", day, "USD", cost=Decimal(amount).scaleb(-2))
        if day.day == 17:
            # the report says "currently always USD"; a EUR row shows the currency is kept, not assumed
            results.append(
                {
                    "currency": "EUR",
                    "amount": "123.4567",
                    "workspace_id": WORKSPACES[1],
                    "description": "Claude Haiku 4.5 Usage - Input Tokens",
                    "cost_type": "tokens",
                    "context_window": "0-200k",
                    "model": CLAUDE[1],
                    "service_tier": "standard",
                    "token_type": "uncached_input_tokens",
                    "inference_geo": "global",
                }
            )
            sums.line("anthropic", CLAUDE[1], "input", day, "EUR", cost=Decimal("1.234567"))
        buckets.append({"starting_at": rfc3339(day), "ending_at": rfc3339(day + DAY), "results": results})
    text = json.dumps(pages(buckets, 16, lambda i: f"page_{i:04d}"), indent=1) + "\n"
    write("anthropic_cost.json", text)
    sums.write("anthropic_cost.json")


def non_token(amount, currency, workspace, description, cost_type):
    return {
        "currency": currency,
        "amount": amount,
        "workspace_id": workspace,
        "description": description,
        "cost_type": cost_type,
        "context_window": None,
        "model": None,
        "service_tier": None,
        "token_type": None,
        "inference_geo": None,
    }


# --- Anthropic usage report ----------------------------------------------------------------------------


def anthropic_usage():
    sums = Sums()
    buckets = []
    for day in DAYS:
        results = []
        for model in CLAUDE:
            for workspace in WORKSPACES:
                for tier in ["standard", "batch"]:
                    if RNG.random() < (0.3 if tier == "standard" else 0.75):
                        continue
                    r = {
                        "uncached_input_tokens": RNG.randint(0, 2_000_000),
                        "cache_creation": {
                            "ephemeral_1h_input_tokens": RNG.choice([0, RNG.randint(1, 90_000)]),
                            "ephemeral_5m_input_tokens": RNG.choice([0, RNG.randint(1, 300_000)]),
                        },
                        "cache_read_input_tokens": RNG.choice([0, RNG.randint(1, 5_000_000)]),
                        "output_tokens": RNG.randint(1, 400_000),
                        "server_tool_use": {"web_search_requests": RNG.choice([0, 0, RNG.randint(1, 40)])},
                        "api_key_id": None,
                        "workspace_id": workspace,
                        "model": model,
                        "service_tier": tier,
                        "context_window": None,
                    }
                    results.append(r)
                    for kind, q in [
                        ("input", r["uncached_input_tokens"]),
                        ("cached_input", r["cache_read_input_tokens"]),
                        ("cache_write", r["cache_creation"]["ephemeral_5m_input_tokens"]),
                        ("cache_write", r["cache_creation"]["ephemeral_1h_input_tokens"]),
                        ("output", r["output_tokens"]),
                        ("web_search", r["server_tool_use"]["web_search_requests"]),
                    ]:
                        if q > 0:
                            sums.line("anthropic", model, kind, day, quantity=q)
        buckets.append({"starting_at": rfc3339(day), "ending_at": rfc3339(day + DAY), "results": results})
    text = "".join(json.dumps(p, indent=2) + "\n" for p in pages(buckets, 16, lambda i: f"page_{i:04d}"))
    write("anthropic_usage.json", text)
    sums.write("anthropic_usage.json")


# --- FOCUS ---------------------------------------------------------------------------------------------

FOCUS_COLUMNS = [
    "BilledCost", "BillingAccountId", "BillingAccountName", "BillingCurrency", "BillingPeriodEnd",
    "BillingPeriodStart", "ChargeCategory", "ChargeClass", "ChargeDescription", "ChargeFrequency",
    "ChargePeriodEnd", "ChargePeriodStart", "ConsumedQuantity", "ConsumedUnit", "ContractedCost",
    "EffectiveCost", "InvoiceIssuerName", "ListCost", "PricingCategory", "PricingQuantity", "PricingUnit",
    "ProviderName", "PublisherName", "RegionId", "ResourceId", "ResourceName", "ServiceCategory",
    "ServiceName", "ServiceProviderName", "ServiceSubcategory", "SkuId", "SkuMeter", "SubAccountId",
    "SubAccountName",
]  # fmt: skip
AZURE_MODELS = ["gpt-4o-2024-08-06", "gpt-4o-mini-2024-07-18"]
SUBSCRIPTIONS = ["00000000-0000-0000-0000-00000000a11a", "00000000-0000-0000-0000-00000000b22b"]


def focus_row(day, cost, description, category="Usage", quantity="", unit="", meter="", service="Azure OpenAI", sub=0, end=None):
    row = dict.fromkeys(FOCUS_COLUMNS, "")
    row.update(
        {
            "BilledCost": cost,
            "BillingAccountId": "/providers/Microsoft.Billing/billingAccounts/ledger-test",
            "BillingAccountName": "Ledger Test",
            "BillingCurrency": "USD",
            "BillingPeriodStart": "2025-01-01T00:00:00Z",
            "BillingPeriodEnd": "2025-02-01T00:00:00Z",
            "ChargeCategory": category,
            "ChargeDescription": description,
            "ChargeFrequency": "Usage-Based" if category == "Usage" else "One-Time",
            "ChargePeriodStart": rfc3339(day),
            "ChargePeriodEnd": rfc3339(end or day + DAY),
            "ConsumedQuantity": quantity,
            "ConsumedUnit": unit,
            "ContractedCost": cost,
            "EffectiveCost": cost,
            "InvoiceIssuerName": "Microsoft",
            "ListCost": cost,
            "PricingCategory": "Standard" if category == "Usage" else "",
            "ProviderName": "Microsoft",
            "PublisherName": "Microsoft",
            "RegionId": "eastus2",
            "ResourceName": "aoai-ledger-east" if service == "Azure OpenAI" else "stledger",
            "ServiceCategory": "AI and Machine Learning" if service == "Azure OpenAI" else "Storage",
            "ServiceName": service,
            "ServiceProviderName": "Microsoft",
            "ServiceSubcategory": "Generative AI" if service == "Azure OpenAI" else "Object Storage",
            "SkuMeter": meter,
            "SubAccountId": f"/subscriptions/{SUBSCRIPTIONS[sub]}",
            "SubAccountName": f"ledger-{sub}",
        }
    )
    return row


def csv_line(row):
    cells = []
    for column in FOCUS_COLUMNS:
        cell = str(row[column])
        cells.append('"' + cell.replace('"', '""') + '"' if any(c in cell for c in ',"\n') else cell)
    return ",".join(cells)


def focus():
    sums = Sums()
    rows = []
    for day in DAYS:
        for sub in (0, 1):
            for model in AZURE_MODELS:
                if RNG.random() < 0.5:
                    continue
                for word, kind in [("Input", "input"), ("Cached Input", "cached_input"), ("Output", "output")]:
                    if kind == "cached_input" and RNG.random() < 0.6:
                        continue
                    tokens = RNG.randint(1, 40_000_000)
                    if RNG.random() < 0.5:
                        quantity, unit = str(Decimal(tokens).scaleb(-3)), "1K Tokens"
                    else:
                        quantity, unit = str(tokens), "Tokens"
                    cost = Decimal(RNG.randint(1, 10**12)).scaleb(-10)
                    meter = f"{model} {word} Tokens"
                    rows.append(focus_row(day, format(cost, "f"), f"{meter} - Global", quantity=quantity, unit=unit, meter=meter, sub=sub))
                    sums.line("microsoft", model, kind, day, "USD", quantity=tokens, cost=cost)
        if day.day % 6 == 0:
            cost = Decimal(RNG.randint(1, 10**6)).scaleb(-6)
            rows.append(focus_row(day, format(cost, "f"), "Hot LRS Data Stored", quantity="12.5", unit="GB/Month", meter="Data Stored", service="Storage", sub=1))
            sums.line("microsoft", None, "other", day, "USD", cost=cost)
    # a credit over the month, on the first day
    rows.append(focus_row(DAYS[0], "-50.00", "Azure OpenAI credit", category="Credit", end=DAYS[-1] + DAY))
    sums.line("microsoft", None, "other", DAYS[0], "USD", cost=Decimal("-50.00"))
    write("focus.csv", ",".join(FOCUS_COLUMNS) + "\n" + "".join(csv_line(r) + "\n" for r in rows))
    sums.write("focus.csv")


# --- bad rows ------------------------------------------------------------------------------------------


def bad_rows_openai_costs():
    sums = Sums()
    day = DAYS[9]
    good = result_cost(1.25, "gpt-4o-2024-08-06, output", PROJECTS[0])
    sums.line("openai", "gpt-4o-2024-08-06", "output", day, "USD", cost=Decimal("1.25"))
    bad = [
        ({"object": "organization.costs.result", "line_item": "gpt-4o-2024-08-06, input"}, "missing_field"),
        (result_cost("12,50", "gpt-4o-2024-08-06, input", None), "bad_amount"),
        (result_cost(True, "gpt-4o-2024-08-06, input", None), "wrong_type"),
        ({**result_cost(2.5, "gpt-4o-2024-08-06, input", None), "amount": {"value": 2.5, "currency": "dollars"}}, "unknown_currency"),
    ]
    page1 = {"object": "page", "data": [{"object": "bucket", "start_time": unix(day), "end_time": unix(day + DAY), "results": [good] + [r for r, _ in bad]}], "has_more": True, "next_page": "page_2"}
    sums.bad += [(i + 2, code) for i, (_, code) in enumerate(bad)]
    # a bucket bounded in milliseconds: its result is a bad timestamp
    page2 = {"object": "page", "data": [{"object": "bucket", "start_time": unix(day) * 1000, "end_time": unix(day + DAY) * 1000, "results": [good]}], "has_more": True, "next_page": "page_3"}
    sums.bad.append((6, "bad_timestamp"))
    # an error response saved among the pages
    error = {"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}}
    sums.bad.append((7, "malformed_record"))
    page3 = {"object": "page", "data": [{"object": "bucket", "start_time": unix(day), "end_time": unix(day + DAY), "results": [good]}], "has_more": False, "next_page": None}
    sums.line("openai", "gpt-4o-2024-08-06", "output", day, "USD", cost=Decimal("1.25"))
    write("bad_rows_openai_costs.json", "".join(json.dumps(p, indent=2) + "\n" for p in [page1, page2, error, page3]))
    sums.write("bad_rows_openai_costs.json")


def bad_rows_openai_usage():
    sums = Sums()
    day = DAYS[4]
    good = usage_result("gpt-4o-2024-08-06", PROJECTS[0], False, 1000, 800, 500, 5)
    add_usage(sums, day, "gpt-4o-2024-08-06", good)
    negative = usage_result("gpt-4o-2024-08-06", PROJECTS[0], False, -1000, 0, 500, 5)
    inconsistent = usage_result("gpt-4o-2024-08-06", PROJECTS[0], False, 1000, 1200, 500, 5)
    missing = usage_result("gpt-4o-2024-08-06", PROJECTS[0], False, 1000, 0, 500, 5)
    del missing["num_model_requests"]
    wrong = usage_result("gpt-4o-2024-08-06", PROJECTS[0], False, "1000", 0, 500, 5)
    bucket = {"object": "bucket", "start_time": unix(day), "end_time": unix(day + DAY), "results": [good, negative, inconsistent, missing, wrong]}
    sums.bad += [(2, "negative_value"), (3, "inconsistent_tokens"), (4, "missing_field"), (5, "wrong_type")]
    line1 = json.dumps({"object": "page", "data": [bucket], "has_more": True, "next_page": "page_2"})
    # a page cut off mid-way (a failed download), then the pages after it
    broken = line1[: len(line1) // 2]
    sums.bad.append((6, "malformed_record"))
    line3 = json.dumps({"object": "page", "data": [{**bucket, "results": [good]}], "has_more": False, "next_page": None})
    add_usage(sums, day, "gpt-4o-2024-08-06", good)
    write("bad_rows_openai_usage.jsonl", "\n".join([line1, broken, line3]) + "\n")
    sums.write("bad_rows_openai_usage.jsonl")


def bad_rows_anthropic_cost():
    sums = Sums()
    day = DAYS[20]
    good = non_token("250.5", "USD", WORKSPACES[0], "Web Search", "web_search")
    sums.line("anthropic", None, "web_search", day, "USD", cost=Decimal("2.505"))
    bad = [
        ({**good, "amount": "12,5"}, "bad_amount"),
        ({**good, "currency": "usd$"}, "unknown_currency"),
        ({k: v for k, v in good.items() if k != "amount"}, "missing_field"),
        ({**good, "amount": 250.5, "model": 3}, "wrong_type"),
    ]
    pages_ = [
        {"data": [{"starting_at": rfc3339(day), "ending_at": rfc3339(day + DAY), "results": [good] + [r for r, _ in bad]}], "has_more": True, "next_page": "page_2"},
        {"data": [{"starting_at": "2025-13-01T00:00:00Z", "ending_at": rfc3339(day + DAY), "results": [good]}], "has_more": False, "next_page": None},
    ]
    sums.bad += [(i + 2, code) for i, (_, code) in enumerate(bad)] + [(6, "bad_timestamp")]
    write("bad_rows_anthropic_cost.json", json.dumps(pages_, indent=2) + "\n")
    sums.write("bad_rows_anthropic_cost.json")


def bad_rows_anthropic_usage():
    sums = Sums()
    day = DAYS[30]
    good = {"uncached_input_tokens": 1500, "cache_creation": {"ephemeral_1h_input_tokens": 1000, "ephemeral_5m_input_tokens": 500}, "cache_read_input_tokens": 200, "output_tokens": 500, "server_tool_use": {"web_search_requests": 10}, "workspace_id": WORKSPACES[0], "model": CLAUDE[0], "service_tier": "standard", "context_window": "0-200k", "api_key_id": None}
    for kind, q in [("input", 1500), ("cached_input", 200), ("cache_write", 1500), ("output", 500), ("web_search", 10)]:
        sums.line("anthropic", CLAUDE[0], kind, day, quantity=q)
    bad = [
        ({**good, "output_tokens": -500}, "negative_value"),
        ({k: v for k, v in good.items() if k != "uncached_input_tokens"}, "missing_field"),
        ({**good, "server_tool_use": {"web_search_requests": 1.5}}, "wrong_type"),
    ]
    page = {"data": [{"starting_at": rfc3339(day), "ending_at": rfc3339(day + DAY), "results": [good] + [r for r, _ in bad]}], "has_more": True, "next_page": "page_2"}
    sums.bad += [(i + 2, code) for i, (_, code) in enumerate(bad)]
    # the next page as an error body: no data
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    sums.bad.append((5, "malformed_record"))
    write("bad_rows_anthropic_usage.json", "".join(json.dumps(p, indent=2) + "\n" for p in [page, error]))
    sums.write("bad_rows_anthropic_usage.json")


def bad_rows_focus():
    sums = Sums()
    day = DAYS[2]
    meter = "gpt-4o-2024-08-06 Output Tokens"
    good = focus_row(day, "0.5", meter, quantity="50", unit="Tokens", meter=meter)
    sums.line("microsoft", "gpt-4o-2024-08-06", "output", day, "USD", quantity=50, cost=Decimal("0.5"))
    bad = [
        ({**good, "ChargePeriodStart": "01/03/2025"}, "bad_timestamp"),
        ({**good, "BilledCost": "n/a"}, "bad_amount"),
        ({**good, "BillingCurrency": "EURO"}, "unknown_currency"),
        ({**good, "ConsumedQuantity": "-5"}, "negative_value"),
        ({**good, "BilledCost": ""}, "missing_field"),
        ({**good, "ConsumedQuantity": "five"}, "wrong_type"),
    ]
    lines = [csv_line(good)] + [csv_line(r) for r, _ in bad] + [csv_line(good) + ",extra", csv_line(good)]
    sums.bad += [(i + 2, code) for i, (_, code) in enumerate(bad)] + [(len(bad) + 2, "malformed_record")]
    sums.line("microsoft", "gpt-4o-2024-08-06", "output", day, "USD", quantity=50, cost=Decimal("0.5"))
    write("bad_rows_focus.csv", ",".join(FOCUS_COLUMNS) + "\n" + "\n".join(lines) + "\n")
    sums.write("bad_rows_focus.csv")


def main():
    os.makedirs(OUT, exist_ok=True)
    openai_costs()
    openai_usage()
    anthropic_cost()
    anthropic_usage()
    focus()
    bad_rows_openai_costs()
    bad_rows_openai_usage()
    bad_rows_anthropic_cost()
    bad_rows_anthropic_usage()
    bad_rows_focus()


if __name__ == "__main__":
    main()
