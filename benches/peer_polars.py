#!/usr/bin/env python3
"""tokenledger's job in Polars: the second peer, with the same steps, outputs and rules as
benches/peer_duckdb.py (see there).

usage: peer_polars.py DATA_DIR ingest|rollup|chargeback

Outputs go to DATA_DIR/out_polars/. Polars has no ASOF join on a key and a time range in one
step, so the effective-dated prices become [valid_from, valid_to) intervals joined on the
entity and filtered on the hour. Nearest-rank percentiles are Polars' "equiprobable"
quantiles.
"""
import json, os, shutil, sys, time

import polars as pl

PPT = pl.Decimal(38, 12)
JSON_SCHEMA = {
    "request_id": pl.String, "client_request_id": pl.String, "request_time": pl.String,
    "endpoint_name": pl.String, "served_entity_name": pl.String, "served_entity_type": pl.String,
    "provider": pl.String, "requester": pl.String, "status_code": pl.Int32,
    "input_tokens": pl.Int64, "output_tokens": pl.Int64, "cached_input_tokens": pl.Int64,
    "cache_creation_input_tokens": pl.Int64, "reasoning_tokens": pl.Int64, "execution_duration_ms": pl.Int64,
    "request_streaming": pl.Boolean, "is_fallback": pl.Boolean, "guardrail_action": pl.String,
    "usage_context": pl.Struct({"project": pl.String, "cost_center": pl.String}),
    "request": pl.String, "response": pl.String,
}
RATES = {"input_ppt": "input_price_per_1m", "cached_ppt": "cached_input_price_per_1m",
         "cache_write_ppt": "cache_write_price_per_1m", "output_ppt": "output_price_per_1m"}


def paths(data):
    out = os.path.join(data, "out_polars")
    os.makedirs(out, exist_ok=True)
    return dict(jsonl=os.path.join(data, "logs", "inference.jsonl"), inference=os.path.join(out, "inference"),
                prices=os.path.join(data, "config", "prices.csv"), principals=os.path.join(data, "config", "principals.csv"),
                hourly=os.path.join(out, "hourly.parquet"), chargeback=os.path.join(out, "chargeback.csv"))


def ingest(p):
    shutil.rmtree(p["inference"], ignore_errors=True)
    t0 = time.perf_counter()
    (pl.scan_ndjson(p["jsonl"], schema=JSON_SCHEMA)
     .filter(pl.col("request_id").is_first_distinct())  # exact duplicate lines share request_id
     .with_columns(pl.col("request_time").str.to_datetime("%Y-%m-%dT%H:%M:%S%.3fZ", time_unit="us"))
     .with_columns(request_date=pl.col("request_time").dt.date())
     .sink_parquet(pl.PartitionBy(p["inference"], key="request_date", include_key=False),
                   compression="zstd", maintain_order=False, mkdir=True))
    seconds = time.perf_counter() - t0
    written = pl.scan_parquet(p["inference"] + "/*/*.parquet").select(pl.len()).collect().item()
    return seconds, None, written


def price_intervals(path):
    """prices.csv -> [valid_from, valid_to) per entity with exact per-token prices: the per-1M
    price read as a decimal and moved six places (a multiplication by 10^-6, exact)."""
    million = pl.lit(1_000_000, dtype=pl.Decimal(38, 0))
    return (pl.scan_csv(path, schema_overrides={c: pl.Decimal(18, 6) for c in RATES.values()} | {"effective_from": pl.Date})
            .sort("served_entity_name", "effective_from")
            .select("served_entity_name",
                    valid_from=pl.col("effective_from").cast(pl.Datetime("us")),
                    valid_to=pl.col("effective_from").shift(-1).over("served_entity_name").cast(pl.Datetime("us")),
                    **{ppt: (pl.col(c).cast(PPT) / million).cast(PPT) for ppt, c in RATES.items()}))


def rollup(p):
    sc = pl.col("status_code")
    tokens = ("input_tokens", "cached_input_tokens", "cache_creation_input_tokens", "output_tokens")
    t0 = time.perf_counter()
    hourly = (pl.scan_parquet(p["inference"] + "/*/*.parquet", hive_partitioning=False)
              .group_by(hour=pl.col("request_time").dt.truncate("1h"), *("requester", "served_entity_name", "endpoint_name"))
              .agg(requests=pl.len().cast(pl.Int64),
                   errors_429=(sc == 429).sum().cast(pl.Int64),
                   errors_5xx=sc.is_between(500, 599).sum().cast(pl.Int64),
                   errors_4xx_other=(sc.is_between(400, 499) & (sc != 429)).sum().cast(pl.Int64),
                   **{t: pl.col(t).fill_null(0).sum() for t in tokens},
                   p50_latency_ms=pl.col("execution_duration_ms").quantile(0.5, "equiprobable").cast(pl.Int64),
                   p95_latency_ms=pl.col("execution_duration_ms").quantile(0.95, "equiprobable").cast(pl.Int64)))
    uncached = pl.col("input_tokens") - pl.col("cached_input_tokens") - pl.col("cache_creation_input_tokens")
    needs = [(uncached, "input_ppt"), (pl.col("cached_input_tokens"), "cached_ppt"),
             (pl.col("cache_creation_input_tokens"), "cache_write_ppt"), (pl.col("output_tokens"), "output_ppt")]
    priced = pl.col("valid_from").is_not_null()
    for n, rate in needs:
        priced = priced & ~((n > 0) & pl.col(rate).is_null())
    cost = sum(n.cast(pl.Decimal(38, 0)) * pl.col(rate).fill_null(0) for n, rate in needs)
    users = pl.scan_csv(p["principals"], schema={"requester": pl.String, "group": pl.String, "cost_center": pl.String})
    out = (hourly.join(price_intervals(p["prices"]), on="served_entity_name", how="left")
           # the interval in force at the hour; an entity with no price keeps its row, unpriced
           .filter(pl.col("valid_from").is_null() | ((pl.col("hour") >= pl.col("valid_from"))
                                                      & (pl.col("valid_to").is_null() | (pl.col("hour") < pl.col("valid_to")))))
           .join(users, on="requester", how="left")
           .select("hour", "requester", group=pl.col("group").fill_null("unassigned"),
                   cost_center=pl.col("cost_center").fill_null("UNALLOCATED"),
                   *("served_entity_name", "endpoint_name", "requests", "errors_429", "errors_5xx", "errors_4xx_other"),
                   *tokens,
                   unpriced_requests=pl.when(priced).then(0).otherwise(pl.col("requests")).cast(pl.Int64),
                   cost_usd=pl.when(priced).then(cost).cast(PPT),
                   *("p50_latency_ms", "p95_latency_ms")))
    out.sink_parquet(p["hourly"], compression="zstd", maintain_order=False)
    seconds = time.perf_counter() - t0
    records = pl.scan_parquet(p["inference"] + "/*/*.parquet").select(pl.len()).collect().item()
    written = pl.scan_parquet(p["hourly"]).select(pl.len()).collect().item()
    return seconds, records, written


def chargeback(p):
    keys = ["month", "group", "cost_center"]
    aggs = dict(users=pl.col("requester").n_unique().cast(pl.Int64),
                **{c: pl.col(c).sum() for c in ("requests", "input_tokens", "output_tokens")},
                cost_usd=pl.col("cost_usd").sum().round(2, mode="half_away_from_zero").cast(pl.Decimal(38, 2)))
    t0 = time.perf_counter()
    h = pl.scan_parquet(p["hourly"]).with_columns(month=pl.col("hour").dt.strftime("%Y-%m"))
    detail = h.group_by(keys).agg(**aggs)
    total = h.group_by("month").agg(**aggs).with_columns(group=pl.lit("*TOTAL*"), cost_center=pl.lit("*TOTAL*"))
    out = pl.concat([detail, total.select(detail.collect_schema().names())]).sort(keys).collect()
    out.write_csv(p["chargeback"])
    seconds = time.perf_counter() - t0
    records = pl.scan_parquet(p["hourly"]).select(pl.len()).collect().item()
    return seconds, records, out.height


def main():
    if len(sys.argv) != 3 or sys.argv[2] not in ("ingest", "rollup", "chargeback"):
        sys.exit(__doc__)
    seconds, records, written = globals()[sys.argv[2]](paths(sys.argv[1]))
    print(json.dumps(dict(engine="polars", version=pl.__version__, step=sys.argv[2], seconds=seconds,
                          records=records, written=int(written), threads=pl.thread_pool_size())))


if __name__ == "__main__":
    main()
