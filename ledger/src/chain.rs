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
    CommitHasher::new().hash(prev, number, record_hashes)
}

/// Computes commit hashes with one reused hasher (a fresh blake3 hasher costs more than a short input).
pub struct CommitHasher(blake3::Hasher);

impl CommitHasher {
    /// A plain blake3 hasher.
    pub fn new() -> CommitHasher {
        CommitHasher(blake3::Hasher::new())
    }

    /// The hash of commit `number` holding records with `record_hashes`, chained to `prev`.
    pub fn hash<'a>(&mut self, prev: &Hash, number: u64, record_hashes: impl IntoIterator<Item = &'a Hash>) -> Hash {
        self.start(prev, number);
        for r in record_hashes {
            self.add(r);
        }
        self.finish()
    }

    /// Starts commit `number` chained to `prev` (what [`CommitHasher::hash`] does in steps).
    pub fn start(&mut self, prev: &Hash, number: u64) {
        self.0.reset();
        self.0.update(prev);
        self.0.update(&number.to_be_bytes());
    }

    /// Adds the next record hash of the commit.
    pub fn add(&mut self, record: &Hash) {
        self.0.update(record);
    }

    /// The commit hash.
    pub fn finish(&mut self) -> Hash {
        *self.0.finalize().as_bytes()
    }
}

impl Default for CommitHasher {
    fn default() -> Self {
        CommitHasher::new()
    }
}

/// Serde form of a hash in stored values: bincode bytes (a varint length, 32, then the 32 bytes),
/// which decode in one copy rather than byte by byte.
pub mod hash_bytes {
    use serde::{Deserializer, Serializer};

    use super::Hash;

    /// Encodes a hash as a byte string.
    pub fn serialize<S: Serializer>(hash: &Hash, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(hash)
    }

    /// Decodes a byte string of exactly 32 bytes.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Hash, D::Error> {
        d.deserialize_bytes(HashVisitor)
    }

    struct HashVisitor;

    impl serde::de::Visitor<'_> for HashVisitor {
        type Value = Hash;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("32 bytes")
        }

        fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Hash, E> {
            Hash::try_from(v).map_err(|_| E::invalid_length(v.len(), &self))
        }
    }
}
