//! WatchReportEvents: stored events replayed after a sequence, then live ones.

use duban_kit::{Principal, auth::Verified};
use duban_proto::reporting::v1 as pb;
use duban_proto::reporting::v1::ErrorReason;
use tokio::sync::broadcast;

use super::{Reporting, Result, parent_plan};
use crate::{convert, error::ReportingError};

/// WatchReportEvents replays stored events this many at a time.
const REPLAY_PAGE: u64 = 500;
/// Events are kept this long.
pub const EVENT_RETENTION_US: i64 = 7 * 24 * 3600 * 1_000_000;

impl Reporting {
    /// WatchReportEvents: stored events after `after_sequence`, then live ones, until
    /// the client leaves or the server stops.
    pub async fn watch(
        &self,
        caller: &Verified,
        request: pb::WatchReportEventsRequest,
    ) -> Result<impl futures::Stream<Item = std::result::Result<pb::WatchReportEventsResponse, tonic::Status>> + use<>>
    {
        let plan_code = parent_plan(&request.parent)?;
        let mut department = request.department.clone();
        if let Principal::Department(own) = &caller.principal {
            Self::check_own(&caller.principal, if department.is_empty() { own } else { &department })?;
            department = own.clone();
        }
        self.catalog.plan(&plan_code).await?;
        // Subscribe before reading stored events, so that nothing committed meanwhile
        // is missed; the sequence check below drops what both deliver.
        let mut live = self.feed.subscribe();
        let after = request.after_sequence.max(0);
        let cutoff = chrono::Utc::now().timestamp_micros() - EVENT_RETENTION_US;
        if after > 0
            && let Some(oldest) = self.store.oldest_kept_event(cutoff).await?
            && after < oldest - 1
        {
            return Err(ReportingError::EventsExpired(after));
        }
        let store = self.store.clone();
        let types = request.event_types.clone();
        let measure = request.measure_number.clone();
        let wanted = move |event: &pb::WatchReportEventsResponse| {
            (measure.is_empty() || event.measure_number == measure)
                && (department.is_empty() || event.department == department)
                && (types.is_empty() || types.contains(&event.event_type))
        };
        let stopping = self.stopping.clone();
        let (tx, rx) = tokio::sync::mpsc::channel(256);
        tokio::spawn(async move {
            // Stored events after `after_sequence`, a page at a time, then live ones.
            let mut last = after;
            let mut replay = after > 0;
            while replay {
                let page = tokio::select! {
                    () = stopping.cancelled() => {
                        let _ = tx.send(Err(shutting_down())).await;
                        return;
                    }
                    () = tx.closed() => return,
                    page = store.events_after(&plan_code, last, REPLAY_PAGE) => page,
                };
                let rows = match page {
                    Ok(rows) => rows,
                    Err(error) => {
                        let _ = tx.send(Err(ReportingError::from(error).into())).await;
                        return;
                    }
                };
                replay = rows.len() as u64 == REPLAY_PAGE;
                for row in rows {
                    let event = convert::event(&row);
                    last = event.sequence;
                    if wanted(&event) && tx.send(Ok(event)).await.is_err() {
                        return;
                    }
                }
            }
            loop {
                tokio::select! {
                    () = stopping.cancelled() => {
                        let _ = tx.send(Err(shutting_down())).await;
                        return;
                    }
                    () = tx.closed() => return,
                    received = live.recv() => match received {
                        Ok((plan, event)) => {
                            if plan != plan_code || event.sequence <= last || !wanted(&event) {
                                continue;
                            }
                            last = event.sequence;
                            if tx.send(Ok(event)).await.is_err() {
                                return;
                            }
                        }
                        Err(broadcast::error::RecvError::Lagged(_)) => {
                            let _ = tx.send(Err(duban_kit::error::unavailable(
                                ErrorReason::StreamLagged,
                                "the watcher fell behind; reconnect with after_sequence",
                                [],
                            ))).await;
                            return;
                        }
                        Err(broadcast::error::RecvError::Closed) => return,
                    }
                }
            }
        });
        Ok(tokio_stream::wrappers::ReceiverStream::new(rx))
    }
}

/// UNAVAILABLE, reason SHUTTING_DOWN: the stream ends with the server.
fn shutting_down() -> tonic::Status {
    duban_kit::error::unavailable(
        ErrorReason::ShuttingDown,
        "the server is shutting down; reconnect with after_sequence",
        [],
    )
}
