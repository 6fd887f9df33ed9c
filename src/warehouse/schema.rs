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
pub const TABLES: [&str; 5] = [INFERENCE, QUARANTINE, "usage_hourly", "usage_daily", RUNS];

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
