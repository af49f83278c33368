//! Auth: every RPC with no token, a bad token, each role, and a project token on another project.

use fiscus_proto::pb;
use fiscus_proto::pb::event::Kind;
use tonic::Code;

use crate::support::*;

/// Every RPC of the contract, aimed at `OTHER` (a project the project token may not read) unless
/// the name says `Own`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rpc {
    OpenProject,
    ChangeTerms,
    RecordContribution,
    RecordOwnExpenseRequest,
    GetBalance,
    GetOwnBalance,
    GetStatement,
    ListEvents,
    ListProjects,
    GetTrialBalance,
    ListPendingExpenses,
    Subscribe,
    GetHead,
    Verify,
    ExportChain,
}

const ALL: [Rpc; 15] = [
    Rpc::OpenProject,
    Rpc::ChangeTerms,
    Rpc::RecordContribution,
    Rpc::RecordOwnExpenseRequest,
    Rpc::GetBalance,
    Rpc::GetOwnBalance,
    Rpc::GetStatement,
    Rpc::ListEvents,
    Rpc::ListProjects,
    Rpc::GetTrialBalance,
    Rpc::ListPendingExpenses,
    Rpc::Subscribe,
    Rpc::GetHead,
    Rpc::Verify,
    Rpc::ExportChain,
];

const OTHER: &str = "conf-b";

/// The code a call ends with (`Ok` when it succeeded).
async fn outcome(d: &Daemon, token: Option<&str>, rpc: Rpc, n: usize) -> Code {
    let mut l = d.ledger(token).await;
    let mut a = d.audit(token).await;
    let result = match rpc {
        Rpc::OpenProject => l
            .open_project(pb::OpenProjectRequest {
                event_id: format!("open-new-{n}"),
                project: format!("new-{n}"),
                effective_date: "2026-01-01".into(),
                memo: String::new(),
                reference: None,
                opened: Some(pb::ProjectOpened {
                    name: "New".into(),
                    kind: pb::ProjectKind::Meetup.into(),
                    fee_bps: 0,
                    currency: "EUR".into(),
                    advance_limit: "0".into(),
                }),
            })
            .await
            .map(|_| ()),
        Rpc::ChangeTerms => l
            .change_terms(pb::ChangeTermsRequest {
                event_id: format!("terms-{n}"),
                project: OTHER.into(),
                effective_date: "2026-02-01".into(),
                memo: String::new(),
                reference: None,
                terms: Some(pb::ProjectTermsChanged { fee_bps: Some(100), advance_limit: None }),
                expected_seq: None,
            })
            .await
            .map(|_| ()),
        Rpc::RecordContribution => {
            record(&mut l, vec![contribution(&format!("c-{n}"), OTHER, "10.00", None)]).await.map(|_| ())
        }
        Rpc::RecordOwnExpenseRequest => {
            let e = event(
                &format!("r-{n}"),
                OWN_PROJECT,
                "2026-03-03",
                Kind::ExpenseRequested(pb::ExpenseRequested { details: Some(expense("10.00")) }),
            );
            record(&mut l, vec![e]).await.map(|_| ())
        }
        Rpc::GetBalance => {
            l.get_balance(pb::GetBalanceRequest { project: OTHER.into(), currency: None }).await.map(|_| ())
        }
        Rpc::GetOwnBalance => {
            l.get_balance(pb::GetBalanceRequest { project: OWN_PROJECT.into(), currency: None }).await.map(|_| ())
        }
        Rpc::GetStatement => l
            .get_statement(pb::GetStatementRequest {
                project: OTHER.into(),
                from_date: "2026-01-01".into(),
                to_date: "2026-12-31".into(),
                currency: None,
            })
            .await
            .map(|_| ()),
        Rpc::ListEvents => {
            l.list_events(pb::ListEventsRequest { project: OTHER.into(), after_seq: 0, page_size: 0 }).await.map(|_| ())
        }
        Rpc::ListProjects => l.list_projects(pb::ListProjectsRequest::default()).await.map(|_| ()),
        Rpc::GetTrialBalance => l.get_trial_balance(pb::GetTrialBalanceRequest {}).await.map(|_| ()),
        Rpc::ListPendingExpenses => {
            l.list_pending_expenses(pb::ListPendingExpensesRequest { project: OTHER.into() }).await.map(|_| ())
        }
        Rpc::Subscribe => {
            l.subscribe(pb::SubscribeRequest { after_commit: 0, project: OTHER.into() }).await.map(|_| ())
        }
        Rpc::GetHead => a.get_head(pb::GetHeadRequest { project: OTHER.into() }).await.map(|_| ()),
        Rpc::Verify => a.verify(pb::VerifyRequest { project: String::new() }).await.map(|_| ()),
        Rpc::ExportChain => match a.export_chain(pb::ExportChainRequest { project: OTHER.into(), from_seq: 0 }).await {
            Ok(s) => {
                let mut s = s.into_inner();
                s.message().await.map(|_| ())
            }
            Err(e) => Err(e),
        },
    };
    match result {
        Ok(()) => Code::Ok,
        Err(s) => s.code(),
    }
}

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
async fn every_rpc_without_a_token_or_with_a_bad_one_is_unauthenticated() {
    let d = setup().await;
    let wrong = "fiscus_0000000000000000000000000000000000000000";
    for (n, rpc) in ALL.into_iter().enumerate() {
        assert_eq!(outcome(&d, None, rpc, n).await, Code::Unauthenticated, "{rpc:?} without a token");
        assert_eq!(outcome(&d, Some(wrong), rpc, n).await, Code::Unauthenticated, "{rpc:?} with a bad token");
        assert_eq!(outcome(&d, Some(""), rpc, n).await, Code::Unauthenticated, "{rpc:?} with an empty token");
    }
    let mut audit = d.audit(Some(&d.tokens.auditor)).await;
    assert_eq!(head_seq(&mut audit, OTHER).await, 2, "nothing was written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_may_make_exactly_its_calls() {
    use Code::{Ok as OK, PermissionDenied as NO};
    let d = setup().await;
    let t = d.tokens.clone();
    // admin, accountant, auditor, project:conf-a
    let table: [(Rpc, [Code; 4]); 15] = [
        (Rpc::OpenProject, [OK, NO, NO, NO]),
        (Rpc::ChangeTerms, [OK, NO, NO, NO]),
        (Rpc::RecordContribution, [OK, OK, NO, NO]),
        (Rpc::RecordOwnExpenseRequest, [OK, OK, NO, OK]),
        (Rpc::GetBalance, [OK, OK, OK, NO]),
        (Rpc::GetOwnBalance, [OK, OK, OK, OK]),
        (Rpc::GetStatement, [OK, OK, OK, NO]),
        (Rpc::ListEvents, [OK, OK, OK, NO]),
        (Rpc::ListProjects, [OK, OK, OK, OK]),
        (Rpc::GetTrialBalance, [OK, OK, OK, NO]),
        (Rpc::ListPendingExpenses, [OK, OK, OK, NO]),
        (Rpc::Subscribe, [OK, OK, OK, NO]),
        (Rpc::GetHead, [OK, OK, OK, NO]),
        (Rpc::Verify, [OK, NO, OK, NO]),
        (Rpc::ExportChain, [OK, OK, OK, NO]),
    ];
    assert_eq!(table.len(), ALL.len());
    let mut n = 100;
    for (rpc, expected) in table {
        for (role, (token, want)) in
            [&t.admin, &t.accountant, &t.auditor, &t.project].into_iter().zip(expected).enumerate()
        {
            n += 1;
            let got = outcome(&d, Some(token), rpc, n).await;
            assert_eq!(got, want, "{rpc:?} by role #{role}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_project_token_learns_nothing_about_other_projects() {
    let d = setup().await;
    let mut org = d.ledger(Some(&d.tokens.project)).await;
    let mut org_audit = d.audit(Some(&d.tokens.project)).await;
    for project in [OTHER, "does-not-exist", "Not A Valid Id"] {
        let s = assert_code(
            org.get_balance(pb::GetBalanceRequest { project: project.into(), currency: None }).await,
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
