//! The progress rules, case by case.

use super::*;

fn value(month: u32, value: &str) -> PeriodValue {
    PeriodValue {
        period: Month::new(2023, month).unwrap(),
        value: value.parse().unwrap(),
        report: format!("r{month}"),
        provisional: false,
    }
}

fn actual(progress: &pb::TargetProgress) -> Option<&str> {
    progress.actual.as_ref().map(|a| a.value.as_str())
}

fn target(aggregation: Aggregation, basis: ValueBasis, reporters: &[&str]) -> TargetInfo {
    TargetInfo {
        code: "t".into(),
        aggregation: aggregation as i32,
        basis: basis as i32,
        baseline: Some(Decimal::ONE_HUNDRED),
        reporting_departments: reporters.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

#[test]
fn sums_cumulative_contributions_from_the_latest_period() {
    let t = target(Aggregation::Sum, ValueBasis::Cumulative, &["a", "b", "c"]);
    let values = BTreeMap::from([
        (
            "a".to_owned(),
            DepartmentValues {
                values: vec![value(3, "5.0"), value(4, "8.0")],
                ..Default::default()
            },
        ),
        (
            "b".to_owned(),
            DepartmentValues {
                values: vec![value(3, "2.0")],
                ..Default::default()
            },
        ),
        (
            "c".to_owned(),
            DepartmentValues {
                returned: true,
                ..Default::default()
            },
        ),
    ]);
    let progress = evaluate(&t, &values);
    assert_eq!(actual(&progress), Some("10"));
    assert_eq!(progress.latest_period.unwrap().month, 4);
    let statuses: Vec<_> = progress.contributions.iter().map(|c| c.status).collect();
    assert_eq!(
        statuses,
        [
            ContributionStatus::Counted as i32,
            ContributionStatus::Counted as i32,
            ContributionStatus::Returned as i32
        ]
    );
    assert_eq!(progress.contributions[0].reports, ["r4"]);
}

#[test]
fn period_values_are_summed_with_the_baseline_once() {
    let t = target(Aggregation::Sum, ValueBasis::Period, &["a", "b"]);
    let values = BTreeMap::from([
        (
            "a".to_owned(),
            DepartmentValues {
                values: vec![value(3, "5.0"), value(4, "8.0")],
                ..Default::default()
            },
        ),
        (
            "b".to_owned(),
            DepartmentValues {
                values: vec![value(4, "1.0")],
                ..Default::default()
            },
        ),
    ]);
    let progress = evaluate(&t, &values);
    assert_eq!(actual(&progress), Some("114"));
    assert_eq!(progress.contributions[0].reports, ["r3", "r4"]);
}

#[test]
fn authoritative_counts_only_the_reporter() {
    let t = target(Aggregation::Authoritative, ValueBasis::Snapshot, &["stats"]);
    let values = BTreeMap::from([
        (
            "stats".to_owned(),
            DepartmentValues {
                values: vec![value(5, "42.0")],
                ..Default::default()
            },
        ),
        (
            "other".to_owned(),
            DepartmentValues {
                values: vec![value(6, "99.0")],
                ..Default::default()
            },
        ),
    ]);
    let progress = evaluate(&t, &values);
    assert_eq!(actual(&progress), Some("42"));
    assert_eq!(
        progress.contributions[0].status,
        ContributionStatus::NotAuthoritative as i32
    );
    assert_eq!(progress.contributions[0].department, "other");
    let none = evaluate(&t, &BTreeMap::new());
    assert_eq!(actual(&none), None);
    assert_eq!(none.contributions[0].status, ContributionStatus::NoValue as i32);
}

#[test]
fn slots_select_by_state_and_provisional() {
    assert!(Slot::SubmittedAny.admits("STATE_SUBMITTED", true));
    assert!(!Slot::SubmittedFinal.admits("STATE_SUBMITTED", true));
    assert!(!Slot::AcceptedAny.admits("STATE_SUBMITTED", false));
    assert!(!Slot::SubmittedAny.admits("STATE_RETURNED", false));
    assert_eq!(Slot::counted(false, false), Slot::AcceptedFinal);
}

#[test]
fn sums_are_exact_decimals() {
    // In f64, 0.7 + 0.1 is 0.7999999999999999 and 0.1 + 0.2 is 0.30000000000000004.
    for (a, b, sum) in [("0.7", "0.1", "0.8"), ("0.1", "0.2", "0.3")] {
        let t = target(Aggregation::Sum, ValueBasis::Cumulative, &["a", "b"]);
        let values = BTreeMap::from([
            (
                "a".to_owned(),
                DepartmentValues {
                    values: vec![value(4, a)],
                    ..Default::default()
                },
            ),
            (
                "b".to_owned(),
                DepartmentValues {
                    values: vec![value(4, b)],
                    ..Default::default()
                },
            ),
        ]);
        assert_eq!(actual(&evaluate(&t, &values)), Some(sum));
    }
}
