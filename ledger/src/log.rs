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

use std::collections::BTreeMap;
use std::sync::Arc;

use fiscus_tlog::tree::HashReader;
use fiscus_tlog::{leaf_hash, verify_inclusion, Checkpoint, MemoryTree, TlogError};

use crate::chain::Hash;
use crate::persistent::{IdTrie, PathTree};
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
    /// A receipt that does not hold together (a record's bytes, the tlog-proof's index).
    #[error("receipt: {0}")]
    Receipt(String),
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

/// The project-heads map: each chain's latest `(seq, record hash)` at a fixed index (the order in
/// which chains first appear in the commit log), as an RFC 6962 tree of map leaves.
///
/// Persistent ([`crate::persistent`]): a clone costs `O(1)` and shares every node, and a change
/// copies one path (`O(log n)`), so the writer publishes the map after each commit group without
/// copying it, whatever the number of chains.
#[derive(Debug, Clone, Default)]
pub struct HeadsMap {
    map: PathTree<MapHead>,
    index: IdTrie,
}

/// A chain's head as its map leaf holds it.
#[derive(Debug, Clone)]
struct MapHead {
    chain: Arc<str>,
    seq: u64,
    hash: Hash,
}

impl HeadsMap {
    /// The map of no chain.
    pub fn new() -> HeadsMap {
        HeadsMap::default()
    }

    /// Chains in the map.
    pub fn len(&self) -> u64 {
        self.map.len()
    }

    /// True when no chain has a record yet.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The map's RFC 6962 root.
    pub fn root(&self) -> fiscus_tlog::Hash {
        self.map.root()
    }

    /// A chain's fixed index, when it has a record.
    pub fn index_of(&self, chain: &str) -> Option<u64> {
        self.index.get(chain)
    }

    /// Every chain with its index, in index order.
    pub fn chains(&self) -> impl Iterator<Item = (u64, &str)> {
        self.map.values().into_iter().enumerate().map(|(i, head)| (i as u64, &*head.chain))
    }

    /// Sets `chain`'s head; answers `Some(index)` when the chain is new to the map (it gets the
    /// next index).
    pub fn set(&mut self, chain: &str, seq: u64, hash: &Hash) -> Result<Option<u64>, LogError> {
        let leaf = leaf_hash(&map_leaf_data(chain, seq, hash)?);
        match self.index.get(chain) {
            Some(at) => {
                let name = self.map.get(at).map(|(_, head)| head.chain.clone());
                let changed = name.is_some_and(|chain| self.map.set(at, leaf, MapHead { chain, seq, hash: *hash }));
                debug_assert!(changed, "an indexed chain has a map leaf");
                Ok(None)
            }
            None => {
                let at = self.map.push(leaf, MapHead { chain: Arc::from(chain), seq, hash: *hash });
                self.index.insert(chain, at);
                Ok(Some(at))
            }
        }
    }

    /// `chain`'s head, its index and the inclusion proof of its map leaf; `None` for a chain with
    /// no record.
    pub fn proof(&self, chain: &str) -> Option<(u64, u64, Hash, Vec<fiscus_tlog::Hash>)> {
        let map_index = self.index.get(chain)?;
        let (_, head) = self.map.get(map_index)?;
        Some((map_index, head.seq, head.hash, self.map.inclusion_proof(map_index)?))
    }

    /// Folds one commit's records in and answers the commit's log leaf, and the chains the commit
    /// added to the map (with their indexes).
    pub fn apply(&mut self, entry: &CommitEntry) -> Result<(LogLeaf, Vec<(String, u64)>), LogError> {
        self.apply_parts(entry.number, entry.hash, entry.records.iter().map(|r| (r.project.as_str(), r.seq, &r.hash)))
    }

    /// [`HeadsMap::apply`] of the commit numbered `number`, with commit-chain hash `hash` and
    /// `records` as `(chain, seq, record hash)` in commit order.
    pub fn apply_parts<'r>(
        &mut self,
        number: u64,
        hash: Hash,
        records: impl IntoIterator<Item = (&'r str, u64, &'r Hash)>,
    ) -> Result<(LogLeaf, Vec<(String, u64)>), LogError> {
        let mut added = Vec::new();
        for (chain, seq, record_hash) in records {
            if let Some(at) = self.set(chain, seq, record_hash)? {
                added.push((chain.to_owned(), at));
            }
        }
        Ok((self.leaf(number, hash), added))
    }

    /// The log leaf of commit `commit` (with commit-chain hash `commit_hash`) over the map as it is.
    pub fn leaf(&self, commit: u64, commit_hash: Hash) -> LogLeaf {
        LogLeaf { commit, commit_hash, map_size: self.map.len(), map_root: self.map.root() }
    }
}

/// The log, rebuilt or grown from commit entries in order: the project-heads map and the tree of
/// log leaves, in memory.
#[derive(Debug, Clone, Default)]
pub struct LedgerLog {
    map: HeadsMap,
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

    /// The project-heads map after the last commit.
    pub fn map(&self) -> &HeadsMap {
        &self.map
    }

    /// Appends the next commit: updates the map with its records' heads, then appends its leaf.
    pub fn append(&mut self, entry: &CommitEntry) -> Result<LogLeaf, LogError> {
        self.append_parts(entry.number, entry.hash, entry.records.iter().map(|r| (r.project.as_str(), r.seq, &r.hash)))
    }

    /// [`LedgerLog::append`] of the commit entry numbered `number`, with commit-chain hash `hash`
    /// and `records` as `(chain, seq, record hash)` in commit order: for a caller that keeps
    /// entries in another shape (`fiscus audit` hands its log thread compact pages).
    pub fn append_parts<'r>(
        &mut self,
        number: u64,
        hash: Hash,
        records: impl IntoIterator<Item = (&'r str, u64, &'r Hash)>,
    ) -> Result<LogLeaf, LogError> {
        let expected = self.tree.size() + 1;
        if number != expected {
            return Err(LogError::OutOfOrder { expected, found: number });
        }
        let (leaf, _) = self.map.apply_parts(number, hash, records)?;
        self.tree.append(leaf.leaf_hash());
        self.last = Some(leaf);
        Ok(leaf)
    }

    /// The proof of `chain`'s latest head at the log's current size; `None` for a chain with no
    /// record.
    pub fn head_proof(&self, chain: &str) -> Option<HeadProof> {
        let leaf = self.last?;
        let size = self.tree.size();
        head_proof(&self.map, chain, leaf, self.tree.inclusion_proof(size - 1, size).ok()?)
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

/// The proof of `chain`'s latest head in `map`, whose last log leaf is `leaf` with inclusion proof
/// `log_proof` (of index `leaf.commit - 1` in the tree of `leaf.commit` leaves).
pub fn head_proof(map: &HeadsMap, chain: &str, leaf: LogLeaf, log_proof: Vec<fiscus_tlog::Hash>) -> Option<HeadProof> {
    let (map_index, seq, hash, map_proof) = map.proof(chain)?;
    Some(HeadProof { chain: chain.to_owned(), seq, hash, map_index, map_proof, leaf, log_proof })
}

/// The name damage to the stored log is reported under (it is no chain's id: ids have no space).
pub const LOG_NAME: &str = "transparency log";

/// The log as of one commit: the project-heads map, the tree's size, root and right edge, and the
/// last leaf. The store keeps one for its writer, replay rebuilds one from the commit entries, and
/// the daemon publishes one per commit group for its readers (with the tree's hashes read from the
/// store). Cloning it copies at most 64 hashes and a few pointers, whatever the log's size.
#[derive(Debug, Clone)]
pub struct LogState {
    /// The project-heads map after the last commit.
    pub map: HeadsMap,
    /// Commits in the log (the tree's size).
    pub size: u64,
    /// The tree's RFC 6962 root.
    pub root: fiscus_tlog::Hash,
    /// The last commit's leaf (`None` for the empty log).
    pub last: Option<LogLeaf>,
    /// The tree's right edge: the stored hashes (by stored index, [`fiscus_tlog::tree`]) of the
    /// complete subtrees that tile its leaves, at most 64. With the leaves of a group they give the
    /// group's new stored hashes, its root and its inclusion proofs without reading the store.
    pub frontier: BTreeMap<u64, fiscus_tlog::Hash>,
    /// The last commit groups under the signed checkpoint after them, for their receipts
    /// (`None` before the first group written with a signing key).
    pub recent: Option<Arc<RecentCommits>>,
}

impl Default for LogState {
    fn default() -> Self {
        LogState {
            map: HeadsMap::new(),
            size: 0,
            root: fiscus_tlog::empty_root(),
            last: None,
            frontier: BTreeMap::new(),
            recent: None,
        }
    }
}

impl LogState {
    /// The proof of `chain`'s latest head, given the inclusion proof of the last leaf in the tree
    /// of `self.size` leaves; `None` for a chain with no record (or an empty log).
    pub fn head_proof(&self, chain: &str, log_proof: Vec<fiscus_tlog::Hash>) -> Option<HeadProof> {
        head_proof(&self.map, chain, self.last?, log_proof)
    }

    /// The stored indexes of the complete subtrees that tile a tree of `size` leaves (its right
    /// edge, largest first): what [`LogState::frontier`] holds.
    pub fn right_edge(size: u64) -> impl Iterator<Item = u64> {
        (0..64u32)
            .rev()
            .filter(move |level| size >> level & 1 == 1)
            .map(move |level| fiscus_tlog::tree::stored_hash_index(level, (size >> level) - 1))
    }

    /// The receipt of `commit` under the checkpoint of this state, made in memory when the commit
    /// is in one of the last commit groups ([`RecentCommits`]); `None` otherwise (then the store's
    /// stored hashes give it).
    pub fn receipt(&self, commit: u64) -> Option<RecentReceipt> {
        let recent = self.recent.as_deref().filter(|r| r.size == self.size)?;
        recent.receipt(commit)
    }
}

/// One commit group as the log keeps it in memory for receipts.
#[derive(Debug)]
pub struct GroupLog {
    /// Its first commit number.
    pub first: u64,
    /// The tree's right edge before the group (of `first - 1` leaves), by stored index.
    pub frontier: BTreeMap<u64, fiscus_tlog::Hash>,
    /// The stored index of the first hash the group appended.
    pub base: u64,
    /// The stored hashes the group appended, from `base` on.
    pub run: Vec<fiscus_tlog::Hash>,
    /// Its commits in order.
    pub commits: Vec<GroupCommit>,
    /// The stored bytes of its records, summed (what [`RecentCommits`] counts against its bound).
    record_bytes: usize,
}

impl GroupLog {
    /// The group of `commits` from commit `first` on, whose hashes start at stored index `base`
    /// (`run`), over the right edge `frontier` before it.
    pub fn new(
        first: u64,
        frontier: BTreeMap<u64, fiscus_tlog::Hash>,
        base: u64,
        run: Vec<fiscus_tlog::Hash>,
        commits: Vec<GroupCommit>,
    ) -> GroupLog {
        let record_bytes = commits.iter().flat_map(|c| c.records.iter()).map(|r| r.bytes.len()).sum();
        GroupLog { first, frontier, base, run, commits, record_bytes }
    }

    /// The stored bytes of its records, summed.
    pub fn record_bytes(&self) -> usize {
        self.record_bytes
    }
}

/// A commit of a [`GroupLog`]: its log leaf, the previous commit's hash and its records, each
/// with its stored bytes, so that its receipt is made from memory alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupCommit {
    /// The commit's log leaf.
    pub leaf: LogLeaf,
    /// The previous commit's hash (the commit-chain genesis for commit 1).
    pub prev_commit_hash: Hash,
    /// Its records in commit order (shared with every receipt made of it).
    pub records: Arc<[CommitRecord]>,
}

/// A record of a commit as a receipt is made of it: its chain, seq and record hash as the commit
/// entry lists them, and its stored bytes (`docs/FORMAT.md` section 2), which hash to `hash`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitRecord {
    /// The record's chain (project id).
    pub chain: String,
    /// Its seq in the chain.
    pub seq: u64,
    /// Its record hash (`chain::record_hash` of `bytes`).
    pub hash: Hash,
    /// Its stored bytes.
    pub bytes: Vec<u8>,
}

/// Most commit groups [`RecentCommits`] keeps, the last one included.
pub const RECENT_GROUPS_MAX: usize = 64;

/// Most record bytes the groups [`RecentCommits`] keeps before the last one hold together (the
/// last group is always kept, whatever its size).
pub const RECENT_RECORD_BYTES_MAX: usize = 8 * 1024 * 1024;

/// The last commit groups and the signed checkpoint after them, published with the log so that
/// `RecordCommit` answers with its receipt without reading the store. Several groups, because the
/// writer goes on publishing groups before every handler of a group has read the log: under load
/// a handler often wakes a few groups later, and the store's read of a receipt costs ten times its
/// making in memory. At most [`RECENT_GROUPS_MAX`] groups, and the ones before the last at most
/// [`RECENT_RECORD_BYTES_MAX`] record bytes together.
#[derive(Debug)]
pub struct RecentCommits {
    /// The log's size after the last group.
    pub size: u64,
    /// The checkpoint of that size, signed (note text).
    pub checkpoint: String,
    /// The groups, oldest first, each the one before the next; never empty.
    pub groups: Vec<Arc<GroupLog>>,
}

impl RecentCommits {
    /// The groups to keep after `last`, the group the log has just taken: `last` and, newest first
    /// while the bounds allow, the groups of `before` (the state before `last`, when `last`
    /// follows it directly).
    pub fn after(before: Option<&RecentCommits>, last: GroupLog, size: u64, checkpoint: String) -> RecentCommits {
        let mut kept: Vec<Arc<GroupLog>> = Vec::new();
        let mut bytes = 0usize;
        for group in before.filter(|b| b.size + 1 == last.first).into_iter().flat_map(|b| b.groups.iter().rev()) {
            bytes = bytes.saturating_add(group.record_bytes());
            if kept.len() + 1 >= RECENT_GROUPS_MAX || bytes > RECENT_RECORD_BYTES_MAX {
                break;
            }
            kept.push(group.clone());
        }
        kept.reverse();
        kept.push(Arc::new(last));
        RecentCommits { size, checkpoint, groups: kept }
    }

    /// The receipt of `commit` when it is in one of the groups: its leaf's inclusion proof in
    /// the tree of `size` leaves, from the hashes the groups appended and the right edge before
    /// the commit's group (every sibling of the path of a leaf appended at or after that group's
    /// `first` is either a complete subtree that ends before `first`, on that edge, or one that
    /// group or a later one completed).
    pub fn receipt(&self, commit: u64) -> Option<RecentReceipt> {
        let at = self.groups.iter().rposition(|g| commit >= g.first)?;
        let groups = self.groups.get(at..)?;
        let group = groups.first()?;
        let made = group.commits.get(usize::try_from(commit.checked_sub(group.first)?).ok()?)?;
        let reader = GroupReader { groups };
        let proof = fiscus_tlog::tree::inclusion_proof(commit - 1, self.size, self.size, &reader).ok()?;
        Some(RecentReceipt {
            checkpoint: self.checkpoint.clone(),
            commit,
            prev_commit_hash: made.prev_commit_hash,
            records: made.records.clone(),
            leaf: made.leaf,
            proof,
        })
    }
}

/// What a receipt is made of, from the published log ([`RecentCommits::receipt`]) or from the
/// store (`Reader::receipt_parts`, the same for the same commit and size): the records as the
/// commit entry lists them, labelled, with their stored bytes; the server keeps the bytes of each
/// record the caller may read (and hides the rest) before it becomes a [`Receipt`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecentReceipt {
    /// The signed checkpoint (note text).
    pub checkpoint: String,
    /// The commit number.
    pub commit: u64,
    /// The previous commit's hash.
    pub prev_commit_hash: Hash,
    /// The commit's records with their stored bytes, in commit order.
    pub records: Arc<[CommitRecord]>,
    /// The commit's log leaf.
    pub leaf: LogLeaf,
    /// The leaf's inclusion proof (index `commit - 1`) in the checkpoint's tree.
    pub proof: Vec<fiscus_tlog::Hash>,
}

/// The stored hashes consecutive groups know: the first one's right edge before it, then the
/// runs each appended.
struct GroupReader<'a> {
    groups: &'a [Arc<GroupLog>],
}

impl HashReader for GroupReader<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<fiscus_tlog::Hash>, TlogError> {
        let in_run = |g: &GroupLog, index: u64| {
            index.checked_sub(g.base).and_then(|i| usize::try_from(i).ok()).and_then(|i| g.run.get(i)).copied()
        };
        indexes
            .iter()
            .map(|&index| {
                // each group's run starts where the one before it ended: the last one that starts
                // at or before the index holds it, when any does
                let run = self.groups.iter().rev().find(|g| g.base <= index).and_then(|g| in_run(g, index));
                run.or_else(|| self.groups.first().and_then(|g| g.frontier.get(&index).copied()))
                    .ok_or(TlogError::MissingHash { index })
            })
            .collect()
    }
}

/// What a receipt's `extra` data starts with (format 2, which carries record bytes), so that
/// other data is not taken for a receipt.
pub const RECEIPT_MAGIC: &[u8] = b"fiscus-receipt-2\n";

/// What the extra data of a receipt of format 1 starts with: its (chain, seq) labels are bound by
/// nothing, so they are read and dropped (its records show as hashes only).
pub const RECEIPT_MAGIC_1: &[u8] = b"fiscus-receipt-1\n";

/// Most records a receipt lists (a commit holds at most `COMMIT_EVENTS_MAX` events, each one record).
pub const RECEIPT_RECORDS_MAX: usize = 1_000;

/// Most record bytes, summed over its records, a receipt carries: the records of a larger commit
/// past this budget are given as hashes only (3 MiB, so that a receipt fits a 4 MiB answer).
pub const RECEIPT_RECORD_BYTES_MAX: usize = 3 * 1024 * 1024;

/// One record of a receipt: its hash, and its stored bytes when the receipt shows it. A record
/// without bytes is "a record of another chain": its label is not given, since nothing would bind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptRecord {
    /// The record hash (`chain::record_hash` of its stored bytes), as the commit hash covers it.
    pub hash: Hash,
    /// The record's stored bytes (`docs/FORMAT.md` section 2), or `None` (hash only).
    pub bytes: Option<Vec<u8>>,
}

impl ReceiptRecord {
    /// The record's (chain, seq), taken from its decoded bytes (the one record decoder) after
    /// checking that they hash to [`ReceiptRecord::hash`] and belong to commit `commit`; `None`
    /// for a record without bytes. Errors: bytes that do not hash to the hash, do not decode, or
    /// name another commit.
    pub fn label(&self, commit: u64) -> Result<Option<(String, u64)>, LogError> {
        let Some(bytes) = &self.bytes else { return Ok(None) };
        if crate::chain::record_hash(bytes) != self.hash {
            return Err(LogError::Receipt("a record's bytes do not hash to its record hash".to_owned()));
        }
        let record = crate::record::Record::decode(bytes)
            .map_err(|e| LogError::Receipt(format!("a record's bytes do not decode: {e}")))?;
        if record.commit != commit {
            return Err(LogError::Receipt(format!(
                "a record of commit {} is in the receipt of commit {commit}",
                record.commit
            )));
        }
        Ok(Some((record.event.project.as_str().to_owned(), record.seq)))
    }
}

/// A receipt (`docs/FORMAT.md` section 8, "Receipts"): a commit, its records and the inclusion of
/// its log leaf under a signed checkpoint. Kept as a C2SP `tlog-proof` ([`Receipt::to_tlog_proof`])
/// whose extra data carries the leaf, the previous commit hash and the records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The signed checkpoint (note text).
    pub checkpoint: String,
    /// The commit number.
    pub commit: u64,
    /// The previous commit's hash (the commit-chain genesis for commit 1).
    pub prev_commit_hash: Hash,
    /// The commit's records, in commit order.
    pub records: Vec<ReceiptRecord>,
    /// The commit's log leaf.
    pub leaf: LogLeaf,
    /// The leaf's inclusion proof (index `commit - 1`) in the checkpoint's tree.
    pub proof: Vec<fiscus_tlog::Hash>,
}

impl Receipt {
    /// The receipt as a tlog-proof: `index commit - 1`, the proof, the checkpoint, and as extra
    /// data [`RECEIPT_MAGIC`] ‖ leaf (81) ‖ previous commit hash (32) ‖ record count u32 BE ‖ per
    /// record: record hash (32) ‖ byte length u32 BE (0: hash only) ‖ the record's stored bytes.
    pub fn to_tlog_proof(&self) -> Result<fiscus_tlog::TlogProof, LogError> {
        let mut extra = RECEIPT_MAGIC.to_vec();
        extra.extend_from_slice(&self.leaf.to_bytes());
        extra.extend_from_slice(&self.prev_commit_hash);
        let count = u32::try_from(self.records.len()).map_err(|_| LogError::MalformedLeaf("too many records"))?;
        extra.extend_from_slice(&count.to_be_bytes());
        for r in &self.records {
            extra.extend_from_slice(&r.hash);
            let bytes = r.bytes.as_deref().unwrap_or_default();
            let len = u32::try_from(bytes.len()).map_err(|_| LogError::MalformedLeaf("record too long"))?;
            extra.extend_from_slice(&len.to_be_bytes());
            extra.extend_from_slice(bytes);
        }
        Ok(fiscus_tlog::TlogProof {
            extra: Some(extra),
            index: self.commit.saturating_sub(1),
            inclusion: self.proof.clone(),
            checkpoint: self.checkpoint.clone(),
        })
    }

    /// Reads a receipt back from a tlog-proof (untrusted: every length is checked, the `index`
    /// line must be the leaf's commit − 1). Format 1 receipts read with hash-only records.
    pub fn from_tlog_proof(proof: &fiscus_tlog::TlogProof) -> Result<Receipt, LogError> {
        let bad = LogError::MalformedLeaf;
        let extra = proof.extra.as_deref().ok_or(bad("the tlog-proof has no receipt data"))?;
        let (v1, rest) = match (extra.strip_prefix(RECEIPT_MAGIC), extra.strip_prefix(RECEIPT_MAGIC_1)) {
            (Some(rest), _) => (false, rest),
            (None, Some(rest)) => (true, rest),
            (None, None) => return Err(bad("the tlog-proof's extra data is no Fiscus receipt")),
        };
        let (leaf, rest) = rest.split_first_chunk::<LOG_LEAF_BYTES>().ok_or(bad("receipt: short leaf"))?;
        let leaf = LogLeaf::parse(leaf)?;
        if leaf.commit == 0 || proof.index != leaf.commit - 1 {
            return Err(LogError::Receipt(format!(
                "the tlog-proof's index is {}, the leaf's commit {} is at index {}",
                proof.index,
                leaf.commit,
                leaf.commit.saturating_sub(1)
            )));
        }
        let (prev, rest) = rest.split_first_chunk::<32>().ok_or(bad("receipt: short previous hash"))?;
        let (count, mut rest) = rest.split_first_chunk::<4>().ok_or(bad("receipt: no record count"))?;
        let count = u32::from_be_bytes(*count) as usize;
        if count == 0 || count > RECEIPT_RECORDS_MAX {
            return Err(bad("receipt: record count out of range"));
        }
        let mut records = Vec::with_capacity(count);
        for _ in 0..count {
            if v1 {
                // u8 id length ‖ id ‖ seq u64 BE ‖ record hash: the label is bound by nothing.
                let (len, after) = rest.split_first().ok_or(bad("receipt: short record"))?;
                let after = after.get(usize::from(*len) + 8..).ok_or(bad("receipt: short record"))?;
                let (hash, after) = after.split_first_chunk::<32>().ok_or(bad("receipt: short record"))?;
                records.push(ReceiptRecord { hash: *hash, bytes: None });
                rest = after;
                continue;
            }
            let (hash, after) = rest.split_first_chunk::<32>().ok_or(bad("receipt: short record"))?;
            let (len, after) = after.split_first_chunk::<4>().ok_or(bad("receipt: short record"))?;
            let len = u32::from_be_bytes(*len) as usize;
            if len > crate::record::RECORD_BYTES_MAX {
                return Err(bad("receipt: record longer than a record can be"));
            }
            let bytes = after.get(..len).ok_or(bad("receipt: short record"))?;
            records.push(ReceiptRecord { hash: *hash, bytes: (len > 0).then(|| bytes.to_vec()) });
            rest = after.get(len..).ok_or(bad("receipt: short record"))?;
        }
        if !rest.is_empty() {
            return Err(bad("receipt: trailing bytes"));
        }
        Ok(Receipt {
            checkpoint: proof.checkpoint.clone(),
            commit: leaf.commit,
            prev_commit_hash: *prev,
            records,
            leaf,
            proof: proof.inclusion.clone(),
        })
    }

    /// Checks the receipt against the log key `known` (named `origin`): the checkpoint's
    /// signature, the commit hash recomputed from the previous hash and the records equal to the
    /// leaf's, every record's bytes (when given) hashing to its record hash and decoding to a
    /// record of this commit ([`ReceiptRecord::label`]), and the leaf's inclusion at index
    /// `commit - 1`. Answers the checkpoint; [`Receipt::verify_labels`] answers the labels too.
    pub fn verify(&self, origin: &str, known: &[fiscus_tlog::NoteVerifier]) -> Result<Checkpoint, LogError> {
        self.verify_labels(origin, known).map(|(c, _)| c)
    }

    /// [`Receipt::verify`], answering as well each record's (chain, seq) as its bytes give it
    /// (`None`: hash only, a record of another chain), in commit order.
    #[allow(clippy::type_complexity)]
    pub fn verify_labels(
        &self,
        origin: &str,
        known: &[fiscus_tlog::NoteVerifier],
    ) -> Result<(Checkpoint, Vec<Option<(String, u64)>>), LogError> {
        if self.leaf.commit != self.commit || self.commit == 0 {
            return Err(LogError::MalformedLeaf("the leaf is of another commit"));
        }
        let hash = crate::chain::commit_hash(&self.prev_commit_hash, self.commit, self.records.iter().map(|r| &r.hash));
        if hash != self.leaf.commit_hash {
            return Err(LogError::MalformedLeaf("the records and previous hash do not make the leaf's commit hash"));
        }
        let labels = self.records.iter().map(|r| r.label(self.commit)).collect::<Result<Vec<_>, _>>()?;
        let opened = fiscus_tlog::open_checkpoint(&self.checkpoint, origin, known)?;
        verify_inclusion(
            &self.leaf.leaf_hash(),
            self.commit - 1,
            opened.checkpoint.size,
            &self.proof,
            &opened.checkpoint.root,
        )?;
        Ok((opened.checkpoint, labels))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A group of `commits` commits from `first` on, each of one record of `bytes` bytes.
    fn group(first: u64, commits: u64, bytes: usize) -> GroupLog {
        let commits = (first..first + commits)
            .map(|commit| GroupCommit {
                leaf: LogLeaf { commit, commit_hash: [0; 32], map_size: 1, map_root: fiscus_tlog::empty_root() },
                prev_commit_hash: [0; 32],
                records: Arc::from([CommitRecord {
                    chain: "p".to_owned(),
                    seq: commit,
                    hash: [0; 32],
                    bytes: vec![0; bytes],
                }]),
            })
            .collect();
        GroupLog::new(first, BTreeMap::new(), first, Vec::new(), commits)
    }

    /// The kept groups follow each other, end with the newest, and stay within both bounds; a
    /// group that does not follow the kept ones starts afresh.
    #[test]
    fn recent_groups_stay_within_their_bounds() {
        let firsts = |r: &RecentCommits| r.groups.iter().map(|g| g.first).collect::<Vec<_>>();
        // by count: groups of one commit
        let mut recent: Option<RecentCommits> = None;
        for first in 1..=100u64 {
            recent = Some(RecentCommits::after(recent.as_ref(), group(first, 1, 10), first, String::new()));
        }
        let r = recent.expect("kept");
        assert_eq!(firsts(&r), (100 - RECENT_GROUPS_MAX as u64 + 1..=100).collect::<Vec<_>>());
        // by bytes: groups of 1 MiB; the last is kept whatever its size, the ones before it within the bound
        let mib = 1024 * 1024;
        let mut recent: Option<RecentCommits> = None;
        for first in 1..=20u64 {
            recent = Some(RecentCommits::after(recent.as_ref(), group(first, 1, mib), first, String::new()));
        }
        let r = recent.expect("kept");
        let before: usize = r.groups.iter().rev().skip(1).map(|g| g.record_bytes()).sum();
        assert_eq!(before, RECENT_RECORD_BYTES_MAX);
        assert_eq!(firsts(&r), (20 - RECENT_RECORD_BYTES_MAX as u64 / mib as u64..=20).collect::<Vec<_>>());
        let huge = RecentCommits::after(Some(&r), group(21, 1, 3 * RECENT_RECORD_BYTES_MAX), 21, String::new());
        assert_eq!(firsts(&huge).last(), Some(&21));
        // a group that does not follow the last kept one
        let apart = RecentCommits::after(Some(&r), group(30, 2, 10), 31, String::new());
        assert_eq!(firsts(&apart), vec![30]);
    }
}
