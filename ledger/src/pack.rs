//! Compression of sealed chunks.
//!
//! With zstd 0.9, the release sled itself links: two releases cannot both link libzstd.
//!
//! A sealed chunk (of records under `r`, of commit log entries under `c`) is written once and never
//! changed, so it is compressed once, as one zstd frame, with a context the writer keeps. Values
//! still growing (a project's unsealed tail, the newest commits) stay plain: compressing them would
//! cost every commit. sled's own page compression is off; it made a fresh zstd context for every
//! page a commit touched, which was half of the writer's time.
//!
//! A stored value is either the framed items themselves (each `u32 LE length ‖ bytes`) or a zstd
//! frame whose content is exactly those framed items. A zstd frame starts with [`ZSTD_MAGIC`]; read
//! as a frame length, those four bytes give 4,247,762,216, more than any item may hold, so the two
//! cannot be confused. Hashes are always over the items' own bytes, never over a compressed value.

use std::borrow::Cow;

use crate::error::LedgerError;

/// The first four bytes of every zstd frame.
pub const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];

/// The largest plain content a compressed value may hold. Bigger chunks (commit log chunks of
/// commits with many events) are stored plain; a compressed value claiming more is refused unread.
pub const PACKED_BYTES_MAX: usize = 8 << 20;

/// zstd level of sealed chunks: written once per chunk, read on every replay. Level 3 is zstd's
/// default; higher levels cost the writer more for a few percent less.
pub const PACK_LEVEL: i32 = 3;

/// `ZSTD_getFrameContentSize` of a frame that does not give its size.
const CONTENT_SIZE_UNKNOWN: u64 = u64::MAX;
/// `ZSTD_getFrameContentSize` of a damaged frame header.
const CONTENT_SIZE_ERROR: u64 = u64::MAX - 1;

/// True when `value` is a compressed value.
pub fn is_packed(value: &[u8]) -> bool {
    value.starts_with(&ZSTD_MAGIC)
}

/// Compresses sealed chunks, reusing one zstd context.
#[derive(Default)]
pub struct Packer {
    compressor: zstd::block::Compressor,
}

impl Packer {
    /// A packer at [`PACK_LEVEL`].
    pub fn new() -> Packer {
        Packer::default()
    }

    /// The stored form of a sealed chunk's framed items: compressed, unless that would not be
    /// smaller or the chunk is larger than [`PACKED_BYTES_MAX`].
    pub fn pack(&mut self, plain: Vec<u8>) -> Result<Vec<u8>, LedgerError> {
        if plain.len() > PACKED_BYTES_MAX || is_packed(&plain) {
            return Ok(plain);
        }
        // one frame, its content size in the header
        let packed = self.compressor.compress(&plain, PACK_LEVEL)?;
        Ok(if packed.len() < plain.len() { packed } else { plain })
    }
}

/// Reads stored values, reusing one zstd context (made at the first compressed value).
#[derive(Default)]
pub struct Unpacker {
    decompressor: Option<zstd::block::Decompressor>,
}

impl Unpacker {
    /// A new reader of stored values.
    pub fn new() -> Unpacker {
        Unpacker::default()
    }

    /// The framed items a stored value holds: the value itself, or its decompressed content.
    /// A compressed value that does not decompress, or that claims more than [`PACKED_BYTES_MAX`]
    /// bytes, is a [`LedgerError::Format`].
    pub fn unpack<'v>(&mut self, value: &'v [u8]) -> Result<Cow<'v, [u8]>, LedgerError> {
        if !is_packed(value) {
            return Ok(Cow::Borrowed(value));
        }
        let size = match zstd::zstd_safe::get_frame_content_size(value) {
            CONTENT_SIZE_UNKNOWN => {
                return Err(LedgerError::Format("a compressed chunk does not give its size".to_owned()))
            }
            CONTENT_SIZE_ERROR => {
                return Err(LedgerError::Format("a compressed chunk has a damaged header".to_owned()))
            }
            size => size,
        };
        let size = usize::try_from(size).unwrap_or(usize::MAX);
        if size > PACKED_BYTES_MAX {
            return Err(LedgerError::Format(format!(
                "a compressed chunk claims {size} bytes; at most {PACKED_BYTES_MAX} are allowed"
            )));
        }
        let decompressor = match &mut self.decompressor {
            Some(d) => d,
            None => self.decompressor.insert(zstd::block::Decompressor::new()),
        };
        let plain = decompressor
            .decompress(value, size)
            .map_err(|e| LedgerError::Format(format!("a compressed chunk does not decompress: {e}")))?;
        if plain.len() != size {
            return Err(LedgerError::Format(format!(
                "a compressed chunk holds {} bytes where its header says {size}",
                plain.len()
            )));
        }
        Ok(Cow::Owned(plain))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{push_framed, Framed};

    fn chunk() -> Vec<u8> {
        let mut plain = Vec::new();
        for i in 0..32u32 {
            push_framed(&mut plain, format!("record {i} of a chunk, with some repeated text").as_bytes());
        }
        plain
    }

    #[test]
    fn a_packed_chunk_unpacks_to_its_items() {
        let plain = chunk();
        let packed = Packer::new().pack(plain.clone()).expect("pack");
        assert!(is_packed(&packed) && packed.len() < plain.len());
        let mut unpacker = Unpacker::new();
        let back = unpacker.unpack(&packed).expect("unpack");
        assert_eq!(back.as_ref(), plain.as_slice());
        assert_eq!(Framed::new(&back).count(), 32);
        // a plain value is its own content
        assert!(matches!(unpacker.unpack(&plain).expect("plain"), Cow::Borrowed(_)));
    }

    #[test]
    fn the_magic_is_never_a_frame_length() {
        let as_length = u32::from_le_bytes(ZSTD_MAGIC) as usize;
        assert!(as_length > crate::record::VALUE_BYTES_MAX);
        assert!(as_length > PACKED_BYTES_MAX);
    }

    #[test]
    fn damaged_or_oversized_chunks_are_refused() {
        let packed = Packer::new().pack(chunk()).expect("pack");
        let mut unpacker = Unpacker::new();
        let mut cut = packed.clone();
        cut.truncate(packed.len() - 5);
        assert!(unpacker.unpack(&cut).is_err(), "a truncated frame");
        let big = zstd::block::compress(&vec![0u8; PACKED_BYTES_MAX + 1], 1).expect("compress");
        let err = unpacker.unpack(&big).expect_err("too big");
        assert!(err.to_string().contains("at most"), "{err}");
    }
}
