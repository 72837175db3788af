//! The departments service through its gRPC API only: each scenario starts a real
//! server on a fresh database and runs once on SQLite and once on PostgreSQL
//! (`<scenario>::sqlite`, `<scenario>::postgres`). PostgreSQL scenarios are skipped
//! loudly when the server is unreachable, unless `DUBAN_REQUIRE_POSTGRES=1`.

mod endpoints;
mod support;

use std::time::{Duration, Instant};

use duban_departments::SERVICE_NAME;
use duban_kit::testing::{self, Backend, TestDatabase};
use duban_proto::departments::v1::{self as pb, resolve_unit_response::Target};
use prost_types::FieldMask;
use support::{
    STARTUP, TestServer, credential_count, directory, error_metadata, expect_code, health_status,
    issue_department_token, list_all_departments, next_watched, violated_fields,
};
use tonic::Code;
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};

duban_kit::backend_tests!(
    health_turns_serving_once_the_database_is_ready,
    lists_departments_and_groups,
    resolves_units_as_plans_write_them,
    checks_tokens_and_roles,
    every_caller_learns_who_it_is,
    issues_and_revokes_credentials,
    creates_departments,
    updates_departments,
    designates_group_members,
    concurrent_updates_with_one_etag_have_one_winner,
    concurrent_creates_of_one_code_have_one_winner,
    seeding_is_idempotent_across_restarts,
    shutdown_with_an_open_watch_stream_is_bounded,
);

const ALL: pb::DepartmentKind = pb::DepartmentKind::Unspecified;
const SCOPE: &str = "plans/jiading-2023/measures/4.3";

fn mask(paths: &[&str]) -> Option<FieldMask> {
    Some(FieldMask {
        paths: paths.iter().map(|path| (*path).to_owned()).collect(),
    })
}

fn create_request(code: &str, display_name: &str, aliases: &[&str], request_id: &str) -> pb::CreateDepartmentRequest {
    pb::CreateDepartmentRequest {
        department: Some(pb::Department {
            code: code.to_owned(),
            display_name: display_name.to_owned(),
            display_name_en: format!("{code} (test)"),
            kind: pb::DepartmentKind::Office as i32,
            aliases: aliases.iter().map(|alias| (*alias).to_owned()).collect(),
            ..Default::default()
        }),
        request_id: request_id.to_owned(),
        validate_only: false,
    }
}

fn designate(group: &str, members: &[&str], etag: &str) -> pb::UpdateGroupDesignationRequest {
    pb::UpdateGroupDesignationRequest {
        designation: Some(pb::GroupDesignation {
            group: group.to_owned(),
            scope: SCOPE.to_owned(),
            members: members.iter().map(|member| (*member).to_owned()).collect(),
            etag: etag.to_owned(),
            ..Default::default()
        }),
        request_id: String::new(),
        validate_only: false,
        // Set or create: the tests below check the refusal without it separately.
        allow_missing: true,
    }
}

async fn resolve(client: &mut support::Client, written: &str) -> Result<Target, tonic::Status> {
    let response = client
        .resolve_unit(pb::ResolveUnitRequest {
            written: written.to_owned(),
        })
        .await?;
    Ok(response.into_inner().target.expect("ResolveUnit sets a target"))
}

async fn resolve_department(client: &mut support::Client, written: &str) -> String {
    match resolve(client, written).await {
        Ok(Target::Department(department)) => department.code,
        other => panic!("{written:?} should resolve to a department, got {other:?}"),
    }
}

async fn get_department(client: &mut support::Client, code: &str) -> Result<pb::Department, tonic::Status> {
    let request = pb::GetDepartmentRequest {
        name: format!("departments/{code}"),
    };
    client.get_department(request).await.map(tonic::Response::into_inner)
}

async fn total_departments(client: &mut support::Client) -> i32 {
    client
        .list_departments(pb::ListDepartmentsRequest::default())
        .await
        .expect("ListDepartments")
        .into_inner()
        .total_size
}

async fn reflected_services_v1alpha(addr: std::net::SocketAddr) -> Vec<String> {
    use tonic_reflection::pb::v1alpha::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut client = ServerReflectionClient::new(testing::channel(addr, None));
    let mut stream = client
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .expect("v1alpha reflection answers")
        .into_inner();
    match stream
        .message()
        .await
        .expect("a reflection response")
        .map(|r| r.message_response)
    {
        Some(Some(MessageResponse::ListServicesResponse(list))) => list.service.into_iter().map(|s| s.name).collect(),
        other => panic!("unexpected v1alpha reflection response: {other:?}"),
    }
}

async fn reflected_services_v1(addr: std::net::SocketAddr) -> Vec<String> {
    use tonic_reflection::pb::v1::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut client = ServerReflectionClient::new(testing::channel(addr, None));
    let mut stream = client
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .expect("v1 reflection answers")
        .into_inner();
    match stream
        .message()
        .await
        .expect("a reflection response")
        .map(|r| r.message_response)
    {
        Some(Some(MessageResponse::ListServicesResponse(list))) => list.service.into_iter().map(|s| s.name).collect(),
        other => panic!("unexpected v1 reflection response: {other:?}"),
    }
}

/// Health is NOT_SERVING (and calls UNAVAILABLE) while the database cannot be opened,
/// turns SERVING by itself once it can, and reflection lists the service.
async fn health_turns_serving_once_the_database_is_ready(backend: Backend) {
    let Some(db) = TestDatabase::new_pending(backend).await else {
        return;
    };
    let settings = testing::test_settings(db.url());
    let server = duban_departments::start(&settings, directory()).await.unwrap();
    let addr = server.local_addr();
    let mut health = testing::health_client(addr);

    for service in ["", SERVICE_NAME] {
        assert_eq!(
            health_status(&mut health, service).await,
            ServingStatus::NotServing,
            "{service:?}"
        );
    }
    let unknown = health
        .check(HealthCheckRequest {
            service: "nope.Nope".into(),
        })
        .await;
    expect_code(unknown, Code::NotFound);
    let mut admin = support::client(addr, Some(&settings.auth.bootstrap_admin_token));
    expect_code(
        admin.list_departments(pb::ListDepartmentsRequest::default()).await,
        Code::Unavailable,
    );

    let mut watch = health
        .watch(HealthCheckRequest {
            service: SERVICE_NAME.into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(next_watched(&mut watch, STARTUP).await, Some(ServingStatus::NotServing));

    db.make_available().await;
    assert_eq!(next_watched(&mut watch, STARTUP).await, Some(ServingStatus::Serving));
    testing::wait_serving(addr, "", STARTUP).await;
    assert_eq!(health_status(&mut health, "").await, ServingStatus::Serving);
    assert_eq!(total_departments(&mut admin).await, 46);

    for services in [
        reflected_services_v1alpha(addr).await,
        reflected_services_v1(addr).await,
    ] {
        assert!(services.iter().any(|s| s == SERVICE_NAME), "{services:?}");
        assert!(services.iter().any(|s| s == "grpc.health.v1.Health"), "{services:?}");
    }
    server.shutdown().await;
}

/// All 46 units over pages of 10, the kind filter, and the 6 groups.
async fn lists_departments_and_groups(backend: Backend) {
    let Some(t) = TestServer::start(backend).await else {
        return;
    };
    let mut client = t.department("tax-bureau").await;

    let served = client
        .get_directory(pb::GetDirectoryRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (
            served.code.as_str(),
            served.display_name.as_str(),
            served.display_name_en.as_str()
        ),
        ("jiading", "嘉定区", "Jiading District")
    );

    let listing = list_all_departments(&mut client, ALL, 10).await;
    assert_eq!(listing.page_sizes, [10, 10, 10, 10, 6]);
    assert_eq!(listing.total_sizes, [46; 5]);
    let codes: Vec<&str> = listing.units.iter().map(|unit| unit.code.as_str()).collect();
    let mut sorted = codes.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(codes, sorted, "pages are in code order, without repeats");
    let expected: Vec<String> = directory().units().iter().map(|unit| unit.code.clone()).collect();
    assert!(expected.iter().all(|code| codes.contains(&code.as_str())));
    let tax = listing.units.iter().find(|unit| unit.code == "tax-bureau").unwrap();
    assert_eq!(tax.name, "departments/tax-bureau");
    assert_eq!(tax.display_name, "区税务局");
    assert_eq!(tax.kind(), pb::DepartmentKind::Bureau);
    assert!(tax.aliases.iter().any(|alias| alias == "嘉定区税务局"));
    assert!(!tax.etag.is_empty() && tax.create_time.is_some() && tax.update_time.is_some());
    assert_eq!(get_department(&mut client, "tax-bureau").await.unwrap(), *tax);
    expect_code(
        client
            .get_department(pb::GetDepartmentRequest {
                name: "departments/no-such-unit".into(),
            })
            .await,
        Code::NotFound,
    );

    let towns = list_all_departments(&mut client, pb::DepartmentKind::TownOrStreet, 0).await;
    assert_eq!(towns.units.len(), 12);
    assert_eq!(towns.total_sizes, [12]);
    assert!(
        towns
            .units
            .iter()
            .all(|unit| unit.kind() == pb::DepartmentKind::TownOrStreet)
    );

    // A page token only continues the listing it was issued for.
    let first = client
        .list_departments(pb::ListDepartmentsRequest {
            page_size: 10,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let foreign = client
        .list_departments(pb::ListDepartmentsRequest {
            page_size: 10,
            page_token: first.next_page_token,
            kind: pb::DepartmentKind::TownOrStreet as i32,
        })
        .await;
    assert_eq!(
        violated_fields(&expect_code(foreign, Code::InvalidArgument)),
        ["page_token"]
    );

    let groups = support::all_groups(&mut client).await;
    let group_codes: Vec<&str> = groups.iter().map(|group| group.code.as_str()).collect();
    assert_eq!(
        group_codes,
        [
            "all-towns",
            "law-enforcement-departments",
            "project-authorities",
            "relevant-departments",
            "relevant-district-companies",
            "relevant-towns",
        ]
    );
    let all_towns = client
        .get_group(pb::GetGroupRequest {
            name: "groups/all-towns".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(all_towns.kind(), pb::GroupKind::Fixed);
    assert_eq!(all_towns.members.len(), 12);
    let mut members = all_towns.members.clone();
    members.sort_unstable();
    let mut town_codes: Vec<String> = towns.units.iter().map(|unit| unit.code.clone()).collect();
    town_codes.sort_unstable();
    assert_eq!(members, town_codes);
    let relevant = groups.iter().find(|group| group.code == "relevant-towns").unwrap();
    assert_eq!(relevant.kind(), pb::GroupKind::Designated);
    assert_eq!(relevant.member_kinds, [pb::DepartmentKind::TownOrStreet as i32]);
    assert!(relevant.members.is_empty());
    t.stop().await;
}

/// Names, aliases, full- and half-width parentheses and spaces all resolve.
async fn resolves_units_as_plans_write_them(backend: Backend) {
    let Some(t) = TestServer::start(backend).await else {
        return;
    };
    let mut client = t.service();

    for written in ["区经委(金融办)", "区经委", "区经委（金融办）", " 区经委 （金融办） "] {
        assert_eq!(
            resolve_department(&mut client, written).await,
            "economic-commission",
            "{written}"
        );
    }
    for written in ["区府办（外事办）", "区政府办（审改办）", "区政府办公室"] {
        assert_eq!(
            resolve_department(&mut client, written).await,
            "government-office",
            "{written}"
        );
    }
    let response = client
        .resolve_unit(pb::ResolveUnitRequest {
            written: "区经委（金融办）".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.normalized, "区经委(金融办)");

    match resolve(&mut client, "各街镇").await {
        Ok(Target::Group(group)) => {
            assert_eq!(group.code, "all-towns");
            assert_eq!(group.members.len(), 12);
        }
        other => panic!("各街镇 should resolve to a group, got {other:?}"),
    }
    match resolve(&mut client, "相关镇街").await {
        Ok(Target::Group(group)) => assert_eq!(group.code, "relevant-towns"),
        other => panic!("相关镇街 should resolve to a group, got {other:?}"),
    }

    let unknown = expect_code(resolve(&mut client, "区不存在局").await, Code::NotFound);
    assert!(unknown.message().contains("区不存在局"), "{}", unknown.message());
    for empty in ["", "  　"] {
        let status = expect_code(resolve(&mut client, empty).await, Code::InvalidArgument);
        assert_eq!(violated_fields(&status), ["written"]);
    }
    t.stop().await;
}

/// Who may call what: missing and unknown tokens, department, service and admin roles.
async fn checks_tokens_and_roles(backend: Backend) {
    let Some(t) = TestServer::start(backend).await else {
        return;
    };
    let list = pb::ListDepartmentsRequest::default;

    let status = expect_code(t.anonymous().list_departments(list()).await, Code::Unauthenticated);
    assert_eq!(duban_kit::status::reason(&status).as_deref(), Some("TOKEN_INVALID"));
    let mut garbage = t.client(Some("dbn_thisIsNotAToken"));
    let status = expect_code(garbage.list_departments(list()).await, Code::Unauthenticated);
    assert_eq!(duban_kit::status::reason(&status).as_deref(), Some("TOKEN_INVALID"));
    expect_code(
        garbage
            .resolve_unit(pb::ResolveUnitRequest {
                written: "区经委".into(),
            })
            .await,
        Code::Unauthenticated,
    );

    // A department reads, but does not administer.
    let mut department = t.department("tax-bureau").await;
    assert_eq!(
        department
            .list_departments(list())
            .await
            .unwrap()
            .into_inner()
            .total_size,
        46
    );
    let create = || create_request("audit-office", "区审计办", &[], "");
    expect_code(department.create_department(create()).await, Code::PermissionDenied);
    let issue = || pb::IssueCredentialRequest {
        credential: Some(pb::Credential {
            role: pb::Role::Admin as i32,
            ..Default::default()
        }),
        ..Default::default()
    };
    expect_code(department.issue_credential(issue()).await, Code::PermissionDenied);
    expect_code(
        department.list_credentials(pb::ListCredentialsRequest::default()).await,
        Code::PermissionDenied,
    );
    expect_code(
        department
            .update_group_designation(designate("relevant-towns", &["malu-town"], ""))
            .await,
        Code::PermissionDenied,
    );
    // Neither does another service.
    let mut service = t.service();
    assert_eq!(
        service.list_departments(list()).await.unwrap().into_inner().total_size,
        46
    );
    expect_code(service.create_department(create()).await, Code::PermissionDenied);
    expect_code(get_department(&mut department, "audit-office").await, Code::NotFound);

    // The bootstrap administrator can.
    let mut admin = t.admin();
    let created = admin.create_department(create()).await.unwrap().into_inner();
    assert_eq!(created.name, "departments/audit-office");
    let issued = admin.issue_credential(issue()).await.unwrap().into_inner();
    assert!(issued.token.starts_with("dbn_"));
    assert_eq!(issued.credential.unwrap().role(), pb::Role::Admin);
    t.stop().await;
}

/// Issue, use, authenticate, retry and revoke credentials.
async fn issues_and_revokes_credentials(backend: Backend) {
    let Some(t) = TestServer::start(backend).await else {
        return;
    };
    let mut admin = t.admin();
    assert_eq!(credential_count(&mut admin, true).await, 1, "only the bootstrap admin");

    let (credential, token) = issue_department_token(&mut admin, "tax-bureau", "issue-tax-1").await;
    assert!(token.starts_with("dbn_") && token.len() > 40, "{token}");
    assert!(credential.name.starts_with("credentials/"));
    assert_eq!(credential.role(), pb::Role::Department);
    assert_eq!(credential.department, "tax-bureau");
    assert_eq!(credential.token_prefix, token[..8]);
    assert!(credential.create_time.is_some() && credential.revoke_time.is_none());

    // The token authenticates.
    let mut department = t.client(Some(&token));
    assert_eq!(total_departments(&mut department).await, 46);

    // Services learn who holds it (through the internal service); departments may not ask.
    let mut service = t.internal_service();
    let who = service
        .authenticate_token(pb::AuthenticateTokenRequest { token: token.clone() })
        .await
        .unwrap()
        .into_inner();
    let principal = who.principal.unwrap();
    assert_eq!(principal.role(), pb::Role::Department);
    assert_eq!(principal.department, "tax-bureau");
    assert_eq!(principal.credential, credential.name);
    assert!(
        who.cache_ttl_seconds > 0 && who.cache_ttl_seconds <= 30,
        "{}",
        who.cache_ttl_seconds
    );
    let bootstrap = service
        .authenticate_token(pb::AuthenticateTokenRequest {
            token: t.settings().auth.bootstrap_admin_token.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(bootstrap.principal.unwrap().role(), pb::Role::Admin);
    expect_code(
        t.internal(&token)
            .authenticate_token(pb::AuthenticateTokenRequest { token: token.clone() })
            .await,
        Code::PermissionDenied,
    );
    expect_code(
        service
            .authenticate_token(pb::AuthenticateTokenRequest {
                token: "dbn_unknown".into(),
            })
            .await,
        Code::Unauthenticated,
    );

    // A retry with the same request id names the same credential, without the token,
    // and issues nothing new.
    let (again, again_token) = issue_department_token(&mut admin, "tax-bureau", "issue-tax-1").await;
    assert_eq!(again.name, credential.name);
    assert_eq!(again_token, "");
    assert_eq!(credential_count(&mut admin, true).await, 2);

    // Bad requests name the field.
    let bad = |role: pb::Role, department: &str| pb::IssueCredentialRequest {
        credential: Some(pb::Credential {
            role: role as i32,
            department: department.to_owned(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let status = expect_code(
        admin.issue_credential(bad(pb::Role::Service, "")).await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_fields(&status), ["credential.role"]);
    let status = expect_code(
        admin.issue_credential(bad(pb::Role::Department, "no-such-unit")).await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_fields(&status), ["credential.department"]);
    let status = expect_code(
        admin.issue_credential(bad(pb::Role::Department, "")).await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_fields(&status), ["credential.department"]);
    assert_eq!(credential_count(&mut admin, true).await, 2);

    // Revocation takes effect at once in this service.
    let revoked = admin
        .revoke_credential(pb::RevokeCredentialRequest {
            name: credential.name.clone(),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(revoked.revoke_time.is_some());
    let status = expect_code(
        department.list_departments(pb::ListDepartmentsRequest::default()).await,
        Code::Unauthenticated,
    );
    assert_eq!(duban_kit::status::reason(&status).as_deref(), Some("TOKEN_INVALID"));
    expect_code(
        service
            .authenticate_token(pb::AuthenticateTokenRequest { token: token.clone() })
            .await,
        Code::Unauthenticated,
    );
    assert_eq!(credential_count(&mut admin, false).await, 1);
    assert_eq!(credential_count(&mut admin, true).await, 2);
    expect_code(
        admin
            .revoke_credential(pb::RevokeCredentialRequest {
                name: "credentials/999999".into(),
                request_id: String::new(),
            })
            .await,
        Code::NotFound,
    );
    t.stop().await;
}

/// validate_only, every violation at once, taken names, and request-id retries.
async fn creates_departments(backend: Backend) {
    let Some(t) = TestServer::start(backend).await else {
        return;
    };
    let mut admin = t.admin();

    // validate_only answers as a create would, and writes nothing.
    let mut request = create_request("audit-office", "区审计办", &["嘉定区审计办"], "");
    request.validate_only = true;
    let preview = admin.create_department(request).await.unwrap().into_inner();
    assert_eq!(preview.name, "departments/audit-office");
    assert_eq!(preview.display_name, "区审计办");
    expect_code(get_department(&mut admin, "audit-office").await, Code::NotFound);
    expect_code(resolve(&mut admin, "嘉定区审计办").await, Code::NotFound);
    assert_eq!(total_departments(&mut admin).await, 46);

    // Every bad field is reported at once.
    let invalid = pb::CreateDepartmentRequest {
        department: Some(pb::Department {
            code: "Audit Office".into(),
            display_name: "  ".into(),
            kind: pb::DepartmentKind::Unspecified as i32,
            aliases: vec!["区审计办".into(), String::new()],
            ..Default::default()
        }),
        ..Default::default()
    };
    let status = expect_code(admin.create_department(invalid).await, Code::InvalidArgument);
    assert_eq!(
        violated_fields(&status),
        [
            "department.code",
            "department.display_name",
            "department.kind",
            "department.aliases[1]"
        ]
    );
    assert_eq!(duban_kit::status::reason(&status).as_deref(), Some("FIELD_INVALID"));

    // A spelling another unit owns, and a code another unit has.
    let taken = create_request(
        "finance-office",
        "区金融服务办",
        &["区金融服务中心", "区经委（金融办）"],
        "",
    );
    let status = expect_code(admin.create_department(taken).await, Code::AlreadyExists);
    assert_eq!(
        error_metadata(&status, "field").as_deref(),
        Some("department.aliases[1]")
    );
    assert_eq!(error_metadata(&status, "owner").as_deref(), Some("economic-commission"));
    expect_code(resolve(&mut admin, "区金融服务中心").await, Code::NotFound);
    let status = expect_code(
        admin
            .create_department(create_request("tax-bureau", "区新税务局", &[], ""))
            .await,
        Code::AlreadyExists,
    );
    assert_eq!(error_metadata(&status, "field").as_deref(), Some("department.code"));
    assert_eq!(total_departments(&mut admin).await, 46);

    // A request id makes the create safe to retry.
    let request = create_request("audit-office", "区审计办", &["嘉定区审计办"], "create-audit-1");
    let created = admin.create_department(request.clone()).await.unwrap().into_inner();
    assert_eq!(created.etag, "\"1\"");
    let retried = admin.create_department(request.clone()).await.unwrap().into_inner();
    assert_eq!(retried, created, "the retry answers what the first call answered");
    assert_eq!(total_departments(&mut admin).await, 47);
    assert_eq!(get_department(&mut admin, "audit-office").await.unwrap(), created);
    assert_eq!(resolve_department(&mut admin, "嘉定区审计办").await, "audit-office");

    let mut reused = request;
    reused.department.as_mut().unwrap().display_name = "区审计局".into();
    let status = expect_code(admin.create_department(reused).await, Code::InvalidArgument);
    assert_eq!(violated_fields(&status), ["request_id"]);
    assert_eq!(
        get_department(&mut admin, "audit-office").await.unwrap().display_name,
        "区审计办"
    );
    // Without a request id, the same create is a conflict.
    expect_code(
        admin
            .create_department(create_request("audit-office", "区审计办", &[], ""))
            .await,
        Code::AlreadyExists,
    );
    assert_eq!(total_departments(&mut admin).await, 47);
    t.stop().await;
}

/// Etags guard against lost updates; the mask limits what changes; aliases move.
async fn updates_departments(backend: Backend) {
    let Some(t) = TestServer::start(backend).await else {
        return;
    };
    let mut admin = t.admin();
    let original = get_department(&mut admin, "tax-bureau").await.unwrap();
    let update = |etag: &str, paths: &[&str]| pb::UpdateDepartmentRequest {
        department: Some(pb::Department {
            name: "departments/tax-bureau".into(),
            display_name: "区税务总局".into(),
            display_name_en: "CHANGED".into(),
            kind: pb::DepartmentKind::Office as i32,
            aliases: vec!["区税务分局".into(), "嘉定区税务局".into()],
            etag: etag.to_owned(),
            ..Default::default()
        }),
        update_mask: mask(paths),
        ..Default::default()
    };

    let status = expect_code(
        admin.update_department(update("\"999\"", &["aliases"])).await,
        Code::Aborted,
    );
    assert_eq!(error_metadata(&status, "current_etag"), Some(original.etag.clone()));
    assert_eq!(get_department(&mut admin, "tax-bureau").await.unwrap(), original);

    let updated = admin
        .update_department(update(&original.etag, &["aliases"]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.aliases, ["区税务分局", "嘉定区税务局"]);
    assert_eq!(updated.display_name, original.display_name, "not in the mask");
    assert_eq!(updated.display_name_en, original.display_name_en, "not in the mask");
    assert_eq!(updated.kind, original.kind, "not in the mask");
    assert_eq!(updated.create_time, original.create_time);
    assert_ne!(updated.etag, original.etag);
    assert_eq!(get_department(&mut admin, "tax-bureau").await.unwrap(), updated);

    // The new alias resolves; the dropped one no longer does.
    assert_eq!(resolve_department(&mut admin, "区税务分局").await, "tax-bureau");
    assert_eq!(resolve_department(&mut admin, "区税务局").await, "tax-bureau");
    expect_code(
        resolve(&mut admin, "国家税务总局上海市嘉定区税务局").await,
        Code::NotFound,
    );

    // The old etag is stale now.
    expect_code(
        admin
            .update_department(update(&original.etag, &["display_name_en"]))
            .await,
        Code::Aborted,
    );
    let renamed = admin
        .update_department(update(&updated.etag, &["display_name_en"]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(renamed.display_name_en, "CHANGED");
    assert_eq!(renamed.aliases, updated.aliases);

    // AIP-134: an empty mask updates only the fields the request sets; the aliases (and
    // the other fields) it leaves empty keep their values instead of being wiped.
    let english_only = admin
        .update_department(pb::UpdateDepartmentRequest {
            department: Some(pb::Department {
                name: "departments/tax-bureau".into(),
                display_name_en: "Jiading Tax Bureau".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(english_only.display_name_en, "Jiading Tax Bureau");
    assert_eq!(english_only.aliases, renamed.aliases, "aliases are not wiped");
    assert_eq!(english_only.display_name, renamed.display_name);
    assert_eq!(english_only.kind, renamed.kind);
    assert_eq!(resolve_department(&mut admin, "区税务分局").await, "tax-bureau");

    // Fields outside the mask vocabulary, names of other units, unknown units.
    let status = expect_code(
        admin.update_department(update("", &["code"])).await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_fields(&status), ["update_mask"]);
    let mut steal = update("", &["aliases"]);
    steal.department.as_mut().unwrap().aliases = vec!["区财政局".into()];
    expect_code(admin.update_department(steal).await, Code::AlreadyExists);
    assert_eq!(resolve_department(&mut admin, "区财政局").await, "finance-bureau");
    let mut missing = update("", &["aliases"]);
    missing.department.as_mut().unwrap().name = "departments/no-such-unit".into();
    expect_code(admin.update_department(missing).await, Code::NotFound);
    t.stop().await;
}

/// Designating the relevant towns of one measure, and the rules on members and groups.
async fn designates_group_members(backend: Backend) {
    let Some(t) = TestServer::start(backend).await else {
        return;
    };
    let mut admin = t.admin();
    let get = || pb::GetGroupDesignationRequest {
        group: "relevant-towns".into(),
        scope: SCOPE.into(),
    };
    expect_code(admin.get_group_designation(get()).await, Code::NotFound);

    // AIP-134: without allow_missing, a designation that does not exist (a typo in the
    // scope, say) is NOT_FOUND, and nothing is created.
    let status = expect_code(
        admin
            .update_group_designation(pb::UpdateGroupDesignationRequest {
                allow_missing: false,
                ..designate("relevant-towns", &["nanxiang-town"], "")
            })
            .await,
        Code::NotFound,
    );
    assert_eq!(
        duban_kit::status::reason(&status).as_deref(),
        Some("DESIGNATION_NOT_FOUND")
    );
    expect_code(admin.get_group_designation(get()).await, Code::NotFound);

    let designated = admin
        .update_group_designation(designate("relevant-towns", &["nanxiang-town", "anting-town"], ""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        designated.name,
        "groups/relevant-towns/designations/plans~jiading-2023~measures~4.3"
    );
    assert_eq!(designated.members, ["nanxiang-town", "anting-town"]);
    assert_eq!(
        admin.get_group_designation(get()).await.unwrap().into_inner(),
        designated
    );

    let list = |member: &str| pb::ListGroupDesignationsRequest {
        member: member.to_owned(),
        ..Default::default()
    };
    let mut reader = t.department("anting-town").await;
    let mine = reader
        .list_group_designations(list("anting-town"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(mine.designations, std::slice::from_ref(&designated));
    let none = reader
        .list_group_designations(list("malu-town"))
        .await
        .unwrap()
        .into_inner();
    assert!(none.designations.is_empty());

    // Members must be units of the kinds the group admits, listed once.
    let status = expect_code(
        admin
            .update_group_designation(designate("relevant-towns", &["malu-town", "tax-bureau"], ""))
            .await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_fields(&status), ["designation.members[1]"]);
    let status = expect_code(
        admin
            .update_group_designation(designate(
                "relevant-towns",
                &["no-such-unit", "malu-town", "malu-town"],
                "",
            ))
            .await,
        Code::InvalidArgument,
    );
    assert_eq!(
        violated_fields(&status),
        ["designation.members[0]", "designation.members[2]"]
    );
    // Fixed groups take no designation; unknown groups are no groups.
    let status = expect_code(
        admin
            .update_group_designation(designate("all-towns", &["malu-town"], ""))
            .await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_fields(&status), ["designation.group"]);
    let status = expect_code(
        admin
            .update_group_designation(designate("no-such-group", &["malu-town"], ""))
            .await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_fields(&status), ["designation.group"]);
    assert_eq!(
        admin.get_group_designation(get()).await.unwrap().into_inner(),
        designated
    );

    // Etags guard designations too.
    expect_code(
        admin
            .update_group_designation(designate("relevant-towns", &["malu-town"], "\"999\""))
            .await,
        Code::Aborted,
    );
    // An existing designation is updated with or without allow_missing.
    let changed = admin
        .update_group_designation(pb::UpdateGroupDesignationRequest {
            allow_missing: false,
            ..designate("relevant-towns", &["malu-town"], &designated.etag)
        })
        .await
        .unwrap()
        .into_inner();
    assert_ne!(changed.etag, designated.etag);
    let now_malu = reader
        .list_group_designations(list("malu-town"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(now_malu.designations, [changed]);
    assert!(
        reader
            .list_group_designations(list("anting-town"))
            .await
            .unwrap()
            .into_inner()
            .designations
            .is_empty()
    );
    t.stop().await;
}

/// Etags are checked atomically with the write: of several updates sent at once with
/// the same etag, exactly one wins and the others are ABORTED (no lost update).
async fn concurrent_updates_with_one_etag_have_one_winner(backend: Backend) {
    let Some(t) = TestServer::start(backend).await else {
        return;
    };
    let original = get_department(&mut t.admin(), "tax-bureau").await.unwrap();
    let updates = ["甲税务所", "乙税务所", "丙税务所", "丁税务所"].map(|alias| {
        let mut admin = t.admin();
        let request = pb::UpdateDepartmentRequest {
            department: Some(pb::Department {
                name: "departments/tax-bureau".into(),
                aliases: vec![alias.to_owned()],
                etag: original.etag.clone(),
                ..Default::default()
            }),
            update_mask: mask(&["aliases"]),
            ..Default::default()
        };
        async move { admin.update_department(request).await.map(tonic::Response::into_inner) }
    });
    let results = futures::future::join_all(updates).await;
    let winners: Vec<&pb::Department> = results.iter().filter_map(|result| result.as_ref().ok()).collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    for result in &results {
        if let Err(status) = result {
            assert_eq!(status.code(), Code::Aborted, "{status:?}");
        }
    }
    assert_eq!(get_department(&mut t.admin(), "tax-bureau").await.unwrap(), *winners[0]);

    let mut admin = t.admin();
    let first = admin
        .update_group_designation(designate("relevant-towns", &["malu-town"], ""))
        .await
        .unwrap()
        .into_inner();
    let designations = ["anting-town", "nanxiang-town", "xuhang-town", "huating-town"].map(|town| {
        let mut admin = t.admin();
        let request = designate("relevant-towns", &[town], &first.etag);
        async move {
            admin
                .update_group_designation(request)
                .await
                .map(tonic::Response::into_inner)
        }
    });
    let results = futures::future::join_all(designations).await;
    let winners: Vec<&pb::GroupDesignation> = results.iter().filter_map(|result| result.as_ref().ok()).collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    assert!(
        results
            .iter()
            .flat_map(|result| result.as_ref().err())
            .all(|status| status.code() == Code::Aborted)
    );
    let stored = admin
        .get_group_designation(pb::GetGroupDesignationRequest {
            group: "relevant-towns".into(),
            scope: SCOPE.into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stored, *winners[0]);
    t.stop().await;
}

/// Creates sent at once: retries of one request all get its answer; different
/// requests for one code get one success and ALREADY_EXISTS, never INTERNAL.
async fn concurrent_creates_of_one_code_have_one_winner(backend: Backend) {
    let Some(t) = TestServer::start(backend).await else {
        return;
    };
    let retries = (0..6).map(|_| {
        let mut admin = t.admin();
        let request = create_request("audit-office", "区审计办", &["嘉定区审计办"], "create-audit-1");
        async move { admin.create_department(request).await.map(tonic::Response::into_inner) }
    });
    let results = futures::future::join_all(retries).await;
    let first = results[0].as_ref().expect("the create succeeds");
    for result in &results {
        assert_eq!(
            result.as_ref().ok(),
            Some(first),
            "every retry gets the first answer: {result:?}"
        );
    }

    let rivals = (0..6).map(|i| {
        let mut admin = t.admin();
        let request = create_request("audit-bureau", "区审计局", &[], &format!("create-rival-{i}"));
        async move { admin.create_department(request).await.map(tonic::Response::into_inner) }
    });
    let results = futures::future::join_all(rivals).await;
    assert_eq!(results.iter().filter(|result| result.is_ok()).count(), 1, "{results:?}");
    for result in &results {
        if let Err(status) = result {
            assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");
        }
    }
    assert_eq!(total_departments(&mut t.admin()).await, 48);
    t.stop().await;
}

/// A second server on the same database rewrites nothing and keeps an admin's edit.
async fn seeding_is_idempotent_across_restarts(backend: Backend) {
    let Some(t) = TestServer::start(backend).await else {
        return;
    };
    let mut admin = t.admin();
    let edited = admin
        .update_department(pb::UpdateDepartmentRequest {
            department: Some(pb::Department {
                name: "departments/tax-bureau".into(),
                display_name_en: "Tax Bureau, as the administrator spells it".into(),
                ..Default::default()
            }),
            update_mask: mask(&["display_name_en"]),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let units_before = list_all_departments(&mut admin, ALL, 500).await.units;
    let groups_before = support::all_groups(&mut admin).await;
    let credentials_before = credential_count(&mut admin, true).await;
    assert_eq!(units_before.len(), 46);

    let t = t.restart().await;
    let mut admin = t.admin();
    let units_after = list_all_departments(&mut admin, ALL, 500).await.units;
    assert_eq!(
        units_after, units_before,
        "same etags, times and values after a restart"
    );
    assert_eq!(support::all_groups(&mut admin).await, groups_before);
    assert_eq!(
        credential_count(&mut admin, true).await,
        credentials_before,
        "the bootstrap admin is not re-added"
    );
    let tax = get_department(&mut admin, "tax-bureau").await.unwrap();
    assert_eq!(tax, edited);
    assert_eq!(tax.display_name_en, "Tax Bureau, as the administrator spells it");
    t.stop().await;
}

/// An open health Watch stream does not hold shutdown beyond the grace period, and
/// the watcher hears NOT_SERVING first.
async fn shutdown_with_an_open_watch_stream_is_bounded(backend: Backend) {
    let Some(mut t) = TestServer::start(backend).await else {
        return;
    };
    assert_eq!(t.settings().server.shutdown_grace_ms, 500);
    let addr = t.addr();
    let mut health = testing::health_client(addr);
    let mut watch = health
        .watch(HealthCheckRequest {
            service: SERVICE_NAME.into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(next_watched(&mut watch, STARTUP).await, Some(ServingStatus::Serving));

    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(3), t.take_server().shutdown())
        .await
        .expect("shutdown returns within 3 s despite the open Watch stream");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "shutdown took {took:?}");
    assert_eq!(
        next_watched(&mut watch, Duration::from_secs(2)).await,
        Some(ServingStatus::NotServing)
    );
    // The stream itself is cut once the grace period is over: it ends instead of
    // keeping the connection (and the server's database pool) alive.
    let ended = tokio::time::timeout(Duration::from_secs(2), watch.message()).await;
    assert!(
        matches!(ended, Ok(Err(_)) | Ok(Ok(None))),
        "the Watch stream is still open: {ended:?}"
    );

    // No new calls: neither on the open connection nor on a new one.
    let again = health.check(HealthCheckRequest { service: String::new() }).await;
    assert!(again.is_err(), "{again:?}");
    let mut fresh = testing::health_client(addr);
    expect_code(
        fresh.check(HealthCheckRequest { service: String::new() }).await,
        Code::Unavailable,
    );
}

/// GetCallerIdentity answers every authenticated role: a department learns its code and
/// names from its token alone; the other roles act for no unit; no token is refused.
async fn every_caller_learns_who_it_is(backend: Backend) {
    let Some(t) = TestServer::start(backend).await else {
        return;
    };
    let ask = pb::GetCallerIdentityRequest::default;
    let (credential, token) = issue_department_token(&mut t.admin(), "tax-bureau", "").await;
    let town = t
        .client(Some(&token))
        .get_caller_identity(ask())
        .await
        .unwrap()
        .into_inner();
    let principal = town.principal.expect("a principal");
    assert_eq!(
        (
            principal.role(),
            principal.department.as_str(),
            principal.credential.as_str()
        ),
        (pb::Role::Department, "tax-bureau", credential.name.as_str())
    );
    let unit = town.department.expect("a department caller's unit");
    assert_eq!(
        (unit.code.as_str(), unit.name.as_str()),
        ("tax-bureau", "departments/tax-bureau")
    );
    assert_eq!(unit.display_name, "区税务局");
    assert!(!unit.display_name_en.is_empty());

    let leadership = t
        .admin()
        .issue_credential(pb::IssueCredentialRequest {
            credential: Some(pb::Credential {
                role: pb::Role::Leadership as i32,
                description: "district leadership".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    for (mut client, role, credential) in [
        (t.admin(), pb::Role::Admin, None),
        (t.service(), pb::Role::Service, Some(String::new())),
        (
            t.client(Some(&leadership.token)),
            pb::Role::Leadership,
            leadership.credential.map(|c| c.name),
        ),
    ] {
        let identity = client.get_caller_identity(ask()).await.unwrap().into_inner();
        let principal = identity.principal.expect("a principal");
        assert_eq!((principal.role(), principal.department.as_str()), (role, ""));
        if let Some(credential) = credential {
            assert_eq!(principal.credential, credential);
        }
        assert_eq!(identity.department, None, "{role:?} acts for no unit");
    }
    let status = expect_code(t.anonymous().get_caller_identity(ask()).await, Code::Unauthenticated);
    assert_eq!(duban_kit::status::reason(&status).as_deref(), Some("TOKEN_INVALID"));
}
