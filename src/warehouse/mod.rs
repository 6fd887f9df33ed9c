//! The warehouse: a directory of Delta tables plus `config/` with the dimension files.
//!
//! Opening, creating and committing to tables lives here so that every stage uses the same
//! rules (table locations, partitioning, schema checks).

pub mod lineage;
pub mod rated;
pub mod schema;

use std::path::{Path, PathBuf};

use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::{Action, Add, StructType};
use deltalake::logstore::ObjectStoreRef;
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::{DeltaTable, DeltaTableBuilder};
use object_store::ObjectStoreExt;
use object_store::path::Path as ObjectPath;
use url::Url;

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::pricing::{ConfigError, ConfigFile};

/// Example configuration files written by `init`, each with comments that explain the columns.
pub const CONFIG_TEMPLATES: [(&str, &str); 9] = [
    ("prices.csv", include_str!("templates/prices.csv")),
    ("discounts.csv", include_str!("templates/discounts.csv")),
    ("bill_mapping.csv", include_str!("templates/bill_mapping.csv")),
    ("principals.csv", include_str!("templates/principals.csv")),
    ("budgets.csv", include_str!("templates/budgets.csv")),
    ("capacity.csv", include_str!("templates/capacity.csv")),
    ("limits.toml", include_str!("templates/limits.toml")),
    ("settings.toml", include_str!("templates/settings.toml")),
    ("tokenledger.toml", include_str!("templates/tokenledger.toml")),
];

/// A warehouse: a directory, or a prefix in an object store (`s3://`, `gs://`, `az://`).
///
/// Every file of the warehouse (tables, `config/`, `_tokenledger/`) is read and written through
/// one object store, built the way delta-rs builds the tables' own, so a local directory and a
/// bucket take the same code path. Credentials come from the environment or the provider's
/// standard chain only: a URL with a password is refused.
#[derive(Debug, Clone)]
pub struct Warehouse {
    /// The root, ending in `/`.
    url: Url,
    /// The store, rooted at `url`: keys are relative to the warehouse.
    store: ObjectStoreRef,
    /// The directory, when the warehouse is on this machine.
    local_root: Option<PathBuf>,
    /// Where queries over the warehouse run.
    engine: Engine,
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

impl std::fmt::Display for Warehouse {
    /// A local warehouse by its path, another by its URL.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.local_root {
            Some(root) => write!(f, "{}", root.display()),
            None => write!(f, "{}", self.url),
        }
    }
}

/// The key of the config file `file` (`prices.csv` ...) in a warehouse.
pub fn config_key(file: &str) -> String {
    format!("config/{file}")
}

/// The URL schemes a warehouse can be at, for messages.
const SCHEMES: &str = "a directory, file://, s3:// (s3a://), gs://, az:// (abfs://, abfss://, azure://, adl://)";
/// The object stores' schemes (delta-rs' cloud crates register these).
const STORE_SCHEMES: [&str; 8] = ["s3", "s3a", "gs", "az", "abfs", "abfss", "azure", "adl"];

impl Warehouse {
    /// A handle on the warehouse at `location`: a directory path, a `file://` URL or an object
    /// store URL. Nothing is read or written until a method needs it.
    pub fn new(location: &str) -> Result<Self> {
        let (url, local_root) = match Url::parse(location) {
            Ok(url) if url.scheme() == "file" => {
                let path =
                    url.to_file_path().map_err(|_| Error::Usage(format!("not a usable file URL: {location}")))?;
                Self::local_url(path)?
            }
            // a one-letter scheme is a Windows drive letter: a path
            Ok(mut url) if url.scheme().len() > 1 => {
                if url.password().is_some() || !url.username().is_empty() {
                    return Err(Error::Usage(format!(
                        "warehouse {}: the URL holds credentials; give them through the environment \
                         (AWS_ACCESS_KEY_ID, GOOGLE_APPLICATION_CREDENTIALS, AZURE_STORAGE_ACCOUNT_KEY ...) \
                         or the provider's standard chain, never in the URL",
                        url.host_str().unwrap_or("?")
                    )));
                }
                if !STORE_SCHEMES.contains(&url.scheme()) {
                    return Err(Error::Usage(format!(
                        "warehouse {location}: {}:// is not a place for a warehouse; a warehouse is {SCHEMES}",
                        url.scheme()
                    )));
                }
                if url.host_str().is_none_or(str::is_empty) {
                    return Err(Error::Usage(format!(
                        "warehouse {location}: the URL names no bucket or container, as in s3://BUCKET/PREFIX"
                    )));
                }
                if !url.path().ends_with('/') {
                    url.set_path(&format!("{}/", url.path()));
                }
                (url, None)
            }
            _ => Self::local_url(PathBuf::from(location))?,
        };
        crate::engine::register_cloud_stores();
        let store = deltalake::logstore::store_for(&url, std::iter::empty::<(String, String)>()).map_err(|e| {
            let hint = if cfg!(feature = "cloud") {
                ""
            } else {
                " (this build has no cloud stores: build with --features cloud)"
            };
            Error::Usage(format!("warehouse {location}: cannot open it ({e}); a warehouse is {SCHEMES}{hint}"))
        })?;
        Ok(Self { url, store, local_root, engine: Engine::Local })
    }

    /// The same warehouse, with its queries run on `engine`.
    pub fn with_engine(mut self, engine: Engine) -> Self {
        self.engine = engine;
        self
    }

    /// Where queries over the warehouse run.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    fn local_url(path: PathBuf) -> Result<(Url, Option<PathBuf>)> {
        let root = if path.is_absolute() { path } else { std::env::current_dir()?.join(path) };
        let url = Url::from_directory_path(&root)
            .map_err(|_| Error::Usage(format!("cannot turn {} into a URL", root.display())))?;
        Ok((url, Some(root)))
    }

    /// The warehouse's URL (ending in `/`).
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The directory, when the warehouse is on this machine.
    pub fn local_root(&self) -> Option<&Path> {
        self.local_root.as_deref()
    }

    /// The object store the warehouse's files are in, rooted at the warehouse.
    pub fn store(&self) -> &ObjectStoreRef {
        &self.store
    }

    /// The URL of the Delta table `name`.
    pub fn table_url(&self, name: &str) -> Result<Url> {
        self.url.join(&format!("{name}/")).map_err(|e| Error::Usage(format!("table {name} in {self}: {e}")))
    }

    /// How messages name the warehouse file `key` (`config/prices.csv` ...).
    pub fn describe(&self, key: &str) -> String {
        match &self.local_root {
            Some(root) => root.join(key).display().to_string(),
            None => format!("{}{key}", self.url),
        }
    }

    /// Whether the Delta table `name` exists (has a transaction log).
    pub async fn has_table(&self, name: &str) -> Result<bool> {
        use futures::StreamExt;
        let prefix = ObjectPath::from(format!("{name}/_delta_log"));
        match self.store.list(Some(&prefix)).next().await {
            None => Ok(false),
            Some(Ok(_)) => Ok(true),
            Some(Err(object_store::Error::NotFound { .. })) => Ok(false),
            Some(Err(e)) => Err(e.into()),
        }
    }

    /// The bytes of the warehouse file `key`, or `None` when there is none.
    pub async fn read(&self, key: &str) -> Result<Option<bytes::Bytes>> {
        match self.store.get(&ObjectPath::from(key)).await {
            Ok(result) => Ok(Some(result.bytes().await?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Writes the warehouse file `key` whole; a reader sees the old bytes or the new ones (a
    /// local store writes aside and renames, an object store's put is atomic).
    pub async fn write(&self, key: &str, bytes: impl Into<bytes::Bytes>) -> Result<()> {
        self.store.put(&ObjectPath::from(key), object_store::PutPayload::from_bytes(bytes.into())).await?;
        Ok(())
    }

    /// Removes the warehouse file `key`; one that is not there is no error.
    pub async fn delete(&self, key: &str) -> Result<()> {
        match self.store.delete(&ObjectPath::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// The config file `file` of `config/`.
    pub async fn config_file(&self, file: &str) -> Result<ConfigFile> {
        let key = config_key(file);
        let name = self.describe(&key);
        let text = match self.read(&key).await? {
            Some(bytes) => Some(String::from_utf8(bytes.to_vec()).map_err(|_| ConfigError::Io {
                path: PathBuf::from(&name),
                source: std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8 text"),
            })?),
            None => None,
        };
        Ok(ConfigFile { name, text })
    }

    /// Creates the tables and the example configuration that are missing; leaves what exists.
    pub async fn init(&self) -> Result<InitReport> {
        let mut report = InitReport { warehouse: self.to_string(), ..Default::default() };
        for (name, arrow_schema, partition) in schema::managed_tables() {
            if self.has_table(name).await? {
                // Check, do not trust: an existing table must have the schema we expect.
                self.open_table(name).await?;
                report.tables_existing.push(name.to_string());
                continue;
            }
            self.create_table(name, &arrow_schema, partition).await?;
            report.tables_created.push(name.to_string());
        }
        for (file, text) in CONFIG_TEMPLATES {
            let key = ObjectPath::from(config_key(file));
            // create, never overwrite: a file the user edited stays as it is
            let put = object_store::PutOptions::from(object_store::PutMode::Create);
            match self.store.put_opts(&key, object_store::PutPayload::from_static(text.as_bytes()), put).await {
                Ok(_) => report.config_files_written.push(file.to_string()),
                Err(object_store::Error::AlreadyExists { .. }) => report.config_files_existing.push(file.to_string()),
                Err(e) => return Err(e.into()),
            }
        }
        Ok(report)
    }

    /// Creates the Delta table `name` with `schema`, partitioned by `partition`.
    pub async fn create_table(
        &self,
        name: &str,
        schema: &arrow::datatypes::Schema,
        partition: &str,
    ) -> Result<DeltaTable> {
        if let Some(root) = &self.local_root {
            std::fs::create_dir_all(root.join(name))?; // delta-rs opens a local table's directory
        }
        let kernel_schema: StructType = schema.try_into_kernel()?;
        Ok(DeltaTableBuilder::from_url(self.table_url(name)?)?
            .build()?
            .create()
            .with_table_name(name)
            .with_columns(kernel_schema.fields().cloned())
            .with_partition_columns([partition])
            .with_comment(format!("tokenledger {name} table; contract in schemas/{name}.json"))
            .with_configuration_property(
                deltalake::TableProperty::CheckpointInterval,
                Some(CHECKPOINT_INTERVAL.to_string()),
            )
            .await?)
    }

    /// Opens the table `name` at its latest version and checks its schema against the code's.
    pub async fn open_table(&self, name: &str) -> Result<DeltaTable> {
        if !self.has_table(name).await? {
            return Err(Error::NoTable { table: name.to_string(), warehouse: self.to_string() });
        }
        let mut table = self.open_latest(name).await?;
        let expected = schema::managed_tables().into_iter().find(|(n, _, _)| *n == name).map(|(_, s, _)| s);
        if let Some(expected) = expected {
            table = self.add_new_columns(table, &expected).await?;
            self.check_schema(&table, name, &expected)?;
        }
        // the tables commands create on first use gain the columns added since, too (bill_lines'
        // usage_quantity, usage_unit, endpoint_name); their schema is not checked here
        let on_demand = schema::on_demand_tables().into_iter().find(|(n, _, _)| *n == name).map(|(_, s, _)| s);
        if let Some(expected) = on_demand {
            table = self.add_new_columns(table, &expected).await?;
        }
        Ok(table)
    }

    /// Opens the table `name` at its latest version, with [`CHECKPOINT_INTERVAL`]: a table an
    /// earlier version created gets it now, in a commit that changes no row. Every command that
    /// writes a table opens it here (through [`Self::open_table`], or the rollup's usage
    /// tables, whose columns it checks against its own query).
    pub async fn open_latest(&self, name: &str) -> Result<DeltaTable> {
        Ok(set_checkpoint_interval(deltalake::open_table(self.table_url(name)?).await?).await)
    }

    /// A table written by an earlier version lacks the nullable columns added to its contract
    /// since (they are only ever appended): adds them, so that old rows read them as null.
    /// Anything else that differs is left for [`Warehouse::check_schema`] to refuse.
    async fn add_new_columns(&self, table: DeltaTable, expected: &arrow::datatypes::Schema) -> Result<DeltaTable> {
        let actual = table.snapshot()?.snapshot().arrow_schema();
        let (old, new) = (actual.fields(), expected.fields());
        let is_prefix = old.len() < new.len()
            && old.iter().zip(new.iter()).all(|(a, e)| {
                a.name() == e.name() && schema::contract_type(a.data_type()) == schema::contract_type(e.data_type())
            });
        if !is_prefix || !new[old.len()..].iter().all(|f| f.is_nullable()) {
            return Ok(table);
        }
        let added = arrow::datatypes::Schema::new(new[old.len()..].to_vec());
        let added: StructType = (&added).try_into_kernel()?;
        let names: Vec<&str> = new[old.len()..].iter().map(|f| f.name().as_str()).collect();
        tracing::info!(table = %table.table_url(), columns = ?names, "adding the columns of this version's contract");
        let fields: Vec<_> = added.fields().cloned().collect();
        Ok(table.add_columns().with_fields(fields).await?)
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
        // the usage tables hold nothing that inference does not: rebuilding them loses nothing
        let derived = if name.starts_with("usage_") {
            " The usage tables are derived from inference: delete usage_hourly and usage_daily (their \
             folders or prefixes) and run `tokenledger rollup --full` to rebuild them with this version."
        } else {
            ""
        };
        Err(Error::Usage(format!(
            "table {} does not have the schema this version of tokenledger expects \
             (see schemas/{name}.json); was it created by another version?{derived}",
            self.describe(name)
        )))
    }
}

/// Versions between two checkpoints of a table tokenledger creates (Delta's
/// `delta.checkpointInterval`; delta-rs writes one at versions 9, 19, ...). A command that
/// opens a table replays the commits since its last checkpoint, and a scheduled run commits
/// to each table every cycle: with delta-rs' default of 100, a 1M-request warehouse 45
/// rollups old took 1.30 s a rollup (0.27 s of it opening the tables) and 0.09 s a
/// chargeback, against 1.07 s (0.10 s) and 0.04 s with 10, Spark's default. A table created
/// before gets it when a command opens it to write ([`Warehouse::open_latest`]).
pub const CHECKPOINT_INTERVAL: u32 = 10;

/// `table` with [`CHECKPOINT_INTERVAL`]: a table created by an earlier version of tokenledger
/// (delta-rs' default of 100 applies to it) gets it in a commit of its own, which changes no
/// row and which the readers of the log skip ([`OPERATION_KEY`]). If that commit fails
/// (another command setting it at the same moment, a store this command may only read), the
/// table stays as it is (logged at debug level): the interval is a matter of speed, not of
/// what the table holds.
async fn set_checkpoint_interval(table: DeltaTable) -> DeltaTable {
    let key = deltalake::TableProperty::CheckpointInterval.as_ref();
    let has_interval = table.snapshot().is_ok_and(|s| s.metadata().configuration().contains_key(key));
    if has_interval {
        return table;
    }
    let url = table.table_url().to_string();
    let mut metadata = serde_json::Map::new();
    metadata.insert(OPERATION_KEY.into(), "set_checkpoint_interval".into());
    let set = table
        .clone()
        .set_tbl_properties()
        .with_properties(std::collections::HashMap::from([(key.to_string(), CHECKPOINT_INTERVAL.to_string())]))
        .with_commit_properties(CommitProperties::default().with_metadata(metadata))
        .await;
    match set {
        Ok(set) => {
            tracing::info!(table = %url, "the table writes a checkpoint every {CHECKPOINT_INTERVAL} versions from now on");
            set
        }
        Err(e) => {
            // a reader with read-only access to the store would see this on every command
            tracing::debug!(table = %url, error = %e, "could not set the table's checkpoint interval; it keeps delta-rs' default of 100");
            table
        }
    }
}

/// The commit metadata key that marks a commit which changes no row (compaction and payload
/// retention rewrite files; an older table's checkpoint interval is set when it is opened):
/// readers of the log, such as the incremental rollup, skip such commits.
pub const OPERATION_KEY: &str = "tokenledger.operation";

/// Parquet settings for the tables: zstd(1) is several times faster to write than the
/// default level and compresses gateway logs almost as well. Ids and payloads are unique per
/// row: a dictionary would only be built and thrown away, and min/max statistics of random
/// ids or free text prune nothing but cost a comparison per value.
pub fn writer_properties() -> parquet::file::properties::WriterProperties {
    use parquet::file::properties::EnabledStatistics;
    use parquet::schema::types::ColumnPath;
    let mut builder = parquet::file::properties::WriterProperties::builder()
        .set_compression(parquet::basic::Compression::ZSTD(
            parquet::basic::ZstdLevel::try_new(1).expect("1 is a valid zstd level"),
        ))
        .set_max_row_group_row_count(Some(crate::engine::delta_write::ROW_GROUP_ROWS));
    for column in ["request_id", "client_request_id", "request", "response", "raw", "record_fingerprint"] {
        builder = builder
            .set_column_dictionary_enabled(ColumnPath::from(column), false)
            .set_column_statistics_enabled(ColumnPath::from(column), EnabledStatistics::None);
    }
    for column in crate::engine::delta_write::NAME_COLUMNS {
        builder = builder.set_column_statistics_enabled(ColumnPath::from(column), EnabledStatistics::None);
    }
    // unique (or nearly) per row too, but their statistics prune reads by time and line; they
    // grow almost row by row, so their deltas take a few bits each and leave zstd little to do
    for column in ["request_time", "source_line", "line_number"] {
        builder = builder
            .set_column_dictionary_enabled(ColumnPath::from(column), false)
            .set_column_encoding(ColumnPath::from(column), parquet::basic::Encoding::DELTA_BINARY_PACKED);
    }
    // token counts and durations take too many values for a dictionary to pay: zstd packs the
    // prompt's count and the duration (over 100,000 values each in 1M generated requests)
    // plain into two thirds of the bytes, and the output and reasoning counts (some 8,000 values
    // and fewer) into 6 – 14 % fewer, with fewer instructions; cache reads, mostly none, 4 % more
    for column in
        ["input_tokens", "execution_duration_ms", "output_tokens", "cache_read_input_tokens", "reasoning_tokens"]
    {
        builder = builder.set_column_dictionary_enabled(ColumnPath::from(column), false);
    }
    // a hash: random bytes, which zstd would only search in vain
    builder = builder
        .set_column_compression(ColumnPath::from("record_fingerprint"), parquet::basic::Compression::UNCOMPRESSED);
    builder.build()
}

/// Whether `table` holds the application transaction `app_id`.
pub async fn has_transaction(table: &deltalake::DeltaTable, app_id: String) -> Result<bool> {
    Ok(table.snapshot()?.transaction_version(table.log_store().as_ref(), app_id).await?.is_some())
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
    let properties =
        CommitProperties::default().with_application_transactions(transactions).with_metadata(app_metadata);
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
    let column = snapshot
        .metadata()
        .partition_columns()
        .first()
        .cloned()
        .ok_or_else(|| Error::Internal("commit_replace_partitions on an unpartitioned table".into()))?;
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
    let operation =
        DeltaOperation::Write { mode, partition_by: (!partition_by.is_empty()).then_some(partition_by), predicate };
    let finalized = CommitBuilder::from(properties)
        .with_actions(actions)
        .build(Some(snapshot), table.log_store(), operation)
        .await?;
    let version = finalized.version();
    table.update_state().await?;
    Ok(version as i64)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[tokio::test]
    async fn an_older_bill_lines_table_gains_the_new_columns_when_opened() {
        let dir = tempfile::tempdir().unwrap();
        let warehouse = Warehouse::new(dir.path().to_str().unwrap()).unwrap();
        let current = schema::bill_lines_schema();
        // bill_lines as the first release wrote it: every column up to description
        let first_release: Vec<_> =
            current.fields().iter().take_while(|f| f.name() != "usage_quantity").map(|f| f.as_ref().clone()).collect();
        assert_eq!(first_release.len() + 3, current.fields().len());
        let old = arrow::datatypes::Schema::new(first_release);
        warehouse.create_table(schema::BILL_LINES, &old, schema::BILL_LINES_PARTITION).await.unwrap();

        let table = warehouse.open_table(schema::BILL_LINES).await.unwrap();
        let columns: Vec<String> =
            table.snapshot().unwrap().snapshot().arrow_schema().fields().iter().map(|f| f.name().clone()).collect();
        let expected: Vec<String> = current.fields().iter().map(|f| f.name().clone()).collect();
        assert_eq!(columns, expected);
        warehouse.check_schema(&table, schema::BILL_LINES, &Arc::unwrap_or_clone(current)).unwrap();
        // opened again: nothing more to add, the table stays at its version
        let version = table.version();
        let again = warehouse.open_table(schema::BILL_LINES).await.unwrap();
        assert_eq!(again.version(), version);
    }

    #[tokio::test]
    async fn a_table_created_without_the_checkpoint_interval_gets_it_when_opened() {
        let dir = tempfile::tempdir().unwrap();
        let warehouse = Warehouse::new(dir.path().to_str().unwrap()).unwrap();
        let interval =
            |t: &DeltaTable| t.snapshot().unwrap().metadata().configuration().get("delta.checkpointInterval").cloned();
        // bill_lines as a version before the interval made it: delta-rs' defaults
        std::fs::create_dir_all(dir.path().join(schema::BILL_LINES)).unwrap();
        let kernel_schema: StructType = schema::bill_lines_schema().as_ref().try_into_kernel().unwrap();
        let old = DeltaTableBuilder::from_url(warehouse.table_url(schema::BILL_LINES).unwrap())
            .unwrap()
            .build()
            .unwrap()
            .create()
            .with_columns(kernel_schema.fields().cloned())
            .with_partition_columns([schema::BILL_LINES_PARTITION])
            .await
            .unwrap();
        assert_eq!((interval(&old), old.version()), (None, Some(0)));

        let opened = warehouse.open_table(schema::BILL_LINES).await.unwrap();
        assert_eq!((interval(&opened).as_deref(), opened.version()), (Some("10"), Some(1)));
        // opened again: it has it, nothing is committed
        let again = warehouse.open_table(schema::BILL_LINES).await.unwrap();
        assert_eq!(again.version(), Some(1));
        // a table tokenledger creates has it from its first version
        let created =
            warehouse.create_table("t", &schema::bill_lines_schema(), schema::BILL_LINES_PARTITION).await.unwrap();
        assert_eq!(interval(&created).as_deref(), Some("10"));
    }
}
