//! Choosing which servers to start and how, then starting them in order.

use std::{
    collections::{BTreeMap, BTreeSet},
    net::SocketAddr,
    time::Duration,
};

use duban_kit::{
    Settings,
    testing::{self, Backend, NotServing, TestDatabase},
    tls::certs::CertsError,
};

use crate::{Server, Suite, Transport};

/// How long a server may take to answer SERVING, unless [`SuiteBuilder::startup_timeout`]
/// says otherwise.
pub const STARTUP: Duration = Duration::from_secs(30);

/// Why a suite did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// PostgreSQL is unreachable and not required (`DUBAN_REQUIRE_POSTGRES` unset): a
    /// test skips (see [`duban_kit::testing::TestDatabase::new`]).
    #[error("the {0} database server is unreachable")]
    DatabaseUnreachable(Backend),
    /// A server did not bind or start.
    #[error("the {server} server does not start: {source}")]
    Start {
        /// Which one.
        server: Server,
        /// Why.
        source: std::io::Error,
    },
    /// A server started but did not report SERVING in time.
    #[error(transparent)]
    NotServing(#[from] NotServing),
    /// The measures server refused the Jiading plan.
    #[error("the plan does not import: {0}")]
    Import(Box<tonic::Status>),
    /// The development certificates for [`Transport::Tls`] could not be made.
    #[error("cannot make the suite's certificates: {0}")]
    Certificates(#[from] CertsError),
}

/// A change to the settings, made before any server starts.
type SettingsChange = Box<dyn FnOnce(&mut Settings) + Send>;

/// Which servers to start, on which backend, with which settings. Made by
/// [`Suite::builder`].
#[must_use]
pub struct SuiteBuilder {
    backend: Backend,
    servers: BTreeSet<Server>,
    import_plan: bool,
    configure: Vec<SettingsChange>,
    reporting_options: duban_reporting::Options,
    startup: Duration,
    transport: Transport,
    proxied: BTreeMap<Server, SocketAddr>,
}

impl SuiteBuilder {
    pub(crate) fn new(backend: Backend) -> SuiteBuilder {
        SuiteBuilder {
            backend,
            servers: BTreeSet::new(),
            import_plan: true,
            configure: Vec::new(),
            reporting_options: duban_reporting::Options::default(),
            startup: STARTUP,
            transport: Transport::Plaintext,
            proxied: BTreeMap::new(),
        }
    }

    /// Adds `server` and every server it needs ([`Server::needs`]).
    pub fn with(mut self, server: Server) -> SuiteBuilder {
        self.servers.extend(server.needs());
        self.servers.insert(server);
        self
    }

    /// Adds all five servers.
    pub fn all(self) -> SuiteBuilder {
        self.with(Server::Gateway)
    }

    /// Whether the Jiading 2023 plan is imported once measures is SERVING (and so
    /// before reporting and the gateway start). On by default; it only happens when
    /// the suite has the measures server.
    pub fn import_plan(mut self, import: bool) -> SuiteBuilder {
        self.import_plan = import;
        self
    }

    /// Changes the settings before any server starts. The harness has already set
    /// fresh tokens, a short shutdown grace, and a fast gateway refresh (200 ms watch,
    /// 1 s catalogue cache); each server's section (listen, database) is set after this.
    pub fn configure(mut self, change: impl FnOnce(&mut Settings) + Send + 'static) -> SuiteBuilder {
        self.configure.push(Box::new(change));
        self
    }

    /// The reporting server's tuning (cache expiry), kept for restarts too.
    pub fn reporting_options(mut self, options: duban_reporting::Options) -> SuiteBuilder {
        self.reporting_options = options;
        self
    }

    /// How the servers and the suite's clients talk ([`Transport::Plaintext`] by
    /// default). TLS settings are made before [`SuiteBuilder::configure`]'s changes, which
    /// may adjust them.
    pub fn transport(mut self, transport: Transport) -> SuiteBuilder {
        self.transport = transport;
        self
    }

    /// Makes `server` reach its database through `proxy` (a [`crate::TcpProxy`] the test
    /// controls) instead of directly: its `database_url` names the proxy's address, for
    /// restarts too. [`Suite::database_url`] still gives the direct URL, for reading the
    /// database whatever the proxy does. No effect on SQLite.
    pub fn database_through(mut self, server: Server, proxy: SocketAddr) -> SuiteBuilder {
        self.proxied.insert(server, proxy);
        self
    }

    /// How long each server may take to answer SERVING ([`STARTUP`] by default).
    pub fn startup_timeout(mut self, timeout: Duration) -> SuiteBuilder {
        self.startup = timeout;
        self
    }

    /// Starts the suite, or `None` when the backend is skipped (PostgreSQL unreachable
    /// and not required): `let Some(suite) = ... .start().await else { return };`.
    ///
    /// # Panics
    ///
    /// If a server does not start or become SERVING, or the plan does not import.
    pub async fn start(self) -> Option<Suite> {
        match self.try_start().await {
            Ok(suite) => Some(suite),
            Err(StartError::DatabaseUnreachable(_)) => None,
            Err(error) => panic!("the suite does not start: {error}"),
        }
    }

    /// Starts the suite: a fresh database for each server that stores, then each
    /// server in start-up order, each SERVING before the next starts. Whatever was
    /// started is stopped again on failure.
    pub async fn try_start(self) -> Result<Suite, StartError> {
        let mut databases = Vec::new();
        for server in self.servers.iter().copied().filter(|server| server.stores()) {
            let database = TestDatabase::new(self.backend)
                .await
                .ok_or(StartError::DatabaseUnreachable(self.backend))?;
            databases.push((server, database));
        }
        let mut settings = testing::test_settings("");
        settings.gateway.watch_interval_ms = 200;
        settings.gateway.catalogue_cache_seconds = 1;
        let certificates = match self.transport {
            Transport::Plaintext => None,
            transport => Some(crate::tls::Certificates::new(transport, &mut settings)?),
        };
        for change in self.configure {
            change(&mut settings);
        }
        let mut suite = Suite::new(
            self.backend,
            settings,
            self.reporting_options,
            self.startup,
            databases.into_iter().collect(),
            self.proxied,
            certificates,
        );
        for server in self.servers {
            suite.prepare(server);
            let started = match suite.launch(server).await {
                Ok(()) if server == Server::Measures && self.import_plan => suite.import_plan().await,
                other => other,
            };
            if let Err(error) = started {
                suite.stop().await;
                return Err(error);
            }
        }
        Ok(suite)
    }
}
