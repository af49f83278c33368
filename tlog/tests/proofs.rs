//! RFC 6962 proofs checked against the RFC's own recursive definitions, over many tree sizes:
//! `PATH(m, D[n])` (section 2.1.1) and `PROOF(m, D[n])` / `SUBPROOF` (section 2.1.2), computed
//! from every leaf by brute force, must equal what the incremental tree builds from its stored
//! hashes; the RFC 9162 verifiers must accept them and refuse every altered one.

use fiscus_tlog::hash::merkle_root;
use fiscus_tlog::{leaf_hash, verify_consistency, verify_inclusion, Hash, MemoryTree};
use proptest::prelude::*;

fn split(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// RFC 6962 section 2.1.1 `PATH(m, D[n])`.
fn path(m: usize, leaves: &[Hash]) -> Vec<Hash> {
    let n = leaves.len();
    if n <= 1 {
        return Vec::new();
    }
    let k = split(n);
    if m < k {
        let mut out = path(m, &leaves[..k]);
        out.push(merkle_root(&leaves[k..]));
        out
    } else {
        let mut out = path(m - k, &leaves[k..]);
        out.push(merkle_root(&leaves[..k]));
        out
    }
}

/// RFC 6962 section 2.1.2 `SUBPROOF(m, D[n], b)`.
fn subproof(m: usize, leaves: &[Hash], complete: bool) -> Vec<Hash> {
    let n = leaves.len();
    if m == n {
        return if complete { Vec::new() } else { vec![merkle_root(leaves)] };
    }
    let k = split(n);
    if m <= k {
        let mut out = subproof(m, &leaves[..k], complete);
        out.push(merkle_root(&leaves[k..]));
        out
    } else {
        let mut out = subproof(m - k, &leaves[k..], false);
        out.push(merkle_root(&leaves[..k]));
        out
    }
}

fn leaves(n: usize, seed: u64) -> Vec<Hash> {
    (0..n as u64).map(|i| leaf_hash(&(i ^ seed.rotate_left(17)).to_be_bytes())).collect()
}

fn tree_of(leaves: &[Hash]) -> MemoryTree {
    let mut tree = MemoryTree::new();
    tree.append_all(leaves);
    tree
}

fn altered(proof: &[Hash]) -> Vec<Vec<Hash>> {
    let mut out = Vec::new();
    for i in 0..proof.len() {
        let mut flipped = proof.to_vec();
        flipped[i].0[i % 32] ^= 1;
        out.push(flipped);
    }
    if !proof.is_empty() {
        out.push(proof[..proof.len() - 1].to_vec());
        out.push(proof[1..].to_vec());
    }
    let mut longer = proof.to_vec();
    longer.push(leaf_hash(b"extra"));
    out.push(longer);
    if proof.len() >= 2 && proof[0] != proof[1] {
        let mut swapped = proof.to_vec();
        swapped.swap(0, 1);
        out.push(swapped);
    }
    out
}

#[test]
fn every_proof_of_small_trees() {
    let all = leaves(40, 7);
    let tree = tree_of(&all);
    for size in 1..=all.len() {
        let root = merkle_root(&all[..size]);
        for index in 0..size {
            let proof = tree.inclusion_proof(index as u64, size as u64).unwrap();
            assert_eq!(proof, path(index, &all[..size]), "PATH({index}, D[{size}])");
            verify_inclusion(&all[index], index as u64, size as u64, &proof, &root).unwrap();
            for bad in altered(&proof) {
                assert!(verify_inclusion(&all[index], index as u64, size as u64, &bad, &root).is_err());
            }
            // The right proof for another index or size fails.
            if index + 1 < size {
                assert!(verify_inclusion(&all[index], index as u64 + 1, size as u64, &proof, &root).is_err());
            }
        }
        for old in 0..=size {
            let proof = tree.consistency_proof(old as u64, size as u64).unwrap();
            let expected = if old == 0 { Vec::new() } else { subproof(old, &all[..size], true) };
            assert_eq!(proof, expected, "PROOF({old}, D[{size}])");
            let old_root = merkle_root(&all[..old]);
            verify_consistency(old as u64, size as u64, &old_root, &root, &proof).unwrap();
            for bad in altered(&proof) {
                assert!(verify_consistency(old as u64, size as u64, &old_root, &root, &bad).is_err(), "{old} {size}");
            }
            if old > 0 && old < size {
                // Another old root (a forked history) fails.
                let forked = merkle_root(&leaves(old, 99));
                assert!(verify_consistency(old as u64, size as u64, &forked, &root, &proof).is_err());
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Proofs of random leaves in trees of random sizes up to 1,500 equal the brute-force ones.
    #[test]
    fn proofs_equal_the_definitions(size in 1usize..1_500, index_seed: u64, old_seed: u64, seed: u64) {
        let all = leaves(size, seed);
        let tree = tree_of(&all);
        let root = merkle_root(&all);
        prop_assert_eq!(tree.root(), root);
        let index = (index_seed % size as u64) as usize;
        let proof = tree.inclusion_proof(index as u64, size as u64).unwrap();
        prop_assert_eq!(&proof, &path(index, &all));
        prop_assert!(verify_inclusion(&all[index], index as u64, size as u64, &proof, &root).is_ok());
        let old = (old_seed % (size as u64 + 1)) as usize;
        let proof = tree.consistency_proof(old as u64, size as u64).unwrap();
        if old > 0 {
            prop_assert_eq!(&proof, &subproof(old, &all, true));
        }
        let old_root = tree.root_at(old as u64).unwrap();
        prop_assert_eq!(old_root, merkle_root(&all[..old]));
        prop_assert!(verify_consistency(old as u64, size as u64, &old_root, &root, &proof).is_ok());
    }

    /// The verifiers never panic on arbitrary input.
    #[test]
    fn verifiers_take_any_input(index: u64, size: u64, old: u64, proof in prop::collection::vec(any::<[u8; 32]>(), 0..70)) {
        let proof: Vec<Hash> = proof.into_iter().map(Hash).collect();
        let root = leaf_hash(b"root");
        let _ = verify_inclusion(&leaf_hash(b"leaf"), index, size, &proof, &root);
        let _ = verify_consistency(old, size, &root, &root, &proof);
    }
}
