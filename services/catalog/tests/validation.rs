//! Validation reports every problem at once, each at a path that names the
//! entry by number or code.

use duban_catalog::{
    Aggregation, CatalogError, Directory, JIADING_DIRECTORY, Measure, Plan, QuantityUnit, Target, jiading_2023, load,
};

fn paths(problems: &[duban_catalog::Problem]) -> Vec<&str> {
    problems.iter().map(|p| p.path.as_str()).collect()
}

#[test]
fn broken_jiading_plan_reports_every_problem_with_its_path() {
    let (dir, mut plan) = jiading_2023();
    fn measure<'a>(plan: &'a mut Plan, n: &str) -> &'a mut Measure {
        plan.measures.iter_mut().find(|m| m.number == n).unwrap()
    }
    fn target<'a>(plan: &'a mut Plan, c: &str) -> &'a mut Target {
        plan.targets.iter_mut().find(|t| t.code == c).unwrap()
    }

    measure(&mut plan, "4.2").responsible_units[6] = "各项目单位".into();
    measure(&mut plan, "2.2").responsible_units.push("区人社局".into());
    measure(&mut plan, "3.4").action = 11;
    measure(&mut plan, "3.2").milestones[0].date = chrono::NaiveDate::from_ymd_opt(2031, 6, 30).unwrap();
    measure(&mut plan, "9.3").text.push_str("\n\n产投资");
    let duplicate = plan.measure("1.1").unwrap().clone();
    plan.measures.push(duplicate);
    target(&mut plan, "new-enterprises").unit = QuantityUnit::Percent;
    target(&mut plan, "fixed-asset-investment").decimal_places = Some(9);
    target(&mut plan, "actual-foreign-investment").value = "-8".parse().unwrap();
    target(&mut plan, "contract-foreign-investment").measure = "6.9".into();
    target(&mut plan, "export-refund-days").reporters = vec!["区商务委".into(), "区教育局".into()];
    target(&mut plan, "tourism-routes").source = "发布5条旅游线路".into();
    target(&mut plan, "worker-relay-stations").value = "4.5".parse().unwrap();
    target(&mut plan, "new-100m-projects").aggregation = Aggregation::Authoritative;
    target(&mut plan, "headquarters-enterprises").aspirational = false;

    let problems = plan.validate(&dir);
    let got = paths(&problems);
    let expected = [
        "measures[4.2].responsible_units[6]",
        "measures[2.2].responsible_units[3]",
        "measures[3.4].action",
        "measures[3.2].milestones[huijia-car-promotion-extension].date",
        "measures[9.3].text",
        "measures[1.1].number",
        "actions[1]",
        "targets[new-enterprises].unit",
        "targets[new-enterprises].value",
        "targets[fixed-asset-investment].decimal_places",
        "targets[actual-foreign-investment].value",
        "targets[contract-foreign-investment].measure",
        "targets[export-refund-days].reporters",
        "targets[export-refund-days].reporters[1]",
        "targets[tourism-routes].source",
        "targets[worker-relay-stations].value",
        "targets[new-100m-projects].reporters[0]",
        "targets[headquarters-enterprises].aspirational",
    ];
    for path in expected {
        assert!(got.contains(&path), "missing {path} in {problems:#?}");
    }
    // 3.4 is both misnumbered for action 11 and points to a missing action;
    // the duplicate 1.1 also breaks action 1's item sequence.
    assert_eq!(got.iter().filter(|p| **p == "measures[3.4].action").count(), 2);
    // The policy parameters of the duplicated 1.1 collide too; nothing else.
    let unexpected: Vec<_> = got
        .iter()
        .filter(|p| !expected.contains(p) && !p.starts_with("measures[1.1].policy_parameters"))
        .collect();
    assert!(unexpected.is_empty(), "{unexpected:?}");

    let err = load(JIADING_DIRECTORY, &toml_of(&plan)).unwrap_err();
    assert!(matches!(err, CatalogError::Invalid(ref p) if p.len() == problems.len()));
}

/// Found by the ImportPlan property (issue 12): an entry whose key cannot name it in a
/// path (blank, with a bracket, too long) is named by its index, as a blank milestone code
/// always was: `policy_parameters[]` and `targets[a]b]` were not field paths.
#[test]
fn entries_without_a_usable_key_are_named_by_index() {
    let (dir, mut plan) = jiading_2023();
    let m11 = plan.measures.iter().position(|m| m.number == "1.1").unwrap();
    plan.measures[m11].policy_parameters[1].code.clear();
    plan.measures[m11].milestones[0].code = "A".repeat(65);
    let t = plan.targets.len() - 1;
    plan.targets[t].code = "a]b".into();
    plan.measures[m11].number = " ".into();
    let problems = plan.validate(&dir);
    let got = paths(&problems);
    for path in [
        format!("measures[#{m11}].number"),
        format!("measures[#{m11}].policy_parameters[#1].code"),
        format!("measures[#{m11}].milestones[#0].code"),
        format!("targets[#{t}].code"),
    ] {
        assert!(got.contains(&path.as_str()), "missing {path} in {got:#?}");
    }
    assert_eq!(duban_catalog::entry_key("4.2", 7), "4.2");
    assert_eq!(duban_catalog::entry_key("a\tb", 7), "#7");
}

/// Serialises a plan back to TOML (which has a `nan` literal), so that
/// `load` sees the broken text as a maintainer would have written it.
fn toml_of(plan: &Plan) -> String {
    toml::to_string(plan).unwrap()
}

const TINY_DIRECTORY: &str = r#"
[directory]
code = "tiny"
name = "小区"
name_en = "Tiny"

[[units]]
code = "a-bureau"
name = "区甲局"
name_en = "A Bureau"
kind = "bureau"
"#;

const BROKEN_PLAN: &str = r#"
[plan]
id = "Tiny 2023"
document_number = "小府〔2023〕1号"
title = "方案"
title_en = "Plan"
issuing_body = "小区政府"
issuing_body_en = "Tiny government"
issue_date = 2023-03-03
effective_from = 2023-12-31
effective_to = 2023-01-01
directory = "jiading"
time_zone = "Asia/Shanghai"
cadence = { kind = "monthly", due_day = 31 }

[[actions]]
number = 1
title = "行动"
title_en = "Action"

[[measures]]
action = 1
number = "1.2"
title = "做事"
title_en = "Do"
text = "做事。"
responsible_units = ["区乙局"]

[[targets]]
code = "things"
measure = "1.2"
name = "事"
name_en = "Things"
unit = "count"
value = 1
comparator = "at_least"
aggregation = "authoritative"
basis = "period"
reporters = ["区甲局"]
source = "做事"
"#;

#[test]
fn hand_written_broken_plan_parses_then_fails_validation_everywhere() {
    let dir = Directory::from_toml_str(TINY_DIRECTORY).unwrap();
    let plan = Plan::from_toml_str(BROKEN_PLAN).unwrap();
    let problems = plan.validate(&dir);
    assert_eq!(
        paths(&problems),
        [
            "plan.id",
            "plan.directory",
            "plan.effective_to",
            "plan.cadence.due_day",
            "actions[1]",
            "measures[1.2].responsible_units[0]",
            "targets[things].reporters[0]",
        ],
        "{problems:#?}"
    );
    assert!(problems[5].message.contains("区乙局"));
}

#[test]
fn shape_errors_are_parse_errors() {
    let bad_unit = BROKEN_PLAN.replace(r#"unit = "count""#, r#"unit = "yuan""#);
    assert!(matches!(Plan::from_toml_str(&bad_unit), Err(CatalogError::Parse(_))));
    let typo = BROKEN_PLAN.replace("responsible_units", "responsible_unit");
    assert!(matches!(Plan::from_toml_str(&typo), Err(CatalogError::Parse(_))));
    let bad_kind = TINY_DIRECTORY.replace(r#"kind = "bureau""#, r#"kind = "ministry""#);
    assert!(matches!(
        Directory::from_toml_str(&bad_kind),
        Err(CatalogError::Parse(_))
    ));
}

#[test]
fn an_unknown_time_zone_is_a_problem_at_its_path() {
    let (dir, mut plan) = jiading_2023();
    assert_eq!(plan.header.time_zone, "Asia/Shanghai");
    plan.header.time_zone = "UTC+8".into();
    assert_eq!(paths(&plan.validate(&dir)), ["plan.time_zone"]);
    plan.header.time_zone = String::new();
    assert_eq!(paths(&plan.validate(&dir)), ["plan.time_zone"]);
}

#[test]
fn milestone_codes_are_required_slugs_unique_within_their_measure() {
    let (dir, mut plan) = jiading_2023();
    let m11 = plan.measures.iter_mut().find(|m| m.number == "1.1").unwrap();
    m11.milestones[0].code = String::new();
    m11.milestones[1].code = "NEV_exemption".into();
    m11.milestones[3].code = m11.milestones[2].code.clone();
    m11.milestones[3].description = m11.milestones[2].description.clone();
    // Another measure may use a code of 1.1: reports name milestones of their own measure.
    let borrowed = plan.measure("1.1").unwrap().milestones[2].code.clone();
    plan.measures.iter_mut().find(|m| m.number == "3.2").unwrap().milestones[0].code = borrowed;
    let problems = plan.validate(&dir);
    assert_eq!(
        paths(&problems),
        [
            "measures[1.1].milestones[#0].code",
            "measures[1.1].milestones[NEV_exemption].code",
            "measures[1.1].milestones[six-taxes-two-fees-relief].code",
            "measures[1.1].milestones[six-taxes-two-fees-relief].description",
        ],
        "{problems:#?}"
    );
    assert_eq!(problems[0].message, "must not be empty");
    assert!(problems[2].message.contains("used twice in the measure"));
}

#[test]
fn a_milestone_written_without_a_code_is_a_problem_at_its_path_not_a_parse_error() {
    let without = BROKEN_PLAN.replace(
        r#"responsible_units = ["区乙局"]"#,
        "responsible_units = [\"区乙局\"]\nmilestones = [{ date = 2023-06-30, description = \"完成\", description_en = \"Done\" }]",
    );
    let plan = Plan::from_toml_str(&without).unwrap();
    assert_eq!(plan.measures[0].milestones[0].code, "");
    let dir = Directory::from_toml_str(TINY_DIRECTORY).unwrap();
    assert!(paths(&plan.validate(&dir)).contains(&"measures[1.2].milestones[#0].code"));
}
