//! The gRPC adapter: each handler authenticates, hands the request to the domain, and
//! turns the domain's error into a status. No rule lives here.

use duban_kit::{
    Authenticator, Ready,
    auth::Verified,
    server::{Reply, reply},
};
use duban_proto::targets::v1::{
    self as pb, targets_internal_service_server::TargetsInternalService, targets_service_server::TargetsService,
};
use tonic::{Request, Status};

use crate::service::Targets;

/// What the handlers need once the database is ready.
#[derive(Debug)]
pub struct State {
    /// The domain.
    pub targets: Targets,
    /// Checks callers' tokens.
    pub auth: Authenticator,
}

impl duban_kit::server::Authenticates for State {
    fn authenticator(&self) -> &Authenticator {
        &self.auth
    }
}

/// Implements `duban.targets.v1.TargetsService`.
#[derive(Debug, Clone)]
pub struct TargetsGrpc {
    /// The state, once the database is ready.
    pub ready: Ready<State>,
}

impl TargetsGrpc {
    /// The state and who is calling (with the credential, for `revised_by`).
    async fn caller<T>(&self, request: &Request<T>) -> Result<(&State, Verified), Status> {
        self.ready.caller(request.metadata()).await
    }
}

#[tonic::async_trait]
impl TargetsService for TargetsGrpc {
    async fn get_target(&self, request: Request<pb::GetTargetRequest>) -> Reply<pb::Target> {
        let (state, _) = self.caller(&request).await?;
        reply(state.targets.get_target(&request.get_ref().name).await)
    }

    async fn list_targets(&self, request: Request<pb::ListTargetsRequest>) -> Reply<pb::ListTargetsResponse> {
        let (state, _) = self.caller(&request).await?;
        reply(state.targets.list_targets(request.get_ref()).await)
    }

    async fn rebaseline_target(&self, request: Request<pb::RebaselineTargetRequest>) -> Reply<pb::Target> {
        duban_kit::telemetry::record_request_id(&request.get_ref().request_id);
        let (state, caller) = self.caller(&request).await?;
        reply(state.targets.rebaseline(&caller, request.into_inner()).await)
    }

    async fn list_target_revisions(
        &self,
        request: Request<pb::ListTargetRevisionsRequest>,
    ) -> Reply<pb::ListTargetRevisionsResponse> {
        let (state, _) = self.caller(&request).await?;
        reply(state.targets.list_revisions(request.get_ref()).await)
    }

    async fn get_trajectory(&self, request: Request<pb::GetTrajectoryRequest>) -> Reply<pb::GetTrajectoryResponse> {
        let (state, _) = self.caller(&request).await?;
        reply(state.targets.get_trajectory(request.get_ref()).await)
    }
}

/// Implements `duban.targets.v1.TargetsInternalService`: the suite's own plumbing, which
/// the gateway's front door does not forward.
#[tonic::async_trait]
impl TargetsInternalService for TargetsGrpc {
    async fn sync_plan_targets(
        &self,
        request: Request<pb::SyncPlanTargetsRequest>,
    ) -> Reply<pb::SyncPlanTargetsResponse> {
        duban_kit::telemetry::record_request_id(&request.get_ref().request_id);
        let (state, caller) = self.caller(&request).await?;
        reply(state.targets.sync_plan_targets(&caller, request.into_inner()).await)
    }
}
