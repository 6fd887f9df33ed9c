//! A batch's rows handed to a Delta writer partition by partition, without the copy of every
//! row that the writer's own split makes.
//!
//! `RecordBatchWriter::write` sorts each batch by its partition values and copies every row
//! into a batch per partition. The batches of the warehouse's writers come in partition
//! order nearly always (an ingest chunk is a stretch of a log in time order; a rollup's sums
//! leave their aggregation in the order of their first request, date by date), so their
//! rows of one partition lie in long runs: each run goes to its partition as a slice of the
//! batch, which copies nothing. Only a batch of short runs (partitions interleaved row by
//! row) has each partition's rows copied out, once.

use std::ops::Range;

use arrow::array::{ArrayRef, RecordBatch, UInt32Array, make_comparator};
use arrow::compute::{SortOptions, take_record_batch};
use deltalake::kernel::scalars::ScalarExt;
use deltalake::writer::{RecordBatchWriter, WriteMode};
use deltalake::{DeltaResult, DeltaTableError};

/// Rows a run of one partition must average, at least, for the runs to be written as slices
/// of the batch rather than copied out partition by partition. A slice costs a call into the
/// Delta writer (about 50,000 instructions: projecting and checking the batch, finding the
/// file), a copied row of an ingest about 1,700, so copies pay below some 30 rows a run. At
/// 0.5 % duplicates (an ingest's runs of about 200 rows, before the parse workers kept a
/// chunk's repeated lines out of its batch) slices took 1.4 % fewer of the ingest's
/// instructions than copies.
const MIN_RUN_ROWS: usize = 64;

/// Writes the rows of `batch` that `keep` marks (all rows when `None`) to `writer`, whose
/// table is partitioned by `partition_column` alone (any other table: the writer's own
/// split). Each partition receives its rows in the batch's order.
pub async fn write_by_partition(
    writer: &mut RecordBatchWriter,
    batch: &RecordBatch,
    partition_column: &str,
    keep: Option<&[bool]>,
) -> DeltaResult<()> {
    let Some(values) = batch.column_by_name(partition_column).cloned() else {
        return Err(DeltaTableError::generic(format!("the batch has no partition column {partition_column}")));
    };
    let runs = kept_runs(&values, keep)?;
    let rows: usize = runs.iter().map(ExactSizeIterator::len).sum();
    if runs.len() <= 1 || rows >= runs.len() * MIN_RUN_ROWS {
        for run in runs {
            let first = run.start;
            write_one(writer, batch.slice(run.start, run.len()), partition_column, &values, first).await?;
        }
        return Ok(());
    }
    let same = make_comparator(values.as_ref(), values.as_ref(), SortOptions::default())?;
    // each partition's rows, in order, by the first row of its first run (a batch holds few)
    let mut partitions: Vec<Vec<u32>> = Vec::new();
    for run in runs {
        let rows = run.clone().map(|row| row as u32);
        match partitions.iter_mut().find(|p| same(p[0] as usize, run.start).is_eq()) {
            Some(partition) => partition.extend(rows),
            None => partitions.push(rows.collect()),
        }
    }
    for rows in partitions {
        let first = rows[0] as usize;
        let copied = take_record_batch(batch, &UInt32Array::from(rows))?;
        write_one(writer, copied, partition_column, &values, first).await?;
    }
    Ok(())
}

/// The runs of consecutive kept rows with one partition value.
fn kept_runs(values: &ArrayRef, keep: Option<&[bool]>) -> DeltaResult<Vec<Range<usize>>> {
    let equal = arrow::compute::partition(std::slice::from_ref(values))?.ranges();
    let Some(keep) = keep else { return Ok(equal) };
    let mut runs = Vec::new();
    for range in equal {
        let mut start = None;
        for row in range.clone() {
            match (keep[row], start) {
                (true, None) => start = Some(row),
                (false, Some(s)) => {
                    runs.push(s..row);
                    start = None;
                }
                _ => {}
            }
        }
        if let Some(s) = start {
            runs.push(s..range.end);
        }
    }
    Ok(runs)
}

/// Writes `rows`, all of one partition (that of row `row` of `values`), to that partition.
async fn write_one(
    writer: &mut RecordBatchWriter,
    rows: RecordBatch,
    partition_column: &str,
    values: &ArrayRef,
    row: usize,
) -> DeltaResult<()> {
    // the kernel's scalar of the value, as the writer's own split makes it (its type is
    // inferred from `write_partition`'s argument)
    let value = ScalarExt::from_array(values.as_ref(), row)
        .ok_or_else(|| DeltaTableError::generic(format!("cannot read {partition_column} as a partition value")))?;
    let partition = [(partition_column.to_string(), value)].into_iter().collect();
    writer.write_partition(rows, &partition, WriteMode::Default).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Date32Array, Int64Array};

    fn runs(dates: &[i32], keep: Option<&[bool]>) -> Vec<Range<usize>> {
        let values: ArrayRef = std::sync::Arc::new(Date32Array::from(dates.to_vec()));
        kept_runs(&values, keep).unwrap()
    }

    #[test]
    fn runs_break_where_the_value_changes_or_a_row_is_dropped() {
        assert_eq!(runs(&[1, 1, 1, 2, 2, 1], None), vec![0..3, 3..5, 5..6]);
        let keep = [true, false, true, true, false, false, true];
        assert_eq!(runs(&[1, 1, 1, 2, 2, 2, 2], Some(&keep)), vec![0..1, 2..3, 3..4, 6..7]);
        assert_eq!(runs(&[1, 1], Some(&[false, false])), Vec::<Range<usize>>::new());
        assert_eq!(runs(&[], None), Vec::<Range<usize>>::new());
    }

    #[test]
    fn a_batch_without_the_partition_column_is_refused() {
        let batch =
            RecordBatch::try_from_iter([("n", std::sync::Arc::new(Int64Array::from(vec![1])) as ArrayRef)]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let error = rt.block_on(async {
            let schema = batch.schema();
            let url = url::Url::from_directory_path(dir.path()).unwrap();
            let mut writer = RecordBatchWriter::try_new(url.as_str(), schema, Some(vec!["day".into()]), None).unwrap();
            write_by_partition(&mut writer, &batch, "day", None).await.unwrap_err()
        });
        assert!(error.to_string().contains("no partition column day"), "{error}");
    }
}
