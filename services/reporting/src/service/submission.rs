//! The rows of a submission: one decision, against the report as stored now, of the new
//! revision's number, etag, first submit time and on-time flag, shared by validate_only
//! (which only shows the result) and the write (which stores it).

use duban_kit::{Principal, error::EtagMismatch, idempotency::RequestKey};
use duban_proto::reporting::v1 as pb;
use sea_orm::{ConnectionTrait, DatabaseTransaction};

use super::{
    blocker_changes::{self, Occasion},
    journal::{self, Written},
    staged::Staged,
};
use crate::{
    calendar::Cadence,
    convert::{self, ReportKey},
    entity::{blocker, report, report_revision},
    error::ReportingError,
    store::ReportStore,
    writer::Failure,
};

/// A validated submission, ready to be stored as the report's next revision.
#[derive(Debug, Clone)]
pub struct Submission {
    /// The report.
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
    /// Where the report came from, as declared (never UNSPECIFIED).
    pub source: pb::ReportSource,
}

/// The rows storing a submission writes.
#[derive(Debug, Clone)]
pub struct Rows {
    /// The new revision.
    pub revision: report_revision::Model,
    /// The report's pointer, naming the new revision (stored or not yet).
    pub pointer: report::Model,
    /// The blockers the revision raises, updates or resolves, as they are after it.
    pub blockers: Vec<blocker::Model>,
}

impl Rows {
    /// The report as its submitter sees it once stored.
    pub fn report(&self, cadence: Cadence) -> pb::Report {
        convert::report(&self.revision, &self.pointer, cadence, false)
    }
}

/// The etag of the latest revision, from the pointer row that names it: an etag is
/// exactly the latest revision's number and state, which the pointer holds.
pub fn pointer_etag(pointer: &report::Model) -> String {
    let state = pb::report::State::from_str_name(&pointer.state).unwrap_or_default();
    convert::etag(pointer.revision, state)
}

impl Submission {
    /// Checks the submission against the report as stored now (the etag, and for a
    /// backfill the order of submit times) and builds the rows storing it would write.
    pub async fn decide(
        &self,
        store: &ReportStore,
        db: &impl ConnectionTrait,
        now_us: i64,
    ) -> Result<Rows, ReportingError> {
        self.decide_knowing(store, db, None, now_us).await
    }

    /// As [`Self::decide`], taking what the writer's batch has read already from `known`
    /// instead of reading it again.
    async fn decide_knowing(
        &self,
        store: &ReportStore,
        db: &impl ConnectionTrait,
        known: Option<&Staged>,
        now_us: i64,
    ) -> Result<Rows, ReportingError> {
        let key = &self.key;
        let pointer = match known.and_then(|known| known.pointer(key)) {
            Some(pointer) => pointer.clone(),
            None => store.pointer(db, key).await?,
        };
        if !self.etag.is_empty() {
            let current = pointer.as_ref().map(pointer_etag).unwrap_or_default();
            if current != self.etag {
                return Err(EtagMismatch {
                    name: key.name(),
                    current,
                }
                .into());
            }
        }
        // Only a backfill needs the latest revision's submit time.
        let latest = match &pointer {
            Some(p) if self.backfilled => match known.and_then(|known| known.revision(key, p.revision)) {
                Some(latest) => Some(latest.clone()),
                None => store.revision(db, key, p.revision).await?,
            },
            _ => None,
        };
        if latest.is_some_and(|latest| self.submit_time_us < latest.submit_time_us) {
            return Err(ReportingError::invalid(
                "submit_time",
                "is before the submit time of the report's latest revision",
            ));
        }
        let number = pointer.as_ref().map_or(1, |p| p.revision + 1);
        let stored_blockers = match known.and_then(|known| known.blockers(key)) {
            Some(blockers) => blockers.clone(),
            None => store.key_blockers(db, &key.plan, &key.measure, &key.department).await?,
        };
        let occasion = Occasion {
            revision_name: &key.revision_name(number),
            submit_time_us: self.submit_time_us,
            now_us,
        };
        let changes = blocker_changes::apply(key, &self.report.blockers, &stored_blockers, occasion)
            .map_err(ReportingError::Invalid)?;
        let (overall, metrics, milestones, blockers, links) = convert::report_columns(&self.report, &changes.stored);
        let (role, department) = convert::principal_columns(&self.principal);
        let state = pb::report::State::Submitted;
        let revision = report_revision::Model {
            plan: key.plan.clone(),
            measure_number: key.measure.clone(),
            department: key.department.clone(),
            period: key.period.key(),
            revision: number,
            state: state.as_str_name().to_owned(),
            etag: convert::etag(number, state),
            overall_status: overall,
            narrative: self.report.narrative.clone(),
            provisional: self.report.provisional,
            backfilled: self.backfilled,
            metric_values: metrics,
            milestone_updates: milestones,
            blockers,
            evidence_links: links,
            submitted_by_role: role,
            submitted_by_department: department,
            submitted_by_credential: self.credential.clone(),
            submit_time_us: self.submit_time_us,
            plan_revision: self.plan_revision,
            reviewer_role: String::new(),
            reviewer_department: String::new(),
            reviewer_credential: String::new(),
            review_time_us: None,
            review_reason: String::new(),
            create_time_us: now_us,
            source: self.source.as_str_name().to_owned(),
        };
        let pointer = report::Model {
            plan: key.plan.clone(),
            measure_number: key.measure.clone(),
            department: key.department.clone(),
            period: key.period.key(),
            revision: number,
            state: state.as_str_name().to_owned(),
            // On time is judged by the first submission, which a later revision keeps.
            first_submit_time_us: pointer.as_ref().map_or(self.submit_time_us, |p| p.first_submit_time_us),
            return_reason: pointer.map(|p| p.return_reason).unwrap_or_default(),
            update_time_us: now_us,
            measure_key: convert::measure_key(&key.measure),
        };
        Ok(Rows {
            revision,
            pointer,
            blockers: changes.rows.into_iter().map(|(row, _exists)| row).collect(),
        })
    }

    /// What storing the submission now would answer (validate_only): nothing is written.
    pub async fn would_store(&self, store: &ReportStore) -> Result<pb::Report, ReportingError> {
        let now_us = chrono::Utc::now().timestamp_micros();
        Ok(self.decide(store, store.db(), now_us).await?.report(self.cadence))
    }

    /// Decides the submission in `txn` and stages its rows in `staged` (see
    /// `super::staged`): the writer writes them with the rest of its batch.
    pub async fn stage(
        &self,
        store: &ReportStore,
        txn: &DatabaseTransaction,
        staged: &mut Staged,
        now_us: i64,
    ) -> Result<Written, Failure<ReportingError>> {
        if !staged.unrecorded(&self.request)
            && let Some(replayed) = journal::replayed(txn, &self.request).await?
        {
            return Ok(replayed);
        }
        let rows = self.decide_knowing(store, txn, Some(staged), now_us).await?;
        let event = journal::event_row(
            &self.key,
            pb::ReportEventType::Submitted,
            rows.revision.revision,
            (&self.principal, &self.credential),
            self.backfilled,
            now_us,
        );
        let response = rows.report(self.cadence);
        Ok(staged.submission(&self.key, rows, &self.request, response, event))
    }
}

#[cfg(test)]
mod tests;
