//! The FOCUS 1.2 export (FinOps Open Cost and Usage Specification): one row per day, served
//! entity, endpoint, cost center and group, in the columns FinOps tools read. Costs are at
//! full precision (FOCUS costs are decimals; rounding is the reader's), and there are no
//! discounts, so BilledCost = EffectiveCost = ListCost = ContractedCost. Usage without a price
//! has no cost to report: it is left out and counted, never written as a zero. Provisioned
//! pools appear as their own rows per day (CapacityReservationId = the pool, status Used for
//! the busy hours' shares, Unused for the idle hours), and the traffic they serve at cost 0.
//! While the period is open, pools are charged through the end of the data (or `--through`),
//! as in the chargeback; the last day's pool rows then end (ChargePeriodEnd) at that instant.

use std::path::Path;

use arrow::datatypes::DataType;
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};

use super::{Period, cast_columns, int_at, register_pools, register_usage, text_at};
use crate::error::{Error, Result};
use crate::output::neutralise_unless_number;
use crate::warehouse::Warehouse;

/// FOCUS 1.2 columns written (the specification's, alphabetical), then tokenledger's `x_` ones.
pub const COLUMNS: [&str; 40] = [
    "AvailabilityZone",
    "BilledCost",
    "BillingAccountId",
    "BillingAccountName",
    "BillingCurrency",
    "BillingPeriodEnd",
    "BillingPeriodStart",
    "CapacityReservationId",
    "CapacityReservationStatus",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargeFrequency",
    "ChargePeriodEnd",
    "ChargePeriodStart",
    "ConsumedQuantity",
    "ConsumedUnit",
    "ContractedCost",
    "ContractedUnitPrice",
    "EffectiveCost",
    "InvoiceIssuerName",
    "ListCost",
    "ListUnitPrice",
    "PricingCategory",
    "PricingQuantity",
    "PricingUnit",
    "ProviderName",
    "PublisherName",
    "RegionId",
    "RegionName",
    "ResourceId",
    "ResourceName",
    "ResourceType",
    "ServiceCategory",
    "ServiceName",
    "SkuId",
    "SkuPriceId",
    "SubAccountId",
    "SubAccountName",
    "Tags",
];

/// Custom columns, prefixed `x_` as FOCUS requires.
pub const CUSTOM_COLUMNS: [&str; 7] = [
    "x_Group",
    "x_CostCenter",
    "x_Requests",
    "x_InputTokens",
    "x_CacheReadInputTokens",
    "x_CacheCreationInputTokens",
    "x_OutputTokens",
];

/// What a FOCUS export wrote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FocusExport {
    pub rows: usize,
    /// Sum of BilledCost per currency, unrounded.
    pub billed_cost: std::collections::BTreeMap<String, String>,
    /// Requests left out because they have no price.
    pub unpriced_requests: i64,
    /// Successful requests logged without token counts (their rows say 0 tokens, cost unknown).
    pub unmetered_requests: i64,
    /// Pools were charged through this instant (RFC 3339); `None` without pools.
    pub capacity_through: Option<String>,
    pub sha256: String,
}

/// Whether `pool` serves the traffic of `endpoint` / `entity` on `day`.
fn serves(pool: &crate::pricing::Pool, endpoint: &str, entity: &str, day: chrono::NaiveDate) -> bool {
    pool.endpoint_name.as_deref().is_none_or(|e| e == endpoint)
        && pool.served_entity_name.as_deref().is_none_or(|e| e == entity)
        && pool.effective_from <= day
        && pool.effective_to.is_none_or(|to| day < to)
}

/// The parts of a FOCUS row that vary; [`FocusRow::cells`] fills in the rest.
struct FocusRow {
    /// `Usage`, or `Adjustment` for a true-up to the provider's bill.
    category: &'static str,
    /// What is paid: after negotiated discounts.
    cost: Decimal,
    /// At the price book's list prices.
    list_cost: Decimal,
    currency: String,
    charge_start: chrono::NaiveDate,
    /// ChargePeriodEnd when the charge stops before the day's end (pools of an open period).
    charge_end: Option<String>,
    description: String,
    frequency: &'static str,
    quantity: String,
    unit: &'static str,
    unit_price: String,
    provider: String,
    resource: String,
    sku: String,
    sku_price: String,
    /// Capacity pool and `Used` / `Unused`.
    reservation: Option<(String, &'static str)>,
    cost_center: String,
    group: String,
    /// requests and the four token buckets
    counts: [i64; 5],
}

impl FocusRow {
    /// The cells in the order of [`COLUMNS`] then [`CUSTOM_COLUMNS`]. Billed, contracted and
    /// effective cost are what is paid (after a negotiated discount, `config/discounts.csv`);
    /// ListCost is the list price.
    fn cells(self, period: &Period) -> Vec<String> {
        let cost = self.cost.to_string();
        let list_cost = self.list_cost.to_string();
        let (reservation, status) =
            self.reservation.map_or((String::new(), String::new()), |(p, s)| (p, s.to_string()));
        let tags = serde_json::json!({ "group": self.group, "cost_center": self.cost_center }).to_string();
        let mut cells = vec![
            String::new(),                      // AvailabilityZone
            cost.clone(),                       // BilledCost
            "tokenledger".into(),               // BillingAccountId
            "tokenledger gateway usage".into(), // BillingAccountName
            self.currency,                      // BillingCurrency
            instant(period.end),                // BillingPeriodEnd (exclusive)
            instant(period.start),              // BillingPeriodStart
            reservation,                        // CapacityReservationId
            status,                             // CapacityReservationStatus
            self.category.into(),               // ChargeCategory
            String::new(),                      // ChargeClass (not a correction)
            self.description,                   // ChargeDescription
            self.frequency.into(),              // ChargeFrequency
            self.charge_end.unwrap_or_else(|| instant(self.charge_start.succ_opt().unwrap_or(self.charge_start))), // ChargePeriodEnd (exclusive)
            instant(self.charge_start),       // ChargePeriodStart
            self.quantity.clone(),            // ConsumedQuantity
            self.unit.into(),                 // ConsumedUnit
            cost.clone(),                     // ContractedCost
            self.unit_price.clone(),          // ContractedUnitPrice
            cost.clone(),                     // EffectiveCost
            self.provider.clone(),            // InvoiceIssuerName
            list_cost,                        // ListCost
            self.unit_price,                  // ListUnitPrice
            "Standard".into(),                // PricingCategory
            self.quantity,                    // PricingQuantity
            self.unit.into(),                 // PricingUnit
            self.provider.clone(),            // ProviderName
            self.provider,                    // PublisherName
            String::new(),                    // RegionId
            String::new(),                    // RegionName
            self.resource.clone(),            // ResourceId
            self.resource,                    // ResourceName
            "Serving Endpoint".into(),        // ResourceType
            "AI and Machine Learning".into(), // ServiceCategory
            "LLM inference".into(),           // ServiceName
            self.sku,                         // SkuId
            self.sku_price,                   // SkuPriceId
            self.cost_center.clone(),         // SubAccountId
            self.cost_center.clone(),         // SubAccountName
            tags,                             // Tags
            self.group,                       // x_Group
            self.cost_center,                 // x_CostCenter
        ];
        cells.extend(self.counts.iter().map(|n| n.to_string())); // x_Requests .. x_OutputTokens
        cells
    }
}

fn instant(date: chrono::NaiveDate) -> String {
    format!("{date}T00:00:00Z")
}

/// Writes the FOCUS rows of `period` (UTC days of `usage_daily`) to `path`, charging pools
/// through `through` (UTC microseconds) while the period is open, or the end of the data.
pub async fn write_focus(
    warehouse: &Warehouse,
    period: &Period,
    through: Option<i64>,
    true_up: bool,
    capacity_from_bill: bool,
    path: &Path,
) -> Result<FocusExport> {
    let ctx = warehouse.engine().context_with_memory(crate::engine::DEFAULT_MEMORY_LIMIT).await?;
    register_usage(&ctx, warehouse, "usage_daily", "usage", None).await?;
    let sql = format!(
        "SELECT CAST(\"date\" AS VARCHAR), served_entity_name, endpoint_name, provider, cost_center, \"group\", currency, \
                price_version, sum(requests), sum(input_tokens), sum(cache_read_input_tokens), \
                sum(cache_creation_input_tokens), sum(output_tokens), sum(unpriced_requests), CAST(sum(cost) AS VARCHAR), \
                sum(unmetered_requests), CAST(sum(COALESCE(list_cost, cost)) AS VARCHAR) \
         FROM usage WHERE \"date\" >= DATE '{}' AND \"date\" < DATE '{}' \
         GROUP BY 1, served_entity_name, endpoint_name, provider, cost_center, \"group\", currency, price_version \
         ORDER BY 1, served_entity_name, endpoint_name, provider, cost_center, \"group\", currency, price_version",
        period.start, period.end
    );
    let (pools, _) = register_pools(&ctx, warehouse, None).await?;
    let mut out: Vec<Vec<String>> = Vec::new();
    let (mut unpriced, mut unmetered) = (0_i64, 0_i64);
    let mut billed: std::collections::BTreeMap<String, Decimal> = Default::default();
    for batch in ctx.sql(&sql).await?.collect().await? {
        let text = cast_columns(&batch, [0, 1, 2, 3, 4, 5, 6, 7, 14, 16], &DataType::Utf8)?;
        let ints = cast_columns(&batch, (8..14).chain([15]), &DataType::Int64)?;
        for row in 0..batch.num_rows() {
            let s = |i: usize| text_at(&text[i], row);
            let n = |i: usize| int_at(&ints[i], row);
            unmetered += n(6);
            let (date, entity, endpoint, provider, cost_center, group, currency, version, cost) =
                (s(0), s(1), s(2), s(3), s(4), s(5), s(6), s(7), s(8));
            if cost.is_empty() || currency.is_empty() {
                unpriced += n(0);
                continue;
            }
            let amount: Decimal = cost.parse().map_err(|e| Error::Internal(format!("cost {cost:?}: {e}")))?;
            let list = s(9);
            let list_amount: Decimal = list.parse().map_err(|e| Error::Internal(format!("list cost {list:?}: {e}")))?;
            let day = chrono::NaiveDate::parse_from_str(&date, "%Y-%m-%d")
                .map_err(|e| Error::Internal(format!("date {date:?}: {e}")))?;
            let tokens = n(1) + n(2) + n(3) + n(4);
            // traffic a capacity pool serves is paid by the pool's rows below, not per token
            let pool = pools.iter().find(|p| serves(p, &endpoint, &entity, day));
            let (cost, list_cost) = if pool.is_some() { (Decimal::ZERO, Decimal::ZERO) } else { (amount, list_amount) };
            if pool.is_none() {
                *billed.entry(currency.clone()).or_default() += amount;
            }
            let cells = FocusRow {
                category: "Usage",
                cost,
                list_cost,
                currency: currency.clone(),
                charge_start: day,
                charge_end: None,
                description: format!("{entity} tokens via {endpoint}"),
                frequency: "Usage-Based",
                quantity: tokens.to_string(),
                unit: "Tokens",
                unit_price: String::new(),
                provider: if provider.is_empty() { "unknown".to_string() } else { provider.clone() },
                resource: endpoint,
                sku: entity,
                sku_price: version,
                reservation: pool.map(|p| (p.pool.clone(), "Used")),
                cost_center,
                group,
                counts: [n(0), n(1), n(2), n(3), n(4)],
            }
            .cells(period);
            out.push(cells.iter().map(|c| neutralise_unless_number(c)).collect());
        }
    }
    // each pool's hours, day by day: the busy hours' shares by cost center and group, then the idle ones
    let micros = crate::time::date_start_micros;
    let until = match pools.is_empty() {
        true => None,
        false => Some(super::capacity_until(&ctx, (micros(period.start), micros(period.end)), through).await?),
    };
    let billed_capacity = match capacity_from_bill {
        false => None,
        true if pools.is_empty() => {
            return Err(Error::Usage(
                "--capacity-from-bill prices the pools of config/capacity.csv, and it has none".into(),
            ));
        }
        true => {
            let bounds = (micros(period.start), micros(period.end));
            Some(super::BilledCapacity::load(&ctx, warehouse, &pools, bounds).await?)
        }
    };
    let mut day = period.start;
    while let Some(until) = until.filter(|u| day < period.end && micros(day) < *u) {
        let next = day.succ_opt().unwrap_or(period.end);
        let day_end = micros(next).min(until);
        let charge_end = (day_end < micros(next)).then(|| crate::time::rfc3339(day_end));
        for pool in &pools {
            let bounds = (micros(day), day_end);
            let (allocated, _) = super::capacity::allocate(
                &ctx,
                std::slice::from_ref(pool),
                bounds,
                &["cost_center", "group"],
                false,
                billed_capacity.as_ref(),
            )
            .await?;
            for a in allocated {
                *billed.entry(a.currency.clone()).or_default() += a.amount;
                let idle = a.charge == super::Charge::Idle;
                let cells = FocusRow {
                    category: "Usage",
                    cost: a.amount,
                    list_cost: a.amount,
                    currency: a.currency,
                    charge_start: day,
                    charge_end: charge_end.clone(),
                    description: format!(
                        "provisioned pool {} ({} hours)",
                        pool.pool,
                        if idle { "idle" } else { "busy" }
                    ),
                    frequency: "Recurring",
                    quantity: a.hours.round_dp(6).normalize().to_string(),
                    unit: "Hours",
                    // a billed hour's rate is the bill's: the hours' mean rate then
                    unit_price: match &billed_capacity {
                        Some(_) if !a.hours.is_zero() => (a.amount / a.hours).round_dp(12).normalize().to_string(),
                        _ => pool.cost_per_hour.to_string(),
                    },
                    provider: "tokenledger".to_string(),
                    resource: pool.endpoint_name.clone().unwrap_or_default(),
                    sku: pool.served_entity_name.clone().unwrap_or_default(),
                    sku_price: pool.pool.clone(),
                    reservation: Some((pool.pool.clone(), if idle { "Unused" } else { "Used" })),
                    cost_center: a.keys[0].clone(),
                    group: a.keys[1].clone(),
                    counts: [0; 5],
                }
                .cells(period);
                out.push(cells.iter().map(|c| neutralise_unless_number(c)).collect());
            }
        }
        day = next;
    }
    // the bills' differences from the ledger: Adjustment rows over the billing period, per
    // cost center, group and provider (see chargeback --true-up)
    if true_up {
        let month = period.start.format("%Y-%m").to_string();
        if *period != Period::month(&month)? {
            return Err(Error::Usage("--true-up charges back a month's bills: give --period YYYY-MM".into()));
        }
        let keys = ["cost_center", "group", "provider"];
        let t = super::true_up::true_up(&ctx, warehouse, &month, &keys, capacity_from_bill).await?;
        for ((keys, currency), amount) in t.amounts {
            *billed.entry(currency.clone()).or_default() += amount;
            let cells = FocusRow {
                category: "Adjustment",
                cost: amount,
                list_cost: amount,
                currency,
                charge_start: period.start,
                charge_end: Some(instant(period.end)),
                description: format!("true-up to the {} bill of {month}", keys[2]),
                frequency: "One-Time",
                quantity: String::new(),
                unit: "",
                unit_price: String::new(),
                provider: keys[2].clone(),
                resource: String::new(),
                sku: String::new(),
                sku_price: String::new(),
                reservation: None,
                cost_center: keys[0].clone(),
                group: keys[1].clone(),
                counts: [0; 5],
            }
            .cells(period);
            out.push(cells.iter().map(|c| neutralise_unless_number(c)).collect());
        }
    }
    let header: Vec<String> = COLUMNS.iter().chain(CUSTOM_COLUMNS.iter()).map(|c| c.to_string()).collect();
    let rows = out.len();
    let bytes = crate::output::csv_bytes(header, out)?;
    crate::output::write_atomic(path, &bytes)?;
    Ok(FocusExport {
        rows,
        billed_cost: billed.into_iter().map(|(c, v)| (c, v.to_string())).collect(),
        unpriced_requests: unpriced,
        unmetered_requests: unmetered,
        capacity_through: until.map(crate::time::rfc3339),
        sha256: hex::encode(Sha256::digest(&bytes)),
    })
}
