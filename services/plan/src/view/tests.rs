//! The view against a fake source: reuse, stale answers while down, no waiting on a slow refresh.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use chrono::NaiveDate;

use super::*;
use crate::Cadence;

/// A source that counts calls, can be switched off, and can be slow.
#[derive(Default)]
struct Fake {
    calls: AtomicUsize,
    down: AtomicBool,
    delay_ms: AtomicU64,
}

fn plan(revision: i32) -> PlanStructure {
    PlanStructure {
        code: "p".into(),
        plan: mpb::Plan {
            name: "plans/p".into(),
            revision,
            ..Default::default()
        },
        calendar: PlanCalendar {
            effective_from: NaiveDate::from_ymd_opt(2023, 3, 3).unwrap(),
            effective_to: NaiveDate::from_ymd_opt(2023, 12, 31).unwrap(),
            cadence: Cadence::monthly(5),
            follow_up: Default::default(),
            rag: Default::default(),
        },
        actions: Vec::new(),
        measures: Vec::new(),
    }
}

fn down(service: Owner) -> PlanError {
    PlanError::dependency(service, &tonic::Status::unavailable("down"))
}

#[tonic::async_trait]
impl PlanSource for Fake {
    async fn structure(&self, code: &str) -> Result<Option<PlanStructure>, PlanError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) as i32 + 1;
        tokio::time::sleep(Duration::from_millis(self.delay_ms.load(Ordering::SeqCst))).await;
        if self.down.load(Ordering::SeqCst) {
            return Err(down(Owner::Measures));
        }
        Ok((code == "p").then(|| plan(n)))
    }

    async fn targets(&self, _code: &str) -> Result<Option<Vec<tpb::Target>>, PlanError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.down.load(Ordering::SeqCst) {
            return Err(down(Owner::Targets));
        }
        Ok(Some(vec![tpb::Target::default()]))
    }

    async fn department_names(&self) -> Result<DepartmentNames, PlanError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.down.load(Ordering::SeqCst) {
            return Err(down(Owner::Departments));
        }
        Ok(BTreeMap::from([("a".to_owned(), "A".to_owned())]))
    }

    async fn plan_codes(&self) -> Result<Vec<String>, PlanError> {
        Ok(vec!["p".to_owned()])
    }
}

fn view(fake: &Arc<Fake>, ttl: Duration, retry: Duration) -> PlanView {
    PlanView::new(fake.clone(), Freshness { ttl, retry })
}

#[tokio::test]
async fn fresh_answers_are_reused_and_stale_ones_served_while_the_source_is_down() {
    let fake = Arc::new(Fake::default());
    let catalog = view(&fake, Duration::from_millis(100), Duration::from_millis(300));
    let revision = |plan: Arc<PlanStructure>| plan.plan.revision;
    assert_eq!(revision(catalog.structure("p").await.unwrap()), 1);
    assert_eq!(revision(catalog.structure("p").await.unwrap()), 1);
    assert_eq!(fake.calls.load(Ordering::SeqCst), 1, "a fresh answer is reused");
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(
        revision(catalog.structure("p").await.unwrap()),
        2,
        "refreshed after the TTL"
    );

    fake.down.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(
        revision(catalog.structure("p").await.unwrap()),
        2,
        "stale, not an error"
    );
    let calls = fake.calls.load(Ordering::SeqCst);
    for _ in 0..20 {
        assert_eq!(revision(catalog.structure("p").await.unwrap()), 2);
    }
    assert_eq!(
        fake.calls.load(Ordering::SeqCst),
        calls,
        "no new attempt within the retry interval"
    );
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(revision(catalog.structure("p").await.unwrap()), 2);
    assert_eq!(
        fake.calls.load(Ordering::SeqCst),
        calls + 1,
        "one attempt per retry interval"
    );

    // Never cached: the dependency's error, at once.
    let error = catalog.structure("other").await.unwrap_err();
    assert!(matches!(error, PlanError::Dependency { .. }), "{error:?}");

    fake.down.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert!(
        revision(catalog.structure("p").await.unwrap()) > 2,
        "back to fresh answers"
    );
    assert!(matches!(
        catalog.structure("other").await.unwrap_err(),
        PlanError::PlanNotFound { .. }
    ));
}

#[tokio::test]
async fn stale_readers_do_not_wait_for_a_slow_refresh() {
    let fake = Arc::new(Fake::default());
    let catalog = Arc::new(PlanView::new(fake.clone(), Freshness::new(Duration::from_millis(50))));
    catalog.structure("p").await.unwrap();
    tokio::time::sleep(Duration::from_millis(80)).await;
    fake.delay_ms.store(2_000, Ordering::SeqCst);
    let refreshing = tokio::spawn({
        let catalog = catalog.clone();
        async move { catalog.structure("p").await.map(|plan| plan.plan.revision) }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = Instant::now();
    assert_eq!(catalog.structure("p").await.unwrap().plan.revision, 1);
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
    let catalog = PlanView::new(fake.clone(), Freshness::new(Duration::from_millis(50)));
    assert_eq!(catalog.department_names().await.unwrap().len(), 1);
    fake.down.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(80)).await;
    assert_eq!(catalog.department_names().await.unwrap().len(), 1);
    catalog.invalidate();
    assert!(catalog.department_names().await.is_err());
}

#[tokio::test]
async fn targets_are_kept_apart_from_the_plan_structure() {
    let fake = Arc::new(Fake::default());
    let catalog = PlanView::new(fake.clone(), Freshness::new(Duration::from_millis(50)));
    fake.down.store(true, Ordering::SeqCst);
    assert!(catalog.targets("p").await.is_err(), "never cached: the failure");
    fake.down.store(false, Ordering::SeqCst);
    assert_eq!(catalog.targets("p").await.unwrap().len(), 1);
    fake.down.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(80)).await;
    assert_eq!(catalog.targets("p").await.unwrap().len(), 1, "stale while down");
    assert!(matches!(
        catalog.structure("p").await.unwrap_err(),
        PlanError::Dependency {
            service: Owner::Measures,
            ..
        }
    ));
}
