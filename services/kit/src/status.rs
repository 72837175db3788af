//! The base of every Duban status: an `ErrorInfo` with a machine-readable reason in the
//! suite's one domain, the field violation type (AIP-193), and readers for clients and
//! tests. The shapes built on it (NOT_FOUND, FIELD_INVALID …) live in [`crate::error`].

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

#[cfg(test)]
mod tests {
    use super::*;

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
