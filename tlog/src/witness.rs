//! A C2SP `tlog-witness` (c2sp.org/tlog-witness) as a library, without HTTP: the
//! `add-checkpoint` request body, the witness's checks in the order the spec gives them, and its
//! answers with the spec's HTTP status codes ([`WitnessError::http_status`]).
//!
//! A witness knows, per log origin, the log's verifier keys and the latest checkpoint it cosigned.
//! It cosigns a new checkpoint only when it is signed by the log, its `old` size is the size it
//! holds, and a consistency proof leads from the held root to the new one; it never moves back,
//! and refuses a second root for a size it has seen. [`Witness::add_checkpoint`] takes `&mut
//! self`: the check and the update of the held checkpoint are one step, as the spec requires
//! (a server persists [`Witness::latest`] before it answers).

use std::collections::BTreeMap;

use crate::checkpoint::{open_checkpoint, parse_decimal, Checkpoint};
use crate::cosignature::Cosigner;
use crate::error::TlogError;
use crate::hash::Hash;
use crate::note::{Note, NoteSignature, NoteVerifier, NOTE_BYTES_MAX};
use crate::proof::verify_consistency;

/// Most consistency proof lines an `add-checkpoint` request may carry (tlog-witness: "The client
/// MUST NOT send more than 63 consistency proof lines").
pub const ADD_CHECKPOINT_PROOF_LINES_MAX: usize = 63;

/// An `add-checkpoint` request body: `old <size>`, consistency proof lines, an empty line, the
/// signed checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddCheckpoint {
    /// The size of the checkpoint the client believes the witness holds (0 for none).
    pub old_size: u64,
    /// The consistency proof from `old_size` to the new checkpoint's size.
    pub proof: Vec<Hash>,
    /// The signed checkpoint note.
    pub checkpoint: String,
}

impl AddCheckpoint {
    /// The request body as text.
    pub fn to_text(&self) -> String {
        let mut out = format!("old {}\n", self.old_size);
        for hash in &self.proof {
            out.push_str(&hash.to_base64());
            out.push('\n');
        }
        out.push('\n');
        out.push_str(&self.checkpoint);
        out
    }

    /// Parses a request body from untrusted text (`WitnessError::BadRequest` when malformed).
    pub fn parse(text: &str) -> Result<AddCheckpoint, WitnessError> {
        let limit = NOTE_BYTES_MAX + 64 * (ADD_CHECKPOINT_PROOF_LINES_MAX + 1);
        if text.len() > limit {
            return Err(WitnessError::BadRequest(TlogError::TooLarge {
                what: "add-checkpoint bytes",
                found: text.len() as u64,
                max: limit as u64,
            }));
        }
        crate::error::lf_only("add-checkpoint request", text).map_err(WitnessError::BadRequest)?;
        let bad = |why| WitnessError::BadRequest(TlogError::malformed("add-checkpoint request", why));
        let (old_line, mut rest) = text.split_once('\n').ok_or_else(|| bad("no old size line"))?;
        let old_size = old_line
            .strip_prefix("old ")
            .and_then(parse_decimal)
            .ok_or_else(|| bad("first line is not `old` and a decimal size"))?;
        let mut proof = Vec::new();
        loop {
            let (line, after) = rest.split_once('\n').ok_or_else(|| bad("no empty line before the checkpoint"))?;
            rest = after;
            if line.is_empty() {
                break;
            }
            if proof.len() == ADD_CHECKPOINT_PROOF_LINES_MAX {
                return Err(bad("more than 63 consistency proof lines"));
            }
            proof.push(Hash::from_base64(line).map_err(WitnessError::BadRequest)?);
        }
        Ok(AddCheckpoint { old_size, proof, checkpoint: rest.to_owned() })
    }
}

/// Why a witness refuses a checkpoint, with the tlog-witness HTTP status of each.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WitnessError {
    /// A malformed request or checkpoint, or an old size above the checkpoint's: 400.
    #[error("bad request: {0}")]
    BadRequest(TlogError),
    /// No signature by a trusted key of the log: 403.
    #[error("checkpoint not signed by a trusted key of the log: {0}")]
    Forbidden(TlogError),
    /// The checkpoint's origin is not a log this witness knows: 404.
    #[error("unknown log origin {0:?}")]
    UnknownOrigin(String),
    /// The old size is not the size of the latest checkpoint the witness cosigned: 409, and the
    /// answer body is that size (`text/x.tlog.size`).
    #[error("old size {old_size} is not the witnessed size {latest_size}")]
    SizeConflict {
        /// The size the request gave.
        old_size: u64,
        /// The size the witness holds.
        latest_size: u64,
    },
    /// A checkpoint of the size the witness holds but with another root (a fork): 409.
    #[error("checkpoint of size {size} has root {found}, the witnessed root is {witnessed}")]
    RootConflict {
        /// The tree size.
        size: u64,
        /// The root the witness cosigned.
        witnessed: Hash,
        /// The other root.
        found: Hash,
    },
    /// The consistency proof does not lead from the witnessed checkpoint to the new one: 422.
    #[error("consistency proof does not verify: {0}")]
    BadProof(TlogError),
}

impl WitnessError {
    /// The HTTP status tlog-witness gives this refusal.
    pub fn http_status(&self) -> u16 {
        match self {
            WitnessError::BadRequest(_) => 400,
            WitnessError::Forbidden(_) => 403,
            WitnessError::UnknownOrigin(_) => 404,
            WitnessError::SizeConflict { .. } | WitnessError::RootConflict { .. } => 409,
            WitnessError::BadProof(_) => 422,
        }
    }

    /// The answer body tlog-witness gives a 409 on the old size (`<size>\n`, content type
    /// `text/x.tlog.size`); `None` for other refusals.
    pub fn size_body(&self) -> Option<String> {
        match self {
            WitnessError::SizeConflict { latest_size, .. } => Some(format!("{latest_size}\n")),
            _ => None,
        }
    }
}

/// The latest checkpoint a witness cosigned for one log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Witnessed {
    /// The checkpoint body.
    pub checkpoint: Checkpoint,
    /// The signed note with only the log's signature lines that verified and the witness's
    /// cosignature (other lines of the request are dropped).
    pub note: String,
}

/// A witness: its cosigning key, the logs it knows and the latest checkpoint of each.
#[derive(Debug, Clone)]
pub struct Witness {
    cosigner: Cosigner,
    logs: BTreeMap<String, Vec<NoteVerifier>>,
    latest: BTreeMap<String, Witnessed>,
}

impl Witness {
    /// A witness cosigning with `cosigner`, knowing no log yet.
    pub fn new(cosigner: Cosigner) -> Witness {
        Witness { cosigner, logs: BTreeMap::new(), latest: BTreeMap::new() }
    }

    /// Trusts `log_key` (a type 0x01 key whose name is the log's origin) for the log of that
    /// origin; a log may have several keys.
    pub fn add_log(&mut self, log_key: NoteVerifier) {
        self.logs.entry(log_key.name().to_owned()).or_default().push(log_key);
    }

    /// The witness's cosigning key.
    pub fn cosigner(&self) -> &Cosigner {
        &self.cosigner
    }

    /// The latest checkpoint cosigned for `origin`.
    pub fn latest(&self, origin: &str) -> Option<&Witnessed> {
        self.latest.get(origin)
    }

    /// Restores the held checkpoint of a log from a signed note a previous run persisted; the
    /// log's key must sign it.
    pub fn restore(&mut self, note: &str) -> Result<(), TlogError> {
        let parsed = Note::parse(note)?;
        let checkpoint = Checkpoint::parse_body(&parsed.text)?;
        let keys = self
            .logs
            .get(&checkpoint.origin)
            .ok_or_else(|| crate::note::no_known_signature(&parsed.signatures, &[]))?;
        let opened = open_checkpoint(note, &checkpoint.origin, keys)?;
        self.latest.insert(
            opened.checkpoint.origin.clone(),
            Witnessed { checkpoint: opened.checkpoint, note: note.to_owned() },
        );
        Ok(())
    }

    /// Handles an `add-checkpoint` request at time `now` (seconds since the Unix epoch), with the
    /// checks of tlog-witness in its order: known origin (404), a valid signature by the log
    /// (403), old size not above the new size (400), old size equal to the held size (409), at an
    /// equal size an equal root (409), the consistency proof (422). On success the held
    /// checkpoint becomes the new one and the answer is the cosignature line(s) to add to it.
    pub fn add_checkpoint(&mut self, request: &AddCheckpoint, now: u64) -> Result<Vec<NoteSignature>, WitnessError> {
        let note = Note::parse(&request.checkpoint).map_err(WitnessError::BadRequest)?;
        let checkpoint = Checkpoint::parse_body(&note.text).map_err(WitnessError::BadRequest)?;
        let keys =
            self.logs.get(&checkpoint.origin).ok_or_else(|| WitnessError::UnknownOrigin(checkpoint.origin.clone()))?;
        let opened = open_checkpoint(&request.checkpoint, &checkpoint.origin, keys).map_err(WitnessError::Forbidden)?;
        if request.old_size > checkpoint.size {
            return Err(WitnessError::BadRequest(TlogError::BadSizes {
                old: request.old_size,
                new: checkpoint.size,
                size: checkpoint.size,
            }));
        }
        let held = self.latest.get(&checkpoint.origin);
        let (held_size, held_root) = match held {
            Some(held) => (held.checkpoint.size, held.checkpoint.root),
            None => (0, crate::hash::empty_root()),
        };
        if request.old_size != held_size {
            return Err(WitnessError::SizeConflict { old_size: request.old_size, latest_size: held_size });
        }
        if held.is_some() && held_size == checkpoint.size && held_root != checkpoint.root {
            return Err(WitnessError::RootConflict { size: held_size, witnessed: held_root, found: checkpoint.root });
        }
        verify_consistency(held_size, checkpoint.size, &held_root, &checkpoint.root, &request.proof)
            .map_err(WitnessError::BadProof)?;
        let cosignature = self.cosigner.cosign(&note.text, now).map_err(WitnessError::BadRequest)?;
        // Held: the log's lines that verified (the first line of each known key, as
        // `Note::verify` checks them) and this cosignature; nothing else the request carried.
        let mut signatures: Vec<NoteSignature> = Vec::new();
        for verified in &opened.verified {
            if let Some(line) = note.signatures.iter().find(|s| s.name == verified.name && s.key_id == verified.key_id)
            {
                signatures.push(line.clone());
            }
        }
        signatures.push(cosignature.clone());
        let signed = Note { text: note.text, signatures };
        self.latest.insert(checkpoint.origin.clone(), Witnessed { checkpoint, note: signed.to_text() });
        Ok(vec![cosignature])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::leaf_hash;
    use crate::note::NoteSigner;
    use crate::tree::MemoryTree;

    const ORIGIN: &str = "example.org/ledger";

    struct Log {
        key: NoteSigner,
        tree: MemoryTree,
    }

    impl Log {
        fn new() -> Log {
            Log { key: NoteSigner::from_seed(ORIGIN, [1; 32]).unwrap(), tree: MemoryTree::new() }
        }
        fn grow(&mut self, leaves: u8) {
            let start = self.tree.size() as u8;
            for i in start..start + leaves {
                self.tree.append(leaf_hash(&[i]));
            }
        }
        fn checkpoint(&self, size: u64) -> String {
            let root = self.tree.root_at(size).unwrap();
            Checkpoint::new(ORIGIN, size, root).unwrap().sign(&self.key).unwrap().to_text()
        }
        fn request(&self, old: u64, new: u64) -> AddCheckpoint {
            AddCheckpoint {
                old_size: old,
                proof: self.tree.consistency_proof(old, new).unwrap(),
                checkpoint: self.checkpoint(new),
            }
        }
    }

    fn witness(log: &Log) -> Witness {
        let mut witness = Witness::new(Cosigner::from_seed("witness.example/w1", [2; 32]).unwrap());
        witness.add_log(log.key.verifier());
        witness
    }

    #[test]
    fn cosigns_a_growing_log() {
        let mut log = Log::new();
        log.grow(5);
        let mut witness = witness(&log);
        let request = log.request(0, 5);
        assert_eq!(AddCheckpoint::parse(&request.to_text()).unwrap(), request);
        let lines = witness.add_checkpoint(&request, 1_700_000_000).unwrap();
        // The answer added to the checkpoint opens with the witness key.
        let mut note = Note::parse(&request.checkpoint).unwrap();
        note.signatures.extend(lines);
        let verified = note.verify(&[witness.cosigner().verifier()]).unwrap();
        assert_eq!(verified[0].timestamp, Some(1_700_000_000));
        log.grow(7);
        witness.add_checkpoint(&log.request(5, 12), 1_700_000_001).unwrap();
        assert_eq!(witness.latest(ORIGIN).unwrap().checkpoint.size, 12);
        // The same checkpoint again is cosigned again.
        witness.add_checkpoint(&log.request(12, 12), 1_700_000_002).unwrap();
        // The held state survives a restart.
        let held = witness.latest(ORIGIN).unwrap().note.clone();
        let mut restarted = self::witness(&log);
        restarted.restore(&held).unwrap();
        assert_eq!(restarted.latest(ORIGIN).unwrap().checkpoint.size, 12);
    }

    #[test]
    fn holds_only_the_lines_that_verified() {
        let mut log = Log::new();
        log.grow(5);
        let mut witness = witness(&log);
        let mut request = log.request(0, 5);
        let mut note = Note::parse(&request.checkpoint).unwrap();
        let log_line = note.signatures[0].clone();
        // A corrupted second line of the log's key (the first verifies) refuses the note: every
        // line of a known key must verify (crate::note::Note::verify), and nothing is held.
        let mut corrupted = log_line.clone();
        corrupted.signature[10] ^= 0xff;
        let mut with_bad_line = note.clone();
        with_bad_line.signatures.push(corrupted);
        request.checkpoint = with_bad_line.to_text();
        assert!(witness.add_checkpoint(&request, 1).is_err(), "a bad line of the log's key was cosigned");
        assert!(witness.latest(ORIGIN).is_none());
        // A stranger's line and a repeat of the log's good line are not held.
        let stranger = NoteSigner::from_seed("stranger.example/s", [3; 32]).unwrap().sign(&note.text).unwrap();
        note.signatures.push(log_line.clone());
        note.signatures.push(stranger);
        request.checkpoint = note.to_text();
        let lines = witness.add_checkpoint(&request, 1).unwrap();
        let held = Note::parse(&witness.latest(ORIGIN).unwrap().note).unwrap();
        assert_eq!(held.signatures, vec![log_line, lines[0].clone()]);
    }

    #[test]
    fn refuses_forks_rollbacks_and_bad_proofs() {
        let mut log = Log::new();
        log.grow(8);
        let mut witness = witness(&log);
        witness.add_checkpoint(&log.request(0, 8), 1).unwrap();

        // A fork: another history of the same size.
        let mut fork = Log::new();
        fork.grow(7);
        fork.tree.append(leaf_hash(b"forged"));
        let forked = AddCheckpoint { old_size: 8, proof: vec![], checkpoint: fork.checkpoint(8) };
        let refused = witness.add_checkpoint(&forked, 2).unwrap_err();
        assert!(matches!(refused, WitnessError::RootConflict { size: 8, .. }));
        assert_eq!(refused.http_status(), 409);

        // A fork that grew: no consistency proof from the held root leads to it.
        fork.grow(4);
        let grown = AddCheckpoint {
            old_size: 8,
            proof: fork.tree.consistency_proof(8, 12).unwrap(),
            checkpoint: fork.checkpoint(12),
        };
        let refused = witness.add_checkpoint(&grown, 3).unwrap_err();
        assert_eq!(refused.http_status(), 422);

        // An older checkpoint replayed as newer: its size is below the held one.
        let older = log.request(0, 4);
        let refused = witness.add_checkpoint(&older, 4).unwrap_err();
        assert_eq!(refused, WitnessError::SizeConflict { old_size: 0, latest_size: 8 });
        assert_eq!(refused.size_body().as_deref(), Some("8\n"));
        let claimed = AddCheckpoint { old_size: 8, proof: vec![], checkpoint: log.checkpoint(4) };
        assert_eq!(witness.add_checkpoint(&claimed, 4).unwrap_err().http_status(), 400);

        // Signed by another key: 403. Unknown origin: 404.
        let mut impostor = Log::new();
        impostor.key = NoteSigner::from_seed(ORIGIN, [9; 32]).unwrap();
        impostor.grow(9);
        let refused = witness.add_checkpoint(&impostor.request(8, 9), 5).unwrap_err();
        assert_eq!(refused.http_status(), 403);
        let stranger = NoteSigner::from_seed("example.org/other", [3; 32]).unwrap();
        let body = Checkpoint::new("example.org/other", 1, leaf_hash(b"x")).unwrap().sign(&stranger).unwrap();
        let request = AddCheckpoint { old_size: 0, proof: vec![], checkpoint: body.to_text() };
        assert_eq!(witness.add_checkpoint(&request, 6).unwrap_err().http_status(), 404);

        // A proof that is not empty from size 0, or garbage: refused.
        log.grow(1);
        let mut bad_proof = log.request(8, 9);
        bad_proof.proof.push(leaf_hash(b"extra"));
        assert_eq!(witness.add_checkpoint(&bad_proof, 7).unwrap_err().http_status(), 422);
        assert_eq!(AddCheckpoint::parse("old 01\n\n").unwrap_err().http_status(), 400);
        assert_eq!(AddCheckpoint::parse("").unwrap_err().http_status(), 400);

        // After all that, the witness still holds the honest checkpoint and still moves forward.
        assert_eq!(witness.latest(ORIGIN).unwrap().checkpoint.size, 8);
        witness.add_checkpoint(&log.request(8, 9), 8).unwrap();
    }
}
