//! `fiscus audit`: the whole ledger checked by someone who trusts only the log's verifier key,
//! online (a daemon), on a local store, or on an archive written by `fiscus archive`
//! (`docs/FORMAT.md` section 10). One audit core ([`audit`]) reads any [`Source`]:
//!
//! 1. every stored checkpoint, each opened with the pinned key (C2SP signed-note);
//! 2. the commit chain rebuilt from the raw commit entries (the ledger's one commit entry
//!    decoder), and the transparency log rebuilt from them with the ledger's own leaf function
//!    (`fiscus_ledger::log::LedgerLog`); each checkpoint's root is compared with the rebuilt log's
//!    root at its size, and each is checked consistent with the one before (RFC 6962);
//! 3. every chain walked record by record with the one chain walker (`verify::ChainWalker`: strict
//!    decoding, links, limits, the business rules re-decided), each record's hash and commit
//!    number compared with the commit entry that lists it;
//! 4. with a C2SP tlog-policy, the cosignatures of every checkpoint, and the quorum on at least one
//!    (the largest such size is reported: the history the witnesses vouch for).
//!
//! It runs as a pipeline: the log is rebuilt on a thread of its own, fed pages of the commit
//! entries the commit chain's check accepted (queued without waiting, so that the chains are
//! walked while the log is still being rebuilt), and a local store or an archive is read ahead on
//! a reading thread ([`crate::archive`]) behind a bounded channel; the commit chain's check and
//! the chain walker run on the calling thread, decoding each entry and each record once.
//!
//! The audit reads one cut of the ledger: commits up to the head the source states at the start.
//! Damage is collected and named (chain and seq, commit number, checkpoint size), never a panic;
//! a source that cannot be read (a connection lost, an archive truncated) ends the audit with an
//! error.

use std::collections::HashMap;
use std::time::Instant;

use fiscus_client::fiscus_ledger::chain::{commit_hash, Hash, COMMIT_GENESIS};
use fiscus_client::fiscus_ledger::log::{map_leaf_data, LedgerLog};
use fiscus_client::fiscus_ledger::record::{CommitView, Record, FORMAT_VERSION, RECORD_BYTES_MAX};
use fiscus_client::fiscus_ledger::rules::History;
use fiscus_client::fiscus_ledger::verify::ChainWalker;
use fiscus_client::fiscus_ledger::{Event, LedgerError, ProjectId};
use fiscus_client::fiscus_tlog::{
    note::KEY_TYPE_COSIGNATURE_V1, open_checkpoint, verify_consistency, Checkpoint, NoteVerifier, Policy,
};
use indicatif::ProgressBar;
use serde_json::json;

use crate::fail::Failure;
use crate::show;

/// Items a source hands over per page (commit entries, checkpoints or records).
pub const PAGE_ITEMS_MAX: usize = 1_000;

/// Where an audit reads the ledger: a daemon, a local store or an archive. Each call answers the
/// next page (at most [`PAGE_ITEMS_MAX`] items), empty when the source has nothing more.
#[allow(async_fn_in_trait, reason = "used only generically inside this binary, never as a trait object")]
pub trait Source {
    /// The commit head the audit reads up to (the same cut for every later call).
    async fn head(&mut self) -> Result<u64, Failure>;
    /// Stored checkpoints of sizes `from ..= head`, `(size, signed note)`, in size order.
    async fn checkpoints(&mut self, from: u64, head: u64) -> Result<Vec<(u64, String)>, Failure>;
    /// Raw commit entries `from ..= head`, `(number, stored bytes)`, in order.
    async fn commit_entries(&mut self, from: u64, head: u64) -> Result<Vec<(u64, Vec<u8>)>, Failure>;
    /// Raw stored records of `chain`, seqs `from ..= last`, in seq order.
    async fn records(&mut self, chain: &str, from: u64, last: u64) -> Result<Vec<Vec<u8>>, Failure>;
    /// Told, before the first [`Source::records`] call, the chains the audit reads and the last
    /// seq of each, in the order it reads them: a source may read them ahead. Nothing by default.
    fn plan(&mut self, _chains: &[(&str, u64)]) {}
    /// What the source holds that no commit entry listed, `(chain, seq)`, once every chain was
    /// read (an archive can hold more; a server is read only up to the heads the entries list).
    async fn finish(&mut self) -> Result<Vec<(String, u64)>, Failure>;
}

/// Where a piece of damage is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// A record of a chain.
    Record {
        /// The chain (a project id, or "sponsor").
        chain: String,
        /// Its seq.
        seq: u64,
    },
    /// A commit log entry.
    Commit(u64),
    /// A stored checkpoint, by tree size.
    Checkpoint(u64),
    /// Something else a local store's opening found damaged (its derived entries: a chain's head
    /// entry, the log's map index, a key outside every keyspace), in the opening's words.
    Store(String),
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Place::Record { chain, seq } => write!(f, "chain {chain} seq {seq}"),
            Place::Commit(n) => write!(f, "commit {n}"),
            Place::Checkpoint(size) => write!(f, "checkpoint of size {size}"),
            Place::Store(place) => write!(f, "{place}"),
        }
    }
}

/// One piece of damage: where, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// Where.
    pub place: Place,
    /// What is wrong, as a sentence.
    pub problem: String,
}

/// What an audit read and found.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// The commit head audited up to.
    pub head: u64,
    /// Commit entries read.
    pub commits: u64,
    /// Records read.
    pub records: u64,
    /// Chains read (projects, and the sponsor chain when it has records).
    pub chains: u64,
    /// Stored checkpoints read.
    pub checkpoints: u64,
    /// Cosignature lines on them (verified against the policy's witnesses when one is given).
    pub cosignatures: u64,
    /// Whether `cosignatures` counts only verified ones (a policy was given).
    pub cosignatures_verified: bool,
    /// The largest checkpoint that opened with the pinned key and whose root the rebuilt log has.
    pub verified_against: Option<Checkpoint>,
    /// Its signed note, as stored (what `--state` keeps).
    pub verified_note: Option<String>,
    /// The size of the checkpoint kept from before (`--state`) that the rebuilt log holds.
    pub kept_size: Option<u64>,
    /// With a policy: why the latest checkpoint does not meet its quorum yet (size, reason).
    pub unwitnessed: Option<(u64, String)>,
    /// With a policy: the largest checkpoint that passed and meets its quorum (the history the
    /// witnesses vouch for; checkpoints after it are not cosigned yet, which is no damage).
    pub witnessed: Option<u64>,
    /// Every piece of damage found.
    pub damage: Vec<Damage>,
    /// Milliseconds the audit took.
    pub elapsed_ms: u128,
}

/// A chain as the commit entries list it: for seq `i + 1`, the commit listing it and the hash.
#[derive(Default)]
struct Listed {
    /// Each record's commit number, hash and the commit's `recorded_at`, in seq order.
    records: Vec<(u64, Hash, i64)>,
}

/// The records of a chain read so far, as the rules' history (a refund's contribution, a
/// reversal's target).
struct Kept<'k> {
    project: &'k ProjectId,
    records: &'k [Vec<u8>],
}

impl History for Kept<'_> {
    fn event_at(&self, project: &ProjectId, seq: u64) -> Result<Option<Event>, LedgerError> {
        if project != self.project || seq == 0 {
            return Ok(None);
        }
        let Some(bytes) = usize::try_from(seq - 1).ok().and_then(|i| self.records.get(i)) else { return Ok(None) };
        Record::decode(bytes).map(|r| Some(r.event))
    }
}

/// Audits the ledger `src` holds against the log key `pin` (and the witnesses of `policy`),
/// showing progress on `bar`. Errors: only a source that cannot be read; damage is in the summary.
pub async fn audit<S: Source>(
    src: &mut S,
    pin: &NoteVerifier,
    policy: Option<&Policy>,
    kept: Option<&Checkpoint>,
    bar: &ProgressBar,
) -> Result<Summary, Failure> {
    let started = Instant::now();
    let mut s = Summary { cosignatures_verified: policy.is_some(), ..Summary::default() };
    let head = src.head().await?;
    s.head = head;

    // 1. Every stored checkpoint up to the head.
    bar.set_message("reading checkpoints");
    let mut checkpoints: Vec<(u64, String)> = Vec::new();
    let mut from = 1;
    while from <= head {
        let page = src.checkpoints(from, head).await?;
        let Some(&(last, _)) = page.last() else { break };
        for (size, text) in page {
            let after = checkpoints.last().map_or(0, |(s, _)| *s);
            if size > head {
                return Err(Failure::other(format!(
                    "the source gives a checkpoint of size {size}, beyond the commit head {head} it states"
                )));
            }
            if size <= after {
                return Err(Failure::other(format!(
                    "the source's checkpoints are out of order: size {size} after {after}"
                )));
            }
            checkpoints.push((size, text));
        }
        from = last.saturating_add(1);
    }
    s.checkpoints = checkpoints.len() as u64;
    let latest_size = checkpoints.last().map(|(size, _)| *size);

    // 2. The commit chain and the log, rebuilt from the commit entries; each checkpoint compared
    // with the log at its size.
    bar.set_message("rebuilding the commit chain and the log");
    bar.set_length(head);
    bar.set_position(0);
    // The log is rebuilt on a thread of its own, fed a page of accepted entries at a time.
    let sizes: Vec<u64> = checkpoints.iter().map(|(size, _)| *size).collect();
    let (to_log, entries) = std::sync::mpsc::channel::<LogPage>();
    let log_thread = {
        let (pin, policy, kept) = (pin.clone(), policy.cloned(), kept.cloned());
        std::thread::spawn(move || {
            rebuild_log(&entries, &checkpoints, &pin, policy.as_ref(), kept.as_ref(), latest_size)
        })
    };
    let mut prev: Hash = COMMIT_GENESIS;
    let mut chains: Vec<(String, Listed)> = Vec::new();
    let mut chain_index: HashMap<String, usize> = HashMap::new();
    // the damage that stopped the commit chain's check
    let mut stop: Option<Damage> = None;
    let mut next = 1u64;
    'entries: while next <= head {
        let page = src.commit_entries(next, head).await?;
        if page.is_empty() {
            stop = Some(Damage {
                place: Place::Commit(next),
                problem: format!("missing: the commit log ends at commit {} of {head}", next - 1),
            });
            break;
        }
        let mut accepted = LogPage::default();
        for (number, bytes) in page {
            if number != next {
                stop = Some(Damage {
                    place: Place::Commit(next),
                    problem: format!("missing: the source gives commit {number} next"),
                });
                break;
            }
            let damage = |problem: String| Damage { place: Place::Commit(number), problem };
            let view = match CommitView::decode(&bytes) {
                Ok(v) => v,
                Err(e) => {
                    stop = Some(damage(e.to_string()));
                    break;
                }
            };
            let problem = if view.version != FORMAT_VERSION {
                Some(format!("format version {}", view.version))
            } else if view.number != number {
                Some(format!("the entry says commit {}", view.number))
            } else if commit_hash(&prev, number, view.records.iter().map(|r| &r.hash)) != view.hash {
                Some("its hash does not match its records and the commit before".to_owned())
            } else {
                None
            };
            if let Some(problem) = problem {
                stop = Some(damage(format!("commit chain broken: {problem}")));
                break;
            }
            let first = accepted.records.len();
            for r in &view.records {
                let at = match chain_index.get(r.project) {
                    Some(&at) => at,
                    None => {
                        chain_index.insert(r.project.to_owned(), chains.len());
                        chains.push((r.project.to_owned(), Listed::default()));
                        // every new chain, so that the log thread's indexes stay the same as these
                        accepted.new_chains.push(r.project.to_owned());
                        chains.len() - 1
                    }
                };
                let listed = &mut chains[at].1;
                let due = listed.records.len() as u64 + 1;
                if r.seq != due {
                    stop = Some(damage(format!("it lists {} seq {} where seq {due} was due", r.project, r.seq)));
                    break;
                }
                listed.records.push((number, r.hash, view.recorded_at));
                accepted.records.push((at, r.seq, r.hash));
            }
            // what the log refuses is known here, so that the check stops where the log does
            if stop.is_none() {
                if let Some(e) = view.records.iter().find_map(|r| map_leaf_data(r.project, r.seq, &r.hash).err()) {
                    stop = Some(damage(format!("the log cannot take it: {e}")));
                }
            }
            if stop.is_some() {
                accepted.records.truncate(first);
                break;
            }
            accepted.commits.push((number, view.hash, accepted.records.len()));
            prev = view.hash;
            bar.inc(1);
            next += 1;
        }
        // the log thread ends early only when the log refuses an entry: what it found is below
        let _ = to_log.send(accepted);
        if stop.is_some() {
            break 'entries;
        }
    }
    // the log rebuild goes on while the chains are walked; its findings are taken below
    drop(to_log);

    // 3. Every chain, with the one chain walker, against what the commit entries list (its damage
    // is reported after the log's).
    let mut walked: Vec<Damage> = Vec::new();
    let total: u64 = chains.iter().map(|(_, l)| l.records.len() as u64).sum();
    let plan: Vec<(&str, u64)> = chains.iter().map(|(c, l)| (c.as_str(), l.records.len() as u64)).collect();
    src.plan(&plan);
    bar.set_message("walking every chain");
    bar.set_length(total);
    bar.set_position(0);
    for (chain, listed) in &chains {
        s.chains += 1;
        let id = match ProjectId::parse("chain", chain) {
            Ok(id) => id,
            Err(e) => {
                walked.push(Damage { place: Place::Record { chain: chain.clone(), seq: 1 }, problem: e.to_string() });
                continue;
            }
        };
        let last = listed.records.len() as u64;
        let mut walker = ChainWalker::new(id.clone());
        let mut kept: Vec<Vec<u8>> = Vec::new();
        let mut seq = 1u64;
        'walk: while seq <= last {
            let page = src.records(chain, seq, last).await?;
            if page.is_empty() {
                walked.push(Damage {
                    place: Place::Record { chain: chain.clone(), seq },
                    problem: format!("missing: commit {} lists it", listed.records[seq as usize - 1].0),
                });
                break;
            }
            for bytes in page {
                if seq > last {
                    break 'walk;
                }
                let place = Place::Record { chain: chain.clone(), seq };
                let (commit, listed_hash, listed_at) = listed.records[seq as usize - 1];
                if bytes.len() > RECORD_BYTES_MAX {
                    walked.push(Damage { place, problem: format!("over {RECORD_BYTES_MAX} bytes") });
                    break 'walk;
                }
                // the walker decodes the record once, and answers the commit number it states
                let pushed = walker.push_record(&bytes, &Kept { project: &id, records: &kept });
                let problem = match pushed {
                    Err(LedgerError::Corrupt { problem, .. }) => Some(problem),
                    Err(e) => Some(e.to_string()),
                    Ok(walked) if walked.hash != listed_hash => {
                        Some(format!("its hash is not the one commit {commit} lists for it"))
                    }
                    Ok(walked) if walked.commit != commit => {
                        Some(format!("it says commit {}, but commit {commit} lists it", walked.commit))
                    }
                    // no hash covers an entry's time: its records' times hold it
                    Ok(walked) if walked.recorded_at != listed_at => Some(format!(
                        "it was recorded at {} µs, but commit {commit}'s entry says {listed_at} µs",
                        walked.recorded_at
                    )),
                    Ok(_) => None,
                };
                if let Some(problem) = problem {
                    walked.push(Damage { place, problem });
                    break 'walk;
                }
                kept.push(bytes);
                s.records += 1;
                seq += 1;
                bar.inc(1);
            }
        }
    }
    for (chain, seq) in src.finish().await? {
        walked.push(Damage {
            place: Place::Record { chain, seq },
            problem: "no commit entry lists this record".to_owned(),
        });
    }

    // 2, continued: what the log rebuild found, reported before the chains' damage.
    bar.set_message("finishing the log rebuild");
    // The rebuild reads the source's commit entries and checkpoints: should it ever stop on one
    // (a fault of this program), the audit fails in words rather than passing or aborting.
    let rebuilt = log_thread.join().map_err(|_| {
        Failure::other("the audit's log rebuild stopped on a fault of fiscus; the audit is incomplete, report it")
    })?;
    s.damage.extend(rebuilt.damage);
    s.cosignatures += rebuilt.cosignatures;
    match rebuilt.refused {
        // not reached: the entries were checked against the log's refusals above
        Some(refused) => {
            if let Place::Commit(number) = refused.place {
                next = number;
            }
            s.damage.push(refused);
        }
        None => s.damage.extend(stop),
    }
    s.commits = next - 1;
    for size in sizes.into_iter().filter(|size| *size >= next) {
        s.damage.push(Damage {
            place: Place::Checkpoint(size),
            problem: format!("not checked: the commit log was rebuilt only up to commit {}", next - 1),
        });
    }
    if s.commits == head && head > 0 && latest_size != Some(head) {
        s.damage.push(Damage {
            place: Place::Commit(head),
            problem: format!(
                "the head is under no stored checkpoint (the latest is of size {})",
                latest_size.unwrap_or(0)
            ),
        });
    }
    if let Some(kept) = kept.filter(|kept| !rebuilt.kept_checked && kept.size >= next) {
        s.damage.push(Damage {
            place: Place::Checkpoint(kept.size),
            problem: if s.commits == head {
                format!(
                    "the checkpoint kept from before (--state) is of size {}, but the log holds {head} commits: a log \
                     never goes back",
                    kept.size
                )
            } else {
                format!(
                    "the checkpoint kept from before (--state) is not checked: the commit log was rebuilt only up to \
                     commit {}",
                    next - 1
                )
            },
        });
    }
    s.kept_size = kept.filter(|_| rebuilt.kept_checked).map(|k| k.size);
    s.verified_against = rebuilt.good;
    s.verified_note = rebuilt.good_note;
    s.witnessed = rebuilt.witnessed;
    s.unwitnessed = rebuilt.unwitnessed;
    // With a policy, some checkpoint must meet its quorum; the newest (fiscusd submits only its
    // newest) is often not cosigned yet, which is reported, not damage.
    if policy.is_some() && s.witnessed.is_none() {
        let (size, why) = s.unwitnessed.clone().unwrap_or((0, "no checkpoint is stored".to_owned()));
        s.damage.push(Damage {
            place: Place::Checkpoint(size),
            problem: format!("no checkpoint meets the witness policy; the latest: {why}"),
        });
    }

    s.damage.extend(walked);
    bar.finish_and_clear();
    s.elapsed_ms = started.elapsed().as_millis();
    Ok(s)
}

/// A page of commit entries the commit chain's check accepted, in the shape the log rebuild needs
/// (about 100 bytes per commit of one record). The check does not wait for the log: the pages
/// queue up while the log falls behind, at most one per page of the ledger's commit entries, as
/// the chains' listing kept for the walk does (48 bytes per record), so that the chains are walked
/// while the log is still being rebuilt.
#[derive(Default)]
struct LogPage {
    /// The chains first listed in this page, in the order of the indexes the records use (those of
    /// a refused entry too, so that both sides number the chains alike).
    new_chains: Vec<String>,
    /// Each accepted commit: its number, its commit-chain hash, and where its records end in
    /// `records`.
    commits: Vec<(u64, Hash, usize)>,
    /// Each record of those commits, in order: its chain's index, its seq and its hash.
    records: Vec<(usize, u64, Hash)>,
}

/// What the log rebuild found.
struct Rebuilt {
    /// Damage to checkpoints, in commit order.
    damage: Vec<Damage>,
    /// Cosignatures counted on the checkpoints (see [`Summary::cosignatures`]).
    cosignatures: u64,
    /// The largest checkpoint that passed, and its note.
    good: Option<Checkpoint>,
    good_note: Option<String>,
    /// Whether the log reached the size of the checkpoint kept from before, which was compared
    /// with it (damage when the roots differ).
    kept_checked: bool,
    /// The commit entry the log refused, which ended the rebuild.
    refused: Option<Damage>,
    /// With a policy: the largest passing checkpoint that meets its quorum.
    witnessed: Option<u64>,
    /// With a policy: why the latest checkpoint does not meet it (size, reason).
    unwitnessed: Option<(u64, String)>,
}

/// Rebuilds the log from the commit entries `entries` hands over (in order, from commit 1), and
/// checks each stored checkpoint of `checkpoints` (in size order) when the log reaches its size:
/// the audit's log rebuild, on a thread of its own.
fn rebuild_log(
    entries: &std::sync::mpsc::Receiver<LogPage>,
    checkpoints: &[(u64, String)],
    pin: &NoteVerifier,
    policy: Option<&Policy>,
    kept: Option<&Checkpoint>,
    latest_size: Option<u64>,
) -> Rebuilt {
    let mut s = Summary::default();
    let mut log = LedgerLog::new();
    let mut pending = checkpoints.iter().peekable();
    let mut good: Option<Checkpoint> = None;
    let mut good_note: Option<&str> = None;
    let mut kept_checked = false;
    let mut refused = None;
    let mut chains: Vec<String> = Vec::new();
    'entries: for page in entries {
        chains.extend(page.new_chains);
        let mut first = 0;
        for &(number, hash, end) in &page.commits {
            let records = page.records.get(first..end).unwrap_or_default();
            first = end;
            let parts = records.iter().map(|(at, seq, hash)| (chains.get(*at).map_or("", String::as_str), *seq, hash));
            if let Err(e) = log.append_parts(number, hash, parts) {
                refused =
                    Some(Damage { place: Place::Commit(number), problem: format!("the log cannot take it: {e}") });
                break 'entries;
            }
            while let Some((size, text)) = pending.next_if(|(size, _)| *size == number) {
                let before = good.as_ref().map(|c| c.size);
                check_checkpoint(&mut s, &log, *size, text, pin, policy, latest_size, &mut good);
                if good.as_ref().map(|c| c.size) != before {
                    good_note = Some(text);
                }
            }
            if let Some(kept) = kept.filter(|kept| kept.size == number) {
                kept_checked = true;
                let root = log.root();
                if kept.root != root {
                    s.damage.push(Damage {
                        place: Place::Checkpoint(kept.size),
                        problem: format!(
                            "the checkpoint kept from before (--state) has root {}, but the log rebuilt from the \
                             commit entries has {} at its size: this is another history than the one accepted then",
                            kept.root.to_base64(),
                            root.to_base64()
                        ),
                    });
                }
            }
        }
    }
    Rebuilt {
        damage: s.damage,
        cosignatures: s.cosignatures,
        good,
        good_note: good_note.map(str::to_owned),
        kept_checked,
        refused,
        witnessed: s.witnessed,
        unwitnessed: s.unwitnessed,
    }
}

/// Checks the stored checkpoint of `size` against the log rebuilt up to that size: its signature
/// by the pinned key, its size and root, its consistency with the last good one (`good`, which it
/// replaces when it passes), and its cosignatures under `policy` (whether it meets the quorum;
/// why the latest, `latest_size`, does not).
#[expect(clippy::too_many_arguments, reason = "one step of the audit, with the audit's state")]
fn check_checkpoint(
    s: &mut Summary,
    log: &LedgerLog,
    size: u64,
    text: &str,
    pin: &NoteVerifier,
    policy: Option<&Policy>,
    latest_size: Option<u64>,
    good: &mut Option<Checkpoint>,
) {
    let mut damage = |problem: String| s.damage.push(Damage { place: Place::Checkpoint(size), problem });
    let opened = match open_checkpoint(text, pin.name(), std::slice::from_ref(pin)) {
        Ok(o) => o,
        Err(e) => return damage(format!("refused with the pinned key: {e}")),
    };
    let cp = opened.checkpoint;
    if cp.size != size {
        return damage(format!("stored as size {size}, its body says size {}", cp.size));
    }
    let root = log.root();
    if cp.root != root {
        return damage(format!(
            "its root {} is not the root {} of the log rebuilt from the commit entries",
            cp.root.to_base64(),
            root.to_base64()
        ));
    }
    if let Some(old) = good.as_ref() {
        let consistent = log
            .consistency_proof(old.size, cp.size)
            .and_then(|proof| verify_consistency(old.size, cp.size, &old.root, &cp.root, &proof));
        if let Err(e) = consistent {
            return damage(format!("not consistent with the checkpoint of size {}: {e}", old.size));
        }
    }
    // the checkpoint is the log's: later ones are checked against it, whatever its cosignatures
    *good = Some(cp);
    match policy {
        None => {
            let own = opened.note.signatures.iter().filter(|l| l.name == pin.name()).count();
            s.cosignatures += opened.note.signatures.len().saturating_sub(own) as u64;
        }
        Some(policy) => {
            // A cosignature line of a policy witness that does not verify is damage, met quorum
            // or not (C2SP signed-note: a signature by a known key that fails refuses the note).
            let checked = match policy.cosigners(text, pin.name()) {
                Ok(checked) => checked,
                Err(e) => return damage(format!("its cosignatures under the witness policy: {e}")),
            };
            let verified = &checked.opened.verified;
            s.cosignatures += verified.iter().filter(|v| v.key_type == KEY_TYPE_COSIGNATURE_V1).count() as u64;
            if policy.quorum_met(&checked.cosigned_by) {
                s.witnessed = Some(size);
            } else if latest_size == Some(size) {
                let why = policy.verify_checkpoint(text, pin.name()).err().map(|e| e.to_string());
                s.unwitnessed = Some((size, why.unwrap_or_default()));
            }
        }
    }
}

/// Prints the summary (a table of damage, or JSON) and answers a failure when there is damage.
pub fn report(s: &Summary, source: &str, json: bool) -> Result<(), Failure> {
    if json {
        show::print_json(&json!({
            "ok": s.damage.is_empty(),
            "source": source,
            "head": s.head,
            "commits": s.commits,
            "records": s.records,
            "chains": s.chains,
            "checkpoints": s.checkpoints,
            "cosignatures": s.cosignatures,
            "cosignatures_verified": s.cosignatures_verified,
            "verified_against": s.verified_against.as_ref().map(|c| json!({
                "origin": c.origin, "size": c.size, "root": c.root.to_base64(),
            })),
            "kept_size": s.kept_size,
            "witnessed_size": s.witnessed,
            "latest_not_witnessed": s.unwitnessed.as_ref().map(|(size, why)| json!({ "size": size, "why": why })),
            "elapsed_ms": s.elapsed_ms.to_string(),
            "damage": s.damage.iter().map(|d| {
                let mut v = json!({ "place": d.place.to_string(), "problem": d.problem });
                match &d.place {
                    Place::Record { chain, seq } => { v["chain"] = json!(chain); v["seq"] = json!(seq); }
                    Place::Commit(n) => v["commit"] = json!(n),
                    Place::Checkpoint(size) => v["checkpoint_size"] = json!(size),
                    Place::Store(_) => {}
                }
                v
            }).collect::<Vec<_>>(),
        }));
    } else {
        let rate = u128::from(s.records) * 1000 / s.elapsed_ms.max(1);
        outln!(
            "audited {source}: {} commits, {} records in {} chains, {} checkpoints, {} cosignatures{} in {} ms ({rate} \
             records/s)",
            s.commits,
            s.records,
            s.chains,
            s.checkpoints,
            s.cosignatures,
            if s.cosignatures_verified { " verified" } else { " (not checked: no --policy)" },
            s.elapsed_ms
        );
        match &s.verified_against {
            Some(c) => outln!("verified against checkpoint {} size {} root {}", c.origin, c.size, c.root.to_base64()),
            None => outln!("no stored checkpoint verified against the pinned key"),
        }
        if let Some(size) = s.kept_size {
            outln!("the log holds the checkpoint kept from before (size {size}), with the same root");
        }
        if let Some(size) = s.witnessed {
            outln!("the witness policy's quorum cosigned the history up to checkpoint size {size}");
        }
        if let (Some(_), Some((size, why))) = (s.witnessed, &s.unwitnessed) {
            outln!("the latest checkpoint (size {size}) is not cosigned by the quorum yet: {why}");
        }
        if !s.damage.is_empty() {
            let mut t = show::table(&["Where", "Problem"], &[]);
            for d in &s.damage {
                t.add_row(vec![d.place.to_string(), d.problem.clone()]);
            }
            outln!("{t}");
        }
    }
    match s.damage.first() {
        None => {
            if !json {
                outln!("audit passed: every chain, the commit chain, the log and every checkpoint agree");
            }
            Ok(())
        }
        Some(first) => Err(Failure::other(format!(
            "audit failed: {} problem(s); first: {}: {}",
            s.damage.len(),
            first.place,
            first.problem
        ))),
    }
}

/// The progress bar of an audit or an archive: on stderr, hidden when stderr is not a terminal or
/// with `--quiet`.
pub fn bar(quiet: bool) -> ProgressBar {
    use std::io::IsTerminal as _;
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = crate::commands::progress(Some(0), "auditing");
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    bar
}

/// `fiscus audit`: the archive at `archive` offline, else the daemon or store of `backend`.
///
/// With `state`, the checkpoint kept there (`fiscus_client::read_state`, the file `fiscus verify
/// --pin --state` keeps too) must be held by the rebuilt log, and a passing audit keeps the
/// checkpoint it verified against there (`fiscus_client::write_state`); a failing one leaves the
/// file as it was.
pub async fn run(
    backend: Option<&crate::backend::Backend>,
    archive: Option<&std::path::Path>,
    pin: &str,
    policy: Option<&std::path::Path>,
    state: Option<&std::path::Path>,
    quiet: bool,
    json: bool,
) -> Result<(), Failure> {
    use crate::archive::{ArchiveSource, RemoteSource, StoreSource};
    use crate::backend::Backend;
    let pin = crate::verify::pin_of(pin)?;
    let policy = crate::bundle::read_policy(policy, Some(&pin))?;
    let kept = match state {
        Some(state) => {
            // the file is replaced by a rename at the end: refused now if that would replace a link
            crate::files::refuse_unless_file(state).map_err(|e| Failure::usage(format!("--state {e}")))?;
            fiscus_client::read_state(state, &pin)?
        }
        None => None,
    };
    let bar = bar(quiet);
    let (p, k) = (policy.as_ref(), kept.as_ref());
    let (summary, source) = match (archive, backend) {
        (Some(path), _) => {
            let mut src = ArchiveSource::open(path)?;
            (audit(&mut src, &pin, p, k, &bar).await?, format!("archive {}", path.display()))
        }
        (None, Some(Backend::Remote(client))) => {
            (audit(&mut RemoteSource::new(client), &pin, p, k, &bar).await?, "the server".to_owned())
        }
        (None, Some(Backend::Local { store, .. })) => {
            let mut summary = audit(&mut StoreSource::new(store), &pin, p, k, &bar).await?;
            with_damage_found_on_open(&mut summary, store.damage());
            (summary, "the store".to_owned())
        }
        (None, None) => return Err(Failure::usage("fiscus audit needs --archive FILE, --server URL or --store DIR")),
    };
    bar.finish_and_clear();
    report(&summary, &source, json)?;
    if let (Some(state), Some(note), Some(c)) = (state, &summary.verified_note, &summary.verified_against) {
        fiscus_client::write_state(state, note)?;
        if !json {
            outln!("kept checkpoint size {} in {} for the next audit", c.size, state.display());
        }
    }
    Ok(())
}

/// Adds to `s` what a local store's opening found damaged and the audit did not find itself: the
/// commits it synced and answered that its files no longer hold (`fiscus_ledger::synced`), which
/// only the store can know, and its derived entries (a chain's head entry, the log's map index, a
/// key outside every keyspace), which the audit does not read: a store whose opening refuses
/// writes never audits clean. Damage to a chain the audit found damaged is not said twice.
fn with_damage_found_on_open(s: &mut Summary, found: &[fiscus_client::fiscus_ledger::replay::Damage]) {
    use fiscus_client::fiscus_ledger::log::LOG_NAME;
    use fiscus_client::fiscus_ledger::replay::COMMIT_LOG;
    // (the audit's own finding in the log, a checkpoint or a commit, is the more precise one)
    let log_found = s.damage.iter().any(|a| matches!(a.place, Place::Checkpoint(_) | Place::Commit(_)));
    for d in found {
        let place = match d.project.as_str() {
            COMMIT_LOG => Place::Commit(d.seq),
            LOG_NAME if log_found => continue,
            chain if fiscus_client::fiscus_ledger::ProjectId::parse("chain", chain).is_ok() => {
                let found_already =
                    s.damage.iter().any(|a| matches!(&a.place, Place::Record { chain: c, .. } if c == chain));
                if found_already {
                    continue;
                }
                Place::Record { chain: chain.to_owned(), seq: d.seq }
            }
            _ => Place::Store(d.place()),
        };
        s.damage.push(Damage { place, problem: format!("found when the store opened: {}", d.problem) });
    }
}

/// `fiscus archive --out FILE`: the archive of the daemon or store of `backend`.
pub async fn archive(
    backend: &crate::backend::Backend,
    out: &std::path::Path,
    quiet: bool,
    json: bool,
) -> Result<(), Failure> {
    use crate::archive::{write, RemoteSource, StoreSource};
    use crate::backend::Backend;
    if let Backend::Local { store, .. } = backend {
        // an archive holds what the files hold: one of a store that lost commits would audit clean
        if let Some(d) = store.damage().first() {
            return Err(Failure::other(format!(
                "the store is damaged ({}: {}); no archive is written, as it would not show it: `fiscus --store \
                 DIR verify` says what is damaged",
                d.place(),
                d.problem
            )));
        }
    }
    let bar = bar(quiet);
    let counts = match backend {
        Backend::Remote(client) => write(&mut RemoteSource::new(client), out, &bar).await?,
        Backend::Local { store, .. } => write(&mut StoreSource::new(store), out, &bar).await?,
    };
    bar.finish_and_clear();
    if json {
        show::print_json(&json!({
            "ok": true,
            "file": out.display().to_string(),
            "commits": counts.commits,
            "records": counts.records,
            "checkpoints": counts.checkpoints,
        }));
    } else {
        outln!(
            "archived {} commits, {} records and {} checkpoints to {}; check it with `fiscus audit --archive {} --pin KEY`",
            counts.commits,
            counts.records,
            counts.checkpoints,
            out.display(),
            out.display()
        );
    }
    Ok(())
}
