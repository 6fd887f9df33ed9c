//! tokenledger's own SQL functions, registered in every session (local, and on a cluster's
//! scheduler and executors, which must decode plans that use them).

mod cost;
mod quantile;
mod value_list;

use std::sync::Arc;

use datafusion::logical_expr::{AggregateUDF, ScalarUDF};
use datafusion::prelude::SessionContext;

pub use cost::cost_of;
pub use quantile::quantile_disc;
pub use value_list::{list_quantile_disc, value_list};

/// Every aggregate function of tokenledger.
pub fn aggregates() -> Vec<Arc<AggregateUDF>> {
    vec![Arc::new(quantile_disc()), Arc::new(value_list())]
}

/// Every scalar function of tokenledger.
pub fn scalars() -> Vec<Arc<ScalarUDF>> {
    vec![Arc::new(list_quantile_disc()), Arc::new(cost_of())]
}

/// Registers every function in `ctx`.
pub fn register(ctx: &SessionContext) {
    for udaf in aggregates() {
        ctx.register_udaf(udaf.as_ref().clone());
    }
    for udf in scalars() {
        ctx.register_udf(udf.as_ref().clone());
    }
}
