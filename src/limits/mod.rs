//! Limits: the history replayed under proposed gateway rate limits (`config/limits.toml`), to
//! see before anyone changes the gateway who would have been rejected, how much traffic and
//! spend that is, and who would be hit who never saw a 429 before.
//!
//! The requests of the range are read from the model's `priced_requests` view (who pays, the
//! group, the cost) in time order, streamed: the replay keeps the counts of the current minute
//! only ([`window`]), and one line of totals per endpoint and principal. Requests the history
//! already shows as rejected (429) are not traffic to replay (the gateway turned them away
//! then too); they say who saw a 429 before.

pub mod budget;
pub mod chart;
pub mod demand;
pub mod emit;
pub mod suggest;
pub mod window;

use std::collections::{BTreeMap, BTreeSet};

use foldhash::{HashMap, HashSet};

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Decimal128Type, Int32Type, Int64Type};
use chrono::NaiveDate;
use futures::StreamExt;
use rust_decimal::Decimal;

use crate::error::{Error, Result};
use crate::model::{Inputs, session_with_memory};
use crate::pricing::{LimitKey, Limits};
use crate::warehouse::Warehouse;

pub use budget::BudgetOutcome;
pub use window::{NameId, Names, Outcome, Replay, Request, minute_of};

/// The status the gateway answers a request over a limit with.
pub const RATE_LIMITED: i32 = 429;

/// How to replay.
#[derive(Debug, Clone)]
pub struct SimulateOptions {
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// A rejected request is sent again once, at the start of the next minute.
    pub retry_after: bool,
    /// Bytes the query may hold before it spills to disk (its sort by time).
    pub memory_limit: usize,
}

/// Money by currency (a range may hold usage priced in several), exact.
pub type Spend = BTreeMap<String, Decimal>;

/// What the replay did to one principal's traffic on one endpoint.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct PrincipalOutcome {
    pub endpoint: String,
    pub requester: String,
    pub group: String,
    /// Requests replayed (the history's, less its 429s) and their tokens.
    pub requests: u64,
    pub tokens: u64,
    /// Rejected for good (with --retry-after: after their retry too).
    pub rejected_requests: u64,
    pub rejected_tokens: u64,
    /// Rejected once, then admitted on the retry in the next minute.
    pub delayed_requests: u64,
    /// Minutes in which a request of theirs was rejected.
    pub minutes_affected: u64,
    /// The cost of the requests rejected for good, by currency: spend that would not have happened.
    pub spend_avoided: Spend,
    /// Rejected requests without a price (their spend is unknown, not zero).
    pub rejected_unpriced: u64,
    /// Their share (percent) of the endpoint's tokens, before and after the limits.
    pub token_share_before: Decimal,
    pub token_share_after: Decimal,
    /// 429s the history shows them.
    pub history_429s: u64,
    /// The lines of limits.toml of the limits that rejected them.
    pub limit_lines: BTreeSet<usize>,
    #[serde(skip)]
    last_minute_rejected: Option<i64>,
}

/// The replay of a range.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Simulation {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub retry_after: bool,
    /// One line per endpoint and principal, the most rejected first.
    pub principals: Vec<PrincipalOutcome>,
    /// The endpoints' totals (requester and group empty; minutes_affected counts the minutes in
    /// which anyone on the endpoint was rejected; the token shares are 100 and the percentage of
    /// the endpoint's tokens still served).
    pub endpoints: Vec<PrincipalOutcome>,
    /// The principals who would be rejected and saw no 429 on that endpoint in the range.
    pub blast_radius: Vec<PrincipalOutcome>,
    /// What each dollar budget did, per principal it counted (file order, then principal).
    pub budgets: Vec<BudgetOutcome>,
}

/// Replays the requests of `from ..= to` under `limits`.
pub async fn simulate(warehouse: &Warehouse, limits: &Limits, opts: &SimulateOptions) -> Result<Simulation> {
    if opts.from > opts.to {
        return Err(Error::EmptyRange { from: opts.from, to: opts.to });
    }
    let ctx = session_with_memory(warehouse, &Inputs::load(warehouse).await?, opts.memory_limit).await?;
    let dates = format!("request_date BETWEEN DATE '{}' AND DATE '{}'", opts.from, opts.to);
    let service_principals = if limits.limits.iter().any(|l| l.key == LimitKey::ServicePrincipal) {
        service_principals(&ctx, &dates).await?
    } else {
        HashSet::default()
    };
    // request_id orders requests of the same instant, so replays are deterministic. A request
    // served by a provisioned-throughput pool costs nothing at the margin (the pool's hours are
    // paid whether it is sent or not): rejecting it saves nothing and it spends no budget.
    let sql = format!(
        "SELECT request_time, endpoint_name, requester, \"group\", status_code, \
                input_tokens + cache_read_input_tokens + cache_creation_input_tokens + output_tokens AS tokens, \
                CASE WHEN pricing_mode = 'provisioned' THEN CAST(0 AS DECIMAL(38, {COST_SCALE})) ELSE cost END AS cost, \
                currency \
         FROM priced_requests WHERE {dates} ORDER BY request_time, request_id"
    );
    let mut stream = ctx.sql(&sql).await?.execute_stream().await?;
    let mut tally = Tally::default();
    let mut replay = Replay::new(limits, opts.retry_after);
    let service_principals: HashSet<NameId> = service_principals.iter().map(|name| replay.names().id(name)).collect();
    let mut next_id = 0u64;
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(|e| Error::from(e).with_memory_hint("the simulation", Some(opts.memory_limit)))?;
        // each column as one type, whatever the plan chose (string views, dictionaries)
        let typed = |i: usize, to: &DataType| arrow::compute::cast(batch.column(i), to);
        let [endpoint, requester, group, currency] = [1, 2, 3, 7].map(|i| typed(i, &DataType::Utf8));
        let (endpoint, requester, group, currency) = (endpoint?, requester?, group?, currency?);
        let [endpoint, requester, group, currency] =
            [&endpoint, &requester, &group, &currency].map(|a| a.as_string::<i32>());
        let (time, tokens, status) =
            (typed(0, &DataType::Int64)?, typed(5, &DataType::Int64)?, typed(4, &DataType::Int32)?);
        let (time, tokens) = (time.as_primitive::<Int64Type>(), tokens.as_primitive::<Int64Type>());
        let status = status.as_primitive::<Int32Type>();
        let cost = typed(6, &DataType::Decimal128(38, COST_SCALE))?;
        let cost = cost.as_primitive::<Decimal128Type>();
        for row in 0..batch.num_rows() {
            let names = replay.names();
            let requester = names.id(requester.value(row));
            let request = Request {
                id: next_id,
                minute: minute_of(time.value(row)),
                endpoint: names.id(endpoint.value(row)),
                requester,
                group: names.id(group.value(row)),
                service_principal: service_principals.contains(&requester),
                tokens: u64::try_from(tokens.value(row)).unwrap_or(0),
                cost: if cost.is_null(row) { None } else { Some(decimal(cost.value(row))?) },
                currency: (!currency.is_null(row)).then(|| names.id(currency.value(row))),
            };
            next_id += 1;
            if status.value(row) == RATE_LIMITED {
                tally.row(&request).outcome.history_429s += 1;
                continue;
            }
            let line = &mut tally.row(&request).outcome;
            line.requests += 1;
            line.tokens += request.tokens;
            replay.push(request, &mut |o| tally.record(&o));
        }
    }
    replay.finish(&mut |o| tally.record(&o));
    let (budgets, names) = replay.into_outcomes();
    Ok(tally.into_simulation(opts, budgets, &names))
}

/// The requesters of the range whose requests say they are service principals.
async fn service_principals(ctx: &datafusion::prelude::SessionContext, dates: &str) -> Result<HashSet<String>> {
    let batches = ctx
        .sql(&format!(
            "SELECT DISTINCT requester FROM inference WHERE requester_type = 'service_principal' AND {dates}"
        ))
        .await?
        .collect()
        .await?;
    let mut names = HashSet::default();
    for batch in &batches {
        let column = arrow::compute::cast(batch.column(0), &DataType::Utf8)?;
        let column = column.as_string::<i32>();
        names.extend((0..batch.num_rows()).map(|i| column.value(i).to_string()));
    }
    Ok(names)
}

/// The scale costs are read at: the model's ([`crate::model::PRICE_SCALE`]).
const COST_SCALE: i8 = crate::model::PRICE_SCALE;

/// A cost read at [`COST_SCALE`] as a decimal, exactly.
fn decimal(mantissa: i128) -> Result<Decimal> {
    Decimal::try_from_i128_with_scale(mantissa, COST_SCALE as u32)
        .map_err(|e| Error::Internal(format!("a cost does not fit a decimal: {e}")))
}

/// One line of the tally: the outcome, its names filled in at the end, and the spend avoided
/// by currency id.
#[derive(Default)]
struct Line {
    outcome: PrincipalOutcome,
    spend_avoided: BTreeMap<NameId, Decimal>,
}

/// The totals per endpoint and principal (endpoint, requester and group ids), as the replay goes.
#[derive(Default)]
struct Tally {
    rows: HashMap<(NameId, NameId, NameId), Line>,
    /// The minutes in which anyone on an endpoint was rejected (they overlap between
    /// principals, so they are counted as the replay goes); the rest of the endpoints' totals
    /// are summed from `rows` at the end.
    endpoint_minutes: HashMap<NameId, PrincipalOutcome>,
}

/// Counts `minute` in `row`'s minutes affected unless it is the one counted last (the replay
/// decides in time order, so a minute never comes back).
fn count_minute(row: &mut PrincipalOutcome, minute: i64) {
    if row.last_minute_rejected != Some(minute) {
        row.last_minute_rejected = Some(minute);
        row.minutes_affected += 1;
    }
}

/// The line of `endpoint`'s totals.
fn endpoint_total<'a>(totals: &'a mut BTreeMap<String, PrincipalOutcome>, endpoint: &str) -> &'a mut PrincipalOutcome {
    totals
        .entry(endpoint.to_string())
        .or_insert_with(|| PrincipalOutcome { endpoint: endpoint.to_string(), ..Default::default() })
}

impl Tally {
    fn row(&mut self, request: &Request) -> &mut Line {
        self.rows.entry((request.endpoint, request.requester, request.group)).or_default()
    }

    fn record(&mut self, outcome: &Outcome<'_>) {
        let request = outcome.request;
        if outcome.rejected_by.is_empty() {
            self.row(request).outcome.delayed_requests += u64::from(outcome.retry);
            return;
        }
        count_minute(self.endpoint_minutes.entry(request.endpoint).or_default(), outcome.minute);
        let line = self.row(request);
        let row = &mut line.outcome;
        row.limit_lines.extend(&outcome.rejected_by);
        count_minute(row, outcome.minute);
        if outcome.will_retry {
            return;
        }
        row.rejected_requests += 1;
        row.rejected_tokens += request.tokens;
        match (&request.cost, &request.currency) {
            (Some(cost), Some(currency)) => *line.spend_avoided.entry(*currency).or_default() += cost,
            _ => row.rejected_unpriced += 1,
        }
    }

    fn into_simulation(self, opts: &SimulateOptions, budgets: Vec<BudgetOutcome>, names: &Names) -> Simulation {
        let mut endpoints: BTreeMap<String, PrincipalOutcome> = BTreeMap::new();
        for (id, minutes) in &self.endpoint_minutes {
            endpoint_total(&mut endpoints, names.name(*id)).minutes_affected = minutes.minutes_affected;
        }
        let mut principals = Vec::with_capacity(self.rows.len());
        for ((endpoint, requester, group), line) in self.rows {
            let mut row = line.outcome;
            (row.endpoint, row.requester, row.group) =
                (names.name(endpoint).to_string(), names.name(requester).to_string(), names.name(group).to_string());
            for (currency, amount) in line.spend_avoided {
                *row.spend_avoided.entry(names.name(currency).to_string()).or_default() += amount;
            }
            let total = endpoint_total(&mut endpoints, &row.endpoint);
            total.requests += row.requests;
            total.tokens += row.tokens;
            total.rejected_requests += row.rejected_requests;
            total.rejected_tokens += row.rejected_tokens;
            total.delayed_requests += row.delayed_requests;
            total.rejected_unpriced += row.rejected_unpriced;
            total.history_429s += row.history_429s;
            total.limit_lines.extend(&row.limit_lines);
            for (currency, amount) in &row.spend_avoided {
                *total.spend_avoided.entry(currency.clone()).or_default() += amount;
            }
            principals.push(row);
        }
        for row in &mut principals {
            let total = &endpoints[&row.endpoint];
            row.token_share_before = percent(row.tokens, total.tokens);
            row.token_share_after = percent(row.tokens - row.rejected_tokens, total.tokens - total.rejected_tokens);
        }
        principals.sort_by(|a, b| {
            (b.rejected_requests, b.rejected_tokens)
                .cmp(&(a.rejected_requests, a.rejected_tokens))
                .then_with(|| (&a.endpoint, &a.requester, &a.group).cmp(&(&b.endpoint, &b.requester, &b.group)))
        });
        let blast_radius =
            principals.iter().filter(|p| p.rejected_requests > 0 && p.history_429s == 0).cloned().collect();
        for total in endpoints.values_mut() {
            total.token_share_before = percent(total.tokens, total.tokens);
            total.token_share_after = percent(total.tokens - total.rejected_tokens, total.tokens);
        }
        Simulation {
            from: opts.from,
            to: opts.to,
            retry_after: opts.retry_after,
            principals,
            endpoints: endpoints.into_values().collect(),
            blast_radius,
            budgets,
        }
    }
}

/// `part` of `whole` in percent, to 2 places (0 of nothing is 0).
fn percent(part: u64, whole: u64) -> Decimal {
    if whole == 0 {
        return Decimal::ZERO;
    }
    crate::money::round(Decimal::from(part) * Decimal::ONE_HUNDRED / Decimal::from(whole), 2)
}
