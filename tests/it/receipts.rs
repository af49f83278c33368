//! The same invoice twice (issue 14, section 3): an expense request or direct payment whose receipt
//! hash the project already holds on a request not rejected or a payment not reversed is refused
//! with FAILED_PRECONDITION naming the earlier seq, unless the commit sets `allow_same_receipt`
//! (`fiscus record --allow-same-receipt`); such requests are marked in ListPendingExpenses and
//! `fiscus pending`.

use std::process::Command;

use fiscus_proto::pb;
use fiscus_proto::pb::event::Kind;
use serde_json::Value;
use tonic::Code;

use crate::support::*;

const P: &str = OWN_PROJECT;

fn fiscus(d: &Daemon, token: &str, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(crate::cli::fiscus_bin())
        .env_remove("FISCUS_STORE")
        .env("FISCUS_SERVER", format!("http://{}", d.addr))
        .env("FISCUS_TOKEN", token)
        .args(args)
        .output()
        .expect("fiscus runs");
    (
        out.status.code().expect("fiscus exits"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn with_receipt(mut e: pb::Event, hash: &[u8; 32]) -> pb::Event {
    let details = match &mut e.kind {
        Some(Kind::ExpensePaid(p)) => p.details.as_mut(),
        Some(Kind::ExpenseRequested(r)) => r.details.as_mut(),
        _ => None,
    };
    if let Some(d) = details {
        d.receipt = Some(pb::Receipt { hash: hash.to_vec(), file_name: "VH-2026-017.pdf".into() });
    }
    e
}

fn request(id: &str, amount: &str, hash: &[u8; 32]) -> pb::Event {
    let e = event(id, P, "2026-03-03", Kind::ExpenseRequested(pb::ExpenseRequested { details: Some(expense(amount)) }));
    with_receipt(e, hash)
}

async fn commit(
    client: &mut Ledger,
    events: Vec<pb::Event>,
    allow: bool,
) -> Result<pb::RecordCommitResponse, tonic::Status> {
    client
        .record_commit(pb::RecordCommitRequest { events, expected_seq: Default::default(), allow_same_receipt: allow })
        .await
        .map(|r| r.into_inner())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_invoice_twice_is_refused_unless_allowed_and_marked_in_pending() {
    let d = Daemon::start().await;
    let mut admin = d.ledger(Some(&d.tokens.admin)).await;
    open(&mut admin, P, 0).await; // seq 1
    let mut alice = d.ledger(Some(&d.tokens.accountant)).await;
    let mut bob = d.ledger(Some(&d.tokens.accountant2)).await;
    let mut olga = d.ledger(Some(&d.tokens.project)).await;
    record(&mut alice, vec![contribution("give", P, "1000.00", None)]).await.expect("seq 2");
    let invoice = *blake3::hash(b"invoice VH-2026-017").as_bytes();

    // Paid through a request: filed (seq 3), approved, paid.
    commit(&mut olga, vec![request("req-1", "300.00", &invoice)], false).await.expect("seq 3");
    let approve = event("ok-1", P, "2026-03-04", Kind::ExpenseApproved(pb::ExpenseApproved { request: 3 }));
    record(&mut alice, vec![approve]).await.expect("seq 4");
    let pay = event("pay-1", P, "2026-03-05", Kind::ExpensePaid(pb::ExpensePaid { request: Some(3), details: None }));
    record(&mut alice, vec![pay]).await.expect("seq 5");

    // Paid again as a direct expense by another accountant: refused, naming seq 3 and the field.
    let direct = with_receipt(expense_paid("direct-1", P, "300.00"), &invoice);
    let s = assert_code(commit(&mut bob, vec![direct.clone()], false).await, Code::FailedPrecondition);
    assert!(s.message().contains("expense request seq 3"), "{}", s.message());
    assert!(s.message().contains("events[0].expense_paid.details.receipt.hash"), "{}", s.message());
    assert!(s.message().contains("allow_same_receipt"), "{}", s.message());
    let mut audit = d.audit(Some(&d.tokens.auditor)).await;
    assert_eq!(head_seq(&mut audit, P).await, 5, "a refusal stores nothing");
    let ok = commit(&mut bob, vec![direct], true).await.expect("allowed explicitly");
    assert_eq!(ok.positions[0].seq, 6);

    // Filed a third time: refused, then recorded when allowed, and marked in pending.
    let third = request("req-2", "300.00", &invoice);
    let s = assert_code(commit(&mut olga, vec![third.clone()], false).await, Code::FailedPrecondition);
    assert!(s.message().contains("seq 3"), "{}", s.message());
    commit(&mut olga, vec![third], true).await.expect("seq 7");
    let pending = alice
        .list_pending_expenses(pb::ListPendingExpensesRequest { project: String::new(), after: None })
        .await
        .expect("pending")
        .into_inner()
        .expenses;
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].position.as_ref().map(|p| p.seq), Some(7));
    assert_eq!(pending[0].same_receipt_seqs, [3, 6]);

    // The command line: refused with exit 1 naming the earlier seq; --allow-same-receipt records
    // it; `pending` marks it, in the table and in JSON.
    let hex = blake3::Hash::from(invoice).to_hex().to_string();
    let args = [
        "record",
        "expense-request",
        "--project",
        P,
        "--amount",
        "300.00",
        "--currency",
        "USD",
        "--payee",
        "Venue Ltd",
        "--category",
        "venue",
        "--receipt",
        "VH-2026-017.pdf",
        "--receipt-hash",
        &hex,
        "--date",
        "2026-03-06",
        "--id",
        "cli-4",
    ];
    let (code, out, err) = fiscus(&d, &d.tokens.project, &args);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(err.contains("FAILED_PRECONDITION") && err.contains("seq 3"), "{err}");
    let mut allowed = args.to_vec();
    allowed.push("--allow-same-receipt");
    let (code, out, err) = fiscus(&d, &d.tokens.project, &allowed);
    assert_eq!(code, 0, "{out}\n{err}");
    let (code, table, err) = fiscus(&d, &d.tokens.accountant, &["pending", P]);
    assert_eq!(code, 0, "{err}");
    assert!(table.contains("SAME RECEIPT as seq 3, 6, 8"), "{table}");
    let (_, json, _) = fiscus(&d, &d.tokens.accountant, &["--json", "pending"]);
    let json: Value = serde_json::from_str(&json).expect("pending json");
    assert_eq!(json[0]["same_receipt"], serde_json::json!([3, 6, 8]));
    assert_eq!(json[1]["same_receipt"], serde_json::json!([3, 6, 7]));

    // A rejected request holds its receipt no more.
    let other = *blake3::hash(b"invoice 2").as_bytes();
    commit(&mut olga, vec![request("req-3", "20.00", &other)], false).await.expect("seq 9");
    let reject = event(
        "no-1",
        P,
        "2026-03-07",
        Kind::ExpenseRejected(pb::ExpenseRejected { request: 9, reason: "typo".into() }),
    );
    record(&mut alice, vec![reject]).await.expect("seq 10");
    commit(&mut olga, vec![request("req-4", "20.00", &other)], false).await.expect("filed again after the rejection");

    // Stored duplicates verify after a restart (the rule holds for requests only).
    drop((admin, alice, bob, olga, audit));
    let d = d.restart().await;
    let mut audit = d.audit(Some(&d.tokens.auditor)).await;
    let v = audit.verify(pb::VerifyRequest { project: P.into() }).await.expect("verify").into_inner();
    assert!(v.ok, "{v:?}");
}
