//! Disk trouble: the store's disk fills up in the middle of the commits.
//!
//! The data folder is a small tmpfs the test mounts (the tests run as root, here and in CI). Where
//! mounting is impossible (no CAP_SYS_ADMIN), the daemon runs under a file-size limit instead
//! (`ulimit -f`, with SIGXFSZ ignored so that a write past it fails with EFBIG): a failing write
//! either way. The policy under test (ARCHITECTURE.md, "Disk trouble"): the commit whose write
//! fails is answered `UNAVAILABLE` naming the failure and asking for a retry with the same event
//! ids; the store refuses every later write (reads go on) and health is `NOT_SERVING` (the server
//! and Ledger; Audit serves on) until the daemon is restarted on a sound disk, when replay verifies
//! what is durable and writes resume. Nothing acknowledged is lost, and the retried commit is stored
//! once.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fiscus_proto::pb;
use tonic::{Code, Status};
use tonic_health::pb::health_check_response::ServingStatus;

use crate::support::{contribution, open, usd_balance, Daemon, Ledger};

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

/// One commit of [`EVENTS_PER_COMMIT`] contributions with long memos, its ids from `k`.
fn filler(k: usize) -> pb::RecordCommitRequest {
    let events = (0..EVENTS_PER_COMMIT)
        .map(|i| {
            let mut e = contribution(&format!("fill-{k}-{i}"), PROJECT, "12.34", None);
            e.memo = format!("{k:08}-{i:02} ").repeat(MEMO_CHARS / 12).chars().take(MEMO_CHARS).collect();
            e
        })
        .collect();
    pb::RecordCommitRequest { events, expected_seq: BTreeMap::new(), allow_same_receipt: false, dry_run: false }
}

/// Every event of the project: event id → seq.
async fn stored(ledger: &mut Ledger) -> HashMap<String, Vec<u64>> {
    stored_or_refused(ledger).await.unwrap_or_else(|s| panic!("events: {s:?}"))
}

/// Every event of the project (event id → seq), or the refusal of a page.
async fn stored_or_refused(ledger: &mut Ledger) -> Result<HashMap<String, Vec<u64>>, Status> {
    let mut out: HashMap<String, Vec<u64>> = HashMap::new();
    let mut after = 0;
    loop {
        let page = ledger
            .list_events(pb::ListEventsRequest { project: PROJECT.into(), after_seq: after, page_size: 0 })
            .await?
            .into_inner();
        for e in &page.events {
            let id = e.event.as_ref().map(|ev| ev.event_id.clone()).unwrap_or_default();
            out.entry(id).or_default().push(e.seq);
        }
        if page.events.is_empty() || page.next_after_seq >= page.head_seq {
            return Ok(out);
        }
        after = page.next_after_seq;
    }
}

/// How long health may take to turn NOT_SERVING after the failed write was answered.
const HEALTH_DEADLINE: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_the_commit_clearly_loses_nothing_and_writes_resume_after_a_restart() {
    let (dir, tokens) = Daemon::prepare();
    let trouble = Trouble::new(&dir.path().join("data"));
    let limited = matches!(trouble, Trouble::FileSize);
    let daemon = if limited {
        Daemon::spawn_file_size_limited(dir.clone(), tokens.clone(), DISK_BYTES).await
    } else {
        Daemon::spawn(dir.clone(), tokens.clone(), &[]).await
    };
    open(&mut daemon.ledger(Some(&tokens.admin)).await, PROJECT, 0).await;
    let mut ledger = daemon.ledger(Some(&tokens.accountant)).await;

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

    // Health says writes are refused (the server and Ledger NOT_SERVING; Audit still SERVING).
    let started = Instant::now();
    while daemon.health("").await != ServingStatus::NotServing as i32 {
        assert!(
            started.elapsed() < HEALTH_DEADLINE,
            "health still SERVING after a failed write; log:\n{}",
            daemon.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(daemon.health("fiscus.v1.Ledger").await, ServingStatus::NotServing as i32);
    assert_eq!(daemon.health("fiscus.v1.Audit").await, ServingStatus::Serving as i32);

    // Later writes are refused as clearly; reads go on, and see every acknowledged event.
    let refused = ledger.record_commit(filler(COMMITS_MAX)).await.expect_err("writes are refused");
    assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");
    assert!(refused.message().contains("restart"), "the message says what brings writes back: {}", refused.message());
    // A read of stored records either answers all of them or is refused whole, naming the failed
    // write and what brings the store back (`Reader::settled`): never damage (`DATA_LOSS`).
    match stored_or_refused(&mut ledger).await {
        Ok(seen) => {
            for (id, seq) in &acked {
                assert_eq!(seen.get(id), Some(&vec![*seq]), "{id} is readable where it was acknowledged");
            }
        }
        Err(status) => {
            eprintln!("the read after the failed write was refused: {}", status.message());
            assert_eq!(status.code(), Code::Unavailable, "{status:?}");
            for part in ["after a write to it had failed", reason, "restart fiscusd"] {
                assert!(status.message().contains(part), "the refused read names {part:?}: {}", status.message());
            }
        }
    }
    let balance_while_refusing = usd_balance(&mut ledger, PROJECT).await;
    assert_eq!(daemon.health("").await, ServingStatus::NotServing as i32, "no write brings SERVING back");

    // The disk is fine again; after a restart every acknowledged event is there, once, at its seq,
    // the store verifies, the failed commit's retry is stored once, and new writes go through.
    trouble.heal();
    drop(ledger);
    let daemon = daemon.restart().await;
    assert_eq!(daemon.health("").await, ServingStatus::Serving as i32, "SERVING again after the restart");
    let mut ledger = daemon.ledger(Some(&tokens.accountant)).await;
    assert_eq!(
        usd_balance(&mut ledger, PROJECT).await,
        balance_while_refusing,
        "the balance served while writes were refused is the one replay finds"
    );
    let mut audit = daemon.audit(Some(&tokens.admin)).await;
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
    let status = daemon.stop();
    assert!(status.success(), "a clean exit after SIGTERM: {status}");
    drop(trouble);
}
