//! `duban report list`: every matching report, all pages, as a table or JSON.

use std::io::Write;

use duban_kit::{
    Settings,
    client::ServiceChannel,
    paging::{READ_ALL_PAGE_SIZE, read_all_pages},
};
use duban_proto::{
    common::v1 as common,
    reporting::v1::{self as pb, reporting_service_client::ReportingServiceClient},
};

use super::{DEFAULT_PLAN, ReportOut, StateArg, parse_period, plan_zone, report_out, reporting};
use crate::{
    commands::{Connection, call_failed, print_json},
    output::table,
};

/// Filters of `report list`: the command line's arguments, as typed.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ListFilter {
    /// The plan id.
    #[arg(long, default_value = DEFAULT_PLAN)]
    pub plan: String,
    /// Only this measure number.
    #[arg(long)]
    pub measure: Option<String>,
    /// Only this department code.
    #[arg(long)]
    pub department: Option<String>,
    /// Only this month, YYYY-MM.
    #[arg(long, value_parser = parse_period)]
    pub period: Option<common::Period>,
    /// Only reports in this state.
    #[arg(long, value_enum)]
    pub state: Option<StateArg>,
}

/// Every report matching `filter`, following page tokens to the end.
pub async fn fetch_all(
    client: &mut ReportingServiceClient<ServiceChannel>,
    filter: &ListFilter,
) -> anyhow::Result<Vec<pb::Report>> {
    let reports = read_all_pages(|page_token| {
        let mut client = client.clone();
        let request = pb::ListReportsRequest {
            parent: format!("plans/{}", filter.plan),
            page_size: READ_ALL_PAGE_SIZE,
            page_token,
            measure_number: filter.measure.clone().unwrap_or_default(),
            department: filter.department.clone().unwrap_or_default(),
            period: filter.period,
            state: filter.state.map_or(0, |s| s.to_proto() as i32),
        };
        async move {
            let page = client.list_reports(request).await?.into_inner();
            Ok::<_, tonic::Status>((page.reports, page.next_page_token))
        }
    })
    .await
    .map_err(|s| call_failed("ListReports", s))?;
    Ok(reports)
}

/// Lists the latest revision of every matching report.
pub async fn list(settings: &Settings, connection: &Connection, filter: ListFilter, json: bool) -> anyhow::Result<()> {
    let reports = fetch_all(&mut reporting(settings, connection)?, &filter).await?;
    let zone = plan_zone(settings, connection, &filter.plan).await?;
    let out: Vec<ReportOut> = reports.iter().map(|report| report_out(report, zone)).collect();
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
                r.source.clone(),
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
            "source",
        ],
        &rows,
    );
    // A closed pipe (`| head`) ends the listing quietly.
    let mut stdout = std::io::stdout().lock();
    let _ = write!(stdout, "{text}").and_then(|()| writeln!(stdout, "{} report(s)", out.len()));
    Ok(())
}
