//! A Ballista cluster on loopback, in this process: one scheduler and N executors, each
//! executor with its own work directory and task slots. `tokenledger cluster` runs one for
//! trying `--engine ballista://` on one machine, for the tests and for the benchmark.
//!
//! The scheduler and the executors know tokenledger's functions (`quantile_disc`,
//! `value_list`, ...) and plan nodes (the Delta scan of [`SnapshotTable`], the writes of
//! [`DeltaWrite`]), which a stock Ballista cluster does not: the model's plans name them.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_flight::flight_service_server::FlightServiceServer;
use ballista_core::config::TaskSchedulingPolicy;
use ballista_core::registry::BallistaFunctionRegistry;
use ballista_core::serde::protobuf::ExecutorRegistration;
use ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient;
use ballista_core::serde::scheduler::{ExecutorOperatingSystemSpecification, ExecutorSpecification};
use ballista_core::serde::{BallistaCodec, BallistaLogicalExtensionCodec, BallistaPhysicalExtensionCodec};
use ballista_core::utils::{GrpcServerConfig, create_grpc_server, default_config_producer, default_session_builder};
use ballista_core::{BALLISTA_PROTOCOL_VERSION, RuntimeProducer};
use ballista_executor::execution_engine::DefaultExecutionEngine;
use ballista_executor::execution_loop::poll_loop;
use ballista_executor::executor::Executor;
use ballista_executor::flight_service::BallistaFlightService;
use ballista_executor::health::ExecutorHealth;
use ballista_executor::metrics::LoggingMetricsCollector;
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::{create_scheduler, start_grpc_service_with_listener};
use ballista_scheduler::scheduler_server::SchedulerServer;
use datafusion::execution::TaskContext;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionConfig;
use datafusion_proto::bytes::{
    logical_plan_from_bytes_with_extension_codec, logical_plan_to_bytes_with_extension_codec,
    physical_plan_from_bytes_with_extension_codec, physical_plan_to_bytes_with_extension_codec,
};
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};
use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::delta_write::{DeltaWrite, DeltaWriteExec, WriteTarget};
use super::held_writes::{HeldSumsScan, HeldSumsSource, HeldWrites, HeldWritesExec};
use super::{SnapshotFiles, SnapshotTable, WarehouseStores};
use crate::error::{Error, Result};

/// gRPC messages carry plans and result batches.
const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

fn ballista_error(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Internal(format!("{what}: {e}"))
}

/// The executors a cluster command starts.
#[derive(Debug, Clone, Copy)]
pub struct Executors {
    pub count: usize,
    /// Task slots of each.
    pub slots: usize,
    /// Bytes each executor's running tasks may hold together before they spill to its work
    /// directory (`None`: no limit, as a stock Ballista executor).
    pub memory_limit: Option<usize>,
}

/// A running loopback cluster; its tasks stop when it is dropped.
pub struct LocalCluster {
    pub scheduler: SocketAddr,
    pub work_dirs: Vec<PathBuf>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// tokenledger's functions, for the plans the executors decode.
fn functions() -> Arc<BallistaFunctionRegistry> {
    let mut registry = BallistaFunctionRegistry::default();
    for udaf in super::functions::aggregates() {
        registry.aggregate_functions.insert(udaf.name().to_string(), udaf);
    }
    for udf in super::functions::scalars() {
        registry.scalar_functions.insert(udf.name().to_string(), udf);
    }
    Arc::new(registry)
}

impl LocalCluster {
    /// Starts a scheduler on `host:port` (0: any free port) and `executors`, with work
    /// directories under `work_root`, and waits until every executor has registered.
    pub async fn start(host: &str, port: u16, executors: Executors, work_root: &Path) -> Result<Self> {
        let listener = TcpListener::bind((host, port)).await?;
        let scheduler = listener.local_addr()?;
        let mut config = SchedulerConfig::default()
            .with_hostname(host)
            .with_port(scheduler.port())
            // executors pull tasks: they need no port of their own for the scheduler
            .with_scheduler_policy(TaskSchedulingPolicy::PullStaged)
            .with_override_session_builder(Arc::new(|config: SessionConfig| {
                let state = default_session_builder(config)?;
                // the scheduler reads the files' footers when it plans: it needs the stores too
                let runtime = RuntimeEnvBuilder::new()
                    .with_object_store_registry(Arc::new(WarehouseStores::default()))
                    .build_arc()?;
                let mut state = datafusion::execution::SessionStateBuilder::new_from_existing(state)
                    .with_runtime_env(runtime)
                    .build();
                for udaf in super::functions::aggregates() {
                    datafusion::execution::FunctionRegistry::register_udaf(&mut state, udaf)?;
                }
                for udf in super::functions::scalars() {
                    datafusion::execution::FunctionRegistry::register_udf(&mut state, udf)?;
                }
                // it plans the rollup's writes as tasks that write their files
                Ok(super::delta_write::with_planner(state))
            }));
        // the Delta tables of the plans it is sent are tokenledger's snapshot scans, and their
        // writes tokenledger's; the tasks it sends the executors say so
        config.override_logical_codec = Some(Arc::new(LogicalCodec::default()));
        config.override_physical_codec = Some(Arc::new(PhysicalCodec::default()));
        let cluster = BallistaCluster::new_from_config(&config).await.map_err(|e| ballista_error("scheduler", e))?;
        let server: SchedulerServer<LogicalPlanNode, PhysicalPlanNode> =
            create_scheduler(cluster, Arc::new(config)).await.map_err(|e| ballista_error("scheduler", e))?;
        let mut tasks = Vec::new();
        let grpc = server.clone();
        tasks.push(tokio::spawn(async move {
            if let Err(e) = start_grpc_service_with_listener(listener, grpc).await {
                tracing::error!("the Ballista scheduler stopped: {e}");
            }
        }));
        let mut work_dirs = Vec::new();
        for i in 0..executors.count {
            let dir = work_root.join(format!("executor-{i}"));
            std::fs::create_dir_all(&dir)?;
            tasks.extend(start_executor(scheduler, host, &dir, executors).await?);
            work_dirs.push(dir);
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let registered = server
                .state
                .executor_manager
                .get_executors_state()
                .await
                .map_err(|e| ballista_error("scheduler", e))?
                .len();
            if registered >= executors.count {
                break;
            }
            if Instant::now() > deadline {
                return Err(Error::Internal(format!(
                    "only {registered} of {} Ballista executors registered within 30 s",
                    executors.count
                )));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok(Self { scheduler, work_dirs, tasks })
    }
}

impl LocalCluster {
    /// Starts `executors` that join the scheduler at `scheduler`, reachable by it and by each
    /// other at `host` (their Flight servers listen there on free ports): the executors of a
    /// real cluster, which know tokenledger's functions.
    pub async fn join(scheduler: SocketAddr, host: &str, executors: Executors, work_root: &Path) -> Result<Self> {
        let mut tasks = Vec::new();
        let mut work_dirs = Vec::new();
        for i in 0..executors.count {
            let dir = work_root.join(format!("executor-{i}"));
            std::fs::create_dir_all(&dir)?;
            tasks.extend(start_executor(scheduler, host, &dir, executors).await?);
            work_dirs.push(dir);
        }
        Ok(Self { scheduler, work_dirs, tasks })
    }
}

/// One executor: a Flight server on a free port of `host` (it serves shuffle data and
/// results) and the loop that pulls tasks from the scheduler.
async fn start_executor(
    scheduler: SocketAddr,
    host: &str,
    work_dir: &Path,
    executors: Executors,
) -> Result<Vec<JoinHandle<()>>> {
    let slots = executors.slots;
    let work_dir = work_dir
        .to_str()
        .ok_or_else(|| Error::Usage(format!("work directory {} is not UTF-8", work_dir.display())))?
        .to_string();
    let listener = TcpListener::bind((host, 0)).await?;
    let registration = ExecutorRegistration {
        id: uuid::Uuid::new_v4().to_string(),
        host: Some(host.to_string()),
        port: u32::from(listener.local_addr()?.port()),
        grpc_port: 0,
        specification: Some(ExecutorSpecification::default().with_vcores(slots as u32).into()),
        os_info: Some(ExecutorOperatingSystemSpecification::default().into()),
        ballista_protocol_version: BALLISTA_PROTOCOL_VERSION,
    };
    // spill files go to the work directory too; every task of the executor draws on its one
    // memory pool (a task's runtime is made when it starts)
    let spill_dir = work_dir.clone();
    let pool = executors.memory_limit.map(super::memory_pool);
    let runtime: RuntimeProducer = Arc::new(move |_: &SessionConfig| {
        let mut builder = RuntimeEnvBuilder::new().with_temp_file_path(spill_dir.clone());
        if let Some(pool) = &pool {
            builder = builder.with_memory_pool(pool.clone());
        }
        builder.with_object_store_registry(Arc::new(WarehouseStores::default())).build_arc()
    });
    let executor = Arc::new(Executor::new(
        registration,
        &work_dir,
        runtime,
        Arc::new(default_config_producer),
        functions(),
        Arc::new(LoggingMetricsCollector::default()),
        slots,
        Arc::new(DefaultExecutionEngine::new()),
    ));
    let flight = FlightServiceServer::new(BallistaFlightService::new(work_dir))
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    let flight = tokio::spawn(async move {
        let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
        if let Err(e) =
            create_grpc_server(&GrpcServerConfig::default()).add_service(flight).serve_with_incoming(incoming).await
        {
            tracing::error!("a Ballista executor's flight server stopped: {e}");
        }
    });
    let client = SchedulerGrpcClient::connect(format!("http://{scheduler}"))
        .await
        .map_err(|e| ballista_error("executor", e))?
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    let poll = tokio::spawn(async move {
        let codec: BallistaCodec<LogicalPlanNode, PhysicalPlanNode> =
            BallistaCodec::new(Arc::new(LogicalCodec::default()), Arc::new(PhysicalCodec::default()));
        if let Err(e) = poll_loop(client, executor, codec, None, None, ExecutorHealth::new()).await {
            tracing::error!("a Ballista executor stopped: {e}");
        }
    });
    Ok(vec![flight, poll])
}

/// The functions' part of a codec: Ballista's (the plans name tokenledger's functions, which
/// the scheduler and the executors have registered under the same names).
macro_rules! function_codecs {
    () => {
        fn try_decode_udf(
            &self,
            name: &str,
            buf: &[u8],
        ) -> datafusion::error::Result<Arc<datafusion::logical_expr::ScalarUDF>> {
            self.0.try_decode_udf(name, buf)
        }

        fn try_encode_udf(
            &self,
            node: &datafusion::logical_expr::ScalarUDF,
            buf: &mut Vec<u8>,
        ) -> datafusion::error::Result<()> {
            self.0.try_encode_udf(node, buf)
        }

        fn try_decode_udaf(
            &self,
            name: &str,
            buf: &[u8],
        ) -> datafusion::error::Result<Arc<datafusion::logical_expr::AggregateUDF>> {
            self.0.try_decode_udaf(name, buf)
        }

        fn try_encode_udaf(
            &self,
            node: &datafusion::logical_expr::AggregateUDF,
            buf: &mut Vec<u8>,
        ) -> datafusion::error::Result<()> {
            self.0.try_encode_udaf(node, buf)
        }

        fn try_decode_udwf(
            &self,
            name: &str,
            buf: &[u8],
        ) -> datafusion::error::Result<Arc<datafusion::logical_expr::WindowUDF>> {
            self.0.try_decode_udwf(name, buf)
        }

        fn try_encode_udwf(
            &self,
            node: &datafusion::logical_expr::WindowUDF,
            buf: &mut Vec<u8>,
        ) -> datafusion::error::Result<()> {
            self.0.try_encode_udwf(node, buf)
        }
    };
}

/// Ballista's logical codec, and tokenledger's Delta tables ([`SnapshotTable`]): their file
/// list travels in the plan, so the scheduler plans one scan of exactly the snapshot's files;
/// and its writes ([`DeltaWrite`]: the table they add files to). The command and the
/// scheduler of `tokenledger cluster` both use it; a stock Ballista scheduler cannot read
/// such a plan.
#[derive(Debug, Default)]
pub struct LogicalCodec(BallistaLogicalExtensionCodec);

/// What starts the bytes of a [`SnapshotTable`] in a plan (the rest is its file list as JSON).
const SNAPSHOT_TAG: &[u8] = b"tokenledger-snapshot-1\n";

/// What starts the bytes of a write in a plan, logical or physical (the rest is its
/// [`WriteTarget`] as JSON).
const WRITE_TAG: &[u8] = b"tokenledger-delta-write-1\n";

/// The target of a write, from the bytes after [`WRITE_TAG`].
fn write_target(json: &[u8]) -> datafusion::error::Result<WriteTarget> {
    serde_json::from_slice(json)
        .map_err(|e| datafusion::error::DataFusionError::Plan(format!("the target of a write in the plan: {e}")))
}

/// A write's target as the bytes of a plan node.
fn encode_write(target: &WriteTarget, buf: &mut Vec<u8>) -> datafusion::error::Result<()> {
    buf.extend_from_slice(WRITE_TAG);
    serde_json::to_writer(buf, target)
        .map_err(|e| datafusion::error::DataFusionError::Internal(format!("the target of a write: {e}")))
}

/// The one input of a node decoded from a plan.
fn only_input<T: Clone>(inputs: &[T], node: &str) -> datafusion::error::Result<T> {
    match inputs {
        [input] => Ok(input.clone()),
        _ => Err(datafusion::error::DataFusionError::Plan(format!("{node} has one input, not {}", inputs.len()))),
    }
}

/// What starts the bytes of held writes in a plan, logical or physical (the rest is their
/// writes' plans, [`framed`]).
const HELD_WRITES_TAG: &[u8] = b"tokenledger-held-writes-1\n";

/// What starts the bytes of the sums held writes read: the table in a logical plan (the rest
/// is its estimate of rows; its schema travels beside it), the scan in a physical one (the
/// rest is its projection and estimate as JSON, then the sums' schema as an Arrow IPC
/// stream).
const HELD_SUMS_TAG: &[u8] = b"tokenledger-held-sums-1\n";

fn plan_error(what: &str, e: impl std::fmt::Display) -> datafusion::error::DataFusionError {
    datafusion::error::DataFusionError::Plan(format!("{what} in the plan: {e}"))
}

/// `parts` in one buffer: their lengths as a JSON line, then each part's bytes.
fn framed(parts: &[bytes::Bytes], buf: &mut Vec<u8>) -> datafusion::error::Result<()> {
    let lengths: Vec<usize> = parts.iter().map(|p| p.len()).collect();
    serde_json::to_writer(&mut *buf, &lengths).map_err(|e| plan_error("the held writes", e))?;
    buf.push(b'\n');
    for part in parts {
        buf.extend_from_slice(part);
    }
    Ok(())
}

/// The parts [`framed`] put in `buf`.
fn unframed(buf: &[u8]) -> datafusion::error::Result<Vec<&[u8]>> {
    let line = buf.iter().position(|&b| b == b'\n').ok_or_else(|| plan_error("the held writes", "no lengths"))?;
    let lengths: Vec<usize> = serde_json::from_slice(&buf[..line]).map_err(|e| plan_error("the held writes", e))?;
    let mut rest = &buf[line + 1..];
    let mut parts = Vec::new();
    for length in lengths {
        if length > rest.len() {
            return Err(plan_error("the held writes", "a write's plan is cut short"));
        }
        let (part, after) = rest.split_at(length);
        parts.push(part);
        rest = after;
    }
    Ok(parts)
}

/// A schema as an Arrow IPC stream of no batches.
fn schema_bytes(schema: &arrow::datatypes::Schema, buf: &mut Vec<u8>) -> datafusion::error::Result<()> {
    let mut writer = arrow::ipc::writer::StreamWriter::try_new(buf, schema)?;
    writer.finish()?;
    Ok(())
}

impl LogicalExtensionCodec for LogicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[datafusion::logical_expr::LogicalPlan],
        ctx: &TaskContext,
    ) -> datafusion::error::Result<datafusion::logical_expr::Extension> {
        if let Some(parts) = buf.strip_prefix(HELD_WRITES_TAG) {
            let writes = unframed(parts)?
                .into_iter()
                .map(|bytes| logical_plan_from_bytes_with_extension_codec(bytes, ctx, self))
                .collect::<datafusion::error::Result<Vec<_>>>()?;
            let held = HeldWrites::new(only_input(inputs, "HeldWrites")?, writes);
            return Ok(datafusion::logical_expr::Extension { node: Arc::new(held) });
        }
        let Some(json) = buf.strip_prefix(WRITE_TAG) else {
            return self.0.try_decode(buf, inputs, ctx);
        };
        let write = DeltaWrite::new(only_input(inputs, "DeltaWrite")?, write_target(json)?)
            .map_err(|e| datafusion::error::DataFusionError::Plan(e.to_string()))?;
        Ok(datafusion::logical_expr::Extension { node: Arc::new(write) })
    }

    fn try_encode(
        &self,
        node: &datafusion::logical_expr::Extension,
        buf: &mut Vec<u8>,
    ) -> datafusion::error::Result<()> {
        if let Some(held) = node.node.as_any().downcast_ref::<HeldWrites>() {
            let writes = held
                .writes
                .iter()
                .map(|write| logical_plan_to_bytes_with_extension_codec(write, self))
                .collect::<datafusion::error::Result<Vec<_>>>()?;
            buf.extend_from_slice(HELD_WRITES_TAG);
            return framed(&writes, buf);
        }
        match node.node.as_any().downcast_ref::<DeltaWrite>() {
            Some(write) => encode_write(&write.target, buf),
            None => self.0.try_encode(node, buf),
        }
    }

    fn try_decode_table_provider(
        &self,
        buf: &[u8],
        table_ref: &datafusion::common::TableReference,
        schema: arrow::datatypes::SchemaRef,
        ctx: &TaskContext,
    ) -> datafusion::error::Result<Arc<dyn datafusion::catalog::TableProvider>> {
        if let Some(rows) = buf.strip_prefix(HELD_SUMS_TAG) {
            let rows = serde_json::from_slice(rows).map_err(|e| plan_error("the held sums' rows", e))?;
            return Ok(Arc::new(HeldSumsSource::new(schema, rows)));
        }
        let Some(json) = buf.strip_prefix(SNAPSHOT_TAG) else {
            return self.0.try_decode_table_provider(buf, table_ref, schema, ctx);
        };
        let files: SnapshotFiles = serde_json::from_slice(json).map_err(|e| {
            datafusion::error::DataFusionError::Plan(format!("the file list of table {table_ref} in the plan: {e}"))
        })?;
        let table = SnapshotTable::new(schema, files)
            .map_err(|e| datafusion::error::DataFusionError::Plan(format!("table {table_ref}: {e}")))?;
        Ok(Arc::new(table))
    }

    fn try_encode_table_provider(
        &self,
        table_ref: &datafusion::common::TableReference,
        node: Arc<dyn datafusion::catalog::TableProvider>,
        buf: &mut Vec<u8>,
    ) -> datafusion::error::Result<()> {
        if let Some(sums) = node.downcast_ref::<HeldSumsSource>() {
            buf.extend_from_slice(HELD_SUMS_TAG);
            buf.extend_from_slice(sums.rows().to_string().as_bytes());
            return Ok(());
        }
        let Some(table) = node.downcast_ref::<SnapshotTable>() else {
            return self.0.try_encode_table_provider(table_ref, node, buf);
        };
        buf.extend_from_slice(SNAPSHOT_TAG);
        serde_json::to_writer(buf, table.files())
            .map_err(|e| datafusion::error::DataFusionError::Internal(format!("table {table_ref}: {e}")))
    }

    fn try_decode_file_format(
        &self,
        buf: &[u8],
        ctx: &TaskContext,
    ) -> datafusion::error::Result<Arc<dyn datafusion::datasource::file_format::FileFormatFactory>> {
        self.0.try_decode_file_format(buf, ctx)
    }

    fn try_encode_file_format(
        &self,
        buf: &mut Vec<u8>,
        node: Arc<dyn datafusion::datasource::file_format::FileFormatFactory>,
    ) -> datafusion::error::Result<()> {
        self.0.try_encode_file_format(buf, node)
    }

    function_codecs!();
}

/// Ballista's physical codec, and tokenledger's writes ([`DeltaWriteExec`]): the scheduler
/// sends them to the executors as part of a stage's tasks.
#[derive(Debug, Default)]
pub struct PhysicalCodec(BallistaPhysicalExtensionCodec);

impl PhysicalExtensionCodec for PhysicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        if let Some(parts) = buf.strip_prefix(HELD_WRITES_TAG) {
            let writes = unframed(parts)?
                .into_iter()
                .map(|bytes| physical_plan_from_bytes_with_extension_codec(bytes, ctx, self))
                .collect::<datafusion::error::Result<Vec<_>>>()?;
            return Ok(Arc::new(HeldWritesExec::new(only_input(inputs, "HeldWritesExec")?, writes)));
        }
        if let Some(rest) = buf.strip_prefix(HELD_SUMS_TAG) {
            let line =
                rest.iter().position(|&b| b == b'\n').ok_or_else(|| plan_error("the held sums", "no projection"))?;
            let (projection, estimate): (Option<Vec<usize>>, usize) =
                serde_json::from_slice(&rest[..line]).map_err(|e| plan_error("the held sums' projection", e))?;
            let reader = arrow::ipc::reader::StreamReader::try_new(&rest[line + 1..], None)?;
            return Ok(Arc::new(HeldSumsScan::new(reader.schema(), projection, estimate)?));
        }
        match buf.strip_prefix(WRITE_TAG) {
            Some(json) => {
                Ok(Arc::new(DeltaWriteExec::new(only_input(inputs, "DeltaWriteExec")?, write_target(json)?)?))
            }
            None => self.0.try_decode(buf, inputs, ctx, proto_converter),
        }
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> datafusion::error::Result<()> {
        if let Some(held) = node.downcast_ref::<HeldWritesExec>() {
            let writes = held
                .writes()
                .iter()
                .map(|write| physical_plan_to_bytes_with_extension_codec(write.clone(), self))
                .collect::<datafusion::error::Result<Vec<_>>>()?;
            buf.extend_from_slice(HELD_WRITES_TAG);
            return framed(&writes, buf);
        }
        if let Some(scan) = node.downcast_ref::<HeldSumsScan>() {
            buf.extend_from_slice(HELD_SUMS_TAG);
            serde_json::to_writer(&mut *buf, &(scan.projection(), scan.estimate()))
                .map_err(|e| plan_error("the held sums", e))?;
            buf.push(b'\n');
            return schema_bytes(scan.sums_schema(), buf);
        }
        match node.downcast_ref::<DeltaWriteExec>() {
            Some(write) => encode_write(write.target(), buf),
            None => self.0.try_encode(node, buf, proto_converter),
        }
    }

    function_codecs!();
}
