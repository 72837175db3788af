//! The services behind the gateway: one lazily connecting channel to each, clients
//! that carry either the service token (catalogue data) or the caller's own token
//! (caller-specific reads), and the cached plan structure.

use rust_decimal::Decimal;
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
use duban_plan::{Month, PlanCalendar, listing, trajectory::Shape};
use duban_proto::{
    common::v1::Period,
    departments::v1::departments_service_client::DepartmentsServiceClient,
    measures::v1::{self as mpb, measures_service_client::MeasuresServiceClient},
    reporting::v1::reporting_service_client::ReportingServiceClient,
    targets::v1::{self as tpb, targets_service_client::TargetsServiceClient},
};
use tonic::{
    Code, Request, Status,
    service::interceptor::InterceptedService,
    transport::{Channel, Endpoint},
};

use crate::error::GatewayError;

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
    /// Its trajectory: the same rules TargetsService.GetTrajectory answers with.
    pub shape: Shape,
    /// The trajectory's start date and value.
    pub start: (NaiveDate, Decimal),
    /// The trajectory at the end of each reporting period up to the deadline's, and at
    /// the deadline, sorted by date (the points a chart draws).
    pub points: Vec<(NaiveDate, Decimal)>,
    /// The deadline.
    pub deadline: NaiveDate,
}

impl TargetEntry {
    /// A target's entry in a plan with `calendar` and reporting `periods`.
    pub fn new(target: tpb::Target, calendar: &PlanCalendar, periods: &[Month]) -> TargetEntry {
        let shape = Shape::from_target(&target, calendar.effective_from, calendar.effective_to);
        let deadline = shape.deadline;
        let mut points: Vec<(NaiveDate, Decimal)> = periods
            .iter()
            .filter(|period| **period <= Month::of(deadline))
            .map(|period| period.last_day())
            .chain(std::iter::once(deadline))
            .map(|day| (day, shape.at(day).expected_value))
            .collect();
        points.sort_by_key(|(date, _)| *date);
        points.dedup_by_key(|(date, _)| *date);
        TargetEntry {
            start: (shape.start, shape.start_value()),
            target,
            shape,
            points,
            deadline,
        }
    }

    /// The expected value on `date`.
    pub fn expected_at(&self, date: NaiveDate) -> Decimal {
        self.shape.at(date).expected_value
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
    /// Its reporting calendar: periods, due days, time zone.
    pub calendar: PlanCalendar,
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
        let calendar = PlanCalendar::from_contract(&plan).map_err(|error| GatewayError::Dependency {
            service: mpb::measures_service_server::SERVICE_NAME,
            message: error.to_string(),
        })?;
        let actions = listing::all_actions(&measures, &parent)
            .await
            .map_err(|status| from_measures(status, plan_id))?;
        let all_measures = listing::all_measures(&measures, &parent)
            .await
            .map_err(|status| from_measures(status, plan_id))?;
        let periods = calendar.periods();
        let targets = match self.load_targets(&parent).await {
            Ok(targets) => Some(
                targets
                    .into_iter()
                    .map(|target| TargetEntry::new(target, &calendar, &periods))
                    .collect(),
            ),
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
            calendar,
            periods: periods.into_iter().map(Month::to_proto).collect(),
        })
    }

    async fn load_targets(&self, parent: &str) -> Result<Vec<tpb::Target>, Status> {
        listing::all_targets(&self.targets(), parent).await
    }

    async fn load_department_names(&self) -> Result<HashMap<String, String>, Status> {
        let client = self.departments();
        let departments = listing::all_departments(&client).await?;
        Ok(departments.into_iter().map(|d| (d.code, d.display_name)).collect())
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
        Code::NotFound => GatewayError::from(NotFound::new("plan", format!("plans/{plan_id}"))),
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
    use crate::calendar::to_date;

    #[test]
    fn expected_values_interpolate_between_cached_points() {
        let d = |m, day| NaiveDate::from_ymd_opt(2023, m, day).unwrap();
        // A target of 100 by 31 December from 0 on 3 March, with milestones of 28 at
        // the end of March and 58 at the end of April.
        let milestone = |month, expected_value: i32| tpb::TargetMilestone {
            period: Some(Period { year: 2023, month }),
            expected_value: Some(Decimal::from(expected_value).into()),
        };
        let target = tpb::Target {
            value: Some(Decimal::ONE_HUNDRED.into()),
            deadline: Some(to_date(d(12, 31))),
            milestones: vec![milestone(3, 28), milestone(4, 58)],
            ..tpb::Target::default()
        };
        let calendar = PlanCalendar {
            effective_from: d(3, 3),
            effective_to: d(12, 31),
            cadence: duban_plan::Cadence::monthly(5),
        };
        let entry = TargetEntry::new(target, &calendar, &calendar.periods());
        assert_eq!(entry.expected_at(d(1, 1)), Decimal::from(0));
        assert_eq!(entry.expected_at(d(3, 17)), Decimal::from(14));
        assert_eq!(entry.expected_at(d(4, 15)), Decimal::from(43));
        assert_eq!(entry.expected_at(d(12, 31)), Decimal::from(100));
        assert_eq!(
            entry.expected_at(NaiveDate::from_ymd_opt(2024, 6, 1).unwrap()),
            Decimal::from(100)
        );
    }
}
