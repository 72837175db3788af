//! The daily follow-up run: one task per reporting server that evaluates every plan once
//! a day at the plan's `run_at` (local time in its zone) and stores the notices due.
//!
//! At start-up it evaluates at once the last day whose `run_at` has passed (today after
//! `run_at`, else yesterday), so a day on which no server ran is not lost; since each
//! notice stays due for its rule's whole window (see [`crate::follow_up`]), that one run
//! also catches up the days before. Several replicas, restarts and the EvaluateNotices
//! RPC may evaluate the same day again: each notice's key is unique in the table and
//! inserted with ON CONFLICT DO NOTHING, so it is stored once. The task wakes at the
//! earliest next `run_at` of all plans, and at least hourly, so a plan imported or a
//! `run_at` changed is followed within the hour and a failed run is retried.

use std::{collections::HashMap, fmt, sync::Arc, time::Duration};

use chrono::{DateTime, NaiveDate, Utc};
use tokio_util::sync::CancellationToken;

use super::{Reporting, journal::AuditInfo, method};

/// The longest the task sleeps, whatever the plans' times.
const MAX_SLEEP: Duration = Duration::from_secs(3600);

/// What time it is, for the daily run: the system clock, or a fixed or simulated one
/// in tests.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>);

impl Clock {
    /// A clock that reads `now`.
    pub fn new(now: impl Fn() -> DateTime<Utc> + Send + Sync + 'static) -> Self {
        Self(Arc::new(now))
    }

    /// Always `at` (tests: "the day" is fixed).
    pub fn fixed(at: DateTime<Utc>) -> Self {
        Self::new(move || at)
    }

    /// The time now.
    pub fn now(&self) -> DateTime<Utc> {
        (self.0)()
    }
}

impl Default for Clock {
    /// The system clock.
    fn default() -> Self {
        Self::new(Utc::now)
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Clock")
    }
}

/// The day whose run is due at `now` for a plan evaluated at `run_at` in `zone`
/// (today once `run_at` has passed, else yesterday), and when the next run is.
fn due_day(
    zone: crate::calendar::PlanZone,
    run_at: chrono::NaiveTime,
    now: DateTime<Utc>,
) -> (NaiveDate, DateTime<Utc>) {
    let today = zone.day_of(now);
    let run_today = zone.instant(today.and_time(run_at));
    if now >= run_today {
        let tomorrow = today.succ_opt().unwrap_or(today);
        (today, zone.instant(tomorrow.and_time(run_at)))
    } else {
        (today.pred_opt().unwrap_or(today), run_today)
    }
}

/// Starts the daily run of `reporting`'s plans on `clock`, until `stopping`.
pub fn start(reporting: Reporting, clock: Clock, stopping: CancellationToken) {
    tokio::spawn(async move {
        let mut evaluated: HashMap<String, NaiveDate> = HashMap::new();
        loop {
            let sleep = run_due(&reporting, &clock, &mut evaluated).await;
            tokio::select! {
                () = stopping.cancelled() => return,
                () = tokio::time::sleep(sleep) => {}
            }
        }
    });
}

/// Evaluates every plan whose day is due and not evaluated yet by this task; returns
/// how long to sleep until the next run.
async fn run_due(reporting: &Reporting, clock: &Clock, evaluated: &mut HashMap<String, NaiveDate>) -> Duration {
    let codes = match reporting.catalog.plan_codes().await {
        Ok(codes) => codes,
        Err(error) => {
            tracing::warn!(%error, "cannot list the plans to follow up; retrying in a minute");
            return Duration::from_secs(60);
        }
    };
    let mut sleep = MAX_SLEEP;
    for code in codes {
        let plan = match reporting.catalog.plan(&code).await {
            Ok(plan) => plan,
            Err(error) => {
                tracing::warn!(plan = code, %error, "cannot read the plan to follow up; retrying in a minute");
                sleep = sleep.min(Duration::from_secs(60));
                continue;
            }
        };
        let now = clock.now();
        let (day, next) = due_day(plan.cadence.zone, plan.follow_up.run_at, now);
        sleep = sleep.min((next - now).to_std().unwrap_or(Duration::from_secs(1)));
        if evaluated.get(&code) == Some(&day) {
            continue;
        }
        let audit = AuditInfo {
            method: method::EVALUATE_NOTICES,
            resource: format!("plans/{code}"),
            ..Default::default()
        };
        match reporting.evaluate_day(&code, day, audit).await {
            Ok(_) => {
                evaluated.insert(code, day);
            }
            Err(error) => {
                tracing::warn!(plan = code, %error, "cannot store the day's notices; retrying in a minute");
                sleep = sleep.min(Duration::from_secs(60));
            }
        }
    }
    sleep
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::PlanZone;

    #[test]
    fn the_run_is_due_once_run_at_has_passed_in_the_plans_zone() {
        let zone = PlanZone::default();
        let nine = chrono::NaiveTime::from_hms_opt(9, 0, 0).unwrap();
        let day = |d: u32| NaiveDate::from_ymd_opt(2023, 4, d).unwrap();
        // 08:59 in Shanghai is 00:59Z: yesterday's run, next at 09:00 today (01:00Z).
        let before = zone.instant(day(5).and_hms_opt(8, 59, 0).unwrap());
        let (due, next) = due_day(zone, nine, before);
        assert_eq!(due, day(4));
        assert_eq!(next, zone.instant(day(5).and_time(nine)));
        assert_eq!((next - before).num_minutes(), 1);
        // 09:00 sharp: today's, next tomorrow.
        let (due, next) = due_day(zone, nine, zone.instant(day(5).and_time(nine)));
        assert_eq!(due, day(5));
        assert_eq!(next, zone.instant(day(6).and_time(nine)));
    }
}
