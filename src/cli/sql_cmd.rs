//! `tokenledger sql`

use std::path::{Path, PathBuf};

use clap::Args;

use super::{Cli, OutputFormat};
use crate::engine::DEFAULT_MEMORY_LIMIT;
use crate::error::{Error, Result};
use crate::output::results::{self as output, Format};
use crate::query::shell::{Editor, Plain, Shell};
use crate::query::{analyst_session, query};
use crate::warehouse::Warehouse;

#[derive(Debug, Args)]
#[command(after_help = "\
Runs read-only SQL over the warehouse: inference, quarantine, usage_hourly, usage_daily, the
config files prices, principals, budgets and capacity, and the views charged_requests (who pays
for each request) and priced_requests (each request with its price, owner and cost). DDL, DML,
COPY and SET are refused. 

With a query, runs it and prints the rows: an aligned table, or --format csv|json, or a file
with --output (.csv, .json / .jsonl, .parquet; or as --format says). Without a query, opens a
shell: statements end with ; and may span lines, \\d lists the tables, \\d NAME a table's
columns, \\format csv|json|table, \\q quits. On a terminal it has line editing and a history
(~/.tokenledger_history); from a pipe it reads the statements of its standard input and exits
with 2 if one of them failed.

Examples:
  tokenledger sql \"SELECT \\\"group\\\", sum(cost) FROM usage_daily GROUP BY 1 ORDER BY 2 DESC\"
  tokenledger --format json sql \"SELECT reason_code, count(*) FROM quarantine GROUP BY reason_code\"
  tokenledger sql \"SELECT * FROM usage_daily\" --output usage.parquet
  tokenledger sql                                   # the interactive shell
  echo 'SELECT count(*) FROM inference;' | tokenledger sql")]
pub struct SqlArgs {
    /// The query (one SELECT statement); without it, an interactive shell.
    pub query: Option<String>,
    /// Write the rows to this file (CSV, JSON lines or Parquet, by --format or the extension) instead of printing them.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Memory a query may use before it spills to disk (e.g. 512MiB, 4GiB).
    #[arg(long, value_name = "SIZE", default_value_t = bytesize::ByteSize::b(DEFAULT_MEMORY_LIMIT as u64))]
    pub memory_limit: bytesize::ByteSize,
}

pub async fn run(warehouse: &Warehouse, args: &SqlArgs, cli: &Cli) -> Result<i32> {
    let ctx = analyst_session(warehouse, super::memory_bytes(args.memory_limit)).await?;
    let Some(sql) = &args.query else {
        if args.output.is_some() {
            return Err(Error::Usage("--output needs a query: tokenledger sql \"SELECT ...\" --output FILE".into()));
        }
        return shell(&ctx, cli).await;
    };
    let batches = query(&ctx, sql).await?;
    print_batches(&batches, args.output.as_deref(), cli)
}

/// The interactive shell: an editor on a terminal, the plain lines of a pipe otherwise.
async fn shell(ctx: &datafusion::prelude::SessionContext, cli: &Cli) -> Result<i32> {
    use std::io::IsTerminal;
    // a shell prints to the terminal: Parquet, a file format, falls back to a table
    let format = asked_format(cli)?.filter(|f| *f != Format::Parquet).unwrap_or(Format::Table);
    let mut shell = Shell::new(ctx, format);
    let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
    if std::io::stdin().is_terminal() {
        let history = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".tokenledger_history"));
        let mut editor = Editor::new(history)?;
        eprintln!(
            "tokenledger sql: read-only SQL over the warehouse; \\d lists the tables, \\? the commands, \\q quits."
        );
        shell.run(&mut editor, &mut out, &mut err).await?;
        Ok(0)
    } else {
        let mut lines = Plain(std::io::stdin().lock());
        shell.run(&mut lines, &mut out, &mut err).await?;
        Ok(shell.first_failure.unwrap_or(0))
    }
}

/// The result format `--format` asks for; `None` for the default (a table, or the file's
/// extension).
fn asked_format(cli: &Cli) -> Result<Option<Format>> {
    Ok(match cli.format {
        OutputFormat::Text => None,
        OutputFormat::Json => Some(Format::Json),
        OutputFormat::Csv => Some(Format::Csv),
        OutputFormat::Parquet => Some(Format::Parquet),
        OutputFormat::Focus => return Err(Error::Usage("--format focus is a chargeback export".into())),
    })
}

/// Query results to stdout (a table, or `--format csv|json`) or to a file (`--output`, in
/// `--format` or the format its extension names).
pub(crate) fn print_batches(
    batches: &[arrow::record_batch::RecordBatch],
    file: Option<&Path>,
    cli: &Cli,
) -> Result<i32> {
    let asked = asked_format(cli)?;
    match file {
        Some(path) => {
            output::write_file(batches, asked.unwrap_or_else(|| Format::for_path(path)), path)?;
            if !cli.quiet {
                eprintln!(
                    "wrote {} rows to {}",
                    crate::output::thousands(output::row_count(batches) as u64),
                    path.display()
                );
            }
        }
        None => output::write(batches, asked.unwrap_or(Format::Table), &mut std::io::stdout().lock())?,
    }
    Ok(0)
}
