//! Databricks' bills: exports of its system tables (CSV, JSON lines or Parquet, as a `SELECT *`
//! downloads them; see `tables`).
//!
//! `databricks-billing`, `system.billing.usage` (docs.databricks.com/aws/en/admin/system-tables/billing,
//! "Billable usage system table reference"): one row per SKU, workspace and hour of usage. Only
//! the rows whose `billing_origin_product` is `MODEL_SERVING` or `AI_GATEWAY` are the ledger's;
//! the others are skipped and counted. `usage_quantity` is in `usage_unit` (DBUs), a decimal,
//! and its `record_type` says how to take it: `ORIGINAL`, `RETRACTION` (negative: it takes back
//! an earlier record) or `RESTATEMENT` (the corrected record), so that the rows sum to the
//! right usage as they are, signs kept. The model is `usage_metadata.ai_gateway.destination_model`
//! and the endpoint `usage_metadata.ai_gateway.endpoint_name`, which AI Gateway fills in
//! (docs.databricks.com/aws/en/ai-gateway/cost-observability, "Analyze Unity AI Gateway cost";
//! its beta page names them flat, `usage_metadata.ai_gateway_destination_model`, read too), else
//! the serving endpoint `usage_metadata.endpoint_name` for both. `identity_metadata.run_by` is
//! the user, `workspace_id` the account, `sku_name` and `product_features.serving_type` the
//! description.
//!
//! DBUs are no money: a row costs `usage_quantity` times the `pricing.default` of its SKU's
//! list price in force at `usage_start_time`, from an export of `system.billing.list_prices`
//! (docs.databricks.com/aws/en/admin/system-tables/pricing: `sku_name`, `currency_code`,
//! `usage_unit`, `price_start_time`, `price_end_time` null while the price is in force), given
//! with `--list-prices`; or a flat `--dbu-rate` in USD. The product is exact; a SKU without a
//! price in force is a bad row (`no_list_price`). List prices are not what a contract with
//! discounts pays: reconcile compares the list cost.
//!
//! `databricks-external-spend`, `system.ai_gateway.external_model_spend` (docs.databricks.com,
//! "External models"): the estimated spend on external providers' models routed through AI
//! Gateway, per hour, provider, model, endpoint and `run_by`, in the columns of the billing
//! table: `usage_quantity` is the amount in `usage_unit` (`USD`), `usage_metadata.provider`,
//! `usage_metadata.model` and `usage_metadata.endpoint_name`, `identity_metadata.run_by`.

use std::collections::HashMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::tables::{Row, Table, TableRow};
use super::{Bad, BillSource, ParseOptions, input_format};
use crate::bill::line::{BillLine, ChargeKind, ParsedBill};
use crate::error::{Error, Result};

const PROVIDER: &str = "databricks";

/// The `billing_origin_product`s that are model serving: the ledger's.
const PRODUCTS: [&str; 2] = ["MODEL_SERVING", "AI_GATEWAY"];

/// Columns every billable usage export has.
const BILLING_COLUMNS: [&str; 5] =
    ["billing_origin_product", "sku_name", "usage_quantity", "usage_start_time", "usage_end_time"];
/// Columns every external model spend export has.
const SPEND_COLUMNS: [&str; 3] = ["usage_quantity", "usage_start_time", "usage_end_time"];
/// Columns every list prices export has.
const PRICE_COLUMNS: [&str; 3] = ["sku_name", "price_start_time", "currency_code"];

/// Which system table an export is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Export {
    Billing,
    ExternalSpend,
    ListPrices,
}

/// The system table whose columns `columns` are, if any.
pub(super) fn detect(columns: &[String]) -> Option<Export> {
    let has = |c: &str| columns.iter().any(|n| n == c || n.starts_with(&format!("{c}.")));
    if BILLING_COLUMNS.iter().all(|c| has(c)) {
        Some(Export::Billing)
    } else if SPEND_COLUMNS.iter().all(|c| has(c)) && (has("usage_metadata") || has("provider")) {
        Some(Export::ExternalSpend)
    } else if PRICE_COLUMNS.iter().all(|c| has(c)) && has("pricing") {
        Some(Export::ListPrices)
    } else {
        None
    }
}

/// The bill source of an export; a list prices export is not a bill.
pub(super) fn usable(path: &Path, export: Export) -> Result<BillSource> {
    match export {
        Export::Billing => Ok(BillSource::DatabricksBilling),
        Export::ExternalSpend => Ok(BillSource::DatabricksExternalSpend),
        Export::ListPrices => Err(input_format(
            path,
            "it is an export of system.billing.list_prices, the prices of Databricks' DBUs, not a bill: give it to \
             `bill import` with --list-prices beside the export of system.billing.usage"
                .into(),
        )),
    }
}

/// How the DBUs of a billing export become money.
#[derive(Debug, Clone, Copy)]
enum Pricing<'a> {
    List(&'a ListPrices),
    /// USD per DBU.
    Flat(Decimal),
}

impl Pricing<'_> {
    /// The price per unit of `sku` at `at` and its currency.
    fn price(&self, sku: &str, at: DateTime<Utc>, unit: Option<&str>) -> std::result::Result<(Decimal, String), Bad> {
        let prices = match self {
            Pricing::Flat(rate) => return Ok((*rate, "USD".into())),
            Pricing::List(prices) => prices,
        };
        let Some(price) = prices.at(sku, at) else {
            let known = if prices.by_sku.contains_key(sku) { "none of its prices" } else { "the SKU has no price" };
            return Err(Bad {
                code: "no_list_price",
                reason: format!(
                    "no list price of SKU {sku} is in force at {} ({known} in the list prices given with --list-prices)",
                    at.to_rfc3339()
                ),
            });
        };
        if let (Some(priced), Some(used)) = (&price.usage_unit, unit)
            && !priced.eq_ignore_ascii_case(used)
        {
            return Err(Bad {
                code: "no_list_price",
                reason: format!("the list price of SKU {sku} is per {priced}, the usage is in {used}"),
            });
        }
        Ok((price.price, price.currency.clone()))
    }
}

/// An export of `system.billing.usage`, its DBUs priced as `options` say.
pub fn parse_billing(path: &Path, bytes: &[u8], options: &ParseOptions) -> Result<ParsedBill> {
    let pricing = match (&options.list_prices, options.dbu_rate) {
        (Some(prices), _) => Pricing::List(prices),
        (None, Some(rate)) => Pricing::Flat(rate),
        (None, None) => {
            return Err(Error::Usage(format!(
                "{}: {} counts DBUs, not money: give their prices with --list-prices FILE (an export of \
                 system.billing.list_prices) or one price per DBU for all rows with --dbu-rate USD (e.g. --dbu-rate 0.07)",
                path.display(),
                BillSource::DatabricksBilling.what()
            )));
        }
    };
    let table = super::tables::read(path, bytes, BillSource::DatabricksBilling.what())?;
    super::check_columns(path, &table.missing(&BILLING_COLUMNS), BillSource::DatabricksBilling)?;
    Ok(read_rows(table, |row| billing_line(row, pricing)))
}

/// An export of `system.ai_gateway.external_model_spend`.
pub fn parse_external_spend(path: &Path, bytes: &[u8]) -> Result<ParsedBill> {
    let table = super::tables::read(path, bytes, BillSource::DatabricksExternalSpend.what())?;
    super::check_columns(path, &table.missing(&SPEND_COLUMNS), BillSource::DatabricksExternalSpend)?;
    Ok(read_rows(table, spend_line))
}

/// Every row through `line`: a line, a row skipped (`None`), or a bad row.
fn read_rows(table: Table, line: impl Fn(&Row<'_>) -> std::result::Result<Option<BillLine>, Bad>) -> ParsedBill {
    let mut parsed = ParsedBill::default();
    for TableRow { number, fields, raw } in table.rows {
        let outcome = fields.and_then(|fields| line(&Row { fields: &fields }));
        match outcome {
            Ok(Some(mut line)) => {
                line.row_number = number;
                parsed.lines.push(line);
            }
            Ok(None) => parsed.skipped += 1,
            Err(why) => parsed.bad_rows.push(why.at(number, raw)),
        }
    }
    parsed
}

/// The period of a row: `usage_start_time` to `usage_end_time`.
fn period(row: &Row<'_>) -> std::result::Result<(DateTime<Utc>, DateTime<Utc>), Bad> {
    super::period(
        row.required_time("usage_start_time")?,
        row.required_time("usage_end_time")?,
        ("usage_start_time", "usage_end_time"),
    )
}

fn billing_line(row: &Row<'_>, pricing: Pricing<'_>) -> std::result::Result<Option<BillLine>, Bad> {
    let product = row.required_text("billing_origin_product")?.to_ascii_uppercase();
    if !PRODUCTS.contains(&product.as_str()) {
        return Ok(None);
    }
    let period = period(row)?;
    let sku = row.required_text("sku_name")?;
    let quantity = row.required_decimal("usage_quantity")?;
    let unit = row.text("usage_unit")?;
    if let Some(record_type) = row.text("record_type")?
        && !matches!(record_type.to_ascii_uppercase().as_str(), "ORIGINAL" | "RETRACTION" | "RESTATEMENT")
    {
        return Err(Bad::wrong_type("record_type", "ORIGINAL, RETRACTION or RESTATEMENT", &record_type));
    }
    let (price, currency) = pricing.price(&sku, period.0, unit.as_deref())?;
    let cost = exact_product(quantity, price)?;
    let serving_endpoint = row.text("usage_metadata.endpoint_name")?;
    let gateway = |field: &str| {
        let (nested, flat) =
            (format!("usage_metadata.ai_gateway.{field}"), format!("usage_metadata.ai_gateway_{field}"));
        row.first_text(&[nested.as_str(), flat.as_str()])
    };
    let serving_type = row.text("product_features.serving_type")?;

    let mut line = super::blank_line(0, PROVIDER, period, ChargeKind::Other);
    line.provider_model = gateway("destination_model")?.or_else(|| serving_endpoint.clone());
    line.endpoint_name = gateway("endpoint_name")?.or(serving_endpoint);
    line.account = row.text("workspace_id")?;
    line.user_id = row.text("identity_metadata.run_by")?;
    line.usage_quantity = Some(quantity);
    line.usage_unit = unit;
    line.cost = Some(cost);
    line.currency = Some(currency);
    line.description = Some(match serving_type {
        Some(serving_type) => format!("{sku} {serving_type}"),
        None => sku,
    });
    Ok(Some(line))
}

/// `quantity` × `price`, exactly: a decimal holds 28 places, so a product that would need more
/// is refused rather than rounded.
fn exact_product(quantity: Decimal, price: Decimal) -> std::result::Result<Decimal, Bad> {
    let (q, p) = (quantity.normalize(), price.normalize());
    // a product that had to be rounded to fit has fewer places than its factors together
    let product = if q.scale() + p.scale() <= 28 { q.checked_mul(p) } else { None };
    product.filter(|r| r.scale() == q.scale() + p.scale() || r.is_zero()).ok_or_else(|| Bad {
        code: "bad_amount",
        reason: format!("usage_quantity {q} times the price {p} has more digits than an exact decimal holds"),
    })
}

fn spend_line(row: &Row<'_>) -> std::result::Result<Option<BillLine>, Bad> {
    let period = period(row)?;
    let provider = row
        .first_text(&["usage_metadata.provider", "provider"])?
        .ok_or_else(|| Bad::missing("usage_metadata.provider"))?;
    let amount = row.required_decimal("usage_quantity")?;
    // the amount's unit is its currency (USD); a currency_code column, where an export has one, says so too
    let currency_text = row.first_text(&["currency_code", "usage_unit"])?.ok_or_else(|| Bad::missing("usage_unit"))?;
    let currency = super::iso_currency(&currency_text).ok_or_else(|| Bad::currency("usage_unit", &currency_text))?;

    let mut line = super::blank_line(0, &ledger_provider(&provider), period, ChargeKind::Other);
    line.provider_model = row.first_text(&["usage_metadata.model", "model"])?;
    line.endpoint_name = row.first_text(&["usage_metadata.endpoint_name", "endpoint_name"])?;
    line.account = row.text("workspace_id")?;
    line.user_id = row.first_text(&["identity_metadata.run_by", "run_by"])?;
    line.cost = Some(amount);
    line.currency = Some(currency);
    line.description = Some("external model spend".into());
    Ok(Some(line))
}

/// A provider as the ledger's `inference.provider` names it: lower case, `-` for `_`
/// (`OPENAI` is openai, `AMAZON_BEDROCK` amazon-bedrock), as AI Gateway's URLs name them.
fn ledger_provider(name: &str) -> String {
    name.trim().to_ascii_lowercase().replace('_', "-")
}

/// The list prices of Databricks' SKUs over time (an export of `system.billing.list_prices`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListPrices {
    by_sku: HashMap<String, Vec<ListPrice>>,
}

/// One price of a SKU: in force from `start` until `end` (exclusive; `None`: still).
#[derive(Debug, Clone, PartialEq)]
pub struct ListPrice {
    pub start: DateTime<Utc>,
    pub end: Option<DateTime<Utc>>,
    pub price: Decimal,
    pub currency: String,
    pub usage_unit: Option<String>,
}

impl ListPrices {
    /// Reads an export of `system.billing.list_prices` (CSV, JSON lines or Parquet; `pricing`
    /// a struct, or its JSON text in CSV, or a flattened `pricing.default` column). A row it
    /// cannot read, or two prices of a SKU in force at once, make the whole file an error:
    /// every bill line priced from it would be in doubt.
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<ListPrices> {
        let what = "an export of system.billing.list_prices";
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(input_format(path, format!("the file is empty; give {what}")));
        }
        let table = super::tables::read(path, bytes, what)?;
        let mut missing = table.missing(&["sku_name", "price_start_time", "currency_code"]);
        if table.missing(&["pricing"]).len() == 1 && table.missing(&["pricing.default"]).len() == 1 {
            missing.push("pricing");
        }
        if !missing.is_empty() {
            return Err(input_format(path, format!("it has no {} column, so it is not {what}", missing.join(", "))));
        }
        let mut prices = ListPrices::default();
        for TableRow { number, fields, .. } in table.rows {
            let row_error = |why: Bad| input_format(path, format!("row {number} of the list prices: {}", why.reason));
            let fields = fields.map_err(row_error)?;
            let (sku, price) = list_price(&Row { fields: &fields }).map_err(row_error)?;
            prices.by_sku.entry(sku).or_default().push(price);
        }
        if prices.by_sku.is_empty() {
            return Err(input_format(path, format!("it holds no price, so it is not {what}")));
        }
        for (sku, list) in &mut prices.by_sku {
            list.sort_by_key(|p| p.start);
            for pair in list.windows(2) {
                if pair[0].end.is_none_or(|end| end > pair[1].start) {
                    return Err(input_format(
                        path,
                        format!(
                            "SKU {sku} has two list prices in force at {}: {} {} from {} and {} {} from {}",
                            pair[1].start.to_rfc3339(),
                            pair[0].price,
                            pair[0].currency,
                            pair[0].start.to_rfc3339(),
                            pair[1].price,
                            pair[1].currency,
                            pair[1].start.to_rfc3339()
                        ),
                    ));
                }
            }
        }
        Ok(prices)
    }

    /// The price of `sku` in force at `at`.
    pub fn at(&self, sku: &str, at: DateTime<Utc>) -> Option<&ListPrice> {
        self.by_sku.get(sku)?.iter().find(|p| p.start <= at && p.end.is_none_or(|end| at < end))
    }
}

fn list_price(row: &Row<'_>) -> std::result::Result<(String, ListPrice), Bad> {
    let sku = row.required_text("sku_name")?;
    let start = row.required_time("price_start_time")?;
    let end = row.time("price_end_time")?;
    if end.is_some_and(|end| end <= start) {
        let end = end.map(|e| e.to_rfc3339()).unwrap_or_default();
        return Err(Bad::timestamp("price_end_time", &end, "after price_start_time"));
    }
    let price = row.decimal("pricing.default")?.ok_or_else(|| Bad::missing("pricing.default"))?;
    if price < Decimal::ZERO {
        return Err(Bad::negative("pricing.default", price));
    }
    let currency_text = row.required_text("currency_code")?;
    let currency = super::iso_currency(&currency_text).ok_or_else(|| Bad::currency("currency_code", &currency_text))?;
    Ok((sku, ListPrice { start, end, price, currency, usage_unit: row.text("usage_unit")? }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    const PRICES: &str = "\
sku_name,cloud,currency_code,usage_unit,pricing,price_start_time,price_end_time
PREMIUM_SERVERLESS_REAL_TIME_INFERENCE_US_EAST,AWS,USD,DBU,\"{\"\"default\"\": \"\"0.070\"\"}\",2023-01-01 00:00:00.000+00:00,2025-01-15 00:00:00.000+00:00
PREMIUM_SERVERLESS_REAL_TIME_INFERENCE_US_EAST,AWS,USD,DBU,\"{\"\"default\"\": \"\"0.082\"\"}\",2025-01-15 00:00:00.000+00:00,
";

    fn prices() -> ListPrices {
        ListPrices::parse(Path::new("list_prices.csv"), PRICES.as_bytes()).unwrap()
    }

    fn billing(rows: &str, options: &ParseOptions) -> ParsedBill {
        let header = "record_id,workspace_id,sku_name,usage_start_time,usage_end_time,usage_date,usage_unit,\
                      usage_quantity,record_type,billing_origin_product,usage_metadata,identity_metadata,product_features";
        parse_billing(Path::new("usage.csv"), format!("{header}\n{rows}").as_bytes(), options).unwrap()
    }

    fn row(start: &str, quantity: &str, record_type: &str, product: &str) -> String {
        format!(
            "r1,1234567890123456,PREMIUM_SERVERLESS_REAL_TIME_INFERENCE_US_EAST,{start},{},2025-01-14,DBU,{quantity},\
             {record_type},{product},\"{{\"\"endpoint_name\"\": \"\"chat\"\", \"\"ai_gateway\"\": {{\"\"endpoint_name\"\": \
             \"\"main.ai.gw\"\", \"\"destination_model\"\": \"\"databricks-claude-sonnet-4-5\"\"}}}}\",\
             \"{{\"\"run_by\"\": \"\"ana@example.com\"\"}}\",\"{{\"\"serving_type\"\": \"\"FOUNDATION_MODEL\"\"}}\"",
            start.replace("10:00", "11:00")
        )
    }

    #[test]
    fn dbus_cost_the_list_price_in_force_at_the_usage_start() {
        let options = ParseOptions { list_prices: Some(prices()), dbu_rate: None };
        let rows = [
            row("2025-01-14 10:00:00.000+00:00", "12.500000000000000000", "ORIGINAL", "MODEL_SERVING"),
            row("2025-01-15 10:00:00.000+00:00", "12.5", "ORIGINAL", "AI_GATEWAY"),
            row("2025-01-14 10:00:00.000+00:00", "-12.5", "RETRACTION", "MODEL_SERVING"),
            row("2025-01-14 10:00:00.000+00:00", "10", "RESTATEMENT", "MODEL_SERVING"),
            row("2025-01-14 10:00:00.000+00:00", "99", "ORIGINAL", "JOBS"),
        ];
        let parsed = billing(&rows.join("\n"), &options);
        assert!(parsed.bad_rows.is_empty(), "{:#?}", parsed.bad_rows);
        assert_eq!(parsed.skipped, 1);
        let costs: Vec<_> = parsed.lines.iter().map(|l| (l.cost.unwrap(), l.usage_quantity.unwrap())).collect();
        // 0.070 before the change on the 15th, 0.082 from it; a retraction keeps its sign
        assert_eq!(
            costs,
            [(d("0.875"), d("12.5")), (d("1.025"), d("12.5")), (d("-0.875"), d("-12.5")), (d("0.7"), d("10"))]
        );
        let line = &parsed.lines[0];
        assert_eq!((line.provider.as_str(), line.charge_kind, line.quantity), ("databricks", ChargeKind::Other, None));
        assert_eq!(line.provider_model.as_deref(), Some("databricks-claude-sonnet-4-5"));
        assert_eq!(line.endpoint_name.as_deref(), Some("main.ai.gw"));
        assert_eq!(
            (line.account.as_deref(), line.user_id.as_deref()),
            (Some("1234567890123456"), Some("ana@example.com"))
        );
        assert_eq!(
            line.description.as_deref(),
            Some("PREMIUM_SERVERLESS_REAL_TIME_INFERENCE_US_EAST FOUNDATION_MODEL")
        );
        assert_eq!((line.usage_unit.as_deref(), line.currency.as_deref()), (Some("DBU"), Some("USD")));
        assert_eq!(line.period_start.to_rfc3339(), "2025-01-14T10:00:00+00:00");
        assert_eq!(parsed.lines.iter().map(|l| l.row_number).collect::<Vec<_>>(), [1, 2, 3, 4]);

        let flat = billing(&rows[0], &ParseOptions { list_prices: None, dbu_rate: Some(d("0.07")) });
        assert_eq!(flat.lines[0].cost, Some(d("0.875")));
    }

    #[test]
    fn a_billing_export_without_prices_is_refused_with_the_advice() {
        let err = parse_billing(Path::new("usage.csv"), b"sku_name\nX\n", &ParseOptions::default()).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, Error::Usage(_)), "{text}");
        assert!(text.contains("--list-prices") && text.contains("--dbu-rate"), "{text}");
    }

    #[test]
    fn bad_billing_rows_say_why() {
        let options = ParseOptions { list_prices: Some(prices()), dbu_rate: None };
        let good = row("2025-01-14 10:00:00.000+00:00", "1", "ORIGINAL", "MODEL_SERVING");
        for (bad, code, says) in [
            (
                good.replace("PREMIUM_SERVERLESS_REAL_TIME_INFERENCE_US_EAST", "PREMIUM_GPU"),
                "no_list_price",
                "PREMIUM_GPU",
            ),
            (
                good.replace("2025-01-14 10:00", "2022-06-01 10:00").replace("2025-01-14 11:00", "2022-06-01 11:00"),
                "no_list_price",
                "2022-06-01",
            ),
            (good.replace(",DBU,", ",HOUR,"), "no_list_price", "per DBU"),
            (good.replace(",1,ORIGINAL", ",1.2.3,ORIGINAL"), "bad_amount", "usage_quantity"),
            (good.replace(",1,ORIGINAL", ",,ORIGINAL"), "missing_field", "usage_quantity"),
            (good.replace("ORIGINAL", "ADJUSTMENT"), "wrong_type", "record_type"),
            (good.replace("2025-01-14 10:00:00.000+00:00", "14/01/2025"), "bad_timestamp", "usage_start_time"),
            (good.replace(",MODEL_SERVING,", ",,"), "missing_field", "billing_origin_product"),
        ] {
            let parsed = billing(&bad, &options);
            assert!(parsed.lines.is_empty(), "{bad}");
            assert_eq!(parsed.bad_rows[0].reason_code, code, "{bad}: {}", parsed.bad_rows[0].reason);
            assert!(parsed.bad_rows[0].reason.contains(says), "{bad}: {}", parsed.bad_rows[0].reason);
        }
        // more places than a decimal holds: refused, never rounded
        assert_eq!(exact_product(d("0.1234567890123456789012345"), d("0.0001")).unwrap_err().code, "bad_amount");
        assert_eq!(exact_product(d("1.500000"), d("0.070")), Ok(d("0.105")));
        assert_eq!(exact_product(d("0.5"), d("0.2")), Ok(d("0.1")));
    }

    #[test]
    fn a_parquet_export_with_structs_and_maps_reads_as_its_csv() {
        use std::sync::Arc;

        use arrow::array::{
            ArrayRef, Decimal128Array, MapBuilder, RecordBatch, StringArray, StringBuilder, StructArray,
            TimestampMicrosecondArray,
        };
        use arrow::datatypes::Field;

        let text = |v: &str| Arc::new(StringArray::from(vec![v])) as ArrayRef;
        let field = |name: &str, array: &ArrayRef| Arc::new(Field::new(name, array.data_type().clone(), true));
        let object = |members: Vec<(&str, ArrayRef)>| {
            let members = members.into_iter().map(|(name, array)| (field(name, &array), array)).collect::<Vec<_>>();
            Arc::new(StructArray::from(members)) as ArrayRef
        };
        let start = 1_736_848_800_000_000i64; // 2025-01-14T10:00:00Z
        let time = |us: i64| Arc::new(TimestampMicrosecondArray::from(vec![us]).with_timezone("UTC")) as ArrayRef;
        let quantity = Decimal128Array::from(vec![12_500_000_000_000_000_000i128]).with_precision_and_scale(38, 18);
        let mut tags = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
        tags.keys().append_value("team");
        tags.values().append_value("search");
        tags.append(true).unwrap();
        let gateway = object(vec![
            ("endpoint_name", text("main.ai.gw")),
            ("destination_model", text("databricks-claude-sonnet-4-5")),
        ]);
        let batch = RecordBatch::try_from_iter(vec![
            ("record_id", text("r1")),
            ("workspace_id", text("1234567890123456")),
            ("sku_name", text("PREMIUM_SERVERLESS_REAL_TIME_INFERENCE_US_EAST")),
            ("usage_start_time", time(start)),
            ("usage_end_time", time(start + 3_600_000_000)),
            ("custom_tags", Arc::new(tags.finish()) as ArrayRef),
            ("usage_unit", text("DBU")),
            ("usage_quantity", Arc::new(quantity.unwrap()) as ArrayRef),
            ("usage_metadata", object(vec![("endpoint_name", text("chat")), ("ai_gateway", gateway)])),
            ("identity_metadata", object(vec![("run_by", text("ana@example.com"))])),
            ("record_type", text("ORIGINAL")),
            ("billing_origin_product", text("MODEL_SERVING")),
            ("product_features", object(vec![("serving_type", text("FOUNDATION_MODEL"))])),
        ])
        .unwrap();
        let mut bytes = Vec::new();
        let mut writer = parquet::arrow::ArrowWriter::try_new(&mut bytes, batch.schema(), None).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();

        let options = ParseOptions { list_prices: Some(prices()), dbu_rate: None };
        let (source, parsed) =
            super::super::parse(BillSource::Auto, Path::new("usage.parquet"), &bytes, &options).unwrap();
        assert_eq!(source, BillSource::DatabricksBilling);
        let csv = billing(&row("2025-01-14 10:00:00.000+00:00", "12.5", "ORIGINAL", "MODEL_SERVING"), &options);
        assert!(parsed.bad_rows.is_empty(), "{:#?}", parsed.bad_rows);
        assert_eq!(parsed.lines, csv.lines);
        assert_eq!(parsed.lines[0].cost, Some(d("0.875")));
    }

    #[test]
    fn list_prices_that_overlap_or_cannot_be_read_are_refused() {
        let overlapping = PRICES.replace("2025-01-15 00:00:00.000+00:00,\n", "2025-01-10 00:00:00.000+00:00,\n");
        let err = ListPrices::parse(Path::new("p.csv"), overlapping.as_bytes()).unwrap_err().to_string();
        assert!(err.contains("two list prices in force"), "{err}");
        let bad = PRICES.replace("0.082", "cheap");
        let err = ListPrices::parse(Path::new("p.csv"), bad.as_bytes()).unwrap_err().to_string();
        assert!(err.contains("row 2") && err.contains("pricing.default"), "{err}");
        let err = ListPrices::parse(Path::new("p.csv"), b"a,b\n1,2\n").unwrap_err().to_string();
        assert!(err.contains("system.billing.list_prices"), "{err}");
        // an open price is in force from its start on
        let p = prices();
        let at =
            |t: &str| p.at("PREMIUM_SERVERLESS_REAL_TIME_INFERENCE_US_EAST", super::super::tables::time(t).unwrap());
        assert_eq!(at("2030-01-01 00:00:00").map(|p| p.price), Some(d("0.082")));
        assert_eq!(at("2025-01-14 23:59:59").map(|p| p.price), Some(d("0.070")));
        assert_eq!(at("2022-12-31 23:59:59"), None);
    }

    #[test]
    fn external_spend_is_money_per_provider_model_and_user() {
        let csv = "record_id,workspace_id,usage_start_time,usage_end_time,usage_date,usage_unit,usage_quantity,\
                   usage_metadata,identity_metadata
s1,42,2025-01-03 10:00:00.000+00:00,2025-01-03 11:00:00.000+00:00,2025-01-03,USD,1.234567,\
\"{\"\"provider\"\": \"\"OPENAI\"\", \"\"model\"\": \"\"gpt-4o\"\", \"\"endpoint_name\"\": \"\"main.ai.gw\"\"}\",\
\"{\"\"run_by\"\": \"\"bob@example.com\"\"}\"
s2,42,2025-01-03 10:00:00.000+00:00,2025-01-03 11:00:00.000+00:00,2025-01-03,dollars,1,\"{\"\"provider\"\": \"\"anthropic\"\"}\",
";
        let parsed = parse_external_spend(Path::new("spend.csv"), csv.as_bytes()).unwrap();
        let line = &parsed.lines[0];
        assert_eq!((line.provider.as_str(), line.provider_model.as_deref()), ("openai", Some("gpt-4o")));
        assert_eq!((line.cost, line.currency.as_deref()), (Some(d("1.234567")), Some("USD")));
        assert_eq!(
            (line.user_id.as_deref(), line.endpoint_name.as_deref()),
            (Some("bob@example.com"), Some("main.ai.gw"))
        );
        assert_eq!((line.quantity, line.usage_quantity), (None, None));
        assert_eq!(parsed.bad_rows[0].reason_code, "unknown_currency");
        assert_eq!(ledger_provider("AMAZON_BEDROCK"), "amazon-bedrock");
    }

    #[test]
    fn each_export_is_told_by_its_columns() {
        let cols = |s: &str| s.split(',').map(str::to_string).collect::<Vec<_>>();
        assert_eq!(
            detect(&cols("record_id,sku_name,usage_start_time,usage_end_time,usage_quantity,billing_origin_product")),
            Some(Export::Billing)
        );
        assert_eq!(
            detect(&cols("usage_start_time,usage_end_time,usage_quantity,usage_unit,usage_metadata")),
            Some(Export::ExternalSpend)
        );
        assert_eq!(
            detect(&cols("sku_name,currency_code,pricing,price_start_time,price_end_time")),
            Some(Export::ListPrices)
        );
        assert_eq!(detect(&cols("BilledCost,BillingCurrency")), None);
        let err = usable(Path::new("p.csv"), Export::ListPrices).unwrap_err().to_string();
        assert!(err.contains("--list-prices"), "{err}");
    }
}
