//! The gateway's listener: like `duban_kit::GrpcServer` (bind, health, reflection v1 and
//! v1alpha, the request layer, bounded shutdown), but accepting HTTP/1.1 too, so that
//! browsers reach the dashboard and gRPC-Web clients reach every RPC on the same port.

use std::{net::SocketAddr, time::Duration};

use duban_kit::{layer::RequestLayer, settings::ServerLimits};
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;
use tonic_health::{ServingStatus, server::HealthReporter};

/// The running gateway.
#[derive(Debug)]
pub struct Gateway {
    local_addr: SocketAddr,
    health: HealthReporter,
    stop: CancellationToken,
    cut: CancellationToken,
    grace: Duration,
    task: JoinHandle<Result<(), tonic::transport::Error>>,
}

/// Binds and serves `grpc` (gRPC services and forwarding, with health and reflection
/// added, all behind tonic-web's translation) and `http` (pages and API, plain HTTP) on
/// one port; `stop` ends the server and every long stream.
pub(crate) async fn serve(
    listen: SocketAddr,
    limits: &ServerLimits,
    grpc: axum::Router,
    http: axum::Router,
    stop: CancellationToken,
) -> std::io::Result<Gateway> {
    let listener = TcpListener::bind(listen).await?;
    let local_addr = listener.local_addr()?;
    let (health, health_service) = tonic_health::server::health_reporter();
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(duban_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let grpc = Routes::from(grpc)
        .add_service(health_service)
        .add_service(reflection().build_v1().map_err(std::io::Error::other)?)
        .add_service(reflection().build_v1alpha().map_err(std::io::Error::other)?)
        .prepare()
        .into_axum_router()
        // gRPC-Web only where gRPC is served: tonic-web answers 400 to any other
        // HTTP/1.1 request, which would shut browsers out of the pages.
        .layer(tonic_web::GrpcWebLayer::new());
    let routes = Routes::from(grpc.merge(http));
    health.set_service_status("", ServingStatus::Serving).await;
    health
        .set_service_status(crate::SERVICE_NAME, ServingStatus::Serving)
        .await;
    let server = tonic::transport::Server::builder()
        .accept_http1(true)
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .layer(RequestLayer::new(
            limits.max_concurrent_requests,
            limits.request_timeout(),
        ))
        .add_routes(routes);
    let signal = stop.clone().cancelled_owned();
    // Connections as every Duban server takes them: TCP_NODELAY on, and cut after the
    // shutdown grace period so an open stream cannot hold the process up.
    let cut = CancellationToken::new();
    let incoming = duban_kit::closable::accept(listener, cut.clone());
    let task = tokio::spawn(server.serve_with_incoming_shutdown(incoming, signal));
    tracing::info!(server = "gateway", addr = %local_addr, "listening");
    Ok(Gateway {
        local_addr,
        health,
        stop,
        cut,
        grace: limits.shutdown_grace(),
        task,
    })
}

impl Gateway {
    /// The bound address (the real port when `listen` had port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The server's name, for logs.
    pub fn name(&self) -> &'static str {
        "gateway"
    }

    /// Cancelled when the gateway begins to shut down.
    pub fn stopping(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// Reports NOT_SERVING, ends every WatchOverview and live-refresh stream, stops
    /// accepting calls, and waits up to the grace period for the rest.
    pub async fn shutdown(self) {
        self.health.set_service_status("", ServingStatus::NotServing).await;
        self.health
            .set_service_status(crate::SERVICE_NAME, ServingStatus::NotServing)
            .await;
        self.stop.cancel();
        let mut task = self.task;
        match tokio::time::timeout(self.grace, &mut task).await {
            Ok(Ok(Ok(()))) => tracing::info!(server = "gateway", "stopped"),
            Ok(Ok(Err(error))) => tracing::error!(server = "gateway", %error, "stopped with an error"),
            Ok(Err(error)) => tracing::error!(server = "gateway", %error, "server task failed"),
            Err(_) => {
                self.cut.cancel();
                if tokio::time::timeout(Duration::from_secs(1), &mut task).await.is_err() {
                    task.abort();
                }
                tracing::warn!(server = "gateway", "drain timed out; closed open calls");
            }
        }
    }
}
