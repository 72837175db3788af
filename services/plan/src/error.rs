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
    #[error("{} answered {code:?}: {message}", .service.name())]
    Dependency {
        /// Which service.
        service: Owner,
        /// The status code it answered.
        code: tonic::Code,
        /// Its message.
        message: String,
    },
}

impl PlanError {
    /// A failed call to `service`.
    pub fn dependency(service: Owner, status: &tonic::Status) -> PlanError {
        PlanError::Dependency {
            service,
            code: status.code(),
            message: status.message().to_owned(),
        }
    }
}

/// A service that owns part of the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// MeasuresService: plans, actions, measures.
    Measures,
    /// TargetsService: targets.
    Targets,
    /// DepartmentsService: the directory.
    Departments,
}

impl Owner {
    /// Its short name: `measures`, `targets`, `departments`.
    pub fn name(self) -> &'static str {
        match self {
            Owner::Measures => "measures",
            Owner::Targets => "targets",
            Owner::Departments => "departments",
        }
    }

    /// Its fully qualified gRPC service name, as generated.
    pub fn service_name(self) -> &'static str {
        use duban_proto::{departments::v1 as dpb, measures::v1 as mpb, targets::v1 as tpb};
        match self {
            Owner::Measures => mpb::measures_service_server::SERVICE_NAME,
            Owner::Targets => tpb::targets_service_server::SERVICE_NAME,
            Owner::Departments => dpb::departments_service_server::SERVICE_NAME,
        }
    }
}
