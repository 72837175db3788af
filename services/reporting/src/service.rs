//! The reporting domain: authorisation (before validation, AIP-211), validation,
//! idempotency, review workflow, progress, compliance, events and audit. Writes go
//! through the group-commit [`Writer`] as `journal` jobs; reads go straight to the store.
//!
//! Each RPC family lives in its own submodule: `submitting`, `reviewing`, `reading`,
//! `progress_query`, `compliance_query`, `events` (over the live `feed`), `audit` and `notices` (with
//! its daily run, `follow_up_daily`, and the targets' past ratings, `target_ratings`); `submission` builds the
//! rows of a submission, and `journal` is the writer's job. This module holds the
//! shared state and the checks more than one of them needs.

mod audit;
mod blocker_changes;
mod blockers_query;
mod compliance_query;
mod events;
mod feed;
pub mod follow_up_daily;
mod follow_up_summary;
mod journal;
mod notices;
mod obligations;
mod orders;
mod plan_summary;
mod progress_query;
mod reading;
mod reviewing;
mod staged;
mod submission;
mod submitting;
mod target_ratings;

use duban_kit::{Principal, rate::WriteQuota};
use duban_plan::measure_order;
use tokio_util::sync::CancellationToken;

pub use compliance_query::expected_measures;
pub use events::EVENT_RETENTION_US;
pub use feed::EventFeed;
pub use journal::Event;
pub use notices::Evaluated;
pub use orders::{DecisionRequest, rules as order_rules};
pub use reviewing::{ReviewDecision, ReviewRequest};
pub use submitting::{Item, MAX_STREAM_ITEMS, Turn};

use crate::{
    calendar, catalog::Catalog, convert, error::ReportingError, metrics::ReportingMetrics, store::ReportStore,
};
use journal::{AuditInfo, Journal, WriteJob, Writer};

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
    /// PurgeAuditRecords.
    pub const PURGE_AUDIT: &str = "/duban.reporting.v1.ReportingService/PurgeAuditRecords";
    /// SupervisionOrdersService.OpenOrder.
    pub const OPEN_ORDER: &str = "/duban.reporting.v1.SupervisionOrdersService/OpenOrder";
    /// SupervisionOrdersService.RespondToOrder.
    pub const RESPOND_TO_ORDER: &str = "/duban.reporting.v1.SupervisionOrdersService/RespondToOrder";
    /// SupervisionOrdersService.AcceptOrderResponse.
    pub const ACCEPT_ORDER_RESPONSE: &str = "/duban.reporting.v1.SupervisionOrdersService/AcceptOrderResponse";
    /// SupervisionOrdersService.ReturnOrderResponse.
    pub const RETURN_ORDER_RESPONSE: &str = "/duban.reporting.v1.SupervisionOrdersService/ReturnOrderResponse";
    /// SupervisionOrdersService.WithdrawOrder.
    pub const WITHDRAW_ORDER: &str = "/duban.reporting.v1.SupervisionOrdersService/WithdrawOrder";
    /// AcknowledgeNotice.
    pub const ACKNOWLEDGE_NOTICE: &str = "/duban.reporting.v1.NoticesService/AcknowledgeNotice";
    /// EvaluateNotices, and the daily run (audited without a caller).
    pub const EVALUATE_NOTICES: &str = "/duban.reporting.v1.NoticesService/EvaluateNotices";
    /// RequeueNotice.
    pub const REQUEUE_NOTICE: &str = "/duban.reporting.v1.NoticesService/RequeueNotice";
}

type Result<T> = std::result::Result<T, ReportingError>;

/// The reporting service's domain.
#[derive(Debug, Clone)]
pub struct Reporting {
    store: ReportStore,
    writer: Writer,
    catalog: Catalog,
    feed: EventFeed,
    quota: WriteQuota,
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

impl Reporting {
    /// The domain over a store; starts the writer task, counting in `metrics`.
    pub fn new(
        store: ReportStore,
        catalog: Catalog,
        quota: WriteQuota,
        count_submitted: bool,
        stopping: CancellationToken,
        metrics: ReportingMetrics,
    ) -> Self {
        let feed = EventFeed::start(store.clone(), stopping.clone());
        let writer = Writer::start(
            store.db().clone(),
            Journal {
                store: store.clone(),
                feed: feed.clone(),
                metrics: metrics.clone(),
            },
            metrics.writer,
        );
        keep_pruned(writer.clone(), stopping.clone());
        Self {
            store,
            writer,
            catalog,
            feed,
            quota,
            count_submitted,
            stopping,
        }
    }

    /// The database the reports are stored in (for the health watcher).
    pub fn database(&self) -> &sea_orm::DatabaseConnection {
        self.store.db()
    }

    /// Records a refused or failed call and returns its error.
    async fn refuse(&self, audit: AuditInfo, error: ReportingError) -> ReportingError {
        if let Err(audit_error) = self.writer.write(WriteJob::audit_only(Err(error.clone()), audit)).await {
            tracing::error!(error = %audit_error, "cannot record an audit record");
        }
        error
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

    /// The plan named by `parent`, for one of the plan-wide readings that are leadership's
    /// (`method` names it in a refusal): a department may not call it.
    async fn leadership_plan(
        &self,
        caller: &duban_kit::auth::Verified,
        method: &str,
        parent: &str,
    ) -> Result<(String, std::sync::Arc<crate::catalog::PlanInfo>)> {
        if matches!(caller.principal, Principal::Department(_)) {
            return Err(role_not_allowed(method, &caller.principal));
        }
        let plan_code = parent_plan(parent)?;
        let plan = self.catalog.plan(&plan_code).await?;
        Ok((plan_code, plan))
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
}

/// Queues the writer's housekeeping (see `journal`) at once and then every
/// `idempotency::PRUNE_EVERY`, until `stopping`.
fn keep_pruned(writer: Writer, stopping: CancellationToken) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(duban_kit::idempotency::PRUNE_EVERY);
        loop {
            tokio::select! {
                () = stopping.cancelled() => return,
                _ = every.tick() => {}
            }
            if let Err(error) = writer.write(WriteJob::housekeeping()).await {
                tracing::warn!(%error, "cannot forget expired request ids and events; retrying later");
            }
        }
    });
}
