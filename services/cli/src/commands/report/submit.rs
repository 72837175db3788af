//! `duban report submit`: one report, with the units of its values looked up.

use duban_kit::{Settings, client::ServiceChannel};
use duban_proto::{
    common::v1 as common,
    reporting::v1 as pb,
    targets::v1::{self as targets, targets_service_client::TargetsServiceClient},
};

use super::{
    DEFAULT_PLAN, StatusArg, narrative_text, parse_blocker, parse_evidence, parse_milestone, parse_period, parse_value,
    plan_zone, report_out, reporting, resolve_blocker,
};
use crate::commands::{Connection, call_failed, print_json};

/// What `report submit` sends: the command line's arguments, as typed.
#[derive(Debug, Clone, clap::Args)]
pub struct Submission {
    /// The measure number, for example 4.1.
    #[arg(long)]
    pub measure: String,
    /// The month, YYYY-MM.
    #[arg(long, value_parser = parse_period)]
    pub period: common::Period,
    /// The overall assessment.
    #[arg(long, value_enum)]
    pub status: StatusArg,
    /// `<target-code>=<number>`, in the target's unit; repeat for each target.
    #[arg(long = "value", value_parser = parse_value)]
    pub values: Vec<(String, duban_proto::decimal::Decimal)>,
    /// `<milestone-code>=<status>[@<achieve-date>][:<note>]`, the code as `duban plan
    /// export` lists it and the status not-started|in-progress|achieved|delayed, for
    /// example `huijia-car-promotion-extension=achieved@2023-06-30`; repeatable.
    #[arg(long = "milestone", value_parser = parse_milestone)]
    pub milestones: Vec<pb::MilestoneUpdate>,
    /// What was done and what comes next (`@file` reads it from a file).
    #[arg(long, default_value = "")]
    pub narrative: String,
    /// `<severity>:<support-unit-code>:<text>` (severity low|medium|high|critical; the
    /// unit may be empty); repeatable.
    #[arg(long = "blocker", value_parser = parse_blocker)]
    pub blockers: Vec<pb::Blocker>,
    /// The name of an open blocker to close, as ReportingService.ListBlockers and
    /// ListObligations return it (`plans/{plan}/blockers/{measure}~{department}~{number}`);
    /// repeatable.
    /// Open blockers not named here stay open.
    #[arg(long = "resolve-blocker", value_parser = resolve_blocker)]
    pub resolved_blockers: Vec<pb::Blocker>,
    /// `<title>=<url>`; repeatable.
    #[arg(long = "evidence", value_parser = parse_evidence)]
    pub evidence: Vec<pb::EvidenceLink>,
    /// The department, for ADMIN callers; a department's token submits for itself.
    #[arg(long, default_value = "")]
    pub department: String,
    /// The figures are preliminary (快报).
    #[arg(long)]
    pub provisional: bool,
    /// Idempotency key: a retry with the same one stores nothing new.
    #[arg(long, default_value = "")]
    pub request_id: String,
    /// Check everything, permissions included; store nothing.
    #[arg(long)]
    pub validate_only: bool,
    /// The plan id.
    #[arg(long, default_value = DEFAULT_PLAN)]
    pub plan: String,
}

/// Looks up the unit and value basis of each target, so that people type only numbers.
pub async fn metric_values(
    targets_client: &mut TargetsServiceClient<ServiceChannel>,
    plan: &str,
    values: &[(String, duban_proto::decimal::Decimal)],
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
            value: Some((*value).into()),
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
            narrative: narrative_text(&submission.narrative)?,
            metric_values,
            milestone_updates: submission.milestones.clone(),
            blockers: submission
                .blockers
                .iter()
                .chain(&submission.resolved_blockers)
                .cloned()
                .collect(),
            evidence_links: submission.evidence.clone(),
            provisional: submission.provisional,
            ..Default::default()
        }),
        request_id,
        validate_only: submission.validate_only,
        // The CLI says so, for leadership's statistics of how units report.
        source: pb::ReportSource::CommandLine as i32,
    };
    let report = reporting(settings, connection)?
        .submit_report(request)
        .await
        .map_err(|s| call_failed("SubmitReport", s))?
        .into_inner();
    let zone = plan_zone(settings, connection, &submission.plan).await?;
    if json {
        return print_json(&report_out(&report, zone));
    }
    let out = report_out(&report, zone);
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
