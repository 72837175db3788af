//! Per-department write quotas: each department's credentials share one token bucket
//! (governor, the well-kept GCRA rate limiter, keyed by department), so one unit's
//! runaway system cannot crowd out the others. Keyed on the authenticated principal,
//! never on the peer address (a gateway or a proxy would put every department behind
//! one). ADMIN and SERVICE are not limited: backfills and the suite's own calls are
//! trusted bulk writers.

use std::{num::NonZeroU32, sync::Arc, time::Duration};

use governor::{Quota, RateLimiter, clock::Clock, clock::DefaultClock, state::keyed::DefaultKeyedStateStore};

use crate::{Principal, settings::ServerLimits};

/// See the module documentation. Cloning shares the buckets.
#[derive(Clone)]
pub struct WriteQuota {
    limiter: Option<Arc<RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock>>>,
}

impl std::fmt::Debug for WriteQuota {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteQuota")
            .field("enabled", &self.limiter.is_some())
            .finish()
    }
}

/// A department went over its quota; it may write again after `retry_after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("this department sends writes faster than its quota; retry after {} ms", retry_after.as_millis())]
pub struct OverQuota {
    /// When the next write would be admitted.
    pub retry_after: Duration,
}

impl WriteQuota {
    /// The quota of `limits` (`department_writes_per_second` and
    /// `department_write_burst`); a rate of 0 admits everything.
    pub fn new(limits: &ServerLimits) -> Self {
        let limiter = NonZeroU32::new(limits.department_writes_per_second).map(|rate| {
            let burst = NonZeroU32::new(limits.department_write_burst).unwrap_or(rate);
            Arc::new(RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)))
        });
        Self { limiter }
    }

    /// Admits one write by `principal`, or says when to retry.
    pub fn admit(&self, principal: &Principal) -> Result<(), OverQuota> {
        let (Some(limiter), Principal::Department(department)) = (&self.limiter, principal) else {
            return Ok(());
        };
        limiter.check_key(department).map_err(|not_until| OverQuota {
            retry_after: not_until.wait_time_from(DefaultClock::default().now()),
        })
    }
}

impl From<OverQuota> for tonic::Status {
    fn from(over: OverQuota) -> tonic::Status {
        crate::error::rate_limited(over.to_string(), over.retry_after)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quota(rate: u32, burst: u32) -> WriteQuota {
        WriteQuota::new(&ServerLimits {
            department_writes_per_second: rate,
            department_write_burst: burst,
            ..ServerLimits::default()
        })
    }

    #[test]
    fn each_department_has_its_own_bucket() {
        let quota = quota(1, 3);
        let town = Principal::Department("anting-town".into());
        for _ in 0..3 {
            quota.admit(&town).unwrap();
        }
        let over = quota.admit(&town).unwrap_err();
        assert!(over.retry_after > Duration::ZERO && over.retry_after <= Duration::from_secs(1));
        // Another department, the administrator and the suite are not held back.
        quota.admit(&Principal::Department("tax-bureau".into())).unwrap();
        for _ in 0..10 {
            quota.admit(&Principal::Admin).unwrap();
            quota.admit(&Principal::Service).unwrap();
        }
    }

    #[test]
    fn zero_switches_it_off_and_the_status_says_when_to_retry() {
        let off = quota(0, 0);
        for _ in 0..10_000 {
            off.admit(&Principal::Department("x".into())).unwrap();
        }
        let status = tonic::Status::from(OverQuota {
            retry_after: Duration::from_millis(1500),
        });
        assert_eq!(status.code(), tonic::Code::ResourceExhausted);
        assert_eq!(crate::status::reason(&status).as_deref(), Some("RATE_LIMITED"));
        use tonic_types::StatusExt;
        let retry = status.get_details_retry_info().expect("RetryInfo");
        assert_eq!(retry.retry_delay, Some(Duration::from_millis(1500)));
    }
}
