//! Fiscus's transparency log, by the standards of the transparency-log ecosystem:
//!
//! - [`hash`]: RFC 6962 hashing (SHA-256, leaf prefix 0x00, node prefix 0x01);
//! - [`tree`]: the incremental Merkle tree over stored subtree hashes (the storage order of Go's
//!   `golang.org/x/mod/sumdb/tlog`), roots, inclusion and consistency proofs of any size;
//! - [`dense`]: a Merkle tree of changeable leaves with the RFC 6962 shape (a map by fixed index);
//! - [`proof`]: verification of both proofs, as RFC 9162 sections 2.1.3.2 and 2.1.4.2 write it;
//! - [`note`]: C2SP `signed-note` with Ed25519 keys and Go's key strings;
//! - [`checkpoint`]: C2SP `tlog-checkpoint` bodies and their opening;
//! - [`cosignature`]: C2SP `tlog-cosignature` (`cosignature/v1`, Ed25519, type 0x04);
//! - [`tlog_proof`]: C2SP `tlog-proof`, the offline proof of an entry;
//! - [`witness`]: a C2SP `tlog-witness` as a library (state per origin, the spec's refusals);
//! - [`policy`]: C2SP `tlog-policy`, which logs and how many witnesses (k of n) a client requires.
//!
//! Architecture invariant: no I/O and no runtime. This crate knows nothing of sled, tokio or
//! tonic; a store implements [`tree::HashReader`], a server wraps [`witness::Witness`]. Every
//! parser takes untrusted text, bounds what it reads and answers a [`TlogError`]; none panics.

pub mod checkpoint;
pub mod cosignature;
pub mod dense;
mod error;
pub mod hash;
pub mod note;
pub mod policy;
pub mod proof;
pub mod tlog_proof;
pub mod tree;
pub mod witness;

pub use checkpoint::{open_checkpoint, Checkpoint, OpenedCheckpoint};
pub use cosignature::Cosigner;
pub use error::{TlogError, BYTE_ORDER_MARK, CRLF_LINE_ENDINGS, CR_LINE_ENDINGS};
pub use hash::{empty_root, leaf_hash, merkle_root, node_hash, Hash, HASH_BYTES};
pub use note::{is_signer_key, Note, NoteSignature, NoteSigner, NoteVerifier, VerifiedSignature};
pub use policy::{Policy, PolicyCheckpoint, PolicyError};
pub use proof::{verify_consistency, verify_inclusion};
pub use tlog_proof::TlogProof;
pub use tree::{HashReader, MemoryTree};
pub use witness::{AddCheckpoint, Witness, WitnessError};
