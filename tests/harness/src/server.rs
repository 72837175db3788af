//! The five servers of the suite: what each needs running first, where its settings
//! live, and how it is started.

use std::{fmt, net::SocketAddr};

use duban_kit::{GrpcServer, Settings, settings::ServiceSettings, testing};
use duban_proto::{
    departments::v1::departments_service_server, gateway::v1::dashboard_service_server,
    measures::v1::measures_service_server, reporting::v1::reporting_service_server,
    targets::v1::targets_service_server,
};

/// One server of the suite. The order is the start-up order: each server only calls
/// the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Server {
    /// The directory of departments, and the credentials every other server checks.
    Departments,
    /// Targets and trajectories; measures syncs the plan's targets into it.
    Targets,
    /// Plans and measures; the plan is imported here.
    Measures,
    /// Reports and progress.
    Reporting,
    /// The dashboard and front door, over all four.
    Gateway,
}

impl Server {
    /// Every server, in start-up order.
    pub const ALL: [Server; 5] = [
        Server::Departments,
        Server::Targets,
        Server::Measures,
        Server::Reporting,
        Server::Gateway,
    ];

    /// The servers that must run before this one. The gateway would start without
    /// them (its views would be partial), but a suite with a gateway has all of them.
    pub fn needs(self) -> &'static [Server] {
        match self {
            Server::Departments => &[],
            Server::Targets => &[Server::Departments],
            Server::Measures => &[Server::Departments, Server::Targets],
            Server::Reporting => &[Server::Departments, Server::Targets, Server::Measures],
            Server::Gateway => &[
                Server::Departments,
                Server::Targets,
                Server::Measures,
                Server::Reporting,
            ],
        }
    }

    /// The gRPC service it serves, as health checks know it (tonic's generated name).
    pub fn grpc_service(self) -> &'static str {
        match self {
            Server::Departments => departments_service_server::SERVICE_NAME,
            Server::Targets => targets_service_server::SERVICE_NAME,
            Server::Measures => measures_service_server::SERVICE_NAME,
            Server::Reporting => reporting_service_server::SERVICE_NAME,
            Server::Gateway => dashboard_service_server::SERVICE_NAME,
        }
    }

    /// Whether it keeps a database (every server but the gateway).
    pub fn stores(self) -> bool {
        self != Server::Gateway
    }

    /// Points this server's settings at `database_url` (ignored for the gateway) and
    /// ephemeral loopback ports (gRPC and metrics).
    pub(crate) fn prepare(self, settings: &mut Settings, database_url: &str) {
        match self.service_settings(settings) {
            Some(service) => *service = testing::test_service(database_url),
            None => {
                let any_port = SocketAddr::from(([127, 0, 0, 1], 0));
                (settings.gateway.listen, settings.gateway.metrics_listen) = (any_port, any_port);
            }
        }
    }

    /// Records where this server listens: the servers started after it reach it
    /// there, and a restart binds the same ports.
    pub(crate) fn listening(self, settings: &mut Settings, addr: SocketAddr, metrics_addr: SocketAddr) {
        let endpoint = testing::endpoint(addr);
        match self.service_settings(settings) {
            Some(service) => {
                (service.listen, service.endpoint, service.metrics_listen) = (addr, endpoint, metrics_addr);
            }
            None => {
                let gateway = &mut settings.gateway;
                (gateway.listen, gateway.endpoint, gateway.metrics_listen) = (addr, endpoint, metrics_addr);
            }
        }
    }

    /// Its `[departments]`-style section; `None` for the gateway, whose section differs.
    fn service_settings(self, settings: &mut Settings) -> Option<&mut ServiceSettings> {
        match self {
            Server::Departments => Some(&mut settings.departments),
            Server::Targets => Some(&mut settings.targets),
            Server::Measures => Some(&mut settings.measures),
            Server::Reporting => Some(&mut settings.reporting),
            Server::Gateway => None,
        }
    }

    /// Starts this server with `settings` (departments seeds the Jiading directory;
    /// reporting takes `options`). It is not SERVING yet.
    pub(crate) async fn launch(
        self,
        settings: &Settings,
        options: &duban_reporting::Options,
    ) -> std::io::Result<GrpcServer> {
        match self {
            Server::Departments => duban_departments::start(settings, duban_catalog::jiading_2023().0).await,
            Server::Targets => duban_targets::start(settings).await,
            Server::Measures => duban_measures::start(settings).await,
            Server::Reporting => duban_reporting::start_with(settings, options.clone()).await,
            Server::Gateway => duban_gateway::start(settings).await,
        }
    }
}

impl fmt::Display for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Server::Departments => "departments",
            Server::Targets => "targets",
            Server::Measures => "measures",
            Server::Reporting => "reporting",
            Server::Gateway => "gateway",
        })
    }
}
