//! Everything that can go wrong in the gateway, and its one mapping onto the suite's
//! error vocabulary (`duban_kit::error`; ErrorInfo domain `duban`, as for the whole suite).

use duban_kit::{
    FieldViolation,
    auth::AuthError,
    error::{self, DependencyUnavailable, NotFound},
};
use duban_plan::{Owner, PlanError};
use duban_proto::gateway::v1::ErrorReason;
use tonic::{Code, Status};

/// A gateway failure.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// Not authenticated, or the token could not be checked.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The dashboard over HTTP was asked for more than its access lets an anonymous reader see.
    #[error("sign in at /login with a leadership or admin token, or send `Authorization: Bearer <token>`")]
    SignInNeeded,
    /// The caller's role may not call this.
    #[error("{0}")]
    RoleNotAllowed(String),
    /// A DEPARTMENT caller named another department.
    #[error("a department may only read its own scorecard; the caller is {0}")]
    NotOwnDepartment(String),
    /// The request has invalid fields; every one is listed.
    #[error("invalid request: {}", error::summary(.0))]
    Invalid(Vec<FieldViolation>),
    /// The `plan` does not exist, a `measure` is not in it, or a `department` is not in
    /// the directory.
    #[error(transparent)]
    NotFound(#[from] NotFound),
    /// A service the view cannot do without did not answer.
    #[error("the {service} service is unavailable: {message}")]
    Dependency {
        /// Its full name.
        service: &'static str,
        /// What went wrong.
        message: String,
    },
    /// A downstream service refused the call for another reason; passed on as is.
    #[error("{}", .0.message())]
    Downstream(Status),
    /// The gateway is stopping; open streams end with this.
    #[error("the gateway is shutting down; reconnect")]
    ShuttingDown,
    /// An answer made elsewhere, passed on as is: the failure of a computation several
    /// callers share (a watched overview), or a full bound on open streams.
    #[error("{}", .status.message())]
    Answered {
        /// The status it was answered with over gRPC.
        status: Status,
        /// The HTTP status it was answered with over HTTP.
        http: http::StatusCode,
    },
}

impl GatewayError {
    /// One invalid field.
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldViolation::new(field, description)])
    }
}

impl From<PlanError> for GatewayError {
    fn from(error: PlanError) -> Self {
        match error {
            PlanError::PlanNotFound(name) => NotFound::new(ErrorReason::PlanNotFound, name).into(),
            PlanError::Dependency { service, code, message } if unreachable(code) => GatewayError::Dependency {
                service: service.service_name(),
                message,
            },
            PlanError::Dependency { code, message, .. } => GatewayError::Downstream(Status::new(code, message)),
            // The plan's data is the measures service's: it answered what cannot be read.
            PlanError::InvalidPlan { .. } | PlanError::UnknownTimeZone(_) => GatewayError::Dependency {
                service: Owner::Measures.service_name(),
                message: error.to_string(),
            },
        }
    }
}

/// Whether a status code means the service did not answer (rather than refused).
pub fn unreachable(code: Code) -> bool {
    matches!(
        code,
        Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled | Code::Unknown | Code::ResourceExhausted
    )
}

impl From<GatewayError> for Status {
    fn from(error: GatewayError) -> Status {
        let message = error.to_string();
        match error {
            GatewayError::Auth(auth) => auth.into(),
            GatewayError::SignInNeeded => error::unauthenticated(message),
            GatewayError::RoleNotAllowed(_) => error::permission_denied(ErrorReason::RoleNotAllowed, message, []),
            GatewayError::NotOwnDepartment(_) => error::permission_denied(ErrorReason::NotOwnDepartment, message, []),
            GatewayError::Invalid(violations) => error::invalid_fields(&violations),
            GatewayError::NotFound(not_found) => not_found.into(),
            GatewayError::Dependency { service, message } => {
                error::dependency_unavailable(&DependencyUnavailable { service, message })
            }
            GatewayError::Downstream(status) | GatewayError::Answered { status, .. } => status,
            GatewayError::ShuttingDown => error::unavailable(ErrorReason::ShuttingDown, message, []),
        }
    }
}

impl GatewayError {
    /// The HTTP status the JSON API answers with.
    pub fn http_status(&self) -> http::StatusCode {
        use http::StatusCode as H;
        match self {
            GatewayError::Auth(AuthError::Unavailable(_)) | GatewayError::Dependency { .. } => H::SERVICE_UNAVAILABLE,
            GatewayError::Auth(AuthError::Denied(_))
            | GatewayError::RoleNotAllowed(_)
            | GatewayError::NotOwnDepartment(_) => H::FORBIDDEN,
            GatewayError::Auth(_) | GatewayError::SignInNeeded => H::UNAUTHORIZED,
            GatewayError::Invalid(_) => H::BAD_REQUEST,
            GatewayError::NotFound(_) => H::NOT_FOUND,
            GatewayError::Downstream(_) => H::BAD_GATEWAY,
            GatewayError::ShuttingDown => H::SERVICE_UNAVAILABLE,
            GatewayError::Answered { http, .. } => *http,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One error of every kind the gateway makes itself. The match has no wildcard, so a
    /// new variant does not compile until it is added here too. (`Downstream` passes a
    /// service's own status on, with that service's reason; `Answered` passes one of these on.)
    fn one_of_each() -> Vec<GatewayError> {
        let cases = vec![
            GatewayError::Auth(AuthError::Rejected),
            GatewayError::Auth(AuthError::Denied("no".into())),
            GatewayError::Auth(AuthError::Unavailable("down".into())),
            GatewayError::SignInNeeded,
            GatewayError::RoleNotAllowed("departments may not".into()),
            GatewayError::NotOwnDepartment("a".into()),
            GatewayError::invalid("as_of", "is after today"),
            NotFound::new(ErrorReason::PlanNotFound, "plans/x").into(),
            NotFound::new(ErrorReason::MeasureNotFound, "4.2").into(),
            NotFound::new(ErrorReason::DepartmentNotFound, "a").into(),
            GatewayError::Dependency {
                service: "duban.measures.v1.MeasuresService",
                message: "down".into(),
            },
            GatewayError::ShuttingDown,
        ];
        for case in &cases {
            match case {
                GatewayError::Auth(_)
                | GatewayError::SignInNeeded
                | GatewayError::RoleNotAllowed(_)
                | GatewayError::NotOwnDepartment(_)
                | GatewayError::Invalid(_)
                | GatewayError::NotFound(_)
                | GatewayError::Dependency { .. }
                | GatewayError::ShuttingDown
                | GatewayError::Downstream(_)
                | GatewayError::Answered { .. } => {}
            }
        }
        cases
    }

    #[test]
    fn every_reason_sent_is_a_value_of_the_package_enum() {
        duban_kit::testing::assert_reasons_listed("gateway", one_of_each().into_iter().map(Status::from), |r| {
            ErrorReason::from_str_name(r).is_some()
        });
    }
}
