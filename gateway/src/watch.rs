//! Live updates: one feed per plan follows ReportingService.WatchReportEvents (resuming
//! after the last sequence, reconnecting with backoff), and WatchOverview subscribers
//! get a fresh overview when events arrive, coalesced to one per interval, and at
//! midnight in the plan's time zone when they follow "today".

use std::{
    collections::{BTreeSet, HashMap},
    sync::{Arc, Mutex},
    time::Duration,
};

use chrono::Utc;
use duban_proto::{common::v1::Date, gateway::v1::WatchOverviewResponse, reporting::v1::WatchReportEventsRequest};
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::{Code, Status};

use crate::{
    backends::Backends,
    dashboard::{Caller, Dashboard},
    error::GatewayError,
};

/// Something that may have changed an overview: a report event (its report's name), or
/// an empty name when the feed (re)connected and may have missed events.
#[derive(Debug, Clone)]
pub struct Change(pub String);

/// The per-plan feeds.
#[derive(Debug)]
pub struct Hub {
    backends: Arc<Backends>,
    stop: CancellationToken,
    feeds: Mutex<HashMap<String, broadcast::Sender<Change>>>,
}

impl Hub {
    /// Feeds stop when `stop` is cancelled.
    pub fn new(backends: Arc<Backends>, stop: CancellationToken) -> Self {
        Self {
            backends,
            stop,
            feeds: Mutex::default(),
        }
    }

    /// Changes of `plan_id`, starting a feed for it if none runs.
    pub fn subscribe(&self, plan_id: &str) -> broadcast::Receiver<Change> {
        let mut feeds = self.feeds.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(sender) = feeds.get(plan_id) {
            return sender.subscribe();
        }
        let (sender, receiver) = broadcast::channel(1024);
        feeds.insert(plan_id.to_owned(), sender.clone());
        tokio::spawn(feed(
            self.backends.clone(),
            format!("plans/{plan_id}"),
            sender,
            self.stop.clone(),
        ));
        receiver
    }
}

async fn feed(backends: Arc<Backends>, parent: String, sender: broadcast::Sender<Change>, stop: CancellationToken) {
    let mut after = 0i64;
    let mut backoff = Duration::from_millis(200);
    let mut failed = false;
    loop {
        let mut client = backends.reporting_stream();
        let request = WatchReportEventsRequest {
            parent: parent.clone(),
            after_sequence: after,
            ..Default::default()
        };
        let opened = tokio::select! {
            () = stop.cancelled() => return,
            opened = client.watch_report_events(request) => opened,
        };
        match opened {
            Ok(response) => {
                if failed {
                    // Back after an outage: whatever was missed, overviews must refresh.
                    let _ = sender.send(Change(String::new()));
                }
                backoff = Duration::from_millis(200);
                let mut stream = response.into_inner();
                loop {
                    let message = tokio::select! {
                        () = stop.cancelled() => return,
                        message = stream.message() => message,
                    };
                    match message {
                        Ok(Some(event)) => {
                            after = event.sequence;
                            let _ = sender.send(Change(event.report));
                        }
                        Ok(None) => break,
                        Err(status) => {
                            if status.code() == Code::OutOfRange {
                                after = 0;
                            }
                            break;
                        }
                    }
                }
                failed = true;
            }
            Err(status) => {
                if status.code() == Code::OutOfRange {
                    after = 0;
                }
                if !failed {
                    tracing::warn!(code = ?status.code(), detail = status.message(), "cannot watch report events; retrying");
                }
                failed = true;
            }
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

/// WatchOverview: validates at once (errors are the call's), then streams.
pub async fn watch_overview(
    dashboard: Dashboard,
    hub: Arc<Hub>,
    caller: Caller,
    plan: String,
    as_of: Option<Date>,
    interval: Duration,
    stop: CancellationToken,
) -> Result<ReceiverStream<Result<WatchOverviewResponse, Status>>, GatewayError> {
    let first = dashboard.overview(&caller, &plan, as_of.as_ref()).await?;
    // "Today" turns at midnight in the plan's own zone.
    let zone = dashboard.catalogue(&plan).await?.calendar.zone();
    let plan_id = crate::dashboard::plan_id(&plan, "plan")?;
    let mut changes = hub.subscribe(&plan_id);
    let (sender, receiver) = mpsc::channel(4);
    tokio::spawn(async move {
        if sender
            .send(Ok(WatchOverviewResponse {
                overview: Some(first),
                changed_reports: Vec::new(),
            }))
            .await
            .is_err()
        {
            return;
        }
        let mut last_push = tokio::time::Instant::now();
        loop {
            let mut changed: BTreeSet<String> = BTreeSet::new();
            // One second past midnight, so that "today" has surely turned.
            let midnight = tokio::time::sleep(zone.until_next_midnight(Utc::now()) + Duration::from_secs(1));
            tokio::pin!(midnight);
            // Wait for the first change (or midnight when following today).
            tokio::select! {
                () = stop.cancelled() => {
                    let _ = sender.send(Err(duban_kit::error::unavailable(
                        duban_proto::gateway::v1::ErrorReason::ShuttingDown,
                        "the gateway is shutting down; reconnect",
                        [],
                    ))).await;
                    return;
                }
                () = sender.closed() => return,
                () = &mut midnight, if as_of.is_none() => {}
                change = changes.recv() => match change {
                    Ok(Change(report)) => { changed.insert(report); }
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return,
                },
            }
            // Coalesce until the interval since the last push has passed.
            let until = last_push + interval;
            loop {
                tokio::select! {
                    () = tokio::time::sleep_until(until) => break,
                    () = stop.cancelled() => break,
                    change = changes.recv() => match change {
                        Ok(Change(report)) => { changed.insert(report); }
                        Err(broadcast::error::RecvError::Lagged(_)) => {}
                        Err(broadcast::error::RecvError::Closed) => break,
                    },
                }
            }
            let overview = match dashboard.overview(&caller, &plan, as_of.as_ref()).await {
                Ok(overview) => overview,
                Err(error) => {
                    let _ = sender.send(Err(error.into())).await;
                    return;
                }
            };
            last_push = tokio::time::Instant::now();
            let message = WatchOverviewResponse {
                overview: Some(overview),
                changed_reports: changed.into_iter().filter(|r| !r.is_empty()).collect(),
            };
            if sender.send(Ok(message)).await.is_err() {
                return;
            }
        }
    });
    Ok(ReceiverStream::new(receiver))
}
