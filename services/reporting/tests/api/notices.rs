//! NoticesService with the Jiading plan (monthly, due on the 5th; remind 3 days before,
//! YELLOW 5 days late): the days around the March 2023 due day (2023-04-05) evaluated
//! by hand, each notice stored once however often the day is evaluated, a report
//! submitted stops the escalation, acknowledgement by the unit addressed, the filters;
//! and the daily run at start-up on a fixed clock.

use std::collections::BTreeSet;

use chrono::Datelike;

use duban_harness::NoticesClient;
use duban_reporting::{Clock, Options};

use super::*;

pub(super) fn date(month: i32, day: i32) -> Option<common::Date> {
    Some(common::Date { year: 2023, month, day })
}

async fn evaluate(admin: &mut NoticesClient, month: i32, day: i32) -> pb::EvaluateNoticesResponse {
    admin
        .evaluate_notices(pb::EvaluateNoticesRequest {
            parent: PLAN.into(),
            as_of: date(month, day),
        })
        .await
        .unwrap()
        .into_inner()
}

async fn list(client: &mut NoticesClient, request: pb::ListNoticesRequest) -> Result<Vec<pb::Notice>, tonic::Status> {
    let mut notices = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_notices(pb::ListNoticesRequest {
                parent: PLAN.into(),
                page_size: 40,
                page_token,
                ..request.clone()
            })
            .await?
            .into_inner();
        notices.extend(page.notices);
        if page.next_page_token.is_empty() {
            return Ok(notices);
        }
        page_token = page.next_page_token;
    }
}

fn of_level(level: pb::NoticeLevel) -> pb::ListNoticesRequest {
    pb::ListNoticesRequest {
        level: level as i32,
        ..Default::default()
    }
}

fn departments(notices: &[pb::Notice]) -> BTreeSet<String> {
    notices.iter().map(|n| n.department.clone()).collect()
}

/// Every unit that owes a March 2023 report.
pub(super) async fn owing_march(suite: &Suite) -> BTreeSet<String> {
    let compliance = suite
        .reporting(Caller::Admin)
        .get_compliance(pb::GetComplianceRequest {
            parent: PLAN.into(),
            start_period: Some(common::Period { year: 2023, month: 3 }),
            end_period: Some(common::Period { year: 2023, month: 3 }),
            as_of: date(4, 1),
            page_size: 500,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    compliance.departments.into_iter().map(|d| d.department).collect()
}

/// Backfills every March report `department` owes, filled from its obligations'
/// templates, as first submitted on `day` of April 2023 (10:00 in Shanghai).
pub(super) async fn backfill_march(suite: &Suite, department: &str, day: u32) {
    let mut admin = suite.reporting(Caller::Admin);
    let obligations = admin
        .list_obligations(pb::ListObligationsRequest {
            parent: PLAN.into(),
            department: department.into(),
            start_period: Some(common::Period { year: 2023, month: 3 }),
            end_period: Some(common::Period { year: 2023, month: 3 }),
            page_size: 500,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .obligations;
    let at = chrono::NaiveDate::from_ymd_opt(2023, 4, day)
        .unwrap()
        .and_hms_opt(2, 0, 0)
        .unwrap()
        .and_utc();
    let items: Vec<_> = obligations
        .iter()
        .enumerate()
        .map(|(i, obligation)| {
            let template = obligation.template.clone().unwrap_or_default();
            pb::SubmitReportsRequest {
                parent: PLAN.into(),
                report: Some(pb::Report {
                    measure_number: obligation.measure_number.clone(),
                    department: department.into(),
                    period: obligation.period,
                    overall_status: pb::OverallStatus::OnTrack as i32,
                    metric_values: template
                        .slots
                        .iter()
                        .map(|slot| pb::MetricValue {
                            target_code: slot.target_code.clone(),
                            value: d("1"),
                            unit: slot.unit,
                            basis: slot.basis,
                        })
                        .collect(),
                    ..Default::default()
                }),
                request_id: format!("march-{department}-{i}"),
                backfill: true,
                submit_time: Some(prost_types::Timestamp {
                    seconds: at.timestamp(),
                    nanos: 0,
                }),
                ..Default::default()
            }
        })
        .collect();
    let count = items.len() as i32;
    assert!(count > 0, "{department} owes March reports");
    let response = admin
        .submit_reports(futures::stream::iter(items))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.succeeded_count, count, "{response:?}");
}

async fn follow_up_reminds_escalates_and_stores_each_notice_once(backend: Backend) {
    // The delivery worker (tested in `delivery`) would move the notices read here out of
    // PENDING while the test compares them: it waits an hour.
    let options = Options {
        delivery: duban_reporting::delivery::DeliveryOptions {
            interval: Duration::from_secs(3600),
            ..Default::default()
        },
        ..Options::default()
    };
    let Some(mut suite) = Suite::builder(backend)
        .with(Server::Reporting)
        .reporting_options(options)
        .start()
        .await
    else {
        return;
    };
    let owing = owing_march(&suite).await;
    assert!(owing.len() > 10, "{owing:?}");
    let mut units = owing.iter();
    // `early` sends every March report before the due day, `late` two days after it.
    let (early, late) = (units.next().unwrap().clone(), units.next().unwrap().clone());
    backfill_march(&suite, &early, 3).await;
    backfill_march(&suite, &late, 7).await;
    let mut admin = suite.notices(Caller::Admin);
    let mut leader = suite.notices(&suite.issue_token(dpb::Role::Leadership, "").await);

    // Three days before the due day: a REMINDER for every unit owing March (`early`
    // had not sent anything by the end of 04-02 either).
    let reminded = evaluate(&mut admin, 4, 2).await;
    assert_eq!(
        (reminded.due_count, reminded.created_count),
        (owing.len() as i32, owing.len() as i32)
    );
    let reminders = list(&mut leader, of_level(pb::NoticeLevel::Reminder)).await.unwrap();
    assert_eq!(departments(&reminders), owing);
    let one = reminders.iter().find(|n| n.department == late).unwrap();
    assert_eq!(one.name, format!("{PLAN}/notices/2023-04-02~due-soon~{late}~2023-03"));
    assert_eq!(one.rule(), pb::NoticeRule::DueSoon);
    assert_eq!(one.recipient_departments, std::slice::from_ref(&late));
    assert!(one.recipient_roles.is_empty());
    assert_eq!(one.delivery_state(), pb::NoticeDeliveryState::Pending);
    assert_eq!(one.due_date, date(4, 5));
    assert!(!one.reports.is_empty() && one.reports.iter().all(|r| r.ends_with(&format!("~{late}~2023-03"))));
    assert!(one.reason.contains("2023-04-05到期"), "{}", one.reason);

    // The due day: BLUE for exactly the units that had not submitted.
    let blue = evaluate(&mut admin, 4, 5).await;
    let expected_blue: BTreeSet<String> = owing.iter().filter(|d| **d != early).cloned().collect();
    assert_eq!(blue.created_count, expected_blue.len() as i32);
    let blues = list(&mut leader, of_level(pb::NoticeLevel::Blue)).await.unwrap();
    assert_eq!(departments(&blues), expected_blue);

    // The same day again: due, but stored before.
    let again = evaluate(&mut admin, 4, 5).await;
    assert_eq!((again.due_count, again.created_count), (blue.due_count, 0));

    // Five days late: YELLOW, to the unit and leadership, but not for `late`, whose
    // reports came on 04-07.
    let yellow = evaluate(&mut admin, 4, 10).await;
    let expected_yellow: BTreeSet<String> = expected_blue.iter().filter(|d| **d != late).cloned().collect();
    assert_eq!(yellow.created_count, expected_yellow.len() as i32);
    let yellows = list(&mut leader, of_level(pb::NoticeLevel::Yellow)).await.unwrap();
    assert_eq!(departments(&yellows), expected_yellow);
    assert!(yellows.iter().all(|n| n.rule() == pb::NoticeRule::Late
        && n.recipient_roles == [dpb::Role::Leadership as i32]
        && n.reason.starts_with("黄色督办")));

    // After a restart, every day evaluated again stores nothing: the rows are counted.
    let total = owing.len() + expected_blue.len() + expected_yellow.len();
    assert_eq!(list(&mut leader, Default::default()).await.unwrap().len(), total);
    suite.restart(Server::Reporting).await;
    let mut admin = suite.notices(Caller::Admin);
    for (month, day) in [(4, 2), (4, 5), (4, 10), (4, 11)] {
        assert_eq!(evaluate(&mut admin, month, day).await.created_count, 0, "04-{day}");
    }
    assert_eq!(list(&mut admin, Default::default()).await.unwrap().len(), total);

    // `late` sees only its own two notices and acknowledges its BLUE one, once.
    let mut unit = suite.notices(&suite.issue_token(dpb::Role::Department, &late).await);
    let own = list(&mut unit, Default::default()).await.unwrap();
    assert_eq!(
        own.iter().map(|n| n.level()).collect::<Vec<_>>(),
        [pb::NoticeLevel::Blue, pb::NoticeLevel::Reminder],
        "newest day first"
    );
    let naming_other = pb::ListNoticesRequest {
        department: early.clone(),
        ..Default::default()
    };
    let refused = list(&mut unit, naming_other).await.unwrap_err();
    assert_eq!(
        (refused.code(), reason(&refused).as_deref()),
        (Code::PermissionDenied, Some("NOT_OWN_DEPARTMENT"))
    );
    let name = own[0].name.clone();
    let acknowledge = || pb::AcknowledgeNoticeRequest { name: name.clone() };
    let acked = unit.acknowledge_notice(acknowledge()).await.unwrap().into_inner();
    assert_eq!(acked.acknowledged_by, late);
    let first_time = acked.acknowledge_time.unwrap();
    let again = unit.acknowledge_notice(acknowledge()).await.unwrap().into_inner();
    assert_eq!(
        again.acknowledge_time,
        Some(first_time),
        "idempotent: the first time stays"
    );

    // Another unit may neither acknowledge nor read it; leadership may read, not acknowledge.
    let mut other = suite.notices(&suite.issue_token(dpb::Role::Department, &early).await);
    for status in [
        other.acknowledge_notice(acknowledge()).await.unwrap_err(),
        other
            .get_notice(pb::GetNoticeRequest { name: name.clone() })
            .await
            .unwrap_err(),
    ] {
        assert_eq!(
            (status.code(), reason(&status).as_deref()),
            (Code::PermissionDenied, Some("NOTICE_NOT_ADDRESSED"))
        );
    }
    let status = leader.acknowledge_notice(acknowledge()).await.unwrap_err();
    assert_eq!(reason(&status).as_deref(), Some("ROLE_NOT_ALLOWED"));
    let read = leader
        .get_notice(pb::GetNoticeRequest { name: name.clone() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read.acknowledge_time, Some(first_time));
    let missing = leader
        .get_notice(pb::GetNoticeRequest {
            name: format!("{PLAN}/notices/2023-04-05~overdue~nobody~2023-03"),
        })
        .await
        .unwrap_err();
    assert_eq!(
        (missing.code(), reason(&missing).as_deref()),
        (Code::NotFound, Some("NOTICE_NOT_FOUND"))
    );

    // The filters: acknowledged or not, by unit and level together.
    let acknowledged = |yes| pb::ListNoticesRequest {
        acknowledged: Some(yes),
        ..Default::default()
    };
    assert_eq!(list(&mut leader, acknowledged(true)).await.unwrap().len(), 1);
    assert_eq!(list(&mut leader, acknowledged(false)).await.unwrap().len(), total - 1);
    let late_blue = pb::ListNoticesRequest {
        department: late.clone(),
        level: pb::NoticeLevel::Blue as i32,
        ..Default::default()
    };
    assert_eq!(list(&mut leader, late_blue).await.unwrap(), [read]);

    // Acknowledgements, refusals and evaluations by hand are audited.
    let audited = suite
        .reporting(Caller::Admin)
        .list_audit_records(pb::ListAuditRecordsRequest {
            method: "/duban.reporting.v1.NoticesService/AcknowledgeNotice".into(),
            page_size: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .audit_records;
    assert_eq!(audited.len(), 4, "two acknowledgements, two refusals: {audited:?}");

    // A day after today is refused.
    let tomorrow = chrono::Utc::now().date_naive() + chrono::Duration::days(2);
    let refused = admin
        .evaluate_notices(pb::EvaluateNoticesRequest {
            parent: PLAN.into(),
            as_of: Some(common::Date {
                year: tomorrow.year(),
                month: tomorrow.month() as i32,
                day: tomorrow.day() as i32,
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(field_violations(&refused)[0].field, "as_of");
    suite.stop().await;
}

/// The daily run on a clock fixed at 2023-04-05 10:00 in Shanghai: at start-up it
/// evaluates the due day (its 09:00 has passed) and stores a BLUE notice for every unit
/// owing March; a restart runs it again and stores nothing more.
async fn the_daily_run_evaluates_the_day_at_start_up_and_stores_once(backend: Backend) {
    let ten = chrono::NaiveDate::from_ymd_opt(2023, 4, 5)
        .unwrap()
        .and_hms_opt(2, 0, 0)
        .unwrap()
        .and_utc();
    let options = Options {
        follow_up_clock: Clock::fixed(ten),
        ..Options::default()
    };
    let Some(mut suite) = Suite::builder(backend)
        .with(Server::Reporting)
        .reporting_options(options)
        .start()
        .await
    else {
        return;
    };
    let owing = owing_march(&suite).await;
    let runs = |suite: &Suite| {
        let mut admin = suite.reporting(Caller::Admin);
        async move {
            admin
                .list_audit_records(pb::ListAuditRecordsRequest {
                    method: "/duban.reporting.v1.NoticesService/EvaluateNotices".into(),
                    page_size: 100,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
                .audit_records
                .len()
        }
    };
    // The plan may have been imported after reporting's first run: a restart runs again.
    suite.restart(Server::Reporting).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut admin = suite.notices(Caller::Admin);
    let blues = loop {
        let blues = list(&mut admin, of_level(pb::NoticeLevel::Blue)).await.unwrap();
        if !blues.is_empty() || Instant::now() > deadline {
            break blues;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(departments(&blues), owing);
    assert!(blues.iter().all(|n| n.name.contains("/notices/2023-04-05~overdue~")));
    let total = list(&mut admin, Default::default()).await.unwrap().len();
    assert_eq!(total, owing.len(), "only the day's BLUE notices");

    let before = runs(&suite).await;
    suite.restart(Server::Reporting).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while runs(&suite).await == before {
        assert!(Instant::now() < deadline, "the restarted server ran the day again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut admin = suite.notices(Caller::Admin);
    assert_eq!(list(&mut admin, Default::default()).await.unwrap().len(), total);
    suite.stop().await;
}

duban_kit::backend_tests!(
    follow_up_reminds_escalates_and_stores_each_notice_once,
    the_daily_run_evaluates_the_day_at_start_up_and_stores_once
);
