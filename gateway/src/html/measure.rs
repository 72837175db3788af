//! The measure page at `/measures/{number}` (`measure.html`): targets with their charts, responsible units
//! and open blockers.

use askama::Template;
use duban_proto::{gateway::v1 as pb, targets::v1::Target};

use duban_plan::quantity::{unit_label_en, unit_label_zh};
use duban_proto::common::v1::QuantityUnit;

use super::{
    Lang,
    charts::plotted,
    layout::{Audience, Frame},
    target_chart::{ChartData, MonthPoint, TargetChart},
};
use crate::{
    calendar::{period_end, to_naive},
    dashboard::quantity,
};

#[derive(Template)]
#[template(path = "measure.html")]
struct MeasurePage<'a> {
    frame: Frame<'a>,
    query: String,
    detail: &'a pb::GetMeasureDetailResponse,
    text: String,
    targets: Vec<TargetRow>,
    /// Why the page shows another day than today, when it does.
    as_of_note: Option<String>,
}

struct TargetRow {
    status: pb::TargetStatus,
    target: Target,
    goal: String,
    chart: Option<TargetChart>,
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
        as_of_note: super::layout::as_of_note(lang, detail.as_of.as_ref(), detail.as_of_basis),
        targets: detail.targets.iter().map(|t| target_row(lang, t)).collect(),
    }
    .render()
}

fn target_row(lang: Lang, detail: &pb::TargetDetail) -> TargetRow {
    let status = detail.status.clone().unwrap_or_default();
    let target = status.target.clone().unwrap_or_default();
    let goal = target
        .value
        .as_ref()
        .map(|v| quantity(v, target.unit))
        .unwrap_or_default();
    let unit = QuantityUnit::try_from(target.unit).unwrap_or(QuantityUnit::Unspecified);
    let months: Vec<MonthPoint> = detail
        .series
        .iter()
        .filter_map(|p| {
            Some(MonthPoint {
                end: period_end(p.period.as_ref()?)?,
                expected: plotted(p.expected.as_ref()),
                actual: plotted(p.actual.as_ref()),
                provisional: p.provisional,
            })
        })
        .collect();
    let start = detail
        .series
        .first()
        .and_then(|p| p.period.as_ref())
        .and_then(|p| chrono::NaiveDate::from_ymd_opt(p.year, u32::try_from(p.month).ok()?, 1));
    let deadline = target
        .deadline
        .as_ref()
        .and_then(to_naive)
        .or_else(|| months.last().map(|m| m.end));
    let chart = start.and_then(|start| {
        TargetChart::new(&ChartData {
            start,
            target: plotted(target.value.as_ref())?,
            target_label: match lang {
                Lang::Zh => format!("目标 {goal}"),
                Lang::En => format!(
                    "Target {} {}",
                    target.value.as_ref().map_or("", |v| v.value.as_str()),
                    unit_label_en(unit)
                ),
            },
            forecast: deadline.zip(plotted(status.forecast.as_ref())),
            unit: lang.pick(unit_label_zh(unit), unit_label_en(unit)).to_owned(),
            english: lang == Lang::En,
            months,
        })
    });
    TargetRow {
        chart,
        goal,
        status,
        target,
    }
}
