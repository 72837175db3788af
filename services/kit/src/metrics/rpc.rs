//! RPC metrics of every server: calls answered and their latency by service, method
//! and status code, calls in flight, and calls shed.
//!
//! A call's status is where gRPC puts it: in the response headers when the answer is an
//! error alone (trailers-only, what tonic sends for a handler's `Err`, and what the
//! request layer sends when it sheds a call or its deadline passes), otherwise in the
//! trailers after the last message. So [`RpcMetricsLayer`] looks at the headers first,
//! and otherwise follows the body to its trailers; the latency is measured to there, so
//! it includes sending the answer (and, for a stream, is the stream's life). A body
//! dropped before its trailers (the client went away) counts as CANCELLED.
//!
//! Method labels come only from the methods the servers serve (read from the descriptor
//! sets they register for reflection), so a client cannot grow the label set by calling
//! made-up paths: those count as service and method `unknown`.

use std::{
    collections::HashMap,
    future::Future,
    pin::Pin,
    sync::LazyLock,
    task::{Context, Poll, ready},
    time::{Duration, Instant},
};

use axum::body::Body;
use http_body::Frame;
use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
};
use prost::Message;
use tonic::Code;

use super::Metrics;

/// Upper bounds of the latency buckets, in seconds: 1 ms to about 33 s (the longest
/// default deadline is 30 s).
fn latency_buckets() -> impl Iterator<Item = f64> {
    prometheus_client::metrics::histogram::exponential_buckets(0.001, 2.0, 16)
}

/// Which RPC a request calls, as labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RpcName {
    /// The fully qualified service (`duban.reporting.v1.ReportingService`); `unknown` for
    /// a path no server serves; `http` for a plain HTTP request (the gateway's pages).
    pub service: &'static str,
    /// The method (`SubmitReport`).
    pub method: &'static str,
}

impl RpcName {
    /// A path that is no served method.
    pub const UNKNOWN: RpcName = RpcName {
        service: "unknown",
        method: "unknown",
    };
    /// A request that is not gRPC (the gateway's pages, JSON API and CSV).
    pub const HTTP: RpcName = RpcName {
        service: "http",
        method: "http",
    };

    /// The RPC `request` calls, or [`RpcName::HTTP`] if it is not a gRPC or gRPC-Web call.
    pub fn of<B>(request: &http::Request<B>) -> RpcName {
        if !is_grpc(request) {
            return RpcName::HTTP;
        }
        KNOWN_METHODS
            .get(request.uri().path())
            .copied()
            .unwrap_or(RpcName::UNKNOWN)
    }

    /// Whether this names a gRPC call (known or not) rather than a plain HTTP request.
    pub fn is_grpc(&self) -> bool {
        *self != RpcName::HTTP
    }
}

/// gRPC and gRPC-Web requests say so in their content type (`application/grpc`,
/// `application/grpc+proto`, `application/grpc-web-text` …).
fn is_grpc<B>(request: &http::Request<B>) -> bool {
    request
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/grpc"))
}

/// `/package.Service/Method` of every method a Duban server serves: the suite's own
/// contracts, health and reflection.
static KNOWN_METHODS: LazyLock<HashMap<String, RpcName>> = LazyLock::new(|| {
    let sets = [
        duban_proto::FILE_DESCRIPTOR_SET,
        tonic_health::pb::FILE_DESCRIPTOR_SET,
        tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
        tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
    ];
    let mut known = HashMap::new();
    for set in sets {
        // The sets are generated at build time; one that does not decode adds nothing,
        // and its calls count as `unknown`.
        let Ok(set) = prost_types::FileDescriptorSet::decode(set) else {
            continue;
        };
        for file in set.file {
            for service in &file.service {
                let service_name: &'static str = match file.package() {
                    "" => leak(service.name().to_owned()),
                    package => leak(format!("{package}.{}", service.name())),
                };
                for method in &service.method {
                    let method_name = leak(method.name().to_owned());
                    known.insert(
                        format!("/{service_name}/{method_name}"),
                        RpcName {
                            service: service_name,
                            method: method_name,
                        },
                    );
                }
            }
        }
    }
    known
});

/// Label values live as long as the process; made once, for a fixed set of methods.
fn leak(name: String) -> &'static str {
    Box::leak(name.into_boxed_str())
}

/// The name of a status code as the gRPC specification spells it (`INVALID_ARGUMENT`).
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// The labels of an answered call.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct Answered {
    service: &'static str,
    method: &'static str,
    code: &'static str,
}

/// The RPC series of one server. Clones share them.
#[derive(Debug, Clone)]
pub struct RpcMetrics {
    requests: Family<Answered, Counter>,
    duration: Family<Answered, Histogram>,
    shed: Family<RpcName, Counter>,
    in_flight: Gauge,
}

impl Default for RpcMetrics {
    fn default() -> Self {
        Self {
            requests: Family::default(),
            duration: Family::new_with_constructor(|| Histogram::new(latency_buckets())),
            shed: Family::default(),
            in_flight: Gauge::default(),
        }
    }
}

impl RpcMetrics {
    /// The RPC series, registered in `metrics`, for a server that serves at most
    /// `concurrency_limit` calls at once.
    pub fn register(metrics: &Metrics, concurrency_limit: usize) -> RpcMetrics {
        let rpc = RpcMetrics::default();
        metrics.register(
            "rpc_requests",
            "gRPC calls answered, by service, method and status code",
            rpc.requests.clone(),
        );
        metrics.register(
            "rpc_duration_seconds",
            "Time from a gRPC call's arrival to its status (a stream's whole life), by service, method and status code",
            rpc.duration.clone(),
        );
        metrics.register(
            "rpc_in_flight",
            "Calls holding one of the server's concurrency permits (a stream holds one until its answer starts); health and reflection take none",
            rpc.in_flight.clone(),
        );
        let limit = Gauge::<i64>::default();
        limit.set(i64::try_from(concurrency_limit).unwrap_or(i64::MAX));
        metrics.register(
            "rpc_concurrency_limit",
            "Calls the server serves at once (server.max_concurrent_requests); more are shed",
            limit,
        );
        metrics.register(
            "rpc_shed",
            "Calls refused with RESOURCE_EXHAUSTED at once because every permit was taken, by service and method (`http` for the gateway's pages)",
            rpc.shed.clone(),
        );
        rpc
    }

    /// Counts a call answered with `code` after `elapsed`.
    pub fn answered(&self, name: RpcName, code: Code, elapsed: Duration) {
        let labels = Answered {
            service: name.service,
            method: name.method,
            code: code_name(code),
        };
        self.requests.get_or_create(&labels).inc();
        self.duration.get_or_create(&labels).observe(elapsed.as_secs_f64());
    }

    /// Counts a call refused because the server was at its limit.
    pub fn shed(&self, name: RpcName) {
        self.shed.get_or_create(&name).inc();
    }

    /// How many calls were refused as `name` (for tests).
    #[cfg(test)]
    pub(crate) fn shed_count(&self, name: RpcName) -> u64 {
        self.shed.get_or_create(&name).get()
    }

    /// How many calls were answered as `name` with `code` (for tests).
    #[cfg(test)]
    pub(crate) fn answered_count(&self, name: RpcName, code: Code) -> u64 {
        self.requests
            .get_or_create(&Answered {
                service: name.service,
                method: name.method,
                code: code_name(code),
            })
            .get()
    }

    /// Calls in flight now (for tests).
    #[cfg(test)]
    pub(crate) fn in_flight_now(&self) -> i64 {
        self.in_flight.get()
    }

    /// Counts a call in flight until the returned guard is dropped.
    pub fn in_flight(&self) -> InFlight {
        self.in_flight.inc();
        InFlight(self.in_flight.clone())
    }
}

/// A call counted in flight; dropping it ends the count.
#[derive(Debug)]
pub struct InFlight(Gauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// The status code a response carries in its headers (a trailers-only answer).
fn header_code(headers: &http::HeaderMap) -> Option<Code> {
    headers
        .get("grpc-status")
        .map(|value| Code::from_bytes(value.as_bytes()))
}

/// Counts every gRPC call that gets an answer, with its status and latency. It sits
/// inside gRPC-Web translation, so it sees gRPC's own headers and trailers whatever the
/// client spoke; calls that never reach it (shed, or past their deadline) are counted by
/// the request layer in front.
#[derive(Debug, Clone)]
pub struct RpcMetricsLayer {
    metrics: RpcMetrics,
}

impl RpcMetricsLayer {
    /// Counting into `metrics`.
    pub fn new(metrics: RpcMetrics) -> Self {
        Self { metrics }
    }
}

impl<S> tower::Layer<S> for RpcMetricsLayer {
    type Service = RpcMetricsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RpcMetricsService {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

/// See [`RpcMetricsLayer`].
#[derive(Debug, Clone)]
pub struct RpcMetricsService<S> {
    inner: S,
    metrics: RpcMetrics,
}

impl<S, B> tower::Service<http::Request<B>> for RpcMetricsService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<Body>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let name = RpcName::of(&request);
        let call = self.inner.call(request);
        if !name.is_grpc() {
            return Box::pin(call);
        }
        let pending = Pending {
            metrics: self.metrics.clone(),
            name,
            started: Instant::now(),
        };
        Box::pin(async move {
            let response = call.await?;
            Ok(match header_code(response.headers()) {
                Some(code) => {
                    pending.finish(code);
                    response
                }
                None => response.map(|body| {
                    Body::new(Measured {
                        body,
                        pending: Some(pending),
                    })
                }),
            })
        })
    }
}

/// A call whose status is not known yet.
#[derive(Debug)]
struct Pending {
    metrics: RpcMetrics,
    name: RpcName,
    started: Instant,
}

impl Pending {
    fn finish(self, code: Code) {
        self.metrics.answered(self.name, code, self.started.elapsed());
    }
}

/// A response body followed to its trailers, where the call's status is.
struct Measured {
    body: Body,
    pending: Option<Pending>,
}

impl Measured {
    fn finish(&mut self, code: Code) {
        if let Some(pending) = self.pending.take() {
            pending.finish(code);
        }
    }
}

impl http_body::Body for Measured {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let frame = ready!(Pin::new(&mut self.body).poll_frame(cx));
        match &frame {
            Some(Ok(frame)) => {
                if let Some(trailers) = frame.trailers_ref() {
                    // Trailers without a status break the protocol: UNKNOWN, as a client sees it.
                    self.finish(header_code(trailers).unwrap_or(Code::Unknown));
                }
            }
            Some(Err(_)) => self.finish(Code::Unknown),
            None => self.finish(Code::Unknown),
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

impl Drop for Measured {
    /// Dropped before its status was sent: the client went away, or the server cut the
    /// stream on shutdown.
    fn drop(&mut self) {
        self.finish(Code::Cancelled);
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use tower::{Layer, ServiceExt};

    use super::*;

    fn grpc_request(path: &str) -> http::Request<Body> {
        http::Request::builder()
            .uri(path)
            .header("content-type", "application/grpc")
            .body(Body::empty())
            .unwrap()
    }

    fn count(metrics: &RpcMetrics, name: RpcName, code: Code) -> u64 {
        metrics.answered_count(name, code)
    }

    const SUBMIT: RpcName = RpcName {
        service: "duban.reporting.v1.ReportingService",
        method: "SubmitReport",
    };

    #[test]
    fn names_only_methods_the_servers_serve() {
        assert_eq!(
            RpcName::of(&grpc_request("/duban.reporting.v1.ReportingService/SubmitReport")),
            SUBMIT
        );
        assert_eq!(
            RpcName::of(&grpc_request("/grpc.health.v1.Health/Check")),
            RpcName {
                service: "grpc.health.v1.Health",
                method: "Check"
            }
        );
        assert_eq!(
            RpcName::of(&grpc_request("/made.up.Service/Anything")),
            RpcName::UNKNOWN
        );
        let page = http::Request::builder().uri("/api/v1/overview").body(()).unwrap();
        assert_eq!(RpcName::of(&page), RpcName::HTTP);
    }

    #[tokio::test]
    async fn reads_the_status_from_headers_of_a_trailers_only_answer() {
        let metrics = RpcMetrics::default();
        let service = RpcMetricsLayer::new(metrics.clone()).layer(tower::service_fn(|_: http::Request<Body>| async {
            Ok::<_, Infallible>(tonic::Status::invalid_argument("no").into_http::<Body>())
        }));
        let response = service
            .oneshot(grpc_request("/duban.reporting.v1.ReportingService/SubmitReport"))
            .await
            .unwrap();
        assert_eq!(count(&metrics, SUBMIT, Code::InvalidArgument), 1, "counted at once");
        drop(response);
        assert_eq!(count(&metrics, SUBMIT, Code::InvalidArgument), 1, "and only once");
        assert_eq!(count(&metrics, SUBMIT, Code::Cancelled), 0);
    }

    #[tokio::test]
    async fn reads_the_status_from_trailers_once_the_body_ends() {
        let metrics = RpcMetrics::default();
        let service = RpcMetricsLayer::new(metrics.clone()).layer(tower::service_fn(|_: http::Request<Body>| async {
            let mut trailers = http::HeaderMap::new();
            trailers.insert("grpc-status", "5".parse().unwrap());
            let frames = futures::stream::iter([
                Ok::<_, Infallible>(Frame::data(axum::body::Bytes::from_static(b"message"))),
                Ok(Frame::trailers(trailers)),
            ]);
            Ok::<_, Infallible>(http::Response::new(Body::new(http_body_util::StreamBody::new(frames))))
        }));
        let response = service
            .oneshot(grpc_request("/duban.reporting.v1.ReportingService/SubmitReport"))
            .await
            .unwrap();
        assert_eq!(count(&metrics, SUBMIT, Code::NotFound), 0, "not before the trailers");
        let collected = http_body_util::BodyExt::collect(response.into_body()).await.unwrap();
        assert_eq!(collected.trailers().unwrap()["grpc-status"], "5");
        assert_eq!(count(&metrics, SUBMIT, Code::NotFound), 1);
        assert_eq!(count(&metrics, SUBMIT, Code::Cancelled), 0);
    }

    #[tokio::test]
    async fn a_body_dropped_before_its_trailers_is_cancelled() {
        let metrics = RpcMetrics::default();
        let service = RpcMetricsLayer::new(metrics.clone()).layer(tower::service_fn(|_: http::Request<Body>| async {
            Ok::<_, Infallible>(http::Response::new(Body::from("half a message")))
        }));
        let response = service
            .oneshot(grpc_request("/duban.reporting.v1.ReportingService/SubmitReport"))
            .await
            .unwrap();
        drop(response);
        assert_eq!(count(&metrics, SUBMIT, Code::Cancelled), 1);
    }
}
