//! `duban report submit|list|revisions|accept|return|template|upload`: progress reports through
//! the reporting server, for department staff (with their own token), leadership and administrators.

mod args;
mod list;
mod output;
mod review;
mod revisions;
mod submit;
mod workbook;

use duban_kit::{Settings, client::ServiceChannel};
use duban_plan::PlanZone;
use duban_proto::{
    measures::v1::{GetPlanRequest, measures_service_client::MeasuresServiceClient},
    reporting::v1::reporting_service_client::ReportingServiceClient,
};

pub use self::{
    args::{
        StateArg, StatusArg, narrative_text, parse_blocker, parse_evidence, parse_milestone, parse_period, parse_value,
        report_name, resolve_blocker,
    },
    list::{ListFilter, fetch_all, list},
    output::{BlockerOut, MilestoneOut, ReportOut, ValueOut, period_text, report_out, time_text},
    review::{Review, review},
    revisions::revisions,
    submit::{Submission, metric_values, submit},
    workbook::{template, upload},
};
use crate::commands::{Connection, call_failed};

/// The plan every report command works on unless told otherwise.
pub const DEFAULT_PLAN: &str = "jiading-2023";

/// A client of the reporting server `--addr` names (or the configured one).
fn reporting(settings: &Settings, connection: &Connection) -> anyhow::Result<ReportingServiceClient<ServiceChannel>> {
    Ok(ReportingServiceClient::new(
        connection.channel(settings, &settings.reporting.endpoint_url())?,
    ))
}

/// The time zone of `plan`, read from the measures server: report times print in the
/// plan's own time, as its units read them.
async fn plan_zone(settings: &Settings, connection: &Connection, plan: &str) -> anyhow::Result<PlanZone> {
    let mut measures = MeasuresServiceClient::new(connection.channel_to(settings, &settings.measures.endpoint_url())?);
    let plan = measures
        .get_plan(GetPlanRequest {
            name: format!("plans/{plan}"),
        })
        .await
        .map_err(|status| call_failed("GetPlan", status))?
        .into_inner();
    Ok(PlanZone::from_contract(&plan.time_zone)?)
}
