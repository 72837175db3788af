//! The gRPC adapter: each handler authenticates, hands the request to the domain, and
//! turns the domain's error into a status. No rule lives here.

use duban_kit::{
    Authenticator, Ready,
    server::{Reply, reply},
};
use duban_proto::measures::v1::{self as pb, measures_service_server::MeasuresService};
use tonic::Request;

use crate::service::Measures;

/// What the handlers need once the database is ready.
#[derive(Debug)]
pub struct State {
    /// The domain.
    pub measures: Measures,
    /// Checks callers' tokens.
    pub auth: Authenticator,
}

impl duban_kit::server::Authenticates for State {
    fn authenticator(&self) -> &Authenticator {
        &self.auth
    }
}

/// Implements `duban.measures.v1.MeasuresService`.
#[derive(Debug, Clone)]
pub struct MeasuresGrpc {
    /// The state, once the database is ready.
    pub ready: Ready<State>,
}

impl MeasuresGrpc {}

#[tonic::async_trait]
impl MeasuresService for MeasuresGrpc {
    async fn get_plan(&self, request: Request<pb::GetPlanRequest>) -> Reply<pb::Plan> {
        let (state, _) = self.ready.principal(&request).await?;
        reply(state.measures.get_plan(&request.get_ref().name).await)
    }

    async fn list_plans(&self, request: Request<pb::ListPlansRequest>) -> Reply<pb::ListPlansResponse> {
        let (state, _) = self.ready.principal(&request).await?;
        reply(state.measures.list_plans(request.get_ref()).await)
    }

    async fn get_action(&self, request: Request<pb::GetActionRequest>) -> Reply<pb::Action> {
        let (state, _) = self.ready.principal(&request).await?;
        reply(state.measures.get_action(&request.get_ref().name).await)
    }

    async fn list_actions(&self, request: Request<pb::ListActionsRequest>) -> Reply<pb::ListActionsResponse> {
        let (state, _) = self.ready.principal(&request).await?;
        reply(state.measures.list_actions(request.get_ref()).await)
    }

    async fn get_measure(&self, request: Request<pb::GetMeasureRequest>) -> Reply<pb::Measure> {
        let (state, _) = self.ready.principal(&request).await?;
        reply(state.measures.get_measure(&request.get_ref().name).await)
    }

    async fn list_measures(&self, request: Request<pb::ListMeasuresRequest>) -> Reply<pb::ListMeasuresResponse> {
        let (state, _) = self.ready.principal(&request).await?;
        reply(state.measures.list_measures(request.get_ref()).await)
    }

    async fn list_plan_revisions(
        &self,
        request: Request<pb::ListPlanRevisionsRequest>,
    ) -> Reply<pb::ListPlanRevisionsResponse> {
        let (state, _) = self.ready.principal(&request).await?;
        reply(state.measures.list_plan_revisions(request.get_ref()).await)
    }

    async fn import_plan(&self, request: Request<pb::ImportPlanRequest>) -> Reply<pb::ImportPlanResponse> {
        duban_kit::telemetry::record_request_id(&request.get_ref().request_id);
        let (state, caller) = self.ready.principal(&request).await?;
        reply(state.measures.import_plan(&caller, request.into_inner()).await)
    }

    async fn get_plan_dataset(&self, request: Request<pb::GetPlanDatasetRequest>) -> Reply<pb::GetPlanDatasetResponse> {
        let (state, _) = self.ready.principal(&request).await?;
        reply(
            state
                .measures
                .get_plan_dataset(&request.get_ref().name)
                .await
                .map(|dataset| pb::GetPlanDatasetResponse { dataset: Some(dataset) }),
        )
    }
}
