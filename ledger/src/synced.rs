//! The synced head: the last commit a store synced, kept outside sled in the store's folder
//! (file [`SYNCED_FILE`]) so that a store that lost its end is not taken for the whole store.
//!
//! sled takes a record of its log that fails its checksum for the torn end of a write cut short
//! by a crash: it recovers the log up to there and drops the rest. One damaged byte in its `db`
//! file therefore opens as a store whose last commits, already synced and answered, never
//! happened, and every chain, the commit chain and the log still verify. After every synced commit
//! group the store writes the group's last commit (number and commit-chain hash) here; when it
//! opens, a commit head behind this one, or another commit at its number, is damage
//! ([`check`]). The file is written after the group's sync and not synced itself: after a power
//! loss it may be behind the store, never ahead of it. It guards against damage, not against
//! whoever may write the folder (who can rewrite both): clients, witnesses and kept checkpoints do
//! that (`docs/FORMAT.md`, sections 8 and 9).
//!
//! Format (`docs/FORMAT.md` section 5): two slots of [`SLOT_BYTES`] bytes, the commit numbered `n`
//! written in slot `n mod 2`, so that a write torn by a power loss spoils one slot and leaves the
//! other. A slot is `u64 BE commit number ‖ 32-byte commit hash ‖ the first 16 bytes of blake3
//! (derive-key "fiscus synced head v1") of the 40 bytes before`; the valid slot with the higher
//! number is the synced head.

use std::fs::File;
use std::io;
use std::path::Path;

use crate::chain::Hash;

/// The file's name in the store's folder.
pub const SYNCED_FILE: &str = "synced";

/// Bytes of one slot.
pub const SLOT_BYTES: usize = 56;

/// blake3 derive-key context of a slot's check.
const CONTEXT: &str = "fiscus synced head v1";

/// The last commit a store synced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncedHead {
    /// The commit's number.
    pub number: u64,
    /// Its commit-chain hash.
    pub hash: Hash,
}

impl SyncedHead {
    fn slot(&self) -> [u8; SLOT_BYTES] {
        let mut slot = [0u8; SLOT_BYTES];
        slot[..8].copy_from_slice(&self.number.to_be_bytes());
        slot[8..40].copy_from_slice(&self.hash);
        let check = blake3::Hasher::new_derive_key(CONTEXT).update(&slot[..40]).finalize();
        slot[40..].copy_from_slice(&check.as_bytes()[..16]);
        slot
    }

    fn parse(slot: &[u8]) -> Option<SyncedHead> {
        let body = slot.get(..40)?;
        let check = blake3::Hasher::new_derive_key(CONTEXT).update(body).finalize();
        if slot.get(40..SLOT_BYTES)? != &check.as_bytes()[..16] {
            return None;
        }
        let number = u64::from_be_bytes(body.get(..8)?.try_into().ok()?);
        let hash = body.get(8..40)?.try_into().ok()?;
        Some(SyncedHead { number, hash })
    }
}

/// The synced head the file in `dir` holds: `Ok(None)` when there is no file (a store made before
/// it existed, or a new one); an error when the file is there but neither slot is valid.
pub fn read(dir: &Path) -> io::Result<Option<SyncedHead>> {
    let bytes = match std::fs::read(dir.join(SYNCED_FILE)) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let best = bytes.chunks(SLOT_BYTES).take(2).filter_map(SyncedHead::parse).max_by_key(|h| h.number);
    match best {
        Some(head) => Ok(Some(head)),
        None if bytes.is_empty() => Ok(None),
        None => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: neither of its slots holds a valid synced head", dir.join(SYNCED_FILE).display()),
        )),
    }
}

/// The store's problem with its synced head, in words, when it has one: `head` is the commit
/// head replay found, `hash_at` the commit-chain hash of a commit of the store by number.
pub fn check(synced: SyncedHead, head: u64, hash_at: impl FnOnce(u64) -> Option<Hash>) -> Option<String> {
    if synced.number > head {
        return Some(format!(
            "the store holds {head} commits, but commit {} was synced and answered before (file {SYNCED_FILE}): \
             the store lost its end (a damaged or truncated file); restore it from a backup or an archive",
            synced.number
        ));
    }
    if synced.number > 0 && hash_at(synced.number) != Some(synced.hash) {
        return Some(format!(
            "commit {} is not the commit synced and answered as commit {} before (file {SYNCED_FILE}): the store's \
             history was replaced",
            synced.number, synced.number
        ));
    }
    None
}

/// The open file, written after every synced commit group.
#[derive(Debug)]
pub struct SyncedFile {
    file: File,
}

impl SyncedFile {
    /// Opens (creating, owner-only) the file in `dir`.
    pub fn open(dir: &Path) -> io::Result<SyncedFile> {
        let mut options = std::fs::OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(crate::private::FILE_MODE);
        }
        Ok(SyncedFile { file: options.open(dir.join(SYNCED_FILE))? })
    }

    /// Writes `head` in its slot (not synced: see the module's documentation).
    pub fn write(&self, head: SyncedHead) -> io::Result<()> {
        let at = (head.number % 2) * SLOT_BYTES as u64;
        write_at(&self.file, &head.slot(), at)
    }
}

#[cfg(unix)]
fn write_at(file: &File, bytes: &[u8], at: u64) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    file.write_all_at(bytes, at)
}

#[cfg(not(unix))]
fn write_at(mut file: &File, bytes: &[u8], at: u64) -> io::Result<()> {
    use std::io::{Seek, SeekFrom, Write};
    file.seek(SeekFrom::Start(at))?;
    file.write_all(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_valid_slot_with_the_higher_number_is_the_head() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(dir.path()).unwrap(), None);
        let file = SyncedFile::open(dir.path()).unwrap();
        for number in 1..=5u64 {
            file.write(SyncedHead { number, hash: [number as u8; 32] }).unwrap();
        }
        assert_eq!(read(dir.path()).unwrap(), Some(SyncedHead { number: 5, hash: [5; 32] }));
        // a write torn in slot 1 (commit 5's) leaves commit 4's in slot 0
        let path = dir.path().join(SYNCED_FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[SLOT_BYTES + 3] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(read(dir.path()).unwrap(), Some(SyncedHead { number: 4, hash: [4; 32] }));
        bytes[3] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        assert!(read(dir.path()).is_err(), "neither slot valid");
    }

    #[test]
    fn a_store_behind_its_synced_head_or_with_another_commit_there_is_named() {
        let synced = SyncedHead { number: 7, hash: [7; 32] };
        let said = check(synced, 5, |_| None).unwrap();
        assert!(said.contains("holds 5 commits") && said.contains("commit 7"), "{said}");
        let said = check(synced, 9, |_| Some([8; 32])).unwrap();
        assert!(said.contains("commit 7 is not"), "{said}");
        assert_eq!(check(synced, 9, |n| (n == 7).then_some([7; 32])), None);
        assert_eq!(check(SyncedHead { number: 0, hash: [0; 32] }, 0, |_| None), None);
    }
}
