//! The trajectory a target is expected to follow, as pure functions of its figures: no
//! database, no network. The targets service answers `GetTrajectory` with it and the
//! gateway draws and judges the dashboard with it, so the two cannot disagree.
//!
//! The trajectory runs linearly, by calendar day, from the start value on the plan's
//! first day through each milestone (its value on the last day of its period) to the
//! target value on the deadline. Before the start it is the start value; on and after
//! the deadline it is the target value. It is flat at the target value for AT_MOST
//! targets and for SNAPSHOT targets without a baseline. Everything is exact decimal
//! arithmetic; an interpolated value is rounded half away from zero to
//! [`INTERPOLATED_PLACES`] places.

use chrono::NaiveDate;
use duban_proto::{common::v1 as common, decimal, targets::v1 as tpb};
use rust_decimal::{Decimal, RoundingStrategy};

use crate::{calendar::Month, contract};

/// The decimal places an interpolated value is rounded to (start, milestone and target
/// values are exact).
pub const INTERPOLATED_PLACES: u32 = 4;

/// Why a point has its value (mirrors `TrajectoryPointSource`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PointSource {
    /// Before the plan's start: the start value.
    BeforeStart,
    /// Interpolated between the start, milestones and the deadline.
    Linear,
    /// The last day of a milestone's period: the milestone's value.
    Milestone,
    /// A flat trajectory: the target value.
    Flat,
    /// On or after the deadline: the target value.
    Deadline,
}

/// An explicit expected value at the end of one month.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MilestoneValue {
    /// Year of the period.
    pub year: i32,
    /// Month of the period, 1-12.
    pub month: u32,
    /// The value expected on the period's last day.
    pub expected_value: Decimal,
}

/// What a trajectory depends on.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Shape {
    /// The plan's first effective day: where the trajectory starts.
    pub start: NaiveDate,
    /// The date by which `value` is to be reached.
    pub deadline: NaiveDate,
    /// The target value.
    pub value: Decimal,
    /// The baseline, if the target has one.
    pub baseline: Option<Decimal>,
    /// Whether the comparator is AT_MOST.
    pub at_most: bool,
    /// Whether the value basis is SNAPSHOT.
    pub snapshot: bool,
    /// Explicit values at period ends, in any order.
    pub milestones: Vec<MilestoneValue>,
}

/// One evaluated point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// The date evaluated.
    pub date: NaiveDate,
    /// The expected value by the end of `date`.
    pub expected_value: Decimal,
    /// Why it has that value.
    pub source: PointSource,
}

impl Shape {
    /// The shape of a target as the contract carries it, starting on the plan's first
    /// effective day `start`; an unset deadline is `plan_end`.
    pub fn from_target(target: &tpb::Target, start: NaiveDate, plan_end: NaiveDate) -> Shape {
        Shape {
            start,
            deadline: target
                .deadline
                .as_ref()
                .and_then(contract::date_from_proto)
                .unwrap_or(plan_end),
            value: decimal::from_proto(target.value.as_ref()).unwrap_or_default(),
            baseline: decimal::from_proto(target.baseline.as_ref()),
            at_most: target.comparator == common::Comparator::AtMost as i32,
            snapshot: target.value_basis == common::ValueBasis::Snapshot as i32,
            milestones: target
                .milestones
                .iter()
                .filter_map(|m| {
                    let period = Month::from_proto(m.period.as_ref())?;
                    Some(MilestoneValue {
                        year: period.year,
                        month: period.month,
                        expected_value: decimal::from_proto(m.expected_value.as_ref())?,
                    })
                })
                .collect(),
        }
    }

    /// Whether the trajectory is flat at the target value throughout.
    pub fn is_flat(&self) -> bool {
        self.at_most || (self.snapshot && self.baseline.is_none())
    }

    /// The value on the start date: the baseline or 0, the target value when flat.
    pub fn start_value(&self) -> Decimal {
        if self.is_flat() {
            self.value
        } else {
            self.baseline.unwrap_or(Decimal::ZERO)
        }
    }

    /// The expected value on `date`.
    pub fn at(&self, date: NaiveDate) -> Point {
        let point = |expected_value, source| Point {
            date,
            expected_value,
            source,
        };
        if self.is_flat() {
            return point(self.value, PointSource::Flat);
        }
        if date < self.start {
            return point(self.start_value(), PointSource::BeforeStart);
        }
        if date >= self.deadline {
            return point(self.value, PointSource::Deadline);
        }
        let knots = self.knots();
        let milestones = knots.get(1..knots.len().saturating_sub(1)).unwrap_or_default();
        if let Some(&(_, value)) = milestones.iter().find(|(day, _)| *day == date) {
            return point(value, PointSource::Milestone);
        }
        let value = knots
            .windows(2)
            .find_map(|pair| match pair {
                [from, to] if from.0 <= date && date <= to.0 => Some(interpolate(*from, *to, date)),
                _ => None,
            })
            .unwrap_or(self.value);
        point(value, PointSource::Linear)
    }

    /// The start, each milestone that falls strictly between start and deadline (by its
    /// period's last day, in date order), and the deadline.
    fn knots(&self) -> Vec<(NaiveDate, Decimal)> {
        let mut knots = vec![(self.start, self.start_value())];
        let mut inner: Vec<(NaiveDate, Decimal)> = self
            .milestones
            .iter()
            .filter_map(|m| month_end(m.year, m.month).map(|day| (day, m.expected_value)))
            .filter(|(day, _)| self.start < *day && *day < self.deadline)
            .collect();
        inner.sort_by_key(|(day, _)| *day);
        inner.dedup_by_key(|(day, _)| *day);
        knots.extend(inner);
        knots.push((self.deadline.max(self.start), self.value));
        knots
    }

    /// One point per reporting period (month), on its last day, from the start's month
    /// to the deadline's month, each with its period's year and month.
    pub fn per_period(&self) -> Vec<((i32, u32), Point)> {
        period_ends(self.start, self.deadline)
            .into_iter()
            .map(|(period, day)| (period, self.at(day)))
            .collect()
    }
}

/// Linear interpolation by calendar day between two knots, in decimal: multiplied
/// before it is divided, so a whole share of days is exact, then rounded to
/// [`INTERPOLATED_PLACES`].
fn interpolate((from, a): (NaiveDate, Decimal), (to, b): (NaiveDate, Decimal), date: NaiveDate) -> Decimal {
    let span = (to - from).num_days();
    if span <= 0 {
        return b;
    }
    let elapsed = (date - from).num_days();
    let value = a + (b - a) * Decimal::from(elapsed) / Decimal::from(span);
    value
        .round_dp_with_strategy(INTERPOLATED_PLACES, RoundingStrategy::MidpointAwayFromZero)
        .normalize()
}

/// The last day of a month; `None` for an invalid month.
pub fn month_end(year: i32, month: u32) -> Option<NaiveDate> {
    Month::new(year, month).map(Month::last_day)
}

/// Every month from `from`'s to `to`'s (inclusive) with its last day; empty when `to` is
/// before `from`'s month.
pub fn period_ends(from: NaiveDate, to: NaiveDate) -> Vec<((i32, u32), NaiveDate)> {
    let mut periods = Vec::new();
    let (mut month, last) = (Month::of(from), Month::of(to));
    while month <= last {
        periods.push(((month.year, month.month), month.last_day()));
        month = month.next();
    }
    periods
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> Decimal {
        text.parse().unwrap()
    }

    fn day(year: i32, month: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(year, month, day).unwrap()
    }

    /// 40000 new enterprises in 2023, from 0 on 1 January.
    fn new_enterprises() -> Shape {
        Shape {
            start: day(2023, 1, 1),
            deadline: day(2023, 12, 31),
            value: d("40000.0"),
            baseline: None,
            at_most: false,
            snapshot: false,
            milestones: Vec::new(),
        }
    }

    #[test]
    fn linear_from_zero_reaches_half_mid_year() {
        let shape = new_enterprises();
        let start = shape.at(day(2023, 1, 1));
        assert_eq!((start.expected_value, start.source), (d("0.0"), PointSource::Linear));
        // 2 July is day 182 of 364 days between 1 January and 31 December.
        let mid = shape.at(day(2023, 7, 2));
        assert_eq!(mid.source, PointSource::Linear);
        assert_eq!(mid.expected_value, d("20000"), "{mid:?}");
        let end = shape.at(day(2023, 12, 31));
        assert_eq!((end.expected_value, end.source), (d("40000.0"), PointSource::Deadline));
    }

    #[test]
    fn baseline_is_the_start_value() {
        let shape = Shape {
            baseline: Some(d("33.0")),
            value: d("35.0"),
            snapshot: true,
            ..new_enterprises()
        };
        assert_eq!(shape.start_value(), d("33.0"));
        assert!(!shape.is_flat());
        let mid = shape.at(day(2023, 7, 2));
        assert_eq!(mid.expected_value, d("34"));
    }

    #[test]
    fn milestones_override_the_straight_line() {
        let shape = Shape {
            milestones: vec![MilestoneValue {
                year: 2023,
                month: 6,
                expected_value: d("10000.0"),
            }],
            ..new_enterprises()
        };
        let june = shape.at(day(2023, 6, 30));
        assert_eq!(
            (june.expected_value, june.source),
            (d("10000.0"), PointSource::Milestone)
        );
        // Half-way between 1 Jan (0) and 30 June (10000) by day: 180 days, day 90.
        let march = shape.at(day(2023, 4, 1));
        assert_eq!(march.expected_value, d("5000"), "{march:?}");
        // After the milestone, towards 40000 on 31 December (184 days).
        let after = shape.at(day(2023, 9, 30));
        assert_eq!(after.expected_value, d("25000"), "{after:?}");
        // A share of days that does not divide is rounded to four places.
        let october = shape.at(day(2023, 10, 1));
        assert_eq!(october.expected_value, d("25163.0435"), "{october:?}");
    }

    #[test]
    fn at_most_and_snapshot_without_baseline_are_flat() {
        let at_most = Shape {
            value: d("5.0"),
            at_most: true,
            snapshot: true,
            baseline: Some(d("8.0")),
            ..new_enterprises()
        };
        for date in [day(2022, 12, 1), day(2023, 6, 30), day(2024, 1, 1)] {
            let point = at_most.at(date);
            assert_eq!((point.expected_value, point.source), (d("5.0"), PointSource::Flat));
        }
        assert_eq!(at_most.start_value(), d("5.0"));
        let snapshot = Shape {
            value: d("35.0"),
            snapshot: true,
            ..new_enterprises()
        };
        assert!(snapshot.is_flat());
        assert_eq!(snapshot.at(day(2023, 3, 1)).expected_value, d("35.0"));
    }

    #[test]
    fn before_start_and_after_deadline_are_bounded() {
        let shape = Shape {
            baseline: Some(d("100.0")),
            ..new_enterprises()
        };
        let before = shape.at(day(2022, 12, 31));
        assert_eq!(
            (before.expected_value, before.source),
            (d("100.0"), PointSource::BeforeStart)
        );
        let after = shape.at(day(2025, 1, 1));
        assert_eq!(
            (after.expected_value, after.source),
            (d("40000.0"), PointSource::Deadline)
        );
    }

    #[test]
    fn periods_are_month_ends_up_to_the_deadline_month() {
        let shape = Shape {
            deadline: day(2024, 2, 10),
            ..new_enterprises()
        };
        let points = shape.per_period();
        assert_eq!(points.len(), 14);
        assert_eq!(points[0].0, (2023, 1));
        assert_eq!(points[0].1.date, day(2023, 1, 31));
        assert_eq!(points[13].0, (2024, 2));
        assert_eq!(points[13].1.date, day(2024, 2, 29));
        assert_eq!(points[13].1.source, PointSource::Deadline);
        assert_eq!(month_end(2023, 2), Some(day(2023, 2, 28)));
        assert_eq!(month_end(2023, 13), None);
        assert!(period_ends(day(2023, 5, 1), day(2023, 4, 30)).is_empty());
    }
}
