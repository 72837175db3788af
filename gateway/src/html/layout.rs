//! What every page shares: the frame (title, header with the date form, the language switch and sign-in
//! or sign-out, the unreachable banner), the labels of statuses, the login and error pages.

use std::borrow::Borrow;

use askama::Template;
use duban_proto::{
    common::v1::Period,
    reporting::v1::{ComplianceStatus, OverallStatus, ReportSource},
};

use super::Lang;
use crate::{calendar::period_label, rag::Rag};

/// The frame of a page, as `base.html` and `dashboard.html` draw it.
#[derive(Debug)]
pub(crate) struct Frame<'a> {
    pub lang: Lang,
    pub title: String,
    pub subtitle: String,
    /// The `as_of` query parameter as given (empty for today).
    pub as_of: &'a str,
    /// The page's own path, for the date form and the language switch.
    pub path: String,
    /// The services that did not answer, for the banner.
    pub unreachable: &'a [String],
    /// Who the page is for: what the header offers them.
    pub audience: Audience<'a>,
}

/// Who a dashboard page is drawn for.
#[derive(Debug, Clone, Copy)]
pub enum Audience<'a> {
    /// A reader with no session to end: a bearer token, or the local user of `duban up`.
    Reader,
    /// A reader signed in through the login form: the header has a sign-out button, whose form
    /// carries the session's CSRF token.
    Session {
        /// The session's CSRF token.
        csrf: &'a str,
    },
    /// An anonymous reader of the aggregate figures: the header has a sign-in link, and the overview
    /// leaves out whatever is per unit.
    Public,
}

impl<'a> Audience<'a> {
    /// The CSRF token of the sign-out form, when there is a session to end.
    pub(crate) fn logout_csrf(&self) -> Option<&'a str> {
        match *self {
            Audience::Session { csrf } => Some(csrf),
            Audience::Reader | Audience::Public => None,
        }
    }

    /// Whether only the aggregate figures are shown.
    pub(crate) fn is_public(&self) -> bool {
        matches!(self, Audience::Public)
    }
}

impl<'a> Frame<'a> {
    /// A frame for a page outside the dashboard (login, errors).
    fn plain(lang: Lang, title: &str) -> Self {
        Self {
            lang,
            title: title.to_owned(),
            subtitle: String::new(),
            as_of: "",
            path: String::new(),
            unreachable: &[],
            audience: Audience::Reader,
        }
    }

    /// The query that keeps the date and the language on links to other pages.
    pub fn query(&self) -> String {
        query(self.lang, self.as_of)
    }

    /// The query of the same page in the other language.
    pub fn switch_query(&self) -> String {
        query(self.lang.other(), self.as_of)
    }
}

/// `?as_of=…&lang=en`, or nothing for today in Chinese. The templates escape it where it is written.
fn query(lang: Lang, as_of: &str) -> String {
    let mut parts = Vec::new();
    if !as_of.is_empty() {
        parts.push(format!("as_of={as_of}"));
    }
    if lang == Lang::En {
        parts.push("lang=en".to_owned());
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

// The helpers below are called from the templates, which pass fields by reference and computed
// values by value: `Borrow` takes both.

/// A number as the dashboard shows it: whole numbers without decimals, a dash for none.
pub(crate) fn num(value: impl Borrow<Option<f64>>) -> String {
    match *value.borrow() {
        Some(v) if v.fract().abs() < 1e-9 => format!("{v:.0}"),
        Some(v) => format!("{v:.2}"),
        None => "–".to_owned(),
    }
}

/// An amount as the dashboard shows it: exactly as the contract carries it (no float
/// ever rounds it), a dash for none.
pub(crate) fn amount(value: impl Borrow<Option<duban_proto::common::v1::Decimal>>) -> String {
    match value.borrow() {
        Some(v) => v.value.clone(),
        None => "–".to_owned(),
    }
}

/// A period as the pages write it, empty when there is none.
pub(crate) fn period(period: &Option<Period>) -> String {
    period.as_ref().map(period_label).unwrap_or_default()
}

pub(crate) fn rag_class(rag: impl Borrow<i32>) -> &'static str {
    Rag::from_proto(*rag.borrow()).name()
}

impl Lang {
    /// A RAG rating's name in this language.
    pub(crate) fn rag_label(self, rag: impl Borrow<i32>) -> &'static str {
        match Rag::from_proto(*rag.borrow()) {
            Rag::Green => self.pick("正常", "Green"),
            Rag::Amber => self.pick("预警", "Amber"),
            Rag::Red => self.pick("滞后", "Red"),
            Rag::NoData => self.pick("无数据", "No data"),
        }
    }

    /// A reporting-discipline rating's name in this language.
    pub(crate) fn discipline_label(self, rag: impl Borrow<i32>) -> &'static str {
        match Rag::from_proto(*rag.borrow()) {
            Rag::Green => self.pick("按时", "On time"),
            Rag::Amber => self.pick("迟报", "Late"),
            Rag::Red => self.pick("缺报", "Missing"),
            Rag::NoData => self.pick("未到期", "Not due"),
        }
    }

    /// A report's overall status in this language.
    pub(crate) fn status_name(self, status: impl Borrow<i32>) -> &'static str {
        match OverallStatus::try_from(*status.borrow()).unwrap_or_default() {
            OverallStatus::NotStarted => self.pick("未开始", "Not started"),
            OverallStatus::OnTrack => self.pick("按计划", "On track"),
            OverallStatus::AtRisk => self.pick("有风险", "At risk"),
            OverallStatus::OffTrack => self.pick("偏离", "Off track"),
            OverallStatus::Completed => self.pick("已完成", "Completed"),
            OverallStatus::Unspecified => self.pick("未报送", "Not reported"),
        }
    }

    /// Where a report revision came from, in this language; empty when nothing was reported.
    pub(crate) fn source_name(self, source: impl Borrow<i32>) -> &'static str {
        match ReportSource::try_from(*source.borrow()).unwrap_or_default() {
            ReportSource::Api => self.pick("接口", "API"),
            ReportSource::WebForm => self.pick("网页填报", "web form"),
            ReportSource::Workbook => self.pick("表格上传", "workbook"),
            ReportSource::CommandLine => self.pick("命令行", "command line"),
            ReportSource::Unspecified => "",
        }
    }
}

pub(crate) fn compliance_class(status: impl Borrow<i32>) -> &'static str {
    match ComplianceStatus::try_from(*status.borrow()).unwrap_or_default() {
        ComplianceStatus::OnTime => "on_time",
        ComplianceStatus::Late => "late",
        ComplianceStatus::Missing => "missing",
        ComplianceStatus::Expected => "expected",
        ComplianceStatus::NotDue | ComplianceStatus::Unspecified => "not_due",
    }
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    frame: Frame<'a>,
    problem: Option<&'a str>,
    /// The form's CSRF token, also set as its cookie.
    csrf: &'a str,
}

/// The login form, with `problem` above it and `csrf` in a hidden field.
pub fn login_page(lang: Lang, problem: Option<&str>, csrf: &str) -> Result<String, askama::Error> {
    LoginPage {
        frame: Frame::plain(lang, lang.pick("督办 · 登录", "Duban · Sign in")),
        problem,
        csrf,
    }
    .render()
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    frame: Frame<'a>,
    message: &'a str,
}

/// A page for an error.
pub fn error_page(lang: Lang, message: &str) -> Result<String, askama::Error> {
    ErrorPage {
        frame: Frame::plain(lang, "督办"),
        message,
    }
    .render()
}

/// A follow-up notice's level (`NoticeLevel`): its badge class (blue, amber, red; none for
/// a reminder) and its label.
pub(crate) fn notice_badge(lang: impl Borrow<Lang>, level: impl Borrow<i32>) -> (&'static str, &'static str) {
    use duban_proto::reporting::v1::NoticeLevel;
    let lang = *lang.borrow();
    match NoticeLevel::try_from(*level.borrow()).unwrap_or(NoticeLevel::Unspecified) {
        NoticeLevel::Reminder => ("", lang.pick("催报提醒", "Reminder")),
        NoticeLevel::Blue => ("blue", lang.pick("蓝色", "Blue")),
        NoticeLevel::Yellow => ("amber", lang.pick("黄色", "Yellow")),
        NoticeLevel::Red => ("red", lang.pick("红色", "Red")),
        NoticeLevel::Unspecified => ("", ""),
    }
}

/// Why a page shows another day than today, when it does: the plan has ended, and the page
/// shows its last day (`AsOfBasis::PlanEnd`).
pub(crate) fn as_of_note(lang: Lang, as_of: Option<&duban_proto::common::v1::Date>, basis: i32) -> Option<String> {
    let day = as_of.map(crate::calendar::date_label)?;
    (basis == duban_proto::gateway::v1::AsOfBasis::PlanEnd as i32).then(|| match lang {
        Lang::Zh => format!("计划已于 {day} 结束，显示截至该日的情况。"),
        Lang::En => format!("The plan ended on {day}; showing its state on that day."),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        let page = error_page(Lang::En, "<a href=\"x\">&'").unwrap();
        assert!(page.contains("&#60;a href=&#34;x&#34;&#62;&#38;&#39;"), "{page}");
        assert!(page.starts_with("<!DOCTYPE html>") && page.contains("<html lang=\"en\">"));
    }

    #[test]
    fn links_keep_the_date_and_the_language() {
        assert_eq!(query(Lang::Zh, ""), "");
        assert_eq!(query(Lang::En, "2023-06-30"), "?as_of=2023-06-30&lang=en");
        let login = login_page(Lang::Zh, Some("bad"), "csrf-value").unwrap();
        assert!(login.contains("name=\"token\"") && login.contains("<div class=\"banner\">bad</div>"));
        assert!(login.contains("name=\"csrf\" value=\"csrf-value\""), "{login}");
    }
}
