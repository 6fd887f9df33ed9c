#!/usr/bin/env python3
"""Writes sample_data/bills/: the OpenAI, Anthropic and Databricks bills of the sample month,
made from the ledger of the sample logs, as the providers' APIs and Databricks' system tables
return them, with planted faults for the demo.

    python3 scripts/sample_bills.py TOKENLEDGER_BIN WAREHOUSE [OUT_DIR]

WAREHOUSE is a warehouse of the demo (scripts/demo.sh: sample_data/ ingested and rolled up).
The bills charge what the ledger priced, per day and model, under the model ids of
sample_data/config/bill_mapping.csv, except for the planted faults:
- Anthropic bills claude-3-5-sonnet's output at 10 % above the price book (a price the book
  has wrong: `reconcile` says price_mismatch);
- Anthropic bills claude-3-opus usage on a day the logs have none (a script that called the API
  around the gateway: missing_in_ledger);
- Databricks' system.billing.usage charges the provisioned endpoint rag-assistant twice its DBUs
  for six hours of 2025-01-14 (it scaled out: reconcile flags the pool's capacity row, and
  `chargeback --capacity-from-bill` charges the billed hours).
The Databricks bills are an export of system.billing.usage (the pay-per-token foundation models'
cost per hour and the provisioned endpoints' every hour, in DBUs at the list price of
databricks_list_prices_2025-01.csv) and one of system.ai_gateway.external_model_spend (the
external models' spend per hour and user: for OpenAI and Anthropic it is not counted, their own
bills are).
Standard library only; run it again after the sample logs or prices change.
"""
import csv
import datetime as dt
import io
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

MONTH = "2025-01"
MARKUP = {("claude-3-5-sonnet", "output"): Decimal("1.1")}
BYPASSED = ("anthropic", "claude-3-opus", "2025-01-18", 250_000, 40_000)  # provider, entity, day (none in the logs), input, output

QUERY = f"""
SELECT CAST(u."date" AS VARCHAR) AS day, u.provider, u.served_entity_name AS entity,
       sum(u.requests) AS requests, sum(u.input_tokens) AS input, sum(u.cache_read_input_tokens) AS cached,
       sum(u.cache_creation_input_tokens) AS cache_write, sum(u.output_tokens) AS output,
       CAST(sum(CAST(u.input_tokens AS DECIMAL(20, 0)) * p.input_per_token) AS VARCHAR) AS input_cost,
       CAST(sum(CAST(u.cache_read_input_tokens AS DECIMAL(20, 0)) * COALESCE(p.cache_read_per_token, 0)) AS VARCHAR) AS cached_cost,
       CAST(sum(CAST(u.cache_creation_input_tokens AS DECIMAL(20, 0)) * COALESCE(p.cache_write_per_token, 0)) AS VARCHAR) AS cache_write_cost,
       CAST(sum(CAST(u.output_tokens AS DECIMAL(20, 0)) * COALESCE(p.output_per_token, 0)) AS VARCHAR) AS output_cost
FROM usage_daily u
JOIN prices p
  ON p.price_version = u.price_version AND p.served_entity_name = u.served_entity_name
 AND p.service_tier = u.service_tier AND p.above_prompt_tokens = u.above_prompt_tokens AND p.inference_geo = ''
 AND CAST(u."date" AS TIMESTAMP) >= p.valid_from AND (p.valid_to IS NULL OR CAST(u."date" AS TIMESTAMP) < p.valid_to)
WHERE u.provider IN ('openai', 'anthropic') AND u."date" BETWEEN DATE '{MONTH}-01' AND DATE '{MONTH}-31'
GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
"""


def ledger(binary, warehouse):
    out = subprocess.run([binary, "-w", warehouse, "--format", "csv", "sql", QUERY], check=True,
                         capture_output=True, text=True).stdout
    return list(csv.DictReader(io.StringIO(out)))


def mapping(config):
    names = {}
    with open(config / "bill_mapping.csv", newline="") as f:
        for row in csv.DictReader(line for line in f if not line.startswith("#")):
            if row.get("served_entity_name"):
                names[row["served_entity_name"]] = row["provider_model"]
    return names


DBU_PRICE = Decimal("0.07")  # USD per DBU, the list price of the serving SKU in the sample
SKU = "PREMIUM_SERVERLESS_REAL_TIME_INFERENCE_US_EAST_N_VIRGINIA"
SCALED_OUT = ("rag-assistant", "2025-01-14", range(8, 14))  # endpoint, day, hours billed twice
WORKSPACE = "1234567890123456"

HOURLY = f"""
SELECT CAST(hour AS VARCHAR) AS hour, provider, endpoint_name AS endpoint, served_entity_name AS entity,
       requester, CAST(sum(cost) AS VARCHAR) AS cost
FROM usage_hourly
WHERE cost IS NOT NULL AND provider IS NOT NULL
  AND hour >= CAST('{MONTH}-01T00:00:00Z' AS TIMESTAMP) AND hour < CAST('2025-02-01T00:00:00Z' AS TIMESTAMP)
GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
"""


def query(binary, warehouse, sql):
    out = subprocess.run([binary, "-w", warehouse, "--format", "csv", "sql", sql], check=True,
                         capture_output=True, text=True).stdout
    return list(csv.DictReader(io.StringIO(out)))


def pools(config):
    with open(config / "capacity.csv", newline="") as f:
        return list(csv.DictReader(line for line in f if not line.startswith("#")))


def text(value):
    """A struct or map column as a CSV download writes it: JSON text."""
    return json.dumps(value, separators=(",", ":"))


def instant(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def databricks_bills(binary, warehouse, config, out, names):
    """system.billing.usage and system.ai_gateway.external_model_spend of the month, as a
    `SELECT *` downloads them to CSV (structs as JSON text), and the list prices that price the DBUs."""
    pooled = {(p["endpoint_name"], p["served_entity_name"]) for p in pools(config)}
    rates = {}
    for p in pools(config):
        rates[p["endpoint_name"]] = rates.get(p["endpoint_name"], Decimal(0)) + Decimal(p["cost_per_hour"])
    entities = {}
    for p in pools(config):
        entities.setdefault(p["endpoint_name"], []).append(p["served_entity_name"])
    rows = query(binary, warehouse, HOURLY)
    billing = []

    def bill(start, endpoint, model, serving, dbus):
        end = start + dt.timedelta(hours=1)
        gateway = {"endpoint_name": endpoint}
        if model:
            gateway["destination_model"] = model
        billing.append({
            "record_id": f"rec-{len(billing) + 1:05d}", "workspace_id": WORKSPACE, "sku_name": SKU,
            "usage_start_time": instant(start), "usage_end_time": instant(end), "usage_date": start.date().isoformat(),
            "custom_tags": text({"team": "ml-platform"}), "usage_unit": "DBU", "usage_quantity": f"{dbus:.6f}",
            "usage_metadata": text({"endpoint_name": endpoint, "ai_gateway": gateway}),
            "identity_metadata": text({"run_by": "gateway-sp@example.com"}), "record_type": "ORIGINAL",
            "billing_origin_product": "MODEL_SERVING", "product_features": text({"serving_type": serving})})

    # pay-per-token foundation models: their hour's cost in DBUs (the pools' traffic is paid by the hour)
    ppt = {}
    for r in rows:
        if r["provider"] == "databricks" and (r["endpoint"], r["entity"]) not in pooled:
            key = (r["hour"], r["endpoint"], r["entity"])
            ppt[key] = ppt.get(key, Decimal(0)) + Decimal(r["cost"])
    for (hour, endpoint, entity), cost in sorted(ppt.items()):
        start = dt.datetime.fromisoformat(hour.replace("Z", "+00:00"))
        bill(start, endpoint, entity, "FOUNDATION_MODEL", (cost / DBU_PRICE).quantize(Decimal("1e-6")))
    # provisioned throughput: every hour of the month, per endpoint (its pools' rates together)
    first = dt.datetime.fromisoformat(f"{MONTH}-01T00:00:00+00:00")
    for h in range(31 * 24):
        start = first + dt.timedelta(hours=h)
        for endpoint in sorted(rates):
            dbus = rates[endpoint] / DBU_PRICE
            endpoint_scaled, day, hours = SCALED_OUT
            if endpoint == endpoint_scaled and start.date().isoformat() == day and start.hour in hours:
                dbus *= 2
            # one pool behind a gateway endpoint that also routes pay-per-token: its row names its model
            mixed = any(k[1] == endpoint for k in ppt) and len(entities[endpoint]) == 1
            model = entities[endpoint][0] if mixed else None
            bill(start, endpoint, model, "PROVISIONED_THROUGHPUT", dbus.quantize(Decimal("1e-6")))
    columns = list(billing[0])
    with open(out / f"databricks_billing_usage_{MONTH}.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=columns, lineterminator="\n")
        w.writeheader()
        w.writerows(billing)
    # the external models' spend, per hour, provider, model, endpoint and user
    with open(out / f"databricks_external_model_spend_{MONTH}.csv", "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["workspace_id", "usage_start_time", "usage_end_time", "usage_date", "usage_unit",
                    "usage_quantity", "usage_metadata", "identity_metadata"])
        for r in rows:
            if r["provider"] == "databricks" or not Decimal(r["cost"]):
                continue
            start = dt.datetime.fromisoformat(r["hour"].replace("Z", "+00:00"))
            meta = {"provider": r["provider"].upper().replace("-", "_"), "model": names.get(r["entity"], r["entity"]),
                    "endpoint_name": r["endpoint"]}
            w.writerow([WORKSPACE, instant(start), instant(start + dt.timedelta(hours=1)), start.date().isoformat(),
                        "USD", f"{Decimal(r['cost']).normalize():f}", text(meta), text({"run_by": r["requester"]})])
    with open(out / f"databricks_list_prices_{MONTH}.csv", "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["price_start_time", "price_end_time", "sku_name", "cloud", "currency_code", "usage_unit", "pricing"])
        w.writerow(["2024-06-01T00:00:00.000Z", "", SKU, "AWS", "USD", "DBU",
                    json.dumps({"default": str(DBU_PRICE), "effective_list": {"default": str(DBU_PRICE)}})])


def unix(day):
    return int(dt.datetime.fromisoformat(day).replace(tzinfo=dt.timezone.utc).timestamp())


def iso(day):
    return f"{day}T00:00:00Z"


def next_day(day):
    return (dt.date.fromisoformat(day) + dt.timedelta(days=1)).isoformat()


def amount(text):
    """A cost as the bill's decimal text: exact, rounded the way the providers do (OpenAI to 1e-10
    dollars in the API's floats, Anthropic to 1e-4 cents)."""
    return Decimal(text or "0")


def main():
    binary, warehouse = sys.argv[1], sys.argv[2]
    root = Path(__file__).resolve().parent.parent
    out = Path(sys.argv[3]) if len(sys.argv) > 3 else root / "sample_data" / "bills"
    out.mkdir(parents=True, exist_ok=True)
    names = mapping(root / "sample_data" / "config")
    rows = ledger(binary, warehouse)
    days = sorted({r["day"] for r in rows})
    opus_rates = {"input": Decimal("15") / 1_000_000, "output": Decimal("75") / 1_000_000}
    by_day = {d: [r for r in rows if r["day"] == d] for d in days}
    oa_costs, oa_usage, an_cost, an_usage = [], [], [], []
    for day in days:
        costs, usage, a_cost, a_usage = [], [], [], []
        items = list(by_day[day])
        if day == BYPASSED[2]:
            provider, entity, _, tokens_in, tokens_out = BYPASSED
            items.append({"provider": provider, "entity": entity, "requests": "40", "input": str(tokens_in),
                          "cached": "0", "cache_write": "0", "output": str(tokens_out),
                          "input_cost": str(tokens_in * opus_rates["input"]), "cached_cost": "0",
                          "cache_write_cost": "0", "output_cost": str(tokens_out * opus_rates["output"])})
        for r in items:
            model = names.get(r["entity"], r["entity"])
            kinds = [("input", int(r["input"]), amount(r["input_cost"])),
                     ("cached input", int(r["cached"]), amount(r["cached_cost"])),
                     ("cache write", int(r["cache_write"]), amount(r["cache_write_cost"])),
                     ("output", int(r["output"]), amount(r["output_cost"]))]
            kinds = [(k, n, c * MARKUP.get((r["entity"], k), Decimal(1))) for k, n, c in kinds]
            if r["provider"] == "openai":
                usage.append({"object": "organization.usage.completions.result",
                              "input_tokens": int(r["input"]) + int(r["cached"]) + int(r["cache_write"]),
                              "input_cached_tokens": int(r["cached"]), "input_cache_write_tokens": int(r["cache_write"]),
                              "output_tokens": int(r["output"]), "input_audio_tokens": 0, "output_audio_tokens": 0,
                              "num_model_requests": int(r["requests"]), "project_id": "proj_gateway", "user_id": None,
                              "api_key_id": None, "model": model, "batch": False, "service_tier": None})
                for kind, n, c in kinds:
                    if c:
                        value = json.loads(str(c.quantize(Decimal("1e-10")).normalize()))
                        costs.append({"object": "organization.costs.result",
                                      "amount": {"value": value, "currency": "usd"},
                                      "line_item": f"{model}, {kind}", "project_id": "proj_gateway"})
            else:
                a_usage.append({"uncached_input_tokens": int(r["input"]), "cache_read_input_tokens": int(r["cached"]),
                                "cache_creation": {"ephemeral_5m_input_tokens": int(r["cache_write"]),
                                                   "ephemeral_1h_input_tokens": 0},
                                "output_tokens": int(r["output"]), "server_tool_use": {"web_search_requests": 0},
                                "api_key_id": None, "workspace_id": "wrkspc_gateway", "model": model,
                                "service_tier": "standard", "context_window": "0-200k"})
                token_types = {"input": "uncached_input_tokens", "cached input": "cache_read_input_tokens",
                               "cache write": "cache_creation.ephemeral_5m_input_tokens", "output": "output_tokens"}
                for kind, n, c in kinds:
                    if c:
                        cents = (c * 100).quantize(Decimal("1e-4")).normalize()
                        a_cost.append({"currency": "USD", "amount": f"{cents:f}", "workspace_id": "wrkspc_gateway",
                                       "description": f"{model} {kind} tokens", "cost_type": "tokens",
                                       "context_window": "0-200k", "model": model, "service_tier": "standard",
                                       "token_type": token_types[kind], "inference_geo": "global"})
        start, end = unix(day), unix(next_day(day))
        oa_costs.append({"object": "bucket", "start_time": start, "end_time": end, "results": costs})
        oa_usage.append({"object": "bucket", "start_time": start, "end_time": end, "results": usage})
        an_cost.append({"starting_at": iso(day), "ending_at": iso(next_day(day)), "results": a_cost})
        an_usage.append({"starting_at": iso(day), "ending_at": iso(next_day(day)), "results": a_usage})

    def pages(buckets, size, openai):
        """The buckets in pages of `size`, linked by has_more / next_page as the APIs page them."""
        chunks = [buckets[i:i + size] for i in range(0, len(buckets), size)]
        out = []
        for i, chunk in enumerate(chunks):
            more = i + 1 < len(chunks)
            page = {"data": chunk, "has_more": more, "next_page": f"page_{i + 2}" if more else None}
            if openai:
                page = {"object": "page", **page}
            out.append(page)
        return out

    (out / f"openai_costs_{MONTH}.json").write_text(
        "\n".join(json.dumps(p, indent=1) for p in pages(oa_costs, 7, True)) + "\n")
    (out / f"openai_usage_{MONTH}.jsonl").write_text(
        "".join(json.dumps(p) + "\n" for p in pages(oa_usage, 7, True)))
    (out / f"anthropic_cost_{MONTH}.json").write_text(
        "\n".join(json.dumps(p, indent=1) for p in pages(an_cost, 7, False)) + "\n")
    (out / f"anthropic_usage_{MONTH}.json").write_text(
        "\n".join(json.dumps(p, indent=1) for p in pages(an_usage, 7, False)) + "\n")
    databricks_bills(binary, warehouse, root / "sample_data" / "config", out, names)
    print(f"wrote the bills of {MONTH} to {out}")


if __name__ == "__main__":
    main()
