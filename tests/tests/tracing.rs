//! One trace across the suite, proven: the suite exports its spans over OTLP/gRPC to a
//! collector in this process (opentelemetry-proto's own TraceService server), and its
//! JSON logs go to a buffer, both configured once (the subscriber and the tracer
//! provider are process-wide, hence one test function in a binary of its own). Then:
//!
//! - a SubmitReport through the gateway's front door is one trace: the gateway's span is
//!   its only root, reporting's span is the gateway's child, departments' token check is
//!   reporting's child, and every span's parent is in the trace;
//! - a dashboard read is one trace across the gateway and every server it reads;
//! - database statements are child spans of the call that ran them, with a duration;
//! - a log line written while serving a call carries `trace_id`, `span_id`,
//!   `department` and `request_id` at the top level, naming that call's span.
//!
//! On SQLite, and on PostgreSQL when it is reachable (required with
//! `DUBAN_REQUIRE_POSTGRES=1`).

use std::{
    collections::{BTreeMap, BTreeSet},
    io,
    sync::{Arc, Mutex},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use duban_harness::{PLAN, ReportKey, Server, Suite};
use duban_kit::{
    settings::{LogFormat, LogSettings, TelemetrySettings},
    telemetry::TelemetryGuard,
    testing::Backend,
};
use duban_proto::{
    departments::v1::Role, gateway::v1 as gpb, reporting::v1::reporting_service_client::ReportingServiceClient,
};
use opentelemetry_proto::tonic::{
    collector::trace::v1::{
        ExportTraceServiceRequest, ExportTraceServiceResponse,
        trace_service_server::{TraceService, TraceServiceServer},
    },
    common::v1::{AnyValue, KeyValue, any_value::Value as AttributeValue},
    trace::v1::{span::SpanKind, status::StatusCode},
};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Request, Response, Status};

/// One span as the collector received it, with the `service.name` of its resource.
#[derive(Debug, Clone)]
struct Received {
    service: String,
    span: opentelemetry_proto::tonic::trace::v1::Span,
}

impl Received {
    fn trace_id(&self) -> String {
        hex(&self.span.trace_id)
    }

    fn span_id(&self) -> String {
        hex(&self.span.span_id)
    }

    fn parent_id(&self) -> Option<String> {
        (!self.span.parent_span_id.is_empty()).then(|| hex(&self.span.parent_span_id))
    }

    fn attribute(&self, key: &str) -> Option<String> {
        attribute(&self.span.attributes, key)
    }

    /// The server whose request span this is, if it is one.
    fn server(&self) -> Option<String> {
        self.attribute("duban.server")
    }

    fn is_statement(&self) -> bool {
        self.span.name.starts_with("sea_orm.")
    }

    fn duration(&self) -> Duration {
        Duration::from_nanos(
            self.span
                .end_time_unix_nano
                .saturating_sub(self.span.start_time_unix_nano),
        )
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn attribute(attributes: &[KeyValue], key: &str) -> Option<String> {
    let value = attributes.iter().find(|kv| kv.key == key)?.value.as_ref()?;
    match value {
        AnyValue {
            value: Some(AttributeValue::StringValue(text)),
        } => Some(text.clone()),
        AnyValue {
            value: Some(AttributeValue::IntValue(number)),
        } => Some(number.to_string()),
        AnyValue {
            value: Some(AttributeValue::BoolValue(flag)),
        } => Some(flag.to_string()),
        _ => None,
    }
}

/// The collector: keeps every span it is sent.
#[derive(Debug, Clone, Default)]
struct Collector {
    received: Arc<Mutex<Vec<Received>>>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let mut received = self.received.lock().unwrap();
        for resource_spans in request.into_inner().resource_spans {
            let service = resource_spans
                .resource
                .as_ref()
                .and_then(|resource| attribute(&resource.attributes, "service.name"))
                .unwrap_or_default();
            for scope_spans in resource_spans.scope_spans {
                received.extend(scope_spans.spans.into_iter().map(|span| Received {
                    service: service.clone(),
                    span,
                }));
            }
        }
        Ok(Response::new(ExportTraceServiceResponse { partial_success: None }))
    }
}

impl Collector {
    /// Serves OTLP/gRPC on an ephemeral loopback port; returns its endpoint.
    async fn start(&self) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let server = tonic::transport::Server::builder().add_service(TraceServiceServer::new(self.clone()));
        tokio::spawn(server.serve_with_incoming(TcpListenerStream::new(listener)));
        endpoint
    }

    fn spans(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

/// The log lines, as the servers write them.
#[derive(Debug, Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl io::Write for LogBuffer {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogBuffer {
    type Writer = LogBuffer;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl LogBuffer {
    /// Every line so far, parsed: each must be one JSON object.
    fn lines(&self) -> Vec<Value> {
        let bytes = self.0.lock().unwrap().clone();
        String::from_utf8(bytes)
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|error| panic!("not JSON ({error}): {line}")))
            .collect()
    }
}

/// Exports every buffered span (the batch exporter otherwise waits up to 5 s).
async fn flush(telemetry: &Arc<TelemetryGuard>) {
    let telemetry = telemetry.clone();
    tokio::task::spawn_blocking(move || telemetry.flush())
        .await
        .unwrap()
        .expect("the collector takes the spans");
}

/// The spans of one trace, and checks on its shape.
struct Trace {
    id: String,
    spans: Vec<Received>,
}

impl Trace {
    fn of(spans: &[Received], id: &str) -> Trace {
        Trace {
            id: id.to_owned(),
            spans: spans.iter().filter(|span| span.trace_id() == id).cloned().collect(),
        }
    }

    fn by_id(&self) -> BTreeMap<String, &Received> {
        self.spans.iter().map(|span| (span.span_id(), span)).collect()
    }

    /// Asserts the trace arrived whole: one root, and every other span's parent in it.
    fn assert_whole(&self) -> &Received {
        let by_id = self.by_id();
        let roots: Vec<&Received> = self.spans.iter().filter(|span| span.parent_id().is_none()).collect();
        assert_eq!(
            roots.len(),
            1,
            "trace {} has {} roots: {roots:#?}",
            self.id,
            roots.len()
        );
        for span in &self.spans {
            if let Some(parent) = span.parent_id() {
                assert!(
                    by_id.contains_key(&parent),
                    "trace {}: the parent {parent} of {} ({:?}) never arrived",
                    self.id,
                    span.span.name,
                    span.server()
                );
            }
        }
        roots[0]
    }

    /// The request span of `server` named `name` (`…Service/Method`).
    fn request(&self, server: &str, name: &str) -> &Received {
        let found: Vec<&Received> = self
            .spans
            .iter()
            .filter(|span| span.server().as_deref() == Some(server) && span.span.name == name)
            .collect();
        assert_eq!(
            found.len(),
            1,
            "trace {}: {} spans named {name} from {server}; the servers' spans: {:?}",
            self.id,
            found.len(),
            self.request_spans()
        );
        found[0]
    }

    /// (server, span name) of every request span.
    fn request_spans(&self) -> Vec<(String, String)> {
        self.spans
            .iter()
            .filter_map(|span| Some((span.server()?, span.span.name.clone())))
            .collect()
    }

    /// The servers whose request spans are in the trace.
    fn servers(&self) -> BTreeSet<String> {
        self.spans.iter().filter_map(Received::server).collect()
    }

    /// The request span a span belongs to: itself or its nearest ancestor that is one.
    fn owner(&self, span: &Received) -> Option<Received> {
        let by_id = self.by_id();
        let mut at = span;
        loop {
            if at.server().is_some() {
                return Some(at.clone());
            }
            at = by_id.get(&at.parent_id()?)?;
        }
    }

    /// The database statements run while serving `request`, each with its duration.
    fn statements_of(&self, request: &Received) -> Vec<&Received> {
        self.spans
            .iter()
            .filter(|span| span.is_statement())
            .filter(|span| {
                self.owner(span)
                    .is_some_and(|owner| owner.span_id() == request.span_id())
            })
            .collect()
    }
}

fn assert_child(child: &Received, parent: &Received) {
    assert_eq!(
        child.parent_id().as_deref(),
        Some(parent.span_id().as_str()),
        "{} ({:?}) is not a child of {} ({:?})",
        child.span.name,
        child.server(),
        parent.span.name,
        parent.server()
    );
}

/// Asserts the statements are spans with a duration and the SQL they ran.
fn assert_statements(statements: &[&Received], what: &str) {
    assert!(!statements.is_empty(), "{what}: no database statement spans");
    for statement in statements {
        assert_eq!(statement.span.kind, SpanKind::Client as i32, "{statement:#?}");
        assert!(
            statement.span.end_time_unix_nano > statement.span.start_time_unix_nano,
            "{what}: a statement without a duration: {statement:#?}"
        );
        assert!(statement.duration() < Duration::from_secs(30), "{statement:#?}");
        assert!(statement.attribute("db.system").is_some(), "{statement:#?}");
    }
}

fn unique(label: &str) -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    format!("tracing-{label}-{nanos}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_trace_across_the_suite() {
    let collector = Collector::default();
    let endpoint = collector.start().await;
    let logs = LogBuffer::default();
    let telemetry = duban_kit::telemetry::init_with_writer(
        "duban",
        &LogSettings {
            format: LogFormat::Json,
            filter: "info".into(),
        },
        &TelemetrySettings {
            otlp_endpoint: endpoint,
        },
        logs.clone(),
    )
    .expect("telemetry starts");
    let telemetry = Arc::new(telemetry);

    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(suite) = Suite::builder(backend).all().start().await else {
            eprintln!("\n!!! {backend} unreachable: SKIPPING its half\n");
            continue;
        };
        // What starting the suite exported (the plan import) is out of the way.
        flush(&telemetry).await;
        submit_report_through_the_gateway(&suite, backend, &collector, &logs, &telemetry).await;
        read_the_dashboard(&suite, &collector, &telemetry).await;
        suite.stop().await;
    }
    assert!(
        collector.spans().iter().all(|span| span.service == "duban"),
        "the resource names the process's service"
    );
}

async fn submit_report_through_the_gateway(
    suite: &Suite,
    backend: Backend,
    collector: &Collector,
    logs: &LogBuffer,
    telemetry: &Arc<TelemetryGuard>,
) {
    let responsibility = suite
        .responsibilities()
        .await
        .unwrap()
        .into_iter()
        .find(|responsibility| !responsibility.owed.is_empty())
        .expect("a department owes values");
    let department = responsibility.department.clone();
    let token = suite.issue_token(Role::Department, &department).await;
    let request_id = unique(&format!("{backend}"));
    let mut front_door = ReportingServiceClient::new(suite.channel(Server::Gateway, &token));
    front_door
        .submit_report(ReportKey::new(&responsibility, 11).submission("一条贯穿的追踪".into(), 50, request_id.clone()))
        .await
        .expect("the report is stored");
    flush(telemetry).await;

    let spans = collector.spans();
    let reporting_spans: Vec<&Received> = spans
        .iter()
        .filter(|span| span.attribute("request_id").as_deref() == Some(request_id.as_str()))
        .collect();
    assert_eq!(
        reporting_spans.len(),
        1,
        "one span records the request id: {reporting_spans:#?}"
    );
    let trace = Trace::of(&spans, &reporting_spans[0].trace_id());

    // One trace: the gateway's span is its root, the others hang below it.
    let root = trace.assert_whole();
    let gateway = trace.request("gateway", "duban.reporting.v1.ReportingService/SubmitReport");
    assert_eq!(root.span_id(), gateway.span_id(), "the gateway's span is the root");
    assert_eq!(gateway.span.kind, SpanKind::Server as i32);
    let reporting = trace.request("reporting", "duban.reporting.v1.ReportingService/SubmitReport");
    assert_child(reporting, gateway);
    assert_eq!(reporting.span.kind, SpanKind::Server as i32);
    assert_eq!(reporting.attribute("department").as_deref(), Some(department.as_str()));
    let token_check = trace.request(
        "departments",
        "duban.departments.v1.DepartmentsInternalService/AuthenticateToken",
    );
    assert_child(token_check, reporting);
    assert_eq!(token_check.attribute("principal").as_deref(), Some("service"));
    assert!(
        trace
            .servers()
            .is_superset(&["gateway", "reporting", "departments"].map(String::from).into()),
        "{:?}",
        trace.servers()
    );

    // Database statements: children (through the writer's spans) of the call that ran
    // them, each with its duration and SQL.
    let writes = trace.statements_of(reporting);
    assert_statements(&writes, "SubmitReport");
    assert!(
        writes.iter().any(|statement| statement
            .attribute("db.statement")
            .is_some_and(|sql| sql.to_uppercase().starts_with("INSERT"))),
        "the report's INSERT is in the trace: {:?}",
        writes.iter().map(|s| s.attribute("db.statement")).collect::<Vec<_>>()
    );
    assert!(
        trace.spans.iter().any(|span| span.span.name == "write.transaction"),
        "the commit the call waited for is in its trace"
    );
    assert_statements(&trace.statements_of(token_check), "AuthenticateToken");

    // The log line the call wrote names the call: its trace, its span, who, which request.
    let lines = logs.lines();
    let line = lines
        .iter()
        .find(|line| line["message"] == "stored a report revision" && line["request_id"] == request_id.as_str())
        .unwrap_or_else(|| panic!("no log line for {request_id}"));
    assert_eq!(line["trace_id"], trace.id.as_str(), "{line}");
    assert_eq!(line["span_id"], reporting.span_id().as_str(), "{line}");
    assert_eq!(line["department"], department.as_str(), "{line}");
    assert_eq!(line["duban.server"], "reporting", "{line}");
    assert_eq!(line["level"], "INFO", "{line}");
    assert!(line["timestamp"].is_string(), "{line}");

    // A refused call is marked failed, with its gRPC code, on both sides of the hop.
    let refused_id = unique(&format!("{backend}-refused"));
    let mut refused = ReportKey::new(&responsibility, 11).submission(String::new(), 50, refused_id.clone());
    refused.report = None;
    let status = front_door.submit_report(refused).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    flush(telemetry).await;
    let spans = collector.spans();
    let refused = spans
        .iter()
        .find(|span| span.attribute("request_id").as_deref() == Some(refused_id.as_str()))
        .expect("the refused call's span");
    let trace = Trace::of(&spans, &refused.trace_id());
    for server in ["gateway", "reporting"] {
        let span = trace.request(server, "duban.reporting.v1.ReportingService/SubmitReport");
        let code = span.span.status.as_ref().map(|status| status.code);
        assert_eq!(code, Some(StatusCode::Error as i32), "{span:#?}");
        assert_eq!(
            span.attribute("rpc.grpc.status_code").as_deref(),
            Some("3"),
            "{span:#?}"
        );
    }
}

async fn read_the_dashboard(suite: &Suite, collector: &Collector, telemetry: &Arc<TelemetryGuard>) {
    let token = suite.issue_token(Role::Leadership, "").await;
    let before = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64;
    suite
        .dashboard(&token)
        .get_overview(gpb::GetOverviewRequest {
            plan: PLAN.into(),
            as_of: None,
        })
        .await
        .expect("the overview");
    flush(telemetry).await;

    let spans = collector.spans();
    let overviews: Vec<&Received> = spans
        .iter()
        .filter(|span| span.span.name == "duban.gateway.v1.DashboardService/GetOverview")
        .filter(|span| span.span.start_time_unix_nano >= before)
        .collect();
    assert_eq!(overviews.len(), 1, "{overviews:#?}");
    let trace = Trace::of(&spans, &overviews[0].trace_id());
    let root = trace.assert_whole();
    assert_eq!(root.span_id(), overviews[0].span_id(), "the gateway's span is the root");
    assert_eq!(root.server().as_deref(), Some("gateway"));
    assert_eq!(root.attribute("principal").as_deref(), Some("leadership"));
    // Every server read answered inside the trace, as the child of the call that read it
    // (the gateway's, or that of a server the gateway read).
    let by_id = trace.by_id();
    for span in trace.spans.iter().filter(|span| span.server().is_some()) {
        if span.span_id() != root.span_id() {
            let parent = &by_id[&span.parent_id().unwrap()];
            assert!(
                parent.server().is_some_and(|caller| Some(caller) != span.server()),
                "{} ({:?}) is not called by another server's request: {parent:#?}",
                span.span.name,
                span.server()
            );
        }
    }
    // The gateway's first overview reads the plan (measures, targets, departments) and
    // the progress (reporting) itself; departments also checks its token.
    for server in ["reporting", "measures", "targets", "departments"] {
        assert!(
            trace
                .spans
                .iter()
                .any(|span| span.server().as_deref() == Some(server) && span.parent_id() == Some(root.span_id())),
            "no call from the gateway to {server} in {:?}",
            trace.request_spans()
        );
    }
    let token_check = trace.request(
        "departments",
        "duban.departments.v1.DepartmentsInternalService/AuthenticateToken",
    );
    assert_child(token_check, root);
    // The servers read their databases, each statement inside the span of the call that
    // ran it (the gateway has no database).
    let statements: Vec<&Received> = trace.spans.iter().filter(|span| span.is_statement()).collect();
    assert_statements(&statements, "GetOverview");
    for statement in statements {
        let owner = trace.owner(statement).and_then(|owner| owner.server());
        assert!(
            owner.as_deref().is_some_and(|server| server != "gateway"),
            "{statement:#?} belongs to {owner:?}"
        );
    }
}
