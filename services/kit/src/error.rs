//! The suite's one error vocabulary: the failures every service shares, and one function
//! per shape of `tonic::Status` (code, `ErrorInfo` reason in domain `duban`, and the
//! detail that shape carries). Each service maps its own error enum onto these, case by
//! case, with reasons from its package's generated `ErrorReason`, so a client handles a
//! reason the same way whichever server answered.

use sea_orm::DbErr;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::status::{
    FieldViolation, MAX_ECHO_CHARS, MAX_MESSAGE_CHARS, MAX_VIOLATION_BYTES, Reason, SuiteReason, bounded, with_reason,
};

/// The named resource does not exist. Its status says which kind of resource: reason
/// `<TYPE>_NOT_FOUND` from the service's `ErrorReason` (for example `PLAN_NOT_FOUND`) and a
/// `google.rpc.ResourceInfo` whose type is the reason's `<type>`, lowercase (`plan`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} {name:?} does not exist", .reason.resource_type())]
pub struct NotFound {
    /// The reason, a `<TYPE>_NOT_FOUND` value of the service's `ErrorReason`.
    pub reason: NotFoundReason,
    /// What was asked for, usually the resource name (`plans/jiading-2023`).
    pub name: String,
}

/// A `<TYPE>_NOT_FOUND` reason; the resource type is read from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotFoundReason(Reason);

impl<R: Into<Reason>> From<R> for NotFoundReason {
    fn from(reason: R) -> Self {
        Self(reason.into())
    }
}

impl NotFoundReason {
    /// The kind of resource, a lowercase noun: `PLAN_NOT_FOUND` names a `plan`.
    pub fn resource_type(self) -> String {
        let name = self.0.as_str();
        name.strip_suffix("_NOT_FOUND")
            .unwrap_or(name)
            .to_ascii_lowercase()
            .replace('_', " ")
    }
}

impl NotFound {
    /// The resource `name` does not exist; `reason` says what kind it is.
    pub fn new(reason: impl Into<NotFoundReason>, name: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            name: name.into(),
        }
    }

    /// The `ErrorInfo` reason.
    pub fn reason(&self) -> Reason {
        self.reason.0
    }

    /// The kind of resource, a lowercase noun: `plan`, `unit`, `report`, `revision` …
    pub fn resource_type(&self) -> String {
        self.reason.resource_type()
    }
}

impl From<NotFound> for Status {
    fn from(error: NotFound) -> Status {
        not_found(&error)
    }
}

/// The caller's etag is stale (AIP-154): ABORTED, reason `ETAG_MISMATCH`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name} changed since it was read: its etag is now {current:?}")]
pub struct EtagMismatch {
    /// The resource.
    pub name: String,
    /// Its current etag, empty if it does not exist yet.
    pub current: String,
}

impl From<EtagMismatch> for Status {
    fn from(error: EtagMismatch) -> Status {
        etag_mismatch(&error)
    }
}

/// Another service this one needs failed or is down: UNAVAILABLE, reason
/// `DEPENDENCY_UNAVAILABLE`, metadata `service`. Retryable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{service} is unavailable: {message}")]
pub struct DependencyUnavailable {
    /// Which service: its short name (`measures`), or its full name where a contract
    /// names services so (`duban.measures.v1.MeasuresService`).
    pub service: &'static str,
    /// What went wrong.
    pub message: String,
}

impl DependencyUnavailable {
    /// `service` answered `status` to a call this one needed.
    pub fn answered(service: &'static str, status: &Status) -> Self {
        Self {
            service,
            message: format!("{:?}: {}", status.code(), status.message()),
        }
    }

    /// The connection to `service` failed with `error`: the message gives its whole
    /// chain of causes, since a transport error alone ("transport error") says nothing
    /// of what broke (a reset stream, a closed connection, a refused connect).
    pub fn unreachable(service: &'static str, error: &(dyn std::error::Error + 'static)) -> Self {
        Self {
            service,
            message: causes(error),
        }
    }
}

/// `error` and each of its sources, joined with ": ", with a cause that merely repeats
/// the one before it left out.
pub fn causes(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let part = cause.to_string();
        if !text.ends_with(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = cause.source();
    }
    text
}

impl From<DependencyUnavailable> for Status {
    fn from(error: DependencyUnavailable) -> Status {
        dependency_unavailable(&error)
    }
}

/// INVALID_ARGUMENT, reason `FIELD_INVALID`, with every violation as a
/// `google.rpc.BadRequest`; the message summarises the first ones.
pub fn invalid_fields(violations: &[FieldViolation]) -> Status {
    bad_request(violations, SuiteReason::FieldInvalid.into())
}

/// INVALID_ARGUMENT, reason `REQUEST_ID_REUSED` (AIP-155): the id was already used for
/// a different request. The violation names `request_id`.
pub fn request_id_reused(violation: &FieldViolation) -> Status {
    bad_request(std::slice::from_ref(violation), SuiteReason::RequestIdReused.into())
}

fn bad_request(violations: &[FieldViolation], reason: Reason) -> Status {
    let mut details = ErrorDetails::new();
    // Bounded like every status (`status::MAX_ECHO_CHARS`): a path or a description may
    // echo the request, and hundreds of violations would pass the clients' trailer limit.
    let mut budget = MAX_VIOLATION_BYTES;
    let mut sent = Vec::new();
    for violation in violations {
        let field = bounded(&violation.field, MAX_ECHO_CHARS);
        let description = bounded(&violation.description, MAX_ECHO_CHARS);
        let zh = violation.zh.as_deref().map(|zh| bounded(zh, MAX_ECHO_CHARS));
        let size = field.len() + description.len() + zh.as_ref().map_or(0, String::len);
        let Some(left) = budget.checked_sub(size) else {
            break;
        };
        budget = left;
        sent.push(tonic_types::FieldViolation {
            localized_message: zh.map(|message| tonic_types::LocalizedMessage {
                locale: crate::status::ZH_LOCALE.to_owned(),
                message,
            }),
            ..tonic_types::FieldViolation::new(field, description)
        });
    }
    if !sent.is_empty() {
        details.set_bad_request(sent);
    }
    details.set_error_info(
        reason.as_str(),
        crate::status::ERROR_DOMAIN,
        std::collections::HashMap::new(),
    );
    Status::with_error_details(
        Code::InvalidArgument,
        bounded(&summary(violations), MAX_MESSAGE_CHARS),
        details,
    )
}

/// `field: description (and n more)`, the message of a status with field violations.
pub fn summary(violations: &[FieldViolation]) -> String {
    match violations {
        [] => "invalid request".to_owned(),
        [only] => format!("{}: {}", only.field, only.description),
        [first, rest @ ..] => format!("{}: {} (and {} more)", first.field, first.description, rest.len()),
    }
}

/// NOT_FOUND naming the resource: reason `<TYPE>_NOT_FOUND`, metadata `resource` and
/// `name`, and a `google.rpc.ResourceInfo` with the resource type and name.
pub fn not_found(error: &NotFound) -> Status {
    let resource_type = error.resource_type();
    // The name comes from the request: bounded, as every status echo is.
    let name = bounded(&error.name, MAX_ECHO_CHARS);
    let metadata = [
        ("resource".to_owned(), resource_type.clone()),
        ("name".to_owned(), name.clone()),
    ];
    let mut details = ErrorDetails::new();
    details.set_error_info(error.reason().as_str(), crate::status::ERROR_DOMAIN, metadata);
    details.set_resource_info(resource_type, name, "", "");
    Status::with_error_details(Code::NotFound, bounded(&error.to_string(), MAX_MESSAGE_CHARS), details)
}

/// UNAUTHENTICATED, reason `TOKEN_INVALID`: the token is missing, malformed, unknown or revoked.
pub fn unauthenticated(message: impl Into<String>) -> Status {
    with_reason(Code::Unauthenticated, message, SuiteReason::TokenInvalid, [])
}

/// PERMISSION_DENIED with the refusal's reason (`ROLE_NOT_ALLOWED`, `NOT_OWN_DEPARTMENT` …).
pub fn permission_denied<'a>(
    reason: impl Into<Reason>,
    message: impl Into<String>,
    metadata: impl IntoIterator<Item = (&'a str, String)>,
) -> Status {
    with_reason(Code::PermissionDenied, message, reason, metadata)
}

/// ALREADY_EXISTS with its reason and what collides.
pub fn already_exists<'a>(
    reason: impl Into<Reason>,
    message: impl Into<String>,
    metadata: impl IntoIterator<Item = (&'a str, String)>,
) -> Status {
    with_reason(Code::AlreadyExists, message, reason, metadata)
}

/// ABORTED, reason `ETAG_MISMATCH`, metadata `current_etag`: read again and retry.
pub fn etag_mismatch(error: &EtagMismatch) -> Status {
    aborted(
        SuiteReason::EtagMismatch,
        error.to_string(),
        [("current_etag", error.current.clone())],
    )
}

/// ABORTED with its reason: a concurrent change won; read again and retry.
pub fn aborted<'a>(
    reason: impl Into<Reason>,
    message: impl Into<String>,
    metadata: impl IntoIterator<Item = (&'a str, String)>,
) -> Status {
    with_reason(Code::Aborted, message, reason, metadata)
}

/// FAILED_PRECONDITION with its reason: the system is not in a state that allows the call.
pub fn failed_precondition<'a>(
    reason: impl Into<Reason>,
    message: impl Into<String>,
    metadata: impl IntoIterator<Item = (&'a str, String)>,
) -> Status {
    with_reason(Code::FailedPrecondition, message, reason, metadata)
}

/// OUT_OF_RANGE with its reason: a position past what is kept or exists.
pub fn out_of_range(reason: impl Into<Reason>, message: impl Into<String>) -> Status {
    with_reason(Code::OutOfRange, message, reason, [])
}

/// RESOURCE_EXHAUSTED with its reason: a limit of the call was reached.
pub fn resource_exhausted(reason: impl Into<Reason>, message: impl Into<String>) -> Status {
    with_reason(Code::ResourceExhausted, message, reason, [])
}

/// RESOURCE_EXHAUSTED, reason `RATE_LIMITED`, with a `google.rpc.RetryInfo` saying
/// when the caller may write again.
pub fn rate_limited(message: impl Into<String>, retry_after: std::time::Duration) -> Status {
    let mut details = tonic_types::ErrorDetails::new();
    details.set_error_info(
        crate::status::Reason::from(SuiteReason::RateLimited).as_str(),
        crate::status::ERROR_DOMAIN,
        std::collections::HashMap::new(),
    );
    details.set_retry_info(Some(retry_after));
    <Status as tonic_types::StatusExt>::with_error_details(Code::ResourceExhausted, message, details)
}

/// UNAVAILABLE, reason `DEPENDENCY_UNAVAILABLE`, metadata `service`.
pub fn dependency_unavailable(error: &DependencyUnavailable) -> Status {
    unavailable(
        SuiteReason::DependencyUnavailable,
        error.to_string(),
        [("service", error.service.to_owned())],
    )
}

/// UNAVAILABLE with its reason (`SHUTTING_DOWN` …): retry later.
pub fn unavailable<'a>(
    reason: impl Into<Reason>,
    message: impl Into<String>,
    metadata: impl IntoIterator<Item = (&'a str, String)>,
) -> Status {
    with_reason(Code::Unavailable, message, reason, metadata)
}

/// A database failure, logged in full and reported without internals: UNAVAILABLE,
/// reason `DATABASE_UNAVAILABLE`, when the database cannot be reached (retryable);
/// INTERNAL, reason `DATABASE_ERROR`, otherwise.
pub fn database(error: &DbErr) -> Status {
    if crate::db::is_concurrent_write(error) {
        // Another replica or request won a race the database refereed: not a failure.
        tracing::info!(%error, "write lost a race with a concurrent writer");
        return with_reason(
            Code::Aborted,
            "a concurrent write changed the same resource; retry with the same request_id",
            SuiteReason::ConcurrentWrite,
            [],
        );
    }
    tracing::error!(%error, "database error");
    // A connection that breaks in the middle of a statement fails it with an I/O error,
    // not a connection error: it is the database going away all the same, so retryable
    // UNAVAILABLE, not INTERNAL (issue 12, PostgreSQL stops mid-run).
    if crate::db::is_unreachable(error) {
        unavailable(
            SuiteReason::DatabaseUnavailable,
            "the database is unavailable; retry later",
            [],
        )
    } else {
        with_reason(
            Code::Internal,
            "the database failed to complete the request",
            SuiteReason::DatabaseError,
            [],
        )
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn causes_names_every_source_once() {
        #[derive(Debug, thiserror::Error)]
        #[error("transport error")]
        struct Transport(#[source] std::io::Error);
        let error = Transport(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "connection reset",
        ));
        assert_eq!(super::causes(&error), "transport error: connection reset");
        let plain = std::io::Error::other("refused");
        assert_eq!(super::causes(&plain), "refused");
    }

    use super::*;
    use crate::status::{field_violations, reason};

    #[test]
    fn invalid_argument_round_trips_every_violation() {
        let status = invalid_fields(&[
            FieldViolation::new("department.code", "must be a lowercase ascii slug"),
            FieldViolation::new("department.kind", "must be set"),
        ]);
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(
            status
                .message()
                .starts_with("department.code: must be a lowercase ascii slug (and 1 more)")
        );
        let fields: Vec<_> = field_violations(&status).into_iter().map(|v| v.field).collect();
        assert_eq!(fields, ["department.code", "department.kind"]);
        assert_eq!(reason(&status).as_deref(), Some("FIELD_INVALID"));
    }

    #[test]
    fn a_chinese_text_travels_as_the_localized_message() {
        let sent = [
            FieldViolation::bilingual("report.narrative", "is required", "必填"),
            FieldViolation::new("report.period", "is required"),
        ];
        let status = invalid_fields(&sent);
        let bad = status.get_details_bad_request().expect("a BadRequest");
        let localized = bad.field_violations[0]
            .localized_message
            .as_ref()
            .expect("a localized message");
        assert_eq!(
            (localized.locale.as_str(), localized.message.as_str()),
            ("zh-CN", "必填")
        );
        assert!(bad.field_violations[1].localized_message.is_none());
        let read = field_violations(&status);
        assert_eq!(read, sent);
        assert_eq!((read[0].text(true), read[0].text(false)), ("必填", "is required"));
        assert_eq!(read[1].text(true), "is required", "English where there is no Chinese");
    }

    #[test]
    fn not_found_names_the_resource_type() {
        let status = not_found(&NotFound::new(
            duban_proto::departments::v1::ErrorReason::UnitNotFound,
            "departments/tax-bureau",
        ));
        assert_eq!(status.code(), Code::NotFound);
        assert_eq!(reason(&status).as_deref(), Some("UNIT_NOT_FOUND"));
        let info = status.get_details_resource_info().expect("resource info");
        assert_eq!(info.resource_type, "unit");
        assert_eq!(info.resource_name, "departments/tax-bureau");
        let error_info = status.get_details_error_info().expect("error info");
        assert_eq!(error_info.domain, crate::status::ERROR_DOMAIN);
        assert_eq!(error_info.metadata["resource"], "unit");
        assert!(
            status.message().contains("departments/tax-bureau"),
            "{}",
            status.message()
        );
    }

    #[test]
    fn request_id_reuse_is_its_own_reason_with_the_field() {
        let status = request_id_reused(&FieldViolation::new("request_id", "was already used"));
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(reason(&status).as_deref(), Some("REQUEST_ID_REUSED"));
        let fields: Vec<_> = field_violations(&status).into_iter().map(|v| v.field).collect();
        assert_eq!(fields, ["request_id"]);
    }

    #[test]
    fn stale_etags_and_dependencies_carry_their_metadata() {
        let stale = etag_mismatch(&EtagMismatch {
            name: "plans/p".into(),
            current: "r2s1".into(),
        });
        assert_eq!(stale.code(), Code::Aborted);
        assert_eq!(stale.get_details_error_info().unwrap().metadata["current_etag"], "r2s1");
        let down = dependency_unavailable(&DependencyUnavailable::answered(
            "measures",
            &Status::unavailable("connection refused"),
        ));
        assert_eq!(down.code(), Code::Unavailable);
        assert_eq!(reason(&down).as_deref(), Some("DEPENDENCY_UNAVAILABLE"));
        assert_eq!(down.get_details_error_info().unwrap().metadata["service"], "measures");
    }

    #[test]
    fn kit_sends_only_suite_wide_reasons() {
        let statuses = [
            Status::from(crate::auth::AuthError::Missing),
            Status::from(crate::auth::AuthError::Denied("admin only".into())),
            Status::from(crate::auth::AuthError::Unavailable("down".into())),
            invalid_fields(&[]),
            request_id_reused(&FieldViolation::new("request_id", "was used")),
            database(&DbErr::Custom("x".into())),
            database(&DbErr::Conn(sea_orm::RuntimeErr::Internal("down".into()))),
            crate::server::Ready::<()>::default().get().unwrap_err(),
        ];
        for status in statuses {
            let info = status.get_details_error_info().expect("error info");
            assert_eq!(info.domain, crate::status::ERROR_DOMAIN);
            assert!(SuiteReason::from_str_name(&info.reason).is_some(), "{}", info.reason);
        }
    }

    #[test]
    fn database_details_stay_in_the_log() {
        let status = database(&DbErr::Custom("secret detail".into()));
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("secret"));
        let status = database(&DbErr::Conn(sea_orm::RuntimeErr::Internal("down".into())));
        assert_eq!(status.code(), Code::Unavailable);
    }

    #[test]
    fn a_connection_broken_mid_statement_is_unavailable() {
        let broken = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "connection reset by peer");
        let error = DbErr::Query(sea_orm::RuntimeErr::SqlxError(std::sync::Arc::new(
            sea_orm::sqlx::Error::Io(broken),
        )));
        let status = database(&error);
        assert_eq!(status.code(), Code::Unavailable);
        assert_eq!(reason(&status).as_deref(), Some("DATABASE_UNAVAILABLE"));
        let timed_out = DbErr::Exec(sea_orm::RuntimeErr::SqlxError(std::sync::Arc::new(
            sea_orm::sqlx::Error::PoolTimedOut,
        )));
        assert_eq!(database(&timed_out).code(), Code::Unavailable);
    }
}
