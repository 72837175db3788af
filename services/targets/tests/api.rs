//! The targets API through the generated clients, against a real targets server and a
//! real departments server (which checks the tokens), on SQLite and PostgreSQL.

use duban_catalog::{Directory, Plan, Resolved};
use duban_harness::{Caller, PLAN, Server, Suite, TargetsClient};
use duban_kit::{
    status::{field_violations, reason},
    testing::Backend,
};
use duban_proto::{common::v1 as common, departments::v1 as dpb, targets::v1 as pb};
use tonic::Code;

/// An amount as the contract carries it (canonical text), for building requests and
/// comparing answers.
fn d(text: &str) -> Option<common::Decimal> {
    Some(text.parse().unwrap())
}

duban_kit::backend_tests!(
    syncs_plan_targets_as_a_service_only,
    sync_keeps_revisions_and_retires_dropped_targets,
    sync_reports_every_problem_at_once,
    stores_the_aspirational_flag_per_revision,
    lists_targets_by_measure_action_and_department,
    computes_trajectories,
    rebaselines_targets,
);

type Client = TargetsClient;

/// The internal service's client (SyncPlanTargets).
type SyncClient = pb::targets_internal_service_client::TargetsInternalServiceClient<duban_kit::client::ServiceChannel>;

/// A departments server and a targets server sharing tokens, each on its own database
/// (no plan imported: these tests sync targets themselves), and the plan and directory
/// the sync requests are built from.
struct Fixture {
    suite: Suite,
    plan: Plan,
    directory: Directory,
}

impl Fixture {
    async fn start(backend: Backend) -> Option<Fixture> {
        let suite = Suite::builder(backend).with(Server::Targets).start().await?;
        let (directory, plan) = duban_catalog::jiading_2023();
        Some(Fixture { suite, plan, directory })
    }

    /// A fixture whose targets server holds the Jiading plan's targets, and the request
    /// that synced them.
    async fn synced(backend: Backend) -> Option<(Fixture, pb::SyncPlanTargetsRequest)> {
        let fixture = Self::start(backend).await?;
        let request = fixture.sync_request();
        sync(&mut fixture.sync_client(Caller::Service), request.clone())
            .await
            .expect("syncs");
        Some((fixture, request))
    }

    async fn stop(self) {
        self.suite.stop().await;
    }

    fn client(&self, token: Option<&str>) -> Client {
        self.suite.targets(token.map_or(Caller::Anonymous, Caller::Token))
    }

    fn service(&self) -> Client {
        self.suite.targets(Caller::Service)
    }

    /// A client of the internal service, acting as `caller`.
    fn sync_client<'a>(&self, caller: impl Into<Caller<'a>>) -> SyncClient {
        SyncClient::new(self.suite.channel(Server::Targets, caller))
    }

    fn admin(&self) -> Client {
        self.suite.targets(Caller::Admin)
    }

    /// A client acting as a department, with a credential the administrator issues.
    async fn department(&self, code: &str) -> Client {
        self.suite
            .targets(&self.suite.issue_token(dpb::Role::Department, code).await)
    }

    /// The Jiading plan's targets as the measures server would sync them.
    fn sync_request(&self) -> pb::SyncPlanTargetsRequest {
        let header = &self.plan.header;
        pb::SyncPlanTargetsRequest {
            plan: PLAN.into(),
            plan_revision: 1,
            effective_from: Some(date(header.effective_from)),
            effective_to: Some(date(header.effective_to)),
            targets: self.plan.targets.iter().map(|t| self.proto_target(t)).collect(),
            ..Default::default()
        }
    }

    fn proto_target(&self, target: &duban_catalog::Target) -> pb::Target {
        let mut reporters = Vec::new();
        let mut departments = Vec::new();
        for written in &target.reporters {
            match self.directory.resolve(written).expect("reporters resolve") {
                Resolved::Unit(code) => {
                    departments.push(code.clone());
                    reporters.push(code);
                }
                Resolved::Group(code) => {
                    let members = self.directory.fixed_members(&code).unwrap_or_default();
                    departments.extend(members.into_iter().map(|unit| unit.code.clone()));
                    reporters.push(code);
                }
            }
        }
        departments.sort();
        departments.dedup();
        pb::Target {
            code: target.code.clone(),
            measure_number: target.measure.clone(),
            display_name: target.name.clone(),
            display_name_en: target.name_en.clone(),
            unit: enum_value(&target.unit, "QUANTITY_UNIT_", |name| {
                common::QuantityUnit::from_str_name(name).map(|v| v as i32)
            }),
            value: Some(target.value.into()),
            comparator: enum_value(&target.comparator, "COMPARATOR_", |name| {
                common::Comparator::from_str_name(name).map(|v| v as i32)
            }),
            aspirational: target.aspirational,
            deadline: target.deadline.map(date),
            baseline: target.baseline.map(Into::into),
            decimal_places: Some(target.decimal_places() as i32),
            aggregation: enum_value(&target.aggregation, "AGGREGATION_", |name| {
                common::Aggregation::from_str_name(name).map(|v| v as i32)
            }),
            value_basis: enum_value(&target.basis, "VALUE_BASIS_", |name| {
                common::ValueBasis::from_str_name(name).map(|v| v as i32)
            }),
            reporters,
            reporting_departments: departments,
            source: target.source.clone(),
            note: target.note.clone().unwrap_or_default(),
            ..Default::default()
        }
    }
}

/// A catalog enum (serialised snake_case) as the contract's enum number.
fn enum_value<T: serde::Serialize>(value: &T, prefix: &str, lookup: impl Fn(&str) -> Option<i32>) -> i32 {
    let snake = serde_json::to_value(value).unwrap();
    let name = format!("{prefix}{}", snake.as_str().unwrap().to_uppercase());
    lookup(&name).unwrap_or_else(|| panic!("{name} is not in the contract"))
}

fn date(date: chrono::NaiveDate) -> common::Date {
    use chrono::Datelike;
    common::Date {
        year: date.year(),
        month: date.month() as i32,
        day: date.day() as i32,
    }
}

fn ymd(year: i32, month: i32, day: i32) -> common::Date {
    common::Date { year, month, day }
}

fn target_name(code: &str) -> String {
    format!("{PLAN}/targets/{code}")
}

async fn get(client: &mut Client, name: &str) -> Result<pb::Target, tonic::Status> {
    client
        .get_target(pb::GetTargetRequest { name: name.to_owned() })
        .await
        .map(|r| r.into_inner())
}

async fn sync(
    client: &mut SyncClient,
    request: pb::SyncPlanTargetsRequest,
) -> Result<pb::SyncPlanTargetsResponse, tonic::Status> {
    client.sync_plan_targets(request).await.map(|r| r.into_inner())
}

async fn list(client: &mut Client, request: pb::ListTargetsRequest) -> Vec<String> {
    let mut codes = Vec::new();
    let mut request = pb::ListTargetsRequest {
        parent: PLAN.into(),
        ..request
    };
    loop {
        let page = client.list_targets(request.clone()).await.expect("lists").into_inner();
        codes.extend(page.targets.into_iter().map(|t| t.code));
        if page.next_page_token.is_empty() {
            return codes;
        }
        request.page_token = page.next_page_token;
    }
}

fn with_value(
    mut request: pb::SyncPlanTargetsRequest,
    code: &str,
    value: Option<common::Decimal>,
) -> pb::SyncPlanTargetsRequest {
    request
        .targets
        .iter_mut()
        .find(|t| t.code == code)
        .expect("the target is in the plan")
        .value = value;
    request
}

async fn syncs_plan_targets_as_a_service_only(backend: Backend) {
    let Some(suite) = Fixture::start(backend).await else {
        return;
    };
    let request = suite.sync_request();

    let denied = sync(&mut suite.sync_client(Caller::Admin), request.clone())
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");
    let town_token = suite.suite.issue_token(dpb::Role::Department, "nanxiang-town").await;
    let denied = sync(&mut suite.sync_client(town_token.as_str()), request.clone())
        .await
        .unwrap_err();
    let mut town = suite.client(Some(&town_token));
    assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");
    for token in [None, Some("dbn_not-a-real-token")] {
        let status = get(&mut suite.client(token), &target_name("new-enterprises"))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    }
    // Nothing synced yet.
    let missing = get(&mut suite.admin(), &target_name("new-enterprises"))
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    assert_eq!(reason(&missing).as_deref(), Some("TARGET_NOT_FOUND"));

    // validate_only writes nothing.
    let preview = sync(
        &mut suite.sync_client(Caller::Service),
        pb::SyncPlanTargetsRequest {
            validate_only: true,
            ..request.clone()
        },
    )
    .await
    .expect("validates");
    assert_eq!(preview.targets.len(), suite.plan.targets.len());
    assert!(get(&mut suite.admin(), &target_name("new-enterprises")).await.is_err());

    let first = sync(&mut suite.sync_client(Caller::Service), request.clone())
        .await
        .expect("the service syncs");
    assert_eq!(first.targets.len(), suite.plan.targets.len());
    assert!(first.changed_paths.contains(&"targets[new-enterprises]".to_owned()));
    let target = get(&mut town, &target_name("new-enterprises"))
        .await
        .expect("any principal reads");
    assert_eq!(target.value, d("40000.0"));
    assert_eq!(target.revision, 1);
    assert_eq!(target.deadline, Some(ymd(2023, 12, 31)));
    assert_eq!(target.original_value, d("40000.0"));
    assert_eq!(target.revision_reason, "imported in plan revision 1");
    assert_eq!(target.revised_by.unwrap().role, dpb::Role::Service as i32);
    assert!(!target.rebaselined);
    assert_eq!(target.reporters, ["all-towns"]);
    assert!(target.reporting_departments.contains(&"nanxiang-town".to_owned()));

    let again = sync(&mut suite.sync_client(Caller::Service), request.clone())
        .await
        .expect("syncs again");
    assert!(again.changed_paths.is_empty(), "{:?}", again.changed_paths);
    assert_eq!(again.targets, first.targets);

    // A retry with the same request id answers the first answer; another request under
    // that id is refused.
    let keyed = pb::SyncPlanTargetsRequest {
        request_id: "sync-1".into(),
        ..with_value(request.clone(), "new-enterprises", d("41000.0"))
    };
    let once = sync(&mut suite.sync_client(Caller::Service), keyed.clone())
        .await
        .expect("syncs");
    assert_eq!(once.changed_paths, ["targets[new-enterprises].value"]);
    let twice = sync(&mut suite.sync_client(Caller::Service), keyed.clone())
        .await
        .expect("replays");
    assert_eq!(twice, once);
    let reused = sync(
        &mut suite.sync_client(Caller::Service),
        pb::SyncPlanTargetsRequest {
            request_id: "sync-1".into(),
            ..request.clone()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(reused.code(), Code::InvalidArgument);
    suite.stop().await;
}

async fn sync_keeps_revisions_and_retires_dropped_targets(backend: Backend) {
    let Some((suite, request)) = Fixture::synced(backend).await else {
        return;
    };
    let mut service = suite.sync_client(Caller::Service);
    let mut reader = suite.admin();

    let mut changed = with_value(request.clone(), "new-enterprises", d("45000.0"));
    changed.plan_revision = 2;
    let response = sync(&mut service, changed.clone()).await.expect("syncs the change");
    assert_eq!(response.changed_paths, ["targets[new-enterprises].value"]);
    let current = get(&mut reader, &target_name("new-enterprises")).await.unwrap();
    assert_eq!((current.revision, current.value), (2, d("45000.0")));
    assert_eq!(current.original_value, d("40000.0"));
    assert_eq!(current.revision_reason, "imported in plan revision 2");
    assert_eq!(current.name, target_name("new-enterprises"));

    let revisions = reader
        .list_target_revisions(pb::ListTargetRevisionsRequest {
            name: target_name("new-enterprises"),
            ..Default::default()
        })
        .await
        .expect("lists revisions")
        .into_inner();
    let listed: Vec<_> = revisions
        .targets
        .iter()
        .map(|t| (t.name.clone(), t.value.clone()))
        .collect();
    assert_eq!(
        listed,
        [
            (format!("{}@2", target_name("new-enterprises")), d("45000.0")),
            (format!("{}@1", target_name("new-enterprises")), d("40000.0")),
        ]
    );
    let old = get(&mut reader, &format!("{}@1", target_name("new-enterprises")))
        .await
        .unwrap();
    assert_eq!((old.revision, old.value), (1, d("40000.0")));
    assert_eq!(old.name, format!("{}@1", target_name("new-enterprises")));
    let none = get(&mut reader, &format!("{}@9", target_name("new-enterprises")))
        .await
        .unwrap_err();
    assert_eq!(reason(&none).as_deref(), Some("REVISION_NOT_FOUND"));

    // A target dropped from the plan is retired; its revisions stay readable.
    let mut dropped = changed.clone();
    dropped.targets.retain(|t| t.code != "export-refund-days");
    let response = sync(&mut service, dropped).await.expect("syncs the drop");
    assert_eq!(response.changed_paths, ["targets[export-refund-days]"]);
    assert_eq!(response.targets.len(), suite.plan.targets.len() - 1);
    let gone = get(&mut reader, &target_name("export-refund-days")).await.unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
    assert!(
        get(&mut reader, &format!("{}@1", target_name("export-refund-days")))
            .await
            .is_ok()
    );
    assert!(
        !list(&mut reader, pb::ListTargetsRequest::default())
            .await
            .contains(&"export-refund-days".to_owned())
    );
    // ... and comes back, unchanged, when the plan has it again.
    let back = sync(&mut service, changed).await.expect("syncs it back");
    assert_eq!(back.changed_paths, ["targets[export-refund-days]"]);
    assert_eq!(
        get(&mut reader, &target_name("export-refund-days"))
            .await
            .unwrap()
            .revision,
        1
    );
    suite.stop().await;
}

async fn stores_the_aspirational_flag_per_revision(backend: Backend) {
    let Some((suite, request)) = Fixture::synced(backend).await else {
        return;
    };
    let mut service = suite.sync_client(Caller::Service);
    let mut reader = suite.admin();
    // 2023年力争认定8家总部企业 is aspirational; 全年实现新增企业4万户 is committed.
    let headquarters = get(&mut reader, &target_name("headquarters-enterprises"))
        .await
        .unwrap();
    assert!(headquarters.aspirational);
    assert!(
        !get(&mut reader, &target_name("new-enterprises"))
            .await
            .unwrap()
            .aspirational
    );

    let mut committed = request.clone();
    committed.plan_revision = 2;
    for target in &mut committed.targets {
        if target.code == "headquarters-enterprises" {
            target.aspirational = false;
        }
    }
    let response = sync(&mut service, committed).await.expect("syncs the change");
    assert_eq!(
        response.changed_paths,
        ["targets[headquarters-enterprises].aspirational"]
    );
    let current = get(&mut reader, &target_name("headquarters-enterprises"))
        .await
        .unwrap();
    assert_eq!((current.revision, current.aspirational), (2, false));
    let first = get(&mut reader, &format!("{}@1", target_name("headquarters-enterprises")))
        .await
        .unwrap();
    assert!(first.aspirational, "revision 1 keeps the flag it was imported with");
    suite.stop().await;
}

async fn sync_reports_every_problem_at_once(backend: Backend) {
    let Some(suite) = Fixture::start(backend).await else {
        return;
    };
    let mut request = suite.sync_request();
    for target in &mut request.targets {
        match target.code.as_str() {
            "new-enterprises" => {
                target.value = d("40000.5");
                target.reporters.clear();
            }
            "export-refund-days" => {
                target.milestones = vec![pb::TargetMilestone {
                    period: Some(common::Period { year: 2023, month: 6 }),
                    expected_value: d("6.0"),
                }];
                target.deadline = Some(ymd(2022, 6, 30));
            }
            _ => {}
        }
    }
    let status = sync(&mut suite.sync_client(Caller::Service), request)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let fields: Vec<String> = field_violations(&status).into_iter().map(|v| v.field).collect();
    for expected in [
        "targets[new-enterprises].reporters",
        "targets[new-enterprises].value",
        "targets[export-refund-days].deadline",
    ] {
        assert!(
            fields.contains(&expected.to_owned()),
            "{expected} missing from {fields:?}"
        );
    }
    // Nothing was written.
    assert_eq!(
        get(&mut suite.admin(), &target_name("new-enterprises"))
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );
    suite.stop().await;
}

async fn lists_targets_by_measure_action_and_department(backend: Backend) {
    let Some(suite) = Fixture::start(backend).await else {
        return;
    };
    let missing = suite
        .admin()
        .list_targets(pb::ListTargetsRequest {
            parent: PLAN.into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(reason(&missing).as_deref(), Some("PLAN_NOT_FOUND"));
    sync(&mut suite.sync_client(Caller::Service), suite.sync_request())
        .await
        .expect("syncs");
    let mut reader = suite.department("tax-bureau").await;

    let all = list(
        &mut reader,
        pb::ListTargetsRequest {
            page_size: 4,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(all.len(), suite.plan.targets.len());
    let mut expected: Vec<&duban_catalog::Target> = suite.plan.targets.iter().collect();
    let order = |m: &str| {
        let (a, b) = m.split_once('.').unwrap();
        (a.parse::<i32>().unwrap(), b.parse::<i32>().unwrap())
    };
    expected.sort_by(|a, b| (order(&a.measure), &a.code).cmp(&(order(&b.measure), &b.code)));
    assert_eq!(all, expected.iter().map(|t| t.code.clone()).collect::<Vec<_>>());

    let measure = list(
        &mut reader,
        pb::ListTargetsRequest {
            measure_number: "4.1".into(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(measure, ["new-100m-projects", "new-enterprises"]);

    let action = list(
        &mut reader,
        pb::ListTargetsRequest {
            action_number: 4,
            ..Default::default()
        },
    )
    .await;
    let action_four: Vec<_> = suite
        .plan
        .targets
        .iter()
        .filter(|t| t.measure.starts_with("4."))
        .collect();
    assert_eq!(action.len(), action_four.len());
    assert!(action.contains(&"new-enterprises".to_owned()) && action.contains(&"affordable-rental-housing".to_owned()));

    let town = list(
        &mut reader,
        pb::ListTargetsRequest {
            department: "nanxiang-town".into(),
            ..Default::default()
        },
    )
    .await;
    assert!(town.contains(&"new-enterprises".to_owned()), "{town:?}");
    assert!(!town.contains(&"export-refund-days".to_owned()));
    // The export-refund figure is the tax bureau's (plan.toml says why), not the lead
    // commerce commission's.
    let tax = list(
        &mut reader,
        pb::ListTargetsRequest {
            department: "tax-bureau".into(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(tax, ["export-refund-days"]);

    let unknown = reader
        .list_targets(pb::ListTargetsRequest {
            parent: PLAN.into(),
            department: "no-such-department".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::InvalidArgument);
    assert_eq!(field_violations(&unknown)[0].field, "department");
    suite.stop().await;
}

async fn computes_trajectories(backend: Backend) {
    let Some(suite) = Fixture::start(backend).await else {
        return;
    };
    sync(&mut suite.sync_client(Caller::Service), suite.sync_request())
        .await
        .expect("syncs");
    let mut reader = suite.admin();

    let periods = reader
        .get_trajectory(pb::GetTrajectoryRequest {
            name: target_name("new-enterprises"),
            dates: Vec::new(),
        })
        .await
        .expect("per-period trajectory")
        .into_inner();
    assert_eq!(periods.target, format!("{}@1", target_name("new-enterprises")));
    assert_eq!(periods.unit, common::QuantityUnit::Enterprises as i32);
    // The plan is in force from 3 March 2023 (本行动方案自2023年3月3日起施行): the
    // trajectory starts there, so there are ten monthly periods, March to December.
    assert_eq!(periods.start_date, Some(ymd(2023, 3, 3)));
    assert_eq!(periods.start_value, d("0.0"));
    assert_eq!(periods.points.len(), 10);
    assert_eq!(periods.points[0].period, Some(common::Period { year: 2023, month: 3 }));
    let last = periods.points.last().unwrap();
    assert_eq!(last.date, Some(ymd(2023, 12, 31)));
    assert_eq!(last.period, Some(common::Period { year: 2023, month: 12 }));
    assert_eq!(last.expected_value, d("40000.0"));
    assert_eq!(last.source, pb::TrajectoryPointSource::Deadline as i32);
    // 30 June is day 119 of the 303 days from 3 March to 31 December.
    let june = &periods.points[3];
    assert_eq!(june.date, Some(ymd(2023, 6, 30)));
    // 40000 x 119 / 303 = 15709.57095…, rounded to 4 places.
    assert_eq!(june.expected_value, d("15709.571"), "{june:?}");
    assert_eq!(june.source, pb::TrajectoryPointSource::Linear as i32);

    let dated = reader
        .get_trajectory(pb::GetTrajectoryRequest {
            name: target_name("new-enterprises"),
            // 1 August is day 151 of 303: half-way, in time and in value.
            dates: vec![ymd(2024, 3, 1), ymd(2023, 8, 1), ymd(2023, 1, 1)],
        })
        .await
        .expect("dated trajectory")
        .into_inner();
    let sources: Vec<_> = dated.points.iter().map(|p| p.source).collect();
    assert_eq!(
        sources,
        [
            pb::TrajectoryPointSource::Deadline as i32,
            pb::TrajectoryPointSource::Linear as i32,
            pb::TrajectoryPointSource::BeforeStart as i32,
        ]
    );
    assert_eq!(dated.points[0].expected_value, d("40000.0"));
    // 40000 x 151 / 303 = 19933.99339…, rounded to 4 places.
    assert_eq!(dated.points[1].expected_value, d("19933.9934"));
    assert_eq!(dated.points[2].expected_value, d("0.0"));
    assert!(dated.points.iter().all(|p| p.period.is_none()));

    let flat = reader
        .get_trajectory(pb::GetTrajectoryRequest {
            name: target_name("export-refund-days"),
            dates: vec![ymd(2023, 1, 1), ymd(2023, 6, 30), ymd(2024, 6, 30)],
        })
        .await
        .expect("flat trajectory")
        .into_inner();
    assert_eq!(flat.comparator, common::Comparator::AtMost as i32);
    assert_eq!(flat.start_value, d("5.0"));
    assert!(
        flat.points
            .iter()
            .all(|p| p.expected_value == d("5.0") && p.source == pb::TrajectoryPointSource::Flat as i32)
    );

    let bad = reader
        .get_trajectory(pb::GetTrajectoryRequest {
            name: target_name("new-enterprises"),
            dates: vec![ymd(2023, 2, 30)],
        })
        .await
        .unwrap_err();
    assert_eq!(field_violations(&bad)[0].field, "dates[0]");
    let too_many = reader
        .get_trajectory(pb::GetTrajectoryRequest {
            name: target_name("new-enterprises"),
            dates: vec![ymd(2023, 1, 1); 401],
        })
        .await
        .unwrap_err();
    assert_eq!(too_many.code(), Code::InvalidArgument);
    suite.stop().await;
}

async fn rebaselines_targets(backend: Backend) {
    let Some(suite) = Fixture::start(backend).await else {
        return;
    };
    let request = suite.sync_request();
    sync(&mut suite.sync_client(Caller::Service), request.clone())
        .await
        .expect("syncs");
    let mut admin = suite.admin();
    let name = target_name("new-enterprises");
    let current = get(&mut admin, &name).await.unwrap();
    let rebaseline = pb::RebaselineTargetRequest {
        name: name.clone(),
        value: d("45000.0"),
        reason: "district decision 2023-7".into(),
        etag: current.etag.clone(),
        ..Default::default()
    };

    let mut town = suite.department("nanxiang-town").await;
    let denied = town.rebaseline_target(rebaseline.clone()).await.unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    let denied = suite.service().rebaseline_target(rebaseline.clone()).await.unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);

    let stale = admin
        .rebaseline_target(pb::RebaselineTargetRequest {
            etag: "\"7\"".into(),
            ..rebaseline.clone()
        })
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Code::Aborted);
    assert_eq!(reason(&stale).as_deref(), Some("ETAG_MISMATCH"));

    let invalid = admin
        .rebaseline_target(pb::RebaselineTargetRequest {
            reason: String::new(),
            etag: String::new(),
            ..rebaseline.clone()
        })
        .await
        .unwrap_err();
    let fields: Vec<_> = field_violations(&invalid).into_iter().map(|v| v.field).collect();
    assert_eq!(fields, ["etag", "reason"]);

    let done = admin
        .rebaseline_target(rebaseline.clone())
        .await
        .expect("the admin rebaselines")
        .into_inner();
    assert_eq!(
        (done.revision, done.value, done.original_value),
        (2, d("45000.0"), d("40000.0"))
    );
    assert!(done.rebaselined);
    assert_eq!(done.revision_reason, "district decision 2023-7");
    assert_eq!(done.revised_by.unwrap().role, dpb::Role::Admin as i32);
    let stale_again = admin.rebaseline_target(rebaseline).await.unwrap_err();
    assert_eq!(stale_again.code(), Code::Aborted);

    // The same plan again leaves the rebaseline alone.
    let same = sync(&mut suite.sync_client(Caller::Service), request.clone())
        .await
        .expect("syncs");
    assert!(same.changed_paths.is_empty());
    assert_eq!(get(&mut admin, &name).await.unwrap().value, d("45000.0"));
    // A changed plan figure conflicts with it unless told to overwrite.
    let changed = with_value(request, "new-enterprises", d("42000.0"));
    let conflict = sync(&mut suite.sync_client(Caller::Service), changed.clone())
        .await
        .unwrap_err();
    assert_eq!(conflict.code(), Code::FailedPrecondition);
    assert_eq!(reason(&conflict).as_deref(), Some("REBASELINE_CONFLICT"));
    let overwritten = sync(
        &mut suite.sync_client(Caller::Service),
        pb::SyncPlanTargetsRequest {
            overwrite_rebaselined_targets: true,
            ..changed
        },
    )
    .await
    .expect("overwrites");
    assert_eq!(overwritten.changed_paths, ["targets[new-enterprises].value"]);
    let now = get(&mut admin, &name).await.unwrap();
    assert_eq!(
        (now.revision, now.value, now.original_value),
        (3, d("42000.0"), d("40000.0"))
    );
    assert!(!now.rebaselined);
    suite.stop().await;
}
