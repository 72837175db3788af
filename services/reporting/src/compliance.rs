//! Compliance arithmetic (pure): where one expected report stands on a day, a period's
//! worst status, and DHIS2's rates (reporting rate = received / expected; on-time rate
//! = received by the due date / expected).

use chrono::NaiveDate;
use duban_proto::reporting::v1::ComplianceStatus;

use crate::calendar::{Month, PlanZone};

/// Where the report for `period` (due on `due`) stands at the end of `as_of` in the
/// plan's `zone`, given when its first revision was submitted.
pub fn status(
    zone: PlanZone,
    period: Month,
    due: NaiveDate,
    as_of: NaiveDate,
    first_submit_us: Option<i64>,
) -> ComplianceStatus {
    match first_submit_us.filter(|at| *at < zone.end_of_day_us(as_of)) {
        Some(at) if at < zone.end_of_day_us(due) => ComplianceStatus::OnTime,
        Some(_) => ComplianceStatus::Late,
        None if as_of <= period.last_day() => ComplianceStatus::NotDue,
        None if as_of <= due => ComplianceStatus::Expected,
        None => ComplianceStatus::Missing,
    }
}

/// Whether a report due on `due` counts in the rates on `as_of`: its due day is before.
pub fn counts(due: NaiveDate, as_of: NaiveDate) -> bool {
    due < as_of
}

/// The worst of several statuses: MISSING, LATE, EXPECTED, NOT_DUE, ON_TIME.
pub fn worst(statuses: impl IntoIterator<Item = ComplianceStatus>) -> ComplianceStatus {
    let rank = |s: &ComplianceStatus| match s {
        ComplianceStatus::Missing => 0,
        ComplianceStatus::Late => 1,
        ComplianceStatus::Expected => 2,
        ComplianceStatus::NotDue => 3,
        ComplianceStatus::OnTime => 4,
        ComplianceStatus::Unspecified => 5,
    };
    statuses
        .into_iter()
        .min_by_key(rank)
        .unwrap_or(ComplianceStatus::NotDue)
}

/// Tallies of expected, received and on-time reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Reports expected (due day before `as_of`).
    pub expected: i32,
    /// Of those, received.
    pub received: i32,
    /// Of those, received on time.
    pub on_time: i32,
}

impl Tally {
    /// Counts one report, if it counts.
    pub fn add(&mut self, status: ComplianceStatus, due: NaiveDate, as_of: NaiveDate) {
        if !counts(due, as_of) {
            return;
        }
        self.expected += 1;
        match status {
            ComplianceStatus::OnTime => {
                self.received += 1;
                self.on_time += 1;
            }
            ComplianceStatus::Late => self.received += 1,
            _ => {}
        }
    }

    /// Adds another tally.
    pub fn merge(&mut self, other: Tally) {
        self.expected += other.expected;
        self.received += other.received;
        self.on_time += other.on_time;
    }

    /// Reporting rate in percent; `None` when nothing is expected.
    pub fn reporting_rate(&self) -> Option<f64> {
        (self.expected > 0).then(|| 100.0 * f64::from(self.received) / f64::from(self.expected))
    }

    /// On-time rate in percent; `None` when nothing is expected.
    pub fn on_time_rate(&self) -> Option<f64> {
        (self.expected > 0).then(|| 100.0 * f64::from(self.on_time) / f64::from(self.expected))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::Cadence;

    fn day(m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2023, m, d).unwrap()
    }

    /// A small calendar: monthly, due on the 5th; March, April and May reports, seen on
    /// 2023-05-20.
    #[test]
    fn a_small_calendar() {
        let cadence = Cadence::monthly(5);
        let status = |period, due, as_of, first| status(cadence.zone, period, due, as_of, first);
        let as_of = day(5, 20);
        let march = Month::new(2023, 3).unwrap();
        let april = Month::new(2023, 4).unwrap();
        let may = Month::new(2023, 5).unwrap();
        let at = |d: NaiveDate| cadence.zone.start_of_day_us(d) + 3_600_000_000;
        // March filed on 4-05 (on time), April filed on 5-07 (late), May not due yet.
        let s_march = status(march, cadence.due_date(march), as_of, Some(at(day(4, 5))));
        let s_april = status(april, cadence.due_date(april), as_of, Some(at(day(5, 7))));
        let s_may = status(may, cadence.due_date(may), as_of, None);
        assert_eq!(
            (s_march, s_april, s_may),
            (
                ComplianceStatus::OnTime,
                ComplianceStatus::Late,
                ComplianceStatus::NotDue
            )
        );
        // April unfiled: EXPECTED on 5-03, MISSING on 5-06; filed after as_of: not received.
        assert_eq!(
            status(april, cadence.due_date(april), day(5, 3), None),
            ComplianceStatus::Expected
        );
        assert_eq!(
            status(april, cadence.due_date(april), day(5, 6), None),
            ComplianceStatus::Missing
        );
        assert_eq!(
            status(april, cadence.due_date(april), day(5, 6), Some(at(day(5, 7)))),
            ComplianceStatus::Missing
        );
        let mut tally = Tally::default();
        for (s, p) in [(s_march, march), (s_april, april), (s_may, may)] {
            tally.add(s, cadence.due_date(p), as_of);
        }
        assert_eq!(
            tally,
            Tally {
                expected: 2,
                received: 2,
                on_time: 1
            }
        );
        assert_eq!(tally.reporting_rate(), Some(100.0));
        assert_eq!(tally.on_time_rate(), Some(50.0));
        assert_eq!(Tally::default().reporting_rate(), None);
        assert_eq!(worst([s_march, s_april, s_may]), ComplianceStatus::Late);
    }
}
