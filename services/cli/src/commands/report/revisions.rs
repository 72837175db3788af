//! `duban report revisions`: every stored revision of one report, newest first, with who
//! submitted it, from where, and how it was reviewed.

use std::io::Write;

use duban_kit::{Settings, paging::READ_ALL_PAGE_SIZE, paging::read_all_pages};
use duban_proto::reporting::v1 as pb;

use super::{ReportOut, plan_zone, report_name, report_out, reporting};
use crate::{
    commands::{Connection, call_failed, print_json},
    output::table,
};

/// Lists every revision of the report `name` (full, or the part after `reports/`).
pub async fn revisions(
    settings: &Settings,
    connection: &Connection,
    plan: &str,
    name: &str,
    json: bool,
) -> anyhow::Result<()> {
    let client = reporting(settings, connection)?;
    let name = report_name(plan, name);
    let reports = read_all_pages(|page_token| {
        let mut client = client.clone();
        let request = pb::ListReportRevisionsRequest {
            name: name.clone(),
            page_size: READ_ALL_PAGE_SIZE,
            page_token,
        };
        async move {
            let page = client.list_report_revisions(request).await?.into_inner();
            Ok::<_, tonic::Status>((page.reports, page.next_page_token))
        }
    })
    .await
    .map_err(|s| call_failed("ListReportRevisions", s))?;
    let zone = plan_zone(settings, connection, plan).await?;
    let out: Vec<ReportOut> = reports.iter().map(|report| report_out(report, zone)).collect();
    if json {
        return print_json(&out);
    }
    let rows: Vec<Vec<String>> = out
        .iter()
        .map(|r| {
            vec![
                r.revision.to_string(),
                r.state.clone(),
                r.overall_status.clone(),
                r.submit_time.clone().unwrap_or_default(),
                r.submitted_by.clone(),
                r.source.clone(),
            ]
        })
        .collect();
    let text = table(&["rev", "state", "status", "submitted", "by", "source"], &rows);
    // A closed pipe (`| head`) ends the listing quietly.
    let mut stdout = std::io::stdout().lock();
    let _ = write!(stdout, "{name}\n{text}").and_then(|()| writeln!(stdout, "{} revision(s)", out.len()));
    Ok(())
}
