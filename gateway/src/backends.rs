//! The services behind the gateway: one lazily connecting channel to each, clients
//! that carry either the service token (catalogue data) or the caller's own token
//! (caller-specific reads), and the cached plan structure.

use duban_proto::gateway::v1::ErrorReason;
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use chrono::NaiveDate;
use duban_kit::{
    Settings,
    client::{CallInterceptor, interceptor},
    error::NotFound,
};
use duban_proto::{
    common::v1::{Date, Period},
    departments::v1::{self as dpb, departments_service_client::DepartmentsServiceClient},
    measures::v1::{self as mpb, measures_service_client::MeasuresServiceClient},
    reporting::v1::reporting_service_client::ReportingServiceClient,
    targets::v1::{self as tpb, targets_service_client::TargetsServiceClient},
};
use tonic::{
    Code, Request, Status,
    service::interceptor::InterceptedService,
    transport::{Channel, Endpoint},
};

use crate::{
    calendar::{self, period_end, to_date, to_naive},
    error::GatewayError,
};

/// A channel whose calls carry a token, the trace context and the remaining deadline.
pub type Client = InterceptedService<Channel, CallInterceptor>;

/// Channels to the four services.
#[derive(Debug, Clone)]
pub struct Channels {
    /// DepartmentsService.
    pub departments: Channel,
    /// MeasuresService.
    pub measures: Channel,
    /// TargetsService.
    pub targets: Channel,
    /// ReportingService.
    pub reporting: Channel,
}

fn lazy(endpoint: &str) -> Result<Channel, std::io::Error> {
    Ok(Endpoint::from_shared(endpoint.to_owned())
        .map_err(std::io::Error::other)?
        .connect_timeout(Duration::from_secs(1))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_while_idle(true)
        .connect_lazy())
}

impl Channels {
    /// Lazily connecting channels to the endpoints in `settings`.
    pub fn new(settings: &Settings) -> std::io::Result<Self> {
        Ok(Self {
            departments: lazy(&settings.departments.endpoint_url())?,
            measures: lazy(&settings.measures.endpoint_url())?,
            targets: lazy(&settings.targets.endpoint_url())?,
            reporting: lazy(&settings.reporting.endpoint_url())?,
        })
    }
}

/// One target with its trajectory, as cached.
#[derive(Debug, Clone)]
pub struct TargetEntry {
    /// The target (current revision).
    pub target: tpb::Target,
    /// The trajectory's start date and value.
    pub start: (NaiveDate, f64),
    /// The trajectory at the end of each reporting period up to the deadline's, and at
    /// the deadline, sorted by date.
    pub points: Vec<(NaiveDate, f64)>,
    /// The deadline.
    pub deadline: NaiveDate,
}

impl TargetEntry {
    /// The expected value on `date`: piecewise linear between the cached points, which
    /// include every break of the trajectory (start, milestone period ends, deadline),
    /// so this equals TargetsService.GetTrajectory at any date.
    pub fn expected_at(&self, date: NaiveDate) -> f64 {
        let mut previous = self.start;
        if date <= previous.0 {
            return previous.1;
        }
        for &(day, value) in &self.points {
            if date <= day {
                let span = (day - previous.0).num_days() as f64;
                if span <= 0.0 {
                    return value;
                }
                let along = (date - previous.0).num_days() as f64 / span;
                return previous.1 + (value - previous.1) * along;
            }
            previous = (day, value);
        }
        previous.1
    }
}

/// The plan structure, cached for `gateway.catalogue_cache_seconds`.
#[derive(Debug, Clone)]
pub struct Catalogue {
    /// The plan's id, `jiading-2023`.
    pub plan_id: String,
    /// The plan.
    pub plan: mpb::Plan,
    /// Its actions, in number order.
    pub actions: Vec<mpb::Action>,
    /// Its measures, in number order.
    pub measures: Vec<mpb::Measure>,
    /// Its targets with trajectories, in measure then code order; `None` when
    /// TargetsService did not answer.
    pub targets: Option<Vec<TargetEntry>>,
    /// Department code to canonical Chinese name (empty if the directory did not answer).
    pub department_names: HashMap<String, String>,
    /// The plan's reporting periods.
    pub periods: Vec<Period>,
}

impl Catalogue {
    /// A department's display name, or its code.
    pub fn department_name(&self, code: &str) -> String {
        self.department_names
            .get(code)
            .cloned()
            .unwrap_or_else(|| code.to_owned())
    }
}

/// Clients and the catalogue cache.
#[derive(Debug)]
pub struct Backends {
    channels: Channels,
    service_token: String,
    call_timeout: Duration,
    cache_ttl: Duration,
    cache: Mutex<HashMap<String, (Instant, Arc<Catalogue>)>>,
}

impl Backends {
    /// Over `channels`, calling with `service_token`.
    pub fn new(channels: Channels, service_token: String, call_timeout: Duration, cache_ttl: Duration) -> Self {
        Self {
            channels,
            service_token,
            call_timeout,
            cache_ttl,
            cache: Mutex::default(),
        }
    }

    /// The channels, for forwarding.
    pub fn channels(&self) -> &Channels {
        &self.channels
    }

    fn client(&self, channel: &Channel, token: Option<&str>) -> Client {
        let token = token.unwrap_or(&self.service_token);
        let interceptor = interceptor(Some(token), self.call_timeout)
            .unwrap_or_else(|_| interceptor(None, self.call_timeout).expect("no token is always valid"));
        InterceptedService::new(channel.clone(), interceptor)
    }

    /// MeasuresService with the service token.
    pub fn measures(&self) -> MeasuresServiceClient<Client> {
        MeasuresServiceClient::new(self.client(&self.channels.measures, None))
    }

    /// TargetsService with the service token.
    pub fn targets(&self) -> TargetsServiceClient<Client> {
        TargetsServiceClient::new(self.client(&self.channels.targets, None))
    }

    /// DepartmentsService with the service token.
    pub fn departments(&self) -> DepartmentsServiceClient<Client> {
        DepartmentsServiceClient::new(self.client(&self.channels.departments, None))
    }

    /// ReportingService with `token` (the caller's), or the service token.
    pub fn reporting(&self, token: Option<&str>) -> ReportingServiceClient<Client> {
        ReportingServiceClient::new(self.client(&self.channels.reporting, token))
    }

    /// ReportingService for a long stream: token and trace context, no deadline.
    pub fn reporting_stream(&self) -> ReportingServiceClient<InterceptedService<Channel, StreamInterceptor>> {
        ReportingServiceClient::new(InterceptedService::new(
            self.channels.reporting.clone(),
            StreamInterceptor(format!("Bearer {}", self.service_token)),
        ))
    }

    /// The plan structure of `plan_id`, from the cache when fresh and complete.
    pub async fn catalogue(&self, plan_id: &str) -> Result<Arc<Catalogue>, GatewayError> {
        let cached = self
            .cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(plan_id)
            .cloned();
        if let Some((at, catalogue)) = &cached
            && at.elapsed() < self.cache_ttl
            && catalogue.targets.is_some()
        {
            return Ok(catalogue.clone());
        }
        match self.load(plan_id).await {
            Ok(mut fresh) => {
                if fresh.targets.is_none()
                    && let Some((_, stale)) = &cached
                    && stale.plan.revision == fresh.plan.revision
                {
                    // Keep the previous targets only for display of names; the overview
                    // still reports TargetsService as unreachable through `targets: None`.
                    fresh.department_names.extend(stale.department_names.clone());
                }
                let fresh = Arc::new(fresh);
                self.cache
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(plan_id.to_owned(), (Instant::now(), fresh.clone()));
                Ok(fresh)
            }
            // The plan structure changes only on import: a stale copy beats no answer.
            Err(GatewayError::Dependency { .. }) if cached.is_some() => Ok(cached.map(|(_, c)| c).expect("checked")),
            Err(error) => Err(error),
        }
    }

    async fn load(&self, plan_id: &str) -> Result<Catalogue, GatewayError> {
        let parent = format!("plans/{plan_id}");
        let mut measures = self.measures();
        let plan = measures
            .get_plan(mpb::GetPlanRequest { name: parent.clone() })
            .await
            .map_err(|status| from_measures(status, plan_id))?
            .into_inner();
        let mut actions = Vec::new();
        let mut token = String::new();
        loop {
            let page = measures
                .list_actions(mpb::ListActionsRequest {
                    parent: parent.clone(),
                    page_size: 500,
                    page_token: token,
                })
                .await
                .map_err(|status| from_measures(status, plan_id))?
                .into_inner();
            actions.extend(page.actions);
            token = page.next_page_token;
            if token.is_empty() {
                break;
            }
        }
        let mut all_measures = Vec::new();
        loop {
            let page = measures
                .list_measures(mpb::ListMeasuresRequest {
                    parent: parent.clone(),
                    page_size: 500,
                    page_token: token,
                    ..Default::default()
                })
                .await
                .map_err(|status| from_measures(status, plan_id))?
                .into_inner();
            all_measures.extend(page.measures);
            token = page.next_page_token;
            if token.is_empty() {
                break;
            }
        }
        let periods = calendar::plan_periods(&plan);
        let targets = match self.load_targets(&parent, &plan, &periods).await {
            Ok(targets) => Some(targets),
            Err(status) => {
                tracing::warn!(code = ?status.code(), message = status.message(), "targets service did not answer");
                None
            }
        };
        let department_names = self.load_department_names().await.unwrap_or_default();
        Ok(Catalogue {
            plan_id: plan_id.to_owned(),
            plan,
            actions,
            measures: all_measures,
            targets,
            department_names,
            periods,
        })
    }

    async fn load_targets(
        &self,
        parent: &str,
        plan: &mpb::Plan,
        periods: &[Period],
    ) -> Result<Vec<TargetEntry>, Status> {
        let mut client = self.targets();
        let mut targets = Vec::new();
        let mut token = String::new();
        loop {
            let page = client
                .list_targets(tpb::ListTargetsRequest {
                    parent: parent.to_owned(),
                    page_size: 500,
                    page_token: token,
                    ..Default::default()
                })
                .await?
                .into_inner();
            targets.extend(page.targets);
            token = page.next_page_token;
            if token.is_empty() {
                break;
            }
        }
        let plan_end = plan.effective_to.as_ref().and_then(to_naive);
        let calls = targets.into_iter().map(|target| {
            let mut client = client.clone();
            async move {
                let deadline = target
                    .deadline
                    .as_ref()
                    .and_then(to_naive)
                    .or(plan_end)
                    .unwrap_or(NaiveDate::MAX);
                let mut dates: Vec<Date> = periods
                    .iter()
                    .filter_map(period_end)
                    .filter(|end| {
                        calendar::period_key(&calendar::period_of(*end))
                            <= calendar::period_key(&calendar::period_of(deadline))
                    })
                    .map(to_date)
                    .collect();
                if deadline != NaiveDate::MAX {
                    dates.push(to_date(deadline));
                }
                dates.truncate(400);
                let trajectory = client
                    .get_trajectory(tpb::GetTrajectoryRequest {
                        name: target.name.clone(),
                        dates,
                    })
                    .await?
                    .into_inner();
                let start = (
                    trajectory
                        .start_date
                        .as_ref()
                        .and_then(to_naive)
                        .unwrap_or(NaiveDate::MIN),
                    trajectory.start_value,
                );
                let mut points: Vec<(NaiveDate, f64)> = trajectory
                    .points
                    .iter()
                    .filter_map(|p| Some((to_naive(p.date.as_ref()?)?, p.expected_value)))
                    .collect();
                points.sort_by_key(|(date, _)| *date);
                points.dedup_by_key(|(date, _)| *date);
                Ok::<_, Status>(TargetEntry {
                    target,
                    start,
                    points,
                    deadline,
                })
            }
        });
        futures::future::try_join_all(calls).await
    }

    async fn load_department_names(&self) -> Result<HashMap<String, String>, Status> {
        let mut client = self.departments();
        let mut names = HashMap::new();
        let mut token = String::new();
        loop {
            let page = client
                .list_departments(dpb::ListDepartmentsRequest {
                    page_size: 500,
                    page_token: token,
                    ..Default::default()
                })
                .await?
                .into_inner();
            names.extend(page.departments.into_iter().map(|d| (d.code, d.display_name)));
            token = page.next_page_token;
            if token.is_empty() {
                return Ok(names);
            }
        }
    }
}

/// Whether a status means the service did not answer (rather than refused).
pub fn unreachable(status: &Status) -> bool {
    matches!(
        status.code(),
        Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled | Code::Unknown | Code::ResourceExhausted
    )
}

fn from_measures(status: Status, plan_id: &str) -> GatewayError {
    match status.code() {
        Code::NotFound => GatewayError::from(NotFound::new(ErrorReason::PlanNotFound, format!("plans/{plan_id}"))),
        _ if unreachable(&status) => GatewayError::Dependency {
            service: mpb::measures_service_server::SERVICE_NAME,
            message: status.message().to_owned(),
        },
        _ => GatewayError::Downstream(status),
    }
}

/// Adds the service token and the trace context, and no deadline (for long streams).
#[derive(Clone)]
pub struct StreamInterceptor(String);

impl tonic::service::Interceptor for StreamInterceptor {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Ok(value) = self.0.parse() {
            request.metadata_mut().insert("authorization", value);
        }
        duban_kit::telemetry::inject_current_context(request.metadata_mut());
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_values_interpolate_between_cached_points() {
        let d = |m, day| NaiveDate::from_ymd_opt(2023, m, day).unwrap();
        let entry = TargetEntry {
            target: tpb::Target::default(),
            start: (d(3, 3), 0.0),
            points: vec![(d(3, 31), 28.0), (d(4, 30), 58.0), (d(12, 31), 100.0)],
            deadline: d(12, 31),
        };
        assert_eq!(entry.expected_at(d(1, 1)), 0.0);
        assert_eq!(entry.expected_at(d(3, 17)), 14.0);
        assert_eq!(entry.expected_at(d(4, 15)), 43.0);
        assert_eq!(entry.expected_at(d(12, 31)), 100.0);
        assert_eq!(entry.expected_at(NaiveDate::from_ymd_opt(2024, 6, 1).unwrap()), 100.0);
    }
}
