//! The one mapping from ledger errors to gRPC statuses: only `fiscusd` makes status codes, and only
//! here for anything the ledger refuses.
//!
//! | `ErrorClass` | status |
//! |---|---|
//! | Invalid | `INVALID_ARGUMENT`, with a `google.rpc.BadRequest` field violation naming the field |
//! | Refused | `FAILED_PRECONDITION` |
//! | NotFound | `NOT_FOUND` |
//! | Conflict | `ALREADY_EXISTS` |
//! | Stale | `ABORTED` (the message gives the current head) |
//! | Corrupt | `DATA_LOSS` |
//! | Storage (read-only store, disk failure) | `UNAVAILABLE` |

use fiscus_ledger::{ErrorClass, LedgerError};
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// The gRPC status for a ledger error. Its message is the error's sentence, which names the field
/// or the rule.
pub fn ledger_status(err: &LedgerError) -> Status {
    let code = match err.class() {
        ErrorClass::Invalid => Code::InvalidArgument,
        ErrorClass::Refused => Code::FailedPrecondition,
        ErrorClass::NotFound => Code::NotFound,
        ErrorClass::Conflict => Code::AlreadyExists,
        ErrorClass::Stale => Code::Aborted,
        ErrorClass::Corrupt => Code::DataLoss,
        ErrorClass::Storage => Code::Unavailable,
    };
    let message = bounded(&err.to_string(), MESSAGE_CHARS_MAX);
    match (code, err.field()) {
        (Code::InvalidArgument, Some(field)) => {
            let description = match err {
                LedgerError::Invalid { message, .. } => bounded(message, MESSAGE_CHARS_MAX),
                other => bounded(&other.to_string(), MESSAGE_CHARS_MAX),
            };
            let details = ErrorDetails::with_bad_request_violation(bounded(field, FIELD_CHARS_MAX), description);
            Status::with_error_details(code, message, details)
        }
        _ => Status::new(code, message),
    }
}

/// Most characters of a status message (and of a field violation's description). The ledger
/// shows a long value cut ([`fiscus_ledger::error::quoted`]); this bounds what else a message holds,
/// so a refusal stays well within the 16 KiB of metadata gRPC clients read.
pub const MESSAGE_CHARS_MAX: usize = 2048;

/// Most characters of a field path in a field violation (a map key in it comes from the request).
pub const FIELD_CHARS_MAX: usize = 256;

/// `text`, or its first `max` characters and `…` when it is longer.
pub fn bounded(text: &str, max: usize) -> String {
    match fiscus_ledger::error::cut(text, max, max) {
        Some((start, _)) => format!("{start}…"),
        None => text.to_owned(),
    }
}

/// `INVALID_ARGUMENT` for a request field the daemon itself checks (page sizes, limits), through
/// the same mapping as the ledger's own refusals.
pub fn invalid(field: &str, message: impl Into<String>) -> Status {
    ledger_status(&LedgerError::invalid(field, message))
}

/// `OUT_OF_RANGE` for a request field past what exists now (a cursor past the head), naming the
/// field as a `BadRequest` violation as `INVALID_ARGUMENT` does: the same request may be valid later.
pub fn invalid_range(field: &str, message: impl Into<String>) -> Status {
    let message = message.into();
    let details = ErrorDetails::with_bad_request_violation(bounded(field, FIELD_CHARS_MAX), message.clone());
    Status::with_error_details(Code::OutOfRange, bounded(&format!("{field}: {message}"), MESSAGE_CHARS_MAX), details)
}

/// tonic answers two refusals of a request's bytes with codes the contract gives otherwise. A
/// server layer passes every response through this, which rewrites only those (trailers-only
/// responses, so the status is in the headers):
/// - a request message over `max_decoding_message_size` is `OUT_OF_RANGE` in tonic, and
///   `RESOURCE_EXHAUSTED` in the contract;
/// - bytes that are no message of the method's type (a wrong wire type, nesting past prost's
///   recursion limit) are `INTERNAL` in tonic, which the contract keeps for a fault of the server;
///   they are the caller's error, `INVALID_ARGUMENT` (on any service: health and reflection
///   too), and the message says so before prost's words.
pub fn contract_status<B>(mut response: http::Response<B>) -> http::Response<B> {
    let headers = response.headers_mut();
    let status = headers.get("grpc-status").map(|v| v.as_bytes().to_vec());
    let message = headers.get("grpc-message").and_then(|m| m.to_str().ok()).unwrap_or_default().to_owned();
    let said = |words: &str| message.contains(&words.replace(' ', "%20")) || message.contains(words);
    match status.as_deref() {
        Some(b"11") if said("message length too large") => {
            headers.insert("grpc-status", http::HeaderValue::from_static("8"));
        }
        Some(b"13") if said("failed to decode Protobuf message") => {
            headers.insert("grpc-status", http::HeaderValue::from_static("3"));
            // the message is percent-encoded already; the words before it are plain ASCII
            if let Ok(value) = http::HeaderValue::from_str(&format!(
                "the request is not a valid message of the method's request type: {message}"
            )) {
                headers.insert("grpc-message", value);
            }
        }
        _ => {}
    }
    response
}

#[cfg(test)]
mod tests {
    use fiscus_ledger::ProjectId;

    use super::*;

    #[test]
    fn every_class_has_its_code() {
        let p = ProjectId::parse("project", "rustconf-2026").expect("valid id");
        let cases: Vec<(LedgerError, Code)> = vec![
            (LedgerError::invalid("events[0].amount", "must be positive"), Code::InvalidArgument),
            (LedgerError::ProjectClosed { project: p.clone() }, Code::FailedPrecondition),
            (LedgerError::UnknownProject { project: p.clone() }, Code::NotFound),
            (LedgerError::ProjectExists { project: p.clone() }, Code::AlreadyExists),
            (LedgerError::HeadMismatch { project: p.clone(), expected: 3, head: 5 }, Code::Aborted),
            (LedgerError::Corrupt { project: "x".into(), seq: 2, problem: "hash".into() }, Code::DataLoss),
            (LedgerError::ReadOnly("damaged".into()), Code::Unavailable),
        ];
        for (err, code) in cases {
            assert_eq!(ledger_status(&err).code(), code, "{err}");
        }
    }

    #[test]
    fn invalid_names_the_field_in_message_and_detail() {
        let status = ledger_status(&LedgerError::invalid("events[2].contribution_received.amount", "bad"));
        assert!(status.message().contains("events[2].contribution_received.amount"));
        let details = status.get_error_details();
        let bad = details.bad_request().expect("a BadRequest detail");
        assert_eq!(bad.field_violations[0].field, "events[2].contribution_received.amount");
    }

    #[test]
    fn a_long_message_or_field_is_cut() {
        let key = "k".repeat(100_000);
        let field = format!("expected_seq[{key}]");
        let status = ledger_status(&LedgerError::invalid(&field, "x".repeat(50_000)));
        assert!(status.message().chars().count() <= MESSAGE_CHARS_MAX + 1, "{}", status.message().len());
        let details = status.get_error_details();
        let bad = details.bad_request().expect("a BadRequest detail");
        assert_eq!(bad.field_violations[0].field.chars().count(), FIELD_CHARS_MAX + 1);
        assert!(
            bad.field_violations[0].field.starts_with("expected_seq[kkk")
                && bad.field_violations[0].field.ends_with('…')
        );
        assert!(bad.field_violations[0].description.chars().count() <= MESSAGE_CHARS_MAX + 1);
    }

    #[test]
    fn stale_gives_the_current_head() {
        let p = ProjectId::parse("project", "meetup").expect("valid id");
        let status = ledger_status(&LedgerError::HeadMismatch { project: p, expected: 1, head: 7 });
        assert!(status.message().contains("head is 7"), "{}", status.message());
    }
}
