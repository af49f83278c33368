//! Subscribe: a late subscriber catches up, then sees live commits in order, none twice.

use std::time::Duration;

use fiscus_proto::pb;
use tonic::Code;

use crate::support::*;

/// Deadline for each message a test waits for.
const MESSAGE_DEADLINE: Duration = Duration::from_secs(20);

async fn next(stream: &mut tonic::Streaming<pb::SubscribeResponse>) -> pb::SubscribeResponse {
    tokio::time::timeout(MESSAGE_DEADLINE, stream.message())
        .await
        .expect("a message in time")
        .expect("no error")
        .expect("the stream goes on")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_subscriber_catches_up_then_sees_live_commits_in_order() {
    let d = Daemon::start().await;
    let mut admin = d.ledger(Some(&d.tokens.admin)).await;
    open(&mut admin, "conf-a", 0).await;
    open(&mut admin, "conf-b", 0).await;
    let mut acc = d.ledger(Some(&d.tokens.accountant)).await;
    for i in 0..10 {
        let p = if i % 2 == 0 { "conf-a" } else { "conf-b" };
        record(&mut acc, vec![contribution(&format!("before-{i}"), p, "1.00", None)]).await.expect("commit");
    }
    // Joins after 12 commits.
    let mut sub = d.ledger(Some(&d.tokens.auditor)).await;
    let mut stream = sub
        .subscribe(pb::SubscribeRequest { after_commit: 0, project: String::new() })
        .await
        .expect("subscribe")
        .into_inner();
    // Live commits made while the subscriber catches up.
    let writer = {
        let mut acc = d.ledger(Some(&d.tokens.accountant)).await;
        tokio::spawn(async move {
            for i in 0..20 {
                record(&mut acc, vec![contribution(&format!("live-{i}"), "conf-a", "2.00", None)])
                    .await
                    .expect("commit");
            }
        })
    };
    let mut prev_hash = vec![0u8; 32];
    let mut ids = Vec::new();
    for expected in 1..=32u64 {
        let m = next(&mut stream).await;
        assert_eq!(m.commit, expected, "in order, none twice, none skipped");
        assert_eq!(m.prev_commit_hash, prev_hash, "commit {expected} links to the one before");
        // The commit hash follows from the listed record hashes.
        let mut h = blake3::Hasher::new();
        h.update(&prev_hash);
        h.update(&m.commit.to_be_bytes());
        for e in &m.events {
            h.update(&e.hash);
        }
        assert_eq!(h.finalize().as_bytes().to_vec(), m.commit_hash, "commit {expected} hash");
        prev_hash = m.commit_hash.clone();
        ids.extend(m.events.iter().map(|e| e.event.as_ref().expect("event").event_id.clone()));
    }
    tokio::time::timeout(MESSAGE_DEADLINE, writer).await.expect("writer in time").expect("writer ok");
    assert_eq!(ids.len(), 32);
    assert_eq!(ids[2], "before-0");
    assert_eq!(ids[31], "live-19");
    // Nothing more arrives until something is committed.
    assert!(tokio::time::timeout(Duration::from_millis(300), stream.message()).await.is_err());
    record(&mut acc, vec![contribution("after", "conf-b", "3.00", None)]).await.expect("commit");
    assert_eq!(next(&mut stream).await.commit, 33);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cursor_resumes_and_a_project_filter_keeps_only_that_project() {
    let d = Daemon::start().await;
    let mut admin = d.ledger(Some(&d.tokens.admin)).await;
    open(&mut admin, OWN_PROJECT, 0).await;
    open(&mut admin, "conf-b", 0).await;
    let mut acc = d.ledger(Some(&d.tokens.accountant)).await;
    for i in 0..6 {
        let p = if i % 3 == 0 { OWN_PROJECT } else { "conf-b" };
        record(&mut acc, vec![contribution(&format!("c-{i}"), p, "1.00", None)]).await.expect("commit");
    }
    // Commits 3..=8; from cursor 5 the first is 6.
    let mut sub = d.ledger(Some(&d.tokens.auditor)).await;
    let mut s = sub
        .subscribe(pb::SubscribeRequest { after_commit: 5, project: String::new() })
        .await
        .expect("sub")
        .into_inner();
    assert_eq!(next(&mut s).await.commit, 6);
    assert_eq!(next(&mut s).await.commit, 7);

    // The organiser's stream names its project (an empty one is refused: a stream of every project
    // has no gaps, which `fiscus tail` checks, and it called the filtered stream malformed), and
    // holds its project's commits only: 1, 3 and 6.
    let mut org = d.ledger(Some(&d.tokens.project)).await;
    let s = assert_code(
        org.subscribe(pb::SubscribeRequest { after_commit: 0, project: String::new() }).await,
        Code::InvalidArgument,
    );
    assert!(s.message().contains("project") && s.message().contains(OWN_PROJECT), "{}", s.message());
    let mut s = org
        .subscribe(pb::SubscribeRequest { after_commit: 0, project: OWN_PROJECT.into() })
        .await
        .expect("sub")
        .into_inner();
    let mut commits = Vec::new();
    for _ in 0..3 {
        let m = next(&mut s).await;
        assert!(m.events.iter().all(|e| e.project == OWN_PROJECT));
        commits.push(m.commit);
    }
    assert_eq!(commits, [1, 3, 6]);
    // A mixed commit reaches it with its own event only.
    record(
        &mut acc,
        vec![contribution("mix-b", "conf-b", "1.00", None), contribution("mix-a", OWN_PROJECT, "1.00", None)],
    )
    .await
    .expect("commit");
    let m = next(&mut s).await;
    assert_eq!((m.commit, m.events.len()), (9, 1));
    assert_eq!(m.events[0].event.as_ref().map(|e| e.event_id.as_str()), Some("mix-a"));
    assert_code(
        org.subscribe(pb::SubscribeRequest { after_commit: 0, project: "conf-b".into() }).await,
        Code::PermissionDenied,
    );
    assert_code(sub.subscribe(pb::SubscribeRequest { after_commit: 0, project: "nope".into() }).await, Code::NotFound);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_beyond_the_limit_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("fiscusd.toml");
    std::fs::write(&config, "[limits]\nsubscribers_max = 2\n").expect("config");
    let d = Daemon::start_with(&["--config", config.to_str().expect("utf-8 path")]).await;
    let mut c = d.ledger(Some(&d.tokens.auditor)).await;
    let s1 = c.subscribe(pb::SubscribeRequest::default()).await.expect("first");
    let s2 = c.subscribe(pb::SubscribeRequest::default()).await.expect("second");
    assert_code(c.subscribe(pb::SubscribeRequest::default()).await, Code::ResourceExhausted);
    drop((s1, s2));
}

/// fiscusd stops answering (SIGSTOP) while a client follows its commits: the client's keep-alive
/// PING (every second here; 20 s by default) goes unanswered, the connection is closed, and the
/// stream ends with an error the follower can act on (`fiscus tail` tries again), instead of
/// waiting for ever on a stream that will never move.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_followed_stream_ends_when_fiscusd_stops_answering() {
    let d = Daemon::start().await;
    let options = fiscus_client::ClientOptions {
        token: Some(d.tokens.accountant.clone()),
        keep_alive: Some(Duration::from_secs(1)),
        ..Default::default()
    };
    let client = fiscus_client::Client::connect(&format!("http://{}", d.addr), options).await.expect("client");
    let mut stream = client.subscribe(0, None).await.expect("following");
    let pid = d.pid().to_string();
    assert!(std::process::Command::new("kill").args(["-STOP", &pid]).status().expect("kill runs").success());
    // a bound on the test, not a measurement: the PING's answer is due within 2 s
    let ended = tokio::time::timeout(Duration::from_secs(30), stream.next()).await;
    assert!(std::process::Command::new("kill").args(["-CONT", &pid]).status().expect("kill runs").success());
    let ended = ended.expect("the stream ends once the keep-alive goes unanswered");
    assert!(matches!(ended, Some(Err(_))), "an error, not a notice or a clean end: {ended:?}");
    d.stop();
}

/// A cursor past the head is refused OUT_OF_RANGE naming `after_commit` and the head: such a stream
/// (u64::MAX, or a commit of another ledger) waited for good and held a subscriber slot. At the
/// head, the stream waits for the next commit, as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cursor_past_the_head_is_refused() {
    let d = Daemon::start().await;
    let mut admin = d.ledger(Some(&d.tokens.admin)).await;
    open(&mut admin, OWN_PROJECT, 0).await;
    let mut c = d.ledger(Some(&d.tokens.auditor)).await;
    for after in [2, u64::MAX] {
        let refused = assert_code(
            c.subscribe(pb::SubscribeRequest { after_commit: after, project: String::new() }).await,
            Code::OutOfRange,
        );
        assert!(
            refused.message().contains("after_commit") && refused.message().contains("commit 1"),
            "{}",
            refused.message()
        );
    }
    let mut at_head = c
        .subscribe(pb::SubscribeRequest { after_commit: 1, project: String::new() })
        .await
        .expect("at the head")
        .into_inner();
    record(&mut admin, vec![contribution("c-2", OWN_PROJECT, "5.00", None)]).await.expect("commit 2");
    assert_eq!(next(&mut at_head).await.commit, 2);
}

/// A daemon with `OWN_PROJECT` opened (commit 1), an admin's client, and a stream of every
/// project on accountant:bob's token, taken after commit 1, whose token was then revoked (the
/// tokens file reloaded).
async fn revoked_stream() -> (Daemon, Ledger, tonic::Streaming<pb::SubscribeResponse>) {
    let d = Daemon::start().await;
    let mut admin = d.ledger(Some(&d.tokens.admin)).await;
    open(&mut admin, OWN_PROJECT, 0).await;
    let mut bob = d.ledger(Some(&d.tokens.accountant2)).await;
    let stream = bob
        .subscribe(pb::SubscribeRequest { after_commit: 1, project: String::new() })
        .await
        .expect("subscribed")
        .into_inner();
    let file = d.dir.path().join("tokens.toml").display().to_string();
    let revoked = std::process::Command::new(fiscusd_bin())
        .args(["token", "revoke", "--tokens", &file, "--name", "accountant:bob"])
        .output()
        .expect("fiscusd runs");
    assert!(revoked.status.success());
    reloaded(&d, 1).await;
    (d, admin, stream)
}

/// A stream of a token revoked since it began ends before it sends another commit: a leaked
/// accountant's `tail` went on receiving every project's money movements after the revocation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_tokens_stream_ends() {
    let (_d, mut admin, mut stream) = revoked_stream().await;
    record(&mut admin, vec![contribution("c-2", OWN_PROJECT, "5.00", None)]).await.expect("commit 2");
    let ended = tokio::time::timeout(Duration::from_secs(10), stream.message()).await.expect("ends in time");
    let status = ended.expect_err("no commit for a revoked token");
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert!(status.message().contains("revoked"), "{}", status.message());
}

/// A stream of a token revoked while it waits for the next commit ends at the reload, not at the
/// next commit: an idle ledger kept a revoked token's stream open (and its subscriber slot taken)
/// until someone recorded something.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_tokens_idle_stream_ends_at_the_reload() {
    let (_d, _admin, mut stream) = revoked_stream().await;
    let ended = tokio::time::timeout(Duration::from_secs(10), stream.message())
        .await
        .expect("the idle stream ends at the reload, with no commit recorded");
    let status = ended.expect_err("ended by the revocation");
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert!(status.message().contains("revoked"), "{}", status.message());
}
