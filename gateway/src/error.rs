//! Everything that can go wrong in the gateway, and its one mapping to `tonic::Status`
//! (ErrorInfo domain `duban`, as for the whole suite).

use duban_kit::{
    FieldViolation,
    auth::AuthError,
    status::{invalid_argument, with_reason as kit_reason},
};
use tonic::{Code, Status};

/// A gateway failure.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// Not authenticated, or the token could not be checked.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The caller's role may not call this.
    #[error("{0}")]
    RoleNotAllowed(String),
    /// A DEPARTMENT caller named another department.
    #[error("a department may only read its own scorecard; the caller is {0}")]
    NotOwnDepartment(String),
    /// The request has invalid fields; every one is listed.
    #[error("invalid request: {} problem(s)", .0.len())]
    Invalid(Vec<FieldViolation>),
    /// The plan does not exist.
    #[error("plan {0:?} does not exist")]
    PlanNotFound(String),
    /// The measure is not in the plan.
    #[error("measure {0:?} is not in the plan")]
    MeasureNotFound(String),
    /// The department is not in the directory.
    #[error("department {0:?} is not in the directory")]
    DepartmentNotFound(String),
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
}

impl GatewayError {
    /// One invalid field.
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldViolation::new(field, description)])
    }
}

fn with_reason(code: Code, message: String, reason: &str, metadata: &[(&str, String)]) -> Status {
    kit_reason(code, message, reason, metadata.iter().map(|(k, v)| (*k, v.clone())))
}

impl From<GatewayError> for Status {
    fn from(error: GatewayError) -> Status {
        let message = error.to_string();
        match error {
            GatewayError::Auth(AuthError::Denied(_)) => {
                with_reason(Code::PermissionDenied, message, "ROLE_NOT_ALLOWED", &[])
            }
            GatewayError::Auth(AuthError::Unavailable(_)) => with_reason(
                Code::Unavailable,
                message,
                "DEPENDENCY_UNAVAILABLE",
                &[("service", crate::backends::DEPARTMENTS.to_owned())],
            ),
            GatewayError::Auth(_) => with_reason(Code::Unauthenticated, message, "TOKEN_INVALID", &[]),
            GatewayError::RoleNotAllowed(_) => with_reason(Code::PermissionDenied, message, "ROLE_NOT_ALLOWED", &[]),
            GatewayError::NotOwnDepartment(_) => {
                with_reason(Code::PermissionDenied, message, "NOT_OWN_DEPARTMENT", &[])
            }
            GatewayError::Invalid(violations) => invalid_argument(&violations),
            GatewayError::PlanNotFound(name) => {
                with_reason(Code::NotFound, message, "PLAN_NOT_FOUND", &[("name", name)])
            }
            GatewayError::MeasureNotFound(name) => with_reason(
                Code::NotFound,
                message,
                "MEASURE_NOT_FOUND",
                &[("measure_number", name)],
            ),
            GatewayError::DepartmentNotFound(code) => {
                with_reason(Code::NotFound, message, "DEPARTMENT_NOT_FOUND", &[("department", code)])
            }
            GatewayError::Dependency { service, .. } => with_reason(
                Code::Unavailable,
                message,
                "DEPENDENCY_UNAVAILABLE",
                &[("service", service.to_owned())],
            ),
            GatewayError::Downstream(status) => status,
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
            GatewayError::Auth(_) => H::UNAUTHORIZED,
            GatewayError::Invalid(_) => H::BAD_REQUEST,
            GatewayError::PlanNotFound(_) | GatewayError::MeasureNotFound(_) | GatewayError::DepartmentNotFound(_) => {
                H::NOT_FOUND
            }
            GatewayError::Downstream(_) => H::BAD_GATEWAY,
        }
    }
}
