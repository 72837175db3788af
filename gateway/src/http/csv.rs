//! CSV exports of the overview and of every report, through kit's one CSV writer (which neutralises any
//! cell a spreadsheet would run as a formula), with a byte-order mark for spreadsheet programs. The
//! reports, with their narratives, are for signed-in readers only.

use axum::{
    extract::{Query, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use duban_kit::csv_export::{CsvExport, CsvExportError};
use duban_proto::{
    gateway::v1 as pb,
    reporting::v1::{OverallStatus, Report, ReportSource},
};

use super::{Params, Web, json_error};
use crate::{calendar::period_label, error::GatewayError, rag::Rag};

/// Why an export could not be answered: the data could not be read, or the table not written.
enum ExportError {
    Gateway(GatewayError),
    Csv(CsvExportError),
}

impl From<GatewayError> for ExportError {
    fn from(error: GatewayError) -> Self {
        Self::Gateway(error)
    }
}

impl From<CsvExportError> for ExportError {
    fn from(error: CsvExportError) -> Self {
        Self::Csv(error)
    }
}

fn opt(value: Option<f64>) -> String {
    value.map(|v| format!("{v}")).unwrap_or_default()
}

/// An amount's exact decimal text, empty for none.
fn amount(value: Option<&duban_proto::common::v1::Decimal>) -> String {
    value.map(|v| v.value.clone()).unwrap_or_default()
}

fn csv_answer(name: &str, result: Result<String, ExportError>) -> Response {
    match result {
        Ok(body) => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
            ],
            // A byte-order mark, so that spreadsheet programs read the Chinese as UTF-8.
            format!("\u{feff}{body}"),
        )
            .into_response(),
        Err(ExportError::Gateway(error)) => json_error(error),
        Err(ExportError::Csv(error)) => {
            tracing::error!(%error, export = name, "a CSV export could not be written");
            (StatusCode::INTERNAL_SERVER_ERROR, "the CSV export could not be written").into_response()
        }
    }
}

pub(crate) async fn csv_overview(State(web): State<Web>, Query(params): Query<Params>, headers: HeaderMap) -> Response {
    let result = async {
        let (overview, _) = web.overview_view(&headers, &params).await?;
        Ok(overview_table(&overview)?)
    }
    .await;
    csv_answer("overview.csv", result)
}

pub(crate) async fn csv_units(State(web): State<Web>, Query(params): Query<Params>, headers: HeaderMap) -> Response {
    let result = async {
        let caller = web.caller(&headers).await?;
        let rankings = web.rankings_view(&caller, &params).await?;
        Ok(units_table(&rankings)?)
    }
    .await;
    csv_answer("units.csv", result)
}

fn units_table(rankings: &pb::ListUnitRankingsResponse) -> Result<String, CsvExportError> {
    let mut table = CsvExport::new([
        "rank",
        "department",
        "name",
        "kind",
        "expected",
        "received",
        "on_time",
        "reporting_rate_percent",
        "on_time_rate_percent",
        "returned",
        "open_orders",
        "overdue_orders",
        "targets",
        "green",
        "amber",
        "red",
        "delivery_rate_percent",
    ])?;
    for r in &rankings.rankings {
        table.record([
            r.rank.to_string(),
            r.department.clone(),
            r.display_name.clone(),
            super::api::kind_name(r.kind).to_owned(),
            r.expected_count.to_string(),
            r.received_count.to_string(),
            r.on_time_count.to_string(),
            opt(r.reporting_rate),
            opt(r.on_time_rate),
            r.returned_count.to_string(),
            r.open_order_count.to_string(),
            r.overdue_order_count.to_string(),
            r.target_count.to_string(),
            r.green_target_count.to_string(),
            r.amber_target_count.to_string(),
            r.red_target_count.to_string(),
            opt(r.delivery_rate),
        ])?;
    }
    table.finish()
}

fn overview_table(overview: &pb::Overview) -> Result<String, CsvExportError> {
    let mut table = CsvExport::new([
        "section",
        "number",
        "code",
        "name",
        "rag",
        "discipline",
        "actual",
        "expected",
        "target",
        "percent",
        "forecast",
    ])?;
    let none = String::new;
    for a in &overview.actions {
        table.record([
            "action".into(),
            a.action_number.to_string(),
            none(),
            a.title.clone(),
            Rag::from_proto(a.rag).name().into(),
            Rag::from_proto(a.discipline).name().into(),
            none(),
            none(),
            none(),
            opt(a.percent),
            none(),
        ])?;
    }
    for m in &overview.measures {
        table.record([
            "measure".into(),
            m.measure_number.clone(),
            none(),
            m.title.clone(),
            Rag::from_proto(m.rag).name().into(),
            Rag::from_proto(m.discipline).name().into(),
            none(),
            none(),
            none(),
            none(),
            none(),
        ])?;
    }
    for t in &overview.targets {
        let target = t.target.clone().unwrap_or_default();
        table.record([
            "target".into(),
            target.measure_number,
            target.code,
            target.display_name,
            Rag::from_proto(t.rag).name().into(),
            Rag::from_proto(t.discipline).name().into(),
            amount(t.actual.as_ref()),
            amount(t.expected.as_ref()),
            amount(target.value.as_ref()),
            opt(t.percent_complete),
            amount(t.forecast.as_ref()),
        ])?;
    }
    table.finish()
}

/// The columns of the reports export, in the CSV and in the workbook's reports sheet.
pub(super) const REPORT_COLUMNS: [&str; 12] = [
    "report",
    "measure",
    "department",
    "period",
    "revision",
    "state",
    "overall_status",
    "provisional",
    "on_time",
    "submit_time",
    "source",
    "narrative",
];

pub(crate) async fn csv_reports(State(web): State<Web>, headers: HeaderMap) -> Response {
    let result = async {
        let caller = web.caller(&headers).await?;
        let mut table = CsvExport::new(REPORT_COLUMNS)?;
        let reports = super::xlsx::all_reports(&web, &caller).await?;
        for report in &reports {
            table.record(report_row(report))?;
        }
        Ok(table.finish()?)
    }
    .await;
    csv_answer("reports.csv", result)
}

fn report_row(r: &Report) -> [String; 12] {
    [
        r.name.clone(),
        r.measure_number.clone(),
        r.department.clone(),
        r.period.as_ref().map(period_label).unwrap_or_default(),
        r.revision.to_string(),
        duban_proto::reporting::v1::report::State::try_from(r.state)
            .map(|s| s.as_str_name().to_owned())
            .unwrap_or_default(),
        OverallStatus::try_from(r.overall_status)
            .map(|s| s.as_str_name().to_owned())
            .unwrap_or_default(),
        r.provisional.to_string(),
        r.on_time.to_string(),
        r.submit_time.as_ref().map(ToString::to_string).unwrap_or_default(),
        ReportSource::try_from(r.source)
            .map(|s| s.as_str_name().to_owned())
            .unwrap_or_default(),
        r.narrative.clone(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_overview_table_has_a_row_per_action_measure_and_target() {
        let overview = pb::Overview {
            actions: vec![pb::ActionProgress {
                action_number: 1,
                title: "助企纾困, 稳岗".into(),
                percent: Some(50.0),
                rag: pb::RagStatus::Green as i32,
                discipline: pb::RagStatus::Red as i32,
                ..Default::default()
            }],
            ..Default::default()
        };
        let text = overview_table(&overview).unwrap();
        let mut lines = text.lines();
        assert_eq!(
            lines.next(),
            Some("section,number,code,name,rag,discipline,actual,expected,target,percent,forecast")
        );
        assert_eq!(lines.next(), Some("action,1,,\"助企纾困, 稳岗\",green,red,,,,50,"));
    }
}
