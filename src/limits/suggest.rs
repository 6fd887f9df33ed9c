//! `suggest limits`: a per-principal tokens-per-minute limit per endpoint, searched on the
//! observed per-minute demand ([`super::demand`]) for a goal, then replayed with the real
//! [`super::simulate`] to check it.
//!
//! The goals, per endpoint:
//! - **reject at most p% of the requests**: the smallest limit L whose estimated rejections
//!   stay within p% of the endpoint's requests. A minute in which a principal's demand d is
//!   over L loses the share (d − L) / d of its requests, rounded up (at least one request goes
//!   once a window is over). Fewer rejections as L grows: a binary search.
//! - **no principal more than s% of the endpoint's tokens**: the largest L under which each
//!   principal's admitted tokens (the sum over minutes of min(d, L)) are at most s% of the
//!   endpoint's. The largest share mostly grows with L, but not always (a principal busy in
//!   many minutes holds more of the total under a tight limit than under none), so the search
//!   looks down a geometric grid from the peak for the first limit that meets the goal, then
//!   binary-searches up to the grid point above it.
//!
//! A limit is rounded up to two significant figures when the rounded one still meets the goal
//! on the estimate. The estimate counts tokens, the gateway rejects whole requests: when the
//! replay misses the goal, the goal searched for is tightened by the miss and the proposal
//! replayed again, a few rounds at most.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::demand::{self, DemandQuery};
use super::{SimulateOptions, Simulation, simulate};
use crate::error::{Error, Result};
use crate::pricing::{LimitKey, Limits};
use crate::warehouse::Warehouse;

/// Replays of a proposal at most (the first and the tightened ones).
pub const MAX_ROUNDS: u32 = 4;

/// Limits tried on the way down from the peak, for the share goal.
const SHARE_GRID: u32 = 64;

/// What the limits are for, per endpoint (percentages).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "goal", content = "percent")]
pub enum Goal {
    /// No principal gets more than this share of the endpoint's tokens.
    MaxShare(Decimal),
    /// At most this share of the endpoint's requests is rejected.
    RejectAtMost(Decimal),
}

impl Goal {
    pub fn percent(self) -> Decimal {
        match self {
            Goal::MaxShare(p) | Goal::RejectAtMost(p) => p,
        }
    }

    fn with_percent(self, percent: Decimal) -> Goal {
        match self {
            Goal::MaxShare(_) => Goal::MaxShare(percent),
            Goal::RejectAtMost(_) => Goal::RejectAtMost(percent),
        }
    }

    /// The goal and the limits' key in words, for the report and the proposal's header.
    pub fn describe(self, key: LimitKey) -> String {
        let key = key.as_str();
        match self {
            Goal::MaxShare(p) => format!("no {key} with more than {p}% of an endpoint's tokens, one limit per {key}"),
            Goal::RejectAtMost(p) => format!("at most {p}% of an endpoint's requests rejected, one limit per {key}"),
        }
    }
}

/// A percentage as the command line gives it: `40%`, `0.1%` or `40`, from 0 up to (not
/// including) 100.
pub fn parse_percent(text: &str) -> std::result::Result<Decimal, String> {
    let number = text.trim().trim_end_matches('%').trim();
    let percent: Decimal =
        number.parse().map_err(|_| format!("`{text}` is not a percentage; write it like 40% or 0.1%"))?;
    if percent < Decimal::ZERO || percent >= Decimal::ONE_HUNDRED {
        return Err(format!("`{text}` is not between 0% and 100% (exclusive)"));
    }
    Ok(percent.normalize())
}

/// A budget as the command line gives it: `500 USD` or `500USD` (an exact amount, an ISO 4217
/// code).
pub fn parse_budget(text: &str) -> std::result::Result<(Decimal, String), String> {
    let text = text.trim();
    let split = text.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(text.len());
    let (amount, currency) = (text[..split].trim(), text[split..].trim());
    let amount = crate::money::decimal_from_text(amount)
        .filter(|a| *a > Decimal::ZERO)
        .ok_or_else(|| format!("`{text}` is not an amount above zero and a currency; write it like \"500 USD\""))?;
    if crate::money::minor_unit(currency).is_err() {
        return Err(format!("`{currency}` in `{text}` is not an ISO 4217 currency code; write it like \"500 USD\""));
    }
    Ok((amount, currency.to_string()))
}

/// How to suggest.
#[derive(Debug, Clone)]
pub struct SuggestOptions {
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// Whose traffic one limit counts: `User` (each requester) or `UserGroup` (each group, shared).
    pub key: LimitKey,
    /// Only this endpoint.
    pub endpoint: Option<String>,
    pub goal: Goal,
    pub memory_limit: usize,
}

/// One principal's demand: (calls, tokens) in each minute it sent anything.
pub type Minutes = Vec<(u64, u64)>;

/// An endpoint's per-minute demand, by principal.
#[derive(Debug, Clone, Default)]
pub struct EndpointDemand {
    pub principals: BTreeMap<String, Minutes>,
}

impl EndpointDemand {
    fn minutes(&self) -> impl Iterator<Item = &(u64, u64)> {
        self.principals.values().flatten()
    }

    fn requests(&self) -> u64 {
        self.minutes().map(|(calls, _)| calls).sum()
    }

    /// The most tokens a principal sent in one minute.
    fn peak(&self) -> u64 {
        self.minutes().map(|(_, tokens)| *tokens).max().unwrap_or(0)
    }

    /// The requests a limit of `limit` tokens a minute per principal would reject, estimated:
    /// in a minute over it, the share of its requests that the excess tokens are, rounded up.
    pub fn rejected_estimate(&self, limit: u64) -> u64 {
        self.minutes()
            .filter(|(_, tokens)| *tokens > limit)
            .map(|(calls, tokens)| {
                let excess = u128::from(*calls) * u128::from(tokens - limit);
                excess.div_ceil(u128::from(*tokens)) as u64
            })
            .sum()
    }

    /// Each principal's admitted tokens under `limit` (the sum of min(d, limit)), and their total.
    fn admitted(&self, limit: u64) -> (Vec<u64>, u64) {
        let each: Vec<u64> =
            self.principals.values().map(|m| m.iter().map(|(_, tokens)| (*tokens).min(limit)).sum()).collect();
        let total = each.iter().sum();
        (each, total)
    }

    /// The largest principal's share (percent) of the tokens admitted under `limit`.
    pub fn top_share(&self, limit: u64) -> Decimal {
        let (each, total) = self.admitted(limit);
        share(each.into_iter().max().unwrap_or(0), total)
    }

    /// Whether a per-principal `limit` meets `goal` on the estimate.
    pub fn meets(&self, goal: Goal, limit: u64) -> bool {
        match goal {
            Goal::RejectAtMost(p) => within(self.rejected_estimate(limit), self.requests(), p),
            Goal::MaxShare(p) => {
                let (each, total) = self.admitted(limit);
                each.into_iter().all(|admitted| within(admitted, total, p))
            }
        }
    }
}

/// `part` of `whole` is at most `percent`%, exactly.
fn within(part: u64, whole: u64, percent: Decimal) -> bool {
    Decimal::from(part) * Decimal::ONE_HUNDRED <= percent * Decimal::from(whole)
}

/// `part` of `whole` in percent (0 of nothing is 0), unrounded.
fn share(part: u64, whole: u64) -> Decimal {
    if whole == 0 { Decimal::ZERO } else { Decimal::from(part) * Decimal::ONE_HUNDRED / Decimal::from(whole) }
}

/// What the search found for one endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    /// Tokens per minute per principal.
    Limit(u64),
    /// The goal holds with no limit.
    NotNeeded,
    /// No per-principal token limit meets it on the estimate.
    Unreachable,
}

/// The smallest `l` in `lo..=hi` with `ok(l)`, for `ok` false then true and `ok(hi)`.
fn smallest(mut lo: u64, mut hi: u64, ok: impl Fn(u64) -> bool) -> u64 {
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if ok(mid) { hi = mid } else { lo = mid + 1 }
    }
    hi
}

/// The largest `l` in `lo..=hi` with `ok(l)`, for `ok` true then false and `ok(lo)`.
fn largest(mut lo: u64, mut hi: u64, ok: impl Fn(u64) -> bool) -> u64 {
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if ok(mid) { lo = mid } else { hi = mid - 1 }
    }
    lo
}

/// `n` rounded up to two significant figures: 1,333,334 -> 1,400,000.
pub fn readable(n: u64) -> u64 {
    let mut step = 1u64;
    while n / step >= 100 {
        step *= 10;
    }
    n.div_ceil(step).saturating_mul(step)
}

/// The per-principal tokens-per-minute limit for `goal` on `demand` (see the module's doc).
pub fn search(demand: &EndpointDemand, goal: Goal) -> Found {
    let peak = demand.peak();
    let meets = |limit: u64| demand.meets(goal, limit);
    let exact = match goal {
        Goal::RejectAtMost(_) if peak == 0 => return Found::NotNeeded,
        // no limit at or above the peak rejects anything
        Goal::RejectAtMost(_) => smallest(1, peak, meets),
        Goal::MaxShare(_) if meets(peak) => return Found::NotNeeded,
        Goal::MaxShare(_) => {
            // down a geometric grid from the peak to 1: the first limit that meets the goal,
            // then up towards the grid point above it (which does not)
            let grid: Vec<u64> = (1..=SHARE_GRID)
                .map(|i| (peak as f64).powf(1.0 - f64::from(i) / f64::from(SHARE_GRID)).floor().max(1.0) as u64)
                .collect();
            let mut above = peak;
            let Some(found) = grid.into_iter().find(|l| {
                let ok = meets(*l);
                if !ok {
                    above = *l;
                }
                ok
            }) else {
                return Found::Unreachable;
            };
            largest(found, above.saturating_sub(1).max(found), meets)
        }
    };
    let rounded = readable(exact);
    Found::Limit(if rounded != exact && meets(rounded) { rounded } else { exact })
}

/// The proposal for one endpoint and what its replay measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EndpointSuggestion {
    pub endpoint: String,
    /// The limit proposed, tokens per minute per principal (none: not needed, or unreachable).
    pub tokens_per_minute: Option<u64>,
    /// `limit`, `not_needed` or `unreachable`.
    pub outcome: &'static str,
    pub target_percent: Decimal,
    /// What the replay measured: the share of requests rejected, or the largest principal's
    /// share of the tokens served (percent, to 2 places).
    pub measured_percent: Decimal,
    pub met: bool,
}

/// The suggestion: the proposed limits, as limits.toml text and parsed, and their replay.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Suggestion {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub goal: Goal,
    pub key: LimitKey,
    pub endpoints: Vec<EndpointSuggestion>,
    /// The proposal as config/limits.toml text.
    pub limits_toml: String,
    /// Replays run: 1, or more when a proposal missed its goal and was tightened.
    pub rounds: u32,
    pub simulation: Simulation,
    #[serde(skip)]
    pub limits: Limits,
}

/// The per-minute demand of the range, by endpoint and principal.
async fn demand_by_endpoint(warehouse: &Warehouse, opts: &SuggestOptions) -> Result<BTreeMap<String, EndpointDemand>> {
    let ctx = demand::session(warehouse, opts.memory_limit).await?;
    let query =
        DemandQuery { from: opts.from, to: opts.to, key: opts.key, endpoint: opts.endpoint.clone(), principal: None };
    let mut by_endpoint: BTreeMap<String, EndpointDemand> = BTreeMap::new();
    demand::scan(&ctx, &query, opts.memory_limit, |m| {
        let endpoint = by_endpoint.entry(m.endpoint).or_default();
        endpoint.principals.entry(m.principal).or_default().push((m.calls, m.tokens));
    })
    .await?;
    Ok(by_endpoint)
}

/// Proposes limits for `opts.goal`, replays them and tightens those that miss.
pub async fn suggest(warehouse: &Warehouse, opts: &SuggestOptions) -> Result<Suggestion> {
    if !matches!(opts.key, LimitKey::User | LimitKey::UserGroup) {
        return Err(Error::Usage(format!(
            "suggest limits keys limits by user or user_group, not {}",
            opts.key.as_str()
        )));
    }
    let demand = demand_by_endpoint(warehouse, opts).await?;
    if demand.is_empty() {
        let which = opts.endpoint.as_deref().map_or(String::new(), |e| format!(" on endpoint `{e}`"));
        return Err(Error::Usage(format!(
            "no requests{which} between {} and {}: nothing to suggest limits from; check --from, --to and --endpoint",
            opts.from, opts.to
        )));
    }
    // per endpoint: the goal searched for (tightened after a miss) and what it found
    let mut searched: BTreeMap<&str, (Goal, Found)> =
        demand.iter().map(|(e, d)| (e.as_str(), (opts.goal, search(d, opts.goal)))).collect();
    let simulate_options =
        SimulateOptions { from: opts.from, to: opts.to, retry_after: false, memory_limit: opts.memory_limit };
    let mut rounds = 0;
    loop {
        rounds += 1;
        let found: Vec<(&str, Found)> = searched.iter().map(|(e, (_, f))| (*e, *f)).collect();
        let text = limits_toml(opts, &found);
        let limits = Limits::from_toml_str(&text, "the proposed limits.toml")
            .map_err(|e| Error::Internal(format!("the proposal does not parse: {e}")))?;
        let simulation = simulate(warehouse, &limits, &simulate_options).await?;
        let endpoints: Vec<EndpointSuggestion> = found.iter().map(|(e, f)| measure(&simulation, opts, e, *f)).collect();
        let missed: Vec<&str> =
            endpoints.iter().filter(|e| !e.met && e.outcome == "limit").map(|e| e.endpoint.as_str()).collect();
        if missed.is_empty() || rounds == MAX_ROUNDS {
            return Ok(Suggestion {
                from: opts.from,
                to: opts.to,
                goal: opts.goal,
                key: opts.key,
                endpoints,
                limits_toml: text,
                rounds,
                simulation,
                limits,
            });
        }
        for endpoint in missed {
            let measured =
                endpoints.iter().find(|e| e.endpoint == endpoint).map_or(Decimal::ZERO, |e| e.measured_percent);
            let (goal, found) = searched.get_mut(endpoint).expect("an endpoint searched");
            let Found::Limit(before) = *found else { continue };
            *goal = tightened(*goal, opts.goal.percent(), measured);
            *found = match search(&demand[endpoint], *goal) {
                // the estimate did not move: step the limit itself, the way the miss says
                Found::Limit(after) if after == before => Found::Limit(stepped(opts.goal, before)),
                other => other,
            };
        }
    }
}

/// The goal searched for after the replay measured `measured`% for a target of `target`%:
/// scaled down by the miss.
fn tightened(goal: Goal, target: Decimal, measured: Decimal) -> Goal {
    if measured <= Decimal::ZERO {
        return goal;
    }
    goal.with_percent(goal.percent() * target / measured)
}

/// A limit moved one step (a twentieth, at least one token) towards meeting `goal`: up to
/// reject less, down to let the largest principal take less.
fn stepped(goal: Goal, limit: u64) -> u64 {
    let step = (limit / 20).max(1);
    match goal {
        Goal::RejectAtMost(_) => limit.saturating_add(step),
        Goal::MaxShare(_) => limit.saturating_sub(step).max(1),
    }
}

/// What the replay measured on `endpoint` for the goal.
fn measure(simulation: &Simulation, opts: &SuggestOptions, endpoint: &str, found: Found) -> EndpointSuggestion {
    let target = opts.goal.percent();
    let total = simulation.endpoints.iter().find(|e| e.endpoint == endpoint);
    let (part, whole) = match opts.goal {
        Goal::RejectAtMost(_) => total.map_or((0, 0), |t| (t.rejected_requests, t.requests)),
        Goal::MaxShare(_) => {
            let mut served: BTreeMap<&str, u64> = BTreeMap::new();
            for p in simulation.principals.iter().filter(|p| p.endpoint == endpoint) {
                let principal = if opts.key == LimitKey::UserGroup { &p.group } else { &p.requester };
                *served.entry(principal).or_default() += p.tokens - p.rejected_tokens;
            }
            (served.values().copied().max().unwrap_or(0), served.values().sum())
        }
    };
    let (tokens_per_minute, outcome) = match found {
        Found::Limit(l) => (Some(l), "limit"),
        Found::NotNeeded => (None, "not_needed"),
        Found::Unreachable => (None, "unreachable"),
    };
    EndpointSuggestion {
        endpoint: endpoint.to_string(),
        tokens_per_minute,
        outcome,
        target_percent: target,
        measured_percent: crate::money::round(share(part, whole), 2),
        met: within(part, whole, target),
    }
}

/// A dollar budget per user or group for `suggest limits --monthly-budget`.
#[derive(Debug, Clone)]
pub struct BudgetGoal {
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// `User` or `UserGroup`: whose spend one budget counts.
    pub key: LimitKey,
    pub amount: Decimal,
    pub currency: String,
    pub memory_limit: usize,
}

/// The share of a hard budget at which the proposal's soft budget warns first.
const WARN_AT_PERCENT: i64 = 80;

/// A monthly budget proposed and replayed: who would have used it up, when, and what it stops.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BudgetSuggestion {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub key: LimitKey,
    pub amount: Decimal,
    pub currency: String,
    /// The proposal as config/limits.toml text.
    pub limits_toml: String,
    /// Every principal's month stayed within the budget but for the one request that used it
    /// up (the gateway learns a request's cost only after it), and every request could be
    /// counted (priced, in the budget's currency): otherwise the budget cannot hold the spend.
    pub met: bool,
    pub simulation: Simulation,
    #[serde(skip)]
    pub limits: Limits,
}

/// Proposes a hard monthly dollar budget per user or group, with a soft one at 80 % to warn
/// first, and replays it. Spend is the priced cost, so cached input counts at its price: the
/// budget holds where a token quota would not.
pub async fn suggest_budget(warehouse: &Warehouse, goal: &BudgetGoal) -> Result<BudgetSuggestion> {
    if !matches!(goal.key, LimitKey::User | LimitKey::UserGroup) {
        return Err(Error::Usage(format!(
            "suggest limits keys budgets by user or user_group, not {}",
            goal.key.as_str()
        )));
    }
    let warn = crate::money::round(goal.amount * Decimal::new(WARN_AT_PERCENT, 2), 2);
    let key = goal.key.as_str();
    let budget = |amount: Decimal, enforcement: &str| {
        format!(
            "\n[[budget]]\nkey = \"{key}\"\nbudget = \"{amount} {}\"\nrenewal_period = \"month\"\nenforcement = \"{enforcement}\"\n",
            goal.currency
        )
    };
    let text = format!(
        "# Proposed by `tokenledger suggest limits` from the requests of {} .. {}:\n\
         # each {key} at most {} {} a month, warned at {WARN_AT_PERCENT}%.\n{}{}",
        goal.from,
        goal.to,
        goal.amount,
        goal.currency,
        budget(goal.amount, "hard"),
        budget(warn, "soft"),
    );
    let limits = Limits::from_toml_str(&text, "the proposed limits.toml")
        .map_err(|e| Error::Internal(format!("the proposal does not parse: {e}")))?;
    let options = SimulateOptions { from: goal.from, to: goal.to, retry_after: false, memory_limit: goal.memory_limit };
    let simulation = simulate(warehouse, &limits, &options).await?;
    if simulation.endpoints.is_empty() {
        return Err(Error::Usage(format!(
            "no requests between {} and {}: nothing to suggest a budget from; check --from and --to",
            goal.from, goal.to
        )));
    }
    // the hard budget's line: the first block
    let hard_line = limits.budgets.first().map(|b| b.line);
    let met = simulation.budgets.iter().filter(|b| Some(b.budget.line) == hard_line).all(|b| b.not_counted == 0);
    Ok(BudgetSuggestion {
        from: goal.from,
        to: goal.to,
        key: goal.key,
        amount: goal.amount,
        currency: goal.currency.clone(),
        limits_toml: text,
        met,
        simulation,
        limits,
    })
}

/// A string as a TOML (and YAML, and JSON) double-quoted string.
pub(crate) fn quoted(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| format!("\"{}\"", text.escape_default()))
}

/// The proposal as limits.toml text: a header saying where it came from, one block per
/// endpoint with a limit, and a comment for each endpoint without one.
fn limits_toml(opts: &SuggestOptions, found: &[(&str, Found)]) -> String {
    let (from, to, goal) = (opts.from, opts.to, opts.goal.describe(opts.key));
    let mut out =
        format!("# Proposed by `tokenledger suggest limits` from the requests of {from} .. {to}:\n# {goal}.\n");
    for (endpoint, found) in found {
        match found {
            Found::Limit(tokens) => out.push_str(&format!(
                "\n[[endpoint]]\nname = {}\n\n[[endpoint.limit]]\nkey = \"{}\"\ntokens = {tokens}\nrenewal_period = \"minute\"\n",
                quoted(endpoint),
                opts.key.as_str()
            )),
            Found::NotNeeded => out.push_str(&format!("\n# {endpoint}: meets the goal without a limit\n")),
            Found::Unreachable => out.push_str(&format!(
                "\n# {endpoint}: no tokens-per-minute limit per {} meets the goal (a principal busy in most minutes keeps a large share under any limit)\n",
                opts.key.as_str()
            )),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demand(principals: &[(&str, &[(u64, u64)])]) -> EndpointDemand {
        EndpointDemand { principals: principals.iter().map(|(p, m)| (p.to_string(), m.to_vec())).collect() }
    }

    /// ana busy in two minutes, bob in three (calls, tokens).
    fn history() -> EndpointDemand {
        demand(&[
            ("ana", &[(4, 1_150_000), (3, 2_000_000)]),
            ("bob", &[(2, 1_000_000), (1, 1_000_001), (1, 1_000_000)]),
            ("carol", &[(1, 10_000)]),
        ])
    }

    fn pct(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn rejections_are_estimated_per_minute_rounded_up() {
        let d = history();
        assert_eq!(d.rejected_estimate(2_000_000), 0);
        // ana's second minute loses 3 × 0.6M / 2M = 0.9 of a request: one
        assert_eq!(d.rejected_estimate(1_400_000), 1);
        assert_eq!(d.rejected_estimate(1_333_333), 2);
        assert_eq!(d.rejected_estimate(1_333_334), 1);
        // and from 1.15M down her first minute too
        assert_eq!(d.rejected_estimate(1_149_999), 3);
    }

    #[test]
    fn reject_at_most_finds_the_smallest_limit_and_rounds_it_up() {
        let d = history();
        // 10% of 12 requests: one may go; the smallest limit is 1,333,334, read as 1.4M
        assert_eq!(search(&d, Goal::RejectAtMost(pct("10"))), Found::Limit(1_400_000));
        // 20%: two; 1,150,000, read as 1.2M (two rejected: still within)
        assert_eq!(search(&d, Goal::RejectAtMost(pct("20"))), Found::Limit(1_200_000));
        // none at all: the peak
        assert_eq!(search(&d, Goal::RejectAtMost(Decimal::ZERO)), Found::Limit(2_000_000));
        assert_eq!(search(&demand(&[("ana", &[(3, 0)])]), Goal::RejectAtMost(Decimal::ONE)), Found::NotNeeded);
    }

    /// ana sends 900k tokens in each of two minutes, bob 123,456 in each of three, carol 100k in
    /// each of three: under L (≥ 123,456) ana has 2L of 2L + 670,368, at most half up to
    /// L = 335,184; 340,000 would give her 50.35%.
    fn shares() -> EndpointDemand {
        demand(&[
            ("ana", &[(9, 900_000), (9, 900_000)]),
            ("bob", &[(1, 123_456), (1, 123_456), (1, 123_456)]),
            ("carol", &[(1, 100_000), (1, 100_000), (1, 100_000)]),
        ])
    }

    #[test]
    fn max_share_finds_the_largest_limit_and_keeps_it_exact_when_rounding_would_miss() {
        let d = shares();
        assert_eq!(search(&d, Goal::MaxShare(pct("50"))), Found::Limit(335_184));
        assert_eq!(d.top_share(335_184), pct("50"));
        assert!(d.top_share(340_000) > pct("50"));
        // at most 60% holds up to L = 502,776; rounded up (510,000) it would not: exact
        assert_eq!(search(&d, Goal::MaxShare(pct("60"))), Found::Limit(502_776));
        // ana has 72.86% with no limit
        assert_eq!(search(&d, Goal::MaxShare(pct("80"))), Found::NotNeeded);
    }

    #[test]
    fn max_share_looks_past_a_tight_limit_that_favours_the_busiest_minutes() {
        // under a tiny limit bob (three minutes) has 60% of the tokens, ana (two) 40%; with
        // none ana's peaks give her 66.67%. Between, each has at most 55% from L = 1,227,273
        // (bob) to L = 1,833,333 (ana): 2L of 2L + 3M.
        let d = demand(&[("ana", &[(1, 3_000_000), (1, 3_000_000)]), ("bob", &[(1, 1_000_000); 3])]);
        assert!(!d.meets(Goal::MaxShare(pct("55")), 1));
        assert_eq!(search(&d, Goal::MaxShare(pct("55"))), Found::Limit(1_833_333));
        // the least any limit leaves the largest is 50% (both, at L = 1.5M): 30% is out of reach
        assert_eq!(search(&d, Goal::MaxShare(pct("30"))), Found::Unreachable);
    }

    #[test]
    fn numbers_read_with_two_significant_figures() {
        assert_eq!(readable(1_333_334), 1_400_000);
        assert_eq!(readable(1_150_000), 1_200_000);
        assert_eq!(readable(2_000_000), 2_000_000);
        assert_eq!(readable(99), 99);
        assert_eq!(readable(101), 110);
        assert_eq!(readable(0), 0);
    }

    #[test]
    fn percentages_parse_with_or_without_the_sign() {
        assert_eq!(parse_percent("40%"), Ok(pct("40")));
        assert_eq!(parse_percent("0.1%"), Ok(pct("0.1")));
        assert_eq!(parse_percent("12.50"), Ok(pct("12.5")));
        assert!(parse_percent("100%").unwrap_err().contains("between 0% and 100%"));
        assert!(parse_percent("-1%").is_err());
        assert!(parse_percent("forty").unwrap_err().contains("40%"));
    }
}
