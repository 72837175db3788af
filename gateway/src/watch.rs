//! Live updates: one feed per plan follows ReportingService.WatchReportEvents (resuming
//! after the last sequence, reconnecting with backoff), and one shared computation per
//! (plan, as_of) watched turns its changes into overviews, coalesced to one per
//! interval, and at midnight in the plan's time zone when it follows "today". Every
//! watcher of the same (plan, as_of), by WatchOverview or the page's live refresh, gets
//! those same overviews: a hundred open dashboards cost one computation per change, not
//! a hundred. A watcher that reads slowly gets the latest overview, not every one.

use std::{
    collections::{BTreeSet, HashMap},
    sync::{Arc, Mutex},
    time::Duration,
};

use futures::{StreamExt, stream::BoxStream};

use chrono::Utc;
use duban_proto::{common::v1::Date, gateway::v1::WatchOverviewResponse, reporting::v1::WatchReportEventsRequest};
use tokio::sync::{broadcast, watch};
use tokio_stream::wrappers::WatchStream;
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

/// One push of a shared overview computation, as every watcher receives it: an
/// overview, or the failure that ended the computation (as gRPC and HTTP answer it).
type Pushed = Arc<Result<WatchOverviewResponse, (Status, http::StatusCode)>>;

/// Which overview a computation keeps: the plan, and the day (`None`: today).
type OverviewKey = (String, Option<(i32, i32, i32)>);

/// The per-plan feeds and the shared overview computations.
#[derive(Debug)]
pub struct Hub {
    backends: Arc<Backends>,
    dashboard: Dashboard,
    interval: Duration,
    stop: CancellationToken,
    feeds: Mutex<HashMap<String, broadcast::Sender<Change>>>,
    overviews: Mutex<HashMap<OverviewKey, Arc<watch::Sender<Option<Pushed>>>>>,
}

impl Hub {
    /// Overviews computed by `dashboard`, at most one per `interval` per (plan, as_of);
    /// feeds and computations stop when `stop` is cancelled.
    pub fn new(backends: Arc<Backends>, dashboard: Dashboard, interval: Duration, stop: CancellationToken) -> Self {
        Self {
            backends,
            dashboard,
            interval,
            stop,
            feeds: Mutex::default(),
            overviews: Mutex::default(),
        }
    }

    /// WatchOverview for `caller`: checked at once (an error is the call's, not the
    /// stream's), then the shared computation's overviews, the latest first.
    pub async fn watch_overview(
        self: &Arc<Self>,
        caller: &Caller,
        plan: &str,
        as_of: Option<Date>,
    ) -> Result<BoxStream<'static, Result<WatchOverviewResponse, Status>>, GatewayError> {
        caller.require_reader("WatchOverview")?;
        let plan_id = crate::dashboard::plan_id(plan, "plan")?;
        let key = (plan_id, as_of.as_ref().map(|d| (d.year, d.month, d.day)));
        let mut receiver = {
            let mut overviews = self.overviews.lock().unwrap_or_else(|e| e.into_inner());
            match overviews.get(&key) {
                Some(sender) => sender.subscribe(),
                None => {
                    let (sender, receiver) = watch::channel(None);
                    let sender = Arc::new(sender);
                    overviews.insert(key.clone(), sender.clone());
                    tokio::spawn(self.clone().compute(key, plan.to_owned(), as_of, sender));
                    receiver
                }
            }
        };
        // The first overview (or why there is none) answers the call itself.
        let first = receiver
            .wait_for(Option::is_some)
            .await
            .map_err(|_| GatewayError::ShuttingDown)?
            .clone();
        if let Some(Err((status, http))) = first.as_deref() {
            return Err(GatewayError::Answered {
                status: status.clone(),
                http: *http,
            });
        }
        let stream = WatchStream::new(receiver)
            .filter_map(std::future::ready)
            .map(|pushed| pushed.as_ref().clone().map_err(|(status, _)| status));
        // A failed push is the last one.
        let mut ended = false;
        Ok(stream
            .take_while(move |item| {
                let go_on = !ended;
                ended |= item.is_err();
                std::future::ready(go_on)
            })
            .boxed())
    }

    /// The shared computation of `key`'s overview: runs while anyone watches it.
    async fn compute(
        self: Arc<Self>,
        key: OverviewKey,
        plan: String,
        as_of: Option<Date>,
        sender: Arc<watch::Sender<Option<Pushed>>>,
    ) {
        let mut changes = self.subscribe(&key.0);
        let overview = |changed: BTreeSet<String>| {
            let hub = self.clone();
            let (plan, as_of) = (plan.clone(), as_of);
            async move {
                let overview = hub
                    .dashboard
                    .overview(&Caller::anonymous(), &plan, as_of.as_ref())
                    .await?;
                Ok::<_, GatewayError>(WatchOverviewResponse {
                    overview: Some(overview),
                    changed_reports: changed.into_iter().filter(|r| !r.is_empty()).collect(),
                })
            }
        };
        let publish = |pushed: Result<WatchOverviewResponse, GatewayError>| {
            let failed = pushed.is_err();
            let pushed = pushed.map_err(|error| (error.http_status(), Status::from(error)));
            sender.send_replace(Some(Arc::new(pushed.map_err(|(http, status)| (status, http)))));
            failed
        };
        // "Today" turns at midnight in the plan's own zone.
        let zone = match self.dashboard.catalogue(&plan).await {
            Ok(catalogue) => catalogue.calendar.zone(),
            Err(error) => {
                publish(Err(error));
                self.forget(&key, &sender);
                return;
            }
        };
        if publish(overview(BTreeSet::new()).await) {
            self.forget(&key, &sender);
            return;
        }
        let mut last_push = tokio::time::Instant::now();
        loop {
            let mut changed: BTreeSet<String> = BTreeSet::new();
            // One second past midnight, so that "today" has surely turned.
            let midnight = tokio::time::sleep(zone.until_next_midnight(Utc::now()) + Duration::from_secs(1));
            tokio::pin!(midnight);
            // Wait for the first change (or midnight when following today), or for the
            // last watcher to leave.
            tokio::select! {
                () = self.stop.cancelled() => {
                    publish(Err(GatewayError::ShuttingDown));
                    self.forget(&key, &sender);
                    return;
                }
                () = sender.closed() => {
                    if self.forget(&key, &sender) {
                        return;
                    }
                    continue;
                }
                () = &mut midnight, if as_of.is_none() => {}
                change = changes.recv() => match change {
                    Ok(Change(report)) => { changed.insert(report); }
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => {
                        publish(Err(GatewayError::ShuttingDown));
                        self.forget(&key, &sender);
                        return;
                    }
                },
            }
            // Coalesce until the interval since the last push has passed.
            let until = last_push + self.interval;
            loop {
                tokio::select! {
                    () = tokio::time::sleep_until(until) => break,
                    () = self.stop.cancelled() => break,
                    change = changes.recv() => match change {
                        Ok(Change(report)) => { changed.insert(report); }
                        Err(broadcast::error::RecvError::Lagged(_)) => {}
                        Err(broadcast::error::RecvError::Closed) => break,
                    },
                }
            }
            if self.stop.is_cancelled() {
                continue;
            }
            last_push = tokio::time::Instant::now();
            if publish(overview(changed).await) {
                self.forget(&key, &sender);
                return;
            }
        }
    }

    /// Takes `key`'s computation out of the map if nobody watches it any more (or it has
    /// failed: its watchers have its last word and new ones start afresh). Under the
    /// map's lock, so that a watcher arriving meanwhile either joins it or starts a new
    /// one. Whether it was taken out.
    fn forget(&self, key: &OverviewKey, sender: &Arc<watch::Sender<Option<Pushed>>>) -> bool {
        let mut overviews = self.overviews.lock().unwrap_or_else(|e| e.into_inner());
        let failed = sender.borrow().as_deref().is_some_and(Result::is_err);
        if (failed || sender.receiver_count() == 0)
            && overviews.get(key).is_some_and(|current| Arc::ptr_eq(current, sender))
        {
            overviews.remove(key);
            return true;
        }
        false
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
