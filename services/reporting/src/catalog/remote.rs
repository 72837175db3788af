//! Fetching: the plan, its measures and targets, and the departments, over gRPC.

use std::collections::{BTreeMap, BTreeSet};

use duban_kit::client::ServiceChannel;
use duban_proto::{
    departments::v1::{self as dpb, departments_service_client::DepartmentsServiceClient},
    measures::v1::{self as mpb, measures_service_client::MeasuresServiceClient},
    targets::v1::{self as tpb, targets_service_client::TargetsServiceClient},
};
use tonic::Code;

use super::{CatalogSource, MeasureInfo, PlanInfo, TargetInfo};
use crate::{
    calendar::{self, Cadence},
    error::ReportingError,
};

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
        let bad = |what: &str| ReportingError::Dependency {
            service: "measures",
            message: format!("plan {code} has no valid {what}"),
        };
        let effective_from = plan
            .effective_from
            .as_ref()
            .and_then(calendar::date_from_proto)
            .ok_or_else(|| bad("effective_from"))?;
        let effective_to = plan
            .effective_to
            .as_ref()
            .and_then(calendar::date_from_proto)
            .ok_or_else(|| bad("effective_to"))?;
        let cadence = plan.cadence.unwrap_or_default();
        let cadence = Cadence {
            quarterly: cadence.frequency == mpb::ReportingFrequency::Quarterly as i32,
            due_day: u32::try_from(cadence.due_day).unwrap_or(1).clamp(1, 28),
        };

        let mut measures = BTreeMap::new();
        let mut token = String::new();
        loop {
            let page = self
                .measures
                .clone()
                .list_measures(mpb::ListMeasuresRequest {
                    parent: parent.clone(),
                    page_size: 500,
                    page_token: token,
                    ..Default::default()
                })
                .await
                .map_err(unavailable("measures"))?
                .into_inner();
            for measure in page.measures {
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
                measures.insert(measure.number, info);
            }
            token = page.next_page_token;
            if token.is_empty() {
                break;
            }
        }

        let mut targets = BTreeMap::new();
        let mut token = String::new();
        loop {
            let page = self
                .targets
                .clone()
                .list_targets(tpb::ListTargetsRequest {
                    parent: parent.clone(),
                    page_size: 500,
                    page_token: token,
                    ..Default::default()
                })
                .await
                .map_err(unavailable("targets"))?
                .into_inner();
            for target in page.targets {
                let info = TargetInfo {
                    name: format!("{parent}/targets/{}@{}", target.code, target.revision),
                    code: target.code.clone(),
                    measure_number: target.measure_number,
                    unit: target.unit,
                    basis: target.value_basis,
                    aggregation: target.aggregation,
                    comparator: target.comparator,
                    value: target.value,
                    baseline: target.baseline,
                    reporting_departments: target.reporting_departments,
                };
                targets.insert(target.code, info);
            }
            token = page.next_page_token;
            if token.is_empty() {
                break;
            }
        }
        Ok(Some(PlanInfo {
            code: code.to_owned(),
            revision: plan.revision,
            effective_from,
            effective_to,
            cadence,
            measures,
            targets,
        }))
    }

    async fn departments(&self) -> Result<BTreeMap<String, String>, ReportingError> {
        let mut out = BTreeMap::new();
        let mut token = String::new();
        loop {
            let page = self
                .departments
                .clone()
                .list_departments(dpb::ListDepartmentsRequest {
                    page_size: 500,
                    page_token: token,
                    ..Default::default()
                })
                .await
                .map_err(unavailable("departments"))?
                .into_inner();
            out.extend(page.departments.into_iter().map(|d| (d.code, d.display_name)));
            token = page.next_page_token;
            if token.is_empty() {
                return Ok(out);
            }
        }
    }
}
