//! Everything that can go wrong in the departments service, and its one mapping onto
//! the suite's error vocabulary (`duban_kit::error`).

use duban_kit::{
    FieldViolation,
    auth::AuthError,
    error::{self, EtagMismatch, NotFound},
    idempotency::ReplayError,
};
use duban_proto::departments::v1::ErrorReason;
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
    /// A `department`, `group`, `designation`, `credential`, `endpoint` or `unit` does not exist.
    #[error(transparent)]
    NotFound(#[from] NotFound),
    /// The code of a new unit is already a unit's or a group's.
    #[error("code {code:?} is already taken by another unit or group")]
    CodeTaken {
        /// The code.
        code: String,
    },
    /// A display name or alias already resolves to another unit or group.
    #[error("{what} is already taken by {owner}")]
    NameTaken {
        /// The field that collides, for example `department.aliases[1]`.
        field: String,
        /// What collides.
        what: String,
        /// Who owns it: its code, or "another unit or group" when a concurrent writer won.
        owner: String,
    },
    /// A DEPARTMENT caller named another unit's notification endpoints.
    #[error(
        "a department manages and reads its own unit's notification endpoints only; {department:?} is not the caller's"
    )]
    NotOwnDepartment {
        /// The unit named.
        department: String,
    },
    /// The unit already has as many notification endpoints as it may.
    #[error("the unit already has {limit} notification endpoints, the most it may have; delete one first")]
    EndpointLimitReached {
        /// The limit.
        limit: usize,
    },
    /// RotateEndpointSecret on an e-mail endpoint.
    #[error("{name} is an e-mail endpoint, which has no secret")]
    EndpointNotWebhook {
        /// The endpoint's resource name.
        name: String,
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
            DepartmentsError::CodeTaken { .. } => error::already_exists(
                ErrorReason::CodeTaken,
                message,
                [("field", "department.code".to_owned())],
            ),
            DepartmentsError::NameTaken { field, owner, .. } => {
                error::already_exists(ErrorReason::NameTaken, message, [("field", field), ("owner", owner)])
            }
            DepartmentsError::NotOwnDepartment { department } => {
                error::permission_denied(ErrorReason::NotOwnDepartment, message, [("department", department)])
            }
            DepartmentsError::EndpointLimitReached { limit } => error::failed_precondition(
                ErrorReason::EndpointLimitReached,
                message,
                [("field", "parent".to_owned()), ("limit", limit.to_string())],
            ),
            DepartmentsError::EndpointNotWebhook { name } => {
                error::failed_precondition(ErrorReason::EndpointNotWebhook, message, [("name", name)])
            }
            DepartmentsError::EtagMismatch(stale) => stale.into(),
            DepartmentsError::Replay(replay) => replay.into(),
            DepartmentsError::Db(db) => error::database(&db),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One error of every kind. The match has no wildcard, so a new variant does not
    /// compile until it is added here too.
    fn one_of_each() -> Vec<DepartmentsError> {
        let cases = vec![
            DepartmentsError::Auth(AuthError::Rejected),
            DepartmentsError::Auth(AuthError::Denied("admin only".into())),
            DepartmentsError::Auth(AuthError::Unavailable("down".into())),
            DepartmentsError::invalid("department.code", "must be a slug"),
            NotFound::new(ErrorReason::DepartmentNotFound, "departments/x").into(),
            NotFound::new(ErrorReason::UnitNotFound, "x").into(),
            NotFound::new(ErrorReason::GroupNotFound, "groups/x").into(),
            NotFound::new(ErrorReason::DesignationNotFound, "groups/x/designations/y").into(),
            NotFound::new(ErrorReason::CredentialNotFound, "credentials/x").into(),
            NotFound::new(ErrorReason::EndpointNotFound, "departments/x/endpoints/1").into(),
            DepartmentsError::NotOwnDepartment { department: "x".into() },
            DepartmentsError::EndpointLimitReached { limit: 10 },
            DepartmentsError::EndpointNotWebhook {
                name: "departments/x/endpoints/1".into(),
            },
            DepartmentsError::CodeTaken { code: "x".into() },
            DepartmentsError::NameTaken {
                field: "department.aliases[0]".into(),
                what: "the name \"x\"".into(),
                owner: "y".into(),
            },
            EtagMismatch {
                name: "departments/x".into(),
                current: "e".into(),
            }
            .into(),
            ReplayError::Reused(FieldViolation::new("request_id", "was used")).into(),
            DepartmentsError::Db(DbErr::Custom("x".into())),
        ];
        for case in &cases {
            match case {
                DepartmentsError::Auth(_)
                | DepartmentsError::Invalid(_)
                | DepartmentsError::NotFound(_)
                | DepartmentsError::CodeTaken { .. }
                | DepartmentsError::NameTaken { .. }
                | DepartmentsError::NotOwnDepartment { .. }
                | DepartmentsError::EndpointLimitReached { .. }
                | DepartmentsError::EndpointNotWebhook { .. }
                | DepartmentsError::EtagMismatch(_)
                | DepartmentsError::Replay(_)
                | DepartmentsError::Db(_) => {}
            }
        }
        cases
    }

    #[test]
    fn every_reason_sent_is_a_value_of_the_package_enum() {
        duban_kit::testing::assert_reasons_listed("departments", one_of_each().into_iter().map(Status::from), |r| {
            ErrorReason::from_str_name(r).is_some()
        });
    }

    #[test]
    fn taken_codes_and_names_have_their_own_reasons() {
        let code = Status::from(DepartmentsError::CodeTaken { code: "x".into() });
        assert_eq!(code.code(), tonic::Code::AlreadyExists);
        assert_eq!(duban_kit::status::reason(&code).as_deref(), Some("CODE_TAKEN"));
        let name = Status::from(DepartmentsError::NameTaken {
            field: "department.aliases[1]".into(),
            what: "the name \"x\"".into(),
            owner: "tax-bureau".into(),
        });
        assert_eq!(duban_kit::status::reason(&name).as_deref(), Some("NAME_TAKEN"));
    }
}
