//! `tokenledger bill`

use std::path::PathBuf;

use clap::{Args, Subcommand};
use rust_decimal::Decimal;

use super::{Cli, OutputFormat, print_json};
use crate::bill::import::{BillImportOptions, held_currencies, import_bills};
use crate::bill::sources::BillSource;
use crate::error::Result;
use crate::output::{Table, thousands};
use crate::pricing::PriceBook;
use crate::warehouse::Warehouse;

#[derive(Debug, Args)]
pub struct BillArgs {
    #[command(subcommand)]
    pub command: BillCommand,
}

#[derive(Debug, Subcommand)]
pub enum BillCommand {
    /// Import the providers' bills (cost and usage reports, FOCUS exports) into the bill_lines table.
    Import(ImportArgs),
}

#[derive(Debug, Args)]
#[command(after_help = "\
Sources, as the providers' APIs and exports deliver them (JSON: one page as returned, pages
concatenated, JSON lines of pages, or an array of pages):
  openai-costs     GET /v1/organization/costs (daily buckets; amount.value in dollars)
  openai-usage     GET /v1/organization/usage/completions (tokens and requests per bucket)
  anthropic-cost   GET /v1/organizations/cost_report (amount in cents, as a decimal string)
  anthropic-usage  GET /v1/organizations/usage_report/messages (tokens per bucket)
  focus            a FOCUS 1.0-1.3 export, CSV or Parquet (AWS Bedrock, Azure OpenAI, GCP Vertex)
  databricks-billing
                   an export of Databricks' system.billing.usage (CSV, JSON lines or Parquet, as
                   SELECT * downloads it): the MODEL_SERVING and AI_GATEWAY rows, their DBUs priced
                   with --list-prices (an export of system.billing.list_prices) or --dbu-rate
  databricks-external-spend
                   an export of system.ai_gateway.external_model_spend (hourly USD per provider,
                   model, endpoint and run_by)
--source auto tells each file from its content.

Every line becomes a row of bill_lines in the ledger's terms: the provider, the period, the
provider's model id, the charge kind (input, cached_input, cache_write, output, web_search,
other), tokens, and the cost exact to the last digit of the bill. A file whose bytes were imported
before is skipped, under any name; a later export of the same periods replaces the earlier one's
lines in `reconcile`. Rows that cannot be read, and costs in a currency the price book does not
price in, go to the quarantine table with the reason.

Exit codes: 0 ok; 1 unreadable file (nothing of it is written); 2 usage error.

Examples:
  tokenledger bill import openai_costs_2025-03.json anthropic_cost_2025-03.json
  tokenledger bill import --source focus azure_focus_2025-03.parquet
  tokenledger bill import --list-prices list_prices.csv billing_usage_2025-03.csv")]
pub struct ImportArgs {
    /// Bill files.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// What wrote the files: auto tells each from its content.
    #[arg(long, value_name = "SOURCE", value_enum, default_value_t = BillSource::Auto)]
    pub source: BillSource,
    /// Databricks' list prices (an export of system.billing.list_prices: CSV, JSON lines or
    /// Parquet): each databricks-billing row costs its DBUs times its SKU's price in force at
    /// the row's usage_start_time.
    #[arg(long, value_name = "FILE")]
    pub list_prices: Option<PathBuf>,
    /// One price per DBU, in USD, for every databricks-billing row (without --list-prices).
    #[arg(long, value_name = "DECIMAL", value_parser = parse_rate, conflicts_with = "list_prices")]
    pub dbu_rate: Option<Decimal>,
}

/// A `--dbu-rate`: a non-negative decimal, exact.
fn parse_rate(text: &str) -> std::result::Result<Decimal, String> {
    match crate::money::decimal_from_text(text) {
        Some(rate) if rate >= Decimal::ZERO => Ok(rate),
        _ => Err(format!("{text:?} is not a price per DBU: give a non-negative decimal such as 0.07")),
    }
}

pub async fn run(warehouse: &Warehouse, args: &BillArgs, cli: &Cli) -> Result<i32> {
    match &args.command {
        BillCommand::Import(args) => import(warehouse, args, cli).await,
    }
}

async fn import(warehouse: &Warehouse, args: &ImportArgs, cli: &Cli) -> Result<i32> {
    let book = PriceBook::load(&warehouse.config_file("prices.csv").await?)?;
    let options = BillImportOptions {
        paths: args.files.clone(),
        source: args.source,
        currencies: held_currencies(&book),
        list_prices: args.list_prices.clone(),
        dbu_rate: args.dbu_rate,
    };
    let summary = import_bills(warehouse, &options).await?;
    if cli.format == OutputFormat::Json {
        print_json(&summary)?;
        return Ok(0);
    }
    let mut t = Table::new(["file", "source", "status", "lines", "quarantined", "billed"]);
    for f in &summary.files {
        let billed: Vec<String> = f.cost.iter().map(|(c, v)| format!("{v} {c}")).collect();
        t.row([
            f.path.clone(),
            f.source.clone(),
            f.status.clone(),
            thousands(f.lines as u64),
            thousands(f.quarantined as u64),
            billed.join(", "),
        ]);
    }
    print!("{}", t.render());
    println!(
        "{} lines imported, {} rows quarantined{}{}",
        thousands(summary.lines as u64),
        thousands(summary.quarantined as u64),
        if summary.skipped > 0 {
            format!(", {} rows of other products skipped", thousands(summary.skipped as u64))
        } else {
            String::new()
        },
        summary.bill_lines_version.map(|v| format!("; bill_lines version {v}")).unwrap_or_default()
    );
    if summary.quarantined > 0 && !cli.quiet {
        println!(
            "see why: tokenledger sql \"SELECT source_file, line_number, reason_code, reason FROM quarantine \
             WHERE ingest_batch_id = '{}' ORDER BY source_file, line_number\"",
            summary.import_id
        );
    }
    Ok(0)
}
