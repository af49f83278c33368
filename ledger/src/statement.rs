//! Statements: a project's money over a date range, as its organisers and the sponsor read it.
//!
//! A statement covers the funds the sponsor holds for the project (unrestricted and restricted) in
//! one currency: the opening balance before the range, one line per event in the range in date
//! order with a running balance, totals per contribution source and expense category, and the
//! closing balance. Money in is positive.
//!
//! A refund counts under the source of the contribution it refunds (a 1000.00 sponsorship at 8 %
//! and a 100.00 refund of it total 828.00 under `sponsorship`), and a reversal of a contribution
//! or of a refund counts, negated as its postings are, under that same source.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::event::{Event, EventKind, ExpenseDetails, Source};
use crate::money::Currency;
use crate::posting::{postings, Account};

/// One line of a statement.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct StatementLine {
    /// Effective date.
    pub date: NaiveDate,
    /// Seq in the project's chain.
    pub seq: u64,
    /// Event kind.
    pub kind: &'static str,
    /// Memo.
    pub memo: String,
    /// External reference.
    pub reference: Option<String>,
    /// Change of the project's funds (money in positive).
    pub amount: Decimal,
    /// Funds after this line.
    pub running: Decimal,
}

/// A project's statement for a date range in one currency.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Statement {
    /// The currency.
    pub currency: Currency,
    /// First date (inclusive).
    pub from: NaiveDate,
    /// Last date (inclusive).
    pub to: NaiveDate,
    /// Funds before `from`.
    pub opening: Decimal,
    /// Lines in (date, seq) order.
    pub lines: Vec<StatementLine>,
    /// Net contributions per source (`sponsorship`, `donation` …), in the range.
    pub by_source: BTreeMap<String, Decimal>,
    /// Expenses per category, in the range (negative: money out).
    pub by_category: BTreeMap<String, Decimal>,
    /// Everything else per event kind, in the range.
    pub by_kind: BTreeMap<String, Decimal>,
    /// Funds after `to`.
    pub closing: Decimal,
}

/// Builds the statement of `project` from its stored events (any order).
pub fn statement(
    project: &crate::ids::ProjectId,
    currency: Currency,
    from: NaiveDate,
    to: NaiveDate,
    events: impl IntoIterator<Item = (u64, Event)>,
) -> Statement {
    let events: Vec<(u64, Event)> = events.into_iter().collect();
    // the source of every contribution, for the refunds and reversals that count under it
    let sources: HashMap<u64, Source> = events
        .iter()
        .filter_map(|(seq, e)| match &e.kind {
            EventKind::ContributionReceived { source, .. } => Some((*seq, *source)),
            _ => None,
        })
        .collect();
    let source_of = |kind: &EventKind| match kind {
        EventKind::ContributionReceived { source, .. } => Some(*source),
        EventKind::RefundIssued { contribution, .. } => sources.get(contribution).copied(),
        _ => None,
    };
    let mut opening = Decimal::ZERO;
    let mut lines = Vec::new();
    let (mut by_source, mut by_category, mut by_kind) = (BTreeMap::new(), BTreeMap::new(), BTreeMap::new());
    for (seq, event) in events {
        if event.effective_date > to {
            continue;
        }
        let amount: Decimal = postings(project, &event.kind)
            .iter()
            .filter(|l| {
                l.currency == currency && matches!(l.account, Account::Unrestricted(_) | Account::Restricted(..))
            })
            .map(|l| -l.amount)
            .sum();
        if amount.is_zero() {
            continue;
        }
        if event.effective_date < from {
            opening += amount;
            continue;
        }
        let source = match &event.kind {
            EventKind::EventReversed { target: Some(target), .. } => source_of(target),
            k => source_of(k),
        };
        let (totals, name) = match (&event.kind, source) {
            (_, Some(source)) => (&mut by_source, source.name().to_owned()),
            (EventKind::ExpensePaid { details: Some(ExpenseDetails { category, .. }), .. }, None) => {
                (&mut by_category, category.clone())
            }
            (k, None) => (&mut by_kind, k.name().to_owned()),
        };
        *totals.entry(name).or_insert(Decimal::ZERO) += amount;
        lines.push(StatementLine {
            date: event.effective_date,
            seq,
            kind: event.kind.name(),
            memo: event.memo,
            reference: event.reference,
            amount,
            running: Decimal::ZERO,
        });
    }
    lines.sort_by_key(|l| (l.date, l.seq));
    let mut running = opening;
    for l in &mut lines {
        running += l.amount;
        l.running = running;
    }
    Statement { currency, from, to, opening, lines, by_source, by_category, by_kind, closing: running }
}
