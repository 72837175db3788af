//! The plan a suite imports, and the report keys tests and the benchmark write to.

use duban_proto::{common::v1 as common, measures::v1 as mpb, reporting::v1 as pb};

use crate::{Caller, Suite};

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

/// Where a report is kept: a measure of [`PLAN`], a department responsible for it, and
/// a month of 2023.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportKey {
    /// The measure's number, for example `4.3`.
    pub measure: String,
    /// The responsible department's code.
    pub department: String,
    /// 1 to 12.
    pub month: i32,
}

impl ReportKey {
    /// The report's resource name.
    pub fn name(&self) -> String {
        format!(
            "{PLAN}/reports/{}~{}~2023-{:02}",
            self.measure, self.department, self.month
        )
    }

    /// A SubmitReport request for this key: on track, with `narrative` and
    /// `metric_values`.
    pub fn submission(
        &self,
        narrative: String,
        metric_values: Vec<pb::MetricValue>,
        request_id: String,
    ) -> pb::SubmitReportRequest {
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
                metric_values,
                ..Default::default()
            }),
            request_id,
            validate_only: false,
        }
    }
}

impl Suite {
    /// Every (measure number, responsible department) pair of the imported plan, in
    /// measure order, each measure's departments sorted and without repeats.
    pub async fn responsible_pairs(&self) -> Result<Vec<(String, String)>, tonic::Status> {
        let measures = self
            .measures(Caller::Service)
            .list_measures(mpb::ListMeasuresRequest {
                parent: PLAN.into(),
                page_size: 500,
                ..Default::default()
            })
            .await?
            .into_inner()
            .measures;
        let mut pairs = Vec::new();
        for measure in &measures {
            let mut departments = responsible_departments(measure);
            departments.sort();
            departments.dedup();
            pairs.extend(departments.into_iter().map(|d| (measure.number.clone(), d)));
        }
        Ok(pairs)
    }
}
