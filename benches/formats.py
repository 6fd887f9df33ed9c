#!/usr/bin/env python3
"""Gateway-format benchmark: the same requests ingested from tokenledger's native JSON lines and
from each gateway's own export, records per second side by side.

usage: python3 benches/formats.py DATA_DIR [--rows N] [--repeat N] [--bin PATH]
                                  [--only native,litellm-csv,...]

DATA_DIR is written by `tokenledger gen` (with --rows N it is generated first when it has no
log). On first use the log is rewritten, request for request, into DATA_DIR/formats/:

  endpoint_usage.csv / .jsonl  Databricks system.serving.endpoint_usage (token and character
                               counts, a served_entity_id), with served_entities.csv resolving
                               the ids (--served-entities)
  payload.jsonl                a Databricks (legacy) payload table: request and response bodies
                               as JSON text, the tokens in the response's usage object
  litellm.csv / litellm.json   LiteLLM_SpendLogs as its CSV export and as one JSON array, the
                               cache counts in metadata.usage_object

Each run ingests one file into a fresh warehouse (DATA_DIR/out_formats) with its --source.
Before any time is printed every format must give what the native log gives: the same
requests, the same sums of input tokens (the whole prompt), cache reads, cache writes and
output tokens (read back with `tokenledger sql`). records/s is the file's records / wall
seconds of the whole process; "x native" is that over the native log's records/s.
Build first: cargo build --release.
"""
import csv, datetime, json, os, shutil, statistics, subprocess, sys, uuid

import harness
from harness import arguments, measure

# endpoint_usage has no cache counts: its input_token_count is the whole prompt
NO_CACHE_SPLIT = {"endpoint_usage-csv", "endpoint_usage-jsonl"}
FORMATS = {
    # name: (file in DATA/formats, --source, needs --served-entities)
    "native": (None, "native", False),
    "endpoint_usage-csv": ("endpoint_usage.csv", "databricks-usage", True),
    "endpoint_usage-jsonl": ("endpoint_usage.jsonl", "databricks-usage", True),
    "payload-jsonl": ("payload.jsonl", "databricks-payload", True),
    "litellm-csv": ("litellm.csv", "litellm", False),
    "litellm-json": ("litellm.json", "litellm", False),
}
ENDPOINT_USAGE = ["workspace_id", "account_id", "client_request_id", "databricks_request_id", "requester",
                  "status_code", "request_time", "input_token_count", "output_token_count", "input_character_count",
                  "output_character_count", "usage_context", "request_streaming", "served_entity_id"]
LITELLM = ["request_id", "call_type", "api_key", "spend", "total_tokens", "prompt_tokens", "completion_tokens",
           "startTime", "endTime", "completionStartTime", "model", "model_id", "model_group", "custom_llm_provider",
           "api_base", "user", "metadata", "cache_hit", "cache_key", "request_tags", "team_id", "end_user",
           "requester_ip_address", "messages", "response", "session_id", "status"]
WORKSPACE, ACCOUNT = "1234567890123456", "7d2c1e4f-0a9b-4c3d-8e5f-61a2b3c4d5e6"
TOTALS = ("SELECT count(*) AS requests, count(DISTINCT request_id) AS ids, "
          "sum(input_tokens + cache_read_input_tokens + cache_creation_input_tokens) AS input_all, "
          "sum(cache_read_input_tokens) AS cache_reads, sum(cache_creation_input_tokens) AS cache_writes, "
          "sum(output_tokens) AS output FROM inference")


def entity_id(endpoint, entity):
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"tokenledger-bench/{endpoint}/{entity}"))


def parse_time(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def usage_object(r):
    """The provider's usage object for a record's counts (OpenAI's shape; Anthropic's when the
    prompt wrote to the cache, which OpenAI's shape cannot say); None without counts."""
    if r["input_tokens"] is None:
        return None
    prompt, cached, written = r["input_tokens"], r["cached_input_tokens"] or 0, r["cache_creation_input_tokens"] or 0
    if written:
        return {"input_tokens": prompt - cached - written, "cache_read_input_tokens": cached,
                "cache_creation_input_tokens": written, "output_tokens": r["output_tokens"] or 0}
    return {"prompt_tokens": prompt, "completion_tokens": r["output_tokens"] or 0,
            "total_tokens": prompt + (r["output_tokens"] or 0), "prompt_tokens_details": {"cached_tokens": cached},
            "completion_tokens_details": {"reasoning_tokens": r["reasoning_tokens"] or 0}}


def response_with(r, usage):
    """The logged response body with the record's usage object in it."""
    try:
        body = json.loads(r["response"]) if r["response"] else {}
    except ValueError:
        body = {}
    body = body if isinstance(body, dict) else {}
    body.pop("usage", None)
    if usage is not None:
        body["usage"] = usage
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def convert(log, out):
    """Writes every format of `log` into `out` (once: a finished conversion leaves out/done)."""
    if os.path.exists(os.path.join(out, "done")):
        return
    os.makedirs(out, exist_ok=True)
    print(f"writing the gateway formats of {log} into {out} (once)", file=sys.stderr)
    entities = {}
    first_time = None
    f = {name: open(os.path.join(out, name), "w", newline="", encoding="utf-8")
         for name in ("endpoint_usage.csv", "endpoint_usage.jsonl", "payload.jsonl", "litellm.csv", "litellm.json")}
    usage_csv, litellm_csv = csv.writer(f["endpoint_usage.csv"]), csv.writer(f["litellm.csv"])
    usage_csv.writerow(ENDPOINT_USAGE)
    litellm_csv.writerow(LITELLM)
    f["litellm.json"].write("[\n")
    for n, line in enumerate(open(log, "rb")):
        r = json.loads(line)
        at = parse_time(r["request_time"])
        first_time = min(first_time or at, at)
        sid = entity_id(r["endpoint_name"], r["served_entity_name"])
        entities[sid] = r
        usage = usage_object(r)
        context = r["usage_context"] or None
        eu = dict(workspace_id=WORKSPACE, account_id=ACCOUNT, client_request_id=r["client_request_id"],
                  databricks_request_id=r["request_id"], requester=r["requester"], status_code=r["status_code"],
                  request_time=r["request_time"], input_token_count=r["input_tokens"],
                  output_token_count=r["output_tokens"],
                  # characters only beside counts: alone they would be estimated into tokens
                  input_character_count=None if usage is None else len(r["request"] or ""),
                  output_character_count=None if usage is None else len(r["response"] or ""), usage_context=context,
                  request_streaming=r["request_streaming"], served_entity_id=sid)
        f["endpoint_usage.jsonl"].write(json.dumps(eu, ensure_ascii=False) + "\n")
        usage_csv.writerow(["" if v is None else json.dumps(v) if isinstance(v, dict) else str(v).lower()
                            if isinstance(v, bool) else v for v in eu.values()])
        payload = {"databricks_request_id": r["request_id"], "client_request_id": r["client_request_id"],
                   "request_date": r["request_time"][:10], "request_time": r["request_time"],
                   "status_code": r["status_code"], "sampling_fraction": 1.0,
                   "execution_duration_ms": r["execution_duration_ms"], "request": r["request"],
                   "response": response_with(r, usage), "served_entity_id": sid, "logging_error_codes": [],
                   "requester": r["requester"]}
        f["payload.jsonl"].write(json.dumps(payload, ensure_ascii=False) + "\n")
        ok = 200 <= r["status_code"] < 300
        start = at.replace(tzinfo=None)
        end = start + datetime.timedelta(milliseconds=r["execution_duration_ms"] or 0)
        team = (context or {}).get("project")
        key = sum(r["requester"].encode()) % 997  # one key per requester, so a duplicate line is the same
        metadata = {"user_api_key": f"{key:064x}", "user_api_key_alias": f"key-{key % 37}",
                    "user_api_key_team_id": team, "user_api_key_user_id": r["requester"], "spend_logs_metadata": None,
                    "requester_ip_address": "10.0.3.17", "applied_guardrails": [],
                    "status": "success" if ok else "failure", "usage_object": usage}
        if not ok:
            metadata["error_information"] = {"error_code": str(r["status_code"]), "error_class": "APIError"}
        prompt, output = r["input_tokens"], r["output_tokens"]
        spend_row = {"request_id": r["request_id"], "call_type": "acompletion", "api_key": metadata["user_api_key"],
                     "spend": 0.0, "total_tokens": (prompt or 0) + (output or 0), "prompt_tokens": prompt or 0,
                     "completion_tokens": output or 0, "startTime": start.isoformat(sep=" "),
                     "endTime": end.isoformat(sep=" "), "completionStartTime": end.isoformat(sep=" "),
                     "model": r["served_entity_name"], "model_id": sid, "model_group": r["endpoint_name"],
                     "custom_llm_provider": r["provider"], "api_base": "https://gateway.example.com/v1",
                     "user": r["requester"], "metadata": metadata, "cache_hit": "False", "cache_key": "Cache OFF",
                     "request_tags": ["bench"], "team_id": team, "end_user": None,
                     "requester_ip_address": "10.0.3.17", "messages": json.loads(r["request"] or "{}"),
                     "response": json.loads(response_with(r, usage)), "session_id": r["client_request_id"],
                     "status": "success" if ok else "failure"}
        f["litellm.json"].write(("" if n == 0 else ",\n") + json.dumps(spend_row, ensure_ascii=False))
        litellm_csv.writerow(["" if v is None else json.dumps(v, ensure_ascii=False) if isinstance(v, (dict, list))
                              else v for v in spend_row.values()])
    f["litellm.json"].write("\n]\n")
    for file in f.values():
        file.close()
    change_time = (first_time - datetime.timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S")
    with open(os.path.join(out, "served_entities.csv"), "w", newline="") as se:
        w = csv.writer(se)
        w.writerow(["served_entity_id", "endpoint_name", "served_entity_name", "entity_type", "external_model_config",
                    "endpoint_config_version", "change_time"])
        for sid, r in sorted(entities.items()):
            w.writerow([sid, r["endpoint_name"], r["served_entity_name"], r["served_entity_type"],
                        json.dumps({"provider": r["provider"]}), 1, change_time])
    open(os.path.join(out, "done"), "w").close()


def ingest(a, name, path, formats_dir, wh):
    _, source, needs_entities = FORMATS[name]
    shutil.rmtree(wh, ignore_errors=True)
    subprocess.run([a.bin, "-q", "-w", wh, "init"], check=True, stdout=subprocess.DEVNULL)
    extra = ["--served-entities", os.path.join(formats_dir, "served_entities.csv")] if needs_entities else []
    s, cpu, rss, anon, out = measure([a.bin, "-q", "-w", wh, "--format", "json", "ingest", "--source", source,
                                      *extra, path])
    summary = json.loads(out)
    if summary["quarantined"]:
        sys.exit(f"{name}: {summary['quarantined']} records quarantined: {summary['quarantined_by_reason']}")
    return dict(engine=name, seconds=s, cpu_seconds=cpu, peak_rss_mb=rss, peak_anon_mb=anon,
                records=summary["records_read"], written=summary["rows_written"], input_bytes=os.path.getsize(path))


def totals(a, wh):
    out = subprocess.run([a.bin, "-q", "-w", wh, "--format", "json", "sql", TOTALS], check=True,
                         capture_output=True, text=True).stdout
    row = json.loads(out.splitlines()[0])
    return tuple(int(row[k]) for k in ("requests", "ids", "input_all", "cache_reads", "cache_writes", "output"))


def agreement(sums):
    """Prints each format's sums beside the native log's; -> True when they are equal (the cache
    counts only where the format has them)."""
    names = ["requests", "request ids", "input tokens (all)", "cache reads", "cache writes", "output tokens"]
    native, ok = sums["native"], True
    print(f"\n{'':<20}" + "".join(f"{n:>22}" for n in sums))
    for i, name in enumerate(names):
        cells = []
        for fmt, values in sums.items():
            if fmt in NO_CACHE_SPLIT and name.startswith("cache"):
                cells.append("(no such count)")
                continue
            ok &= values[i] == native[i]
            cells.append(f"{values[i]:,}" + ("" if values[i] == native[i] else " DIFFERENT"))
        print(f"{name:<20}" + "".join(f"{c:>22}" for c in cells))
    return ok


def main():
    ap = arguments(__doc__)
    ap.add_argument("--only", default=",".join(FORMATS), help="formats to run: " + ",".join(FORMATS))
    a = ap.parse_args()
    chosen = [f for f in a.only.split(",") if f]
    unknown = [f for f in chosen if f not in FORMATS]
    if unknown:
        sys.exit(f"--only: unknown {unknown}; choose from {', '.join(FORMATS)}")
    if "native" not in chosen:
        chosen.insert(0, "native")
    log = harness.ensure_data(a)
    formats_dir = os.path.join(a.data, "formats")
    convert(log, formats_dir)
    path = {n: log if FORMATS[n][0] is None else os.path.join(formats_dir, FORMATS[n][0]) for n in chosen}
    wh = os.path.join(a.data, "out_formats")
    rows, sums = [], {}
    for i in range(a.repeat):
        for name in chosen:
            rows.append(dict(ingest(a, name, path[name], formats_dir, wh), run=i + 1))
            if i == 0:
                sums[name] = totals(a, wh)
        if i == 0 and not agreement(sums):
            sys.exit("the formats gave different requests: no times reported")
    shutil.rmtree(wh, ignore_errors=True)
    native = statistics.median(r["records"] / r["seconds"] for r in rows if r["engine"] == "native")
    print(f"\n{rows[0]['written']:,} requests; MB/s is the file's bytes (1 MB = 10^6 bytes) / wall seconds")
    harness.median_table(rows, [
        ("seconds", lambda r: r["seconds"], "{:.2f}"),
        ("CPU s", lambda r: r["cpu_seconds"], "{:.1f}"),
        ("MB", lambda r: r["input_bytes"] / 1e6, "{:,.0f}"),
        ("MB/s", lambda r: r["input_bytes"] / 1e6 / r["seconds"], "{:.0f}"),
        ("records/s", lambda r: r["records"] / r["seconds"], "{:,.0f}"),
        ("x native", lambda r: r["records"] / r["seconds"] / native, "{:.2f}"),
        ("peak RSS MB", lambda r: r["peak_rss_mb"], "{:,.0f}"),
    ], ratios=False)


if __name__ == "__main__":
    main()
