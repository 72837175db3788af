//! The measure page at `/measures/{number}`: targets with their charts, responsible units and open blockers.

use std::fmt::Write as _;

use duban_proto::gateway::v1 as pb;

use super::{
    Lang,
    charts::{day, sparkline},
    esc,
    layout::{badge, banner, compliance_class, header, num, page, query, status_name},
};
use crate::{
    calendar::{period_end, period_label},
    dashboard::quantity,
};

/// The measure page at `/measures/{number}`.
pub fn measure_page(lang: Lang, detail: &pb::GetMeasureDetailResponse, as_of_param: &str) -> String {
    let measure = detail.measure.clone().unwrap_or_default();
    let q = query(lang, as_of_param);
    let title = format!(
        "{} {}",
        measure.number,
        lang.pick(
            &measure.title,
            if measure.title_en.is_empty() {
                &measure.title
            } else {
                &measure.title_en
            }
        )
    );
    let mut body = banner(lang, &detail.unreachable);
    let _ = write!(
        body,
        "<p>{} {}</p><p>{}</p>",
        lang.pick("状态", "RAG"),
        badge(lang, detail.rag),
        esc(&measure.text)
    );
    let _ = write!(body, "<h2>{}</h2><table id=\"targets\">", lang.pick("指标", "Targets"));
    for t in &detail.targets {
        let status = t.status.clone().unwrap_or_default();
        let target = status.target.clone().unwrap_or_default();
        let expected: Vec<(f64, f64)> = t
            .series
            .iter()
            .filter_map(|p| Some((day(period_end(p.period.as_ref()?)?), p.expected?)))
            .collect();
        let actuals: Vec<(f64, f64)> = t
            .series
            .iter()
            .filter_map(|p| Some((day(period_end(p.period.as_ref()?)?), p.actual?)))
            .collect();
        let mut chart = sparkline(&expected, actuals.last().copied(), None, 360.0, 90.0);
        if let Some(end) = chart.rfind("</svg>") {
            // every monthly actual as a dot, on the same scale as the line
            let all: Vec<(f64, f64)> = expected.iter().chain(actuals.iter()).copied().collect();
            let (x0, x1) = all
                .iter()
                .fold((f64::MAX, f64::MIN), |(a, b), (x, _)| (a.min(*x), b.max(*x)));
            let (y0, y1) = all
                .iter()
                .fold((f64::MAX, f64::MIN), |(a, b), (_, y)| (a.min(*y), b.max(*y)));
            let dots: String = actuals
                .iter()
                .map(|(x, y)| {
                    let cx = if x1 > x0 {
                        2.0 + (x - x0) / (x1 - x0) * 356.0
                    } else {
                        180.0
                    };
                    let cy = if y1 > y0 {
                        88.0 - (y - y0) / (y1 - y0) * 86.0
                    } else {
                        45.0
                    };
                    format!("<circle cx=\"{cx:.1}\" cy=\"{cy:.1}\" r=\"2.5\" fill=\"#3370ff\"/>")
                })
                .collect();
            chart.insert_str(end, &dots);
        }
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{} {}</td><td>{} {} · {} {} · {} {}</td><td>{chart}</td></tr>",
            esc(lang.pick(&target.display_name, &target.display_name_en)),
            lang.pick("目标", "Goal"),
            esc(&quantity(target.value, target.unit)),
            lang.pick("实际", "Actual"),
            num(status.actual),
            lang.pick("应达", "Expected"),
            num(status.expected),
            lang.pick("预测", "Forecast"),
            num(status.forecast),
            // the badge goes in the last cell with the chart
        );
        let _ = write!(body, "<tr><td colspan=\"4\">{}</td></tr>", badge(lang, status.rag));
    }
    body.push_str("</table>");
    let _ = write!(
        body,
        "<h2>{}</h2><table id=\"units\"><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>",
        lang.pick("责任单位", "Responsible units"),
        lang.pick("单位", "Unit"),
        lang.pick("最近报告", "Latest report"),
        lang.pick("期间", "Period"),
        lang.pick("报送", "Compliance")
    );
    for u in &detail.units {
        let _ = write!(
            body,
            "<tr><td><a href=\"/departments/{}{q}\">{}</a></td><td>{}</td><td>{}</td><td><span class=\"cell {}\" style=\"display:inline-block;width:14px;height:14px\"></span></td></tr>",
            esc(&u.department),
            esc(&u.display_name),
            status_name(lang, u.latest_status),
            u.latest_period.as_ref().map(period_label).unwrap_or_default(),
            compliance_class(u.compliance)
        );
    }
    body.push_str("</table>");
    let _ = write!(
        body,
        "<h2>{}</h2><ul id=\"blockers\">",
        lang.pick("待解决困难", "Open blockers")
    );
    for b in &detail.open_blockers {
        let blocker = b.blocker.clone().unwrap_or_default();
        let _ = write!(
            body,
            "<li>{}: {}{}</li>",
            esc(&b.department),
            esc(&blocker.description),
            if blocker.support_unit.is_empty() {
                String::new()
            } else {
                format!(" → {}", esc(&blocker.support_unit))
            }
        );
    }
    body.push_str("</ul>");
    page(
        lang,
        &title,
        &header(
            lang,
            &title,
            "",
            as_of_param,
            &format!("/measures/{}", esc(&measure.number)),
        ),
        &body,
        false,
    )
}
