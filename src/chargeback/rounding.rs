//! Rounding money for people: each line to the currency's minor unit such that the lines add
//! up exactly to the rounded total (largest remainder, DESIGN rule 4).

use rust_decimal::{Decimal, RoundingStrategy};

/// Decimal places of a currency's minor unit (ISO 4217; 2 unless listed).
pub fn minor_unit(currency: &str) -> u32 {
    match currency {
        "JPY" | "KRW" | "VND" | "CLP" | "ISK" | "UGX" | "XAF" | "XOF" | "PYG" | "RWF" => 0,
        "BHD" | "KWD" | "OMR" | "JOD" | "TND" | "LYD" | "IQD" => 3,
        _ => 2,
    }
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
