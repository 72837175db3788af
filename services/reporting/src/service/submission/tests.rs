//! validate_only and the write decide a submission with the same code: they must agree.

use duban_kit::testing::{Backend, TestDatabase};
use sea_orm::TransactionTrait;

use super::*;
use crate::calendar::Month;

fn submission(etag: &str) -> Submission {
    Submission {
        key: ReportKey {
            plan: "p".into(),
            measure: "1.1".into(),
            department: "tax-bureau".into(),
            period: Month::new(2023, 4).expect("a month"),
        },
        report: pb::Report {
            measure_number: "1.1".into(),
            narrative: "on track".into(),
            ..Default::default()
        },
        principal: Principal::Department("tax-bureau".into()),
        credential: "credentials/1".into(),
        submit_time_us: chrono::Utc::now().timestamp_micros(),
        backfilled: false,
        plan_revision: 1,
        etag: etag.into(),
        cadence: Cadence::monthly(5),
        request: None,
        source: pb::ReportSource::WebForm,
    }
}

/// The verdict on an etag: the stored revision number, or the error's reason.
fn verdict(result: Result<pb::Report, ReportingError>) -> Result<i32, String> {
    result
        .map(|report| report.revision)
        .map_err(|error| duban_kit::status::reason(&tonic::Status::from(error)).unwrap_or_default())
}

impl Submission {
    /// Stages the submission alone and writes it, as the writer would.
    async fn write(
        &self,
        store: &ReportStore,
        txn: &DatabaseTransaction,
        now_us: i64,
    ) -> Result<Written, Failure<ReportingError>> {
        let mut staged = Staged::default();
        let written = self.stage(store, txn, &mut staged, now_us).await?;
        staged.flush(store, txn).await.map_err(ReportingError::from)?;
        Ok(written)
    }
}

async fn written(store: &ReportStore, submission: &Submission) -> Result<pb::Report, ReportingError> {
    let txn = store.db().begin().await?;
    let now = chrono::Utc::now().timestamp_micros();
    let result = submission.write(store, &txn, now).await;
    txn.rollback().await?;
    result.map(|written| written.report).map_err(|failure| match failure {
        Failure::Refused(error) | Failure::Database(error) => error,
    })
}

async fn validate_only_and_write_agree_on_the_etag(backend: Backend) {
    let Some(database) = TestDatabase::new(backend).await else {
        return;
    };
    let db = duban_kit::db::connect_and_migrate::<crate::migration::Migrator>(database.url())
        .await
        .expect("migrated");
    let store = ReportStore::new(db);

    // A first revision, then a revision row whose etag column no longer matches its
    // pointer (as a row written by an earlier version could): the pointer is the truth.
    let first = submission("");
    assert_eq!(first.would_store(&store).await.unwrap().etag, "r1s1");
    let txn = store.db().begin().await.unwrap();
    first.write(&store, &txn, first.submit_time_us).await.unwrap();
    txn.commit().await.unwrap();
    let mut row = store.revision(store.db(), &first.key, 1).await.unwrap().unwrap();
    row.etag = "legacy".into();
    store.update_revision(store.db(), row).await.unwrap();

    for etag in ["", "r1s1", "legacy", "r9s1"] {
        let candidate = submission(etag);
        let checked = verdict(candidate.would_store(&store).await);
        let stored = verdict(written(&store, &candidate).await);
        assert_eq!(checked, stored, "etag {etag:?}: validate_only and the write disagree");
    }
    assert_eq!(verdict(submission("r1s1").would_store(&store).await), Ok(2));
    assert_eq!(
        verdict(submission("legacy").would_store(&store).await),
        Err("ETAG_MISMATCH".to_owned())
    );
}

duban_kit::backend_tests!(validate_only_and_write_agree_on_the_etag);
