//! The rules of dates: how effective dates order events, next to the recording order of the chain.
//!
//! `rules::decide` calls [`check_dates`] before its other checks and [`check_dated_balances`] after
//! them. The rules (docs/RECORD.md, "Dates"):
//!
//! - an event that names another (a pledge payment or cancellation, an approval, rejection or
//!   payment of a request, a refund, a reversal) is dated on or after the event it names;
//! - nothing but an `OpeningBalance` is dated before the project's `ProjectOpened`;
//! - a pledge's due date is not before its own date;
//! - "no overdraft" holds in date order as well as in recording order: no fund, pledge or advance
//!   account would go below zero on any date from the event's own date on, counting every recorded
//!   event at its effective date. So a statement, which lists events by date, never shows a balance
//!   the rules would have refused.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::error::LedgerError;
use crate::event::{Event, EventKind};
use crate::money::Currency;
use crate::posting::{postings, Account};
use crate::projection::ProjectState;
use crate::rules::Facts;

/// Per account and currency, what the chain's recorded events moved on each effective date
/// (debit-positive), for the accounts that may not go below zero: funds, pledges and advances.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct DatedSums {
    sums: BTreeMap<(String, Currency), BTreeMap<NaiveDate, Decimal>>,
}

/// +1 for an asset that may not go below zero (a receivable), -1 for a liability (a fund, pledged);
/// `None` for accounts no rule bounds.
fn sign(account: &Account<'_>) -> Option<Decimal> {
    match account {
        Account::Unrestricted(_) | Account::Restricted(..) | Account::Pledged(_) => Some(Decimal::NEGATIVE_ONE),
        Account::PledgesReceivable(_) | Account::AdvancesReceivable(_) => Some(Decimal::ONE),
        _ => None,
    }
}

impl DatedSums {
    /// Folds the postings of a stored event dated `date` in.
    pub(crate) fn post(&mut self, account: &Account<'_>, currency: Currency, date: NaiveDate, amount: Decimal) {
        if sign(account).is_none() {
            return;
        }
        let by_date = self.sums.entry((account.to_string(), currency)).or_default();
        let sum = by_date.entry(date).or_default();
        // (decide keeps every accepted sum exact; only a chain nobody decided saturates here)
        *sum = sum.saturating_add(amount);
    }

    /// The lowest balance (in the account's own sense: a fund's credit, a receivable's debit) at the
    /// end of any day from `date` on, with that day; `None` when a running sum leaves a `Decimal`
    /// (the caller refuses with an overflow).
    fn lowest_from(&self, account: &Account<'_>, currency: Currency, date: NaiveDate) -> Option<(Decimal, NaiveDate)> {
        let sign = sign(account).unwrap_or(Decimal::ONE);
        let Some(by_date) = self.sums.get(&(account.to_string(), currency)) else {
            return Some((Decimal::ZERO, date));
        };
        let mut running = by_date.range(..=date).try_fold(Decimal::ZERO, |sum, (_, v)| sum.checked_add(*v))?;
        let mut lowest = (sign.checked_mul(running)?, date);
        for (d, v) in by_date.range(date..).filter(|(d, _)| **d > date) {
            running = running.checked_add(*v)?;
            let balance = sign.checked_mul(running)?;
            if balance < lowest.0 {
                lowest = (balance, *d);
            }
        }
        Some(lowest)
    }
}

/// The seq an event names, with what it is.
fn named(kind: &EventKind) -> Option<(u64, &'static str)> {
    match kind {
        EventKind::PledgeFulfilled { pledge, .. } | EventKind::PledgeCancelled { pledge, .. } => {
            Some((*pledge, "pledge"))
        }
        EventKind::ExpenseApproved { request } | EventKind::ExpenseRejected { request, .. } => {
            Some((*request, "expense request"))
        }
        EventKind::ExpensePaid { request: Some(request), .. } => Some((*request, "expense request")),
        EventKind::RefundIssued { contribution, .. } => Some((*contribution, "contribution")),
        EventKind::EventReversed { target_seq, .. } => Some((*target_seq, "reversed event")),
        _ => None,
    }
}

/// Refuses an event dated before what it depends on. `event_at` is the event's path in the request
/// (`events[2]`); `f` makes the path of a field of its kind.
pub(crate) fn check_dates(
    state: &ProjectState,
    event: &Event,
    facts: &Facts<'_>,
    event_at: &str,
    f: &dyn Fn(&str) -> String,
) -> Result<(), LedgerError> {
    let date = event.effective_date;
    // `effective_date` is a field of the event's envelope; `due_date` one of its kind (`f`).
    let before = |field: &str, date: NaiveDate, what: String, before: NaiveDate| LedgerError::DatedBefore {
        project: state.id.clone(),
        field: if field == "effective_date" { crate::error::field_path(event_at, field) } else { f(field) },
        date,
        what,
        before,
    };
    if let Some(info) = &state.info {
        let exempt = matches!(event.kind, EventKind::ProjectOpened { .. } | EventKind::OpeningBalance { .. });
        if !exempt && date < info.opened_on {
            return Err(before("effective_date", date, "the project's opening".to_owned(), info.opened_on));
        }
    }
    if let EventKind::PledgeRecorded { due_date, .. } = &event.kind {
        if *due_date < date {
            return Err(before("due_date", *due_date, "the pledge's own date".to_owned(), date));
        }
    }
    if let Some((seq, what)) = named(&event.kind) {
        // A seq that names nothing is the other rules' refusal.
        if (1..=state.head.seq).contains(&seq) {
            if let Some(target) = facts.history.event_at(&state.id, seq)? {
                if date < target.effective_date {
                    return Err(before("effective_date", date, format!("{what} seq {seq}"), target.effective_date));
                }
            }
        }
    }
    Ok(())
}

/// Refuses an event whose postings, counted at its effective date, would take a fund, pledge or
/// advance account below zero on that date or any later one. Every sum is checked: one that leaves
/// a `Decimal` is refused as [`LedgerError::Overflow`] naming the request field its amount comes
/// from (`f` makes the path of a field of the event's kind), never a panic.
pub(crate) fn check_dated_balances(
    state: &ProjectState,
    kind: &EventKind,
    date: NaiveDate,
    f: &dyn Fn(&str) -> String,
) -> Result<(), LedgerError> {
    let legs = postings(&state.id, kind);
    for (i, leg) in legs.iter().enumerate() {
        let Some(sign) = sign(&leg.account) else { continue };
        if legs[..i].iter().any(|l| l.account == leg.account && l.currency == leg.currency) {
            continue;
        }
        let overflow = || LedgerError::Overflow {
            project: state.id.clone(),
            field: crate::rules::overflow_field(kind, leg.currency, f),
            account: leg.account.to_string(),
            currency: leg.currency,
            limit: crate::money::BALANCE_MAX,
        };
        let net = legs
            .iter()
            .filter(|l| l.account == leg.account && l.currency == leg.currency)
            .try_fold(Decimal::ZERO, |sum, l| sum.checked_add(l.amount))
            .ok_or_else(overflow)?;
        let change = sign.checked_mul(net).ok_or_else(overflow)?;
        if change >= Decimal::ZERO {
            continue;
        }
        let (lowest, on) = state.dated.lowest_from(&leg.account, leg.currency, date).ok_or_else(overflow)?;
        if lowest.checked_add(change).ok_or_else(overflow)? < Decimal::ZERO {
            return Err(LedgerError::DatedOverdraft {
                project: state.id.clone(),
                account: leg.account.to_string(),
                currency: leg.currency,
                date,
                on,
                balance: lowest,
                requested: -change,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{ExpenseDetails, Fund, Receipt};
    use crate::ids::ProjectId;
    use crate::money::Money;

    fn day(s: &str) -> NaiveDate {
        crate::ids::parse_date("date", s).expect("date")
    }

    /// Running sums in date order that leave a `Decimal` are an overflow refusal, never a panic
    /// (they were unchecked `+` before).
    #[test]
    fn running_sums_that_overflow_are_refused() {
        let project = ProjectId::parse("project", "huge").expect("id");
        let usd = Currency::from_code("USD").expect("USD");
        let mut state = ProjectState::new(project.clone());
        // Credits of a fund are negative (debit-positive sums): two days of Decimal::MIN each.
        let fund = Account::Unrestricted(project.as_str());
        state.dated.post(&fund, usd, day("2026-02-01"), Decimal::MIN);
        state.dated.post(&fund, usd, day("2026-03-01"), Decimal::MIN);
        let expense = EventKind::ExpensePaid {
            request: None,
            details: Some(ExpenseDetails {
                amount: Money::new("amount", Decimal::ONE, usd).expect("money"),
                payee: "Venue".to_owned(),
                category: "venue".to_owned(),
                fund: Fund::Unrestricted,
                receipt: Receipt { hash: [1; 32], file_name: "r.pdf".to_owned() },
            }),
        };
        let f = |name: &str| format!("events[0].expense_paid.{name}");
        let err = check_dated_balances(&state, &expense, day("2026-01-15"), &f).expect_err("refused");
        match err {
            LedgerError::Overflow { field, account, .. } => {
                assert_eq!(field, "events[0].expense_paid.amount");
                assert_eq!(account, "Liabilities:Projects:huge:Unrestricted");
            }
            other => panic!("expected an overflow refusal, got {other}"),
        }
        // A day's own sum saturates when folded (apply never fails), and is then refused the same way.
        state.dated.post(&fund, usd, day("2026-03-01"), Decimal::MIN);
        assert!(matches!(
            check_dated_balances(&state, &expense, day("2026-01-15"), &f),
            Err(LedgerError::Overflow { .. })
        ));
    }
}
