//! The milestone updates of a report: which milestone each one names, by its code or by
//! the deprecated number or description, and what it says about it.
//!
//! A code keeps its meaning when a re-import reorders or rewords the measure's
//! milestones; a number (a position) and a description do not. So the code decides, and
//! a number or description sent beside it must name the same milestone: a client that
//! still sends a stale number is told so instead of having its update stored against
//! another milestone.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use duban_kit::FieldViolation;
use duban_proto::reporting::v1 as pb;

use super::{MAX_TEXT, chars};
use crate::{
    calendar,
    catalog::{MeasureInfo, MilestoneInfo, PlanInfo},
};

/// What one update names: a milestone not sent, sent but unknown, or found.
type Lookup = Option<Option<usize>>;

/// Which of `milestones` `update` names (its index), or each field that names it wrongly
/// with what is wrong.
fn named(
    update: &pb::MilestoneUpdate,
    milestones: &[MilestoneInfo],
) -> Result<usize, Vec<(&'static str, String, String)>> {
    const UNKNOWN: (&str, &str) = ("is not a milestone of the measure", "不是本措施的节点");
    let unknown = |field| (field, UNKNOWN.0.to_owned(), UNKNOWN.1.to_owned());
    let mut problems = Vec::new();
    let by_code: Lookup =
        (!update.milestone_code.is_empty()).then(|| milestones.iter().position(|m| m.code == update.milestone_code));
    if by_code == Some(None) {
        problems.push(unknown("milestone_code"));
    }
    let by_number: Lookup = match usize::try_from(update.milestone_number) {
        Err(_) => {
            problems.push((
                "milestone_number",
                "must not be negative".to_owned(),
                "不能为负数".to_owned(),
            ));
            None
        }
        Ok(0) => None,
        Ok(number) => Some(Some(number - 1).filter(|index| *index < milestones.len())),
    };
    if by_number == Some(None) {
        problems.push(unknown("milestone_number"));
    }
    let by_description: Lookup = (!update.milestone_description.is_empty()).then(|| {
        milestones
            .iter()
            .position(|m| m.description == update.milestone_description)
    });
    if by_description == Some(None) {
        problems.push(unknown("milestone_description"));
    }
    if by_code.is_none() && by_number.is_none() && by_description.is_none() && update.milestone_number == 0 {
        problems.push((
            "milestone_code",
            "is required (or the deprecated milestone_number or milestone_description)".to_owned(),
            "必须注明节点".to_owned(),
        ));
    }
    // The code decides; the number decides over the description.
    let (code, number, description) = (by_code.flatten(), by_number.flatten(), by_description.flatten());
    if let (Some(code), Some(number)) = (code, number)
        && code != number
    {
        problems.push((
            "milestone_number",
            "names a different milestone than milestone_code".to_owned(),
            "与节点代码所指的节点不一致".to_owned(),
        ));
    }
    if let Some(description) = description {
        let other = code
            .map(|c| (c, "milestone_code"))
            .or(number.map(|n| (n, "milestone_number")));
        if let Some((index, field)) = other
            && index != description
        {
            problems.push((
                "milestone_description",
                format!("names a different milestone than {field}"),
                "与前面注明的节点不一致".to_owned(),
            ));
        }
    }
    match code.or(number).or(description) {
        Some(index) if problems.is_empty() => Ok(index),
        _ => Err(problems),
    }
}

/// The field an update names its milestone with, for a problem of the update as a whole.
fn naming_field(update: &pb::MilestoneUpdate) -> &'static str {
    if !update.milestone_code.is_empty() {
        "milestone_code"
    } else if update.milestone_number != 0 {
        "milestone_number"
    } else {
        "milestone_description"
    }
}

/// Every problem of `updates` against `measure` (none known: every update names an
/// unknown milestone), as `report.milestone_updates[i].<field>` violations. `today`
/// bounds achieve dates.
pub(super) fn check(
    updates: &[pb::MilestoneUpdate],
    measure: Option<&MeasureInfo>,
    today: NaiveDate,
) -> Vec<FieldViolation> {
    let mut out = Vec::new();
    let milestones: &[MilestoneInfo] = measure.map(|m| m.milestones.as_slice()).unwrap_or_default();
    let mut seen = BTreeSet::new();
    for (i, update) in updates.iter().enumerate() {
        let field = |name: &str| format!("report.milestone_updates[{i}].{name}");
        let mut bad =
            |name: &str, description: &str, zh: &str| out.push(FieldViolation::bilingual(field(name), description, zh));
        match named(update, milestones) {
            Ok(index) if !seen.insert(index) => {
                bad(
                    naming_field(update),
                    "names the same milestone as an earlier update",
                    "与前面的节点更新重复",
                );
            }
            Ok(_) => {}
            Err(problems) => {
                for (name, description, zh) in problems {
                    bad(name, &description, &zh);
                }
            }
        }
        let status = pb::MilestoneStatus::try_from(update.status).unwrap_or_default();
        if status == pb::MilestoneStatus::Unspecified {
            bad("status", "is required", "请选择节点状态");
        }
        match (&update.achieve_date, status == pb::MilestoneStatus::Achieved) {
            (None, true) => bad(
                "achieve_date",
                "is required for an achieved milestone",
                "已完成的节点必须填写完成日期",
            ),
            (Some(_), false) => bad(
                "achieve_date",
                "must be empty unless the milestone is achieved",
                "节点未完成时不应填写完成日期",
            ),
            (Some(date), true) => match calendar::date_from_proto(date) {
                None => bad("achieve_date", "is not a valid date", "不是有效日期"),
                Some(date) if date > today => bad("achieve_date", "is in the future", "不能晚于今天"),
                Some(_) => {}
            },
            (None, false) => {}
        }
        if chars(&update.note) > MAX_TEXT {
            bad("note", "is longer than 1000 characters", "超过 1000 字");
        }
    }
    out
}

/// Fills in the code, number and description of each milestone update (after
/// [`super::check_report`] found them valid), from the plan they were judged against:
/// what the stored revision keeps.
pub fn fill_milestones(report: &mut pb::Report, plan: &PlanInfo) {
    let Some(measure) = plan.measures.get(&report.measure_number) else {
        return;
    };
    for update in &mut report.milestone_updates {
        let Ok(index) = named(update, &measure.milestones) else {
            continue;
        };
        let Some(milestone) = measure.milestones.get(index) else {
            continue;
        };
        update.milestone_code.clone_from(&milestone.code);
        update.milestone_number = index as i32 + 1;
        update.milestone_description.clone_from(&milestone.description);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measure(milestones: &[(&str, &str)]) -> MeasureInfo {
        MeasureInfo {
            number: "3.2".into(),
            milestones: milestones
                .iter()
                .map(|(code, description)| MilestoneInfo::new(*code, *description))
                .collect(),
            ..Default::default()
        }
    }

    const PLANNED: &[(&str, &str)] = &[
        ("promotion-extension", "购车促销活动期限延长"),
        ("subsidy-in-force", "落实新能源车置换补贴"),
    ];

    fn update(code: &str, number: i32, description: &str) -> pb::MilestoneUpdate {
        pb::MilestoneUpdate {
            milestone_code: code.into(),
            milestone_number: number,
            milestone_description: description.into(),
            status: pb::MilestoneStatus::InProgress as i32,
            ..Default::default()
        }
    }

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2024, 1, 1).unwrap()
    }

    /// `(field, description)` of every violation.
    fn problems(updates: &[pb::MilestoneUpdate], measure: &MeasureInfo) -> Vec<(String, String)> {
        check(updates, Some(measure), today())
            .into_iter()
            .map(|v| (v.field, v.description))
            .collect()
    }

    fn fields(updates: &[pb::MilestoneUpdate], measure: &MeasureInfo) -> Vec<String> {
        problems(updates, measure).into_iter().map(|(field, _)| field).collect()
    }

    fn plan(measure: MeasureInfo) -> PlanInfo {
        let (from, to) = (
            NaiveDate::from_ymd_opt(2023, 3, 3).unwrap(),
            NaiveDate::from_ymd_opt(2023, 12, 31).unwrap(),
        );
        PlanInfo {
            code: "p".into(),
            revision: 1,
            effective_from: from,
            effective_to: to,
            cadence: calendar::Cadence::monthly(5),
            follow_up: Default::default(),
            rag: Default::default(),
            measures: [(measure.number.clone(), measure)].into(),
            targets: Default::default(),
            generation: 0,
        }
    }

    fn filled(updates: Vec<pb::MilestoneUpdate>, measure: MeasureInfo) -> Vec<(String, i32, String)> {
        let mut report = pb::Report {
            measure_number: measure.number.clone(),
            milestone_updates: updates,
            ..Default::default()
        };
        fill_milestones(&mut report, &plan(measure));
        report
            .milestone_updates
            .into_iter()
            .map(|u| (u.milestone_code, u.milestone_number, u.milestone_description))
            .collect()
    }

    #[test]
    fn a_code_names_the_milestone_and_all_three_are_filled_in() {
        let updates = vec![update("subsidy-in-force", 0, "")];
        assert!(problems(&updates, &measure(PLANNED)).is_empty());
        assert_eq!(
            filled(updates, measure(PLANNED)),
            [("subsidy-in-force".into(), 2, "落实新能源车置换补贴".into())]
        );
    }

    #[test]
    fn the_deprecated_number_and_description_are_still_accepted() {
        let updates = vec![update("", 1, ""), update("", 0, "落实新能源车置换补贴")];
        assert!(problems(&updates, &measure(PLANNED)).is_empty());
        assert_eq!(
            filled(updates, measure(PLANNED)),
            [
                ("promotion-extension".into(), 1, "购车促销活动期限延长".into()),
                ("subsidy-in-force".into(), 2, "落实新能源车置换补贴".into()),
            ]
        );
    }

    #[test]
    fn after_a_reordering_a_code_keeps_its_meaning_and_a_stale_number_is_refused() {
        let reordered = measure(&[PLANNED[1], PLANNED[0]]);
        // The update a client wrote against the first order, by code and number.
        let written = update("subsidy-in-force", 2, "");
        assert_eq!(
            problems(std::slice::from_ref(&written), &reordered),
            [(
                "report.milestone_updates[0].milestone_number".to_owned(),
                "names a different milestone than milestone_code".to_owned()
            )]
        );
        // By code alone it names the same commitment as before, now at position 1.
        assert_eq!(
            filled(vec![update("subsidy-in-force", 0, "")], reordered),
            [("subsidy-in-force".into(), 1, "落实新能源车置换补贴".into())]
        );
    }

    #[test]
    fn every_wrong_name_is_reported_at_its_field() {
        let m = measure(PLANNED);
        let updates = [
            update("no-such-milestone", 0, ""),
            update("", 3, ""),
            update("", -1, ""),
            update("", 0, "不存在"),
            update("", 0, ""),
            update("promotion-extension", 0, "落实新能源车置换补贴"),
            update("", 1, "落实新能源车置换补贴"),
        ];
        assert_eq!(
            problems(&updates, &m),
            [
                (
                    "report.milestone_updates[0].milestone_code",
                    "is not a milestone of the measure"
                ),
                (
                    "report.milestone_updates[1].milestone_number",
                    "is not a milestone of the measure"
                ),
                ("report.milestone_updates[2].milestone_number", "must not be negative"),
                (
                    "report.milestone_updates[3].milestone_description",
                    "is not a milestone of the measure"
                ),
                (
                    "report.milestone_updates[4].milestone_code",
                    "is required (or the deprecated milestone_number or milestone_description)"
                ),
                (
                    "report.milestone_updates[5].milestone_description",
                    "names a different milestone than milestone_code"
                ),
                (
                    "report.milestone_updates[6].milestone_description",
                    "names a different milestone than milestone_number"
                ),
            ]
            .map(|(f, d)| (f.to_owned(), d.to_owned()))
        );
        // Nothing known about the measure: every name is unknown.
        assert_eq!(
            check(&[update("promotion-extension", 0, "")], None, today())[0].field,
            "report.milestone_updates[0].milestone_code"
        );
    }

    #[test]
    fn one_update_per_milestone_whatever_names_it() {
        let updates = [
            update("promotion-extension", 0, ""),
            update("", 1, ""),
            update("", 0, "购车促销活动期限延长"),
            update("subsidy-in-force", 2, "落实新能源车置换补贴"),
        ];
        assert_eq!(
            fields(&updates, &measure(PLANNED)),
            [
                "report.milestone_updates[1].milestone_number",
                "report.milestone_updates[2].milestone_description",
            ]
        );
    }

    #[test]
    fn status_achieve_date_and_note() {
        let mut achieved = update("promotion-extension", 0, "");
        achieved.status = pb::MilestoneStatus::Achieved as i32;
        let mut future = update("subsidy-in-force", 0, "");
        future.status = pb::MilestoneStatus::Achieved as i32;
        future.achieve_date = Some(calendar::date_to_proto(NaiveDate::from_ymd_opt(2024, 1, 2).unwrap()));
        future.note = "字".repeat(MAX_TEXT + 1);
        let mut unspecified = update("", 0, "");
        unspecified.status = 0;
        unspecified.milestone_code = "promotion-extension".into();
        assert_eq!(
            fields(&[achieved, future, unspecified], &measure(PLANNED)),
            [
                "report.milestone_updates[0].achieve_date",
                "report.milestone_updates[1].achieve_date",
                "report.milestone_updates[1].note",
                "report.milestone_updates[2].milestone_code",
                "report.milestone_updates[2].status",
            ]
        );
    }
}
