//! `tokenledger report`

use std::path::PathBuf;

use clap::Args;

use super::sql_cmd::print_batches;
use super::{Cli, OutputFormat, print_json};
use crate::error::{Error, Result};
use crate::fmt::Table;
use crate::query::reports::{find, reports};
use crate::query::{analyst_session, query};
use crate::rollup::DEFAULT_MEMORY_LIMIT;
use crate::warehouse::Warehouse;

#[derive(Debug, Args)]
#[command(after_help = "\
Runs a named report: the SQL in sql/reports/NAME.sql over the usage tables, read-only.

Examples:
  tokenledger report --list
  tokenledger report top_consumers --param top=3 --param from=2025-01-01 --param to=2025-01-31
  tokenledger report unpriced_usage --output unpriced.csv")]
pub struct ReportArgs {
    /// The report to run (see --list).
    #[arg(required_unless_present = "list")]
    pub name: Option<String>,
    /// List the reports, what they show and their parameters.
    #[arg(long)]
    pub list: bool,
    /// A parameter, NAME=VALUE (repeat for more).
    #[arg(long, value_name = "NAME=VALUE")]
    pub param: Vec<String>,
    /// Write the rows to this CSV file instead of printing them.
    #[arg(long, value_name = "FILE.csv")]
    pub output: Option<PathBuf>,
}

pub async fn run(warehouse: &Warehouse, args: &ReportArgs, cli: &Cli) -> Result<i32> {
    if args.list {
        let all = reports();
        if cli.format == OutputFormat::Json {
            return print_json(&all).map(|_| 0);
        }
        let mut t = Table::new(["report", "what it shows", "parameters (default)"]);
        for r in &all {
            let params: Vec<String> = r.params.iter().map(|(n, d)| format!("{n} ({d})")).collect();
            t.row([r.name.to_string(), r.description.clone(), params.join(", ")]);
        }
        print!("{}", t.render());
        return Ok(0);
    }
    let report = find(args.name.as_deref().unwrap_or_default())?;
    let values = args
        .param
        .iter()
        .map(|p| {
            p.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.to_string()))
                .ok_or_else(|| Error::Usage(format!("--param {p:?}: write it as NAME=VALUE")))
        })
        .collect::<Result<Vec<_>>>()?;
    let ctx = analyst_session(warehouse, DEFAULT_MEMORY_LIMIT).await?;
    let batches = query(&ctx, &report.sql(&values)?).await?;
    print_batches(&batches, args.output.as_deref(), cli)
}
