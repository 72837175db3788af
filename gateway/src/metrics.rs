//! Prometheus counters, written out in the text exposition format at `/metrics`.

use std::sync::atomic::{AtomicU64, Ordering};

/// A monotonically increasing counter.
#[derive(Debug)]
pub struct Counter {
    name: &'static str,
    help: &'static str,
    value: AtomicU64,
}

impl Counter {
    const fn new(name: &'static str, help: &'static str) -> Self {
        Self {
            name,
            help,
            value: AtomicU64::new(0),
        }
    }

    /// Adds one.
    pub fn inc(&self) {
        self.value.fetch_add(1, Ordering::Relaxed);
    }

    /// The current value.
    pub fn get(&self) -> u64 {
        self.value.load(Ordering::Relaxed)
    }
}

/// Calls forwarded to a downstream service.
pub static FORWARDED: Counter = Counter::new(
    "duban_gateway_forwarded_calls_total",
    "gRPC calls forwarded to a downstream service",
);
/// HTTP pages and API answers served.
pub static HTTP_REQUESTS: Counter = Counter::new(
    "duban_gateway_http_requests_total",
    "dashboard pages, JSON and CSV answers served",
);
/// Overviews computed.
pub static OVERVIEWS: Counter = Counter::new("duban_gateway_overviews_total", "overviews computed");
/// Overviews that were partial.
pub static PARTIAL: Counter = Counter::new(
    "duban_gateway_partial_overviews_total",
    "overviews computed while a service was unreachable",
);

/// Every counter, in the text exposition format.
pub fn render() -> String {
    let mut out = String::new();
    for counter in [&FORWARDED, &HTTP_REQUESTS, &OVERVIEWS, &PARTIAL] {
        out.push_str(&format!(
            "# HELP {0} {1}\n# TYPE {0} counter\n{0} {2}\n",
            counter.name,
            counter.help,
            counter.get()
        ));
    }
    out
}
