//! Everything that can go wrong in the departments service, and its one mapping to
//! `tonic::Status`.

use duban_kit::{
    FieldViolation,
    auth::AuthError,
    idempotency::ReplayError,
    status::{self, with_reason},
};
use sea_orm::DbErr;
use tonic::{Code, Status};

/// A departments-service failure.
#[derive(Debug, thiserror::Error)]
pub enum DepartmentsError {
    /// Not authenticated, or not allowed.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The request has invalid fields; every one is listed.
    #[error("invalid request: {} problem(s)", .0.len())]
    Invalid(Vec<FieldViolation>),
    /// The named resource does not exist.
    #[error("{resource} {name:?} does not exist")]
    NotFound {
        /// `department`, `group`, `designation`, `credential` or `unit`.
        resource: &'static str,
        /// What was asked for.
        name: String,
    },
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
    #[error("{name} changed since it was read: its etag is now {current}")]
    EtagMismatch {
        /// The resource.
        name: String,
        /// Its current etag.
        current: String,
    },
    /// A request id was reused for another request (AIP-155).
    #[error("request_id was already used for a different request")]
    RequestIdReused(FieldViolation),
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

impl From<ReplayError> for DepartmentsError {
    fn from(error: ReplayError) -> Self {
        match error {
            ReplayError::Reused(violation) => Self::RequestIdReused(violation),
            ReplayError::Db(error) => Self::Db(error),
        }
    }
}

impl From<DepartmentsError> for Status {
    fn from(error: DepartmentsError) -> Status {
        let message = error.to_string();
        match error {
            DepartmentsError::Auth(auth) => auth.into(),
            DepartmentsError::Invalid(violations) => status::invalid_argument(&violations),
            DepartmentsError::RequestIdReused(violation) => status::invalid_argument(&[violation]),
            DepartmentsError::NotFound { resource, name } => with_reason(
                Code::NotFound,
                message,
                "NOT_FOUND",
                [("resource", resource.to_owned()), ("name", name)],
            ),
            DepartmentsError::AlreadyExists { field, owner, .. } => with_reason(
                Code::AlreadyExists,
                message,
                "ALREADY_EXISTS",
                [("field", field), ("owner", owner)],
            ),
            DepartmentsError::EtagMismatch { current, .. } => {
                with_reason(Code::Aborted, message, "ETAG_MISMATCH", [("current_etag", current)])
            }
            DepartmentsError::Db(db) => status::database(&db),
        }
    }
}
