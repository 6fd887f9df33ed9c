//! The context every line is drawn from: the requester catalog, the resolved endpoints, the traffic
//! curve, the payload corpus and the prices.

use std::collections::HashMap;
use std::io;

use chrono::{Datelike, NaiveDate, Weekday};
use rand::Rng;
use rand::seq::SliceRandom;

use super::GenOptions;
use super::catalog::Kind::Emb;
use super::catalog::{
    BATCH_JOB, BUSINESS_HOURS, DIURNAL, ENDPOINTS, ENTITIES, FIRST_NAMES, GROUPS, LAST_NAMES, POOLS, PROJECT_KINDS,
    PROJECTS_PER_KIND, WORDS, bills_cache_writes,
};
use super::limits::{
    CORPUS_MIN_BYTES, CORPUS_SLACK, COST_CENTERS, FIRST_COST_CENTER, GROUP_SKEW, GROWTH_OVER_RANGE, MISSING_USER_RATE,
    MS_PER_HOUR, OTHER_COST_CENTER_RATE, SERVICE_COST_CENTER, SERVICE_GROUP, SERVICE_PRINCIPALS, STREAM_CATALOG,
    STREAM_CORPUS, WEEKEND_FACTOR, ZIPF_Q, ZIPF_S,
};
use super::prices::{PricePoint, PriceRow, price_points, price_rows};
use super::random::{cumulative, pick, stream_rng, unit, uuid_v4};
use super::render::push_uuid;
pub(super) struct Principal {
    /// Index into `group_names()`.
    pub(super) group: u8,
    /// Cost centre number (`CC-<n>`).
    pub(super) cost_center: u16,
}

pub(super) struct Catalog {
    pub(super) requesters: Vec<String>,
    pub(super) req_cum: Vec<f64>,
    pub(super) favourite: Vec<u8>,
    pub(super) project: Vec<u16>,
    pub(super) projects: Vec<String>,
    /// `None`: missing from principals.csv.
    pub(super) principals: Vec<Option<Principal>>,
}

pub(super) struct ResolvedEndpoint {
    /// ln of the median prompt, the location of its lognormal.
    pub(super) prompt_mu: f64,
    pub(super) models: Vec<u16>,
    pub(super) cum: Vec<f64>,
    pub(super) fallback: Option<u16>,
}

pub(super) struct Ctx {
    rows: u64,
    pub(super) payload_bytes: usize,
    pub(super) total_ms: i64,
    hour_cum: Vec<f64>,
    hour_w: Vec<f64>,
    /// `YYYY-MM-DDTHH:` for every hour of the range.
    pub(super) hour_prefix: Vec<[u8; 14]>,
    pub(super) catalog: Catalog,
    pub(super) endpoints: Vec<ResolvedEndpoint>,
    pub(super) ep_cum: Vec<f64>,
    /// Where a request moved off a pool's endpoint outside working hours goes: the other endpoints.
    pub(super) unpooled_ep_cum: Vec<f64>,
    /// Per endpoint: a pool serves (some of) its traffic.
    pub(super) pooled_endpoint: Vec<bool>,
    /// (endpoint, entity) of each pool of `POOLS`.
    pools: Vec<(usize, u16)>,
    /// Per owner of `POOLS`, its group index.
    pub(super) pool_owners: Vec<u8>,
    /// Per hour of the range: a weekday's working hour (UTC).
    business_hour: Vec<bool>,
    /// Per hour of the range: the share of its requests that are the nightly batch job's.
    batch_share: Vec<f64>,
    /// The batch job's endpoint and requester (the first service principal).
    pub(super) batch_endpoint: usize,
    pub(super) batch_requester: usize,
    pub(super) caches_reads: Vec<bool>,
    pub(super) caches_writes: Vec<bool>,
    pub(super) corpus: Vec<u8>,
    pub(super) price_rows: Vec<PriceRow>,
    pub(super) price_points: Vec<Vec<PricePoint>>,
}

pub(super) fn entity_index(name: &str) -> io::Result<usize> {
    ENTITIES
        .iter()
        .position(|e| e.name == name)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("catalog names unknown entity {name}")))
}

fn group_names() -> impl Iterator<Item = &'static str> {
    GROUPS.iter().copied().chain([SERVICE_GROUP])
}

pub(super) fn group_name(ix: u8) -> &'static str {
    group_names().nth(usize::from(ix)).unwrap_or(SERVICE_GROUP)
}

/// Spend slot of a cost centre number: the 22 regular ones, then CC-9000.
pub(super) fn cost_center_slot(cc: u16) -> usize {
    if cc == SERVICE_COST_CENTER { usize::from(COST_CENTERS) } else { usize::from(cc - FIRST_COST_CENTER) }
}

pub(super) fn cost_center_of_slot(slot: usize) -> u16 {
    if slot == usize::from(COST_CENTERS) { SERVICE_COST_CENTER } else { FIRST_COST_CENTER + slot as u16 }
}

impl Ctx {
    pub(super) fn new(o: &GenOptions) -> io::Result<Ctx> {
        let endpoints = ENDPOINTS
            .iter()
            .map(|e| {
                let models =
                    e.models.iter().map(|(m, _)| entity_index(m).map(|i| i as u16)).collect::<io::Result<Vec<_>>>()?;
                let fallback = e.fallback.map(entity_index).transpose()?.map(|i| i as u16);
                let cum = cumulative(e.models.iter().map(|(_, w)| f64::from(*w)));
                Ok(ResolvedEndpoint { prompt_mu: f64::from(e.prompt.max(1)).ln(), models, cum, fallback })
            })
            .collect::<io::Result<Vec<_>>>()?;
        let ep_cum = cumulative(ENDPOINTS.iter().map(|e| f64::from(e.weight)));
        let pools = POOLS
            .iter()
            .map(|p| {
                let endpoint =
                    ENDPOINTS.iter().position(|e| e.name == p.endpoint && e.models.iter().any(|m| m.0 == p.entity));
                let endpoint = endpoint.ok_or_else(|| {
                    io::Error::new(io::ErrorKind::InvalidData, format!("pool {} names no endpoint serving it", p.name))
                })?;
                Ok((endpoint, entity_index(p.entity)? as u16))
            })
            .collect::<io::Result<Vec<_>>>()?;
        let pooled_endpoint: Vec<bool> = (0..ENDPOINTS.len()).map(|e| pools.iter().any(|p| p.0 == e)).collect();
        let unpooled_ep_cum = cumulative(
            ENDPOINTS.iter().zip(&pooled_endpoint).map(|(e, &pooled)| if pooled { 0.0 } else { f64::from(e.weight) }),
        );
        let pool_owners = POOLS
            .iter()
            .map(|p| {
                group_names().position(|g| g == p.owner).map(|g| g as u8).ok_or_else(|| {
                    io::Error::new(io::ErrorKind::InvalidData, format!("pool {} has an unknown owner", p.name))
                })
            })
            .collect::<io::Result<Vec<_>>>()?;
        let batch_endpoint = ENDPOINTS.iter().position(|e| e.name == BATCH_JOB.endpoint).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("the batch job's endpoint {} is unknown", BATCH_JOB.endpoint),
            )
        })?;
        let (hour_w, hour_prefix, business_hour, batch_share) = hour_table(o.start, o.days);
        let price_rows = price_rows(o.start, o.days)?;
        let price_points = price_points(o.start, &price_rows)?;
        Ok(Ctx {
            rows: o.rows,
            payload_bytes: o.payload_bytes,
            total_ms: i64::from(o.days) * 24 * MS_PER_HOUR,
            hour_cum: cumulative(hour_w.iter().copied()),
            hour_w,
            hour_prefix,
            catalog: build_catalog(o.seed, o.users as usize, &ep_cum),
            endpoints,
            ep_cum,
            unpooled_ep_cum,
            pooled_endpoint,
            pools,
            pool_owners,
            business_hour,
            batch_share,
            batch_endpoint,
            // the service principals follow the users; the first is registered (see build_catalog)
            batch_requester: o.users as usize,
            // A model caches reads only when cached input is billed lower (as in the Python generator).
            caches_reads: ENTITIES.iter().map(|e| e.kind != Emb && e.input != e.cached).collect(),
            caches_writes: ENTITIES.iter().map(bills_cache_writes).collect(),
            corpus: if o.payload_bytes > 0 { build_corpus(o.seed, o.payload_bytes) } else { Vec::new() },
            price_rows,
            price_points,
        })
    }

    /// Completion time (ms after the start) of unique row `i`: the inverse CDF of the traffic curve
    /// at (i + jitter) / rows, so rows come out in near-sorted completion order.
    pub(super) fn completion_ms(&self, i: u64, jitter: f64) -> i64 {
        let total = self.hour_cum.last().copied().unwrap_or(1.0);
        let u = (i as f64 + jitter) / self.rows as f64 * total;
        let h = self.hour_cum.partition_point(|&c| c <= u).min(self.hour_cum.len() - 1);
        let into = ((u - (self.hour_cum[h] - self.hour_w[h])) / self.hour_w[h]).clamp(0.0, 1.0);
        h as i64 * MS_PER_HOUR + ((into * MS_PER_HOUR as f64) as i64).min(MS_PER_HOUR - 1)
    }

    /// Whether `ms` (after the start) falls in a weekday's working hours.
    pub(super) fn is_business_hour(&self, ms: i64) -> bool {
        self.business_hour.get((ms / MS_PER_HOUR) as usize).copied().unwrap_or(false)
    }

    /// The share of the requests completing at `ms` that are the nightly batch job's.
    pub(super) fn batch_share_at(&self, ms: i64) -> f64 {
        self.batch_share.get((ms / MS_PER_HOUR) as usize).copied().unwrap_or(0.0)
    }

    /// The pool (index into `POOLS`) that serves `entity` on `endpoint`, if any.
    pub(super) fn pool_of(&self, endpoint: usize, entity: u16) -> Option<usize> {
        if !self.pooled_endpoint[endpoint] {
            return None;
        }
        self.pools.iter().position(|&p| p == (endpoint, entity))
    }
}

/// Hourly traffic weights (diurnal × weekend × growth, plus the nightly batch job's hours), the
/// timestamp prefix of every hour, whether it is a working hour and the share of its traffic that
/// is the batch job's.
fn hour_table(start: NaiveDate, days: u32) -> (Vec<f64>, Vec<[u8; 14]>, Vec<bool>, Vec<f64>) {
    let hours = days as usize * 24;
    let mut weights = Vec::with_capacity(hours);
    let mut prefixes = Vec::with_capacity(hours);
    let mut business = Vec::with_capacity(hours);
    for (d, date) in start.iter_days().take(days as usize).enumerate() {
        let weekend = matches!(date.weekday(), Weekday::Sat | Weekday::Sun);
        for (hod, diurnal) in DIURNAL.iter().enumerate() {
            let h = d * 24 + hod;
            let growth = 1.0 + GROWTH_OVER_RANGE * h as f64 / hours as f64;
            weights.push(diurnal * if weekend { WEEKEND_FACTOR } else { 1.0 } * growth);
            business.push(!weekend && BUSINESS_HOURS.contains(&hod));
            let mut p = [0u8; 14];
            let s = format!("{}T{:02}:", date.format("%Y-%m-%d"), hod);
            p.copy_from_slice(&s.as_bytes()[..14]);
            prefixes.push(p);
        }
    }
    // The job runs every night, as much each hour of its window, and makes `share` of all rows.
    let interactive: f64 = weights.iter().sum();
    let window = BATCH_JOB.hours.len() * days as usize;
    let per_hour = interactive * BATCH_JOB.share / (1.0 - BATCH_JOB.share) / window.max(1) as f64;
    let mut batch_share = vec![0.0; hours];
    for (h, w) in weights.iter_mut().enumerate() {
        if BATCH_JOB.hours.contains(&(h % 24)) {
            batch_share[h] = per_hour / (*w + per_hour);
            *w += per_hour;
        }
    }
    (weights, prefixes, business, batch_share)
}

fn build_catalog(seed: u64, users: usize, ep_cum: &[f64]) -> Catalog {
    let mut rng = stream_rng(seed, STREAM_CATALOG);
    let first: Vec<&str> = FIRST_NAMES.split_whitespace().collect();
    let last: Vec<&str> = LAST_NAMES.split_whitespace().collect();

    // first.last@example.com, with a counter suffix for repeated names (first.last2, first.last3, ...).
    let mut seen: HashMap<(usize, usize), u32> = HashMap::new();
    let mut requesters = Vec::with_capacity(users + SERVICE_PRINCIPALS);
    for _ in 0..users {
        let (f, l) = (rng.random_range(0..first.len()), rng.random_range(0..last.len()));
        let n = seen.entry((f, l)).or_insert(0);
        *n += 1;
        requesters.push(if *n == 1 {
            format!("{}.{}@example.com", first[f], last[l])
        } else {
            format!("{}.{}{}@example.com", first[f], last[l], n)
        });
    }
    for _ in 0..SERVICE_PRINCIPALS {
        let mut s = Vec::with_capacity(36);
        push_uuid(&mut s, uuid_v4(&mut rng));
        requesters.push(String::from_utf8_lossy(&s).into_owned());
    }

    let group_cum = cumulative((0..GROUPS.len()).map(|r| 1.0 / ((r + 1) as f64).powf(GROUP_SKEW)));
    let principals = (0..requesters.len())
        .map(|i| {
            if i >= users {
                // Service principals: every other one is registered to the batch-jobs group.
                return (i - users)
                    .is_multiple_of(2)
                    .then_some(Principal { group: GROUPS.len() as u8, cost_center: SERVICE_COST_CENTER });
            }
            if unit(&mut rng) < MISSING_USER_RATE {
                return None;
            }
            let g = pick(&group_cum, unit(&mut rng));
            let cc_slot = if unit(&mut rng) < OTHER_COST_CENTER_RATE {
                rng.random_range(0..COST_CENTERS)
            } else {
                g as u16 % COST_CENTERS
            };
            Some(Principal { group: g as u8, cost_center: FIRST_COST_CENTER + cc_slot })
        })
        .collect();

    // Zipf–Mandelbrot activity over a random rank order, service principals included.
    let mut order: Vec<usize> = (0..requesters.len()).collect();
    order.shuffle(&mut rng);
    let mut weights = vec![0.0; requesters.len()];
    for (rank, &i) in order.iter().enumerate() {
        weights[i] = 1.0 / (rank as f64 + ZIPF_Q).powf(ZIPF_S);
    }
    let favourite = (0..requesters.len()).map(|_| pick(ep_cum, unit(&mut rng)) as u8).collect();
    let projects: Vec<String> =
        PROJECT_KINDS.iter().flat_map(|k| (0..PROJECTS_PER_KIND).map(move |n| format!("proj-{k}-{n}"))).collect();
    let project = (0..requesters.len()).map(|_| rng.random_range(0..projects.len()) as u16).collect();
    Catalog { req_cum: cumulative(weights), requesters, favourite, project, projects, principals }
}

/// A long random run of whole words separated by single spaces, with a space at both ends, so any
/// slice between two spaces is whole words (never a split escape or UTF-8 sequence).
fn build_corpus(seed: u64, payload_bytes: usize) -> Vec<u8> {
    let mut rng = stream_rng(seed, STREAM_CORPUS);
    let words: Vec<&str> = WORDS.split_whitespace().collect();
    let target = CORPUS_MIN_BYTES.max(3 * payload_bytes + CORPUS_SLACK);
    let mut corpus = Vec::with_capacity(target + 32);
    corpus.push(b' ');
    while corpus.len() < target {
        corpus.extend_from_slice(words[rng.random_range(0..words.len())].as_bytes());
        corpus.push(b' ');
    }
    corpus
}
