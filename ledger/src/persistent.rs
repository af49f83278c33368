//! Persistent (copy-on-write) structures behind the project-heads map ([`crate::log::HeadsMap`]),
//! so that the writer can publish the map after every commit group for the price of one pointer
//! copy, and a group costs `O(changed chains · log n)` however many chains the map holds.
//!
//! - [`PathTree`]: an RFC 6962 Merkle tree of changeable leaves whose nodes are shared between
//!   versions (`Arc`); setting or appending a leaf copies only its path from the root (`log2 n`
//!   nodes, `log2 n` SHA-256 hashes). It has exactly the shape, roots and inclusion proofs of
//!   [`fiscus_tlog::dense::DenseTree`] (which keeps every node in flat levels and must be copied
//!   whole): a node without a right subtree carries its left hash up unchanged, which is RFC 6962's
//!   split at the largest power of two below `n` drawn as a tree of capacity `2^height`.
//! - [`IdTrie`]: a persistent hash trie from a chain id to its index (16-way, by the nibbles of a
//!   fixed hash of the id; ids with one hash share a bucket), copied along one path per insert.
//!
//! Cloning either is `O(1)`; a clone never sees later changes of the original, nor the other way.

use std::hash::{Hash as _, Hasher};
use std::sync::Arc;

use fiscus_tlog::{empty_root, node_hash, Hash};

/// A node of a [`PathTree`]: a leaf (its hash and value) or an inner node (its hash, a full left
/// subtree or the only one, and the right subtree when it has leaves).
#[derive(Debug)]
enum Node<T> {
    Leaf { hash: Hash, value: T },
    Inner { hash: Hash, left: Arc<Node<T>>, right: Option<Arc<Node<T>>> },
}

impl<T> Node<T> {
    fn hash(&self) -> &Hash {
        match self {
            Node::Leaf { hash, .. } | Node::Inner { hash, .. } => hash,
        }
    }
}

/// A persistent RFC 6962 Merkle tree of changeable leaves, each a leaf hash with a value.
#[derive(Debug)]
pub struct PathTree<T> {
    root: Option<Arc<Node<T>>>,
    len: u64,
    /// The root's height: leaves are at depth `height`, so the tree holds at most `2^height`.
    height: u32,
}

impl<T> Clone for PathTree<T> {
    fn clone(&self) -> Self {
        PathTree { root: self.root.clone(), len: self.len, height: self.height }
    }
}

impl<T> Default for PathTree<T> {
    fn default() -> Self {
        PathTree { root: None, len: 0, height: 0 }
    }
}

impl<T> PathTree<T> {
    /// An empty tree.
    pub fn new() -> PathTree<T> {
        PathTree::default()
    }

    /// Number of leaves.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True when the tree has no leaf.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The RFC 6962 root; the empty tree's is [`fiscus_tlog::empty_root`].
    pub fn root(&self) -> Hash {
        self.root.as_ref().map_or_else(empty_root, |r| *r.hash())
    }

    /// The leaf hash and value at `index`.
    pub fn get(&self, index: u64) -> Option<(&Hash, &T)> {
        if index >= self.len {
            return None;
        }
        let mut node = self.root.as_deref()?;
        let mut height = self.height;
        loop {
            match node {
                Node::Leaf { hash, value } => return Some((hash, value)),
                Node::Inner { left, right, .. } => {
                    height -= 1;
                    node = if index >> height & 1 == 0 { left } else { right.as_deref()? };
                }
            }
        }
    }

    /// Appends a leaf; answers its index.
    pub fn push(&mut self, hash: Hash, value: T) -> u64 {
        let index = self.len;
        if let Some(root) = self.root.take() {
            if self.len == 1u64 << self.height {
                // Full: the old root becomes the left half of a tree twice as large.
                let hash = *root.hash();
                self.root = Some(Arc::new(Node::Inner { hash, left: root, right: None }));
                self.height += 1;
            } else {
                self.root = Some(root);
            }
        }
        self.root = Some(put(self.root.as_ref(), self.height, index, hash, value));
        self.len += 1;
        index
    }

    /// Replaces the leaf at `index` (which must exist: `false` otherwise, nothing changed).
    pub fn set(&mut self, index: u64, hash: Hash, value: T) -> bool {
        if index >= self.len {
            return false;
        }
        self.root = Some(put(self.root.as_ref(), self.height, index, hash, value));
        true
    }

    /// The RFC 6962 inclusion proof of leaf `index` in the whole tree, leaf's sibling first;
    /// `None` past the last leaf.
    pub fn inclusion_proof(&self, index: u64) -> Option<Vec<Hash>> {
        if index >= self.len {
            return None;
        }
        let mut proof = Vec::with_capacity(self.height as usize);
        let mut node = self.root.as_deref()?;
        let mut height = self.height;
        while let Node::Inner { left, right, .. } = node {
            height -= 1;
            let go_right = index >> height & 1 == 1;
            match (go_right, right) {
                (false, Some(r)) => {
                    proof.push(*r.hash());
                    node = left;
                }
                (false, None) => node = left,
                (true, Some(r)) => {
                    proof.push(*left.hash());
                    node = r;
                }
                (true, None) => return None,
            }
        }
        proof.reverse();
        Some(proof)
    }

    /// Every leaf's value, in index order.
    pub fn values(&self) -> Vec<&T> {
        let mut out = Vec::with_capacity(usize::try_from(self.len).unwrap_or(0));
        let mut stack: Vec<&Node<T>> = self.root.as_deref().into_iter().collect();
        while let Some(node) = stack.pop() {
            match node {
                Node::Leaf { value, .. } => out.push(value),
                Node::Inner { left, right, .. } => {
                    if let Some(r) = right {
                        stack.push(r);
                    }
                    stack.push(left);
                }
            }
        }
        out
    }
}

/// The subtree of height `height` under `node` (absent: empty) with leaf `index` (relative to
/// the subtree) set to `(hash, value)`; the nodes off the path are shared.
fn put<T>(node: Option<&Arc<Node<T>>>, height: u32, index: u64, hash: Hash, value: T) -> Arc<Node<T>> {
    if height == 0 {
        return Arc::new(Node::Leaf { hash, value });
    }
    let half = height - 1;
    let (left, right) = match node.map(|n| &**n) {
        Some(Node::Inner { left, right, .. }) => (Some(left), right.as_ref()),
        _ => (None, None),
    };
    let (left, right) = if index >> half & 1 == 0 {
        (put(left, half, index, hash, value), right.cloned())
    } else {
        let left = left.cloned().expect("a tree is filled from the left: a right subtree has a left sibling");
        (left, Some(put(right, half, index & ((1u64 << half) - 1), hash, value)))
    };
    let hash = match &right {
        Some(r) => node_hash(left.hash(), r.hash()),
        None => *left.hash(),
    };
    Arc::new(Node::Inner { hash, left, right })
}

/// Bits of the key hash one trie level takes.
const TRIE_BITS: u32 = 4;
/// Children of a trie branch.
const TRIE_WIDTH: usize = 1 << TRIE_BITS;

/// A node of an [`IdTrie`].
#[derive(Debug, Clone)]
enum Trie {
    Empty,
    /// Ids with the full key hash `key` (more than one only on a 64-bit collision).
    Bucket {
        key: u64,
        ids: Arc<Vec<(String, u64)>>,
    },
    Branch(Arc<[Trie; TRIE_WIDTH]>),
}

/// A persistent map from a chain id to its index in the project-heads map.
#[derive(Debug, Clone)]
pub struct IdTrie {
    root: Trie,
}

impl Default for IdTrie {
    fn default() -> Self {
        IdTrie { root: Trie::Empty }
    }
}

/// The hash of an id (`DefaultHasher::new()`: the same for every trie of one process).
fn key_of(id: &str) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    id.hash(&mut hasher);
    hasher.finish()
}

/// The child of a branch at `depth` that `key` goes to.
fn slot(key: u64, depth: u32) -> usize {
    ((key >> (depth * TRIE_BITS)) & (TRIE_WIDTH as u64 - 1)) as usize
}

impl IdTrie {
    /// An empty map.
    pub fn new() -> IdTrie {
        IdTrie::default()
    }

    /// The index of `id`, if it has one.
    pub fn get(&self, id: &str) -> Option<u64> {
        let key = key_of(id);
        let mut node = &self.root;
        let mut depth = 0;
        loop {
            match node {
                Trie::Empty => return None,
                Trie::Bucket { key: k, ids } => {
                    return (*k == key).then(|| ids.iter().find(|(i, _)| i == id).map(|(_, at)| *at)).flatten()
                }
                Trie::Branch(children) => {
                    node = &children[slot(key, depth)];
                    depth += 1;
                }
            }
        }
    }

    /// Sets the index of `id` (a new id, or a new index for a known one).
    pub fn insert(&mut self, id: &str, index: u64) {
        let root = std::mem::replace(&mut self.root, Trie::Empty);
        self.root = insert(&root, key_of(id), 0, id, index);
    }
}

/// `node` at `depth` with `id` (key hash `key`) set to `index`; only the path is copied.
fn insert(node: &Trie, key: u64, depth: u32, id: &str, index: u64) -> Trie {
    match node {
        Trie::Empty => Trie::Bucket { key, ids: Arc::new(vec![(id.to_owned(), index)]) },
        Trie::Bucket { key: k, ids } if *k == key => {
            let mut ids = (**ids).clone();
            match ids.iter_mut().find(|(i, _)| i == id) {
                Some(entry) => entry.1 = index,
                None => ids.push((id.to_owned(), index)),
            }
            Trie::Bucket { key, ids: Arc::new(ids) }
        }
        Trie::Bucket { key: k, .. } => {
            // Two keys that differ: a branch, the old bucket under its slot, then the new id.
            let mut children: [Trie; TRIE_WIDTH] = std::array::from_fn(|_| Trie::Empty);
            children[slot(*k, depth)] = node.clone();
            insert(&Trie::Branch(Arc::new(children)), key, depth, id, index)
        }
        Trie::Branch(children) => {
            let mut children = (**children).clone();
            let at = slot(key, depth);
            children[at] = insert(&children[at], key, depth + 1, id, index);
            Trie::Branch(Arc::new(children))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fiscus_tlog::dense::DenseTree;
    use fiscus_tlog::{leaf_hash, verify_inclusion};
    use proptest::prelude::*;

    /// Appends or changes leaves of a [`PathTree`] and of a `DenseTree` alike.
    #[derive(Debug, Clone)]
    enum Op {
        Push(u32),
        Set(u64, u32),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![any::<u32>().prop_map(Op::Push), (any::<u64>(), any::<u32>()).prop_map(|(i, v)| Op::Set(i, v))]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// The persistent tree answers the same roots and proofs as the dense one after every
        /// step, and an earlier version kept aside is unchanged by later steps.
        #[test]
        fn path_tree_is_the_dense_tree(ops in proptest::collection::vec(op(), 1..200)) {
            let mut path = PathTree::new();
            let mut dense = DenseTree::new();
            let mut versions: Vec<(PathTree<u32>, Hash, u64)> = Vec::new();
            for (step, op) in ops.into_iter().enumerate() {
                let touched = match op {
                    Op::Push(v) => {
                        let leaf = leaf_hash(&v.to_be_bytes());
                        let at = path.push(leaf, v);
                        prop_assert_eq!(at, dense.push(leaf));
                        at
                    }
                    Op::Set(i, v) => {
                        let leaf = leaf_hash(&v.to_be_bytes());
                        let at = if dense.is_empty() { i } else { i % (dense.len() + 1) };
                        prop_assert_eq!(path.set(at, leaf, v), dense.set(at, leaf));
                        at
                    }
                };
                prop_assert_eq!(path.len(), dense.len());
                prop_assert_eq!(path.root(), dense.root());
                let root = dense.root();
                // Every proof now and then, else those of the ends and of the leaf just changed.
                let indexes: Vec<u64> = if step % 16 == 0 {
                    (0..=dense.len()).collect()
                } else {
                    vec![0, touched, dense.len().saturating_sub(1), dense.len()]
                };
                for index in indexes {
                    prop_assert_eq!(path.inclusion_proof(index), dense.inclusion_proof(index));
                    prop_assert_eq!(path.get(index).map(|(h, _)| *h), dense.leaf(index));
                    if let Some(proof) = path.inclusion_proof(index) {
                        let leaf = dense.leaf(index).unwrap();
                        prop_assert!(verify_inclusion(&leaf, index, dense.len(), &proof, &root).is_ok());
                    }
                }
                prop_assert_eq!(path.values().len() as u64, path.len());
                if step % 7 == 0 {
                    versions.push((path.clone(), path.root(), path.len()));
                }
            }
            for (version, root, len) in versions {
                prop_assert_eq!(version.root(), root);
                prop_assert_eq!(version.len(), len);
            }
        }

        /// The trie answers as a `HashMap` does, and a clone kept aside does not change.
        #[test]
        fn id_trie_is_a_map(ids in proptest::collection::vec(("[a-z]{1,3}", any::<u64>()), 1..200)) {
            let mut trie = IdTrie::new();
            let mut model = std::collections::HashMap::new();
            let mut versions = Vec::new();
            for (step, (id, index)) in ids.iter().enumerate() {
                trie.insert(id, *index);
                model.insert(id.clone(), *index);
                if step % 5 == 0 {
                    versions.push((trie.clone(), model.clone()));
                }
            }
            for (id, _) in &ids {
                prop_assert_eq!(trie.get(id), model.get(id).copied());
                prop_assert_eq!(trie.get(&format!("{id}-absent")), None);
            }
            for (trie, model) in versions {
                for (id, _) in &ids {
                    prop_assert_eq!(trie.get(id), model.get(id).copied());
                }
            }
        }
    }

    #[test]
    fn colliding_keys_share_a_bucket() {
        // Two ids in one bucket (forced, as a 64-bit collision would put them).
        let one = insert(&Trie::Empty, 7, 0, "a", 1);
        let both = insert(&one, 7, 0, "b", 2);
        let trie = IdTrie { root: both };
        assert!(matches!(&trie.root, Trie::Bucket { ids, .. } if ids.len() == 2));
    }
}
