//! Everything that can go wrong in the measures service, and its one mapping to
//! `tonic::Status`.

use std::collections::HashMap;

use duban_kit::{
    FieldViolation,
    auth::AuthError,
    idempotency::ReplayError,
    status::{self, ERROR_DOMAIN, with_reason},
};
use sea_orm::DbErr;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// A problem of an imported dataset, with its path relative to the dataset.
pub use duban_proto::measures::v1::ImportProblem;

/// A measures-service failure.
#[derive(Debug, thiserror::Error)]
pub enum MeasuresError {
    /// Not authenticated, or not allowed.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The request has invalid fields; every one is listed.
    #[error("invalid request: {} problem(s)", .0.len())]
    Invalid(Vec<FieldViolation>),
    /// An imported dataset has problems; every one is listed.
    #[error("{}", dataset_message(.problems, .unresolved_units))]
    DatasetInvalid {
        /// Every problem, paths relative to the dataset.
        problems: Vec<ImportProblem>,
        /// Units, as written, that resolve to nothing.
        unresolved_units: Vec<String>,
    },
    /// The named resource does not exist.
    #[error("{resource} {name:?} does not exist")]
    NotFound {
        /// `plan`, `revision`, `action` or `measure`.
        resource: &'static str,
        /// What was asked for.
        name: String,
    },
    /// The caller's etag is stale (AIP-154), or a concurrent import won.
    #[error("{name} changed since it was read: its etag is now {current}")]
    EtagMismatch {
        /// The resource.
        name: String,
        /// Its current etag.
        current: String,
    },
    /// The import would undo a rebaseline.
    #[error("the import would change rebaselined targets: {0}")]
    TargetRebaselined(String),
    /// A request id was reused for another request (AIP-155).
    #[error("request_id was already used for a different request")]
    RequestIdReused(FieldViolation),
    /// A service this one needs failed or is down.
    #[error("{service} is unavailable: {message}")]
    Dependency {
        /// `departments` or `targets`.
        service: &'static str,
        /// What it answered.
        message: String,
    },
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] DbErr),
}

impl MeasuresError {
    /// One invalid field.
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldViolation::new(field, description)])
    }

    /// A failed call to another service.
    pub fn dependency(service: &'static str, status: &Status) -> Self {
        Self::Dependency {
            service,
            message: format!("{:?}: {}", status.code(), status.message()),
        }
    }
}

fn dataset_message(problems: &[ImportProblem], unresolved: &[String]) -> String {
    let summary = summary(problems);
    if unresolved.is_empty() {
        return summary;
    }
    let names: Vec<String> = unresolved.iter().map(|unit| format!("`{unit}`")).collect();
    format!(
        "{summary}; not in the directory: {} (add it or an alias to the directory, or pin its code)",
        names.join(", ")
    )
}

fn summary(problems: &[ImportProblem]) -> String {
    match problems {
        [] => "the dataset is invalid".to_owned(),
        [only] => format!("dataset.{}: {}", only.path, only.message),
        [first, rest @ ..] => format!(
            "the dataset has {} problems; dataset.{}: {} (and {} more)",
            problems.len(),
            first.path,
            first.message,
            rest.len()
        ),
    }
}

impl From<ReplayError> for MeasuresError {
    fn from(error: ReplayError) -> Self {
        match error {
            ReplayError::Reused(violation) => Self::RequestIdReused(violation),
            ReplayError::Db(error) => Self::Db(error),
        }
    }
}

impl From<MeasuresError> for Status {
    fn from(error: MeasuresError) -> Status {
        let message = error.to_string();
        match error {
            MeasuresError::Auth(auth) => auth.into(),
            MeasuresError::Invalid(violations) => status::invalid_argument(&violations),
            MeasuresError::RequestIdReused(violation) => status::invalid_argument(&[violation]),
            MeasuresError::DatasetInvalid {
                problems,
                unresolved_units,
            } => {
                let mut details = ErrorDetails::new();
                for problem in &problems {
                    details.add_bad_request_violation(format!("dataset.{}", problem.path), problem.message.clone());
                }
                let metadata = HashMap::from([
                    ("problem_count".to_owned(), problems.len().to_string()),
                    ("unresolved_units".to_owned(), unresolved_units.join(",")),
                ]);
                details.set_error_info("DATASET_INVALID", ERROR_DOMAIN, metadata);
                Status::with_error_details(Code::InvalidArgument, message, details)
            }
            MeasuresError::NotFound { resource, name } => {
                let reason = match resource {
                    "plan" => "PLAN_NOT_FOUND",
                    "revision" => "REVISION_NOT_FOUND",
                    "action" => "ACTION_NOT_FOUND",
                    _ => "MEASURE_NOT_FOUND",
                };
                with_reason(Code::NotFound, message, reason, [("name", name)])
            }
            MeasuresError::EtagMismatch { current, .. } => {
                with_reason(Code::Aborted, message, "ETAG_MISMATCH", [("current_etag", current)])
            }
            MeasuresError::TargetRebaselined(targets) => with_reason(
                Code::FailedPrecondition,
                message,
                "TARGET_REBASELINED",
                [("targets", targets)],
            ),
            MeasuresError::Dependency { service, .. } => with_reason(
                Code::Unavailable,
                message,
                "DEPENDENCY_UNAVAILABLE",
                [("service", service.to_owned())],
            ),
            MeasuresError::Db(db) => status::database(&db),
        }
    }
}
