//! A report as `--json` and the tables print it: names, periods and Shanghai times.

use duban_plan::PlanZone;
use duban_proto::{common::v1 as common, reporting::v1 as pb};
use serde::Serialize;

/// A metric value as `--json` prints it.
#[derive(Debug, Serialize)]
pub struct ValueOut {
    target: String,
    /// The exact decimal text (a JSON string, so no reader turns it into a float).
    value: String,
    unit: String,
    basis: String,
}

/// A milestone update as `--json` prints it.
#[derive(Debug, Serialize)]
pub struct MilestoneOut {
    /// The milestone's code.
    code: String,
    /// Its description when the revision was submitted.
    description: String,
    /// `not_started`, `in_progress`, `achieved` or `delayed`.
    status: String,
    /// When it was achieved.
    achieve_date: Option<String>,
    note: String,
}

/// A blocker as `--json` prints it.
#[derive(Debug, Serialize)]
pub struct BlockerOut {
    severity: String,
    support_unit: String,
    description: String,
}

/// A report as `--json` prints it.
#[derive(Debug, Serialize)]
pub struct ReportOut {
    /// Resource name.
    pub name: String,
    /// Measure number.
    pub measure: String,
    /// Department code.
    pub department: String,
    /// `YYYY-MM`.
    pub period: String,
    /// `submitted`, `accepted` or `returned`.
    pub state: String,
    /// Revision number.
    pub revision: i32,
    /// `on_track` ...
    pub overall_status: String,
    /// Whether revision 1 came by the due day.
    pub on_time: bool,
    /// The due day.
    pub due_date: Option<String>,
    /// When this revision was submitted.
    pub submit_time: Option<String>,
    /// When revision 1 was submitted.
    pub first_submit_time: Option<String>,
    /// Stored by an ADMIN backfill.
    pub backfilled: bool,
    /// Preliminary figures.
    pub provisional: bool,
    /// Who submitted this revision: `department`/`admin` and the credential.
    pub submitted_by: String,
    /// Where this revision came from: `api`, `web_form`, `workbook` or `command_line`.
    pub source: String,
    /// The etag.
    pub etag: String,
    /// The values.
    pub values: Vec<ValueOut>,
    /// The milestone updates.
    pub milestones: Vec<MilestoneOut>,
    /// The blockers.
    pub blockers: Vec<BlockerOut>,
    /// Evidence link URLs.
    pub evidence: Vec<String>,
    /// The narrative.
    pub narrative: String,
    /// Why it was last returned.
    pub return_reason: String,
}

fn enum_name(name: &str, prefix: &str) -> String {
    name.trim_start_matches(prefix).to_ascii_lowercase()
}

/// `YYYY-MM`.
pub fn period_text(period: Option<&common::Period>) -> String {
    period.map_or_else(String::new, |p| format!("{:04}-{:02}", p.year, p.month))
}

fn date_text(date: Option<&common::Date>) -> Option<String> {
    date.filter(|d| d.year > 0)
        .map(|d| format!("{:04}-{:02}-{:02}", d.year, d.month, d.day))
}

/// A timestamp in the plan's time zone, `2023-07-03T09:30:00+08:00` in Asia/Shanghai.
pub fn time_text(time: Option<&prost_types::Timestamp>, zone: PlanZone) -> Option<String> {
    let time = time?;
    let utc = chrono::DateTime::from_timestamp(time.seconds, u32::try_from(time.nanos).unwrap_or(0))?;
    Some(
        utc.with_timezone(&zone.tz())
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
    )
}

/// The `--json` form of a report.
pub fn report_out(report: &pb::Report, zone: PlanZone) -> ReportOut {
    let submitted_by = report.submitted_by.as_ref().map_or_else(String::new, |p| {
        let role = enum_name(p.role().as_str_name(), "ROLE_");
        if p.credential.is_empty() {
            role
        } else {
            format!("{role} {}", p.credential)
        }
    });
    ReportOut {
        name: report.name.clone(),
        measure: report.measure_number.clone(),
        department: report.department.clone(),
        period: period_text(report.period.as_ref()),
        state: enum_name(report.state().as_str_name(), "STATE_"),
        revision: report.revision,
        overall_status: enum_name(report.overall_status().as_str_name(), "OVERALL_STATUS_"),
        on_time: report.on_time,
        due_date: date_text(report.due_date.as_ref()),
        submit_time: time_text(report.submit_time.as_ref(), zone),
        first_submit_time: time_text(report.first_submit_time.as_ref(), zone),
        backfilled: report.backfilled,
        provisional: report.provisional,
        submitted_by,
        source: enum_name(report.source().as_str_name(), "REPORT_SOURCE_"),
        etag: report.etag.clone(),
        values: report
            .metric_values
            .iter()
            .map(|v| ValueOut {
                target: v.target_code.clone(),
                value: v.value.as_ref().map(|v| v.value.clone()).unwrap_or_default(),
                unit: enum_name(v.unit().as_str_name(), "QUANTITY_UNIT_"),
                basis: enum_name(v.basis().as_str_name(), "VALUE_BASIS_"),
            })
            .collect(),
        milestones: report
            .milestone_updates
            .iter()
            .map(|m| MilestoneOut {
                code: m.milestone_code.clone(),
                description: m.milestone_description.clone(),
                status: enum_name(m.status().as_str_name(), "MILESTONE_STATUS_"),
                achieve_date: date_text(m.achieve_date.as_ref()),
                note: m.note.clone(),
            })
            .collect(),
        blockers: report
            .blockers
            .iter()
            .map(|b| BlockerOut {
                severity: enum_name(b.severity().as_str_name(), "BLOCKER_SEVERITY_"),
                support_unit: b.support_unit.clone(),
                description: b.description.clone(),
            })
            .collect(),
        evidence: report.evidence_links.iter().map(|e| e.url.clone()).collect(),
        narrative: report.narrative.clone(),
        return_reason: report.return_reason.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_print_in_shanghai() {
        let time = prost_types::Timestamp {
            seconds: 1_688_347_800, // 2023-07-03T01:30:00Z
            nanos: 0,
        };
        assert_eq!(
            time_text(Some(&time), PlanZone::default()).unwrap(),
            "2023-07-03T09:30:00+08:00"
        );
    }
}
