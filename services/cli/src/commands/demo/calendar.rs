//! When reports fall due and were filed, and how reliably each unit reports on time.

use std::collections::BTreeSet;

use chrono::{Datelike, NaiveDate};
use duban_plan::PlanZone;
use duban_proto::common::v1 as common;

use crate::prng::SplitMix64;

/// Unix seconds of `hour:minute` in the plan's `zone` on the due day of `period` (day
/// `due_day` of the next month).
pub(crate) fn due_time(zone: PlanZone, period: &common::Period, due_day: i32, hour: u32, minute: u32) -> i64 {
    let (year, month) = if period.month == 12 {
        (period.year + 1, 1)
    } else {
        (period.year, period.month + 1)
    };
    let date = NaiveDate::from_ymd_opt(year, month as u32, due_day as u32).unwrap_or_default();
    zone.instant(date.and_hms_opt(hour, minute, 0).unwrap_or_default())
        .timestamp()
}

/// When a report was filed: on a working day before the due day, or a few days after it.
pub(crate) fn submit_time(
    zone: PlanZone,
    period: &common::Period,
    due_day: i32,
    late: bool,
    rng: &mut SplitMix64,
) -> prost_types::Timestamp {
    let due = due_time(zone, period, due_day, 0, 0);
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
    let weekday = chrono::DateTime::from_timestamp(seconds, 0)
        .map_or(0, |t| t.with_timezone(&zone.tz()).weekday().num_days_from_monday());
    if weekday >= 5 {
        let shift = if late {
            7 - i64::from(weekday)
        } else {
            4 - i64::from(weekday)
        };
        let shifted = seconds + shift * day;
        // Never before the month after the period began.
        if late || shifted >= due_time(zone, period, 1, 0, 0) {
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

    #[test]
    fn submit_times_fall_before_or_after_the_due_day() {
        let zone = PlanZone::default();
        let due_time = |period, due_day, hour, minute| due_time(zone, period, due_day, hour, minute);
        let submit_time = |period, due_day, late, rng: &mut SplitMix64| submit_time(zone, period, due_day, late, rng);
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
