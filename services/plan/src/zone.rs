//! The plan's time zone: where its days, due dates and "today" begin and end.

use std::{fmt, str::FromStr, time::Duration};

use chrono::{DateTime, NaiveDate, NaiveDateTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;

use crate::PlanError;

/// The zone a stored plan is read in when it names none: plans imported before the
/// contract carried `time_zone` were all Jiading's, which keeps Shanghai time.
pub const LEGACY_TIME_ZONE: &str = "Asia/Shanghai";

/// An IANA time zone, as a plan names it (`Asia/Shanghai`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PlanZone(Tz);

impl Default for PlanZone {
    /// [`LEGACY_TIME_ZONE`].
    fn default() -> Self {
        Self(Tz::Asia__Shanghai)
    }
}

impl fmt::Display for PlanZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.name())
    }
}

impl FromStr for PlanZone {
    type Err = PlanError;

    /// An IANA name; anything else is [`PlanError::UnknownTimeZone`].
    fn from_str(name: &str) -> Result<Self, PlanError> {
        Tz::from_str(name)
            .map(Self)
            .map_err(|_| PlanError::UnknownTimeZone(name.to_owned()))
    }
}

impl PlanZone {
    /// The zone of a plan as the contract carries it: empty means a plan stored before
    /// the field existed, read in [`LEGACY_TIME_ZONE`].
    pub fn from_contract(name: &str) -> Result<Self, PlanError> {
        if name.is_empty() {
            Ok(Self::default())
        } else {
            name.parse()
        }
    }

    /// Its IANA name.
    pub fn name(self) -> &'static str {
        self.0.name()
    }

    /// The chrono zone, to format times.
    pub fn tz(self) -> Tz {
        self.0
    }

    /// Today in this zone.
    pub fn today(self) -> NaiveDate {
        self.day_of(Utc::now())
    }

    /// The day an instant falls on in this zone.
    pub fn day_of(self, instant: DateTime<Utc>) -> NaiveDate {
        instant.with_timezone(&self.0).date_naive()
    }

    /// The day a time in Unix microseconds falls on in this zone.
    pub fn day_of_us(self, time_us: i64) -> NaiveDate {
        self.day_of(DateTime::from_timestamp_micros(time_us).unwrap_or_default())
    }

    /// The instant a local wall-clock time happens. A time skipped by a clock change
    /// counts from the offset before the change, so every local time has an instant.
    pub fn instant(self, local: NaiveDateTime) -> DateTime<Utc> {
        match self.0.from_local_datetime(&local) {
            chrono::LocalResult::Single(at) | chrono::LocalResult::Ambiguous(at, _) => at.with_timezone(&Utc),
            chrono::LocalResult::None => {
                let offset = self.0.offset_from_utc_datetime(&local).fix();
                DateTime::from_naive_utc_and_offset(local - offset, Utc)
            }
        }
    }

    /// The first microsecond of `date` in this zone.
    pub fn start_of_day_us(self, date: NaiveDate) -> i64 {
        self.instant(date.and_time(chrono::NaiveTime::MIN)).timestamp_micros()
    }

    /// The first microsecond after the end of `date` in this zone.
    pub fn end_of_day_us(self, date: NaiveDate) -> i64 {
        self.start_of_day_us(date.succ_opt().unwrap_or(date))
    }

    /// How long from `now` until the next midnight in this zone.
    pub fn until_next_midnight(self, now: DateTime<Utc>) -> Duration {
        let tomorrow = self.day_of(now).succ_opt().unwrap_or(NaiveDate::MAX);
        let midnight = self.instant(tomorrow.and_time(chrono::NaiveTime::MIN));
        (midnight - now).to_std().unwrap_or(Duration::from_secs(60))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn days_end_at_shanghai_midnight() {
        let zone = PlanZone::default();
        let end = zone.end_of_day_us(day(2023, 4, 5));
        // 2023-04-06T00:00+08:00 is 2023-04-05T16:00Z.
        assert_eq!(
            end,
            Utc.with_ymd_and_hms(2023, 4, 5, 16, 0, 0).unwrap().timestamp_micros()
        );
        assert_eq!(zone.day_of_us(end - 1), day(2023, 4, 5));
        assert_eq!(zone.day_of_us(end), day(2023, 4, 6));
        assert_eq!(zone.start_of_day_us(day(2023, 4, 6)), end);
    }

    #[test]
    fn zones_are_iana_names_and_empty_is_the_legacy_zone() {
        assert_eq!("Asia/Shanghai".parse::<PlanZone>().unwrap(), PlanZone::default());
        assert_eq!(PlanZone::from_contract("").unwrap().name(), LEGACY_TIME_ZONE);
        assert!(matches!(
            "Mars/Olympus".parse::<PlanZone>(),
            Err(PlanError::UnknownTimeZone(name)) if name == "Mars/Olympus"
        ));
        assert!(PlanZone::from_contract("UTC+8").is_err());
    }

    #[test]
    fn midnight_follows_the_zone_and_its_clock_changes() {
        let shanghai = PlanZone::default();
        let now = Utc.with_ymd_and_hms(2023, 4, 5, 15, 0, 0).unwrap();
        assert_eq!(shanghai.until_next_midnight(now), Duration::from_secs(3600));
        // Berlin's clocks go forward on 2023-03-26: that day has 23 hours.
        let berlin: PlanZone = "Europe/Berlin".parse().unwrap();
        let start = berlin.start_of_day_us(day(2023, 3, 26));
        assert_eq!(berlin.end_of_day_us(day(2023, 3, 26)) - start, 23 * 3_600_000_000);
    }
}
