//! Milestones named by code: a re-import that reorders a measure's milestones leaves what
//! a code means unchanged, a stale number is refused, and stored revisions keep what
//! they said.

use super::*;

/// 1.1 (区税务局 leads; no targets) as the harness imported it: its milestones' codes and
/// descriptions, in order.
fn planned_1_1() -> Vec<(String, String)> {
    let dataset = duban_harness::jiading_dataset();
    let measure = dataset.measures.iter().find(|m| m.number == "1.1").unwrap();
    measure
        .milestones
        .iter()
        .map(|m| (m.code.clone(), m.description.clone()))
        .collect()
}

/// A report of 1.1 for `month` with the given milestone updates.
fn report_1_1(month: i32, milestone_updates: Vec<pb::MilestoneUpdate>) -> pb::Report {
    pb::Report {
        measure_number: "1.1".into(),
        period: Some(common::Period { year: 2023, month }),
        overall_status: pb::OverallStatus::OnTrack as i32,
        milestone_updates,
        ..Default::default()
    }
}

fn by_code(code: &str) -> pb::MilestoneUpdate {
    pb::MilestoneUpdate {
        milestone_code: code.into(),
        status: pb::MilestoneStatus::InProgress as i32,
        ..Default::default()
    }
}

/// `(code, number, description)` of each update.
fn named(report: &pb::Report) -> Vec<(String, i32, String)> {
    report
        .milestone_updates
        .iter()
        .map(|u| {
            (
                u.milestone_code.clone(),
                u.milestone_number,
                u.milestone_description.clone(),
            )
        })
        .collect()
}

async fn a_code_keeps_its_meaning_when_a_reimport_reorders_milestones(backend: Backend) {
    let ttl = Duration::from_millis(300);
    let options = duban_reporting::Options {
        catalog_ttl: ttl,
        catalog_retry: ttl,
        ..duban_reporting::Options::default()
    };
    let Some(suite) = Suite::builder(backend)
        .with(Server::Reporting)
        .reporting_options(options)
        .start()
        .await
    else {
        return;
    };
    let planned = planned_1_1();
    let (code, description) = planned[1].clone();
    let mut tax = suite.department("tax-bureau").await;

    // April, by code: all three are filled in from the plan as imported.
    let april = tax
        .submit_report(submit(report_1_1(4, vec![by_code(&code)]), "m-4"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(named(&april), [(code.clone(), 2, description.clone())]);

    // The template names each milestone by its code, in the plan's order.
    let template = |obligations: pb::ListObligationsResponse| -> Vec<(String, i32, String)> {
        let template = obligations.obligations[0].template.clone().unwrap();
        template
            .milestones
            .into_iter()
            .map(|m| (m.code, m.milestone_number, m.description))
            .collect()
    };
    let request = pb::ListObligationsRequest {
        parent: PLAN.into(),
        measure_number: "1.1".into(),
        start_period: Some(common::Period { year: 2023, month: 5 }),
        end_period: Some(common::Period { year: 2023, month: 5 }),
        ..Default::default()
    };
    let listed = template(tax.list_obligations(request.clone()).await.unwrap().into_inner());
    let expected: Vec<(String, i32, String)> = planned
        .iter()
        .zip(1..)
        .map(|((code, description), number)| (code.clone(), number, description.clone()))
        .collect();
    assert_eq!(listed, expected);

    // The plan is re-imported with 1.1's milestones in the opposite order.
    let mut reordered = duban_harness::jiading_dataset();
    let m11 = reordered.measures.iter_mut().find(|m| m.number == "1.1").unwrap();
    m11.milestones.reverse();
    let revised = suite
        .measures(Caller::Admin)
        .import_plan(mpb::ImportPlanRequest {
            dataset: Some(reordered),
            request_id: "reorder-1.1".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(revised.changed_paths, ["measures[1.1].milestones"]);
    tokio::time::sleep(ttl * 3).await;
    let listed = template(tax.list_obligations(request).await.unwrap().into_inner());
    assert_eq!(listed[2], (code.clone(), 3, description.clone()), "{listed:?}");

    // May, by the same code: the same commitment, now the third.
    let may = tax
        .submit_report(submit(report_1_1(5, vec![by_code(&code)]), "m-5"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(named(&may), [(code.clone(), 3, description.clone())]);

    // A client still sending the number it read before the re-import is told so.
    let mut stale = by_code(&code);
    stale.milestone_number = 2;
    let refused = tax
        .submit_report(submit(report_1_1(6, vec![stale]), ""))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    let violations: Vec<(String, String)> = field_violations(&refused)
        .into_iter()
        .map(|v| (v.field, v.description))
        .collect();
    assert_eq!(
        violations,
        [(
            "report.milestone_updates[0].milestone_number".to_owned(),
            "names a different milestone than milestone_code".to_owned()
        )]
    );
    let unknown = tax
        .submit_report(submit(
            report_1_1(6, vec![by_code("huijia-car-promotion-extension")]),
            "",
        ))
        .await
        .unwrap_err();
    assert_eq!(
        field_violations(&unknown)
            .into_iter()
            .map(|v| v.field)
            .collect::<Vec<_>>(),
        ["report.milestone_updates[0].milestone_code"],
        "a milestone of another measure"
    );

    // April's revision still says what it said: the same code, the position it had then.
    let stored = tax
        .get_report(pb::GetReportRequest {
            name: april.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(named(&stored), [(code, 2, description)]);
    suite.stop().await;
}

duban_kit::backend_tests!(a_code_keeps_its_meaning_when_a_reimport_reorders_milestones);
