//! A running suite: where each server listens, clients for it, tokens, and stopping or
//! restarting one server.

use std::{collections::BTreeMap, net::SocketAddr, time::Duration};

use duban_kit::{
    GrpcServer, Settings,
    client::ServiceChannel,
    testing::{self, Backend, TestDatabase},
};
use duban_proto::{
    departments::v1::{self as dpb, departments_service_client::DepartmentsServiceClient},
    gateway::v1::dashboard_service_client::DashboardServiceClient,
    measures::v1::{self as mpb, measures_service_client::MeasuresServiceClient},
    reporting::v1::{notices_service_client::NoticesServiceClient, reporting_service_client::ReportingServiceClient},
    targets::v1::targets_service_client::TargetsServiceClient,
};

use crate::{Certificates, Server, StartError, SuiteBuilder};

/// The departments service's generated client, over a channel that carries a token.
pub type DepartmentsClient = DepartmentsServiceClient<ServiceChannel>;
/// The targets service's generated client.
pub type TargetsClient = TargetsServiceClient<ServiceChannel>;
/// The measures service's generated client.
pub type MeasuresClient = MeasuresServiceClient<ServiceChannel>;
/// The reporting service's generated client.
pub type ReportingClient = ReportingServiceClient<ServiceChannel>;
/// The reporting server's NoticesService client.
pub type NoticesClient = NoticesServiceClient<ServiceChannel>;
/// The gateway's DashboardService client.
pub type DashboardClient = DashboardServiceClient<ServiceChannel>;

/// Who a client acts as: the token its calls carry.
#[derive(Debug, Clone, Copy)]
pub enum Caller<'a> {
    /// The bootstrap administrator (`auth.bootstrap_admin_token`).
    Admin,
    /// Another Duban service (`auth.service_token`).
    Service,
    /// No `authorization` at all.
    Anonymous,
    /// This token, for example one from [`Suite::issue_token`].
    Token(&'a str),
}

impl<'a> From<&'a str> for Caller<'a> {
    fn from(token: &'a str) -> Self {
        Caller::Token(token)
    }
}

impl<'a> From<&'a String> for Caller<'a> {
    fn from(token: &'a String) -> Self {
        Caller::Token(token)
    }
}

/// Servers of the Duban suite running in this process on loopback, each on its own
/// fresh database, sharing fresh tokens. Start one with [`Suite::builder`]; end it
/// with [`Suite::stop`]. The databases are removed when it is dropped.
pub struct Suite {
    backend: Backend,
    settings: Settings,
    reporting_options: duban_reporting::Options,
    startup: Duration,
    running: BTreeMap<Server, GrpcServer>,
    /// Where each server listens, kept when it is stopped.
    addrs: BTreeMap<Server, SocketAddr>,
    /// Where each server serves `/metrics`, kept when it is stopped.
    metrics_addrs: BTreeMap<Server, SocketAddr>,
    /// Declared after the servers: dropped after them.
    databases: BTreeMap<Server, TestDatabase>,
    /// The servers that reach their database through a proxy, and its address.
    proxied: BTreeMap<Server, SocketAddr>,
    /// Under TLS, the CA and certificates the servers use.
    certificates: Option<Certificates>,
}

impl Suite {
    /// A builder for a suite on `backend`, with no server yet:
    /// `Suite::builder(backend).with(Server::Reporting).start().await`.
    pub fn builder(backend: Backend) -> SuiteBuilder {
        SuiteBuilder::new(backend)
    }

    pub(crate) fn new(
        backend: Backend,
        settings: Settings,
        reporting_options: duban_reporting::Options,
        startup: Duration,
        databases: BTreeMap<Server, TestDatabase>,
        proxied: BTreeMap<Server, SocketAddr>,
        certificates: Option<Certificates>,
    ) -> Suite {
        Suite {
            backend,
            settings,
            reporting_options,
            startup,
            running: BTreeMap::new(),
            addrs: BTreeMap::new(),
            metrics_addrs: BTreeMap::new(),
            databases,
            proxied,
            certificates,
        }
    }

    /// Points `server`'s settings at its database and an ephemeral port.
    pub(crate) fn prepare(&mut self, server: Server) {
        let url = self.databases.get(&server).map_or("", TestDatabase::url);
        let url = match self.proxied.get(&server) {
            Some(proxy) => crate::proxy::through(url, *proxy),
            None => url.to_owned(),
        };
        server.prepare(&mut self.settings, &url);
    }

    /// Starts `server` with the current settings and waits until it is SERVING.
    pub(crate) async fn launch(&mut self, server: Server) -> Result<(), StartError> {
        let started = server
            .launch(&self.settings, &self.reporting_options)
            .await
            .map_err(|source| StartError::Start { server, source })?;
        let (addr, metrics_addr) = (started.local_addr(), started.metrics_addr());
        self.running.insert(server, started);
        testing::until_serving_with(&self.settings.client, addr, server.grpc_service(), self.startup).await?;
        server.listening(&mut self.settings, addr, metrics_addr);
        self.addrs.insert(server, addr);
        self.metrics_addrs.insert(server, metrics_addr);
        Ok(())
    }

    /// Imports the Jiading 2023 plan through ImportPlan, as the administrator.
    pub(crate) async fn import_plan(&self) -> Result<(), StartError> {
        self.measures(Caller::Admin)
            .import_plan(mpb::ImportPlanRequest {
                dataset: Some(crate::jiading_dataset()),
                request_id: uuid::Uuid::new_v4().to_string(),
                ..Default::default()
            })
            .await
            .map_err(|status| StartError::Import(Box::new(status)))?;
        Ok(())
    }

    /// The backend the databases are on.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The settings the servers run with: tokens, limits, and each started server's
    /// `listen` and `endpoint`.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The bootstrap administrator's token.
    pub fn admin_token(&self) -> &str {
        &self.settings.auth.bootstrap_admin_token
    }

    /// The token the servers accept from each other.
    pub fn service_token(&self) -> &str {
        &self.settings.auth.service_token
    }

    /// The CA and certificates, when the suite runs over TLS ([`crate::Transport`]).
    pub fn certificates(&self) -> Option<&Certificates> {
        self.certificates.as_ref()
    }

    /// Where `server` listens (or listened, if it was stopped).
    ///
    /// # Panics
    ///
    /// If `server` was never started in this suite.
    pub fn addr(&self, server: Server) -> SocketAddr {
        match self.addrs.get(&server) {
            Some(addr) => *addr,
            None => panic!("the {server} server is not part of this suite"),
        }
    }

    /// Where `server` serves Prometheus `/metrics` (or served, if it was stopped).
    ///
    /// # Panics
    ///
    /// If `server` was never started in this suite.
    pub fn metrics_addr(&self, server: Server) -> SocketAddr {
        match self.metrics_addrs.get(&server) {
            Some(addr) => *addr,
            None => panic!("the {server} server is not part of this suite"),
        }
    }

    /// `server`'s database URL, for reading it directly or for a second server on it.
    ///
    /// # Panics
    ///
    /// If `server` has no database in this suite.
    pub fn database_url(&self, server: Server) -> &str {
        match self.databases.get(&server) {
            Some(database) => database.url(),
            None => panic!("the {server} server has no database in this suite"),
        }
    }

    /// A lazily connecting channel to `server` whose calls carry `caller`'s token and a
    /// 10 s deadline, over TLS as the servers' own calls are (`client.tls`).
    pub fn channel<'a>(&self, server: Server, caller: impl Into<Caller<'a>>) -> ServiceChannel {
        let token = match caller.into() {
            Caller::Admin => Some(self.admin_token()),
            Caller::Service => Some(self.service_token()),
            Caller::Anonymous => None,
            Caller::Token(token) => Some(token),
        };
        testing::channel_with(&self.settings.client, self.addr(server), token)
    }

    /// A departments client acting as `caller`.
    pub fn departments<'a>(&self, caller: impl Into<Caller<'a>>) -> DepartmentsClient {
        DepartmentsServiceClient::new(self.channel(Server::Departments, caller))
    }

    /// A targets client acting as `caller`.
    pub fn targets<'a>(&self, caller: impl Into<Caller<'a>>) -> TargetsClient {
        TargetsServiceClient::new(self.channel(Server::Targets, caller))
    }

    /// A measures client acting as `caller`.
    pub fn measures<'a>(&self, caller: impl Into<Caller<'a>>) -> MeasuresClient {
        MeasuresServiceClient::new(self.channel(Server::Measures, caller))
    }

    /// A reporting client acting as `caller`.
    pub fn reporting<'a>(&self, caller: impl Into<Caller<'a>>) -> ReportingClient {
        ReportingServiceClient::new(self.channel(Server::Reporting, caller))
    }

    /// A NoticesService client (on the reporting server) acting as `caller`.
    pub fn notices<'a>(&self, caller: impl Into<Caller<'a>>) -> NoticesClient {
        NoticesServiceClient::new(self.channel(Server::Reporting, caller))
    }

    /// A DashboardService client on the gateway, acting as `caller`.
    pub fn dashboard<'a>(&self, caller: impl Into<Caller<'a>>) -> DashboardClient {
        DashboardServiceClient::new(self.channel(Server::Gateway, caller))
    }

    /// A fresh token with `role` (and `department`, for ROLE_DEPARTMENT), issued by the
    /// administrator.
    ///
    /// # Panics
    ///
    /// If the departments server refuses.
    pub async fn issue_token(&self, role: dpb::Role, department: &str) -> String {
        self.departments(Caller::Admin)
            .issue_credential(dpb::IssueCredentialRequest {
                credential: Some(dpb::Credential {
                    role: role as i32,
                    department: department.to_owned(),
                    description: "issued by the test harness".into(),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .await
            .unwrap_or_else(|status| panic!("the administrator cannot issue a {role:?} token: {status:?}"))
            .into_inner()
            .token
    }

    /// Shuts `server` down (its address and database stay); nothing if it is not
    /// running.
    pub async fn shut_down(&mut self, server: Server) {
        if let Some(running) = self.running.remove(&server) {
            running.shutdown().await;
        }
    }

    /// Kills `server` as a crash would ([`GrpcServer::kill`]: no drain, connections cut
    /// mid-call); its address and database stay, for [`Suite::restart`]. Nothing if it
    /// is not running.
    pub async fn kill(&mut self, server: Server) {
        if let Some(running) = self.running.remove(&server) {
            running.kill().await;
        }
    }

    /// Takes the running `server` out of the suite, for a test that shuts it down
    /// itself (while watching a stream, say).
    ///
    /// # Panics
    ///
    /// If `server` is not running.
    pub fn take(&mut self, server: Server) -> GrpcServer {
        self.running
            .remove(&server)
            .unwrap_or_else(|| panic!("the {server} server is not running"))
    }

    /// Starts `server` again (shutting it down first if it runs) with the same
    /// settings, on the same port and database, and waits until it is SERVING.
    ///
    /// # Panics
    ///
    /// If it does not start or become SERVING.
    pub async fn restart(&mut self, server: Server) {
        self.shut_down(server).await;
        if let Err(error) = self.launch(server).await {
            panic!("cannot restart: {error}");
        }
    }

    /// Starts another copy of `server` with the same settings and database, on its own
    /// ephemeral ports (gRPC and metrics), and waits until it is SERVING: a replica, as Kubernetes would run
    /// it (replicas need PostgreSQL; on SQLite reporting refuses a second copy). The
    /// replica is the caller's to shut down.
    pub async fn start_replica(&self, server: Server) -> Result<Replica, StartError> {
        let mut settings = self.settings.clone();
        let any_port = SocketAddr::from(([127, 0, 0, 1], 0));
        server.listening(&mut settings, any_port, any_port);
        let started = server
            .launch(&settings, &self.reporting_options)
            .await
            .map_err(|source| StartError::Start { server, source })?;
        let addr = started.local_addr();
        testing::until_serving_with(&settings.client, addr, server.grpc_service(), self.startup).await?;
        Ok(Replica {
            server: started,
            addr,
            client: settings.client,
        })
    }

    /// Shuts every running server down, the last started first.
    pub async fn stop(mut self) {
        while let Some((_, server)) = self.running.pop_last() {
            server.shutdown().await;
        }
    }
}

/// A second copy of a server of the suite, from [`Suite::start_replica`].
pub struct Replica {
    server: GrpcServer,
    addr: SocketAddr,
    client: duban_kit::settings::ClientSettings,
}

impl Replica {
    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A reporting client to this replica, carrying `token`.
    pub fn reporting(&self, token: &str) -> ReportingClient {
        ReportingServiceClient::new(testing::channel_with(&self.client, self.addr, Some(token)))
    }

    /// Shuts it down.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}
