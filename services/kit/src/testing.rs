//! What integration tests of a Duban server need (feature `testing`): a fresh database
//! per test on SQLite or PostgreSQL, settings for a server on an ephemeral port, a
//! wait for SERVING, and channels that carry a bearer token.
//!
//! PostgreSQL tests use the server at `DUBAN_TEST_DATABASE_URL` (default
//! [`DEFAULT_POSTGRES_URL`]). When it is unreachable they are skipped with a loud
//! message on stderr, unless `DUBAN_REQUIRE_POSTGRES=1`, which turns the skip into a
//! failure (set it in CI).
//!
//! ```ignore
//! async fn lists_units(backend: Backend) {
//!     let Some(db) = TestDatabase::new(backend).await else { return }; // skipped
//!     let settings = test_settings(db.url());
//!     // start the server with `settings`, then wait_serving(addr, "", timeout) ...
//! }
//! duban_kit::backend_tests!(lists_units);
//! ```

use std::{
    io::Write,
    net::SocketAddr,
    path::PathBuf,
    sync::Mutex,
    time::{Duration, Instant},
};

use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbErr};
use tempfile::TempDir;
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient};

use crate::{
    Settings,
    client::{ServiceChannel, connect_lazy},
    settings::{AuthSettings, ClientSettings, ServerLimits, ServiceSettings},
};

/// The PostgreSQL server tests use when `DUBAN_TEST_DATABASE_URL` is not set: its
/// maintenance database, where the per-test databases are created and dropped.
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Set to `1` to fail, rather than skip, PostgreSQL tests when the server is unreachable.
pub const REQUIRE_POSTGRES_VAR: &str = "DUBAN_REQUIRE_POSTGRES";

/// The variable naming the PostgreSQL server for tests.
pub const POSTGRES_URL_VAR: &str = "DUBAN_TEST_DATABASE_URL";

/// How long dropping a PostgreSQL test database may take before it is abandoned.
const DROP_TIMEOUT: Duration = Duration::from_secs(10);

/// The database engine a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file in a temporary directory.
    Sqlite,
    /// A database created for the test on the PostgreSQL server of `DUBAN_TEST_DATABASE_URL`.
    Postgres,
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        })
    }
}

/// The PostgreSQL server's maintenance URL: `DUBAN_TEST_DATABASE_URL` or [`DEFAULT_POSTGRES_URL`].
pub fn postgres_admin_url() -> String {
    std::env::var(POSTGRES_URL_VAR)
        .ok()
        .filter(|url| !url.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_POSTGRES_URL.to_owned())
}

/// Whether `DUBAN_REQUIRE_POSTGRES=1` (or `true`) is set.
pub fn postgres_required() -> bool {
    std::env::var(REQUIRE_POSTGRES_VAR).is_ok_and(|value| matches!(value.trim(), "1" | "true" | "yes"))
}

/// Whether the PostgreSQL server for tests answers (within a few seconds).
pub async fn postgres_available() -> bool {
    probe_postgres(&postgres_admin_url()).await.is_ok()
}

/// Whether `url` answers; the first answer is kept for the rest of the test process,
/// so that a missing server costs one connect timeout, not one per test.
async fn probe_postgres(url: &str) -> Result<(), String> {
    static PROBED: Mutex<Option<(String, Result<(), String>)>> = Mutex::new(None);
    if let Some((probed, outcome)) = PROBED.lock().unwrap_or_else(|e| e.into_inner()).as_ref()
        && probed == url
    {
        return outcome.clone();
    }
    let outcome = probe_postgres_now(url).await;
    *PROBED.lock().unwrap_or_else(|e| e.into_inner()) = Some((url.to_owned(), outcome.clone()));
    outcome
}

async fn probe_postgres_now(url: &str) -> Result<(), String> {
    let check = async {
        let db = admin_connection(url).await?;
        db.execute_unprepared("SELECT 1").await?;
        db.close().await
    };
    match tokio::time::timeout(Duration::from_secs(5), check).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(error.to_string()),
        Err(_) => Err("no answer within 5 s".to_owned()),
    }
}

async fn admin_connection(url: &str) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(1)
        .min_connections(0)
        .connect_timeout(Duration::from_secs(3))
        .acquire_timeout(Duration::from_secs(3))
        .sqlx_logging(false);
    Database::connect(options).await
}

/// A fresh, empty database for one test, removed when dropped.
#[derive(Debug)]
pub struct TestDatabase {
    backend: Backend,
    url: String,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    /// The directory holds the file (and WAL files); it is removed on drop.
    Sqlite {
        _dir: TempDir,
        /// While set, this path is a regular file where the database's folder should be.
        blocker: Option<PathBuf>,
    },
    /// `name` lives on the server of `admin_url` and is dropped on drop.
    Postgres { admin_url: String, name: String },
}

impl TestDatabase {
    /// A fresh database on `backend`. `None` means the test must be skipped: PostgreSQL
    /// is unreachable and `DUBAN_REQUIRE_POSTGRES` is not set (a loud message says so).
    ///
    /// # Panics
    ///
    /// If PostgreSQL is unreachable and `DUBAN_REQUIRE_POSTGRES=1`, or if the database
    /// cannot be created.
    pub async fn new(backend: Backend) -> Option<TestDatabase> {
        let db = Self::new_pending(backend).await?;
        db.make_available().await;
        Some(db)
    }

    /// A database whose URL does not work yet: connecting fails until
    /// [`TestDatabase::make_available`] is called. For testing how a server behaves
    /// while its database is down at start (NOT_SERVING, retries). `None` as in
    /// [`TestDatabase::new`].
    pub async fn new_pending(backend: Backend) -> Option<TestDatabase> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::Builder::new()
                    .prefix("duban-test-")
                    .tempdir()
                    .unwrap_or_else(|error| panic!("cannot create a temporary directory: {error}"));
                // A regular file where the database's folder goes: creating the folder,
                // and so opening the database, fails until it is removed.
                let blocker = dir.path().join("db");
                std::fs::write(&blocker, b"not a directory")
                    .unwrap_or_else(|error| panic!("cannot write {}: {error}", blocker.display()));
                let url = format!("sqlite://{}", blocker.join("test.db").display());
                Some(TestDatabase {
                    backend,
                    url,
                    kind: Kind::Sqlite {
                        _dir: dir,
                        blocker: Some(blocker),
                    },
                })
            }
            Backend::Postgres => {
                let admin_url = postgres_admin_url();
                if let Err(error) = probe_postgres(&admin_url).await {
                    skip_or_fail(&admin_url, &error);
                    return None;
                }
                let name = format!("duban_test_{:016x}{:08x}", rand::random::<u64>(), std::process::id());
                let url = with_database(&admin_url, &name);
                Some(TestDatabase {
                    backend,
                    url,
                    kind: Kind::Postgres { admin_url, name },
                })
            }
        }
    }

    /// Makes a database from [`TestDatabase::new_pending`] usable (creates it). Does
    /// nothing if it already is.
    ///
    /// # Panics
    ///
    /// If the database cannot be created.
    pub async fn make_available(&self) {
        match &self.kind {
            Kind::Sqlite { blocker: None, .. } => {}
            Kind::Sqlite {
                blocker: Some(blocker), ..
            } => {
                if blocker.is_file() {
                    std::fs::remove_file(blocker)
                        .unwrap_or_else(|error| panic!("cannot remove {}: {error}", blocker.display()));
                }
                std::fs::create_dir_all(blocker)
                    .unwrap_or_else(|error| panic!("cannot create {}: {error}", blocker.display()));
            }
            Kind::Postgres { admin_url, name } => {
                let create = async {
                    let db = admin_connection(admin_url).await?;
                    let exists = db
                        .query_one_raw(sea_orm::Statement::from_sql_and_values(
                            sea_orm::DatabaseBackend::Postgres,
                            "SELECT 1 FROM pg_database WHERE datname = $1",
                            [name.as_str().into()],
                        ))
                        .await?
                        .is_some();
                    if !exists {
                        db.execute_unprepared(&format!("CREATE DATABASE \"{name}\"")).await?;
                    }
                    db.close().await
                };
                match tokio::time::timeout(Duration::from_secs(30), create).await {
                    Ok(Ok(())) => {}
                    Ok(Err(error)) => panic!("cannot create test database {name}: {error}"),
                    Err(_) => panic!("creating test database {name} took more than 30 s"),
                }
            }
        }
    }

    /// The database's URL, for `Settings::<service>.database_url`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The backend it runs on.
    pub fn backend(&self) -> Backend {
        self.backend
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // A SQLite TempDir removes itself. A PostgreSQL database is dropped from a thread
        // of its own with its own runtime, so that this works inside (and outside) any
        // tokio runtime; WITH (FORCE) ends the connections a server may still hold.
        let Kind::Postgres { admin_url, name } = &self.kind else {
            return;
        };
        let (admin_url, name) = (admin_url.clone(), name.clone());
        let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
        let dropper = std::thread::spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(runtime) => runtime,
                Err(error) => return Err(format!("cannot start a runtime: {error}")),
            };
            runtime.block_on(async {
                let drop = async {
                    let db = admin_connection(&admin_url).await?;
                    db.execute_unprepared(&sql).await?;
                    db.close().await
                };
                match tokio::time::timeout(DROP_TIMEOUT, drop).await {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(error)) => Err(error.to_string()),
                    Err(_) => Err(format!("no answer within {} s", DROP_TIMEOUT.as_secs())),
                }
            })
        });
        match dropper.join() {
            Ok(Ok(())) => {}
            Ok(Err(error)) => eprintln!("warning: cannot drop test database {name}: {error}"),
            Err(_) => eprintln!("warning: dropping test database {name} panicked"),
        }
    }
}

/// Skips loudly, or panics when PostgreSQL is required.
fn skip_or_fail(admin_url: &str, error: &str) {
    let shown = redact(admin_url);
    if postgres_required() {
        panic!(
            "PostgreSQL at {shown} is unreachable ({error}), and {REQUIRE_POSTGRES_VAR}=1 requires it. \
             Start PostgreSQL or point {POSTGRES_URL_VAR} at a server."
        );
    }
    // Straight to the stderr handle, not eprintln!: the test harness captures the
    // macros' output of passing tests, and a skip must be seen.
    let _ = writeln!(
        std::io::stderr(),
        "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
         !!! PostgreSQL at {shown} is unreachable: SKIPPING PostgreSQL tests\n\
         !!! ({error})\n\
         !!! Set {POSTGRES_URL_VAR} to a reachable server, or {REQUIRE_POSTGRES_VAR}=1 to fail instead.\n\
         !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
    );
}

/// `url` with its path (the database name) replaced by `database`, query kept.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[authority_start..]
        .find('/')
        .map_or(base.len(), |i| authority_start + i);
    let mut out = format!("{}/{database}", &base[..path_start]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

/// `url` without its password, for messages.
fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let authority_end = url[scheme_end..].find(['/', '?']).map_or(url.len(), |i| scheme_end + i);
    let authority = &url[scheme_end..authority_end];
    match authority.rsplit_once('@') {
        Some((userinfo, host)) if userinfo.contains(':') => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}{user}:***@{host}{}", &url[..scheme_end], &url[authority_end..])
        }
        _ => url.to_owned(),
    }
}

/// Settings for a server under test: the departments server listens on
/// `127.0.0.1:0` with `db_url` as its database (see [`test_service`] for the others);
/// `auth.service_token` and `auth.bootstrap_admin_token` are fresh random tokens (read
/// them from the returned settings); shutdown drains for 500 ms at most; `data_dir` is
/// a path under the system temporary directory that nothing creates unless a server
/// writes there.
pub fn test_settings(db_url: &str) -> Settings {
    let defaults = Settings::default();
    Settings {
        data_dir: std::env::temp_dir().join(format!("duban-test-{:016x}", rand::random::<u64>())),
        auth: AuthSettings {
            service_token: crate::auth::new_token(),
            bootstrap_admin_token: crate::auth::new_token(),
            ..defaults.auth.clone()
        },
        server: ServerLimits {
            shutdown_grace_ms: 500,
            request_timeout_ms: 10_000,
            ..defaults.server.clone()
        },
        departments: test_service(db_url),
        ..defaults
    }
}

/// One server's settings for a test: `127.0.0.1:0` (the real port is
/// `GrpcServer::local_addr`) and `db_url`. For example
/// `settings.measures = test_service(measures_db.url())`.
pub fn test_service(db_url: &str) -> ServiceSettings {
    ServiceSettings {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        metrics_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        endpoint: String::new(),
        database_url: db_url.to_owned(),
    }
}

/// A loopback port nothing listens on now, for a server another process will bind (a
/// test's `duban up`): picked at random below Linux's ephemeral range (32768-60999),
/// because a port the kernel handed out for `:0` and released can be handed out again
/// at once as the local port of any outgoing connection, by this test or a parallel one,
/// before the child binds it.
pub fn unclaimed_port() -> u16 {
    use rand::Rng;
    let mut rng = rand::rng();
    loop {
        let port = rng.random_range(20_000..32_000);
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// `http://{addr}`.
pub fn endpoint(addr: SocketAddr) -> String {
    format!("http://{addr}")
}

/// A lazily connecting channel to `addr` whose calls carry `authorization: Bearer
/// <token>` (none when `token` is `None`) and a 10 s deadline.
///
/// # Panics
///
/// If `token` cannot be sent as metadata.
pub fn channel(addr: SocketAddr, token: Option<&str>) -> ServiceChannel {
    channel_with(&ClientSettings::default(), addr, token)
}

/// The deadline of a test client's call. Generous: a stream of hundreds of durable writes
/// to PostgreSQL took over 10 s in CI while two cores were shared with other builds, and
/// the client's "Timeout expired" failed tests that were right. A test of deadlines sets
/// its own.
pub const TEST_CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// As [`channel`], over TLS as `client.tls` says (a CA file: TLS, verified against it,
/// with the client certificate if one is set).
///
/// # Panics
///
/// If `token` cannot be sent as metadata, or a `client.tls` file is unusable.
pub fn channel_with(client: &ClientSettings, addr: SocketAddr, token: Option<&str>) -> ServiceChannel {
    connect_lazy(&endpoint(addr), token, TEST_CALL_TIMEOUT, client)
        .unwrap_or_else(|error| panic!("cannot build a channel to {addr}: {error}"))
}

/// A grpc.health.v1 client for the server at `addr`.
pub fn health_client(addr: SocketAddr) -> HealthClient<Channel> {
    let channel = Endpoint::from_shared(endpoint(addr))
        .unwrap_or_else(|error| panic!("bad address {addr}: {error}"))
        .connect_timeout(Duration::from_secs(2))
        .connect_lazy();
    HealthClient::new(channel)
}

/// Polls grpc.health.v1 `Check` for `service` (`""` is the whole server) until it
/// answers SERVING.
///
/// # Panics
///
/// After `timeout`, with the last answer.
pub async fn wait_serving(addr: SocketAddr, service: &str, timeout: Duration) {
    if let Err(not_serving) = until_serving(addr, service, timeout).await {
        panic!("{not_serving}");
    }
}

/// A server that did not answer SERVING in time, and its last answer.
#[derive(Debug, thiserror::Error)]
#[error("{service:?} at {addr} is not SERVING after {timeout:?}; last answer: {last}")]
pub struct NotServing {
    /// Where the server listens.
    pub addr: SocketAddr,
    /// The service asked about (`""` is the whole server).
    pub service: String,
    /// How long it was given.
    pub timeout: Duration,
    /// The last health answer, or the error the call ended with.
    pub last: String,
}

/// Like [`wait_serving`], with an error instead of a panic, for callers that report
/// failures themselves (the benchmark).
pub async fn until_serving(addr: SocketAddr, service: &str, timeout: Duration) -> Result<(), NotServing> {
    until_serving_with(&ClientSettings::default(), addr, service, timeout).await
}

/// As [`until_serving`], asking over TLS as `client.tls` says.
///
/// # Panics
///
/// If a `client.tls` file is unusable.
pub async fn until_serving_with(
    client: &ClientSettings,
    addr: SocketAddr,
    service: &str,
    timeout: Duration,
) -> Result<(), NotServing> {
    let channel = connect_lazy(&endpoint(addr), None, Duration::from_secs(2), client)
        .unwrap_or_else(|error| panic!("cannot build a channel to {addr}: {error}"));
    let mut client = HealthClient::new(channel);
    let deadline = Instant::now() + timeout;
    loop {
        let mut request = tonic::Request::new(HealthCheckRequest {
            service: service.to_owned(),
        });
        request.set_timeout(Duration::from_secs(2));
        let last = match client.check(request).await {
            Ok(response) if response.get_ref().status() == ServingStatus::Serving => return Ok(()),
            Ok(response) => format!("{:?}", response.get_ref().status()),
            Err(status) => format!("error {:?}: {}", status.code(), status.message()),
        };
        if Instant::now() >= deadline {
            return Err(NotServing {
                addr,
                service: service.to_owned(),
                timeout,
                last,
            });
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Turns `async fn scenario(backend: Backend)` functions into two tests each,
/// `scenario::sqlite` and `scenario::postgres`. The calling crate needs `tokio` (with
/// its `macros` feature) as a dependency.
#[macro_export]
macro_rules! backend_tests {
    ($($scenario:ident),+ $(,)?) => {
        $(
            mod $scenario {
                #[tokio::test]
                async fn sqlite() {
                    super::$scenario($crate::testing::Backend::Sqlite).await;
                }

                #[tokio::test]
                async fn postgres() {
                    super::$scenario($crate::testing::Backend::Postgres).await;
                }
            }
        )+
    };
}

/// Asserts that every status carries an `ErrorInfo` in the suite's domain whose reason
/// `is_listed` (a package's `ErrorReason::from_str_name(..).is_some()`), naming `package`
/// in the failure: the check that what a server sends is what its proto lists.
pub fn assert_reasons_listed(
    package: &str,
    statuses: impl IntoIterator<Item = tonic::Status>,
    is_listed: impl Fn(&str) -> bool,
) {
    use tonic_types::StatusExt;
    for status in statuses {
        let info = status
            .get_details_error_info()
            .unwrap_or_else(|| panic!("{:?} {:?} carries no ErrorInfo", status.code(), status.message()));
        assert_eq!(info.domain, crate::status::ERROR_DOMAIN, "{}", status.message());
        assert!(
            is_listed(&info.reason),
            "reason {} ({:?}: {}) is not a value of duban.{package}.v1.ErrorReason",
            info.reason,
            status.code(),
            status.message()
        );
    }
}

/// Stores a request id of a department's SubmitReport as answered at `create_time_us`
/// (empty request hash and response), for tests of its retention.
///
/// # Panics
///
/// If the row cannot be stored.
pub async fn remember_request_id(db: &impl ConnectionTrait, request_id: &str, create_time_us: i64) {
    use sea_orm::{ActiveValue::Set, EntityTrait};

    use crate::idempotency::request_log;

    let row = request_log::ActiveModel {
        caller: Set("department:anting-town".into()),
        method: Set("/duban.reporting.v1.ReportingService/SubmitReport".into()),
        request_id: Set(request_id.into()),
        request_sha256: Set(String::new()),
        response: Set(Vec::new()),
        create_time_us: Set(create_time_us),
    };
    if let Err(error) = request_log::Entity::insert(row).exec(db).await {
        panic!("cannot store the request id {request_id}: {error}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_names_replace_the_path_and_keep_the_query() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
            "postgres://postgres@127.0.0.1:5432/t1"
        );
        assert_eq!(
            with_database("postgres://u:p@db/postgres?sslmode=disable", "t1"),
            "postgres://u:p@db/t1?sslmode=disable"
        );
        assert_eq!(with_database("postgres://db", "t1"), "postgres://db/t1");
    }

    #[test]
    fn passwords_stay_out_of_messages() {
        assert_eq!(redact("postgres://u:secret@db:5432/x"), "postgres://u:***@db:5432/x");
        assert_eq!(redact("postgres://u@db/x"), "postgres://u@db/x");
    }

    #[test]
    fn settings_listen_on_an_ephemeral_port_with_fresh_tokens() {
        let (a, b) = (test_settings("sqlite://x.db"), test_settings("sqlite://x.db"));
        assert_eq!(a.departments.listen.port(), 0);
        assert_eq!(a.departments.database_url, "sqlite://x.db");
        assert_ne!(a.auth.service_token, b.auth.service_token);
        assert_ne!(a.auth.bootstrap_admin_token, a.auth.service_token);
    }

    #[tokio::test]
    async fn sqlite_databases_are_fresh_and_removed() {
        let db = TestDatabase::new(Backend::Sqlite).await.unwrap();
        let conn = crate::db::connect(db.url()).await.unwrap();
        conn.close().await.unwrap();
        let file = PathBuf::from(db.url().trim_start_matches("sqlite://"));
        assert!(file.exists());
        drop(db);
        assert!(!file.exists());
    }

    #[tokio::test]
    async fn pending_sqlite_databases_fail_until_made_available() {
        let db = TestDatabase::new_pending(Backend::Sqlite).await.unwrap();
        assert!(crate::db::connect(db.url()).await.is_err());
        db.make_available().await;
        assert!(crate::db::connect(db.url()).await.is_ok());
    }

    #[tokio::test]
    async fn postgres_databases_are_created_and_dropped() {
        let Some(db) = TestDatabase::new(Backend::Postgres).await else {
            return;
        };
        let Kind::Postgres { admin_url, name } = &db.kind else {
            unreachable!()
        };
        let (admin_url, name) = (admin_url.clone(), name.clone());
        // A connection still open (as a server's pool would be) must not stop the drop.
        let _conn = crate::db::connect(db.url()).await.unwrap();
        drop(db);
        let admin = admin_connection(&admin_url).await.unwrap();
        let left = admin
            .query_one_raw(sea_orm::Statement::from_sql_and_values(
                sea_orm::DatabaseBackend::Postgres,
                "SELECT 1 FROM pg_database WHERE datname = $1",
                [name.as_str().into()],
            ))
            .await
            .unwrap();
        assert!(left.is_none(), "{name} was not dropped");
    }
}
