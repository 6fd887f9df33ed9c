//! `tokenledger simulate limits`

use std::path::PathBuf;

use chrono::NaiveDate;
use clap::{Args, Subcommand};

use super::{Cli, OutputFormat, print_json};
use crate::engine::DEFAULT_MEMORY_LIMIT;
use crate::error::{Error, Result};
use crate::limits::chart::demand_chart;
use crate::limits::emit::emit;
use crate::limits::{BudgetOutcome, PrincipalOutcome, SimulateOptions, Simulation, Spend, simulate};
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
429 before. Dollar budgets ([[budget]]: per user, group or service principal, per UTC hour,
day or month, hard or soft) are checked before each request against the spend so far in the
period, from the requests' cost: the request that uses a budget up goes through, the ones after
it are rejected until the period renews (a soft budget only reports it). Nothing is written to
the warehouse.

Per endpoint and principal: requests, requests and tokens rejected, minutes affected, the
spend that would not have happened (the rejected requests' cost, exact, shown to the cent)
and the share of the endpoint's tokens before and after; the endpoints' totals; and the blast
radius, who would be rejected who saw no 429 in the range; then each budget per principal:
spent, the peak period, periods used up, when it was first used up, requests rejected, spend
avoided and spend beyond it (table and json; the csv lists the principals, whose rejections
include the budgets').

Examples:
  tokenledger simulate limits --from 2025-01-01 --to 2025-01-31
  tokenledger simulate limits --from 2025-01-01 --to 2025-01-31 --limits proposal.toml --retry-after
  tokenledger --format csv simulate limits --from 2025-01-01 --to 2025-01-31 --output limits.csv
  tokenledger simulate limits --from 2025-01-01 --to 2025-01-31 --chart demand.svg --chart-endpoint chat
  tokenledger simulate limits --from 2025-01-01 --to 2025-01-31 --emit databricks --output rate_limits.json

--chart draws an endpoint's per-minute demand (tokens, or calls for a calls limit) against its
whole-endpoint limit, else the first limit in force on it (then the busiest principal's
demand); a long range is cut into 600 spans, each drawn at its busiest minute. --emit writes
the limits as the gateway's configuration instead of the report: a \"*\" block becomes each
endpoint of the range, a user_group limit without a principal each group seen on it.")]
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
    /// Instead of the report, write the limits replayed as a gateway's configuration: databricks (AI Gateway rate_limits JSON per endpoint) or litellm (teams' and users' YAML).
    #[arg(long, value_enum, value_name = "GATEWAY")]
    pub emit: Option<crate::limits::emit::Gateway>,
    /// Draw one endpoint's per-minute demand against its limit to this file (.svg or .png).
    #[arg(long, value_name = "FILE")]
    pub chart: Option<PathBuf>,
    /// The endpoint --chart draws (needed when the range has more than one).
    #[arg(long, value_name = "NAME", requires = "chart")]
    pub chart_endpoint: Option<String>,
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
    let memory_limit = super::memory_bytes(args.memory_limit);
    if let Some(gateway) = args.emit {
        let emitted = emit(warehouse, &limits, gateway, args.from, args.to, memory_limit).await?;
        super::suggest_cmd::print_notes(&emitted, cli);
        match &args.output {
            Some(path) => crate::output::write_atomic(path, emitted.text.as_bytes())?,
            None => print!("{}", emitted.text),
        }
        return Ok(0);
    }
    let options = SimulateOptions { from: args.from, to: args.to, retry_after: args.retry_after, memory_limit };
    let simulation = simulate(warehouse, &limits, &options).await?;
    if let Some(path) = &args.chart {
        let endpoint = match &args.chart_endpoint {
            Some(endpoint) => endpoint.clone(),
            None => only_endpoint(&simulation)?,
        };
        let drawn = demand_chart(warehouse, &limits, args.from, args.to, &endpoint, memory_limit).await?;
        super::draw(&drawn.chart, path, cli)?;
    }
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
    spend.iter().map(|(currency, amount)| money(*amount, currency)).collect::<Vec<_>>().join("; ")
}

/// An amount rounded to its currency's minor unit: `12.34 USD`.
fn money(amount: rust_decimal::Decimal, currency: &str) -> String {
    let places = crate::money::minor_unit(currency).unwrap_or(2);
    format!("{} {currency}", crate::money::round(amount, places))
}

/// A column of the tables for people: its header and its cell.
type Column = (&'static str, fn(&PrincipalOutcome) -> String);

/// The columns of both tables for people, from `requests` on: `delayed` only with retries and
/// `rejected unpriced` only when some rejected request has no price, so the usual case fits a
/// terminal. `share` is the principal's share of the endpoint's tokens (or, for an endpoint,
/// what is still served).
fn count_columns(s: &Simulation, share: &[Column]) -> Vec<Column> {
    let mut columns: Vec<Column> = vec![
        ("requests", |p| thousands(p.requests)),
        ("rejected", |p| thousands(p.rejected_requests)),
        ("tokens rejected", |p| thousands(p.rejected_tokens)),
    ];
    if s.retry_after {
        columns.push(("delayed", |p| thousands(p.delayed_requests)));
    }
    columns.push(("minutes affected", |p| thousands(p.minutes_affected)));
    columns.push(("spend avoided", |p| spend(&p.spend_avoided)));
    if s.endpoints.iter().any(|e| e.rejected_unpriced > 0) {
        columns.push(("rejected unpriced", |p| thousands(p.rejected_unpriced)));
    }
    columns.extend_from_slice(share);
    columns.push(("429s before", |p| thousands(p.history_429s)));
    columns
}

/// `rows` as a table of `first` columns then `columns`.
fn table<'a>(first: &[Column], columns: &[Column], rows: impl IntoIterator<Item = &'a PrincipalOutcome>) -> String {
    let all: Vec<&Column> = first.iter().chain(columns).collect();
    let mut t = Table::with_header(all.iter().map(|(header, _)| header.to_string()).collect());
    for row in rows {
        t.row_vec(all.iter().map(|(_, cell)| cell(row)).collect());
    }
    t.render()
}

/// The most rows a table for people shows; --format csv or json lists all.
const TABLE_ROWS: usize = 25;

fn render(s: &Simulation) -> String {
    let retry = if s.retry_after { ", one retry in the next minute" } else { ", no retries" };
    let mut out = format!("Rate limits replayed over {} .. {}{retry}\n\n", s.from, s.to);
    let principal: [Column; 3] =
        [("endpoint", |p| p.endpoint.clone()), ("requester", |p| p.requester.clone()), ("group", |p| p.group.clone())];
    let share: [Column; 2] =
        [("token share %", |p| p.token_share_before.to_string()), ("after", |p| p.token_share_after.to_string())];
    let mut columns = count_columns(s, &share);
    columns.push(("limits (lines)", lines));
    let affected: Vec<&PrincipalOutcome> =
        s.principals.iter().filter(|p| p.rejected_requests + p.delayed_requests > 0).collect();
    if affected.is_empty() {
        out.push_str("No request would have been rejected.\n\n");
    } else {
        out.push_str(&table(&principal, &columns, affected.iter().take(TABLE_ROWS).copied()));
        let hidden = affected.len().saturating_sub(TABLE_ROWS);
        if hidden > 0 {
            out.push_str(&format!("({} more rejected principal(s) not shown)\n", thousands(hidden as u64)));
        }
        let others = s.principals.len() - affected.len();
        if others > 0 || hidden > 0 {
            let others = thousands(others as u64);
            out.push_str(&format!("({others} other principal(s) not rejected; --format csv or json lists all)\n"));
        }
        out.push('\n');
    }
    out.push_str("Per endpoint\n");
    out.push_str(&endpoints_table(s, |_| true));
    out.push('\n');
    if s.blast_radius.is_empty() {
        out.push_str("Blast radius: nobody who saw no 429 before would be rejected.\n");
    } else {
        out.push_str("Blast radius: would be rejected, and saw no 429 in the range\n");
        let counts: [Column; 2] =
            [("rejected", |p| thousands(p.rejected_requests)), ("minutes affected", |p| thousands(p.minutes_affected))];
        out.push_str(&table(&principal, &counts, s.blast_radius.iter().take(TABLE_ROWS)));
        let hidden = s.blast_radius.len().saturating_sub(TABLE_ROWS);
        if hidden > 0 {
            out.push_str(&format!("({} more not shown; --format csv lists all)\n", thousands(hidden as u64)));
        }
    }
    if !s.budgets.is_empty() {
        let used_up: Vec<&BudgetOutcome> = s.budgets.iter().filter(|b| b.periods_used_up > 0).collect();
        if used_up.is_empty() {
            out.push_str("\nDollar budgets: none used up.\n");
        } else {
            out.push_str("\nDollar budgets used up\n");
            out.push_str(&budgets_table(&used_up));
        }
        let others = s.budgets.len() - used_up.len();
        if others > 0 && !used_up.is_empty() {
            let others = thousands(others as u64);
            out.push_str(&format!("({others} other budget line(s) never used up; --format json lists all)\n"));
        }
    }
    out
}

/// One line per budget and principal it counted.
pub(super) fn budgets_table(outcomes: &[&BudgetOutcome]) -> String {
    let mut t = Table::with_header(
        [
            "line",
            "key",
            "principal",
            "budget",
            "spent",
            "peak period",
            "used up",
            "first used up",
            "rejected",
            "spend avoided",
            "over budget",
            "not counted",
        ]
        .map(String::from)
        .to_vec(),
    );
    for o in outcomes {
        let b = &o.budget;
        let money = |amount| money(amount, &b.currency);
        let scope = b.endpoint.as_ref().map(|e| format!(" on {e}")).unwrap_or_default();
        let enforcement = match b.enforcement {
            crate::pricing::Enforcement::Hard => "hard",
            crate::pricing::Enforcement::Soft => "soft",
        };
        t.row_vec(vec![
            b.line.to_string(),
            b.key.as_str().to_string(),
            o.principal.clone(),
            format!("{} / {} {enforcement}{scope}", money(b.amount), b.renewal_period.as_str()),
            money(o.spent),
            money(o.peak_period_spent),
            format!("{} of {}", thousands(o.periods_used_up), thousands(o.periods)),
            o.first_used_up_at.clone().unwrap_or_else(|| "-".to_string()),
            thousands(o.rejected_requests),
            money(o.spend_avoided),
            money(o.over_budget),
            thousands(o.not_counted),
        ]);
    }
    t.render()
}

/// The totals of the endpoints `shown` picks, as a table for people.
pub(super) fn endpoints_table(s: &Simulation, shown: impl Fn(&str) -> bool) -> String {
    let served: [Column; 1] = [("tokens served %", |p| p.token_share_after.to_string())];
    let columns = count_columns(s, &served);
    table(&[("endpoint", |p| p.endpoint.clone())], &columns, s.endpoints.iter().filter(|e| shown(&e.endpoint)))
}

/// The endpoint --chart draws when none is named: the range's only one.
fn only_endpoint(s: &Simulation) -> Result<String> {
    match s.endpoints.as_slice() {
        [only] => Ok(only.endpoint.clone()),
        endpoints => {
            let names = endpoints.iter().map(|e| e.endpoint.as_str()).collect::<Vec<_>>().join(", ");
            Err(Error::Usage(format!(
                "--chart draws one endpoint and the range has {} ({names}): name one with --chart-endpoint",
                endpoints.len()
            )))
        }
    }
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
