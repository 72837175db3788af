//! A departments server for a test (started by the harness), and clients that talk to it.

use std::{net::SocketAddr, time::Duration};

use duban_harness::{Caller, DepartmentsClient, Server, Suite};
use duban_kit::{
    GrpcServer, Settings,
    testing::{self, Backend},
};
use duban_proto::departments::v1::{
    self as pb, departments_internal_service_client::DepartmentsInternalServiceClient,
    departments_service_client::DepartmentsServiceClient,
};
use tonic::{Code, Status};
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient};
use tonic_types::StatusExt;

/// The generated client over a channel that carries a bearer token.
pub type Client = DepartmentsClient;

/// The internal service's client over a channel that carries a bearer token.
pub type InternalClient = DepartmentsInternalServiceClient<duban_kit::client::ServiceChannel>;

/// How long a server may take to become SERVING.
pub const STARTUP: Duration = Duration::from_secs(30);

/// The embedded Jiading directory: 34 plan units, 12 towns, 6 groups.
pub fn directory() -> duban_catalog::Directory {
    duban_catalog::jiading_2023().0
}

/// A running departments server on its own fresh database (through the harness).
pub struct TestServer {
    suite: Suite,
}

impl TestServer {
    /// A SERVING server on a fresh database, or `None` when the backend is skipped.
    pub async fn start(backend: Backend) -> Option<TestServer> {
        let suite = Suite::builder(backend)
            .with(Server::Departments)
            .startup_timeout(STARTUP)
            .start()
            .await?;
        Some(TestServer { suite })
    }

    /// Stops the server and starts a new one with the same settings on the same database.
    pub async fn restart(mut self) -> TestServer {
        self.suite.restart(Server::Departments).await;
        self
    }

    /// Stops the server (and then drops its database).
    pub async fn stop(self) {
        self.suite.stop().await;
    }

    /// The settings it was started with (tokens included).
    pub fn settings(&self) -> &Settings {
        self.suite.settings()
    }

    /// The running server, for a test that shuts it down itself; the database stays
    /// until `self` is dropped.
    pub fn take_server(&mut self) -> GrpcServer {
        self.suite.take(Server::Departments)
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.suite.addr(Server::Departments)
    }

    /// A client that sends `token`, or no `authorization` at all for `None`.
    pub fn client(&self, token: Option<&str>) -> Client {
        self.suite.departments(token.map_or(Caller::Anonymous, Caller::Token))
    }

    /// A client acting as the bootstrap administrator.
    pub fn admin(&self) -> Client {
        self.suite.departments(Caller::Admin)
    }

    /// A client acting as another Duban service (the configured service token).
    pub fn service(&self) -> Client {
        self.suite.departments(Caller::Service)
    }

    /// A client of the internal service (AuthenticateToken) that sends `token`.
    pub fn internal(&self, token: &str) -> InternalClient {
        DepartmentsInternalServiceClient::new(testing::channel(self.addr(), Some(token)))
    }

    /// A client of the internal service acting as another Duban service.
    pub fn internal_service(&self) -> InternalClient {
        self.internal(&self.settings().auth.service_token)
    }

    /// A client that sends no credentials.
    pub fn anonymous(&self) -> Client {
        self.suite.departments(Caller::Anonymous)
    }

    /// A client acting as department `code`, with a freshly issued token.
    pub async fn department(&self, code: &str) -> Client {
        let (_, token) = issue_department_token(&mut self.admin(), code, "").await;
        self.client(Some(&token))
    }
}

/// A departments client for the server at `addr`.
pub fn client(addr: SocketAddr, token: Option<&str>) -> Client {
    DepartmentsServiceClient::new(testing::channel(addr, token))
}

/// Issues a ROLE_DEPARTMENT credential for `code`; returns it and its token.
pub async fn issue_department_token(admin: &mut Client, code: &str, request_id: &str) -> (pb::Credential, String) {
    let response = admin
        .issue_credential(pb::IssueCredentialRequest {
            credential: Some(pb::Credential {
                role: pb::Role::Department as i32,
                department: code.to_owned(),
                description: format!("{code} test reporter"),
                ..Default::default()
            }),
            request_id: request_id.to_owned(),
            validate_only: false,
        })
        .await
        .expect("the admin issues a department credential")
        .into_inner();
    (response.credential.expect("a credential"), response.token)
}

/// The error of `result` (a call's result, or a helper's), which must have `code`.
#[track_caller]
pub fn expect_code<T: std::fmt::Debug>(result: Result<T, Status>, code: Code) -> Status {
    match result {
        Ok(value) => panic!("expected {code:?}, got OK: {value:?}"),
        Err(status) => {
            assert_eq!(status.code(), code, "unexpected status: {status:?}");
            status
        }
    }
}

/// The fields of the status's BadRequest violations, in order.
pub fn violated_fields(status: &Status) -> Vec<String> {
    duban_kit::status::field_violations(status)
        .into_iter()
        .map(|violation| violation.field)
        .collect()
}

/// One `ErrorInfo.metadata` entry of a status.
pub fn error_metadata(status: &Status, key: &str) -> Option<String> {
    status.get_details_error_info()?.metadata.get(key).cloned()
}

/// What a walk through every page of ListDepartments saw.
#[derive(Debug)]
pub struct Listing {
    /// The units, in the order served.
    pub units: Vec<pb::Department>,
    /// How many units each page had.
    pub page_sizes: Vec<usize>,
    /// The `total_size` each page reported.
    pub total_sizes: Vec<i32>,
}

/// Every unit of `kind` (UNSPECIFIED for all), following page tokens to the end.
pub async fn list_all_departments(client: &mut Client, kind: pb::DepartmentKind, page_size: i32) -> Listing {
    let mut listing = Listing {
        units: Vec::new(),
        page_sizes: Vec::new(),
        total_sizes: Vec::new(),
    };
    let mut token = String::new();
    loop {
        let page = client
            .list_departments(pb::ListDepartmentsRequest {
                page_size,
                page_token: token,
                kind: kind as i32,
            })
            .await
            .expect("ListDepartments")
            .into_inner();
        listing.page_sizes.push(page.departments.len());
        listing.total_sizes.push(page.total_size);
        listing.units.extend(page.departments);
        token = page.next_page_token;
        if token.is_empty() {
            return listing;
        }
        assert!(listing.page_sizes.len() < 100, "page tokens never end");
    }
}

/// Every group.
pub async fn all_groups(client: &mut Client) -> Vec<pb::Group> {
    client
        .list_groups(pb::ListGroupsRequest::default())
        .await
        .expect("ListGroups")
        .into_inner()
        .groups
}

/// The number of credentials, revoked ones included or not.
pub async fn credential_count(admin: &mut Client, show_revoked: bool) -> usize {
    admin
        .list_credentials(pb::ListCredentialsRequest {
            page_size: 500,
            page_token: String::new(),
            show_revoked,
        })
        .await
        .expect("ListCredentials")
        .into_inner()
        .credentials
        .len()
}

/// grpc.health.v1 `Check` of `service`.
pub async fn health_status(health: &mut HealthClient<tonic::transport::Channel>, service: &str) -> ServingStatus {
    health
        .check(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await
        .expect("health Check answers")
        .get_ref()
        .status()
}

/// The next status of a health `Watch` stream, waiting at most `within`.
pub async fn next_watched(
    stream: &mut tonic::Streaming<tonic_health::pb::HealthCheckResponse>,
    within: Duration,
) -> Option<ServingStatus> {
    match tokio::time::timeout(within, stream.message()).await {
        Ok(Ok(Some(response))) => Some(response.status()),
        Ok(Ok(None) | Err(_)) => None,
        Err(_) => panic!("the health Watch stream sent nothing within {within:?}"),
    }
}
