//! Building `tonic::Status` values the same way everywhere: an `ErrorInfo` with a
//! machine-readable reason, and `BadRequest` field violations naming each bad field
//! (AIP-193). Each domain maps its own error enum through these helpers in one place.

use std::collections::HashMap;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// The `ErrorInfo.domain` of every Duban error: one domain for the whole suite, so a
/// client handles a reason the same way whichever service (or the gateway) answered.
pub const ERROR_DOMAIN: &str = "duban";

/// One problem with one request field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    /// Path of the field, for example `department.code` or `values[2].unit`.
    pub field: String,
    /// What is wrong with it, lowercase, no trailing period.
    pub description: String,
}

impl FieldViolation {
    /// A violation of `field`.
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            description: description.into(),
        }
    }
}

/// INVALID_ARGUMENT carrying every violation; the message summarises the first ones.
pub fn invalid_argument(violations: &[FieldViolation]) -> Status {
    let message = match violations {
        [] => "invalid request".to_owned(),
        [only] => format!("{}: {}", only.field, only.description),
        [first, rest @ ..] => format!("{}: {} (and {} more)", first.field, first.description, rest.len()),
    };
    let mut details = ErrorDetails::new();
    for violation in violations {
        details.add_bad_request_violation(violation.field.clone(), violation.description.clone());
    }
    details.set_error_info("FIELD_INVALID", ERROR_DOMAIN, HashMap::new());
    Status::with_error_details(Code::InvalidArgument, message, details)
}

/// A status of any code with an `ErrorInfo` reason (UPPER_SNAKE_CASE) and metadata.
pub fn with_reason<'a>(
    code: Code,
    message: impl Into<String>,
    reason: &str,
    metadata: impl IntoIterator<Item = (&'a str, String)>,
) -> Status {
    let metadata: HashMap<String, String> = metadata.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    let mut details = ErrorDetails::new();
    details.set_error_info(reason, ERROR_DOMAIN, metadata);
    Status::with_error_details(code, message, details)
}

/// Reads the field violations back out of a status (for clients and tests).
pub fn field_violations(status: &Status) -> Vec<FieldViolation> {
    status
        .get_details_bad_request()
        .map(|bad| {
            bad.field_violations
                .into_iter()
                .map(|v| FieldViolation::new(v.field, v.description))
                .collect()
        })
        .unwrap_or_default()
}

/// Reads the `ErrorInfo.reason` back out of a status.
pub fn reason(status: &Status) -> Option<String> {
    status.get_details_error_info().map(|info| info.reason)
}

/// A database failure, logged in full and reported without internals: UNAVAILABLE
/// when the database cannot be reached (retryable), INTERNAL otherwise.
pub fn database(error: &sea_orm::DbErr) -> Status {
    use sea_orm::DbErr;
    let retryable = matches!(error, DbErr::Conn(_) | DbErr::ConnectionAcquire(_));
    tracing::error!(%error, "database error");
    if retryable {
        with_reason(
            Code::Unavailable,
            "the database is unavailable; retry later",
            "DATABASE_UNAVAILABLE",
            [],
        )
    } else {
        with_reason(
            Code::Internal,
            "the database failed to complete the request",
            "DATABASE_ERROR",
            [],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_argument_round_trips_every_violation() {
        let status = invalid_argument(&[
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
    fn reasons_carry_metadata() {
        let status = with_reason(
            Code::NotFound,
            "no such unit",
            "UNIT_NOT_FOUND",
            [("unit", "x".to_owned())],
        );
        let info = status.get_details_error_info().unwrap();
        assert_eq!(info.reason, "UNIT_NOT_FOUND");
        assert_eq!(info.domain, ERROR_DOMAIN);
        assert_eq!(info.metadata.get("unit").map(String::as_str), Some("x"));
    }
}
