//! The sled store: one tree, keyspaces by a leading byte, one atomic batch and one sync per commit group.
//!
//! | key | value |
//! |---|---|
//! | `c` commit u64 BE | a run of consecutive [`CommitEntry`]s, or a sealed chunk of them |
//! | `h` project | head seq u64 BE ‖ head hash |
//! | `i` chain id | the chain's index in the project-heads map, u64 BE (the transparency log) |
//! | `k` tree size u64 BE | the signed checkpoint of that size: a signed note, UTF-8 (its cosignatures appended) |
//! | `l` commit u64 BE | a run of consecutive log leaves ([`LOG_LEAF_BYTES`] each), from that commit's |
//! | `m` name | meta (`format` → the format byte) |
//! | `n` index u64 BE | a run of consecutive stored hashes of the log's tree (32 bytes each), from that index |
//! | `r` project 0x00 seq u64 BE | a sealed chunk: [`CHUNK_RECORDS`] consecutive records, framed, compressed |
//! | `t` project 0x00 seq u64 BE | a run of consecutive records of the project's unsealed tail, framed |
//!
//! Each commit group writes, per project, the records it adds to each chunk as one value under
//! `t`, keyed by the first of them (a run); when a project's chain reaches a multiple of
//! [`CHUNK_RECORDS`], the records of that chunk are rewritten as one value under `r`, keyed by the
//! chunk's first seq and compressed once ([`crate::pack`]), and their runs removed, in the same
//! batch. Each record keeps its own bytes and hash either way; a value per group, not per record,
//! saves sled an insert (a page rewrite) per record, and a chunk saves replay a lookup per record.
//! Sealed chunks and tails live in separate key ranges so that appending to a tail rewrites sled
//! pages of small values only, never pages full of sealed chunks (which tripled the store's size
//! when many projects are written at once). The commit log is kept the same way, in runs of a
//! group's commits and sealed chunks of [`CHUNK_COMMITS`] entries; it only grows at its end, so
//! runs and chunks share `c`.
//!
//! The transparency log (`docs/FORMAT.md`, "The log") is written in the same batch as the commits
//! it covers: each group adds one run of log leaves under `l`, one run of the tree's stored hashes
//! under `n` (in the order of Go's `sumdb/tlog`, [`fiscus_tlog::tree`]), the map index of each
//! chain it adds to the project-heads map under `i`, and, once a signer is set, the checkpoint of
//! the tree after the group under `k`. So a crash leaves the log and the commit log in step, and
//! every checkpoint ever signed can be served again. Replay rebuilds the log from the commit
//! entries and compares it with all of these ([`crate::replay`]).
//!
//! The idempotency index (event id → position) is not stored: replay rebuilds it in memory from the
//! records ([`crate::id_index`] says why).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use fiscus_tlog::tree::{hashes_to_append, stored_hash_count, HashReader};
use fiscus_tlog::{Checkpoint, NoteSigner, TlogError};

use crate::chain::Hash;
use crate::commit::{CommitRequest, Committed, Group, Lookup, Recorded, StagedCommit};
use crate::error::LedgerError;
use crate::event::Event;
use crate::files::Links;
use crate::id_index::IdIndex;
use crate::ids::ProjectId;
use crate::log::{CommitRecord, GroupCommit, GroupLog, LogLeaf, LogState, RecentCommits, LOG_LEAF_BYTES, LOG_NAME};
use crate::pack::{Packer, Unpacker};
use crate::projection::{Head, Projection};
use crate::record::{encode_value, push_framed, Framed, Record, FORMAT_VERSION};
use crate::replay::{replay, Damage, ReplayOptions, Replayed};
use crate::rules::History;
use crate::synced::{self, SyncedFile, SyncedHead};

/// Generation of the store's layout (keyspaces, runs, chunk compression), for tools that keep
/// generated stores between runs. Generation 2 compresses sealed chunks and writes runs; it reads
/// generation 1 stores too (plain chunks, one value per record).
pub const LAYOUT: u32 = 2;

/// Records per sealed chunk. Chunk boundaries are fixed: chunk k holds seqs `k*C+1 ..= (k+1)*C`.
pub const CHUNK_RECORDS: u64 = 32;

/// Commit log entries per sealed chunk, with the same fixed boundaries.
pub const CHUNK_COMMITS: u64 = 64;

/// Most commit requests one group (one batch, one sync) takes.
pub const GROUP_REQUESTS_MAX: usize = 4_096;

pub(crate) const COMMITS: u8 = b'c';
pub(crate) const HEADS: u8 = b'h';
pub(crate) const LOG_INDEX: u8 = b'i';
pub(crate) const CHECKPOINTS: u8 = b'k';
pub(crate) const LEAVES: u8 = b'l';
pub(crate) const META: u8 = b'm';
pub(crate) const NODES: u8 = b'n';
pub(crate) const RECORDS: u8 = b'r';
pub(crate) const TAILS: u8 = b't';

fn chain_key(prefix: u8, project: &str, seq: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(project.len() + 10);
    k.push(prefix);
    k.extend_from_slice(project.as_bytes());
    k.push(0);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// Key of a sealed chunk of records: `r` project 0x00 first seq.
pub fn record_key(project: &str, seq: u64) -> Vec<u8> {
    chain_key(RECORDS, project, seq)
}

/// Key of one record of a project's unsealed tail: `t` project 0x00 seq.
pub fn tail_key(project: &str, seq: u64) -> Vec<u8> {
    chain_key(TAILS, project, seq)
}

/// Splits a record key (sealed chunk or tail) into project and seq.
pub fn parse_record_key(key: &[u8]) -> Option<(&str, u64)> {
    let rest = key.strip_prefix(&[RECORDS]).or_else(|| key.strip_prefix(&[TAILS]))?;
    let (body, seq) = rest.split_last_chunk::<8>()?;
    let project = body.strip_suffix(&[0])?;
    Some((std::str::from_utf8(project).ok()?, u64::from_be_bytes(*seq)))
}

fn prefixed(prefix: u8, body: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(body.len() + 1);
    k.push(prefix);
    k.extend_from_slice(body);
    k
}

/// Key of a commit log entry.
pub fn commit_key(number: u64) -> Vec<u8> {
    prefixed(COMMITS, &number.to_be_bytes())
}

/// Key of a run of log leaves beginning at `commit`.
pub fn leaf_key(commit: u64) -> Vec<u8> {
    prefixed(LEAVES, &commit.to_be_bytes())
}

/// Key of a run of the log tree's stored hashes beginning at stored index `index`.
pub fn node_key(index: u64) -> Vec<u8> {
    prefixed(NODES, &index.to_be_bytes())
}

/// Key of the checkpoint of tree size `size`.
pub fn checkpoint_key(size: u64) -> Vec<u8> {
    prefixed(CHECKPOINTS, &size.to_be_bytes())
}

/// Key of a chain's index in the project-heads map.
pub fn map_index_key(chain: &str) -> Vec<u8> {
    prefixed(LOG_INDEX, chain.as_bytes())
}

/// The log's signing key and origin line: the store signs a checkpoint of the tree after every
/// commit group, in the group's batch.
pub struct LogSigner {
    /// The origin line of every checkpoint (the key's name).
    pub origin: String,
    /// The Ed25519 note key.
    pub signer: NoteSigner,
}

/// Encodes a head value: seq u64 BE ‖ hash.
pub fn head_value(head: &Head) -> Vec<u8> {
    let mut v = head.seq.to_be_bytes().to_vec();
    v.extend_from_slice(&head.hash);
    v
}

/// A stored record as the audit export hands it out: its bytes and their hash.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct RawRecord {
    /// Seq.
    pub seq: u64,
    /// The stored bytes.
    pub bytes: Vec<u8>,
    /// blake3 (derive-key, "fiscus record v1") of the bytes.
    pub hash: Hash,
}

/// The Fiscus store in a directory.
pub struct Store {
    db: sled::Db,
    tree: sled::Tree,
    log_file: File,
    dir: PathBuf,
    projection: Projection,
    ids: IdIndex,
    damage: Vec<Damage>,
    read_only: Option<String>,
    /// Shared with its readers.
    writes: Arc<Writes>,
    packer: Packer,
    log: LogState,
    signer: Option<LogSigner>,
    /// Set by [`Store::measure_without_log`] only.
    without_log: bool,
    /// The last synced commit, kept outside sled ([`crate::synced`]); none for a damaged store.
    synced: Option<SyncedFile>,
    /// Held for the store's life ([`lock_folder`]'s lock, beside sled's own on `db`); the last
    /// field, so that it is let go of after sled's handle.
    _folder: FolderLock,
}

/// What opening a store found.
#[derive(Clone, Debug)]
pub struct OpenReport {
    /// Records replayed.
    pub events: u64,
    /// Chains (projects and the sponsor chain).
    pub chains: usize,
    /// Commits.
    pub commits: u64,
    /// Damaged chains, each with its first bad record.
    pub damage: Vec<Damage>,
    /// Wall time of each phase of the replay.
    pub phases: Vec<(&'static str, std::time::Duration)>,
    /// What the caller should warn about: the store's folder is readable by group or others
    /// (see [`crate::private`]).
    pub warnings: Vec<String>,
}

impl Store {
    /// Opens (creating when absent) the store in `dir`, verifies every chain and rebuilds the projection.
    /// A store that fails verification opens read-only: [`Store::damage`] says where.
    pub fn open(dir: &Path) -> Result<(Store, OpenReport), LedgerError> {
        Store::open_with(dir, ReplayOptions::default())
    }

    /// [`Store::open`] with explicit replay options (single-threaded replay for measurements).
    pub fn open_with(dir: &Path, options: ReplayOptions) -> Result<(Store, OpenReport), LedgerError> {
        Store::open_reporting(dir, options, None)
    }

    /// [`Store::open_with`], telling `progress` the number of records verified now and then (every
    /// 262,144), for progress output while a large store opens.
    pub fn open_reporting(
        dir: &Path,
        options: ReplayOptions,
        progress: Option<&dyn Fn(u64)>,
    ) -> Result<(Store, OpenReport), LedgerError> {
        let started = std::time::Instant::now();
        let (folder, db, tree) = open_locked(dir)?;
        let sled_open = started.elapsed();
        let warnings = crate::private::check(dir, "store folder")?.into_iter().collect();
        match tree.get(prefixed(META, b"format"))? {
            None if tree.is_empty() => {
                tree.insert(prefixed(META, b"format"), &[FORMAT_VERSION])?;
                db.flush()?;
            }
            None => return Err(LedgerError::Format("the store has data but no format byte".to_owned())),
            Some(v) if v.as_ref() == [FORMAT_VERSION] => {}
            Some(v) => {
                return Err(LedgerError::Format(format!(
                    "store format {:?}; this build reads {FORMAT_VERSION}",
                    v.as_ref()
                )))
            }
        }
        let log_file = File::options().read(true).open(dir.join("db"))?;
        let Replayed { projection, mut damage, commits, mut phases, ids, log, log_migration } =
            replay(&tree, options, progress)?;
        let head = projection.commit_head;
        let kept = synced::read(dir);
        let kept_file = matches!(kept, Ok(Some(_)));
        let synced_problem = match kept {
            Ok(Some(synced)) => synced::check(synced, head.number, |number| {
                let reader = Reader { tree: tree.clone(), writes: Arc::default() };
                reader.commits(number - 1, head.number, 1).ok()?.first().map(|entry| entry.hash)
            })
            .map(|problem| (synced.number, problem)),
            Ok(None) => None,
            Err(e) => Some((head.number, e.to_string())),
        };
        if let Some((seq, problem)) = synced_problem {
            damage.push(Damage { project: crate::replay::COMMIT_LOG.to_owned(), seq, problem });
        }
        // written only to a sound store: a damaged one refuses writes, and its file is evidence
        let synced = if damage.is_empty() {
            let now = SyncedHead { number: head.number, hash: head.hash };
            Some(match kept_file {
                // a store made before the file existed gets it now
                false => SyncedFile::create(dir, now)?,
                true => {
                    let file = SyncedFile::open(dir)?;
                    file.write(now)?;
                    file
                }
            })
        } else {
            None
        };
        if let (Some(migration), true) = (log_migration, damage.is_empty()) {
            // A store written before the log existed: its log, rebuilt by replay, written once.
            let mut batch = sled::Batch::default();
            migration.write(&mut batch);
            tree.apply_batch(batch)?;
            db.flush()?;
        }
        phases.insert(0, ("sled open", sled_open));
        let report = OpenReport {
            events: projection.events,
            chains: projection.chains().count(),
            commits,
            damage: damage.clone(),
            phases,
            warnings,
        };
        let read_only = (!damage.is_empty()).then(|| {
            let d = &damage[0];
            format!("verification failed at {}: {}; an operator must act before writes resume", d.place(), d.problem)
        });
        let packer = Packer::new();
        let store = Store {
            db,
            tree,
            log_file,
            dir: dir.to_owned(),
            projection,
            ids,
            damage,
            read_only,
            writes: Arc::default(),
            packer,
            log,
            signer: None,
            without_log: false,
            synced,
            _folder: folder,
        };
        Ok((store, report))
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The projection of every verified record.
    pub fn projection(&self) -> &Projection {
        &self.projection
    }

    /// Chains that failed verification on open (empty when the store is sound).
    pub fn damage(&self) -> &[Damage] {
        &self.damage
    }

    /// Why the store refuses writes (damage found on open, or a write that failed), if it does.
    pub fn refuses_writes(&self) -> Option<&str> {
        self.read_only.as_deref()
    }

    /// Commits one request: validated, written in one batch, synced, then applied.
    pub fn commit(&mut self, request: &CommitRequest) -> Result<Committed, LedgerError> {
        let mut answers = self.commit_group(std::slice::from_ref(request))?;
        answers.pop().expect("one answer per request")
    }

    /// Checks `request` as [`Store::commit`] would commit it now (the same staging on the current
    /// state, and the refusal of a store that refuses writes), storing nothing: the answer the
    /// commit would get, or its refusal.
    pub fn check(&self, request: &CommitRequest) -> Result<Committed, LedgerError> {
        if let Some(why) = &self.read_only {
            return Err(LedgerError::ReadOnly(why.clone()));
        }
        Group::new(&self.projection).stage(request, self)
    }

    /// Commits a group of requests, each validated against the state including the ones accepted
    /// before it, all accepted ones written as one atomic batch and synced once before anyone is
    /// answered. The outer error is a storage failure (nothing was applied); inner errors are refusals.
    pub fn commit_group(
        &mut self,
        requests: &[CommitRequest],
    ) -> Result<Vec<Result<Committed, LedgerError>>, LedgerError> {
        if let Some(why) = &self.read_only {
            return Err(LedgerError::ReadOnly(why.clone()));
        }
        if requests.len() > GROUP_REQUESTS_MAX {
            return Err(LedgerError::invalid("requests", format!("at most {GROUP_REQUESTS_MAX} per group")));
        }
        let mut group = Group::new(&self.projection);
        let answers: Vec<_> = requests.iter().map(|r| group.stage(r, &*self)).collect();
        if group.is_empty() {
            return Ok(answers);
        }
        let staged = group.finish();
        let batch = match self.batch(&staged.commits, &staged.states) {
            Ok(batch) => batch,
            Err(e) => {
                // The log's map may hold part of the group: nothing more is written until a reopen.
                self.read_only = Some(format!("a commit group could not be prepared ({e}); restart fiscusd"));
                return Err(e);
            }
        };
        self.write(|tree| tree.apply_batch(batch))?;
        let head = staged.head;
        for c in self.projection.absorb(staged) {
            for r in &c.records {
                // CHAINS_MAX (2^20) chains and seqs up to 2^44 − 1 fit: the writer never reaches either
                if let Some(chain) = self.ids.chain_number(&r.event.project) {
                    let _ = self.ids.insert(r.event.event_id.as_bytes(), chain, r.seq);
                }
            }
        }
        let written = self.synced.as_ref().map(|f| f.write(SyncedHead { number: head.number, hash: head.hash }));
        if let Some(Err(e)) = written {
            // the group is durable and its answers stand; the next one could not be checked on open
            self.read_only = Some(format!("the synced head could not be written ({e}); restart fiscusd"));
        }
        Ok(answers)
    }

    /// Applies `change` to the tree and makes it durable. When that fails, the store refuses every
    /// later write until it is reopened (sled keeps the error for the life of its handle), and its
    /// readers learn why ([`Reader::settled`]) before the write is over.
    fn write(&mut self, change: impl FnOnce(&sled::Tree) -> Result<(), sled::Error>) -> Result<(), LedgerError> {
        self.writes.under_way.store(true, Ordering::Release);
        let result = change(&self.tree).map_err(LedgerError::from).and_then(|()| {
            self.db.flush()?;
            // sled's flush syncs a file range only; this makes the data and its size durable.
            self.log_file.sync_all()?;
            Ok(())
        });
        if let Err(e) = &result {
            let why = format!(
                "a write failed ({e}); writes are refused until the store is reopened (restart fiscusd once the \
                 disk is sound): replay then verifies what is durable"
            );
            let _ = self.writes.failed.set(why.clone());
            self.read_only = Some(why);
        }
        self.writes.under_way.store(false, Ordering::Release);
        result
    }

    fn batch(
        &mut self,
        commits: &[StagedCommit],
        states: &std::collections::BTreeMap<ProjectId, crate::projection::ProjectState>,
    ) -> Result<sled::Batch, LedgerError> {
        let mut batch = sled::Batch::default();
        let mut new: std::collections::BTreeMap<&str, Vec<(u64, &[u8])>> = std::collections::BTreeMap::new();
        let entries: Vec<(u64, Vec<u8>)> = commits.iter().map(|c| (c.entry.number, encode_value(&c.entry))).collect();
        let entries: Vec<(u64, &[u8])> = entries.iter().map(|(n, b)| (*n, b.as_slice())).collect();
        let mut appender = Appender { tree: &self.tree, packer: &mut self.packer, batch: &mut batch };
        appender.append("commit log", &commit_key, &commit_key, &entries, CHUNK_COMMITS)?;
        for c in commits {
            for r in &c.records {
                new.entry(r.event.project.as_str()).or_default().push((r.seq, &r.bytes));
            }
        }
        for (project, records) in &new {
            let (sealed, run) = (|seq| record_key(project, seq), |seq| tail_key(project, seq));
            appender.append(project, &sealed, &run, records, CHUNK_RECORDS)?;
        }
        for state in states.values() {
            batch.insert(prefixed(HEADS, state.id.as_str().as_bytes()), head_value(&state.head));
        }
        self.log_batch(commits, &mut batch)?;
        Ok(batch)
    }

    /// Adds the group's part of the transparency log to `batch`: its leaves, the tree's new stored
    /// hashes, the map indexes of new chains and, with a signer, the checkpoint after the group.
    /// Updates the in-memory log (the caller makes the store read-only if the batch is not written).
    fn log_batch(&mut self, commits: &[StagedCommit], batch: &mut sled::Batch) -> Result<(), LedgerError> {
        let Some(first) = commits.first().map(|c| c.entry.number) else { return Ok(()) };
        if self.without_log {
            return Ok(());
        }
        if first != self.log.size + 1 {
            return Err(log_corrupt(
                first,
                format!("the log holds {} commits, the group starts at {first}", self.log.size),
            ));
        }
        let mut leaves = Vec::with_capacity(commits.len() * LOG_LEAF_BYTES);
        let mut hashes = Vec::with_capacity(commits.len());
        let mut last = None;
        let mut group_leaves = Vec::with_capacity(commits.len());
        for c in commits {
            let (leaf, added) = self.log.map.apply(&c.entry).map_err(|e| log_corrupt(c.entry.number, e.to_string()))?;
            for (chain, at) in added {
                batch.insert(map_index_key(&chain), at.to_be_bytes().to_vec());
            }
            leaves.extend_from_slice(&leaf.to_bytes());
            hashes.push(leaf.leaf_hash());
            group_leaves.push(leaf);
            last = Some(leaf);
        }
        // The right edge in memory gives every earlier hash the group needs; the stored hashes
        // answer only if it lacks one (it never should).
        let stored = NodeReader { tree: &self.tree };
        let reader = EdgeReader { edge: &self.log.frontier, below: &stored };
        let size = self.log.size;
        let run = hashes_to_append(size, &hashes, &reader).map_err(|e| log_corrupt(first, e.to_string()))?;
        let base = stored_hash_count(size);
        let new_size = size + commits.len() as u64;
        let overlay = Overlay { base, run: &run, below: &reader };
        let root = fiscus_tlog::tree::tree_root(new_size, &overlay).map_err(|e| log_corrupt(first, e.to_string()))?;
        let edge: Vec<u64> = LogState::right_edge(new_size).collect();
        let edge_hashes = overlay.read_hashes(&edge).map_err(|e| log_corrupt(first, e.to_string()))?;
        batch.insert(leaf_key(first), leaves);
        batch.insert(node_key(base), run.iter().flat_map(|h| h.0).collect::<Vec<u8>>());
        let checkpoint = match &self.signer {
            Some(signer) => {
                let note = sign_checkpoint(signer, new_size, root)?;
                batch.insert(checkpoint_key(new_size), note.as_bytes());
                Some(note)
            }
            None => None,
        };
        self.log.recent = checkpoint.map(|checkpoint| {
            let mut prev = match first {
                1 => crate::chain::COMMIT_GENESIS,
                _ => self.projection.commit_head.hash,
            };
            let mut group = Vec::with_capacity(commits.len());
            for (c, leaf) in commits.iter().zip(&group_leaves) {
                // the staged records are the entry's, in its order, with the bytes the batch stores
                let records = c
                    .records
                    .iter()
                    .map(|r| CommitRecord {
                        chain: r.event.project.as_str().to_owned(),
                        seq: r.seq,
                        hash: r.hash,
                        bytes: r.bytes.clone(),
                    })
                    .collect();
                group.push(GroupCommit { leaf: *leaf, prev_commit_hash: prev, records });
                prev = c.entry.hash;
            }
            let last = GroupLog::new(first, self.log.frontier.clone(), base, run.clone(), group);
            Arc::new(RecentCommits::after(self.log.recent.as_deref(), last, new_size, checkpoint))
        });
        self.log.frontier = edge.into_iter().zip(edge_hashes).collect();
        self.log.size = new_size;
        self.log.root = root;
        self.log.last = last;
        Ok(())
    }

    /// Sets the key that signs a checkpoint after every commit group from now on, and signs (and
    /// stores, synced) the checkpoint of the log as it is when none of that size is stored yet, so
    /// that the latest checkpoint always covers every commit.
    pub fn set_log_signer(&mut self, signer: LogSigner) -> Result<(), LedgerError> {
        let size = self.log.size;
        if self.tree.get(checkpoint_key(size))?.is_none() && self.read_only.is_none() {
            let note = sign_checkpoint(&signer, size, self.log.root)?;
            self.write(|tree| tree.insert(checkpoint_key(size), note.into_bytes()).map(|_| ()))?;
        }
        self.signer = Some(signer);
        Ok(())
    }

    /// **For measurement only** (`fiscusd --measure-without-log`, which only `fiscus-bench logcost`
    /// passes): from now on commit groups write no transparency log and sign no checkpoint, so
    /// that the cost of the log can be measured against the same store without it. The log is
    /// always on otherwise. Refused (`Format`) on a store that has commits: its log would stop
    /// short of them. A store written this way holds no log at all, which the next open rebuilds
    /// and writes as for a store made before the log existed.
    pub fn measure_without_log(&mut self) -> Result<(), LedgerError> {
        if self.log.size != 0 || self.projection.commit_head.number != 0 {
            return Err(LedgerError::Format(
                "the log can be left out (for measurement) only on a store without commits".to_owned(),
            ));
        }
        self.without_log = true;
        Ok(())
    }

    /// The transparency log after the last commit (the daemon publishes a copy per group).
    pub fn log(&self) -> &LogState {
        &self.log
    }

    /// Appends signature lines (cosignatures, C2SP tlog-cosignature) to the stored checkpoint of
    /// `size`, keeping those it holds; a line already there is not added twice. Answers the
    /// checkpoint as now stored. `NOT_FOUND`-like [`LedgerError::Corrupt`] is never used here: a
    /// size without a checkpoint is `Ok(None)`.
    pub fn add_cosignatures(
        &mut self,
        size: u64,
        lines: &[fiscus_tlog::NoteSignature],
    ) -> Result<Option<String>, LedgerError> {
        let Some(stored) = self.tree.get(checkpoint_key(size))? else { return Ok(None) };
        let text = stored_checkpoint(size, &stored)?;
        let mut note = fiscus_tlog::Note::parse(&text).map_err(|e| log_corrupt(size, format!("checkpoint: {e}")))?;
        for line in lines {
            if !note.signatures.contains(line) {
                note.signatures.push(line.clone());
            }
        }
        let text = note.to_text();
        self.write(|tree| tree.insert(checkpoint_key(size), text.as_bytes()).map(|_| ()))?;
        Ok(Some(text))
    }

    /// A reader of stored records that other threads may use while this store writes.
    pub fn reader(&self) -> Reader {
        Reader { tree: self.tree.clone(), writes: self.writes.clone() }
    }

    /// Re-reads the whole store and verifies both chains as [`Store::open`] does, leaving this store's
    /// state alone (an audit on demand). It borrows the store, so no commit is written meanwhile and
    /// the scans see one consistent store.
    pub fn verify(&self) -> Result<Replayed, LedgerError> {
        replay(&self.tree, ReplayOptions::default(), None)
    }

    /// Raw stored records of `project` from seq `from` (inclusive) up to its head in this store's
    /// projection, at most `limit` ([`Reader::raw_records`] bounded by [`Store::head_seq`]).
    pub fn raw_records(&self, project: &str, from: u64, limit: usize) -> Result<Vec<RawRecord>, LedgerError> {
        self.reader().raw_records(project, from, self.head_seq(project), limit)
    }

    /// Decoded records of `project` from seq `from` up to its head, at most `limit`.
    pub fn records(&self, project: &str, from: u64, limit: usize) -> Result<Vec<Record>, LedgerError> {
        self.reader().records(project, from, self.head_seq(project), limit)
    }

    /// The head seq of `project` in this store's projection (0 for a chain it does not hold).
    pub fn head_seq(&self, project: &str) -> u64 {
        self.projection.project(project).map_or(0, |s| s.head.seq)
    }

    /// Bytes the store takes on disk, every file of its directory included.
    pub fn disk_bytes(&self) -> Result<u64, LedgerError> {
        dir_bytes(&self.dir)
    }

    /// Syncs everything and closes the store.
    pub fn close(self) -> Result<(), LedgerError> {
        self.db.flush()?;
        self.log_file.sync_all()?;
        // Files sled made under a permissive umask since the store opened (snapshots, blobs).
        crate::private::tighten(&self.dir)?;
        Ok(())
    }
}

/// Adds numbered items of one sequence (a project's records, or the commit log) to a batch.
struct Appender<'a> {
    tree: &'a sled::Tree,
    packer: &'a mut Packer,
    batch: &'a mut sled::Batch,
}

impl Appender<'_> {
    /// Adds `items` (consecutive, following the sequence's stored end) to the batch. The new items
    /// of each chunk `k*C+1 ..= (k+1)*C` go in one plain value under `run`, keyed by the first of
    /// them; a chunk that the new items complete is written instead as one compressed value under
    /// `sealed`, keyed by its first number, and the runs stored before for it are removed.
    fn append(
        &mut self,
        sequence: &str,
        sealed: &dyn Fn(u64) -> Vec<u8>,
        run: &dyn Fn(u64) -> Vec<u8>,
        items: &[(u64, &[u8])],
        chunk: u64,
    ) -> Result<(), LedgerError> {
        let (Some(first), Some(last)) = (items.first().map(|i| i.0), items.last().map(|i| i.0)) else {
            return Ok(());
        };
        debug_assert!(items.windows(2).all(|w| w[1].0 == w[0].0 + 1), "items are consecutive");
        let mut start = (first - 1) / chunk * chunk + 1;
        while start <= last {
            let end = start + chunk - 1;
            let mut value = Vec::new();
            let mut moved = Vec::new();
            if end <= last && start < first {
                self.take_runs(sequence, run, start, first, &mut value, &mut moved)?;
            }
            let mut from = None;
            for (n, bytes) in items.iter().filter(|(n, _)| (start..=end).contains(n)) {
                from.get_or_insert(*n);
                push_framed(&mut value, bytes);
            }
            if end <= last {
                let key = sealed(start);
                self.batch.insert(key.as_slice(), self.packer.pack(value)?);
                // after the sealed value: sled applies a batch in order and, when the disk fails
                // part way, keeps in memory what it applied, so no prefix of it may lose a record
                // (the commit log's first run has the sealed chunk's key: it was just replaced)
                for run_key in moved.into_iter().filter(|k| k.as_ref() != key.as_slice()) {
                    self.batch.remove(run_key);
                }
            } else if let Some(from) = from {
                self.batch.insert(run(from), value);
            }
            start += chunk;
        }
        Ok(())
    }

    /// Appends to `value` the stored items `start .. first` (runs of a chunk being sealed), and
    /// their runs' keys to `moved` (removed in the batch after the sealed value is inserted).
    fn take_runs(
        &mut self,
        sequence: &str,
        run: &dyn Fn(u64) -> Vec<u8>,
        start: u64,
        first: u64,
        value: &mut Vec<u8>,
        moved: &mut Vec<sled::IVec>,
    ) -> Result<(), LedgerError> {
        let missing = |n: u64, problem: &str| LedgerError::Corrupt {
            project: sequence.to_owned(),
            seq: n,
            problem: format!("{problem} while sealing its chunk"),
        };
        let mut next = start;
        let mut unpacker = Unpacker::new();
        for item in self.tree.range(run(start)..run(first)) {
            let (key, stored) = item?;
            if key.as_ref() != run(next).as_slice() {
                return Err(missing(next, "entry missing"));
            }
            let plain = unpacker.unpack(&stored)?;
            next += Framed::commits(&plain).try_fold(0u64, |n, item| item.map(|_| n + 1))?;
            value.extend_from_slice(&plain);
            moved.push(key);
        }
        if next != first {
            return Err(missing(next, "entry missing"));
        }
        Ok(())
    }
}

/// The checkpoint of `size` with root `root`, signed by `signer`, as note text.
fn sign_checkpoint(signer: &LogSigner, size: u64, root: fiscus_tlog::Hash) -> Result<String, LedgerError> {
    let checkpoint = Checkpoint::new(&signer.origin, size, root)
        .map_err(|e| LedgerError::Format(format!("log origin {:?}: {e}", signer.origin)))?;
    let note =
        checkpoint.sign(&signer.signer).map_err(|e| LedgerError::Format(format!("signing a checkpoint: {e}")))?;
    Ok(note.to_text())
}

/// Damage to the stored log, reported under [`LOG_NAME`] at a commit number.
fn log_corrupt(commit: u64, problem: String) -> LedgerError {
    LedgerError::Corrupt { project: LOG_NAME.to_owned(), seq: commit, problem }
}

/// Reads the log tree's stored hashes from the `n` runs.
struct NodeReader<'t> {
    tree: &'t sled::Tree,
}

impl HashReader for NodeReader<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<fiscus_tlog::Hash>, TlogError> {
        indexes.iter().map(|&index| stored_node(self.tree, index)).collect()
    }
}

/// The stored hash at `index`: found in the run that begins at or before it.
fn stored_node(tree: &sled::Tree, index: u64) -> Result<fiscus_tlog::Hash, TlogError> {
    let found = tree
        .range(node_key(0)..=node_key(index))
        .next_back()
        .transpose()
        .map_err(|e| TlogError::Store(e.to_string()))?;
    let (key, value) = found.ok_or(TlogError::MissingHash { index })?;
    let first = key_number(&key);
    let at =
        usize::try_from(index - first).ok().and_then(|i| i.checked_mul(32)).ok_or(TlogError::MissingHash { index })?;
    let bytes: [u8; 32] =
        value.get(at..at + 32).and_then(|b| b.try_into().ok()).ok_or(TlogError::MissingHash { index })?;
    Ok(fiscus_tlog::Hash(bytes))
}

/// The tree's right edge in memory ([`LogState::frontier`]), over the stored hashes.
struct EdgeReader<'a> {
    edge: &'a std::collections::BTreeMap<u64, fiscus_tlog::Hash>,
    below: &'a dyn HashReader,
}

impl HashReader for EdgeReader<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<fiscus_tlog::Hash>, TlogError> {
        indexes
            .iter()
            .map(|&index| match self.edge.get(&index) {
                Some(hash) => Ok(*hash),
                None => self.below.read_hashes(&[index])?.first().copied().ok_or(TlogError::MissingHash { index }),
            })
            .collect()
    }
}

/// Stored hashes below `base`, and a run about to be stored from `base` on.
struct Overlay<'a> {
    base: u64,
    run: &'a [fiscus_tlog::Hash],
    below: &'a dyn HashReader,
}

impl HashReader for Overlay<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<fiscus_tlog::Hash>, TlogError> {
        indexes
            .iter()
            .map(|&index| match index.checked_sub(self.base) {
                Some(at) => usize::try_from(at)
                    .ok()
                    .and_then(|at| self.run.get(at))
                    .copied()
                    .ok_or(TlogError::MissingHash { index }),
                None => self.below.read_hashes(&[index])?.first().copied().ok_or(TlogError::MissingHash { index }),
            })
            .collect()
    }
}

/// What replay rebuilt of a log that was not stored (a store written before the log existed):
/// written once, in one batch, when the store opens.
#[derive(Debug, Default)]
pub struct LogMigration {
    /// Every log leaf, from commit 1.
    pub leaves: Vec<u8>,
    /// Every stored hash of the tree, from index 0.
    pub nodes: Vec<u8>,
    /// Each chain's map index.
    pub indexes: Vec<(String, u64)>,
}

impl LogMigration {
    fn write(&self, batch: &mut sled::Batch) {
        if !self.leaves.is_empty() {
            batch.insert(leaf_key(1), self.leaves.as_slice());
            batch.insert(node_key(0), self.nodes.as_slice());
        }
        for (chain, at) in &self.indexes {
            batch.insert(map_index_key(chain), at.to_be_bytes().to_vec());
        }
    }
}

/// Reads of one chunk that come up short before the reader calls it damage. A read races the
/// writer at most once per chunk: a chunk is sealed once, so the next read finds it sealed.
pub const CHUNK_READ_ATTEMPTS: usize = 3;

/// Reads stored records and commit log entries; cheap to clone, and safe to use from other threads
/// while the store writes.
///
/// **Every read is bounded by a head the caller took from one published [`Projection`]** (a
/// project's head seq, the commit head number) and answers exactly the items from its start up to
/// that head, every one of them, or an error: never an item past the head (it may not be durable,
/// and no answer from that snapshot may show it), never a gap before it (a missing item is
/// [`LedgerError::Corrupt`]). Items up to a published head were written, in whole batches, before
/// that projection was published, and are never changed afterwards; only where they are kept
/// changes, once, when their chunk is sealed.
///
/// How a read cannot see a half-moved chunk: the writer seals a chunk in one `sled::Batch` (the
/// sealed value inserted, the chunk's runs removed). sled 0.34.7 applies a batch under its global
/// concurrency-control write lock (`Tree::apply_batch` takes `concurrency_control::write()` across
/// all the batch's inserts and removals), and each `Tree::get` and each step of an iterator
/// (`Iter::next`) takes the read lock, so each of those observes a batch wholly or not at all. The
/// steps of one range scan may observe different batches: a step uses the copy of a tree node an
/// earlier step loaded (`Iter::cached_node`) or loads the node afresh, so the states a scan observes
/// never go back, and they are never older than a `get` made before the scan began. So a chunk is
/// read as: its sealed value (one `get`), else its runs (one scan); items only ever move from runs
/// into the sealed value, so runs that are not a complete, consecutive cover of what is asked mean
/// that the chunk was sealed meanwhile, and the chunk is read again (at most
/// [`CHUNK_READ_ATTEMPTS`] times) before the shortfall is reported as damage.
#[derive(Clone)]
pub struct Reader {
    tree: sled::Tree,
    writes: Arc<Writes>,
}

/// The state of a store's writes that its readers share, so that a read that fails after a write
/// failed says so ([`Reader::settled`]).
#[derive(Debug, Default)]
struct Writes {
    /// True while a write is applied to sled and synced.
    under_way: AtomicBool,
    /// Why the store refuses writes, once a write failed: the store's `read_only` reason.
    failed: OnceLock<String>,
}

/// How long a read that failed waits for a write under way to end, to learn whether it failed.
const WRITE_SETTLE_MAX: Duration = Duration::from_secs(2);

/// One numbered sequence as stored: a project's records (sealed chunks under `r`, runs under `t`)
/// or the commit log (both under `c`).
struct Sequence<'a> {
    /// The name errors give it: the project, or "commit log".
    name: &'a str,
    /// Key of the sealed chunk beginning at a number.
    sealed: &'a dyn Fn(u64) -> Vec<u8>,
    /// Key of the run beginning at a number.
    run: &'a dyn Fn(u64) -> Vec<u8>,
    /// Items per chunk.
    chunk: u64,
    /// Splits a plain value into its items.
    items: fn(&[u8]) -> Framed<'_>,
}

/// The last item of a bounded read of `from ..= head`, at most `limit` items; `None` when empty.
fn last_of(from: u64, head: u64, limit: usize) -> Option<u64> {
    let limit = u64::try_from(limit).unwrap_or(u64::MAX);
    (limit > 0 && from <= head).then(|| head.min(from.saturating_add(limit - 1)))
}

impl Reader {
    /// The result of `read`, unless a write to the store failed, in which case a storage failure or
    /// damage it found is refused as [`LedgerError::ReadOnly`] naming both. After a failed write
    /// sled's view of the store is in doubt until it is reopened: it fails any later operation that
    /// must write, and a read can be one (it completes a tree node's split that a write left
    /// pending); and a batch that failed part way is in its tree in part, so that a read can find
    /// records missing that are durable. Neither is damage on disk. A write under way when the read
    /// failed is waited for (at most [`WRITE_SETTLE_MAX`]) to learn how it ended. A read that
    /// succeeds is kept: what it reads is bounded by a published head, which only durable commits
    /// reach.
    fn settled<T>(&self, read: impl FnOnce() -> Result<T, LedgerError>) -> Result<T, LedgerError> {
        let error = match read() {
            Err(e @ (LedgerError::Corrupt { .. } | LedgerError::Storage(_) | LedgerError::Io(_))) => e,
            other => return other,
        };
        let started = Instant::now();
        while self.writes.under_way.load(Ordering::Acquire) && started.elapsed() < WRITE_SETTLE_MAX {
            std::thread::sleep(Duration::from_millis(1));
        }
        match self.writes.failed.get() {
            Some(why) => Err(LedgerError::ReadOnly(format!(
                "a read of the store failed ({error}) after a write to it had failed, which leaves the \
                 store's view in doubt until it is reopened: {why}"
            ))),
            None => Err(error),
        }
    }

    /// Raw stored records `from ..= head` of `project` (`from` 0 reads from 1), at most `limit`
    /// (the first ones), in seq order with no gap. `head` is the project's head seq in the
    /// projection the answer comes from; nothing past it is read. A record up to `head` that is not
    /// stored is [`LedgerError::Corrupt`] naming its seq (found by any read of its chunk that
    /// reaches past it: chunks are read from their first record).
    pub fn raw_records(
        &self,
        project: &str,
        from: u64,
        head: u64,
        limit: usize,
    ) -> Result<Vec<RawRecord>, LedgerError> {
        self.settled(|| {
            let from = from.max(1);
            let Some(last) = last_of(from, head, limit) else { return Ok(Vec::new()) };
            let sequence = Sequence {
                name: project,
                sealed: &|seq| record_key(project, seq),
                run: &|seq| tail_key(project, seq),
                chunk: CHUNK_RECORDS,
                items: |v| Framed::new(v),
            };
            let mut out = Vec::with_capacity(usize::try_from(last - from + 1).unwrap_or(usize::MAX).min(4_096));
            let mut hasher = crate::chain::RecordHasher::new();
            self.read(&sequence, from, last, |seq, bytes| {
                out.push(RawRecord { seq, bytes: bytes.to_vec(), hash: hasher.hash(bytes) });
                Ok(())
            })?;
            Ok(out)
        })
    }

    /// Decoded records `from ..= head` of `project`, at most `limit`: [`Reader::raw_records`] decoded.
    pub fn records(&self, project: &str, from: u64, head: u64, limit: usize) -> Result<Vec<Record>, LedgerError> {
        self.settled(|| {
            self.raw_records(project, from, head, limit)?.iter().map(|r| Record::decode(&r.bytes)).collect()
        })
    }

    /// Commit log entries `after + 1 ..= head`, at most `limit` (the first ones), in order with no
    /// gap (for subscribers). `head` is the commit head number of the projection the answer comes
    /// from. An entry up to `head` that is missing, or that holds another number, is
    /// [`LedgerError::Corrupt`] naming the commit number.
    pub fn commits(&self, after: u64, head: u64, limit: usize) -> Result<Vec<crate::record::CommitEntry>, LedgerError> {
        self.settled(|| {
            let mut out = Vec::new();
            self.commit_log(after, head, limit, |number, bytes| {
                let entry = crate::record::CommitEntry::decode(bytes).map_err(|e| corrupt("commit log", number, e))?;
                if entry.number != number {
                    return Err(corrupt_at("commit log", number, format!("the entry says commit {}", entry.number)));
                }
                out.push(entry);
                Ok(())
            })?;
            Ok(out)
        })
    }

    /// Raw commit log entries `after + 1 ..= head` as stored (their bytes, as `docs/FORMAT.md`
    /// section 4 gives them), at most `limit`, in order with no gap; bounded like [`Reader::commits`].
    pub fn raw_commits(&self, after: u64, head: u64, limit: usize) -> Result<Vec<(u64, Vec<u8>)>, LedgerError> {
        self.settled(|| {
            let mut out = Vec::new();
            self.commit_log(after, head, limit, |number, bytes| {
                out.push((number, bytes.to_vec()));
                Ok(())
            })?;
            Ok(out)
        })
    }

    /// Hands `each` the stored bytes of commit log entries `after + 1 ..= head`, at most `limit`
    /// (the first ones), in order with no gap: what [`Reader::commits`] and [`Reader::raw_commits`]
    /// read.
    fn commit_log(
        &self,
        after: u64,
        head: u64,
        limit: usize,
        each: impl FnMut(u64, &[u8]) -> Result<(), LedgerError>,
    ) -> Result<(), LedgerError> {
        let Some(from) = after.checked_add(1) else { return Ok(()) };
        let Some(last) = last_of(from, head, limit) else { return Ok(()) };
        let sequence = Sequence {
            name: "commit log",
            sealed: &commit_key,
            run: &commit_key,
            chunk: CHUNK_COMMITS,
            items: |v| Framed::commits(v),
        };
        self.read(&sequence, from, last, each)
    }

    /// The stored checkpoint of tree size `size` (a signed note, with any cosignatures), if one was
    /// signed at that size.
    pub fn checkpoint(&self, size: u64) -> Result<Option<String>, LedgerError> {
        self.settled(|| self.tree.get(checkpoint_key(size))?.map(|v| stored_checkpoint(size, &v)).transpose())
    }

    /// The stored checkpoint of the largest size, with its size, if any was signed.
    pub fn latest_checkpoint(&self) -> Result<Option<(u64, String)>, LedgerError> {
        self.checkpoint_at_most(u64::MAX)
    }

    /// Stored checkpoints of sizes `from ..= last`, in size order, at most `limit` (the first
    /// ones): each with its size, as [`Reader::checkpoint`] reads it. Not every size has one (one is
    /// signed per commit group); an auditor pages through them to check every stored checkpoint.
    pub fn checkpoints(&self, from: u64, last: u64, limit: usize) -> Result<Vec<(u64, String)>, LedgerError> {
        self.settled(|| {
            let mut out = Vec::new();
            if from > last {
                return Ok(out);
            }
            for item in self.tree.range(checkpoint_key(from)..=checkpoint_key(last)).take(limit) {
                let (key, value) = item?;
                let at = key_number(&key);
                out.push((at, stored_checkpoint(at, &value)?));
            }
            Ok(out)
        })
    }

    /// The stored checkpoint of the largest size at most `size`, with that size.
    pub fn checkpoint_at_most(&self, size: u64) -> Result<Option<(u64, String)>, LedgerError> {
        self.settled(|| {
            let Some(found) = self.tree.range(checkpoint_key(0)..=checkpoint_key(size)).next_back() else {
                return Ok(None);
            };
            let (key, value) = found?;
            let at = key_number(&key);
            Ok(Some((at, stored_checkpoint(at, &value)?)))
        })
    }

    /// The log leaf of commit `commit` (at least 1, at most a published commit head).
    pub fn log_leaf(&self, commit: u64) -> Result<LogLeaf, LedgerError> {
        self.settled(|| {
            let missing = || log_corrupt(commit, "its log leaf is not stored".to_owned());
            let (key, value) = self.tree.range(leaf_key(1)..=leaf_key(commit)).next_back().ok_or_else(missing)??;
            let at = usize::try_from(commit - key_number(&key))
                .ok()
                .and_then(|i| i.checked_mul(LOG_LEAF_BYTES))
                .ok_or_else(missing)?;
            let bytes = value.get(at..at + LOG_LEAF_BYTES).ok_or_else(missing)?;
            LogLeaf::parse(bytes).map_err(|e| log_corrupt(commit, e.to_string()))
        })
    }

    /// The RFC 6962 inclusion proof of leaf `index` in the log of `size` leaves (`index < size`,
    /// `size` at most a published commit head), from the stored hashes.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<fiscus_tlog::Hash>, LedgerError> {
        self.settled(|| {
            fiscus_tlog::tree::inclusion_proof(index, size, size, &NodeReader { tree: &self.tree })
                .map_err(|e| log_corrupt(index + 1, e.to_string()))
        })
    }

    /// What the receipt of commit `commit` under the stored checkpoint of `size` is made of, read
    /// from the store: the checkpoint, the commit's entry (its previous hash and records, each
    /// record with its stored bytes), its log leaf and the leaf's inclusion proof. The same as
    /// [`crate::log::LogState::receipt`] makes in memory for a commit of the last groups; this
    /// answers for any commit `1 ..= size` (`size` at most a published commit head).
    /// [`LedgerError::Corrupt`] when a part is not stored or a record's bytes do not hash to the
    /// entry's record hash.
    pub fn receipt_parts(&self, commit: u64, size: u64) -> Result<crate::log::RecentReceipt, LedgerError> {
        self.settled(|| {
            if commit == 0 || commit > size {
                return Err(log_corrupt(commit, format!("no receipt of commit {commit} in a log of {size} commits")));
            }
            let checkpoint = self
                .checkpoint(size)?
                .ok_or_else(|| log_corrupt(size, "no checkpoint is stored for the published log".to_owned()))?;
            let entries = self.commits(commit.saturating_sub(2), commit, 2)?;
            let prev_commit_hash = match commit {
                1 => crate::chain::COMMIT_GENESIS,
                _ => entries
                    .first()
                    .filter(|e| e.number + 1 == commit)
                    .map(|e| e.hash)
                    .ok_or_else(|| corrupt_at("commit log", commit - 1, "entry not read".to_owned()))?,
            };
            let entry = entries
                .last()
                .filter(|e| e.number == commit)
                .ok_or_else(|| corrupt_at("commit log", commit, "entry not read".to_owned()))?;
            let mut records = Vec::with_capacity(entry.records.len());
            for listed in &entry.records {
                let raw = self.raw_records(&listed.project, listed.seq, listed.seq, 1)?.into_iter().next();
                let bytes = match raw {
                    Some(raw) if raw.seq == listed.seq && raw.hash == listed.hash => raw.bytes,
                    Some(_) => {
                        return Err(corrupt_at(
                            &listed.project,
                            listed.seq,
                            format!("the record's hash differs from commit {commit}'s entry"),
                        ))
                    }
                    None => return Err(corrupt_at(&listed.project, listed.seq, "the record is not stored".to_owned())),
                };
                records.push(crate::log::CommitRecord {
                    chain: listed.project.clone(),
                    seq: listed.seq,
                    hash: listed.hash,
                    bytes,
                });
            }
            Ok(crate::log::RecentReceipt {
                checkpoint,
                commit,
                prev_commit_hash,
                records: records.into(),
                leaf: self.log_leaf(commit)?,
                proof: self.inclusion_proof(commit - 1, size)?,
            })
        })
    }

    /// The RFC 6962 consistency proof from size `old` to size `new` (`old <= new`, `new` at most a
    /// published commit head), from the stored hashes.
    pub fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<fiscus_tlog::Hash>, LedgerError> {
        self.settled(|| {
            fiscus_tlog::tree::consistency_proof(old, new, new, &NodeReader { tree: &self.tree })
                .map_err(|e| log_corrupt(new, e.to_string()))
        })
    }

    /// The log's root at `size` (at most a published commit head), from the stored hashes.
    pub fn log_root(&self, size: u64) -> Result<fiscus_tlog::Hash, LedgerError> {
        self.settled(|| {
            fiscus_tlog::tree::tree_root(size, &NodeReader { tree: &self.tree })
                .map_err(|e| log_corrupt(size, e.to_string()))
        })
    }

    /// Hands `each` the items `from ..= last` of `sequence`, in order, chunk by chunk.
    fn read(
        &self,
        sequence: &Sequence<'_>,
        from: u64,
        last: u64,
        mut each: impl FnMut(u64, &[u8]) -> Result<(), LedgerError>,
    ) -> Result<(), LedgerError> {
        let mut unpacker = Unpacker::new();
        let mut start = chunk_start(from, sequence.chunk);
        while start <= last {
            let end = start.saturating_add(sequence.chunk - 1).min(last);
            let plain = self.chunk(sequence, start, end, &mut unpacker)?;
            for (n, item) in (start..=end).zip((sequence.items)(&plain)) {
                let item = item.map_err(|e| corrupt(sequence.name, n, e))?;
                if n >= from {
                    each(n, item)?;
                }
            }
            let Some(next) = start.checked_add(sequence.chunk) else { break };
            start = next;
        }
        Ok(())
    }

    /// The plain framed items of the chunk beginning at `start`, from `start` on, at least up to
    /// `end` (which is in the chunk): the sealed value, or the value at `start` and the runs after
    /// it. See [`Reader`] for why a read that comes up short is repeated.
    fn chunk(
        &self,
        sequence: &Sequence<'_>,
        start: u64,
        end: u64,
        unpacker: &mut Unpacker,
    ) -> Result<Vec<u8>, LedgerError> {
        let count = |plain: &[u8], at: u64| {
            (sequence.items)(plain)
                .try_fold(0u64, |n, item| item.map(|_| n + 1))
                .map_err(|e| corrupt(sequence.name, at, e))
        };
        let mut next = start;
        for _ in 0..CHUNK_READ_ATTEMPTS {
            let mut plain = Vec::new();
            next = start;
            // one `get`: the chunk as sealed (for the commit log, possibly its first run)
            if let Some(value) = self.tree.get((sequence.sealed)(start))? {
                let items = unpacker.unpack(&value).map_err(|e| corrupt(sequence.name, start, e))?;
                next += count(&items, start)?;
                plain.extend_from_slice(&items);
            }
            // one scan: the runs that follow, each keyed by the number after the one before
            if next <= end {
                for item in self.tree.range((sequence.run)(next)..=(sequence.run)(end)) {
                    let (key, value) = item?;
                    if key.as_ref() != (sequence.run)(next).as_slice() {
                        break; // a gap: the runs were moved into the sealed chunk during the scan
                    }
                    let items = unpacker.unpack(&value).map_err(|e| corrupt(sequence.name, next, e))?;
                    next += count(&items, next)?;
                    plain.extend_from_slice(&items);
                    if next > end {
                        break;
                    }
                }
            }
            if next > end {
                return Ok(plain);
            }
        }
        Err(corrupt_at(sequence.name, next, format!("not stored (read {CHUNK_READ_ATTEMPTS} times)")))
    }

    /// The statement of `project` for `from ..= to` in `currency` (the project's own when `None`),
    /// as of the projection `at`: its records are read up to the project's head in `at`.
    pub fn statement(
        &self,
        at: &Projection,
        project: &str,
        from: chrono::NaiveDate,
        to: chrono::NaiveDate,
        currency: Option<crate::money::Currency>,
    ) -> Result<crate::statement::Statement, LedgerError> {
        self.settled(|| {
            let state = at.project(project).ok_or_else(|| LedgerError::UnknownProject {
                project: ProjectId::parse("project", project).unwrap_or_else(|_| ProjectId::sponsor()),
            })?;
            if from > to {
                return Err(LedgerError::invalid("from", format!("{from} is after {to}")));
            }
            let currency = match (currency, &state.info) {
                (Some(c), _) => c,
                (None, Some(info)) => info.currency,
                (None, None) => return Err(LedgerError::invalid("currency", "give a currency for the sponsor chain")),
            };
            let records = self.records(project, 1, state.head.seq, usize::MAX)?;
            let events = records.into_iter().map(|r| (r.seq, r.event));
            crate::statement::statement(&state.id, currency, from, to, events)
        })
    }
}

/// The first number of the chunk holding `n` (chunks of `chunk` items; chunk k holds
/// `k*chunk+1 ..= (k+1)*chunk`).
fn chunk_start(n: u64, chunk: u64) -> u64 {
    n.saturating_sub(1) / chunk * chunk + 1
}

/// The number a commit log key holds (0, never a commit's, for a malformed key).
/// The text of the checkpoint of size `size` as stored: its note, which must be UTF-8 (read
/// further by [`fiscus_tlog`]).
fn stored_checkpoint(size: u64, stored: &[u8]) -> Result<String, LedgerError> {
    String::from_utf8(stored.to_vec()).map_err(|_| log_corrupt(size, "the stored checkpoint is not UTF-8".to_owned()))
}

pub(crate) fn key_number(key: &[u8]) -> u64 {
    key.get(1..).and_then(|b| <[u8; 8]>::try_from(b).ok()).map_or(0, u64::from_be_bytes)
}

fn corrupt(sequence: &str, seq: u64, e: LedgerError) -> LedgerError {
    corrupt_at(sequence, seq, e.to_string())
}

fn corrupt_at(sequence: &str, seq: u64, problem: String) -> LedgerError {
    LedgerError::Corrupt { project: sequence.to_owned(), seq, problem }
}

/// Total size of the files under `dir`.
pub fn dir_bytes(dir: &Path) -> Result<u64, LedgerError> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() { dir_bytes(&entry.path())? } else { meta.len() };
    }
    Ok(total)
}

impl History for Store {
    fn event_at(&self, project: &ProjectId, seq: u64) -> Result<Option<Event>, LedgerError> {
        if seq == 0 {
            return Ok(None);
        }
        let records = self.raw_records(project.as_str(), seq, 1)?;
        match records.first() {
            Some(r) if r.seq == seq => Ok(Some(Record::decode(&r.bytes)?.event)),
            _ => Ok(None),
        }
    }
}

impl Lookup for Store {
    fn recorded(&self, project: &ProjectId, event_id: &str) -> Result<Option<Recorded>, LedgerError> {
        for seq in self.ids.candidates(project, event_id.as_bytes()) {
            let record = self.records(project.as_str(), seq, 1)?.into_iter().next();
            if let Some(r) = record.filter(|r| r.seq == seq && r.event.event_id == event_id) {
                return Ok(Some(Recorded { project: project.clone(), seq, commit: r.commit, event: r.event }));
            }
        }
        Ok(None)
    }
}

/// sled's page cache. Replay reads every page once, in order, and gains nothing from a larger cache;
/// reads of recent records (heads, statements, subscribers) find them here.
pub const SLED_CACHE_BYTES: u64 = 32 * 1024 * 1024;

/// sled's segment size for new stores. With sled's default (512 KiB) a generated year took 558
/// bytes per event on disk for 186 live; with 8 MiB segments, 361 (BENCHMARKS.md): sled reclaims
/// the space of superseded page versions a segment at a time.
pub const SLED_SEGMENT_BYTES: usize = 8 << 20;

/// sled's page compression level in stores of layout 1 (which used it).
const LAYOUT_1_COMPRESSION_LEVEL: i32 = 1;

/// Most bytes of sled's `conf` file (a few `name: value` lines and a checksum).
pub const SLED_CONF_BYTES_MAX: u64 = 64 * 1024;

/// Most bytes of a [`HOLDER_FILE`] (one `PID PROGRAM` line).
pub const HOLDER_BYTES_MAX: u64 = 4096;

/// An error reading or checking the file at `path` of a store's folder, naming it.
fn kept_file_error(path: &Path, e: std::io::Error) -> LedgerError {
    LedgerError::Io(std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}

/// Refuses the file `name` of the store folder `dir` when it is there and is not a regular file (a
/// named pipe there would block whoever opens it for good; a link is not the store's own).
fn refuse_unless_kept_file(dir: &Path, name: &str) -> Result<(), LedgerError> {
    let path = dir.join(name);
    match crate::files::check_regular(&path, Links::Refuse) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(kept_file_error(&path, e)),
    }
}

/// Refuses a file of sled's snapshots (`snap.*`, which sled reads whole when it opens) that is not
/// a regular file (a pipe blocked the opening for good; a link is not the store's own) or that
/// is larger than the `db` file its page table points into, by more than 1 MiB (a sparse file
/// of 20 GB, or a link to `/dev/zero`, was read until memory ran out).
fn refuse_odd_snapshots(dir: &Path) -> Result<(), LedgerError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(kept_file_error(dir, e)),
    };
    let db = std::fs::symlink_metadata(dir.join("db")).map_or(0, |m| m.len());
    for entry in entries {
        let entry = entry.map_err(|e| kept_file_error(dir, e))?;
        if !entry.file_name().to_string_lossy().starts_with("snap.") {
            continue;
        }
        let path = entry.path();
        let meta = crate::files::check_regular(&path, Links::Refuse).map_err(|e| kept_file_error(&path, e))?;
        if meta.len() > db.saturating_add(1 << 20) {
            let e = std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("sled's snapshot holds {} bytes, more than its database ({db} bytes) could need", meta.len()),
            );
            return Err(kept_file_error(&path, e));
        }
    }
    Ok(())
}

/// The settings sled keeps in a database's `conf` file, which it refuses to open with others.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct SledSettings {
    /// sled's page compression (on in stores of layout 1).
    pub use_compression: bool,
    /// Bytes per log segment.
    pub segment_size: usize,
}

impl SledSettings {
    /// The settings of the database in `dir`, or `None` when there is none yet.
    /// Anything but a regular file there (a named pipe would block sled and this read for good)
    /// is refused naming the file.
    pub fn persisted(dir: &Path) -> Result<Option<SledSettings>, LedgerError> {
        let path = dir.join("conf");
        let bytes = match crate::files::read_bounded(&path, SLED_CONF_BYTES_MAX, "sled settings file", Links::Refuse) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(kept_file_error(&path, e)),
        };
        // `name: value` lines, then a checksum sled verifies itself
        let text = String::from_utf8_lossy(&bytes);
        let value = |name: &str| text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(": ").map(str::trim));
        let bad = || LedgerError::Format(format!("{}: unreadable sled settings", dir.join("conf").display()));
        let use_compression = value("use_compression").and_then(|v| v.parse().ok()).ok_or_else(bad)?;
        let segment_size = value("segment_size").and_then(|v| v.parse().ok()).ok_or_else(bad)?;
        Ok(Some(SledSettings { use_compression, segment_size }))
    }
}

/// The file in a store's folder naming the process that opened the store last: `PID PROGRAM`
/// (`4242 fiscusd`), written only by the process holding its `flock` ([`lock_folder`]; a store
/// holds it while open, beside sled's lock on `db`). It is read only when that lock is refused, so
/// that the refusal names the process holding the folder; no hash covers it.
pub const HOLDER_FILE: &str = "holder";

/// Whether `dir` holds a store (sled's `db` file), without opening or creating anything: callers
/// refuse a path with no store unless they were asked to create one.
pub fn present(dir: &Path) -> bool {
    dir.join("db").is_file()
}

/// This program's file name (`fiscusd`, `fiscus`), for [`HOLDER_FILE`].
fn program_name() -> String {
    std::env::args_os()
        .next()
        .and_then(|a| Path::new(&a).file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "unknown program".to_owned())
}

/// The process holding the store in `dir`, in words, from its [`HOLDER_FILE`]: `process 4242
/// (fiscusd)`, checked against `/proc` where there is one (a holder file left by an earlier
/// process is not believed).
fn holder_of(dir: &Path) -> String {
    let unknown = "another process (it left no record of its pid)".to_owned();
    let path = dir.join(HOLDER_FILE);
    // (never a pipe waited on: opening the store refuses one there before this is read)
    let Ok(text) = crate::files::read_text_bounded(&path, HOLDER_BYTES_MAX, "holder file", Links::Refuse) else {
        return unknown;
    };
    let mut words = text.split_whitespace();
    let (Some(pid), program) = (words.next().and_then(|p| p.parse::<u32>().ok()), words.next()) else {
        return unknown;
    };
    let program = program.unwrap_or("unknown program");
    let proc_dir = Path::new("/proc");
    if proc_dir.is_dir() {
        match std::fs::read_to_string(proc_dir.join(pid.to_string()).join("comm")) {
            Ok(comm) => return format!("process {pid} ({})", comm.trim()),
            Err(_) => return format!("another process (process {pid}, {program}, opened it last but has ended)"),
        }
    }
    format!("process {pid} ({program})")
}

/// The line of a [`HOLDER_FILE`] naming this process (`PID PROGRAM`), for whoever is refused the
/// folder next.
fn holder_line() -> String {
    format!("{} {}\n", std::process::id(), program_name())
}

/// An exclusive hold on a folder for as long as the value lives: an `flock` on the folder's
/// [`HOLDER_FILE`] (created 0600, never removed: removing it would let two processes lock two
/// different files), which names the holding process. The operating system lets go when the
/// process ends, however it ends.
#[derive(Debug)]
pub struct FolderLock {
    _file: File,
}

/// Takes the [`FolderLock`] of `dir` (an existing folder), or refuses at once with
/// [`LedgerError::FolderInUse`] naming `what` the folder is, its path and the process holding it
/// (read from the [`HOLDER_FILE`], as for a store in use). Other failures are
/// [`LedgerError::Io`].
pub fn lock_folder(dir: &Path, what: &str) -> Result<FolderLock, LedgerError> {
    try_lock_folder(dir)?.ok_or_else(|| LedgerError::FolderInUse {
        what: what.to_owned(),
        dir: dir.display().to_string(),
        holder: holder_of(dir),
    })
}

/// Takes the [`FolderLock`] of `dir` and names this process in its [`HOLDER_FILE`], or answers
/// `None` at once when another holds it (the file is then left as it is: it names the holder).
fn try_lock_folder(dir: &Path) -> Result<Option<FolderLock>, LedgerError> {
    use std::io::Write as _;
    refuse_unless_kept_file(dir, HOLDER_FILE)?;
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(crate::private::FILE_MODE);
    }
    let mut file = options.open(dir.join(HOLDER_FILE))?;
    #[cfg(unix)]
    match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => {}
        Err(e) if e == rustix::io::Errno::WOULDBLOCK => return Ok(None),
        Err(e) => return Err(LedgerError::Io(e.into())),
    }
    file.set_len(0)?;
    file.write_all(holder_line().as_bytes())?;
    file.sync_all()?;
    Ok(Some(FolderLock { _file: file }))
}

/// How long opening waits for a store that was just closed to release its lock.
pub const OPEN_LOCK_WAIT_MS_MAX: u64 = 5_000;

/// Opens a store's sled tree without replaying it (tools that damage or inspect a store in tests).
///
/// The folder is created private ([`crate::private::DIR_MODE`]) and refused when group or others may
/// write it; every file sled made in it is then made [`crate::private::FILE_MODE`].
///
/// sled lets go of its file lock only when its I/O threads have finished with a closed handle, a few
/// milliseconds after the close; a lock held that way is waited for, up to [`OPEN_LOCK_WAIT_MS_MAX`].
pub fn open_tree(dir: &Path) -> Result<(sled::Db, sled::Tree), LedgerError> {
    let (_folder, db, tree) = open_locked(dir)?;
    Ok((db, tree))
}

/// [`open_tree`], also holding the folder's [`FolderLock`], which a [`Store`] keeps for its life:
/// every program that keeps a folder (a store, a witness's state) takes the same lock before it
/// writes anything there, so that none of them takes a folder another is using (a witness
/// started on a running fiscusd's folder wrote its own pid into its `holder`, and a store was
/// made in a running witness's state folder).
fn open_locked(dir: &Path) -> Result<(FolderLock, sled::Db, sled::Tree), LedgerError> {
    crate::private::create_dir(dir, "store folder")?;
    // sled opens `db` and `conf` itself, and blocks for good on a named pipe; `holder` is locked
    // and written below.
    for name in ["db", HOLDER_FILE] {
        refuse_unless_kept_file(dir, name)?;
    }
    refuse_odd_snapshots(dir)?;
    let started = std::time::Instant::now();
    let in_use = || LedgerError::StoreInUse { dir: dir.display().to_string(), holder: holder_of(dir) };
    let folder = loop {
        match try_lock_folder(dir)? {
            Some(folder) => break folder,
            // (a store just closed by this process lets go at once; wait as for sled's lock below)
            None if started.elapsed() < std::time::Duration::from_millis(OPEN_LOCK_WAIT_MS_MAX) => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            None => return Err(in_use()),
        }
    };
    let (compression, segment) = match SledSettings::persisted(dir)? {
        Some(s) => (s.use_compression, s.segment_size),
        None => (false, SLED_SEGMENT_BYTES),
    };
    // No background flusher: every commit flushes and syncs itself.
    let config = sled::Config::new()
        .path(dir)
        .cache_capacity(SLED_CACHE_BYTES)
        .segment_size(segment)
        .flush_every_ms(None)
        // Sealed chunks are compressed by the store itself ([`crate::pack`]); only stores of
        // layout 1 use sled's page compression, and sled must open them with it.
        .use_compression(compression)
        .compression_factor(LAYOUT_1_COMPRESSION_LEVEL);
    let db = loop {
        match config.open() {
            Ok(db) => break db,
            Err(sled::Error::Io(e))
                if e.to_string().contains("could not acquire lock")
                    && started.elapsed() < std::time::Duration::from_millis(OPEN_LOCK_WAIT_MS_MAX) =>
            {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(sled::Error::Io(e)) if e.to_string().contains("could not acquire lock") => return Err(in_use()),
            Err(sled::Error::Corruption { at, .. }) => {
                let at = at.map_or_else(String::new, |at| format!(" at {at}"));
                let problem = format!("sled found a page failing its checksum{at} in its files");
                return Err(LedgerError::Damaged { dir: dir.display().to_string(), problem });
            }
            Err(e) => return Err(e.into()),
        }
    };
    let tree = db.open_tree("fiscus")?;
    crate::private::tighten(dir)?;
    Ok((folder, db, tree))
}

impl Store {
    /// The statement of `project` for `from ..= to` in `currency` (the project's own when `None`).
    pub fn statement(
        &self,
        project: &str,
        from: chrono::NaiveDate,
        to: chrono::NaiveDate,
        currency: Option<crate::money::Currency>,
    ) -> Result<crate::statement::Statement, LedgerError> {
        self.reader().statement(&self.projection, project, from, to, currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A read that fails while the store writes normally stays what it is (damage is damage); once
    /// a write failed, the same failure is refused naming the failed write and the restart, and
    /// reads that succeed or are refused for a reason of their own are left alone.
    #[test]
    fn a_read_failing_after_a_failed_write_is_not_taken_for_damage() -> Result<(), LedgerError> {
        let db = sled::Config::new().temporary(true).open()?;
        let reader = Reader { tree: db.open_tree("t")?, writes: Arc::default() };
        let missing = || Err::<u64, _>(corrupt_at("conf-a", 7, "not stored (read 3 times)".to_owned()));
        assert!(matches!(reader.settled(missing), Err(LedgerError::Corrupt { .. })));

        let why = "a write failed (i/o: No space left on device (os error 28)); writes are refused until the \
                   store is reopened (restart fiscusd once the disk is sound)";
        let _ = reader.writes.failed.set(why.to_owned());
        match reader.settled(missing) {
            Err(LedgerError::ReadOnly(message)) => {
                for part in ["not stored (read 3 times)", "No space left on device", "restart fiscusd"] {
                    assert!(message.contains(part), "{part:?} in {message}");
                }
            }
            other => panic!("refused as read-only, not {other:?}"),
        }
        let io = || Err::<u64, _>(LedgerError::Io(std::io::Error::other("Global error")));
        assert!(matches!(reader.settled(io), Err(LedgerError::ReadOnly(_))));
        assert!(matches!(reader.settled(|| Ok(5)), Ok(5)));
        let refused = || Err::<u64, _>(LedgerError::invalid("after_seq", "past the head"));
        assert!(matches!(reader.settled(refused), Err(LedgerError::Invalid { .. })));
        Ok(())
    }
}
