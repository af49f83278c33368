//! Staging commits: validating a group of commit requests in order against the state, each seeing
//! the ones accepted before it, and producing the records, commit entries and new states to store.
//!
//! Nothing here touches the store or the projection: a refused request leaves the group as it was,
//! and a group is applied to the projection only after the store has written and synced it.

use std::collections::{BTreeMap, HashMap};

use crate::chain::{commit_hash, Hash, RecordHasher};
use crate::error::LedgerError;
use crate::event::{Event, EventKind};
use crate::ids::{check_text, ProjectId, ACTOR_LEN_MAX, SPONSOR_CHAIN};
use crate::projection::{CommitHead, ProjectState, Projection};
use crate::record::{CommitEntry, Listed, Record, FORMAT_VERSION};
use crate::rules::{decide, Facts, History};

/// Most events one commit may carry; a larger request is refused whole, never split.
pub const COMMIT_EVENTS_MAX: usize = 1_000;

/// What the store can look up for staging: past events and the idempotency index.
///
/// Event ids are scoped per project: the idempotency key is (project, event id). The same id may be
/// recorded once in each chain, and whether an id is taken is only ever asked of the chain the new
/// event goes to, so no answer (duplicate, conflict or error text) depends on another project's ids.
pub trait Lookup: History {
    /// The event recorded in `project`'s chain under `event_id`, if any.
    fn recorded(&self, project: &ProjectId, event_id: &str) -> Result<Option<Recorded>, LedgerError>;
}

/// An event already recorded under an event id: where, by which commit, and as stored.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// Its chain.
    pub project: ProjectId,
    /// Its seq.
    pub seq: u64,
    /// The commit that stored it.
    pub commit: u64,
    /// The event as stored (completed).
    pub event: Event,
}

/// True when `request` asks for exactly what `stored` records: the same envelope and event, where
/// each field the ledger completes is either left empty in the request or equal to what was stored.
pub fn same_request(request: &Event, stored: &Event) -> bool {
    let as_requested = Event { kind: stored.kind.as_requested(&request.kind), ..stored.clone() };
    as_requested == *request
}

/// One commit as a client asks for it: one or more events, all stored or none.
#[derive(Clone, Debug)]
pub struct CommitRequest {
    /// The events, in order.
    pub events: Vec<Event>,
    /// Optional expected head seq per project; a mismatch refuses the commit.
    pub expected_heads: Vec<(ProjectId, u64)>,
    /// The authenticated principal.
    pub actor: String,
    /// Server time, µs since the epoch.
    pub recorded_at: i64,
    /// Records an expense request or direct payment even when the project already holds its
    /// receipt (`rules::check_receipt`): the same invoice filed or paid again on purpose.
    pub allow_same_receipt: bool,
}

/// Where an event is stored.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Position {
    /// The chain.
    pub project: ProjectId,
    /// Its seq.
    pub seq: u64,
}

/// The answer to an accepted commit request.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Committed {
    /// The commit number.
    pub commit: u64,
    /// Where each event of the request is, in request order.
    pub positions: Vec<Position>,
    /// True when every event was already recorded with the same content (nothing new was stored).
    pub duplicate: bool,
}

/// A record ready to store.
#[derive(Clone, Debug)]
pub struct StagedRecord {
    /// The stored bytes.
    pub bytes: Vec<u8>,
    /// Their hash.
    pub hash: Hash,
    /// Seq in its chain.
    pub seq: u64,
    /// The completed event.
    pub event: Event,
}

/// A commit ready to store.
#[derive(Clone, Debug)]
pub struct StagedCommit {
    /// The commit log entry.
    pub entry: CommitEntry,
    /// Its records, in commit order.
    pub records: Vec<StagedRecord>,
}

/// A group of commits being staged on top of a projection.
pub struct Group<'p> {
    base: &'p Projection,
    states: BTreeMap<ProjectId, ProjectState>,
    head: CommitHead,
    commits: Vec<StagedCommit>,
    ids: HashMap<(ProjectId, String), Recorded>,
    hasher: RecordHasher,
}

/// What a staged group changes: new chain states, the commit head, and what to write.
pub struct Staged {
    /// The states of every chain the group touched.
    pub states: BTreeMap<ProjectId, ProjectState>,
    /// The new commit head.
    pub head: CommitHead,
    /// The commits, in order.
    pub commits: Vec<StagedCommit>,
}

impl<'p> Group<'p> {
    /// An empty group on top of `base`.
    pub fn new(base: &'p Projection) -> Group<'p> {
        Group {
            base,
            states: BTreeMap::new(),
            head: base.commit_head,
            commits: Vec::new(),
            ids: HashMap::new(),
            hasher: RecordHasher::new(),
        }
    }

    /// True when no commit was staged.
    pub fn is_empty(&self) -> bool {
        self.commits.is_empty()
    }

    /// What the group changes.
    pub fn finish(self) -> Staged {
        Staged { states: self.states, head: self.head, commits: self.commits }
    }

    fn state(&self, id: &str) -> Option<&ProjectState> {
        self.states.get(id).or_else(|| self.base.project(id))
    }

    /// Validates one commit request against the state so far; on success stages it and answers.
    /// On refusal the group is exactly as before.
    pub fn stage(&mut self, req: &CommitRequest, lookup: &dyn Lookup) -> Result<Committed, LedgerError> {
        if req.events.is_empty() {
            return Err(LedgerError::invalid("events", "a commit needs at least one event"));
        }
        if req.events.len() > COMMIT_EVENTS_MAX {
            return Err(LedgerError::invalid(
                "events",
                format!("{} events; a commit holds at most {COMMIT_EVENTS_MAX}", req.events.len()),
            ));
        }
        check_actor("actor", &req.actor)?;
        let mut seen: HashMap<(&ProjectId, &str), usize> = HashMap::new();
        for (i, e) in req.events.iter().enumerate() {
            e.validate(&format!("events[{i}]"))?;
            if let Some(j) = seen.insert((&e.project, e.event_id.as_str()), i) {
                return Err(LedgerError::invalid(
                    &format!("events[{i}].event_id"),
                    format!("repeats events[{j}].event_id in project {}; event ids are unique per project", e.project),
                ));
            }
        }
        if let Some(answer) = self.duplicates(req, lookup)? {
            return Ok(answer);
        }
        for (project, expected) in &req.expected_heads {
            let head = self.state(project.as_str()).map_or(0, |s| s.head.seq);
            if head != *expected {
                return Err(LedgerError::HeadMismatch { project: project.clone(), expected: *expected, head });
            }
        }

        let number = self.head.number + 1;
        let mut draft: BTreeMap<ProjectId, ProjectState> = BTreeMap::new();
        let mut records: Vec<StagedRecord> = Vec::with_capacity(req.events.len());
        for (i, event) in req.events.iter().enumerate() {
            let field = format!("events[{i}]");
            let state = match draft.remove(event.project.as_str()) {
                Some(s) => s,
                None => self
                    .state(event.project.as_str())
                    .cloned()
                    .unwrap_or_else(|| ProjectState::new(event.project.clone())),
            };
            let sponsor = draft.get(SPONSOR_CHAIN).or_else(|| self.state(SPONSOR_CHAIN)).and_then(|s| s.closed_through);
            let history = Layered { draft: &records, draft_project: &event.project, group: &self.commits, lookup };
            let counterpart = |other: &ProjectId| -> Result<(), LedgerError> {
                let s = if other == &event.project {
                    Some(&state)
                } else {
                    draft.get(other.as_str()).or_else(|| self.state(other.as_str()))
                };
                match s {
                    Some(s) if s.info.is_some() && !s.closed => Ok(()),
                    Some(s) if s.closed => Err(LedgerError::ProjectClosed { project: other.clone() }),
                    _ => Err(LedgerError::UnknownProject { project: other.clone() }),
                }
            };
            let facts = Facts {
                sponsor_closed_through: sponsor,
                actor: &req.actor,
                recorded_at: Some(req.recorded_at),
                history: &history,
                counterpart_open: &counterpart,
            };
            let kind = decide(&state, event, &facts, &field)?;
            if !req.allow_same_receipt {
                let kind_at = crate::error::field_path(&field, kind.field_name());
                crate::rules::check_receipt(&state, &kind, &|name| crate::error::field_path(&kind_at, name))?;
            }
            let mut state = state;
            let completed = Event { kind, ..event.clone() };
            let record = Record {
                version: FORMAT_VERSION,
                seq: state.head.seq + 1,
                prev: state.head.hash,
                commit: number,
                recorded_at: req.recorded_at,
                actor: req.actor.clone(),
                event: completed,
            };
            let bytes = record.encode();
            let hash = self.hasher.hash(&bytes);
            state.apply(record.seq, hash, event.effective_date, &req.actor, &record.event.kind);
            records.push(StagedRecord { bytes, hash, seq: record.seq, event: record.event });
            draft.insert(event.project.clone(), state);
        }
        check_transfers(&req.events)?;

        let hash = commit_hash(&self.head.hash, number, records.iter().map(|r| &r.hash));
        let entry = CommitEntry {
            version: FORMAT_VERSION,
            number,
            recorded_at: req.recorded_at,
            records: records
                .iter()
                .map(|r| Listed { project: r.event.project.as_str().to_owned(), seq: r.seq, hash: r.hash })
                .collect(),
            hash,
        };
        let positions = records.iter().map(|r| Position { project: r.event.project.clone(), seq: r.seq }).collect();
        for r in &records {
            let id = Recorded { project: r.event.project.clone(), seq: r.seq, commit: number, event: r.event.clone() };
            self.ids.insert((r.event.project.clone(), r.event.event_id.clone()), id);
        }
        self.states.extend(draft);
        self.head = CommitHead { number, hash };
        self.commits.push(StagedCommit { entry, records });
        Ok(Committed { commit: number, positions, duplicate: false })
    }

    /// Answers a request whose every event is already recorded with the same content.
    fn duplicates(&self, req: &CommitRequest, lookup: &dyn Lookup) -> Result<Option<Committed>, LedgerError> {
        let mut found = Vec::new();
        for (i, e) in req.events.iter().enumerate() {
            let entry = match self.ids.get(&(e.project.clone(), e.event_id.clone())) {
                Some(entry) => Some(entry.clone()),
                None => lookup.recorded(&e.project, &e.event_id)?,
            };
            if let Some(entry) = entry {
                if !same_request(e, &entry.event) {
                    return Err(LedgerError::IdConflict {
                        event_id: e.event_id.clone(),
                        project: entry.project.clone(),
                        seq: entry.seq,
                    });
                }
                found.push((i, entry));
            }
        }
        if found.is_empty() {
            return Ok(None);
        }
        if found.len() < req.events.len() {
            let (i, entry) = &found[0];
            return Err(LedgerError::Invalid {
                field: format!("events[{i}].event_id"),
                message: format!(
                    "is already recorded (commit {}) while other events of this commit are new",
                    entry.commit
                ),
            });
        }
        let positions =
            found.iter().map(|(_, e)| Position { project: e.project.clone(), seq: e.seq }).collect::<Vec<_>>();
        Ok(Some(Committed { commit: found[0].1.commit, positions, duplicate: true }))
    }
}

/// Every `TransferSent` must meet its `TransferReceived` in the same commit, so the clearing
/// account nets to zero per commit.
fn check_transfers(events: &[Event]) -> Result<(), LedgerError> {
    let mut received: Vec<Option<(&ProjectId, &ProjectId, crate::money::Money)>> = events
        .iter()
        .map(|e| match &e.kind {
            EventKind::TransferReceived { amount, from } => Some((from, &e.project, *amount)),
            _ => None,
        })
        .collect();
    for (i, e) in events.iter().enumerate() {
        if let EventKind::TransferSent { amount, to } = &e.kind {
            let slot = received
                .iter_mut()
                .find(|r| matches!(r, Some((from, rto, a)) if *from == &e.project && *rto == to && a == amount));
            match slot {
                Some(s) => *s = None,
                None => {
                    return Err(LedgerError::invalid(
                        &format!("events[{i}]"),
                        format!("TransferSent to {to} of {amount} needs a TransferReceived from {} of the same amount in the same commit", e.project),
                    ))
                }
            }
        }
    }
    if let Some(i) = received.iter().position(Option::is_some) {
        return Err(LedgerError::invalid(
            &format!("events[{i}]"),
            "TransferReceived needs its TransferSent in the same commit",
        ));
    }
    Ok(())
}

/// History seen by a request being staged: its own earlier events, the group's, then the store.
struct Layered<'a> {
    draft: &'a [StagedRecord],
    draft_project: &'a ProjectId,
    group: &'a [StagedCommit],
    lookup: &'a dyn Lookup,
}

impl History for Layered<'_> {
    fn event_at(&self, project: &ProjectId, seq: u64) -> Result<Option<Event>, LedgerError> {
        let _ = self.draft_project;
        let staged = self
            .draft
            .iter()
            .chain(self.group.iter().flat_map(|c| c.records.iter()))
            .find(|r| r.seq == seq && &r.event.project == project);
        match staged {
            Some(r) => Ok(Some(r.event.clone())),
            None => self.lookup.event_at(project, seq),
        }
    }
}

/// A [`Lookup`] over events kept in memory: what tests and the workload generator stage against.
#[derive(Default)]
pub struct MemoryLookup {
    events: HashMap<(ProjectId, u64), Event>,
    ids: HashMap<(ProjectId, String), (u64, u64)>,
}

impl MemoryLookup {
    /// Remembers what a staged group stored.
    pub fn absorb(&mut self, commits: &[StagedCommit]) {
        for c in commits {
            for r in &c.records {
                self.events.insert((r.event.project.clone(), r.seq), r.event.clone());
                self.ids.insert((r.event.project.clone(), r.event.event_id.clone()), (r.seq, c.entry.number));
            }
        }
    }
}

impl History for MemoryLookup {
    fn event_at(&self, project: &ProjectId, seq: u64) -> Result<Option<Event>, LedgerError> {
        Ok(self.events.get(&(project.clone(), seq)).cloned())
    }
}

impl Lookup for MemoryLookup {
    fn recorded(&self, project: &ProjectId, event_id: &str) -> Result<Option<Recorded>, LedgerError> {
        Ok(self.ids.get(&(project.clone(), event_id.to_owned())).and_then(|(seq, commit)| {
            let event = self.events.get(&(project.clone(), *seq))?.clone();
            Some(Recorded { project: project.clone(), seq: *seq, commit: *commit, event })
        }))
    }
}

impl Projection {
    /// Applies a staged group (after the store has made it durable).
    pub fn absorb(&mut self, staged: Staged) -> Vec<StagedCommit> {
        let added: u64 = staged.commits.iter().map(|c| c.records.len() as u64).sum();
        for (_, state) in staged.states {
            self.put(state);
        }
        self.commit_head = staged.head;
        self.events += added;
        staged.commits
    }
}

/// An in-memory ledger: projection plus remembered events. Tests and the generator use it; the
/// sled store does the same with durability.
#[derive(Default)]
pub struct MemoryLedger {
    /// The state.
    pub projection: Projection,
    /// The events.
    pub lookup: MemoryLookup,
}

impl MemoryLedger {
    /// Commits one request; a refusal changes nothing.
    pub fn commit(&mut self, req: &CommitRequest) -> Result<Committed, LedgerError> {
        let mut group = Group::new(&self.projection);
        let answer = group.stage(req, &self.lookup)?;
        let staged = group.finish();
        let commits = self.projection.absorb(staged);
        self.lookup.absorb(&commits);
        Ok(answer)
    }
}

/// Checks an actor (the principal who records): 1 to [`ACTOR_LEN_MAX`] bytes of text without
/// control characters. Requests and stored records alike.
pub fn check_actor(field: &str, actor: &str) -> Result<(), LedgerError> {
    if actor.len() > ACTOR_LEN_MAX {
        return Err(LedgerError::invalid(field, format!("at most {ACTOR_LEN_MAX} bytes")));
    }
    check_text(field, actor, ACTOR_LEN_MAX, false, false)
}
