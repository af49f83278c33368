//! Every RPC's happy path and its refusals, the sponsorship package, expense requests.

use fiscus_ledger::chain::{genesis_hash, record_hash};
use fiscus_ledger::record::Record;
use fiscus_ledger::ProjectId;
use fiscus_proto::pb;
use fiscus_proto::pb::event::Kind;
use tonic::Code;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sponsorship_package_commits_three_events_atomically_with_each_projects_fee() {
    let d = Daemon::start().await;
    let mut admin = d.ledger(Some(&d.tokens.admin)).await;
    let mut acc = d.ledger(Some(&d.tokens.accountant)).await;
    let mut audit = d.audit(Some(&d.tokens.auditor)).await;
    open(&mut admin, "conf-a", 500).await;
    open(&mut admin, "conf-b", 800).await;
    open(&mut admin, "conf-c", 1000).await;

    let package: Vec<pb::Event> = ["conf-a", "conf-b", "conf-c"]
        .iter()
        .map(|p| {
            let mut e = contribution(&format!("pkg-1-{p}"), p, "1000.00", None);
            e.reference = Some("INV-2026-001".into());
            e
        })
        .collect();
    let r = record(&mut acc, package).await.expect("the package commits");
    assert_eq!(r.commit, 4, "three opens, then the package as one commit");
    assert!(!r.duplicate);
    let positions: Vec<(String, u64)> = r.positions.iter().map(|p| (p.project.clone(), p.seq)).collect();
    assert_eq!(positions, [("conf-a".into(), 2), ("conf-b".into(), 2), ("conf-c".into(), 2)]);
    for (p, balance, fee) in
        [("conf-a", "950.00", "50.00"), ("conf-b", "920.00", "80.00"), ("conf-c", "900.00", "100.00")]
    {
        let b = usd_balance(&mut acc, p).await;
        assert_eq!((b.balance.as_str(), b.fees_to_date.as_str()), (balance, fee), "{p}");
    }

    // A package whose third event overdraws (an expense larger than conf-c holds) changes nothing.
    let heads_before: Vec<u64> = [
        head_seq(&mut audit, "conf-a").await,
        head_seq(&mut audit, "conf-b").await,
        head_seq(&mut audit, "conf-c").await,
    ]
    .to_vec();
    let bad = vec![
        contribution("pkg-2-a", "conf-a", "500.00", None),
        contribution("pkg-2-b", "conf-b", "500.00", None),
        expense_paid("pkg-2-c", "conf-c", "5000.00"),
    ];
    let s = assert_code(record(&mut acc, bad).await, Code::FailedPrecondition);
    assert!(s.message().contains("overdraft"), "{}", s.message());
    let heads_after: Vec<u64> = [
        head_seq(&mut audit, "conf-a").await,
        head_seq(&mut audit, "conf-b").await,
        head_seq(&mut audit, "conf-c").await,
    ]
    .to_vec();
    assert_eq!(heads_before, heads_after);
    assert_eq!(usd_balance(&mut acc, "conf-a").await.balance, "950.00");
    assert_eq!(usd_balance(&mut acc, "conf-b").await.balance, "920.00");
    // The refused event ids are free: the same package without the bad event commits.
    let good =
        vec![contribution("pkg-2-a", "conf-a", "500.00", None), contribution("pkg-2-b", "conf-b", "500.00", None)];
    let r = record(&mut acc, good).await.expect("commits");
    assert_eq!(r.commit, 5);
    assert_eq!(usd_balance(&mut acc, "conf-a").await.balance, "1425.00");

    // The trial balance sums to zero and shows the bank and fee accounts.
    let tb = acc.get_trial_balance(pb::GetTrialBalanceRequest::default()).await.expect("trial balance").into_inner();
    assert_eq!(tb.commit, 5);
    let line = |account: &str| tb.lines.iter().find(|l| l.account == account).map(|l| l.amount.clone());
    assert_eq!(line("Assets:Bank:USD").as_deref(), Some("4000.00"));
    assert_eq!(line("Income:Fees:conf-c").as_deref(), Some("-100.00"));
    let total: rust_decimal::Decimal =
        tb.lines.iter().map(|l| l.amount.parse::<rust_decimal::Decimal>().expect("decimal")).sum();
    assert!(total.is_zero(), "per currency the lines sum to zero: {total}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_statement_events_projects_heads_and_export() {
    let d = Daemon::start().await;
    let mut admin = d.ledger(Some(&d.tokens.admin)).await;
    let mut acc = d.ledger(Some(&d.tokens.accountant)).await;
    let mut audit = d.audit(Some(&d.tokens.auditor)).await;
    open(&mut admin, "conf-a", 800).await;
    open(&mut admin, "conf-b", 0).await;
    record(&mut acc, vec![contribution("c1", "conf-a", "1000.00", None)]).await.expect("contribution");
    record(&mut acc, vec![expense_paid("x1", "conf-a", "300.00")]).await.expect("expense");
    let mut late = contribution("c2", "conf-a", "100.00", Some(0));
    late.effective_date = "2026-05-01".into();
    record(&mut acc, vec![late]).await.expect("contribution");

    // Statement for March: opening 0, two lines, closing 620.00; totals per source and category.
    let st = acc
        .get_statement(pb::GetStatementRequest {
            page_token: String::new(),
            project: "conf-a".into(),
            from_date: "2026-03-01".into(),
            to_date: "2026-03-31".into(),
            currency: None,
        })
        .await
        .expect("statement")
        .into_inner();
    assert_eq!(st.head_seq, 4);
    assert_eq!(st.statements.len(), 1);
    let s = &st.statements[0];
    assert_eq!((s.opening_balance.as_str(), s.closing_balance.as_str()), ("0.00", "620.00"));
    let amounts: Vec<&str> = s.lines.iter().map(|l| l.amount.as_str()).collect();
    assert_eq!(amounts, ["920.00", "-300.00"]);
    assert_eq!(s.lines[1].running_balance, "620.00");
    assert_eq!(s.totals_by_source[0].name, "sponsorship");
    assert_eq!(s.totals_by_category[0].amount, "-300.00");
    let s = assert_code(
        acc.get_statement(pb::GetStatementRequest {
            page_token: String::new(),
            project: "conf-a".into(),
            from_date: "2026-04-01".into(),
            to_date: "2026-03-01".into(),
            currency: None,
        })
        .await,
        Code::InvalidArgument,
    );
    assert!(s.message().contains("to_date"));

    // Events in pages of two, gap-free, with actor and hashes.
    let mut seqs = Vec::new();
    let mut after = 0;
    for _ in 0..10 {
        let page = acc
            .list_events(pb::ListEventsRequest { project: "conf-a".into(), after_seq: after, page_size: 2 })
            .await
            .expect("events")
            .into_inner();
        assert_eq!(page.head_seq, 4);
        assert!(page.events.len() <= 2);
        seqs.extend(page.events.iter().map(|e| e.seq));
        if let Some(e) = page.events.iter().find(|e| e.seq == 2) {
            assert_eq!(e.actor, "accountant:alice");
            assert_eq!(e.commit, 3);
            let Some(Kind::ContributionReceived(c)) = e.event.as_ref().and_then(|e| e.kind.as_ref()) else {
                panic!("seq 2 is the contribution")
            };
            assert_eq!(c.fee_bps, Some(800), "the completed fee rate is returned");
            assert_eq!(c.amount.as_ref().map(|m| m.amount.as_str()), Some("1000.00"));
        }
        after = page.next_after_seq;
        if after == page.head_seq {
            break;
        }
    }
    assert_eq!(seqs, [1, 2, 3, 4]);
    assert_code(
        acc.list_events(pb::ListEventsRequest { project: "conf-a".into(), after_seq: 0, page_size: 1_000_000 }).await,
        Code::InvalidArgument,
    );
    assert_code(
        acc.list_events(pb::ListEventsRequest { project: "nope".into(), after_seq: 0, page_size: 0 }).await,
        Code::NotFound,
    );

    // Projects in pages of one.
    let p1 = acc
        .list_projects(pb::ListProjectsRequest { after_project: String::new(), page_size: 1, include_closed: false })
        .await
        .expect("projects")
        .into_inner();
    assert_eq!(p1.projects.len(), 1);
    assert_eq!((p1.projects[0].project.as_str(), p1.projects[0].fee_bps, p1.projects[0].head_seq), ("conf-a", 800, 4));
    assert_eq!(p1.next_after_project, "conf-a");
    let p2 = acc
        .list_projects(pb::ListProjectsRequest { after_project: "conf-a".into(), page_size: 1, include_closed: false })
        .await
        .expect("projects")
        .into_inner();
    assert_eq!(p2.projects[0].project, "conf-b");
    assert_eq!(p2.next_after_project, "");

    // Head and the raw export verify with blake3 alone.
    let head = audit.get_head(pb::GetHeadRequest { project: String::new() }).await.expect("head").into_inner();
    assert_eq!(head.commit, 5);
    assert_eq!(head.projects.iter().map(|p| p.project.as_str()).collect::<Vec<_>>(), ["conf-a", "conf-b"]);
    let mut stream = audit
        .export_chain(pb::ExportChainRequest { project: "conf-a".into(), from_seq: 0 })
        .await
        .expect("export")
        .into_inner();
    let mut prev = genesis_hash(&ProjectId::parse("p", "conf-a").expect("id"));
    let mut count = 0u64;
    while let Some(msg) = stream.message().await.expect("stream") {
        assert_eq!(msg.head_seq, 4);
        for r in msg.records {
            count += 1;
            assert_eq!(r.seq, count);
            assert_eq!(r.hash, record_hash(&r.bytes).to_vec(), "hash over the stored bytes");
            let record = Record::decode(&r.bytes).expect("decodes");
            assert_eq!(record.prev, prev, "linked to the record before");
            prev = record_hash(&r.bytes);
        }
    }
    assert_eq!(count, 4);
    assert_eq!(head.projects[0].hash, prev.to_vec(), "the last record is the head");

    // Server-side verification, whole store and one chain.
    let v = audit.verify(pb::VerifyRequest { project: String::new() }).await.expect("verify").into_inner();
    assert!(v.ok, "{v:?}");
    assert_eq!((v.commits, v.records, v.chains, v.commit), (5, 5, 2, 5));
    assert_eq!(v.commit_hash, head.commit_hash);
    let v = audit.verify(pb::VerifyRequest { project: "conf-a".into() }).await.expect("verify").into_inner();
    assert!(v.ok && v.records == 4 && v.chains == 1, "{v:?}");
    assert_code(audit.verify(pb::VerifyRequest { project: "nope".into() }).await, Code::NotFound);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_are_refused_with_their_codes_and_change_nothing() {
    let d = Daemon::start().await;
    let mut admin = d.ledger(Some(&d.tokens.admin)).await;
    let mut acc = d.ledger(Some(&d.tokens.accountant)).await;
    let mut audit = d.audit(Some(&d.tokens.auditor)).await;
    let opened = open(&mut admin, "conf-a", 800).await;
    assert_eq!((opened.commit, opened.position.as_ref().map(|p| p.seq)), (1, Some(1)));

    // Opening it again under a new event id: the project exists.
    let mut again = pb::OpenProjectRequest {
        event_id: "open-again".into(),
        project: "conf-a".into(),
        effective_date: "2026-01-01".into(),
        memo: String::new(),
        reference: None,
        opened: Some(pb::ProjectOpened {
            name: "A".into(),
            kind: pb::ProjectKind::Meetup.into(),
            fee_bps: 0,
            currency: "EUR".into(),
            advance_limit: "0".into(),
        }),
    };
    assert_code(admin.open_project(again.clone()).await, Code::AlreadyExists);
    again.project = "sponsor".into();
    assert_code(admin.open_project(again).await, Code::InvalidArgument);
    // Unknown project, overdraft, advance limit.
    assert_code(record(&mut acc, vec![contribution("u1", "no-such", "1.00", None)]).await, Code::NotFound);
    assert_code(record(&mut acc, vec![expense_paid("o1", "conf-a", "0.01")]).await, Code::FailedPrecondition);
    let advance = event(
        "adv1",
        "conf-a",
        "2026-02-01",
        Kind::AdvanceIssued(pb::AdvanceIssued { amount: money("5000.01", "USD"), purpose: "venue deposit".into() }),
    );
    let s = assert_code(record(&mut acc, vec![advance]).await, Code::FailedPrecondition);
    assert!(s.message().contains("advance limit"), "{}", s.message());
    // expected_seq: ABORTED with the current head.
    let mut expected = std::collections::BTreeMap::new();
    expected.insert("conf-a".to_owned(), 7u64);
    let s = assert_code(
        acc.record_commit(pb::RecordCommitRequest {
            events: vec![contribution("e1", "conf-a", "10.00", None)],
            expected_seq: expected.clone(),
            allow_same_receipt: false,
            dry_run: false,
        })
        .await,
        Code::Aborted,
    );
    assert!(s.message().contains("head is 1"), "{}", s.message());
    expected.insert("conf-a".to_owned(), 1);
    // dry_run: the answer the commit would get now, nothing stored; its refusals are the commit's.
    let check = |events: Vec<pb::Event>, expected_seq| pb::RecordCommitRequest {
        events,
        expected_seq,
        allow_same_receipt: false,
        dry_run: true,
    };
    let would = acc
        .record_commit(check(vec![contribution("e1", "conf-a", "10.00", None)], expected.clone()))
        .await
        .expect("a dry run answers")
        .into_inner();
    assert_eq!((would.positions[0].seq, would.receipt.is_none()), (2, true), "{would:?}");
    assert_code(
        acc.record_commit(check(vec![expense_paid("o2", "conf-a", "0.01")], Default::default())).await,
        Code::FailedPrecondition,
    );
    let mut stale = expected.clone();
    stale.insert("conf-a".to_owned(), 7);
    assert_code(
        acc.record_commit(check(vec![contribution("e1", "conf-a", "10.00", None)], stale)).await,
        Code::Aborted,
    );
    let ok = acc
        .record_commit(pb::RecordCommitRequest {
            events: vec![contribution("e1", "conf-a", "10.00", None)],
            expected_seq: expected,
            allow_same_receipt: false,
            dry_run: false,
        })
        .await
        .expect("matching expected_seq commits")
        .into_inner();
    assert_eq!(ok.positions[0].seq, 2);

    // ChangeTerms: happy path, unknown project, stale expectation.
    let terms = |project: &str, id: &str, expected_seq: Option<u64>| pb::ChangeTermsRequest {
        event_id: id.into(),
        project: project.into(),
        effective_date: "2026-02-01".into(),
        memo: String::new(),
        reference: None,
        terms: Some(pb::ProjectTermsChanged { fee_bps: Some(300), advance_limit: Some("100.00".into()) }),
        expected_seq,
    };
    let changed = admin.change_terms(terms("conf-a", "t1", Some(2))).await.expect("terms").into_inner();
    assert_eq!(changed.position.map(|p| p.seq), Some(3));
    assert_code(admin.change_terms(terms("no-such", "t2", None)).await, Code::NotFound);
    assert_code(admin.change_terms(terms("conf-a", "t3", Some(1))).await, Code::Aborted);
    let r = record(&mut acc, vec![contribution("e2", "conf-a", "100.00", None)]).await.expect("commits");
    assert_eq!(r.positions[0].seq, 4);
    // 10.00 at 8 % then, under the new terms, 100.00 at 3 %: 9.20 + 97.00.
    let b = usd_balance(&mut acc, "conf-a").await;
    assert_eq!((b.balance.as_str(), b.fees_to_date.as_str()), ("106.20", "3.80"));
    assert_eq!(head_seq(&mut audit, "conf-a").await, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expense_requests_are_filed_by_the_project_approved_by_another_and_paid() {
    let d = Daemon::start().await;
    let mut admin = d.ledger(Some(&d.tokens.admin)).await;
    let mut acc = d.ledger(Some(&d.tokens.accountant)).await;
    let mut org = d.ledger(Some(&d.tokens.project)).await;
    open(&mut admin, OWN_PROJECT, 0).await;
    record(&mut acc, vec![contribution("c1", OWN_PROJECT, "1000.00", None)]).await.expect("contribution");
    let req = event(
        "req-1",
        OWN_PROJECT,
        "2026-03-05",
        Kind::ExpenseRequested(pb::ExpenseRequested { details: Some(expense("400.00")) }),
    );
    let filed = record(&mut org, vec![req]).await.expect("the organiser files a request");
    let seq = filed.positions[0].seq;
    let pending = org
        .list_pending_expenses(pb::ListPendingExpensesRequest { project: String::new(), after: None })
        .await
        .expect("pending")
        .into_inner();
    assert_eq!(pending.expenses.len(), 1);
    assert_eq!(pending.expenses[0].requester, "organiser:olga");
    assert!(!pending.expenses[0].approved);

    let approve =
        |id: &str| event(id, OWN_PROJECT, "2026-03-06", Kind::ExpenseApproved(pb::ExpenseApproved { request: seq }));
    record(&mut acc, vec![approve("ap-1")]).await.expect("approved");
    let b = usd_balance(&mut acc, OWN_PROJECT).await;
    assert_eq!((b.balance.as_str(), b.available.as_str(), b.held.as_str()), ("1000.00", "600.00", "400.00"));
    // A second direct expense cannot spend the held money.
    assert_code(record(&mut acc, vec![expense_paid("x-1", OWN_PROJECT, "600.01")]).await, Code::FailedPrecondition);
    let pay = event(
        "pay-1",
        OWN_PROJECT,
        "2026-03-07",
        Kind::ExpensePaid(pb::ExpensePaid { request: Some(seq), details: None }),
    );
    record(&mut acc, vec![pay.clone()]).await.expect("paid");
    let b = usd_balance(&mut acc, OWN_PROJECT).await;
    assert_eq!((b.balance.as_str(), b.available.as_str(), b.held.as_str()), ("600.00", "600.00", "0.00"));
    let mut twice = pay;
    twice.event_id = "pay-2".into();
    assert_code(record(&mut acc, vec![twice]).await, Code::FailedPrecondition);
    let pending = acc
        .list_pending_expenses(pb::ListPendingExpensesRequest { project: OWN_PROJECT.into(), after: None })
        .await
        .expect("pending")
        .into_inner();
    assert!(pending.expenses.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_reflection_are_served_without_a_token() {
    let d = Daemon::start().await;
    let wanted = ["fiscus.v1.Ledger", "fiscus.v1.Audit", "grpc.health.v1.Health"];

    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    let mut client = ServerReflectionClient::new(d.channel().await);
    let ask = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut answers =
        client.server_reflection_info(tokio_stream::iter(vec![ask])).await.expect("reflection v1").into_inner();
    let answer = answers.message().await.expect("stream").expect("one answer");
    let Some(MessageResponse::ListServicesResponse(list)) = answer.message_response else {
        panic!("a service list: {answer:?}")
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for w in wanted {
        assert!(names.iter().any(|n| n == w), "v1: {w} in {names:?}");
    }

    // v1alpha, which Python's grpcio-reflection and older generic tools speak, lists the same.
    use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient as AlphaClient;
    use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest as AlphaRequest;
    use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse as AlphaResponse;
    let mut client = AlphaClient::new(d.channel().await);
    let ask = tonic_reflection::pb::v1alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(AlphaRequest::ListServices(String::new())),
    };
    let mut answers =
        client.server_reflection_info(tokio_stream::iter(vec![ask])).await.expect("reflection v1alpha").into_inner();
    let answer = answers.message().await.expect("stream").expect("one answer");
    let Some(AlphaResponse::ListServicesResponse(list)) = answer.message_response else {
        panic!("a service list: {answer:?}")
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for w in wanted {
        assert!(names.iter().any(|n| n == w), "v1alpha: {w} in {names:?}");
    }
}
