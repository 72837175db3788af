//! Long-lived server streams (WatchReportEvents, WatchOverview, the dashboard's
//! server-sent events) under two rules the request layer cannot give them, since its
//! concurrency permit is released once a stream's headers are sent:
//!
//! - **A bound.** At most `server.max_open_streams` at once on a server, and at most
//!   `server.max_streams_per_credential` for any one token; beyond either the opening
//!   call gets RESOURCE_EXHAUSTED, reason `TOO_MANY_STREAMS`. SERVICE (the suite's own
//!   feeds, one per plan and gateway) is not counted. Callers without a token of their
//!   own (the dashboard's local or public access) count against the total only.
//! - **Revocation.** The token a stream was opened with is verified again, bypassing the
//!   cache, once per revocation window (`auth.cache_ttl_seconds`); once it is revoked or
//!   expired, the stream ends with UNAUTHENTICATED, reason `CREDENTIAL_REVOKED`. If the
//!   directory cannot be asked, the stream goes on (an outage of departments must not
//!   cut every dashboard) and the check is tried again a window later.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use futures::{Stream, StreamExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Code, Status};

use crate::{
    Authenticator, Principal,
    auth::{AuthError, token_hash},
    settings::ServerLimits,
    status::SuiteReason,
};

/// Open streams by token hash.
type CountsByCredential = Arc<Mutex<HashMap<String, usize>>>;

/// The open streams of one server. Cloning shares the counts.
#[derive(Debug, Clone)]
pub struct OpenStreams {
    total: Arc<Semaphore>,
    per_credential: usize,
    by_credential: CountsByCredential,
}

/// One open stream's place in the counts, given back when dropped.
#[derive(Debug)]
pub struct StreamPermit {
    _total: Option<OwnedSemaphorePermit>,
    credential: Option<(String, CountsByCredential)>,
}

impl Drop for StreamPermit {
    fn drop(&mut self) {
        if let Some((key, counts)) = self.credential.take() {
            let mut counts = counts.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(open) = counts.get_mut(&key) {
                *open -= 1;
                if *open == 0 {
                    counts.remove(&key);
                }
            }
        }
    }
}

impl OpenStreams {
    /// The bounds of `limits` (`max_open_streams`, `max_streams_per_credential`).
    pub fn new(limits: &ServerLimits) -> Self {
        Self {
            total: Arc::new(Semaphore::new(limits.max_open_streams.max(1))),
            per_credential: limits.max_streams_per_credential.max(1),
            by_credential: Arc::default(),
        }
    }

    /// A place for one more stream of a reader without a token of their own (the
    /// dashboard's local or public access): counted against the total only.
    pub fn open_anonymous(&self) -> Result<StreamPermit, Status> {
        Ok(StreamPermit {
            _total: Some(self.acquire_total()?),
            credential: None,
        })
    }

    fn acquire_total(&self) -> Result<OwnedSemaphorePermit, Status> {
        self.total.clone().try_acquire_owned().map_err(|_| {
            crate::error::resource_exhausted(
                SuiteReason::TooManyStreams,
                "the server has as many streams open as it serves; retry with backoff",
            )
        })
    }

    /// A place for one more stream of `principal`, who holds `token` (`None`: no token of
    /// its own), or RESOURCE_EXHAUSTED.
    pub fn open(&self, principal: &Principal, token: Option<&str>) -> Result<StreamPermit, Status> {
        if *principal == Principal::Service {
            return Ok(StreamPermit {
                _total: None,
                credential: None,
            });
        }
        let total = self.acquire_total()?;
        let Some(token) = token else {
            return Ok(StreamPermit {
                _total: Some(total),
                credential: None,
            });
        };
        let key = token_hash(token);
        let mut counts = self.by_credential.lock().unwrap_or_else(|e| e.into_inner());
        let open = counts.entry(key.clone()).or_default();
        if *open >= self.per_credential {
            return Err(crate::error::resource_exhausted(
                SuiteReason::TooManyStreams,
                format!(
                    "this credential already has {} streams open, the most one may; close one first",
                    self.per_credential
                ),
            ));
        }
        *open += 1;
        drop(counts);
        Ok(StreamPermit {
            _total: Some(total),
            credential: Some((key, self.by_credential.clone())),
        })
    }
}

/// The status a stream ends with once its credential is no longer valid.
pub fn credential_revoked() -> Status {
    crate::status::with_reason(
        Code::Unauthenticated,
        "the credential this stream was opened with is no longer valid; reopen it with a valid token",
        SuiteReason::CredentialRevoked,
        [],
    )
}

/// How a stream re-checks its opener: the token, the authenticator to ask, and how often.
#[derive(Debug, Clone)]
pub struct Recheck {
    /// The authenticator of the server the stream is on.
    pub authenticator: Authenticator,
    /// The opener's token; `None` (no token of its own, or SERVICE) is never re-checked.
    pub token: Option<String>,
    /// The revocation window.
    pub every: Duration,
}

/// Serves `stream` while holding `permit`, ending it with [`credential_revoked`] once
/// `recheck` finds the token no longer valid. The stream is read by a task of its own,
/// which stops as soon as the caller goes away.
pub fn guarded<T, S>(stream: S, permit: StreamPermit, recheck: Recheck) -> ReceiverStream<Result<T, Status>>
where
    T: Send + 'static,
    S: Stream<Item = Result<T, Status>> + Send + 'static,
{
    let (sender, receiver) = mpsc::channel(4);
    tokio::spawn(async move {
        let _permit = permit;
        let mut stream = std::pin::pin!(stream);
        let every = recheck.every.max(Duration::from_millis(100));
        let mut next_check = tokio::time::Instant::now() + every;
        loop {
            tokio::select! {
                () = sender.closed() => return,
                item = stream.next() => match item {
                    Some(item) => {
                        if sender.send(item).await.is_err() {
                            return;
                        }
                    }
                    None => return,
                },
                () = tokio::time::sleep_until(next_check), if recheck.token.is_some() => {
                    next_check = tokio::time::Instant::now() + every;
                    if let Some(token) = &recheck.token {
                        match recheck.authenticator.verify_fresh(token).await {
                            Err(AuthError::Unavailable(_)) | Ok(_) => {}
                            Err(_) => {
                                let _ = sender.send(Err(credential_revoked())).await;
                                return;
                            }
                        }
                    }
                }
            }
        }
    });
    ReceiverStream::new(receiver)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn streams(total: usize, per_credential: usize) -> OpenStreams {
        OpenStreams::new(&ServerLimits {
            max_open_streams: total,
            max_streams_per_credential: per_credential,
            ..ServerLimits::default()
        })
    }

    fn reason(status: &Status) -> String {
        crate::status::reason(status).unwrap_or_default()
    }

    #[test]
    fn one_credential_may_hold_only_its_share_and_gets_it_back_on_close() {
        let streams = streams(10, 2);
        let town = Principal::Department("anting-town".into());
        let first = streams.open(&town, Some("token-a")).unwrap();
        let _second = streams.open(&town, Some("token-a")).unwrap();
        let refused = streams.open(&town, Some("token-a")).unwrap_err();
        assert_eq!(refused.code(), Code::ResourceExhausted);
        assert_eq!(reason(&refused), "TOO_MANY_STREAMS");
        // Another token of the same unit has its own share.
        let _other = streams.open(&town, Some("token-b")).unwrap();
        drop(first);
        let _again = streams.open(&town, Some("token-a")).unwrap();
    }

    #[test]
    fn the_total_bounds_everyone_but_service() {
        let streams = streams(2, 5);
        let _a = streams.open(&Principal::Leadership, Some("a")).unwrap();
        let _b = streams.open(&Principal::Leadership, None).unwrap();
        let refused = streams.open(&Principal::Admin, Some("c")).unwrap_err();
        assert_eq!(refused.code(), Code::ResourceExhausted);
        assert!(streams.open(&Principal::Service, Some("service")).is_ok());
    }
}
