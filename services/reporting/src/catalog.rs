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

mod cache;
mod remote;
#[cfg(test)]
mod tests;
mod views;

use std::{collections::BTreeMap, time::Duration};

pub use cache::Catalog;
pub use remote::RemoteCatalog;
pub use views::{MeasureInfo, PlanInfo, TargetInfo};

use crate::error::ReportingError;

/// How long an answer is reused before it is refreshed.
pub const CATALOG_TTL: Duration = Duration::from_secs(30);

/// After a failed refresh, how long the stale answer is served before trying again.
pub const CATALOG_RETRY: Duration = Duration::from_secs(5);

/// Where the data comes from.
#[tonic::async_trait]
pub trait CatalogSource: Send + Sync + 'static {
    /// The plan `code`; `Ok(None)` if it does not exist.
    async fn plan(&self, code: &str) -> Result<Option<PlanInfo>, ReportingError>;
    /// Every department: code to canonical name.
    async fn departments(&self) -> Result<BTreeMap<String, String>, ReportingError>;
}
