//! The department page at `/departments/{code}` (`department.html`): rates, report calendar, measures and
//! contributions.

use askama::Template;
use duban_proto::{gateway::v1 as pb, reporting::v1 as rpb};

use super::{
    Lang,
    layout::{Audience, Frame},
};

#[derive(Template)]
#[template(path = "department.html")]
struct DepartmentPage<'a> {
    frame: Frame<'a>,
    query: String,
    scorecard: &'a pb::GetDepartmentScorecardResponse,
    /// Why the page shows another day than today, when it does.
    as_of_note: Option<String>,
}

/// The department's own latest report status on a measure.
fn own_status(measure: &pb::ScorecardMeasure) -> i32 {
    measure.own_status.as_ref().map_or(0, |s| s.latest_status)
}

/// Where the department's own latest report on a measure came from.
fn own_source(measure: &pb::ScorecardMeasure) -> i32 {
    measure.own_status.as_ref().map_or(0, |s| s.latest_source)
}

/// The department's contribution to a target, if it reported one.
fn contribution(c: &pb::ScorecardContribution) -> Option<duban_proto::common::v1::Decimal> {
    c.contribution.as_ref().and_then(|c| c.value.clone())
}

/// A day as the page writes it, `2023-04-05`.
fn day(date: &Option<duban_proto::common::v1::Date>) -> String {
    date.as_ref()
        .map(|d| format!("{:04}-{:02}-{:02}", d.year, d.month, d.day))
        .unwrap_or_default()
}

/// The badge class of a follow-up colour: blue, yellow (amber) or red; reminders grey.
fn colour_class(level: &str) -> &'static str {
    match level {
        "BLUE" => "blue",
        "YELLOW" => "amber",
        "RED" => "red",
        _ => "",
    }
}

/// An order's level: its badge class and its label.
fn order_level(lang: &Lang, order: &rpb::Order) -> (&'static str, &'static str) {
    let level = order.level().as_str_name().trim_start_matches("ORDER_LEVEL_");
    let label = match level {
        "BLUE" => lang.pick("蓝色督办", "Blue"),
        "YELLOW" => lang.pick("黄色督办", "Yellow"),
        "RED" => lang.pick("红色督办", "Red"),
        _ => "",
    };
    (colour_class(level), label)
}

/// A notice's level: its badge class and its label.
fn notice_level(lang: &Lang, notice: &rpb::Notice) -> (&'static str, &'static str) {
    super::layout::notice_badge(*lang, notice.level)
}

/// Whether the unit read a notice (已阅), and how long after it was issued.
fn read_state(lang: &Lang, notice: &rpb::Notice) -> String {
    let Some(seconds) = read_after_seconds(notice) else {
        return lang.pick("未阅", "unread").to_owned();
    };
    let (hours, days) = (seconds / 3600, seconds / 86_400);
    match lang {
        Lang::Zh if days >= 1 => format!("已阅（{days}天后）"),
        Lang::Zh => format!("已阅（{hours}小时后）"),
        Lang::En if days >= 1 => format!("read after {days} day(s)"),
        Lang::En => format!("read after {hours} hour(s)"),
    }
}

/// How long after it was issued the unit acknowledged a notice, in seconds; none while unread.
pub(crate) fn read_after_seconds(notice: &rpb::Notice) -> Option<i64> {
    let read = notice.acknowledge_time.as_ref()?;
    let issued = notice.create_time.as_ref().map_or(read.seconds, |t| t.seconds);
    Some((read.seconds - issued).max(0))
}

/// Where the department's own part of an order stands.
fn part_state(lang: &Lang, order: &rpb::Order, department: &str) -> &'static str {
    let state = order
        .parts
        .iter()
        .find(|part| part.department == department)
        .map(rpb::OrderPart::state);
    match state {
        Some(rpb::OrderPartState::Open) => lang.pick("待答复", "awaiting its answer"),
        Some(rpb::OrderPartState::Responded) => lang.pick("已答复，待审核", "answered, awaiting review"),
        Some(rpb::OrderPartState::Returned) => lang.pick("已退回，待重新答复", "returned, to answer again"),
        Some(rpb::OrderPartState::Closed) => lang.pick("已办结", "closed"),
        _ => "",
    }
}

/// The department page at `/departments/{code}`.
pub fn department_page(
    lang: Lang,
    audience: Audience<'_>,
    scorecard: &pb::GetDepartmentScorecardResponse,
    as_of_param: &str,
) -> Result<String, askama::Error> {
    let frame = Frame {
        lang,
        title: scorecard.display_name.clone(),
        subtitle: scorecard.department.clone(),
        as_of: as_of_param,
        path: format!("/departments/{}", scorecard.department),
        unreachable: &scorecard.unreachable,
        audience,
    };
    DepartmentPage {
        as_of_note: super::layout::as_of_note(lang, scorecard.as_of.as_ref(), scorecard.as_of_basis),
        query: frame.query(),
        frame,
        scorecard,
    }
    .render()
}
