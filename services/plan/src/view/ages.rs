//! The plan caches' ages as Prometheus gauges, read at each scrape:
//! `duban_plan_cache_age_seconds{cache, plan}` for every cached answer, and
//! `duban_plan_cache_ttl_seconds{cache}`. An age well past the TTL means the owner has
//! not answered for that long and stale answers are being served.

use std::{
    sync::{Arc, Weak},
    time::Duration,
};

use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric},
    metrics::{MetricType, gauge::ConstGauge},
};

use super::PlanView;

/// Reads a [`PlanView`]'s caches while the view lives (it does not keep it alive).
#[derive(Debug)]
pub(super) struct CacheAges(pub(super) Weak<PlanView>);

impl CacheAges {
    pub(super) fn of(view: &Arc<PlanView>) -> Self {
        Self(Arc::downgrade(view))
    }
}

/// How old one cached answer is.
struct Age {
    /// `plan`, `targets` or `departments`.
    cache: &'static str,
    /// The plan's code; empty for the directory, which is one for all plans.
    plan: String,
    age: Duration,
}

fn ages(view: &PlanView) -> Vec<Age> {
    let of = |cache: &'static str, entries: Vec<(String, Duration)>| {
        entries.into_iter().map(move |(plan, age)| Age { cache, plan, age })
    };
    let directory = view.directory.ages().into_iter().map(|((), age)| (String::new(), age));
    of(view.structures.what(), view.structures.ages())
        .chain(of(view.targets.what(), view.targets.ages()))
        .chain(of(view.directory.what(), directory.collect()))
        .collect()
}

/// Each cache's TTL.
fn ttls(view: &PlanView) -> [(&'static str, Duration); 3] {
    [
        (view.structures.what(), view.structures.freshness().ttl),
        (view.targets.what(), view.targets.freshness().ttl),
        (view.directory.what(), view.directory.freshness().ttl),
    ]
}

impl Collector for CacheAges {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(view) = self.0.upgrade() else {
            return Ok(());
        };
        let mut family = encoder.encode_descriptor(
            "plan_cache_age_seconds",
            "Time since each cached answer of the plan's owners was fetched, by cache (plan, targets, departments) and plan; past the TTL while refreshes fail and the stale answer is served",
            None,
            MetricType::Gauge,
        )?;
        for Age { cache, plan, age } in ages(&view) {
            let labels = [("cache", cache), ("plan", plan.as_str())];
            ConstGauge::new(age.as_secs_f64()).encode(family.encode_family(&labels)?)?;
        }
        let mut family = encoder.encode_descriptor(
            "plan_cache_ttl_seconds",
            "How long a cached answer of the plan's owners is trusted before it is fetched again, by cache",
            None,
            MetricType::Gauge,
        )?;
        for (cache, ttl) in ttls(&view) {
            ConstGauge::new(ttl.as_secs_f64()).encode(family.encode_family(&[("cache", cache)])?)?;
        }
        Ok(())
    }
}
