//! The red-amber-green rules as pure functions, used by the gateway's dashboard and by
//! the reporting server's follow-up, so the two cannot disagree: ratings of targets,
//! measures and actions, how far a target is achieved, and the year-end forecast. The
//! tolerances are plan data (`[plan.rag]`, [`RagRules`], carried by the plan's
//! calendar).
//!
//! Two colours are rated apart (issue 14):
//!
//! - *Delivery*: targets against their trajectory, and the units' own reported status.
//!   A missing report does not make delivery RED, unless the plan opts in with
//!   `missing_report_turns_delivery_red`.
//! - *Reporting discipline*: each responsible unit's report for the latest due period:
//!   MISSING is RED, LATE is AMBER, ON_TIME is GREEN, nothing due yet is NO_DATA.
//!
//! Targets (gateway.proto, `RagStatus`): NO_DATA until the first reporting period's due
//! day has passed; then RED if no value counts. Otherwise the actual is compared with
//! the trajectory at the end of the actual's latest period. AT_MOST: GREEN at or below
//! the value, AMBER up to `amber_at_most_percent` above it, RED beyond. Other
//! comparators: shortfall = expected - actual (expected taken at
//! `approximately_percent` for APPROXIMATELY); GREEN if shortfall <= 0, AMBER if it is
//! at most `amber_shortfall_percent` of the planned change |value - start| (of |value|
//! when the trajectory is flat, as for a level such as a share, where no change is
//! planned), RED otherwise.
//!
//! Forecast: the least-squares line through the monthly actual series (x = the period's
//! last day, as a day number; y = the actual at the end of that period), evaluated on
//! the target's deadline. With a single month, the line from the start value on the
//! plan's first day through it. Without an actual, none.
//!
//! Every comparison and the forecast are exact decimal arithmetic (rust_decimal), so
//! 0.7 + 0.1 meets an AT_LEAST 0.8; only `percent_complete`, a display figure, is
//! rounded (to 2 places) and handed on as a float.

use chrono::{Datelike as _, NaiveDate};
pub use duban_catalog::RagRules;
use duban_proto::{
    common::v1::Comparator,
    gateway::v1::RagStatus,
    reporting::v1::{ComplianceStatus, OverallStatus},
};
use rust_decimal::{Decimal, RoundingStrategy, prelude::ToPrimitive as _};

/// A rating, ordered from best to worst; NO_DATA is ignored in roll-ups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rag {
    /// Nothing could be judged yet.
    NoData,
    /// On track.
    Green,
    /// Behind within tolerance or a unit reports risk (delivery), or a report came in
    /// late (discipline).
    Amber,
    /// Off track (delivery), or a due report is missing (discipline).
    Red,
}

impl Rag {
    /// The contract's enum.
    pub fn to_proto(self) -> RagStatus {
        match self {
            Rag::NoData => RagStatus::NoData,
            Rag::Green => RagStatus::Green,
            Rag::Amber => RagStatus::Amber,
            Rag::Red => RagStatus::Red,
        }
    }

    /// From the contract's enum (UNSPECIFIED counts as NO_DATA).
    pub fn from_proto(rag: i32) -> Rag {
        match RagStatus::try_from(rag).unwrap_or(RagStatus::Unspecified) {
            RagStatus::Green => Rag::Green,
            RagStatus::Amber => Rag::Amber,
            RagStatus::Red => Rag::Red,
            RagStatus::NoData | RagStatus::Unspecified => Rag::NoData,
        }
    }

    /// Lower-case name, for CSS classes and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Rag::NoData => "no_data",
            Rag::Green => "green",
            Rag::Amber => "amber",
            Rag::Red => "red",
        }
    }
}

/// The worst of `parts`, ignoring NO_DATA; NO_DATA only if every part is (or none).
pub fn worst(parts: impl IntoIterator<Item = Rag>) -> Rag {
    parts.into_iter().max().unwrap_or(Rag::NoData)
}

/// A percentage of the rules as an exact share: 10 -> 0.1.
fn share(percent: Decimal) -> Decimal {
    percent / Decimal::ONE_HUNDRED
}

/// What a target's rating depends on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TargetFacts {
    /// How the value is compared.
    pub comparator: Comparator,
    /// The target's figure.
    pub value: Decimal,
    /// The trajectory's start value.
    pub start_value: Decimal,
    /// The actual, if any value counts.
    pub actual: Option<Decimal>,
    /// The trajectory at the end of the actual's latest period.
    pub expected_at_latest_period: Option<Decimal>,
    /// Whether the first reporting period's due day has passed.
    pub reports_due: bool,
}

/// A target's rating (see the module documentation).
pub fn target_rag(facts: &TargetFacts, rules: &RagRules) -> Rag {
    if !facts.reports_due {
        return Rag::NoData;
    }
    let Some(actual) = facts.actual else {
        return Rag::Red;
    };
    if facts.comparator == Comparator::AtMost {
        return if actual <= facts.value {
            Rag::Green
        } else if actual <= facts.value * (Decimal::ONE + share(rules.amber_at_most_percent)) {
            Rag::Amber
        } else {
            Rag::Red
        };
    }
    let mut expected = facts.expected_at_latest_period.unwrap_or(facts.value);
    if facts.comparator == Comparator::Approximately {
        expected *= share(rules.approximately_percent);
    }
    let shortfall = expected - actual;
    // A flat trajectory plans no change, so a share of the change would make any
    // shortfall RED: the tolerance is then a share of the value itself.
    let planned = (facts.value - facts.start_value).abs();
    let base = if planned > Decimal::ZERO {
        planned
    } else {
        facts.value.abs()
    };
    if shortfall <= Decimal::ZERO {
        Rag::Green
    } else if shortfall <= base * share(rules.amber_shortfall_percent) {
        Rag::Amber
    } else {
        Rag::Red
    }
}

/// The rating a unit's latest report status stands for.
pub fn status_rag(status: OverallStatus) -> Rag {
    match status {
        OverallStatus::OffTrack => Rag::Red,
        OverallStatus::AtRisk | OverallStatus::NotStarted => Rag::Amber,
        OverallStatus::OnTrack | OverallStatus::Completed => Rag::Green,
        OverallStatus::Unspecified => Rag::NoData,
    }
}

/// The reporting-discipline rating of one expected report (a unit's report for the
/// latest due period): MISSING is RED, LATE is AMBER, ON_TIME is GREEN; nothing due yet
/// (NOT_DUE, EXPECTED) is NO_DATA.
pub fn discipline_rag(status: ComplianceStatus) -> Rag {
    match status {
        ComplianceStatus::Missing => Rag::Red,
        ComplianceStatus::Late => Rag::Amber,
        ComplianceStatus::OnTime => Rag::Green,
        ComplianceStatus::NotDue | ComplianceStatus::Expected | ComplianceStatus::Unspecified => Rag::NoData,
    }
}

/// What one responsible unit brings to a measure's two colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnitFacts {
    /// The status its latest report gives (UNSPECIFIED before any).
    pub latest_status: OverallStatus,
    /// Where its report for the latest due period stands.
    pub compliance: ComplianceStatus,
}

/// A measure's delivery: the worst of its targets' ratings and of its units' own
/// reported status; a unit's MISSING report counts as RED only when the plan opts in
/// (`missing_report_turns_delivery_red`).
pub fn measure_delivery(targets: impl IntoIterator<Item = Rag>, units: &[UnitFacts], rules: &RagRules) -> Rag {
    let missing = |unit: &UnitFacts| {
        if rules.missing_report_turns_delivery_red && unit.compliance == ComplianceStatus::Missing {
            Rag::Red
        } else {
            Rag::NoData
        }
    };
    worst(
        targets
            .into_iter()
            .chain(units.iter().map(|u| status_rag(u.latest_status)))
            .chain(units.iter().map(missing)),
    )
}

/// The reporting discipline of a set of expected reports (a measure's units, or a
/// target's reporting departments): the worst of their [`discipline_rag`].
pub fn discipline(statuses: impl IntoIterator<Item = ComplianceStatus>) -> Rag {
    worst(statuses.into_iter().map(discipline_rag))
}

/// How far a target is achieved, 0-100 (see `TargetStatus.percent_complete`), clamped:
///
/// - AT_MOST: 100 at or below the value, value / actual x 100 above it;
/// - a flat trajectory (start = value: a snapshot without baseline, where the value is
///   expected throughout): actual / value x 100 (with a value of 0 or below, 100 once
///   reached, else 0);
/// - otherwise the share of the planned change made: (actual - start) / (value - start) x 100.
///
/// Computed in decimal, then rounded half away from zero to 2 places for display.
pub fn percent_complete(comparator: Comparator, value: Decimal, start: Decimal, actual: Decimal) -> f64 {
    let hundred = Decimal::ONE_HUNDRED;
    let percent = if comparator == Comparator::AtMost {
        if actual <= value || actual <= Decimal::ZERO {
            hundred
        } else {
            value * hundred / actual
        }
    } else if value == start {
        if value > Decimal::ZERO {
            actual * hundred / value
        } else if actual >= value {
            hundred
        } else {
            Decimal::ZERO
        }
    } else {
        (actual - start) * hundred / (value - start)
    };
    percent
        .clamp(Decimal::ZERO, hundred)
        .round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
        .to_f64()
        .unwrap_or_default()
}

/// The forecast at `at` from `series` (period end, actual), oldest first, and the
/// trajectory's start (see the module documentation).
/// Computed in decimal; the caller rounds it to the target's decimal places.
pub fn forecast(series: &[(NaiveDate, Decimal)], start: (NaiveDate, Decimal), at: NaiveDate) -> Option<Decimal> {
    let day = |date: NaiveDate| Decimal::from(date.num_days_from_ce());
    match series {
        [] => None,
        [(date, value)] => {
            let span = day(*date) - day(start.0);
            if span <= Decimal::ZERO {
                return Some(*value);
            }
            // Multiplied before divided: exact whenever the line is.
            Some(value + (value - start.1) * (day(at) - day(*date)) / span)
        }
        [(first, _), ..] => {
            // Days counted from the first point, and the sums scaled by n so that the
            // only division is the last one: exact whenever the fitted line is.
            let x = |date: NaiveDate| day(date) - day(*first);
            let n = Decimal::from(series.len());
            let sum_x: Decimal = series.iter().map(|(d, _)| x(*d)).sum();
            let sum_y: Decimal = series.iter().map(|(_, v)| *v).sum();
            let sum_xx: Decimal = series.iter().map(|(d, _)| x(*d) * x(*d)).sum();
            let sum_xy: Decimal = series.iter().map(|(d, v)| x(*d) * v).sum();
            let sxx = n * sum_xx - sum_x * sum_x;
            let sxy = n * sum_xy - sum_x * sum_y;
            if sxx.is_zero() {
                return Some(sum_y / n);
            }
            // mean_y + slope (x_at - mean_x), over the common denominator n·sxx.
            Some((sum_y * sxx + sxy * (n * x(at) - sum_x)) / (n * sxx))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(text: &str) -> Decimal {
        text.parse().unwrap()
    }

    fn facts(comparator: Comparator, actual: Option<Decimal>, expected: Decimal) -> TargetFacts {
        TargetFacts {
            comparator,
            value: n("100.0"),
            start_value: n("0.0"),
            actual,
            expected_at_latest_period: Some(expected),
            reports_due: true,
        }
    }

    #[test]
    fn no_data_until_a_report_is_due_then_red_without_a_value() {
        let tol = RagRules::default();
        let mut f = facts(Comparator::AtLeast, None, n("50.0"));
        f.reports_due = false;
        assert_eq!(target_rag(&f, &tol), Rag::NoData);
        f.reports_due = true;
        assert_eq!(target_rag(&f, &tol), Rag::Red);
    }

    #[test]
    fn at_least_is_green_at_or_above_expected_amber_within_tolerance_red_beyond() {
        let tol = RagRules::default();
        assert_eq!(
            target_rag(&facts(Comparator::AtLeast, Some(n("50.0")), n("50.0")), &tol),
            Rag::Green
        );
        assert_eq!(
            target_rag(&facts(Comparator::AtLeast, Some(n("60.0")), n("50.0")), &tol),
            Rag::Green
        );
        // planned change 100, tolerance 10 % of it = 10
        assert_eq!(
            target_rag(&facts(Comparator::AtLeast, Some(n("40.0")), n("50.0")), &tol),
            Rag::Amber
        );
        assert_eq!(
            target_rag(&facts(Comparator::MoreThan, Some(n("39.9")), n("50.0")), &tol),
            Rag::Red
        );
    }

    #[test]
    fn a_flat_trajectory_has_a_tolerance_too() {
        // 区重大项目 under construction: a level of 50 all year (no baseline, snapshot).
        let flat = TargetFacts {
            comparator: Comparator::AtLeast,
            value: n("50.0"),
            start_value: n("50.0"),
            actual: Some(n("46.0")),
            expected_at_latest_period: Some(n("50.0")),
            reports_due: true,
        };
        let tolerances = RagRules::default();
        assert_eq!(
            target_rag(&flat, &tolerances),
            Rag::Amber,
            "4 short of 50 is within 10 %"
        );
        assert_eq!(
            target_rag(
                &TargetFacts {
                    actual: Some(n("40.0")),
                    ..flat
                },
                &tolerances
            ),
            Rag::Red
        );
        assert_eq!(
            target_rag(
                &TargetFacts {
                    actual: Some(n("50.0")),
                    ..flat
                },
                &tolerances
            ),
            Rag::Green
        );
    }

    #[test]
    fn tolerance_is_a_share_of_the_planned_change_from_the_start_value() {
        let tol = RagRules::default();
        let mut f = facts(Comparator::AtLeast, Some(n("33.5")), n("34.0"));
        f.start_value = n("33.0");
        f.value = n("35.0"); // planned change 2, tolerance n("0.2")
        assert_eq!(target_rag(&f, &tol), Rag::Red);
        f.actual = Some(n("33.85"));
        assert_eq!(target_rag(&f, &tol), Rag::Amber);
    }

    #[test]
    fn approximately_is_judged_against_95_percent() {
        let tol = RagRules::default();
        assert_eq!(
            target_rag(&facts(Comparator::Approximately, Some(n("95.0")), n("100.0")), &tol),
            Rag::Green
        );
        assert_eq!(
            target_rag(&facts(Comparator::Approximately, Some(n("90.0")), n("100.0")), &tol),
            Rag::Amber
        );
        assert_eq!(
            target_rag(&facts(Comparator::Approximately, Some(n("80.0")), n("100.0")), &tol),
            Rag::Red
        );
    }

    #[test]
    fn at_most_is_inverted() {
        let tol = RagRules::default();
        let at_most = |actual: Decimal| {
            target_rag(
                &TargetFacts {
                    comparator: Comparator::AtMost,
                    value: n("5.0"),
                    start_value: n("5.0"),
                    actual: Some(actual),
                    expected_at_latest_period: Some(n("5.0")),
                    reports_due: true,
                },
                &tol,
            )
        };
        assert_eq!(at_most(n("4.0")), Rag::Green);
        assert_eq!(at_most(n("5.0")), Rag::Green);
        assert_eq!(at_most(n("5.5")), Rag::Amber);
        assert_eq!(at_most(n("5.6")), Rag::Red);
    }

    #[test]
    fn tolerances_are_the_plans_data() {
        let strict = RagRules {
            amber_shortfall_percent: n("0"),
            amber_at_most_percent: n("0"),
            approximately_percent: n("100"),
            ..RagRules::default()
        };
        assert_eq!(
            target_rag(&facts(Comparator::AtLeast, Some(n("49.0")), n("50.0")), &strict),
            Rag::Red
        );
        let lax = RagRules {
            amber_shortfall_percent: n("50"),
            amber_at_most_percent: n("50"),
            approximately_percent: n("50"),
            ..RagRules::default()
        };
        assert_eq!(
            target_rag(&facts(Comparator::AtLeast, Some(n("10.0")), n("50.0")), &lax),
            Rag::Amber
        );
        // A fraction of a percent is exact.
        let half = RagRules {
            amber_shortfall_percent: n("7.5"),
            ..RagRules::default()
        };
        assert_eq!(
            target_rag(&facts(Comparator::AtLeast, Some(n("42.5")), n("50.0")), &half),
            Rag::Amber
        );
        assert_eq!(
            target_rag(&facts(Comparator::AtLeast, Some(n("42.4")), n("50.0")), &half),
            Rag::Red
        );
    }

    #[test]
    fn roll_ups_take_the_worst_and_ignore_no_data() {
        assert_eq!(worst([Rag::Green, Rag::NoData, Rag::Amber]), Rag::Amber);
        assert_eq!(worst([Rag::Green, Rag::Red, Rag::Amber]), Rag::Red);
        assert_eq!(worst([Rag::NoData, Rag::NoData]), Rag::NoData);
        assert_eq!(worst([]), Rag::NoData);
        assert_eq!(status_rag(OverallStatus::OffTrack), Rag::Red);
        assert_eq!(status_rag(OverallStatus::NotStarted), Rag::Amber);
        assert_eq!(status_rag(OverallStatus::Completed), Rag::Green);
    }

    fn unit(latest_status: OverallStatus, compliance: ComplianceStatus) -> UnitFacts {
        UnitFacts {
            latest_status,
            compliance,
        }
    }

    #[test]
    fn discipline_rates_the_latest_due_report_as_a_table() {
        use ComplianceStatus::*;
        let table = [
            (Missing, Rag::Red),
            (Late, Rag::Amber),
            (OnTime, Rag::Green),
            (Expected, Rag::NoData),
            (NotDue, Rag::NoData),
            (Unspecified, Rag::NoData),
        ];
        for (status, rag) in table {
            assert_eq!(discipline_rag(status), rag, "{status:?}");
        }
        assert_eq!(discipline([OnTime, Late, OnTime]), Rag::Amber);
        assert_eq!(discipline([OnTime, Missing, Late]), Rag::Red);
        assert_eq!(discipline([NotDue]), Rag::NoData);
        assert_eq!(discipline([]), Rag::NoData);
    }

    #[test]
    fn delivery_and_discipline_are_rated_apart_as_a_table() {
        use ComplianceStatus::{Late, Missing, OnTime};
        use OverallStatus::{AtRisk, OffTrack, OnTrack, Unspecified};
        let default = RagRules::default();
        let old_rule = RagRules {
            missing_report_turns_delivery_red: true,
            ..RagRules::default()
        };
        /// (case, targets, units, rules, delivery, discipline)
        type Case<'a> = (&'a str, Vec<Rag>, Vec<UnitFacts>, &'a RagRules, Rag, Rag);
        let table: Vec<Case<'_>> = vec![
            (
                "every target on trajectory, one unit's report missing",
                vec![Rag::Green, Rag::Green],
                vec![unit(OnTrack, OnTime), unit(Unspecified, Missing)],
                &default,
                Rag::Green,
                Rag::Red,
            ),
            (
                "the same, in a plan that keeps the old rule",
                vec![Rag::Green, Rag::Green],
                vec![unit(OnTrack, OnTime), unit(Unspecified, Missing)],
                &old_rule,
                Rag::Red,
                Rag::Red,
            ),
            (
                "a target behind, every report on time",
                vec![Rag::Green, Rag::Red],
                vec![unit(OnTrack, OnTime)],
                &default,
                Rag::Red,
                Rag::Green,
            ),
            (
                "a unit reports risk, late",
                vec![Rag::Green],
                vec![unit(AtRisk, Late)],
                &default,
                Rag::Amber,
                Rag::Amber,
            ),
            (
                "a unit reports off track, on time, no targets",
                vec![],
                vec![unit(OffTrack, OnTime)],
                &default,
                Rag::Red,
                Rag::Green,
            ),
            (
                "nothing due yet",
                vec![Rag::NoData],
                vec![unit(Unspecified, ComplianceStatus::NotDue)],
                &old_rule,
                Rag::NoData,
                Rag::NoData,
            ),
        ];
        for (case, targets, units, rules, delivery, disc) in table {
            assert_eq!(measure_delivery(targets, &units, rules), delivery, "delivery: {case}");
            assert_eq!(
                discipline(units.iter().map(|u| u.compliance)),
                disc,
                "discipline: {case}"
            );
        }
    }

    #[test]
    fn percent_complete_runs_from_the_start_value() {
        assert_eq!(
            percent_complete(Comparator::AtLeast, n("40000.0"), n("0.0"), n("10000.0")),
            25.0
        );
        assert_eq!(
            percent_complete(Comparator::AtLeast, n("35.0"), n("33.0"), n("34.0")),
            50.0
        );
        assert_eq!(
            percent_complete(Comparator::AtLeast, n("100.0"), n("0.0"), n("150.0")),
            100.0
        );
        assert_eq!(
            percent_complete(Comparator::AtMost, n("5.0"), n("5.0"), n("4.0")),
            100.0
        );
        assert_eq!(
            percent_complete(Comparator::AtMost, n("5.0"), n("5.0"), n("10.0")),
            50.0
        );
    }

    #[test]
    fn percent_complete_of_a_flat_trajectory_is_the_share_of_the_value() {
        // district-major-projects: a snapshot of 50 without baseline, 40 reported.
        assert_eq!(
            percent_complete(Comparator::AtLeast, n("50.0"), n("50.0"), n("40.0")),
            80.0
        );
        assert_eq!(
            percent_complete(Comparator::MoreThan, n("50.0"), n("50.0"), n("0.0")),
            0.0
        );
        assert_eq!(
            percent_complete(Comparator::Approximately, n("50.0"), n("50.0"), n("25.0")),
            50.0
        );
        assert_eq!(
            percent_complete(Comparator::AtLeast, n("50.0"), n("50.0"), n("50.0")),
            100.0
        );
        assert_eq!(
            percent_complete(Comparator::AtLeast, n("50.0"), n("50.0"), n("60.0")),
            100.0
        );
        assert_eq!(
            percent_complete(Comparator::AtLeast, n("0.0"), n("0.0"), n("0.0")),
            100.0
        );
        assert_eq!(
            percent_complete(Comparator::AtLeast, n("0.0"), n("0.0"), n("-1.0")),
            0.0
        );
        // AT_MOST is flat too: 100 at or below the value, value / actual above it.
        assert_eq!(
            percent_complete(Comparator::AtMost, n("8.0"), n("8.0"), n("6.0")),
            100.0
        );
        assert_eq!(
            percent_complete(Comparator::AtMost, n("8.0"), n("8.0"), n("8.0")),
            100.0
        );
        assert_eq!(
            percent_complete(Comparator::AtMost, n("8.0"), n("8.0"), n("10.0")),
            80.0
        );
    }

    #[test]
    fn rag_compares_exact_sums() {
        // Two towns report 0.7 and 0.1 of an AT_LEAST 0.8: in f64 the sum falls short.
        let facts = TargetFacts {
            comparator: Comparator::AtLeast,
            value: n("0.8"),
            start_value: n("0"),
            actual: Some(n("0.7") + n("0.1")),
            expected_at_latest_period: Some(n("0.8")),
            reports_due: true,
        };
        let strict = RagRules {
            amber_shortfall_percent: n("0"),
            ..RagRules::default()
        };
        assert_eq!(target_rag(&facts, &strict), Rag::Green);
        assert_eq!(percent_complete(Comparator::AtLeast, n("0.8"), n("0"), n("0.8")), 100.0);
    }

    #[test]
    fn forecast_is_the_least_squares_line_or_the_line_from_the_start() {
        let d = |m, day| NaiveDate::from_ymd_opt(2023, m, day).unwrap();
        let start = (d(3, 3), n("0.0"));
        assert_eq!(forecast(&[], start, d(12, 31)), None);
        // one month: from 0 on 3 March through 28 on 31 March (1 per day)
        let one = forecast(&[(d(3, 31), n("28.0"))], start, d(4, 30)).unwrap();
        assert_eq!(one, n("58"), "{one}");
        // points exactly on a line: the line itself
        let series: Vec<_> = [(d(4, 30), n("30.0")), (d(5, 31), n("61.0")), (d(6, 30), n("91.0"))].to_vec();
        let f = forecast(&series, start, d(7, 31)).unwrap();
        assert_eq!(f, n("122"), "{f}");
        // noisy points: the fitted line, not the last point
        let noisy = [(d(4, 30), n("10.0")), (d(5, 31), n("30.0")), (d(6, 30), n("20.0"))];
        let f = forecast(&noisy, start, d(6, 30)).unwrap();
        assert!(f > n("20.0") && f < n("30.0"), "{f}");
    }
}
