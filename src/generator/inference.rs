//! The inference file: unique lines in completion order, with duplicates and bad lines mixed in.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use flate2::Compression;
use flate2::Crc;
use flate2::write::GzEncoder;
use rand::Rng;

use super::GenOptions;
use super::bad_lines::{BAD_KINDS, render_bad};
use super::catalog::{GROUPS, POOLS};
use super::context::{Ctx, cost_center_slot};
use super::limits::{
    CHUNK_ROWS, COST_CENTERS, MAX_DUP_DELAY, MS_PER_HOUR, POOL_RING_HOURS, STREAM_BAD, STREAM_DUPS, STREAM_PAYLOAD,
    STREAM_ROWS, WRITE_BUFFER,
};
use super::random::{stream_rng, unit};
use super::render::{Flaw, render};
use super::request::{Record, gen_record};
/// Group slots: `GROUPS`, the service group, then requesters missing from principals.csv.
pub(super) const GROUP_SLOTS: usize = GROUPS.len() + 2;
const UNASSIGNED_GROUP: usize = GROUPS.len() + 1;
/// Cost-centre slots: the regular ones, CC-9000, then requesters missing from principals.csv.
pub(super) const COST_CENTER_SLOTS: usize = COST_CENTERS as usize + 2;
const UNALLOCATED_COST_CENTER: usize = COST_CENTERS as usize + 1;

/// What the generated traffic costs, as the chargeback will charge it (principals.csv's
/// groups and cost centres, no usage_context overrides), to size the budgets: the per-token
/// cost of the traffic no pool serves, and for each pool how its busy hours split among groups
/// and cost centres (times the pool's rate, that is what each is charged for them).
pub(super) struct Spend {
    pub(super) by_group: Vec<f64>,
    pub(super) by_cost_center: Vec<f64>,
    pub(super) pools: Vec<PoolUse>,
}

/// One pool's traffic, split the way `chargeback::capacity` splits a pool's hours: each hour with
/// tokens among its callers by their share of the hour's tokens.
pub(super) struct PoolUse {
    pub(super) busy_hours: f64,
    /// Busy hours per group and cost-centre slot (the hours' token shares, summed).
    pub(super) group_hours: Vec<f64>,
    pub(super) cost_center_hours: Vec<f64>,
    /// Tokens per slot of the hours not yet split, in a ring by hour.
    ring: Vec<HourTokens>,
}

struct HourTokens {
    hour: i64,
    group: [i64; GROUP_SLOTS],
    cost_center: [i64; COST_CENTER_SLOTS],
}

impl PoolUse {
    fn new() -> PoolUse {
        let empty = || HourTokens { hour: -1, group: [0; GROUP_SLOTS], cost_center: [0; COST_CENTER_SLOTS] };
        PoolUse {
            busy_hours: 0.0,
            group_hours: vec![0.0; GROUP_SLOTS],
            cost_center_hours: vec![0.0; COST_CENTER_SLOTS],
            ring: (0..POOL_RING_HOURS).map(|_| empty()).collect(),
        }
    }

    fn add(&mut self, hour: i64, (group, cost_center): (usize, usize), tokens: i64) {
        let slot = hour.rem_euclid(POOL_RING_HOURS as i64) as usize;
        // A request older than the ring (never seen: durations are minutes) counts in the newer hour.
        if self.ring[slot].hour < hour {
            self.split(slot);
            self.ring[slot].hour = hour;
        }
        self.ring[slot].group[group] += tokens;
        self.ring[slot].cost_center[cost_center] += tokens;
    }

    /// Adds a ring slot's hour to the busy hours, split by tokens, and empties the slot.
    fn split(&mut self, slot: usize) {
        let h = &mut self.ring[slot];
        let total: i64 = h.group.iter().sum();
        if total > 0 {
            self.busy_hours += 1.0;
            for (acc, t) in self.group_hours.iter_mut().zip(&h.group) {
                *acc += *t as f64 / total as f64;
            }
            for (acc, t) in self.cost_center_hours.iter_mut().zip(&h.cost_center) {
                *acc += *t as f64 / total as f64;
            }
        }
        h.group = [0; GROUP_SLOTS];
        h.cost_center = [0; COST_CENTER_SLOTS];
    }
}

impl Spend {
    pub(super) fn new() -> Spend {
        Spend {
            by_group: vec![0.0; GROUP_SLOTS],
            by_cost_center: vec![0.0; COST_CENTER_SLOTS],
            pools: POOLS.iter().map(|_| PoolUse::new()).collect(),
        }
    }

    fn add(&mut self, ctx: &Ctx, r: &Record) {
        let Some(t) = r.tokens else {
            return;
        };
        let slots = match &ctx.catalog.principals[r.requester as usize] {
            Some(p) => (usize::from(p.group), cost_center_slot(p.cost_center)),
            None => (UNASSIGNED_GROUP, UNALLOCATED_COST_CENTER),
        };
        if let Some(pool) = ctx.pool_of(usize::from(r.endpoint), r.entity) {
            // the usage tables' tokens: uncached input, cache reads and writes, and output
            self.pools[pool].add(r.start_ms / MS_PER_HOUR, slots, t.input + t.output);
            return;
        }
        let points = &ctx.price_points[usize::from(r.entity)];
        let cost = points.iter().rev().find(|pp| pp.from_ms <= r.start_ms).map_or(0.0, |price| {
            let fresh = (t.input - t.cached - t.cache_write) as f64;
            fresh * price.input
                + t.cached as f64 * price.cached
                + t.cache_write as f64 * price.cache_write
                + t.output as f64 * price.output
        });
        self.by_group[slots.0] += cost;
        self.by_cost_center[slots.1] += cost;
    }

    /// Splits the hours still in the rings (at the end of the log).
    fn finish(&mut self) {
        for pool in &mut self.pools {
            for slot in 0..POOL_RING_HOURS {
                pool.split(slot);
            }
        }
    }
}

pub(super) struct InferenceStats {
    pub(super) lines: u64,
    pub(super) bytes: u64,
    pub(super) crc32: u32,
    pub(super) duplicate_lines: u64,
    pub(super) bad_lines: u64,
    pub(super) bad_by_kind: [u64; 9],
    pub(super) spend: Spend,
}

/// Counts and checksums every line on its way to the writer.
struct LineSink<W: Write> {
    w: W,
    crc: Crc,
    lines: u64,
    bytes: u64,
}

impl<W: Write> LineSink<W> {
    fn emit(&mut self, line: &[u8]) -> io::Result<()> {
        self.crc.update(line);
        self.lines += 1;
        self.bytes += line.len() as u64;
        self.w.write_all(line)
    }
}

pub(super) fn write_inference(ctx: &Ctx, opts: &GenOptions, path: &Path) -> io::Result<InferenceStats> {
    let file = File::create(path)?;
    if opts.gzip {
        let gz = GzEncoder::new(file, Compression::new(1));
        let (stats, w) = stream_lines(ctx, opts, BufWriter::with_capacity(WRITE_BUFFER, gz))?;
        w.into_inner().map_err(|e| e.into_error())?.finish()?;
        Ok(stats)
    } else {
        let (stats, mut w) = stream_lines(ctx, opts, BufWriter::with_capacity(WRITE_BUFFER, file))?;
        w.flush()?;
        Ok(stats)
    }
}

fn stream_lines<W: Write>(ctx: &Ctx, opts: &GenOptions, w: W) -> io::Result<(InferenceStats, W)> {
    let mut sink = LineSink { w, crc: Crc::new(), lines: 0, bytes: 0 };
    let mut dup_rng = stream_rng(opts.seed, STREAM_DUPS);
    let mut bad_rng = stream_rng(opts.seed, STREAM_BAD);
    // Lines waiting to be re-emitted, keyed by the unique row after which they go.
    let mut pending: BTreeMap<u64, Vec<Vec<u8>>> = BTreeMap::new();
    let mut spend = Spend::new();
    let (mut duplicate_lines, mut bad_lines) = (0u64, 0u64);
    let mut bad_by_kind = [0u64; 9];
    // The conflict kind reuses the latest request that has token counts (nearly always a 200).
    let mut latest_with_tokens: Option<Record> = None;
    let mut line = Vec::with_capacity(4096);
    let mut bad = Vec::with_capacity(4096);

    for chunk in 0..opts.rows.div_ceil(CHUNK_ROWS) {
        let mut rng = stream_rng(opts.seed, STREAM_ROWS + chunk);
        let mut text_rng = stream_rng(opts.seed, STREAM_PAYLOAD + chunk);
        let rows = chunk * CHUNK_ROWS..opts.rows.min((chunk + 1) * CHUNK_ROWS);
        for i in rows {
            let done_ms = ctx.completion_ms(i, unit(&mut rng));
            let rec = gen_record(ctx, &mut rng, &mut text_rng, done_ms, false);
            line.clear();
            render(ctx, &rec, Flaw::None, &mut line);
            sink.emit(&line)?;
            spend.add(ctx, &rec);
            if rec.tokens.is_some() || latest_with_tokens.is_none() {
                latest_with_tokens = Some(rec);
            }

            if opts.dup_rate > 0.0 && unit(&mut dup_rng) < opts.dup_rate {
                let at = i + 1 + dup_rng.random_range(0..MAX_DUP_DELAY);
                pending.entry(at).or_default().push(line.clone());
                duplicate_lines += 1;
            }
            if let Some(due) = pending.remove(&i) {
                for l in &due {
                    sink.emit(l)?;
                }
            }

            if opts.bad_rate > 0.0 && unit(&mut bad_rng) < opts.bad_rate {
                let kind = BAD_KINDS[(bad_lines % BAD_KINDS.len() as u64) as usize];
                let earlier = latest_with_tokens.as_ref().unwrap_or(&rec);
                bad.clear();
                render_bad(ctx, kind, &mut bad_rng, done_ms, earlier, &mut bad);
                sink.emit(&bad)?;
                bad_lines += 1;
                bad_by_kind[kind as usize] += 1;
            }
        }
    }
    spend.finish();
    // Duplicates scheduled past the last row still go out, in schedule order.
    for due in pending.into_values() {
        for l in &due {
            sink.emit(l)?;
        }
    }
    let stats = InferenceStats {
        lines: sink.lines,
        bytes: sink.bytes,
        crc32: sink.crc.sum(),
        duplicate_lines,
        bad_lines,
        bad_by_kind,
        spend,
    };
    Ok((stats, sink.w))
}
