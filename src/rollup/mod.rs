//! Rollup: the `inference` table priced and attributed into usage tables, with the SQL in
//! `sql/` as the source of truth and DataFusion running it.
//!
//! This slice builds the query session (the Delta table plus the price book and principals as
//! in-memory tables) and the usage queries at both grains; writing the usage tables,
//! incremental recomputation and the command come next.

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

/// Scale of per-token prices: the price book's own decimals plus the six places of "per 1M".
/// Prices with up to 4 decimals (all of the examples) give 10, the anchor's DECIMAL(38,10).
fn per_token_scale(book: &PriceBook) -> Result<i8> {
    let scale = book.max_price_scale().max(4) + 6;
    i8::try_from(scale).ok().filter(|s| *s <= 20).ok_or_else(|| {
        Error::Config(format!("prices.csv: prices with more than 14 decimal places are not supported (found {scale} - 6)"))
    })
}

/// `per_1m` / 10^6 as the mantissa of a decimal at `scale`, exactly.
fn per_token_mantissa(per_1m: Decimal, scale: i8) -> Result<i128> {
    let shift = u32::try_from(scale as i64 - 6 - per_1m.scale() as i64)
        .map_err(|_| Error::Config("internal: price scale below the price's own".into()))?;
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
    let ctx = SessionContext::new();
    let table = warehouse.open_table(INFERENCE).await?;
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
