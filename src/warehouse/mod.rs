//! The warehouse: a directory of Delta tables plus `config/` with the dimension files.
//!
//! Opening, creating and committing to tables lives here so that every stage uses the same
//! rules (table locations, partitioning, schema checks).

pub mod schema;

use std::path::{Path, PathBuf};

use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::{Action, Add, StructType};
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::{DeltaTable, DeltaTableBuilder};
use url::Url;

use crate::error::{Error, Result};

/// Example configuration files written by `init`, each with comments that explain the columns.
pub const CONFIG_TEMPLATES: [(&str, &str); 6] = [
    ("prices.csv", include_str!("templates/prices.csv")),
    ("principals.csv", include_str!("templates/principals.csv")),
    ("budgets.csv", include_str!("templates/budgets.csv")),
    ("capacity.csv", include_str!("templates/capacity.csv")),
    ("settings.toml", include_str!("templates/settings.toml")),
    ("tokenledger.toml", include_str!("templates/tokenledger.toml")),
];

/// A warehouse on the local filesystem.
#[derive(Debug, Clone)]
pub struct Warehouse {
    root: PathBuf,
}

/// What `init` did, for the summary it prints.
#[derive(Debug, Default, serde::Serialize)]
pub struct InitReport {
    pub warehouse: String,
    pub tables_created: Vec<String>,
    pub tables_existing: Vec<String>,
    pub config_files_written: Vec<String>,
    pub config_files_existing: Vec<String>,
}

impl InitReport {
    /// True when `init` found everything in place and changed nothing.
    pub fn unchanged(&self) -> bool {
        self.tables_created.is_empty() && self.config_files_written.is_empty()
    }
}

impl Warehouse {
    /// A handle on the warehouse at `location` (a directory path or a `file://` URL). Nothing is
    /// touched on disk until a method needs it.
    pub fn new(location: &str) -> Result<Self> {
        let path = match Url::parse(location) {
            Ok(url) if url.scheme() == "file" => url
                .to_file_path()
                .map_err(|_| Error::Usage(format!("not a usable file URL: {location}")))?,
            Ok(url) if url.scheme().len() > 1 => {
                return Err(Error::Usage(format!(
                    "warehouse {location}: only local directories and file:// URLs are supported \
                     so far ({}:// is not)",
                    url.scheme()
                )));
            }
            // Not a URL (or a Windows drive letter): a path.
            _ => PathBuf::from(location),
        };
        let root = if path.is_absolute() {
            path
        } else {
            std::env::current_dir()?.join(path)
        };
        Ok(Self { root })
    }

    /// The warehouse directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Directory of the dimension files (`prices.csv`, `principals.csv` ...).
    pub fn config_dir(&self) -> PathBuf {
        self.root.join("config")
    }

    /// Directory of the Delta table `name`.
    pub fn table_dir(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// Whether the Delta table `name` exists (has a transaction log).
    pub fn has_table(&self, name: &str) -> bool {
        self.table_dir(name).join("_delta_log").is_dir()
    }

    /// The `file://` URL of the Delta table `name`.
    pub fn table_url(&self, name: &str) -> Result<Url> {
        let dir = self.table_dir(name);
        Url::from_directory_path(&dir)
            .map_err(|_| Error::Usage(format!("cannot turn {} into a URL", dir.display())))
    }

    /// Creates the tables and the example configuration that are missing; leaves what exists.
    pub async fn init(&self) -> Result<InitReport> {
        let mut report = InitReport {
            warehouse: self.root.display().to_string(),
            ..Default::default()
        };
        for (name, arrow_schema, partition) in schema::managed_tables() {
            if self.has_table(name) {
                // Check, do not trust: an existing table must have the schema we expect.
                self.open_table(name).await?;
                report.tables_existing.push(name.to_string());
                continue;
            }
            self.create_table(name, &arrow_schema, partition).await?;
            report.tables_created.push(name.to_string());
        }
        let config = self.config_dir();
        std::fs::create_dir_all(&config)?;
        for (file, text) in CONFIG_TEMPLATES {
            let path = config.join(file);
            if path.exists() {
                report.config_files_existing.push(file.to_string());
            } else {
                std::fs::write(&path, text)?;
                report.config_files_written.push(file.to_string());
            }
        }
        Ok(report)
    }

    /// Creates the Delta table `name` with `schema`, partitioned by `partition`.
    pub async fn create_table(&self, name: &str, schema: &arrow::datatypes::Schema, partition: &str) -> Result<DeltaTable> {
        std::fs::create_dir_all(self.table_dir(name))?;
        let kernel_schema: StructType = schema.try_into_kernel()?;
        Ok(DeltaTableBuilder::from_url(self.table_url(name)?)?
            .build()?
            .create()
            .with_table_name(name)
            .with_columns(kernel_schema.fields().cloned())
            .with_partition_columns([partition])
            .with_comment(format!("tokenledger {name} table; contract in schemas/{name}.json"))
            .await?)
    }

    /// Opens the table `name` at its latest version and checks its schema against the code's.
    pub async fn open_table(&self, name: &str) -> Result<DeltaTable> {
        if !self.has_table(name) {
            return Err(Error::Usage(format!(
                "no {name} table in warehouse {}: run `tokenledger init` first \
                 (or pass -w/--warehouse to point at an existing warehouse)",
                self.root.display()
            )));
        }
        let table = deltalake::open_table(self.table_url(name)?).await?;
        let expected = schema::managed_tables()
            .into_iter()
            .find(|(n, _, _)| *n == name)
            .map(|(_, s, _)| s);
        if let Some(expected) = expected {
            self.check_schema(&table, name, &expected)?;
        }
        Ok(table)
    }

    /// Fails unless `table` has the columns of `expected` (names and contract types, in order).
    pub fn check_schema(&self, table: &DeltaTable, name: &str, expected: &arrow::datatypes::Schema) -> Result<()> {
        let actual = table.snapshot()?.snapshot().arrow_schema();
        let same = actual.fields().len() == expected.fields().len()
            && actual.fields().iter().zip(expected.fields()).all(|(a, e)| {
                a.name() == e.name() && schema::contract_type(a.data_type()) == schema::contract_type(e.data_type())
            });
        if same {
            return Ok(());
        }
        Err(Error::Usage(format!(
            "table {} does not have the schema this version of tokenledger expects \
             (see schemas/{name}.json); was it created by another version?",
            self.table_dir(name).display()
        )))
    }
}

/// Parquet settings for the tables: zstd(1) is several times faster to write than the
/// default level and compresses gateway logs almost as well. Ids and payloads are unique per
/// row: a dictionary would only be built and thrown away, and min/max statistics of random
/// ids or free text prune nothing but cost a comparison per value.
pub fn writer_properties() -> parquet::file::properties::WriterProperties {
    let mut builder = parquet::file::properties::WriterProperties::builder()
        .set_compression(parquet::basic::Compression::ZSTD(parquet::basic::ZstdLevel::try_new(1).expect("1 is a valid zstd level")))
        .set_max_row_group_row_count(Some(128 * 1024));
    for column in ["request_id", "client_request_id", "request", "response", "raw", "record_fingerprint"] {
        builder = builder
            .set_column_dictionary_enabled(parquet::schema::types::ColumnPath::from(column), false)
            .set_column_statistics_enabled(parquet::schema::types::ColumnPath::from(column), parquet::file::properties::EnabledStatistics::None);
    }
    builder.build()
}

/// Commits `adds` to `table` as one append, together with application transactions that
/// record which input files the commit covers (Delta's mechanism for idempotent writers:
/// a file's transaction is in the table exactly when its rows are).
pub async fn commit_append(
    table: &mut DeltaTable,
    adds: Vec<Add>,
    transactions: Vec<deltalake::kernel::Transaction>,
    app_metadata: serde_json::Map<String, serde_json::Value>,
) -> Result<i64> {
    let properties = CommitProperties::default()
        .with_application_transactions(transactions)
        .with_metadata(app_metadata);
    let actions = adds.into_iter().map(Action::Add).collect();
    commit(table, actions, SaveMode::Append, None, properties).await
}

/// Replaces the partitions `partition_values` of `table` (its partition column) with `adds`
/// in one commit: every file of those partitions is removed in the same version the new
/// files appear in, so a reader sees a partition's old rows or its new ones, never a mix.
pub async fn commit_replace_partitions(
    table: &mut DeltaTable,
    partition_values: &std::collections::BTreeSet<String>,
    adds: Vec<Add>,
    app_metadata: serde_json::Map<String, serde_json::Value>,
) -> Result<i64> {
    let snapshot = table.snapshot()?;
    let column = snapshot.metadata().partition_columns().first().cloned().ok_or_else(|| {
        Error::Internal("commit_replace_partitions on an unpartitioned table".into())
    })?;
    let files = snapshot.log_data();
    let mut actions: Vec<Action> = files
        .iter()
        .filter(|file| {
            let value = file.partition_values_map().get(&column).cloned().flatten();
            value.is_some_and(|v| partition_values.contains(&v))
        })
        .map(|file| Action::Remove(file.remove_action(true)))
        .collect();
    actions.extend(adds.into_iter().map(Action::Add));
    let list: Vec<String> = partition_values.iter().map(|v| format!("'{v}'")).collect();
    let predicate = format!("{column} IN ({})", list.join(", "));
    let properties = CommitProperties::default().with_metadata(app_metadata);
    commit(table, actions, SaveMode::Overwrite, Some(predicate), properties).await
}

async fn commit(
    table: &mut DeltaTable,
    actions: Vec<Action>,
    mode: SaveMode,
    predicate: Option<String>,
    properties: CommitProperties,
) -> Result<i64> {
    let snapshot = table.snapshot()?;
    let partition_by: Vec<String> = snapshot.metadata().partition_columns().to_vec();
    let operation = DeltaOperation::Write {
        mode,
        partition_by: (!partition_by.is_empty()).then_some(partition_by),
        predicate,
    };
    let finalized = CommitBuilder::from(properties)
        .with_actions(actions)
        .build(Some(snapshot), table.log_store(), operation)
        .await?;
    let version = finalized.version();
    table.update_state().await?;
    Ok(version as i64)
}
