//! Every server serves Prometheus metrics at `/metrics` on its own metrics port, never on
//! its API port. The whole suite runs; calls are made (a submission through the
//! gateway's front door, failing calls, an overview over gRPC and over HTTP); every
//! server is scraped before and after, each scrape read by a Prometheus text parser
//! (every line must be a comment, a type, a help text or a sample it understands), then
//! checked series by series: RPC counts and latencies by method and status code, calls
//! in flight and shed, the database pool, the writer's batches and commits, reports
//! submitted by department, the plan caches' ages, and the gateway's own series. A
//! scraper asking for OpenMetrics, as Prometheus does, gets it.

use std::{
    collections::{BTreeMap, BTreeSet},
    net::SocketAddr,
};

use duban_harness::{Caller, PLAN, ReportKey, Server, Suite};
use duban_kit::testing::Backend;
use duban_proto::{
    departments::v1::{self as dpb, departments_service_client::DepartmentsServiceClient},
    gateway::v1 as gpb,
    reporting::v1::{self as rpb, reporting_service_client::ReportingServiceClient},
};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use prometheus_parse::{LineInfo, Sample, Value};

const REPORTING: &str = "duban.reporting.v1.ReportingService";
const DEPARTMENTS: &str = "duban.departments.v1.DepartmentsService";
const DASHBOARD: &str = "duban.gateway.v1.DashboardService";
const HEALTH: &str = "grpc.health.v1.Health";

/// A plain HTTP/1.1 GET with `headers`: status, content type and body.
async fn http_get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> (u16, String, String) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let mut request = hyper::Request::get(format!("http://{addr}{path}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = client
        .request(request.body(Empty::new()).unwrap())
        .await
        .unwrap_or_else(|error| panic!("GET http://{addr}{path}: {error}"));
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .map(|value| value.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, content_type, String::from_utf8(body.to_vec()).unwrap())
}

/// One server's metrics, as the parser read them.
struct Scrape {
    server: Server,
    parsed: prometheus_parse::Scrape,
}

async fn scrape(suite: &Suite, server: Server) -> Scrape {
    let (status, content_type, text) = http_get(suite.metrics_addr(server), "/metrics", &[]).await;
    assert_eq!(status, 200, "{server}: {text}");
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{server}: {content_type}"
    );
    for line in text.lines() {
        assert!(
            !matches!(LineInfo::parse(line), LineInfo::Ignored),
            "{server}: a line the parser does not understand: {line:?}\n{text}"
        );
    }
    let parsed = prometheus_parse::Scrape::parse(text.lines().map(|line| Ok(line.to_owned())))
        .unwrap_or_else(|error| panic!("{server}'s metrics do not parse: {error}\n{text}"));
    Scrape { server, parsed }
}

async fn scrape_all(suite: &Suite) -> BTreeMap<Server, Scrape> {
    let mut scrapes = BTreeMap::new();
    for server in Server::ALL {
        scrapes.insert(server, scrape(suite, server).await);
    }
    scrapes
}

/// The kinds of series checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

fn kind(value: &Value) -> Option<Kind> {
    match value {
        Value::Counter(_) => Some(Kind::Counter),
        Value::Gauge(_) => Some(Kind::Gauge),
        Value::Histogram(_) => Some(Kind::Histogram),
        _ => None,
    }
}

fn has_labels(sample: &Sample, labels: &[(&str, &str)]) -> bool {
    labels
        .iter()
        .all(|(label, value)| sample.labels.get(label) == Some(*value))
}

impl Scrape {
    fn samples<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Sample> {
        self.parsed.samples.iter().filter(move |sample| sample.metric == name)
    }

    /// Checks that `name` is documented and that each of its samples is of `kind` with
    /// exactly the label names `labels`. A counter's name ends `_total`. (A labelled
    /// series with no sample yet is not written at all.)
    fn family(&self, name: &str, kind_of: Kind, labels: &[&str]) {
        let server = self.server;
        assert!(self.parsed.docs.contains_key(name), "{server} has no {name}");
        let expected: BTreeSet<&str> = labels.iter().copied().collect();
        for sample in self.samples(name) {
            assert_eq!(kind(&sample.value), Some(kind_of), "{server}: {name} {sample:?}");
            let found: BTreeSet<&str> = sample
                .labels
                .keys()
                .map(String::as_str)
                .filter(|label| *label != "le")
                .collect();
            assert_eq!(found, expected, "{server}: the labels of {name}");
        }
    }

    /// The number of the one sample of `name` whose labels include `labels` (a counter's
    /// total, a gauge's value); 0 if there is none (a counter not yet counted).
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let mut matching = self.samples(name).filter(|sample| has_labels(sample, labels));
        let found = matching.next().map_or(0.0, |sample| match sample.value {
            Value::Counter(value) | Value::Gauge(value) | Value::Untyped(value) => value,
            ref other => panic!("{}: {name} is not one number: {other:?}", self.server),
        });
        assert!(
            matching.next().is_none(),
            "{}: several {name} samples match {labels:?}",
            self.server
        );
        found
    }

    /// The histogram `name` whose labels include `labels`: (count, sum, buckets as
    /// upper bound and cumulative count).
    fn histogram(&self, name: &str, labels: &[(&str, &str)]) -> (f64, f64, Vec<(f64, f64)>) {
        let buckets = self
            .samples(name)
            .find(|sample| has_labels(sample, labels))
            .map(|sample| match &sample.value {
                Value::Histogram(buckets) => buckets.iter().map(|b| (b.less_than, b.count)).collect(),
                other => panic!("{name} is not a histogram: {other:?}"),
            })
            .unwrap_or_else(|| panic!("{}: no {name} with {labels:?}", self.server));
        let count = self.value(&format!("{name}_count"), labels);
        let sum = self.value(&format!("{name}_sum"), labels);
        (count, sum, buckets)
    }

    /// Calls answered as `service`/`method` with `code`.
    fn answered(&self, service: &str, method: &str, code: &str) -> f64 {
        self.value(
            "duban_rpc_requests_total",
            &[("service", service), ("method", method), ("code", code)],
        )
    }
}

/// What every server exposes, whatever it serves.
fn check_common_series(scrape: &Scrape) {
    let server = scrape.server;
    let rpc_labels = ["service", "method", "code"];
    scrape.family("duban_rpc_requests_total", Kind::Counter, &rpc_labels);
    scrape.family("duban_rpc_duration_seconds", Kind::Histogram, &rpc_labels);
    scrape.family("duban_rpc_in_flight", Kind::Gauge, &[]);
    scrape.family("duban_rpc_concurrency_limit", Kind::Gauge, &[]);
    assert!(
        scrape.answered(HEALTH, "Check", "OK") >= 1.0,
        "{server}: the harness's health checks are counted"
    );
    let limit = scrape.value("duban_rpc_concurrency_limit", &[]);
    assert_eq!(limit, 256.0, "{server}: server.max_concurrent_requests");
    let in_flight = scrape.value("duban_rpc_in_flight", &[]);
    assert!((0.0..=limit).contains(&in_flight), "{server}: {in_flight} in flight");
    // Nothing here comes near the limit, so `duban_rpc_shed_total{service, method}` has
    // no sample yet (shedding and its count are tested in kit's layer).
    assert_eq!(
        scrape.samples("duban_rpc_shed_total").count(),
        0,
        "{server}: nothing was shed"
    );

    if server == Server::Gateway {
        assert!(
            !scrape.parsed.docs.contains_key("duban_db_pool_connections"),
            "the gateway has no database"
        );
        return;
    }
    scrape.family("duban_db_pool_connections", Kind::Gauge, &["state"]);
    scrape.family("duban_db_pool_max_connections", Kind::Gauge, &[]);
    let max = scrape.value("duban_db_pool_max_connections", &[]);
    let idle = scrape.value("duban_db_pool_connections", &[("state", "idle")]);
    let in_use = scrape.value("duban_db_pool_connections", &[("state", "in_use")]);
    assert!(max >= 1.0, "{server}: pool of {max}");
    assert!(idle + in_use >= 1.0, "{server}: a migrated server holds a connection");
    assert!(idle + in_use <= max, "{server}: {idle} idle + {in_use} in use > {max}");
}

/// The plan caches of reporting and the gateway, after they have read the plan.
fn check_plan_cache_ages(scrape: &Scrape) {
    let server = scrape.server;
    scrape.family("duban_plan_cache_age_seconds", Kind::Gauge, &["cache", "plan"]);
    scrape.family("duban_plan_cache_ttl_seconds", Kind::Gauge, &["cache"]);
    for (cache, plan) in [
        ("plan", "jiading-2023"),
        ("targets", "jiading-2023"),
        ("departments", ""),
    ] {
        let labels = [("cache", cache), ("plan", plan)];
        assert!(
            scrape
                .samples("duban_plan_cache_age_seconds")
                .any(|sample| has_labels(sample, &labels)),
            "{server}: no age for the {cache} cache of {plan:?}"
        );
        let age = scrape.value("duban_plan_cache_age_seconds", &labels);
        let ttl = scrape.value("duban_plan_cache_ttl_seconds", &[("cache", cache)]);
        assert!(ttl > 0.0, "{server}: {cache} TTL {ttl}");
        // Read during this test while every owner answers: never much more than a TTL old.
        assert!((0.0..ttl + 60.0).contains(&age), "{server}: {cache} is {age} s old");
    }
}

async fn every_server_serves_its_metrics_apart_from_its_api(backend: Backend) {
    let Some(suite) = Suite::builder(backend).all().start().await else {
        return;
    };
    let gateway = suite.addr(Server::Gateway);
    let before = scrape_all(&suite).await;
    for scrape in before.values() {
        check_common_series(scrape);
    }

    // Prometheus asks for OpenMetrics, and gets it.
    let (status, content_type, text) = http_get(
        suite.metrics_addr(Server::Reporting),
        "/metrics",
        &[(
            "accept",
            "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.3",
        )],
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    assert!(text.ends_with("# EOF\n"), "{text}");
    assert!(text.contains("\nduban_rpc_requests_total{"), "{text}");
    // The gateway's public port does not serve them.
    let admin = format!("Bearer {}", suite.admin_token());
    let (status, _, body) = http_get(gateway, "/metrics", &[("authorization", &admin)]).await;
    assert!(
        status != 200 || !body.contains("duban_rpc"),
        "the public port serves metrics: {status} {body}"
    );

    // A department submits through the front door, as department systems do.
    let responsibility = suite
        .responsibilities()
        .await
        .expect("the plan's responsibilities")
        .into_iter()
        .find(|r| r.measure == "4.1" && r.department == "anting-town")
        .expect("安亭镇 reports on measure 4.1");
    let department = responsibility.department.as_str();
    let token = suite.issue_token(dpb::Role::Department, department).await;
    let mut front_door = ReportingServiceClient::new(suite.channel(Server::Gateway, &token));
    let key = ReportKey::new(&responsibility, 6);
    front_door
        .submit_report(key.submission("6月进展".into(), 50, "metrics-test-1".into()))
        .await
        .expect("the submission is stored");
    // A failing call through the front door: NOT_FOUND, sent as a trailers-only answer.
    let missing = ReportKey::new(&responsibility, 1);
    let error = front_door
        .get_report(rpb::GetReportRequest { name: missing.name() })
        .await
        .expect_err("no January report");
    assert_eq!(error.code(), tonic::Code::NotFound);
    // A failing call straight to a service: no token.
    let error = DepartmentsServiceClient::new(suite.channel(Server::Departments, Caller::Anonymous))
        .list_groups(dpb::ListGroupsRequest::default())
        .await
        .expect_err("no token");
    assert_eq!(error.code(), tonic::Code::Unauthenticated);
    // An overview over gRPC, and one over HTTP.
    suite
        .dashboard(Caller::Admin)
        .get_overview(gpb::GetOverviewRequest {
            plan: PLAN.into(),
            as_of: None,
        })
        .await
        .expect("an overview");
    let (status, _, _) = http_get(gateway, "/api/v1/overview", &[("authorization", &admin)]).await;
    assert_eq!(status, 200);

    let after = scrape_all(&suite).await;
    for scrape in after.values() {
        check_common_series(scrape);
    }
    let delta = |server: Server, service: &str, method: &str, code: &str| {
        after[&server].answered(service, method, code) - before[&server].answered(service, method, code)
    };

    // Reporting counted the submission and the failure, by method and code, and timed them.
    assert_eq!(delta(Server::Reporting, REPORTING, "SubmitReport", "OK"), 1.0);
    assert_eq!(delta(Server::Reporting, REPORTING, "GetReport", "NOT_FOUND"), 1.0);
    let submit = [("service", REPORTING), ("method", "SubmitReport"), ("code", "OK")];
    let (count, sum, buckets) = after[&Server::Reporting].histogram("duban_rpc_duration_seconds", &submit);
    assert_eq!(count, 1.0);
    assert!(sum > 0.0, "a call takes time: {sum}");
    assert_eq!(buckets.last(), Some(&(f64::INFINITY, 1.0)), "{buckets:?}");
    // The gateway counted the same two calls, forwarded, under their owner's name, and
    // its own GetOverview.
    assert_eq!(delta(Server::Gateway, REPORTING, "SubmitReport", "OK"), 1.0);
    assert_eq!(delta(Server::Gateway, REPORTING, "GetReport", "NOT_FOUND"), 1.0);
    assert_eq!(delta(Server::Gateway, DASHBOARD, "GetOverview", "OK"), 1.0);
    // The departments server refused the anonymous caller.
    assert_eq!(
        delta(Server::Departments, DEPARTMENTS, "ListGroups", "UNAUTHENTICATED"),
        1.0
    );

    // Reporting's own series: the submission by department, the writer's batches.
    let reporting = (&before[&Server::Reporting], &after[&Server::Reporting]);
    reporting
        .1
        .family("duban_reports_submitted_total", Kind::Counter, &["department"]);
    let submitted = |scrape: &Scrape| scrape.value("duban_reports_submitted_total", &[("department", department)]);
    assert_eq!(submitted(reporting.1) - submitted(reporting.0), 1.0);
    for name in ["duban_writer_batch_size", "duban_writer_commit_duration_seconds"] {
        reporting.1.family(name, Kind::Histogram, &[]);
        let batches = |scrape: &Scrape| scrape.histogram(name, &[]).0;
        assert!(
            batches(reporting.1) > batches(reporting.0),
            "{name}: the submission was written in a batch"
        );
    }
    let (batches, jobs, _) = reporting.1.histogram("duban_writer_batch_size", &[]);
    assert!(
        jobs >= batches,
        "every batch holds a job: {jobs} jobs in {batches} batches"
    );
    reporting
        .1
        .family("duban_writer_retried_batches_total", Kind::Counter, &[]);
    assert_eq!(reporting.1.value("duban_writer_retried_batches_total", &[]), 0.0);

    // The plan caches that judged the submission and built the overview.
    check_plan_cache_ages(&after[&Server::Reporting]);
    check_plan_cache_ages(&after[&Server::Gateway]);

    // The gateway's own series.
    let gateway_scrapes = (&before[&Server::Gateway], &after[&Server::Gateway]);
    let gateway_delta = |name: &str, labels: &[(&str, &str)]| {
        gateway_scrapes.1.value(name, labels) - gateway_scrapes.0.value(name, labels)
    };
    gateway_scrapes
        .1
        .family("duban_gateway_http_requests_total", Kind::Counter, &["route", "status"]);
    gateway_scrapes.1.family(
        "duban_gateway_http_request_duration_seconds",
        Kind::Histogram,
        &["route"],
    );
    assert_eq!(
        gateway_delta(
            "duban_gateway_http_requests_total",
            &[("route", "/api/v1/overview"), ("status", "200")]
        ),
        1.0
    );
    gateway_scrapes
        .1
        .family("duban_gateway_overviews_total", Kind::Counter, &["outcome"]);
    assert_eq!(
        gateway_delta("duban_gateway_overviews_total", &[("outcome", "complete")]),
        2.0,
        "GetOverview and the JSON overview"
    );
    gateway_scrapes
        .1
        .family("duban_gateway_forwarded_calls_total", Kind::Counter, &["service"]);
    assert_eq!(
        gateway_delta("duban_gateway_forwarded_calls_total", &[("service", REPORTING)]),
        2.0
    );

    suite.stop().await;
}

duban_kit::backend_tests!(every_server_serves_its_metrics_apart_from_its_api);
