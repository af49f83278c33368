//! The rules: whether one event may follow the state, and what the ledger completes in it.
//!
//! `decide` reads the project's state (and past events through [`History`]) and returns the event
//! completed for storage, or the refusal. It changes nothing; `ProjectState::apply` folds the result.

use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::error::{field_path, LedgerError};
use crate::event::{Event, EventKind, Fund};
use crate::ids::ProjectId;
use crate::money::{checked_balance, Currency, Money, BALANCE_MAX};
use crate::posting::{postings, Account};
use crate::projection::ProjectState;

/// Past events the rules may need (a refunded contribution, a reversal's target).
pub trait History {
    /// The stored event at `seq` of `project`, if there is one.
    fn event_at(&self, project: &ProjectId, seq: u64) -> Result<Option<Event>, LedgerError>;
}

/// What `decide` knows besides the project's own state.
pub struct Facts<'a> {
    /// Sponsor-wide closed period.
    pub sponsor_closed_through: Option<NaiveDate>,
    /// Who records the event.
    pub actor: &'a str,
    /// When a new event is recorded (µs since the Unix epoch, its `recorded_at`): no event is
    /// dated after the day after it ([`recorded_day`]). `None` when stored records are checked
    /// again (replay, verification, audit): a record is judged by the rules in force when it was
    /// recorded, and events dated ahead were accepted before this rule (2026-12-01).
    pub recorded_at: Option<i64>,
    /// Past events.
    pub history: &'a dyn History,
    /// Checks that another project (a transfer's counterpart) exists and is open.
    pub counterpart_open: &'a dyn Fn(&ProjectId) -> Result<(), LedgerError>,
}

/// The UTC day of `recorded_at` (µs since the Unix epoch); `None` outside chrono's range.
pub fn recorded_day(recorded_at: i64) -> Option<NaiveDate> {
    chrono::DateTime::from_timestamp_micros(recorded_at).map(|t| t.date_naive())
}

/// Refuses an event dated after the day it is recorded (UTC), with a day's grace for time zones
/// ahead of UTC: money is recorded once it has moved. A typo of the year (2062 for 2026) put money
/// in every balance and in no statement until then, and a period closed through such a day (a
/// close cannot be undone) refused every event of every project dated up to it, for good.
fn check_not_to_come(event: &Event, facts: &Facts<'_>, field: &str) -> Result<(), LedgerError> {
    let Some(recorded_at) = facts.recorded_at else { return Ok(()) };
    let latest = recorded_day(recorded_at).and_then(|d| d.succ_opt());
    if latest.is_none_or(|latest| event.effective_date > latest) {
        return Err(LedgerError::invalid(
            &field_path(field, "effective_date"),
            format!(
                "{} is after the day this is recorded ({}): an event is recorded on or after its date",
                event.effective_date,
                recorded_day(recorded_at).map_or_else(|| "unknown".to_owned(), |d| d.to_string())
            ),
        ));
    }
    Ok(())
}

/// Decides whether `event` may be recorded on `state` (a fresh `ProjectState` for a new chain).
/// Returns the event's kind completed for storage. `field` is the event's path in the request
/// (`events[2]`); errors name paths into the request message (`events[2].pledge_fulfilled.pledge`).
pub fn decide(state: &ProjectState, event: &Event, facts: &Facts<'_>, field: &str) -> Result<EventKind, LedgerError> {
    let kind_at = field_path(field, event.kind.field_name());
    let f = |name: &str| field_path(&kind_at, name);
    let project = &state.id;
    let exists = state.info.is_some();
    match &event.kind {
        EventKind::ProjectOpened { .. } if exists || state.head.seq > 0 => {
            return Err(LedgerError::ProjectExists { project: project.clone() })
        }
        EventKind::ProjectOpened { .. } if project.is_sponsor() => {
            return Err(LedgerError::invalid(
                &field_path(field, "project"),
                "\"sponsor\" is reserved for the sponsor-wide chain",
            ))
        }
        EventKind::ProjectOpened { .. } => {}
        _ if project.is_sponsor() => {}
        _ if !exists => return Err(LedgerError::UnknownProject { project: project.clone() }),
        _ if state.closed => return Err(LedgerError::ProjectClosed { project: project.clone() }),
        _ => {}
    }
    let through = match (facts.sponsor_closed_through, state.closed_through) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    if let Some(through) = through {
        if event.effective_date <= through {
            return Err(LedgerError::PeriodClosed { project: project.clone(), date: event.effective_date, through });
        }
    }
    check_not_to_come(event, facts, field)?;
    crate::dating::check_dates(state, event, facts, field, &f)?;
    let home = state.info.as_ref().map(|i| i.currency);
    let mut released: Option<(Fund, Money)> = None;
    let kind = match &event.kind {
        EventKind::ContributionReceived { amount, from, source, fund, fee_bps } => EventKind::ContributionReceived {
            amount: *amount,
            from: from.clone(),
            source: *source,
            fund: fund.clone(),
            fee_bps: Some(fee_bps.unwrap_or_else(|| fee_rate(state, event.effective_date))),
        },
        EventKind::PledgeFulfilled { amount, pledge, fee_bps } => {
            let open = open_pledge(state, *pledge, &f("pledge"))?;
            same_currency(&f("amount.currency"), open.currency(), amount.currency())?;
            if amount.amount() > open.amount() {
                return Err(LedgerError::ExceedsRemaining {
                    project: project.clone(),
                    currency: open.currency(),
                    what: "pledge",
                    seq: *pledge,
                    remaining: open.amount(),
                    requested: amount.amount(),
                });
            }
            EventKind::PledgeFulfilled {
                amount: *amount,
                pledge: *pledge,
                fee_bps: Some(fee_bps.unwrap_or_else(|| fee_rate(state, event.effective_date))),
            }
        }
        EventKind::PledgeCancelled { pledge, amount } => {
            let open = open_pledge(state, *pledge, &f("pledge"))?;
            if let Some(given) = amount {
                if *given != open {
                    return Err(LedgerError::invalid(&f("amount"), format!("the pledge has {open} left, not {given}")));
                }
            }
            EventKind::PledgeCancelled { pledge: *pledge, amount: Some(open) }
        }
        EventKind::AdvanceIssued { amount, .. } => {
            let home = home.expect("a project past the existence check has terms");
            same_currency(&f("amount.currency"), home, amount.currency())?;
            let info = state.info.as_ref().expect("checked above");
            let outstanding = state.books(home).advances_receivable;
            let limit = info.advance_limit_on(event.effective_date);
            // (an overflowing sum is over any limit; check_balances names the overflow itself)
            if outstanding.checked_add(amount.amount()).is_none_or(|after| after > limit) {
                return Err(LedgerError::AdvanceLimit {
                    project: project.clone(),
                    currency: home,
                    limit,
                    outstanding,
                    requested: amount.amount(),
                });
            }
            event.kind.clone()
        }
        EventKind::AdvanceRepaid { amount } => {
            same_currency(&f("amount.currency"), home.expect("project has terms"), amount.currency())?;
            event.kind.clone()
        }
        EventKind::ProjectTermsChanged { advance_limit: Some(limit), .. } => {
            let home = home.expect("project has terms");
            if limit.scale() > home.minor_units() {
                return Err(LedgerError::invalid(
                    &f("advance_limit"),
                    format!("{limit} has more decimal places than {home} allows"),
                ));
            }
            event.kind.clone()
        }
        EventKind::ExpensePaid { request: Some(request), .. } => {
            let r = state.requests.get(request).filter(|r| r.approved).ok_or_else(|| LedgerError::BadReference {
                project: project.clone(),
                field: f("request"),
                seq: *request,
                expected: "an approved, unpaid expense request".to_owned(),
            })?;
            released = Some((r.details.fund.clone(), r.details.amount));
            EventKind::ExpensePaid { request: Some(*request), details: Some(r.details.clone()) }
        }
        EventKind::ExpenseApproved { request } => {
            let r = state.requests.get(request).filter(|r| !r.approved).ok_or_else(|| LedgerError::BadReference {
                project: project.clone(),
                field: f("request"),
                seq: *request,
                expected: "a pending expense request".to_owned(),
            })?;
            if r.requester == facts.actor {
                return Err(LedgerError::SelfApproval {
                    project: project.clone(),
                    request: *request,
                    actor: facts.actor.to_owned(),
                });
            }
            let (fund, amount) = (&r.details.fund, r.details.amount);
            let available = state.books(amount.currency()).fund_available(fund);
            if available < amount.amount() {
                return Err(LedgerError::Overdraft {
                    project: project.clone(),
                    fund: fund.label(),
                    currency: amount.currency(),
                    available,
                    requested: amount.amount(),
                });
            }
            event.kind.clone()
        }
        EventKind::ExpenseRejected { request, .. } => {
            if !state.requests.contains_key(request) {
                return Err(LedgerError::BadReference {
                    project: project.clone(),
                    field: f("request"),
                    seq: *request,
                    expected: "a pending or approved expense request".to_owned(),
                });
            }
            event.kind.clone()
        }
        EventKind::RefundIssued { amount, contribution, .. } => refund(state, *contribution, *amount, facts, &f)?,
        EventKind::TransferSent { to: other, .. } | EventKind::TransferReceived { from: other, .. } => {
            (facts.counterpart_open)(other)?;
            event.kind.clone()
        }
        EventKind::EventReversed { target_seq, reason, .. } => reversal(state, event, *target_seq, reason, facts, &f)?,
        EventKind::ProjectClosed {} => {
            if let Some((c, b)) = state.books.iter().find(|(_, b)| !b.is_empty()) {
                let what = if !b.unrestricted.is_zero() || b.restricted.values().any(|v| !v.is_zero()) {
                    format!("it still holds {c} funds")
                } else if !b.advances_receivable.is_zero() {
                    format!("{} {c} of advances are outstanding", b.advances_receivable)
                } else {
                    format!("{c} pledges or holds are outstanding")
                };
                return Err(LedgerError::NotEmpty { project: project.clone(), reason: what });
            }
            if let Some(seq) = state.requests.keys().next() {
                return Err(LedgerError::NotEmpty {
                    project: project.clone(),
                    reason: format!("expense request {seq} is still open"),
                });
            }
            if let Some(seq) = state.pledges.keys().next() {
                return Err(LedgerError::NotEmpty {
                    project: project.clone(),
                    reason: format!("pledge {seq} is still open"),
                });
            }
            event.kind.clone()
        }
        EventKind::PeriodClosed { through } => {
            if *through >= event.effective_date {
                return Err(LedgerError::invalid(
                    &f("through"),
                    format!(
                        "a period is closed after it ends: {through} is not before the event's date {}",
                        event.effective_date
                    ),
                ));
            }
            if let Some(prev) = state.closed_through {
                if *through <= prev {
                    return Err(LedgerError::invalid(
                        &f("through"),
                        format!("the books are already closed through {prev}"),
                    ));
                }
            }
            event.kind.clone()
        }
        _ => event.kind.clone(),
    };
    check_balances(state, &kind, released, &f)?;
    crate::dating::check_dated_balances(state, &kind, event.effective_date, &f)?;
    Ok(kind)
}

/// Refuses an expense request or direct payment whose receipt the project already holds (on a
/// request that was not rejected, or a direct payment that was not reversed): the same invoice
/// filed or paid twice. A rule of requests only (docs/FORMAT.md section 6): the commit may allow it
/// (`CommitRequest::allow_same_receipt`), so stored events are not checked against it. `kind` is
/// the event as `decide` completed it; `f` makes the path of a field of its kind.
pub fn check_receipt(state: &ProjectState, kind: &EventKind, f: &dyn Fn(&str) -> String) -> Result<(), LedgerError> {
    let details = match kind {
        EventKind::ExpenseRequested { details } => details,
        EventKind::ExpensePaid { request: None, details: Some(details) } => details,
        _ => return Ok(()),
    };
    let Some((&seq, &what)) = state.receipts.get(&details.receipt.hash).and_then(|seqs| seqs.first_key_value()) else {
        return Ok(());
    };
    Err(LedgerError::SameReceipt {
        project: state.id.clone(),
        field: f("details.receipt.hash"),
        hash: details.receipt.hash.iter().map(|b| format!("{b:02x}")).collect(),
        what,
        seq,
    })
}

/// The fee rate in force on `date` by the project's terms history (not the latest recorded change).
fn fee_rate(state: &ProjectState, date: NaiveDate) -> u32 {
    state.info.as_ref().map_or(0, |i| i.fee_bps_on(date))
}

fn same_currency(field: &str, expected: Currency, got: Currency) -> Result<(), LedgerError> {
    if expected == got {
        Ok(())
    } else {
        Err(LedgerError::invalid(field, format!("must be {expected}, got {got}")))
    }
}

fn open_pledge(state: &ProjectState, seq: u64, field: &str) -> Result<Money, LedgerError> {
    state.pledges.get(&seq).copied().ok_or_else(|| LedgerError::BadReference {
        project: state.id.clone(),
        field: field.to_owned(),
        seq,
        expected: "an open pledge".to_owned(),
    })
}

fn refund(
    state: &ProjectState,
    contribution: u64,
    amount: Money,
    facts: &Facts<'_>,
    f: &dyn Fn(&str) -> String,
) -> Result<EventKind, LedgerError> {
    let bad = |expected: &str| LedgerError::BadReference {
        project: state.id.clone(),
        field: f("contribution"),
        seq: contribution,
        expected: expected.to_owned(),
    };
    const REFUNDABLE: &str = "a contribution or a pledge payment";
    if contribution > state.head.seq {
        return Err(bad(REFUNDABLE));
    }
    if state.reversed.contains(&contribution) {
        return Err(bad("a contribution or pledge payment that stands (it was reversed)"));
    }
    let target = facts.history.event_at(&state.id, contribution)?.ok_or_else(|| bad(REFUNDABLE))?;
    // Money that came in as a pledge payment went to the unrestricted fund at its own rate.
    let (paid, fund, fee_bps) = match target.kind {
        EventKind::ContributionReceived { amount, fund, fee_bps, .. } => (amount, fund, fee_bps),
        EventKind::PledgeFulfilled { amount, fee_bps, .. } => (amount, Fund::Unrestricted, fee_bps),
        _ => return Err(bad(REFUNDABLE)),
    };
    same_currency(&f("amount.currency"), paid.currency(), amount.currency())?;
    let done = state.refunds.get(&contribution).copied().unwrap_or_default();
    let overflow = || LedgerError::Overflow {
        project: state.id.clone(),
        field: f("amount"),
        account: format!("the refunds of contribution {contribution}"),
        currency: paid.currency(),
        limit: crate::money::BALANCE_MAX,
    };
    let remaining = paid.amount().checked_sub(done.amount).ok_or_else(overflow)?;
    if amount.amount() > remaining {
        return Err(LedgerError::ExceedsRemaining {
            project: state.id.clone(),
            currency: paid.currency(),
            what: "contribution",
            seq: contribution,
            remaining,
            requested: amount.amount(),
        });
    }
    // The fee given back is cumulative, so that refunding a contribution in full returns its whole fee.
    let c = paid.currency();
    // Exact integer arithmetic: fee × refunded / paid at 1e15 is past a Decimal's 96 bits.
    let fee_total = crate::money::fee(paid.amount(), fee_bps.unwrap_or(0), c);
    let refunded_after = done.amount.checked_add(amount.amount()).ok_or_else(overflow)?;
    let share_after = crate::money::prorate(fee_total, refunded_after, paid.amount(), c).ok_or_else(overflow)?;
    let fee_share = share_after.checked_sub(done.fee).ok_or_else(overflow)?.normalize();
    Ok(EventKind::RefundIssued { amount, contribution, fund: Some(fund), fee_share: Some(fee_share) })
}

fn reversal(
    state: &ProjectState,
    event: &Event,
    target_seq: u64,
    reason: &str,
    facts: &Facts<'_>,
    f: &dyn Fn(&str) -> String,
) -> Result<EventKind, LedgerError> {
    let refuse =
        |why: &str| LedgerError::NotReversible { project: state.id.clone(), seq: target_seq, reason: why.to_owned() };
    if target_seq == 0 || target_seq > state.head.seq {
        return Err(LedgerError::BadReference {
            project: state.id.clone(),
            field: f("target_seq"),
            seq: target_seq,
            expected: "an earlier event of this project".to_owned(),
        });
    }
    if state.reversed.contains(&target_seq) {
        return Err(refuse("it is already reversed"));
    }
    let target = facts.history.event_at(&state.id, target_seq)?.ok_or_else(|| refuse("it is not in the store"))?;
    let _ = event;
    match &target.kind {
        EventKind::EventReversed { .. } => return Err(refuse("it is itself a reversal")),
        EventKind::TransferSent { .. } | EventKind::TransferReceived { .. } => {
            return Err(refuse("a transfer is undone by a transfer back, which keeps both projects' chains in step"))
        }
        k if !k.has_postings() => return Err(refuse("it moved no money")),
        EventKind::PledgeRecorded { amount, .. } if state.pledges.get(&target_seq) != Some(amount) => {
            return Err(refuse("the pledge was partly paid or cancelled; cancel what remains instead"))
        }
        EventKind::ContributionReceived { .. } | EventKind::PledgeFulfilled { .. }
            if state.refunds.contains_key(&target_seq) =>
        {
            return Err(refuse("part of it was refunded; reverse the refunds first"))
        }
        _ => {}
    }
    Ok(EventKind::EventReversed { target_seq, reason: reason.to_owned(), target: Some(Box::new(target.kind)) })
}

/// Refuses an event whose postings would overdraw a fund (after holds), pay back more than is owed,
/// or take any account past [`BALANCE_MAX`] (so that `ProjectState::apply` of what is accepted is
/// exact and cannot overflow).
fn check_balances(
    state: &ProjectState,
    kind: &EventKind,
    released: Option<(Fund, Money)>,
    f: &dyn Fn(&str) -> String,
) -> Result<(), LedgerError> {
    let legs = postings(&state.id, kind);
    for (i, leg) in legs.iter().enumerate() {
        if legs[..i].iter().any(|l| l.account == leg.account && l.currency == leg.currency) {
            continue;
        }
        let overflow = || LedgerError::Overflow {
            project: state.id.clone(),
            field: overflow_field(kind, leg.currency, f),
            account: leg.account.to_string(),
            currency: leg.currency,
            limit: BALANCE_MAX,
        };
        let net = legs
            .iter()
            .filter(|l| l.account == leg.account && l.currency == leg.currency)
            .try_fold(Decimal::ZERO, |sum, l| checked_balance(sum, l.amount))
            .ok_or_else(overflow)?;
        let books = state.books(leg.currency);
        checked_balance(books.raw(&leg.account), net).ok_or_else(overflow)?;
        let fund = match leg.account {
            Account::Unrestricted(_) => Some(Fund::Unrestricted),
            Account::Restricted(_, p) => Some(Fund::Restricted(p.to_owned())),
            _ => None,
        };
        if let Some(fund) = fund {
            if net > Decimal::ZERO {
                let mut available = books.fund_available(&fund);
                if let Some((rf, rm)) = &released {
                    if *rf == fund && rm.currency() == leg.currency {
                        available = checked_balance(available, rm.amount()).ok_or_else(overflow)?;
                    }
                }
                if available < net {
                    return Err(LedgerError::Overdraft {
                        project: state.id.clone(),
                        fund: fund.label(),
                        currency: leg.currency,
                        available,
                        requested: net,
                    });
                }
            }
            continue;
        }
        let (outstanding, decreasing) = match leg.account {
            Account::Pledged(_) => (-books.pledged, net > Decimal::ZERO),
            Account::PledgesReceivable(_) => (books.pledges_receivable, net < Decimal::ZERO),
            Account::AdvancesReceivable(_) => (books.advances_receivable, net < Decimal::ZERO),
            _ => continue,
        };
        if decreasing && outstanding < net.abs() {
            return Err(LedgerError::ExceedsOutstanding {
                project: state.id.clone(),
                account: leg.account.to_string(),
                currency: leg.currency,
                outstanding,
                requested: net.abs(),
            });
        }
    }
    Ok(())
}

/// The request field whose amount an overflow in `currency` comes from, under the prefix `f`.
pub(crate) fn overflow_field(kind: &EventKind, currency: Currency, f: &dyn Fn(&str) -> String) -> String {
    match kind {
        EventKind::CurrencyConverted { to, .. } if to.currency() == currency => f("to"),
        EventKind::ExpensePaid { request: Some(_), .. } => f("request"),
        EventKind::EventReversed { .. } => f("target_seq"),
        _ => f("amount"),
    }
}
