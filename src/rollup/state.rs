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

use crate::error::{Error, Result};
use crate::warehouse::Warehouse;
use crate::warehouse::schema::{INFERENCE, INFERENCE_PARTITION};

/// The state of the last rollup.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RollupState {
    pub inference_version: i64,
    /// Dates whose inference data changed at or before `inference_version` and that no
    /// rollup has recomputed since, as compact ranges (see [`crate::time::date_ranges`]). A state file
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
        crate::time::parse_date_ranges(&self.pending)
    }

    /// Digests of the config files the rollup reads, as they are now.
    pub async fn config_digests(warehouse: &Warehouse) -> Result<BTreeMap<String, String>> {
        crate::warehouse::rated::config_digests(warehouse, &crate::warehouse::rated::CONFIG_FILES).await
    }
}

/// The `request_date`s of data files added to or removed from `inference` after version
/// `since`, read from the table's commit files (commits marked as rewrites, see
/// [`crate::warehouse::OPERATION_KEY`], change no date); `None` when a commit file is gone (log
/// cleanup), in which case the caller recomputes everything.
pub async fn dates_changed_since(warehouse: &Warehouse, since: i64, until: i64) -> Result<Option<BTreeSet<NaiveDate>>> {
    let mut dates = BTreeSet::new();
    for version in since + 1..=until {
        let Some(bytes) = warehouse.read(&format!("{INFERENCE}/_delta_log/{version:020}.json")).await? else {
            return Ok(None);
        };
        let text = String::from_utf8_lossy(&bytes);
        let actions: Vec<serde_json::Value> = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(serde_json::from_str)
            .collect::<std::result::Result<_, _>>()?;
        // compaction and payload retention rewrite files without changing a usage fact
        let rewrite = actions.iter().any(|a| a["commitInfo"][crate::warehouse::OPERATION_KEY].is_string());
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

pub(crate) fn parse_partition_date(text: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|e| Error::Internal(format!("bad date partition value {text:?} in a table's log: {e}")))
}
