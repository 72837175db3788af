//! The gRPC adapter of DashboardService: each handler authenticates, hands the request
//! to the domain, and turns the domain's error into a status. No rule lives here.

use std::{sync::Arc, time::Duration};

use duban_kit::streams::{OpenStreams, Recheck};
use duban_proto::gateway::v1::{self as pb, dashboard_service_server::DashboardService};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::{dashboard::Dashboard, watch::Hub};

/// Implements `duban.gateway.v1.DashboardService`.
#[derive(Debug, Clone)]
pub struct DashboardGrpc {
    dashboard: Dashboard,
    hub: Arc<Hub>,
    streams: OpenStreams,
    revocation_window: Duration,
}

impl DashboardGrpc {
    /// Handlers over the domain and the live feeds; WatchOverview streams are bounded by
    /// `streams` and re-checked once per `revocation_window`.
    pub fn new(dashboard: Dashboard, hub: Arc<Hub>, streams: OpenStreams, revocation_window: Duration) -> Self {
        Self {
            dashboard,
            hub,
            streams,
            revocation_window,
        }
    }
}

type Reply<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl DashboardService for DashboardGrpc {
    async fn get_overview(&self, request: Request<pb::GetOverviewRequest>) -> Reply<pb::GetOverviewResponse> {
        let caller = self.dashboard.caller(request.metadata()).await?;
        let request = request.into_inner();
        let overview = self
            .dashboard
            .overview(&caller, &request.plan, request.as_of.as_ref())
            .await?;
        Ok(Response::new(pb::GetOverviewResponse {
            overview: Some(overview),
        }))
    }

    async fn get_measure_detail(
        &self,
        request: Request<pb::GetMeasureDetailRequest>,
    ) -> Reply<pb::GetMeasureDetailResponse> {
        let caller = self.dashboard.caller(request.metadata()).await?;
        Ok(Response::new(
            self.dashboard.measure_detail(&caller, request.get_ref()).await?,
        ))
    }

    async fn get_department_scorecard(
        &self,
        request: Request<pb::GetDepartmentScorecardRequest>,
    ) -> Reply<pb::GetDepartmentScorecardResponse> {
        let caller = self.dashboard.caller(request.metadata()).await?;
        Ok(Response::new(
            self.dashboard.scorecard(&caller, request.get_ref()).await?,
        ))
    }

    async fn list_unit_rankings(
        &self,
        request: Request<pb::ListUnitRankingsRequest>,
    ) -> Reply<pb::ListUnitRankingsResponse> {
        let caller = self.dashboard.caller(request.metadata()).await?;
        Ok(Response::new(
            self.dashboard.rankings(&caller, request.get_ref()).await?,
        ))
    }

    async fn list_alerts(&self, request: Request<pb::ListAlertsRequest>) -> Reply<pb::ListAlertsResponse> {
        let caller = self.dashboard.caller(request.metadata()).await?;
        Ok(Response::new(self.dashboard.alerts(&caller, request.get_ref()).await?))
    }

    type WatchOverviewStream = ReceiverStream<Result<pb::WatchOverviewResponse, Status>>;

    async fn watch_overview(&self, request: Request<pb::WatchOverviewRequest>) -> Reply<Self::WatchOverviewStream> {
        let caller = self.dashboard.caller(request.metadata()).await?;
        let request = request.into_inner();
        let permit = self.streams.open(&caller.principal, caller.token.as_deref())?;
        let stream = self.hub.watch_overview(&caller, &request.plan, request.as_of).await?;
        let recheck = Recheck {
            authenticator: self.dashboard.authenticator().clone(),
            token: caller.token,
            every: self.revocation_window,
        };
        Ok(Response::new(duban_kit::streams::guarded(stream, permit, recheck)))
    }
}
