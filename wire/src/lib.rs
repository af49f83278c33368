//! Conversions between the wire (`fiscus_proto::pb`) and the ledger's types, in both directions; the
//! daemon and the client share them, so both sides read and write the contract the same way.
//!
//! Wire → ledger: every field is checked, and a malformed one is an `Invalid` ledger error that
//! names it as a path (`events[0].contribution_received.amount`), which the daemon turns into
//! `INVALID_ARGUMENT`. Nothing here panics on outside data.
//! Ledger → responses: amounts are written with exactly their currency's minor units.

use chrono::NaiveDate;
use fiscus_ledger::chain::Hash;
use fiscus_ledger::ids::parse_date;
use fiscus_ledger::money::{format_amount, format_amount_unknown_currency, parse_amount};
use fiscus_ledger::record::Record;
use fiscus_ledger::{
    Currency, Event, EventKind, ExpenseDetails, Fund, LedgerError, Money, ProjectId, ProjectKind, Receipt, Source,
};
use fiscus_proto::pb;
use fiscus_proto::pb::event::Kind;
use rust_decimal::Decimal;

/// `prefix.name`, or `name` when there is no prefix.
pub fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_owned()
    } else {
        format!("{prefix}.{name}")
    }
}

fn required<'a, T>(field: &str, value: Option<&'a T>) -> Result<&'a T, LedgerError> {
    value.ok_or_else(|| LedgerError::invalid(field, "is required"))
}

/// A request amount: required, positive, within its currency's minor units.
pub fn money(field: &str, m: Option<&pb::Money>) -> Result<Money, LedgerError> {
    let m = required(field, m)?;
    Money::parse(field, &m.amount, &m.currency)
}

/// A currency code for request field `field`.
pub fn currency(field: &str, code: &str) -> Result<Currency, LedgerError> {
    Currency::parse(field, code)
}

/// A project id (or "sponsor") for request field `field`.
pub fn project_id(field: &str, id: &str) -> Result<ProjectId, LedgerError> {
    ProjectId::parse(field, id)
}

/// An ISO date for request field `field`.
pub fn date(field: &str, text: &str) -> Result<NaiveDate, LedgerError> {
    parse_date(field, text)
}

fn fund(f: Option<&pb::Fund>) -> Fund {
    match f {
        Some(f) if !f.restricted_purpose.is_empty() => Fund::Restricted(f.restricted_purpose.clone()),
        _ => Fund::Unrestricted,
    }
}

fn receipt(field: &str, r: Option<&pb::Receipt>) -> Result<Receipt, LedgerError> {
    let r = required(field, r)?;
    let hash: [u8; 32] = r.hash.as_slice().try_into().map_err(|_| {
        LedgerError::invalid(&join(field, "hash"), format!("must be a 32-byte blake3 hash, got {} bytes", r.hash.len()))
    })?;
    Ok(Receipt { hash, file_name: r.file_name.clone() })
}

/// An expense's details, checked field by field.
pub fn details(field: &str, d: Option<&pb::ExpenseDetails>) -> Result<ExpenseDetails, LedgerError> {
    let d = required(field, d)?;
    Ok(ExpenseDetails {
        amount: money(&join(field, "amount"), d.amount.as_ref())?,
        payee: d.payee.clone(),
        category: d.category.clone(),
        fund: fund(d.fund.as_ref()),
        receipt: receipt(&join(field, "receipt"), d.receipt.as_ref())?,
    })
}

/// A project kind from its enum value.
pub fn project_kind(field: &str, value: i32) -> Result<ProjectKind, LedgerError> {
    match pb::ProjectKind::try_from(value) {
        Ok(pb::ProjectKind::Conference) => Ok(ProjectKind::Conference),
        Ok(pb::ProjectKind::Meetup) => Ok(ProjectKind::Meetup),
        Ok(pb::ProjectKind::Workshop) => Ok(ProjectKind::Workshop),
        Ok(pb::ProjectKind::OpenSource) => Ok(ProjectKind::OpenSource),
        Ok(pb::ProjectKind::Other) => Ok(ProjectKind::Other),
        Ok(pb::ProjectKind::Unspecified) => Err(LedgerError::invalid(field, "the project kind must be set")),
        Err(_) => Err(LedgerError::invalid(field, format!("{value} is not a ProjectKind"))),
    }
}

fn source(field: &str, value: i32) -> Result<Source, LedgerError> {
    use pb::ContributionSource as S;
    match S::try_from(value) {
        Ok(S::Sponsorship) => Ok(Source::Sponsorship),
        Ok(S::Donation) => Ok(Source::Donation),
        Ok(S::TicketSales) => Ok(Source::TicketSales),
        Ok(S::Grant) => Ok(Source::Grant),
        Ok(S::Other) => Ok(Source::Other),
        Ok(S::Unspecified) => Err(LedgerError::invalid(field, "the contribution source must be set")),
        Err(_) => Err(LedgerError::invalid(field, format!("{value} is not a ContributionSource"))),
    }
}

/// The oneof field name of a request's event kind, as field paths name it.
pub fn kind_field(kind: &Kind) -> &'static str {
    match kind {
        Kind::ProjectOpened(_) => "project_opened",
        Kind::ProjectTermsChanged(_) => "project_terms_changed",
        Kind::ContributionReceived(_) => "contribution_received",
        Kind::PledgeRecorded(_) => "pledge_recorded",
        Kind::PledgeFulfilled(_) => "pledge_fulfilled",
        Kind::PledgeCancelled(_) => "pledge_cancelled",
        Kind::GrantAwarded(_) => "grant_awarded",
        Kind::AdvanceIssued(_) => "advance_issued",
        Kind::AdvanceRepaid(_) => "advance_repaid",
        Kind::ExpensePaid(_) => "expense_paid",
        Kind::ExpenseRequested(_) => "expense_requested",
        Kind::ExpenseApproved(_) => "expense_approved",
        Kind::ExpenseRejected(_) => "expense_rejected",
        Kind::RefundIssued(_) => "refund_issued",
        Kind::TransferSent(_) => "transfer_sent",
        Kind::TransferReceived(_) => "transfer_received",
        Kind::FundsReleased(_) => "funds_released",
        Kind::CurrencyConverted(_) => "currency_converted",
        Kind::OpeningBalance(_) => "opening_balance",
        Kind::EventReversed(_) => "event_reversed",
        Kind::ProjectClosed(_) => "project_closed",
        Kind::PeriodClosed(_) => "period_closed",
    }
}

/// A request's event kind; `at` is the field path of the kind's message.
fn kind_from_pb(kind: &Kind, at: &str) -> Result<EventKind, LedgerError> {
    let f = |name: &str| join(at, name);
    Ok(match kind {
        Kind::ProjectOpened(k) => {
            let currency = currency(&f("currency"), &k.currency)?;
            EventKind::ProjectOpened {
                name: k.name.clone(),
                kind: project_kind(&f("kind"), k.kind)?,
                fee_bps: k.fee_bps,
                currency,
                advance_limit: parse_amount(&f("advance_limit"), &k.advance_limit, Some(currency))?,
            }
        }
        Kind::ProjectTermsChanged(k) => EventKind::ProjectTermsChanged {
            fee_bps: k.fee_bps,
            advance_limit: k
                .advance_limit
                .as_deref()
                .map(|l| parse_amount(&f("advance_limit"), l, None))
                .transpose()?,
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
                fee_share: k
                    .fee_share
                    .as_deref()
                    .map(|s| parse_amount(&f("fee_share"), s, Some(amount.currency())))
                    .transpose()?,
            }
        }
        Kind::TransferSent(k) => EventKind::TransferSent {
            amount: money(&f("amount"), k.amount.as_ref())?,
            to: project_id(&f("to"), &k.to)?,
        },
        Kind::TransferReceived(k) => EventKind::TransferReceived {
            amount: money(&f("amount"), k.amount.as_ref())?,
            from: project_id(&f("from"), &k.from)?,
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
            if k.target.is_some() {
                return Err(LedgerError::invalid(&f("target"), "is filled in by the ledger; leave it empty"));
            }
            EventKind::EventReversed { target_seq: k.target_seq, reason: k.reason.clone(), target: None }
        }
        Kind::ProjectClosed(_) => EventKind::ProjectClosed {},
        Kind::PeriodClosed(k) => EventKind::PeriodClosed { through: date(&f("through"), &k.through)? },
    })
}

/// A request's event, checked field by field and then as a request ([`Event::validate`]); `prefix`
/// is its path (`events[2]`, or empty). `kind_at` names the kind's message when it is not the oneof
/// (OpenProject's `opened`).
pub fn event_from_pb(e: &pb::Event, prefix: &str, kind_at: Option<&str>) -> Result<Event, LedgerError> {
    let event = stored_event_from_pb(e, prefix, kind_at)?;
    event.validate(prefix).map_err(|err| match kind_at {
        Some(at) => err.map_field(|path| single_event_path(path, &event.kind, at)),
        None => err,
    })?;
    Ok(event)
}

/// A field path the ledger gives for a one-event commit (`events[0].…`, as in
/// `RecordCommitRequest`), rewritten into the request of an RPC that carries the event's fields
/// itself: the envelope's fields are the request's own (`events[0].memo` → `memo`), and the kind's
/// message is the request field `kind_at` (`events[0].project_opened.fee_bps` → `opened.fee_bps` in
/// `OpenProjectRequest`, `…project_terms_changed…` → `terms…` in `ChangeTermsRequest`).
pub fn single_event_path(path: &str, kind: &EventKind, kind_at: &str) -> String {
    let rest = match path.strip_prefix("events[0]") {
        Some(r) => r.strip_prefix('.').unwrap_or(r),
        None => path,
    };
    match rest.strip_prefix(kind.field_name()) {
        Some("") => kind_at.to_owned(),
        Some(tail) if tail.starts_with('.') => format!("{kind_at}{tail}"),
        _ if rest.is_empty() => kind_at.to_owned(),
        _ => rest.to_owned(),
    }
}

/// An event as the ledger stores it (its completed fields filled in), checked field by field.
pub fn stored_event_from_pb(e: &pb::Event, prefix: &str, kind_at: Option<&str>) -> Result<Event, LedgerError> {
    let project = project_id(&join(prefix, "project"), &e.project)?;
    let effective_date = date(&join(prefix, "effective_date"), &e.effective_date)?;
    let kind =
        e.kind.as_ref().ok_or_else(|| LedgerError::invalid(&join(prefix, "kind"), "set exactly one event kind"))?;
    let at = join(prefix, kind_at.unwrap_or_else(|| kind_field(kind)));
    let event = Event {
        event_id: e.event_id.clone(),
        project,
        effective_date,
        memo: e.memo.clone(),
        reference: e.reference.clone(),
        kind: kind_from_pb(kind, &at)?,
    };
    Ok(event)
}

/// A decimal in `currency`'s minor units, or as it is when the currency is not known.
fn amount_in(value: Decimal, currency: Option<Currency>) -> String {
    match currency {
        Some(c) => format_amount(value, c),
        None => format_amount_unknown_currency(value),
    }
}

/// Money on the wire.
pub fn money_pb(m: &Money) -> pb::Money {
    pb::Money { amount: format_amount(m.amount(), m.currency()), currency: m.currency().code().to_owned() }
}

fn fund_pb(f: &Fund) -> pb::Fund {
    match f {
        Fund::Unrestricted => pb::Fund { restricted_purpose: String::new() },
        Fund::Restricted(p) => pb::Fund { restricted_purpose: p.clone() },
    }
}

/// Expense details on the wire.
pub fn details_pb(d: &ExpenseDetails) -> pb::ExpenseDetails {
    pb::ExpenseDetails {
        amount: Some(money_pb(&d.amount)),
        payee: d.payee.clone(),
        category: d.category.clone(),
        fund: Some(fund_pb(&d.fund)),
        receipt: Some(pb::Receipt { hash: d.receipt.hash.to_vec(), file_name: d.receipt.file_name.clone() }),
    }
}

/// A project kind on the wire.
pub fn project_kind_pb(k: ProjectKind) -> pb::ProjectKind {
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

/// A stored event kind on the wire. `home` is the project's home currency, for the amounts that
/// carry none of their own (a new advance limit).
pub fn kind_pb(kind: &EventKind, home: Option<Currency>) -> Kind {
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
                advance_limit: advance_limit.map(|l| amount_in(l, home)),
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
            // The ledger never stores a reversal of a reversal, so this nests one level deep.
            let target =
                target.as_ref().map(|t| Box::new(pb::Event { kind: Some(kind_pb(t, home)), ..pb::Event::default() }));
            Kind::EventReversed(Box::new(pb::EventReversed { target_seq: *target_seq, reason: reason.clone(), target }))
        }
        EventKind::ProjectClosed {} => Kind::ProjectClosed(pb::ProjectClosed {}),
        EventKind::PeriodClosed { through } => Kind::PeriodClosed(pb::PeriodClosed { through: through.to_string() }),
    }
}

/// A stored event on the wire.
pub fn event_pb(e: &Event, home: Option<Currency>) -> pb::Event {
    pb::Event {
        event_id: e.event_id.clone(),
        project: e.project.as_str().to_owned(),
        effective_date: e.effective_date.to_string(),
        memo: e.memo.clone(),
        reference: e.reference.clone(),
        kind: Some(kind_pb(&e.kind, home)),
    }
}

/// A stored record with its hash, as `RecordedEvent`.
pub fn recorded_pb(record: &Record, hash: &Hash, home: Option<Currency>) -> pb::RecordedEvent {
    pb::RecordedEvent {
        project: record.event.project.as_str().to_owned(),
        seq: record.seq,
        commit: record.commit,
        actor: record.actor.clone(),
        recorded_at_us: record.recorded_at,
        hash: hash.to_vec(),
        event: Some(event_pb(&record.event, home)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contribution(amount: &str) -> pb::Event {
        pb::Event {
            event_id: "bank-1".into(),
            project: "rustconf-2026".into(),
            effective_date: "2026-03-01".into(),
            memo: String::new(),
            reference: None,
            kind: Some(Kind::ContributionReceived(pb::ContributionReceived {
                amount: Some(pb::Money { amount: amount.into(), currency: "USD".into() }),
                from: "Acme".into(),
                source: pb::ContributionSource::Sponsorship.into(),
                fund: None,
                fee_bps: None,
            })),
        }
    }

    #[test]
    fn a_bad_amount_names_its_full_path() {
        for bad in ["-5", "1.001", "1e3", "", "abc", "10000000000000000"] {
            let err = event_from_pb(&contribution(bad), "events[3]", None).expect_err(bad);
            assert_eq!(err.field(), Some("events[3].contribution_received.amount"), "{bad}: {err}");
        }
    }

    #[test]
    fn missing_parts_are_invalid_not_panics() {
        let mut e = contribution("10.00");
        e.kind = None;
        assert_eq!(event_from_pb(&e, "events[0]", None).expect_err("no kind").field(), Some("events[0].kind"));
        let mut e = contribution("10.00");
        if let Some(Kind::ContributionReceived(k)) = &mut e.kind {
            k.amount = None;
            k.source = 99;
        }
        assert!(event_from_pb(&e, "events[0]", None).is_err());
        let mut e = contribution("10.00");
        e.effective_date = "2026-02-30".into();
        assert_eq!(event_from_pb(&e, "events[0]", None).expect_err("date").field(), Some("events[0].effective_date"));
    }

    #[test]
    fn events_round_trip_through_the_wire() {
        let event = event_from_pb(&contribution("1250.5"), "", None).expect("valid");
        let back = event_pb(&event, None);
        let Some(Kind::ContributionReceived(k)) = &back.kind else { panic!("kind kept") };
        assert_eq!(k.amount.as_ref().map(|m| m.amount.as_str()), Some("1250.50"));
        assert_eq!(event_from_pb(&back, "", None).expect("valid again"), event);
    }
}
