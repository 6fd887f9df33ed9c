#!/usr/bin/env python3
r"""Write tests/data/bills/databricks/: Databricks system table exports for January 2025 and, independently, what reading
them must give.

    python3 scripts/databricks_bill_fixtures.py        (standard library only; fixed seed, no wall clock)

Exports (columns from the Databricks docs: "Billable usage system table reference", "Pricing system table reference",
"Analyze Unity AI Gateway cost"; see tests/data/bills/databricks/README.md):
* billing_usage.csv     system.billing.usage as a SELECT * downloads to CSV: structs and maps as JSON text, null as an
                        empty cell, usage_quantity with Spark's 18 places, timestamps ISO 8601 with Z;
* billing_usage.jsonl   the same rows as JSON lines (structs and maps nested, decimals as JSON numbers, timestamps as the
                        reference's examples write them, `2025-01-09 10:00:00.000+00:00`);
  rows: pay-per-token foundation model endpoints (three hours a day), a provisioned-throughput endpoint billed every
  hour of three days, AI Gateway rows (usage_metadata.ai_gateway with destination_model, custom tags), a RETRACTION of
  one row with its RESTATEMENT, and rows of other products (JOBS, SQL, ...) that are skipped;
* list_prices.csv       system.billing.list_prices: the serving SKU's price changes on 2025-01-16 (price_end_time null
                        = in force);
* external_model_spend.csv  system.ai_gateway.external_model_spend: hourly USD per provider (openai, anthropic),
                        model, endpoint and run_by;
* bad_rows_<export>.csv one or two good rows and one row of each kind of bad row.

Beside each, <stem>.expected.csv: the lines summed per (provider, provider_model, date, currency) with usage_quantity and
cost (exact decimal text, no trailing zeros; usage_quantity empty when no line has one), sorted; <stem>.expected_skipped.csv
the number of rows skipped (other products); for bad_rows_*, <stem>.expected_bad.csv: row_number,reason_code. The sums
are computed here from what was generated, not by reading the files back, with these rules:
* rows are numbered 1.. in file order (CSV data rows without the header; JSON lines one row each);
* billing: only billing_origin_product MODEL_SERVING and AI_GATEWAY rows are lines (the others skipped); provider
  databricks; provider_model = usage_metadata.ai_gateway.destination_model, else usage_metadata.endpoint_name; the date
  is usage_start_time's (UTC); cost = usage_quantity x pricing.default of the sku's list price with price_start_time <=
  usage_start_time < price_end_time (null: open), exact, in its currency_code; signs kept (a RETRACTION is negative);
* external spend: provider = usage_metadata.provider lower-cased, provider_model = usage_metadata.model, cost =
  usage_quantity in usage_unit (USD), no usage_quantity.
"""

import json
import os
import random
from datetime import datetime, timedelta, timezone
from decimal import Decimal, getcontext

from bill_fixtures import dec_text  # the same decimal text as the other bills' sums

getcontext().prec = 80  # products exact: far more digits than any here

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "bills", "databricks")
RNG = random.Random(20250131)
DAYS = [datetime(2025, 1, 1, tzinfo=timezone.utc) + timedelta(days=d) for d in range(31)]
HOUR = timedelta(hours=1)
ACCOUNT = "a1b2c3d4-0000-4000-8000-000000000001"
WORKSPACES = ["1234567890123456", "6543210987654321"]
USERS = ["ana@example.com", "bob@example.com", "4f2c7e1a-5b6d-4c8e-9a0b-1c2d3e4f5a6b"]  # the last a service principal

SERVING = "PREMIUM_SERVERLESS_REAL_TIME_INFERENCE_US_EAST_N_VIRGINIA"
LAUNCH = "PREMIUM_SERVERLESS_REAL_TIME_INFERENCE_LAUNCH_US_EAST_N_VIRGINIA"
GATEWAY = "PREMIUM_AI_GATEWAY_US_EAST_N_VIRGINIA"
JOBS = "PREMIUM_JOBS_SERVERLESS_COMPUTE_US_EAST_N_VIRGINIA"
SQL = "PREMIUM_SERVERLESS_SQL_COMPUTE_US_EAST_N_VIRGINIA"
PRICE_CHANGE = datetime(2025, 1, 16, tzinfo=timezone.utc)
# sku -> [(start, end or None, price)]
PRICES = {
    SERVING: [(datetime(2023, 6, 1, tzinfo=timezone.utc), PRICE_CHANGE, "0.070"), (PRICE_CHANGE, None, "0.082")],
    LAUNCH: [(datetime(2023, 6, 1, tzinfo=timezone.utc), None, "0.070")],
    GATEWAY: [(datetime(2024, 9, 1, tzinfo=timezone.utc), None, "0.065")],
    JOBS: [(datetime(2023, 6, 1, tzinfo=timezone.utc), None, "0.350")],
    SQL: [(datetime(2023, 6, 1, tzinfo=timezone.utc), None, "0.700")],
}

PPT_ENDPOINTS = ["databricks-claude-sonnet-4-5", "databricks-meta-llama-3-3-70b-instruct"]
PT_ENDPOINT = "pt-llama-70b"
GATEWAY_ENDPOINT = "main.ai.chat_gateway"
GATEWAY_MODELS = ["databricks-claude-sonnet-4-5", "databricks-gpt-oss-120b"]


def iso_z(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def sql_time(t):
    return t.strftime("%Y-%m-%d %H:%M:%S.000+00:00")


def spark_decimal(d):
    """A decimal(38,18) as Spark writes it: 18 places."""
    return format(d.quantize(Decimal("1e-18")), "f")


def write(name, text):
    with open(os.path.join(OUT, name), "w", encoding="utf-8", newline="") as f:
        f.write(text)


def csv_cell(value):
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    if any(c in text for c in ',"\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


class Sums:
    """The oracle: the lines an export must give, summed per key."""

    def __init__(self):
        self.sums = {}
        self.bad = []
        self.skipped = 0

    def line(self, provider, model, day, currency, cost, quantity=None):
        key = (provider, model or "", day.strftime("%Y-%m-%d"), currency)
        q, c = self.sums.get(key, (None, Decimal(0)))
        if quantity is not None:
            q = quantity if q is None else q + quantity
        self.sums[key] = (q, c + cost)

    def write(self, stem):
        rows = ["provider,provider_model,date,currency,usage_quantity,cost"]
        for key in sorted(self.sums):
            q, c = self.sums[key]
            cells = list(key) + ["" if q is None else dec_text(q), dec_text(c)]
            assert not any("," in cell for cell in cells), cells
            rows.append(",".join(cells))
        write(stem + ".expected.csv", "\n".join(rows) + "\n")
        write(stem + ".expected_skipped.csv", f"skipped\n{self.skipped}\n")
        if stem.startswith("bad_rows_"):
            write(stem + ".expected_bad.csv", "row_number,reason_code\n" + "".join(f"{n},{code}\n" for n, code in self.bad))


def price_at(sku, t):
    found = [Decimal(p) for start, end, p in PRICES.get(sku, []) if start <= t and (end is None or t < end)]
    assert len(found) <= 1
    return found[0] if found else None


# --- system.billing.usage -------------------------------------------------------------------------------

BILLING_COLUMNS = [
    "record_id", "account_id", "workspace_id", "sku_name", "cloud", "usage_start_time", "usage_end_time",
    "usage_date", "custom_tags", "usage_unit", "usage_quantity", "usage_metadata", "identity_metadata",
    "record_type", "ingestion_date", "billing_origin_product", "product_features", "usage_type",
]


def usage_metadata(endpoint=None, gateway=None, job_id=None, warehouse_id=None):
    meta = {"cluster_id": None, "job_id": job_id, "warehouse_id": warehouse_id, "endpoint_name": endpoint,
            "endpoint_id": None if endpoint is None else "ep-" + endpoint.replace(".", "-")}
    if gateway is not None:
        endpoint_name, model = gateway
        meta["ai_gateway"] = {"endpoint_name": endpoint_name, "endpoint_id": "gw-0001", "destination_model": model,
                              "destination_id": "dst-" + model}
    return meta


def billing_row(n, start, sku, quantity, product, meta, run_by, serving_type=None, tags=None, record_type="ORIGINAL",
                workspace=0, record_id=None):
    return {
        "record_id": record_id or f"rec-{n:05d}",
        "account_id": ACCOUNT,
        "workspace_id": WORKSPACES[workspace],
        "sku_name": sku,
        "cloud": "AWS",
        "usage_start_time": start,
        "usage_end_time": start + HOUR,
        "usage_date": start.strftime("%Y-%m-%d"),
        "custom_tags": tags or {},
        "usage_unit": "DBU",
        "usage_quantity": quantity,
        "usage_metadata": meta,
        "identity_metadata": {"run_as": None, "run_by": run_by, "owned_by": None},
        "record_type": record_type,
        "ingestion_date": (start + timedelta(days=1)).strftime("%Y-%m-%d"),
        "billing_origin_product": product,
        "product_features": {"is_serverless": True, "serving_type": serving_type, "is_photon": None},
        "usage_type": "COMPUTE_TIME",
    }


def csv_line(row, columns):
    """A row as a SELECT * downloads it to CSV: timestamps ISO 8601 with Z, decimals with 18 places."""
    cells = []
    for column in columns:
        value = row[column]
        if isinstance(value, datetime):
            value = iso_z(value)
        elif isinstance(value, Decimal):
            value = spark_decimal(value)
        cells.append(csv_cell(value))
    return ",".join(cells)


def billing_csv_line(row):
    return csv_line(row, BILLING_COLUMNS)


def billing_json_line(row):
    out = {}
    for column in BILLING_COLUMNS:
        value = row[column]
        if isinstance(value, datetime):
            value = sql_time(value)
        elif isinstance(value, Decimal):
            value = RawNumber(spark_decimal(value))
        if value is None:
            continue  # to_json leaves out null fields
        out[column] = value
    return dumps_raw(out)


class RawNumber(str):
    """A JSON number written with exactly this text."""


def dumps_raw(value):
    if isinstance(value, RawNumber):
        return str(value)
    if isinstance(value, dict):
        return "{" + ",".join(json.dumps(k) + ":" + dumps_raw(v) for k, v in value.items()) + "}"
    return json.dumps(value)


def account_line(sums, row):
    """The oracle's reading of one billing row."""
    if row["billing_origin_product"] not in ("MODEL_SERVING", "AI_GATEWAY"):
        sums.skipped += 1
        return
    meta = row["usage_metadata"]
    model = (meta.get("ai_gateway") or {}).get("destination_model") or meta.get("endpoint_name")
    price = price_at(row["sku_name"], row["usage_start_time"])
    assert price is not None, row
    q = row["usage_quantity"]
    sums.line("databricks", model, row["usage_start_time"], "USD", q * price, quantity=q)


def dbus(low, high):
    return Decimal(RNG.randint(int(low * 1_000_000), int(high * 1_000_000))) / Decimal(1_000_000)


def billing_rows():
    rows = []
    n = 0

    def add(*args, **kwargs):
        nonlocal n
        n += 1
        row = billing_row(n, *args, **kwargs)
        rows.append(row)
        return row

    for d, day in enumerate(DAYS):
        # pay-per-token foundation model endpoints, three busy hours a day
        for e, endpoint in enumerate(PPT_ENDPOINTS):
            for hour in (9, 13, 17):
                add(day + hour * HOUR, SERVING, dbus(0.5, 40), "MODEL_SERVING", usage_metadata(endpoint),
                    USERS[(d + hour + e) % 3], serving_type="FOUNDATION_MODEL", workspace=e % 2)
        # AI Gateway: an endpoint routing to two destination models, with the endpoint's tags
        for m, model in enumerate(GATEWAY_MODELS):
            product = "AI_GATEWAY" if m == 1 else "MODEL_SERVING"
            add(day + 11 * HOUR, GATEWAY if m == 1 else SERVING, dbus(0.1, 12), product,
                usage_metadata(None, (GATEWAY_ENDPOINT, model)), USERS[(d + m) % 2],
                serving_type="FOUNDATION_MODEL", tags={"team": "search", "cost_center": "CC-100"})
        # a cold start now and then
        if d % 7 == 3:
            add(day + 8 * HOUR, LAUNCH, dbus(0.01, 0.5), "MODEL_SERVING", usage_metadata(PPT_ENDPOINTS[0]),
                USERS[0], serving_type="FOUNDATION_MODEL")
        # other products of the same account: skipped
        add(day + 2 * HOUR, JOBS, dbus(1, 50), "JOBS", usage_metadata(job_id=f"{900 + d}"), USERS[1])
        if d % 2 == 0:
            add(day + 14 * HOUR, SQL, dbus(1, 30), "SQL", usage_metadata(warehouse_id="wh-01"), USERS[0])
    # a provisioned-throughput endpoint, billed for every hour it is up (three days around the price change)
    for day in DAYS[14:17]:
        for hour in range(24):
            add(day + hour * HOUR, SERVING, Decimal("85.714286"), "MODEL_SERVING", usage_metadata(PT_ENDPOINT),
                USERS[2], serving_type="FOUNDATION_MODEL", workspace=1, tags={"team": "platform"})
    # a correction: the 20th's 09:00 row of the first endpoint retracted and restated
    original = next(r for r in rows if r["usage_start_time"] == DAYS[19] + 9 * HOUR
                    and r["usage_metadata"]["endpoint_name"] == PPT_ENDPOINTS[0])
    retraction = dict(original, record_type="RETRACTION", usage_quantity=-original["usage_quantity"],
                      record_id=original["record_id"] + "-r", ingestion_date="2025-01-23")
    restatement = dict(original, record_type="RESTATEMENT", usage_quantity=original["usage_quantity"] + Decimal("1.25"),
                       record_id=original["record_id"] + "-s", ingestion_date="2025-01-23")
    rows += [retraction, restatement]
    return rows


def billing_usage():
    rows = billing_rows()
    sums = Sums()
    for row in rows:
        account_line(sums, row)
    write("billing_usage.csv", ",".join(BILLING_COLUMNS) + "\n" + "".join(billing_csv_line(r) + "\n" for r in rows))
    write("billing_usage.jsonl", "".join(billing_json_line(r) + "\n" for r in rows))
    sums.write("billing_usage")


def list_prices():
    columns = ["price_start_time", "price_end_time", "account_id", "sku_name", "cloud", "currency_code", "usage_unit",
               "pricing"]
    lines = [",".join(columns)]
    for sku, prices in PRICES.items():
        for start, end, price in prices:
            pricing = {"default": price, "promotional": {"default": price}, "effective_list": {"default": price}}
            cells = [iso_z(start), None if end is None else iso_z(end), ACCOUNT, sku, "AWS", "USD", "DBU", pricing]
            lines.append(",".join(csv_cell(c) for c in cells))
    write("list_prices.csv", "\n".join(lines) + "\n")


def bad_rows_billing_usage():
    sums = Sums()
    day = DAYS[5]
    good = billing_row(1, day + 9 * HOUR, SERVING, Decimal("2.5"), "MODEL_SERVING", usage_metadata(PPT_ENDPOINTS[0]),
                       USERS[0], serving_type="FOUNDATION_MODEL")
    header = ",".join(BILLING_COLUMNS)
    line = billing_csv_line(good)
    start_text = iso_z(good["usage_start_time"])
    quantity_text = spark_decimal(good["usage_quantity"])
    bad = [
        (line.replace(SERVING, "PREMIUM_GPU_SERVERLESS_REAL_TIME_INFERENCE_US_EAST"), "no_list_price"),
        (line.replace("2025-01-06T", "2021-01-06T"), "no_list_price"),  # before any price of the sku
        (line.replace("," + quantity_text + ",", ",2;5,"), "bad_amount"),
        (line.replace("," + quantity_text + ",", ",,"), "missing_field"),
        (line.replace(",ORIGINAL,", ",ADJUSTMENT,"), "wrong_type"),
        (line.replace(start_text, "06/01/2025 09:00"), "bad_timestamp"),
        (line.replace(iso_z(good["usage_end_time"]), iso_z(day + 8 * HOUR)), "bad_timestamp"),  # ends before it starts
        (line.replace('""endpoint_name"":', '""endpoint_name"" '), "malformed_record"),  # usage_metadata not JSON
        (line + ",extra", "malformed_record"),
    ]
    other = billing_row(11, day + 2 * HOUR, JOBS, Decimal("7"), "JOBS", usage_metadata(job_id="12"), USERS[1])
    lines = [line] + [b for b, _ in bad] + [billing_csv_line(other), line]
    sums.bad = [(i + 2, code) for i, (_, code) in enumerate(bad)]
    for row in [good, other, good]:
        account_line(sums, row)
    write("bad_rows_billing_usage.csv", header + "\n" + "\n".join(lines) + "\n")
    sums.write("bad_rows_billing_usage")


# --- system.ai_gateway.external_model_spend -----------------------------------------------------------

SPEND_COLUMNS = [
    "record_id", "account_id", "workspace_id", "usage_start_time", "usage_end_time", "usage_date", "usage_unit",
    "usage_quantity", "usage_metadata", "identity_metadata", "custom_tags",
]
EXTERNAL = [("openai", "gpt-4o"), ("openai", "gpt-4o-mini"), ("anthropic", "claude-sonnet-4-5")]
EXTERNAL_ENDPOINTS = ["main.ai.chat_gateway", "main.ai.agents_gateway"]


def spend_row(n, start, provider, model, endpoint, run_by, usd, workspace=0):
    return {
        "record_id": f"spend-{n:05d}",
        "account_id": ACCOUNT,
        "workspace_id": WORKSPACES[workspace],
        "usage_start_time": start,
        "usage_end_time": start + HOUR,
        "usage_date": start.strftime("%Y-%m-%d"),
        "usage_unit": "USD",
        "usage_quantity": usd,
        "usage_metadata": {"provider": provider, "model": model, "endpoint_name": endpoint},
        "identity_metadata": {"run_by": run_by},
        "custom_tags": {"request_tags": {}, "endpoint_tags": {"team": "search"}},
    }


def spend_csv_line(row):
    return csv_line(row, SPEND_COLUMNS)


def usd(low, high):
    return Decimal(RNG.randint(int(low * 100_000_000), int(high * 100_000_000))) / Decimal(100_000_000)


def external_model_spend():
    sums = Sums()
    rows = []
    for d, day in enumerate(DAYS):
        for hour in (10, 15):
            for i, (provider, model) in enumerate(EXTERNAL):
                row = spend_row(len(rows) + 1, day + hour * HOUR, provider, model, EXTERNAL_ENDPOINTS[(d + i) % 2],
                                USERS[(d + hour + i) % 3], usd(0.001, 25), workspace=i % 2)
                rows.append(row)
                sums.line(provider, model, day, "USD", row["usage_quantity"])
    write("external_model_spend.csv",
          ",".join(SPEND_COLUMNS) + "\n" + "".join(spend_csv_line(r) + "\n" for r in rows))
    sums.write("external_model_spend")


def bad_rows_external_model_spend():
    sums = Sums()
    day = DAYS[9]
    good = spend_row(1, day + 10 * HOUR, "openai", "gpt-4o", EXTERNAL_ENDPOINTS[0], USERS[0], Decimal("3.125"))
    line = spend_csv_line(good)
    amount = spark_decimal(good["usage_quantity"])
    bad = [
        (line.replace('""provider"":""openai"",', ""), "missing_field"),
        (line.replace(",USD,", ",dollars,"), "unknown_currency"),
        (line.replace("," + amount + ",", ",3.1.25,"), "bad_amount"),
        (line.replace(iso_z(good["usage_start_time"]), "yesterday"), "bad_timestamp"),
        (",".join(line.split(",")[:5]), "malformed_record"),
    ]
    sums.bad = [(i + 2, code) for i, (_, code) in enumerate(bad)]
    sums.line("openai", "gpt-4o", day, "USD", good["usage_quantity"])
    sums.line("openai", "gpt-4o", day, "USD", good["usage_quantity"])
    lines = [line] + [b for b, _ in bad] + [line]
    write("bad_rows_external_model_spend.csv", ",".join(SPEND_COLUMNS) + "\n" + "\n".join(lines) + "\n")
    sums.write("bad_rows_external_model_spend")


def main():
    os.makedirs(OUT, exist_ok=True)
    billing_usage()
    list_prices()
    bad_rows_billing_usage()
    external_model_spend()
    bad_rows_external_model_spend()


if __name__ == "__main__":
    main()
