//! `duban notices list|ack|requeue|evaluate`: the follow-up notices (reminders and
//! escalations) the reporting server issues. A department lists and acknowledges (已阅)
//! its own with its token; leadership lists every one, with where its delivery stands;
//! an administrator evaluates a day by hand and puts a failed delivery back.

use std::io::Write;

use chrono::{Datelike, NaiveDate};
use duban_kit::{
    Settings,
    client::ServiceChannel,
    paging::{READ_ALL_PAGE_SIZE, read_all_pages},
};
use duban_proto::{
    common::v1 as common,
    reporting::v1::{self as pb, notices_service_client::NoticesServiceClient},
};
use serde::Serialize;

use super::report::{DEFAULT_PLAN, period_text};
use crate::{
    commands::{Connection, call_failed, print_json},
    output::table,
};

/// A notice level, as typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LevelArg {
    /// A report falls due soon.
    Reminder,
    /// Due today or overdue.
    Blue,
    /// Late past the plan's yellow threshold.
    Yellow,
    /// Late past the plan's red threshold.
    Red,
}

impl LevelArg {
    fn to_proto(self) -> pb::NoticeLevel {
        match self {
            LevelArg::Reminder => pb::NoticeLevel::Reminder,
            LevelArg::Blue => pb::NoticeLevel::Blue,
            LevelArg::Yellow => pb::NoticeLevel::Yellow,
            LevelArg::Red => pb::NoticeLevel::Red,
        }
    }
}

/// Filters of `notices list`, as typed.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct NoticeFilter {
    /// The plan id.
    #[arg(long, default_value = DEFAULT_PLAN)]
    pub plan: String,
    /// Only notices about this unit's reports (a department token: its own only).
    #[arg(long)]
    pub department: Option<String>,
    /// Only notices of this level.
    #[arg(long, value_enum)]
    pub level: Option<LevelArg>,
    /// Only notices nobody acknowledged yet.
    #[arg(long)]
    pub unacknowledged: bool,
}

/// A notice as printed in JSON.
#[derive(Debug, Serialize)]
struct NoticeOut {
    name: String,
    level: String,
    rule: String,
    day: String,
    department: String,
    period: String,
    reports: Vec<String>,
    recipient_departments: Vec<String>,
    recipient_roles: Vec<String>,
    reason: String,
    reason_en: String,
    delivery_state: String,
    delivery_attempts: i32,
    last_delivery_error: String,
    accepted_endpoints: Vec<String>,
    order: String,
    acknowledged_by: String,
    acknowledge_time: Option<String>,
}

fn short(name: &str, prefix: &str) -> String {
    name.trim_start_matches(prefix).to_owned()
}

fn notice_out(notice: &pb::Notice) -> NoticeOut {
    let date =
        |d: Option<&common::Date>| d.map_or_else(String::new, |d| format!("{:04}-{:02}-{:02}", d.year, d.month, d.day));
    NoticeOut {
        name: notice.name.clone(),
        level: short(notice.level().as_str_name(), "NOTICE_LEVEL_"),
        rule: short(notice.rule().as_str_name(), "NOTICE_RULE_"),
        day: date(notice.day.as_ref()),
        department: notice.department.clone(),
        period: period_text(notice.period.as_ref()),
        reports: notice.reports.clone(),
        recipient_departments: notice.recipient_departments.clone(),
        recipient_roles: notice
            .recipient_roles()
            .map(|role| short(role.as_str_name(), "ROLE_"))
            .collect(),
        reason: notice.reason.clone(),
        reason_en: notice.reason_en.clone(),
        delivery_state: short(notice.delivery_state().as_str_name(), "NOTICE_DELIVERY_STATE_"),
        delivery_attempts: notice.delivery_attempts,
        last_delivery_error: notice.last_delivery_error.clone(),
        accepted_endpoints: notice.accepted_endpoints.clone(),
        order: notice.order.clone(),
        acknowledged_by: notice.acknowledged_by.clone(),
        acknowledge_time: notice.acknowledge_time.as_ref().and_then(|t| {
            chrono::DateTime::from_timestamp(t.seconds, 0)
                .map(|at| at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        }),
    }
}

fn notices(settings: &Settings, connection: &Connection) -> anyhow::Result<NoticesServiceClient<ServiceChannel>> {
    Ok(NoticesServiceClient::new(
        connection.channel(settings, &settings.reporting.endpoint_url())?,
    ))
}

/// Every notice matching `filter`, following page tokens to the end.
pub async fn fetch_all(
    settings: &Settings,
    connection: &Connection,
    filter: &NoticeFilter,
) -> anyhow::Result<Vec<pb::Notice>> {
    let client = notices(settings, connection)?;
    read_all_pages(|page_token| {
        let mut client = client.clone();
        let request = pb::ListNoticesRequest {
            parent: format!("plans/{}", filter.plan),
            page_size: READ_ALL_PAGE_SIZE,
            page_token,
            department: filter.department.clone().unwrap_or_default(),
            level: filter.level.map_or(0, |level| level.to_proto() as i32),
            acknowledged: filter.unacknowledged.then_some(false),
            ..Default::default()
        };
        async move {
            let page = client.list_notices(request).await?.into_inner();
            Ok::<_, tonic::Status>((page.notices, page.next_page_token))
        }
    })
    .await
    .map_err(|status| call_failed("ListNotices", status))
}

/// `notices list`: a table (newest day first) or a JSON array.
pub async fn list(
    settings: &Settings,
    connection: &Connection,
    filter: NoticeFilter,
    json: bool,
) -> anyhow::Result<()> {
    let out: Vec<NoticeOut> = fetch_all(settings, connection, &filter)
        .await?
        .iter()
        .map(notice_out)
        .collect();
    if json {
        return print_json(&out);
    }
    let rows: Vec<Vec<String>> = out
        .iter()
        .map(|n| {
            vec![
                n.day.clone(),
                n.level.clone(),
                n.department.clone(),
                if n.order.is_empty() {
                    n.period.clone()
                } else {
                    short(&n.order, &format!("plans/{}/", filter.plan))
                },
                n.reports.len().to_string(),
                n.delivery_state.to_lowercase(),
                n.delivery_attempts.to_string(),
                n.accepted_endpoints.len().to_string(),
                n.acknowledge_time.clone().unwrap_or_else(|| "-".to_owned()),
                short(&n.name, &format!("plans/{}/notices/", filter.plan)),
            ]
        })
        .collect();
    let text = table(
        &[
            "day",
            "level",
            "department",
            "period/order",
            "reports",
            "delivery",
            "failed",
            "accepted",
            "read",
            "notice",
        ],
        &rows,
    );
    // A closed pipe (`| head`) ends the listing quietly.
    let mut stdout = std::io::stdout().lock();
    let _ = write!(stdout, "{text}").and_then(|()| writeln!(stdout, "{} notice(s)", out.len()));
    Ok(())
}

/// The full name of a notice given whole or as the part after `notices/`.
pub fn notice_name(plan: &str, name: &str) -> String {
    if name.starts_with("plans/") {
        name.to_owned()
    } else {
        format!("plans/{plan}/notices/{name}")
    }
}

/// `notices ack`: acknowledges a notice as the department the token acts for.
pub async fn ack(
    settings: &Settings,
    connection: &Connection,
    plan: &str,
    name: &str,
    json: bool,
) -> anyhow::Result<pb::Notice> {
    let request = pb::AcknowledgeNoticeRequest {
        name: notice_name(plan, name),
    };
    let answer = notices(settings, connection)?.acknowledge_notice(request).await;
    let notice = answer
        .map_err(|status| call_failed("AcknowledgeNotice", status))?
        .into_inner();
    print_changed(&notice, json, |out| {
        format!(
            "{} acknowledged by {} at {}",
            out.name,
            out.acknowledged_by,
            out.acknowledge_time.as_deref().unwrap_or("?")
        )
    })?;
    Ok(notice)
}

/// `notices requeue`: puts a FAILED or DEAD_LETTER notice back for delivery (ADMIN).
pub async fn requeue(
    settings: &Settings,
    connection: &Connection,
    plan: &str,
    name: &str,
    json: bool,
) -> anyhow::Result<pb::Notice> {
    let request = pb::RequeueNoticeRequest {
        name: notice_name(plan, name),
    };
    let answer = notices(settings, connection)?.requeue_notice(request).await;
    let notice = answer
        .map_err(|status| call_failed("RequeueNotice", status))?
        .into_inner();
    print_changed(&notice, json, |out| {
        format!(
            "{}: {} (accepted by {} endpoint(s) already, not sent to them again)",
            out.name,
            out.delivery_state.to_lowercase(),
            out.accepted_endpoints.len()
        )
    })?;
    Ok(notice)
}

/// Prints a notice a command changed: as JSON, or the line `line` makes of it.
fn print_changed(notice: &pb::Notice, json: bool, line: impl FnOnce(&NoticeOut) -> String) -> anyhow::Result<()> {
    let out = notice_out(notice);
    if json {
        print_json(&out)?;
    } else {
        println!("{}", line(&out));
    }
    Ok(())
}

/// `notices evaluate`: runs the evaluation of a day (ADMIN); each notice is stored once.
pub async fn evaluate(
    settings: &Settings,
    connection: &Connection,
    plan: &str,
    as_of: NaiveDate,
    json: bool,
) -> anyhow::Result<pb::EvaluateNoticesResponse> {
    let response = notices(settings, connection)?
        .evaluate_notices(pb::EvaluateNoticesRequest {
            parent: format!("plans/{plan}"),
            as_of: Some(common::Date {
                year: as_of.year(),
                month: as_of.month() as i32,
                day: as_of.day() as i32,
            }),
        })
        .await
        .map_err(|status| call_failed("EvaluateNotices", status))?
        .into_inner();
    if json {
        print_json(&serde_json::json!({
            "due_count": response.due_count,
            "created_count": response.created_count,
        }))?;
    } else {
        println!(
            "{as_of}: {} notice(s) due, {} stored now (the rest were stored before)",
            response.due_count, response.created_count
        );
    }
    Ok(response)
}

/// Reads `YYYY-MM-DD`.
pub fn parse_day(text: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| format!("`{text}` is not a day such as 2023-04-05"))
}

#[cfg(test)]
mod tests {
    use duban_harness::{Server, Suite};
    use duban_kit::testing::Backend;
    use duban_proto::departments::v1::Role;

    use super::*;

    /// An administrator evaluates the March due day; a unit lists its BLUE notice,
    /// acknowledges it by its short name, and then has nothing unacknowledged.
    async fn a_unit_lists_and_acknowledges_its_notices(backend: Backend) {
        let Some(suite) = Suite::builder(backend).with(Server::Reporting).start().await else {
            return;
        };
        let settings = Settings::default();
        let connection = |token: &str| Connection {
            addr: Some(suite.addr(Server::Reporting).to_string()),
            token: Some(token.to_owned()),
            timeout: 10,
        };
        let admin = connection(suite.admin_token());
        let day = parse_day("2023-04-05").unwrap();
        let evaluated = evaluate(&settings, &admin, DEFAULT_PLAN, day, false).await.unwrap();
        assert!(evaluated.created_count > 0);
        let again = evaluate(&settings, &admin, DEFAULT_PLAN, day, true).await.unwrap();
        assert_eq!(again.created_count, 0);

        let all = fetch_all(
            &settings,
            &admin,
            &NoticeFilter {
                plan: DEFAULT_PLAN.into(),
                level: Some(LevelArg::Blue),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let unit = all[0].department.clone();
        let mine = connection(&suite.issue_token(Role::Department, &unit).await);
        let unread = NoticeFilter {
            plan: DEFAULT_PLAN.into(),
            unacknowledged: true,
            ..Default::default()
        };
        let own = fetch_all(&settings, &mine, &unread).await.unwrap();
        assert_eq!(own.len(), 1);
        let short_name = own[0].name.rsplit('/').next().unwrap().to_owned();
        let acked = ack(&settings, &mine, DEFAULT_PLAN, &short_name, false).await.unwrap();
        assert_eq!(acked.acknowledged_by, unit);
        assert!(fetch_all(&settings, &mine, &unread).await.unwrap().is_empty());
        let refused = ack(&settings, &admin, DEFAULT_PLAN, &short_name, false)
            .await
            .unwrap_err();
        assert!(
            refused.to_string().contains("PERMISSION_DENIED (ROLE_NOT_ALLOWED)"),
            "{refused:#}"
        );
        suite.stop().await;
    }

    duban_kit::backend_tests!(a_unit_lists_and_acknowledges_its_notices);
}
