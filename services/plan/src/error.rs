//! What can go wrong reading a plan: its own data, or the services that own it.

/// Why a plan, its targets or its directory could not be read.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PlanError {
    /// A time zone that is not an IANA name.
    #[error("unknown time zone {0:?}: expected an IANA name such as Asia/Shanghai")]
    UnknownTimeZone(String),
    /// A stored plan whose data cannot be read as a calendar.
    #[error("plan {plan} has an invalid {field}: {problem}")]
    InvalidPlan {
        /// The plan's resource name.
        plan: String,
        /// The contract field.
        field: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// The plan does not exist.
    #[error("{0} does not exist")]
    PlanNotFound(String),
    /// A service that owns part of the plan refused or did not answer.
    #[error("{service} answered {code:?}: {message}")]
    Dependency {
        /// The service's short name (`measures`, `targets`, `departments`).
        service: &'static str,
        /// The status code it answered.
        code: tonic::Code,
        /// Its message.
        message: String,
    },
}

impl PlanError {
    /// A failed call to `service`.
    pub fn dependency(service: &'static str, status: &tonic::Status) -> PlanError {
        PlanError::Dependency {
            service,
            code: status.code(),
            message: status.message().to_owned(),
        }
    }
}
