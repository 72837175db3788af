//! The writes that store reports: the ADMIN backfill in streams, and live revisions with units' own tokens.

use anyhow::bail;
use duban_kit::{Settings, client::ServiceChannel};
use duban_proto::{
    common::v1 as common,
    departments::v1 as departments,
    reporting::v1::{self as pb, reporting_service_client::ReportingServiceClient},
};
use tonic_types::RpcStatusExt;

use super::{
    access::{Clients, clients, issue_token, revoke_token},
    report_key,
    trajectory::{TargetPlan, reported, simulated},
};
use crate::{
    commands::{
        Connection, call_failed, code_name,
        report::{ListFilter, fetch_all},
    },
    prng::SplitMix64,
};

/// Items per SubmitReports stream (the service takes at most 1000).
const STREAM_ITEMS: usize = 250;

/// One report to backfill.
pub(crate) struct Planned {
    pub(crate) key: String,
    pub(crate) measure: String,
    pub(crate) department: String,
    pub(crate) report: pb::Report,
    pub(crate) submit_time: prost_types::Timestamp,
}

/// Sends the planned reports as ADMIN backfills, in streams; returns how many were stored.
pub(crate) async fn backfill(
    client: &mut ReportingServiceClient<ServiceChannel>,
    parent: &str,
    seed: u64,
    planned: Vec<Planned>,
) -> anyhow::Result<usize> {
    let mut stored = 0;
    let mut failures = Vec::new();
    for chunk in planned.chunks(STREAM_ITEMS) {
        let items: Vec<pb::SubmitReportsRequest> = chunk
            .iter()
            .map(|p| pb::SubmitReportsRequest {
                parent: parent.to_owned(),
                report: Some(p.report.clone()),
                request_id: SplitMix64::for_key(seed, &["backfill", &p.key]).uuid(),
                validate_only: false,
                backfill: true,
                submit_time: Some(p.submit_time),
                source: pb::ReportSource::CommandLine as i32,
            })
            .collect();
        let response = client
            .submit_reports(futures::stream::iter(items))
            .await
            .map_err(|s| call_failed("SubmitReports", s))?
            .into_inner();
        for result in response.results {
            match result.outcome {
                Some(pb::submit_reports_result::Outcome::Report(_)) => stored += 1,
                Some(pb::submit_reports_result::Outcome::Error(error)) => {
                    let item = &chunk[usize::try_from(result.index).unwrap_or(0).min(chunk.len() - 1)];
                    let reason = error
                        .get_details_error_info()
                        .map(|info| info.reason)
                        .unwrap_or_default();
                    let mut line = format!(
                        "{} ({} {}): {} ({}): {}",
                        item.key,
                        item.measure,
                        item.department,
                        code_name(tonic::Code::from_i32(error.code)),
                        reason,
                        error.message
                    );
                    let violations = error.get_details_bad_request().map(|bad| bad.field_violations);
                    for violation in violations.unwrap_or_default() {
                        line.push_str(&format!("\n    {}: {}", violation.field, violation.description));
                    }
                    failures.push(line);
                }
                None => failures.push(format!("item {}: no outcome", result.index)),
            }
        }
    }
    if !failures.is_empty() {
        for failure in failures.iter().take(20) {
            eprintln!("  {failure}");
        }
        bail!(
            "{} of {} backfilled reports were refused (first ones above); {stored} were stored",
            failures.len(),
            planned.len()
        );
    }
    Ok(stored)
}

/// The live path: each live unit, with a token of its own, replaces the provisional
/// figures of its last-month reports with final ones (revision 2, not provisional).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn live_submissions(
    c: &mut Clients,
    settings: &Settings,
    connection: &Connection,
    plan_id: &str,
    seed: u64,
    live_units: &[String],
    period: &common::Period,
    target_plans: &[TargetPlan],
) -> anyhow::Result<(usize, Vec<String>)> {
    let mut submitted = 0;
    let mut names = Vec::new();
    for unit in live_units {
        let reports = fetch_all(
            &mut c.reporting,
            &ListFilter {
                plan: plan_id.to_owned(),
                department: Some(unit.clone()),
                period: Some(*period),
                ..Default::default()
            },
        )
        .await?;
        let provisional: Vec<&pb::Report> = reports.iter().filter(|r| r.provisional).collect();
        if provisional.is_empty() {
            continue;
        }
        let (credential, token) = issue_token(
            &mut c.departments,
            departments::Role::Department,
            unit,
            format!("duban demo (seed {seed}): {unit} reporting system"),
        )
        .await?;
        let result = async {
            let mut own = clients(settings, connection, Some(&token))?;
            let mut count = 0;
            for report in provisional {
                let key = report_key(report);
                let mut rng = SplitMix64::for_key(seed, &["live", &key]);
                let mut final_report = pb::Report {
                    measure_number: report.measure_number.clone(),
                    // Empty: the caller's own department.
                    department: String::new(),
                    period: report.period,
                    overall_status: report.overall_status,
                    narrative: report.narrative.replace(
                        "（本月数据为快报数，正式数据将另行报送。）",
                        "（正式数据，替代快报数。）",
                    ),
                    metric_values: report.metric_values.clone(),
                    milestone_updates: report.milestone_updates.clone(),
                    // None: the provisional revision raised or resolved them already, and
                    // blockers a revision does not mention stay as they are.
                    blockers: vec![],
                    evidence_links: report.evidence_links.clone(),
                    provisional: false,
                    etag: report.etag.clone(),
                    ..Default::default()
                };
                for value in &mut final_report.metric_values {
                    let Some(plan) = target_plans.iter().find(|t| t.target.code == value.target_code) else {
                        continue;
                    };
                    let revised = simulated(value.value.as_ref()) * (1.0 + rng.range(0.0, 0.015));
                    value.value = Some(reported(revised, &plan.target));
                }
                own.reporting
                    .submit_report(pb::SubmitReportRequest {
                        parent: format!("plans/{plan_id}"),
                        report: Some(final_report),
                        request_id: rng.uuid(),
                        validate_only: false,
                        source: pb::ReportSource::CommandLine as i32,
                    })
                    .await
                    .map_err(|s| call_failed(&format!("SubmitReport {key} as {unit}"), s))?;
                count += 1;
            }
            anyhow::Ok(count)
        }
        .await;
        revoke_token(&mut c.departments, &credential).await;
        let count = result?;
        submitted += count;
        names.push(format!("{unit} ({count})"));
    }
    Ok((submitted, names))
}
