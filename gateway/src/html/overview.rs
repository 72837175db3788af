//! The overview page at `/`: compliance summary, action cards, targets, measures, the heatmap and alerts.

use std::fmt::Write as _;

use duban_proto::{gateway::v1 as pb, reporting::v1::DepartmentCompliance};

use super::{
    Lang,
    charts::{day, sparkline},
    esc,
    layout::{badge, banner, compliance_class, header, num, page, query},
};
use crate::{
    backends::Catalogue,
    calendar::{date_label, period_end, period_label},
    dashboard::quantity,
    rag::Rag,
};

fn alerts_list(lang: Lang, alerts: Option<&pb::ListAlertsResponse>, q: &str) -> String {
    let Some(alerts) = alerts else {
        return format!("<p>{}</p>", lang.pick("预警暂不可用", "Alerts are unavailable"));
    };
    let mut out = String::from("<ul class=\"alerts\" id=\"alerts\">");
    for alert in &alerts.alerts {
        let kind = pb::AlertKind::try_from(alert.kind).unwrap_or_default();
        let label = match kind {
            pb::AlertKind::TargetOffTrack => lang.pick("指标滞后", "Target off track"),
            pb::AlertKind::ReportOverdue => lang.pick("报送逾期", "Report overdue"),
            pb::AlertKind::SupportRequested => lang.pick("请求支持", "Support requested"),
            pb::AlertKind::TargetAtRisk => lang.pick("指标预警", "Target at risk"),
            pb::AlertKind::Unspecified => "",
        };
        let _ = write!(
            out,
            "<li class=\"alert {}\"><span class=\"kind\">{label}</span><a href=\"/measures/{}{q}\">{}</a></li>",
            kind.as_str_name().to_lowercase(),
            esc(&alert.measure_number),
            esc(&alert.summary)
        );
    }
    if alerts.alerts.is_empty() {
        let _ = write!(out, "<li>{}</li>", lang.pick("暂无预警", "Nothing needs attention"));
    }
    if !alerts.next_page_token.is_empty() {
        let _ = write!(
            out,
            "<li><a href=\"/api/v1/alerts\">{}</a></li>",
            lang.pick("更多…（JSON）", "More… (JSON)")
        );
    }
    out.push_str("</ul>");
    out
}

/// The overview page at `/`.
pub fn overview_page(
    lang: Lang,
    catalogue: &Catalogue,
    overview: &pb::Overview,
    calendar: Option<&[DepartmentCompliance]>,
    alerts: Option<&pb::ListAlertsResponse>,
    as_of_param: &str,
) -> String {
    let plan = &catalogue.plan;
    let q = query(lang, as_of_param);
    let as_of = overview.as_of.as_ref().map(date_label).unwrap_or_default();
    let title = lang
        .pick(
            &plan.title,
            if plan.title_en.is_empty() {
                &plan.title
            } else {
                &plan.title_en
            },
        )
        .to_owned();
    let subtitle = format!(
        "{} · {} {} · {} r{}",
        plan.document_number,
        lang.pick("截至", "as of"),
        as_of,
        lang.pick("版本", "revision"),
        overview.plan_revision
    );
    let mut body = banner(lang, &overview.unreachable);

    if let Some(c) = &overview.compliance {
        let _ = write!(
            body,
            "<div class=\"summary\" id=\"compliance\"><div><b>{}%</b>{}</div><div><b>{}%</b>{}</div><div><b>{}/{}</b>{}</div><div><b>{}</b>{}</div></div>",
            num(c.reporting_rate),
            lang.pick("报送率", "Reporting rate"),
            num(c.on_time_rate),
            lang.pick("按时率", "On-time rate"),
            c.received_count,
            c.expected_count,
            lang.pick("已报/应报", "Received / expected"),
            c.late_units.len(),
            lang.pick("逾期单位", "Units late now"),
        );
    }

    let _ = write!(
        body,
        "<h2>{}</h2><div class=\"cards\" id=\"actions\">",
        lang.pick("十大行动", "The actions")
    );
    for a in &overview.actions {
        let percent = a.percent.unwrap_or(0.0).clamp(0.0, 100.0);
        let _ = write!(
            body,
            "<div class=\"card action-card rag-{}\" data-action=\"{}\"><h3>{}、{}</h3>{} <div class=\"bar\"><span style=\"width:{percent:.0}%\"></span></div><div>{} {}% · {} {} · <span style=\"color:#d12c2c\">{}</span>/<span style=\"color:#e0a800\">{}</span>/<span style=\"color:#2e9d4f\">{}</span></div></div>",
            Rag::from_proto(a.rag).name(),
            a.action_number,
            a.action_number,
            esc(lang.pick(&a.title, if a.title_en.is_empty() { &a.title } else { &a.title_en })),
            badge(lang, a.rag),
            lang.pick("进度", "Progress"),
            num(a.percent),
            a.measure_count,
            lang.pick("项措施", "measures"),
            a.red_count,
            a.amber_count,
            a.green_count,
        );
    }
    body.push_str("</div>");

    let _ = write!(
        body,
        "<h2>{}</h2><table id=\"targets\"><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>",
        lang.pick("量化指标", "Targets"),
        lang.pick("措施", "Measure"),
        lang.pick("指标", "Target"),
        lang.pick("目标", "Goal"),
        lang.pick("实际", "Actual"),
        lang.pick("应达", "Expected"),
        lang.pick("完成度", "Done"),
        lang.pick("年末预测", "Forecast"),
        lang.pick("状态", "RAG"),
        lang.pick("走势", "Trajectory"),
    );
    let entries: std::collections::HashMap<&str, &crate::backends::TargetEntry> = catalogue
        .targets
        .iter()
        .flatten()
        .map(|e| (e.target.code.as_str(), e))
        .collect();
    for t in &overview.targets {
        let target = t.target.clone().unwrap_or_default();
        let chart = entries.get(target.code.as_str()).map_or(String::new(), |entry| {
            let expected: Vec<(f64, f64)> = std::iter::once(entry.start)
                .chain(entry.points.iter().copied())
                .map(|(d, v)| (day(d), v))
                .collect();
            let actual = t
                .latest_period
                .as_ref()
                .and_then(period_end)
                .zip(t.actual)
                .map(|(d, v)| (day(d), v));
            let forecast = t.forecast.map(|f| (day(entry.deadline), f));
            sparkline(&expected, actual, forecast, 120.0, 32.0)
        });
        let _ = write!(
            body,
            "<tr class=\"target\" data-code=\"{}\"><td><a href=\"/measures/{}{q}\">{}</a></td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}%</td><td class=\"num\">{}</td><td>{}</td><td>{chart}</td></tr>",
            esc(&target.code),
            esc(&target.measure_number),
            esc(&target.measure_number),
            esc(lang.pick(&target.display_name, &target.display_name_en)),
            esc(&quantity(target.value, target.unit)),
            num(t.actual),
            num(t.expected),
            num(t.percent_complete),
            num(t.forecast),
            badge(lang, t.rag),
        );
    }
    if overview.targets.is_empty() {
        let _ = write!(
            body,
            "<tr><td colspan=\"9\">{}</td></tr>",
            lang.pick("指标数据暂不可用", "Targets are unavailable")
        );
    }
    body.push_str("</table>");

    let _ = write!(
        body,
        "<h2>{}</h2><table id=\"measures\"><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>",
        lang.pick("措施", "Measures"),
        lang.pick("编号", "No."),
        lang.pick("措施", "Measure"),
        lang.pick("状态", "RAG"),
        lang.pick("困难", "Blockers")
    );
    for m in &overview.measures {
        let _ = write!(
            body,
            "<tr><td><a href=\"/measures/{}{q}\">{}</a></td><td>{}</td><td>{}</td><td class=\"num\">{}</td></tr>",
            esc(&m.measure_number),
            esc(&m.measure_number),
            esc(lang.pick(&m.title, if m.title_en.is_empty() { &m.title } else { &m.title_en })),
            badge(lang, m.rag),
            m.open_blocker_count
        );
    }
    body.push_str("</table>");

    let _ = write!(
        body,
        "<h2>{}</h2><div class=\"legend\"><span class=\"cell on_time\"></span>{}<span class=\"cell late\"></span>{}<span class=\"cell missing\"></span>{}<span class=\"cell expected\"></span>{}<span class=\"cell not_due\"></span>{}</div>",
        lang.pick("报送情况（单位 × 月份）", "Reporting compliance (units × months)"),
        lang.pick("按时", "on time"),
        lang.pick("逾期报送", "late"),
        lang.pick("未报", "missing"),
        lang.pick("待报", "expected"),
        lang.pick("未到期", "not due"),
    );
    match calendar {
        Some(departments) => {
            body.push_str("<table class=\"heatmap\" id=\"heatmap\"><tr><th></th>");
            for p in &catalogue.periods {
                let _ = write!(body, "<th>{}</th>", &period_label(p)[5..]);
            }
            body.push_str("</tr>");
            for d in departments {
                let _ = write!(
                    body,
                    "<tr><th><a href=\"/departments/{}{q}\">{}</a></th>",
                    esc(&d.department),
                    esc(if d.display_name.is_empty() {
                        &d.department
                    } else {
                        &d.display_name
                    })
                );
                for p in &catalogue.periods {
                    let cell = d.periods.iter().find(|dp| dp.period.as_ref() == Some(p));
                    let class = cell.map_or("not_due", |c| compliance_class(c.status));
                    let _ = write!(body, "<td class=\"cell {class}\" title=\"{}\"></td>", period_label(p));
                }
                body.push_str("</tr>");
            }
            body.push_str("</table>");
        }
        None => {
            let _ = write!(
                body,
                "<p id=\"heatmap\">{}</p>",
                lang.pick("报送数据暂不可用", "Compliance is unavailable")
            );
        }
    }

    let _ = write!(body, "<h2>{}</h2>", lang.pick("需关注事项", "Alerts"));
    body.push_str(&alerts_list(lang, alerts, &q));
    let _ = write!(
        body,
        "<p><a href=\"/api/v1/overview.csv{q}\">{}</a> · <a href=\"/api/v1/reports.csv\">{}</a> · <a href=\"/api/v1/overview{q}\">JSON</a></p>",
        lang.pick("导出总览 CSV", "Overview CSV"),
        lang.pick("导出报告 CSV", "Reports CSV"),
    );
    page(
        lang,
        &title,
        &header(lang, &title, &subtitle, as_of_param, "/"),
        &body,
        true,
    )
}
