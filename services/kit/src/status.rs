//! The base of every Duban status: an `ErrorInfo` with a machine-readable reason in the
//! suite's one domain, the field violation type (AIP-193), and readers for clients and
//! tests. The shapes built on it (NOT_FOUND, FIELD_INVALID …) live in [`crate::error`].
//!
//! A reason is always a value of a package's generated `ErrorReason` enum (see [`Reason`]),
//! so what the servers send and what the protos list cannot drift apart.

use std::collections::HashMap;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// The `ErrorInfo.domain` of every Duban error: one domain for the whole suite, so a
/// client handles a reason the same way whichever service (or the gateway) answered.
pub const ERROR_DOMAIN: &str = "duban";

/// An `ErrorInfo.reason`. It can only be made from a generated `ErrorReason` enum
/// (`duban.common.v1` for the suite-wide reasons kit sends, the service's own package for
/// the rest), never from a string, so every reason sent is a value the protos list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Reason(&'static str);

impl Reason {
    /// The reason as sent: the enum value's name, for example `TOKEN_INVALID`.
    pub fn as_str(self) -> &'static str {
        self.0
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// `From<ErrorReason> for Reason` for every package's generated enum.
macro_rules! reasons_of {
    ($($package:ident),+) => {
        $(
            impl From<duban_proto::$package::v1::ErrorReason> for Reason {
                fn from(reason: duban_proto::$package::v1::ErrorReason) -> Self {
                    Self(reason.as_str_name())
                }
            }
        )+
    };
}
reasons_of!(common, departments, measures, targets, reporting, gateway);

/// The suite-wide reasons, as kit sends them.
pub(crate) use duban_proto::common::v1::ErrorReason as SuiteReason;

/// The locale of [`FieldViolation::zh`] as sent in `LocalizedMessage.locale`.
pub const ZH_LOCALE: &str = "zh-CN";

/// One problem with one request field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    /// Path of the field, for example `department.code` or `values[2].unit`.
    pub field: String,
    /// What is wrong with it, lowercase, no trailing period: English, for developers
    /// and logs (AIP-193 `description`).
    pub description: String,
    /// The same in Chinese, for a page that shows it to a unit's clerk beside the field
    /// (AIP-193 `localized_message`, locale [`ZH_LOCALE`]): sent where a unit can make
    /// the mistake in a form or a workbook, so the gateway need not guess a translation.
    pub zh: Option<String>,
}

impl FieldViolation {
    /// A violation of `field`.
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            description: description.into(),
            zh: None,
        }
    }

    /// A violation of `field`, said in English and in Chinese.
    pub fn bilingual(field: impl Into<String>, description: impl Into<String>, zh: impl Into<String>) -> Self {
        Self {
            zh: Some(zh.into()),
            ..Self::new(field, description)
        }
    }

    /// What to show a reader of `lang` (`zh` or `en`): the Chinese text if there is one
    /// and they read Chinese, else the English.
    pub fn text(&self, zh: bool) -> &str {
        match (&self.zh, zh) {
            (Some(text), true) => text,
            _ => &self.description,
        }
    }
}

/// Most characters of request data a status echoes (a name, a code, a department), and
/// of any one field path or description. A status travels in HTTP/2 trailers, which
/// clients cap (hyper and tonic at 16 KiB, gRPC core at 8 KiB): echoing a 4,001-character
/// department percent-encoded in `grpc-message` and again in the details made the client
/// drop the connection (COMPRESSION_ERROR or PROTOCOL_ERROR), so the caller saw INTERNAL
/// instead of the refusal (found by the property tests, issue 12). With these bounds a
/// status stays under about 10 KiB on the wire whatever the request held.
pub const MAX_ECHO_CHARS: usize = 100;
/// Most characters of a status message (up to 9 bytes each once percent-encoded).
pub const MAX_MESSAGE_CHARS: usize = 200;
/// Most bytes of field paths and descriptions one `BadRequest` carries: past it the
/// remaining violations are left out (the message says how many there are in all).
pub const MAX_VIOLATION_BYTES: usize = 4096;

/// `text` cut to at most `max` characters, with `…` marking a cut.
pub fn bounded(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_owned(),
        Some((end, _)) => format!("{}…", &text[..end]),
    }
}

/// A status of any code with an `ErrorInfo` reason and metadata; the message and every
/// metadata value bounded ([`MAX_MESSAGE_CHARS`], [`MAX_ECHO_CHARS`]).
pub fn with_reason<'a>(
    code: Code,
    message: impl Into<String>,
    reason: impl Into<Reason>,
    metadata: impl IntoIterator<Item = (&'a str, String)>,
) -> Status {
    let metadata: HashMap<String, String> = metadata
        .into_iter()
        .map(|(k, v)| (k.to_owned(), bounded(&v, MAX_ECHO_CHARS)))
        .collect();
    let mut details = ErrorDetails::new();
    details.set_error_info(reason.into().as_str(), ERROR_DOMAIN, metadata);
    Status::with_error_details(code, bounded(&message.into(), MAX_MESSAGE_CHARS), details)
}

/// Reads the field violations back out of a status (for clients and tests).
pub fn field_violations(status: &Status) -> Vec<FieldViolation> {
    status
        .get_details_bad_request()
        .map(|bad| {
            bad.field_violations
                .into_iter()
                .map(|v| FieldViolation {
                    zh: v.localized_message.filter(|m| m.locale == ZH_LOCALE).map(|m| m.message),
                    ..FieldViolation::new(v.field, v.description)
                })
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
            duban_proto::departments::v1::ErrorReason::UnitNotFound,
            [("unit", "x".to_owned())],
        );
        let info = status.get_details_error_info().unwrap();
        assert_eq!(info.reason, "UNIT_NOT_FOUND");
        assert_eq!(info.domain, ERROR_DOMAIN);
        assert_eq!(info.metadata.get("unit").map(String::as_str), Some("x"));
    }
}
