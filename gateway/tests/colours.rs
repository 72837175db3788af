//! Issue 14's two colours and dates, end to end: delivery and reporting discipline rated
//! apart on every surface (gRPC, JSON, CSV, pages), and a plan that has ended shown on
//! its last day, with lateness counted up to it.

mod common;

use chrono::NaiveDate;
use common::{Caller, PLAN, ReportKey, Suite, http_get, start_local_suite};
use duban_kit::testing::Backend;
use duban_proto::{
    common::v1::Date,
    gateway::v1::{self as pb, RagStatus},
    reporting::v1 as rpb,
};

/// The measure of the demo-like situation: three responsible units, one target
/// (worker-relay-stations, at least 4, reported by one of them).
const MEASURE: &str = "2.2";

fn date(year: i32, month: i32, day: i32) -> Date {
    Date { year, month, day }
}

async fn overview(suite: &Suite, as_of: Option<Date>) -> pb::Overview {
    suite
        .dashboard(suite.admin_token())
        .get_overview(pb::GetOverviewRequest {
            plan: PLAN.into(),
            as_of,
        })
        .await
        .unwrap()
        .into_inner()
        .overview
        .unwrap()
}

/// Backfills, on time, the March and April reports of every unit of `MEASURE` but one
/// (which is returned): on track, each owed target at 4, its whole value.
async fn all_but_one_report_on_time(suite: &Suite) -> String {
    let mut units: Vec<_> = suite
        .responsibilities()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.measure == MEASURE)
        .collect();
    assert!(units.len() >= 3, "{units:?}");
    // The unit that owes the target reports; the last of the others does not.
    units.sort_by_key(|r| r.owed.is_empty());
    let silent = units.pop().unwrap();
    assert!(silent.owed.is_empty());
    let mut items = Vec::new();
    for unit in &units {
        for month in 3..=4 {
            let request_id = uuid::Uuid::new_v4().to_string();
            let submission = ReportKey::new(unit, month).submission("按计划推进".into(), 4, request_id.clone());
            let submit = NaiveDate::from_ymd_opt(2023, month as u32 + 1, 3)
                .unwrap()
                .and_hms_opt(2, 0, 0)
                .unwrap()
                .and_utc();
            items.push(rpb::SubmitReportsRequest {
                parent: PLAN.into(),
                report: submission.report,
                request_id,
                validate_only: false,
                backfill: true,
                submit_time: Some(prost_types::Timestamp {
                    seconds: submit.timestamp(),
                    nanos: 0,
                }),
                ..Default::default()
            });
        }
    }
    let response = suite
        .reporting(Caller::Admin)
        .submit_reports(tokio_stream::iter(items))
        .await
        .unwrap()
        .into_inner();
    for result in &response.results {
        assert!(
            !matches!(result.outcome, Some(rpb::submit_reports_result::Outcome::Error(_))),
            "{result:?}"
        );
    }
    silent.department
}

/// The situation the demo showed as 滞后 everywhere: every target of a measure on its
/// trajectory and one unit's report missing. Delivery is GREEN and discipline RED (one
/// colour made it RED), on the overview, its JSON and CSV, and the pages.
async fn a_missing_report_turns_discipline_red_not_delivery(backend: Backend) {
    let Some(suite) = start_local_suite(backend).await else {
        return;
    };
    let silent = all_but_one_report_on_time(&suite).await;
    let as_of = date(2023, 5, 10);
    let overview = overview(&suite, Some(as_of)).await;
    let measure = overview.measures.iter().find(|m| m.measure_number == MEASURE).unwrap();
    let unit = measure.units.iter().find(|u| u.department == silent).unwrap();
    assert_eq!(unit.compliance, rpb::ComplianceStatus::Missing as i32);
    assert_eq!(measure.rag, RagStatus::Green as i32, "delivery: {measure:?}");
    assert_eq!(measure.discipline, RagStatus::Red as i32, "discipline: {measure:?}");
    let target = overview
        .targets
        .iter()
        .find(|t| t.target.as_ref().is_some_and(|t| t.measure_number == MEASURE))
        .unwrap();
    assert_eq!(target.rag, RagStatus::Green as i32, "{target:?}");
    assert_eq!(
        target.discipline,
        RagStatus::Green as i32,
        "its reporting unit was on time"
    );
    let action = overview.actions.iter().find(|a| a.action_number == 2).unwrap();
    assert_eq!(
        (action.rag, action.discipline),
        (RagStatus::Green as i32, RagStatus::Red as i32)
    );
    let detail = suite
        .dashboard(suite.admin_token())
        .get_measure_detail(pb::GetMeasureDetailRequest {
            plan: PLAN.into(),
            measure_number: MEASURE.into(),
            as_of: Some(as_of),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (detail.rag, detail.discipline),
        (RagStatus::Green as i32, RagStatus::Red as i32)
    );

    let addr = suite.addr(common::Server::Gateway);
    let (status, body) = http_get(addr, "/api/v1/overview?as_of=2023-05-10").await;
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    let measure = json["measures"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["measure_number"] == MEASURE)
        .unwrap();
    assert_eq!(
        (&measure["rag"], &measure["discipline"]),
        (&"green".into(), &"red".into())
    );
    assert_eq!(json["as_of_basis"], "AS_OF_BASIS_REQUESTED");

    let (status, csv) = http_get(addr, "/api/v1/overview.csv?as_of=2023-05-10").await;
    assert_eq!(status, 200);
    assert!(
        csv.lines()
            .next()
            .unwrap()
            .contains("section,number,code,name,rag,discipline,")
    );
    let row = csv.lines().find(|l| l.starts_with("measure,2.2,")).unwrap();
    assert!(row.contains(",green,red,"), "{row}");

    for (path, delivery, reporting) in [
        ("/?as_of=2023-05-10", "进展", "报送"),
        ("/?as_of=2023-05-10&lang=en", "Delivery", "Reporting"),
    ] {
        let (status, page) = http_get(addr, path).await;
        assert_eq!(status, 200, "{page}");
        let row = page
            .lines()
            .find(|l| l.contains(&format!("data-measure=\"{MEASURE}\"")))
            .unwrap_or_else(|| panic!("no row of {MEASURE} on {path}"));
        assert!(
            row.contains("<td class=\"delivery\"><span class=\"badge green\">")
                && row.contains("<td class=\"discipline\"><span class=\"badge discipline red\">"),
            "{row}"
        );
        assert!(page.contains("id=\"rag-legend\""), "{path} has the legend");
        assert!(
            page.contains(&format!("<th>{delivery}</th><th>{reporting}</th>")),
            "{path}"
        );
    }
    let (_, page) = http_get(addr, "/measures/2.2?as_of=2023-05-10&lang=en").await;
    assert!(
        page.contains("Delivery <span class=\"badge green\">Green</span> Reporting <span class=\"badge discipline red\">Missing</span>"),
        "{page}"
    );
}

/// A plan that has ended opens on its last day, says so, and counts lateness up to it:
/// the March reports missing since their due day, 2023-04-05, are 270 days overdue, not
/// counted up to today.
async fn a_plan_that_has_ended_opens_on_its_last_day(backend: Backend) {
    let Some(suite) = start_local_suite(backend).await else {
        return;
    };
    let overview = overview(&suite, None).await;
    assert_eq!(overview.as_of, Some(date(2023, 12, 31)));
    assert_eq!(overview.as_of_basis, pb::AsOfBasis::PlanEnd as i32);
    let late = &overview.compliance.as_ref().unwrap().late_units;
    assert!(!late.is_empty());
    assert!(late.iter().all(|u| u.max_days_overdue == 270), "{late:?}");
    let alerts = suite
        .dashboard(suite.admin_token())
        .list_alerts(pb::ListAlertsRequest {
            plan: PLAN.into(),
            kinds: vec![pb::AlertKind::ReportOverdue as i32],
            page_size: 500,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let days: Vec<i32> = alerts
        .alerts
        .iter()
        .filter_map(|a| match &a.details {
            Some(pb::alert::Details::OverdueReport(o)) => Some(o.days_overdue),
            _ => None,
        })
        .collect();
    assert!(days.contains(&270) && days.iter().all(|d| *d <= 270), "{days:?}");
    // Asked for, a date is kept, and no note is shown.
    let asked = overview_at(&suite, date(2023, 6, 30)).await;
    assert_eq!(asked.as_of_basis, pb::AsOfBasis::Requested as i32);

    let addr = suite.addr(common::Server::Gateway);
    let (_, page) = http_get(addr, "/").await;
    assert!(page.contains("计划已于 2023-12-31 结束，显示截至该日的情况"), "{page}");
    let (_, page) = http_get(addr, "/?lang=en").await;
    assert!(
        page.contains("The plan ended on 2023-12-31; showing its state on that day"),
        "{page}"
    );
    let (_, page) = http_get(addr, "/?as_of=2023-06-30").await;
    assert!(!page.contains("id=\"as-of-note\""));
    // A measure's page and a unit's say so too.
    for path in ["/measures/4.2", "/departments/anting-town"] {
        let (status, page) = http_get(addr, path).await;
        assert_eq!(status, 200, "{path}");
        assert!(
            page.contains("计划已于 2023-12-31 结束，显示截至该日的情况"),
            "{path}: {page}"
        );
        let (_, page) = http_get(addr, &format!("{path}?as_of=2023-06-30")).await;
        assert!(!page.contains("id=\"as-of-note\""), "{path}");
    }
    let (_, body) = http_get(addr, "/api/v1/overview").await;
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["as_of"], "2023-12-31");
    assert_eq!(json["as_of_basis"], "AS_OF_BASIS_PLAN_END");
}

async fn overview_at(suite: &Suite, as_of: Date) -> pb::Overview {
    overview(suite, Some(as_of)).await
}

duban_kit::backend_tests!(
    a_missing_report_turns_discipline_red_not_delivery,
    a_plan_that_has_ended_opens_on_its_last_day,
);
