//! A key's budget: an amount of credit per period (a UTC day, a UTC month, or in total). What a
//! key has spent is the sum of the credits of its usage records that started inside the current
//! window: from the later of the period's start and the moment the budget was set.

use chrono::{Datelike, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::money::NanoCredits;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BudgetPeriod {
    Day,
    Month,
    Total,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("budget period must be day, month or total, not {0:?}")]
pub struct BadPeriod(pub String);

impl BudgetPeriod {
    pub fn as_str(self) -> &'static str {
        match self {
            BudgetPeriod::Day => "day",
            BudgetPeriod::Month => "month",
            BudgetPeriod::Total => "total",
        }
    }

    pub fn parse(s: &str) -> Result<BudgetPeriod, BadPeriod> {
        match s.trim().to_ascii_lowercase().as_str() {
            "day" | "daily" => Ok(BudgetPeriod::Day),
            "month" | "monthly" => Ok(BudgetPeriod::Month),
            "total" => Ok(BudgetPeriod::Total),
            _ => Err(BadPeriod(s.to_owned())),
        }
    }

    /// Start of the period containing `now_ms` (Unix ms, UTC); `i64::MIN` for `Total`.
    pub fn start(self, now_ms: i64) -> i64 {
        let Some(now) = Utc.timestamp_millis_opt(now_ms).single() else { return i64::MIN };
        let start = match self {
            BudgetPeriod::Total => return i64::MIN,
            BudgetPeriod::Day => now.date_naive().and_hms_opt(0, 0, 0),
            BudgetPeriod::Month => now.date_naive().with_day(1).and_then(|d| d.and_hms_opt(0, 0, 0)),
        };
        start.map_or(i64::MIN, |s| s.and_utc().timestamp_millis())
    }
}

/// A key's spending limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Budget {
    pub limit: NanoCredits,
    pub period: BudgetPeriod,
    /// When the budget was first set (Unix ms): spending before it does not count.
    pub since_ms: i64,
}

impl Budget {
    /// Start of the window spending is counted in at `now_ms`.
    pub fn window_start(&self, now_ms: i64) -> i64 {
        self.period.start(now_ms).max(self.since_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(s).map(|t| t.timestamp_millis()).unwrap()
    }

    #[test]
    fn days_and_months_roll_over_at_utc_midnight() {
        let before = ms("2026-01-31T23:59:59.999Z");
        let after = ms("2026-02-01T00:00:00Z");
        assert_eq!(BudgetPeriod::Day.start(before), ms("2026-01-31T00:00:00Z"));
        assert_eq!(BudgetPeriod::Day.start(after), after);
        assert_eq!(BudgetPeriod::Month.start(before), ms("2026-01-01T00:00:00Z"));
        assert_eq!(BudgetPeriod::Month.start(after), after);
        assert_eq!(BudgetPeriod::Month.start(ms("2028-02-29T12:00:00Z")), ms("2028-02-01T00:00:00Z"));
        // A local offset does not move the boundary: it is UTC.
        assert_eq!(BudgetPeriod::Day.start(ms("2026-03-01T01:30:00+02:00")), ms("2026-02-28T00:00:00Z"));
        assert_eq!(BudgetPeriod::Total.start(after), i64::MIN);
    }

    #[test]
    fn the_window_starts_no_earlier_than_the_budget() {
        let b = Budget { limit: NanoCredits(1), period: BudgetPeriod::Day, since_ms: ms("2026-05-05T10:00:00Z") };
        assert_eq!(b.window_start(ms("2026-05-05T11:00:00Z")), b.since_ms);
        assert_eq!(b.window_start(ms("2026-05-06T11:00:00Z")), ms("2026-05-06T00:00:00Z"));
        let total = Budget { period: BudgetPeriod::Total, ..b };
        assert_eq!(total.window_start(ms("2027-01-01T00:00:00Z")), b.since_ms);
    }

    #[test]
    fn periods_parse() {
        assert_eq!(BudgetPeriod::parse("Month"), Ok(BudgetPeriod::Month));
        assert!(BudgetPeriod::parse("week").is_err());
    }
}
