//! Known-answer vectors: the RFC 6962 tree of Certificate Transparency's reference tests (eight
//! leaves, their roots, inclusion and consistency proofs), and Go's signed-note example.

use fiscus_tlog::{
    empty_root, leaf_hash, merkle_root, verify_consistency, verify_inclusion, Hash, MemoryTree, Note, NoteSigner,
    NoteVerifier,
};

/// The leaf data of Certificate Transparency's reference tree, hex.
const LEAVES: [&str; 8] =
    ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"];

/// Roots of the first 0..=8 leaves (size 0 is SHA-256 of nothing).
const ROOTS: [&str; 9] = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

/// (leaf index, tree size, inclusion proof).
const INCLUSION: [(u64, u64, &[&str]); 2] = [
    (
        0,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        &[
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
];

/// (old size, new size, consistency proof).
const CONSISTENCY: [(u64, u64, &[&str]); 2] = [
    (
        2,
        8,
        &[
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
];

fn h(hex_text: &str) -> Hash {
    Hash(hex::decode(hex_text).unwrap().try_into().unwrap())
}

fn tree() -> (Vec<Hash>, MemoryTree) {
    let leaves: Vec<Hash> = LEAVES.iter().map(|data| leaf_hash(&hex::decode(data).unwrap())).collect();
    let mut tree = MemoryTree::new();
    tree.append_all(&leaves);
    (leaves, tree)
}

#[test]
fn roots_match_the_reference_tree() {
    let (leaves, tree) = tree();
    assert_eq!(empty_root(), h(ROOTS[0]));
    for (size, root) in ROOTS.iter().enumerate() {
        assert_eq!(tree.root_at(size as u64).unwrap(), h(root), "size {size}");
        assert_eq!(merkle_root(&leaves[..size]), h(root), "size {size}");
    }
}

#[test]
fn inclusion_proofs_match_the_reference() {
    let (leaves, tree) = tree();
    for (index, size, expected) in INCLUSION {
        let expected: Vec<Hash> = expected.iter().map(|x| h(x)).collect();
        assert_eq!(tree.inclusion_proof(index, size).unwrap(), expected);
        let root = h(ROOTS[size as usize]);
        verify_inclusion(&leaves[index as usize], index, size, &expected, &root).unwrap();
    }
}

#[test]
fn consistency_proofs_match_the_reference() {
    let (_, tree) = tree();
    for (old, new, expected) in CONSISTENCY {
        let expected: Vec<Hash> = expected.iter().map(|x| h(x)).collect();
        assert_eq!(tree.consistency_proof(old, new).unwrap(), expected);
        verify_consistency(old, new, &h(ROOTS[old as usize]), &h(ROOTS[new as usize]), &expected).unwrap();
    }
}

/// A node posing as a leaf: the hash of the first two leaves' node, offered as any leaf of the
/// tree of size 4 with the remaining proof, does not verify against that tree's root: the path
/// length is bound to the size the signed checkpoint gives, and leaves and nodes hash with
/// different prefixes.
#[test]
fn a_node_does_not_pass_as_a_leaf() {
    let (leaves, tree) = tree();
    let node = fiscus_tlog::node_hash(&leaves[0], &leaves[1]);
    let proof = tree.inclusion_proof(0, 4).unwrap();
    let root = tree.root_at(4).unwrap();
    verify_inclusion(&leaves[0], 0, 4, &proof, &root).unwrap();
    for index in 0..4 {
        assert!(verify_inclusion(&node, index, 4, &proof[1..], &root).is_err());
        assert!(verify_inclusion(&node, index, 4, &proof, &root).is_err());
    }
}

/// The example of Go's `golang.org/x/mod/sumdb/note` documentation, signed again by this crate:
/// Ed25519 is deterministic, so the bytes must be Go's.
#[test]
fn go_note_example() {
    let signer =
        NoteSigner::from_signer_key("PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz")
            .unwrap();
    let text = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
    let expected = format!(
        "{text}\n\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
    );
    assert_eq!(signer.sign_note(text).unwrap().to_text(), expected);
    let verifier =
        NoteVerifier::from_verifier_key("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW").unwrap();
    Note::parse(&expected).unwrap().verify(&[verifier]).unwrap();
}
