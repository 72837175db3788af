//! Supervision orders: names, and rows to the contract's Order.

use chrono::NaiveDate;
use duban_proto::reporting::v1::{self as pb, OrderLevel, OrderPartState, OrderState, order_review::Outcome};

use super::{evidence_links, principal, timestamp};
use crate::{
    calendar,
    entity::{order_part, supervision_order},
    service::order_rules,
};

/// `plans/{plan}/orders/{number}`.
pub fn order_name(plan: &str, number: i32) -> String {
    format!("plans/{plan}/orders/{number}")
}

/// The plan and number of `plans/{plan}/orders/{number}` (a positive number written
/// without leading zeros).
pub fn parse_order_name(name: &str) -> Option<(&str, i32)> {
    let rest = name.strip_prefix("plans/")?;
    let (plan, number) = rest.split_once("/orders/")?;
    let parsed: i32 = number.parse().ok()?;
    (!plan.is_empty() && !plan.contains('/') && parsed > 0 && parsed.to_string() == number).then_some((plan, parsed))
}

/// The stored response-due day.
pub fn due_date(row: &supervision_order::Model) -> Option<NaiveDate> {
    calendar::parse_date(&row.response_due)
}

/// A part's state from its row.
pub fn part_state(row: &order_part::Model) -> OrderPartState {
    OrderPartState::from_str_name(&row.state).unwrap_or_default()
}

/// The etag of an order at `version`.
pub fn order_etag(version: i32) -> String {
    format!("o{version}")
}

/// A stored order as the contract's Order on `today` (for `overdue`); with `only`, the
/// parts of that department alone (what a DEPARTMENT caller sees).
pub fn order(
    row: &supervision_order::Model,
    parts: &[order_part::Model],
    today: NaiveDate,
    only: Option<&str>,
) -> pb::Order {
    let due = due_date(row);
    let state = OrderState::from_str_name(&row.state).unwrap_or_default();
    let parts: Vec<pb::OrderPart> = parts
        .iter()
        .filter(|p| only.is_none_or(|d| d == p.department))
        .map(|p| {
            let part_state = part_state(p);
            pb::OrderPart {
                department: p.department.clone(),
                state: part_state as i32,
                overdue: state == OrderState::Open
                    && due.is_some_and(|due| order_rules::overdue(part_state, due, today)),
                response: p.respond_time_us.map(|at| pb::OrderResponse {
                    text: p.response_text.clone(),
                    evidence_links: evidence_links(&p.evidence_links),
                    responded_by: principal("ROLE_DEPARTMENT", &p.department, &p.responder_credential),
                    respond_time: Some(timestamp(at)),
                    revision: p.response_revision,
                }),
                review: p.review_time_us.map(|at| pb::OrderReview {
                    outcome: Outcome::from_str_name(&p.review_outcome).unwrap_or_default() as i32,
                    reason: p.review_reason.clone(),
                    reviewer: principal(&p.reviewer_role, "", &p.reviewer_credential),
                    review_time: Some(timestamp(at)),
                }),
                update_time: Some(timestamp(p.update_time_us)),
            }
        })
        .collect();
    let subject = match row.subject_kind.as_str() {
        "measure" => Some(pb::order::Subject::MeasureNumber(row.subject.clone())),
        "target" => Some(pb::order::Subject::TargetCode(row.subject.clone())),
        "blocker" => Some(pb::order::Subject::Blocker(row.subject.clone())),
        _ => None,
    };
    pb::Order {
        name: order_name(&row.plan, row.number),
        title: row.title.clone(),
        issued_by: principal(&row.issuer_role, "", &row.issuer_credential),
        level: OrderLevel::from_str_name(&row.level).unwrap_or_default() as i32,
        subject,
        text: row.body.clone(),
        departments: serde_json::from_str(&row.departments).unwrap_or_default(),
        response_due: due.map(calendar::date_to_proto),
        state: state as i32,
        overdue: parts.iter().any(|p| p.overdue),
        parts,
        etag: order_etag(row.version),
        create_time: Some(timestamp(row.create_time_us)),
        update_time: Some(timestamp(row.update_time_us)),
        close_time: row.close_time_us.map(timestamp),
        withdraw_reason: row.withdraw_reason.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_names_round_trip_and_refuse_what_is_not_one() {
        assert_eq!(order_name("jiading-2023", 7), "plans/jiading-2023/orders/7");
        assert_eq!(
            parse_order_name("plans/jiading-2023/orders/7"),
            Some(("jiading-2023", 7))
        );
        for bad in [
            "plans/jiading-2023/orders/0",
            "plans/jiading-2023/orders/07",
            "plans/jiading-2023/orders/-1",
            "plans/jiading-2023/orders/x",
            "plans//orders/1",
            "plans/a/b/orders/1",
            "orders/1",
        ] {
            assert_eq!(parse_order_name(bad), None, "{bad}");
        }
    }
}
