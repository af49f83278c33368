//! Bad input: malformed fields are INVALID_ARGUMENT naming the field (in the message and in a
//! google.rpc.BadRequest detail), never a crash, and change nothing.

use fiscus_proto::pb;
use fiscus_proto::pb::event::Kind;
use tonic::Code;
use tonic_types::StatusExt;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_events_name_their_field() {
    let d = Daemon::start().await;
    let mut admin = d.ledger(Some(&d.tokens.admin)).await;
    let mut acc = d.ledger(Some(&d.tokens.accountant)).await;
    let mut audit = d.audit(Some(&d.tokens.auditor)).await;
    open(&mut admin, "conf-a", 800).await;

    let with_amount = |amount: &str, currency: &str| {
        let mut e = contribution("bad", "conf-a", "1.00", None);
        if let Some(Kind::ContributionReceived(c)) = &mut e.kind {
            c.amount = money(amount, currency);
        }
        e
    };
    let amount = "events[1].contribution_received.amount";
    let mut cases: Vec<(pb::Event, &str)> = vec![
        (with_amount("-5.00", "USD"), amount),
        (with_amount("0", "USD"), amount),
        (with_amount("1.001", "USD"), amount),
        (with_amount("1.5", "JPY"), amount),
        (with_amount("1e3", "USD"), amount),
        (with_amount("1000000000000000.01", "USD"), amount),
        (with_amount("1,000.00", "USD"), amount),
        (with_amount("12.00", "XYZ"), "events[1].contribution_received.amount.currency"),
    ];
    let mut e = contribution("bad", "conf-a", "1.00", None);
    e.effective_date = "2026-02-30".into();
    cases.push((e, "events[1].effective_date"));
    let mut e = contribution("bad", "conf-a", "1.00", None);
    e.project = "Conf_A".into();
    cases.push((e, "events[1].project"));
    let mut e = contribution("bad", "conf-a", "1.00", None);
    e.kind = None;
    cases.push((e, "events[1].kind"));
    let mut e = contribution("bad", "conf-a", "1.00", None);
    e.memo = "m".repeat(1_001);
    cases.push((e, "events[1].memo"));
    let mut e = contribution("", "conf-a", "1.00", None);
    e.event_id = String::new();
    cases.push((e, "events[1].event_id"));
    let mut e = contribution("bad", "conf-a", "1.00", None);
    if let Some(Kind::ContributionReceived(c)) = &mut e.kind {
        c.source = 0;
    }
    cases.push((e, "events[1].contribution_received.source"));
    let mut e = expense_paid("bad", "conf-a", "1.00");
    if let Some(Kind::ExpensePaid(p)) = &mut e.kind {
        if let Some(d) = &mut p.details {
            d.receipt = Some(pb::Receipt { hash: vec![1, 2, 3], file_name: "x.pdf".into() });
        }
    }
    cases.push((e, "events[1].expense_paid.details.receipt.hash"));

    for (bad, field) in cases {
        // The good event first: the whole commit is refused, so it is not stored either.
        let events = vec![contribution("good", "conf-a", "1.00", None), bad];
        let s = assert_code(record(&mut acc, events).await, Code::InvalidArgument);
        assert!(s.message().contains(field), "{field} in {:?}", s.message());
        let details = s.get_error_details();
        let violation = details.bad_request().map(|b| b.field_violations[0].field.clone());
        assert_eq!(violation.as_deref(), Some(field), "BadRequest detail of {:?}", s.message());
    }
    assert_code(record(&mut acc, Vec::new()).await, Code::InvalidArgument);
    let too_many: Vec<pb::Event> =
        (0..1_001).map(|i| contribution(&format!("m-{i}"), "conf-a", "1.00", None)).collect();
    let s = assert_code(record(&mut acc, too_many).await, Code::InvalidArgument);
    assert!(s.message().contains("events"), "{}", s.message());
    assert_eq!(head_seq(&mut audit, "conf-a").await, 1, "nothing was stored");
    // The daemon is still there.
    record(&mut acc, vec![contribution("good", "conf-a", "1.00", None)]).await.expect("a good commit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_reads_and_opens_are_invalid_argument() {
    let d = Daemon::start().await;
    let mut admin = d.ledger(Some(&d.tokens.admin)).await;
    open(&mut admin, "conf-a", 800).await;
    let s = assert_code(
        admin
            .get_balance(pb::GetBalanceRequest { project: "conf-a".into(), currency: Some("usd".into()), as_of: None })
            .await,
        Code::InvalidArgument,
    );
    assert!(s.message().contains("currency"));
    assert_code(
        admin.get_balance(pb::GetBalanceRequest { project: String::new(), currency: None, as_of: None }).await,
        Code::InvalidArgument,
    );
    let s = assert_code(
        admin
            .get_statement(pb::GetStatementRequest {
                page_token: String::new(),
                project: "conf-a".into(),
                from_date: "yesterday".into(),
                to_date: "2026-01-01".into(),
                currency: None,
            })
            .await,
        Code::InvalidArgument,
    );
    assert!(s.message().contains("from_date"));
    let mut open = pb::OpenProjectRequest {
        event_id: "o".into(),
        project: "conf-x".into(),
        effective_date: "2026-01-01".into(),
        memo: String::new(),
        reference: None,
        opened: Some(pb::ProjectOpened {
            name: "X".into(),
            kind: pb::ProjectKind::Unspecified.into(),
            fee_bps: 100,
            currency: "USD".into(),
            advance_limit: "0".into(),
        }),
    };
    let s = assert_code(admin.open_project(open.clone()).await, Code::InvalidArgument);
    assert!(s.message().contains("opened.kind"), "{}", s.message());
    if let Some(o) = &mut open.opened {
        o.kind = pb::ProjectKind::Meetup.into();
        o.fee_bps = 5_001;
    }
    let s = assert_code(admin.open_project(open.clone()).await, Code::InvalidArgument);
    assert!(s.message().contains("fee_bps"), "{}", s.message());
    open.opened = None;
    assert_code(admin.open_project(open).await, Code::InvalidArgument);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_over_the_size_limit_is_resource_exhausted() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("fiscusd.toml");
    std::fs::write(&config, "[limits]\nrequest_bytes_max = 65536\ncommit_events_max = 10\n").expect("config");
    let d = Daemon::start_with(&["--config", config.to_str().expect("utf-8 path")]).await;
    let mut admin = d.ledger(Some(&d.tokens.admin)).await;
    open(&mut admin, "conf-a", 0).await;
    let mut big = contribution("big", "conf-a", "1.00", None);
    big.memo = "m".repeat(900);
    let events: Vec<pb::Event> = (0..100).map(|i| pb::Event { event_id: format!("big-{i}"), ..big.clone() }).collect();
    let s = assert_code(record(&mut admin, events).await, Code::ResourceExhausted);
    assert!(s.message().contains("too large"), "{}", s.message());
    // The configured events-per-commit limit holds below the ledger's own.
    let eleven: Vec<pb::Event> = (0..11).map(|i| contribution(&format!("e-{i}"), "conf-a", "1.00", None)).collect();
    let s = assert_code(record(&mut admin, eleven).await, Code::InvalidArgument);
    assert!(s.message().contains("at most 10"), "{}", s.message());
    let ten: Vec<pb::Event> = (0..10).map(|i| contribution(&format!("e-{i}"), "conf-a", "1.00", None)).collect();
    record(&mut admin, ten).await.expect("ten events fit");
}
