//! Everything that can go wrong in the targets service, and its one mapping to
//! `tonic::Status`.

use duban_kit::{
    FieldViolation,
    auth::AuthError,
    idempotency::ReplayError,
    status::{self, with_reason},
};
use sea_orm::DbErr;
use tonic::{Code, Status};

/// A targets-service failure.
#[derive(Debug, thiserror::Error)]
pub enum TargetsError {
    /// Not authenticated, or not allowed.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The request has invalid fields; every one is listed.
    #[error("invalid request: {} problem(s)", .0.len())]
    Invalid(Vec<FieldViolation>),
    /// The named resource does not exist.
    #[error("{resource} {name:?} does not exist")]
    NotFound {
        /// `TARGET_NOT_FOUND`, `REVISION_NOT_FOUND` or `PLAN_NOT_FOUND`.
        reason: &'static str,
        /// `target`, `revision` or `plan`.
        resource: &'static str,
        /// What was asked for.
        name: String,
    },
    /// The caller's etag is stale (AIP-154).
    #[error("{name} changed since it was read: its etag is now {current}")]
    EtagMismatch {
        /// The resource.
        name: String,
        /// Its current etag.
        current: String,
    },
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
    /// A request id was reused for another request (AIP-155).
    #[error("request_id was already used for a different request")]
    RequestIdReused(FieldViolation),
    /// Another service could not be asked.
    #[error("the {service} service is unavailable: {message}")]
    Dependency {
        /// Which service.
        service: &'static str,
        /// What went wrong.
        message: String,
    },
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

impl From<ReplayError> for TargetsError {
    fn from(error: ReplayError) -> Self {
        match error {
            ReplayError::Reused(violation) => Self::RequestIdReused(violation),
            ReplayError::Db(error) => Self::Db(error),
        }
    }
}

impl From<TargetsError> for Status {
    fn from(error: TargetsError) -> Status {
        let message = error.to_string();
        match error {
            TargetsError::Auth(auth) => auth.into(),
            TargetsError::Invalid(violations) => status::invalid_argument(&violations),
            TargetsError::RequestIdReused(violation) => status::invalid_argument(&[violation]),
            TargetsError::NotFound { reason, resource, name } => with_reason(
                Code::NotFound,
                message,
                reason,
                [("resource", resource.to_owned()), ("name", name)],
            ),
            TargetsError::EtagMismatch { current, .. } => {
                with_reason(Code::Aborted, message, "ETAG_MISMATCH", [("current_etag", current)])
            }
            TargetsError::RebaselineConflict { codes } => with_reason(
                Code::FailedPrecondition,
                message,
                "REBASELINE_CONFLICT",
                [("targets", codes.join(","))],
            ),
            TargetsError::Concurrent(name) => {
                with_reason(Code::Aborted, message, "CONCURRENT_MODIFICATION", [("name", name)])
            }
            TargetsError::Dependency { service, .. } => with_reason(
                Code::Unavailable,
                message,
                "DEPENDENCY_UNAVAILABLE",
                [("service", service.to_owned())],
            ),
            TargetsError::Db(db) => status::database(&db),
        }
    }
}
