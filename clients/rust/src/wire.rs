//! Conversions between the ledger's types and the wire (`fiscus_proto::pb`), the reverse of the
//! daemon's `convert.rs`: requests are written from ledger events; answers are read back into
//! ledger types, each field checked, so a malformed answer is an error naming its field and never a
//! panic.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use fiscus_ledger::chain::Hash;
use fiscus_ledger::ids::parse_date;
use fiscus_ledger::money::{format_amount, parse_decimal};
use fiscus_ledger::projection::{Balance, RestrictedBalance, TrialLine};
use fiscus_ledger::statement::{Statement, StatementLine};
use fiscus_ledger::{Currency, Event, EventKind, ExpenseDetails, Fund, Money, ProjectId, ProjectKind, Receipt, Source};
use fiscus_proto::pb;
use fiscus_proto::pb::event::Kind;
use rust_decimal::Decimal;

use crate::error::ClientError;
use crate::responses::{
    ChainHead, CommitNotice, Heads, PendingExpense, ProjectSummary, RawRecord, RecordedEvent, Statements,
};

type Answer<T> = Result<T, ClientError>;

/// Every event kind's name, as statements and exports show it.
const KIND_NAMES: [&str; 22] = fiscus_ledger::EventKind::NAMES;

// ----- ledger → wire (requests) -----

fn money_pb(m: &Money) -> pb::Money {
    pb::Money { amount: format_amount(m.amount(), m.currency()), currency: m.currency().code().to_owned() }
}

fn fund_pb(f: &Fund) -> pb::Fund {
    match f {
        Fund::Unrestricted => pb::Fund { restricted_purpose: String::new() },
        Fund::Restricted(p) => pb::Fund { restricted_purpose: p.clone() },
    }
}

fn details_pb(d: &ExpenseDetails) -> pb::ExpenseDetails {
    pb::ExpenseDetails {
        amount: Some(money_pb(&d.amount)),
        payee: d.payee.clone(),
        category: d.category.clone(),
        fund: Some(fund_pb(&d.fund)),
        receipt: Some(pb::Receipt { hash: d.receipt.hash.to_vec(), file_name: d.receipt.file_name.clone() }),
    }
}

fn project_kind_pb(k: ProjectKind) -> pb::ProjectKind {
    match k {
        ProjectKind::Conference => pb::ProjectKind::Conference,
        ProjectKind::Meetup => pb::ProjectKind::Meetup,
        ProjectKind::Workshop => pb::ProjectKind::Workshop,
        ProjectKind::OpenSource => pb::ProjectKind::OpenSource,
        ProjectKind::Other => pb::ProjectKind::Other,
    }
}

fn source_pb(s: Source) -> pb::ContributionSource {
    use pb::ContributionSource as S;
    match s {
        Source::Sponsorship => S::Sponsorship,
        Source::Donation => S::Donation,
        Source::TicketSales => S::TicketSales,
        Source::Grant => S::Grant,
        Source::Other => S::Other,
    }
}

/// A plain decimal string for an amount that carries no currency of its own.
fn plain(value: Decimal) -> String {
    value.normalize().to_string()
}

/// An event kind on the wire.
pub(crate) fn kind_pb(kind: &EventKind) -> Kind {
    match kind {
        EventKind::ProjectOpened { name, kind, fee_bps, currency, advance_limit } => {
            Kind::ProjectOpened(pb::ProjectOpened {
                name: name.clone(),
                kind: project_kind_pb(*kind).into(),
                fee_bps: *fee_bps,
                currency: currency.code().to_owned(),
                advance_limit: format_amount(*advance_limit, *currency),
            })
        }
        EventKind::ProjectTermsChanged { fee_bps, advance_limit } => {
            Kind::ProjectTermsChanged(pb::ProjectTermsChanged {
                fee_bps: *fee_bps,
                advance_limit: advance_limit.map(plain),
            })
        }
        EventKind::ContributionReceived { amount, from, source, fund, fee_bps } => {
            Kind::ContributionReceived(pb::ContributionReceived {
                amount: Some(money_pb(amount)),
                from: from.clone(),
                source: source_pb(*source).into(),
                fund: Some(fund_pb(fund)),
                fee_bps: *fee_bps,
            })
        }
        EventKind::PledgeRecorded { amount, sponsor, due_date } => Kind::PledgeRecorded(pb::PledgeRecorded {
            amount: Some(money_pb(amount)),
            sponsor: sponsor.clone(),
            due_date: due_date.to_string(),
        }),
        EventKind::PledgeFulfilled { amount, pledge, fee_bps } => Kind::PledgeFulfilled(pb::PledgeFulfilled {
            amount: Some(money_pb(amount)),
            pledge: *pledge,
            fee_bps: *fee_bps,
        }),
        EventKind::PledgeCancelled { pledge, amount } => {
            Kind::PledgeCancelled(pb::PledgeCancelled { pledge: *pledge, amount: amount.as_ref().map(money_pb) })
        }
        EventKind::GrantAwarded { amount, program } => {
            Kind::GrantAwarded(pb::GrantAwarded { amount: Some(money_pb(amount)), program: program.clone() })
        }
        EventKind::AdvanceIssued { amount, purpose } => {
            Kind::AdvanceIssued(pb::AdvanceIssued { amount: Some(money_pb(amount)), purpose: purpose.clone() })
        }
        EventKind::AdvanceRepaid { amount } => {
            Kind::AdvanceRepaid(pb::AdvanceRepaid { amount: Some(money_pb(amount)) })
        }
        EventKind::ExpensePaid { request, details } => {
            Kind::ExpensePaid(pb::ExpensePaid { request: *request, details: details.as_ref().map(details_pb) })
        }
        EventKind::ExpenseRequested { details } => {
            Kind::ExpenseRequested(pb::ExpenseRequested { details: Some(details_pb(details)) })
        }
        EventKind::ExpenseApproved { request } => Kind::ExpenseApproved(pb::ExpenseApproved { request: *request }),
        EventKind::ExpenseRejected { request, reason } => {
            Kind::ExpenseRejected(pb::ExpenseRejected { request: *request, reason: reason.clone() })
        }
        EventKind::RefundIssued { amount, contribution, fund, fee_share } => Kind::RefundIssued(pb::RefundIssued {
            amount: Some(money_pb(amount)),
            contribution: *contribution,
            fund: fund.as_ref().map(fund_pb),
            fee_share: fee_share.map(|f| format_amount(f, amount.currency())),
        }),
        EventKind::TransferSent { amount, to } => {
            Kind::TransferSent(pb::TransferSent { amount: Some(money_pb(amount)), to: to.as_str().to_owned() })
        }
        EventKind::TransferReceived { amount, from } => Kind::TransferReceived(pb::TransferReceived {
            amount: Some(money_pb(amount)),
            from: from.as_str().to_owned(),
        }),
        EventKind::FundsReleased { amount, purpose } => {
            Kind::FundsReleased(pb::FundsReleased { amount: Some(money_pb(amount)), purpose: purpose.clone() })
        }
        EventKind::CurrencyConverted { amount, to } => {
            Kind::CurrencyConverted(pb::CurrencyConverted { amount: Some(money_pb(amount)), to: Some(money_pb(to)) })
        }
        EventKind::OpeningBalance { amount, fund } => {
            Kind::OpeningBalance(pb::OpeningBalance { amount: Some(money_pb(amount)), fund: Some(fund_pb(fund)) })
        }
        EventKind::EventReversed { target_seq, reason, target } => {
            let target =
                target.as_ref().map(|t| Box::new(pb::Event { kind: Some(kind_pb(t)), ..pb::Event::default() }));
            Kind::EventReversed(Box::new(pb::EventReversed { target_seq: *target_seq, reason: reason.clone(), target }))
        }
        EventKind::ProjectClosed {} => Kind::ProjectClosed(pb::ProjectClosed {}),
        EventKind::PeriodClosed { through } => Kind::PeriodClosed(pb::PeriodClosed { through: through.to_string() }),
    }
}

/// An event on the wire.
pub(crate) fn event_pb(e: &Event) -> pb::Event {
    pb::Event {
        event_id: e.event_id.clone(),
        project: e.project.as_str().to_owned(),
        effective_date: e.effective_date.to_string(),
        memo: e.memo.clone(),
        reference: e.reference.clone(),
        kind: Some(kind_pb(&e.kind)),
    }
}

// ----- wire → ledger (answers) -----

fn bad(field: &str, e: impl std::fmt::Display) -> ClientError {
    ClientError::answer(field, e.to_string())
}

fn required<'a, T>(field: &str, v: Option<&'a T>) -> Answer<&'a T> {
    v.ok_or_else(|| ClientError::answer(field, "is missing"))
}

pub(crate) fn project(field: &str, id: &str) -> Answer<ProjectId> {
    ProjectId::parse(field, id).map_err(|e| bad(field, e))
}

pub(crate) fn currency(field: &str, code: &str) -> Answer<Currency> {
    Currency::parse(field, code).map_err(|e| bad(field, e))
}

pub(crate) fn date(field: &str, text: &str) -> Answer<NaiveDate> {
    parse_date(field, text).map_err(|e| bad(field, e))
}

fn opt_date(field: &str, text: Option<&str>) -> Answer<Option<NaiveDate>> {
    text.map(|t| date(field, t)).transpose()
}

/// A signed decimal of an answer.
pub(crate) fn decimal(field: &str, text: &str) -> Answer<Decimal> {
    parse_decimal(field, text).map_err(|e| bad(field, e))
}

pub(crate) fn hash(field: &str, bytes: &[u8]) -> Answer<Hash> {
    bytes.try_into().map_err(|_| bad(field, format!("a hash has 32 bytes, got {}", bytes.len())))
}

fn money(field: &str, m: Option<&pb::Money>) -> Answer<Money> {
    let m = required(field, m)?;
    Money::parse(field, &m.amount, &m.currency).map_err(|e| bad(field, e))
}

fn fund(f: Option<&pb::Fund>) -> Fund {
    match f {
        Some(f) if !f.restricted_purpose.is_empty() => Fund::Restricted(f.restricted_purpose.clone()),
        _ => Fund::Unrestricted,
    }
}

fn details(field: &str, d: Option<&pb::ExpenseDetails>) -> Answer<ExpenseDetails> {
    let d = required(field, d)?;
    let r = required(&format!("{field}.receipt"), d.receipt.as_ref())?;
    Ok(ExpenseDetails {
        amount: money(&format!("{field}.amount"), d.amount.as_ref())?,
        payee: d.payee.clone(),
        category: d.category.clone(),
        fund: fund(d.fund.as_ref()),
        receipt: Receipt { hash: hash(&format!("{field}.receipt.hash"), &r.hash)?, file_name: r.file_name.clone() },
    })
}

fn project_kind(field: &str, v: i32) -> Answer<ProjectKind> {
    match pb::ProjectKind::try_from(v) {
        Ok(pb::ProjectKind::Conference) => Ok(ProjectKind::Conference),
        Ok(pb::ProjectKind::Meetup) => Ok(ProjectKind::Meetup),
        Ok(pb::ProjectKind::Workshop) => Ok(ProjectKind::Workshop),
        Ok(pb::ProjectKind::OpenSource) => Ok(ProjectKind::OpenSource),
        Ok(pb::ProjectKind::Other) => Ok(ProjectKind::Other),
        _ => Err(bad(field, format!("{v} is not a project kind"))),
    }
}

fn source(field: &str, v: i32) -> Answer<Source> {
    use pb::ContributionSource as S;
    match S::try_from(v) {
        Ok(S::Sponsorship) => Ok(Source::Sponsorship),
        Ok(S::Donation) => Ok(Source::Donation),
        Ok(S::TicketSales) => Ok(Source::TicketSales),
        Ok(S::Grant) => Ok(Source::Grant),
        Ok(S::Other) => Ok(Source::Other),
        _ => Err(bad(field, format!("{v} is not a contribution source"))),
    }
}

/// A stored event kind, completed fields included.
fn kind(field: &str, k: &Kind) -> Answer<EventKind> {
    let f = |n: &str| format!("{field}.{n}");
    Ok(match k {
        Kind::ProjectOpened(k) => {
            let c = currency(&f("currency"), &k.currency)?;
            EventKind::ProjectOpened {
                name: k.name.clone(),
                kind: project_kind(&f("kind"), k.kind)?,
                fee_bps: k.fee_bps,
                currency: c,
                advance_limit: decimal(&f("advance_limit"), &k.advance_limit)?,
            }
        }
        Kind::ProjectTermsChanged(k) => EventKind::ProjectTermsChanged {
            fee_bps: k.fee_bps,
            advance_limit: k.advance_limit.as_deref().map(|l| decimal(&f("advance_limit"), l)).transpose()?,
        },
        Kind::ContributionReceived(k) => EventKind::ContributionReceived {
            amount: money(&f("amount"), k.amount.as_ref())?,
            from: k.from.clone(),
            source: source(&f("source"), k.source)?,
            fund: fund(k.fund.as_ref()),
            fee_bps: k.fee_bps,
        },
        Kind::PledgeRecorded(k) => EventKind::PledgeRecorded {
            amount: money(&f("amount"), k.amount.as_ref())?,
            sponsor: k.sponsor.clone(),
            due_date: date(&f("due_date"), &k.due_date)?,
        },
        Kind::PledgeFulfilled(k) => EventKind::PledgeFulfilled {
            amount: money(&f("amount"), k.amount.as_ref())?,
            pledge: k.pledge,
            fee_bps: k.fee_bps,
        },
        Kind::PledgeCancelled(k) => EventKind::PledgeCancelled {
            pledge: k.pledge,
            amount: k.amount.as_ref().map(|m| money(&f("amount"), Some(m))).transpose()?,
        },
        Kind::GrantAwarded(k) => {
            EventKind::GrantAwarded { amount: money(&f("amount"), k.amount.as_ref())?, program: k.program.clone() }
        }
        Kind::AdvanceIssued(k) => {
            EventKind::AdvanceIssued { amount: money(&f("amount"), k.amount.as_ref())?, purpose: k.purpose.clone() }
        }
        Kind::AdvanceRepaid(k) => EventKind::AdvanceRepaid { amount: money(&f("amount"), k.amount.as_ref())? },
        Kind::ExpensePaid(k) => EventKind::ExpensePaid {
            request: k.request,
            details: k.details.as_ref().map(|d| details(&f("details"), Some(d))).transpose()?,
        },
        Kind::ExpenseRequested(k) => {
            EventKind::ExpenseRequested { details: details(&f("details"), k.details.as_ref())? }
        }
        Kind::ExpenseApproved(k) => EventKind::ExpenseApproved { request: k.request },
        Kind::ExpenseRejected(k) => EventKind::ExpenseRejected { request: k.request, reason: k.reason.clone() },
        Kind::RefundIssued(k) => {
            let amount = money(&f("amount"), k.amount.as_ref())?;
            EventKind::RefundIssued {
                amount,
                contribution: k.contribution,
                fund: k.fund.as_ref().map(|x| fund(Some(x))),
                fee_share: k.fee_share.as_deref().map(|s| decimal(&f("fee_share"), s)).transpose()?,
            }
        }
        Kind::TransferSent(k) => {
            EventKind::TransferSent { amount: money(&f("amount"), k.amount.as_ref())?, to: project(&f("to"), &k.to)? }
        }
        Kind::TransferReceived(k) => EventKind::TransferReceived {
            amount: money(&f("amount"), k.amount.as_ref())?,
            from: project(&f("from"), &k.from)?,
        },
        Kind::FundsReleased(k) => {
            EventKind::FundsReleased { amount: money(&f("amount"), k.amount.as_ref())?, purpose: k.purpose.clone() }
        }
        Kind::CurrencyConverted(k) => EventKind::CurrencyConverted {
            amount: money(&f("amount"), k.amount.as_ref())?,
            to: money(&f("to"), k.to.as_ref())?,
        },
        Kind::OpeningBalance(k) => {
            EventKind::OpeningBalance { amount: money(&f("amount"), k.amount.as_ref())?, fund: fund(k.fund.as_ref()) }
        }
        Kind::EventReversed(k) => {
            let target = match k.target.as_ref().and_then(|t| t.kind.as_ref()) {
                Some(t) => Some(Box::new(kind(&f("target"), t)?)),
                None => None,
            };
            EventKind::EventReversed { target_seq: k.target_seq, reason: k.reason.clone(), target }
        }
        Kind::ProjectClosed(_) => EventKind::ProjectClosed {},
        Kind::PeriodClosed(k) => EventKind::PeriodClosed { through: date(&f("through"), &k.through)? },
    })
}

/// A stored event from an answer.
pub(crate) fn event(field: &str, e: &pb::Event) -> Answer<Event> {
    let k = e.kind.as_ref().ok_or_else(|| ClientError::answer(&format!("{field}.kind"), "is missing"))?;
    Ok(Event {
        event_id: e.event_id.clone(),
        project: project(&format!("{field}.project"), &e.project)?,
        effective_date: date(&format!("{field}.effective_date"), &e.effective_date)?,
        memo: e.memo.clone(),
        reference: e.reference.clone(),
        kind: kind(&format!("{field}.kind"), k)?,
    })
}

pub(crate) fn recorded(field: &str, r: &pb::RecordedEvent) -> Answer<RecordedEvent> {
    let e = required(&format!("{field}.event"), r.event.as_ref())?;
    Ok(RecordedEvent {
        seq: r.seq,
        commit: r.commit,
        actor: r.actor.clone(),
        recorded_at_us: r.recorded_at_us,
        hash: hash(&format!("{field}.hash"), &r.hash)?,
        event: event(&format!("{field}.event"), e)?,
    })
}

pub(crate) fn balance(field: &str, b: &pb::CurrencyBalance) -> Answer<Balance> {
    let f = |n: &str| format!("{field}.{n}");
    Ok(Balance {
        currency: currency(&f("currency"), &b.currency)?,
        balance: decimal(&f("balance"), &b.balance)?,
        available: decimal(&f("available"), &b.available)?,
        restricted: b
            .restricted
            .iter()
            .enumerate()
            .map(|(i, r)| {
                Ok(RestrictedBalance {
                    purpose: r.purpose.clone(),
                    balance: decimal(&f(&format!("restricted[{i}].balance")), &r.balance)?,
                    available: decimal(&f(&format!("restricted[{i}].available")), &r.available)?,
                })
            })
            .collect::<Answer<Vec<_>>>()?,
        held: decimal(&f("held"), &b.held)?,
        pledged: decimal(&f("pledged"), &b.pledged)?,
        advances_outstanding: decimal(&f("advances_outstanding"), &b.advances_outstanding)?,
        fees_to_date: decimal(&f("fees_to_date"), &b.fees_to_date)?,
    })
}

fn totals(field: &str, t: &[pb::StatementTotal]) -> Answer<BTreeMap<String, Decimal>> {
    t.iter()
        .enumerate()
        .map(|(i, t)| Ok((t.name.clone(), decimal(&format!("{field}[{i}].amount"), &t.amount)?)))
        .collect()
}

pub(crate) fn statements(r: &pb::GetStatementResponse) -> Answer<Statements> {
    let from = date("from_date", &r.from_date)?;
    let to = date("to_date", &r.to_date)?;
    let mut out = Vec::with_capacity(r.statements.len());
    for (i, s) in r.statements.iter().enumerate() {
        let f = |n: &str| format!("statements[{i}].{n}");
        let mut lines = Vec::with_capacity(s.lines.len());
        for (j, l) in s.lines.iter().enumerate() {
            let g = |n: &str| format!("statements[{i}].lines[{j}].{n}");
            let kind = KIND_NAMES
                .iter()
                .find(|k| **k == l.kind)
                .ok_or_else(|| ClientError::answer(&g("kind"), format!("{:?} is not an event kind", l.kind)))?;
            lines.push(StatementLine {
                date: date(&g("date"), &l.date)?,
                seq: l.seq,
                kind,
                memo: l.memo.clone(),
                reference: l.reference.clone(),
                amount: decimal(&g("amount"), &l.amount)?,
                running: decimal(&g("running_balance"), &l.running_balance)?,
            });
        }
        out.push(Statement {
            currency: currency(&f("currency"), &s.currency)?,
            from,
            to,
            opening: decimal(&f("opening_balance"), &s.opening_balance)?,
            lines,
            by_source: totals(&f("totals_by_source"), &s.totals_by_source)?,
            by_category: totals(&f("totals_by_category"), &s.totals_by_category)?,
            by_kind: totals(&f("totals_by_kind"), &s.totals_by_kind)?,
            closing: decimal(&f("closing_balance"), &s.closing_balance)?,
        });
    }
    Ok(Statements { project: project("project", &r.project)?, from, to, head_seq: r.head_seq, statements: out })
}

pub(crate) fn summary(field: &str, p: &pb::ProjectSummary) -> Answer<ProjectSummary> {
    let f = |n: &str| format!("{field}.{n}");
    Ok(ProjectSummary {
        project: project(&f("project"), &p.project)?,
        name: p.name.clone(),
        kind: project_kind(&f("kind"), p.kind)?,
        fee_bps: p.fee_bps,
        currency: currency(&f("currency"), &p.currency)?,
        advance_limit: decimal(&f("advance_limit"), &p.advance_limit)?,
        opened_on: date(&f("opened_on"), &p.opened_on)?,
        closed: p.closed,
        closed_through: opt_date(&f("closed_through"), p.closed_through.as_deref())?,
        head_seq: p.head_seq,
    })
}

pub(crate) fn trial_line(field: &str, l: &pb::TrialBalanceLine) -> Answer<TrialLine> {
    Ok(TrialLine {
        account: l.account.clone(),
        currency: currency(&format!("{field}.currency"), &l.currency)?,
        amount: decimal(&format!("{field}.amount"), &l.amount)?,
    })
}

pub(crate) fn closed_through(text: Option<&str>) -> Answer<Option<NaiveDate>> {
    opt_date("closed_through", text)
}

pub(crate) fn pending(field: &str, p: &pb::PendingExpense) -> Answer<PendingExpense> {
    let pos = required(&format!("{field}.position"), p.position.as_ref())?;
    Ok(PendingExpense {
        project: project(&format!("{field}.position.project"), &pos.project)?,
        seq: pos.seq,
        details: details(&format!("{field}.details"), p.details.as_ref())?,
        requester: p.requester.clone(),
        requested_on: date(&format!("{field}.requested_on"), &p.requested_on)?,
        approved: p.approved,
    })
}

pub(crate) fn heads(r: &pb::GetHeadResponse) -> Answer<Heads> {
    let projects = r
        .projects
        .iter()
        .enumerate()
        .map(|(i, p)| {
            Ok(ChainHead {
                project: project(&format!("projects[{i}].project"), &p.project)?,
                seq: p.seq,
                hash: hash(&format!("projects[{i}].hash"), &p.hash)?,
            })
        })
        .collect::<Answer<Vec<_>>>()?;
    Ok(Heads { commit: r.commit, commit_hash: hash("commit_hash", &r.commit_hash)?, projects })
}

pub(crate) fn raw(field: &str, r: &pb::RawRecord) -> Answer<RawRecord> {
    Ok(RawRecord { seq: r.seq, bytes: r.bytes.clone(), hash: hash(&format!("{field}.hash"), &r.hash)? })
}

pub(crate) fn notice(r: &pb::SubscribeResponse) -> Answer<CommitNotice> {
    Ok(CommitNotice {
        commit: r.commit,
        commit_hash: hash("commit_hash", &r.commit_hash)?,
        prev_commit_hash: hash("prev_commit_hash", &r.prev_commit_hash)?,
        recorded_at_us: r.recorded_at_us,
        events: r
            .events
            .iter()
            .enumerate()
            .map(|(i, e)| recorded(&format!("events[{i}]"), e))
            .collect::<Answer<Vec<_>>>()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().expect("test decimal")
    }

    #[test]
    fn every_demo_event_survives_the_wire_both_ways() {
        for req in fiscus_ledger::workload::demo_year() {
            for e in &req.events {
                let back = event("e", &event_pb(e)).expect("decodes");
                assert_eq!(&back, e);
            }
        }
    }

    #[test]
    fn kind_names_match_the_ledger() {
        for req in fiscus_ledger::workload::generate(&fiscus_ledger::workload::WorkloadConfig::new(3000, 3)) {
            for e in &req.events {
                assert!(KIND_NAMES.contains(&e.kind.name()), "{}", e.kind.name());
            }
        }
    }

    #[test]
    fn a_malformed_answer_names_its_field() {
        let b = pb::CurrencyBalance { currency: "USD".into(), balance: "12,00".into(), ..Default::default() };
        let err = balance("balances[0]", &b).expect_err("bad decimal");
        assert!(err.to_string().contains("balances[0].balance"), "{err}");
        let ok = pb::CurrencyBalance {
            currency: "USD".into(),
            balance: "-1.50".into(),
            available: "0".into(),
            held: "0".into(),
            pledged: "0".into(),
            advances_outstanding: "0".into(),
            fees_to_date: "0".into(),
            restricted: vec![],
        };
        assert_eq!(balance("b", &ok).expect("valid").balance, d("-1.50"));
        assert!(hash("h", &[0; 31]).is_err());
    }
}
