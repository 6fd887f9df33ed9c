//! Validation of `GenOptions`, before anything is written.

use std::io;

use chrono::{Datelike, Days};

use super::GenOptions;
use super::limits::{MAX_DAYS, MAX_PAYLOAD_BYTES, MAX_USERS, RETIRE_AFTER_END_DAYS};
pub(super) fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

pub(super) fn validate(o: &GenOptions) -> io::Result<()> {
    if o.rows == 0 {
        return Err(invalid("rows must be > 0".into()));
    }
    if o.days == 0 || o.days > MAX_DAYS {
        return Err(invalid(format!("days must be in 1..={MAX_DAYS}, got {}", o.days)));
    }
    if o.users == 0 || o.users > MAX_USERS {
        return Err(invalid(format!("users must be in 1..={MAX_USERS}, got {}", o.users)));
    }
    if o.payload_bytes > MAX_PAYLOAD_BYTES {
        return Err(invalid(format!("payload_bytes must be at most {MAX_PAYLOAD_BYTES}, got {}", o.payload_bytes)));
    }
    for (name, v) in [("dup_rate", o.dup_rate), ("bad_rate", o.bad_rate)] {
        if !(0.0..=1.0).contains(&v) {
            return Err(invalid(format!("{name} must be a number in [0, 1], got {v}")));
        }
    }
    // Timestamps are written with 4-digit years; the price table reaches 400 days back and
    // retirements 45 days past the end.
    if o.start.year() < 1970 {
        return Err(invalid(format!("start must be 1970-01-01 or later, got {}", o.start)));
    }
    let last = o.start.checked_add_days(Days::new(u64::from(o.days) + RETIRE_AFTER_END_DAYS));
    if last.is_none_or(|d| d.year() > 9999) {
        return Err(invalid(format!("start {} + {} days runs past the year 9999", o.start, o.days)));
    }
    Ok(())
}
