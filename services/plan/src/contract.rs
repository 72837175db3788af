//! Dates and periods between the contract (`duban.common.v1.Date`, `Period`) and chrono,
//! and their text forms (`YYYY-MM-DD`, `YYYY-MM`).

use chrono::{Datelike, NaiveDate};
use duban_proto::common::v1::{Date, Period};

use crate::calendar::Month;

/// A contract date as a calendar date; `None` if it is not a real day.
pub fn date_from_proto(date: &Date) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(
        date.year,
        u32::try_from(date.month).ok()?,
        u32::try_from(date.day).ok()?,
    )
}

/// A calendar date as a contract date.
pub fn date_to_proto(date: NaiveDate) -> Date {
    Date {
        year: date.year(),
        month: date.month() as i32,
        day: date.day() as i32,
    }
}

/// `YYYY-MM-DD`.
pub fn date_key(date: NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

/// Parses `YYYY-MM-DD` (surrounding blanks allowed).
pub fn parse_date(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").ok()
}

/// A contract date as `YYYY-MM-DD`, whether or not it is a real day.
pub fn date_label(date: &Date) -> String {
    format!("{:04}-{:02}-{:02}", date.year, date.month, date.day)
}

/// The contract period (month) a date falls in.
pub fn period_of(date: NaiveDate) -> Period {
    Month::of(date).to_proto()
}

/// The last day of a contract period; `None` if it is not a real month.
pub fn period_end(period: &Period) -> Option<NaiveDate> {
    Month::from_proto(Some(period)).map(Month::last_day)
}

/// A contract period as `YYYY-MM`, whether or not it is a real month.
pub fn period_label(period: &Period) -> String {
    format!("{:04}-{:02}", period.year, period.month)
}

/// A number that orders contract periods (months since year 0).
pub fn period_key(period: &Period) -> i32 {
    period.year * 12 + period.month - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_periods_round_trip_and_reject_what_is_not_a_day() {
        let day = NaiveDate::from_ymd_opt(2023, 3, 3).unwrap();
        assert_eq!(date_from_proto(&date_to_proto(day)), Some(day));
        let bad = Date {
            year: 2023,
            month: 2,
            day: 30,
        };
        assert_eq!(date_from_proto(&bad), None);
        assert_eq!(date_label(&bad), "2023-02-30");
        assert_eq!(date_key(day), "2023-03-03");
        assert_eq!(parse_date(" 2023-03-03 "), Some(day));
        let december = Period { year: 2023, month: 12 };
        assert_eq!(period_end(&december), NaiveDate::from_ymd_opt(2023, 12, 31));
        assert_eq!(period_end(&Period { year: 2023, month: 13 }), None);
        assert_eq!(period_label(&december), "2023-12");
        assert_eq!(period_of(day), Period { year: 2023, month: 3 });
        assert!(period_key(&december) < period_key(&Period { year: 2024, month: 1 }));
    }
}
