//! Notices: their names, the rows the follow-up rules' due notices become, and the rows
//! as the contract's message.

use duban_proto::{departments::v1::Role, reporting::v1 as pb};

use super::{ReportKey, json, timestamp};
use crate::{
    calendar,
    entity::notice,
    follow_up::{self, DueNotice, DueOrderNotice, DueTargetNotice, Rule},
};

/// `plans/{plan}/notices/{notice}`.
pub fn notice_name(plan: &str, id: &str) -> String {
    format!("plans/{plan}/notices/{id}")
}

/// Parses a notice name into plan and notice key; `None` if malformed.
pub fn parse_notice_name(name: &str) -> Option<(&str, &str)> {
    let (plan, id) = name.strip_prefix("plans/")?.split_once("/notices/")?;
    (!plan.is_empty() && !plan.contains('/') && !id.is_empty() && !id.contains('/')).then_some((plan, id))
}

/// Whether a stored notice is addressed to `department`.
pub fn addressed_to(row: &notice::Model, department: &str) -> bool {
    serde_json::from_str::<Vec<String>>(&row.recipient_departments)
        .unwrap_or_default()
        .iter()
        .any(|code| code == department)
}

/// What differs between the notices a rule makes; [`pending_row`] fills in the rest.
struct NoticeFacts<'a> {
    id: String,
    rule: Rule,
    day: chrono::NaiveDate,
    department: String,
    period: String,
    due: chrono::NaiveDate,
    reports: String,
    recipients: String,
    reason: &'a str,
    reason_en: &'a str,
}

/// The row of a notice due (its create time is the commit's, set by the writer), PENDING,
/// never attempted and not acknowledged.
fn pending_row(plan: &str, facts: NoticeFacts<'_>) -> notice::Model {
    let roles: Vec<&str> = facts.rule.roles().iter().map(|role| role.as_str_name()).collect();
    notice::Model {
        plan: plan.to_owned(),
        id: facts.id,
        level: facts.rule.level().as_str_name().to_owned(),
        rule: facts.rule.to_proto().as_str_name().to_owned(),
        day: calendar::date_key(facts.day),
        department: facts.department,
        period: facts.period,
        due_date: calendar::date_key(facts.due),
        reports: facts.reports,
        recipient_departments: facts.recipients,
        recipient_roles: json(&roles),
        reason: facts.reason.to_owned(),
        reason_en: facts.reason_en.to_owned(),
        create_time_us: 0,
        delivery_state: pb::NoticeDeliveryState::Pending.as_str_name().to_owned(),
        acknowledge_time_us: None,
        acknowledged_by: String::new(),
        delivery_attempts: 0,
        next_attempt_time_us: None,
        last_error: String::new(),
        delivered_time_us: None,
        delivered_endpoints: "[]".to_owned(),
    }
}

/// The row of a report notice due: about one unit's reports of a period, to that unit.
pub fn notice_row(plan: &str, due: &DueNotice) -> notice::Model {
    pending_row(
        plan,
        NoticeFacts {
            id: due.id(),
            rule: due.rule,
            day: due.day,
            department: due.department.clone(),
            period: due.period.key(),
            due: due.due,
            reports: json(&due.measures),
            recipients: json(&[due.department.as_str()]),
            reason: &due.reason,
            reason_en: &due.reason_en,
        },
    )
}

/// The row of a target's RED notice: about the target's first reporting unit and its
/// report on the target's measure for the latest RED period (so that it reads like the
/// report notices), addressed to leadership and copied to every reporting unit.
pub fn target_notice_row(plan: &str, due: &DueTargetNotice) -> notice::Model {
    let department = due.departments.first().cloned().unwrap_or_default();
    let reports: Vec<&str> = if department.is_empty() {
        Vec::new()
    } else {
        vec![due.measure_number.as_str()]
    };
    pending_row(
        plan,
        NoticeFacts {
            id: due.id(),
            rule: Rule::RedPeriods,
            day: due.day,
            department,
            period: due.period().map(calendar::Month::key).unwrap_or_default(),
            due: due.due,
            reports: json(&reports),
            recipients: json(&due.departments),
            reason: &due.reason,
            reason_en: &due.reason_en,
        },
    )
}

/// The row of an order escalation due, as [`notice_row`]: no period and no reports
/// (the order is in its key), the response due day as its due date.
pub fn order_notice_row(plan: &str, due: &DueOrderNotice) -> notice::Model {
    pending_row(
        plan,
        NoticeFacts {
            id: due.id(),
            rule: due.rule,
            day: due.day,
            department: due.department.clone(),
            period: String::new(),
            due: due.due,
            reports: "[]".to_owned(),
            recipients: json(&[due.department.as_str()]),
            reason: &due.reason,
            reason_en: &due.reason_en,
        },
    )
}

/// The target a stored notice is about, `plans/{plan}/targets/{code}`: the third part of
/// a RED_PERIODS notice's key; empty for the other rules.
fn notice_target(row: &notice::Model) -> String {
    if row.rule != pb::NoticeRule::TargetRedPeriods.as_str_name() {
        return String::new();
    }
    row.id
        .split('~')
        .nth(2)
        .map(|code| format!("plans/{}/targets/{code}", row.plan))
        .unwrap_or_default()
}

/// A stored notice as the contract's message.
pub fn notice(row: &notice::Model) -> pb::Notice {
    let list = |text: &str| serde_json::from_str::<Vec<String>>(text).unwrap_or_default();
    let period = calendar::Month::parse(&row.period);
    let reports = match period {
        Some(period) => list(&row.reports)
            .into_iter()
            .map(|measure| {
                ReportKey {
                    plan: row.plan.clone(),
                    measure,
                    department: row.department.clone(),
                    period,
                }
                .name()
            })
            .collect(),
        None => Vec::new(),
    };
    let day = |text: &str| calendar::parse_date(text).map(calendar::date_to_proto);
    pb::Notice {
        name: notice_name(&row.plan, &row.id),
        level: pb::NoticeLevel::from_str_name(&row.level).unwrap_or_default() as i32,
        rule: pb::NoticeRule::from_str_name(&row.rule).unwrap_or_default() as i32,
        day: day(&row.day),
        department: row.department.clone(),
        period: period.map(calendar::Month::to_proto),
        due_date: day(&row.due_date),
        reports,
        recipient_departments: list(&row.recipient_departments),
        recipient_roles: list(&row.recipient_roles)
            .iter()
            .map(|role| Role::from_str_name(role).unwrap_or_default() as i32)
            .collect(),
        reason: row.reason.clone(),
        reason_en: row.reason_en.clone(),
        create_time: Some(timestamp(row.create_time_us)),
        delivery_state: pb::NoticeDeliveryState::from_str_name(&row.delivery_state).unwrap_or_default() as i32,
        acknowledge_time: row.acknowledge_time_us.map(timestamp),
        acknowledged_by: row.acknowledged_by.clone(),
        delivery_attempts: row.delivery_attempts,
        // A PENDING notice waiting for an e-mail channel has a recheck time too: not
        // a retry, so not shown.
        next_delivery_time: (row.delivery_state == pb::NoticeDeliveryState::Failed.as_str_name())
            .then_some(row.next_attempt_time_us)
            .flatten()
            .map(timestamp),
        last_delivery_error: row.last_error.clone(),
        delivered_time: row.delivered_time_us.map(timestamp),
        target: notice_target(row),
        accepted_endpoints: list(&row.delivered_endpoints),
        order: follow_up::order_of_notice_id(&row.id)
            .map(|number| format!("plans/{}/orders/{number}", row.plan))
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back() {
        let name = notice_name("jiading-2023", "2023-04-05~overdue~anting-town~2023-03");
        assert_eq!(
            parse_notice_name(&name),
            Some(("jiading-2023", "2023-04-05~overdue~anting-town~2023-03"))
        );
        for bad in [
            "plans//notices/x",
            "plans/p/notices/",
            "plans/p/reports/x",
            "plans/p/notices/a/b",
        ] {
            assert_eq!(parse_notice_name(bad), None, "{bad}");
        }
    }
}
