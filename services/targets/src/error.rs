//! Everything that can go wrong in the targets service, and its one mapping onto the
//! suite's error vocabulary (`duban_kit::error`).

use duban_kit::{
    FieldViolation,
    auth::AuthError,
    error::{self, DependencyUnavailable, EtagMismatch, NotFound},
    idempotency::ReplayError,
};
use sea_orm::DbErr;
use tonic::Status;

/// A targets-service failure.
#[derive(Debug, thiserror::Error)]
pub enum TargetsError {
    /// Not authenticated, or not allowed.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The request has invalid fields; every one is listed.
    #[error("invalid request: {}", error::summary(.0))]
    Invalid(Vec<FieldViolation>),
    /// A `target`, `revision` or `plan` does not exist.
    #[error(transparent)]
    NotFound(#[from] NotFound),
    /// The caller's etag is stale (AIP-154).
    #[error(transparent)]
    EtagMismatch(#[from] EtagMismatch),
    /// A sync would change targets rebaselined since the previous sync.
    #[error(
        "targets rebaselined since the previous sync would change: {}; \
         set overwrite_rebaselined_targets to replace the rebaselines",
        .codes.join(", ")
    )]
    RebaselineConflict {
        /// The codes of those targets.
        codes: Vec<String>,
    },
    /// A concurrent write to the same targets committed first.
    #[error("{0} changed concurrently; read it again and retry")]
    Concurrent(String),
    /// A request id was reused for another request (AIP-155), or its log failed.
    #[error(transparent)]
    Replay(#[from] ReplayError),
    /// Another service could not be asked.
    #[error(transparent)]
    Dependency(#[from] DependencyUnavailable),
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] DbErr),
}

impl TargetsError {
    /// One invalid field.
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldViolation::new(field, description)])
    }
}

impl From<TargetsError> for Status {
    fn from(error: TargetsError) -> Status {
        let message = error.to_string();
        match error {
            TargetsError::Auth(auth) => auth.into(),
            TargetsError::Invalid(violations) => error::invalid_fields(&violations),
            TargetsError::NotFound(not_found) => not_found.into(),
            TargetsError::EtagMismatch(stale) => stale.into(),
            TargetsError::RebaselineConflict { codes } => {
                error::failed_precondition("REBASELINE_CONFLICT", message, [("targets", codes.join(","))])
            }
            TargetsError::Concurrent(name) => error::aborted("CONCURRENT_MODIFICATION", message, [("name", name)]),
            TargetsError::Replay(replay) => replay.into(),
            TargetsError::Dependency(dependency) => dependency.into(),
            TargetsError::Db(db) => error::database(&db),
        }
    }
}
