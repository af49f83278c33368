//! `Ledger.Subscribe`: every commit after a cursor, catch-up then live, in commit order, none twice
//! and none skipped.
//!
//! A subscriber reads the commit log itself, from its cursor up to the head of the latest published
//! snapshot (never past it: what lies beyond may not be durable yet), and waits for the next
//! snapshot when it has caught up. Catch-up and live are the same loop, so there is no seam between
//! them where a commit could be lost or sent twice; the cursor only moves forward, one commit at a
//! time. A commit whose events pass the byte budget of one message comes in parts
//! (`SubscribeResponse.continues`). The stream's bounded buffer holds a slow reader back; a live subscriber that falls more
//! than `subscriber_lag_commits_max` commits behind the head is ended with `RESOURCE_EXHAUSTED`.

use std::sync::Arc;

use fiscus_ledger::chain::{Hash, COMMIT_GENESIS};
use fiscus_ledger::record::{CommitEntry, Record};
use fiscus_ledger::store::Reader;
use fiscus_ledger::{LedgerError, Projection};
use fiscus_proto::pb;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use crate::auth::{Principal, RoleKind};
use crate::convert::recorded_pb;
use crate::ledger_service::{home_of, item_bytes};
use crate::state::{blocking, Shared};

/// Commits read from the log per step of a catch-up.
pub const CATCH_UP_COMMITS: u64 = 64;

/// Responses buffered per stream before the reader waits for the client.
pub const STREAM_BUFFER: usize = 16;

/// Checks the request and starts the stream.
pub fn start(
    shared: Arc<Shared>,
    principal: &Principal,
    request: pb::SubscribeRequest,
) -> Result<ReceiverStream<Result<pb::SubscribeResponse, Status>>, Status> {
    // A project's token names its project (SubscribeRequest.project): a stream of every project
    // has no gap between commits, which clients check, and this one would skip the others' commits.
    if let ("", Some(own)) = (request.project.as_str(), principal.own_project()) {
        return Err(crate::status::invalid(
            "project",
            format!(
                "is empty, but a project's token must name its project ({own}): its stream holds that project's \
                 commits only"
            ),
        ));
    }
    let filter = crate::state::scope_of(principal, &request.project);
    match &filter {
        Some(p) => {
            shared.readable(principal, "project", p)?;
        }
        None => principal.require(&[RoleKind::Admin, RoleKind::Accountant, RoleKind::Auditor], "subscribe")?,
    }
    // A cursor past the head names a commit this ledger never had (another ledger's, or none): the
    // stream would wait for it, holding a subscriber slot, for good.
    let head = shared.snapshot.borrow().commit_head.number;
    if request.after_commit > head {
        return Err(crate::status::invalid_range(
            "after_commit",
            format!(
                "is {}, past the ledger's head, commit {head}: resume after a commit received from this ledger",
                request.after_commit
            ),
        ));
    }
    let permit = shared.subscribers.take(&principal.name)?;
    let token = principal.token;
    let (tx, rx) = mpsc::channel(STREAM_BUFFER);
    tokio::spawn(async move {
        let _permit = permit;
        if let Err(status) = feed(&shared, filter, request.after_commit, token, &tx).await {
            let _ = tx.send(Err(status)).await;
        }
    });
    Ok(ReceiverStream::new(rx))
}

async fn feed(
    shared: &Arc<Shared>,
    filter: Option<String>,
    after: u64,
    token: crate::connections::TokenHash,
    tx: &mpsc::Sender<Result<pb::SubscribeResponse, Status>>,
) -> Result<(), Status> {
    let mut snapshots = shared.snapshot.clone();
    let mut shutdown = shared.shutdown.clone();
    let lag_max = shared.limits.subscriber_lag_commits_max;
    let mut token_loads = crate::connections::token_loads();
    let mut cursor = after;
    let mut prev: Option<Hash> = None;
    let mut live = false;
    loop {
        if *shutdown.borrow() {
            return Err(shutting_down());
        }
        // A token revoked since the stream began reads nothing more: checked after each commit
        // and each load of the tokens file (marked seen first, so that none is missed).
        token_loads.borrow_and_update();
        if !crate::connections::token_in_force(&token) {
            return Err(Status::unauthenticated(
                "the token was revoked (the tokens file was loaded again); the stream ends",
            ));
        }
        let snapshot = snapshots.borrow_and_update().clone();
        let head = snapshot.commit_head.number;
        if cursor < head {
            if live && head - cursor > lag_max {
                return Err(Status::resource_exhausted(format!(
                    "the subscriber fell {} commits behind (the limit is {lag_max}); resume after commit {cursor}",
                    head - cursor
                )));
            }
            let count = (head - cursor).min(CATCH_UP_COMMITS);
            let reader = shared.reader.clone();
            let wanted = filter.clone();
            let (responses, last) =
                blocking(move || read_commits(&reader, &snapshot, cursor, count, prev, wanted.as_deref())).await?;
            for r in responses {
                if tx.send(Ok(r)).await.is_err() {
                    return Ok(());
                }
            }
            cursor += count;
            prev = Some(last);
            continue;
        }
        live = true;
        tokio::select! {
            changed = snapshots.changed() => {
                if changed.is_err() {
                    return Err(shutting_down());
                }
            }
            _ = shutdown.changed() => return Err(shutting_down()),
            _ = token_loads.changed() => {}
            _ = tx.closed() => return Ok(()),
        }
    }
}

fn shutting_down() -> Status {
    Status::unavailable("the server is shutting down; resume from the last commit received")
}

fn corrupt(what: &str, seq: u64, problem: impl Into<String>) -> LedgerError {
    LedgerError::Corrupt { project: what.to_owned(), seq, problem: problem.into() }
}

/// Commits `after + 1 ..= after + count` as responses (those without an event of `filter` left
/// out), and the hash of the last one. `prev` is the hash of commit `after` when known.
fn read_commits(
    reader: &Reader,
    snapshot: &Projection,
    after: u64,
    count: u64,
    prev: Option<Hash>,
    filter: Option<&str>,
) -> Result<(Vec<pb::SubscribeResponse>, Hash), LedgerError> {
    let limit = usize::try_from(count).unwrap_or(usize::MAX);
    // exactly the commits `after + 1 ..= after + count`, all within the snapshot's commit head
    let entries = reader.commits(after, after + count, limit)?;
    let mut prev = match prev {
        Some(h) => h,
        None if after == 0 => COMMIT_GENESIS,
        None => reader
            .commits(after - 1, after, 1)?
            .first()
            .filter(|e| e.number == after)
            .map(|e| e.hash)
            .ok_or_else(|| corrupt("commit log", after, "commit entry missing"))?,
    };
    let mut out = Vec::with_capacity(entries.len());
    for (expected, entry) in (after + 1..).zip(&entries) {
        if entry.number != expected {
            return Err(corrupt("commit log", expected, format!("found commit {} instead", entry.number)));
        }
        let events = events_of(reader, snapshot, entry, filter)?;
        if filter.is_none() || !events.is_empty() {
            let parts = in_parts(events);
            let last = parts.len().saturating_sub(1);
            for (k, events) in parts.into_iter().enumerate() {
                out.push(pb::SubscribeResponse {
                    commit: entry.number,
                    commit_hash: entry.hash.to_vec(),
                    prev_commit_hash: prev.to_vec(),
                    recorded_at_us: entry.recorded_at,
                    events,
                    continues: k < last,
                });
            }
        }
        prev = entry.hash;
    }
    if u64::try_from(entries.len()).ok() != Some(count) {
        return Err(corrupt("commit log", after + 1, format!("{count} commits expected, {} stored", entries.len())));
    }
    Ok((out, prev))
}

/// A commit's events in parts of at most `fiscus_proto::ITEMS_BYTES_MAX` encoded (each part at
/// least one event; one empty part for a commit without events), in order: the messages of one
/// commit (`SubscribeResponse.continues`).
fn in_parts(events: Vec<pb::RecordedEvent>) -> Vec<Vec<pb::RecordedEvent>> {
    let mut parts = vec![Vec::new()];
    let mut bytes = 0usize;
    for event in events {
        let size = item_bytes(&event);
        let current = parts.last_mut().expect("parts start with one");
        if bytes.saturating_add(size) > fiscus_proto::ITEMS_BYTES_MAX && !current.is_empty() {
            parts.push(vec![event]);
            bytes = size;
        } else {
            current.push(event);
            bytes = bytes.saturating_add(size);
        }
    }
    parts
}

/// The events of one commit (of `filter`'s project only, when given), read from their chains and
/// checked against the hashes the commit log lists.
fn events_of(
    reader: &Reader,
    snapshot: &Projection,
    entry: &CommitEntry,
    filter: Option<&str>,
) -> Result<Vec<pb::RecordedEvent>, LedgerError> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < entry.records.len() {
        // A commit's records of one project are consecutive seqs; read each run at once.
        let first = &entry.records[i];
        let mut run = 1;
        while entry.records.get(i + run).is_some_and(|r| r.project == first.project && r.seq == first.seq + run as u64)
        {
            run += 1;
        }
        if filter.is_none_or(|f| f == first.project) {
            // the snapshot holds every record its commits list
            let head = snapshot.project(&first.project).map_or(0, |s| s.head.seq);
            let raws = reader.raw_records(&first.project, first.seq, head, run)?;
            let home = home_of(snapshot, &first.project);
            for (listed, raw) in entry.records[i..i + run].iter().zip(&raws) {
                if raw.seq != listed.seq || raw.hash != listed.hash {
                    return Err(corrupt(&listed.project, listed.seq, "record does not match the commit log"));
                }
                out.push(recorded_pb(&Record::decode(&raw.bytes)?, &raw.hash, home));
            }
            if raws.len() != run {
                return Err(corrupt(&first.project, first.seq, "record listed in the commit log is missing"));
            }
        }
        i += run;
    }
    Ok(out)
}
