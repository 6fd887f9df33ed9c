//! Budget status: what each budget of `config/budgets.csv` has spent in its current period,
//! the run-rate forecast to the period's end, and the thresholds crossed. Spend is what the
//! chargeback charges, to the cent: the budget's lines of the period's chargeback by the
//! budget's scope (tokens at their prices, and for provisioned pools its share of the pools'
//! hours, idle hours to the owner group, instead of the pooled tokens' prices), rounded as
//! the chargeback rounds them.

use std::collections::HashMap;

use chrono::{Datelike, NaiveDate};
use datafusion::functions_aggregate::expr_fn::max;
use datafusion::prelude::{SessionContext, col, lit};
use rust_decimal::Decimal;

use super::{
    Chargeback, ChargebackOptions, Period, cast_columns, chargeback, minor_unit, register_usage, round, text_at,
};
use crate::error::{Error, Result};
use crate::pricing::{Budget, BudgetPeriod, Budgets};
use crate::warehouse::Warehouse;
use crate::warehouse::rated::StaleConfig;

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
    let month =
        |y: i32, m: u32| NaiveDate::from_ymd_opt(y, m, 1).ok_or_else(|| Error::Internal(format!("no month {y}-{m}")));
    let (label, start, months) = match budget.period {
        BudgetPeriod::Monthly => (format!("{}-{:02}", day.year(), day.month()), month(day.year(), day.month())?, 1),
        BudgetPeriod::Quarterly => {
            let q = (day.month() - 1) / 3;
            (format!("{}-Q{}", day.year(), q + 1), month(day.year(), q * 3 + 1)?, 3)
        }
    };
    let end =
        start.checked_add_months(chrono::Months::new(months)).ok_or_else(|| Error::Internal("period end".into()))?;
    Ok((label, Period { start, end }))
}

/// The status of every budget in the period that contains `month` (default: the month of the
/// last date with usage).
pub async fn budget_status(warehouse: &Warehouse, month: Option<&str>) -> Result<Vec<BudgetStatus>> {
    let budgets = Budgets::load(&warehouse.config_file("budgets.csv").await?)?;
    // a few queries over usage_daily: they run here whatever the engine, so the tables are
    // handed to this process's session as it reads them (with the warehouse's object store)
    let warehouse = &warehouse.clone().with_engine(crate::engine::Engine::Local);
    let ctx = warehouse.engine().context_with_memory(crate::engine::DEFAULT_MEMORY_LIMIT).await?;
    register_usage(&ctx, warehouse, "usage_daily", "usage_daily", None).await?;
    let stale_config = crate::warehouse::rated::stale_config(warehouse).await?;
    let last = last_date(&ctx, None)
        .await?
        .ok_or_else(|| Error::Usage("usage_daily is empty: nothing to compare budgets with".into()))?;
    let reference = match month {
        Some(m) => {
            let p = Period::month(m)?;
            // the end of that month, or the last date with usage if earlier
            last.min(p.end.pred_opt().unwrap_or(p.end)).max(p.start)
        }
        None => last,
    };
    let mut statuses = Vec::new();
    // budgets of one scope and period share one chargeback: computed once for them all
    let mut chargebacks: HashMap<(&'static str, NaiveDate, NaiveDate), Chargeback> = HashMap::new();
    for budget in budgets.rows {
        let (period_label, period) = period_of(&budget, reference)?;
        let through = last_date(&ctx, Some(&period)).await?.unwrap_or(period.start).max(reference.min(last));
        let scope = budget.scope.column();
        let slot = (scope, period.start, period.end);
        if let std::collections::hash_map::Entry::Vacant(slot) = chargebacks.entry(slot) {
            let opts = ChargebackOptions {
                period,
                by: vec![scope.to_string()],
                as_of: None,
                tz: None,
                share_idle: false,
                through: None,
                true_up: false,
                capacity_from_bill: false,
            };
            slot.insert(chargeback(warehouse, &opts).await?);
        }
        let lines = chargebacks[&slot].lines.iter().filter(|l| {
            l.charge != super::Charge::Total && l.keys == [budget.name.as_str()] && l.currency == budget.currency
        });
        let (spent, spent_exact) = lines.fold((Decimal::ZERO, Decimal::ZERO), |(r, e), l| {
            (r + l.cost.unwrap_or_default(), e + l.unrounded.unwrap_or_default())
        });
        let scale = minor_unit(&budget.currency)?;
        let spent = round(spent, scale);
        let elapsed = (through - period.start).num_days() + 1;
        let days = (period.end - period.start).num_days();
        // a period whose data is complete forecasts what it spent, to the cent
        let forecast = if elapsed >= days {
            spent
        } else {
            round(spent_exact * Decimal::from(days) / Decimal::from(elapsed.max(1)), scale)
        };
        let percent =
            |v: Decimal| (budget.amount > Decimal::ZERO).then(|| round(v * Decimal::ONE_HUNDRED / budget.amount, 1));
        let reached = |v: Decimal| if budget.amount > Decimal::ZERO { v >= budget.amount } else { v > Decimal::ZERO };
        let last_day = period.end.pred_opt().unwrap_or(period.end);
        let stale_config = stale_config.as_ref().map(|s| s.within(period.start, last_day)).transpose()?.flatten();
        statuses.push(BudgetStatus {
            stale_config,
            crossed: budget
                .thresholds
                .iter()
                .copied()
                .filter(|t| spent * Decimal::ONE_HUNDRED >= budget.amount * *t)
                .collect(),
            over: reached(spent),
            forecast_over: reached(forecast),
            spent,
            used_percent: percent(spent),
            forecast,
            forecast_percent: percent(forecast),
            period_label,
            period,
            data_through: through,
            budget,
        });
    }
    Ok(statuses)
}

fn date_lit(d: NaiveDate) -> datafusion::prelude::Expr {
    lit(crate::time::date_value(d))
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
