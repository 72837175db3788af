//! The dashboard pages, rendered on the server: HTML with inline CSS, inline SVG charts
//! and a little inline JavaScript for live refresh. Nothing is loaded from elsewhere.

use std::fmt::Write as _;

use duban_proto::{
    gateway::v1 as pb,
    reporting::v1::{ComplianceStatus, DepartmentCompliance, OverallStatus},
};

use crate::{
    backends::Catalogue,
    calendar::{date_label, period_end, period_label},
    dashboard::quantity,
    rag::Rag,
};

/// The page language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// 中文 (the default).
    Zh,
    /// English.
    En,
}

impl Lang {
    fn pick<'a>(self, zh: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::Zh => zh,
            Lang::En => en,
        }
    }

    fn code(self) -> &'static str {
        self.pick("zh", "en")
    }
}

/// Escapes text for HTML.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = r#"
body{font-family:"PingFang SC","Noto Sans CJK SC","Microsoft YaHei",sans-serif;margin:0;background:#f4f5f7;color:#1d2129}
header{background:#a61b29;color:#fff;padding:12px 24px;display:flex;flex-wrap:wrap;gap:16px;align-items:center;justify-content:space-between}
header h1{font-size:20px;margin:0} header a{color:#fff} header form{display:inline}
main{padding:16px 24px} h2{font-size:17px;border-left:4px solid #a61b29;padding-left:8px}
.banner{background:#fff3cd;border:1px solid #e0a800;padding:10px 14px;margin-bottom:12px;border-radius:4px}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(220px,1fr));gap:12px}
.card{background:#fff;border-radius:6px;padding:12px;border-top:5px solid #999;box-shadow:0 1px 2px #0002}
.card.rag-green{border-top-color:#2e9d4f}.card.rag-amber{border-top-color:#e0a800}.card.rag-red{border-top-color:#d12c2c}
.card h3{font-size:15px;margin:0 0 8px}
.bar{background:#e5e6eb;height:10px;border-radius:5px;overflow:hidden}.bar span{display:block;height:100%;background:#3370ff}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;color:#fff;background:#999}
.badge.green{background:#2e9d4f}.badge.amber{background:#e0a800}.badge.red{background:#d12c2c}
table{border-collapse:collapse;background:#fff;width:100%;font-size:13px}
th,td{border:1px solid #e5e6eb;padding:4px 6px;text-align:left;vertical-align:middle}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.heatmap td.cell{width:26px;height:18px;padding:0}
.cell.on_time{background:#2e9d4f}.cell.late{background:#e0a800}.cell.missing{background:#d12c2c}.cell.expected{background:#9cc3ff}.cell.not_due{background:#e5e6eb}
.legend span{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px;vertical-align:middle}
.alerts li{margin:4px 0}.alerts .kind{font-size:12px;color:#666;margin-right:6px}
.summary{display:flex;gap:24px;flex-wrap:wrap;background:#fff;padding:10px 14px;border-radius:6px}
.summary b{font-size:20px;display:block}
"#;

const SCRIPT: &str = r#"
(function(){
  if(!window.EventSource)return;
  var q=new URLSearchParams(location.search);var asOf=q.get('as_of')||'';
  var es=new EventSource('/api/v1/events'+(asOf?'?as_of='+encodeURIComponent(asOf):''));
  var first=true;
  es.addEventListener('overview',function(){
    if(first){first=false;return;}
    fetch(location.href,{credentials:'same-origin'}).then(function(r){return r.text();}).then(function(html){
      var doc=new DOMParser().parseFromString(html,'text/html');
      var fresh=doc.getElementById('main');if(fresh){document.getElementById('main').innerHTML=fresh.innerHTML;}
    });
  });
})();
"#;

fn page(lang: Lang, title: &str, header_extra: &str, body: &str, live: bool) -> String {
    format!(
        "<!DOCTYPE html><html lang=\"{}\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>{}</title><style>{STYLE}</style></head><body>{header_extra}<main id=\"main\">{body}</main>{}</body></html>",
        lang.code(),
        esc(title),
        if live {
            format!("<script>{SCRIPT}</script>")
        } else {
            String::new()
        }
    )
}

fn query(lang: Lang, as_of: &str) -> String {
    let mut parts = Vec::new();
    if !as_of.is_empty() {
        parts.push(format!("as_of={}", esc(as_of)));
    }
    if lang == Lang::En {
        parts.push("lang=en".to_owned());
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&amp;"))
    }
}

fn header(lang: Lang, title: &str, subtitle: &str, as_of: &str, path: &str) -> String {
    let other = match lang {
        Lang::Zh => Lang::En,
        Lang::En => Lang::Zh,
    };
    let other_label = lang.pick("English", "中文");
    format!(
        "<header><div><h1>{}</h1><div>{}</div></div><div><form method=\"get\" action=\"{path}\"><label>{} <input type=\"date\" name=\"as_of\" value=\"{}\"></label>{}<button type=\"submit\">{}</button></form> <a id=\"lang-switch\" href=\"{path}{}\">{other_label}</a> <a href=\"/\">{}</a></div></header>",
        esc(title),
        esc(subtitle),
        lang.pick("截至日期", "As of"),
        esc(as_of),
        if lang == Lang::En {
            "<input type=\"hidden\" name=\"lang\" value=\"en\">"
        } else {
            ""
        },
        lang.pick("查看", "Show"),
        query(other, as_of),
        lang.pick("总览", "Overview"),
    )
}

fn badge(lang: Lang, rag: i32) -> String {
    let rag = Rag::from_proto(rag);
    let label = match rag {
        Rag::Green => lang.pick("正常", "Green"),
        Rag::Amber => lang.pick("预警", "Amber"),
        Rag::Red => lang.pick("滞后", "Red"),
        Rag::NoData => lang.pick("无数据", "No data"),
    };
    format!("<span class=\"badge {}\">{label}</span>", rag.name())
}

fn num(value: Option<f64>) -> String {
    match value {
        Some(v) if v.fract().abs() < 1e-9 => format!("{v:.0}"),
        Some(v) => format!("{v:.2}"),
        None => "–".to_owned(),
    }
}

fn banner(lang: Lang, unreachable: &[String]) -> String {
    if unreachable.is_empty() {
        return String::new();
    }
    format!(
        "<div class=\"banner\" id=\"unreachable\" role=\"alert\">{} {}</div>",
        lang.pick(
            "部分数据暂不可用，以下服务未响应：",
            "Partial view: these services did not answer:"
        ),
        esc(&unreachable.join(", "))
    )
}

/// A small inline chart: the expected trajectory as a line, the actual as a dot, and
/// the forecast as a dashed line to the deadline.
pub fn sparkline(
    expected: &[(f64, f64)],
    actual: Option<(f64, f64)>,
    forecast: Option<(f64, f64)>,
    w: f64,
    h: f64,
) -> String {
    let all: Vec<(f64, f64)> = expected.iter().copied().chain(actual).chain(forecast).collect();
    if all.is_empty() {
        return String::new();
    }
    let (x0, x1) = all
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), (x, _)| (a.min(*x), b.max(*x)));
    let (y0, y1) = all
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), (_, y)| (a.min(*y), b.max(*y)));
    let sx = |x: f64| {
        if x1 > x0 {
            2.0 + (x - x0) / (x1 - x0) * (w - 4.0)
        } else {
            w / 2.0
        }
    };
    let sy = |y: f64| {
        if y1 > y0 {
            h - 2.0 - (y - y0) / (y1 - y0) * (h - 4.0)
        } else {
            h / 2.0
        }
    };
    let mut svg = format!("<svg class=\"chart\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\">");
    let points: Vec<String> = expected
        .iter()
        .map(|(x, y)| format!("{:.1},{:.1}", sx(*x), sy(*y)))
        .collect();
    let _ = write!(
        svg,
        "<polyline fill=\"none\" stroke=\"#86909c\" stroke-width=\"1.5\" points=\"{}\"/>",
        points.join(" ")
    );
    if let (Some((ax, ay)), Some((fx, fy))) = (actual, forecast) {
        let _ = write!(
            svg,
            "<line x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"#3370ff\" stroke-dasharray=\"3,2\"/>",
            sx(ax),
            sy(ay),
            sx(fx),
            sy(fy)
        );
    }
    if let Some((ax, ay)) = actual {
        let _ = write!(
            svg,
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"#3370ff\"/>",
            sx(ax),
            sy(ay)
        );
    }
    svg.push_str("</svg>");
    svg
}

fn day(date: chrono::NaiveDate) -> f64 {
    use chrono::Datelike;
    date.num_days_from_ce() as f64
}

fn status_name(lang: Lang, status: i32) -> &'static str {
    match OverallStatus::try_from(status).unwrap_or_default() {
        OverallStatus::NotStarted => lang.pick("未开始", "Not started"),
        OverallStatus::OnTrack => lang.pick("按计划", "On track"),
        OverallStatus::AtRisk => lang.pick("有风险", "At risk"),
        OverallStatus::OffTrack => lang.pick("偏离", "Off track"),
        OverallStatus::Completed => lang.pick("已完成", "Completed"),
        OverallStatus::Unspecified => lang.pick("未报送", "Not reported"),
    }
}

fn compliance_class(status: i32) -> &'static str {
    match ComplianceStatus::try_from(status).unwrap_or_default() {
        ComplianceStatus::OnTime => "on_time",
        ComplianceStatus::Late => "late",
        ComplianceStatus::Missing => "missing",
        ComplianceStatus::Expected => "expected",
        ComplianceStatus::NotDue | ComplianceStatus::Unspecified => "not_due",
    }
}

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

/// The login form (when `gateway.require_token` is set).
pub fn login_page(lang: Lang, problem: Option<&str>) -> String {
    let body = format!(
        "{}<form method=\"post\" action=\"/login\"><label>{} <input type=\"password\" name=\"token\" autocomplete=\"off\"></label> <button type=\"submit\">{}</button></form>",
        problem
            .map(|p| format!("<div class=\"banner\">{}</div>", esc(p)))
            .unwrap_or_default(),
        lang.pick("领导令牌", "Leadership token"),
        lang.pick("登录", "Sign in"),
    );
    page(
        lang,
        "督办 · 登录",
        "<header><h1>督办 Duban</h1></header>",
        &body,
        false,
    )
}

/// A page for an error.
pub fn error_page(lang: Lang, message: &str) -> String {
    page(
        lang,
        "督办",
        "<header><h1>督办 Duban</h1></header>",
        &format!("<div class=\"banner\">{}</div>", esc(message)),
        false,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(esc("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
    }

    #[test]
    fn sparklines_scale_into_the_box() {
        let svg = sparkline(
            &[(0.0, 0.0), (10.0, 100.0)],
            Some((5.0, 40.0)),
            Some((10.0, 80.0)),
            100.0,
            20.0,
        );
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("<circle") && svg.contains("<polyline") && svg.contains("stroke-dasharray"));
        assert_eq!(sparkline(&[], None, None, 10.0, 10.0), "");
    }
}
