//! `tokenledger sql`

use std::path::PathBuf;

use clap::Args;

use super::{Cli, OutputFormat};
use crate::error::{Error, Result};
use crate::query::{analyst_session, query};
use crate::rollup::DEFAULT_MEMORY_LIMIT;
use crate::warehouse::Warehouse;

#[derive(Debug, Args)]
#[command(after_help = "\
Runs one read-only query over the warehouse: inference, quarantine, usage_hourly, usage_daily,
prices, principals, budgets, capacity, and the views charged_requests (who pays for each request) and
priced_requests (each request with its price, owner and cost). DDL, DML, COPY and SET are
refused. The result is an aligned table, or JSON lines with --format json, or CSV with
--output FILE.csv.

Examples:
  tokenledger sql \"SELECT \\\"group\\\", sum(cost) FROM usage_daily GROUP BY 1 ORDER BY 2 DESC\"
  tokenledger --format json sql \"SELECT reason_code, count(*) FROM quarantine GROUP BY reason_code\"")]
pub struct SqlArgs {
    /// The query (one SELECT statement).
    pub query: String,
    /// Write the rows to this CSV file instead of printing them.
    #[arg(long, value_name = "FILE.csv")]
    pub output: Option<PathBuf>,
    /// Memory the query may use before it spills to disk (e.g. 512MiB, 4GiB).
    #[arg(long, value_name = "SIZE", default_value_t = bytesize::ByteSize::b(DEFAULT_MEMORY_LIMIT as u64))]
    pub memory_limit: bytesize::ByteSize,
}

pub async fn run(warehouse: &Warehouse, args: &SqlArgs, cli: &Cli) -> Result<i32> {
    let limit = usize::try_from(args.memory_limit.as_u64()).unwrap_or(usize::MAX);
    let ctx = analyst_session(warehouse, limit).await?;
    let batches = query(&ctx, &args.query).await?;
    print_batches(&batches, args.output.as_deref(), cli)
}

/// Query results as a table, JSON lines (`--format json`) or a CSV file.
pub(crate) fn print_batches(batches: &[arrow::record_batch::RecordBatch], output: Option<&std::path::Path>, cli: &Cli) -> Result<i32> {
    if let Some(path) = output {
        let file = std::fs::File::create(path)?;
        let mut writer = arrow::csv::WriterBuilder::new().with_header(true).build(file);
        for b in batches {
            writer.write(b)?;
        }
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        if !cli.quiet {
            eprintln!("wrote {rows} rows to {}", path.display());
        }
        return Ok(0);
    }
    match cli.format {
        OutputFormat::Json => {
            let mut out = arrow::json::LineDelimitedWriter::new(std::io::stdout().lock());
            for b in batches {
                out.write(b)?;
            }
            out.finish()?;
        }
        OutputFormat::Text => println!("{}", arrow::util::pretty::pretty_format_batches(batches)?),
        OutputFormat::Focus => return Err(Error::Usage("--format focus is a chargeback export".into())),
    }
    Ok(0)
}
