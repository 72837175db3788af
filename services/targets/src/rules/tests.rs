//! Tests of `rules`.

use super::*;

/// An amount as the contract carries it (canonical text), for building requests and
/// comparing answers.
fn d(text: &str) -> Option<common::Decimal> {
    Some(text.parse().unwrap())
}

fn date(year: i32, month: i32, day: i32) -> Option<common::Date> {
    Some(common::Date { year, month, day })
}

fn new_enterprises() -> pb::Target {
    pb::Target {
        code: "new-enterprises".into(),
        measure_number: "4.1".into(),
        display_name: "新增企业".into(),
        display_name_en: "New enterprises".into(),
        unit: common::QuantityUnit::Enterprises as i32,
        value: d("40000.0"),
        comparator: common::Comparator::AtLeast as i32,
        aggregation: common::Aggregation::Sum as i32,
        value_basis: common::ValueBasis::Cumulative as i32,
        reporters: vec!["all-towns".into()],
        reporting_departments: vec!["anting-town".into(), "nanxiang-town".into()],
        source: "全年实现新增企业4万户".into(),
        ..Default::default()
    }
}

fn request(targets: Vec<pb::Target>) -> pb::SyncPlanTargetsRequest {
    pb::SyncPlanTargetsRequest {
        plan: "plans/jiading-2023".into(),
        plan_revision: 1,
        effective_from: date(2023, 1, 1),
        effective_to: date(2023, 12, 31),
        targets,
        ..Default::default()
    }
}

fn fields(violations: &[FieldViolation]) -> Vec<&str> {
    violations.iter().map(|v| v.field.as_str()).collect()
}

#[test]
fn a_valid_target_defaults_its_deadline_to_the_plan_end() {
    let draft = validate_sync(&request(vec![new_enterprises()])).unwrap();
    assert_eq!(draft.plan, "jiading-2023");
    let (code, content) = &draft.targets[0];
    assert_eq!(code, "new-enterprises");
    assert_eq!(content.deadline, NaiveDate::from_ymd_opt(2023, 12, 31).unwrap());
    assert_eq!(content.action_number, 4);
    assert_eq!(content.unit, "QUANTITY_UNIT_ENTERPRISES");
}

/// Found by the ImportPlan property (issue 12): names were stored trimmed, so the export
/// of the current revision differed from the dataset imported (and imported back as a
/// new revision).
#[test]
fn names_are_stored_as_sent() {
    let mut target = new_enterprises();
    target.display_name = " 新增企业 ".into();
    target.display_name_en = "New enterprises ".into();
    let draft = validate_sync(&request(vec![target])).unwrap();
    let (_, content) = &draft.targets[0];
    assert_eq!(content.display_name, " 新增企业 ");
    assert_eq!(content.display_name_en, "New enterprises ");
}

#[test]
fn every_problem_is_reported_at_once_with_target_paths() {
    let mut bad = new_enterprises();
    bad.value = d("40000.5");
    bad.baseline = d("-1.0");
    bad.unit = 0;
    bad.reporters.clear();
    bad.deadline = date(2022, 12, 31);
    let mut share = new_enterprises();
    share.code = "industry-share".into();
    share.unit = common::QuantityUnit::Percent as i32;
    share.value = d("135.0");
    share.comparator = common::Comparator::AtMost as i32;
    share.milestones = vec![pb::TargetMilestone {
        period: Some(common::Period { year: 2023, month: 6 }),
        expected_value: d("30.0"),
    }];
    let mut unnamed = new_enterprises();
    unnamed.code = "Bad Code".into();
    let Err(violations) = validate_sync(&request(vec![bad, share, unnamed, new_enterprises()])) else {
        panic!("expected violations")
    };
    assert_eq!(
        fields(&violations),
        [
            "targets[new-enterprises].unit",
            "targets[new-enterprises].reporters",
            "targets[new-enterprises].baseline",
            "targets[new-enterprises].deadline",
            "targets[industry-share].aggregation",
            "targets[industry-share].value",
            "targets[industry-share].milestones",
            "targets[2].code",
            "targets[new-enterprises].code",
        ]
    );
}

#[test]
fn request_fields_are_checked_too() {
    let mut request = request(vec![]);
    request.plan = "jiading-2023".into();
    request.plan_revision = 0;
    request.effective_to = date(2022, 2, 30);
    let Err(violations) = validate_sync(&request) else {
        panic!("expected violations")
    };
    assert_eq!(fields(&violations), ["plan", "plan_revision", "effective_to"]);
}

#[test]
fn authoritative_targets_have_one_department_reporter() {
    let mut target = new_enterprises();
    target.aggregation = common::Aggregation::Authoritative as i32;
    let Err(violations) = validate_sync(&request(vec![target.clone()])) else {
        panic!("expected violations")
    };
    assert_eq!(violations[0].field, "targets[new-enterprises].reporters");
    assert!(violations[0].description.contains("department, not a group"));
    target.reporters = vec!["tax-bureau".into(), "commerce-commission".into()];
    target.reporting_departments = target.reporters.clone();
    let Err(violations) = validate_sync(&request(vec![target])) else {
        panic!("expected violations")
    };
    assert!(violations[0].description.contains("exactly one reporter"));
}

#[test]
fn milestones_must_fit_the_plan_and_the_deadline() {
    let mut target = new_enterprises();
    target.deadline = date(2023, 9, 30);
    let milestone = |year, month, value| pb::TargetMilestone {
        period: Some(common::Period { year, month }),
        expected_value: value,
    };
    target.milestones = vec![
        milestone(2023, 6, d("10000.0")),
        milestone(2023, 6, d("12000.0")),
        milestone(2023, 10, d("30000.0")),
        milestone(2024, 1, d("1.0")),
        milestone(2023, 3, d("0.5")),
    ];
    let Err(violations) = validate_sync(&request(vec![target])) else {
        panic!("expected violations")
    };
    assert_eq!(
        fields(&violations),
        [
            "targets[new-enterprises].milestones[1].period",
            "targets[new-enterprises].milestones[2].period",
            "targets[new-enterprises].milestones[3].period",
            "targets[new-enterprises].milestones[4].expected_value",
        ]
    );
}

#[test]
fn content_differences_name_the_fields() {
    let draft = validate_sync(&request(vec![new_enterprises()])).unwrap();
    let before = draft.targets[0].1.clone();
    let mut after = before.clone();
    after.value = "45000".parse().unwrap();
    after.note = "changed".into();
    assert_eq!(before.diff(&after), ["value", "note"]);
    assert!(before.diff(&before).is_empty());
}

#[test]
fn measure_numbers_give_actions_and_order() {
    assert_eq!(action_of("4.1"), Some(4));
    assert_eq!(action_of("10.12"), Some(10));
    assert_eq!(action_of("4"), None);
    assert_eq!(action_of("a.1"), None);
    assert!(duban_plan::measure_order("4.2") < duban_plan::measure_order("10.1"));
}
