//! The cache against a fake source: reuse, stale answers while down, no waiting on a slow refresh.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use chrono::NaiveDate;

use super::*;
use crate::calendar::Cadence;

/// A source that counts calls, can be switched off, and can be slow.
#[derive(Default)]
struct Fake {
    calls: AtomicUsize,
    down: AtomicBool,
    delay_ms: std::sync::atomic::AtomicU64,
}

fn plan(revision: i32) -> PlanInfo {
    PlanInfo {
        code: "p".into(),
        revision,
        effective_from: NaiveDate::from_ymd_opt(2023, 3, 3).unwrap(),
        effective_to: NaiveDate::from_ymd_opt(2023, 12, 31).unwrap(),
        cadence: Cadence::monthly(5),
        measures: BTreeMap::new(),
        targets: BTreeMap::new(),
    }
}

#[tonic::async_trait]
impl CatalogSource for Fake {
    async fn plan(&self, code: &str) -> Result<Option<PlanInfo>, ReportingError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) as i32 + 1;
        tokio::time::sleep(Duration::from_millis(self.delay_ms.load(Ordering::SeqCst))).await;
        if self.down.load(Ordering::SeqCst) {
            return Err(ReportingError::Dependency {
                service: "measures",
                message: "down".into(),
            });
        }
        Ok((code == "p").then(|| plan(n)))
    }

    async fn departments(&self) -> Result<BTreeMap<String, String>, ReportingError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.down.load(Ordering::SeqCst) {
            return Err(ReportingError::Dependency {
                service: "departments",
                message: "down".into(),
            });
        }
        Ok(BTreeMap::from([("a".to_owned(), "A".to_owned())]))
    }
}

#[tokio::test]
async fn fresh_answers_are_reused_and_stale_ones_served_while_the_source_is_down() {
    let fake = Arc::new(Fake::default());
    let catalog = Catalog::new(fake.clone(), Duration::from_millis(100)).with_retry(Duration::from_millis(300));
    assert_eq!(catalog.plan("p").await.unwrap().revision, 1);
    assert_eq!(catalog.plan("p").await.unwrap().revision, 1);
    assert_eq!(fake.calls.load(Ordering::SeqCst), 1, "a fresh answer is reused");
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(catalog.plan("p").await.unwrap().revision, 2, "refreshed after the TTL");

    fake.down.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(catalog.plan("p").await.unwrap().revision, 2, "stale, not an error");
    let calls = fake.calls.load(Ordering::SeqCst);
    for _ in 0..20 {
        assert_eq!(catalog.plan("p").await.unwrap().revision, 2);
    }
    assert_eq!(
        fake.calls.load(Ordering::SeqCst),
        calls,
        "no new attempt within the retry interval"
    );
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(catalog.plan("p").await.unwrap().revision, 2);
    assert_eq!(
        fake.calls.load(Ordering::SeqCst),
        calls + 1,
        "one attempt per retry interval"
    );

    // Never cached: the dependency's error, at once.
    let error = catalog.plan("other").await.unwrap_err();
    assert!(matches!(error, ReportingError::Dependency { .. }), "{error:?}");

    fake.down.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert!(catalog.plan("p").await.unwrap().revision > 2, "back to fresh answers");
    assert!(matches!(
        catalog.plan("other").await.unwrap_err(),
        ReportingError::NotFound { .. }
    ));
}

#[tokio::test]
async fn stale_readers_do_not_wait_for_a_slow_refresh() {
    let fake = Arc::new(Fake::default());
    let catalog = Catalog::new(fake.clone(), Duration::from_millis(50));
    catalog.plan("p").await.unwrap();
    tokio::time::sleep(Duration::from_millis(80)).await;
    fake.delay_ms.store(2_000, Ordering::SeqCst);
    let refreshing = tokio::spawn({
        let catalog = catalog.clone();
        async move { catalog.plan("p").await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = Instant::now();
    assert_eq!(catalog.plan("p").await.unwrap().revision, 1);
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
    refreshing.abort();
}

#[tokio::test]
async fn departments_are_served_stale_when_the_directory_is_down() {
    let fake = Arc::new(Fake::default());
    let catalog = Catalog::new(fake.clone(), Duration::from_millis(50));
    assert_eq!(catalog.departments().await.unwrap().len(), 1);
    fake.down.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(80)).await;
    assert_eq!(catalog.departments().await.unwrap().len(), 1);
    catalog.invalidate();
    assert!(catalog.departments().await.is_err());
}
