//! A Delta table's snapshot as one Parquet scan, for the cluster.
//!
//! The table is the list of files its version holds, each with its size, its rows and its
//! partition values (from the Delta log, never from a directory listing, so files a failed or
//! concurrent writer left are not read). Its scan is one `DataSourceExec` whose file groups
//! spread the files over the session's `target_partitions` by size, with the partition
//! values as columns: a stage reads the whole table in as many tasks as the cluster has
//! slots, whatever the number of dates. A filter on the partition columns drops files before
//! the scan is planned.
//!
//! A cluster's scheduler plans the scan, so the table travels in the logical plan:
//! [`LogicalCodec`](crate::engine::cluster) writes the file list, and the scheduler of
//! `tokenledger cluster` reads it back. The executors receive a plain Parquet scan.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray};
use arrow::datatypes::{Field, FieldRef, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::stats::Precision;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, DFSchema, ScalarValue, Statistics};
use datafusion::datasource::TableType;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingTableUrl, PartitionedFile};
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder};
use datafusion::datasource::table_schema::TableSchema;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::Column as PhysicalColumn;
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::{ExecutionPlan, Partitioning};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One data file of the snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotFile {
    /// The file's full URL (`file:///...`, `s3://bucket/...`).
    pub url: String,
    pub size: u64,
    /// The file's rows, from the Delta log's statistics (`None`: the log does not say).
    #[serde(default)]
    pub rows: Option<u64>,
    /// The file's value of each partition column, in [`SnapshotFiles::partition_columns`]'
    /// order, as the Delta log writes it (`None`: null).
    pub values: Vec<Option<String>>,
}

/// What a [`SnapshotTable`] is, apart from its schema: what travels to a cluster's scheduler.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotFiles {
    pub partition_columns: Vec<String>,
    pub files: Vec<SnapshotFile>,
    /// Each partition value's files in one group, and the scan declared partitioned by the
    /// partition columns, so that an aggregation grouped by them needs no exchange of rows
    /// (on a cluster: no shuffle). Only for a query that joins the table with nothing else
    /// partitioned by those columns: the groups are not a hash of the values, so such a join
    /// would pair the wrong groups.
    #[serde(default)]
    pub grouped_by_partition: bool,
}

/// A Delta table at one version, scanned as one Parquet scan of its files.
#[derive(Debug)]
pub struct SnapshotTable {
    /// The table's columns in the table's order.
    schema: SchemaRef,
    files: SnapshotFiles,
}

impl SnapshotTable {
    /// The files of `table` at its opened version.
    pub fn of(table: &deltalake::DeltaTable) -> Result<Self> {
        let snapshot = table.snapshot()?;
        let schema = snapshot.snapshot().arrow_schema();
        let partition_columns = snapshot.metadata().partition_columns().to_vec();
        let root = table.table_url().clone();
        let mut files = Vec::new();
        for file in snapshot.log_data().iter() {
            let url = root
                .join(file.object_store_path().as_ref())
                .map_err(|e| Error::Internal(format!("data file URL: {e}")))?;
            let values = file.partition_values_map();
            files.push(SnapshotFile {
                url: url.to_string(),
                size: u64::try_from(file.size()).unwrap_or(0),
                rows: file.num_records().and_then(|n| u64::try_from(n).ok()),
                values: partition_columns.iter().map(|c| values.get(c).cloned().flatten()).collect(),
            });
        }
        Self::new(schema, SnapshotFiles { partition_columns, files, grouped_by_partition: false })
    }

    /// The table of `files` with the columns of `schema` (what a scheduler reads back).
    pub fn new(schema: SchemaRef, files: SnapshotFiles) -> Result<Self> {
        for column in &files.partition_columns {
            schema.field_with_name(column)?;
        }
        if let Some(file) = files.files.iter().find(|f| f.values.len() != files.partition_columns.len()) {
            return Err(Error::Internal(format!(
                "snapshot file {} has {} partition values for {} partition columns",
                file.url,
                file.values.len(),
                files.partition_columns.len()
            )));
        }
        Ok(Self { schema, files })
    }

    /// The table whose scan keeps each partition value's files in one group and says so
    /// (see [`SnapshotFiles::grouped_by_partition`]).
    pub fn grouped_by_partition(mut self) -> Self {
        self.files.grouped_by_partition = !self.files.partition_columns.is_empty();
        self
    }

    pub fn files(&self) -> &SnapshotFiles {
        &self.files
    }

    fn is_partition_column(&self, name: &str) -> bool {
        self.files.partition_columns.iter().any(|c| c == name)
    }

    /// The partition columns as the scan produces them (after the files' columns).
    fn partition_fields(&self) -> Vec<FieldRef> {
        self.files
            .partition_columns
            .iter()
            .filter_map(|c| self.schema.field_with_name(c).ok())
            .map(|f| Arc::new(f.clone()))
            .collect()
    }

    /// Whether `filter` reads partition columns only (and some), so it can drop whole files.
    fn prunes_files(&self, filter: &Expr) -> bool {
        let columns = filter.column_refs();
        !columns.is_empty() && columns.iter().all(|c| self.is_partition_column(&c.name))
    }

    /// The indices of the files whose partition values pass every filter of `filters` that
    /// reads partition columns only.
    fn kept_files(&self, state: &dyn Session, filters: &[Expr]) -> datafusion::error::Result<Vec<usize>> {
        let mut kept: Vec<usize> = (0..self.files.files.len()).collect();
        let pruning: Vec<&Expr> = filters.iter().filter(|f| self.prunes_files(f)).collect();
        if pruning.is_empty() || kept.is_empty() {
            return Ok(kept);
        }
        // one row per file, its partition values as typed columns
        let fields = self.partition_fields();
        let columns = fields
            .iter()
            .enumerate()
            .map(|(i, field)| {
                let values = self
                    .files
                    .files
                    .iter()
                    .map(|f| partition_value(f.values[i].as_deref(), field))
                    .collect::<datafusion::error::Result<Vec<_>>>()?;
                ScalarValue::iter_to_array(values)
            })
            .collect::<datafusion::error::Result<Vec<ArrayRef>>>()?;
        let schema = Arc::new(Schema::new(fields));
        let batch = RecordBatch::try_new(schema.clone(), columns)?;
        let df_schema = DFSchema::try_from(schema.as_ref().clone())?;
        for filter in pruning {
            // the scan's filters name the table's columns with its name; the batch has none
            let filter = filter
                .clone()
                .transform(|e| match e {
                    Expr::Column(c) => Ok(Transformed::yes(Expr::Column(Column::new_unqualified(c.name)))),
                    other => Ok(Transformed::no(other)),
                })?
                .data;
            let passed =
                state.create_physical_expr(filter, &df_schema)?.evaluate(&batch)?.into_array(batch.num_rows())?;
            let passed = passed.as_any().downcast_ref::<BooleanArray>().ok_or_else(|| {
                datafusion::error::DataFusionError::Internal("a partition filter is not a boolean".into())
            })?;
            kept.retain(|&i| passed.is_valid(i) && passed.value(i));
        }
        Ok(kept)
    }
}

/// A partition value of the Delta log as a value of `field`'s type.
fn partition_value(value: Option<&str>, field: &Field) -> datafusion::error::Result<ScalarValue> {
    match value {
        Some(v) => ScalarValue::try_from_string(v.to_string(), field.data_type()),
        None => ScalarValue::try_from(field.data_type()),
    }
}

/// `files` (index, size) cut into at most `groups` groups of about equal bytes: the biggest
/// file goes to the lightest group first. Files keep their snapshot order within a group.
fn balanced_groups(files: &[(usize, u64)], groups: usize) -> Vec<Vec<usize>> {
    let groups = groups.clamp(1, files.len().max(1));
    let mut by_size: Vec<&(usize, u64)> = files.iter().collect();
    by_size.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut bins: Vec<(u64, Vec<usize>)> = vec![(0, Vec::new()); groups];
    for &&(index, size) in &by_size {
        let lightest = (0..bins.len()).min_by_key(|&b| (bins[b].0, b)).unwrap_or(0);
        bins[lightest].0 += size;
        bins[lightest].1.push(index);
    }
    bins.into_iter()
        .map(|(_, mut members)| {
            members.sort_unstable();
            members
        })
        .filter(|m| !m.is_empty())
        .collect()
}

#[async_trait]
impl TableProvider for SnapshotTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> datafusion::error::Result<Vec<TableProviderFilterPushDown>> {
        // the filter stays above the scan as well: the files it drops are a saving, not the answer
        Ok(filters
            .iter()
            .map(|f| {
                if self.prunes_files(f) {
                    TableProviderFilterPushDown::Inexact
                } else {
                    TableProviderFilterPushDown::Unsupported
                }
            })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        let kept = self.kept_files(state, filters)?;
        if kept.is_empty() {
            let schema = match projection {
                Some(p) => Arc::new(self.schema.project(p)?),
                None => self.schema.clone(),
            };
            return Ok(Arc::new(EmptyExec::new(schema)));
        }
        // the scan's columns: the files' own, then the partition columns
        let file_schema = Arc::new(Schema::new(
            self.schema.fields().iter().filter(|f| !self.is_partition_column(f.name())).cloned().collect::<Vec<_>>(),
        ));
        let partition_fields = self.partition_fields();
        let scan_order: Vec<&str> = file_schema
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .chain(partition_fields.iter().map(|f| f.name().as_str()))
            .collect();
        // the table's column i is the scan's column position(i)
        let position = |i: usize| -> datafusion::error::Result<usize> {
            let name = self.schema.field(i).name();
            scan_order.iter().position(|n| n == name).ok_or_else(|| {
                datafusion::error::DataFusionError::Internal(format!("column {name} is not in the scan"))
            })
        };
        let indices = match projection {
            Some(p) => p.iter().map(|&i| position(i)).collect::<datafusion::error::Result<Vec<_>>>()?,
            None => (0..self.schema.fields().len()).map(position).collect::<datafusion::error::Result<Vec<_>>>()?,
        };

        let first = ListingTableUrl::parse(&self.files.files[kept[0]].url)?;
        let store = first.object_store();
        let slots = state.config().target_partitions();
        let groups = if self.files.grouped_by_partition {
            // the partition values balanced over the groups, each with all its files
            let mut by_value: BTreeMap<&[Option<String>], (Vec<usize>, u64)> = BTreeMap::new();
            for &i in &kept {
                let file = &self.files.files[i];
                let (members, bytes) = by_value.entry(file.values.as_slice()).or_default();
                members.push(i);
                *bytes += file.size;
            }
            let values: Vec<(Vec<usize>, u64)> = by_value.into_values().collect();
            let sized: Vec<(usize, u64)> = values.iter().enumerate().map(|(v, (_, bytes))| (v, *bytes)).collect();
            balanced_groups(&sized, slots)
                .into_iter()
                .map(|group| group.into_iter().flat_map(|v| values[v].0.clone()).collect::<Vec<_>>())
                .collect::<Vec<_>>()
        } else {
            let sized: Vec<(usize, u64)> = kept.iter().map(|&i| (i, self.files.files[i].size)).collect();
            balanced_groups(&sized, slots)
        };
        let group_count = groups.len();
        let groups = groups
            .into_iter()
            .map(|members| {
                let files = members
                    .into_iter()
                    .map(|i| {
                        let file = &self.files.files[i];
                        let url = ListingTableUrl::parse(&file.url)?;
                        if url.object_store() != store {
                            return Err(datafusion::error::DataFusionError::Plan(format!(
                                "the table's files are in two stores: {} and {}",
                                store.as_str(),
                                url.object_store().as_str()
                            )));
                        }
                        let mut partitioned = PartitionedFile::new(url.prefix().to_string(), file.size);
                        partitioned.partition_values = partition_fields
                            .iter()
                            .zip(&file.values)
                            .map(|(field, value)| partition_value(value.as_deref(), field))
                            .collect::<datafusion::error::Result<_>>()?;
                        Ok(partitioned)
                    })
                    .collect::<datafusion::error::Result<Vec<_>>>()?;
                Ok(FileGroup::new(files))
            })
            .collect::<datafusion::error::Result<Vec<_>>>()?;

        let format = ParquetFormat::default().with_options(state.table_options().parquet.clone());
        // declared as hash partitioning, as DataFusion's listing tables do for files grouped by
        // their partition values: what an aggregation by those columns asks of its input
        let partitioning = self.files.grouped_by_partition.then(|| {
            let columns = partition_fields
                .iter()
                .filter_map(|f| scan_order.iter().position(|n| n == f.name()).map(|i| (f.name(), i)))
                .map(|(name, i)| Arc::new(PhysicalColumn::new(name, i)) as Arc<dyn PhysicalExpr>)
                .collect();
            Partitioning::Hash(columns, group_count)
        });
        // the rows of the files, as the Delta log counts them: what lets the planner see that
        // the config tables a query joins the table with are the small side (and build its
        // hash table from them, on a cluster without a shuffle of the table's rows)
        let table_schema = TableSchema::builder(file_schema).with_table_partition_cols(partition_fields).build();
        let mut statistics = Statistics::new_unknown(table_schema.table_schema());
        if let Some(rows) = kept.iter().map(|&i| self.files.files[i].rows).sum::<Option<u64>>() {
            statistics.num_rows = Precision::Inexact(usize::try_from(rows).unwrap_or(usize::MAX));
        }
        let source = format.file_source(table_schema);
        let config = FileScanConfigBuilder::new(store, source)
            .with_statistics(statistics)
            .with_file_groups(groups)
            .with_output_partitioning(partitioning)
            .with_projection_indices(Some(indices))?
            .with_limit(limit)
            .build();
        format.create_physical_plan(state, config).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Date32Array, Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use arrow::record_batch::RecordBatch;
    use datafusion::catalog::TableProvider;
    use datafusion::common::stats::Precision;
    use datafusion::prelude::{SessionConfig, SessionContext};
    use deltalake::writer::{DeltaWriter, RecordBatchWriter};

    use super::{SnapshotTable, balanced_groups};
    use crate::warehouse::Warehouse;

    /// A table `t` (date, name, n) partitioned by date: 2025-01-01 written twice (two
    /// files), 2025-01-02 and 2025-01-03 once, and a stray Parquet file in 2025-01-02's
    /// directory that no commit holds (a writer that failed before its commit).
    async fn dated_table(dir: &std::path::Path) -> deltalake::DeltaTable {
        let warehouse = Warehouse::new(dir.to_str().unwrap()).unwrap();
        let schema = Arc::new(Schema::new(vec![
            Field::new("date", DataType::Date32, true),
            Field::new("name", DataType::Utf8, true),
            Field::new("n", DataType::Int64, true),
        ]));
        let mut table = warehouse.create_table("t", &schema, "date").await.unwrap();
        // days since 1970-01-01: 2025-01-01 is 20089
        for (days, names, ns) in
            [(vec![20089, 20090, 20091], vec!["a", "b", "c"], vec![1, 2, 3]), (vec![20089], vec!["d"], vec![4])]
        {
            let batch = RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(Date32Array::from(days)),
                    Arc::new(StringArray::from(names)),
                    Arc::new(Int64Array::from(ns)),
                ],
            )
            .unwrap();
            let mut writer = RecordBatchWriter::for_table(&table).unwrap();
            writer.write(batch).await.unwrap();
            writer.flush_and_commit(&mut table).await.unwrap();
        }
        let day2 = dir.join("t/date=2025-01-02");
        let file = std::fs::read_dir(&day2).unwrap().next().unwrap().unwrap().path();
        std::fs::copy(file, day2.join("stray.parquet")).unwrap();
        table
    }

    async fn rows(ctx: &SessionContext, sql: &str) -> Vec<String> {
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        let text = arrow::util::pretty::pretty_format_batches(&batches).unwrap().to_string();
        text.lines().map(str::to_string).collect()
    }

    async fn scan_plan(ctx: &SessionContext, sql: &str) -> String {
        let plan = ctx.sql(sql).await.unwrap().create_physical_plan().await.unwrap();
        datafusion::physical_plan::displayable(plan.as_ref()).indent(true).to_string()
    }

    #[tokio::test]
    async fn a_snapshot_is_one_scan_of_its_files_with_the_dates_as_a_column() {
        let dir = tempfile::tempdir().unwrap();
        let table = dated_table(dir.path()).await;
        let snapshot = SnapshotTable::of(&table).unwrap();
        assert_eq!(snapshot.files().files.len(), 4, "{:?}", snapshot.files());
        let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(2));
        ctx.register_table("t", Arc::new(snapshot)).unwrap();

        // the table's column order, the stray file unread
        let all = rows(&ctx, "SELECT * FROM t ORDER BY n").await;
        assert_eq!(all[1], "| date       | name | n |", "{all:#?}");
        assert_eq!(
            &all[3..7],
            [
                "| 2025-01-01 | a    | 1 |",
                "| 2025-01-02 | b    | 2 |",
                "| 2025-01-03 | c    | 3 |",
                "| 2025-01-01 | d    | 4 |"
            ]
        );
        assert_eq!(all.len(), 8, "{all:#?}");

        // one scan node over the three dates, its four files in two groups (the slots)
        let plan = scan_plan(&ctx, "SELECT name, date FROM t").await;
        assert_eq!(plan.matches("DataSourceExec").count(), 1, "{plan}");
        assert!(plan.contains("file_groups={2 groups"), "{plan}");
        assert!(!plan.contains("UnionExec"), "{plan}");

        // a filter on the date drops the other dates' files before the scan
        let plan = scan_plan(&ctx, "SELECT name FROM t WHERE date = DATE '2025-01-01'").await;
        assert!(plan.contains("date=2025-01-01") && !plan.contains("date=2025-01-02"), "{plan}");
        let day1 = rows(&ctx, "SELECT name FROM t WHERE date IN (DATE '2025-01-01') ORDER BY name").await;
        assert_eq!(&day1[3..5], ["| a    |", "| d    |"]);
        assert_eq!(day1.len(), 6);
        let none = ctx.sql("SELECT * FROM t WHERE date > DATE '2025-02-01'").await.unwrap().collect().await.unwrap();
        assert_eq!(none.iter().map(|b| b.num_rows()).sum::<usize>(), 0);
        // a filter on another column and the date together
        let mixed = rows(&ctx, "SELECT count(*) AS c FROM t WHERE date >= DATE '2025-01-02' AND n > 2").await;
        assert_eq!(mixed[3], "| 1 |");
    }

    #[tokio::test]
    async fn a_snapshot_grouped_by_date_keeps_each_date_in_one_task_and_aggregates_without_exchange() {
        let dir = tempfile::tempdir().unwrap();
        let table = dated_table(dir.path()).await;
        let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(2));
        ctx.register_table("t", Arc::new(SnapshotTable::of(&table).unwrap().grouped_by_partition())).unwrap();
        let sql = "SELECT date, count(*) AS c, sum(n) AS n FROM t GROUP BY date ORDER BY date";
        let plan = scan_plan(&ctx, sql).await;
        // the two files of 2025-01-01 are in one group; the aggregation needs no repartition
        assert!(plan.contains("file_groups={2 groups"), "{plan}");
        assert!(!plan.contains("RepartitionExec"), "{plan}");
        let groups = plan.split("file_groups={2 groups: [").nth(1).unwrap().split("]]").next().unwrap().to_string();
        let with_day1: Vec<&str> = groups.split("], [").filter(|g| g.contains("date=2025-01-01")).collect();
        assert_eq!(with_day1.len(), 1, "{groups}");
        assert_eq!(with_day1[0].matches("date=2025-01-01").count(), 2, "{groups}");
        let got = rows(&ctx, sql).await;
        assert_eq!(
            &got[3..6],
            ["| 2025-01-01 | 2 | 5 |", "| 2025-01-02 | 1 | 2 |", "| 2025-01-03 | 1 | 3 |"],
            "{got:#?}"
        );
        // without the grouping the same query exchanges rows between the partitions
        let plain = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(2));
        plain.register_table("t", Arc::new(SnapshotTable::of(&table).unwrap())).unwrap();
        assert!(scan_plan(&plain, sql).await.contains("RepartitionExec"));
        assert_eq!(rows(&plain, sql).await, got);
    }

    #[tokio::test]
    async fn a_snapshot_says_its_rows_so_a_small_table_it_joins_is_the_one_collected() {
        let dir = tempfile::tempdir().unwrap();
        let table = dated_table(dir.path()).await;
        let snapshot = SnapshotTable::of(&table).unwrap();
        // the Delta log's counts: 3 rows, then 1 (the stray file is in no commit)
        let counts: Vec<Option<u64>> = snapshot.files().files.iter().map(|f| f.rows).collect();
        assert_eq!(counts.iter().flatten().sum::<u64>(), 4, "{counts:?}");
        assert!(counts.iter().all(Option::is_some), "{counts:?}");
        // the scan says them: what Ballista's planner sizes a join's sides by (without them it
        // shuffled a rollup's sums by served entity to a stage of their own to meet the price
        // book, instead of pricing them where they were computed)
        let plan = snapshot.scan(&SessionContext::new().state(), None, &[], None).await.unwrap();
        let statistics = datafusion::physical_plan::statistics::StatisticsContext::new()
            .compute(plan.as_ref(), &datafusion::physical_plan::statistics::StatisticsArgs::new())
            .unwrap();
        assert_eq!(statistics.num_rows, Precision::Inexact(4), "{statistics:?}");
        // the rollup's shape: sums by date, then a left join with a small config table
        let sql = "SELECT s.date, s.name, s.n, p.price FROM \
                   (SELECT date, name, sum(n) AS n FROM t GROUP BY date, name) s \
                   LEFT JOIN (VALUES ('a', 10), ('d', 40)) AS p(name, price) ON s.name = p.name \
                   ORDER BY s.date, s.name";
        // the session of a rollup's lane on a cluster (`Engine::register_for_aggregation`)
        let lane = || {
            let mut config = SessionConfig::new().with_target_partitions(2);
            config.options_mut().optimizer.subset_repartition_threshold = 1;
            SessionContext::new_with_config(config)
        };
        let ctx = lane();
        ctx.register_table("t", Arc::new(snapshot.grouped_by_partition())).unwrap();
        let plan = scan_plan(&ctx, sql).await;
        // the config table is the hash join's build side, and the sums stay where they were
        // computed: no exchange of rows (on a cluster, no shuffle stage)
        assert!(plan.contains("HashJoinExec: mode=CollectLeft, join_type=Right"), "{plan}");
        assert!(!plan.contains("RepartitionExec"), "{plan}");
        let got = rows(&ctx, sql).await;
        assert_eq!(
            &got[3..7],
            [
                "| 2025-01-01 | a    | 1 | 10    |",
                "| 2025-01-01 | d    | 4 | 40    |",
                "| 2025-01-02 | b    | 2 |       |",
                "| 2025-01-03 | c    | 3 |       |"
            ],
            "{got:#?}"
        );
    }

    /// The plan a command sends the scheduler carries the file list, and the scheduler's
    /// codec reads it back into the same scan.
    #[cfg(feature = "ballista")]
    #[tokio::test]
    async fn a_snapshot_travels_in_a_plan_and_scans_the_same_files() {
        use datafusion_proto::bytes::{
            logical_plan_from_bytes_with_extension_codec, logical_plan_to_bytes_with_extension_codec,
        };

        use crate::engine::cluster::LogicalCodec;

        let dir = tempfile::tempdir().unwrap();
        let table = dated_table(dir.path()).await;
        let command = SessionContext::new();
        command.register_table("t", Arc::new(SnapshotTable::of(&table).unwrap())).unwrap();
        let sql = "SELECT date, sum(n) AS n FROM t WHERE date <= DATE '2025-01-02' GROUP BY date ORDER BY date";
        let plan = command.sql(sql).await.unwrap().into_optimized_plan().unwrap();
        let codec = LogicalCodec::default();
        let bytes = logical_plan_to_bytes_with_extension_codec(&plan, &codec).unwrap();

        // the scheduler: a session that has no table t
        let scheduler = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(3));
        let decoded = logical_plan_from_bytes_with_extension_codec(&bytes, &scheduler.task_ctx(), &codec).unwrap();
        let batches = scheduler.execute_logical_plan(decoded).await.unwrap().collect().await.unwrap();
        let text = arrow::util::pretty::pretty_format_batches(&batches).unwrap().to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(&lines[3..5], ["| 2025-01-01 | 5 |", "| 2025-01-02 | 2 |"], "{text}");
        assert_eq!(lines.len(), 6, "{text}");
        // another table's plan goes through Ballista's own codec untouched
        let other = command.sql("SELECT 1 AS one").await.unwrap().into_optimized_plan().unwrap();
        let bytes = logical_plan_to_bytes_with_extension_codec(&other, &codec).unwrap();
        assert!(logical_plan_from_bytes_with_extension_codec(&bytes, &scheduler.task_ctx(), &codec).is_ok());
    }

    #[test]
    fn files_are_spread_over_the_groups_by_size() {
        // 90 dates of one file each on 4 slots: 4 groups, not 90
        let dates: Vec<(usize, u64)> = (0..90).map(|i| (i, 1_000 + i as u64)).collect();
        let groups = balanced_groups(&dates, 4);
        assert_eq!(groups.len(), 4);
        let mut all: Vec<usize> = groups.iter().flatten().copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..90).collect::<Vec<_>>(), "every file once");
        let bytes: Vec<u64> = groups.iter().map(|g| g.iter().map(|&i| dates[i].1).sum()).collect();
        let (min, max) = (bytes.iter().min().unwrap(), bytes.iter().max().unwrap());
        assert!(max - min <= 1_089, "{bytes:?}");
        assert!(groups.iter().all(|g| g.windows(2).all(|w| w[0] < w[1])), "snapshot order within a group");
        // fewer files than slots: a group per file; a big file alone
        assert_eq!(balanced_groups(&[(0, 5), (1, 7)], 16), vec![vec![1], vec![0]]);
        assert_eq!(balanced_groups(&[(0, 100), (1, 10), (2, 10), (3, 10)], 2), vec![vec![0], vec![1, 2, 3]]);
        assert!(balanced_groups(&[], 4).is_empty());
    }
}
