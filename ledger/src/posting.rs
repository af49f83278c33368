//! Accounts and postings: the one pure expansion of a stored event into double-entry postings.
//!
//! Amounts are debit-positive, as hledger shows them: a credit is negative. The postings of every
//! event sum to zero per currency.

use std::fmt;

use rust_decimal::Decimal;

use crate::event::{EventKind, ExpenseDetails, Fund};
use crate::ids::ProjectId;
use crate::money::{fee, Currency};

/// An account, borrowing its names from the event. Displays as its hledger name.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub enum Account<'a> {
    /// `Assets:Bank:<CUR>`: the sponsor's cash.
    Bank(Currency),
    /// `Assets:Receivable:Pledges:<project>`.
    PledgesReceivable(&'a str),
    /// `Assets:Receivable:Advances:<project>`.
    AdvancesReceivable(&'a str),
    /// `Assets:Clearing:Transfers`.
    Clearing,
    /// `Liabilities:Projects:<project>:Unrestricted`.
    Unrestricted(&'a str),
    /// `Liabilities:Projects:<project>:Restricted:<purpose>`.
    Restricted(&'a str, &'a str),
    /// `Liabilities:Projects:<project>:Pledged`.
    Pledged(&'a str),
    /// `Income:Fees:<project>`.
    Fees(&'a str),
    /// `Expenses:Grants:<program>`.
    Grants(&'a str),
}

impl fmt::Display for Account<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Account::Bank(c) => write!(f, "Assets:Bank:{c}"),
            Account::PledgesReceivable(p) => write!(f, "Assets:Receivable:Pledges:{p}"),
            Account::AdvancesReceivable(p) => write!(f, "Assets:Receivable:Advances:{p}"),
            Account::Clearing => f.write_str("Assets:Clearing:Transfers"),
            Account::Unrestricted(p) => write!(f, "Liabilities:Projects:{p}:Unrestricted"),
            Account::Restricted(p, r) => write!(f, "Liabilities:Projects:{p}:Restricted:{r}"),
            Account::Pledged(p) => write!(f, "Liabilities:Projects:{p}:Pledged"),
            Account::Fees(p) => write!(f, "Income:Fees:{p}"),
            Account::Grants(g) => write!(f, "Expenses:Grants:{g}"),
        }
    }
}

/// One leg of an event: debit-positive amount on an account in a currency.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Posting<'a> {
    /// The account.
    pub account: Account<'a>,
    /// The currency.
    pub currency: Currency,
    /// Debit positive, credit negative.
    pub amount: Decimal,
}

/// Most postings one event expands to (a pledge fulfilment has five).
pub const POSTINGS_MAX: usize = 5;

/// The postings of one event, without allocation.
pub type Postings<'a> = arrayvec::ArrayVec<Posting<'a>, POSTINGS_MAX>;

fn fund_account<'a>(project: &'a str, fund: &'a Fund) -> Account<'a> {
    match fund {
        Fund::Unrestricted => Account::Unrestricted(project),
        Fund::Restricted(purpose) => Account::Restricted(project, purpose),
    }
}

/// Expands a stored (completed) event of `project` into its postings. Pure: the event alone decides.
///
/// Zero-amount legs (a zero fee) are left out. An event whose completed fields are empty (a request
/// not yet accepted) expands as if they were zero; [`EventKind::is_completed`] tells them apart.
pub fn postings<'a>(project: &'a ProjectId, kind: &'a EventKind) -> Postings<'a> {
    let p = project.as_str();
    let mut out = Postings::new();
    let mut push = |account: Account<'a>, currency: Currency, amount: Decimal| {
        if !amount.is_zero() {
            out.push(Posting { account, currency, amount });
        }
    };
    match kind {
        EventKind::ContributionReceived { amount, fund, fee_bps, .. } => {
            let (a, c) = (amount.amount(), amount.currency());
            let f = fee(a, fee_bps.unwrap_or(0), c);
            push(Account::Bank(c), c, a);
            push(fund_account(p, fund), c, -(a - f));
            push(Account::Fees(p), c, -f);
        }
        EventKind::PledgeRecorded { amount, .. } => {
            let (a, c) = (amount.amount(), amount.currency());
            push(Account::PledgesReceivable(p), c, a);
            push(Account::Pledged(p), c, -a);
        }
        EventKind::PledgeFulfilled { amount, fee_bps, .. } => {
            let (a, c) = (amount.amount(), amount.currency());
            let f = fee(a, fee_bps.unwrap_or(0), c);
            push(Account::Bank(c), c, a);
            push(Account::PledgesReceivable(p), c, -a);
            push(Account::Pledged(p), c, a);
            push(Account::Unrestricted(p), c, -(a - f));
            push(Account::Fees(p), c, -f);
        }
        EventKind::PledgeCancelled { amount: Some(amount), .. } => {
            let (a, c) = (amount.amount(), amount.currency());
            push(Account::PledgesReceivable(p), c, -a);
            push(Account::Pledged(p), c, a);
        }
        EventKind::GrantAwarded { amount, program } => {
            let (a, c) = (amount.amount(), amount.currency());
            push(Account::Grants(program), c, a);
            push(Account::Unrestricted(p), c, -a);
        }
        EventKind::AdvanceIssued { amount, .. } => {
            let (a, c) = (amount.amount(), amount.currency());
            push(Account::AdvancesReceivable(p), c, a);
            push(Account::Unrestricted(p), c, -a);
        }
        EventKind::AdvanceRepaid { amount } => {
            let (a, c) = (amount.amount(), amount.currency());
            push(Account::Unrestricted(p), c, a);
            push(Account::AdvancesReceivable(p), c, -a);
        }
        EventKind::ExpensePaid { details: Some(ExpenseDetails { amount, fund, .. }), .. } => {
            let (a, c) = (amount.amount(), amount.currency());
            push(fund_account(p, fund), c, a);
            push(Account::Bank(c), c, -a);
        }
        EventKind::RefundIssued { amount, fund: Some(fund), fee_share, .. } => {
            let (a, c) = (amount.amount(), amount.currency());
            let f = fee_share.unwrap_or_default();
            push(fund_account(p, fund), c, a - f);
            push(Account::Fees(p), c, f);
            push(Account::Bank(c), c, -a);
        }
        EventKind::TransferSent { amount, .. } => {
            let (a, c) = (amount.amount(), amount.currency());
            push(Account::Unrestricted(p), c, a);
            push(Account::Clearing, c, -a);
        }
        EventKind::TransferReceived { amount, .. } => {
            let (a, c) = (amount.amount(), amount.currency());
            push(Account::Clearing, c, a);
            push(Account::Unrestricted(p), c, -a);
        }
        EventKind::FundsReleased { amount, purpose } => {
            let (a, c) = (amount.amount(), amount.currency());
            push(Account::Restricted(p, purpose), c, a);
            push(Account::Unrestricted(p), c, -a);
        }
        EventKind::CurrencyConverted { amount, to } => {
            let (a, c) = (amount.amount(), amount.currency());
            let (b, d) = (to.amount(), to.currency());
            push(Account::Unrestricted(p), c, a);
            push(Account::Bank(c), c, -a);
            push(Account::Bank(d), d, b);
            push(Account::Unrestricted(p), d, -b);
        }
        EventKind::OpeningBalance { amount, fund } => {
            let (a, c) = (amount.amount(), amount.currency());
            push(Account::Bank(c), c, a);
            push(fund_account(p, fund), c, -a);
        }
        EventKind::EventReversed { target: Some(target), .. } => {
            for leg in postings(project, target) {
                push(leg.account, leg.currency, -leg.amount);
            }
        }
        EventKind::PledgeCancelled { amount: None, .. }
        | EventKind::ExpensePaid { details: None, .. }
        | EventKind::RefundIssued { fund: None, .. }
        | EventKind::EventReversed { target: None, .. }
        | EventKind::ProjectOpened { .. }
        | EventKind::ProjectTermsChanged { .. }
        | EventKind::ExpenseRequested { .. }
        | EventKind::ExpenseApproved { .. }
        | EventKind::ExpenseRejected { .. }
        | EventKind::ProjectClosed {}
        | EventKind::PeriodClosed { .. } => {}
    }
    out
}

impl EventKind {
    /// True when every field the ledger completes on acceptance is filled in (always so when stored).
    pub fn is_completed(&self) -> bool {
        match self {
            EventKind::ContributionReceived { fee_bps, .. } | EventKind::PledgeFulfilled { fee_bps, .. } => {
                fee_bps.is_some()
            }
            EventKind::PledgeCancelled { amount, .. } => amount.is_some(),
            EventKind::ExpensePaid { details, .. } => details.is_some(),
            EventKind::RefundIssued { fund, fee_share, .. } => fund.is_some() && fee_share.is_some(),
            EventKind::EventReversed { target, .. } => target.as_deref().is_some_and(EventKind::is_completed),
            _ => true,
        }
    }

    /// True for events that move money (have postings once completed).
    pub fn has_postings(&self) -> bool {
        !matches!(
            self,
            EventKind::ProjectOpened { .. }
                | EventKind::ProjectTermsChanged { .. }
                | EventKind::ExpenseRequested { .. }
                | EventKind::ExpenseApproved { .. }
                | EventKind::ExpenseRejected { .. }
                | EventKind::ProjectClosed {}
                | EventKind::PeriodClosed { .. }
        )
    }
}

/// Sums postings per currency; every entry is zero for a balanced event.
pub fn sums_per_currency(legs: &[Posting<'_>]) -> Vec<(Currency, Decimal)> {
    let mut sums: Vec<(Currency, Decimal)> = Vec::new();
    for leg in legs {
        match sums.iter_mut().find(|(c, _)| *c == leg.currency) {
            // (at most five legs of stored amounts: far from a Decimal's range; saturating all the same)
            Some((_, s)) => *s = s.saturating_add(leg.amount),
            None => sums.push((leg.currency, leg.amount)),
        }
    }
    sums
}
