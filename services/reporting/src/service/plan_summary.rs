//! GetPlanSummary: what a plan-wide view reads of reporting, in one call, with an etag
//! that report events change.

use std::collections::BTreeMap;

use duban_kit::auth::Verified;
use duban_proto::reporting::v1 as pb;

use super::{Reporting, Result};
use crate::{
    calendar::{self, Month},
    convert::{self, ReportKey},
    store::BlockerFilter,
};

/// Tells this process's etags from another's (a restarted or another replica), whose
/// event sequence and plan generations may coincide with different data.
static INSTANCE: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| format!("{:x}{:x}", std::process::id(), chrono::Utc::now().timestamp_micros()));

impl Reporting {
    /// GetPlanSummary.
    pub async fn get_plan_summary(
        &self,
        caller: &Verified,
        request: &pb::GetPlanSummaryRequest,
    ) -> Result<pb::PlanSummary> {
        let (plan_code, plan) = self.leadership_plan(caller, "GetPlanSummary", &request.parent).await?;
        let today = plan.cadence.zone.today();
        let as_of = Self::as_of(request.as_of.as_ref(), today)?;
        // Read before anything else: a report stored while the summary is computed makes
        // a newer sequence, so the next caller recomputes rather than trusting this one.
        let sequence = self.store.newest_event().await?;
        // "Today" is in it: a summary of today turns stale at midnight (compliance
        // counts up to the day).
        let etag = format!(
            "{}-{sequence}-{}-{as_of}-{today}-{}",
            *INSTANCE, plan.generation, request.include_provisional as u8
        );
        if !request.etag.is_empty() && request.etag == etag {
            return Ok(pb::PlanSummary {
                etag,
                unchanged: true,
                ..Default::default()
            });
        }
        let periods: Vec<Month> = plan.periods().into_iter().filter(|m| m.first_day() <= as_of).collect();
        let mut throughs: Vec<Option<Month>> = vec![None];
        throughs.extend(periods.iter().copied().map(Some));
        let targets = plan.targets.values().collect();
        let mut progress = self
            .progress_through(
                &plan_code,
                &plan,
                targets,
                as_of,
                request.include_provisional,
                &throughs,
            )
            .await?
            .into_iter();
        let now = progress.next().unwrap_or_default();
        let series = periods
            .iter()
            .zip(progress)
            .map(|(period, targets)| pb::PeriodProgress {
                period: Some(period.to_proto()),
                targets,
            })
            .collect();
        // Compliance over the periods GetCompliance would show by default.
        let range: Vec<Month> = match periods.last() {
            Some(_) => periods.clone(),
            None => plan.periods().into_iter().take(1).collect(),
        };
        let (compliance, totals) = self.compliance_of(&plan_code, &plan, "", "", &range, as_of).await?;
        let latest_reports = self.latest_reports(&plan_code, &plan, as_of).await?;
        let open_blockers = self
            .store
            .blockers(
                &plan_code,
                &BlockerFilter {
                    state: pb::BlockerState::Open.as_str_name().to_owned(),
                    ..Default::default()
                },
            )
            .await?
            .iter()
            .map(convert::blocker)
            .collect();
        Ok(pb::PlanSummary {
            as_of: Some(calendar::date_to_proto(as_of)),
            etag,
            unchanged: false,
            progress: now,
            series,
            compliance_totals: Some(totals),
            compliance,
            latest_reports,
            open_blockers,
        })
    }

    /// For each (measure, department) of the plan, the latest revision of its report for
    /// the newest period received by the end of `as_of`, in measure then department order.
    async fn latest_reports(
        &self,
        plan_code: &str,
        plan: &crate::catalog::PlanInfo,
        as_of: chrono::NaiveDate,
    ) -> Result<Vec<pb::Report>> {
        let cutoff = plan.cadence.zone.end_of_day_us(as_of);
        let mut newest: BTreeMap<(String, String), crate::entity::report::Model> = BTreeMap::new();
        for pointer in self.store.all_pointers(plan_code).await? {
            if pointer.first_submit_time_us >= cutoff {
                continue;
            }
            let key = (pointer.measure_number.clone(), pointer.department.clone());
            if newest.get(&key).is_none_or(|old| old.period < pointer.period) {
                newest.insert(key, pointer);
            }
        }
        let mut reports: Vec<(ReportKey, pb::Report)> = self
            .store
            .current_revisions(plan_code, newest.values())
            .await?
            .into_iter()
            .map(|(pointer, row)| {
                (
                    ReportKey::of_revision(&row),
                    convert::report(&row, pointer, plan.cadence, false),
                )
            })
            .collect();
        reports.sort_by(|(a, _), (b, _)| {
            (super::measure_order(&a.measure), &a.department).cmp(&(super::measure_order(&b.measure), &b.department))
        });
        Ok(reports.into_iter().map(|(_, report)| report).collect())
    }
}
