//! The dashboard's rules as pure functions: red-amber-green ratings of targets,
//! measures and actions, how far a target is achieved, and the year-end forecast.
//!
//! Targets (gateway.proto, `RagStatus`): NO_DATA until the first reporting period's due
//! day has passed; then RED if no value counts. Otherwise the actual is compared with
//! the trajectory at the end of the actual's latest period. AT_MOST: GREEN at or below
//! the value, AMBER up to `at_most_percent` above it, RED beyond. Other comparators:
//! shortfall = expected - actual (expected taken at `approximately_percent` for
//! APPROXIMATELY); GREEN if shortfall <= 0, AMBER if it is at most `shortfall_percent`
//! of the planned change |value - start| (of |value| when the trajectory is flat, as for
//! a level such as a share, where no change is planned), RED otherwise. The three tolerances are
//! settings (`gateway.*`), overridable per plan (`gateway.rag_overrides`).
//!
//! Forecast: the least-squares line through the monthly actual series (x = the period's
//! last day, as a day number; y = the actual at the end of that period), evaluated on
//! the target's deadline. With a single month, the line from the start value on the
//! plan's first day through it. Without an actual, none.
//!
//! Every comparison and the forecast are exact decimal arithmetic (rust_decimal), so
//! 0.7 + 0.1 meets an AT_LEAST 0.8; only `percent_complete`, a display figure, is
//! rounded (to 2 places) and handed on as a float.

use std::collections::HashMap;

use chrono::{Datelike as _, NaiveDate};
use duban_kit::settings::GatewaySettings;
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
    /// Behind within tolerance, or a unit reports risk.
    Amber,
    /// Off track, or a due report is missing.
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

/// The tolerances of the RAG rules, in percent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tolerances {
    /// AMBER while the shortfall is at most this share of the planned change.
    pub shortfall_percent: f64,
    /// AT_MOST targets: AMBER while at most this much above the value.
    pub at_most_percent: f64,
    /// APPROXIMATELY targets are judged against this share of the expected value.
    pub approximately_percent: f64,
}

impl Default for Tolerances {
    fn default() -> Self {
        Self {
            shortfall_percent: 10.0,
            at_most_percent: 10.0,
            approximately_percent: 95.0,
        }
    }
}

impl Tolerances {
    /// A tolerance (a percentage from the settings) as an exact share: 10 -> 0.1. The
    /// settings are short decimals, so the conversion is exact.
    fn share(percent: f64) -> Decimal {
        Decimal::try_from(percent).unwrap_or_default() / Decimal::ONE_HUNDRED
    }
}

/// The tolerances of every plan: the settings' defaults and per-plan overrides.
#[derive(Debug, Clone, Default)]
pub struct PlanTolerances {
    default: Tolerances,
    per_plan: HashMap<String, Tolerances>,
}

impl PlanTolerances {
    /// From `gateway.*`; an error names the malformed `rag_overrides` entry.
    pub fn from_settings(settings: &GatewaySettings) -> Result<Self, String> {
        let default = Tolerances {
            shortfall_percent: settings.amber_shortfall_percent,
            at_most_percent: settings.amber_at_most_percent,
            approximately_percent: settings.approximately_percent,
        };
        Ok(Self {
            default,
            per_plan: parse_overrides(&settings.rag_overrides)?,
        })
    }

    /// The tolerances for the plan with id `plan`.
    pub fn for_plan(&self, plan: &str) -> Tolerances {
        self.per_plan.get(plan).copied().unwrap_or(self.default)
    }
}

/// Parses `plan:shortfall/at_most/approximately;...`.
pub fn parse_overrides(text: &str) -> Result<HashMap<String, Tolerances>, String> {
    let mut out = HashMap::new();
    for entry in text.split(';').map(str::trim).filter(|entry| !entry.is_empty()) {
        let bad = || format!("gateway.rag_overrides entry {entry:?} is not plan:shortfall/at_most/approximately");
        let (plan, numbers) = entry.split_once(':').ok_or_else(bad)?;
        let numbers: Vec<f64> = numbers
            .split('/')
            .map(|n| n.trim().parse::<f64>())
            .collect::<Result<_, _>>()
            .map_err(|_| bad())?;
        let [shortfall_percent, at_most_percent, approximately_percent] = numbers[..] else {
            return Err(bad());
        };
        if numbers.iter().any(|n| !n.is_finite() || *n < 0.0) {
            return Err(bad());
        }
        out.insert(
            plan.trim().to_owned(),
            Tolerances {
                shortfall_percent,
                at_most_percent,
                approximately_percent,
            },
        );
    }
    Ok(out)
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
pub fn target_rag(facts: &TargetFacts, tolerances: &Tolerances) -> Rag {
    if !facts.reports_due {
        return Rag::NoData;
    }
    let Some(actual) = facts.actual else {
        return Rag::Red;
    };
    if facts.comparator == Comparator::AtMost {
        return if actual <= facts.value {
            Rag::Green
        } else if actual <= facts.value * (Decimal::ONE + Tolerances::share(tolerances.at_most_percent)) {
            Rag::Amber
        } else {
            Rag::Red
        };
    }
    let mut expected = facts.expected_at_latest_period.unwrap_or(facts.value);
    if facts.comparator == Comparator::Approximately {
        expected *= Tolerances::share(tolerances.approximately_percent);
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
    } else if shortfall <= base * Tolerances::share(tolerances.shortfall_percent) {
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

/// The rating a unit's compliance for the latest due period stands for: RED when
/// MISSING, otherwise nothing.
pub fn compliance_rag(status: ComplianceStatus) -> Rag {
    match status {
        ComplianceStatus::Missing => Rag::Red,
        _ => Rag::NoData,
    }
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
        let tol = Tolerances::default();
        let mut f = facts(Comparator::AtLeast, None, n("50.0"));
        f.reports_due = false;
        assert_eq!(target_rag(&f, &tol), Rag::NoData);
        f.reports_due = true;
        assert_eq!(target_rag(&f, &tol), Rag::Red);
    }

    #[test]
    fn at_least_is_green_at_or_above_expected_amber_within_tolerance_red_beyond() {
        let tol = Tolerances::default();
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
        let tolerances = Tolerances::default();
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
        let tol = Tolerances::default();
        let mut f = facts(Comparator::AtLeast, Some(n("33.5")), n("34.0"));
        f.start_value = n("33.0");
        f.value = n("35.0"); // planned change 2, tolerance n("0.2")
        assert_eq!(target_rag(&f, &tol), Rag::Red);
        f.actual = Some(n("33.85"));
        assert_eq!(target_rag(&f, &tol), Rag::Amber);
    }

    #[test]
    fn approximately_is_judged_against_95_percent() {
        let tol = Tolerances::default();
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
        let tol = Tolerances::default();
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
    fn tolerances_are_configurable_per_plan() {
        let settings = GatewaySettings {
            rag_overrides: "strict-plan:0/0/100; lax:50/50/50".into(),
            ..GatewaySettings::default()
        };
        let plans = PlanTolerances::from_settings(&settings).unwrap();
        assert_eq!(plans.for_plan("jiading-2023"), Tolerances::default());
        let strict = plans.for_plan("strict-plan");
        assert_eq!(
            target_rag(&facts(Comparator::AtLeast, Some(n("49.0")), n("50.0")), &strict),
            Rag::Red
        );
        let lax = plans.for_plan("lax");
        assert_eq!(
            target_rag(&facts(Comparator::AtLeast, Some(n("10.0")), n("50.0")), &lax),
            Rag::Amber
        );
        assert!(parse_overrides("x:1/2").is_err());
        assert!(parse_overrides("x").is_err());
        assert!(parse_overrides("x:a/b/c").is_err());
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
        assert_eq!(compliance_rag(ComplianceStatus::Missing), Rag::Red);
        assert_eq!(compliance_rag(ComplianceStatus::Late), Rag::NoData);
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
        let strict = Tolerances {
            shortfall_percent: 0.0,
            ..Tolerances::default()
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
