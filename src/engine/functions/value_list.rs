//! `value_list(value)` and `list_quantile_disc(list, q)`: a group's BIGINT values kept as one
//! list, and the nearest-rank quantile of such a list.
//!
//! They let percentiles be built in two steps: the rollup keeps each hour's durations as a
//! list, takes the hour's percentiles from it, and makes a day's list from its hours' lists
//! (`value_list` of a list column concatenates them), so the day's exact percentiles need no
//! second pass over the requests. The values of a list are in no particular order.

use std::sync::Arc;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, ColumnarValue, GroupsAccumulator, ScalarFunctionArgs, ScalarUDF,
    ScalarUDFImpl, Signature, Volatility,
};

use super::quantile::{FlatLists, GroupedValues, ValuesAccumulator, ValuesGroups, q_millionths};

/// The type of a list of values: what `value_list` returns and `list_quantile_disc` reads.
fn list_type() -> DataType {
    DataType::List(Arc::new(Field::new_list_field(DataType::Int64, true)))
}

/// The `value_list` aggregate function, to register in a session.
pub fn value_list() -> AggregateUDF {
    AggregateUDF::from(ValueList { signature: Signature::any(1, Volatility::Immutable) })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct ValueList {
    signature: Signature,
}

/// Whether the argument is a list (whose values are gathered) or a single value.
fn reads_lists(data_type: &DataType) -> Result<bool> {
    match data_type {
        DataType::Int64 => Ok(false),
        DataType::List(item) if item.data_type() == &DataType::Int64 => Ok(true),
        other => plan_err!("value_list(value) needs a BIGINT or a list of BIGINT, got {other}"),
    }
}

impl AggregateUDFImpl for ValueList {
    fn name(&self) -> &str {
        "value_list"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        reads_lists(&arg_types[0])?;
        Ok(list_type())
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![Field::new(format!("{}[values]", args.name), list_type(), true).into()])
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let lists = reads_lists(&args.exprs[0].data_type(args.schema)?)?;
        Ok(Box::new(ValuesAccumulator { q: None, lists, values: Vec::new() }))
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn GroupsAccumulator>> {
        let lists = reads_lists(&args.exprs[0].data_type(args.schema)?)?;
        Ok(Box::new(ValuesGroups { q: None, lists, values: GroupedValues::default() }))
    }
}

/// The `list_quantile_disc` scalar function, to register in a session.
pub fn list_quantile_disc() -> ScalarUDF {
    ScalarUDF::from(ListQuantileDisc {
        signature: Signature::exact(vec![list_type(), DataType::Float64], Volatility::Immutable),
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct ListQuantileDisc {
    signature: Signature,
}

impl ScalarUDFImpl for ListQuantileDisc {
    fn name(&self) -> &str {
        "list_quantile_disc"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }

    /// The ⌈q·n⌉-th smallest non-null value of each row's list (as `quantile_disc` over the
    /// values); null for a null or empty list.
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        const NAME: &str = "list_quantile_disc(list, q)";
        let q = match &args.args[1] {
            ColumnarValue::Scalar(q) => q_millionths(NAME, Some(q))?,
            ColumnarValue::Array(_) => q_millionths(NAME, None)?,
        };
        let lists = args.args[0].to_array(args.number_rows)?;
        let Some(lists) = lists.as_list_opt::<i32>() else {
            return exec_err!("{NAME} needs a list of BIGINT, got {}", lists.data_type());
        };
        let result = FlatLists::from_lists(lists)?.quantiles(q);
        Ok(ColumnarValue::Array(Arc::new(result)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{ArrayRef, BooleanArray, ListArray, RecordBatch};
    use arrow::datatypes::Int64Type;
    use datafusion::logical_expr::EmitTo;
    use datafusion::prelude::{col, lit};

    fn lists(rows: Vec<Option<Vec<Option<i64>>>>) -> ArrayRef {
        Arc::new(ListArray::from_iter_primitive::<Int64Type, _, _>(rows))
    }

    fn sorted(list: &ListArray, row: usize) -> Vec<i64> {
        let mut v: Vec<i64> = list.value(row).as_primitive::<Int64Type>().iter().flatten().collect();
        v.sort_unstable();
        v
    }

    #[test]
    fn a_list_of_lists_holds_every_value_of_its_group_once() {
        let mut acc = ValuesGroups { q: None, lists: true, values: GroupedValues::default() };
        let input = lists(vec![Some(vec![Some(3), Some(1)]), None, Some(vec![Some(7), None]), Some(vec![Some(2)])]);
        acc.update_batch(&[input], &[0, 0, 1, 0], None, 2).unwrap();
        let out = acc.evaluate(EmitTo::All).unwrap();
        let out = out.as_list::<i32>();
        assert_eq!((sorted(out, 0), sorted(out, 1)), (vec![1, 2, 3], vec![7]));
        // a filtered-out row's list is left out, also when each row is its own group
        let mut acc = ValuesGroups { q: None, lists: true, values: GroupedValues::default() };
        let input = lists(vec![Some(vec![Some(5)]), Some(vec![Some(6)])]);
        let filter = BooleanArray::from(vec![Some(false), Some(true)]);
        acc.update_batch(std::slice::from_ref(&input), &[0, 0], Some(&filter), 1).unwrap();
        assert_eq!(sorted(acc.evaluate(EmitTo::All).unwrap().as_list::<i32>(), 0), vec![6]);
        let state = acc.convert_to_state(&[input], Some(&filter)).unwrap();
        assert_eq!((state[0].is_null(0), state[0].is_null(1)), (true, false));
    }

    /// Each row's quantile is taken over its own values only, also in a slice of a bigger list
    /// column (offsets not from 0) and where the lists hold nulls, which are left out.
    #[test]
    fn each_rows_quantile_reads_its_own_non_null_values() {
        let ctx = datafusion::prelude::SessionContext::new();
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let p50 = |list: ArrayRef| -> Vec<Option<i64>> {
            let batch = RecordBatch::try_from_iter([("l", list)]).unwrap();
            let quantile = list_quantile_disc().call(vec![col("l"), lit(0.5)]);
            let out = rt.block_on(async { ctx.read_batch(batch)?.select(vec![quantile])?.collect().await }).unwrap();
            out.iter().flat_map(|b| b.column(0).as_primitive::<Int64Type>().iter().collect::<Vec<_>>()).collect()
        };
        let whole = lists(vec![
            Some(vec![Some(100)]),
            Some(vec![Some(3), Some(1), Some(2)]),
            None,
            Some(vec![]),
            Some(vec![Some(-4)]),
        ]);
        assert_eq!(p50(whole.slice(1, 3)), vec![Some(2), None, None]);
        assert_eq!(p50(whole.slice(4, 1)), vec![Some(-4)]);
        let with_nulls =
            lists(vec![Some(vec![Some(9), None, Some(5)]), Some(vec![None]), Some(vec![Some(8), Some(6), Some(7)])]);
        assert_eq!(p50(with_nulls.clone()), vec![Some(5), None, Some(7)]);
        assert_eq!(p50(with_nulls.slice(1, 2)), vec![None, Some(7)]);
    }

    /// The percentiles of a day from its hours' lists equal those of the day's values: the
    /// rollup's daily table depends on it.
    #[test]
    fn percentiles_of_merged_lists_equal_those_of_all_values() {
        let ctx = datafusion::prelude::SessionContext::new();
        crate::engine::functions::register(&ctx);
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let rows: Vec<(i64, i64, i64)> =
            (0..500_i64).map(|i| (i % 3, i % 7, (i * 7919) % 1009 - if i % 11 == 0 { 2000 } else { 0 })).collect();
        let values = rows.iter().map(|(d, h, v)| format!("({d}, {h}, {v})")).collect::<Vec<_>>().join(", ");
        let sql = format!(
            "WITH t(d, h, v) AS (VALUES {values}), \
             hours AS (SELECT d, h, value_list(v) AS vs, quantile_disc(v, 0.5) AS p50 FROM t GROUP BY d, h), \
             from_hours AS (SELECT d, list_quantile_disc(value_list(vs), 0.5) AS p50, \
                list_quantile_disc(value_list(vs), 0.95) AS p95 FROM hours GROUP BY d), \
             direct AS (SELECT d, quantile_disc(v, 0.5) AS p50, quantile_disc(v, 0.95) AS p95 FROM t GROUP BY d) \
             SELECT (SELECT count(*) FROM hours WHERE p50 <> list_quantile_disc(vs, 0.5)) AS hours_differing, \
                    count(*) AS days, sum(CASE WHEN f.p50 = x.p50 AND f.p95 = x.p95 THEN 1 ELSE 0 END) AS days_equal \
             FROM from_hours f JOIN direct x ON f.d = x.d"
        );
        let batches = rt.block_on(async { ctx.sql(&sql).await.unwrap().collect().await.unwrap() });
        let got: Vec<i64> = (0..3)
            .map(|c| arrow::compute::cast(batches[0].column(c), &DataType::Int64).unwrap())
            .map(|a| a.as_primitive::<Int64Type>().value(0))
            .collect();
        assert_eq!(got, vec![0, 3, 3], "hours differing, days, days equal");
        // an empty or null list has no quantile, and a bad q is refused
        let empty = rt.block_on(async {
            ctx.sql("SELECT list_quantile_disc(CAST(NULL AS BIGINT[]), 0.5)").await.unwrap().collect().await.unwrap()
        });
        assert!(empty[0].column(0).is_null(0));
        let bad = rt.block_on(async { ctx.sql("SELECT list_quantile_disc([1, 2], 1.5)").await?.collect().await });
        assert!(bad.unwrap_err().to_string().contains("between 0 and 1"));
    }
}
