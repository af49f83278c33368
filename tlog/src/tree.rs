//! The incremental RFC 6962 tree: every complete subtree's hash is stored once, at a dense
//! index, so that appending `n` leaves stores fewer than `2n` hashes, and any root, inclusion proof
//! or consistency proof of any size up to the current one reads at most `2 log2(size)` of them.
//!
//! The storage order is the one of Go's `golang.org/x/mod/sumdb/tlog` (`StoredHashIndex`), from
//! section 3.3 of Crosby and Wallach, "Efficient Data Structures for Tamper-Evident Logging"
//! (2009): the hash of the complete subtree at `level` (0 for leaves) and position `n` within its
//! level is written right after the level `level - 1` hash at position `2n + 1`, the one that
//! completes it. Appending leaf `n` therefore writes a contiguous run of `1 + trailing_ones(n)`
//! hashes starting at `stored_hash_index(0, n)`, and a store of the first `size` leaves holds
//! exactly `stored_hash_count(size)` hashes, indexes `0..stored_hash_count(size)`.
//!
//! Proof construction follows RFC 6962 section 2.1.1 (`PATH`) and 2.1.2 (`PROOF`/`SUBPROOF`), as
//! Go's `ProveRecord` and `ProveTree` do; verification is in [`crate::proof`].

use std::collections::BTreeMap;

use crate::error::TlogError;
use crate::hash::{empty_root, node_hash, Hash};

/// The hash of the complete subtree at `level` (0 = a leaf) and position `n` in that level sits at
/// this index of the store (Go's `tlog.StoredHashIndex`).
///
/// `level` is below 64 and `n << level` is a leaf index (below 2^63) for every hash that exists.
pub fn stored_hash_index(level: u32, n: u64) -> u64 {
    debug_assert!(level < 64, "a tree of u64 leaves has fewer than 64 levels");
    // Level L's n'th hash is written right after level L-1's (2n+1)'th hash: walk down to level 0.
    let mut leaf = n;
    for _ in 0..level {
        leaf = 2 * leaf + 1;
    }
    // Level 0's n'th hash is written at n + n/2 + n/4 + ... (the hashes of all earlier leaves and
    // of the subtrees they completed).
    let mut index = 0u64;
    let mut rest = leaf;
    while rest > 0 {
        index += rest;
        rest >>= 1;
    }
    index + u64::from(level)
}

/// The inverse of [`stored_hash_index`]: the `(level, n)` stored at `index` (Go's
/// `tlog.SplitStoredHashIndex`).
pub fn split_stored_hash_index(index: u64) -> (u32, u64) {
    // stored_hash_index(0, n) < 2n, so the leaf whose run holds `index` is in
    // [index/2, index/2 + log2(index)].
    let mut n = index / 2;
    let mut index_n = stored_hash_index(0, n);
    debug_assert!(index_n <= index, "the run of leaf index/2 starts at or before index");
    loop {
        // Leaf n's run is 1 + trailing_ones(n) hashes long; the next leaf's run starts after it.
        let next = index_n + 1 + u64::from(n.trailing_ones());
        if next > index {
            break;
        }
        n += 1;
        index_n = next;
    }
    let level = (index - index_n) as u32;
    (level, n >> level)
}

/// How many hashes a tree of `size` leaves stores (Go's `tlog.StoredHashCount`).
pub fn stored_hash_count(size: u64) -> u64 {
    if size == 0 {
        return 0;
    }
    let last = size - 1;
    // The last leaf's own hash, and one more for every subtree it completes.
    stored_hash_index(0, last) + 1 + u64::from(last.trailing_ones())
}

/// Reads stored hashes by index. A store implements it (sled in fiscus-ledger, a vector in
/// [`MemoryTree`]); proofs and roots are built from what it answers.
pub trait HashReader {
    /// The hashes at `indexes`, in that order. A store that lacks one answers
    /// `TlogError::MissingHash`; the answer must have exactly one hash per index.
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, TlogError>;
}

fn read_exact(reader: &dyn HashReader, indexes: &[u64]) -> Result<Vec<Hash>, TlogError> {
    if indexes.is_empty() {
        return Ok(Vec::new());
    }
    let hashes = reader.read_hashes(indexes)?;
    if hashes.len() != indexes.len() {
        return Err(TlogError::Store(format!(
            "asked for {} stored hashes, the store answered {}",
            indexes.len(),
            hashes.len()
        )));
    }
    Ok(hashes)
}

/// The hashes to store after the first `size` leaves when the leaves `leaves` (leaf hashes, see
/// [`crate::leaf_hash`]) are appended: a contiguous run to write at indexes
/// `stored_hash_count(size)..stored_hash_count(size + leaves.len())`.
///
/// Reads at most `log2(size)` earlier hashes per appended leaf from `reader` (the store as it was
/// after `size` leaves); the appended batch's own hashes are taken from the run being built.
pub fn hashes_to_append(size: u64, leaves: &[Hash], reader: &dyn HashReader) -> Result<Vec<Hash>, TlogError> {
    let base = stored_hash_count(size);
    let mut run: Vec<Hash> = Vec::with_capacity(leaves.len() * 2);
    for (offset, leaf) in leaves.iter().enumerate() {
        let n = size + offset as u64;
        debug_assert_eq!(stored_hash_index(0, n), base + run.len() as u64, "runs are contiguous");
        let mut hash = *leaf;
        run.push(hash);
        // Each trailing 1 bit of n completes a subtree whose left half is already stored.
        for level in 0..n.trailing_ones() {
            let left_index = stored_hash_index(level, (n >> level) - 1);
            let left = if left_index >= base {
                let at = (left_index - base) as usize;
                *run.get(at).ok_or(TlogError::MissingHash { index: left_index })?
            } else {
                read_exact(reader, &[left_index])?
                    .first()
                    .copied()
                    .ok_or(TlogError::MissingHash { index: left_index })?
            };
            hash = node_hash(&left, &hash);
            run.push(hash);
        }
    }
    Ok(run)
}

/// The largest power of two not above `n` (`n >= 1`).
fn largest_power_of_two_at_most(n: u64) -> u64 {
    debug_assert!(n >= 1);
    1u64 << (63 - n.leading_zeros())
}

/// The stored indexes whose hashes make the root of the leaves `[lo, hi)` (Go's `subTreeIndex`):
/// the complete subtrees of decreasing size that tile the range.
fn subtree_indexes(mut lo: u64, hi: u64, need: &mut Vec<u64>) {
    while lo < hi {
        let k = largest_power_of_two_at_most(hi - lo);
        assert!(lo & (k - 1) == 0, "a tiling subtree starts at a multiple of its size");
        need.push(stored_hash_index(k.trailing_zeros(), lo >> k.trailing_zeros()));
        lo += k;
    }
}

/// The root of `[lo, hi)` from the hashes `subtree_indexes(lo, hi)` asked for, consumed from
/// `hashes` (Go's `subTreeHash`).
fn subtree_hash(mut lo: u64, hi: u64, hashes: &mut std::slice::Iter<'_, Hash>) -> Hash {
    let mut parts = Vec::new();
    while lo < hi {
        let k = largest_power_of_two_at_most(hi - lo);
        parts.push(*hashes.next().expect("subtree_indexes asked for one hash per tiling subtree"));
        lo += k;
    }
    let mut parts = parts.into_iter().rev();
    let mut hash = parts.next().expect("a non-empty range has a tiling subtree");
    for left in parts {
        hash = node_hash(&left, &hash);
    }
    hash
}

/// The RFC 6962 root of the first `size` leaves of the stored tree; the empty tree's root is
/// [`crate::empty_root`]. Reads at most `1 + log2(size)` hashes.
pub fn tree_root(size: u64, reader: &dyn HashReader) -> Result<Hash, TlogError> {
    if size == 0 {
        return Ok(empty_root());
    }
    let mut need = Vec::new();
    subtree_indexes(0, size, &mut need);
    let hashes = read_exact(reader, &need)?;
    Ok(subtree_hash(0, size, &mut hashes.iter()))
}

fn leaf_proof_indexes(lo: u64, hi: u64, n: u64, need: &mut Vec<u64>) {
    assert!(lo <= n && n < hi, "the leaf is within the range");
    if lo + 1 == hi {
        return;
    }
    let k = largest_power_of_two_at_most(hi - lo - 1);
    if n < lo + k {
        leaf_proof_indexes(lo, lo + k, n, need);
        subtree_indexes(lo + k, hi, need);
    } else {
        subtree_indexes(lo, lo + k, need);
        leaf_proof_indexes(lo + k, hi, n, need);
    }
}

fn leaf_proof(lo: u64, hi: u64, n: u64, hashes: &mut std::slice::Iter<'_, Hash>, proof: &mut Vec<Hash>) {
    if lo + 1 == hi {
        return;
    }
    let k = largest_power_of_two_at_most(hi - lo - 1);
    if n < lo + k {
        leaf_proof(lo, lo + k, n, hashes, proof);
        proof.push(subtree_hash(lo + k, hi, hashes));
    } else {
        let sibling = subtree_hash(lo, lo + k, hashes);
        leaf_proof(lo + k, hi, n, hashes, proof);
        proof.push(sibling);
    }
}

/// The inclusion proof (RFC 6962 section 2.1.1 `PATH(m, D[n])`, RFC 9162 section 2.1.3.1) of the
/// leaf at `index` in the tree of the first `size` leaves: the sibling hashes from the leaf up to
/// the root, at most `ceil(log2(size))` of them.
///
/// `index < size <= tree_size` is required (`TlogError::IndexOutOfRange`, `TlogError::BadSizes`);
/// `tree_size` is the number of leaves the store holds.
pub fn inclusion_proof(index: u64, size: u64, tree_size: u64, reader: &dyn HashReader) -> Result<Vec<Hash>, TlogError> {
    if size > tree_size {
        return Err(TlogError::BadSizes { old: index, new: size, size: tree_size });
    }
    if index >= size {
        return Err(TlogError::IndexOutOfRange { index, size });
    }
    let mut need = Vec::new();
    leaf_proof_indexes(0, size, index, &mut need);
    let hashes = read_exact(reader, &need)?;
    let mut iter = hashes.iter();
    let mut proof = Vec::new();
    leaf_proof(0, size, index, &mut iter, &mut proof);
    Ok(proof)
}

fn tree_proof_indexes(lo: u64, hi: u64, n: u64, need: &mut Vec<u64>) {
    assert!(lo < n && n <= hi, "the old size is within the range");
    if n == hi {
        if lo != 0 {
            subtree_indexes(lo, hi, need);
        }
        return;
    }
    let k = largest_power_of_two_at_most(hi - lo - 1);
    if n <= lo + k {
        tree_proof_indexes(lo, lo + k, n, need);
        subtree_indexes(lo + k, hi, need);
    } else {
        subtree_indexes(lo, lo + k, need);
        tree_proof_indexes(lo + k, hi, n, need);
    }
}

fn tree_proof(lo: u64, hi: u64, n: u64, hashes: &mut std::slice::Iter<'_, Hash>, proof: &mut Vec<Hash>) {
    if n == hi {
        if lo != 0 {
            proof.push(subtree_hash(lo, hi, hashes));
        }
        return;
    }
    let k = largest_power_of_two_at_most(hi - lo - 1);
    if n <= lo + k {
        tree_proof(lo, lo + k, n, hashes, proof);
        proof.push(subtree_hash(lo + k, hi, hashes));
    } else {
        let left = subtree_hash(lo, lo + k, hashes);
        tree_proof(lo + k, hi, n, hashes, proof);
        proof.push(left);
    }
}

/// The consistency proof (RFC 6962 section 2.1.2 `PROOF(m, D[n])`, RFC 9162 section 2.1.4.1) from
/// the tree of the first `old` leaves to the tree of the first `new` leaves; empty when `old` is 0
/// or equal to `new` (the tlog-witness convention for a first checkpoint).
///
/// `old <= new <= tree_size` is required (`TlogError::BadSizes`).
pub fn consistency_proof(old: u64, new: u64, tree_size: u64, reader: &dyn HashReader) -> Result<Vec<Hash>, TlogError> {
    if old > new || new > tree_size {
        return Err(TlogError::BadSizes { old, new, size: tree_size });
    }
    if old == 0 || old == new {
        return Ok(Vec::new());
    }
    let mut need = Vec::new();
    tree_proof_indexes(0, new, old, &mut need);
    let hashes = read_exact(reader, &need)?;
    let mut iter = hashes.iter();
    let mut proof = Vec::new();
    tree_proof(0, new, old, &mut iter, &mut proof);
    Ok(proof)
}

/// An append-only tree whose stored hashes live in memory: the reference store, used by the
/// witness, the tests and anyone rebuilding a log from its leaves.
#[derive(Debug, Clone, Default)]
pub struct MemoryTree {
    hashes: Vec<Hash>,
    size: u64,
}

impl MemoryTree {
    /// An empty tree.
    pub fn new() -> MemoryTree {
        MemoryTree::default()
    }

    /// Leaves appended so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends one leaf (its leaf hash) and answers its index.
    pub fn append(&mut self, leaf: Hash) -> u64 {
        self.append_all(&[leaf]);
        self.size - 1
    }

    /// Appends leaves (their leaf hashes) in order.
    pub fn append_all(&mut self, leaves: &[Hash]) {
        let run = hashes_to_append(self.size, leaves, self).expect("a memory tree holds every hash it stored");
        self.hashes.extend(run);
        self.size += leaves.len() as u64;
        debug_assert_eq!(self.hashes.len() as u64, stored_hash_count(self.size));
    }

    /// The root of the whole tree.
    pub fn root(&self) -> Hash {
        self.root_at(self.size).expect("the tree's own size is within it")
    }

    /// The root of the first `size` leaves (`TlogError::BadSizes` past the tree).
    pub fn root_at(&self, size: u64) -> Result<Hash, TlogError> {
        if size > self.size {
            return Err(TlogError::BadSizes { old: size, new: size, size: self.size });
        }
        tree_root(size, self)
    }

    /// The inclusion proof of leaf `index` in the tree of the first `size` leaves.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, TlogError> {
        inclusion_proof(index, size, self.size, self)
    }

    /// The consistency proof from size `old` to size `new`.
    pub fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Hash>, TlogError> {
        consistency_proof(old, new, self.size, self)
    }

    /// The leaf hash at `index`.
    pub fn leaf(&self, index: u64) -> Option<Hash> {
        if index >= self.size {
            return None;
        }
        self.hashes.get(stored_hash_index(0, index) as usize).copied()
    }

    /// The stored hashes, indexes `0..stored_hash_count(size)`.
    pub fn stored_hashes(&self) -> &[Hash] {
        &self.hashes
    }
}

impl HashReader for MemoryTree {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, TlogError> {
        indexes
            .iter()
            .map(|&index| {
                usize::try_from(index)
                    .ok()
                    .and_then(|at| self.hashes.get(at))
                    .copied()
                    .ok_or(TlogError::MissingHash { index })
            })
            .collect()
    }
}

/// A [`HashReader`] over a map of stored hashes (for stores that keep them sparse).
impl HashReader for BTreeMap<u64, Hash> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, TlogError> {
        indexes.iter().map(|index| self.get(index).copied().ok_or(TlogError::MissingHash { index: *index })).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::{leaf_hash, merkle_root};

    #[test]
    fn stored_hash_indexes_match_go() {
        // Go's TestSplitStoredHashIndex walks every index; these are the first levels by hand:
        // leaf 0 at 0; leaf 1 at 1, (1,0) at 2; leaf 2 at 3; leaf 3 at 4, (1,1) at 5, (2,0) at 6.
        assert_eq!(stored_hash_index(0, 0), 0);
        assert_eq!(stored_hash_index(0, 1), 1);
        assert_eq!(stored_hash_index(1, 0), 2);
        assert_eq!(stored_hash_index(0, 2), 3);
        assert_eq!(stored_hash_index(0, 3), 4);
        assert_eq!(stored_hash_index(1, 1), 5);
        assert_eq!(stored_hash_index(2, 0), 6);
        assert_eq!(stored_hash_index(0, 4), 7);
        for index in 0..10_000u64 {
            let (level, n) = split_stored_hash_index(index);
            assert_eq!(stored_hash_index(level, n), index, "index {index}");
        }
        assert_eq!(stored_hash_count(0), 0);
        assert_eq!(stored_hash_count(1), 1);
        assert_eq!(stored_hash_count(2), 3);
        assert_eq!(stored_hash_count(3), 4);
        assert_eq!(stored_hash_count(4), 7);
    }

    #[test]
    fn roots_of_every_prefix_match_the_definition() {
        let leaves: Vec<Hash> = (0..70u32).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let mut tree = MemoryTree::new();
        for (i, leaf) in leaves.iter().enumerate() {
            tree.append(*leaf);
            assert_eq!(tree.root(), merkle_root(&leaves[..=i]));
        }
        for size in 0..=70 {
            assert_eq!(tree.root_at(size).unwrap(), merkle_root(&leaves[..size as usize]));
        }
        assert!(tree.root_at(71).is_err());
    }

    #[test]
    fn batched_appends_store_the_same_hashes() {
        let leaves: Vec<Hash> = (0..100u32).map(|i| leaf_hash(&i.to_le_bytes())).collect();
        let mut one_by_one = MemoryTree::new();
        for leaf in &leaves {
            one_by_one.append(*leaf);
        }
        let mut batched = MemoryTree::new();
        for chunk in leaves.chunks(7) {
            batched.append_all(chunk);
        }
        assert_eq!(one_by_one.stored_hashes(), batched.stored_hashes());
    }

    #[test]
    fn out_of_range_requests_are_errors() {
        let mut tree = MemoryTree::new();
        tree.append_all(&[leaf_hash(b"a"), leaf_hash(b"b")]);
        assert_eq!(tree.inclusion_proof(2, 2), Err(TlogError::IndexOutOfRange { index: 2, size: 2 }));
        assert!(tree.inclusion_proof(0, 3).is_err());
        assert!(tree.consistency_proof(2, 1).is_err());
        assert!(tree.consistency_proof(1, 3).is_err());
        assert_eq!(tree.consistency_proof(0, 2).unwrap(), Vec::<Hash>::new());
        assert_eq!(tree.consistency_proof(2, 2).unwrap(), Vec::<Hash>::new());
        // A store missing a hash is an error, not a panic.
        let empty = BTreeMap::new();
        assert_eq!(tree_root(2, &empty), Err(TlogError::MissingHash { index: 2 }));
        assert!(inclusion_proof(0, 2, 2, &empty).is_err());
    }
}
