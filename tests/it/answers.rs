//! Answers that must be right even when the daemon is idle: every amount and date of a request is
//! read by the one amount parser and the one date parser; every amount of an answer is written by
//! the one formatter (the currency's minor units, never a negative zero); a statement's totals per
//! source count refunds under the source they refund.

use fiscus_proto::pb;
use fiscus_proto::pb::event::Kind;
use tonic::Code;
use tonic_types::StatusExt;

use crate::support::*;

/// Amounts refused for their places, with the reason (the text of the one parser's refusal).
const BAD_AMOUNTS: [(&str, &str, &str); 5] = [
    ("1.00000000000000000000000000001", "USD", "has 29 decimal places; USD allows 2"),
    ("0.0099999999999999999999999999999", "USD", "has 31 decimal places; USD allows 2"),
    ("1.000", "USD", "has 3 decimal places; USD allows 2"),
    ("1.0", "JPY", "has 1 decimal places; JPY allows 0"),
    ("0.00000000000000000000000000001", "USD", "has 29 decimal places; USD allows 2"),
];
/// Dates that are not exactly `YYYY-MM-DD`.
const BAD_DATES: [&str; 3] = ["2026-1-5", " 2026-01-05", "+2026-01-05"];

fn violation(s: &tonic::Status) -> Option<String> {
    s.get_error_details().bad_request().and_then(|b| b.field_violations.first().map(|v| v.field.clone()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amounts_and_dates_are_read_by_one_strict_parser() {
    let d = Daemon::start().await;
    let mut admin = d.ledger(Some(&d.tokens.admin)).await;
    let mut audit = d.audit(Some(&d.tokens.auditor)).await;
    open(&mut admin, "conf-a", 0).await;
    for (amount, currency, reason) in BAD_AMOUNTS {
        let mut e = contribution("bad", "conf-a", "1.00", None);
        if let Some(Kind::ContributionReceived(c)) = &mut e.kind {
            c.amount = money(amount, currency);
        }
        let s = assert_code(record(&mut admin, vec![e]).await, Code::InvalidArgument);
        assert!(s.message().contains(reason), "{amount} {currency}: {}", s.message());
        assert_eq!(violation(&s).as_deref(), Some("events[0].contribution_received.amount"), "{amount}");
        // the same text as an advance limit of a new project, in its currency
        let req = pb::OpenProjectRequest {
            event_id: "open-x".into(),
            project: "conf-x".into(),
            effective_date: "2026-01-01".into(),
            opened: Some(pb::ProjectOpened {
                name: "X".into(),
                kind: pb::ProjectKind::Meetup.into(),
                currency: currency.into(),
                advance_limit: amount.into(),
                fee_bps: 0,
            }),
            ..Default::default()
        };
        let s = assert_code(admin.open_project(req).await, Code::InvalidArgument);
        assert!(s.message().contains(reason), "{amount} {currency}: {}", s.message());
        assert_eq!(violation(&s).as_deref(), Some("opened.advance_limit"), "{amount}");
    }
    for date in BAD_DATES {
        let mut e = contribution("bad", "conf-a", "1.00", None);
        e.effective_date = date.into();
        let s = assert_code(record(&mut admin, vec![e]).await, Code::InvalidArgument);
        assert!(s.message().contains("YYYY-MM-DD"), "{date:?}: {}", s.message());
        assert_eq!(violation(&s).as_deref(), Some("events[0].effective_date"), "{date:?}");
        let read = pb::GetStatementRequest {
            page_token: String::new(),
            project: "conf-a".into(),
            from_date: date.into(),
            to_date: "2026-12-31".into(),
            currency: None,
        };
        let s = assert_code(admin.get_statement(read).await, Code::InvalidArgument);
        assert_eq!(violation(&s).as_deref(), Some("from_date"), "{date:?}");
    }
    assert_eq!(head_seq(&mut audit, "conf-a").await, 1, "nothing was recorded");
    // Written the one right way, each is accepted.
    record(&mut admin, vec![contribution("good", "conf-a", "1.00", None)]).await.expect("1.00 USD");
}

/// True when `text` holds a quoted negative zero such as `"-0.00"` or `"-0"`.
fn has_negative_zero(text: &str) -> bool {
    text.match_indices("\"-0").any(|(at, m)| {
        let rest = &text[at + m.len()..];
        let end = rest.find('"').unwrap_or(rest.len());
        rest[..end].chars().all(|c| c == '0' || c == '.')
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_answer_writes_a_negative_zero() {
    let d = Daemon::start().await;
    let mut admin = d.ledger(Some(&d.tokens.admin)).await;
    open(&mut admin, "conf-a", 0).await;
    let answers = |l: Ledger| async move {
        let mut l = l;
        let balance =
            l.get_balance(pb::GetBalanceRequest { project: "conf-a".into(), currency: None, as_of: None }).await;
        let statement = l
            .get_statement(pb::GetStatementRequest {
                page_token: String::new(),
                project: "conf-a".into(),
                from_date: "2026-01-01".into(),
                to_date: "2026-12-31".into(),
                currency: None,
            })
            .await;
        let projects = l.list_projects(pb::ListProjectsRequest::default()).await;
        let trial = l.get_trial_balance(pb::GetTrialBalanceRequest::default()).await;
        let events =
            l.list_events(pb::ListEventsRequest { project: "conf-a".into(), after_seq: 0, page_size: 0 }).await;
        let balance = balance.expect("balance").into_inner();
        let text = format!(
            "{balance:?} {:?} {:?} {:?} {:?}",
            statement.expect("statement").into_inner(),
            projects.expect("projects").into_inner(),
            trial.expect("trial balance").into_inner(),
            events.expect("events").into_inner()
        );
        (balance, text)
    };
    // A fresh project: no negative zero anywhere (and its balances, if listed, are plain zeros).
    let (fresh, text) = answers(d.ledger(Some(&d.tokens.auditor)).await).await;
    assert!(!has_negative_zero(&text), "{text}");
    fn zeros(b: &pb::CurrencyBalance) -> [&str; 6] {
        [&b.balance, &b.available, &b.held, &b.pledged, &b.advances_outstanding, &b.fees_to_date].map(|v| v.as_str())
    }
    for b in &fresh.balances {
        assert_eq!(zeros(b), ["0.00"; 6]);
    }
    // A first contribution without a fee: nothing pledged, held, owed or charged is "-0.00".
    record(&mut admin, vec![contribution("c0", "conf-a", "10.00", Some(0))]).await.expect("contribution");
    let (first, text) = answers(d.ledger(Some(&d.tokens.auditor)).await).await;
    assert!(!has_negative_zero(&text), "{text}");
    let usd = first.balances.first().expect("USD");
    assert_eq!(zeros(usd), ["10.00", "10.00", "0.00", "0.00", "0.00", "0.00"]);
    // Spent to zero, with a fee and a pledge made and cancelled on the way.
    record(&mut admin, vec![contribution("c1", "conf-a", "10.00", Some(1000))]).await.expect("contribution");
    record(&mut admin, vec![expense_paid("x1", "conf-a", "19.00")]).await.expect("expense");
    let pledge = event(
        "p1",
        "conf-a",
        "2026-03-05",
        Kind::PledgeRecorded(pb::PledgeRecorded {
            amount: money("5.00", "USD"),
            sponsor: "S".into(),
            due_date: "2026-06-01".into(),
        }),
    );
    let p = record(&mut admin, vec![pledge]).await.expect("pledge");
    let cancel = event(
        "p1-x",
        "conf-a",
        "2026-03-06",
        Kind::PledgeCancelled(pb::PledgeCancelled { pledge: p.positions[0].seq, amount: None }),
    );
    record(&mut admin, vec![cancel]).await.expect("cancelled");
    let (spent, text) = answers(d.ledger(Some(&d.tokens.auditor)).await).await;
    assert!(!has_negative_zero(&text), "{text}");
    let usd = spent.balances.first().expect("USD");
    assert_eq!((usd.balance.as_str(), usd.pledged.as_str(), usd.fees_to_date.as_str()), ("0.00", "0.00", "1.00"));
    assert!(has_negative_zero(r#"{"a": "-0.00"}"#) && has_negative_zero(r#""-0""#) && !has_negative_zero(r#""-0.50""#));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statement_totals_by_source_count_refunds_under_the_source_they_refund() {
    let d = Daemon::start().await;
    let mut admin = d.ledger(Some(&d.tokens.admin)).await;
    open(&mut admin, "conf-a", 800).await;
    let big = record(&mut admin, vec![contribution("s1", "conf-a", "1000.00", None)]).await.expect("1000.00");
    let refund = event(
        "r1",
        "conf-a",
        "2026-03-10",
        Kind::RefundIssued(pb::RefundIssued {
            amount: money("100.00", "USD"),
            contribution: big.positions[0].seq,
            fund: None,
            fee_share: None,
        }),
    );
    record(&mut admin, vec![refund]).await.expect("refund");
    record(&mut admin, vec![contribution("s2", "conf-a", "1.00", None)]).await.expect("1.00");
    let statement = |admin: &mut Ledger| {
        let req = pb::GetStatementRequest {
            page_token: String::new(),
            project: "conf-a".into(),
            from_date: "2026-01-01".into(),
            to_date: "2026-12-31".into(),
            currency: None,
        };
        let mut admin = admin.clone();
        async move { admin.get_statement(req).await.expect("statement").into_inner().statements.remove(0) }
    };
    let s = statement(&mut admin).await;
    let totals: Vec<(&str, &str)> = s.totals_by_source.iter().map(|t| (t.name.as_str(), t.amount.as_str())).collect();
    assert_eq!(totals, [("sponsorship", "828.92")]);
    assert_eq!(s.closing_balance, "828.92");
    assert!(s.totals_by_kind.iter().all(|t| t.name != "RefundIssued"), "{:?}", s.totals_by_kind);
    // A reversal of the small contribution counts, negated, under its source too.
    let reversal = event(
        "v1",
        "conf-a",
        "2026-03-12",
        Kind::EventReversed(Box::new(pb::EventReversed { target_seq: 4, reason: "bounced".into(), target: None })),
    );
    record(&mut admin, vec![reversal]).await.expect("reversal");
    let s = statement(&mut admin).await;
    let totals: Vec<(&str, &str)> = s.totals_by_source.iter().map(|t| (t.name.as_str(), t.amount.as_str())).collect();
    assert_eq!(totals, [("sponsorship", "828.00")]);
    assert_eq!(s.closing_balance, "828.00");
}
