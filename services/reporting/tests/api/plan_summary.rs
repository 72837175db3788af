//! GetPlanSummary against the calls it stands for, its etag, and a unit designated a
//! moment ago reporting at once.

use super::*;

fn day(year: i32, month: i32, day: i32) -> Option<common::Date> {
    Some(common::Date { year, month, day })
}

/// A backfilled report of the picked unit for `month`, submitted on the 3rd of the next.
fn backfilled(pick: &Pick, month: i32, value: f64, request_id: &str) -> pb::SubmitReportsRequest {
    let mut r = report(pick, month, value);
    r.department = pick.department.clone();
    let at = chrono::NaiveDate::from_ymd_opt(2023, month as u32 + 1, 3)
        .unwrap()
        .and_hms_opt(2, 0, 0)
        .unwrap()
        .and_utc()
        .timestamp();
    pb::SubmitReportsRequest {
        parent: PLAN.into(),
        report: Some(r),
        request_id: request_id.into(),
        backfill: true,
        submit_time: Some(prost_types::Timestamp { seconds: at, nanos: 0 }),
        ..Default::default()
    }
}

async fn one_summary_answers_what_the_separate_calls_do(backend: Backend) {
    let Some(suite) = start(backend).await else {
        return;
    };
    let pick = suite.pick(Aggregation::Sum).await;
    let mut admin = suite.reporting(Caller::Admin);
    let items = vec![
        backfilled(&pick, 3, 5.0, "summary-3"),
        backfilled(&pick, 4, 7.0, "summary-4"),
        backfilled(&pick, 5, 9.0, "summary-5"),
    ];
    let stored = admin
        .submit_reports(futures::stream::iter(items))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stored.succeeded_count, 3, "{stored:?}");
    let mut leadership = suite.leadership().await;
    // As of 2023-05-20: May's report (submitted on 3 June) is not in it yet.
    let as_of = day(2023, 5, 20);
    let summary = leadership
        .get_plan_summary(pb::GetPlanSummaryRequest {
            parent: PLAN.into(),
            as_of,
            include_provisional: true,
            etag: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!summary.unchanged);
    assert_eq!(summary.as_of, as_of);

    let progress = |through: Option<common::Period>| {
        let mut leadership = leadership.clone();
        async move {
            leadership
                .get_progress(pb::GetProgressRequest {
                    parent: PLAN.into(),
                    as_of,
                    include_provisional: true,
                    through_period: through,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
                .targets
        }
    };
    assert_eq!(summary.progress, progress(None).await);
    let periods: Vec<common::Period> = summary.series.iter().map(|p| p.period.unwrap()).collect();
    assert_eq!(
        periods,
        [3, 4, 5].map(|month| common::Period { year: 2023, month }),
        "the plan's periods that began by 2023-05-20"
    );
    for point in &summary.series {
        assert_eq!(
            point.targets,
            progress(point.period).await,
            "through {:?}",
            point.period
        );
    }
    let picked = |targets: &[pb::TargetProgress]| {
        targets
            .iter()
            .find(|t| t.target_code == pick.target.code)
            .and_then(|t| t.contributions.iter().find(|c| c.department == pick.department))
            .and_then(|c| c.value.clone())
            .map(|v| v.value)
    };
    // Through March the unit's March value; through April, May (not received) and now,
    // April's.
    assert_eq!(picked(&summary.series[0].targets).as_deref(), Some("5"));
    assert_eq!(picked(&summary.series[1].targets).as_deref(), Some("7"));
    assert_eq!(picked(&summary.series[2].targets).as_deref(), Some("7"));
    assert_eq!(picked(&summary.progress).as_deref(), Some("7"));

    let mut compliance = Vec::new();
    let mut page_token = String::new();
    let totals = loop {
        let page = leadership
            .get_compliance(pb::GetComplianceRequest {
                parent: PLAN.into(),
                as_of,
                page_token,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        compliance.extend(page.departments);
        if page.next_page_token.is_empty() {
            break page.totals;
        }
        page_token = page.next_page_token;
    };
    assert_eq!(summary.compliance, compliance);
    assert_eq!(summary.compliance_totals, totals);

    // The picked unit's latest report as of then is April's, its latest revision.
    let latest: Vec<&pb::Report> = summary
        .latest_reports
        .iter()
        .filter(|r| r.measure_number == pick.target.measure_number && r.department == pick.department)
        .collect();
    assert_eq!(latest.len(), 1, "{latest:?}");
    assert_eq!(latest[0].name, key_name(&pick, &pick.department, 4));
    let april = leadership
        .get_report(pb::GetReportRequest {
            name: key_name(&pick, &pick.department, 4),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(*latest[0], april);
    assert!(
        summary.latest_reports.iter().all(|r| r.period.unwrap().month <= 4),
        "nothing received after as_of"
    );
    let open = leadership
        .list_blockers(pb::ListBlockersRequest {
            parent: PLAN.into(),
            state: pb::BlockerState::Open as i32,
            page_size: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .blockers;
    assert_eq!(summary.open_blockers, open);

    // The etag holds until a report event.
    let again = |etag: String| {
        let mut leadership = leadership.clone();
        async move {
            leadership
                .get_plan_summary(pb::GetPlanSummaryRequest {
                    parent: PLAN.into(),
                    as_of,
                    include_provisional: true,
                    etag,
                })
                .await
                .unwrap()
                .into_inner()
        }
    };
    let same = again(summary.etag.clone()).await;
    assert!(same.unchanged, "{same:?}");
    assert_eq!(same.etag, summary.etag);
    assert!(same.progress.is_empty() && same.compliance.is_empty() && same.latest_reports.is_empty());
    // Another date is another summary.
    let other_day = leadership
        .clone()
        .get_plan_summary(pb::GetPlanSummaryRequest {
            parent: PLAN.into(),
            as_of: day(2023, 5, 21),
            include_provisional: true,
            etag: summary.etag.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!other_day.unchanged);
    // A new revision (even of a later period) changes it.
    let revised = admin
        .submit_reports(futures::stream::iter(vec![backfilled(&pick, 5, 11.0, "summary-5b")]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(revised.succeeded_count, 1, "{revised:?}");
    let changed = again(summary.etag.clone()).await;
    assert!(!changed.unchanged);
    assert_ne!(changed.etag, summary.etag);
    assert_eq!(changed.progress, summary.progress, "nothing as of April changed");

    // Departments read their own rows only: the plan-wide summary is not theirs.
    let refused = suite
        .department(&pick.department)
        .await
        .get_plan_summary(pb::GetPlanSummaryRequest {
            parent: PLAN.into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    assert_eq!(reason(&refused).as_deref(), Some("ROLE_NOT_ALLOWED"));
    suite.stop().await;
}

/// A measure with a designated group that has no members yet, and a unit the group
/// admits that the measure does not list.
async fn undesignated(suite: &Suite) -> (mpb::Measure, String, String) {
    let mut measures = suite.measures(Caller::Service);
    let mut departments = suite.departments(Caller::Service);
    let listed = measures
        .list_measures(mpb::ListMeasuresRequest {
            parent: PLAN.into(),
            page_size: 500,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .measures;
    let units = departments
        .list_departments(dpb::ListDepartmentsRequest {
            page_size: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .departments;
    for measure in listed {
        let responsible = duban_harness::responsible_departments(&measure);
        for unit in &measure.responsible_units {
            if unit.kind() != mpb::ResponsibleUnitKind::Group || !unit.member_codes.is_empty() {
                continue;
            }
            let group = departments
                .get_group(dpb::GetGroupRequest {
                    name: format!("groups/{}", unit.code),
                })
                .await
                .unwrap()
                .into_inner();
            if group.kind() != dpb::GroupKind::Designated {
                continue;
            }
            let candidate = units.iter().find(|d| {
                (group.member_kinds.is_empty() || group.member_kinds.contains(&d.kind))
                    && !responsible.contains(&d.code)
                    && !measure.responsible_units.iter().any(|u| u.code == d.code)
            });
            if let Some(candidate) = candidate {
                return (measure.clone(), unit.code.clone(), candidate.code.clone());
            }
        }
    }
    panic!("the plan has no designated group without members");
}

async fn a_unit_designated_a_moment_ago_reports_at_once(backend: Backend) {
    let Some(suite) = start(backend).await else {
        return;
    };
    let (measure, group, unit) = undesignated(&suite).await;
    let mut client = suite.department(&unit).await;
    let submission = |request_id: &str| pb::SubmitReportRequest {
        parent: PLAN.into(),
        report: Some(pb::Report {
            measure_number: measure.number.clone(),
            period: Some(common::Period { year: 2023, month: 3 }),
            overall_status: pb::OverallStatus::OnTrack as i32,
            narrative: "已按分工推进".into(),
            ..Default::default()
        }),
        request_id: request_id.into(),
        validate_only: true,
        ..Default::default()
    };
    // Not responsible yet: refused (the plan is now cached, and re-read past a second).
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let refused = client.submit_report(submission("designated-1")).await.unwrap_err();
    assert_eq!(
        reason(&refused).as_deref(),
        Some("DEPARTMENT_NOT_RESPONSIBLE"),
        "{refused:?}"
    );
    suite
        .departments(Caller::Admin)
        .update_group_designation(dpb::UpdateGroupDesignationRequest {
            designation: Some(dpb::GroupDesignation {
                group,
                scope: measure.name.clone(),
                members: vec![unit.clone()],
                ..Default::default()
            }),
            request_id: "designate-the-unit".into(),
            validate_only: false,
            allow_missing: true,
        })
        .await
        .unwrap();
    // Well within the catalogue's TTL (30 s), but more than a second after the plan
    // was read: the refusal is checked against a fresh copy, which lets it through.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let checked = client.submit_report(submission("designated-2")).await;
    assert!(checked.is_ok(), "{checked:?}");
    suite.stop().await;
}

duban_kit::backend_tests!(
    one_summary_answers_what_the_separate_calls_do,
    a_unit_designated_a_moment_ago_reports_at_once
);
