//! Rows to contract messages, and the dates, enums and lists in between.

use chrono::NaiveDate;
use duban_kit::Principal;
use duban_proto::decimal::{self, Decimal};
use duban_proto::{
    common::v1 as common,
    departments::v1::{Principal as PbPrincipal, Role},
    targets::v1 as pb,
};
use serde::{Deserialize, Serialize};

use crate::{
    entity::target_revision,
    trajectory::{MilestoneValue, PointSource, Shape},
};

pub use duban_kit::columns::{json_list, timestamp, to_json};

/// A milestone as stored in the JSON column.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StoredMilestone {
    /// Year of the period.
    pub year: i32,
    /// Month of the period.
    pub month: i32,
    /// Expected value at the period's end.
    /// Read from a JSON number (rows of earlier versions) or string, written as a string.
    pub expected_value: Decimal,
}

/// The etag of a target revision.
pub fn etag(revision: i32) -> String {
    format!("\"{revision}\"")
}

/// `plans/{plan}/targets/{code}`.
pub fn target_name(plan: &str, code: &str) -> String {
    format!("plans/{plan}/targets/{code}")
}

/// `plans/{plan}/targets/{code}@{revision}`.
pub fn revision_name(plan: &str, code: &str, revision: i32) -> String {
    format!("plans/{plan}/targets/{code}@{revision}")
}

pub use duban_plan::contract::{date_from_proto, date_key as date_str, date_to_proto};

/// A stored date; a corrupt value reads as the epoch's first day.
pub fn date_from_str(text: &str) -> NaiveDate {
    duban_plan::contract::parse_date(text).unwrap_or_default()
}

/// Stored milestones in the contract.
pub fn milestones_to_proto(stored: &[StoredMilestone]) -> Vec<pb::TargetMilestone> {
    stored
        .iter()
        .map(|m| pb::TargetMilestone {
            period: Some(common::Period {
                year: m.year,
                month: m.month,
            }),
            expected_value: Some(m.expected_value.into()),
        })
        .collect()
}

/// Contract milestones as stored, in period order (already validated).
pub fn milestones_from_proto(milestones: &[pb::TargetMilestone]) -> Vec<StoredMilestone> {
    let mut stored: Vec<StoredMilestone> = milestones
        .iter()
        .map(|m| {
            let period = m.period.unwrap_or_default();
            StoredMilestone {
                year: period.year,
                month: period.month,
                expected_value: decimal::from_proto(m.expected_value.as_ref()).unwrap_or_default(),
            }
        })
        .collect();
    stored.sort_by_key(|m| (m.year, m.month));
    stored
}

/// The stored name of a unit; `None` for UNSPECIFIED or unknown numbers.
pub fn unit_str(unit: i32) -> Option<&'static str> {
    common::QuantityUnit::try_from(unit)
        .ok()
        .filter(|unit| *unit != common::QuantityUnit::Unspecified)
        .map(|unit| unit.as_str_name())
}

/// The stored name of a comparator; `None` for UNSPECIFIED or unknown numbers.
pub fn comparator_str(comparator: i32) -> Option<&'static str> {
    common::Comparator::try_from(comparator)
        .ok()
        .filter(|comparator| *comparator != common::Comparator::Unspecified)
        .map(|comparator| comparator.as_str_name())
}

/// The stored name of an aggregation; `None` for UNSPECIFIED or unknown numbers.
pub fn aggregation_str(aggregation: i32) -> Option<&'static str> {
    common::Aggregation::try_from(aggregation)
        .ok()
        .filter(|aggregation| *aggregation != common::Aggregation::Unspecified)
        .map(|aggregation| aggregation.as_str_name())
}

/// The stored name of a value basis; `None` for UNSPECIFIED or unknown numbers.
pub fn basis_str(basis: i32) -> Option<&'static str> {
    common::ValueBasis::try_from(basis)
        .ok()
        .filter(|basis| *basis != common::ValueBasis::Unspecified)
        .map(|basis| basis.as_str_name())
}

fn unit_of(row: &target_revision::Model) -> common::QuantityUnit {
    common::QuantityUnit::from_str_name(&row.unit).unwrap_or_default()
}

fn comparator_of(row: &target_revision::Model) -> common::Comparator {
    common::Comparator::from_str_name(&row.comparator).unwrap_or_default()
}

/// The principal stored on a revision, in the contract.
pub fn revised_by(row: &target_revision::Model) -> PbPrincipal {
    PbPrincipal {
        role: Role::from_str_name(&row.revised_by_role).unwrap_or_default() as i32,
        department: row.revised_by_department.clone(),
        credential: row.revised_by_credential.clone(),
    }
}

/// The stored columns of who made a revision: role, department, credential.
pub fn principal_columns(principal: &Principal, credential: &str) -> (String, String, String) {
    let proto = principal.to_proto(credential);
    let role = Role::try_from(proto.role).unwrap_or_default().as_str_name().to_owned();
    (role, proto.department, proto.credential)
}

/// A revision row as a `Target`. `name` is the plain target name when `current`, the
/// `@{revision}` name otherwise.
pub fn target(row: &target_revision::Model, current: bool) -> pb::Target {
    pb::Target {
        name: if current {
            target_name(&row.plan, &row.code)
        } else {
            revision_name(&row.plan, &row.code, row.revision)
        },
        code: row.code.clone(),
        measure_number: row.measure_number.clone(),
        display_name: row.display_name.clone(),
        display_name_en: row.display_name_en.clone(),
        unit: unit_of(row) as i32,
        value: Some(row.value.0.into()),
        comparator: comparator_of(row) as i32,
        aspirational: row.aspirational,
        deadline: Some(date_to_proto(date_from_str(&row.deadline))),
        baseline: row.baseline.map(|baseline| baseline.0.into()),
        aggregation: common::Aggregation::from_str_name(&row.aggregation).unwrap_or_default() as i32,
        value_basis: common::ValueBasis::from_str_name(&row.value_basis).unwrap_or_default() as i32,
        reporters: json_list(&row.reporters),
        reporting_departments: json_list(&row.reporting_departments),
        source: row.source.clone(),
        note: row.note.clone(),
        milestones: milestones_to_proto(&json_list(&row.milestones)),
        revision: row.revision,
        original_value: Some(row.original_value.0.into()),
        original_deadline: Some(date_to_proto(date_from_str(&row.original_deadline))),
        revision_create_time: Some(timestamp(row.create_time_us)),
        revision_reason: row.reason.clone(),
        revised_by: Some(revised_by(row)),
        rebaselined: row.rebaselined,
        etag: etag(row.revision),
        decimal_places: Some(row.decimal_places),
    }
}

/// The trajectory shape of a revision, starting on `start`.
pub fn shape(row: &target_revision::Model, start: NaiveDate) -> Shape {
    Shape {
        start,
        deadline: date_from_str(&row.deadline),
        value: row.value.0,
        baseline: row.baseline.map(Decimal::from),
        at_most: comparator_of(row) == common::Comparator::AtMost,
        snapshot: row.value_basis == common::ValueBasis::Snapshot.as_str_name(),
        milestones: json_list::<StoredMilestone>(&row.milestones)
            .into_iter()
            .filter_map(|m| {
                Some(MilestoneValue {
                    year: m.year,
                    month: u32::try_from(m.month).ok()?,
                    expected_value: m.expected_value,
                })
            })
            .collect(),
    }
}

/// A point source in the contract.
pub fn point_source(source: PointSource) -> pb::TrajectoryPointSource {
    match source {
        PointSource::BeforeStart => pb::TrajectoryPointSource::BeforeStart,
        PointSource::Linear => pb::TrajectoryPointSource::Linear,
        PointSource::Milestone => pb::TrajectoryPointSource::Milestone,
        PointSource::Flat => pb::TrajectoryPointSource::Flat,
        PointSource::Deadline => pb::TrajectoryPointSource::Deadline,
    }
}

/// The unit of a revision, for trajectory responses.
pub fn unit(row: &target_revision::Model) -> common::QuantityUnit {
    unit_of(row)
}

/// The comparator of a revision, for trajectory responses.
pub fn comparator(row: &target_revision::Model) -> common::Comparator {
    comparator_of(row)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An amount as the contract carries it (canonical text), for building requests and
    /// comparing answers.
    fn d(text: &str) -> Option<common::Decimal> {
        Some(text.parse().unwrap())
    }

    #[test]
    fn dates_round_trip_and_invalid_ones_are_refused() {
        let day = NaiveDate::from_ymd_opt(2023, 12, 31).unwrap();
        assert_eq!(date_from_proto(&date_to_proto(day)), Some(day));
        assert_eq!(date_from_str(&date_str(day)), day);
        let bad = common::Date {
            year: 2023,
            month: 2,
            day: 30,
        };
        assert_eq!(date_from_proto(&bad), None);
    }

    #[test]
    fn enums_are_stored_by_contract_name() {
        assert_eq!(
            unit_str(common::QuantityUnit::Enterprises as i32),
            Some("QUANTITY_UNIT_ENTERPRISES")
        );
        assert_eq!(unit_str(0), None);
        assert_eq!(comparator_str(99), None);
        assert_eq!(
            basis_str(common::ValueBasis::Snapshot as i32),
            Some("VALUE_BASIS_SNAPSHOT")
        );
    }

    #[test]
    fn milestones_are_kept_in_period_order() {
        let milestone = |month, value| pb::TargetMilestone {
            period: Some(common::Period { year: 2023, month }),
            expected_value: value,
        };
        let stored = milestones_from_proto(&[milestone(9, d("3.0")), milestone(6, d("1.0"))]);
        assert_eq!(stored[0].month, 6);
        assert_eq!(milestones_to_proto(&stored)[1].expected_value, d("3.0"));
    }
}
