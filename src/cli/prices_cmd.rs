//! `tokenledger prices`

use std::path::PathBuf;

use chrono::NaiveDate;
use clap::{Args, Subcommand};
use serde::Serialize;

use super::{Cli, OutputFormat, print_json};
use crate::error::{Error, Result};
use crate::output::Table;
use crate::pricing::{Catalog, CatalogSelection, ImportPlan, RowStatus, plan_import};
use crate::warehouse::{Warehouse, config_key};

#[derive(Debug, Args)]
pub struct PricesArgs {
    #[command(subcommand)]
    pub command: PricesCommand,
}

#[derive(Debug, Subcommand)]
pub enum PricesCommand {
    /// Turn a published price catalog into rows of config/prices.csv: shows the diff, --write appends.
    Import(ImportArgs),
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(subcommand)]
    pub catalog: ImportCatalog,
}

#[derive(Debug, Subcommand)]
pub enum ImportCatalog {
    /// LiteLLM's model_prices_and_context_window.json.
    Litellm(LitellmArgs),
}

#[derive(Debug, Args)]
#[command(after_help = "\
Reads LiteLLM's model_prices_and_context_window.json and gives, per model, the price-book rows
from --effective-from: the standard row, a row per context tier (`_above_200k_tokens` prices:
above_prompt_tokens 200000) and a row per service tier (`_batches`, `_priority`, `_flex`), in
USD per million tokens, exact (3e-07 per token is 0.3). A rate the catalog lacks for a tier is
left empty (a request that needs it is unpriced); a model without a cache-read price gets its
input price there. Models without per-token prices are skipped and counted.

Each row is compared with the book's row of the same served entity, service tier and threshold in
force at --effective-from (as decimals: 1.50 is 1.5); rows with other prices are shown column by
column and, with --write, appended to config/prices.csv (its comments and rows stay as they are;
the header gains the columns it lacks). Rows with the same prices are not written again.

Served entity names: --alias NAME=KEY, else the name of the book's rows whose catalog_model is
KEY, else KEY itself.

Examples:
  tokenledger prices import litellm model_prices_and_context_window.json --effective-from 2025-07-01 --provider anthropic
  tokenledger prices import litellm prices.json --effective-from 2025-07-01 --model gpt-4o --model gpt-4o-mini --write
  tokenledger prices import litellm prices.json --effective-from 2025-07-01 --alias databricks-claude-sonnet-4-5=claude-sonnet-4-5 --model claude-sonnet-4-5")]
pub struct LitellmArgs {
    /// The catalog (LiteLLM's model_prices_and_context_window.json).
    #[arg(value_name = "FILE.json")]
    pub file: PathBuf,
    /// The first day the imported prices apply (YYYY-MM-DD, from 00:00 UTC).
    #[arg(long, value_name = "DATE")]
    pub effective_from: NaiveDate,
    /// Import the models of this litellm_provider (repeat for more; default: every provider).
    #[arg(long, value_name = "PROVIDER")]
    pub provider: Vec<String>,
    /// Import this catalog key (repeat for more; default: every model priced per token).
    #[arg(long, value_name = "KEY")]
    pub model: Vec<String>,
    /// Write the rows of catalog KEY under served entity NAME (repeat for more).
    #[arg(long, value_name = "NAME=KEY")]
    pub alias: Vec<String>,
    /// Append the new and changed rows to config/prices.csv (without it, only the diff is shown).
    #[arg(long)]
    pub write: bool,
}

pub async fn run(warehouse: &Warehouse, args: &PricesArgs, cli: &Cli) -> Result<i32> {
    match &args.command {
        PricesCommand::Import(ImportArgs { catalog: ImportCatalog::Litellm(args) }) => {
            import_litellm(warehouse, args, cli).await
        }
    }
}

/// What `--format json` prints: the plan and how many rows were written.
#[derive(Serialize)]
struct ImportOutput<'a> {
    #[serde(flatten)]
    plan: &'a ImportPlan,
    rows_written: usize,
}

async fn import_litellm(warehouse: &Warehouse, args: &LitellmArgs, cli: &Cli) -> Result<i32> {
    let aliases = args
        .alias
        .iter()
        .map(|a| match a.split_once('=') {
            Some((name, key)) if !name.trim().is_empty() && !key.trim().is_empty() => {
                Ok((name.trim().to_string(), key.trim().to_string()))
            }
            _ => Err(Error::Usage(format!(
                "--alias {a:?}: write it as SERVED_ENTITY=CATALOG_KEY, e.g. --alias my-sonnet=claude-sonnet-4-5"
            ))),
        })
        .collect::<Result<Vec<_>>>()?;
    let selection = CatalogSelection { providers: args.provider.clone(), models: args.model.clone(), aliases };
    let catalog = Catalog::from_path(&args.file)?;
    let book = warehouse.config_file("prices.csv").await?;
    let plan = plan_import(&catalog, &selection, &book, args.effective_from)?;
    let text = if args.write { plan.new_text() } else { Ok(None) };
    if cli.format != OutputFormat::Json {
        print_diff(&plan);
    }
    let rows_written = match text? {
        Some(text) => {
            warehouse.write(&config_key("prices.csv"), text.into_bytes()).await?;
            plan.to_write().count()
        }
        None => 0,
    };
    if cli.format == OutputFormat::Json {
        print_json(&ImportOutput { plan: &plan, rows_written })?;
        return Ok(0);
    }
    let to_write = plan.to_write().count();
    println!(
        "\n{} catalog models read; {} new rows, {} changed, {} unchanged, {} in conflict; {} models skipped",
        catalog.len(),
        plan.count(RowStatus::New),
        plan.count(RowStatus::Changed),
        plan.count(RowStatus::Unchanged),
        plan.count(RowStatus::Conflict),
        plan.skipped.len()
    );
    if !cli.quiet {
        for skipped in &plan.skipped {
            println!("skipped {}: {}", skipped.model, skipped.reason);
        }
        for note in &plan.notes {
            println!("note: {note}");
        }
    }
    if rows_written > 0 {
        println!("appended {rows_written} rows to {}", plan.price_book);
    } else if to_write == 0 {
        println!("nothing to write: {} already has these prices", plan.price_book);
    } else {
        println!("nothing written: run again with --write to append {to_write} rows to {}", plan.price_book);
    }
    Ok(0)
}

/// The diff: a line per differing column of each row (one line for an unchanged row).
fn print_diff(plan: &ImportPlan) {
    let mut t =
        Table::new(["served_entity_name", "service_tier", "above_prompt_tokens", "status", "column", "current", "new"]);
    for row in &plan.rows {
        let above = row.above_prompt_tokens.map(|n| n.to_string()).unwrap_or_default();
        let status = match row.current_line {
            Some(line) => format!("{} (line {line})", row.status.as_str()),
            None => row.status.as_str().to_string(),
        };
        let key = [row.served_entity_name.clone(), row.service_tier.to_string(), above, status];
        if row.changes.is_empty() {
            t.row_vec(key.iter().cloned().chain([String::new(), String::new(), String::new()]).collect());
        }
        for change in &row.changes {
            let cells = [change.column.to_string(), change.current.clone(), change.new.clone()];
            t.row_vec(key.iter().cloned().chain(cells).collect());
        }
    }
    print!("{}", t.render());
}
