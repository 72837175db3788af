//! Crash safety of the reporting server's durable write path: the real `duban serve
//! reporting` binary runs as a child process, is killed with SIGKILL while many
//! SubmitReport calls are in flight, and is restarted on the same database. Every
//! acknowledged `request_id` must then be stored exactly once (a retry returns the
//! revision first acknowledged and stores nothing), and no request, acknowledged or not,
//! may ever be stored twice. The departments, targets and measures servers run in this
//! process, each on a fresh database; SQLite and PostgreSQL.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs::OpenOptions,
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use duban_harness::{PLAN, ReportKey as Key, ReportingClient, Server, Suite};
use duban_kit::testing::{self, Backend, TestDatabase};
use duban_proto::reporting::v1::{self as pb, reporting_service_client::ReportingServiceClient};
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};

const DUBAN: &str = env!("CARGO_BIN_EXE_duban");
/// How long a server (in process or the child) may take to answer SERVING.
const STARTUP: Duration = Duration::from_secs(60);
/// Concurrent submitters, each over its own HTTP/2 connection.
const WORKERS: usize = 16;
/// Kill the child once this many submissions were acknowledged...
const KILL_AFTER_ACKS: usize = 150;
/// ...or, at the latest, after this long, provided at least `MIN_ACKS` were.
const LOAD_LIMIT: Duration = Duration::from_secs(20);
const MIN_ACKS: usize = 50;
/// Report keys written to: few enough that many revisions of one key race each other.
const KEYS: usize = 48;
const NARRATIVE_PREFIX: &str = "崩溃测试 request ";

type Client = ReportingClient;

/// The reporting server as a child process; killed (SIGKILL) when dropped, so that a
/// failing assertion never leaves it running.
struct ReportingChild {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
}

fn free_port() -> u16 {
    duban_kit::testing::unclaimed_port()
}

impl ReportingChild {
    /// Starts `duban serve reporting` on a free loopback port, configured only by
    /// environment variables; its output goes to `log`.
    fn spawn(env: &[(String, String)], log: &Path) -> ReportingChild {
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let out = OpenOptions::new().create(true).append(true).open(log).unwrap();
        let err = out.try_clone().unwrap();
        let mut command = Command::new(DUBAN);
        // Only what this test sets: nothing from the environment it runs in.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("DUBAN") {
                command.env_remove(name);
            }
        }
        let child = command
            .args(["serve", "reporting"])
            .envs(env.iter().cloned())
            .env("DUBAN__REPORTING__LISTEN", addr.to_string())
            .env("DUBAN__REPORTING__METRICS_LISTEN", "127.0.0.1:0")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {DUBAN}: {error}"));
        ReportingChild {
            child,
            addr,
            log: log.to_owned(),
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// Polls grpc.health.v1 until the reporting service is SERVING; fails at once if the
    /// child exits, and after [`STARTUP`].
    async fn wait_serving(&mut self) {
        let mut health = testing::health_client(self.addr);
        let deadline = Instant::now() + STARTUP;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "duban serve reporting exited with {status} before SERVING; its log:\n{}",
                    self.log_tail()
                );
            }
            let mut request = tonic::Request::new(HealthCheckRequest {
                service: duban_reporting::SERVICE_NAME.to_owned(),
            });
            request.set_timeout(Duration::from_secs(2));
            let last = match health.check(request).await {
                Ok(answer) if answer.get_ref().status() == ServingStatus::Serving => return,
                Ok(answer) => format!("{:?}", answer.get_ref().status()),
                Err(status) => format!("{:?} {}", status.code(), status.message()),
            };
            assert!(
                Instant::now() < deadline,
                "the reporting child at {} is not SERVING after {STARTUP:?} (last answer: {last}); its log:\n{}",
                self.addr,
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGKILL: no shutdown hook, no drain, no final commit.
    fn kill(&mut self) {
        self.child.kill().expect("the child can be killed");
        let status = self.child.wait().unwrap();
        assert!(
            !status.success(),
            "the child exited normally ({status}), not by SIGKILL"
        );
    }

    fn client(&self, token: &str) -> Client {
        ReportingServiceClient::new(testing::channel(self.addr, Some(token)))
    }
}

impl Drop for ReportingChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Departments, targets and measures in this process (the Jiading plan imported), a
/// fresh database for the reporting child, and the environment that configures the
/// child against them.
struct Fixture {
    suite: Suite,
    child_env: Vec<(String, String)>,
    data_dir: tempfile::TempDir,
    // Declared last: dropped after the child is gone.
    _reporting_db: TestDatabase,
}

impl Fixture {
    async fn start(backend: Backend) -> Option<Fixture> {
        let suite = Suite::builder(backend)
            .with(Server::Measures)
            .startup_timeout(STARTUP)
            .start()
            .await?;
        let reporting_db = TestDatabase::new(backend).await?;
        let data_dir = tempfile::Builder::new().prefix("duban-crash-").tempdir().unwrap();
        let settings = suite.settings();
        let child_env = vec![
            ("DUBAN__DATA_DIR".to_owned(), data_dir.path().display().to_string()),
            (
                "DUBAN__REPORTING__DATABASE_URL".to_owned(),
                reporting_db.url().to_owned(),
            ),
            (
                "DUBAN__DEPARTMENTS__ENDPOINT".to_owned(),
                settings.departments.endpoint.clone(),
            ),
            (
                "DUBAN__MEASURES__ENDPOINT".to_owned(),
                settings.measures.endpoint.clone(),
            ),
            ("DUBAN__TARGETS__ENDPOINT".to_owned(), settings.targets.endpoint.clone()),
            (
                "DUBAN__AUTH__SERVICE_TOKEN".to_owned(),
                settings.auth.service_token.clone(),
            ),
            ("DUBAN__LOG__FORMAT".to_owned(), "text".to_owned()),
        ];
        Some(Fixture {
            suite,
            child_env,
            data_dir,
            _reporting_db: reporting_db,
        })
    }

    fn admin_token(&self) -> &str {
        self.suite.admin_token()
    }

    fn log_path(&self) -> PathBuf {
        self.data_dir.path().join("reporting.log")
    }

    /// `KEYS` report keys (measure, responsible department, month) spread over the plan.
    async fn keys(&self) -> Vec<Key> {
        let all = self.suite.responsibilities().await.unwrap();
        assert!(all.len() >= KEYS / 2, "too few measure-department pairs: {all:?}");
        let step = (all.len() / (KEYS / 2)).max(1);
        all.iter()
            .step_by(step)
            .take(KEYS / 2)
            .flat_map(|responsibility| [4, 5].map(|month| Key::new(responsibility, month)))
            .collect()
    }

    async fn stop(self) {
        self.suite.stop().await;
    }
}

/// A submission whose narrative names its own request_id, so that every stored revision
/// can be traced back to the request that stored it.
fn submission(key: &Key, request_id: &str) -> pb::SubmitReportRequest {
    key.submission(format!("{NARRATIVE_PREFIX}{request_id}"), 1, request_id.to_owned())
}

fn request_id_of(report: &pb::Report) -> String {
    report
        .narrative
        .strip_prefix(NARRATIVE_PREFIX)
        .unwrap_or_else(|| panic!("a revision this test did not write: {report:?}"))
        .to_owned()
}

/// One SubmitReport call of the load and what it was answered.
#[derive(Debug)]
struct Attempt {
    request: pb::SubmitReportRequest,
    outcome: Result<pb::Report, tonic::Status>,
    /// Whether the answer came after the kill was decided.
    after_kill: bool,
}

#[derive(Default)]
struct Load {
    attempts: Mutex<Vec<Attempt>>,
    acked: AtomicUsize,
    in_flight: AtomicUsize,
    next: AtomicUsize,
    killed: AtomicBool,
}

async fn submitter(load: Arc<Load>, mut client: Client, keys: Arc<Vec<Key>>, limit: Instant) {
    while !load.killed.load(Ordering::SeqCst) && Instant::now() < limit {
        let n = load.next.fetch_add(1, Ordering::SeqCst);
        let request = submission(&keys[n % keys.len()], &format!("crash-{n:06}"));
        load.in_flight.fetch_add(1, Ordering::SeqCst);
        let outcome = client.submit_report(request.clone()).await.map(|r| r.into_inner());
        load.in_flight.fetch_sub(1, Ordering::SeqCst);
        // `killed` is set before the kill, so an answer broken by the kill reads `true`.
        let after_kill = load.killed.load(Ordering::SeqCst);
        if outcome.is_ok() {
            load.acked.fetch_add(1, Ordering::SeqCst);
        }
        load.attempts.lock().unwrap().push(Attempt {
            request,
            outcome,
            after_kill,
        });
    }
}

/// Every stored revision of every key, by key name; revisions oldest first.
async fn stored_revisions(client: &mut Client, keys: &[Key]) -> BTreeMap<String, Vec<pb::Report>> {
    let mut out = BTreeMap::new();
    for key in keys {
        let name = key.name();
        let mut revisions = Vec::new();
        let mut page_token = String::new();
        loop {
            let page = match client
                .list_report_revisions(pb::ListReportRevisionsRequest {
                    name: name.clone(),
                    page_size: 500,
                    page_token: page_token.clone(),
                })
                .await
            {
                Ok(page) => page.into_inner(),
                Err(status) if status.code() == tonic::Code::NotFound => break,
                Err(status) => panic!("ListReportRevisions {name}: {status:?}"),
            };
            revisions.extend(page.reports);
            if page.next_page_token.is_empty() {
                break;
            }
            page_token = page.next_page_token;
        }
        revisions.sort_by_key(|r| r.revision);
        let numbers: Vec<i32> = revisions.iter().map(|r| r.revision).collect();
        let expected: Vec<i32> = (1..=numbers.len() as i32).collect();
        assert_eq!(
            numbers, expected,
            "{name}: revisions must be 1..=n without gaps or repeats"
        );
        if !revisions.is_empty() {
            out.insert(name, revisions);
        }
    }
    out
}

/// request_id -> every (key, revision) stored for it.
fn by_request_id(stored: &BTreeMap<String, Vec<pb::Report>>) -> BTreeMap<String, Vec<(String, i32)>> {
    let mut out: BTreeMap<String, Vec<(String, i32)>> = BTreeMap::new();
    for (name, revisions) in stored {
        for revision in revisions {
            out.entry(request_id_of(revision))
                .or_default()
                .push((name.clone(), revision.revision));
        }
    }
    out
}

fn assert_stored_at_most_once(ids: &BTreeMap<String, Vec<(String, i32)>>) {
    let twice: Vec<_> = ids.iter().filter(|(_, at)| at.len() > 1).collect();
    assert!(twice.is_empty(), "request_ids stored more than once: {twice:?}");
}

async fn crash_recovery(backend: Backend) {
    let Some(suite) = Fixture::start(backend).await else {
        return;
    };
    let keys = Arc::new(suite.keys().await);
    let token = suite.admin_token().to_owned();
    let log = suite.log_path();

    // 1. Load, then SIGKILL while calls are in flight.
    let mut child = ReportingChild::spawn(&suite.child_env, &log);
    child.wait_serving().await;
    let load = Arc::new(Load::default());
    let started = Instant::now();
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            // One client per worker: its own channel, so its own HTTP/2 connection.
            tokio::spawn(submitter(
                load.clone(),
                child.client(&token),
                keys.clone(),
                started + LOAD_LIMIT + Duration::from_secs(5),
            ))
        })
        .collect();
    loop {
        let acked = load.acked.load(Ordering::SeqCst);
        let busy = load.in_flight.load(Ordering::SeqCst) >= WORKERS / 2;
        if (acked >= KILL_AFTER_ACKS || (started.elapsed() >= LOAD_LIMIT && acked >= MIN_ACKS)) && busy {
            break;
        }
        if started.elapsed() >= LOAD_LIMIT + Duration::from_secs(2) {
            let attempts = load.attempts.lock().unwrap();
            let errors: Vec<_> = attempts
                .iter()
                .filter_map(|a| a.outcome.as_ref().err())
                .take(5)
                .collect();
            panic!(
                "only {acked} of {} submissions acknowledged in {LOAD_LIMIT:?}; first errors: {errors:?}; child log:\n{}",
                attempts.len(),
                child.log_tail()
            );
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    load.killed.store(true, Ordering::SeqCst);
    let in_flight_at_kill = load.in_flight.load(Ordering::SeqCst);
    child.kill();
    let load_time = started.elapsed();
    for worker in workers {
        tokio::time::timeout(Duration::from_secs(15), worker)
            .await
            .expect("every submitter ends within 15 s of the kill")
            .unwrap();
    }
    let attempts = std::mem::take(&mut *load.attempts.lock().unwrap());
    let early_errors: Vec<_> = attempts
        .iter()
        .filter(|a| !a.after_kill)
        .filter_map(|a| a.outcome.as_ref().err())
        .collect();
    assert!(
        early_errors.is_empty(),
        "submissions failed before the kill: {:?}; child log:\n{}",
        &early_errors[..early_errors.len().min(5)],
        child.log_tail()
    );
    let acked: Vec<(&pb::SubmitReportRequest, &pb::Report)> = attempts
        .iter()
        .filter_map(|a| a.outcome.as_ref().ok().map(|r| (&a.request, r)))
        .collect();
    let unacked: Vec<&pb::SubmitReportRequest> = attempts
        .iter()
        .filter(|a| a.outcome.is_err())
        .map(|a| &a.request)
        .collect();
    assert!(acked.len() >= MIN_ACKS, "{} acknowledged", acked.len());
    assert!(in_flight_at_kill > 0, "no call was in flight at the kill");
    eprintln!(
        "[{backend}] {} submissions in {load_time:?}: {} acknowledged, {} broken by SIGKILL ({in_flight_at_kill} in flight at the kill)",
        attempts.len(),
        acked.len(),
        unacked.len(),
    );
    drop(child);

    // 2. Restart on the same database.
    let mut child = ReportingChild::spawn(&suite.child_env, &log);
    child.wait_serving().await;
    let mut client = child.client(&token);

    // 3. Every acknowledged request is stored, exactly once, where it was acknowledged;
    //    nothing is stored twice.
    let before = stored_revisions(&mut client, &keys).await;
    let ids = by_request_id(&before);
    assert_stored_at_most_once(&ids);
    for (request, ack) in &acked {
        let at = ids.get(&request.request_id).unwrap_or_else(|| {
            panic!(
                "acknowledged {} ({} revision {}) is not stored after the crash",
                request.request_id, ack.name, ack.revision
            )
        });
        assert_eq!(
            at[0],
            (ack.name.clone(), ack.revision),
            "{} is stored elsewhere than acknowledged",
            request.request_id
        );
    }
    let revisions_before: usize = before.values().map(Vec::len).sum();
    let unacked_stored = unacked.iter().filter(|r| ids.contains_key(&r.request_id)).count();
    assert_eq!(revisions_before, acked.len() + unacked_stored);
    eprintln!(
        "[{backend}] after the restart: {revisions_before} revisions stored, {unacked_stored} of them unacknowledged"
    );

    // 4. Retrying an acknowledged request returns the acknowledged revision and stores
    //    nothing.
    for (request, ack) in &acked {
        let again = client
            .submit_report((*request).clone())
            .await
            .unwrap_or_else(|status| panic!("retry of acknowledged {}: {status:?}", request.request_id))
            .into_inner();
        assert_eq!(
            (&again.name, again.revision, &again.etag),
            (&ack.name, ack.revision, &ack.etag),
            "retry of {} answered another revision",
            request.request_id
        );
        assert_eq!(&again, *ack, "retry of {} changed the answer", request.request_id);
    }
    let after_acked_retries = stored_revisions(&mut client, &keys).await;
    assert_eq!(
        after_acked_retries.values().map(Vec::len).sum::<usize>(),
        revisions_before,
        "retrying acknowledged requests stored new revisions"
    );

    // 5. Retrying an unacknowledged request stores it if the crash lost it, and returns
    //    the stored revision if not: either way it is then stored exactly once.
    for request in &unacked {
        let answer = client
            .submit_report((*request).clone())
            .await
            .unwrap_or_else(|status| panic!("retry of unacknowledged {}: {status:?}", request.request_id))
            .into_inner();
        if let Some(at) = ids.get(&request.request_id) {
            assert_eq!(
                (answer.name.clone(), answer.revision),
                at[0],
                "retry of {} (stored before the crash) answered another revision",
                request.request_id
            );
        }
    }
    let after = stored_revisions(&mut client, &keys).await;
    let final_ids = by_request_id(&after);
    assert_stored_at_most_once(&final_ids);
    let all: BTreeSet<&str> = attempts.iter().map(|a| a.request.request_id.as_str()).collect();
    let stored: BTreeSet<&str> = final_ids.keys().map(String::as_str).collect();
    assert_eq!(
        stored, all,
        "after retries every attempted request_id is stored exactly once"
    );

    // 6. ListReports: one entry per key, showing its latest revision.
    let mut listed = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_reports(pb::ListReportsRequest {
                parent: PLAN.into(),
                page_size: 500,
                page_token: page_token.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        listed.extend(page.reports);
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    let names: Vec<&str> = listed.iter().map(|r| r.name.as_str()).collect();
    let unique: BTreeSet<&str> = names.iter().copied().collect();
    assert_eq!(names.len(), unique.len(), "ListReports lists a report twice: {names:?}");
    let latest: BTreeMap<&str, i32> = after.iter().map(|(n, r)| (n.as_str(), r.len() as i32)).collect();
    let shown: BTreeMap<&str, i32> = listed.iter().map(|r| (r.name.as_str(), r.revision)).collect();
    assert_eq!(
        shown, latest,
        "ListReports must show each key once, at its latest revision"
    );

    drop(child);
    suite.stop().await;
}

duban_kit::backend_tests!(crash_recovery);
