//! `tokenledger suggest limits`

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use clap::{ArgGroup, Args, Subcommand, ValueEnum};
use rust_decimal::Decimal;

use super::{Cli, OutputFormat, print_json};
use crate::engine::DEFAULT_MEMORY_LIMIT;
use crate::error::Result;
use crate::limits::emit::{Emitted, Gateway, emit};
use crate::limits::suggest::{Goal, SuggestOptions, Suggestion, parse_percent, suggest};
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
                      rejected (in a minute over it, the share of the requests the excess is).
A limit is rounded up to two significant figures when that still meets the goal. The proposal
is then replayed like `simulate limits`; when the replay misses the goal (the gateway rejects
whole requests), the goal is tightened by the miss and the proposal replayed again, up to 4
times. Printed: the proposal as config/limits.toml text (with --emit, as the gateway's
configuration), the replay's per-endpoint totals, and per endpoint whether the goal was met.

Examples:
  tokenledger suggest limits --from 2025-01-01 --to 2025-01-31 --reject-at-most 0.1%
  tokenledger suggest limits --from 2025-01-01 --to 2025-01-31 --max-share 40% --key user_group --output proposal.toml
  tokenledger suggest limits --from 2025-01-01 --to 2025-01-31 --reject-at-most 1% --emit databricks")]
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
#[command(group(ArgGroup::new("goal").required(true).args(["max_share", "reject_at_most"])))]
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
        key: match args.key {
            Key::User => LimitKey::User,
            Key::UserGroup => LimitKey::UserGroup,
        },
        endpoint: args.endpoint.clone(),
        goal,
        memory_limit: super::memory_bytes(args.memory_limit),
    };
    let suggestion = suggest(warehouse, &options).await?;
    let emitted = match args.emit {
        Some(gateway) => {
            Some(emit(warehouse, &suggestion.limits, gateway, args.from, args.to, options.memory_limit).await?)
        }
        None => None,
    };
    let proposal = emitted.as_ref().map_or(suggestion.limits_toml.as_str(), |e| e.text.as_str());
    if let Some(path) = &args.output {
        crate::output::write_atomic(path, proposal.as_bytes())?;
    }
    if let Some(emitted) = &emitted {
        print_notes(emitted, cli);
    }
    if cli.format == OutputFormat::Json {
        #[derive(serde::Serialize)]
        struct Report<'a> {
            #[serde(flatten)]
            suggestion: &'a Suggestion,
            emitted: Option<&'a str>,
        }
        return print_json(&Report { suggestion: &suggestion, emitted: emitted.as_ref().map(|e| e.text.as_str()) })
            .map(|()| 0);
    }
    print!("{}", render(&suggestion, proposal, args.output.as_deref()));
    Ok(0)
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
