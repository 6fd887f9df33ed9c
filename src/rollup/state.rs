//! What the rollup remembers between runs, and which dates a run recomputes.
//!
//! `_tokenledger/rollup.json` holds the `inference` version the usage tables reflect, the
//! dates that changed in `inference` up to that version but were not recomputed (a range
//! rollup recomputes only its range; the next plain rollup does the rest). (The config each
//! date was rated with is in the usage tables' commits, see [`super::rated`].) It is written
//! after the usage commits: a crash in between only makes the next run recompute the same
//! dates again, which replaces them with the same rows.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::warehouse::Warehouse;
use crate::warehouse::schema::{INFERENCE, INFERENCE_PARTITION};

/// The config files that change the rollup's numbers.
pub const CONFIG_FILES: [&str; 3] = ["prices.csv", "principals.csv", "settings.toml"];

/// The state of the last rollup.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RollupState {
    pub inference_version: i64,
    /// Dates whose inference data changed at or before `inference_version` and that no
    /// rollup has recomputed since, as compact ranges (see [`date_ranges`]). A state file
    /// from before this field reads as none pending.
    #[serde(default)]
    pub pending: Vec<String>,
}

/// Where the state is, in the warehouse.
const STATE_KEY: &str = "_tokenledger/rollup.json";

impl RollupState {
    /// The state of the last rollup, if there was one (an unreadable file counts as none:
    /// the next run then recomputes everything, which is always correct).
    pub async fn read(warehouse: &Warehouse) -> Option<Self> {
        let bytes = warehouse.read(STATE_KEY).await.ok()??;
        serde_json::from_slice(&bytes).ok()
    }

    /// Replaces the state file atomically.
    pub async fn write(&self, warehouse: &Warehouse) -> Result<()> {
        warehouse.write(STATE_KEY, serde_json::to_vec_pretty(self)?).await
    }

    /// The dates of [`Self::pending`].
    pub fn pending_dates(&self) -> Result<BTreeSet<NaiveDate>> {
        parse_date_ranges(&self.pending)
    }

    /// Digests of the config files the rollup reads, as they are now.
    pub async fn config_digests(warehouse: &Warehouse) -> Result<BTreeMap<String, String>> {
        config_digests(warehouse, &CONFIG_FILES).await
    }
}

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

/// The `request_date`s of data files added to or removed from `inference` after version
/// `since`, read from the table's commit files (commits marked as rewrites, see
/// [`crate::maintenance`], change no date); `None` when a commit file is gone (log
/// cleanup), in which case the caller recomputes everything.
pub async fn dates_changed_since(warehouse: &Warehouse, since: i64, until: i64) -> Result<Option<BTreeSet<NaiveDate>>> {
    let mut dates = BTreeSet::new();
    for version in since + 1..=until {
        let Some(bytes) = warehouse.read(&format!("{INFERENCE}/_delta_log/{version:020}.json")).await? else {
            return Ok(None);
        };
        let text = String::from_utf8_lossy(&bytes);
        let actions: Vec<serde_json::Value> =
            text.lines().filter(|l| !l.trim().is_empty()).map(serde_json::from_str).collect::<std::result::Result<_, _>>()?;
        // compaction and payload retention rewrite files without changing a usage fact
        let rewrite = actions.iter().any(|a| a["commitInfo"][crate::maintenance::OPERATION_KEY].is_string());
        if rewrite {
            continue;
        }
        for action in &actions {
            for kind in ["add", "remove"] {
                if let Some(date) = action[kind]["partitionValues"][INFERENCE_PARTITION].as_str() {
                    dates.insert(parse_partition_date(date)?);
                }
            }
        }
    }
    Ok(Some(dates))
}

/// Every `request_date` of the opened `inference` table, with its row count (from the
/// files' statistics; 0 where a file has none).
pub fn inference_dates(table: &deltalake::DeltaTable) -> Result<BTreeMap<NaiveDate, u64>> {
    partition_dates(table, INFERENCE_PARTITION)
}

/// Every date of the opened `table`, partitioned by the date column `column`, with its row
/// count (from the files' statistics; 0 where a file has none).
pub fn partition_dates(table: &deltalake::DeltaTable, column: &str) -> Result<BTreeMap<NaiveDate, u64>> {
    let mut dates = BTreeMap::new();
    for file in table.snapshot()?.log_data().iter() {
        let Some(Some(date)) = file.partition_values_map().get(column).cloned() else {
            continue;
        };
        *dates.entry(parse_partition_date(&date)?).or_insert(0) += file.num_records().unwrap_or(0) as u64;
    }
    Ok(dates)
}

/// `dates` as compact ranges, in order: `2025-01-01..2025-01-10`, `2025-01-15`.
pub fn date_ranges<'a>(dates: impl IntoIterator<Item = &'a NaiveDate>) -> Vec<String> {
    let mut ranges: Vec<(NaiveDate, NaiveDate)> = Vec::new();
    for &date in dates {
        match ranges.last_mut() {
            Some((_, last)) if last.succ_opt() == Some(date) => *last = date,
            _ => ranges.push((date, date)),
        }
    }
    ranges.into_iter().map(|(first, last)| if first == last { first.to_string() } else { format!("{first}..{last}") }).collect()
}

/// The dates of ranges written by [`date_ranges`].
pub fn parse_date_ranges(ranges: &[String]) -> Result<BTreeSet<NaiveDate>> {
    let day = |text: &str| {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|e| Error::Internal(format!("bad date {text:?} in a date range: {e}")))
    };
    let mut dates = BTreeSet::new();
    for range in ranges {
        let (first, last) = match range.split_once("..") {
            Some((first, last)) => (day(first)?, day(last)?),
            None => (day(range)?, day(range)?),
        };
        dates.extend(first.iter_days().take_while(|d| *d <= last));
    }
    Ok(dates)
}

pub(crate) fn parse_partition_date(text: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|e| Error::Internal(format!("bad date partition value {text:?} in a table's log: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_ranges_are_compact_and_read_back() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let dates: BTreeSet<NaiveDate> =
            ["2024-12-31", "2025-01-01", "2025-01-02", "2025-01-05", "2025-01-07", "2025-01-08"].into_iter().map(d).collect();
        let ranges = date_ranges(&dates);
        assert_eq!(ranges, ["2024-12-31..2025-01-02", "2025-01-05", "2025-01-07..2025-01-08"]);
        assert_eq!(parse_date_ranges(&ranges).unwrap(), dates);
        assert!(date_ranges(&BTreeSet::new()).is_empty());
        assert!(parse_date_ranges(&["2025-13-01".into()]).is_err());
    }
}
