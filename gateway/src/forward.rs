//! The one front door: every public RPC of the four services (two on the reporting server:
//! ReportingService and SupervisionOrdersService), served on the gateway's port by
//! forwarding the raw gRPC (or, after tonic-web's translation, gRPC-Web) call to the
//! owning service by path prefix. The caller's metadata goes along unchanged
//! (its `authorization` too: each service still decides who may do what), with the
//! deadline replaced by what remains of this call's budget and `traceparent` by the
//! gateway's span, so the trace continues through the hop.
//!
//! One check happens here: under mutual TLS the gateway's connections to the services
//! carry its own service certificate, so a call bearing the service token is forwarded
//! only if it came with a Duban server's certificate itself. Otherwise anyone holding
//! the token could act as SERVICE through the front door without one.

use std::time::Duration;

use axum::{Router, body::Body, extract::Request, response::Response, routing::any};
use duban_kit::{
    auth::{ServiceCredential, bearer_token},
    client::BalancedChannel,
    error::DependencyUnavailable,
    layer::current_deadline,
    telemetry::inject_current_context,
};
use duban_proto::{
    departments::v1::departments_service_server,
    gateway::v1::ErrorReason,
    measures::v1::measures_service_server,
    reporting::v1::{notices_service_server, reporting_service_server, supervision_orders_service_server},
    targets::v1::targets_service_server,
};
use tonic::metadata::MetadataMap;
use tower::ServiceExt;

use crate::{backends::Channels, metrics::GatewayMetrics};

/// Headers that belong to one connection and must not cross the hop (HTTP/2 forbids them).
const HOP_BY_HOP: [&str; 6] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "host",
];

/// Routes `/{service}/{method}` of the four services to their channels, counting each
/// call in `metrics`; a call with the service token goes on only if `service_credential`
/// accepts it from this caller.
pub fn routes(channels: &Channels, metrics: &GatewayMetrics, service_credential: &ServiceCredential) -> Router {
    let mut router = Router::new();
    for (service, channel) in [
        (departments_service_server::SERVICE_NAME, &channels.departments),
        (measures_service_server::SERVICE_NAME, &channels.measures),
        (targets_service_server::SERVICE_NAME, &channels.targets),
        (reporting_service_server::SERVICE_NAME, &channels.reporting),
        // Supervision orders and notices are served by the reporting server, beside
        // ReportingService.
        (supervision_orders_service_server::SERVICE_NAME, &channels.reporting),
        (notices_service_server::SERVICE_NAME, &channels.reporting),
    ] {
        let (channel, metrics, credential) = (channel.clone(), metrics.clone(), service_credential.clone());
        router = router.route(
            &format!("/{service}/{{*method}}"),
            any(move |request: Request| {
                metrics.forwarded(service);
                forward(channel.clone(), credential.clone(), service, request)
            }),
        );
    }
    router
}

/// `grpc-timeout` for a remaining budget, in milliseconds (at most 8 digits).
pub fn grpc_timeout(remaining: Duration) -> String {
    let ms = remaining.as_millis().clamp(1, 99_999_999);
    format!("{ms}m")
}

async fn forward(
    channel: BalancedChannel,
    credential: ServiceCredential,
    service: &'static str,
    request: Request,
) -> Response {
    let (mut parts, body) = request.into_parts();
    for header in HOP_BY_HOP {
        parts.headers.remove(header);
    }
    if parts.headers.get("te").is_some_and(|te| te != "trailers") {
        parts.headers.insert("te", http::HeaderValue::from_static("trailers"));
    }
    parts.version = http::Version::HTTP_2;
    if let Some(deadline) = current_deadline() {
        let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
        if remaining.is_zero() {
            return duban_kit::status::with_reason(
                tonic::Code::DeadlineExceeded,
                "no time left to forward the call",
                ErrorReason::DeadlineExpired,
                [],
            )
            .into_http();
        }
        if let Ok(value) = grpc_timeout(remaining).parse() {
            parts.headers.insert("grpc-timeout", value);
        }
    }
    let mut metadata = MetadataMap::from_headers(std::mem::take(&mut parts.headers));
    if let Ok(token) = bearer_token(&metadata)
        && let Err(refused) = credential.check(token)
    {
        return tonic::Status::from(refused).into_http();
    }
    inject_current_context(&mut metadata);
    parts.headers = metadata.into_headers();
    let request = http::Request::from_parts(parts, tonic::body::Body::new(body));
    match channel.oneshot(request).await {
        Ok(response) => response.map(Body::new),
        // The channel enforces the `grpc-timeout` set above: the call outlived its
        // deadline, which is the caller's to know (DEADLINE_EXCEEDED: it may have
        // taken effect, so retry with the same request ids), not a broken service.
        Err(error) if timed_out(&*error) => {
            tracing::info!(service, "the forwarded call ran out of time");
            duban_kit::status::with_reason(
                tonic::Code::DeadlineExceeded,
                format!(
                    "{service} did not answer within the call's deadline; what it did before may be stored: retry with the same request ids"
                ),
                ErrorReason::DeadlineExpired,
                [],
            )
            .into_http()
        }
        Err(error) => {
            let unreachable = DependencyUnavailable::unreachable(service, &*error);
            tracing::warn!(error = %unreachable.message, service, "cannot forward the call");
            duban_kit::error::dependency_unavailable(&unreachable).into_http::<Body>()
        }
    }
}

/// Whether `error`, or one of its causes, is the channel's deadline running out.
fn timed_out(error: &(dyn std::error::Error + 'static)) -> bool {
    std::iter::successors(Some(error), |e| e.source()).any(|e| e.is::<tonic::TimeoutExpired>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deadline_running_out_is_told_apart_from_a_broken_connection() {
        #[derive(Debug, thiserror::Error)]
        #[error("transport error")]
        struct Transport(#[source] Box<dyn std::error::Error + Send + Sync>);
        assert!(timed_out(&Transport(Box::new(tonic::TimeoutExpired(())))));
        assert!(timed_out(&tonic::TimeoutExpired(())));
        assert!(!timed_out(&Transport(Box::new(std::io::Error::other(
            "connection reset"
        )))));
    }

    #[test]
    fn remaining_budget_is_sent_in_milliseconds() {
        assert_eq!(grpc_timeout(Duration::from_millis(1500)), "1500m");
        assert_eq!(grpc_timeout(Duration::from_micros(10)), "1m");
        assert_eq!(grpc_timeout(Duration::from_secs(1_000_000)), "99999999m");
    }
}
