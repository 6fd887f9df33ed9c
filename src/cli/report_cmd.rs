//! `tokenledger report`

use std::path::PathBuf;

use clap::Args;

use super::sql_cmd::print_batches;
use super::{Cli, OutputFormat, print_json};
use crate::engine::DEFAULT_MEMORY_LIMIT;
use crate::error::{Error, Result};
use crate::output::Table;
use crate::output::chart::Chart;
use crate::query::reports::{find, reports};
use crate::query::{analyst_session, query};
use crate::warehouse::Warehouse;

#[derive(Debug, Args)]
#[command(after_help = "\
Runs a named report: the SQL in sql/reports/NAME.sql over the usage tables, read-only.

Examples:
  tokenledger report --list
  tokenledger report top_consumers --param top=3 --param from=2025-01-01 --param to=2025-01-31
  tokenledger report unpriced_usage --output unpriced.csv
  tokenledger report rate_limits --param percentile=0.95 --param headroom=2
  tokenledger report daily_spend --param from=2025-01-01 --chart spend.svg   # one line per group
  tokenledger report tokens_by_entity --chart tokens.png")]
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
    /// Write the rows to this file (CSV, JSON lines or Parquet, by --format or the extension) instead of printing them.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Draw the report's chart (reports marked "chart" in --list) to FILE.svg or FILE.png.
    #[arg(long, value_name = "FILE.svg|FILE.png")]
    pub chart: Option<PathBuf>,
    /// Memory the report's query may use before it spills to disk (e.g. 512MiB, 4GiB).
    #[arg(long, value_name = "SIZE", default_value_t = bytesize::ByteSize::b(DEFAULT_MEMORY_LIMIT as u64))]
    pub memory_limit: bytesize::ByteSize,
}

pub async fn run(warehouse: &Warehouse, args: &ReportArgs, cli: &Cli) -> Result<i32> {
    if args.list {
        let all = reports();
        if cli.format == OutputFormat::Json {
            return print_json(&all).map(|_| 0);
        }
        let mut t = Table::new(["report", "what it shows", "parameters (default)", "chart"]);
        for r in &all {
            let params: Vec<String> =
                r.params.iter().map(|(n, d)| if d.is_empty() { n.clone() } else { format!("{n} ({d})") }).collect();
            let chart = r.chart.as_ref().map_or(String::new(), |c| format!("{:?}", c.kind).to_lowercase());
            t.row([r.name.to_string(), r.description.clone(), params.join(", "), chart]);
        }
        print!("{}", t.render());
        return Ok(0);
    }
    let report = find(args.name.as_deref().unwrap_or_default())?;
    if args.chart.is_some() && report.chart.is_none() {
        let charted: Vec<&str> = reports().iter().filter(|r| r.chart.is_some()).map(|r| r.name).collect();
        return Err(Error::Usage(format!("report {} has no chart; these do: {}", report.name, charted.join(", "))));
    }
    let values = args
        .param
        .iter()
        .map(|p| {
            p.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.to_string()))
                .ok_or_else(|| Error::Usage(format!("--param {p:?}: write it as NAME=VALUE")))
        })
        .collect::<Result<Vec<_>>>()?;
    let ctx = analyst_session(warehouse, super::memory_bytes(args.memory_limit)).await?;
    let batches = query(&ctx, &report.sql(&values)?).await?;
    if let (Some(path), Some(spec)) = (&args.chart, &report.chart) {
        super::draw(&Chart::from_batches(spec, &batches)?, path, cli)?;
    }
    print_batches(&batches, args.output.as_deref(), cli)
}
