//! A Ballista cluster on loopback, in this process: one scheduler and N executors, each
//! executor with its own work directory and task slots. `tokenledger cluster` runs one for
//! trying `--engine ballista://` on one machine, for the tests and for the benchmark.
//!
//! The scheduler and the executors know tokenledger's functions (`quantile_disc`), which a
//! stock Ballista executor does not: the model's plans name them.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_flight::flight_service_server::FlightServiceServer;
use ballista_core::config::TaskSchedulingPolicy;
use ballista_core::registry::BallistaFunctionRegistry;
use ballista_core::serde::BallistaCodec;
use ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient;
use ballista_core::serde::protobuf::{
    ExecutorRegistration, RuntimeStatsReport, ShuffleWritePartition, TaskColumnStats, WindowStateReport,
};
use ballista_core::serde::scheduler::{ExecutorOperatingSystemSpecification, ExecutorSpecification};
use ballista_core::utils::{GrpcServerConfig, create_grpc_server, default_config_producer, default_session_builder};
use ballista_core::{BALLISTA_PROTOCOL_VERSION, JobId, RuntimeProducer};
use ballista_executor::execution_engine::{DefaultExecutionEngine, ExecutionEngine, QueryStageExecutor};
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
use datafusion::physical_plan::metrics::MetricsSet;
use datafusion::prelude::SessionConfig;
use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::WarehouseStores;
use crate::error::{Error, Result};

/// gRPC messages carry plans and result batches.
const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

fn ballista_error(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Internal(format!("{what}: {e}"))
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
    Arc::new(registry)
}

impl LocalCluster {
    /// Starts a scheduler on `127.0.0.1:port` (0: any free port) and `executors` executors of
    /// `slots` task slots, with work directories under `work_root`, and waits until every
    /// executor has registered.
    pub async fn start(port: u16, executors: usize, slots: usize, work_root: &Path) -> Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let scheduler = listener.local_addr()?;
        let config = SchedulerConfig::default()
            .with_hostname("127.0.0.1")
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
                Ok(state)
            }));
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
        for i in 0..executors {
            let dir = work_root.join(format!("executor-{i}"));
            std::fs::create_dir_all(&dir)?;
            tasks.extend(start_executor(scheduler, "127.0.0.1", &dir, slots).await?);
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
            if registered >= executors {
                break;
            }
            if Instant::now() > deadline {
                return Err(Error::Internal(format!(
                    "only {registered} of {executors} Ballista executors registered within 30 s"
                )));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok(Self { scheduler, work_dirs, tasks })
    }
}

impl LocalCluster {
    /// Starts `executors` executors that join the scheduler at `scheduler`, reachable by it
    /// and by each other at `host` (their Flight servers listen there on free ports): the
    /// executors of a real cluster, which know tokenledger's functions.
    pub async fn join(
        scheduler: SocketAddr,
        host: &str,
        executors: usize,
        slots: usize,
        work_root: &Path,
    ) -> Result<Self> {
        let mut tasks = Vec::new();
        let mut work_dirs = Vec::new();
        for i in 0..executors {
            let dir = work_root.join(format!("executor-{i}"));
            std::fs::create_dir_all(&dir)?;
            tasks.extend(start_executor(scheduler, host, &dir, slots).await?);
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
    slots: usize,
) -> Result<Vec<JoinHandle<()>>> {
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
    // spill files go to the work directory too
    let spill_dir = work_dir.clone();
    let runtime: RuntimeProducer = Arc::new(move |_: &SessionConfig| {
        let builder = RuntimeEnvBuilder::new().with_temp_file_path(spill_dir.clone());
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
        Arc::new(WithoutOperatorMetrics(DefaultExecutionEngine::new())),
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
        let codec: BallistaCodec<LogicalPlanNode, PhysicalPlanNode> = BallistaCodec::default();
        if let Err(e) = poll_loop(client, executor, codec, None, None, ExecutorHealth::new()).await {
            tracing::error!("a Ballista executor stopped: {e}");
        }
    });
    Ok(vec![flight, poll])
}

/// Ballista's execution engine, except that tasks report no operator metrics. The scheduler
/// merges each task's metrics into its stage's, and fails the task's status update when the
/// operator counts differ, which they do when a stage is a union of scans of different shapes
/// (the snapshot's per-date scans): the lost status left the job waiting forever (seen at 1M
/// requests in `report rate_limits`). The metrics only feed the scheduler's display; the
/// statistics the adaptive planner uses travel separately and are passed through.
struct WithoutOperatorMetrics(DefaultExecutionEngine);

impl ExecutionEngine for WithoutOperatorMetrics {
    fn create_query_stage_exec(
        &self,
        job_id: JobId,
        stage_id: usize,
        task_id: usize,
        global_output_partition_ids: Vec<usize>,
        plan: Arc<dyn ExecutionPlan>,
        work_dir: &str,
        config: &SessionConfig,
    ) -> datafusion::error::Result<Arc<dyn QueryStageExecutor>> {
        let stage = self.0.create_query_stage_exec(
            job_id,
            stage_id,
            task_id,
            global_output_partition_ids,
            plan,
            work_dir,
            config,
        )?;
        Ok(Arc::new(StageWithoutMetrics(stage)))
    }
}

#[derive(Debug)]
struct StageWithoutMetrics(Arc<dyn QueryStageExecutor>);

impl std::fmt::Display for StageWithoutMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

#[async_trait::async_trait]
impl QueryStageExecutor for StageWithoutMetrics {
    async fn execute_query_stage(
        &self,
        task_id: usize,
        context: Arc<TaskContext>,
    ) -> datafusion::error::Result<Vec<ShuffleWritePartition>> {
        self.0.execute_query_stage(task_id, context).await
    }

    fn collect_plan_metrics(&self) -> Vec<MetricsSet> {
        Vec::new()
    }

    fn collect_runtime_stats_reports(&self) -> Vec<RuntimeStatsReport> {
        self.0.collect_runtime_stats_reports()
    }

    fn collect_window_state_reports(&self) -> datafusion::error::Result<Vec<WindowStateReport>> {
        self.0.collect_window_state_reports()
    }

    fn collect_column_stats(&self) -> Vec<TaskColumnStats> {
        self.0.collect_column_stats()
    }
}
