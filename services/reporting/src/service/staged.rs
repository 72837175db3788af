//! A writer batch's reporting state ([`Staged`]): what its submissions read, read for
//! them all at once when the batch begins, and the rows they and every job's audit
//! record stage, written at the batch's end in one multi-row statement per table (see
//! `crate::writer`).
//!
//! A submission reads its report's pointer (and, for a backfill, latest revision), its
//! measure's blockers for its department, and its request id's record. So it stages
//! only when no staged row is one of those: [`Staged::holds`] tells the writer to flush
//! first otherwise, and the submission then reads what the earlier ones wrote. What was
//! read at the beginning stays true until a row of it is written: a flush forgets what
//! it wrote, and any other job (which writes directly) makes the batch forget it all.

use std::collections::{HashMap, HashSet};

use duban_kit::idempotency::{self, RequestKey};
use prost::Message;
use sea_orm::{DatabaseTransaction, DbErr};

use super::{journal::Written, submission::Rows, submission::Submission};
use crate::{
    convert::{self, ReportKey},
    entity::{audit_record, blocker, report, report_event, report_revision},
    store::ReportStore,
};

/// (plan, measure, department): whose blockers a submission reads.
type BlockerKey = (String, String, String);
/// (caller, method, request id): a request log entry.
type RequestId = (String, &'static str, String);

/// What a batch's submissions read and stage.
#[derive(Debug, Default)]
pub struct Staged {
    rows: StagedRows,
    read: Read,
}

/// Rows to write at the end of a batch, and the keys they touch.
#[derive(Debug, Default)]
struct StagedRows {
    revisions: Vec<report_revision::Model>,
    pointers: Vec<report::Model>,
    blockers: Vec<blocker::Model>,
    requests: Vec<(RequestKey, Vec<u8>)>,
    events: Vec<report_event::Model>,
    audits: Vec<audit_record::Model>,
    /// Report keys with a staged revision and pointer.
    reports: HashSet<ReportKey>,
    /// Blocker keys with staged blockers.
    blocker_keys: HashSet<BlockerKey>,
    /// Request ids with a staged record.
    request_ids: HashSet<RequestId>,
}

/// What the batch's submissions read, read when it began, and still true.
#[derive(Debug, Default)]
struct Read {
    /// Each report key's pointer (`None`: no pointer yet).
    pointers: HashMap<ReportKey, Option<report::Model>>,
    /// Each blocker key's blockers, in number order.
    blockers: HashMap<BlockerKey, Vec<blocker::Model>>,
    /// Request ids with no record (a retry, which has one, is rare: it is replayed
    /// after its own read).
    unrecorded: HashSet<RequestId>,
    /// The latest revision of each report key with a pointer that a backfill reads.
    latest: HashMap<ReportKey, report_revision::Model>,
}

fn blocker_key(key: &ReportKey) -> BlockerKey {
    (key.plan.clone(), key.measure.clone(), key.department.clone())
}

fn request_id(request: &RequestKey) -> RequestId {
    let (caller, method, id) = request.identity();
    (caller.to_owned(), method, id.to_owned())
}

fn report_key(row: &report::Model) -> Option<ReportKey> {
    let period = crate::calendar::Month::parse(&row.period)?;
    Some(ReportKey {
        plan: row.plan.clone(),
        measure: row.measure_number.clone(),
        department: row.department.clone(),
        period,
    })
}

impl Staged {
    /// Reads what `submissions` will read, a few statements for them all.
    pub async fn read_ahead(
        &mut self,
        store: &ReportStore,
        txn: &DatabaseTransaction,
        submissions: &[&Submission],
    ) -> Result<(), DbErr> {
        if submissions.is_empty() {
            return Ok(());
        }
        let read = &mut self.read;
        let requests: Vec<&RequestKey> = submissions.iter().filter_map(|s| s.request.as_ref()).collect();
        let recorded: HashSet<(String, String, String)> = idempotency::recorded(txn, requests.iter().copied())
            .await?
            .into_iter()
            .collect();
        for request in requests {
            let (caller, method, id) = request.identity();
            if !recorded.contains(&(caller.to_owned(), method.to_owned(), id.to_owned())) {
                read.unrecorded.insert(request_id(request));
            }
        }

        let keys: Vec<&ReportKey> = submissions.iter().map(|s| &s.key).collect();
        read.pointers.extend(keys.iter().map(|&key| (key.clone(), None)));
        for pointer in store.pointers_of(txn, &keys).await? {
            if let Some(key) = report_key(&pointer) {
                read.pointers.insert(key, Some(pointer));
            }
        }

        let blocker_keys: Vec<BlockerKey> = keys
            .iter()
            .map(|key| blocker_key(key))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        read.blockers
            .extend(blocker_keys.iter().map(|key| (key.clone(), Vec::new())));
        for row in store.blockers_of(txn, &blocker_keys).await? {
            let key = (row.plan.clone(), row.measure_number.clone(), row.department.clone());
            read.blockers.entry(key).or_default().push(row);
        }
        for rows in read.blockers.values_mut() {
            rows.sort_by_key(|row| row.number);
        }

        let backfilled: Vec<(&ReportKey, i32)> = submissions
            .iter()
            .filter(|s| s.backfilled)
            .filter_map(|s| Some((&s.key, read.pointers.get(&s.key)?.as_ref()?.revision)))
            .collect();
        for row in store.revisions_of(txn, &backfilled).await? {
            read.latest.insert(ReportKey::of_revision(&row), row);
        }
        Ok(())
    }

    /// Whether `request` is known, since the batch began, to have no record.
    pub fn unrecorded(&self, request: &Option<RequestKey>) -> bool {
        request
            .as_ref()
            .is_some_and(|request| self.read.unrecorded.contains(&request_id(request)))
    }

    /// `key`'s pointer as read when the batch began, if it was and is still true.
    pub fn pointer(&self, key: &ReportKey) -> Option<&Option<report::Model>> {
        self.read.pointers.get(key)
    }

    /// The blockers of `key`'s measure and department, in number order, as read when
    /// the batch began, if they were and are still true.
    pub fn blockers(&self, key: &ReportKey) -> Option<&Vec<blocker::Model>> {
        self.read.blockers.get(&blocker_key(key))
    }

    /// `key`'s revision `number` as read when the batch began, if it was.
    pub fn revision(&self, key: &ReportKey, number: i32) -> Option<&report_revision::Model> {
        self.read.latest.get(key).filter(|row| row.revision == number)
    }

    /// Forgets everything read: a job is about to write directly.
    pub fn forget_reads(&mut self) {
        self.read = Read::default();
    }

    /// Whether a submission of `key` with `request` would read a staged row.
    pub fn holds(&self, key: &ReportKey, request: &Option<RequestKey>) -> bool {
        let rows = &self.rows;
        rows.reports.contains(key)
            || (!rows.blocker_keys.is_empty() && rows.blocker_keys.contains(&blocker_key(key)))
            || request
                .as_ref()
                .is_some_and(|request| rows.request_ids.contains(&request_id(request)))
    }

    /// Stages a decided submission of `key`: its revision, blockers, pointer, request
    /// record and `event`; returns what it answers once committed.
    pub fn submission(
        &mut self,
        key: &ReportKey,
        rows: Rows,
        request: &Option<RequestKey>,
        response: duban_proto::reporting::v1::Report,
        event: report_event::Model,
    ) -> Written {
        let staged = &mut self.rows;
        staged.reports.insert(key.clone());
        if !rows.blockers.is_empty() {
            staged.blocker_keys.insert(blocker_key(key));
        }
        staged.revisions.push(rows.revision);
        staged.pointers.push(rows.pointer);
        staged.blockers.extend(rows.blockers);
        if let Some(request) = request {
            staged.request_ids.insert(request_id(request));
            staged.requests.push((request.clone(), response.encode_to_vec()));
        }
        // The event's sequence is drawn when it is written; what is published after the
        // commit is read back from the table (`EventFeed`).
        let published = (event.plan.clone(), convert::event(&event));
        staged.events.push(event);
        Written {
            report: response,
            event: Some(published),
            ..Written::default()
        }
    }

    /// Stages an audit record.
    pub fn audit(&mut self, row: audit_record::Model) {
        self.rows.audits.push(row);
    }

    /// Writes every staged row in `txn`, one statement per table, and forgets what was
    /// read of them. The aggregate is derived from the revisions, in the same transaction.
    pub async fn flush(&mut self, store: &ReportStore, txn: &DatabaseTransaction) -> Result<(), DbErr> {
        let StagedRows {
            revisions,
            pointers,
            blockers,
            requests,
            events,
            audits,
            reports,
            blocker_keys,
            request_ids,
        } = std::mem::take(&mut self.rows);
        for key in &reports {
            self.read.pointers.remove(key);
            self.read.latest.remove(key);
        }
        for key in &blocker_keys {
            self.read.blockers.remove(key);
        }
        for id in &request_ids {
            self.read.unrecorded.remove(id);
        }
        store.aggregate_new_revisions(txn, &revisions).await?;
        store.insert_revisions(txn, revisions).await?;
        store.save_blockers(txn, blockers).await?;
        store.save_pointers(txn, pointers).await?;
        idempotency::record_all(txn, requests).await?;
        store.insert_events(txn, events).await?;
        store.insert_audits(txn, audits).await
    }
}

#[cfg(test)]
mod tests {
    use duban_kit::{
        Principal,
        metrics::{Format, Metrics},
        testing::Backend,
    };
    use duban_proto::reporting::v1 as pb;
    use sea_orm::{EntityTrait, PaginatorTrait};

    use super::*;
    use crate::{
        calendar::{Cadence, Month},
        entity::audit_record,
        service::{
            journal::{AuditInfo, TestWriter, WriteJob},
            reviewing::{Review, ReviewDecision},
            submission::Submission,
        },
    };

    const METHOD: &str = "/duban.reporting.v1.ReportingService/SubmitReport";

    fn submission(measure: &str, month: u32, request_id: &str, blocker: Option<&str>) -> Submission {
        let report = pb::Report {
            measure_number: measure.into(),
            narrative: format!("{measure} on track"),
            blockers: blocker
                .map(|text| pb::Blocker {
                    description: text.into(),
                    severity: pb::BlockerSeverity::High as i32,
                    ..Default::default()
                })
                .into_iter()
                .collect(),
            ..Default::default()
        };
        // The same id for the same report body is one request sent twice.
        let request = RequestKey::new("departments/tax-bureau", METHOD, request_id, &report);
        Submission {
            key: ReportKey {
                plan: "p".into(),
                measure: measure.into(),
                department: "tax-bureau".into(),
                period: Month::new(2023, month).expect("a month"),
            },
            report,
            principal: Principal::Department("tax-bureau".into()),
            credential: "credentials/1".into(),
            submit_time_us: chrono::Utc::now().timestamp_micros(),
            backfilled: false,
            plan_revision: 1,
            etag: String::new(),
            cadence: Cadence::monthly(5),
            request,
            source: pb::ReportSource::Api,
        }
    }

    /// One batch: submissions of other reports stage together, while one that reads what
    /// an earlier one staged (the same report, the same measure's blockers, the same
    /// request id) is decided after a flush, so it sees it; and what was read for them all
    /// when the batch began is not trusted after a job that writes directly. Nothing is
    /// retried.
    async fn a_batch_flushes_before_a_submission_reads_what_it_staged(backend: Backend) {
        let metrics = Metrics::new();
        let Some(TestWriter {
            store,
            writer,
            stopping,
            database: _database,
        }) = TestWriter::start(backend, &metrics).await
        else {
            return;
        };
        let audit = || AuditInfo {
            method: METHOD,
            ..AuditInfo::default()
        };
        // A report stored before the batch, which the batch reviews, then revises.
        let reviewed = submission("1.3", 4, "e", None);
        writer
            .write(WriteJob::submission(reviewed.clone(), audit()))
            .await
            .unwrap();
        let review = Review {
            key: reviewed.key.clone(),
            decision: ReviewDecision::Accept { comment: String::new() },
            etag: convert::etag(1, pb::report::State::Submitted),
            principal: Principal::Admin,
            credential: String::new(),
            cadence: Cadence::monthly(5),
            request: None,
        };
        let mut revised = submission("1.3", 4, "f", None);
        revised.etag = convert::etag(1, pb::report::State::Accepted);

        let jobs = [
            WriteJob::submission(submission("1.1", 4, "a", None), audit()),
            WriteJob::submission(submission("1.2", 4, "b", Some("缺地")), audit()),
            // The same report as the first: its second revision.
            WriteJob::submission(submission("1.1", 4, "c", None), audit()),
            // The same measure and department as the second, another month: its blocker
            // is numbered after the second's.
            WriteJob::submission(submission("1.2", 5, "d", Some("缺钱")), audit()),
            // The first request again (the same id and body; only the request id links
            // it to the first): answered what the first was.
            WriteJob::submission(submission("1.1", 5, "a", None), audit()),
            // A review writes directly; the submission after it sees the accepted state
            // (its etag), not what was read when the batch began.
            WriteJob::change(review, audit()),
            WriteJob::submission(revised, audit()),
        ];
        // Queued before the writer task runs (one thread): one batch.
        let mut answers = Vec::new();
        for job in jobs {
            answers.push(writer.queue(job).await.unwrap());
        }
        let mut stored = Vec::new();
        for answer in answers {
            let report = answer.await.unwrap().report;
            stored.push((report.name, report.revision));
        }
        let name = |measure: &str, month: &str| format!("plans/p/reports/{measure}~tax-bureau~2023-{month}");
        assert_eq!(
            stored,
            [
                (name("1.1", "04"), 1),
                (name("1.2", "04"), 1),
                (name("1.1", "04"), 2),
                (name("1.2", "05"), 1),
                (name("1.1", "04"), 1),
                (name("1.3", "04"), 1),
                (name("1.3", "04"), 2),
            ]
        );
        let blockers: Vec<(i32, String)> = store
            .key_blockers(store.db(), "p", "1.2", "tax-bureau")
            .await
            .unwrap()
            .into_iter()
            .map(|row| (row.number, row.description))
            .collect();
        assert_eq!(blockers, [(1, "缺地".to_owned()), (2, "缺钱".to_owned())]);
        // 1.1 twice, 1.2 twice, 1.3 twice; the events add the review.
        assert_eq!(report_revision::Entity::find().count(store.db()).await.unwrap(), 6);
        assert_eq!(report_event::Entity::find().count(store.db()).await.unwrap(), 7);
        assert_eq!(audit_record::Entity::find().count(store.db()).await.unwrap(), 8);
        let text = metrics.encode(Format::PrometheusText);
        let value = |series: &str| -> String {
            text.lines()
                .filter_map(|line| line.split_once(' '))
                .find(|(name, _)| name.ends_with(series))
                .map(|(_, value)| value.to_owned())
                .unwrap_or_else(|| panic!("no {series} in {text}"))
        };
        assert_eq!(
            value("writer_batch_size_count"),
            "2",
            "the first report, then one batch"
        );
        assert_eq!(value("writer_retried_batches_total"), "0", "nothing retried");
        stopping.cancel();
    }

    duban_kit::backend_tests!(a_batch_flushes_before_a_submission_reads_what_it_staged);
}
