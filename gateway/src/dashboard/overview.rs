//! GetOverview: actions, targets, measures and the compliance summary, assembled from one snapshot.

use std::sync::Arc;

use chrono::NaiveDate;
use duban_proto::{
    common::v1::Date,
    gateway::v1 as pb,
    reporting::v1::{ComplianceStatus, DepartmentCompliance},
};

use super::{
    Caller, Dashboard, measure_key, measure_name, plan_id, resolve_as_of,
    snapshot::{Compliance, Snapshot},
};
use crate::{
    backends::Catalogue,
    calendar::{to_date, to_naive},
    error::GatewayError,
    rag::{self, Rag},
};

impl Dashboard {
    fn compliance_summary(catalogue: &Catalogue, compliance: &Compliance, as_of: NaiveDate) -> pb::ComplianceSummary {
        let totals = &compliance.totals;
        let mut late_units: Vec<pb::LateUnit> = compliance
            .departments
            .iter()
            .filter_map(|d| {
                let mut count = 0;
                let mut oldest: Option<NaiveDate> = None;
                for period in &d.periods {
                    let missing = period
                        .measures
                        .iter()
                        .filter(|m| m.status == ComplianceStatus::Missing as i32)
                        .count();
                    if missing > 0 {
                        count += missing as i32;
                        let due = period.due_date.as_ref().and_then(to_naive);
                        oldest = match (oldest, due) {
                            (Some(o), Some(d)) => Some(o.min(d)),
                            (o, d) => o.or(d),
                        };
                    }
                }
                (count > 0).then(|| pb::LateUnit {
                    department: d.department.clone(),
                    display_name: if d.display_name.is_empty() {
                        catalogue.department_name(&d.department)
                    } else {
                        d.display_name.clone()
                    },
                    overdue_count: count,
                    max_days_overdue: oldest.map_or(0, |o| (as_of - o).num_days() as i32),
                })
            })
            .collect();
        late_units.sort_by(|a, b| {
            b.overdue_count
                .cmp(&a.overdue_count)
                .then(b.max_days_overdue.cmp(&a.max_days_overdue))
                .then(a.department.cmp(&b.department))
        });
        pb::ComplianceSummary {
            reporting_rate: totals.reporting_rate,
            on_time_rate: totals.on_time_rate,
            expected_count: totals.expected_count,
            received_count: totals.received_count,
            on_time_count: totals.on_time_count,
            late_units,
        }
    }

    pub(crate) fn assemble(&self, catalogue: &Catalogue, snap: &Snapshot, as_of: NaiveDate) -> pb::Overview {
        let targets: Vec<pb::TargetStatus> = catalogue
            .targets
            .iter()
            .flatten()
            .map(|entry| self.target_status(catalogue, snap, entry, as_of))
            .collect();
        let measures: Vec<pb::MeasureStatus> = catalogue
            .measures
            .iter()
            .map(|m| {
                let own: Vec<pb::TargetStatus> = targets
                    .iter()
                    .filter(|t| t.target.as_ref().is_some_and(|t| t.measure_number == m.number))
                    .cloned()
                    .collect();
                let units = self.unit_statuses(catalogue, snap, m, as_of);
                let blockers = snap
                    .open_blockers
                    .iter()
                    .filter(|b| b.measure_number == m.number)
                    .count() as i32;
                pb::MeasureStatus {
                    measure: measure_name(&catalogue.plan_id, &m.number),
                    measure_number: m.number.clone(),
                    title: m.title.clone(),
                    title_en: m.title_en.clone(),
                    rag: Self::measure_rag(catalogue, &own, &units).to_proto() as i32,
                    discipline: Self::measure_discipline(&units).to_proto() as i32,
                    target_codes: own
                        .iter()
                        .filter_map(|t| t.target.as_ref().map(|t| t.code.clone()))
                        .collect(),
                    units,
                    open_blocker_count: blockers,
                }
            })
            .collect();
        let actions = catalogue
            .actions
            .iter()
            .map(|a| {
                let own: Vec<&pb::MeasureStatus> = catalogue
                    .measures
                    .iter()
                    .zip(&measures)
                    .filter(|(m, _)| m.action_number == a.number)
                    .map(|(_, s)| s)
                    .collect();
                let count = |rag: Rag| own.iter().filter(|m| Rag::from_proto(m.rag) == rag).count() as i32;
                let percents: Vec<f64> = targets
                    .iter()
                    .filter(|t| {
                        t.target
                            .as_ref()
                            .is_some_and(|t| measure_key(&t.measure_number).action() == u64::try_from(a.number).ok())
                    })
                    .filter_map(|t| t.percent_complete)
                    .collect();
                pb::ActionProgress {
                    action_number: a.number,
                    title: a.title.clone(),
                    title_en: a.title_en.clone(),
                    percent: (!percents.is_empty()).then(|| percents.iter().sum::<f64>() / percents.len() as f64),
                    rag: rag::worst(own.iter().map(|m| Rag::from_proto(m.rag))).to_proto() as i32,
                    discipline: rag::worst(own.iter().map(|m| Rag::from_proto(m.discipline))).to_proto() as i32,
                    measure_count: own.len() as i32,
                    red_count: count(Rag::Red),
                    amber_count: count(Rag::Amber),
                    green_count: count(Rag::Green),
                }
            })
            .collect();
        let now = std::time::SystemTime::now();
        pb::Overview {
            plan: format!("plans/{}", catalogue.plan_id),
            plan_revision: catalogue.plan.revision,
            as_of: Some(to_date(as_of)),
            compute_time: Some(prost_types::Timestamp::from(now)),
            actions,
            targets,
            measures,
            compliance: snap
                .compliance
                .as_ref()
                .map(|c| Self::compliance_summary(catalogue, c, as_of)),
            unreachable: snap.unreachable.iter().map(|s| (*s).to_owned()).collect(),
            follow_up: snap.follow_up.clone(),
            // The caller that resolved `as_of` says why (`overview`).
            as_of_basis: pb::AsOfBasis::Unspecified as i32,
        }
    }

    /// GetOverview.
    pub async fn overview(
        &self,
        caller: &Caller,
        plan: &str,
        as_of: Option<&Date>,
    ) -> Result<pb::Overview, GatewayError> {
        caller.require_reader("GetOverview")?;
        let plan_id = plan_id(plan, "plan")?;
        let catalogue = self.backends.catalogue(&plan_id).await?;
        let (as_of, basis) = resolve_as_of(as_of, &catalogue.calendar)?;
        let snap = self.snapshot(&catalogue, as_of, true).await;
        let mut overview = self.assemble(&catalogue, &snap, as_of);
        overview.as_of_basis = basis as i32;
        self.metrics.overview(&overview);
        Ok(overview)
    }

    /// The plan structure (for pages that show the heatmap and the plan header).
    pub async fn catalogue(&self, plan: &str) -> Result<Arc<Catalogue>, GatewayError> {
        self.backends.catalogue(&plan_id(plan, "plan")?).await
    }

    /// Every department's compliance calendar (for the heatmap).
    pub async fn compliance_calendar(
        &self,
        caller: &Caller,
        plan: &str,
        as_of: Option<&Date>,
    ) -> Result<Option<Vec<DepartmentCompliance>>, GatewayError> {
        caller.require_reader("the compliance calendar")?;
        let plan_id = plan_id(plan, "plan")?;
        let catalogue = self.backends.catalogue(&plan_id).await?;
        let (as_of, _) = resolve_as_of(as_of, &catalogue.calendar)?;
        let parent = format!("plans/{plan_id}");
        Ok(self
            .compliance(&parent, as_of, caller, None)
            .await
            .ok()
            .map(|c| c.departments))
    }
}
