//! Everything that can go wrong in the measures service, and its one mapping onto the
//! suite's error vocabulary (`duban_kit::error`).

use std::collections::HashMap;

use duban_kit::{
    FieldViolation,
    auth::AuthError,
    error::{self, DependencyUnavailable, EtagMismatch, NotFound},
    idempotency::ReplayError,
    status::ERROR_DOMAIN,
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
    #[error("invalid request: {}", error::summary(.0))]
    Invalid(Vec<FieldViolation>),
    /// An imported dataset has problems; every one is listed.
    #[error("{}", dataset_message(.problems, .unresolved_units))]
    DatasetInvalid {
        /// Every problem, paths relative to the dataset.
        problems: Vec<ImportProblem>,
        /// Units, as written, that resolve to nothing.
        unresolved_units: Vec<String>,
    },
    /// A `plan`, `revision`, `action` or `measure` does not exist.
    #[error(transparent)]
    NotFound(#[from] NotFound),
    /// The caller's etag is stale (AIP-154), or a concurrent import won.
    #[error(transparent)]
    EtagMismatch(#[from] EtagMismatch),
    /// The import would undo a rebaseline.
    #[error("the import would change rebaselined targets: {0}")]
    TargetRebaselined(String),
    /// A request id was reused for another request (AIP-155), or its log failed.
    #[error(transparent)]
    Replay(#[from] ReplayError),
    /// `departments` or `targets` failed or is down.
    #[error(transparent)]
    Dependency(#[from] DependencyUnavailable),
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
        Self::Dependency(DependencyUnavailable::answered(service, status))
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

impl From<MeasuresError> for Status {
    fn from(error: MeasuresError) -> Status {
        let message = error.to_string();
        match error {
            MeasuresError::Auth(auth) => auth.into(),
            MeasuresError::Invalid(violations) => error::invalid_fields(&violations),
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
            MeasuresError::NotFound(not_found) => not_found.into(),
            MeasuresError::EtagMismatch(stale) => stale.into(),
            MeasuresError::TargetRebaselined(targets) => {
                error::failed_precondition("TARGET_REBASELINED", message, [("targets", targets)])
            }
            MeasuresError::Replay(replay) => replay.into(),
            MeasuresError::Dependency(dependency) => dependency.into(),
            MeasuresError::Db(db) => error::database(&db),
        }
    }
}
