//! Checking commits against the ledger's current state without writing anything: what
//! `fiscus import csv` runs before it records (and all that `--dry-run` runs), so that a refusal
//! is reported by CSV line before anything is sent.
//!
//! The chains the events go to (and the sponsor chain, for a sponsor-wide closed period) are read
//! as stored records (`ExportChain` from `fiscusd`, the raw records of a local store) and verified
//! with the ledger's chain walker; the events are then staged with the ledger's own
//! [`Group::stage`], the very code the daemon's writer runs, on that state. A staged group is
//! never written: it is dropped.

use std::collections::{BTreeSet, HashMap};

use fiscus_cli::identity::{Known, LikelyDuplicate, MatchKey};
use fiscus_client::fiscus_ledger::commit::{CommitRequest, Committed, Group, Lookup, Recorded};
use fiscus_client::fiscus_ledger::projection::Projection;
use fiscus_client::fiscus_ledger::record::Record;
use fiscus_client::fiscus_ledger::rules::History;
use fiscus_client::fiscus_ledger::verify::verify_chain;
use fiscus_client::fiscus_ledger::{Event, LedgerError, ProjectId};

use crate::backend::Backend;
use crate::fail::Failure;

/// The actor a check stages under: the rules this command line stages (contributions, direct
/// expenses) do not depend on who records them.
const CHECK_ACTOR: &str = "check";

/// The verified state of some chains, with their events: enough to stage commits on them.
pub struct Chains {
    projection: Projection,
    events: HashMap<(ProjectId, u64), Event>,
    ids: HashMap<(ProjectId, String), (u64, u64)>,
    /// The recorded events, indexed for content ids and likely duplicates.
    pub known: Known,
}

impl Chains {
    /// Reads and verifies the chains of `projects` (those that exist) and the sponsor chain (when
    /// the caller may read it). A project that does not exist is left out: staging an event for
    /// it is refused as the ledger refuses it (unknown project).
    pub async fn read(b: &Backend, projects: &BTreeSet<ProjectId>) -> Result<Chains, Failure> {
        let existing: BTreeSet<ProjectId> = b.projects(true).await?.into_iter().map(|p| p.project).collect();
        let mut chains = Chains {
            projection: Projection::new(),
            events: HashMap::new(),
            ids: HashMap::new(),
            known: Known::default(),
        };
        let sponsor = ProjectId::sponsor();
        for project in projects.iter().filter(|p| existing.contains(*p)) {
            chains.add(b, project).await?;
        }
        // A project token may not read the sponsor chain; its closed period is then checked by the
        // ledger when the commit is sent.
        let _ = chains.add(b, &sponsor).await;
        Ok(chains)
    }

    async fn add(&mut self, b: &Backend, project: &ProjectId) -> Result<(), Failure> {
        let raws = b.raw_chain(project).await?;
        let state = verify_chain(project, raws.iter().map(|r| r.bytes.as_slice()))?;
        for raw in &raws {
            let record = Record::decode(&raw.bytes)?;
            self.known.add(record.seq, &record.event);
            self.ids.insert((project.clone(), record.event.event_id.clone()), (record.seq, record.commit));
            self.events.insert((project.clone(), record.seq), record.event);
        }
        self.projection.put(state);
        Ok(())
    }

    /// Stages `commits` in order, each seeing the ones before it, as the ledger would store them,
    /// and answers what it would: each commit's positions, or the first refusal with the index of
    /// its commit. Nothing is written. `allow_same_receipt` as the commits will be sent
    /// (`CommitRequest::allow_same_receipt`).
    pub fn check_commits(
        &self,
        commits: &[Vec<Event>],
        allow_same_receipt: bool,
    ) -> Result<Vec<Committed>, (usize, LedgerError)> {
        let mut group = Group::new(&self.projection);
        commits
            .iter()
            .enumerate()
            .map(|(i, events)| group.stage(&request(events, allow_same_receipt), self).map_err(|e| (i, e)))
            .collect()
    }

    /// Stages each event as its own commit, in order, each seeing the ones accepted before it:
    /// one answer per event (the seq it would get, or why it is refused). `allow_same_receipt` as
    /// the events will be recorded (`CommitRequest::allow_same_receipt`).
    pub fn check_each(&self, events: &[Event], allow_same_receipt: bool) -> Vec<Result<u64, LedgerError>> {
        let mut group = Group::new(&self.projection);
        events
            .iter()
            .map(|e| {
                group
                    .stage(&request(std::slice::from_ref(e), allow_same_receipt), self)
                    .map(|c| c.positions.first().map_or(0, |p| p.seq))
            })
            .collect()
    }
}

fn request(events: &[Event], allow_same_receipt: bool) -> CommitRequest {
    CommitRequest {
        events: events.to_vec(),
        expected_heads: Vec::new(),
        actor: CHECK_ACTOR.to_owned(),
        recorded_at: crate::backend::now_us(),
        allow_same_receipt,
    }
}

impl History for Chains {
    fn event_at(&self, project: &ProjectId, seq: u64) -> Result<Option<Event>, LedgerError> {
        Ok(self.events.get(&(project.clone(), seq)).cloned())
    }
}

impl Lookup for Chains {
    fn recorded(&self, project: &ProjectId, event_id: &str) -> Result<Option<Recorded>, LedgerError> {
        Ok(self.ids.get(&(project.clone(), event_id.to_owned())).and_then(|(seq, commit)| {
            let event = self.events.get(&(project.clone(), *seq))?.clone();
            Some(Recorded { project: project.clone(), seq: *seq, commit: *commit, event })
        }))
    }
}

/// The events of `events` that likely duplicate a recorded event of their project (the same
/// reference, date and amount under another id). Only the chains of events with a reference and
/// an amount are read, page by page; a project that does not exist has nothing to duplicate.
pub async fn likely_duplicates(b: &Backend, events: &[Event]) -> Result<Vec<LikelyDuplicate>, Failure> {
    let projects: BTreeSet<&ProjectId> =
        events.iter().filter(|e| MatchKey::of(e).is_some()).map(|e| &e.project).collect();
    if projects.is_empty() {
        return Ok(Vec::new());
    }
    let existing: BTreeSet<ProjectId> = b.projects(true).await?.into_iter().map(|p| p.project).collect();
    let mut known = Known::default();
    for project in projects.into_iter().filter(|p| existing.contains(*p)) {
        let mut after = 0;
        loop {
            let page = b.events(project, after, EVENTS_PAGE).await?;
            for e in &page.events {
                known.add(e.seq, &e.event);
            }
            if page.events.is_empty() || page.next_after_seq >= page.head_seq {
                break;
            }
            after = page.next_after_seq;
        }
    }
    Ok(events.iter().filter_map(|e| known.duplicate_of(e)).collect())
}

/// Events asked for per page when reading a chain's events.
const EVENTS_PAGE: u32 = 1_000;
