//! Everything that can go wrong in the targets service, and its one mapping onto the
//! suite's error vocabulary (`duban_kit::error`).

use duban_kit::{
    FieldViolation,
    auth::AuthError,
    error::{self, DependencyUnavailable, EtagMismatch, NotFound},
    idempotency::ReplayError,
};
use duban_proto::targets::v1::ErrorReason;
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
                error::failed_precondition(ErrorReason::RebaselineConflict, message, [("targets", codes.join(","))])
            }
            TargetsError::Concurrent(name) => {
                error::aborted(ErrorReason::ConcurrentModification, message, [("name", name)])
            }
            TargetsError::Replay(replay) => replay.into(),
            TargetsError::Dependency(dependency) => dependency.into(),
            TargetsError::Db(db) => error::database(&db),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One error of every kind. The match has no wildcard, so a new variant does not
    /// compile until it is added here too.
    fn one_of_each() -> Vec<TargetsError> {
        let cases = vec![
            TargetsError::Auth(AuthError::Missing),
            TargetsError::Auth(AuthError::Denied("service only".into())),
            TargetsError::Auth(AuthError::Unavailable("down".into())),
            TargetsError::invalid("name", "bad"),
            NotFound::new(ErrorReason::PlanNotFound, "plans/x").into(),
            NotFound::new(ErrorReason::TargetNotFound, "plans/x/targets/y").into(),
            NotFound::new(ErrorReason::RevisionNotFound, "plans/x/targets/y@2").into(),
            EtagMismatch {
                name: "plans/x/targets/y".into(),
                current: "e".into(),
            }
            .into(),
            TargetsError::RebaselineConflict {
                codes: vec!["y".into()],
            },
            TargetsError::Concurrent("plans/x/targets/y".into()),
            ReplayError::Reused(FieldViolation::new("request_id", "was used")).into(),
            DependencyUnavailable::answered("departments", &Status::unavailable("down")).into(),
            TargetsError::Db(DbErr::Custom("x".into())),
        ];
        for case in &cases {
            match case {
                TargetsError::Auth(_)
                | TargetsError::Invalid(_)
                | TargetsError::NotFound(_)
                | TargetsError::EtagMismatch(_)
                | TargetsError::RebaselineConflict { .. }
                | TargetsError::Concurrent(_)
                | TargetsError::Replay(_)
                | TargetsError::Dependency(_)
                | TargetsError::Db(_) => {}
            }
        }
        cases
    }

    #[test]
    fn every_reason_sent_is_a_value_of_the_package_enum() {
        duban_kit::testing::assert_reasons_listed("targets", one_of_each().into_iter().map(Status::from), |r| {
            ErrorReason::from_str_name(r).is_some()
        });
    }
}
