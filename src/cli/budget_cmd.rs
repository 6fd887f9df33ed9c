//! `tokenledger budget status`

use clap::{Args, Subcommand};

use super::{Cli, OutputFormat, print_json};
use crate::chargeback::budget_status;
use crate::error::Result;
use crate::output::Table;
use crate::warehouse::Warehouse;

/// Exit code when a budget is spent (or, with --fail-on-forecast, forecast to be).
pub const EXIT_OVER_BUDGET: i32 = 3;

#[derive(Debug, Args)]
pub struct BudgetArgs {
    #[command(subcommand)]
    pub command: BudgetCommand,
}

#[derive(Debug, Subcommand)]
pub enum BudgetCommand {
    /// Each budget's spend in its current period, the forecast to the period's end, and the thresholds crossed.
    #[command(after_help = "\
Budgets come from config/budgets.csv (scope, name, period, amount, currency, thresholds).
Spend is the cost in usage_daily (run `tokenledger rollup` first) for the budget's group,
cost center or requester, in its currency. The period is the month or quarter that contains
--period (default: the month of the last date with usage). The forecast extrapolates the
spend so far at the same daily rate to the period's end.

Spend on dates rated with a config file that has changed since (prices.csv ...) is what
those dates were computed with: a warning on stderr (and stale_config in the JSON) lists
them until they are restated (tokenledger rollup --rerate --from DATE --to DATE).

Exit code 3 when a budget is spent (100% or more), or with --fail-on-forecast when a
forecast reaches it: a scheduler can alert on it.")]
    Status(StatusArgs),
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// A month, YYYY-MM: the budget periods that contain it.
    #[arg(long, value_name = "YYYY-MM")]
    pub period: Option<String>,
    /// Also exit with code 3 when a budget's forecast reaches its amount.
    #[arg(long)]
    pub fail_on_forecast: bool,
}

pub async fn run(warehouse: &Warehouse, args: &BudgetArgs, cli: &Cli) -> Result<i32> {
    let BudgetCommand::Status(args) = &args.command;
    let statuses = budget_status(warehouse, args.period.as_deref()).await?;
    // once per distinct warning: budgets of one period share it
    let mut warned = std::collections::BTreeSet::new();
    for stale in statuses.iter().filter_map(|s| s.stale_config.as_ref()) {
        if warned.insert(stale.notice()) {
            eprintln!("warning: {}", stale.notice());
        }
    }
    match cli.format {
        OutputFormat::Json => print_json(&statuses)?,
        _ if statuses.is_empty() => println!("no budgets in config/budgets.csv"),
        _ => {
            let mut t =
                Table::new(["scope", "name", "period", "budget", "spent", "forecast", "thresholds crossed", "status"]);
            let pct = |p: Option<rust_decimal::Decimal>| p.map_or("-".to_string(), |p| format!("{p}%"));
            for s in &statuses {
                let status = match (s.over, s.forecast_over) {
                    (true, _) => "OVER BUDGET",
                    (false, true) => "forecast over",
                    (false, false) if !s.crossed.is_empty() => "warning",
                    _ => "ok",
                };
                t.row([
                    s.budget.scope.column().to_string(),
                    s.budget.name.clone(),
                    format!("{} (data through {})", s.period_label, s.data_through),
                    format!("{} {}", s.budget.amount, s.budget.currency),
                    format!("{} ({})", s.spent, pct(s.used_percent)),
                    format!("{} ({})", s.forecast, pct(s.forecast_percent)),
                    s.crossed.iter().map(|c| format!("{c}%")).collect::<Vec<_>>().join(", "),
                    status.to_string(),
                ]);
            }
            print!("{}", t.render());
        }
    }
    let alert = statuses.iter().any(|s| s.over || (args.fail_on_forecast && s.forecast_over));
    Ok(if alert { EXIT_OVER_BUDGET } else { 0 })
}
