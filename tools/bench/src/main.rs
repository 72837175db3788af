//! `duban-bench`: how fast the reporting server stores reports durably, and whether
//! GetProgress stays flat as history grows.
//!
//! Starts departments, targets, measures and reporting in this process on loopback,
//! each on a fresh database (SQLite, and PostgreSQL when reachable), imports the Jiading
//! 2023 plan, then:
//!
//! 1. fills the reporting database to 1,000 stored revisions and times GetProgress;
//! 2. fills it to 10,000 revisions and times GetProgress again;
//! 3. runs `--clients` concurrent SubmitReport clients over `--connections` HTTP/2
//!    connections for `--seconds` (and at most `--max-submissions`), every call with a
//!    fresh `request_id`, and reports submissions/s and latency percentiles;
//! 4. times GetProgress once more, at the final revision count;
//!
//! and prints the process's peak RSS (VmHWM: all four servers and the clients). Every
//! loop is bounded; nothing leaves loopback. This default mode is not run by CI:
//!
//! ```sh
//! cargo run --release -p duban-bench -- --seconds 10 --clients 64 --connections 8
//! ```
//!
//! With `--overview`, it instead times the gateway's overview against GetProgress with
//! the demo's data and with more history (see `overview.rs`, issue 14 §7).
//!
//! With `--rpcs`, it instead measures each public call against the health Check
//! baseline, directly and through the gateway, in rounds that alternate baseline and
//! measured call, and SubmitReport at several in-flight levels; then it checks that the
//! OK answers equal the new stored revisions (see `rpcs.rs`, issue 15):
//!
//! ```sh
//! cargo run --release -p duban-bench -- --rpcs --rounds 5 --round-seconds 3 --in-flight 1,8,64,256
//! ```
//!
//! `--rpcs --smoke` runs that mode in a few seconds and asserts no timing, only that
//! every step works; CI runs it (`.ci/run`).
//!
//! With `--servers`, it instead runs the servers as production does, each as a process
//! of its own (see `servers.rs`, issue 15): it times `duban up` from spawn to all five
//! SERVING, to its banner, and from SIGTERM to exit (`--up-runs` times), then, per
//! backend, starts `duban serve <name>` for each server on its own database, imports the
//! plan with `duban plan import`, runs the largest run of `--rpcs` (GetReport directly and
//! through the gateway at `--clients`, SubmitReport directly at the highest `--in-flight`
//! level, SubmitReports through the gateway at `--clients`, and the OK == stored check),
//! prints the CPU time each process spent a call, and each server's VmRSS and VmHWM
//! against 60 MB.
//! It needs the `duban` binary: `--duban PATH`, by default `duban` beside this
//! executable (`cargo build --release -p duban-cli` puts it there):
//!
//! ```sh
//! cargo build --release -p duban-cli
//! cargo run --release -p duban-bench -- --servers --up-runs 5 --rounds 5 --round-seconds 3 --in-flight 256 --clients 64
//! ```
//!
//! `--servers --smoke` runs it in a few seconds (one `duban up`, the `--rpcs` smoke
//! sizes) and asserts no timing or memory, only that every step works.
//!
//! Every mode first prints the command line, the machine, the date and the git commit.

use std::{
    collections::BTreeMap,
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use clap::{ArgGroup, Parser, ValueEnum};
use duban_harness::{Caller, PLAN, ReportKey, ReportingClient, Responsibility, Server, Suite};
use duban_kit::{
    client::ServiceChannel,
    testing::{self, Backend},
};
use duban_proto::reporting::v1::{self as pb, reporting_service_client::ReportingServiceClient};

mod cpu;
mod h2load;
mod overview;
mod rpcs;
mod servers;

/// The allocator `duban` runs with, so that `--rpcs`, which runs the suite in this
/// process, measures what production runs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How long each server may take to answer SERVING (a cold PostgreSQL is slow).
const STARTUP: Duration = Duration::from_secs(60);

type Client = ReportingClient;

#[derive(Debug, Parser)]
#[command(about = "Benchmark the reporting server's durable write path and progress read")]
#[command(group(ArgGroup::new("smokable").args(["rpcs", "servers", "h2load"]).multiple(true)))]
struct Args {
    /// Length of the timed submission phase, in seconds.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Concurrent SubmitReport clients.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// HTTP/2 connections the clients are spread over.
    #[arg(long, default_value_t = 8)]
    connections: usize,
    /// Upper bound on submissions in the timed phase.
    #[arg(long, default_value_t = 2_000_000)]
    max_submissions: usize,
    /// GetProgress calls per measurement point.
    #[arg(long, default_value_t = 200)]
    progress_calls: usize,
    /// Stored revision counts at which GetProgress is timed before the timed phase.
    #[arg(long, value_delimiter = ',', default_value = "1000,10000")]
    history: Vec<usize>,
    /// Which databases: sqlite, postgres, or all (postgres only when reachable).
    #[arg(long, value_enum, default_value_t = Which::All)]
    backend: Which,
    /// Instead of the phases above: run `duban demo` on the whole suite (gateway
    /// included) and time GetProgress, GetOverview and `GET /api/v1/overview`.
    #[arg(long)]
    overview: bool,
    /// With `--overview`: the multiples of the demo's revisions to fill to and time again.
    #[arg(long, value_delimiter = ',', default_value = "10,100")]
    overview_scales: Vec<usize>,
    /// With `--overview`: calls of each kind per size.
    #[arg(long, default_value_t = 100)]
    overview_calls: usize,
    /// Instead of the phases above: each public call against the health Check baseline,
    /// directly and through the gateway, and SubmitReport at each `--in-flight` level
    /// (`--clients` workers over `--connections` connections for the other calls).
    #[arg(long, conflicts_with = "overview")]
    rpcs: bool,
    /// With `--rpcs` or `--servers`: rounds of each of baseline and measured call, alternating.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// With `--rpcs` or `--servers`: length of each round, in seconds.
    #[arg(long, default_value_t = 3.0)]
    round_seconds: f64,
    /// With `--rpcs`: the in-flight levels SubmitReport is measured at; with `--servers`,
    /// the highest of them.
    #[arg(long, value_delimiter = ',', default_value = "1,8,64,256")]
    in_flight: Vec<usize>,
    /// Instead of the phases above: `duban up` from spawn to all five SERVING, then each
    /// server as a `duban serve` process of its own on each backend, the largest `--rpcs`
    /// run against them (SubmitReport direct at the highest `--in-flight` level,
    /// SubmitReports through the gateway at `--clients`), and each server's VmRSS/VmHWM.
    #[arg(long, conflicts_with_all = ["overview", "rpcs"])]
    servers: bool,
    /// With `--servers`: the `duban` binary to run; default: `duban` beside this
    /// executable (`cargo build -p duban-cli` puts it there).
    #[arg(long, requires = "servers")]
    duban: Option<PathBuf>,
    /// With `--servers`: how many times `duban up` is started and stopped.
    #[arg(long, default_value_t = 5)]
    up_runs: usize,
    /// With `--rpcs`, `--servers` or `--h2load`: a few seconds in all (2 tiny rounds, 4
    /// workers; with `--servers`, one `duban up`; with `--h2load`, one round of one
    /// second); asserts only that every step works and that OK answers equal stored
    /// revisions. CI runs all three.
    #[arg(long, requires = "smokable")]
    smoke: bool,
    /// Instead of the phases above: the health Check baseline and GetReport (direct and
    /// through the gateway) measured by nghttp2's h2load, each request's grpc-status
    /// checked with nghttp first (`--rounds`, `--round-seconds`, `--clients` streams over
    /// `--connections` connections).
    #[arg(long, conflicts_with_all = ["overview", "rpcs", "servers"])]
    h2load: bool,
    /// Where the servers' log lines go. They log as in production (the `info` filter;
    /// `RUST_LOG` overrides it), so formatting and writing each line is part of what is
    /// measured; by default they are written to /dev/null.
    #[arg(long, default_value = "/dev/null")]
    server_log: std::path::PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Which {
    Sqlite,
    Postgres,
    All,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.clients == 0 || args.connections == 0 || args.progress_calls == 0 || args.overview_calls == 0 {
        bail!("--clients, --connections, --progress-calls and --overview-calls must be at least 1");
    }
    if args.servers {
        servers::Setup::of(&args)?;
    } else if args.rpcs {
        rpcs::Plan::of(&args)?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&args.server_log)
        .with_context(|| format!("cannot open --server-log {}", args.server_log.display()))?;
    let _telemetry = duban_kit::telemetry::init_with_writer(
        "duban-bench",
        &duban_kit::settings::LogSettings::default(),
        &duban_kit::settings::TelemetrySettings::default(),
        Arc::new(log),
    )?;
    println!("duban-bench: {}", machine());
    println!(
        "command: `{}`; date: {}; commit: {}\n",
        std::env::args().collect::<Vec<_>>().join(" "),
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        commit()
    );
    if !args.overview && !args.rpcs && !args.servers && !args.h2load {
        println!(
            "timed phase: {} s, {} clients over {} HTTP/2 connections; GetProgress: {} calls per point\n",
            args.seconds, args.clients, args.connections, args.progress_calls
        );
    }
    let mut backends = Vec::new();
    if matches!(args.backend, Which::Sqlite | Which::All) {
        backends.push(Backend::Sqlite);
    }
    if args.backend == Which::Postgres || (args.backend == Which::All && testing::postgres_available().await) {
        backends.push(Backend::Postgres);
    } else if args.backend == Which::All {
        println!(
            "PostgreSQL at {} is not reachable: SQLite only\n",
            testing::postgres_admin_url()
        );
    }
    let servers = if args.servers {
        let setup = servers::Setup::of(&args)?;
        servers::bench_up(&setup).await.context("the `duban up` runs failed")?;
        Some(setup)
    } else {
        None
    };
    for backend in backends {
        if let Some(setup) = &servers {
            servers::bench(backend, setup).await
        } else if args.overview {
            overview::bench(backend, &args).await
        } else if args.rpcs {
            rpcs::bench(backend, &args).await
        } else if args.h2load {
            h2load::bench(backend, &args).await
        } else {
            bench(backend, &args).await
        }
        .with_context(|| format!("the {backend} run failed"))?;
    }
    Ok(())
}

async fn bench(backend: Backend, args: &Args) -> anyhow::Result<()> {
    println!("## {backend}\n");
    let began = Instant::now();
    let suite = Suite::builder(backend)
        .with(Server::Reporting)
        .startup_timeout(STARTUP)
        .try_start()
        .await?;
    let work = Arc::new(workload(&suite).await?);
    println!(
        "suite up and plan loaded in {:.1} s; {} report keys ({} measure-department pairs x {} months), {} with metric values\n",
        began.elapsed().as_secs_f64(),
        work.keys.len(),
        work.keys.len() / work.months,
        work.months,
        work.keys.iter().filter(|k| !k.owed.is_empty()).count(),
    );
    let clients = clients(&suite, args.connections, args.clients);
    let mut leader = suite.reporting(Caller::Admin);
    let next = Arc::new(AtomicUsize::new(0));

    let mut progress_rows = Vec::new();
    let mut stored = 0;
    let mut points = args.history.clone();
    points.sort_unstable();
    for point in points {
        let fill = load(&clients, &work, &next, Stop::Count(point.saturating_sub(stored))).await;
        fill.check()?;
        stored += fill.ok;
        progress_rows.push(time_progress(&mut leader, stored, args.progress_calls).await?);
    }

    // Uncontended: one client, one call at a time.
    let single = load(&clients[..1], &work, &next, Stop::Count(200)).await;
    single.check()?;
    stored += single.ok;

    let timed = load(
        &clients,
        &work,
        &next,
        Stop::Time(Duration::from_secs(args.seconds), args.max_submissions),
    )
    .await;
    stored += timed.ok;
    progress_rows.push(time_progress(&mut leader, stored, args.progress_calls).await?);

    println!("SubmitReport, timed phase (each OK is a committed, fsynced revision):\n");
    println!(
        "| clients | connections | seconds | submissions OK | errors | submissions/s | p50 ms | p99 ms | max ms |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let lat = Percentiles::of(&timed.latencies_us);
    println!(
        "| {} | {} | {:.1} | {} | {} | {:.0} | {:.2} | {:.2} | {:.2} |\n",
        args.clients,
        args.connections,
        timed.elapsed.as_secs_f64(),
        timed.ok,
        timed.errors.values().sum::<usize>(),
        timed.ok as f64 / timed.elapsed.as_secs_f64(),
        lat.p50,
        lat.p99,
        lat.max,
    );
    let one = Percentiles::of(&single.latencies_us);
    println!(
        "SubmitReport, one client, sequential: {} calls, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms\n",
        single.ok, one.p50, one.p99, one.max
    );
    if !timed.errors.is_empty() {
        println!("errors by code: {:?}\n", timed.errors);
    }
    println!(
        "GetProgress, whole plan ({} targets, include_provisional), one caller, sequential:\n",
        progress_rows.first().map_or(0, |r| r.targets)
    );
    println!("| stored revisions | calls | p50 ms | p99 ms | max ms | one target: p50 ms | p99 ms |");
    println!("|---|---|---|---|---|---|---|");
    for row in &progress_rows {
        println!(
            "| {} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |",
            row.revisions,
            row.calls,
            row.latency.p50,
            row.latency.p99,
            row.latency.max,
            row.one_target.p50,
            row.one_target.p99
        );
    }
    let (hwm, rss) = memory();
    println!("\npeak RSS of this process so far (VmHWM): {hwm}; now (VmRSS): {rss}\n");
    suite.stop().await;
    Ok(())
}

/// `clients` clients over `connections` channels: each channel is one HTTP/2
/// connection, shared round-robin.
fn clients(suite: &Suite, connections: usize, clients: usize) -> Vec<Client> {
    let channels: Vec<ServiceChannel> = (0..connections)
        .map(|_| suite.channel(Server::Reporting, Caller::Admin))
        .collect();
    (0..clients)
        .map(|i| ReportingServiceClient::new(channels[i % connections].clone()))
        .collect()
}

/// The workload of the plan `suite` imported (see [`Workload::of`]).
async fn workload(suite: &Suite) -> anyhow::Result<Workload> {
    Workload::of(&suite.responsibilities().await?)
}

#[derive(Debug)]
struct Workload {
    keys: Vec<ReportKey>,
    months: usize,
}

impl Workload {
    /// Every (measure, responsible department, month) of `responsibilities`, with a value
    /// for each target of the measure the department reports.
    fn of(responsibilities: &[Responsibility]) -> anyhow::Result<Workload> {
        let months: Vec<i32> = (3..=12).collect();
        let keys: Vec<ReportKey> = responsibilities
            .iter()
            .flat_map(|responsibility| months.iter().map(|&month| ReportKey::new(responsibility, month)))
            .collect();
        if keys.is_empty() {
            bail!("the plan has no measure with a responsible department");
        }
        Ok(Workload {
            keys,
            months: months.len(),
        })
    }

    /// Submission `n`: keys in turn (so the plan fills evenly and every key collects
    /// revisions), with a value for every target the key owes.
    fn submission(&self, n: usize) -> pb::SubmitReportRequest {
        let key = &self.keys[n % self.keys.len()];
        key.submission(
            format!("基准测试第{n}次提交：本月按计划推进。"),
            (n % 97 + 1) as u8,
            format!("bench-{n:09}"),
        )
    }
}

#[derive(Debug, Clone, Copy)]
enum Stop {
    /// This many successful submissions in all.
    Count(usize),
    /// This long, and at most this many attempts.
    Time(Duration, usize),
}

#[derive(Debug, Default)]
struct LoadResult {
    ok: usize,
    errors: BTreeMap<String, usize>,
    first_error: Option<String>,
    latencies_us: Vec<u64>,
    elapsed: Duration,
}

impl LoadResult {
    fn check(&self) -> anyhow::Result<()> {
        match &self.first_error {
            Some(error) => bail!("submissions failed ({:?}); the first: {error}", self.errors),
            None => Ok(()),
        }
    }
}

/// Runs every client until `stop`, each with its own sequence of fresh request ids.
async fn load(clients: &[Client], work: &Arc<Workload>, next: &Arc<AtomicUsize>, stop: Stop) -> LoadResult {
    let began = Instant::now();
    let ok = Arc::new(AtomicUsize::new(0));
    let attempts = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = clients
        .iter()
        .cloned()
        .map(|mut client| {
            let (work, next, ok, attempts) = (work.clone(), next.clone(), ok.clone(), attempts.clone());
            tokio::spawn(async move {
                let mut out = LoadResult::default();
                loop {
                    match stop {
                        Stop::Count(target) => {
                            // Claim a slot; give it back if there is none left.
                            if attempts.fetch_add(1, Ordering::SeqCst) >= target {
                                break;
                            }
                        }
                        Stop::Time(limit, most) => {
                            if began.elapsed() >= limit || attempts.fetch_add(1, Ordering::SeqCst) >= most {
                                break;
                            }
                        }
                    }
                    let request = work.submission(next.fetch_add(1, Ordering::SeqCst));
                    let sent = Instant::now();
                    let result = client.submit_report(request).await;
                    let took = sent.elapsed();
                    match result {
                        Ok(_) => {
                            ok.fetch_add(1, Ordering::SeqCst);
                            out.ok += 1;
                            out.latencies_us.push(took.as_micros() as u64);
                        }
                        Err(status) => {
                            *out.errors.entry(format!("{:?}", status.code())).or_default() += 1;
                            out.first_error.get_or_insert_with(|| format!("{status:?}"));
                            // A failed slot of a Count run is retried by whoever claims next.
                            if let Stop::Count(_) = stop {
                                attempts.fetch_sub(1, Ordering::SeqCst);
                                if out.errors.values().sum::<usize>() > 100 {
                                    break;
                                }
                            }
                        }
                    }
                }
                out
            })
        })
        .collect();
    let mut total = LoadResult::default();
    for task in tasks {
        let part = task.await.expect("a load task panicked");
        total.ok += part.ok;
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

#[derive(Debug)]
struct ProgressRow {
    revisions: usize,
    calls: usize,
    targets: usize,
    latency: Percentiles,
    one_target: Percentiles,
}

/// Times `calls` sequential GetProgress calls over the whole plan, and as many for its
/// first target alone (each after 10 unmeasured).
async fn time_progress(client: &mut Client, revisions: usize, calls: usize) -> anyhow::Result<ProgressRow> {
    let whole = pb::GetProgressRequest {
        parent: PLAN.into(),
        include_provisional: true,
        ..Default::default()
    };
    let (latency, answer) = time_calls(client, &whole, calls).await?;
    let first = answer.targets.first().context("GetProgress returned no target")?;
    let one = pb::GetProgressRequest {
        target_codes: vec![first.target_code.clone()],
        ..whole
    };
    let (one_target, _) = time_calls(client, &one, calls).await?;
    Ok(ProgressRow {
        revisions,
        calls,
        targets: answer.targets.len(),
        latency,
        one_target,
    })
}

async fn time_calls(
    client: &mut Client,
    request: &pb::GetProgressRequest,
    calls: usize,
) -> anyhow::Result<(Percentiles, pb::GetProgressResponse)> {
    let mut latencies = Vec::with_capacity(calls);
    let mut last = pb::GetProgressResponse::default();
    for i in 0..calls + 10 {
        let sent = Instant::now();
        last = client
            .get_progress(request.clone())
            .await
            .context("GetProgress failed")?
            .into_inner();
        if i >= 10 {
            latencies.push(sent.elapsed().as_micros() as u64);
        }
    }
    Ok((Percentiles::of(&latencies), last))
}

/// Milliseconds.
#[derive(Debug, Default)]
struct Percentiles {
    p50: f64,
    p99: f64,
    max: f64,
}

impl Percentiles {
    /// `p50 / p99 / max`, for a table cell.
    fn triple(&self) -> String {
        format!("{:.2} / {:.2} / {:.2}", self.p50, self.p99, self.max)
    }

    fn of(micros: &[u64]) -> Percentiles {
        if micros.is_empty() {
            return Percentiles::default();
        }
        let mut sorted = micros.to_vec();
        sorted.sort_unstable();
        let at = |q: f64| {
            let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
            sorted[rank - 1] as f64 / 1000.0
        };
        Percentiles {
            p50: at(0.50),
            p99: at(0.99),
            max: at(1.0),
        }
    }
}

/// VmHWM and VmRSS of this process, as /proc/self/status prints them.
fn memory() -> (String, String) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map_or_else(|| "unknown".to_owned(), |v| v.trim().to_owned())
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// CPU model and count, for the record.
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map_or("unknown CPU", str::trim)
        .to_owned();
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    format!("{cpus} CPUs ({model})")
}

/// The checked-out commit (with `+changes` if the work tree differs from it), or
/// `unknown` outside a git work tree.
fn commit() -> String {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|out| out.status.success())
            .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    match git(&["rev-parse", "--short=12", "HEAD"]) {
        Some(head) if git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty()) => {
            format!("{head}+changes")
        }
        Some(head) => head,
        None => "unknown".to_owned(),
    }
}
