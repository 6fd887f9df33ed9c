//! Analyst SQL: a read-only DataFusion session over every table of the warehouse and the
//! dimension files, for `tokenledger sql`.
//!
//! Registered: `inference`, `quarantine`, `usage_hourly`, `usage_daily`, `runs` (the Delta tables that
//! exist), `prices`, `principals`, `budgets`, `capacity` (the config files as the rollup and
//! the chargeback read them), and the model's views `charged_requests` and `priced_requests`.
//! DDL, DML, COPY and SET are refused: the warehouse changes only through its commands.
//! [`crate::output`] writes results, [`shell`] is the interactive shell, [`reports`] the
//! named reports and [`crate::output::chart`] their pictures.

pub mod reports;
pub mod shell;

use datafusion::execution::context::SQLOptions;
use datafusion::prelude::SessionContext;

use crate::error::{Error, Result};
use crate::model::{Inputs, session_with_memory};
use crate::warehouse::Warehouse;

/// The warehouse's Delta tables a query can read (those that exist).
pub use crate::warehouse::schema::TABLES;
/// The config files, as tables.
pub const CONFIG_TABLES: [&str; 4] = ["prices", "principals", "budgets", "capacity"];
/// The model's views.
pub const VIEWS: [&str; 2] = ["charged_requests", "priced_requests"];

/// What a registered name is: `table` (Delta), `config` or `view`.
pub fn kind_of(name: &str) -> &'static str {
    if TABLES.contains(&name) {
        "table"
    } else if CONFIG_TABLES.contains(&name) {
        "config"
    } else {
        "view"
    }
}

/// Every name a query can read, the way an error message lists them.
fn all_names() -> String {
    TABLES.iter().chain(CONFIG_TABLES.iter()).chain(VIEWS.iter()).copied().collect::<Vec<_>>().join(", ")
}

/// A read-only session over the warehouse with a memory budget (operators spill past it).
pub async fn analyst_session(warehouse: &Warehouse, memory_limit: usize) -> Result<SessionContext> {
    let ctx = session_with_memory(warehouse, &Inputs::load(warehouse).await?, memory_limit).await?;
    register_budgets_and_capacity(&ctx, warehouse).await?;
    for name in TABLES.iter().skip(1) {
        if warehouse.has_table(name).await? {
            let table = deltalake::open_table(warehouse.table_url(name)?).await?;
            ctx.register_table(*name, warehouse.engine().delta_table(&ctx, &table).await?)?;
        }
    }
    Ok(ctx)
}

/// `budgets` and `capacity`: the config files as the chargeback reads them (amounts exact).
async fn register_budgets_and_capacity(ctx: &SessionContext, warehouse: &Warehouse) -> Result<()> {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, Date32Array, Decimal128Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use arrow::record_batch::RecordBatch;
    let money = |values: Vec<rust_decimal::Decimal>| -> Result<ArrayRef> {
        // 38 digits at 6 decimals: budgets and hourly rates are plain amounts
        let scaled: Vec<i128> =
            values.iter().map(|d| (d * rust_decimal::Decimal::from(1_000_000)).trunc().mantissa()).collect();
        Ok(Arc::new(Decimal128Array::from(scaled).with_precision_and_scale(38, 6)?))
    };
    let days = crate::time::epoch_days;
    let text = |v: Vec<String>| -> ArrayRef { Arc::new(StringArray::from(v)) };

    let budgets = crate::pricing::Budgets::load(&warehouse.config_file("budgets.csv").await?)?.rows;
    let schema = Schema::new(vec![
        Field::new("scope", DataType::Utf8, false),
        Field::new("name", DataType::Utf8, false),
        Field::new("period", DataType::Utf8, false),
        Field::new("amount", DataType::Decimal128(38, 6), false),
        Field::new("currency", DataType::Utf8, false),
        Field::new("thresholds", DataType::Utf8, false),
    ]);
    let batch = RecordBatch::try_new(
        Arc::new(schema),
        vec![
            text(budgets.iter().map(|b| b.scope.column().to_string()).collect()),
            text(budgets.iter().map(|b| b.name.clone()).collect()),
            text(budgets.iter().map(|b| format!("{:?}", b.period).to_lowercase()).collect()),
            money(budgets.iter().map(|b| b.amount).collect())?,
            text(budgets.iter().map(|b| b.currency.clone()).collect()),
            text(
                budgets
                    .iter()
                    .map(|b| b.thresholds.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(";"))
                    .collect(),
            ),
        ],
    )?;
    ctx.register_table("budgets", warehouse.engine().small_table(batch)?)?;

    let pools = crate::pricing::Capacity::load(&warehouse.config_file("capacity.csv").await?)?.pools;
    let schema = Schema::new(vec![
        Field::new("pool", DataType::Utf8, false),
        Field::new("endpoint_name", DataType::Utf8, true),
        Field::new("served_entity_name", DataType::Utf8, true),
        Field::new("cost_per_hour", DataType::Decimal128(38, 6), false),
        Field::new("currency", DataType::Utf8, false),
        Field::new("effective_from", DataType::Date32, false),
        Field::new("effective_to", DataType::Date32, true),
        Field::new("owner_group", DataType::Utf8, false),
    ]);
    let batch = RecordBatch::try_new(
        Arc::new(schema),
        vec![
            text(pools.iter().map(|p| p.pool.clone()).collect()),
            Arc::new(StringArray::from(pools.iter().map(|p| p.endpoint_name.clone()).collect::<Vec<_>>())),
            Arc::new(StringArray::from(pools.iter().map(|p| p.served_entity_name.clone()).collect::<Vec<_>>())),
            money(pools.iter().map(|p| p.cost_per_hour).collect())?,
            text(pools.iter().map(|p| p.currency.clone()).collect()),
            Arc::new(Date32Array::from(pools.iter().map(|p| days(p.effective_from)).collect::<Vec<_>>())),
            Arc::new(Date32Array::from(pools.iter().map(|p| p.effective_to.map(days)).collect::<Vec<_>>())),
            text(pools.iter().map(|p| p.owner_group.clone()).collect()),
        ],
    )?;
    ctx.register_table("capacity", warehouse.engine().small_table(batch)?)?;
    Ok(())
}

/// Runs one read-only query and collects its rows. A query that cannot be planned is a usage
/// error whose message points at the place in the SQL and says what to try.
pub async fn query(ctx: &SessionContext, sql: &str) -> Result<Vec<arrow::record_batch::RecordBatch>> {
    let options = SQLOptions::new().with_allow_ddl(false).with_allow_dml(false).with_allow_statements(false);
    let df = ctx.sql_with_options(sql, options).await.map_err(|e| Error::Usage(explain(sql, &e)))?;
    let schema = std::sync::Arc::new(df.schema().as_arrow().clone());
    let batches = df.collect().await.map_err(|e| Error::from(e).with_memory_hint("the query", None))?;
    // an empty result still has its columns (a CSV of it keeps its header line)
    Ok(if batches.is_empty() { vec![arrow::record_batch::RecordBatch::new_empty(schema)] } else { batches })
}

/// The error, the line of the SQL it happened at with a caret under the place, and a hint.
fn explain(sql: &str, e: &datafusion::error::DataFusionError) -> String {
    let text = e.to_string();
    let mut out = text.clone();
    if let Some((line, column)) = error_location(e, &text)
        && let Some(source) = sql.lines().nth(line.saturating_sub(1))
    {
        let caret = " ".repeat(source.chars().take(column.saturating_sub(1)).count());
        out.push_str(&format!("\n  at line {line}, column {column}:\n    {source}\n    {caret}^"));
    }
    let lower = text.to_lowercase();
    let parse_error = lower.contains("parsererror") || lower.contains("sql parser error");
    let hint = if lower.contains("not supported")
        && (lower.contains("ddl") || lower.contains("dml") || lower.contains("statement"))
    {
        "tokenledger sql is read-only: SELECT (and WITH / EXPLAIN) only; the warehouse changes through ingest and rollup".to_string()
    } else if parse_error {
        "the SQL does not parse at the caret; a query is one SELECT (or WITH ... SELECT, or EXPLAIN) statement"
            .to_string()
    } else if lower.contains("table") && lower.contains("not found") {
        format!("the tables are {} (\\d in tokenledger sql's shell lists them)", all_names())
    } else if lower.contains("no field named") || lower.contains("column") {
        format!("\\d TABLE in the shell (tokenledger sql) lists a table's columns. Tables: {}", all_names())
    } else {
        format!("Tables: {}", all_names())
    };
    out.push_str("\nhint: ");
    out.push_str(&hint);
    out
}

/// Where the error is, 1-based: from DataFusion's diagnostic span, or from the parser's
/// "at Line: L, Column: C".
fn error_location(e: &datafusion::error::DataFusionError, text: &str) -> Option<(usize, usize)> {
    let from_span = e
        .iter()
        .find_map(|e| e.diagnostic())
        .and_then(|d| d.span)
        .map(|s| (s.start.line as usize, s.start.column as usize));
    from_span.filter(|(line, _)| *line > 0).or_else(|| {
        let rest = &text[text.find("Line: ")? + 6..];
        let (line, rest) = rest.split_once(", Column: ")?;
        let column: String = rest.chars().take_while(char::is_ascii_digit).collect();
        Some((line.trim().parse().ok()?, column.parse().ok()?))
    })
}
