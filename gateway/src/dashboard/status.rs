//! One target's status with its two colours (delivery and reporting discipline) and forecast, the responsible
//! units' report statuses, and a measure's two colours.

use chrono::NaiveDate;
use duban_proto::{
    common::v1::{Comparator, Period},
    gateway::v1 as pb,
    measures::v1::Measure,
    reporting::v1::{ComplianceStatus, OverallStatus},
    targets::v1::Target,
};

use duban_plan::Month;
use duban_proto::decimal;
use rust_decimal::{Decimal, RoundingStrategy};

use super::{Dashboard, responsible_departments, snapshot::Snapshot};
use crate::{
    backends::{Catalogue, TargetEntry},
    calendar::{period_end, to_date},
    rag::{self, Rag, TargetFacts, UnitFacts},
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
                &catalogue.calendar.rag,
            )
        };
        let discipline = Self::target_discipline(catalogue, snap, target, as_of);
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
            discipline: discipline.to_proto() as i32,
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

    /// Where `department`'s report on `measure` for the latest due period stands:
    /// UNSPECIFIED without the compliance calendar, NOT_DUE before any due day.
    fn latest_compliance(
        snap: &Snapshot,
        latest_due: Option<&Period>,
        department: &str,
        measure: &str,
    ) -> ComplianceStatus {
        match (&snap.compliance, latest_due) {
            (None, _) => ComplianceStatus::Unspecified,
            (Some(_), None) => ComplianceStatus::NotDue,
            (Some(c), Some(due)) => c
                .departments
                .iter()
                .find(|d| d.department == department)
                .and_then(|d| d.periods.iter().find(|p| p.period.as_ref() == Some(due)))
                .and_then(|p| p.measures.iter().find(|m| m.measure_number == measure))
                .map_or(ComplianceStatus::Unspecified, |m| {
                    ComplianceStatus::try_from(m.status).unwrap_or_default()
                }),
        }
    }

    /// A target's reporting discipline: its reporting departments' reports on its
    /// measure for the latest due period.
    fn target_discipline(catalogue: &Catalogue, snap: &Snapshot, target: &Target, as_of: NaiveDate) -> Rag {
        let latest_due = Self::latest_due_period(catalogue, as_of);
        rag::discipline(
            target.reporting_departments.iter().map(|department| {
                Self::latest_compliance(snap, latest_due.as_ref(), department, &target.measure_number)
            }),
        )
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
                let compliance = Self::latest_compliance(snap, latest_due.as_ref(), &code, &measure.number);
                pb::UnitReportStatus {
                    display_name: catalogue.department_name(&code),
                    department: code,
                    latest_status: report.map_or(0, |r| r.overall_status),
                    latest_period: report.and_then(|r| r.period),
                    latest_report: report.map(|r| format!("{}@{}", r.name, r.revision)).unwrap_or_default(),
                    latest_state: report.map_or(0, |r| r.state),
                    latest_source: report.map_or(0, |r| r.source),
                    compliance: compliance as i32,
                }
            })
            .collect()
    }

    /// A measure's delivery (see `duban_plan::rag::measure_delivery`), with its plan's rules.
    pub(crate) fn measure_rag(
        catalogue: &Catalogue,
        targets: &[pb::TargetStatus],
        units: &[pb::UnitReportStatus],
    ) -> Rag {
        rag::measure_delivery(
            targets.iter().map(|t| Rag::from_proto(t.rag)),
            &unit_facts(units),
            &catalogue.calendar.rag,
        )
    }

    /// A measure's reporting discipline: its units' reports for the latest due period.
    pub(crate) fn measure_discipline(units: &[pb::UnitReportStatus]) -> Rag {
        rag::discipline(unit_facts(units).iter().map(|u| u.compliance))
    }
}

/// The units' parts in a measure's colours.
fn unit_facts(units: &[pb::UnitReportStatus]) -> Vec<UnitFacts> {
    units
        .iter()
        .map(|u| UnitFacts {
            latest_status: OverallStatus::try_from(u.latest_status).unwrap_or_default(),
            compliance: ComplianceStatus::try_from(u.compliance).unwrap_or_default(),
        })
        .collect()
}
