//! The page frame (style, header, live-refresh script), the small pieces every page shares, and the login and error pages.

use duban_proto::reporting::v1::{ComplianceStatus, OverallStatus};

use super::{Lang, esc};
use crate::rag::Rag;

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

pub(crate) fn page(lang: Lang, title: &str, header_extra: &str, body: &str, live: bool) -> String {
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

pub(crate) fn query(lang: Lang, as_of: &str) -> String {
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

pub(crate) fn header(lang: Lang, title: &str, subtitle: &str, as_of: &str, path: &str) -> String {
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

pub(crate) fn badge(lang: Lang, rag: i32) -> String {
    let rag = Rag::from_proto(rag);
    let label = match rag {
        Rag::Green => lang.pick("正常", "Green"),
        Rag::Amber => lang.pick("预警", "Amber"),
        Rag::Red => lang.pick("滞后", "Red"),
        Rag::NoData => lang.pick("无数据", "No data"),
    };
    format!("<span class=\"badge {}\">{label}</span>", rag.name())
}

pub(crate) fn num(value: Option<f64>) -> String {
    match value {
        Some(v) if v.fract().abs() < 1e-9 => format!("{v:.0}"),
        Some(v) => format!("{v:.2}"),
        None => "–".to_owned(),
    }
}

pub(crate) fn banner(lang: Lang, unreachable: &[String]) -> String {
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

pub(crate) fn status_name(lang: Lang, status: i32) -> &'static str {
    match OverallStatus::try_from(status).unwrap_or_default() {
        OverallStatus::NotStarted => lang.pick("未开始", "Not started"),
        OverallStatus::OnTrack => lang.pick("按计划", "On track"),
        OverallStatus::AtRisk => lang.pick("有风险", "At risk"),
        OverallStatus::OffTrack => lang.pick("偏离", "Off track"),
        OverallStatus::Completed => lang.pick("已完成", "Completed"),
        OverallStatus::Unspecified => lang.pick("未报送", "Not reported"),
    }
}

pub(crate) fn compliance_class(status: i32) -> &'static str {
    match ComplianceStatus::try_from(status).unwrap_or_default() {
        ComplianceStatus::OnTime => "on_time",
        ComplianceStatus::Late => "late",
        ComplianceStatus::Missing => "missing",
        ComplianceStatus::Expected => "expected",
        ComplianceStatus::NotDue | ComplianceStatus::Unspecified => "not_due",
    }
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
