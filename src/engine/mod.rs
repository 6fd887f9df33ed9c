//! Where queries run: in this process (`local`), or on an Apache DataFusion Ballista cluster
//! (`ballista://HOST:PORT`, feature `ballista`). The SQL of `sql/` is the same either way; what
//! differs is how a session is made and how tables are handed to it:
//!
//! - a Delta table becomes one Parquet scan of the files of its snapshot, their partition
//!   values as columns ([`SnapshotTable`]), so a cluster plans and reads plain Parquet, only
//!   the files the table's version holds, in as many tasks as it has slots, and never lists a
//!   directory;
//! - a small config table (prices, principals ...) becomes a `VALUES` view, because an
//!   in-memory table cannot be sent to a cluster.
//!
//! The rollup's rows are written where they are computed ([`delta_write`]: each task writes
//! its files and hands back their list); this process commits them to Delta (atomic, per
//! date). Other results come back to this process, which writes them.

#[cfg(feature = "ballista")]
pub mod cluster;
pub mod delta_write;
pub mod functions;
pub mod held_writes;
pub mod partition_runs;
mod session;
mod snapshot;
mod stores;

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{DataType, Int64Type};
use arrow::record_batch::RecordBatch;
use datafusion::catalog::TableProvider;
use datafusion::datasource::MemTable;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::prelude::{SessionConfig, SessionContext};

pub use session::{DEFAULT_MEMORY_LIMIT, memory_pool, runtime};
pub use snapshot::{SnapshotFile, SnapshotFiles, SnapshotTable};
pub use stores::{WarehouseStores, register_cloud_stores};

use crate::error::{Error, Result};

/// Where a command's queries run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Engine {
    /// DataFusion in this process.
    #[default]
    Local,
    /// A Ballista scheduler at `host:port`; a stage's work is cut into `partitions` tasks
    /// (default: Ballista's 16).
    Ballista { host: String, port: u16, partitions: Option<usize> },
}

impl std::str::FromStr for Engine {
    type Err = Error;

    /// `local`, or `ballista://HOST:PORT[?partitions=N]` (`df://`, Ballista's own spelling,
    /// too).
    fn from_str(text: &str) -> Result<Self> {
        if text == "local" {
            return Ok(Engine::Local);
        }
        let usage = || {
            Error::Usage(format!(
                "--engine {text}: say `local` or `ballista://HOST:PORT` (a Ballista scheduler), optionally with `?partitions=N` (N ≥ 1)"
            ))
        };
        let rest = text.strip_prefix("ballista://").or_else(|| text.strip_prefix("df://")).ok_or_else(usage)?;
        let (address, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (host, port) = address.trim_end_matches('/').rsplit_once(':').ok_or_else(usage)?;
        let port = port.parse().map_err(|_| usage())?;
        if host.is_empty() {
            return Err(usage());
        }
        let partitions = match query {
            "" => None,
            q => match q.strip_prefix("partitions=").map(str::parse::<usize>) {
                Some(Ok(n)) if n >= 1 => Some(n),
                _ => return Err(usage()),
            },
        };
        Ok(Engine::Ballista { host: host.to_string(), port, partitions })
    }
}

impl std::fmt::Display for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Engine::Local => write!(f, "local"),
            Engine::Ballista { host, port, partitions: None } => write!(f, "ballista://{host}:{port}"),
            Engine::Ballista { host, port, partitions: Some(n) } => {
                write!(f, "ballista://{host}:{port}?partitions={n}")
            }
        }
    }
}

impl Engine {
    /// A session on this engine with `config`, the memory pool of `runtime` (local) and the
    /// functions the model uses.
    pub async fn session(&self, config: SessionConfig, runtime: Arc<RuntimeEnv>) -> Result<SessionContext> {
        let ctx = match self {
            Engine::Local => {
                let state = datafusion::execution::SessionStateBuilder::new()
                    .with_default_features()
                    .with_config(config)
                    .with_runtime_env(runtime)
                    .with_query_planner(Arc::new(delta_write::TokenledgerPlanner))
                    .build();
                SessionContext::new_with_state(state)
            }
            Engine::Ballista { host, port, partitions } => {
                ballista_session(host, *port, *partitions, config, runtime).await?
            }
        };
        functions::register(&ctx);
        Ok(ctx)
    }

    /// `batch` as a table of this engine's sessions.
    pub fn small_table(&self, batch: RecordBatch) -> Result<Arc<dyn TableProvider>> {
        match self {
            Engine::Local => Ok(Arc::new(MemTable::try_new(batch.schema(), vec![vec![batch]])?)),
            Engine::Ballista { .. } => values_view(&batch),
        }
    }

    /// The Delta table `table` (at its opened version) as a table of this engine's sessions.
    pub async fn delta_table(
        &self,
        ctx: &SessionContext,
        table: &deltalake::DeltaTable,
    ) -> Result<Arc<dyn TableProvider>> {
        match self {
            Engine::Local => {
                table.update_datafusion_session(&ctx.state())?;
                Ok(table.table_provider().await?)
            }
            Engine::Ballista { .. } => Ok(Arc::new(SnapshotTable::of(table)?)),
        }
    }

    /// Registers the Delta table `table` as `name` in `ctx`, a session whose queries
    /// aggregate it by its partition column and join it only with small config tables (the
    /// rollup's lanes). On a cluster each date's files are then one task's
    /// ([`SnapshotTable::grouped_by_partition`]), so the aggregation needs no shuffle.
    /// Locally the same as registering [`Self::delta_table`].
    pub async fn register_for_aggregation(
        &self,
        ctx: &SessionContext,
        name: &str,
        table: &deltalake::DeltaTable,
    ) -> Result<()> {
        match self {
            Engine::Local => {
                ctx.register_table(name, self.delta_table(ctx, table).await?)?;
            }
            Engine::Ballista { .. } => {
                ctx.register_table(name, Arc::new(SnapshotTable::of(table)?.grouped_by_partition()))?;
                let state = ctx.state_ref();
                let mut state = state.write();
                let options = state.config_mut().options_mut();
                // partitioned by the date is partitioned by any keys that include it, however
                // few the partitions (by default DataFusion reshuffles below 4)
                options.optimizer.subset_repartition_threshold = 1;
            }
        }
        Ok(())
    }
}

#[cfg(feature = "ballista")]
async fn ballista_session(
    host: &str,
    port: u16,
    partitions: Option<usize>,
    config: SessionConfig,
    _runtime: Arc<RuntimeEnv>,
) -> Result<SessionContext> {
    use ballista::prelude::{SessionConfigExt, SessionContextExt};
    // Ballista connects at the first query; say at once when no scheduler listens there
    let address = format!("{host}:{port}");
    let reachable =
        tokio::time::timeout(std::time::Duration::from_secs(10), tokio::net::TcpStream::connect(&address)).await;
    if !matches!(reachable, Ok(Ok(_))) {
        return Err(Error::Usage(format!(
            "no Ballista scheduler answers at {address}: start one with `tokenledger cluster` (on a real cluster: `tokenledger cluster --host HOST --executors 0`) or check --engine"
        )));
    }
    // Ballista's defaults for its sessions, with ours on top (spans for error positions)
    let mut ballista = SessionConfig::new_with_ballista().with_ballista_job_name("tokenledger");
    ballista.options_mut().sql_parser.collect_spans = config.options().sql_parser.collect_spans;
    // a snapshot file is a task's unit of work: a Delta table's scan spreads its files over
    // `partitions` groups itself, and cutting them into byte ranges on top only adds tasks
    ballista.options_mut().optimizer.repartition_file_scans = false;
    // the scheduler plans each Delta table's scan from the file list in the plan
    let mut ballista = ballista.with_ballista_logical_extension_codec(Arc::new(cluster::LogicalCodec::default()));
    if let Some(n) = partitions {
        ballista.options_mut().execution.target_partitions = n;
    }
    let state = datafusion::execution::SessionStateBuilder::new().with_default_features().with_config(ballista).build();
    SessionContext::remote_with_state(&format!("df://{address}"), state)
        .await
        .map_err(|e| Error::Usage(format!("cannot reach the Ballista scheduler at {address}: {e}")))
}

#[cfg(not(feature = "ballista"))]
async fn ballista_session(
    host: &str,
    port: u16,
    _partitions: Option<usize>,
    _config: SessionConfig,
    _runtime: Arc<RuntimeEnv>,
) -> Result<SessionContext> {
    Err(Error::Usage(format!(
        "--engine ballista://{host}:{port}: this tokenledger was built without Ballista; build it with `cargo build --release --features ballista`"
    )))
}

/// Work of a command running in a task of its own, so that its small independent steps (its
/// checks, opening its tables, its totals) are planned and run at once, on both cores,
/// instead of one after the other: [`Spawned::result`] waits for it.
pub struct Spawned<T>(tokio::task::JoinHandle<Result<T>>);

impl<T: Send + 'static> Spawned<T> {
    pub fn new(work: impl std::future::Future<Output = Result<T>> + Send + 'static) -> Self {
        Self(tokio::spawn(work))
    }

    pub async fn result(self) -> Result<T> {
        self.0.await.map_err(|e| Error::Internal(format!("a task of the command failed: {e}")))?
    }
}

impl Spawned<Vec<RecordBatch>> {
    /// The batches of the query `sql` of `ctx`.
    pub fn query(ctx: &SessionContext, sql: &'static str) -> Self {
        let ctx = ctx.clone();
        Self::new(async move { Ok(ctx.sql(sql).await?.collect().await?) })
    }
}

/// A query as a table: a view of its plan, which both engines can inline (a cluster is sent
/// the plan, not a handle on this process's DataFrame).
pub fn view(query: datafusion::dataframe::DataFrame) -> Arc<dyn TableProvider> {
    Arc::new(datafusion::catalog::view::ViewTable::new(query.into_unoptimized_plan(), None))
}

/// Columns `indices` of a query result's `batch` cast to `to` (DataFusion may hand strings back as views and
/// sums as any integer type; one type each is easier to read).
pub fn cast_columns(
    batch: &RecordBatch,
    indices: impl IntoIterator<Item = usize>,
    to: &DataType,
) -> Result<Vec<ArrayRef>> {
    Ok(indices.into_iter().map(|i| arrow::compute::cast(batch.column(i), to)).collect::<std::result::Result<_, _>>()?)
}

/// Row `row` of a Utf8 column; empty for null.
pub fn text_at(column: &ArrayRef, row: usize) -> String {
    let a = column.as_string::<i32>();
    if a.is_null(row) { String::new() } else { a.value(row).to_string() }
}

/// Row `row` of an Int64 column; 0 for null.
pub fn int_at(column: &ArrayRef, row: usize) -> i64 {
    let a = column.as_primitive::<Int64Type>();
    if a.is_null(row) { 0 } else { a.value(row) }
}

/// `batch` as `VALUES` rows: a plan a cluster can be sent (every value a literal).
fn values_view(batch: &RecordBatch) -> Result<Arc<dyn TableProvider>> {
    use datafusion::common::ScalarValue;
    use datafusion::logical_expr::{LogicalPlanBuilder, lit};
    let schema = Arc::new(datafusion::common::DFSchema::try_from(batch.schema().as_ref().clone())?);
    if batch.num_rows() == 0 {
        return Ok(Arc::new(datafusion::catalog::view::ViewTable::new(empty_relation(schema), None)));
    }
    let mut rows = Vec::with_capacity(batch.num_rows());
    for row in 0..batch.num_rows() {
        let values = batch
            .columns()
            .iter()
            .map(|c| ScalarValue::try_from_array(c, row).map(lit))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        rows.push(values);
    }
    // VALUES names its columns column1, column2 ...: give them the table's names
    let names = schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| datafusion::logical_expr::col(format!("column{}", i + 1)).alias(f.name()));
    let plan = LogicalPlanBuilder::values_with_schema(rows, &schema)?.project(names)?.build()?;
    Ok(Arc::new(datafusion::catalog::view::ViewTable::new(plan, None)))
}

/// No rows, with `schema`'s columns.
fn empty_relation(schema: datafusion::common::DFSchemaRef) -> datafusion::logical_expr::LogicalPlan {
    datafusion::logical_expr::LogicalPlan::EmptyRelation(datafusion::logical_expr::EmptyRelation {
        produce_one_row: false,
        schema,
    })
}

#[cfg(test)]
mod tests {
    use super::Engine;

    #[test]
    fn engines_parse_and_print_back() {
        for text in ["local", "ballista://10.0.0.7:50050", "ballista://127.0.0.1:4000?partitions=8"] {
            assert_eq!(text.parse::<Engine>().unwrap().to_string(), text);
        }
        let df: Engine = "df://sched:50050/".parse().unwrap();
        assert_eq!(df, Engine::Ballista { host: "sched".into(), port: 50050, partitions: None });
        for bad in [
            "spark://x:1",
            "ballista://:1",
            "ballista://h",
            "ballista://h:p",
            "ballista://h:1?partitions=0",
            "ballista://h:1?slots=2",
        ] {
            let e = bad.parse::<Engine>().unwrap_err().to_string();
            assert!(e.contains("ballista://HOST:PORT") && e.contains(bad), "{bad}: {e}");
        }
    }
}
