//! The gateway's listener: a `duban_kit::GrpcServer` (bind, health, reflection v1 and
//! v1alpha, the request layer, bounded shutdown) that accepts HTTP/1.1 too, so that
//! browsers reach the dashboard and gRPC-Web clients reach every RPC on the same port.

use duban_kit::{
    GrpcServer,
    metrics::Metrics,
    server::Web,
    settings::{ListenAddresses, ServerLimits},
};
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;

/// The running gateway.
pub type Gateway = GrpcServer;

/// Binds and serves `grpc` (gRPC services and forwarding, with health and reflection
/// added, all behind tonic-web's translation) and `http` (pages and API, plain HTTP) on
/// one port, and `metrics` on `listen.metrics`; `stop` ends the server and every long
/// stream. It stores nothing, so it reports SERVING at once.
pub(crate) async fn serve(
    listen: ListenAddresses,
    limits: &ServerLimits,
    grpc: axum::Router,
    http: axum::Router,
    metrics: &Metrics,
    stop: CancellationToken,
) -> std::io::Result<Gateway> {
    let server = GrpcServer::start_web(
        "gateway",
        listen,
        limits,
        &[crate::SERVICE_NAME],
        Routes::from(grpc),
        metrics,
        Web { http, stop },
    )
    .await?;
    server.set_serving(true).await;
    Ok(server)
}
