//! Restart: stop the daemon with SIGTERM and start it on the same store; balances and heads come
//! back, and writing goes on from there.

use fiscus_proto::pb;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_brings_back_the_same_balances_and_heads() {
    let d = Daemon::start().await;
    let mut admin = d.ledger(Some(&d.tokens.admin)).await;
    open(&mut admin, "conf-a", 800).await;
    open(&mut admin, "conf-b", 500).await;
    let mut acc = d.ledger(Some(&d.tokens.accountant)).await;
    for i in 0..40 {
        let p = if i % 2 == 0 { "conf-a" } else { "conf-b" };
        record(&mut acc, vec![contribution(&format!("c-{i}"), p, &format!("{}.25", 10 + i), None)])
            .await
            .expect("commit");
    }
    record(&mut acc, vec![expense_paid("x-1", "conf-a", "100.00")]).await.expect("expense");
    let mut audit = d.audit(Some(&d.tokens.auditor)).await;
    let head = audit.get_head(pb::GetHeadRequest::default()).await.expect("head").into_inner();
    let a = usd_balance(&mut acc, "conf-a").await;
    let b = usd_balance(&mut acc, "conf-b").await;
    drop((admin, acc, audit));
    // A live subscriber does not hold the shutdown up: its stream ends with UNAVAILABLE.
    let mut sub = d.ledger(Some(&d.tokens.auditor)).await;
    let mut stream = sub.subscribe(pb::SubscribeRequest::default()).await.expect("subscribe").into_inner();

    let d = d.restart().await;
    let mut received = 0u64;
    let end = loop {
        match stream.message().await {
            Ok(Some(m)) => {
                received += 1;
                assert_eq!(m.commit, received);
                assert!(received <= head.commit, "no commit past the head");
            }
            Ok(None) => break None,
            Err(s) => break Some(s.code()),
        }
    };
    assert_eq!(end, Some(tonic::Code::Unavailable));
    assert!(d.log().contains("SIGTERM"), "the log names the signal");
    let mut acc = d.ledger(Some(&d.tokens.accountant)).await;
    let mut audit = d.audit(Some(&d.tokens.auditor)).await;
    let again = audit.get_head(pb::GetHeadRequest::default()).await.expect("head").into_inner();
    assert_eq!(again, head);
    assert_eq!(usd_balance(&mut acc, "conf-a").await, a);
    assert_eq!(usd_balance(&mut acc, "conf-b").await, b);
    // A retry of an event from before the restart is still a duplicate; new commits go on.
    let retry = record(&mut acc, vec![contribution("c-0", "conf-a", "10.25", None)]).await.expect("retry");
    assert!(retry.duplicate);
    let next = record(&mut acc, vec![contribution("after", "conf-a", "1.00", None)]).await.expect("commit");
    assert_eq!(next.commit, head.commit + 1);
    let v = audit.verify(pb::VerifyRequest::default()).await.expect("verify").into_inner();
    assert!(v.ok, "{v:?}");
}
