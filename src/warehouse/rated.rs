//! Which config each date of a usage table was rated with.
//!
//! Every rollup commit of `usage_hourly` and `usage_daily` carries, in its commit metadata,
//! the digests of the config files it used and the map of the whole table after that commit:
//! each config set (file -> SHA-256) by a short id, and the dates rated with each, as ranges.
//! The map of any version is then in one commit file (the last rollup's at or before it),
//! whatever older log files were cleaned up. A table rolled up by a tokenledger that did not
//! record it, or whose commit file is gone, has dates of an unknown config: never a guess.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use sha2::{Digest, Sha256};

use crate::error::Result;
use crate::time::{date_ranges, parse_date_ranges};
use crate::warehouse::Warehouse;

/// The config files that change what usage costs and who pays it: those the rollup reads.
pub const CONFIG_FILES: [&str; 4] = ["prices.csv", "principals.csv", "settings.toml", "discounts.csv"];

/// SHA-256 of each config file of `files` as it is now (`absent` when there is none).
pub async fn config_digests(warehouse: &Warehouse, files: &[&str]) -> Result<BTreeMap<String, String>> {
    let mut digests = BTreeMap::new();
    for file in files {
        let digest = match warehouse.read(&crate::warehouse::config_key(file)).await? {
            Some(bytes) => hex::encode(Sha256::digest(&bytes)),
            None => "absent".to_string(),
        };
        digests.insert(file.to_string(), digest);
    }
    Ok(digests)
}

/// The config files a date was rated with: file name -> SHA-256 of its bytes (`absent`).
pub type ConfigSet = BTreeMap<String, String>;

/// The key of the commit metadata a rollup writes (an object: `operation`, `config`, ...).
const METADATA_KEY: &str = "tokenledger";
/// Written for dates whose config is not known.
const UNKNOWN: &str = "unknown";

/// The short id of a config set: 12 hex digits of the SHA-256 of its `file=digest` lines.
pub fn config_id(set: &ConfigSet) -> String {
    let lines: String = set.iter().map(|(file, digest)| format!("{file}={digest}\n")).collect();
    hex::encode(Sha256::digest(lines.as_bytes()))[..12].to_string()
}

/// The config every date of a usage table was rated with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RatedWith {
    /// Config id -> the set.
    pub sets: BTreeMap<String, ConfigSet>,
    /// Each date of the table -> the id of its config set; `None` when it is not known.
    pub dates: BTreeMap<NaiveDate, Option<String>>,
}

/// Dates rated with one config set, for a manifest.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RatedDates {
    /// File -> SHA-256; `"unknown"` for dates rolled up before tokenledger recorded it.
    #[serde(serialize_with = "set_or_unknown")]
    pub config: Option<ConfigSet>,
    /// Compact ranges (`2025-01-01..2025-01-10`, `2025-01-15`).
    pub dates: Vec<String>,
}

fn set_or_unknown<S: serde::Serializer>(set: &Option<ConfigSet>, s: S) -> std::result::Result<S::Ok, S::Error> {
    match set {
        Some(set) => serde::Serialize::serialize(set, s),
        None => s.serialize_str(UNKNOWN),
    }
}

/// Dates rated with config files that have changed since.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StaleConfig {
    /// The config files (`prices.csv` ...) that differ from those the dates were rated with.
    pub files: Vec<String>,
    /// Those dates, as compact ranges.
    pub dates: Vec<String>,
}

impl StaleConfig {
    /// What the user reads: which files, which dates, and how to restate them.
    pub fn notice(&self) -> String {
        format!(
            "{} changed since these dates were rolled up, and they keep what they were computed with: {}. \
             Restate them with `tokenledger rollup --rerate --from DATE --to DATE` (or `rollup --full`).",
            self.file_keys(),
            self.dates.join(", ")
        )
    }

    /// The files as the warehouse names them: `config/prices.csv, config/settings.toml`.
    pub fn file_keys(&self) -> String {
        self.files.iter().map(|f| crate::warehouse::config_key(f)).collect::<Vec<_>>().join(", ")
    }
}

/// The dates of `usage_daily` rated with config files that differ from today's, and those
/// files: what the rollup, `run`'s record and `budget status` warn about until the dates are
/// restated. Dates whose config is not known are not counted.
pub async fn stale_config(warehouse: &Warehouse) -> Result<Option<StaleConfig>> {
    let table = "usage_daily";
    if !warehouse.has_table(table).await? {
        return Ok(None);
    }
    let version = deltalake::open_table(warehouse.table_url(table)?).await?.version().map_or(-1, |v| v as i64);
    let Some(rated) = RatedWith::read(warehouse, table, version).await? else {
        return Ok(None);
    };
    Ok(rated.stale(&config_digests(warehouse, &CONFIG_FILES).await?, None))
}

impl StaleConfig {
    /// The part of it from `first` to `last` (the files as they are).
    pub fn within(&self, first: NaiveDate, last: NaiveDate) -> Result<Option<StaleConfig>> {
        let dates: BTreeSet<NaiveDate> =
            parse_date_ranges(&self.dates)?.into_iter().filter(|d| (first..=last).contains(d)).collect();
        Ok((!dates.is_empty()).then(|| StaleConfig { files: self.files.clone(), dates: date_ranges(&dates) }))
    }
}

impl RatedWith {
    /// The map of the usage table `table` at `version`, from the last rollup commit at or
    /// before it (commits that change no rows, such as a compaction, are passed over);
    /// `None` when it is not known.
    pub async fn read(warehouse: &Warehouse, table: &str, version: i64) -> Result<Option<Self>> {
        let mut version = version;
        loop {
            if version < 0 {
                return Ok(Some(Self::default())); // before the table's first commit: no dates
            }
            let Some(bytes) = warehouse.read(&format!("{table}/_delta_log/{version:020}.json")).await? else {
                return Ok(None);
            };
            let text = String::from_utf8_lossy(&bytes);
            let actions: Vec<serde_json::Value> =
                text.lines().filter(|l| !l.trim().is_empty()).filter_map(|l| serde_json::from_str(l).ok()).collect();
            let info = actions.iter().find_map(|a| a.get("commitInfo"));
            if let Some(rollup) = info.and_then(|i| i.get(METADATA_KEY)).filter(|m| m["operation"] == "rollup") {
                return Ok(Self::from_metadata(rollup));
            }
            let rewrite = info.is_some_and(|i| i[crate::warehouse::OPERATION_KEY].is_string());
            let changes_files = actions.iter().any(|a| a.get("add").is_some() || a.get("remove").is_some());
            if rewrite || !changes_files {
                version -= 1;
                continue;
            }
            return Ok(None); // rows written by a rollup that did not record its config
        }
    }

    /// The map after a rollup that recomputed `targets` with `config` on a table that held
    /// `existing` dates (`previous` their map, if known); `written` are the targets that got rows.
    pub fn after_commit(
        previous: Option<&Self>,
        existing: &BTreeSet<NaiveDate>,
        targets: &BTreeSet<NaiveDate>,
        written: &BTreeSet<NaiveDate>,
        config: &ConfigSet,
    ) -> Self {
        let id = config_id(config);
        let mut dates: BTreeMap<NaiveDate, Option<String>> = existing
            .difference(targets)
            .map(|d| (*d, previous.and_then(|p| p.dates.get(d).cloned().flatten())))
            .collect();
        dates.extend(written.iter().map(|d| (*d, Some(id.clone()))));
        let used: BTreeSet<&String> = dates.values().flatten().collect();
        let mut sets: BTreeMap<String, ConfigSet> = previous
            .map(|p| p.sets.iter().filter(|(i, _)| used.contains(i)).map(|(i, s)| (i.clone(), s.clone())).collect())
            .unwrap_or_default();
        if used.contains(&id) {
            sets.insert(id, config.clone());
        }
        Self { sets, dates }
    }

    /// The commit metadata of a rollup that used `config` and left the table with this map.
    pub fn to_metadata(
        &self,
        config: &ConfigSet,
        mode: &str,
        inference_version: i64,
    ) -> serde_json::Map<String, serde_json::Value> {
        let mut by_set: BTreeMap<String, BTreeSet<NaiveDate>> = BTreeMap::new();
        for (date, id) in &self.dates {
            by_set.entry(id.clone().unwrap_or_else(|| UNKNOWN.to_string())).or_default().insert(*date);
        }
        let rated_with: serde_json::Map<String, serde_json::Value> =
            by_set.iter().map(|(id, dates)| (id.clone(), date_ranges(dates).into())).collect();
        let mut metadata = serde_json::Map::new();
        metadata.insert(
            METADATA_KEY.into(),
            serde_json::json!({
                "operation": "rollup",
                "mode": mode,
                "inference_version": inference_version,
                "config": config_id(config),
                "config_sets": self.sets,
                "rated_with": rated_with,
            }),
        );
        metadata
    }

    /// The map in a rollup commit's metadata; `None` when it has none (an older tokenledger).
    fn from_metadata(rollup: &serde_json::Value) -> Option<Self> {
        let sets: BTreeMap<String, ConfigSet> = serde_json::from_value(rollup.get("config_sets")?.clone()).ok()?;
        let rated_with: BTreeMap<String, Vec<String>> =
            serde_json::from_value(rollup.get("rated_with")?.clone()).ok()?;
        let mut dates = BTreeMap::new();
        for (id, ranges) in rated_with {
            let id = (id != UNKNOWN).then_some(id);
            dates.extend(parse_date_ranges(&ranges).ok()?.into_iter().map(|d| (d, id.clone())));
        }
        Some(Self { sets, dates })
    }

    /// The dates from `first` to `last` grouped by the config they were rated with, in date
    /// order (unknown last).
    pub fn between(map: Option<&Self>, first: NaiveDate, last: NaiveDate) -> Vec<RatedDates> {
        let Some(map) = map else {
            let all: BTreeSet<NaiveDate> = first.iter_days().take_while(|d| *d <= last).collect();
            return vec![RatedDates { config: None, dates: date_ranges(&all) }];
        };
        let mut by_set: BTreeMap<Option<&String>, BTreeSet<NaiveDate>> = BTreeMap::new();
        for (date, id) in map.dates.range(first..=last) {
            by_set.entry(id.as_ref()).or_default().insert(*date);
        }
        let mut groups: Vec<(Option<&String>, BTreeSet<NaiveDate>)> = by_set.into_iter().collect();
        groups.sort_by_key(|(id, dates)| (id.is_none(), dates.first().copied()));
        groups
            .into_iter()
            .map(|(id, dates)| RatedDates {
                config: id.and_then(|i| map.sets.get(i)).cloned(),
                dates: date_ranges(&dates),
            })
            .collect()
    }

    /// The dates (from `first` to `last`, or all) rated with config that differs from `today`'s.
    pub fn stale(&self, today: &ConfigSet, within: Option<(NaiveDate, NaiveDate)>) -> Option<StaleConfig> {
        let (first, last) = within.unwrap_or((NaiveDate::MIN, NaiveDate::MAX));
        let mut files = BTreeSet::new();
        let mut dates = BTreeSet::new();
        for (date, id) in self.dates.range(first..=last) {
            let Some(set) = id.as_ref().and_then(|i| self.sets.get(i)) else { continue };
            let changed: Vec<&String> =
                today.iter().filter(|(file, digest)| set.get(*file) != Some(digest)).map(|(f, _)| f).collect();
            if !changed.is_empty() {
                files.extend(changed.into_iter().cloned());
                dates.insert(*date);
            }
        }
        (!dates.is_empty()).then(|| StaleConfig { files: files.into_iter().collect(), dates: date_ranges(&dates) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2025, 1, d).unwrap()
    }

    fn set(prices: &str) -> ConfigSet {
        [("prices.csv", prices), ("principals.csv", "p"), ("settings.toml", "absent")]
            .map(|(f, d)| (f.to_string(), d.to_string()))
            .into()
    }

    #[test]
    fn a_commit_records_every_date_and_reads_back() {
        let (old, new) = (set("a"), set("b"));
        let days = |r: std::ops::RangeInclusive<u32>| r.map(day).collect::<BTreeSet<_>>();
        // a table rolled up by an older tokenledger: its other dates stay unknown
        let first = RatedWith::after_commit(None, &days(1..=5), &days(2..=3), &days(2..=3), &old);
        assert_eq!(first.dates[&day(1)], None);
        assert_eq!(first.dates[&day(2)], Some(config_id(&old)));
        // a re-rate of the 3rd and a new date with another price book; the 5th lost its rows
        let second = RatedWith::after_commit(
            Some(&first),
            &days(1..=5),
            &BTreeSet::from([day(3), day(5), day(6)]),
            &BTreeSet::from([day(3), day(6)]),
            &new,
        );
        assert_eq!(second.dates.keys().copied().collect::<Vec<_>>(), [1, 2, 3, 4, 6].map(day));
        assert_eq!(second.sets.len(), 2);
        let metadata = serde_json::Value::Object(second.to_metadata(&new, "rerate", 7));
        let back = RatedWith::from_metadata(&metadata[METADATA_KEY]).unwrap();
        assert_eq!(back, second);
        assert_eq!(metadata[METADATA_KEY]["rated_with"][UNKNOWN], serde_json::json!(["2025-01-01", "2025-01-04"]));

        // grouped for a manifest: known sets first, unknown last
        let between = RatedWith::between(Some(&second), day(2), day(31));
        assert_eq!(
            between.iter().map(|r| r.dates.clone()).collect::<Vec<_>>(),
            [vec!["2025-01-02"], vec!["2025-01-03", "2025-01-06"], vec!["2025-01-04"]]
        );
        assert_eq!(between[2].config, None);
        assert_eq!(serde_json::to_value(&between[2]).unwrap()["config"], UNKNOWN);
        let nothing_known = RatedWith::between(None, day(1), day(3));
        assert_eq!(nothing_known, [RatedDates { config: None, dates: vec!["2025-01-01..2025-01-03".into()] }]);

        // against today's config: the dates of the old price book, not the unknown ones
        let stale = second.stale(&new, None).unwrap();
        assert_eq!((stale.files, stale.dates), (vec!["prices.csv".to_string()], vec!["2025-01-02".to_string()]));
        assert_eq!(second.stale(&new, Some((day(3), day(31)))), None);
        assert!(second.stale(&set("c"), None).unwrap().dates == ["2025-01-02..2025-01-03", "2025-01-06"]);
    }
}
