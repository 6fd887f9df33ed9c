//! The table whose rows change from one unit of dates to the next while a lane's plans stay
//! the same: the lane plans its queries once and, for each unit, only turns the plan that
//! reads this table into a physical one again (which is when a table is scanned for its files).
//!
//! Planning a unit's queries from SQL (its views, the hours' sums, each usage table) and
//! optimizing them took a quarter of a 200,000-request rollup's instructions (eight units),
//! and a tenth of a 1M or a 10M one's time: the same work for each unit, whose plans differ
//! only in which files they scan (the sums a unit holds are its plan's own, in
//! `crate::engine::held_writes`).

use std::sync::{Arc, Mutex};

use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use chrono::NaiveDate;
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::TableType;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::{col, lit};

/// The unit's dates of a table partitioned by date: `inner` scanned with a filter on
/// `column` to the dates [`Self::select`] set last. The filter must prune whole partitions
/// (the provider says it applies it exactly), so no row of another date is read.
#[derive(Debug)]
pub(super) struct UnitTable {
    inner: Arc<dyn TableProvider>,
    column: &'static str,
    filter: Mutex<Option<Expr>>,
}

impl UnitTable {
    pub fn new(inner: Arc<dyn TableProvider>, column: &'static str) -> Self {
        Self { inner, column, filter: Mutex::new(None) }
    }

    /// The dates the next scans read.
    pub fn select(&self, dates: &[NaiveDate]) {
        *self.filter.lock().expect("unit filter lock") = Some(on_dates(self.column, dates));
    }
}

/// The rows whose `column` is one of `dates`: on a table partitioned by it, the scan reads just
/// their files (partition pruning).
pub(super) fn on_dates(column: &str, dates: &[NaiveDate]) -> Expr {
    col(column).in_list(dates.iter().map(|d| lit(crate::time::date_value(*d))).collect(), false)
}

#[async_trait]
impl TableProvider for UnitTable {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> DfResult<Vec<TableProviderFilterPushDown>> {
        self.inner.supports_filters_pushdown(filters)
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let unit = self.filter.lock().expect("unit filter lock").clone().ok_or_else(|| {
            DataFusionError::Internal(format!("a unit's table was scanned before its dates were set ({})", self.column))
        })?;
        if self.inner.supports_filters_pushdown(&[&unit])? != [TableProviderFilterPushDown::Exact] {
            return Err(DataFusionError::Internal(format!(
                "the table cannot select a unit's dates exactly by its partition column {}",
                self.column
            )));
        }
        let mut filters = filters.to_vec();
        filters.push(unit);
        self.inner.scan(state, projection, &filters, limit).await
    }
}
