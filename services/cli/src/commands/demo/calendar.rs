//! When reports fall due and were filed, and how reliably each unit reports on time.

use std::collections::BTreeSet;

use chrono::{Datelike, NaiveDate, TimeZone};
use duban_proto::common::v1 as common;

use crate::prng::SplitMix64;

/// Asia/Shanghai, where due days end.
fn shanghai() -> chrono::FixedOffset {
    chrono::FixedOffset::east_opt(8 * 3600).expect("+08:00 is a valid offset")
}

/// Every month from `from`'s to `to`'s.
pub(crate) fn months_between(from: &common::Date, to: &common::Date) -> Vec<common::Period> {
    let mut out = Vec::new();
    let (mut year, mut month) = (from.year, from.month);
    while (year, month) <= (to.year, to.month) {
        out.push(common::Period { year, month });
        (year, month) = if month == 12 { (year + 1, 1) } else { (year, month + 1) };
    }
    out
}

/// Unix seconds of `hour:minute` Shanghai time on the due day of `period` (day
/// `due_day` of the next month).
pub(crate) fn due_time(period: &common::Period, due_day: i32, hour: u32, minute: u32) -> i64 {
    let (year, month) = if period.month == 12 {
        (period.year + 1, 1)
    } else {
        (period.year, period.month + 1)
    };
    local_time(year, month, due_day, hour, minute)
}

fn local_time(year: i32, month: i32, day: i32, hour: u32, minute: u32) -> i64 {
    let date = NaiveDate::from_ymd_opt(year, month as u32, day as u32).unwrap_or_default();
    let time = date.and_hms_opt(hour, minute, 0).unwrap_or_default();
    shanghai()
        .from_local_datetime(&time)
        .single()
        .map_or(0, |t| t.timestamp())
}

/// When a report was filed: on a working day before the due day, or a few days after it.
pub(crate) fn submit_time(
    period: &common::Period,
    due_day: i32,
    late: bool,
    rng: &mut SplitMix64,
) -> prost_types::Timestamp {
    let due = due_time(period, due_day, 0, 0);
    let day = 24 * 3600;
    let hour = 9 + rng.below(9) as i64; // 09:00-17:59
    let minute = rng.below(60) as i64;
    let days = if late {
        1 + rng.below(8) as i64 // 1-8 days after the due day
    } else {
        -(rng.below(due_day.max(1) as usize) as i64) // the 1st to the due day itself
    };
    let mut seconds = due + days * day + hour * 3600 + minute * 60;
    // Weekends: the office files on the Friday before (or, when late, the Monday after).
    let weekday = shanghai()
        .timestamp_opt(seconds, 0)
        .single()
        .map_or(0, |t| t.weekday().num_days_from_monday());
    if weekday >= 5 {
        let shift = if late {
            7 - i64::from(weekday)
        } else {
            4 - i64::from(weekday)
        };
        let shifted = seconds + shift * day;
        // Never before the month after the period began.
        if late || shifted >= due_time(period, 1, 0, 0) {
            seconds = shifted;
        }
    }
    prost_types::Timestamp { seconds, nanos: 0 }
}

/// How reliably a unit reports.
pub(crate) struct UnitProfile {
    pub(crate) late_rate: f64,
    pub(crate) missing_months: BTreeSet<String>,
}

impl UnitProfile {
    pub(crate) fn new(seed: u64, unit: &str, months: &[String]) -> Self {
        let mut rng = SplitMix64::for_key(seed, &["unit-profile", unit]);
        let late_rate = if rng.chance(0.15) {
            rng.range(0.2, 0.4)
        } else {
            rng.range(0.02, 0.1)
        };
        let mut missing_months = BTreeSet::new();
        if rng.chance(0.2) {
            let count = 1 + rng.below(2);
            for month in rng.sample(months, count) {
                missing_months.insert(month);
            }
        }
        Self {
            late_rate,
            missing_months,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::report::period_text;

    #[test]
    fn months_run_from_the_start_to_the_end_month() {
        let months = months_between(
            &common::Date {
                year: 2023,
                month: 3,
                day: 3,
            },
            &common::Date {
                year: 2023,
                month: 12,
                day: 31,
            },
        );
        assert_eq!(months.len(), 10);
        assert_eq!(period_text(months.first()), "2023-03");
        assert_eq!(period_text(months.last()), "2023-12");
    }

    #[test]
    fn submit_times_fall_before_or_after_the_due_day() {
        let period = common::Period { year: 2023, month: 6 };
        let due_end = due_time(&period, 5, 0, 0) + 24 * 3600; // end of 2023-07-05
        let month_start = due_time(&period, 1, 0, 0);
        for i in 0..200 {
            let mut rng = SplitMix64::for_key(1, &["t", &i.to_string()]);
            let on_time = submit_time(&period, 5, false, &mut rng).seconds;
            assert!(on_time >= month_start && on_time < due_end, "{on_time}");
            let late = submit_time(&period, 5, true, &mut rng).seconds;
            assert!(late >= due_end, "{late}");
            assert!(late < due_end + 12 * 24 * 3600);
        }
        // 2023-07-05 00:00 in Shanghai is 2023-07-04 16:00 UTC.
        assert_eq!(due_time(&period, 5, 0, 0), 1_688_486_400);
    }
}
