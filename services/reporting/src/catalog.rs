//! What reporting needs to know about plans, measures, targets and departments, read
//! from their own services over gRPC and cached for a short TTL. When a refresh fails
//! the stale entry is served, so submissions the cache can judge keep working while
//! those services are down.

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

/// A cached answer and when it was fetched.
type Stamped<T> = (Arc<T>, Instant);

/// Department code to canonical name.
type Names = BTreeMap<String, String>;

/// The cached view of the other services.
#[derive(Clone)]
pub struct Catalog {
    source: Arc<dyn CatalogSource>,
    ttl: Duration,
    plans: Arc<Mutex<HashMap<String, Stamped<PlanInfo>>>>,
    departments: Arc<Mutex<Option<Stamped<Names>>>>,
    refresh: Arc<tokio::sync::Mutex<()>>,
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalog")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl Catalog {
    /// A cache over `source`.
    pub fn new(source: Arc<dyn CatalogSource>, ttl: Duration) -> Self {
        Self {
            source,
            ttl,
            plans: Arc::default(),
            departments: Arc::default(),
            refresh: Arc::default(),
        }
    }

    fn cached_plan(&self, code: &str) -> Option<(Arc<PlanInfo>, bool)> {
        let plans = self.plans.lock().unwrap_or_else(|e| e.into_inner());
        plans
            .get(code)
            .map(|(plan, at)| (plan.clone(), at.elapsed() < self.ttl))
    }

    /// The plan `code`: PLAN_NOT_FOUND if it does not exist; a stale copy if it
    /// cannot be refreshed; DEPENDENCY_UNAVAILABLE if there is none.
    pub async fn plan(&self, code: &str) -> Result<Arc<PlanInfo>, ReportingError> {
        if let Some((plan, true)) = self.cached_plan(code) {
            return Ok(plan);
        }
        let _single = self.refresh.lock().await;
        let stale = match self.cached_plan(code) {
            Some((plan, true)) => return Ok(plan),
            Some((plan, false)) => Some(plan),
            None => None,
        };
        match self.source.plan(code).await {
            Ok(Some(plan)) => {
                let plan = Arc::new(plan);
                let mut plans = self.plans.lock().unwrap_or_else(|e| e.into_inner());
                plans.insert(code.to_owned(), (plan.clone(), Instant::now()));
                Ok(plan)
            }
            Ok(None) => {
                self.plans.lock().unwrap_or_else(|e| e.into_inner()).remove(code);
                Err(ReportingError::NotFound {
                    reason: "PLAN_NOT_FOUND",
                    resource: "plan",
                    name: format!("plans/{code}"),
                })
            }
            Err(error) => match stale {
                Some(plan) => {
                    tracing::warn!(plan = code, %error, "serving a stale plan: refresh failed");
                    Ok(plan)
                }
                None => Err(error),
            },
        }
    }

    /// Every department, code to canonical name (stale if a refresh fails).
    pub async fn departments(&self) -> Result<Arc<BTreeMap<String, String>>, ReportingError> {
        let cached = self.departments.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some((departments, at)) = &cached
            && at.elapsed() < self.ttl
        {
            return Ok(departments.clone());
        }
        match self.source.departments().await {
            Ok(departments) => {
                let departments = Arc::new(departments);
                *self.departments.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some((departments.clone(), Instant::now()));
                Ok(departments)
            }
            Err(error) => match cached {
                Some((departments, _)) => {
                    tracing::warn!(%error, "serving stale departments: refresh failed");
                    Ok(departments)
                }
                None => Err(error),
            },
        }
    }

    /// Forgets everything cached, so the next call asks again.
    pub fn invalidate(&self) {
        self.plans.lock().unwrap_or_else(|e| e.into_inner()).clear();
        *self.departments.lock().unwrap_or_else(|e| e.into_inner()) = None;
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
