//! The reporting domain: authorisation (before validation, AIP-211), validation,
//! idempotency, review workflow, progress, compliance, events and audit. Writes go
//! through the group-commit [`Writer`]; reads go straight to the store.

use std::collections::{BTreeMap, BTreeSet};

use duban_kit::{
    FieldViolation, Principal,
    auth::Verified,
    idempotency::{self, RequestKey},
    paging::Page,
};
use duban_proto::reporting::v1::{self as pb, ComplianceStatus};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::{
    calendar::{self, Month},
    catalog::{Catalog, PlanInfo},
    compliance::{self, Tally},
    convert::{self, ReportKey},
    error::ReportingError,
    progress::{self, DepartmentValues, PeriodValue, Slot},
    store::{AuditFilter, ReportFilter, ReportStore},
    validate,
    writer::{AuditInfo, Event, Op, ReviewOp, SubmitOp, Writer},
};

/// Full method names, as audit records name them.
pub mod method {
    /// SubmitReport.
    pub const SUBMIT: &str = "/duban.reporting.v1.ReportingService/SubmitReport";
    /// SubmitReports.
    pub const SUBMIT_MANY: &str = "/duban.reporting.v1.ReportingService/SubmitReports";
    /// AcceptReport.
    pub const ACCEPT: &str = "/duban.reporting.v1.ReportingService/AcceptReport";
    /// ReturnReport.
    pub const RETURN: &str = "/duban.reporting.v1.ReportingService/ReturnReport";
}

/// At most this many items per SubmitReports stream.
pub const MAX_STREAM_ITEMS: usize = 1000;
/// WatchReportEvents replays stored events this many at a time.
const REPLAY_PAGE: u64 = 500;
/// Events are kept this long.
pub const EVENT_RETENTION_US: i64 = 7 * 24 * 3600 * 1_000_000;

type Result<T> = std::result::Result<T, ReportingError>;

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

/// The reporting service's domain.
#[derive(Debug, Clone)]
pub struct Reporting {
    store: ReportStore,
    writer: Writer,
    catalog: Catalog,
    events: broadcast::Sender<Event>,
    count_submitted: bool,
    stopping: CancellationToken,
}

fn role_not_allowed(what: &str, principal: &Principal) -> ReportingError {
    ReportingError::RoleNotAllowed(format!("{what} is not allowed for {}", principal.label()))
}

fn parent_plan(parent: &str) -> Result<String> {
    convert::parse_parent(parent)
        .map(str::to_owned)
        .ok_or_else(|| ReportingError::invalid("parent", "must be `plans/{plan}`"))
}

fn measure_order(number: &str) -> Vec<u32> {
    number.split('.').map(|p| p.parse().unwrap_or(u32::MAX)).collect()
}

impl Reporting {
    /// The domain over a store; starts the writer task.
    pub fn new(store: ReportStore, catalog: Catalog, count_submitted: bool, stopping: CancellationToken) -> Self {
        let (events, _) = broadcast::channel(4096);
        let writer = Writer::start(store.clone(), events.clone());
        Self {
            store,
            writer,
            catalog,
            events,
            count_submitted,
            stopping,
        }
    }

    /// The store (for tests and diagnostics).
    pub fn store(&self) -> &ReportStore {
        &self.store
    }

    /// Records a refused or failed call and returns its error.
    async fn refuse(&self, audit: AuditInfo, error: ReportingError) -> ReportingError {
        if let Err(audit_error) = self.writer.write(Op::AuditOnly(Err(error.clone())), audit).await {
            tracing::error!(error = %audit_error, "cannot record an audit record");
        }
        error
    }

    /// SubmitReport, or one SubmitReports item.
    pub async fn submit(
        &self,
        caller: &Verified,
        request: pb::SubmitReportRequest,
        method: &'static str,
        item: Item,
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
        let prepared = self
            .prepare_submit(caller, &request, &item, method, request_for_key)
            .await;
        match prepared {
            Err(error) => Err(self.refuse(audit, error).await),
            Ok(Prepared::Replay(report)) => {
                let resource = ReportKey::parse(&report.name).map(|(k, _)| k.revision_name(report.revision));
                let _ = self
                    .writer
                    .write(Op::AuditOnly(Ok(resource.unwrap_or_default())), audit)
                    .await;
                Ok(*report)
            }
            Ok(Prepared::Write(op)) if request.validate_only => {
                let report = self.would_store(&op).await;
                match report {
                    Ok(report) => {
                        let _ = self.writer.write(Op::AuditOnly(Ok(op.key.name())), audit).await;
                        Ok(report)
                    }
                    Err(error) => Err(self.refuse(audit, error).await),
                }
            }
            Ok(Prepared::Write(op)) => self.writer.write(Op::Submit(op), audit).await,
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
        if let Some(key) = &request_key
            && !request.validate_only
            && let Some(stored) = idempotency::replay::<pb::Report>(self.store.db(), key).await?
        {
            return Ok(Prepared::Replay(Box::new(stored)));
        }
        let plan_code = parent_plan(&request.parent)?;
        if request.report.is_none() {
            return Err(ReportingError::invalid("report", "is required"));
        }
        let plan = self.catalog.plan(&plan_code).await?;
        if plan.measures.contains_key(&report.measure_number) && !plan.responsible(&report.measure_number, &department)
        {
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
        let today = calendar::today();
        let mut violations = validate::check_report(report, &department, &plan, &departments, today);
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
                    && at < calendar::start_of_day_us(period.first_day())
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
        let period = Month::from_proto(report.period.as_ref()).expect("validated");
        Ok(Prepared::Write(Box::new(SubmitOp {
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
            request: request_key,
        })))
    }

    /// What a validate_only submission would store (etag checked, nothing written).
    async fn would_store(&self, op: &SubmitOp) -> Result<pb::Report> {
        let pointer = self.store.pointer(self.store.db(), &op.key).await?;
        let latest = match &pointer {
            Some(p) => self.store.revision(self.store.db(), &op.key, p.revision).await?,
            None => None,
        };
        if !op.etag.is_empty() {
            let current = latest.as_ref().map(|r| r.etag.clone()).unwrap_or_default();
            if current != op.etag {
                return Err(ReportingError::EtagMismatch {
                    name: op.key.name(),
                    current,
                });
            }
        }
        let revision = pointer.as_ref().map_or(1, |p| p.revision + 1);
        let first = pointer.as_ref().map_or(op.submit_time_us, |p| p.first_submit_time_us);
        let due = op.cadence.due_date(op.key.period);
        Ok(pb::Report {
            name: op.key.name(),
            department: op.key.department.clone(),
            state: pb::report::State::Submitted as i32,
            revision,
            etag: convert::etag(revision, pb::report::State::Submitted),
            submitted_by: Some(op.principal.to_proto(&op.credential)),
            submit_time: Some(convert::timestamp(op.submit_time_us)),
            first_submit_time: Some(convert::timestamp(first)),
            due_date: Some(calendar::date_to_proto(due)),
            on_time: first < calendar::end_of_day_us(due),
            review: None,
            return_reason: pointer.map(|p| p.return_reason).unwrap_or_default(),
            backfilled: op.backfilled,
            plan_revision: op.plan_revision,
            ..op.report.clone()
        })
    }

    /// AcceptReport (`accept`) or ReturnReport.
    #[allow(clippy::too_many_arguments)]
    pub async fn review(
        &self,
        caller: &Verified,
        name: &str,
        etag: &str,
        reason: &str,
        request_id: &str,
        accept: bool,
        request_for_key: &impl prost::Message,
    ) -> Result<pb::Report> {
        let method = if accept { method::ACCEPT } else { method::RETURN };
        let audit = AuditInfo {
            principal: Some((caller.principal.clone(), caller.credential.clone())),
            method,
            request_id: request_id.to_owned(),
            resource: name.to_owned(),
            ..Default::default()
        };
        let prepared = async {
            if !matches!(caller.principal, Principal::Leadership | Principal::Admin) {
                return Err(role_not_allowed("reviewing reports", &caller.principal));
            }
            let request = RequestKey::new(&caller.principal.label(), method, request_id, request_for_key);
            if let Some(key) = &request
                && let Some(stored) = idempotency::replay::<pb::Report>(self.store.db(), key).await?
            {
                return Ok(Err(stored));
            }
            let mut violations = Vec::new();
            let key = match ReportKey::parse(name) {
                Some((key, None)) => Some(key),
                Some((_, Some(_))) => {
                    violations.push(FieldViolation::new(
                        "name",
                        "must not name a revision: the latest is reviewed",
                    ));
                    None
                }
                None => {
                    violations.push(FieldViolation::new(
                        "name",
                        "must be `plans/{plan}/reports/{measure}~{department}~{period}`",
                    ));
                    None
                }
            };
            if etag.is_empty() {
                violations.push(FieldViolation::new("etag", "is required"));
            }
            let field = if accept { "comment" } else { "reason" };
            if !accept && reason.trim().is_empty() {
                violations.push(FieldViolation::new(field, "is required"));
            }
            if reason.chars().count() > validate::MAX_TEXT {
                violations.push(FieldViolation::new(field, "is longer than 1000 characters"));
            }
            let Some(key) = key.filter(|_| violations.is_empty()) else {
                return Err(ReportingError::Invalid(violations));
            };
            let plan = self.catalog.plan(&key.plan).await?;
            Ok(Ok(Box::new(ReviewOp {
                key,
                accept,
                etag: etag.to_owned(),
                reason: reason.to_owned(),
                principal: caller.principal.clone(),
                credential: caller.credential.clone(),
                cadence: plan.cadence,
                request,
            })))
        }
        .await;
        match prepared {
            Err(error) => Err(self.refuse(audit, error).await),
            Ok(Err(stored)) => {
                let _ = self.writer.write(Op::AuditOnly(Ok(name.to_owned())), audit).await;
                Ok(stored)
            }
            Ok(Ok(op)) => self.writer.write(Op::Review(op), audit).await,
        }
    }

    fn check_own(principal: &Principal, department: &str) -> Result<()> {
        match principal {
            Principal::Department(own) if own != department => Err(ReportingError::NotOwnDepartment(format!(
                "{} may read only its own reports, not {department}'s",
                principal.label()
            ))),
            _ => Ok(()),
        }
    }

    /// GetReport.
    pub async fn get_report(&self, caller: &Verified, name: &str) -> Result<pb::Report> {
        let (key, revision) = ReportKey::parse(name).ok_or_else(|| {
            ReportingError::invalid(
                "name",
                "must be `plans/{plan}/reports/{measure}~{department}~{period}[@{revision}]`",
            )
        })?;
        Self::check_own(&caller.principal, &key.department)?;
        let plan = self.catalog.plan(&key.plan).await?;
        let pointer = self
            .store
            .pointer(self.store.db(), &key)
            .await?
            .ok_or_else(|| ReportingError::NotFound {
                reason: "REPORT_NOT_FOUND",
                resource: "report",
                name: key.name(),
            })?;
        let row = self
            .store
            .revision(self.store.db(), &key, revision.unwrap_or(pointer.revision))
            .await?
            .ok_or_else(|| ReportingError::NotFound {
                reason: "REVISION_NOT_FOUND",
                resource: "revision",
                name: name.to_owned(),
            })?;
        Ok(convert::report(&row, &pointer, plan.cadence, revision.is_some()))
    }

    /// ListReports.
    pub async fn list_reports(
        &self,
        caller: &Verified,
        request: &pb::ListReportsRequest,
    ) -> Result<pb::ListReportsResponse> {
        let plan_code = parent_plan(&request.parent)?;
        let mut department = request.department.clone();
        if let Principal::Department(own) = &caller.principal {
            Self::check_own(&caller.principal, if department.is_empty() { own } else { &department })?;
            department = own.clone();
        }
        let period = match &request.period {
            None => String::new(),
            Some(p) => Month::from_proto(Some(p))
                .ok_or_else(|| ReportingError::invalid("period", "is not a valid month"))?
                .key(),
        };
        let state = match pb::report::State::try_from(request.state).unwrap_or_default() {
            pb::report::State::Unspecified => String::new(),
            state => state.as_str_name().to_owned(),
        };
        let filter = ReportFilter {
            measure: request.measure_number.clone(),
            department,
            period,
            state,
        };
        let fingerprint = format!("{plan_code}|{:?}", filter);
        let page = Page::from_request(request.page_size, &request.page_token, &fingerprint)
            .map_err(|v| ReportingError::Invalid(vec![v]))?;
        let plan = self.catalog.plan(&plan_code).await?;
        let (pointers, total) = self.store.pointers(&plan_code, &filter, page.offset, page.size).await?;
        let mut reports = Vec::with_capacity(pointers.len());
        for pointer in pointers {
            let key = ReportKey {
                plan: pointer.plan.clone(),
                measure: pointer.measure_number.clone(),
                department: pointer.department.clone(),
                period: Month::parse(&pointer.period).unwrap_or(Month { year: 1970, month: 1 }),
            };
            if let Some(row) = self.store.revision(self.store.db(), &key, pointer.revision).await? {
                reports.push(convert::report(&row, &pointer, plan.cadence, false));
            }
        }
        Ok(pb::ListReportsResponse {
            reports,
            next_page_token: page.next_token(total, &fingerprint),
            total_size: total as i32,
        })
    }

    /// ListReportRevisions.
    pub async fn list_revisions(
        &self,
        caller: &Verified,
        request: &pb::ListReportRevisionsRequest,
    ) -> Result<pb::ListReportRevisionsResponse> {
        let key = match ReportKey::parse(&request.name) {
            Some((key, None)) => key,
            _ => return Err(ReportingError::invalid("name", "must name a report without a revision")),
        };
        Self::check_own(&caller.principal, &key.department)?;
        let page = Page::from_request(request.page_size, &request.page_token, &request.name)
            .map_err(|v| ReportingError::Invalid(vec![v]))?;
        let plan = self.catalog.plan(&key.plan).await?;
        let pointer = self
            .store
            .pointer(self.store.db(), &key)
            .await?
            .ok_or_else(|| ReportingError::NotFound {
                reason: "REPORT_NOT_FOUND",
                resource: "report",
                name: key.name(),
            })?;
        let (rows, total) = self.store.revisions(&key, page.offset, page.size).await?;
        Ok(pb::ListReportRevisionsResponse {
            reports: rows
                .iter()
                .map(|r| convert::report(r, &pointer, plan.cadence, true))
                .collect(),
            next_page_token: page.next_token(total, &request.name),
        })
    }

    fn as_of(date: Option<&duban_proto::common::v1::Date>, today: chrono::NaiveDate) -> Result<chrono::NaiveDate> {
        match date {
            None => Ok(today),
            Some(date) => match calendar::date_from_proto(date) {
                None => Err(ReportingError::invalid("as_of", "is not a valid date")),
                Some(day) if day > today => Err(ReportingError::invalid("as_of", "is after today")),
                Some(day) => Ok(day),
            },
        }
    }

    /// GetProgress: reads only the aggregate table (plus, for an `as_of` before a
    /// value's latest change, that one report key's revisions).
    pub async fn get_progress(
        &self,
        caller: &Verified,
        request: &pb::GetProgressRequest,
    ) -> Result<pb::GetProgressResponse> {
        if matches!(caller.principal, Principal::Department(_)) {
            return Err(role_not_allowed("GetProgress", &caller.principal));
        }
        let plan_code = parent_plan(&request.parent)?;
        let plan = self.catalog.plan(&plan_code).await?;
        let mut violations = Vec::new();
        let today = calendar::today();
        let as_of = match Self::as_of(request.as_of.as_ref(), today) {
            Ok(day) => day,
            Err(ReportingError::Invalid(mut v)) => {
                violations.append(&mut v);
                today
            }
            Err(other) => return Err(other),
        };
        if request.target_codes.len() > 500 {
            violations.push(FieldViolation::new("target_codes", "has more than 500 codes"));
        }
        if !request.measure_number.is_empty() && !plan.measures.contains_key(&request.measure_number) {
            violations.push(FieldViolation::new("measure_number", "is not a measure of the plan"));
        }
        for (i, code) in request.target_codes.iter().enumerate() {
            if !plan.targets.contains_key(code) {
                violations.push(FieldViolation::new(
                    format!("target_codes[{i}]"),
                    "is not a target of the plan",
                ));
            }
        }
        let through = match &request.through_period {
            None => None,
            Some(p) => match Month::from_proto(Some(p)) {
                Some(m) => Some(m),
                None => {
                    violations.push(FieldViolation::new("through_period", "is not a valid month"));
                    None
                }
            },
        };
        if !violations.is_empty() {
            return Err(ReportingError::Invalid(violations));
        }
        let mut targets: Vec<_> = plan
            .targets
            .values()
            .filter(|t| request.target_codes.is_empty() || request.target_codes.contains(&t.code))
            .filter(|t| request.measure_number.is_empty() || t.measure_number == request.measure_number)
            .collect();
        targets.sort_by(|a, b| {
            (measure_order(&a.measure_number), &a.code).cmp(&(measure_order(&b.measure_number), &b.code))
        });
        let codes: Vec<String> = targets.iter().map(|t| t.code.clone()).collect();
        let counted = Slot::counted(self.count_submitted, request.include_provisional);
        // With `count_submitted`, a value whose revision leadership has not accepted
        // counts but is marked provisional; the accepted twin slot tells which.
        let twin = counted.accepted_twin();
        let mut slots = vec![counted, counted.with_provisional(), Slot::Returned];
        slots.extend(twin);
        let (accepted_rows, rows): (Vec<_>, Vec<_>) = self
            .store
            .progress_rows(&plan_code, &codes, &slots)
            .await?
            .into_iter()
            .partition(|row| twin.is_some_and(|t| t.key() == row.slot));
        let accepted: BTreeSet<(&str, &str, &str, i32)> = accepted_rows
            .iter()
            .map(|r| {
                (
                    r.target_code.as_str(),
                    r.department.as_str(),
                    r.period.as_str(),
                    r.revision,
                )
            })
            .collect();
        let cutoff = calendar::end_of_day_us(as_of);
        let mut values: BTreeMap<&str, BTreeMap<String, DepartmentValues>> = BTreeMap::new();
        for row in &rows {
            let Some(period) = Month::parse(&row.period) else {
                continue;
            };
            if period.first_day() > as_of || through.is_some_and(|t| period > t) {
                continue;
            }
            let key = ReportKey {
                plan: plan_code.clone(),
                measure: row.measure_number.clone(),
                department: row.department.clone(),
                period,
            };
            let slot = Slot::ALL.into_iter().find(|s| s.key() == row.slot);
            let entry = values
                .entry(
                    targets
                        .iter()
                        .find(|t| t.code == row.target_code)
                        .map_or("", |t| t.code.as_str()),
                )
                .or_default()
                .entry(row.department.clone())
                .or_default();
            // For an as_of before the row's revision, ask that key's history.
            let value = if row.submit_time_us < cutoff {
                let unreviewed = twin.is_some()
                    && !accepted.contains(&(
                        row.target_code.as_str(),
                        row.department.as_str(),
                        row.period.as_str(),
                        row.revision,
                    ));
                Some((row.value, row.revision, row.provisional || unreviewed))
            } else if let Some(slot) = slot {
                self.store.revision_before(&key, cutoff, slot).await?.and_then(|r| {
                    let unreviewed = twin.is_some() && r.state != pb::report::State::Accepted.as_str_name();
                    convert::metric_rows(&r)
                        .into_iter()
                        .find(|m| m.target_code == row.target_code)
                        .map(|m| (m.value, r.revision, r.provisional || unreviewed))
                })
            } else {
                None
            };
            let Some((value, revision, provisional)) = value else {
                continue;
            };
            match slot {
                Some(s) if s == counted => entry.values.push(PeriodValue {
                    period,
                    value,
                    report: key.revision_name(revision),
                    provisional,
                }),
                Some(Slot::Returned) => entry.returned = true,
                Some(_) => entry.provisional_excluded = true,
                None => {}
            }
        }
        let empty = BTreeMap::new();
        let progress = targets
            .iter()
            .map(|t| progress::evaluate(t, values.get(t.code.as_str()).unwrap_or(&empty)))
            .collect();
        Ok(pb::GetProgressResponse {
            as_of: Some(calendar::date_to_proto(as_of)),
            provisional_included: request.include_provisional,
            targets: progress,
        })
    }

    /// GetCompliance.
    pub async fn get_compliance(
        &self,
        caller: &Verified,
        request: &pb::GetComplianceRequest,
    ) -> Result<pb::GetComplianceResponse> {
        let plan_code = parent_plan(&request.parent)?;
        let mut department = request.department.clone();
        if let Principal::Department(own) = &caller.principal {
            Self::check_own(&caller.principal, if department.is_empty() { own } else { &department })?;
            department = own.clone();
        }
        let plan = self.catalog.plan(&plan_code).await?;
        let today = calendar::today();
        let as_of = Self::as_of(request.as_of.as_ref(), today)?;
        let periods = plan.periods();
        let mut violations = Vec::new();
        let first = match &request.start_period {
            None => periods.first().copied(),
            Some(p) => Month::from_proto(Some(p)).filter(|m| periods.contains(m)).or_else(|| {
                violations.push(FieldViolation::new(
                    "start_period",
                    "is not a reporting period of the plan",
                ));
                None
            }),
        };
        let last = match &request.end_period {
            None => periods
                .iter()
                .copied()
                .filter(|m| *m <= Month::of(as_of))
                .max()
                .or(periods.first().copied()),
            Some(p) => Month::from_proto(Some(p)).filter(|m| periods.contains(m)).or_else(|| {
                violations.push(FieldViolation::new(
                    "end_period",
                    "is not a reporting period of the plan",
                ));
                None
            }),
        };
        if let (Some(first), Some(last)) = (first, last)
            && first > last
        {
            violations.push(FieldViolation::new("end_period", "is before start_period"));
        }
        if !request.measure_number.is_empty() && !plan.measures.contains_key(&request.measure_number) {
            violations.push(FieldViolation::new("measure_number", "is not a measure of the plan"));
        }
        if !violations.is_empty() {
            return Err(ReportingError::Invalid(violations));
        }
        let (Some(first), Some(last)) = (first, last) else {
            return Err(ReportingError::invalid("parent", "the plan has no reporting periods"));
        };
        let range: Vec<Month> = periods.into_iter().filter(|m| *m >= first && *m <= last).collect();
        let fingerprint = format!(
            "{plan_code}|{department}|{}|{}|{}|{as_of}",
            request.measure_number,
            first.key(),
            last.key()
        );
        let page = Page::from_request(request.page_size, &request.page_token, &fingerprint)
            .map_err(|v| ReportingError::Invalid(vec![v]))?;
        let expected = expected_measures(&plan, &department, &request.measure_number);
        let pointers = self.store.all_pointers(&plan_code).await?;
        let firsts: BTreeMap<(String, String, String), i64> = pointers
            .into_iter()
            .map(|p| ((p.measure_number, p.department, p.period), p.first_submit_time_us))
            .collect();
        let names = self.catalog.departments().await.ok();
        let mut totals = Tally::default();
        let mut overdue = Vec::new();
        let mut all = Vec::new();
        for (code, measures) in &expected {
            let mut tally = Tally::default();
            let mut entry = pb::DepartmentCompliance {
                department: code.clone(),
                display_name: names.as_ref().and_then(|n| n.get(code).cloned()).unwrap_or_default(),
                ..Default::default()
            };
            let mut missing = false;
            for period in &range {
                let due = plan.cadence.due_date(*period);
                let mut statuses = Vec::new();
                let mut items = Vec::new();
                for measure in measures {
                    let first_us = firsts.get(&(measure.clone(), code.clone(), period.key())).copied();
                    let received = first_us.filter(|at| *at < calendar::end_of_day_us(as_of));
                    let status = compliance::status(*period, due, as_of, first_us);
                    tally.add(status, due, as_of);
                    missing |= status == ComplianceStatus::Missing;
                    statuses.push(status);
                    let key = ReportKey {
                        plan: plan_code.clone(),
                        measure: measure.clone(),
                        department: code.clone(),
                        period: *period,
                    };
                    items.push(pb::MeasureCompliance {
                        measure_number: measure.clone(),
                        status: status as i32,
                        report: received.map(|_| key.name()).unwrap_or_default(),
                        first_submit_time: received.map(convert::timestamp),
                    });
                }
                entry.periods.push(pb::PeriodCompliance {
                    period: Some(period.to_proto()),
                    due_date: Some(calendar::date_to_proto(due)),
                    status: compliance::worst(statuses) as i32,
                    measures: items,
                });
            }
            entry.expected_count = tally.expected;
            entry.received_count = tally.received;
            entry.on_time_count = tally.on_time;
            entry.reporting_rate = tally.reporting_rate();
            entry.on_time_rate = tally.on_time_rate();
            totals.merge(tally);
            if missing {
                overdue.push(code.clone());
            }
            all.push(entry);
        }
        let total = all.len() as u64;
        let departments = all
            .into_iter()
            .skip(page.offset as usize)
            .take(page.size as usize)
            .collect();
        Ok(pb::GetComplianceResponse {
            as_of: Some(calendar::date_to_proto(as_of)),
            departments,
            totals: Some(pb::ComplianceTotals {
                expected_count: totals.expected,
                received_count: totals.received,
                on_time_count: totals.on_time,
                reporting_rate: totals.reporting_rate(),
                on_time_rate: totals.on_time_rate(),
                overdue_departments: overdue,
            }),
            next_page_token: page.next_token(total, &fingerprint),
        })
    }

    /// WatchReportEvents: stored events after `after_sequence`, then live ones, until
    /// the client leaves or the server stops.
    pub async fn watch(
        &self,
        caller: &Verified,
        request: pb::WatchReportEventsRequest,
    ) -> Result<impl futures::Stream<Item = std::result::Result<pb::WatchReportEventsResponse, tonic::Status>> + use<>>
    {
        let plan_code = parent_plan(&request.parent)?;
        let mut department = request.department.clone();
        if let Principal::Department(own) = &caller.principal {
            Self::check_own(&caller.principal, if department.is_empty() { own } else { &department })?;
            department = own.clone();
        }
        self.catalog.plan(&plan_code).await?;
        // Subscribe before reading stored events, so that nothing committed meanwhile
        // is missed; the sequence check below drops what both deliver.
        let mut live = self.events.subscribe();
        let cutoff = chrono::Utc::now().timestamp_micros() - EVENT_RETENTION_US;
        let _ = self.store.prune_events(cutoff).await;
        let after = request.after_sequence.max(0);
        if after > 0
            && let Some(oldest) = self.store.oldest_event().await?
            && after < oldest - 1
        {
            return Err(ReportingError::EventsExpired(after));
        }
        let store = self.store.clone();
        let types = request.event_types.clone();
        let measure = request.measure_number.clone();
        let wanted = move |event: &pb::WatchReportEventsResponse| {
            (measure.is_empty() || event.measure_number == measure)
                && (department.is_empty() || event.department == department)
                && (types.is_empty() || types.contains(&event.event_type))
        };
        let stopping = self.stopping.clone();
        let (tx, rx) = tokio::sync::mpsc::channel(256);
        tokio::spawn(async move {
            // Stored events after `after_sequence`, a page at a time, then live ones.
            let mut last = after;
            let mut replay = after > 0;
            while replay {
                let page = tokio::select! {
                    () = stopping.cancelled() => {
                        let _ = tx.send(Err(tonic::Status::unavailable("the server is shutting down; reconnect with after_sequence"))).await;
                        return;
                    }
                    () = tx.closed() => return,
                    page = store.events_after(&plan_code, last, REPLAY_PAGE) => page,
                };
                let rows = match page {
                    Ok(rows) => rows,
                    Err(error) => {
                        let _ = tx.send(Err(ReportingError::from(error).into())).await;
                        return;
                    }
                };
                replay = rows.len() as u64 == REPLAY_PAGE;
                for row in rows {
                    let event = convert::event(&row);
                    last = event.sequence;
                    if wanted(&event) && tx.send(Ok(event)).await.is_err() {
                        return;
                    }
                }
            }
            loop {
                tokio::select! {
                    () = stopping.cancelled() => {
                        let _ = tx.send(Err(tonic::Status::unavailable("the server is shutting down; reconnect with after_sequence"))).await;
                        return;
                    }
                    () = tx.closed() => return,
                    received = live.recv() => match received {
                        Ok((plan, event)) => {
                            if plan != plan_code || event.sequence <= last || !wanted(&event) {
                                continue;
                            }
                            last = event.sequence;
                            if tx.send(Ok(event)).await.is_err() {
                                return;
                            }
                        }
                        Err(broadcast::error::RecvError::Lagged(_)) => {
                            let _ = tx.send(Err(tonic::Status::unavailable("the watcher fell behind; reconnect with after_sequence"))).await;
                            return;
                        }
                        Err(broadcast::error::RecvError::Closed) => return,
                    }
                }
            }
        });
        Ok(tokio_stream::wrappers::ReceiverStream::new(rx))
    }

    /// ListAuditRecords.
    pub async fn list_audit(
        &self,
        caller: &Verified,
        request: &pb::ListAuditRecordsRequest,
    ) -> Result<pb::ListAuditRecordsResponse> {
        if caller.principal != Principal::Admin {
            return Err(role_not_allowed("ListAuditRecords", &caller.principal));
        }
        let method = if request.method.is_empty() || request.method.starts_with('/') {
            request.method.clone()
        } else {
            format!("/duban.reporting.v1.ReportingService/{}", request.method)
        };
        let filter = AuditFilter {
            department: request.department.clone(),
            method,
            resource_prefix: request.resource_prefix.clone(),
            request_id: request.request_id.clone(),
            code: request.code,
            start_us: request.start_time.as_ref().map(convert::micros),
            end_us: request.end_time.as_ref().map(convert::micros),
        };
        let fingerprint = format!("{filter:?}");
        let page = Page::from_request(request.page_size, &request.page_token, &fingerprint)
            .map_err(|v| ReportingError::Invalid(vec![v]))?;
        let (rows, total) = self.store.audit_records(&filter, page.offset, page.size).await?;
        Ok(pb::ListAuditRecordsResponse {
            audit_records: rows.iter().map(convert::audit).collect(),
            next_page_token: page.next_token(total, &fingerprint),
        })
    }

    /// Records a call refused before it reached the domain (for example a stream
    /// refused for its role).
    pub async fn audit_refusal(
        &self,
        caller: &Verified,
        method: &'static str,
        resource: &str,
        error: ReportingError,
    ) -> ReportingError {
        let audit = AuditInfo {
            principal: Some((caller.principal.clone(), caller.credential.clone())),
            method,
            resource: resource.to_owned(),
            ..Default::default()
        };
        self.refuse(audit, error).await
    }
}

enum Prepared {
    Replay(Box<pb::Report>),
    Write(Box<SubmitOp>),
}

/// Department code → measure numbers it is expected to report on, in order.
pub fn expected_measures(plan: &PlanInfo, department: &str, measure: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut measures: Vec<_> = plan.measures.values().collect();
    measures.sort_by_key(|m| measure_order(&m.number));
    for m in measures {
        if !measure.is_empty() && m.number != measure {
            continue;
        }
        for code in &m.responsible {
            if department.is_empty() || code == department {
                out.entry(code.clone()).or_default().push(m.number.clone());
            }
        }
    }
    out
}
