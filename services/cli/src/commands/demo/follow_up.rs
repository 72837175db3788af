//! The demo's follow-up history: the notices the plan's rules raised on the days they
//! fire (EvaluateNotices, which stores each notice once, so running the demo again adds
//! none), and two supervision orders: one answered by its unit and closed (办结), one
//! unanswered and overdue. The overdue one is recorded by ADMIN (the demo's token) with
//! a response day a week ago, as an order given on paper before Duban was used: OpenOrder
//! accepts a past day from ADMIN only. Its escalation notices (BLUE the day after that
//! day, YELLOW after the plan's threshold) come from evaluating those days, as the daily
//! run would have.

use anyhow::Context;
use chrono::{Days, NaiveDate};
use duban_kit::Settings;
use duban_plan::{Month, PlanCalendar};
use duban_proto::{
    departments::v1 as departments,
    reporting::v1::{self as pb, OrderPartState as Part},
};

use super::{
    access::{Clients, follow_up_clients, issue_token, revoke_token},
    trajectory::TargetPlan,
};
use crate::commands::{Connection, call_failed};

/// How many days before the demo's run the overdue order's answer was due.
const OVERDUE_DAYS: u64 = 7;

/// What the follow-up step did.
#[derive(Debug, Default)]
pub struct FollowUpDone {
    /// Days the rules were evaluated on.
    pub days: usize,
    /// Notices due on those days, and how many of them this run stored.
    pub notices_due: i32,
    /// Stored now.
    pub notices_stored: i32,
    /// The orders, `name (state)`.
    pub orders: Vec<String>,
}

/// The days on which a period's follow-up rules fire: the reminder, the due day, the
/// yellow and the red escalation.
fn rule_days(calendar: &PlanCalendar, period: Month) -> Vec<NaiveDate> {
    let rules = calendar.follow_up;
    let due = calendar.cadence.due_date(period);
    [
        due.checked_sub_days(Days::new(rules.remind_days_before_due.into())),
        Some(due),
        due.checked_add_days(Days::new(rules.yellow_after_days_late.into())),
        due.checked_add_days(Days::new(rules.red_after_days_late.into())),
    ]
    .into_iter()
    .flatten()
    .collect()
}

fn date(day: NaiveDate) -> duban_proto::common::v1::Date {
    use chrono::Datelike;
    duban_proto::common::v1::Date {
        year: day.year(),
        month: i32::try_from(day.month()).unwrap_or(0),
        day: i32::try_from(day.day()).unwrap_or(0),
    }
}

/// What the follow-up step works from: the plan and the demo's own choices.
pub(crate) struct DemoPlan<'a> {
    /// The plan id.
    pub plan_id: &'a str,
    /// The demo's seed.
    pub seed: u64,
    /// The plan's calendar and follow-up rules.
    pub calendar: &'a PlanCalendar,
    /// The periods the demo filled.
    pub periods: &'a [Month],
    /// The targets, some set to lag.
    pub target_plans: &'a [TargetPlan],
}

/// Evaluates the rules on every day they fired for the demo's periods, then opens (or
/// finds) the two orders and moves the first one on to closed.
pub(crate) async fn follow_up(
    c: &mut Clients,
    settings: &Settings,
    connection: &Connection,
    plan: DemoPlan<'_>,
) -> anyhow::Result<FollowUpDone> {
    let DemoPlan {
        plan_id,
        seed,
        calendar,
        periods,
        target_plans,
    } = plan;
    let parent = format!("plans/{plan_id}");
    let today = calendar.zone().today();
    let (mut notices, mut orders) = follow_up_clients(settings, connection, None)?;
    let mut done = FollowUpDone::default();

    let mut days: Vec<NaiveDate> = periods
        .iter()
        .flat_map(|period| rule_days(calendar, *period))
        .filter(|day| *day <= today)
        .collect();
    days.sort();
    days.dedup();
    for day in &days {
        let evaluated = notices
            .evaluate_notices(pb::EvaluateNoticesRequest {
                parent: parent.clone(),
                as_of: Some(date(*day)),
            })
            .await
            .map_err(|s| call_failed("EvaluateNotices", s))?
            .into_inner();
        done.notices_due += evaluated.due_count;
        done.notices_stored += evaluated.created_count;
    }
    done.days = days.len();

    // The orders are about a target that lags (the demo makes some lag), to units that
    // report it.
    let Some(lagging) = target_plans
        .iter()
        .find(|t| t.lagging && !t.target.reporting_departments.is_empty())
    else {
        return Ok(done);
    };
    let units = &lagging.target.reporting_departments;
    let first_unit = units.first().cloned().unwrap_or_default();
    let title = |what: &str| format!("关于{}{what}的督办", lagging.target.display_name);
    let open = |request_id: String, level: pb::OrderLevel, departments: Vec<String>, due: NaiveDate, what: &str| {
        pb::OpenOrderRequest {
            parent: parent.clone(),
            order: Some(pb::Order {
                title: title(what),
                level: level as i32,
                subject: Some(pb::order::Subject::TargetCode(lagging.target.code.clone())),
                text: format!(
                    "{}进度落后于计划，请于{}前书面报告原因、已采取的措施和下一步安排。",
                    lagging.target.display_name,
                    due.format("%Y年%-m月%-d日")
                ),
                departments,
                response_due: Some(date(due)),
                ..Default::default()
            }),
            request_id,
        }
    };

    // The first: answered by its unit, then accepted (办结).
    let closed = orders
        .open_order(open(
            format!("demo-{seed}-order-closed"),
            pb::OrderLevel::Yellow,
            vec![first_unit.clone()],
            today.checked_add_days(Days::new(14)).unwrap_or(today),
            "进度滞后",
        ))
        .await
        .map_err(|s| call_failed("OpenOrder", s))?
        .into_inner();
    let mut order = get(&mut orders, &closed.name).await?;
    if part_state(&order, &first_unit) == Some(Part::Open) {
        let (credential, token) = issue_token(
            &mut c.departments,
            departments::Role::Department,
            &first_unit,
            format!("duban demo (seed {seed}): answers a supervision order"),
        )
        .await?;
        let (_, mut as_unit) = follow_up_clients(settings, connection, Some(&token))?;
        let answered = as_unit
            .respond_to_order(pb::RespondToOrderRequest {
                name: order.name.clone(),
                department: first_unit.clone(),
                text: "已组织专题会议分析滞后原因，落实专人跟进重点项目，预计下月回到计划轨道。".into(),
                etag: order.etag.clone(),
                request_id: format!("demo-{seed}-order-response"),
                ..Default::default()
            })
            .await;
        revoke_token(&mut c.departments, &credential).await;
        answered.map_err(|s| call_failed("RespondToOrder", s))?;
        order = get(&mut orders, &closed.name).await?;
    }
    if part_state(&order, &first_unit) == Some(Part::Responded) {
        orders
            .accept_order_response(pb::AcceptOrderResponseRequest {
                name: order.name.clone(),
                department: first_unit.clone(),
                comment: "措施可行，予以办结。".into(),
                etag: order.etag.clone(),
                request_id: format!("demo-{seed}-order-accept"),
            })
            .await
            .map_err(|s| call_failed("AcceptOrderResponse", s))?;
        order = get(&mut orders, &closed.name).await?;
    }
    done.orders
        .push(format!("{} ({})", order.name, order.state().as_str_name()));

    // The second: to every unit that reports the target, due a week ago, unanswered, so
    // overdue; its escalations are evaluated on the days they fired and today.
    let due = today.checked_sub_days(Days::new(OVERDUE_DAYS)).unwrap_or(today);
    let open_order = orders
        .open_order(open(
            format!("demo-{seed}-order-overdue-{due}"),
            pb::OrderLevel::Red,
            units.clone(),
            due,
            "持续滞后",
        ))
        .await
        .map_err(|s| call_failed("OpenOrder", s))?
        .into_inner();
    let rules = calendar.follow_up;
    let order_days = [
        due.checked_add_days(Days::new(1)),
        due.checked_add_days(Days::new(rules.yellow_after_days_late.into())),
        Some(today),
    ];
    for day in order_days.into_iter().flatten().filter(|day| *day <= today) {
        let evaluated = notices
            .evaluate_notices(pb::EvaluateNoticesRequest {
                parent: parent.clone(),
                as_of: Some(date(day)),
            })
            .await
            .map_err(|s| call_failed("EvaluateNotices", s))?
            .into_inner();
        done.notices_due += evaluated.due_count;
        done.notices_stored += evaluated.created_count;
    }
    let order = get(&mut orders, &open_order.name).await?;
    done.orders.push(format!(
        "{} ({}{}, due {due})",
        order.name,
        order.state().as_str_name(),
        if order.overdue { ", overdue" } else { "" }
    ));
    Ok(done)
}

async fn get(orders: &mut super::access::OrdersClient, name: &str) -> anyhow::Result<pb::Order> {
    Ok(orders
        .get_order(pb::GetOrderRequest { name: name.to_owned() })
        .await
        .map_err(|s| call_failed("GetOrder", s))
        .with_context(|| format!("reading {name}"))?
        .into_inner())
}

fn part_state(order: &pb::Order, department: &str) -> Option<Part> {
    order
        .parts
        .iter()
        .find(|part| part.department == department)
        .map(pb::OrderPart::state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rules_fire_around_each_due_day() {
        let calendar = PlanCalendar {
            effective_from: NaiveDate::from_ymd_opt(2023, 3, 3).unwrap(),
            effective_to: NaiveDate::from_ymd_opt(2023, 12, 31).unwrap(),
            cadence: duban_plan::Cadence::monthly(5),
            follow_up: Default::default(),
            rag: Default::default(),
        };
        let rules = calendar.follow_up;
        let march = Month { year: 2023, month: 3 };
        let due = NaiveDate::from_ymd_opt(2023, 4, 5).unwrap();
        assert_eq!(
            rule_days(&calendar, march),
            [
                due - Days::new(rules.remind_days_before_due.into()),
                due,
                due + Days::new(rules.yellow_after_days_late.into()),
                due + Days::new(rules.red_after_days_late.into()),
            ]
        );
    }
}
