//! The client's one error type. A refusal by the server keeps its gRPC status code and message
//! (and the refused field, when the server names one); a failed local verification names the
//! project, the seq and what differs.

use fiscus_ledger::LedgerError;
pub use tonic::Code;

/// Everything a [`crate::Client`] call can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The URL or the TLS options are unusable.
    #[error("cannot use server {url}: {message}")]
    Config {
        /// The server URL as given.
        url: String,
        /// What is wrong.
        message: String,
    },
    /// No connection to the server (refused, timed out, TLS handshake failed).
    #[error("cannot reach {url}: {message}")]
    Connect {
        /// The server URL.
        url: String,
        /// What the transport said.
        message: String,
    },
    /// The server answered with a gRPC error status: its code and message are kept as sent.
    #[error("{}: {message}", code_name(*code))]
    Status {
        /// The gRPC status code (`FAILED_PRECONDITION` for a business rule, `INVALID_ARGUMENT` …).
        code: Code,
        /// The server's message, a sentence naming the field or the rule.
        message: String,
        /// The refused field's path, from the status's `google.rpc.BadRequest` detail.
        field: Option<String>,
    },
    /// A request the client refuses to send (a malformed event, caught before the network).
    #[error("invalid request: {0}")]
    Request(#[source] LedgerError),
    /// The server's answer is malformed (a missing field, an unparseable amount).
    #[error("malformed answer from the server: {field}: {message}")]
    Answer {
        /// The answer's field.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// The local file keeping the last checkpoint accepted (`--state`) cannot be read, written or
    /// used: a local problem, not the server's.
    #[error("state file {path}: {message}")]
    State {
        /// The state file.
        path: std::path::PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A witness policy was asked for and no checkpoint containing the one the head is proven
    /// under carries its quorum of valid cosignatures (within the wait given): the balance is
    /// refused, as no quorum vouches for it.
    #[error("witness policy not met for {project}{}: {message}", head_under(*size))]
    WitnessPolicy {
        /// The project.
        project: String,
        /// The size of the checkpoint the head is proven under (0 when the policy was refused
        /// before any was fetched).
        size: u64,
        /// What is missing: which witnesses cosigned what, and which have not cosigned at all.
        message: String,
    },
    /// Local verification failed: the server's chain is broken, or what it reports differs from
    /// what the verified records add up to.
    #[error("verification of {project} failed{}: {problem}", at_seq(*seq))]
    Verification {
        /// The project.
        project: String,
        /// The seq of the first bad record, or the head seq the differing report is about; 0 when
        /// the problem is with no record (a checkpoint refused), and then not shown.
        seq: u64,
        /// What differs, as a sentence.
        problem: String,
    },
}

impl ClientError {
    /// The gRPC status code when the server refused the call.
    pub fn code(&self) -> Option<Code> {
        match self {
            ClientError::Status { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// True for a failed verification (a lying server or a damaged chain).
    pub fn is_verification(&self) -> bool {
        matches!(self, ClientError::Verification { .. })
            || matches!(self, ClientError::Status { code: Code::DataLoss, .. })
    }

    /// True when the server could not be reached or did not answer (`Connect`, the status
    /// `UNAVAILABLE` that a transport failure becomes, or `DEADLINE_EXCEEDED`: no answer within
    /// the call's deadline): the same call may succeed later, as after a restart of the server.
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            ClientError::Connect { .. } | ClientError::Status { code: Code::Unavailable | Code::DeadlineExceeded, .. }
        )
    }

    pub(crate) fn answer(field: &str, message: impl Into<String>) -> ClientError {
        ClientError::Answer { field: field.to_owned(), message: message.into() }
    }
}

/// What a call past its deadline fails with (`DEADLINE_EXCEEDED`), whichever side gave up. A
/// commit's outcome is then unknown: retrying it with the same event ids records it at most once.
pub const NO_ANSWER_IN_TIME: &str =
    "no answer within the call's deadline: the server may be stopped, overloaded or cut off";

/// What a call fails with when the connection's keep-alive PING goes unanswered
/// ([`crate::KEEP_ALIVE_TIMEOUT_MS`]): the server took the call and then stopped answering.
pub const STOPPED_ANSWERING: &str = "the server stopped answering (the connection's keep-alive PING went \
                                     unanswered): it may be stopped, overloaded or cut off";

/// What a call fails with when its connection is lost before the answer is complete (the server
/// stopped, restarted or was cut off mid-call): the status `UNAVAILABLE`, as gRPC names a
/// transport failure, where h2 leaves it `UNKNOWN`. A commit's outcome is then unknown.
pub const CUT_OFF_MID_CALL: &str =
    "the connection was lost before the server's answer was complete: the server may have stopped, restarted or \
     been cut off";

/// Words of the transport's errors (h2, hyper, the socket) for a connection lost under a call.
const CUT_OFF: [&str; 4] = [
    "error reading a body from connection",
    "connection closed before message completed",
    "connection reset",
    "broken pipe",
];

impl From<tonic::Status> for ClientError {
    fn from(status: tonic::Status) -> ClientError {
        use tonic_types::StatusExt;
        // tonic ends a call past its `grpc-timeout`, on the client or the server, with this
        // status (`tonic::TimeoutExpired`); gRPC names that DEADLINE_EXCEEDED
        let timed_out = status.code() == Code::Cancelled && status.message() == "Timeout expired";
        if timed_out || status.code() == Code::DeadlineExceeded {
            return ClientError::Status {
                code: Code::DeadlineExceeded,
                message: NO_ANSWER_IN_TIME.to_owned(),
                field: None,
            };
        }
        let field =
            status.get_details_bad_request().and_then(|b| b.field_violations.into_iter().next()).map(|v| v.field);
        // A transport failure's status says only "http2 error" or the like; its sources say what
        // happened (the connection's keep-alive PING went unanswered, the peer reset it).
        let message = match std::error::Error::source(&status) {
            Some(source) if status.code() != Code::Ok && status.metadata().is_empty() => {
                let why = crate::error_chain(source);
                if why.contains("keep-alive timed out") {
                    format!("{}: {STOPPED_ANSWERING}", status.message())
                } else if CUT_OFF.iter().any(|words| why.contains(words)) {
                    // gRPC names a connection lost under a call UNAVAILABLE; h2 leaves it UNKNOWN
                    return ClientError::Status {
                        code: Code::Unavailable,
                        message: format!("{CUT_OFF_MID_CALL} ({why})"),
                        field: None,
                    };
                } else {
                    format!("{}: {why}", status.message())
                }
            }
            _ => status.message().to_owned(),
        };
        ClientError::Status { code: status.code(), message, field }
    }
}

/// " (head proven under checkpoint N)", or nothing before a checkpoint was fetched.
fn at_seq(seq: u64) -> String {
    if seq == 0 {
        String::new()
    } else {
        format!(" at seq {seq}")
    }
}

fn head_under(size: u64) -> String {
    if size == 0 {
        String::new()
    } else {
        format!(" (head proven under checkpoint {size})")
    }
}

/// The canonical name of a status code, as gRPC documents it (`FAILED_PRECONDITION`).
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

#[cfg(test)]
mod tests {
    use super::{ClientError, Code, CUT_OFF_MID_CALL};

    /// A status made by the transport (with a source and no metadata), as tonic makes one from
    /// h2's or the socket's error.
    fn transport(words: &str) -> tonic::Status {
        tonic::Status::from_error(Box::new(std::io::Error::other(words.to_owned())))
    }

    #[test]
    fn a_connection_lost_mid_call_is_unavailable_and_says_so() {
        for words in ["error reading a body from connection", "connection reset by peer", "broken pipe"] {
            let e = ClientError::from(transport(&format!("h2 protocol error: {words}")));
            assert_eq!(e.code(), Some(Code::Unavailable), "{e}");
            assert!(e.is_unreachable());
            let text = e.to_string();
            assert!(
                text.starts_with("UNAVAILABLE: ") && text.contains(CUT_OFF_MID_CALL) && text.contains(words),
                "{text}"
            );
        }
    }

    #[test]
    fn a_server_refusal_keeps_its_code_and_words() {
        // a status from the server's trailers has no source: its words are the server's own
        let e = ClientError::from(tonic::Status::unknown("connection reset while importing"));
        assert_eq!(e.code(), Some(Code::Unknown));
        assert_eq!(e.to_string(), "UNKNOWN: connection reset while importing");
        // another transport failure keeps its code and says what the transport said
        let e = ClientError::from(transport("h2 protocol error: http2 error"));
        assert_eq!(e.code(), Some(Code::Unknown), "{e}");
        assert!(!e.to_string().contains(CUT_OFF_MID_CALL), "{e}");
    }

    /// A verification failure names the seq of the record it is about, and no seq when it is
    /// about no record (a checkpoint refused).
    #[test]
    fn a_verification_failure_names_a_seq_only_for_a_record() {
        let at = |seq| ClientError::Verification { project: "conf-a".to_owned(), seq, problem: "why".to_owned() };
        assert_eq!(at(3).to_string(), "verification of conf-a failed at seq 3: why");
        assert_eq!(at(0).to_string(), "verification of conf-a failed: why");
    }
}
