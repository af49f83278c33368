//! Idempotency: the same event twice commits once; the same id with other content is refused.

use tonic::Code;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_event_sent_twice_concurrently_commits_once() {
    let d = Daemon::start().await;
    let mut admin = d.ledger(Some(&d.tokens.admin)).await;
    let mut audit = d.audit(Some(&d.tokens.auditor)).await;
    open(&mut admin, "conf-a", 0).await;
    for round in 0..5 {
        let id = format!("bank-{round}");
        let (mut c1, mut c2) = (d.ledger(Some(&d.tokens.accountant)).await, d.ledger(Some(&d.tokens.accountant)).await);
        let (e1, e2) = (contribution(&id, "conf-a", "100.00", None), contribution(&id, "conf-a", "100.00", None));
        let (a, b) = tokio::join!(record(&mut c1, vec![e1]), record(&mut c2, vec![e2]));
        let (a, b) = (a.expect("first answer"), b.expect("second answer"));
        assert_eq!(u8::from(a.duplicate) + u8::from(b.duplicate), 1, "exactly one duplicate: {a:?} {b:?}");
        assert_eq!(a.commit, b.commit, "the duplicate answers with the original commit");
        assert_eq!(a.positions, b.positions);
    }
    assert_eq!(head_seq(&mut audit, "conf-a").await, 6, "one open and five contributions");
    assert_eq!(usd_balance(&mut admin, "conf-a").await.balance, "500.00");

    // A retry later is a duplicate too.
    let mut acc = d.ledger(Some(&d.tokens.accountant)).await;
    let again = record(&mut acc, vec![contribution("bank-0", "conf-a", "100.00", None)]).await.expect("retry");
    assert!(again.duplicate);
    assert_eq!(again.positions[0].seq, 2);

    // Other content under a used id.
    let s = assert_code(
        record(&mut acc, vec![contribution("bank-0", "conf-a", "100.01", None)]).await,
        Code::AlreadyExists,
    );
    assert!(s.message().contains("bank-0"), "{}", s.message());
    // A commit mixing a recorded id and a new one is refused whole.
    let mixed =
        vec![contribution("bank-0", "conf-a", "100.00", None), contribution("bank-new", "conf-a", "1.00", None)];
    assert_code(record(&mut acc, mixed).await, Code::InvalidArgument);
    assert_eq!(head_seq(&mut audit, "conf-a").await, 6);
    assert_eq!(usd_balance(&mut admin, "conf-a").await.balance, "500.00");
}
