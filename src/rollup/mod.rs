//! Rollup: the `inference` table priced and attributed into the usage tables
//! (`usage_hourly`, `usage_daily`), with the SQL in `sql/` as the source of truth and
//! DataFusion running it.
//!
//! The work is cut by date, the tables' partition: each date is recomputed on its own, from
//! its own inference files, and replaces that date in both tables. That keeps memory bound to
//! a day's data whatever the warehouse holds, lets two dates run on two cores without any
//! exchange of rows between them, and makes the incremental run (only the dates whose
//! inference data changed) the same code as the full one. Small days are grouped into units
//! of work so that planning does not dominate. Requests are summed per hour first, in one
//! pass, and the hours' sums per day (with the hours' durations, for exact percentiles); the
//! sums are priced after (exact: prices and owners change at dates, cost is linear in tokens).
//! DataFusion's memory pool bounds what the aggregations hold, spilling to disk past it; the
//! hours' sums a lane holds for its unit's two tables are bounded by half of it (a bigger
//! unit sums its requests for each table).
//!
//! All dates of a run are committed to each table in one Delta commit that removes the old
//! files of those dates and adds the new ones.

mod state;
mod unit;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};

use arrow::array::AsArray;
use arrow::datatypes::{DataType, Int64Type};
use arrow::record_batch::RecordBatch;
use chrono::NaiveDate;
use datafusion::catalog::TableProvider;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::{DataFrame, SessionContext};
use deltalake::DeltaTable;
use deltalake::kernel::Add;
use indicatif::ProgressBar;

pub use state::RollupState;
use unit::{UnitTable, on_dates};

use crate::engine::delta_write::{WriteTarget, adds_of, write_plan};
use crate::engine::held_writes::{HeldSumsSource, HeldWrites, adds_by_write};
use crate::engine::{DEFAULT_MEMORY_LIMIT, Engine, Spawned, runtime};
use crate::error::{Error, Result};
use crate::model::{
    Grain, Inputs, SumsFrom, USAGE_BY_HOUR, find_data_features, register_config, register_inputs,
    register_usage_by_hour, register_views, usage,
};
use crate::pricing::Settings;
use crate::warehouse::rated::{RatedWith, StaleConfig, stale_config};
use crate::warehouse::schema::INFERENCE;
use crate::warehouse::{Warehouse, commit_replace_partitions};

/// Consecutive dates are recomputed together up to about this many requests: a query per
/// date would spend more time planning than running on small days.
const UNIT_ROWS: u64 = 500_000;

/// The column `inference` is partitioned by, which cuts the work into units.
const DATE_COLUMN: &str = "request_date";

/// Which dates a rollup recomputes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// The dates whose inference data changed since the last rollup, and those an earlier
    /// range rollup left out (all, the first time).
    Changed,
    /// Every date that has inference data.
    All,
    /// The dates from `from` to `to` (inclusive) that have inference data: a restatement.
    Range { from: NaiveDate, to: NaiveDate },
}

/// How to run a rollup.
#[derive(Debug, Clone)]
pub struct RollupOptions {
    pub scope: Scope,
    /// A re-rating after a price change: the summary reports each currency's cost of the
    /// recomputed dates before and after. Needs a [`Scope::Range`] or [`Scope::All`].
    pub rerate: bool,
    /// Bytes DataFusion's operators may hold before they spill to disk.
    pub memory_limit: usize,
    /// Dates recomputed at once (each on one core).
    pub parallelism: usize,
    /// Show a progress bar (on a terminal).
    pub progress: bool,
}

impl Default for RollupOptions {
    fn default() -> Self {
        Self {
            scope: Scope::Changed,
            rerate: false,
            memory_limit: DEFAULT_MEMORY_LIMIT,
            parallelism: std::thread::available_parallelism().map_or(2, |n| n.get()),
            progress: false,
        }
    }
}

/// One currency's cost over the re-rated dates, before and after.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CostChange {
    pub currency: String,
    pub before: String,
    pub after: String,
    pub change: String,
}

/// Which dates a rollup recomputed, as its summary and its commits say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RollupMode {
    /// The dates whose inference data changed (and those a range rollup left pending).
    #[default]
    Incremental,
    /// Every date.
    Full,
    /// A range of dates, restated.
    Restate,
    /// A range of dates (or every date) re-rated after a price change.
    Rerate,
}

impl RollupMode {
    pub fn as_str(self) -> &'static str {
        match self {
            RollupMode::Incremental => "incremental",
            RollupMode::Full => "full",
            RollupMode::Restate => "restate",
            RollupMode::Rerate => "rerate",
        }
    }
}

impl std::fmt::Display for RollupMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a rollup did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RollupSummary {
    pub mode: RollupMode,
    /// The dates recomputed by this run.
    pub dates_recomputed: Vec<String>,
    /// Requests read from `inference` for those dates.
    pub requests_recomputed: u64,
    /// The `inference` version the usage tables now reflect.
    pub inference_version: i64,
    /// Table name -> the Delta version written (none when nothing was recomputed).
    pub versions: Vec<(String, i64)>,
    /// Totals over the whole usage tables after the run:
    pub dates: u64,
    pub hourly_rows: u64,
    pub daily_rows: u64,
    pub requests: u64,
    /// Total cost at full precision, per currency (`USD 4362.357575771000`).
    pub cost: Vec<(String, String)>,
    pub unpriced_requests: u64,
    pub unpriced_tokens: u64,
    /// Successful requests logged without token counts: cost unknown, not zero.
    pub unmetered_requests: u64,
    pub unknown_requester_requests: u64,
    /// With `--rerate`: each currency's cost of the recomputed dates before and after.
    pub rerate: Vec<CostChange>,
    /// Things the user should know (dates rated with config files that changed since ...).
    pub notices: Vec<String>,
    /// The dates of `usage_daily` rated with config files that have changed since, until
    /// they are restated (also in `notices`).
    pub stale_config: Option<StaleConfig>,
    pub memory_limit_bytes: u64,
    pub elapsed_seconds: f64,
}

/// Brings `usage_hourly` and `usage_daily` up to date with `inference` for the dates of
/// `opts.scope`, each table in one atomic Delta commit (a reader sees the old rows of a date
/// or the new ones, never a mix).
pub async fn rollup(warehouse: &Warehouse, opts: &RollupOptions) -> Result<RollupSummary> {
    let started = std::time::Instant::now();
    if opts.rerate && opts.scope == Scope::Changed {
        return Err(Error::Usage(
            "--rerate recomputes a range of dates with the current prices: give it --from DATE --to DATE (or --full)"
                .into(),
        ));
    }
    // no warehouse at all is said as such, before its config files are missed
    let inference = warehouse.open_table(INFERENCE).await?;
    let mut inputs = Inputs::load(warehouse).await?;
    let inference_version = inference.version().map_or(0, |v| v as i64);
    let runtime = runtime(opts.memory_limit)?;

    // a session for the model's schema, the tables' totals and the re-rating report
    let ctx = warehouse.engine().context(runtime.clone(), 2).await?;
    register_inputs(&ctx, warehouse.engine(), &inference, &inputs).await?;
    find_data_features(&ctx, &mut inputs.settings).await?;
    register_views(&ctx, &inputs.settings).await?;
    let tables_existed =
        warehouse.has_table(Grain::Hourly.table()).await? && warehouse.has_table(Grain::Daily.table()).await?;
    // both tables opened at once (each plans its query for its columns, over the hours' sums)
    register_usage_by_hour(&ctx, &inputs.settings).await?;
    let open = |grain: Grain| {
        let (warehouse, ctx, settings) = (warehouse.clone(), ctx.clone(), inputs.settings.clone());
        Spawned::new(async move { usage_table(&warehouse, &ctx, grain, &settings).await })
    };
    let mut tables = Vec::new();
    for opening in Grain::ALL.map(open) {
        tables.push(opening.result().await?);
    }

    // the dates to recompute
    tracing::debug!(elapsed = ?started.elapsed(), "inputs loaded, usage tables open");
    let all_dates = state::inference_dates(&inference)?;
    let previous = RollupState::read(warehouse).await;
    let digests = RollupState::config_digests(warehouse).await?;
    let mut notices = Vec::new();
    // the dates the usage tables are behind on: those whose inference data changed since the
    // last rollup, and those an earlier range rollup left out; `None` when that cannot be told
    // (no state or no usage tables yet, commit files cleaned up, a bad state file)
    let changed = match &previous {
        Some(p) if tables_existed => match (
            state::dates_changed_since(warehouse, p.inference_version, inference_version).await?,
            p.pending_dates(),
        ) {
            (Some(mut dates), Ok(pending)) => {
                dates.extend(pending);
                Some(dates)
            }
            _ => None,
        },
        _ => None,
    };
    let (mode, targets): (RollupMode, BTreeSet<NaiveDate>) = match &opts.scope {
        Scope::Changed => match changed.clone() {
            Some(dates) => (RollupMode::Incremental, dates),
            None => (RollupMode::Full, all_dates.keys().copied().collect()),
        },
        Scope::All => {
            (if opts.rerate { RollupMode::Rerate } else { RollupMode::Full }, all_dates.keys().copied().collect())
        }
        Scope::Range { from, to } => {
            if from > to {
                return Err(Error::EmptyRange { from: *from, to: *to });
            }
            let dates = all_dates.keys().filter(|d| (from..=to).contains(d)).copied().collect();
            (if opts.rerate { RollupMode::Rerate } else { RollupMode::Restate }, dates)
        }
    };
    if opts.scope != Scope::Changed && targets.is_empty() {
        notices.push("no inference data for the dates asked for: nothing was recomputed".into());
    }
    let target_names: BTreeSet<String> = targets.iter().map(|d| d.to_string()).collect();

    // the usage tables' totals (the summary, the re-rating report) are read in this process
    // whatever the engine: they are small, and a query on a cluster costs a job's fixed cost
    // (a few tenths of a second on the loopback cluster) for a few thousand rows
    let totals = Engine::Local.context(runtime.clone(), 2).await?;
    for (grain, table) in Grain::ALL.into_iter().zip(&tables) {
        totals.register_table(grain.table(), Engine::Local.delta_table(&totals, table).await?)?;
    }
    let cost_before = if opts.rerate { cost_by_currency(&totals, Some(&target_names)).await? } else { BTreeMap::new() };

    let mut versions = Vec::new();
    let requests_recomputed: u64 = targets.iter().map(|d| all_dates.get(d).copied().unwrap_or(0)).sum();
    if !targets.is_empty() {
        let dates: Vec<(NaiveDate, u64)> =
            targets.iter().map(|d| (*d, all_dates.get(d).copied().unwrap_or(0))).collect();
        let work = units_for(warehouse.engine(), &dates, opts.parallelism);
        let bar = crate::progress::bar(requests_recomputed, crate::progress::Unit::Rows, opts.progress);
        bar.set_prefix("rollup");
        tracing::debug!(elapsed = ?started.elapsed(), units = work.len(), "recomputing");
        let adds = recompute(
            warehouse.engine(),
            &inference,
            &inputs,
            &tables,
            runtime,
            work,
            opts.parallelism,
            opts.memory_limit,
            &bar,
        )
        .await;
        tracing::debug!(elapsed = ?started.elapsed(), "recomputed");
        bar.finish_and_clear();
        let adds = adds.map_err(|e| e.with_memory_hint("the rollup", Some(opts.memory_limit)))?;
        for (mut table, (grain, adds)) in tables.into_iter().zip(Grain::ALL.into_iter().zip(adds)) {
            // the commit records the config of every date of the table after it (see `rated`)
            let existing: BTreeSet<NaiveDate> = state::partition_dates(&table, "date")?.into_keys().collect();
            let previous = RatedWith::read(warehouse, grain.table(), table.version().map_or(-1, |v| v as i64)).await?;
            let written = adds
                .iter()
                .filter_map(|a| a.partition_values.get("date").cloned().flatten())
                .map(|d| state::parse_partition_date(&d))
                .collect::<Result<BTreeSet<NaiveDate>>>()?;
            let rated = RatedWith::after_commit(previous.as_ref(), &existing, &targets, &written, &digests);
            let metadata = rated.to_metadata(&digests, mode.as_str(), inference_version);
            let version = commit_replace_partitions(&mut table, &target_names, adds, metadata).await?;
            versions.push((grain.table().to_string(), version));
            let _ = totals.deregister_table(grain.table())?;
            totals.register_table(grain.table(), Engine::Local.delta_table(&totals, &table).await?)?;
        }
    }
    // what this run leaves behind for the next plain rollup (nothing after a plain or a full
    // one): a range rollup must not make the dates it skipped look done
    let behind = changed.unwrap_or_else(|| all_dates.keys().copied().collect());
    let pending = crate::time::date_ranges(behind.difference(&targets));
    RollupState { inference_version, pending }.write(warehouse).await?;
    tracing::debug!(elapsed = ?started.elapsed(), "committed");
    // said on every run until those dates are restated, not once
    let stale_config = stale_config(warehouse).await?;
    notices.extend(stale_config.as_ref().map(StaleConfig::notice));

    let mut summary = summarize(&totals).await?;
    if opts.rerate {
        let after = cost_by_currency(&totals, Some(&target_names)).await?;
        summary.rerate = rerate_report(&cost_before, &after)?;
    }
    summary.mode = mode;
    summary.dates_recomputed = target_names.into_iter().collect();
    summary.requests_recomputed = requests_recomputed;
    summary.inference_version = inference_version;
    summary.versions = versions;
    summary.notices = notices;
    summary.stale_config = stale_config;
    summary.memory_limit_bytes = opts.memory_limit as u64;
    summary.elapsed_seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// Opens the usage table of `grain`, creating it from the model's schema the first time,
/// and checks that the model still produces the table's columns.
async fn usage_table(
    warehouse: &Warehouse,
    ctx: &SessionContext,
    grain: Grain,
    settings: &Settings,
) -> Result<DeltaTable> {
    let schema = usage(ctx, grain, settings).await?.schema().as_arrow().clone();
    if !warehouse.has_table(grain.table()).await? {
        return warehouse.create_table(grain.table(), &schema, "date").await;
    }
    let table = warehouse.open_latest(grain.table()).await?;
    warehouse.check_schema(&table, grain.table(), &schema)?;
    Ok(table)
}

/// Dates recomputed together, and their requests.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Unit {
    dates: Vec<NaiveDate>,
    rows: u64,
}

impl Unit {
    fn label(&self) -> String {
        match self.dates.as_slice() {
            [one] => one.to_string(),
            [first, .., last] => format!("{first} .. {last}"),
            [] => String::new(),
        }
    }
}

/// The units of work of `dates` (with their request counts) on `engine`.
///
/// Locally: about four units a lane, each small enough for this process's memory
/// ([`work_units`]). On a cluster: one unit a lane ([`even_units`]). A unit there is a job
/// whose tasks each scan and sum their share of its dates, then price and write both tables
/// from those sums (the files spread over the cluster's task slots whatever the number of
/// dates); the executors, not this process, hold the aggregations (spilling past their
/// memory), the sums (or compute them again for the second table when their memory pool
/// refuses) and the files being written (finalised every so many rows). Each job costs this
/// process about a quarter of a CPU-second: two and four units a lane (then two jobs a unit)
/// made a 10M rollup on two executors slower (11.8 - 15.5 s against 10.2 - 11.5 s).
fn units_for(engine: &Engine, dates: &[(NaiveDate, u64)], parallelism: usize) -> VecDeque<Unit> {
    match engine {
        Engine::Local => work_units(dates, parallelism),
        Engine::Ballista { .. } => even_units(dates, parallelism),
    }
}

/// Groups consecutive `dates` (with their request counts) into units of work: small enough
/// that every lane stays busy to the end (about four units a lane) and that a unit fits in
/// memory ([`UNIT_ROWS`]), big enough that planning does not dominate. A day bigger than
/// that is a unit of its own.
///
/// Two cuts are weighed: units filled up to a quarter of a lane's share, and exactly four
/// units a lane of about equal requests. The second is taken when it ends the run clearly
/// sooner ([`finish`]): with nine units on two lanes, one lane worked the ninth alone for a
/// seventh of a 1M rollup's time.
fn work_units(dates: &[(NaiveDate, u64)], parallelism: usize) -> VecDeque<Unit> {
    let lanes = parallelism.max(1);
    let filled = filled_units(dates, lanes);
    let even = even_units(dates, 4 * lanes);
    let fits = even.iter().all(|u| u.rows <= UNIT_ROWS || u.dates.len() == 1);
    // 5 % better at least: the model is rough, and a cut of fewer, bigger units costs more
    // per request (bigger hash tables)
    if fits && finish(&even, lanes) * 20 < finish(&filled, lanes) * 19 { even } else { filled }
}

/// Consecutive `dates` filled into units up to a quarter of a lane's share of the requests
/// (at most [`UNIT_ROWS`]).
fn filled_units(dates: &[(NaiveDate, u64)], lanes: usize) -> VecDeque<Unit> {
    let total: u64 = dates.iter().map(|(_, rows)| rows).sum();
    let target = (total / (lanes as u64 * 4)).clamp(1, UNIT_ROWS);
    let mut units = VecDeque::new();
    let mut unit = Unit::default();
    for &(date, rows) in dates {
        if !unit.dates.is_empty() && unit.rows + rows > target {
            units.push_back(std::mem::take(&mut unit));
        }
        unit.dates.push(date);
        unit.rows += rows;
    }
    if !unit.dates.is_empty() {
        units.push_back(unit);
    }
    units
}

/// The memory a unit's hourly sums may hold per request of the unit, at most: an hour's row
/// of sums is about 460 bytes (its strings, counts and durations), and there is at most one
/// per request (about one per four in `tokenledger gen`'s data).
const HELD_BYTES_PER_REQUEST: usize = 512;

/// What a unit costs besides its requests, in requests: planning and writing it took about
/// 50 ms in a 1M rollup, the time of about 25,000 requests.
const UNIT_FIXED_ROWS: u64 = 25_000;

/// When `units` would be done on `lanes` lanes, in requests: each lane takes the next unit of
/// the queue when it is free, as [`recompute`]'s lanes do.
fn finish(units: &VecDeque<Unit>, lanes: usize) -> u64 {
    let mut free = vec![0_u64; lanes.max(1)];
    for unit in units {
        if let Some(lane) = free.iter_mut().min() {
            *lane += unit.rows + UNIT_FIXED_ROWS;
        }
    }
    free.into_iter().max().unwrap_or(0)
}

/// Consecutive `dates` cut into at most `units` units of about equal requests: each date
/// goes to the unit in which the middle of its requests falls.
fn even_units(dates: &[(NaiveDate, u64)], units: usize) -> VecDeque<Unit> {
    let total: u128 = dates.iter().map(|&(_, rows)| u128::from(rows)).sum::<u128>().max(1);
    let count = units.max(1) as u128;
    let mut cut: Vec<Unit> = Vec::new();
    let mut before: u128 = 0;
    for &(date, rows) in dates {
        let index = ((2 * before + u128::from(rows)) * count / (2 * total)).min(count - 1) as usize;
        before += u128::from(rows);
        let open = cut.len();
        match cut.last_mut() {
            Some(last) if open > index => {
                last.dates.push(date);
                last.rows += rows;
            }
            _ => cut.push(Unit { dates: vec![date], rows }),
        }
    }
    cut.into()
}

/// A worker that recomputes dates on one core: its own session (so that its
/// `inference` can be the unit of dates it works on) over the shared runtime.
struct Lane {
    ctx: SessionContext,
    rows: UnitRows,
    settings: Settings,
    /// The usage tables (hourly, daily) the units' files are written to.
    targets: Vec<WriteTarget>,
}

/// How a lane's session reads a unit's dates of `inference`.
enum UnitRows {
    /// In this process: one table whose scans read the unit's dates, under the views
    /// registered once. A unit of at most `held_sums_max_requests` requests has its hourly
    /// sums computed once and held in memory for both tables, by the plan `held`, made at the
    /// lane's first such unit with the writes' plan the lanes share (`writes`); a bigger unit
    /// (one huge day) computes each table's sums from its requests, within the memory pool,
    /// which spills.
    Selected { table: Arc<UnitTable>, held_sums_max_requests: u64, held: Option<HeldPlan>, writes: SharedWrites },
    /// On a cluster, whose scheduler plans the queries again and knows only the tables of
    /// its codec: the whole table, filtered to each unit's dates by views registered again
    /// for each unit. A unit is one job of [`HeldWrites`]: its tasks sum the requests and
    /// write both tables from the sums where they run.
    Filtered(DataFrame),
}

/// The physical [`HeldWrites`] plan of both tables that the lanes share, made by the first
/// lane to need it: the writes' plans read only the held sums and the config tables, and each
/// run of them resets their state, so every lane runs them for every unit.
type SharedWrites = Arc<tokio::sync::OnceCell<Arc<dyn ExecutionPlan>>>;

/// A lane's plan of both tables from a unit's held sums: the sums' logical plan, made
/// physical again for each unit (its scan chooses the unit's files then), under the shared
/// writes. Planning the writes for each unit was 6 % of a 1M-request rollup's instructions;
/// planning them once a lane instead of once, 5 % of a 200,000-request one's.
struct HeldPlan {
    /// The sums' optimized logical plan, over the lane's unit table.
    sums: LogicalPlan,
    /// A `HeldWritesExec`, over the sums of the unit it was made at.
    writes: Arc<dyn ExecutionPlan>,
}

impl HeldPlan {
    async fn new(
        ctx: &SessionContext,
        settings: &Settings,
        targets: &[WriteTarget],
        requests: u64,
        shared: &SharedWrites,
    ) -> Result<Self> {
        let writes = shared
            .get_or_try_init(|| async {
                let plan = held_writes_plan(ctx, settings, targets, requests).await?;
                physical(ctx, &plan).await
            })
            .await?
            .clone();
        let (state, sums) = ctx.table(USAGE_BY_HOUR).await?.into_parts();
        Ok(Self { sums: state.optimize(&sums)?, writes })
    }

    /// The physical plan for the unit whose dates `ctx`'s scans read now.
    async fn for_unit(&self, ctx: &SessionContext) -> Result<Arc<dyn ExecutionPlan>> {
        let sums = physical(ctx, &self.sums).await?;
        Ok(datafusion::physical_plan::replace_children_if_necessary(self.writes.clone(), vec![sums])?)
    }
}

/// The physical plan of `plan`, optimized already.
async fn physical(ctx: &SessionContext, plan: &LogicalPlan) -> Result<Arc<dyn ExecutionPlan>> {
    let state = ctx.state();
    Ok(state.query_planner().create_physical_plan(plan, &state).await?)
}

/// The optimized [`HeldWrites`] plan of both tables from the hourly sums of `ctx`'s
/// `usage_by_hour` view (about `requests` requests summed).
async fn held_writes_plan(
    ctx: &SessionContext,
    settings: &Settings,
    targets: &[WriteTarget],
    requests: u64,
) -> Result<LogicalPlan> {
    let sums = ctx.table(USAGE_BY_HOUR).await?;
    // at most a row of sums per request
    let rows = usize::try_from(requests).unwrap_or(usize::MAX);
    let source = Arc::new(HeldSumsSource::new(Arc::new(sums.schema().as_arrow().clone()), rows));
    let tables = plan_tables_over(ctx, settings, targets, source).await?;
    let (state, sums) = sums.into_parts();
    Ok(state.optimize(&HeldWrites::new(sums, tables).plan())?)
}

/// The optimized write of each table of `targets` (hourly, daily), planned over `sums`
/// registered as `ctx`'s `usage_by_hour` while they are planned (the view is registered
/// again after, for the units too big to hold).
async fn plan_tables_over(
    ctx: &SessionContext,
    settings: &Settings,
    targets: &[WriteTarget],
    sums: Arc<dyn TableProvider>,
) -> Result<Vec<LogicalPlan>> {
    let view = ctx
        .deregister_table(USAGE_BY_HOUR)?
        .ok_or_else(|| Error::Internal(format!("the lane has no {USAGE_BY_HOUR} view")))?;
    ctx.register_table(USAGE_BY_HOUR, sums)?;
    let mut tables = Vec::new();
    for (grain, target) in Grain::ALL.into_iter().zip(targets) {
        let (state, usage) = ctx.sql(&grain.sql(settings, SumsFrom::Hours)).await?.into_parts();
        tables.push(state.optimize(&write_plan(usage, target.clone())?)?);
    }
    let _ = ctx.deregister_table(USAGE_BY_HOUR)?;
    ctx.register_table(USAGE_BY_HOUR, view)?;
    Ok(tables)
}

/// Recomputes the dates of `work` on `parallelism` lanes; returns the new files of each
/// table (hourly, daily), not yet committed.
#[allow(clippy::too_many_arguments)]
async fn recompute(
    engine: &Engine,
    inference: &DeltaTable,
    inputs: &Inputs,
    tables: &[DeltaTable],
    runtime: Arc<RuntimeEnv>,
    work: VecDeque<Unit>,
    parallelism: usize,
    memory_limit: usize,
    bar: &ProgressBar,
) -> Result<[Vec<Add>; 2]> {
    let work = Arc::new(Mutex::new(work));
    let targets = tables.iter().map(WriteTarget::of).collect::<Result<Vec<_>>>()?;
    // the lanes' held sums may take half of the memory pool together (the pool's other half
    // is the writes'); a unit whose sums could take more is not held
    let held_sums_max_requests = (memory_limit / parallelism.max(1) / 2 / HELD_BYTES_PER_REQUEST) as u64;
    let writes = SharedWrites::default();
    let mut lanes = tokio::task::JoinSet::new();
    for _ in 0..parallelism.max(1) {
        let ctx = engine.context(runtime.clone(), 1).await?;
        // the units' queries aggregate inference by date and join only the config tables (the
        // inputs were checked when the run's session registered them)
        engine.register_for_aggregation(&ctx, INFERENCE, inference).await?;
        register_config(&ctx, engine, inputs)?;
        let settings = inputs.settings.clone();
        let rows = match engine {
            Engine::Local => {
                let whole = ctx
                    .deregister_table(INFERENCE)?
                    .ok_or_else(|| Error::Internal(format!("the lane has no {INFERENCE} table")))?;
                let table = Arc::new(UnitTable::new(whole, DATE_COLUMN));
                ctx.register_table(INFERENCE, table.clone())?;
                register_views(&ctx, &settings).await?;
                register_usage_by_hour(&ctx, &settings).await?;
                UnitRows::Selected { table, held_sums_max_requests, held: None, writes: writes.clone() }
            }
            _ => UnitRows::Filtered(ctx.table(INFERENCE).await?),
        };
        let lane = Lane { ctx, rows, settings, targets: targets.clone() };
        let (work, bar) = (work.clone(), bar.clone());
        lanes.spawn(async move { lane.run(work, bar).await });
    }
    let mut adds: [Vec<Add>; 2] = [Vec::new(), Vec::new()];
    while let Some(joined) = lanes.join_next().await {
        let lane_adds = match joined {
            Ok(Ok(a)) => a,
            Ok(Err(e)) => {
                work.lock().expect("work queue lock").clear();
                return Err(e);
            }
            Err(e) => return Err(Error::Internal(format!("a rollup worker failed: {e}"))),
        };
        for (all, mine) in adds.iter_mut().zip(lane_adds) {
            all.extend(mine);
        }
    }
    Ok(adds)
}

impl Lane {
    async fn run(mut self, work: Arc<Mutex<VecDeque<Unit>>>, bar: ProgressBar) -> Result<[Vec<Add>; 2]> {
        let mut adds: [Vec<Add>; 2] = [Vec::new(), Vec::new()];
        loop {
            let next = work.lock().expect("work queue lock").pop_front();
            let Some(unit) = next else { break };
            bar.set_message(unit.label());
            let held = match &mut self.rows {
                UnitRows::Selected { table, held_sums_max_requests, held, writes } => {
                    table.select(&unit.dates);
                    if unit.rows <= *held_sums_max_requests {
                        let plan = match held {
                            Some(plan) => plan,
                            None => {
                                let max = *held_sums_max_requests;
                                held.insert(HeldPlan::new(&self.ctx, &self.settings, &self.targets, max, writes).await?)
                            }
                        };
                        Some(plan.for_unit(&self.ctx).await?)
                    } else {
                        None
                    }
                }
                UnitRows::Filtered(inference) => {
                    let unit_rows = inference.clone().filter(on_dates(DATE_COLUMN, &unit.dates))?;
                    let _ = self.ctx.deregister_table(INFERENCE)?;
                    self.ctx.register_table(INFERENCE, crate::engine::view(unit_rows))?;
                    register_views(&self.ctx, &self.settings).await?;
                    register_usage_by_hour(&self.ctx, &self.settings).await?;
                    let plan = held_writes_plan(&self.ctx, &self.settings, &self.targets, unit.rows).await?;
                    Some(physical(&self.ctx, &plan).await?)
                }
            };
            let held_sums = held.is_some();
            match held {
                Some(plan) => {
                    // both tables are made from the hours' sums, computed once and held (in this
                    // process for the unit; on a cluster by each task for its share)
                    for (all, written) in adds.iter_mut().zip(self.run_held_writes(plan).await?) {
                        all.extend(written);
                    }
                }
                None => {
                    for ((grain, target), adds) in Grain::ALL.into_iter().zip(&self.targets).zip(adds.iter_mut()) {
                        // each table sums the unit's requests itself, the days' straight into days
                        let sql = grain.sql(&self.settings, SumsFrom::Requests);
                        let (state, usage) = self.ctx.sql(&sql).await?.into_parts();
                        let write = DataFrame::new(state, write_plan(usage, target.clone())?);
                        let plan = write.create_physical_plan().await?;
                        adds.extend(run_write(&self.ctx, grain, plan).await?);
                    }
                }
            }
            bar.inc(unit.rows);
            tracing::debug!(unit = unit.label(), rows = unit.rows, held_sums, "unit done");
        }
        Ok(adds)
    }

    /// Runs a [`HeldWrites`] plan of both tables (its tasks, on a cluster, each hold their share
    /// of the sums: a cluster has no memory shared between two jobs): the files written, for
    /// each table.
    async fn run_held_writes(&self, plan: Arc<dyn ExecutionPlan>) -> Result<Vec<Vec<Add>>> {
        if tracing::enabled!(tracing::Level::TRACE) {
            let text = datafusion::physical_plan::displayable(plan.as_ref()).indent(true).to_string();
            tracing::trace!("held writes plan:\n{text}");
        }
        adds_by_write(&datafusion::physical_plan::collect(plan, self.ctx.task_ctx()).await?, self.targets.len())
    }
}

/// Runs the write `plan` of `grain`'s table: the `Add` actions of the files it wrote.
async fn run_write(ctx: &SessionContext, grain: Grain, plan: Arc<dyn ExecutionPlan>) -> Result<Vec<Add>> {
    if tracing::enabled!(tracing::Level::TRACE) {
        let text = datafusion::physical_plan::displayable(plan.as_ref()).indent(true).to_string();
        tracing::trace!("{} plan:\n{text}", grain.table());
    }
    adds_of(&datafusion::physical_plan::collect(plan, ctx.task_ctx()).await?)
}

/// Each currency's total cost in `usage_daily`, over `dates` or all of them.
async fn cost_by_currency(ctx: &SessionContext, dates: Option<&BTreeSet<String>>) -> Result<BTreeMap<String, String>> {
    let filter = match dates {
        Some(dates) if dates.is_empty() => return Ok(BTreeMap::new()),
        Some(dates) => {
            let list: Vec<String> = dates.iter().map(|d| format!("DATE '{d}'")).collect();
            format!("AND \"date\" IN ({})", list.join(", "))
        }
        None => String::new(),
    };
    let sql = format!(
        "SELECT currency, CAST(sum(cost) AS VARCHAR) AS cost FROM usage_daily \
         WHERE currency IS NOT NULL {filter} GROUP BY currency ORDER BY currency"
    );
    let mut costs = BTreeMap::new();
    for b in ctx.sql(&sql).await?.collect().await? {
        // DataFusion may hand strings back as views; one type is easier to read
        let (c, v) =
            (arrow::compute::cast(b.column(0), &DataType::Utf8)?, arrow::compute::cast(b.column(1), &DataType::Utf8)?);
        let (c, v) = (c.as_string::<i32>(), v.as_string::<i32>());
        for i in 0..b.num_rows() {
            costs.insert(c.value(i).to_string(), v.value(i).to_string());
        }
    }
    Ok(costs)
}

/// Each currency's cost before and after a re-rating. A currency absent on one side cost
/// nothing there; a sum that is not a decimal is an error, never a zero.
fn rerate_report(before: &BTreeMap<String, String>, after: &BTreeMap<String, String>) -> Result<Vec<CostChange>> {
    use rust_decimal::Decimal;
    let currencies: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    let parse = |m: &BTreeMap<String, String>, c: &str, when: &str| -> Result<Decimal> {
        match m.get(c) {
            None => Ok(Decimal::ZERO),
            Some(v) => v.parse::<Decimal>().map_err(|e| {
                Error::Internal(format!("the {when} cost of {c} in usage_daily, {v:?}, is not a decimal ({e})"))
            }),
        }
    };
    currencies
        .into_iter()
        .map(|c| {
            let (b, a) = (parse(before, c, "re-rated dates' former")?, parse(after, c, "re-rated dates' new")?);
            Ok(CostChange {
                currency: c.clone(),
                before: b.to_string(),
                after: a.to_string(),
                change: (a - b).to_string(),
            })
        })
        .collect()
}

/// Totals of the usage tables (registered in `ctx`), read back from them.
async fn summarize(ctx: &SessionContext) -> Result<RollupSummary> {
    // the queries run at once
    let one = |sql: &'static str| Spawned::query(ctx, sql);
    let totals = one("SELECT count(DISTINCT \"date\"), count(*), sum(requests), sum(unpriced_requests), \
                sum(unpriced_tokens), sum(CASE WHEN unknown_requester THEN requests ELSE 0 END), \
                sum(unmetered_requests) \
         FROM usage_daily");
    let hourly_rows = one("SELECT count(*) FROM usage_hourly");
    let cost = cost_by_currency(ctx, None).await?;
    let (totals, hourly_rows) = (totals.result().await?, hourly_rows.result().await?);
    let int = |batches: &[RecordBatch], col: usize| -> u64 {
        batches
            .first()
            .filter(|b| b.num_rows() > 0)
            .and_then(|b| arrow::compute::cast(b.column(col), &DataType::Int64).ok())
            .map_or(0, |a| a.as_primitive::<Int64Type>().iter().flatten().sum::<i64>() as u64)
    };
    Ok(RollupSummary {
        mode: RollupMode::default(),
        dates_recomputed: Vec::new(),
        requests_recomputed: 0,
        inference_version: 0,
        versions: Vec::new(),
        dates: int(&totals, 0),
        daily_rows: int(&totals, 1),
        requests: int(&totals, 2),
        unpriced_requests: int(&totals, 3),
        unpriced_tokens: int(&totals, 4),
        unknown_requester_requests: int(&totals, 5),
        unmetered_requests: int(&totals, 6),
        hourly_rows: int(&hourly_rows, 0),
        cost: cost.into_iter().collect(),
        rerate: Vec::new(),
        notices: Vec::new(),
        stale_config: None,
        memory_limit_bytes: 0,
        elapsed_seconds: 0.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rerate_report_refuses_a_sum_it_cannot_read() {
        let map = |pairs: &[(&str, &str)]| {
            pairs.iter().map(|(c, v)| (c.to_string(), v.to_string())).collect::<BTreeMap<_, _>>()
        };
        let got = rerate_report(&map(&[("USD", "10.5")]), &map(&[("USD", "12.25"), ("EUR", "1")])).unwrap();
        assert_eq!(
            got[1],
            CostChange { currency: "USD".into(), before: "10.5".into(), after: "12.25".into(), change: "1.75".into() }
        );
        assert_eq!((got[0].before.as_str(), got[0].change.as_str()), ("0", "1"));
        // a sum that is not a number used to become 0, and the report said the cost had moved by all of it
        let err = rerate_report(&map(&[("USD", "NaN")]), &map(&[("USD", "12.25")])).unwrap_err().to_string();
        assert!(err.contains("\"NaN\"") && err.contains("USD"), "{err}");
    }

    #[test]
    fn work_units_keep_lanes_busy_and_memory_bounded() {
        let day = |d: u32| NaiveDate::from_ymd_opt(2025, 1, d).unwrap();
        // 1M requests over 10 days on 2 lanes: units of about 125k requests, one day each here
        // (four units a lane of 1 or 2 days would not end sooner)
        let even: Vec<_> = (1..=10).map(|d| (day(d), 100_000)).collect();
        let units = work_units(&even, 2);
        assert_eq!(units.len(), 10);
        // 1M requests over 30 days on 2 lanes, as `tokenledger gen` makes them: filled up to
        // 125k they were 9 units (the ninth worked alone); four units a lane end sooner
        let month: Vec<_> = (1..=30).map(|d| (day(d), 30_000 + u64::from(d % 7) * 2_000)).collect();
        assert_eq!(filled_units(&month, 2).len(), 9);
        let units = work_units(&month, 2);
        assert_eq!(units.len(), 8);
        assert!(finish(&units, 2) < finish(&filled_units(&month, 2), 2));
        // 30 small days on 2 lanes: four units a lane, every date once, in order
        let small: Vec<_> = (1..=30).map(|d| (day(d), 1_000)).collect();
        let units = work_units(&small, 2);
        assert_eq!(units.iter().map(|u| u.dates.len()).collect::<Vec<_>>(), vec![4, 3, 4, 4, 4, 3, 4, 4]);
        let flat: Vec<NaiveDate> = units.iter().flat_map(|u| u.dates.clone()).collect();
        assert_eq!(flat, (1..=30).map(day).collect::<Vec<_>>());
        assert_eq!(units.iter().map(|u| u.rows).sum::<u64>(), 30_000);
        // no unit over UNIT_ROWS unless one day is; a huge day stands alone
        let mixed = vec![(day(1), 400_000), (day(2), 400_000), (day(3), 5_000_000), (day(4), 1)];
        let units = work_units(&mixed, 1);
        assert_eq!(units.iter().map(|u| u.dates.len()).collect::<Vec<_>>(), vec![1, 1, 1, 1]);
        assert!(units.iter().all(|u| u.rows <= UNIT_ROWS || u.dates.len() == 1));
        assert_eq!(units[0].label(), "2025-01-01");
        assert!(work_units(&[], 2).is_empty());
    }

    #[test]
    fn a_cluster_gets_one_unit_a_lane_of_about_equal_requests() {
        let day = |d: u32| NaiveDate::from_ymd_opt(2025, 1, d).unwrap();
        let cluster: crate::engine::Engine = "ballista://h:1".parse().unwrap();
        let even: Vec<_> = (1..=10).map(|d| (day(d), 100_000)).collect();
        let units = units_for(&cluster, &even, 2);
        assert_eq!(units.iter().map(|u| u.dates.len()).collect::<Vec<_>>(), vec![5, 5]);
        // however many requests (the executors hold them, not this process)
        let big: Vec<_> = (1..=9).map(|d| (day(d), 3_000_000)).collect();
        let units = units_for(&cluster, &big, 2);
        assert_eq!(units.iter().map(|u| u.rows).collect::<Vec<_>>(), vec![12_000_000, 15_000_000]);
        let flat: Vec<NaiveDate> = units.iter().flat_map(|u| u.dates.clone()).collect();
        assert_eq!(flat, (1..=9).map(day).collect::<Vec<_>>());
        // a huge day among small ones; fewer dates than lanes; days without requests
        let mixed = vec![(day(1), 10), (day(2), 1_000), (day(3), 10), (day(4), 10)];
        assert_eq!(units_for(&cluster, &mixed, 2).iter().map(|u| u.dates.len()).collect::<Vec<_>>(), vec![2, 2]);
        assert_eq!(units_for(&cluster, &[(day(1), 5)], 4).len(), 1);
        assert_eq!(units_for(&cluster, &[(day(1), 0), (day(2), 0)], 2).len(), 1);
        assert!(units_for(&cluster, &[], 2).is_empty());
        // locally the same dates are cut for memory, as before
        assert_eq!(units_for(&crate::engine::Engine::Local, &big, 2).len(), 9);
    }
}
