//! The plan a suite imports, and the report keys tests and the benchmark write to.

use duban_proto::{common::v1 as common, measures::v1 as mpb, reporting::v1 as pb, targets::v1 as tpb};

use crate::{Caller, MeasuresClient, Suite, TargetsClient};

/// The resource name of the plan the harness imports.
pub const PLAN: &str = "plans/jiading-2023";

/// The embedded Jiading 2023 plan as an ImportPlan dataset (no source document).
pub fn jiading_dataset() -> mpb::PlanDataset {
    let (_, plan) = duban_catalog::jiading_2023();
    duban_measures::from_catalog(&plan, None)
}

/// The departments responsible for `measure`, in the order written, a group standing
/// for its members.
pub fn responsible_departments(measure: &mpb::Measure) -> Vec<String> {
    let mut departments = Vec::new();
    for unit in &measure.responsible_units {
        if unit.kind == mpb::ResponsibleUnitKind::Group as i32 {
            departments.extend(unit.member_codes.iter().cloned());
        } else {
            departments.push(unit.code.clone());
        }
    }
    departments
}

/// A measure, a department responsible for it, and the targets of the measure whose
/// values the department owes in every final report (possibly none).
#[derive(Debug, Clone, PartialEq)]
pub struct Responsibility {
    /// The measure's number, for example `4.3`.
    pub measure: String,
    /// The responsible department's code.
    pub department: String,
    /// The targets it reports, in code order: the slots of its report template.
    pub owed: Vec<tpb::Target>,
}

/// Where a report is kept: a measure of [`PLAN`], a department responsible for it, and
/// a month of 2023, with the targets whose values the report owes.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportKey {
    /// The measure's number, for example `4.3`.
    pub measure: String,
    /// The responsible department's code.
    pub department: String,
    /// 1 to 12.
    pub month: i32,
    /// The targets whose values a final report for this key must carry.
    pub owed: Vec<tpb::Target>,
}

impl ReportKey {
    /// The key of `responsibility`'s report for `month`.
    pub fn new(responsibility: &Responsibility, month: i32) -> Self {
        Self {
            measure: responsibility.measure.clone(),
            department: responsibility.department.clone(),
            month,
            owed: responsibility.owed.clone(),
        }
    }

    /// The report's resource name.
    pub fn name(&self) -> String {
        format!(
            "{PLAN}/reports/{}~{}~2023-{:02}",
            self.measure, self.department, self.month
        )
    }

    /// `value` for every owed target. A whole number from 0 to 100 is valid in every
    /// unit (counted units, percentages, any number of decimal places).
    pub fn values(&self, value: u8) -> Vec<pb::MetricValue> {
        assert!(value <= 100, "{value} is not valid in every unit");
        self.owed
            .iter()
            .map(|target| pb::MetricValue {
                target_code: target.code.clone(),
                value: Some(common::Decimal {
                    value: value.to_string(),
                }),
                unit: target.unit,
                basis: target.value_basis,
            })
            .collect()
    }

    /// A final SubmitReport request for this key: on track, with `narrative` and `value`
    /// for every owed target.
    pub fn submission(&self, narrative: String, value: u8, request_id: String) -> pb::SubmitReportRequest {
        pb::SubmitReportRequest {
            parent: PLAN.into(),
            report: Some(pb::Report {
                measure_number: self.measure.clone(),
                department: self.department.clone(),
                period: Some(common::Period {
                    year: 2023,
                    month: self.month,
                }),
                overall_status: pb::OverallStatus::OnTrack as i32,
                narrative,
                metric_values: self.values(value),
                ..Default::default()
            }),
            request_id,
            validate_only: false,
            ..Default::default()
        }
    }
}

impl Suite {
    /// Every (measure, responsible department) pair of the imported plan with the targets
    /// the department owes values for, in measure order, each measure's departments
    /// sorted and without repeats.
    pub async fn responsibilities(&self) -> Result<Vec<Responsibility>, tonic::Status> {
        read_responsibilities(&mut self.measures(Caller::Service), &mut self.targets(Caller::Service)).await
    }
}

/// As [`Suite::responsibilities`], read through the given clients: for servers that run
/// elsewhere (the benchmark's `duban serve` processes), with a token that may list
/// measures and targets.
pub async fn read_responsibilities(
    measures: &mut MeasuresClient,
    targets: &mut TargetsClient,
) -> Result<Vec<Responsibility>, tonic::Status> {
    let measures = measures
        .list_measures(mpb::ListMeasuresRequest {
            parent: PLAN.into(),
            page_size: 500,
            ..Default::default()
        })
        .await?
        .into_inner()
        .measures;
    let mut targets = targets
        .list_targets(tpb::ListTargetsRequest {
            parent: PLAN.into(),
            page_size: 500,
            ..Default::default()
        })
        .await?
        .into_inner()
        .targets;
    targets.sort_by(|a, b| a.code.cmp(&b.code));
    let mut out = Vec::new();
    for measure in &measures {
        let mut departments = responsible_departments(measure);
        departments.sort();
        departments.dedup();
        out.extend(departments.into_iter().map(|department| {
            Responsibility {
                owed: targets
                    .iter()
                    .filter(|t| t.measure_number == measure.number && t.reporting_departments.contains(&department))
                    .cloned()
                    .collect(),
                measure: measure.number.clone(),
                department,
            }
        }));
    }
    Ok(out)
}
