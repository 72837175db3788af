//! The measure page at `/measures/{number}` (`measure.html`): targets with their charts, responsible units
//! and open blockers.

use askama::Template;
use duban_proto::{gateway::v1 as pb, targets::v1::Target};

use super::charts::plotted;
use super::{
    Lang,
    charts::{Sparkline, day},
    layout::{Audience, Frame},
};
use crate::{calendar::period_end, dashboard::quantity};

#[derive(Template)]
#[template(path = "measure.html")]
struct MeasurePage<'a> {
    frame: Frame<'a>,
    query: String,
    detail: &'a pb::GetMeasureDetailResponse,
    text: String,
    targets: Vec<TargetRow>,
}

struct TargetRow {
    status: pb::TargetStatus,
    target: Target,
    goal: String,
    chart: Option<Sparkline>,
}

/// The measure page at `/measures/{number}`.
pub fn measure_page(
    lang: Lang,
    audience: Audience<'_>,
    detail: &pb::GetMeasureDetailResponse,
    as_of_param: &str,
) -> Result<String, askama::Error> {
    let measure = detail.measure.clone().unwrap_or_default();
    let frame = Frame {
        lang,
        title: format!("{} {}", measure.number, lang.title(&measure.title, &measure.title_en)),
        subtitle: String::new(),
        as_of: as_of_param,
        path: format!("/measures/{}", measure.number),
        unreachable: &detail.unreachable,
        audience,
    };
    MeasurePage {
        query: frame.query(),
        frame,
        detail,
        text: measure.text,
        targets: detail.targets.iter().map(target_row).collect(),
    }
    .render()
}

fn target_row(detail: &pb::TargetDetail) -> TargetRow {
    let status = detail.status.clone().unwrap_or_default();
    let target = status.target.clone().unwrap_or_default();
    let series = |value: fn(&pb::SeriesPoint) -> Option<f64>| -> Vec<(f64, f64)> {
        detail
            .series
            .iter()
            .filter_map(|p| Some((day(period_end(p.period.as_ref()?)?), value(p)?)))
            .collect()
    };
    let expected = series(|p| plotted(p.expected.as_ref()));
    // Every monthly actual as a dot; the latest also as the chart's marker.
    let actuals = series(|p| plotted(p.actual.as_ref()));
    TargetRow {
        chart: Sparkline::new(&expected, actuals.last().copied(), None, &actuals, 360.0, 90.0),
        goal: target
            .value
            .as_ref()
            .map(|v| quantity(v, target.unit))
            .unwrap_or_default(),
        status,
        target,
    }
}
