//! The cached views: a plan, its measures and targets, as reporting judges reports against them.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use duban_plan::{PlanCalendar, trajectory::Shape, view::PlanStructure};
use duban_proto::{measures::v1 as mpb, targets::v1 as tpb};

use crate::calendar::{Cadence, Month};

/// A measure, as reporting sees it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MeasureInfo {
    /// `4.1`.
    pub number: String,
    /// Department codes responsible: listed directly, or members of a listed group
    /// (fixed members, or those designated for this measure).
    pub responsible: BTreeSet<String>,
    /// Its milestones, in order (position = index + 1).
    pub milestones: Vec<MilestoneInfo>,
}

/// A milestone of a measure, as reports name it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MilestoneInfo {
    /// Its stable code; for a plan served without codes (a measures server of the version
    /// before them), the code derived from its position, as that server's revision will
    /// show once migrated.
    pub code: String,
    /// Its description.
    pub description: String,
}

impl MilestoneInfo {
    /// A milestone as reports name it.
    pub fn new(code: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            description: description.into(),
        }
    }
}

impl MeasureInfo {
    /// A measure's responsible departments (groups expanded) and milestones.
    fn new(measure: &mpb::Measure) -> MeasureInfo {
        let mut responsible = BTreeSet::new();
        for unit in &measure.responsible_units {
            if unit.kind == mpb::ResponsibleUnitKind::Group as i32 {
                responsible.extend(unit.member_codes.iter().cloned());
            } else {
                responsible.insert(unit.code.clone());
            }
        }
        MeasureInfo {
            number: measure.number.clone(),
            responsible,
            milestones: measure
                .milestones
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    let code = if m.code.is_empty() {
                        duban_catalog::derived_milestone_code(i + 1)
                    } else {
                        m.code.clone()
                    };
                    MilestoneInfo::new(code, m.description.clone())
                })
                .collect(),
        }
    }
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
    /// Its Chinese name, for notices.
    pub display_name: String,
    /// Its English name, for notices.
    pub display_name_en: String,
    /// Its trajectory (`duban_plan::trajectory`, as the gateway draws and judges it).
    pub trajectory: Shape,
}

impl TargetInfo {
    /// A target of the plan `parent` (`plans/{plan}`) with `calendar`.
    fn new(parent: &str, target: &tpb::Target, calendar: &PlanCalendar) -> TargetInfo {
        TargetInfo {
            name: format!("{parent}/targets/{}@{}", target.code, target.revision),
            code: target.code.clone(),
            measure_number: target.measure_number.clone(),
            unit: target.unit,
            basis: target.value_basis,
            aggregation: target.aggregation,
            comparator: target.comparator,
            value: duban_proto::decimal::from_proto(target.value.as_ref()).unwrap_or_default(),
            baseline: duban_proto::decimal::from_proto(target.baseline.as_ref()),
            decimal_places: target
                .decimal_places
                .and_then(|places| u32::try_from(places).ok())
                .unwrap_or_default(),
            reporting_departments: target.reporting_departments.clone(),
            display_name: target.display_name.clone(),
            display_name_en: target.display_name_en.clone(),
            trajectory: Shape::from_target(target, calendar.effective_from, calendar.effective_to),
        }
    }
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
    /// When units are reminded and missing reports escalated.
    pub follow_up: duban_catalog::FollowUp,
    /// The tolerances of its targets' ratings.
    pub rag: duban_catalog::RagRules,
    /// Its measures by number.
    pub measures: BTreeMap<String, MeasureInfo>,
    /// Its targets by code.
    pub targets: BTreeMap<String, TargetInfo>,
    /// Which build of this server's view this is: a new number each time the plan is
    /// read again from its owners (so answers derived from it can say they changed).
    pub generation: u64,
}

/// The last [`PlanInfo::generation`] given.
static GENERATIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl PlanInfo {
    /// Reporting's reading of a plan's structure and its current targets.
    pub fn new(structure: &PlanStructure, targets: &[tpb::Target]) -> PlanInfo {
        let parent = format!("plans/{}", structure.code);
        let measures = structure
            .measures
            .iter()
            .map(|measure| (measure.number.clone(), MeasureInfo::new(measure)))
            .collect();
        let targets = targets
            .iter()
            .map(|target| {
                (
                    target.code.clone(),
                    TargetInfo::new(&parent, target, &structure.calendar),
                )
            })
            .collect();
        let calendar = &structure.calendar;
        PlanInfo {
            code: structure.code.clone(),
            revision: structure.plan.revision,
            effective_from: calendar.effective_from,
            effective_to: calendar.effective_to,
            cadence: calendar.cadence,
            follow_up: calendar.follow_up,
            rag: calendar.rag,
            measures,
            targets,
            generation: GENERATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1,
        }
    }

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
