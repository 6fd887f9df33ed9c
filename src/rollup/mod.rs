//! Rollup: the `inference` table priced and attributed into usage tables, with the SQL in
//! `sql/` as the source of truth and DataFusion running it.
//!
//! [`rollup`] recomputes the dates whose inference data changed (or all of them), replacing
//! them in each usage table in one atomic commit. Still to come (issue 3): `--from/--to`
//! restatement, `--rerate`, memory limits and progress.

use std::sync::Arc;

use arrow::array::{ArrayRef, Decimal128Builder, StringBuilder, TimestampMicrosecondBuilder};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use datafusion::datasource::MemTable;
use datafusion::prelude::{DataFrame, SessionContext};
use rust_decimal::Decimal;

use crate::error::{Error, Result};
use crate::pricing::{PriceBook, Principals, date_start_micros};
use crate::warehouse::Warehouse;
use crate::warehouse::schema::{INFERENCE, utc_micros};

/// The view that prices and attributes every request.
pub const PRICED_REQUESTS_SQL: &str = include_str!("../../sql/priced_requests.sql");
/// The usage model, for both grains (see [`Grain`]).
pub const USAGE_SQL: &str = include_str!("../../sql/usage.sql");

/// The time grain of a usage table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grain {
    Hourly,
    Daily,
}

impl Grain {
    /// The table this grain is written to.
    pub fn table(self) -> &'static str {
        match self {
            Grain::Hourly => "usage_hourly",
            Grain::Daily => "usage_daily",
        }
    }

    /// The usage model's SQL at this grain.
    pub fn sql(self) -> String {
        let (columns, keys) = match self {
            Grain::Hourly => (
                "request_date AS \"date\",\n  date_trunc('hour', request_time) AS hour,",
                "request_date, date_trunc('hour', request_time)",
            ),
            Grain::Daily => ("request_date AS \"date\",", "request_date"),
        };
        USAGE_SQL.replace("{{time_columns}}", columns).replace("{{time_keys}}", keys)
    }
}

/// Scale of per-token prices, and so of every cost: prices may have up to 6 decimals per
/// million tokens (real price lists have at most 5), which moved 6 places is 12. Fixed, so
/// that the usage tables' schema does not depend on the price book.
pub const PRICE_SCALE: i8 = 12;

fn per_token_scale(book: &PriceBook) -> Result<i8> {
    let needed = book.max_price_scale() + 6;
    if needed > PRICE_SCALE as u32 {
        return Err(Error::Config(format!(
            "prices.csv: a price has {} decimal places; at most {} are supported",
            needed - 6,
            PRICE_SCALE - 6
        )));
    }
    Ok(PRICE_SCALE)
}

/// `per_1m` / 10^6 as the mantissa of a decimal at `scale`, exactly.
fn per_token_mantissa(per_1m: Decimal, scale: i8) -> Result<i128> {
    let shift = u32::try_from(scale as i64 - 6 - per_1m.scale() as i64)
        .map_err(|_| Error::Internal("price scale below the price's own".into()))?;
    10_i128
        .checked_pow(shift)
        .and_then(|m| per_1m.mantissa().checked_mul(m))
        .ok_or_else(|| Error::Config(format!("price {per_1m} is too large")))
}

/// The `prices` table of the rollup SQL: one row per price period, per-token prices exact.
pub fn prices_table(book: &PriceBook) -> Result<RecordBatch> {
    let scale = per_token_scale(book)?;
    let price_type = DataType::Decimal128(38, scale);
    let mut entity = StringBuilder::new();
    let mut valid_from = TimestampMicrosecondBuilder::new().with_timezone("UTC");
    let mut valid_to = TimestampMicrosecondBuilder::new().with_timezone("UTC");
    let mut currency = StringBuilder::new();
    let mut mode = StringBuilder::new();
    let mut version = StringBuilder::new();
    let mut prices: Vec<Decimal128Builder> =
        (0..4).map(|_| Decimal128Builder::new().with_data_type(price_type.clone())).collect();
    for (row, end) in book.periods() {
        entity.append_value(&row.served_entity_name);
        valid_from.append_value(date_start_micros(row.effective_from));
        valid_to.append_option(end.map(date_start_micros));
        currency.append_value(&row.currency);
        mode.append_value(row.pricing_mode.as_str());
        version.append_value(row.version());
        let per_1m = [row.input_per_1m, row.cached_input_per_1m, row.cache_write_or_input(), row.output_per_1m];
        for (builder, p) in prices.iter_mut().zip(per_1m) {
            builder.append_value(per_token_mantissa(p, scale)?);
        }
    }
    let ts = utc_micros();
    let schema = Schema::new(vec![
        Field::new("served_entity_name", DataType::Utf8, false),
        Field::new("valid_from", ts.clone(), false),
        Field::new("valid_to", ts, true),
        Field::new("currency", DataType::Utf8, false),
        Field::new("pricing_mode", DataType::Utf8, false),
        Field::new("price_version", DataType::Utf8, false),
        Field::new("input_per_token", price_type.clone(), false),
        Field::new("cache_read_per_token", price_type.clone(), false),
        Field::new("cache_write_per_token", price_type.clone(), false),
        Field::new("output_per_token", price_type, false),
    ]);
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(entity.finish()),
        Arc::new(valid_from.finish()),
        Arc::new(valid_to.finish()),
        Arc::new(currency.finish()),
        Arc::new(mode.finish()),
        Arc::new(version.finish()),
    ];
    columns.extend(prices.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
    Ok(RecordBatch::try_new(Arc::new(schema), columns)?)
}

/// The `principals` table of the rollup SQL (an open start is the epoch).
pub fn principals_table(principals: &Principals) -> Result<RecordBatch> {
    let mut requester = StringBuilder::new();
    let mut group = StringBuilder::new();
    let mut cost_center = StringBuilder::new();
    let mut valid_from = TimestampMicrosecondBuilder::new().with_timezone("UTC");
    let mut valid_to = TimestampMicrosecondBuilder::new().with_timezone("UTC");
    for p in principals.rows() {
        requester.append_value(&p.requester);
        group.append_value(&p.group);
        cost_center.append_value(&p.cost_center);
        valid_from.append_value(p.effective_from.map_or(i64::MIN / 2, date_start_micros));
        valid_to.append_option(p.effective_to.map(date_start_micros));
    }
    let ts = utc_micros();
    let schema = Schema::new(vec![
        Field::new("requester", DataType::Utf8, false),
        Field::new("group", DataType::Utf8, false),
        Field::new("cost_center", DataType::Utf8, false),
        Field::new("valid_from", ts.clone(), false),
        Field::new("valid_to", ts, true),
    ]);
    Ok(RecordBatch::try_new(
        Arc::new(schema),
        vec![
            Arc::new(requester.finish()),
            Arc::new(group.finish()),
            Arc::new(cost_center.finish()),
            Arc::new(valid_from.finish()),
            Arc::new(valid_to.finish()),
        ],
    )?)
}

/// A DataFusion session over the warehouse: `inference` (Delta), `prices`, `principals`, and
/// the `priced_requests` view.
pub async fn session(warehouse: &Warehouse, book: &PriceBook, principals: &Principals) -> Result<SessionContext> {
    session_over(&warehouse.open_table(INFERENCE).await?, book, principals).await
}

/// [`session`] over an `inference` table already opened (at the version to roll up).
async fn session_over(table: &deltalake::DeltaTable, book: &PriceBook, principals: &Principals) -> Result<SessionContext> {
    // delta-rs' session: its planner executes the Delta write nodes of `rollup`
    let ctx = deltalake::delta_datafusion::DeltaSessionContext::new().into_inner();
    table.update_datafusion_session(&ctx.state())?;
    ctx.register_table(INFERENCE, table.table_provider().await?)?;
    for (name, batch) in [("prices", prices_table(book)?), ("principals", principals_table(principals)?)] {
        let mem = MemTable::try_new(batch.schema(), vec![vec![batch]])?;
        ctx.register_table(name, Arc::new(mem))?;
    }
    let priced = ctx.sql(PRICED_REQUESTS_SQL).await?;
    ctx.register_table("priced_requests", priced.into_view())?;
    Ok(ctx)
}

/// The usage model at `grain` as a DataFrame.
pub async fn usage(ctx: &SessionContext, grain: Grain) -> Result<DataFrame> {
    Ok(ctx.sql(&grain.sql()).await?)
}

/// What a rollup did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RollupSummary {
    /// `full` (every date) or `incremental` (only dates whose inference data changed).
    pub mode: String,
    /// The dates recomputed by this run.
    pub dates_recomputed: Vec<String>,
    /// The `inference` version the usage tables now reflect.
    pub inference_version: i64,
    /// Table name -> the Delta version written.
    pub versions: Vec<(String, i64)>,
    /// Totals over the whole usage tables after the run:
    pub dates: u64,
    pub hourly_rows: u64,
    pub daily_rows: u64,
    pub requests: u64,
    /// Total cost at full precision, per currency (`USD 4362.357575771000`).
    pub cost: Vec<(String, String)>,
    pub unpriced_requests: u64,
    pub unpriced_tokens: u64,
    pub unknown_requester_requests: u64,
    pub elapsed_seconds: f64,
}

/// Where the rollup remembers which `inference` version the usage tables reflect. Written
/// after the usage commits: a crash in between only makes the next run recompute the same
/// dates again, which replaces them with the same rows.
fn state_path(warehouse: &Warehouse) -> std::path::PathBuf {
    warehouse.root().join("_tokenledger").join("rollup.json")
}

fn read_state(warehouse: &Warehouse) -> Option<i64> {
    let text = std::fs::read_to_string(state_path(warehouse)).ok()?;
    serde_json::from_str::<serde_json::Value>(&text).ok()?["inference_version"].as_i64()
}

fn write_state(warehouse: &Warehouse, inference_version: i64) -> Result<()> {
    let path = state_path(warehouse);
    std::fs::create_dir_all(path.parent().expect("state file has a parent"))?;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::json!({ "inference_version": inference_version }).to_string())?;
    std::fs::rename(tmp, path)?;
    Ok(())
}

/// The `request_date`s of data files added to or removed from `inference` after version
/// `since`, read from the table's commit files; `None` when a commit file is gone (log
/// cleanup), in which case the caller recomputes everything.
fn dates_changed_since(warehouse: &Warehouse, since: i64, until: i64) -> Result<Option<std::collections::BTreeSet<String>>> {
    let log = warehouse.table_dir(INFERENCE).join("_delta_log");
    let mut dates = std::collections::BTreeSet::new();
    for version in since + 1..=until {
        let Ok(text) = std::fs::read_to_string(log.join(format!("{version:020}.json"))) else {
            return Ok(None);
        };
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let action: serde_json::Value = serde_json::from_str(line)?;
            for kind in ["add", "remove"] {
                if let Some(date) = action[kind]["partitionValues"]["request_date"].as_str() {
                    dates.insert(date.to_string());
                }
            }
        }
    }
    Ok(Some(dates))
}

/// Brings `usage_hourly` and `usage_daily` up to date with `inference`. Only the dates whose
/// inference data changed since the last rollup are recomputed (late data for an old date
/// recomputes that date); `full` recomputes every date. Each table is replaced in one atomic
/// Delta commit (a reader sees the old rows of a date or the new ones, never a mix).
pub async fn rollup(warehouse: &Warehouse, full: bool) -> Result<RollupSummary> {
    use datafusion::prelude::{col, lit};
    use deltalake::protocol::SaveMode;
    let started = std::time::Instant::now();
    let config = warehouse.config_dir();
    let book = PriceBook::load(&config.join("prices.csv"))?;
    let principals = Principals::load(&config.join("principals.csv"))?;
    let inference = warehouse.open_table(INFERENCE).await?;
    let inference_version = inference.version().map_or(0, |v| v as i64);
    let ctx = session_over(&inference, &book, &principals).await?;
    let tables_exist = [Grain::Hourly, Grain::Daily].iter().all(|g| warehouse.has_table(g.table()));
    let changed = match read_state(warehouse) {
        Some(since) if !full && tables_exist => dates_changed_since(warehouse, since, inference_version)?,
        _ => None,
    };
    let mut versions = Vec::new();
    let dates_recomputed: Vec<String> = match &changed {
        Some(dates) => dates.iter().cloned().collect(),
        None => Vec::new(),
    };
    if changed.as_ref().is_none_or(|d| !d.is_empty()) {
        for grain in [Grain::Hourly, Grain::Daily] {
            let mut df = usage(&ctx, grain).await?;
            // the first rollup creates the table, from the model's schema
            std::fs::create_dir_all(warehouse.table_dir(grain.table()))?;
            let url = warehouse.table_url(grain.table())?;
            let table = if warehouse.has_table(grain.table()) {
                deltalake::open_table(url).await?
            } else {
                deltalake::DeltaTableBuilder::from_url(url)?.build()?
            };
            let mut write = table.write(Vec::new()).with_save_mode(SaveMode::Overwrite);
            if let Some(dates) = &changed {
                let values = dates
                    .iter()
                    .map(|d| {
                        let day = chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
                            .map_err(|e| Error::Usage(format!("bad partition value {d:?} in the inference log: {e}")))?;
                        let days = (date_start_micros(day) / 86_400_000_000) as i32;
                        Ok(lit(datafusion::scalar::ScalarValue::Date32(Some(days))))
                    })
                    .collect::<Result<Vec<_>>>()?;
                df = df.filter(col("date").in_list(values, false))?;
                let list: Vec<String> = dates.iter().map(|d| format!("'{d}'")).collect();
                write = write.with_replace_where(format!("date IN ({})", list.join(", ")));
            }
            let written = write
                .with_input_plan(df.logical_plan().clone())
                .with_session_state(Arc::new(ctx.state()))
                .with_partition_columns(["date"])
                .with_writer_properties(crate::ingest::writer_properties())
                .await?;
            versions.push((grain.table().to_string(), written.version().map_or(0, |v| v as i64)));
        }
    }
    write_state(warehouse, inference_version)?;
    let mut summary = summarize(warehouse, &ctx).await?;
    summary.mode = if changed.is_some() { "incremental" } else { "full" }.to_string();
    summary.dates_recomputed = if changed.is_some() { dates_recomputed } else { summary_dates(&ctx).await? };
    summary.inference_version = inference_version;
    summary.versions = versions;
    summary.elapsed_seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// Every date in `usage_daily` (what a full rollup recomputed).
async fn summary_dates(ctx: &SessionContext) -> Result<Vec<String>> {
    use arrow::array::AsArray;
    let batches = ctx.sql("SELECT DISTINCT CAST(\"date\" AS VARCHAR) AS d FROM usage_daily ORDER BY d").await?.collect().await?;
    let mut dates = Vec::new();
    for b in &batches {
        let a = arrow::compute::cast(b.column(0), &DataType::Utf8)?;
        dates.extend(a.as_string::<i32>().iter().flatten().map(String::from));
    }
    Ok(dates)
}

/// Totals of the usage tables just written, read back from them.
async fn summarize(warehouse: &Warehouse, ctx: &SessionContext) -> Result<RollupSummary> {
    use arrow::array::AsArray;
    use arrow::datatypes::Int64Type;
    for grain in [Grain::Hourly, Grain::Daily] {
        let table = deltalake::open_table(warehouse.table_url(grain.table())?).await?;
        let _ = ctx.deregister_table(grain.table())?;
        ctx.register_table(grain.table(), table.table_provider().await?)?;
    }
    let one = |sql: &'static str| async move {
        let batches = ctx.sql(sql).await?.collect().await?;
        Ok::<_, Error>(batches)
    };
    let totals = one(
        "SELECT count(DISTINCT \"date\"), count(*), sum(requests), sum(unpriced_requests), \
                sum(unpriced_tokens), sum(CASE WHEN unknown_requester THEN requests ELSE 0 END) \
         FROM usage_daily",
    )
    .await?;
    let hourly_rows = one("SELECT count(*) FROM usage_hourly").await?;
    let costs = one(
        "SELECT currency, CAST(sum(cost) AS VARCHAR) FROM usage_daily \
         WHERE currency IS NOT NULL GROUP BY currency ORDER BY currency",
    )
    .await?;
    let int = |batches: &[RecordBatch], col: usize| -> u64 {
        batches
            .first()
            .filter(|b| b.num_rows() > 0)
            .and_then(|b| arrow::compute::cast(b.column(col), &DataType::Int64).ok())
            .map_or(0, |a| a.as_primitive::<Int64Type>().iter().flatten().sum::<i64>() as u64)
    };
    let mut cost = Vec::new();
    for b in &costs {
        // DataFusion may hand strings back as views; one type is easier to read
        let (c, v) = (arrow::compute::cast(b.column(0), &DataType::Utf8)?, arrow::compute::cast(b.column(1), &DataType::Utf8)?);
        let (c, v) = (c.as_string::<i32>(), v.as_string::<i32>());
        for i in 0..b.num_rows() {
            cost.push((c.value(i).to_string(), v.value(i).to_string()));
        }
    }
    Ok(RollupSummary {
        mode: String::new(),
        dates_recomputed: Vec::new(),
        inference_version: 0,
        versions: Vec::new(),
        dates: int(&totals, 0),
        daily_rows: int(&totals, 1),
        requests: int(&totals, 2),
        unpriced_requests: int(&totals, 3),
        unpriced_tokens: int(&totals, 4),
        unknown_requester_requests: int(&totals, 5),
        hourly_rows: int(&hourly_rows, 0),
        cost,
        elapsed_seconds: 0.0,
    })
}
