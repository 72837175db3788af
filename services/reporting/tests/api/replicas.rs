//! Two reporting replicas on one PostgreSQL database (issue: run it for real). Both take
//! submissions at once, the same request ids on both and revisions of the same reports;
//! the database, not either process, decides. On SQLite a second copy refuses to start.

use std::collections::{BTreeMap, BTreeSet};

use duban_harness::{ReportKey, StartError};
use duban_reporting::{convert, store::ReportStore};
use sea_orm::{EntityTrait, QueryOrder, TransactionTrait};

use super::*;

/// Report keys written to at once.
const KEYS: usize = 8;
/// Rounds of concurrent writes; each adds two revisions to every key.
const ROUNDS: usize = 3;

/// (measure, department, period, revision): one stored revision.
type RevisionId = (String, String, i32, i32);

fn revision_id(report: &pb::Report) -> RevisionId {
    (
        report.measure_number.clone(),
        report.department.clone(),
        report.period.map_or(0, |p| p.month),
        report.revision,
    )
}

fn event_id(event: &pb::WatchReportEventsResponse) -> RevisionId {
    (
        event.measure_number.clone(),
        event.department.clone(),
        event.period.map_or(0, |p| p.month),
        event.revision,
    )
}

async fn watch(client: &mut Client, after_sequence: i64) -> tonic::Streaming<pb::WatchReportEventsResponse> {
    client
        .watch_report_events(pb::WatchReportEventsRequest {
            parent: PLAN.into(),
            after_sequence,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
}

/// The next `count` events of `stream`.
async fn take(
    stream: &mut tonic::Streaming<pb::WatchReportEventsResponse>,
    count: usize,
) -> Vec<pb::WatchReportEventsResponse> {
    let mut events = Vec::with_capacity(count);
    while events.len() < count {
        let next = tokio::time::timeout(Duration::from_secs(20), stream.message())
            .await
            .unwrap_or_else(|_| panic!("only {} of {count} events arrived", events.len()));
        events.push(next.unwrap().expect("the stream stays open"));
    }
    events
}

async fn every_revision(client: &mut Client, name: &str) -> Vec<pb::Report> {
    client
        .list_report_revisions(pb::ListReportRevisionsRequest {
            name: name.into(),
            page_size: 500,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .reports
}

async fn two_replicas_on_one_database(backend: Backend) {
    let Some(suite) = start(backend).await else {
        return;
    };
    let token = suite.admin_token().to_owned();
    if backend == Backend::Sqlite {
        match suite.start_replica(Server::Reporting).await {
            Err(StartError::Start { source, .. }) => {
                assert!(
                    source.to_string().contains("several replicas need PostgreSQL"),
                    "{source}"
                )
            }
            Err(other) => panic!("a second copy on SQLite failed the wrong way: {other}"),
            Ok(_) => panic!("a second reporting server started on the same SQLite file"),
        }
        suite.stop().await;
        return;
    }
    let replica = suite.start_replica(Server::Reporting).await.expect("a second replica");
    let replicas = [suite.reporting(&token), replica.reporting(&token)];

    // Watchers on both, and one on the second that will leave half-way and resume.
    let mut watchers = [
        watch(&mut replicas[0].clone(), 0).await,
        watch(&mut replicas[1].clone(), 0).await,
    ];
    let mut leaving = watch(&mut replicas[1].clone(), 0).await;

    let all = suite.responsibilities().await.unwrap();
    let step = (all.len() / KEYS).max(1);
    let keys: Vec<ReportKey> = all
        .iter()
        .step_by(step)
        .take(KEYS)
        .map(|r| ReportKey::new(r, 4))
        .collect();

    // Each round: two new requests per key, each sent to both replicas at once.
    let mut answers: BTreeMap<String, Vec<Result<pb::Report, tonic::Status>>> = BTreeMap::new();
    for round in 0..ROUNDS {
        let mut calls = Vec::new();
        for (k, key) in keys.iter().enumerate() {
            for side in ["a", "b"] {
                let request_id = format!("replicas-{k}-{round}-{side}");
                let request = key.submission(format!("第{round}轮 {request_id}"), 1, request_id.clone());
                for client in &replicas {
                    let (mut client, request, request_id) = (client.clone(), request.clone(), request_id.clone());
                    calls.push(tokio::spawn(async move {
                        (request_id, client.submit_report(request).await.map(|r| r.into_inner()))
                    }));
                }
            }
        }
        for call in calls {
            let (request_id, answer) = call.await.unwrap();
            answers.entry(request_id).or_default().push(answer);
        }
    }

    // Every answer is OK or ABORTED (a lost race, retried), never INTERNAL; both answers
    // to one request id name the same revision.
    let mut acknowledged: BTreeMap<String, RevisionId> = BTreeMap::new();
    for (request_id, results) in &answers {
        let mut revisions = BTreeSet::new();
        for result in results {
            match result {
                Ok(report) => {
                    revisions.insert(revision_id(report));
                }
                Err(status) => {
                    assert_eq!(status.code(), Code::Aborted, "{request_id}: {status:?}");
                    assert_eq!(reason(status).as_deref(), Some("CONCURRENT_WRITE"), "{status:?}");
                }
            }
        }
        assert!(revisions.len() <= 1, "{request_id} stored twice: {revisions:?}");
        if let Some(revision) = revisions.pop_first() {
            acknowledged.insert(request_id.clone(), revision);
        }
    }
    assert!(!acknowledged.is_empty());

    // Revisions are contiguous, and every acknowledged request is stored exactly once,
    // as the revision it was answered with; nothing else is stored.
    let mut stored: BTreeMap<RevisionId, String> = BTreeMap::new();
    for key in &keys {
        let mut revisions = every_revision(&mut replicas[0].clone(), &key.name()).await;
        revisions.sort_by_key(|r| r.revision);
        let numbers: Vec<i32> = revisions.iter().map(|r| r.revision).collect();
        assert_eq!(
            numbers,
            (1..=numbers.len() as i32).collect::<Vec<_>>(),
            "{}",
            key.name()
        );
        for revision in &revisions {
            let request_id = revision.narrative.split(' ').nth(1).unwrap().to_owned();
            assert!(stored.insert(revision_id(revision), request_id).is_none());
        }
    }
    let stored_requests: BTreeMap<String, RevisionId> = stored.iter().map(|(id, r)| (r.clone(), id.clone())).collect();
    assert_eq!(stored_requests.len(), stored.len(), "a request stored as two revisions");
    assert_eq!(stored_requests, acknowledged);

    // Every watcher, on either replica, sees every event once, in sequence order.
    let expected: BTreeSet<RevisionId> = stored.keys().cloned().collect();
    for watcher in &mut watchers {
        let events = take(watcher, expected.len()).await;
        assert!(events.windows(2).all(|w| w[0].sequence < w[1].sequence), "out of order");
        assert_eq!(events.iter().map(event_id).collect::<BTreeSet<_>>(), expected);
    }
    // One that left after a few events and resumes on the other replica misses nothing.
    let mut seen = take(&mut leaving, 5).await;
    drop(leaving);
    let last = seen.last().unwrap().sequence;
    let mut resumed = watch(&mut replicas[0].clone(), last).await;
    seen.extend(take(&mut resumed, expected.len() - seen.len()).await);
    assert!(
        seen.windows(2).all(|w| w[0].sequence < w[1].sequence),
        "out of order after resuming"
    );
    assert_eq!(seen.iter().map(event_id).collect::<BTreeSet<_>>(), expected);

    // The aggregates maintained on write equal a recomputation from the stored revisions.
    let db = duban_kit::db::connect(suite.database_url(Server::Reporting))
        .await
        .unwrap();
    let aggregates = || async {
        use duban_reporting::entity::progress_value::{Column, Entity};
        Entity::find()
            .order_by_asc(Column::TargetCode)
            .order_by_asc(Column::Department)
            .order_by_asc(Column::Period)
            .order_by_asc(Column::Slot)
            .all(&db)
            .await
            .unwrap()
    };
    let maintained = aggregates().await;
    assert!(!maintained.is_empty());
    let store = ReportStore::new(db.clone());
    let txn = db.begin().await.unwrap();
    for key in &keys {
        let (key, _) = convert::ReportKey::parse(&key.name()).unwrap();
        store.refresh_aggregate(&txn, &key).await.unwrap();
    }
    txn.commit().await.unwrap();
    assert_eq!(aggregates().await, maintained);

    replica.shutdown().await;
    suite.stop().await;
}

/// Replicas starting together migrate once: on PostgreSQL the first takes the
/// migration lock, the others wait and find nothing pending (without the lock, two
/// migrators race to create the same tables and one fails).
async fn replicas_starting_together_migrate_once(backend: Backend) {
    if backend == Backend::Sqlite {
        return; // one server per SQLite file
    }
    let Some(database) = duban_kit::testing::TestDatabase::new(backend).await else {
        return;
    };
    let starts = (0..4).map(|_| {
        let url = database.url().to_owned();
        tokio::spawn(async move {
            duban_kit::db::connect_and_migrate::<duban_reporting::migration::Migrator>(&url)
                .await
                .map(|_| ())
        })
    });
    for started in futures::future::join_all(starts).await {
        started.unwrap().expect("every replica starts");
    }
    let db = duban_kit::db::connect(database.url()).await.unwrap();
    use sea_orm_migration::MigratorTrait;
    let applied = duban_reporting::migration::Migrator::get_applied_migrations(&db)
        .await
        .unwrap();
    assert_eq!(applied.len(), duban_reporting::migration::Migrator::migrations().len());
}

duban_kit::backend_tests!(two_replicas_on_one_database, replicas_starting_together_migrate_once);
