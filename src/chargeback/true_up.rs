//! `chargeback --true-up`: charge back the invoice, not the estimate. The month's latest
//! reconciliation (the `reconciliation` table, written by `tokenledger reconcile`) says, per
//! day x provider x the provider's model, what the bill charged beyond (or short of) the
//! ledger. Each such difference becomes `true_up` lines, allocated to the chargeback's keys by
//! their share of that day's ledger cost for that model (largest remainder, at the bill's
//! precision, so the shares add up to the difference exactly); a difference with no ledger
//! cost to share it goes to an UNALLOCATED line. The chargeback's lines then add up to the
//! bills for the providers they cover.

use std::collections::BTreeMap;

use arrow::datatypes::DataType;
use datafusion::prelude::SessionContext;
use rust_decimal::Decimal;

use super::{cast_columns, text_at};
use crate::error::{Error, Result};
use crate::model::bill_models_table;
use crate::money::largest_remainder;
use crate::pricing::{BillMapping, PriceBook, UNALLOCATED_COST_CENTER};
use crate::warehouse::Warehouse;
use crate::warehouse::schema::{BILL_MONEY_SCALE, RECONCILIATION};

/// (date, provider, provider_model, currency): the grain a reconciliation says bill - ledger at.
type ModelDay = (String, String, String, String);

/// The true-up of one period.
#[derive(Debug, Clone, Default)]
pub struct TrueUp {
    /// (keys, currency) -> amount, exact.
    pub amounts: BTreeMap<(Vec<String>, String), Decimal>,
    /// The reconciliation it comes from, and the bill files it rests on (fingerprint, path).
    pub reconcile_id: String,
    pub bill_files: Vec<(String, String)>,
    /// Bill - ledger per currency over the providers the bills cover.
    pub difference: BTreeMap<String, Decimal>,
}

/// The true-up of `period` (`YYYY-MM`) by the key `columns` of usage_daily (registered as
/// `usage` in `ctx`, at the version the chargeback reads). `capacity_from_bill`: the
/// chargeback's pool hours are the bill's already, so the reconciliation's `capacity` rows
/// (provisioned endpoints' bill against capacity.csv's rates) are not trued up again.
pub async fn true_up(
    ctx: &SessionContext,
    warehouse: &Warehouse,
    period: &str,
    columns: &[&str],
    capacity_from_bill: bool,
) -> Result<TrueUp> {
    if !warehouse.has_table(RECONCILIATION).await? {
        return Err(Error::Usage(format!(
            "--true-up charges back the bills, and no bill was reconciled yet: run `tokenledger bill import FILE...` \
             and `tokenledger reconcile --period {period}` first"
        )));
    }
    let engine = warehouse.engine();
    let table = warehouse.open_table(RECONCILIATION).await?;
    ctx.register_table(RECONCILIATION, engine.delta_table(ctx, &table).await?)?;
    let book = PriceBook::load(&warehouse.config_file("prices.csv").await?)?;
    let mapping = BillMapping::load(&warehouse.config_file("bill_mapping.csv").await?)?;
    ctx.register_table("bill_models", engine.small_table(bill_models_table(&book, &mapping)?)?)?;
    let period_sql = period.replace('\'', "''");
    // the differences per day x provider x model
    let difference = match capacity_from_bill {
        true => "CASE WHEN charge_kind = 'capacity' THEN 0 ELSE difference END",
        false => "difference",
    };
    let diffs_sql = format!(
        "SELECT CAST(\"date\" AS VARCHAR), provider, provider_model, COALESCE(currency, ''), \
                CAST(sum({difference}) AS VARCHAR), max(reconcile_id) \
         FROM {RECONCILIATION} WHERE period = '{period_sql}' AND difference IS NOT NULL \
         GROUP BY \"date\", provider, provider_model, COALESCE(currency, '')"
    );
    let mut result = TrueUp::default();
    let mut diffs: BTreeMap<ModelDay, Decimal> = BTreeMap::new();
    for b in ctx.sql(&diffs_sql).await?.collect().await? {
        let t = cast_columns(&b, 0..6, &DataType::Utf8)?;
        for row in 0..b.num_rows() {
            let amount = decimal(&text_at(&t[4], row))?;
            let key = (text_at(&t[0], row), text_at(&t[1], row), text_at(&t[2], row), text_at(&t[3], row));
            *result.difference.entry(key.3.clone()).or_default() += amount;
            diffs.insert(key, amount);
            result.reconcile_id = text_at(&t[5], row);
        }
    }
    if diffs.is_empty() {
        return Err(Error::Usage(format!(
            "no reconciliation of {period} to true up: run `tokenledger reconcile --period {period}` after importing \
             its bills"
        )));
    }
    // each key's ledger cost per day x provider x model, to share the differences by
    let keys: Vec<String> = columns.iter().map(|c| format!("u.\"{c}\"")).collect();
    let shares_sql = format!(
        "SELECT CAST(u.\"date\" AS VARCHAR), COALESCE(m.provider, u.provider), \
                COALESCE(m.provider_model, u.served_entity_name), u.currency, {keys}, CAST(sum(u.cost) AS VARCHAR) \
         FROM usage u LEFT JOIN bill_models m ON m.served_entity_name = u.served_entity_name \
         WHERE u.cost IS NOT NULL AND u.\"date\" IN (SELECT DISTINCT \"date\" FROM {RECONCILIATION} WHERE period = '{period_sql}') \
         GROUP BY 1, 2, 3, 4, {keys}",
        keys = keys.join(", ")
    );
    let mut shares: BTreeMap<ModelDay, Vec<(Vec<String>, Decimal)>> = BTreeMap::new();
    for b in ctx.sql(&shares_sql).await?.collect().await? {
        let n = columns.len();
        let t = cast_columns(&b, 0..5 + n, &DataType::Utf8)?;
        for row in 0..b.num_rows() {
            let key = (text_at(&t[0], row), text_at(&t[1], row), text_at(&t[2], row), text_at(&t[3], row));
            let line_keys: Vec<String> = (0..n).map(|i| text_at(&t[4 + i], row)).collect();
            shares.entry(key).or_default().push((line_keys, decimal(&text_at(&t[4 + n], row))?));
        }
    }
    // the bill lines that count (as reconcile counts them), for the accounts and the manifest
    let month = crate::time::Period::month(period)?;
    let last = month.end.pred_opt().unwrap_or(month.end);
    let has_bills = crate::model::register_counted_bill_lines(ctx, warehouse, month.start, last).await?.is_some();
    let accounts = if has_bills { bill_accounts(ctx, &mapping).await? } else { BTreeMap::new() };
    let cost_center_key = columns.iter().position(|c| *c == "cost_center");
    for (key, diff) in diffs {
        let currency = key.3.clone();
        let parts = shares.get(&key).filter(weighs);
        let Some(parts) = parts else {
            // no logged usage to share it by: the cost centers of the bill's accounts where
            // config/bill_mapping.csv names them, else UNALLOCATED
            let by_account = accounts.get(&(key.0.clone(), key.1.clone(), key.2.clone()));
            let by_account = by_account.filter(weighs);
            let owners: Vec<(String, Decimal)> =
                by_account.cloned().unwrap_or_else(|| vec![(UNALLOCATED_COST_CENTER.to_string(), Decimal::ONE)]);
            let weights: Vec<Decimal> = owners.iter().map(|(_, c)| *c).collect();
            for ((cost_center, _), amount) in owners.iter().zip(shares_of(diff, &weights)) {
                let mut keys = vec![UNALLOCATED_COST_CENTER.to_string(); columns.len()];
                if let Some(i) = cost_center_key {
                    keys[i] = cost_center.clone();
                }
                *result.amounts.entry((keys, currency.clone())).or_default() += amount;
            }
            continue;
        };
        let weights: Vec<Decimal> = parts.iter().map(|(_, c)| *c).collect();
        for ((line_keys, _), amount) in parts.iter().zip(shares_of(diff, &weights)) {
            *result.amounts.entry((line_keys.clone(), currency.clone())).or_default() += amount;
        }
    }
    if has_bills {
        let sql = "SELECT DISTINCT source_file_fingerprint, source_file FROM counted_bill_lines ORDER BY 2, 1";
        for b in ctx.sql(sql).await?.collect().await? {
            let t = cast_columns(&b, 0..2, &DataType::Utf8)?;
            for row in 0..b.num_rows() {
                result.bill_files.push((text_at(&t[0], row), text_at(&t[1], row)));
            }
        }
    }
    Ok(result)
}

/// The month's billed cost per day x provider x model by the cost center of its account
/// (`config/bill_mapping.csv`'s account rows; UNALLOCATED for an account without one), of the
/// lines that count, as reconcile counts them.
async fn bill_accounts(
    ctx: &SessionContext,
    mapping: &BillMapping,
) -> Result<BTreeMap<(String, String, String), Vec<(String, Decimal)>>> {
    let sql = "SELECT CAST(bill_date AS VARCHAR), provider, COALESCE(provider_model, ''), COALESCE(account, ''), \
                      CAST(sum(cost) AS VARCHAR) \
               FROM counted_bill_lines WHERE cost IS NOT NULL GROUP BY 1, 2, 3, 4";
    let mut out: BTreeMap<(String, String, String), BTreeMap<String, Decimal>> = BTreeMap::new();
    for b in ctx.sql(sql).await?.collect().await? {
        let t = cast_columns(&b, 0..5, &DataType::Utf8)?;
        for row in 0..b.num_rows() {
            let (provider, account) = (text_at(&t[1], row), text_at(&t[3], row));
            let cost_center = mapping
                .accounts
                .iter()
                .find(|a| a.provider == provider && a.account == account)
                .map_or(UNALLOCATED_COST_CENTER.to_string(), |a| a.cost_center.clone());
            let key = (text_at(&t[0], row), provider, text_at(&t[2], row));
            *out.entry(key).or_default().entry(cost_center).or_default() += decimal(&text_at(&t[4], row))?;
        }
    }
    Ok(out.into_iter().map(|(k, v)| (k, v.into_iter().collect())).collect())
}

/// Whether weights can share an amount: their total is not zero (a credit beside an equal
/// charge weighs nothing, and dividing by it would fail).
fn weighs<K>(weights: &&Vec<(K, Decimal)>) -> bool {
    !weights.iter().map(|(_, w)| *w).sum::<Decimal>().is_zero()
}

/// `diff` split in proportion to `weights` (a positive total) at the bill's precision, by
/// largest remainder: the shares add up to `diff` exactly.
fn shares_of(diff: Decimal, weights: &[Decimal]) -> Vec<Decimal> {
    let total: Decimal = weights.iter().sum();
    let raw: Vec<Decimal> = weights.iter().map(|w| diff * *w / total).collect();
    largest_remainder(&raw, BILL_MONEY_SCALE as u32)
}

fn decimal(text: &str) -> Result<Decimal> {
    if text.is_empty() {
        return Ok(Decimal::ZERO);
    }
    text.parse::<Decimal>()
        .or_else(|_| Decimal::from_scientific(text))
        .map_err(|e| Error::Internal(format!("amount {text:?}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up_to_the_difference_exactly() {
        let diff: Decimal = "10.000000000000000000000001".parse().unwrap();
        let weights: Vec<Decimal> = ["1", "1", "1"].iter().map(|w| w.parse().unwrap()).collect();
        let shares = shares_of(diff, &weights);
        assert_eq!(shares.iter().sum::<Decimal>(), diff);
        assert!(shares.iter().all(|s| s.scale() <= BILL_MONEY_SCALE as u32), "{shares:?}");
    }
}
