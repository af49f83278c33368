//! Where the command line reads and writes: a `fiscusd` over gRPC (`--server`), or an embedded
//! store opened in this process (`--store`, for local and offline use). Both answer with the
//! client crate's types, so every command shows them the same way.

use std::path::Path;

use chrono::NaiveDate;
use fiscus_client::fiscus_ledger::chain::Hash;
use fiscus_client::fiscus_ledger::commit::{CommitRequest, Committed};
use fiscus_client::fiscus_ledger::record::Record;
use fiscus_client::fiscus_ledger::replay::{ReplayOptions, COMMIT_LOG};
use fiscus_client::fiscus_ledger::store::{self, OpenReport, Store};
use fiscus_client::fiscus_ledger::{Currency, Event, LedgerError, ProjectId};
use fiscus_client::{fiscus_ledger::report, OpenPledges};
use fiscus_client::{
    Balances, ChainHead, Client, ClientOptions, CommitOptions, EventsPage, Heads, PendingExpense, ProjectSummary,
    RawRecord, RecordedEvent, Statements, TrialBalance,
};

use crate::fail::Failure;

/// The ledger a command works on.
pub enum Backend {
    /// A daemon.
    Remote(Box<Client>),
    /// A store in a local directory, with the actor its writes are recorded under.
    Local {
        /// The open store (verified on open).
        store: Box<Store>,
        /// The actor of events recorded through it.
        actor: String,
    },
}

/// Micro-seconds since the epoch, the `recorded_at` of local writes.
pub fn now_us() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(now.as_micros()).unwrap_or(i64::MAX)
}

fn not_found(project: &ProjectId) -> Failure {
    Failure::from(LedgerError::UnknownProject { project: project.clone() })
}

/// Opens (creating when absent: callers refuse a missing store first) the store in `dir`, verifying every chain, with a spinner on a
/// terminal counting the records verified (a large store takes seconds).
pub fn open_store(dir: &Path) -> Result<(Store, OpenReport), Failure> {
    let spinner = crate::commands::progress(None, "opening and verifying the store");
    spinner.enable_steady_tick(std::time::Duration::from_millis(100));
    let count = |records: u64| spinner.set_position(records);
    let opened = Store::open_reporting(dir, ReplayOptions::default(), Some(&count));
    spinner.finish_and_clear();
    let (store, report) = opened?;
    for warning in &report.warnings {
        eprintln!("fiscus: warning: {warning}");
    }
    Ok((store, report))
}

/// Refuses a read of `project` (of the whole ledger when `None`) from a store whose replay found
/// it damaged, as fiscusd refuses it (`DATA_LOSS`): its records up to the damage are not shown as
/// its books (a balance of a chain damaged at seq 5 was the balance at seq 4, exit 0).
fn intact(store: &Store, project: Option<&ProjectId>) -> Result<(), Failure> {
    // damage to the commit log (commits synced and answered that the files no longer hold) is
    // every project's: any of them may miss those commits
    refuse_damage(store, |d| d.project == COMMIT_LOG || project.is_none_or(|p| d.project == p.as_str()))
}

/// Refuses every read of a store whose commit log is damaged ([`intact`]'s first rule), where a
/// listing of the other projects goes on past a damaged chain.
fn whole(store: &Store) -> Result<(), Failure> {
    refuse_damage(store, |d| d.project == COMMIT_LOG)
}

/// The refusal of a read from a store whose opening found damage that `concerns` the read.
fn refuse_damage(
    store: &Store,
    concerns: impl Fn(&fiscus_client::fiscus_ledger::replay::Damage) -> bool,
) -> Result<(), Failure> {
    match store.damage().iter().find(|d| concerns(d)) {
        Some(d) => Err(Failure::other(format!(
            "{} failed verification ({}); its data is not served: `fiscus --store DIR verify` says what is \
             damaged",
            d.place(),
            d.problem
        ))),
        None => Ok(()),
    }
}

/// Refuses a commit written here to a store whose log fiscusd signs (it holds a signed
/// checkpoint): the command line holds no log key, so the commit would be under no checkpoint,
/// which every audit of the store reports as damage until fiscusd next opens it and signs one.
fn refuse_unsigned_commit(store: &Store) -> Result<(), Failure> {
    match store.reader().latest_checkpoint()? {
        Some((size, _)) => Err(Failure::other(format!(
            "the store in {} has a signed transparency log (its latest checkpoint is of size {size}), and a commit \
             written here would be under no checkpoint: record through fiscusd (--server URL), which signs one \
             after every commit; nothing was recorded",
            store.dir().display()
        ))),
        None => Ok(()),
    }
}

/// The refusal of a `--store DIR` that holds no store: it names the folder and how to make one,
/// so that a mistyped path never reads as empty books (or silently starts new ones).
pub fn no_store(dir: &Path) -> Failure {
    Failure::other(format!(
        "no store in {0}: to make a new, empty store there run `fiscus --store {0} init` (or add --create); \
         to use existing books, give --store the folder that holds them",
        dir.display()
    ))
}

/// `fiscus --store DIR init`: makes a new, empty store in `dir`, or says that one is there
/// already (and changes nothing).
pub fn init(dir: &Path, json: bool) -> Result<(), Failure> {
    let existed = store::present(dir);
    let (store, report) = open_store(dir)?;
    drop(store);
    if json {
        let v = serde_json::json!({"store": dir.display().to_string(), "created": !existed, "events": report.events});
        println!("{v}");
    } else if existed {
        println!("a store is already in {} ({} events); nothing changed", dir.display(), report.events);
    } else {
        println!("made a new, empty store in {}", dir.display());
    }
    Ok(())
}

/// The events of a chain of an embedded store, seqs 1 to `head` (the projection's head).
fn local_events(store: &Store, project: &str, head: u64) -> Result<Vec<(u64, Event)>, Failure> {
    if head == 0 {
        return Ok(Vec::new());
    }
    let limit = usize::try_from(head).unwrap_or(usize::MAX);
    Ok(store.records(project, 1, limit)?.into_iter().map(|r| (r.seq, r.event)).collect())
}

impl Backend {
    /// Connects to a daemon.
    pub async fn remote(url: &str, options: ClientOptions) -> Result<Backend, Failure> {
        Ok(Backend::Remote(Box::new(Client::connect(url, options).await?)))
    }

    /// Opens the store in `dir`, verifying every chain; a `dir` with no store is refused (see
    /// [`no_store`]) unless `create`, which makes a new, empty one.
    pub fn local(dir: &Path, actor: &str, create: bool) -> Result<Backend, Failure> {
        if !create && !store::present(dir) {
            return Err(no_store(dir));
        }
        let (store, _) = open_store(dir)?;
        Ok(Backend::Local { store: Box::new(store), actor: actor.to_owned() })
    }

    /// The projects (closed ones with `include_closed`).
    pub async fn projects(&self, include_closed: bool) -> Result<Vec<ProjectSummary>, Failure> {
        match self {
            Backend::Remote(c) => Ok(c.projects(include_closed).await?),
            Backend::Local { store, .. } => Ok({
                whole(store)?;
                store
                    .projection()
                    .projects()
                    .filter_map(ProjectSummary::of)
                    .filter(|p| include_closed || !p.closed)
                    .collect()
            }),
        }
    }

    /// A project's balances.
    pub async fn balance(&self, project: &ProjectId, currency: Option<Currency>) -> Result<Balances, Failure> {
        match self {
            Backend::Remote(c) => Ok(c.balance(project, currency).await?),
            Backend::Local { store, .. } => {
                intact(store, Some(project))?;
                let p = store.projection();
                let state =
                    p.project(project.as_str()).filter(|s| s.info.is_some()).ok_or_else(|| not_found(project))?;
                let balances =
                    state.balances().into_iter().filter(|b| currency.is_none_or(|c| c == b.currency)).collect();
                Ok(Balances {
                    project: project.clone(),
                    head_seq: state.head.seq,
                    commit: p.commit_head.number,
                    balances,
                })
            }
        }
    }

    /// A project's balances as of the end of `as_of` (events whose effective date is on or before
    /// it), from one state of the ledger; `None` is [`Backend::balance`].
    pub async fn balance_as_of(
        &self,
        project: &ProjectId,
        currency: Option<Currency>,
        as_of: Option<NaiveDate>,
    ) -> Result<Balances, Failure> {
        let Some(date) = as_of else { return self.balance(project, currency).await };
        match self {
            Backend::Remote(c) => Ok(c.balance_as_of(project, currency, Some(date)).await?),
            Backend::Local { store, .. } => {
                intact(store, Some(project))?;
                let p = store.projection();
                let state =
                    p.project(project.as_str()).filter(|s| s.info.is_some()).ok_or_else(|| not_found(project))?;
                let events = local_events(store, project.as_str(), state.head.seq)?;
                let balances = report::state_as_of(project, events, date)
                    .balances()
                    .into_iter()
                    .filter(|b| currency.is_none_or(|c| c == b.currency))
                    .collect();
                Ok(Balances {
                    project: project.clone(),
                    head_seq: state.head.seq,
                    commit: p.commit_head.number,
                    balances,
                })
            }
        }
    }

    /// The sponsor-wide trial balance as of the end of `as_of`; `None` is [`Backend::trial_balance`].
    pub async fn trial_balance_as_of(&self, as_of: Option<NaiveDate>) -> Result<TrialBalance, Failure> {
        let Some(date) = as_of else { return self.trial_balance().await };
        match self {
            Backend::Remote(c) => Ok(c.trial_balance_as_of(Some(date)).await?),
            Backend::Local { store, .. } => {
                intact(store, None)?;
                let p = store.projection();
                let mut chains = Vec::new();
                for c in p.chains() {
                    chains.push((c.id.clone(), local_events(store, c.id.as_str(), c.head.seq)?));
                }
                Ok(TrialBalance {
                    commit: p.commit_head.number,
                    lines: report::trial_balance_as_of(chains, date),
                    closed_through: p.sponsor_closed_through(),
                })
            }
        }
    }

    /// Open pledges as of `as_of`, of one project or of every project readable, with their ageing.
    pub async fn open_pledges(&self, project: Option<&ProjectId>, as_of: NaiveDate) -> Result<OpenPledges, Failure> {
        match self {
            Backend::Remote(c) => Ok(c.open_pledges(project, Some(as_of)).await?),
            Backend::Local { store, .. } => {
                intact(store, project)?;
                let p = store.projection();
                if let Some(id) = project {
                    p.project(id.as_str()).filter(|s| s.info.is_some()).ok_or_else(|| not_found(id))?;
                }
                let mut pledges = Vec::new();
                for c in p.projects().filter(|c| project.is_none_or(|id| *id == c.id)) {
                    let events = local_events(store, c.id.as_str(), c.head.seq)?;
                    pledges.extend(report::open_pledges(&c.id, events, as_of));
                }
                let ageing = report::ageing(&pledges);
                Ok(OpenPledges { commit: p.commit_head.number, as_of, pledges, ageing })
            }
        }
    }

    /// A project's statements for a date range.
    pub async fn statement(
        &self,
        project: &ProjectId,
        from: NaiveDate,
        to: NaiveDate,
        currency: Option<Currency>,
    ) -> Result<Statements, Failure> {
        match self {
            Backend::Remote(c) => Ok(c.statement(project, from, to, currency).await?),
            Backend::Local { store, .. } => {
                intact(store, Some(project))?;
                let state = store.projection().project(project.as_str()).ok_or_else(|| not_found(project))?;
                let currencies: Vec<Currency> = match currency {
                    Some(c) => vec![c],
                    None => state.books.keys().copied().collect(),
                };
                let mut statements = Vec::with_capacity(currencies.len());
                for c in currencies {
                    statements.push(store.statement(project.as_str(), from, to, Some(c))?);
                }
                Ok(Statements { project: project.clone(), from, to, head_seq: state.head.seq, statements })
            }
        }
    }

    /// A page of a project's events after `after_seq`, at most `limit`.
    pub async fn events(&self, project: &ProjectId, after_seq: u64, limit: u32) -> Result<EventsPage, Failure> {
        match self {
            Backend::Remote(c) => Ok(c.events(project, after_seq, limit).await?),
            Backend::Local { store, .. } => {
                intact(store, Some(project))?;
                let state = store.projection().project(project.as_str()).ok_or_else(|| not_found(project))?;
                let limit = usize::try_from(limit).unwrap_or(usize::MAX);
                let raws = store.raw_records(project.as_str(), after_seq + 1, limit)?;
                let mut events = Vec::with_capacity(raws.len());
                for raw in raws.iter().filter(|r| r.seq <= state.head.seq) {
                    let record = Record::decode(&raw.bytes)?;
                    events.push(RecordedEvent {
                        seq: record.seq,
                        commit: record.commit,
                        actor: record.actor,
                        recorded_at_us: record.recorded_at,
                        hash: raw.hash,
                        event: record.event,
                    });
                }
                let next = events.last().map_or(after_seq, |e| e.seq);
                Ok(EventsPage { events, next_after_seq: next, head_seq: state.head.seq })
            }
        }
    }

    /// The sponsor-wide trial balance.
    pub async fn trial_balance(&self) -> Result<TrialBalance, Failure> {
        match self {
            Backend::Remote(c) => Ok(c.trial_balance().await?),
            Backend::Local { store, .. } => {
                intact(store, None)?;
                let p = store.projection();
                Ok(TrialBalance {
                    commit: p.commit_head.number,
                    lines: p.trial_balance(),
                    closed_through: p.sponsor_closed_through(),
                })
            }
        }
    }

    /// Pending and approved, unpaid expense requests.
    pub async fn pending(&self, project: Option<&ProjectId>) -> Result<Vec<PendingExpense>, Failure> {
        match self {
            Backend::Remote(c) => Ok(c.pending(project).await?),
            Backend::Local { store, .. } => {
                intact(store, project)?;
                if let Some(p) = project {
                    store.projection().project(p.as_str()).ok_or_else(|| not_found(p))?;
                }
                Ok(store
                    .projection()
                    .pending_requests()
                    .into_iter()
                    .filter(|p| project.is_none_or(|want| want == p.project))
                    .map(|p| PendingExpense {
                        project: p.project.clone(),
                        seq: p.seq,
                        details: p.request.details.clone(),
                        requester: p.request.requester.clone(),
                        requested_on: p.request.date,
                        approved: p.request.approved,
                        same_receipt: p.same_receipt,
                    })
                    .collect())
            }
        }
    }

    /// Records one commit with `options` (such as `allow_same_receipt`).
    pub async fn record_with(
        &mut self,
        events: &[Event],
        expected: &[(ProjectId, u64)],
        options: CommitOptions,
    ) -> Result<Committed, Failure> {
        match self {
            // a dry run records nothing, answered or not
            Backend::Remote(c) if options.dry_run => {
                c.record_commit_with(events, expected, options).await.map_err(Failure::Client)
            }
            Backend::Remote(c) => c.record_commit_with(events, expected, options).await.map_err(unanswered),
            Backend::Local { store, actor, .. } => {
                let request = CommitRequest {
                    allow_same_receipt: options.allow_same_receipt,
                    events: events.to_vec(),
                    expected_heads: expected.to_vec(),
                    actor: actor.clone(),
                    recorded_at: now_us(),
                };
                if options.dry_run {
                    return Ok(store.check(&request)?);
                }
                refuse_unsigned_commit(store)?;
                Ok(store.commit(&request)?)
            }
        }
    }

    /// Records one commit on a daemon and writes its receipt to `path` as a C2SP tlog-proof
    /// (`docs/FORMAT.md` section 8, "Receipts").
    pub async fn record_keeping_receipt(
        &mut self,
        events: &[Event],
        expected: &[(ProjectId, u64)],
        options: CommitOptions,
        path: &Path,
    ) -> Result<Committed, Failure> {
        let Backend::Remote(c) = self else {
            return Err(Failure::usage("--receipt needs --server: receipts are signed by fiscusd"));
        };
        let (committed, receipt) = c.record_commit_with_receipt(events, expected, options).await.map_err(unanswered)?;
        let text = receipt.to_tlog_proof().map_err(|e| Failure::other(format!("receipt: {e}")))?.to_text();
        crate::files::write_replacing(path, |out| out.write_all(text.as_bytes())).map_err(|e| {
            let seqs: Vec<String> =
                committed.positions.iter().map(|p| format!("{} seq {}", p.project, p.seq)).collect();
            Failure::other(format!(
                "recorded in commit {} ({}), but the receipt could not be written to {}: {e}; \
                 run the same command again with another --receipt path to get it",
                committed.commit,
                seqs.join(", "),
                path.display()
            ))
        })?;
        Ok(committed)
    }

    /// The commit head and the chain heads (of one chain, or of every chain readable).
    pub async fn heads(&self, project: Option<&ProjectId>) -> Result<Heads, Failure> {
        match self {
            Backend::Remote(c) => Ok(c.head(project).await?),
            Backend::Local { store, .. } => {
                match project {
                    Some(_) => intact(store, project)?,
                    None => whole(store)?,
                }
                let p = store.projection();
                if let Some(id) = project {
                    p.project(id.as_str()).ok_or_else(|| not_found(id))?;
                }
                let projects = p
                    .chains()
                    .filter(|c| project.is_none_or(|id| *id == c.id))
                    .map(|c| ChainHead { project: c.id.clone(), seq: c.head.seq, hash: c.head.hash })
                    .collect();
                Ok(Heads { commit: p.commit_head.number, commit_hash: p.commit_head.hash, projects, scope: None })
            }
        }
    }

    /// A chain's raw records from seq 1, as stored.
    pub async fn raw_chain(&self, project: &ProjectId) -> Result<Vec<RawRecord>, Failure> {
        match self {
            Backend::Remote(c) => Ok(c.export_chain(project).await?),
            Backend::Local { store, .. } => {
                intact(store, Some(project))?;
                let head = store.projection().project(project.as_str()).ok_or_else(|| not_found(project))?.head.seq;
                let limit = usize::try_from(head).unwrap_or(usize::MAX);
                Ok(store
                    .raw_records(project.as_str(), 1, limit)?
                    .into_iter()
                    .map(|r| RawRecord { seq: r.seq, bytes: r.bytes, hash: r.hash })
                    .collect())
            }
        }
    }

    /// Every stored record of `scope` (one project, or every chain readable) decoded, with its hash,
    /// for exports. The hash is recomputed from the bytes, not taken from the server. When `scope`
    /// is `None` and the token reads one project only, `scope` is set to that project.
    pub async fn records(
        &self,
        scope: &mut Option<ProjectId>,
        progress: &mut dyn FnMut(u64),
    ) -> Result<Vec<(Record, Hash)>, Failure> {
        if let Backend::Local { store, .. } = self {
            intact(store, scope.as_ref())?;
        }
        let chains: Vec<ProjectId> = match scope {
            Some(p) => vec![p.clone()],
            None => {
                let heads = self.heads(None).await?;
                // A project token reads its own project only: the export is of that project.
                *scope = heads.scope;
                heads.projects.into_iter().map(|h| h.project).collect()
            }
        };
        let mut out = Vec::new();
        for chain in chains {
            for raw in self.raw_chain(&chain).await? {
                let hash = fiscus_client::fiscus_ledger::chain::record_hash(&raw.bytes);
                out.push((Record::decode(&raw.bytes)?, hash));
                progress(out.len() as u64);
            }
        }
        Ok(out)
    }
}

/// A write the daemon did not answer (the connection broke, the daemon stopped or timed out) may
/// or may not have been recorded: says so, and that running the same command again is safe, since
/// the same event ids are recorded once (a retry answers with the first commit's positions).
fn unanswered(e: fiscus_client::ClientError) -> Failure {
    use fiscus_client::{ClientError, Code};
    match e.code() {
        // the daemon answered: its store refuses writes, and nothing was recorded
        Some(Code::Unavailable)
            if matches!(&e, ClientError::Status { message, .. }
                if message.starts_with(fiscus_client::fiscus_ledger::error::READ_ONLY)) =>
        {
            Failure::Client(e)
        }
        Some(Code::Unknown | Code::Unavailable | Code::Cancelled | Code::DeadlineExceeded) => Failure::Unanswered(e),
        _ => Failure::Client(e),
    }
}

#[cfg(test)]
mod tests {
    use fiscus_client::{ClientError, Code};

    #[test]
    fn an_unanswered_write_says_the_retry_is_safe_and_a_refusal_does_not() {
        let status = |code| ClientError::Status { code, message: "transport error".to_owned(), field: None };
        for code in [Code::Unknown, Code::Unavailable, Code::Cancelled, Code::DeadlineExceeded] {
            let text = super::unanswered(status(code)).to_string();
            assert!(
                text.contains("may or may not have been recorded") && text.contains("run the same command again"),
                "{text}"
            );
        }
        let refused = super::unanswered(status(Code::FailedPrecondition)).to_string();
        assert!(!refused.contains("run the same command again"), "{refused}");
        // a read-only store's refusal is an answer: nothing was recorded
        let read_only = fiscus_client::fiscus_ledger::LedgerError::ReadOnly("a write failed".to_owned()).to_string();
        let e = ClientError::Status { code: Code::Unavailable, message: read_only, field: None };
        let said = super::unanswered(e).to_string();
        assert!(!said.contains("may or may not"), "{said}");
    }
}
