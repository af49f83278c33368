//! The chain walker: the one check of a stored record as the next record of its chain, and the walk
//! of one project's chain from its raw stored records, without a store (what a client or an auditor
//! does with an export). Replay on open, the daemon's `Audit/Verify`, `fiscus-client` and the
//! `fiscus` command line all verify records with [`step`], so "verified" means one thing.
//!
//! A record verifies when (`docs/FORMAT.md` sections 2, 3 and 6):
//! - it decodes strictly, with format version 1 and every text field valid UTF-8;
//! - its project, seq and `prev` are its place in the chain (seq from 1, `prev` the hash of the
//!   record before, or the genesis hash);
//! - the fields the ledger completes are present;
//! - its fields keep the limits a request's fields keep (`Event::validate`, the actor's limits);
//! - the business rules accept it on the state its chain adds up to so far (`rules::decide`, the
//!   same function the writer uses), and what the rules complete equals what is stored;
//! - its event id is not already used earlier in its chain.
//!
//! Two rules span chains and are checked where every chain is at hand (replay), not here: the
//! sponsor-wide closed period, and that a transfer's counterpart exists and is open.
//! Only then is the record folded in with `ProjectState::apply`, which therefore only ever sees
//! events that `decide` accepts. The rules never reach a panic on such events: damage is an error
//! naming project and seq.

use std::collections::HashSet;

use crate::chain::{Hash, RecordHasher};
use crate::commit::check_actor;
use crate::error::LedgerError;
use crate::event::Event;
use crate::ids::ProjectId;
use crate::projection::{Head, ProjectState};
use crate::record::{Record, RecordView, FORMAT_VERSION};
use crate::rules::{decide, Facts, History};

/// Checks the stored record `bytes`, whose record hash is `hash`, as the next record of `state`'s
/// chain and folds it into `state`. `history` gives the chain's earlier events (a refunded
/// contribution, a reversal's target); it is only asked for seqs already folded into `state`.
/// Errors: what is wrong with the record, in words (the caller names project and seq: the seq is
/// `state.head.seq + 1`, which is left unchanged).
pub fn step(state: &mut ProjectState, bytes: &[u8], hash: &Hash, history: &dyn History) -> Result<(), String> {
    let view = RecordView::decode(bytes).map_err(|e| e.to_string())?;
    step_view(state, &view, hash, history)
}

/// [`step`] on a record already decoded (replay decodes once).
pub fn step_view(
    state: &mut ProjectState,
    view: &RecordView<'_>,
    hash: &Hash,
    history: &dyn History,
) -> Result<(), String> {
    let seq = state.head.seq + 1;
    if let Some(p) = misplaced(view, state.id.as_str(), seq, &state.head.hash) {
        return Err(p);
    }
    lawful(state, view, history)?;
    state.apply(seq, *hash, view.effective_date, view.actor, &view.kind);
    debug_assert_eq!(state.head, Head { seq, hash: *hash });
    Ok(())
}

/// What is wrong with a decoded record as record `seq` of `project` after a record hashed `prev`, if
/// anything: its place in the chain and its format version.
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

/// Checks a placed record's fields and the business rules against the state before it.
fn lawful(state: &ProjectState, view: &RecordView<'_>, history: &dyn History) -> Result<(), String> {
    let text = |what: &str, b: &[u8]| {
        std::str::from_utf8(b).map(str::to_owned).map_err(|_| format!("record {what} is not UTF-8"))
    };
    check_actor("actor", view.actor).map_err(|e| format!("stored field breaks its limits: {e}"))?;
    let request = Event {
        event_id: text("event id", view.event_id)?,
        project: state.id.clone(),
        effective_date: view.effective_date,
        memo: text("memo", view.memo)?,
        reference: view.reference.map(|r| text("reference", r)).transpose()?,
        kind: view.kind.as_request(),
    };
    request.validate("").map_err(|e| format!("stored field breaks its limits: {e}"))?;
    let unchecked = |_: &ProjectId| Ok(());
    let facts = Facts {
        sponsor_closed_through: None,
        actor: view.actor,
        // stored records keep the rules of when they were recorded (see `Facts::recorded_at`)
        recorded_at: None,
        history,
        counterpart_open: &unchecked,
    };
    let decided = decide(state, &request, &facts, "").map_err(|e| format!("the rules refuse this event: {e}"))?;
    if decided != view.kind {
        return Err("the fields the ledger completes differ from what the rules give".to_owned());
    }
    Ok(())
}

/// A record [`ChainWalker::push_record`] verified and folded in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Walked {
    /// Its record hash (`docs/FORMAT.md` section 3).
    pub hash: Hash,
    /// The commit number it states.
    pub commit: u64,
    /// The time it states it was recorded (µs since the epoch), which its commit entry must state
    /// too (`docs/FORMAT.md` section 6, step 5).
    pub recorded_at: i64,
}

/// Walks one chain record by record: what the daemon's `Audit/Verify` of one project, the client's
/// verification and [`verify_chain`] use.
pub struct ChainWalker {
    state: ProjectState,
    hasher: RecordHasher,
    event_ids: HashSet<Vec<u8>>,
}

impl ChainWalker {
    /// A walk of `project`'s chain from seq 1.
    pub fn new(project: ProjectId) -> ChainWalker {
        ChainWalker { state: ProjectState::new(project), hasher: RecordHasher::new(), event_ids: HashSet::new() }
    }

    /// Verifies `bytes` as the next record and folds it in; returns its record hash. `history`
    /// gives the chain's earlier records (see [`step`]). Errors: [`LedgerError::Corrupt`] with the
    /// project and the record's seq; the walk stays where it was.
    pub fn push(&mut self, bytes: &[u8], history: &dyn History) -> Result<Hash, LedgerError> {
        self.push_record(bytes, history).map(|walked| walked.hash)
    }

    /// [`ChainWalker::push`], answering also the commit number the record states, from the one
    /// decoding the walk makes (an auditor compares it with the commit entry listing the record).
    pub fn push_record(&mut self, bytes: &[u8], history: &dyn History) -> Result<Walked, LedgerError> {
        let seq = self.state.head.seq + 1;
        let project = self.state.id.clone();
        let corrupt = |problem: String| LedgerError::Corrupt { project: project.to_string(), seq, problem };
        let hash = self.hasher.hash(bytes);
        let view = RecordView::decode(bytes).map_err(|e| corrupt(e.to_string()))?;
        if self.event_ids.contains(view.event_id) {
            return Err(corrupt(format!(
                "event id {:?} is used earlier in the chain",
                String::from_utf8_lossy(view.event_id)
            )));
        }
        let event_id = view.event_id.to_vec();
        let (commit, recorded_at) = (view.commit, view.recorded_at);
        step_view(&mut self.state, &view, &hash, history).map_err(corrupt)?;
        self.event_ids.insert(event_id);
        Ok(Walked { hash, commit, recorded_at })
    }

    /// The state the records verified so far add up to.
    pub fn state(&self) -> &ProjectState {
        &self.state
    }

    /// The state, ending the walk.
    pub fn into_state(self) -> ProjectState {
        self.state
    }
}

/// The earlier records of a chain held in memory, as the rules' [`History`].
struct Earlier<'r> {
    project: &'r ProjectId,
    records: &'r [&'r [u8]],
}

impl History for Earlier<'_> {
    fn event_at(&self, project: &ProjectId, seq: u64) -> Result<Option<Event>, LedgerError> {
        if project != self.project || seq == 0 {
            return Ok(None);
        }
        let Some(bytes) = usize::try_from(seq - 1).ok().and_then(|i| self.records.get(i)) else { return Ok(None) };
        Record::decode(bytes).map(|r| Some(r.event))
    }
}

/// Verifies the chain of `project` from its stored records in seq order, starting at seq 1, and
/// returns the state they add up to. The first bad record is [`LedgerError::Corrupt`] naming
/// project and seq (bad bytes, a broken link, a field over its limits, an event the rules refuse).
pub fn verify_chain<'a>(
    project: &ProjectId,
    records: impl IntoIterator<Item = &'a [u8]>,
) -> Result<ProjectState, LedgerError> {
    let records: Vec<&[u8]> = records.into_iter().collect();
    let mut walker = ChainWalker::new(project.clone());
    for (i, bytes) in records.iter().enumerate() {
        let history = Earlier { project, records: &records[..i] };
        walker.push(bytes, &history)?;
    }
    Ok(walker.into_state())
}

/// The hash a verified chain ends in, for comparing with a head a server or checkpoint states.
pub fn head_of(state: &ProjectState) -> (u64, Hash) {
    (state.head.seq, state.head.hash)
}
