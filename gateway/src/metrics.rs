//! The gateway's own series, beside the RPC series every server has (where the four
//! services' calls forwarded here are counted by method and status code, under their
//! own service names): pages, JSON and CSV answers by route and status, overviews
//! computed and the services missing from them, and calls forwarded by service.
//!
//! They are served with the rest at `/metrics` on `gateway.metrics_listen`, not on the
//! gateway's public port.

use std::time::Duration;

use duban_kit::metrics::Metrics;
use duban_proto::gateway::v1 as pb;
use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{
        counter::Counter,
        family::Family,
        histogram::{Histogram, exponential_buckets},
    },
};

/// An HTTP route, as the router matched it (`/measures/{number}`, never the raw path).
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct Route {
    route: String,
}

/// An HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct Answer {
    route: String,
    /// The HTTP status code (`200`, `401` …).
    status: u16,
}

/// Whether every service answered for an overview.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct Outcome {
    /// `complete`, or `partial` when a service did not answer.
    outcome: &'static str,
}

/// One of the four services.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct Service {
    /// Its full name (`duban.reporting.v1.ReportingService`).
    service: String,
}

/// The gateway's series. Clones share them; [`Default`] ones count without being
/// published (for tests).
#[derive(Debug, Clone)]
pub struct GatewayMetrics {
    http_requests: Family<Answer, Counter>,
    http_duration: Family<Route, Histogram>,
    overviews: Family<Outcome, Counter>,
    unreachable: Family<Service, Counter>,
    forwarded: Family<Service, Counter>,
}

impl Default for GatewayMetrics {
    fn default() -> Self {
        Self {
            http_requests: Family::default(),
            // 1 ms to about 16 s.
            http_duration: Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.001, 2.0, 15))),
            overviews: Family::default(),
            unreachable: Family::default(),
            forwarded: Family::default(),
        }
    }
}

impl GatewayMetrics {
    /// The series, registered in `metrics`.
    pub fn register(metrics: &Metrics) -> GatewayMetrics {
        let gateway = GatewayMetrics::default();
        metrics.register(
            "gateway_http_requests",
            "Dashboard pages, JSON and CSV answers, by route and HTTP status (the event stream and the login form are not counted)",
            gateway.http_requests.clone(),
        );
        metrics.register(
            "gateway_http_request_duration_seconds",
            "Time to answer a dashboard page, JSON or CSV request, by route",
            gateway.http_duration.clone(),
        );
        metrics.register(
            "gateway_overviews",
            "Overviews computed (pages, JSON API, GetOverview, WatchOverview), complete or partial",
            gateway.overviews.clone(),
        );
        metrics.register(
            "gateway_unreachable_services",
            "Overviews computed without this service's answer (so partial), by service",
            gateway.unreachable.clone(),
        );
        metrics.register(
            "gateway_forwarded_calls",
            "gRPC calls to the four services' public RPCs forwarded from the gateway's port, by service",
            gateway.forwarded.clone(),
        );
        gateway
    }

    /// Counts an HTTP answer on `route` with `status` after `elapsed`.
    pub fn http_answered(&self, route: &str, status: u16, elapsed: Duration) {
        let route = route.to_owned();
        self.http_requests
            .get_or_create(&Answer {
                route: route.clone(),
                status,
            })
            .inc();
        self.http_duration
            .get_or_create(&Route { route })
            .observe(elapsed.as_secs_f64());
    }

    /// Counts a computed overview, and each service it lacks.
    pub fn overview(&self, overview: &pb::Overview) {
        let outcome = if overview.unreachable.is_empty() {
            "complete"
        } else {
            "partial"
        };
        self.overviews.get_or_create(&Outcome { outcome }).inc();
        for service in &overview.unreachable {
            self.unreachable
                .get_or_create(&Service {
                    service: service.clone(),
                })
                .inc();
        }
    }

    /// Counts a call forwarded to `service`.
    pub fn forwarded(&self, service: &'static str) {
        self.forwarded
            .get_or_create(&Service {
                service: service.to_owned(),
            })
            .inc();
    }
}
