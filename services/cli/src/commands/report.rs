//! `duban report submit|list|accept|return`: progress reports through the reporting
//! server, for department staff (with their own token), leadership and administrators.

use std::io::Write;

use anyhow::Context;
use duban_kit::{Settings, client::ServiceChannel};
use duban_proto::{
    common::v1 as common,
    reporting::v1::{self as pb, reporting_service_client::ReportingServiceClient},
    targets::v1::{self as targets, targets_service_client::TargetsServiceClient},
};
use serde::Serialize;

use crate::{
    commands::{Connection, call_failed, print_json},
    output::table,
};

/// The plan every report command works on unless told otherwise.
pub const DEFAULT_PLAN: &str = "jiading-2023";

/// A department's overall assessment, as typed on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StatusArg {
    /// Work has not started yet.
    NotStarted,
    /// Progressing as planned.
    OnTrack,
    /// May miss a target or milestone without action.
    AtRisk,
    /// Will miss a target or milestone without intervention.
    OffTrack,
    /// The department's part is done.
    Completed,
}

impl StatusArg {
    /// The contract's value.
    pub fn to_proto(self) -> pb::OverallStatus {
        match self {
            StatusArg::NotStarted => pb::OverallStatus::NotStarted,
            StatusArg::OnTrack => pb::OverallStatus::OnTrack,
            StatusArg::AtRisk => pb::OverallStatus::AtRisk,
            StatusArg::OffTrack => pb::OverallStatus::OffTrack,
            StatusArg::Completed => pb::OverallStatus::Completed,
        }
    }
}

/// A report state, as a filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StateArg {
    /// Awaiting review.
    Submitted,
    /// Accepted by leadership.
    Accepted,
    /// Returned to the department for correction.
    Returned,
}

impl StateArg {
    fn to_proto(self) -> pb::report::State {
        match self {
            StateArg::Submitted => pb::report::State::Submitted,
            StateArg::Accepted => pb::report::State::Accepted,
            StateArg::Returned => pb::report::State::Returned,
        }
    }
}

/// `--value new-enterprises=3200`: a target code and a number.
pub fn parse_value(text: &str) -> Result<(String, f64), String> {
    let (code, number) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not <target-code>=<number>"))?;
    let code = code.trim();
    if code.is_empty() {
        return Err(format!("{text:?} has no target code before '='"));
    }
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("{:?} is not a number (in {text:?})", number.trim()))?;
    if !value.is_finite() {
        return Err(format!("{text:?}: the value must be finite"));
    }
    Ok((code.to_owned(), value))
}

/// `--blocker "high:planning-resources-bureau:土地指标未落实"`: severity, the unit whose
/// help is asked (may be empty), and the text (which may itself contain ':').
pub fn parse_blocker(text: &str) -> Result<pb::Blocker, String> {
    let mut parts = text.splitn(3, ':');
    let (Some(severity), Some(unit), Some(description)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(format!(
            "{text:?} is not <severity>:<support-unit-code>:<text> (the unit may be empty: \"high::text\")"
        ));
    };
    let severity = match severity.trim().to_ascii_lowercase().as_str() {
        "low" => pb::BlockerSeverity::Low,
        "medium" => pb::BlockerSeverity::Medium,
        "high" => pb::BlockerSeverity::High,
        "critical" => pb::BlockerSeverity::Critical,
        other => return Err(format!("{other:?} is not a severity: low, medium, high or critical")),
    };
    let description = description.trim();
    if description.is_empty() {
        return Err(format!("{text:?} has no description"));
    }
    Ok(pb::Blocker {
        description: description.to_owned(),
        severity: severity as i32,
        support_unit: unit.trim().to_owned(),
    })
}

/// `--evidence "2023年6月签约清单=https://..."`: a title and a URL. The URL starts at the
/// first `=http://` or `=https://`, so a title may contain '=' and a URL its query.
pub fn parse_evidence(text: &str) -> Result<pb::EvidenceLink, String> {
    let split = ["=https://", "=http://"]
        .iter()
        .filter_map(|needle| text.find(needle))
        .min()
        .or_else(|| text.find('='))
        .ok_or_else(|| format!("{text:?} is not <title>=<url>"))?;
    let (title, url) = (text[..split].trim(), text[split + 1..].trim());
    if title.is_empty() || url.is_empty() {
        return Err(format!("{text:?} needs both a title and a URL"));
    }
    Ok(pb::EvidenceLink {
        title: title.to_owned(),
        url: url.to_owned(),
        sha256: String::new(),
    })
}

/// `2023-06` as a period.
pub fn parse_period(text: &str) -> Result<common::Period, String> {
    let bad = || format!("{text:?} is not a month like 2023-06");
    let (year, month) = text.trim().split_once('-').ok_or_else(bad)?;
    let year: i32 = year.parse().map_err(|_| bad())?;
    let month: i32 = month.parse().map_err(|_| bad())?;
    if !(1..=12).contains(&month) || !(1000..=9999).contains(&year) {
        return Err(bad());
    }
    Ok(common::Period { year, month })
}

/// `plans/{plan}/reports/{key}` for a full name or a bare `{measure}~{department}~{period}`.
pub fn report_name(plan: &str, name: &str) -> String {
    if name.starts_with("plans/") {
        name.to_owned()
    } else {
        format!("plans/{plan}/reports/{name}")
    }
}

/// What `report submit` sends.
#[derive(Debug, Clone)]
pub struct Submission {
    /// The plan id.
    pub plan: String,
    /// The measure number.
    pub measure: String,
    /// The period.
    pub period: common::Period,
    /// The overall status.
    pub status: StatusArg,
    /// `(target code, value)` pairs; units are looked up.
    pub values: Vec<(String, f64)>,
    /// The narrative.
    pub narrative: String,
    /// Blockers.
    pub blockers: Vec<pb::Blocker>,
    /// Evidence links.
    pub evidence: Vec<pb::EvidenceLink>,
    /// The department (ADMIN callers); empty means the caller's own.
    pub department: String,
    /// Preliminary figures.
    pub provisional: bool,
    /// The idempotency key; empty means a fresh one.
    pub request_id: String,
    /// Check only.
    pub validate_only: bool,
}

fn reporting(settings: &Settings, connection: &Connection) -> anyhow::Result<ReportingServiceClient<ServiceChannel>> {
    Ok(ReportingServiceClient::new(
        connection.channel(settings, &settings.reporting.endpoint_url())?,
    ))
}

/// Looks up the unit and value basis of each target, so that people type only numbers.
pub async fn metric_values(
    targets_client: &mut TargetsServiceClient<ServiceChannel>,
    plan: &str,
    values: &[(String, f64)],
) -> anyhow::Result<Vec<pb::MetricValue>> {
    let mut out = Vec::new();
    for (code, value) in values {
        let target: targets::Target = targets_client
            .get_target(targets::GetTargetRequest {
                name: format!("plans/{plan}/targets/{code}"),
            })
            .await
            .map_err(|s| call_failed(&format!("GetTarget {code}"), s))?
            .into_inner();
        out.push(pb::MetricValue {
            target_code: code.clone(),
            value: *value,
            unit: target.unit,
            basis: target.value_basis,
        });
    }
    Ok(out)
}

/// Submits one report and prints the stored (or, with `--validate-only`, checked) revision.
pub async fn submit(
    settings: &Settings,
    connection: &Connection,
    submission: Submission,
    json: bool,
) -> anyhow::Result<()> {
    let mut targets_client =
        TargetsServiceClient::new(connection.channel_to(settings, &settings.targets.endpoint_url())?);
    let metric_values = metric_values(&mut targets_client, &submission.plan, &submission.values).await?;
    let request_id = if submission.request_id.is_empty() {
        uuid::Uuid::new_v4().to_string()
    } else {
        submission.request_id.clone()
    };
    let request = pb::SubmitReportRequest {
        parent: format!("plans/{}", submission.plan),
        report: Some(pb::Report {
            measure_number: submission.measure.clone(),
            department: submission.department.clone(),
            period: Some(submission.period),
            overall_status: submission.status.to_proto() as i32,
            narrative: submission.narrative.clone(),
            metric_values,
            blockers: submission.blockers.clone(),
            evidence_links: submission.evidence.clone(),
            provisional: submission.provisional,
            ..Default::default()
        }),
        request_id,
        validate_only: submission.validate_only,
    };
    let report = reporting(settings, connection)?
        .submit_report(request)
        .await
        .map_err(|s| call_failed("SubmitReport", s))?
        .into_inner();
    if json {
        return print_json(&report_out(&report));
    }
    let out = report_out(&report);
    let verb = if submission.validate_only {
        "Valid (nothing stored)"
    } else {
        "Stored"
    };
    println!(
        "{verb}: {} revision {} ({}), due {}, {}",
        out.name,
        out.revision,
        out.state,
        out.due_date.as_deref().unwrap_or("?"),
        if out.on_time { "on time" } else { "late" }
    );
    Ok(())
}

/// Filters of `report list`.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// The plan id.
    pub plan: String,
    /// Only this measure number.
    pub measure: Option<String>,
    /// Only this department code.
    pub department: Option<String>,
    /// Only this month.
    pub period: Option<common::Period>,
    /// Only this state.
    pub state: Option<StateArg>,
}

/// Every report matching `filter`, following page tokens to the end.
pub async fn fetch_all(
    client: &mut ReportingServiceClient<ServiceChannel>,
    filter: &ListFilter,
) -> anyhow::Result<Vec<pb::Report>> {
    let mut reports = Vec::new();
    let mut page_token = String::new();
    loop {
        let request = pb::ListReportsRequest {
            parent: format!("plans/{}", filter.plan),
            page_size: 500,
            page_token,
            measure_number: filter.measure.clone().unwrap_or_default(),
            department: filter.department.clone().unwrap_or_default(),
            period: filter.period,
            state: filter.state.map_or(0, |s| s.to_proto() as i32),
        };
        let page = client
            .list_reports(request)
            .await
            .map_err(|s| call_failed("ListReports", s))?
            .into_inner();
        reports.extend(page.reports);
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    Ok(reports)
}

/// Lists the latest revision of every matching report.
pub async fn list(settings: &Settings, connection: &Connection, filter: ListFilter, json: bool) -> anyhow::Result<()> {
    let reports = fetch_all(&mut reporting(settings, connection)?, &filter).await?;
    let out: Vec<ReportOut> = reports.iter().map(report_out).collect();
    if json {
        return print_json(&out);
    }
    let rows: Vec<Vec<String>> = out
        .iter()
        .map(|r| {
            vec![
                r.period.clone(),
                r.measure.clone(),
                r.department.clone(),
                r.state.clone(),
                r.revision.to_string(),
                r.overall_status.clone(),
                if r.on_time { "yes" } else { "late" }.to_owned(),
                r.submit_time.clone().unwrap_or_default(),
            ]
        })
        .collect();
    let text = table(
        &[
            "period",
            "measure",
            "department",
            "state",
            "rev",
            "status",
            "on time",
            "submitted",
        ],
        &rows,
    );
    // A closed pipe (`| head`) ends the listing quietly.
    let mut stdout = std::io::stdout().lock();
    let _ = write!(stdout, "{text}").and_then(|()| writeln!(stdout, "{} report(s)", out.len()));
    Ok(())
}

/// How a report is reviewed.
#[derive(Debug, Clone)]
pub enum Review {
    /// Accept, with an optional comment.
    Accept {
        /// The comment.
        comment: String,
    },
    /// Return, with the reason shown to the department.
    Return {
        /// The reason.
        reason: String,
    },
}

/// Accepts or returns the latest revision of a report; without `etag`, the current one is
/// read first.
pub async fn review(
    settings: &Settings,
    connection: &Connection,
    plan: &str,
    name: &str,
    etag: Option<String>,
    review: Review,
    json: bool,
) -> anyhow::Result<()> {
    let mut client = reporting(settings, connection)?;
    let name = report_name(plan, name);
    let etag = match etag.filter(|e| !e.is_empty()) {
        Some(etag) => etag,
        None => {
            client
                .get_report(pb::GetReportRequest { name: name.clone() })
                .await
                .map_err(|s| call_failed("GetReport", s))?
                .into_inner()
                .etag
        }
    };
    let request_id = uuid::Uuid::new_v4().to_string();
    let report = match review {
        Review::Accept { comment } => client
            .accept_report(pb::AcceptReportRequest {
                name,
                etag,
                comment,
                request_id,
            })
            .await
            .map_err(|s| call_failed("AcceptReport", s))?,
        Review::Return { reason } => client
            .return_report(pb::ReturnReportRequest {
                name,
                etag,
                reason,
                request_id,
            })
            .await
            .map_err(|s| call_failed("ReturnReport", s))?,
    }
    .into_inner();
    let out = report_out(&report);
    if json {
        return print_json(&out);
    }
    println!("{} revision {} is now {}", out.name, out.revision, out.state);
    Ok(())
}

/// A metric value as `--json` prints it.
#[derive(Debug, Serialize)]
pub struct ValueOut {
    target: String,
    value: f64,
    unit: String,
    basis: String,
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
    /// The etag.
    pub etag: String,
    /// The values.
    pub values: Vec<ValueOut>,
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

/// A timestamp in Asia/Shanghai time, `2023-07-03T09:30:00+08:00`.
pub fn time_text(time: Option<&prost_types::Timestamp>) -> Option<String> {
    let time = time?;
    let utc = chrono::DateTime::from_timestamp(time.seconds, u32::try_from(time.nanos).unwrap_or(0))?;
    let shanghai = chrono::FixedOffset::east_opt(8 * 3600)?;
    Some(
        utc.with_timezone(&shanghai)
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
    )
}

/// The `--json` form of a report.
pub fn report_out(report: &pb::Report) -> ReportOut {
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
        submit_time: time_text(report.submit_time.as_ref()),
        first_submit_time: time_text(report.first_submit_time.as_ref()),
        backfilled: report.backfilled,
        provisional: report.provisional,
        submitted_by,
        etag: report.etag.clone(),
        values: report
            .metric_values
            .iter()
            .map(|v| ValueOut {
                target: v.target_code.clone(),
                value: v.value,
                unit: enum_name(v.unit().as_str_name(), "QUANTITY_UNIT_"),
                basis: enum_name(v.basis().as_str_name(), "VALUE_BASIS_"),
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

/// Reads a narrative from `@file` or takes it as given.
pub fn narrative_text(text: &str) -> anyhow::Result<String> {
    match text.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path).with_context(|| format!("cannot read the narrative from {path}")),
        None => Ok(text.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_a_code_and_a_number() {
        assert_eq!(
            parse_value("new-enterprises=3200"),
            Ok(("new-enterprises".into(), 3200.0))
        );
        assert_eq!(parse_value(" share = 35.5 "), Ok(("share".into(), 35.5)));
        assert!(parse_value("new-enterprises").is_err());
        assert!(parse_value("=3").is_err());
        assert!(parse_value("x=abc").is_err());
        assert!(parse_value("x=NaN").is_err());
        assert!(parse_value("x=inf").is_err());
    }

    #[test]
    fn blockers_are_severity_unit_and_text() {
        let blocker = parse_blocker("high:planning-resources-bureau:土地指标未落实：需协调").unwrap();
        assert_eq!(blocker.severity(), pb::BlockerSeverity::High);
        assert_eq!(blocker.support_unit, "planning-resources-bureau");
        assert_eq!(blocker.description, "土地指标未落实：需协调");
        let no_unit = parse_blocker("Low::a:b").unwrap();
        assert_eq!(no_unit.severity(), pb::BlockerSeverity::Low);
        assert_eq!(no_unit.support_unit, "");
        assert_eq!(no_unit.description, "a:b");
        assert!(parse_blocker("urgent:x:text").is_err());
        assert!(parse_blocker("high:text").is_err());
        assert!(parse_blocker("high:x:  ").is_err());
    }

    #[test]
    fn evidence_splits_before_the_url() {
        let link = parse_evidence("清单 a=b=https://x.org/f?a=1&b=2").unwrap();
        assert_eq!(link.title, "清单 a=b");
        assert_eq!(link.url, "https://x.org/f?a=1&b=2");
        assert_eq!(parse_evidence("t=http://x").unwrap().url, "http://x");
        assert!(parse_evidence("no url").is_err());
        assert!(parse_evidence("=https://x").is_err());
    }

    #[test]
    fn periods_are_months() {
        assert_eq!(parse_period("2023-06"), Ok(common::Period { year: 2023, month: 6 }));
        assert!(parse_period("2023-13").is_err());
        assert!(parse_period("2023/06").is_err());
        assert_eq!(
            report_name("p", "4.1~tax-bureau~2023-06"),
            "plans/p/reports/4.1~tax-bureau~2023-06"
        );
        assert_eq!(report_name("p", "plans/q/reports/x"), "plans/q/reports/x");
    }

    #[test]
    fn times_print_in_shanghai() {
        let time = prost_types::Timestamp {
            seconds: 1_688_347_800, // 2023-07-03T01:30:00Z
            nanos: 0,
        };
        assert_eq!(time_text(Some(&time)).unwrap(), "2023-07-03T09:30:00+08:00");
    }
}
