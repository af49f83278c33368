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

use std::path::Path;

use fiscus_ledger::chain::Hash;
use fiscus_ledger::log::{HeadProof, LogLeaf, Receipt, ReceiptRecord};
use fiscus_ledger::ProjectId;
use fiscus_tlog::{open_checkpoint, verify_consistency, Checkpoint, NoteVerifier};

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
/// the pinned key.
pub fn read_state(state: &Path, pin: &NoteVerifier) -> Result<Option<Checkpoint>, ClientError> {
    let text = match std::fs::metadata(state) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(state_error(state, e.to_string())),
        Ok(meta) if meta.len() > STATE_FILE_BYTES_MAX => {
            return Err(state_error(state, format!("over {STATE_FILE_BYTES_MAX} bytes")))
        }
        Ok(_) => std::fs::read_to_string(state).map_err(|e| state_error(state, e.to_string()))?,
    };
    // An empty file (a placeholder such as `mktemp` makes) keeps no checkpoint yet: first use.
    if text.trim().is_empty() {
        return Ok(None);
    }
    open_pinned(&text, pin)
        .map(Some)
        .map_err(|e| state_error(state, format!("its checkpoint does not open with the pinned key: {e}")))
}

fn state_error(state: &Path, message: String) -> ClientError {
    ClientError::State { path: state.to_owned(), message }
}

/// Writes `note` (a checkpoint accepted) to `state`, through a file beside it renamed over it.
pub fn write_state(state: &Path, note: &str) -> Result<(), ClientError> {
    if let Some(dir) = state.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| state_error(state, e.to_string()))?;
    }
    let tmp = state.with_extension("tmp");
    std::fs::write(&tmp, note)
        .and_then(|()| std::fs::rename(&tmp, state))
        .map_err(|e| state_error(state, e.to_string()))
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
    /// On success the checkpoint is written to `state`.
    pub async fn verify_project_pinned(
        &self,
        project: &ProjectId,
        pin: &NoteVerifier,
        state: &Path,
        progress: &mut (dyn FnMut(u64, u64) + Send),
    ) -> Result<PinnedVerification, ClientError> {
        let name = project.as_str();
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
        let mut export = self.export_chain_stream(project, 1).await?;
        let mut records: Vec<RawRecord> = Vec::new();
        while let Some(batch) = export.next_batch().await? {
            records.extend(batch);
            progress(records.len() as u64, export.head_seq.unwrap_or(0));
        }
        let head = ChainHead { project: project.clone(), seq, hash };
        let mut verified = verify_records(project, &records, &head, &balances, None)?;
        verified.checkpoint_proven = true;
        write_state(state, &note)?;
        Ok(PinnedVerification { verified, checkpoint, previous })
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

    fn pin() -> (fiscus_tlog::NoteSigner, NoteVerifier) {
        let signer = fiscus_tlog::NoteSigner::from_seed("books.example/fiscus", [7; 32]).expect("a key");
        let verifier = signer.verifier();
        (signer, verifier)
    }

    /// A state file is local: its faults are said to be the file's, never the server's; an empty
    /// one (a placeholder) is a first use; one in a folder not made yet is written there.
    #[test]
    fn a_state_file_speaks_for_itself() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (signer, verifier) = pin();
        let empty = dir.path().join("empty");
        std::fs::write(&empty, "").expect("write");
        assert!(read_state(&empty, &verifier).expect("an empty file is a first use").is_none());
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
