//! Dates and instants as the tables keep them: UTC microseconds since the Unix epoch
//! (`request_time`, `hour`) and days since it (Arrow `Date32`: `request_date`, `date`).

use std::collections::BTreeSet;

use chrono::{Datelike, NaiveDate};

use crate::error::{Error, Result};

/// Microseconds in an hour: the grain of `usage_hourly` and of capacity pools.
pub const MICROS_PER_HOUR: i64 = 3_600 * 1_000_000;
/// Microseconds in a (UTC) day.
pub const MICROS_PER_DAY: i64 = 24 * MICROS_PER_HOUR;

/// UTC microseconds since the Unix epoch at 00:00 of `date`: where a dated period starts or ends.
///
/// Never overflows: chrono dates span about ±262,000 years, i64 microseconds about ±292,000.
pub fn date_start_micros(date: NaiveDate) -> i64 {
    // 1970-01-01 is day 719,163 counted from 0001-01-01 (day 1) in chrono's proleptic calendar.
    const UNIX_EPOCH_DAYS_FROM_CE: i64 = 719_163;
    (i64::from(date.num_days_from_ce()) - UNIX_EPOCH_DAYS_FROM_CE) * MICROS_PER_DAY
}

/// Days since the Unix epoch: `date` as an Arrow `Date32` value.
pub fn epoch_days(date: NaiveDate) -> i32 {
    (date_start_micros(date) / MICROS_PER_DAY) as i32
}

/// The UTC day of an instant (microseconds), as an Arrow `Date32` value.
pub fn day_of_micros(micros: i64) -> i32 {
    micros.div_euclid(MICROS_PER_DAY) as i32
}

/// `date` as a DataFusion `Date32` literal.
pub fn date_value(date: NaiveDate) -> datafusion::scalar::ScalarValue {
    datafusion::scalar::ScalarValue::Date32(Some(epoch_days(date)))
}

/// A UTC instant (microseconds) in RFC 3339, to the second (`2025-01-11T00:00:00Z`).
pub fn rfc3339(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .map_or_else(|| micros.to_string(), |t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

/// `dates` as compact ranges, in order: `2025-01-01..2025-01-10`, `2025-01-15`.
pub fn date_ranges<'a>(dates: impl IntoIterator<Item = &'a NaiveDate>) -> Vec<String> {
    let mut ranges: Vec<(NaiveDate, NaiveDate)> = Vec::new();
    for &date in dates {
        match ranges.last_mut() {
            Some((_, last)) if last.succ_opt() == Some(date) => *last = date,
            _ => ranges.push((date, date)),
        }
    }
    ranges
        .into_iter()
        .map(|(first, last)| if first == last { first.to_string() } else { format!("{first}..{last}") })
        .collect()
}

/// The dates of ranges written by [`date_ranges`].
pub fn parse_date_ranges(ranges: &[String]) -> Result<BTreeSet<NaiveDate>> {
    let day = |text: &str| {
        NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .map_err(|e| Error::Internal(format!("bad date {text:?} in a date range: {e}")))
    };
    let mut dates = BTreeSet::new();
    for range in ranges {
        let (first, last) = match range.split_once("..") {
            Some((first, last)) => (day(first)?, day(last)?),
            None => (day(range)?, day(range)?),
        };
        dates.extend(first.iter_days().take_while(|d| *d <= last));
    }
    Ok(dates)
}

/// A half-open range of UTC dates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Period {
    pub start: NaiveDate,
    /// Exclusive.
    pub end: NaiveDate,
}

impl Period {
    /// `YYYY-MM`: that month.
    pub fn month(text: &str) -> Result<Self> {
        let start = NaiveDate::parse_from_str(&format!("{text}-01"), "%Y-%m-%d")
            .map_err(|_| Error::NotAMonth { text: text.to_string() })?;
        let end = if start.month() == 12 {
            NaiveDate::from_ymd_opt(start.year() + 1, 1, 1)
        } else {
            NaiveDate::from_ymd_opt(start.year(), start.month() + 1, 1)
        }
        .ok_or_else(|| Error::NotAMonth { text: text.to_string() })?;
        Ok(Self { start, end })
    }

    /// From `from` to `to`, both inclusive.
    pub fn days(from: NaiveDate, to: NaiveDate) -> Result<Self> {
        if from > to {
            return Err(Error::EmptyRange { from, to });
        }
        Ok(Self { start: from, end: to.succ_opt().unwrap_or(to) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_ranges_are_compact_and_read_back() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let dates: BTreeSet<NaiveDate> =
            ["2024-12-31", "2025-01-01", "2025-01-02", "2025-01-05", "2025-01-07", "2025-01-08"]
                .into_iter()
                .map(d)
                .collect();
        let ranges = date_ranges(&dates);
        assert_eq!(ranges, ["2024-12-31..2025-01-02", "2025-01-05", "2025-01-07..2025-01-08"]);
        assert_eq!(parse_date_ranges(&ranges).unwrap(), dates);
        assert!(date_ranges(&BTreeSet::new()).is_empty());
        assert!(parse_date_ranges(&["2025-13-01".into()]).is_err());
    }

    #[test]
    fn days_and_instants_agree_with_known_values() {
        let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        assert_eq!(date_start_micros(day(1970, 1, 1)), 0);
        assert_eq!(date_start_micros(day(1970, 1, 2)), MICROS_PER_DAY);
        assert_eq!(date_start_micros(day(1969, 12, 31)), -MICROS_PER_DAY);
        assert_eq!(epoch_days(day(2025, 1, 1)), 20_089);
        assert_eq!(day_of_micros(date_start_micros(day(2025, 1, 1)) + MICROS_PER_DAY - 1), 20_089);
        assert_eq!(day_of_micros(-1), -1, "an instant before 1970 is in 1969");
        assert_eq!(rfc3339(date_start_micros(day(2025, 1, 11))), "2025-01-11T00:00:00Z");
        // 2025-01-15T00:00:00Z = 1736899200 s.
        assert_eq!(date_start_micros(day(2025, 1, 15)), 1_736_899_200_000_000);
        // The extremes of the calendar do not overflow.
        assert!(date_start_micros(NaiveDate::MAX) > 0);
        assert!(date_start_micros(NaiveDate::MIN) < 0);
    }
}
