//! Fetching: the plan, its measures and targets, and the departments, over gRPC.

use std::collections::{BTreeMap, BTreeSet};

use duban_kit::client::ServiceChannel;
use duban_plan::{PlanCalendar, listing};
use duban_proto::{
    departments::v1::departments_service_client::DepartmentsServiceClient,
    measures::v1::{self as mpb, measures_service_client::MeasuresServiceClient},
    targets::v1::targets_service_client::TargetsServiceClient,
};
use tonic::Code;

use super::{CatalogSource, MeasureInfo, PlanInfo, TargetInfo};
use crate::error::ReportingError;

/// Reads the measures, targets and departments services.
#[derive(Debug, Clone)]
pub struct RemoteCatalog {
    measures: MeasuresServiceClient<ServiceChannel>,
    targets: TargetsServiceClient<ServiceChannel>,
    departments: DepartmentsServiceClient<ServiceChannel>,
}

impl RemoteCatalog {
    /// Over channels that carry the service token.
    pub fn new(measures: ServiceChannel, targets: ServiceChannel, departments: ServiceChannel) -> Self {
        Self {
            measures: MeasuresServiceClient::new(measures),
            targets: TargetsServiceClient::new(targets),
            departments: DepartmentsServiceClient::new(departments),
        }
    }
}

fn unavailable(service: &'static str) -> impl Fn(tonic::Status) -> ReportingError {
    move |status| ReportingError::Dependency {
        service,
        message: format!("{:?}: {}", status.code(), status.message()),
    }
}

#[tonic::async_trait]
impl CatalogSource for RemoteCatalog {
    async fn plan(&self, code: &str) -> Result<Option<PlanInfo>, ReportingError> {
        let parent = format!("plans/{code}");
        let plan = match self
            .measures
            .clone()
            .get_plan(mpb::GetPlanRequest { name: parent.clone() })
            .await
        {
            Ok(plan) => plan.into_inner(),
            Err(status) if status.code() == Code::NotFound => return Ok(None),
            Err(status) => return Err(unavailable("measures")(status)),
        };
        let calendar = PlanCalendar::from_contract(&plan).map_err(|error| ReportingError::Dependency {
            service: "measures",
            message: error.to_string(),
        })?;
        let measures = listing::all_measures(&self.measures, &parent)
            .await
            .map_err(unavailable("measures"))?;
        let measures = measures
            .into_iter()
            .map(|measure| {
                let mut responsible = BTreeSet::new();
                for unit in &measure.responsible_units {
                    if unit.kind == mpb::ResponsibleUnitKind::Group as i32 {
                        responsible.extend(unit.member_codes.iter().cloned());
                    } else {
                        responsible.insert(unit.code.clone());
                    }
                }
                let info = MeasureInfo {
                    number: measure.number.clone(),
                    responsible,
                    milestones: measure.milestones.iter().map(|m| m.description.clone()).collect(),
                };
                (measure.number, info)
            })
            .collect();

        let targets = listing::all_targets(&self.targets, &parent)
            .await
            .map_err(unavailable("targets"))?;
        let targets = targets
            .into_iter()
            .map(|target| {
                let info = TargetInfo {
                    name: format!("{parent}/targets/{}@{}", target.code, target.revision),
                    code: target.code.clone(),
                    measure_number: target.measure_number,
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
                    reporting_departments: target.reporting_departments,
                };
                (target.code, info)
            })
            .collect();
        Ok(Some(PlanInfo {
            code: code.to_owned(),
            revision: plan.revision,
            effective_from: calendar.effective_from,
            effective_to: calendar.effective_to,
            cadence: calendar.cadence,
            measures,
            targets,
        }))
    }

    async fn departments(&self) -> Result<BTreeMap<String, String>, ReportingError> {
        let departments = listing::all_departments(&self.departments)
            .await
            .map_err(unavailable("departments"))?;
        Ok(departments.into_iter().map(|d| (d.code, d.display_name)).collect())
    }
}
