//! Closing a period. Finance books a month once: `close` records it in the `periods` table
//! with the bytes of its export (kept in the warehouse, so that the closed export is the same
//! bytes for ever), the table versions and config it was computed from, and what each key was
//! charged. Whatever moves the month afterwards — late records, a re-rate, a back-dated
//! principal, a true-up — is not written into it: the first open month after the latest closed
//! one carries the difference as `adjustment` lines (`prior_period` names the month they
//! correct), and closing that month records the month's state as carried, so that each
//! difference is posted once. The adjustments are differences of rounded lines, so they add up
//! to the difference of the rounded totals to the cent, and Σ closed exports + Σ adjustments is
//! the ledger's total today.
//!
//! Reopening (`close --reopen`, with a reason) is recorded too; a month whose movement a later
//! closed month has carried cannot be reopened (its difference is already booked there).

use std::collections::BTreeMap;

use arrow::array::{ArrayRef, RecordBatch, StringBuilder, TimestampMicrosecondBuilder};
use arrow::datatypes::DataType;
use deltalake::writer::{DeltaWriter, RecordBatchWriter};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Charge, Chargeback, ChargebackOptions, Line, Period, cast_columns, chargeback, text_at};
use crate::error::{Error, Result};
use crate::warehouse::Warehouse;
use crate::warehouse::schema::{PERIODS, PERIODS_PARTITION, periods_schema};

/// How a period's export was made (what `chargeback` is given again to see it today).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportOptions {
    pub true_up: bool,
    pub capacity_from_bill: bool,
}

/// What one key was charged in a period in one currency, all its charges together: the
/// counts of the chargeback's columns and the rounded cost (`None` for unpriced usage).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyAmount {
    pub keys: Vec<String>,
    pub currency: String,
    /// requests, input, cache read, cache creation, output tokens, unpriced requests,
    /// unpriced tokens, unmetered requests.
    pub counts: [i64; 8],
    pub cost: Option<Decimal>,
}

/// A period's lines by key and currency.
pub type Snapshot = Vec<KeyAmount>;

/// One row of the `periods` table: a close or a reopen.
#[derive(Debug, Clone)]
pub struct PeriodEvent {
    pub period: String,
    pub event_id: String,
    /// `close` or `reopen`.
    pub action: String,
    /// UTC microseconds.
    pub at: i64,
    pub by: Vec<String>,
    pub reason: Option<String>,
    pub options: ExportOptions,
    /// What the export was computed from (tables and their versions, config digests).
    pub source: serde_json::Value,
    /// The warehouse file holding the closed export's bytes, and their SHA-256.
    pub export_key: Option<String>,
    pub export_sha256: Option<String>,
    /// Currency -> the rounded total.
    pub totals: BTreeMap<String, String>,
    /// The period's own lines (without the adjustments it carries).
    pub lines: Snapshot,
    /// The closed periods whose movement this export carried, and their state then.
    pub carried: BTreeMap<String, Snapshot>,
}

/// What a chargeback carries of one closed period, for its manifest.
#[derive(Debug, Clone, Serialize)]
pub struct Carried {
    pub prior_period: String,
    /// The close (or the later close that carried it last) the difference is taken from.
    pub since_event: String,
    /// Currency -> today's total minus the total already booked, rounded.
    pub difference: BTreeMap<String, Decimal>,
    #[serde(skip)]
    pub state: Snapshot,
}

/// The `periods` table, oldest event first.
#[derive(Debug, Clone, Default)]
pub struct History {
    pub events: Vec<PeriodEvent>,
}

impl History {
    pub async fn load(warehouse: &Warehouse) -> Result<Self> {
        if !warehouse.has_table(PERIODS).await? {
            return Ok(History::default());
        }
        let engine = warehouse.engine();
        let ctx = engine.context_with_memory(crate::engine::DEFAULT_MEMORY_LIMIT).await?;
        let table = warehouse.open_table(PERIODS).await?;
        ctx.register_table(PERIODS, engine.delta_table(&ctx, &table).await?)?;
        let sql = "SELECT period, event_id, action, arrow_cast(at, 'Int64') AS at, \"by\", reason, options, source, \
                          export_key, export_sha256, totals, lines, carried \
                   FROM periods ORDER BY at, event_id";
        let mut events = Vec::new();
        for b in ctx.sql(sql).await?.collect().await? {
            let t = cast_columns(&b, 0..13, &DataType::Utf8)?;
            for row in 0..b.num_rows() {
                let s = |i: usize| text_at(&t[i], row);
                let opt = |i: usize| Some(s(i)).filter(|v| !v.is_empty());
                events.push(PeriodEvent {
                    period: s(0),
                    event_id: s(1),
                    action: s(2),
                    at: s(3).parse().map_err(|e| Error::Internal(format!("periods.at: {e}")))?,
                    by: s(4).split(',').filter(|k| !k.is_empty()).map(str::to_string).collect(),
                    reason: opt(5),
                    options: from_json(&s(6), "options")?,
                    source: from_json(&s(7), "source")?,
                    export_key: opt(8),
                    export_sha256: opt(9),
                    totals: from_json(&s(10), "totals")?,
                    lines: from_json(&s(11), "lines")?,
                    carried: from_json(&s(12), "carried")?,
                });
            }
        }
        Ok(History { events })
    }

    /// The close in force for `period` (its latest event, when that is a close).
    pub fn closed(&self, period: &str) -> Option<&PeriodEvent> {
        self.events.iter().rev().find(|e| e.period == period).filter(|e| e.action == "close")
    }

    /// The closed periods, oldest first.
    pub fn closed_periods(&self) -> Vec<&PeriodEvent> {
        let mut periods: Vec<&str> = self.events.iter().map(|e| e.period.as_str()).collect();
        periods.sort();
        periods.dedup();
        periods.into_iter().filter_map(|p| self.closed(p)).collect()
    }

    /// The month whose chargeback carries the closed periods' movement: the one after the
    /// latest closed month.
    pub fn first_open(&self) -> Option<String> {
        let latest = self.closed_periods().last().map(|e| e.period.clone())?;
        next_month(&latest).ok()
    }

    /// What of `period` is booked so far: its state when a later close last carried it, else
    /// its own closed lines; and the event that recorded it.
    pub fn booked(&self, period: &str) -> Option<(&str, &Snapshot)> {
        let close = self.closed(period)?;
        let carried = self
            .events
            .iter()
            .filter(|e| e.at >= close.at && e.action == "close" && e.period.as_str() > period)
            .filter(|e| self.closed(&e.period).is_some_and(|c| c.event_id == e.event_id))
            .filter_map(|e| e.carried.get(period).map(|s| (e.event_id.as_str(), s)))
            .next_back();
        Some(carried.unwrap_or((close.event_id.as_str(), &close.lines)))
    }
}

/// A JSON column of `periods`; empty is the default.
fn from_json<T: serde::de::DeserializeOwned + Default>(text: &str, what: &str) -> Result<T> {
    if text.is_empty() {
        return Ok(T::default());
    }
    serde_json::from_str(text).map_err(|e| Error::Internal(format!("periods.{what}: {e}")))
}

/// The month after `month` (`YYYY-MM`).
pub fn next_month(month: &str) -> Result<String> {
    Ok(Period::month(month)?.end.format("%Y-%m").to_string())
}

/// The month `period` is, if it is one.
fn month_of(period: &Period) -> Option<String> {
    let month = period.start.format("%Y-%m").to_string();
    (Period::month(&month).ok()? == *period).then_some(month)
}

/// A chargeback's own lines by key and currency (no totals, no adjustments).
pub fn snapshot(cb: &Chargeback) -> Snapshot {
    let mut by_key: BTreeMap<(Vec<String>, String), KeyAmount> = BTreeMap::new();
    for l in cb.lines.iter().filter(|l| l.charge != Charge::Total && l.prior_period.is_none()) {
        let entry = by_key.entry((l.keys.clone(), l.currency.clone())).or_insert_with(|| KeyAmount {
            keys: l.keys.clone(),
            currency: l.currency.clone(),
            ..KeyAmount::default()
        });
        for (sum, n) in entry.counts.iter_mut().zip(l.counts()) {
            *sum += n;
        }
        if let Some(c) = l.cost {
            *entry.cost.get_or_insert(Decimal::ZERO) += c;
        }
    }
    by_key.into_values().collect()
}

/// `today - booked` per key and currency: the lines that are not zero.
pub fn difference(today: &Snapshot, booked: &Snapshot) -> Snapshot {
    let mut out: BTreeMap<(Vec<String>, String), KeyAmount> = BTreeMap::new();
    for (sign, side) in [(1, today), (-1, booked)] {
        for k in side {
            let entry = out.entry((k.keys.clone(), k.currency.clone())).or_insert_with(|| KeyAmount {
                keys: k.keys.clone(),
                currency: k.currency.clone(),
                ..KeyAmount::default()
            });
            for (sum, n) in entry.counts.iter_mut().zip(k.counts) {
                *sum += sign * n;
            }
            if let Some(c) = k.cost {
                *entry.cost.get_or_insert(Decimal::ZERO) += Decimal::from(sign) * c;
            }
        }
    }
    out.into_values().filter(|k| k.counts.iter().any(|n| *n != 0) || k.cost.is_some_and(|c| !c.is_zero())).collect()
}

/// The cost of `lines` per currency (unpriced lines have none).
pub fn cost_by_currency(lines: &Snapshot) -> BTreeMap<String, Decimal> {
    let mut out: BTreeMap<String, Decimal> = BTreeMap::new();
    for k in lines.iter().filter(|k| !k.currency.is_empty()) {
        if let Some(c) = k.cost {
            *out.entry(k.currency.clone()).or_default() += c;
        }
    }
    out
}

/// What a chargeback was computed from, as `periods.source` records it at a close.
fn source_of(cb: &Chargeback) -> serde_json::Value {
    serde_json::json!({
        "tables": { cb.table.clone(): cb.table_version, "usage_hourly": cb.hourly_version },
        "rated_with": cb.rated_with,
        "config_at_export": cb.config_at_export,
        "true_up": cb.true_up,
    })
}

/// Today's chargeback of the closed period of `close`, as it was made (keys and options).
pub async fn today(warehouse: &Warehouse, close: &PeriodEvent) -> Result<Chargeback> {
    let period = Period::month(&close.period)?;
    chargeback(warehouse, &options(period, &close.by, close.options)).await
}

/// The options a month's export is made with: pools charged through the month's end.
pub fn options(period: Period, by: &[String], o: ExportOptions) -> ChargebackOptions {
    ChargebackOptions {
        through: Some(crate::time::date_start_micros(period.end)),
        period,
        by: by.to_vec(),
        as_of: None,
        tz: None,
        share_idle: false,
        true_up: o.true_up,
        capacity_from_bill: o.capacity_from_bill,
    }
}

/// How far one closed month has moved since what is booked of it.
#[derive(Debug, Clone)]
pub struct Movement {
    pub period: String,
    /// The close (or the later close that carried it last) the movement is counted from.
    pub since_event: String,
    /// The month today.
    pub state: Snapshot,
    /// Today minus booked, per key and currency (only what moved).
    pub moved: Snapshot,
}

/// The movement of every closed month that `month`'s exports by the keys `by` carry: none
/// unless `month` is the first open month. A closed month charged back by other keys cannot
/// be matched key by key: it is named in the notices and left for an export by its keys.
pub async fn movement(
    warehouse: &Warehouse,
    history: &History,
    month: &str,
    by: &[String],
) -> Result<(Vec<Movement>, Vec<String>)> {
    let (mut out, mut notices) = (Vec::new(), Vec::new());
    if history.closed(month).is_some() || history.first_open().as_deref() != Some(month) {
        return Ok((out, notices));
    }
    for close in history.closed_periods() {
        if close.by != by {
            notices.push(format!(
                "{} is closed by {}: its adjustments show in a chargeback of {month} by those keys",
                close.period,
                close.by.join(",")
            ));
            continue;
        }
        let Some((since, booked)) = history.booked(&close.period) else { continue };
        let state = snapshot(&today(warehouse, close).await?);
        let moved = difference(&state, booked);
        out.push(Movement { period: close.period.clone(), since_event: since.to_string(), state, moved });
    }
    Ok((out, notices))
}

/// Adds to `cb` (a month's chargeback, not closed) the movement of the closed months since it
/// was booked ([`movement`]), as `adjustment` lines: per key and currency, today's rounded
/// lines minus the booked ones, so that they add up to the difference of the rounded totals
/// exactly. The totals grow by them. Returns the notices.
pub async fn adjust(warehouse: &Warehouse, cb: &mut Chargeback, history: &History) -> Result<Vec<String>> {
    let Some(month) = month_of(&cb.period) else { return Ok(Vec::new()) };
    let (movements, notices) = movement(warehouse, history, &month, &cb.by).await?;
    let mut added: Vec<Line> = Vec::new();
    for m in movements {
        for k in &m.moved {
            let mut line = Line::empty(k.keys.clone(), k.currency.clone(), Charge::Adjustment);
            line.prior_period = Some(m.period.clone());
            for (count, n) in line.counts_mut().into_iter().zip(k.counts) {
                *count = n;
            }
            line.cost = k.cost;
            line.unrounded = k.cost;
            added.push(line);
        }
        cb.adjustments.push(Carried {
            prior_period: m.period,
            since_event: m.since_event,
            difference: cost_by_currency(&m.moved),
            state: m.state,
        });
    }
    if added.is_empty() {
        return Ok(notices);
    }
    // the adjustments go before the total lines, which grow by them
    let keys = cb.by.len();
    let first_total = cb.lines.iter().position(|l| l.charge == Charge::Total).unwrap_or(cb.lines.len());
    let mut totals: Vec<Line> = cb.lines.split_off(first_total);
    for a in &added {
        let total = match totals.iter_mut().find(|t| t.currency == a.currency) {
            Some(t) => t,
            None => {
                let cost = (!a.currency.is_empty()).then_some(Decimal::ZERO);
                totals.push(super::total_line(&[], keys, &a.currency, cost));
                totals.last_mut().expect("just pushed")
            }
        };
        for (sum, n) in total.counts_mut().into_iter().zip(a.counts()) {
            *sum += n;
        }
        if let (Some(t), Some(c)) = (total.cost.as_mut(), a.cost) {
            *t += c;
        }
        if let Some(c) = a.cost {
            let (exact, rounded) = cb.totals.entry(a.currency.clone()).or_insert(("0".into(), "0".into()));
            let add = |text: &str| -> Result<String> {
                let v: Decimal = text.parse().map_err(|e| Error::Internal(format!("total {text:?}: {e}")))?;
                Ok((v + c).to_string())
            };
            *exact = add(exact)?;
            *rounded = add(rounded)?;
        }
    }
    totals.sort_by(|a, b| a.currency.is_empty().cmp(&b.currency.is_empty()).then(a.currency.cmp(&b.currency)));
    cb.lines.extend(added);
    cb.lines.extend(totals);
    Ok(notices)
}

/// What `close` did.
#[derive(Debug, Clone)]
pub struct Closed {
    pub event: PeriodEvent,
    /// The period was closed before (with the same keys): nothing was written.
    pub already: bool,
    pub bytes: Vec<u8>,
    pub manifest: Vec<u8>,
}

/// Closes `month` by the keys `by`: its export (with the adjustments it carries, if it is the
/// first open month) is kept in the warehouse and the close recorded. Closing a closed month
/// again with the same keys changes nothing and gives the closed bytes.
pub async fn close(
    warehouse: &Warehouse,
    month: &str,
    by: &[String],
    options: ExportOptions,
    arguments: &[String],
) -> Result<Closed> {
    let period = Period::month(month)?;
    let history = History::load(warehouse).await?;
    if let Some(event) = history.closed(month) {
        if event.by != by {
            return Err(Error::Usage(format!(
                "{month} is closed by {}: close it by the same keys, or reopen it first (`tokenledger close --period \
                 {month} --reopen --reason TEXT`)",
                event.by.join(",")
            )));
        }
        let (bytes, manifest) = closed_bytes(warehouse, event).await?;
        return Ok(Closed { event: event.clone(), already: true, bytes, manifest });
    }
    let mut cb = chargeback(warehouse, &self::options(period, by, options)).await?;
    let own = snapshot(&cb);
    adjust(warehouse, &mut cb, &history).await?;
    let event_id = uuid::Uuid::new_v4().to_string();
    let bytes = crate::output::csv_bytes(cb.header(), cb.rows())?;
    let sha = hex::encode(Sha256::digest(&bytes));
    let key = format!("{PERIODS}/exports/{month}/{event_id}.csv");
    let mut manifest = cb.manifest(&key, &bytes, arguments);
    manifest["closed"] = serde_json::json!({ "period": month, "event_id": event_id });
    let manifest = (serde_json::to_string_pretty(&manifest)? + "\n").into_bytes();
    // the FOCUS export (the default version) of the month as closed, kept beside it
    let through = Some(crate::time::date_start_micros(period.end));
    let version = super::FocusVersion::default();
    let (o, f) = (options.true_up, options.capacity_from_bill);
    let (focus, _) = super::focus::focus_bytes(warehouse, &period, through, o, f, version).await?;
    let focus_key = format!("{PERIODS}/exports/{month}/{event_id}.focus.csv");
    // the bytes first: a close without its export is never recorded
    warehouse.write(&key, bytes.clone()).await?;
    warehouse.write(&format!("{key}.manifest.json"), manifest.clone()).await?;
    warehouse.write(&focus_key, focus.clone()).await?;
    let mut source = source_of(&cb);
    source["focus"] = serde_json::json!({ "key": focus_key, "sha256": hex::encode(Sha256::digest(&focus)), "version": version.name() });
    let event = PeriodEvent {
        period: month.to_string(),
        event_id,
        action: "close".into(),
        at: chrono::Utc::now().timestamp_micros(),
        by: by.to_vec(),
        reason: None,
        options,
        source,
        export_key: Some(key),
        export_sha256: Some(sha),
        totals: cb.totals.iter().map(|(c, (_, rounded))| (c.clone(), rounded.clone())).collect(),
        lines: own,
        carried: cb.adjustments.iter().map(|a| (a.prior_period.clone(), a.state.clone())).collect(),
    };
    append(warehouse, &event).await?;
    Ok(Closed { event, already: false, bytes, manifest })
}

/// Reopens the closed `month`, recording why. A month whose movement a later closed month
/// carried stays closed: its difference is booked there.
pub async fn reopen(warehouse: &Warehouse, month: &str, reason: &str) -> Result<PeriodEvent> {
    Period::month(month)?;
    if reason.trim().is_empty() {
        return Err(Error::Usage("--reopen needs --reason TEXT: why the closed numbers may change".into()));
    }
    let history = History::load(warehouse).await?;
    let Some(close) = history.closed(month) else {
        return Err(Error::Usage(format!("{month} is not closed: nothing to reopen")));
    };
    if let Some(later) = history.closed_periods().into_iter().find(|e| e.period.as_str() > month) {
        return Err(Error::Usage(format!(
            "{month} cannot be reopened while {} is closed: {}'s adjustments are booked from {month}'s closed \
             numbers. Reopen {} first",
            later.period, later.period, later.period
        )));
    }
    let event = PeriodEvent {
        period: month.to_string(),
        event_id: uuid::Uuid::new_v4().to_string(),
        action: "reopen".into(),
        at: chrono::Utc::now().timestamp_micros().max(close.at + 1),
        by: close.by.clone(),
        reason: Some(reason.trim().to_string()),
        options: close.options,
        source: serde_json::Value::Null,
        export_key: None,
        export_sha256: None,
        totals: BTreeMap::new(),
        lines: Vec::new(),
        carried: BTreeMap::new(),
    };
    append(warehouse, &event).await?;
    Ok(event)
}

/// The FOCUS export kept at the close, if it is of `version` (checked against its hash).
pub async fn closed_focus_bytes(
    warehouse: &Warehouse,
    event: &PeriodEvent,
    version: super::FocusVersion,
) -> Result<Option<Vec<u8>>> {
    let focus = &event.source["focus"];
    let (Some(key), Some(sha)) = (focus["key"].as_str(), focus["sha256"].as_str()) else { return Ok(None) };
    if focus["version"].as_str() != Some(version.name()) {
        return Ok(None);
    }
    let missing = || Error::Internal(format!("the closed FOCUS export of {} ({key}) is missing", event.period));
    let bytes = warehouse.read(key).await?.ok_or_else(missing)?.to_vec();
    if hex::encode(Sha256::digest(&bytes)) != sha {
        return Err(Error::Internal(format!(
            "the closed FOCUS export of {} ({key}) does not have the SHA-256 recorded at its close: it was altered",
            event.period
        )));
    }
    Ok(Some(bytes))
}

/// The closed export's bytes and manifest, checked against the recorded hash.
pub async fn closed_bytes(warehouse: &Warehouse, event: &PeriodEvent) -> Result<(Vec<u8>, Vec<u8>)> {
    let key = event.export_key.as_deref().unwrap_or_default();
    let missing = |what: &str| Error::Internal(format!("{what} of closed {} ({key}) is missing", event.period));
    let bytes = warehouse.read(key).await?.ok_or_else(|| missing("the export"))?.to_vec();
    let manifest = warehouse.read(&format!("{key}.manifest.json")).await?.ok_or_else(|| missing("the manifest"))?;
    let sha = hex::encode(Sha256::digest(&bytes));
    if Some(&sha) != event.export_sha256.as_ref() {
        return Err(Error::Internal(format!(
            "the closed export of {} ({key}) does not have the SHA-256 recorded at its close: it was altered",
            event.period
        )));
    }
    Ok((bytes, manifest.to_vec()))
}

async fn append(warehouse: &Warehouse, e: &PeriodEvent) -> Result<()> {
    let mut table = if warehouse.has_table(PERIODS).await? {
        warehouse.open_table(PERIODS).await?
    } else {
        warehouse.create_table(PERIODS, &periods_schema(), PERIODS_PARTITION).await?
    };
    let text = |v: Option<String>| {
        let mut b = StringBuilder::new();
        b.append_option(v);
        std::sync::Arc::new(b.finish()) as ArrayRef
    };
    let json = |v: serde_json::Result<String>| v.map(Some).map_err(Error::from);
    let mut at = TimestampMicrosecondBuilder::new().with_timezone("UTC");
    at.append_value(e.at);
    let columns: Vec<ArrayRef> = vec![
        text(Some(e.period.clone())),
        text(Some(e.event_id.clone())),
        text(Some(e.action.clone())),
        std::sync::Arc::new(at.finish()),
        text(Some(e.by.join(","))),
        text(e.reason.clone()),
        text(json(serde_json::to_string(&e.options))?),
        text(Some(e.source.to_string()).filter(|s| s != "null")),
        text(e.export_key.clone()),
        text(e.export_sha256.clone()),
        text(json(serde_json::to_string(&e.totals))?),
        text(json(serde_json::to_string(&e.lines))?),
        text(json(serde_json::to_string(&e.carried))?),
    ];
    let batch = RecordBatch::try_new(periods_schema(), columns)?;
    let mut writer = RecordBatchWriter::for_table(&table)?;
    writer.write(batch).await?;
    let adds = writer.flush().await?;
    let mut metadata = serde_json::Map::new();
    metadata.insert("tokenledger.period_event".into(), e.event_id.clone().into());
    crate::warehouse::commit_append(&mut table, adds, Vec::new(), metadata).await?;
    Ok(())
}

/// What moved in one closed period since its close.
#[derive(Debug, Clone, Serialize)]
pub struct Restatement {
    pub period: String,
    pub closed_at: String,
    pub close_event: String,
    pub by: Vec<String>,
    /// What moved it, where that can be told (the period as a whole).
    pub causes: Vec<String>,
    pub rows: Vec<RestatedKey>,
    /// Currency -> today's total minus the closed one.
    pub moved: BTreeMap<String, Decimal>,
    /// Currency -> what is not yet posted as adjustments (today minus what is booked).
    pub pending: BTreeMap<String, Decimal>,
    /// The tables and versions the close read, and those read today.
    pub closed_from: serde_json::Value,
    pub today_from: serde_json::Value,
}

/// One key's movement.
#[derive(Debug, Clone, Serialize)]
pub struct RestatedKey {
    pub keys: Vec<String>,
    pub currency: String,
    pub closed: Option<Decimal>,
    /// Closed plus the adjustments already posted.
    pub booked: Option<Decimal>,
    pub today: Option<Decimal>,
    /// Requests today minus at close.
    pub requests_moved: i64,
}

/// Per closed period (or only `period`), what moved since its close, by key, and why.
pub async fn restatements(warehouse: &Warehouse, period: Option<&str>) -> Result<Vec<Restatement>> {
    let history = History::load(warehouse).await?;
    if let Some(p) = period {
        Period::month(p)?;
        if history.closed(p).is_none() {
            return Err(Error::Usage(format!("{p} is not closed: `tokenledger close --period {p}` closes it")));
        }
    }
    let mut out = Vec::new();
    for close in history.closed_periods().into_iter().filter(|e| period.is_none_or(|p| e.period == p)) {
        let cb = today(warehouse, close).await?;
        let now = snapshot(&cb);
        let (_, booked) = history.booked(&close.period).unwrap_or((&close.event_id, &close.lines));
        let find =
            |s: &Snapshot, k: &KeyAmount| s.iter().find(|x| x.keys == k.keys && x.currency == k.currency).cloned();
        let (moved, pending) = (difference(&now, &close.lines), difference(&now, booked));
        let mut keys: Vec<&KeyAmount> = moved.iter().collect();
        for k in &pending {
            if !keys.iter().any(|x| x.keys == k.keys && x.currency == k.currency) {
                keys.push(k);
            }
        }
        keys.sort_by(|a, b| (&a.currency, &a.keys).cmp(&(&b.currency, &b.keys)));
        let rows: Vec<RestatedKey> = keys
            .iter()
            .map(|k| {
                let (c, b, t) = (find(&close.lines, k), find(booked, k), find(&now, k));
                let cost = |x: &Option<KeyAmount>| x.as_ref().and_then(|x| x.cost);
                let requests = |x: &Option<KeyAmount>| x.as_ref().map_or(0, |x| x.counts[0]);
                RestatedKey {
                    keys: k.keys.clone(),
                    currency: k.currency.clone(),
                    closed: cost(&c),
                    booked: cost(&b),
                    today: cost(&t),
                    requests_moved: requests(&t) - requests(&c),
                }
            })
            .collect();
        let today_from = source_of(&cb);
        let causes = causes(warehouse, close, &today_from).await?;
        out.push(Restatement {
            period: close.period.clone(),
            closed_at: crate::time::rfc3339(close.at),
            close_event: close.event_id.clone(),
            by: close.by.clone(),
            causes,
            rows,
            moved: cost_by_currency(&moved),
            pending: cost_by_currency(&pending),
            closed_from: close.source["tables"].clone(),
            today_from: today_from["tables"].clone(),
        });
    }
    Ok(out)
}

/// Why a closed period moved, where the tables tell: records of its dates ingested after the
/// close, dates re-rated with other prices, principals or settings, another reconciliation of
/// its bills (a true-up).
async fn causes(warehouse: &Warehouse, close: &PeriodEvent, today: &serde_json::Value) -> Result<Vec<String>> {
    let mut causes = Vec::new();
    let period = Period::month(&close.period)?;
    if warehouse.has_table(crate::warehouse::schema::INFERENCE).await? {
        let engine = warehouse.engine();
        let ctx = engine.context_with_memory(crate::engine::DEFAULT_MEMORY_LIMIT).await?;
        let table = warehouse.open_table(crate::warehouse::schema::INFERENCE).await?;
        ctx.register_table("inference", engine.delta_table(&ctx, &table).await?)?;
        let sql = format!(
            "SELECT count(*), count(DISTINCT request_date) FROM inference \
             WHERE request_date >= DATE '{}' AND request_date < DATE '{}' \
               AND arrow_cast(ingested_at, 'Int64') > {}",
            period.start, period.end, close.at
        );
        for b in ctx.sql(&sql).await?.collect().await? {
            let n = cast_columns(&b, [0, 1], &DataType::Int64)?;
            let (records, dates) = (super::int_at(&n[0], 0), super::int_at(&n[1], 0));
            if records > 0 {
                causes.push(format!("{records} records of {dates} date(s) ingested after the close"));
            }
        }
    }
    // config digests per file, as the dates were rated at close and are rated today
    let files = |v: &serde_json::Value| -> BTreeMap<String, std::collections::BTreeSet<String>> {
        let mut out: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
        for entry in v["rated_with"].as_array().into_iter().flatten() {
            if let Some(config) = entry["config"].as_object() {
                for (file, sha) in config {
                    out.entry(file.clone()).or_default().insert(sha.to_string());
                }
            }
        }
        out
    };
    let (then, now) = (files(&close.source), files(today));
    for (file, why) in [
        ("prices.csv", "dates re-rated with a changed prices.csv"),
        ("discounts.csv", "dates re-rated with changed discounts"),
        ("settings.toml", "dates re-rated with changed settings"),
        ("principals.csv", "principals re-attributed (config/principals.csv changed; back-dated moves)"),
    ] {
        if then.get(file) != now.get(file) {
            causes.push(why.to_string());
        }
    }
    if close.source["config_at_export"] != today["config_at_export"] {
        causes.push("provisioned pools changed (config/capacity.csv)".into());
    }
    if close.source["true_up"] != today["true_up"] {
        causes.push("the bills were reconciled again (true-up)".into());
    }
    Ok(causes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn amount(keys: &[&str], cost: &str, requests: i64) -> KeyAmount {
        KeyAmount {
            keys: keys.iter().map(|k| k.to_string()).collect(),
            currency: "USD".into(),
            counts: [requests, 0, 0, 0, 0, 0, 0, 0],
            cost: Some(cost.parse().unwrap()),
        }
    }

    #[test]
    fn the_difference_is_per_key_and_leaves_out_what_did_not_move() {
        let closed = vec![amount(&["CC-1"], "10.00", 5), amount(&["CC-2"], "3.30", 2)];
        let today = vec![amount(&["CC-1"], "10.00", 5), amount(&["CC-2"], "3.10", 2), amount(&["CC-3"], "0.75", 1)];
        let moved = difference(&today, &closed);
        assert_eq!(moved, vec![amount(&["CC-2"], "-0.20", 0), amount(&["CC-3"], "0.75", 1)]);
        let sum: Decimal = moved.iter().filter_map(|k| k.cost).sum();
        assert_eq!(sum, "0.55".parse::<Decimal>().unwrap(), "the difference of the totals, to the cent");
    }

    fn event(period: &str, action: &str, at: i64, carried: &[(&str, Snapshot)]) -> PeriodEvent {
        PeriodEvent {
            period: period.into(),
            event_id: format!("{period}-{action}-{at}"),
            action: action.into(),
            at,
            by: vec!["cost_center".into()],
            reason: None,
            options: ExportOptions::default(),
            source: serde_json::Value::Null,
            export_key: None,
            export_sha256: None,
            totals: BTreeMap::new(),
            lines: vec![amount(&["CC-1"], "1.00", 1)],
            carried: carried.iter().map(|(p, s)| (p.to_string(), s.clone())).collect(),
        }
    }

    #[test]
    fn a_months_movement_is_booked_once_by_the_close_that_carried_it() {
        let march_then = vec![amount(&["CC-1"], "1.50", 2)];
        let history = History {
            events: vec![
                event("2025-03", "close", 1, &[]),
                event("2025-04", "close", 2, &[("2025-03", march_then.clone())]),
            ],
        };
        assert_eq!(history.first_open().as_deref(), Some("2025-05"));
        // March as April's close carried it is what is booked now
        assert_eq!(history.booked("2025-03").unwrap(), ("2025-04-close-2", &march_then));
        assert_eq!(history.booked("2025-04").unwrap().0, "2025-04-close-2");
        // April reopened: its carrying no longer counts, and the first open month is April
        let mut reopened = history.clone();
        reopened.events.push(event("2025-04", "reopen", 3, &[]));
        assert!(reopened.closed("2025-04").is_none());
        assert_eq!(reopened.first_open().as_deref(), Some("2025-04"));
        assert_eq!(reopened.booked("2025-03").unwrap().0, "2025-03-close-1");
    }
}
