//! The reporting service's job for the group-commit [`Writer`]: a change to the reports
//! (a submission or a review, which know how to write themselves) or only the outcome of
//! a refused or validate_only call, and in both cases its audit record; after the commit
//! the change's event is published. And housekeeping: forgetting request ids and events
//! past their retention, and purging archived audit records, in the writer's own turn,
//! so that it never contends with a write (nor, on PostgreSQL, with another replica's).

use duban_kit::Principal;
use duban_proto::reporting::v1 as pb;
use futures::future::BoxFuture;
use sea_orm::DatabaseTransaction;
use tonic::Status;

use crate::{
    convert::{self, ReportKey},
    entity::{audit_record, notice, report_event},
    error::ReportingError,
    metrics::ReportingMetrics,
    store::ReportStore,
    writer::{Failure, Job},
};

use super::{staged::Staged, submission::Submission};

/// The writer of the reporting service.
pub type Writer = crate::writer::Writer<WriteJob>;

/// A stored event and the plan it belongs to.
pub type Event = (String, pb::WatchReportEventsResponse);

/// What a change answers once committed, and the event it stored.
#[derive(Debug, Clone, Default)]
pub struct Written {
    /// The report as the caller sees it.
    pub report: pb::Report,
    /// For a supervision order's change: the order as the caller sees it.
    pub order: pb::Order,
    /// For a purge: how many audit records it deleted (or, without `force`, would).
    pub purge_count: i64,
    /// The event to publish after the commit (none for a replayed request).
    pub event: Option<Event>,
    /// For a notices change: the notice as stored after it (an acknowledgement).
    pub notice: Option<notice::Model>,
    /// For a notices change: how many notices it stored.
    pub stored_count: u64,
    /// Whether this answers a retried request as it was answered before (nothing written).
    pub replayed: bool,
}

/// A change to the reports that knows how to write itself inside a transaction.
pub trait Change: Send + Sync + std::fmt::Debug {
    /// Writes the change's rows, idempotency record and event in `txn`.
    fn write<'a>(
        &'a self,
        store: &'a ReportStore,
        txn: &'a DatabaseTransaction,
        now_us: i64,
    ) -> BoxFuture<'a, Result<Written, Failure<ReportingError>>>;
}

/// A database failure fails the batch (it is retried job by job); any other error
/// refuses this job alone.
impl From<ReportingError> for Failure<ReportingError> {
    fn from(error: ReportingError) -> Self {
        match error {
            ReportingError::Db(_) => Failure::Database(error),
            other => Failure::Refused(other),
        }
    }
}

/// Who did what, for the audit record.
#[derive(Debug, Clone, Default)]
pub struct AuditInfo {
    /// Role name, department, credential of the caller.
    pub principal: Option<(Principal, String)>,
    /// Full method.
    pub method: &'static str,
    /// Request id.
    pub request_id: String,
    /// The resource named by the request.
    pub resource: String,
    /// validate_only.
    pub validate_only: bool,
    /// backfill.
    pub backfill: bool,
    /// Position in a stream.
    pub item_index: Option<i32>,
    /// For a submission: its declared source (API when undeclared); UNSPECIFIED
    /// otherwise, and for a value that is no `ReportSource`.
    pub source: pb::ReportSource,
}

/// What every job shares: the store, and the feed told of committed events.
#[derive(Debug)]
pub struct Journal {
    /// The store the changes write through.
    pub store: ReportStore,
    /// Reads committed events back and publishes them to watchers.
    pub feed: super::EventFeed,
    /// Where stored submissions are counted.
    pub metrics: ReportingMetrics,
}

#[derive(Debug)]
enum What {
    /// A submission: staged (see `super::staged`).
    Submission(Box<Submission>),
    /// Any other change, written in its own savepoint.
    Change(Box<dyn Change>),
    /// A refused or validate_only call: what the caller was answered (the resource on success).
    Outcome(Result<String, ReportingError>),
    /// Forgets request ids past `idempotency::REQUEST_ID_RETENTION` and events past
    /// [`super::EVENT_RETENTION_US`] (the newest event stays, see `prune_events`).
    /// Audit records are kept: they are the plan's record of who reported what.
    Housekeeping,
    /// PurgeAuditRecords: deletes archived audit records.
    Purge(Purge),
    /// Stores the day's notices, or acknowledges one.
    Notices(NoticeChange),
}

/// A change to the follow-up notices.
#[derive(Debug)]
pub enum NoticeChange {
    /// Stores the notices not stored yet (by plan and key), each with the commit's time.
    Store(Vec<notice::Model>),
    /// The first acknowledgement of a notice by the department it is addressed to;
    /// checked here, in the transaction, so that it is audited with its refusal.
    Acknowledge {
        /// The plan's slug.
        plan: String,
        /// The notice's key.
        id: String,
        /// The acknowledging department.
        department: String,
    },
    /// An operator puts a FAILED or DEAD_LETTER notice back for delivery (RequeueNotice); checked
    /// here, in the transaction, so that it is audited with its refusal.
    Requeue {
        /// The plan's slug.
        plan: String,
        /// The notice's key.
        id: String,
    },
    /// A delivery round's outcome for one notice (the delivery worker's bookkeeping,
    /// not a caller's write: not audited, as housekeeping is not).
    Deliver {
        /// The plan's slug.
        plan: String,
        /// The notice's key.
        id: String,
        /// What the round decided.
        update: crate::store::DeliveryUpdate,
    },
}

impl NoticeChange {
    async fn apply(
        &self,
        store: &ReportStore,
        txn: &DatabaseTransaction,
        now_us: i64,
    ) -> Result<Written, Failure<ReportingError>> {
        match self {
            NoticeChange::Store(rows) => {
                let rows = rows
                    .iter()
                    .cloned()
                    .map(|row| notice::Model {
                        create_time_us: now_us,
                        ..row
                    })
                    .collect();
                let stored_count = store.insert_notices(txn, rows).await?;
                Ok(Written {
                    stored_count,
                    ..Written::default()
                })
            }
            NoticeChange::Deliver { plan, id, update } => {
                let stored_count = store.record_delivery(txn, plan, id, update, now_us).await?;
                Ok(Written {
                    stored_count,
                    ..Written::default()
                })
            }
            NoticeChange::Requeue { plan, id } => {
                use duban_proto::reporting::v1::NoticeDeliveryState as S;
                let name = convert::notice_name(plan, id);
                let found = store.notice(txn, plan, id).await?.ok_or_else(|| {
                    ReportingError::from(duban_kit::error::NotFound::new(
                        pb::ErrorReason::NoticeNotFound,
                        name.clone(),
                    ))
                })?;
                let state = S::from_str_name(&found.delivery_state).unwrap_or_default();
                if matches!(state, S::DeadLetter | S::Failed) {
                    store.requeue_notice(txn, plan, id).await?;
                } else if state != S::Pending {
                    return Err(Failure::Refused(ReportingError::NoticeDeliveryNotFailed {
                        name,
                        state: found.delivery_state,
                    }));
                }
                let notice = store.notice(txn, plan, id).await?;
                Ok(Written {
                    notice,
                    ..Written::default()
                })
            }
            NoticeChange::Acknowledge { plan, id, department } => {
                let name = convert::notice_name(plan, id);
                let found = store.notice(txn, plan, id).await?;
                let found = found.ok_or_else(|| {
                    ReportingError::from(duban_kit::error::NotFound::new(
                        pb::ErrorReason::NoticeNotFound,
                        name.clone(),
                    ))
                })?;
                if !convert::addressed_to(&found, department) {
                    return Err(Failure::Refused(ReportingError::NoticeNotAddressed(format!(
                        "{name} is not addressed to {department}"
                    ))));
                }
                store.acknowledge_notice(txn, plan, id, department, now_us).await?;
                let notice = store.notice(txn, plan, id).await?;
                Ok(Written {
                    notice,
                    ..Written::default()
                })
            }
        }
    }
}

/// A PurgeAuditRecords call, checked.
#[derive(Debug)]
pub struct Purge {
    /// Records before this time (microseconds) are purged.
    pub end_us: i64,
    /// How many the caller archived.
    pub expected_count: i64,
    /// Delete; otherwise only count.
    pub force: bool,
    /// The idempotency key of the call.
    pub request: Option<duban_kit::idempotency::RequestKey>,
}

impl Purge {
    async fn apply(&self, store: &ReportStore, txn: &DatabaseTransaction) -> Result<Written, Failure<ReportingError>> {
        let written = |purge_count| Written {
            purge_count,
            ..Written::default()
        };
        let stored = duban_kit::idempotency::replay_keyed::<pb::PurgeAuditRecordsResponse>(txn, &self.request)
            .await
            .map_err(ReportingError::from)?;
        if let Some(stored) = stored {
            return Ok(written(stored.purge_count));
        }
        let count = store.count_audit_before(txn, self.end_us).await?;
        let purge_count = if self.force {
            if u64::try_from(self.expected_count).ok() != Some(count) {
                return Err(Failure::Refused(ReportingError::ArchiveIncomplete {
                    expected: self.expected_count,
                    count,
                }));
            }
            store.delete_audit_before(txn, self.end_us).await?
        } else {
            count
        };
        let response = pb::PurgeAuditRecordsResponse {
            purge_count: i64::try_from(purge_count).unwrap_or(i64::MAX),
        };
        if let Some(request) = &self.request
            && !duban_kit::idempotency::record(txn, request, &response).await?
        {
            // A concurrent retry with the same id won: retried alone, this replays it.
            return Err(Failure::Database(ReportingError::from(sea_orm::DbErr::Custom(
                "a concurrent request with the same request_id won".into(),
            ))));
        }
        Ok(written(response.purge_count))
    }
}

/// One job of the reporting writer.
#[derive(Debug)]
pub struct WriteJob {
    what: What,
    audit: AuditInfo,
}

impl WriteJob {
    /// Stores `submission` as its report's next revision, and audits it.
    pub fn submission(submission: Submission, audit: AuditInfo) -> Self {
        Self {
            what: What::Submission(Box::new(submission)),
            audit,
        }
    }

    /// Writes `change`, and audits it.
    pub fn change(change: impl Change + 'static, audit: AuditInfo) -> Self {
        Self {
            what: What::Change(Box::new(change)),
            audit,
        }
    }

    /// Forgets what is kept no longer (see [`What::Housekeeping`]); audits nothing.
    pub fn housekeeping() -> Self {
        Self {
            what: What::Housekeeping,
            audit: AuditInfo::default(),
        }
    }

    /// Purges (or counts) archived audit records, and audits the call.
    pub fn purge(purge: Purge, audit: AuditInfo) -> Self {
        Self {
            what: What::Purge(purge),
            audit,
        }
    }

    /// Stores notices or acknowledges one, and audits it (a daily run without a
    /// caller is audited as EvaluateNotices with no principal).
    pub fn notices(change: NoticeChange, audit: AuditInfo) -> Self {
        Self {
            what: What::Notices(change),
            audit,
        }
    }

    /// Only audits a call whose answer is already known (a refusal, a replay, a
    /// validate_only check): `outcome` is the resource named, or the error answered.
    pub fn audit_only(outcome: Result<String, ReportingError>, audit: AuditInfo) -> Self {
        Self {
            what: What::Outcome(outcome),
            audit,
        }
    }
}

impl Job for WriteJob {
    type Context = Journal;
    type Staged = Staged;
    type Output = Written;
    type Error = ReportingError;

    fn known_outcome(&self) -> Option<Result<Written, ReportingError>> {
        match &self.what {
            What::Submission(_) | What::Change(_) | What::Housekeeping | What::Purge(_) | What::Notices(_) => None,
            What::Outcome(outcome) => Some(outcome.clone().map(|_| Written::default())),
        }
    }

    async fn read_ahead(
        journal: &Journal,
        txn: &DatabaseTransaction,
        jobs: &[Self],
        staged: &mut Staged,
    ) -> Result<(), sea_orm::DbErr> {
        let submissions: Vec<&Submission> = jobs
            .iter()
            .filter_map(|job| match &job.what {
                What::Submission(submission) => Some(&**submission),
                _ => None,
            })
            .collect();
        staged.read_ahead(&journal.store, txn, &submissions).await
    }

    fn stages(&self, staged: &Staged) -> bool {
        match &self.what {
            What::Submission(submission) => !staged.holds(&submission.key, &submission.request),
            _ => false,
        }
    }

    async fn apply(
        &self,
        journal: &Journal,
        txn: &DatabaseTransaction,
        staged: &mut Staged,
        now_us: i64,
    ) -> Result<Written, Failure<ReportingError>> {
        if !matches!(self.what, What::Submission(_) | What::Outcome(_)) {
            // It writes directly, and may change anything read for the submissions.
            staged.forget_reads();
        }
        match &self.what {
            What::Submission(submission) => submission.stage(&journal.store, txn, staged, now_us).await,
            What::Change(change) => change.write(&journal.store, txn, now_us).await,
            What::Outcome(_) => Ok(Written::default()),
            What::Purge(purge) => purge.apply(&journal.store, txn).await,
            What::Notices(change) => change.apply(&journal.store, txn, now_us).await,
            What::Housekeeping => {
                let forgotten =
                    duban_kit::idempotency::forget_before(txn, duban_kit::idempotency::retention_cutoff(now_us))
                        .await?;
                let pruned = journal
                    .store
                    .prune_events(txn, now_us.saturating_sub(super::EVENT_RETENTION_US))
                    .await?;
                if forgotten + pruned > 0 {
                    tracing::debug!(forgotten, pruned, "forgot expired request ids and events");
                }
                Ok(Written::default())
            }
        }
    }

    fn record(&self, _journal: &Journal, staged: &mut Staged, outcome: &Result<Written, ReportingError>, now_us: i64) {
        if matches!(
            self.what,
            What::Housekeeping | What::Notices(NoticeChange::Deliver { .. })
        ) {
            return;
        }
        let audit = &self.audit;
        let resource = match (outcome, &self.what) {
            (Ok(written), What::Change(_)) if !written.order.name.is_empty() => written.order.name.clone(),
            (Ok(written), What::Change(_) | What::Submission(_)) => ReportKey::parse(&written.report.name)
                .map_or(written.report.name.clone(), |(key, _)| {
                    key.revision_name(written.report.revision)
                }),
            (_, What::Outcome(Ok(resource))) => resource.clone(),
            _ => audit.resource.clone(),
        };
        let (code, status_message) = match outcome {
            Ok(_) => (0, String::new()),
            Err(error) => {
                let status = Status::from(error.clone());
                (status.code() as i32, status.message().to_owned())
            }
        };
        let (role, department, credential) = match &audit.principal {
            Some((principal, credential)) => {
                let (role, department) = convert::principal_columns(principal);
                (role, department, credential.clone())
            }
            None => Default::default(),
        };
        let row = audit_record::Model {
            id: 0,
            time_us: now_us,
            role,
            department,
            credential,
            method: audit.method.to_owned(),
            request_id: audit.request_id.clone(),
            code,
            status_message,
            resource,
            validate_only: audit.validate_only,
            backfill: audit.backfill,
            item_index: audit.item_index,
            source: audit.source.as_str_name().to_owned(),
        };
        staged.audit(row);
    }

    async fn flush(journal: &Journal, txn: &DatabaseTransaction, staged: &mut Staged) -> Result<(), sea_orm::DbErr> {
        staged.flush(&journal.store, txn).await
    }

    fn committed(&self, journal: &Journal, output: &mut Written) {
        if let Some((_, stored)) = output.event.take() {
            if stored.event_type == pb::ReportEventType::Submitted as i32 {
                journal.metrics.submitted(&stored.department);
            }
            // The feed reads it back from the database, in sequence order with the
            // other replicas' events.
            journal.feed.committed();
        }
    }
}

/// The event row of a change by `actor` to the report `key`.
pub fn event_row(
    key: &ReportKey,
    kind: pb::ReportEventType,
    revision: i32,
    actor: (&Principal, &str),
    backfilled: bool,
    now_us: i64,
) -> report_event::Model {
    let (principal, credential) = actor;
    let (role, department) = convert::principal_columns(principal);
    report_event::Model {
        sequence: 0,
        plan: key.plan.clone(),
        event_type: kind.as_str_name().to_owned(),
        measure_number: key.measure.clone(),
        department: key.department.clone(),
        period: key.period.key(),
        revision,
        event_time_us: now_us,
        actor_role: role,
        actor_department: department,
        actor_credential: credential.to_owned(),
        backfilled,
    }
}

/// Stores `event` and the idempotency record of `response`, the last two steps of every
/// change, and returns what the change answers.
pub async fn finish(
    store: &ReportStore,
    txn: &DatabaseTransaction,
    request: &Option<duban_kit::idempotency::RequestKey>,
    response: pb::Report,
    event: report_event::Model,
) -> Result<Written, Failure<ReportingError>> {
    if let Some(request) = request
        && !duban_kit::idempotency::record(txn, request, &response).await?
    {
        // A concurrent retry with the same id won: fail the batch, so that this job is
        // retried alone and replays what that one answered.
        return Err(Failure::Database(ReportingError::from(sea_orm::DbErr::Custom(
            "a concurrent request with the same request_id won".into(),
        ))));
    }
    let plan = event.plan.clone();
    let stored = store.insert_event(txn, event).await?;
    Ok(Written {
        report: response,
        event: Some((plan, convert::event(&stored))),
        ..Written::default()
    })
}

/// What this very request was answered before, if it is a retry (checked again inside
/// the write, since a retry may have been queued before the first one committed).
pub async fn replayed(
    txn: &DatabaseTransaction,
    request: &Option<duban_kit::idempotency::RequestKey>,
) -> Result<Option<Written>, Failure<ReportingError>> {
    let stored = duban_kit::idempotency::replay_keyed::<pb::Report>(txn, request)
        .await
        .map_err(ReportingError::from)?;
    Ok(stored.map(|report| Written {
        report,
        replayed: true,
        ..Written::default()
    }))
}

/// A writer on a migrated store of its own, for tests: the database (dropped with it),
/// the store, the writer (its series registered in `metrics`) and what stops its feed.
#[cfg(test)]
pub(crate) struct TestWriter {
    pub database: duban_kit::testing::TestDatabase,
    pub store: ReportStore,
    pub writer: Writer,
    pub stopping: tokio_util::sync::CancellationToken,
}

#[cfg(test)]
impl TestWriter {
    /// `None` when `backend` is not available here.
    pub async fn start(backend: duban_kit::testing::Backend, metrics: &duban_kit::metrics::Metrics) -> Option<Self> {
        let database = duban_kit::testing::TestDatabase::new(backend).await?;
        let db = duban_kit::db::connect_and_migrate::<crate::migration::Migrator>(database.url())
            .await
            .expect("the reporting database migrates");
        let store = ReportStore::new(db);
        let stopping = tokio_util::sync::CancellationToken::new();
        let journal = Journal {
            store: store.clone(),
            feed: super::EventFeed::start(store.clone(), stopping.clone()),
            metrics: ReportingMetrics::register(&duban_kit::metrics::Metrics::new()),
        };
        let writer = Writer::start(store.db().clone(), journal, ReportingMetrics::register(metrics).writer);
        Some(Self {
            database,
            store,
            writer,
            stopping,
        })
    }
}

#[cfg(test)]
mod tests {
    use duban_kit::{
        idempotency::{self, REQUEST_ID_RETENTION, request_log},
        testing::{Backend, remember_request_id},
    };
    use sea_orm::{EntityTrait, QueryOrder};

    use super::*;
    use crate::service::EVENT_RETENTION_US;

    const HOUR_US: i64 = 3600 * 1_000_000;

    async fn happened(store: &ReportStore, event_time_us: i64) -> i64 {
        let key = ReportKey::parse("plans/jiading-2023/reports/1.1~anting-town~2023-03")
            .unwrap()
            .0;
        let actor = Principal::Department("anting-town".into());
        let row = event_row(
            &key,
            pb::ReportEventType::Submitted,
            1,
            (&actor, ""),
            false,
            event_time_us,
        );
        store.insert_event(store.db(), row).await.unwrap().sequence
    }

    /// The writer forgets request ids a day old and events a week old (but the newest
    /// event, the high-water mark), keeps what is younger, and audits nothing of it.
    async fn housekeeping_forgets_only_what_has_expired(backend: Backend) {
        let Some(TestWriter {
            store,
            writer,
            stopping,
            database: _database,
        }) = TestWriter::start(backend, &duban_kit::metrics::Metrics::new()).await
        else {
            return;
        };
        let now = chrono::Utc::now().timestamp_micros();
        let day_us = i64::try_from(REQUEST_ID_RETENTION.as_micros()).unwrap();
        remember_request_id(store.db(), "yesterday-morning", now - day_us - HOUR_US).await;
        remember_request_id(store.db(), "this-morning", now - 3 * HOUR_US).await;
        let expired = happened(&store, now - EVENT_RETENTION_US - HOUR_US).await;
        let recent = happened(&store, now - HOUR_US).await;
        let newest_but_old = happened(&store, now - EVENT_RETENTION_US - 2 * HOUR_US).await;

        writer.write(WriteJob::housekeeping()).await.unwrap();

        let kept: Vec<String> = request_log::Entity::find()
            .all(store.db())
            .await
            .unwrap()
            .into_iter()
            .map(|row| row.request_id)
            .collect();
        assert_eq!(kept, ["this-morning"]);
        let events: Vec<i64> = report_event::Entity::find()
            .order_by_asc(report_event::Column::Sequence)
            .all(store.db())
            .await
            .unwrap()
            .into_iter()
            .map(|row| row.sequence)
            .collect();
        assert!(!events.contains(&expired), "{events:?}");
        assert_eq!(
            events,
            [recent, newest_but_old],
            "the newest stays as the high-water mark"
        );
        assert!(audit_record::Entity::find().all(store.db()).await.unwrap().is_empty());
        assert_eq!(idempotency::forget_before(store.db(), 0).await.unwrap(), 0);
        stopping.cancel();
    }

    duban_kit::backend_tests!(housekeeping_forgets_only_what_has_expired);
}
