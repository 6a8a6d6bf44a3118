//! Cron expressions of backup schedules, through the `croner` crate, evaluated against the
//! cluster's clock (a [`Timestamp`]'s wall time read as UTC), never the machine's.
//!
//! CockroachDB reads them with robfig/cron's standard parser: five fields (minute, hour, day of
//! month, month, day of week) or a descriptor (`@hourly`, `@daily`, `@weekly`, `@monthly`,
//! `@yearly`); no seconds field. croner is configured the same way.

use super::ScheduleError;
use chrono::{DateTime, Utc};
use croner::parser::{CronParser, Seconds};
use croner::Cron;
use model::Timestamp;
use std::time::Duration;

/// A parsed cron expression.
#[derive(Clone, Debug)]
pub struct Recurrence {
    expr: String,
    cron: Cron,
}

impl Recurrence {
    /// Parses `expr`, refusing it with CockroachDB's message.
    pub fn parse(expr: &str) -> Result<Recurrence, ScheduleError> {
        let parser = CronParser::builder().seconds(Seconds::Disallowed).build();
        let cron = parser.parse(expr.trim()).map_err(|_| ScheduleError::BadCron(expr.to_string()))?;
        let r = Recurrence { expr: expr.to_string(), cron };
        // An expression that never fires (`0 0 30 2 *`) is no schedule.
        if r.next_after(Timestamp::from_nanos(0)).is_none() {
            return Err(ScheduleError::BadCron(expr.to_string()));
        }
        Ok(r)
    }

    /// The expression as written.
    pub fn expr(&self) -> &str {
        &self.expr
    }

    /// The first time the expression fires strictly after `ts` (whole seconds, logical zero).
    pub fn next_after(&self, ts: Timestamp) -> Option<Timestamp> {
        let at = to_datetime(ts)?;
        let next = self.cron.find_next_occurrence(&at, false).ok()?;
        u64::try_from(next.timestamp_nanos_opt()?).ok().map(Timestamp::from_nanos)
    }

    /// The gap between the first two runs after `ts`: how CockroachDB picks a full backup
    /// cadence for a schedule that names none.
    pub fn frequency(&self, ts: Timestamp) -> Option<Duration> {
        let first = self.next_after(ts)?;
        let second = self.next_after(first)?;
        Some(Duration::from_nanos(second.wall - first.wall))
    }
}

/// `ts`'s wall time as a UTC date and time.
pub fn to_datetime(ts: Timestamp) -> Option<DateTime<Utc>> {
    i64::try_from(ts.wall).ok().map(DateTime::from_timestamp_nanos)
}

/// `ts` printed as SHOW SCHEDULES prints times (`2024-05-01 00:00:00+00:00`).
pub fn show_time(ts: Timestamp) -> String {
    to_datetime(ts).map(|d| d.format("%Y-%m-%d %H:%M:%S%:z").to_string()).unwrap_or_else(|| ts.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        let d = DateTime::parse_from_rfc3339(text).unwrap();
        Timestamp::from_nanos(d.timestamp_nanos_opt().unwrap() as u64)
    }

    #[test]
    fn descriptors_fire_as_cockroachdbs_do() {
        let t = at("2024-05-01T10:30:00Z");
        assert_eq!(Recurrence::parse("@hourly").unwrap().next_after(t), Some(at("2024-05-01T11:00:00Z")));
        assert_eq!(Recurrence::parse("@daily").unwrap().next_after(t), Some(at("2024-05-02T00:00:00Z")));
        // 2024-05-01 is a Wednesday: @weekly is Sunday midnight.
        assert_eq!(Recurrence::parse("@weekly").unwrap().next_after(t), Some(at("2024-05-05T00:00:00Z")));
        assert_eq!(Recurrence::parse("*/15 * * * *").unwrap().next_after(t), Some(at("2024-05-01T10:45:00Z")));
        assert_eq!(Recurrence::parse("@daily").unwrap().frequency(t), Some(Duration::from_secs(86_400)));
    }

    #[test]
    fn next_is_strictly_after_even_on_a_firing_time() {
        let t = at("2024-05-02T00:00:00Z");
        assert_eq!(Recurrence::parse("@daily").unwrap().next_after(t), Some(at("2024-05-03T00:00:00Z")));
    }

    #[test]
    fn bad_expressions_are_refused_with_cockroachdbs_words() {
        for bad in ["garbage", "* * * *", "0 0 0 * * *", "61 * * * *", "@fortnightly", ""] {
            let e = Recurrence::parse(bad).unwrap_err();
            assert_eq!(e.to_string(), format!("error parsing schedule expression: {bad:?}; it must be a valid cron expression"));
        }
    }
}
