//! `tokenledger simulate limits`

use std::path::PathBuf;

use chrono::NaiveDate;
use clap::{Args, Subcommand};

use super::{Cli, OutputFormat, print_json};
use crate::engine::DEFAULT_MEMORY_LIMIT;
use crate::error::Result;
use crate::limits::{PrincipalOutcome, SimulateOptions, Simulation, Spend, simulate};
use crate::output::{Table, neutralise, thousands};
use crate::pricing::{ConfigFile, Limits};
use crate::warehouse::Warehouse;

#[derive(Debug, Args)]
pub struct SimulateArgs {
    #[command(subcommand)]
    pub command: SimulateCommand,
}

#[derive(Debug, Subcommand)]
pub enum SimulateCommand {
    /// Replay a range of the history under proposed rate limits: who would be rejected, and what it saves.
    #[command(after_help = "\
Replays the requests of --from ..= --to (UTC days) in time order under the limits of
config/limits.toml (or --limits FILE), with the gateway's rules: fixed one-minute windows on
UTC minute boundaries; a request whose window already holds `calls` requests, or whose tokens
would take it past `tokens`, is rejected (429) and counts nothing; a rejected request is not
retried, or with --retry-after is sent once more at the start of the next minute. Requests
the history shows as 429s are not replayed (they were rejected then too): they tell who saw a
429 before. Nothing is written to the warehouse.

Per endpoint and principal: requests, requests and tokens rejected, minutes affected, the
spend that would not have happened (the rejected requests' cost, exact, shown to the cent)
and the share of the endpoint's tokens before and after; the endpoints' totals; and the blast
radius, who would be rejected who saw no 429 in the range.

Examples:
  tokenledger simulate limits --from 2025-01-01 --to 2025-01-31
  tokenledger simulate limits --from 2025-01-01 --to 2025-01-31 --limits proposal.toml --retry-after
  tokenledger --format csv simulate limits --from 2025-01-01 --to 2025-01-31 --output limits.csv")]
    Limits(LimitsArgs),
}

#[derive(Debug, Args)]
pub struct LimitsArgs {
    /// First day to replay (YYYY-MM-DD, UTC).
    #[arg(long, value_name = "DATE")]
    pub from: NaiveDate,
    /// Last day to replay (YYYY-MM-DD, inclusive).
    #[arg(long, value_name = "DATE")]
    pub to: NaiveDate,
    /// The proposed limits (default: the warehouse's config/limits.toml).
    #[arg(long, value_name = "FILE")]
    pub limits: Option<PathBuf>,
    /// A rejected request is sent again once, at the start of the next minute.
    #[arg(long)]
    pub retry_after: bool,
    /// Write the report to this file (table, csv or json, by --format) instead of printing it.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Memory the replay's sort by time may use before it spills to disk (e.g. 512MiB, 4GiB).
    #[arg(long, value_name = "SIZE", default_value_t = bytesize::ByteSize::b(DEFAULT_MEMORY_LIMIT as u64))]
    pub memory_limit: bytesize::ByteSize,
}

pub async fn run(warehouse: &Warehouse, args: &SimulateArgs, cli: &Cli) -> Result<i32> {
    let SimulateCommand::Limits(args) = &args.command;
    let file = match &args.limits {
        Some(path) => ConfigFile::from_path(path)?,
        None => warehouse.config_file("limits.toml").await?,
    };
    let limits = Limits::load(&file)?;
    let options = SimulateOptions {
        from: args.from,
        to: args.to,
        retry_after: args.retry_after,
        memory_limit: super::memory_bytes(args.memory_limit),
    };
    let simulation = simulate(warehouse, &limits, &options).await?;
    let bytes = match cli.format {
        OutputFormat::Json => serde_json::to_vec_pretty(&simulation)?,
        OutputFormat::Csv => csv(&simulation)?,
        _ => render(&simulation).into_bytes(),
    };
    match &args.output {
        Some(path) => crate::output::write_atomic(path, &bytes)?,
        None if cli.format == OutputFormat::Json => print_json(&simulation)?,
        None => print!("{}", String::from_utf8_lossy(&bytes)),
    }
    Ok(0)
}

/// Spend by currency, each rounded to its minor unit: `12.34 USD`.
fn spend(spend: &Spend) -> String {
    spend
        .iter()
        .map(|(currency, amount)| {
            let places = crate::money::minor_unit(currency).unwrap_or(2);
            format!("{} {currency}", crate::money::round(*amount, places))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The cells shared by the table's and the CSV's lines, from `requests` on.
fn counts(p: &PrincipalOutcome, number: impl Fn(u64) -> String) -> Vec<String> {
    vec![
        number(p.requests),
        number(p.rejected_requests),
        number(p.rejected_tokens),
        number(p.delayed_requests),
        number(p.minutes_affected),
        spend(&p.spend_avoided),
        number(p.rejected_unpriced),
        p.token_share_before.to_string(),
        p.token_share_after.to_string(),
        number(p.history_429s),
    ]
}

const COUNT_COLUMNS: [&str; 10] = [
    "requests",
    "rejected",
    "tokens rejected",
    "delayed",
    "minutes affected",
    "spend avoided",
    "rejected unpriced",
    "token share % before",
    "after",
    "429s before",
];

fn render(s: &Simulation) -> String {
    let retry = if s.retry_after { ", one retry in the next minute" } else { ", no retries" };
    let mut out = format!("Rate limits replayed over {} .. {}{retry}\n\n", s.from, s.to);
    let affected: Vec<&PrincipalOutcome> =
        s.principals.iter().filter(|p| p.rejected_requests + p.delayed_requests > 0).collect();
    if affected.is_empty() {
        out.push_str("No request would have been rejected.\n\n");
    } else {
        let mut header = vec!["endpoint".to_string(), "requester".into(), "group".into()];
        header.extend(COUNT_COLUMNS.iter().map(|c| c.to_string()));
        header.push("limits (lines)".into());
        let mut t = Table::with_header(header);
        for p in &affected {
            let mut cells = vec![p.endpoint.clone(), p.requester.clone(), p.group.clone()];
            cells.extend(counts(p, thousands));
            cells.push(lines(p));
            t.row_vec(cells);
        }
        out.push_str(&t.render());
        let others = s.principals.len() - affected.len();
        if others > 0 {
            out.push_str(&format!("({} other principal(s) not rejected; --format csv or json lists all)\n", thousands(others as u64)));
        }
        out.push('\n');
    }
    let mut header = vec!["endpoint".to_string()];
    header.extend(COUNT_COLUMNS.iter().map(|c| c.to_string()));
    let mut t = Table::with_header(header);
    for e in &s.endpoints {
        let mut cells = vec![e.endpoint.clone()];
        cells.extend(counts(e, thousands));
        t.row_vec(cells);
    }
    out.push_str("Per endpoint (token share after: of the endpoint's tokens, still served)\n");
    out.push_str(&t.render());
    out.push('\n');
    if s.blast_radius.is_empty() {
        out.push_str("Blast radius: nobody who saw no 429 before would be rejected.\n");
    } else {
        out.push_str("Blast radius: would be rejected, and saw no 429 in the range\n");
        let mut t = Table::new(["endpoint", "requester", "group", "rejected", "minutes affected"]);
        for p in &s.blast_radius {
            t.row([
                p.endpoint.clone(),
                p.requester.clone(),
                p.group.clone(),
                thousands(p.rejected_requests),
                thousands(p.minutes_affected),
            ]);
        }
        out.push_str(&t.render());
    }
    out
}

fn lines(p: &PrincipalOutcome) -> String {
    p.limit_lines.iter().map(usize::to_string).collect::<Vec<_>>().join(" ")
}

/// Every principal's line, then each endpoint's total (`requester` = `*`), spreadsheet-safe:
/// text neutralised, numbers plain, spend exact and its currency apart.
fn csv(s: &Simulation) -> Result<Vec<u8>> {
    let header = [
        "endpoint",
        "requester",
        "group",
        "requests",
        "rejected_requests",
        "rejected_tokens",
        "delayed_requests",
        "minutes_affected",
        "spend_avoided",
        "currency",
        "rejected_unpriced",
        "token_share_before_pct",
        "token_share_after_pct",
        "history_429s",
        "blast_radius",
        "limit_lines",
    ]
    .map(String::from)
    .to_vec();
    let blast: std::collections::HashSet<(&str, &str, &str)> =
        s.blast_radius.iter().map(|p| (p.endpoint.as_str(), p.requester.as_str(), p.group.as_str())).collect();
    let total = |p: &PrincipalOutcome| p.requester.is_empty();
    let rows = s.principals.iter().chain(&s.endpoints).map(|p| {
        let (amounts, currencies): (Vec<String>, Vec<String>) =
            p.spend_avoided.iter().map(|(c, a)| (a.normalize().to_string(), c.clone())).unzip();
        let in_blast = blast.contains(&(p.endpoint.as_str(), p.requester.as_str(), p.group.as_str()));
        vec![
            neutralise(&p.endpoint),
            if total(p) { "*".to_string() } else { neutralise(&p.requester) },
            neutralise(&p.group),
            p.requests.to_string(),
            p.rejected_requests.to_string(),
            p.rejected_tokens.to_string(),
            p.delayed_requests.to_string(),
            p.minutes_affected.to_string(),
            amounts.join(";"),
            neutralise(&currencies.join(";")),
            p.rejected_unpriced.to_string(),
            p.token_share_before.to_string(),
            p.token_share_after.to_string(),
            p.history_429s.to_string(),
            in_blast.to_string(),
            lines(p),
        ]
    });
    crate::output::csv_bytes(header, rows)
}
