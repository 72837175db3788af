//! AIP-155 request ids: the first response to a `(caller, method, request_id)` is stored
//! in the same transaction as the write it acknowledges, so a retry gets that response
//! back and writes nothing, even across a crash. Each service's migrator includes
//! [`CreateRequestLog`] to own this table in its own database.
//!
//! Retention: an id is remembered for [`REQUEST_ID_RETENTION`] after its first answer,
//! then forgotten ([`forget_before`]); a retry after that is a new request. Reporting
//! forgets inside its single writer; the other services, whose writes are independent
//! single-row transactions, run [`keep_pruned`] beside them.

use std::time::Duration;

use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter};
use sea_orm_migration::prelude::*;
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use crate::status::FieldViolation;

/// The stored responses.
pub mod request_log {
    use sea_orm::entity::prelude::*;

    /// One acknowledged write.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "request_log")]
    pub struct Model {
        /// Who sent it (a principal label), so callers cannot replay each other's ids.
        #[sea_orm(primary_key, auto_increment = false)]
        pub caller: String,
        /// The RPC's full method name.
        #[sea_orm(primary_key, auto_increment = false)]
        pub method: String,
        /// The caller's request id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub request_id: String,
        /// SHA-256 of the encoded request, to catch an id reused for another request.
        pub request_sha256: String,
        /// The encoded response that was sent.
        pub response: Vec<u8>,
        /// When it was stored, in microseconds since the Unix epoch.
        pub create_time_us: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// How long a request id is remembered after its first answer. AIP-155 asks for at
/// least an hour; a day lets a department system that failed in the evening retry the
/// next morning without storing its report twice.
pub const REQUEST_ID_RETENTION: Duration = Duration::from_secs(24 * 3600);

/// How often [`keep_pruned`] forgets expired request ids: each run deletes about this
/// long's worth of the oldest rows, so every DELETE stays short.
pub const PRUNE_EVERY: Duration = Duration::from_secs(600);

/// The time before which request ids are forgotten, for a clock reading `now_us`.
pub fn retention_cutoff(now_us: i64) -> i64 {
    now_us.saturating_sub(REQUEST_ID_RETENTION.as_micros().try_into().unwrap_or(i64::MAX))
}

/// Forgets the request ids first answered before `before_us`; how many were forgotten.
pub async fn forget_before(db: &impl ConnectionTrait, before_us: i64) -> Result<u64, DbErr> {
    Ok(request_log::Entity::delete_many()
        .filter(request_log::Column::CreateTimeUs.lt(before_us))
        .exec(db)
        .await?
        .rows_affected)
}

/// Forgets expired request ids of `db` every [`PRUNE_EVERY`] until `stopping`: for a
/// service without a single writer. It touches only rows a day old, which no write
/// of the moment reads or locks, so it cannot hold a write up.
pub fn keep_pruned(db: DatabaseConnection, stopping: CancellationToken) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(PRUNE_EVERY);
        loop {
            tokio::select! {
                () = stopping.cancelled() => return,
                _ = every.tick() => {}
            }
            let cutoff = retention_cutoff(chrono::Utc::now().timestamp_micros());
            match forget_before(&db, cutoff).await {
                Ok(0) => {}
                Ok(forgotten) => tracing::debug!(forgotten, "forgot expired request ids"),
                Err(error) => tracing::warn!(%error, "cannot forget expired request ids; retrying later"),
            }
        }
    });
}

/// Who and what a request id belongs to.
#[derive(Debug, Clone)]
pub struct RequestKey {
    caller: String,
    method: &'static str,
    request_id: String,
    request_sha256: String,
}

impl RequestKey {
    /// What the request log is keyed by: caller, method, request id.
    pub fn identity(&self) -> (&str, &'static str, &str) {
        (&self.caller, self.method, &self.request_id)
    }

    /// `None` when the request carries no id (then it is not idempotent).
    pub fn new(caller: &str, method: &'static str, request_id: &str, request: &impl prost::Message) -> Option<Self> {
        (!request_id.is_empty()).then(|| Self {
            caller: caller.to_owned(),
            method,
            request_id: request_id.to_owned(),
            request_sha256: hex::encode(Sha256::digest(request.encode_to_vec())),
        })
    }
}

/// Why a stored response could not be replayed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The id was used before for a different request.
    #[error("request_id was already used for a different request")]
    Reused(FieldViolation),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbErr),
}

impl From<ReplayError> for tonic::Status {
    fn from(error: ReplayError) -> tonic::Status {
        match error {
            ReplayError::Reused(violation) => crate::error::request_id_reused(&violation),
            ReplayError::Db(error) => crate::error::database(&error),
        }
    }
}

/// The response stored for `key`, if this request was already acknowledged.
pub async fn replay<R: prost::Message + Default>(
    db: &impl ConnectionTrait,
    key: &RequestKey,
) -> Result<Option<R>, ReplayError> {
    let stored = crate::db::by_key(
        request_log::Entity::find_by_id((key.caller.clone(), key.method.to_owned(), key.request_id.clone())),
        db,
    )
    .await?;
    let Some(stored) = stored else { return Ok(None) };
    if stored.request_sha256 != key.request_sha256 {
        return Err(ReplayError::Reused(FieldViolation::new(
            "request_id",
            "was already used for a different request; use a new id for a new request",
        )));
    }
    R::decode(stored.response.as_slice())
        .map(Some)
        .map_err(|error| ReplayError::Db(DbErr::Custom(format!("stored response does not decode: {error}"))))
}

/// Which of `keys` have a stored response, as (caller, method, request id): one
/// statement per caller and method (a writer's batch is almost always one of each) and
/// hundred ids, so that a writer reading a batch's request ids at once learns which few
/// need [`replay`]. Each statement names its caller and method once and the ids in an
/// `IN` list, so both databases seek every id in the primary key: an OR of whole keys
/// let PostgreSQL factor out the shared caller and method and, with a young table's
/// statistics, scan every id they had ever sent (BENCHMARKS.md, "Fifth run").
pub async fn recorded<'k>(
    db: &impl ConnectionTrait,
    keys: impl IntoIterator<Item = &'k RequestKey>,
) -> Result<Vec<(String, String, String)>, DbErr> {
    use request_log::Column as C;
    use sea_orm::QuerySelect;
    let mut by_caller: std::collections::BTreeMap<(&str, &str), Vec<&str>> = std::collections::BTreeMap::new();
    for key in keys {
        by_caller
            .entry((key.caller.as_str(), key.method))
            .or_default()
            .push(key.request_id.as_str());
    }
    let mut found = Vec::new();
    for ((caller, method), ids) in by_caller {
        for chunk in ids.chunks(100) {
            found.extend(
                request_log::Entity::find()
                    .select_only()
                    .columns([C::Caller, C::Method, C::RequestId])
                    .filter(C::Caller.eq(caller))
                    .filter(C::Method.eq(method))
                    .filter(C::RequestId.is_in(chunk.iter().copied()))
                    .into_tuple::<(String, String, String)>()
                    .all(db)
                    .await?,
            );
        }
    }
    Ok(found)
}

/// As [`replay`], for a request that may carry no id (then there is nothing to replay).
pub async fn replay_keyed<R: prost::Message + Default>(
    db: &impl ConnectionTrait,
    key: &Option<RequestKey>,
) -> Result<Option<R>, ReplayError> {
    match key {
        Some(key) => replay(db, key).await,
        None => Ok(None),
    }
}

/// The answer after a write lost a race (a unique key or version already taken): the
/// stored response of this very request if the write that won was a concurrent retry
/// of it with the same id, else the caller's `conflict`.
pub async fn replay_or_conflict<R, E>(db: &impl ConnectionTrait, key: &Option<RequestKey>, conflict: E) -> Result<R, E>
where
    R: prost::Message + Default,
    E: From<ReplayError>,
{
    match replay_keyed(db, key).await? {
        Some(done) => Ok(done),
        None => Err(conflict),
    }
}

/// Records `response` under `key` in `txn` and commits. If a concurrent retry with the
/// same id committed first, rolls back and answers what that one answered, so both
/// callers see one outcome.
pub async fn commit<R: prost::Message + Default>(
    db: &impl ConnectionTrait,
    txn: sea_orm::DatabaseTransaction,
    key: &Option<RequestKey>,
    response: R,
) -> Result<R, ReplayError> {
    if let Some(key) = key
        && !record(&txn, key, &response).await?
    {
        txn.rollback().await?;
        return replay(db, key).await?.ok_or_else(|| {
            ReplayError::Db(DbErr::RecordNotFound(
                "the request log entry of a concurrent retry".into(),
            ))
        });
    }
    txn.commit().await?;
    Ok(response)
}

/// A domain service whose writes are made idempotent by the request log in its own
/// database: it names the database and its error type, and gets `replay` and `finish`.
pub trait RequestLogged {
    /// The service's error, which a failed replay converts into.
    type Error: From<ReplayError>;

    /// The database holding the request log.
    fn request_log_db(&self) -> &sea_orm::DatabaseConnection;

    /// The stored response of an already-acknowledged request.
    fn replay<R: prost::Message + Default>(
        &self,
        key: &Option<RequestKey>,
    ) -> impl Future<Output = Result<Option<R>, Self::Error>> + Send
    where
        Self: Sync,
    {
        async move { Ok(replay_keyed(self.request_log_db(), key).await?) }
    }

    /// Records the response under the request id and commits; if a concurrent retry
    /// with the same id committed first, answers what that one answered.
    fn finish<R: prost::Message + Default>(
        &self,
        txn: sea_orm::DatabaseTransaction,
        key: Option<RequestKey>,
        response: R,
    ) -> impl Future<Output = Result<R, Self::Error>> + Send
    where
        Self: Sync,
    {
        async move { Ok(commit(self.request_log_db(), txn, &key, response).await?) }
    }
}

/// Stores `response` for `key`, inside the caller's transaction. Returns `Ok(false)`
/// if a concurrent request with the same id won the race: roll back and replay.
pub async fn record(
    db: &impl ConnectionTrait,
    key: &RequestKey,
    response: &impl prost::Message,
) -> Result<bool, DbErr> {
    let row = request_log::ActiveModel {
        caller: Set(key.caller.clone()),
        method: Set(key.method.to_owned()),
        request_id: Set(key.request_id.clone()),
        request_sha256: Set(key.request_sha256.clone()),
        response: Set(response.encode_to_vec()),
        create_time_us: Set(chrono::Utc::now().timestamp_micros()),
    };
    match request_log::Entity::insert(row).exec(db).await {
        Ok(_) => Ok(true),
        Err(error) if crate::db::is_unique_violation(&error) => Ok(false),
        Err(error) => Err(error),
    }
}

/// Records many responses, each under its key, in one statement: for a writer that has
/// checked, in the same transaction, that none of the keys is stored (a key stored
/// meanwhile fails the statement, and with it the caller's transaction).
pub async fn record_all(db: &impl ConnectionTrait, records: Vec<(RequestKey, Vec<u8>)>) -> Result<(), DbErr> {
    let now_us = chrono::Utc::now().timestamp_micros();
    let rows = records.into_iter().map(|(key, response)| request_log::ActiveModel {
        caller: Set(key.caller),
        method: Set(key.method.to_owned()),
        request_id: Set(key.request_id),
        request_sha256: Set(key.request_sha256),
        response: Set(response),
        create_time_us: Set(now_us),
    });
    request_log::Entity::insert_many(rows)
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Creates the `request_log` table.
#[derive(Debug)]
pub struct CreateRequestLog;

impl MigrationName for CreateRequestLog {
    fn name(&self) -> &str {
        "m20261127_000001_create_request_log"
    }
}

#[derive(DeriveIden)]
enum RequestLog {
    Table,
    Caller,
    Method,
    RequestId,
    RequestSha256,
    Response,
    CreateTimeUs,
}

#[async_trait::async_trait]
impl MigrationTrait for CreateRequestLog {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(RequestLog::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(RequestLog::Caller).string().not_null())
                    .col(ColumnDef::new(RequestLog::Method).string().not_null())
                    .col(ColumnDef::new(RequestLog::RequestId).string().not_null())
                    .col(ColumnDef::new(RequestLog::RequestSha256).string().not_null())
                    .col(ColumnDef::new(RequestLog::Response).blob().not_null())
                    .col(ColumnDef::new(RequestLog::CreateTimeUs).big_integer().not_null())
                    .primary_key(
                        Index::create()
                            .col(RequestLog::Caller)
                            .col(RequestLog::Method)
                            .col(RequestLog::RequestId),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(RequestLog::Table).to_owned())
            .await
    }
}

// Needs the `testing` feature, which the workspace's test build turns on (the servers'
// tests ask for it).
#[cfg(all(test, feature = "testing"))]
mod tests {
    use super::*;
    use crate::testing::{Backend, TestDatabase, remember_request_id as remember};

    struct RequestLogOnly;

    impl MigratorTrait for RequestLogOnly {
        fn migrations() -> Vec<Box<dyn MigrationTrait>> {
            vec![Box::new(CreateRequestLog)]
        }
    }

    async fn expired_request_ids_are_forgotten_and_recent_ones_kept(backend: Backend) {
        let Some(database) = TestDatabase::new(backend).await else {
            return;
        };
        let db = crate::db::connect_and_migrate::<RequestLogOnly>(database.url())
            .await
            .unwrap();
        let now = chrono::Utc::now().timestamp_micros();
        let cutoff = retention_cutoff(now);
        assert_eq!(now - cutoff, 24 * 3600 * 1_000_000, "a day");
        remember(&db, "two-days-old", now - 2 * 24 * 3600 * 1_000_000).await;
        remember(&db, "just-expired", cutoff - 1).await;
        remember(&db, "an-hour-old", now - 3600 * 1_000_000).await;
        assert_eq!(forget_before(&db, cutoff).await.unwrap(), 2);
        let kept: Vec<String> = request_log::Entity::find()
            .all(&db)
            .await
            .unwrap()
            .into_iter()
            .map(|row| row.request_id)
            .collect();
        assert_eq!(kept, ["an-hour-old"]);
        assert_eq!(forget_before(&db, cutoff).await.unwrap(), 0);
    }

    /// `recorded` answers exactly the stored keys among those asked, across callers
    /// and methods, and past its hundred ids a statement.
    async fn recorded_finds_the_stored_keys_of_each_caller_and_method(backend: Backend) {
        let Some(database) = TestDatabase::new(backend).await else {
            return;
        };
        let db = crate::db::connect_and_migrate::<RequestLogOnly>(database.url())
            .await
            .unwrap();
        const SUBMIT: &str = "/duban.reporting.v1.ReportingService/SubmitReport";
        const ACCEPT: &str = "/duban.reporting.v1.ReportingService/AcceptReport";
        let key =
            |caller: &str, method: &'static str, id: String| RequestKey::new(caller, method, &id, &()).expect("an id");
        let stored: Vec<RequestKey> = (0..150)
            .map(|i| key("department:anting-town", SUBMIT, format!("s-{i}")))
            .chain([
                key("admin", SUBMIT, "s-1".into()),
                key("department:anting-town", ACCEPT, "a-1".into()),
            ])
            .collect();
        record_all(&db, stored.iter().map(|k| (k.clone(), Vec::new())).collect())
            .await
            .unwrap();
        let asked: Vec<RequestKey> = (100..250)
            .map(|i| key("department:anting-town", SUBMIT, format!("s-{i}")))
            .chain([
                key("admin", SUBMIT, "s-1".into()),
                key("admin", SUBMIT, "s-2".into()),
                key("department:anting-town", ACCEPT, "s-1".into()),
                key("department:malu-town", ACCEPT, "a-1".into()),
            ])
            .collect();
        let mut found = recorded(&db, &asked).await.unwrap();
        found.sort();
        let mut expected: Vec<(String, String, String)> = (100..150)
            .map(|i| ("department:anting-town".into(), SUBMIT.into(), format!("s-{i}")))
            .chain([("admin".into(), SUBMIT.into(), "s-1".into())])
            .collect();
        expected.sort();
        assert_eq!(found, expected);
    }

    crate::backend_tests!(expired_request_ids_are_forgotten_and_recent_ones_kept);
    crate::backend_tests!(recorded_finds_the_stored_keys_of_each_caller_and_method);
}
