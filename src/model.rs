//! The SQL model of `sql/` and the inputs it reads, shared by the rollup (which writes the
//! usage tables with it) and analysts' queries (which read its views). `charged_requests`
//! says who pays for each request; `usage_by_hour` sums them per hour and `usage_by_day` sums
//! those per day; `pricing` prices rows (single requests for the `priced_requests` view, or the
//! sums); `usage` picks the usage tables' columns. [`session`] gives a DataFusion session with
//! all of it registered (for tests and analysts); the rollup stage runs the same SQL a few
//! dates at a time.

use std::sync::Arc;

use arrow::array::{ArrayRef, Date32Builder, Decimal128Builder, StringBuilder, TimestampMicrosecondBuilder};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use datafusion::prelude::{DataFrame, SessionContext};
use rust_decimal::Decimal;

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::pricing::{BillMapping, Discounts, PriceBook, Principals, Settings};
use crate::time::{date_start_micros, epoch_days};
use crate::warehouse::Warehouse;
use crate::warehouse::schema::{INFERENCE, utc_micros};

/// Who is charged for each request (`charged_requests`).
pub const CHARGED_REQUESTS_SQL: &str = include_str!("../sql/charged_requests.sql");
/// Prices and owners for rows of `{{input}}` (single requests or sums per period).
pub const PRICING_SQL: &str = include_str!("../sql/pricing.sql");
/// Charged requests summed per hour, before pricing (`usage_by_hour`).
pub const USAGE_BY_HOUR_SQL: &str = include_str!("../sql/usage_by_hour.sql");
/// The hours' sums summed per day (`usage_by_day`).
pub const USAGE_BY_DAY_SQL: &str = include_str!("../sql/usage_by_day.sql");
/// The usage tables' columns, from the priced sums.
pub const USAGE_SQL: &str = include_str!("../sql/usage.sql");

/// The time grain of a usage table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grain {
    Hourly,
    Daily,
}

/// What a usage model's sums are made from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SumsFrom {
    /// The session's `usage_by_hour`: the view, or the hours' sums held for both tables. A
    /// day's sums are its hours' summed (`sql/usage_by_day.sql`).
    Hours,
    /// The session's `charged_requests`, summed straight into the grain's periods
    /// (`sql/usage_by_hour.sql` with the day's start for a day): the same sums and the same
    /// percentiles as from the hours (a day's durations are its hours' put together), without
    /// summing each hour first. For a query that computes the sums itself.
    Requests,
}

/// The start of a row's hour. date_bin is integer arithmetic (date_trunc converts time zones
/// per value); it works in nanoseconds, the tables keep microseconds.
const HOUR_START: &str =
    "arrow_cast(date_bin(INTERVAL '1 hour', request_time), 'Timestamp(Microsecond, Some(\"UTC\"))')";
/// The start of a row's day: 00:00 UTC of its `request_date`.
const DAY_START: &str = "arrow_cast(CAST(request_date AS TIMESTAMP), 'Timestamp(Microsecond, Some(\"UTC\"))')";

impl Grain {
    /// Both grains, in the order the rollup keeps its usage tables, their write targets and
    /// the files written to them.
    pub const ALL: [Grain; 2] = [Grain::Hourly, Grain::Daily];

    /// The table this grain is written to.
    pub fn table(self) -> &'static str {
        match self {
            Grain::Hourly => "usage_hourly",
            Grain::Daily => "usage_daily",
        }
    }

    /// The usage model's SQL at this grain: its sums (`from` says of what) and `pricing` as
    /// common table expressions ahead of `usage`.
    pub fn sql(self, settings: &Settings, from: SumsFrom) -> String {
        let sums = match (self, from) {
            (Grain::Hourly, _) => "SELECT * FROM usage_by_hour".to_string(),
            (Grain::Daily, SumsFrom::Hours) => by_period_sql(USAGE_BY_DAY_SQL, DAY_START, settings),
            (Grain::Daily, SumsFrom::Requests) => by_period_sql(USAGE_BY_HOUR_SQL, DAY_START, settings),
        };
        let time_columns = match self {
            Grain::Hourly => "priced_at AS hour,",
            Grain::Daily => "",
        };
        // the durations are only for the day's percentiles: they stay out of the joins
        format!(
            "WITH period_sums AS (\n{}\n),\nusage_by_period AS (SELECT * EXCLUDE (durations) FROM period_sums),\n\
             priced_usage AS (\n{}\n)\n{}",
            sums.trim_end(),
            pricing_sql("usage_by_period", settings).trim_end(),
            USAGE_SQL.replace("{{time_columns}}", time_columns)
        )
    }
}

/// The view of the charged requests summed per hour.
pub const USAGE_BY_HOUR: &str = "usage_by_hour";

/// `sql/usage_by_hour.sql` (the `usage_by_hour` view over `charged_requests`) with the keys
/// the settings need filled in.
fn usage_by_hour_sql(settings: &Settings) -> String {
    by_period_sql(USAGE_BY_HOUR_SQL, HOUR_START, settings)
}

/// `model` (`sql/usage_by_hour.sql` or `sql/usage_by_day.sql`) with its periods starting at
/// `period_start` and its grouping keys filled in: both group by the same keys (the day's
/// without the hour).
fn by_period_sql(model: &str, period_start: &str, settings: &Settings) -> String {
    let a = &settings.attribution;
    let context_key = match (a.usage_context_overrides, a.source_groups) {
        (true, _) => "context_cost_center, context_group,",
        (false, true) => "context_group,",
        (false, false) => "",
    };
    // a context tier that is 0 on every row is no grouping key (see usage_by_hour.sql), nor
    // is a service tier that no row has, and sums of parts no row has are 0
    let (band_key, band) = if settings.context_bands.is_empty() {
        ("", "CAST(0 AS BIGINT) AS above_prompt_tokens")
    } else {
        (", above_prompt_tokens", "above_prompt_tokens")
    };
    let (geo_key, geo) =
        if settings.geos.is_empty() { ("", "CAST('' AS VARCHAR) AS price_geo") } else { (", price_geo", "price_geo") };
    let (tier_key, tier) = if settings.no_service_tiers {
        ("", "CAST('standard' AS VARCHAR) AS service_tier")
    } else {
        (", service_tier", "service_tier")
    };
    let parts = if settings.no_billed_parts {
        "CAST(0 AS BIGINT) AS cache_creation_1h_input_tokens,\n  CAST(0 AS BIGINT) AS input_audio_tokens,\n  \
         CAST(0 AS BIGINT) AS output_audio_tokens,\n  CAST(0 AS BIGINT) AS web_search_requests,"
    } else {
        "sum(cache_creation_1h_input_tokens) AS cache_creation_1h_input_tokens,\n  \
         sum(input_audio_tokens) AS input_audio_tokens,\n  sum(output_audio_tokens) AS output_audio_tokens,\n  \
         sum(web_search_requests) AS web_search_requests,"
    };
    model
        .replace("{{period_start}}", period_start)
        .replace("{{context_cost_center_key}}", context_key)
        .replace("{{context_band_key}}", band_key)
        .replace("{{price_geo_key}}", geo_key)
        .replace("{{service_tier_key}}", tier_key)
        .replace("{{service_tier}}", tier)
        .replace("{{above_prompt_tokens}}", band)
        .replace("{{price_geo}}", geo)
        .replace("{{billed_parts}}", parts)
}

/// The optional pieces of `sql/pricing.sql`.
const PRICING_PARTS_SQL: &str = include_str!("../sql/pricing_parts.sql");

/// The section `name` of `sql/pricing_parts.sql`.
fn pricing_part(name: &str) -> String {
    let marker = format!("-- section: {name}\n");
    let start = PRICING_PARTS_SQL.find(&marker).map(|i| i + marker.len()).expect("a section of pricing_parts.sql");
    let rest = &PRICING_PARTS_SQL[start..];
    rest[..rest.find("-- section: ").unwrap_or(rest.len())].trim_end().to_string()
}

/// `sql/pricing.sql` over the relation `input`, with the pieces the data and the config need.
pub fn pricing_sql(input: &str, settings: &Settings) -> String {
    let piece = |on: bool, name: &str| if on { pricing_part(name) } else { String::new() };
    // without discounts the cost is the list cost: no multiplication per row
    let (factor, discount_id, discounted) = if settings.no_discounts {
        ("CAST(NULL AS DECIMAL(10, 4))", "CAST(NULL AS VARCHAR)", "j.list_cost")
    } else {
        (
            "COALESCE(de.factor, dp.factor)",
            // an unpriced row has no discount either
            "CASE WHEN p.price_version IS NOT NULL THEN COALESCE(de.discount_id, dp.discount_id) END",
            "CAST(j.list_cost * COALESCE(j.discount_factor, CAST(1 AS DECIMAL(10, 4))) AS DECIMAL(38, 12))",
        )
    };
    let terms = [
        piece(!settings.no_billed_parts, "part_terms"),
        piece(!settings.no_reasoning_prices, "reasoning_term"),
        piece(!settings.no_request_fees, "fee_term"),
    ]
    .join("\n");
    // a tier key no request and no price has is the same on every row: filter the prices to
    // it instead of hashing it on every row of the join
    let mut keys = Vec::new();
    let mut only = Vec::new();
    for (off, key, column, value) in [
        (settings.no_service_tiers, "p.service_tier = r.service_tier", "service_tier", "'standard'"),
        (
            settings.context_bands.is_empty(),
            "p.above_prompt_tokens = r.above_prompt_tokens",
            "above_prompt_tokens",
            "0",
        ),
        (settings.geos.is_empty(), "p.inference_geo = r.price_geo", "inference_geo", "''"),
    ] {
        if off {
            only.push(format!("{column} = {value}"));
        } else {
            keys.push(format!("AND {key}"));
        }
    }
    let prices = if only.is_empty() {
        "prices".to_string()
    } else {
        format!("(SELECT * FROM prices WHERE {})", only.join(" AND "))
    };
    PRICING_SQL
        .replace("{{input}}", input)
        .replace("{{prices}}", &prices)
        .replace("{{tier_keys}}", &keys.join("\n   "))
        .replace("{{discount_joins}}", &piece(!settings.no_discounts, "discount_joins"))
        .replace("{{discount_factor}}", factor)
        .replace("{{discounted_cost}}", discounted)
        .replace("{{discount_id}}", discount_id)
        .replace("{{part_checks}}", &piece(!settings.no_billed_parts, "part_checks"))
        .replace("{{part_terms}}", &terms)
}

/// `sql/charged_requests.sql` with the settings filled in.
pub fn charged_requests_sql(settings: &Settings) -> String {
    let sql_bool = |b: bool| if b { "TRUE" } else { "FALSE" };
    CHARGED_REQUESTS_SQL
        .replace("{{usage_context_overrides}}", sql_bool(settings.attribution.usage_context_overrides))
        .replace("{{source_groups}}", sql_bool(settings.attribution.source_groups))
        .replace("{{context_band}}", &context_band_sql(&settings.context_bands))
        .replace("{{price_geo}}", &price_geo_sql(&settings.geos))
}

/// The region a request is priced in: its `inference_geo` when the price book has a premium
/// for that region, else "" (the rates elsewhere).
fn price_geo_sql(geos: &[String]) -> String {
    if geos.is_empty() {
        return "CAST('' AS VARCHAR)".into();
    }
    let list: Vec<String> = geos.iter().map(|g| format!("'{}'", g.replace('\'', "''"))).collect();
    format!("CASE WHEN inference_geo IN ({}) THEN inference_geo ELSE '' END", list.join(", "))
}

/// The context tier of a request: the highest of `bands` its whole prompt (uncached input +
/// cache reads + cache writes) is greater than, else 0.
fn context_band_sql(bands: &[i64]) -> String {
    if bands.is_empty() {
        return "CAST(0 AS BIGINT)".into();
    }
    let prompt = "(input_tokens + cache_read_input_tokens + cache_creation_input_tokens)";
    let whens: String = bands.iter().rev().map(|t| format!("WHEN {prompt} > {t} THEN CAST({t} AS BIGINT) ")).collect();
    format!("CASE {whens}ELSE CAST(0 AS BIGINT) END")
}

/// Completes the settings from what the session's `inference` holds, so that the SQL does no
/// work for what the data does not have:
/// - [`crate::pricing::Attribution::source_groups`]: rows of a source that names their group
///   (LiteLLM's teams);
/// - [`Settings::no_service_tiers`]: no row says its service tier (every request is standard, so
///   the tier is no grouping key);
/// - [`Settings::no_billed_parts`]: no row has 1-hour cache writes, audio or web searches (their
///   sums are 0).
///
/// Each is a `LIMIT 1` query that the files' statistics mostly answer without reading the rows;
/// the three run at once (one after the other they took 3 % of a 1M-request rollup's time).
pub async fn find_data_features(ctx: &SessionContext, settings: &mut Settings) -> Result<()> {
    let any = |sql: &'static str| crate::engine::Spawned::query(ctx, sql);
    let source_groups = any("SELECT 1 FROM inference WHERE source = 'litellm' LIMIT 1");
    let service_tiers = any("SELECT 1 FROM inference WHERE service_tier IS NOT NULL LIMIT 1");
    let billed_parts = any("SELECT 1 FROM inference WHERE cache_creation_1h_input_tokens > 0 \
         OR input_audio_tokens > 0 OR output_audio_tokens > 0 OR web_search_requests > 0 LIMIT 1");
    let found = |rows: Vec<RecordBatch>| rows.iter().any(|b| b.num_rows() > 0);
    settings.attribution.source_groups = found(source_groups.result().await?);
    settings.no_service_tiers = !found(service_tiers.result().await?);
    settings.no_billed_parts = !found(billed_parts.result().await?);
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

/// `value` / 10^`divide_by` as the mantissa of a decimal at `scale`, exactly (a price per
/// million tokens is divided by 10^6, per thousand searches by 10^3).
fn mantissa_at(value: Decimal, divide_by: u32, scale: i8) -> Result<i128> {
    let shift = u32::try_from(scale as i64 - divide_by as i64 - value.scale() as i64)
        .map_err(|_| Error::Config(format!("price {value} has more decimal places than supported")))?;
    10_i128
        .checked_pow(shift)
        .and_then(|m| value.mantissa().checked_mul(m))
        .ok_or_else(|| Error::Config(format!("price {value} is too large")))
}

/// The `prices` table of the rollup SQL: the resolved rates of every served entity, service
/// tier and context band ([`PriceBook::resolved_periods`]), per token (per request for web
/// searches and fees) as exact decimals. A part billed apart (audio, reasoning) is stored as
/// the difference to its bucket's rate, so the SQL keeps one linear sum; a rate the book lacks
/// is NULL, which the SQL turns into an unpriced row when the tokens need it; `has_every_rate`
/// says that no rate is NULL, so that the SQL checks the tokens only against rows that lack one.
pub fn prices_table(book: &PriceBook) -> Result<RecordBatch> {
    let scale = per_token_scale(book)?;
    let price_type = DataType::Decimal128(38, scale);
    let mut entity = StringBuilder::new();
    let mut tier = StringBuilder::new();
    let mut band = arrow::array::Int64Builder::new();
    let mut valid_from = TimestampMicrosecondBuilder::new().with_timezone("UTC");
    let mut valid_to = TimestampMicrosecondBuilder::new().with_timezone("UTC");
    let mut currency = StringBuilder::new();
    let mut mode = StringBuilder::new();
    let mut version = StringBuilder::new();
    const RATES: [&str; 10] = [
        "input_per_token",
        "cache_read_per_token",
        "cache_write_per_token",
        "cache_write_1h_per_token",
        "output_per_token",
        "input_audio_extra_per_token",
        "output_audio_extra_per_token",
        "reasoning_extra_per_token",
        "web_search_per_request",
        "request_fee",
    ];
    let mut rates: Vec<Decimal128Builder> =
        RATES.iter().map(|_| Decimal128Builder::new().with_data_type(price_type.clone())).collect();
    let mut retires_on = Date32Builder::new();
    let mut geo = StringBuilder::new();
    let mut has_every_rate = arrow::array::BooleanBuilder::new();
    for (row, context_band, region, from, to) in book.resolved_periods() {
        retires_on.append_option(row.retires_on.map(epoch_days));
        entity.append_value(&row.served_entity_name);
        tier.append_value(row.service_tier.as_str());
        band.append_value(context_band);
        geo.append_value(&region);
        valid_from.append_value(date_start_micros(from));
        valid_to.append_option(to.map(date_start_micros));
        currency.append_value(&row.currency);
        mode.append_value(row.pricing_mode.as_str());
        version.append_value(row.version());
        let less = |a: Option<Decimal>, b: Option<Decimal>| a.zip(b).map(|(a, b)| a - b);
        let output = row.output_per_1m;
        let values: [(Option<Decimal>, u32); 10] = [
            (row.input_per_1m, 6),
            (row.cached_input_per_1m, 6),
            (row.cache_write_or_input(), 6),
            (row.cache_write_1h_per_1m, 6),
            (output, 6),
            (less(row.input_audio_per_1m, row.input_per_1m), 6),
            (less(row.output_audio_per_1m, output), 6),
            // reasoning costs the output rate unless priced apart: never missing
            (Some(less(row.reasoning_per_1m, output).unwrap_or(Decimal::ZERO)), 6),
            (row.web_search_per_1k, 3),
            (Some(row.request_fee.unwrap_or(Decimal::ZERO)), 0),
        ];
        has_every_rate.append_value(values.iter().all(|(value, _)| value.is_some()));
        for (builder, (value, divide_by)) in rates.iter_mut().zip(values) {
            match value {
                Some(v) => builder.append_value(mantissa_at(v, divide_by, scale)?),
                None => builder.append_null(),
            }
        }
    }
    let ts = utc_micros();
    let mut fields = vec![
        Field::new("served_entity_name", DataType::Utf8, false),
        Field::new("service_tier", DataType::Utf8, false),
        Field::new("above_prompt_tokens", DataType::Int64, false),
        Field::new("inference_geo", DataType::Utf8, false),
        Field::new("valid_from", ts.clone(), false),
        Field::new("valid_to", ts, true),
        Field::new("currency", DataType::Utf8, false),
        Field::new("pricing_mode", DataType::Utf8, false),
        Field::new("price_version", DataType::Utf8, false),
    ];
    fields.extend(RATES.iter().map(|name| Field::new(*name, price_type.clone(), true)));
    fields.push(Field::new("retires_on", DataType::Date32, true));
    fields.push(Field::new("has_every_rate", DataType::Boolean, false));
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(entity.finish()),
        Arc::new(tier.finish()),
        Arc::new(band.finish()),
        Arc::new(geo.finish()),
        Arc::new(valid_from.finish()),
        Arc::new(valid_to.finish()),
        Arc::new(currency.finish()),
        Arc::new(mode.finish()),
        Arc::new(version.finish()),
    ];
    columns.extend(rates.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
    columns.push(Arc::new(retires_on.finish()));
    columns.push(Arc::new(has_every_rate.finish()));
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?)
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

/// Decimal type of a discount's factor (what is paid of the list price, e.g. 0.8750).
const FACTOR_TYPE: DataType = DataType::Decimal128(10, 4);

/// The `discounts` table of the rollup SQL: the factor of the list price paid, by provider
/// and/or served entity, over each discount's period.
pub fn discounts_table(discounts: &Discounts, book: &PriceBook) -> Result<RecordBatch> {
    let mut entity = StringBuilder::new();
    let mut provider = StringBuilder::new();
    let mut valid_from = TimestampMicrosecondBuilder::new().with_timezone("UTC");
    let mut valid_to = TimestampMicrosecondBuilder::new().with_timezone("UTC");
    let mut factor = Decimal128Builder::new().with_data_type(FACTOR_TYPE);
    let mut id = StringBuilder::new();
    for d in discounts.rows() {
        // a discounted per-token price must stay exact at the usage tables' scale
        let f = d.factor();
        if book.max_price_scale() + 6 + f.scale() > PRICE_SCALE as u32 {
            return Err(Error::Config(format!(
                "discounts.csv line {}: {} % of prices with {} decimal places has more decimals than a cost can hold; \
                 round the percentage or the prices",
                d.line,
                d.percent,
                book.max_price_scale()
            )));
        }
        entity.append_option(d.served_entity_name.as_deref());
        provider.append_option(d.provider.as_deref());
        valid_from.append_value(date_start_micros(d.effective_from));
        valid_to.append_option(d.effective_to.map(date_start_micros));
        factor.append_value(mantissa_at(f, 0, 4)?);
        id.append_value(d.id());
    }
    let ts = utc_micros();
    let schema = Schema::new(vec![
        Field::new("served_entity_name", DataType::Utf8, true),
        Field::new("provider", DataType::Utf8, true),
        Field::new("valid_from", ts.clone(), false),
        Field::new("valid_to", ts, true),
        Field::new("factor", FACTOR_TYPE, false),
        Field::new("discount_id", DataType::Utf8, false),
    ]);
    Ok(RecordBatch::try_new(
        Arc::new(schema),
        vec![
            Arc::new(entity.finish()),
            Arc::new(provider.finish()),
            Arc::new(valid_from.finish()),
            Arc::new(valid_to.finish()),
            Arc::new(factor.finish()),
            Arc::new(id.finish()),
        ],
    )?)
}

/// What the model reads besides `inference`: the files of `config/`.
#[derive(Debug, Clone)]
pub struct Inputs {
    pub book: PriceBook,
    pub principals: Principals,
    pub settings: Settings,
    pub discounts: Discounts,
}

impl Inputs {
    /// The inputs, with the settings completed from the price book (its context tiers).
    pub fn new(book: PriceBook, principals: Principals, mut settings: Settings, discounts: Discounts) -> Self {
        settings.context_bands = book.context_bands();
        settings.geos = book.geos();
        settings.no_discounts = discounts.rows().is_empty();
        settings.no_reasoning_prices = book.rows().iter().all(|r| r.reasoning_per_1m.is_none());
        settings.no_request_fees = book.rows().iter().all(|r| r.request_fee.is_none());
        Self { book, principals, settings, discounts }
    }

    /// Loads `prices.csv`, `principals.csv`, `settings.toml` and `discounts.csv` (optional) from the
    /// warehouse's `config/`.
    pub async fn load(warehouse: &Warehouse) -> Result<Self> {
        Ok(Self::new(
            PriceBook::load(&warehouse.config_file("prices.csv").await?)?,
            Principals::load(&warehouse.config_file("principals.csv").await?)?,
            Settings::load(&warehouse.config_file("settings.toml").await?)?,
            Discounts::load(&warehouse.config_file("discounts.csv").await?)?,
        ))
    }
}

/// Registers `inference` (the Delta table at its opened version), `prices` and `principals`.
pub async fn register_inputs(
    ctx: &SessionContext,
    engine: &Engine,
    table: &deltalake::DeltaTable,
    inputs: &Inputs,
) -> Result<()> {
    // the SQL's context tiers come from the settings: they must be the book's, or long prompts
    // would be priced at the base tier
    if inputs.settings.context_bands != inputs.book.context_bands() || inputs.settings.geos != inputs.book.geos() {
        return Err(Error::Internal(
            "the settings' context tiers are not the price book's: build Inputs with Inputs::new".into(),
        ));
    }
    ctx.register_table(INFERENCE, engine.delta_table(ctx, table).await?)?;
    register_config(ctx, engine, inputs)
}

/// Registers the tables of `config/`: `prices`, `principals` and `discounts`.
pub fn register_config(ctx: &SessionContext, engine: &Engine, inputs: &Inputs) -> Result<()> {
    for (name, batch) in [
        ("prices", prices_table(&inputs.book)?),
        ("principals", principals_table(&inputs.principals)?),
        ("discounts", discounts_table(&inputs.discounts, &inputs.book)?),
    ] {
        ctx.register_table(name, engine.small_table(batch)?)?;
    }
    Ok(())
}

/// The lines of `bill_lines` that count for the days `from` ..= `to` (`sql/counted_bill_lines.sql`):
/// the newest import of each bill period, and a provider's own bill over the gateway's view of
/// the same spend. A query over the session's `bill_lines`.
pub fn counted_bill_lines_sql(from: chrono::NaiveDate, to: chrono::NaiveDate) -> String {
    include_str!("../sql/counted_bill_lines.sql")
        .replace("{{from}}", &from.to_string())
        .replace("{{to}}", &to.to_string())
}

/// Registers `bill_lines` (as it is now), `pool_days` (the pools of `config/capacity.csv`,
/// [`pool_days_table`]) and the view `counted_bill_lines` over the days `from ..= to`
/// ([`counted_bill_lines_sql`]) in `ctx`, replacing earlier registrations, for reconcile, the
/// true-up and the billed capacity alike; returns the version of `bill_lines` read, or `None`
/// when the warehouse has no bills.
pub async fn register_counted_bill_lines(
    ctx: &SessionContext,
    warehouse: &Warehouse,
    from: chrono::NaiveDate,
    to: chrono::NaiveDate,
) -> Result<Option<i64>> {
    use crate::warehouse::schema::BILL_LINES;
    if !warehouse.has_table(BILL_LINES).await? {
        return Ok(None);
    }
    let pools = crate::pricing::Capacity::load(&warehouse.config_file("capacity.csv").await?)?.pools;
    let _ = ctx.deregister_table("pool_days")?;
    ctx.register_table("pool_days", warehouse.engine().small_table(pool_days_table(&pools, from, to)?)?)?;
    let bills = warehouse.open_table(BILL_LINES).await?;
    let _ = ctx.deregister_table(BILL_LINES)?;
    ctx.register_table(BILL_LINES, warehouse.engine().delta_table(ctx, &bills).await?)?;
    let counted = crate::engine::view(ctx.sql(&counted_bill_lines_sql(from, to)).await?);
    let _ = ctx.deregister_table("counted_bill_lines")?;
    ctx.register_table("counted_bill_lines", counted)?;
    Ok(Some(bills.version().unwrap_or(0) as i64))
}

/// The `bill_models` table: the provider and model id each served entity is billed under, from
/// `config/bill_mapping.csv`'s model rows, else the price book's `catalog_model` (and
/// `provider`) of the entity's latest row. An entity without either has no row: its bill names
/// it as the gateway does.
pub fn bill_models_table(book: &PriceBook, mapping: &BillMapping) -> Result<RecordBatch> {
    let mut models: std::collections::BTreeMap<&str, (Option<&str>, &str)> = Default::default();
    for row in book.rows() {
        if let Some(model) = &row.catalog_model {
            // rows are in effective order: the latest row's name wins
            models.insert(&row.served_entity_name, (row.provider.as_deref(), model));
        }
    }
    for m in &mapping.models {
        models.insert(&m.served_entity_name, (Some(&m.provider), &m.provider_model));
    }
    let (mut entity, mut provider, mut model) = (StringBuilder::new(), StringBuilder::new(), StringBuilder::new());
    for (e, (p, m)) in models {
        entity.append_value(e);
        provider.append_option(p);
        model.append_value(m);
    }
    let schema = Schema::new(vec![
        Field::new("served_entity_name", DataType::Utf8, false),
        Field::new("provider", DataType::Utf8, true),
        Field::new("provider_model", DataType::Utf8, false),
    ]);
    Ok(RecordBatch::try_new(
        Arc::new(schema),
        vec![Arc::new(entity.finish()), Arc::new(provider.finish()), Arc::new(model.finish())],
    )?)
}

/// The `pool_days` table: one row per provisioned pool (`config/capacity.csv`) and UTC date of
/// `from ..= to` on which it is in force, with what the pool costs that day by its rate (24
/// hours), for reconcile: a pool's traffic is paid by its hours, so the bill of its endpoint
/// is compared with these, not with the traffic's per-token cost. `provider_model` is what the
/// bill names the pool by: its endpoint (a pool without one, its own name).
pub fn pool_days_table(
    pools: &[crate::pricing::Pool],
    from: chrono::NaiveDate,
    to: chrono::NaiveDate,
) -> Result<RecordBatch> {
    let mut date = Date32Builder::new();
    let (mut endpoint, mut entity) = (StringBuilder::new(), StringBuilder::new());
    let (mut model, mut currency) = (StringBuilder::new(), StringBuilder::new());
    let mut cost = Decimal128Builder::new().with_data_type(DataType::Decimal128(38, 12));
    for pool in pools {
        for day in from.iter_days().take_while(|d| *d <= to) {
            if day < pool.effective_from || pool.effective_to.is_some_and(|end| day >= end) {
                continue;
            }
            let day_cost = pool.cost_per_hour * Decimal::from(24);
            let mantissa = crate::money::mantissa_at_scale(day_cost, 12)
                .ok_or_else(|| Error::Config(format!("capacity.csv line {}: cost_per_hour too large", pool.line)))?;
            date.append_value(epoch_days(day));
            endpoint.append_option(pool.endpoint_name.as_deref());
            entity.append_option(pool.served_entity_name.as_deref());
            model.append_value(pool.endpoint_name.as_deref().unwrap_or(&pool.pool));
            currency.append_value(&pool.currency);
            cost.append_value(mantissa);
        }
    }
    let schema = Schema::new(vec![
        Field::new("date", DataType::Date32, false),
        Field::new("endpoint_name", DataType::Utf8, true),
        Field::new("served_entity_name", DataType::Utf8, true),
        Field::new("provider_model", DataType::Utf8, false),
        Field::new("currency", DataType::Utf8, false),
        Field::new("cost", DataType::Decimal128(38, 12), false),
    ]);
    let columns: Vec<ArrayRef> = vec![
        Arc::new(date.finish()),
        Arc::new(endpoint.finish()),
        Arc::new(entity.finish()),
        Arc::new(model.finish()),
        Arc::new(currency.finish()),
        Arc::new(cost.finish()),
    ];
    Ok(RecordBatch::try_new(Arc::new(schema), columns)?)
}

/// Registers the views of the model over the session's `inference`: `charged_requests` and
/// `priced_requests` (every request with its price, owner and cost, for analysts).
pub async fn register_views(ctx: &SessionContext, settings: &Settings) -> Result<()> {
    register_sql_views(
        ctx,
        [
            ("charged_requests", charged_requests_sql(settings)),
            ("priced_requests", pricing_sql("charged_requests", settings)),
        ],
    )
    .await
}

/// Registers the `usage_by_hour` view over the session's `charged_requests`: what the usage
/// models ([`Grain::sql`]) read. The rollup registers it (and may replace it with its rows,
/// computed once for both tables); analysts read the usage tables instead.
pub async fn register_usage_by_hour(ctx: &SessionContext, settings: &Settings) -> Result<()> {
    register_sql_views(ctx, [(USAGE_BY_HOUR, usage_by_hour_sql(settings))]).await
}

/// Registers each query of `views` as a view under its name (replacing one of that name).
async fn register_sql_views(ctx: &SessionContext, views: impl IntoIterator<Item = (&str, String)>) -> Result<()> {
    for (name, sql) in views {
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
    find_data_features(&ctx, &mut settings).await?;
    register_views(&ctx, &settings).await?;
    Ok(ctx)
}

/// The usage model at `grain` as a DataFrame (over the session's `usage_by_hour`, registered
/// over its `charged_requests` if it has none).
pub async fn usage(ctx: &SessionContext, grain: Grain, settings: &Settings) -> Result<DataFrame> {
    if !ctx.table_exist(USAGE_BY_HOUR)? {
        register_usage_by_hour(ctx, settings).await?;
    }
    Ok(ctx.sql(&grain.sql(settings, SumsFrom::Hours)).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_discount_too_fine_for_the_prices_is_refused_in_one_readable_sentence() {
        let book = PriceBook::from_csv_str(
            "served_entity_name,effective_from,currency,input_price_per_1m,cached_input_price_per_1m,output_price_per_1m\n\
             m,2025-01-01,USD,0.123456,0.1,1\n",
            "prices.csv",
        )
        .unwrap();
        let discounts = Discounts::from_csv_str(
            "provider,served_entity_name,effective_from,percent\n,m,2025-01-01,12.5\n",
            "d.csv",
        )
        .unwrap();
        let err = discounts_table(&discounts, &book).unwrap_err().to_string();
        assert!(err.contains("discounts.csv line 2") && err.contains("can hold; round the percentage"), "{err}");
    }
}
