//! Every `INVALID_ARGUMENT` (and every refusal naming a field) names a path into the request message
//! that was sent: one table over every request field of every RPC, each path checked against the
//! contract's descriptor set, so that a path naming no real field cannot pass.

use std::collections::HashMap;

use fiscus_proto::pb;
use fiscus_proto::pb::event::Kind;
use prost::Message;
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::DescriptorProto;
use tonic::{Code, Status};
use tonic_types::StatusExt;

use crate::support::*;

/// The contract's messages by full name (`fiscus.v1.Event`).
struct Contract {
    messages: HashMap<String, DescriptorProto>,
}

impl Contract {
    fn load() -> Contract {
        let set =
            prost_types::FileDescriptorSet::decode(fiscus_proto::FILE_DESCRIPTOR_SET).expect("the descriptor set");
        let mut messages = HashMap::new();
        fn add(prefix: &str, m: &DescriptorProto, out: &mut HashMap<String, DescriptorProto>) {
            let name = format!("{prefix}.{}", m.name());
            for nested in &m.nested_type {
                add(&name, nested, out);
            }
            out.insert(name, m.clone());
        }
        for file in &set.file {
            for m in &file.message_type {
                add(file.package(), m, &mut messages);
            }
        }
        Contract { messages }
    }

    /// Checks that `path` (`events[2].contribution_received.amount.currency`, `expected_seq[p]`)
    /// names a field of `message`, each segment a field of the message the one before names.
    fn resolve(&self, message: &str, path: &str) -> Result<(), String> {
        let mut current = self.messages.get(message).ok_or(format!("no message {message}"))?;
        let segments: Vec<&str> = path.split('.').collect();
        for (i, segment) in segments.iter().enumerate() {
            let (name, indexed) = match segment.split_once('[') {
                Some((n, rest)) if rest.ends_with(']') && rest.len() > 1 => (n, true),
                Some(_) => return Err(format!("{path}: malformed segment {segment:?}")),
                None => (*segment, false),
            };
            let last = i + 1 == segments.len();
            let Some(field) = current.field.iter().find(|f| f.name() == name) else {
                // the last segment may name a oneof (`events[0].kind`: "set exactly one")
                if last && !indexed && current.oneof_decl.iter().any(|o| o.name() == name) {
                    return Ok(());
                }
                return Err(format!("{path}: {} has no field {name:?}", current.name()));
            };
            let repeated = field.label() == Label::Repeated;
            if indexed && !repeated {
                return Err(format!("{path}: {name} is not a list or map"));
            }
            if last {
                return Ok(());
            }
            if repeated && !indexed {
                return Err(format!("{path}: {name} is a list or map; say which item"));
            }
            if field.r#type() != Type::Message {
                return Err(format!("{path}: {name} is not a message"));
            }
            let mut next = self
                .messages
                .get(field.type_name().trim_start_matches('.'))
                .ok_or(format!("{path}: unknown type {}", field.type_name()))?;
            if next.options.as_ref().is_some_and(|o| o.map_entry()) {
                // a map: `name[key]` goes on into the value's message
                let value = next.field.iter().find(|f| f.name() == "value").ok_or("a map entry has a value")?;
                next = self
                    .messages
                    .get(value.type_name().trim_start_matches('.'))
                    .ok_or(format!("{path}: the values of {name} are not messages"))?;
            }
            current = next;
        }
        Ok(())
    }
}

/// One request of the table.
enum Req {
    Open(pb::OpenProjectRequest),
    Terms(pb::ChangeTermsRequest),
    Commit(Vec<pb::Event>),
    CommitHeads(pb::RecordCommitRequest),
    Balance(pb::GetBalanceRequest),
    Statement(pb::GetStatementRequest),
    Events(pb::ListEventsRequest),
    Projects(pb::ListProjectsRequest),
    Pending(pb::ListPendingExpensesRequest),
    Subscribe(pb::SubscribeRequest),
    Head(pb::GetHeadRequest),
    Verify(pb::VerifyRequest),
    Export(pb::ExportChainRequest),
}

impl Req {
    fn message(&self) -> &'static str {
        match self {
            Req::Open(_) => "fiscus.v1.OpenProjectRequest",
            Req::Terms(_) => "fiscus.v1.ChangeTermsRequest",
            Req::Commit(_) | Req::CommitHeads(_) => "fiscus.v1.RecordCommitRequest",
            Req::Balance(_) => "fiscus.v1.GetBalanceRequest",
            Req::Statement(_) => "fiscus.v1.GetStatementRequest",
            Req::Events(_) => "fiscus.v1.ListEventsRequest",
            Req::Projects(_) => "fiscus.v1.ListProjectsRequest",
            Req::Pending(_) => "fiscus.v1.ListPendingExpensesRequest",
            Req::Subscribe(_) => "fiscus.v1.SubscribeRequest",
            Req::Head(_) => "fiscus.v1.GetHeadRequest",
            Req::Verify(_) => "fiscus.v1.VerifyRequest",
            Req::Export(_) => "fiscus.v1.ExportChainRequest",
        }
    }

    async fn send(self, l: &mut Ledger, a: &mut Audit) -> Result<(), Status> {
        async fn first<T>(r: Result<tonic::Response<tonic::Streaming<T>>, Status>) -> Result<(), Status> {
            r?.into_inner().message().await.map(|_| ())
        }
        match self {
            Req::Open(r) => l.open_project(r).await.map(|_| ()),
            Req::Terms(r) => l.change_terms(r).await.map(|_| ()),
            Req::Commit(events) => record(l, events).await.map(|_| ()),
            Req::CommitHeads(r) => l.record_commit(r).await.map(|_| ()),
            Req::Balance(r) => l.get_balance(r).await.map(|_| ()),
            Req::Statement(r) => l.get_statement(r).await.map(|_| ()),
            Req::Events(r) => l.list_events(r).await.map(|_| ()),
            Req::Projects(r) => l.list_projects(r).await.map(|_| ()),
            Req::Pending(r) => l.list_pending_expenses(r).await.map(|_| ()),
            Req::Subscribe(r) => first(l.subscribe(r).await).await,
            Req::Head(r) => a.get_head(r).await.map(|_| ()),
            Req::Verify(r) => a.verify(r).await.map(|_| ()),
            Req::Export(r) => first(a.export_chain(r).await).await,
        }
    }
}

const P: &str = "conf-a";
const DAY: &str = "2026-03-05";

fn open_request(f: impl FnOnce(&mut pb::OpenProjectRequest)) -> Req {
    let mut r = pb::OpenProjectRequest {
        event_id: "open-new".into(),
        project: "new-one".into(),
        effective_date: "2026-01-01".into(),
        memo: String::new(),
        reference: None,
        opened: Some(pb::ProjectOpened {
            name: "New".into(),
            kind: pb::ProjectKind::Meetup.into(),
            fee_bps: 0,
            currency: "USD".into(),
            advance_limit: "0".into(),
        }),
    };
    f(&mut r);
    Req::Open(r)
}

fn terms_request(f: impl FnOnce(&mut pb::ChangeTermsRequest)) -> Req {
    let mut r = pb::ChangeTermsRequest {
        event_id: "terms-1".into(),
        project: P.into(),
        effective_date: DAY.into(),
        memo: String::new(),
        reference: None,
        terms: Some(pb::ProjectTermsChanged { fee_bps: Some(100), advance_limit: None }),
        expected_seq: None,
    };
    f(&mut r);
    Req::Terms(r)
}

fn opened(f: impl FnOnce(&mut pb::ProjectOpened)) -> impl FnOnce(&mut pb::OpenProjectRequest) {
    move |r| f(r.opened.as_mut().expect("set"))
}

fn terms(f: impl FnOnce(&mut pb::ProjectTermsChanged)) -> impl FnOnce(&mut pb::ChangeTermsRequest) {
    move |r| f(r.terms.as_mut().expect("set"))
}

/// One event of `kind` in `P`, as the only event of a commit.
fn one(kind: Kind) -> Req {
    Req::Commit(vec![event("bad-1", P, DAY, kind)])
}

/// A good event, then `kind`: the path names `events[1]`.
fn second(kind: Kind) -> Req {
    Req::Commit(vec![contribution("good-1", P, "1.00", None), event("bad-2", P, DAY, kind)])
}

fn envelope(f: impl FnOnce(&mut pb::Event)) -> Req {
    let mut e = contribution("bad-1", P, "1.00", None);
    f(&mut e);
    Req::Commit(vec![contribution("good-1", P, "1.00", None), e])
}

fn usd(amount: &str) -> Option<pb::Money> {
    money(amount, "USD")
}

fn contribution_with(f: impl FnOnce(&mut pb::ContributionReceived)) -> Kind {
    let mut k = pb::ContributionReceived {
        amount: usd("1.00"),
        from: "Ann".into(),
        source: pb::ContributionSource::Donation.into(),
        fund: None,
        fee_bps: None,
    };
    f(&mut k);
    Kind::ContributionReceived(k)
}

fn details_with(f: impl FnOnce(&mut pb::ExpenseDetails)) -> Option<pb::ExpenseDetails> {
    let mut d = expense("1.00");
    f(&mut d);
    Some(d)
}

fn bad_fund() -> Option<pb::Fund> {
    Some(pb::Fund { restricted_purpose: "Not A Slug".into() })
}

/// The table: a request with one bad field, and the path its refusal must name.
fn table() -> Vec<(Req, &'static str)> {
    let t: Vec<(Req, &'static str)> = vec![
        // OpenProject: the envelope is the request's own, the kind is `opened`
        (open_request(|r| r.event_id = String::new()), "event_id"),
        (open_request(|r| r.project = "Not_An_Id".into()), "project"),
        (open_request(|r| r.project = "sponsor".into()), "project"),
        (open_request(|r| r.effective_date = "2026-13-01".into()), "effective_date"),
        (open_request(|r| r.memo = "m".repeat(1_001)), "memo"),
        (open_request(|r| r.reference = Some(String::new())), "reference"),
        (open_request(|r| r.opened = None), "opened"),
        (open_request(opened(|o| o.name = String::new())), "opened.name"),
        (open_request(opened(|o| o.kind = 0)), "opened.kind"),
        (open_request(opened(|o| o.fee_bps = 6_000)), "opened.fee_bps"),
        (open_request(opened(|o| o.currency = "XYZ".into())), "opened.currency"),
        (open_request(opened(|o| o.advance_limit = "-1".into())), "opened.advance_limit"),
        (open_request(opened(|o| o.advance_limit = "1.001".into())), "opened.advance_limit"),
        // ChangeTerms: the kind is `terms`
        (terms_request(|r| r.event_id = String::new()), "event_id"),
        (terms_request(|r| r.project = "Not_An_Id".into()), "project"),
        (terms_request(|r| r.effective_date = "2026-1-5".into()), "effective_date"),
        (terms_request(|r| r.memo = "m".repeat(1_001)), "memo"),
        (terms_request(|r| r.reference = Some("\u{7}".into())), "reference"),
        (terms_request(|r| r.terms = None), "terms"),
        (terms_request(terms(|t| t.fee_bps = Some(6_000))), "terms.fee_bps"),
        (terms_request(terms(|t| t.fee_bps = None)), "terms.fee_bps"),
        (terms_request(terms(|t| t.advance_limit = Some("x".into()))), "terms.advance_limit"),
        // (the project's currency, USD, is checked by the rules, after the writer took the request)
        (terms_request(terms(|t| t.advance_limit = Some("1.001".into()))), "terms.advance_limit"),
        // RecordCommit: the request, the envelope of events[i]
        (Req::Commit(Vec::new()), "events"),
        (
            Req::CommitHeads(pb::RecordCommitRequest {
                events: vec![contribution("h-1", P, "1.00", None)],
                expected_seq: [("Not_An_Id".to_owned(), 1)].into_iter().collect(),
                allow_same_receipt: false,
                dry_run: false,
            }),
            "expected_seq[Not_An_Id]",
        ),
        (
            Req::Commit(vec![contribution("same", P, "1.00", None), contribution("same", P, "2.00", None)]),
            "events[1].event_id",
        ),
        (envelope(|e| e.event_id = String::new()), "events[1].event_id"),
        // dated to come (after the day after it is recorded)
        (envelope(|e| e.effective_date = "2999-12-31".into()), "events[1].effective_date"),
        (envelope(|e| e.project = "Not_An_Id".into()), "events[1].project"),
        (envelope(|e| e.project = "sponsor".into()), "events[1].project"),
        (envelope(|e| e.effective_date = "+2026-01-05".into()), "events[1].effective_date"),
        (envelope(|e| e.memo = "m".repeat(1_001)), "events[1].memo"),
        (envelope(|e| e.reference = Some(String::new())), "events[1].reference"),
        (envelope(|e| e.kind = None), "events[1].kind"),
        // every kind's fields
        (
            one(Kind::ProjectOpened(pb::ProjectOpened {
                name: "X".into(),
                currency: "USD".into(),
                advance_limit: "0".into(),
                ..Default::default()
            })),
            "events[0].project_opened.kind",
        ),
        (
            one(Kind::ProjectOpened(pb::ProjectOpened {
                kind: pb::ProjectKind::Meetup.into(),
                currency: "USD".into(),
                advance_limit: "0".into(),
                fee_bps: 6_000,
                name: "X".into(),
            })),
            "events[0].project_opened.fee_bps",
        ),
        (
            one(Kind::ProjectOpened(pb::ProjectOpened {
                kind: pb::ProjectKind::Meetup.into(),
                currency: "USD".into(),
                advance_limit: "0".into(),
                fee_bps: 0,
                name: String::new(),
            })),
            "events[0].project_opened.name",
        ),
        (
            one(Kind::ProjectTermsChanged(pb::ProjectTermsChanged { fee_bps: None, advance_limit: None })),
            "events[0].project_terms_changed.fee_bps",
        ),
        (
            one(Kind::ProjectTermsChanged(pb::ProjectTermsChanged {
                fee_bps: None,
                advance_limit: Some("1.0001".into()),
            })),
            "events[0].project_terms_changed.advance_limit",
        ),
        (second(contribution_with(|c| c.amount = usd("x"))), "events[1].contribution_received.amount"),
        (second(contribution_with(|c| c.amount = None)), "events[1].contribution_received.amount"),
        (
            second(contribution_with(|c| c.amount = money("1", "XYZ"))),
            "events[1].contribution_received.amount.currency",
        ),
        (second(contribution_with(|c| c.from = String::new())), "events[1].contribution_received.from"),
        (second(contribution_with(|c| c.source = 0)), "events[1].contribution_received.source"),
        (second(contribution_with(|c| c.fund = bad_fund())), "events[1].contribution_received.fund.restricted_purpose"),
        (second(contribution_with(|c| c.fee_bps = Some(6_000))), "events[1].contribution_received.fee_bps"),
        (
            one(Kind::PledgeRecorded(pb::PledgeRecorded {
                amount: usd("0"),
                sponsor: "S".into(),
                due_date: DAY.into(),
            })),
            "events[0].pledge_recorded.amount",
        ),
        (
            one(Kind::PledgeRecorded(pb::PledgeRecorded {
                amount: usd("1"),
                sponsor: String::new(),
                due_date: DAY.into(),
            })),
            "events[0].pledge_recorded.sponsor",
        ),
        (
            one(Kind::PledgeRecorded(pb::PledgeRecorded {
                amount: usd("1"),
                sponsor: "S".into(),
                due_date: "x".into(),
            })),
            "events[0].pledge_recorded.due_date",
        ),
        (
            one(Kind::PledgeFulfilled(pb::PledgeFulfilled { amount: usd("1.001"), pledge: 3, fee_bps: None })),
            "events[0].pledge_fulfilled.amount",
        ),
        (
            one(Kind::PledgeFulfilled(pb::PledgeFulfilled { amount: usd("1"), pledge: 3, fee_bps: Some(6_000) })),
            "events[0].pledge_fulfilled.fee_bps",
        ),
        (
            one(Kind::PledgeFulfilled(pb::PledgeFulfilled { amount: money("1", "EUR"), pledge: 3, fee_bps: None })),
            "events[0].pledge_fulfilled.amount.currency",
        ),
        (
            one(Kind::PledgeFulfilled(pb::PledgeFulfilled { amount: usd("1"), pledge: 99, fee_bps: None })),
            "events[0].pledge_fulfilled.pledge",
        ),
        (
            one(Kind::PledgeCancelled(pb::PledgeCancelled { pledge: 99, amount: None })),
            "events[0].pledge_cancelled.pledge",
        ),
        (
            one(Kind::PledgeCancelled(pb::PledgeCancelled { pledge: 3, amount: usd("-1") })),
            "events[0].pledge_cancelled.amount",
        ),
        (
            one(Kind::PledgeCancelled(pb::PledgeCancelled { pledge: 3, amount: usd("900") })),
            "events[0].pledge_cancelled.amount",
        ),
        (
            one(Kind::GrantAwarded(pb::GrantAwarded { amount: usd("1.000"), program: "fund".into() })),
            "events[0].grant_awarded.amount",
        ),
        (
            one(Kind::GrantAwarded(pb::GrantAwarded { amount: usd("1"), program: "Not A Slug".into() })),
            "events[0].grant_awarded.program",
        ),
        (
            one(Kind::AdvanceIssued(pb::AdvanceIssued { amount: usd("x"), purpose: "deposit".into() })),
            "events[0].advance_issued.amount",
        ),
        (
            one(Kind::AdvanceIssued(pb::AdvanceIssued { amount: usd("1"), purpose: String::new() })),
            "events[0].advance_issued.purpose",
        ),
        (
            one(Kind::AdvanceIssued(pb::AdvanceIssued { amount: money("1", "EUR"), purpose: "deposit".into() })),
            "events[0].advance_issued.amount.currency",
        ),
        (one(Kind::AdvanceRepaid(pb::AdvanceRepaid { amount: usd("") })), "events[0].advance_repaid.amount"),
        (
            one(Kind::AdvanceRepaid(pb::AdvanceRepaid { amount: money("1", "EUR") })),
            "events[0].advance_repaid.amount.currency",
        ),
        (one(Kind::ExpensePaid(pb::ExpensePaid { request: None, details: None })), "events[0].expense_paid.request"),
        (
            one(Kind::ExpensePaid(pb::ExpensePaid { request: Some(99), details: None })),
            "events[0].expense_paid.request",
        ),
        (
            one(Kind::ExpensePaid(pb::ExpensePaid { request: Some(4), details: Some(expense("1.00")) })),
            "events[0].expense_paid.details",
        ),
        (
            one(Kind::ExpensePaid(pb::ExpensePaid {
                request: None,
                details: details_with(|d| d.amount = usd("1.001")),
            })),
            "events[0].expense_paid.details.amount",
        ),
        (
            one(Kind::ExpensePaid(pb::ExpensePaid {
                request: None,
                details: details_with(|d| d.payee = String::new()),
            })),
            "events[0].expense_paid.details.payee",
        ),
        (
            one(Kind::ExpensePaid(pb::ExpensePaid {
                request: None,
                details: details_with(|d| d.category = "Venue!".into()),
            })),
            "events[0].expense_paid.details.category",
        ),
        (
            one(Kind::ExpensePaid(pb::ExpensePaid { request: None, details: details_with(|d| d.fund = bad_fund()) })),
            "events[0].expense_paid.details.fund.restricted_purpose",
        ),
        (
            one(Kind::ExpensePaid(pb::ExpensePaid {
                request: None,
                details: details_with(|d| d.receipt = Some(pb::Receipt { hash: vec![1], file_name: "r.pdf".into() })),
            })),
            "events[0].expense_paid.details.receipt.hash",
        ),
        (
            one(Kind::ExpensePaid(pb::ExpensePaid {
                request: None,
                details: details_with(|d| {
                    d.receipt = Some(pb::Receipt { hash: vec![7; 32], file_name: "a/b.pdf".into() })
                }),
            })),
            "events[0].expense_paid.details.receipt.file_name",
        ),
        (
            one(Kind::ExpensePaid(pb::ExpensePaid { request: None, details: details_with(|d| d.receipt = None) })),
            "events[0].expense_paid.details.receipt",
        ),
        (one(Kind::ExpenseRequested(pb::ExpenseRequested { details: None })), "events[0].expense_requested.details"),
        (
            one(Kind::ExpenseRequested(pb::ExpenseRequested { details: details_with(|d| d.amount = None) })),
            "events[0].expense_requested.details.amount",
        ),
        (one(Kind::ExpenseApproved(pb::ExpenseApproved { request: 99 })), "events[0].expense_approved.request"),
        (
            one(Kind::ExpenseRejected(pb::ExpenseRejected { request: 4, reason: String::new() })),
            "events[0].expense_rejected.reason",
        ),
        (
            one(Kind::ExpenseRejected(pb::ExpenseRejected { request: 99, reason: "no".into() })),
            "events[0].expense_rejected.request",
        ),
        (
            one(Kind::RefundIssued(pb::RefundIssued { amount: usd("1e2"), contribution: 2, ..Default::default() })),
            "events[0].refund_issued.amount",
        ),
        (
            one(Kind::RefundIssued(pb::RefundIssued { amount: usd("1"), contribution: 99, ..Default::default() })),
            "events[0].refund_issued.contribution",
        ),
        (
            one(Kind::RefundIssued(pb::RefundIssued {
                amount: usd("1"),
                contribution: 2,
                fee_share: Some("0.08".into()),
                fund: None,
            })),
            "events[0].refund_issued.fee_share",
        ),
        (
            one(Kind::RefundIssued(pb::RefundIssued {
                amount: usd("1"),
                contribution: 2,
                fee_share: None,
                fund: Some(pb::Fund::default()),
            })),
            "events[0].refund_issued.fund",
        ),
        (
            one(Kind::TransferSent(pb::TransferSent { amount: usd("1"), to: "Not_An_Id".into() })),
            "events[0].transfer_sent.to",
        ),
        (one(Kind::TransferSent(pb::TransferSent { amount: usd("1"), to: P.into() })), "events[0].transfer_sent.to"),
        (
            one(Kind::TransferSent(pb::TransferSent { amount: usd("-1"), to: "conf-b".into() })),
            "events[0].transfer_sent.amount",
        ),
        (
            one(Kind::TransferReceived(pb::TransferReceived { amount: usd("1"), from: "Not_An_Id".into() })),
            "events[0].transfer_received.from",
        ),
        (
            one(Kind::TransferReceived(pb::TransferReceived { amount: usd("1"), from: P.into() })),
            "events[0].transfer_received.from",
        ),
        (
            one(Kind::FundsReleased(pb::FundsReleased { amount: usd("1"), purpose: "Not A Slug".into() })),
            "events[0].funds_released.purpose",
        ),
        (
            one(Kind::FundsReleased(pb::FundsReleased { amount: None, purpose: "travel".into() })),
            "events[0].funds_released.amount",
        ),
        (
            one(Kind::CurrencyConverted(pb::CurrencyConverted { amount: usd("x"), to: money("1", "EUR") })),
            "events[0].currency_converted.amount",
        ),
        (
            one(Kind::CurrencyConverted(pb::CurrencyConverted { amount: usd("1"), to: money("1.001", "EUR") })),
            "events[0].currency_converted.to",
        ),
        (
            one(Kind::CurrencyConverted(pb::CurrencyConverted { amount: usd("1"), to: usd("2") })),
            "events[0].currency_converted.to.currency",
        ),
        (
            one(Kind::OpeningBalance(pb::OpeningBalance { amount: usd("0.001"), fund: None })),
            "events[0].opening_balance.amount",
        ),
        (
            one(Kind::OpeningBalance(pb::OpeningBalance { amount: usd("1"), fund: bad_fund() })),
            "events[0].opening_balance.fund.restricted_purpose",
        ),
        (
            one(Kind::EventReversed(Box::new(pb::EventReversed {
                target_seq: 2,
                reason: String::new(),
                target: None,
            }))),
            "events[0].event_reversed.reason",
        ),
        (
            one(Kind::EventReversed(Box::new(pb::EventReversed {
                target_seq: 2,
                reason: "x".into(),
                target: Some(Box::default()),
            }))),
            "events[0].event_reversed.target",
        ),
        (
            one(Kind::EventReversed(Box::new(pb::EventReversed { target_seq: 99, reason: "x".into(), target: None }))),
            "events[0].event_reversed.target_seq",
        ),
        (one(Kind::PeriodClosed(pb::PeriodClosed { through: "2026-02".into() })), "events[0].period_closed.through"),
        (one(Kind::PeriodClosed(pb::PeriodClosed { through: "2026-12-31".into() })), "events[0].period_closed.through"),
        // the reads
        (Req::Balance(pb::GetBalanceRequest { project: "Not_An_Id".into(), currency: None, as_of: None }), "project"),
        (
            Req::Balance(pb::GetBalanceRequest { project: P.into(), currency: Some("usd".into()), as_of: None }),
            "currency",
        ),
        (
            Req::Statement(pb::GetStatementRequest {
                page_token: String::new(),
                project: "Not_An_Id".into(),
                from_date: "2026-01-01".into(),
                to_date: "2026-12-31".into(),
                currency: None,
            }),
            "project",
        ),
        (
            Req::Statement(pb::GetStatementRequest {
                page_token: String::new(),
                project: P.into(),
                from_date: "2026-1-1".into(),
                to_date: "2026-12-31".into(),
                currency: None,
            }),
            "from_date",
        ),
        (
            Req::Statement(pb::GetStatementRequest {
                page_token: String::new(),
                project: P.into(),
                from_date: "2026-01-01".into(),
                to_date: "2025-12-31".into(),
                currency: None,
            }),
            "to_date",
        ),
        (
            Req::Statement(pb::GetStatementRequest {
                page_token: String::new(),
                project: P.into(),
                from_date: "2026-01-01".into(),
                to_date: "2026-12-31".into(),
                currency: Some("XYZ".into()),
            }),
            "currency",
        ),
        (Req::Events(pb::ListEventsRequest { project: "Not_An_Id".into(), after_seq: 0, page_size: 0 }), "project"),
        (Req::Events(pb::ListEventsRequest { project: P.into(), after_seq: 0, page_size: u32::MAX }), "page_size"),
        (Req::Projects(pb::ListProjectsRequest { page_size: u32::MAX, ..Default::default() }), "page_size"),
        (Req::Pending(pb::ListPendingExpensesRequest { project: "Not_An_Id".into(), after: None }), "project"),
        (Req::Subscribe(pb::SubscribeRequest { after_commit: 0, project: "Not_An_Id".into() }), "project"),
        (Req::Head(pb::GetHeadRequest { project: "Not_An_Id".into() }), "project"),
        (Req::Verify(pb::VerifyRequest { project: "Not_An_Id".into() }), "project"),
        (Req::Export(pb::ExportChainRequest { project: "Not_An_Id".into(), from_seq: 0 }), "project"),
    ];
    // (ProjectClosed has no fields: nothing to break)
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_refusal_names_a_path_into_the_request_it_refuses() {
    let contract = Contract::load();
    let d = Daemon::start().await;
    let mut l = d.ledger(Some(&d.tokens.admin)).await;
    let mut a = d.audit(Some(&d.tokens.admin)).await;
    open(&mut l, P, 800).await;
    open(&mut l, "conf-b", 0).await;
    record(&mut l, vec![contribution("c-2", P, "1000.00", None)]).await.expect("seq 2");
    let pledge = pb::PledgeRecorded { amount: usd("500.00"), sponsor: "S".into(), due_date: "2026-06-01".into() };
    record(&mut l, vec![event("p-3", P, "2026-03-02", Kind::PledgeRecorded(pledge))]).await.expect("seq 3");
    let request = pb::ExpenseRequested { details: Some(expense("5.00")) };
    record(&mut l, vec![event("r-4", P, "2026-03-03", Kind::ExpenseRequested(request))]).await.expect("seq 4");
    let mut audit = d.audit(Some(&d.tokens.auditor)).await;
    let before = head_seq(&mut audit, P).await;

    let cases = table();
    assert!(cases.len() >= 100, "{} cases", cases.len());
    let mut wrong = Vec::new();
    for (req, path) in cases {
        let message = req.message();
        // the expected path itself names a real field
        contract.resolve(message, path).unwrap_or_else(|e| panic!("the table's own path: {e}"));
        let status = match req.send(&mut l, &mut a).await {
            Ok(()) => {
                wrong.push(format!("{message} {path}: accepted"));
                continue;
            }
            Err(s) => s,
        };
        let named = match status.code() {
            Code::InvalidArgument => {
                let details = status.get_error_details();
                details.bad_request().and_then(|b| b.field_violations.first().map(|v| v.field.clone()))
            }
            // a reference to nothing is a refused rule; its message names the path
            Code::FailedPrecondition | Code::NotFound => status.message().contains(path).then(|| path.to_owned()),
            _ => None,
        };
        match named {
            Some(p) if p == path => {
                if let Err(e) = contract.resolve(message, &p) {
                    wrong.push(format!("{message}: {e}"));
                }
            }
            other => {
                wrong.push(format!("{message} {path}: {:?} {:?} named {other:?}", status.code(), status.message()))
            }
        }
    }
    assert!(wrong.is_empty(), "{} refusals named the wrong path:\n{}", wrong.len(), wrong.join("\n"));
    assert_eq!(head_seq(&mut audit, P).await, before, "nothing was recorded");
}

#[test]
fn the_path_check_refuses_paths_that_name_no_field() {
    let c = Contract::load();
    for ok in [
        "events[0].contribution_received.amount.currency",
        "events[12].expense_paid.details.receipt.file_name",
        "expected_seq[conf-a]",
        "events",
        "events[3].kind",
    ] {
        assert_eq!(c.resolve("fiscus.v1.RecordCommitRequest", ok), Ok(()), "{ok}");
    }
    assert_eq!(c.resolve("fiscus.v1.OpenProjectRequest", "opened.fee_bps"), Ok(()));
    for bad in [
        "events[0].from",
        "fee_bps",
        "events[0].amount",
        "events.project",
        "events[0].contribution_received.fund.purpose",
    ] {
        assert!(c.resolve("fiscus.v1.RecordCommitRequest", bad).is_err(), "{bad}");
    }
    assert!(c.resolve("fiscus.v1.OpenProjectRequest", "fee_bps").is_err());
}

/// A refusal sends back a short part of a huge value, not the value: a 3-million-digit amount was
/// echoed whole in `grpc-message` and again in the BadRequest detail (9 MB of trailers), which
/// flooded the daemon's log and went past what gRPC clients read (they saw RESOURCE_EXHAUSTED
/// "Stream removed", and the Python client retried it). Each answer is still INVALID_ARGUMENT
/// naming its field, with the value's start and length.
#[tokio::test]
async fn a_refusal_sends_back_a_short_part_of_a_huge_value() {
    let d = Daemon::start().await;
    let mut l = d.ledger(Some(&d.tokens.admin)).await;
    let mut a = d.audit(Some(&d.tokens.admin)).await;
    open(&mut l, P, 800).await;
    let digits = "9".repeat(3_000_000);
    let long = "x".repeat(100_000);
    let cases: Vec<(Req, &str)> = vec![
        (one(contribution_with(|c| c.amount = usd(&digits))), "events[0].contribution_received.amount"),
        (
            one(contribution_with(|c| c.amount = money("1.00", &long))),
            "events[0].contribution_received.amount.currency",
        ),
        (Req::Commit(vec![event("d-1", P, &long, contribution_with(|_| {}))]), "events[0].effective_date"),
        (
            Req::CommitHeads(pb::RecordCommitRequest {
                events: vec![contribution("h-1", P, "1.00", None)],
                expected_seq: [(format!("A{long}"), 1)].into_iter().collect(),
                allow_same_receipt: false,
                dry_run: false,
            }),
            "expected_seq[Axxxxxxxx",
        ),
    ];
    for (req, path) in cases {
        let status = req.send(&mut l, &mut a).await.expect_err("refused");
        assert_eq!(
            status.code(),
            Code::InvalidArgument,
            "{path}: {}",
            &status.message()[..status.message().len().min(300)]
        );
        assert!(status.message().len() < 1024, "{path}: a message of {} bytes", status.message().len());
        let details = status.get_error_details();
        let violation = details.bad_request().and_then(|b| b.field_violations.first().cloned()).expect("a field");
        assert!(violation.field.starts_with(path), "{path}: {}", violation.field.len());
        assert!(violation.field.len() < 1024 && violation.description.len() < 1024, "{path}");
        let length_said = status.message().contains(" characters)");
        assert!(length_said || path.starts_with("expected_seq"), "{path}: the length is said: {}", status.message());
    }
    d.stop();
}

/// Bytes that are no message of the method's type are the caller's error, INVALID_ARGUMENT, not
/// INTERNAL (which the contract keeps for a fault of the server): another message whose fields
/// have other wire types, and an `EventReversed.target` nested past prost's recursion limit.
#[tokio::test]
async fn a_request_that_is_no_message_of_its_type_is_invalid_argument() {
    let d = Daemon::start().await;
    let token: tonic::metadata::MetadataValue<_> = format!("Bearer {}", d.tokens.admin).parse().expect("header");
    let call = |path: &'static str, body: pb::GetBalanceRequest| {
        let channel = d.channel();
        let token = token.clone();
        async move {
            let mut grpc = tonic::client::Grpc::new(channel.await);
            grpc.ready().await.expect("ready");
            let mut request = tonic::Request::new(body);
            request.metadata_mut().insert("authorization", token);
            let codec = tonic_prost::ProstCodec::<pb::GetBalanceRequest, pb::RecordCommitResponse>::default();
            grpc.unary(request, http::uri::PathAndQuery::from_static(path), codec).await.map(|_| ())
        }
    };
    // RecordCommitRequest.events (field 1) is a message: the text "x" is no Event
    let not_an_event = pb::GetBalanceRequest { project: "x".into(), currency: None, as_of: None };
    let status = call("/fiscus.v1.Ledger/RecordCommit", not_an_event).await.expect_err("refused");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("not a valid message of the method's request type"), "{}", status.message());
    // a chain of 200 reversals, each the target of the one before
    let mut nested = pb::Event::default();
    for _ in 0..200 {
        let kind = Kind::EventReversed(Box::new(pb::EventReversed {
            target_seq: 1,
            reason: "r".into(),
            target: Some(Box::new(nested)),
        }));
        nested = pb::Event { kind: Some(kind), ..pb::Event::default() };
    }
    let deep = pb::RecordCommitRequest { events: vec![nested], ..Default::default() };
    let mut l = d.ledger(Some(&d.tokens.admin)).await;
    let status = l.record_commit(deep).await.expect_err("refused");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    // the daemon goes on answering
    let projects = l.list_projects(pb::ListProjectsRequest::default()).await;
    assert!(projects.is_ok(), "{projects:?}");
    d.stop();
}
