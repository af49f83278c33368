//! Conversions between the ledger's types and the wire (`fiscus_proto::pb`), the reverse of the
//! daemon's `convert.rs`: requests are written from ledger events; answers are read back into
//! ledger types, each field checked, so a malformed answer is an error naming its field and never a
//! panic.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use fiscus_ledger::chain::Hash;
use fiscus_ledger::ids::parse_date;
use fiscus_ledger::money::parse_amount;
use fiscus_ledger::projection::{Balance, RestrictedBalance, TrialLine};
use fiscus_ledger::statement::{ReversedLine, Statement, StatementLine};
use fiscus_ledger::{Currency, Event, EventKind, ExpenseDetails, LedgerError, ProjectId, ProjectKind};
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

// ----- ledger → wire (requests): the conversions fiscusd reads them with -----

/// An event kind on the wire.
pub(crate) fn kind_pb(kind: &EventKind) -> Kind {
    fiscus_wire::kind_pb(kind, None)
}

/// An event on the wire.
pub(crate) fn event_pb(e: &Event) -> pb::Event {
    fiscus_wire::event_pb(e, None)
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

/// A signed amount of an answer, in `currency` (at most its minor units).
pub(crate) fn decimal(field: &str, text: &str, currency: Currency) -> Answer<Decimal> {
    parse_amount(field, text, Some(currency)).map_err(|e| bad(field, e))
}

pub(crate) fn hash(field: &str, bytes: &[u8]) -> Answer<Hash> {
    bytes.try_into().map_err(|_| bad(field, format!("a hash has 32 bytes, got {}", bytes.len())))
}

/// A conversion refused by the shared wire rules, as an error about the server's answer.
fn answer_error(field: &str, e: LedgerError) -> ClientError {
    match e {
        LedgerError::Invalid { field, message } => ClientError::answer(&field, message),
        other => bad(field, other),
    }
}

fn project_kind(field: &str, v: i32) -> Answer<ProjectKind> {
    fiscus_wire::project_kind(field, v).map_err(|e| answer_error(field, e))
}

fn details(field: &str, d: Option<&pb::ExpenseDetails>) -> Answer<ExpenseDetails> {
    fiscus_wire::details(field, d).map_err(|e| answer_error(field, e))
}

/// A stored event from an answer, completed fields included.
pub(crate) fn event(field: &str, e: &pb::Event) -> Answer<Event> {
    fiscus_wire::stored_event_from_pb(e, field, None).map_err(|err| answer_error(field, err))
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
    let c = currency(&f("currency"), &b.currency)?;
    Ok(Balance {
        currency: c,
        balance: decimal(&f("balance"), &b.balance, c)?,
        available: decimal(&f("available"), &b.available, c)?,
        restricted: b
            .restricted
            .iter()
            .enumerate()
            .map(|(i, r)| {
                Ok(RestrictedBalance {
                    purpose: r.purpose.clone(),
                    balance: decimal(&f(&format!("restricted[{i}].balance")), &r.balance, c)?,
                    available: decimal(&f(&format!("restricted[{i}].available")), &r.available, c)?,
                })
            })
            .collect::<Answer<Vec<_>>>()?,
        held: decimal(&f("held"), &b.held, c)?,
        pledged: decimal(&f("pledged"), &b.pledged, c)?,
        advances_outstanding: decimal(&f("advances_outstanding"), &b.advances_outstanding, c)?,
        fees_to_date: decimal(&f("fees_to_date"), &b.fees_to_date, c)?,
    })
}

fn totals(field: &str, t: &[pb::StatementTotal], c: Currency) -> Answer<BTreeMap<String, Decimal>> {
    t.iter()
        .enumerate()
        .map(|(i, t)| Ok((t.name.clone(), decimal(&format!("{field}[{i}].amount"), &t.amount, c)?)))
        .collect()
}

pub(crate) fn statements(r: &pb::GetStatementResponse) -> Answer<Statements> {
    let from = date("from_date", &r.from_date)?;
    let to = date("to_date", &r.to_date)?;
    let mut out = Vec::with_capacity(r.statements.len());
    for (i, s) in r.statements.iter().enumerate() {
        let f = |n: &str| format!("statements[{i}].{n}");
        let c = currency(&f("currency"), &s.currency)?;
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
                amount: decimal(&g("amount"), &l.amount, c)?,
                gross: l.gross.as_deref().map(|v| decimal(&g("gross"), v, c)).transpose()?,
                fee: l.fee.as_deref().map(|v| decimal(&g("fee"), v, c)).transpose()?,
                counterparty: l.counterparty.clone(),
                detail: l.detail.clone(),
                running: decimal(&g("running_balance"), &l.running_balance, c)?,
                reverses: match &l.reverses {
                    None => None,
                    Some(r) => Some(ReversedLine {
                        kind: KIND_NAMES.iter().find(|k| **k == r.kind).ok_or_else(|| {
                            ClientError::answer(&g("reverses.kind"), format!("{:?} is not an event kind", r.kind))
                        })?,
                        seq: r.seq,
                        under: r.counts_under.clone(),
                        reason: r.reason.clone(),
                    }),
                },
            });
        }
        out.push(Statement {
            currency: c,
            from,
            to,
            opening: decimal(&f("opening_balance"), &s.opening_balance, c)?,
            lines,
            by_source: totals(&f("totals_by_source"), &s.totals_by_source, c)?,
            by_category: totals(&f("totals_by_category"), &s.totals_by_category, c)?,
            by_kind: totals(&f("totals_by_kind"), &s.totals_by_kind, c)?,
            closing: decimal(&f("closing_balance"), &s.closing_balance, c)?,
        });
    }
    Ok(Statements { project: project("project", &r.project)?, from, to, head_seq: r.head_seq, statements: out })
}

pub(crate) fn summary(field: &str, p: &pb::ProjectSummary) -> Answer<ProjectSummary> {
    let f = |n: &str| format!("{field}.{n}");
    let c = currency(&f("currency"), &p.currency)?;
    Ok(ProjectSummary {
        project: project(&f("project"), &p.project)?,
        name: p.name.clone(),
        kind: project_kind(&f("kind"), p.kind)?,
        fee_bps: p.fee_bps,
        currency: c,
        advance_limit: decimal(&f("advance_limit"), &p.advance_limit, c)?,
        opened_on: date(&f("opened_on"), &p.opened_on)?,
        closed: p.closed,
        closed_through: opt_date(&f("closed_through"), p.closed_through.as_deref())?,
        head_seq: p.head_seq,
    })
}

pub(crate) fn trial_line(field: &str, l: &pb::TrialBalanceLine) -> Answer<TrialLine> {
    let c = currency(&format!("{field}.currency"), &l.currency)?;
    Ok(TrialLine {
        account: l.account.clone(),
        currency: c,
        amount: decimal(&format!("{field}.amount"), &l.amount, c)?,
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
        same_receipt: p.same_receipt_seqs.clone(),
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
    let scope = match r.scope.as_str() {
        "" => None,
        s => Some(project("scope", s)?),
    };
    Ok(Heads { commit: r.commit, commit_hash: hash("commit_hash", &r.commit_hash)?, projects, scope })
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

pub(crate) fn open_pledge(field: &str, p: &pb::OpenPledge) -> Answer<fiscus_ledger::report::OpenPledge> {
    let f = |n: &str| format!("{field}.{n}");
    let pos = required(&f("position"), p.position.as_ref())?;
    let m = required(&f("pledged"), p.pledged.as_ref())?;
    let c = currency(&f("pledged.currency"), &m.currency)?;
    let pledged = fiscus_ledger::Money::parse(&f("pledged.amount"), &m.amount, c.code())
        .map_err(|e| answer_error(&f("pledged.amount"), e))?;
    Ok(fiscus_ledger::report::OpenPledge {
        project: project(&f("position.project"), &pos.project)?,
        seq: pos.seq,
        sponsor: p.sponsor.clone(),
        pledged_on: date(&f("pledged_on"), &p.pledged_on)?,
        due_date: date(&f("due_date"), &p.due_date)?,
        pledged,
        fulfilled: decimal(&f("fulfilled"), &p.fulfilled, c)?,
        outstanding: decimal(&f("outstanding"), &p.outstanding, c)?,
        days_overdue: i64::from(p.days_overdue),
    })
}

pub(crate) fn ageing(field: &str, a: &pb::PledgeAgeing) -> Answer<(Currency, fiscus_ledger::report::AgeingTotals)> {
    let f = |n: &str| format!("{field}.{n}");
    let c = currency(&f("currency"), &a.currency)?;
    let buckets = [
        decimal(&f("current"), &a.current, c)?,
        decimal(&f("days_1_30"), &a.days_1_30, c)?,
        decimal(&f("days_31_60"), &a.days_31_60, c)?,
        decimal(&f("days_61_90"), &a.days_61_90, c)?,
        decimal(&f("over_90"), &a.over_90, c)?,
    ];
    Ok((c, fiscus_ledger::report::AgeingTotals { buckets }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().expect("test decimal")
    }

    #[test]
    fn every_demo_event_survives_the_wire_both_ways() {
        for req in fiscus_workload::demo_year() {
            for e in &req.events {
                let back = event("e", &event_pb(e)).expect("decodes");
                assert_eq!(&back, e);
            }
        }
    }

    #[test]
    fn kind_names_match_the_ledger() {
        for req in fiscus_workload::generate(&fiscus_workload::WorkloadConfig::new(3000, 3)) {
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
