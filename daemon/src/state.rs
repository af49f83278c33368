//! What every service shares: the latest published snapshot, a store reader, the writer's handle,
//! the chains that failed verification on open, and the limits. It also holds the checks every
//! read of one project makes, in their order: role, id, damage, existence.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use fiscus_ledger::replay::Damage;
use fiscus_ledger::store::Reader;
use fiscus_ledger::{LedgerError, ProjectState, Projection};
use tokio::sync::watch;
use tonic::Status;

use crate::auth::Principal;
use crate::config::Limits;
use crate::convert::project_id;
use crate::status::{invalid, ledger_status};
use crate::writer::{LogSnapshot, Snapshot, WriterHandle};

/// The daemon's shared state; services hold it behind an `Arc`.
pub struct Shared {
    /// Always the projection of every durable commit.
    pub snapshot: watch::Receiver<Snapshot>,
    /// The transparency log of every durable commit (published before the projection).
    pub log: watch::Receiver<LogSnapshot>,
    /// Reads stored records; never blocks the writer.
    pub reader: Reader,
    /// Sends write requests to the writer thread.
    pub writer: WriterHandle,
    /// Chains that failed verification when the store was opened.
    pub damage: Vec<Damage>,
    /// The limits.
    pub limits: Limits,
    /// Slots for `Subscribe` streams, a share of them per principal.
    pub subscribers: Arc<crate::slots::SubscriberSlots>,
    /// True while an `Audit.Verify` runs.
    pub verifying: AtomicBool,
    /// Turns true when the daemon shuts down; streams end then.
    pub shutdown: watch::Receiver<bool>,
}

/// The one project a request's `project` field `asked` names, or `None` for every project: an empty
/// field means every project the caller may read, which for a project token is its own.
pub fn scope_of(principal: &Principal, asked: &str) -> Option<String> {
    match (asked, principal.own_project()) {
        ("", None) => None,
        ("", Some(own)) => Some(own.to_owned()),
        (named, _) => Some(named.to_owned()),
    }
}

impl Shared {
    /// The latest snapshot.
    pub fn snapshot(&self) -> Snapshot {
        self.snapshot.borrow().clone()
    }

    /// The first damage found on open in `project`'s chain, if any.
    pub fn damage_of(&self, project: &str) -> Option<&Damage> {
        self.damage.iter().find(|d| d.project == project)
    }

    /// Refuses (`DATA_LOSS`) a read of the whole ledger (a trial balance, every project's pledges
    /// or pending expenses) while a chain is damaged: its sums would take in the damaged chain's
    /// records, or silently leave it out, so no figure is given for the whole. The callers are
    /// staff and auditors, whom the damaged chain's name may be told.
    pub fn whole_ledger(&self) -> Result<(), Status> {
        match self.damage.first() {
            Some(d) => Err(Status::data_loss(format!(
                "{} failed verification ({}): the ledger's books are not whole, and no figure is given for the \
                 whole ledger until an operator acts; reads of each intact project go on",
                d.place(),
                d.problem
            ))),
            None => Ok(()),
        }
    }

    /// The projects a listing answers for, and the snapshot it answers from: the request's
    /// `project` field `asked` (checked by [`Shared::readable`]), or when it is empty every project
    /// the caller may read ([`scope_of`]: for a project token, its own).
    pub fn scope(&self, principal: &Principal, asked: &str) -> Result<(Option<String>, Snapshot), Status> {
        let only = scope_of(principal, asked);
        let snapshot = match &only {
            Some(p) => self.readable(principal, "project", p)?,
            None => self.snapshot(),
        };
        Ok((only, snapshot))
    }

    /// Checks, in order, that the principal may read `project` (before anything that would tell
    /// whether it exists), that the id is well-formed, and that its chain is intact and exists; then
    /// returns the snapshot the answer is to come from. `field` names the request field holding the id.
    pub fn readable(&self, principal: &Principal, field: &str, project: &str) -> Result<Snapshot, Status> {
        principal.may_read(project)?;
        project_id(field, project).map_err(|e| ledger_status(&e))?;
        if let Some(d) = self.damage_of(project) {
            return Err(Status::data_loss(format!(
                "{} failed verification ({}); its data is not served until an operator acts",
                d.place(),
                d.problem
            )));
        }
        let snapshot = self.snapshot();
        chain(&snapshot, project)?;
        Ok(snapshot)
    }

    /// A page size from a request: 0 for the default, at most the limit.
    pub fn page_size(&self, field: &str, asked: u32) -> Result<usize, Status> {
        let size = match asked {
            0 => self.limits.page_size_default,
            n if n > self.limits.page_size_max => {
                return Err(invalid(
                    field,
                    format!("{n} is over the server's page limit of {}", self.limits.page_size_max),
                ))
            }
            n => n,
        };
        Ok(usize::try_from(size).unwrap_or(usize::MAX))
    }
}

/// A chain's state in `snapshot`; `NOT_FOUND` when there is none.
pub fn chain<'s>(snapshot: &'s Projection, project: &str) -> Result<&'s ProjectState, Status> {
    snapshot.project(project).ok_or_else(|| Status::not_found(format!("unknown project {project}")))
}

/// Runs a store read on the blocking pool (sled is synchronous).
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, LedgerError> + Send + 'static,
) -> Result<T, Status> {
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result.map_err(|e| ledger_status(&e)),
        Err(e) => Err(Status::internal(format!("a read task failed: {e}"))),
    }
}
