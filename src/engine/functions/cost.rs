//! `cost_of(count, rate, count, rate, ...)`: Σ count × rate, exactly, in one pass.
//!
//! A priced row's cost is a handful of counts (tokens of each kind, web searches, requests)
//! times their per-unit rates, which are exact decimals. Written as SQL arithmetic,
//! `CAST(count AS DECIMAL(20, 0)) * COALESCE(rate, 0) + ...`, each cast, coalesce, product and
//! sum is a pass of its own over the rows, with a checked multiplication and a precision check
//! per value: about a twentieth of a rollup's instructions. This function computes the same
//! sum in 128-bit integers, a row at a time, and gives the same value, or the same kind of
//! error (an overflow is refused, never wrapped).
//!
//! A rate that is NULL (the price book lacks it) counts as 0, as `COALESCE(rate, 0)` did: the
//! pricing join gives no price at all to a row that needs a rate its price lacks, and the SQL
//! leaves such a row's cost NULL, never zero. A NULL count makes the row's cost NULL (unknown).

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Decimal128Array, Int64Array};
use arrow::buffer::NullBuffer;
use arrow::datatypes::{DECIMAL128_MAX_PRECISION, DataType, Decimal128Type, Int64Type};
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};

/// The `cost_of` scalar function, to register in a session.
pub fn cost_of() -> ScalarUDF {
    ScalarUDF::from(CostOf { signature: Signature::user_defined(Volatility::Immutable) })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct CostOf {
    signature: Signature,
}

/// The scale of the rates of `arg_types` (count, rate, ...): the largest, to which every rate
/// is brought (exactly: a scale only grows).
fn rate_scale(arg_types: &[DataType]) -> Result<i8> {
    if arg_types.is_empty() || !arg_types.len().is_multiple_of(2) {
        return plan_err!(
            "cost_of(count, rate, ...) takes pairs of a count and its rate, got {} arguments",
            arg_types.len()
        );
    }
    let mut scale = 0;
    for (i, pair) in arg_types.chunks(2).enumerate() {
        if !(pair[0].is_integer() || pair[0] == DataType::Null) {
            return plan_err!("cost_of: count {} must be an integer, got {}", i + 1, pair[0]);
        }
        match &pair[1] {
            DataType::Decimal128(_, s) if *s >= 0 => scale = scale.max(*s),
            t if t.is_integer() || *t == DataType::Null => {}
            other => return plan_err!("cost_of: rate {} must be an exact decimal, got {other}", i + 1),
        }
    }
    Ok(scale)
}

impl ScalarUDFImpl for CostOf {
    fn name(&self) -> &str {
        "cost_of"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    /// Counts as BIGINT, rates as DECIMAL(38, s) at the rates' largest scale.
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let rate = DataType::Decimal128(DECIMAL128_MAX_PRECISION, rate_scale(arg_types)?);
        Ok(arg_types.chunks(2).flat_map(|_| [DataType::Int64, rate.clone()]).collect())
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Decimal128(DECIMAL128_MAX_PRECISION, rate_scale(arg_types)?))
    }

    /// A row with a null count has a null cost; a null rate is 0.
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let DataType::Decimal128(precision, scale) = *args.return_field.data_type() else {
            return exec_err!("cost_of returns a DECIMAL, not {}", args.return_field.data_type());
        };
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let pairs: Vec<(&Int64Array, &Decimal128Array)> = arrays
            .chunks(2)
            .map(|pair| (pair[0].as_primitive::<Int64Type>(), pair[1].as_primitive::<Decimal128Type>()))
            .collect();
        let nulls = pairs
            .iter()
            .fold(None, |nulls: Option<NullBuffer>, (counts, _)| NullBuffer::union(nulls.as_ref(), counts.nulls()));
        // the largest magnitude DECIMAL(38, s) holds
        let max = 10_i128.pow(u32::from(precision)) - 1;
        let cost_of_row = |row: usize| -> Option<i128> {
            let mut sum = 0_i128;
            for (counts, rates) in &pairs {
                if rates.is_valid(row) {
                    sum = sum.checked_add(product(counts.value(row), rates.value(row))?)?;
                }
            }
            (-max..=max).contains(&sum).then_some(sum)
        };
        let mut costs = Vec::with_capacity(args.number_rows);
        for row in 0..args.number_rows {
            // a null count's slot holds any value: it is not multiplied
            let cost = if nulls.as_ref().is_some_and(|n| n.is_null(row)) { Some(0) } else { cost_of_row(row) };
            match cost {
                Some(cost) => costs.push(cost),
                None => {
                    return exec_err!("cost_of: the cost of row {row} does not fit in DECIMAL({precision}, {scale})");
                }
            }
        }
        let costs = Decimal128Array::new(costs.into(), nulls).with_precision_and_scale(precision, scale)?;
        Ok(ColumnarValue::Array(Arc::new(costs) as ArrayRef))
    }
}

/// `count` × `rate` (a rate's mantissa), or `None` past 128 bits. A rate is almost always
/// within 64 bits (a dollar a token is 10^12 at scale 12), and two 64-bit factors cannot
/// overflow 128 bits: one multiplication, without the checked 128-bit one's cost.
fn product(count: i64, rate: i128) -> Option<i128> {
    match i64::try_from(rate) {
        Ok(rate) => Some(i128::from(count) * i128::from(rate)),
        Err(_) => i128::from(count).checked_mul(rate),
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::RecordBatch;
    use datafusion::prelude::SessionContext;

    use super::*;

    fn query(sql: &str) -> Result<Vec<RecordBatch>> {
        let ctx = SessionContext::new();
        crate::engine::functions::register(&ctx);
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async { ctx.sql(sql).await?.collect().await })
    }

    /// The same values as the SQL it replaces, row by row, nulls included.
    #[test]
    fn the_cost_equals_the_sql_sum_of_products() {
        let rows = "VALUES (1235, 3, CAST(0.000000150000 AS DECIMAL(38, 12)), CAST(0.000000600000 AS DECIMAL(38, 12))), \
            (0, 0, CAST(0.000003 AS DECIMAL(38, 12)), CAST(0.000015 AS DECIMAL(38, 12))), \
            (9007199254740993, 7, CAST(0.000000000001 AS DECIMAL(38, 12)), CAST(12.5 AS DECIMAL(38, 12))), \
            (-4, 2, CAST(0.1 AS DECIMAL(38, 12)), CAST(NULL AS DECIMAL(38, 12))), \
            (NULL, 2, CAST(0.1 AS DECIMAL(38, 12)), CAST(0.2 AS DECIMAL(38, 12))), \
            (3, 1, CAST(100000000 AS DECIMAL(38, 12)), CAST(0.5 AS DECIMAL(38, 12)))";
        let batches = query(&format!(
            "SELECT cost_of(a, ra, b, rb) AS ours, \
                    CAST(a AS DECIMAL(20, 0)) * COALESCE(ra, 0) + CAST(b AS DECIMAL(20, 0)) * COALESCE(rb, 0) AS theirs, \
                    arrow_typeof(cost_of(a, ra, b, rb)) AS ours_type, \
                    arrow_typeof(CAST(a AS DECIMAL(20, 0)) * COALESCE(ra, 0) + CAST(b AS DECIMAL(20, 0)) * COALESCE(rb, 0)) AS theirs_type \
             FROM ({rows}) AS t(a, b, ra, rb)"
        ))
        .unwrap();
        let batch = &batches[0];
        let (ours, theirs) =
            (batch.column(0).as_primitive::<Decimal128Type>(), batch.column(1).as_primitive::<Decimal128Type>());
        assert_eq!(ours.iter().collect::<Vec<_>>(), theirs.iter().collect::<Vec<_>>());
        assert_eq!(ours.value(0), 1235 * 150_000 + 3 * 600_000);
        // a rate the book lacks is 0; an unknown count makes the cost unknown
        assert_eq!(ours.value(3), -4 * 100_000_000_000);
        assert!(ours.is_null(4));
        // a rate past 64 bits (10^20 at scale 12) is multiplied all the same
        assert_eq!(ours.value(5), 3 * 100_000_000 * 10_i128.pow(12) + 500_000_000_000);
        let types = |c: usize| batch.column(c).as_string::<i32>().value(0).to_string();
        assert_eq!(types(2), "Decimal128(38, 12)");
        assert_eq!(types(2), types(3));
    }

    #[test]
    fn rates_of_other_scales_and_integer_counts_are_brought_to_one_scale() {
        let batches = query(
            "SELECT cost_of(CAST(3 AS INT), CAST(1.5 AS DECIMAL(10, 1)), CAST(2 AS BIGINT), CAST(0.25 AS DECIMAL(38, 12)))",
        )
        .unwrap();
        let cost = batches[0].column(0).as_primitive::<Decimal128Type>();
        assert_eq!((cost.value(0), cost.scale()), (5_000_000_000_000, 12));
    }

    /// A null count's slot may hold any value; one that would overflow is no error, and the
    /// other rows keep their costs.
    #[test]
    fn a_null_counts_slot_is_not_priced() {
        use arrow::array::{Decimal128Array, Int64Array};
        let counts = Int64Array::new(vec![i64::MAX, 2].into(), Some(NullBuffer::from(vec![false, true])));
        let rates = Decimal128Array::from(vec![10_i128.pow(30); 2]).with_precision_and_scale(38, 12).unwrap();
        let batch =
            RecordBatch::try_from_iter([("n", Arc::new(counts) as ArrayRef), ("r", Arc::new(rates) as ArrayRef)])
                .unwrap();
        let ctx = SessionContext::new();
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let cost = cost_of().call(vec![datafusion::prelude::col("n"), datafusion::prelude::col("r")]);
        let out = rt.block_on(async { ctx.read_batch(batch)?.select(vec![cost])?.collect().await }).unwrap();
        let costs = out[0].column(0).as_primitive::<Decimal128Type>();
        assert!(costs.is_null(0));
        assert_eq!(costs.value(1), 2 * 10_i128.pow(30));
    }

    #[test]
    fn an_overflow_is_an_error_and_bad_arguments_are_refused() {
        let big = "CAST(99999999999999999999999999.999999999999 AS DECIMAL(38, 12))";
        let overflow = query(&format!("SELECT cost_of(CAST(9223372036854775807 AS BIGINT), {big})")).unwrap_err();
        assert!(overflow.to_string().contains("does not fit in DECIMAL(38, 12)"), "{overflow}");
        let odd = query("SELECT cost_of(1)").unwrap_err();
        assert!(odd.to_string().contains("pairs of a count and its rate"), "{odd}");
        let float = query("SELECT cost_of(1, 0.5)").unwrap_err();
        assert!(float.to_string().contains("must be an exact decimal"), "{float}");
    }
}
