//! The authorisation matrix: who may call what, as a table a security reviewer can read.
//!
//! Rows are every RPC of the five servers' services (the internal ones too) and every HTTP
//! route of the gateway; columns are the callers below. Each cell is the exact answer:
//! the gRPC status code, or the HTTP status. Every public gRPC row is run twice, on its
//! own server and through the gateway's front door (forwarded), and must answer the same
//! there unless the row says otherwise; the internal services are not forwarded.
//!
//! NOTE: the suite runs over plaintext, where the front door forwards the SERVICE token
//! like any other, so the SERVICE column reads the same through it. Under mutual TLS (the
//! deployments' default) the front door refuses the service token from a caller without
//! a Duban server's certificate: `gateway/tests/tls` holds that
//! (`mutual_tls_makes_a_servers_certificate_a_condition_of_service`).
//!
//! Callers that are allowed send requests built to succeed (writes use `validate_only`
//! where the RPC has it, fresh `request_id`s, and a fresh SUBMITTED revision before each
//! review), so an allowed cell is OK, or the exact code the data gives after authorisation
//! passed. A server-streaming cell is the status of opening the stream (its first message
//! or error; a stream with nothing to send yet counts as open). SubmitReports' cell is the
//! status of its one item when the stream itself is accepted: a department naming another
//! department is refused per item, not per stream.
//!
//! The revoked column uses a department token that every server has seen (and cached)
//! before it was revoked; the suite runs with `auth.cache_ttl_seconds = 1` and the matrix
//! starts once that window has passed.
//!
//! It runs on SQLite and PostgreSQL (`backend_tests!`): about a thousand calls, some 15 s
//! alone on SQLite and under 40 s for both at once on two cores.
//!
//! A failure prints every cell that differs (expected and got), then the whole table as
//! answered.

use std::{
    fmt::Write as _,
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use duban_harness::{Caller, PLAN, ReportKey, Server, Suite};
use duban_kit::testing::Backend;
use duban_proto::{
    departments::v1 as dpb, gateway::v1 as gpb, measures::v1 as mpb, reporting::v1 as rpb, targets::v1 as tpb,
};
use futures::future::BoxFuture;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use prost::Message;
use tonic::{
    Code, Status,
    codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder},
    metadata::MetadataValue,
};

// ---------------------------------------------------------------------------------------
// Legend: the columns, in this order, in every row.
//
//   NO_TOKEN     no `authorization` at all
//   MALFORMED    `authorization: Basic ...` (not a bearer token)
//   REVOKED      a DEPARTMENT token of the responsible department, revoked
//   RESPONSIBLE  DEPARTMENT: responsible for the measure the request names, and the
//                department it names
//   OTHER        DEPARTMENT: another department, not responsible, not the one named
//   LEADERSHIP   LEADERSHIP
//   ADMIN        ADMIN (the bootstrap administrator)
//   SERVICE      SERVICE (the suite's service token)
// ---------------------------------------------------------------------------------------

/// The column names, in order.
const COLUMNS: [&str; 8] = [
    "NO_TOKEN",
    "MALFORMED",
    "REVOKED",
    "RESPONSIBLE",
    "OTHER",
    "LEADERSHIP",
    "ADMIN",
    "SERVICE",
];

/// gRPC answers, short.
const OK: Code = Code::Ok;
const UNAUTH: Code = Code::Unauthenticated;
const DENIED: Code = Code::PermissionDenied;
const UNIMPL: Code = Code::Unimplemented;

/// HTTP answers, short.
const H200: u16 = 200;
const H303: u16 = 303;
const H400: u16 = 400;
const H401: u16 = 401;
const H403: u16 = 403;
const H404: u16 = 404;

/// The measure and department placeholders of HTTP paths, replaced by the fixture's.
const MEASURE: &str = "{measure}";
const DEPARTMENT: &str = "{department}";

/// DepartmentsService and its internal service (which the front door does not forward).
#[rustfmt::skip]
fn departments_rows() -> Vec<Row> {
    const S: &str = "duban.departments.v1.DepartmentsService/";
    const INTERNAL: &str = "duban.departments.v1.DepartmentsInternalService/";
    vec![
        rpc(S, "GetDirectory",           get_directory,            [UNAUTH, UNAUTH, UNAUTH, OK,     OK,     OK,     OK, OK]),
        rpc(S, "GetDepartment",          get_department,           [UNAUTH, UNAUTH, UNAUTH, OK,     OK,     OK,     OK, OK]),
        rpc(S, "ListDepartments",        list_departments,         [UNAUTH, UNAUTH, UNAUTH, OK,     OK,     OK,     OK, OK]),
        rpc(S, "CreateDepartment",       create_department,        [UNAUTH, UNAUTH, UNAUTH, DENIED, DENIED, DENIED, OK, DENIED]),
        rpc(S, "UpdateDepartment",       update_department,        [UNAUTH, UNAUTH, UNAUTH, DENIED, DENIED, DENIED, OK, DENIED]),
        rpc(S, "GetGroup",               get_group,                [UNAUTH, UNAUTH, UNAUTH, OK,     OK,     OK,     OK, OK]),
        rpc(S, "ListGroups",             list_groups,              [UNAUTH, UNAUTH, UNAUTH, OK,     OK,     OK,     OK, OK]),
        rpc(S, "ResolveUnit",            resolve_unit,             [UNAUTH, UNAUTH, UNAUTH, OK,     OK,     OK,     OK, OK]),
        rpc(S, "GetGroupDesignation",    get_group_designation,    [UNAUTH, UNAUTH, UNAUTH, OK,     OK,     OK,     OK, OK]),
        rpc(S, "ListGroupDesignations",  list_group_designations,  [UNAUTH, UNAUTH, UNAUTH, OK,     OK,     OK,     OK, OK]),
        rpc(S, "UpdateGroupDesignation", update_group_designation, [UNAUTH, UNAUTH, UNAUTH, DENIED, DENIED, DENIED, OK, DENIED]),
        rpc(S, "IssueCredential",        issue_credential,         [UNAUTH, UNAUTH, UNAUTH, DENIED, DENIED, DENIED, OK, DENIED]),
        rpc(S, "ListCredentials",        list_credentials,         [UNAUTH, UNAUTH, UNAUTH, DENIED, DENIED, DENIED, OK, DENIED]),
        rpc(S, "RevokeCredential",       revoke_credential,        [UNAUTH, UNAUTH, UNAUTH, DENIED, DENIED, DENIED, OK, DENIED]),
        rpc(S, "GetCallerIdentity",      get_caller_identity,      [UNAUTH, UNAUTH, UNAUTH, OK,     OK,     OK,     OK, OK]),
        rpc(S, "CreateEndpoint",         create_endpoint,          [UNAUTH, UNAUTH, UNAUTH, OK,     DENIED, DENIED, OK, DENIED]),
        rpc(S, "GetEndpoint",            get_endpoint,             [UNAUTH, UNAUTH, UNAUTH, OK,     DENIED, OK,     OK, OK]),
        rpc(S, "ListEndpoints",          list_endpoints,           [UNAUTH, UNAUTH, UNAUTH, OK,     DENIED, OK,     OK, OK]),
        rpc(S, "UpdateEndpoint",         update_endpoint,          [UNAUTH, UNAUTH, UNAUTH, OK,     DENIED, DENIED, OK, DENIED]),
        rpc(S, "DeleteEndpoint",         delete_endpoint,          [UNAUTH, UNAUTH, UNAUTH, OK,     DENIED, DENIED, OK, DENIED]),
        rpc(S, "RotateEndpointSecret",   rotate_endpoint_secret,   [UNAUTH, UNAUTH, UNAUTH, OK,     DENIED, DENIED, OK, DENIED]),
        rpc(INTERNAL, "AuthenticateToken", authenticate_token,     [UNAUTH, UNAUTH, UNAUTH, DENIED, DENIED, DENIED, OK, OK]).internal(),
        rpc(INTERNAL, "ListDeliveryEndpoints", list_delivery_endpoints, [UNAUTH, UNAUTH, UNAUTH, DENIED, DENIED, DENIED, DENIED, OK]).internal(),
    ]
}

/// MeasuresService.
#[rustfmt::skip]
fn measures_rows() -> Vec<Row> {
    const S: &str = "duban.measures.v1.MeasuresService/";
    vec![
        rpc(S, "GetPlan",                get_plan,                 [UNAUTH, UNAUTH, UNAUTH, OK,     OK,     OK,     OK, OK]),
        rpc(S, "ListPlans",              list_plans,               [UNAUTH, UNAUTH, UNAUTH, OK,     OK,     OK,     OK, OK]),
        rpc(S, "GetAction",              get_action,               [UNAUTH, UNAUTH, UNAUTH, OK,     OK,     OK,     OK, OK]),
        rpc(S, "ListActions",            list_actions,             [UNAUTH, UNAUTH, UNAUTH, OK,     OK,     OK,     OK, OK]),
        rpc(S, "GetMeasure",             get_measure,              [UNAUTH, UNAUTH, UNAUTH, OK,     OK,     OK,     OK, OK]),
        rpc(S, "ListMeasures",           list_measures,            [UNAUTH, UNAUTH, UNAUTH, OK,     OK,     OK,     OK, OK]),
        rpc(S, "ListPlanRevisions",      list_plan_revisions,      [UNAUTH, UNAUTH, UNAUTH, OK,     OK,     OK,     OK, OK]),
        rpc(S, "ImportPlan",             import_plan,              [UNAUTH, UNAUTH, UNAUTH, DENIED, DENIED, DENIED, OK, DENIED]),
        rpc(S, "GetPlanDataset",         get_plan_dataset,         [UNAUTH, UNAUTH, UNAUTH, OK,     OK,     OK,     OK, OK]),
    ]
}

/// TargetsService and its internal service (SERVICE only: not even ADMIN).
#[rustfmt::skip]
fn targets_rows() -> Vec<Row> {
    const S: &str = "duban.targets.v1.TargetsService/";
    const INTERNAL: &str = "duban.targets.v1.TargetsInternalService/";
    vec![
        rpc(S, "GetTarget",              get_target,               [UNAUTH, UNAUTH, UNAUTH, OK,     OK,     OK,     OK,     OK]),
        rpc(S, "ListTargets",            list_targets,             [UNAUTH, UNAUTH, UNAUTH, OK,     OK,     OK,     OK,     OK]),
        rpc(S, "RebaselineTarget",       rebaseline_target,        [UNAUTH, UNAUTH, UNAUTH, DENIED, DENIED, DENIED, OK,     DENIED]),
        rpc(S, "ListTargetRevisions",    list_target_revisions,    [UNAUTH, UNAUTH, UNAUTH, OK,     OK,     OK,     OK,     OK]),
        rpc(S, "GetTrajectory",          get_trajectory,           [UNAUTH, UNAUTH, UNAUTH, OK,     OK,     OK,     OK,     OK]),
        rpc(INTERNAL, "SyncPlanTargets", sync_plan_targets,        [UNAUTH, UNAUTH, UNAUTH, DENIED, DENIED, DENIED, DENIED, OK]).internal(),
    ]
}

/// ReportingService. RESPONSIBLE names its own data; OTHER names RESPONSIBLE's.
#[rustfmt::skip]
fn reporting_rows() -> Vec<Row> {
    const S: &str = "duban.reporting.v1.ReportingService/";
    vec![
        rpc(S, "SubmitReport",           submit_report,                       [UNAUTH, UNAUTH, UNAUTH, OK,     DENIED, DENIED, OK, DENIED]),
        // The cell is the status of the stream's one item (see the module documentation).
        client_stream(S, "SubmitReports", submit_reports,                     [UNAUTH, UNAUTH, UNAUTH, OK,     DENIED, DENIED, OK, DENIED]),
        rpc(S, "GetReport",              get_report,                          [UNAUTH, UNAUTH, UNAUTH, OK,     DENIED, OK,     OK, OK]),
        rpc(S, "ListReports",            list_reports_naming_responsible,     [UNAUTH, UNAUTH, UNAUTH, OK,     DENIED, OK,     OK, OK])
            .labelled("naming the responsible department"),
        rpc(S, "ListReports",            list_reports_unfiltered,             [UNAUTH, UNAUTH, UNAUTH, OK,     OK,     OK,     OK, OK])
            .labelled("no filter: a department gets its own"),
        rpc(S, "ListReportRevisions",    list_report_revisions,               [UNAUTH, UNAUTH, UNAUTH, OK,     DENIED, OK,     OK, OK]),
        rpc(S, "AcceptReport",           accept_report,                       [UNAUTH, UNAUTH, UNAUTH, DENIED, DENIED, OK,     OK, DENIED]),
        rpc(S, "ReturnReport",           return_report,                       [UNAUTH, UNAUTH, UNAUTH, DENIED, DENIED, OK,     OK, DENIED]),
        rpc(S, "GetProgress",            get_progress,                        [UNAUTH, UNAUTH, UNAUTH, DENIED, DENIED, OK,     OK, OK]),
        rpc(S, "GetCompliance",          get_compliance,                      [UNAUTH, UNAUTH, UNAUTH, OK,     DENIED, OK,     OK, OK]),
        // Every department may watch; it receives only its own department's events.
        server_stream(S, "WatchReportEvents", watch_report_events,            [UNAUTH, UNAUTH, UNAUTH, OK,     OK,     OK,     OK, OK]),
        rpc(S, "ListAuditRecords",       list_audit_records,                  [UNAUTH, UNAUTH, UNAUTH, DENIED, DENIED, DENIED, OK, DENIED]),
        rpc(S, "PurgeAuditRecords",      purge_audit_records,                 [UNAUTH, UNAUTH, UNAUTH, DENIED, DENIED, DENIED, OK, DENIED]),
        rpc(S, "ListBlockers",           list_blockers,                       [UNAUTH, UNAUTH, UNAUTH, OK,     DENIED, OK,     OK, OK]),
        rpc(S, "ListObligations",        list_obligations,                    [UNAUTH, UNAUTH, UNAUTH, OK,     DENIED, OK,     OK, OK]),
        rpc(S, "GetPlanSummary",         get_plan_summary,                    [UNAUTH, UNAUTH, UNAUTH, DENIED, DENIED, OK,     OK, OK]),
    ]
    .into_iter()
    .chain(orders_rows())
    .collect()
}

/// SupervisionOrdersService, served by the reporting server. Every order is addressed to
/// RESPONSIBLE alone, so OTHER is a unit it does not address; each write cell acts on a
/// fresh order of its own.
#[rustfmt::skip]
fn orders_rows() -> Vec<Row> {
    const S: &str = "duban.reporting.v1.SupervisionOrdersService/";
    vec![
        rpc(S, "OpenOrder",              open_order,                          [UNAUTH, UNAUTH, UNAUTH, DENIED, DENIED, OK,     OK, DENIED]),
        rpc(S, "GetOrder",               get_order,                           [UNAUTH, UNAUTH, UNAUTH, OK,     DENIED, OK,     OK, OK]),
        // A department lists the orders addressed to it (none, for OTHER).
        rpc(S, "ListOrders",             list_orders,                         [UNAUTH, UNAUTH, UNAUTH, OK,     OK,     OK,     OK, OK]),
        // Only the unit addressed answers, for itself: not even ADMIN answers for it.
        rpc(S, "RespondToOrder",         respond_to_order,                    [UNAUTH, UNAUTH, UNAUTH, OK,     DENIED, DENIED, DENIED, DENIED]),
        rpc(S, "AcceptOrderResponse",    accept_order_response,               [UNAUTH, UNAUTH, UNAUTH, DENIED, DENIED, OK,     OK, DENIED]),
        rpc(S, "ReturnOrderResponse",    return_order_response,               [UNAUTH, UNAUTH, UNAUTH, DENIED, DENIED, OK,     OK, DENIED]),
        rpc(S, "WithdrawOrder",          withdraw_order,                      [UNAUTH, UNAUTH, UNAUTH, DENIED, DENIED, OK,     OK, DENIED]),
    ]
}

/// NoticesService, on the reporting server. The notice named is a BLUE notice addressed
/// to RESPONSIBLE (its March 2023 reports were missing on their due day).
#[rustfmt::skip]
fn notices_rows() -> Vec<Row> {
    const S: &str = "duban.reporting.v1.NoticesService/";
    vec![
        rpc(S, "ListNotices",            list_notices_unfiltered,             [UNAUTH, UNAUTH, UNAUTH, OK,     OK,     OK,     OK, OK])
            .labelled("no filter: a department gets its own"),
        rpc(S, "ListNotices",            list_notices_naming_responsible,     [UNAUTH, UNAUTH, UNAUTH, OK,     DENIED, OK,     OK, OK])
            .labelled("naming the responsible department"),
        rpc(S, "GetNotice",              get_notice,                          [UNAUTH, UNAUTH, UNAUTH, OK,     DENIED, OK,     OK, OK]),
        // Only the department addressed acknowledges (idempotent, so OK every time).
        rpc(S, "AcknowledgeNotice",      acknowledge_notice,                  [UNAUTH, UNAUTH, UNAUTH, OK,     DENIED, DENIED, DENIED, DENIED]),
        rpc(S, "EvaluateNotices",        evaluate_notices,                    [UNAUTH, UNAUTH, UNAUTH, DENIED, DENIED, DENIED, OK, DENIED]),
        // Every unit's follow-up in figures: leadership's, not a unit's.
        rpc(S, "GetFollowUpSummary",     get_follow_up_summary,               [UNAUTH, UNAUTH, UNAUTH, DENIED, DENIED, OK,     OK, OK]),
        // The fixture's notice is PENDING or FAILED (its webhook's host does not resolve):
        // requeued, or answered as it is.
        rpc(S, "RequeueNotice",          requeue_notice,                      [UNAUTH, UNAUTH, UNAUTH, DENIED, DENIED, DENIED, OK, DENIED]),
    ]
}

/// The gateway's own DashboardService (served on the gateway's port only).
#[rustfmt::skip]
fn dashboard_rows() -> Vec<Row> {
    const S: &str = "duban.gateway.v1.DashboardService/";
    vec![
        // NOTE: SERVICE may call every DashboardService RPC (the proto says so; SECURITY.md
        // lists it as open work): the gateway reads as SERVICE itself, so nothing needs it.
        rpc(S, "GetOverview",            get_overview,                        [UNAUTH, UNAUTH, UNAUTH, DENIED, DENIED, OK, OK, OK]),
        // A department responsible for the measure still may not read its detail here.
        rpc(S, "GetMeasureDetail",       get_measure_detail,                  [UNAUTH, UNAUTH, UNAUTH, DENIED, DENIED, OK, OK, OK]),
        rpc(S, "GetDepartmentScorecard", get_department_scorecard,            [UNAUTH, UNAUTH, UNAUTH, OK,     DENIED, OK, OK, OK]),
        // A department's alerts are forced to its own.
        rpc(S, "ListAlerts",             list_alerts,                         [UNAUTH, UNAUTH, UNAUTH, OK,     OK,     OK, OK, OK]),
        server_stream(S, "WatchOverview", watch_overview,                     [UNAUTH, UNAUTH, UNAUTH, DENIED, DENIED, OK, OK, OK]),
        // A ranking names every unit: not even a unit's own row is shown to it here.
        rpc(S, "ListUnitRankings",       list_unit_rankings,                  [UNAUTH, UNAUTH, UNAUTH, DENIED, DENIED, OK, OK, OK]),
    ]
}

/// Health checks are open on every port, for probes; they say nothing about the data.
#[rustfmt::skip]
fn health_rows() -> Vec<Row> {
    vec![
        rpc("grpc.health.v1.Health/", "Check", health_check,                 [OK, OK, OK, OK, OK, OK, OK, OK]),
    ]
}

/// The gateway's HTTP routes, with the column's token as `Authorization: Bearer` (the login
/// form takes it in its body instead). The dashboard runs with `dashboard_access = sign_in`
/// (what `duban serve gateway` serves): LEADERSHIP and ADMIN only, even for a department's
/// own scorecard page.
#[rustfmt::skip]
fn http_rows() -> Vec<HttpRow> {
    // JSON, CSV and the event stream: 401 without a usable token, 403 for other roles.
    let reader = [H401, H401, H401, H403, H403, H200, H200, H403];
    // Pages send a browser that may not read them to the login form (a redirect) instead.
    let page =   [H303, H303, H303, H303, H303, H200, H200, H303];
    let open =   [H200, H200, H200, H200, H200, H200, H200, H200];
    vec![
        http("GET",  "/",                                  page),
        http("GET",  "/measures/{measure}",                page),
        http("GET",  "/departments/{department}",          page),
        http("GET",  "/api/v1/overview",                   reader),
        http("GET",  "/api/v1/overview.csv",               reader),
        http("GET",  "/api/v1/reports.csv",                reader),
        http("GET",  "/api/v1/measures/{measure}",         reader),
        http("GET",  "/api/v1/departments/{department}",   reader),
        http("GET",  "/api/v1/alerts",                     reader),
        http("GET",  "/units",                             page),
        http("GET",  "/api/v1/units",                      reader),
        http("GET",  "/api/v1/units.csv",                  reader),
        http("GET",  "/api/v1/units.xlsx",                 reader),
        http("GET",  "/api/v1/overview.xlsx",              reader),
        http("GET",  "/api/v1/reports.xlsx",               reader),
        http("GET",  "/api/v1/export.xlsx",                reader),
        http("GET",  "/api/v1/bulletin?period=2023-09",    reader),
        // The print page is a page: a browser that may not read it goes to the login form.
        http("GET",  "/api/v1/bulletin?period=2023-09&format=html", page),
        http("GET",  "/api/v1/events",                     reader),
        // The unit's Excel path (issue 16 §3): a department's own workbook, or an ADMIN naming the
        // department; another unit naming it is refused by reporting (ListObligations), LEADERSHIP and
        // SERVICE by the gateway. What a doctored workbook writes: gateway/tests/workbook.rs.
        http("GET",  "/my/template.xlsx?period=2023-12&department={department}", [H303, H303, H303, H200, H403, H403, H200, H403]),
        http("GET",  "/my/upload",                         [H303, H303, H303, H200, H200, H403, H200, H403]),
        // The callers let in are checked before the body is read: with no workbook in it, 400.
        http("POST", "/my/upload",                         [H303, H303, H303, H400, H400, H403, H400, H403]),
        http("GET",  "/login",                             open),
        // The token in the form, with a matching CSRF cookie: a session for LEADERSHIP and
        // ADMIN (a redirect home) and for a unit (a redirect to its own page, /my), the form
        // again with 401 for anyone else.
        http("POST", "/login",                             [H401, H401, H401, H303, H303, H303, H303, H401]).login_form(),
        // Without a session there is nothing to end: back to the login form.
        http("POST", "/logout",                            [H303, H303, H303, H303, H303, H303, H303, H303]),
        // The unit's own page and its report forms (issue 16): a unit's own token only. Anyone
        // not signed in is sent to sign in (and back); leadership, administrators and services
        // are told the page is for units (403). The form is the unit's own obligation: a unit
        // not responsible for the measure has none to open or post (404). The post is a check
        // (validate_only), so the matrix stores nothing.
        http("GET",  "/my",                                [H303, H303, H303, H200, H200, H403, H403, H403]),
        http("GET",  "/my/obligations/{measure}/2023-06",  [H303, H303, H303, H200, H404, H403, H403, H403]),
        http("POST", "/my/obligations/{measure}/2023-06",  [H303, H303, H303, H200, H404, H403, H403, H403])
            .form("action=check&provisional=on&overall_status=2&narrative=matrix"),
        http("GET",  "/static/style.css",                  open),
        http("GET",  "/static/live.js",                    open),
        http("GET",  "/static/my.js",                      open),
        http("GET",  "/static/no-such-file",               [H404, H404, H404, H404, H404, H404, H404, H404]),
        // NOTE: an unknown path falls through to the gRPC routes, whose gRPC-Web layer
        // answers 400 to plain HTTP: no route and no data, but not the 404 one would expect.
        http("GET",  "/no-such-page",                      [H400, H400, H400, H400, H400, H400, H400, H400]),
    ]
}

// ---------------------------------------------------------------------------------------
// The requests of each row. Allowed callers get a request that succeeds.
// ---------------------------------------------------------------------------------------

async fn get_directory(_: Arc<Fixture>) -> dpb::GetDirectoryRequest {
    dpb::GetDirectoryRequest {}
}

async fn get_department(f: Arc<Fixture>) -> dpb::GetDepartmentRequest {
    dpb::GetDepartmentRequest {
        name: format!("departments/{}", f.responsible),
    }
}

async fn list_departments(_: Arc<Fixture>) -> dpb::ListDepartmentsRequest {
    dpb::ListDepartmentsRequest::default()
}

async fn create_department(f: Arc<Fixture>) -> dpb::CreateDepartmentRequest {
    dpb::CreateDepartmentRequest {
        department: Some(dpb::Department {
            code: "authz-matrix-office".into(),
            display_name: "授权矩阵测试办".into(),
            kind: dpb::DepartmentKind::Office as i32,
            ..Default::default()
        }),
        request_id: f.request_id(),
        validate_only: true,
    }
}

async fn update_department(f: Arc<Fixture>) -> dpb::UpdateDepartmentRequest {
    dpb::UpdateDepartmentRequest {
        department: Some(f.department.clone()),
        update_mask: None,
        request_id: f.request_id(),
        validate_only: true,
    }
}

async fn get_group(f: Arc<Fixture>) -> dpb::GetGroupRequest {
    dpb::GetGroupRequest {
        name: format!("groups/{}", f.designation.group),
    }
}

async fn list_groups(_: Arc<Fixture>) -> dpb::ListGroupsRequest {
    dpb::ListGroupsRequest::default()
}

async fn resolve_unit(f: Arc<Fixture>) -> dpb::ResolveUnitRequest {
    dpb::ResolveUnitRequest {
        written: f.department.display_name.clone(),
    }
}

async fn get_group_designation(f: Arc<Fixture>) -> dpb::GetGroupDesignationRequest {
    dpb::GetGroupDesignationRequest {
        group: f.designation.group.clone(),
        scope: f.designation.scope.clone(),
    }
}

async fn list_group_designations(_: Arc<Fixture>) -> dpb::ListGroupDesignationsRequest {
    dpb::ListGroupDesignationsRequest::default()
}

async fn update_group_designation(f: Arc<Fixture>) -> dpb::UpdateGroupDesignationRequest {
    dpb::UpdateGroupDesignationRequest {
        designation: Some(f.designation.clone()),
        request_id: f.request_id(),
        validate_only: true,
        allow_missing: false,
    }
}

async fn issue_credential(f: Arc<Fixture>) -> dpb::IssueCredentialRequest {
    dpb::IssueCredentialRequest {
        credential: Some(dpb::Credential {
            role: dpb::Role::Leadership as i32,
            description: "authorisation matrix".into(),
            ..Default::default()
        }),
        request_id: f.request_id(),
        validate_only: false,
    }
}

async fn list_credentials(_: Arc<Fixture>) -> dpb::ListCredentialsRequest {
    dpb::ListCredentialsRequest::default()
}

/// A credential issued for this cell alone, so that each allowed cell revokes a live one.
async fn revoke_credential(f: Arc<Fixture>) -> dpb::RevokeCredentialRequest {
    let (name, _) = f.issue_credential(dpb::Role::Department, &f.other).await;
    dpb::RevokeCredentialRequest {
        name,
        request_id: f.request_id(),
    }
}

async fn get_caller_identity(_: Arc<Fixture>) -> dpb::GetCallerIdentityRequest {
    dpb::GetCallerIdentityRequest {}
}

async fn create_endpoint(f: Arc<Fixture>) -> dpb::CreateEndpointRequest {
    dpb::CreateEndpointRequest {
        parent: format!("departments/{}", f.responsible),
        endpoint: Some(dpb::NotificationEndpoint {
            kind: dpb::EndpointKind::Email as i32,
            address: "duty@authz.example.org".into(),
            ..Default::default()
        }),
        request_id: f.request_id(),
        validate_only: true,
    }
}

async fn get_endpoint(f: Arc<Fixture>) -> dpb::GetEndpointRequest {
    dpb::GetEndpointRequest {
        name: f.endpoint.clone(),
    }
}

async fn list_endpoints(f: Arc<Fixture>) -> dpb::ListEndpointsRequest {
    dpb::ListEndpointsRequest {
        parent: format!("departments/{}", f.responsible),
        ..Default::default()
    }
}

async fn update_endpoint(f: Arc<Fixture>) -> dpb::UpdateEndpointRequest {
    dpb::UpdateEndpointRequest {
        endpoint: Some(dpb::NotificationEndpoint {
            name: f.endpoint.clone(),
            description: "authorisation matrix".into(),
            ..Default::default()
        }),
        update_mask: None,
        request_id: f.request_id(),
        validate_only: true,
    }
}

async fn delete_endpoint(f: Arc<Fixture>) -> dpb::DeleteEndpointRequest {
    dpb::DeleteEndpointRequest {
        name: f.endpoint.clone(),
        etag: String::new(),
        request_id: f.request_id(),
        validate_only: true,
    }
}

/// A real rotation: each allowed cell gives the fixture's webhook a new secret.
async fn rotate_endpoint_secret(f: Arc<Fixture>) -> dpb::RotateEndpointSecretRequest {
    dpb::RotateEndpointSecretRequest {
        name: f.endpoint.clone(),
        etag: String::new(),
        request_id: f.request_id(),
    }
}

async fn list_delivery_endpoints(f: Arc<Fixture>) -> dpb::ListDeliveryEndpointsRequest {
    dpb::ListDeliveryEndpointsRequest {
        parent: format!("departments/{}", f.responsible),
        ..Default::default()
    }
}

async fn authenticate_token(f: Arc<Fixture>) -> dpb::AuthenticateTokenRequest {
    dpb::AuthenticateTokenRequest {
        token: f.tokens.responsible.clone(),
    }
}

async fn get_plan(_: Arc<Fixture>) -> mpb::GetPlanRequest {
    mpb::GetPlanRequest { name: PLAN.into() }
}

async fn list_plans(_: Arc<Fixture>) -> mpb::ListPlansRequest {
    mpb::ListPlansRequest::default()
}

async fn get_action(f: Arc<Fixture>) -> mpb::GetActionRequest {
    mpb::GetActionRequest {
        name: format!("{PLAN}/actions/{}", f.measure_action),
    }
}

async fn list_actions(_: Arc<Fixture>) -> mpb::ListActionsRequest {
    mpb::ListActionsRequest {
        parent: PLAN.into(),
        ..Default::default()
    }
}

async fn get_measure(f: Arc<Fixture>) -> mpb::GetMeasureRequest {
    mpb::GetMeasureRequest {
        name: format!("{PLAN}/measures/{}", f.key.measure),
    }
}

async fn list_measures(_: Arc<Fixture>) -> mpb::ListMeasuresRequest {
    mpb::ListMeasuresRequest {
        parent: PLAN.into(),
        ..Default::default()
    }
}

async fn list_plan_revisions(_: Arc<Fixture>) -> mpb::ListPlanRevisionsRequest {
    mpb::ListPlanRevisionsRequest {
        name: PLAN.into(),
        ..Default::default()
    }
}

async fn import_plan(f: Arc<Fixture>) -> mpb::ImportPlanRequest {
    mpb::ImportPlanRequest {
        dataset: Some(duban_harness::jiading_dataset()),
        request_id: f.request_id(),
        validate_only: true,
        overwrite_rebaselined_targets: false,
    }
}

async fn get_plan_dataset(_: Arc<Fixture>) -> mpb::GetPlanDatasetRequest {
    mpb::GetPlanDatasetRequest { name: PLAN.into() }
}

async fn get_target(f: Arc<Fixture>) -> tpb::GetTargetRequest {
    tpb::GetTargetRequest {
        name: f.target.name.clone(),
    }
}

async fn list_targets(_: Arc<Fixture>) -> tpb::ListTargetsRequest {
    tpb::ListTargetsRequest {
        parent: PLAN.into(),
        ..Default::default()
    }
}

async fn rebaseline_target(f: Arc<Fixture>) -> tpb::RebaselineTargetRequest {
    tpb::RebaselineTargetRequest {
        name: f.target.name.clone(),
        value: f.target.value.clone(),
        reason: "authorisation matrix: checked, never written".into(),
        etag: f.target.etag.clone(),
        request_id: f.request_id(),
        validate_only: true,
        ..Default::default()
    }
}

async fn list_target_revisions(f: Arc<Fixture>) -> tpb::ListTargetRevisionsRequest {
    tpb::ListTargetRevisionsRequest {
        name: f.target.name.clone(),
        ..Default::default()
    }
}

async fn get_trajectory(f: Arc<Fixture>) -> tpb::GetTrajectoryRequest {
    tpb::GetTrajectoryRequest {
        name: f.target.name.clone(),
        dates: Vec::new(),
    }
}

/// The plan's current targets again, checked and not written.
async fn sync_plan_targets(f: Arc<Fixture>) -> tpb::SyncPlanTargetsRequest {
    tpb::SyncPlanTargetsRequest {
        plan: PLAN.into(),
        plan_revision: f.plan.revision,
        effective_from: f.plan.effective_from,
        effective_to: f.plan.effective_to,
        targets: f.targets.clone(),
        validate_only: true,
        overwrite_rebaselined_targets: false,
        request_id: f.request_id(),
    }
}

/// A real submission (the next revision of the responsible department's report).
async fn submit_report(f: Arc<Fixture>) -> rpb::SubmitReportRequest {
    f.key.submission("authorisation matrix".into(), 1, f.request_id())
}

async fn submit_reports(f: Arc<Fixture>) -> Vec<rpb::SubmitReportsRequest> {
    let submission = f
        .key
        .submission("authorisation matrix, in a stream".into(), 2, f.request_id());
    vec![rpb::SubmitReportsRequest {
        parent: submission.parent,
        report: submission.report,
        request_id: submission.request_id,
        ..Default::default()
    }]
}

async fn get_report(f: Arc<Fixture>) -> rpb::GetReportRequest {
    rpb::GetReportRequest { name: f.key.name() }
}

async fn list_reports_naming_responsible(f: Arc<Fixture>) -> rpb::ListReportsRequest {
    rpb::ListReportsRequest {
        parent: PLAN.into(),
        department: f.responsible.clone(),
        ..Default::default()
    }
}

async fn list_reports_unfiltered(_: Arc<Fixture>) -> rpb::ListReportsRequest {
    rpb::ListReportsRequest {
        parent: PLAN.into(),
        ..Default::default()
    }
}

async fn list_report_revisions(f: Arc<Fixture>) -> rpb::ListReportRevisionsRequest {
    rpb::ListReportRevisionsRequest {
        name: f.key.name(),
        ..Default::default()
    }
}

async fn accept_report(f: Arc<Fixture>) -> rpb::AcceptReportRequest {
    let (name, etag) = f.fresh_revision().await;
    rpb::AcceptReportRequest {
        name,
        etag,
        comment: String::new(),
        request_id: f.request_id(),
    }
}

async fn return_report(f: Arc<Fixture>) -> rpb::ReturnReportRequest {
    let (name, etag) = f.fresh_revision().await;
    rpb::ReturnReportRequest {
        name,
        etag,
        reason: "authorisation matrix".into(),
        request_id: f.request_id(),
    }
}

async fn get_progress(f: Arc<Fixture>) -> rpb::GetProgressRequest {
    rpb::GetProgressRequest {
        parent: PLAN.into(),
        measure_number: f.key.measure.clone(),
        ..Default::default()
    }
}

async fn get_plan_summary(_: Arc<Fixture>) -> rpb::GetPlanSummaryRequest {
    rpb::GetPlanSummaryRequest {
        parent: PLAN.into(),
        include_provisional: true,
        ..Default::default()
    }
}

async fn get_compliance(f: Arc<Fixture>) -> rpb::GetComplianceRequest {
    rpb::GetComplianceRequest {
        parent: PLAN.into(),
        department: f.responsible.clone(),
        ..Default::default()
    }
}

async fn watch_report_events(_: Arc<Fixture>) -> rpb::WatchReportEventsRequest {
    rpb::WatchReportEventsRequest {
        parent: PLAN.into(),
        ..Default::default()
    }
}

async fn list_audit_records(_: Arc<Fixture>) -> rpb::ListAuditRecordsRequest {
    rpb::ListAuditRecordsRequest::default()
}

/// A count only (no `force`): the records of two years ago, which a fresh suite has none of.
async fn purge_audit_records(_: Arc<Fixture>) -> rpb::PurgeAuditRecordsRequest {
    rpb::PurgeAuditRecordsRequest {
        end_time: Some(prost_types::Timestamp {
            seconds: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |now| now.as_secs() as i64)
                - 2 * 366 * 86_400,
            nanos: 0,
        }),
        ..Default::default()
    }
}

async fn list_blockers(f: Arc<Fixture>) -> rpb::ListBlockersRequest {
    rpb::ListBlockersRequest {
        parent: PLAN.into(),
        department: f.responsible.clone(),
        ..Default::default()
    }
}

async fn list_obligations(f: Arc<Fixture>) -> rpb::ListObligationsRequest {
    rpb::ListObligationsRequest {
        parent: PLAN.into(),
        department: f.responsible.clone(),
        ..Default::default()
    }
}

/// An order addressed to the responsible department, due on a day that stays ahead.
fn order_request(f: &Fixture) -> rpb::OpenOrderRequest {
    rpb::OpenOrderRequest {
        parent: PLAN.into(),
        order: Some(rpb::Order {
            title: "authorisation matrix".into(),
            level: rpb::OrderLevel::Blue as i32,
            text: "authorisation matrix".into(),
            departments: vec![f.responsible.clone()],
            response_due: Some(duban_proto::common::v1::Date {
                year: 2099,
                month: 12,
                day: 31,
            }),
            ..Default::default()
        }),
        request_id: f.request_id(),
    }
}

async fn open_order(f: Arc<Fixture>) -> rpb::OpenOrderRequest {
    order_request(&f)
}

async fn get_order(f: Arc<Fixture>) -> rpb::GetOrderRequest {
    rpb::GetOrderRequest {
        name: f.fresh_order(false).await.name,
    }
}

async fn list_orders(_: Arc<Fixture>) -> rpb::ListOrdersRequest {
    rpb::ListOrdersRequest {
        parent: PLAN.into(),
        ..Default::default()
    }
}

async fn respond_to_order(f: Arc<Fixture>) -> rpb::RespondToOrderRequest {
    let order = f.fresh_order(false).await;
    rpb::RespondToOrderRequest {
        name: order.name,
        text: "authorisation matrix".into(),
        etag: order.etag,
        request_id: f.request_id(),
        ..Default::default()
    }
}

async fn accept_order_response(f: Arc<Fixture>) -> rpb::AcceptOrderResponseRequest {
    let order = f.fresh_order(true).await;
    rpb::AcceptOrderResponseRequest {
        name: order.name,
        department: f.responsible.clone(),
        etag: order.etag,
        request_id: f.request_id(),
        ..Default::default()
    }
}

async fn return_order_response(f: Arc<Fixture>) -> rpb::ReturnOrderResponseRequest {
    let order = f.fresh_order(true).await;
    rpb::ReturnOrderResponseRequest {
        name: order.name,
        department: f.responsible.clone(),
        reason: "authorisation matrix".into(),
        etag: order.etag,
        request_id: f.request_id(),
    }
}

async fn withdraw_order(f: Arc<Fixture>) -> rpb::WithdrawOrderRequest {
    let order = f.fresh_order(false).await;
    rpb::WithdrawOrderRequest {
        name: order.name,
        etag: order.etag,
        request_id: f.request_id(),
        ..Default::default()
    }
}

async fn list_notices_unfiltered(_: Arc<Fixture>) -> rpb::ListNoticesRequest {
    rpb::ListNoticesRequest {
        parent: PLAN.into(),
        ..Default::default()
    }
}

async fn list_notices_naming_responsible(f: Arc<Fixture>) -> rpb::ListNoticesRequest {
    rpb::ListNoticesRequest {
        parent: PLAN.into(),
        department: f.responsible.clone(),
        ..Default::default()
    }
}

async fn get_notice(f: Arc<Fixture>) -> rpb::GetNoticeRequest {
    rpb::GetNoticeRequest { name: f.notice.clone() }
}

async fn acknowledge_notice(f: Arc<Fixture>) -> rpb::AcknowledgeNoticeRequest {
    rpb::AcknowledgeNoticeRequest { name: f.notice.clone() }
}

async fn requeue_notice(f: Arc<Fixture>) -> rpb::RequeueNoticeRequest {
    rpb::RequeueNoticeRequest { name: f.notice.clone() }
}

async fn evaluate_notices(_: Arc<Fixture>) -> rpb::EvaluateNoticesRequest {
    rpb::EvaluateNoticesRequest {
        parent: PLAN.into(),
        as_of: Some(MARCH_DUE_DAY),
    }
}

async fn get_follow_up_summary(_: Arc<Fixture>) -> rpb::GetFollowUpSummaryRequest {
    rpb::GetFollowUpSummaryRequest {
        parent: PLAN.into(),
        as_of: Some(MARCH_DUE_DAY),
        window_days: 0,
    }
}

/// The due day of the March 2023 reports: the day the fixture's notice fired.
const MARCH_DUE_DAY: duban_proto::common::v1::Date = duban_proto::common::v1::Date {
    year: 2023,
    month: 4,
    day: 5,
};

async fn get_overview(_: Arc<Fixture>) -> gpb::GetOverviewRequest {
    gpb::GetOverviewRequest {
        plan: PLAN.into(),
        as_of: None,
    }
}

async fn get_measure_detail(f: Arc<Fixture>) -> gpb::GetMeasureDetailRequest {
    gpb::GetMeasureDetailRequest {
        plan: PLAN.into(),
        measure_number: f.key.measure.clone(),
        as_of: None,
    }
}

async fn get_department_scorecard(f: Arc<Fixture>) -> gpb::GetDepartmentScorecardRequest {
    gpb::GetDepartmentScorecardRequest {
        plan: PLAN.into(),
        department: f.responsible.clone(),
        as_of: None,
    }
}

async fn list_alerts(_: Arc<Fixture>) -> gpb::ListAlertsRequest {
    gpb::ListAlertsRequest {
        plan: PLAN.into(),
        ..Default::default()
    }
}

async fn list_unit_rankings(_: Arc<Fixture>) -> gpb::ListUnitRankingsRequest {
    gpb::ListUnitRankingsRequest {
        plan: PLAN.into(),
        ..Default::default()
    }
}

async fn watch_overview(_: Arc<Fixture>) -> gpb::WatchOverviewRequest {
    gpb::WatchOverviewRequest {
        plan: PLAN.into(),
        as_of: None,
    }
}

/// `grpc.health.v1.HealthCheckRequest { service: "" }`: encoded, an empty message.
async fn health_check(_: Arc<Fixture>) {}

fn get_plan_bytes() -> Vec<u8> {
    mpb::GetPlanRequest { name: PLAN.into() }.encode_to_vec()
}

fn list_targets_bytes() -> Vec<u8> {
    tpb::ListTargetsRequest {
        parent: PLAN.into(),
        ..Default::default()
    }
    .encode_to_vec()
}

fn list_alerts_bytes() -> Vec<u8> {
    gpb::ListAlertsRequest {
        plan: PLAN.into(),
        ..Default::default()
    }
    .encode_to_vec()
}

// ---------------------------------------------------------------------------------------
// The test.
// ---------------------------------------------------------------------------------------

async fn every_caller_gets_exactly_what_the_rules_allow(backend: Backend) {
    let Some(suite) = Suite::builder(backend)
        .all()
        .configure(|settings| settings.auth.cache_ttl_seconds = 1)
        .start()
        .await
    else {
        return; // PostgreSQL unreachable and not required: skipped
    };
    let fixture = Arc::new(Fixture::new(suite).await);
    let mut answers = Vec::new();

    let services: [(Server, Table); 5] = [
        (Server::Departments, departments_rows),
        (Server::Measures, measures_rows),
        (Server::Targets, targets_rows),
        (Server::Reporting, reporting_rows),
        (Server::Reporting, notices_rows),
    ];
    for (server, rows) in services {
        for row in rows().iter().chain(&health_rows()) {
            answers.push(run_grpc(&fixture, row, server).await);
            let through_front_door = row.front_door_expect();
            answers.push(run_grpc_with(&fixture, row, Server::Gateway, through_front_door).await);
        }
    }
    for row in dashboard_rows().iter().chain(&health_rows()) {
        answers.push(run_grpc(&fixture, row, Server::Gateway).await);
    }
    for row in http_rows() {
        answers.push(run_http(&fixture, &row).await);
    }

    let report = mismatches(&answers);
    if let Ok(fixture) = Arc::try_unwrap(fixture) {
        fixture.suite.stop().await;
    }
    assert!(report.is_empty(), "{report}");
}

duban_kit::backend_tests!(every_caller_gets_exactly_what_the_rules_allow);

/// Every cell that differs, then the whole table as answered; empty if none differs.
fn mismatches(answers: &[Answered]) -> String {
    let mut differing = String::new();
    for answered in answers {
        for (column, (expected, got)) in answered.expected.iter().zip(&answered.got).enumerate() {
            if expected != got {
                let _ = writeln!(
                    differing,
                    "  {:<70} {:<12} expected {:<18} got {got}",
                    answered.row, COLUMNS[column], expected
                );
            }
        }
    }
    if differing.is_empty() {
        return differing;
    }
    let mut table = format!(
        "cells that differ from the authorisation matrix:\n{differing}\nthe table as answered ({}):\n",
        COLUMNS.join(", ")
    );
    for answered in answers {
        let _ = writeln!(table, "  {:<70} [{}]", answered.row, answered.got.join(", "));
    }
    table
}

// ---------------------------------------------------------------------------------------
// The fixture: a suite, the callers' tokens, and the data the requests name.
// ---------------------------------------------------------------------------------------

/// The callers' tokens (NO_TOKEN and MALFORMED need none).
struct Tokens {
    revoked: String,
    responsible: String,
    other: String,
    leadership: String,
}

/// A suite with its callers and the data the requests name.
struct Fixture {
    suite: Suite,
    tokens: Tokens,
    /// A report key of the responsible department: a measure it is responsible for and
    /// owes targets on, June 2023. A report exists there.
    key: ReportKey,
    /// The responsible department's code.
    responsible: String,
    /// A department not responsible for the key's measure.
    other: String,
    /// The action of the key's measure.
    measure_action: i32,
    /// The responsible department as the directory has it.
    department: dpb::Department,
    /// A designation the administrator made for this test.
    designation: dpb::GroupDesignation,
    /// A webhook endpoint of the responsible department, by resource name.
    endpoint: String,
    /// The plan as imported.
    plan: mpb::Plan,
    /// The plan's current targets.
    targets: Vec<tpb::Target>,
    /// A target the responsible department owes on the key's measure.
    target: tpb::Target,
    /// A notice addressed to the responsible department.
    notice: String,
    request_ids: AtomicU64,
}

impl Fixture {
    async fn new(suite: Suite) -> Fixture {
        let responsibilities = suite.responsibilities().await.unwrap();
        let chosen = responsibilities
            .iter()
            .find(|r| !r.owed.is_empty())
            .expect("a department owes targets")
            .clone();
        let other = responsibilities
            .iter()
            .map(|r| r.department.clone())
            .find(|department| {
                !responsibilities
                    .iter()
                    .any(|r| r.measure == chosen.measure && &r.department == department)
            })
            .expect("a department not responsible for the measure");
        let key = ReportKey::new(&chosen, 6);
        let responsible = chosen.department.clone();
        let tokens = Tokens {
            revoked: String::new(),
            responsible: suite.issue_token(dpb::Role::Department, &responsible).await,
            other: suite.issue_token(dpb::Role::Department, &other).await,
            leadership: suite.issue_token(dpb::Role::Leadership, "").await,
        };
        let admin_departments = suite.departments(Caller::Admin);
        let department = admin_departments
            .clone()
            .get_department(dpb::GetDepartmentRequest {
                name: format!("departments/{responsible}"),
            })
            .await
            .unwrap()
            .into_inner();
        let designation = designate(&suite).await;
        let endpoint = admin_departments
            .clone()
            .create_endpoint(dpb::CreateEndpointRequest {
                parent: format!("departments/{responsible}"),
                endpoint: Some(dpb::NotificationEndpoint {
                    kind: dpb::EndpointKind::Webhook as i32,
                    url: "https://hooks.example.org/authz".into(),
                    ..Default::default()
                }),
                request_id: String::new(),
                validate_only: false,
            })
            .await
            .unwrap()
            .into_inner()
            .endpoint
            .unwrap()
            .name;
        let plan = suite
            .measures(Caller::Admin)
            .get_plan(mpb::GetPlanRequest { name: PLAN.into() })
            .await
            .unwrap()
            .into_inner();
        let measure_action = suite
            .measures(Caller::Admin)
            .get_measure(mpb::GetMeasureRequest {
                name: format!("{PLAN}/measures/{}", key.measure),
            })
            .await
            .unwrap()
            .into_inner()
            .action_number;
        let targets = suite
            .targets(Caller::Admin)
            .list_targets(tpb::ListTargetsRequest {
                parent: PLAN.into(),
                page_size: 500,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .targets;
        let target = targets
            .iter()
            .find(|t| t.code == key.owed[0].code)
            .expect("the owed target is a current target")
            .clone();
        // The March reports were due on 2023-04-05 and nobody sent them: a BLUE notice
        // for every unit, the responsible department's among them.
        suite
            .notices(Caller::Admin)
            .evaluate_notices(rpb::EvaluateNoticesRequest {
                parent: PLAN.into(),
                as_of: Some(MARCH_DUE_DAY),
            })
            .await
            .expect("the administrator evaluates the March due day");
        let notice = format!("{PLAN}/notices/2023-04-05~overdue~{responsible}~2023-03");
        let mut fixture = Fixture {
            suite,
            tokens,
            key,
            responsible,
            other,
            measure_action,
            department,
            designation,
            endpoint,
            plan,
            targets,
            target,
            notice,
            request_ids: AtomicU64::new(0),
        };
        let first = fixture
            .key
            .submission("the first report".into(), 1, fixture.request_id());
        fixture
            .suite
            .reporting(&fixture.tokens.responsible)
            .submit_report(first)
            .await
            .expect("the responsible department submits its first report");
        fixture.tokens.revoked = fixture.revoked_token().await;
        fixture
    }

    /// A fresh idempotency key.
    fn request_id(&self) -> String {
        format!("authz-{}", self.request_ids.fetch_add(1, Ordering::Relaxed))
    }

    /// A credential issued by the administrator: its name and token.
    async fn issue_credential(&self, role: dpb::Role, department: &str) -> (String, String) {
        let issued = self
            .suite
            .departments(Caller::Admin)
            .issue_credential(dpb::IssueCredentialRequest {
                credential: Some(dpb::Credential {
                    role: role as i32,
                    department: if role == dpb::Role::Department {
                        department.into()
                    } else {
                        String::new()
                    },
                    description: "authorisation matrix".into(),
                    ..Default::default()
                }),
                request_id: self.request_id(),
                validate_only: false,
            })
            .await
            .unwrap()
            .into_inner();
        (issued.credential.unwrap().name, issued.token)
    }

    /// A token of the responsible department that every server accepted (and cached),
    /// then revoked, once the revocation window has passed.
    async fn revoked_token(&self) -> String {
        let (name, token) = self.issue_credential(dpb::Role::Department, &self.responsible).await;
        let authorization = format!("Bearer {token}");
        let seen_by = [
            (
                Server::Departments,
                "/duban.departments.v1.DepartmentsService/GetCallerIdentity",
                Vec::new(),
            ),
            (
                Server::Measures,
                "/duban.measures.v1.MeasuresService/GetPlan",
                get_plan_bytes(),
            ),
            (
                Server::Targets,
                "/duban.targets.v1.TargetsService/ListTargets",
                list_targets_bytes(),
            ),
            (
                Server::Reporting,
                "/duban.reporting.v1.ReportingService/GetReport",
                self.get_report_bytes(),
            ),
            (
                Server::Gateway,
                "/duban.gateway.v1.DashboardService/ListAlerts",
                list_alerts_bytes(),
            ),
            (
                Server::Gateway,
                "/duban.reporting.v1.ReportingService/GetReport",
                self.get_report_bytes(),
            ),
        ];
        for (server, path, message) in seen_by {
            let answer = grpc_call(
                &self.suite,
                server,
                Some(&authorization),
                path,
                Kind::Unary,
                Call::One(message),
            )
            .await;
            assert_eq!(answer, "Ok", "{server} {path} accepts the token before it is revoked");
        }
        self.suite
            .departments(Caller::Admin)
            .revoke_credential(dpb::RevokeCredentialRequest {
                name,
                request_id: self.request_id(),
            })
            .await
            .unwrap();
        tokio::time::sleep(self.suite.settings().auth.cache_ttl() + Duration::from_millis(300)).await;
        token
    }

    fn get_report_bytes(&self) -> Vec<u8> {
        rpb::GetReportRequest { name: self.key.name() }.encode_to_vec()
    }

    /// A new SUBMITTED revision of the key's report, by the administrator: its name and
    /// etag, for a review.
    async fn fresh_revision(&self) -> (String, String) {
        let submission = self.key.submission("to be reviewed".into(), 3, self.request_id());
        let report = self
            .suite
            .reporting(Caller::Admin)
            .submit_report(submission)
            .await
            .unwrap()
            .into_inner();
        (report.name, report.etag)
    }

    /// A new order addressed to the responsible department, opened by the administrator
    /// and, if `answered`, answered by that department: for a cell that acts on it.
    async fn fresh_order(&self, answered: bool) -> rpb::Order {
        let channel = self.suite.channel(Server::Reporting, Caller::Admin);
        let order = rpb::supervision_orders_service_client::SupervisionOrdersServiceClient::new(channel)
            .open_order(order_request(self))
            .await
            .unwrap()
            .into_inner();
        if !answered {
            return order;
        }
        let channel = self.suite.channel(Server::Reporting, &self.tokens.responsible);
        rpb::supervision_orders_service_client::SupervisionOrdersServiceClient::new(channel)
            .respond_to_order(rpb::RespondToOrderRequest {
                name: order.name,
                text: "to be reviewed".into(),
                etag: order.etag,
                request_id: self.request_id(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
    }

    /// The `authorization` value `column` sends.
    fn authorization(&self, column: usize) -> Option<String> {
        let bearer = |token: &str| Some(format!("Bearer {token}"));
        match column {
            0 => None,
            1 => Some("Basic YXV0aHo6bWF0cml4".into()),
            2 => bearer(&self.tokens.revoked),
            3 => bearer(&self.tokens.responsible),
            4 => bearer(&self.tokens.other),
            5 => bearer(&self.tokens.leadership),
            6 => bearer(self.suite.admin_token()),
            7 => bearer(self.suite.service_token()),
            _ => unreachable!("eight columns"),
        }
    }
}

/// A designation of a designated group, by the administrator, in a scope of its own.
async fn designate(suite: &Suite) -> dpb::GroupDesignation {
    let departments = suite.departments(Caller::Admin);
    let group = departments
        .clone()
        .list_groups(dpb::ListGroupsRequest {
            page_size: 500,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .groups
        .into_iter()
        .find(|g| g.kind == dpb::GroupKind::Designated as i32)
        .expect("the directory has a designated group");
    let member = departments
        .clone()
        .list_departments(dpb::ListDepartmentsRequest {
            page_size: 500,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .departments
        .into_iter()
        .find(|d| group.member_kinds.is_empty() || group.member_kinds.contains(&d.kind))
        .expect("a unit the group admits");
    departments
        .clone()
        .update_group_designation(dpb::UpdateGroupDesignationRequest {
            designation: Some(dpb::GroupDesignation {
                group: group.code,
                scope: "authorisation-matrix".into(),
                members: vec![member.code],
                ..Default::default()
            }),
            request_id: "authz-designation".into(),
            validate_only: false,
            allow_missing: true,
        })
        .await
        .unwrap()
        .into_inner()
}

// ---------------------------------------------------------------------------------------
// Rows and how they are run.
// ---------------------------------------------------------------------------------------

/// A table of gRPC rows.
type Table = fn() -> Vec<Row>;

/// How an RPC streams.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Unary,
    ServerStreaming,
    ClientStreaming,
}

/// An encoded request: one message, or the messages of a client stream.
enum Call {
    One(Vec<u8>),
    Many(Vec<Vec<u8>>),
}

/// Builds a row's request for one cell (possibly preparing data first).
type Build = Box<dyn Fn(Arc<Fixture>) -> BoxFuture<'static, Call> + Send + Sync>;

/// One gRPC row.
struct Row {
    path: String,
    label: Option<&'static str>,
    kind: Kind,
    build: Build,
    expected: [Code; 8],
    /// Not forwarded by the front door: UNIMPLEMENTED there for everyone.
    internal: bool,
}

impl Row {
    fn internal(mut self) -> Row {
        self.internal = true;
        self
    }

    fn labelled(mut self, label: &'static str) -> Row {
        self.label = Some(label);
        self
    }

    /// What the gateway's front door answers: the same as the service, except for the
    /// internal services, which it does not forward.
    fn front_door_expect(&self) -> [Code; 8] {
        if self.internal { [UNIMPL; 8] } else { self.expected }
    }
}

fn row<M, F, Fut>(service: &str, method: &str, kind: Kind, build: F, expected: [Code; 8]) -> Row
where
    M: Message + 'static,
    F: Fn(Arc<Fixture>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = M> + Send + 'static,
{
    Row {
        path: format!("/{service}{method}"),
        label: None,
        kind,
        build: Box::new(move |fixture| {
            let built = build(fixture);
            Box::pin(async move { Call::One(built.await.encode_to_vec()) })
        }),
        expected,
        internal: false,
    }
}

/// A unary RPC.
fn rpc<M, F, Fut>(service: &str, method: &str, build: F, expected: [Code; 8]) -> Row
where
    M: Message + 'static,
    F: Fn(Arc<Fixture>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = M> + Send + 'static,
{
    row(service, method, Kind::Unary, build, expected)
}

/// A server-streaming RPC.
fn server_stream<M, F, Fut>(service: &str, method: &str, build: F, expected: [Code; 8]) -> Row
where
    M: Message + 'static,
    F: Fn(Arc<Fixture>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = M> + Send + 'static,
{
    row(service, method, Kind::ServerStreaming, build, expected)
}

/// A client-streaming RPC.
fn client_stream<M, F, Fut>(service: &str, method: &str, build: F, expected: [Code; 8]) -> Row
where
    M: Message + 'static,
    F: Fn(Arc<Fixture>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Vec<M>> + Send + 'static,
{
    Row {
        path: format!("/{service}{method}"),
        label: None,
        kind: Kind::ClientStreaming,
        build: Box::new(move |fixture| {
            let built = build(fixture);
            Box::pin(async move { Call::Many(built.await.iter().map(Message::encode_to_vec).collect()) })
        }),
        expected,
        internal: false,
    }
}

/// A row as answered.
struct Answered {
    row: String,
    expected: Vec<String>,
    got: Vec<String>,
}

async fn run_grpc(fixture: &Arc<Fixture>, row: &Row, server: Server) -> Answered {
    run_grpc_with(fixture, row, server, row.expected).await
}

/// Calls `row` on `server` once per column, in column order.
async fn run_grpc_with(fixture: &Arc<Fixture>, row: &Row, server: Server, expected: [Code; 8]) -> Answered {
    let mut got = Vec::new();
    for column in 0..COLUMNS.len() {
        let call = (row.build)(fixture.clone()).await;
        let authorization = fixture.authorization(column);
        got.push(
            grpc_call(
                &fixture.suite,
                server,
                authorization.as_deref(),
                &row.path,
                row.kind,
                call,
            )
            .await,
        );
    }
    let label = row.label.map_or_else(String::new, |label| format!(" ({label})"));
    Answered {
        row: format!("{server:<11} {}{label}", row.path),
        expected: expected.iter().map(|code| format!("{code:?}")).collect(),
        got,
    }
}

/// One call of `path` on `server` with `authorization`: the status code's name (for
/// SubmitReports, its one item's).
async fn grpc_call(
    suite: &Suite,
    server: Server,
    authorization: Option<&str>,
    path: &str,
    kind: Kind,
    call: Call,
) -> String {
    let code = match grpc_code(suite, server, authorization, path, kind, call).await {
        Ok(code) | Err(code) => code,
    };
    format!("{code:?}")
}

async fn grpc_code(
    suite: &Suite,
    server: Server,
    authorization: Option<&str>,
    path: &str,
    kind: Kind,
    call: Call,
) -> Result<Code, Code> {
    let mut grpc = tonic::client::Grpc::new(suite.channel(server, Caller::Anonymous));
    grpc.ready().await.map_err(|_| Code::Unavailable)?;
    let path: tonic::codegen::http::uri::PathAndQuery = path.parse().expect("a gRPC path");
    let with_authorization = |message| carrying(authorization, message);
    let status_code = |status: Status| status.code();
    match (kind, call) {
        (Kind::Unary, Call::One(message)) => {
            grpc.unary(with_authorization(message), path, RawCodec)
                .await
                .map_err(status_code)?;
            Ok(Code::Ok)
        }
        (Kind::ServerStreaming, Call::One(message)) => {
            let mut stream = grpc
                .server_streaming(with_authorization(message), path, RawCodec)
                .await
                .map_err(status_code)?
                .into_inner();
            match tokio::time::timeout(Duration::from_millis(500), stream.message()).await {
                Ok(Err(status)) => Err(status.code()),
                // A first message, the end, or nothing yet: the stream is open.
                Ok(Ok(_)) | Err(_) => Ok(Code::Ok),
            }
        }
        (Kind::ClientStreaming, Call::Many(messages)) => {
            let answer = grpc
                .client_streaming(carrying(authorization, tokio_stream::iter(messages)), path, RawCodec)
                .await
                .map_err(status_code)?
                .into_inner();
            let response = rpb::SubmitReportsResponse::decode(answer.as_slice()).expect("a SubmitReportsResponse");
            match response.results.first().and_then(|result| result.outcome.as_ref()) {
                Some(rpb::submit_reports_result::Outcome::Error(status)) => Err(Code::from(status.code)),
                _ => Ok(Code::Ok),
            }
        }
        _ => unreachable!("rows build calls of their own kind"),
    }
}

/// A request with `message`, carrying `authorization` if given.
fn carrying<T>(authorization: Option<&str>, message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    if let Some(value) = authorization {
        let value: MetadataValue<_> = value.parse().expect("an ASCII authorization value");
        request.metadata_mut().insert("authorization", value);
    }
    request
}

/// A codec that sends and receives messages as the bytes they are encoded to, so that one
/// helper calls any path.
#[derive(Debug, Clone, Copy, Default)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        prost::bytes::BufMut::put_slice(dst, &item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        let remaining = prost::bytes::Buf::remaining(src);
        Ok(Some(prost::bytes::Buf::copy_to_bytes(src, remaining).to_vec()))
    }
}

/// One HTTP row.
struct HttpRow {
    method: &'static str,
    path: &'static str,
    expected: [u16; 8],
    /// POST /login: the token goes in the form (with a matching CSRF cookie), not in a header.
    login_form: bool,
    /// A POST's form body (the token still goes in the header).
    form: &'static str,
}

impl HttpRow {
    fn login_form(mut self) -> HttpRow {
        self.login_form = true;
        self
    }

    fn form(mut self, body: &'static str) -> HttpRow {
        self.form = body;
        self
    }
}

fn http(method: &'static str, path: &'static str, expected: [u16; 8]) -> HttpRow {
    HttpRow {
        method,
        path,
        expected,
        login_form: false,
        form: "",
    }
}

/// Requests `row` once per column on the gateway's port.
async fn run_http(fixture: &Fixture, row: &HttpRow) -> Answered {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let addr = fixture.suite.addr(Server::Gateway);
    let path = row
        .path
        .replace(MEASURE, &fixture.key.measure)
        .replace(DEPARTMENT, &fixture.responsible);
    let mut got = Vec::new();
    for column in 0..COLUMNS.len() {
        let mut request = hyper::Request::builder()
            .method(row.method)
            .uri(format!("http://{addr}{path}"));
        let mut body = String::new();
        let authorization = fixture.authorization(column);
        if row.login_form {
            let token = authorization
                .as_deref()
                .map_or("", |value| value.strip_prefix("Bearer ").unwrap_or(value));
            body = format!("token={token}&csrf=matrix&lang=en");
            request = request
                .header("content-type", "application/x-www-form-urlencoded")
                .header("cookie", "duban_login_csrf=matrix");
        } else {
            if let Some(value) = authorization {
                request = request.header("authorization", value);
            }
            if row.method == "POST" {
                request = request.header("content-type", "application/x-www-form-urlencoded");
                body = row.form.to_owned();
            }
        }
        let response = client
            .request(request.body(Full::new(Bytes::from(body))).unwrap())
            .await
            .unwrap_or_else(|error| panic!("{} {path}: {error}", row.method));
        got.push(response.status().as_u16().to_string());
    }
    Answered {
        row: format!("gateway     HTTP {} {}", row.method, row.path),
        expected: row.expected.iter().map(u16::to_string).collect(),
        got,
    }
}
