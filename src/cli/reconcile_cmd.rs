//! `tokenledger reconcile`

use std::path::PathBuf;

use clap::Args;
use rust_decimal::Decimal;

use super::{Cli, OutputFormat, print_json};
use crate::bill::reconcile::{ReconcileOptions, Reconciliation, Status, parse_tolerance, reconcile};
use crate::error::Result;
use crate::output::chart::{Chart, ChartKind};
use crate::output::{Table, thousands};
use crate::time::Period;
use crate::warehouse::Warehouse;

/// Exit code when a row of the reconciliation is outside the tolerance.
pub const EXIT_UNRECONCILED: i32 = crate::run::EXIT_UNRECONCILED;

#[derive(Debug, Args)]
#[command(after_help = "\
Sets the ledger (usage_daily) beside the imported bills (bill_lines, see `tokenledger bill
import`), per day x provider x the provider's model id x charge kind (input, cached_input,
cache_write, output, web_search, other; `all` where the bill does not split a model's cost by
kind). Only the providers the bills cover are compared; the others are named.

A served entity is billed under the model id of config/bill_mapping.csv, else under the price
book's catalog_model, else under its own name. Each row gets a status:
  ok                 tokens and cost agree within --tolerance (or by less than half a cent)
  missing_in_ledger  the bill has usage the logs lack (lost logs, a bypassed gateway)
  missing_in_bill    the logs have usage the bill does not charge
  price_mismatch     the tokens agree, the cost does not (implied prices per 1M in the note)
  volume_mismatch    the tokens disagree
  cost_mismatch      the cost disagrees and the bill gives no tokens (or the currencies differ,
                     or the ledger has unpriced tokens)
  unmatched_model    the bill names a model no served entity is billed under: map it
The rows replace the month's rows of the reconciliation table, which `chargeback --true-up`
reads.

Exit codes: 0 every row ok; 7 a row is not ok (after printing and writing); 1 and 2 as usual.

Examples:
  tokenledger reconcile --period 2025-01
  tokenledger reconcile --period 2025-01 --tolerance 1% --all
  tokenledger reconcile --period 2025-01 --format csv --output recon.csv
  tokenledger reconcile --period 2025-01 --chart recon.svg")]
pub struct ReconcileArgs {
    /// The month, YYYY-MM (UTC).
    #[arg(long, value_name = "YYYY-MM")]
    pub period: String,
    /// The difference still ok, of the larger side: a percentage (0.5%) or a fraction (0.005).
    #[arg(long, value_name = "PCT", default_value = "0.5%")]
    pub tolerance: String,
    /// Show every row, not only those that are not ok (csv and json always have every row).
    #[arg(long)]
    pub all: bool,
    /// Write the rows to this file (csv or json, by --format) instead of printing them.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Draw the daily ledger and bill cost per provider (SVG or PNG, by the extension).
    #[arg(long, value_name = "FILE")]
    pub chart: Option<PathBuf>,
}

pub async fn run(warehouse: &Warehouse, args: &ReconcileArgs, cli: &Cli) -> Result<i32> {
    let period = Period::month(&args.period)?;
    let options = ReconcileOptions {
        period: args.period.clone(),
        from: period.start,
        to: period.end.pred_opt().unwrap_or(period.end),
        tolerance: parse_tolerance(&args.tolerance)?,
    };
    let result = reconcile(warehouse, &options).await?;
    if let Some(path) = &args.chart {
        chart(&result).render(path)?;
    }
    match (cli.format, &args.output) {
        (OutputFormat::Json, None) => print_json(&result)?,
        (OutputFormat::Json, Some(path)) => crate::output::write_atomic(path, &serde_json::to_vec_pretty(&result)?)?,
        (OutputFormat::Csv, out) => {
            let bytes = csv_text(&result)?;
            match out {
                Some(path) => crate::output::write_atomic(path, &bytes)?,
                None => print!("{}", String::from_utf8_lossy(&bytes)),
            }
        }
        (_, out) => {
            let text = render(&result, args.all || out.is_some());
            match out {
                Some(path) => crate::output::write_atomic(path, text.as_bytes())?,
                None => print!("{text}"),
            }
        }
    }
    Ok(if result.findings().next().is_some() { EXIT_UNRECONCILED } else { 0 })
}

fn money(d: Option<Decimal>) -> String {
    d.map(|d| format!("{:.2}", crate::money::round(d, 2))).unwrap_or_default()
}

fn count(n: Option<i64>) -> String {
    n.map(|n| if n < 0 { format!("-{}", thousands(n.unsigned_abs())) } else { thousands(n as u64) }).unwrap_or_default()
}

/// The table for people: the rows (those not ok, unless `all`) and a summary per provider.
fn render(r: &Reconciliation, all: bool) -> String {
    let mut out = String::new();
    let shown: Vec<_> = r.rows.iter().filter(|row| all || row.status != Status::Ok).collect();
    if !shown.is_empty() {
        let mut t = Table::new([
            "date",
            "provider",
            "model",
            "kind",
            "ledger tokens",
            "bill tokens",
            "ledger cost",
            "bill cost",
            "difference",
            "status",
            "note",
        ]);
        for row in shown {
            t.row([
                row.date.to_string(),
                row.provider.clone(),
                row.provider_model.clone(),
                row.charge_kind.clone(),
                count(Some(row.ledger_tokens)),
                count(row.bill_tokens),
                money(row.ledger_cost),
                money(row.bill_cost),
                money(row.difference),
                row.status.as_str().to_string(),
                row.note.clone(),
            ]);
        }
        out.push_str(&t.render());
        out.push('\n');
    }
    let mut t =
        Table::new(["provider", "month", "currency", "ledger cost", "bill cost", "difference", "rows", "not ok"]);
    type Sums = (std::collections::BTreeSet<String>, Decimal, Decimal, usize, usize);
    let mut sums: std::collections::BTreeMap<String, Sums> = Default::default();
    for row in &r.rows {
        let e = sums.entry(row.provider.clone()).or_default();
        e.0.extend(row.currency.clone());
        e.1 += row.ledger_cost.unwrap_or_default();
        e.2 += row.bill_cost.unwrap_or_default();
        e.3 += 1;
        e.4 += usize::from(row.status != Status::Ok);
    }
    for (provider, (currencies, l, b, rows, bad)) in sums {
        t.row([
            provider,
            r.period.clone(),
            currencies.into_iter().collect::<Vec<_>>().join(", "),
            money(Some(l)),
            money(Some(b)),
            money(Some(b - l)),
            thousands(rows as u64),
            thousands(bad as u64),
        ]);
    }
    out.push_str(&t.render());
    let bad = r.findings().count();
    out.push_str(&format!(
        "\n{} of {} rows not ok; bills: {} file(s); usage_daily version {}, bill_lines version {}\n",
        bad,
        r.rows.len(),
        r.bill_files.len(),
        r.usage_daily_version,
        r.bill_lines_version
    ));
    let used: Vec<String> = r.bill_sources.iter().filter(|s| s.2).map(|(p, s, _)| format!("{p} {s}")).collect();
    let unused: Vec<String> = r.bill_sources.iter().filter(|s| !s.2).map(|(p, s, _)| format!("{p} {s}")).collect();
    if !used.is_empty() {
        out.push_str(&format!("bills counted: {}\n", used.join(", ")));
    }
    if !unused.is_empty() {
        out.push_str(&format!("not counted (the provider's own bill covers the same spend): {}\n", unused.join(", ")));
    }
    if !r.unbilled_providers.is_empty() {
        out.push_str(&format!("not compared (no bill imported): {}\n", r.unbilled_providers.join(", ")));
    }
    if bad > 0 {
        out.push_str(
            "chargeback --true-up charges the billed amounts (the differences become true_up lines by each key's share)\n",
        );
    }
    out
}

/// Every row as CSV, safe in a spreadsheet (text neutralised; numbers, negative ones too, are
/// data).
fn csv_text(r: &Reconciliation) -> Result<Vec<u8>> {
    use crate::output::neutralise;
    let header = [
        "date",
        "provider",
        "provider_model",
        "charge_kind",
        "currency",
        "ledger_requests",
        "ledger_tokens",
        "ledger_unpriced_tokens",
        "ledger_cost",
        "bill_requests",
        "bill_tokens",
        "bill_cost",
        "difference",
        "status",
        "note",
    ]
    .map(String::from);
    let opt = |v: Option<String>| v.unwrap_or_default();
    let rows = r.rows.iter().map(|row| {
        [
            row.date.to_string(),
            neutralise(&row.provider),
            neutralise(&row.provider_model),
            row.charge_kind.clone(),
            neutralise(&opt(row.currency.clone())),
            row.ledger_requests.to_string(),
            row.ledger_tokens.to_string(),
            row.ledger_unpriced_tokens.to_string(),
            opt(row.ledger_cost.map(|d| d.normalize().to_string())),
            opt(row.bill_requests.map(|d| d.to_string())),
            opt(row.bill_tokens.map(|d| d.to_string())),
            opt(row.bill_cost.map(|d| d.normalize().to_string())),
            opt(row.difference.map(|d| d.normalize().to_string())),
            row.status.as_str().to_string(),
            neutralise(&row.note),
        ]
    });
    crate::output::csv_bytes(header, rows)
}

/// Daily cost per provider, ledger beside bill.
fn chart(r: &Reconciliation) -> Chart {
    let mut c = Chart::new(ChartKind::Line, &format!("Ledger vs bill, {}", r.period), "day", "cost");
    for row in &r.rows {
        let day = row.date.format("%m-%d").to_string();
        let f = |d: Option<Decimal>| d.and_then(|d| rust_decimal::prelude::ToPrimitive::to_f64(&d)).unwrap_or(0.0);
        c.add(&day, &format!("{} ledger", row.provider), f(row.ledger_cost));
        c.add(&day, &format!("{} bill", row.provider), f(row.bill_cost));
    }
    c
}
