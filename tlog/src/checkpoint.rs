//! C2SP `tlog-checkpoint` (c2sp.org/tlog-checkpoint): the signed tree head of a log, a signed
//! note whose text is
//!
//! ```text
//! <origin>
//! <tree size, ASCII decimal, no leading zeroes>
//! <base64 RFC 6962 root hash>
//! [extension lines, non-empty, opaque]
//! ```
//!
//! Fiscus writes no extension lines; it parses and keeps those of other logs (a witness cosigns
//! the whole body, extension lines included, as tlog-cosignature requires).

use crate::error::TlogError;
use crate::hash::Hash;
use crate::note::{is_valid_key_name, Note, NoteSigner, NoteVerifier, VerifiedSignature, NOTE_BYTES_MAX};

/// Most extension lines a parsed checkpoint may carry.
pub const CHECKPOINT_EXTENSIONS_MAX: usize = 16;

/// A checkpoint body: origin, tree size, root hash (and any extension lines of another log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's origin line: a unique name, by recommendation a schema-less URL.
    pub origin: String,
    /// Leaves in the tree.
    pub size: u64,
    /// The RFC 6962 root of those leaves.
    pub root: Hash,
    /// Extension lines (opaque, non-empty); Fiscus's own checkpoints have none.
    pub extensions: Vec<String>,
}

impl Checkpoint {
    /// A checkpoint of the tree of `size` leaves with root `root`, without extension lines. The
    /// origin must be a valid key name (non-empty, no space, no `+`), since the log's key name
    /// matches it.
    pub fn new(origin: &str, size: u64, root: Hash) -> Result<Checkpoint, TlogError> {
        if !is_valid_key_name(origin) {
            return Err(TlogError::InvalidKeyName(origin.to_owned()));
        }
        Ok(Checkpoint { origin: origin.to_owned(), size, root, extensions: Vec::new() })
    }

    /// The note text: the origin, size and root lines (and extension lines), each ending in a
    /// newline.
    pub fn body(&self) -> String {
        let mut body = format!("{}\n{}\n{}\n", self.origin, self.size, self.root.to_base64());
        for line in &self.extensions {
            body.push_str(line);
            body.push('\n');
        }
        body
    }

    /// Parses a checkpoint body from untrusted text: at least three non-empty lines ending in a
    /// newline; the size in decimal without leading zeroes; the root 32 bytes of base64.
    pub fn parse_body(text: &str) -> Result<Checkpoint, TlogError> {
        const WHAT: &str = "checkpoint";
        if text.len() > NOTE_BYTES_MAX {
            return Err(TlogError::TooLarge {
                what: "checkpoint bytes",
                found: text.len() as u64,
                max: NOTE_BYTES_MAX as u64,
            });
        }
        crate::error::lf_only(WHAT, text)?;
        let lines = text.strip_suffix('\n').ok_or(TlogError::malformed(WHAT, "does not end in a newline"))?;
        let mut lines = lines.split('\n');
        let origin = lines.next().filter(|line| !line.is_empty()).ok_or(TlogError::malformed(WHAT, "empty origin"))?;
        let size = lines.next().ok_or(TlogError::malformed(WHAT, "no tree size line"))?;
        let size = parse_decimal(size)
            .ok_or(TlogError::malformed("checkpoint tree size", "not a decimal number without leading zeroes"))?;
        let root = lines.next().ok_or(TlogError::malformed(WHAT, "no root hash line"))?;
        let root = Hash::from_base64(root)
            .map_err(|_| TlogError::malformed("checkpoint root hash", "not 32 bytes of base64"))?;
        let mut extensions = Vec::new();
        for line in lines {
            if line.is_empty() {
                return Err(TlogError::malformed("checkpoint extension line", "empty"));
            }
            if extensions.len() == CHECKPOINT_EXTENSIONS_MAX {
                return Err(TlogError::TooLarge {
                    what: "checkpoint extension lines",
                    found: CHECKPOINT_EXTENSIONS_MAX as u64 + 1,
                    max: CHECKPOINT_EXTENSIONS_MAX as u64,
                });
            }
            extensions.push(line.to_owned());
        }
        Ok(Checkpoint { origin: origin.to_owned(), size, root, extensions })
    }

    /// The checkpoint signed by `signer`, as a signed note.
    pub fn sign(&self, signer: &NoteSigner) -> Result<Note, TlogError> {
        signer.sign_note(&self.body())
    }
}

/// Parses an ASCII decimal u64 with no leading zeroes (`0` itself allowed), as checkpoints,
/// `old` lines and `index` lines write numbers.
pub(crate) fn parse_decimal(text: &str) -> Option<u64> {
    if text.is_empty() || text.len() > 20 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if text.len() > 1 && text.starts_with('0') {
        return None;
    }
    text.parse().ok()
}

/// A checkpoint whose note verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedCheckpoint {
    /// The parsed body.
    pub checkpoint: Checkpoint,
    /// The whole note, every signature line kept (known or not).
    pub note: Note,
    /// The signatures that verified against the known keys.
    pub verified: Vec<VerifiedSignature>,
}

/// Opens a signed checkpoint from untrusted text: parses the note, verifies it against `known`
/// (C2SP signed-note rules), requires a verified signature by a plain note key (type 0x01) named
/// `origin` — the log's own key, since cosignatures alone do not make a checkpoint — and parses
/// the body, whose origin line must be `origin`.
pub fn open_checkpoint(message: &str, origin: &str, known: &[NoteVerifier]) -> Result<OpenedCheckpoint, TlogError> {
    let note = Note::parse(message)?;
    let checkpoint = Checkpoint::parse_body(&note.text)?;
    if checkpoint.origin != origin {
        return Err(TlogError::WrongOrigin { expected: origin.to_owned(), found: checkpoint.origin });
    }
    let verified = note.verify(known)?;
    if !verified.iter().any(|signature| signature.key_type == crate::note::KEY_TYPE_ED25519 && signature.name == origin)
    {
        return Err(crate::note::no_known_signature(&note.signatures, known));
    }
    Ok(OpenedCheckpoint { checkpoint, note, verified })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::leaf_hash;

    #[test]
    fn spec_example_body_parses() {
        let body = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
        let checkpoint = Checkpoint::parse_body(body).unwrap();
        assert_eq!(checkpoint.origin, "example.com/behind-the-sofa");
        assert_eq!(checkpoint.size, 20_852_163);
        assert_eq!(checkpoint.body(), body);
    }

    #[test]
    fn malformed_bodies_are_refused() {
        let root = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=";
        for bad in [
            String::new(),
            "o\n1\n".to_owned(),
            format!("o\n1\n{root}"),
            format!("\n1\n{root}\n"),
            format!("o\n01\n{root}\n"),
            format!("o\n-1\n{root}\n"),
            format!("o\n+1\n{root}\n"),
            format!("o\n18446744073709551616\n{root}\n"),
            "o\n1\nAAAA\n".to_owned(),
            format!("o\n1\n{root}\n\n"),
            format!("o\n1\n{root}\next\n\n"),
        ] {
            assert!(Checkpoint::parse_body(&bad).is_err(), "{bad:?}");
        }
        let with_extension = format!("o\n0\n{root}\nextension\n");
        assert_eq!(Checkpoint::parse_body(&with_extension).unwrap().extensions, vec!["extension".to_owned()]);
        let too_many = format!("o\n0\n{root}\n{}", "x\n".repeat(CHECKPOINT_EXTENSIONS_MAX + 1));
        assert!(Checkpoint::parse_body(&too_many).is_err());
    }

    #[test]
    fn open_requires_the_log_key_and_origin() {
        let log = NoteSigner::from_seed("example.org/ledger", [5; 32]).unwrap();
        let checkpoint = Checkpoint::new("example.org/ledger", 1, leaf_hash(b"a")).unwrap();
        let text = checkpoint.sign(&log).unwrap().to_text();
        let opened = open_checkpoint(&text, "example.org/ledger", &[log.verifier()]).unwrap();
        assert_eq!(opened.checkpoint, checkpoint);
        assert!(matches!(
            open_checkpoint(&text, "example.org/other", &[log.verifier()]),
            Err(TlogError::WrongOrigin { .. })
        ));
        // Signed by another key with the same name: not the pinned key.
        let other = NoteSigner::from_seed("example.org/ledger", [6; 32]).unwrap();
        let forged = checkpoint.sign(&other).unwrap().to_text();
        assert!(matches!(
            open_checkpoint(&forged, "example.org/ledger", &[log.verifier()]),
            Err(TlogError::NoKnownSignature { .. })
        ));
        // A valid signature moved onto another root.
        let mut moved = Note::parse(&text).unwrap();
        moved.text = Checkpoint::new("example.org/ledger", 1, leaf_hash(b"b")).unwrap().body();
        assert!(matches!(
            open_checkpoint(&moved.to_text(), "example.org/ledger", &[log.verifier()]),
            Err(TlogError::BadSignature { .. })
        ));
        assert!(Checkpoint::new("bad origin", 1, leaf_hash(b"a")).is_err());
    }
}
