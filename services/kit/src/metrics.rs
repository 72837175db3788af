//! Prometheus metrics, one registry per server.
//!
//! `duban up` and the tests run all five servers in one process, so nothing here is
//! process-wide: each server makes its own [`Metrics`], hands it to
//! [`crate::GrpcServer::start`] (RPC counts, latencies, in-flight and shed calls, see
//! [`rpc`]) and registers its own series in it (the database pool through
//! [`Metrics::watch_pool`], reporting's writer, the plan caches). The server writes them
//! at `/metrics` on a listener of its own
//! (`<server>.metrics_listen`, see [`listener`]), apart from the API port, so that a
//! scraper can be let in without reaching the API. A scraper that asks for OpenMetrics
//! (`Accept: application/openmetrics-text`, as Prometheus does) gets it; anything else
//! gets the Prometheus text format 0.0.4.
//!
//! Every series is prefixed `duban_`.

pub mod listener;
mod pool;
pub mod rpc;

use std::sync::{Arc, Mutex, MutexGuard};

use prometheus_client::{
    collector::Collector,
    registry::{Metric, Registry},
};
use sea_orm::DatabaseConnection;

use self::pool::PoolCollector;

/// What every series' name starts with (`duban_rpc_requests_total`).
pub const PREFIX: &str = "duban";

/// The `Content-Type` of an OpenMetrics text exposition.
pub const OPENMETRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The `Content-Type` of the Prometheus text format 0.0.4.
pub use prometheus_client::encoding::prometheus_text::CONTENT_TYPE as PROMETHEUS_TEXT_CONTENT_TYPE;

/// The two text formats a scrape can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// OpenMetrics 1.0 text, ending `# EOF`.
    OpenMetrics,
    /// The Prometheus text format 0.0.4.
    PrometheusText,
}

impl Format {
    /// What a scraper's `Accept` header asks for: OpenMetrics if it names it, else the
    /// Prometheus text format (which every scraper reads).
    pub fn accepted(accept: Option<&str>) -> Format {
        if accept.is_some_and(|accept| accept.contains("application/openmetrics-text")) {
            Format::OpenMetrics
        } else {
            Format::PrometheusText
        }
    }

    /// Its `Content-Type`.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => OPENMETRICS_CONTENT_TYPE,
            Format::PrometheusText => PROMETHEUS_TEXT_CONTENT_TYPE,
        }
    }
}

/// One server's registry. Clones share it.
#[derive(Clone, Debug)]
pub struct Metrics {
    registry: Arc<Mutex<Registry>>,
    /// The database the pool series describe, once there is one.
    pool: Arc<PoolCollector>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// An empty registry (plus the database pool series, empty until
    /// [`Metrics::watch_pool`]).
    pub fn new() -> Self {
        let pool = Arc::new(PoolCollector::default());
        let mut registry = Registry::with_prefix(PREFIX);
        registry.register_collector(Box::new(pool.clone()));
        Self {
            registry: Arc::new(Mutex::new(registry)),
            pool,
        }
    }

    fn registry(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers `metric` as `duban_<name>` (a counter gets `_total` added). Register
    /// each name once, when the server starts.
    pub fn register(&self, name: &str, help: &str, metric: impl Metric) {
        self.registry().register(name, help, metric);
    }

    /// Registers series computed at each scrape.
    pub fn register_collector(&self, collector: impl Collector) {
        self.registry().register_collector(Box::new(collector));
    }

    /// Describes `db`'s connection pool from now on (the last database given, if a
    /// start-up was retried).
    pub fn watch_pool(&self, db: &DatabaseConnection) {
        self.pool.watch(db);
    }

    /// Every series, in `format`.
    pub fn encode(&self, format: Format) -> String {
        let mut text = String::new();
        let registry = self.registry();
        // Writing into a String cannot fail.
        let _ = match format {
            Format::OpenMetrics => prometheus_client::encoding::text::encode(&mut text, &registry),
            Format::PrometheusText => prometheus_client::encoding::prometheus_text::encode(&mut text, &registry),
        };
        text
    }
}
