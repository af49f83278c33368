//! If the writer fails anyway, nobody is told it is fine: a panic on the writer thread (injected
//! with the test-only `--fault-writer-panic-at-commit`) answers the caller `UNAVAILABLE`, turns
//! health to `NOT_SERVING` at once, and ends the process with a non-zero status; a restart on the
//! same data serves every acknowledged event, and the unanswered commit retried is stored once.

use std::time::Duration;

use tokio_stream::StreamExt;
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_panic_is_not_serving_and_a_non_zero_exit_and_a_restart_serves_every_acknowledged_event() {
    // Commit 1 opens the project, 2 and 3 are contributions; the writer panics before storing 4.
    let d = Daemon::start_with(&["--fault-writer-panic-at-commit", "4"]).await;
    let t = d.tokens.clone();
    let mut admin = d.ledger(Some(&t.admin)).await;
    open(&mut admin, OWN_PROJECT, 0).await;
    let mut acc = d.ledger(Some(&t.accountant)).await;
    let mut acknowledged = Vec::new();
    for id in ["before-1", "before-2"] {
        let r = record(&mut acc, vec![contribution(id, OWN_PROJECT, "10.00", None)]).await.expect("acknowledged");
        acknowledged.push((id, r.positions[0].seq));
    }

    // A health watch opened before the failure sees it.
    let mut health = HealthClient::new(d.channel().await);
    let asked = HealthCheckRequest { service: String::new() };
    let mut watch = health.watch(asked).await.expect("health watch").into_inner();
    let first = watch.next().await.expect("a first status").expect("status");
    assert_eq!(first.status, ServingStatus::Serving as i32);

    let failed = record(&mut acc, vec![contribution("lost-1", OWN_PROJECT, "7.00", None)]).await;
    let status = failed.expect_err("the writer panicked on this commit");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");

    let next = tokio::time::timeout(Duration::from_secs(10), watch.next()).await.expect("a status change in time");
    let next = next.expect("the watch goes on").expect("status");
    assert_eq!(next.status, ServingStatus::NotServing as i32, "health after the writer failed");

    // A later write is refused too, never accepted by a writer that is gone (while the server drains).
    let later = record(&mut acc, vec![contribution("lost-2", OWN_PROJECT, "8.00", None)]).await;
    assert!(later.is_err(), "no write is accepted after the writer failed: {later:?}");

    let (dir, tokens) = (d.dir.clone(), d.tokens.clone());
    let exit = tokio::task::spawn_blocking(move || d.wait_exit(Duration::from_secs(60))).await.expect("joined");
    assert!(!exit.success(), "fiscusd exits non-zero after a writer failure: {exit}");
    let log = std::fs::read_to_string(dir.path().join("fiscusd.log")).unwrap_or_default();
    assert!(log.contains("injected fault"), "the log names the failure:\n{log}");

    // The restart (no fault now) verifies the store and serves every acknowledged event.
    let d = Daemon::spawn(dir, tokens, &[]).await;
    let mut audit = d.audit(Some(&t.auditor)).await;
    assert_eq!(head_seq(&mut audit, OWN_PROJECT).await, 3, "open and the two acknowledged contributions");
    let mut acc = d.ledger(Some(&t.accountant)).await;
    assert_eq!(usd_balance(&mut acc, OWN_PROJECT).await.balance, "20.00");
    for (id, seq) in &acknowledged {
        let again = record(&mut acc, vec![contribution(id, OWN_PROJECT, "10.00", None)]).await.expect("idempotent");
        assert!(again.duplicate, "{id} was stored before the failure");
        assert_eq!(again.positions[0].seq, *seq);
    }
    // The unanswered commit, retried with the same event id, is stored exactly once.
    let retried = record(&mut acc, vec![contribution("lost-1", OWN_PROJECT, "7.00", None)]).await.expect("retry");
    assert!(!retried.duplicate);
    assert_eq!(retried.positions[0].seq, 4);
    let twice = record(&mut acc, vec![contribution("lost-1", OWN_PROJECT, "7.00", None)]).await.expect("retry");
    assert!(twice.duplicate);
    assert_eq!(usd_balance(&mut acc, OWN_PROJECT).await.balance, "27.00");
}
