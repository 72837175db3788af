//! Blockers have names, carry over from month to month, close only when a report
//! resolves them by name, and are seen by the unit whose support they ask for.

use super::*;

fn blocker(description: &str, support_unit: &str) -> pb::Blocker {
    pb::Blocker {
        description: description.into(),
        severity: pb::BlockerSeverity::High as i32,
        support_unit: support_unit.into(),
        ..Default::default()
    }
}

async fn list(client: &mut Client, request: pb::ListBlockersRequest) -> Result<Vec<pb::Blocker>, tonic::Status> {
    let request = pb::ListBlockersRequest {
        parent: PLAN.into(),
        ..request
    };
    Ok(client.list_blockers(request).await?.into_inner().blockers)
}

fn fields(status: &tonic::Status) -> Vec<String> {
    field_violations(status).into_iter().map(|v| v.field).collect()
}

fn summary(blockers: &[pb::Blocker]) -> Vec<(String, pb::BlockerState)> {
    blockers.iter().map(|b| (b.description.clone(), b.state())).collect()
}

async fn blockers_stay_open_until_resolved_by_name(backend: Backend) {
    let Some(suite) = start(backend).await else {
        return;
    };
    let pick = suite.pick(Aggregation::Sum).await;
    let helper = pick.other_department.clone();
    let mut dept = suite.department(&pick.department).await;
    let mut support = suite.department(&helper).await;

    let mut april = report(&pick, 4, 1.0);
    april.blockers = vec![blocker("土地指标未落实", &helper), blocker("资金未到位", "")];
    let stored = dept.submit_report(submit(april, "b-4")).await.unwrap().into_inner();
    let names: Vec<String> = stored.blockers.iter().map(|b| b.name.clone()).collect();
    let measure = &pick.target.measure_number;
    let department = &pick.department;
    assert_eq!(
        names,
        [1, 2].map(|n| format!("{PLAN}/blockers/{measure}~{department}~{n}"))
    );
    assert!(stored.blockers.iter().all(|b| b.state() == pb::BlockerState::Open));

    // May sends figures only: both blockers stay open, with their April names.
    dept.submit_report(submit(report(&pick, 5, 2.0), "b-5")).await.unwrap();
    let open = list(&mut dept, pb::ListBlockersRequest::default()).await.unwrap();
    assert_eq!(
        summary(&open),
        [
            ("土地指标未落实".to_owned(), pb::BlockerState::Open),
            ("资金未到位".to_owned(), pb::BlockerState::Open)
        ]
    );
    assert_eq!(open[0].open_period, Some(common::Period { year: 2023, month: 4 }));

    // The unit asked for support sees the blocker addressed to it, and only that one;
    // it may not read the raising department's other blockers.
    let addressed = list(
        &mut support,
        pb::ListBlockersRequest {
            support_unit: helper.clone(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        summary(&addressed),
        [("土地指标未落实".to_owned(), pb::BlockerState::Open)]
    );
    assert_eq!(addressed[0].department, pick.department);
    let mine = list(&mut support, pb::ListBlockersRequest::default()).await.unwrap();
    assert_eq!(
        mine.len(),
        1,
        "by default a department sees what it raised or is asked for"
    );
    let denied = list(
        &mut support,
        pb::ListBlockersRequest {
            department: pick.department.clone(),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    assert_eq!(reason(&denied).as_deref(), Some("NOT_OWN_DEPARTMENT"));

    // June resolves the first by name; the second carries on.
    let mut june = report(&pick, 6, 3.0);
    june.blockers = vec![pb::Blocker {
        name: names[0].clone(),
        resolve: true,
        ..Default::default()
    }];
    let stored = dept.submit_report(submit(june, "b-6")).await.unwrap().into_inner();
    assert_eq!(stored.blockers[0].state(), pb::BlockerState::Resolved);
    assert_eq!(stored.blockers[0].description, "土地指标未落实");
    let all = list(&mut dept, pb::ListBlockersRequest::default()).await.unwrap();
    assert_eq!(
        summary(&all),
        [
            ("土地指标未落实".to_owned(), pb::BlockerState::Resolved),
            ("资金未到位".to_owned(), pb::BlockerState::Open)
        ]
    );
    assert_eq!(all[0].resolve_report, format!("{}@1", key_name(&pick, department, 6)));
    let open = list(
        &mut suite.leadership().await,
        pb::ListBlockersRequest {
            state: pb::BlockerState::Open as i32,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(summary(&open), [("资金未到位".to_owned(), pb::BlockerState::Open)]);

    // A resolved blocker cannot be resolved again; resolve without a name is refused.
    let mut july = report(&pick, 7, 4.0);
    july.blockers = vec![
        pb::Blocker {
            name: names[0].clone(),
            resolve: true,
            ..Default::default()
        },
        pb::Blocker {
            resolve: true,
            ..blocker("新问题", "")
        },
    ];
    let refused = dept.submit_report(submit(july.clone(), "")).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert_eq!(fields(&refused), ["report.blockers[1].resolve"]);
    july.blockers.truncate(1);
    let refused = dept.submit_report(submit(july, "")).await.unwrap_err();
    assert_eq!(fields(&refused), ["report.blockers[0].name"]);
}

duban_kit::backend_tests!(blockers_stay_open_until_resolved_by_name);
