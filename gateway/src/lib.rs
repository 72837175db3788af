//! The gateway: leadership's dashboard over the plan (DashboardService over gRPC, a JSON
//! API, CSV exports and a server-rendered page with live refresh), computed from the
//! catalogue, targets and reporting aggregates with documented RAG rules; and the one
//! front door that serves every public RPC of the four services on its own port.

// A panic reachable from a request drops the call without an answer (in the writer's
// task, every call queued behind it too): non-test code handles the error instead.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing))]

pub mod backends;
pub mod bulletin;
pub mod calendar;
pub mod dashboard;
pub mod error;
pub mod forward;
pub mod grpc;
pub mod html;
pub mod http;
pub mod metrics;
/// The RAG rules: one home, `duban_plan::rag`, shared with reporting's follow-up.
pub use duban_plan::rag;
pub mod server;
pub mod watch;
pub mod workbook;

use std::{sync::Arc, time::Duration};

use duban_kit::{Authenticator, Settings, metrics::Metrics};
use duban_proto::gateway::v1::dashboard_service_server::DashboardServiceServer;
use tokio_util::sync::CancellationToken;

pub use error::GatewayError;
pub use server::Gateway;

/// The fully qualified gRPC service name, as health checks and reflection know it.
pub use duban_proto::gateway::v1::dashboard_service_server::SERVICE_NAME;

/// Starts the gateway on `settings.gateway.listen`: DashboardService, the four services'
/// RPCs forwarded, health, reflection and gRPC-Web, and the dashboard, JSON API and CSV
/// over HTTP (who may read them: `gateway.dashboard_access`), all on one port; Prometheus
/// `/metrics` on `gateway.metrics_listen`. It stores nothing and is SERVING at once: a
/// service that does not answer makes views partial, not the gateway unready.
pub async fn start(settings: &Settings) -> std::io::Result<Gateway> {
    let access = http::served_access(&settings.gateway).map_err(std::io::Error::other)?;
    let metrics = Metrics::new();
    let gateway_metrics = metrics::GatewayMetrics::register(&metrics);
    let channels = backends::Channels::new(settings)?;
    let backends = Arc::new(backends::Backends::new(
        channels.clone(),
        settings.auth.service_token.clone(),
        duban_kit::client::CALL_TIMEOUT,
        duban_plan::cache::Freshness::new(Duration::from_secs(settings.gateway.catalogue_cache_seconds)),
    ));
    backends.register_metrics(&metrics);
    let departments = duban_kit::client::service_channel(settings, &settings.departments.endpoint_url())?;
    let auth = Authenticator::asking_departments(settings, departments);
    let stop = CancellationToken::new();
    let dashboard = dashboard::Dashboard::new(backends.clone(), auth, gateway_metrics.clone());
    let interval = Duration::from_millis(settings.gateway.watch_interval_ms);
    let hub = Arc::new(watch::Hub::new(backends, dashboard.clone(), interval, stop.clone()));
    let limits = &settings.server;
    // One bound for WatchOverview and the pages' live refresh: both are this server's streams.
    let streams = duban_kit::streams::OpenStreams::new(limits);
    let grpc = DashboardServiceServer::new(grpc::DashboardGrpc::new(
        dashboard.clone(),
        hub.clone(),
        streams.clone(),
        settings.auth.cache_ttl(),
    ))
    .max_decoding_message_size(limits.max_message_bytes)
    .max_encoding_message_size(limits.max_message_bytes);
    // A gateway that speaks TLS itself serves every page over HTTPS: its cookies are
    // always Secure, though HTTP/1.1 requests do not carry the scheme to tell.
    let mut page_settings = settings.gateway.clone();
    page_settings.cookie_secure |= limits.tls.enabled();
    let web = http::Web::new(
        dashboard,
        hub,
        streams,
        &page_settings,
        access,
        settings.auth.cache_ttl(),
    );
    let grpc = tonic::service::Routes::new(grpc)
        .into_axum_router()
        .merge(forward::routes(
            &channels,
            &gateway_metrics,
            &duban_kit::auth::ServiceCredential::from_settings(settings),
        ));
    let http = http::routes(web, gateway_metrics);
    server::serve(settings.gateway.addresses(), limits, grpc, http, &metrics, stop).await
}
