//! Submitting a report: authorisation before validation, idempotent replay, validation,
//! then the [`Submission`] goes to the writer (or, for validate_only, is only decided).

use std::collections::BTreeSet;

use duban_kit::{
    FieldViolation, Principal,
    auth::Verified,
    idempotency::{self, RequestKey},
};
use duban_proto::reporting::v1 as pb;

use super::{
    Reporting, Result,
    journal::{AuditInfo, WriteJob},
    parent_plan, role_not_allowed,
    submission::Submission,
};
use crate::{
    calendar::Month,
    catalog::PlanInfo,
    convert::{self, ReportKey},
    error::ReportingError,
    validate,
};
use tokio::sync::oneshot;

/// At most this many items per SubmitReports stream.
pub const MAX_STREAM_ITEMS: usize = 1000;

/// An item's place in its stream's order of writes. Items of one stream are checked
/// concurrently, but reach the writer in stream order, so that two revisions of the same
/// report sent one after the other are stored in that order.
#[derive(Debug, Default)]
pub struct Turn {
    previous: Option<oneshot::Receiver<()>>,
    next: Option<oneshot::Sender<()>>,
}

impl Turn {
    /// Makes turns for a stream's items, in order: each waits for the one before it.
    pub fn chain() -> impl FnMut() -> Turn {
        let mut previous: Option<oneshot::Receiver<()>> = None;
        move || {
            let (next, following) = oneshot::channel();
            Turn {
                previous: previous.replace(following),
                next: Some(next),
            }
        }
    }

    /// Waits until every earlier item has reached the writer (or given up).
    async fn wait(&mut self) {
        if let Some(previous) = self.previous.take() {
            // A dropped sender means the earlier item ended without writing: go on.
            let _ = previous.await;
        }
    }

    /// Lets the next item go.
    fn pass(&mut self) {
        if let Some(next) = self.next.take() {
            let _ = next.send(());
        }
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        self.pass();
    }
}

/// A SubmitReports item's extra fields.
#[derive(Debug, Clone, Default)]
pub struct Item {
    /// Backfill.
    pub backfill: bool,
    /// The original submit time for a backfill.
    pub submit_time: Option<prost_types::Timestamp>,
    /// Position in the stream.
    pub index: Option<i32>,
}

impl Reporting {
    /// SubmitReport, or one SubmitReports item.
    pub async fn submit(
        &self,
        caller: &Verified,
        request: pb::SubmitReportRequest,
        method: &'static str,
        item: Item,
        mut turn: Turn,
        request_for_key: &impl prost::Message,
    ) -> Result<pb::Report> {
        let mut audit = AuditInfo {
            principal: Some((caller.principal.clone(), caller.credential.clone())),
            method,
            request_id: request.request_id.clone(),
            resource: request.parent.clone(),
            validate_only: request.validate_only,
            backfill: item.backfill,
            item_index: item.index,
            source: convert::declared_source(request.source).unwrap_or_default(),
        };
        if let Some(report) = &request.report
            && let (Some(plan), Some(period)) = (
                convert::parse_parent(&request.parent),
                Month::from_proto(report.period.as_ref()),
            )
        {
            let department = match &caller.principal {
                Principal::Department(code) if report.department.is_empty() => code.clone(),
                _ => report.department.clone(),
            };
            audit.resource = ReportKey {
                plan: plan.to_owned(),
                measure: report.measure_number.clone(),
                department,
                period,
            }
            .name();
        }
        // Over quota: refused before any work, and not audited, so that a flood costs
        // the server nothing but this check.
        self.quota.admit(&caller.principal)?;
        let prepared = self
            .prepare_submit(caller, &request, &item, method, request_for_key)
            .await;
        match prepared {
            Err(error) => Err(self.refuse(audit, error).await),
            Ok(Prepared::Replay(report)) => {
                let resource = ReportKey::parse(&report.name).map(|(k, _)| k.revision_name(report.revision));
                let _ = self
                    .writer
                    .write(WriteJob::audit_only(Ok(resource.unwrap_or_default()), audit))
                    .await;
                Ok(*report)
            }
            Ok(Prepared::Write(submission)) if request.validate_only => {
                match submission.would_store(&self.store).await {
                    Ok(report) => {
                        let resource = Ok(submission.key.name());
                        let _ = self.writer.write(WriteJob::audit_only(resource, audit)).await;
                        Ok(report)
                    }
                    Err(error) => Err(self.refuse(audit, error).await),
                }
            }
            Ok(Prepared::Write(submission)) => {
                turn.wait().await;
                let committed = self.writer.queue(WriteJob::submission(*submission, audit)).await;
                turn.pass();
                let written = committed?.await?;
                let report = written.report;
                if written.replayed {
                    tracing::info!(report = %report.name, revision = report.revision, "answered a retried request as before");
                } else {
                    tracing::info!(report = %report.name, revision = report.revision, "stored a report revision");
                }
                Ok(report)
            }
        }
    }

    async fn prepare_submit(
        &self,
        caller: &Verified,
        request: &pb::SubmitReportRequest,
        item: &Item,
        method: &'static str,
        request_for_key: &impl prost::Message,
    ) -> Result<Prepared> {
        let principal = &caller.principal;
        let empty = pb::Report::default();
        let report = request.report.as_ref().unwrap_or(&empty);
        let department = match principal {
            Principal::Leadership | Principal::Service => {
                return Err(role_not_allowed("submitting reports", principal));
            }
            Principal::Department(own) => {
                if !report.department.is_empty() && report.department != *own {
                    return Err(ReportingError::NotOwnDepartment(format!(
                        "{} may submit only its own reports, not {}'s",
                        principal.label(),
                        report.department
                    )));
                }
                own.clone()
            }
            Principal::Admin => {
                if report.department.is_empty() {
                    return Err(ReportingError::invalid(
                        "report.department",
                        "is required when an administrator submits",
                    ));
                }
                report.department.clone()
            }
        };
        if item.backfill && *principal != Principal::Admin {
            return Err(role_not_allowed("backfilling", principal));
        }
        let request_key = RequestKey::new(&principal.label(), method, &request.request_id, request_for_key);
        // A retry of a stored request is answered what it was (AIP-155). A request that
        // passes its checks is looked up by the writer, which reads every request id of a
        // batch in one statement; only one refused here is looked up now, so that a retry
        // is answered what it was even where it would be refused today.
        let checked: Result<Box<Submission>> = async {
            let plan_code = parent_plan(&request.parent)?;
            if request.report.is_none() {
                return Err(ReportingError::invalid("report", "is required"));
            }
            let mut plan = self.catalog.plan(&plan_code).await?;
            let not_reporter = |plan: &PlanInfo| {
                *principal != Principal::Admin
                    && report.metric_values.iter().any(|value| {
                        plan.targets.get(&value.target_code).is_some_and(|target| {
                            target.measure_number == report.measure_number
                                && !target.reporting_departments.contains(&department)
                        })
                    })
            };
            let not_responsible = |plan: &PlanInfo| {
                plan.measures.contains_key(&report.measure_number)
                    && !plan.responsible(&report.measure_number, &department)
            };
            // Refusing on a cached plan: ask its owners again first (at most once a second),
            // so that a unit designated or made a reporter a moment ago is not refused.
            if not_responsible(&plan) || not_reporter(&plan) {
                plan = self.catalog.recheck(&plan_code).await?;
            }
            if not_responsible(&plan) {
                return Err(ReportingError::NotResponsible {
                    department,
                    measure: report.measure_number.clone(),
                });
            }
            // Still authorisation: a responsible department may report only the targets it
            // reports. Unknown targets and targets of other measures are validation errors.
            if *principal != Principal::Admin
                && let Some((index, value)) = report.metric_values.iter().enumerate().find(|(_, value)| {
                    plan.targets.get(&value.target_code).is_some_and(|target| {
                        target.measure_number == report.measure_number
                            && !target.reporting_departments.contains(&department)
                    })
                })
            {
                return Err(ReportingError::NotReporter {
                    department,
                    target: value.target_code.clone(),
                    index,
                });
            }
            let departments: BTreeSet<String> = match self.catalog.departments().await {
                Ok(d) => d.keys().cloned().collect(),
                // The directory is down and nothing is cached: do not judge support units.
                Err(_) => report.blockers.iter().map(|b| b.support_unit.clone()).collect(),
            };
            let today = plan.cadence.zone.today();
            let mut violations = validate::check_report(report, &department, &plan, &departments, today);
            let source = convert::declared_source(request.source);
            if source.is_none() {
                violations.push(FieldViolation::new("source", "is not a ReportSource"));
            }
            let now = chrono::Utc::now().timestamp_micros();
            let submit_time_us = match (item.backfill, &item.submit_time) {
                (true, None) => {
                    violations.push(FieldViolation::new("submit_time", "is required for a backfill"));
                    now
                }
                (true, Some(ts)) => {
                    let at = convert::micros(ts);
                    if at > now {
                        violations.push(FieldViolation::new("submit_time", "is in the future"));
                    }
                    if let Some(period) = Month::from_proto(report.period.as_ref())
                        && at < plan.cadence.zone.start_of_day_us(period.first_day())
                    {
                        violations.push(FieldViolation::new("submit_time", "is before the period's first day"));
                    }
                    at
                }
                (false, Some(_)) => {
                    violations.push(FieldViolation::new(
                        "submit_time",
                        "must be unset unless backfill is set",
                    ));
                    now
                }
                (false, None) => now,
            };
            if !violations.is_empty() {
                return Err(ReportingError::Invalid(violations));
            }
            let mut report = report.clone();
            validate::fill_milestones(&mut report, &plan);
            let period = Month::from_proto(report.period.as_ref())
                .ok_or_else(|| ReportingError::invalid("report.period", "must be a month"))?;
            Ok(Box::new(Submission {
                key: ReportKey {
                    plan: plan_code,
                    measure: report.measure_number.clone(),
                    department,
                    period,
                },
                etag: report.etag.clone(),
                report,
                principal: principal.clone(),
                credential: caller.credential.clone(),
                submit_time_us,
                backfilled: item.backfill,
                plan_revision: plan.revision,
                cadence: plan.cadence,
                request: request_key.clone(),
                source: source.unwrap_or(pb::ReportSource::Api),
            }))
        }
        .await;
        match (checked, &request_key) {
            (Ok(submission), _) => Ok(Prepared::Write(submission)),
            (Err(refusal), Some(key)) if !request.validate_only => {
                match idempotency::replay::<pb::Report>(self.store.db(), key).await? {
                    Some(stored) => Ok(Prepared::Replay(Box::new(stored))),
                    None => Err(refusal),
                }
            }
            (Err(refusal), _) => Err(refusal),
        }
    }
}

enum Prepared {
    Replay(Box<pb::Report>),
    Write(Box<Submission>),
}
