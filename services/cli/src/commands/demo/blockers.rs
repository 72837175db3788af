//! Blockers across months in `duban demo`: raised in one report, carried forward without
//! being mentioned, and resolved by name in a later report of the same unit and measure.

use std::collections::HashMap;

use duban_kit::{
    client::ServiceChannel,
    paging::{READ_ALL_PAGE_SIZE, read_all_pages},
};
use duban_proto::reporting::v1::{self as pb, reporting_service_client::ReportingServiceClient};

use crate::{
    commands::{call_failed, report::period_text},
    prng::SplitMix64,
};

/// Every blocker of the plan, open or resolved, as ReportingService.ListBlockers lists it.
pub(crate) async fn stored_blockers(
    client: &mut ReportingServiceClient<ServiceChannel>,
    parent: &str,
) -> anyhow::Result<Vec<pb::Blocker>> {
    read_all_pages(|page_token| {
        let mut client = client.clone();
        let request = pb::ListBlockersRequest {
            parent: parent.to_owned(),
            page_size: READ_ALL_PAGE_SIZE,
            page_token,
            ..Default::default()
        };
        async move {
            let page = client.list_blockers(request).await?.into_inner();
            Ok::<_, tonic::Status>((page.blockers, page.next_page_token))
        }
    })
    .await
    .map_err(|s| call_failed("ListBlockers", s))
}

/// An open blocker of one unit on one measure, as the demo follows it.
#[derive(Debug, Clone)]
struct Open {
    name: String,
    description: String,
    /// `YYYY-MM` of the report that raised it.
    open_period: String,
}

/// One unit's blockers on one measure, month after month: which are open, and the
/// number the service gives the next one raised (one more than the highest stored, so
/// the demo can name a blocker it raised earlier in the same run).
#[derive(Debug, Clone)]
pub(crate) struct BlockerChain {
    name_prefix: String,
    last_number: i32,
    open: Vec<Open>,
}

impl BlockerChain {
    /// Every (measure, unit) chain, from the blockers stored already.
    pub(crate) fn from_stored(stored: &[pb::Blocker]) -> HashMap<(String, String), Vec<pb::Blocker>> {
        let mut by_key: HashMap<(String, String), Vec<pb::Blocker>> = HashMap::new();
        for blocker in stored {
            by_key
                .entry((blocker.measure_number.clone(), blocker.department.clone()))
                .or_default()
                .push(blocker.clone());
        }
        by_key
    }

    /// The chain of `unit` on `measure` of `plan_id`, continuing from `stored`, its
    /// blockers stored already.
    pub(crate) fn new(plan_id: &str, measure: &str, unit: &str, stored: &[pb::Blocker]) -> Self {
        let name_prefix = format!("plans/{plan_id}/blockers/{measure}~{unit}~");
        let number = |b: &pb::Blocker| {
            b.name
                .strip_prefix(&name_prefix)
                .and_then(|n| n.parse::<i32>().ok())
                .unwrap_or(0)
        };
        Self {
            last_number: stored.iter().map(number).max().unwrap_or(0),
            open: stored
                .iter()
                .filter(|b| b.state == pb::BlockerState::Open as i32)
                .map(|b| Open {
                    name: b.name.clone(),
                    description: b.description.clone(),
                    open_period: period_text(b.open_period.as_ref()),
                })
                .collect(),
            name_prefix,
        }
    }

    /// Whether a blocker with this description is open already (a unit does not report
    /// the same problem twice).
    pub(crate) fn is_open(&self, description: &str) -> bool {
        self.open.iter().any(|b| b.description == description)
    }

    /// Resolves some of the blockers raised in earlier months, by name: most once the
    /// measure is back on track, few while it is still behind. Returns the entries to
    /// send and the descriptions resolved, for the narrative.
    pub(crate) fn resolve_some(
        &mut self,
        seed: u64,
        report_key: &str,
        period: &str,
        status: pb::OverallStatus,
    ) -> (Vec<pb::Blocker>, Vec<String>) {
        let chance = match status {
            pb::OverallStatus::Completed => 1.0,
            pb::OverallStatus::OnTrack => 0.6,
            pb::OverallStatus::AtRisk => 0.25,
            pb::OverallStatus::OffTrack => 0.05,
            _ => 0.0,
        };
        let (resolved, kept): (Vec<Open>, Vec<Open>) = std::mem::take(&mut self.open).into_iter().partition(|b| {
            b.open_period.as_str() < period
                && SplitMix64::for_key(seed, &["resolve", report_key, &b.name]).chance(chance)
        });
        self.open = kept;
        let entries = resolved
            .iter()
            .map(|b| pb::Blocker {
                name: b.name.clone(),
                resolve: true,
                ..Default::default()
            })
            .collect();
        (entries, resolved.into_iter().map(|b| b.description).collect())
    }

    /// Records a blocker this report raises, under the name the service will give it.
    pub(crate) fn raise(&mut self, description: &str, period: &str) {
        self.last_number += 1;
        self.open.push(Open {
            name: format!("{}{}", self.name_prefix, self.last_number),
            description: description.to_owned(),
            open_period: period.to_owned(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use duban_proto::common::v1::Period;

    fn stored(number: i32, state: pb::BlockerState, month: i32) -> pb::Blocker {
        pb::Blocker {
            name: format!("plans/p/blockers/4.1~nanxiang-town~{number}"),
            description: format!("问题{number}"),
            state: state as i32,
            measure_number: "4.1".into(),
            department: "nanxiang-town".into(),
            open_period: Some(Period { year: 2023, month }),
            ..Default::default()
        }
    }

    #[test]
    fn a_chain_numbers_after_the_stored_blockers_and_resolves_only_earlier_ones() {
        let mut chain = BlockerChain::new(
            "p",
            "4.1",
            "nanxiang-town",
            &[
                stored(1, pb::BlockerState::Resolved, 3),
                stored(2, pb::BlockerState::Open, 4),
            ],
        );
        assert!(chain.is_open("问题2") && !chain.is_open("问题1"));
        chain.raise("缺地", "2023-06");
        // Completed: every blocker raised before June is resolved, June's own stays.
        let (entries, texts) = chain.resolve_some(1, "key", "2023-06", pb::OverallStatus::Completed);
        assert_eq!(
            entries.iter().map(|b| (b.name.as_str(), b.resolve)).collect::<Vec<_>>(),
            [("plans/p/blockers/4.1~nanxiang-town~2", true)]
        );
        assert_eq!(texts, ["问题2"]);
        let (later, _) = chain.resolve_some(1, "key", "2023-07", pb::OverallStatus::Completed);
        assert_eq!(later[0].name, "plans/p/blockers/4.1~nanxiang-town~3");
        // Not started: nothing is resolved.
        chain.raise("缺钱", "2023-07");
        assert!(
            chain
                .resolve_some(1, "key", "2023-08", pb::OverallStatus::NotStarted)
                .0
                .is_empty()
        );
    }
}
