//! The `fiscus.v1.Audit` service: chain heads, verification on the server, the raw export of a
//! chain that anyone can verify with blake3 alone, and the transparency log: signed checkpoints,
//! inclusion and consistency proofs, a chain's proof of its latest head, raw commit entries, and
//! the receipt `RecordCommit` answers with ([`receipt`]).
//!
//! Every log read takes one published log state (`Shared::log`, the log after some commit group)
//! and reads only what was stored up to its size: leaves, tree hashes and checkpoints up to a
//! published size are never changed (a checkpoint only gains cosignature lines).

use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use fiscus_ledger::log::RecentReceipt;
use fiscus_ledger::projection::Head;
use fiscus_ledger::replay::Damage;
use fiscus_ledger::rules::History;
use fiscus_ledger::store::Reader;
use fiscus_ledger::verify::ChainWalker;
use fiscus_ledger::{Event, LedgerError, ProjectId};
use fiscus_proto::pb;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};
use tracing::info;

use crate::auth::{Principal, RoleKind};
use crate::convert::project_id;
use crate::state::{blocking, chain, Shared};
use crate::status::{invalid, ledger_status};
use crate::writer::LogSnapshot;

/// Most raw records per `ExportChainResponse` message (and at most `fiscus_proto::ITEMS_BYTES_MAX`
/// of them).
pub const EXPORT_RECORDS_PER_MESSAGE: usize = 256;

/// Records read per step of a one-chain verification.
const VERIFY_RECORDS_PER_READ: usize = 1_024;

/// The Audit service.
pub struct AuditService {
    shared: Arc<Shared>,
    /// When the next whole-store verification may start (see [`AuditService::pace_store_verify`]).
    next_store_verify: Mutex<Option<Instant>>,
}

impl AuditService {
    /// A service on the daemon's shared state.
    pub fn new(shared: Arc<Shared>) -> AuditService {
        AuditService { shared, next_store_verify: Mutex::new(None) }
    }

    /// Waits until the next whole-store verification may start. One runs on the writer thread
    /// (so that it sees one consistent store) and holds commits back while it runs; after one that
    /// took T, the next waits (100 / `store_verify_writer_share_pct` - 1) x T, so that a loop of them
    /// takes at most that share of the writer's time.
    async fn pace_store_verify(&self) {
        let next = self.next_store_verify.lock().ok().and_then(|n| *n);
        let wait = next.map(|t| t.saturating_duration_since(Instant::now())).unwrap_or_default();
        if !wait.is_zero() {
            info!(
                wait_us = u64::try_from(wait.as_micros()).unwrap_or(u64::MAX),
                "pacing a whole-store verification (limits.store_verify_writer_share_pct)"
            );
            tokio::time::sleep(wait).await;
        }
    }

    /// Notes that a whole-store verification took `took`.
    fn store_verify_took(&self, took: Duration) {
        let share = self.shared.limits.store_verify_writer_share_pct.clamp(1, 100);
        let rest = u32::try_from(100 - share).unwrap_or(0);
        let share = u32::try_from(share).unwrap_or(1);
        let pause = took.checked_mul(rest).map_or(Duration::from_secs(3_600), |d| d / share);
        if let Ok(mut next) = self.next_store_verify.lock() {
            *next = Some(Instant::now() + pause);
        }
    }
}

fn damage_pb(d: &Damage) -> pb::Damage {
    pb::Damage { project: d.project.clone(), seq: d.seq, problem: d.problem.clone() }
}

/// Clears the "verification running" flag when a verification ends, however it ends.
struct Running<'a>(&'a std::sync::atomic::AtomicBool);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// A chain's earlier records read back through the store's reader, as the rules' history.
struct ReadBack<'r>(&'r Reader);

impl History for ReadBack<'_> {
    fn event_at(&self, project: &ProjectId, seq: u64) -> Result<Option<Event>, LedgerError> {
        Ok(self.0.records(project.as_str(), seq, seq, 1)?.into_iter().next().filter(|r| r.seq == seq).map(|r| r.event))
    }
}

/// Re-reads one chain up to `head` and verifies it with the ledger's chain walker (the checks replay
/// and every client make), then compares its end with `head`. Returns the records checked and the
/// first problem.
fn verify_chain(reader: &Reader, id: &ProjectId, head: Head) -> Result<(u64, Option<Damage>), LedgerError> {
    let project = id.as_str();
    let damage = |seq: u64, problem: String| Damage { project: project.to_owned(), seq, problem };
    let mut walker = ChainWalker::new(id.clone());
    let history = ReadBack(reader);
    while walker.state().head.seq < head.seq {
        let seq = walker.state().head.seq;
        let want = usize::try_from(head.seq - seq).unwrap_or(usize::MAX).min(VERIFY_RECORDS_PER_READ);
        let raws = match reader.raw_records(project, seq + 1, head.seq, want) {
            Ok(raws) => raws,
            Err(LedgerError::Corrupt { seq: bad, problem, .. }) => return Ok((seq, Some(damage(bad, problem)))),
            Err(e) => return Err(e),
        };
        if raws.is_empty() {
            break;
        }
        for raw in &raws {
            let expected = walker.state().head.seq + 1;
            if raw.seq != expected {
                return Ok((
                    expected - 1,
                    Some(damage(expected, format!("record missing (next stored is seq {})", raw.seq))),
                ));
            }
            match walker.push(&raw.bytes, &history) {
                Ok(_) => {}
                Err(LedgerError::Corrupt { seq, problem, .. }) => return Ok((seq - 1, Some(damage(seq, problem)))),
                Err(e) => return Err(e),
            }
        }
    }
    let end = walker.state().head;
    if end.seq < head.seq {
        return Ok((end.seq, Some(damage(end.seq + 1, "record missing".to_owned()))));
    }
    if end.hash != head.hash {
        return Ok((end.seq, Some(damage(end.seq, "the last record's hash is not the chain's head".to_owned()))));
    }
    Ok((end.seq, None))
}

fn hashes_pb(hashes: &[fiscus_tlog::Hash]) -> Vec<Vec<u8>> {
    hashes.iter().map(|h| h.0.to_vec()).collect()
}

/// The stored checkpoint of `size`, or `NOT_FOUND`.
fn stored_checkpoint(reader: &Reader, size: u64, latest: u64) -> Result<String, Status> {
    if size > latest {
        return Err(Status::not_found(format!("no checkpoint of size {size}: the log has {latest} commits")));
    }
    match reader.checkpoint(size).map_err(|e| ledger_status(&e))? {
        Some(text) => Ok(text),
        None => Err(Status::not_found(format!(
            "no checkpoint of size {size}: one is signed after each commit group; ask for the latest (size 0) or a \
             size a checkpoint or receipt gave you"
        ))),
    }
}

/// The size a request names: `asked`, or the published log's when 0.
fn size_or_latest(asked: u64, log: &LogSnapshot) -> u64 {
    if asked == 0 {
        log.size
    } else {
        asked
    }
}

/// The receipt of commit `commit` under the latest published checkpoint, for `principal`: the
/// checkpoint, the commit's entry (its previous hash and records) and the inclusion proof of its
/// log leaf. A record of a chain the principal may read carries its label and stored bytes (while
/// the commit's bytes stay within `RECEIPT_RECORD_BYTES_MAX`); any other record only its hash, so
/// a project's token learns nothing of another project. The one place receipts are made
/// (`RecordCommit` answers with one). A commit of the last groups (nearly always) is made from
/// the published log in memory, on the calling task; any other from the store
/// (`Reader::receipt_parts`, the same parts), read on the blocking pool.
pub async fn receipt(shared: &Shared, principal: &Principal, commit: u64) -> Result<pb::CommitReceipt, Status> {
    let (size, fast) = {
        let log = shared.log.borrow();
        (log.size, log.receipt(commit))
    };
    if commit == 0 || commit > size {
        return Err(Status::internal(format!("commit {commit} is not in the published log of {size} commits")));
    }
    let parts = match fast {
        Some(parts) => parts,
        None => {
            let reader = shared.reader.clone();
            blocking(move || reader.receipt_parts(commit, size)).await?
        }
    };
    Ok(receipt_pb(parts, principal.own_project()))
}

/// The answer's receipt from its parts, showing the bytes of the records of `own` (every record
/// when `None`) within the byte budget, and hashes only for the others.
fn receipt_pb(parts: RecentReceipt, own: Option<&str>) -> pb::CommitReceipt {
    let mut budget = fiscus_ledger::log::RECEIPT_RECORD_BYTES_MAX;
    let records = parts
        .records
        .iter()
        .map(|r| {
            let shown = own.is_none_or(|own| own == r.chain) && r.bytes.len() <= budget;
            if shown {
                budget -= r.bytes.len();
                pb::ProjectHead { project: r.chain.clone(), seq: r.seq, hash: r.hash.to_vec(), record: r.bytes.clone() }
            } else {
                pb::ProjectHead { project: String::new(), seq: 0, hash: r.hash.to_vec(), record: Vec::new() }
            }
        })
        .collect();
    pb::CommitReceipt {
        checkpoint: parts.checkpoint,
        commit: parts.commit,
        prev_commit_hash: parts.prev_commit_hash.to_vec(),
        records,
        leaf: parts.leaf.to_bytes().to_vec(),
        proof: hashes_pb(&parts.proof),
    }
}

#[tonic::async_trait]
impl pb::audit_server::Audit for AuditService {
    async fn get_checkpoint(
        &self,
        request: Request<pb::GetCheckpointRequest>,
    ) -> Result<Response<pb::GetCheckpointResponse>, Status> {
        Principal::of(&request)?;
        let log = self.shared.log.borrow().clone();
        let size = size_or_latest(request.get_ref().size, &log);
        let reader = self.shared.reader.clone();
        let latest = log.size;
        let checkpoint = tokio::task::spawn_blocking(move || stored_checkpoint(&reader, size, latest))
            .await
            .map_err(|e| Status::internal(format!("a read task failed: {e}")))??;
        Ok(Response::new(pb::GetCheckpointResponse { checkpoint, size }))
    }

    async fn get_inclusion_proof(
        &self,
        request: Request<pb::GetInclusionProofRequest>,
    ) -> Result<Response<pb::GetInclusionProofResponse>, Status> {
        Principal::of(&request)?;
        let log = self.shared.log.borrow().clone();
        let r = request.get_ref();
        let size = size_or_latest(r.size, &log);
        let commit = r.commit;
        if commit == 0 {
            return Err(invalid("commit", "commits are numbered from 1"));
        }
        if commit > size {
            return Err(invalid("commit", format!("commit {commit} is past the checkpoint's size {size}")));
        }
        let reader = self.shared.reader.clone();
        let latest = log.size;
        let answer = tokio::task::spawn_blocking(move || {
            let checkpoint = stored_checkpoint(&reader, size, latest)?;
            let leaf = reader.log_leaf(commit).map_err(|e| ledger_status(&e))?;
            let proof = reader.inclusion_proof(commit - 1, size).map_err(|e| ledger_status(&e))?;
            Ok::<_, Status>(pb::GetInclusionProofResponse {
                commit,
                leaf: leaf.to_bytes().to_vec(),
                proof: hashes_pb(&proof),
                checkpoint,
            })
        })
        .await
        .map_err(|e| Status::internal(format!("a read task failed: {e}")))??;
        Ok(Response::new(answer))
    }

    async fn get_consistency_proof(
        &self,
        request: Request<pb::GetConsistencyProofRequest>,
    ) -> Result<Response<pb::GetConsistencyProofResponse>, Status> {
        Principal::of(&request)?;
        let log = self.shared.log.borrow().clone();
        let r = request.get_ref();
        let new_size = size_or_latest(r.new_size, &log);
        let old_size = r.old_size;
        if old_size > new_size {
            return Err(invalid("old_size", format!("{old_size} is past the new size {new_size}")));
        }
        let reader = self.shared.reader.clone();
        let latest = log.size;
        let answer = tokio::task::spawn_blocking(move || {
            let checkpoint = stored_checkpoint(&reader, new_size, latest)?;
            let proof = reader.consistency_proof(old_size, new_size).map_err(|e| ledger_status(&e))?;
            Ok::<_, Status>(pb::GetConsistencyProofResponse {
                old_size,
                new_size,
                proof: hashes_pb(&proof),
                checkpoint,
            })
        })
        .await
        .map_err(|e| Status::internal(format!("a read task failed: {e}")))??;
        Ok(Response::new(answer))
    }

    async fn get_head_proof(
        &self,
        request: Request<pb::GetHeadProofRequest>,
    ) -> Result<Response<pb::GetHeadProofResponse>, Status> {
        let principal = Principal::of(&request)?;
        let project = request.get_ref().project.clone();
        self.shared.readable(principal, "project", &project)?;
        // one published log state: the map, its last leaf and the checkpoint of its size
        let log = self.shared.log.borrow().clone();
        let reader = self.shared.reader.clone();
        let answer = tokio::task::spawn_blocking(move || {
            let size = log.size;
            let checkpoint = stored_checkpoint(&reader, size, size)?;
            let log_proof = match size {
                0 => Vec::new(),
                _ => reader.inclusion_proof(size - 1, size).map_err(|e| ledger_status(&e))?,
            };
            let proof = log
                .head_proof(&project, log_proof)
                .ok_or_else(|| Status::not_found(format!("{project} has no record in the log yet")))?;
            Ok::<_, Status>(pb::GetHeadProofResponse {
                project,
                seq: proof.seq,
                hash: proof.hash.to_vec(),
                map_index: proof.map_index,
                map_proof: hashes_pb(&proof.map_proof),
                leaf: proof.leaf.to_bytes().to_vec(),
                log_proof: hashes_pb(&proof.log_proof),
                checkpoint,
            })
        })
        .await
        .map_err(|e| Status::internal(format!("a read task failed: {e}")))??;
        Ok(Response::new(answer))
    }

    async fn list_commit_entries(
        &self,
        request: Request<pb::ListCommitEntriesRequest>,
    ) -> Result<Response<pb::ListCommitEntriesResponse>, Status> {
        let principal = Principal::of(&request)?;
        principal.require(&[RoleKind::Admin, RoleKind::Auditor, RoleKind::Accountant], "list commit entries")?;
        let r = request.get_ref();
        let page = self.shared.page_size("page_size", r.page_size)?;
        let snapshot = self.shared.snapshot();
        let head = snapshot.commit_head.number;
        let after = r.from.saturating_sub(1);
        let reader = self.shared.reader.clone();
        let raws = blocking(move || reader.raw_commits(after, head, page)).await?;
        Ok(Response::new(pb::ListCommitEntriesResponse {
            head,
            entries: raws.into_iter().map(|(number, bytes)| pb::RawCommitEntry { number, bytes }).collect(),
        }))
    }

    async fn list_checkpoints(
        &self,
        request: Request<pb::ListCheckpointsRequest>,
    ) -> Result<Response<pb::ListCheckpointsResponse>, Status> {
        Principal::of(&request)?;
        let r = request.get_ref();
        let page = self.shared.page_size("page_size", r.page_size)?;
        // one published log state: nothing past its size is read
        let latest = self.shared.log.borrow().size;
        let from = r.from_size.max(1);
        let reader = self.shared.reader.clone();
        let stored = blocking(move || reader.checkpoints(from, latest, page)).await?;
        Ok(Response::new(pb::ListCheckpointsResponse {
            latest_size: latest,
            checkpoints: stored
                .into_iter()
                .map(|(size, checkpoint)| pb::GetCheckpointResponse { checkpoint, size })
                .collect(),
        }))
    }

    async fn get_head(&self, request: Request<pb::GetHeadRequest>) -> Result<Response<pb::GetHeadResponse>, Status> {
        let principal = Principal::of(&request)?;
        let r = request.get_ref();
        let only: Option<&str> = match (r.project.as_str(), principal.own_project()) {
            ("", None) => None,
            ("", Some(own)) => Some(own),
            (named, _) => Some(named),
        };
        let snapshot = match only {
            Some(p) => self.shared.readable(principal, "project", p)?,
            None => self.shared.snapshot(),
        };
        let projects = snapshot
            .chains()
            .filter(|c| only.is_none_or(|o| o == c.id.as_str()))
            .map(|c| pb::ProjectHead {
                project: c.id.as_str().to_owned(),
                seq: c.head.seq,
                hash: c.head.hash.to_vec(),
                record: Vec::new(),
            })
            .collect();
        Ok(Response::new(pb::GetHeadResponse {
            commit: snapshot.commit_head.number,
            commit_hash: snapshot.commit_head.hash.to_vec(),
            projects,
            scope: principal.own_project().unwrap_or_default().to_owned(),
        }))
    }

    async fn verify(&self, request: Request<pb::VerifyRequest>) -> Result<Response<pb::VerifyResponse>, Status> {
        let principal = Principal::of(&request)?;
        principal.require(&[RoleKind::Admin, RoleKind::Auditor], "verify the store")?;
        let project = request.get_ref().project.clone();
        // one snapshot: the chain checked, its head, and the commit the answer reports
        let snapshot = self.shared.snapshot();
        let id = if project.is_empty() {
            self.pace_store_verify().await;
            None
        } else {
            principal.notes.project(&project);
            let id = project_id("project", &project).map_err(|e| ledger_status(&e))?;
            if self.shared.damage_of(&project).is_none() {
                chain(&snapshot, &project)?;
            }
            Some(id)
        };
        if self.shared.verifying.swap(true, Ordering::AcqRel) {
            return Err(Status::resource_exhausted("a verification is already running"));
        }
        let _running = Running(&self.shared.verifying);
        let started = Instant::now();
        let response = match id {
            None => {
                let replayed = self.shared.writer.verify().await;
                self.store_verify_took(started.elapsed());
                let replayed = replayed?;
                pb::VerifyResponse {
                    ok: replayed.damage.is_empty(),
                    chains: replayed.projection.chains().count() as u64,
                    records: replayed.projection.events,
                    commits: replayed.commits,
                    commit: replayed.projection.commit_head.number,
                    commit_hash: replayed.projection.commit_head.hash.to_vec(),
                    damage: replayed.damage.iter().map(damage_pb).collect(),
                    elapsed_ms: 0,
                }
            }
            Some(id) => {
                let known = self.shared.damage_of(&project).cloned();
                let head = snapshot.project(&project).map(|s| s.head);
                let reader = self.shared.reader.clone();
                let checked = match head {
                    Some(head) => blocking(move || verify_chain(&reader, &id, head)).await?,
                    None => (0, None),
                };
                let (records, found) = checked;
                let damage: Vec<pb::Damage> = known.iter().chain(found.iter()).map(damage_pb).collect();
                pb::VerifyResponse {
                    ok: damage.is_empty(),
                    chains: 1,
                    records,
                    commits: 0,
                    commit: snapshot.commit_head.number,
                    commit_hash: snapshot.commit_head.hash.to_vec(),
                    damage,
                    elapsed_ms: 0,
                }
            }
        };
        let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        Ok(Response::new(pb::VerifyResponse { elapsed_ms, ..response }))
    }

    type ExportChainStream = Pin<Box<dyn Stream<Item = Result<pb::ExportChainResponse, Status>> + Send + 'static>>;

    async fn export_chain(
        &self,
        request: Request<pb::ExportChainRequest>,
    ) -> Result<Response<Self::ExportChainStream>, Status> {
        let principal = Principal::of(&request)?;
        let r = request.get_ref().clone();
        principal.may_read(&r.project)?;
        project_id("project", &r.project).map_err(|e| ledger_status(&e))?;
        let snapshot = self.shared.snapshot();
        // A damaged chain is exported up to its first bad record, then the stream ends with DATA_LOSS.
        let damaged = self.shared.damage_of(&r.project).cloned();
        let head_seq = match (&damaged, snapshot.project(&r.project)) {
            (Some(d), _) => d.seq.saturating_sub(1),
            (None, Some(state)) => state.head.seq,
            (None, None) => return Err(Status::not_found(format!("unknown project {}", r.project))),
        };
        let reader = self.shared.reader.clone();
        let (tx, rx) = mpsc::channel(4);
        tokio::spawn(async move {
            let mut next = r.from_seq.max(1);
            let mut sent_any = false;
            while next <= head_seq || !sent_any {
                let want = usize::try_from(head_seq.saturating_sub(next) + 1)
                    .unwrap_or(usize::MAX)
                    .min(EXPORT_RECORDS_PER_MESSAGE);
                let want = if next > head_seq { 0 } else { want };
                let (project, reader) = (r.project.clone(), reader.clone());
                let raws = match blocking(move || reader.raw_records(&project, next, head_seq, want)).await {
                    Ok(raws) => raws,
                    Err(status) => {
                        let _ = tx.send(Err(status)).await;
                        return;
                    }
                };
                let records: Vec<pb::RawRecord> =
                    crate::ledger_service::within_budget(raws.into_iter().map(|x| pb::RawRecord {
                        seq: x.seq,
                        bytes: x.bytes,
                        hash: x.hash.to_vec(),
                    }));
                let count = records.len() as u64;
                if tx.send(Ok(pb::ExportChainResponse { head_seq, records })).await.is_err() {
                    return;
                }
                sent_any = true;
                if count == 0 {
                    break;
                }
                next += count;
            }
            if let Some(d) = damaged {
                let status = Status::data_loss(format!(
                    "{} failed verification: {}; the export ends before it",
                    d.place(),
                    d.problem
                ));
                let _ = tx.send(Err(status)).await;
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}
