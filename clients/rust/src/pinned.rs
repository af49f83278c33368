//! The provable balance under a signed checkpoint: the client pins the log's verifier key
//! (`fiscusd key show`), keeps the last checkpoint it accepted in a small state file, and accepts a
//! project's head and balance only when
//!
//! 1. the server's latest checkpoint is signed by the pinned key (C2SP signed-note);
//! 2. it is consistent with the kept one (RFC 6962 consistency proof; never older, never another
//!    root for the same size);
//! 3. the project's head is proven the latest under it (`fiscus_ledger::log::HeadProof`: the
//!    checkpoint's last leaf, and the chain's leaf in that leaf's project-heads map);
//! 4. the project's raw chain verifies locally and ends at that head, and the server's balances are
//!    what it adds up to ([`crate::verify_records`]).
//!
//! Only then is the checkpoint written to the state file. Receipts ([`fiscus_ledger::log::Receipt`])
//! are checked offline with the same pinned key.
//!
//! With a witness policy ([`WitnessRequirement`], a C2SP tlog-policy), the head is also accepted
//! only under a checkpoint a quorum of witnesses cosigned. `fiscusd` submits its checkpoints to
//! its witnesses in the background, and only the newest one, so the checkpoint the head is proven
//! under (size S) is often not cosigned yet when it is fetched. The rule:
//!
//! 5. some checkpoint C of size c >= S, signed by the pinned key, carries valid cosignatures
//!    meeting the policy's quorum: S's own checkpoint when it does (as first sent, or as the
//!    server holds it by now), else the newest such checkpoint stored at or after S
//!    (`ListCheckpoints`, looked at newest first, at most [`COSIGNED_SCAN_MAX`] per look), looked
//!    for again until the wait runs out (a server that cannot be reached meanwhile, as while it
//!    restarts, is asked again; no look outlasts the wait; if the server never answers again,
//!    the error says so, and that the policy was not checked);
//! 6. S is consistent with C (RFC 6962 consistency proof from S to c; the same root when c = S).
//!
//! Then the whole tree of size S, and so the log leaf the head is proven in and its project-heads
//! map, is part of the history the witnesses vouch for: the head and balance accepted are the
//! project's latest **at size S**, which C contains. When the project moved on after S they are
//! not its latest at c; the verification reports both sizes rather than claim more. A checkpoint
//! cosigned at a size below S is never enough (it vouches for no leaf past its size, and the
//! head's leaf is S's last), and nothing is accepted without a quorum: the answer is then
//! [`ClientError::WitnessPolicy`], naming the witnesses missing. The state file keeps C.

use std::path::Path;
use std::time::{Duration, Instant};

use fiscus_ledger::chain::Hash;
use fiscus_ledger::log::{HeadProof, LogLeaf, Receipt, ReceiptRecord};
use fiscus_ledger::ProjectId;
use fiscus_tlog::{open_checkpoint, verify_consistency, Checkpoint, NoteVerifier, Policy};

use crate::error::ClientError;
use crate::responses::{ChainHead, RawRecord};
use crate::verify::{verify_records, VerifiedProject};

/// Most bytes of a state file (one checkpoint note).
pub const STATE_FILE_BYTES_MAX: u64 = 64 * 1024;

/// A project verified under a checkpoint signed by the pinned key.
#[derive(Clone, Debug)]
pub struct PinnedVerification {
    /// The chain and balances, verified locally.
    pub verified: VerifiedProject,
    /// The checkpoint the head was proven under (its signature checked).
    pub checkpoint: Checkpoint,
    /// The checkpoint kept before, when there was one (the new one is consistent with it).
    pub previous: Option<Checkpoint>,
    /// With a witness policy: the cosigned checkpoint that contains `checkpoint` (rule 5 of the
    /// module's page); `None` without a policy.
    pub cosigned: Option<CosignedCheckpoint>,
}

/// A witness policy a pinned verification must meet, and how long to wait for cosignatures.
#[derive(Clone, Debug)]
pub struct WitnessRequirement {
    /// The C2SP tlog-policy; one of its `log` keys must be the pinned key.
    pub policy: Policy,
    /// How long to wait for a checkpoint at or after the head's to be cosigned, at most
    /// [`COSIGNED_WAIT_MAX`]; zero looks once.
    pub wait: Duration,
}

/// The longest wait for cosignatures a [`WitnessRequirement`] may ask for.
pub const COSIGNED_WAIT_MAX: Duration = Duration::from_secs(600);
/// Most stored checkpoints at or after the head's looked at (newest first), and most pages
/// asked for, per look for one with a quorum.
pub const COSIGNED_SCAN_MAX: usize = 1_000;
/// The pause between two looks while waiting for cosignatures.
const COSIGNED_POLL: Duration = Duration::from_millis(200);

/// A checkpoint whose cosignatures met a witness policy.
#[derive(Clone, Debug)]
pub struct CosignedCheckpoint {
    /// The checkpoint (signed by the pinned key; its size is at least the head's checkpoint's).
    pub checkpoint: Checkpoint,
    /// Its note: the body, the log's signature and the cosignature lines (what the state file
    /// keeps).
    pub note: String,
    /// The policy names of the witnesses whose cosignatures verified, in policy order.
    pub cosigned_by: Vec<String>,
}

/// What one look for a cosigned checkpoint saw, to say what is missing.
#[derive(Default)]
struct Look {
    /// The newest checkpoint meeting the quorum.
    found: Option<CosignedCheckpoint>,
    /// Every witness seen cosigning some checkpoint at or after the head's.
    seen: Vec<String>,
    /// The checkpoint with the most cosigners: its size and their names.
    best: Option<(u64, Vec<String>)>,
    /// The first checkpoint refused outright (a listed key's line that does not verify, ...).
    refused: Option<(u64, String)>,
    /// How many checkpoints were looked at, and the largest size.
    looked: usize,
    last_size: u64,
    /// The smallest size the look covered: the head's when it got there, larger when the scan
    /// bound stopped it first (set by [`look_newest_first`]; `None` before any stored page).
    lowest: Option<u64>,
}

impl Look {
    fn see(&mut self, policy: &Policy, origin: &str, from: u64, size: u64, note: &str) {
        self.looked += 1;
        self.last_size = self.last_size.max(size);
        let checked = match policy.cosigners(note, origin) {
            Ok(checked) => checked,
            Err(e) => {
                self.refused.get_or_insert((size, e.to_string()));
                return;
            }
        };
        let checkpoint = checked.opened.checkpoint;
        if checkpoint.size != size {
            self.refused.get_or_insert((size, format!("its body says size {}", checkpoint.size)));
            return;
        }
        if checkpoint.size < from {
            return; // it vouches for no leaf past its size: not the head's
        }
        for name in &checked.cosigned_by {
            if !self.seen.contains(name) {
                self.seen.push(name.clone());
            }
        }
        if self.best.as_ref().is_none_or(|(_, names)| checked.cosigned_by.len() > names.len()) {
            self.best = Some((size, checked.cosigned_by.clone()));
        }
        if policy.quorum_met(&checked.cosigned_by)
            && self.found.as_ref().is_none_or(|f| f.checkpoint.size < checkpoint.size)
        {
            self.found =
                Some(CosignedCheckpoint { checkpoint, note: note.to_owned(), cosigned_by: checked.cosigned_by });
        }
    }

    /// What is missing, as sentences: who cosigned the best checkpoint, the quorum, and each
    /// witness that cosigned nothing at or after `from`.
    fn missing(&self, policy: &Policy, from: u64, waited: Duration) -> String {
        let mut parts = Vec::new();
        let range = match self.lowest {
            Some(low) if low > from => format!("between sizes {low} and {} (the newest)", self.last_size),
            _ => format!("at or after size {from}"),
        };
        match &self.best {
            Some((size, names)) if !names.is_empty() => parts.push(format!(
                "the best checkpoint {range} is size {size}, cosigned by {} of the policy's witnesses \
                 ({}), and the quorum is {}",
                names.len(),
                names.join(", "),
                policy.quorum_text()
            )),
            _ => parts.push(format!(
                "no witness of the policy cosigned a checkpoint {range}, and the quorum is {}",
                policy.quorum_text()
            )),
        }
        for (name, _) in policy.witnesses() {
            if !self.seen.iter().any(|s| s == name) {
                parts.push(format!("{name} has not cosigned any checkpoint {range}"));
            }
        }
        if let Some((size, why)) = &self.refused {
            parts.push(format!("checkpoint {size} was refused: {why}"));
        }
        format!(
            "{} (looked at {} checkpoints up to size {}, waited {} ms)",
            parts.join("; "),
            self.looked,
            self.last_size,
            waited.as_millis()
        )
    }
}

fn fail(project: &str, seq: u64, problem: impl Into<String>) -> ClientError {
    ClientError::Verification { project: project.to_owned(), seq, problem: problem.into() }
}

fn hash32(field: &str, bytes: &[u8]) -> Result<fiscus_tlog::Hash, ClientError> {
    <[u8; 32]>::try_from(bytes)
        .map(fiscus_tlog::Hash)
        .map_err(|_| ClientError::Answer { field: field.to_owned(), message: format!("{} bytes, not 32", bytes.len()) })
}

fn hashes(field: &str, list: &[Vec<u8>]) -> Result<Vec<fiscus_tlog::Hash>, ClientError> {
    list.iter().enumerate().map(|(i, h)| hash32(&format!("{field}[{i}]"), h)).collect()
}

/// Opens a checkpoint with the pinned key (its name is the log's origin).
pub fn open_pinned(text: &str, pin: &NoteVerifier) -> Result<Checkpoint, fiscus_tlog::TlogError> {
    open_checkpoint(text, pin.name(), std::slice::from_ref(pin)).map(|o| o.checkpoint)
}

/// The checkpoint kept in `state` (`None` when the file does not exist yet); it must open with
/// the pinned key. An empty file is refused (remove it to start again).
pub fn read_state(state: &Path, pin: &NoteVerifier) -> Result<Option<Checkpoint>, ClientError> {
    let text = match std::fs::metadata(state) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(state_error(state, e.to_string())),
        Ok(meta) if meta.len() > STATE_FILE_BYTES_MAX => {
            return Err(state_error(state, format!("over {STATE_FILE_BYTES_MAX} bytes")))
        }
        Ok(_) => std::fs::read_to_string(state).map_err(|e| state_error(state, e.to_string()))?,
    };
    // A file that exists was made to keep a checkpoint: one emptied (truncated, or its write lost)
    // must not silently turn the check against an older or forked log off.
    if text.trim().is_empty() {
        return Err(state_error(
            state,
            "empty, it keeps no checkpoint (was it truncated, or its write lost?); it is not taken as a first \
             use, which would accept any checkpoint of the pinned key: remove the file to start again"
                .to_owned(),
        ));
    }
    open_pinned(&text, pin)
        .map(Some)
        .map_err(|e| state_error(state, format!("its checkpoint does not open with the pinned key: {e}")))
}

fn state_error(state: &Path, message: String) -> ClientError {
    ClientError::State { path: state.to_owned(), message }
}

/// Writes `note` (a checkpoint accepted) to `state`: a new file (mode 0600) made beside it with
/// a name no one else can have chosen, synced, then renamed over it, so that a crash leaves the
/// old checkpoint or the new one, and nothing at another name is written through.
pub fn write_state(state: &Path, note: &str) -> Result<(), ClientError> {
    use std::io::Write as _;
    let dir = match state.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| state_error(state, e.to_string()))?;
            dir
        }
        None => Path::new("."),
    };
    let write = || -> std::io::Result<()> {
        crate::files::refuse_unless_file(state)?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        tmp.write_all(note.as_bytes())?;
        tmp.as_file().sync_all()?;
        tmp.persist(state).map_err(|e| e.error)?;
        Ok(())
    };
    write().map_err(|e| state_error(state, e.to_string()))
}

/// Checks that `new` may follow `old` in one log: not smaller, the same root at the same size,
/// and a consistency `proof` between them.
pub fn check_consistent(
    project: &str,
    old: &Checkpoint,
    new: &Checkpoint,
    proof: &[fiscus_tlog::Hash],
) -> Result<(), ClientError> {
    if new.size < old.size {
        return Err(fail(
            project,
            0,
            format!(
                "the server's checkpoint of size {} is older than the one seen before (size {}): a log never goes back",
                new.size, old.size
            ),
        ));
    }
    if new.size == old.size && new.root != old.root {
        return Err(fail(
            project,
            0,
            format!("two checkpoints of size {} with different roots: the log forked", new.size),
        ));
    }
    verify_consistency(old.size, new.size, &old.root, &new.root, proof).map_err(|e| {
        fail(
            project,
            0,
            format!("checkpoint {} is not consistent with checkpoint {} seen before: {e}", new.size, old.size),
        )
    })
}

/// Sizes of one window of the newest-first look: one default page of `ListCheckpoints` (100).
const COSIGNED_WINDOW: u64 = 100;

/// Looks at the stored checkpoints of size at least `from`, newest first, for the newest one
/// meeting the quorum: `page(size)` is one `ListCheckpoints` page from `size` on (the latest size
/// and the checkpoints in size order, as [`crate::Client::checkpoints_page`] answers).
///
/// `ListCheckpoints` pages only forwards (proto/fiscus/v1/audit.proto), so the look reads the
/// first page from `from` (which also gives the latest size), then windows of
/// [`COSIGNED_WINDOW`] sizes from the latest size backwards (`from_size = hi - 99`, up to `hi`),
/// and stops at the first window holding a quorum: it is the newest. The oldest page is looked at
/// last. At most [`COSIGNED_SCAN_MAX`] checkpoints and as many pages per look; when the bound
/// stops it before `from`, [`Look::missing`] says which sizes were looked at, never "at or after
/// `from`".
async fn look_newest_first<F, Fut>(
    look: &mut Look,
    policy: &Policy,
    origin: &str,
    from: u64,
    mut page: F,
) -> Result<(), ClientError>
where
    F: FnMut(u64) -> Fut,
    Fut: std::future::Future<Output = Result<(u64, Vec<(u64, String)>), ClientError>>,
{
    let mut pages = 1usize;
    let (latest, oldest) = page(from).await?;
    let oldest_last = oldest.last().map_or(from.saturating_sub(1), |(size, _)| *size);
    let mut hi = latest;
    while hi > oldest_last && look.looked < COSIGNED_SCAN_MAX && pages < COSIGNED_SCAN_MAX {
        let lo = hi.saturating_sub(COSIGNED_WINDOW - 1).max(oldest_last + 1);
        let mut next = lo;
        let mut window: Vec<(u64, String)> = Vec::new();
        while pages < COSIGNED_SCAN_MAX {
            pages += 1;
            let (now_latest, got) = page(next).await?;
            let Some(&(last, _)) = got.last() else { break };
            window.extend(got.into_iter().filter(|(size, _)| *size <= hi));
            if last >= hi || last >= now_latest {
                break;
            }
            next = last + 1;
        }
        let room = COSIGNED_SCAN_MAX.saturating_sub(look.looked);
        for (size, note) in window.iter().rev().take(room) {
            look.see(policy, origin, from, *size, note);
        }
        let cut = window.len().checked_sub(room).filter(|&i| i > 0).and_then(|i| window.get(i));
        look.lowest = Some(cut.map_or(lo, |(size, _)| *size));
        if look.found.is_some() {
            return Ok(());
        }
        hi = lo - 1;
    }
    if hi > oldest_last {
        return Ok(()); // bounded before the oldest page: `lowest` says where the look stopped
    }
    for (size, note) in oldest.iter().rev().take(COSIGNED_SCAN_MAX.saturating_sub(look.looked)) {
        look.see(policy, origin, from, *size, note);
    }
    look.lowest = Some(from);
    Ok(())
}

impl crate::Client {
    /// A signed checkpoint as the server sends it (note text): `size` 0 for the latest.
    pub async fn checkpoint(&self, size: u64) -> Result<String, ClientError> {
        let r = self.audit.clone().get_checkpoint(fiscus_proto::pb::GetCheckpointRequest { size }).await?;
        Ok(r.into_inner().checkpoint)
    }

    /// The consistency proof from size `old` to size `new`.
    pub async fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<fiscus_tlog::Hash>, ClientError> {
        let request = fiscus_proto::pb::GetConsistencyProofRequest { old_size: old, new_size: new };
        let r = self.audit.clone().get_consistency_proof(request).await?.into_inner();
        hashes("proof", &r.proof)
    }

    /// A project's proof of its latest head and the checkpoint (note text) it is under; nothing
    /// checked yet.
    pub async fn head_proof(&self, project: &ProjectId) -> Result<(HeadProof, String), ClientError> {
        let request = fiscus_proto::pb::GetHeadProofRequest { project: project.as_str().to_owned() };
        let r = self.audit.clone().get_head_proof(request).await?.into_inner();
        let hash: Hash = hash32("hash", &r.hash)?.0;
        let leaf = LogLeaf::parse(&r.leaf)
            .map_err(|e| ClientError::Answer { field: "leaf".to_owned(), message: e.to_string() })?;
        let proof = HeadProof {
            chain: r.project,
            seq: r.seq,
            hash,
            map_index: r.map_index,
            map_proof: hashes("map_proof", &r.map_proof)?,
            leaf,
            log_proof: hashes("log_proof", &r.log_proof)?,
        };
        Ok((proof, r.checkpoint))
    }

    /// The provable balance under a signed checkpoint (see the module's page): the checkpoint
    /// opens with `pin`, is consistent with the one kept in `state` (when the file exists), proves
    /// the project's latest head, and the project's chain and balances verify up to that head.
    ///
    /// With `witnesses`, the head is accepted only when a checkpoint of at least the head's
    /// checkpoint's size carries a quorum of the policy's cosignatures and contains it (rules 5
    /// and 6 of the module's page): the one the head is proven under when it is cosigned, else the
    /// newest cosigned one found at or after it, waiting up to `witnesses.wait` for one. The head
    /// and balance are then the project's latest at the head's checkpoint's size, which the
    /// cosigned one contains ([`PinnedVerification::cosigned`]). Without a quorum in time:
    /// [`ClientError::WitnessPolicy`], naming the witnesses missing; a policy whose log keys do
    /// not include `pin` is refused the same way.
    ///
    /// On success the checkpoint is written to `state`: the cosigned one with a policy, else the
    /// one the head is proven under. Nothing is written on a failure.
    pub async fn verify_project_pinned(
        &self,
        project: &ProjectId,
        pin: &NoteVerifier,
        state: &Path,
        witnesses: Option<&WitnessRequirement>,
        progress: &mut (dyn FnMut(u64, u64) + Send),
    ) -> Result<PinnedVerification, ClientError> {
        let name = project.as_str();
        if let Some(w) = witnesses {
            if let Err(message) = w.policy.check_log(pin) {
                return Err(ClientError::WitnessPolicy { project: name.to_owned(), size: 0, message });
            }
        }
        // the state file is replaced by a rename at the end: refused now if that would replace a link
        crate::files::refuse_unless_file(state).map_err(|e| state_error(state, e.to_string()))?;
        let previous = read_state(state, pin)?;
        // Balance, then the head proof, then the export: each reads at or after the one before.
        let balances = self.balance(project, None).await?;
        let (proof, note) = self.head_proof(project).await?;
        let checkpoint =
            open_pinned(&note, pin).map_err(|e| fail(name, 0, format!("the server's checkpoint is refused: {e}")))?;
        if let Some(old) = &previous {
            let consistency = if checkpoint.size > old.size {
                self.consistency_proof(old.size, checkpoint.size).await?
            } else {
                Vec::new()
            };
            check_consistent(name, old, &checkpoint, &consistency)?;
        }
        let (seq, hash) = proof
            .verify(name, &checkpoint)
            .map_err(|e| fail(name, proof.seq, format!("the head proof is refused: {e}")))?;
        let cosigned = match witnesses {
            Some(w) => Some(self.cosigned_containing(name, pin, w, &checkpoint, &note).await?),
            None => None,
        };
        let mut export = self.export_chain_stream(project, 1).await?;
        let mut records: Vec<RawRecord> = Vec::new();
        while let Some(batch) = export.next_batch().await? {
            records.extend(batch);
            progress(records.len() as u64, export.head_seq.unwrap_or(0));
        }
        // Only the records up to the proven head are verified and counted: later ones are not
        // under the checkpoint.
        records.truncate(usize::try_from(seq).unwrap_or(usize::MAX));
        let head = ChainHead { project: project.clone(), seq, hash };
        let mut verified = verify_records(project, &records, &head, &balances, None)?;
        verified.checkpoint_proven = true;
        write_state(state, cosigned.as_ref().map_or(note.as_str(), |c| c.note.as_str()))?;
        Ok(PinnedVerification { verified, checkpoint, previous, cosigned })
    }

    /// The cosigned checkpoint that contains `head` (whose note is `head_note`): rules 5 and 6 of
    /// the module's page, waiting up to `w.wait` (at most [`COSIGNED_WAIT_MAX`]).
    async fn cosigned_containing(
        &self,
        project: &str,
        pin: &NoteVerifier,
        w: &WitnessRequirement,
        head: &Checkpoint,
        head_note: &str,
    ) -> Result<CosignedCheckpoint, ClientError> {
        let origin = pin.name();
        let started = Instant::now();
        let wait = w.wait.min(COSIGNED_WAIT_MAX);
        // A server that cannot be reached while we wait (a restart), or does not answer, is
        // looked at again until the wait ends; no look outlasts the wait. If the last look
        // failed so, that is the answer: the policy could not be checked.
        let mut unreachable = None;
        let found = loop {
            let mut look = Look::default();
            look.see(&w.policy, origin, head.size, head.size, head_note);
            look.looked = 0; // the head's note as first sent; the stored one is counted below
            if look.found.is_none() {
                let scan = self.look_from(&mut look, &w.policy, origin, head.size);
                let looked = if wait.is_zero() {
                    Ok(scan.await)
                } else {
                    tokio::time::timeout(wait.saturating_sub(started.elapsed()).max(COSIGNED_POLL), scan).await
                };
                match looked {
                    Ok(Ok(())) => unreachable = None,
                    Ok(Err(e)) if e.is_unreachable() && !wait.is_zero() => {
                        look.found = None;
                        unreachable = Some(e.to_string());
                    }
                    Ok(Err(e)) => return Err(e),
                    Err(_) => {
                        look.found = None;
                        unreachable = Some("no answer".to_owned());
                    }
                }
            }
            if let Some(found) = look.found {
                break found;
            }
            let waited = started.elapsed();
            if waited >= wait {
                if let Some(why) = unreachable {
                    return Err(ClientError::Connect {
                        url: self.url.clone(),
                        message: format!(
                            "the server stopped answering while the client waited {} ms for a checkpoint cosigned \
                             under the witness policy ({why}); the policy was not checked",
                            waited.as_millis()
                        ),
                    });
                }
                return Err(ClientError::WitnessPolicy {
                    project: project.to_owned(),
                    size: head.size,
                    message: look.missing(&w.policy, head.size, waited),
                });
            }
            tokio::time::sleep(COSIGNED_POLL.min(wait - waited)).await;
        };
        // The cosigned checkpoint must be the pinned log's, and contain the head's.
        let cosigned = open_pinned(&found.note, pin)
            .map_err(|e| fail(project, 0, format!("the cosigned checkpoint is refused: {e}")))?;
        if cosigned.size == head.size {
            if cosigned.root != head.root {
                return Err(fail(
                    project,
                    0,
                    format!("two checkpoints of size {} with different roots: the log forked", head.size),
                ));
            }
        } else {
            let proof = self.consistency_proof(head.size, cosigned.size).await?;
            verify_consistency(head.size, cosigned.size, &head.root, &cosigned.root, &proof).map_err(|e| {
                fail(
                    project,
                    0,
                    format!(
                        "the cosigned checkpoint {} does not contain checkpoint {} the head is proven under: {e}",
                        cosigned.size, head.size
                    ),
                )
            })?;
        }
        Ok(found)
    }

    /// Looks at the stored checkpoints from size `from` on, newest first ([`look_newest_first`]).
    async fn look_from(&self, look: &mut Look, policy: &Policy, origin: &str, from: u64) -> Result<(), ClientError> {
        look_newest_first(look, policy, origin, from, |size| self.checkpoints_page(size, 0)).await
    }

    /// Records one commit and answers its receipt as well (see [`Receipt::verify`]).
    pub async fn record_commit_with_receipt(
        &self,
        events: &[fiscus_ledger::Event],
        expected_heads: &[(ProjectId, u64)],
        options: crate::CommitOptions,
    ) -> Result<(fiscus_ledger::commit::Committed, Receipt), ClientError> {
        let r = self.record_commit_answer(events, expected_heads, options).await?;
        let receipt = r
            .receipt
            .as_ref()
            .ok_or_else(|| ClientError::Answer { field: "receipt".to_owned(), message: "missing".to_owned() })?;
        let receipt = receipt_of(receipt)?;
        Ok((crate::committed(&r)?, receipt))
    }
}

/// A receipt from its message. A record given with its bytes is labelled by them: its `project`
/// and `seq` must equal what the bytes decode to (and the bytes must hash to its hash), or the
/// answer is refused naming the field; a record without bytes is kept as its hash only, whatever
/// label it came with.
pub fn receipt_of(r: &fiscus_proto::pb::CommitReceipt) -> Result<Receipt, ClientError> {
    let answer = |field: &str, message: String| ClientError::Answer { field: format!("receipt.{field}"), message };
    let leaf = LogLeaf::parse(&r.leaf).map_err(|e| answer("leaf", e.to_string()))?;
    let mut records = Vec::with_capacity(r.records.len());
    for (i, x) in r.records.iter().enumerate() {
        let hash = hash32(&format!("receipt.records[{i}].hash"), &x.hash)?.0;
        let record = ReceiptRecord { hash, bytes: (!x.record.is_empty()).then(|| x.record.clone()) };
        if let Some((project, seq)) =
            record.label(r.commit).map_err(|e| answer(&format!("records[{i}].record"), e.to_string()))?
        {
            if project != x.project || seq != x.seq {
                return Err(answer(
                    &format!("records[{i}]"),
                    format!("labelled {} seq {}, its bytes are of {project} seq {seq}", x.project, x.seq),
                ));
            }
        }
        records.push(record);
    }
    Ok(Receipt {
        checkpoint: r.checkpoint.clone(),
        commit: r.commit,
        prev_commit_hash: hash32("receipt.prev_commit_hash", &r.prev_commit_hash)?.0,
        records,
        leaf,
        proof: hashes("receipt.proof", &r.proof)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The state file is replaced by a new private file; a link at the name the old code wrote
    /// through first (`state.tmp`) is not followed.
    #[cfg(unix)]
    #[test]
    fn the_state_file_is_replaced_without_following_a_link() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("temp dir");
        let state = dir.path().join("state");
        let target = dir.path().join("someone-elses");
        std::fs::write(&target, "keep me").expect("write");
        std::os::unix::fs::symlink(&target, dir.path().join("state.tmp")).expect("symlink");
        write_state(&state, "first\n").expect("written");
        write_state(&state, "second\n").expect("written again");
        assert_eq!(std::fs::read_to_string(&state).expect("read"), "second\n");
        assert_eq!(std::fs::read_to_string(&target).expect("read"), "keep me");
        let mode = std::fs::metadata(&state).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // a link at the state file's own path is refused, not replaced
        let linked = dir.path().join("linked-state");
        std::os::unix::fs::symlink(&target, &linked).expect("symlink");
        let refused = write_state(&linked, "third\n").expect_err("a link is refused").to_string();
        assert!(refused.contains("is a symbolic link"), "{refused}");
        let dash = write_state(Path::new("-"), "fourth\n").expect_err("`-` is no file here").to_string();
        assert!(dash.contains("not standard output"), "{dash}");
        assert_eq!(std::fs::read_to_string(&target).expect("read"), "keep me");
    }

    fn pin() -> (fiscus_tlog::NoteSigner, NoteVerifier) {
        let signer = fiscus_tlog::NoteSigner::from_seed("books.example/fiscus", [7; 32]).expect("a key");
        let verifier = signer.verifier();
        (signer, verifier)
    }

    /// The checkpoint `size` of `signer`'s log, cosigned by `by`.
    fn cosigned(signer: &fiscus_tlog::NoteSigner, size: u64, by: &[&fiscus_tlog::Cosigner]) -> String {
        let body = Checkpoint::new(signer.name(), size, fiscus_tlog::leaf_hash(&size.to_be_bytes()))
            .expect("a checkpoint")
            .body();
        let mut note = signer.sign_note(&body).expect("signed");
        for w in by {
            note.signatures.push(w.cosign(&body, 1_700_000_000).expect("cosigned"));
        }
        note.to_text()
    }

    /// A look takes the newest checkpoint meeting the quorum at or after the head's size, never
    /// one below it, and says which witness cosigned nothing there.
    #[test]
    fn a_look_takes_the_newest_quorum_at_or_after_the_head_and_names_who_is_missing() {
        let (signer, verifier) = pin();
        let a = fiscus_tlog::Cosigner::from_seed("witness.example/a", [1; 32]).expect("a key");
        let b = fiscus_tlog::Cosigner::from_seed("witness.example/b", [2; 32]).expect("a key");
        let policy = Policy::k_of_n(vec![verifier.clone()], vec![a.verifier(), b.verifier()], 2).expect("policy");
        let origin = verifier.name();
        let mut look = Look::default();
        // Cosigned by both below the head's size 5: not counted; a label that is not the body's
        // size: refused.
        look.see(&policy, origin, 5, 4, &cosigned(&signer, 4, &[&a, &b]));
        look.see(&policy, origin, 5, 6, &cosigned(&signer, 7, &[&a, &b]));
        look.see(&policy, origin, 5, 5, &cosigned(&signer, 5, &[&a]));
        assert!(look.found.is_none());
        let text = look.missing(&policy, 5, Duration::from_millis(1));
        assert!(text.contains("cosigned by 1 of the policy's witnesses (w1)"), "{text}");
        assert!(text.contains("w2 has not cosigned any checkpoint at or after size 5"), "{text}");
        assert!(text.contains("checkpoint 6 was refused: its body says size 7"), "{text}");
        look.see(&policy, origin, 5, 8, &cosigned(&signer, 8, &[&a, &b]));
        look.see(&policy, origin, 5, 9, &cosigned(&signer, 9, &[&b, &a]));
        look.see(&policy, origin, 5, 10, &cosigned(&signer, 10, &[&b]));
        let found = look.found.expect("a quorum at or after 5");
        assert_eq!((found.checkpoint.size, found.cosigned_by), (9, vec!["w1".to_owned(), "w2".to_owned()]));
    }

    /// Runs a future whose every await is ready at once (the fake page source's).
    fn ready_now<T>(f: impl std::future::Future<Output = T>) -> T {
        let mut f = std::pin::pin!(f);
        match f.as_mut().poll(&mut std::task::Context::from_waker(std::task::Waker::noop())) {
            std::task::Poll::Ready(v) => v,
            std::task::Poll::Pending => panic!("the fake page source never waits"),
        }
    }

    /// A witness that fell more than [`COSIGNED_SCAN_MAX`] checkpoints behind the head's: the
    /// look finds its newest quorum (newest first, in a few pages), and when none is in reach it
    /// says which sizes it looked at rather than "at or after" the head's.
    #[test]
    fn a_look_finds_the_newest_quorum_far_past_the_head_and_says_what_it_looked_at() {
        let (signer, verifier) = pin();
        let a = fiscus_tlog::Cosigner::from_seed("witness.example/a", [1; 32]).expect("a key");
        let b = fiscus_tlog::Cosigner::from_seed("witness.example/b", [2; 32]).expect("a key");
        let policy = Policy::k_of_n(vec![verifier.clone()], vec![a.verifier(), b.verifier()], 2).expect("policy");
        let origin = verifier.name();
        let latest = 2_600u64;
        let stored = |quorum_at: u64| -> Vec<(u64, String)> {
            (1..=latest)
                .map(|size| {
                    let by: &[&fiscus_tlog::Cosigner] = match size {
                        s if s == quorum_at || s == 300 => &[&a, &b],
                        20 => &[&a],
                        _ => &[],
                    };
                    (size, cosigned(&signer, size, by))
                })
                .collect()
        };
        // One default page (100) from `from` on, as ListCheckpoints answers.
        let asked = std::cell::Cell::new(0usize);
        let source = |all: &[(u64, String)], from: u64| {
            asked.set(asked.get() + 1);
            let page: Vec<(u64, String)> = all.iter().filter(|(s, _)| *s >= from.max(1)).take(100).cloned().collect();
            std::future::ready(Ok::<_, ClientError>((latest, page)))
        };
        let all = stored(2_500);
        let mut look = Look::default();
        ready_now(look_newest_first(&mut look, &policy, origin, 5, |from| source(&all, from))).expect("looked");
        let found = look.found.as_ref().expect("the quorum at 2500, 2495 past the head's size 5");
        assert_eq!(found.checkpoint.size, 2_500);
        assert!(asked.get() <= 4, "{} pages", asked.get());
        // No quorum at all past size 300 and more than the bound stored past it: the message
        // names the sizes looked at.
        let all = stored(0);
        asked.set(0);
        let mut look = Look::default();
        ready_now(look_newest_first(&mut look, &policy, origin, 301, |from| source(&all, from))).expect("looked");
        assert!(look.found.is_none());
        assert!(asked.get() <= COSIGNED_SCAN_MAX / 50, "{} pages", asked.get());
        let text = look.missing(&policy, 301, Duration::ZERO);
        assert!(text.contains("w1 has not cosigned any checkpoint between sizes 1601 and 2600 (the newest)"), "{text}");
        assert!(!text.contains("at or after"), "{text}");
        // Within reach: the whole range is looked at and said so.
        let mut look = Look::default();
        ready_now(look_newest_first(&mut look, &policy, origin, 2_000, |from| source(&all, from))).expect("looked");
        let text = look.missing(&policy, 2_000, Duration::ZERO);
        assert!(text.contains("w2 has not cosigned any checkpoint at or after size 2000"), "{text}");
    }

    /// A state file is local: its faults are said to be the file's, never the server's; an empty
    /// one is refused (an emptied file must not turn the check off); one in a folder not made yet is
    /// written there.
    #[test]
    fn a_state_file_speaks_for_itself() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (signer, verifier) = pin();
        let empty = dir.path().join("empty");
        std::fs::write(&empty, "").expect("write");
        let e = read_state(&empty, &verifier).expect_err("an empty file is refused, not a first use");
        assert!(e.to_string().contains("empty, it keeps no checkpoint"), "{e}");
        let garbage = dir.path().join("garbage");
        std::fs::write(&garbage, "garbage\n").expect("write");
        let e = read_state(&garbage, &verifier).expect_err("garbage is refused");
        assert!(matches!(e, ClientError::State { .. }), "{e:?}");
        let text = e.to_string();
        assert!(text.starts_with("state file ") && !text.contains("server"), "{text}");
        let nested = dir.path().join("not/made/yet/state");
        let note = fiscus_tlog::Checkpoint::new("books.example/fiscus", 3, fiscus_tlog::leaf_hash(b"x"))
            .expect("a checkpoint")
            .sign(&signer)
            .expect("signed")
            .to_text();
        write_state(&nested, &note).expect("the folder is made");
        assert_eq!(read_state(&nested, &verifier).expect("reads back").map(|c| c.size), Some(3));
    }
}
