//! Hashing rules of the two chains: each project's record chain and the global commit chain.
//!
//! - genesis of a project chain: `blake3::derive_key("fiscus genesis v1", project id bytes)`;
//! - record hash: blake3 in derive-key mode, context `"fiscus record v1"`, over the stored bytes;
//! - commit hash: `blake3(prev_commit_hash ‖ commit number as u64 big-endian ‖ record hashes in order)`,
//!   the first commit's `prev_commit_hash` being 32 zero bytes ([`COMMIT_GENESIS`]).

use crate::ids::ProjectId;

/// A blake3 hash.
pub type Hash = [u8; 32];

/// Context string of record hashes.
pub const RECORD_CONTEXT: &str = "fiscus record v1";
/// Context string of project genesis hashes.
pub const GENESIS_CONTEXT: &str = "fiscus genesis v1";
/// The `prev` of the first commit.
pub const COMMIT_GENESIS: Hash = [0; 32];

/// The `prev` of a project's first record.
pub fn genesis_hash(project: &ProjectId) -> Hash {
    blake3::derive_key(GENESIS_CONTEXT, project.as_str().as_bytes())
}

/// Hashes stored record bytes; reuses one keyed hasher, which matters when replaying millions.
pub struct RecordHasher(blake3::Hasher);

impl RecordHasher {
    /// A hasher in derive-key mode with [`RECORD_CONTEXT`].
    pub fn new() -> RecordHasher {
        RecordHasher(blake3::Hasher::new_derive_key(RECORD_CONTEXT))
    }

    /// The hash of one record's stored bytes.
    pub fn hash(&mut self, stored: &[u8]) -> Hash {
        self.0.update(stored);
        let out = *self.0.finalize().as_bytes();
        self.0.reset();
        out
    }
}

impl Default for RecordHasher {
    fn default() -> Self {
        RecordHasher::new()
    }
}

/// The hash of one record's stored bytes.
pub fn record_hash(stored: &[u8]) -> Hash {
    RecordHasher::new().hash(stored)
}

/// The hash of commit `number` holding records with `record_hashes`, chained to `prev`.
pub fn commit_hash<'a>(prev: &Hash, number: u64, record_hashes: impl IntoIterator<Item = &'a Hash>) -> Hash {
    let mut h = blake3::Hasher::new();
    h.update(prev);
    h.update(&number.to_be_bytes());
    for r in record_hashes {
        h.update(r);
    }
    *h.finalize().as_bytes()
}
