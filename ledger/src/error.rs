//! The ledger's one error type. Each variant carries the facts a caller needs to act on it.

use rust_decimal::Decimal;

use crate::ids::ProjectId;
use crate::money::Currency;

/// How a caller should treat an error; the daemon maps each class to one gRPC status.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ErrorClass {
    /// Malformed input (`INVALID_ARGUMENT`).
    Invalid,
    /// A business rule refused the request (`FAILED_PRECONDITION`).
    Refused,
    /// Something named does not exist (`NOT_FOUND`).
    NotFound,
    /// The event id is taken by other content, or the project exists (`ALREADY_EXISTS`).
    Conflict,
    /// The caller's expectation of a chain head was wrong (`ABORTED`).
    Stale,
    /// Stored data failed verification (`DATA_LOSS`).
    Corrupt,
    /// The store or the disk failed (`INTERNAL` / `UNAVAILABLE`).
    Storage,
}

/// How a refusal of a write by a read-only store begins ([`LedgerError::ReadOnly`]), as the
/// daemon's `UNAVAILABLE` answer carries it: a client tells by it that the daemon did answer, and
/// that nothing was recorded.
pub const READ_ONLY: &str = "the store is read-only";

/// Everything that can go wrong in the ledger. A refused commit changes nothing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LedgerError {
    /// A field of a request is malformed.
    #[error("invalid {field}: {message}")]
    Invalid {
        /// The field, as a path such as `events[2].amount`.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// No project with that id.
    #[error("unknown project {project}")]
    UnknownProject {
        /// The project asked for.
        project: ProjectId,
    },
    /// `ProjectOpened` for a project that exists.
    #[error("project {project} is already open")]
    ProjectExists {
        /// The project.
        project: ProjectId,
    },
    /// An event for a closed project.
    #[error("project {project} is closed")]
    ProjectClosed {
        /// The project.
        project: ProjectId,
    },
    /// An event dated on or before a closed period's end.
    #[error("{project}: the books are closed through {through}; effective date {date} is refused")]
    PeriodClosed {
        /// The project.
        project: ProjectId,
        /// The event's effective date.
        date: chrono::NaiveDate,
        /// The last closed date.
        through: chrono::NaiveDate,
    },
    /// A fund would go below zero (after holds).
    #[error(
        "overdraft on {project}/{fund}: available {}, requested {}",
        shown(available, currency),
        shown(requested, currency)
    )]
    Overdraft {
        /// The project.
        project: ProjectId,
        /// The fund, `unrestricted` or `restricted:<purpose>`.
        fund: String,
        /// The currency.
        currency: Currency,
        /// What is available before the event.
        available: Decimal,
        /// What the event takes.
        requested: Decimal,
    },
    /// More paid back or released than is outstanding.
    #[error(
        "{project}: {account} has {} outstanding, requested {}",
        shown(outstanding, currency),
        shown(requested, currency)
    )]
    ExceedsOutstanding {
        /// The project.
        project: ProjectId,
        /// The account, as hledger names it.
        account: String,
        /// The currency.
        currency: Currency,
        /// What is outstanding.
        outstanding: Decimal,
        /// What the event asks for.
        requested: Decimal,
    },
    /// More fulfilled or refunded than remains of a pledge or contribution.
    #[error(
        "{project}: {what} at seq {seq} has {} left, requested {}",
        shown(remaining, currency),
        shown(requested, currency)
    )]
    ExceedsRemaining {
        /// The project.
        project: ProjectId,
        /// The currency of the pledge or contribution.
        currency: Currency,
        /// `pledge` or `contribution`.
        what: &'static str,
        /// The seq of the pledge or contribution.
        seq: u64,
        /// What remains.
        remaining: Decimal,
        /// What the event asks for.
        requested: Decimal,
    },
    /// An advance over the project's advance limit.
    #[error(
        "{project}: advance limit {}, outstanding {}, requested {}",
        shown(limit, currency),
        shown(outstanding, currency),
        shown(requested, currency)
    )]
    AdvanceLimit {
        /// The project.
        project: ProjectId,
        /// The project's home currency, in which advances are made.
        currency: Currency,
        /// The limit.
        limit: Decimal,
        /// Advances outstanding.
        outstanding: Decimal,
        /// The new advance.
        requested: Decimal,
    },
    /// A reference (pledge, request, contribution, reversal target) to something that is not there.
    #[error("{project}: {field} names seq {seq}, which is not {expected}")]
    BadReference {
        /// The project.
        project: ProjectId,
        /// The field holding the reference.
        field: String,
        /// The seq named.
        seq: u64,
        /// What it should name, such as `an open pledge` or `an approved expense request`.
        expected: String,
    },
    /// An approval by the requester.
    #[error("{project}: request {request} was filed by {actor}, who may not approve it")]
    SelfApproval {
        /// The project.
        project: ProjectId,
        /// The request's seq.
        request: u64,
        /// The requester and would-be approver.
        actor: String,
    },
    /// A second reversal, a reversal of a reversal, or of an event without postings.
    #[error("{project}: seq {seq} cannot be reversed: {reason}")]
    NotReversible {
        /// The project.
        project: ProjectId,
        /// The target seq.
        seq: u64,
        /// Why not.
        reason: String,
    },
    /// Closing a project that still holds money or obligations.
    #[error("{project} cannot be closed: {reason}")]
    NotEmpty {
        /// The project.
        project: ProjectId,
        /// What is left.
        reason: String,
    },
    /// An amount that would take an account of the project past [`crate::money::BALANCE_MAX`], or
    /// whose arithmetic would leave the range in which the ledger's sums are exact.
    #[error(
        "{project}: {field} would take {account} in {currency} past the ledger's limit of {}",
        shown(limit, currency)
    )]
    Overflow {
        /// The project.
        project: ProjectId,
        /// The request field whose amount overflows, such as `events[1].amount`.
        field: String,
        /// The account, as hledger names it.
        account: String,
        /// The currency.
        currency: Currency,
        /// The limit ([`crate::money::BALANCE_MAX`]).
        limit: Decimal,
    },
    /// An event dated before something it depends on (the event it names, the project's opening, a
    /// pledge's own date), or a change of terms dated before events that already took the old terms.
    #[error("{project}: {field} is dated {date}, before {what} dated {before}")]
    DatedBefore {
        /// The project.
        project: ProjectId,
        /// The date field refused, such as `events[1].effective_date` or `events[0].due_date`.
        field: String,
        /// Its date.
        date: chrono::NaiveDate,
        /// What it may not precede, such as `contribution seq 2` or `the project's opening`.
        what: String,
        /// That one's date.
        before: chrono::NaiveDate,
    },
    /// An event that, counted at its effective date, would take a fund, pledge or advance account
    /// below zero on that date or a later one (the rules hold in date order too).
    #[error(
        "{project}: {account} would go below zero in date order: an event dated {date} takes {}, \
         the balance on {on} is {}",
        shown(requested, currency),
        shown(balance, currency)
    )]
    DatedOverdraft {
        /// The project.
        project: ProjectId,
        /// The account, as hledger names it.
        account: String,
        /// The currency.
        currency: Currency,
        /// The event's effective date.
        date: chrono::NaiveDate,
        /// The day (on or after `date`) with the lowest balance.
        on: chrono::NaiveDate,
        /// That balance before the event.
        balance: Decimal,
        /// What the event takes.
        requested: Decimal,
    },
    /// An expense request or direct payment whose receipt (its blake3 hash) the project already
    /// holds on a request that was not rejected or a payment that was not reversed: the same invoice
    /// paid or filed twice. Recorded anyway only when the commit sets `allow_same_receipt`.
    #[error(
        "{project}: {field}: receipt {hash} is already on {what} seq {seq}, which was not rejected or reversed; \
         to record the same receipt again, set allow_same_receipt (fiscus record --allow-same-receipt)"
    )]
    SameReceipt {
        /// The project.
        project: ProjectId,
        /// The receipt's field, such as `events[0].expense_requested.details.receipt.hash`.
        field: String,
        /// The receipt's blake3 hash, in hex.
        hash: String,
        /// What holds it already: `expense request` or `direct expense payment`.
        what: &'static str,
        /// Its seq (the earliest that holds it).
        seq: u64,
    },
    /// A refusal that fits none of the above.
    #[error("{project}: {reason}")]
    Refused {
        /// The project.
        project: ProjectId,
        /// Why.
        reason: String,
    },
    /// The event id is already recorded with other content.
    #[error("event id {event_id:?} is already recorded as {project} seq {seq} with other content")]
    IdConflict {
        /// The event id.
        event_id: String,
        /// Where it is recorded.
        project: ProjectId,
        /// Its seq.
        seq: u64,
    },
    /// `expected_seq` did not match the chain head.
    #[error("{project}: expected head seq {expected}, the head is {head}")]
    HeadMismatch {
        /// The project.
        project: ProjectId,
        /// What the caller expected.
        expected: u64,
        /// The actual head seq.
        head: u64,
    },
    /// A stored record failed verification.
    #[error("corrupt record {project} seq {seq}: {problem}")]
    Corrupt {
        /// The chain.
        project: String,
        /// The first bad seq.
        seq: u64,
        /// What is wrong.
        problem: String,
    },
    /// The commit chain failed verification.
    #[error("commit chain broken at commit {commit}: {problem}")]
    CommitChain {
        /// The first bad commit number.
        commit: u64,
        /// What is wrong.
        problem: String,
    },
    /// The store was written by a format this build does not know, or is not a Fiscus store.
    #[error("store format: {0}")]
    Format(String),
    /// The store is open in another process (sled holds an exclusive lock on its `db` file).
    #[error("the store in {dir} is in use by {holder}: stop that process first, or work through it")]
    StoreInUse {
        /// The store's folder.
        dir: String,
        /// The process holding it, in words (`process 4242 (fiscusd)`), as far as it can be known.
        holder: String,
    },
    /// A folder another process holds for its lifetime ([`crate::store::lock_folder`]), such as
    /// the state folder of a running `fiscus witness serve`.
    #[error("the {what} {dir} is in use by {holder}: stop that process first, or give another folder")]
    FolderInUse {
        /// What the folder is, in words (`witness state folder`).
        what: String,
        /// The folder.
        dir: String,
        /// The process holding it, in words (`process 4242 (fiscus)`), as far as it can be known.
        holder: String,
    },
    /// The store's files are damaged past what sled can open (a page failing its checksum).
    #[error("the store in {dir} is damaged: {problem}; restore it from a backup or an archive")]
    Damaged {
        /// The store's folder.
        dir: String,
        /// What sled found.
        problem: String,
    },
    /// The store refuses writes until an operator acts (verification failed on open, or a write
    /// failed). Its text starts with [`READ_ONLY`].
    #[error("the store is read-only: {0}")]
    ReadOnly(String),
    /// sled failed.
    #[cfg(feature = "store")]
    #[error("storage: {0}")]
    Storage(#[from] sled::Error),
    /// The file system failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

impl LedgerError {
    /// An [`LedgerError::Invalid`] for `field`.
    pub fn invalid(field: &str, message: impl Into<String>) -> LedgerError {
        LedgerError::Invalid { field: field.to_owned(), message: message.into() }
    }

    /// A [`LedgerError::Refused`] for `project`.
    pub fn refused(project: &ProjectId, reason: impl Into<String>) -> LedgerError {
        LedgerError::Refused { project: project.clone(), reason: reason.into() }
    }

    /// The class of the error, which decides its gRPC status.
    pub fn class(&self) -> ErrorClass {
        match self {
            LedgerError::Invalid { .. } => ErrorClass::Invalid,
            LedgerError::UnknownProject { .. } => ErrorClass::NotFound,
            LedgerError::ProjectExists { .. } | LedgerError::IdConflict { .. } => ErrorClass::Conflict,
            LedgerError::HeadMismatch { .. } => ErrorClass::Stale,
            LedgerError::Corrupt { .. }
            | LedgerError::CommitChain { .. }
            | LedgerError::Format(_)
            | LedgerError::Damaged { .. } => ErrorClass::Corrupt,
            LedgerError::ReadOnly(_)
            | LedgerError::Io(_)
            | LedgerError::StoreInUse { .. }
            | LedgerError::FolderInUse { .. } => ErrorClass::Storage,
            #[cfg(feature = "store")]
            LedgerError::Storage(_) => ErrorClass::Storage,
            LedgerError::ProjectClosed { .. }
            | LedgerError::PeriodClosed { .. }
            | LedgerError::Overdraft { .. }
            | LedgerError::ExceedsOutstanding { .. }
            | LedgerError::ExceedsRemaining { .. }
            | LedgerError::AdvanceLimit { .. }
            | LedgerError::BadReference { .. }
            | LedgerError::SelfApproval { .. }
            | LedgerError::NotReversible { .. }
            | LedgerError::NotEmpty { .. }
            | LedgerError::Overflow { .. }
            | LedgerError::DatedBefore { .. }
            | LedgerError::DatedOverdraft { .. }
            | LedgerError::SameReceipt { .. }
            | LedgerError::Refused { .. } => ErrorClass::Refused,
        }
    }

    /// The same error with its field path rewritten by `rename` (for an RPC whose request nests the
    /// event differently from `RecordCommitRequest`); errors without a field are returned as they are.
    pub fn map_field(self, rename: impl FnOnce(&str) -> String) -> LedgerError {
        match self {
            LedgerError::Invalid { field, message } => LedgerError::Invalid { field: rename(&field), message },
            LedgerError::BadReference { project, field, seq, expected } => {
                LedgerError::BadReference { project, field: rename(&field), seq, expected }
            }
            LedgerError::Overflow { project, field, account, currency, limit } => {
                LedgerError::Overflow { project, field: rename(&field), account, currency, limit }
            }
            LedgerError::DatedBefore { project, field, date, what, before } => {
                LedgerError::DatedBefore { project, field: rename(&field), date, what, before }
            }
            LedgerError::SameReceipt { project, field, hash, what, seq } => {
                LedgerError::SameReceipt { project, field: rename(&field), hash, what, seq }
            }
            other => other,
        }
    }

    /// The request field the error is about, where there is one: a path into the request message,
    /// such as `events[2].contribution_received.amount`.
    pub fn field(&self) -> Option<&str> {
        match self {
            LedgerError::Invalid { field, .. }
            | LedgerError::BadReference { field, .. }
            | LedgerError::Overflow { field, .. }
            | LedgerError::DatedBefore { field, .. }
            | LedgerError::SameReceipt { field, .. } => Some(field),
            _ => None,
        }
    }
}

/// Most characters of a value [`quoted`] shows whole.
pub const QUOTED_CHARS_MAX: usize = 64;

/// A value from a request as an error message shows it: quoted and escaped as Rust's `{:?}` does,
/// and, when longer than [`QUOTED_CHARS_MAX`] characters, its first 40 characters, `…`, and its
/// length (`"1234567890…" (3000000 characters)`). A refusal never sends back a megabyte it was sent:
/// that flooded the daemon's log and went past the 16 KiB of metadata gRPC clients read.
pub fn quoted(value: &str) -> String {
    match cut(value, QUOTED_CHARS_MAX, 40) {
        None => format!("{value:?}"),
        Some((start, chars)) => {
            let shown = format!("{start:?}");
            format!("{}…\" ({chars} characters)", shown.strip_suffix('"').unwrap_or(&shown))
        }
    }
}

/// Where a text from outside is cut before it is shown (in a message, a status, a log line):
/// `None` when it has at most `max` characters; else its first `keep` characters (a slice ending
/// on a character boundary) and its length in characters.
pub fn cut(text: &str, max: usize, keep: usize) -> Option<(&str, usize)> {
    text.char_indices().nth(max)?;
    let end = text.char_indices().nth(keep).map_or(text.len(), |(i, _)| i);
    Some((&text[..end], text.chars().count()))
}

/// A field path into a request message: `prefix.name`, or `name` when there is no prefix
/// (`events[2]` and `amount` give `events[2].amount`).
pub fn field_path(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_owned()
    } else {
        format!("{prefix}.{name}")
    }
}

/// An amount in a message: grouped, with its currency ([`crate::money::display_amount`]).
fn shown(amount: &Decimal, currency: &Currency) -> String {
    crate::money::display_amount(*amount, *currency)
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_long_value_is_shown_cut_with_its_length() {
        assert_eq!(quoted("12.50"), "\"12.50\"");
        let exact = "9".repeat(QUOTED_CHARS_MAX);
        assert_eq!(quoted(&exact), format!("{exact:?}"));
        assert_eq!(quoted(&"9".repeat(3_000_000)), format!("\"{}…\" (3000000 characters)", "9".repeat(40)));
        // cut between characters, never inside one; escapes as {:?} does
        let emoji = "💶\n".repeat(50);
        let shown = quoted(&emoji);
        assert!(shown.starts_with("\"💶\\n💶") && shown.ends_with("…\" (100 characters)"), "{shown}");
    }
    use super::*;

    #[test]
    fn every_amount_in_a_refusal_has_its_currency_and_grouping() {
        let usd = Currency::from_code("USD").expect("USD");
        let project = ProjectId::parse("project", "conf-a").expect("id");
        let d = |n: i64| Decimal::from(n);
        let texts = [
            LedgerError::Overdraft {
                project: project.clone(),
                fund: "unrestricted".to_owned(),
                currency: usd,
                available: d(9300),
                requested: d(18000),
            }
            .to_string(),
            LedgerError::ExceedsOutstanding {
                project: project.clone(),
                account: "Assets:Receivable:Advances:conf-a".to_owned(),
                currency: usd,
                outstanding: d(9300),
                requested: d(18000),
            }
            .to_string(),
            LedgerError::ExceedsRemaining {
                project: project.clone(),
                currency: usd,
                what: "pledge",
                seq: 2,
                remaining: d(9300),
                requested: d(18000),
            }
            .to_string(),
            LedgerError::AdvanceLimit {
                project: project.clone(),
                currency: usd,
                limit: d(9300),
                outstanding: d(0),
                requested: d(18000),
            }
            .to_string(),
            LedgerError::DatedOverdraft {
                project,
                account: "Liabilities:Projects:conf-a:Unrestricted".to_owned(),
                currency: usd,
                date: chrono::NaiveDate::from_ymd_opt(2026, 3, 1).expect("date"),
                on: chrono::NaiveDate::from_ymd_opt(2026, 3, 2).expect("date"),
                balance: d(9300),
                requested: d(18000),
            }
            .to_string(),
        ];
        for text in texts {
            assert!(text.contains("18,000.00 USD") && text.contains("9,300.00 USD"), "{text}");
        }
    }
}
