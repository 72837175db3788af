//! Everything that can go wrong in the reporting service, and its one mapping onto the
//! suite's error vocabulary (`duban_kit::error`; ErrorInfo domain `duban`, reasons from
//! the generated `duban.reporting.v1.ErrorReason`).

use std::sync::Arc;

use duban_kit::{
    FieldViolation,
    auth::AuthError,
    error::{self, DependencyUnavailable, EtagMismatch, NotFound},
    idempotency::ReplayError,
};
use duban_plan::{Owner, PlanError};
use duban_proto::reporting::v1::ErrorReason;
use sea_orm::DbErr;
use tonic::Status;

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
    #[error("invalid request: {}", error::summary(.0))]
    Invalid(Vec<FieldViolation>),
    /// A request id was reused for another request (AIP-155).
    #[error("request_id was already used for a different request")]
    RequestIdReused(FieldViolation),
    /// A `plan`, `report` or `revision` does not exist.
    #[error(transparent)]
    NotFound(#[from] NotFound),
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
    /// The etag is stale (AIP-154); the current one is empty if the report does not exist.
    #[error(transparent)]
    EtagMismatch(#[from] EtagMismatch),
    /// The latest revision is not in a state that allows the review.
    #[error("the latest revision of {name} is {state}, not STATE_SUBMITTED")]
    InvalidState {
        /// The report.
        name: String,
        /// Its state.
        state: String,
    },
    /// The department writes faster than its quota.
    #[error(transparent)]
    OverQuota(#[from] duban_kit::rate::OverQuota),
    /// Too many items in one stream.
    #[error("at most {0} items per stream")]
    TooManyItems(usize),
    /// A DEPARTMENT acted on an order that does not address it, or on another unit's part.
    #[error("the order does not address {department}, or {department} named another unit's part")]
    OrderNotAddressed {
        /// The caller's department.
        department: String,
    },
    /// The order or the unit's part is in a state that does not allow the call.
    #[error("{name}: {what} is {state}, which does not allow this")]
    OrderStateInvalid {
        /// The order.
        name: String,
        /// `department`'s part, or `the order`.
        what: String,
        /// The part's (or the order's) state.
        state: String,
        /// The part's department; empty for the order.
        department: String,
    },
    /// A purge named another number of archived audit records than there are.
    #[error("{expected} audit records were archived, but {count} are before end_time; archive them again")]
    ArchiveIncomplete {
        /// The caller's `expected_count`.
        expected: i64,
        /// How many there are.
        count: u64,
    },
    /// A DEPARTMENT caller named a notice not addressed to it.
    #[error("{0}")]
    NoticeNotAddressed(String),
    /// RequeueNotice on a notice whose delivery did not fail (its delivery state).
    #[error("only a FAILED or DEAD_LETTER notice can be requeued; {name} is {state}")]
    NoticeDeliveryNotFailed {
        /// The notice's name.
        name: String,
        /// Its `NoticeDeliveryState` contract name.
        state: String,
    },
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
    /// The database failed (shared, so that the error can be both answered and audited).
    #[error("database: {0}")]
    Db(Arc<DbErr>),
}

impl From<DbErr> for ReportingError {
    fn from(error: DbErr) -> Self {
        Self::Db(Arc::new(error))
    }
}

impl From<crate::writer::WriterStopped> for ReportingError {
    fn from(_: crate::writer::WriterStopped) -> Self {
        Self::ShuttingDown
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

impl From<PlanError> for ReportingError {
    fn from(error: PlanError) -> Self {
        match error {
            PlanError::PlanNotFound(name) => NotFound::new(ErrorReason::PlanNotFound, name).into(),
            PlanError::Dependency { service, code, message } => Self::Dependency {
                service: service.name(),
                message: format!("{code:?}: {message}"),
            },
            // The plan's data is the measures service's: it answered what cannot be read.
            PlanError::InvalidPlan { .. } | PlanError::UnknownTimeZone(_) => Self::Dependency {
                service: Owner::Measures.name(),
                message: error.to_string(),
            },
        }
    }
}

impl ReportingError {
    /// One invalid field.
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldViolation::new(field, description)])
    }
}

impl From<ReportingError> for Status {
    fn from(error: ReportingError) -> Status {
        let message = error.to_string();
        match error {
            ReportingError::Auth(auth) => auth.into(),
            ReportingError::RoleNotAllowed(_) => error::permission_denied(ErrorReason::RoleNotAllowed, message, []),
            ReportingError::NotOwnDepartment(_) => error::permission_denied(ErrorReason::NotOwnDepartment, message, []),
            ReportingError::Invalid(violations) => error::invalid_fields(&violations),
            ReportingError::RequestIdReused(violation) => error::request_id_reused(&violation),
            ReportingError::NotFound(not_found) => not_found.into(),
            ReportingError::NotResponsible { department, measure } => error::permission_denied(
                ErrorReason::DepartmentNotResponsible,
                message,
                [("department", department), ("measure", measure)],
            ),
            ReportingError::NotReporter { department, target, .. } => error::permission_denied(
                ErrorReason::TargetNotReported,
                message,
                [("department", department), ("target", target)],
            ),
            ReportingError::EtagMismatch(stale) => stale.into(),
            ReportingError::InvalidState { state, .. } => {
                error::failed_precondition(ErrorReason::InvalidState, message, [("state", state)])
            }
            ReportingError::OrderNotAddressed { department } => {
                error::permission_denied(ErrorReason::OrderNotAddressed, message, [("department", department)])
            }
            ReportingError::OrderStateInvalid { state, department, .. } => error::failed_precondition(
                ErrorReason::OrderStateInvalid,
                message,
                [("state", state), ("department", department)],
            ),
            ReportingError::OverQuota(over) => over.into(),
            ReportingError::TooManyItems(_) => error::resource_exhausted(ErrorReason::TooManyItems, message),
            ReportingError::NoticeNotAddressed(_) => {
                error::permission_denied(ErrorReason::NoticeNotAddressed, message, [])
            }
            ReportingError::NoticeDeliveryNotFailed { state, .. } => error::failed_precondition(
                ErrorReason::NoticeDeliveryNotFailed,
                message,
                [("state", state.clone())],
            ),
            ReportingError::EventsExpired(_) => error::out_of_range(ErrorReason::EventsExpired, message),
            ReportingError::ArchiveIncomplete { count, .. } => {
                error::failed_precondition(ErrorReason::ArchiveIncomplete, message, [("count", count.to_string())])
            }
            ReportingError::Dependency {
                service,
                message: answered,
            } => error::dependency_unavailable(&DependencyUnavailable {
                service,
                message: answered,
            }),
            ReportingError::ShuttingDown => error::unavailable(ErrorReason::ShuttingDown, message, []),
            ReportingError::Db(db) => error::database(&db),
        }
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
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert_eq!(duban_kit::status::field_violations(&status).len(), 2);
        assert_eq!(duban_kit::status::reason(&status).as_deref(), Some("FIELD_INVALID"));
        let status = Status::from(ReportingError::Auth(AuthError::Rejected));
        assert_eq!(status.code(), tonic::Code::Unauthenticated);
        assert_eq!(duban_kit::status::reason(&status).as_deref(), Some("TOKEN_INVALID"));
        let status = Status::from(ReportingError::from(DbErr::Custom("secret detail".into())));
        assert!(!status.message().contains("secret"));
    }

    /// One error of every kind. The match has no wildcard, so a new variant does not
    /// compile until it is added here too.
    fn one_of_each() -> Vec<ReportingError> {
        let cases = vec![
            ReportingError::Auth(AuthError::Rejected),
            ReportingError::Auth(AuthError::Denied("no".into())),
            ReportingError::Auth(AuthError::Unavailable("down".into())),
            ReportingError::RoleNotAllowed("leadership may not submit".into()),
            ReportingError::NotOwnDepartment("another department".into()),
            ReportingError::invalid("report.period", "is outside the plan"),
            ReportingError::RequestIdReused(FieldViolation::new("request_id", "was used")),
            NotFound::new(ErrorReason::PlanNotFound, "plans/x").into(),
            NotFound::new(ErrorReason::ReportNotFound, "plans/x/reports/4.1~a~2023-04").into(),
            NotFound::new(ErrorReason::RevisionNotFound, "plans/x/reports/4.1~a~2023-04@2").into(),
            ReportingError::NotResponsible {
                department: "a".into(),
                measure: "4.1".into(),
            },
            ReportingError::NotReporter {
                department: "a".into(),
                target: "t".into(),
                index: 0,
            },
            EtagMismatch {
                name: "plans/x/reports/4.1~a~2023-04".into(),
                current: String::new(),
            }
            .into(),
            ReportingError::InvalidState {
                name: "plans/x/reports/4.1~a~2023-04".into(),
                state: "STATE_ACCEPTED".into(),
            },
            NotFound::new(ErrorReason::OrderNotFound, "plans/x/orders/1").into(),
            ReportingError::OrderNotAddressed { department: "a".into() },
            ReportingError::OrderStateInvalid {
                name: "plans/x/orders/1".into(),
                what: "a's part".into(),
                state: "ORDER_PART_STATE_CLOSED".into(),
                department: "a".into(),
            },
            duban_kit::rate::OverQuota {
                retry_after: std::time::Duration::from_millis(50),
            }
            .into(),
            ReportingError::TooManyItems(1000),
            ReportingError::EventsExpired(7),
            NotFound::new(
                ErrorReason::NoticeNotFound,
                "plans/x/notices/2023-04-05~overdue~a~2023-03",
            )
            .into(),
            ReportingError::NoticeNotAddressed("not yours".into()),
            ReportingError::NoticeDeliveryNotFailed {
                name: "plans/p/notices/n".into(),
                state: "NOTICE_DELIVERY_STATE_DELIVERED".into(),
            },
            ReportingError::ArchiveIncomplete { expected: 3, count: 4 },
            ReportingError::Dependency {
                service: "measures",
                message: "down".into(),
            },
            ReportingError::ShuttingDown,
            ReportingError::from(DbErr::Custom("x".into())),
        ];
        for case in &cases {
            match case {
                ReportingError::Auth(_)
                | ReportingError::RoleNotAllowed(_)
                | ReportingError::NotOwnDepartment(_)
                | ReportingError::Invalid(_)
                | ReportingError::RequestIdReused(_)
                | ReportingError::NotFound(_)
                | ReportingError::NotResponsible { .. }
                | ReportingError::NotReporter { .. }
                | ReportingError::EtagMismatch(_)
                | ReportingError::InvalidState { .. }
                | ReportingError::OrderNotAddressed { .. }
                | ReportingError::OrderStateInvalid { .. }
                | ReportingError::OverQuota(_)
                | ReportingError::TooManyItems(_)
                | ReportingError::EventsExpired(_)
                | ReportingError::NoticeNotAddressed(_)
                | ReportingError::NoticeDeliveryNotFailed { .. }
                | ReportingError::ArchiveIncomplete { .. }
                | ReportingError::Dependency { .. }
                | ReportingError::ShuttingDown
                | ReportingError::Db(_) => {}
            }
        }
        cases
    }

    #[test]
    fn every_reason_sent_is_a_value_of_the_package_enum() {
        duban_kit::testing::assert_reasons_listed("reporting", one_of_each().into_iter().map(Status::from), |r| {
            ErrorReason::from_str_name(r).is_some()
        });
    }
}
