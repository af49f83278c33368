//! The projection: what the ledger's events add up to, per project and currency, kept in memory.
//!
//! `apply` only folds a stored event in; it decides nothing (rules live in `rules.rs`). The writer,
//! replay on open and the client's local verification share it, so they cannot disagree.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::chain::{genesis_hash, Hash, COMMIT_GENESIS};
use crate::event::{EventKind, ExpenseDetails, Fund, ProjectKind};
use crate::ids::ProjectId;
use crate::money::{Currency, Money};
use crate::posting::{postings, Account};

/// The head of a chain: its last seq (0 when empty) and the hash that links the next record.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Head {
    /// Last seq, 0 for an empty chain.
    pub seq: u64,
    /// Hash of the last record, or the genesis hash.
    pub hash: Hash,
}

/// A project's terms, from `ProjectOpened` and `ProjectTermsChanged`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ProjectInfo {
    /// Display name.
    pub name: String,
    /// Kind of project.
    pub kind: ProjectKind,
    /// Fee rate in basis points in force on the latest date of the terms history.
    pub fee_bps: u32,
    /// Home currency.
    pub currency: Currency,
    /// Most outstanding advances, in force on the latest date of the terms history.
    pub advance_limit: Decimal,
    /// Date it was opened.
    pub opened_on: NaiveDate,
    /// The terms history: every change with its effective date, in date order (changes of one date
    /// in recording order). The first is the opening's.
    pub terms: Vec<TermsChange>,
}

/// One change of a project's terms, in force from its effective date on (the opening sets both).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TermsChange {
    /// The effective date of the `ProjectOpened` or `ProjectTermsChanged` event.
    pub from: NaiveDate,
    /// The new fee rate in basis points, if it changed.
    pub fee_bps: Option<u32>,
    /// The new advance limit in the home currency, if it changed.
    pub advance_limit: Option<Decimal>,
}

impl ProjectInfo {
    /// The fee rate (basis points) in force on `date`: that of the latest change dated on or before
    /// it, else the opening's (the rules date nothing but an opening balance before the opening).
    pub fn fee_bps_on(&self, date: NaiveDate) -> u32 {
        self.term_on(date, |t| t.fee_bps).unwrap_or(self.fee_bps)
    }

    /// The advance limit in force on `date`, as [`ProjectInfo::fee_bps_on`].
    pub fn advance_limit_on(&self, date: NaiveDate) -> Decimal {
        self.term_on(date, |t| t.advance_limit).unwrap_or(self.advance_limit)
    }

    fn term_on<T>(&self, date: NaiveDate, pick: impl Fn(&TermsChange) -> Option<T>) -> Option<T> {
        let in_force = self.terms.iter().rev().filter(|t| t.from <= date).find_map(&pick);
        in_force.or_else(|| self.terms.iter().find_map(&pick))
    }

    fn change_terms(&mut self, change: TermsChange) {
        let at = self.terms.partition_point(|t| t.from <= change.from);
        self.terms.insert(at, change);
        if let Some(last) = self.terms.last().map(|t| t.from) {
            self.fee_bps = self.fee_bps_on(last);
            self.advance_limit = self.advance_limit_on(last);
        }
    }
}

/// Raw account sums of one project in one currency, debit-positive (a fund's credit is negative),
/// plus the holds of approved requests (positive).
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Books {
    /// `Assets:Bank:<CUR>` moved by this project's events.
    pub bank: Decimal,
    /// `Assets:Receivable:Pledges:<project>`.
    pub pledges_receivable: Decimal,
    /// `Assets:Receivable:Advances:<project>`.
    pub advances_receivable: Decimal,
    /// `Assets:Clearing:Transfers` moved by this project's events.
    pub clearing: Decimal,
    /// `Liabilities:Projects:<project>:Unrestricted`.
    pub unrestricted: Decimal,
    /// `Liabilities:Projects:<project>:Restricted:<purpose>`.
    pub restricted: BTreeMap<String, Decimal>,
    /// `Liabilities:Projects:<project>:Pledged`.
    pub pledged: Decimal,
    /// `Income:Fees:<project>`.
    pub fees: Decimal,
    /// `Expenses:Grants:<program>` for grants to this project.
    pub grants: BTreeMap<String, Decimal>,
    /// Holds of approved, unpaid requests on the unrestricted fund.
    pub held_unrestricted: Decimal,
    /// Holds per restricted purpose.
    pub held_restricted: BTreeMap<String, Decimal>,
}

impl Books {
    /// The raw (debit-positive) sum of a project account in these books.
    pub fn raw(&self, account: &Account<'_>) -> Decimal {
        match account {
            Account::Bank(_) => self.bank,
            Account::PledgesReceivable(_) => self.pledges_receivable,
            Account::AdvancesReceivable(_) => self.advances_receivable,
            Account::Clearing => self.clearing,
            Account::Unrestricted(_) => self.unrestricted,
            Account::Restricted(_, p) => self.restricted.get(*p).copied().unwrap_or_default(),
            Account::Pledged(_) => self.pledged,
            Account::Fees(_) => self.fees,
            Account::Grants(g) => self.grants.get(*g).copied().unwrap_or_default(),
        }
    }

    fn post(&mut self, account: &Account<'_>, amount: Decimal) {
        let slot = match account {
            Account::Bank(_) => &mut self.bank,
            Account::PledgesReceivable(_) => &mut self.pledges_receivable,
            Account::AdvancesReceivable(_) => &mut self.advances_receivable,
            Account::Clearing => &mut self.clearing,
            Account::Unrestricted(_) => &mut self.unrestricted,
            Account::Restricted(_, p) => entry(&mut self.restricted, p),
            Account::Pledged(_) => &mut self.pledged,
            Account::Fees(_) => &mut self.fees,
            Account::Grants(g) => entry(&mut self.grants, g),
        };
        *slot = slot.saturating_add(amount);
    }

    /// The hold on a fund.
    pub fn held(&self, fund: &Fund) -> Decimal {
        match fund {
            Fund::Unrestricted => self.held_unrestricted,
            Fund::Restricted(p) => self.held_restricted.get(p).copied().unwrap_or_default(),
        }
    }

    fn hold(&mut self, fund: &Fund, amount: Decimal) {
        let slot = match fund {
            Fund::Unrestricted => &mut self.held_unrestricted,
            Fund::Restricted(p) => entry(&mut self.held_restricted, p),
        };
        *slot = slot.saturating_add(amount);
    }

    /// A fund's credit balance (what the project holds in it).
    pub fn fund_balance(&self, fund: &Fund) -> Decimal {
        match fund {
            Fund::Unrestricted => -self.unrestricted,
            Fund::Restricted(p) => -self.restricted.get(p).copied().unwrap_or_default(),
        }
    }

    /// A fund's balance less its holds.
    pub fn fund_available(&self, fund: &Fund) -> Decimal {
        self.fund_balance(fund).saturating_sub(self.held(fund))
    }

    /// True when nothing is held, owed or pledged in these books.
    pub fn is_empty(&self) -> bool {
        self.unrestricted.is_zero()
            && self.restricted.values().all(Decimal::is_zero)
            && self.pledged.is_zero()
            && self.pledges_receivable.is_zero()
            && self.advances_receivable.is_zero()
            && self.held_unrestricted.is_zero()
            && self.held_restricted.values().all(Decimal::is_zero)
    }
}

fn entry<'m>(map: &'m mut BTreeMap<String, Decimal>, key: &str) -> &'m mut Decimal {
    if !map.contains_key(key) {
        map.insert(key.to_owned(), Decimal::ZERO);
    }
    map.get_mut(key).expect("inserted above")
}

/// An expense request awaiting approval or payment.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct PendingRequest {
    /// What is requested.
    pub details: ExpenseDetails,
    /// Who filed it.
    pub requester: String,
    /// Its accounting date.
    pub date: NaiveDate,
    /// Approved (a hold is placed) or still pending.
    pub approved: bool,
}

/// What has been refunded of one contribution.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Refunded {
    /// Amount refunded so far.
    pub amount: Decimal,
    /// Fee given back so far.
    pub fee: Decimal,
}

/// Everything the ledger knows about one chain (a project, or the sponsor-wide chain).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ProjectState {
    /// The chain's id.
    pub id: ProjectId,
    /// Its head.
    pub head: Head,
    /// Terms; `None` for the sponsor-wide chain.
    pub info: Option<ProjectInfo>,
    /// Closed by `ProjectClosed`.
    pub closed: bool,
    /// Last date of its own closed period.
    pub closed_through: Option<NaiveDate>,
    /// Books per currency.
    pub books: BTreeMap<Currency, Books>,
    /// Open pledges: seq → what remains.
    pub pledges: BTreeMap<u64, Money>,
    /// Contributions refunded at least once: seq → what was refunded.
    pub refunds: BTreeMap<u64, Refunded>,
    /// Pending and approved expense requests: seq → request.
    pub requests: BTreeMap<u64, PendingRequest>,
    /// Seqs reversed by an `EventReversed`.
    pub reversed: BTreeSet<u64>,
    /// Bounded accounts' movements by effective date, for the rules in date order.
    pub dated: crate::dating::DatedSums,
    /// Receipts held (blake3 hash → seq → what holds it: `expense request` or `direct expense
    /// payment`): those of expense requests not rejected and of direct payments not reversed. The
    /// same invoice filed or paid twice shows here (`rules::check_receipt`).
    pub receipts: BTreeMap<[u8; 32], BTreeMap<u64, &'static str>>,
}

impl ProjectState {
    /// An empty chain.
    pub fn new(id: ProjectId) -> ProjectState {
        let hash = genesis_hash(&id);
        ProjectState {
            id,
            head: Head { seq: 0, hash },
            info: None,
            closed: false,
            closed_through: None,
            books: BTreeMap::new(),
            pledges: BTreeMap::new(),
            refunds: BTreeMap::new(),
            requests: BTreeMap::new(),
            reversed: BTreeSet::new(),
            dated: crate::dating::DatedSums::default(),
            receipts: BTreeMap::new(),
        }
    }

    /// The seqs other than `seq` that hold the same receipt as the request or payment at `seq`
    /// (requests not rejected, direct payments not reversed), in seq order: empty unless the same
    /// invoice was filed or paid twice.
    pub fn same_receipt(&self, seq: u64) -> Vec<u64> {
        let held = self.receipts.values().find(|seqs| seqs.contains_key(&seq));
        held.map(|seqs| seqs.keys().copied().filter(|s| *s != seq).collect()).unwrap_or_default()
    }

    /// The books of one currency (empty books when the project never held it).
    pub fn books(&self, currency: Currency) -> Books {
        self.books.get(&currency).cloned().unwrap_or_default()
    }

    /// What this chain's events moved on each account, per currency (non-zero sums only): its share of
    /// the trial balance, and the whole of its own accounts.
    pub fn accounts(&self) -> Vec<TrialLine> {
        let p = self.id.as_str();
        let mut out = Vec::new();
        for (currency, b) in &self.books {
            let mut add = |account: Account<'_>, amount: Decimal| {
                if !amount.is_zero() {
                    out.push(TrialLine { account: account.to_string(), currency: *currency, amount });
                }
            };
            add(Account::Bank(*currency), b.bank);
            add(Account::PledgesReceivable(p), b.pledges_receivable);
            add(Account::AdvancesReceivable(p), b.advances_receivable);
            add(Account::Clearing, b.clearing);
            add(Account::Unrestricted(p), b.unrestricted);
            for (purpose, v) in &b.restricted {
                add(Account::Restricted(p, purpose), *v);
            }
            add(Account::Pledged(p), b.pledged);
            add(Account::Fees(p), b.fees);
            for (program, v) in &b.grants {
                add(Account::Grants(program), *v);
            }
        }
        out
    }

    /// The balance view of every currency the project has touched.
    pub fn balances(&self) -> Vec<Balance> {
        self.books
            .iter()
            .map(|(currency, b)| Balance {
                currency: *currency,
                balance: -b.unrestricted,
                available: (-b.unrestricted).saturating_sub(b.held_unrestricted),
                restricted: b
                    .restricted
                    .iter()
                    .map(|(p, raw)| RestrictedBalance {
                        purpose: p.clone(),
                        balance: -*raw,
                        available: (-*raw).saturating_sub(b.held_restricted.get(p).copied().unwrap_or_default()),
                    })
                    .collect(),
                held: b.held_restricted.values().fold(b.held_unrestricted, |sum, h| sum.saturating_add(*h)),
                pledged: -b.pledged,
                advances_outstanding: b.advances_receivable,
                fees_to_date: -b.fees,
            })
            .collect()
    }

    /// Folds one stored, completed event at `seq` with record hash `hash` into the state.
    ///
    /// Total: it never fails and never panics. For every event `rules::decide` accepted on this
    /// state its sums are exact (decide refuses what would pass [`crate::money::BALANCE_MAX`]); an
    /// event nobody decided (a hostile chain) folds to saturated or skipped sums, which is why every
    /// path that folds events it did not decide itself re-checks the rules first.
    pub fn apply(&mut self, seq: u64, hash: Hash, date: NaiveDate, actor: &str, kind: &EventKind) {
        debug_assert_eq!(seq, self.head.seq + 1, "records are applied in seq order");
        self.fold(seq, hash, date, actor, kind);
    }

    /// [`ProjectState::apply`] without its check that `seq` follows the head: for the state as of
    /// a date (`report::state_as_of`), which folds a chain's events dated on or before that date
    /// and skips the later ones, keeping each event's own seq.
    pub(crate) fn fold(&mut self, seq: u64, hash: Hash, date: NaiveDate, actor: &str, kind: &EventKind) {
        for leg in postings(&self.id, kind) {
            self.books.entry(leg.currency).or_default().post(&leg.account, leg.amount);
            self.dated.post(&leg.account, leg.currency, date, leg.amount);
        }
        match kind {
            EventKind::ProjectOpened { name, kind, fee_bps, currency, advance_limit } => {
                self.info = Some(ProjectInfo {
                    name: name.clone(),
                    kind: *kind,
                    fee_bps: *fee_bps,
                    currency: *currency,
                    advance_limit: *advance_limit,
                    opened_on: date,
                    terms: vec![TermsChange {
                        from: date,
                        fee_bps: Some(*fee_bps),
                        advance_limit: Some(*advance_limit),
                    }],
                });
            }
            EventKind::ProjectTermsChanged { fee_bps, advance_limit } => {
                if let Some(info) = &mut self.info {
                    info.change_terms(TermsChange { from: date, fee_bps: *fee_bps, advance_limit: *advance_limit });
                }
            }
            EventKind::PledgeRecorded { amount, .. } => {
                self.pledges.insert(seq, *amount);
            }
            EventKind::PledgeFulfilled { amount, pledge, .. } => self.reduce_pledge(*pledge, amount.amount()),
            EventKind::PledgeCancelled { pledge, .. } => {
                self.pledges.remove(pledge);
            }
            EventKind::ExpenseRequested { details } => {
                self.receipts.entry(details.receipt.hash).or_default().insert(seq, "expense request");
                let request =
                    PendingRequest { details: details.clone(), requester: actor.to_owned(), date, approved: false };
                self.requests.insert(seq, request);
            }
            EventKind::ExpenseApproved { request } => {
                if let Some(r) = self.requests.get_mut(request) {
                    r.approved = true;
                    let (fund, amount) = (r.details.fund.clone(), r.details.amount);
                    self.books.entry(amount.currency()).or_default().hold(&fund, amount.amount());
                }
            }
            EventKind::ExpenseRejected { request, .. } => {
                if let Some(r) = self.requests.get(request) {
                    let hash = r.details.receipt.hash;
                    self.forget_receipt(hash, *request);
                }
                self.release(*request);
            }
            EventKind::ExpensePaid { request: Some(request), .. } => self.release(*request),
            EventKind::ExpensePaid { request: None, details: Some(details) } => {
                self.receipts.entry(details.receipt.hash).or_default().insert(seq, "direct expense payment");
            }
            EventKind::RefundIssued { amount, contribution, fee_share, .. } => {
                let r = self.refunds.entry(*contribution).or_default();
                r.amount = r.amount.saturating_add(amount.amount());
                r.fee = r.fee.saturating_add(fee_share.unwrap_or_default());
            }
            EventKind::EventReversed { target_seq, target: Some(target), .. } => {
                self.reversed.insert(*target_seq);
                self.unwind(*target_seq, target);
            }
            EventKind::ProjectClosed {} => self.closed = true,
            EventKind::PeriodClosed { through } => self.closed_through = Some(*through),
            _ => {}
        }
        self.head = Head { seq, hash };
    }

    fn reduce_pledge(&mut self, pledge: u64, by: Decimal) {
        if let Some(open) = self.pledges.get_mut(&pledge) {
            // (rules keep a remainder positive; what they did not decide removes the pledge)
            match Money::new("pledge", open.amount().saturating_sub(by), open.currency()) {
                Ok(left) => *open = left,
                Err(_) => {
                    self.pledges.remove(&pledge);
                }
            }
        }
    }

    fn reopen_pledge(&mut self, pledge: u64, by: Money) {
        let total = self.pledges.get(&pledge).map_or(Decimal::ZERO, Money::amount).saturating_add(by.amount());
        // (a reopened pledge is at most what was pledged; past the limit only an undecided chain gets)
        if let Ok(money) = Money::new("pledge", total, by.currency()) {
            self.pledges.insert(pledge, money);
        }
    }

    fn release(&mut self, request: u64) {
        if let Some(r) = self.requests.remove(&request) {
            if r.approved {
                let amount = r.details.amount;
                self.books.entry(amount.currency()).or_default().hold(&r.details.fund, -amount.amount());
            }
        }
    }

    fn forget_receipt(&mut self, hash: [u8; 32], seq: u64) {
        if let Some(seqs) = self.receipts.get_mut(&hash) {
            seqs.remove(&seq);
            if seqs.is_empty() {
                self.receipts.remove(&hash);
            }
        }
    }

    /// Undoes what a reversed event did to the state beyond its postings.
    fn unwind(&mut self, target_seq: u64, target: &EventKind) {
        match target {
            EventKind::ExpensePaid { request: None, details: Some(details) } => {
                self.forget_receipt(details.receipt.hash, target_seq);
            }
            EventKind::PledgeRecorded { .. } => {
                self.pledges.remove(&target_seq);
            }
            EventKind::PledgeFulfilled { amount, pledge, .. } => self.reopen_pledge(*pledge, *amount),
            EventKind::PledgeCancelled { pledge, amount: Some(amount) } => self.reopen_pledge(*pledge, *amount),
            EventKind::RefundIssued { amount, contribution, fee_share, .. } => {
                if let Some(r) = self.refunds.get_mut(contribution) {
                    r.amount = r.amount.saturating_sub(amount.amount());
                    r.fee = r.fee.saturating_sub(fee_share.unwrap_or_default());
                    if r.amount.is_zero() && r.fee.is_zero() {
                        self.refunds.remove(contribution);
                    }
                }
            }
            _ => {}
        }
    }
}

/// A project's money in one currency, as organisers and accountants read it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Balance {
    /// The currency.
    pub currency: Currency,
    /// Credit balance of the unrestricted fund.
    pub balance: Decimal,
    /// `balance` less holds of approved, unpaid expenses.
    pub available: Decimal,
    /// Restricted funds per purpose.
    pub restricted: Vec<RestrictedBalance>,
    /// All holds.
    pub held: Decimal,
    /// Pledged, not yet paid.
    pub pledged: Decimal,
    /// Advances owed back to the sponsor.
    pub advances_outstanding: Decimal,
    /// Fees taken to date (net of refunds).
    pub fees_to_date: Decimal,
}

/// A restricted fund's balance.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct RestrictedBalance {
    /// The purpose.
    pub purpose: String,
    /// Credit balance.
    pub balance: Decimal,
    /// Balance less holds.
    pub available: Decimal,
}

/// The head of the global commit chain.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct CommitHead {
    /// Last commit number, 0 before the first commit.
    pub number: u64,
    /// Its hash, or [`COMMIT_GENESIS`].
    pub hash: Hash,
}

impl Default for CommitHead {
    fn default() -> Self {
        CommitHead { number: 0, hash: COMMIT_GENESIS }
    }
}

/// One line of the trial balance.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TrialLine {
    /// hledger account name.
    pub account: String,
    /// Currency.
    pub currency: Currency,
    /// Debit-positive sum.
    pub amount: Decimal,
}

/// The whole ledger's state: every chain, the commit head, and sponsor-wide facts.
///
/// Each chain's state sits behind an `Arc`, so a clone of the projection (a consistent snapshot for
/// readers) copies pointers, and a commit copies only the chains it changes.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Projection {
    chains: BTreeMap<ProjectId, Arc<ProjectState>>,
    /// The commit chain's head.
    pub commit_head: CommitHead,
    /// Records in all chains.
    pub events: u64,
}

impl Projection {
    /// An empty ledger.
    pub fn new() -> Projection {
        Projection::default()
    }

    /// A chain's state by id.
    pub fn project(&self, id: &str) -> Option<&ProjectState> {
        self.chains.get(id).map(|c| &**c)
    }

    /// Every chain, the sponsor-wide one included, in id order.
    pub fn chains(&self) -> impl Iterator<Item = &ProjectState> {
        self.chains.values().map(|c| &**c)
    }

    /// Sponsored projects (not the sponsor-wide chain), in id order.
    pub fn projects(&self) -> impl Iterator<Item = &ProjectState> {
        self.chains().filter(|c| c.info.is_some())
    }

    /// The sponsor-wide closed period, if any.
    pub fn sponsor_closed_through(&self) -> Option<NaiveDate> {
        self.project(crate::ids::SPONSOR_CHAIN).and_then(|s| s.closed_through)
    }

    /// A chain's state for folding records in, created empty when it is new.
    pub fn chain_mut(&mut self, id: &ProjectId) -> &mut ProjectState {
        if !self.chains.contains_key(id.as_str()) {
            self.chains.insert(id.clone(), Arc::new(ProjectState::new(id.clone())));
        }
        Arc::make_mut(self.chains.get_mut(id.as_str()).expect("inserted above"))
    }

    /// Replaces a chain's state with a staged copy (a commit accepted).
    pub fn put(&mut self, state: ProjectState) {
        self.chains.insert(state.id.clone(), Arc::new(state));
    }

    /// The sponsor's trial balance: every account and currency with a non-zero sum, in account order.
    pub fn trial_balance(&self) -> Vec<TrialLine> {
        trial_balance_of(self.chains())
    }

    /// Pending and approved expense requests of every project, in (project, seq) order.
    pub fn pending_requests(&self) -> Vec<Pending<'_>> {
        let mut out: Vec<_> = self
            .chains()
            .flat_map(|c| {
                c.requests.iter().map(move |(seq, r)| Pending {
                    project: &c.id,
                    seq: *seq,
                    request: r,
                    same_receipt: c.same_receipt(*seq),
                })
            })
            .collect();
        out.sort_by(|a, b| (a.project, a.seq).cmp(&(b.project, b.seq)));
        out
    }
}

/// The trial balance of `chains` (every account and currency with a non-zero sum, in account
/// order): of the projection's chains, or of each chain's state as of a date
/// (`report::trial_balance_as_of`).
pub fn trial_balance_of<'a>(chains: impl IntoIterator<Item = &'a ProjectState>) -> Vec<TrialLine> {
    let mut sums: BTreeMap<(String, Currency), Decimal> = BTreeMap::new();
    for chain in chains {
        for line in chain.accounts() {
            // Each chain's sums are within BALANCE_MAX, so saturating needs 79 million chains.
            let sum = sums.entry((line.account, line.currency)).or_default();
            *sum = sum.saturating_add(line.amount);
        }
    }
    sums.into_iter()
        .filter(|(_, v)| !v.is_zero())
        .map(|((account, currency), amount)| TrialLine { account, currency, amount })
        .collect()
}

/// An expense request not yet paid or rejected, as `pending` lists it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Pending<'a> {
    /// Its project.
    pub project: &'a ProjectId,
    /// The seq of its `ExpenseRequested`.
    pub seq: u64,
    /// The request.
    pub request: &'a PendingRequest,
    /// Other requests (not rejected) and direct payments (not reversed) of the project with the
    /// same receipt, in seq order: empty unless the same invoice was filed or paid twice (which
    /// only a commit with `allow_same_receipt` records).
    pub same_receipt: Vec<u64>,
}
