//! The SQL model of `sql/` and the inputs it reads, shared by the rollup (which writes the
//! usage tables with it) and analysts' queries (which read its views). `charged_requests`
//! says who pays for each request; `usage_by_period` sums them per hour or day; `pricing`
//! prices rows (single requests for the `priced_requests` view, or the sums); `usage` picks
//! the usage tables' columns. [`session`] gives a DataFusion session with all of it
//! registered (for tests and analysts); the rollup stage runs the same SQL a few dates at a
//! time.

use std::sync::Arc;

use arrow::array::{ArrayRef, Date32Builder, Decimal128Builder, StringBuilder, TimestampMicrosecondBuilder};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use datafusion::prelude::{DataFrame, SessionContext};
use rust_decimal::Decimal;

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::pricing::{PriceBook, Principals, Settings};
use crate::time::{date_start_micros, epoch_days};
use crate::warehouse::Warehouse;
use crate::warehouse::schema::{INFERENCE, utc_micros};

/// Who is charged for each request (`charged_requests`).
pub const CHARGED_REQUESTS_SQL: &str = include_str!("../sql/charged_requests.sql");
/// Prices and owners for rows of `{{input}}` (single requests or sums per period).
pub const PRICING_SQL: &str = include_str!("../sql/pricing.sql");
/// Charged requests summed per period, before pricing.
pub const USAGE_BY_PERIOD_SQL: &str = include_str!("../sql/usage_by_period.sql");
/// The usage tables' columns, from the priced sums.
pub const USAGE_SQL: &str = include_str!("../sql/usage.sql");

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

    /// The usage model's SQL at this grain: `usage_by_period` and `pricing` as common table
    /// expressions ahead of `usage`, over the session's `charged_requests`.
    pub fn sql(self, settings: &Settings) -> String {
        // date_bin is integer arithmetic (date_trunc converts time zones per value); it works
        // in nanoseconds, the tables keep microseconds. A day's start is computed once per
        // group, from the date.
        let (priced_at, period_keys, time_columns) = match self {
            Grain::Hourly => (
                "arrow_cast(date_bin(INTERVAL '1 hour', request_time), 'Timestamp(Microsecond, Some(\"UTC\"))')",
                "request_date, 2",
                "priced_at AS hour,",
            ),
            Grain::Daily => (
                "arrow_cast(CAST(request_date AS TIMESTAMP), 'Timestamp(Microsecond, Some(\"UTC\"))')",
                "request_date",
                "",
            ),
        };
        let a = &settings.attribution;
        let context_key = match (a.usage_context_overrides, a.source_groups) {
            (true, _) => "context_cost_center, context_group,",
            (false, true) => "context_group,",
            (false, false) => "",
        };
        let by_period = USAGE_BY_PERIOD_SQL
            .replace("{{priced_at}}", priced_at)
            .replace("{{period_keys}}", period_keys)
            .replace("{{context_cost_center_key}}", context_key);
        format!(
            "WITH usage_by_period AS (\n{}\n),\npriced_usage AS (\n{}\n)\n{}",
            by_period.trim_end(),
            pricing_sql("usage_by_period").trim_end(),
            USAGE_SQL.replace("{{time_columns}}", time_columns)
        )
    }
}

/// `sql/pricing.sql` over the relation `input`.
pub fn pricing_sql(input: &str) -> String {
    PRICING_SQL.replace("{{input}}", input)
}

/// `sql/charged_requests.sql` with the settings filled in.
pub fn charged_requests_sql(settings: &Settings) -> String {
    let sql_bool = |b: bool| if b { "TRUE" } else { "FALSE" };
    CHARGED_REQUESTS_SQL
        .replace("{{usage_context_overrides}}", sql_bool(settings.attribution.usage_context_overrides))
        .replace("{{source_groups}}", sql_bool(settings.attribution.source_groups))
}

/// Sets [`crate::pricing::Attribution::source_groups`]: whether the session's `inference` has
/// rows of a source that names their group (LiteLLM's teams). The file statistics of the
/// `source` column answer it without reading a warehouse of native rows.
pub async fn find_source_groups(ctx: &SessionContext, settings: &mut Settings) -> Result<()> {
    let found = ctx.sql("SELECT 1 FROM inference WHERE source = 'litellm' LIMIT 1").await?.collect().await?;
    settings.attribution.source_groups = found.iter().any(|b| b.num_rows() > 0);
    Ok(())
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
    let mut retires_on = Date32Builder::new();
    for (row, end) in book.periods() {
        retires_on.append_option(row.retires_on.map(epoch_days));
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
        Field::new("retires_on", DataType::Date32, true),
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
    columns.push(Arc::new(retires_on.finish()));
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

/// What the model reads besides `inference`: the files of `config/`.
#[derive(Debug, Clone)]
pub struct Inputs {
    pub book: PriceBook,
    pub principals: Principals,
    pub settings: Settings,
}

impl Inputs {
    /// Loads `prices.csv`, `principals.csv` and `settings.toml` from the warehouse's `config/`.
    pub async fn load(warehouse: &Warehouse) -> Result<Self> {
        Ok(Self {
            book: PriceBook::load(&warehouse.config_file("prices.csv").await?)?,
            principals: Principals::load(&warehouse.config_file("principals.csv").await?)?,
            settings: Settings::load(&warehouse.config_file("settings.toml").await?)?,
        })
    }
}

/// Registers `inference` (the Delta table at its opened version), `prices` and `principals`.
pub async fn register_inputs(
    ctx: &SessionContext,
    engine: &Engine,
    table: &deltalake::DeltaTable,
    inputs: &Inputs,
) -> Result<()> {
    ctx.register_table(INFERENCE, engine.delta_table(ctx, table).await?)?;
    for (name, batch) in
        [("prices", prices_table(&inputs.book)?), ("principals", principals_table(&inputs.principals)?)]
    {
        ctx.register_table(name, engine.small_table(batch)?)?;
    }
    Ok(())
}

/// Registers the views of the model over the session's `inference`: `charged_requests` and
/// `priced_requests` (every request with its price, owner and cost, for analysts). The usage
/// models ([`Grain::sql`]) read `charged_requests`.
pub async fn register_views(ctx: &SessionContext, settings: &Settings) -> Result<()> {
    for (name, sql) in
        [("charged_requests", charged_requests_sql(settings)), ("priced_requests", pricing_sql("charged_requests"))]
    {
        let view = crate::engine::view(ctx.sql(&sql).await?);
        let _ = ctx.deregister_table(name)?;
        ctx.register_table(name, view)?;
    }
    Ok(())
}

/// A DataFusion session over the warehouse: `inference` (Delta), `prices`, `principals`, and
/// the model's views, with the default memory budget.
pub async fn session(warehouse: &Warehouse, inputs: &Inputs) -> Result<SessionContext> {
    session_with_memory(warehouse, inputs, crate::engine::DEFAULT_MEMORY_LIMIT).await
}

/// [`session`] with a memory budget of `memory_limit` bytes.
pub async fn session_with_memory(
    warehouse: &Warehouse,
    inputs: &Inputs,
    memory_limit: usize,
) -> Result<SessionContext> {
    let ctx = warehouse.engine().context_with_memory(memory_limit).await?;
    register_inputs(&ctx, warehouse.engine(), &warehouse.open_table(INFERENCE).await?, inputs).await?;
    let mut settings = inputs.settings.clone();
    find_source_groups(&ctx, &mut settings).await?;
    register_views(&ctx, &settings).await?;
    Ok(ctx)
}

/// The usage model at `grain` as a DataFrame (over the session's `charged_requests`).
pub async fn usage(ctx: &SessionContext, grain: Grain, settings: &Settings) -> Result<DataFrame> {
    Ok(ctx.sql(&grain.sql(settings)).await?)
}
