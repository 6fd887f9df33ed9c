//! Arrow schemas of the warehouse tables. `schemas/*.json` is the published contract; a test
//! checks that these definitions and the JSON agree column by column.

use std::sync::{Arc, LazyLock};

use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};

/// Name of the per-request fact table.
pub const INFERENCE: &str = "inference";
/// Name of the table of rejected input records.
pub const QUARANTINE: &str = "quarantine";
/// Partition column of `inference`.
pub const INFERENCE_PARTITION: &str = "request_date";
/// Partition column of `quarantine`.
pub const QUARANTINE_PARTITION: &str = "ingest_date";

/// Decimal type of money amounts that are stored at full precision.
pub const MONEY: DataType = DataType::Decimal128(38, 10);

/// UTC timestamps in microseconds: Delta's `timestamp` type.
pub fn utc_micros() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// `map<string,string>` laid out the way Delta and Parquet name the parts.
pub fn string_map() -> DataType {
    let entries = Field::new(
        "key_value",
        DataType::Struct(Fields::from(vec![
            Field::new("key", DataType::Utf8, false),
            Field::new("value", DataType::Utf8, true),
        ])),
        false,
    );
    DataType::Map(Arc::new(entries), false)
}

fn col(name: &str, data_type: DataType, nullable: bool) -> Field {
    Field::new(name, data_type, nullable)
}

static INFERENCE_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    use DataType::*;
    Arc::new(Schema::new(vec![
        col("request_id", Utf8, false),
        col("client_request_id", Utf8, true),
        col("source", Utf8, false),
        col("source_file", Utf8, false),
        col("source_line", Int64, false),
        col("ingest_batch_id", Utf8, false),
        col("ingested_at", utc_micros(), false),
        col("record_fingerprint", Int64, false),
        col("request_time", utc_micros(), false),
        col(INFERENCE_PARTITION, Date32, false),
        col("endpoint_name", Utf8, false),
        col("served_entity_name", Utf8, false),
        col("served_entity_id", Utf8, true),
        col("entity_type", Utf8, true),
        col("provider", Utf8, true),
        col("requester", Utf8, false),
        col("usage_context", string_map(), true),
        col("status_code", Int32, false),
        col("execution_duration_ms", Int64, true),
        col("request_streaming", Boolean, true),
        col("is_fallback", Boolean, false),
        col("attempt", Int32, true),
        col("guardrail_action", Utf8, true),
        col("input_tokens", Int64, false),
        col("cache_read_input_tokens", Int64, false),
        col("cache_creation_input_tokens", Int64, false),
        col("output_tokens", Int64, false),
        col("reasoning_tokens", Int64, true),
        col("token_count_source", Utf8, false),
        col("sampling_fraction", Float64, true),
        col("source_reported_cost", MONEY, true),
        col("request", Utf8, true),
        col("response", Utf8, true),
        // added after the first release: appended, so that an older table gains them in place
        col("service_tier", Utf8, true),
        col("requester_type", Utf8, true),
        col("cache_creation_1h_input_tokens", Int64, true),
        col("input_audio_tokens", Int64, true),
        col("output_audio_tokens", Int64, true),
        col("web_search_requests", Int64, true),
        col("inference_geo", Utf8, true),
    ]))
});

static QUARANTINE_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    use DataType::*;
    Arc::new(Schema::new(vec![
        col(QUARANTINE_PARTITION, Date32, false),
        col("ingest_batch_id", Utf8, false),
        col("ingested_at", utc_micros(), false),
        col("source", Utf8, false),
        col("source_file", Utf8, false),
        col("source_file_fingerprint", Utf8, false),
        col("line_number", Int64, false),
        col("request_id", Utf8, true),
        col("reason_code", Utf8, false),
        col("reason", Utf8, false),
        col("raw", Utf8, false),
        col("raw_bytes", Int64, false),
    ]))
});

/// Schema of the `inference` table (partition column included).
/// Every Delta table a warehouse may hold, in the order they are listed to users (the usage
/// tables exist after the first rollup, `runs` after the first `tokenledger run`).
pub const TABLES: [&str; 8] =
    [INFERENCE, QUARANTINE, "usage_hourly", "usage_daily", RUNS, BILL_LINES, RECONCILIATION, PERIODS];

/// One row per `tokenledger run` cycle (created by the first run).
pub const RUNS: &str = "runs";
pub const RUNS_PARTITION: &str = "date";

static RUNS_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    use DataType::*;
    Arc::new(Schema::new(vec![
        col(RUNS_PARTITION, Date32, false),
        col("run_id", Utf8, false),
        col("started_at", utc_micros(), false),
        col("ended_at", utc_micros(), false),
        col("outcome", Utf8, false),
        col("exit_code", Int32, false),
        col("host", Utf8, false),
        col("pid", Int64, false),
        col("config", Utf8, false),
        col("files_ingested", Int64, false),
        col("files_skipped", Int64, false),
        col("records_read", Int64, false),
        col("rows_written", Int64, false),
        col("quarantined", Int64, false),
        col("dates_recomputed", Int64, false),
        col("inference_version", Int64, true),
        col("usage_hourly_version", Int64, true),
        col("usage_daily_version", Int64, true),
        col("exports", Utf8, true),
        col("budgets_over", Int64, false),
        col("notes", Utf8, true),
        col("error", Utf8, true),
    ]))
});

/// The lines of the providers' bills (created by the first `bill import`).
pub const BILL_LINES: &str = "bill_lines";
/// Partition column of `bill_lines`: the UTC date the line's period starts on.
pub const BILL_LINES_PARTITION: &str = "bill_date";

/// Decimal type of billed amounts: a bill's float (OpenAI's `amount.value`) is taken exactly
/// from its shortest text, which can have more decimal places than the ledger's own money, and
/// Databricks' DBUs (18 places) times a list price (a few more) are kept whole. 24 places leave
/// 14 digits before the point: a hundred trillion a line.
pub const BILL_MONEY: DataType = DataType::Decimal128(38, BILL_MONEY_SCALE);
pub const BILL_MONEY_SCALE: i8 = 24;

static BILL_LINES_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    use DataType::*;
    Arc::new(Schema::new(vec![
        col(BILL_LINES_PARTITION, Date32, false),
        col("import_id", Utf8, false),
        col("imported_at", utc_micros(), false),
        col("source", Utf8, false),
        col("source_file", Utf8, false),
        col("source_file_fingerprint", Utf8, false),
        col("row_number", Int64, false),
        col("provider", Utf8, false),
        col("period_start", utc_micros(), false),
        col("period_end", utc_micros(), false),
        col("provider_model", Utf8, true),
        col("charge_kind", Utf8, false),
        col("service_tier", Utf8, true),
        col("context_window", Utf8, true),
        col("inference_geo", Utf8, true),
        col("account", Utf8, true),
        col("api_key_id", Utf8, true),
        col("user_id", Utf8, true),
        col("quantity", Int64, true),
        col("requests", Int64, true),
        col("cost", BILL_MONEY, true),
        col("list_cost", BILL_MONEY, true),
        col("effective_cost", BILL_MONEY, true),
        col("currency", Utf8, true),
        col("description", Utf8, true),
        // added after the first release: appended, so that an older table gains them in place
        col("usage_quantity", BILL_MONEY, true),
        col("usage_unit", Utf8, true),
        col("endpoint_name", Utf8, true),
    ]))
});

/// Schema of the `bill_lines` table (partition column included).
pub fn bill_lines_schema() -> SchemaRef {
    BILL_LINES_SCHEMA.clone()
}

/// The rows of the latest reconciliation of each period (created by the first `reconcile`).
pub const RECONCILIATION: &str = "reconciliation";
/// Partition column of `reconciliation`: the month, `YYYY-MM`.
pub const RECONCILIATION_PARTITION: &str = "period";

static RECONCILIATION_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    use DataType::*;
    Arc::new(Schema::new(vec![
        col(RECONCILIATION_PARTITION, Utf8, false),
        col("reconcile_id", Utf8, false),
        col("reconciled_at", utc_micros(), false),
        col("date", Date32, false),
        col("provider", Utf8, false),
        col("provider_model", Utf8, false),
        col("charge_kind", Utf8, false),
        col("currency", Utf8, true),
        col("ledger_requests", Int64, true),
        col("ledger_tokens", Int64, true),
        col("ledger_unpriced_tokens", Int64, true),
        col("bill_requests", Int64, true),
        col("bill_tokens", Int64, true),
        col("ledger_cost", BILL_MONEY, true),
        col("bill_cost", BILL_MONEY, true),
        col("difference", BILL_MONEY, true),
        col("status", Utf8, false),
        col("note", Utf8, true),
        col("usage_daily_version", Int64, false),
        col("bill_lines_version", Int64, false),
    ]))
});

/// Schema of the `reconciliation` table (partition column included).
pub fn reconciliation_schema() -> SchemaRef {
    RECONCILIATION_SCHEMA.clone()
}

/// The closes and reopens of periods (created by the first `close`).
pub const PERIODS: &str = "periods";
/// Partition column of `periods`: the month, `YYYY-MM`.
pub const PERIODS_PARTITION: &str = "period";

static PERIODS_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    use DataType::*;
    Arc::new(Schema::new(vec![
        col(PERIODS_PARTITION, Utf8, false),
        col("event_id", Utf8, false),
        col("action", Utf8, false),
        col("at", utc_micros(), false),
        col("by", Utf8, false),
        col("reason", Utf8, true),
        col("options", Utf8, true),
        col("source", Utf8, true),
        col("export_key", Utf8, true),
        col("export_sha256", Utf8, true),
        col("totals", Utf8, true),
        col("lines", Utf8, true),
        col("carried", Utf8, true),
    ]))
});

/// Schema of the `periods` table (partition column included).
pub fn periods_schema() -> SchemaRef {
    PERIODS_SCHEMA.clone()
}

/// The tables a command creates on first use (not `init`), with their schema and partition
/// column.
pub fn on_demand_tables() -> [(&'static str, SchemaRef, &'static str); 4] {
    [
        (RUNS, runs_schema(), RUNS_PARTITION),
        (BILL_LINES, bill_lines_schema(), BILL_LINES_PARTITION),
        (RECONCILIATION, reconciliation_schema(), RECONCILIATION_PARTITION),
        (PERIODS, periods_schema(), PERIODS_PARTITION),
    ]
}

pub fn runs_schema() -> SchemaRef {
    RUNS_SCHEMA.clone()
}

pub fn inference_schema() -> SchemaRef {
    INFERENCE_SCHEMA.clone()
}

/// Schema of the `quarantine` table (partition column included).
pub fn quarantine_schema() -> SchemaRef {
    QUARANTINE_SCHEMA.clone()
}

/// The tables `init` creates, with their schema and partition column.
pub fn managed_tables() -> [(&'static str, SchemaRef, &'static str); 2] {
    [(INFERENCE, inference_schema(), INFERENCE_PARTITION), (QUARANTINE, quarantine_schema(), QUARANTINE_PARTITION)]
}

/// The type name a column has in `schemas/*.json`: Delta's names (`string`, `long`,
/// `timestamp`, `decimal(38,10)`, `map<string,string>` ...), which Spark users also know.
pub fn contract_type(data_type: &DataType) -> String {
    match data_type {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "string".into(),
        DataType::Int64 => "long".into(),
        DataType::Int32 => "integer".into(),
        DataType::Int16 => "short".into(),
        DataType::Boolean => "boolean".into(),
        DataType::Float64 => "double".into(),
        DataType::Date32 => "date".into(),
        DataType::Timestamp(TimeUnit::Microsecond, Some(_)) => "timestamp".into(),
        DataType::Timestamp(TimeUnit::Microsecond, None) => "timestamp_ntz".into(),
        DataType::Decimal128(p, s) => format!("decimal({p},{s})"),
        DataType::Map(entries, _) => match entries.data_type() {
            DataType::Struct(kv) if kv.len() == 2 => {
                format!("map<{},{}>", contract_type(kv[0].data_type()), contract_type(kv[1].data_type()))
            }
            other => format!("{other}"),
        },
        other => format!("{other}"),
    }
}
