//! The auth matrix: every RPC of the `fiscus.v1` contract, called by every kind of caller, with the
//! exact status each must get.
//!
//! Callers (columns): no `authorization` header; malformed headers (a valid admin token with another
//! scheme or none, `Bearer` alone); an unknown token; each role (admin, accountant, auditor) on
//! another project than the project token's; the project token on its own project and on another.
//! Rows are keyed by the method's full name, as the descriptor set of `fiscus-proto` names it, and a
//! variant where one RPC has several kinds of request (a contribution and an expense request through
//! `RecordCommit`; a named project and "every project"). The test first compares the descriptor's
//! methods with the table's keys: an RPC added to the contract without a row fails it. A call that is
//! not answered `OK` must change nothing: the commit head is the same after it.

use std::collections::BTreeSet;

use fiscus_proto::pb;
use fiscus_proto::pb::audit_client::AuditClient;
use fiscus_proto::pb::event::Kind;
use fiscus_proto::pb::ledger_client::LedgerClient;
use prost::Message;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::service::Interceptor;
use tonic::transport::Channel;
use tonic::{Code, Request, Status};

use crate::support::*;

/// The project the other callers are aimed at: not the project token's.
const OTHER: &str = "conf-b";

/// Sets the `authorization` header to exactly the given value (or sends none).
#[derive(Clone)]
struct Header(Option<MetadataValue<Ascii>>);

impl Interceptor for Header {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(v) = &self.0 {
            request.metadata_mut().insert("authorization", v.clone());
        }
        Ok(request)
    }
}

/// Both services' clients sending one `authorization` header.
struct Caller {
    ledger: LedgerClient<InterceptedService<Channel, Header>>,
    audit: AuditClient<InterceptedService<Channel, Header>>,
}

impl Caller {
    fn new(channel: &Channel, header: Option<&str>) -> Caller {
        let header = Header(header.map(|h| h.parse().expect("an ASCII header value")));
        Caller {
            ledger: LedgerClient::with_interceptor(channel.clone(), header.clone()),
            audit: AuditClient::with_interceptor(channel.clone(), header),
        }
    }
}

/// The kinds of caller, in the table's column order.
const COLUMNS: [&str; 8] = [
    "no token",
    "malformed header",
    "unknown token",
    "admin",
    "accountant",
    "auditor",
    "project token, own project",
    "project token, other project",
];

/// One request of an RPC, aimed at `project` (where it names one); `n` makes event ids unique.
#[derive(Clone, Copy, Debug)]
enum Call {
    OpenProject,
    ChangeTerms,
    RecordContribution,
    RecordExpenseRequest,
    RecordProjectOpened,
    GetBalance,
    GetStatement,
    ListEvents,
    ListProjects,
    GetTrialBalance,
    ListPendingExpenses,
    ListPendingExpensesOfAll,
    ListOpenPledges,
    ListOpenPledgesOfAll,
    Subscribe,
    SubscribeToAll,
    GetHead,
    GetHeadOfAll,
    Verify,
    VerifyAll,
    ExportChain,
    GetCheckpoint,
    GetInclusionProof,
    GetConsistencyProof,
    GetHeadProof,
    ListCommitEntries,
    ListCheckpoints,
}

const U: Code = Code::Unauthenticated;
const OK: Code = Code::Ok;
const NO: Code = Code::PermissionDenied;
/// A project's token must name its project where a listing of every project would have no gaps
/// (Subscribe).
const NAME: Code = Code::InvalidArgument;

/// The matrix: (method, variant) → expected code per column of [`COLUMNS`].
const TABLE: &[(&str, Call, [Code; 8])] = &[
    ("fiscus.v1.Ledger/OpenProject", Call::OpenProject, [U, U, U, OK, NO, NO, NO, NO]),
    ("fiscus.v1.Ledger/ChangeTerms", Call::ChangeTerms, [U, U, U, OK, NO, NO, NO, NO]),
    ("fiscus.v1.Ledger/RecordCommit", Call::RecordContribution, [U, U, U, OK, OK, NO, NO, NO]),
    ("fiscus.v1.Ledger/RecordCommit", Call::RecordExpenseRequest, [U, U, U, OK, OK, NO, OK, NO]),
    ("fiscus.v1.Ledger/RecordCommit", Call::RecordProjectOpened, [U, U, U, OK, NO, NO, NO, NO]),
    ("fiscus.v1.Ledger/GetBalance", Call::GetBalance, [U, U, U, OK, OK, OK, OK, NO]),
    ("fiscus.v1.Ledger/GetStatement", Call::GetStatement, [U, U, U, OK, OK, OK, OK, NO]),
    ("fiscus.v1.Ledger/ListEvents", Call::ListEvents, [U, U, U, OK, OK, OK, OK, NO]),
    ("fiscus.v1.Ledger/ListProjects", Call::ListProjects, [U, U, U, OK, OK, OK, OK, OK]),
    ("fiscus.v1.Ledger/GetTrialBalance", Call::GetTrialBalance, [U, U, U, OK, OK, OK, NO, NO]),
    ("fiscus.v1.Ledger/ListPendingExpenses", Call::ListPendingExpenses, [U, U, U, OK, OK, OK, OK, NO]),
    ("fiscus.v1.Ledger/ListPendingExpenses", Call::ListPendingExpensesOfAll, [U, U, U, OK, OK, OK, OK, OK]),
    ("fiscus.v1.Ledger/ListOpenPledges", Call::ListOpenPledges, [U, U, U, OK, OK, OK, OK, NO]),
    ("fiscus.v1.Ledger/ListOpenPledges", Call::ListOpenPledgesOfAll, [U, U, U, OK, OK, OK, OK, OK]),
    ("fiscus.v1.Ledger/Subscribe", Call::Subscribe, [U, U, U, OK, OK, OK, OK, NO]),
    ("fiscus.v1.Ledger/Subscribe", Call::SubscribeToAll, [U, U, U, OK, OK, OK, NAME, NAME]),
    ("fiscus.v1.Audit/GetHead", Call::GetHead, [U, U, U, OK, OK, OK, OK, NO]),
    ("fiscus.v1.Audit/GetHead", Call::GetHeadOfAll, [U, U, U, OK, OK, OK, OK, OK]),
    ("fiscus.v1.Audit/Verify", Call::Verify, [U, U, U, OK, NO, OK, NO, NO]),
    ("fiscus.v1.Audit/Verify", Call::VerifyAll, [U, U, U, OK, NO, OK, NO, NO]),
    ("fiscus.v1.Audit/ExportChain", Call::ExportChain, [U, U, U, OK, OK, OK, OK, NO]),
    // Checkpoints and log proofs hold only hashes and counts: every role.
    ("fiscus.v1.Audit/GetCheckpoint", Call::GetCheckpoint, [U, U, U, OK, OK, OK, OK, OK]),
    ("fiscus.v1.Audit/GetInclusionProof", Call::GetInclusionProof, [U, U, U, OK, OK, OK, OK, OK]),
    ("fiscus.v1.Audit/GetConsistencyProof", Call::GetConsistencyProof, [U, U, U, OK, OK, OK, OK, OK]),
    ("fiscus.v1.Audit/GetHeadProof", Call::GetHeadProof, [U, U, U, OK, OK, OK, OK, NO]),
    // A commit entry lists every project's records: not for a project's token.
    ("fiscus.v1.Audit/ListCommitEntries", Call::ListCommitEntries, [U, U, U, OK, OK, OK, NO, NO]),
    // Stored checkpoints hold only sizes and roots: every role.
    ("fiscus.v1.Audit/ListCheckpoints", Call::ListCheckpoints, [U, U, U, OK, OK, OK, OK, OK]),
];

/// Every method of every service in the contract's descriptor set, as `package.Service/Method`.
fn contract_methods() -> BTreeSet<String> {
    let set = prost_types::FileDescriptorSet::decode(fiscus_proto::FILE_DESCRIPTOR_SET).expect("the descriptor set");
    let mut methods = BTreeSet::new();
    for file in &set.file {
        for service in &file.service {
            for method in &service.method {
                methods.insert(format!("{}.{}/{}", file.package(), service.name(), method.name()));
            }
        }
    }
    methods
}

/// The first answer of a server stream, as a result.
async fn first<T>(answer: Result<tonic::Response<tonic::Streaming<T>>, Status>) -> Result<(), Status> {
    let mut stream = answer?.into_inner();
    match stream.message().await? {
        Some(_) => Ok(()),
        None => Err(Status::internal("the stream ended without a message")),
    }
}

/// Makes `call` aimed at `project` and returns its status code.
async fn outcome(c: &mut Caller, call: Call, project: &str, n: usize) -> Code {
    let p = project.to_owned();
    let result = match call {
        Call::OpenProject => c
            .ledger
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
            .map(drop),
        Call::ChangeTerms => c
            .ledger
            .change_terms(pb::ChangeTermsRequest {
                event_id: format!("terms-{n}"),
                project: p,
                effective_date: "2026-02-01".into(),
                memo: String::new(),
                reference: None,
                terms: Some(pb::ProjectTermsChanged { fee_bps: Some(100), advance_limit: None }),
                expected_seq: None,
            })
            .await
            .map(drop),
        Call::RecordContribution => commit(c, vec![contribution(&format!("c-{n}"), &p, "10.00", None)]).await,
        Call::RecordExpenseRequest => {
            let e = event(
                &format!("r-{n}"),
                &p,
                "2026-03-03",
                Kind::ExpenseRequested(pb::ExpenseRequested { details: Some(expense("10.00")) }),
            );
            commit(c, vec![e]).await
        }
        Call::RecordProjectOpened => {
            let e = event(
                &format!("open-rec-{n}"),
                &format!("rec-{n}"),
                "2026-01-01",
                Kind::ProjectOpened(pb::ProjectOpened {
                    name: "Recorded".into(),
                    kind: pb::ProjectKind::Workshop.into(),
                    fee_bps: 0,
                    currency: "USD".into(),
                    advance_limit: "0".into(),
                }),
            );
            commit(c, vec![e]).await
        }
        Call::GetBalance => {
            c.ledger.get_balance(pb::GetBalanceRequest { project: p, currency: None, as_of: None }).await.map(drop)
        }
        Call::GetStatement => c
            .ledger
            .get_statement(pb::GetStatementRequest {
                page_token: String::new(),
                project: p,
                from_date: "2026-01-01".into(),
                to_date: "2026-12-31".into(),
                currency: None,
            })
            .await
            .map(drop),
        Call::ListEvents => {
            c.ledger.list_events(pb::ListEventsRequest { project: p, after_seq: 0, page_size: 0 }).await.map(drop)
        }
        Call::ListProjects => c.ledger.list_projects(pb::ListProjectsRequest::default()).await.map(drop),
        Call::GetTrialBalance => c.ledger.get_trial_balance(pb::GetTrialBalanceRequest::default()).await.map(drop),
        Call::ListPendingExpenses => {
            c.ledger.list_pending_expenses(pb::ListPendingExpensesRequest { project: p, after: None }).await.map(drop)
        }
        Call::ListOpenPledges => c
            .ledger
            .list_open_pledges(pb::ListOpenPledgesRequest { project: p, as_of: None, after: None })
            .await
            .map(drop),
        Call::ListOpenPledgesOfAll => c.ledger.list_open_pledges(pb::ListOpenPledgesRequest::default()).await.map(drop),
        Call::ListPendingExpensesOfAll => c
            .ledger
            .list_pending_expenses(pb::ListPendingExpensesRequest { project: String::new(), after: None })
            .await
            .map(drop),
        Call::Subscribe => first(c.ledger.subscribe(pb::SubscribeRequest { after_commit: 0, project: p }).await).await,
        Call::SubscribeToAll => {
            first(c.ledger.subscribe(pb::SubscribeRequest { after_commit: 0, project: String::new() }).await).await
        }
        Call::GetHead => c.audit.get_head(pb::GetHeadRequest { project: p }).await.map(drop),
        Call::GetHeadOfAll => c.audit.get_head(pb::GetHeadRequest { project: String::new() }).await.map(drop),
        Call::Verify => c.audit.verify(pb::VerifyRequest { project: p }).await.map(drop),
        Call::VerifyAll => c.audit.verify(pb::VerifyRequest { project: String::new() }).await.map(drop),
        Call::ExportChain => {
            first(c.audit.export_chain(pb::ExportChainRequest { project: p, from_seq: 0 }).await).await
        }
        Call::GetCheckpoint => c.audit.get_checkpoint(pb::GetCheckpointRequest { size: 0 }).await.map(drop),
        Call::GetInclusionProof => {
            c.audit.get_inclusion_proof(pb::GetInclusionProofRequest { commit: 1, size: 0 }).await.map(drop)
        }
        Call::GetConsistencyProof => {
            c.audit.get_consistency_proof(pb::GetConsistencyProofRequest { old_size: 1, new_size: 0 }).await.map(drop)
        }
        Call::GetHeadProof => c.audit.get_head_proof(pb::GetHeadProofRequest { project: p }).await.map(drop),
        Call::ListCommitEntries => {
            c.audit.list_commit_entries(pb::ListCommitEntriesRequest { from: 0, page_size: 0 }).await.map(drop)
        }
        Call::ListCheckpoints => {
            c.audit.list_checkpoints(pb::ListCheckpointsRequest { from_size: 0, page_size: 0 }).await.map(drop)
        }
    };
    match result {
        Ok(()) => Code::Ok,
        Err(s) => s.code(),
    }
}

/// Records one commit of `events` (each expense with its own receipt, as `support::record`).
async fn commit(c: &mut Caller, events: Vec<pb::Event>) -> Result<(), Status> {
    let events = own_receipts(events);
    c.ledger
        .record_commit(pb::RecordCommitRequest {
            events,
            expected_seq: Default::default(),
            allow_same_receipt: false,
            dry_run: false,
        })
        .await
        .map(drop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rpc_by_every_caller_gets_exactly_its_status() {
    // Every RPC of the contract has a row, and every row is an RPC of the contract.
    let methods = contract_methods();
    let keys: BTreeSet<String> = TABLE.iter().map(|(m, _, _)| (*m).to_owned()).collect();
    let missing: Vec<_> = methods.difference(&keys).collect();
    let unknown: Vec<_> = keys.difference(&methods).collect();
    assert!(
        missing.is_empty() && unknown.is_empty(),
        "the auth matrix needs a row for every RPC of the contract, and no other: no row for {missing:?}; \
         rows of no RPC: {unknown:?}"
    );

    let d = Daemon::start().await;
    let t = d.tokens.clone();
    let mut admin = d.ledger(Some(&t.admin)).await;
    open(&mut admin, OWN_PROJECT, 0).await;
    open(&mut admin, OTHER, 0).await;
    record(&mut admin, vec![contribution("seed-a", OWN_PROJECT, "100.00", None)]).await.expect("seed");
    record(&mut admin, vec![contribution("seed-b", OTHER, "100.00", None)]).await.expect("seed");
    let mut auditor = d.audit(Some(&t.auditor)).await;
    let channel = d.channel().await;

    let unknown = format!("Bearer fiscus_{}", "0".repeat(43));
    let malformed = [
        format!("Basic {}", t.admin),
        t.admin.clone(),
        format!("Bearer{}", t.admin),
        "Bearer".to_owned(),
        "Bearer ".to_owned(),
        format!("Token {}", t.admin),
    ];
    let bearer = |token: &str| format!("Bearer {token}");
    // Per column: the header values to try (each must give the column's code) and the project aimed at.
    let columns: [(Vec<Option<String>>, &str); 8] = [
        (vec![None], OTHER),
        (malformed.iter().cloned().map(Some).collect(), OTHER),
        (vec![Some(unknown)], OTHER),
        (vec![Some(bearer(&t.admin))], OTHER),
        (vec![Some(bearer(&t.accountant))], OTHER),
        (vec![Some(bearer(&t.auditor))], OTHER),
        (vec![Some(bearer(&t.project))], OWN_PROJECT),
        (vec![Some(bearer(&t.project))], OTHER),
    ];

    let mut wrong = Vec::new();
    let mut n = 0;
    for (method, call, expected) in TABLE {
        for ((headers, project), (column, want)) in columns.iter().zip(COLUMNS.iter().zip(expected)) {
            for header in headers {
                n += 1;
                let head_before = head(&mut auditor).await;
                let mut caller = Caller::new(&channel, header.as_deref());
                let got = outcome(&mut caller, *call, project, n).await;
                if got != *want {
                    wrong.push(format!("{method} {call:?} by {column} ({header:?}): {got:?}, expected {want:?}"));
                }
                if got != Code::Ok && head(&mut auditor).await != head_before {
                    wrong.push(format!("{method} {call:?} by {column} was refused ({got:?}) but changed the ledger"));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{} of the matrix's cells are wrong:\n{}", wrong.len(), wrong.join("\n"));
}

/// The commit head number and hash.
async fn head(auditor: &mut Audit) -> (u64, Vec<u8>) {
    let r = auditor.get_head(pb::GetHeadRequest { project: String::new() }).await.expect("head").into_inner();
    (r.commit, r.commit_hash)
}
