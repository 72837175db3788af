//! The cache: TTL, stale answers while a refresh fails, one refresh at a time.

use duban_proto::reporting::v1::ErrorReason;
use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use super::{CATALOG_RETRY, CatalogSource, PlanInfo};
use crate::error::ReportingError;

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
                Err(ReportingError::from(duban_kit::error::NotFound::new(
                    ErrorReason::PlanNotFound,
                    format!("plans/{code}"),
                )))
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
