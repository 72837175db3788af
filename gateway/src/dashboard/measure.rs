//! GetMeasureDetail: one measure's targets with their monthly series, its units, latest reports and open blockers.

use duban_proto::gateway::v1::ErrorReason;
use duban_proto::{gateway::v1 as pb, reporting::v1::Report};

use super::{Caller, Dashboard, open_blocker, plan_id, resolve_as_of};
use crate::{
    calendar::{self, period_end, period_key, to_date},
    error::GatewayError,
};

impl Dashboard {
    /// GetMeasureDetail.
    pub async fn measure_detail(
        &self,
        caller: &Caller,
        request: &pb::GetMeasureDetailRequest,
    ) -> Result<pb::GetMeasureDetailResponse, GatewayError> {
        caller.require_reader("GetMeasureDetail")?;
        let plan_id = plan_id(&request.plan, "plan")?;
        let catalogue = self.backends.catalogue(&plan_id).await?;
        let (as_of, basis) = resolve_as_of(request.as_of.as_ref(), &catalogue.calendar)?;
        let measure = catalogue
            .measures
            .iter()
            .find(|m| m.number == request.measure_number)
            .ok_or_else(|| duban_kit::error::NotFound::new(ErrorReason::MeasureNotFound, &request.measure_number))?;
        let snap = self.snapshot(&catalogue, as_of, false).await;
        let as_of_key = period_key(&calendar::period_of(as_of));
        let targets: Vec<pb::TargetDetail> = catalogue
            .targets
            .iter()
            .flatten()
            .filter(|e| e.target.measure_number == measure.number)
            .map(|entry| {
                let status = self.target_status(&catalogue, &snap, entry, as_of);
                let deadline_key = period_key(&calendar::period_of(entry.deadline));
                let series = catalogue
                    .periods
                    .iter()
                    .filter(|p| period_key(p) <= deadline_key)
                    .map(|p| {
                        let progress = (period_key(p) <= as_of_key)
                            .then(|| snap.series.iter().find(|(sp, _)| sp == p))
                            .flatten()
                            .and_then(|(_, progress)| progress.get(&entry.target.code));
                        pb::SeriesPoint {
                            period: Some(*p),
                            expected: period_end(p).map(|end| entry.expected_at(end).into()),
                            actual: progress.and_then(|t| t.actual.clone()),
                            provisional: progress.is_some_and(|t| t.includes_provisional),
                        }
                    })
                    .collect();
                let contributions = snap
                    .progress
                    .as_ref()
                    .and_then(|p| p.get(&entry.target.code))
                    .map(|p| p.contributions.clone())
                    .unwrap_or_default();
                pb::TargetDetail {
                    status: Some(status),
                    series,
                    contributions,
                }
            })
            .collect();
        let statuses: Vec<pb::TargetStatus> = targets.iter().filter_map(|t| t.status.clone()).collect();
        let units = self.unit_statuses(&catalogue, &snap, measure, as_of);
        let mut latest_reports: Vec<Report> = snap
            .reports
            .iter()
            .filter(|((number, _), _)| number == &measure.number)
            .map(|(_, r)| r.clone())
            .collect();
        latest_reports.sort_by(|a, b| a.department.cmp(&b.department));
        // Carried forward until resolved, so read from the blocker listing, not the
        // latest reports (which hold only their revision's changes).
        let mut open_blockers: Vec<pb::OpenBlocker> = snap
            .open_blockers
            .iter()
            .filter(|b| b.measure_number == measure.number)
            .map(|b| open_blocker(&plan_id, b))
            .collect();
        open_blockers.sort_by_key(|b| std::cmp::Reverse(b.blocker.as_ref().map_or(0, |b| b.severity)));
        Ok(pb::GetMeasureDetailResponse {
            as_of_basis: basis as i32,
            measure: Some(measure.clone()),
            as_of: Some(to_date(as_of)),
            rag: Self::measure_rag(&catalogue, &statuses, &units).to_proto() as i32,
            discipline: Self::measure_discipline(&units).to_proto() as i32,
            targets,
            units,
            latest_reports,
            open_blockers,
            unreachable: snap.unreachable.iter().map(|s| (*s).to_owned()).collect(),
        })
    }
}
