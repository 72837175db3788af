//! The services behind the gateway: one lazily connecting channel to each, spread over
//! every replica its name resolves to, clients that carry either the service token
//! (catalogue data) or the caller's own token (caller-specific reads), and the cached
//! plan structure.

use rust_decimal::Decimal;
use std::{sync::Arc, time::Duration};

use chrono::NaiveDate;
use duban_kit::{
    Settings,
    client::{BalancedChannel, ServiceChannel, balance, interceptor},
    paging::{READ_ALL_PAGE_SIZE, read_all_pages},
};
use duban_plan::{
    Month, PlanCalendar,
    cache::{Derived, Freshness, source},
    trajectory::Shape,
    view::{DepartmentNames, PlanStructure, PlanView},
};
use duban_proto::{
    common::v1::Period,
    departments::v1::departments_service_client::DepartmentsServiceClient,
    measures::v1::{self as mpb, measures_service_client::MeasuresServiceClient},
    reporting::v1::{
        self as rpb, ListOrdersRequest, notices_service_client::NoticesServiceClient,
        reporting_service_client::ReportingServiceClient,
        supervision_orders_service_client::SupervisionOrdersServiceClient,
    },
    targets::v1::{self as tpb, targets_service_client::TargetsServiceClient},
};
use tonic::{Request, Status, service::interceptor::InterceptedService, transport::Endpoint};

use crate::error::GatewayError;

/// A channel whose calls carry a token, the trace context and the remaining deadline.
pub type Client = ServiceChannel;

/// Channels to the four services, each spread over the service's replicas.
#[derive(Debug, Clone)]
pub struct Channels {
    /// DepartmentsService.
    pub departments: BalancedChannel,
    /// MeasuresService.
    pub measures: BalancedChannel,
    /// TargetsService.
    pub targets: BalancedChannel,
    /// ReportingService.
    pub reporting: BalancedChannel,
}

/// The gateway's connections: a page waits for them, so an unreachable replica is
/// given up after 1 s; idle ones are pinged, since event streams sit idle for long; each
/// carries every caller's calls to its service, with the windows of [`duban_kit::flow`].
fn tuned(endpoint: Endpoint) -> Endpoint {
    duban_kit::flow::windows(endpoint)
        .connect_timeout(Duration::from_secs(1))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_while_idle(true)
}

impl Channels {
    /// Lazily connecting channels to the endpoints in `settings`, their names looked up
    /// again every `client.resolve_interval_ms`.
    pub fn new(settings: &Settings) -> std::io::Result<Self> {
        let channel =
            |endpoint: String| balance::balanced(&endpoint, tuned, &settings.client).map_err(std::io::Error::other);
        Ok(Self {
            departments: channel(settings.departments.endpoint_url())?,
            measures: channel(settings.measures.endpoint_url())?,
            targets: channel(settings.targets.endpoint_url())?,
            reporting: channel(settings.reporting.endpoint_url())?,
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

/// The plan structure in the gateway's shape, from the cached view (`duban_plan::view`):
/// kept for `gateway.catalogue_cache_seconds`, stale while a refresh fails.
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
    /// TargetsService did not answer and nothing of them was cached.
    pub targets: Option<Vec<TargetEntry>>,
    /// Department code to canonical Chinese name (empty if the directory did not answer
    /// and nothing of it was cached).
    pub department_names: DepartmentNames,
    /// Its reporting calendar: periods, due days, time zone.
    pub calendar: PlanCalendar,
    /// The plan's reporting periods.
    pub periods: Vec<Period>,
}

impl Catalogue {
    /// The gateway's reading of a plan's structure, its targets if known, and the
    /// directory's names.
    fn new(structure: &PlanStructure, targets: Option<&[tpb::Target]>, names: &DepartmentNames) -> Catalogue {
        let calendar = structure.calendar;
        let periods = calendar.periods();
        let targets = targets.map(|targets| {
            targets
                .iter()
                .map(|target| TargetEntry::new(target.clone(), &calendar, &periods))
                .collect()
        });
        Catalogue {
            plan_id: structure.code.clone(),
            plan: structure.plan.clone(),
            actions: structure.actions.clone(),
            measures: structure.measures.clone(),
            targets,
            department_names: names.clone(),
            calendar,
            periods: periods.into_iter().map(Month::to_proto).collect(),
        }
    }

    /// A department's display name, or its code.
    pub fn department_name(&self, code: &str) -> String {
        self.department_names
            .get(code)
            .cloned()
            .unwrap_or_else(|| code.to_owned())
    }
}

/// Clients, and the cached view of the plan.
#[derive(Debug)]
pub struct Backends {
    channels: Channels,
    service_token: String,
    call_timeout: Duration,
    view: Arc<PlanView>,
    /// Each plan's [`Catalogue`], rebuilt only when one of its answers is refreshed.
    catalogues: Derived<String, Catalogue>,
}

impl Backends {
    /// Over `channels`, calling with `service_token`; the plan's view kept by `freshness`.
    pub fn new(channels: Channels, service_token: String, call_timeout: Duration, freshness: Freshness) -> Self {
        let view_client = |channel: &BalancedChannel| service_client(channel, &service_token, call_timeout);
        let view = Arc::new(PlanView::remote(
            view_client(&channels.measures),
            view_client(&channels.targets),
            view_client(&channels.departments),
            freshness,
        ));
        Self {
            channels,
            service_token,
            call_timeout,
            view,
            catalogues: Derived::default(),
        }
    }

    /// Publishes the plan caches' ages in `metrics`.
    pub fn register_metrics(&self, metrics: &duban_kit::metrics::Metrics) {
        self.view.register_metrics(metrics);
    }

    /// The channels, for forwarding.
    pub fn channels(&self) -> &Channels {
        &self.channels
    }

    fn client(&self, channel: &BalancedChannel, token: Option<&str>) -> Client {
        service_client(channel, token.unwrap_or(&self.service_token), self.call_timeout)
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

    /// The reporting server's SupervisionOrdersService, with `token` or the service token.
    pub fn orders(&self, token: Option<&str>) -> SupervisionOrdersServiceClient<Client> {
        SupervisionOrdersServiceClient::new(self.client(&self.channels.reporting, token))
    }

    /// Every supervision order `filter` selects (its page fields are the reader's), all pages,
    /// with `token` or the service token.
    pub async fn all_orders(&self, token: Option<&str>, filter: ListOrdersRequest) -> Result<Vec<rpb::Order>, Status> {
        let client = self.orders(token);
        read_all_pages(|page_token| {
            let mut client = client.clone();
            let request = ListOrdersRequest {
                page_size: READ_ALL_PAGE_SIZE,
                page_token,
                ..filter.clone()
            };
            async move {
                let page = client.list_orders(request).await?.into_inner();
                Ok::<_, Status>((page.orders, page.next_page_token))
            }
        })
        .await
    }

    /// The reporting server's NoticesService, with `token` or the service token.
    pub fn notices(&self, token: Option<&str>) -> NoticesServiceClient<Client> {
        NoticesServiceClient::new(self.client(&self.channels.reporting, token))
    }

    /// ReportingService for a long stream: token and trace context, no deadline.
    pub fn reporting_stream(&self) -> ReportingServiceClient<InterceptedService<BalancedChannel, StreamInterceptor>> {
        ReportingServiceClient::new(InterceptedService::new(
            self.channels.reporting.clone(),
            StreamInterceptor(format!("Bearer {}", self.service_token)),
        ))
    }

    /// The plan structure of `plan_id`. Without targets or the directory's names the
    /// views are still served, partial: the page names TargetsService as unreachable.
    pub async fn catalogue(&self, plan_id: &str) -> Result<Arc<Catalogue>, GatewayError> {
        let structure = self.view.structure(plan_id).await?;
        let targets = self
            .view
            .targets(plan_id)
            .await
            .inspect_err(|error| tracing::warn!(%error, "targets service did not answer"))
            .ok();
        let names = self.view.department_names().await.unwrap_or_else(|error| {
            tracing::warn!(%error, "departments service did not answer");
            Arc::default()
        });
        let mut sources = vec![source(&structure), source(&names)];
        sources.extend(targets.as_ref().map(source));
        Ok(self.catalogues.get(plan_id, sources, || {
            Catalogue::new(&structure, targets.as_deref().map(Vec::as_slice), &names)
        }))
    }
}

/// A client channel over `channel` whose calls carry `token` (if it is a valid header
/// value), the trace context and the remaining deadline.
fn service_client(channel: &BalancedChannel, token: &str, call_timeout: Duration) -> Client {
    let interceptor = interceptor(Some(token), call_timeout)
        .unwrap_or_else(|_| duban_kit::client::untokened_interceptor(call_timeout));
    InterceptedService::new(channel.clone(), interceptor)
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
            follow_up: Default::default(),
            rag: Default::default(),
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
