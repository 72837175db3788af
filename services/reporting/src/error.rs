//! Everything that can go wrong in the reporting service, and its one mapping to
//! `tonic::Status` (ErrorInfo domain `duban.reporting.v1`, reasons as the contract names
//! them).

use std::collections::HashMap;

use duban_kit::{FieldViolation, auth::AuthError, idempotency::ReplayError};
use sea_orm::DbErr;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// The `ErrorInfo.domain` of this service's errors.
pub const ERROR_DOMAIN: &str = duban_kit::status::ERROR_DOMAIN;

/// A reporting-service failure.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ReportingError {
    /// Not authenticated (or the token could not be checked).
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The caller's role may not do this.
    #[error("{0}")]
    RoleNotAllowed(String),
    /// A DEPARTMENT caller named another department's data.
    #[error("{0}")]
    NotOwnDepartment(String),
    /// The request has invalid fields; every one is listed.
    #[error("invalid request: {}", summary(.0))]
    Invalid(Vec<FieldViolation>),
    /// A request id was reused for another request (AIP-155).
    #[error("request_id was already used for a different request")]
    RequestIdReused(FieldViolation),
    /// The named resource does not exist.
    #[error("{resource} {name:?} does not exist")]
    NotFound {
        /// `PLAN_NOT_FOUND`, `REPORT_NOT_FOUND` or `REVISION_NOT_FOUND`.
        reason: &'static str,
        /// What kind of resource.
        resource: &'static str,
        /// What was asked for.
        name: String,
    },
    /// The department is not responsible for the measure (authorisation, AIP-211).
    #[error("{department} is not responsible for measure {measure}")]
    NotResponsible {
        /// The department.
        department: String,
        /// The measure.
        measure: String,
    },
    /// The department sent a value for a target of the measure that it does not report.
    #[error("{department} does not report target {target} (report.metric_values[{index}])")]
    NotReporter {
        /// The department.
        department: String,
        /// The target's code.
        target: String,
        /// Position of the value in the report.
        index: usize,
    },
    /// The etag is stale (AIP-154).
    #[error("{name} changed since it was read: its etag is now {current:?}")]
    EtagMismatch {
        /// The report.
        name: String,
        /// Its current etag, empty if none exists.
        current: String,
    },
    /// The latest revision is not in a state that allows the review.
    #[error("the latest revision of {name} is {state}, not STATE_SUBMITTED")]
    InvalidState {
        /// The report.
        name: String,
        /// Its state.
        state: String,
    },
    /// Too many items in one stream.
    #[error("at most {0} items per stream")]
    TooManyItems(usize),
    /// `after_sequence` is older than the kept events.
    #[error("events after sequence {0} are no longer kept; re-read with ListReports and watch from 0")]
    EventsExpired(i64),
    /// Another service could not be asked.
    #[error("the {service} service is unavailable: {message}")]
    Dependency {
        /// Which service.
        service: &'static str,
        /// What went wrong.
        message: String,
    },
    /// The server is shutting down (the writer is gone).
    #[error("the server is shutting down; retry")]
    ShuttingDown,
    /// The database failed.
    #[error("database: {0}")]
    Db(String),
}

fn summary(violations: &[FieldViolation]) -> String {
    match violations {
        [] => "invalid request".to_owned(),
        [only] => format!("{}: {}", only.field, only.description),
        [first, rest @ ..] => format!("{}: {} (and {} more)", first.field, first.description, rest.len()),
    }
}

impl From<DbErr> for ReportingError {
    fn from(error: DbErr) -> Self {
        Self::Db(error.to_string())
    }
}

impl From<ReplayError> for ReportingError {
    fn from(error: ReplayError) -> Self {
        match error {
            ReplayError::Reused(violation) => Self::RequestIdReused(violation),
            ReplayError::Db(error) => error.into(),
        }
    }
}

impl ReportingError {
    /// One invalid field.
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldViolation::new(field, description)])
    }

    /// The gRPC code, the ErrorInfo reason and its metadata.
    pub fn parts(&self) -> (Code, &'static str, Vec<(&'static str, String)>) {
        match self {
            Self::Auth(AuthError::Denied(_)) => (Code::PermissionDenied, "ROLE_NOT_ALLOWED", vec![]),
            Self::Auth(AuthError::Unavailable(_)) => (
                Code::Unavailable,
                "DEPENDENCY_UNAVAILABLE",
                vec![("service", "departments".to_owned())],
            ),
            Self::Auth(_) => (Code::Unauthenticated, "TOKEN_INVALID", vec![]),
            Self::RoleNotAllowed(_) => (Code::PermissionDenied, "ROLE_NOT_ALLOWED", vec![]),
            Self::NotOwnDepartment(_) => (Code::PermissionDenied, "NOT_OWN_DEPARTMENT", vec![]),
            Self::Invalid(_) => (Code::InvalidArgument, "FIELD_INVALID", vec![]),
            Self::RequestIdReused(_) => (Code::InvalidArgument, "REQUEST_ID_REUSED", vec![]),
            Self::NotFound { reason, resource, name } => (
                Code::NotFound,
                reason,
                vec![("resource", (*resource).to_owned()), ("name", name.clone())],
            ),
            Self::NotResponsible { department, measure } => (
                Code::PermissionDenied,
                "DEPARTMENT_NOT_RESPONSIBLE",
                vec![("department", department.clone()), ("measure", measure.clone())],
            ),
            Self::NotReporter { department, target, .. } => (
                Code::PermissionDenied,
                "TARGET_NOT_REPORTED",
                vec![("department", department.clone()), ("target", target.clone())],
            ),
            Self::EtagMismatch { current, .. } => {
                (Code::Aborted, "ETAG_MISMATCH", vec![("current_etag", current.clone())])
            }
            Self::InvalidState { state, .. } => (
                Code::FailedPrecondition,
                "INVALID_STATE",
                vec![("state", state.clone())],
            ),
            Self::TooManyItems(_) => (Code::ResourceExhausted, "TOO_MANY_ITEMS", vec![]),
            Self::EventsExpired(_) => (Code::OutOfRange, "EVENTS_EXPIRED", vec![]),
            Self::Dependency { service, .. } => (
                Code::Unavailable,
                "DEPENDENCY_UNAVAILABLE",
                vec![("service", (*service).to_owned())],
            ),
            Self::ShuttingDown => (Code::Unavailable, "SHUTTING_DOWN", vec![]),
            Self::Db(_) => (Code::Internal, "DATABASE_ERROR", vec![]),
        }
    }

    /// Every invalid field, for INVALID_ARGUMENT.
    pub fn violations(&self) -> Vec<FieldViolation> {
        match self {
            Self::Invalid(violations) => violations.clone(),
            Self::RequestIdReused(violation) => vec![violation.clone()],
            _ => Vec::new(),
        }
    }

    /// The message a client sees: database details stay in the log.
    pub fn public_message(&self) -> String {
        match self {
            Self::Db(error) => {
                tracing::error!(%error, "database error");
                "the database failed to complete the request".to_owned()
            }
            other => other.to_string(),
        }
    }
}

impl From<ReportingError> for Status {
    fn from(error: ReportingError) -> Status {
        let (code, reason, metadata) = error.parts();
        let metadata: HashMap<String, String> = metadata.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        let mut details = ErrorDetails::new();
        for violation in error.violations() {
            details.add_bad_request_violation(violation.field, violation.description);
        }
        details.set_error_info(reason, ERROR_DOMAIN, metadata);
        Status::with_error_details(code, error.public_message(), details)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_carry_the_contract_reasons() {
        let status = Status::from(ReportingError::Invalid(vec![
            FieldViolation::new("report.metric_values[0].unit", "must be the target's unit"),
            FieldViolation::new("report.narrative", "too long"),
        ]));
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(duban_kit::status::field_violations(&status).len(), 2);
        assert_eq!(duban_kit::status::reason(&status).as_deref(), Some("FIELD_INVALID"));
        let status = Status::from(ReportingError::Auth(AuthError::Rejected));
        assert_eq!(status.code(), Code::Unauthenticated);
        assert_eq!(duban_kit::status::reason(&status).as_deref(), Some("TOKEN_INVALID"));
        let status = Status::from(ReportingError::Db("secret detail".into()));
        assert!(!status.message().contains("secret"));
    }
}
