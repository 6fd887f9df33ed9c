//! `tokenledger suggest limits`

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use clap::{ArgGroup, Args, Subcommand, ValueEnum};
use rust_decimal::Decimal;

use super::{Cli, OutputFormat, print_json};
use crate::engine::DEFAULT_MEMORY_LIMIT;
use crate::error::Result;
use crate::limits::emit::{Emitted, Gateway, emit};
use crate::limits::suggest::{
    BudgetGoal, BudgetSuggestion, Goal, SuggestOptions, Suggestion, parse_budget, parse_percent, suggest,
    suggest_budget,
};
use crate::pricing::LimitKey;
use crate::warehouse::Warehouse;

#[derive(Debug, Args)]
pub struct SuggestArgs {
    #[command(subcommand)]
    pub command: SuggestCommand,
}

#[derive(Debug, Subcommand)]
pub enum SuggestCommand {
    /// Propose per-user or per-group rate limits for a goal from the history, and replay them to check.
    #[command(after_help = "\
Reads the per-minute demand of --from ..= --to (per endpoint, user or group, UTC minute: calls
and tokens, input + cache reads + cache writes + output; the history's 429s are not demand)
and proposes, per endpoint, one tokens-per-minute limit for each user (--key user) or each
group (--key user_group, its members sharing it):
  --max-share P       the largest limit under which no one gets more than P of the endpoint's
                      tokens (the sum over minutes of min(demand, limit) per principal);
  --reject-at-most P  the smallest limit under which at most P of the endpoint's requests are
                      rejected (in a minute over it, the share of the requests the excess is);
  --monthly-budget A  not a token limit but a dollar budget of A a month for each user or
                      group (hard, with a soft one at 80% to warn first): spend is the priced
                      cost, so cached input counts at its cached price where a token quota
                      would count it in full. The replay shows who would use it up, when, and
                      the requests and spend it stops.
A limit is rounded up to two significant figures when that still meets the goal. The proposal
is then replayed like `simulate limits`; when the replay misses the goal (the gateway rejects
whole requests), the goal is tightened by the miss and the proposal replayed again, up to 4
times. Printed: the proposal as config/limits.toml text (with --emit, as the gateway's
configuration), the replay's per-endpoint totals, and per endpoint whether the goal was met.

Examples:
  tokenledger suggest limits --from 2025-01-01 --to 2025-01-31 --reject-at-most 0.1%
  tokenledger suggest limits --from 2025-01-01 --to 2025-01-31 --max-share 40% --key user_group --output proposal.toml
  tokenledger suggest limits --from 2025-01-01 --to 2025-01-31 --reject-at-most 1% --emit databricks
  tokenledger suggest limits --from 2025-01-01 --to 2025-01-31 --monthly-budget \"3 USD\" --key user_group --emit litellm")]
    Limits(LimitsArgs),
}

/// Whose traffic one proposed limit counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Key {
    /// Each requester.
    User,
    /// Each group of principals.csv, its members sharing one limit (the gateway's word).
    #[value(name = "user_group")]
    UserGroup,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("goal").required(true).args(["max_share", "reject_at_most", "monthly_budget"])))]
pub struct LimitsArgs {
    /// First day of the history to read (YYYY-MM-DD, UTC).
    #[arg(long, value_name = "DATE")]
    pub from: NaiveDate,
    /// Last day (YYYY-MM-DD, inclusive).
    #[arg(long, value_name = "DATE")]
    pub to: NaiveDate,
    /// Goal: no user (or group, by --key) gets more than this share of an endpoint's tokens, e.g. 40%.
    #[arg(long, value_name = "PERCENT", value_parser = parse_percent)]
    pub max_share: Option<Decimal>,
    /// Goal: at most this share of an endpoint's requests is rejected, e.g. 0.1%.
    #[arg(long, value_name = "PERCENT", value_parser = parse_percent)]
    pub reject_at_most: Option<Decimal>,
    /// Goal: each user (or group, by --key) spends at most this a month, e.g. "500 USD": a hard dollar budget, warned at 80%.
    #[arg(long, value_name = "AMOUNT", value_parser = parse_budget)]
    pub monthly_budget: Option<(Decimal, String)>,
    /// Whose traffic one limit counts.
    #[arg(long, value_enum, default_value_t = Key::User)]
    pub key: Key,
    /// Only this endpoint (default: every endpoint of the range).
    #[arg(long, value_name = "NAME")]
    pub endpoint: Option<String>,
    /// Write the proposal as a gateway's configuration: databricks (AI Gateway rate_limits JSON per endpoint) or litellm (teams' and users' YAML).
    #[arg(long, value_enum, value_name = "GATEWAY")]
    pub emit: Option<Gateway>,
    /// Write the proposal (limits.toml text, or the --emit configuration) to this file; the report still prints.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Memory the queries may use before they spill to disk (e.g. 512MiB, 4GiB).
    #[arg(long, value_name = "SIZE", default_value_t = bytesize::ByteSize::b(DEFAULT_MEMORY_LIMIT as u64))]
    pub memory_limit: bytesize::ByteSize,
}

pub async fn run(warehouse: &Warehouse, args: &SuggestArgs, cli: &Cli) -> Result<i32> {
    let SuggestCommand::Limits(args) = &args.command;
    let key = match args.key {
        Key::User => LimitKey::User,
        Key::UserGroup => LimitKey::UserGroup,
    };
    if let Some((amount, currency)) = &args.monthly_budget {
        let goal = BudgetGoal {
            from: args.from,
            to: args.to,
            key,
            amount: *amount,
            currency: currency.clone(),
            memory_limit: super::memory_bytes(args.memory_limit),
        };
        let suggestion = suggest_budget(warehouse, &goal).await?;
        let emitted = emitted(warehouse, args, &suggestion.limits, goal.memory_limit, cli).await?;
        return deliver(&suggestion, &suggestion.limits_toml, emitted, args, cli, |proposal| {
            render_budget(&suggestion, proposal, args.output.as_deref())
        });
    }
    let goal = match (args.max_share, args.reject_at_most) {
        (Some(share), _) => Goal::MaxShare(share),
        (None, Some(share)) => Goal::RejectAtMost(share),
        (None, None) => {
            return Err(crate::error::Error::Usage(
                "give a goal: --max-share PERCENT or --reject-at-most PERCENT".into(),
            ));
        }
    };
    let options = SuggestOptions {
        from: args.from,
        to: args.to,
        key,
        endpoint: args.endpoint.clone(),
        goal,
        memory_limit: super::memory_bytes(args.memory_limit),
    };
    let suggestion = suggest(warehouse, &options).await?;
    let emitted = emitted(warehouse, args, &suggestion.limits, options.memory_limit, cli).await?;
    deliver(&suggestion, &suggestion.limits_toml, emitted, args, cli, |proposal| {
        render(&suggestion, proposal, args.output.as_deref())
    })
}

/// Writes the proposal (limits.toml text, or the --emit configuration) to --output, then prints
/// the report: JSON, or `render` of the proposal for people.
fn deliver<S: serde::Serialize>(
    suggestion: &S,
    limits_toml: &str,
    emitted: Option<Emitted>,
    args: &LimitsArgs,
    cli: &Cli,
    render: impl Fn(&str) -> String,
) -> Result<i32> {
    let proposal = emitted.as_ref().map_or(limits_toml, |e| e.text.as_str());
    if let Some(path) = &args.output {
        crate::output::write_atomic(path, proposal.as_bytes())?;
    }
    if cli.format == OutputFormat::Json {
        return print_json(&Report { suggestion, emitted: emitted.as_ref().map(|e| e.text.as_str()) }).map(|()| 0);
    }
    print!("{}", render(proposal));
    Ok(0)
}

/// The JSON report: the suggestion and, with --emit, the configuration written.
#[derive(serde::Serialize)]
struct Report<'a, S: serde::Serialize> {
    #[serde(flatten)]
    suggestion: &'a S,
    emitted: Option<&'a str>,
}

/// The proposal as --emit's gateway configuration (its notes on stderr), or `None`.
async fn emitted(
    warehouse: &Warehouse,
    args: &LimitsArgs,
    limits: &crate::pricing::Limits,
    memory_limit: usize,
    cli: &Cli,
) -> Result<Option<Emitted>> {
    let Some(gateway) = args.emit else { return Ok(None) };
    let emitted = emit(warehouse, limits, gateway, args.from, args.to, memory_limit).await?;
    print_notes(&emitted, cli);
    Ok(Some(emitted))
}

/// The budget proposal, then who would use it up.
fn render_budget(s: &BudgetSuggestion, proposal: &str, written_to: Option<&Path>) -> String {
    let who = s.key.as_str();
    let mut out = format!(
        "Suggested budget over {} .. {}: each {who} at most {} {} a month\n\n",
        s.from, s.to, s.amount, s.currency
    );
    match written_to {
        Some(path) => out.push_str(&format!("The proposal is in {}.\n\n", path.display())),
        None => {
            out.push_str(proposal);
            out.push('\n');
        }
    }
    let used_up: Vec<&crate::limits::BudgetOutcome> =
        s.simulation.budgets.iter().filter(|b| b.periods_used_up > 0).collect();
    let counted = s.simulation.budgets.iter().map(|b| &b.principal).collect::<std::collections::BTreeSet<_>>().len();
    if used_up.is_empty() {
        out.push_str(&format!("Replayed: no {who} would reach it or its warning ({counted} counted).\n"));
    } else {
        out.push_str(&format!("Replayed: the {who}s that would reach it or its warning, of {counted}\n"));
        out.push_str(&super::simulate_cmd::budgets_table(&used_up));
    }
    let not_counted: u64 = s.simulation.budgets.iter().map(|b| b.not_counted).sum();
    let met = if s.met { "yes" } else { "no" };
    out.push_str(&format!(
        "\ntarget met: {met} (every month within the budget but for the request that used it up{})\n",
        if not_counted > 0 {
            format!("; {not_counted} request(s) without a price or in another currency cannot be counted against it")
        } else {
            String::new()
        }
    ));
    out
}

/// What did not map one to one into the gateway's configuration, on stderr.
pub(super) fn print_notes(emitted: &Emitted, cli: &Cli) {
    if !cli.quiet {
        for note in &emitted.notes {
            eprintln!("note: {note}");
        }
    }
}

fn render(s: &Suggestion, proposal: &str, written_to: Option<&Path>) -> String {
    let mut out = format!("Suggested limits over {} .. {}: {}\n\n", s.from, s.to, s.goal.describe(s.key));
    match written_to {
        Some(path) => out.push_str(&format!("The proposal is in {}.\n\n", path.display())),
        None => {
            out.push_str(proposal);
            out.push('\n');
        }
    }
    let rounds = match s.rounds {
        1 => "replayed once".to_string(),
        n => format!(
            "replayed {n} times: a proposal missed its goal in the replay (the estimate counts tokens, the gateway rejects whole requests) and was tightened"
        ),
    };
    out.push_str(&format!("The proposal {rounds}. Per endpoint\n"));
    // the replay covers every endpoint; those without a proposal are untouched
    let suggested = |endpoint: &str| s.endpoints.iter().any(|e| e.endpoint == endpoint);
    out.push_str(&super::simulate_cmd::endpoints_table(&s.simulation, suggested));
    out.push('\n');
    let who = s.key.as_str();
    for e in &s.endpoints {
        let measured = match s.goal {
            Goal::RejectAtMost(_) => format!("{}% of the requests rejected", e.measured_percent),
            Goal::MaxShare(_) => format!("the largest {who}'s share of the tokens served {}%", e.measured_percent),
        };
        let how = match e.outcome {
            "not_needed" => ", without a limit",
            "unreachable" => ", no tokens-per-minute limit reaches it",
            _ => "",
        };
        let met = if e.met { "yes" } else { "no" };
        out.push_str(&format!(
            "{}: target met: {met}{how} (measured {measured}; target {}%)\n",
            e.endpoint, e.target_percent
        ));
    }
    out
}
