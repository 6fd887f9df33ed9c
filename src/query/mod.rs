//! Analyst SQL: a read-only DataFusion session over every table of the warehouse and the
//! dimension files, for `tokenledger sql`.
//!
//! Registered: `inference`, `quarantine`, `usage_hourly`, `usage_daily` (the Delta tables that
//! exist), `prices`, `principals` (the config files as the rollup reads them), and the model's
//! views `charged_requests` and `priced_requests`. DDL, DML, COPY and SET are refused: the
//! warehouse changes only through its commands.

use datafusion::execution::context::SQLOptions;
use datafusion::prelude::SessionContext;

use crate::error::{Error, Result};
use crate::rollup::{Inputs, register_inputs, register_views, runtime, session_context};
use crate::warehouse::Warehouse;
use crate::warehouse::schema::{INFERENCE, QUARANTINE};

/// The tables a query can read, in the order `\d` would list them.
pub const TABLES: [&str; 4] = [INFERENCE, QUARANTINE, "usage_hourly", "usage_daily"];

/// A read-only session over the warehouse with a memory budget (operators spill past it).
pub async fn analyst_session(warehouse: &Warehouse, memory_limit: usize) -> Result<SessionContext> {
    let ctx = session_context(runtime(memory_limit)?, 2);
    let inputs = Inputs::load(warehouse)?;
    register_inputs(&ctx, &warehouse.open_table(INFERENCE).await?, &inputs).await?;
    register_views(&ctx, &inputs.settings).await?;
    for name in TABLES.iter().skip(1) {
        if warehouse.has_table(name) {
            let table = deltalake::open_table(warehouse.table_url(name)?).await?;
            ctx.register_table(*name, table.table_provider().await?)?;
        }
    }
    Ok(ctx)
}

/// Runs one read-only query and collects its rows.
pub async fn query(ctx: &SessionContext, sql: &str) -> Result<Vec<arrow::record_batch::RecordBatch>> {
    let options = SQLOptions::new().with_allow_ddl(false).with_allow_dml(false).with_allow_statements(false);
    let df = ctx.sql_with_options(sql, options).await.map_err(|e| {
        let text = e.to_string();
        if text.contains("not supported") || text.contains("DDL") || text.contains("DML") || text.contains("Statement") {
            Error::Usage(format!(
                "{text}\ntokenledger sql is read-only: SELECT (and WITH / EXPLAIN) only; the warehouse changes through \
                 ingest and rollup"
            ))
        } else {
            Error::Usage(format!("{text}\nTables: {}, prices, principals, charged_requests, priced_requests", TABLES.join(", ")))
        }
    })?;
    Ok(df.collect().await?)
}
