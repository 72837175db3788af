//! `duban report template|upload`: the unit's report workbook from the command line, the same workbook
//! as the gateway's `/my/template.xlsx` and `/my/upload` (both are `duban_gateway::workbook`).

use std::{collections::BTreeMap, path::Path, time::Duration};

use anyhow::{Context, bail};
use duban_kit::Settings;
use duban_proto::{
    common::v1::Period, measures::v1::measures_service_client::MeasuresServiceClient,
    reporting::v1::reporting_service_client::ReportingServiceClient,
};

use super::reporting;
use crate::commands::{Connection, call_failed};

/// How long an upload may take: every row is read, then sent in one stream.
const UPLOAD_TIMEOUT: Duration = Duration::from_secs(120);

/// Writes to `output` the workbook of the caller's obligations in `period` (or `department`'s, for an
/// ADMIN), with a fresh request id for every row.
pub async fn template(
    settings: &Settings,
    connection: &Connection,
    plan: &str,
    period: Period,
    department: &str,
    output: &Path,
) -> anyhow::Result<()> {
    let parent = format!("plans/{plan}");
    let client = reporting(settings, connection)?;
    let obligations = duban_gateway::workbook::period_obligations(&client, &parent, department, period)
        .await
        .map_err(|status| call_failed("ListObligations", status))?;
    let measures = MeasuresServiceClient::new(connection.channel_to(settings, &settings.measures.endpoint_url())?);
    let titles: BTreeMap<String, String> = duban_plan::listing::all_measures(&measures, &parent)
        .await
        .map_err(|status| call_failed("ListMeasures", status))?
        .into_iter()
        .map(|m| (m.number, m.title))
        .collect();
    let bytes = duban_gateway::workbook::template(&parent, &obligations, &titles)?;
    std::fs::write(output, bytes).with_context(|| format!("cannot write {}", output.display()))?;
    println!("{}: {} obligations", output.display(), obligations.len());
    Ok(())
}

/// Sends the filled-in rows of the workbook `file` and prints what became of each, as the gateway's
/// upload page shows it; fails if any row was refused.
pub async fn upload(settings: &Settings, connection: &Connection, file: &Path) -> anyhow::Result<()> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let rows = duban_gateway::workbook::read(&bytes)?;
    let channel = connection.channel_with_timeout(
        settings,
        &connection.endpoint(&settings.reporting.endpoint_url()),
        UPLOAD_TIMEOUT,
    )?;
    let mut client = ReportingServiceClient::new(channel);
    let upload = duban_gateway::workbook::upload(&mut client, rows)
        .await
        .map_err(|status| call_failed("SubmitReports", status))?;
    for line in upload.lines() {
        println!("{line}");
    }
    if upload.failed() > 0 {
        bail!(
            "{} of the workbook's rows were refused: correct the cells named above and upload it again",
            upload.failed()
        );
    }
    Ok(())
}
