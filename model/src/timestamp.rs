//! Hybrid-logical-clock timestamps: the single notion of "when" shared by the MVCC store, the
//! simulated clocks and BACKUP's `AS OF SYSTEM TIME`.
//!
//! Printed the way CockroachDB prints them (`1585000000000000000.0000000000`: wall nanoseconds, a
//! dot, ten digits of logical counter) so that traces, manifests and SHOW BACKUP output can be
//! compared with CockroachDB's own. Parsing accepts that form, a negative interval relative to a
//! given `now` (`-10s`, `-1h30m`) and a timestamp string (`2020-03-27 10:00:00`, UTC).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// A point in HLC time: physical wall nanoseconds since the Unix epoch plus a logical counter
/// that orders events sharing a wall reading.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Timestamp {
    /// Nanoseconds since the Unix epoch, as read from a (possibly skewed) physical clock.
    pub wall: u64,
    /// Tie-breaker for events with the same wall reading.
    pub logical: u32,
}

/// Why a timestamp string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimestampError {
    /// The text matched none of the accepted forms.
    #[error("invalid timestamp {0:?}: expected a decimal HLC timestamp (1585000000000000000.0000000000), a negative interval ('-10s', '-1h30m') or a timestamp string ('2020-03-27 10:00:00')")]
    Unrecognised(String),
    /// A relative interval was positive: AS OF SYSTEM TIME looks into the past only.
    #[error("interval {0:?} must be negative: AS OF SYSTEM TIME takes a time in the past")]
    PositiveInterval(String),
    /// The logical part of a decimal timestamp has more than ten digits or overflows.
    #[error("invalid logical part in timestamp {0:?}: at most ten digits, below 4294967296")]
    BadLogical(String),
    /// The interval reaches before the Unix epoch.
    #[error("interval {0:?} reaches before the Unix epoch")]
    BeforeEpoch(String),
}

impl Timestamp {
    /// The zero timestamp: "since the beginning of time" as an export start.
    pub const ZERO: Timestamp = Timestamp { wall: 0, logical: 0 };
    /// The largest timestamp, used as an open upper bound.
    pub const MAX: Timestamp = Timestamp { wall: u64::MAX, logical: u32::MAX };

    /// A timestamp with no logical component.
    pub const fn from_nanos(wall: u64) -> Self {
        Timestamp { wall, logical: 0 }
    }

    /// True for [`Timestamp::ZERO`].
    pub fn is_zero(&self) -> bool {
        *self == Self::ZERO
    }

    /// The smallest timestamp strictly greater than `self` (saturating at [`Timestamp::MAX`]).
    pub fn next(&self) -> Self {
        if *self == Self::MAX {
            Self::MAX
        } else if self.logical == u32::MAX {
            Timestamp { wall: self.wall.saturating_add(1), logical: 0 }
        } else {
            Timestamp { wall: self.wall, logical: self.logical + 1 }
        }
    }

    /// The largest timestamp strictly smaller than `self` (saturating at zero).
    pub fn prev(&self) -> Self {
        if self.logical > 0 {
            Timestamp { wall: self.wall, logical: self.logical - 1 }
        } else if self.wall > 0 {
            Timestamp { wall: self.wall - 1, logical: u32::MAX }
        } else {
            Self::ZERO
        }
    }

    /// `self` moved forward by `d` on the wall clock (logical reset).
    pub fn add(&self, d: Duration) -> Self {
        Timestamp::from_nanos(self.wall.saturating_add(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)))
    }

    /// `self` moved back by `d` on the wall clock (logical reset), saturating at zero.
    pub fn sub(&self, d: Duration) -> Self {
        Timestamp::from_nanos(self.wall.saturating_sub(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)))
    }

    /// Parses an `AS OF SYSTEM TIME` argument. Relative intervals are taken against `now`.
    pub fn parse_as_of(text: &str, now: Timestamp) -> Result<Timestamp, TimestampError> {
        let s = text.trim();
        if s.is_empty() {
            return Err(TimestampError::Unrecognised(text.to_string()));
        }
        if let Some(ts) = parse_decimal(s)? {
            return Ok(ts);
        }
        if let Some(rest) = s.strip_prefix('-') {
            let d = parse_interval(rest).ok_or_else(|| TimestampError::Unrecognised(text.into()))?;
            let nanos = d.as_nanos();
            if nanos > now.wall as u128 {
                return Err(TimestampError::BeforeEpoch(text.into()));
            }
            return Ok(Timestamp::from_nanos(now.wall - nanos as u64));
        }
        if s.starts_with('+') || parse_interval(s).is_some() {
            return Err(TimestampError::PositiveInterval(text.into()));
        }
        parse_datetime(s).ok_or_else(|| TimestampError::Unrecognised(text.into()))
    }

    /// Parses the decimal form only (`wall[.logical]`), as written in manifests and traces.
    pub fn parse_decimal(text: &str) -> Result<Timestamp, TimestampError> {
        parse_decimal(text.trim())?.ok_or_else(|| TimestampError::Unrecognised(text.into()))
    }

    /// The wall time as a UTC date-time string (`2020-03-27 10:00:00.000000`), for humans.
    pub fn to_datetime_string(&self) -> String {
        let secs = (self.wall / 1_000_000_000) as i64;
        let nanos = (self.wall % 1_000_000_000) as u32;
        match chrono::DateTime::from_timestamp(secs, nanos) {
            Some(dt) => dt.format("%Y-%m-%d %H:%M:%S%.6f").to_string(),
            None => self.to_string(),
        }
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:010}", self.wall, self.logical)
    }
}

/// `Some` if `s` is all digits with an optional `.digits` logical part; an error if it looks
/// decimal but the logical part cannot be represented.
fn parse_decimal(s: &str) -> Result<Option<Timestamp>, TimestampError> {
    let (wall, logical) = match s.split_once('.') {
        Some((w, l)) => (w, Some(l)),
        None => (s, None),
    };
    if wall.is_empty() || !wall.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(None);
    }
    if let Some(l) = logical {
        if l.is_empty() || !l.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(None);
        }
    }
    let wall: u64 = match wall.parse() {
        Ok(w) => w,
        Err(_) => return Err(TimestampError::Unrecognised(s.into())),
    };
    let logical = match logical {
        None => 0,
        Some(l) if l.len() > 10 => return Err(TimestampError::BadLogical(s.into())),
        // CockroachDB reads the fraction as a decimal: ".1" is logical 1000000000, so pad to ten
        // digits before parsing.
        Some(l) => format!("{l:0<10}").parse::<u64>().ok().and_then(|v| u32::try_from(v).ok()).ok_or_else(|| TimestampError::BadLogical(s.into()))?,
    };
    Ok(Some(Timestamp { wall, logical }))
}

/// An interval such as `10s`, `1h30m`, `250ms`, `1h 30m`. `None` if not an interval.
fn parse_interval(s: &str) -> Option<Duration> {
    let s = s.trim();
    if s.is_empty() || !s.as_bytes()[0].is_ascii_digit() {
        return None;
    }
    humantime::parse_duration(s).ok()
}

/// A UTC date-time string in the forms CockroachDB accepts for AS OF SYSTEM TIME.
fn parse_datetime(s: &str) -> Option<Timestamp> {
    use chrono::{NaiveDate, NaiveDateTime};
    const FORMATS: [&str; 4] = ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M"];
    let s = s.trim_end_matches('Z').trim_end_matches("+00:00");
    let naive = FORMATS
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
        .or_else(|| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0)))?;
    let nanos = naive.and_utc().timestamp_nanos_opt()?;
    u64::try_from(nanos).ok().map(Timestamp::from_nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = Timestamp { wall: 1_585_000_000_000_000_000, logical: 3 };

    #[test]
    fn prints_like_cockroachdb() {
        assert_eq!(NOW.to_string(), "1585000000000000000.0000000003");
        assert_eq!(Timestamp::ZERO.to_string(), "0.0000000000");
    }

    #[test]
    fn parses_every_form() {
        let p = |s| Timestamp::parse_as_of(s, NOW);
        assert_eq!(p("1585000000000000000.0000000003"), Ok(NOW));
        assert_eq!(p("1585000000000000000"), Ok(Timestamp::from_nanos(1_585_000_000_000_000_000)));
        assert_eq!(p("1585000000000000000.1"), Ok(Timestamp { wall: 1_585_000_000_000_000_000, logical: 1_000_000_000 }));
        assert_eq!(p("-10s"), Ok(Timestamp::from_nanos(NOW.wall - 10_000_000_000)));
        assert_eq!(p("-1h30m"), Ok(Timestamp::from_nanos(NOW.wall - 5_400_000_000_000)));
        assert_eq!(p("2020-03-27 10:00:00"), Ok(Timestamp::from_nanos(1_585_303_200_000_000_000)));
        assert_eq!(p("2020-03-27T10:00:00.5Z"), Ok(Timestamp::from_nanos(1_585_303_200_500_000_000)));
    }

    #[test]
    fn refuses_garbage_with_a_reason() {
        let p = |s| Timestamp::parse_as_of(s, NOW);
        assert!(matches!(p("yesterday"), Err(TimestampError::Unrecognised(_))));
        assert!(matches!(p(""), Err(TimestampError::Unrecognised(_))));
        assert!(matches!(p("10s"), Err(TimestampError::PositiveInterval(_))));
        assert!(matches!(p("1.12345678901"), Err(TimestampError::BadLogical(_))));
        assert!(matches!(p("-100000000h"), Err(TimestampError::BeforeEpoch(_))));
        assert!(matches!(p("-10parsecs"), Err(TimestampError::Unrecognised(_))));
    }

    #[test]
    fn next_and_prev_are_inverse() {
        assert_eq!(NOW.next().prev(), NOW);
        assert_eq!(Timestamp::from_nanos(5).prev().next(), Timestamp::from_nanos(5));
        assert!(NOW.next() > NOW && NOW.prev() < NOW);
    }
}
