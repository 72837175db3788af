//! The gRPC adapter: each handler authenticates, hands the request to the domain, and
//! turns the domain's error into a status. No rule lives here.

use std::time::Duration;

use duban_kit::{
    Authenticator, Ready,
    server::{Reply, reply},
};
use duban_proto::departments::v1::{
    self as pb, departments_internal_service_server::DepartmentsInternalService,
    departments_service_server::DepartmentsService,
};
use tonic::{Request, Response};

use crate::service::Departments;

/// What the handlers need once the database is ready.
#[derive(Debug)]
pub struct State {
    /// The domain.
    pub departments: Departments,
    /// Checks callers' tokens.
    pub auth: Authenticator,
    /// How long other services may cache an AuthenticateToken answer.
    pub token_cache_ttl: Duration,
    /// The directory loaded at start.
    pub directory: pb::Directory,
}

impl duban_kit::server::Authenticates for State {
    fn authenticator(&self) -> &Authenticator {
        &self.auth
    }
}

/// Implements `duban.departments.v1.DepartmentsService`.
#[derive(Debug, Clone)]
pub struct DepartmentsGrpc {
    /// The state, once the database is ready.
    pub ready: Ready<State>,
}

impl DepartmentsGrpc {}

#[tonic::async_trait]
impl DepartmentsService for DepartmentsGrpc {
    async fn get_directory(&self, request: Request<pb::GetDirectoryRequest>) -> Reply<pb::Directory> {
        let (state, _) = self.ready.principal(&request).await?;
        Ok(Response::new(state.directory.clone()))
    }

    async fn get_department(&self, request: Request<pb::GetDepartmentRequest>) -> Reply<pb::Department> {
        let (state, _) = self.ready.principal(&request).await?;
        reply(state.departments.get_department(&request.get_ref().name).await)
    }

    async fn list_departments(
        &self,
        request: Request<pb::ListDepartmentsRequest>,
    ) -> Reply<pb::ListDepartmentsResponse> {
        let (state, _) = self.ready.principal(&request).await?;
        reply(state.departments.list_departments(request.get_ref()).await)
    }

    async fn create_department(&self, request: Request<pb::CreateDepartmentRequest>) -> Reply<pb::Department> {
        duban_kit::telemetry::record_request_id(&request.get_ref().request_id);
        let (state, caller) = self.ready.principal(&request).await?;
        reply(state.departments.create_department(&caller, request.into_inner()).await)
    }

    async fn update_department(&self, request: Request<pb::UpdateDepartmentRequest>) -> Reply<pb::Department> {
        duban_kit::telemetry::record_request_id(&request.get_ref().request_id);
        let (state, caller) = self.ready.principal(&request).await?;
        reply(state.departments.update_department(&caller, request.into_inner()).await)
    }

    async fn get_group(&self, request: Request<pb::GetGroupRequest>) -> Reply<pb::Group> {
        let (state, _) = self.ready.principal(&request).await?;
        reply(state.departments.get_group(&request.get_ref().name).await)
    }

    async fn list_groups(&self, request: Request<pb::ListGroupsRequest>) -> Reply<pb::ListGroupsResponse> {
        let (state, _) = self.ready.principal(&request).await?;
        reply(state.departments.list_groups(request.get_ref()).await)
    }

    async fn resolve_unit(&self, request: Request<pb::ResolveUnitRequest>) -> Reply<pb::ResolveUnitResponse> {
        let (state, _) = self.ready.principal(&request).await?;
        reply(state.departments.resolve_unit(&request.get_ref().written).await)
    }

    async fn get_group_designation(
        &self,
        request: Request<pb::GetGroupDesignationRequest>,
    ) -> Reply<pb::GroupDesignation> {
        let (state, _) = self.ready.principal(&request).await?;
        reply(state.departments.get_designation(request.get_ref()).await)
    }

    async fn list_group_designations(
        &self,
        request: Request<pb::ListGroupDesignationsRequest>,
    ) -> Reply<pb::ListGroupDesignationsResponse> {
        let (state, _) = self.ready.principal(&request).await?;
        reply(state.departments.list_designations(request.get_ref()).await)
    }

    async fn update_group_designation(
        &self,
        request: Request<pb::UpdateGroupDesignationRequest>,
    ) -> Reply<pb::GroupDesignation> {
        duban_kit::telemetry::record_request_id(&request.get_ref().request_id);
        let (state, caller) = self.ready.principal(&request).await?;
        reply(
            state
                .departments
                .update_designation(&caller, request.into_inner())
                .await,
        )
    }

    async fn issue_credential(
        &self,
        request: Request<pb::IssueCredentialRequest>,
    ) -> Reply<pb::IssueCredentialResponse> {
        duban_kit::telemetry::record_request_id(&request.get_ref().request_id);
        let (state, caller) = self.ready.principal(&request).await?;
        reply(state.departments.issue_credential(&caller, request.into_inner()).await)
    }

    async fn list_credentials(
        &self,
        request: Request<pb::ListCredentialsRequest>,
    ) -> Reply<pb::ListCredentialsResponse> {
        let (state, caller) = self.ready.principal(&request).await?;
        reply(state.departments.list_credentials(&caller, request.get_ref()).await)
    }

    async fn revoke_credential(&self, request: Request<pb::RevokeCredentialRequest>) -> Reply<pb::Credential> {
        duban_kit::telemetry::record_request_id(&request.get_ref().request_id);
        let (state, caller) = self.ready.principal(&request).await?;
        reply(state.departments.revoke_credential(&caller, request.into_inner()).await)
    }

    async fn get_caller_identity(&self, request: Request<pb::GetCallerIdentityRequest>) -> Reply<pb::CallerIdentity> {
        let (state, caller) = self.ready.caller(request.metadata()).await?;
        reply(state.departments.caller_identity(&caller).await)
    }

    async fn create_endpoint(&self, request: Request<pb::CreateEndpointRequest>) -> Reply<pb::CreateEndpointResponse> {
        duban_kit::telemetry::record_request_id(&request.get_ref().request_id);
        let (state, caller) = self.ready.principal(&request).await?;
        reply(state.departments.create_endpoint(&caller, request.into_inner()).await)
    }

    async fn get_endpoint(&self, request: Request<pb::GetEndpointRequest>) -> Reply<pb::NotificationEndpoint> {
        let (state, caller) = self.ready.principal(&request).await?;
        reply(state.departments.get_endpoint(&caller, &request.get_ref().name).await)
    }

    async fn list_endpoints(&self, request: Request<pb::ListEndpointsRequest>) -> Reply<pb::ListEndpointsResponse> {
        let (state, caller) = self.ready.principal(&request).await?;
        reply(state.departments.list_endpoints(&caller, request.get_ref()).await)
    }

    async fn update_endpoint(&self, request: Request<pb::UpdateEndpointRequest>) -> Reply<pb::NotificationEndpoint> {
        duban_kit::telemetry::record_request_id(&request.get_ref().request_id);
        let (state, caller) = self.ready.principal(&request).await?;
        reply(state.departments.update_endpoint(&caller, request.into_inner()).await)
    }

    async fn delete_endpoint(&self, request: Request<pb::DeleteEndpointRequest>) -> Reply<pb::NotificationEndpoint> {
        duban_kit::telemetry::record_request_id(&request.get_ref().request_id);
        let (state, caller) = self.ready.principal(&request).await?;
        reply(state.departments.delete_endpoint(&caller, request.into_inner()).await)
    }

    async fn rotate_endpoint_secret(
        &self,
        request: Request<pb::RotateEndpointSecretRequest>,
    ) -> Reply<pb::RotateEndpointSecretResponse> {
        duban_kit::telemetry::record_request_id(&request.get_ref().request_id);
        let (state, caller) = self.ready.principal(&request).await?;
        reply(
            state
                .departments
                .rotate_endpoint_secret(&caller, request.into_inner())
                .await,
        )
    }
}

/// Implements `duban.departments.v1.DepartmentsInternalService`: the suite's own
/// plumbing, which the gateway's front door does not forward.
#[tonic::async_trait]
impl DepartmentsInternalService for DepartmentsGrpc {
    async fn authenticate_token(
        &self,
        request: Request<pb::AuthenticateTokenRequest>,
    ) -> Reply<pb::AuthenticateTokenResponse> {
        let (state, caller) = self.ready.principal(&request).await?;
        reply(
            state
                .departments
                .authenticate_token(&caller, &request.get_ref().token, state.token_cache_ttl)
                .await,
        )
    }

    async fn list_delivery_endpoints(
        &self,
        request: Request<pb::ListDeliveryEndpointsRequest>,
    ) -> Reply<pb::ListDeliveryEndpointsResponse> {
        let (state, caller) = self.ready.principal(&request).await?;
        reply(
            state
                .departments
                .list_delivery_endpoints(&caller, request.get_ref())
                .await,
        )
    }
}
