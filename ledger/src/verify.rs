//! Verifying one project's chain from its raw stored records, without a store: what a client or an
//! auditor does with an export. It re-hashes the bytes (never re-encodes), checks seq and `prev`
//! from the genesis hash, decodes each record and folds it into a fresh state, whose balances then
//! follow from the verified events alone.

use crate::chain::{Hash, RecordHasher};
use crate::error::LedgerError;
use crate::ids::ProjectId;
use crate::projection::{Head, ProjectState};
use crate::record::{RecordView, FORMAT_VERSION};

/// Verifies the chain of `project` from its stored records in seq order, starting at seq 1, and
/// returns the state they add up to. The first bad record is an error naming project and seq.
pub fn verify_chain<'a>(
    project: &ProjectId,
    records: impl IntoIterator<Item = &'a [u8]>,
) -> Result<ProjectState, LedgerError> {
    let mut state = ProjectState::new(project.clone());
    let mut hasher = RecordHasher::new();
    for bytes in records {
        let seq = state.head.seq + 1;
        let corrupt = |problem: String| LedgerError::Corrupt { project: project.to_string(), seq, problem };
        let hash = hasher.hash(bytes);
        let view = RecordView::decode(bytes).map_err(|e| corrupt(e.to_string()))?;
        if let Some(p) = misplaced(&view, project.as_str(), seq, &state.head.hash) {
            return Err(corrupt(p));
        }
        state.apply(seq, hash, view.effective_date, view.actor, &view.kind);
        debug_assert_eq!(state.head, Head { seq, hash });
    }
    Ok(state)
}

/// What is wrong with a decoded record as record `seq` of `project` after a record hashed `prev`, if
/// anything: the checks every reader of a chain makes (replay, clients, auditors).
pub fn misplaced(view: &RecordView<'_>, project: &str, seq: u64, prev: &Hash) -> Option<String> {
    if view.version != FORMAT_VERSION {
        Some(format!("format version {}", view.version))
    } else if view.project != project.as_bytes() {
        Some(format!("record says project {:?}", String::from_utf8_lossy(view.project)))
    } else if view.seq != seq {
        Some(format!("record says seq {}", view.seq))
    } else if view.prev != *prev {
        Some("prev does not match the hash of the record before".to_owned())
    } else if !view.kind.is_completed() {
        Some("event fields the ledger completes are empty".to_owned())
    } else {
        None
    }
}

/// The hash a verified chain ends in, for comparing with a head a server or checkpoint states.
pub fn head_of(state: &ProjectState) -> (u64, Hash) {
    (state.head.seq, state.head.hash)
}
