//! ListObligations: what a town owes month by month, with a template it can fill and
//! submit; a final report must fill every required slot.

use super::*;

async fn obligations(
    client: &mut Client,
    request: pb::ListObligationsRequest,
) -> Result<pb::ListObligationsResponse, tonic::Status> {
    let request = pb::ListObligationsRequest {
        parent: PLAN.into(),
        page_size: 500,
        ..request
    };
    Ok(client.list_obligations(request).await?.into_inner())
}

fn month(m: i32) -> Option<common::Period> {
    Some(common::Period { year: 2023, month: m })
}

/// A final report filled from an obligation's template: every slot gets `value`.
fn filled(obligation: &pb::Obligation, value: u32) -> pb::Report {
    let template = obligation.template.clone().unwrap_or_default();
    pb::Report {
        measure_number: obligation.measure_number.clone(),
        period: obligation.period,
        overall_status: pb::OverallStatus::OnTrack as i32,
        metric_values: template
            .slots
            .iter()
            .map(|slot| pb::MetricValue {
                target_code: slot.target_code.clone(),
                value: duban_proto::decimal::to_proto(Some(value.into())),
                unit: slot.unit,
                basis: slot.basis,
            })
            .collect(),
        ..Default::default()
    }
}

async fn a_town_lists_what_it_owes_and_fills_the_template(backend: Backend) {
    let Some(suite) = start(backend).await else {
        return;
    };
    let pick = suite.pick(Aggregation::Sum).await;
    let measure = pick.target.measure_number.clone();
    let mut town = suite.department(&pick.department).await;
    let mut leader = suite.leadership().await;
    let one = |m: i32| pb::ListObligationsRequest {
        measure_number: measure.clone(),
        start_period: month(m),
        end_period: month(m),
        ..Default::default()
    };

    // The whole plan: every period of the plan times every measure the town answers for.
    let all = obligations(&mut town, pb::ListObligationsRequest::default())
        .await
        .unwrap();
    assert!(all.total_size > 0);
    assert_eq!(all.obligations.len() as i32, all.total_size);
    assert!(all.obligations.iter().all(|o| o.department == pick.department));
    assert!(
        all.obligations
            .windows(2)
            .all(|w| w[0].period.unwrap().month >= w[1].period.unwrap().month)
    );

    // April: nothing sent, the due day long past; the template names the pick's slot.
    let april = obligations(&mut town, one(4)).await.unwrap().obligations.remove(0);
    assert_eq!(april.state(), pb::ObligationState::Late);
    assert_eq!(april.report, key_name(&pick, &pick.department, 4));
    assert_eq!(april.due_date.map(|d| (d.month, d.day > 0)), Some((5, true)));
    let template = april.template.clone().unwrap();
    let slot = template
        .slots
        .iter()
        .find(|s| s.target_code == pick.target.code)
        .expect("the pick's target is a slot");
    assert_eq!(
        (slot.unit, slot.basis, slot.required),
        (pick.target.unit, pick.target.value_basis, true)
    );

    // A provisional report raises a blocker; the filled template then replaces it.
    let mut empty = filled(&april, 1);
    empty.metric_values.clear();
    // An empty final report is refused, naming every required slot; nothing is stored.
    let refused = town.submit_report(submit(empty.clone(), "o-4e")).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    let named: Vec<String> = field_violations(&refused).into_iter().map(|v| v.field).collect();
    let owed: Vec<String> = template
        .slots
        .iter()
        .filter(|s| s.required)
        .map(|s| format!("report.metric_values[{}]", s.target_code))
        .collect();
    assert_eq!(named, owed);
    let unchanged = obligations(&mut town, one(4)).await.unwrap().obligations.remove(0);
    assert_eq!((unchanged.state(), unchanged.revision), (pb::ObligationState::Late, 0));
    let mut provisional = empty;
    provisional.provisional = true;
    provisional.blockers = vec![pb::Blocker {
        description: "用地指标未落实".into(),
        severity: pb::BlockerSeverity::High as i32,
        ..Default::default()
    }];
    town.submit_report(submit(provisional, "o-4p")).await.unwrap();

    // The filled template is accepted as it stands; review moves the states along.
    let mut april_report = filled(&april, 2);
    april_report.etag = String::new();
    let stored = town
        .submit_report(submit(april_report, "o-4"))
        .await
        .unwrap()
        .into_inner();
    let april = obligations(&mut town, one(4)).await.unwrap().obligations.remove(0);
    assert_eq!(
        (april.state(), april.revision, april.etag.as_str()),
        (pb::ObligationState::Submitted, 2, stored.etag.as_str())
    );
    assert!(!april.on_time);
    leader
        .accept_report(pb::AcceptReportRequest {
            name: april.report.clone(),
            etag: april.etag.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    let may = obligations(&mut town, one(5)).await.unwrap().obligations.remove(0);
    let stored = town
        .submit_report(submit(filled(&may, 3), "o-5"))
        .await
        .unwrap()
        .into_inner();
    leader
        .return_report(pb::ReturnReportRequest {
            name: may.report.clone(),
            etag: stored.etag,
            reason: "请核实数据".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let states: Vec<(i32, pb::ObligationState, String)> = obligations(
        &mut town,
        pb::ListObligationsRequest {
            measure_number: measure.clone(),
            start_period: month(4),
            end_period: month(6),
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .obligations
    .iter()
    .map(|o| (o.period.unwrap().month, o.state(), o.return_reason.clone()))
    .collect();
    assert_eq!(
        states,
        [
            (6, pb::ObligationState::Late, String::new()),
            (5, pb::ObligationState::Returned, "请核实数据".to_owned()),
            (4, pb::ObligationState::Accepted, String::new()),
        ]
    );

    // The April blocker is carried into June's template until it is resolved.
    let june = obligations(&mut town, one(6)).await.unwrap().obligations.remove(0);
    let open = june.template.unwrap().open_blockers;
    assert_eq!(
        open.iter().map(|b| b.description.as_str()).collect::<Vec<_>>(),
        ["用地指标未落实"]
    );

    // A town sees only its own; other roles name the department.
    let denied = obligations(
        &mut town,
        pb::ListObligationsRequest {
            department: pick.other_department.clone(),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(reason(&denied).as_deref(), Some("NOT_OWN_DEPARTMENT"));
    let unnamed = obligations(&mut leader, pb::ListObligationsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(unnamed.code(), Code::InvalidArgument);
    let named = obligations(
        &mut leader,
        pb::ListObligationsRequest {
            department: pick.department.clone(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(named.total_size, all.total_size);
}

duban_kit::backend_tests!(a_town_lists_what_it_owes_and_fills_the_template);
