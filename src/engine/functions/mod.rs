//! tokenledger's own SQL functions, registered in every session (local, and on a cluster's
//! scheduler and executors, which must decode plans that use them).

mod quantile;

use std::sync::Arc;

use datafusion::logical_expr::AggregateUDF;
use datafusion::prelude::SessionContext;

pub use quantile::quantile_disc;

/// Every aggregate function of tokenledger.
pub fn aggregates() -> Vec<Arc<AggregateUDF>> {
    vec![Arc::new(quantile_disc())]
}

/// Registers every function in `ctx`.
pub fn register(ctx: &SessionContext) {
    for udaf in aggregates() {
        ctx.register_udaf(udaf.as_ref().clone());
    }
}
