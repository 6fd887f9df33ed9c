//! Budget status: what each budget of `config/budgets.csv` has spent in its current period,
//! the run-rate forecast to the period's end, and the thresholds crossed. Spend is what the
//! chargeback charges: tokens at their prices, and for provisioned pools the budget's share of
//! the pools' hours (idle hours to the owner group) instead of the pooled tokens' prices.

use chrono::{Datelike, NaiveDate};
use datafusion::functions_aggregate::expr_fn::{max, sum};
use datafusion::prelude::{SessionContext, col, lit};
use datafusion::scalar::ScalarValue;
use rust_decimal::Decimal;

use super::{Period, cast_columns, minor_unit, register_pools, register_usage, round, text_at};
use crate::error::{Error, Result};
use crate::pricing::{Budget, BudgetPeriod, Budgets};
use crate::rollup::StaleConfig;
use crate::warehouse::Warehouse;

/// Where one budget stands.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BudgetStatus {
    #[serde(flatten)]
    pub budget: Budget,
    /// `2025-01` or `2025-Q1`.
    pub period_label: String,
    pub period: Period,
    /// The last date with usage that the status counts (the table's data, not the clock).
    pub data_through: NaiveDate,
    /// Spent so far, rounded to the currency's minor unit.
    pub spent: Decimal,
    /// `spent` as a percentage of the amount (one decimal); `None` for a budget of 0.
    pub used_percent: Option<Decimal>,
    /// `spent` extrapolated at the same daily rate to the period's end.
    pub forecast: Decimal,
    pub forecast_percent: Option<Decimal>,
    /// The thresholds (percentages) that `spent` has reached.
    pub crossed: Vec<Decimal>,
    /// `spent` has reached the amount.
    pub over: bool,
    /// `forecast` reaches the amount.
    pub forecast_over: bool,
    /// Dates of the period rated with config files that have changed since (until restated).
    pub stale_config: Option<StaleConfig>,
}

/// The budget period of `budget` that contains `day`.
fn period_of(budget: &Budget, day: NaiveDate) -> Result<(String, Period)> {
    let month = |y: i32, m: u32| NaiveDate::from_ymd_opt(y, m, 1).ok_or_else(|| Error::Internal(format!("no month {y}-{m}")));
    let (label, start, months) = match budget.period {
        BudgetPeriod::Monthly => (format!("{}-{:02}", day.year(), day.month()), month(day.year(), day.month())?, 1),
        BudgetPeriod::Quarterly => {
            let q = (day.month() - 1) / 3;
            (format!("{}-Q{}", day.year(), q + 1), month(day.year(), q * 3 + 1)?, 3)
        }
    };
    let end = start.checked_add_months(chrono::Months::new(months)).ok_or_else(|| Error::Internal("period end".into()))?;
    Ok((label, Period { start, end }))
}

/// The status of every budget in the period that contains `month` (default: the month of the
/// last date with usage).
pub async fn budget_status(warehouse: &Warehouse, month: Option<&str>) -> Result<Vec<BudgetStatus>> {
    let budgets = Budgets::load(&warehouse.config_file("budgets.csv").await?)?;
    // a few queries over usage_daily: they run here whatever the engine, so the tables are
    // handed to this process's session as it reads them (with the warehouse's object store)
    let warehouse = &warehouse.clone().with_engine(crate::engine::Engine::Local);
    let ctx = SessionContext::new();
    register_usage(&ctx, warehouse, "usage_daily", "usage_daily", None).await?;
    // provisioned pools: a budget pays its share of the pools' hours instead of the pooled tokens' prices
    let (pools, _) = register_pools(&ctx, warehouse, None).await?;
    let stale_config = crate::rollup::stale_config(warehouse).await?;
    let last = last_date(&ctx, None).await?.ok_or_else(|| Error::Usage("usage_daily is empty: nothing to compare budgets with".into()))?;
    let reference = match month {
        Some(m) => {
            let p = Period::month(m)?;
            // the end of that month, or the last date with usage if earlier
            last.min(p.end.pred_opt().unwrap_or(p.end)).max(p.start)
        }
        None => last,
    };
    let mut statuses = Vec::new();
    // budgets of one scope and period share the pools' allocation: computed once for them all
    type Allocation = (Vec<super::capacity::Allocated>, std::collections::HashMap<(Vec<String>, String), Decimal>);
    let mut allocations: std::collections::HashMap<(&'static str, i64, i64), Allocation> = std::collections::HashMap::new();
    for budget in budgets.rows {
        let (period_label, period) = period_of(&budget, reference)?;
        let through = last_date(&ctx, Some(&period)).await?.unwrap_or(period.start).max(reference.min(last));
        let mut spent_exact = spent(&ctx, &budget, &period).await?;
        if !pools.is_empty() {
            let until = through.succ_opt().unwrap_or(through).min(period.end);
            let bounds = (crate::pricing::date_start_micros(period.start), crate::pricing::date_start_micros(until));
            let slot = (budget.scope.column(), bounds.0, bounds.1);
            if let std::collections::hash_map::Entry::Vacant(e) = allocations.entry(slot) {
                e.insert(super::capacity::allocate(&ctx, &pools, bounds, &[budget.scope.column()], false).await?);
            }
            let (allocated, pooled) = &allocations[&slot];
            let key = (vec![budget.name.clone()], budget.currency.clone());
            spent_exact -= pooled.get(&key).copied().unwrap_or_default();
            spent_exact += allocated.iter().filter(|a| a.keys == key.0 && a.currency == key.1).map(|a| a.amount).sum::<Decimal>();
        }
        let scale = minor_unit(&budget.currency);
        let elapsed = (through - period.start).num_days() + 1;
        let days = (period.end - period.start).num_days();
        let forecast_exact = spent_exact * Decimal::from(days) / Decimal::from(elapsed.clamp(1, days));
        let percent = |v: Decimal| (budget.amount > Decimal::ZERO).then(|| (v * Decimal::ONE_HUNDRED / budget.amount).round_dp(1));
        let reached = |v: Decimal| if budget.amount > Decimal::ZERO { v >= budget.amount } else { v > Decimal::ZERO };
        let last_day = period.end.pred_opt().unwrap_or(period.end);
        let stale_config = stale_config.as_ref().map(|s| s.within(period.start, last_day)).transpose()?.flatten();
        statuses.push(BudgetStatus {
            stale_config,
            crossed: budget.thresholds.iter().copied().filter(|t| spent_exact * Decimal::ONE_HUNDRED >= budget.amount * *t).collect(),
            over: reached(spent_exact),
            forecast_over: reached(forecast_exact),
            spent: round(spent_exact, scale),
            used_percent: percent(spent_exact),
            forecast: round(forecast_exact, scale),
            forecast_percent: percent(forecast_exact),
            period_label,
            period,
            data_through: through,
            budget,
        });
    }
    Ok(statuses)
}

fn date_lit(d: NaiveDate) -> datafusion::prelude::Expr {
    lit(ScalarValue::Date32(Some((crate::pricing::date_start_micros(d) / 86_400_000_000) as i32)))
}

/// The last date with usage (within `period`, if given).
async fn last_date(ctx: &SessionContext, period: Option<&Period>) -> Result<Option<NaiveDate>> {
    let mut df = ctx.table("usage_daily").await?;
    if let Some(p) = period {
        df = df.filter(col("date").gt_eq(date_lit(p.start)).and(col("date").lt(date_lit(p.end))))?;
    }
    let batches = df.aggregate(vec![], vec![max(col("date")).alias("last")])?.collect().await?;
    Ok(first_text(&batches)?.and_then(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok()))
}

/// The first cell of a one-row aggregate, as text; `None` when it is null.
fn first_text(batches: &[arrow::record_batch::RecordBatch]) -> Result<Option<String>> {
    let Some(b) = batches.first().filter(|b| b.num_rows() > 0) else { return Ok(None) };
    let text = text_at(&cast_columns(b, [0], &arrow::datatypes::DataType::Utf8)?[0], 0);
    Ok((!text.is_empty()).then_some(text))
}

/// Exact cost of `budget`'s scope in its currency over `period`.
async fn spent(ctx: &SessionContext, budget: &Budget, period: &Period) -> Result<Decimal> {
    let df = ctx
        .table("usage_daily")
        .await?
        .filter(
            col(format!("\"{}\"", budget.scope.column()))
                .eq(lit(budget.name.clone()))
                .and(col("currency").eq(lit(budget.currency.clone())))
                .and(col("date").gt_eq(date_lit(period.start)))
                .and(col("date").lt(date_lit(period.end))),
        )?
        .aggregate(vec![], vec![sum(col("cost")).alias("spent")])?;
    match first_text(&df.collect().await?)? {
        None => Ok(Decimal::ZERO),
        Some(text) => text.parse().map_err(|e| Error::Internal(format!("budget spend {text:?}: {e}"))),
    }
}
