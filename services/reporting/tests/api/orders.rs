//! Supervision orders over gRPC: a whole life cycle (opened to two units, one answers, is
//! sent back, answers again and is closed, the other is closed too, so the order is
//! CLOSED), the refusals along the way, the order in the units' obligations until it is
//! closed, a withdrawal, an overdue order, and the audit records of every attempt.

use super::*;
use duban_proto::reporting::v1::{
    OrderLevel, OrderPartState as Part, OrderState, supervision_orders_service_client::SupervisionOrdersServiceClient,
};

type Orders = SupervisionOrdersServiceClient<duban_kit::client::ServiceChannel>;

const OPEN: &str = "/duban.reporting.v1.SupervisionOrdersService/OpenOrder";
const RESPOND: &str = "/duban.reporting.v1.SupervisionOrdersService/RespondToOrder";

async fn orders_as(suite: &Suite, role: dpb::Role, department: &str) -> Orders {
    let token = suite.issue_token(role, department).await;
    SupervisionOrdersServiceClient::new(suite.channel(Server::Reporting, &token))
}

fn day(offset: i64) -> Option<common::Date> {
    let day = chrono::Utc::now().date_naive() + chrono::Duration::days(offset);
    Some(duban_plan::contract::date_to_proto(day))
}

fn opening(departments: &[&str], request_id: &str) -> pb::OpenOrderRequest {
    pb::OpenOrderRequest {
        parent: PLAN.into(),
        order: Some(pb::Order {
            title: "招商引资签约进度滞后".into(),
            level: OrderLevel::Yellow as i32,
            text: "请于期限内书面说明滞后原因及整改措施。".into(),
            departments: departments.iter().map(|d| d.to_string()).collect(),
            response_due: day(30),
            ..Default::default()
        }),
        request_id: request_id.into(),
    }
}

/// Accepting `department`'s answer to `order` as it now stands (its etag).
fn accept(order: &pb::Order, department: &str, request_id: &str) -> pb::AcceptOrderResponseRequest {
    pb::AcceptOrderResponseRequest {
        name: order.name.clone(),
        department: department.into(),
        etag: order.etag.clone(),
        request_id: request_id.into(),
        ..Default::default()
    }
}

fn respond(order: &pb::Order, text: &str, request_id: &str) -> pb::RespondToOrderRequest {
    pb::RespondToOrderRequest {
        name: order.name.clone(),
        text: text.into(),
        evidence_links: vec![pb::EvidenceLink {
            title: "整改方案".into(),
            url: "https://example.gov.cn/plan.pdf".into(),
            sha256: String::new(),
        }],
        etag: order.etag.clone(),
        request_id: request_id.into(),
        ..Default::default()
    }
}

fn part<'a>(order: &'a pb::Order, department: &str) -> &'a pb::OrderPart {
    order.parts.iter().find(|p| p.department == department).unwrap()
}

fn why(status: &tonic::Status) -> (Code, Option<String>) {
    (status.code(), reason(status))
}

async fn open_orders_of(client: &mut Client, department: &str) -> Vec<pb::OrderObligation> {
    client
        .list_obligations(pb::ListObligationsRequest {
            parent: PLAN.into(),
            department: department.into(),
            page_size: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .orders
}

async fn a_whole_life_cycle_with_its_refusals(backend: Backend) {
    let Some(suite) = start(backend).await else {
        return;
    };
    let pick = suite.pick(Aggregation::Sum).await;
    let (a, b) = (pick.department.as_str(), pick.other_department.as_str());
    let c = suite
        .departments(Caller::Admin)
        .list_departments(dpb::ListDepartmentsRequest {
            page_size: 500,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .departments
        .into_iter()
        .map(|d| d.code)
        .find(|code| code != a && code != b)
        .unwrap();
    let mut leader = orders_as(&suite, dpb::Role::Leadership, "").await;
    let mut admin = SupervisionOrdersServiceClient::new(suite.channel(Server::Reporting, Caller::Admin));
    let mut service = SupervisionOrdersServiceClient::new(suite.channel(Server::Reporting, Caller::Service));
    let mut unit_a = orders_as(&suite, dpb::Role::Department, a).await;
    let mut unit_b = orders_as(&suite, dpb::Role::Department, b).await;
    let mut unit_c = orders_as(&suite, dpb::Role::Department, &c).await;
    let mut reports_a = suite.department(a).await;
    let mut reports_b = suite.department(b).await;

    // Who may open: leadership and ADMIN; a unit or SERVICE is refused before any field.
    for client in [&mut unit_a, &mut service] {
        let refused = client.open_order(pb::OpenOrderRequest::default()).await.unwrap_err();
        assert_eq!(why(&refused), (Code::PermissionDenied, Some("ROLE_NOT_ALLOWED".into())));
    }
    // A due day in the past and an unknown unit are named; nothing is opened.
    let mut bad = opening(&[a, "no-such-unit"], "bad-1");
    bad.order.as_mut().unwrap().response_due = day(-3);
    let refused = leader.open_order(bad).await.unwrap_err();
    assert_eq!(why(&refused), (Code::InvalidArgument, Some("FIELD_INVALID".into())));
    let fields: Vec<String> = field_violations(&refused).into_iter().map(|v| v.field).collect();
    assert_eq!(fields, ["order.departments[1]", "order.response_due"]);

    // Opened to two units; a replay of the same request stores nothing more.
    let mut request = opening(&[a, b], "open-1");
    request.order.as_mut().unwrap().subject =
        Some(pb::order::Subject::MeasureNumber(pick.target.measure_number.clone()));
    let order = leader.open_order(request.clone()).await.unwrap().into_inner();
    assert_eq!(order.name, format!("{PLAN}/orders/1"));
    assert_eq!(order.state(), OrderState::Open);
    assert_eq!(order.departments, [a, b]);
    assert_eq!(
        order
            .parts
            .iter()
            .map(|p| (p.department.as_str(), p.state()))
            .collect::<Vec<_>>(),
        [(a, Part::Open), (b, Part::Open)]
    );
    assert_eq!(
        order.issued_by.as_ref().map(|p| p.role),
        Some(dpb::Role::Leadership as i32)
    );
    let replayed = leader.open_order(request).await.unwrap().into_inner();
    assert_eq!(replayed, order);
    let listed = leader
        .list_orders(pb::ListOrdersRequest {
            parent: PLAN.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (listed.total_size, listed.orders.len()),
        (1, 1),
        "the replay stored nothing"
    );

    // Each addressed unit sees the order with its own part; another unit sees nothing.
    let seen = unit_a
        .get_order(pb::GetOrderRequest {
            name: order.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        seen.parts.iter().map(|p| p.department.as_str()).collect::<Vec<_>>(),
        [a]
    );
    let refused = unit_c
        .get_order(pb::GetOrderRequest {
            name: order.name.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        why(&refused),
        (Code::PermissionDenied, Some("ORDER_NOT_ADDRESSED".into()))
    );
    let none = unit_c
        .list_orders(pb::ListOrdersRequest {
            parent: PLAN.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(none.total_size, 0);

    // Both units owe it, not overdue.
    let owed = open_orders_of(&mut reports_a, a).await;
    assert_eq!(owed.len(), 1);
    assert_eq!(
        (
            owed[0].order.as_str(),
            owed[0].state(),
            owed[0].overdue,
            owed[0].level()
        ),
        (order.name.as_str(), Part::Open, false, OrderLevel::Yellow)
    );
    assert_eq!(owed[0].response_due, order.response_due);

    // Refusals of an answer: another unit, a unit naming another's part, a stale etag.
    let refused = unit_c
        .respond_to_order(respond(&order, "不是我", "c-1"))
        .await
        .unwrap_err();
    assert_eq!(
        why(&refused),
        (Code::PermissionDenied, Some("ORDER_NOT_ADDRESSED".into()))
    );
    let mut for_b = respond(&order, "代答", "a-for-b");
    for_b.department = b.into();
    let refused = unit_a.respond_to_order(for_b).await.unwrap_err();
    assert_eq!(
        why(&refused),
        (Code::PermissionDenied, Some("ORDER_NOT_ADDRESSED".into()))
    );
    let refused = leader
        .respond_to_order(respond(&order, "领导代答", "l-1"))
        .await
        .unwrap_err();
    assert_eq!(why(&refused), (Code::PermissionDenied, Some("ROLE_NOT_ALLOWED".into())));

    // Unit a answers; the etag changes, so b's answer on the etag it read is stale.
    let answered = unit_a
        .respond_to_order(respond(&order, "已制定整改方案", "a-1"))
        .await
        .unwrap()
        .into_inner();
    let a_part = part(&answered, a);
    assert_eq!(a_part.state(), Part::Responded);
    let response = a_part.response.clone().unwrap();
    assert_eq!((response.revision, response.text.as_str()), (1, "已制定整改方案"));
    assert_eq!(response.evidence_links.len(), 1);
    assert_ne!(answered.etag, order.etag);
    let again = unit_a
        .respond_to_order(respond(&order, "已制定整改方案", "a-1"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again, answered, "a retry is answered as the first time");
    let stale = unit_b
        .respond_to_order(respond(&order, "收到", "b-stale"))
        .await
        .unwrap_err();
    assert_eq!(why(&stale), (Code::Aborted, Some("ETAG_MISMATCH".into())));

    // Review: a unit may not review; accepting an unanswered part is refused by state.
    let refused = unit_a
        .accept_order_response(accept(&answered, a, "a-accepts"))
        .await
        .unwrap_err();
    assert_eq!(why(&refused), (Code::PermissionDenied, Some("ROLE_NOT_ALLOWED".into())));
    let refused = leader
        .accept_order_response(accept(&answered, b, "accept-b-early"))
        .await
        .unwrap_err();
    assert_eq!(
        why(&refused),
        (Code::FailedPrecondition, Some("ORDER_STATE_INVALID".into()))
    );

    // Returned with a reason, which the unit sees in its obligations.
    let returned = leader
        .return_order_response(pb::ReturnOrderResponseRequest {
            name: order.name.clone(),
            department: a.into(),
            reason: "请补充时间节点".into(),
            etag: answered.etag.clone(),
            request_id: "return-a".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let a_part = part(&returned, a);
    assert_eq!(a_part.state(), Part::Returned);
    let review = a_part.review.clone().unwrap();
    assert_eq!(
        (review.outcome(), review.reason.as_str()),
        (pb::order_review::Outcome::Returned, "请补充时间节点")
    );
    let owed = open_orders_of(&mut reports_a, a).await;
    assert_eq!(
        (owed[0].state(), owed[0].return_reason.as_str(), owed[0].etag.as_str()),
        (Part::Returned, "请补充时间节点", returned.etag.as_str())
    );
    let refused = leader
        .accept_order_response(accept(&returned, a, "accept-returned"))
        .await
        .unwrap_err();
    assert_eq!(
        why(&refused),
        (Code::FailedPrecondition, Some("ORDER_STATE_INVALID".into()))
    );

    // Answered again (revision 2), then closed by ADMIN; the order stays open for b.
    let answered = unit_a
        .respond_to_order(respond(&returned, "已补充：6月底前完成签约", "a-2"))
        .await
        .unwrap()
        .into_inner();
    let a_part = part(&answered, a);
    assert_eq!(
        (a_part.state(), a_part.response.as_ref().unwrap().revision),
        (Part::Responded, 2)
    );
    assert!(a_part.review.is_none(), "a new answer has not been reviewed");
    let closed_a = admin
        .accept_order_response(pb::AcceptOrderResponseRequest {
            comment: "同意办结".into(),
            ..accept(&answered, a, "accept-a")
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(part(&closed_a, a).state(), Part::Closed);
    assert_eq!(closed_a.state(), OrderState::Open);
    assert!(open_orders_of(&mut reports_a, a).await.is_empty(), "a's part is closed");
    assert_eq!(open_orders_of(&mut reports_b, b).await.len(), 1);

    // b answers and is closed: the whole order is CLOSED, in nobody's obligations.
    let answered = unit_b
        .respond_to_order(respond(&closed_a, "已落实", "b-1"))
        .await
        .unwrap()
        .into_inner();
    let closed = leader
        .accept_order_response(accept(&answered, b, "accept-b"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(closed.state(), OrderState::Closed);
    assert!(closed.close_time.is_some());
    assert!(closed.parts.iter().all(|p| p.state() == Part::Closed));
    assert!(open_orders_of(&mut reports_b, b).await.is_empty());
    let refused = leader
        .withdraw_order(pb::WithdrawOrderRequest {
            name: order.name.clone(),
            etag: closed.etag.clone(),
            request_id: "withdraw-closed".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        why(&refused),
        (Code::FailedPrecondition, Some("ORDER_STATE_INVALID".into()))
    );

    // A second order, to one unit, becomes overdue (its due day aged in the database),
    // then is withdrawn: its parts too, and nothing more can be answered.
    let second = admin.open_order(opening(&[a], "open-2")).await.unwrap().into_inner();
    assert_eq!(second.name, format!("{PLAN}/orders/2"));
    {
        use duban_reporting::entity::supervision_order::{Column, Entity};
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
        let db = duban_kit::db::connect(suite.database_url(Server::Reporting))
            .await
            .unwrap();
        Entity::update_many()
            .col_expr(Column::ResponseDue, Expr::value("2023-06-30"))
            .filter(Column::Number.eq(2))
            .exec(&db)
            .await
            .unwrap();
    }
    let owed = open_orders_of(&mut reports_a, a).await;
    assert_eq!((owed.len(), owed[0].overdue), (1, true));
    let overdue = unit_a
        .list_orders(pb::ListOrdersRequest {
            parent: PLAN.into(),
            overdue: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        overdue.orders.iter().map(|o| o.name.as_str()).collect::<Vec<_>>(),
        [second.name.as_str()]
    );
    assert!(overdue.orders[0].overdue && overdue.orders[0].parts[0].overdue);
    let withdrawn = leader
        .withdraw_order(pb::WithdrawOrderRequest {
            name: second.name.clone(),
            reason: "情况已变化".into(),
            etag: second.etag.clone(),
            request_id: "withdraw-2".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(withdrawn.state(), OrderState::Withdrawn);
    assert_eq!(withdrawn.parts[0].state(), Part::Withdrawn);
    assert!(!withdrawn.overdue, "a withdrawn order is not overdue");
    let refused = unit_a
        .respond_to_order(respond(&withdrawn, "迟到的答复", "a-late"))
        .await
        .unwrap_err();
    assert_eq!(
        why(&refused),
        (Code::FailedPrecondition, Some("ORDER_STATE_INVALID".into()))
    );
    assert!(open_orders_of(&mut reports_a, a).await.is_empty());

    // Listings by state and by unit.
    let by_state = |state: OrderState| pb::ListOrdersRequest {
        parent: PLAN.into(),
        state: state as i32,
        ..Default::default()
    };
    let closed_only = service
        .list_orders(by_state(OrderState::Closed))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        closed_only.orders.iter().map(|o| o.name.as_str()).collect::<Vec<_>>(),
        [order.name.as_str()]
    );
    let of_b = leader
        .list_orders(pb::ListOrdersRequest {
            parent: PLAN.into(),
            department: b.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(of_b.total_size, 1);
    let all_of_a = unit_a
        .list_orders(pb::ListOrdersRequest {
            parent: PLAN.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        all_of_a.orders.iter().map(|o| o.name.as_str()).collect::<Vec<_>>(),
        [second.name.as_str(), order.name.as_str()],
        "newest first"
    );
    assert!(
        all_of_a
            .orders
            .iter()
            .all(|o| o.parts.len() == 1 && o.parts[0].department == a)
    );
    let refused = unit_a
        .list_orders(pb::ListOrdersRequest {
            parent: PLAN.into(),
            department: b.into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        why(&refused),
        (Code::PermissionDenied, Some("NOT_OWN_DEPARTMENT".into()))
    );

    // The audit trail: a record per attempt, refusals included, naming the order.
    let mut reporting_admin = suite.reporting(Caller::Admin);
    let audited = |method: &str| pb::ListAuditRecordsRequest {
        method: method.into(),
        page_size: 500,
        ..Default::default()
    };
    let opened = reporting_admin
        .list_audit_records(audited(OPEN))
        .await
        .unwrap()
        .into_inner();
    let codes: Vec<i32> = opened.audit_records.iter().map(|r| r.code).collect();
    // Two refused for their role, one invalid, the first order, its replay, the second.
    assert_eq!(codes.len(), 6, "{codes:?}");
    assert_eq!(codes.iter().filter(|c| **c == Code::PermissionDenied as i32).count(), 2);
    assert_eq!(codes.iter().filter(|c| **c == Code::InvalidArgument as i32).count(), 1);
    let answers = reporting_admin
        .list_audit_records(audited(RESPOND))
        .await
        .unwrap()
        .into_inner();
    let stale_record = answers
        .audit_records
        .iter()
        .find(|r| r.request_id == "b-stale")
        .expect("the stale answer is audited");
    assert_eq!(
        (stale_record.code, stale_record.resource.as_str()),
        (Code::Aborted as i32, order.name.as_str())
    );
    let stored_once: Vec<&pb::AuditRecord> = answers.audit_records.iter().filter(|r| r.request_id == "a-1").collect();
    assert_eq!(stored_once.len(), 2, "the answer and its replay are both audited");
    assert!(stored_once.iter().all(|r| r.code == 0 && r.resource == order.name));
    suite.stop().await;
}

duban_kit::backend_tests!(a_whole_life_cycle_with_its_refusals);

/// The order notices of `day` (UTC date + `offset`), by key.
async fn order_notices(notices: &mut duban_harness::NoticesClient, offset: i64) -> (i32, i32, Vec<pb::Notice>) {
    let evaluated = notices
        .evaluate_notices(pb::EvaluateNoticesRequest {
            parent: PLAN.into(),
            as_of: day(offset),
        })
        .await
        .unwrap()
        .into_inner();
    let listed = notices
        .list_notices(pb::ListNoticesRequest {
            parent: PLAN.into(),
            page_size: 500,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .notices
        .into_iter()
        .filter(|n| !n.order.is_empty())
        .collect();
    (evaluated.due_count, evaluated.created_count, listed)
}

async fn unanswered_orders_escalate_like_reports(backend: Backend) {
    // The server's own daily run evaluates a day of the plan's year at start-up, when
    // this test's order (dated from today) is not yet given: otherwise, on a slow
    // machine, it could run after the order is opened and store its notices first.
    let plan_year = chrono::NaiveDate::from_ymd_opt(2023, 4, 5)
        .unwrap()
        .and_hms_opt(2, 0, 0)
        .unwrap()
        .and_utc();
    let Some(suite) = Suite::builder(backend)
        .with(Server::Reporting)
        .reporting_options(duban_reporting::Options {
            follow_up_clock: duban_reporting::Clock::fixed(plan_year),
            ..Default::default()
        })
        .start()
        .await
    else {
        return;
    };
    let pick = suite.pick(Aggregation::Sum).await;
    let a = pick.department.as_str();
    let mut leader = orders_as(&suite, dpb::Role::Leadership, "").await;
    let mut admin = SupervisionOrdersServiceClient::new(suite.channel(Server::Reporting, Caller::Admin));
    let mut unit_a = orders_as(&suite, dpb::Role::Department, a).await;
    let mut notices = suite.notices(Caller::Admin);

    // ADMIN records an order given on paper ten days ago, its answer due since then
    // (leadership could not open it: that is refused above).
    let mut request = opening(&[a], "paper-1");
    request.order.as_mut().unwrap().response_due = day(-10);
    let order = admin.open_order(request).await.unwrap().into_inner();
    assert!(order.parts[0].overdue, "{order:?}");
    let number = order.name.rsplit('/').next().unwrap().to_owned();
    let key = |fired: i64, rule: &str| {
        let fired = chrono::Utc::now().date_naive() + chrono::Duration::days(fired);
        format!("{PLAN}/notices/{}~{rule}~{a}~order-{number}", fired.format("%Y-%m-%d"))
    };

    // The due day itself: nothing. The day after: BLUE, to the unit.
    assert_eq!(order_notices(&mut notices, -10).await.0, 0);
    let (due, created, listed) = order_notices(&mut notices, -8).await;
    assert_eq!((due, created), (1, 1));
    let blue = &listed[0];
    assert_eq!(blue.name, key(-9, "order-overdue"));
    assert_eq!(
        (blue.level(), blue.rule()),
        (pb::NoticeLevel::Blue, pb::NoticeRule::OrderOverdue)
    );
    assert_eq!(blue.order, order.name);
    assert_eq!(blue.due_date, day(-10));
    assert!(blue.period.is_none() && blue.reports.is_empty());
    assert_eq!(blue.recipient_departments, [a]);
    assert!(blue.recipient_roles.is_empty());
    assert!(
        blue.reason.contains("督办单") && blue.reason.contains("尚未答复"),
        "{}",
        blue.reason
    );
    // Yesterday, 9 days late: YELLOW (5 days), to leadership too; evaluated again, the
    // same notice is not stored twice.
    let (due, created, listed) = order_notices(&mut notices, -1).await;
    assert_eq!((due, created), (1, 1));
    assert_eq!(order_notices(&mut notices, -1).await.1, 0);
    let yellow = listed
        .iter()
        .find(|n| n.name == key(-5, "order-late"))
        .expect("the YELLOW notice");
    assert_eq!(yellow.level(), pb::NoticeLevel::Yellow);
    assert_eq!(yellow.recipient_roles, [dpb::Role::Leadership as i32]);

    // Answered: nothing more is due. Sent back: owed again, the same YELLOW due.
    let answered = unit_a
        .respond_to_order(respond(&order, "已整改", "paper-answer"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(order_notices(&mut notices, 0).await.0, 0);
    leader
        .return_order_response(pb::ReturnOrderResponseRequest {
            name: order.name.clone(),
            department: a.into(),
            reason: "请补充时间节点".into(),
            etag: answered.etag.clone(),
            request_id: "paper-return".into(),
        })
        .await
        .unwrap();
    let (due, created, listed) = order_notices(&mut notices, 0).await;
    assert_eq!((due, created), (1, 0), "{listed:#?}");
    suite.stop().await;
}

duban_kit::backend_tests!(unanswered_orders_escalate_like_reports);
