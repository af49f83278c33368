//! RFC 6962 hashing: SHA-256 with domain separation between leaves and interior nodes.
//!
//! RFC 6962 section 2.1 (and RFC 9162 section 2.1.1): the hash of a leaf is
//! `SHA-256(0x00 || data)`, the hash of an interior node `SHA-256(0x01 || left || right)`, and the
//! hash of the empty tree `SHA-256()` (the hash of no bytes). The two prefixes keep a node from
//! posing as a leaf (a second-preimage attack).

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::error::TlogError;

/// Bytes in a hash: SHA-256.
pub const HASH_BYTES: usize = 32;

/// A SHA-256 hash of a leaf, an interior node or a tree (a root).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Hash(pub [u8; HASH_BYTES]);

impl Hash {
    /// The hash as the standard base64 of RFC 4648 section 4, as checkpoints and proofs write it.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    /// Parses a standard base64 hash (44 characters with padding); anything else, including
    /// non-canonical trailing bits or a length other than 32 bytes, is `TlogError::Malformed`.
    pub fn from_base64(text: &str) -> Result<Hash, TlogError> {
        // 32 bytes are 44 characters; longer input is refused before it is decoded.
        if text.len() != 44 {
            return Err(TlogError::malformed("hash", "not 44 characters of base64"));
        }
        let bytes = STANDARD.decode(text).map_err(|_| TlogError::malformed("hash", "not standard base64"))?;
        let array: [u8; HASH_BYTES] =
            bytes.try_into().map_err(|_| TlogError::malformed("hash", "not 32 bytes of base64"))?;
        Ok(Hash(array))
    }

    /// The hash as 64 lowercase hexadecimal digits (for logs and test vectors).
    pub fn to_hex(&self) -> String {
        let mut out = String::with_capacity(2 * HASH_BYTES);
        for byte in self.0 {
            out.push_str(&format!("{byte:02x}"));
        }
        out
    }
}

impl std::fmt::Debug for Hash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Hash({})", self.to_hex())
    }
}

impl std::fmt::Display for Hash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_base64())
    }
}

/// The hash of a leaf holding `data`: `SHA-256(0x00 || data)` (RFC 6962 section 2.1).
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x00]);
    hasher.update(data);
    Hash(hasher.finalize().into())
}

/// The hash of an interior node: `SHA-256(0x01 || left || right)` (RFC 6962 section 2.1).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut buffer = [0u8; 1 + 2 * HASH_BYTES];
    buffer[0] = 0x01;
    buffer[1..1 + HASH_BYTES].copy_from_slice(&left.0);
    buffer[1 + HASH_BYTES..].copy_from_slice(&right.0);
    Hash(Sha256::digest(buffer).into())
}

/// The root of the empty tree: `SHA-256()` of no bytes (RFC 6962 section 2.1), which is
/// `47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=`.
///
/// Go's `sumdb/tlog.TreeHash(0)` answers all zeros instead; Fiscus follows the RFC, and never
/// signs a checkpoint of size 0.
pub fn empty_root() -> Hash {
    Hash(Sha256::digest([]).into())
}

/// The Merkle Tree Hash `MTH(D[n])` of RFC 6962 section 2.1 computed from the leaf hashes by
/// its recursive definition: for `n > 1`, `k` is the largest power of two smaller than `n` and the
/// root is `node_hash(MTH(D[0:k]), MTH(D[k:n]))`.
///
/// This is the reference the incremental tree and the proofs are tested against; it reads every
/// leaf, so it is for tests and small trees only.
pub fn merkle_root(leaves: &[Hash]) -> Hash {
    match leaves {
        [] => empty_root(),
        [only] => *only,
        _ => {
            let split = largest_power_of_two_below(leaves.len() as u64) as usize;
            let (left, right) = leaves.split_at(split);
            node_hash(&merkle_root(left), &merkle_root(right))
        }
    }
}

/// The largest power of two strictly smaller than `n` (`n >= 2`), the `k` of RFC 6962's split.
pub(crate) fn largest_power_of_two_below(n: u64) -> u64 {
    debug_assert!(n >= 2, "the split is defined for two leaves or more");
    1u64 << (63 - (n - 1).leading_zeros())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_points() {
        assert_eq!(largest_power_of_two_below(2), 1);
        assert_eq!(largest_power_of_two_below(3), 2);
        assert_eq!(largest_power_of_two_below(4), 2);
        assert_eq!(largest_power_of_two_below(5), 4);
        assert_eq!(largest_power_of_two_below(8), 4);
        assert_eq!(largest_power_of_two_below(9), 8);
        assert_eq!(largest_power_of_two_below(u64::MAX), 1 << 63);
    }

    #[test]
    fn empty_root_is_sha256_of_nothing() {
        assert_eq!(empty_root().to_base64(), "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
    }

    #[test]
    fn base64_round_trip_and_refusals() {
        let hash = leaf_hash(b"x");
        assert_eq!(Hash::from_base64(&hash.to_base64()).unwrap(), hash);
        assert!(Hash::from_base64("").is_err());
        assert!(Hash::from_base64("AAAA").is_err());
        // 44 characters that are not base64.
        assert!(Hash::from_base64(&"!".repeat(44)).is_err());
        // Non-canonical trailing bits: the last character before '=' must have its low bits clear.
        assert!(Hash::from_base64("47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFV=").is_err());
    }
}
