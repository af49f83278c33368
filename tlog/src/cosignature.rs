//! C2SP `tlog-cosignature` (c2sp.org/tlog-cosignature), the Ed25519 `cosignature/v1` type: a
//! witness's timestamped statement that a checkpoint is the largest consistent tree head it has
//! seen for the log.
//!
//! - key id: `SHA-256(name || "\n" || 0x04 || 32-byte public key)[:4]`;
//! - signed message: `cosignature/v1\ntime <timestamp>\n` followed by the whole checkpoint body;
//! - signature bytes (after the note's key id): the timestamp as 8 bytes big-endian, then the
//!   64-byte Ed25519 signature. The timestamp is seconds since the Unix epoch and at most
//!   2^63 - 1.
//!
//! Verifying a cosignature is [`crate::Note::verify`] with a [`crate::NoteVerifier`] of type
//! 0x04, which answers its timestamp.

use crate::error::TlogError;
use crate::note::{check_note_text, KeyPair, NoteSignature, NoteVerifier, KEY_TYPE_COSIGNATURE_V1};

/// The message a `cosignature/v1` signs: `cosignature/v1\ntime <timestamp>\n` and the checkpoint
/// body (the note text, with its final newline).
pub fn cosigned_message(body: &[u8], timestamp: u64) -> Vec<u8> {
    let mut message = format!("cosignature/v1\ntime {timestamp}\n").into_bytes();
    message.extend_from_slice(body);
    message
}

/// A witness's Ed25519 cosigning key (signature type 0x04).
#[derive(Clone)]
pub struct Cosigner {
    pair: KeyPair,
}

impl std::fmt::Debug for Cosigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Cosigner({})", self.verifier_key())
    }
}

impl Cosigner {
    /// A new cosigner named `name` (a schema-less URL, by the spec's recommendation) from the
    /// operating system's random generator.
    pub fn generate(name: &str) -> Result<Cosigner, TlogError> {
        Ok(Cosigner { pair: KeyPair::generate(name, KEY_TYPE_COSIGNATURE_V1)? })
    }

    /// The cosigner named `name` with the 32-byte Ed25519 private key (seed) `seed`.
    pub fn from_seed(name: &str, seed: [u8; 32]) -> Result<Cosigner, TlogError> {
        Ok(Cosigner { pair: KeyPair::from_seed(name, KEY_TYPE_COSIGNATURE_V1, seed)? })
    }

    /// Parses `PRIVATE+KEY+<name>+<hex8 key id>+<base64(0x04 || seed)>`: Go's signer-key form
    /// with the cosignature type byte.
    pub fn from_signer_key(text: &str) -> Result<Cosigner, TlogError> {
        Ok(Cosigner { pair: KeyPair::from_signer_key(text, KEY_TYPE_COSIGNATURE_V1)? })
    }

    /// The signer key string; it holds the private key, so keep it secret.
    pub fn signer_key(&self) -> String {
        self.pair.signer_key()
    }

    /// The verifier key `<name>+<hex8 key id>+<base64(0x04 || public key)>` (the spec's vkey
    /// encoding for Ed25519 cosigners).
    pub fn verifier_key(&self) -> String {
        self.verifier().verifier_key()
    }

    /// The matching verifier.
    pub fn verifier(&self) -> NoteVerifier {
        self.pair.verifier()
    }

    /// The cosigner's name.
    pub fn name(&self) -> &str {
        &self.pair.name
    }

    /// Cosigns the checkpoint body `body` (a note text, ending in a newline) at `timestamp`
    /// (seconds since the Unix epoch, at most 2^63 - 1): the signature line to add to the note.
    pub fn cosign(&self, body: &str, timestamp: u64) -> Result<NoteSignature, TlogError> {
        check_note_text(body)?;
        if timestamp > i64::MAX as u64 {
            return Err(TlogError::malformed("cosignature timestamp", "above 2^63 - 1"));
        }
        let signature = self.pair.sign_bytes(&cosigned_message(body.as_bytes(), timestamp));
        let mut bytes = Vec::with_capacity(8 + 64);
        bytes.extend_from_slice(&timestamp.to_be_bytes());
        bytes.extend_from_slice(&signature);
        Ok(NoteSignature { name: self.pair.name.clone(), key_id: self.pair.key_id, signature: bytes })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::note::{Note, NoteSigner};

    #[test]
    fn cosignature_verifies_with_its_timestamp() {
        let log = NoteSigner::from_seed("example.com/log", [7; 32]).unwrap();
        let witness = Cosigner::from_seed("witness.example/w1", [8; 32]).unwrap();
        let body = "example.com/log\n3\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
        let mut note = log.sign_note(body).unwrap();
        note.signatures.push(witness.cosign(body, 1_679_315_147).unwrap());
        let parsed = Note::parse(&note.to_text()).unwrap();
        let verified = parsed.verify(&[log.verifier(), witness.verifier()]).unwrap();
        assert_eq!(verified.len(), 2);
        assert_eq!(verified[1].timestamp, Some(1_679_315_147));
        assert_eq!(verified[1].key_type, KEY_TYPE_COSIGNATURE_V1);
        // The witness key alone is enough to open it, and the log key alone too.
        assert!(parsed.verify(&[witness.verifier()]).is_ok());
        // A cosignature over another body fails.
        let mut moved = parsed.clone();
        moved.text = "example.com/log\n4\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n".to_owned();
        assert!(moved.verify(&[witness.verifier()]).is_err());
        // A changed timestamp fails.
        let mut retimed = parsed;
        if let Some(last) = retimed.signatures.last_mut() {
            last.signature[7] ^= 1;
        }
        assert!(retimed.verify(&[witness.verifier()]).is_err());
        assert!(witness.cosign(body, u64::MAX).is_err());
    }

    #[test]
    fn key_types_do_not_mix() {
        let witness = Cosigner::from_seed("w", [8; 32]).unwrap();
        let as_note_key = NoteSigner::from_seed("w", [8; 32]).unwrap();
        // One Ed25519 key, two types: two key ids.
        assert_ne!(witness.verifier().key_id(), as_note_key.key_id());
        assert!(witness.verifier_key().starts_with(&format!("w+{:08x}+B", witness.verifier().key_id())));
        assert!(NoteSigner::from_signer_key(&witness.signer_key()).is_err());
        let again = Cosigner::from_signer_key(&witness.signer_key()).unwrap();
        assert_eq!(again.verifier_key(), witness.verifier_key());
        assert_eq!(NoteVerifier::from_verifier_key(&witness.verifier_key()).unwrap(), witness.verifier());
    }
}
