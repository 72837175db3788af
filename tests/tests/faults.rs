//! Faults (issue 12, §4): what the suite does when things fail under it.
//!
//! - PostgreSQL goes away mid-run: a TCP proxy between reporting and PostgreSQL cuts
//!   every connection while departments write. Writes answer UNAVAILABLE
//!   (`DATABASE_UNAVAILABLE`), health goes NOT_SERVING and comes back, service resumes
//!   without a restart, every acknowledged report is stored, and no failed one is half
//!   there.
//! - A service is killed abruptly while the gateway is under load: the overview names it
//!   in `unreachable`, the rest is still served, and it recovers when the service returns.
//! - Deadlines: a slow downstream (a fake reporting server) receives a `grpc-timeout` within
//!   the caller's remaining budget, the call is cancelled there by the caller's deadline,
//!   and the caller gets DEADLINE_EXCEEDED at its deadline, not the downstream's 30 s.
//! - Overload: beyond `server.max_concurrent_requests`, callers get RESOURCE_EXHAUSTED
//!   within milliseconds, the process's memory stays bounded during a flood of 5,000
//!   calls from 50 callers, and the server answers normally afterwards.
//! - Shutdown: with WatchReportEvents and WatchOverview streams open, shutdown completes
//!   within `server.shutdown_grace_ms`.
//!
//! The tests run one at a time ([`ONE_AT_A_TIME`]): each measures times or memory, which
//! another test running beside it on a small machine would distort.

use std::{
    collections::BTreeMap,
    convert::Infallible,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use duban_harness::{Caller, DashboardClient, PLAN, ReportKey, ReportingClient, Server, Suite, TcpProxy};
use duban_kit::{
    status::reason,
    testing::{self, Backend},
};
use duban_proto::{
    departments::v1 as dpb,
    gateway::v1 as gpb,
    reporting::v1::{self as rpb, notices_service_server, reporting_service_server},
};
use futures::StreamExt;
use tonic::Code;
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};

/// Held by each test for its whole run: see the module documentation.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Reporting's health as grpc.health.v1 answers it for its service, or `None` if the
/// server does not answer.
async fn reporting_health(addr: SocketAddr) -> Option<ServingStatus> {
    let mut request = tonic::Request::new(HealthCheckRequest {
        service: reporting_service_server::SERVICE_NAME.into(),
    });
    request.set_timeout(Duration::from_secs(1));
    let answer = testing::health_client(addr).check(request).await.ok()?;
    Some(answer.into_inner().status())
}

/// Waits until reporting's health is `wanted`; how long that took.
///
/// # Panics
///
/// After `within`, with the last answer.
async fn until_health(addr: SocketAddr, wanted: ServingStatus, within: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let seen = reporting_health(addr).await;
        if seen == Some(wanted) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "reporting's health is not {wanted:?} after {within:?}: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---------------------------------------------------------------------------------------
// PostgreSQL goes away mid-run
// ---------------------------------------------------------------------------------------

/// One SubmitReport a writer made, and what it was answered.
struct Attempt {
    key: ReportKey,
    request: rpb::SubmitReportRequest,
    answer: Result<rpb::Report, tonic::Status>,
}

/// Counts the writers share with the test, which steers the outage by them.
#[derive(Default)]
struct Progress {
    acknowledged: AtomicUsize,
    failed: AtomicUsize,
    stop: AtomicBool,
}

/// Submits a report for each of `keys` in turn (one new report per request) until
/// `progress.stop`, pausing a little after a failure so that an outage does not use up
/// the keys.
async fn write_reports(mut client: ReportingClient, keys: Vec<ReportKey>, progress: Arc<Progress>) -> Vec<Attempt> {
    let mut attempts = Vec::new();
    for (i, key) in keys.into_iter().enumerate() {
        if progress.stop.load(Ordering::SeqCst) {
            break;
        }
        let request = key.submission(
            format!("written while the database comes and goes ({i})"),
            (i % 100) as u8,
            uuid::Uuid::new_v4().to_string(),
        );
        let answer = client
            .submit_report(request.clone())
            .await
            .map(tonic::Response::into_inner);
        if answer.is_ok() {
            progress.acknowledged.fetch_add(1, Ordering::SeqCst);
        } else {
            progress.failed.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        attempts.push(Attempt { key, request, answer });
    }
    attempts
}

/// Waits until `count` reaches `at_least`.
///
/// # Panics
///
/// After `within`, naming `what`.
async fn until_count(count: &AtomicUsize, at_least: usize, within: Duration, what: &str) {
    let started = Instant::now();
    while count.load(Ordering::SeqCst) < at_least {
        assert!(
            started.elapsed() < within,
            "{what}: {} after {within:?}, not {at_least}",
            count.load(Ordering::SeqCst)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Whether `stored` is the report `request` submitted, whole: its values and narrative.
fn is_whole(stored: &rpb::Report, request: &rpb::SubmitReportRequest) -> bool {
    let Some(sent) = &request.report else {
        return false;
    };
    stored.narrative == sent.narrative
        && stored.metric_values.len() == sent.metric_values.len()
        && stored
            .metric_values
            .iter()
            .zip(&sent.metric_values)
            .all(|(stored, sent)| {
                stored.target_code == sent.target_code
                    && stored.value.as_ref().and_then(|v| v.value.parse::<f64>().ok())
                        == sent.value.as_ref().and_then(|v| v.value.parse::<f64>().ok())
            })
}

/// PostgreSQL goes away while departments write to reporting, through a proxy the test
/// cuts and restores; see the module documentation for what is checked.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_goes_away_mid_run() {
    let _one = ONE_AT_A_TIME.lock().await;
    let proxy = TcpProxy::to_postgres().await;
    let Some(suite) = Suite::builder(Backend::Postgres)
        .with(Server::Reporting)
        .database_through(Server::Reporting, proxy.addr())
        // The outage is the subject, not the write quota.
        .configure(|settings| settings.server.department_writes_per_second = 0)
        .start()
        .await
    else {
        return; // PostgreSQL unreachable and not required: skipped
    };
    let addr = suite.addr(Server::Reporting);

    // Six departments write at once, each its own reports (a key per request).
    let mut keys: BTreeMap<String, Vec<ReportKey>> = BTreeMap::new();
    for responsibility in suite.responsibilities().await.expect("the plan's responsibilities") {
        let department = keys.entry(responsibility.department.clone()).or_default();
        // Quarter ends: reporting periods whether the plan reports monthly or quarterly.
        department.extend([6, 9, 12].map(|month| ReportKey::new(&responsibility, month)));
    }
    let mut departments: Vec<_> = keys.into_iter().collect();
    departments.sort_by_key(|(_, keys)| std::cmp::Reverse(keys.len()));
    let progress = Arc::new(Progress::default());
    let mut writers = Vec::new();
    for (department, keys) in departments.into_iter().take(6) {
        let token = suite.issue_token(dpb::Role::Department, &department).await;
        writers.push(tokio::spawn(write_reports(
            suite.reporting(&token),
            keys,
            progress.clone(),
        )));
    }

    until_count(
        &progress.acknowledged,
        30,
        Duration::from_secs(30),
        "acknowledged writes",
    )
    .await;
    proxy.cut();
    let not_serving_after = until_health(addr, ServingStatus::NotServing, Duration::from_secs(8)).await;
    let failed_before = progress.failed.load(Ordering::SeqCst);
    until_count(
        &progress.failed,
        failed_before + 12,
        Duration::from_secs(15),
        "writes failed during the outage",
    )
    .await;
    let acknowledged_in_outage = progress.acknowledged.load(Ordering::SeqCst);
    proxy.restore();
    let serving_after = until_health(addr, ServingStatus::Serving, Duration::from_secs(15)).await;
    until_count(
        &progress.acknowledged,
        acknowledged_in_outage + 30,
        Duration::from_secs(30),
        "acknowledged writes once the database is back",
    )
    .await;
    progress.stop.store(true, Ordering::SeqCst);
    let mut attempts = Vec::new();
    for writer in writers {
        attempts.extend(writer.await.expect("a writer panicked"));
    }
    eprintln!(
        "{} writes, {} acknowledged; NOT_SERVING {not_serving_after:?} after the cut, SERVING {serving_after:?} after the return",
        attempts.len(),
        progress.acknowledged.load(Ordering::SeqCst)
    );

    // Every failure is the database's, said so, and retryable.
    let failures: Vec<&tonic::Status> = attempts.iter().filter_map(|a| a.answer.as_ref().err()).collect();
    assert!(!failures.is_empty(), "no write failed: the outage did not happen");
    for status in &failures {
        assert_eq!(status.code(), Code::Unavailable, "{status:?}");
        assert_eq!(reason(status).as_deref(), Some("DATABASE_UNAVAILABLE"), "{status:?}");
        assert!(status.message().contains("database"), "{status:?}");
    }

    // Every acknowledged report is stored as acknowledged; a failed one is either
    // absent or whole, and its retry (same request id) is answered and stored.
    let admin = &mut suite.reporting(Caller::Admin);
    for attempt in &attempts {
        let name = attempt.key.name();
        let stored = admin
            .get_report(rpb::GetReportRequest { name: name.clone() })
            .await
            .map(tonic::Response::into_inner);
        match (&attempt.answer, stored) {
            (Ok(acknowledged), Ok(stored)) => {
                assert_eq!(&stored, acknowledged, "{name} is not stored as acknowledged");
            }
            (Ok(_), Err(status)) => panic!("{name} was acknowledged but is not stored: {status:?}"),
            (Err(_), Ok(stored)) => assert!(
                is_whole(&stored, &attempt.request),
                "{name} is half-written: {stored:?}"
            ),
            (Err(_), Err(status)) => assert_eq!(status.code(), Code::NotFound, "{name}: {status:?}"),
        }
    }
    let department_of = |attempt: &Attempt| attempt.key.department.clone();
    let mut tokens = BTreeMap::new();
    for attempt in attempts.iter().filter(|a| a.answer.is_err()) {
        let department = department_of(attempt);
        if !tokens.contains_key(&department) {
            let token = suite.issue_token(dpb::Role::Department, &department).await;
            tokens.insert(department.clone(), token);
        }
        let retried = suite
            .reporting(&tokens[&department])
            .submit_report(attempt.request.clone())
            .await
            .unwrap_or_else(|status| panic!("the retry of {} fails: {status:?}", attempt.key.name()))
            .into_inner();
        let stored = admin
            .get_report(rpb::GetReportRequest {
                name: attempt.key.name(),
            })
            .await
            .expect("a retried report is stored")
            .into_inner();
        assert_eq!(stored, retried);
        assert!(is_whole(&stored, &attempt.request));
    }
    suite.stop().await;
}

// ---------------------------------------------------------------------------------------
// A service killed under load
// ---------------------------------------------------------------------------------------

/// One GetOverview of the load: when it started, how long it took, and its
/// `unreachable` (or the error).
struct Overviewed {
    started: Instant,
    took: Duration,
    answer: Result<Vec<String>, tonic::Status>,
}

/// Asks for the overview again and again until `stop`.
async fn load_overviews(mut dashboard: DashboardClient, stop: Arc<AtomicBool>) -> Vec<Overviewed> {
    let mut seen = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        let started = Instant::now();
        let answer = dashboard
            .get_overview(gpb::GetOverviewRequest {
                plan: PLAN.into(),
                as_of: None,
            })
            .await
            .map(|response| response.into_inner().overview.unwrap_or_default().unreachable);
        seen.push(Overviewed {
            started,
            took: started.elapsed(),
            answer,
        });
    }
    seen
}

/// Reporting is killed (connections cut mid-call, no drain) while eight callers ask the
/// gateway for overviews; then it is started again.
async fn a_killed_service_is_named_and_recovers_under_load(backend: Backend) {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some(mut suite) = Suite::builder(backend).all().start().await else {
        return;
    };
    let stop = Arc::new(AtomicBool::new(false));
    let load: Vec<_> = (0..8)
        .map(|_| tokio::spawn(load_overviews(suite.dashboard(Caller::Admin), stop.clone())))
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let killed = Instant::now();
    suite.kill(Server::Reporting).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let restarted = Instant::now();
    suite.restart(Server::Reporting).await;
    // Load until the overview is whole again, and a while after.
    let mut dashboard = suite.dashboard(Caller::Admin);
    let recovered = loop {
        let overview = dashboard
            .get_overview(gpb::GetOverviewRequest {
                plan: PLAN.into(),
                as_of: None,
            })
            .await
            .expect("the overview is served")
            .into_inner()
            .overview
            .unwrap_or_default();
        if overview.unreachable.is_empty() {
            break Instant::now();
        }
        assert!(
            restarted.elapsed() < Duration::from_secs(15),
            "the overview still names {:?} 15 s after the restart",
            overview.unreachable
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::SeqCst);
    let mut seen = Vec::new();
    for caller in load {
        seen.extend(caller.await.expect("a caller panicked"));
    }

    // Both services of the reporting server go missing from the overview with it: the
    // reports and the follow-up summary.
    let reporting = [
        notices_service_server::SERVICE_NAME.to_owned(),
        reporting_service_server::SERVICE_NAME.to_owned(),
    ];
    let during: Vec<&Overviewed> = seen
        .iter()
        .filter(|o| o.started >= killed && o.started + o.took < restarted)
        .collect();
    assert!(
        during.len() >= 8,
        "only {} overviews while reporting was down",
        during.len()
    );
    for overviewed in &seen {
        let unreachable = overviewed
            .answer
            .as_ref()
            .unwrap_or_else(|status| panic!("an overview was not served: {status:?}"));
        let answered = overviewed.started + overviewed.took;
        if overviewed.started >= killed && answered < restarted {
            assert_eq!(unreachable, &reporting, "while reporting was down");
            assert!(
                overviewed.took < Duration::from_secs(3),
                "an overview without reporting took {:?}",
                overviewed.took
            );
        } else if overviewed.started > recovered {
            assert!(unreachable.is_empty(), "after recovery: {unreachable:?}");
        } else {
            // At the edges one call of the two may have met the server down, the other not.
            assert!(unreachable.iter().all(|s| reporting.contains(s)), "{unreachable:?}");
        }
    }
    assert!(
        seen.iter().any(|o| o.started > recovered),
        "no overview under load after recovery"
    );
    suite.stop().await;
}
duban_kit::backend_tests!(a_killed_service_is_named_and_recovers_under_load);

// ---------------------------------------------------------------------------------------
// Deadlines
// ---------------------------------------------------------------------------------------

/// A call the fake downstream received: when, with which `grpc-timeout`, and when the
/// caller gave it up (its handler was dropped).
#[derive(Debug, Clone)]
struct Received {
    path: String,
    arrived: Instant,
    grpc_timeout: Option<Duration>,
    dropped: Arc<Mutex<Option<Instant>>>,
}

/// Notes when the handler holding it is dropped: when the caller cancelled the call.
struct NoteDrop(Arc<Mutex<Option<Instant>>>);

impl Drop for NoteDrop {
    fn drop(&mut self) {
        *self.0.lock().unwrap() = Some(Instant::now());
    }
}

/// A gRPC server (HTTP/2 without TLS) that records every call and answers none of them
/// for 30 s: a downstream that hangs. Plain hyper, so that nothing but the caller ends
/// a call (tonic's own server would cut it at its `grpc-timeout`).
async fn slow_downstream() -> (SocketAddr, Arc<Mutex<Vec<Received>>>) {
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let received = Arc::new(Mutex::new(Vec::new()));
    let record = received.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let record = record.clone();
            let service = hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                let dropped = Arc::new(Mutex::new(None));
                record.lock().unwrap().push(Received {
                    path: request.uri().path().to_owned(),
                    arrived: Instant::now(),
                    grpc_timeout: request
                        .headers()
                        .get("grpc-timeout")
                        .and_then(|value| value.to_str().ok())
                        .and_then(parse_grpc_timeout),
                    dropped: dropped.clone(),
                });
                async move {
                    let _note = NoteDrop(dropped);
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    let response = hyper::Response::builder()
                        .header("content-type", "application/grpc")
                        .header("grpc-status", "14")
                        .body(http_body_util::Empty::<hyper::body::Bytes>::new())
                        .unwrap();
                    Ok::<_, Infallible>(response)
                }
            });
            tokio::spawn(
                hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service),
            );
        }
    });
    (addr, received)
}

/// `grpc-timeout`'s value: at most 8 digits and a unit.
fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    let amount: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount * 3600),
        "M" => Duration::from_secs(amount * 60),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}

/// GetOverview over a bare HTTP/2 connection with `grpc-timeout: <timeout>` and no timer
/// of the caller's own (a tonic client would give up at the same instant, answering
/// itself CANCELLED): the `grpc-status` the gateway answered, how long it took, and when
/// the call started, and the overview if it answered one.
async fn overview_without_a_timer_of_its_own(
    gateway: SocketAddr,
    token: &str,
    timeout: Duration,
) -> (Option<String>, Option<gpb::Overview>, Duration, Instant) {
    use http_body_util::BodyExt;
    let stream = tokio::net::TcpStream::connect(gateway).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .unwrap();
    tokio::spawn(connection);
    let message = prost::Message::encode_to_vec(&gpb::GetOverviewRequest {
        plan: PLAN.into(),
        as_of: None,
    });
    // A gRPC message: uncompressed, its length, the message.
    let mut framed = vec![0];
    framed.extend((message.len() as u32).to_be_bytes());
    framed.extend(message);
    let request = hyper::Request::post(format!(
        "http://{gateway}/duban.gateway.v1.DashboardService/GetOverview"
    ))
    .header("content-type", "application/grpc")
    .header("te", "trailers")
    .header("authorization", format!("Bearer {token}"))
    .header("grpc-timeout", format!("{}m", timeout.as_millis()))
    .body(http_body_util::Full::new(hyper::body::Bytes::from(framed)))
    .unwrap();
    let started = Instant::now();
    let response = sender.send_request(request).await.expect("the gateway answers");
    let in_headers = response.headers().get("grpc-status").cloned();
    let body = response.into_body().collect().await.expect("the answer ends");
    let took = started.elapsed();
    let status = in_headers
        .or_else(|| {
            body.trailers()
                .and_then(|trailers| trailers.get("grpc-status").cloned())
        })
        .map(|value| value.to_str().unwrap().to_owned());
    let data = body.to_bytes();
    let overview = (data.len() > 5)
        .then(|| <gpb::GetOverviewResponse as prost::Message>::decode(&data[5..]).expect("an overview"))
        .and_then(|response| response.overview);
    (status, overview, took, started)
}

/// The gateway, whose reporting server hangs, is asked for an overview with an 800 ms
/// deadline.
async fn a_slow_downstream_call_never_outlives_its_callers_deadline(backend: Backend) {
    const DEADLINE: Duration = Duration::from_millis(800);
    /// Time for a hop on loopback and for a timer to fire.
    const SLACK: Duration = Duration::from_millis(150);
    let _one = ONE_AT_A_TIME.lock().await;
    let Some(suite) = Suite::builder(backend).with(Server::Measures).start().await else {
        return;
    };
    let (downstream, received) = slow_downstream().await;
    let mut settings = suite.settings().clone();
    settings.reporting.endpoint = testing::endpoint(downstream);
    let any_port = SocketAddr::from(([127, 0, 0, 1], 0));
    (settings.gateway.listen, settings.gateway.metrics_listen) = (any_port, any_port);
    let gateway = duban_gateway::start(&settings).await.expect("the gateway starts");
    testing::until_serving_with(
        &settings.client,
        gateway.local_addr(),
        duban_gateway::SERVICE_NAME,
        Duration::from_secs(30),
    )
    .await
    .expect("the gateway is SERVING");
    let (status, overview, took, started) =
        overview_without_a_timer_of_its_own(gateway.local_addr(), suite.admin_token(), DEADLINE).await;
    let deadline = started + DEADLINE;
    // The gateway's own deadline and its calls' to reporting end at the same instant:
    // whichever timer fires first, the caller gets DEADLINE_EXCEEDED, or an overview
    // that names reporting unreachable, in time.
    match status.as_deref() {
        Some("4") => {}
        Some("0") => assert_eq!(
            overview.map(|o| o.unreachable),
            Some(vec![
                notices_service_server::SERVICE_NAME.to_owned(),
                reporting_service_server::SERVICE_NAME.to_owned()
            ])
        ),
        other => panic!("the gateway answered grpc-status {other:?}"),
    }
    assert!(
        took < DEADLINE + SLACK,
        "the caller waited {took:?}, not its {DEADLINE:?}"
    );

    // Give a call the caller had not cancelled the time to show it.
    tokio::time::sleep(SLACK * 2).await;
    let received = received.lock().unwrap().clone();
    assert!(!received.is_empty(), "the gateway did not call reporting");
    for call in &received {
        let grpc_timeout = call
            .grpc_timeout
            .unwrap_or_else(|| panic!("{} came without a grpc-timeout", call.path));
        assert!(grpc_timeout <= DEADLINE, "{}: {grpc_timeout:?}", call.path);
        assert!(
            call.arrived + grpc_timeout <= deadline + SLACK,
            "{}: the downstream was given {grpc_timeout:?} at {:?}, past the caller's deadline",
            call.path,
            call.arrived - started
        );
        let dropped = call.dropped.lock().unwrap().unwrap_or_else(|| {
            panic!(
                "{} was still running {:?} after the caller's deadline",
                call.path,
                SLACK * 2
            )
        });
        assert!(
            dropped <= deadline + SLACK,
            "{} was cancelled {:?} after the caller's deadline",
            call.path,
            dropped - deadline
        );
    }
    eprintln!(
        "{} downstream calls; grpc-timeouts {:?}",
        received.len(),
        received.iter().map(|c| c.grpc_timeout).collect::<Vec<_>>()
    );
    gateway.shutdown().await;
    suite.stop().await;
}
duban_kit::backend_tests!(a_slow_downstream_call_never_outlives_its_callers_deadline);

// ---------------------------------------------------------------------------------------
// Overload
// ---------------------------------------------------------------------------------------

/// This process's resident memory now, in KiB (Linux; `None` elsewhere).
fn resident_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
}

/// From the departments server's `/metrics`: how many GetCallerIdentity calls it
/// answered RESOURCE_EXHAUSTED within `bound` (a bucket bound of its latency
/// histogram: 1, 2, 4 … ms), and in all.
async fn shed_within(suite: &Suite, bound: Duration) -> (u64, u64) {
    use http_body_util::BodyExt;
    let addr = suite.metrics_addr(Server::Departments);
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    let request = hyper::Request::get(format!("http://{addr}/metrics"))
        .header("host", addr.to_string())
        .body(http_body_util::Empty::<hyper::body::Bytes>::new())
        .unwrap();
    let body = sender
        .send_request(request)
        .await
        .unwrap()
        .into_body()
        .collect()
        .await
        .unwrap();
    let text = String::from_utf8(body.to_bytes().to_vec()).unwrap();
    let le = format!("le=\"{}\"", bound.as_secs_f64());
    let bucket = |le: &str| -> u64 {
        text.lines()
            .filter(|line| {
                line.starts_with("duban_rpc_duration_seconds_bucket{")
                    && line.contains("GetCallerIdentity")
                    && line.contains("RESOURCE_EXHAUSTED")
                    && line.contains(le)
            })
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .map(|count| count as u64)
            .sum()
    };
    (bucket(&le), bucket("le=\"+Inf\""))
}

/// 5,000 calls from 50 callers sharing one connection, against a departments server
/// that serves four at once.
async fn overload_is_shed_at_once_and_memory_stays_bounded(backend: Backend) {
    const TASKS: usize = 50;
    const CALLS_PER_TASK: usize = 100;
    let _one = ONE_AT_A_TIME.lock().await;
    let Some(suite) = Suite::builder(backend)
        .with(Server::Departments)
        .configure(|settings| settings.server.max_concurrent_requests = 4)
        .start()
        .await
    else {
        return;
    };
    let before = resident_kib();
    let peak = Arc::new(AtomicUsize::new(0));
    let flooding = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (peak, flooding) = (peak.clone(), flooding.clone());
        tokio::spawn(async move {
            while flooding.load(Ordering::SeqCst) {
                if let Some(now) = resident_kib() {
                    peak.fetch_max(now as usize, Ordering::SeqCst);
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };
    let started = Instant::now();
    // One connection for every caller, so that it carries thousands of shed calls: h2
    // charges small request DATA frames to a per-connection budget (GOAWAY
    // ENHANCE_YOUR_CALM, "too_many_data_frames", when it runs out), and a shed call's
    // body is never read. The connection must outlive the flood.
    let connection = suite.departments(Caller::Admin);
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let mut client = connection.clone();
            tokio::spawn(async move {
                let mut answers = Vec::with_capacity(CALLS_PER_TASK);
                for _ in 0..CALLS_PER_TASK {
                    let call = Instant::now();
                    let answer = client
                        .get_caller_identity(dpb::GetCallerIdentityRequest::default())
                        .await;
                    answers.push((call.elapsed(), answer.err()));
                }
                answers
            })
        })
        .collect();
    let mut served = 0;
    let mut shed = Vec::new();
    for task in tasks {
        for (took, error) in task.await.expect("a caller panicked") {
            match error {
                None => served += 1,
                Some(status) => {
                    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
                    assert_eq!(reason(&status).as_deref(), Some("SERVER_OVERLOADED"), "{status:?}");
                    shed.push(took);
                }
            }
        }
    }
    let flood = started.elapsed();
    flooding.store(false, Ordering::SeqCst);
    sampler.await.unwrap();
    shed.sort();
    let percentile = |p: usize| shed[(shed.len() * p / 100).min(shed.len() - 1)];
    eprintln!(
        "{served} served, {} shed in {flood:?}; shed answers: median {:?}, p99 {:?}, max {:?}; resident {before:?} KiB before, peak {} KiB",
        shed.len(),
        percentile(50),
        percentile(99),
        shed.last().unwrap(),
        peak.load(Ordering::SeqCst)
    );
    assert_eq!(served + shed.len(), TASKS * CALLS_PER_TASK);
    assert!(served > 0, "nothing was served");
    assert!(shed.len() > TASKS, "only {} calls were shed", shed.len());
    // The server sheds within a millisecond or so; what a caller measures adds this
    // process's 50 callers and the server sharing a few cores (Little's law: 50 calls
    // in flight at ~1,000 calls/s is ~50 ms each), so its bounds are looser.
    let (fast, all) = shed_within(&suite, Duration::from_millis(4)).await;
    assert!(all > 0, "no shed call in the server's metrics");
    assert!(
        fast as f64 >= 0.99 * all as f64,
        "the server shed only {fast} of {all} calls within 4 ms"
    );
    assert!(
        percentile(50) < Duration::from_millis(250),
        "median {:?}",
        percentile(50)
    );
    assert!(percentile(99) < Duration::from_secs(2), "p99 {:?}", percentile(99));
    if let Some(before) = before {
        let grown = (peak.load(Ordering::SeqCst) as u64).saturating_sub(before);
        assert!(grown < 512 * 1024, "the process grew by {grown} KiB during the flood");
    }
    // The server is still itself.
    let identity = suite
        .departments(Caller::Admin)
        .get_caller_identity(dpb::GetCallerIdentityRequest::default())
        .await
        .expect("a normal call after the flood is served");
    assert_eq!(
        identity.into_inner().principal.map(|principal| principal.role()),
        Some(dpb::Role::Admin)
    );
    suite.stop().await;
}
/// On PostgreSQL only (the run's time is counted): the departments server sheds before
/// any database is asked, so the backend makes no difference here.
#[tokio::test]
async fn overload_is_shed_at_once_and_memory_stays_bounded_on_postgres() {
    overload_is_shed_at_once_and_memory_stays_bounded(Backend::Postgres).await;
}

// ---------------------------------------------------------------------------------------
// Shutdown
// ---------------------------------------------------------------------------------------

/// Reporting and the gateway shut down with watch streams open, within the grace.
async fn shutdown_with_open_streams_completes_within_the_grace(backend: Backend) {
    const GRACE: Duration = Duration::from_millis(3_000);
    let _one = ONE_AT_A_TIME.lock().await;
    let Some(mut suite) = Suite::builder(backend)
        .all()
        .configure(|settings| settings.server.shutdown_grace_ms = GRACE.as_millis() as u64)
        .start()
        .await
    else {
        return;
    };
    let mut events = Vec::new();
    for _ in 0..4 {
        events.push(
            suite
                .reporting(Caller::Admin)
                .watch_report_events(rpb::WatchReportEventsRequest {
                    parent: PLAN.into(),
                    ..Default::default()
                })
                .await
                .expect("WatchReportEvents opens")
                .into_inner(),
        );
    }
    let mut overviews = Vec::new();
    for _ in 0..4 {
        let mut stream = suite
            .dashboard(Caller::Admin)
            .watch_overview(gpb::WatchOverviewRequest {
                plan: PLAN.into(),
                as_of: None,
            })
            .await
            .expect("WatchOverview opens")
            .into_inner();
        stream
            .next()
            .await
            .expect("a first overview")
            .expect("a first overview");
        overviews.push(stream);
    }

    // The gateway first (its streams read reporting), then reporting.
    for server in [Server::Gateway, Server::Reporting] {
        let started = Instant::now();
        suite.take(server).shutdown().await;
        let took = started.elapsed();
        assert!(
            took < GRACE,
            "{server} took {took:?} to shut down with open streams (grace {GRACE:?})"
        );
    }
    // Every stream has ended, none is left hanging.
    let ends = async {
        for mut stream in overviews {
            while let Some(Ok(_)) = stream.next().await {}
        }
        for mut stream in events {
            while let Some(Ok(_)) = stream.next().await {}
        }
    };
    tokio::time::timeout(Duration::from_secs(2), ends)
        .await
        .expect("the streams end when their server shuts down");
    suite.stop().await;
}
duban_kit::backend_tests!(shutdown_with_open_streams_completes_within_the_grace);
