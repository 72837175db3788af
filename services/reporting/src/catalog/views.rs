//! The cached views: a plan, its measures and targets, as reporting judges reports against them.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;

use crate::calendar::{Cadence, Month};

/// A measure, as reporting sees it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MeasureInfo {
    /// `4.1`.
    pub number: String,
    /// Department codes responsible: listed directly, or members of a listed group
    /// (fixed members, or those designated for this measure).
    pub responsible: BTreeSet<String>,
    /// Milestone descriptions, in order (position = index + 1).
    pub milestones: Vec<String>,
}

/// A target, as reporting sees it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TargetInfo {
    /// The target's resource name with its revision, `plans/{plan}/targets/{code}@{n}`.
    pub name: String,
    /// Its code.
    pub code: String,
    /// Its measure.
    pub measure_number: String,
    /// `QuantityUnit`.
    pub unit: i32,
    /// `ValueBasis`.
    pub basis: i32,
    /// `Aggregation`.
    pub aggregation: i32,
    /// `Comparator`.
    pub comparator: i32,
    /// The figure to reach.
    pub value: rust_decimal::Decimal,
    /// Baseline, if any.
    pub baseline: Option<rust_decimal::Decimal>,
    /// Digits after the point a reported value may have.
    pub decimal_places: u32,
    /// Department codes that report it, groups expanded.
    pub reporting_departments: Vec<String>,
}

/// A plan with everything reports are judged against.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanInfo {
    /// The plan's slug.
    pub code: String,
    /// Its current revision.
    pub revision: i32,
    /// First effective day.
    pub effective_from: NaiveDate,
    /// Last effective day.
    pub effective_to: NaiveDate,
    /// When reports are due.
    pub cadence: Cadence,
    /// Its measures by number.
    pub measures: BTreeMap<String, MeasureInfo>,
    /// Its targets by code.
    pub targets: BTreeMap<String, TargetInfo>,
}

impl PlanInfo {
    /// Every reporting period of the plan, oldest first.
    pub fn periods(&self) -> Vec<Month> {
        self.cadence.periods(self.effective_from, self.effective_to)
    }

    /// Whether `department` is responsible for `measure`.
    pub fn responsible(&self, measure: &str, department: &str) -> bool {
        self.measures
            .get(measure)
            .is_some_and(|m| m.responsible.contains(department))
    }
}
