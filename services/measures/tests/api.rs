//! The measures service through its generated client, with real departments and
//! targets servers beside it, each on its own fresh database, on SQLite and PostgreSQL.

use duban_harness::{Caller, MeasuresClient, PLAN, Server, Suite, jiading_dataset as jiading};
use duban_kit::testing::Backend;
use duban_proto::{
    departments::v1 as dpb,
    measures::v1::{self as pb, ImportOutcome, ImportProblemKind},
};
use tonic::Code;

type Client = MeasuresClient;

/// Departments, targets and measures, each on its own database; no plan yet.
async fn start(backend: Backend) -> Option<Suite> {
    Suite::builder(backend)
        .with(Server::Measures)
        .import_plan(false)
        .start()
        .await
}

async fn import(client: &mut Client, dataset: pb::PlanDataset, validate_only: bool) -> pb::ImportPlanResponse {
    client
        .import_plan(pb::ImportPlanRequest {
            dataset: Some(dataset),
            request_id: uuid_like(),
            validate_only,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
}

fn uuid_like() -> String {
    uuid::Uuid::new_v4().to_string()
}

async fn all_measures(client: &mut Client, action_number: i32, department: &str) -> Vec<pb::Measure> {
    let mut out = Vec::new();
    let mut token = String::new();
    loop {
        let page = client
            .list_measures(pb::ListMeasuresRequest {
                parent: PLAN.into(),
                page_size: 7,
                page_token: token,
                action_number,
                department: department.into(),
                lead_only: false,
            })
            .await
            .unwrap()
            .into_inner();
        out.extend(page.measures);
        token = page.next_page_token;
        if token.is_empty() {
            return out;
        }
    }
}

fn numbers(measures: &[pb::Measure]) -> Vec<&str> {
    measures.iter().map(|m| m.number.as_str()).collect()
}

/// Import, re-import, revise, export and re-import the Jiading plan.
async fn imports_and_revises_the_jiading_plan(backend: Backend) {
    let Some(suite) = start(backend).await else {
        return;
    };
    let mut admin = suite.measures(Caller::Admin);

    let created = import(&mut admin, jiading(), false).await;
    assert_eq!(created.outcome, ImportOutcome::Created as i32);
    let plan = created.plan.unwrap();
    assert_eq!((plan.name.as_str(), plan.revision), (PLAN, 1));
    assert_eq!(plan.content_sha256.len(), 64);

    let actions = admin
        .list_actions(pb::ListActionsRequest {
            parent: PLAN.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .actions;
    assert_eq!(actions.len(), 10);
    let measures = all_measures(&mut admin, 0, "").await;
    assert_eq!(measures.len(), 29);
    assert_eq!(measures[0].number, "1.1");
    for measure in &measures {
        for (i, unit) in measure.responsible_units.iter().enumerate() {
            assert!(
                !unit.code.is_empty(),
                "{} {} is unresolved",
                measure.number,
                unit.as_written
            );
            assert_ne!(unit.kind, pb::ResponsibleUnitKind::Unspecified as i32);
            assert!(!unit.display_name.is_empty());
            assert_eq!(unit.position, i as i32 + 1);
            assert_eq!(unit.lead, i == 0);
        }
    }
    let m11 = admin
        .get_measure(pb::GetMeasureRequest {
            name: format!("{PLAN}/measures/1.2"),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(m11.name, format!("{PLAN}/measures/1.2"));
    let m32 = admin
        .get_measure(pb::GetMeasureRequest {
            name: format!("{PLAN}/measures/3.2"),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(m32.milestones[0].code, "huijia-car-promotion-extension");
    let action4 = admin
        .get_action(pb::GetActionRequest {
            name: format!("{PLAN}/actions/4"),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(action4.number, 4);

    // A retry with the same request id gets the first answer.
    let request = pb::ImportPlanRequest {
        dataset: Some(jiading()),
        request_id: "retry-me".into(),
        ..Default::default()
    };
    let first_try = admin.import_plan(request.clone()).await.unwrap().into_inner();
    assert_eq!(first_try.outcome, ImportOutcome::Unchanged as i32);
    let retried = admin.import_plan(request).await.unwrap().into_inner();
    assert_eq!(retried, first_try);
    let reused = admin
        .import_plan(pb::ImportPlanRequest {
            dataset: Some(pb::PlanDataset::default()),
            request_id: "retry-me".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(reused.code(), Code::InvalidArgument);

    // The same content again changes nothing.
    let again = import(&mut admin, jiading(), false).await;
    assert_eq!(again.outcome, ImportOutcome::Unchanged as i32);
    assert_eq!(again.plan.unwrap().revision, 1);

    // One target value changed: revision 2, and revision 1 is kept.
    let mut changed = jiading();
    let target = changed
        .targets
        .iter_mut()
        .find(|t| t.code == "new-enterprises")
        .unwrap();
    target.value = Some("41000".parse().unwrap());
    let revised = import(&mut admin, changed, false).await;
    assert_eq!(revised.outcome, ImportOutcome::Revised as i32);
    assert_eq!(revised.plan.unwrap().revision, 2);
    assert_eq!(revised.changed_paths, ["targets[new-enterprises].value"]);
    let revisions = admin
        .list_plan_revisions(pb::ListPlanRevisionsRequest {
            name: PLAN.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .plans;
    let names: Vec<_> = revisions.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, [format!("{PLAN}@2"), format!("{PLAN}@1")]);
    let first = admin
        .get_plan(pb::GetPlanRequest {
            name: format!("{PLAN}@1"),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.revision, 1);
    assert_eq!(first.content_sha256, plan.content_sha256);
    let missing = admin
        .get_plan(pb::GetPlanRequest {
            name: format!("{PLAN}@3"),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);

    // The export of the current revision imports as UNCHANGED.
    let exported = admin
        .get_plan_dataset(pb::GetPlanDatasetRequest { name: PLAN.into() })
        .await
        .unwrap()
        .into_inner()
        .dataset
        .unwrap();
    assert_eq!(exported.targets.len(), jiading().targets.len());
    let value = exported
        .targets
        .iter()
        .find(|t| t.code == "new-enterprises")
        .unwrap()
        .value
        .clone();
    assert_eq!(value, Some("41000".parse().unwrap()));
    let m11 = exported.measures.iter().find(|m| m.number == "1.1").unwrap();
    assert_eq!(m11.milestones[1].code, "nev-purchase-tax-exemption");
    // The plan's RAG tolerances (`[plan.rag]`) travel with it, exactly.
    let rag = exported.plan.as_ref().and_then(|p| p.rag.clone()).expect("[plan.rag]");
    assert_eq!(rag.approximately_percent, Some("95".parse().unwrap()));
    assert!(!rag.missing_report_turns_delivery_red);
    let reimported = import(&mut admin, exported.clone(), false).await;
    assert_eq!(
        reimported.outcome,
        ImportOutcome::Unchanged as i32,
        "{:?}",
        reimported.changed_paths
    );
    assert_eq!(reimported.plan.unwrap().revision, 2);

    // Reordered milestones: a new revision, and each code still names its commitment.
    let mut reordered = exported;
    let m11 = reordered.measures.iter_mut().find(|m| m.number == "1.1").unwrap();
    m11.milestones.reverse();
    let revised = import(&mut admin, reordered, false).await;
    assert_eq!(revised.changed_paths, ["measures[1.1].milestones"]);
    let now = admin
        .get_measure(pb::GetMeasureRequest {
            name: format!("{PLAN}/measures/1.1"),
        })
        .await
        .unwrap()
        .into_inner();
    let before = jiading();
    let planned = before.measures.iter().find(|m| m.number == "1.1").unwrap();
    let description = |milestones: &[pb::Milestone], code: &str| {
        milestones
            .iter()
            .find(|m| m.code == code)
            .map(|m| m.description.clone())
    };
    assert_eq!(now.milestones[2].code, "nev-purchase-tax-exemption");
    for m in &planned.milestones {
        assert_eq!(description(&now.milestones, &m.code), Some(m.description.clone()));
    }
    suite.stop().await;
}

/// Broken datasets: every problem with its path; nothing written; non-admins refused.
async fn reports_every_problem_and_refuses_non_admins(backend: Backend) {
    let Some(suite) = start(backend).await else {
        return;
    };
    let mut admin = suite.measures(Caller::Admin);

    let mut broken = jiading();
    let m42 = broken.measures.iter_mut().find(|m| m.number == "4.2").unwrap();
    m42.responsible_units.push(pb::ResponsibleUnit {
        as_written: "区不存在局".into(),
        ..Default::default()
    });
    let unknown_at = m42.responsible_units.len() - 1;
    let duplicate = broken.measures.iter().find(|m| m.number == "3.2").unwrap().clone();
    broken.measures.push(duplicate);
    let target = broken.targets.iter_mut().find(|t| t.code == "new-enterprises").unwrap();
    target.measure_number = "4.9".into();
    let m11 = broken.measures.iter_mut().find(|m| m.number == "1.1").unwrap();
    m11.milestones[0].code.clear();
    m11.milestones[2].code = m11.milestones[1].code.clone();

    let checked = import(&mut admin, broken.clone(), true).await;
    assert_eq!(checked.outcome, ImportOutcome::Invalid as i32);
    assert!(checked.plan.is_none());
    let found: Vec<(&str, i32)> = checked.problems.iter().map(|p| (p.path.as_str(), p.kind)).collect();
    for (path, kind) in [
        (
            format!("measures[4.2].responsible_units[{unknown_at}]"),
            ImportProblemKind::UnresolvedUnit,
        ),
        ("measures[3.2].number".to_owned(), ImportProblemKind::DuplicateKey),
        (
            "targets[new-enterprises].measure_number".to_owned(),
            ImportProblemKind::UnknownReference,
        ),
        (
            "measures[1.1].milestones[#0].code".to_owned(),
            ImportProblemKind::MissingField,
        ),
        (
            "measures[1.1].milestones[nev-purchase-tax-exemption].code".to_owned(),
            ImportProblemKind::DuplicateKey,
        ),
    ] {
        assert!(
            found.contains(&(path.as_str(), kind as i32)),
            "{path} missing from {found:?}"
        );
    }
    let listed = admin
        .list_plans(pb::ListPlansRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(listed.plans.is_empty(), "validate_only wrote something");

    // A plan written for another district's directory is refused, naming the field.
    let mut elsewhere = jiading();
    elsewhere.plan.as_mut().unwrap().directory = "minhang".into();
    let checked = import(&mut admin, elsewhere, true).await;
    assert_eq!(checked.outcome, ImportOutcome::Invalid as i32);
    assert!(
        checked
            .problems
            .iter()
            .any(|p| p.path == "plan.directory" && p.message.contains("minhang")),
        "{:?}",
        checked.problems
    );

    // Without validate_only: INVALID_ARGUMENT naming every path and the unknown unit.
    let status = admin
        .import_plan(pb::ImportPlanRequest {
            dataset: Some(broken),
            request_id: uuid_like(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(duban_kit::status::reason(&status).as_deref(), Some("DATASET_INVALID"));
    let fields: Vec<String> = duban_kit::status::field_violations(&status)
        .into_iter()
        .map(|v| v.field)
        .collect();
    assert!(fields.contains(&format!("dataset.measures[4.2].responsible_units[{unknown_at}]")));
    assert!(fields.contains(&"dataset.targets[new-enterprises].measure_number".to_owned()));
    assert!(
        status.message().contains("区不存在局") || {
            use tonic_types::StatusExt;
            status.get_details_error_info().unwrap().metadata["unresolved_units"] == "区不存在局"
        }
    );
    let missing = admin
        .get_plan(pb::GetPlanRequest { name: PLAN.into() })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);

    // A leadership credential reads but may not import.
    let issued = suite
        .departments(Caller::Admin)
        .issue_credential(dpb::IssueCredentialRequest {
            credential: Some(dpb::Credential {
                role: dpb::Role::Leadership as i32,
                description: "test leadership".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut leader = suite.measures(&issued.token);
    let denied = leader
        .import_plan(pb::ImportPlanRequest {
            dataset: Some(jiading()),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    leader.list_plans(pb::ListPlansRequest::default()).await.unwrap();
    suite.stop().await;
}

/// ListMeasures by action and by department, fixed groups and designations included.
async fn lists_measures_by_action_and_department(backend: Backend) {
    let Some(suite) = start(backend).await else {
        return;
    };
    let mut admin = suite.measures(Caller::Admin);
    assert_eq!(
        import(&mut admin, jiading(), false).await.outcome,
        ImportOutcome::Created as i32
    );
    let action4 = all_measures(&mut admin, 4, "").await;
    assert_eq!(numbers(&action4), ["4.1", "4.2", "4.3", "4.4"]);

    let nanxiang = all_measures(&mut admin, 4, "nanxiang-town").await;
    assert!(numbers(&nanxiang).contains(&"4.1"), "各街镇 includes nanxiang-town");
    assert!(!numbers(&nanxiang).contains(&"4.3"));
    let m43 = action4.iter().find(|m| m.number == "4.3").unwrap();
    let relevant = m43
        .responsible_units
        .iter()
        .find(|u| u.as_written == "相关街镇")
        .unwrap();
    assert!(relevant.member_codes.is_empty());

    suite
        .departments(Caller::Admin)
        .update_group_designation(dpb::UpdateGroupDesignationRequest {
            designation: Some(dpb::GroupDesignation {
                group: relevant.code.clone(),
                scope: format!("{PLAN}/measures/4.3"),
                members: vec!["nanxiang-town".into()],
                ..Default::default()
            }),
            allow_missing: true,
            ..Default::default()
        })
        .await
        .unwrap();
    let nanxiang = all_measures(&mut admin, 4, "nanxiang-town").await;
    assert!(numbers(&nanxiang).contains(&"4.1"));
    assert!(numbers(&nanxiang).contains(&"4.3"), "designated for 相关街镇 of 4.3");
    let m43 = admin
        .get_measure(pb::GetMeasureRequest {
            name: format!("{PLAN}/measures/4.3"),
        })
        .await
        .unwrap()
        .into_inner();
    let relevant = m43
        .responsible_units
        .iter()
        .find(|u| u.as_written == "相关街镇")
        .unwrap();
    assert_eq!(relevant.member_codes, ["nanxiang-town"]);

    let unknown = admin
        .list_measures(pb::ListMeasuresRequest {
            parent: PLAN.into(),
            department: "no-such-department".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::InvalidArgument);
    suite.stop().await;
}

duban_kit::backend_tests!(
    imports_and_revises_the_jiading_plan,
    reports_every_problem_and_refuses_non_admins,
    lists_measures_by_action_and_department,
);
