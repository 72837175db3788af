//! Group commit: one task owns every write. Callers queue a [`Job`] with a oneshot for
//! the answer; the task takes up to [`MAX_BATCH`] queued jobs, applies them in ONE
//! transaction, commits once, and only then answers each job. If the database fails, the
//! batch is rolled back and its jobs are retried one per transaction. What a job writes
//! is the job's business: this module knows nothing about reports. On PostgreSQL the
//! writers of several replicas take turns, one batch at a time (`WRITE_TURN`).
//!
//! A job is applied in one of two ways:
//! - **Staged**: it reads (what the batch read for all its jobs when it began,
//!   [`Job::read_ahead`], as far as that is still true), decides, and adds the rows it
//!   would write to the batch's [`Job::Staged`] rows instead of writing them. The writer writes every staged row at
//!   the batch's end ([`Job::flush`]), a few multi-row statements for the whole batch
//!   instead of a dozen statements per job: the statements, not the commit, were what a
//!   submission cost (BENCHMARKS.md). A job stages only when nothing it reads is among
//!   the staged rows, and only once it can no longer be refused, so it needs no savepoint.
//! - **In its own savepoint**, after the staged rows are flushed (so it reads every
//!   earlier job's writes): a job refused at write time (etag, state) is rolled back to
//!   its savepoint alone and does not poison the batch.
//!
//! Either way its record (what every job leaves behind) is staged after it.
//!
//! Its [`WriterMetrics`] tell how well grouping works: the jobs per transaction, how
//! long each commit takes, and how often a batch had to be retried one by one.
//!
//! Traces: a job carries the span of the call that queued it. Its statements run under a
//! `write.job` span that is a child of that span, inside a `write.transaction` span (the
//! BEGIN and COMMIT) that is a child of the first job's and linked from the others', so
//! that each call's trace shows its own writes and the commit it waited for.

use std::{future::Future, time::Instant};

use duban_kit::metrics::Metrics;
use prometheus_client::metrics::{
    counter::Counter,
    histogram::{Histogram, exponential_buckets},
};
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, TransactionTrait};
use tokio::sync::{mpsc, oneshot};
use tracing::{Instrument, Span};

/// Most jobs per transaction.
pub const MAX_BATCH: usize = 128;

/// The PostgreSQL transaction lock every batch takes first (released at its commit).
const WRITE_TURN: &str = "SELECT pg_advisory_xact_lock(7238800146671040370)"; // "duban_wr

/// The writer's series. Clones share them.
#[derive(Debug, Clone)]
pub struct WriterMetrics {
    batch_size: Histogram,
    commit_duration: Histogram,
    retried_batches: Counter,
}

impl Default for WriterMetrics {
    fn default() -> Self {
        Self {
            // 1, 2, 4 … 128 (MAX_BATCH).
            batch_size: Histogram::new(exponential_buckets(1.0, 2.0, 8)),
            // 0.5 ms to about 4 s.
            commit_duration: Histogram::new(exponential_buckets(0.0005, 2.0, 14)),
            retried_batches: Counter::default(),
        }
    }
}

impl WriterMetrics {
    /// The writer's series, registered in `metrics`.
    pub fn register(metrics: &Metrics) -> WriterMetrics {
        let writer = WriterMetrics::default();
        metrics.register(
            "writer_batch_size",
            "Jobs (submissions, reviews, refusals to audit) written in one transaction by the group-commit writer",
            writer.batch_size.clone(),
        );
        metrics.register(
            "writer_commit_duration_seconds",
            "Time to write and commit one batch of the group-commit writer, from BEGIN to COMMIT (on PostgreSQL including the wait for the replicas' write turn)",
            writer.commit_duration.clone(),
        );
        metrics.register(
            "writer_retried_batches",
            "Batches the database failed, whose jobs were then retried one per transaction",
            writer.retried_batches.clone(),
        );
        writer
    }
}

/// Why a job did not apply.
#[derive(Debug)]
pub enum Failure<E> {
    /// The job itself was refused (a stale etag, a wrong state): its savepoint is rolled
    /// back, its caller gets the error, and the rest of the batch goes on.
    Refused(E),
    /// The database failed: the whole batch is rolled back and its jobs retried one per
    /// transaction, so that one bad job cannot fail the others.
    Database(E),
}

impl<E: From<DbErr>> From<DbErr> for Failure<E> {
    fn from(error: DbErr) -> Self {
        Self::Database(error.into())
    }
}

/// The writer task is gone (the server is shutting down).
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the writer has stopped")]
pub struct WriterStopped;

/// A write the engine applies inside a shared transaction.
pub trait Job: Send + Sync + 'static {
    /// What every job of one writer shares (the store, an event channel …).
    type Context: Send + Sync + 'static;
    /// The rows a batch's jobs stage, written by [`Job::flush`]; a new one per transaction.
    type Staged: Default + Send;
    /// What the caller is answered with once the batch has committed.
    type Output: Send + 'static;
    /// What the caller is answered with when the job fails.
    type Error: From<DbErr> + From<WriterStopped> + std::fmt::Display + Send + 'static;

    /// The outcome of a job that writes nothing but its record, known before any
    /// transaction; `None` for a job that must be [`Job::apply`]'d.
    fn known_outcome(&self) -> Option<Result<Self::Output, Self::Error>>;

    /// Reads, when the batch begins and in as few statements as it can, what `jobs` will
    /// read, into `staged` (which must forget what a write makes untrue).
    fn read_ahead(
        context: &Self::Context,
        txn: &DatabaseTransaction,
        jobs: &[Self],
        staged: &mut Self::Staged,
    ) -> impl Future<Output = Result<(), DbErr>> + Send
    where
        Self: Sized;

    /// Whether the job can be applied staged: it writes only by adding rows to `staged`,
    /// reads nothing `staged` holds, and adds its rows only once it can no longer be
    /// refused. Otherwise the writer flushes `staged` and asks again: a job that still
    /// does not stage is applied in its own savepoint (where it may write directly).
    fn stages(&self, staged: &Self::Staged) -> bool;

    /// Applies the job: staged, or inside its own savepoint of the batch's transaction
    /// (see [`Job::stages`]).
    fn apply(
        &self,
        context: &Self::Context,
        txn: &DatabaseTransaction,
        staged: &mut Self::Staged,
        now_us: i64,
    ) -> impl Future<Output = Result<Self::Output, Failure<Self::Error>>> + Send;

    /// Stages what every job leaves behind whatever its outcome (an audit record).
    fn record(
        &self,
        context: &Self::Context,
        staged: &mut Self::Staged,
        outcome: &Result<Self::Output, Self::Error>,
        now_us: i64,
    );

    /// Writes the staged rows in `txn` and empties `staged`.
    fn flush(
        context: &Self::Context,
        txn: &DatabaseTransaction,
        staged: &mut Self::Staged,
    ) -> impl Future<Output = Result<(), DbErr>> + Send;

    /// Runs once the batch has committed, just before the caller is answered (to
    /// publish what the job wrote).
    fn committed(&self, context: &Self::Context, output: &mut Self::Output);
}

struct Queued<J: Job> {
    job: J,
    /// The span of the call that queued the job.
    caller: Span,
    reply: oneshot::Sender<Result<J::Output, J::Error>>,
}

/// The handle callers queue jobs through.
pub struct Writer<J: Job> {
    queue: mpsc::Sender<Queued<J>>,
}

impl<J: Job> Clone for Writer<J> {
    fn clone(&self) -> Self {
        Self {
            queue: self.queue.clone(),
        }
    }
}

impl<J: Job> std::fmt::Debug for Writer<J> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer").finish_non_exhaustive()
    }
}

impl<J: Job> Writer<J> {
    /// Starts the writer task, which writes through `db`, hands `context` to every job
    /// and counts its batches in `metrics`.
    pub fn start(db: DatabaseConnection, context: J::Context, metrics: WriterMetrics) -> Writer<J> {
        let (queue, jobs) = mpsc::channel(4096);
        tokio::spawn(run(db, context, jobs, metrics));
        Writer { queue }
    }

    /// Queues a job and waits until it is committed (or failed).
    pub async fn write(&self, job: J) -> Result<J::Output, J::Error> {
        self.queue(job).await?.await
    }

    /// Queues a job; the returned future resolves once it is committed (or failed).
    /// Jobs are written in the order they are queued.
    pub async fn queue(&self, job: J) -> Result<impl Future<Output = Result<J::Output, J::Error>> + use<J>, J::Error> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Queued {
                job,
                caller: Span::current(),
                reply,
            })
            .await
            .map_err(|_| J::Error::from(WriterStopped))?;
        Ok(async move { answer.await.map_err(|_| J::Error::from(WriterStopped))? })
    }
}

async fn run<J: Job>(
    db: DatabaseConnection,
    context: J::Context,
    mut queue: mpsc::Receiver<Queued<J>>,
    metrics: WriterMetrics,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let mut jobs = Vec::with_capacity(batch.len());
        let mut callers = Vec::with_capacity(batch.len());
        let mut replies = Vec::with_capacity(batch.len());
        for queued in batch.drain(..) {
            jobs.push(queued.job);
            callers.push(queued.caller);
            replies.push(queued.reply);
        }
        let outcomes = match commit(&db, &context, &jobs, &callers, &metrics).await {
            Ok(outcomes) => outcomes,
            Err(error) => {
                tracing::warn!(%error, jobs = jobs.len(), "batch failed; retrying its jobs one by one");
                metrics.retried_batches.inc();
                let mut outcomes = Vec::with_capacity(jobs.len());
                for (job, caller) in jobs.iter().zip(&callers) {
                    match commit(
                        &db,
                        &context,
                        std::slice::from_ref(job),
                        std::slice::from_ref(caller),
                        &metrics,
                    )
                    .await
                    {
                        Ok(mut one) => outcomes.push(one.remove(0)),
                        Err(error) => outcomes.push(Err(error)),
                    }
                }
                outcomes
            }
        };
        for ((job, mut outcome), reply) in jobs.iter().zip(outcomes).zip(replies) {
            if let Ok(output) = &mut outcome {
                job.committed(&context, output);
            }
            let _ = reply.send(outcome);
        }
    }
}

/// The span of one transaction: a child of the first caller's span (so that a call
/// committed alone finds its BEGIN and COMMIT in its own trace), linked from the others'.
fn transaction_span(callers: &[Span]) -> Span {
    let span = match callers.first() {
        Some(first) => tracing::info_span!(parent: first, "write.transaction", jobs = callers.len()),
        None => tracing::info_span!("write.transaction", jobs = 0),
    };
    for caller in callers.iter().skip(1) {
        span.follows_from(caller);
    }
    span
}

/// Applies `jobs` (queued by `callers`) in one transaction; `Err` only when the
/// database failed the batch. A batch that commits is counted in `metrics`.
async fn commit<J: Job>(
    db: &DatabaseConnection,
    context: &J::Context,
    jobs: &[J],
    callers: &[Span],
    metrics: &WriterMetrics,
) -> Result<Vec<Result<J::Output, J::Error>>, J::Error> {
    let span = transaction_span(callers);
    transact(db, context, jobs, callers, metrics).instrument(span).await
}

async fn transact<J: Job>(
    db: &DatabaseConnection,
    context: &J::Context,
    jobs: &[J],
    callers: &[Span],
    metrics: &WriterMetrics,
) -> Result<Vec<Result<J::Output, J::Error>>, J::Error> {
    let started = Instant::now();
    let txn = db.begin().await?;
    if db.get_database_backend() == DbBackend::Postgres {
        // Replicas on one database take turns: each batch holds this lock from its
        // first statement to its commit. So every read of a batch sees what the batches
        // before it committed (revisions, etags, request ids), and the event sequence
        // values a batch draws are all greater than those of every batch committed
        // before it: events commit in sequence order, and a reader that has seen
        // sequence n has seen every event before n (see `service::feed`).
        txn.execute_unprepared(WRITE_TURN).await?;
    }
    let now_us = chrono::Utc::now().timestamp_micros();
    let mut staged = J::Staged::default();
    J::read_ahead(context, &txn, jobs, &mut staged)
        .instrument(tracing::info_span!("write.read_ahead"))
        .await?;
    let mut outcomes = Vec::with_capacity(jobs.len());
    for (job, caller) in jobs.iter().zip(callers) {
        let step = async {
            let outcome = match job.known_outcome() {
                Some(outcome) => outcome,
                None => {
                    if !job.stages(&staged) {
                        // It reads what earlier jobs staged, or writes directly.
                        flush::<J>(context, &txn, &mut staged).await?;
                    }
                    if job.stages(&staged) {
                        match job.apply(context, &txn, &mut staged, now_us).await {
                            Ok(output) => Ok(output),
                            Err(Failure::Refused(error)) => Err(error),
                            Err(Failure::Database(error)) => return Err(error),
                        }
                    } else {
                        let savepoint = txn.begin().await?;
                        match job.apply(context, &savepoint, &mut staged, now_us).await {
                            Ok(output) => {
                                savepoint.commit().await?;
                                Ok(output)
                            }
                            Err(Failure::Refused(error)) => {
                                savepoint.rollback().await?;
                                Err(error)
                            }
                            Err(Failure::Database(error)) => {
                                savepoint.rollback().await?;
                                return Err(error);
                            }
                        }
                    }
                }
            };
            job.record(context, &mut staged, &outcome, now_us);
            Ok(outcome)
        };
        let job_span = tracing::info_span!(parent: caller, "write.job");
        job_span.follows_from(Span::current());
        outcomes.push(step.instrument(job_span).await?);
    }
    flush::<J>(context, &txn, &mut staged).await?;
    txn.commit().await?;
    metrics.batch_size.observe(jobs.len() as f64);
    metrics.commit_duration.observe(started.elapsed().as_secs_f64());
    Ok(outcomes)
}

/// Writes the staged rows, under a `write.flush` span.
async fn flush<J: Job>(
    context: &J::Context,
    txn: &DatabaseTransaction,
    staged: &mut J::Staged,
) -> Result<(), J::Error> {
    J::flush(context, txn, staged)
        .instrument(tracing::info_span!("write.flush"))
        .await?;
    Ok(())
}
