//! The gRPC adapter of `duban.reporting.v1.NoticesService`, beside ReportingService on
//! the same server and state: each handler authenticates and hands over to the domain.

use duban_kit::{
    Ready,
    auth::Verified,
    server::{Reply, reply},
};
use duban_proto::reporting::v1::{self as pb, notices_service_server::NoticesService};
use tonic::{Request, Status};

use super::State;
use crate::error::ReportingError;

/// Implements `duban.reporting.v1.NoticesService`.
#[derive(Debug, Clone)]
pub struct NoticesGrpc {
    /// The state, once the database is ready.
    pub ready: Ready<State>,
}

impl NoticesGrpc {
    async fn caller<T>(&self, request: &Request<T>) -> Result<(&State, Verified), Status> {
        self.ready
            .caller_with(request.metadata(), |e| ReportingError::Auth(e).into())
            .await
    }
}

#[tonic::async_trait]
impl NoticesService for NoticesGrpc {
    async fn list_notices(&self, request: Request<pb::ListNoticesRequest>) -> Reply<pb::ListNoticesResponse> {
        let (state, caller) = self.caller(&request).await?;
        reply(state.reporting.list_notices(&caller, request.get_ref()).await)
    }

    async fn get_follow_up_summary(
        &self,
        request: Request<pb::GetFollowUpSummaryRequest>,
    ) -> Reply<pb::FollowUpSummary> {
        let (state, caller) = self.caller(&request).await?;
        reply(state.reporting.get_follow_up_summary(&caller, request.get_ref()).await)
    }

    async fn get_notice(&self, request: Request<pb::GetNoticeRequest>) -> Reply<pb::Notice> {
        let (state, caller) = self.caller(&request).await?;
        reply(state.reporting.get_notice(&caller, request.get_ref()).await)
    }

    async fn acknowledge_notice(&self, request: Request<pb::AcknowledgeNoticeRequest>) -> Reply<pb::Notice> {
        let (state, caller) = self.caller(&request).await?;
        reply(state.reporting.acknowledge_notice(&caller, request.get_ref()).await)
    }

    async fn evaluate_notices(
        &self,
        request: Request<pb::EvaluateNoticesRequest>,
    ) -> Reply<pb::EvaluateNoticesResponse> {
        let (state, caller) = self.caller(&request).await?;
        reply(state.reporting.evaluate_notices(&caller, request.get_ref()).await)
    }

    async fn requeue_notice(&self, request: Request<pb::RequeueNoticeRequest>) -> Reply<pb::Notice> {
        let (state, caller) = self.caller(&request).await?;
        reply(state.reporting.requeue_notice(&caller, request.get_ref()).await)
    }
}
