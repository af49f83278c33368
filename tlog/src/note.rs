//! C2SP `signed-note` (c2sp.org/signed-note): text signed by one or more keys, with Ed25519 keys
//! (signature type 0x01) and the verifier-key and signer-key strings of Go's
//! `golang.org/x/mod/sumdb/note`.
//!
//! A signed note is the text (ending in a newline), a blank line, then one or more signature lines
//! `— <key name> <base64(4-byte big-endian key id || signature)>`. The note must be UTF-8 with no
//! control character but the newline. A key id is `SHA-256(name || 0x0A || type || public key)[:4]`
//! read big-endian.
//!
//! Key strings (Go's `note.NewVerifier` / `note.NewSigner`):
//! - verifier key `<name>+<8 hex digits of key id>+<base64(type || 32-byte public key)>`;
//! - signer key `PRIVATE+KEY+<name>+<8 hex digits of key id>+<base64(type || 32-byte seed)>`.
//!
//! Verification follows the spec's rules: signatures from unknown keys (name and id not both
//! matching a known key) are ignored; a known key's signature that fails refuses the whole note; a
//! note with no verified signature from a known key is refused.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::error::TlogError;

/// Signature type byte of Ed25519 note signatures (C2SP signed-note, "Signature types").
pub const KEY_TYPE_ED25519: u8 = 0x01;
/// Signature type byte of timestamped Ed25519 witness cosignatures (c2sp.org/tlog-cosignature).
pub const KEY_TYPE_COSIGNATURE_V1: u8 = 0x04;

/// Most bytes of a signed note this crate parses. A checkpoint with a hundred cosignatures is
/// about 12 KiB.
pub const NOTE_BYTES_MAX: usize = 64 * 1024;
/// Most signature lines a note may carry (Go's `note.Open` refuses more than 100; the spec asks
/// verifiers to accept at least 16).
pub const NOTE_SIGNATURES_MAX: usize = 100;

/// The em dash and space that open a signature line.
const SIGNATURE_PREFIX: &str = "\u{2014} ";

/// The key id of a key: `SHA-256(name || 0x0A || key_type || public_key)[:4]`, big-endian
/// (C2SP signed-note, "Signatures").
pub fn key_id(name: &str, key_type: u8, public_key: &[u8]) -> u32 {
    let mut hasher = Sha256::new();
    hasher.update(name.as_bytes());
    hasher.update([0x0A, key_type]);
    hasher.update(public_key);
    let digest = hasher.finalize();
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// Whether `name` is a valid key name: non-empty, no Unicode space, no `+` (C2SP signed-note).
pub fn is_valid_key_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(|c| c.is_whitespace() || c == '+')
}

fn check_key_name(name: &str) -> Result<(), TlogError> {
    if is_valid_key_name(name) {
        Ok(())
    } else {
        Err(TlogError::InvalidKeyName(name.to_owned()))
    }
}

/// One signature line of a note, not yet verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    /// The key name.
    pub name: String,
    /// The key id (the first four bytes of the decoded signature).
    pub key_id: u32,
    /// The signature bytes after the key id (64 for Ed25519, 72 for a cosignature).
    pub signature: Vec<u8>,
}

impl NoteSignature {
    /// The signature line, `— <name> <base64(key id || signature)>` and a newline.
    pub fn to_line(&self) -> String {
        let mut bytes = Vec::with_capacity(4 + self.signature.len());
        bytes.extend_from_slice(&self.key_id.to_be_bytes());
        bytes.extend_from_slice(&self.signature);
        format!("{SIGNATURE_PREFIX}{} {}\n", self.name, STANDARD.encode(bytes))
    }

    /// Parses one signature line (without its newline).
    pub fn parse_line(line: &str) -> Result<NoteSignature, TlogError> {
        let rest = line
            .strip_prefix(SIGNATURE_PREFIX)
            .ok_or(TlogError::malformed("signature line", "does not start with an em dash and a space"))?;
        let (name, encoded) =
            rest.split_once(' ').ok_or(TlogError::malformed("signature line", "no space after the key name"))?;
        if !is_valid_key_name(name) {
            return Err(TlogError::malformed("signature line", "invalid key name"));
        }
        let bytes =
            STANDARD.decode(encoded).map_err(|_| TlogError::malformed("signature line", "signature is not base64"))?;
        let (id, signature) = bytes
            .split_first_chunk::<4>()
            .filter(|(_, signature)| !signature.is_empty())
            .ok_or(TlogError::malformed("signature line", "signature shorter than 5 bytes"))?;
        Ok(NoteSignature { name: name.to_owned(), key_id: u32::from_be_bytes(*id), signature: signature.to_vec() })
    }
}

/// A signed note split into its text and signature lines (C2SP signed-note, "Format").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The text, ending in a newline, without the blank line that separates the signatures.
    pub text: String,
    /// The signature lines, in order.
    pub signatures: Vec<NoteSignature>,
}

impl Note {
    /// Parses a signed note from untrusted text. Refuses (with `TlogError::Malformed` or
    /// `TlogError::TooLarge`) a note over [`NOTE_BYTES_MAX`] bytes or [`NOTE_SIGNATURES_MAX`]
    /// signatures, with a control character other than newline, without a blank line before the
    /// signatures, or with a malformed signature line. Verifies nothing: see [`Note::verify`].
    pub fn parse(message: &str) -> Result<Note, TlogError> {
        if message.len() > NOTE_BYTES_MAX {
            return Err(TlogError::TooLarge {
                what: "note bytes",
                found: message.len() as u64,
                max: NOTE_BYTES_MAX as u64,
            });
        }
        crate::error::lf_only("note", message)?;
        if message.chars().any(|c| c < ' ' && c != '\n') {
            return Err(TlogError::malformed("note", "holds a control character other than newline"));
        }
        // The text is separated from the signatures by the last empty line.
        let split = message.rfind("\n\n").ok_or(TlogError::malformed("note", "no blank line before the signatures"))?;
        let (text, signatures) = (&message[..split + 1], &message[split + 2..]);
        let Some(signatures) = signatures.strip_suffix('\n') else {
            return Err(TlogError::malformed("note", "no signature lines ending in a newline"));
        };
        let mut parsed = Vec::new();
        for line in signatures.split('\n') {
            if parsed.len() == NOTE_SIGNATURES_MAX {
                return Err(TlogError::TooLarge {
                    what: "note signatures",
                    found: NOTE_SIGNATURES_MAX as u64 + 1,
                    max: NOTE_SIGNATURES_MAX as u64,
                });
            }
            parsed.push(NoteSignature::parse_line(line)?);
        }
        Ok(Note { text: text.to_owned(), signatures: parsed })
    }

    /// The signed note as text: the text, a blank line, the signature lines.
    pub fn to_text(&self) -> String {
        let mut out = String::with_capacity(self.text.len() + 1 + 128 * self.signatures.len());
        out.push_str(&self.text);
        out.push('\n');
        for signature in &self.signatures {
            out.push_str(&signature.to_line());
        }
        out
    }

    /// Verifies the note against known keys (C2SP signed-note, "Signatures"): signatures whose
    /// name and key id do not both match a key in `known` are ignored; a known key's signature
    /// that fails refuses the note (`TlogError::BadSignature`), wherever its line is: every line
    /// of a known key is checked, a repeat included, so that the answer never depends on the
    /// order of the lines (Go's `note.Open` checks only a key's first line; this is stricter);
    /// with no verified signature the note is refused (`TlogError::NoKnownSignature`). Answers the
    /// verified signatures, one per key (the first line of each).
    pub fn verify(&self, known: &[NoteVerifier]) -> Result<Vec<VerifiedSignature>, TlogError> {
        let mut verified: Vec<VerifiedSignature> = Vec::new();
        for signature in &self.signatures {
            let Some(verifier) = known.iter().find(|key| key.name == signature.name && key.key_id == signature.key_id)
            else {
                continue;
            };
            let timestamp = verifier
                .verify(self.text.as_bytes(), &signature.signature)
                .ok_or_else(|| TlogError::BadSignature { name: signature.name.clone(), key_id: signature.key_id })?;
            if verified.iter().any(|seen| seen.name == signature.name && seen.key_id == signature.key_id) {
                continue;
            }
            verified.push(VerifiedSignature {
                name: signature.name.clone(),
                key_id: signature.key_id,
                key_type: verifier.key_type,
                timestamp,
            });
        }
        if verified.is_empty() {
            return Err(no_known_signature(&self.signatures, known));
        }
        Ok(verified)
    }
}

/// [`TlogError::NoKnownSignature`], naming the note's signers and the keys known (at most 8 of
/// each, then how many more).
pub fn no_known_signature(signatures: &[NoteSignature], known: &[NoteVerifier]) -> TlogError {
    fn list<'a>(keys: impl ExactSizeIterator<Item = (&'a str, u32)>, empty: &str) -> String {
        const NAMED_MAX: usize = 8;
        let count = keys.len();
        if count == 0 {
            return empty.to_owned();
        }
        let mut text: Vec<String> = keys.take(NAMED_MAX).map(|(name, id)| format!("{name}+{id:08x}")).collect();
        if count > NAMED_MAX {
            text.push(format!("{} more", count - NAMED_MAX));
        }
        text.join(", ")
    }
    TlogError::NoKnownSignature {
        signed_as: list(signatures.iter().map(|s| (s.name.as_str(), s.key_id)), "no one"),
        known: list(known.iter().map(|k| (k.name.as_str(), k.key_id)), "none"),
    }
}

/// A signature [`Note::verify`] checked against a known key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedSignature {
    /// The key name.
    pub name: String,
    /// The key id.
    pub key_id: u32,
    /// The key's signature type ([`KEY_TYPE_ED25519`] or [`KEY_TYPE_COSIGNATURE_V1`]).
    pub key_type: u8,
    /// A cosignature's timestamp, seconds since the Unix epoch; `None` for a plain signature.
    pub timestamp: Option<u64>,
}

/// A public key that verifies note signatures: an Ed25519 note key (type 0x01) or an Ed25519
/// witness cosigner key (type 0x04, c2sp.org/tlog-cosignature).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    key_id: u32,
    key_type: u8,
    key: VerifyingKey,
}

impl NoteVerifier {
    /// A verifier for `name`'s Ed25519 `key` of signature type `key_type`
    /// ([`KEY_TYPE_ED25519`] or [`KEY_TYPE_COSIGNATURE_V1`]).
    pub fn new(name: &str, key_type: u8, key: VerifyingKey) -> Result<NoteVerifier, TlogError> {
        check_key_name(name)?;
        if key_type != KEY_TYPE_ED25519 && key_type != KEY_TYPE_COSIGNATURE_V1 {
            return Err(TlogError::malformed("verifier key", "unknown signature type"));
        }
        let key_id = key_id(name, key_type, key.as_bytes());
        Ok(NoteVerifier { name: name.to_owned(), key_id, key_type, key })
    }

    /// Parses a verifier key string `<name>+<hex8 key id>+<base64(type || public key)>` (Go's
    /// `note.NewVerifier`), checking that the key id is the one the name and key give.
    pub fn from_verifier_key(text: &str) -> Result<NoteVerifier, TlogError> {
        const WHAT: &str = "verifier key";
        if text.len() > 1024 {
            return Err(TlogError::TooLarge { what: "verifier key bytes", found: text.len() as u64, max: 1024 });
        }
        if is_signer_key(text) {
            return Err(TlogError::malformed(
                WHAT,
                "this is a private signing key (PRIVATE+KEY+...), which must stay secret: give the verifier key \
                 (name+keyid+base64) made from it",
            ));
        }
        let (name, rest) = text.split_once('+').ok_or(TlogError::malformed(WHAT, "no '+' after the name"))?;
        let (id_hex, key_base64) = rest.split_once('+').ok_or(TlogError::malformed(WHAT, "no '+' after the key id"))?;
        check_key_name(name)?;
        let id = parse_key_id(id_hex).ok_or(TlogError::malformed(WHAT, "key id is not 8 hex digits"))?;
        let bytes = STANDARD.decode(key_base64).map_err(|_| TlogError::malformed(WHAT, "key is not base64"))?;
        let (&key_type, public) = bytes.split_first().ok_or(TlogError::malformed(WHAT, "empty key"))?;
        let public: [u8; 32] =
            public.try_into().map_err(|_| TlogError::malformed(WHAT, "Ed25519 public key is not 32 bytes"))?;
        let key = VerifyingKey::from_bytes(&public).map_err(|_| TlogError::malformed(WHAT, "not an Ed25519 point"))?;
        let verifier = NoteVerifier::new(name, key_type, key)?;
        if verifier.key_id != id {
            return Err(TlogError::malformed(WHAT, "key id does not match the name and key"));
        }
        Ok(verifier)
    }

    /// The verifier key string `<name>+<hex8 key id>+<base64(type || public key)>`.
    pub fn verifier_key(&self) -> String {
        let mut bytes = vec![self.key_type];
        bytes.extend_from_slice(self.key.as_bytes());
        format!("{}+{:08x}+{}", self.name, self.key_id, STANDARD.encode(bytes))
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key id.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The signature type byte.
    pub fn key_type(&self) -> u8 {
        self.key_type
    }

    /// The Ed25519 public key.
    pub fn public_key(&self) -> &VerifyingKey {
        &self.key
    }

    /// Checks `signature` (the bytes after the key id) over the note text `text`. Answers `None`
    /// when it fails, `Some(None)` for a valid Ed25519 note signature, `Some(Some(timestamp))`
    /// for a valid cosignature (whose 8-byte big-endian timestamp leads the signature, and whose
    /// signed message is `cosignature/v1\ntime <timestamp>\n` followed by the text).
    pub fn verify(&self, text: &[u8], signature: &[u8]) -> Option<Option<u64>> {
        match self.key_type {
            KEY_TYPE_ED25519 => {
                let signature = Signature::from_slice(signature).ok()?;
                self.key.verify_strict(text, &signature).ok().map(|()| None)
            }
            KEY_TYPE_COSIGNATURE_V1 => {
                let (timestamp, signature) = signature.split_first_chunk::<8>()?;
                let timestamp = u64::from_be_bytes(*timestamp);
                if timestamp > i64::MAX as u64 {
                    return None;
                }
                let signature = Signature::from_slice(signature).ok()?;
                let message = crate::cosignature::cosigned_message(text, timestamp);
                self.key.verify_strict(&message, &signature).ok().map(|()| Some(timestamp))
            }
            _ => None,
        }
    }
}

/// Whether `text` starts as a signer key does (`PRIVATE+KEY+`, Go's `note.NewSigner` form, after
/// any leading whitespace): a secret, which a program given it by mistake (as a verifier key, a
/// bearer token, an import file) refuses by name and never shows nor sends.
pub fn is_signer_key(text: impl AsRef<[u8]>) -> bool {
    text.as_ref().trim_ascii_start().starts_with(b"PRIVATE+KEY+")
}

fn parse_key_id(hex: &str) -> Option<u32> {
    if hex.len() != 8 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(hex, 16).ok()
}

/// An Ed25519 private key with its name and signature type: what [`NoteSigner`] and
/// [`crate::Cosigner`] share.
#[derive(Clone)]
pub(crate) struct KeyPair {
    pub(crate) name: String,
    pub(crate) key_id: u32,
    pub(crate) key_type: u8,
    pub(crate) key: SigningKey,
}

impl KeyPair {
    pub(crate) fn from_seed(name: &str, key_type: u8, seed: [u8; 32]) -> Result<KeyPair, TlogError> {
        check_key_name(name)?;
        let key = SigningKey::from_bytes(&seed);
        let key_id = key_id(name, key_type, key.verifying_key().as_bytes());
        Ok(KeyPair { name: name.to_owned(), key_id, key_type, key })
    }

    pub(crate) fn generate(name: &str, key_type: u8) -> Result<KeyPair, TlogError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| TlogError::Random(e.to_string()))?;
        KeyPair::from_seed(name, key_type, seed)
    }

    /// Parses `PRIVATE+KEY+<name>+<hex8 key id>+<base64(type || seed)>` (Go's `note.NewSigner`).
    pub(crate) fn from_signer_key(text: &str, key_type: u8) -> Result<KeyPair, TlogError> {
        const WHAT: &str = "signer key";
        if text.len() > 1024 {
            return Err(TlogError::TooLarge { what: "signer key bytes", found: text.len() as u64, max: 1024 });
        }
        let rest =
            text.strip_prefix("PRIVATE+KEY+").ok_or(TlogError::malformed(WHAT, "does not start PRIVATE+KEY+"))?;
        let (name, rest) = rest.split_once('+').ok_or(TlogError::malformed(WHAT, "no '+' after the name"))?;
        let (id_hex, key_base64) = rest.split_once('+').ok_or(TlogError::malformed(WHAT, "no '+' after the key id"))?;
        check_key_name(name)?;
        let id = parse_key_id(id_hex).ok_or(TlogError::malformed(WHAT, "key id is not 8 hex digits"))?;
        let bytes = STANDARD.decode(key_base64).map_err(|_| TlogError::malformed(WHAT, "key is not base64"))?;
        let (&found_type, seed) = bytes.split_first().ok_or(TlogError::malformed(WHAT, "empty key"))?;
        if found_type != key_type {
            return Err(TlogError::malformed(WHAT, "wrong signature type for this kind of key"));
        }
        let seed: [u8; 32] = seed.try_into().map_err(|_| TlogError::malformed(WHAT, "Ed25519 seed is not 32 bytes"))?;
        let pair = KeyPair::from_seed(name, key_type, seed)?;
        if pair.key_id != id {
            return Err(TlogError::malformed(WHAT, "key id does not match the name and key"));
        }
        Ok(pair)
    }

    pub(crate) fn signer_key(&self) -> String {
        let mut bytes = vec![self.key_type];
        bytes.extend_from_slice(self.key.as_bytes());
        format!("PRIVATE+KEY+{}+{:08x}+{}", self.name, self.key_id, STANDARD.encode(bytes))
    }

    pub(crate) fn verifier(&self) -> NoteVerifier {
        NoteVerifier {
            name: self.name.clone(),
            key_id: self.key_id,
            key_type: self.key_type,
            key: self.key.verifying_key(),
        }
    }

    pub(crate) fn sign_bytes(&self, message: &[u8]) -> [u8; 64] {
        self.key.sign(message).to_bytes()
    }
}

/// An Ed25519 note signing key (signature type 0x01): a log's checkpoint key.
#[derive(Clone)]
pub struct NoteSigner {
    pair: KeyPair,
}

impl std::fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The private key never reaches a log line.
        write!(f, "NoteSigner({})", self.verifier_key())
    }
}

impl NoteSigner {
    /// A new key named `name` from the operating system's random generator.
    pub fn generate(name: &str) -> Result<NoteSigner, TlogError> {
        Ok(NoteSigner { pair: KeyPair::generate(name, KEY_TYPE_ED25519)? })
    }

    /// The key named `name` with the RFC 8032 32-byte private key (seed) `seed`.
    pub fn from_seed(name: &str, seed: [u8; 32]) -> Result<NoteSigner, TlogError> {
        Ok(NoteSigner { pair: KeyPair::from_seed(name, KEY_TYPE_ED25519, seed)? })
    }

    /// Parses a signer key `PRIVATE+KEY+<name>+<hex8 key id>+<base64(0x01 || seed)>` (Go's
    /// `note.NewSigner`), checking its key id.
    pub fn from_signer_key(text: &str) -> Result<NoteSigner, TlogError> {
        Ok(NoteSigner { pair: KeyPair::from_signer_key(text, KEY_TYPE_ED25519)? })
    }

    /// The signer key string; it holds the private key, so keep it secret.
    pub fn signer_key(&self) -> String {
        self.pair.signer_key()
    }

    /// The verifier key string `<name>+<hex8 key id>+<base64(0x01 || public key)>`.
    pub fn verifier_key(&self) -> String {
        self.verifier().verifier_key()
    }

    /// The matching verifier.
    pub fn verifier(&self) -> NoteVerifier {
        self.pair.verifier()
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.pair.name
    }

    /// The key id.
    pub fn key_id(&self) -> u32 {
        self.pair.key_id
    }

    /// Signs the note text `text` (which must end in a newline).
    pub fn sign(&self, text: &str) -> Result<NoteSignature, TlogError> {
        check_note_text(text)?;
        Ok(NoteSignature {
            name: self.pair.name.clone(),
            key_id: self.pair.key_id,
            signature: self.pair.sign_bytes(text.as_bytes()).to_vec(),
        })
    }

    /// Signs `text` and answers the signed note with this one signature.
    pub fn sign_note(&self, text: &str) -> Result<Note, TlogError> {
        let signature = self.sign(text)?;
        Ok(Note { text: text.to_owned(), signatures: vec![signature] })
    }
}

/// Checks that `text` can be a note's text: ends in a newline, holds no blank line at its end, no
/// control character other than newline, and fits in a note.
pub(crate) fn check_note_text(text: &str) -> Result<(), TlogError> {
    if !text.ends_with('\n') {
        return Err(TlogError::malformed("note text", "does not end in a newline"));
    }
    if text.len() > NOTE_BYTES_MAX {
        return Err(TlogError::TooLarge { what: "note bytes", found: text.len() as u64, max: NOTE_BYTES_MAX as u64 });
    }
    if text.chars().any(|c| c < ' ' && c != '\n') {
        return Err(TlogError::malformed("note text", "holds a control character other than newline"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    // The example of Go's golang.org/x/mod/sumdb/note package documentation.
    const GO_SIGNER: &str = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const GO_VERIFIER: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const GO_TEXT: &str =
        "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
    const GO_NOTE: &str = "If you think cryptography is the answer to your problem,\n\
        then you don't know what your problem is.\n\
        \n\
        \u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

    #[test]
    fn go_known_answer() {
        let signer = NoteSigner::from_signer_key(GO_SIGNER).unwrap();
        assert_eq!(signer.verifier_key(), GO_VERIFIER);
        assert_eq!(signer.signer_key(), GO_SIGNER);
        // Ed25519 is deterministic: the same key signs the same text into the same bytes.
        assert_eq!(signer.sign_note(GO_TEXT).unwrap().to_text(), GO_NOTE);
        let verifier = NoteVerifier::from_verifier_key(GO_VERIFIER).unwrap();
        let note = Note::parse(GO_NOTE).unwrap();
        assert_eq!(note.text, GO_TEXT);
        let verified = note.verify(&[verifier]).unwrap();
        assert_eq!(verified.len(), 1);
        assert_eq!(verified[0].key_id, 0xc74f20a3);
    }

    #[test]
    fn spec_rules_for_unknown_and_bad_signatures() {
        let known = NoteSigner::from_seed("log.example/a", [1; 32]).unwrap();
        let other = NoteSigner::from_seed("log.example/b", [2; 32]).unwrap();
        let text = "hello\n";
        let mut note = known.sign_note(text).unwrap();
        note.signatures.push(other.sign(text).unwrap());
        // An unknown key's signature is ignored.
        assert!(note.verify(&[known.verifier()]).is_ok());
        // Only unknown keys: refused.
        assert!(matches!(note.verify(&[]), Err(TlogError::NoKnownSignature { .. })));
        // A known key's signature that fails refuses the note.
        let mut forged = note.clone();
        forged.text = "hullo\n".to_owned();
        assert!(matches!(forged.verify(&[known.verifier()]), Err(TlogError::BadSignature { .. })));
        // Same name, another key: its id differs, so it is an unknown key (ignored) and nothing verifies.
        let impostor = NoteSigner::from_seed("log.example/a", [3; 32]).unwrap();
        let by_impostor = impostor.sign_note(text).unwrap();
        let refused = by_impostor.verify(&[known.verifier()]).expect_err("no known signature").to_string();
        // it names who signed and the key it was checked against
        let (impostor_at, known_at) = (by_impostor.signatures[0].key_id, known.verifier().key_id());
        assert!(
            refused.contains(&format!("signed as {}+{impostor_at:08x}", by_impostor.signatures[0].name)),
            "{refused}"
        );
        assert!(
            refused.contains(&format!("the keys known are {}+{known_at:08x}", known.verifier().name())),
            "{refused}"
        );
        // A known key's bad line refuses the note before or after a good line of the same key.
        let good = known.sign(text).unwrap();
        let mut bad = good.clone();
        bad.signature[10] ^= 1;
        for lines in [vec![good.clone(), bad.clone()], vec![bad.clone(), good.clone()]] {
            let twice = Note { text: text.to_owned(), signatures: lines };
            assert!(matches!(twice.verify(&[known.verifier()]), Err(TlogError::BadSignature { .. })));
        }
        // Two good lines of one key count once.
        let repeated = Note { text: text.to_owned(), signatures: vec![good.clone(), good] };
        assert_eq!(repeated.verify(&[known.verifier()]).unwrap().len(), 1);
    }

    #[test]
    fn malformed_notes_are_refused() {
        for bad in [
            "",
            "no newline",
            "text\n",
            "text\n\n",
            "text\n\n\u{2014} name\n",
            "text\n\n\u{2014} name AAAA\n",
            "text\n\n- name AAAAAAAA\n",
            "text\n\n\u{2014} na+me AAAAAAAA\n",
            "te\txt\n\n\u{2014} name AAAAAAAA\n",
            "text\n\n\u{2014} name AAAAAAAA",
            "text\n\n\u{2014} name !!!!\n",
        ] {
            assert!(Note::parse(bad).is_err(), "{bad:?}");
        }
        let many = format!("text\n\n{}", "\u{2014} name AAAAAAAA\n".repeat(NOTE_SIGNATURES_MAX + 1));
        assert!(matches!(Note::parse(&many), Err(TlogError::TooLarge { .. })));
        let huge = "a".repeat(NOTE_BYTES_MAX + 1);
        assert!(matches!(Note::parse(&huge), Err(TlogError::TooLarge { .. })));
        // The text may hold blank lines: the last one separates the signatures.
        let signer = NoteSigner::from_seed("n", [9; 32]).unwrap();
        let note = signer.sign_note("a\n\nb\n").unwrap();
        let parsed = Note::parse(&note.to_text()).unwrap();
        assert_eq!(parsed.text, "a\n\nb\n");
        assert!(parsed.verify(&[signer.verifier()]).is_ok());
    }

    #[test]
    fn key_strings_are_checked() {
        assert!(NoteVerifier::from_verifier_key("PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")
            .is_err());
        assert!(NoteVerifier::from_verifier_key("PeterNeumann+c74f20a3").is_err());
        assert!(NoteVerifier::from_verifier_key("Peter Neumann+c74f20a3+ARpc").is_err());
        assert!(NoteVerifier::from_verifier_key("+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW").is_err());
        assert!(NoteSigner::from_signer_key("PRIVATE+KEY+PeterNeumann+c74f20a3+AYEK").is_err());
        assert!(NoteSigner::from_signer_key(GO_VERIFIER).is_err());
        // a signing key given where a verifier key goes is named as such, its secret never shown
        let said = NoteVerifier::from_verifier_key(GO_SIGNER).expect_err("a signing key").to_string();
        assert!(said.contains("private signing key") && !said.contains("AYEK"), "{said}");
        assert!(NoteSigner::from_seed("a b", [0; 32]).is_err());
        let generated = NoteSigner::generate("example.org/log").unwrap();
        let again = NoteSigner::from_signer_key(&generated.signer_key()).unwrap();
        assert_eq!(again.verifier_key(), generated.verifier_key());
    }
}
