//! Reading targets, their revisions, and their trajectories (expected values at dates or period ends).

use duban_kit::{FieldViolation, paging::Page};
use duban_proto::targets::v1::ErrorReason;
use duban_proto::{departments::v1::GetDepartmentRequest, targets::v1 as pb};

use crate::{
    convert,
    entity::target_revision,
    error::TargetsError,
    rules,
    service::{Result, Targets, not_found, one, parse_target_name, sort_rows},
};

/// Most dates one GetTrajectory call may evaluate.
pub const MAX_TRAJECTORY_DATES: usize = 400;

impl Targets {
    /// A target's current revision, or a stored one for `...@{revision}`.
    pub async fn get_target(&self, name: &str) -> Result<pb::Target> {
        let reference = parse_target_name(name, "name", true)?;
        let row = self.resolve(&reference, name).await?;
        Ok(convert::target(&row, reference.revision.is_none()))
    }

    /// A page of a plan's current targets, in measure-number then code order.
    pub async fn list_targets(&self, request: &pb::ListTargetsRequest) -> Result<pb::ListTargetsResponse> {
        let mut violations = Vec::new();
        let plan = rules::parse_plan_name(&request.parent);
        if plan.is_none() {
            violations.push(FieldViolation::new(
                "parent",
                "must be a resource name of the form `plans/{plan}`",
            ));
        }
        if request.action_number < 0 {
            violations.push(FieldViolation::new("action_number", "must not be negative"));
        }
        if !request.department.is_empty() && !rules::is_slug(&request.department) {
            violations.push(FieldViolation::new("department", "must be a department code"));
        }
        let filter = format!(
            "{}|{}|{}|{}",
            request.parent, request.measure_number, request.action_number, request.department
        );
        let page = match Page::from_request(request.page_size, &request.page_token, &filter) {
            Ok(page) => Some(page),
            Err(violation) => {
                violations.push(violation);
                None
            }
        };
        let (Some(plan), Some(page)) = (plan, page) else {
            return Err(TargetsError::Invalid(violations));
        };
        if !violations.is_empty() {
            return Err(TargetsError::Invalid(violations));
        }
        if self.store.plan(self.store.db(), plan).await?.is_none() {
            return Err(not_found(ErrorReason::PlanNotFound, &request.parent));
        }
        if !request.department.is_empty() {
            self.check_department(&request.department).await?;
        }
        let rows: Vec<target_revision::Model> = self
            .current_rows(plan)
            .await?
            .into_iter()
            .filter(|row| request.measure_number.is_empty() || row.measure_number == request.measure_number)
            .filter(|row| request.action_number == 0 || row.action_number == request.action_number)
            .filter(|row| {
                request.department.is_empty()
                    || convert::json_list::<String>(&row.reporting_departments).contains(&request.department)
                    || convert::json_list::<String>(&row.reporters).contains(&request.department)
            })
            .collect();
        let total = rows.len() as u64;
        Ok(pb::ListTargetsResponse {
            targets: page.window(&rows).map(|row| convert::target(row, true)).collect(),
            next_page_token: page.next_token(total, &filter),
        })
    }

    /// A page of a target's revisions, newest first.
    pub async fn list_revisions(
        &self,
        request: &pb::ListTargetRevisionsRequest,
    ) -> Result<pb::ListTargetRevisionsResponse> {
        let reference = parse_target_name(&request.name, "name", false)?;
        let page = Page::from_request(request.page_size, &request.page_token, &request.name).map_err(one)?;
        if self
            .store
            .target(self.store.db(), &reference.plan, &reference.code)
            .await?
            .is_none()
        {
            return Err(not_found(ErrorReason::TargetNotFound, &request.name));
        }
        let (rows, total) = self
            .store
            .revisions(&reference.plan, &reference.code, page.offset, page.size)
            .await?;
        Ok(pb::ListTargetRevisionsResponse {
            targets: rows.iter().map(|row| convert::target(row, false)).collect(),
            next_page_token: page.next_token(total, &request.name),
        })
    }

    /// The expected values of a target at given dates, or at every period end.
    pub async fn get_trajectory(&self, request: &pb::GetTrajectoryRequest) -> Result<pb::GetTrajectoryResponse> {
        let reference = parse_target_name(&request.name, "name", true)?;
        let mut violations = Vec::new();
        if request.dates.len() > MAX_TRAJECTORY_DATES {
            violations.push(FieldViolation::new(
                "dates",
                format!("at most {MAX_TRAJECTORY_DATES} dates may be asked for"),
            ));
        }
        let dates: Vec<_> = request
            .dates
            .iter()
            .enumerate()
            .filter_map(|(index, date)| {
                let parsed = convert::date_from_proto(date);
                if parsed.is_none() {
                    violations.push(FieldViolation::new(
                        format!("dates[{index}]"),
                        "is not a valid calendar date",
                    ));
                }
                parsed
            })
            .collect();
        if !violations.is_empty() {
            return Err(TargetsError::Invalid(violations));
        }
        let row = self.resolve(&reference, &request.name).await?;
        let plan = self
            .store
            .plan(self.store.db(), &row.plan)
            .await?
            .ok_or_else(|| not_found(ErrorReason::PlanNotFound, &format!("plans/{}", row.plan)))?;
        let start = convert::date_from_str(&plan.effective_from);
        let shape = convert::shape(&row, start);
        let point = |point: crate::trajectory::Point, period| pb::TrajectoryPoint {
            date: Some(convert::date_to_proto(point.date)),
            period,
            expected_value: Some(point.expected_value.into()),
            source: convert::point_source(point.source) as i32,
        };
        let points = if dates.is_empty() {
            shape
                .per_period()
                .into_iter()
                .map(|((year, month), at)| {
                    point(
                        at,
                        Some(duban_proto::common::v1::Period {
                            year,
                            month: month as i32,
                        }),
                    )
                })
                .collect()
        } else {
            dates.into_iter().map(|date| point(shape.at(date), None)).collect()
        };
        Ok(pb::GetTrajectoryResponse {
            target: convert::revision_name(&row.plan, &row.code, row.revision),
            unit: convert::unit(&row) as i32,
            comparator: convert::comparator(&row) as i32,
            start_date: Some(convert::date_to_proto(start)),
            start_value: Some(shape.start_value().into()),
            points,
        })
    }

    /// The current revisions of a plan's targets that are not retired, in measure-number
    /// then code order.
    async fn current_rows(&self, plan: &str) -> Result<Vec<target_revision::Model>> {
        let mut rows = Vec::new();
        for pointer in self.store.targets(self.store.db(), plan).await? {
            if !pointer.retired {
                rows.push(self.revision_of(plan, &pointer.code, pointer.revision).await?);
            }
        }
        sort_rows(&mut rows);
        Ok(rows)
    }

    /// FIELD_INVALID unless `code` is a department in the directory.
    async fn check_department(&self, code: &str) -> Result<()> {
        let Some(directory) = &self.directory else {
            return Ok(());
        };
        let request = GetDepartmentRequest {
            name: format!("departments/{code}"),
        };
        match directory.clone().get_department(request).await {
            Ok(_) => Ok(()),
            Err(status) if matches!(status.code(), tonic::Code::NotFound | tonic::Code::InvalidArgument) => {
                Err(TargetsError::invalid(
                    "department",
                    format!("{code:?} is not a department code in the directory"),
                ))
            }
            Err(status) => Err(duban_kit::error::DependencyUnavailable {
                service: "departments",
                message: status.message().to_owned(),
            }
            .into()),
        }
    }
}
