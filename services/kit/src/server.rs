//! Starting and stopping a gRPC server the same way everywhere: bind (port 0 works),
//! speak TLS when `server.tls` says so, serve health and reflection beside the service,
//! answer NOT_SERVING until the service's state is ready, check every request against
//! the bounds its proto declares ([`crate::bounds`]), count every call in the
//! server's metrics and serve them on the metrics port (plain HTTP), and on shutdown
//! drain for a bounded time only.

use std::{
    future::Future,
    net::SocketAddr,
    sync::{Arc, OnceLock},
    time::Duration,
};

use sea_orm::DatabaseConnection;
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_util::sync::CancellationToken;
use tonic::{Status, service::Routes};
use tonic_health::{ServingStatus, server::HealthReporter};

use crate::{
    bounds::{BoundsLayer, Catalogue},
    layer::RequestLayer,
    metrics::{
        Metrics,
        listener::MetricsListener,
        rpc::{RpcMetrics, RpcMetricsLayer},
    },
    settings::{ListenAddresses, ServerLimits},
};

/// How often [`GrpcServer::watch_database`] checks that the database answers.
pub const DATABASE_PROBE_INTERVAL: Duration = Duration::from_secs(1);

/// How long that check may take before the database counts as gone: longer than a
/// connection takes to come from a busy pool, shorter than a balancer's patience.
const DATABASE_PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// State that a service gets once its database is migrated. Until then every handler
/// answers UNAVAILABLE, and health says NOT_SERVING.
#[derive(Debug)]
pub struct Ready<T>(Arc<OnceLock<T>>);

impl<T> Clone for Ready<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<T> Default for Ready<T> {
    fn default() -> Self {
        Self(Arc::new(OnceLock::new()))
    }
}

impl<T> Ready<T> {
    /// The state, or UNAVAILABLE while the server is still starting.
    pub fn get(&self) -> Result<&T, Status> {
        self.0.get().ok_or_else(|| {
            crate::error::unavailable(
                crate::status::SuiteReason::ServerStarting,
                "the server is starting: its database is not ready yet",
                [],
            )
        })
    }

    /// Installs the state; later calls are ignored.
    pub fn set(&self, value: T) {
        let _ = self.0.set(value);
    }
}

/// Server state that checks its callers' tokens.
pub trait Authenticates {
    /// The authenticator the handlers use.
    fn authenticator(&self) -> &crate::Authenticator;
}

/// What a gRPC handler returns.
pub type Reply<T> = Result<tonic::Response<T>, Status>;

/// A domain result as a handler's reply: the value as the response, the error through
/// the service's one mapping to a status.
pub fn reply<T, E: Into<Status>>(result: Result<T, E>) -> Reply<T> {
    result.map(tonic::Response::new).map_err(Into::into)
}

impl<T: Authenticates> Ready<T> {
    /// The state and the principal calling with `request` (see [`Ready::caller`]).
    pub async fn principal<R>(&self, request: &tonic::Request<R>) -> Result<(&T, crate::Principal), Status> {
        let (state, verified) = self.caller(request.metadata()).await?;
        Ok((state, verified.principal))
    }

    /// The state and who is calling: UNAVAILABLE while the server starts, then the
    /// request's bearer token is checked (UNAUTHENTICATED, or UNAVAILABLE if the
    /// directory cannot be asked).
    pub async fn caller(&self, metadata: &tonic::metadata::MetadataMap) -> Result<(&T, crate::auth::Verified), Status> {
        self.caller_with(metadata, Status::from).await
    }

    /// As [`Ready::caller`], with the service's own mapping of authentication errors.
    pub async fn caller_with(
        &self,
        metadata: &tonic::metadata::MetadataMap,
        map: impl FnOnce(crate::auth::AuthError) -> Status,
    ) -> Result<(&T, crate::auth::Verified), Status> {
        let state = self.get()?;
        let verified = async { state.authenticator().verify(crate::auth::bearer_token(metadata)?).await }
            .await
            .map_err(map)?;
        Ok((state, verified))
    }
}

/// A running gRPC server.
#[derive(Debug)]
pub struct GrpcServer {
    name: &'static str,
    local_addr: SocketAddr,
    metrics: MetricsListener,
    services: Vec<&'static str>,
    health: HealthReporter,
    stop: CancellationToken,
    cut: CancellationToken,
    grace: Duration,
    task: JoinHandle<Result<(), tonic::transport::Error>>,
}

/// What a server serves beside gRPC when it also speaks HTTP/1.1 (the gateway): browsers
/// reach `http` and gRPC-Web clients reach every RPC, on the same port.
#[derive(Debug)]
pub struct Web {
    /// Plain HTTP routes (pages, JSON), served as they are: tonic-web answers 400 to any
    /// HTTP/1.1 request that is not gRPC-Web, so it wraps only the gRPC routes.
    pub http: axum::Router,
    /// The token [`GrpcServer::stopping`] returns, made before start so that handlers
    /// built beforehand can end their long streams on it.
    pub stop: CancellationToken,
}

impl GrpcServer {
    /// Binds `listen.grpc` and serves `routes` plus grpc.health.v1 and reflection (v1 and
    /// v1alpha: many clients, Python's among them, speak only v1alpha). Health starts as
    /// NOT_SERVING for the server and for each name in `services`. Every call is counted
    /// in `metrics` (see [`crate::metrics::rpc`]), which are served at `/metrics` on
    /// `listen.metrics`.
    pub async fn start(
        name: &'static str,
        listen: ListenAddresses,
        limits: &ServerLimits,
        services: &[&'static str],
        routes: Routes,
        metrics: &Metrics,
    ) -> std::io::Result<GrpcServer> {
        Self::serve(name, listen, limits, services, routes, metrics, None).await
    }

    /// Like [`GrpcServer::start`], but accepting HTTP/1.1 too: the gRPC routes (with
    /// health and reflection) behind gRPC-Web translation, and `web.http` beside them.
    pub async fn start_web(
        name: &'static str,
        listen: ListenAddresses,
        limits: &ServerLimits,
        services: &[&'static str],
        routes: Routes,
        metrics: &Metrics,
        web: Web,
    ) -> std::io::Result<GrpcServer> {
        Self::serve(name, listen, limits, services, routes, metrics, Some(web)).await
    }

    async fn serve(
        name: &'static str,
        listen: ListenAddresses,
        limits: &ServerLimits,
        services: &[&'static str],
        routes: Routes,
        metrics: &Metrics,
        web: Option<Web>,
    ) -> std::io::Result<GrpcServer> {
        // Before binding: a TLS file that cannot be used stops the start at once.
        let tls = crate::tls::server::acceptor(&limits.tls, web.is_some())?;
        let listener = TcpListener::bind(listen.grpc).await?;
        let local_addr = listener.local_addr()?;
        let metrics_listener = MetricsListener::start(listen.metrics, metrics.clone()).await?;
        let rpc = RpcMetrics::register(metrics, limits.max_concurrent_requests.max(1));

        let (health, health_service) = tonic_health::server::health_reporter();
        health.set_service_status("", ServingStatus::NotServing).await;
        for service in services {
            health.set_service_status(*service, ServingStatus::NotServing).await;
        }
        let reflection = || {
            tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(duban_proto::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        };
        let routes = routes
            .add_service(health_service)
            .add_service(reflection().build_v1().map_err(std::io::Error::other)?)
            .add_service(reflection().build_v1alpha().map_err(std::io::Error::other)?);

        let mut builder = tonic::transport::Server::builder();
        // Counted inside gRPC-Web translation, where the status is in gRPC's own headers
        // and trailers whatever the client spoke.
        // Bounds are checked inside both, so every message past one is counted, and
        // after gRPC-Web translation, so they hold whatever the client spoke.
        let grpc = routes
            .prepare()
            .into_axum_router()
            .layer(BoundsLayer::new(catalogue()?, limits.max_message_bytes))
            .layer(RpcMetricsLayer::new(rpc.clone()));
        let (routes, stop) = match web {
            None => (Routes::from(grpc), CancellationToken::new()),
            Some(Web { http, stop }) => {
                builder = builder.accept_http1(true);
                // gRPC-Web only where gRPC is served: tonic-web answers 400 to any
                // other HTTP/1.1 request, which would shut browsers out of the pages.
                let grpc = grpc.layer(tonic_web::GrpcWebLayer::new());
                (Routes::from(grpc.merge(http)), stop)
            }
        };
        let cut = CancellationToken::new();
        let signal = stop.clone().cancelled_owned();
        let incoming = crate::incoming::accept(listener, cut.clone(), tls);
        let server = builder
            .http2_keepalive_interval(Some(Duration::from_secs(30)))
            .initial_stream_window_size(crate::flow::STREAM_WINDOW)
            .initial_connection_window_size(crate::flow::CONNECTION_WINDOW)
            .layer(RequestLayer::new(
                name,
                limits.max_concurrent_requests,
                limits.request_timeout(),
                rpc,
            ))
            .add_routes(routes);
        let task = tokio::spawn(server.serve_with_incoming_shutdown(incoming, signal));
        let transport = match (limits.tls.enabled(), limits.tls.mutual()) {
            (false, _) => "plaintext",
            (true, false) => "tls",
            (true, true) if limits.tls.require_client_certificate => "mutual tls",
            (true, true) => "tls, client certificates optional",
        };
        tracing::info!(server = name, addr = %local_addr, transport, metrics = %metrics_listener.local_addr(), "listening");
        Ok(GrpcServer {
            name,
            local_addr,
            metrics: metrics_listener,
            services: services.to_vec(),
            health,
            stop,
            cut,
            grace: limits.shutdown_grace(),
            task,
        })
    }

    /// The bound address (the real port when `listen` had port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Where `/metrics` is served (the real port when `listen.metrics` had port 0).
    pub fn metrics_addr(&self) -> SocketAddr {
        self.metrics.local_addr()
    }

    /// The server's name, for logs.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Cancelled when the server begins to shut down; long streams should end on it.
    pub fn stopping(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// Marks the server and its services SERVING (or NOT_SERVING).
    pub async fn set_serving(&self, serving: bool) {
        set_status(&self.health, &self.services, serving).await;
    }

    /// Runs `init` until it succeeds (retrying with backoff, since a database may start
    /// after us), installs its result in `ready` and reports SERVING. Stops trying
    /// when the server shuts down.
    pub fn bring_up<T, E, F, Fut>(&self, ready: Ready<T>, init: F) -> JoinHandle<()>
    where
        T: Send + Sync + 'static,
        E: std::fmt::Display + Send,
        F: Fn() -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send,
    {
        let (name, health, services, stop) = (self.name, self.health.clone(), self.services.clone(), self.stop.clone());
        tokio::spawn(async move {
            let mut backoff = Duration::from_millis(250);
            loop {
                match init().await {
                    Ok(state) => {
                        ready.set(state);
                        set_status(&health, &services, true).await;
                        tracing::info!(server = name, "serving");
                        return;
                    }
                    Err(error) => {
                        tracing::warn!(server = name, %error, retry_in_ms = backoff.as_millis() as u64, "not ready");
                    }
                }
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        })
    }

    /// Once `ready` holds the state, checks every [`DATABASE_PROBE_INTERVAL`] that the
    /// state's `database` answers, and reports NOT_SERVING while it does not and SERVING
    /// again when it does, so that an orchestrator or a balancer sees a server whose
    /// database went away (its calls answer UNAVAILABLE meanwhile) and sees it recover
    /// without a restart. Stops when the server shuts down.
    pub fn watch_database<T, F>(&self, ready: Ready<T>, database: F) -> JoinHandle<()>
    where
        T: Send + Sync + 'static,
        F: Fn(&T) -> &DatabaseConnection + Send + 'static,
    {
        let (name, health, services, stop) = (self.name, self.health.clone(), self.services.clone(), self.stop.clone());
        tokio::spawn(async move {
            // `bring_up` reports SERVING as soon as the state is ready.
            let mut serving = true;
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(DATABASE_PROBE_INTERVAL) => {}
                }
                let Ok(state) = ready.get() else { continue };
                let answered = matches!(
                    tokio::time::timeout(DATABASE_PROBE_TIMEOUT, database(state).ping()).await,
                    Ok(Ok(()))
                );
                // Once shutting down, NOT_SERVING stays.
                if answered == serving || stop.is_cancelled() {
                    continue;
                }
                serving = answered;
                if serving {
                    tracing::info!(server = name, "the database answers again: serving");
                } else {
                    tracing::warn!(server = name, "the database does not answer: not serving");
                }
                set_status(&health, &services, serving).await;
            }
        })
    }

    /// Stops the server as a crash would, for fault tests: no NOT_SERVING, no drain, no
    /// GOAWAY; every connection is cut at once (callers see their calls fail mid-way),
    /// the listener closes, and the server's background work (its writer, its streams,
    /// its health watcher) ends. Its port can be bound again once this returns.
    pub async fn kill(self) {
        self.task.abort();
        self.cut.cancel();
        self.stop.cancel();
        // The aborted task has dropped the listener once it is joined.
        let _ = self.task.await;
        self.metrics.shutdown().await;
        tracing::warn!(server = self.name, "killed");
    }

    /// Reports NOT_SERVING, stops accepting calls, waits up to the grace period for
    /// in-flight calls and streams, then closes whatever is still open, and last stops
    /// serving its metrics.
    pub async fn shutdown(self) {
        self.set_serving(false).await;
        self.stop.cancel();
        let mut task = self.task;
        match tokio::time::timeout(self.grace, &mut task).await {
            Ok(Ok(Ok(()))) => tracing::info!(server = self.name, "stopped"),
            Ok(Ok(Err(error))) => tracing::error!(server = self.name, %error, "stopped with an error"),
            Ok(Err(error)) => tracing::error!(server = self.name, %error, "server task failed"),
            Err(_) => {
                // Cut every connection still open (long streams); the server task then
                // finishes on its own, or is aborted if it still does not.
                self.cut.cancel();
                if tokio::time::timeout(Duration::from_secs(1), &mut task).await.is_err() {
                    task.abort();
                }
                tracing::warn!(
                    server = self.name,
                    grace_ms = self.grace.as_millis() as u64,
                    "drain timed out; closed open calls"
                );
            }
        }
        self.metrics.shutdown().await;
    }
}

/// The bounds of every Duban RPC, read once per process and shared by its servers.
fn catalogue() -> std::io::Result<Arc<Catalogue>> {
    static CATALOGUE: OnceLock<Arc<Catalogue>> = OnceLock::new();
    if let Some(catalogue) = CATALOGUE.get() {
        return Ok(catalogue.clone());
    }
    let catalogue = Arc::new(Catalogue::duban().map_err(std::io::Error::other)?);
    Ok(CATALOGUE.get_or_init(|| catalogue).clone())
}

/// Marks the server (the empty name) and each of `services` SERVING or NOT_SERVING.
async fn set_status(health: &HealthReporter, services: &[&'static str], serving: bool) {
    let status = if serving {
        ServingStatus::Serving
    } else {
        ServingStatus::NotServing
    };
    health.set_service_status("", status).await;
    for service in services {
        health.set_service_status(*service, status).await;
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
