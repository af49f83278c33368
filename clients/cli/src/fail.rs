//! Why a command failed, and the exit code a script sees: 1 for a refusal, an error or a failed
//! verification, 2 for a usage error (clap's own usage errors exit with 2 as well).

use fiscus_client::fiscus_ledger::LedgerError;
use fiscus_client::ClientError;

/// Exit code of a refused request, a runtime error or a failed verification.
pub const EXIT_FAILED: u8 = 1;
/// Exit code of a usage error.
pub const EXIT_USAGE: u8 = 2;

/// A failed command.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The command line is wrong (exit 2).
    #[error("{0}")]
    Usage(String),
    /// The server or the client refused or failed (exit 1).
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The server did not answer a write (the connection broke, it stopped or the deadline
    /// passed): the commit may or may not have been recorded (exit 1). A retry with the same event
    /// ids records it at most once.
    #[error(
        "{0}\nthe daemon did not answer, so this commit may or may not have been recorded: run the same command \
         again (with the same --date, if the day has changed); its events keep their ids, so they are recorded once"
    )]
    Unanswered(ClientError),
    /// The local ledger refused or failed (exit 1).
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// Anything else that went wrong: a file, a bad row, a failed check (exit 1).
    #[error("{0}")]
    Other(String),
}

impl Failure {
    /// The process exit code.
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Usage(_) => EXIT_USAGE,
            _ => EXIT_FAILED,
        }
    }

    /// A usage error.
    pub fn usage(message: impl Into<String>) -> Failure {
        Failure::Usage(message.into())
    }

    /// Any other failure.
    pub fn other(message: impl Into<String>) -> Failure {
        Failure::Other(message.into())
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Failure {
        Failure::Other(e.to_string())
    }
}
