//! Verifying inclusion and consistency proofs, exactly as RFC 9162 sections 2.1.3.2 and 2.1.4.2
//! write the algorithms (their proofs are the RFC 6962 section 2.1.1 and 2.1.2 ones).
//!
//! Both run in `O(proof length)` and refuse a proof longer than [`PROOF_HASHES_MAX`] before
//! reading it, so a proof from outside cannot make them loop or panic.

use crate::error::TlogError;
use crate::hash::{node_hash, Hash};

/// The most hashes an inclusion or consistency proof of a tree of up to 2^64 - 1 leaves needs
/// (tlog-witness: "The client MUST NOT send more than 63 consistency proof lines"; an inclusion
/// proof in a tree of 2^63 leaves or more would need 64).
pub const PROOF_HASHES_MAX: usize = 64;

/// Checks that `proof` shows the leaf with leaf hash `leaf` at `index` in the tree of `size`
/// leaves whose root is `root` (RFC 9162 section 2.1.3.2).
///
/// Errors: `TlogError::IndexOutOfRange` when `index >= size`, `TlogError::TooLarge` for a proof of
/// more than [`PROOF_HASHES_MAX`] hashes, `TlogError::InclusionProofFailed` otherwise.
pub fn verify_inclusion(leaf: &Hash, index: u64, size: u64, proof: &[Hash], root: &Hash) -> Result<(), TlogError> {
    // 1. leaf_index >= tree_size fails.
    if index >= size {
        return Err(TlogError::IndexOutOfRange { index, size });
    }
    if proof.len() > PROOF_HASHES_MAX {
        return Err(TlogError::TooLarge { what: "inclusion proof hashes", found: proof.len() as u64, max: 64 });
    }
    let failed = TlogError::InclusionProofFailed { index, size };
    // 2. fn = leaf_index, sn = tree_size - 1. 3. r = hash.
    let mut f_n = index;
    let mut s_n = size - 1;
    let mut r = *leaf;
    // 4. For each p in inclusion_path:
    for p in proof {
        // a. If sn is 0, stop and fail.
        if s_n == 0 {
            return Err(failed);
        }
        // b. If LSB(fn) is set, or fn == sn:
        if f_n & 1 == 1 || f_n == s_n {
            r = node_hash(p, &r);
            // If LSB(fn) is not set, right-shift both until LSB(fn) is set or fn is 0.
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        // c. Right-shift both once.
        f_n >>= 1;
        s_n >>= 1;
    }
    // 5. sn must be 0 and r the root.
    if s_n == 0 && r == *root {
        Ok(())
    } else {
        Err(failed)
    }
}

/// The root an inclusion proof leads to, for callers that check it against a signed root
/// elsewhere; `None` when the proof's shape does not fit `index` in `size` (RFC 9162 section
/// 2.1.3.2 without the final comparison).
pub fn root_from_inclusion(leaf: &Hash, index: u64, size: u64, proof: &[Hash]) -> Option<Hash> {
    if index >= size || proof.len() > PROOF_HASHES_MAX {
        return None;
    }
    let mut f_n = index;
    let mut s_n = size - 1;
    let mut r = *leaf;
    for p in proof {
        if s_n == 0 {
            return None;
        }
        if f_n & 1 == 1 || f_n == s_n {
            r = node_hash(p, &r);
            while f_n & 1 == 0 && f_n != 0 {
                f_n >>= 1;
                s_n >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    (s_n == 0).then_some(r)
}

/// Checks that `proof` shows the tree of `old_size` leaves with root `old_root` to be a prefix of
/// the tree of `new_size` leaves with root `new_root` (RFC 9162 section 2.1.4.2).
///
/// Two cases the RFC's algorithm leaves out are settled as tlog-witness settles them: from size
/// 0 every tree is consistent and the proof must be empty; between equal sizes the proof must be
/// empty and the roots equal.
///
/// Errors: `TlogError::BadSizes` when `old_size > new_size`, `TlogError::TooLarge` for a proof of
/// more than [`PROOF_HASHES_MAX`] hashes, `TlogError::ConsistencyProofFailed` otherwise.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), TlogError> {
    if old_size > new_size {
        return Err(TlogError::BadSizes { old: old_size, new: new_size, size: new_size });
    }
    if proof.len() > PROOF_HASHES_MAX {
        return Err(TlogError::TooLarge { what: "consistency proof hashes", found: proof.len() as u64, max: 64 });
    }
    let failed = TlogError::ConsistencyProofFailed { old: old_size, new: new_size };
    if old_size == 0 {
        return if proof.is_empty() { Ok(()) } else { Err(failed) };
    }
    if old_size == new_size {
        return if proof.is_empty() && old_root == new_root { Ok(()) } else { Err(failed) };
    }
    // 1. An empty consistency_path fails.
    let Some((first, rest)) = proof.split_first() else {
        return Err(failed);
    };
    // 2. If first is an exact power of 2, prepend first_hash to the path.
    let (start, path) = if old_size.is_power_of_two() { (*old_root, proof) } else { (*first, rest) };
    // 3. fn = first - 1, sn = second - 1.
    let mut f_n = old_size - 1;
    let mut s_n = new_size - 1;
    // 4. If LSB(fn) is set, right-shift both until LSB(fn) is not set.
    while f_n & 1 == 1 {
        f_n >>= 1;
        s_n >>= 1;
    }
    // 5. fr = sr = the first value of the path.
    let mut f_r = start;
    let mut s_r = start;
    // 6. For each subsequent value c:
    for c in path {
        // If sn is 0, stop and fail.
        if s_n == 0 {
            return Err(failed);
        }
        if f_n & 1 == 1 || f_n == s_n {
            f_r = node_hash(c, &f_r);
            s_r = node_hash(c, &s_r);
            // If LSB(fn) is not set, right-shift both until LSB(fn) is set or fn is 0.
            while f_n & 1 == 0 && f_n != 0 {
                f_n >>= 1;
                s_n >>= 1;
            }
        } else {
            s_r = node_hash(&s_r, c);
        }
        // Finally right-shift both once.
        f_n >>= 1;
        s_n >>= 1;
    }
    // 7. fr must be first_hash, sr second_hash, and sn 0.
    if f_r == *old_root && s_r == *new_root && s_n == 0 {
        Ok(())
    } else {
        Err(failed)
    }
}
