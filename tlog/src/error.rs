//! The one error type of fiscus-tlog. Every parser answers one of these for bad text; none panics.

/// What went wrong in a tree, a proof, a note, a checkpoint or a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TlogError {
    /// Text or bytes that do not follow their format; `what` names the piece (for example
    /// `checkpoint tree size`), `why` says which rule it breaks.
    #[error("malformed {what}: {why}")]
    Malformed {
        /// The piece of the format: `note`, `signature line`, `checkpoint root hash`, ...
        what: &'static str,
        /// The rule it breaks.
        why: &'static str,
    },
    /// A note, a proof or a request over one of this crate's limits (bytes or lines).
    #[error("{what} is over its limit: {found} > {max}")]
    TooLarge {
        /// What was counted.
        what: &'static str,
        /// The count found (saturated at the point the parser stopped).
        found: u64,
        /// The limit.
        max: u64,
    },
    /// A leaf index at or past the tree size.
    #[error("leaf index {index} is not below the tree size {size}")]
    IndexOutOfRange {
        /// The leaf index asked for.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// A size past the tree's, or a consistency proof asked from a larger size to a smaller one.
    #[error("tree sizes {old} and {new} are out of order or past the tree (size {size})")]
    BadSizes {
        /// The older (smaller) size asked for.
        old: u64,
        /// The newer (larger) size asked for.
        new: u64,
        /// The size of the tree that was asked.
        size: u64,
    },
    /// The hash store lacks a hash the tree's shape says it holds (a damaged store).
    #[error("stored hash {index} is missing from the hash store")]
    MissingHash {
        /// The stored-hash index (see `tree::stored_hash_index`).
        index: u64,
    },
    /// The hash store failed to read.
    #[error("hash store: {0}")]
    Store(String),
    /// An inclusion proof that does not lead from the leaf to the root (RFC 9162 section 2.1.3.2).
    #[error("inclusion proof of leaf {index} in tree size {size} does not verify")]
    InclusionProofFailed {
        /// The leaf index.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// A consistency proof that does not lead from the old root to the new one (RFC 9162 section
    /// 2.1.4.2).
    #[error("consistency proof from tree size {old} to {new} does not verify")]
    ConsistencyProofFailed {
        /// The old tree size.
        old: u64,
        /// The new tree size.
        new: u64,
    },
    /// A signature from a known key that does not verify: the whole note is refused (C2SP
    /// signed-note, "Signatures").
    #[error("signature by {name} (key id {key_id:08x}) does not verify")]
    BadSignature {
        /// The key name.
        name: String,
        /// The key id.
        key_id: u32,
    },
    /// A note with no signature from any known key (C2SP signed-note: clients MUST reject it).
    #[error("no signature from a known key (the note is signed as {signed_as}; the keys known are {known})")]
    NoKnownSignature {
        /// The note's signers, `name+keyid` (hex), comma-separated, at most 8 named; "no one"
        /// when it has no signature line.
        signed_as: String,
        /// The keys it was checked against, in the same form; "none" when none.
        known: String,
    },
    /// A key name that is empty or holds a space or a `+` (C2SP signed-note).
    #[error("invalid key name {0:?}: it must be non-empty without spaces or '+'")]
    InvalidKeyName(String),
    /// A checkpoint whose origin is not the one expected.
    #[error("checkpoint origin {found:?} is not the expected {expected:?}")]
    WrongOrigin {
        /// The origin expected.
        expected: String,
        /// The origin found.
        found: String,
    },
    /// The operating system's random generator failed while making a key.
    #[error("random generator: {0}")]
    Random(String),
}

impl TlogError {
    pub(crate) fn malformed(what: &'static str, why: &'static str) -> TlogError {
        TlogError::Malformed { what, why }
    }
}

/// Why a text with CR LF line endings is refused. Signed notes, checkpoints, tlog-proofs,
/// witness requests and policies end every line with LF alone (C2SP `signed-note`,
/// `tlog-checkpoint`, `tlog-proof`, `tlog-witness`, `tlog-policy`), and a signature covers the
/// exact bytes, so a file that went through a Windows editor or a text-mode transfer is refused
/// with this hint rather than as a wrong first line or a stray control character.
pub const CRLF_LINE_ENDINGS: &str =
    "has CR LF (Windows) line endings; this format ends lines with LF alone: convert the file back (for example with `dos2unix`)";

/// Why a text with CR line endings (and no LF) is refused.
pub const CR_LINE_ENDINGS: &str =
    "has CR line endings (no LF); this format ends lines with LF alone: convert the file back (for example with `mac2unix`)";

/// Why a text starting with a byte order mark is refused.
pub const BYTE_ORDER_MARK: &str =
    "starts with a byte order mark (U+FEFF), which this format does not have: save the file without it";

/// The line (from 1) of the first CR LF in `text`, when it has one.
pub(crate) fn first_crlf_line(text: &str) -> Option<usize> {
    let at = text.find("\r\n")?;
    Some(text.get(..at).map_or(0, |before| before.matches('\n').count()) + 1)
}

/// What is wrong with a text's encoding of lines, when something is: a byte order mark
/// ([`BYTE_ORDER_MARK`], line 1), CR LF line endings ([`CRLF_LINE_ENDINGS`], the line of the
/// first), or CR line endings without any LF ([`CR_LINE_ENDINGS`], line 1). The formats of this
/// crate are UTF-8 without a byte order mark, with lines ended by LF alone.
pub(crate) fn line_encoding(text: &str) -> Option<(usize, &'static str)> {
    if text.starts_with('\u{feff}') {
        return Some((1, BYTE_ORDER_MARK));
    }
    if let Some(line) = first_crlf_line(text) {
        return Some((line, CRLF_LINE_ENDINGS));
    }
    (text.contains('\r') && !text.contains('\n')).then_some((1, CR_LINE_ENDINGS))
}

/// Refuses a text whose lines are not encoded as these formats have them ([`line_encoding`]) as a
/// malformed `what`, saying what is wrong.
pub(crate) fn lf_only(what: &'static str, text: &str) -> Result<(), TlogError> {
    match line_encoding(text) {
        Some((_, why)) => Err(TlogError::malformed(what, why)),
        None => Ok(()),
    }
}
