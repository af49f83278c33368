//! The single writer: one OS thread owns the [`Store`] (sled is synchronous) and is the only code
//! that writes to it.
//!
//! Write requests wait on a bounded queue ([`WriterHandle::commit`] answers `RESOURCE_EXHAUSTED` at
//! once when it is full; nothing queued is lost). The thread takes every pending request up to
//! `group_requests_max`, hands them to `Store::commit_group` (each validated against the state
//! including the earlier ones, one sled batch, one flush and sync), publishes the new projection
//! for readers, and only then answers each request: a client is told "committed" only once its
//! commit is durable. The group's batch holds the transparency log's part of it and the checkpoint
//! signed after it (`Store::commit_group`), and the writer publishes the log's new state before the
//! projection, so every answered commit is under a stored signed checkpoint (its receipt). Readers never wait for this thread; they use the latest published snapshot.
//!
//! If the thread fails anyway (a panic: a bug, since every refusal is an answer), it reports the
//! failure on [`Writer::failure`] and ends: queued and later requests get `UNAVAILABLE`, and
//! `serve.rs` turns health to `NOT_SERVING` and exits non-zero, so that a supervisor restarts the
//! daemon and replay verifies the store (the writer-failure policy in ARCHITECTURE.md).

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use fiscus_ledger::log::LogState;
use fiscus_ledger::replay::Replayed;
use fiscus_ledger::store::{Reader, Store};
use fiscus_ledger::{CommitRequest, Committed, LedgerError, Projection};
use tokio::sync::{mpsc, oneshot, watch};
use tonic::Status;
use tracing::{error, info, warn};

use crate::status::ledger_status;

/// What the writer thread is asked to do.
enum Job {
    /// Commit one request.
    Commit { request: CommitRequest, reply: oneshot::Sender<Result<Committed, LedgerError>> },
    /// Check one request as it would be committed now, storing nothing (`Store::check`).
    Check { request: CommitRequest, reply: oneshot::Sender<Result<Committed, LedgerError>> },
    /// Verify the whole store (between groups, so the scans see one consistent store).
    Verify { reply: oneshot::Sender<Result<Replayed, LedgerError>> },
    /// Append verified cosignature lines to the stored checkpoint of `size` (`witnesses.rs`).
    Cosign { size: u64, lines: Vec<fiscus_tlog::NoteSignature>, reply: oneshot::Sender<Result<(), LedgerError>> },
    /// Finish what is queued before this, then close the store and end.
    Stop,
}

/// Sends work to the writer thread; cheap to clone.
#[derive(Clone)]
pub struct WriterHandle {
    queue: mpsc::Sender<Job>,
}

/// Why a job was not taken onto the writer's queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offer {
    /// The queue is full (commits come first): try again later.
    Full,
    /// The writer has ended.
    Closed,
}

/// The latest published state, for readers.
pub type Snapshot = Arc<Projection>;

/// The latest published state of the transparency log (the project-heads map, size, root, last
/// leaf), published before the projection of the same commit.
pub type LogSnapshot = Arc<LogState>;

/// A running writer thread.
pub struct Writer {
    /// Sends work to it.
    pub handle: WriterHandle,
    /// Always holds the projection of every durable commit.
    pub snapshot: watch::Receiver<Snapshot>,
    /// The transparency log after every durable commit, at least as new as `snapshot`.
    pub log: watch::Receiver<LogSnapshot>,
    /// Reads the store from other threads.
    pub reader: Reader,
    /// `Some(what happened)` once the thread has failed (it panicked) and ended.
    pub failure: watch::Receiver<Option<String>>,
    /// `Some(why)` once a write to the store has failed (a full disk, an unwritable data folder):
    /// the store refuses every later write until fiscusd is restarted, while reads go on.
    pub refusing_writes: watch::Receiver<Option<String>>,
    thread: std::thread::JoinHandle<()>,
}

/// Fault injection for tests (`fiscusd --fault-writer-panic-at-commit N`): when non-zero, the writer
/// panics instead of storing the group that would hold commit number N. Nothing else sets it.
static PANIC_AT_COMMIT: AtomicU64 = AtomicU64::new(0);

/// Makes the writer panic before it stores commit number `commit` (a fault-injection hook for the
/// writer-failure tests; 0 turns it off).
pub fn inject_panic_at_commit(commit: u64) {
    PANIC_AT_COMMIT.store(commit, Ordering::Relaxed);
}

/// Measurement only (`fiscusd --measure-without-log`, passed by `fiscus-bench logcost` alone): the
/// store is written without its transparency log ([`Store::measure_without_log`]) and `RecordCommit`
/// answers without a receipt. Nothing else sets it: the log is always on otherwise.
static WITHOUT_LOG: AtomicBool = AtomicBool::new(false);

/// Leaves the transparency log out, for measuring its cost (see [`WITHOUT_LOG`]).
pub fn measure_without_log() {
    WITHOUT_LOG.store(true, Ordering::Relaxed);
}

/// True when the log is left out for a measurement (never otherwise).
pub fn without_log() -> bool {
    WITHOUT_LOG.load(Ordering::Relaxed)
}

impl Writer {
    /// Starts the writer thread on `store`, with a queue of `queue_depth` requests and groups of at
    /// most `group_max` requests.
    pub fn spawn(mut store: Store, queue_depth: usize, group_max: usize) -> std::io::Result<Writer> {
        if without_log() {
            store.measure_without_log().map_err(std::io::Error::other)?;
            warn!("measuring without the transparency log: commits get no receipt and no checkpoint");
        }
        let (queue, jobs) = mpsc::channel(queue_depth);
        let (publish, snapshot) = watch::channel(Arc::new(store.projection().clone()));
        let (publish_log, log) = watch::channel(Arc::new(store.log().clone()));
        let reader = store.reader();
        let (failed, failure) = watch::channel(None);
        let (refuse, refusing_writes) = watch::channel(None);
        let thread = std::thread::Builder::new().name("fiscus-writer".to_owned()).spawn(move || {
            // The store, the queue and every unanswered reply are dropped on the way out, so callers
            // learn at once that their request was not answered (and may retry with the same ids).
            let ran = std::panic::catch_unwind(AssertUnwindSafe(|| {
                run(store, jobs, Publish { projection: publish, log: publish_log }, refuse, group_max)
            }));
            if let Err(panic) = ran {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic".to_owned());
                error!(panic = %what, "the writer failed; no more writes are taken");
                failed.send_replace(Some(what));
            }
        })?;
        Ok(Writer { handle: WriterHandle { queue }, snapshot, log, reader, failure, refusing_writes, thread })
    }

    /// Asks the thread to finish the requests queued so far, close the store and end; waits for it.
    pub async fn stop(self) {
        // Waits for room in the queue: every request before the stop is still answered.
        if self.handle.queue.send(Job::Stop).await.is_err() {
            warn!("the writer had already ended");
        }
        let thread = self.thread;
        match tokio::task::spawn_blocking(move || thread.join()).await {
            Ok(Ok(())) => {}
            _ => warn!("the writer thread ended abnormally"),
        }
    }
}

impl WriterHandle {
    /// Commits `request` (its `recorded_at` is set by the writer) and answers once it is durable;
    /// or, with `check_only` (`RecordCommitRequest.dry_run`), stages it on the writer's current
    /// state after the commits queued before it and answers as the commit would, storing nothing.
    /// A refusal goes through `paths` first, which rewrites its field path into the request the RPC
    /// received (the ledger names paths of a `RecordCommitRequest`).
    pub async fn commit_or_check(
        &self,
        request: CommitRequest,
        check_only: bool,
        paths: impl FnOnce(LedgerError) -> LedgerError,
    ) -> Result<Committed, Status> {
        let (reply, answer) = oneshot::channel();
        let job = if check_only { Job::Check { request, reply } } else { Job::Commit { request, reply } };
        self.queue.try_send(job).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => {
                Status::resource_exhausted("the write queue is full; retry later with the same event ids")
            }
            mpsc::error::TrySendError::Closed(_) => Status::unavailable("the server is shutting down"),
        })?;
        match answer.await {
            Ok(Ok(committed)) => Ok(committed),
            Ok(Err(e)) => Err(ledger_status(&paths(e))),
            Err(_) => Err(Status::unavailable("the writer ended before answering; retry with the same event ids")),
        }
    }

    /// Verifies the whole store on the writer thread, between two groups.
    pub async fn verify(&self) -> Result<Replayed, Status> {
        let (reply, answer) = oneshot::channel();
        self.queue.try_send(Job::Verify { reply }).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => Status::resource_exhausted("the write queue is full; retry later"),
            mpsc::error::TrySendError::Closed(_) => Status::unavailable("the server is shutting down"),
        })?;
        match answer.await {
            Ok(Ok(replayed)) => Ok(replayed),
            Ok(Err(e)) => Err(ledger_status(&e)),
            Err(_) => Err(Status::unavailable("the writer ended before answering")),
        }
    }
}

impl WriterHandle {
    /// Offers the writer the cosignature lines `lines` (each already verified against its
    /// witness's key) to append to the stored checkpoint of `size`, without waiting for room in
    /// the queue; the answer says once they are stored (synced). A size without a stored
    /// checkpoint, or a store that refuses writes, is an error.
    pub fn add_cosignatures(
        &self,
        size: u64,
        lines: Vec<fiscus_tlog::NoteSignature>,
    ) -> Result<oneshot::Receiver<Result<(), LedgerError>>, Offer> {
        let (reply, answer) = oneshot::channel();
        self.queue.try_send(Job::Cosign { size, lines, reply }).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => Offer::Full,
            mpsc::error::TrySendError::Closed(_) => Offer::Closed,
        })?;
        Ok(answer)
    }
}

fn now_us() -> i64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since.as_micros()).unwrap_or(i64::MAX)
}

/// Where the writer publishes what readers see.
struct Publish {
    projection: watch::Sender<Snapshot>,
    log: watch::Sender<LogSnapshot>,
}

fn run(
    mut store: Store,
    mut jobs: mpsc::Receiver<Job>,
    publish: Publish,
    refuse: watch::Sender<Option<String>>,
    group_max: usize,
) {
    let mut requests: Vec<CommitRequest> = Vec::with_capacity(group_max);
    let mut replies: Vec<oneshot::Sender<Result<Committed, LedgerError>>> = Vec::with_capacity(group_max);
    let mut verifies: Vec<oneshot::Sender<Result<Replayed, LedgerError>>> = Vec::new();
    let mut cosigns = Vec::new();
    let mut checks: Vec<(CommitRequest, oneshot::Sender<Result<Committed, LedgerError>>)> = Vec::new();
    let mut stopping = false;
    while !stopping {
        let Some(first) = jobs.blocking_recv() else { break };
        let mut next = Some(first);
        // Take every pending job, up to a group's worth of commits.
        while let Some(job) = next.take() {
            match job {
                Job::Commit { mut request, reply } => {
                    request.recorded_at = now_us();
                    requests.push(request);
                    replies.push(reply);
                }
                Job::Check { mut request, reply } => {
                    request.recorded_at = now_us();
                    checks.push((request, reply));
                }
                Job::Verify { reply } => verifies.push(reply),
                Job::Cosign { size, lines, reply } => cosigns.push((size, lines, reply)),
                Job::Stop => {
                    stopping = true;
                    break;
                }
            }
            if requests.len() >= group_max {
                break;
            }
            next = jobs.try_recv().ok();
        }
        if !requests.is_empty() {
            commit_group(&mut store, &publish, &refuse, &mut requests, &mut replies);
        }
        for (request, reply) in checks.drain(..) {
            let _ = reply.send(store.check(&request));
        }
        for (size, lines, reply) in cosigns.drain(..) {
            let _ = reply.send(add_cosignatures(&mut store, size, &lines));
        }
        for reply in verifies.drain(..) {
            let started = Instant::now();
            let result = store.verify();
            match &result {
                Ok(r) => info!(
                    commits = r.commits,
                    chains = r.projection.chains().count(),
                    damaged = r.damage.len(),
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "verified the store"
                ),
                Err(e) => warn!(error = %e, "verification failed to run"),
            }
            let _ = reply.send(result);
        }
    }
    match store.close() {
        Ok(()) => info!("store closed"),
        Err(e) => warn!(error = %e, "closing the store failed"),
    }
}

fn commit_group(
    store: &mut Store,
    publish: &Publish,
    refuse: &watch::Sender<Option<String>>,
    requests: &mut Vec<CommitRequest>,
    replies: &mut Vec<oneshot::Sender<Result<Committed, LedgerError>>>,
) {
    let started = Instant::now();
    let before = store.projection().commit_head.number;
    let fault = PANIC_AT_COMMIT.load(Ordering::Relaxed);
    if fault > before && fault <= before + requests.len() as u64 {
        panic!("injected fault: the writer panics before storing commit {fault}");
    }
    match store.commit_group(requests) {
        Ok(answers) => {
            let after = store.projection().commit_head.number;
            if after != before {
                // the log first: a reader of the projection of commit n finds a log of n or more
                publish.log.send_replace(Arc::new(store.log().clone()));
                publish.projection.send_replace(Arc::new(store.projection().clone()));
            }
            let events: usize = answers
                .iter()
                .zip(requests.iter())
                .filter(|(a, _)| matches!(a, Ok(c) if !c.duplicate))
                .map(|(_, r)| r.events.len())
                .sum();
            let refused = answers.iter().filter(|a| a.is_err()).count();
            info!(
                first_commit = before + 1,
                last_commit = after,
                commits = after - before,
                events,
                requests = answers.len(),
                refused,
                elapsed_us = started.elapsed().as_micros() as u64,
                "commit group"
            );
            for ((answer, reply), request) in answers.into_iter().zip(replies.drain(..)).zip(requests.iter()) {
                if let Err(e) = &answer {
                    warn!(actor = %request.actor, events = request.events.len(), error = %e, "commit refused");
                }
                // A caller that went away still has its commit stored; nothing to undo. Its access
                // line says only that the call ended, so this says what became of the commit.
                if let Err(Ok(committed)) = reply.send(answer) {
                    warn!(
                        actor = %request.actor,
                        commit = committed.commit,
                        duplicate = committed.duplicate,
                        event_ids = %event_ids(request),
                        "a commit was stored after its caller stopped waiting (its deadline passed or it went away); \
                         a retry with the same event ids finds it"
                    );
                }
            }
        }
        Err(e) => {
            warn!(requests = requests.len(), error = %e, "commit group failed; nothing was applied");
            let answer = storage_failure(&e);
            // A failed write leaves the store refusing writes until a restart (one damaged since it
            // opened refused from the start): health turns NOT_SERVING before anyone is answered.
            if let (true, Some(why)) = (store.damage().is_empty(), store.refuses_writes()) {
                refuse.send_if_modified(|now| {
                    let first = now.is_none();
                    if first {
                        *now = Some(why.to_owned());
                    }
                    first
                });
            }
            for reply in replies.drain(..) {
                let _ = reply.send(Err(LedgerError::ReadOnly(answer.clone())));
            }
        }
    }
    requests.clear();
    replies.clear();
}

/// Most event ids [`event_ids`] names.
const EVENT_IDS_SHOWN_MAX: usize = 10;

/// The first event ids of `request`, comma-separated, and how many more it has: what ties a
/// writer's line to the access line of the same call.
fn event_ids(request: &CommitRequest) -> String {
    let mut ids: Vec<&str> = request.events.iter().take(EVENT_IDS_SHOWN_MAX).map(|e| e.event_id.as_str()).collect();
    let more = request.events.len().saturating_sub(EVENT_IDS_SHOWN_MAX);
    let more = format!("and {more} more");
    if request.events.len() > EVENT_IDS_SHOWN_MAX {
        ids.push(&more);
    }
    ids.join(",")
}

/// Appends verified cosignature lines to the stored checkpoint of `size`, unless the store refuses
/// writes.
fn add_cosignatures(store: &mut Store, size: u64, lines: &[fiscus_tlog::NoteSignature]) -> Result<(), LedgerError> {
    if let Some(why) = store.refuses_writes() {
        return Err(LedgerError::ReadOnly(why.to_owned()));
    }
    match store.add_cosignatures(size, lines)? {
        Some(_) => Ok(()),
        None => Err(LedgerError::Corrupt {
            project: fiscus_ledger::log::LOG_NAME.to_owned(),
            seq: size,
            problem: "no checkpoint of this size is stored to add cosignatures to".to_owned(),
        }),
    }
}

/// The answer (a [`LedgerError::ReadOnly`] message, so `UNAVAILABLE`) to every request of a group
/// whose write failed (a full disk, an unwritable data folder): the outcome is unknown to the caller,
/// and a retry with the same event ids is safe. The store refuses later writes until it is reopened
/// (see "Disk trouble" in ARCHITECTURE.md); a group refused for that reason gets the store's reason.
fn storage_failure(e: &LedgerError) -> String {
    match e {
        LedgerError::ReadOnly(why) => why.clone(),
        other => format!(
            "this commit could not be written ({other}); it is not acknowledged and may or may not be stored: \
             retry with the same event ids once fiscusd has been restarted on a sound disk"
        ),
    }
}
