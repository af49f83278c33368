//! Auth beyond the matrix (`auth_matrix.rs`: every RPC by every kind of caller): what a project
//! token sees and may record, and that no answer to it depends on another project.

use fiscus_proto::pb;
use fiscus_proto::pb::event::Kind;
use tonic::Code;

use crate::support::*;

const OTHER: &str = "conf-b";

async fn setup() -> Daemon {
    let d = Daemon::start().await;
    let mut admin = d.ledger(Some(&d.tokens.admin)).await;
    open(&mut admin, OWN_PROJECT, 0).await;
    open(&mut admin, OTHER, 0).await;
    record(&mut admin, vec![contribution("seed-a", OWN_PROJECT, "100.00", None)]).await.expect("seed");
    record(&mut admin, vec![contribution("seed-b", OTHER, "100.00", None)]).await.expect("seed");
    d
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_project_token_learns_nothing_about_other_projects() {
    let d = setup().await;
    let mut org = d.ledger(Some(&d.tokens.project)).await;
    let mut org_audit = d.audit(Some(&d.tokens.project)).await;
    for project in [OTHER, "does-not-exist", "Not A Valid Id"] {
        let s = assert_code(
            org.get_balance(pb::GetBalanceRequest { project: project.into(), currency: None, as_of: None }).await,
            Code::PermissionDenied,
        );
        assert!(!s.message().contains("unknown"), "{}", s.message());
        assert_code(org_audit.get_head(pb::GetHeadRequest { project: project.into() }).await, Code::PermissionDenied);
        assert_code(
            org.list_events(pb::ListEventsRequest { project: project.into(), after_seq: 0, page_size: 0 }).await,
            Code::PermissionDenied,
        );
    }
    // Its own reads work, and see only its own project.
    let projects = org.list_projects(pb::ListProjectsRequest::default()).await.expect("projects").into_inner();
    assert_eq!(projects.projects.iter().map(|p| p.project.as_str()).collect::<Vec<_>>(), [OWN_PROJECT]);
    let head = org_audit.get_head(pb::GetHeadRequest { project: String::new() }).await.expect("head").into_inner();
    assert_eq!(head.projects.iter().map(|p| p.project.as_str()).collect::<Vec<_>>(), [OWN_PROJECT]);
    // It may file an expense request for its own project only, and nothing else.
    let other_request = event(
        "r-other",
        OTHER,
        "2026-03-03",
        Kind::ExpenseRequested(pb::ExpenseRequested { details: Some(expense("10.00")) }),
    );
    assert_code(record(&mut org, vec![other_request]).await, Code::PermissionDenied);
    assert_code(record(&mut org, vec![contribution("c-own", OWN_PROJECT, "1.00", None)]).await, Code::PermissionDenied);
    // The actor of what it records is its token's name.
    let own = event(
        "r-own",
        OWN_PROJECT,
        "2026-03-03",
        Kind::ExpenseRequested(pb::ExpenseRequested { details: Some(expense("10.00")) }),
    );
    let r = record(&mut org, vec![own]).await.expect("own request");
    let page = org
        .list_events(pb::ListEventsRequest {
            project: OWN_PROJECT.into(),
            after_seq: r.positions[0].seq - 1,
            page_size: 1,
        })
        .await
        .expect("events")
        .into_inner();
    assert_eq!(page.events[0].actor, "organiser:olga");
    // Nobody approves their own request: the same principal is refused, another one is not.
    let approve = |id: &str| {
        event(id, OWN_PROJECT, "2026-03-04", Kind::ExpenseApproved(pb::ExpenseApproved { request: r.positions[0].seq }))
    };
    let mut alice = d.ledger(Some(&d.tokens.accountant)).await;
    let mut bob = d.ledger(Some(&d.tokens.accountant2)).await;
    let filed_by_alice = event(
        "r-alice",
        OWN_PROJECT,
        "2026-03-03",
        Kind::ExpenseRequested(pb::ExpenseRequested { details: Some(expense("5.00")) }),
    );
    let by_alice = record(&mut alice, vec![filed_by_alice]).await.expect("filed");
    let self_approval = event(
        "ap-self",
        OWN_PROJECT,
        "2026-03-04",
        Kind::ExpenseApproved(pb::ExpenseApproved { request: by_alice.positions[0].seq }),
    );
    assert_code(record(&mut alice, vec![self_approval.clone()]).await, Code::FailedPrecondition);
    record(&mut bob, vec![self_approval]).await.expect("another accountant approves");
    record(&mut alice, vec![approve("ap-org")]).await.expect("an accountant approves the organiser's request");
}

/// A project that exists, has events, and uses the event ids the project token will try.
const NEIGHBOUR: &str = "conf-b";
/// A project that was never opened.
const GHOST: &str = "conf-ghost";
/// Event ids that `NEIGHBOUR` holds (`setup` recorded `seed-b`; `leak_setup` adds `bank-7`).
const NEIGHBOUR_IDS: [&str; 2] = ["seed-b", "bank-7"];

/// One of every event kind (its fields mostly empty: what is checked is who may record it where).
fn every_kind() -> Vec<Kind> {
    vec![
        Kind::ProjectOpened(pb::ProjectOpened::default()),
        Kind::ProjectTermsChanged(pb::ProjectTermsChanged { fee_bps: Some(1), advance_limit: None }),
        Kind::ContributionReceived(pb::ContributionReceived {
            amount: money("1.00", "USD"),
            from: "x".into(),
            source: pb::ContributionSource::Donation.into(),
            ..Default::default()
        }),
        Kind::PledgeRecorded(pb::PledgeRecorded::default()),
        Kind::PledgeFulfilled(pb::PledgeFulfilled { pledge: 2, ..Default::default() }),
        Kind::PledgeCancelled(pb::PledgeCancelled { pledge: 2, amount: None }),
        Kind::GrantAwarded(pb::GrantAwarded::default()),
        Kind::AdvanceIssued(pb::AdvanceIssued::default()),
        Kind::AdvanceRepaid(pb::AdvanceRepaid::default()),
        Kind::ExpensePaid(pb::ExpensePaid { request: Some(2), details: None }),
        Kind::ExpenseRequested(pb::ExpenseRequested { details: Some(expense("1.00")) }),
        Kind::ExpenseApproved(pb::ExpenseApproved { request: 2 }),
        Kind::ExpenseRejected(pb::ExpenseRejected { request: 2, reason: "no".into() }),
        Kind::RefundIssued(pb::RefundIssued { contribution: 2, amount: money("1.00", "USD"), ..Default::default() }),
        Kind::TransferSent(pb::TransferSent { amount: money("1.00", "USD"), to: OWN_PROJECT.into() }),
        Kind::TransferReceived(pb::TransferReceived { amount: money("1.00", "USD"), from: OWN_PROJECT.into() }),
        Kind::FundsReleased(pb::FundsReleased::default()),
        Kind::CurrencyConverted(pb::CurrencyConverted::default()),
        Kind::OpeningBalance(pb::OpeningBalance::default()),
        Kind::EventReversed(Box::new(pb::EventReversed { target_seq: 2, reason: "x".into(), target: None })),
        Kind::ProjectClosed(pb::ProjectClosed {}),
        Kind::PeriodClosed(pb::PeriodClosed { through: "2026-01-31".into() }),
    ]
}

/// A call's answer as text, with the foreign project's name replaced, so that two answers compare
/// equal exactly when they tell the caller the same thing.
fn answer<T: std::fmt::Debug>(result: Result<T, tonic::Status>, foreign: &str) -> String {
    let text = match result {
        Ok(v) => format!("OK {v:?}"),
        Err(s) => format!("{:?} {}", s.code(), s.message()),
    };
    text.replace(foreign, "<foreign>")
}

/// Every request a project token can make that names another project, as an answer: each read,
/// each write RPC, each event kind placed in that project, each event kind of its own project naming
/// that project, and `expected_seq` keyed by it. `event_id` is the id the writes use.
async fn foreign_answers(d: &Daemon, foreign: &str, event_id: &str) -> Vec<(String, String)> {
    let token = Some(d.tokens.project.as_str());
    let mut l = d.ledger(token).await;
    let mut a = d.audit(token).await;
    let mut out = Vec::new();
    let f = || foreign.to_owned();
    let mut push = |what: &str, text: String| out.push((what.to_owned(), text));
    push(
        "GetBalance",
        answer(l.get_balance(pb::GetBalanceRequest { project: f(), currency: None, as_of: None }).await, foreign),
    );
    let statement = pb::GetStatementRequest {
        page_token: String::new(),
        project: f(),
        from_date: "2026-01-01".into(),
        to_date: "2026-12-31".into(),
        currency: None,
    };
    push("GetStatement", answer(l.get_statement(statement).await, foreign));
    let page = pb::ListEventsRequest { project: f(), after_seq: 0, page_size: 0 };
    push("ListEvents", answer(l.list_events(page).await, foreign));
    push(
        "ListPendingExpenses",
        answer(l.list_pending_expenses(pb::ListPendingExpensesRequest { project: f(), after: None }).await, foreign),
    );
    let subscribed = match l.subscribe(pb::SubscribeRequest { after_commit: 0, project: f() }).await {
        Ok(s) => s.into_inner().message().await.map(|_| ()),
        Err(e) => Err(e),
    };
    push("Subscribe", answer(subscribed, foreign));
    push("GetHead", answer(a.get_head(pb::GetHeadRequest { project: f() }).await, foreign));
    push("Verify", answer(a.verify(pb::VerifyRequest { project: f() }).await, foreign));
    let exported = match a.export_chain(pb::ExportChainRequest { project: f(), from_seq: 0 }).await {
        Ok(s) => s.into_inner().message().await.map(|_| ()),
        Err(e) => Err(e),
    };
    push("ExportChain", answer(exported, foreign));
    let opened = pb::OpenProjectRequest {
        event_id: event_id.into(),
        project: f(),
        effective_date: "2026-01-01".into(),
        opened: Some(pb::ProjectOpened {
            name: "X".into(),
            kind: pb::ProjectKind::Meetup.into(),
            currency: "USD".into(),
            advance_limit: "0".into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    push("OpenProject", answer(l.open_project(opened).await, foreign));
    let terms = pb::ChangeTermsRequest {
        event_id: event_id.into(),
        project: f(),
        effective_date: "2026-02-01".into(),
        terms: Some(pb::ProjectTermsChanged { fee_bps: Some(1), advance_limit: None }),
        ..Default::default()
    };
    push("ChangeTerms", answer(l.change_terms(terms).await, foreign));
    for kind in every_kind() {
        let name = format!("{kind:?}").split('(').next().unwrap_or_default().to_owned();
        let there = event(event_id, foreign, "2026-03-03", kind.clone());
        push(&format!("RecordCommit {name} in it"), answer(record(&mut l, vec![there.clone()]).await, foreign));
        // after a valid event of its own
        let own = event(
            "own-first",
            OWN_PROJECT,
            "2026-03-03",
            Kind::ExpenseRequested(pb::ExpenseRequested { details: Some(expense("1.00")) }),
        );
        push(&format!("RecordCommit own, then {name} in it"), answer(record(&mut l, vec![own, there]).await, foreign));
        // its own project's event, naming the other project where a kind names one
        let named = match kind {
            Kind::TransferSent(k) => Kind::TransferSent(pb::TransferSent { to: f(), ..k }),
            Kind::TransferReceived(k) => Kind::TransferReceived(pb::TransferReceived { from: f(), ..k }),
            other => other,
        };
        let mine = event(event_id, OWN_PROJECT, "2026-03-03", named);
        if !matches!(mine.kind, Some(Kind::ExpenseRequested(_))) {
            push(
                &format!("RecordCommit {name} in its own, naming it"),
                answer(record(&mut l, vec![mine]).await, foreign),
            );
        }
    }
    // an expense request of its own, with expected_seq keyed by the other project
    for seq in [0, 1, 2, 99] {
        let own = event(
            event_id,
            OWN_PROJECT,
            "2026-03-03",
            Kind::ExpenseRequested(pb::ExpenseRequested { details: Some(expense("1.00")) }),
        );
        let req = pb::RecordCommitRequest {
            events: vec![own],
            expected_seq: [(f(), seq)].into_iter().collect(),
            allow_same_receipt: false,
            dry_run: false,
        };
        push(&format!("RecordCommit expected_seq[it] = {seq}"), answer(l.record_commit(req).await, foreign));
    }
    out
}

async fn leak_setup() -> Daemon {
    let d = setup().await;
    let mut admin = d.ledger(Some(&d.tokens.admin)).await;
    let e = event(
        NEIGHBOUR_IDS[1],
        NEIGHBOUR,
        "2026-03-03",
        Kind::ExpenseRequested(pb::ExpenseRequested { details: Some(expense("3.00")) }),
    );
    let r = record(&mut admin, vec![e]).await.expect("the neighbour's request");
    assert_eq!(r.positions[0].seq, 3);
    d
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_to_a_project_token_is_the_same_whether_another_project_exists_or_not() {
    let d = leak_setup().await;
    let mut audit = d.audit(Some(&d.tokens.auditor)).await;
    let before = (head_seq(&mut audit, OWN_PROJECT).await, head_seq(&mut audit, NEIGHBOUR).await);
    // The neighbour exists and holds the ids; the ghost was never opened; the third is no id at all.
    let existing = foreign_answers(&d, NEIGHBOUR, NEIGHBOUR_IDS[1]).await;
    let missing = foreign_answers(&d, GHOST, "never-used-7").await;
    let malformed = foreign_answers(&d, "No Such_Id", NEIGHBOUR_IDS[0]).await;
    assert!(existing.len() > 60, "{} requests", existing.len());
    for ((what, a), ((_, b), (_, c))) in existing.iter().zip(missing.iter().zip(&malformed)) {
        assert_eq!(a, b, "{what}: an existing project is answered unlike a missing one");
        assert_eq!(a, c, "{what}: an existing project is answered unlike a malformed id");
        assert!(a.starts_with("PermissionDenied "), "{what}: {a}");
        assert!(!a.contains(NEIGHBOUR) && !a.contains("seed-b") && !a.contains("bank-7"), "{what}: {a}");
    }
    // Nothing was written.
    let after = (head_seq(&mut audit, OWN_PROJECT).await, head_seq(&mut audit, NEIGHBOUR).await);
    assert_eq!(before, after);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_ids_are_scoped_per_project_so_another_projects_ids_are_no_oracle() {
    let d = leak_setup().await;
    let mut org = d.ledger(Some(&d.tokens.project)).await;
    let request = |id: &str, amount: &str| {
        event(
            id,
            OWN_PROJECT,
            "2026-03-03",
            Kind::ExpenseRequested(pb::ExpenseRequested { details: Some(expense(amount)) }),
        )
    };
    // An id the neighbour holds and an id nobody holds are answered alike: both are new here.
    let mut answers = Vec::new();
    for id in [NEIGHBOUR_IDS[1], "fresh-7", NEIGHBOUR_IDS[0], "fresh-8"] {
        let first = record(&mut org, vec![request(id, "2.00")]).await.unwrap_or_else(|s| panic!("{id}: {s:?}"));
        assert!(!first.duplicate, "{id}");
        assert_eq!(first.positions.len(), 1);
        assert_eq!(first.positions[0].project, OWN_PROJECT, "{id}");
        let again = record(&mut org, vec![request(id, "2.00")]).await.expect("a retry");
        assert!(again.duplicate, "{id}");
        assert_eq!(again.positions, first.positions);
        // other content under its own id: refused, naming only its own project
        let s = assert_code(record(&mut org, vec![request(id, "9.00")]).await, Code::AlreadyExists);
        assert!(s.message().contains(OWN_PROJECT) && !s.message().contains(NEIGHBOUR), "{}", s.message());
        answers.push(s.message().replace(&first.positions[0].seq.to_string(), "<seq>").replace(id, "<id>"));
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:?}");
    // The accountant sees both projects hold the id, each at its own place.
    let mut alice = d.ledger(Some(&d.tokens.accountant)).await;
    let retry = event(
        NEIGHBOUR_IDS[1],
        NEIGHBOUR,
        "2026-03-03",
        Kind::ExpenseRequested(pb::ExpenseRequested { details: Some(expense("3.00")) }),
    );
    let r = record(&mut alice, vec![retry]).await.expect("the neighbour's retry");
    assert!(r.duplicate);
    assert_eq!((r.positions[0].project.as_str(), r.positions[0].seq), (NEIGHBOUR, 3));
    // One commit may use one id in two projects (a transfer's two sides, say), not twice in one.
    let twice =
        vec![contribution("same-id", OWN_PROJECT, "1.00", None), contribution("same-id", NEIGHBOUR, "1.00", None)];
    let r = record(&mut alice, twice.clone()).await.expect("one id in two projects");
    assert_eq!(r.positions.len(), 2);
    assert!(record(&mut alice, twice).await.expect("retried").duplicate);
    let s = assert_code(
        record(
            &mut alice,
            vec![contribution("dup-id", OWN_PROJECT, "1.00", None), contribution("dup-id", OWN_PROJECT, "2.00", None)],
        )
        .await,
        Code::InvalidArgument,
    );
    assert!(s.message().contains("events[1].event_id"), "{}", s.message());
}

#[test]
fn a_role_must_name_a_real_project() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("tokens.toml");
    for role in ["project:sponsor", "project:", "project:Bad_Id", "project:-x"] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_fiscusd"))
            .args(["token", "add", "--tokens"])
            .arg(&file)
            .args(["--role", role, "--name", "x"])
            .output()
            .expect("fiscusd token add runs");
        assert!(!out.status.success(), "{role} was accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(role), "{role}: {err}");
    }
    assert!(!file.exists() || !std::fs::read_to_string(&file).unwrap_or_default().contains("sponsor"));
}
