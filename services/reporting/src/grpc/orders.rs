//! The gRPC adapter of `duban.reporting.v1.SupervisionOrdersService`: thin handlers over
//! the domain's orders family, sharing the reporting server's state.

use duban_kit::{
    Ready,
    auth::Verified,
    server::{Reply, reply},
};
use duban_proto::reporting::v1::{self as pb, supervision_orders_service_server::SupervisionOrdersService};
use tonic::{Request, Status};

use super::State;
use crate::{
    error::ReportingError,
    service::{DecisionRequest, order_rules::Action},
};

/// Implements `duban.reporting.v1.SupervisionOrdersService`.
#[derive(Debug, Clone)]
pub struct OrdersGrpc {
    /// The reporting server's state, once the database is ready.
    pub ready: Ready<State>,
}

impl OrdersGrpc {
    async fn caller<T>(&self, request: &Request<T>) -> Result<(&State, Verified), Status> {
        self.ready
            .caller_with(request.metadata(), |e| ReportingError::Auth(e).into())
            .await
    }

    async fn decide<T: prost::Message>(&self, request: Request<T>, action: Action) -> Reply<pb::Order>
    where
        for<'a> DecisionRequest: From<&'a T>,
    {
        let decision = DecisionRequest::from(request.get_ref());
        duban_kit::telemetry::record_request_id(&decision.request_id);
        let (state, caller) = self.caller(&request).await?;
        reply(
            state
                .reporting
                .decide_order(&caller, action, decision, request.get_ref())
                .await,
        )
    }
}

#[tonic::async_trait]
impl SupervisionOrdersService for OrdersGrpc {
    async fn open_order(&self, request: Request<pb::OpenOrderRequest>) -> Reply<pb::Order> {
        duban_kit::telemetry::record_request_id(&request.get_ref().request_id);
        let (state, caller) = self.caller(&request).await?;
        reply(state.reporting.open_order(&caller, request.get_ref()).await)
    }

    async fn get_order(&self, request: Request<pb::GetOrderRequest>) -> Reply<pb::Order> {
        let (state, caller) = self.caller(&request).await?;
        reply(state.reporting.get_order(&caller, request.get_ref()).await)
    }

    async fn list_orders(&self, request: Request<pb::ListOrdersRequest>) -> Reply<pb::ListOrdersResponse> {
        let (state, caller) = self.caller(&request).await?;
        reply(state.reporting.list_orders(&caller, request.get_ref()).await)
    }

    async fn respond_to_order(&self, request: Request<pb::RespondToOrderRequest>) -> Reply<pb::Order> {
        self.decide(request, Action::Respond).await
    }

    async fn accept_order_response(&self, request: Request<pb::AcceptOrderResponseRequest>) -> Reply<pb::Order> {
        self.decide(request, Action::Accept).await
    }

    async fn return_order_response(&self, request: Request<pb::ReturnOrderResponseRequest>) -> Reply<pb::Order> {
        self.decide(request, Action::Return).await
    }

    async fn withdraw_order(&self, request: Request<pb::WithdrawOrderRequest>) -> Reply<pb::Order> {
        self.decide(request, Action::Withdraw).await
    }
}
