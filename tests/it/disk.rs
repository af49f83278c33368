//! Disk trouble: the store's disk fills up in the middle of the commits.
//!
//! The data folder is a small tmpfs the test mounts (the tests run as root, here and in CI). Where
//! mounting is impossible (no CAP_SYS_ADMIN), the daemon runs under a file-size limit instead
//! (`ulimit -f`, with SIGXFSZ ignored so that a write past it fails with EFBIG): a failing write
//! either way. The policy under test (ARCHITECTURE.md, "Disk trouble"): the commit whose write
//! fails is answered `UNAVAILABLE` naming the failure and asking for a retry with the same event
//! ids; the store refuses every later write (reads go on) until the daemon is restarted on a sound
//! disk, when replay verifies what is durable and writes resume. Nothing acknowledged is lost, and
//! the retried commit is stored once.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fiscus_proto::pb;
use fiscus_proto::pb::audit_client::AuditClient;
use fiscus_proto::pb::ledger_client::LedgerClient;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::service::Interceptor;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request, Status};

use crate::support::{contribution, START_DEADLINE};

/// The size of the tmpfs, and the file-size limit of the fallback: a few hundred commits fill it.
const DISK_BYTES: u64 = 4 << 20;
/// Most commits sent before the disk must have filled up.
const COMMITS_MAX: usize = 5_000;
/// Events per commit, each with a memo of [`MEMO_CHARS`] characters (the disk fills faster).
const EVENTS_PER_COMMIT: usize = 10;
const MEMO_CHARS: usize = 1_000;
const PROJECT: &str = "disk-full";

/// How the disk gets into trouble.
enum Trouble {
    /// A tmpfs of [`DISK_BYTES`] mounted on the data folder; unmounted when dropped.
    Tmpfs(PathBuf),
    /// No mount possible: the daemon runs under a file-size limit of [`DISK_BYTES`].
    FileSize,
}

impl Trouble {
    /// Mounts a small tmpfs on `data`, or falls back to the file-size limit.
    fn new(data: &Path) -> Trouble {
        std::fs::create_dir_all(data).expect("data folder");
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={DISK_BYTES},mode=0700"), "tmpfs"])
            .arg(data)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if mounted {
            Trouble::Tmpfs(data.to_owned())
        } else {
            eprintln!("cannot mount a tmpfs here; the daemon runs under a file-size limit instead");
            Trouble::FileSize
        }
    }

    /// The disk is fine again: the tmpfs grows to 64 MiB (the limited daemon is restarted without
    /// its limit).
    fn heal(&self) {
        if let Trouble::Tmpfs(at) = self {
            let status = Command::new("mount").args(["-o", "remount,size=64m"]).arg(at).status().expect("mount runs");
            assert!(status.success(), "remounting the tmpfs bigger");
        }
    }
}

impl Drop for Trouble {
    fn drop(&mut self) {
        if let Trouble::Tmpfs(at) = self {
            let _ = Command::new("umount").arg("-l").arg(at).status();
        }
    }
}

/// A `fiscusd` this test starts itself (possibly under a file-size limit); killed when dropped.
struct Fiscusd {
    child: Child,
    addr: SocketAddr,
}

impl Fiscusd {
    async fn start(dir: &Path, limited: bool) -> Fiscusd {
        let bin = env!("CARGO_BIN_EXE_fiscusd");
        let log = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("fiscusd.log")).expect("log");
        let mut command = if limited {
            // bash counts `ulimit -f` in 1024-byte blocks; an ignored SIGXFSZ turns the kill into EFBIG.
            let mut c = Command::new("bash");
            c.arg("-c").arg(format!("ulimit -f {}; trap '' XFSZ; exec \"$0\" \"$@\"", DISK_BYTES / 1024)).arg(bin);
            c
        } else {
            Command::new(bin)
        };
        let mut child = command
            .arg("--data")
            .arg(dir.join("data"))
            .arg("--tokens")
            .arg(dir.join("tokens.toml"))
            .args(["--listen", "127.0.0.1:0"])
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("fiscusd starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let line = rx.recv_timeout(START_DEADLINE).unwrap_or_else(|_| {
            panic!(
                "fiscusd printed no address; log:\n{}",
                std::fs::read_to_string(dir.join("fiscusd.log")).unwrap_or_default()
            )
        });
        let addr = line.strip_prefix("fiscusd listening on ").and_then(|a| a.parse().ok()).expect("an address");
        Fiscusd { child, addr }
    }

    async fn channel(&self) -> Channel {
        let started = Instant::now();
        loop {
            let endpoint = Endpoint::from_shared(format!("http://{}", self.addr)).expect("endpoint");
            match endpoint.connect_timeout(Duration::from_secs(5)).timeout(Duration::from_secs(60)).connect().await {
                Ok(c) => return c,
                Err(e) => assert!(started.elapsed() < START_DEADLINE, "cannot connect: {e}"),
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGTERM, and a wait for the exit.
    fn stop(mut self) {
        let sent = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().expect("kill runs");
        assert!(sent.success());
        let started = Instant::now();
        while self.child.try_wait().expect("wait").is_none() {
            assert!(started.elapsed() < START_DEADLINE, "fiscusd did not stop after SIGTERM");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Fiscusd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Clone)]
struct Bearer(MetadataValue<Ascii>);

impl Interceptor for Bearer {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        request.metadata_mut().insert("authorization", self.0.clone());
        Ok(request)
    }
}

type Ledger = LedgerClient<InterceptedService<Channel, Bearer>>;

fn token(dir: &Path, role: &str) -> Bearer {
    let out = Command::new(env!("CARGO_BIN_EXE_fiscusd"))
        .args(["token", "add", "--tokens"])
        .arg(dir.join("tokens.toml"))
        .args(["--role", role, "--name", &format!("disk:{role}")])
        .output()
        .expect("fiscusd token add runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let token = String::from_utf8(out.stdout).expect("text").trim().to_owned();
    Bearer(format!("Bearer {token}").parse().expect("ASCII"))
}

/// One commit of [`EVENTS_PER_COMMIT`] contributions with long memos, its ids from `k`.
fn filler(k: usize) -> pb::RecordCommitRequest {
    let events = (0..EVENTS_PER_COMMIT)
        .map(|i| {
            let mut e = contribution(&format!("fill-{k}-{i}"), PROJECT, "12.34", None);
            e.memo = format!("{k:08}-{i:02} ").repeat(MEMO_CHARS / 12).chars().take(MEMO_CHARS).collect();
            e
        })
        .collect();
    pb::RecordCommitRequest { events, expected_seq: BTreeMap::new(), allow_same_receipt: false }
}

/// Every event of the project: event id → seq.
async fn stored(ledger: &mut Ledger) -> HashMap<String, Vec<u64>> {
    let mut out: HashMap<String, Vec<u64>> = HashMap::new();
    let mut after = 0;
    loop {
        let page = ledger
            .list_events(pb::ListEventsRequest { project: PROJECT.into(), after_seq: after, page_size: 0 })
            .await
            .expect("events")
            .into_inner();
        for e in &page.events {
            let id = e.event.as_ref().map(|ev| ev.event_id.clone()).unwrap_or_default();
            out.entry(id).or_default().push(e.seq);
        }
        if page.events.is_empty() || page.next_after_seq >= page.head_seq {
            return out;
        }
        after = page.next_after_seq;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_the_commit_clearly_loses_nothing_and_writes_resume_after_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (admin, accountant) = (token(dir.path(), "admin"), token(dir.path(), "accountant"));
    let trouble = Trouble::new(&dir.path().join("data"));
    let limited = matches!(trouble, Trouble::FileSize);
    let daemon = Fiscusd::start(dir.path(), limited).await;
    let channel = daemon.channel().await;
    LedgerClient::with_interceptor(channel.clone(), admin.clone())
        .open_project(pb::OpenProjectRequest {
            event_id: format!("open-{PROJECT}"),
            project: PROJECT.into(),
            effective_date: "2026-01-01".into(),
            memo: String::new(),
            reference: None,
            opened: Some(pb::ProjectOpened {
                name: "Disk trouble".into(),
                kind: pb::ProjectKind::Conference.into(),
                fee_bps: 0,
                currency: "USD".into(),
                advance_limit: "0".into(),
            }),
        })
        .await
        .expect("open");
    let mut ledger = LedgerClient::with_interceptor(channel.clone(), accountant.clone());

    // Commit until the disk is full; remember what was acknowledged.
    let mut acked: HashMap<String, u64> = HashMap::new();
    let mut failed: Option<(pb::RecordCommitRequest, Status)> = None;
    for k in 0..COMMITS_MAX {
        let request = filler(k);
        match ledger.record_commit(request.clone()).await {
            Ok(answer) => {
                let answer = answer.into_inner();
                for (e, p) in request.events.iter().zip(&answer.positions) {
                    acked.insert(e.event_id.clone(), p.seq);
                }
            }
            Err(status) => {
                failed = Some((request, status));
                break;
            }
        }
    }
    let (request, status) = failed.unwrap_or_else(|| panic!("{COMMITS_MAX} commits never filled the disk"));
    assert!(!acked.is_empty(), "some commits fitted before the disk filled up");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    let reason = if limited { "File too large" } else { "No space left on device" };
    for part in [reason, "not acknowledged", "retry with the same event ids"] {
        assert!(status.message().contains(part), "the message names {part:?}: {}", status.message());
    }

    // Later writes are refused as clearly; reads go on, and see every acknowledged event.
    let refused = ledger.record_commit(filler(COMMITS_MAX)).await.expect_err("writes are refused");
    assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");
    assert!(refused.message().contains("restart"), "the message says what brings writes back: {}", refused.message());
    let seen = stored(&mut ledger).await;
    for (id, seq) in &acked {
        assert_eq!(seen.get(id), Some(&vec![*seq]), "{id} is readable where it was acknowledged");
    }

    // The disk is fine again; after a restart every acknowledged event is there, once, at its seq,
    // the store verifies, the failed commit's retry is stored once, and new writes go through.
    trouble.heal();
    drop(ledger);
    drop(channel);
    daemon.stop();
    let daemon = Fiscusd::start(dir.path(), false).await;
    let channel = daemon.channel().await;
    let mut ledger = LedgerClient::with_interceptor(channel.clone(), accountant.clone());
    let mut audit = AuditClient::with_interceptor(channel.clone(), admin.clone());
    let verified = audit.verify(pb::VerifyRequest { project: String::new() }).await.expect("verify").into_inner();
    assert!(verified.ok, "the store verifies: {:?}", verified.damage);
    let retried = ledger.record_commit(request.clone()).await.expect("the retry is stored").into_inner();
    assert_eq!(retried.positions.len(), EVENTS_PER_COMMIT);
    ledger.record_commit(filler(COMMITS_MAX + 1)).await.expect("writes resume");
    let seen = stored(&mut ledger).await;
    for (id, seq) in &acked {
        assert_eq!(seen.get(id), Some(&vec![*seq]), "{id} is stored once where it was acknowledged");
    }
    for (e, p) in request.events.iter().zip(&retried.positions) {
        assert_eq!(seen.get(&e.event_id), Some(&vec![p.seq]), "the retried {} is stored once", e.event_id);
    }
    daemon.stop();
    drop(trouble);
}
