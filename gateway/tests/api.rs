//! The gateway end to end: departments, targets, measures and reporting servers and the
//! gateway on ephemeral ports, the Jiading plan imported, reports submitted through
//! the gateway's front door, and the dashboard following them as the RAG rules say;
//! then reporting stopped (the overview is partial and names it) and restarted (it
//! recovers by itself).

mod common;

use rust_decimal::Decimal;
use std::time::Duration;

/// An amount of the contract as a number; unset is 0 (as for a baseline).
fn amount(value: &Option<duban_proto::common::v1::Decimal>) -> Decimal {
    value.as_ref().map_or(Decimal::ZERO, |v| v.to_decimal().unwrap())
}

use common::{Caller, GatewaySuite, PLAN, Server, http_get, http_request, start_local_suite, start_suite};
use duban_kit::testing::{self, Backend};
use duban_proto::{
    common::v1::{Aggregation, Comparator, Period, ValueBasis},
    departments::v1::{self as dpb, ListDepartmentsRequest, departments_service_client::DepartmentsServiceClient},
    gateway::v1::{self as pb, RagStatus},
    reporting::v1::{self as rpb, reporting_service_client::ReportingServiceClient},
};
use tonic::Code;

fn target_of<'a>(overview: &'a pb::Overview, code: &str) -> &'a pb::TargetStatus {
    overview
        .targets
        .iter()
        .find(|t| t.target.as_ref().is_some_and(|t| t.code == code))
        .expect("target in the overview")
}

async fn follows_reports_through_the_front_door(backend: Backend) {
    // The pages and CSV are read as the local user of `duban up`; sign-in is front_door.rs's.
    let Some(mut suite) = start_local_suite(backend).await else {
        return;
    };
    let mut dashboard = suite.dashboard(suite.admin_token());
    let overview = suite.overview(&mut dashboard).await;
    assert_eq!(overview.actions.len(), 10, "ten actions");
    assert_eq!(overview.measures.len(), 29);
    assert!(overview.targets.len() >= 20, "{} targets", overview.targets.len());
    assert!(overview.unreachable.is_empty(), "{:?}", overview.unreachable);
    let compliance = overview.compliance.clone().expect("compliance");
    assert!(compliance.expected_count > 0 && compliance.received_count == 0);
    assert!(!compliance.late_units.is_empty());

    // A cumulative, authoritative target to reach, large enough for whole numbers.
    let status = overview
        .targets
        .iter()
        .find(|t| {
            let t = t.target.as_ref().unwrap();
            t.aggregation == Aggregation::Authoritative as i32
                && t.value_basis == ValueBasis::Cumulative as i32
                && matches!(
                    Comparator::try_from(t.comparator),
                    Ok(Comparator::AtLeast | Comparator::MoreThan)
                )
                && amount(&t.value) - amount(&t.baseline) >= Decimal::ONE_HUNDRED
        })
        .expect("a cumulative authoritative target");
    let target = status.target.clone().unwrap();
    assert_eq!(status.rag, RagStatus::Red as i32, "due reports and no value: RED");
    assert_eq!(status.actual, None);
    let department = target.reporting_departments[0].clone();
    let value = amount(&target.value);
    let change = value - amount(&target.baseline);

    // Submitted through the gateway: the call is forwarded to reporting.
    let reporting =
        ReportingServiceClient::new(testing::channel(suite.addr(Server::Gateway), Some(suite.admin_token())));
    let others = suite
        .final_values(&target.measure_number, &department, &target.code, "0")
        .await;
    let submit = |month: i32, value: Decimal, status: rpb::OverallStatus, blockers: Vec<rpb::Blocker>| {
        let mut metric_values = others.clone();
        if let Some(own) = metric_values.iter_mut().find(|v| v.target_code == target.code) {
            own.value = Some(value.into());
        }
        let report = rpb::Report {
            measure_number: target.measure_number.clone(),
            department: department.clone(),
            period: Some(Period { year: 2023, month }),
            overall_status: status as i32,
            narrative: "本月进展".into(),
            metric_values,
            blockers,
            ..Default::default()
        };
        let mut client = reporting.clone();
        async move {
            client
                .submit_report(rpb::SubmitReportRequest {
                    parent: PLAN.into(),
                    report: Some(report),
                    request_id: uuid::Uuid::new_v4().to_string(),
                    validate_only: false,
                    ..Default::default()
                })
                .await
                .map(|r| r.into_inner())
        }
    };

    // A live watcher, opened before the change.
    let mut watch = dashboard
        .watch_overview(pb::WatchOverviewRequest {
            plan: PLAN.into(),
            as_of: Some(common::today()),
        })
        .await
        .unwrap()
        .into_inner();
    let first = watch.message().await.unwrap().unwrap();
    assert!(first.changed_reports.is_empty());

    let stored = submit(12, value, rpb::OverallStatus::OnTrack, vec![]).await.unwrap();
    let pushed = tokio::time::timeout(Duration::from_secs(15), watch.message())
        .await
        .expect("a push after the report")
        .unwrap()
        .unwrap();
    assert_eq!(pushed.changed_reports, std::slice::from_ref(&stored.name));
    let live = target_of(pushed.overview.as_ref().unwrap(), &target.code);
    assert_eq!(live.rag, RagStatus::Green as i32);

    let overview = suite.overview(&mut dashboard).await;
    let now = target_of(&overview, &target.code);
    assert_eq!(now.actual, target.value);
    assert_eq!(now.rag, RagStatus::Green as i32, "at the expected value: GREEN");
    assert_eq!(now.percent_complete, Some(100.0));
    assert!(now.forecast.is_some());
    assert_eq!(overview.compliance.as_ref().unwrap().received_count, 1);

    // Within 10 % of the planned change below: AMBER; beyond: RED.
    let amber = value - (change * Decimal::new(5, 2)).ceil();
    submit(12, amber, rpb::OverallStatus::AtRisk, vec![]).await.unwrap();
    let overview = suite.overview(&mut dashboard).await;
    assert_eq!(target_of(&overview, &target.code).rag, RagStatus::Amber as i32);
    let red = value - (change * Decimal::new(5, 1)).ceil();
    let helper = suite.other_department(&department).await;
    submit(
        12,
        red,
        rpb::OverallStatus::OffTrack,
        vec![rpb::Blocker {
            description: "用地指标不足，需协调".into(),
            severity: rpb::BlockerSeverity::High as i32,
            support_unit: helper.clone(),
            ..Default::default()
        }],
    )
    .await
    .unwrap();
    let overview = suite.overview(&mut dashboard).await;
    assert_eq!(target_of(&overview, &target.code).rag, RagStatus::Red as i32);
    let measure = overview
        .measures
        .iter()
        .find(|m| m.measure_number == target.measure_number)
        .unwrap();
    assert_eq!(measure.rag, RagStatus::Red as i32);
    assert_eq!(measure.open_blocker_count, 1);
    let unit = measure.units.iter().find(|u| u.department == department).unwrap();
    assert_eq!(unit.latest_status, rpb::OverallStatus::OffTrack as i32);
    assert!(unit.latest_report.ends_with("@3"), "{}", unit.latest_report);

    // Measure detail, scorecard and alerts agree.
    let detail = dashboard
        .get_measure_detail(pb::GetMeasureDetailRequest {
            plan: PLAN.into(),
            measure_number: target.measure_number.clone(),
            as_of: Some(common::today()),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(detail.rag, RagStatus::Red as i32);
    assert_eq!(detail.open_blockers.len(), 1);
    assert_eq!(detail.latest_reports.len(), 1);
    let series = &detail
        .targets
        .iter()
        .find(|t| t.status.as_ref().unwrap().target.as_ref().unwrap().code == target.code)
        .unwrap()
        .series;
    assert_eq!(series.last().unwrap().actual, Some(red.into()));
    let scorecard = dashboard
        .get_department_scorecard(pb::GetDepartmentScorecardRequest {
            plan: PLAN.into(),
            department: department.clone(),
            as_of: Some(common::today()),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        scorecard
            .measures
            .iter()
            .any(|m| m.measure_number == target.measure_number)
    );
    assert!(scorecard.contributions.iter().any(|c| c.target_code == target.code));
    assert!(!scorecard.calendar.is_empty());
    let support = dashboard
        .list_alerts(pb::ListAlertsRequest {
            plan: PLAN.into(),
            as_of: Some(common::today()),
            department: helper.clone(),
            kinds: vec![pb::AlertKind::SupportRequested as i32],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(support.alerts.len(), 1, "the support request is addressed to {helper}");
    let all = dashboard
        .list_alerts(pb::ListAlertsRequest {
            plan: PLAN.into(),
            as_of: Some(common::today()),
            page_size: 500,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(all.alerts[0].kind, pb::AlertKind::TargetOffTrack as i32);
    assert!(all.alerts.iter().any(|a| a.kind == pb::AlertKind::ReportOverdue as i32));
    assert!(all.alerts.windows(2).all(|w| w[0].kind <= w[1].kind), "ordered by kind");
    assert!(!all.next_page_token.is_empty());

    // Errors: a future date and an unknown measure.
    let future = dashboard
        .get_overview(pb::GetOverviewRequest {
            plan: PLAN.into(),
            as_of: Some(duban_proto::common::v1::Date {
                year: 2999,
                month: 1,
                day: 1,
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(future.code(), Code::InvalidArgument);
    let missing = dashboard
        .get_measure_detail(pb::GetMeasureDetailRequest {
            plan: PLAN.into(),
            measure_number: "99.9".into(),
            as_of: Some(common::today()),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);

    // The other services' RPCs, health and the JSON API on the same port.
    let mut departments =
        DepartmentsServiceClient::new(testing::channel(suite.addr(Server::Gateway), Some(suite.admin_token())));
    let listed = departments
        .list_departments(ListDepartmentsRequest {
            page_size: 10,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.departments.len(), 10);
    testing::wait_serving(
        suite.addr(Server::Gateway),
        duban_gateway::SERVICE_NAME,
        Duration::from_secs(5),
    )
    .await;
    let (status, body) = http_get(suite.addr(Server::Gateway), "/api/v1/overview").await;
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["actions"].as_array().unwrap().len(), 10);
    // Figures the plan states with 力争 or 计划 carry the flag through the contract and
    // the JSON API, and the pages mark them; committed figures are not marked.
    let flagged = |code: &str| {
        json["targets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["code"] == code)
            .map(|t| t["aspirational"].clone())
    };
    assert_eq!(flagged("headquarters-enterprises"), Some(serde_json::json!(true)));
    assert_eq!(flagged("new-enterprises"), Some(serde_json::json!(false)));
    let (status, page) = http_get(suite.addr(Server::Gateway), "/measures/7.3").await;
    assert_eq!(status, 200);
    assert!(
        page.contains("class=\"aspirational\"") && page.contains(">力争</span>"),
        "{page}"
    );
    let (_, page) = http_get(suite.addr(Server::Gateway), "/?lang=en").await;
    assert_eq!(
        page.matches(">aspirational</span>").count(),
        7,
        "the seven 力争 / 计划 figures"
    );
    let (_, page) = http_get(suite.addr(Server::Gateway), "/measures/4.1").await;
    assert!(!page.contains("class=\"aspirational\""), "{page}");
    let (status, csv) = http_get(suite.addr(Server::Gateway), "/api/v1/overview.csv").await;
    assert_eq!(status, 200);
    assert!(csv.contains(&target.code));
    let (status, csv) = http_get(suite.addr(Server::Gateway), "/api/v1/reports.csv").await;
    assert_eq!(status, 200);
    assert!(csv.contains(&stored.name), "{csv}");
    let (status, metrics) = http_get(suite.metrics_addr(Server::Gateway), "/metrics").await;
    assert_eq!(status, 200);
    assert!(
        metrics.contains(r#"duban_gateway_http_requests_total{route="/api/v1/reports.csv",status="200"} 1"#),
        "{metrics}"
    );

    // Where the unit's latest report came from: a revision declared as uploaded in a
    // workbook (the same figures) shows so on the measure and department pages, in the
    // JSON API and in the reports export.
    let mut metric_values = others.clone();
    if let Some(own) = metric_values.iter_mut().find(|v| v.target_code == target.code) {
        own.value = Some(red.into());
    }
    let uploaded = reporting
        .clone()
        .submit_report(rpb::SubmitReportRequest {
            parent: PLAN.into(),
            report: Some(rpb::Report {
                measure_number: target.measure_number.clone(),
                department: department.clone(),
                period: Some(Period { year: 2023, month: 12 }),
                overall_status: rpb::OverallStatus::OffTrack as i32,
                narrative: "本月进展".into(),
                metric_values,
                ..Default::default()
            }),
            request_id: uuid::Uuid::new_v4().to_string(),
            source: rpb::ReportSource::Workbook as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(uploaded.source, rpb::ReportSource::Workbook as i32);
    let gateway = suite.addr(Server::Gateway);
    let unit_row = |page: &str, link: &str| {
        page.split("<tr>")
            .find(|row| row.contains(link))
            .unwrap_or_else(|| panic!("no row with {link} in {page}"))
            .to_owned()
    };
    // Today: the plan has ended, so the pages would otherwise show its last day, before
    // this revision.
    let as_of = format!("?as_of={}", common::today_param());
    for (lang, label) in [("", "表格上传"), ("&lang=en", "workbook")] {
        let measure = format!("/measures/{}", target.measure_number);
        let unit = format!("/departments/{department}");
        let (_, page) = http_get(gateway, &format!("{measure}{as_of}{lang}")).await;
        let row = unit_row(&page, &format!("href=\"{unit}?"));
        assert!(row.contains(&format!("<td class=\"source\">{label}</td>")), "{row}");
        let (_, page) = http_get(gateway, &format!("{unit}{as_of}{lang}")).await;
        let row = unit_row(&page, &format!("href=\"{measure}?"));
        assert!(row.contains(&format!("<td class=\"source\">{label}</td>")), "{row}");
    }
    let (_, body) = http_get(gateway, &format!("/api/v1/measures/{}{as_of}", target.measure_number)).await;
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    let unit = json["units"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["department"] == department.as_str())
        .unwrap();
    assert_eq!(unit["latest_source"], "REPORT_SOURCE_WORKBOOK", "{unit}");
    let (_, csv) = http_get(gateway, "/api/v1/reports.csv").await;
    let row = csv
        .lines()
        .find(|line| line.starts_with(&format!("{},", uploaded.name.split('@').next().unwrap())))
        .unwrap_or_else(|| panic!("{} in {csv}", uploaded.name));
    assert!(row.contains(",REPORT_SOURCE_WORKBOOK,"), "{row}");

    // Reporting stops: the overview is partial and names it; the page shows a banner.
    suite.shut_down(Server::Reporting).await;
    let overview = suite.overview(&mut dashboard).await;
    // Both services of the reporting server: the reports and the follow-up.
    assert_eq!(
        overview.unreachable,
        [
            "duban.reporting.v1.NoticesService",
            "duban.reporting.v1.ReportingService"
        ]
    );
    assert!(overview.follow_up.is_none());
    assert_eq!(overview.actions.len(), 10);
    assert!(overview.compliance.is_none());
    let (status, page) = http_get(suite.addr(Server::Gateway), "/").await;
    assert_eq!(status, 200);
    assert!(page.contains("id=\"unreachable\"") && page.contains("duban.reporting.v1.ReportingService"));
    let (_, metrics) = http_get(suite.metrics_addr(Server::Gateway), "/metrics").await;
    let partial: f64 = metrics
        .lines()
        .find_map(|line| {
            line.strip_prefix(
                r#"duban_gateway_unreachable_services_total{service="duban.reporting.v1.ReportingService"} "#,
            )
        })
        .unwrap_or_else(|| panic!("no overview counted without reporting: {metrics}"))
        .parse()
        .unwrap();
    assert!(partial >= 2.0, "the overview over gRPC and the page's: {partial}");

    // ... and restarts: everything recovers by itself.
    suite.restart(Server::Reporting).await;
    let mut recovered = false;
    for _ in 0..50 {
        let overview = suite.overview(&mut dashboard).await;
        if overview.unreachable.is_empty() {
            assert_eq!(target_of(&overview, &target.code).actual, Some(red.into()));
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(recovered, "the overview recovers once reporting is back");
    suite.stop().await;
}

async fn department_callers_see_only_their_own(backend: Backend) {
    let Some(suite) = start_suite(backend).await else {
        return;
    };
    let token = suite
        .issue_token(duban_proto::departments::v1::Role::Department, "nanxiang-town")
        .await;
    let mut dashboard = suite.dashboard(&token);
    let denied = dashboard
        .get_overview(pb::GetOverviewRequest {
            plan: PLAN.into(),
            as_of: None,
        })
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    let other = dashboard
        .get_department_scorecard(pb::GetDepartmentScorecardRequest {
            plan: PLAN.into(),
            department: "anting-town".into(),
            as_of: None,
        })
        .await
        .unwrap_err();
    assert_eq!(other.code(), Code::PermissionDenied);
    let own = dashboard
        .get_department_scorecard(pb::GetDepartmentScorecardRequest {
            plan: PLAN.into(),
            department: "nanxiang-town".into(),
            as_of: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!own.measures.is_empty());
    let alerts = dashboard
        .list_alerts(pb::ListAlertsRequest {
            plan: PLAN.into(),
            department: "anting-town".into(),
            kinds: vec![pb::AlertKind::ReportOverdue as i32],
            page_size: 500,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!alerts.alerts.is_empty());
    assert!(alerts.alerts.iter().all(|a| match &a.details {
        Some(pb::alert::Details::OverdueReport(o)) => o.department == "nanxiang-town",
        _ => false,
    }));
    let anonymous = suite.dashboard("dbn_not_a_token");
    let refused = anonymous
        .clone()
        .get_overview(pb::GetOverviewRequest {
            plan: PLAN.into(),
            as_of: None,
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);
    suite.stop().await;
}

/// Under contract 1.1 a report lists only its revision's blocker changes: a blocker
/// raised in October and not mentioned in November stays on the dashboard (overview
/// count, measure detail, support alert) until a report resolves it by name.
async fn open_blockers_stay_until_resolved(backend: Backend) {
    let Some(suite) = start_suite(backend).await else {
        return;
    };
    let mut dashboard = suite.dashboard(suite.admin_token());
    let overview = suite.overview(&mut dashboard).await;
    let first = overview.targets[0].target.clone().expect("a target");
    let (measure, department) = (first.measure_number.clone(), first.reporting_departments[0].clone());
    // Every value the department reports on the measure, so the report is complete.
    let values: Vec<rpb::MetricValue> = overview
        .targets
        .iter()
        .filter_map(|t| t.target.as_ref())
        .filter(|t| t.measure_number == measure && t.reporting_departments.contains(&department))
        .map(|t| rpb::MetricValue {
            target_code: t.code.clone(),
            value: t.value.clone(),
            unit: t.unit,
            basis: t.value_basis,
        })
        .collect();
    let helper = suite.other_department(&department).await;
    let mut reporting = suite.reporting(Caller::Admin);
    let mut submit = async |month: i32, blockers: Vec<rpb::Blocker>| {
        reporting
            .submit_report(rpb::SubmitReportRequest {
                parent: PLAN.into(),
                report: Some(rpb::Report {
                    measure_number: measure.clone(),
                    department: department.clone(),
                    period: Some(Period { year: 2023, month }),
                    overall_status: rpb::OverallStatus::AtRisk as i32,
                    narrative: "本月进展".into(),
                    metric_values: values.clone(),
                    blockers,
                    ..Default::default()
                }),
                request_id: uuid::Uuid::new_v4().to_string(),
                validate_only: false,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
    };
    let october = submit(
        10,
        vec![rpb::Blocker {
            description: "用地指标不足，需协调".into(),
            severity: rpb::BlockerSeverity::High as i32,
            support_unit: helper.clone(),
            ..Default::default()
        }],
    )
    .await;
    let name = october.blockers[0].name.clone();
    submit(11, vec![]).await;

    let detail = |as_of: Option<duban_proto::common::v1::Date>| {
        let mut dashboard = dashboard.clone();
        let measure = measure.clone();
        async move {
            dashboard
                .get_measure_detail(pb::GetMeasureDetailRequest {
                    plan: PLAN.into(),
                    measure_number: measure,
                    as_of,
                })
                .await
                .unwrap()
                .into_inner()
        }
    };
    let support_alerts = || {
        let mut dashboard = dashboard.clone();
        let helper = helper.clone();
        async move {
            dashboard
                .list_alerts(pb::ListAlertsRequest {
                    plan: PLAN.into(),
                    as_of: Some(common::today()),
                    department: helper,
                    kinds: vec![pb::AlertKind::SupportRequested as i32],
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
                .alerts
        }
    };
    let open_count = |overview: &pb::Overview| {
        overview
            .measures
            .iter()
            .find(|m| m.measure_number == measure)
            .map(|m| m.open_blocker_count)
    };

    // Carried forward: November's report does not list it, and it is still shown.
    let mut overviews = dashboard.clone();
    assert_eq!(open_count(&suite.overview(&mut overviews).await), Some(1));
    let shown = detail(Some(common::today())).await;
    assert_eq!(shown.open_blockers.len(), 1);
    let open = &shown.open_blockers[0];
    assert_eq!(open.blocker.as_ref().unwrap().name, name);
    assert_eq!(open.department, department);
    assert_eq!(open.period, Some(Period { year: 2023, month: 10 }));
    assert!(
        open.report.ends_with(&format!("~{department}~2023-10")),
        "{}",
        open.report
    );
    let alerts = support_alerts().await;
    assert_eq!(alerts.len(), 1, "the support request is still addressed to {helper}");
    // A view of a date before it was raised does not show it.
    let before = detail(Some(duban_proto::common::v1::Date {
        year: 2023,
        month: 12,
        day: 31,
    }))
    .await;
    assert!(before.open_blockers.is_empty());

    // Resolved by name: gone from every view.
    submit(
        12,
        vec![rpb::Blocker {
            name: name.clone(),
            resolve: true,
            ..Default::default()
        }],
    )
    .await;
    assert_eq!(open_count(&suite.overview(&mut overviews).await), Some(0));
    assert!(detail(Some(common::today())).await.open_blockers.is_empty());
    assert!(support_alerts().await.is_empty());
    suite.stop().await;
}

/// Every overview the gateway has computed, by any route: its `gateway_overviews` counter.
async fn overviews_computed(suite: &common::Suite) -> f64 {
    let (_, metrics) = http_get(suite.metrics_addr(Server::Gateway), "/metrics").await;
    metrics
        .lines()
        .filter_map(|line| line.strip_prefix("duban_gateway_overviews_total{"))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// WatchOverview under the stream rules of SECURITY.md: every watcher of one (plan,
/// as_of) gets the overview of ONE computation per change; one token holds at most
/// `server.max_streams_per_credential` streams (RESOURCE_EXHAUSTED, TOO_MANY_STREAMS
/// beyond) and gets its place back when one closes; a revoked token's stream ends with
/// UNAUTHENTICATED, CREDENTIAL_REVOKED, within the revocation window, though nothing
/// changed meanwhile.
async fn watch_streams_are_shared_bounded_and_revocable(backend: Backend) {
    let Some(suite) = common::Suite::builder(backend)
        .all()
        .configure(|settings| {
            settings.server.max_streams_per_credential = 2;
            settings.auth.cache_ttl_seconds = 1;
        })
        .start()
        .await
    else {
        return;
    };
    let request = || pb::WatchOverviewRequest {
        plan: PLAN.into(),
        as_of: None,
    };
    let leadership = suite.issue_token(dpb::Role::Leadership, "").await;
    let mut watchers = Vec::new();
    for caller in [leadership.as_str(), leadership.as_str(), suite.admin_token()] {
        let mut watcher = suite
            .dashboard(caller)
            .watch_overview(request())
            .await
            .unwrap()
            .into_inner();
        let first = watcher.message().await.unwrap().unwrap();
        assert!(first.overview.is_some());
        watchers.push(watcher);
    }
    let refused = suite
        .dashboard(leadership.as_str())
        .watch_overview(request())
        .await
        .expect_err("a third stream of one token");
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert_eq!(duban_kit::status::reason(&refused).as_deref(), Some("TOO_MANY_STREAMS"));

    // One report, three watchers: one overview computed, the same one pushed to each.
    let before = overviews_computed(&suite).await;
    let responsibility = suite.responsibilities().await.unwrap().remove(0);
    let key = common::ReportKey::new(&responsibility, 3);
    let stored = suite
        .reporting(Caller::Admin)
        .submit_report(key.submission("三月进展".into(), 1, uuid::Uuid::new_v4().to_string()))
        .await
        .unwrap()
        .into_inner();
    let mut pushed = Vec::new();
    for watcher in &mut watchers {
        let push = tokio::time::timeout(Duration::from_secs(15), watcher.message())
            .await
            .expect("a push after the report")
            .unwrap()
            .unwrap();
        assert_eq!(push.changed_reports, std::slice::from_ref(&stored.name));
        pushed.push(push.overview.unwrap().compute_time);
    }
    assert!(pushed.windows(2).all(|pair| pair[0] == pair[1]), "{pushed:?}");
    assert_eq!(
        overviews_computed(&suite).await - before,
        1.0,
        "one computation for three watchers"
    );

    // A closed stream gives its place back.
    drop(watchers.remove(0));
    let mut again = None;
    for _ in 0..50 {
        match suite.dashboard(leadership.as_str()).watch_overview(request()).await {
            Ok(stream) => {
                again = Some(stream.into_inner());
                break;
            }
            Err(status) => assert_eq!(status.code(), Code::ResourceExhausted),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut again = again.expect("the place of the closed stream");
    again.message().await.unwrap().unwrap();

    // Revoked: the stream ends by itself within the window (1 s here), no change needed.
    let credential = suite
        .departments(Caller::Admin)
        .list_credentials(dpb::ListCredentialsRequest {
            page_size: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .credentials
        .into_iter()
        .find(|c| c.role == dpb::Role::Leadership as i32)
        .expect("the leadership credential");
    suite
        .departments(Caller::Admin)
        .revoke_credential(dpb::RevokeCredentialRequest {
            name: credential.name,
            request_id: uuid::Uuid::new_v4().to_string(),
        })
        .await
        .unwrap();
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match again.message().await {
                Ok(Some(_)) => continue,
                Ok(None) => panic!("the stream ended without saying why"),
                Err(status) => return status,
            }
        }
    })
    .await
    .expect("the revoked token's stream ends within the revocation window");
    assert_eq!(ended.code(), Code::Unauthenticated, "{ended:?}");
    assert_eq!(duban_kit::status::reason(&ended).as_deref(), Some("CREDENTIAL_REVOKED"));
    // The administrator's stream goes on.
    drop(watchers);
    suite.stop().await;
}

/// A unit's page shows its open supervision orders and the follow-up notices of the 30
/// days up to the date shown: in the gRPC scorecard, to the unit itself, and in the
/// page's HTML and JSON, to leadership; another unit's orders are not among them.
async fn the_department_page_shows_its_orders_and_recent_notices(backend: Backend) {
    use duban_proto::{
        common::v1::Date,
        departments::v1::Role,
        reporting::v1::{self as rpb, supervision_orders_service_client::SupervisionOrdersServiceClient},
    };
    let Some(suite) = start_suite(backend).await else {
        return;
    };
    let mut orders = SupervisionOrdersServiceClient::new(suite.channel(Server::Reporting, Caller::Admin));
    let order = |department: &str, title: &str| rpb::OpenOrderRequest {
        parent: PLAN.into(),
        order: Some(rpb::Order {
            title: title.into(),
            level: rpb::OrderLevel::Yellow as i32,
            text: "请书面说明进展。".into(),
            departments: vec![department.into()],
            response_due: Some(Date {
                year: 2099,
                month: 12,
                day: 31,
            }),
            ..Default::default()
        }),
        request_id: format!("page-{department}"),
    };
    orders
        .open_order(order("nanxiang-town", "关于南翔镇签约项目的督办"))
        .await
        .unwrap();
    orders
        .open_order(order("anting-town", "关于安亭镇的督办"))
        .await
        .unwrap();
    // The March reports' due day: nobody has reported, so every unit gets a BLUE notice.
    suite
        .notices(Caller::Admin)
        .evaluate_notices(rpb::EvaluateNoticesRequest {
            parent: PLAN.into(),
            as_of: Some(Date {
                year: 2023,
                month: 4,
                day: 5,
            }),
        })
        .await
        .unwrap();

    let token = suite.issue_token(Role::Department, "nanxiang-town").await;
    // The unit reads (已阅) one of its notices: leadership sees that, and how long after.
    let first = suite
        .notices(Caller::Token(&token))
        .list_notices(rpb::ListNoticesRequest {
            parent: PLAN.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .notices
        .remove(0);
    suite
        .notices(Caller::Token(&token))
        .acknowledge_notice(rpb::AcknowledgeNoticeRequest {
            name: first.name.clone(),
        })
        .await
        .unwrap();
    let scorecard = |as_of: Date| pb::GetDepartmentScorecardRequest {
        plan: PLAN.into(),
        department: "nanxiang-town".into(),
        as_of: Some(as_of),
    };
    let page = suite
        .dashboard(&token)
        .get_department_scorecard(scorecard(Date {
            year: 2023,
            month: 4,
            day: 10,
        }))
        .await
        .unwrap()
        .into_inner();
    let titles: Vec<&str> = page.open_orders.iter().map(|o| o.title.as_str()).collect();
    assert_eq!(titles, ["关于南翔镇签约项目的督办"], "its own open order only");
    let levels: Vec<rpb::NoticeLevel> = page.recent_notices.iter().map(rpb::Notice::level).collect();
    assert!(levels.contains(&rpb::NoticeLevel::Blue), "{levels:?}");
    assert!(page.recent_notices.iter().all(|n| n.department == "nanxiang-town"));
    // A month later the notices are older than 30 days; the order is still open.
    let later = suite
        .dashboard(&token)
        .get_department_scorecard(scorecard(Date {
            year: 2023,
            month: 6,
            day: 1,
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(
        later.recent_notices.iter().all(|n| n.day.unwrap().month >= 5),
        "{:?}",
        later.recent_notices
    );
    assert_eq!(later.open_orders.len(), 1);

    // The pages are leadership's (a unit reads its own through the API above).
    let leadership = suite.issue_token(Role::Leadership, "").await;
    let bearer = format!("Bearer {leadership}");
    let html = http_request(
        suite.addr(Server::Gateway),
        "GET",
        "/departments/nanxiang-town?as_of=2023-04-10",
        &[("Authorization", &bearer)],
        b"",
    )
    .await;
    assert_eq!(html.status, 200, "{}", html.text());
    let text = html.text();
    assert!(text.contains("关于南翔镇签约项目的督办"), "the order is on the page");
    assert!(text.contains("badge blue"), "a blue notice is on the page");
    assert!(!text.contains("关于安亭镇的督办"));
    assert!(
        text.contains("已阅（0小时后）"),
        "read, and how long after: {}",
        text.split("id=\"notices\"").nth(1).unwrap_or(&text)
    );

    // The overview sums the follow-up up: every notice of the 30 days by colour, as
    // NoticesService lists them, and the two open orders.
    let blue = suite
        .notices(Caller::Admin)
        .list_notices(rpb::ListNoticesRequest {
            parent: PLAN.into(),
            level: rpb::NoticeLevel::Blue as i32,
            page_size: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .notices
        .len() as i32;
    assert!(blue > 0);
    let overview = suite
        .dashboard(&leadership)
        .get_overview(pb::GetOverviewRequest {
            plan: PLAN.into(),
            as_of: Some(Date {
                year: 2023,
                month: 4,
                day: 10,
            }),
        })
        .await
        .unwrap()
        .into_inner()
        .overview
        .unwrap();
    let follow_up = overview.follow_up.expect("the follow-up summary");
    let counts: Vec<(rpb::NoticeLevel, i32, i32)> = follow_up
        .notices
        .iter()
        .map(|n| (n.level(), n.count, n.unacknowledged_count))
        .collect();
    // All unread but the one the unit acknowledged above.
    assert!(counts.contains(&(rpb::NoticeLevel::Blue, blue, blue - 1)), "{counts:?}");
    assert_eq!(
        (follow_up.open_order_part_count, follow_up.overdue_order_part_count),
        (2, 0)
    );
    assert_eq!(follow_up.open_orders.len(), 1, "both orders are yellow");
    // Thirty days later the April notices have left the window; the orders have not.
    let later = suite
        .dashboard(&leadership)
        .get_overview(pb::GetOverviewRequest {
            plan: PLAN.into(),
            as_of: Some(Date {
                year: 2023,
                month: 5,
                day: 10,
            }),
        })
        .await
        .unwrap()
        .into_inner()
        .overview
        .unwrap()
        .follow_up
        .unwrap();
    assert!(
        later
            .notices
            .iter()
            .all(|n| n.level() != rpb::NoticeLevel::Blue || n.count < blue)
    );
    assert_eq!(later.open_order_part_count, 2);
    let refused = suite
        .notices(Caller::Token(&token))
        .get_follow_up_summary(rpb::GetFollowUpSummaryRequest {
            parent: PLAN.into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        refused.code(),
        Code::PermissionDenied,
        "a unit does not see every unit's follow-up"
    );
    let page = http_request(
        suite.addr(Server::Gateway),
        "GET",
        "/?as_of=2023-04-10",
        &[("Authorization", &bearer)],
        b"",
    )
    .await;
    assert!(
        page.text().contains("id=\"follow-up\""),
        "the overview shows the follow-up"
    );
    let json = http_request(
        suite.addr(Server::Gateway),
        "GET",
        "/api/v1/overview?as_of=2023-04-10",
        &[("Authorization", &bearer)],
        b"",
    )
    .await;
    let value: serde_json::Value = serde_json::from_str(&json.text()).unwrap();
    assert_eq!(value["follow_up"]["open_order_part_count"], 2);

    let json = http_request(
        suite.addr(Server::Gateway),
        "GET",
        "/api/v1/departments/nanxiang-town?as_of=2023-04-10",
        &[("Authorization", &bearer)],
        b"",
    )
    .await;
    assert_eq!(json.status, 200, "{}", json.text());
    let value: serde_json::Value = serde_json::from_str(&json.text()).unwrap();
    assert_eq!(value["open_orders"][0]["title"], "关于南翔镇签约项目的督办");
    let read: Vec<&serde_json::Value> = value["recent_notices"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["acknowledged"] == true)
        .collect();
    assert_eq!(read.len(), 1);
    assert!(read[0]["read_after_seconds"].as_i64().is_some_and(|s| s < 3600));
    assert!(
        value["recent_notices"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["level"] == "BLUE")
    );
    suite.stop().await;
}

/// The ranking (晾晒): every responsible unit of the plan, ranked by discipline (a unit
/// that filed on time before one that filed late), with its returned reports and open
/// orders counted, filtered by kind, in the order asked; leadership's only; the same rows
/// on the page, in JSON and in CSV.
async fn units_are_ranked_by_discipline_returns_and_orders(backend: Backend) {
    use duban_proto::{
        common::v1::Date,
        departments::v1::{DepartmentKind, Role},
        reporting::v1::supervision_orders_service_client::SupervisionOrdersServiceClient,
    };
    let Some(suite) = start_suite(backend).await else {
        return;
    };
    let as_of = Date {
        year: 2023,
        month: 4,
        day: 30,
    };
    let mut dashboard = suite.dashboard(suite.admin_token());
    let overview = suite.overview(&mut dashboard).await;
    // Two towns responsible for the same measure: one files March on time, one late.
    let measure = overview
        .measures
        .iter()
        .find(|m| m.units.iter().filter(|u| u.department.ends_with("-town")).count() >= 2)
        .expect("a measure of several towns");
    let towns: Vec<String> = measure
        .units
        .iter()
        .map(|u| u.department.clone())
        .filter(|d| d.ends_with("-town"))
        .take(2)
        .collect();
    let (punctual, tardy) = (towns[0].clone(), towns[1].clone());
    let item = |department: &str, day: u32| {
        let submit = chrono::NaiveDate::from_ymd_opt(2023, 4, day)
            .unwrap()
            .and_hms_opt(2, 0, 0)
            .unwrap()
            .and_utc();
        rpb::SubmitReportsRequest {
            parent: PLAN.into(),
            report: Some(rpb::Report {
                measure_number: measure.measure_number.clone(),
                department: department.into(),
                period: Some(Period { year: 2023, month: 3 }),
                overall_status: rpb::OverallStatus::OnTrack as i32,
                narrative: "按计划推进".into(),
                ..Default::default()
            }),
            request_id: format!("rank-{department}"),
            backfill: true,
            submit_time: Some(prost_types::Timestamp {
                seconds: submit.timestamp(),
                nanos: 0,
            }),
            ..Default::default()
        }
    };
    let mut reporting = suite.reporting(Caller::Admin);
    let stored = reporting
        .submit_reports(tokio_stream::iter([item(&punctual, 3), item(&tardy, 25)]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stored.succeeded_count, 2, "{:?}", stored.results);
    let late_report = stored
        .results
        .iter()
        .find_map(|r| match &r.outcome {
            Some(rpb::submit_reports_result::Outcome::Report(report)) if report.department == tardy => {
                Some(report.clone())
            }
            _ => None,
        })
        .unwrap();
    reporting
        .return_report(rpb::ReturnReportRequest {
            name: late_report.name.clone(),
            etag: late_report.etag.clone(),
            reason: "请补充佐证材料".into(),
            request_id: "rank-return".into(),
        })
        .await
        .unwrap();
    let mut orders = SupervisionOrdersServiceClient::new(suite.channel(Server::Reporting, Caller::Admin));
    orders
        .open_order(rpb::OpenOrderRequest {
            parent: PLAN.into(),
            order: Some(rpb::Order {
                title: "关于报送滞后的督办".into(),
                level: rpb::OrderLevel::Blue as i32,
                text: "请说明原因。".into(),
                departments: vec![tardy.clone()],
                response_due: Some(Date {
                    year: 2099,
                    month: 12,
                    day: 31,
                }),
                ..Default::default()
            }),
            request_id: "rank-order".into(),
        })
        .await
        .unwrap();

    let leadership = suite.issue_token(Role::Leadership, "").await;
    let request = |kind: DepartmentKind, order_by: &str| pb::ListUnitRankingsRequest {
        plan: PLAN.into(),
        as_of: Some(as_of),
        kind: kind as i32,
        order_by: order_by.into(),
    };
    let all = suite
        .dashboard(&leadership)
        .list_unit_rankings(request(DepartmentKind::Unspecified, ""))
        .await
        .unwrap()
        .into_inner();
    assert!(all.unreachable.is_empty(), "{:?}", all.unreachable);
    let responsible: std::collections::BTreeSet<&str> = overview
        .measures
        .iter()
        .flat_map(|m| m.units.iter().map(|u| u.department.as_str()))
        .collect();
    let ranked: std::collections::BTreeSet<&str> = all.rankings.iter().map(|r| r.department.as_str()).collect();
    assert_eq!(ranked, responsible, "every responsible unit, once");
    let row = |code: &str| all.rankings.iter().find(|r| r.department == code).unwrap().clone();
    let (p, t) = (row(&punctual), row(&tardy));
    assert_eq!((p.on_time_count, p.received_count), (1, 1));
    assert_eq!((t.on_time_count, t.received_count), (0, 1));
    assert_eq!((p.returned_count, t.returned_count), (0, 1));
    assert_eq!(
        (p.open_order_count, t.open_order_count, t.overdue_order_count),
        (0, 1, 0)
    );
    assert_eq!(p.kind, DepartmentKind::TownOrStreet as i32);
    assert!(p.rank < t.rank, "on time ranks above late: {} vs {}", p.rank, t.rank);
    assert_eq!(all.rankings[0].rank, 1);
    assert!(
        all.rankings
            .windows(2)
            .all(|w| w[0].rank <= w[1].rank && w[0].on_time_rate.unwrap_or(-1.0) >= w[1].on_time_rate.unwrap_or(-1.0)),
        "ranked by on-time rate first"
    );

    // By returns, worst first, towns only.
    let towns_only = suite
        .dashboard(&leadership)
        .list_unit_rankings(request(DepartmentKind::TownOrStreet, "returned_count desc"))
        .await
        .unwrap()
        .into_inner();
    assert!(
        towns_only
            .rankings
            .iter()
            .all(|r| r.kind == DepartmentKind::TownOrStreet as i32)
    );
    assert!(towns_only.rankings.len() < all.rankings.len());
    assert_eq!(towns_only.rankings[0].department, tardy);
    assert_eq!(towns_only.order_by, "returned_count desc");

    let bad = suite
        .dashboard(&leadership)
        .list_unit_rankings(request(DepartmentKind::Unspecified, "speed desc"))
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert!(bad.message().contains("order_by"), "{}", bad.message());
    let unit = suite.issue_token(Role::Department, &punctual).await;
    let denied = suite
        .dashboard(&unit)
        .list_unit_rankings(request(DepartmentKind::Unspecified, ""))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);

    // The page, the JSON and the CSV carry the same ranking.
    let bearer = format!("Bearer {leadership}");
    let headers = [("Authorization", bearer.as_str())];
    let get = |path: &'static str| http_request(suite.addr(Server::Gateway), "GET", path, &headers, b"");
    let page = get("/units?as_of=2023-04-30&kind=town_or_street").await;
    assert_eq!(page.status, 200, "{}", page.text());
    let text = page.text();
    assert_eq!(text.matches("<tr data-department=").count(), towns_only.rankings.len());
    assert!(text.contains(&format!("data-department=\"{tardy}\"")));
    let json = get("/api/v1/units?as_of=2023-04-30&order_by=returned_count+desc").await;
    let value: serde_json::Value = serde_json::from_str(&json.text()).unwrap();
    assert_eq!(value["rankings"][0]["department"], tardy.as_str());
    assert_eq!(value["rankings"][0]["returned_count"], 1);
    assert_eq!(value["rankings"][0]["kind"], "town_or_street");
    let csv = get("/api/v1/units.csv?as_of=2023-04-30&kind=town_or_street").await;
    assert_eq!(csv.status, 200);
    assert_eq!(
        csv.text().lines().count(),
        towns_only.rankings.len() + 1,
        "a header and one row per unit"
    );
    let unknown = get("/api/v1/units?kind=towns").await;
    assert_eq!(unknown.status, 400, "{}", unknown.text());
    suite.stop().await;
}

duban_kit::backend_tests!(
    units_are_ranked_by_discipline_returns_and_orders,
    the_department_page_shows_its_orders_and_recent_notices,
    watch_streams_are_shared_bounded_and_revocable,
    follows_reports_through_the_front_door,
    department_callers_see_only_their_own,
    open_blockers_stay_until_resolved
);
