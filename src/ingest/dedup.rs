//! Exactly-once bookkeeping for records: a set of the request ids already in the table or
//! already seen in this run, each with its content fingerprint.
//!
//! The table's ids are loaded lazily, one date partition at a time, for the dates the
//! incoming records fall on (and the day either side, for records near midnight). So an
//! hourly ingest into a warehouse of a billion requests reads and holds only the ids of the
//! few days it touches, not the whole table. The price: a request id that reappears with a
//! `request_time` more than a day away from its first version is not recognised against the
//! table (within one run it always is).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

use arrow::array::{Array, AsArray};
use arrow::datatypes::Int64Type;
use deltalake::logstore::ObjectStoreRef;
use futures::TryStreamExt;
use object_store::path::Path as ObjectPath;
use parquet::arrow::ParquetRecordBatchStreamBuilder;
use parquet::arrow::ProjectionMask;
// deprecated in parquet 59 in favour of a hand-written AsyncFileReader; it is still the
// library's own, tested reader of ranges from an object store
#[allow(deprecated)]
use parquet::arrow::async_reader::ParquetObjectReader;

use super::record::id_hash;
use crate::error::{Error, Result};

/// The keys are already xxh3 hashes: hashing them again would only cost time.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, _bytes: &[u8]) {
        unreachable!("only u64 keys are hashed")
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// What the set says about a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// A request id not seen before: write the row.
    New,
    /// Seen before with the same content: a re-delivery, skip it.
    Duplicate,
    /// Seen before with different content: quarantine it.
    Conflict,
}

/// Request-id hash -> content fingerprint. 16 bytes a request (plus the table's slack), so
/// 10M requests take about 300 MB: DuckDB's `DISTINCT ON` keeps whole rows instead.
#[derive(Default)]
pub struct SeenSet {
    map: HashMap<u64, u64, BuildHasherDefault<PassThrough>>,
}

impl SeenSet {
    pub fn with_capacity(n: usize) -> Self {
        Self { map: HashMap::with_capacity_and_hasher(n, Default::default()) }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn reserve(&mut self, additional: usize) {
        self.map.reserve(additional);
    }

    /// Records `id_hash` with `fingerprint` unless it is known, and says which case it was.
    pub fn check_and_insert(&mut self, id_hash: u64, fingerprint: u64) -> Seen {
        match self.map.entry(id_hash) {
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(fingerprint);
                Seen::New
            }
            std::collections::hash_map::Entry::Occupied(o) if *o.get() == fingerprint => Seen::Duplicate,
            std::collections::hash_map::Entry::Occupied(_) => Seen::Conflict,
        }
    }

    /// Adds the request ids of one Parquet data file of the `inference` table (`path` in
    /// the table's `store`); only the two columns' pages are fetched.
    #[allow(deprecated)]
    pub async fn load_parquet_file(&mut self, store: &ObjectStoreRef, path: &ObjectPath) -> Result<u64> {
        let reader = ParquetObjectReader::new(store.clone(), path.clone());
        let builder = ParquetRecordBatchStreamBuilder::new(reader).await?;
        let schema = builder.parquet_schema();
        let mask = ProjectionMask::columns(schema, ["request_id", "record_fingerprint"]);
        let mut stream = builder.with_projection(mask).with_batch_size(65_536).build()?;
        let mut rows = 0;
        while let Some(batch) = stream.try_next().await? {
            let ids = batch.column_by_name("request_id").map(|c| c.as_string::<i32>());
            let fps = batch.column_by_name("record_fingerprint").map(|c| c.as_primitive::<Int64Type>());
            let (Some(ids), Some(fps)) = (ids, fps) else {
                return Err(Error::InputFormat {
                    path: path.as_ref().into(),
                    message: "inference data file lacks request_id or record_fingerprint".into(),
                });
            };
            for i in 0..batch.num_rows() {
                if ids.is_valid(i) {
                    self.map.insert(id_hash(ids.value(i)), fps.value(i) as u64);
                }
            }
            rows += batch.num_rows() as u64;
        }
        Ok(rows)
    }
}

/// The run's [`SeenSet`] plus the table's data files by date, loaded on demand.
pub struct Dedup {
    seen: SeenSet,
    /// The `inference` table's store, and its data files by date.
    store: ObjectStoreRef,
    files_by_date: BTreeMap<i32, Vec<ObjectPath>>,
    loaded: HashSet<i32>,
    /// Rows of the table read so far (for logs and tests).
    pub table_rows_loaded: u64,
}

impl Dedup {
    /// `files` are the table's active data files; their partition (date) is read from the
    /// hive-style path (`request_date=YYYY-MM-DD/`). Files without one are loaded at once.
    pub async fn new(store: ObjectStoreRef, files: Vec<ObjectPath>, capacity: usize) -> Result<Self> {
        let mut dedup = Self {
            seen: SeenSet::with_capacity(capacity),
            store,
            files_by_date: BTreeMap::new(),
            loaded: HashSet::new(),
            table_rows_loaded: 0,
        };
        for file in files {
            match partition_date(file.as_ref()) {
                Some(date) => dedup.files_by_date.entry(date).or_default().push(file),
                None => dedup.table_rows_loaded += dedup.seen.load_parquet_file(&dedup.store, &file).await?,
            }
        }
        Ok(dedup)
    }

    /// Makes sure the table's ids of `date` and the days either side are in the set.
    pub async fn prepare(&mut self, date: i32) -> Result<()> {
        for d in date - 1..=date + 1 {
            if self.loaded.insert(d)
                && let Some(files) = self.files_by_date.get(&d)
            {
                for f in files {
                    self.table_rows_loaded += self.seen.load_parquet_file(&self.store, f).await?;
                }
            }
        }
        Ok(())
    }

    pub fn check_and_insert(&mut self, id_hash: u64, fingerprint: u64) -> Seen {
        self.seen.check_and_insert(id_hash, fingerprint)
    }
}

/// Days since the epoch of the `request_date=YYYY-MM-DD` directory in a data file's path.
fn partition_date(text: &str) -> Option<i32> {
    let start = text.find("request_date=")? + "request_date=".len();
    let date = chrono::NaiveDate::parse_from_str(text.get(start..start + 10)?, "%Y-%m-%d").ok()?;
    Some((date - chrono::NaiveDate::from_ymd_opt(1970, 1, 1)?).num_days() as i32)
}

#[cfg(test)]
mod tests {
    #[test]
    fn partition_dates_come_from_paths() {
        assert_eq!(super::partition_date("request_date=1970-01-03/part-1.parquet"), Some(2));
        assert_eq!(super::partition_date("x.parquet"), None);
    }

    use super::*;

    #[test]
    fn new_duplicate_conflict() {
        let mut s = SeenSet::default();
        assert_eq!(s.check_and_insert(1, 10), Seen::New);
        assert_eq!(s.check_and_insert(1, 10), Seen::Duplicate);
        assert_eq!(s.check_and_insert(1, 11), Seen::Conflict);
        assert_eq!(s.check_and_insert(2, 10), Seen::New);
        assert_eq!(s.len(), 2);
    }
}
