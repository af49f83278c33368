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
        .record_commit(pb::RecordCommitRequest {
            events,
            expected_seq: Default::default(),
            allow_same_receipt: allow,
            dry_run: false,
        })
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

// Receipts that prove what they name (issue 11): every label a receipt shows is bound by the
// commit hash through the record's bytes; a project's token gets only its own chain's labels.

/// The default origin of a daemon started without `log_origin`.
const ORIGIN: &str = "localhost/fiscus";

/// The pinned verifier key of the daemon (`fiscusd key show`).
fn pin(d: &Daemon) -> String {
    crate::tlog::verifier_key(&d.data())
}

/// The tlog-proof text with its `extra` line rewritten by `edit` on the decoded bytes.
fn edit_extra(text: &str, edit: impl Fn(&mut Vec<u8>)) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    text.lines()
        .map(|line| match line.strip_prefix("extra ") {
            Some(data) => {
                let mut bytes = b64.decode(data).expect("base64 extra data");
                edit(&mut bytes);
                format!("extra {}", b64.encode(&bytes))
            }
            None => line.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

fn replace_all(bytes: &mut [u8], from: &[u8], to: &[u8]) {
    assert_eq!(from.len(), to.len());
    let mut i = 0;
    while i + from.len() <= bytes.len() {
        if &bytes[i..i + from.len()] == from {
            bytes[i..i + from.len()].copy_from_slice(to);
            i += from.len();
        } else {
            i += 1;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_shows_only_labels_its_records_bytes_bind_and_its_index_is_checked() {
    let d = Daemon::start().await;
    let key = pin(&d);
    let t = d.tokens.clone();
    let mut admin = d.ledger(Some(&t.admin)).await;
    open(&mut admin, P, 0).await; // commit 1
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("r.tlog-proof");
    let r = file.display().to_string();
    let args = [
        "record",
        "--receipt",
        &r,
        "contribution",
        "--project",
        P,
        "--amount",
        "40.00",
        "--currency",
        "USD",
        "--from",
        "Acme",
        "--source",
        "donation",
        "--date",
        "2026-03-01",
    ];
    let (code, out, err) = fiscus(&d, &t.accountant, &args);
    assert_eq!(code, 0, "{out}{err}");
    let verify = |path: &std::path::Path| {
        fiscus(&d, &t.accountant, &["verify", "--receipt", &path.display().to_string(), "--pin", &key])
    };
    let (code, out, err) = verify(&file);
    assert!(code == 0 && out.contains(&format!("{P} seq 2 ")) && out.contains("commit 2"), "{out}{err}");
    let text = std::fs::read_to_string(&file).expect("receipt");

    // The chain id edited into another of the same length wherever it appears: refused, or at
    // least never shown.
    let forged = dir.path().join("forged.tlog-proof");
    std::fs::write(&forged, edit_extra(&text, |b| replace_all(b, P.as_bytes(), b"evil-a"))).unwrap();
    let (code, out, err) = verify(&forged);
    assert!(code != 0 && !out.contains("evil-a"), "a forged chain id is refused: {out}{err}");
    assert!(err.contains("refused"), "{err}");

    // The index line must be commit - 1 (here 1).
    assert!(text.contains("\nindex 1\n"), "{text}");
    for index in ["0", "2", "18446744073709551615"] {
        let bad = dir.path().join(format!("index-{index}.tlog-proof"));
        std::fs::write(&bad, text.replace("\nindex 1\n", &format!("\nindex {index}\n"))).unwrap();
        let (code, out, err) = verify(&bad);
        assert!(code != 0 && err.contains("refused") && err.contains("index"), "index {index}: {out}{err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_project_tokens_retry_receipt_names_no_other_project_and_still_verifies() {
    let d = Daemon::start().await;
    let key = fiscus_tlog::NoteVerifier::from_verifier_key(&pin(&d)).expect("a verifier key");
    let t = d.tokens.clone();
    let mut admin = d.ledger(Some(&t.admin)).await;
    open(&mut admin, P, 0).await;
    open(&mut admin, "conf-b", 0).await;
    record(&mut admin, vec![contribution("a-0", P, "100.00", None)]).await.unwrap();
    for i in 0..3 {
        record(&mut admin, vec![contribution(&format!("b-{i}"), "conf-b", "5.00", None)]).await.unwrap();
    }
    // The accountant records one commit holding records of both projects: conf-a's expense
    // request (what its organiser may record) and a gift to conf-b.
    let mut acc = d.ledger(Some(&t.accountant)).await;
    let both = vec![request("both-a", "25.00", &[7; 32]), contribution("both-b", "conf-b", "30.00", None)];
    let whole = record(&mut acc, both.clone()).await.expect("the commit of two projects");
    let receipt = whole.receipt.expect("a receipt");
    let labels: Vec<(&str, u64)> = receipt.records.iter().map(|r| (r.project.as_str(), r.seq)).collect();
    assert_eq!(labels, [(P, 3), ("conf-b", 5)], "the accountant reads both chains");
    fiscus_client::receipt_of(&receipt).expect("a receipt").verify(ORIGIN, std::slice::from_ref(&key)).unwrap();

    // The organiser of conf-a retries its part: the same commit, as a duplicate.
    let mut organiser = d.ledger(Some(&t.project)).await;
    let retry = record(&mut organiser, vec![both[0].clone()]).await.expect("the retry");
    assert!(retry.duplicate && retry.commit == whole.commit, "{retry:?}");
    let receipt = retry.receipt.expect("a receipt");
    let bytes = prost::Message::encode_to_vec(&receipt);
    assert!(!bytes.windows(6).any(|w| w == b"conf-b"), "no field names the other project: {receipt:?}");
    assert_eq!(receipt.records.len(), 2, "both records are in the commit hash");
    assert_eq!((receipt.records[0].project.as_str(), receipt.records[0].seq), (P, 3));
    assert_eq!((receipt.records[1].project.as_str(), receipt.records[1].seq), ("", 0), "hash only");
    let checked = fiscus_client::receipt_of(&receipt).expect("a receipt");
    checked.verify(ORIGIN, std::slice::from_ref(&key)).expect("the organiser's receipt verifies");

    // A label that disagrees with its record's bytes is refused.
    for forge in [
        |r: &mut pb::CommitReceipt| r.records[0].seq = 4,
        |r: &mut pb::CommitReceipt| r.records[0].project = "conf-c".to_owned(),
    ] {
        let mut forged = receipt.clone();
        forge(&mut forged);
        let accepted = fiscus_client::receipt_of(&forged)
            .map_err(|e| e.to_string())
            .and_then(|r| r.verify(ORIGIN, std::slice::from_ref(&key)).map_err(|e| e.to_string()));
        assert!(accepted.is_err(), "a forged label is refused: {:?}", forged.records[0]);
    }

    // Three more groups later the commit is no longer among the published log's recent groups:
    // its receipt is read from the store, with the same records shown and hidden, under the
    // latest checkpoint.
    for i in 3..6 {
        record(&mut admin, vec![contribution(&format!("b-{i}"), "conf-b", "5.00", None)]).await.unwrap();
    }
    let later = record(&mut organiser, vec![both[0].clone()]).await.expect("the retry from the store");
    assert!(later.duplicate && later.commit == whole.commit, "{later:?}");
    let stored = later.receipt.expect("a receipt");
    assert_eq!(stored.records, receipt.records, "the store's receipt shows and hides the same records");
    assert_ne!(stored.checkpoint, receipt.checkpoint, "under the later checkpoint");
    let bytes = prost::Message::encode_to_vec(&stored);
    assert!(!bytes.windows(6).any(|w| w == b"conf-b"), "no field names the other project: {stored:?}");
    let checked = fiscus_client::receipt_of(&stored).expect("a receipt");
    let opened = checked.verify(ORIGIN, std::slice::from_ref(&key)).expect("the store's receipt verifies");
    assert_eq!(opened.size, whole.commit + 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_checks_its_receipt_file_before_sending_and_never_overwrites_evidence() {
    let d = Daemon::start().await;
    let t = d.tokens.clone();
    let mut admin = d.ledger(Some(&t.admin)).await;
    open(&mut admin, P, 0).await;
    record(&mut admin, vec![contribution("fund", P, "500.00", None)]).await.unwrap();
    let mut audit = d.audit(Some(&t.auditor)).await;
    let dir = tempfile::tempdir().expect("temp dir");

    // A receipt path in a folder that does not exist: refused before anything is recorded.
    let missing = dir.path().join("no-such-dir").join("r.json").display().to_string();
    let contribution_args = |receipt: &str| -> Vec<String> {
        [
            "record",
            "--receipt",
            receipt,
            "contribution",
            "--project",
            P,
            "--amount",
            "10.00",
            "--currency",
            "USD",
            "--from",
            "Acme",
            "--source",
            "donation",
            "--date",
            "2026-03-02",
        ]
        .map(str::to_owned)
        .to_vec()
    };
    let args = contribution_args(&missing);
    let (code, out, err) = fiscus(&d, &t.accountant, &args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(code != 0 && err.contains(&missing) && err.contains("nothing was recorded"), "{out}{err}");
    assert_eq!(head_seq(&mut audit, P).await, 2, "nothing was recorded");

    // The invoice given as the expense's evidence and as the receipt file: refused, kept.
    let invoice = dir.path().join("invoice.pdf");
    std::fs::write(&invoice, b"%PDF-1.4 invoice VH-2026-017").unwrap();
    let inv = invoice.display().to_string();
    let args = [
        "record",
        "--receipt",
        &inv,
        "expense",
        "--project",
        P,
        "--amount",
        "35.00",
        "--currency",
        "USD",
        "--payee",
        "Pizzeria Napoli",
        "--category",
        "catering",
        "--receipt",
        &inv,
        "--date",
        "2026-03-02",
    ];
    let (code, out, err) = fiscus(&d, &t.accountant, &args);
    assert!(code != 0 && err.contains("not one receipt"), "{out}{err}");
    assert_eq!(std::fs::read(&invoice).unwrap(), b"%PDF-1.4 invoice VH-2026-017", "the evidence is kept");
    assert_eq!(head_seq(&mut audit, P).await, 2, "nothing was recorded");

    // A good path: recorded, and an earlier receipt there is replaced.
    let good = dir.path().join("r.tlog-proof").display().to_string();
    for _ in 0..2 {
        let args = contribution_args(&good);
        let (code, out, err) = fiscus(&d, &t.accountant, &args.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(code, 0, "{out}{err}");
    }
    assert!(std::fs::read_to_string(&good).unwrap().starts_with("c2sp.org/tlog-proof@v1\n"));
    assert_eq!(head_seq(&mut audit, P).await, 3);
}
