//! The writes that store reports: the ADMIN backfill in streams, and live revisions with units' own tokens.

use std::time::Duration;

use anyhow::bail;
use duban_kit::{Settings, client::ServiceChannel};
use duban_plan::cache::ABSENT_TTL;
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
    web,
};
use crate::{
    commands::{
        Connection, call_failed, code_name,
        report::{ListFilter, fetch_all, period_text},
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

/// Makes sure reporting judges the backfill on a plan that has the designations this run
/// just made, by checking `first` (a report of a unit designated now) with `validate_only`
/// once its cached plan is older than [`ABSENT_TTL`].
///
/// Why: before refusing on its cached plan, reporting asks the plan's owners again, but at
/// most once per [`ABSENT_TTL`] (`duban_plan::view::PlanView::recheck`). When it read the plan
/// less than that before the designations (its start-up follow-up run, another command), the
/// items of a newly designated unit, which come together in the backfill, would be refused
/// within that second, and a refresh in the middle of a unit's months would store them out
/// of order (a blocker resolved before it was raised).
/// This one call, alone, triggers the refresh; its answer does not matter (it stores
/// nothing, and the backfill reports any refusal itself).
pub(crate) async fn see_designations(
    client: &mut ReportingServiceClient<ServiceChannel>,
    parent: &str,
    first: &Planned,
) {
    tokio::time::sleep(ABSENT_TTL + Duration::from_millis(200)).await;
    let check = pb::SubmitReportRequest {
        parent: parent.to_owned(),
        report: Some(first.report.clone()),
        request_id: String::new(),
        validate_only: true,
        source: pb::ReportSource::CommandLine as i32,
    };
    let _ = client.submit_report(check).await;
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

/// How a live unit sends its final figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Way {
    /// SubmitReport over gRPC, from the unit's own system (declared COMMAND_LINE: the demo is
    /// the `duban` command).
    Grpc,
    /// The gateway's web form, `/my/obligations/{measure}/{period}`.
    WebForm,
    /// The gateway's workbook, `/my/template.xlsx` filled in and uploaded at `/my/upload`.
    Workbook,
}

impl Way {
    /// The source reporting records for a revision sent this way.
    fn source(self) -> pb::ReportSource {
        match self {
            Way::Grpc => pb::ReportSource::CommandLine,
            Way::WebForm => pb::ReportSource::WebForm,
            Way::Workbook => pb::ReportSource::Workbook,
        }
    }

    /// As the summary names it.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Way::Grpc => "gRPC",
            Way::WebForm => "web form",
            Way::Workbook => "workbook",
        }
    }

    /// The way of the `index`-th live unit that has provisional figures to replace: the first
    /// uses the web form, the second the workbook, the others gRPC, so that every way is shown
    /// whenever two units or more report live.
    fn of(index: usize) -> Way {
        match index {
            0 => Way::WebForm,
            1 => Way::Workbook,
            _ => Way::Grpc,
        }
    }
}

/// What the live path did.
#[derive(Debug, Default)]
pub(crate) struct Live {
    /// Revisions stored, by way.
    pub(crate) by_way: Vec<(Way, usize)>,
    /// Each unit, its way and its count, for the summary.
    pub(crate) units: Vec<String>,
}

impl Live {
    fn add(&mut self, way: Way, count: usize) {
        match self.by_way.iter_mut().find(|(w, _)| *w == way) {
            Some((_, total)) => *total += count,
            None => self.by_way.push((way, count)),
        }
    }
}

/// The live path: each live unit, with a token of its own, replaces the provisional
/// figures of its last-month reports with final ones (revision 2, not provisional): one
/// through the gateway's web form, one through its workbook, the others over gRPC (see
/// [`Way::of`]). Each unit's revisions are then read back: every report it revised must
/// have a later revision, final, with the source of its way.
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
) -> anyhow::Result<Live> {
    let mut live = Live::default();
    let filter = |unit: &str| ListFilter {
        plan: plan_id.to_owned(),
        department: Some(unit.to_owned()),
        period: Some(*period),
        ..Default::default()
    };
    let mut index = 0;
    for unit in live_units {
        let reports = fetch_all(&mut c.reporting, &filter(unit)).await?;
        let provisional: Vec<&pb::Report> = reports.iter().filter(|r| r.provisional).collect();
        if provisional.is_empty() {
            continue;
        }
        let way = Way::of(index);
        index += 1;
        let (credential, token) = issue_token(
            &mut c.departments,
            departments::Role::Department,
            unit,
            format!("duban demo (seed {seed}): {unit} reporting system"),
        )
        .await?;
        let result = match way {
            Way::Grpc => grpc_revisions(
                settings,
                connection,
                plan_id,
                seed,
                unit,
                &token,
                &provisional,
                target_plans,
            )
            .await
            .map(|sent| web::Done {
                sent,
                ..Default::default()
            }),
            Way::WebForm | Way::Workbook => {
                at_the_gateway(
                    settings,
                    connection,
                    way,
                    unit,
                    &token,
                    &provisional,
                    period,
                    seed,
                    target_plans,
                )
                .await
            }
        };
        revoke_token(&mut c.departments, &credential).await;
        let done = result?;
        // Read back: each revised report's latest revision is final and came this way.
        let after = fetch_all(&mut c.reporting, &filter(unit)).await?;
        for before in &provisional {
            let key = report_key(before);
            let now = after.iter().find(|r| report_key(r) == key);
            let revised =
                now.is_some_and(|r| r.revision > before.revision && !r.provisional && r.source() == way.source());
            if !revised {
                bail!(
                    "{key}: sent by {} as {unit}, but the latest revision is {} ({}, {}){}",
                    way.label(),
                    now.map_or(0, |r| r.revision),
                    now.map_or("missing", |r| if r.provisional { "provisional" } else { "final" }),
                    now.map_or("-", |r| r.source().as_str_name()),
                    if done.account.is_empty() {
                        String::new()
                    } else {
                        format!("; the gateway said: {}", done.account)
                    }
                );
            }
        }
        live.add(way, done.sent);
        live.units.push(format!("{unit} ({}, {})", way.label(), done.sent));
    }
    Ok(live)
}

/// Signs `unit` in at the gateway and sends its final figures `way` (web form or workbook),
/// then signs out.
#[allow(clippy::too_many_arguments)]
async fn at_the_gateway(
    settings: &Settings,
    connection: &Connection,
    way: Way,
    unit: &str,
    token: &str,
    provisional: &[&pb::Report],
    period: &common::Period,
    seed: u64,
    target_plans: &[TargetPlan],
) -> anyhow::Result<web::Done> {
    let mut browser = web::browser(settings, connection)?;
    web::sign_in(&mut browser, token, unit).await?;
    let done = match way {
        Way::WebForm => web::revise_in_forms(&mut browser, provisional, seed, target_plans).await,
        _ => {
            let period = period_text(Some(period));
            web::revise_in_workbook(&mut browser, unit, provisional, &period, seed, target_plans).await
        }
    }?;
    web::sign_out(&mut browser, done.csrf.as_deref()).await;
    Ok(done)
}

/// `unit`'s final figures over gRPC with its own `token`, as a unit's own system sends them.
#[allow(clippy::too_many_arguments)]
async fn grpc_revisions(
    settings: &Settings,
    connection: &Connection,
    plan_id: &str,
    seed: u64,
    unit: &str,
    token: &str,
    provisional: &[&pb::Report],
    target_plans: &[TargetPlan],
) -> anyhow::Result<usize> {
    let mut own = clients(settings, connection, Some(token))?;
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
            narrative: report.narrative.replace(web::PROVISIONAL_NOTE, web::FINAL_NOTE),
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
    Ok(count)
}
