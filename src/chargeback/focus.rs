//! The FOCUS 1.2 export (FinOps Open Cost and Usage Specification): one row per day, served
//! entity, endpoint, cost center and group, in the columns FinOps tools read. Costs are at
//! full precision (FOCUS costs are decimals; rounding is the reader's), and there are no
//! discounts, so BilledCost = EffectiveCost = ListCost = ContractedCost. Usage without a price
//! has no cost to report: it is left out and counted, never written as a zero.

use std::path::Path;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Int64Type};
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};

use super::{Period, neutralise};
use crate::error::{Error, Result};
use crate::warehouse::Warehouse;

/// FOCUS 1.2 columns written (the specification's, alphabetical), then tokenledger's `x_` ones.
pub const COLUMNS: [&str; 38] = [
    "AvailabilityZone",
    "BilledCost",
    "BillingAccountId",
    "BillingAccountName",
    "BillingCurrency",
    "BillingPeriodEnd",
    "BillingPeriodStart",
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
    pub sha256: String,
}

fn instant(date: chrono::NaiveDate) -> String {
    format!("{date}T00:00:00Z")
}

/// Writes the FOCUS rows of `period` (UTC days of `usage_daily`) to `path`.
pub async fn write_focus(warehouse: &Warehouse, period: &Period, path: &Path) -> Result<FocusExport> {
    if !warehouse.has_table("usage_daily") {
        return Err(Error::Usage("no usage_daily table yet: run `tokenledger rollup` first".into()));
    }
    let table = deltalake::open_table(warehouse.table_url("usage_daily")?).await?;
    let ctx = datafusion::prelude::SessionContext::new();
    table.update_datafusion_session(&ctx.state())?;
    ctx.register_table("usage", table.table_provider().await?)?;
    let sql = format!(
        "SELECT CAST(\"date\" AS VARCHAR), served_entity_name, endpoint_name, provider, cost_center, \"group\", currency, \
                price_version, sum(requests), sum(input_tokens), sum(cache_read_input_tokens), \
                sum(cache_creation_input_tokens), sum(output_tokens), sum(unpriced_requests), CAST(sum(cost) AS VARCHAR) \
         FROM usage WHERE \"date\" >= DATE '{}' AND \"date\" < DATE '{}' \
         GROUP BY 1, served_entity_name, endpoint_name, provider, cost_center, \"group\", currency, price_version \
         ORDER BY 1, served_entity_name, endpoint_name, provider, cost_center, \"group\", currency, price_version",
        period.start, period.end
    );
    let mut out = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(Vec::new());
    let csv_err = |e: csv::Error| Error::Internal(format!("writing CSV: {e}"));
    out.write_record(COLUMNS.iter().chain(CUSTOM_COLUMNS.iter())).map_err(csv_err)?;
    let (mut rows, mut unpriced) = (0, 0_i64);
    let mut billed: std::collections::BTreeMap<String, Decimal> = Default::default();
    for batch in ctx.sql(&sql).await?.collect().await? {
        let text: Vec<_> = [0, 1, 2, 3, 4, 5, 6, 7, 14]
            .iter()
            .map(|&i| arrow::compute::cast(batch.column(i), &DataType::Utf8))
            .collect::<std::result::Result<_, _>>()?;
        let ints: Vec<_> = (8..14)
            .map(|i| arrow::compute::cast(batch.column(i), &DataType::Int64))
            .collect::<std::result::Result<_, _>>()?;
        for row in 0..batch.num_rows() {
            let s = |i: usize| {
                let a = text[i].as_string::<i32>();
                if a.is_null(row) { String::new() } else { a.value(row).to_string() }
            };
            let n = |i: usize| {
                let a = ints[i].as_primitive::<Int64Type>();
                if a.is_null(row) { 0 } else { a.value(row) }
            };
            let (date, entity, endpoint, provider, cost_center, group, currency, version, cost) =
                (s(0), s(1), s(2), s(3), s(4), s(5), s(6), s(7), s(8));
            if cost.is_empty() || currency.is_empty() {
                unpriced += n(0);
                continue;
            }
            let amount: Decimal = cost.parse().map_err(|e| Error::Internal(format!("cost {cost:?}: {e}")))?;
            *billed.entry(currency.clone()).or_default() += amount;
            let day = chrono::NaiveDate::parse_from_str(&date, "%Y-%m-%d")
                .map_err(|e| Error::Internal(format!("date {date:?}: {e}")))?;
            let tokens = n(1) + n(2) + n(3) + n(4);
            let party = if provider.is_empty() { "unknown".to_string() } else { provider.clone() };
            let tags = serde_json::json!({ "group": group, "cost_center": cost_center }).to_string();
            let cells: Vec<String> = vec![
                String::new(),                                    // AvailabilityZone
                amount.to_string(),                               // BilledCost
                "tokenledger".into(),                             // BillingAccountId
                "tokenledger gateway usage".into(),               // BillingAccountName
                currency.clone(),                                 // BillingCurrency
                instant(period.end),                              // BillingPeriodEnd (exclusive)
                instant(period.start),                            // BillingPeriodStart
                "Usage".into(),                                   // ChargeCategory
                String::new(),                                    // ChargeClass (not a correction)
                format!("{entity} tokens via {endpoint}"),        // ChargeDescription
                "Usage-Based".into(),                             // ChargeFrequency
                instant(day.succ_opt().unwrap_or(day)),           // ChargePeriodEnd (exclusive)
                instant(day),                                     // ChargePeriodStart
                tokens.to_string(),                               // ConsumedQuantity
                "Tokens".into(),                                  // ConsumedUnit
                amount.to_string(),                               // ContractedCost
                String::new(),                                    // ContractedUnitPrice (four token prices)
                amount.to_string(),                               // EffectiveCost
                party.clone(),                                    // InvoiceIssuerName
                amount.to_string(),                               // ListCost
                String::new(),                                    // ListUnitPrice
                "Standard".into(),                                // PricingCategory
                tokens.to_string(),                               // PricingQuantity
                "Tokens".into(),                                  // PricingUnit
                party.clone(),                                    // ProviderName
                party,                                            // PublisherName
                String::new(),                                    // RegionId
                String::new(),                                    // RegionName
                endpoint.clone(),                                 // ResourceId
                endpoint,                                         // ResourceName
                "Serving Endpoint".into(),                        // ResourceType
                "AI and Machine Learning".into(),                 // ServiceCategory
                "LLM inference".into(),                           // ServiceName
                entity,                                           // SkuId
                version,                                          // SkuPriceId
                cost_center.clone(),                              // SubAccountId
                cost_center.clone(),                              // SubAccountName
                tags,                                             // Tags
                group,                                            // x_Group
                cost_center,                                      // x_CostCenter
                n(0).to_string(),                                 // x_Requests
                n(1).to_string(),                                 // x_InputTokens
                n(2).to_string(),                                 // x_CacheReadInputTokens
                n(3).to_string(),                                 // x_CacheCreationInputTokens
                n(4).to_string(),                                 // x_OutputTokens
            ];
            out.write_record(cells.iter().map(|c| neutralise(c))).map_err(csv_err)?;
            rows += 1;
        }
    }
    let bytes = out.into_inner().map_err(|e| Error::Internal(format!("CSV buffer: {e}")))?;
    let tmp = path.with_extension("csv.tmp");
    std::fs::write(&tmp, &bytes)?;
    std::fs::rename(&tmp, path)?;
    Ok(FocusExport {
        rows,
        billed_cost: billed.into_iter().map(|(c, v)| (c, v.to_string())).collect(),
        unpriced_requests: unpriced,
        sha256: hex::encode(Sha256::digest(&bytes)),
    })
}
