//! What the rollup remembers between runs, and which dates a run recomputes.
//!
//! `_tokenledger/rollup.json` holds the `inference` version the usage tables reflect and a
//! digest of each config file the rollup read. It is written after the usage commits: a
//! crash in between only makes the next run recompute the same dates again, which replaces
//! them with the same rows.

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
    /// Config file name -> SHA-256 of its bytes (`absent` when there was none).
    #[serde(default)]
    pub config: BTreeMap<String, String>,
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

    /// Digests of the config files as they are now.
    pub async fn config_digests(warehouse: &Warehouse) -> Result<BTreeMap<String, String>> {
        let mut digests = BTreeMap::new();
        for file in CONFIG_FILES {
            let digest = match warehouse.read(&crate::warehouse::config_key(file)).await? {
                Some(bytes) => hex::encode(Sha256::digest(&bytes)),
                None => "absent".to_string(),
            };
            digests.insert(file.to_string(), digest);
        }
        Ok(digests)
    }

    /// The config files whose digest differs from this state's.
    pub fn changed_config(&self, now: &BTreeMap<String, String>) -> Vec<String> {
        if self.config.is_empty() {
            return Vec::new(); // a state from before digests were kept: nothing to compare
        }
        now.iter().filter(|(file, digest)| self.config.get(*file) != Some(digest)).map(|(f, _)| f.clone()).collect()
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
        let actions: Vec<serde_json::Value> =
            text.lines().filter(|l| !l.trim().is_empty()).map(serde_json::from_str).collect::<std::result::Result<_, _>>()?;
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
    let mut dates = BTreeMap::new();
    for file in table.snapshot()?.log_data().iter() {
        let Some(Some(date)) = file.partition_values_map().get(INFERENCE_PARTITION).cloned() else {
            continue;
        };
        *dates.entry(parse_partition_date(&date)?).or_insert(0) += file.num_records().unwrap_or(0) as u64;
    }
    Ok(dates)
}

fn parse_partition_date(text: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|e| Error::Internal(format!("bad {INFERENCE_PARTITION} partition value {text:?} in the inference log: {e}")))
}
