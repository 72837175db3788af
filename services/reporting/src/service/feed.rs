//! The live event feed of one reporting server. Watchers do not hear about a write from
//! the writer that made it: the feed reads committed events back from the database, in
//! sequence order, and broadcasts them to this server's watchers, so every watcher sees
//! every event once and in order whichever replica took the write.
//!
//! Why reading in sequence order is enough: events commit in sequence order (on
//! PostgreSQL every batch of every replica holds the writer's turn lock from its first
//! statement to its commit, see `writer`; SQLite has one writer). So when the feed has
//! read up to sequence n, no event below n can still appear.
//!
//! When to read: at once after a local commit; on PostgreSQL also when another replica
//! announces one (LISTEN/NOTIFY on [`CHANNEL`]); and every [`POLL`] in any case, so a
//! lost notification delays an event by at most that long, never loses it.

use std::{sync::Arc, time::Duration};

use sea_orm::{ConnectionTrait, DbBackend, sqlx::postgres::PgListener};
use tokio::sync::{Notify, broadcast};
use tokio_util::sync::CancellationToken;

use super::Event;
use crate::{convert, store::ReportStore};

/// The PostgreSQL notification channel a replica announces its commits on.
pub const CHANNEL: &str = "duban_report_events";
/// The longest an event can wait for the feed when a notification was lost.
pub const POLL: Duration = Duration::from_secs(1);
/// Events are read this many at a time.
const PAGE: u64 = 500;
/// Watchers further behind than this many events are cut off (STREAM_LAGGED).
const CAPACITY: usize = 4096;

/// See the module documentation. Cloning shares the feed.
#[derive(Debug, Clone)]
pub struct EventFeed {
    events: broadcast::Sender<Event>,
    wake: Arc<Notify>,
}

impl EventFeed {
    /// Starts the feed's task over `store`; it stops with `stopping`.
    pub fn start(store: ReportStore, stopping: CancellationToken) -> Self {
        let (events, _) = broadcast::channel(CAPACITY);
        let wake = Arc::new(Notify::new());
        tokio::spawn(run(store, events.clone(), wake.clone(), stopping));
        Self { events, wake }
    }

    /// The events committed from now on, in sequence order.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// Tells the feed this server committed events: read them now.
    pub fn committed(&self) {
        self.wake.notify_one();
    }
}

async fn run(store: ReportStore, events: broadcast::Sender<Event>, wake: Arc<Notify>, stopping: CancellationToken) {
    // Start after what is already stored: watchers replay history from the store.
    let mut last = loop {
        match store.newest_event().await {
            Ok(sequence) => break sequence,
            Err(error) => {
                tracing::warn!(%error, "event feed cannot read the newest event; retrying");
                tokio::select! {
                    () = stopping.cancelled() => return,
                    () = tokio::time::sleep(POLL) => {}
                }
            }
        }
    };
    let postgres = store.db().get_database_backend() == DbBackend::Postgres;
    let mut listener = if postgres { listen(&store).await } else { None };
    loop {
        tokio::select! {
            () = stopping.cancelled() => return,
            () = wake.notified() => {
                if postgres {
                    // Tell the other replicas; this one reads at once below.
                    if let Err(error) = store.db().execute_unprepared(&format!("NOTIFY {CHANNEL}")).await {
                        tracing::warn!(%error, "cannot announce committed events to other replicas");
                    }
                }
            }
            () = notified(&mut listener) => {}
            () = tokio::time::sleep(POLL) => {}
        }
        last = publish(&store, &events, last).await;
    }
}

/// Broadcasts every stored event after `last`; returns the last one published.
async fn publish(store: &ReportStore, events: &broadcast::Sender<Event>, mut last: i64) -> i64 {
    loop {
        let rows = match store.events_since(last, PAGE).await {
            Ok(rows) => rows,
            Err(error) => {
                tracing::warn!(%error, "event feed cannot read events; retrying");
                return last;
            }
        };
        let full = rows.len() as u64 == PAGE;
        for row in rows {
            last = row.sequence;
            // Nobody watching is fine: the event is stored and can be replayed.
            let _ = events.send((row.plan.clone(), convert::event(&row)));
        }
        if !full {
            return last;
        }
    }
}

/// A listener on [`CHANNEL`], or `None` (then the feed polls) if it cannot be set up.
async fn listen(store: &ReportStore) -> Option<PgListener> {
    let connected = PgListener::connect_with(store.db().get_postgres_connection_pool()).await;
    let mut listener = match connected {
        Ok(listener) => listener,
        Err(error) => {
            tracing::warn!(%error, "cannot listen for other replicas' events; polling every {POLL:?}");
            return None;
        }
    };
    match listener.listen(CHANNEL).await {
        Ok(()) => Some(listener),
        Err(error) => {
            tracing::warn!(%error, "cannot listen for other replicas' events; polling every {POLL:?}");
            None
        }
    }
}

/// Resolves when another replica announces a commit; never without a listener. A
/// broken connection is re-established by the listener itself on the next call.
async fn notified(listener: &mut Option<PgListener>) {
    match listener {
        Some(listener) => {
            if let Err(error) = listener.recv().await {
                tracing::warn!(%error, "lost the notification connection; reconnecting");
                tokio::time::sleep(POLL).await;
            }
        }
        None => std::future::pending().await,
    }
}
