//! The `/metrics` listener: plain HTTP/1.1 on a port of its own (`<server>.metrics_listen`),
//! so that Prometheus is let in to it, and only to it, by a NetworkPolicy or a published
//! port, and the API's clients (the gateway's is public) never see it.

use std::{net::SocketAddr, time::Duration};

use axum::{
    Router,
    extract::State,
    http::{HeaderMap, header},
    response::IntoResponse,
    routing::get,
};
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_util::sync::CancellationToken;

use super::{Format, Metrics};

/// A running `/metrics` listener.
#[derive(Debug)]
pub struct MetricsListener {
    local_addr: SocketAddr,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl MetricsListener {
    /// Binds `listen` and answers `GET /metrics` with `metrics` (anything else: 404).
    pub async fn start(listen: SocketAddr, metrics: Metrics) -> std::io::Result<MetricsListener> {
        let listener = TcpListener::bind(listen).await?;
        let local_addr = listener.local_addr()?;
        let stop = CancellationToken::new();
        let router = Router::new().route("/metrics", get(scrape)).with_state(metrics);
        let serve = axum::serve(listener, router).with_graceful_shutdown(stop.clone().cancelled_owned());
        let task = tokio::spawn(async move {
            if let Err(error) = serve.await {
                tracing::error!(%error, "the metrics listener failed");
            }
        });
        Ok(MetricsListener { local_addr, stop, task })
    }

    /// The bound address (the real port when `listen` had port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops listening; a scrape still running gets a second to finish. The port is
    /// free again when this returns.
    pub async fn shutdown(self) {
        self.stop.cancel();
        let mut task = self.task;
        if tokio::time::timeout(Duration::from_secs(1), &mut task).await.is_err() {
            task.abort();
            let _ = task.await;
        }
    }
}

async fn scrape(State(metrics): State<Metrics>, headers: HeaderMap) -> impl IntoResponse {
    let accept = headers.get(header::ACCEPT).and_then(|value| value.to_str().ok());
    let format = Format::accepted(accept);
    ([(header::CONTENT_TYPE, format.content_type())], metrics.encode(format))
}
