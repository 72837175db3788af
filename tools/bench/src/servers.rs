//! `--servers`: every server as a process of its own, as production runs them (`duban
//! serve <name>`), and `duban up` from start to all five SERVING (issue 15).
//!
//! 1. `duban up`, `--up-runs` times (SQLite in a fresh data directory, every server on a
//!    free loopback port): the time from spawning it until all five servers answer
//!    SERVING (grpc.health.v1 Check of each server's service), until it prints its
//!    banner ("Duban is up.", printed once the plan is imported), and from SIGTERM until
//!    it has exited (a graceful shutdown; more than 30 s fails the run). Min, median, max.
//! 2. On each backend, `duban serve <name>` for each of the five servers, in start-up
//!    order, each SERVING before the next starts, each on its own fresh database (a
//!    SQLite file, or a PostgreSQL database created at 127.0.0.1:5432 and dropped
//!    afterwards), all sharing a fresh service token and bootstrap admin token and
//!    reaching each other on loopback; then `duban plan import` against measures; then
//!    the largest run of `--rpcs` (`rpcs.rs`): GetReport directly on reporting and
//!    through the gateway at `--clients` (so that the gateway's hop is measured with the
//!    gateway in a process of its own), SubmitReport directly on reporting at the highest
//!    `--in-flight` level, and SubmitReports through the gateway at `--clients`, each in
//!    `--rounds` rounds of `--round-seconds` against the health Check baseline, and the
//!    check that OK answers equal new stored revisions. Around each measured round the
//!    CPU time of every server and of the benchmark's own process (its clients) is read
//!    from `/proc/<pid>/stat` (`cpu.rs`): the CPU each spent a call.
//! 3. Each server's VmRSS and VmHWM from `/proc/<pid>/status` after that run, against
//!    the 60 MB a server (VmRSS decides; MB here is 2^20 bytes); then SIGTERM to
//!    each, newest first, waiting up to 30 s for each before SIGKILL (said so, and the
//!    run fails).
//!
//! The children get only the `DUBAN__*` variables set here (none inherited), production
//! defaults otherwise, except `server.max_concurrent_requests`, raised as in `--rpcs` so
//! that the run measures calls, not load shedding; they log as in production (`info`,
//! with `RUST_LOG` removed), stdout and stderr into one file each in a temporary
//! directory. A child that exits early fails the run with its name and the end of that
//! file. No child outlives the run: each is killed (SIGKILL) when its handle is dropped,
//! whatever failed.

use std::{
    collections::BTreeMap,
    fs::OpenOptions,
    io::{BufRead, BufReader, Write},
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, ChildStdout, Command, ExitStatus, Stdio},
    sync::mpsc::{self, Receiver, TryRecvError},
    time::{Duration, Instant},
};

use anyhow::{Context, anyhow, bail};
use duban_harness::{Server, read_responsibilities};
use duban_kit::{
    auth::new_token,
    client::ServiceChannel,
    settings::ClientSettings,
    testing::{self, Backend, TestDatabase},
};
use duban_proto::{
    measures::v1::measures_service_client::MeasuresServiceClient,
    targets::v1::targets_service_client::TargetsServiceClient,
};
use tempfile::TempDir;
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};

use super::{Args, STARTUP, Workload};
use crate::{
    cpu::Watched,
    rpcs::{self, Call, Endpoints, Plan, Session, Summary, Tally, Via},
};

/// How long a child may take to exit after SIGTERM before it is killed.
const STOP_LIMIT: Duration = Duration::from_secs(30);
/// Issue 15's target for each server's RSS after the largest run, in MB (2^20 bytes).
const RSS_TARGET_MB: f64 = 60.0;
/// The first line of `duban up`'s banner, printed once every server is SERVING and the
/// plan is imported.
const BANNER: &str = "Duban is up.";
/// How many lines of a child's log an error shows.
const TAIL_LINES: usize = 40;
/// How often a child's health and liveness are polled.
const POLL: Duration = Duration::from_millis(20);

/// The settings of this mode, checked before anything starts.
#[derive(Debug)]
pub(crate) struct Setup {
    duban: PathBuf,
    up_runs: usize,
    plan: Plan,
}

impl Setup {
    /// The settings `args` ask for (`--smoke`: one `duban up` and the `--rpcs` smoke
    /// sizes), or why they cannot be run.
    pub(crate) fn of(args: &Args) -> anyhow::Result<Setup> {
        let plan = Plan::of(args)?;
        if args.up_runs == 0 {
            bail!("--up-runs must be at least 1");
        }
        Ok(Setup {
            duban: duban_binary(args.duban.as_deref())?,
            up_runs: if args.smoke { 1 } else { args.up_runs },
            plan,
        })
    }
}

/// `given`, or the `duban` file beside this executable (where cargo puts both), if it
/// is a file.
fn duban_binary(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    let path = match given {
        Some(path) => path.to_owned(),
        None => std::env::current_exe()
            .context("cannot tell where this executable is, to find `duban` beside it; give --duban")?
            .with_file_name("duban"),
    };
    if !path.is_file() {
        bail!(
            "no `duban` binary at {}: build it into the same target directory as duban-bench with \
             `cargo build -p duban-cli` (`cargo build --release -p duban-cli` for a release run), or give \
             its path with --duban",
            path.display()
        );
    }
    Ok(path)
}

/// Starts and stops `duban up` `setup.up_runs` times and prints min, median and max of
/// each step.
pub(crate) async fn bench_up(setup: &Setup) -> anyhow::Result<()> {
    println!("## `duban up` to all SERVING ({})\n", setup.duban.display());
    let mut runs = Vec::with_capacity(setup.up_runs);
    for run in 1..=setup.up_runs {
        runs.push(
            up_once(&setup.duban)
                .await
                .with_context(|| format!("`duban up` run {run} of {}", setup.up_runs))?,
        );
    }
    println!(
        "SQLite in a fresh data directory each run, every server on a free loopback port, logging at info as in production; seconds, over {} run(s):\n",
        runs.len()
    );
    println!("| step | min s | median s | max s |");
    println!("|---|---|---|---|");
    let row = |step: &str, of: &dyn Fn(&UpTiming) -> Duration| {
        let seconds: Vec<f64> = runs.iter().map(|run| of(run).as_secs_f64()).collect();
        let min = seconds.iter().copied().fold(f64::INFINITY, f64::min);
        let max = seconds.iter().copied().fold(0.0, f64::max);
        println!(
            "| {step} | {min:.3} | {:.3} | {max:.3} |",
            rpcs::median(seconds.clone())
        );
    };
    row("spawn → all five servers SERVING", &|run| run.serving);
    row("spawn → banner printed (plan imported)", &|run| run.banner);
    row("SIGTERM → exited", &|run| run.stop);
    println!();
    Ok(())
}

/// One `duban up`'s times: from spawning it to all SERVING and to its banner, and from
/// SIGTERM to its exit.
#[derive(Debug)]
struct UpTiming {
    serving: Duration,
    banner: Duration,
    stop: Duration,
}

async fn up_once(duban: &Path) -> anyhow::Result<UpTiming> {
    let mut dir = temporary_directory("duban-bench-up-")?;
    let outcome = time_up(duban, &dir).await;
    if outcome.is_err() {
        keep_logs(&mut dir, "`duban up`'s");
    }
    outcome
}

/// Starts `duban up` with its data directory and log in `dir`, and stops it.
async fn time_up(duban: &Path, dir: &TempDir) -> anyhow::Result<UpTiming> {
    let layout = Layout::unclaimed();
    let mut env = layout.env();
    env.push(("DUBAN__DATA_DIR".into(), dir.path().join("data").display().to_string()));
    let log = dir.path().join("up.log");
    let mut up = Process::spawn(duban, "up", &["up"], &env, &log, true)?;
    let banner = watch_for_banner(up.take_stdout()?, &log)?;
    let since = up.started;
    let all: Vec<(Server, SocketAddr)> = Server::ALL
        .iter()
        .map(|&server| (server, layout.addr(server)))
        .collect();
    let serving = until_serving(&mut up, &all, since).await?;
    let banner = until_banner(&mut up, &banner).await?;
    let stop = match up.terminate().await? {
        Stop::Exited(took, status) if status.success() => took,
        Stop::Exited(_, status) => bail!(
            "`duban up` exited with {status} after SIGTERM; the end of its log:\n{}",
            up.tail()
        ),
        Stop::Killed => bail!(
            "`duban up` had not exited {} s after SIGTERM and was killed (SIGKILL); the end of its log:\n{}",
            STOP_LIMIT.as_secs(),
            up.tail()
        ),
    };
    Ok(UpTiming {
        serving: serving.into_iter().max().unwrap_or_default(),
        banner,
        stop,
    })
}

/// Reads `stdout` to its end on a thread of its own (so the child never blocks on a full
/// pipe), appending every line to `log`; the receiver gets the moment the banner's first
/// line arrived.
fn watch_for_banner(stdout: ChildStdout, log: &Path) -> anyhow::Result<Receiver<Instant>> {
    let mut file = OpenOptions::new()
        .append(true)
        .open(log)
        .with_context(|| format!("cannot open {}", log.display()))?;
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line.starts_with(BANNER) {
                // The receiver may be gone (the run failed): nothing to tell then.
                let _ = sender.send(Instant::now());
            }
            if writeln!(file, "{line}").is_err() {
                break;
            }
        }
    });
    Ok(receiver)
}

/// Waits for `duban up`'s banner: the time from its spawn.
async fn until_banner(up: &mut Process, banner: &Receiver<Instant>) -> anyhow::Result<Duration> {
    loop {
        match banner.try_recv() {
            Ok(at) => return Ok(at.saturating_duration_since(up.started)),
            Err(TryRecvError::Empty) => {}
            Err(TryRecvError::Disconnected) => {
                up.still_running()?;
                bail!(
                    "`duban up` closed its standard output without printing {BANNER:?}; the end of its log:\n{}",
                    up.tail()
                );
            }
        }
        up.still_running()?;
        if up.started.elapsed() > STARTUP {
            bail!(
                "`duban up` printed no {BANNER:?} within {} s; the end of its log:\n{}",
                STARTUP.as_secs(),
                up.tail()
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Every server as a `duban serve` process on `backend`: start, plan import, the
/// largest run, memory, stop.
pub(crate) async fn bench(backend: Backend, setup: &Setup) -> anyhow::Result<()> {
    println!("## {backend}: each server as its own process (`duban serve <name>`)\n");
    let mut fleet = Fleet::new(backend, setup.plan.concurrency_limit()).await?;
    let outcome = run_fleet(&mut fleet, setup).await;
    if outcome.is_err() {
        keep_logs(&mut fleet.dir, "the servers'");
    }
    outcome
}

/// Starts the fleet's servers, imports the plan, runs the largest run, reads memory,
/// stops them, and checks the run.
async fn run_fleet(fleet: &mut Fleet, setup: &Setup) -> anyhow::Result<()> {
    let plan = &setup.plan;
    let limit = plan.concurrency_limit();
    let mut started = Vec::new();
    for server in Server::ALL {
        started.push((server, fleet.launch(&setup.duban, server).await?));
    }
    let (import_took, import_said) = fleet.import_plan(&setup.duban).await?;
    print_start(fleet, &started, limit);
    println!(
        "`duban plan import` against measures: {:.2} s; it said: {import_said}\n",
        import_took.as_secs_f64()
    );
    let idle = fleet.memory()?;
    println!("{}\n", plan.describe());

    let measured = largest_run(fleet, plan).await;
    // A failure of the run may be a server that died: if so, say which.
    fleet.all_running()?;
    let (cases, watched, tally) = measured?;
    let after = fleet.memory()?;
    println!(
        "The largest run: GetReport directly on reporting and through the gateway at --clients, SubmitReport directly on reporting at the highest --in-flight level, SubmitReports through the gateway at --clients, as ADMIN:\n"
    );
    rpcs::print_cases(&cases);
    rpcs::print_cpu(&watched, &cases);
    tally.print();
    print_memory(fleet, &idle, &after);

    let stops = fleet.stop_all().await;
    print_stops(&stops);
    if let Some((server, _)) = stops
        .iter()
        .find(|(_, stop)| !matches!(stop, Stop::Exited(_, status) if status.success()))
    {
        bail!("the {server} server did not stop cleanly after SIGTERM (see above)");
    }
    rpcs::check(&cases, &tally)
}

/// GetReport directly and through the gateway at `--clients`, SubmitReport direct at the
/// highest level, SubmitReports through the gateway at `--clients`, on the plan the
/// fleet imported; with the processes whose CPU time each case read.
async fn largest_run(fleet: &Fleet, plan: &Plan) -> anyhow::Result<(Vec<Summary>, Watched, Tally)> {
    let endpoints = Endpoints {
        reporting: fleet.layout.addr(Server::Reporting),
        gateway: fleet.layout.addr(Server::Gateway),
        client: ClientSettings::default(),
        admin_token: fleet.admin_token.clone(),
        watched: fleet.watched(),
    };
    let responsibilities = read_responsibilities(
        &mut MeasuresServiceClient::new(fleet.service_channel(Server::Measures)),
        &mut TargetsServiceClient::new(fleet.service_channel(Server::Targets)),
    )
    .await
    .context("cannot read the plan's responsibilities")?;
    let session = Session::start(&endpoints, plan, Workload::of(&responsibilities)?).await?;
    let cases = vec![
        session.case(Call::GetReport, Via::Direct, plan.clients).await?,
        session.case(Call::GetReport, Via::Gateway, plan.clients).await?,
        session
            .case(Call::SubmitReport, Via::Direct, plan.highest_level())
            .await?,
        session.case(Call::SubmitReports, Via::Gateway, plan.clients).await?,
    ];
    let tally = session.finish().await?;
    Ok((cases, endpoints.watched, tally))
}

/// The five servers as `duban serve` processes, with their databases and logs. The
/// processes come first, so that dropping a fleet kills them before their databases
/// are dropped and their directory removed.
struct Fleet {
    processes: Vec<(Server, Process)>,
    layout: Layout,
    /// What every child gets; each also gets its own `DATABASE_URL`.
    env: Vec<(String, String)>,
    databases: BTreeMap<Server, TestDatabase>,
    admin_token: String,
    service_token: String,
    dir: TempDir,
}

impl Fleet {
    /// Fresh databases on `backend`, tokens and ports; nothing started yet.
    async fn new(backend: Backend, concurrency_limit: usize) -> anyhow::Result<Fleet> {
        let dir = temporary_directory("duban-bench-servers-")?;
        let mut databases = BTreeMap::new();
        for server in Server::ALL.into_iter().filter(|server| server.stores()) {
            let database = TestDatabase::new(backend)
                .await
                .ok_or_else(|| anyhow!("PostgreSQL at {} is not reachable", testing::postgres_admin_url()))?;
            databases.insert(server, database);
        }
        let layout = Layout::unclaimed();
        let (admin_token, service_token) = (new_token(), new_token());
        let mut env = layout.env();
        env.extend([
            (
                "DUBAN__DATA_DIR".to_owned(),
                dir.path().join("data").display().to_string(),
            ),
            ("DUBAN__AUTH__SERVICE_TOKEN".to_owned(), service_token.clone()),
            ("DUBAN__AUTH__BOOTSTRAP_ADMIN_TOKEN".to_owned(), admin_token.clone()),
            (
                "DUBAN__SERVER__MAX_CONCURRENT_REQUESTS".to_owned(),
                concurrency_limit.to_string(),
            ),
        ]);
        Ok(Fleet {
            processes: Vec::new(),
            layout,
            env,
            databases,
            admin_token,
            service_token,
            dir,
        })
    }

    /// Starts `duban serve <server>` and waits until it is SERVING: the time that took.
    async fn launch(&mut self, duban: &Path, server: Server) -> anyhow::Result<Duration> {
        let mut env = self.env.clone();
        if let Some(database) = self.databases.get(&server) {
            env.push((
                format!("DUBAN__{}__DATABASE_URL", section(server)),
                database.url().to_owned(),
            ));
        }
        let name = server.to_string();
        let log = self.dir.path().join(format!("{name}.log"));
        let mut process = Process::spawn(
            duban,
            &format!("serve {name}"),
            &["serve", name.as_str()],
            &env,
            &log,
            false,
        )?;
        let since = process.started;
        let took = until_serving(&mut process, &[(server, self.layout.addr(server))], since).await?;
        self.processes.push((server, process));
        Ok(took.into_iter().max().unwrap_or_default())
    }

    /// Runs `duban plan import` against measures, as production's one-shot job does:
    /// how long it took and its last line.
    async fn import_plan(&self, duban: &Path) -> anyhow::Result<(Duration, String)> {
        let measures = self.layout.addr(Server::Measures).to_string();
        let mut command = duban_command(duban, &self.env);
        command
            .args(["plan", "import", "--addr", &measures, "--timeout", "60"])
            .env("DUBAN_TOKEN", &self.admin_token)
            .stdin(Stdio::null());
        let began = Instant::now();
        let output = tokio::task::spawn_blocking(move || command.output())
            .await
            .context("the plan import's thread failed")?
            .context("cannot run `duban plan import`")?;
        let took = began.elapsed();
        let stdout = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            bail!(
                "`duban plan import` failed ({}):\n{stdout}\n{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok((took, stdout.lines().last().unwrap_or_default().trim().to_owned()))
    }

    /// A channel to `server` with the service token (as the harness reads the plan).
    fn service_channel(&self, server: Server) -> ServiceChannel {
        testing::channel_with(
            &ClientSettings::default(),
            self.layout.addr(server),
            Some(&self.service_token),
        )
    }

    /// Fails, naming the first server whose process has exited, with its log's end.
    fn all_running(&mut self) -> anyhow::Result<()> {
        self.processes
            .iter_mut()
            .try_for_each(|(_, process)| process.still_running())
    }

    /// Every server's process and this one (the clients), for their CPU time.
    fn watched(&self) -> Watched {
        let servers = self
            .processes
            .iter()
            .map(|(server, process)| (server.to_string(), process.pid()));
        let clients = ("duban-bench (clients)".to_owned(), std::process::id());
        Watched::new(servers.chain([clients]).collect())
    }

    /// Each server's memory now, in start-up order.
    fn memory(&self) -> anyhow::Result<Vec<Memory>> {
        self.processes
            .iter()
            .map(|(server, process)| Memory::of(process.pid()).with_context(|| format!("the {server} server")))
            .collect()
    }

    /// SIGTERM to each server, newest first, each waited for before the next.
    async fn stop_all(&mut self) -> Vec<(Server, Stop)> {
        let mut stops = Vec::new();
        for (server, process) in self.processes.iter_mut().rev() {
            let stop = process.terminate().await.unwrap_or_else(|error| {
                // kill(1) failed: the handle's drop kills it; report it as killed.
                eprintln!("cannot stop the {server} server: {error:#}");
                Stop::Killed
            });
            stops.push((*server, stop));
        }
        stops
    }
}

fn print_start(fleet: &Fleet, started: &[(Server, Duration)], limit: usize) {
    println!(
        "Five `duban serve` processes, each on its own fresh {} database, logging at info as in production, server.max_concurrent_requests {limit}, otherwise production defaults; logs in {}:\n",
        fleet
            .databases
            .values()
            .next()
            .map_or_else(|| "?".to_owned(), |database| database.backend().to_string()),
        fleet.dir.path().display()
    );
    println!("| server | pid | spawn → SERVING s |");
    println!("|---|---|---|");
    for ((server, took), (_, process)) in started.iter().zip(&fleet.processes) {
        println!("| {server} | {} | {:.3} |", process.pid(), took.as_secs_f64());
    }
    println!();
}

fn print_memory(fleet: &Fleet, idle: &[Memory], after: &[Memory]) {
    println!(
        "Memory of each server (/proc/<pid>/status; MB = 2^20 bytes): VmRSS once started with the plan imported, and VmRSS, its anonymous part (RssAnon: heap and stacks) and VmHWM (peak) after the largest run; the target is VmRSS ≤ {RSS_TARGET_MB:.0} MB after the largest run:\n"
    );
    println!("| server | pid | VmRSS idle MB | VmRSS MB | RssAnon MB | VmHWM MB | ≤ {RSS_TARGET_MB:.0} MB? |");
    println!("|---|---|---|---|---|---|---|");
    for (((server, process), idle), after) in fleet.processes.iter().zip(idle).zip(after) {
        println!(
            "| {server} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {} |",
            process.pid(),
            megabytes(idle.rss_kb),
            megabytes(after.rss_kb),
            megabytes(after.anon_kb),
            megabytes(after.hwm_kb),
            if megabytes(after.rss_kb) <= RSS_TARGET_MB {
                "yes"
            } else {
                "NO"
            }
        );
    }
    println!();
}

fn print_stops(stops: &[(Server, Stop)]) {
    let said: Vec<String> = stops
        .iter()
        .map(|(server, stop)| match stop {
            Stop::Exited(took, status) if status.success() => format!("{server} {:.2} s", took.as_secs_f64()),
            Stop::Exited(took, status) => format!("{server} exited with {status} after {:.2} s", took.as_secs_f64()),
            Stop::Killed => format!(
                "{server} KILLED (SIGKILL): still running {} s after SIGTERM",
                STOP_LIMIT.as_secs()
            ),
        })
        .collect();
    println!("Stopped with SIGTERM, newest first: {}\n", said.join(", "));
}

fn megabytes(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

/// A process's resident memory, from `/proc/<pid>/status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Memory {
    /// VmRSS: resident now.
    rss_kb: u64,
    /// VmHWM: the most ever resident.
    hwm_kb: u64,
    /// RssAnon: the part of VmRSS that is anonymous memory (the heap, thread stacks),
    /// not mapped files; what is left is code and shared libraries.
    anon_kb: u64,
}

impl Memory {
    fn of(pid: u32) -> anyhow::Result<Memory> {
        let path = format!("/proc/{pid}/status");
        let status = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
        Memory::parse(&status).with_context(|| format!("{path} has no VmRSS or VmHWM in kB"))
    }

    /// VmRSS, VmHWM and RssAnon of a `/proc/<pid>/status` text.
    fn parse(status: &str) -> Option<Memory> {
        Some(Memory {
            rss_kb: status_kb(status, "VmRSS")?,
            hwm_kb: status_kb(status, "VmHWM")?,
            anon_kb: status_kb(status, "RssAnon")?,
        })
    }
}

/// The value of a `Field:   1234 kB` line.
fn status_kb(status: &str, field: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let value = line.strip_prefix(field)?.strip_prefix(':')?;
        value.trim().strip_suffix("kB")?.trim().parse().ok()
    })
}

/// Where each server listens: a free loopback port each, no two the same.
#[derive(Debug)]
struct Layout {
    listen: BTreeMap<Server, SocketAddr>,
}

impl Layout {
    fn unclaimed() -> Layout {
        let mut listen: BTreeMap<Server, SocketAddr> = BTreeMap::new();
        for server in Server::ALL {
            let addr = loop {
                let port = testing::unclaimed_port();
                if listen.values().all(|taken| taken.port() != port) {
                    break SocketAddr::from(([127, 0, 0, 1], port));
                }
            };
            listen.insert(server, addr);
        }
        Layout { listen }
    }

    fn addr(&self, server: Server) -> SocketAddr {
        self.listen[&server]
    }

    /// Every server's `listen` and `endpoint`, and its `/metrics` on any free port
    /// (nothing here reads them), as `DUBAN__<SERVER>__*` variables.
    fn env(&self) -> Vec<(String, String)> {
        self.listen
            .iter()
            .flat_map(|(&server, addr)| {
                let section = section(server);
                [
                    (format!("DUBAN__{section}__LISTEN"), addr.to_string()),
                    (format!("DUBAN__{section}__METRICS_LISTEN"), "127.0.0.1:0".to_owned()),
                    (format!("DUBAN__{section}__ENDPOINT"), testing::endpoint(*addr)),
                ]
            })
            .collect()
    }
}

/// The settings section of `server`, as its environment variables spell it.
fn section(server: Server) -> String {
    server.to_string().to_uppercase()
}

/// Keeps `dir` after a failure, for its logs, and says where.
fn keep_logs(dir: &mut TempDir, whose: &str) {
    dir.disable_cleanup(true);
    eprintln!("({whose} logs are kept in {})", dir.path().display());
}

fn temporary_directory(prefix: &str) -> anyhow::Result<TempDir> {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .context("cannot create a temporary directory")
}

/// `duban` with only the `DUBAN*` variables of `env` (none inherited from this
/// process, so the caller's shell cannot change the run) and without `RUST_LOG`, so
/// that it logs as production does (`log.filter`, `info`).
fn duban_command(duban: &Path, env: &[(String, String)]) -> Command {
    let mut command = Command::new(duban);
    for (variable, _) in std::env::vars_os() {
        if variable.to_string_lossy().starts_with("DUBAN") {
            command.env_remove(variable);
        }
    }
    command.envs(env.iter().cloned()).env_remove("RUST_LOG");
    command
}

/// A `duban` child process with its output in a log file. Dropping it kills it
/// (SIGKILL) unless it has exited, so that no error leaves it running.
struct Process {
    /// Its subcommand, for messages: `up`, `serve reporting`.
    name: String,
    child: Child,
    log: PathBuf,
    started: Instant,
}

/// How a child ended after SIGTERM.
#[derive(Debug)]
enum Stop {
    /// It exited by itself this long after SIGTERM.
    Exited(Duration, ExitStatus),
    /// It was still running [`STOP_LIMIT`] after SIGTERM and was killed.
    Killed,
}

impl Process {
    /// Starts `duban <args>` (see [`duban_command`]) with its stderr, and its stdout
    /// unless `pipe_stdout`, appended to `log`.
    fn spawn(
        duban: &Path,
        name: &str,
        args: &[&str],
        env: &[(String, String)],
        log: &Path,
        pipe_stdout: bool,
    ) -> anyhow::Result<Process> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("cannot create {}", log.display()))?;
        let stdout = if pipe_stdout {
            Stdio::piped()
        } else {
            Stdio::from(file.try_clone().context("cannot share the log file")?)
        };
        let started = Instant::now();
        let child = duban_command(duban, env)
            .args(args)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(file)
            .spawn()
            .with_context(|| format!("cannot start `{} {name}`", duban.display()))?;
        Ok(Process {
            name: name.to_owned(),
            child,
            log: log.to_owned(),
            started,
        })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn take_stdout(&mut self) -> anyhow::Result<ChildStdout> {
        self.child
            .stdout
            .take()
            .with_context(|| format!("`duban {}` has no standard output pipe", self.name))
    }

    /// Fails, naming the child and showing the end of its log, if it has exited.
    fn still_running(&mut self) -> anyhow::Result<()> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => bail!(
                "`duban {}` exited early ({status}); the end of its log ({}):\n{}",
                self.name,
                self.log.display(),
                self.tail()
            ),
            Err(error) => bail!("cannot tell whether `duban {}` is running: {error}", self.name),
        }
    }

    /// The last [`TAIL_LINES`] lines of its log.
    fn tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n")
    }

    /// SIGTERM, then waits until it exits, for [`STOP_LIMIT`] at most; then it is killed.
    async fn terminate(&mut self) -> anyhow::Result<Stop> {
        let sent = Instant::now();
        // Through kill(1): sending a signal from Rust needs `unsafe` (libc::kill), which
        // the workspace forbids.
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .context("cannot run kill")?;
        if !status.success() {
            bail!("`kill -TERM {}` failed ({status})", self.pid());
        }
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(Stop::Exited(sent.elapsed(), status));
            }
            if sent.elapsed() > STOP_LIMIT {
                self.child.kill()?;
                self.child.wait()?;
                return Ok(Stop::Killed);
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Polls grpc.health.v1 Check of each server's service until every one answers SERVING:
/// for each, the time from `since`. Fails as soon as `process` exits, and after
/// [`STARTUP`].
async fn until_serving(
    process: &mut Process,
    servers: &[(Server, SocketAddr)],
    since: Instant,
) -> anyhow::Result<Vec<Duration>> {
    let mut clients: Vec<_> = servers
        .iter()
        .map(|&(server, addr)| (server, addr, testing::health_client(addr)))
        .collect();
    let mut serving: Vec<Option<Duration>> = vec![None; servers.len()];
    let mut last = String::new();
    loop {
        process.still_running()?;
        for ((server, addr, client), done) in clients.iter_mut().zip(serving.iter_mut()) {
            if done.is_some() {
                continue;
            }
            let mut request = tonic::Request::new(HealthCheckRequest {
                service: server.grpc_service().to_owned(),
            });
            request.set_timeout(Duration::from_secs(1));
            match client.check(request).await {
                Ok(answer) if answer.get_ref().status() == ServingStatus::Serving => {
                    *done = Some(since.elapsed());
                }
                Ok(answer) => last = format!("{server} at {addr}: {:?}", answer.get_ref().status()),
                Err(status) => last = format!("{server} at {addr}: {:?} {}", status.code(), status.message()),
            }
        }
        if serving.iter().all(Option::is_some) {
            return Ok(serving.into_iter().flatten().collect());
        }
        if since.elapsed() > STARTUP {
            bail!(
                "`duban {}` is not SERVING after {} s (last answer: {last}); the end of its log:\n{}",
                process.name,
                STARTUP.as_secs(),
                process.tail()
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::{Memory, status_kb};

    const STATUS: &str = "Name:\tduban\nUmask:\t0022\nState:\tS (sleeping)\nVmPeak:\t  912340 kB\n\
                          VmHWM:\t   48212 kB\nVmRSS:\t   40960 kB\nRssAnon:\t   30000 kB\nThreads:\t5\n";

    #[test]
    fn memory_is_read_from_proc_status() {
        assert_eq!(
            Memory::parse(STATUS),
            Some(Memory {
                rss_kb: 40_960,
                hwm_kb: 48_212,
                anon_kb: 30_000,
            })
        );
        // A prefix of another field's name is not that field.
        assert_eq!(status_kb("VmRSSX:\t1 kB\n", "VmRSS"), None);
        assert_eq!(status_kb(STATUS, "Threads"), None, "not in kB");
        assert_eq!(Memory::parse("VmRSS:\t1 kB\n"), None, "no VmHWM");
        assert_eq!(Memory::parse("VmRSS:\t1 kB\nVmHWM:\t1 kB\n"), None, "no RssAnon");
    }

    #[test]
    fn this_process_has_memory() {
        let memory = Memory::of(std::process::id()).unwrap();
        assert!(memory.rss_kb > 0 && memory.hwm_kb >= memory.rss_kb, "{memory:?}");
        assert!(memory.anon_kb > 0 && memory.anon_kb <= memory.rss_kb, "{memory:?}");
    }

    #[test]
    fn the_servers_mode_takes_its_options_and_refuses_bad_ones() {
        use clap::Parser;

        use crate::Args;
        let parses = |argv: &[&str]| Args::try_parse_from([&["duban-bench"], argv].concat()).is_ok();
        assert!(parses(&["--servers", "--smoke"]));
        assert!(!parses(&["--servers", "--rpcs"]));
        assert!(!parses(&["--servers", "--overview"]));
        assert!(!parses(&["--smoke"]), "--smoke without a mode");
        assert!(!parses(&["--duban", "/bin/true"]), "--duban without --servers");

        // Any existing file stands for the binary here.
        let exe = std::env::current_exe().unwrap();
        let exe = exe.to_str().unwrap();
        let setup = |extra: &[&str]| {
            super::Setup::of(&Args::parse_from(
                [&["duban-bench", "--servers", "--duban", exe], extra].concat(),
            ))
        };
        assert_eq!(setup(&[]).unwrap().up_runs, 5);
        assert_eq!(setup(&["--smoke", "--up-runs", "7"]).unwrap().up_runs, 1);
        let error = setup(&["--up-runs", "0"]).unwrap_err();
        assert!(error.to_string().contains("--up-runs"), "{error}");
        assert!(setup(&["--in-flight", "0"]).is_err());
    }

    #[test]
    fn a_missing_duban_binary_names_the_build_command() {
        let error = super::duban_binary(Some(std::path::Path::new("/nonexistent/duban"))).unwrap_err();
        assert!(error.to_string().contains("cargo build -p duban-cli"), "{error}");
    }
}
