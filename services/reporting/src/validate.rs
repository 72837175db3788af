//! The pure checks of a submitted report: every problem becomes one field violation
//! naming its field, so a department fixes everything in one round.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use duban_kit::FieldViolation;
use duban_proto::{
    common::v1::QuantityUnit,
    decimal::{self, Decimal},
    reporting::v1 as pb,
};

use crate::{calendar::Month, catalog::PlanInfo};

mod milestones;

pub use milestones::fill_milestones;

/// Longest narrative, in Unicode code points.
pub const MAX_NARRATIVE: usize = 4000;
/// Most metric values per report.
pub const MAX_METRICS: usize = 50;
/// Most milestone updates, blockers and evidence links per report, each.
pub const MAX_ITEMS: usize = 20;
/// Longest note, blocker description or review reason.
pub const MAX_TEXT: usize = 1000;
/// Longest evidence title.
pub const MAX_TITLE: usize = 200;
/// Longest URL.
pub const MAX_URL: usize = 2000;

/// How far above its target's scale (the larger of its value and baseline, at least 1)
/// a reported value may be. Beyond it the figure is taken for a slip, a wrong unit or
/// digits typed twice (40000 enterprises reported as 40000000), and refused rather than
/// painting a target GREEN; a thousandfold leaves room for every real overshoot. It also
/// keeps every sum of values far from the limits of exact decimals.
pub const PLAUSIBLE_FACTOR: u32 = 1000;

/// The largest value [`PLAUSIBLE_FACTOR`] allows for `target`.
fn plausible_max(target: &crate::catalog::TargetInfo) -> Decimal {
    let scale = target
        .value
        .abs()
        .max(target.baseline.unwrap_or_default().abs())
        .max(Decimal::ONE);
    scale.saturating_mul(Decimal::from(PLAUSIBLE_FACTOR))
}

/// Units whose values must be whole numbers.
fn counted(unit: i32) -> bool {
    use QuantityUnit as U;
    [
        U::Count,
        U::Enterprises,
        U::Projects,
        U::HousingUnits,
        U::Sites,
        U::Routes,
        U::People,
    ]
    .iter()
    .any(|u| *u as i32 == unit)
}

fn chars(text: &str) -> usize {
    text.chars().count()
}

/// Whether `url` is an absolute http(s) URL with a host and no whitespace.
pub fn valid_url(url: &str) -> bool {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    let Some(rest) = rest else { return false };
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    !host.is_empty()
        && !host.starts_with(':')
        && !url.chars().any(|c| c.is_whitespace() || c.is_control())
        && chars(url) <= MAX_URL
}

/// Whether `text` is 64 lower-case hex digits.
pub fn valid_sha256(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Checks a report for `department` against the plan. `today` decides whether the
/// period has begun and achieve dates are not in the future; `departments` are the
/// known department codes.
pub fn check_report(
    report: &pb::Report,
    department: &str,
    plan: &PlanInfo,
    departments: &BTreeSet<String>,
    today: NaiveDate,
) -> Vec<FieldViolation> {
    let mut out = Vec::new();
    let mut bad =
        |field: String, description: &str, zh: &str| out.push(FieldViolation::bilingual(field, description, zh));

    let measure = plan.measures.get(&report.measure_number);
    if report.measure_number.is_empty() {
        bad("report.measure_number".into(), "is required", "必须填写措施编号");
    } else if measure.is_none() {
        bad(
            "report.measure_number".into(),
            "is not a measure of the plan",
            "不是本计划的措施",
        );
    }
    match Month::from_proto(report.period.as_ref()) {
        None if report.period.is_none() => bad("report.period".into(), "is required", "必须填写报送期"),
        None => bad("report.period".into(), "is not a valid month", "不是有效的月份"),
        Some(period) if !plan.periods().contains(&period) => bad(
            "report.period".into(),
            "is not a reporting period of the plan",
            "不是本计划的报送期",
        ),
        Some(period) if period.first_day() > today => bad("report.period".into(), "has not begun yet", "尚未开始"),
        Some(_) => {}
    }
    if pb::OverallStatus::try_from(report.overall_status).unwrap_or_default() == pb::OverallStatus::Unspecified {
        bad("report.overall_status".into(), "is required", "请选择总体进展");
    }
    if chars(&report.narrative) > MAX_NARRATIVE {
        bad(
            "report.narrative".into(),
            "is longer than 4000 characters",
            "超过 4000 字",
        );
    }

    if report.metric_values.len() > MAX_METRICS {
        bad(
            "report.metric_values".into(),
            "has more than 50 values",
            "指标值超过 50 项",
        );
    }
    let mut seen = BTreeSet::new();
    for (i, value) in report.metric_values.iter().enumerate() {
        let field = |name: &str| format!("report.metric_values[{i}].{name}");
        if value.target_code.is_empty() {
            bad(field("target_code"), "is required", "必须填写指标代码");
            continue;
        }
        if !seen.insert(value.target_code.as_str()) {
            bad(
                field("target_code"),
                "names the same target as an earlier value",
                "与前面的指标值重复",
            );
        }
        let Some(target) = plan.targets.get(&value.target_code) else {
            bad(field("target_code"), "is not a target of the plan", "不是本计划的指标");
            continue;
        };
        if measure.is_some() && target.measure_number != report.measure_number {
            bad(
                field("target_code"),
                "is a target of another measure",
                "是其他措施的指标",
            );
        } else if !target.reporting_departments.iter().any(|d| d == department) {
            bad(
                field("target_code"),
                "is not reported by this department",
                "不由本单位报送",
            );
        }
        if value.unit != target.unit {
            bad(
                field("unit"),
                "must be the target's unit (no conversion is made)",
                "计量单位必须与指标一致（不做换算）",
            );
        }
        if value.basis != target.basis {
            bad(field("basis"), "must be the target's value basis", "口径必须与指标一致");
        }
        let number = match value.value.as_ref().map(|v| v.to_decimal()) {
            None => {
                bad(field("value"), "is required", "请填写数值");
                continue;
            }
            Some(Err(problem)) => {
                let zh = match problem {
                    decimal::DecimalError::Syntax => "必须是数字，如 555 或 4.47（数字、可选的小数点和负号）",
                    decimal::DecimalError::Range => "位数过多（最多 28 位有效数字）",
                };
                bad(field("value"), &problem.to_string(), zh);
                continue;
            }
            Some(Ok(number)) => number,
        };
        if number.is_sign_negative() && !number.is_zero() {
            bad(field("value"), "must not be negative", "不能为负数");
        } else if value.unit == QuantityUnit::Percent as i32 && number > Decimal::ONE_HUNDRED {
            bad(
                field("value"),
                "must be at most 100 for a percentage",
                "百分比不能超过 100",
            );
        } else if number > plausible_max(target) {
            bad(
                field("value"),
                &format!(
                    "is implausibly large: more than {PLAUSIBLE_FACTOR} times the target's scale (at most {}); \
                     check the unit and the digits",
                    plausible_max(target).normalize()
                ),
                &format!(
                    "数值过大，超过指标量级的 {PLAUSIBLE_FACTOR} 倍（最多 {}），请核对单位和位数",
                    plausible_max(target).normalize()
                ),
            );
        } else if counted(value.unit) && !number.fract().is_zero() {
            bad(
                field("value"),
                "must be a whole number for a counted unit",
                "计数单位必须填写整数",
            );
        } else if decimal::places(number) > target.decimal_places {
            bad(
                field("value"),
                &format!("has more than the target's {} decimal places", target.decimal_places),
                &format!("小数位数超过指标规定的 {} 位", target.decimal_places),
            );
        }
    }

    // A final report carries every value the department owes for the measure; a
    // provisional one (快报) may be partial, since preliminary figures arrive piecemeal
    // and a later final revision completes them.
    if measure.is_some() && !report.provisional {
        for code in required_targets(plan, &report.measure_number, department) {
            if !seen.contains(code) {
                bad(
                    format!("report.metric_values[{code}]"),
                    "is required in a final report (send the value, or mark the report provisional)",
                    "正式报送必须填写（请填写数值，或将本次报送标为快报）",
                );
            }
        }
    }

    if report.milestone_updates.len() > MAX_ITEMS {
        bad(
            "report.milestone_updates".into(),
            "has more than 20 updates",
            "节点更新超过 20 项",
        );
    }
    for violation in milestones::check(&report.milestone_updates, measure, today) {
        let zh = violation.zh.unwrap_or_else(|| violation.description.clone());
        bad(violation.field, &violation.description, &zh);
    }

    if report.blockers.len() > MAX_ITEMS {
        bad("report.blockers".into(), "has more than 20 blockers", "问题超过 20 项");
    }
    for (i, blocker) in report.blockers.iter().enumerate() {
        let field = |name: &str| format!("report.blockers[{i}].{name}");
        // Raising a blocker needs its description and severity; an entry naming a
        // stored blocker keeps what it leaves empty (the name is checked against the
        // stored blockers when the revision is decided).
        let raising = blocker.name.is_empty();
        if raising && blocker.resolve {
            bad(
                field("resolve"),
                "must not be set without name: only a raised blocker can be resolved",
                "只有已提出的问题才能标为解决",
            );
        }
        if raising && blocker.description.trim().is_empty() {
            bad(field("description"), "is required", "请填写问题描述");
        } else if chars(&blocker.description) > MAX_TEXT {
            bad(field("description"), "is longer than 1000 characters", "超过 1000 字");
        }
        if raising
            && pb::BlockerSeverity::try_from(blocker.severity).unwrap_or_default() == pb::BlockerSeverity::Unspecified
        {
            bad(field("severity"), "is required", "请选择严重程度");
        }
        if !blocker.support_unit.is_empty() {
            if blocker.support_unit == department {
                bad(
                    field("support_unit"),
                    "must not be the reporting department",
                    "不能是本单位",
                );
            } else if !departments.contains(&blocker.support_unit) {
                bad(
                    field("support_unit"),
                    "is not a department in the directory",
                    "不是名录中的单位",
                );
            }
        }
    }

    out.extend(check_evidence(&report.evidence_links, "report.evidence_links"));
    out
}

/// Checks evidence links (a report's, or an answer to a supervision order's) held in the
/// field `path`: at most 20, each with a title, an absolute http(s) URL and, if given, a
/// SHA-256 in lower-case hex.
pub fn check_evidence(links: &[pb::EvidenceLink], path: &str) -> Vec<FieldViolation> {
    let mut out = Vec::new();
    let mut bad =
        |field: String, description: &str, zh: &str| out.push(FieldViolation::bilingual(field, description, zh));
    if links.len() > MAX_ITEMS {
        bad(path.to_owned(), "has more than 20 links", "佐证材料超过 20 项");
    }
    for (i, link) in links.iter().enumerate() {
        let field = |name: &str| format!("{path}[{i}].{name}");
        if link.title.trim().is_empty() {
            bad(field("title"), "is required", "请填写标题");
        } else if chars(&link.title) > MAX_TITLE {
            bad(field("title"), "is longer than 200 characters", "超过 200 字");
        }
        if link.url.is_empty() {
            bad(field("url"), "is required", "请填写链接");
        } else if !valid_url(&link.url) {
            bad(
                field("url"),
                "must be an absolute http:// or https:// URL of at most 2000 characters",
                "必须是以 http:// 或 https:// 开头、不超过 2000 字符的完整链接",
            );
        }
        if !link.sha256.is_empty() && !valid_sha256(&link.sha256) {
            bad(
                field("sha256"),
                "must be 64 lower-case hex digits",
                "必须是 64 位小写十六进制数字",
            );
        }
    }
    out
}

/// The codes of the targets of `measure` that `department` reports, in code order: the
/// slots of its report template.
pub fn required_targets<'a>(
    plan: &'a PlanInfo,
    measure: &'a str,
    department: &'a str,
) -> impl Iterator<Item = &'a str> {
    plan.targets
        .values()
        .filter(move |t| t.measure_number == measure && t.reporting_departments.iter().any(|d| d == department))
        .map(|t| t.code.as_str())
}

/// Targets of a plan by code, for tests.
pub type Targets = BTreeMap<String, crate::catalog::TargetInfo>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        calendar::Cadence,
        catalog::{MeasureInfo, MilestoneInfo, TargetInfo},
    };
    use duban_proto::common::v1::{self as common, ValueBasis};

    pub(crate) fn plan() -> PlanInfo {
        let measure = MeasureInfo {
            number: "4.1".into(),
            responsible: ["tax-bureau".to_owned(), "nanxiang-town".to_owned()].into(),
            milestones: vec![
                MilestoneInfo::new("contract-signed", "签约"),
                MilestoneInfo::new("works-started", "开工"),
            ],
        };
        let target = TargetInfo {
            name: "plans/p/targets/firms@1".into(),
            code: "firms".into(),
            measure_number: "4.1".into(),
            unit: QuantityUnit::Enterprises as i32,
            basis: ValueBasis::Cumulative as i32,
            reporting_departments: vec!["nanxiang-town".into()],
            ..Default::default()
        };
        let other = TargetInfo {
            code: "other".into(),
            measure_number: "5.1".into(),
            ..target.clone()
        };
        PlanInfo {
            code: "p".into(),
            revision: 1,
            effective_from: NaiveDate::from_ymd_opt(2023, 3, 3).unwrap(),
            effective_to: NaiveDate::from_ymd_opt(2023, 12, 31).unwrap(),
            cadence: Cadence::monthly(5),
            follow_up: Default::default(),
            rag: Default::default(),
            measures: [("4.1".to_owned(), measure)].into(),
            targets: [("firms".to_owned(), target), ("other".to_owned(), other)].into(),
            generation: 0,
        }
    }

    fn good() -> pb::Report {
        pb::Report {
            measure_number: "4.1".into(),
            period: Some(common::Period { year: 2023, month: 4 }),
            overall_status: pb::OverallStatus::OnTrack as i32,
            metric_values: vec![pb::MetricValue {
                target_code: "firms".into(),
                value: Some("12".parse().unwrap()),
                unit: QuantityUnit::Enterprises as i32,
                basis: ValueBasis::Cumulative as i32,
            }],
            milestone_updates: vec![pb::MilestoneUpdate {
                milestone_description: "开工".into(),
                status: pb::MilestoneStatus::InProgress as i32,
                ..Default::default()
            }],
            evidence_links: vec![pb::EvidenceLink {
                title: "清单".into(),
                url: "https://example.gov.cn/a.pdf".into(),
                sha256: "a".repeat(64),
            }],
            ..Default::default()
        }
    }

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2024, 1, 1).unwrap()
    }

    fn fields(report: &pb::Report) -> Vec<String> {
        let departments = ["tax-bureau".to_owned(), "nanxiang-town".to_owned()].into();
        check_report(report, "nanxiang-town", &plan(), &departments, today())
            .into_iter()
            .map(|v| v.field)
            .collect()
    }

    #[test]
    fn a_good_report_passes() {
        assert_eq!(fields(&good()), Vec::<String>::new());
    }

    #[test]
    fn values_beyond_a_thousand_times_the_target_are_refused_as_slips() {
        let with_value = |value: &str, target_value: &str| {
            let mut plan = plan();
            if let Some(target) = plan.targets.get_mut("firms") {
                target.value = target_value.parse().unwrap();
            }
            let mut report = good();
            report.metric_values[0].value = Some(common::Decimal { value: value.into() });
            let departments = ["tax-bureau".to_owned(), "nanxiang-town".to_owned()].into();
            check_report(&report, "nanxiang-town", &plan, &departments, today())
        };
        // A target of 0 (a baseline-free count) still allows a thousand.
        assert!(with_value("1000", "0").is_empty());
        assert_eq!(with_value("1001", "0")[0].field, "report.metric_values[0].value");
        assert!(with_value("40000000", "40000").is_empty());
        let refused = with_value("40000001", "40000");
        assert_eq!(refused.len(), 1, "{refused:?}");
        assert!(refused[0].description.contains("implausibly large"), "{refused:?}");
        // Far beyond: refused too, never summed.
        assert_eq!(with_value("79228162514264337593543950335", "40000").len(), 1);
    }

    #[test]
    fn a_year_beyond_the_calendar_is_a_named_violation_not_a_panic() {
        for year in [262_143, 262_144, i32::MAX, i32::MIN, -1] {
            let mut report = good();
            report.period = Some(common::Period { year, month: 12 });
            assert!(fields(&report).contains(&"report.period".to_owned()), "year {year}");
        }
    }

    #[test]
    fn every_problem_is_named() {
        let mut report = good();
        report.period = Some(common::Period { year: 2024, month: 2 });
        report.narrative = "字".repeat(MAX_NARRATIVE + 1);
        let mut value = report.metric_values[0].clone();
        value.unit = QuantityUnit::Percent as i32;
        value.value = Some(common::Decimal { value: "NaN".into() });
        report.metric_values.push(value);
        report.metric_values.push(pb::MetricValue {
            target_code: "other".into(),
            value: Some("-1".parse().unwrap()),
            ..report.metric_values[0].clone()
        });
        report.metric_values.push(pb::MetricValue {
            target_code: "firms-x".into(),
            ..report.metric_values[0].clone()
        });
        report.evidence_links[0].url = "ftp://x".into();
        report.evidence_links[0].sha256 = "ABC".into();
        report.blockers.push(pb::Blocker {
            description: "缺地".into(),
            severity: 0,
            support_unit: "nanxiang-town".into(),
            ..Default::default()
        });
        assert_eq!(
            fields(&report),
            [
                "report.period",
                "report.narrative",
                "report.metric_values[1].target_code",
                "report.metric_values[1].unit",
                "report.metric_values[1].value",
                "report.metric_values[2].target_code",
                "report.metric_values[2].value",
                "report.metric_values[3].target_code",
                "report.blockers[0].severity",
                "report.blockers[0].support_unit",
                "report.evidence_links[0].url",
                "report.evidence_links[0].sha256",
            ]
        );
    }

    #[test]
    fn counted_units_are_whole_and_milestones_consistent() {
        let mut report = good();
        report.metric_values[0].value = Some("1.5".parse().unwrap());
        report.milestone_updates[0].milestone_number = 1;
        report.milestone_updates[0].status = pb::MilestoneStatus::Achieved as i32;
        assert_eq!(
            fields(&report),
            [
                "report.metric_values[0].value",
                "report.milestone_updates[0].milestone_description",
                "report.milestone_updates[0].achieve_date",
            ]
        );
        let mut filled = good();
        fill_milestones(&mut filled, &plan());
        assert_eq!(filled.milestone_updates[0].milestone_number, 2);
    }

    #[test]
    fn values_have_at_most_the_targets_decimal_places() {
        let mut plan = plan();
        if let Some(firms) = plan.targets.get_mut("firms") {
            firms.unit = QuantityUnit::Usd100m as i32;
            firms.decimal_places = 2;
        }
        let mut report = good();
        report.metric_values[0].unit = QuantityUnit::Usd100m as i32;
        let departments = ["nanxiang-town".to_owned()].into();
        for (value, problems) in [("4.47", 0), ("4.470", 0), ("4.475", 1), ("", 1), ("4,47", 1)] {
            report.metric_values[0].value = Some(common::Decimal { value: value.into() });
            let found = check_report(&report, "nanxiang-town", &plan, &departments, today());
            assert_eq!(found.len(), problems, "{value}: {found:?}");
            assert!(found.iter().all(|v| v.field == "report.metric_values[0].value"));
        }
    }

    #[test]
    fn a_final_report_carries_every_value_it_owes_and_a_provisional_one_may_not() {
        let mut report = good();
        report.metric_values.clear();
        assert_eq!(fields(&report), ["report.metric_values[firms]"]);
        // The value is owed by nanxiang-town only: the tax bureau's report owes nothing.
        let departments = ["tax-bureau".to_owned(), "nanxiang-town".to_owned()].into();
        assert!(check_report(&report, "tax-bureau", &plan(), &departments, today()).is_empty());
        report.provisional = true;
        assert_eq!(fields(&report), Vec::<String>::new());
    }

    #[test]
    fn urls_and_hashes() {
        assert!(valid_url("https://a.cn/x?y=1"));
        assert!(!valid_url("https:///x"));
        assert!(!valid_url("https://a b"));
        assert!(!valid_url("javascript:alert(1)"));
        assert!(valid_sha256(&"0f".repeat(32)));
        assert!(!valid_sha256(&"0F".repeat(32)));
    }
}
