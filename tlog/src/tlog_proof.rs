//! C2SP `tlog-proof` (c2sp.org/tlog-proof): an offline-verifiable proof that an entry is in a
//! log, as text (file extension `.tlog-proof`):
//!
//! ```text
//! c2sp.org/tlog-proof@v1
//! [extra <base64 opaque data>]
//! index <zero-based leaf index, decimal, no leading zeroes>
//! <base64 hash>            (zero or more: the RFC 6962 inclusion proof, leaf's sibling first)
//!
//! <the signed checkpoint, verbatim, with its signatures and cosignatures>
//! ```
//!
//! The extra data is not authenticated: an application must not trust it without checking it
//! against what the proof proves.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use crate::checkpoint::{open_checkpoint, parse_decimal, OpenedCheckpoint};
use crate::error::TlogError;
use crate::hash::Hash;
use crate::note::{NoteVerifier, NOTE_BYTES_MAX};
use crate::proof::{verify_inclusion, PROOF_HASHES_MAX};

/// The first line of every tlog-proof.
pub const TLOG_PROOF_HEADER: &str = "c2sp.org/tlog-proof@v1";

/// Most bytes of extra data this crate accepts in a tlog-proof: 4 MiB (a Fiscus receipt carries at
/// most 3 MiB of record bytes and 36 bytes more for each of at most 1,000 records).
pub const TLOG_PROOF_EXTRA_BYTES_MAX: usize = 4 * 1024 * 1024;

/// Most bytes of a tlog-proof's text [`TlogProof::parse`] accepts: a checkpoint note, the extra
/// data in base64 and the proof lines at their longest.
pub const TLOG_PROOF_BYTES_MAX: usize = NOTE_BYTES_MAX + TLOG_PROOF_EXTRA_BYTES_MAX * 2 + 128 * PROOF_HASHES_MAX;

/// A parsed tlog-proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlogProof {
    /// The opaque extra data, if any (unauthenticated).
    pub extra: Option<Vec<u8>>,
    /// The entry's leaf index.
    pub index: u64,
    /// The inclusion proof, the leaf's sibling first.
    pub inclusion: Vec<Hash>,
    /// The signed checkpoint note, verbatim.
    pub checkpoint: String,
}

impl TlogProof {
    /// The proof as text.
    pub fn to_text(&self) -> String {
        let mut out = String::from(TLOG_PROOF_HEADER);
        out.push('\n');
        if let Some(extra) = &self.extra {
            out.push_str("extra ");
            out.push_str(&STANDARD.encode(extra));
            out.push('\n');
        }
        out.push_str(&format!("index {}\n", self.index));
        for hash in &self.inclusion {
            out.push_str(&hash.to_base64());
            out.push('\n');
        }
        out.push('\n');
        out.push_str(&self.checkpoint);
        out
    }

    /// Parses a tlog-proof from untrusted text (bounded: at most [`PROOF_HASHES_MAX`] proof
    /// lines, [`TLOG_PROOF_EXTRA_BYTES_MAX`] bytes of extra data, a checkpoint of at most
    /// `NOTE_BYTES_MAX` bytes). Verifies nothing: see [`TlogProof::verify`].
    pub fn parse(text: &str) -> Result<TlogProof, TlogError> {
        const WHAT: &str = "tlog-proof";
        let limit = TLOG_PROOF_BYTES_MAX;
        if text.len() > limit {
            return Err(TlogError::TooLarge { what: "tlog-proof bytes", found: text.len() as u64, max: limit as u64 });
        }
        crate::error::lf_only(WHAT, text)?;
        let (header, mut rest) = text.split_once('\n').ok_or(TlogError::malformed(WHAT, "no header line"))?;
        if header != TLOG_PROOF_HEADER {
            return Err(TlogError::malformed(WHAT, "first line is not c2sp.org/tlog-proof@v1"));
        }
        let mut next_line = |what: &'static str| -> Result<&str, TlogError> {
            let (line, after) = rest.split_once('\n').ok_or(TlogError::malformed(WHAT, what))?;
            rest = after;
            Ok(line)
        };
        let mut line = next_line("no index line")?;
        let mut extra = None;
        if let Some(encoded) = line.strip_prefix("extra ") {
            if encoded.len() > TLOG_PROOF_EXTRA_BYTES_MAX * 2 {
                return Err(TlogError::TooLarge {
                    what: "tlog-proof extra characters",
                    found: encoded.len() as u64,
                    max: TLOG_PROOF_EXTRA_BYTES_MAX as u64 * 2,
                });
            }
            extra = Some(STANDARD.decode(encoded).map_err(|_| TlogError::malformed("tlog-proof extra", "not base64"))?);
            line = next_line("no index line")?;
        }
        let index = line
            .strip_prefix("index ")
            .and_then(parse_decimal)
            .ok_or(TlogError::malformed("tlog-proof index", "not `index` and a decimal number"))?;
        let mut inclusion = Vec::new();
        loop {
            let line = next_line("no empty line before the checkpoint")?;
            if line.is_empty() {
                break;
            }
            if inclusion.len() == PROOF_HASHES_MAX {
                return Err(TlogError::TooLarge {
                    what: "tlog-proof inclusion proof lines",
                    found: PROOF_HASHES_MAX as u64 + 1,
                    max: PROOF_HASHES_MAX as u64,
                });
            }
            inclusion.push(Hash::from_base64(line)?);
        }
        Ok(TlogProof { extra, index, inclusion, checkpoint: rest.to_owned() })
    }

    /// Verifies the proof for the entry with leaf hash `leaf`: opens the checkpoint against
    /// `known` (a verified signature by the log key named `origin` is required, see
    /// [`open_checkpoint`]) and checks the inclusion proof against its root.
    pub fn verify(&self, leaf: &Hash, origin: &str, known: &[NoteVerifier]) -> Result<OpenedCheckpoint, TlogError> {
        let opened = open_checkpoint(&self.checkpoint, origin, known)?;
        verify_inclusion(leaf, self.index, opened.checkpoint.size, &self.inclusion, &opened.checkpoint.root)?;
        Ok(opened)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::Checkpoint;
    use crate::hash::leaf_hash;
    use crate::note::NoteSigner;
    use crate::tree::MemoryTree;

    #[test]
    fn round_trip_and_verify() {
        let log = NoteSigner::from_seed("example.org/ledger", [4; 32]).unwrap();
        let mut tree = MemoryTree::new();
        let leaves: Vec<Hash> = (0..11u8).map(|i| leaf_hash(&[i])).collect();
        tree.append_all(&leaves);
        let checkpoint = Checkpoint::new("example.org/ledger", 11, tree.root()).unwrap();
        let proof = TlogProof {
            extra: Some(b"commit 7".to_vec()),
            index: 7,
            inclusion: tree.inclusion_proof(7, 11).unwrap(),
            checkpoint: checkpoint.sign(&log).unwrap().to_text(),
        };
        let text = proof.to_text();
        assert!(text.starts_with("c2sp.org/tlog-proof@v1\nextra Y29tbWl0IDc=\nindex 7\n"));
        let parsed = TlogProof::parse(&text).unwrap();
        assert_eq!(parsed, proof);
        assert!(parsed.verify(&leaves[7], "example.org/ledger", &[log.verifier()]).is_ok());
        assert!(parsed.verify(&leaves[6], "example.org/ledger", &[log.verifier()]).is_err());
        let without_extra = TlogProof { extra: None, ..proof };
        assert_eq!(TlogProof::parse(&without_extra.to_text()).unwrap(), without_extra);
    }

    #[test]
    fn malformed_proofs_are_refused() {
        let hash = leaf_hash(b"x").to_base64();
        for bad in [
            String::new(),
            "c2sp.org/tlog-proof@v2\nindex 0\n\n".to_owned(),
            "c2sp.org/tlog-proof@v1\n".to_owned(),
            "c2sp.org/tlog-proof@v1\nindex 01\n\n".to_owned(),
            "c2sp.org/tlog-proof@v1\nextra !!\nindex 0\n\n".to_owned(),
            "c2sp.org/tlog-proof@v1\nindex 0\nAAAA\n\n".to_owned(),
            format!("c2sp.org/tlog-proof@v1\nindex 0\n{hash}\n"),
            format!("c2sp.org/tlog-proof@v1\nindex 0\n{}\n", format!("{hash}\n").repeat(PROOF_HASHES_MAX + 1)),
        ] {
            assert!(TlogProof::parse(&bad).is_err(), "{bad:?}");
        }
    }
}
