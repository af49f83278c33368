//! The synced head: the last commit a store synced, kept outside sled in the store's folder
//! (file [`SYNCED_FILE`]) so that a store that lost its end is not taken for the whole store.
//!
//! sled takes a record of its log that fails its checksum for the torn end of a write cut short
//! by a crash: it recovers the log up to there and drops the rest. One damaged byte in its `db`
//! file therefore opens as a store whose last commits, already synced and answered, never
//! happened, and every chain, the commit chain and the log still verify. After every synced commit
//! group the store writes the group's last commit (number and commit-chain hash) here; when it
//! opens, a commit head behind this one, or another commit at its number, is damage
//! ([`check`]), as is a file that is there but holds no valid slot, or is not a regular file
//! ([`read`]). The file is made whole or not at all ([`SyncedFile::create`]), then written in
//! place after each group's sync and not synced itself: after a power loss it may be behind the
//! store, never ahead of it. It guards against damage, not against
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
use crate::files::Links;

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

/// What to do when the store's files are known whole and the file is not (for example after a
/// restore of `db` and `conf` alone from a backup).
const IF_WHOLE: &str = "if the store's files are known to be whole (restored from a backup), remove the file \
                        and open the store again";

fn invalid(path: &Path, why: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("{}: {why}", path.display()))
}

/// The synced head the file in `dir` holds: `Ok(None)` when there is no file (a store made before
/// it existed, or a new one). An error, naming the file, when it is there but is not a regular
/// file (a link, a folder, a pipe or a device: it is never followed nor opened), cannot be read,
/// or holds no valid slot (an empty file included: the file is made whole or not at all, see
/// [`SyncedFile::create`]). It is read as the store's other files are
/// ([`crate::files::read_bounded`]): at most its two slots' bytes.
pub fn read(dir: &Path) -> io::Result<Option<SyncedHead>> {
    let path = dir.join(SYNCED_FILE);
    let bytes = match crate::files::read_bounded(&path, 2 * SLOT_BYTES as u64, "synced head", Links::Refuse) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(invalid(&path, format!("{e}; {IF_WHOLE}"))),
    };
    let best = bytes.chunks(SLOT_BYTES).filter_map(SyncedHead::parse).max_by_key(|h| h.number);
    match best {
        Some(head) => Ok(Some(head)),
        None if bytes.is_empty() => Err(invalid(&path, format!("is empty, so it holds no synced head; {IF_WHOLE}"))),
        None => Err(invalid(&path, format!("neither of its slots holds a valid synced head; {IF_WHOLE}"))),
    }
}

/// The store's problem with its synced head, in words, when it has one: `head` is the commit
/// head replay found, `hash_at` the commit-chain hash of a commit of the store by number.
pub fn check(synced: SyncedHead, head: u64, hash_at: impl FnOnce(u64) -> Option<Hash>) -> Option<String> {
    if synced.number > head {
        return Some(format!(
            "the store holds {head} commits, but commit {} was synced and answered before (file {SYNCED_FILE}): \
             the store lost its end (a damaged or truncated file); copy the folder as it is now (it is evidence, and \
             every open may change it), then restore the whole folder from a backup, log.key included",
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
    /// Opens the file in `dir`, which [`read`] found valid, to write it in place.
    pub fn open(dir: &Path) -> io::Result<SyncedFile> {
        let path = dir.join(SYNCED_FILE);
        let file = std::fs::OpenOptions::new().write(true).open(&path).map_err(|e| invalid(&path, e))?;
        Ok(SyncedFile { file })
    }

    /// Makes the file in `dir`, where there is none, holding `head`: written (owner-only) under
    /// another name, synced and renamed into place, the folder synced, so that the file is whole
    /// or absent after any crash (an empty one is damage, see [`read`]).
    pub fn create(dir: &Path, head: SyncedHead) -> io::Result<SyncedFile> {
        let path = dir.join(SYNCED_FILE);
        let new = dir.join(format!("{SYNCED_FILE}.new"));
        let made = (|| {
            match std::fs::remove_file(&new) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
            let mut options = std::fs::OpenOptions::new();
            // create_new: a link left at the name is never followed
            options.read(true).write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(crate::private::FILE_MODE);
            }
            let file = options.open(&new)?;
            write_at(&file, &head.slot(), (head.number % 2) * SLOT_BYTES as u64)?;
            file.sync_all()?;
            std::fs::rename(&new, &path)?;
            File::open(dir)?.sync_all()?;
            Ok(file)
        })();
        made.map(|file| SyncedFile { file }).map_err(|e| invalid(&path, e))
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
        let file = SyncedFile::create(dir.path(), SyncedHead { number: 1, hash: [1; 32] }).unwrap();
        assert_eq!(read(dir.path()).unwrap(), Some(SyncedHead { number: 1, hash: [1; 32] }));
        for number in 2..=5u64 {
            file.write(SyncedHead { number, hash: [number as u8; 32] }).unwrap();
        }
        assert!(SyncedFile::open(dir.path()).is_ok());
        assert_eq!(read(dir.path()).unwrap(), Some(SyncedHead { number: 5, hash: [5; 32] }));
        // a write torn in slot 1 (commit 5's) leaves commit 4's in slot 0
        let path = dir.path().join(SYNCED_FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[SLOT_BYTES + 3] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(read(dir.path()).unwrap(), Some(SyncedHead { number: 4, hash: [4; 32] }));
        bytes[3] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        let said = read(dir.path()).expect_err("neither slot valid").to_string();
        assert!(said.contains("neither of its slots") && said.contains("remove the file"), "{said}");
        // an empty file is damage, not a first use
        std::fs::write(&path, b"").unwrap();
        let said = read(dir.path()).expect_err("empty").to_string();
        assert!(said.starts_with(&path.display().to_string()) && said.contains("is empty"), "{said}");
        // a file longer than its two slots is damage too, and is not read past them
        let mut long = SyncedHead { number: 9, hash: [9; 32] }.slot().to_vec();
        long.resize(1 << 20, 0xff);
        std::fs::write(&path, &long).unwrap();
        assert!(read(dir.path()).is_err(), "a file longer than two slots");
    }

    /// A link, a folder or a pipe at the file's name is named as such and never followed nor
    /// opened (a pipe nobody writes to would block the opening for good).
    #[cfg(unix)]
    #[test]
    fn anything_but_a_regular_file_is_refused_unopened() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SYNCED_FILE);
        let elsewhere = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(elsewhere.path().join(SYNCED_FILE), &path).unwrap();
        let said = read(dir.path()).expect_err("a link").to_string();
        assert!(said.contains("is not a regular file"), "{said}");
        std::fs::remove_file(&path).unwrap();
        std::fs::create_dir(&path).unwrap();
        assert!(read(dir.path()).expect_err("a folder").to_string().contains("is not a regular file"));
        std::fs::remove_dir(&path).unwrap();
        assert!(std::process::Command::new("mkfifo").arg(&path).status().unwrap().success());
        assert!(read(dir.path()).expect_err("a pipe").to_string().contains("is not a regular file"));
        assert!(!elsewhere.path().join(SYNCED_FILE).exists(), "nothing made through the link");
    }

    #[test]
    fn a_store_behind_its_synced_head_or_with_another_commit_there_is_named() {
        let synced = SyncedHead { number: 7, hash: [7; 32] };
        let said = check(synced, 5, |_| None).unwrap();
        assert!(said.contains("holds 5 commits") && said.contains("commit 7"), "{said}");
        // a store behind its synced head is never told to drop the file that says so
        assert!(!said.contains("remove the file"), "{said}");
        let said = check(synced, 9, |_| Some([8; 32])).unwrap();
        assert!(said.contains("commit 7 is not"), "{said}");
        assert_eq!(check(synced, 9, |n| (n == 7).then_some([7; 32])), None);
        assert_eq!(check(SyncedHead { number: 0, hash: [0; 32] }, 0, |_| None), None);
    }
}
