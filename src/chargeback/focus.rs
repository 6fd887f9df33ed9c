//! The FOCUS export (FinOps Open Cost and Usage Specification), 1.3 by default and 1.2 on
//! request: one row per day, served entity, endpoint, cost center and group, in the columns
//! FinOps tools read. Costs are at full precision (FOCUS costs are decimals; rounding is the
//! reader's): BilledCost = EffectiveCost = ContractedCost is what is paid (after a negotiated
//! discount), ListCost the list price. Usage without a price has no cost to report: it is left
//! out and counted, never written as a zero. Provisioned pools appear as their own rows per day
//! (CapacityReservationId = the pool, status Used for the busy hours' shares, Unused for the
//! idle hours), and the traffic they serve at cost 0. While the period is open, pools are
//! charged through the end of the data (or `--through`), as in the chargeback; the last day's
//! pool rows then end (ChargePeriodEnd) at that instant.
//!
//! 1.3 (the column list and its source: tests/data/focus_1_3_columns.csv) adds to 1.2's columns,
//! which it keeps (ProviderName and PublisherName are deprecated there but still mandatory, and
//! carry what 1.2 readers saw):
//! - ServiceProviderName / HostProviderName (see [`service_provider`] and [`host_provider`]);
//! - the split cost allocation columns on the pool rows: a day of a pool is the origin charge,
//!   its busy hours' shares and its idle hours the allocated charges (methods
//!   [`METHOD_TOKEN_SHARE`] and [`METHOD_IDLE_TO_OWNER`]);
//! - ContractApplied where a negotiated discount (config/discounts.csv) priced the row;
//! - true-up rows over the days the bills corrected (ChargePeriodStart/End), not the whole month.

use arrow::datatypes::DataType;
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};

use super::{Period, cast_columns, int_at, register_pools, register_usage, text_at};
use crate::error::{Error, Result};
use crate::output::neutralise_unless_number;
use crate::warehouse::Warehouse;

/// Which FOCUS release an export follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum FocusVersion {
    /// FOCUS 1.2 (May 2025): the columns and bytes of the exports before 1.3.
    #[value(name = "1.2")]
    V1_2,
    /// FOCUS 1.3 (December 2025).
    #[default]
    #[value(name = "1.3")]
    V1_3,
}

impl FocusVersion {
    /// `1.2` or `1.3`.
    pub fn name(self) -> &'static str {
        match self {
            FocusVersion::V1_2 => "1.2",
            FocusVersion::V1_3 => "1.3",
        }
    }

    /// The specification's columns this version writes, alphabetical (then come `CUSTOM_COLUMNS`).
    pub fn columns(self) -> Vec<&'static str> {
        COLUMNS.into_iter().filter(|c| self == FocusVersion::V1_3 || !ADDED_IN_1_3.contains(c)).collect()
    }
}

/// FOCUS 1.3 columns written (the specification's, alphabetical), then tokenledger's `x_` ones.
pub const COLUMNS: [&str; 48] = [
    "AllocatedMethodDetails",
    "AllocatedMethodId",
    "AllocatedResourceId",
    "AllocatedResourceName",
    "AllocatedTags",
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
    "ContractApplied",
    "ContractedCost",
    "ContractedUnitPrice",
    "EffectiveCost",
    "HostProviderName",
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
    "ServiceProviderName",
    "SkuId",
    "SkuPriceId",
    "SubAccountId",
    "SubAccountName",
    "Tags",
];

/// The columns of [`COLUMNS`] that FOCUS 1.3 added to those the 1.2 export writes.
const ADDED_IN_1_3: [&str; 8] = [
    "AllocatedMethodDetails",
    "AllocatedMethodId",
    "AllocatedResourceId",
    "AllocatedResourceName",
    "AllocatedTags",
    "ContractApplied",
    "HostProviderName",
    "ServiceProviderName",
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
    /// ProviderName, PublisherName and InvoiceIssuerName: the usage row's `provider`.
    provider: String,
    /// 1.3: ServiceProviderName and HostProviderName.
    service_provider: String,
    host_provider: String,
    resource: String,
    sku: String,
    sku_price: String,
    /// Capacity pool and `Used` / `Unused`.
    reservation: Option<(String, &'static str)>,
    /// 1.3: how a pool's day was split to this row.
    allocation: Option<Allocation>,
    /// 1.3: ContractApplied, the JSON object.
    contract: Option<String>,
    cost_center: String,
    group: String,
    /// requests and the four token buckets
    counts: [i64; 5],
}

impl FocusRow {
    /// An Adjustment row (a true-up, a closed month's movement) of `cost` over the days
    /// `[start, end)` it corrects, issued, served and hosted by `provider`, for a cost center
    /// and group.
    fn adjustment(
        (cost, currency): (Decimal, String),
        (start, end): (chrono::NaiveDate, chrono::NaiveDate),
        description: String,
        provider: &str,
        (cost_center, group): (String, String),
    ) -> Self {
        FocusRow {
            category: "Adjustment",
            cost,
            list_cost: cost,
            currency,
            charge_start: start,
            charge_end: Some(instant(end)),
            description,
            frequency: "One-Time",
            quantity: String::new(),
            unit: "",
            unit_price: String::new(),
            provider: provider.to_string(),
            service_provider: host_provider(provider),
            host_provider: host_provider(provider),
            resource: String::new(),
            sku: String::new(),
            sku_price: String::new(),
            reservation: None,
            allocation: None,
            contract: None,
            cost_center,
            group,
            counts: [0; 5],
        }
    }
}

/// A pool row's share of its day (1.3's split cost allocation columns).
struct Allocation {
    method: &'static str,
    /// AllocatedMethodDetails, the JSON object.
    details: String,
}

impl FocusRow {
    /// The cells in the order of `version`'s columns then [`CUSTOM_COLUMNS`]. Billed, contracted
    /// and effective cost are what is paid (after a negotiated discount, `config/discounts.csv`);
    /// ListCost is the list price.
    fn cells(self, period: &Period, version: FocusVersion) -> Vec<String> {
        let cost = self.cost.to_string();
        let (reservation, status) =
            self.reservation.map_or((String::new(), String::new()), |(p, s)| (p, s.to_string()));
        let group_tags = serde_json::json!({ "group": self.group, "cost_center": self.cost_center }).to_string();
        // 1.3: an allocated charge's group and cost center are the tags of what it is allocated
        // to (AllocatedTags, which must not repeat Tags); Tags are the pool's own
        let (tags, allocated) = match (version, self.allocation) {
            (FocusVersion::V1_3, Some(a)) => {
                let allocated = [
                    a.details,
                    a.method.to_string(),
                    format!("{}/{}", self.cost_center, self.group),
                    self.group.clone(),
                    group_tags,
                ];
                (serde_json::json!({ "pool": reservation }).to_string(), allocated)
            }
            _ => (group_tags, Default::default()),
        };
        let [method_details, method_id, allocated_id, allocated_name, allocated_tags] = allocated;
        let charge_end =
            self.charge_end.unwrap_or_else(|| instant(self.charge_start.succ_opt().unwrap_or(self.charge_start)));
        let value = |column: &str| -> String {
            match column {
                "AllocatedMethodDetails" => method_details.clone(),
                "AllocatedMethodId" => method_id.clone(),
                "AllocatedResourceId" => allocated_id.clone(),
                "AllocatedResourceName" => allocated_name.clone(),
                "AllocatedTags" => allocated_tags.clone(),
                "BilledCost" | "ContractedCost" | "EffectiveCost" => cost.clone(),
                "BillingAccountId" => "tokenledger".into(),
                "BillingAccountName" => "tokenledger gateway usage".into(),
                "BillingCurrency" => self.currency.clone(),
                "BillingPeriodEnd" => instant(period.end), // exclusive
                "BillingPeriodStart" => instant(period.start),
                "CapacityReservationId" => reservation.clone(),
                "CapacityReservationStatus" => status.clone(),
                "ChargeCategory" => self.category.into(),
                "ChargeDescription" => self.description.clone(),
                "ChargeFrequency" => self.frequency.into(),
                "ChargePeriodEnd" => charge_end.clone(), // exclusive
                "ChargePeriodStart" => instant(self.charge_start),
                "ConsumedQuantity" | "PricingQuantity" => self.quantity.clone(),
                "ConsumedUnit" | "PricingUnit" => self.unit.into(),
                "ContractApplied" => self.contract.clone().unwrap_or_default(),
                "ContractedUnitPrice" | "ListUnitPrice" => self.unit_price.clone(),
                "HostProviderName" => self.host_provider.clone(),
                "InvoiceIssuerName" | "ProviderName" | "PublisherName" => self.provider.clone(),
                "ListCost" => self.list_cost.to_string(),
                "PricingCategory" => "Standard".into(),
                "ResourceId" | "ResourceName" => self.resource.clone(),
                "ResourceType" => "Serving Endpoint".into(),
                "ServiceCategory" => "AI and Machine Learning".into(),
                "ServiceName" => "LLM inference".into(),
                "ServiceProviderName" => self.service_provider.clone(),
                "SkuId" => self.sku.clone(),
                "SkuPriceId" => self.sku_price.clone(),
                "SubAccountId" | "SubAccountName" => self.cost_center.clone(),
                "Tags" => tags.clone(),
                // AvailabilityZone, ChargeClass (not a correction), RegionId, RegionName
                _ => String::new(),
            }
        };
        let mut cells: Vec<String> = version.columns().into_iter().map(value).collect();
        cells.extend([self.group.clone(), self.cost_center.clone()]); // x_Group, x_CostCenter
        cells.extend(self.counts.iter().map(|n| n.to_string())); // x_Requests .. x_OutputTokens
        cells
    }
}

/// AllocatedMethodId of a pool's busy hours: each hour split by its tokens' shares.
pub const METHOD_TOKEN_SHARE: &str = "tokenledger-pool-token-share";
/// AllocatedMethodId of a pool's idle hours: charged to the pool's owner group.
pub const METHOD_IDLE_TO_OWNER: &str = "tokenledger-pool-idle-to-owner";

/// AllocatedMethodDetails (FOCUS 1.3's object: `Elements` of AllocatedRatio, UsageUnit,
/// UsageQuantity; custom keys `x_`): the row's ratio of its pool's day and the pool hours it pays.
fn allocation_details(ratio: Decimal, hours: Decimal, idle: bool) -> String {
    let how = match idle {
        true => "idle hours of the pool (no traffic), charged to the pool's owner group",
        false => "busy hours of the pool, each split by the tokens of the hour",
    };
    // Decimal's text is a JSON number: the ratio stays exact
    format!(
        r#"{{"Elements":[{{"AllocatedRatio":{},"UsageUnit":"Hours","UsageQuantity":{}}}],"x_Method":{}}}"#,
        ratio.normalize(),
        hours.round_dp(6).normalize(),
        serde_json::Value::from(how)
    )
}

/// ContractApplied (FOCUS 1.3's object): the negotiated discount that priced the row, as the
/// contract and its commitment, with the cost it applied to.
fn contract_applied(discount_id: &str, cost: Decimal) -> String {
    let id = serde_json::Value::from(discount_id);
    format!(
        r#"{{"Elements":[{{"ContractID":{id},"ContractCommitmentID":{id},"ContractCommitmentAppliedCost":{}}}]}}"#,
        cost.normalize()
    )
}

/// HostProviderName: who served and billed the traffic, the usage row's `provider` by its
/// usual name.
fn host_provider(provider: &str) -> String {
    let name = match provider.to_ascii_lowercase().as_str() {
        "" => "unknown",
        "openai" => "OpenAI",
        "anthropic" => "Anthropic",
        "databricks" => "Databricks",
        "amazon-bedrock" | "bedrock" | "aws" => "AWS",
        "azure" | "azure-openai" | "azure_openai" => "Microsoft",
        "google" | "vertex_ai" | "vertex-ai" | "gemini" => "Google",
        "cohere" => "Cohere",
        "mistral" => "Mistral AI",
        _ => provider,
    };
    name.to_string()
}

/// The makers of model families, found in a served entity's name wherever it is hosted.
const MODEL_MAKERS: [(&str, &str); 10] = [
    ("claude", "Anthropic"),
    ("gpt-", "OpenAI"),
    ("text-embedding-", "OpenAI"),
    ("gemini", "Google"),
    ("gemma", "Google"),
    ("llama", "Meta"),
    ("mistral", "Mistral AI"),
    ("mixtral", "Mistral AI"),
    ("command-r", "Cohere"),
    ("titan-", "Amazon"),
];

/// ServiceProviderName: the maker of the model when the served entity's name says it (an
/// Anthropic model served by Databricks, `databricks-claude-3-7-sonnet`, is Anthropic's, hosted
/// by Databricks), else the host. Simple on purpose: the name is what every usage row has.
fn service_provider(served_entity: &str, provider: &str) -> String {
    let entity = served_entity.to_ascii_lowercase();
    MODEL_MAKERS
        .iter()
        .find(|(family, _)| entity.contains(family))
        .map_or_else(|| host_provider(provider), |(_, maker)| maker.to_string())
}

fn instant(date: chrono::NaiveDate) -> String {
    format!("{date}T00:00:00Z")
}

/// The FOCUS `version` rows of `period` (UTC days of `usage_daily`) as CSV bytes, charging pools
/// through `through` (UTC microseconds) while the period is open, or the end of the data; and
/// what they hold.
pub async fn focus_bytes(
    warehouse: &Warehouse,
    period: &Period,
    through: Option<i64>,
    true_up: bool,
    capacity_from_bill: bool,
    version: FocusVersion,
) -> Result<(Vec<u8>, FocusExport)> {
    let ctx = warehouse.engine().context_with_memory(crate::engine::DEFAULT_MEMORY_LIMIT).await?;
    register_usage(&ctx, warehouse, "usage_daily", "usage", None).await?;
    let sql = format!(
        "SELECT CAST(\"date\" AS VARCHAR), served_entity_name, endpoint_name, provider, cost_center, \"group\", currency, \
                price_version, sum(requests), sum(input_tokens), sum(cache_read_input_tokens), \
                sum(cache_creation_input_tokens), sum(output_tokens), sum(unpriced_requests), CAST(sum(cost) AS VARCHAR), \
                sum(unmetered_requests), CAST(sum(COALESCE(list_cost, cost)) AS VARCHAR), max(discount_id) \
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
        let text = cast_columns(&batch, [0, 1, 2, 3, 4, 5, 6, 7, 14, 16, 17], &DataType::Utf8)?;
        let ints = cast_columns(&batch, (8..14).chain([15]), &DataType::Int64)?;
        for row in 0..batch.num_rows() {
            let s = |i: usize| text_at(&text[i], row);
            let n = |i: usize| int_at(&ints[i], row);
            unmetered += n(6);
            let (date, entity, endpoint, provider, cost_center, group, currency, price_version, cost) =
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
            // the discount priced what is paid; pooled traffic's per-token price is not paid
            let discount = s(10);
            let contract = (pool.is_none() && !discount.is_empty()).then(|| contract_applied(&discount, cost));
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
                service_provider: service_provider(&entity, &provider),
                host_provider: host_provider(&provider),
                resource: endpoint,
                sku: entity,
                sku_price: price_version,
                reservation: pool.map(|p| (p.pool.clone(), "Used")),
                allocation: None,
                contract,
                cost_center,
                group,
                counts: [n(0), n(1), n(2), n(3), n(4)],
            }
            .cells(period, version);
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
            let ratios = origin_ratios(&allocated);
            for (a, ratio) in allocated.into_iter().zip(ratios) {
                *billed.entry(a.currency.clone()).or_default() += a.amount;
                let idle = a.charge == super::Charge::Idle;
                let allocation = Allocation {
                    method: if idle { METHOD_IDLE_TO_OWNER } else { METHOD_TOKEN_SHARE },
                    details: allocation_details(ratio, a.hours, idle),
                };
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
                    // the pool's hours are charged at capacity.csv's rate (or the bill's) by
                    // tokenledger: no usage row says who hosts them
                    provider: "tokenledger".to_string(),
                    service_provider: "tokenledger".to_string(),
                    host_provider: "tokenledger".to_string(),
                    resource: pool.endpoint_name.clone().unwrap_or_default(),
                    sku: pool.served_entity_name.clone().unwrap_or_default(),
                    sku_price: pool.pool.clone(),
                    reservation: Some((pool.pool.clone(), if idle { "Unused" } else { "Used" })),
                    allocation: Some(allocation),
                    contract: None,
                    cost_center: a.keys[0].clone(),
                    group: a.keys[1].clone(),
                    counts: [0; 5],
                }
                .cells(period, version);
                out.push(cells.iter().map(|c| neutralise_unless_number(c)).collect());
            }
        }
        day = next;
    }
    // the bills' differences from the ledger: Adjustment rows per cost center, group and
    // provider (see chargeback --true-up), over the billing period (1.2) or the days the
    // provider's bills corrected (1.3: ChargePeriodStart/End bound the charge's effective period)
    if true_up {
        let month = period.start.format("%Y-%m").to_string();
        if *period != Period::month(&month)? {
            return Err(Error::Usage("--true-up charges back a month's bills: give --period YYYY-MM".into()));
        }
        let keys = ["cost_center", "group", "provider"];
        let t = super::true_up::true_up(&ctx, warehouse, &month, &keys, capacity_from_bill).await?;
        let corrected = match version {
            FocusVersion::V1_2 => Default::default(),
            FocusVersion::V1_3 => corrected_days(&ctx, &month, capacity_from_bill).await?,
        };
        for ((keys, currency), amount) in t.amounts {
            *billed.entry(currency.clone()).or_default() += amount;
            let (charge_start, charge_end) = corrected.get(&keys[2]).copied().unwrap_or((period.start, period.end));
            let cells = FocusRow::adjustment(
                (amount, currency),
                (charge_start, charge_end),
                format!("true-up to the {} bill of {month}", keys[2]),
                // the bill's issuer serves and hosts what it bills
                &keys[2],
                (keys[0].clone(), keys[1].clone()),
            )
            .cells(period, version);
            out.push(cells.iter().map(|c| neutralise_unless_number(c)).collect());
        }
    }
    // the closed months' movement since they were booked (see chargeback's adjustment lines):
    // Adjustment rows in the first open month, over the month each corrects
    let month = period.start.format("%Y-%m").to_string();
    if Period::month(&month).ok().as_ref() == Some(period) {
        let history = super::close::History::load(warehouse).await?;
        let by = ["cost_center", "group"].map(String::from);
        let (movements, _) = super::close::movement(warehouse, &history, &month, &by).await?;
        for m in movements {
            let corrected = Period::month(&m.period)?;
            for k in m.moved.iter().filter(|k| !k.currency.is_empty()) {
                let Some(cost) = k.cost else { continue };
                *billed.entry(k.currency.clone()).or_default() += cost;
                let counts = [k.counts[0], k.counts[1], k.counts[2], k.counts[3], k.counts[4]];
                let cells = FocusRow {
                    counts,
                    ..FocusRow::adjustment(
                        (cost, k.currency.clone()),
                        (corrected.start, corrected.end),
                        format!("adjustment of closed {}: what it moved since it was booked", m.period),
                        "tokenledger",
                        (k.keys[0].clone(), k.keys[1].clone()),
                    )
                }
                .cells(period, version);
                out.push(cells.iter().map(|c| neutralise_unless_number(c)).collect());
            }
        }
    }
    let header: Vec<String> = version.columns().into_iter().chain(CUSTOM_COLUMNS).map(String::from).collect();
    let rows = out.len();
    let bytes = crate::output::csv_bytes(header, out)?;
    let export = FocusExport {
        rows,
        billed_cost: billed.into_iter().map(|(c, v)| (c, v.to_string())).collect(),
        unpriced_requests: unpriced,
        unmetered_requests: unmetered,
        capacity_through: until.map(crate::time::rfc3339),
        sha256: hex::encode(Sha256::digest(&bytes)),
    };
    Ok((bytes, export))
}

/// Each allocated charge's AllocatedRatio of its origin charge (a pool's day): its share of the
/// day's cost, or of its hours when the hours cost nothing. The last takes what the others leave,
/// so that the ratios add up to exactly 1 as FOCUS requires.
fn origin_ratios(allocated: &[super::capacity::Allocated]) -> Vec<Decimal> {
    let cost: Decimal = allocated.iter().map(|a| a.amount).sum();
    let hours: Decimal = allocated.iter().map(|a| a.hours).sum();
    let share = |a: &super::capacity::Allocated| match (cost.is_zero(), hours.is_zero()) {
        (false, _) => a.amount / cost,
        (true, false) => a.hours / hours,
        (true, true) => Decimal::ZERO,
    };
    let mut ratios: Vec<Decimal> = allocated.iter().map(|a| share(a).round_dp(12)).collect();
    if let Some((last, others)) = ratios.split_last_mut() {
        *last = Decimal::ONE - others.iter().copied().sum::<Decimal>();
    }
    ratios
}

/// Per provider, the days its bills corrected in the month's reconciliation (registered by
/// [`super::true_up::true_up`]): from the first day with a difference to the day after the last.
async fn corrected_days(
    ctx: &datafusion::prelude::SessionContext,
    month: &str,
    capacity_from_bill: bool,
) -> Result<std::collections::HashMap<String, (chrono::NaiveDate, chrono::NaiveDate)>> {
    // as the true-up: with the bill's hours charged, the capacity rows are not trued up
    let kinds = if capacity_from_bill { "AND charge_kind <> 'capacity'" } else { "" };
    let sql = format!(
        "SELECT provider, CAST(min(\"date\") AS VARCHAR), CAST(max(\"date\") AS VARCHAR) FROM {} \
         WHERE period = '{}' AND difference IS NOT NULL AND difference <> 0 {kinds} GROUP BY provider",
        crate::warehouse::schema::RECONCILIATION,
        month.replace('\'', "''")
    );
    let mut days = std::collections::HashMap::new();
    for batch in ctx.sql(&sql).await?.collect().await? {
        let text = cast_columns(&batch, 0..3, &DataType::Utf8)?;
        for row in 0..batch.num_rows() {
            let date = |i: usize| {
                let s = text_at(&text[i], row);
                chrono::NaiveDate::parse_from_str(&s, "%Y-%m-%d")
                    .map_err(|e| Error::Internal(format!("date {s:?}: {e}")))
            };
            let (first, last) = (date(1)?, date(2)?);
            days.insert(text_at(&text[0], row), (first, last.succ_opt().unwrap_or(last)));
        }
    }
    Ok(days)
}
