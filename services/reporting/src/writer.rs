//! Group commit: one task owns every write. Callers queue a job (mpsc) with a oneshot
//! for the answer; the task takes up to [`MAX_BATCH`] queued jobs, applies them in ONE
//! transaction (each inside its own savepoint, with its idempotency record, aggregate
//! update, event and audit record), commits once, and only then answers each job and
//! publishes the events. A job that fails a check at write time (etag, state) is
//! rolled back to its savepoint alone and does not poison the batch; if the database
//! fails, the batch is rolled back and its jobs are retried one per transaction.

use duban_kit::{
    Principal,
    idempotency::{self, RequestKey},
};
use duban_proto::reporting::v1 as pb;
use sea_orm::{DatabaseTransaction, TransactionTrait};
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::{
    calendar::Cadence,
    convert::{self, ReportKey},
    entity::{audit_record, report, report_event, report_revision},
    error::ReportingError,
    store::ReportStore,
};

/// Most jobs per transaction.
pub const MAX_BATCH: usize = 128;

/// A new revision to store.
#[derive(Debug, Clone)]
pub struct SubmitOp {
    /// The key.
    pub key: ReportKey,
    /// The validated report (output-only fields ignored).
    pub report: pb::Report,
    /// The submitter.
    pub principal: Principal,
    /// The submitter's credential.
    pub credential: String,
    /// Submit time (server time, or the original time for a backfill).
    pub submit_time_us: i64,
    /// Whether this is a backfill.
    pub backfilled: bool,
    /// The plan revision now.
    pub plan_revision: i32,
    /// The etag the caller expects, if any.
    pub etag: String,
    /// The plan's cadence (for due dates in the response).
    pub cadence: Cadence,
    /// The idempotency key, if any.
    pub request: Option<RequestKey>,
}

/// A review of the latest revision.
#[derive(Debug, Clone)]
pub struct ReviewOp {
    /// The key.
    pub key: ReportKey,
    /// Accept (true) or return (false).
    pub accept: bool,
    /// The etag reviewed.
    pub etag: String,
    /// Comment or reason.
    pub reason: String,
    /// The reviewer.
    pub principal: Principal,
    /// The reviewer's credential.
    pub credential: String,
    /// The plan's cadence.
    pub cadence: Cadence,
    /// The idempotency key, if any.
    pub request: Option<RequestKey>,
}

/// What a job does besides being audited.
#[derive(Debug, Clone)]
pub enum Op {
    /// Store a revision.
    Submit(Box<SubmitOp>),
    /// Review.
    Review(Box<ReviewOp>),
    /// Only record the audit record (a refused or validate_only call): `outcome` is
    /// what the caller was answered.
    AuditOnly(Result<String, ReportingError>),
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
}

/// A stored event and the plan it belongs to.
pub type Event = (String, pb::WatchReportEventsResponse);

struct Job {
    op: Op,
    audit: AuditInfo,
    reply: oneshot::Sender<Result<pb::Report, ReportingError>>,
}

/// The handle callers queue writes through.
#[derive(Debug, Clone)]
pub struct Writer {
    queue: mpsc::Sender<Job>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("method", &self.audit.method)
            .finish_non_exhaustive()
    }
}

impl Writer {
    /// Starts the writer task over `store`; events go to `events` after each commit.
    pub fn start(store: ReportStore, events: broadcast::Sender<Event>) -> Writer {
        let (queue, jobs) = mpsc::channel(4096);
        tokio::spawn(run(store, jobs, events));
        Writer { queue }
    }

    /// Queues a job and waits until it is committed (or failed).
    pub async fn write(&self, op: Op, audit: AuditInfo) -> Result<pb::Report, ReportingError> {
        self.queue(op, audit).await?.await
    }

    /// Queues a job; the returned future resolves once it is committed (or failed).
    /// Jobs are written in the order they are queued.
    pub async fn queue(
        &self,
        op: Op,
        audit: AuditInfo,
    ) -> Result<impl std::future::Future<Output = Result<pb::Report, ReportingError>>, ReportingError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Job { op, audit, reply })
            .await
            .map_err(|_| ReportingError::ShuttingDown)?;
        Ok(async move { answer.await.map_err(|_| ReportingError::ShuttingDown)? })
    }
}

async fn run(store: ReportStore, mut jobs: mpsc::Receiver<Job>, events: broadcast::Sender<Event>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while jobs.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let taken: Vec<Job> = std::mem::take(&mut batch);
        let (ops, replies): (Vec<_>, Vec<_>) = taken.into_iter().map(|j| ((j.op, j.audit), j.reply)).unzip();
        let results = match commit(&store, &ops).await {
            Ok(results) => results,
            Err(error) => {
                tracing::warn!(%error, jobs = ops.len(), "batch failed; retrying its jobs one by one");
                let mut results = Vec::with_capacity(ops.len());
                for op in &ops {
                    match commit(&store, std::slice::from_ref(op)).await {
                        Ok(mut one) => results.push(one.remove(0)),
                        Err(error) => results.push((Err(error.into()), None)),
                    }
                }
                results
            }
        };
        for ((result, event), reply) in results.into_iter().zip(replies) {
            if let Some(event) = event {
                let _ = events.send(event);
            }
            let _ = reply.send(result);
        }
    }
}

type Outcome = (Result<pb::Report, ReportingError>, Option<Event>);

/// Applies jobs in one transaction; `Err` only for a database failure of the batch.
async fn commit(store: &ReportStore, ops: &[(Op, AuditInfo)]) -> Result<Vec<Outcome>, sea_orm::DbErr> {
    let txn = store.db().begin().await?;
    let now = chrono::Utc::now().timestamp_micros();
    let mut out = Vec::with_capacity(ops.len());
    for (op, audit) in ops {
        let (result, event) = match op {
            Op::AuditOnly(outcome) => (outcome.clone().map(|_| pb::Report::default()), None),
            Op::Submit(_) | Op::Review(_) => {
                let savepoint = txn.begin().await?;
                match apply(store, &savepoint, op, now).await {
                    Ok((report, event)) => {
                        savepoint.commit().await?;
                        (Ok(report), event)
                    }
                    Err(ReportingError::Db(message)) => {
                        savepoint.rollback().await?;
                        return Err(sea_orm::DbErr::Custom(message));
                    }
                    Err(error) => {
                        savepoint.rollback().await?;
                        (Err(error), None)
                    }
                }
            }
        };
        let resource = match (&result, op) {
            (Ok(report), Op::Submit(_) | Op::Review(_)) => {
                ReportKey::parse(&report.name).map_or(report.name.clone(), |(k, _)| k.revision_name(report.revision))
            }
            (_, Op::AuditOnly(Ok(resource))) => resource.clone(),
            _ => audit.resource.clone(),
        };
        let (code, message) = match &result {
            Ok(_) => (0, String::new()),
            Err(error) => (error.parts().0 as i32, error.public_message()),
        };
        let (role, department, credential) = match &audit.principal {
            Some((principal, credential)) => {
                let (role, department) = convert::principal_columns(principal);
                (role, department, credential.clone())
            }
            None => (String::new(), String::new(), String::new()),
        };
        store
            .insert_audit(
                &txn,
                audit_record::Model {
                    id: 0,
                    time_us: now,
                    role,
                    department,
                    credential,
                    method: audit.method.to_owned(),
                    request_id: audit.request_id.clone(),
                    code,
                    status_message: message,
                    resource,
                    validate_only: audit.validate_only,
                    backfill: audit.backfill,
                    item_index: audit.item_index,
                },
            )
            .await?;
        out.push((result, event));
    }
    txn.commit().await?;
    Ok(out)
}

async fn apply(
    store: &ReportStore,
    db: &DatabaseTransaction,
    op: &Op,
    now: i64,
) -> Result<(pb::Report, Option<Event>), ReportingError> {
    match op {
        Op::Submit(op) => submit(store, db, op, now).await,
        Op::Review(op) => review(store, db, op, now).await,
        Op::AuditOnly(_) => Ok((pb::Report::default(), None)),
    }
}

fn event_row(
    key: &ReportKey,
    kind: pb::ReportEventType,
    revision: i32,
    principal: &Principal,
    credential: &str,
    backfilled: bool,
    now: i64,
) -> report_event::Model {
    let (role, department) = convert::principal_columns(principal);
    report_event::Model {
        sequence: 0,
        plan: key.plan.clone(),
        event_type: kind.as_str_name().to_owned(),
        measure_number: key.measure.clone(),
        department: key.department.clone(),
        period: key.period.key(),
        revision,
        event_time_us: now,
        actor_role: role,
        actor_department: department,
        actor_credential: credential.to_owned(),
        backfilled,
    }
}

/// The etag of the latest revision, from the pointer row that names it.
fn pointer_etag(pointer: &report::Model) -> String {
    let state = pb::report::State::from_str_name(&pointer.state).unwrap_or_default();
    convert::etag(pointer.revision, state)
}

async fn submit(
    store: &ReportStore,
    db: &DatabaseTransaction,
    op: &SubmitOp,
    now: i64,
) -> Result<(pb::Report, Option<Event>), ReportingError> {
    if let Some(request) = &op.request
        && let Some(stored) = idempotency::replay::<pb::Report>(db, request).await?
    {
        return Ok((stored, None));
    }
    let key = &op.key;
    let pointer = store.pointer(db, key).await?;
    if !op.etag.is_empty() {
        // The pointer knows the latest revision and its state, and an etag is exactly
        // those two: no need to read the revision row.
        let current = pointer.as_ref().map(pointer_etag).unwrap_or_default();
        if current != op.etag {
            return Err(ReportingError::EtagMismatch {
                name: key.name(),
                current,
            });
        }
    }
    // Only a backfill needs the latest revision's submit time.
    let latest = match &pointer {
        Some(p) if op.backfilled => store.revision(db, key, p.revision).await?,
        _ => None,
    };
    if let Some(latest) = &latest
        && op.submit_time_us < latest.submit_time_us
    {
        return Err(ReportingError::invalid(
            "submit_time",
            "is before the submit time of the report's latest revision",
        ));
    }
    let revision = pointer.as_ref().map_or(1, |p| p.revision + 1);
    let (overall, metrics, milestones, blockers, links) = convert::report_columns(&op.report);
    let (role, department) = convert::principal_columns(&op.principal);
    let state = pb::report::State::Submitted;
    let row = report_revision::Model {
        plan: key.plan.clone(),
        measure_number: key.measure.clone(),
        department: key.department.clone(),
        period: key.period.key(),
        revision,
        state: state.as_str_name().to_owned(),
        etag: convert::etag(revision, state),
        overall_status: overall,
        narrative: op.report.narrative.clone(),
        provisional: op.report.provisional,
        backfilled: op.backfilled,
        metric_values: metrics,
        milestone_updates: milestones,
        blockers,
        evidence_links: links,
        submitted_by_role: role,
        submitted_by_department: department,
        submitted_by_credential: op.credential.clone(),
        submit_time_us: op.submit_time_us,
        plan_revision: op.plan_revision,
        reviewer_role: String::new(),
        reviewer_department: String::new(),
        reviewer_credential: String::new(),
        review_time_us: None,
        review_reason: String::new(),
        create_time_us: now,
    };
    store.insert_revision(db, row.clone()).await?;
    // The new revision is the key's latest and SUBMITTED: only the submitted slots of
    // the aggregate change, and they change to this revision, which is in memory.
    store.aggregate_new_revision(db, key, &row).await?;
    let exists = pointer.is_some();
    let pointer = report::Model {
        plan: key.plan.clone(),
        measure_number: key.measure.clone(),
        department: key.department.clone(),
        period: key.period.key(),
        revision,
        state: state.as_str_name().to_owned(),
        first_submit_time_us: pointer.as_ref().map_or(op.submit_time_us, |p| p.first_submit_time_us),
        return_reason: pointer.as_ref().map(|p| p.return_reason.clone()).unwrap_or_default(),
        update_time_us: now,
        measure_key: convert::measure_key(&key.measure),
    };
    store.save_pointer(db, pointer.clone(), exists).await?;
    let response = convert::report(&row, &pointer, op.cadence, false);
    if let Some(request) = &op.request
        && !idempotency::record(db, request, &response).await?
    {
        return Err(ReportingError::Db(
            "a concurrent request with the same request_id won".into(),
        ));
    }
    let event = store
        .insert_event(
            db,
            event_row(
                key,
                pb::ReportEventType::Submitted,
                revision,
                &op.principal,
                &op.credential,
                op.backfilled,
                now,
            ),
        )
        .await?;
    Ok((response, Some((key.plan.clone(), convert::event(&event)))))
}

async fn review(
    store: &ReportStore,
    db: &DatabaseTransaction,
    op: &ReviewOp,
    now: i64,
) -> Result<(pb::Report, Option<Event>), ReportingError> {
    if let Some(request) = &op.request
        && let Some(stored) = idempotency::replay::<pb::Report>(db, request).await?
    {
        return Ok((stored, None));
    }
    let key = &op.key;
    let not_found = || ReportingError::NotFound {
        reason: "REPORT_NOT_FOUND",
        resource: "report",
        name: key.name(),
    };
    let mut pointer = store.pointer(db, key).await?.ok_or_else(not_found)?;
    let mut row = store.revision(db, key, pointer.revision).await?.ok_or_else(not_found)?;
    if row.etag != op.etag {
        return Err(ReportingError::EtagMismatch {
            name: key.name(),
            current: row.etag,
        });
    }
    if row.state != pb::report::State::Submitted.as_str_name() {
        return Err(ReportingError::InvalidState {
            name: key.name(),
            state: row.state,
        });
    }
    let state = if op.accept {
        pb::report::State::Accepted
    } else {
        pb::report::State::Returned
    };
    let (role, department) = convert::principal_columns(&op.principal);
    row.state = state.as_str_name().to_owned();
    row.etag = convert::etag(row.revision, state);
    row.reviewer_role = role;
    row.reviewer_department = department;
    row.reviewer_credential = op.credential.clone();
    row.review_time_us = Some(now);
    row.review_reason = op.reason.clone();
    store.update_revision(db, row.clone()).await?;
    pointer.state = row.state.clone();
    if !op.accept {
        pointer.return_reason = op.reason.clone();
    }
    pointer.update_time_us = now;
    store.save_pointer(db, pointer.clone(), true).await?;
    store.refresh_aggregate(db, key).await?;
    let response = convert::report(&row, &pointer, op.cadence, false);
    if let Some(request) = &op.request
        && !idempotency::record(db, request, &response).await?
    {
        return Err(ReportingError::Db(
            "a concurrent request with the same request_id won".into(),
        ));
    }
    let kind = if op.accept {
        pb::ReportEventType::Accepted
    } else {
        pb::ReportEventType::Returned
    };
    let event = store
        .insert_event(
            db,
            event_row(
                key,
                kind,
                row.revision,
                &op.principal,
                &op.credential,
                row.backfilled,
                now,
            ),
        )
        .await?;
    Ok((response, Some((key.plan.clone(), convert::event(&event)))))
}
