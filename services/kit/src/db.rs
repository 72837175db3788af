//! Each service's own database: SQLite in WAL mode with durable commits by default, or
//! PostgreSQL from a `postgres://` URL; migrations run before the service says SERVING.

use std::{path::Path, time::Duration};

use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, EntityTrait, Select, sqlx,
    sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous},
};
use sea_orm_migration::MigratorTrait;

/// The PostgreSQL advisory lock migrations run under (any constant would do: advisory
/// locks are per database, and each server has a database of its own).
const MIGRATION_LOCK: i64 = 0x6475_6261_6e5f_6d69; // "duban_mi"

/// Connects to `url` and applies every pending migration of `M`. On PostgreSQL the
/// migrations run under an advisory lock, so that replicas starting together migrate
/// once: the first takes the lock and migrates, the others wait for it and then find
/// nothing pending.
pub async fn connect_and_migrate<M: MigratorTrait>(url: &str) -> Result<DatabaseConnection, DbErr> {
    let db = connect(url).await?;
    if db.get_database_backend() != DbBackend::Postgres {
        M::up(&db, None).await?;
        return Ok(db);
    }
    // A session lock lives on one connection: hold that connection until unlocked.
    let mut session = db
        .get_postgres_connection_pool()
        .acquire()
        .await
        .map_err(|e| DbErr::Conn(sea_orm::RuntimeErr::SqlxError(std::sync::Arc::new(e))))?;
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *session)
        .await
        .map_err(|e| DbErr::Custom(format!("cannot take the migration lock: {e}")))?;
    let migrated = M::up(&db, None).await;
    let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *session)
        .await;
    migrated?;
    unlocked.map_err(|e| DbErr::Custom(format!("cannot release the migration lock: {e}")))?;
    Ok(db)
}

/// The row `select` finds by a primary or unique key, if any. Use it instead of
/// sea-orm's `one()` for key lookups: `one()` sends `LIMIT ?`, and SQLite as sqlx bundles
/// it (built with STAT4) marks a statement whose LIMIT is a parameter for re-preparing
/// every time the parameter is bound again, that is on every call. That re-parse cost a
/// fifth of GetReport's CPU (BENCHMARKS.md, "What the profiles showed").
pub async fn by_key<E: EntityTrait>(select: Select<E>, db: &impl ConnectionTrait) -> Result<Option<E::Model>, DbErr> {
    let mut rows = select.all(db).await?;
    if rows.len() > 1 {
        return Err(DbErr::Custom(format!(
            "a lookup by key found {} rows of {}",
            rows.len(),
            E::default().table_name()
        )));
    }
    Ok(rows.pop())
}

/// Prepared statements each SQLite connection keeps, least recently used first out
/// (sqlx's default is 100). On SQLite a prepared statement is the compiled program in the
/// server's own heap, and a writer batch's multi-row statements differ in text with their
/// row count, so they are rarely run twice yet each takes tens of kilobytes: a heap profile
/// of reporting (BENCHMARKS.md, sixth run) found 60 MB of its 105 MB peak in about 940 such
/// statements over the pool's 8 connections. The statements every read runs stay among the
/// most recently used, so 32 keeps them prepared and bounds the rest.
pub const SQLITE_STATEMENTS_KEPT: usize = 32;

/// Connects to `url`. For SQLite the file and its folder are created if missing.
pub async fn connect(url: &str) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .sqlx_logging(false)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(10));
    if let Some(path) = sqlite_path(url) {
        if let Some(parent) = Path::new(path).parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| DbErr::Custom(format!("cannot create {}: {e}", parent.display())))?;
        }
        // WAL lets readers run beside the one writer; FULL syncs the WAL on every commit,
        // so an acknowledged write survives power loss, not only a process crash.
        options.max_connections(8).map_sqlx_sqlite_opts(|opts| {
            opts.create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(Duration::from_secs(5))
                .foreign_keys(true)
                .statement_cache_capacity(SQLITE_STATEMENTS_KEPT)
        });
    } else {
        options.max_connections(16);
    }
    let db = Database::connect(options).await?;
    db.execute_unprepared("SELECT 1").await?;
    Ok(db)
}

/// On SQLite, an exclusive lock on the database file's `.lock` companion, held for as
/// long as the returned file stays open, so that a second server on the same file
/// refuses to start instead of racing the first (a server's writer and live event feed
/// assume they are alone on a SQLite file: several replicas need PostgreSQL). `None`
/// for PostgreSQL and in-memory databases. The lock goes with the process, even on a
/// crash.
pub fn claim_sqlite_file(url: &str) -> std::io::Result<Option<std::fs::File>> {
    let Some(path) = sqlite_path(url) else {
        return Ok(None);
    };
    if let Some(parent) = Path::new(path).parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let lock_path = format!("{path}.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Err(std::io::Error::new(
            std::io::ErrorKind::AddrInUse,
            format!(
                "another server is using the SQLite database {path} ({lock_path} is locked); several replicas need PostgreSQL"
            ),
        )),
        Err(std::fs::TryLockError::Error(error)) => Err(error),
    }
}

/// Whether a write lost a race that the database refereed: a unique key taken by a
/// concurrent writer, or (PostgreSQL) a serialization failure or deadlock. Retrying the
/// request decides it again against the winner's committed state.
pub fn is_concurrent_write(error: &DbErr) -> bool {
    if is_unique_violation(error) {
        return true;
    }
    let source = match error {
        DbErr::Query(sea_orm::RuntimeErr::SqlxError(e)) | DbErr::Exec(sea_orm::RuntimeErr::SqlxError(e)) => e,
        _ => return false,
    };
    matches!(
        source.as_database_error().and_then(|e| e.code()).as_deref(),
        Some("40001" | "40P01")
    )
}

/// Whether a database error means the database could not be reached or went away: no
/// connection could be had (refused, timed out, pool closed), or one broke in the middle of
/// a statement (an I/O error, a TLS failure), or PostgreSQL said it is shutting down or
/// refuses connections (SQLSTATE class 08, 57P01-57P03, 53300). Such a failure is
/// retryable and says nothing about the request, unlike a failed statement.
pub fn is_unreachable(error: &DbErr) -> bool {
    let source = match error {
        DbErr::Conn(_) | DbErr::ConnectionAcquire(_) => return true,
        DbErr::Query(sea_orm::RuntimeErr::SqlxError(e)) | DbErr::Exec(sea_orm::RuntimeErr::SqlxError(e)) => e,
        _ => return false,
    };
    match source.as_ref() {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(database) => database.code().is_some_and(|code| {
            code.starts_with("08") || matches!(code.as_ref(), "57P01" | "57P02" | "57P03" | "53300")
        }),
        _ => false,
    }
}

/// Whether a database error is a unique-constraint violation: how a taken key, a
/// concurrent duplicate or an idempotency key is told apart from a real failure.
pub fn is_unique_violation(error: &DbErr) -> bool {
    matches!(error.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_)))
}

/// How often [`keep_planner_statistics`] analyzes a PostgreSQL database whose
/// autovacuum is off, at the most: autovacuum's own default interval.
pub const ANALYZE_EVERY: Duration = Duration::from_secs(60);
/// The first interval of [`keep_planner_statistics`], doubled after each refresh up to
/// [`ANALYZE_EVERY`]: a young database's tables change most in proportion to their size,
/// as autovacuum's threshold (a tenth of the table) would also find.
const FIRST_ANALYZE_AFTER: Duration = Duration::from_secs(2);

/// What [`refresh_planner_statistics`] found and did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Statistics {
    /// Not PostgreSQL: SQLite's planner is given no statistics (every query here is
    /// written to be planned well without them).
    NotPostgres,
    /// PostgreSQL's autovacuum keeps them; nothing was done.
    KeptByAutovacuum,
    /// Autovacuum is off, so the database was analyzed.
    Analyzed,
}

/// On PostgreSQL with autovacuum off, runs `ANALYZE` on this service's database.
///
/// Why: with no statistics, PostgreSQL's planner takes a young table for an empty one.
/// It then reads a batch's request ids by scanning every id their caller and method ever
/// sent, since the shared (caller, method) prefix seems to name one row. On a PostgreSQL
/// with autovacuum off, that halved the writer's throughput (BENCHMARKS.md, "Fifth run").
pub async fn refresh_planner_statistics(db: &DatabaseConnection) -> Result<Statistics, DbErr> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(Statistics::NotPostgres);
    }
    let autovacuum = db
        .query_one_raw(sea_orm::Statement::from_string(DbBackend::Postgres, "SHOW autovacuum"))
        .await?
        .map(|row| row.try_get_by_index::<String>(0))
        .transpose()?;
    if autovacuum.as_deref() == Some("on") {
        return Ok(Statistics::KeptByAutovacuum);
    }
    db.execute_unprepared("ANALYZE").await?;
    Ok(Statistics::Analyzed)
}

/// Keeps the planner's statistics of `db` until `stopping` (see
/// [`refresh_planner_statistics`]): at once, then after 2 s, 4 s, 8 s … and from then on
/// every [`ANALYZE_EVERY`]. Says once, as a warning, that it does autovacuum's work, and
/// stops for good if autovacuum is on.
pub fn keep_planner_statistics(db: DatabaseConnection, stopping: tokio_util::sync::CancellationToken) {
    if db.get_database_backend() != DbBackend::Postgres {
        return;
    }
    tokio::spawn(async move {
        let mut wait = Duration::ZERO;
        let mut warned = false;
        loop {
            tokio::select! {
                () = stopping.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
            wait = (wait * 2).clamp(FIRST_ANALYZE_AFTER, ANALYZE_EVERY);
            match refresh_planner_statistics(&db).await {
                Ok(Statistics::Analyzed) if !warned => {
                    warned = true;
                    tracing::warn!(
                        at_most_every_seconds = ANALYZE_EVERY.as_secs(),
                        "PostgreSQL's autovacuum is off: this server analyzes its database itself; turn autovacuum on"
                    );
                }
                Ok(Statistics::Analyzed) => {}
                Ok(Statistics::KeptByAutovacuum | Statistics::NotPostgres) => return,
                Err(error) => tracing::warn!(%error, "cannot analyze the database; retrying later"),
            }
        }
    });
}

/// The file path of a `sqlite:` URL, or `None` for other databases.
fn sqlite_path(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (path != ":memory:" && !path.is_empty()).then_some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_sqlite_paths() {
        assert_eq!(sqlite_path("sqlite://data/departments.db"), Some("data/departments.db"));
        assert_eq!(
            sqlite_path("sqlite:///var/lib/duban/x.db?mode=rwc"),
            Some("/var/lib/duban/x.db")
        );
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("postgres://postgres@127.0.0.1/duban"), None);
    }

    /// A SQLite connection keeps at most [`SQLITE_STATEMENTS_KEPT`] prepared statements,
    /// however many distinct statements it runs (sqlx's default would keep 100).
    #[cfg(feature = "testing")]
    #[tokio::test]
    async fn sqlite_connections_keep_a_bounded_number_of_statements() {
        use sea_orm::sqlx::{self, Connection as _};

        use crate::testing::{Backend, TestDatabase};

        let database = TestDatabase::new(Backend::Sqlite)
            .await
            .expect("SQLite needs no server");
        let db = connect(database.url()).await.unwrap();
        let mut connection = db.get_sqlite_connection_pool().acquire().await.unwrap();
        for n in 0..3 * SQLITE_STATEMENTS_KEPT {
            // Distinct texts, as a writer batch's multi-row statements are.
            let text = format!("SELECT {n} AS n");
            let (value,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(text))
                .fetch_one(&mut *connection)
                .await
                .unwrap();
            assert_eq!(value, n as i64);
        }
        assert_eq!(connection.cached_statements_size(), SQLITE_STATEMENTS_KEPT);
    }

    /// With autovacuum off (as on the machines CI runs on), a refresh analyzes the
    /// database: a table filled since has statistics after it. With autovacuum on, it
    /// leaves them to autovacuum. SQLite is left alone.
    #[cfg(feature = "testing")]
    #[tokio::test]
    async fn postgres_statistics_are_kept_when_autovacuum_is_off() {
        use crate::testing::{Backend, TestDatabase};

        let sqlite = TestDatabase::new(Backend::Sqlite)
            .await
            .expect("SQLite needs no server");
        let sqlite = connect(sqlite.url()).await.unwrap();
        assert_eq!(
            refresh_planner_statistics(&sqlite).await.unwrap(),
            Statistics::NotPostgres
        );

        let Some(database) = TestDatabase::new(Backend::Postgres).await else {
            return;
        };
        let db = connect(database.url()).await.unwrap();
        db.execute_unprepared("CREATE TABLE filled (id integer primary key)")
            .await
            .unwrap();
        db.execute_unprepared("INSERT INTO filled SELECT generate_series(1, 1000)")
            .await
            .unwrap();
        let query = |sql: &'static str| {
            let db = db.clone();
            async move {
                let row = db
                    .query_one_raw(sea_orm::Statement::from_string(DbBackend::Postgres, sql))
                    .await
                    .unwrap()
                    .unwrap();
                row.try_get_by_index::<String>(0).unwrap()
            }
        };
        let autovacuum = query("SHOW autovacuum").await;
        let analyzed = "SELECT (last_analyze IS NOT NULL)::text FROM pg_stat_user_tables WHERE relname = 'filled'";
        assert_eq!(query(analyzed).await, "false");
        let refreshed = refresh_planner_statistics(&db).await.unwrap();
        if autovacuum == "on" {
            assert_eq!(refreshed, Statistics::KeptByAutovacuum);
        } else {
            assert_eq!(refreshed, Statistics::Analyzed);
            assert_eq!(query(analyzed).await, "true");
            let estimate = "SELECT reltuples::bigint::text FROM pg_class WHERE relname = 'filled'";
            assert_eq!(query(estimate).await, "1000");
        }
        db.close().await.unwrap();
    }

    #[tokio::test]
    async fn sqlite_runs_in_wal_mode_with_full_sync() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("nested/x.db").display());
        let db = connect(&url).await.unwrap();
        let mode = db
            .query_one_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                "PRAGMA journal_mode",
            ))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(mode.try_get_by_index::<String>(0).unwrap(), "wal");
        let sync = db
            .query_one_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                "PRAGMA synchronous",
            ))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(sync.try_get_by_index::<i32>(0).unwrap(), 2, "2 is FULL");
    }
}
