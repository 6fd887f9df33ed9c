//! `tokenledger cluster`: a Ballista scheduler and executors (on loopback unless `--host`), until
//! stopped.

use clap::Args;

use crate::error::Result;

#[derive(Debug, Args)]
pub struct ClusterArgs {
    /// The scheduler's port (0: any free port; the first line printed names it).
    #[arg(long, default_value_t = 50050)]
    pub port: u16,

    /// How many executors to start.
    #[arg(long, default_value_t = 2)]
    pub executors: usize,

    /// Task slots per executor (default: the cores, shared among the executors).
    #[arg(long)]
    pub slots: Option<usize>,

    /// Join the executors to this running scheduler (HOST:PORT) instead of starting one: the
    /// workers of a real cluster, whose scheduler is `tokenledger cluster --executors 0`
    /// (tokenledger's plans carry its Delta tables' file lists, which a stock Ballista
    /// scheduler cannot read).
    #[arg(long, value_name = "HOST:PORT")]
    pub scheduler: Option<String>,

    /// The address this machine's scheduler and executors listen on and are reached at by
    /// the others (a real cluster: this machine's name or address on its network).
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,

    /// Where executors keep shuffle files (default: a temporary directory, removed on exit).
    #[arg(long)]
    pub work_dir: Option<std::path::PathBuf>,

    /// Memory each executor's running tasks may hold together before they spill to its work
    /// directory (e.g. 4GiB; default: no limit, as a stock Ballista executor). A task that
    /// cannot spill and needs more fails its job with an error that says so.
    #[arg(long, value_name = "SIZE")]
    pub memory_limit: Option<bytesize::ByteSize>,
}

#[cfg(feature = "ballista")]
pub async fn run(args: &ClusterArgs) -> Result<i32> {
    use std::io::Write;
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let slots = args.slots.unwrap_or((cores / args.executors.max(1)).max(1));
    let temp = tempfile::tempdir()?;
    let work_root = args.work_dir.clone().unwrap_or_else(|| temp.path().to_path_buf());
    use crate::engine::cluster::{Executors, LocalCluster};
    let executors =
        Executors { count: args.executors, slots, memory_limit: args.memory_limit.map(super::memory_bytes) };
    let cluster = match &args.scheduler {
        Some(address) => {
            let scheduler =
                tokio::net::lookup_host(address.as_str()).await.ok().and_then(|mut a| a.next()).ok_or_else(|| {
                    crate::error::Error::Usage(format!(
                        "--scheduler {address}: not a HOST:PORT this machine can resolve"
                    ))
                })?;
            LocalCluster::join(scheduler, &args.host, executors, &work_root).await?
        }
        None => LocalCluster::start(&args.host, args.port, executors, &work_root).await?,
    };
    // the first line is for scripts that start a cluster and need its engine; a cluster of
    // known size says how many tasks fill its slots (Ballista's default is 16 a stage)
    let engine = match (&args.scheduler, args.executors * slots) {
        (None, slots @ 1..) => format!("ballista://{}?partitions={slots}", cluster.scheduler),
        _ => format!("ballista://{}", cluster.scheduler),
    };
    println!("{engine}");
    match &args.scheduler {
        Some(_) => eprintln!(
            "{} executors of {slots} task slots joined the Ballista scheduler at {}; Ctrl-C stops them",
            args.executors, cluster.scheduler
        ),
        None => eprintln!(
            "a Ballista scheduler on {} with {} executors of {slots} task slots; run commands with --engine '{engine}'; Ctrl-C stops it",
            cluster.scheduler, args.executors
        ),
    }
    std::io::stdout().flush()?;
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    drop(cluster);
    Ok(0)
}

#[cfg(not(feature = "ballista"))]
pub async fn run(_args: &ClusterArgs) -> Result<i32> {
    Err(crate::error::Error::Usage(
        "tokenledger cluster needs a build with Ballista: cargo build --release --features ballista".into(),
    ))
}
