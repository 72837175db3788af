//! The tower layer in front of every gRPC server: it opens the request's span under the
//! caller's trace context (the span other code records the caller and the request id
//! on), sheds load beyond the concurrency limit, and enforces the deadline (the client's
//! `grpc-timeout` or the server's own limit, whichever is shorter), making it visible to
//! outgoing calls so they pass on what remains. It counts the calls it answers itself
//! (shed, or out of time) and the calls in flight; every other answer is counted behind
//! it, by [`crate::metrics::rpc::RpcMetricsLayer`]. It also makes the server named by
//! the caller's verified client certificate, if any, visible to authentication.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use tokio::{sync::Semaphore, time::Instant};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::{
    metrics::rpc::{RpcMetrics, RpcName},
    telemetry::extract_context,
};

tokio::task_local! {
    static DEADLINE: Instant;
    static REQUEST_SPAN: tracing::Span;
    /// The Duban server named by the verified client certificate of the connection the
    /// call came in on (mutual TLS; see `incoming::Peer`).
    pub(crate) static CALLING_SERVER: Option<&'static str>;
}

/// The deadline of the gRPC call being handled on this task, if any.
pub fn current_deadline() -> Option<Instant> {
    DEADLINE.try_with(|deadline| *deadline).ok()
}

/// Runs `record` on the span of the call being handled on this task, if any: the span
/// this layer opened, whichever span is current below it (a database statement's, say).
pub(crate) fn with_request_span(record: impl FnOnce(&tracing::Span)) {
    let _ = REQUEST_SPAN.try_with(record);
}

/// Paths that get no span: probes and scrapes arrive every few seconds and would bury
/// the traces of real calls.
fn untraced(path: &str) -> bool {
    path.starts_with("/grpc.health.") || path.starts_with("/grpc.reflection.") || path == "/metrics"
}

/// The Duban server whose verified client certificate the call being handled on this
/// task came with (mutual TLS), if any: half of what makes a caller SERVICE
/// (`auth::ServiceCredential`).
pub fn calling_server() -> Option<&'static str> {
    CALLING_SERVER.try_with(|server| *server).ok().flatten()
}

/// Builds [`RequestService`]s that share one concurrency budget.
#[derive(Clone)]
pub struct RequestLayer {
    server: &'static str,
    permits: Arc<Semaphore>,
    timeout: Duration,
    metrics: RpcMetrics,
}

impl RequestLayer {
    /// For the server named `server` (recorded on every request span as
    /// `duban.server`): at most `max_concurrent` calls at once, each bounded by `timeout`,
    /// counted in `metrics`.
    pub fn new(server: &'static str, max_concurrent: usize, timeout: Duration, metrics: RpcMetrics) -> Self {
        Self {
            server,
            permits: Arc::new(Semaphore::new(max_concurrent.max(1))),
            timeout,
            metrics,
        }
    }
}

impl<S> tower::Layer<S> for RequestLayer {
    type Service = RequestService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestService {
            inner,
            server: self.server,
            permits: self.permits.clone(),
            timeout: self.timeout,
            metrics: self.metrics.clone(),
        }
    }
}

/// See [`RequestLayer`].
#[derive(Clone)]
pub struct RequestService<S> {
    inner: S,
    server: &'static str,
    permits: Arc<Semaphore>,
    timeout: Duration,
    metrics: RpcMetrics,
}

type Response = http::Response<tonic::body::Body>;

impl<S, B> tower::Service<http::Request<B>> for RequestService<S>
where
    S: tower::Service<http::Request<B>, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let started = Instant::now();
        let path = request.uri().path().to_owned();
        let name = RpcName::of(&request);
        // Health and reflection are never shed: an orchestrator must still see the
        // server as alive while it is busy.
        let exempt = path.starts_with("/grpc.health.") || path.starts_with("/grpc.reflection.");
        let permit = if exempt {
            None
        } else {
            match self.permits.clone().try_acquire_owned() {
                Ok(permit) => Some((permit, self.metrics.in_flight())),
                Err(_) => {
                    tracing::warn!(rpc.method = %path, "shedding load: concurrency limit reached");
                    self.metrics.shed(name);
                    if name.is_grpc() {
                        self.metrics
                            .answered(name, tonic::Code::ResourceExhausted, started.elapsed());
                    }
                    let status = crate::error::resource_exhausted(
                        crate::status::SuiteReason::ServerOverloaded,
                        "server is at its concurrency limit; retry with backoff",
                    );
                    return Box::pin(std::future::ready(Ok(status.into_http())));
                }
            }
        };
        let budget = grpc_timeout(request.headers()).map_or(self.timeout, |client| client.min(self.timeout));
        let deadline = started + budget;

        let calling_server = request
            .extensions()
            .get::<crate::incoming::Peer>()
            .and_then(|peer| peer.server_name);

        let span = if untraced(&path) {
            tracing::Span::none()
        } else {
            request_span(self.server, &request)
        };

        // The clone is the ready-checked service only after the swap (tower's rule).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let metrics = self.metrics.clone();
        let request_span = span.clone();
        Box::pin(
            async move {
                let _permit = permit;
                let call = CALLING_SERVER.scope(
                    calling_server,
                    REQUEST_SPAN.scope(request_span.clone(), DEADLINE.scope(deadline, inner.call(request))),
                );
                let response = match tokio::time::timeout_at(deadline, call).await {
                    Ok(response) => response,
                    Err(_) => {
                        if name.is_grpc() {
                            metrics.answered(name, tonic::Code::DeadlineExceeded, started.elapsed());
                        }
                        Ok(crate::status::with_reason(
                            tonic::Code::DeadlineExceeded,
                            format!("call did not finish within its {} ms deadline", budget.as_millis()),
                            crate::status::SuiteReason::DeadlineExpired,
                            [],
                        )
                        .into_http())
                    }
                };
                if let Ok(response) = &response {
                    record_failure(&request_span, response);
                }
                response
            }
            .instrument(span),
        )
    }
}

/// The span of one call, under the caller's trace context: named after the RPC
/// (`duban.reporting.v1.ReportingService/SubmitReport`) or, for a page, `GET /path`.
fn request_span<B>(server: &'static str, request: &http::Request<B>) -> tracing::Span {
    let path = request.uri().path();
    let grpc = request
        .headers()
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|kind| kind.as_bytes().starts_with(b"application/grpc"));
    let name = if grpc {
        path.trim_start_matches('/').to_owned()
    } else {
        format!("{} {path}", request.method())
    };
    let span = tracing::info_span!(
        "grpc.request",
        otel.name = name,
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        rpc.method = path,
        rpc.grpc.status_code = tracing::field::Empty,
        duban.server = server,
        principal = tracing::field::Empty,
        department = tracing::field::Empty,
        request_id = tracing::field::Empty,
    );
    let _ = span.set_parent(extract_context(request.headers()));
    span
}

/// Marks the span failed when the answer is an error status sent at once (how tonic
/// answers every failed unary call); a status in the trailers of a streamed answer is
/// not seen here.
fn record_failure(span: &tracing::Span, response: &Response) {
    let Some(code) = response
        .headers()
        .get("grpc-status")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<i32>().ok())
    else {
        return;
    };
    if code != tonic::Code::Ok as i32 {
        span.record("rpc.grpc.status_code", code);
        span.record("otel.status_code", "ERROR");
    }
}

/// Parses the `grpc-timeout` header: an integer of at most 8 digits and a unit.
pub(crate) fn grpc_timeout(headers: &http::HeaderMap) -> Option<Duration> {
    let value = headers.get("grpc-timeout")?.to_str().ok()?;
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    let amount: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount.saturating_mul(3600)),
        "M" => Duration::from_secs(amount.saturating_mul(60)),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use std::{convert::Infallible, sync::Arc};

    use tokio::sync::Notify;
    use tower::{Layer, Service, ServiceExt};

    use super::*;

    /// An inner service that answers OK once `release` is notified, and reports the
    /// deadline it saw.
    fn blocking(
        release: Arc<Notify>,
    ) -> impl Service<http::Request<()>, Response = Response, Error = Infallible, Future: Send> + Clone + Send + 'static
    {
        tower::service_fn(move |_request: http::Request<()>| {
            let release = release.clone();
            async move {
                let seen = current_deadline().is_some();
                release.notified().await;
                let mut response = http::Response::new(tonic::body::Body::empty());
                response
                    .headers_mut()
                    .insert("x-saw-deadline", seen.to_string().parse().unwrap());
                Ok::<_, Infallible>(response)
            }
        })
    }

    fn grpc_status(response: &Response) -> Option<String> {
        response
            .headers()
            .get("grpc-status")
            .map(|v| v.to_str().unwrap().to_owned())
    }

    fn request(path: &str) -> http::Request<()> {
        http::Request::builder()
            .uri(path)
            .header("content-type", "application/grpc")
            .body(())
            .unwrap()
    }

    const LIST_GROUPS: RpcName = RpcName {
        service: "duban.departments.v1.DepartmentsService",
        method: "ListGroups",
    };

    #[tokio::test]
    async fn sheds_calls_beyond_the_limit_but_never_health_checks() {
        let release = Arc::new(Notify::new());
        let metrics = RpcMetrics::default();
        let mut service =
            RequestLayer::new("test", 1, Duration::from_secs(10), metrics.clone()).layer(blocking(release.clone()));
        let first = tokio::spawn(
            service
                .clone()
                .oneshot(request("/duban.departments.v1.DepartmentsService/ListGroups")),
        );
        tokio::task::yield_now().await;
        // The only permit is taken: the next call is refused at once, not queued.
        let shed = service
            .ready()
            .await
            .unwrap()
            .call(request("/duban.departments.v1.DepartmentsService/ListGroups"))
            .await
            .unwrap();
        assert_eq!(grpc_status(&shed).as_deref(), Some("8"), "RESOURCE_EXHAUSTED");
        assert_eq!(metrics.in_flight_now(), 1, "the first call holds the permit");
        assert_eq!(metrics.shed_count(LIST_GROUPS), 1);
        assert_eq!(
            metrics.answered_count(LIST_GROUPS, tonic::Code::ResourceExhausted),
            1,
            "a shed call is answered here, so it is counted here"
        );
        let health = tokio::spawn(service.clone().oneshot(request("/grpc.health.v1.Health/Check")));
        tokio::task::yield_now().await;
        release.notify_waiters();
        let health = health.await.unwrap().unwrap();
        assert_eq!(grpc_status(&health), None, "health checks are never shed");
        let first = first.await.unwrap().unwrap();
        assert_eq!(
            first.headers()["x-saw-deadline"],
            "true",
            "handlers see the call's deadline"
        );
        assert_eq!(metrics.in_flight_now(), 0, "answered calls leave flight");
    }

    #[tokio::test]
    async fn answers_deadline_exceeded_when_the_budget_runs_out() {
        let release = Arc::new(Notify::new());
        let metrics = RpcMetrics::default();
        let mut service =
            RequestLayer::new("test", 4, Duration::from_secs(10), metrics.clone()).layer(blocking(release));
        let mut call = request("/duban.departments.v1.DepartmentsService/ListGroups");
        call.headers_mut().insert("grpc-timeout", "50m".parse().unwrap());
        let started = std::time::Instant::now();
        let response = service.ready().await.unwrap().call(call).await.unwrap();
        assert_eq!(
            grpc_status(&response).as_deref(),
            Some("4"),
            "DEADLINE_EXCEEDED, not CANCELLED"
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "the client's shorter deadline wins"
        );
        assert_eq!(metrics.answered_count(LIST_GROUPS, tonic::Code::DeadlineExceeded), 1);
        assert_eq!(metrics.in_flight_now(), 0);
    }

    fn headers(value: &str) -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        headers.insert("grpc-timeout", value.parse().unwrap());
        headers
    }

    #[test]
    fn parses_every_grpc_timeout_unit() {
        assert_eq!(grpc_timeout(&headers("2H")), Some(Duration::from_secs(7200)));
        assert_eq!(grpc_timeout(&headers("3M")), Some(Duration::from_secs(180)));
        assert_eq!(grpc_timeout(&headers("5S")), Some(Duration::from_secs(5)));
        assert_eq!(grpc_timeout(&headers("250m")), Some(Duration::from_millis(250)));
        assert_eq!(grpc_timeout(&headers("7u")), Some(Duration::from_micros(7)));
        assert_eq!(grpc_timeout(&headers("9n")), Some(Duration::from_nanos(9)));
    }

    #[test]
    fn ignores_malformed_grpc_timeouts() {
        assert_eq!(grpc_timeout(&headers("S")), None);
        assert_eq!(grpc_timeout(&headers("10x")), None);
        assert_eq!(grpc_timeout(&headers("-1S")), None);
        assert_eq!(grpc_timeout(&http::HeaderMap::new()), None);
    }
}
