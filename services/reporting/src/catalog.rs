//! What reporting needs to know about plans, measures, targets and departments, read
//! from their own services over gRPC and cached.
//!
//! # Freshness
//!
//! An answer is trusted for a short TTL ([`CATALOG_TTL`], 30 s) and then fetched again.
//! The TTL is the change mechanism on purpose: none of the owning services announces a
//! change. The measures service has no watch or change stream (an import bumps the
//! plan's `revision`, but nothing tells other services), a rebaseline changes a
//! target's revision in the targets service without touching the plan, and a
//! designation changes who is responsible in the departments service; polling only
//! `GetPlan.revision` would miss the last two. So every change is seen within one TTL,
//! and [`Catalog::invalidate`] forgets everything at once when a caller knows better.
//!
//! # When the owners are down
//!
//! A refresh that fails keeps serving the stale answer (logged), and the next attempt
//! waits [`CATALOG_RETRY`], so an outage costs one failed call per retry interval
//! rather than one per request. While one caller refreshes, others holding a stale
//! answer use it instead of waiting. So submissions and reads the cache can judge keep
//! working while those services are down; something never cached (another plan)
//! answers UNAVAILABLE (`DEPENDENCY_UNAVAILABLE`) as soon as the call fails, and
//! callers that queued behind that same failed attempt share its answer instead of
//! each trying again.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use chrono::NaiveDate;
use duban_kit::client::ServiceChannel;
use duban_proto::{
    departments::v1::{self as dpb, departments_service_client::DepartmentsServiceClient},
    measures::v1::{self as mpb, measures_service_client::MeasuresServiceClient},
    targets::v1::{self as tpb, targets_service_client::TargetsServiceClient},
};
use tonic::Code;

use crate::{
    calendar::{self, Cadence, Month},
    error::ReportingError,
};

/// How long an answer is reused before it is refreshed.
pub const CATALOG_TTL: Duration = Duration::from_secs(30);

/// After a failed refresh, how long the stale answer is served before trying again.
pub const CATALOG_RETRY: Duration = Duration::from_secs(5);

/// A measure, as reporting sees it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MeasureInfo {
    /// `4.1`.
    pub number: String,
    /// Department codes responsible: listed directly, or members of a listed group
    /// (fixed members, or those designated for this measure).
    pub responsible: BTreeSet<String>,
    /// Milestone descriptions, in order (position = index + 1).
    pub milestones: Vec<String>,
}

/// A target, as reporting sees it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TargetInfo {
    /// The target's resource name with its revision, `plans/{plan}/targets/{code}@{n}`.
    pub name: String,
    /// Its code.
    pub code: String,
    /// Its measure.
    pub measure_number: String,
    /// `QuantityUnit`.
    pub unit: i32,
    /// `ValueBasis`.
    pub basis: i32,
    /// `Aggregation`.
    pub aggregation: i32,
    /// `Comparator`.
    pub comparator: i32,
    /// The figure to reach.
    pub value: f64,
    /// Baseline, if any.
    pub baseline: Option<f64>,
    /// Department codes that report it, groups expanded.
    pub reporting_departments: Vec<String>,
}

/// A plan with everything reports are judged against.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanInfo {
    /// The plan's slug.
    pub code: String,
    /// Its current revision.
    pub revision: i32,
    /// First effective day.
    pub effective_from: NaiveDate,
    /// Last effective day.
    pub effective_to: NaiveDate,
    /// When reports are due.
    pub cadence: Cadence,
    /// Its measures by number.
    pub measures: BTreeMap<String, MeasureInfo>,
    /// Its targets by code.
    pub targets: BTreeMap<String, TargetInfo>,
}

impl PlanInfo {
    /// Every reporting period of the plan, oldest first.
    pub fn periods(&self) -> Vec<Month> {
        self.cadence.periods(self.effective_from, self.effective_to)
    }

    /// Whether `department` is responsible for `measure`.
    pub fn responsible(&self, measure: &str, department: &str) -> bool {
        self.measures
            .get(measure)
            .is_some_and(|m| m.responsible.contains(department))
    }
}

/// Where the data comes from.
#[tonic::async_trait]
pub trait CatalogSource: Send + Sync + 'static {
    /// The plan `code`; `Ok(None)` if it does not exist.
    async fn plan(&self, code: &str) -> Result<Option<PlanInfo>, ReportingError>;
    /// Every department: code to canonical name.
    async fn departments(&self) -> Result<BTreeMap<String, String>, ReportingError>;
}

/// A cached answer.
#[derive(Debug)]
struct Entry<T> {
    value: Arc<T>,
    /// When it was fetched (its age, for logs).
    fetched: Instant,
    /// Until when it is served without asking again: fetched + TTL, or, after a
    /// failed refresh, that failure + the retry interval.
    fresh_until: Instant,
}

impl<T> Clone for Entry<T> {
    fn clone(&self) -> Self {
        Self {
            value: self.value.clone(),
            fetched: self.fetched,
            fresh_until: self.fresh_until,
        }
    }
}

impl<T> Entry<T> {
    fn fresh(&self) -> bool {
        Instant::now() < self.fresh_until
    }
}

/// The last failed fetch of something not cached, so that callers that waited for
/// that attempt share its answer.
type Failure = (Instant, ReportingError);

/// Department code to canonical name.
type Names = BTreeMap<String, String>;

#[derive(Default)]
struct Cache {
    plans: HashMap<String, Entry<PlanInfo>>,
    plan_failures: HashMap<String, Failure>,
    departments: Option<Entry<Names>>,
    departments_failure: Option<Failure>,
}

/// The cached view of the other services.
#[derive(Clone)]
pub struct Catalog {
    source: Arc<dyn CatalogSource>,
    ttl: Duration,
    retry: Duration,
    cache: Arc<Mutex<Cache>>,
    /// One refresh of plans at a time, and one of departments.
    plan_refresh: Arc<tokio::sync::Mutex<()>>,
    departments_refresh: Arc<tokio::sync::Mutex<()>>,
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalog")
            .field("ttl", &self.ttl)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl Catalog {
    /// A cache over `source` whose answers are trusted for `ttl`; after a failed
    /// refresh the stale answer is served for [`CATALOG_RETRY`] (at most `ttl`) before
    /// the next attempt.
    pub fn new(source: Arc<dyn CatalogSource>, ttl: Duration) -> Self {
        Self {
            source,
            ttl,
            retry: CATALOG_RETRY.min(ttl),
            cache: Arc::default(),
            plan_refresh: Arc::default(),
            departments_refresh: Arc::default(),
        }
    }

    /// The same cache with another retry interval after a failed refresh.
    #[must_use]
    pub fn with_retry(mut self, retry: Duration) -> Self {
        self.retry = retry;
        self
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The plan `code`: PLAN_NOT_FOUND if it does not exist; a stale copy if it
    /// cannot be refreshed; DEPENDENCY_UNAVAILABLE if there is none.
    pub async fn plan(&self, code: &str) -> Result<Arc<PlanInfo>, ReportingError> {
        let asked = Instant::now();
        let cached = self.cache().plans.get(code).cloned();
        let _single = match &cached {
            Some(entry) if entry.fresh() => return Ok(entry.value.clone()),
            // Someone is refreshing already: the stale copy will do meanwhile.
            Some(entry) => match self.plan_refresh.try_lock() {
                Ok(guard) => guard,
                Err(_) => return Ok(entry.value.clone()),
            },
            None => self.plan_refresh.lock().await,
        };
        let stale = {
            let cache = self.cache();
            match cache.plans.get(code) {
                Some(entry) if entry.fresh() => return Ok(entry.value.clone()),
                Some(entry) => Some(entry.clone()),
                None => {
                    if let Some((at, error)) = cache.plan_failures.get(code)
                        && *at >= asked
                    {
                        return Err(error.clone());
                    }
                    None
                }
            }
        };
        match self.source.plan(code).await {
            Ok(Some(plan)) => {
                let plan = Arc::new(plan);
                let now = Instant::now();
                let mut cache = self.cache();
                cache.plan_failures.remove(code);
                cache.plans.insert(
                    code.to_owned(),
                    Entry {
                        value: plan.clone(),
                        fetched: now,
                        fresh_until: now + self.ttl,
                    },
                );
                Ok(plan)
            }
            Ok(None) => {
                let mut cache = self.cache();
                cache.plans.remove(code);
                cache.plan_failures.remove(code);
                Err(ReportingError::NotFound {
                    reason: "PLAN_NOT_FOUND",
                    resource: "plan",
                    name: format!("plans/{code}"),
                })
            }
            Err(error) => {
                let now = Instant::now();
                let mut cache = self.cache();
                match stale {
                    Some(mut entry) => {
                        tracing::warn!(
                            plan = code,
                            %error,
                            age_s = entry.fetched.elapsed().as_secs(),
                            retry_in_ms = self.retry.as_millis() as u64,
                            "serving a stale plan: refresh failed"
                        );
                        entry.fresh_until = now + self.retry;
                        let value = entry.value.clone();
                        cache.plans.insert(code.to_owned(), entry);
                        Ok(value)
                    }
                    None => {
                        cache.plan_failures.insert(code.to_owned(), (now, error.clone()));
                        Err(error)
                    }
                }
            }
        }
    }

    /// Every department, code to canonical name (stale if a refresh fails).
    pub async fn departments(&self) -> Result<Arc<BTreeMap<String, String>>, ReportingError> {
        let asked = Instant::now();
        let cached = self.cache().departments.clone();
        let _single = match &cached {
            Some(entry) if entry.fresh() => return Ok(entry.value.clone()),
            Some(entry) => match self.departments_refresh.try_lock() {
                Ok(guard) => guard,
                Err(_) => return Ok(entry.value.clone()),
            },
            None => self.departments_refresh.lock().await,
        };
        let stale = {
            let cache = self.cache();
            match &cache.departments {
                Some(entry) if entry.fresh() => return Ok(entry.value.clone()),
                Some(entry) => Some(entry.clone()),
                None => {
                    if let Some((at, error)) = &cache.departments_failure
                        && *at >= asked
                    {
                        return Err(error.clone());
                    }
                    None
                }
            }
        };
        match self.source.departments().await {
            Ok(departments) => {
                let departments = Arc::new(departments);
                let now = Instant::now();
                let mut cache = self.cache();
                cache.departments_failure = None;
                cache.departments = Some(Entry {
                    value: departments.clone(),
                    fetched: now,
                    fresh_until: now + self.ttl,
                });
                Ok(departments)
            }
            Err(error) => {
                let now = Instant::now();
                let mut cache = self.cache();
                match stale {
                    Some(mut entry) => {
                        tracing::warn!(
                            %error,
                            age_s = entry.fetched.elapsed().as_secs(),
                            "serving stale departments: refresh failed"
                        );
                        entry.fresh_until = now + self.retry;
                        let value = entry.value.clone();
                        cache.departments = Some(entry);
                        Ok(value)
                    }
                    None => {
                        cache.departments_failure = Some((now, error.clone()));
                        Err(error)
                    }
                }
            }
        }
    }

    /// Forgets everything cached, so the next call asks again.
    pub fn invalidate(&self) {
        *self.cache() = Cache::default();
    }
}

/// Reads the measures, targets and departments services.
#[derive(Debug, Clone)]
pub struct RemoteCatalog {
    measures: MeasuresServiceClient<ServiceChannel>,
    targets: TargetsServiceClient<ServiceChannel>,
    departments: DepartmentsServiceClient<ServiceChannel>,
}

impl RemoteCatalog {
    /// Over channels that carry the service token.
    pub fn new(measures: ServiceChannel, targets: ServiceChannel, departments: ServiceChannel) -> Self {
        Self {
            measures: MeasuresServiceClient::new(measures),
            targets: TargetsServiceClient::new(targets),
            departments: DepartmentsServiceClient::new(departments),
        }
    }
}

fn unavailable(service: &'static str) -> impl Fn(tonic::Status) -> ReportingError {
    move |status| ReportingError::Dependency {
        service,
        message: format!("{:?}: {}", status.code(), status.message()),
    }
}

#[tonic::async_trait]
impl CatalogSource for RemoteCatalog {
    async fn plan(&self, code: &str) -> Result<Option<PlanInfo>, ReportingError> {
        let parent = format!("plans/{code}");
        let plan = match self
            .measures
            .clone()
            .get_plan(mpb::GetPlanRequest { name: parent.clone() })
            .await
        {
            Ok(plan) => plan.into_inner(),
            Err(status) if status.code() == Code::NotFound => return Ok(None),
            Err(status) => return Err(unavailable("measures")(status)),
        };
        let bad = |what: &str| ReportingError::Dependency {
            service: "measures",
            message: format!("plan {code} has no valid {what}"),
        };
        let effective_from = plan
            .effective_from
            .as_ref()
            .and_then(calendar::date_from_proto)
            .ok_or_else(|| bad("effective_from"))?;
        let effective_to = plan
            .effective_to
            .as_ref()
            .and_then(calendar::date_from_proto)
            .ok_or_else(|| bad("effective_to"))?;
        let cadence = plan.cadence.unwrap_or_default();
        let cadence = Cadence {
            quarterly: cadence.frequency == mpb::ReportingFrequency::Quarterly as i32,
            due_day: u32::try_from(cadence.due_day).unwrap_or(1).clamp(1, 28),
        };

        let mut measures = BTreeMap::new();
        let mut token = String::new();
        loop {
            let page = self
                .measures
                .clone()
                .list_measures(mpb::ListMeasuresRequest {
                    parent: parent.clone(),
                    page_size: 500,
                    page_token: token,
                    ..Default::default()
                })
                .await
                .map_err(unavailable("measures"))?
                .into_inner();
            for measure in page.measures {
                let mut responsible = BTreeSet::new();
                for unit in &measure.responsible_units {
                    if unit.kind == mpb::ResponsibleUnitKind::Group as i32 {
                        responsible.extend(unit.member_codes.iter().cloned());
                    } else {
                        responsible.insert(unit.code.clone());
                    }
                }
                let info = MeasureInfo {
                    number: measure.number.clone(),
                    responsible,
                    milestones: measure.milestones.iter().map(|m| m.description.clone()).collect(),
                };
                measures.insert(measure.number, info);
            }
            token = page.next_page_token;
            if token.is_empty() {
                break;
            }
        }

        let mut targets = BTreeMap::new();
        let mut token = String::new();
        loop {
            let page = self
                .targets
                .clone()
                .list_targets(tpb::ListTargetsRequest {
                    parent: parent.clone(),
                    page_size: 500,
                    page_token: token,
                    ..Default::default()
                })
                .await
                .map_err(unavailable("targets"))?
                .into_inner();
            for target in page.targets {
                let info = TargetInfo {
                    name: format!("{parent}/targets/{}@{}", target.code, target.revision),
                    code: target.code.clone(),
                    measure_number: target.measure_number,
                    unit: target.unit,
                    basis: target.value_basis,
                    aggregation: target.aggregation,
                    comparator: target.comparator,
                    value: target.value,
                    baseline: target.baseline,
                    reporting_departments: target.reporting_departments,
                };
                targets.insert(target.code, info);
            }
            token = page.next_page_token;
            if token.is_empty() {
                break;
            }
        }
        Ok(Some(PlanInfo {
            code: code.to_owned(),
            revision: plan.revision,
            effective_from,
            effective_to,
            cadence,
            measures,
            targets,
        }))
    }

    async fn departments(&self) -> Result<BTreeMap<String, String>, ReportingError> {
        let mut out = BTreeMap::new();
        let mut token = String::new();
        loop {
            let page = self
                .departments
                .clone()
                .list_departments(dpb::ListDepartmentsRequest {
                    page_size: 500,
                    page_token: token,
                    ..Default::default()
                })
                .await
                .map_err(unavailable("departments"))?
                .into_inner();
            out.extend(page.departments.into_iter().map(|d| (d.code, d.display_name)));
            token = page.next_page_token;
            if token.is_empty() {
                return Ok(out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    use super::*;

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
            cadence: Cadence {
                quarterly: false,
                due_day: 5,
            },
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
}
