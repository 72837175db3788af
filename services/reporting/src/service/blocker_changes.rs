//! What a report's blocker entries do to the stored blockers of its measure and
//! department (pure): an entry without a name raises a blocker with the next number, one
//! with the name of an open blocker updates it or, with `resolve`, closes it. Blockers
//! the report does not mention are left as they are, so figures alone close nothing.

use duban_kit::FieldViolation;
use duban_proto::reporting::v1 as pb;

use crate::{
    convert::{self, BlockerRow, ReportKey},
    entity::blocker,
};

/// The blocker rows to write, and the blockers JSON of the revision.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BlockerChanges {
    /// Rows to write, and whether each exists already (update) or not (insert).
    pub rows: Vec<(blocker::Model, bool)>,
    /// The revision's entries, numbered, with their state after it.
    pub stored: Vec<BlockerRow>,
}

/// When and by which revision the changes are made.
#[derive(Debug, Clone, Copy)]
pub struct Occasion<'a> {
    /// The new revision's name, `...@{n}`, which a resolved blocker records.
    pub revision_name: &'a str,
    /// Its submit time.
    pub submit_time_us: i64,
    /// Now (the row's update time).
    pub now_us: i64,
}

const OPEN: pb::BlockerState = pb::BlockerState::Open;

/// Applies `entries` of a report on `key` to `existing`, every blocker stored for the
/// key's plan, measure and department. Every entry that names no open blocker of
/// theirs, or names one twice, is a violation of `report.blockers[i].name`.
pub fn apply(
    key: &ReportKey,
    entries: &[pb::Blocker],
    existing: &[blocker::Model],
    at: Occasion<'_>,
) -> Result<BlockerChanges, Vec<FieldViolation>> {
    let mut next = existing.iter().map(|b| b.number).max().unwrap_or(0);
    let mut changes = BlockerChanges::default();
    let mut violations = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let field = format!("report.blockers[{i}].name");
        let severity = pb::BlockerSeverity::try_from(entry.severity).unwrap_or_default();
        let (mut row, exists) = if entry.name.is_empty() {
            next += 1;
            let row = blocker::Model {
                plan: key.plan.clone(),
                measure_number: key.measure.clone(),
                department: key.department.clone(),
                number: next,
                measure_key: convert::measure_key(&key.measure),
                description: entry.description.clone(),
                severity: severity.as_str_name().to_owned(),
                support_unit: entry.support_unit.clone(),
                state: OPEN.as_str_name().to_owned(),
                open_period: key.period.key(),
                open_time_us: at.submit_time_us,
                resolve_time_us: None,
                resolve_report: String::new(),
                update_time_us: at.now_us,
            };
            (row, false)
        } else {
            let named = convert::parse_blocker_name(&entry.name).and_then(|(plan, measure, department, number)| {
                (plan == key.plan && measure == key.measure && department == key.department)
                    .then(|| existing.iter().find(|b| b.number == number))
                    .flatten()
            });
            let Some(stored) = named.filter(|b| b.state == OPEN.as_str_name()) else {
                violations.push(FieldViolation::bilingual(
                    field,
                    "is not an open blocker of this report's measure and department",
                    "不是本单位本措施未解决的问题",
                ));
                continue;
            };
            if changes.rows.iter().any(|(row, _)| row.number == stored.number) {
                violations.push(FieldViolation::bilingual(
                    field,
                    "names the same blocker as an earlier entry",
                    "与前面的问题重复",
                ));
                continue;
            }
            let mut row = stored.clone();
            if !entry.description.is_empty() {
                row.description = entry.description.clone();
            }
            if severity != pb::BlockerSeverity::Unspecified {
                row.severity = severity.as_str_name().to_owned();
            }
            if !entry.support_unit.is_empty() {
                row.support_unit = entry.support_unit.clone();
            }
            row.update_time_us = at.now_us;
            (row, true)
        };
        if entry.resolve {
            row.state = pb::BlockerState::Resolved.as_str_name().to_owned();
            row.resolve_time_us = Some(at.submit_time_us);
            row.resolve_report = at.revision_name.to_owned();
        }
        changes.stored.push(BlockerRow {
            description: row.description.clone(),
            severity: row.severity.clone(),
            support_unit: row.support_unit.clone(),
            number: row.number,
            state: row.state.clone(),
        });
        changes.rows.push((row, exists));
    }
    if violations.is_empty() {
        Ok(changes)
    } else {
        Err(violations)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::Month;

    fn key() -> ReportKey {
        ReportKey {
            plan: "p".into(),
            measure: "4.1".into(),
            department: "nanxiang-town".into(),
            period: Month::new(2023, 5).unwrap(),
        }
    }

    fn at() -> Occasion<'static> {
        Occasion {
            revision_name: "plans/p/reports/4.1~nanxiang-town~2023-05@1",
            submit_time_us: 50,
            now_us: 60,
        }
    }

    fn raised(text: &str) -> pb::Blocker {
        pb::Blocker {
            description: text.into(),
            severity: pb::BlockerSeverity::High as i32,
            support_unit: "planning-resources-bureau".into(),
            ..Default::default()
        }
    }

    #[test]
    fn new_blockers_are_numbered_after_the_stored_ones_and_updates_keep_the_rest() {
        let first = apply(&key(), &[raised("缺地"), raised("缺钱")], &[], at()).unwrap();
        let existing: Vec<_> = first.rows.into_iter().map(|(row, _)| row).collect();
        assert_eq!(existing.iter().map(|b| b.number).collect::<Vec<_>>(), [1, 2]);
        let resolve = pb::Blocker {
            name: "plans/p/blockers/4.1~nanxiang-town~2".into(),
            resolve: true,
            ..Default::default()
        };
        let changes = apply(&key(), &[resolve, raised("缺人")], &existing, at()).unwrap();
        let summary: Vec<_> = changes
            .rows
            .iter()
            .map(|(row, exists)| (row.number, row.description.as_str(), row.state.as_str(), *exists))
            .collect();
        assert_eq!(
            summary,
            [
                (2, "缺钱", "BLOCKER_STATE_RESOLVED", true),
                (3, "缺人", "BLOCKER_STATE_OPEN", false)
            ]
        );
        assert_eq!(changes.rows[0].0.resolve_report, at().revision_name);
        // Nothing mentioned: nothing changes.
        assert_eq!(apply(&key(), &[], &existing, at()).unwrap(), BlockerChanges::default());
    }

    #[test]
    fn a_name_must_be_an_open_blocker_of_the_same_key_once() {
        let mut existing: Vec<_> = apply(&key(), &[raised("缺地"), raised("缺钱")], &[], at())
            .unwrap()
            .rows
            .into_iter()
            .map(|(row, _)| row)
            .collect();
        existing[1].state = "BLOCKER_STATE_RESOLVED".into();
        let named = |name: &str| pb::Blocker {
            name: name.into(),
            ..Default::default()
        };
        let fields: Vec<String> = apply(
            &key(),
            &[
                named("plans/p/blockers/4.1~nanxiang-town~1"),
                named("plans/p/blockers/4.1~nanxiang-town~1"),
                named("plans/p/blockers/4.1~nanxiang-town~2"),
                named("plans/p/blockers/4.1~other-town~1"),
                named("plans/p/blockers/4.1~nanxiang-town~9"),
                named("nonsense"),
            ],
            &existing,
            at(),
        )
        .unwrap_err()
        .into_iter()
        .map(|v| v.field)
        .collect();
        assert_eq!(
            fields,
            (1..6).map(|i| format!("report.blockers[{i}].name")).collect::<Vec<_>>()
        );
    }
}
