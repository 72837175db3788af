//! The targets' delivery ratings at the end of past periods, for the follow-up rule "a
//! target RED for `red_after_periods_red` periods in a row": each period's actual from
//! the progress aggregates (GetProgress's own computation, through that period, as known
//! on the day evaluated), judged against the target's trajectory with the rules of
//! `duban_plan::rag` and the plan's tolerances, as the gateway judges its overview.

use chrono::NaiveDate;
use duban_kit::{Principal, auth::Verified};
use duban_plan::rag::{self, TargetFacts};
use duban_proto::{common::v1::Comparator, decimal, reporting::v1 as pb};

use super::{Reporting, Result};
use crate::{
    calendar::{self, Month},
    catalog::PlanInfo,
    convert,
    entity::notice,
    follow_up::{self, Schedule, TargetRatings},
};

impl Reporting {
    /// The rows of the target notices due on `day` (none when no streak can be due).
    pub(super) async fn due_target_rows(
        &self,
        plan: &PlanInfo,
        schedule: &Schedule,
        day: NaiveDate,
    ) -> Result<Vec<notice::Model>> {
        let periods = follow_up::rated_periods(schedule, day);
        if periods.is_empty() {
            return Ok(Vec::new());
        }
        let ratings = self.target_ratings(plan, &periods, day).await?;
        Ok(follow_up::due_target_notices(schedule, &ratings, day)
            .iter()
            .map(|due| convert::target_notice_row(&plan.code, due))
            .collect())
    }

    /// Every target's rating at the end of each of `periods`, as known on `day`, in
    /// measure then code order.
    async fn target_ratings(&self, plan: &PlanInfo, periods: &[Month], day: NaiveDate) -> Result<Vec<TargetRatings>> {
        // Read as the server itself: the rule looks at every target.
        let server = Verified {
            principal: Principal::Service,
            credential: String::new(),
        };
        let mut ratings: Vec<TargetRatings> = Vec::new();
        for period in periods {
            let progress = self
                .get_progress(
                    &server,
                    &pb::GetProgressRequest {
                        parent: format!("plans/{}", plan.code),
                        as_of: Some(calendar::date_to_proto(day)),
                        include_provisional: true,
                        through_period: Some(period.to_proto()),
                        ..Default::default()
                    },
                )
                .await?;
            for progress in &progress.targets {
                let Some(target) = plan.targets.get(&progress.target_code) else {
                    continue;
                };
                let actual = decimal::from_proto(progress.actual.as_ref());
                let expected = Month::from_proto(progress.latest_period.as_ref())
                    .filter(|_| actual.is_some())
                    .map(|latest| target.trajectory.at(latest.last_day()).expected_value);
                let rating = rag::target_rag(
                    &TargetFacts {
                        comparator: Comparator::try_from(target.comparator).unwrap_or(Comparator::AtLeast),
                        value: target.value,
                        start_value: target.trajectory.start_value(),
                        actual,
                        expected_at_latest_period: expected,
                        // The period's due day has passed, so the first one's has.
                        reports_due: true,
                    },
                    &plan.rag,
                );
                let entry = match ratings.iter_mut().position(|r| r.code == target.code) {
                    Some(at) => ratings.get_mut(at),
                    None => {
                        ratings.push(TargetRatings {
                            code: target.code.clone(),
                            measure_number: target.measure_number.clone(),
                            names: (target.display_name.clone(), target.display_name_en.clone()),
                            departments: target.reporting_departments.clone(),
                            ratings: Default::default(),
                        });
                        ratings.last_mut()
                    }
                };
                if let Some(entry) = entry {
                    entry.ratings.insert(*period, rating);
                }
            }
        }
        Ok(ratings)
    }
}
