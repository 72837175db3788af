//! Dates and reporting periods as the plan defines them: the plan's periods, the last
//! day of a period, its due day, and "today" in Asia/Shanghai.

use chrono::{Datelike, Duration, FixedOffset, NaiveDate, Utc};
use duban_proto::{
    common::v1::{Date, Period},
    measures::v1::{Plan, ReportingFrequency},
};

/// Today in Asia/Shanghai (UTC+8 all year).
pub fn today() -> NaiveDate {
    let offset = FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| FixedOffset::east_opt(0).unwrap());
    Utc::now().with_timezone(&offset).date_naive()
}

/// A contract date as a calendar date, if valid.
pub fn to_naive(date: &Date) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(
        date.year,
        u32::try_from(date.month).ok()?,
        u32::try_from(date.day).ok()?,
    )
}

/// A calendar date as a contract date.
pub fn to_date(date: NaiveDate) -> Date {
    Date {
        year: date.year(),
        month: date.month() as i32,
        day: date.day() as i32,
    }
}

/// The month a date falls in.
pub fn period_of(date: NaiveDate) -> Period {
    Period {
        year: date.year(),
        month: date.month() as i32,
    }
}

/// The last day of a month.
pub fn period_end(period: &Period) -> Option<NaiveDate> {
    let (year, month) = if period.month >= 12 {
        (period.year + 1, 1)
    } else {
        (period.year, period.month + 1)
    };
    Some(NaiveDate::from_ymd_opt(year, u32::try_from(month).ok()?, 1)? - Duration::days(1))
}

/// `YYYY-MM`.
pub fn period_label(period: &Period) -> String {
    format!("{:04}-{:02}", period.year, period.month)
}

/// `YYYY-MM-DD`.
pub fn date_label(date: &Date) -> String {
    format!("{:04}-{:02}-{:02}", date.year, date.month, date.day)
}

/// A comparable key of a period.
pub fn period_key(period: &Period) -> i32 {
    period.year * 12 + period.month - 1
}

fn from_key(key: i32) -> Period {
    Period {
        year: key.div_euclid(12),
        month: key.rem_euclid(12) + 1,
    }
}

/// The plan's reporting periods, oldest first: every month from the one containing
/// `effective_from` to the one containing `effective_to` (only quarter-end months for
/// QUARTERLY plans).
pub fn plan_periods(plan: &Plan) -> Vec<Period> {
    let (Some(from), Some(to)) = (
        plan.effective_from.as_ref().and_then(to_naive),
        plan.effective_to.as_ref().and_then(to_naive),
    ) else {
        return Vec::new();
    };
    let quarterly = plan
        .cadence
        .as_ref()
        .is_some_and(|c| c.frequency == ReportingFrequency::Quarterly as i32);
    let (first, last) = (period_key(&period_of(from)), period_key(&period_of(to)));
    let mut last_key = last;
    if quarterly {
        last_key = last + (2 - last.rem_euclid(12) % 3);
    }
    (first..=last_key)
        .map(from_key)
        .filter(|p| !quarterly || p.month % 3 == 0)
        .collect()
}

/// The day a period's report is due: day `due_day` of the following month.
pub fn due_date(plan: &Plan, period: &Period) -> Option<NaiveDate> {
    let due_day = plan.cadence.as_ref().map_or(5, |c| c.due_day).clamp(1, 28);
    let next = from_key(period_key(period) + 1);
    NaiveDate::from_ymd_opt(next.year, u32::try_from(next.month).ok()?, due_day as u32)
}

/// Whether the first reporting period's due day has passed by `as_of`.
pub fn first_due_passed(plan: &Plan, as_of: NaiveDate) -> bool {
    plan_periods(plan)
        .first()
        .and_then(|first| due_date(plan, first))
        .is_some_and(|due| due < as_of)
}

/// Parses `YYYY-MM-DD`.
pub fn parse_date(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").ok()
}

#[cfg(test)]
mod tests {
    use duban_proto::measures::v1::ReportingCadence;

    use super::*;

    fn plan(frequency: ReportingFrequency) -> Plan {
        Plan {
            effective_from: Some(Date {
                year: 2023,
                month: 3,
                day: 3,
            }),
            effective_to: Some(Date {
                year: 2023,
                month: 12,
                day: 31,
            }),
            cadence: Some(ReportingCadence {
                frequency: frequency as i32,
                due_day: 5,
            }),
            ..Plan::default()
        }
    }

    #[test]
    fn monthly_and_quarterly_periods_and_due_days() {
        let monthly = plan_periods(&plan(ReportingFrequency::Monthly));
        assert_eq!(monthly.len(), 10);
        assert_eq!(period_label(&monthly[0]), "2023-03");
        let quarterly: Vec<_> = plan_periods(&plan(ReportingFrequency::Quarterly))
            .iter()
            .map(period_label)
            .collect();
        assert_eq!(quarterly, ["2023-03", "2023-06", "2023-09", "2023-12"]);
        let p = plan(ReportingFrequency::Monthly);
        assert_eq!(due_date(&p, &monthly[9]), NaiveDate::from_ymd_opt(2024, 1, 5));
        assert!(!first_due_passed(&p, NaiveDate::from_ymd_opt(2023, 4, 5).unwrap()));
        assert!(first_due_passed(&p, NaiveDate::from_ymd_opt(2023, 4, 6).unwrap()));
        assert_eq!(period_end(&monthly[9]), NaiveDate::from_ymd_opt(2023, 12, 31));
    }
}
