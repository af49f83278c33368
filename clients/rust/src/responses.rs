//! What the server answers, in the ledger's own types: no protobuf type leaves this crate.
//!
//! Fields are public so that tools reading an embedded store (the `fiscus` command line with
//! `--store`) can build the same values from a projection and share their output code.

use chrono::NaiveDate;
use fiscus_ledger::chain::Hash;
use fiscus_ledger::projection::{Balance, ProjectState, TrialLine};
use fiscus_ledger::statement::Statement;
use fiscus_ledger::{Currency, Event, ExpenseDetails, ProjectId, ProjectKind};
use rust_decimal::Decimal;

/// A stored event with its chain position and what the server added.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct RecordedEvent {
    /// Seq in the project's chain (the project is `event.project`).
    pub seq: u64,
    /// The global commit that stored it.
    pub commit: u64,
    /// The principal who recorded it.
    pub actor: String,
    /// When the server recorded it, µs since 1970-01-01 UTC.
    pub recorded_at_us: i64,
    /// The record's hash (blake3, derive-key "fiscus record v1", over the stored bytes).
    pub hash: Hash,
    /// The event with every field the ledger completes filled in.
    pub event: Event,
}

/// A page of a project's events.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct EventsPage {
    /// The events in seq order, with no gap.
    pub events: Vec<RecordedEvent>,
    /// Pass as `after_seq` for the next page.
    pub next_after_seq: u64,
    /// The project's head seq when the page was read.
    pub head_seq: u64,
}

/// A project's balances, one per currency, at one consistent point.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Balances {
    /// The project.
    pub project: ProjectId,
    /// The head seq the balances include.
    pub head_seq: u64,
    /// The last global commit they include.
    pub commit: u64,
    /// One per currency, in currency code order.
    pub balances: Vec<Balance>,
}

/// A project's statements for a date range, one per currency.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Statements {
    /// The project.
    pub project: ProjectId,
    /// First date covered.
    pub from: NaiveDate,
    /// Last date covered.
    pub to: NaiveDate,
    /// The head seq they include.
    pub head_seq: u64,
    /// One statement per currency.
    pub statements: Vec<Statement>,
}

/// A project's terms and status.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ProjectSummary {
    /// The project id.
    pub project: ProjectId,
    /// Display name.
    pub name: String,
    /// Kind of project.
    pub kind: ProjectKind,
    /// Current fee rate, basis points.
    pub fee_bps: u32,
    /// Home currency.
    pub currency: Currency,
    /// Current advance limit, in the home currency.
    pub advance_limit: Decimal,
    /// Date of its `ProjectOpened`.
    pub opened_on: NaiveDate,
    /// True once `ProjectClosed` is recorded.
    pub closed: bool,
    /// Its own books are closed through this date.
    pub closed_through: Option<NaiveDate>,
    /// Seq of its last event.
    pub head_seq: u64,
}

impl ProjectSummary {
    /// The summary of a project's state (`None` for the sponsor-wide chain, which has no terms).
    pub fn of(state: &ProjectState) -> Option<ProjectSummary> {
        let info = state.info.as_ref()?;
        Some(ProjectSummary {
            project: state.id.clone(),
            name: info.name.clone(),
            kind: info.kind,
            fee_bps: info.fee_bps,
            currency: info.currency,
            advance_limit: info.advance_limit,
            opened_on: info.opened_on,
            closed: state.closed,
            closed_through: state.closed_through,
            head_seq: state.head.seq,
        })
    }
}

/// The sponsor-wide trial balance.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TrialBalance {
    /// The last global commit it includes.
    pub commit: u64,
    /// Every account and currency with a non-zero balance, debit positive, in (account, currency) order.
    pub lines: Vec<TrialLine>,
    /// The sponsor-wide close date, if any.
    pub closed_through: Option<NaiveDate>,
}

/// Open pledges as of a date, with the receivables ageing of all of them.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct OpenPledges {
    /// The last global commit the answer includes.
    pub commit: u64,
    /// The report's date.
    pub as_of: NaiveDate,
    /// The pledges, in (project, seq) order.
    pub pledges: Vec<fiscus_ledger::report::OpenPledge>,
    /// Outstanding amounts per currency and ageing bucket.
    pub ageing: std::collections::BTreeMap<Currency, fiscus_ledger::report::AgeingTotals>,
}

/// An expense request not yet paid or rejected.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct PendingExpense {
    /// The project.
    pub project: ProjectId,
    /// Seq of its `ExpenseRequested`: name it to approve, reject or pay it.
    pub seq: u64,
    /// What is requested.
    pub details: ExpenseDetails,
    /// Who filed it.
    pub requester: String,
    /// Its effective date.
    pub requested_on: NaiveDate,
    /// Approved (its amount is held) or still waiting.
    pub approved: bool,
    /// Seqs of the project's other requests (not rejected) and direct payments (not reversed) with
    /// the same receipt: empty unless the same invoice was filed or paid twice on purpose
    /// (`CommitOptions::allow_same_receipt`).
    pub same_receipt: Vec<u64>,
}

/// Options of one commit.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct CommitOptions {
    /// Record an expense request or direct payment even when the project already holds its
    /// receipt on a request that was not rejected or a payment that was not reversed (by default
    /// such a commit is refused with `FAILED_PRECONDITION`, naming the earlier seq).
    pub allow_same_receipt: bool,
    /// Check only (`RecordCommitRequest.dry_run`): the server answers as the commit would be
    /// answered now (or refuses it the same way) and stores nothing.
    pub dry_run: bool,
}

/// The head of one chain.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ChainHead {
    /// The project (or `sponsor`).
    pub project: ProjectId,
    /// Seq of its last record.
    pub seq: u64,
    /// Hash of its last record.
    pub hash: Hash,
}

/// The commit head and chain heads, read at one point.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Heads {
    /// The last commit number.
    pub commit: u64,
    /// Its hash.
    pub commit_hash: Hash,
    /// Each chain's head, in project order.
    pub projects: Vec<ChainHead>,
    /// The one project the caller's token reads (a project token's own), when it cannot read
    /// every chain; `projects` then holds that project only.
    pub scope: Option<ProjectId>,
}

/// One stored record exactly as the server keeps it: verify it, never trust it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct RawRecord {
    /// Seq in its chain, as the server states it.
    pub seq: u64,
    /// The stored bytes (format version byte first).
    pub bytes: Vec<u8>,
    /// The hash the server states for them; the verifier recomputes it.
    pub hash: Hash,
}

/// One commit, as a subscription delivers it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct CommitNotice {
    /// The commit number.
    pub commit: u64,
    /// Its hash.
    pub commit_hash: Hash,
    /// The previous commit's hash.
    pub prev_commit_hash: Hash,
    /// When it was recorded, µs since the epoch.
    pub recorded_at_us: i64,
    /// Its events (those of the subscribed project, when one was named).
    pub events: Vec<RecordedEvent>,
}
