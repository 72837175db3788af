//! What reporting needs to know about plans, measures, targets and departments: the
//! cached view of `duban_plan::view`, read as reporting judges reports against it.
//!
//! Freshness and outages follow the one rule of `duban_plan::cache`: an answer is
//! trusted for `Options::catalog_ttl`; a refresh that fails keeps serving the stale
//! answer and tries again after `Options::catalog_retry`, so submissions and reads the
//! cache can judge keep working while those services are down. Something never cached
//! (another plan) answers UNAVAILABLE (`DEPENDENCY_UNAVAILABLE`) as soon as the call
//! fails.

mod views;

use std::{collections::BTreeMap, sync::Arc};

use duban_plan::{
    cache::{Derived, source},
    view::PlanView,
};
pub use views::{MeasureInfo, MilestoneInfo, PlanInfo, TargetInfo};

use crate::error::ReportingError;

/// The cached view of the other services, with each plan in reporting's own shape.
#[derive(Debug, Clone)]
pub struct Catalog {
    view: Arc<PlanView>,
    /// Each plan's [`PlanInfo`], rebuilt only when its structure or targets are refreshed.
    plans: Arc<Derived<String, PlanInfo>>,
}

impl Catalog {
    /// Reporting's reading of `view`.
    pub fn new(view: Arc<PlanView>) -> Self {
        Self {
            view,
            plans: Arc::default(),
        }
    }

    /// The plan `code` with its measures and targets: PLAN_NOT_FOUND if it does not
    /// exist; a stale copy if it cannot be refreshed; DEPENDENCY_UNAVAILABLE if there is
    /// none.
    pub async fn plan(&self, code: &str) -> Result<Arc<PlanInfo>, ReportingError> {
        let structure = self.view.structure(code).await?;
        let targets = self.view.targets(code).await?;
        Ok(self.plans.get(code, vec![source(&structure), source(&targets)], || {
            PlanInfo::new(&structure, &targets)
        }))
    }

    /// The plan `code` as read from its owners at most a second ago: for a refusal that
    /// a change made since (a designation, a new reporting unit) may have lifted, so a
    /// unit is not refused for up to a TTL after it was made responsible. Refusals made
    /// while the plan is being read again wait for that reading.
    pub async fn recheck(&self, code: &str) -> Result<Arc<PlanInfo>, ReportingError> {
        self.view.recheck(code).await?;
        self.plan(code).await
    }

    /// The id of every plan (asked each time).
    pub async fn plan_codes(&self) -> Result<Vec<String>, ReportingError> {
        Ok(self.view.plan_codes().await?)
    }

    /// Every department, code to canonical name (stale if a refresh fails).
    pub async fn departments(&self) -> Result<Arc<BTreeMap<String, String>>, ReportingError> {
        Ok(self.view.department_names().await?)
    }
}
