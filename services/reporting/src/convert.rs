//! Rows to contract messages and back: names, enums by contract name, lists as JSON.

use duban_kit::Principal;
use duban_proto::{
    common::v1::{QuantityUnit, ValueBasis},
    departments::v1 as dpb,
    reporting::v1 as pb,
};
use serde::{Deserialize, Serialize};

mod notices;

pub use notices::{
    addressed_to, notice, notice_name, notice_row, order_notice_row, parse_notice_name, target_notice_row,
};

use crate::{
    calendar::{self, Cadence, Month},
    entity::{audit_record, report, report_event, report_revision},
};

/// The key of a report: measure, department, period.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReportKey {
    /// The plan's slug.
    pub plan: String,
    /// Measure number.
    pub measure: String,
    /// Department code.
    pub department: String,
    /// The month.
    pub period: Month,
}

impl ReportKey {
    /// `plans/{plan}/reports/{measure}~{department}~{period}`.
    pub fn name(&self) -> String {
        format!(
            "plans/{}/reports/{}~{}~{}",
            self.plan,
            self.measure,
            self.department,
            self.period.key()
        )
    }

    /// The name of one revision.
    pub fn revision_name(&self, revision: i32) -> String {
        format!("{}@{revision}", self.name())
    }

    /// Parses a report name, with an optional `@{revision}`.
    pub fn parse(name: &str) -> Option<(ReportKey, Option<i32>)> {
        let rest = name.strip_prefix("plans/")?;
        let (plan, rest) = rest.split_once("/reports/")?;
        let (key, revision) = match rest.split_once('@') {
            Some((key, revision)) => (key, Some(revision.parse::<i32>().ok().filter(|r| *r >= 1)?)),
            None => (rest, None),
        };
        let mut parts = key.split('~');
        let (measure, department, period) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some()
            || plan.is_empty()
            || plan.contains('/')
            || measure.is_empty()
            || department.is_empty()
        {
            return None;
        }
        Some((
            ReportKey {
                plan: plan.to_owned(),
                measure: measure.to_owned(),
                department: department.to_owned(),
                period: Month::parse(period)?,
            },
            revision,
        ))
    }

    /// The key of a stored row.
    pub fn of_revision(row: &report_revision::Model) -> ReportKey {
        ReportKey {
            plan: row.plan.clone(),
            measure: row.measure_number.clone(),
            department: row.department.clone(),
            period: Month::parse(&row.period).unwrap_or(Month { year: 1970, month: 1 }),
        }
    }
}

/// A measure number as text that sorts in number order, as stored in `report.measure_key`
/// (`2.1` is `0000000002.0000000001`, before `10.1`).
pub use duban_plan::measure_sort_key as measure_key;

/// The plan slug of `plans/{plan}`.
pub fn parse_parent(parent: &str) -> Option<&str> {
    parent
        .strip_prefix("plans/")
        .filter(|p| !p.is_empty() && !p.contains('/'))
}

/// A metric value as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricRow {
    /// Target code.
    pub target_code: String,
    /// The value, exact: a JSON string, or a JSON number in rows of earlier versions
    /// (read as the shortest decimal that is that double: what was submitted).
    pub value: rust_decimal::Decimal,
    /// `QuantityUnit` name.
    pub unit: String,
    /// `ValueBasis` name.
    pub basis: String,
}

/// A milestone update as stored: the milestone as the plan named it when the revision
/// was submitted (code, position, description), and what the update said.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct MilestoneRow {
    /// 1-based position in the measure's milestones then.
    number: i32,
    /// The description then.
    description: String,
    /// `MilestoneStatus` name.
    status: String,
    /// `YYYY-MM-DD`, for an achieved milestone.
    achieve_date: Option<String>,
    note: String,
    /// The milestone's code. Every stored revision has one since migration 000005 gave
    /// the updates stored before codes the code derived from their number.
    #[serde(default)]
    code: String,
}

/// A blocker as a revision stores it: what the revision sent, merged with the stored
/// blocker it named, its number and its state after the revision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlockerRow {
    /// What the problem is.
    pub description: String,
    /// `BlockerSeverity` name.
    pub severity: String,
    /// Department asked for support, or empty.
    pub support_unit: String,
    /// Its number within the measure and department (every stored revision has one
    /// since migration 000004 numbered them).
    #[serde(default)]
    pub number: i32,
    /// `BlockerState` name after the revision.
    #[serde(default)]
    pub state: String,
}

/// `plans/{plan}/blockers/{measure}~{department}~{number}`.
pub fn blocker_name(plan: &str, measure: &str, department: &str, number: i32) -> String {
    format!("plans/{plan}/blockers/{measure}~{department}~{number}")
}

/// Parses a blocker name into plan, measure, department and number.
pub fn parse_blocker_name(name: &str) -> Option<(&str, &str, &str, i32)> {
    let (plan, rest) = name.strip_prefix("plans/")?.split_once("/blockers/")?;
    let mut parts = rest.split('~');
    let (measure, department, number) = (parts.next()?, parts.next()?, parts.next()?);
    let number = number.parse::<i32>().ok().filter(|n| *n >= 1)?;
    (parts.next().is_none() && !plan.is_empty() && !measure.is_empty() && !department.is_empty())
        .then_some((plan, measure, department, number))
}

/// A stored blocker as the contract's message.
pub fn blocker(row: &crate::entity::blocker::Model) -> pb::Blocker {
    pb::Blocker {
        description: row.description.clone(),
        severity: pb::BlockerSeverity::from_str_name(&row.severity).unwrap_or_default() as i32,
        support_unit: row.support_unit.clone(),
        name: blocker_name(&row.plan, &row.measure_number, &row.department, row.number),
        resolve: false,
        state: pb::BlockerState::from_str_name(&row.state).unwrap_or_default() as i32,
        measure_number: row.measure_number.clone(),
        department: row.department.clone(),
        open_period: Month::parse(&row.open_period).map(Month::to_proto),
        open_time: Some(timestamp(row.open_time_us)),
        resolve_time: row.resolve_time_us.map(timestamp),
        resolve_report: row.resolve_report.clone(),
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct EvidenceRow {
    title: String,
    url: String,
    sha256: String,
}

fn json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "[]".to_owned())
}

/// The stored metric values of a revision.
pub fn metric_rows(row: &report_revision::Model) -> Vec<MetricRow> {
    serde_json::from_str(&row.metric_values).unwrap_or_default()
}

pub use duban_kit::columns::{micros, timestamp};

mod orders;

pub use orders::{due_date, order, order_etag, order_name, parse_order_name, part_state};

/// Evidence links as stored (JSON).
pub fn evidence_json(links: &[pb::EvidenceLink]) -> String {
    let rows: Vec<EvidenceRow> = links
        .iter()
        .map(|l| EvidenceRow {
            title: l.title.clone(),
            url: l.url.clone(),
            sha256: l.sha256.clone(),
        })
        .collect();
    json(&rows)
}

/// Stored evidence links (JSON) as the contract's.
pub fn evidence_links(stored: &str) -> Vec<pb::EvidenceLink> {
    let rows: Vec<EvidenceRow> = serde_json::from_str(stored).unwrap_or_default();
    rows.into_iter()
        .map(|l| pb::EvidenceLink {
            title: l.title,
            url: l.url,
            sha256: l.sha256,
        })
        .collect()
}

/// A principal as the contract spells it, from stored columns.
pub fn principal(role: &str, department: &str, credential: &str) -> Option<dpb::Principal> {
    (!role.is_empty()).then(|| dpb::Principal {
        role: dpb::Role::from_str_name(role).unwrap_or_default() as i32,
        department: department.to_owned(),
        credential: credential.to_owned(),
    })
}

/// Stored columns of a principal: role name and department.
pub fn principal_columns(principal: &Principal) -> (String, String) {
    let p = principal.to_proto("");
    (
        dpb::Role::try_from(p.role).unwrap_or_default().as_str_name().to_owned(),
        p.department,
    )
}

/// The etag of a revision in a state.
pub fn etag(revision: i32, state: pb::report::State) -> String {
    format!("r{revision}s{}", state as i32)
}

/// The lists and scalar fields of a report as row columns (everything but the
/// server-set ones, which the caller fills); blockers are given as decided against the
/// stored ones.
pub fn report_columns(report: &pb::Report, blockers: &[BlockerRow]) -> (String, String, String, String, String) {
    let metrics: Vec<MetricRow> = report
        .metric_values
        .iter()
        .map(|m| MetricRow {
            target_code: m.target_code.clone(),
            value: duban_proto::decimal::from_proto(m.value.as_ref()).unwrap_or_default(),
            unit: QuantityUnit::try_from(m.unit)
                .unwrap_or_default()
                .as_str_name()
                .to_owned(),
            basis: ValueBasis::try_from(m.basis)
                .unwrap_or_default()
                .as_str_name()
                .to_owned(),
        })
        .collect();
    let milestones: Vec<MilestoneRow> = report
        .milestone_updates
        .iter()
        .map(|m| MilestoneRow {
            code: m.milestone_code.clone(),
            number: m.milestone_number,
            description: m.milestone_description.clone(),
            status: pb::MilestoneStatus::try_from(m.status)
                .unwrap_or_default()
                .as_str_name()
                .to_owned(),
            achieve_date: m
                .achieve_date
                .as_ref()
                .and_then(calendar::date_from_proto)
                .map(calendar::date_key),
            note: m.note.clone(),
        })
        .collect();
    let links: Vec<EvidenceRow> = report
        .evidence_links
        .iter()
        .map(|l| EvidenceRow {
            title: l.title.clone(),
            url: l.url.clone(),
            sha256: l.sha256.clone(),
        })
        .collect();
    (
        pb::OverallStatus::try_from(report.overall_status)
            .unwrap_or_default()
            .as_str_name()
            .to_owned(),
        json(&metrics),
        json(&milestones),
        json(&blockers),
        json(&links),
    )
}

/// A stored revision as the contract's Report. `pointer` is the key's row (first
/// submit time, return reason); `with_revision` appends `@{n}` to the name.
pub fn report(
    row: &report_revision::Model,
    pointer: &report::Model,
    cadence: Cadence,
    with_revision: bool,
) -> pb::Report {
    let key = ReportKey::of_revision(row);
    let metrics = metric_rows(row);
    let milestones: Vec<MilestoneRow> = serde_json::from_str(&row.milestone_updates).unwrap_or_default();
    let blockers: Vec<BlockerRow> = serde_json::from_str(&row.blockers).unwrap_or_default();
    let links: Vec<EvidenceRow> = serde_json::from_str(&row.evidence_links).unwrap_or_default();
    let due = cadence.due_date(key.period);
    pb::Report {
        name: if with_revision {
            key.revision_name(row.revision)
        } else {
            key.name()
        },
        measure_number: row.measure_number.clone(),
        department: row.department.clone(),
        period: Some(key.period.to_proto()),
        overall_status: pb::OverallStatus::from_str_name(&row.overall_status).unwrap_or_default() as i32,
        narrative: row.narrative.clone(),
        metric_values: metrics
            .into_iter()
            .map(|m| pb::MetricValue {
                target_code: m.target_code,
                value: Some(m.value.into()),
                unit: QuantityUnit::from_str_name(&m.unit).unwrap_or_default() as i32,
                basis: ValueBasis::from_str_name(&m.basis).unwrap_or_default() as i32,
            })
            .collect(),
        milestone_updates: milestones
            .into_iter()
            .map(|m| pb::MilestoneUpdate {
                milestone_code: m.code,
                milestone_number: m.number,
                milestone_description: m.description,
                status: pb::MilestoneStatus::from_str_name(&m.status).unwrap_or_default() as i32,
                achieve_date: m
                    .achieve_date
                    .as_deref()
                    .and_then(calendar::parse_date)
                    .map(calendar::date_to_proto),
                note: m.note,
            })
            .collect(),
        blockers: blockers
            .into_iter()
            .map(|b| {
                let state = pb::BlockerState::from_str_name(&b.state).unwrap_or_default();
                pb::Blocker {
                    name: blocker_name(&row.plan, &row.measure_number, &row.department, b.number),
                    description: b.description,
                    severity: pb::BlockerSeverity::from_str_name(&b.severity).unwrap_or_default() as i32,
                    support_unit: b.support_unit,
                    resolve: state == pb::BlockerState::Resolved,
                    state: state as i32,
                    measure_number: row.measure_number.clone(),
                    department: row.department.clone(),
                    ..Default::default()
                }
            })
            .collect(),
        evidence_links: links
            .into_iter()
            .map(|l| pb::EvidenceLink {
                title: l.title,
                url: l.url,
                sha256: l.sha256,
            })
            .collect(),
        provisional: row.provisional,
        state: pb::report::State::from_str_name(&row.state).unwrap_or_default() as i32,
        revision: row.revision,
        etag: row.etag.clone(),
        submitted_by: principal(
            &row.submitted_by_role,
            &row.submitted_by_department,
            &row.submitted_by_credential,
        ),
        submit_time: Some(timestamp(row.submit_time_us)),
        first_submit_time: Some(timestamp(pointer.first_submit_time_us)),
        due_date: Some(calendar::date_to_proto(due)),
        on_time: pointer.first_submit_time_us < cadence.zone.end_of_day_us(due),
        review: row.review_time_us.map(|at| pb::Review {
            reviewer: principal(&row.reviewer_role, &row.reviewer_department, &row.reviewer_credential),
            review_time: Some(timestamp(at)),
            reason: row.review_reason.clone(),
        }),
        return_reason: pointer.return_reason.clone(),
        backfilled: row.backfilled,
        plan_revision: row.plan_revision,
        // The column defaults to API, what every revision before sources was.
        source: pb::ReportSource::from_str_name(&row.source).unwrap_or(pb::ReportSource::Api) as i32,
    }
}

/// The source a submission is stored with: the one declared, or API when none was (a
/// system calling the API need not say so). `None` for a number that is no
/// `ReportSource`.
pub fn declared_source(declared: i32) -> Option<pb::ReportSource> {
    match pb::ReportSource::try_from(declared).ok()? {
        pb::ReportSource::Unspecified => Some(pb::ReportSource::Api),
        source => Some(source),
    }
}

/// A stored event as the contract's message.
pub fn event(row: &report_event::Model) -> pb::WatchReportEventsResponse {
    let period = Month::parse(&row.period);
    let key = ReportKey {
        plan: row.plan.clone(),
        measure: row.measure_number.clone(),
        department: row.department.clone(),
        period: period.unwrap_or(Month { year: 1970, month: 1 }),
    };
    pb::WatchReportEventsResponse {
        sequence: row.sequence,
        event_type: pb::ReportEventType::from_str_name(&row.event_type).unwrap_or_default() as i32,
        report: key.name(),
        measure_number: row.measure_number.clone(),
        department: row.department.clone(),
        period: period.map(Month::to_proto),
        revision: row.revision,
        event_time: Some(timestamp(row.event_time_us)),
        actor: principal(&row.actor_role, &row.actor_department, &row.actor_credential),
        backfilled: row.backfilled,
    }
}

/// A stored audit record as the contract's message.
pub fn audit(row: &audit_record::Model) -> pb::AuditRecord {
    pb::AuditRecord {
        name: format!("auditRecords/{}", row.id),
        principal: principal(&row.role, &row.department, &row.credential),
        method: row.method.clone(),
        request_id: row.request_id.clone(),
        code: row.code,
        status_message: row.status_message.clone(),
        resource: row.resource.clone(),
        time: Some(timestamp(row.time_us)),
        validate_only: row.validate_only,
        backfill: row.backfill,
        item_index: row.item_index,
        source: pb::ReportSource::from_str_name(&row.source).unwrap_or_default() as i32,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn measure_keys_sort_in_number_order() {
        let mut numbers = vec!["10.1", "2.1", "1.10", "1.2", "2", "10.2", "003.1", "x.1"];
        numbers.sort_by_key(|n| super::measure_key(n));
        assert_eq!(numbers, ["1.2", "1.10", "2", "2.1", "003.1", "10.1", "10.2", "x.1"]);
    }

    use super::*;

    #[test]
    fn names_round_trip() {
        let name = "plans/jiading-2023/reports/4.1~investment-promotion-center~2023-04@2";
        let (key, revision) = ReportKey::parse(name).unwrap();
        assert_eq!(revision, Some(2));
        assert_eq!(key.revision_name(2), name);
        assert!(ReportKey::parse("plans/x/reports/4.1~a").is_none());
        assert!(ReportKey::parse("plans/x/reports/4.1~a~2023-13").is_none());
        assert!(ReportKey::parse("plans/x/reports/4.1~a~2023-01@0").is_none());
        assert_eq!(micros(&timestamp(-1)), -1);
    }

    #[test]
    fn an_undeclared_source_is_the_api_and_an_unknown_one_is_none() {
        assert_eq!(declared_source(0), Some(pb::ReportSource::Api));
        assert_eq!(declared_source(2), Some(pb::ReportSource::WebForm));
        assert_eq!(declared_source(4), Some(pb::ReportSource::CommandLine));
        assert_eq!(declared_source(99), None);
    }
}
