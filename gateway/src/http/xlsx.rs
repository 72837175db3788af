//! Excel (.xlsx) exports, written with rust_xlsxwriter: each CSV export as a workbook (`overview.xlsx`,
//! `reports.xlsx`), and `export.xlsx` with one sheet each for actions, targets, reports and compliance.
//!
//! Cells are typed: counts and rates are numbers, flags are booleans, and an amount is a number when,
//! and only when, that is exact. An amount is the contract's decimal text (`4.47`); it is written as a
//! number if it has at most 15 significant digits (what Excel keeps) and the double nearest to it prints
//! back as the same decimal (Rust and Excel both write a double as the shortest text that reads back as
//! it, so the cell reads back equal), with a number format showing as many places as the amount has
//! (`4.50` shows `4.50`); any other amount is written as its exact text, never rounded. Units go in the
//! headers (`percent (%)`) or, where they differ from row to row, in a `unit` column. Text cells are
//! shared strings, which a spreadsheet never evaluates; they are neutralised all the same as the CSV
//! writer does (`duban_kit::csv_export::neutralised`), so both downloads carry the same text. The header
//! row is bold and frozen, and each column is as wide as its widest cell (CJK characters count double).

use std::{collections::BTreeMap, str::FromStr};

use axum::{
    extract::{Query, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use duban_kit::{
    csv_export::neutralised,
    paging::{READ_ALL_PAGE_SIZE, read_all_pages},
};
use duban_proto::{
    common::v1::Decimal as Amount,
    gateway::v1 as pb,
    reporting::v1::{
        DepartmentCompliance, ListReportsRequest, OverallStatus, Report, ReportSource, report::State as ReportState,
    },
};
use rust_decimal::Decimal;
use rust_xlsxwriter::{Format, Workbook, XlsxError};
use unicode_width::UnicodeWidthStr;

use super::{Params, Web, json_error};
use crate::{
    bulletin::unit_label,
    calendar::{date_label, period_label},
    dashboard::Caller,
    error::GatewayError,
    html::Lang,
    rag::Rag,
};

/// One cell of an export.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cell {
    /// Nothing.
    Empty,
    /// Text.
    Text(String),
    /// An exact decimal amount, as the contract carries it.
    Amount(String),
    /// A display figure the contract carries as a double (a rate in percent).
    Number(f64),
    /// A count.
    Integer(i64),
    /// A flag.
    Bool(bool),
}

impl Cell {
    fn text(value: impl Into<String>) -> Self {
        Cell::Text(value.into())
    }

    fn amount(value: Option<&Amount>) -> Self {
        value.map_or(Cell::Empty, |v| Cell::Amount(v.value.clone()))
    }

    fn number(value: Option<f64>) -> Self {
        value.map_or(Cell::Empty, Cell::Number)
    }

    /// What the cell shows, for the column widths.
    fn shown(&self) -> String {
        match self {
            Cell::Empty => String::new(),
            Cell::Text(text) | Cell::Amount(text) => text.clone(),
            Cell::Number(value) => value.to_string(),
            Cell::Integer(value) => value.to_string(),
            Cell::Bool(value) => value.to_string().to_uppercase(),
        }
    }
}

/// One sheet: its name, header and rows.
#[derive(Debug, Clone, Default)]
pub(crate) struct Sheet {
    pub name: &'static str,
    pub header: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
}

/// The double an amount is written as, when that is exact: at most 15 significant digits (what Excel
/// keeps), and the nearest double prints back (shortest round-trip text) as the same decimal.
pub(crate) fn exact_number(amount: &str) -> Option<(f64, u32)> {
    let decimal = Decimal::from_str(amount).ok()?;
    let digits = decimal.normalize().mantissa().unsigned_abs().to_string().len();
    if digits > 15 {
        return None;
    }
    // Rust parses with correct rounding: the double nearest to the decimal.
    let double: f64 = amount.parse().ok()?;
    let back = Decimal::from_str(&double.to_string()).ok()?;
    (double.is_finite() && back == decimal).then_some((double, decimal.scale()))
}

/// The widest a column gets, in characters.
const MAX_WIDTH: usize = 60;

/// The sheets as the bytes of one .xlsx workbook.
pub(crate) fn workbook(sheets: &[Sheet]) -> Result<Vec<u8>, XlsxError> {
    let mut book = Workbook::new();
    let bold = Format::new().set_bold();
    let mut places: BTreeMap<u32, Format> = BTreeMap::new();
    for sheet in sheets {
        let ws = book.add_worksheet();
        ws.set_name(sheet.name)?;
        let mut widths: Vec<usize> = sheet.header.iter().map(|h| h.width()).collect();
        for (col, name) in sheet.header.iter().enumerate() {
            ws.write_string_with_format(0, col as u16, neutralised(name), &bold)?;
        }
        for (r, row) in sheet.rows.iter().enumerate() {
            let r = r as u32 + 1;
            for (col, cell) in row.iter().enumerate() {
                let c = col as u16;
                match cell {
                    Cell::Empty => {}
                    Cell::Text(text) => {
                        ws.write_string(r, c, neutralised(text))?;
                    }
                    Cell::Amount(text) => match exact_number(text) {
                        Some((value, scale)) => {
                            let format = places.entry(scale).or_insert_with(|| {
                                let pattern = if scale == 0 {
                                    "0".to_owned()
                                } else {
                                    format!("0.{}", "0".repeat(scale as usize))
                                };
                                Format::new().set_num_format(pattern)
                            });
                            ws.write_number_with_format(r, c, value, &*format)?;
                        }
                        None => {
                            ws.write_string(r, c, neutralised(text))?;
                        }
                    },
                    Cell::Number(value) => {
                        ws.write_number(r, c, *value)?;
                    }
                    Cell::Integer(value) => {
                        ws.write_number(r, c, *value as f64)?;
                    }
                    Cell::Bool(value) => {
                        ws.write_boolean(r, c, *value)?;
                    }
                }
                if let Some(width) = widths.get_mut(col) {
                    *width = (*width).max(cell.shown().width());
                }
            }
        }
        for (col, width) in widths.iter().enumerate() {
            ws.set_column_width(col as u16, (width + 2).clamp(6, MAX_WIDTH) as f64)?;
        }
        ws.set_freeze_panes(1, 0)?;
    }
    book.save_to_buffer()
}

fn header(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

/// The overview as `overview.csv` has it, one row per action, measure and target, with the unit.
fn overview_sheet(overview: &pb::Overview) -> Sheet {
    let mut rows = Vec::new();
    for a in &overview.actions {
        rows.push(vec![
            Cell::text("action"),
            Cell::text(a.action_number.to_string()),
            Cell::Empty,
            Cell::text(a.title.clone()),
            Cell::text(Rag::from_proto(a.rag).name()),
            Cell::text(Rag::from_proto(a.discipline).name()),
            Cell::Empty,
            Cell::Empty,
            Cell::Empty,
            Cell::Empty,
            Cell::number(a.percent),
            Cell::Empty,
        ]);
    }
    for m in &overview.measures {
        rows.push(vec![
            Cell::text("measure"),
            Cell::text(m.measure_number.clone()),
            Cell::Empty,
            Cell::text(m.title.clone()),
            Cell::text(Rag::from_proto(m.rag).name()),
            Cell::text(Rag::from_proto(m.discipline).name()),
            Cell::Empty,
            Cell::Empty,
            Cell::Empty,
            Cell::Empty,
            Cell::Empty,
            Cell::Empty,
        ]);
    }
    for t in &overview.targets {
        let target = t.target.clone().unwrap_or_default();
        rows.push(vec![
            Cell::text("target"),
            Cell::text(target.measure_number),
            Cell::text(target.code),
            Cell::text(target.display_name),
            Cell::text(Rag::from_proto(t.rag).name()),
            Cell::text(Rag::from_proto(t.discipline).name()),
            Cell::text(unit_label(Lang::Zh, t.unit)),
            Cell::amount(t.actual.as_ref()),
            Cell::amount(t.expected.as_ref()),
            Cell::amount(target.value.as_ref()),
            Cell::number(t.percent_complete),
            Cell::amount(t.forecast.as_ref()),
        ]);
    }
    Sheet {
        name: "overview",
        header: header(&[
            "section",
            "number",
            "code",
            "name",
            "rag",
            "discipline",
            "unit",
            "actual (unit)",
            "expected (unit)",
            "target (unit)",
            "percent (%)",
            "forecast (unit)",
        ]),
        rows,
    }
}

fn actions_sheet(overview: &pb::Overview) -> Sheet {
    Sheet {
        name: "actions",
        header: header(&[
            "action",
            "title",
            "title_en",
            "rag",
            "discipline",
            "percent (%)",
            "measures",
            "red",
            "amber",
            "green",
        ]),
        rows: overview
            .actions
            .iter()
            .map(|a| {
                vec![
                    Cell::Integer(a.action_number.into()),
                    Cell::text(a.title.clone()),
                    Cell::text(a.title_en.clone()),
                    Cell::text(Rag::from_proto(a.rag).name()),
                    Cell::text(Rag::from_proto(a.discipline).name()),
                    Cell::number(a.percent),
                    Cell::Integer(a.measure_count.into()),
                    Cell::Integer(a.red_count.into()),
                    Cell::Integer(a.amber_count.into()),
                    Cell::Integer(a.green_count.into()),
                ]
            })
            .collect(),
    }
}

fn targets_sheet(overview: &pb::Overview) -> Sheet {
    Sheet {
        name: "targets",
        header: header(&[
            "measure",
            "code",
            "name",
            "name_en",
            "unit",
            "target (unit)",
            "actual (unit)",
            "expected (unit)",
            "latest_period",
            "provisional",
            "percent_complete (%)",
            "forecast (unit)",
            "forecast_date",
            "rag",
            "discipline",
        ]),
        rows: overview
            .targets
            .iter()
            .map(|t| {
                let target = t.target.clone().unwrap_or_default();
                vec![
                    Cell::text(target.measure_number),
                    Cell::text(target.code),
                    Cell::text(target.display_name),
                    Cell::text(target.display_name_en),
                    Cell::text(unit_label(Lang::Zh, t.unit)),
                    Cell::amount(target.value.as_ref()),
                    Cell::amount(t.actual.as_ref()),
                    Cell::amount(t.expected.as_ref()),
                    Cell::text(t.latest_period.as_ref().map(period_label).unwrap_or_default()),
                    Cell::Bool(t.includes_provisional),
                    Cell::number(t.percent_complete),
                    Cell::amount(t.forecast.as_ref()),
                    Cell::text(t.forecast_date.as_ref().map(date_label).unwrap_or_default()),
                    Cell::text(Rag::from_proto(t.rag).name()),
                    Cell::text(Rag::from_proto(t.discipline).name()),
                ]
            })
            .collect(),
    }
}

fn reports_sheet(reports: &[Report]) -> Sheet {
    Sheet {
        name: "reports",
        header: header(&super::csv::REPORT_COLUMNS),
        rows: reports
            .iter()
            .map(|r| {
                vec![
                    Cell::text(r.name.clone()),
                    Cell::text(r.measure_number.clone()),
                    Cell::text(r.department.clone()),
                    Cell::text(r.period.as_ref().map(period_label).unwrap_or_default()),
                    Cell::Integer(r.revision.into()),
                    Cell::text(
                        ReportState::try_from(r.state)
                            .map(|s| s.as_str_name().to_owned())
                            .unwrap_or_default(),
                    ),
                    Cell::text(
                        OverallStatus::try_from(r.overall_status)
                            .map(|s| s.as_str_name().to_owned())
                            .unwrap_or_default(),
                    ),
                    Cell::Bool(r.provisional),
                    Cell::Bool(r.on_time),
                    Cell::text(r.submit_time.as_ref().map(ToString::to_string).unwrap_or_default()),
                    Cell::text(
                        ReportSource::try_from(r.source)
                            .map(|s| s.as_str_name().to_owned())
                            .unwrap_or_default(),
                    ),
                    Cell::text(r.narrative.clone()),
                ]
            })
            .collect(),
    }
}

fn compliance_sheet(departments: &[DepartmentCompliance]) -> Sheet {
    Sheet {
        name: "compliance",
        header: header(&[
            "department",
            "name",
            "expected (reports)",
            "received (reports)",
            "on_time (reports)",
            "late (reports)",
            "missing (reports)",
            "reporting_rate (%)",
            "on_time_rate (%)",
        ]),
        rows: departments
            .iter()
            .map(|d| {
                vec![
                    Cell::text(d.department.clone()),
                    Cell::text(d.display_name.clone()),
                    Cell::Integer(d.expected_count.into()),
                    Cell::Integer(d.received_count.into()),
                    Cell::Integer(d.on_time_count.into()),
                    Cell::Integer((d.received_count - d.on_time_count).into()),
                    Cell::Integer((d.expected_count - d.received_count).into()),
                    Cell::number(d.reporting_rate),
                    Cell::number(d.on_time_rate),
                ]
            })
            .collect(),
    }
}

/// Every report of the plan, as `caller` may read them (for the CSV and the workbook).
pub(super) async fn all_reports(web: &Web, caller: &Caller) -> Result<Vec<Report>, GatewayError> {
    let client = web.0.dashboard.backends().reporting(caller.token.as_deref());
    let plan = web.0.plan.clone();
    read_all_pages(|page_token| {
        let (mut client, parent) = (client.clone(), plan.clone());
        async move {
            let page = client
                .list_reports(ListReportsRequest {
                    parent,
                    page_size: READ_ALL_PAGE_SIZE,
                    page_token,
                    ..Default::default()
                })
                .await?
                .into_inner();
            Ok::<_, tonic::Status>((page.reports, page.next_page_token))
        }
    })
    .await
    .map_err(|status| {
        if crate::error::unreachable(status.code()) {
            GatewayError::Dependency {
                service: duban_proto::reporting::v1::reporting_service_server::SERVICE_NAME,
                message: status.message().to_owned(),
            }
        } else {
            GatewayError::Downstream(status)
        }
    })
}

fn xlsx_answer(name: &str, result: Result<Vec<Sheet>, GatewayError>) -> Response {
    match result.map(|sheets| workbook(&sheets)) {
        Ok(Ok(bytes)) => (
            [
                (
                    header::CONTENT_TYPE,
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet".to_owned(),
                ),
                (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
            ],
            bytes,
        )
            .into_response(),
        Ok(Err(error)) => {
            tracing::error!(%error, export = name, "an Excel export could not be written");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the Excel export could not be written",
            )
                .into_response()
        }
        Err(error) => json_error(error),
    }
}

/// `overview.csv` as a workbook: the aggregate figures, for whoever may read the overview.
pub(crate) async fn xlsx_overview(
    State(web): State<Web>,
    Query(params): Query<Params>,
    headers: HeaderMap,
) -> Response {
    let result = async {
        let (overview, _) = web.overview_view(&headers, &params).await?;
        Ok(vec![overview_sheet(&overview)])
    }
    .await;
    xlsx_answer("overview.xlsx", result)
}

/// `reports.csv` as a workbook, for signed-in readers.
pub(crate) async fn xlsx_reports(State(web): State<Web>, headers: HeaderMap) -> Response {
    let result = async {
        let caller = web.caller(&headers).await?;
        Ok(vec![reports_sheet(&all_reports(&web, &caller).await?)])
    }
    .await;
    xlsx_answer("reports.xlsx", result)
}

/// One workbook with the actions, targets and compliance as of `as_of`, and every report, for
/// signed-in readers.
pub(crate) async fn xlsx_export(State(web): State<Web>, Query(params): Query<Params>, headers: HeaderMap) -> Response {
    let result = async {
        let viewer = web.signed_in_viewer(&headers).await?;
        let caller = viewer.caller();
        let as_of = params.as_of()?;
        let dashboard = &web.0.dashboard;
        let (overview, compliance, reports) = futures::join!(
            web.overview_for(&viewer, as_of.as_ref()),
            dashboard.compliance_calendar(&caller, &web.0.plan, as_of.as_ref()),
            all_reports(&web, &caller),
        );
        let overview = overview?;
        let compliance = compliance?.ok_or_else(|| GatewayError::Dependency {
            service: duban_proto::reporting::v1::reporting_service_server::SERVICE_NAME,
            message: "the compliance calendar could not be read".to_owned(),
        })?;
        Ok(vec![
            actions_sheet(&overview),
            targets_sheet(&overview),
            reports_sheet(&reports?),
            compliance_sheet(&compliance),
        ])
    }
    .await;
    let name = match params.as_of.trim() {
        "" => "duban-export.xlsx".to_owned(),
        date => format!("duban-export-{date}.xlsx"),
    };
    xlsx_answer(&name, result)
}

/// The ranking of units (`/units`), with the page's kind filter and order.
pub(crate) async fn xlsx_units(State(web): State<Web>, Query(params): Query<Params>, headers: HeaderMap) -> Response {
    let result = async {
        let caller = web.caller(&headers).await?;
        let rankings = web.rankings_view(&caller, &params).await?;
        Ok(vec![units_sheet(&rankings)])
    }
    .await;
    xlsx_answer("units.xlsx", result)
}

fn units_sheet(rankings: &pb::ListUnitRankingsResponse) -> Sheet {
    Sheet {
        name: "units",
        header: header(&[
            "rank",
            "department",
            "name",
            "kind",
            "expected (reports)",
            "received (reports)",
            "on_time (reports)",
            "reporting_rate (%)",
            "on_time_rate (%)",
            "returned (revisions)",
            "open_orders (parts)",
            "overdue_orders (parts)",
            "targets",
            "green",
            "amber",
            "red",
            "delivery_rate (%)",
        ]),
        rows: rankings
            .rankings
            .iter()
            .map(|r| {
                vec![
                    Cell::Integer(r.rank.into()),
                    Cell::text(r.department.clone()),
                    Cell::text(r.display_name.clone()),
                    Cell::text(super::api::kind_name(r.kind)),
                    Cell::Integer(r.expected_count.into()),
                    Cell::Integer(r.received_count.into()),
                    Cell::Integer(r.on_time_count.into()),
                    Cell::number(r.reporting_rate),
                    Cell::number(r.on_time_rate),
                    Cell::Integer(r.returned_count.into()),
                    Cell::Integer(r.open_order_count.into()),
                    Cell::Integer(r.overdue_order_count.into()),
                    Cell::Integer(r.target_count.into()),
                    Cell::Integer(r.green_target_count.into()),
                    Cell::Integer(r.amber_target_count.into()),
                    Cell::Integer(r.red_target_count.into()),
                    Cell::number(r.delivery_rate),
                ]
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_numbers_only_when_exact() {
        assert_eq!(exact_number("40000"), Some((40000.0, 0)));
        assert_eq!(exact_number("4.47"), Some((4.47, 2)));
        assert_eq!(
            exact_number("4.50"),
            Some((4.5, 2)),
            "the places are kept in the format"
        );
        assert_eq!(exact_number("-12.5"), Some((-12.5, 1)));
        assert_eq!(exact_number("0.1"), Some((0.1, 1)));
        // 16 and more significant digits: Excel would lose some, so the text is kept.
        assert_eq!(exact_number("1234567890.123456"), None);
        assert_eq!(exact_number("12345678901234567890"), None);
        assert_eq!(exact_number("123456789012345"), Some((123_456_789_012_345.0, 0)));
        assert_eq!(exact_number("abc"), None);
    }

    #[test]
    fn a_workbook_is_written_with_every_kind_of_cell() {
        let sheet = Sheet {
            name: "targets",
            header: header(&["code", "actual (unit)", "percent (%)", "count", "flag"]),
            rows: vec![vec![
                Cell::text("=HYPERLINK(\"http://x\")"),
                Cell::Amount("1234567890.123456".into()),
                Cell::Number(62.5),
                Cell::Integer(3),
                Cell::Bool(true),
            ]],
        };
        let bytes = workbook(&[sheet]).unwrap();
        assert!(bytes.starts_with(b"PK"));
    }

    /// The neutralising apostrophe is for the CSV's sake and for consistency: rust_xlsxwriter's
    /// `write_string` itself stores a shared string, which no spreadsheet evaluates, as openpyxl
    /// confirms (skipped without python3 and openpyxl, as the end-to-end test is).
    #[test]
    fn write_string_never_writes_a_formula() {
        let openpyxl = std::process::Command::new("python3")
            .args(["-c", "import openpyxl"])
            .output()
            .is_ok_and(|o| o.status.success());
        if !openpyxl {
            assert!(
                std::env::var("DUBAN_REQUIRE_PYTHON").as_deref() != Ok("1"),
                "openpyxl is missing"
            );
            return;
        }
        let mut book = Workbook::new();
        book.add_worksheet().write_string(0, 0, "=1+1").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("raw.xlsx");
        std::fs::write(&file, book.save_to_buffer().unwrap()).unwrap();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/python/xlsx_dump.py");
        let output = std::process::Command::new("python3")
            .arg(script)
            .arg(&file)
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let dump: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        let cell = &dump["sheets"][0]["rows"][0][0];
        assert_eq!((&cell["type"], &cell["value"]), (&"s".into(), &"=1+1".into()), "{cell}");
    }
}
