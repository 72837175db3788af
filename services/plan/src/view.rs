//! The cached, read-only view of a plan, its targets and its directory, fetched over gRPC
//! from the measures, targets and departments services and kept by the one rule of
//! [`crate::cache`]. Reporting and the gateway both read the plan through it.
//!
//! The plan's structure (plan, actions, measures), its targets and the directory names
//! are three separate entries, so a server can still answer with the structure while
//! the targets service is down and nothing of its targets was ever cached.

mod ages;

use std::{collections::BTreeMap, sync::Arc};

use duban_kit::{client::ServiceChannel, metrics::Metrics};
use duban_proto::{
    departments::v1::departments_service_client::DepartmentsServiceClient,
    measures::v1::{self as mpb, measures_service_client::MeasuresServiceClient},
    targets::v1::{self as tpb, targets_service_client::TargetsServiceClient},
};
use tonic::Code;

use crate::{
    PlanCalendar, PlanError,
    cache::{Freshness, StaleCache},
    error::Owner,
    listing,
};

/// A plan as the measures service stores it, with its calendar read.
#[derive(Debug, Clone)]
pub struct PlanStructure {
    /// The plan's slug, `jiading-2023`.
    pub code: String,
    /// The plan (current revision).
    pub plan: mpb::Plan,
    /// Its reporting calendar.
    pub calendar: PlanCalendar,
    /// Its actions, in the service's order (number order).
    pub actions: Vec<mpb::Action>,
    /// Its measures, in the service's order (number order).
    pub measures: Vec<mpb::Measure>,
}

/// Department code to canonical name.
pub type DepartmentNames = BTreeMap<String, String>;

/// Where the view's answers come from: the services over gRPC ([`RemoteSource`]).
#[tonic::async_trait]
pub trait PlanSource: Send + Sync + 'static {
    /// The plan `code` with its actions and measures; `Ok(None)` if it does not exist.
    async fn structure(&self, code: &str) -> Result<Option<PlanStructure>, PlanError>;
    /// The current targets of the plan `code`; `Ok(None)` if the targets service does not
    /// know the plan.
    async fn targets(&self, code: &str) -> Result<Option<Vec<tpb::Target>>, PlanError>;
    /// Every department of the directory: code to canonical name.
    async fn department_names(&self) -> Result<DepartmentNames, PlanError>;
    /// The id of every plan, in id order.
    async fn plan_codes(&self) -> Result<Vec<String>, PlanError>;
}

/// Reads the measures, targets and departments services.
#[derive(Debug, Clone)]
pub struct RemoteSource {
    measures: MeasuresServiceClient<ServiceChannel>,
    targets: TargetsServiceClient<ServiceChannel>,
    departments: DepartmentsServiceClient<ServiceChannel>,
}

impl RemoteSource {
    /// Over channels that carry the service token.
    pub fn new(measures: ServiceChannel, targets: ServiceChannel, departments: ServiceChannel) -> Self {
        Self {
            measures: MeasuresServiceClient::new(measures),
            targets: TargetsServiceClient::new(targets),
            departments: DepartmentsServiceClient::new(departments),
        }
    }
}

#[tonic::async_trait]
impl PlanSource for RemoteSource {
    async fn structure(&self, code: &str) -> Result<Option<PlanStructure>, PlanError> {
        let parent = format!("plans/{code}");
        let measures_down = |status: tonic::Status| PlanError::dependency(Owner::Measures, &status);
        let plan = match self
            .measures
            .clone()
            .get_plan(mpb::GetPlanRequest { name: parent.clone() })
            .await
        {
            Ok(plan) => plan.into_inner(),
            Err(status) if status.code() == Code::NotFound => return Ok(None),
            Err(status) => return Err(measures_down(status)),
        };
        let calendar = PlanCalendar::from_contract(&plan)?;
        let actions = listing::all_actions(&self.measures, &parent)
            .await
            .map_err(measures_down)?;
        let measures = listing::all_measures(&self.measures, &parent)
            .await
            .map_err(measures_down)?;
        Ok(Some(PlanStructure {
            code: code.to_owned(),
            plan,
            calendar,
            actions,
            measures,
        }))
    }

    async fn targets(&self, code: &str) -> Result<Option<Vec<tpb::Target>>, PlanError> {
        match listing::all_targets(&self.targets, &format!("plans/{code}")).await {
            Ok(targets) => Ok(Some(targets)),
            Err(status) if status.code() == Code::NotFound => Ok(None),
            Err(status) => Err(PlanError::dependency(Owner::Targets, &status)),
        }
    }

    async fn department_names(&self) -> Result<DepartmentNames, PlanError> {
        let departments = listing::all_departments(&self.departments)
            .await
            .map_err(|status| PlanError::dependency(Owner::Departments, &status))?;
        Ok(departments.into_iter().map(|d| (d.code, d.display_name)).collect())
    }

    async fn plan_codes(&self) -> Result<Vec<String>, PlanError> {
        listing::all_plan_codes(&self.measures)
            .await
            .map_err(|status| PlanError::dependency(Owner::Measures, &status))
    }
}

/// The cached view: plans' structures and targets by plan code, and the directory.
#[derive(Debug)]
pub struct PlanView {
    source: Arc<dyn PlanSource>,
    structures: StaleCache<String, PlanStructure>,
    targets: StaleCache<String, Vec<tpb::Target>>,
    directory: StaleCache<(), DepartmentNames>,
}

impl std::fmt::Debug for dyn PlanSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PlanSource")
    }
}

impl PlanView {
    /// A view of `source`, every entry kept by `freshness`.
    pub fn new(source: Arc<dyn PlanSource>, freshness: Freshness) -> Self {
        Self {
            source,
            structures: StaleCache::new("plan", freshness),
            targets: StaleCache::new("targets", freshness),
            directory: StaleCache::new("departments", freshness),
        }
    }

    /// A view of the services behind these channels (each carrying the service token).
    pub fn remote(
        measures: ServiceChannel,
        targets: ServiceChannel,
        departments: ServiceChannel,
        freshness: Freshness,
    ) -> Self {
        Self::new(Arc::new(RemoteSource::new(measures, targets, departments)), freshness)
    }

    /// The plan `code` with its actions and measures: [`PlanError::PlanNotFound`] if it
    /// does not exist; a stale copy if it cannot be refreshed; the measures service's
    /// failure if nothing was cached.
    pub async fn structure(&self, code: &str) -> Result<Arc<PlanStructure>, PlanError> {
        self.structures
            .get(code, || self.source.structure(code))
            .await?
            .ok_or_else(|| PlanError::PlanNotFound(format!("plans/{code}")))
    }

    /// The current targets of the plan `code` (stale if a refresh fails).
    pub async fn targets(&self, code: &str) -> Result<Arc<Vec<tpb::Target>>, PlanError> {
        self.targets
            .get(code, || self.source.targets(code))
            .await?
            .ok_or_else(|| PlanError::PlanNotFound(format!("plans/{code}")))
    }

    /// Every department, code to canonical name (stale if a refresh fails).
    pub async fn department_names(&self) -> Result<Arc<DepartmentNames>, PlanError> {
        let names = self
            .directory
            .get(&(), || async { self.source.department_names().await.map(Some) })
            .await?;
        // The source always answers with a directory; none would mean no names.
        Ok(names.unwrap_or_default())
    }

    /// The id of every plan, asked each time (not cached): for work that visits every
    /// plan now and then, such as reporting's daily follow-up.
    pub async fn plan_codes(&self) -> Result<Vec<String>, PlanError> {
        self.source.plan_codes().await
    }

    /// Reads the plan `code`'s structure and targets again unless they were fetched less
    /// than [`crate::cache::ABSENT_TTL`] ago, waiting for a refresh under way: for a caller
    /// about to refuse something on them, so a designation or a new reporter is seen at
    /// once, not a TTL later. The next [`Self::structure`] and [`Self::targets`] serve
    /// what was read.
    pub async fn recheck(&self, code: &str) -> Result<(), PlanError> {
        let age = crate::cache::ABSENT_TTL;
        self.structures
            .get_recent(code, age, || self.source.structure(code))
            .await?
            .ok_or_else(|| PlanError::PlanNotFound(format!("plans/{code}")))?;
        self.targets
            .get_recent(code, age, || self.source.targets(code))
            .await?
            .ok_or_else(|| PlanError::PlanNotFound(format!("plans/{code}")))?;
        Ok(())
    }

    /// Forgets everything cached, so the next calls ask again.
    pub fn invalidate(&self) {
        self.structures.invalidate();
        self.targets.invalidate();
        self.directory.invalidate();
    }

    /// Publishes the caches' ages in `metrics` (`duban_plan_cache_age_seconds`, see
    /// `view/ages.rs`), for as long as the view lives.
    pub fn register_metrics(self: &Arc<Self>, metrics: &Metrics) {
        metrics.register_collector(ages::CacheAges::of(self));
    }
}

#[cfg(test)]
mod tests;
