//! The overview page at `/` (`overview.html`): compliance summary, action cards, targets, measures, the
//! heatmap and alerts.

use super::charts::plotted;
use rust_decimal::prelude::ToPrimitive as _;
use std::collections::HashMap;

use askama::Template;
use duban_proto::{gateway::v1 as pb, reporting::v1::DepartmentCompliance, targets::v1::Target};

use super::{
    Lang,
    charts::{Sparkline, day},
    layout::{Audience, Frame, compliance_class},
};
use crate::{
    backends::{Catalogue, TargetEntry},
    calendar::{date_label, period_end, period_label},
    dashboard::quantity,
};

#[derive(Template)]
#[template(path = "overview.html")]
struct OverviewPage<'a> {
    frame: Frame<'a>,
    /// The query that keeps the date and the language on links.
    query: String,
    overview: &'a pb::Overview,
    targets: Vec<TargetRow<'a>>,
    heatmap: Option<Heatmap<'a>>,
    alerts: Option<Alerts<'a>>,
    /// Why the page shows the date it does, when it is not today.
    as_of_note: Option<String>,
}

struct TargetRow<'a> {
    status: &'a pb::TargetStatus,
    target: Target,
    goal: String,
    chart: Option<Sparkline>,
}

/// Units × months, each cell coloured by compliance.
struct Heatmap<'a> {
    months: Vec<String>,
    rows: Vec<HeatmapRow<'a>>,
}

struct HeatmapRow<'a> {
    code: &'a str,
    name: &'a str,
    /// The compliance class and the period of each month.
    cells: Vec<(&'static str, String)>,
}

struct Alerts<'a> {
    rows: Vec<AlertRow<'a>>,
    /// More alerts than the page shows.
    more: bool,
}

struct AlertRow<'a> {
    class: String,
    label: &'static str,
    measure_number: &'a str,
    summary: &'a str,
}

/// The width of an action's progress bar, in percent of the card.
fn bar_width(percent: impl std::borrow::Borrow<Option<f64>>) -> String {
    format!("{:.0}", percent.borrow().unwrap_or(0.0).clamp(0.0, 100.0))
}

/// The overview page at `/`.
pub fn overview_page(
    lang: Lang,
    audience: Audience<'_>,
    catalogue: &Catalogue,
    overview: &pb::Overview,
    calendar: Option<&[DepartmentCompliance]>,
    alerts: Option<&pb::ListAlertsResponse>,
    as_of_param: &str,
) -> Result<String, askama::Error> {
    let plan = &catalogue.plan;
    let as_of = overview.as_of.as_ref().map(date_label).unwrap_or_default();
    let frame = Frame {
        lang,
        title: lang.title(&plan.title, &plan.title_en).to_owned(),
        subtitle: format!(
            "{} · {} {} · {} r{}",
            plan.document_number,
            lang.pick("截至", "as of"),
            as_of,
            lang.pick("版本", "revision"),
            overview.plan_revision
        ),
        as_of: as_of_param,
        path: "/".to_owned(),
        unreachable: &overview.unreachable,
        audience,
    };
    OverviewPage {
        query: frame.query(),
        frame,
        overview,
        targets: target_rows(catalogue, overview),
        heatmap: calendar.map(|departments| heatmap(catalogue, departments)),
        alerts: alerts.map(|alerts| alert_rows(lang, alerts)),
        as_of_note: as_of_note(lang, overview),
    }
    .render()
}

/// The note that says why the page shows another day than today: the plan has ended.
fn as_of_note(lang: Lang, overview: &pb::Overview) -> Option<String> {
    super::layout::as_of_note(lang, overview.as_of.as_ref(), overview.as_of_basis)
}

fn target_rows<'a>(catalogue: &Catalogue, overview: &'a pb::Overview) -> Vec<TargetRow<'a>> {
    let entries: HashMap<&str, &TargetEntry> = catalogue
        .targets
        .iter()
        .flatten()
        .map(|e| (e.target.code.as_str(), e))
        .collect();
    overview
        .targets
        .iter()
        .map(|status| {
            let target = status.target.clone().unwrap_or_default();
            let chart = entries.get(target.code.as_str()).and_then(|entry| {
                let expected: Vec<(f64, f64)> = std::iter::once(entry.start)
                    .chain(entry.points.iter().copied())
                    .filter_map(|(d, v)| Some((day(d), v.to_f64()?)))
                    .collect();
                let actual = status
                    .latest_period
                    .as_ref()
                    .and_then(period_end)
                    .zip(plotted(status.actual.as_ref()))
                    .map(|(d, v)| (day(d), v));
                let forecast = plotted(status.forecast.as_ref()).map(|f| (day(entry.deadline), f));
                Sparkline::new(&expected, actual, forecast, &[], 120.0, 32.0)
            });
            TargetRow {
                status,
                goal: target
                    .value
                    .as_ref()
                    .map(|v| quantity(v, target.unit))
                    .unwrap_or_default(),
                target,
                chart,
            }
        })
        .collect()
}

fn heatmap<'a>(catalogue: &Catalogue, departments: &'a [DepartmentCompliance]) -> Heatmap<'a> {
    let months = catalogue
        .periods
        .iter()
        .map(|p| {
            // "2023-06" shows as "06"
            let label = period_label(p);
            label.get(5..).unwrap_or(&label).to_owned()
        })
        .collect();
    let rows = departments
        .iter()
        .map(|d| HeatmapRow {
            code: &d.department,
            name: if d.display_name.is_empty() {
                &d.department
            } else {
                &d.display_name
            },
            cells: catalogue
                .periods
                .iter()
                .map(|p| {
                    let cell = d.periods.iter().find(|dp| dp.period.as_ref() == Some(p));
                    let class = cell.map_or("not_due", |c| compliance_class(c.status));
                    (class, period_label(p))
                })
                .collect(),
        })
        .collect();
    Heatmap { months, rows }
}

fn alert_rows(lang: Lang, alerts: &pb::ListAlertsResponse) -> Alerts<'_> {
    let rows = alerts
        .alerts
        .iter()
        .map(|alert| {
            let kind = pb::AlertKind::try_from(alert.kind).unwrap_or_default();
            AlertRow {
                class: kind.as_str_name().to_lowercase(),
                label: match kind {
                    pb::AlertKind::TargetOffTrack => lang.pick("指标滞后", "Target off track"),
                    pb::AlertKind::ReportOverdue => lang.pick("报送逾期", "Report overdue"),
                    pb::AlertKind::SupportRequested => lang.pick("请求支持", "Support requested"),
                    pb::AlertKind::TargetAtRisk => lang.pick("指标预警", "Target at risk"),
                    pb::AlertKind::Unspecified => "",
                },
                measure_number: &alert.measure_number,
                summary: &alert.summary,
            }
        })
        .collect();
    Alerts {
        rows,
        more: !alerts.next_page_token.is_empty(),
    }
}
