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

use super::{ReportOut, StateArg, report_out, reporting};
use crate::{
    commands::{Connection, call_failed, print_json},
    output::table,
};

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
