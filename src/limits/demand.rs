//! The observed per-minute demand: per endpoint, principal and UTC minute, the calls and
//! tokens the history sent, as one DataFusion aggregate over `priced_requests`. It is what a
//! limit is measured against (`suggest limits` searches it, `simulate limits --chart` draws
//! it), and it is small: minutes × principals, not the requests.
//!
//! Demand is defined as the replay sees traffic: tokens are input + cache read + cache write +
//! output, and the history's 429s are not demand (the gateway turned them away then too).

use std::collections::BTreeSet;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Int64Type};
use chrono::NaiveDate;
use datafusion::prelude::SessionContext;
use futures::StreamExt;

use super::{RATE_LIMITED, minute_of};
use crate::error::{Error, Result};
use crate::model::{Inputs, session_with_memory};
use crate::pricing::LimitKey;
use crate::warehouse::Warehouse;

/// What to aggregate.
#[derive(Debug, Clone)]
pub struct DemandQuery {
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// Whose traffic a minute counts: `User` and `ServicePrincipal` the requester's, `UserGroup`
    /// the group's, `Endpoint` everyone's (the principal is then empty).
    pub key: LimitKey,
    /// Only this endpoint.
    pub endpoint: Option<String>,
    /// Only this principal (a requester, or a group with key `UserGroup`).
    pub principal: Option<String>,
}

/// One principal's traffic on one endpoint in one UTC minute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MinuteDemand {
    pub endpoint: String,
    pub principal: String,
    /// Minutes since the Unix epoch.
    pub minute: i64,
    pub calls: u64,
    pub tokens: u64,
}

/// A SQL string literal.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// A session over the warehouse's model, its memory bounded.
pub(crate) async fn session(warehouse: &Warehouse, memory_limit: usize) -> Result<SessionContext> {
    session_with_memory(warehouse, &Inputs::load(warehouse).await?, memory_limit).await
}

/// The range's rows of `priced_requests` that are demand (`WHERE` conditions).
fn demand_rows(from: NaiveDate, to: NaiveDate, endpoint: Option<&str>) -> String {
    let mut conditions = vec![
        format!("request_date BETWEEN DATE '{from}' AND DATE '{to}'"),
        // a NULL status is traffic, as in the replay
        format!("coalesce(status_code, 0) <> {RATE_LIMITED}"),
    ];
    if let Some(endpoint) = endpoint {
        conditions.push(format!("endpoint_name = {}", literal(endpoint)));
    }
    conditions.join(" AND ")
}

/// Streams the per-minute demand of `query` into `each`, in no particular order.
pub async fn scan(
    ctx: &SessionContext,
    query: &DemandQuery,
    memory_limit: usize,
    mut each: impl FnMut(MinuteDemand),
) -> Result<()> {
    if query.from > query.to {
        return Err(Error::EmptyRange { from: query.from, to: query.to });
    }
    let principal = match query.key {
        LimitKey::User | LimitKey::ServicePrincipal => "coalesce(requester, '')",
        LimitKey::UserGroup => "coalesce(\"group\", '')",
        LimitKey::Endpoint => "''",
    };
    let mut rows = demand_rows(query.from, query.to, query.endpoint.as_deref());
    if let Some(name) = &query.principal {
        rows.push_str(&format!(" AND {principal} = {}", literal(name)));
    }
    let sql = format!(
        "SELECT endpoint_name, {principal} AS principal, date_trunc('minute', request_time) AS minute, \
                count(*) AS calls, \
                sum(input_tokens + cache_read_input_tokens + cache_creation_input_tokens + output_tokens) AS tokens \
         FROM priced_requests WHERE {rows} GROUP BY 1, 2, 3"
    );
    let mut stream = ctx.sql(&sql).await?.execute_stream().await?;
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(|e| Error::from(e).with_memory_hint("the per-minute demand", Some(memory_limit)))?;
        let typed = |i: usize, to: &DataType| arrow::compute::cast(batch.column(i), to);
        let (endpoint, principal) = (typed(0, &DataType::Utf8)?, typed(1, &DataType::Utf8)?);
        let (endpoint, principal) = (endpoint.as_string::<i32>(), principal.as_string::<i32>());
        let [minute, calls, tokens] = [2, 3, 4].map(|i| typed(i, &DataType::Int64));
        let (minute, calls, tokens) = (minute?, calls?, tokens?);
        let [minute, calls, tokens] = [&minute, &calls, &tokens].map(|a| a.as_primitive::<Int64Type>());
        for row in 0..batch.num_rows() {
            let count = |a: &arrow::array::PrimitiveArray<Int64Type>| {
                if a.is_null(row) { 0 } else { u64::try_from(a.value(row)).unwrap_or(0) }
            };
            each(MinuteDemand {
                endpoint: endpoint.value(row).to_string(),
                principal: principal.value(row).to_string(),
                minute: minute_of(minute.value(row)),
                calls: count(calls),
                tokens: count(tokens),
            });
        }
    }
    Ok(())
}

/// Who the range's requests on each endpoint came from, for the gateways' configuration of a
/// limit that names no principal or no endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Seen {
    /// (endpoint, requester, group) of every request of the range.
    pub rows: BTreeSet<(String, String, String)>,
}

impl Seen {
    pub fn endpoints(&self) -> BTreeSet<&str> {
        self.rows.iter().map(|(e, _, _)| e.as_str()).collect()
    }

    pub fn users_on(&self, endpoint: &str) -> BTreeSet<&str> {
        self.rows.iter().filter(|(e, _, _)| e == endpoint).map(|(_, r, _)| r.as_str()).collect()
    }

    pub fn groups_on(&self, endpoint: &str) -> BTreeSet<&str> {
        self.rows.iter().filter(|(e, _, _)| e == endpoint).map(|(_, _, g)| g.as_str()).collect()
    }
}

/// The endpoints, requesters and groups of the range's requests (429s included: they are
/// principals the gateway knows).
pub async fn seen(ctx: &SessionContext, from: NaiveDate, to: NaiveDate) -> Result<Seen> {
    if from > to {
        return Err(Error::EmptyRange { from, to });
    }
    let batches = ctx
        .sql(&format!(
            "SELECT DISTINCT endpoint_name, coalesce(requester, ''), coalesce(\"group\", '') FROM priced_requests \
             WHERE request_date BETWEEN DATE '{from}' AND DATE '{to}'"
        ))
        .await?
        .collect()
        .await?;
    let mut seen = Seen::default();
    for batch in &batches {
        let columns =
            (0..3).map(|i| arrow::compute::cast(batch.column(i), &DataType::Utf8)).collect::<Result<Vec<_>, _>>()?;
        let [e, r, g] = [0, 1, 2].map(|i| columns[i].as_string::<i32>());
        for row in 0..batch.num_rows() {
            seen.rows.insert((e.value(row).to_string(), r.value(row).to_string(), g.value(row).to_string()));
        }
    }
    Ok(seen)
}
