//! Money for people, rounded once and in one place: each line to the currency's minor unit
//! such that the lines add up exactly to the rounded total (largest remainder), totals and
//! percentages half away from zero. The chargeback, FOCUS and budget status all round here.

use rust_decimal::{Decimal, RoundingStrategy};

use crate::error::{Error, Result};

/// `value` as the mantissa of a decimal column of `scale` (an Arrow Decimal128), exactly; `None`
/// when it has more decimal places than the column or does not fit.
pub fn mantissa_at_scale(value: Decimal, scale: u32) -> Option<i128> {
    let value = value.normalize();
    scale.checked_sub(value.scale()).and_then(|shift| value.mantissa().checked_mul(10_i128.checked_pow(shift)?))
}

/// Decimal places of `currency`'s minor unit, from the ISO 4217 table (the `iso_currency`
/// crate): JPY 0, USD 2, KWD 3, CLF 4. The config files accept only codes this answers for;
/// a code it does not know (an alphabetic code not in ISO 4217, or one without a minor unit
/// such as XAU or XXX) is an error rather than a guess, because a wrong guess would round
/// every line of that currency to the wrong unit without anyone noticing.
pub fn minor_unit(currency: &str) -> Result<u32> {
    iso_currency::Currency::from_code(currency).and_then(|c| c.exponent()).map(u32::from).ok_or_else(|| {
        // Reached only by data the config checks did not see: usage rated by a price book
        // loaded before currency codes were checked.
        Error::Config(format!(
            "currency `{currency}` is not an ISO 4217 code with a minor unit, so its money cannot be rounded; \
             correct it in config/prices.csv or config/capacity.csv, then rate the usage again (tokenledger rollup --full)"
        ))
    })
}

/// A JSON number as an exact decimal, converted from its shortest decimal text (`3e-07`, `0.1`,
/// `0.30000000000000004`) and never through a float's binary value: a float that prints as
/// `0.1` is 0.1 here, not 0.1000000000000000055511151231257827. `None` when the number does not
/// fit a decimal exactly (over 28 digits, or beyond its range). The price catalog's prices and
/// OpenAI's cost amounts are read with it.
pub fn decimal_from_json(n: &serde_json::Number) -> Option<Decimal> {
    decimal_from_text(&n.to_string())
}

/// Decimal text (`12.5`, `-0.25`, `3e-07`, `1.5E+3`) as an exact decimal; `None` when it is not
/// decimal text or holds more digits than a decimal does.
pub fn decimal_from_text(text: &str) -> Option<Decimal> {
    let text = text.trim();
    if text.contains(['e', 'E']) { Decimal::from_scientific(text) } else { Decimal::from_str_exact(text) }.ok()
}

/// `amount` rounded to `scale` places, half away from zero (what finance expects of a total),
/// and written with exactly `scale` places (`6.00`, not `6`).
pub fn round(amount: Decimal, scale: u32) -> Decimal {
    let mut rounded = amount.round_dp_with_strategy(scale, RoundingStrategy::MidpointAwayFromZero);
    rounded.rescale(scale);
    rounded
}

/// Rounds each amount to `scale` places so that the results add up to `round(sum)`: every
/// amount is rounded down, then the units still missing go one each to the amounts that lost
/// the most (ties to the earlier one, so the result is deterministic).
pub fn largest_remainder(amounts: &[Decimal], scale: u32) -> Vec<Decimal> {
    let unit = Decimal::new(1, scale);
    let total = round(amounts.iter().sum(), scale);
    let mut rounded: Vec<Decimal> =
        amounts.iter().map(|a| a.round_dp_with_strategy(scale, RoundingStrategy::ToNegativeInfinity)).collect();
    // Σ floor(a) <= floor(Σ a) <= round(Σ a) < Σ floor(a) + n units: 0 <= missing < n
    let missing = ((total - rounded.iter().sum::<Decimal>()) / unit).round();
    let mut order: Vec<usize> = (0..amounts.len()).collect();
    order.sort_by(|&i, &j| (amounts[j] - rounded[j]).cmp(&(amounts[i] - rounded[i])).then(i.cmp(&j)));
    let missing = usize::try_from(missing.mantissa()).unwrap_or(0);
    for &i in order.iter().take(missing) {
        rounded[i] += unit;
    }
    for r in &mut rounded {
        r.rescale(scale);
    }
    rounded
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn minor_units_come_from_the_iso_table() {
        for (code, places) in [
            ("XPF", 0),
            ("BIF", 0),
            ("DJF", 0),
            ("GNF", 0),
            ("KMF", 0),
            ("VUV", 0),
            ("CLF", 4),
            ("JPY", 0),
            ("KWD", 3),
            ("USD", 2),
        ] {
            assert_eq!(minor_unit(code).unwrap(), places, "{code}");
        }
        // not a code, not in capitals, or no minor unit: refused, never a default of 2
        for code in ["XYZ", "usd", "US", "XAU", "XXX"] {
            let err = minor_unit(code).unwrap_err().to_string();
            assert!(err.contains(&format!("currency `{code}` is not an ISO 4217 code")), "{err}");
        }
    }

    #[test]
    fn three_thirds_add_up_to_the_total() {
        let third = d("0.333333333333");
        let got = largest_remainder(&[third, third, third], 2);
        assert_eq!(got, vec![d("0.34"), d("0.33"), d("0.33")]);
        assert_eq!(got.iter().sum::<Decimal>(), d("1.00"));
        // plain rounding would say 0.99
        assert_eq!(round(third, 2) * Decimal::from(3), d("0.99"));
    }

    #[test]
    fn half_cents_round_away_from_zero_in_the_total() {
        assert_eq!(round(d("2.345"), 2), d("2.35"));
        assert_eq!((round(d("6"), 2).to_string(), round(Decimal::ZERO, 2).to_string()), ("6.00".into(), "0.00".into()));
        assert_eq!(largest_remainder(&[d("1"), d("0.5")], 2)[0].to_string(), "1.00");
        let got = largest_remainder(&[d("1.005"), d("1.005"), d("0.335")], 2);
        assert_eq!(got.iter().sum::<Decimal>(), d("2.35"));
        assert!(largest_remainder(&[], 2).is_empty());
    }

    #[test]
    fn json_numbers_are_read_from_their_shortest_text() {
        let number = |text: &str| serde_json::from_str::<serde_json::Number>(text).unwrap();
        // a float's shortest text, not its binary value (0.1 would be 0.1000000000000000055...)
        assert_eq!(decimal_from_json(&number("0.1")), Some(d("0.1")));
        let sum = serde_json::Number::from_f64(0.1 + 0.2).unwrap();
        assert_eq!(decimal_from_json(&sum), Some(d("0.30000000000000004")));
        assert_eq!(decimal_from_json(&number("3e-07")), Some(d("0.0000003")));
        assert_eq!(decimal_from_json(&number("1.5E+3")), Some(d("1500")));
        assert_eq!(decimal_from_json(&number("42")), Some(d("42")));
        assert_eq!(decimal_from_json(&number("-0.06")), Some(d("-0.06")));
        // beyond a decimal's range: refused, not rounded
        assert_eq!(decimal_from_json(&number("1e40")), None);
        assert_eq!(decimal_from_text("12,5"), None);
        assert_eq!(decimal_from_text(" 123.4567 "), Some(d("123.4567")));
    }

    proptest! {
        #[test]
        fn lines_add_up_to_the_rounded_total_and_move_less_than_a_cent(
            mantissas in proptest::collection::vec(0i64..10_000_000_000_000, 0..60),
            scale in 0u32..4,
        ) {
            let amounts: Vec<Decimal> = mantissas.iter().map(|m| Decimal::new(*m, 12)).collect();
            let got = largest_remainder(&amounts, scale);
            prop_assert_eq!(got.iter().sum::<Decimal>(), round(amounts.iter().sum(), scale));
            let unit = Decimal::new(1, scale);
            for (a, r) in amounts.iter().zip(&got) {
                prop_assert!((*a - *r).abs() < unit, "{} -> {}", a, r);
                prop_assert_eq!(r.round_dp(scale), *r);
            }
        }
    }
}
