//! `--rpcs`: each public call's throughput as a ratio to the health Check baseline, and
//! SubmitReport's latency at several loads (issue 15, first step).
//!
//! Starts the whole suite (the gateway too) on one backend, stores a first revision of
//! [`SEED_REPORTS`] report keys, then measures, each case in `--rounds` rounds of
//! `--round-seconds` that alternate the baseline and the measured call (A B A B ..):
//!
//! - the baseline: `grpc.health.v1.Health/Check` on the reporting server, with the same
//!   workers (`--clients` of them, or the in-flight level) over the same number of HTTP/2
//!   connections as the measured call (for a direct call, the very same connections);
//! - GetReport (one stored report, as ADMIN), ListReports (one page of
//!   [`LIST_PAGE`]), SubmitReport and SubmitReports ([`STREAM_ITEMS`] items a stream),
//!   each directly on the reporting server and through the gateway, which forwards
//!   ReportingService by path;
//! - SubmitReport directly at every `--in-flight` level;
//! - the write cost of live aggregates: SubmitReport directly at `--clients` in flight
//!   again, on a second, fresh suite whose reporting server skips the progress
//!   aggregates (`duban_reporting::Options::aggregates`, a benchmark-only option).
//!
//! The servers run with production's request timeout (30 s), not the tests' shorter one.
//! Every worker runs one call at a time until its round's time is up; a round ends when
//! its last call has answered, and its throughput is the OK calls over that whole time.
//! Each table gives the medians of the rounds (for `max`, the largest of all rounds) and
//! every throughput also as a ratio to its baseline's median. Every submission is a new
//! revision with its own `request_id` (the workload of `main.rs`: keys in turn over all
//! measures, departments and months, a value in every owed target's unit).
//!
//! Afterwards the stored revisions are counted through the API (the sum of every report's
//! latest `revision` over all ListReports pages, before and after), and the run fails
//! unless the new revisions equal the OK answers (SubmitReport OKs and SubmitReports
//! items stored), or if any call failed. The tables are printed first.
//!
//! The cases run against [`Endpoints`] (addresses and the administrator's token) in a
//! [`Session`], so that `--servers` (`servers.rs`) runs the same cases against servers
//! that are processes of their own.
//!
//! `--smoke` shrinks it to a few seconds for CI (2 rounds of 50 ms, 4 workers over 2
//! connections, in-flight levels kept): it asserts no timing, only that every step works
//! and the OK == stored check holds.

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use duban_harness::{PLAN, Server, Suite};
use duban_kit::{
    client::ServiceChannel,
    settings::{ClientSettings, ServerLimits},
    testing::{self, Backend},
};
use duban_proto::reporting::v1::{self as pb, reporting_service_client::ReportingServiceClient};
use duban_reporting::store::Aggregates;
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient};

use super::{Args, Client, Percentiles, STARTUP, Workload, workload};
use crate::cpu::{Spent, Watched};

/// Report keys given a first revision before measuring: GetReport reads the first one
/// and ListReports has full pages.
const SEED_REPORTS: usize = 200;
/// ListReports page size (the service's default).
const LIST_PAGE: i32 = 50;
/// Items per measured SubmitReports stream.
const STREAM_ITEMS: usize = 100;
/// ListReports page size when counting stored revisions (the service's largest).
const COUNT_PAGE: i32 = 500;
/// Head-room above the highest concurrency for `server.max_concurrent_requests`, so
/// that the benchmark measures calls, not load shedding (the default limit is 256, the
/// highest default in-flight level, and a call's permit is freed only after its answer
/// has left).
const LIMIT_HEADROOM: usize = 64;

/// What one round runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Call {
    Health,
    GetReport,
    ListReports,
    SubmitReport,
    SubmitReports,
}

impl Call {
    fn label(self) -> &'static str {
        match self {
            Call::Health => "Health/Check",
            Call::GetReport => "GetReport",
            Call::ListReports => "ListReports",
            Call::SubmitReport => "SubmitReport",
            Call::SubmitReports => "SubmitReports",
        }
    }
}

/// Where a measured call goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Via {
    Direct,
    Gateway,
}

impl Via {
    fn label(self) -> &'static str {
        match self {
            Via::Direct => "direct",
            Via::Gateway => "gateway",
        }
    }
}

/// The settings of this mode, after `--smoke` has shrunk them.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    rounds: usize,
    round: Duration,
    pub(crate) clients: usize,
    connections: usize,
    in_flight: Vec<usize>,
}

impl Plan {
    /// The settings `args` ask for, or why they cannot be run.
    pub(crate) fn of(args: &Args) -> anyhow::Result<Plan> {
        // Checked before any conversion: Duration::from_secs_f64 panics on a negative
        // or non-finite number.
        if !(args.round_seconds.is_finite() && args.round_seconds > 0.0 && args.round_seconds <= 3600.0) {
            bail!("--round-seconds must be above 0 and at most 3600");
        }
        let plan = if args.smoke {
            Plan {
                rounds: 2,
                round: Duration::from_millis(50),
                clients: args.clients.min(4),
                connections: args.connections.min(2),
                in_flight: args.in_flight.clone(),
            }
        } else {
            Plan {
                rounds: args.rounds,
                round: Duration::from_secs_f64(args.round_seconds),
                clients: args.clients,
                connections: args.connections,
                in_flight: args.in_flight.clone(),
            }
        };
        if plan.rounds == 0 {
            bail!("--rounds must be at least 1");
        }
        if plan.in_flight.is_empty() || plan.in_flight.contains(&0) {
            bail!("--in-flight needs levels of at least 1");
        }
        Ok(plan)
    }

    fn most_in_flight(&self) -> usize {
        self.in_flight.iter().copied().chain([self.clients]).max().unwrap_or(1)
    }

    /// The highest `--in-flight` level.
    pub(crate) fn highest_level(&self) -> usize {
        self.in_flight.iter().copied().max().unwrap_or(1)
    }

    /// `server.max_concurrent_requests` for the servers measured: the most calls in
    /// flight plus [`LIMIT_HEADROOM`].
    pub(crate) fn concurrency_limit(&self) -> usize {
        self.most_in_flight() + LIMIT_HEADROOM
    }

    /// The line that says how the cases are run.
    pub(crate) fn describe(&self) -> String {
        format!(
            "{} rounds of {:.2} s per case, baseline and measured alternating; medians of the rounds (max: the largest of all rounds); ÷ baseline: calls/s over the baseline's median calls/s in the same case",
            self.rounds,
            self.round.as_secs_f64()
        )
    }
}

/// Where the measured calls go, and as whom: the reporting server and the gateway, how
/// to reach them, and the administrator's token. Built from a [`Suite`] in this process,
/// or from servers that run as processes of their own (`--servers`).
#[derive(Debug, Clone)]
pub(crate) struct Endpoints {
    pub(crate) reporting: SocketAddr,
    pub(crate) gateway: SocketAddr,
    pub(crate) client: ClientSettings,
    pub(crate) admin_token: String,
    /// Processes whose CPU time each measured round reads (`--servers`: every server
    /// and this one); none in `--rpcs`, where everything is one process.
    pub(crate) watched: Watched,
}

impl Endpoints {
    /// The reporting server and the gateway of `suite`, as its administrator.
    pub(crate) fn of(suite: &Suite) -> Endpoints {
        Endpoints {
            reporting: suite.addr(Server::Reporting),
            gateway: suite.addr(Server::Gateway),
            client: suite.settings().client.clone(),
            admin_token: suite.admin_token().to_owned(),
            watched: Watched::default(),
        }
    }

    /// A new channel (its own HTTP/2 connection) to `addr`, as the administrator.
    fn channel(&self, addr: SocketAddr) -> ServiceChannel {
        testing::channel_with(&self.client, addr, Some(&self.admin_token))
    }

    fn reporting_client(&self) -> Client {
        ReportingServiceClient::new(self.channel(self.reporting))
    }
}

/// What every worker shares: the workload, the next submission number, and the count
/// of revisions the server said it stored.
struct Shared {
    work: Arc<Workload>,
    next: AtomicUsize,
    stored_ok: AtomicUsize,
    report: String,
}

/// One worker's clients: health on the reporting server, ReportingService direct or
/// through the gateway.
#[derive(Clone)]
struct Lane {
    health: HealthClient<ServiceChannel>,
    reporting: Client,
}

/// One round's outcome.
#[derive(Debug, Default)]
struct Round {
    calls: usize,
    items: usize,
    latencies_us: Vec<u64>,
    errors: BTreeMap<String, usize>,
    first_error: Option<String>,
    elapsed: Duration,
}

impl Round {
    fn per_second(&self, n: usize) -> f64 {
        n as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }

    fn fail(&mut self, code: String, message: String) {
        *self.errors.entry(code).or_default() += 1;
        self.first_error.get_or_insert(message);
    }
}

/// The medians of a case's rounds, measured and baseline.
#[derive(Debug)]
pub(crate) struct Summary {
    call: Call,
    via: Via,
    workers: usize,
    connections: usize,
    baseline: f64,
    calls: f64,
    items: f64,
    latency: Percentiles,
    errors: BTreeMap<String, usize>,
    first_error: Option<String>,
    /// The CPU time each watched process spent over the measured rounds.
    cpu: Spent,
    /// The OK calls and the wall time of the measured rounds, all of them.
    measured_calls: usize,
    measured_time: Duration,
}

impl Summary {
    fn ratio(&self) -> f64 {
        self.calls / self.baseline.max(f64::EPSILON)
    }

    fn error_count(&self) -> usize {
        self.errors.values().sum()
    }

    /// The cells the single-call tables share: baseline calls/s, calls/s, ÷ baseline,
    /// p50, p99 and max (ms), errors.
    fn measured_cells(&self) -> String {
        format!(
            "{:.0} | {:.0} | {:.3} | {:.2} | {:.2} | {:.2} | {}",
            self.baseline,
            self.calls,
            self.ratio(),
            self.latency.p50,
            self.latency.p99,
            self.latency.max,
            self.error_count(),
        )
    }
}

pub(crate) async fn bench(backend: Backend, args: &Args) -> anyhow::Result<()> {
    let plan = Plan::of(args)?;
    println!("## {backend}: RPCs against the health Check baseline\n");
    let began = Instant::now();
    let suite = start_suite(backend, &plan, Aggregates::Maintained).await?;
    let endpoints = Endpoints::of(&suite);
    let session = Session::start(&endpoints, &plan, workload(&suite).await?).await?;
    println!(
        "suite (with the gateway) up, plan loaded and {SEED_REPORTS} reports stored in {:.1} s; {} report keys; server.max_concurrent_requests {}; production request timeout ({} ms)\n",
        began.elapsed().as_secs_f64(),
        session.keys(),
        plan.concurrency_limit(),
        ServerLimits::default().request_timeout_ms,
    );
    println!("{}\n", plan.describe());

    let mut calls = Vec::new();
    for via in [Via::Direct, Via::Gateway] {
        for call in [
            Call::GetReport,
            Call::ListReports,
            Call::SubmitReport,
            Call::SubmitReports,
        ] {
            calls.push(session.case(call, via, plan.clients).await?);
        }
    }
    let mut sweep = Vec::new();
    for &level in &plan.in_flight {
        sweep.push(session.case(Call::SubmitReport, Via::Direct, level).await?);
    }
    let tally = session.finish().await?;
    suite.stop().await;

    // The write cost of live aggregates: the same SubmitReport case on a fresh suite
    // whose reporting server skips aggregate maintenance.
    let bare_suite = start_suite(backend, &plan, Aggregates::SkippedForBenchmark).await?;
    let bare_endpoints = Endpoints::of(&bare_suite);
    let bare = Session::start(&bare_endpoints, &plan, workload(&bare_suite).await?).await?;
    let without = bare.case(Call::SubmitReport, Via::Direct, plan.clients).await?;
    let bare_tally = bare.finish().await?;
    bare_suite.stop().await;

    print_calls(&calls);
    print_sweep(&sweep);
    let with = calls
        .iter()
        .find(|s| s.call == Call::SubmitReport && s.via == Via::Direct)
        .context("no direct SubmitReport case")?;
    print_aggregates(with, &without);
    tally.print();
    let (hwm, rss) = super::memory();
    println!("peak RSS of this process (all five servers and the clients; VmHWM): {hwm}; now (VmRSS): {rss}\n");
    check(calls.iter().chain(&sweep), &tally)?;
    println!("Without aggregates:");
    bare_tally.print();
    check([&without], &bare_tally)
}

/// The whole suite on `backend`, with production's request timeout (not the tests'
/// shorter one), a concurrency limit above the highest load, and the reporting server
/// keeping the progress aggregates or not.
async fn start_suite(backend: Backend, plan: &Plan, aggregates: Aggregates) -> anyhow::Result<Suite> {
    let limit = plan.concurrency_limit();
    Suite::builder(backend)
        .all()
        .configure(move |settings| {
            settings.server.max_concurrent_requests = settings.server.max_concurrent_requests.max(limit);
            settings.server.request_timeout_ms = ServerLimits::default().request_timeout_ms;
        })
        .reporting_options(duban_reporting::Options {
            aggregates,
            ..Default::default()
        })
        .startup_timeout(STARTUP)
        .try_start()
        .await
        .context("the suite did not start")
}

/// A measured run against [`Endpoints`]: the workload every case shares, and the
/// revisions stored before it, for the OK == stored check at its end.
pub(crate) struct Session<'a> {
    endpoints: &'a Endpoints,
    plan: &'a Plan,
    shared: Arc<Shared>,
    counter: Client,
    before: usize,
}

impl<'a> Session<'a> {
    /// Counts the stored revisions, then stores a first revision of [`SEED_REPORTS`] keys
    /// of `work`, so that GetReport and ListReports have something to read.
    pub(crate) async fn start(endpoints: &'a Endpoints, plan: &'a Plan, work: Workload) -> anyhow::Result<Session<'a>> {
        let mut counter = endpoints.reporting_client();
        let before = stored_revisions(&mut counter).await?;
        let shared = Arc::new(Shared {
            report: work.keys[0].name(),
            work: Arc::new(work),
            next: AtomicUsize::new(0),
            stored_ok: AtomicUsize::new(0),
        });
        seed(endpoints, &shared).await?;
        Ok(Session {
            endpoints,
            plan,
            shared,
            counter,
            before,
        })
    }

    /// The number of report keys submissions go to in turn.
    pub(crate) fn keys(&self) -> usize {
        self.shared.work.keys.len()
    }

    /// Measures `call` via `via` at `workers` in flight (see [`case`]).
    /// Says on standard error when it starts, so that a profiler can be pointed at a case.
    pub(crate) async fn case(&self, call: Call, via: Via, workers: usize) -> anyhow::Result<Summary> {
        eprintln!(
            "[{}] {} {} at {workers} in flight: {} rounds",
            chrono::Utc::now().format("%H:%M:%S"),
            call.label(),
            via.label(),
            self.plan.rounds
        );
        case(self.endpoints, &self.shared, self.plan, call, via, workers).await
    }

    /// Counts the stored revisions again.
    pub(crate) async fn finish(mut self) -> anyhow::Result<Tally> {
        let after = stored_revisions(&mut self.counter).await?;
        Ok(Tally {
            before: self.before,
            after,
            stored_ok: self.shared.stored_ok.load(Ordering::SeqCst),
        })
    }
}

/// Stored revisions before and after a session, and the revisions the server said it
/// stored (SubmitReport OKs and SubmitReports items stored, the seed included).
#[derive(Debug)]
pub(crate) struct Tally {
    before: usize,
    after: usize,
    stored_ok: usize,
}

impl Tally {
    fn new_revisions(&self) -> usize {
        self.after.saturating_sub(self.before)
    }

    pub(crate) fn print(&self) {
        println!(
            "Stored revisions (sum of every report's latest revision, through ListReports): {} before, {} after, {} new; OK answers (SubmitReport OKs and SubmitReports items stored, the seed included): {}\n",
            self.before,
            self.after,
            self.new_revisions(),
            self.stored_ok
        );
    }
}

/// Fails if any call of `cases` failed, or unless the OK answers equal the new stored
/// revisions; says so when they do.
pub(crate) fn check<'s>(cases: impl IntoIterator<Item = &'s Summary>, tally: &Tally) -> anyhow::Result<()> {
    let failed: Vec<&Summary> = cases.into_iter().filter(|s| !s.errors.is_empty()).collect();
    if let Some(first) = failed.first() {
        bail!(
            "{} case(s) had failed calls; the first: {} {:?} at {} in flight: {:?}, {}",
            failed.len(),
            first.call.label(),
            first.via,
            first.workers,
            first.errors,
            first.first_error.as_deref().unwrap_or("")
        );
    }
    let (before, after, stored_ok, new) = (tally.before, tally.after, tally.stored_ok, tally.new_revisions());
    if new != stored_ok || after < before {
        bail!("the server answered OK for {stored_ok} revisions but {new} new ones are stored ({before} -> {after})");
    }
    println!("OK answers equal new stored revisions: {new}\n");
    Ok(())
}

/// Stores a first revision of the first [`SEED_REPORTS`] keys, in streams of
/// [`STREAM_ITEMS`].
async fn seed(endpoints: &Endpoints, shared: &Shared) -> anyhow::Result<()> {
    let mut client = endpoints.reporting_client();
    let count = SEED_REPORTS.min(shared.work.keys.len());
    let mut done = 0;
    while done < count {
        let items: Vec<_> = (done..count.min(done + STREAM_ITEMS))
            .map(|_| item(&shared.work, shared.next.fetch_add(1, Ordering::SeqCst)))
            .collect();
        let answer = client
            .submit_reports(futures::stream::iter(items.clone()))
            .await
            .context("seeding: SubmitReports failed")?
            .into_inner();
        shared
            .stored_ok
            .fetch_add(answer.succeeded_count as usize, Ordering::SeqCst);
        if answer.failed_count != 0 {
            bail!(
                "seeding: {} items were refused: {:?}",
                answer.failed_count,
                answer.results
            );
        }
        done += items.len();
    }
    Ok(())
}

/// Submission `n` as a SubmitReports item.
fn item(work: &Workload, n: usize) -> pb::SubmitReportsRequest {
    let submission = work.submission(n);
    pb::SubmitReportsRequest {
        parent: submission.parent,
        report: submission.report,
        request_id: submission.request_id,
        ..Default::default()
    }
}

/// Every report's latest revision number, summed over all pages of ListReports: the
/// revisions stored, since revisions of a key are numbered from 1 and never removed.
async fn stored_revisions(client: &mut Client) -> anyhow::Result<usize> {
    let mut total = 0usize;
    let mut page_token = String::new();
    loop {
        let page = client
            .list_reports(pb::ListReportsRequest {
                parent: PLAN.into(),
                page_size: COUNT_PAGE,
                page_token,
                ..Default::default()
            })
            .await
            .context("counting stored revisions: ListReports failed")?
            .into_inner();
        for report in &page.reports {
            total += usize::try_from(report.revision).context("a negative revision")?;
        }
        if page.next_page_token.is_empty() {
            return Ok(total);
        }
        page_token = page.next_page_token;
    }
}

/// `workers` lanes over `connections` fresh connections: health on the reporting server,
/// the reporting client on the same connections (direct) or on as many to the gateway.
fn lanes(endpoints: &Endpoints, via: Via, workers: usize, connections: usize) -> Vec<Lane> {
    let connections = connections.min(workers).max(1);
    let direct: Vec<ServiceChannel> = (0..connections)
        .map(|_| endpoints.channel(endpoints.reporting))
        .collect();
    let measured: Vec<ServiceChannel> = match via {
        Via::Direct => direct.clone(),
        Via::Gateway => (0..connections).map(|_| endpoints.channel(endpoints.gateway)).collect(),
    };
    (0..workers)
        .map(|i| Lane {
            health: HealthClient::new(direct[i % connections].clone()),
            reporting: ReportingServiceClient::new(measured[i % connections].clone()),
        })
        .collect()
}

/// Runs one case: a warm-up call on each connection (so none is opened in a round),
/// then `rounds`
/// baseline and measured rounds alternating.
async fn case(
    endpoints: &Endpoints,
    shared: &Arc<Shared>,
    plan: &Plan,
    call: Call,
    via: Via,
    workers: usize,
) -> anyhow::Result<Summary> {
    let connections = plan.connections.min(workers).max(1);
    let lanes = lanes(endpoints, via, workers, connections);
    for lane in lanes.iter().take(connections) {
        let mut lane = lane.clone();
        check_health(&mut lane.health).await.context("warm-up health Check")?;
        lane.reporting
            .get_report(pb::GetReportRequest {
                name: shared.report.clone(),
            })
            .await
            .with_context(|| format!("warm-up GetReport {via:?}"))?;
    }
    let mut baseline = Vec::with_capacity(plan.rounds);
    let mut measured = Vec::with_capacity(plan.rounds);
    let mut cpu = Spent::default();
    let watched = &endpoints.watched;
    for _ in 0..plan.rounds {
        baseline.push(round(Call::Health, &lanes, shared, plan.round).await);
        let before = watched.read()?;
        measured.push(round(call, &lanes, shared, plan.round).await);
        cpu.add(&before, &watched.read()?);
    }
    let median_of = |rounds: &[Round], f: &dyn Fn(&Round) -> f64| median(rounds.iter().map(f).collect());
    let percentiles: Vec<Percentiles> = measured.iter().map(|r| Percentiles::of(&r.latencies_us)).collect();
    let mut errors = BTreeMap::new();
    let mut first_error = None;
    for r in baseline.iter().chain(&measured) {
        for (code, n) in &r.errors {
            *errors.entry(code.clone()).or_insert(0) += n;
        }
        if first_error.is_none() {
            first_error.clone_from(&r.first_error);
        }
    }
    if measured.iter().all(|r| r.calls == 0) || baseline.iter().all(|r| r.calls == 0) {
        errors.entry("no call answered OK".to_owned()).or_insert(1);
    }
    Ok(Summary {
        call,
        via,
        workers,
        connections,
        baseline: median_of(&baseline, &|r| r.per_second(r.calls)),
        calls: median_of(&measured, &|r| r.per_second(r.calls)),
        items: median_of(&measured, &|r| r.per_second(r.items)),
        latency: Percentiles {
            p50: median(percentiles.iter().map(|p| p.p50).collect()),
            p99: median(percentiles.iter().map(|p| p.p99).collect()),
            max: percentiles.iter().map(|p| p.max).fold(0.0, f64::max),
        },
        errors,
        first_error,
        cpu,
        measured_calls: measured.iter().map(|r| r.calls).sum(),
        measured_time: measured.iter().map(|r| r.elapsed).sum(),
    })
}

async fn check_health(client: &mut HealthClient<ServiceChannel>) -> Result<(), tonic::Status> {
    let status = client
        .check(HealthCheckRequest { service: String::new() })
        .await?
        .into_inner()
        .status;
    if status == ServingStatus::Serving as i32 {
        Ok(())
    } else {
        Err(tonic::Status::unavailable(format!(
            "health status {status}, not SERVING"
        )))
    }
}

/// Every lane calls `call`, one at a time, until `length` is up; the round ends when
/// the last call has answered.
async fn round(call: Call, lanes: &[Lane], shared: &Arc<Shared>, length: Duration) -> Round {
    let began = Instant::now();
    let tasks: Vec<_> = lanes
        .iter()
        .cloned()
        .map(|mut lane| {
            let shared = shared.clone();
            tokio::spawn(async move {
                let mut out = Round::default();
                while began.elapsed() < length {
                    let sent = Instant::now();
                    match one_call(call, &mut lane, &shared).await {
                        Ok(items) => {
                            out.latencies_us.push(sent.elapsed().as_micros() as u64);
                            out.calls += 1;
                            out.items += items;
                        }
                        Err((code, message)) => out.fail(code, message),
                    }
                }
                out
            })
        })
        .collect();
    let mut total = Round::default();
    for task in tasks {
        let part = match task.await {
            Ok(part) => part,
            Err(error) => {
                total.fail("panic".into(), format!("a worker failed: {error}"));
                continue;
            }
        };
        total.calls += part.calls;
        total.items += part.items;
        total.latencies_us.extend(part.latencies_us);
        for (code, n) in part.errors {
            *total.errors.entry(code).or_default() += n;
        }
        if total.first_error.is_none() {
            total.first_error = part.first_error;
        }
    }
    total.elapsed = began.elapsed();
    total
}

/// One call; its items on success (1, or a stream's stored items), else its code and
/// message. Stored revisions are counted in `shared` as the server reports them.
async fn one_call(call: Call, lane: &mut Lane, shared: &Shared) -> Result<usize, (String, String)> {
    let failed = |status: tonic::Status| (format!("{:?}", status.code()), format!("{call:?}: {status:?}"));
    match call {
        Call::Health => check_health(&mut lane.health).await.map(|()| 1).map_err(failed),
        Call::GetReport => {
            let report = lane
                .reporting
                .get_report(pb::GetReportRequest {
                    name: shared.report.clone(),
                })
                .await
                .map_err(failed)?
                .into_inner();
            if report.revision < 1 {
                return Err((
                    "bad answer".into(),
                    format!("GetReport answered revision {}", report.revision),
                ));
            }
            Ok(1)
        }
        Call::ListReports => {
            let page = lane
                .reporting
                .list_reports(pb::ListReportsRequest {
                    parent: PLAN.into(),
                    page_size: LIST_PAGE,
                    ..Default::default()
                })
                .await
                .map_err(failed)?
                .into_inner();
            if page.reports.len() != LIST_PAGE as usize {
                return Err((
                    "bad answer".into(),
                    format!("ListReports answered {} reports, not a full page", page.reports.len()),
                ));
            }
            Ok(1)
        }
        Call::SubmitReport => {
            let request = shared.work.submission(shared.next.fetch_add(1, Ordering::SeqCst));
            lane.reporting.submit_report(request).await.map_err(failed)?;
            shared.stored_ok.fetch_add(1, Ordering::SeqCst);
            Ok(1)
        }
        Call::SubmitReports => {
            let items: Vec<_> = (0..STREAM_ITEMS)
                .map(|_| item(&shared.work, shared.next.fetch_add(1, Ordering::SeqCst)))
                .collect();
            let answer = lane
                .reporting
                .submit_reports(futures::stream::iter(items))
                .await
                .map_err(failed)?
                .into_inner();
            shared
                .stored_ok
                .fetch_add(answer.succeeded_count as usize, Ordering::SeqCst);
            if answer.failed_count != 0 {
                let first = answer.results.iter().find_map(|r| match &r.outcome {
                    Some(pb::submit_reports_result::Outcome::Error(error)) => Some(error.message.clone()),
                    _ => None,
                });
                return Err((
                    "item refused".into(),
                    format!(
                        "SubmitReports: {} of {STREAM_ITEMS} items refused; the first: {}",
                        answer.failed_count,
                        first.unwrap_or_default()
                    ),
                ));
            }
            Ok(answer.succeeded_count as usize)
        }
    }
}

/// The median of `values` (0 for none).
pub(crate) fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

fn print_calls(calls: &[Summary]) {
    let Some(first) = calls.first() else {
        return;
    };
    println!(
        "Calls at {} in flight over {} HTTP/2 connections, as ADMIN (SubmitReports: {STREAM_ITEMS} items a stream, a call is a stream; ListReports: one page of {LIST_PAGE}):\n",
        first.workers, first.connections
    );
    println!(
        "| call | via | Health/Check calls/s (baseline) | calls/s | ÷ baseline | items/s | p50 ms | p99 ms | max ms | gateway ÷ direct | errors |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for s in calls {
        let versus_direct = match s.via {
            Via::Direct => "".to_owned(),
            Via::Gateway => calls
                .iter()
                .find(|d| d.via == Via::Direct && d.call == s.call)
                .map_or_else(String::new, |d| format!("{:.2}", s.calls / d.calls.max(f64::EPSILON))),
        };
        println!(
            "| {} | {} | {:.0} | {:.0} | {:.3} | {:.0} | {:.2} | {:.2} | {:.2} | {} | {} |",
            s.call.label(),
            s.via.label(),
            s.baseline,
            s.calls,
            s.ratio(),
            s.items,
            s.latency.p50,
            s.latency.p99,
            s.latency.max,
            versus_direct,
            s.error_count(),
        );
    }
    println!();
}

/// SubmitReport with and without live aggregates, each against its own baseline.
fn print_aggregates(with: &Summary, without: &Summary) {
    println!(
        "The write cost of live aggregates: SubmitReport directly at {} in flight, and the same on a second suite whose reporting server skips aggregate maintenance (a benchmark-only option, not a setting):\n",
        with.workers
    );
    println!(
        "| aggregates | Health/Check calls/s (baseline) | SubmitReport/s | ÷ baseline | p50 ms | p99 ms | max ms | errors |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (label, s) in [("maintained", with), ("skipped", without)] {
        println!("| {label} | {} |", s.measured_cells());
    }
    println!(
        "\nwith ÷ without: {:.2} (each as a ratio to its own baseline; raw calls/s: {:.2})\n",
        with.ratio() / without.ratio().max(f64::EPSILON),
        with.calls / without.calls.max(f64::EPSILON)
    );
}

fn print_sweep(sweep: &[Summary]) {
    println!(
        "SubmitReport directly on the reporting server at each in-flight level (each OK a committed, durable revision):\n"
    );
    println!(
        "| in flight | connections | Health/Check calls/s (baseline) | SubmitReport/s | ÷ baseline | p50 ms | p99 ms | max ms | errors |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for s in sweep {
        println!("| {} | {} | {} |", s.workers, s.connections, s.measured_cells());
    }
    println!();
}

/// Cases that differ in call, route and in-flight level, one row each (`--servers`);
/// a call through the gateway is also given as a ratio to the same call made directly
/// at the same level, when there is one.
pub(crate) fn print_cases(cases: &[Summary]) {
    println!(
        "| call | via | in flight | connections | Health/Check calls/s (baseline) | calls/s | ÷ baseline | items/s | p50 ms | p99 ms | max ms | gateway ÷ direct | errors |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for s in cases {
        let versus_direct = match s.via {
            Via::Direct => String::new(),
            Via::Gateway => cases
                .iter()
                .find(|d| d.via == Via::Direct && d.call == s.call && d.workers == s.workers)
                .map_or_else(String::new, |d| format!("{:.2}", s.calls / d.calls.max(f64::EPSILON))),
        };
        println!(
            "| {} | {} | {} | {} | {:.0} | {:.0} | {:.3} | {:.0} | {:.2} | {:.2} | {:.2} | {} | {} |",
            s.call.label(),
            s.via.label(),
            s.workers,
            s.connections,
            s.baseline,
            s.calls,
            s.ratio(),
            s.items,
            s.latency.p50,
            s.latency.p99,
            s.latency.max,
            versus_direct,
            s.error_count(),
        );
    }
    println!();
}

/// The CPU time each watched process spent on one call of each case, over its measured
/// rounds (`/proc/<pid>/stat`, user and system time, in 10 ms ticks), and the cores all
/// of them kept busy: on cores shared by client and servers, calls/s is about the busy
/// cores over the whole CPU time of a call.
pub(crate) fn print_cpu(watched: &Watched, cases: &[Summary]) {
    if watched.is_empty() {
        return;
    }
    println!(
        "CPU time per call over the measured rounds, in µs (user + system, every thread; a SubmitReports call is a stream of {STREAM_ITEMS} items), and the cores busy meanwhile:\n"
    );
    let names: Vec<&str> = watched.names().collect();
    println!("| call | via | in flight | {} | all | cores busy |", names.join(" | "));
    println!("|---|---|---|{}---|---|", "---|".repeat(names.len()));
    for s in cases {
        let calls = s.measured_calls.max(1) as f64;
        let per_call = |spent: Duration| format!("{:.0}", spent.as_secs_f64() * 1e6 / calls);
        let each: Vec<String> = s.cpu.each().iter().map(|&spent| per_call(spent)).collect();
        println!(
            "| {} | {} | {} | {} | {} | {:.2} |",
            s.call.label(),
            s.via.label(),
            s.workers,
            each.join(" | "),
            per_call(s.cpu.total()),
            s.cpu.total().as_secs_f64() / s.measured_time.as_secs_f64().max(f64::EPSILON),
        );
    }
    println!();
}

#[cfg(test)]
mod tests {
    use super::median;

    #[test]
    fn bad_rounds_and_levels_are_refused_before_anything_starts() {
        use clap::Parser;
        let parse = |extra: &[&str]| {
            let mut argv = vec!["duban-bench", "--rpcs"];
            argv.extend_from_slice(extra);
            super::Plan::of(&super::Args::parse_from(argv))
        };
        assert!(parse(&[]).is_ok());
        for bad in [
            &["--round-seconds=-1"][..],
            &["--round-seconds", "0"],
            &["--round-seconds", "NaN"],
            &["--rounds", "0"],
            &["--in-flight", "8,0"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?} was accepted");
        }
        let smoke = parse(&["--smoke", "--clients", "64"]).unwrap();
        assert_eq!((smoke.rounds, smoke.clients, smoke.in_flight.len()), (2, 4, 4));
    }

    #[test]
    fn median_of_odd_even_and_no_rounds() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(vec![7.0]), 7.0);
        assert_eq!(median(Vec::new()), 0.0);
    }
}
