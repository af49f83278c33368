//! The ledger's transparency log (format 1, `docs/FORMAT.md`, "The log"): one RFC 6962 leaf per
//! commit, binding the commit number, the commit-chain hash and the root of the project-heads map
//! after that commit, so that a project proves its **latest** head with two inclusion proofs and
//! nothing else about any other project.
//!
//! - The **project-heads map** after commit `c` is an RFC 6962 tree (SHA-256) with one leaf per
//!   chain that has a record in commits `1..=c`, at a fixed index: chains are numbered from 0 in the
//!   order their first record appears in the commit log (commit order, then record order). Leaf
//!   data: `0x01 ‖ u8 length of the chain id ‖ chain id ‖ head seq u64 BE ‖ head record hash (32)`.
//!   A proof for one chain carries only sibling hashes: no other chain's id, seq or amounts.
//! - The **log leaf** of commit `c` (leaf index `c - 1`) is 81 bytes: `0x01 ‖ c u64 BE ‖ commit
//!   hash (32) ‖ map size u64 BE ‖ map root (32)`.
//! - A **checkpoint** of size `n` (C2SP tlog-checkpoint, `fiscus_tlog::Checkpoint`) commits to
//!   commits `1..=n`; the latest head of a chain at that checkpoint is proven by the inclusion of
//!   log leaf `n - 1` (the last) and, under its map root, of the chain's map leaf ([`HeadProof`]).
//!
//! Everything here is computed from commit entries alone ([`CommitEntry`]), which are served raw:
//! an auditor rebuilds the log from them in any language.

use std::collections::HashMap;

use fiscus_tlog::dense::DenseTree;
use fiscus_tlog::tree::HashReader;
use fiscus_tlog::{leaf_hash, verify_inclusion, Checkpoint, MemoryTree, TlogError};

use crate::chain::Hash;
use crate::record::CommitEntry;

/// Format byte leading every log leaf and map leaf of this layout.
pub const LOG_FORMAT: u8 = 1;

/// Bytes of a log leaf: format, commit number, commit hash, map size, map root.
pub const LOG_LEAF_BYTES: usize = 1 + 8 + 32 + 8 + 32;

/// Why a log operation or a head proof failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    /// A commit entry out of order: the log takes commit `expected` next.
    #[error("commit {found} appended to the log after commit {}; the next is {expected}", expected - 1)]
    OutOfOrder {
        /// The commit number the log takes next.
        expected: u64,
        /// The commit number given.
        found: u64,
    },
    /// A chain id longer than 255 bytes (ids are at most 40; a map leaf stores the length in a byte).
    #[error("chain id of {0} bytes does not fit a map leaf")]
    ChainIdTooLong(usize),
    /// Bytes that are not a log leaf.
    #[error("malformed log leaf: {0}")]
    MalformedLeaf(&'static str),
    /// A head proof for another chain than the one asked about.
    #[error("head proof is for chain {found:?}, not {expected:?}")]
    WrongChain {
        /// The chain the caller checks.
        expected: String,
        /// The chain the proof names.
        found: String,
    },
    /// A head proof whose log leaf is not the checkpoint's last: it does not prove the latest head.
    #[error("head proof is at commit {leaf_commit}, the checkpoint's last commit is {checkpoint_size}")]
    NotLatest {
        /// The commit of the proof's log leaf.
        leaf_commit: u64,
        /// The checkpoint's tree size.
        checkpoint_size: u64,
    },
    /// An inclusion proof (of the log leaf or of the map leaf) that does not verify.
    #[error("{0}")]
    Proof(#[from] TlogError),
}

/// The data of a chain's map leaf: `0x01 ‖ u8 len ‖ id ‖ seq u64 BE ‖ record hash`.
pub fn map_leaf_data(chain: &str, seq: u64, hash: &Hash) -> Result<Vec<u8>, LogError> {
    let len = u8::try_from(chain.len()).map_err(|_| LogError::ChainIdTooLong(chain.len()))?;
    let mut data = Vec::with_capacity(2 + chain.len() + 8 + 32);
    data.push(LOG_FORMAT);
    data.push(len);
    data.extend_from_slice(chain.as_bytes());
    data.extend_from_slice(&seq.to_be_bytes());
    data.extend_from_slice(hash);
    Ok(data)
}

/// The log leaf of one commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogLeaf {
    /// The commit number (the leaf's index is `commit - 1`).
    pub commit: u64,
    /// The commit-chain hash of that commit.
    pub commit_hash: Hash,
    /// Chains in the project-heads map after the commit.
    pub map_size: u64,
    /// The map's RFC 6962 root after the commit.
    pub map_root: fiscus_tlog::Hash,
}

impl LogLeaf {
    /// The leaf's 81 bytes.
    pub fn to_bytes(&self) -> [u8; LOG_LEAF_BYTES] {
        let mut out = [0u8; LOG_LEAF_BYTES];
        out[0] = LOG_FORMAT;
        out[1..9].copy_from_slice(&self.commit.to_be_bytes());
        out[9..41].copy_from_slice(&self.commit_hash);
        out[41..49].copy_from_slice(&self.map_size.to_be_bytes());
        out[49..81].copy_from_slice(&self.map_root.0);
        out
    }

    /// Parses a log leaf from untrusted bytes.
    pub fn parse(bytes: &[u8]) -> Result<LogLeaf, LogError> {
        let bytes: &[u8; LOG_LEAF_BYTES] =
            bytes.try_into().map_err(|_| LogError::MalformedLeaf("a log leaf is 81 bytes"))?;
        let (format, rest) = bytes.split_first().ok_or(LogError::MalformedLeaf("empty"))?;
        if *format != LOG_FORMAT {
            return Err(LogError::MalformedLeaf("unknown format byte"));
        }
        let (commit, rest) = rest.split_first_chunk::<8>().ok_or(LogError::MalformedLeaf("short"))?;
        let (commit_hash, rest) = rest.split_first_chunk::<32>().ok_or(LogError::MalformedLeaf("short"))?;
        let (map_size, rest) = rest.split_first_chunk::<8>().ok_or(LogError::MalformedLeaf("short"))?;
        let map_root: [u8; 32] = rest.try_into().map_err(|_| LogError::MalformedLeaf("short"))?;
        Ok(LogLeaf {
            commit: u64::from_be_bytes(*commit),
            commit_hash: *commit_hash,
            map_size: u64::from_be_bytes(*map_size),
            map_root: fiscus_tlog::Hash(map_root),
        })
    }

    /// Its RFC 6962 leaf hash, `SHA-256(0x00 ‖ bytes)`.
    pub fn leaf_hash(&self) -> fiscus_tlog::Hash {
        leaf_hash(&self.to_bytes())
    }
}

/// A chain's proof of its latest head under a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadProof {
    /// The chain.
    pub chain: String,
    /// Its head seq.
    pub seq: u64,
    /// Its head record's hash.
    pub hash: Hash,
    /// The chain's fixed index in the map.
    pub map_index: u64,
    /// The inclusion proof of the chain's map leaf in the map of `leaf.map_size` leaves.
    pub map_proof: Vec<fiscus_tlog::Hash>,
    /// The log leaf of the checkpoint's last commit.
    pub leaf: LogLeaf,
    /// The inclusion proof of that leaf (index `leaf.commit - 1`) in the checkpoint's tree.
    pub log_proof: Vec<fiscus_tlog::Hash>,
}

impl HeadProof {
    /// Checks that this proves `chain`'s latest head at `checkpoint` (whose signature the caller
    /// has verified against a pinned key): the log leaf is the checkpoint's last, it is in the
    /// checkpoint's tree, and the chain's map leaf `(chain, seq, hash)` is under its map root.
    /// Answers the proven `(seq, hash)`.
    pub fn verify(&self, chain: &str, checkpoint: &Checkpoint) -> Result<(u64, Hash), LogError> {
        if self.chain != chain {
            return Err(LogError::WrongChain { expected: chain.to_owned(), found: self.chain.clone() });
        }
        if self.leaf.commit != checkpoint.size || checkpoint.size == 0 {
            return Err(LogError::NotLatest { leaf_commit: self.leaf.commit, checkpoint_size: checkpoint.size });
        }
        verify_inclusion(
            &self.leaf.leaf_hash(),
            checkpoint.size - 1,
            checkpoint.size,
            &self.log_proof,
            &checkpoint.root,
        )?;
        let map_leaf = leaf_hash(&map_leaf_data(chain, self.seq, &self.hash)?);
        verify_inclusion(&map_leaf, self.map_index, self.leaf.map_size, &self.map_proof, &self.leaf.map_root)?;
        Ok((self.seq, self.hash))
    }
}

/// The log, rebuilt or grown from commit entries in order: the project-heads map and the tree of
/// log leaves, in memory.
#[derive(Debug, Clone, Default)]
pub struct LedgerLog {
    map: DenseTree,
    index: HashMap<String, u64>,
    heads: Vec<(String, u64, Hash)>,
    tree: MemoryTree,
    last: Option<LogLeaf>,
}

impl LedgerLog {
    /// The log of no commit.
    pub fn new() -> LedgerLog {
        LedgerLog::default()
    }

    /// Commits in the log (its tree size).
    pub fn size(&self) -> u64 {
        self.tree.size()
    }

    /// The log's RFC 6962 root.
    pub fn root(&self) -> fiscus_tlog::Hash {
        self.tree.root()
    }

    /// The last commit's log leaf.
    pub fn last_leaf(&self) -> Option<LogLeaf> {
        self.last
    }

    /// The stored hashes of the log's tree (to serve proofs of any size).
    pub fn tree(&self) -> &MemoryTree {
        &self.tree
    }

    /// Appends the next commit: updates the map with its records' heads, then appends its leaf.
    pub fn append(&mut self, entry: &CommitEntry) -> Result<LogLeaf, LogError> {
        let expected = self.tree.size() + 1;
        if entry.number != expected {
            return Err(LogError::OutOfOrder { expected, found: entry.number });
        }
        for record in &entry.records {
            let data = map_leaf_data(&record.project, record.seq, &record.hash)?;
            let leaf = leaf_hash(&data);
            match self.index.get(record.project.as_str()) {
                Some(&at) => {
                    let changed = self.map.set(at, leaf);
                    debug_assert!(changed, "an indexed chain has a map leaf");
                    if let Some(head) = usize::try_from(at).ok().and_then(|i| self.heads.get_mut(i)) {
                        head.1 = record.seq;
                        head.2 = record.hash;
                    }
                }
                None => {
                    let at = self.map.push(leaf);
                    self.index.insert(record.project.clone(), at);
                    self.heads.push((record.project.clone(), record.seq, record.hash));
                }
            }
        }
        let leaf = LogLeaf {
            commit: entry.number,
            commit_hash: entry.hash,
            map_size: self.map.len(),
            map_root: self.map.root(),
        };
        self.tree.append(leaf.leaf_hash());
        self.last = Some(leaf);
        Ok(leaf)
    }

    /// The proof of `chain`'s latest head at the log's current size; `None` for a chain with no
    /// record.
    pub fn head_proof(&self, chain: &str) -> Option<HeadProof> {
        let map_index = *self.index.get(chain)?;
        let (_, seq, hash) = self.heads.get(usize::try_from(map_index).ok()?)?.clone();
        let leaf = self.last?;
        let size = self.tree.size();
        Some(HeadProof {
            chain: chain.to_owned(),
            seq,
            hash,
            map_index,
            map_proof: self.map.inclusion_proof(map_index)?,
            leaf,
            log_proof: self.tree.inclusion_proof(size - 1, size).ok()?,
        })
    }

    /// The consistency proof between two sizes of the log.
    pub fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<fiscus_tlog::Hash>, TlogError> {
        self.tree.consistency_proof(old, new)
    }

    /// The root of the log at an earlier size.
    pub fn root_at(&self, size: u64) -> Result<fiscus_tlog::Hash, TlogError> {
        fiscus_tlog::tree::tree_root(size, &self.tree as &dyn HashReader)
    }
}
