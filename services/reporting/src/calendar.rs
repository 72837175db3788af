//! Months, due dates and days in Asia/Shanghai (UTC+8, no daylight saving): the pure
//! calendar the reports, compliance and progress rules are written in.

use chrono::{Datelike, FixedOffset, NaiveDate, TimeZone, Utc};
use duban_proto::common::v1 as common;

/// Asia/Shanghai is UTC+8 all year.
const SHANGHAI_SECONDS: i32 = 8 * 3600;

fn shanghai() -> FixedOffset {
    FixedOffset::east_opt(SHANGHAI_SECONDS).expect("a valid offset")
}

/// A calendar month, the reporting period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    /// Year.
    pub year: i32,
    /// 1-12.
    pub month: u32,
}

impl Month {
    /// A month, if `month` is 1-12.
    pub fn new(year: i32, month: u32) -> Option<Month> {
        (1..=12).contains(&month).then_some(Month { year, month })
    }

    /// From the contract; `None` if unset or invalid.
    pub fn from_proto(period: Option<&common::Period>) -> Option<Month> {
        let period = period?;
        Month::new(period.year, u32::try_from(period.month).ok()?)
    }

    /// The contract form.
    pub fn to_proto(self) -> common::Period {
        common::Period {
            year: self.year,
            month: self.month as i32,
        }
    }

    /// `YYYY-MM`, as stored and as it appears in resource names.
    pub fn key(self) -> String {
        format!("{:04}-{:02}", self.year, self.month)
    }

    /// Parses `YYYY-MM`.
    pub fn parse(text: &str) -> Option<Month> {
        let (year, month) = text.split_once('-')?;
        if year.len() != 4 || month.len() != 2 {
            return None;
        }
        Month::new(year.parse().ok()?, month.parse().ok()?)
    }

    /// The month after.
    pub fn next(self) -> Month {
        if self.month == 12 {
            Month {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Month {
                year: self.year,
                month: self.month + 1,
            }
        }
    }

    /// Its first day.
    pub fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.month, 1).expect("a valid month")
    }

    /// Its last day.
    pub fn last_day(self) -> NaiveDate {
        self.next().first_day().pred_opt().expect("a day before")
    }

    /// The month a day is in.
    pub fn of(date: NaiveDate) -> Month {
        Month {
            year: date.year(),
            month: date.month(),
        }
    }
}

/// How often reports are filed and when they are due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cadence {
    /// Quarterly reports, keyed by the quarter's last month; monthly otherwise.
    pub quarterly: bool,
    /// Day of the following month the report is due, 1-28.
    pub due_day: u32,
}

impl Cadence {
    /// The reporting periods between two days: every month (or quarter-end month)
    /// that overlaps them, oldest first.
    pub fn periods(&self, from: NaiveDate, to: NaiveDate) -> Vec<Month> {
        let (mut month, last) = (Month::of(from), Month::of(to));
        let mut out = Vec::new();
        while month <= last {
            if !self.quarterly || month.month % 3 == 0 {
                out.push(month);
            }
            month = month.next();
        }
        out
    }

    /// The day the report for `period` is due: day `due_day` of the next month.
    pub fn due_date(&self, period: Month) -> NaiveDate {
        let day = self.due_day.clamp(1, 28);
        NaiveDate::from_ymd_opt(period.next().year, period.next().month, day).expect("a valid day")
    }
}

/// The first microsecond after the end of `date` in Asia/Shanghai.
pub fn end_of_day_us(date: NaiveDate) -> i64 {
    let next = date.succ_opt().unwrap_or(date);
    shanghai()
        .from_local_datetime(&next.and_hms_opt(0, 0, 0).expect("midnight"))
        .single()
        .expect("a fixed offset is never ambiguous")
        .timestamp_micros()
}

/// The first microsecond of `date` in Asia/Shanghai.
pub fn start_of_day_us(date: NaiveDate) -> i64 {
    end_of_day_us(date.pred_opt().unwrap_or(date))
}

/// Today in Asia/Shanghai.
pub fn today() -> NaiveDate {
    Utc::now().with_timezone(&shanghai()).date_naive()
}

/// The Shanghai day of a time.
pub fn day_of_us(time_us: i64) -> NaiveDate {
    let utc = chrono::DateTime::from_timestamp_micros(time_us).unwrap_or_default();
    utc.with_timezone(&shanghai()).date_naive()
}

/// A contract date as a day; `None` if invalid.
pub fn date_from_proto(date: &common::Date) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(
        date.year,
        u32::try_from(date.month).ok()?,
        u32::try_from(date.day).ok()?,
    )
}

/// A day as a contract date.
pub fn date_to_proto(date: NaiveDate) -> common::Date {
    common::Date {
        year: date.year(),
        month: date.month() as i32,
        day: date.day() as i32,
    }
}

/// `YYYY-MM-DD`.
pub fn date_key(date: NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

/// Parses `YYYY-MM-DD`.
pub fn parse_date(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn periods_and_due_dates_follow_the_cadence() {
        let monthly = Cadence {
            quarterly: false,
            due_day: 5,
        };
        let periods = monthly.periods(day(2023, 3, 3), day(2023, 12, 31));
        assert_eq!(periods.len(), 10);
        assert_eq!(periods[0].key(), "2023-03");
        assert_eq!(monthly.due_date(Month::new(2023, 3).unwrap()), day(2023, 4, 5));
        assert_eq!(monthly.due_date(Month::new(2023, 12).unwrap()), day(2024, 1, 5));
        let quarterly = Cadence {
            quarterly: true,
            due_day: 10,
        };
        let keys: Vec<_> = quarterly
            .periods(day(2023, 3, 3), day(2023, 12, 31))
            .into_iter()
            .map(Month::key)
            .collect();
        assert_eq!(keys, ["2023-03", "2023-06", "2023-09", "2023-12"]);
    }

    #[test]
    fn days_end_at_shanghai_midnight() {
        let end = end_of_day_us(day(2023, 4, 5));
        // 2023-04-06T00:00+08:00 is 2023-04-05T16:00Z.
        assert_eq!(
            end,
            Utc.with_ymd_and_hms(2023, 4, 5, 16, 0, 0).unwrap().timestamp_micros()
        );
        assert_eq!(day_of_us(end - 1), day(2023, 4, 5));
        assert_eq!(day_of_us(end), day(2023, 4, 6));
        assert_eq!(Month::parse("2023-04"), Month::new(2023, 4));
        assert_eq!(Month::parse("2023-4"), None);
    }
}
