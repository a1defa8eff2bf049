//! Usage counting shared by the front (which charges it) and the admin (which reports it):
//! quota periods, their labels in the counters table, and a plan's allowance per period.
//!
//! Periods are UTC: a day from midnight, a week from Monday (ISO weeks), a month from the
//! 1st. A plan's `offset` counts as used in the period the plan was created in.

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};

use crate::records::{Quota, QuotaPeriod};

/// The counters-table partition of an API key's usage in a plan.
pub fn usage_counter(plan_id: &str, key_id: &str) -> String {
    format!("u#{plan_id}#{key_id}")
}

/// Daily usage stays readable this long after its day (API Gateway reports 90 days).
pub const USAGE_RETENTION_DAYS: i64 = 90;

/// One period of a quota or of usage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    /// The counter's sort key: `D#2026-11-22`, `W#2026-11-16`, `M#2026-11`.
    pub label: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// The start of `date`, UTC.
pub fn midnight(date: NaiveDate) -> DateTime<Utc> {
    Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0).unwrap_or_default())
}

/// The period of `kind` that holds `at`.
pub fn period(kind: QuotaPeriod, at: DateTime<Utc>) -> Period {
    let day = at.date_naive();
    match kind {
        QuotaPeriod::Day => Period {
            label: format!("D#{}", day.format("%Y-%m-%d")),
            start: midnight(day),
            end: midnight(day) + Duration::days(1),
        },
        QuotaPeriod::Week => {
            let monday = day - Duration::days(i64::from(day.weekday().num_days_from_monday()));
            Period {
                label: format!("W#{}", monday.format("%Y-%m-%d")),
                start: midnight(monday),
                end: midnight(monday) + Duration::weeks(1),
            }
        }
        QuotaPeriod::Month => {
            let first = day.with_day(1).unwrap_or(day);
            let next = if first.month() == 12 {
                NaiveDate::from_ymd_opt(first.year() + 1, 1, 1)
            } else {
                NaiveDate::from_ymd_opt(first.year(), first.month() + 1, 1)
            }
            .unwrap_or(first);
            Period {
                label: format!("M#{}", first.format("%Y-%m")),
                start: midnight(first),
                end: midnight(next),
            }
        }
    }
}

/// What the quota allows in `current`: its limit, less the offset in the plan's first period.
pub fn allowance(quota: &Quota, current: &Period, plan_created: Option<DateTime<Utc>>) -> u64 {
    let first_period = plan_created.is_some_and(|c| c >= current.start && c < current.end);
    if first_period {
        quota.limit.saturating_sub(quota.offset)
    } else {
        quota.limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("a time")
            .with_timezone(&Utc)
    }

    #[test]
    fn periods_are_utc_days_iso_weeks_and_months() {
        let t = at("2026-11-22T23:59:59Z");
        let day = period(QuotaPeriod::Day, t);
        assert_eq!(day.label, "D#2026-11-22");
        assert_eq!(day.end, at("2026-11-23T00:00:00Z"));
        let week = period(QuotaPeriod::Week, t);
        assert_eq!(week.label, "W#2026-11-16", "2026-11-22 is a Sunday");
        assert_eq!(week.end, at("2026-11-23T00:00:00Z"));
        let month = period(QuotaPeriod::Month, at("2026-12-31T12:00:00Z"));
        assert_eq!(month.label, "M#2026-12");
        assert_eq!(month.end, at("2027-01-01T00:00:00Z"));
        assert_eq!(
            period(QuotaPeriod::Week, at("2026-11-23T00:00:00Z")).label,
            "W#2026-11-23"
        );
    }

    #[test]
    fn the_offset_counts_only_in_the_plans_first_period() {
        let quota = Quota {
            limit: 1_000,
            period: QuotaPeriod::Month,
            offset: 300,
        };
        let november = period(QuotaPeriod::Month, at("2026-11-22T10:00:00Z"));
        let created = Some(at("2026-11-02T08:00:00Z"));
        assert_eq!(allowance(&quota, &november, created), 700);
        let december = period(QuotaPeriod::Month, at("2026-12-01T00:00:00Z"));
        assert_eq!(allowance(&quota, &december, created), 1_000);
    }
}
