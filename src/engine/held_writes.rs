//! Several writes of rows made from the same sums, with the sums computed once, in the task
//! that computes them: a rollup unit makes both usage tables from its hourly sums this way,
//! in this process and on a cluster. Each partition of the sums is held in memory while the
//! writes read it, so the requests are read and summed once, not once a table; a cluster has
//! no memory shared between two jobs, so both writes run inside the task.
//!
//! The writes are planned over [`HeldSumsSource`], a table that only names the sums' columns;
//! they travel inside the node, not as its inputs, so that neither the planner nor the
//! cluster's scheduler cuts them into stages of their own. A task's sums that its memory pool
//! cannot hold are not held: each write then computes them again.

use std::fmt;
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch, UInt32Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::stats::Precision;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{DFSchema, DFSchemaRef, Statistics};
use datafusion::datasource::TableType;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::memory_pool::MemoryConsumer;
use datafusion::execution::{SendableRecordBatchStream, SessionState, SessionStateBuilder, TaskContext};
use datafusion::logical_expr::{Expr, LogicalPlan, UserDefinedLogicalNode, UserDefinedLogicalNodeCore};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::metrics::{ExecutionPlanMetricsSet, MetricBuilder, MetricsSet};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, Partitioning, PlanProperties,
};
use datafusion::physical_planner::{ExtensionPlanner, PhysicalPlanner};
use futures::StreamExt;

use super::delta_write::ADD_COLUMN;

/// The column of a held write's rows that says which of the node's writes yielded the row
/// (0 for the first).
pub const WRITE_COLUMN: &str = "write";

fn held_writes_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new(WRITE_COLUMN, DataType::UInt32, false),
        Field::new(ADD_COLUMN, DataType::Utf8, false),
    ]))
}

/// The sums the writes of a [`HeldWrites`] read: their columns and about how many rows
/// they have (at most, the requests summed); the node fills in the rows when it runs.
#[derive(Debug)]
pub struct HeldSumsSource {
    schema: SchemaRef,
    rows: usize,
}

impl HeldSumsSource {
    pub fn new(schema: SchemaRef, rows: usize) -> Self {
        Self { schema, rows }
    }

    pub fn rows(&self) -> usize {
        self.rows
    }
}

#[async_trait]
impl TableProvider for HeldSumsSource {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        Ok(Arc::new(HeldSumsScan::new(self.schema.clone(), projection.cloned(), self.rows)?))
    }
}

/// Where a write's [`HeldSumsScan`] reads the sums from.
#[derive(Debug, Clone)]
enum HeldRows {
    /// The task's sums, held.
    Held(Arc<Vec<RecordBatch>>),
    /// Too many to hold: partition `1` of plan `0` (the sums) is computed again.
    Again(Arc<dyn ExecutionPlan>, usize),
}

/// The scan of a [`HeldSumsSource`] in a write's plan: one partition, the columns of
/// `projection`, and no rows until [`HeldWritesExec`] gives it the task's sums.
#[derive(Debug)]
pub struct HeldSumsScan {
    /// The sums' columns, all of them.
    schema: SchemaRef,
    projection: Option<Vec<usize>>,
    /// About how many rows the sums have: what tells the planner that the tables the writes
    /// join them with are the small side, to build its hash tables from.
    estimate: usize,
    rows: Option<HeldRows>,
    properties: Arc<PlanProperties>,
}

impl HeldSumsScan {
    /// The scan of `projection` of sums with `schema`'s columns and about `estimate` rows.
    pub fn new(schema: SchemaRef, projection: Option<Vec<usize>>, estimate: usize) -> DfResult<Self> {
        let projected = match &projection {
            Some(columns) => Arc::new(schema.project(columns)?),
            None => schema.clone(),
        };
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(projected),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Incremental,
            Boundedness::Bounded,
        ));
        Ok(Self { schema, projection, estimate, rows: None, properties })
    }

    /// This scan reading `rows`, its properties shared with this one's.
    fn reading_rows(&self, rows: HeldRows) -> Self {
        Self {
            schema: self.schema.clone(),
            projection: self.projection.clone(),
            estimate: self.estimate,
            rows: Some(rows),
            properties: self.properties.clone(),
        }
    }

    /// The sums' columns, all of them (what a codec needs with the projection).
    pub fn sums_schema(&self) -> &SchemaRef {
        &self.schema
    }

    pub fn projection(&self) -> Option<&Vec<usize>> {
        self.projection.as_ref()
    }

    pub fn estimate(&self) -> usize {
        self.estimate
    }
}

impl DisplayAs for HeldSumsScan {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "HeldSumsScan: projection={:?}", self.projection)
    }
}

impl ExecutionPlan for HeldSumsScan {
    fn name(&self) -> &str {
        "HeldSumsScan"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        Vec::new()
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DfResult<TreeNodeRecursion>,
    ) -> DfResult<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(self: Arc<Self>, _children: Vec<Arc<dyn ExecutionPlan>>) -> DfResult<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn partition_statistics(&self, _partition: Option<usize>) -> DfResult<Arc<Statistics>> {
        let mut statistics = Statistics::new_unknown(self.properties.eq_properties.schema());
        statistics.num_rows = Precision::Inexact(self.estimate);
        Ok(Arc::new(statistics))
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> DfResult<SendableRecordBatchStream> {
        let schema = self.properties.eq_properties.schema().clone();
        let projection = self.projection.clone();
        let project = move |batch: DfResult<RecordBatch>| match &projection {
            Some(columns) => Ok(batch?.project(columns)?),
            None => batch,
        };
        let stream: SendableRecordBatchStream = match (&self.rows, partition) {
            (Some(HeldRows::Held(batches)), 0) => {
                let batches: Vec<DfResult<RecordBatch>> = batches.iter().cloned().map(Ok).collect();
                Box::pin(RecordBatchStreamAdapter::new(schema, futures::stream::iter(batches).map(project)))
            }
            (Some(HeldRows::Again(sums, sums_partition)), 0) => {
                let rows = sums.execute(*sums_partition, context)?;
                Box::pin(RecordBatchStreamAdapter::new(schema, rows.map(project)))
            }
            (None, _) => {
                return Err(DataFusionError::Internal("held sums scanned outside a HeldWritesExec".into()));
            }
            (_, p) => return Err(DataFusionError::Internal(format!("HeldSumsScan has one partition, not {p}"))),
        };
        Ok(stream)
    }
}

/// The logical node: `writes`, each planned over a [`HeldSumsSource`] of `sums`' columns,
/// run for each partition of `sums` over that partition's rows. Its rows are the writes' `Add`s with the index of
/// the write that yielded them ([`WRITE_COLUMN`]). `writes` are the node's own plans, not
/// its inputs: optimize them before they are given.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd)]
pub struct HeldWrites {
    pub sums: LogicalPlan,
    pub writes: Vec<LogicalPlan>,
}

impl HeldWrites {
    pub fn new(sums: LogicalPlan, writes: Vec<LogicalPlan>) -> Self {
        Self { sums, writes }
    }

    /// The node as a plan.
    pub fn plan(self) -> LogicalPlan {
        LogicalPlan::Extension(datafusion::logical_expr::Extension { node: Arc::new(self) })
    }
}

impl UserDefinedLogicalNodeCore for HeldWrites {
    fn name(&self) -> &str {
        "HeldWrites"
    }

    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.sums]
    }

    fn schema(&self) -> &DFSchemaRef {
        static SCHEMA: std::sync::LazyLock<DFSchemaRef> = std::sync::LazyLock::new(|| {
            Arc::new(DFSchema::try_from(held_writes_schema()).expect("the held writes' schema"))
        });
        &SCHEMA
    }

    fn expressions(&self) -> Vec<Expr> {
        Vec::new()
    }

    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "HeldWrites: {} writes", self.writes.len())
    }

    fn with_exprs_and_inputs(&self, _exprs: Vec<Expr>, mut inputs: Vec<LogicalPlan>) -> DfResult<Self> {
        let sums = inputs.pop().ok_or_else(|| DataFusionError::Plan("HeldWrites needs its sums".into()))?;
        Ok(Self { sums, writes: self.writes.clone() })
    }
}

/// Plans [`HeldWrites`] nodes as [`HeldWritesExec`]: the writes with one partition, as they
/// run inside the task of a partition of the sums.
#[derive(Debug, Default)]
pub(super) struct HeldWritesPlanner;

#[async_trait]
impl ExtensionPlanner for HeldWritesPlanner {
    async fn plan_extension(
        &self,
        planner: &dyn PhysicalPlanner,
        node: &dyn UserDefinedLogicalNode,
        _logical_inputs: &[&LogicalPlan],
        physical_inputs: &[Arc<dyn ExecutionPlan>],
        session: &dyn Session,
        _planning_ctx: &datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext,
    ) -> DfResult<Option<Arc<dyn ExecutionPlan>>> {
        let Some(held) = node.as_any().downcast_ref::<HeldWrites>() else { return Ok(None) };
        let [sums] = physical_inputs else {
            return Err(DataFusionError::Plan("HeldWrites has one input".into()));
        };
        let state = session
            .as_any()
            .downcast_ref::<SessionState>()
            .ok_or_else(|| DataFusionError::Internal("HeldWrites planned outside a session state".into()))?;
        // one partition, and DataFusion's own physical rules: a cluster scheduler's rules leave
        // joins to be chosen when a stage runs, and the writes are no stage of its
        // (the session's catalog is shared: a default one created anew would replace its tables)
        let mut config = state.config().clone().with_create_default_catalog_and_schema(false);
        config.options_mut().execution.target_partitions = 1;
        let one = SessionStateBuilder::new_from_existing(state.clone())
            .with_config(config)
            .with_physical_optimizer_rules(datafusion::physical_optimizer::optimizer::PhysicalOptimizer::new().rules)
            .build();
        let mut writes = Vec::new();
        for write in &held.writes {
            writes.push(planner.create_physical_plan(write, &one).await?);
        }
        Ok(Some(Arc::new(HeldWritesExec::new(sums.clone(), writes))))
    }
}

/// Runs, for each partition of `sums`, every write of `writes` over it (held in memory, or
/// computed again for each write when the task's memory pool refuses to hold it).
#[derive(Debug)]
pub struct HeldWritesExec {
    sums: Arc<dyn ExecutionPlan>,
    writes: Vec<Arc<dyn ExecutionPlan>>,
    properties: Arc<PlanProperties>,
    /// `held_rows` (the sums' rows held) and `sums_computed_again` (partitions whose sums
    /// did not fit, computed again for each write).
    metrics: ExecutionPlanMetricsSet,
}

impl HeldWritesExec {
    pub fn new(sums: Arc<dyn ExecutionPlan>, writes: Vec<Arc<dyn ExecutionPlan>>) -> Self {
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(held_writes_schema()),
            Partitioning::UnknownPartitioning(sums.output_partitioning().partition_count()),
            EmissionType::Final,
            Boundedness::Bounded,
        ));
        Self { sums, writes, properties, metrics: ExecutionPlanMetricsSet::new() }
    }

    /// The writes' plans, each over a [`HeldSumsScan`].
    pub fn writes(&self) -> &[Arc<dyn ExecutionPlan>] {
        &self.writes
    }
}

/// The bytes of `batch`'s rows. An aggregation hands its groups out as slices of one set of
/// buffers, each of which would count all of them.
fn sliced_bytes(batch: &RecordBatch) -> DfResult<usize> {
    let mut bytes = 0;
    for column in batch.columns() {
        bytes += column.to_data().get_slice_memory_size()?;
    }
    Ok(bytes)
}

/// `write` ready to run over `rows`: its [`HeldSumsScan`]s read them, and every other node is
/// made anew without the state a run leaves in it (a hash join keeps the table it built), so
/// that one physical plan of a write serves partition after partition and, in a rollup lane,
/// unit after unit. The new scans keep the old ones' properties, so no node above them works
/// out its own again (each `ProjectionExec` made anew projected its input's equivalences:
/// 4 % of a 1M-request rollup).
fn fed(write: &Arc<dyn ExecutionPlan>, rows: &HeldRows) -> DfResult<Arc<dyn ExecutionPlan>> {
    write
        .clone()
        .transform_up(|node| match node.downcast_ref::<HeldSumsScan>() {
            Some(scan) => Ok(Transformed::yes(Arc::new(scan.reading_rows(rows.clone())) as Arc<dyn ExecutionPlan>)),
            None => node.reset_state().map(Transformed::yes),
        })
        .map(|t| t.data)
}

impl DisplayAs for HeldWritesExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "HeldWritesExec: {} writes", self.writes.len())
    }
}

impl ExecutionPlan for HeldWritesExec {
    fn name(&self) -> &str {
        "HeldWritesExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.sums]
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
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
        let sums = children.pop().ok_or_else(|| DataFusionError::Plan("HeldWritesExec needs its sums".into()))?;
        Ok(Arc::new(Self::new(sums, self.writes.clone())))
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> DfResult<SendableRecordBatchStream> {
        let (sums, writes) = (self.sums.clone(), self.writes.clone());
        let held_rows = MetricBuilder::new(&self.metrics).counter("held_rows", partition);
        let computed_again = MetricBuilder::new(&self.metrics).global_counter("sums_computed_again");
        let run = async move {
            // the sums are held for as long as the writes read them, within the task's pool
            let reservation =
                MemoryConsumer::new(format!("HeldWritesExec[{partition}]")).register(context.memory_pool());
            let mut stream = sums.execute(partition, context.clone())?;
            let mut held = Vec::new();
            let mut fits = true;
            while let Some(batch) = stream.next().await {
                let batch = batch?;
                if reservation.try_grow(sliced_bytes(&batch)?).is_err() {
                    fits = false;
                    break;
                }
                held.push(batch);
            }
            drop(stream);
            let rows = if fits {
                held_rows.add(held.iter().map(RecordBatch::num_rows).sum());
                HeldRows::Held(Arc::new(held))
            } else {
                drop(held);
                reservation.free();
                computed_again.add(1);
                tracing::debug!(partition, "the sums are too big to hold: each write computes them");
                HeldRows::Again(sums.clone(), partition)
            };
            // each write's rows, its index beside them
            let schema = held_writes_schema();
            let mut written = Vec::new();
            for (index, write) in writes.iter().enumerate() {
                for batch in datafusion::physical_plan::collect(fed(write, &rows)?, context.clone()).await? {
                    let add = batch
                        .column_by_name(ADD_COLUMN)
                        .ok_or_else(|| DataFusionError::Internal(format!("a held write yields no {ADD_COLUMN}")))?;
                    let index = Arc::new(UInt32Array::from(vec![index as u32; batch.num_rows()]));
                    written.push(RecordBatch::try_new(
                        schema.clone(),
                        vec![index, arrow::compute::cast(add, &DataType::Utf8)?],
                    )?);
                }
            }
            drop(reservation);
            Ok(arrow::compute::concat_batches(&schema, &written)?)
        };
        Ok(Box::pin(RecordBatchStreamAdapter::new(held_writes_schema(), futures::stream::once(run))))
    }
}

/// The files of a [`HeldWrites`]' run: each write's `Add` actions, in the order of its writes.
pub fn adds_by_write(batches: &[RecordBatch], writes: usize) -> crate::error::Result<Vec<Vec<deltalake::kernel::Add>>> {
    use crate::error::Error;
    let mut by_write = vec![Vec::new(); writes];
    for batch in batches {
        let (Some(index), Some(add)) = (batch.column_by_name(WRITE_COLUMN), batch.column_by_name(ADD_COLUMN)) else {
            return Err(Error::Internal("a held write's result lacks its columns".into()));
        };
        let index = arrow::compute::cast(index, &DataType::UInt32)?;
        let add = arrow::compute::cast(add, &DataType::Utf8)?;
        for (i, json) in index.as_primitive::<arrow::datatypes::UInt32Type>().iter().zip(add.as_string::<i32>().iter())
        {
            let (Some(i), Some(json)) = (i, json) else {
                return Err(Error::Internal("a held write's result has an empty row".into()));
            };
            let add = super::delta_write::add_of(json)?;
            by_write
                .get_mut(i as usize)
                .ok_or_else(|| Error::Internal(format!("a held write's result names write {i}")))?
                .push(add);
        }
    }
    Ok(by_write)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{AsArray, Int64Array, RecordBatch, StringArray};
    use arrow::datatypes::{DataType, Field, Schema, UInt32Type};
    use datafusion::datasource::MemTable;
    use datafusion::execution::memory_pool::GreedyMemoryPool;
    use datafusion::execution::runtime_env::RuntimeEnvBuilder;
    use datafusion::physical_plan::ExecutionPlan;
    use datafusion::prelude::SessionContext;

    use super::*;

    /// The engine's local session with a memory pool of `pool` bytes, over
    /// `requests`: two partitions of (d, x), 3,000 rows each.
    async fn session(pool: usize) -> SessionContext {
        let runtime =
            RuntimeEnvBuilder::new().with_memory_pool(Arc::new(GreedyMemoryPool::new(pool))).build_arc().unwrap();
        // the engine's own session, as a rollup lane's
        let config = datafusion::prelude::SessionConfig::new();
        let ctx = crate::engine::Engine::Local.session(config, runtime).await.unwrap();
        let schema = Arc::new(Schema::new(vec![
            Field::new("d", DataType::Utf8, false),
            Field::new("x", DataType::Int64, false),
        ]));
        let partition = |first: &str, second: &str, base: i64| {
            let d: Vec<&str> = (0..3000).map(|i| if i % 3 == 0 { first } else { second }).collect();
            let x: Vec<i64> = (0..3000).map(|i| base + i).collect();
            vec![
                RecordBatch::try_new(
                    schema.clone(),
                    vec![Arc::new(StringArray::from(d)), Arc::new(Int64Array::from(x))],
                )
                .unwrap(),
            ]
        };
        let table =
            MemTable::try_new(schema.clone(), vec![partition("a", "b", 0), partition("c", "c", 10_000)]).unwrap();
        ctx.register_table("requests", Arc::new(table)).unwrap();
        ctx
    }

    /// Two writes over the sums (here the requests themselves) run by a held writes node:
    /// its rows as (write, text) sorted, and the plan run.
    async fn run(ctx: &SessionContext) -> (Vec<(u32, String)>, Arc<dyn ExecutionPlan>) {
        // a filter that keeps every row: it counts the rows it passes on, each time it runs
        let sums = ctx.sql("SELECT d, x FROM requests WHERE x >= 0").await.unwrap();
        let source = Arc::new(HeldSumsSource::new(Arc::new(sums.schema().as_arrow().clone()), 6000));
        ctx.register_table("held", source).unwrap();
        let mut writes = Vec::new();
        for sql in [
            "SELECT CAST(sum(x) AS VARCHAR) AS add FROM held",
            "SELECT d || ':' || CAST(count(*) AS VARCHAR) AS add FROM held GROUP BY d",
        ] {
            let (state, plan) = ctx.sql(sql).await.unwrap().into_parts();
            writes.push(state.optimize(&plan).unwrap());
        }
        let plan = HeldWrites::new(sums.logical_plan().clone(), writes).plan();
        let physical = ctx.state().create_physical_plan(&plan).await.unwrap();
        assert_eq!(physical.name(), "HeldWritesExec");
        // planning the writes leaves the session's tables as they were
        assert!(ctx.table_exist("requests").unwrap() && ctx.table_exist("held").unwrap());
        let batches = datafusion::physical_plan::collect(physical.clone(), ctx.task_ctx()).await.unwrap();
        let mut rows = Vec::new();
        for b in &batches {
            let (w, a) = (b.column(0).as_primitive::<UInt32Type>(), b.column(1).as_string::<i32>());
            rows.extend((0..b.num_rows()).map(|i| (w.value(i), a.value(i).to_string())));
        }
        rows.sort();
        (rows, physical)
    }

    /// The metric `name` of `plan`, summed over its partitions.
    fn metric(plan: &Arc<dyn ExecutionPlan>, name: &str) -> usize {
        plan.metrics().and_then(|m| m.sum_by_name(name)).map_or(0, |v| v.as_usize())
    }

    #[tokio::test]
    async fn each_write_reads_its_partitions_sums_held_once_or_computed_again_when_the_pool_refuses() {
        // each partition's sums are its own: the first has d a and b, the second c
        let expected: Vec<(u32, String)> = vec![
            (0, (0..3000i64).sum::<i64>().to_string()),
            (0, (10_000..13_000i64).sum::<i64>().to_string()),
            (1, "a:1000".into()),
            (1, "b:2000".into()),
            (1, "c:3000".into()),
        ];
        let mut expected = expected;
        expected.sort();

        let (rows, plan) = run(&session(64 << 20).await).await;
        assert_eq!(rows, expected);
        // held: read from the requests once, for both writes
        assert_eq!((metric(&plan, "held_rows"), metric(&plan, "sums_computed_again")), (6000, 0));
        let sums_rows = |plan: &Arc<dyn ExecutionPlan>| plan.children()[0].metrics().unwrap().output_rows().unwrap();
        assert_eq!(sums_rows(&plan), 6000);

        // a pool too small to hold a partition's rows: each write computes them again
        let (rows, plan) = run(&session(20 << 10).await).await;
        assert_eq!(rows, expected);
        assert_eq!((metric(&plan, "held_rows"), metric(&plan, "sums_computed_again")), (0, 2));
        assert!(sums_rows(&plan) > 2 * 6000, "{}", sums_rows(&plan));
    }

    /// The held writes node of one write, `sql`, that joins the sums (said to have about
    /// `estimate` rows) with a table of `days`, over `ctx`'s requests: the plan, its hash joins
    /// and whether one of them builds its hash table from the sums.
    async fn joined_write(
        ctx: &SessionContext,
        days: Vec<&str>,
        estimate: usize,
        sql: &str,
    ) -> (Arc<dyn ExecutionPlan>, usize, bool) {
        let schema = Arc::new(Schema::new(vec![Field::new("d", DataType::Utf8, false)]));
        let days = RecordBatch::try_new(schema.clone(), vec![Arc::new(StringArray::from(days))]).unwrap();
        ctx.register_table("days", Arc::new(MemTable::try_new(schema, vec![vec![days]]).unwrap())).unwrap();
        let sums = ctx.table("requests").await.unwrap();
        // the sums' estimate is what tells the planner which side is small
        let source = Arc::new(HeldSumsSource::new(Arc::new(sums.schema().as_arrow().clone()), estimate));
        ctx.register_table("held", source).unwrap();
        let (state, write) = ctx.sql(sql).await.unwrap().into_parts();
        let plan = HeldWrites::new(sums.logical_plan().clone(), vec![state.optimize(&write).unwrap()]).plan();
        let physical = ctx.state().create_physical_plan(&plan).await.unwrap();
        let (mut joins, mut build_reads_sums) = (0, false);
        physical.downcast_ref::<HeldWritesExec>().unwrap().writes()[0]
            .apply(|node| {
                if let Some(join) = node.downcast_ref::<datafusion::physical_plan::joins::HashJoinExec>() {
                    joins += 1;
                    join.left().apply(|n| {
                        build_reads_sums |= n.downcast_ref::<HeldSumsScan>().is_some();
                        Ok(TreeNodeRecursion::Continue)
                    })?;
                }
                Ok(TreeNodeRecursion::Continue)
            })
            .unwrap();
        (physical, joins, build_reads_sums)
    }

    /// The numbers a held writes node's run yields, one per write and partition, sorted.
    async fn numbers(ctx: &SessionContext, plan: Arc<dyn ExecutionPlan>) -> Vec<i64> {
        let batches = datafusion::physical_plan::collect(plan, ctx.task_ctx()).await.unwrap();
        let mut numbers: Vec<i64> = batches
            .iter()
            .flat_map(|b| {
                b.column(1).as_string::<i32>().iter().map(|v| v.unwrap().parse().unwrap()).collect::<Vec<_>>()
            })
            .collect();
        numbers.sort();
        numbers
    }

    #[tokio::test]
    async fn a_write_joins_the_held_sums_to_a_small_table_built_from_the_small_table() {
        let ctx = session(64 << 20).await;
        let sql = "SELECT CAST(count(*) AS VARCHAR) AS add FROM held JOIN days ON held.d = days.d";
        let (plan, joins, build_reads_sums) = joined_write(&ctx, vec!["a", "c"], 6000, sql).await;
        assert_eq!((joins, build_reads_sums), (1, false), "the hash table is built from the sums");
        // the requests of days a and c, over both partitions
        assert_eq!(numbers(&ctx, plan).await.iter().sum::<i64>(), 4000);
    }

    #[tokio::test]
    async fn a_hash_table_built_from_the_sums_is_built_again_for_each_partition_sums() {
        let ctx = session(64 << 20).await;
        // sums said to be smaller than the days: the join builds its hash table from them
        let sql = "SELECT CAST(sum(held.x) AS VARCHAR) AS add FROM held JOIN days ON held.d = days.d";
        let (plan, joins, build_reads_sums) = joined_write(&ctx, vec!["a", "b", "c"], 1, sql).await;
        assert_eq!((joins, build_reads_sums), (1, true), "the hash table is not built from the sums");
        // the write runs for each partition over that partition's sums, with a table of its own
        assert_eq!(numbers(&ctx, plan).await, vec![(0..3000i64).sum::<i64>(), (10_000..13_000i64).sum::<i64>()]);
    }
}
