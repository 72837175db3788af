//! The department page at `/departments/{code}`: rates, report calendar, measures and contributions.

use std::fmt::Write as _;

use duban_proto::gateway::v1 as pb;

use super::{
    Lang, esc,
    layout::{badge, banner, compliance_class, header, num, page, query, status_name},
};
use crate::calendar::period_label;

/// The department page at `/departments/{code}`.
pub fn department_page(lang: Lang, scorecard: &pb::GetDepartmentScorecardResponse, as_of_param: &str) -> String {
    let q = query(lang, as_of_param);
    let title = scorecard.display_name.clone();
    let mut body = banner(lang, &scorecard.unreachable);
    let _ = write!(
        body,
        "<div class=\"summary\"><div><b>{}%</b>{}</div><div><b>{}%</b>{}</div></div>",
        num(scorecard.reporting_rate),
        lang.pick("报送率", "Reporting rate"),
        num(scorecard.on_time_rate),
        lang.pick("按时率", "On-time rate")
    );
    body.push_str("<h2>");
    body.push_str(lang.pick("报送日历", "Report calendar"));
    body.push_str("</h2><table class=\"heatmap\" id=\"calendar\"><tr>");
    for p in &scorecard.calendar {
        let _ = write!(
            body,
            "<th>{}</th>",
            p.period.as_ref().map(period_label).unwrap_or_default()
        );
    }
    body.push_str("</tr><tr>");
    for p in &scorecard.calendar {
        let _ = write!(body, "<td class=\"cell {}\"></td>", compliance_class(p.status));
    }
    body.push_str("</tr></table>");
    let _ = write!(
        body,
        "<h2>{}</h2><table id=\"measures\">",
        lang.pick("负责的措施", "Measures")
    );
    for m in &scorecard.measures {
        let _ = write!(
            body,
            "<tr><td><a href=\"/measures/{}{q}\">{}</a></td><td>{}{}</td><td>{}</td><td>{}</td></tr>",
            esc(&m.measure_number),
            esc(&m.measure_number),
            esc(lang.pick(&m.title, if m.title_en.is_empty() { &m.title } else { &m.title_en })),
            if m.lead {
                lang.pick("（牵头）", " (lead)")
            } else {
                ""
            },
            badge(lang, m.rag),
            status_name(lang, m.own_status.as_ref().map_or(0, |s| s.latest_status)),
        );
    }
    body.push_str("</table>");
    let _ = write!(
        body,
        "<h2>{}</h2><table id=\"contributions\">",
        lang.pick("指标贡献", "Contributions")
    );
    for c in &scorecard.contributions {
        let _ = write!(
            body,
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}%</td></tr>",
            esc(&c.target_display_name),
            num(c.contribution.as_ref().and_then(|c| c.value)),
            num(c.target_actual),
            num(c.share_percent)
        );
    }
    body.push_str("</table>");
    page(
        lang,
        &title,
        &header(
            lang,
            &title,
            &scorecard.department,
            as_of_param,
            &format!("/departments/{}", esc(&scorecard.department)),
        ),
        &body,
        false,
    )
}
