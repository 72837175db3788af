//! One target's status with its RAG and forecast, the responsible units' report statuses, and a measure's rating.

use chrono::NaiveDate;
use duban_proto::{
    common::v1::{Comparator, Period},
    gateway::v1 as pb,
    measures::v1::Measure,
    reporting::v1::{ComplianceStatus, OverallStatus},
};

use duban_plan::Month;
use duban_proto::decimal;
use rust_decimal::{Decimal, RoundingStrategy};

use super::{Dashboard, responsible_departments, snapshot::Snapshot};
use crate::{
    backends::{Catalogue, TargetEntry},
    calendar::{period_end, to_date},
    rag::{self, Rag, TargetFacts},
};

impl Dashboard {
    pub(crate) fn target_status(
        &self,
        catalogue: &Catalogue,
        snap: &Snapshot,
        entry: &TargetEntry,
        as_of: NaiveDate,
    ) -> pb::TargetStatus {
        let target = &entry.target;
        let progress = snap.progress.as_ref().and_then(|p| p.get(&target.code));
        let actual = progress.and_then(|p| decimal::from_proto(p.actual.as_ref()));
        let value = decimal::from_proto(target.value.as_ref()).unwrap_or_default();
        let latest_period = progress.filter(|_| actual.is_some()).and_then(|p| p.latest_period);
        let expected_at_latest = latest_period
            .as_ref()
            .and_then(period_end)
            .map(|end| entry.expected_at(end));
        let comparator = Comparator::try_from(target.comparator).unwrap_or(Comparator::AtLeast);
        let rag = if snap.progress.is_none() {
            Rag::NoData
        } else {
            rag::target_rag(
                &TargetFacts {
                    comparator,
                    value,
                    start_value: entry.start.1,
                    actual,
                    expected_at_latest_period: expected_at_latest,
                    reports_due: catalogue.calendar.first_due_passed(as_of),
                },
                &self.tolerances.for_plan(&catalogue.plan_id),
            )
        };
        let mut series: Vec<(NaiveDate, Decimal)> = snap
            .series
            .iter()
            .filter_map(|(period, progress)| {
                let p = progress.get(&target.code)?;
                let value = decimal::from_proto(p.actual.as_ref())?;
                (p.latest_period.as_ref() == Some(period)).then(|| Some((period_end(period)?, value)))?
            })
            .collect();
        if series.is_empty()
            && let (Some(value), Some(end)) = (actual, latest_period.as_ref().and_then(period_end))
        {
            series.push((end, value));
        }
        pb::TargetStatus {
            target: Some(target.clone()),
            unit: target.unit,
            actual: decimal::to_proto(actual),
            latest_period,
            includes_provisional: progress.is_some_and(|p| p.includes_provisional),
            expected: Some(entry.expected_at(as_of).into()),
            expected_at_latest_period: decimal::to_proto(expected_at_latest),
            rag: rag.to_proto() as i32,
            percent_complete: actual.map(|a| rag::percent_complete(comparator, value, entry.start.1, a)),
            // A forecast is a figure like the target's own: at its decimal places.
            forecast: actual
                .and_then(|_| rag::forecast(&series, entry.start, entry.deadline))
                .map(|forecast| {
                    let places = u32::try_from(target.decimal_places.unwrap_or_default()).unwrap_or_default();
                    forecast
                        .round_dp_with_strategy(places, RoundingStrategy::MidpointAwayFromZero)
                        .into()
                }),
            forecast_date: Some(to_date(entry.deadline)),
        }
    }

    fn latest_due_period(catalogue: &Catalogue, as_of: NaiveDate) -> Option<Period> {
        catalogue
            .periods
            .iter()
            .rfind(|p| Month::from_proto(Some(p)).is_some_and(|m| catalogue.calendar.cadence.due_date(m) < as_of))
            .cloned()
    }

    pub(crate) fn unit_statuses(
        &self,
        catalogue: &Catalogue,
        snap: &Snapshot,
        measure: &Measure,
        as_of: NaiveDate,
    ) -> Vec<pb::UnitReportStatus> {
        let latest_due = Self::latest_due_period(catalogue, as_of);
        responsible_departments(measure)
            .into_iter()
            .map(|(code, ..)| {
                let report = snap.reports.get(&(measure.number.clone(), code.clone()));
                let compliance = match (&snap.compliance, &latest_due) {
                    (None, _) => ComplianceStatus::Unspecified,
                    (Some(_), None) => ComplianceStatus::NotDue,
                    (Some(c), Some(due)) => c
                        .departments
                        .iter()
                        .find(|d| d.department == code)
                        .and_then(|d| d.periods.iter().find(|p| p.period.as_ref() == Some(due)))
                        .and_then(|p| p.measures.iter().find(|m| m.measure_number == measure.number))
                        .map_or(ComplianceStatus::Unspecified, |m| {
                            ComplianceStatus::try_from(m.status).unwrap_or_default()
                        }),
                };
                pb::UnitReportStatus {
                    display_name: catalogue.department_name(&code),
                    department: code,
                    latest_status: report.map_or(0, |r| r.overall_status),
                    latest_period: report.and_then(|r| r.period),
                    latest_report: report.map(|r| format!("{}@{}", r.name, r.revision)).unwrap_or_default(),
                    latest_state: report.map_or(0, |r| r.state),
                    compliance: compliance as i32,
                }
            })
            .collect()
    }

    pub(crate) fn measure_rag(targets: &[pb::TargetStatus], units: &[pb::UnitReportStatus]) -> Rag {
        rag::worst(
            targets
                .iter()
                .map(|t| Rag::from_proto(t.rag))
                .chain(
                    units
                        .iter()
                        .map(|u| rag::status_rag(OverallStatus::try_from(u.latest_status).unwrap_or_default())),
                )
                .chain(
                    units
                        .iter()
                        .map(|u| rag::compliance_rag(ComplianceStatus::try_from(u.compliance).unwrap_or_default())),
                ),
        )
    }
}
