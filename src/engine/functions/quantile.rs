//! `quantile_disc(value, q)`: the nearest-rank quantile of a BIGINT column, the ⌈q·n⌉-th
//! smallest non-null value, as DuckDB's `quantile_disc` and Polars' `equiprobable` quantile.
//!
//! DataFusion has `percentile_cont` (interpolating) and `approx_percentile_cont` (a sketch);
//! latency percentiles in a finance-grade table must be exact and agree with the peers, and
//! building them from `array_agg` + `array_sort` costs a list per group. This aggregate
//! keeps the groups' values in one flat list and selects the rank in linear time; the same
//! accumulators serve `value_list` (see `value_list.rs`), which hands the values on.
//!
//! The rank is computed in integers from `q` in millionths, so that 0.95 x 20 is 19, not
//! 19.000000000000004 rounded up to 20.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int64Array, ListArray};
use arrow::buffer::{OffsetBuffer, ScalarBuffer};
use arrow::datatypes::{DataType, Field, FieldRef, Int64Type, Schema};
use arrow::record_batch::RecordBatch;
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::ColumnarValue;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, EmitTo, GroupsAccumulator, Signature, Volatility,
};

/// The `quantile_disc` aggregate function, to register in a session.
pub fn quantile_disc() -> AggregateUDF {
    AggregateUDF::from(QuantileDisc {
        signature: Signature::exact(vec![DataType::Int64, DataType::Float64], Volatility::Immutable),
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct QuantileDisc {
    signature: Signature,
}

/// `q` in millionths, read from the second argument, which must be a literal in [0, 1].
fn millionths(args: &AccumulatorArgs) -> Result<u64> {
    // a literal evaluates to itself against an empty batch; a column reference fails
    let empty = RecordBatch::new_empty(Arc::new(Schema::empty()));
    let q = args.exprs.get(1).and_then(|e| e.evaluate(&empty).ok());
    match q {
        Some(ColumnarValue::Scalar(q)) => q_millionths("quantile_disc(value, q)", Some(&q)),
        _ => q_millionths("quantile_disc(value, q)", None),
    }
}

/// `q` in millionths, from the literal `q` of `function` (which must be in [0, 1]).
pub(super) fn q_millionths(function: &str, q: Option<&ScalarValue>) -> Result<u64> {
    match q {
        Some(ScalarValue::Float64(Some(q))) if (0.0..=1.0).contains(q) => Ok((q * 1e6).round() as u64),
        other => plan_err!("{function} needs q as a literal between 0 and 1, got {other:?}"),
    }
}

/// The ⌈q·n⌉-th smallest of `values` (at least the first), reordering them; `None` if empty.
pub(super) fn nearest_rank(values: &mut [i64], q_millionths: u64) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    let n = values.len() as u128;
    let rank = (q_millionths as u128 * n).div_ceil(1_000_000).clamp(1, n) as usize;
    let (_, nth, _) = values.select_nth_unstable(rank - 1);
    Some(*nth)
}

/// One list of values per row, laid out as Arrow lays out a list column: the values of
/// every row in one buffer, row `i`'s from `offsets[i]` to `offsets[i + 1]`. It is the state
/// that partial aggregates hand to final ones, and what `value_list` returns.
#[derive(Debug, PartialEq)]
pub(super) struct FlatLists {
    offsets: Vec<i32>,
    values: Vec<i64>,
}

impl FlatLists {
    /// One row holding `values`.
    fn one(values: Vec<i64>) -> Result<Self> {
        Ok(Self { offsets: vec![0, list_offset(values.len())?], values })
    }

    /// Each row's non-null values of `lists`, a null list as an empty one (values copied
    /// once: the selection reorders what it picks from).
    pub(super) fn from_lists(lists: &ListArray) -> Result<Self> {
        let flat = lists.values().as_primitive::<Int64Type>();
        let offsets = lists.value_offsets();
        let (first, last) = (offsets[0], offsets[lists.len()]);
        let (from, to) = (first as usize, last as usize);
        if lists.null_count() == 0 && flat.slice(from, to - from).null_count() == 0 {
            // the usual case: the values as they lie, in one copy
            let values = flat.values()[from..to].to_vec();
            return Ok(Self { offsets: offsets.iter().map(|&o| o - first).collect(), values });
        }
        let mut out = Self { offsets: Vec::with_capacity(lists.len() + 1), values: Vec::new() };
        out.offsets.push(0);
        for row in 0..lists.len() {
            if lists.is_valid(row) {
                let (start, end) = (offsets[row] as usize, offsets[row + 1] as usize);
                out.values.extend((start..end).filter(|&i| flat.is_valid(i)).map(|i| flat.value(i)));
            }
            out.offsets.push(list_offset(out.values.len())?);
        }
        Ok(out)
    }

    /// The list column.
    pub(super) fn into_array(self) -> ArrayRef {
        Arc::new(ListArray::new(
            Arc::new(Field::new_list_field(DataType::Int64, true)),
            OffsetBuffer::new(ScalarBuffer::from(self.offsets)),
            Arc::new(Int64Array::from(self.values)),
            None,
        ))
    }

    /// The nearest-rank quantile of each row's list (null for an empty one).
    pub(super) fn quantiles(mut self, q_millionths: u64) -> Int64Array {
        let Self { offsets, values } = &mut self;
        offsets
            .windows(2)
            .map(|row| nearest_rank(&mut values[row[0] as usize..row[1] as usize], q_millionths))
            .collect()
    }
}

/// `len` as the offset of a list column, or an error past what an Arrow list can hold.
fn list_offset(len: usize) -> Result<i32> {
    i32::try_from(len).or_else(|_| exec_err!("more than {} values in one batch of lists", i32::MAX))
}

impl AggregateUDFImpl for QuantileDisc {
    fn name(&self) -> &str {
        "quantile_disc"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let item = Field::new_list_field(DataType::Int64, true);
        Ok(vec![Field::new(format!("{}[values]", args.name), DataType::List(Arc::new(item)), true).into()])
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(ValuesAccumulator { q: Some(millionths(&args)?), lists: false, values: Vec::new() }))
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(ValuesGroups { q: Some(millionths(&args)?), ..ValuesGroups::default() }))
    }
}

/// The values of one group (a query without GROUP BY): `quantile_disc`'s (`q` in
/// millionths) or `value_list`'s (`q` is `None`: the list itself). `lists` when the input is
/// a column of lists whose values are gathered.
#[derive(Debug)]
pub(super) struct ValuesAccumulator {
    pub(super) q: Option<u64>,
    pub(super) lists: bool,
    pub(super) values: Vec<i64>,
}

impl ValuesAccumulator {
    fn add_lists(&mut self, lists: &ArrayRef) {
        for list in lists.as_list::<i32>().iter().flatten() {
            self.values.extend(list.as_primitive::<Int64Type>().iter().flatten());
        }
    }
}

impl Accumulator for ValuesAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        if self.lists {
            self.add_lists(&values[0]);
        } else {
            self.values.extend(values[0].as_primitive::<Int64Type>().iter().flatten());
        }
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.add_lists(&states[0]);
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let list = FlatLists::one(self.values.clone())?.into_array();
        Ok(vec![ScalarValue::List(Arc::new(list.as_list::<i32>().clone()))])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        match self.q {
            Some(q) => Ok(ScalarValue::Int64(nearest_rank(&mut self.values, q))),
            None => Ok(self.state()?.remove(0)),
        }
    }

    fn size(&self) -> usize {
        size_of::<Self>() + self.values.capacity() * size_of::<i64>()
    }
}

/// Per-group values for the hash aggregate, kept as one flat list of (group, value) pairs:
/// most groups hold a handful of values, and a `Vec` per group would cost an allocation each.
/// The pairs are bucketed by group only when the groups are emitted.
#[derive(Debug, Default)]
pub(super) struct GroupedValues {
    groups: Vec<u32>,
    values: Vec<i64>,
    num_groups: usize,
}

impl GroupedValues {
    fn push(&mut self, group: usize, value: i64) {
        self.groups.push(group as u32);
        self.values.push(value);
    }

    /// Adds the non-null `values` of the rows `opt_filter` lets through to their groups.
    pub(super) fn add_values(
        &mut self,
        values: &Int64Array,
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) {
        self.num_groups = self.num_groups.max(total_num_groups);
        for (row, &group) in group_indices.iter().enumerate() {
            let included = opt_filter.is_none_or(|f| f.is_valid(row) && f.value(row));
            if included && values.is_valid(row) {
                self.push(group, values.value(row));
            }
        }
    }

    /// Adds every non-null value of each row's list (of the rows `opt_filter` lets through)
    /// to the row's group.
    pub(super) fn add_lists(
        &mut self,
        lists: &ListArray,
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) {
        self.num_groups = self.num_groups.max(total_num_groups);
        let flat = lists.values().as_primitive::<Int64Type>();
        let offsets = lists.value_offsets();
        for (row, &group) in group_indices.iter().enumerate() {
            let included = opt_filter.is_none_or(|f| f.is_valid(row) && f.value(row));
            if included && lists.is_valid(row) {
                for i in offsets[row] as usize..offsets[row + 1] as usize {
                    if flat.is_valid(i) {
                        self.push(group, flat.value(i));
                    }
                }
            }
        }
    }

    /// The values of the groups `emit_to` selects, one list per group (in group order, each
    /// group's values in the order they came); the other groups stay, renumbered from 0 as
    /// DataFusion expects. The lists are placed straight into one buffer (a counting sort by
    /// group), not gathered into a vector per group and copied again.
    pub(super) fn take(&mut self, emit_to: EmitTo) -> Result<FlatLists> {
        let n = match emit_to {
            EmitTo::All => self.num_groups,
            EmitTo::First(n) => n.min(self.num_groups),
        };
        // where each group's values start: the counts of the groups before it
        let mut starts = vec![0_usize; n + 1];
        for &g in &self.groups {
            if (g as usize) < n {
                starts[g as usize + 1] += 1;
            }
        }
        for i in 1..=n {
            starts[i] += starts[i - 1];
        }
        // checked once: every start is at most the last
        list_offset(starts[n])?;
        let offsets = starts.iter().map(|&start| start as i32).collect();
        let mut values = vec![0_i64; starts[n]];
        let (mut kept_groups, mut kept_values) = (Vec::new(), Vec::new());
        for (&g, &v) in self.groups.iter().zip(&self.values) {
            match starts.get_mut(g as usize).filter(|_| (g as usize) < n) {
                Some(next) => {
                    values[*next] = v;
                    *next += 1;
                }
                None => {
                    kept_groups.push(g - n as u32);
                    kept_values.push(v);
                }
            }
        }
        self.groups = kept_groups;
        self.values = kept_values;
        self.num_groups -= n;
        Ok(FlatLists { offsets, values })
    }

    pub(super) fn size(&self) -> usize {
        self.groups.capacity() * size_of::<u32>() + self.values.capacity() * size_of::<i64>()
    }
}

/// Per-group values for the hash aggregate: `quantile_disc`'s (`q` in millionths) or
/// `value_list`'s (`q` is `None`: the lists themselves). `lists` when the input is a column
/// of lists whose values are gathered.
#[derive(Debug, Default)]
pub(super) struct ValuesGroups {
    pub(super) q: Option<u64>,
    pub(super) lists: bool,
    pub(super) values: GroupedValues,
}

impl GroupsAccumulator for ValuesGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        if self.lists {
            self.values.add_lists(values[0].as_list::<i32>(), group_indices, opt_filter, total_num_groups);
        } else {
            self.values.add_values(values[0].as_primitive::<Int64Type>(), group_indices, opt_filter, total_num_groups);
        }
        Ok(())
    }

    fn merge_batch(&mut self, values: &[ArrayRef], group_indices: &[usize], total_num_groups: usize) -> Result<()> {
        self.values.add_lists(values[0].as_list::<i32>(), group_indices, None, total_num_groups);
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let lists = self.values.take(emit_to)?;
        match self.q {
            Some(q) => Ok(Arc::new(lists.quantiles(q))),
            None => Ok(lists.into_array()),
        }
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        Ok(vec![self.values.take(emit_to)?.into_array()])
    }

    /// Each row as its own group (for the hash aggregate's skip-partial mode): its value as a
    /// one-value list, or its list as it is; null where the value is null or `opt_filter`
    /// leaves the row out.
    fn convert_to_state(&self, values: &[ArrayRef], opt_filter: Option<&BooleanArray>) -> Result<Vec<ArrayRef>> {
        if !self.lists {
            return Ok(vec![one_value_lists(values[0].as_primitive::<Int64Type>(), opt_filter)]);
        }
        match opt_filter {
            None => Ok(vec![values[0].clone()]),
            Some(filter) => {
                let keep: BooleanArray = filter.iter().map(|f| Some(f == Some(true))).collect();
                let nulls = arrow::array::new_null_array(values[0].data_type(), values[0].len());
                Ok(vec![arrow::compute::kernels::zip::zip(&keep, &values[0], &nulls)?])
            }
        }
    }

    fn size(&self) -> usize {
        size_of::<Self>() + self.values.size()
    }
}

/// Each row's value as a one-value list, or null where the value is null or `opt_filter`
/// leaves the row out.
fn one_value_lists(values: &Int64Array, opt_filter: Option<&BooleanArray>) -> ArrayRef {
    let lists = (0..values.len()).map(|row| {
        let included = opt_filter.is_none_or(|f| f.is_valid(row) && f.value(row));
        (included && values.is_valid(row)).then(|| vec![Some(values.value(row))])
    });
    Arc::new(ListArray::from_iter_primitive::<Int64Type, _, _>(lists))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_matches_the_definition() {
        // 1..=20: p50 is the 10th smallest, p95 the 19th (not the 20th: no float rounding up)
        let mut v: Vec<i64> = (1..=20).rev().collect();
        assert_eq!(nearest_rank(&mut v, 500_000), Some(10));
        assert_eq!(nearest_rank(&mut v, 950_000), Some(19));
        assert_eq!(nearest_rank(&mut v, 1_000_000), Some(20));
        assert_eq!(nearest_rank(&mut v, 0), Some(1));
        assert_eq!(nearest_rank(&mut [7], 950_000), Some(7));
        assert_eq!(nearest_rank(&mut [], 500_000), None);
        // 3 values: p50 is the 2nd (ceil 1.5), p95 the 3rd (ceil 2.85)
        assert_eq!(nearest_rank(&mut [30, 10, 20], 500_000), Some(20));
        assert_eq!(nearest_rank(&mut [30, 10, 20], 950_000), Some(30));
    }

    #[test]
    fn taken_groups_are_laid_out_in_group_order_each_in_arrival_order() {
        let mut grouped = GroupedValues::default();
        for (group, value) in [(2, 20), (0, 1), (2, 21), (1, 10), (0, 2), (3, 30)] {
            grouped.push(group, value);
        }
        grouped.num_groups = 4;
        let first = grouped.take(EmitTo::First(3)).unwrap();
        assert_eq!(first, FlatLists { offsets: vec![0, 2, 3, 5], values: vec![1, 2, 10, 20, 21] });
        assert_eq!((grouped.groups.clone(), grouped.values.clone(), grouped.num_groups), (vec![0], vec![30], 1));
        let list = first.into_array();
        let list = list.as_list::<i32>();
        assert_eq!(list.value(2).as_primitive::<Int64Type>().values().to_vec(), vec![20, 21]);
        // a group with no values is an empty list, and its quantile null
        grouped.num_groups = 2;
        let rest = grouped.take(EmitTo::All).unwrap();
        assert_eq!(rest, FlatLists { offsets: vec![0, 1, 1], values: vec![30] });
        assert_eq!(rest.quantiles(500_000).iter().collect::<Vec<_>>(), vec![Some(30), None]);
    }

    #[test]
    fn emitting_the_first_groups_keeps_the_rest_and_their_size() {
        let mut acc = ValuesGroups { q: Some(500_000), ..ValuesGroups::default() };
        let values: ArrayRef = Arc::new(Int64Array::from(vec![Some(5), None, Some(1), Some(3), Some(9)]));
        acc.update_batch(&[values], &[0, 0, 1, 1, 2], None, 3).unwrap();
        let first = acc.evaluate(EmitTo::First(2)).unwrap();
        assert_eq!(first.as_primitive::<Int64Type>().values().to_vec(), vec![5, 1]);
        let rest = &acc.values;
        assert_eq!((rest.groups.clone(), rest.values.clone(), rest.num_groups), (vec![0], vec![9], 1));
        // state of the rest, merged into a fresh accumulator, gives the same answer
        let state = acc.state(EmitTo::All).unwrap();
        assert_eq!((acc.values.values.len(), acc.values.num_groups), (0, 0));
        let mut other = ValuesGroups { q: Some(500_000), ..ValuesGroups::default() };
        other.merge_batch(&state, &[0], 1).unwrap();
        assert_eq!(other.evaluate(EmitTo::All).unwrap().as_primitive::<Int64Type>().value(0), 9);
    }
}
