//! The pages an auditor reads to check the whole ledger (`fiscus audit`): raw commit entries and
//! every stored checkpoint, as the server sends them. Nothing here is checked beyond the page's
//! shape: the caller rebuilds the commit chain and the log from them and verifies each checkpoint
//! against a pinned key.

use fiscus_proto::pb;

use crate::error::ClientError;

/// Most bytes of one commit entry taken from a server (the store's own bound on a stored value).
pub const COMMIT_ENTRY_BYTES_MAX: usize = fiscus_ledger::record::VALUE_BYTES_MAX;

/// Most bytes of one checkpoint note taken from a server (a body and a few hundred signature lines).
pub const CHECKPOINT_BYTES_MAX: usize = 64 * 1024;

fn answer(field: String, message: impl Into<String>) -> ClientError {
    ClientError::Answer { field, message: message.into() }
}

impl crate::Client {
    /// One page of raw commit entries from commit `from` (at least 1), at most `page_size` (0 for
    /// the server's default): the server's commit head and the `(number, stored bytes)` entries,
    /// checked to be consecutive from `from`, no more than asked, and each within
    /// [`COMMIT_ENTRY_BYTES_MAX`].
    pub async fn commit_entries(&self, from: u64, page_size: u32) -> Result<(u64, Vec<(u64, Vec<u8>)>), ClientError> {
        let request = pb::ListCommitEntriesRequest { from, page_size };
        let r = self.audit.clone().list_commit_entries(request).await?.into_inner();
        if page_size > 0 && r.entries.len() > page_size as usize {
            return Err(answer("entries".to_owned(), format!("{} entries, {page_size} asked", r.entries.len())));
        }
        let mut out = Vec::with_capacity(r.entries.len());
        for (i, (e, number)) in r.entries.into_iter().zip(from.max(1)..).enumerate() {
            if e.number != number {
                return Err(answer(format!("entries[{i}].number"), format!("{}, {number} was due", e.number)));
            }
            if e.bytes.len() > COMMIT_ENTRY_BYTES_MAX {
                return Err(answer(format!("entries[{i}].bytes"), format!("over {COMMIT_ENTRY_BYTES_MAX} bytes")));
            }
            out.push((e.number, e.bytes));
        }
        Ok((r.head, out))
    }

    /// One page of stored checkpoints from tree size `from`, at most `page_size` (0 for the
    /// server's default): the log's size when read and the `(size, note text)` checkpoints, checked
    /// to be in increasing size order from `from`, no more than asked, none past that size, and
    /// each within [`CHECKPOINT_BYTES_MAX`]. The notes themselves are not checked here.
    pub async fn checkpoints_page(&self, from: u64, page_size: u32) -> Result<(u64, Vec<(u64, String)>), ClientError> {
        let request = pb::ListCheckpointsRequest { from_size: from, page_size };
        let r = self.audit.clone().list_checkpoints(request).await?.into_inner();
        if page_size > 0 && r.checkpoints.len() > page_size as usize {
            return Err(answer(
                "checkpoints".to_owned(),
                format!("{} checkpoints, {page_size} asked", r.checkpoints.len()),
            ));
        }
        let mut out: Vec<(u64, String)> = Vec::with_capacity(r.checkpoints.len());
        for (i, c) in r.checkpoints.into_iter().enumerate() {
            let after = out.last().map_or(from.max(1).saturating_sub(1), |(size, _)| *size);
            if c.size <= after || c.size > r.latest_size {
                return Err(answer(
                    format!("checkpoints[{i}].size"),
                    format!("{} out of order (after {after}, latest {})", c.size, r.latest_size),
                ));
            }
            if c.checkpoint.len() > CHECKPOINT_BYTES_MAX {
                return Err(answer(
                    format!("checkpoints[{i}].checkpoint"),
                    format!("over {CHECKPOINT_BYTES_MAX} bytes"),
                ));
            }
            out.push((c.size, c.checkpoint));
        }
        Ok((r.latest_size, out))
    }
}
