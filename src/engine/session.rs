//! The one place sessions are made (as datafusion-cli's `pool_type.rs`): the memory pool a
//! query may use before it spills, the session's settings, and tokenledger's functions, on
//! the engine of the command. Every stage asks for its session here; none makes its own.

use std::sync::Arc;

use datafusion::execution::memory_pool::{FairSpillPool, MemoryPool, TrackConsumersPool};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::prelude::{SessionConfig, SessionContext};

use super::Engine;
use crate::error::Result;

/// The memory budget of a query when `--memory-limit` is not given.
pub const DEFAULT_MEMORY_LIMIT: usize = 1 << 30;

/// A runtime whose memory pool holds `memory_limit` bytes, shared fairly by the operators
/// that can spill (aggregations, sorts); spill files go to the system's temporary directory.
/// Lanes of one rollup share one runtime, so the budget is the command's, not a lane's.
pub fn runtime(memory_limit: usize) -> Result<Arc<RuntimeEnv>> {
    Ok(RuntimeEnvBuilder::new().with_memory_pool(memory_pool(memory_limit)).build_arc()?)
}

/// A memory pool of `memory_limit` bytes, shared fairly by the operators that can spill; an
/// error that it is exhausted names its five biggest holders.
pub fn memory_pool(memory_limit: usize) -> Arc<dyn MemoryPool> {
    Arc::new(TrackConsumersPool::new(FairSpillPool::new(memory_limit), std::num::NonZeroUsize::new(5).expect("5 > 0")))
}

impl Engine {
    /// A session on this engine over `runtime`, each query cut into `target_partitions`
    /// partitions, with tokenledger's functions.
    pub async fn context(&self, runtime: Arc<RuntimeEnv>, target_partitions: usize) -> Result<SessionContext> {
        let mut config = SessionConfig::new().with_target_partitions(target_partitions.max(1));
        // where in the SQL an error is: analysts' errors point at it (cheap when nothing fails)
        config.options_mut().sql_parser.collect_spans = true;
        self.session(config, runtime).await
    }

    /// A session on this engine with a memory budget of `memory_limit` bytes, for a command's
    /// few queries (chargeback, FOCUS, budgets, maintenance, run records).
    pub async fn context_with_memory(&self, memory_limit: usize) -> Result<SessionContext> {
        self.context(runtime(memory_limit)?, 2).await
    }
}
