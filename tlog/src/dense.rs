//! A Merkle tree whose leaves may change: every node kept in memory, level by level, so that
//! setting or appending a leaf rehashes only its path (`log2(n)` hashes) and a proof is read off
//! the levels.
//!
//! It has the RFC 6962 shape and root (section 2.1) for every size: level `l + 1` node `j` is
//! `node_hash(level[l][2j], level[l][2j + 1])`, and a last node without a right sibling is carried
//! up unchanged, which is how the RFC's split at the largest power of two below `n` looks when the
//! tree is drawn by levels. So its inclusion proofs are RFC 6962 `PATH`s, verified with
//! [`crate::verify_inclusion`]. Fiscus keeps its project-heads map in one (see `docs/FORMAT.md`).

use crate::hash::{empty_root, node_hash, Hash};

/// A Merkle tree of changeable leaves (leaf hashes), RFC 6962 shaped.
#[derive(Debug, Clone, Default)]
pub struct DenseTree {
    /// `levels[0]` are the leaf hashes; the last level has one node, the root (when non-empty).
    levels: Vec<Vec<Hash>>,
}

impl DenseTree {
    /// An empty tree.
    pub fn new() -> DenseTree {
        DenseTree::default()
    }

    /// Number of leaves.
    pub fn len(&self) -> u64 {
        self.levels.first().map_or(0, |leaves| leaves.len() as u64)
    }

    /// True when the tree has no leaf.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The leaf hash at `index`.
    pub fn leaf(&self, index: u64) -> Option<Hash> {
        self.levels.first()?.get(usize::try_from(index).ok()?).copied()
    }

    /// Appends a leaf hash; answers its index.
    pub fn push(&mut self, leaf: Hash) -> u64 {
        if self.levels.is_empty() {
            self.levels.push(Vec::new());
        }
        let index = self.levels[0].len();
        self.levels[0].push(leaf);
        self.rehash(index);
        index as u64
    }

    /// Replaces the leaf hash at `index` (which must exist: `false` otherwise, nothing changed).
    pub fn set(&mut self, index: u64, leaf: Hash) -> bool {
        let Some(slot) = usize::try_from(index).ok().and_then(|i| self.levels.first_mut()?.get_mut(i)) else {
            return false;
        };
        *slot = leaf;
        self.rehash(index as usize);
        true
    }

    /// Rehashes the path from leaf `index` to the root, growing levels as the tree grows.
    fn rehash(&mut self, mut index: usize) {
        let mut level = 0;
        while self.levels[level].len() > 1 {
            let width = self.levels[level].len();
            let left = index & !1;
            let parent = if left + 1 < width {
                node_hash(&self.levels[level][left], &self.levels[level][left + 1])
            } else {
                self.levels[level][left]
            };
            let parent_width = width.div_ceil(2);
            if self.levels.len() == level + 1 {
                self.levels.push(Vec::new());
            }
            let above = &mut self.levels[level + 1];
            above.resize(parent_width, Hash::default());
            above[index / 2] = parent;
            index /= 2;
            level += 1;
        }
        // A tree that grew keeps no stale level above its root.
        self.levels.truncate(level + 1);
    }

    /// The RFC 6962 root; the empty tree's is [`crate::empty_root`].
    pub fn root(&self) -> Hash {
        self.levels.last().and_then(|top| top.first()).copied().unwrap_or_else(empty_root)
    }

    /// The RFC 6962 inclusion proof of leaf `index` in the whole tree, leaf's sibling first;
    /// `None` past the last leaf.
    pub fn inclusion_proof(&self, index: u64) -> Option<Vec<Hash>> {
        let mut index = usize::try_from(index).ok()?;
        if index >= self.levels.first()?.len() {
            return None;
        }
        let mut proof = Vec::new();
        for level in &self.levels[..self.levels.len() - 1] {
            if let Some(sibling) = level.get(index ^ 1) {
                proof.push(*sibling);
            }
            index /= 2;
        }
        Some(proof)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::{leaf_hash, merkle_root};
    use crate::proof::verify_inclusion;
    use crate::tree::MemoryTree;

    #[test]
    fn same_roots_and_proofs_as_rfc_6962() {
        let mut dense = DenseTree::new();
        let mut leaves = Vec::new();
        assert_eq!(dense.root(), empty_root());
        for n in 0..130u32 {
            let leaf = leaf_hash(&n.to_le_bytes());
            leaves.push(leaf);
            assert_eq!(dense.push(leaf), u64::from(n));
            assert_eq!(dense.root(), merkle_root(&leaves), "size {}", n + 1);
            let mut reference = MemoryTree::new();
            reference.append_all(&leaves);
            for index in 0..leaves.len() as u64 {
                let proof = dense.inclusion_proof(index).unwrap();
                assert_eq!(proof, reference.inclusion_proof(index, leaves.len() as u64).unwrap());
            }
        }
        // Changing leaves keeps every root and proof right.
        for (step, index) in [0u64, 129, 64, 77, 1, 128, 77].into_iter().enumerate() {
            let leaf = leaf_hash(format!("changed {step}").as_bytes());
            assert!(dense.set(index, leaf));
            leaves[index as usize] = leaf;
            let root = merkle_root(&leaves);
            assert_eq!(dense.root(), root);
            for i in [0, index, 129] {
                let proof = dense.inclusion_proof(i).unwrap();
                verify_inclusion(&leaves[i as usize], i, 130, &proof, &root).unwrap();
            }
        }
        assert!(!dense.set(130, leaf_hash(b"past the end")));
        assert_eq!(dense.inclusion_proof(130), None);
    }
}
