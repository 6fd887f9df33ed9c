//! `tokenledger.toml`: what one scheduled cycle does. The warehouse, the inbox (paths, globs and
//! their format), what to export, and how long to wait for another run's lock. Paths are
//! relative to the file's folder. Unknown keys are errors with their line, and so is anything
//! that looks like a credential: those come from the environment, never from a file.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};

/// The example `init` writes next to the warehouse's other config files.
pub const TEMPLATE: &str = include_str!("../warehouse/templates/tokenledger.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// The warehouse directory (or file:// URL).
    pub warehouse: String,
    /// Where the cycle's queries run: `local`, or `ballista://HOST:PORT`.
    #[serde(default)]
    pub engine: Option<String>,
    #[serde(default)]
    pub inbox: Inbox,
    #[serde(default)]
    pub bills: Bills,
    #[serde(default)]
    pub export: Export,
    #[serde(default)]
    pub lock: Lock,
    #[serde(default)]
    pub maintenance: Maintenance,
    /// The folder the file is in: relative paths start there.
    #[serde(skip)]
    pub base: PathBuf,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inbox {
    /// Files, directories (searched recursively) and globs (`logs/*.jsonl.gz`).
    #[serde(default)]
    pub paths: Vec<String>,
    /// `auto` (each file by its columns), or a source name.
    #[serde(default)]
    pub source: crate::ingest::sources::SourceChoice,
    /// The Databricks served_entities export, for endpoint_usage and payload rows.
    pub served_entities: Option<String>,
    /// Fail the cycle (exit 4, nothing written) above this fraction of quarantined records.
    pub max_quarantine_ratio: Option<f64>,
    /// What to keep of payloads: keep, hash (keyed by TOKENLEDGER_PAYLOAD_KEY from the environment) or drop.
    #[serde(default)]
    pub payloads: crate::ingest::PayloadMode,
}

/// `[bills]`: the providers' bills, imported each cycle and reconciled with the export's month.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bills {
    /// Bill files, directories and globs (each file imported once, by the hash of its bytes).
    #[serde(default)]
    pub paths: Vec<String>,
    /// `auto` (each file by its content), or a bill source.
    #[serde(default)]
    pub source: crate::bill::sources::BillSource,
    /// Reconcile the export's month with the imported bills.
    #[serde(default = "yes")]
    pub reconcile: bool,
    /// The difference still ok: `0.5%` or `0.005`.
    #[serde(default = "default_tolerance")]
    pub tolerance: String,
    /// Exit 7 when a row of the reconciliation is not ok (the cycle's work is done first).
    #[serde(default = "yes")]
    pub fail_on_mismatch: bool,
    /// The chargeback export charges the bills: true_up lines (chargeback --true-up).
    #[serde(default)]
    pub true_up: bool,
    /// Provisioned pools' hours cost what the Databricks bill charged their endpoints
    /// (chargeback --capacity-from-bill).
    #[serde(default)]
    pub capacity_from_bill: bool,
    /// A `system.billing.list_prices` export that prices the DBUs of Databricks billing files
    /// (`bill import --list-prices`).
    pub list_prices: Option<String>,
    /// Or one USD price per DBU (`bill import --dbu-rate`), as text: `0.07`.
    pub dbu_rate: Option<String>,
}

impl Default for Bills {
    fn default() -> Self {
        Self {
            paths: Vec::new(),
            source: Default::default(),
            reconcile: true,
            tolerance: default_tolerance(),
            fail_on_mismatch: true,
            true_up: false,
            capacity_from_bill: false,
            list_prices: None,
            dbu_rate: None,
        }
    }
}

fn default_tolerance() -> String {
    "0.5%".into()
}

/// The month a cycle charges back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ExportPeriod {
    /// The month before the run's day (UTC): the last one that is over.
    #[default]
    LastClosedMonth,
    /// A given month, `YYYY-MM`.
    Month(String),
}

impl<'de> Deserialize<'de> for ExportPeriod {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        if text == "last_closed_month" {
            return Ok(ExportPeriod::LastClosedMonth);
        }
        match chrono::NaiveDate::parse_from_str(&format!("{text}-01"), "%Y-%m-%d") {
            Ok(_) if text.len() == 7 => Ok(ExportPeriod::Month(text)),
            _ => Err(serde::de::Error::custom(format!(
                "export.period {text:?}: say last_closed_month or a month YYYY-MM, e.g. 2025-01"
            ))),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Export {
    /// Where chargeback files go; none: no chargeback export.
    pub dir: Option<String>,
    /// The chargeback's keys.
    #[serde(default = "default_by")]
    pub by: Vec<String>,
    /// `last_closed_month` (the month before the run's day, UTC), or a month `YYYY-MM`.
    #[serde(default)]
    pub period: ExportPeriod,
    /// Check config/budgets.csv after the rollup.
    #[serde(default = "yes")]
    pub budgets: bool,
    /// Exit 3 when a budget is spent (the cycle's work is done and recorded first).
    #[serde(default = "yes")]
    pub fail_on_budget: bool,
    /// Close the previous month (tokenledger close) this many days after its end; unset: never.
    pub close_after_days: Option<u32>,
}

impl Default for Export {
    fn default() -> Self {
        Self {
            dir: None,
            by: default_by(),
            period: ExportPeriod::default(),
            budgets: true,
            fail_on_budget: true,
            close_after_days: None,
        }
    }
}

fn default_by() -> Vec<String> {
    vec!["cost_center".into(), "group".into()]
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lock {
    /// How long to wait for another run to finish before giving up (exit 5).
    #[serde(default)]
    pub wait_seconds: u64,
    /// A lock older than this is stale (its run died without removing it) and is taken over;
    /// on the same host, a lock whose process is gone is stale at once.
    #[serde(default = "stale_after_seconds")]
    pub stale_after_seconds: u64,
}

impl Default for Lock {
    fn default() -> Self {
        Self { wait_seconds: 0, stale_after_seconds: stale_after_seconds() }
    }
}

fn stale_after_seconds() -> u64 {
    super::lock::DEFAULT_STALE_AFTER.as_secs()
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Maintenance {
    /// Drop the request/response text of requests older than this many days, each cycle.
    pub payload_retention_days: Option<u32>,
    /// Then delete the files no version of the last this many hours reads (default a week).
    pub vacuum_retain_hours: Option<u64>,
}

/// Key names that hold credentials (compared in lower case, as parts of a key).
const SECRET_KEYS: [&str; 8] =
    ["secret", "password", "passwd", "token", "access_key", "credential", "sas", "private_key"];

impl RunConfig {
    /// Reads and checks `path`.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Input { path: path.to_path_buf(), source })?;
        let label = path.display().to_string();
        let value: toml::Table = toml::from_str(&text).map_err(|e| Error::Config(format!("{label}: {e}")))?;
        refuse_secrets(&toml::Value::Table(value), "", &label)?;
        let mut config: RunConfig = toml::from_str(&text).map_err(|e| Error::Config(format!("{label}: {e}")))?;
        config.base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Ok(config)
    }

    /// A path of the file, resolved against its folder (without `..` when it exists).
    pub fn path(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        let full = if p.is_absolute() { p.to_path_buf() } else { self.base.join(p) };
        full.canonicalize().unwrap_or(full)
    }

    /// The warehouse location, a relative directory resolved against the file's folder.
    pub fn warehouse_location(&self) -> String {
        if self.warehouse.contains("://") {
            self.warehouse.clone()
        } else {
            self.path(&self.warehouse).display().to_string()
        }
    }

    /// The inbox's files: paths as given, directories, and the matches of globs, in order.
    pub fn inbox_paths(&self) -> Result<Vec<PathBuf>> {
        self.expand(&self.inbox.paths, "inbox")
    }

    /// The bill files of `[bills] paths`, as [`RunConfig::inbox_paths`].
    pub fn bill_paths(&self) -> Result<Vec<PathBuf>> {
        let mut out = Vec::new();
        for path in self.expand(&self.bills.paths, "bills")? {
            if path.is_dir() {
                // a folder of bills: its files, in name order (hidden ones are partial downloads)
                let mut files: Vec<PathBuf> = std::fs::read_dir(&path)
                    .map_err(|source| Error::Input { path: path.clone(), source })?
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.is_file() && !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')))
                    .collect();
                files.sort();
                out.extend(files);
            } else {
                out.push(path);
            }
        }
        Ok(out)
    }

    /// `paths` (files, directories, globs; relative to the file's folder) that exist now.
    fn expand(&self, paths: &[String], section: &str) -> Result<Vec<PathBuf>> {
        let mut out = Vec::new();
        for p in paths {
            let full = self.path(p);
            let text = full.display().to_string();
            if text.contains(['*', '?', '[']) {
                let matches = glob::glob(&text).map_err(|e| Error::Config(format!("{section} path {p:?}: {e}")))?;
                for m in matches {
                    out.push(m.map_err(|e| Error::Input {
                        path: e.path().to_path_buf(),
                        source: std::io::Error::other(e.to_string()),
                    })?);
                }
            } else if full.exists() {
                out.push(full);
            } else {
                tracing::warn!(path = %full.display(), "a {section} path does not exist (yet): nothing to read there");
            }
        }
        Ok(out)
    }
}

/// Refuses keys that name a credential, and URLs with a password in them.
fn refuse_secrets(v: &toml::Value, key: &str, label: &str) -> Result<()> {
    let refuse = |what: String| {
        Error::Config(format!(
            "{label}: {what}. Credentials are never read from a config file: give them in the environment \
             (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, GOOGLE_APPLICATION_CREDENTIALS, AZURE_STORAGE_...) \
             or the provider's standard chain (an instance role, a profile)"
        ))
    };
    match v {
        toml::Value::Table(t) => {
            for (k, v) in t {
                let lower = k.to_ascii_lowercase();
                if SECRET_KEYS.iter().any(|s| lower.contains(s)) {
                    return Err(refuse(format!("the key `{k}` holds a credential")));
                }
                refuse_secrets(v, k, label)?;
            }
        }
        toml::Value::Array(items) => {
            for item in items {
                refuse_secrets(item, key, label)?;
            }
        }
        toml::Value::String(s) => {
            if let Ok(url) = url::Url::parse(s)
                && url.password().is_some()
            {
                return Err(refuse(format!("`{key}` is a URL with a password in it")));
            }
            let looks_like_key = s.len() == 20
                && (s.starts_with("AKIA") || s.starts_with("ASIA"))
                && s.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
            if looks_like_key {
                return Err(refuse(format!("`{key}` looks like an AWS access key id")));
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<RunConfig> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("tokenledger.toml");
        std::fs::write(&p, text).unwrap();
        RunConfig::load(&p)
    }

    #[test]
    fn the_template_is_a_valid_config() {
        let c = load(TEMPLATE).unwrap();
        assert_eq!(c.export.period, ExportPeriod::LastClosedMonth);
        assert_eq!(c.lock.stale_after_seconds, 6 * 3600);
    }

    #[test]
    fn sources_and_periods_are_parsed_once_into_their_kinds() {
        let c = load("warehouse = \"wh\"\n[inbox]\nsource = \"litellm\"\n[export]\nperiod = \"2025-02\"\n").unwrap();
        assert_eq!(c.inbox.source, crate::ingest::sources::SourceChoice::Litellm);
        assert_eq!(c.export.period, ExportPeriod::Month("2025-02".into()));
        let err = load("warehouse = \"wh\"\n[inbox]\nsource = \"splunk\"\n").unwrap_err().to_string();
        assert!(err.contains("splunk") && err.contains("litellm"), "{err}");
    }

    #[test]
    fn a_config_of_a_warehouse_alone_has_the_defaults() {
        let c = load("warehouse = \"wh\"\n").unwrap();
        assert_eq!(
            (c.inbox.source, c.export.budgets, c.lock.wait_seconds),
            (crate::ingest::sources::SourceChoice::Auto, true, 0)
        );
    }

    #[test]
    fn secrets_and_unknown_keys_are_refused() {
        let err = load("warehouse = \"wh\"\naws_secret_access_key = \"x\"\n").unwrap_err().to_string();
        assert!(err.contains("holds a credential") && err.contains("environment"), "{err}");
        let err = load("warehouse = \"s3://user:pw@bucket/wh\"\n").unwrap_err().to_string();
        assert!(err.contains("password"), "{err}");
        let err = load("warehouse = \"wh\"\n[inbox]\npath = [\"x\"]\n").unwrap_err().to_string();
        assert!(err.contains("unknown field `path`"), "{err}");
        let err = load("warehouse = \"wh\"\n[inbox]\npayloads = \"sometimes\"\n").unwrap_err().to_string();
        assert!(err.contains("sometimes") && err.contains("keep"), "{err}");
        let err = load("warehouse = \"wh\"\n[export]\nperiod = \"January\"\n").unwrap_err().to_string();
        assert!(err.contains("export.period"), "{err}");
    }
}
