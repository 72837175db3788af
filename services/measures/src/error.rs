//! Everything that can go wrong in the measures service, and its one mapping onto the
//! suite's error vocabulary (`duban_kit::error`).

use std::collections::HashMap;

use duban_kit::{
    FieldViolation,
    auth::AuthError,
    error::{self, DependencyUnavailable, EtagMismatch, NotFound},
    idempotency::ReplayError,
    status::{ERROR_DOMAIN, MAX_ECHO_CHARS, MAX_MESSAGE_CHARS, MAX_VIOLATION_BYTES, bounded},
};
use duban_proto::measures::v1::ErrorReason;
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
                // As every BadRequest (`duban_kit::error::invalid_fields`): at most
                // MAX_VIOLATION_BYTES in all, or hundreds of problems pass the clients'
                // trailer limit and the caller sees INTERNAL instead. A path is never cut
                // (it would no longer name a field): one too long for what is left is
                // left out, as are the rest once the budget is spent; `problem_count`
                // and the message count them all.
                let mut budget = MAX_VIOLATION_BYTES;
                for problem in &problems {
                    let field = format!("dataset.{}", problem.path);
                    let description = bounded(&problem.message, MAX_ECHO_CHARS);
                    let Some(left) = budget.checked_sub(field.len() + description.len()) else {
                        continue;
                    };
                    budget = left;
                    details.add_bad_request_violation(field, description);
                }
                // Bounded like every status: the units echo the dataset (see
                // `duban_kit::status::MAX_ECHO_CHARS`).
                let metadata = HashMap::from([
                    ("problem_count".to_owned(), problems.len().to_string()),
                    (
                        "unresolved_units".to_owned(),
                        bounded(&unresolved_units.join(","), MAX_MESSAGE_CHARS),
                    ),
                ]);
                details.set_error_info(ErrorReason::DatasetInvalid.as_str_name(), ERROR_DOMAIN, metadata);
                Status::with_error_details(Code::InvalidArgument, bounded(&message, MAX_MESSAGE_CHARS), details)
            }
            MeasuresError::NotFound(not_found) => not_found.into(),
            MeasuresError::EtagMismatch(stale) => stale.into(),
            MeasuresError::TargetRebaselined(targets) => {
                error::failed_precondition(ErrorReason::TargetRebaselined, message, [("targets", targets)])
            }
            MeasuresError::Replay(replay) => replay.into(),
            MeasuresError::Dependency(dependency) => dependency.into(),
            MeasuresError::Db(db) => error::database(&db),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One error of every kind. The match has no wildcard, so a new variant does not
    /// compile until it is added here too.
    fn one_of_each() -> Vec<MeasuresError> {
        let cases = vec![
            MeasuresError::Auth(AuthError::Malformed),
            MeasuresError::Auth(AuthError::Denied("admin only".into())),
            MeasuresError::Auth(AuthError::Unavailable("down".into())),
            MeasuresError::invalid("name", "bad"),
            MeasuresError::DatasetInvalid {
                problems: vec![ImportProblem {
                    path: "measures[4.2]".into(),
                    message: "bad".into(),
                    kind: 0,
                }],
                unresolved_units: vec!["各项目主管单位".into()],
            },
            NotFound::new(ErrorReason::PlanNotFound, "plans/x").into(),
            NotFound::new(ErrorReason::RevisionNotFound, "plans/x@2").into(),
            NotFound::new(ErrorReason::ActionNotFound, "plans/x/actions/4").into(),
            NotFound::new(ErrorReason::MeasureNotFound, "plans/x/measures/4.2").into(),
            EtagMismatch {
                name: "plans/x".into(),
                current: "e".into(),
            }
            .into(),
            MeasuresError::TargetRebaselined("y".into()),
            ReplayError::Reused(FieldViolation::new("request_id", "was used")).into(),
            MeasuresError::dependency("targets", &Status::unavailable("down")),
            MeasuresError::Db(DbErr::Custom("x".into())),
        ];
        for case in &cases {
            match case {
                MeasuresError::Auth(_)
                | MeasuresError::Invalid(_)
                | MeasuresError::DatasetInvalid { .. }
                | MeasuresError::NotFound(_)
                | MeasuresError::EtagMismatch(_)
                | MeasuresError::TargetRebaselined(_)
                | MeasuresError::Replay(_)
                | MeasuresError::Dependency(_)
                | MeasuresError::Db(_) => {}
            }
        }
        cases
    }

    /// Found by the ImportPlan property (issue 12): a target sent 159 times made as many
    /// problems, the BadRequest passed the client's trailer limit, and the caller saw
    /// INTERNAL (h2 PROTOCOL_ERROR) instead of the refusal.
    #[test]
    fn hundreds_of_problems_stay_within_the_violation_budget() {
        let problem = |i: usize| ImportProblem {
            path: format!("targets[worker-relay-stations-{i}].code"),
            message: format!("target code is used twice {}", "字".repeat(300)),
            kind: 3,
        };
        let status = Status::from(MeasuresError::DatasetInvalid {
            problems: (0..1000).map(problem).collect(),
            unresolved_units: Vec::new(),
        });
        let violations = duban_kit::status::field_violations(&status);
        assert!(!violations.is_empty());
        let size: usize = violations.iter().map(|v| v.field.len() + v.description.len()).sum();
        assert!(size <= MAX_VIOLATION_BYTES, "{size} bytes of violations");
        assert_eq!(violations[0].field, "dataset.targets[worker-relay-stations-0].code");
        let info = status.get_details_error_info().unwrap();
        assert_eq!(info.metadata["problem_count"], "1000");
    }

    #[test]
    fn every_reason_sent_is_a_value_of_the_package_enum() {
        duban_kit::testing::assert_reasons_listed("measures", one_of_each().into_iter().map(Status::from), |r| {
            ErrorReason::from_str_name(r).is_some()
        });
    }
}
