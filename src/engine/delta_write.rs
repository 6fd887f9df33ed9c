//! A query's rows written as new files of a date-partitioned Delta table where the rows are
//! made: each partition of the plan writes its own Parquet files and yields their Delta `Add`
//! actions as rows, which the command commits. On a cluster that is the executor's task that
//! computed the rows, so only the list of files comes back to the command, not the rows (the
//! trip of the rows was most of a cluster rollup's extra cost: compressed by the task,
//! recompressed by the executor's Flight service, decompressed and written by the command).
//! Locally it is the same node over the lane's one partition.
//!
//! The files are not part of the table until the command commits their `Add`s; a failed run
//! leaves files no commit names, which `vacuum` removes.

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DFSchema, DFSchemaRef};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::context::QueryPlanner;
use datafusion::execution::{SendableRecordBatchStream, SessionState, TaskContext};
use datafusion::logical_expr::{Expr, Extension, LogicalPlan, UserDefinedLogicalNode, UserDefinedLogicalNodeCore};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, Partitioning, PlanProperties,
};
use datafusion::physical_planner::{DefaultPhysicalPlanner, ExtensionPlanner, PhysicalPlanner};
use deltalake::kernel::Add;
use deltalake::writer::{DeltaWriter, RecordBatchWriter};
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use super::partition_runs::write_by_partition;
use crate::error::{Error, Result};

/// The one column of what a write yields: an `Add` action as Delta's log spells it (JSON).
pub const ADD_COLUMN: &str = "add";

/// Parquet bytes a writer buffers before it finalises the files it holds early.
const FLUSH_BYTES: usize = 128 << 20;

/// Rows a writer takes before it finalises the files it holds early. A file's rows stay in
/// memory, encoded, until its row group is written (at [`ROW_GROUP_ROWS`], or when the file
/// closes), so the bytes above do not see them: about 400 bytes a row of a usage table. A
/// rollup's unit on this process has at most 500,000 requests (unless one day has more),
/// hence fewer rows, and is written in one go; a cluster task's share grows with the data (a
/// unit there is a lane's share of every date), and this keeps its memory near 200 MB
/// whatever the share, for a few more files.
const FLUSH_ROWS: usize = 500_000;

/// The table a write adds files to, as the plan carries it (to a cluster too).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Serialize, Deserialize)]
pub struct WriteTarget {
    /// The table's location (`file:///...`, `s3://...`).
    pub table_url: String,
    pub partition_columns: Vec<String>,
    /// The table's schema as its Delta log says it (JSON): the rows are cast to its types.
    pub schema_string: String,
}

impl WriteTarget {
    /// The Delta table `table` at its opened version.
    pub fn of(table: &deltalake::DeltaTable) -> Result<Self> {
        let metadata = table.snapshot()?.metadata().clone();
        Ok(Self {
            table_url: table.table_url().to_string(),
            partition_columns: metadata.partition_columns().to_vec(),
            schema_string: metadata.schema_string().to_string(),
        })
    }

    /// The table's Arrow schema (strings as `Utf8`, as Delta's writer takes them).
    fn arrow_schema(&self) -> DfResult<SchemaRef> {
        use deltalake::kernel::engine::arrow_conversion::TryIntoArrow;
        let schema: deltalake::kernel::StructType = serde_json::from_str(&self.schema_string)
            .map_err(|e| DataFusionError::Plan(format!("the schema of the table at {}: {e}", self.table_url)))?;
        let arrow: Schema = (&schema)
            .try_into_arrow()
            .map_err(|e| DataFusionError::Plan(format!("the schema of the table at {}: {e}", self.table_url)))?;
        Ok(Arc::new(arrow))
    }
}

/// What a write yields: one row per file written.
fn adds_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![Field::new(ADD_COLUMN, DataType::Utf8, false)]))
}

/// The plan `input` written as new files of `target`, as a plan whose rows are the files'
/// `Add` actions ([`adds_of`] reads them).
pub fn write_plan(input: LogicalPlan, target: WriteTarget) -> Result<LogicalPlan> {
    Ok(LogicalPlan::Extension(Extension { node: Arc::new(DeltaWrite::new(input, target)?) }))
}

/// The `Add` actions in the rows of a write.
pub fn adds_of(batches: &[RecordBatch]) -> Result<Vec<Add>> {
    let mut adds = Vec::new();
    for batch in batches {
        let column = batch
            .column_by_name(ADD_COLUMN)
            .ok_or_else(|| Error::Internal(format!("a write's result has no column {ADD_COLUMN}")))?;
        let column = arrow::compute::cast(column, &DataType::Utf8)?;
        for json in column.as_string::<i32>().iter().flatten() {
            adds.push(add_of(json)?);
        }
    }
    Ok(adds)
}

/// A written file's `Add` action from the JSON a write yields it as.
pub fn add_of(json: &str) -> Result<Add> {
    serde_json::from_str(json).map_err(|e| Error::Internal(format!("a written file's Add action {json:?}: {e}")))
}

/// The logical node of a write: its input's rows go to new files of `target`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DeltaWrite {
    pub input: LogicalPlan,
    pub target: WriteTarget,
    schema: DFSchemaRef,
}

impl DeltaWrite {
    pub fn new(input: LogicalPlan, target: WriteTarget) -> Result<Self> {
        let schema = Arc::new(DFSchema::try_from(adds_schema())?);
        Ok(Self { input, target, schema })
    }
}

// ordered by their inputs and targets (the output schema is the same for every write)
impl PartialOrd for DeltaWrite {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        match self.input.partial_cmp(&other.input) {
            Some(Ordering::Equal) => self.target.partial_cmp(&other.target),
            order => order,
        }
    }
}

impl UserDefinedLogicalNodeCore for DeltaWrite {
    fn name(&self) -> &str {
        "DeltaWrite"
    }

    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.input]
    }

    fn schema(&self) -> &DFSchemaRef {
        &self.schema
    }

    fn expressions(&self) -> Vec<Expr> {
        Vec::new()
    }

    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "DeltaWrite: {}", self.target.table_url)
    }

    fn with_exprs_and_inputs(&self, _exprs: Vec<Expr>, mut inputs: Vec<LogicalPlan>) -> DfResult<Self> {
        let input = inputs.pop().ok_or_else(|| DataFusionError::Plan("DeltaWrite needs its input".into()))?;
        Ok(Self { input, target: self.target.clone(), schema: self.schema.clone() })
    }
}

/// Plans [`DeltaWrite`] nodes as [`DeltaWriteExec`].
#[derive(Debug, Default)]
struct DeltaWritePlanner;

#[async_trait]
impl ExtensionPlanner for DeltaWritePlanner {
    async fn plan_extension(
        &self,
        _planner: &dyn PhysicalPlanner,
        node: &dyn UserDefinedLogicalNode,
        _logical_inputs: &[&LogicalPlan],
        physical_inputs: &[Arc<dyn ExecutionPlan>],
        _session: &dyn datafusion::catalog::Session,
        _planning_ctx: &datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext,
    ) -> DfResult<Option<Arc<dyn ExecutionPlan>>> {
        let Some(write) = node.as_any().downcast_ref::<DeltaWrite>() else { return Ok(None) };
        let [input] = physical_inputs else {
            return Err(DataFusionError::Plan("DeltaWrite has one input".into()));
        };
        Ok(Some(Arc::new(DeltaWriteExec::new(input.clone(), write.target.clone())?)))
    }
}

/// DataFusion's planner, and tokenledger's nodes: the query planner of every session that
/// plans a write (this process's, a cluster scheduler's).
#[derive(Debug, Default)]
pub struct TokenledgerPlanner;

#[async_trait]
impl QueryPlanner for TokenledgerPlanner {
    async fn create_physical_plan(
        &self,
        logical_plan: &LogicalPlan,
        session: &dyn datafusion::catalog::Session,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        DefaultPhysicalPlanner::with_extension_planners(vec![
            Arc::new(DeltaWritePlanner),
            Arc::new(super::held_writes::HeldWritesPlanner),
        ])
        .create_physical_plan(logical_plan, session)
        .await
    }
}

/// `state` with tokenledger's query planner.
pub fn with_planner(state: SessionState) -> SessionState {
    datafusion::execution::SessionStateBuilder::new_from_existing(state)
        .with_query_planner(Arc::new(TokenledgerPlanner))
        .build()
}

/// Writes each partition of its input as new files of a Delta table; yields their `Add`s.
#[derive(Debug)]
pub struct DeltaWriteExec {
    input: Arc<dyn ExecutionPlan>,
    target: WriteTarget,
    /// The table's schema, parsed once.
    table_schema: SchemaRef,
    /// Rows taken before the files held are finalised ([`FLUSH_ROWS`]).
    flush_rows: usize,
    properties: Arc<PlanProperties>,
}

impl DeltaWriteExec {
    pub fn new(input: Arc<dyn ExecutionPlan>, target: WriteTarget) -> DfResult<Self> {
        let table_schema = target.arrow_schema()?;
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(adds_schema()),
            Partitioning::UnknownPartitioning(input.output_partitioning().partition_count()),
            EmissionType::Final,
            Boundedness::Bounded,
        ));
        Ok(Self { input, target, table_schema, flush_rows: FLUSH_ROWS, properties })
    }

    /// The same write, finalising its files every `rows` rows.
    pub fn with_flush_rows(mut self, rows: usize) -> Self {
        self.flush_rows = rows.max(1);
        self
    }

    pub fn target(&self) -> &WriteTarget {
        &self.target
    }
}

impl DisplayAs for DeltaWriteExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "DeltaWriteExec: {}", self.target.table_url)
    }
}

impl ExecutionPlan for DeltaWriteExec {
    fn name(&self) -> &str {
        "DeltaWriteExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DfResult<TreeNodeRecursion>,
    ) -> DfResult<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let input = children.pop().ok_or_else(|| DataFusionError::Plan("DeltaWriteExec needs its input".into()))?;
        Ok(Arc::new(Self::new(input, self.target.clone())?.with_flush_rows(self.flush_rows)))
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> DfResult<SendableRecordBatchStream> {
        let mut input = self.input.execute(partition, context)?;
        let (target, table_schema, flush_rows) = (self.target.clone(), self.table_schema.clone(), self.flush_rows);
        let write = async move {
            let external = |e: deltalake::DeltaTableError| DataFusionError::External(Box::new(e));
            // a cluster's executor opens the table's store itself (delta-rs' factories)
            super::register_cloud_stores();
            let mut writer = RecordBatchWriter::try_new(
                &target.table_url,
                table_schema.clone(),
                Some(target.partition_columns.clone()),
                None,
            )
            .map_err(external)?
            .with_writer_properties(sums_writer_properties(&table_schema));
            let (mut adds, mut held) = (Vec::new(), 0);
            while let Some(batch) = input.next().await {
                let batch = batch?;
                if batch.num_rows() > 0 {
                    held += batch.num_rows();
                    let batch = conform(&batch, &table_schema)?;
                    match target.partition_columns.as_slice() {
                        [column] => write_by_partition(&mut writer, &batch, column, None).await,
                        _ => writer.write(batch).await,
                    }
                    .map_err(external)?;
                }
                if writer.buffer_len() > FLUSH_BYTES || held >= flush_rows {
                    adds.extend(writer.flush().await.map_err(external)?);
                    held = 0;
                }
            }
            adds.extend(writer.flush().await.map_err(external)?);
            let json = adds
                .iter()
                .map(serde_json::to_string)
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| DataFusionError::External(Box::new(e)))?;
            Ok(RecordBatch::try_new(adds_schema(), vec![Arc::new(StringArray::from(json))])?)
        };
        Ok(Box::pin(RecordBatchStreamAdapter::new(adds_schema(), futures::stream::once(write))))
    }
}

/// Rows of a Parquet row group in the warehouse's tables.
pub const ROW_GROUP_ROWS: usize = 128 * 1024;

/// The columns of the warehouse's tables that name who and what (requesters, groups,
/// endpoints, entities, prices), written without min/max statistics: a file holds its dates'
/// mix of them in no order, so its min and max span nearly every name and prune no read,
/// while keeping them compared every string written (2.5 % of a rollup's instructions, 1 %
/// of an ingest's). They keep their dictionaries.
pub const NAME_COLUMNS: [&str; 11] = [
    "requester",
    "group",
    "cost_center",
    "endpoint_name",
    "served_entity_name",
    "served_entity_id",
    "entity_type",
    "provider",
    "price_version",
    "discount_id",
    "pricing_mode",
];

/// The measures of the usage tables that Snappy cannot shrink: nearly every hour's token sums
/// and latencies differ, and their delta encoding leaves bits with no repeats in them. At
/// 200,000 requests Snappy made them 0.06 % bigger and spent 0.65 % of the rollup's
/// instructions on them. The sparse counts (cache tokens, errors, requests) it shrinks by a
/// third to four fifths: without it for every count the tables were 10 – 12 % bigger.
const INCOMPRESSIBLE_SUMS: [&str; 5] =
    ["input_tokens", "output_tokens", "latency_p50_ms", "latency_p95_ms", "latency_max_ms"];

/// Parquet settings for tables of sums (the usage tables): the ingest's row groups,
/// dictionaries only for the key columns (strings, repeated on many rows), and Snappy. The
/// measures are nearly unique per row: a dictionary for them was a hash lookup per value,
/// then thrown away. Such tables are written as many small files (one per date), where zstd
/// spent more time creating its contexts than compressing: Snappy made a 1M-request rollup
/// 10% faster for files 60% bigger, and is what Delta writers use by default. The
/// [`NAME_COLUMNS`] have no min/max statistics.
fn sums_writer_properties(schema: &Schema) -> parquet::file::properties::WriterProperties {
    let mut builder = parquet::file::properties::WriterProperties::builder()
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_compression(parquet::basic::Compression::SNAPPY)
        .set_dictionary_enabled(false);
    for field in schema.fields().iter() {
        let column = parquet::schema::types::ColumnPath::from(field.name().as_str());
        builder = match field.data_type() {
            DataType::Utf8 | DataType::Utf8View if NAME_COLUMNS.contains(&field.name().as_str()) => builder
                .set_column_dictionary_enabled(column.clone(), true)
                .set_column_statistics_enabled(column, parquet::file::properties::EnabledStatistics::None),
            DataType::Utf8 | DataType::Utf8View => builder.set_column_dictionary_enabled(column, true),
            DataType::Int64 | DataType::Int32 if INCOMPRESSIBLE_SUMS.contains(&field.name().as_str()) => builder
                .set_column_encoding(column.clone(), parquet::basic::Encoding::DELTA_BINARY_PACKED)
                .set_column_compression(column, parquet::basic::Compression::UNCOMPRESSED),
            DataType::Int64 | DataType::Int32 => {
                builder.set_column_encoding(column, parquet::basic::Encoding::DELTA_BINARY_PACKED)
            }
            _ => builder,
        };
    }
    builder.build()
}

/// `batch` with the table's column types: DataFusion reads strings as views, which Delta's
/// writer does not take.
fn conform(batch: &RecordBatch, schema: &SchemaRef) -> DfResult<RecordBatch> {
    let columns = schema
        .fields()
        .iter()
        .map(|field| {
            let column = batch.column_by_name(field.name()).ok_or_else(|| {
                DataFusionError::Plan(format!("the rows written have no column {} of the table", field.name()))
            })?;
            Ok(if column.data_type() == field.data_type() {
                column.clone()
            } else {
                arrow::compute::cast(column, field.data_type())?
            })
        })
        .collect::<DfResult<Vec<_>>>()?;
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::datatypes::{DataType, Field, Schema};
    use datafusion::prelude::{DataFrame, SessionContext};

    use super::{WriteTarget, adds_of, sums_writer_properties, write_plan};
    use crate::engine::{Engine, runtime};
    use crate::warehouse::{Warehouse, commit_replace_partitions};

    /// Rows of two dates, the strings as views (as DataFusion reads them from Parquet).
    const ROWS: &str = "SELECT CAST(d AS DATE) AS date, arrow_cast(r, 'Utf8View') AS requester, \
        CAST(n AS BIGINT) AS requests \
        FROM (VALUES ('2025-01-01', 'a', 1), ('2025-01-02', 'b', 2), ('2025-01-01', 'c', 3)) AS v(d, r, n)";

    /// The columns of table `u`.
    fn usage_like_schema() -> Arc<Schema> {
        Arc::new(Schema::new(vec![
            Field::new("date", DataType::Date32, true),
            Field::new("requester", DataType::Utf8, true),
            Field::new("requests", DataType::Int64, true),
        ]))
    }

    /// An empty table `u` (date, requester, requests) partitioned by date.
    async fn usage_like(warehouse: &Warehouse) -> deltalake::DeltaTable {
        warehouse.create_table("u", &usage_like_schema(), "date").await.unwrap()
    }

    /// What table `u` holds, read back by a new session.
    async fn read_back(warehouse: &Warehouse) -> String {
        let table = deltalake::open_table(warehouse.table_url("u").unwrap()).await.unwrap();
        let ctx = SessionContext::new();
        ctx.register_table("u", Engine::Local.delta_table(&ctx, &table).await.unwrap()).unwrap();
        let sql = "SELECT CAST(date AS VARCHAR) AS d, requester, requests FROM u ORDER BY requester";
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        arrow::util::pretty::pretty_format_batches(&batches).unwrap().to_string()
    }

    const WRITTEN: &str = "\
+------------+-----------+----------+
| d          | requester | requests |
+------------+-----------+----------+
| 2025-01-01 | a         | 1        |
| 2025-01-02 | b         | 2        |
| 2025-01-01 | c         | 3        |
+------------+-----------+----------+";

    #[test]
    fn the_sums_that_snappy_cannot_shrink_are_stored_uncompressed() {
        use parquet::basic::{Compression, Encoding};
        use parquet::schema::types::ColumnPath;
        let schema = Schema::new(vec![
            Field::new("requester", DataType::Utf8, true),
            Field::new("input_tokens", DataType::Int64, true),
            Field::new("latency_p95_ms", DataType::Int64, true),
            Field::new("cache_read_input_tokens", DataType::Int64, true),
        ]);
        let props = sums_writer_properties(&schema);
        let of = |name: &str| {
            let column = ColumnPath::from(name);
            (props.compression(&column), props.encoding(&column), props.dictionary_enabled(&column))
        };
        assert_eq!(of("requester"), (Compression::SNAPPY, None, true));
        assert_eq!(of("input_tokens"), (Compression::UNCOMPRESSED, Some(Encoding::DELTA_BINARY_PACKED), false));
        assert_eq!(of("latency_p95_ms"), (Compression::UNCOMPRESSED, Some(Encoding::DELTA_BINARY_PACKED), false));
        assert_eq!(of("cache_read_input_tokens"), (Compression::SNAPPY, Some(Encoding::DELTA_BINARY_PACKED), false));
    }

    #[tokio::test]
    async fn a_write_puts_the_rows_in_files_of_their_date_and_yields_the_files() {
        let dir = tempfile::tempdir().unwrap();
        let warehouse = Warehouse::new(dir.path().to_str().unwrap()).unwrap();
        let mut table = usage_like(&warehouse).await;
        let ctx = Engine::Local.context(runtime(1 << 30).unwrap(), 2).await.unwrap();
        let (state, rows) = ctx.sql(ROWS).await.unwrap().into_parts();
        let write = DataFrame::new(state, write_plan(rows, WriteTarget::of(&table).unwrap()).unwrap());
        let plan = write.create_physical_plan().await.unwrap();
        let text = datafusion::physical_plan::displayable(plan.as_ref()).indent(true).to_string();
        assert!(text.starts_with("DeltaWriteExec: file://"), "{text}");

        let adds = adds_of(&datafusion::physical_plan::collect(plan, ctx.task_ctx()).await.unwrap()).unwrap();
        let mut dates: Vec<String> =
            adds.iter().map(|a| a.partition_values["date"].clone().unwrap()).collect::<Vec<_>>();
        dates.sort();
        assert_eq!(dates, ["2025-01-01", "2025-01-02"]);
        for add in &adds {
            assert!(add.path.starts_with(&format!("date={}/", add.partition_values["date"].as_ref().unwrap())));
            assert!(dir.path().join("u").join(&add.path).is_file(), "{}", add.path);
            assert!(add.stats.as_deref().unwrap_or_default().contains("\"numRecords\""), "{:?}", add.stats);
        }
        // nothing is in the table until the files are committed
        assert!(!read_back(&warehouse).await.contains("| a "));
        let dates = ["2025-01-01".to_string(), "2025-01-02".to_string()].into_iter().collect();
        commit_replace_partitions(&mut table, &dates, adds, serde_json::Map::new()).await.unwrap();
        assert_eq!(read_back(&warehouse).await, WRITTEN);
    }

    #[tokio::test]
    async fn a_write_finalises_the_files_it_holds_every_so_many_rows() {
        use arrow::array::{Date32Array, Int64Array, StringArray};
        use arrow::record_batch::RecordBatch;

        let dir = tempfile::tempdir().unwrap();
        let warehouse = Warehouse::new(dir.path().to_str().unwrap()).unwrap();
        let mut table = usage_like(&warehouse).await;
        let schema = usage_like_schema();
        // the rows of ROWS, one batch each (days since 1970-01-01: 2025-01-01 is 20089)
        let batches: Vec<RecordBatch> = [(20089, "a", 1), (20090, "b", 2), (20089, "c", 3)]
            .into_iter()
            .map(|(day, requester, n)| {
                RecordBatch::try_new(
                    schema.clone(),
                    vec![
                        Arc::new(Date32Array::from(vec![day])),
                        Arc::new(StringArray::from(vec![requester])),
                        Arc::new(Int64Array::from(vec![n])),
                    ],
                )
                .unwrap()
            })
            .collect();
        let input = datafusion::datasource::memory::MemorySourceConfig::try_new_exec(&[batches], schema, None).unwrap();
        let target = WriteTarget::of(&table).unwrap();
        let write =
            |rows| Arc::new(super::DeltaWriteExec::new(input.clone(), target.clone()).unwrap().with_flush_rows(rows));
        let ctx = SessionContext::new();
        let files = |adds: &[deltalake::kernel::Add]| {
            let mut dates: Vec<String> = adds.iter().map(|a| a.partition_values["date"].clone().unwrap()).collect();
            dates.sort();
            dates
        };
        // all at once: a file per date
        let once = adds_of(&datafusion::physical_plan::collect(write(1_000), ctx.task_ctx()).await.unwrap()).unwrap();
        assert_eq!(files(&once), ["2025-01-01", "2025-01-02"]);
        // finalised after two rows: 2025-01-01's third row is in a file of its own
        let adds = adds_of(&datafusion::physical_plan::collect(write(2), ctx.task_ctx()).await.unwrap()).unwrap();
        assert_eq!(files(&adds), ["2025-01-01", "2025-01-01", "2025-01-02"]);
        let dates = ["2025-01-01".to_string(), "2025-01-02".to_string()].into_iter().collect();
        commit_replace_partitions(&mut table, &dates, adds, serde_json::Map::new()).await.unwrap();
        assert_eq!(read_back(&warehouse).await, WRITTEN);
    }

    #[cfg(feature = "ballista")]
    #[tokio::test]
    async fn a_write_travels_to_a_scheduler_and_to_its_tasks_and_writes_there() {
        use datafusion_proto::bytes::{
            logical_plan_from_bytes_with_extension_codec, logical_plan_to_bytes_with_extension_codec,
            physical_plan_from_bytes_with_extension_codec, physical_plan_to_bytes_with_extension_codec,
        };

        use crate::engine::cluster::{LogicalCodec, PhysicalCodec};

        let dir = tempfile::tempdir().unwrap();
        let warehouse = Warehouse::new(dir.path().to_str().unwrap()).unwrap();
        let mut table = usage_like(&warehouse).await;
        // the command sends the write's logical plan
        let command = SessionContext::new();
        let (_, rows) = command.sql(ROWS).await.unwrap().into_parts();
        let plan = write_plan(rows, WriteTarget::of(&table).unwrap()).unwrap();
        let bytes = logical_plan_to_bytes_with_extension_codec(&plan, &LogicalCodec::default()).unwrap();

        // the scheduler plans it with tokenledger's planner, and sends the plan to a task
        let scheduler = SessionContext::new_with_state(super::with_planner(SessionContext::new().state()));
        let decoded =
            logical_plan_from_bytes_with_extension_codec(&bytes, &scheduler.task_ctx(), &LogicalCodec::default())
                .unwrap();
        assert_eq!(decoded, plan);
        let physical = scheduler.state().create_physical_plan(&decoded).await.unwrap();
        let bytes = physical_plan_to_bytes_with_extension_codec(physical, &PhysicalCodec::default()).unwrap();

        // the executor's task writes the files and sends back their list
        let executor = SessionContext::new();
        let task =
            physical_plan_from_bytes_with_extension_codec(&bytes, &executor.task_ctx(), &PhysicalCodec::default())
                .unwrap();
        assert_eq!(task.name(), "DeltaWriteExec");
        let adds = adds_of(&datafusion::physical_plan::collect(task, executor.task_ctx()).await.unwrap()).unwrap();
        assert_eq!(adds.len(), 2);
        let dates = ["2025-01-01".to_string(), "2025-01-02".to_string()].into_iter().collect();
        commit_replace_partitions(&mut table, &dates, adds, serde_json::Map::new()).await.unwrap();
        assert_eq!(read_back(&warehouse).await, WRITTEN);
    }
}
