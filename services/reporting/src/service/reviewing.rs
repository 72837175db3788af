//! Reviewing a report: leadership accepts it or returns it with a reason; the review
//! checks the latest revision's etag and state, then writes itself in the writer's
//! transaction.

use duban_kit::{
    FieldViolation, Principal,
    auth::Verified,
    error::{EtagMismatch, NotFound},
    idempotency::{self, RequestKey},
};
use duban_proto::reporting::v1 as pb;
use duban_proto::reporting::v1::ErrorReason;
use futures::future::BoxFuture;
use sea_orm::DatabaseTransaction;

use super::{
    Reporting, Result,
    journal::{self, AuditInfo, Change, WriteJob, Written},
    method, role_not_allowed,
};
use crate::{
    calendar::Cadence,
    convert::{self, ReportKey},
    error::ReportingError,
    store::ReportStore,
    validate,
    writer::Failure,
};

/// What a reviewer decides about the latest revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReviewDecision {
    /// Accept it, with an optional comment.
    Accept {
        /// The comment, may be empty.
        comment: String,
    },
    /// Return it to the department, which answers by submitting again.
    Return {
        /// What the department must correct; required.
        reason: String,
    },
}

impl ReviewDecision {
    fn method(&self) -> &'static str {
        match self {
            Self::Accept { .. } => method::ACCEPT,
            Self::Return { .. } => method::RETURN,
        }
    }

    /// The comment or the reason, and the request field that carries it.
    fn text(&self) -> (&'static str, &str) {
        match self {
            Self::Accept { comment } => ("comment", comment),
            Self::Return { reason } => ("reason", reason),
        }
    }

    fn state(&self) -> pb::report::State {
        match self {
            Self::Accept { .. } => pb::report::State::Accepted,
            Self::Return { .. } => pb::report::State::Returned,
        }
    }

    fn event(&self) -> pb::ReportEventType {
        match self {
            Self::Accept { .. } => pb::ReportEventType::Accepted,
            Self::Return { .. } => pb::ReportEventType::Returned,
        }
    }
}

/// A review as AcceptReport and ReturnReport carry it.
#[derive(Debug, Clone)]
pub struct ReviewRequest {
    /// The report, without a revision: the latest is reviewed.
    pub name: String,
    /// The etag of the revision reviewed.
    pub etag: String,
    /// The AIP-155 request id, may be empty.
    pub request_id: String,
    /// Accept or return.
    pub decision: ReviewDecision,
}

impl From<&pb::AcceptReportRequest> for ReviewRequest {
    fn from(request: &pb::AcceptReportRequest) -> Self {
        Self {
            name: request.name.clone(),
            etag: request.etag.clone(),
            request_id: request.request_id.clone(),
            decision: ReviewDecision::Accept {
                comment: request.comment.clone(),
            },
        }
    }
}

impl From<&pb::ReturnReportRequest> for ReviewRequest {
    fn from(request: &pb::ReturnReportRequest) -> Self {
        Self {
            name: request.name.clone(),
            etag: request.etag.clone(),
            request_id: request.request_id.clone(),
            decision: ReviewDecision::Return {
                reason: request.reason.clone(),
            },
        }
    }
}

/// A validated review, ready to be written.
#[derive(Debug, Clone)]
pub(super) struct Review {
    pub(super) key: ReportKey,
    pub(super) decision: ReviewDecision,
    pub(super) etag: String,
    pub(super) principal: Principal,
    pub(super) credential: String,
    pub(super) cadence: Cadence,
    pub(super) request: Option<RequestKey>,
}

impl Reporting {
    /// AcceptReport or ReturnReport; `request_for_key` is the RPC's request, whose
    /// encoding the request id is bound to.
    pub async fn review(
        &self,
        caller: &Verified,
        review: ReviewRequest,
        request_for_key: &impl prost::Message,
    ) -> Result<pb::Report> {
        let method = review.decision.method();
        let audit = AuditInfo {
            principal: Some((caller.principal.clone(), caller.credential.clone())),
            method,
            request_id: review.request_id.clone(),
            resource: review.name.clone(),
            ..Default::default()
        };
        match self.prepare_review(caller, &review, request_for_key).await {
            Err(error) => Err(self.refuse(audit, error).await),
            Ok(Err(stored)) => {
                let _ = self.writer.write(WriteJob::audit_only(Ok(review.name), audit)).await;
                Ok(stored)
            }
            Ok(Ok(prepared)) => Ok(self.writer.write(WriteJob::change(prepared, audit)).await?.report),
        }
    }

    /// The review to write, or the stored answer of a retried request.
    async fn prepare_review(
        &self,
        caller: &Verified,
        review: &ReviewRequest,
        request_for_key: &impl prost::Message,
    ) -> Result<std::result::Result<Review, pb::Report>> {
        if !matches!(caller.principal, Principal::Leadership | Principal::Admin) {
            return Err(role_not_allowed("reviewing reports", &caller.principal));
        }
        let method = review.decision.method();
        let request = RequestKey::new(&caller.principal.label(), method, &review.request_id, request_for_key);
        if let Some(key) = &request
            && let Some(stored) = idempotency::replay::<pb::Report>(self.store.db(), key).await?
        {
            return Ok(Err(stored));
        }
        let mut violations = Vec::new();
        let key = match ReportKey::parse(&review.name) {
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
        if review.etag.is_empty() {
            violations.push(FieldViolation::new("etag", "is required"));
        }
        let (field, text) = review.decision.text();
        if matches!(review.decision, ReviewDecision::Return { .. }) && text.trim().is_empty() {
            violations.push(FieldViolation::new(field, "is required"));
        }
        if text.chars().count() > validate::MAX_TEXT {
            violations.push(FieldViolation::new(field, "is longer than 1000 characters"));
        }
        let Some(key) = key.filter(|_| violations.is_empty()) else {
            return Err(ReportingError::Invalid(violations));
        };
        let plan = self.catalog.plan(&key.plan).await?;
        Ok(Ok(Review {
            key,
            decision: review.decision.clone(),
            etag: review.etag.clone(),
            principal: caller.principal.clone(),
            credential: caller.credential.clone(),
            cadence: plan.cadence,
            request,
        }))
    }
}

impl Review {
    /// Reviews the latest revision: its etag and state are checked here, inside the
    /// writer's transaction, so that two reviews of one revision cannot both pass.
    async fn store(
        &self,
        store: &ReportStore,
        txn: &DatabaseTransaction,
        now_us: i64,
    ) -> std::result::Result<Written, Failure<ReportingError>> {
        if let Some(replayed) = journal::replayed(txn, &self.request).await? {
            return Ok(replayed);
        }
        let key = &self.key;
        let not_found = || ReportingError::from(NotFound::new(ErrorReason::ReportNotFound, key.name()));
        let mut pointer = store.pointer(txn, key).await?.ok_or_else(not_found)?;
        let mut row = store
            .revision(txn, key, pointer.revision)
            .await?
            .ok_or_else(not_found)?;
        if row.etag != self.etag {
            return Err(ReportingError::from(EtagMismatch {
                name: key.name(),
                current: row.etag,
            })
            .into());
        }
        if row.state != pb::report::State::Submitted.as_str_name() {
            return Err(ReportingError::InvalidState {
                name: key.name(),
                state: row.state,
            }
            .into());
        }
        let state = self.decision.state();
        let (role, department) = convert::principal_columns(&self.principal);
        let (_, text) = self.decision.text();
        row.state = state.as_str_name().to_owned();
        row.etag = convert::etag(row.revision, state);
        row.reviewer_role = role;
        row.reviewer_department = department;
        row.reviewer_credential = self.credential.clone();
        row.review_time_us = Some(now_us);
        row.review_reason = text.to_owned();
        store.update_revision(txn, row.clone()).await?;
        if matches!(self.decision, ReviewDecision::Return { .. }) {
            store.record_return(txn, &row).await?;
        }
        pointer.state = row.state.clone();
        if let ReviewDecision::Return { reason } = &self.decision {
            pointer.return_reason = reason.clone();
        }
        pointer.update_time_us = now_us;
        store.save_pointer(txn, pointer.clone(), true).await?;
        store.refresh_aggregate(txn, key).await?;
        let event = journal::event_row(
            key,
            self.decision.event(),
            row.revision,
            (&self.principal, &self.credential),
            row.backfilled,
            now_us,
        );
        let response = convert::report(&row, &pointer, self.cadence, false);
        journal::finish(store, txn, &self.request, response, event).await
    }
}

impl Change for Review {
    fn write<'a>(
        &'a self,
        store: &'a ReportStore,
        txn: &'a DatabaseTransaction,
        now_us: i64,
    ) -> BoxFuture<'a, std::result::Result<Written, Failure<ReportingError>>> {
        Box::pin(self.store(store, txn, now_us))
    }
}
