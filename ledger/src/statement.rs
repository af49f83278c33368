//! Statements: a project's money over a date range, as its organisers and the sponsor read it.
//!
//! A statement covers the funds the sponsor holds for the project (unrestricted and restricted) in
//! one currency: the opening balance before the range, one line per event in the range in date
//! order with a running balance, totals per contribution source and expense category, and the
//! closing balance. Money in is positive.
//!
//! A refund counts under the source of the contribution it refunds (a 1000.00 sponsorship at 8 %
//! and a 100.00 refund of it total 828.00 under `sponsorship`), and a reversal of a contribution
//! or of a refund counts, negated as its postings are, under that same source. Likewise a reversed
//! expense counts under its category, and a refund of a pledge payment under `PledgeFulfilled`.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::error::LedgerError;
use crate::event::{Event, EventKind, ExpenseDetails};
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
    /// Change of the project's funds (money in positive): the net, after the sponsor's fee.
    pub amount: Decimal,
    /// For money in and its refunds (contributions, pledge payments, refunds): the gross amount,
    /// `amount + fee` (a refund's gross is negative).
    pub gross: Option<Decimal>,
    /// The sponsor's fee taken (positive) or given back by a refund (negative), with `gross`.
    pub fee: Option<Decimal>,
    /// Who the money came from or went to: a contribution's `from`, a paid pledge's sponsor, an
    /// expense's payee, a refunded contribution's payer, the other project of a transfer, a
    /// grant's program, `sponsor` for an advance and its repayment.
    pub counterparty: Option<String>,
    /// What the line means beyond its kind, in words: the request an expense payment pays, the
    /// pledge or contribution a payment or refund concerns, both sides of a currency conversion,
    /// and that an advance is money owed back to the sponsor, not income. Empty when nothing is to
    /// be said.
    pub detail: String,
    /// Funds after this line.
    pub running: Decimal,
    /// For a reversal: what it reverses and why.
    pub reverses: Option<ReversedLine>,
}

/// What a reversal's statement line reverses, and why.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ReversedLine {
    /// The reversed event's kind, such as `ContributionReceived`.
    pub kind: &'static str,
    /// Its seq.
    pub seq: u64,
    /// The total it counts under (and the reversal with it, negated): `source:<source>`,
    /// `category:<category>` or `kind:<kind>`.
    pub under: String,
    /// The reversal's reason.
    pub reason: String,
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

/// Which total an event counts under.
#[derive(Clone)]
enum Total {
    /// A contribution's source.
    Source(String),
    /// An expense's category.
    Category(String),
    /// The event's kind, for everything else.
    Kind(String),
}

impl Total {
    fn label(&self) -> String {
        match self {
            Total::Source(n) => format!("source:{n}"),
            Total::Category(n) => format!("category:{n}"),
            Total::Kind(n) => format!("kind:{n}"),
        }
    }
}

fn own_total(kind: &EventKind) -> Total {
    match kind {
        EventKind::ContributionReceived { source, .. } => Total::Source(source.name().to_owned()),
        EventKind::ExpensePaid { details: Some(ExpenseDetails { category, .. }), .. } => {
            Total::Category(category.clone())
        }
        EventKind::EventReversed { target: Some(target), .. } => own_total(target),
        k => Total::Kind(k.name().to_owned()),
    }
}

/// `total + amount`, or [`LedgerError::Overflow`] naming `project`, the statement's `what`
/// (`opening`, `running`, `source:<source>` …) and `currency` when the sum leaves `Decimal`'s range.
fn add(
    project: &crate::ids::ProjectId,
    currency: Currency,
    what: &str,
    total: Decimal,
    amount: Decimal,
) -> Result<Decimal, LedgerError> {
    total.checked_add(amount).ok_or_else(|| LedgerError::Overflow {
        project: project.clone(),
        field: "statement".to_owned(),
        account: what.to_owned(),
        currency,
        limit: Decimal::MAX,
    })
}

/// Builds the statement of `project` from its stored events (any order).
///
/// Every sum is checked: a line amount, the opening and running balances and each total that would
/// leave `Decimal`'s range is [`LedgerError::Overflow`] (field `statement`, account the sum's
/// name), never a panic.
pub fn statement(
    project: &crate::ids::ProjectId,
    currency: Currency,
    from: NaiveDate,
    to: NaiveDate,
    events: impl IntoIterator<Item = (u64, Event)>,
) -> Result<Statement, LedgerError> {
    let mut events: Vec<(u64, Event)> = events.into_iter().collect();
    events.sort_by_key(|(seq, _)| *seq);
    // Where each event counts: a refund where the contribution or pledge payment it refunds counted,
    // a reversal where its target counted (a reversed refund under the refunded source); the
    // amounts are negated as their postings are.
    let mut keys: HashMap<u64, Total> = HashMap::new();
    for (seq, e) in &events {
        let named = match &e.kind {
            EventKind::RefundIssued { contribution, .. } => keys.get(contribution).cloned(),
            EventKind::EventReversed { target_seq, .. } => keys.get(target_seq).cloned(),
            _ => None,
        };
        keys.insert(*seq, named.unwrap_or_else(|| own_total(&e.kind)));
    }
    let by_seq: HashMap<u64, &Event> = events.iter().map(|(seq, e)| (*seq, e)).collect();
    let mut extras: HashMap<u64, Extras> = HashMap::new();
    for (seq, e) in &events {
        extras.insert(*seq, extras_of(project, currency, e, &by_seq));
    }
    let mut opening = Decimal::ZERO;
    let mut lines = Vec::new();
    let (mut by_source, mut by_category, mut by_kind) = (BTreeMap::new(), BTreeMap::new(), BTreeMap::new());
    for (seq, event) in events {
        if event.effective_date > to {
            continue;
        }
        let mut amount = Decimal::ZERO;
        for l in postings(project, &event.kind).iter().filter(|l| {
            l.currency == currency && matches!(l.account, Account::Unrestricted(_) | Account::Restricted(..))
        }) {
            amount = add(project, currency, "line", amount, -l.amount)?;
        }
        if amount.is_zero() {
            continue;
        }
        if event.effective_date < from {
            opening = add(project, currency, "opening", opening, amount)?;
            continue;
        }
        let total = keys.remove(&seq).unwrap_or_else(|| own_total(&event.kind));
        let reverses = match &event.kind {
            EventKind::EventReversed { target_seq, reason, target: Some(target) } => Some(ReversedLine {
                kind: target.name(),
                seq: *target_seq,
                under: total.label(),
                reason: reason.clone(),
            }),
            _ => None,
        };
        let label = total.label();
        let extra = extras.remove(&seq).unwrap_or_default();
        let (totals, name) = match total {
            Total::Source(name) => (&mut by_source, name),
            Total::Category(name) => (&mut by_category, name),
            Total::Kind(name) => (&mut by_kind, name),
        };
        let sum = totals.entry(name).or_insert(Decimal::ZERO);
        *sum = add(project, currency, &label, *sum, amount)?;
        lines.push(StatementLine {
            date: event.effective_date,
            seq,
            kind: event.kind.name(),
            memo: event.memo,
            reference: event.reference,
            amount,
            gross: extra.fee.and_then(|f| amount.checked_add(f)),
            fee: extra.fee,
            counterparty: extra.counterparty,
            detail: extra.detail,
            running: Decimal::ZERO,
            reverses,
        });
    }
    lines.sort_by_key(|l| (l.date, l.seq));
    let mut running = opening;
    for l in &mut lines {
        running = add(project, currency, "running", running, l.amount)?;
        l.running = running;
    }
    Ok(Statement { currency, from, to, opening, lines, by_source, by_category, by_kind, closing: running })
}

/// What a statement line says besides its amount (see [`StatementLine`]).
#[derive(Default)]
struct Extras {
    fee: Option<Decimal>,
    counterparty: Option<String>,
    detail: String,
}

/// The fee, counterparty and words of `event`'s line in `currency`; `by_seq` finds the pledge,
/// request or contribution it names in the same chain.
fn extras_of(
    project: &crate::ids::ProjectId,
    currency: Currency,
    event: &Event,
    by_seq: &HashMap<u64, &Event>,
) -> Extras {
    use crate::money::display_amount;
    // the fee the sponsor took (a credit of Income:Fees), or gave back (a debit)
    let fee = || {
        let legs = postings(project, &event.kind);
        let fees = legs.iter().filter(|l| l.currency == currency && matches!(l.account, Account::Fees(_)));
        Some(fees.fold(Decimal::ZERO, |s, l| s.saturating_sub(l.amount)))
    };
    let named = |seq: &u64| by_seq.get(seq).map(|e| &e.kind);
    let payer = |seq: &u64| match named(seq) {
        Some(EventKind::ContributionReceived { from, .. }) => Some(from.clone()),
        Some(EventKind::PledgeFulfilled { pledge, .. }) => match named(pledge) {
            Some(EventKind::PledgeRecorded { sponsor, .. }) => Some(sponsor.clone()),
            _ => None,
        },
        _ => None,
    };
    match &event.kind {
        EventKind::ContributionReceived { from, .. } => {
            Extras { fee: fee(), counterparty: Some(from.clone()), detail: String::new() }
        }
        EventKind::PledgeFulfilled { pledge, .. } => {
            let sponsor = match named(pledge) {
                Some(EventKind::PledgeRecorded { sponsor, .. }) => Some(sponsor.clone()),
                _ => None,
            };
            Extras { fee: fee(), counterparty: sponsor, detail: format!("pays pledge seq {pledge}") }
        }
        EventKind::RefundIssued { contribution, .. } => {
            Extras { fee: fee(), counterparty: payer(contribution), detail: format!("refunds seq {contribution}") }
        }
        EventKind::ExpensePaid { request, details } => {
            let requested = request.as_ref().and_then(|r| match named(r) {
                Some(EventKind::ExpenseRequested { details }) => Some(details),
                _ => None,
            });
            let payee = details.as_ref().or(requested).map(|d| d.payee.clone());
            let detail = match request {
                Some(r) => format!("pays expense request seq {r}"),
                None => String::new(),
            };
            Extras { fee: None, counterparty: payee, detail }
        }
        EventKind::GrantAwarded { program, .. } => {
            Extras { fee: None, counterparty: Some(format!("grant program {program}")), detail: String::new() }
        }
        EventKind::AdvanceIssued { purpose, .. } => Extras {
            fee: None,
            counterparty: Some("sponsor".to_owned()),
            detail: format!("advance for {purpose}: owed back to the sponsor, not income"),
        },
        EventKind::AdvanceRepaid { .. } => Extras {
            fee: None,
            counterparty: Some("sponsor".to_owned()),
            detail: "advance paid back to the sponsor".to_owned(),
        },
        EventKind::TransferSent { to, .. } => {
            Extras { fee: None, counterparty: Some(to.to_string()), detail: format!("transfer to {to}") }
        }
        EventKind::TransferReceived { from, .. } => {
            Extras { fee: None, counterparty: Some(from.to_string()), detail: format!("transfer from {from}") }
        }
        EventKind::CurrencyConverted { amount, to } => Extras {
            fee: None,
            counterparty: None,
            detail: format!(
                "converted {} into {}",
                display_amount(amount.amount(), amount.currency()),
                display_amount(to.amount(), to.currency())
            ),
        },
        _ => Extras::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sum_past_the_decimal_range_is_an_overflow_naming_it_not_a_panic() {
        let project = crate::ids::ProjectId::parse("project", "p").expect("project id");
        let usd = Currency::from_code("USD").expect("USD");
        let e = add(&project, usd, "source:donation", Decimal::MAX, Decimal::ONE).expect_err("overflow");
        assert!(matches!(&e, LedgerError::Overflow { account, .. } if account == "source:donation"), "{e:?}");
        assert!(e.to_string().contains("source:donation") && e.to_string().contains("USD"), "{e}");
        let e = add(&project, usd, "running", Decimal::MIN, -Decimal::ONE).expect_err("overflow");
        assert!(matches!(&e, LedgerError::Overflow { account, .. } if account == "running"), "{e:?}");
        assert_eq!(add(&project, usd, "opening", Decimal::MAX, -Decimal::ONE).ok(), Some(Decimal::MAX - Decimal::ONE));
    }
}
