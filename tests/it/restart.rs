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

/// `kill -9` in the middle of a stream of commits: every commit acknowledged before the kill is there
/// after the restart (a retry answers `duplicate` at the same position), every chain verifies, and the
/// balance is exactly the sum of the events that are stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_commit_survives_kill_9() {
    use std::sync::{Arc, Mutex};
    let d = Daemon::start().await;
    let mut admin = d.ledger(Some(&d.tokens.admin)).await;
    open(&mut admin, "conf-a", 0).await;
    let acked: Arc<Mutex<Vec<(String, u64, u64)>>> = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for t in 0..8u32 {
        let mut acc = d.ledger(Some(&d.tokens.accountant)).await;
        let acked = acked.clone();
        tasks.push(tokio::spawn(async move {
            // bounded: at most 200 commits per task; the stream ends when the daemon dies
            for i in 0..200u32 {
                let id = format!("k-{t}-{i}");
                match record(&mut acc, vec![contribution(&id, "conf-a", "1.00", None)]).await {
                    Ok(r) => acked.lock().expect("lock").push((id, r.commit, r.positions[0].seq)),
                    Err(_) => return,
                }
            }
        }));
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while acked.lock().expect("lock").len() < 200 {
        assert!(std::time::Instant::now() < deadline, "commits did not flow");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let d = d.crash_and_restart().await;
    for t in tasks {
        t.await.expect("task ends");
    }
    let acked = acked.lock().expect("lock").clone();
    assert!(acked.len() >= 200);
    let mut acc = d.ledger(Some(&d.tokens.accountant)).await;
    for (id, commit, seq) in &acked {
        let again = record(&mut acc, vec![contribution(id, "conf-a", "1.00", None)]).await.expect("retry");
        assert!(again.duplicate, "{id} was acknowledged before the kill and must be stored");
        assert_eq!((again.commit, again.positions[0].seq), (*commit, *seq), "{id} keeps its position");
    }
    let mut audit = d.audit(Some(&d.tokens.auditor)).await;
    let v = audit.verify(pb::VerifyRequest::default()).await.expect("verify").into_inner();
    assert!(v.ok, "{v:?}");
    // the opening and one event of 1.00 per stored contribution (acknowledged or not)
    let stored = head_seq(&mut audit, "conf-a").await - 1;
    assert!(stored >= acked.len() as u64);
    let balance = usd_balance(&mut acc, "conf-a").await;
    assert_eq!(balance.balance, format!("{stored}.00"));
}
