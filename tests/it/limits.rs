//! Bounded connections and streams: more streams on one connection, more connections and more
//! subscriptions of one token than the limits allow, and health and an honest client are still
//! served. Every loop is bounded in count and time.

use std::time::{Duration, Instant};

use fiscus_proto::pb;
use tokio::io::AsyncReadExt;
use tonic::Code;

use crate::support::*;

/// How long the daemon may take to close what the limits close.
const CLOSE_DEADLINE: Duration = Duration::from_secs(20);

/// Small limits, so that a test can go past each of them.
const LIMITS: &str = "[limits]
streams_per_connection_max = 4
connections_max = 12
request_timeout_ms = 1000
keepalive_interval_ms = 300
keepalive_timeout_ms = 300
idle_timeout_ms = 1500
subscribers_max = 4
subscribers_per_principal_max = 2
";

async fn small_limits() -> Daemon {
    with_config(LIMITS).await
}

/// A daemon started with the config file `text`.
async fn with_config(text: &str) -> Daemon {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("fiscusd.toml");
    std::fs::write(&config, text).expect("config");
    let d = Daemon::start_with(&["--config", config.to_str().expect("utf-8 path")]).await;
    drop(dir);
    d
}

/// Health and a token's balance read are served.
async fn still_served(d: &Daemon) {
    let started = Instant::now();
    loop {
        assert!(started.elapsed() < CLOSE_DEADLINE, "not served in time; log:\n{}", d.log());
        let mut acc = d.ledger(Some(&d.tokens.accountant)).await;
        let read = acc.list_projects(pb::ListProjectsRequest::default()).await;
        if read.is_ok() {
            let channel = d.channel().await;
            let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
            let asked = tonic_health::pb::HealthCheckRequest { service: String::new() };
            if health.check(asked).await.is_ok() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A raw HTTP/2 request for `path` whose body never ends (a half-open stream).
fn half_open(path: &str) -> http::Request<()> {
    http::Request::builder()
        .method("POST")
        .uri(format!("http://localhost{path}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())
        .expect("request")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_per_connection_are_capped_and_slow_bodies_time_out() {
    let d = small_limits().await;
    let tcp = tokio::net::TcpStream::connect(d.addr).await.expect("connects");
    let (client, connection) = h2::client::handshake(tcp).await.expect("HTTP/2 handshake");
    tokio::spawn(connection);
    let mut client = client.ready().await.expect("ready");
    // Streams opened with no token and a body that never comes: health (no token needed) and a
    // balance read.
    let mut answers = Vec::new();
    let mut bodies = Vec::new();
    for i in 0..4 {
        let path = if i % 2 == 0 { "/grpc.health.v1.Health/Check" } else { "/fiscus.v1.Ledger/GetBalance" };
        let (answer, body) = client.send_request(half_open(path), false).expect("stream opens");
        answers.push(answer);
        bodies.push(body);
        client = client.ready().await.expect("ready");
    }
    // Each half-open stream is ended by the server within the request timeout.
    for answer in answers {
        let response = tokio::time::timeout(CLOSE_DEADLINE, answer).await.expect("answered in time");
        if let Ok(r) = response {
            let status = r.headers().get("grpc-status").map(|v| v.to_str().unwrap_or("?").to_owned());
            assert_ne!(status.as_deref(), Some("0"), "a request without its body is not answered OK");
        }
    }
    assert_eq!(client.current_max_send_streams(), 4, "the server's SETTINGS_MAX_CONCURRENT_STREAMS");
    drop(bodies);
    still_served(&d).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_capped_and_silent_ones_closed() {
    let d = small_limits().await;
    // 30 sockets that never say anything: those over the cap are closed at once, the others after
    // the idle timeout.
    let mut sockets = Vec::new();
    for _ in 0..30 {
        sockets.push(tokio::net::TcpStream::connect(d.addr).await.expect("connects"));
    }
    let deadline = Instant::now() + CLOSE_DEADLINE;
    for mut s in sockets {
        // The server may greet with its HTTP/2 settings; then it must close the socket.
        let mut buf = [0u8; 256];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, s.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => break,
                Ok(Ok(_)) => continue,
                Err(_) => panic!("a silent socket stayed open past the deadline; log:\n{}", d.log()),
            }
        }
    }
    let log = d.log();
    assert!(log.contains("at the connection cap"), "the cap is logged:\n{log}");
    still_served(&d).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_token_holds_only_its_share_of_the_subscriptions() {
    let d = small_limits().await;
    let mut org = d.ledger(Some(&d.tokens.project)).await;
    let mut admin = d.ledger(Some(&d.tokens.admin)).await;
    open(&mut admin, OWN_PROJECT, 0).await;
    let own = || pb::SubscribeRequest { after_commit: 0, project: OWN_PROJECT.into() };
    let s1 = org.subscribe(own()).await.expect("first");
    let s2 = org.subscribe(own()).await.expect("second");
    let refused = assert_code(org.subscribe(own()).await, Code::ResourceExhausted);
    assert!(refused.message().contains("share"), "{refused:?}");
    let mut audit = d.ledger(Some(&d.tokens.auditor)).await;
    let a1 = audit.subscribe(pb::SubscribeRequest::default()).await.expect("the auditor still subscribes");
    drop(s1);
    // The slot comes back when the stream ends on the server.
    let started = Instant::now();
    let s3 = loop {
        assert!(started.elapsed() < CLOSE_DEADLINE, "the slot did not come back");
        match org.subscribe(own()).await {
            Ok(s) => break s,
            Err(s) => assert_eq!(s.code(), Code::ResourceExhausted, "{s:?}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    drop((s2, s3, a1));
    still_served(&d).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_store_verifications_are_paced() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("fiscusd.toml");
    // At most 1% of the writer's time: after one that took T, the next waits 99 T.
    std::fs::write(&config, "[limits]\nstore_verify_writer_share_pct = 1\n").expect("config");
    let d = Daemon::start_with(&["--config", config.to_str().expect("utf-8 path")]).await;
    let mut admin = d.ledger(Some(&d.tokens.admin)).await;
    open(&mut admin, "conf-a", 0).await;
    let mut audit = d.audit(Some(&d.tokens.auditor)).await;
    let mut acc = d.ledger(Some(&d.tokens.accountant)).await;
    for i in 0..5 {
        let v = audit.verify(pb::VerifyRequest::default()).await.expect("verify").into_inner();
        assert!(v.ok, "{v:?}");
        record(&mut acc, vec![contribution(&format!("v{i}"), "conf-a", "1.00", None)]).await.expect("commits go on");
    }
    let log = d.log();
    let paced = log.matches("pacing a whole-store verification").count();
    assert!(paced >= 1, "a verification right after another waits its turn:\n{log}");
}

/// Connections opened by anyone on the machine, without a token, cannot keep a token holder out:
/// at the cap, a new connection takes the place of the oldest one that made no call with a known
/// token. 1,100 idle connections sending only the HTTP/2 preface kept every accountant's call
/// UNAVAILABLE until the idle timeout, and reconnecting kept it so. A token holder's connection
/// keeps its place when more such connections come.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_without_a_token_cannot_keep_a_token_holder_out() {
    // the idle timeout is long: only the eviction can let a call in within the test
    let d = with_config("[limits]\nconnections_max = 8\nidle_timeout_ms = 600000\n").await;
    let flood = |n: usize| {
        let addr = d.addr;
        async move {
            let mut sockets = Vec::new();
            for _ in 0..n {
                let mut s = tokio::net::TcpStream::connect(addr).await.expect("connects");
                let _ = tokio::io::AsyncWriteExt::write_all(&mut s, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await;
                sockets.push(s);
            }
            sockets
        }
    };
    let first = flood(8).await;
    let mut acc = d.ledger(Some(&d.tokens.accountant)).await;
    let read = tokio::time::timeout(Duration::from_secs(10), acc.list_projects(pb::ListProjectsRequest::default()))
        .await
        .expect("answered within 10 s");
    assert!(read.is_ok(), "a token holder gets in at the cap: {read:?}\nlog:\n{}", d.log());
    // more connections without a token: they take each other's places, not the accountant's
    let second = flood(16).await;
    let again = tokio::time::timeout(Duration::from_secs(10), acc.list_projects(pb::ListProjectsRequest::default()))
        .await
        .expect("answered within 10 s");
    assert!(again.is_ok(), "the token holder's connection keeps its place: {again:?}\nlog:\n{}", d.log());
    let log = d.log();
    assert!(log.contains("closed_without_token"), "the closing is logged:\n{log}");
    drop((first, second));
    still_served(&d).await;
}

/// At the cap, connections whose calls showed only a project's token give their places to a staff
/// token's, and so do connections of a token revoked since (the tokens file loaded again): four
/// connections of an organiser's token kept every accountant out, revoked or not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn project_and_revoked_tokens_give_their_places_at_the_cap() {
    let d = with_config("[limits]\nconnections_max = 6\nidle_timeout_ms = 600000\n").await;
    let mut admin = d.ledger(Some(&d.tokens.admin)).await;
    open(&mut admin, OWN_PROJECT, 0).await;
    drop(admin);
    // hold every place with connections that made a call
    let hold = |token: String| {
        let d = &d;
        async move {
            let mut held = Vec::new();
            for _ in 0..6 {
                let mut c = d.ledger(Some(&token)).await;
                let _ = c
                    .get_balance(pb::GetBalanceRequest { project: OWN_PROJECT.into(), currency: None, as_of: None })
                    .await;
                held.push(c);
            }
            held
        }
    };
    let read_by = |token: String| {
        let d = &d;
        async move {
            let mut c = d.ledger(Some(&token)).await;
            let read =
                tokio::time::timeout(Duration::from_secs(10), c.list_projects(pb::ListProjectsRequest::default()))
                    .await
                    .expect("answered within 10 s");
            (read, c)
        }
    };
    let organiser = hold(d.tokens.project.clone()).await;
    let (read, mut alice) = read_by(d.tokens.accountant.clone()).await;
    assert!(read.is_ok(), "an accountant gets in past a project's connections: {read:?}\nlog:\n{}", d.log());
    let more = hold(d.tokens.project.clone()).await;
    let again = alice.list_projects(pb::ListProjectsRequest::default()).await;
    assert!(again.is_ok(), "and keeps the place: {again:?}");
    drop((organiser, more, alice));
    // an auditor's connections (an outside party's, recording nothing) give theirs too
    let auditor = hold(d.tokens.auditor.clone()).await;
    let (read, _alice) = read_by(d.tokens.accountant.clone()).await;
    assert!(read.is_ok(), "an accountant gets in past an auditor's connections: {read:?}\nlog:\n{}", d.log());
    drop(auditor);

    // a tokens file loaded again keeps the standing of the tokens still in force: an accountant's
    // live connection is not given to connections without a token after a SIGHUP
    let mut carol = d.ledger(Some(&d.tokens.accountant)).await;
    carol.list_projects(pb::ListProjectsRequest::default()).await.expect("carol reads");
    reloaded(&d, 1).await;
    let mut raw = Vec::new();
    for _ in 0..12 {
        let mut s = tokio::net::TcpStream::connect(d.addr).await.expect("connects");
        let _ = tokio::io::AsyncWriteExt::write_all(&mut s, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await;
        raw.push(s);
    }
    let kept = carol.list_projects(pb::ListProjectsRequest::default()).await;
    assert!(kept.is_ok(), "carol's connection keeps its place after the reload: {kept:?}");
    drop((raw, carol));

    // a staff token's connections hold every place, then the token is revoked
    let bobs = hold(d.tokens.accountant2.clone()).await;
    let file = d.dir.path().join("tokens.toml").display().to_string();
    let revoked = std::process::Command::new(fiscusd_bin())
        .args(["token", "revoke", "--tokens", &file, "--name", "accountant:bob"])
        .output()
        .expect("fiscusd runs");
    assert!(revoked.status.success(), "{}", String::from_utf8_lossy(&revoked.stderr));
    // rotated: a new token under the same name gives the old one's connections nothing
    let added = std::process::Command::new(fiscusd_bin())
        .args(["token", "add", "--tokens", &file, "--role", "accountant", "--name", "accountant:bob"])
        .output()
        .expect("fiscusd runs");
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    reloaded(&d, 2).await;
    let (read, _alice) = read_by(d.tokens.accountant.clone()).await;
    assert!(read.is_ok(), "a rotated token's old connections give their places: {read:?}\nlog:\n{}", d.log());
    drop(bobs);
    d.stop();
}
