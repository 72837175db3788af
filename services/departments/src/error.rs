//! Everything that can go wrong in the departments service, and its one mapping onto
//! the suite's error vocabulary (`duban_kit::error`).

use duban_kit::{
    FieldViolation,
    auth::AuthError,
    error::{self, EtagMismatch, NotFound},
    idempotency::ReplayError,
};
use sea_orm::DbErr;
use tonic::Status;

/// A departments-service failure.
#[derive(Debug, thiserror::Error)]
pub enum DepartmentsError {
    /// Not authenticated, or not allowed.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The request has invalid fields; every one is listed.
    #[error("invalid request: {}", error::summary(.0))]
    Invalid(Vec<FieldViolation>),
    /// A `department`, `group`, `designation`, `credential` or `unit` does not exist.
    #[error(transparent)]
    NotFound(#[from] NotFound),
    /// A code or a spelling is already taken.
    #[error("{what} is already taken by {owner}")]
    AlreadyExists {
        /// The field that collides, for example `department.aliases[1]`.
        field: String,
        /// What collides.
        what: String,
        /// Who owns it.
        owner: String,
    },
    /// The caller's etag is stale (AIP-154).
    #[error(transparent)]
    EtagMismatch(#[from] EtagMismatch),
    /// A request id was reused for another request (AIP-155), or its log failed.
    #[error(transparent)]
    Replay(#[from] ReplayError),
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] DbErr),
}

impl DepartmentsError {
    /// One invalid field.
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldViolation::new(field, description)])
    }
}

impl From<DepartmentsError> for Status {
    fn from(error: DepartmentsError) -> Status {
        let message = error.to_string();
        match error {
            DepartmentsError::Auth(auth) => auth.into(),
            DepartmentsError::Invalid(violations) => error::invalid_fields(&violations),
            DepartmentsError::NotFound(not_found) => not_found.into(),
            DepartmentsError::AlreadyExists { field, owner, .. } => {
                error::already_exists("ALREADY_EXISTS", message, [("field", field), ("owner", owner)])
            }
            DepartmentsError::EtagMismatch(stale) => stale.into(),
            DepartmentsError::Replay(replay) => replay.into(),
            DepartmentsError::Db(db) => error::database(&db),
        }
    }
}
