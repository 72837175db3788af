//! The one cache rule for answers read from the plan's owners: trusted for a TTL, served
//! stale while a refresh fails, refreshed by one caller at a time.
//!
//! # Freshness
//!
//! An answer is trusted for [`Freshness::ttl`] and then fetched again. The TTL is the
//! change mechanism on purpose: none of the owning services announces a change. The
//! measures service has no change stream (an import bumps the plan's `revision`, but
//! nothing tells other services), a rebaseline changes a target's revision without
//! touching the plan, and a designation changes who is responsible in the departments
//! service; polling only `GetPlan.revision` would miss the last two. So every change is
//! seen within one TTL, and `invalidate` forgets everything when a caller knows better.
//!
//! # When the owners are down
//!
//! A refresh that fails keeps serving the stale answer (logged), and the next attempt
//! waits [`Freshness::retry`], so an outage costs one failed call per retry interval
//! rather than one per request. While one caller refreshes a key, others holding a
//! stale answer use it instead of waiting; callers of other keys are not held up (one
//! refresh at a time per key, any number of keys at once). Something never cached fails
//! as soon as its fetch fails, and callers that queued behind that same failed attempt
//! share its error instead of each trying again.
//!
//! # Names that do not exist
//!
//! An answer of "does not exist" is remembered for [`ABSENT_TTL`], so a caller asking
//! for the same wrong name again and again costs one fetch a second, and a plan
//! imported a moment later is seen within that second. What is remembered of absent
//! names and failed fetches is bounded ([`MAX_REMEMBERED`] keys each), so a flood of
//! random names, during an outage or not, cannot grow the cache.

use std::{
    any::Any,
    borrow::Borrow,
    collections::HashMap,
    fmt::Debug,
    future::Future,
    hash::Hash,
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant},
};

use crate::PlanError;

/// How long "does not exist" is remembered for a key.
pub const ABSENT_TTL: Duration = Duration::from_secs(1);

/// Most absent names, and most failed first fetches, remembered at once.
pub const MAX_REMEMBERED: usize = 1024;

/// How long an answer is trusted unless a server chooses otherwise.
pub const DEFAULT_TTL: Duration = Duration::from_secs(30);

/// After a failed refresh, how long the stale answer is served before trying again,
/// unless a server chooses otherwise (never longer than the TTL).
pub const DEFAULT_RETRY: Duration = Duration::from_secs(5);

/// The expiry rule: how long an answer is trusted, and how long a stale one is served
/// after a failed refresh before the next attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Freshness {
    /// How long a fetched answer is served without asking again.
    pub ttl: Duration,
    /// After a failed refresh, how long the stale answer is served before trying again.
    pub retry: Duration,
}

impl Freshness {
    /// Answers trusted for `ttl`; after a failed refresh the stale answer is served for
    /// [`DEFAULT_RETRY`], at most `ttl`, before the next attempt.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            retry: DEFAULT_RETRY.min(ttl),
        }
    }
}

impl Default for Freshness {
    fn default() -> Self {
        Self::new(DEFAULT_TTL)
    }
}

/// A cached answer.
#[derive(Debug)]
struct Entry<V> {
    value: Arc<V>,
    /// When it was fetched (its age, for logs and metrics).
    fetched: Instant,
    /// Until when it is served without asking again: fetched + TTL, or, after a failed
    /// refresh, that failure + the retry interval.
    fresh_until: Instant,
    /// When its last refresh failed, if the one after did not succeed yet.
    failed: Option<Instant>,
}

impl<V> Clone for Entry<V> {
    fn clone(&self) -> Self {
        Self {
            value: self.value.clone(),
            fetched: self.fetched,
            fresh_until: self.fresh_until,
            failed: self.failed,
        }
    }
}

impl<V> Entry<V> {
    fn fresh(&self) -> bool {
        Instant::now() < self.fresh_until
    }
}

struct State<K, V> {
    entries: HashMap<K, Entry<V>>,
    /// Keys the owner said do not exist, and until when that is trusted.
    absent: HashMap<K, Instant>,
    /// The last failed fetch of something not cached, so that callers that waited for
    /// that attempt share its answer.
    failures: HashMap<K, (Instant, PlanError)>,
    /// The refresh of each key being fetched: one fetch per key at a time.
    refreshing: HashMap<K, Arc<tokio::sync::Mutex<()>>>,
}

impl<K: Eq + Hash, V> State<K, V> {
    /// Makes room for one more remembered absence or failure: drops what no longer
    /// matters, and if the map is still full, everything (they only save fetches).
    fn make_room<T>(map: &mut HashMap<K, T>, still_matters: impl Fn(&T) -> bool) {
        if map.len() >= MAX_REMEMBERED {
            map.retain(|_, value| still_matters(value));
            if map.len() >= MAX_REMEMBERED {
                map.clear();
            }
        }
    }
}

/// Answers by key, kept by the rule in the module documentation.
pub struct StaleCache<K, V> {
    /// What is cached, for logs (`plan`, `targets`, `departments`).
    what: &'static str,
    freshness: Freshness,
    state: Mutex<State<K, V>>,
}

impl<K, V> Debug for StaleCache<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaleCache")
            .field("what", &self.what)
            .field("freshness", &self.freshness)
            .finish_non_exhaustive()
    }
}

impl<K: Eq + Hash + Debug, V> StaleCache<K, V> {
    /// An empty cache of `what`, kept by `freshness`.
    pub fn new(what: &'static str, freshness: Freshness) -> Self {
        Self {
            what,
            freshness,
            state: Mutex::new(State {
                entries: HashMap::new(),
                absent: HashMap::new(),
                failures: HashMap::new(),
                refreshing: HashMap::new(),
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State<K, V>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The answer for `key`: cached while fresh, else `fetch`ed; a stale answer if the
    /// fetch fails; `Ok(None)` if `fetch` says it does not exist.
    pub async fn get<Q, F, Fut>(&self, key: &Q, fetch: F) -> Result<Option<Arc<V>>, PlanError>
    where
        K: Borrow<Q>,
        Q: ToOwned<Owned = K> + Eq + Hash + Debug + ?Sized,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<V>, PlanError>>,
    {
        self.read(key, None, fetch).await
    }

    /// The answer for `key` as fetched at most `max_age` ago, fresh or not: for a caller
    /// about to refuse something on a cached answer, which a change made since (a
    /// designation, a new reporter) may have lifted. Unlike [`Self::get`], it waits for a
    /// refresh already under way instead of taking the stale answer, so every refusal
    /// made during a refresh sees its result. At most one fetch per `max_age` per key,
    /// however many refusals come; a stale answer still if the fetch fails.
    pub async fn get_recent<Q, F, Fut>(&self, key: &Q, max_age: Duration, fetch: F) -> Result<Option<Arc<V>>, PlanError>
    where
        K: Borrow<Q>,
        Q: ToOwned<Owned = K> + Eq + Hash + Debug + ?Sized,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<V>, PlanError>>,
    {
        self.read(key, Some(max_age), fetch).await
    }

    /// [`Self::get`] when `max_age` is `None`, else [`Self::get_recent`].
    async fn read<Q, F, Fut>(&self, key: &Q, max_age: Option<Duration>, fetch: F) -> Result<Option<Arc<V>>, PlanError>
    where
        K: Borrow<Q>,
        Q: ToOwned<Owned = K> + Eq + Hash + Debug + ?Sized,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<V>, PlanError>>,
    {
        let usable = |entry: &Entry<V>| match max_age {
            None => entry.fresh(),
            // Read again at most once per `max_age`; and while the owner is failing, at
            // most once per retry interval, as for every reader.
            Some(age) => {
                entry.fetched.elapsed() <= age || entry.failed.is_some_and(|at| at.elapsed() < self.freshness.retry)
            }
        };
        let asked = Instant::now();
        let (cached, refresh) = {
            let mut state = self.state();
            if state.absent.get(key).is_some_and(|until| asked < *until) {
                return Ok(None);
            }
            let refresh = match state.refreshing.get(key) {
                Some(refresh) => refresh.clone(),
                None => {
                    let refresh = Arc::new(tokio::sync::Mutex::new(()));
                    state.refreshing.insert(key.to_owned(), refresh.clone());
                    refresh
                }
            };
            (state.entries.get(key).cloned(), refresh)
        };
        let _single = match &cached {
            Some(entry) if usable(entry) => return Ok(Some(entry.value.clone())),
            // Someone is refreshing already: the stale answer will do meanwhile, unless
            // the caller needs a recent one.
            Some(entry) if max_age.is_none() => match refresh.try_lock() {
                Ok(guard) => guard,
                Err(_) => return Ok(Some(entry.value.clone())),
            },
            _ => refresh.lock().await,
        };
        let stale = {
            let state = self.state();
            match state.entries.get(key) {
                Some(entry) if usable(entry) => return Ok(Some(entry.value.clone())),
                Some(entry) => Some(entry.clone()),
                None => {
                    if state.absent.get(key).is_some_and(|until| Instant::now() < *until) {
                        return Ok(None);
                    }
                    if let Some((at, error)) = state.failures.get(key)
                        && *at >= asked
                    {
                        return Err(error.clone());
                    }
                    None
                }
            }
        };
        let answer = fetch().await;
        let now = Instant::now();
        let mut state = self.state();
        // Nobody else holds this key's refresh: forget it, so the map holds only keys
        // being fetched.
        if Arc::strong_count(&refresh) <= 2 {
            state.refreshing.remove(key);
        }
        match answer {
            Ok(Some(value)) => {
                let value = Arc::new(value);
                state.failures.remove(key);
                state.absent.remove(key);
                let entry = Entry {
                    value: value.clone(),
                    fetched: now,
                    fresh_until: now + self.freshness.ttl,
                    failed: None,
                };
                state.entries.insert(key.to_owned(), entry);
                Ok(Some(value))
            }
            Ok(None) => {
                state.entries.remove(key);
                state.failures.remove(key);
                State::<K, V>::make_room(&mut state.absent, |until| now < *until);
                state.absent.insert(key.to_owned(), now + ABSENT_TTL);
                Ok(None)
            }
            Err(error) => match stale {
                Some(mut entry) => {
                    tracing::warn!(
                        cache = self.what,
                        key = ?key,
                        %error,
                        age_s = entry.fetched.elapsed().as_secs(),
                        retry_in_ms = self.freshness.retry.as_millis() as u64,
                        "serving a stale answer: refresh failed"
                    );
                    entry.fresh_until = now + self.freshness.retry;
                    entry.failed = Some(now);
                    let value = entry.value.clone();
                    state.entries.insert(key.to_owned(), entry);
                    Ok(Some(value))
                }
                None => {
                    // Only callers queued behind this very attempt share it: a failure
                    // older than the retry interval has no one left waiting for it.
                    let retry = self.freshness.retry;
                    State::<K, V>::make_room(&mut state.failures, |(at, _)| now.duration_since(*at) < retry);
                    state.failures.insert(key.to_owned(), (now, error.clone()));
                    Err(error)
                }
            },
        }
    }

    /// How many absent names and failed first fetches are remembered (for tests of the
    /// bound).
    pub fn remembered(&self) -> (usize, usize) {
        let state = self.state();
        (state.absent.len(), state.failures.len())
    }

    /// Forgets everything cached, so the next call asks again.
    pub fn invalidate(&self) {
        let mut state = self.state();
        state.entries.clear();
        state.absent.clear();
        state.failures.clear();
    }

    /// What is cached (`plan`, `targets`, `departments`).
    pub fn what(&self) -> &'static str {
        self.what
    }

    /// How long an answer is trusted.
    pub fn freshness(&self) -> Freshness {
        self.freshness
    }

    /// How long ago each cached answer was fetched, by key: at most the TTL while the
    /// owner answers, more while refreshes fail and the stale answer is served.
    pub fn ages(&self) -> Vec<(K, Duration)>
    where
        K: Clone,
    {
        self.state()
            .entries
            .iter()
            .map(|(key, entry)| (key.clone(), entry.fetched.elapsed()))
            .collect()
    }
}

/// A cached answer a projection is computed from, compared by identity.
pub type Source = Arc<dyn Any + Send + Sync>;

/// `answer` as a [`Source`] of a projection.
pub fn source<T: Any + Send + Sync>(answer: &Arc<T>) -> Source {
    answer.clone()
}

/// A server's own shape of cached answers, computed once per set of answers: a new
/// answer (a refresh) is a new `Arc`, so the shape is rebuilt only after a refresh, not
/// on every call.
pub struct Derived<K, V> {
    memo: Mutex<HashMap<K, Shape<V>>>,
}

/// A shape and the answers it was built from.
type Shape<V> = (Vec<Source>, Arc<V>);

impl<K, V> Default for Derived<K, V> {
    fn default() -> Self {
        Self {
            memo: Mutex::new(HashMap::new()),
        }
    }
}

impl<K, V> Debug for Derived<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Derived").finish_non_exhaustive()
    }
}

impl<K: Eq + Hash, V> Derived<K, V> {
    /// The shape for `key` computed from `sources`: the remembered one if it was built
    /// from these very answers, else `derive()` (remembered).
    pub fn get<Q>(&self, key: &Q, sources: Vec<Source>, derive: impl FnOnce() -> V) -> Arc<V>
    where
        K: Borrow<Q>,
        Q: ToOwned<Owned = K> + Eq + Hash + ?Sized,
    {
        let same = |remembered: &[Source]| {
            remembered.len() == sources.len()
                && remembered
                    .iter()
                    .zip(&sources)
                    .all(|(a, b)| std::ptr::addr_eq(Arc::as_ptr(a), Arc::as_ptr(b)))
        };
        if let Some((remembered, value)) = self.memo().get(key)
            && same(remembered)
        {
            return value.clone();
        }
        let value = Arc::new(derive());
        self.memo().insert(key.to_owned(), (sources, value.clone()));
        value
    }

    /// Forgets every shape.
    pub fn clear(&self) {
        self.memo().clear();
    }

    fn memo(&self) -> MutexGuard<'_, HashMap<K, Shape<V>>> {
        self.memo.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Owner;

    #[test]
    fn derived_shapes_are_rebuilt_only_when_an_answer_changes() {
        let derived: Derived<String, usize> = Derived::default();
        let (a, b) = (Arc::new(1), Arc::new(2));
        let mut builds = 0;
        let mut get = |sources: Vec<Source>| {
            *derived.get("p", sources, || {
                builds += 1;
                builds
            })
        };
        assert_eq!(get(vec![source(&a), source(&b)]), 1);
        assert_eq!(get(vec![source(&a), source(&b)]), 1, "the same answers: reused");
        assert_eq!(get(vec![source(&a), source(&Arc::new(2))]), 2, "a refreshed answer");
        assert_eq!(get(vec![source(&a)]), 3, "an answer missing");
    }

    #[tokio::test]
    async fn ages_grow_from_the_fetch_and_survive_a_failed_refresh() {
        let cache: StaleCache<String, i32> = StaleCache::new("plan", Freshness::new(Duration::from_millis(20)));
        assert!(cache.ages().is_empty(), "nothing cached, no age");
        cache.get("p", || async { Ok(Some(1)) }).await.unwrap();
        tokio::time::sleep(Duration::from_millis(40)).await;
        let failing = || async {
            Err(PlanError::dependency(
                Owner::Measures,
                &tonic::Status::unavailable("down"),
            ))
        };
        assert_eq!(*cache.get("p", failing).await.unwrap().unwrap(), 1, "stale served");
        let ages = cache.ages();
        assert_eq!(ages.len(), 1);
        assert_eq!(ages[0].0, "p");
        assert!(
            ages[0].1 >= Duration::from_millis(40),
            "a failed refresh does not make the answer younger: {:?}",
            ages[0].1
        );
        // Past the retry interval, a refresh that succeeds starts the age again.
        tokio::time::sleep(Duration::from_millis(25)).await;
        assert_eq!(*cache.get("p", || async { Ok(Some(2)) }).await.unwrap().unwrap(), 2);
        assert!(cache.ages()[0].1 < Duration::from_millis(20));
    }

    fn down() -> PlanError {
        PlanError::dependency(Owner::Measures, &tonic::Status::unavailable("down"))
    }

    #[tokio::test]
    async fn a_slow_fetch_holds_up_only_callers_of_the_same_key() {
        let cache: Arc<StaleCache<String, i32>> = Arc::new(StaleCache::new("plan", Freshness::default()));
        let release = Arc::new(tokio::sync::Notify::new());
        let slow = tokio::spawn({
            let (cache, release) = (cache.clone(), release.clone());
            async move {
                cache
                    .get("slow", || async move {
                        release.notified().await;
                        Ok(Some(1))
                    })
                    .await
            }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        let other = tokio::time::timeout(Duration::from_millis(500), cache.get("other", || async { Ok(Some(2)) }))
            .await
            .expect("another key is fetched while the slow one waits");
        assert_eq!(*other.unwrap().unwrap(), 2);
        release.notify_one();
        assert_eq!(*slow.await.unwrap().unwrap().unwrap(), 1);
    }

    async fn never() -> Result<Option<i32>, PlanError> {
        panic!("answered from the cache or the refresh under way: nobody else fetches")
    }

    #[tokio::test]
    async fn a_recent_answer_waits_for_the_refresh_under_way() {
        let cache: Arc<StaleCache<String, i32>> =
            Arc::new(StaleCache::new("plan", Freshness::new(Duration::from_millis(10))));
        cache.get("p", || async { Ok(Some(1)) }).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let release = Arc::new(tokio::sync::Notify::new());
        let refresher = tokio::spawn({
            let (cache, release) = (cache.clone(), release.clone());
            async move {
                cache
                    .get("p", || async move {
                        release.notified().await;
                        Ok(Some(2))
                    })
                    .await
            }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(
            *cache.get("p", never).await.unwrap().unwrap(),
            1,
            "get serves the stale answer"
        );
        let max_age = Duration::from_millis(200);
        let recent = tokio::spawn({
            let cache = cache.clone();
            async move { cache.get_recent("p", max_age, never).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!recent.is_finished(), "get_recent waits for the refresh");
        release.notify_one();
        assert_eq!(*refresher.await.unwrap().unwrap().unwrap(), 2);
        assert_eq!(*recent.await.unwrap().unwrap().unwrap(), 2, "and takes its answer");
        // Read again a moment ago: no fetch of its own, however many ask.
        for _ in 0..3 {
            assert_eq!(*cache.get_recent("p", max_age, never).await.unwrap().unwrap(), 2);
        }
        // Older than max_age (though fresh by the TTL or not): fetched again.
        tokio::time::sleep(max_age + Duration::from_millis(50)).await;
        assert_eq!(
            *cache
                .get_recent("p", max_age, || async { Ok(Some(3)) })
                .await
                .unwrap()
                .unwrap(),
            3
        );
    }

    #[tokio::test]
    async fn a_recent_answer_is_not_asked_again_while_the_owner_fails() {
        let freshness = Freshness {
            ttl: Duration::from_millis(10),
            retry: Duration::from_secs(5),
        };
        let cache: StaleCache<String, i32> = StaleCache::new("plan", freshness);
        cache.get("p", || async { Ok(Some(1)) }).await.unwrap();
        let max_age = Duration::from_millis(50);
        tokio::time::sleep(max_age * 2).await;
        let stale = cache.get_recent("p", max_age, || async { Err(down()) }).await.unwrap();
        assert_eq!(*stale.unwrap(), 1, "the stale answer when the owner fails");
        tokio::time::sleep(max_age * 2).await;
        for _ in 0..3 {
            let again = cache.get_recent("p", max_age, never).await.unwrap();
            assert_eq!(*again.unwrap(), 1, "no second attempt within the retry interval");
        }
    }

    #[tokio::test]
    async fn does_not_exist_is_remembered_for_a_second() {
        let cache: StaleCache<String, i32> = StaleCache::new("plan", Freshness::default());
        let fetches = std::sync::atomic::AtomicUsize::new(0);
        let missing = || async {
            fetches.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(None)
        };
        for _ in 0..5 {
            assert!(cache.get("nowhere", missing).await.unwrap().is_none());
        }
        assert_eq!(fetches.load(std::sync::atomic::Ordering::SeqCst), 1, "asked once");
        tokio::time::sleep(ABSENT_TTL + Duration::from_millis(50)).await;
        assert!(cache.get("nowhere", missing).await.unwrap().is_none());
        assert_eq!(
            fetches.load(std::sync::atomic::Ordering::SeqCst),
            2,
            "asked again after a second"
        );
        // Imported meanwhile: a caller who knows invalidates, and it is found at once.
        assert!(cache.get("nowhere", || async { Ok(Some(7)) }).await.unwrap().is_none());
        cache.invalidate();
        assert_eq!(
            *cache.get("nowhere", || async { Ok(Some(7)) }).await.unwrap().unwrap(),
            7
        );
    }

    #[tokio::test]
    async fn a_flood_of_random_names_is_remembered_within_a_bound() {
        let cache: StaleCache<String, i32> = StaleCache::new("plan", Freshness::default());
        for n in 0..3 * MAX_REMEMBERED {
            let _ = cache.get(format!("absent-{n}").as_str(), || async { Ok(None) }).await;
            let _ = cache
                .get(format!("failing-{n}").as_str(), || async { Err(down()) })
                .await;
        }
        let (absent, failures) = cache.remembered();
        assert!(
            absent <= MAX_REMEMBERED && failures <= MAX_REMEMBERED,
            "{absent} {failures}"
        );
        assert!(cache.state().refreshing.is_empty(), "no refresh left behind");
    }

    #[tokio::test]
    async fn callers_queued_behind_a_failed_first_fetch_share_its_error() {
        let cache: Arc<StaleCache<String, i32>> = Arc::new(StaleCache::new("plan", Freshness::default()));
        let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let failing = {
            let calls = calls.clone();
            move || {
                let calls = calls.clone();
                async move {
                    calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    Err(PlanError::dependency(
                        Owner::Measures,
                        &tonic::Status::unavailable("down"),
                    ))
                }
            }
        };
        let first = tokio::spawn({
            let (cache, fetch) = (cache.clone(), failing.clone());
            async move { cache.get("p", fetch).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        let second = cache.get("p", failing.clone()).await;
        assert!(first.await.unwrap().is_err() && second.is_err());
        assert_eq!(
            calls.load(std::sync::atomic::Ordering::SeqCst),
            1,
            "one attempt for both"
        );
        assert!(cache.get("p", failing).await.is_err());
        assert_eq!(
            calls.load(std::sync::atomic::Ordering::SeqCst),
            2,
            "a later caller tries again"
        );
    }
}
