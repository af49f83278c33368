//! Replay: reading every stored record back, verifying both chains, and rebuilding the projection.
//!
//! Two sequential scans: the commit log (re-hashing the commit chain, and keeping per project a
//! fingerprint of the record hashes it lists, in order) and the records (re-hashing each record's
//! stored bytes, checking seq and `prev`, decoding and folding it in, and keeping the same
//! fingerprint). A project verifies when both fingerprints, its record count and its head entry
//! agree. Only when one does not is the project read again, record by record, against the commit
//! log, to name the first bad seq. Memory stays the projection's size (plus one fingerprint per
//! project), whatever the store's.
//!
//! The fingerprint is a polynomial over GF(2^61 − 1) evaluated at points drawn at random when the
//! replay starts (two independent sets), so whoever wrote the store cannot aim at them: two
//! different sequences of n hashes collide with probability below (n / 2^60)², and it costs a few
//! multiplications per record where a second hash of every record would cost as much as the first.

use std::borrow::Cow;
use std::collections::HashMap;

use crate::chain::{genesis_hash, CommitHasher, Hash, RecordHasher, COMMIT_GENESIS};
use crate::decode::{event_id_of, walk_commit};
use crate::error::LedgerError;
use crate::event::Event;
use crate::id_index::{IdIndex, SEQ_MAX};
use crate::ids::ProjectId;
use crate::log::{HeadsMap, LogLeaf, LogState, LOG_LEAF_BYTES, LOG_NAME};
use crate::pack::Unpacker;
use crate::projection::{CommitHead, Head, Projection};
use crate::record::{CommitView, Framed, Record, RecordView, FORMAT_VERSION};
use crate::rules::History;
use crate::store::{
    key_number, parse_record_key, record_key, tail_key, LogMigration, CHECKPOINTS, CHUNK_RECORDS, COMMITS, HEADS,
    LEAVES, LOG_INDEX, META, NODES, RECORDS, TAILS,
};
use crate::verify::{step_view, ChainWalker};

/// The name [`Damage::project`] holds for damage to the commit log as a whole (commits synced and
/// answered that the store no longer holds: `crate::synced`), with the commit's number as `seq`.
pub const COMMIT_LOG: &str = "commit log";

/// The name [`Damage::project`] holds for a key of the store that lies outside every keyspace
/// (`docs/FORMAT.md` section 6), with `seq` 0.
pub const STORE_KEYS: &str = "store keys";

/// A chain that failed verification, with its first bad record.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Damage {
    /// The chain ([`COMMIT_LOG`] for the commit log as a whole).
    pub project: String,
    /// The first bad seq (for a broken commit chain: the first record of the first bad commit;
    /// for [`COMMIT_LOG`], a commit number).
    pub seq: u64,
    /// What is wrong.
    pub problem: String,
}

impl Damage {
    /// Where the damage is, in words: `commit N` for the commit log, `the transparency log at
    /// commit N` for the log, else `P seq N`.
    pub fn place(&self) -> String {
        match self.project.as_str() {
            COMMIT_LOG => format!("commit {}", self.seq),
            STORE_KEYS => "the store's keys".to_owned(),
            LOG_NAME => format!("the {LOG_NAME} at commit {}", self.seq),
            chain => format!("{chain} seq {}", self.seq),
        }
    }
}

/// What a replay produced.
pub struct Replayed {
    /// The projection of every record that verified.
    pub projection: Projection,
    /// Damaged chains; empty when everything verified.
    pub damage: Vec<Damage>,
    /// Commits in the commit log.
    pub commits: u64,
    /// Wall time of each phase: the commit log scan, the record scan.
    pub phases: Vec<(&'static str, std::time::Duration)>,
    /// Every stored event id and where it is.
    pub ids: IdIndex,
    /// The transparency log rebuilt from the commit entries (and checked against the stored one).
    pub log: LogState,
    /// The log to write, when the store holds commits but no log yet (it was written before the
    /// log existed).
    pub log_migration: Option<LogMigration>,
}

struct Listed {
    next_seq: u64,
    digest: Fingerprint,
    problem: Option<(u64, String)>,
}

impl Listed {
    fn new() -> Listed {
        Listed { next_seq: 1, digest: Fingerprint::default(), problem: None }
    }
}

const P61: u64 = (1 << 61) - 1;

/// `x mod 2^61 − 1` for `x < 2^127`.
fn reduce128(x: u128) -> u64 {
    let r = (x as u64 & P61) + ((x >> 61) as u64 & P61) + (x >> 122) as u64;
    reduce(r)
}

/// `r mod 2^61 − 1` for `r < 2^63`.
fn reduce(r: u64) -> u64 {
    let r = (r & P61) + (r >> 61);
    if r >= P61 {
        r - P61
    } else {
        r
    }
}

/// Random evaluation points of the fingerprint, drawn once per replay.
struct FingerprintKeys {
    limbs: [[u64; 4]; 2],
    /// Keys of the record's commit number and `recorded_at`, which the commit log lists too.
    commit: [[u64; 2]; 2],
    point: [u64; 2],
}

impl FingerprintKeys {
    fn random() -> FingerprintKeys {
        use std::hash::{BuildHasher, Hasher};
        let state = std::collections::hash_map::RandomState::new();
        let mut n = 0u64;
        let mut draw = || {
            n += 1;
            let mut h = state.build_hasher();
            h.write_u64(n);
            reduce(h.finish() & P61) | 1
        };
        FingerprintKeys {
            limbs: [[draw(), draw(), draw(), draw()], [draw(), draw(), draw(), draw()]],
            commit: [[draw(), draw()], [draw(), draw()]],
            point: [draw(), draw()],
        }
    }
}

/// `Σ e(hash_i, commit_i, recorded_at_i) · point^i` over the records of one chain, in order, for
/// both key sets: the record hash, the number of the commit that stored it and that commit's time.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Fingerprint {
    sum: [u64; 2],
    power: [u64; 2],
}

impl Default for Fingerprint {
    fn default() -> Self {
        Fingerprint { sum: [0; 2], power: [1; 2] }
    }
}

impl Fingerprint {
    fn push(&mut self, keys: &FingerprintKeys, hash: &Hash, commit: u64, recorded_at: i64) {
        let limbs: [u64; 4] = std::array::from_fn(|i| {
            u64::from_le_bytes(hash[i * 8..i * 8 + 8].try_into().expect("32 bytes make four limbs"))
        });
        for k in 0..2 {
            // four products below 2^125 each: their sum fits a u128
            let e = limbs.iter().zip(keys.limbs[k]).map(|(l, a)| u128::from(*l) * u128::from(a)).sum::<u128>();
            // two more below 2^125 each
            let c = u128::from(commit) * u128::from(keys.commit[k][0])
                + u128::from(recorded_at as u64) * u128::from(keys.commit[k][1]);
            let e = reduce(reduce128(e) + reduce128(c));
            self.sum[k] = reduce(self.sum[k] + reduce128(u128::from(e) * u128::from(self.power[k])));
            self.power[k] = reduce128(u128::from(self.power[k]) * u128::from(keys.point[k]));
        }
    }
}

/// How to replay.
#[derive(Clone, Copy, Debug)]
pub struct ReplayOptions {
    /// 1: everything on the calling thread. 2 or more: the commit log, reading and hashing the
    /// records, and decoding and folding them run as three stages on their own threads.
    pub threads: usize,
    /// Progress is reported every this many records ([`PROGRESS_EVERY`] by default).
    pub progress_every: u64,
}

/// Records between two progress reports of a replay, by default.
pub const PROGRESS_EVERY: u64 = 262_144;

impl ReplayOptions {
    /// The default options on `threads` threads.
    pub fn threads(threads: usize) -> ReplayOptions {
        ReplayOptions { threads, ..ReplayOptions::default() }
    }
}

impl Default for ReplayOptions {
    fn default() -> Self {
        ReplayOptions {
            threads: std::thread::available_parallelism().map_or(1, usize::from),
            progress_every: PROGRESS_EVERY,
        }
    }
}

/// Stored record values in flight from the reading stage to the folding stage, with the hash of
/// each record they hold.
struct Batch {
    key: sled::IVec,
    /// The framed records (a sealed chunk decompressed), or why the value cannot be read.
    value: Result<Value, String>,
    hashes: Vec<Hash>,
}

/// A stored value's framed records: the stored bytes themselves, or a chunk's decompressed content.
enum Value {
    Stored(sled::IVec),
    Unpacked(Vec<u8>),
}

impl Value {
    fn as_slice(&self) -> &[u8] {
        match self {
            Value::Stored(v) => v,
            Value::Unpacked(v) => v,
        }
    }
}

/// Values handed from the reading stage to the folding stage at a time.
const PIPELINE_BATCHES_MAX: usize = 256;

/// Replays the store's tree. `progress` is told the number of records done, now and then.
pub fn replay(
    tree: &sled::Tree,
    options: ReplayOptions,
    progress: Option<&dyn Fn(u64)>,
) -> Result<Replayed, LedgerError> {
    let started = std::time::Instant::now();
    let keys = FingerprintKeys::random();
    let mut fold = Fold::new(tree, &keys, progress, options.progress_every);
    let (commit_scan, read) = if options.threads <= 1 {
        let commit_scan = scan_commits(tree, &keys)?;
        let read = read_records(tree, |b| {
            fold.take(b);
            true
        });
        (commit_scan, read)
    } else {
        std::thread::scope(|s| {
            let commits = s.spawn(|| scan_commits(tree, &keys));
            let (tx, rx) = std::sync::mpsc::sync_channel::<Batch>(PIPELINE_BATCHES_MAX);
            let reader = s.spawn(move || read_records(tree, |b| tx.send(b).is_ok()));
            for batch in rx {
                fold.take(batch);
            }
            let read = reader.join().expect("the reading stage does not panic");
            let commit_scan = commits.join().expect("the commit log stage does not panic");
            Ok::<_, LedgerError>((commit_scan?, read))
        })?
    };
    let (ids, id_damage) = read?;
    let (mut listed, head, mut damage, rebuilt) = commit_scan;
    let (log, log_migration) = rebuilt.finish(tree, &mut damage)?;
    let (mut projection, finished, fold_damage) = fold.end();
    damage.extend(fold_damage);
    damage.extend(id_damage);
    projection.commit_head = head;
    for chain in finished {
        chain.finish(tree, &mut listed, &mut damage)?;
    }
    for (project, l) in listed {
        if l.next_seq > 1 {
            damage.push(Damage {
                project: String::from_utf8_lossy(&project).into_owned(),
                seq: 1,
                problem: "the commit log lists records that are not in the store".to_owned(),
            });
        }
    }
    projection.events = projection.chains().map(|c| c.head.seq).sum();
    stray_keys(tree, &projection, &mut damage)?;
    damage.sort_by(|a, b| (&a.project, a.seq).cmp(&(&b.project, b.seq)));
    let phases = vec![("replay", started.elapsed())];
    Ok(Replayed { projection, damage, commits: head.number, phases, ids, log, log_migration })
}

/// The reading stage: every record value in key order, with the hash of each record in it; and the
/// index of event ids, built on the way, with the damage it finds (an event id stored twice, a
/// position the index cannot hold).
fn read_records(tree: &sled::Tree, mut send: impl FnMut(Batch) -> bool) -> Result<(IdIndex, Vec<Damage>), LedgerError> {
    let mut hasher = RecordHasher::new();
    let mut unpacker = Unpacker::new();
    let mut ids = IdIndex::new();
    let mut damage: Vec<Damage> = Vec::new();
    let mut chain: Option<(Vec<u8>, Option<u32>)> = None;
    // every project's sealed chunks, then every project's unsealed tail
    for item in tree.scan_prefix([RECORDS]).chain(tree.scan_prefix([TAILS])) {
        let (key, value) = item?;
        let number = match (parse_record_key(&key), &chain) {
            (Some((p, _)), Some((name, n))) if name.as_slice() == p.as_bytes() => *n,
            (Some((p, _)), _) => {
                let n = ProjectId::parse("project", p).ok().and_then(|id| ids.chain_number(&id));
                chain = Some((p.as_bytes().to_vec(), n));
                n
            }
            (None, _) => None,
        };
        let key_seq = parse_record_key(&key).map(|(p, s)| (p.to_owned(), s));
        let mut hashes = Vec::new();
        let value = match unpacker.unpack(&value) {
            Ok(Cow::Borrowed(_)) => Ok(Value::Stored(value)),
            Ok(Cow::Owned(plain)) => Ok(Value::Unpacked(plain)),
            Err(e) => Err(e.to_string()),
        };
        let framed = value.as_ref().map_or(&[][..], Value::as_slice);
        for (i, bytes) in Framed::new(framed).map_while(Result::ok).enumerate() {
            hashes.push(hasher.hash(bytes));
            let (Some(n), Some((project, first)), Some(id)) = (number, &key_seq, event_id_of(bytes)) else { continue };
            // a seq the index cannot hold is not a chain's: the fold reports the chain broken there
            let Some(seq) = first.checked_add(i as u64).filter(|s| *s <= SEQ_MAX) else { continue };
            // event ids are unique per project (docs/FORMAT.md section 2)
            if let Some((other, other_seq)) = ids.insert(id, n, seq) {
                if other.as_str() == project && stored_event_id(tree, project, other_seq).as_deref() == Some(id) {
                    damage.push(Damage {
                        project: project.clone(),
                        seq,
                        problem: format!(
                            "event id {:?} is used earlier in the chain, at seq {other_seq}",
                            String::from_utf8_lossy(id)
                        ),
                    });
                }
            }
        }
        if !send(Batch { key, value, hashes }) {
            break;
        }
    }
    Ok((ids, damage))
}

/// The event id of the record stored at `seq` of `project`, if it can be read.
fn stored_event_id(tree: &sled::Tree, project: &str, seq: u64) -> Option<Vec<u8>> {
    let bytes = stored_record(tree, project, seq)?;
    event_id_of(&bytes).map(<[u8]>::to_vec)
}

/// The stored bytes of record `seq` of `project`, found through its sealed chunk or its run; `None`
/// when they cannot be read. Verification asks only for records it has already verified.
fn stored_record(tree: &sled::Tree, project: &str, seq: u64) -> Option<Vec<u8>> {
    let (first, value) = stored_value(tree, project, seq)?;
    let plain = Unpacker::new().unpack(&value).ok()?;
    nth_record(&plain, first, seq).map(<[u8]>::to_vec)
}

/// The stored value holding record `seq` of `project` (its sealed chunk, else the run it is in)
/// and the seq of the value's first record.
fn stored_value(tree: &sled::Tree, project: &str, seq: u64) -> Option<(u64, sled::IVec)> {
    let chunk_first = seq.checked_sub(1)? / CHUNK_RECORDS * CHUNK_RECORDS + 1;
    match tree.get(record_key(project, chunk_first)).ok()? {
        Some(v) => Some((chunk_first, v)),
        None => {
            let (key, v) = tree.range(tail_key(project, chunk_first)..=tail_key(project, seq)).next_back()?.ok()?;
            Some((parse_record_key(&key)?.1, v))
        }
    }
}

/// Record `seq` of the framed records `plain`, whose first is `first`.
fn nth_record(plain: &[u8], first: u64, seq: u64) -> Option<&[u8]> {
    let index = usize::try_from(seq.checked_sub(first)?).ok()?;
    Framed::new(plain).nth(index)?.ok()
}

/// Unpacked values kept by [`StoredHistory`]: refunds and reversals name records a few chunks back,
/// so most lookups find their chunk here instead of reading and decompressing it again.
const HISTORY_CHUNKS: usize = 256;

/// Earlier records of the chains being verified, read back from the store, as the rules'
/// [`History`]. The store does not change while it is verified, so unpacked values are kept (the
/// last [`HISTORY_CHUNKS`], keyed by project and chunk) and one zstd context serves every read.
struct StoredHistory<'t> {
    tree: &'t sled::Tree,
    cache: std::cell::RefCell<HistoryCache>,
}

#[derive(Default)]
struct HistoryCache {
    unpacker: Unpacker,
    /// (project, first seq of the chunk) -> (first seq of the value, its framed records).
    values: HashMap<(String, u64), (u64, Vec<u8>)>,
    /// Keys of `values`, oldest first.
    order: std::collections::VecDeque<(String, u64)>,
}

impl<'t> StoredHistory<'t> {
    fn new(tree: &'t sled::Tree) -> StoredHistory<'t> {
        StoredHistory { tree, cache: std::cell::RefCell::new(HistoryCache::default()) }
    }

    /// The stored bytes of record `seq` of `project`, as [`stored_record`] reads them.
    fn record(&self, project: &str, seq: u64) -> Option<Vec<u8>> {
        let chunk_first = seq.checked_sub(1)? / CHUNK_RECORDS * CHUNK_RECORDS + 1;
        let key = (project.to_owned(), chunk_first);
        let mut cache = self.cache.borrow_mut();
        if let Some((first, plain)) = cache.values.get(&key) {
            if let Some(bytes) = nth_record(plain, *first, seq) {
                return Some(bytes.to_vec());
            }
        }
        let (first, value) = stored_value(self.tree, project, seq)?;
        let plain = cache.unpacker.unpack(&value).ok()?.into_owned();
        let bytes = nth_record(&plain, first, seq)?.to_vec();
        if cache.values.insert(key.clone(), (first, plain)).is_none() {
            cache.order.push_back(key);
            if cache.order.len() > HISTORY_CHUNKS {
                if let Some(oldest) = cache.order.pop_front() {
                    cache.values.remove(&oldest);
                }
            }
        }
        Some(bytes)
    }
}

impl History for StoredHistory<'_> {
    fn event_at(&self, project: &ProjectId, seq: u64) -> Result<Option<Event>, LedgerError> {
        match self.record(project.as_str(), seq) {
            Some(bytes) => Record::decode(&bytes).map(|r| Some(r.event)),
            None => Ok(None),
        }
    }
}

/// Store-wide checks of keys: a head entry needs a chain with records, and every key lies in one
/// of the keyspaces (`docs/FORMAT.md` section 6, step 1).
fn stray_keys(tree: &sled::Tree, projection: &Projection, damage: &mut Vec<Damage>) -> Result<(), LedgerError> {
    for item in tree.scan_prefix([HEADS]) {
        let (key, _) = item?;
        let project = String::from_utf8_lossy(&key[1..]).into_owned();
        if projection.project(&project).is_none_or(|c| c.head.seq == 0) && !damage.iter().any(|d| d.project == project)
        {
            damage.push(Damage { project, seq: 0, problem: "a head entry for a chain with no records".to_owned() });
        }
    }
    use std::ops::Bound::{Excluded, Included, Unbounded};
    type Range = (std::ops::Bound<Vec<u8>>, std::ops::Bound<Vec<u8>>);
    let mut gaps: Vec<Range> = Vec::new();
    let mut low = Unbounded;
    for space in [COMMITS, HEADS, LOG_INDEX, CHECKPOINTS, LEAVES, META, NODES, RECORDS, TAILS] {
        gaps.push((low, Excluded(vec![space])));
        low = Included(vec![space + 1]);
    }
    gaps.push((low, Unbounded));
    for gap in gaps {
        if let Some(item) = tree.range::<Vec<u8>, _>(gap).next() {
            let (key, _) = item?;
            let shown: String = key.iter().take(48).map(|b| format!("{b:02x}")).collect();
            damage.push(Damage {
                project: STORE_KEYS.to_owned(),
                seq: 0,
                problem: format!("key {shown} lies outside every keyspace"),
            });
        }
    }
    Ok(())
}

/// The folding stage: checks each record's place in its chain, decodes it and folds it in.
struct Fold<'k> {
    history: StoredHistory<'k>,
    keys: &'k FingerprintKeys,
    progress: Option<&'k dyn Fn(u64)>,
    progress_every: u64,
    projection: Projection,
    current: Option<Chain>,
    /// Chains set aside: a project's tail comes after every project's sealed chunks.
    waiting: HashMap<String, Chain>,
    damage: Vec<Damage>,
    done: u64,
}

impl<'k> Fold<'k> {
    fn new(
        tree: &'k sled::Tree,
        keys: &'k FingerprintKeys,
        progress: Option<&'k dyn Fn(u64)>,
        progress_every: u64,
    ) -> Fold<'k> {
        Fold {
            history: StoredHistory::new(tree),
            keys,
            progress,
            progress_every: progress_every.max(1),
            projection: Projection::new(),
            current: None,
            waiting: HashMap::new(),
            damage: Vec::new(),
            done: 0,
        }
    }

    /// Every chain seen, in project order.
    fn end(mut self) -> (Projection, Vec<Chain>, Vec<Damage>) {
        if let Some(c) = self.current.take() {
            self.waiting.insert(c.id.clone(), c);
        }
        let mut chains: Vec<Chain> = self.waiting.into_values().collect();
        chains.sort_by(|a, b| a.id.cmp(&b.id));
        (self.projection, chains, self.damage)
    }

    fn take(&mut self, batch: Batch) {
        let Some((project, key_seq)) = parse_record_key(&batch.key) else {
            self.damage.push(Damage {
                project: String::from_utf8_lossy(&batch.key).into_owned(),
                seq: 0,
                problem: "malformed record key".to_owned(),
            });
            return;
        };
        if self.current.as_ref().is_none_or(|c| c.id.as_str() != project) {
            if let Some(c) = self.current.take() {
                self.waiting.insert(c.id.clone(), c);
            }
            self.current = Some(self.waiting.remove(project).unwrap_or_else(|| Chain::start(project)));
        }
        let chain = self.current.as_mut().expect("set above");
        if chain.problem.is_some() {
            return;
        }
        if key_seq != chain.head.seq + 1 {
            chain.fail(chain.head.seq + 1, format!("record missing (next stored key is seq {key_seq})"));
            return;
        }
        let state = match &chain.project {
            Some(id) => self.projection.chain_mut(id),
            None => return,
        };
        let value = match &batch.value {
            Ok(v) => v.as_slice(),
            Err(problem) => {
                chain.fail(key_seq, problem.clone());
                return;
            }
        };
        let mut hashes = batch.hashes.iter();
        let history = &self.history;
        for bytes in Framed::new(value) {
            let expected = chain.head.seq + 1;
            let (bytes, hash) = match (bytes, hashes.next()) {
                (Ok(b), Some(h)) => (b, *h),
                (Err(e), _) => {
                    chain.fail(expected, e.to_string());
                    return;
                }
                (Ok(_), None) => unreachable!("the reading stage hashes every framed record"),
            };
            let view = match RecordView::decode(bytes) {
                Ok(v) => v,
                Err(e) => {
                    chain.fail(expected, e.to_string());
                    return;
                }
            };
            if let Err(p) = step_view(state, &view, &hash, history) {
                chain.fail(expected, p);
                return;
            }
            chain.digest.push(self.keys, &hash, view.commit, view.recorded_at);
            chain.head = Head { seq: expected, hash };
            self.done += 1;
            if let Some(report) = self.progress {
                if self.done.is_multiple_of(self.progress_every) {
                    report(self.done);
                }
            }
        }
    }
}

type Listing = HashMap<Vec<u8>, Listed, rustc_hash::FxBuildHasher>;

type CommitScan<'t> = (Listing, CommitHead, Vec<Damage>, LogRebuild<'t>);

fn scan_commits<'t>(tree: &'t sled::Tree, keys: &FingerprintKeys) -> Result<CommitScan<'t>, LedgerError> {
    let mut log = LogRebuild::new(tree)?;
    let mut records: Vec<(String, u64, Hash)> = Vec::new();
    let mut found = Vec::new();
    let damage = &mut found;
    let mut listed: Listing = HashMap::default();
    let mut head = CommitHead { number: 0, hash: COMMIT_GENESIS };
    let mut hasher = CommitHasher::new();
    let mut broken = false;
    let mut fail = |broken: &mut bool, first: Option<(&str, u64)>, problem: String| {
        if !*broken {
            let (project, seq) = first.map_or((String::new(), 0), |(p, s)| (p.to_owned(), s));
            damage.push(Damage { project, seq, problem });
        }
        *broken = true;
    };
    let mut unpacker = Unpacker::new();
    for item in tree.scan_prefix([COMMITS]) {
        let (key, value) = item?;
        if key_number(&key) != head.number + 1 {
            fail(&mut broken, None, format!("commit chain broken at commit {}: its entry is missing", head.number + 1));
        }
        let value = match unpacker.unpack(&value) {
            Ok(v) => v,
            Err(e) => {
                fail(&mut broken, None, format!("commit chain broken at commit {}: {e}", head.number + 1));
                continue;
            }
        };
        for bytes in Framed::commits(&value) {
            hasher.start(&head.hash, head.number + 1);
            let bytes = match bytes {
                Ok(b) => b,
                Err(e) => {
                    fail(&mut broken, None, format!("commit chain broken at commit {}: {e}", head.number + 1));
                    break;
                }
            };
            records.clear();
            let walked = Ok(bytes).and_then(|b| {
                walk_commit(b, |number, recorded_at, project, seq, hash| {
                    hasher.add(hash);
                    records.push((String::from_utf8_lossy(project).into_owned(), seq, *hash));
                    let l = match listed.get_mut(project) {
                        Some(l) => l,
                        None => listed.entry(project.to_vec()).or_insert_with(Listed::new),
                    };
                    if seq != l.next_seq && l.problem.is_none() {
                        l.problem =
                            Some((l.next_seq, format!("the commit log lists seq {seq} where {} was due", l.next_seq)));
                    }
                    l.digest.push(keys, hash, number, recorded_at);
                    l.next_seq += 1;
                })
            });
            let view = match walked {
                Ok(v) => v,
                Err(e) => {
                    fail(&mut broken, None, format!("commit chain broken at commit {}: {e}", head.number + 1));
                    break;
                }
            };
            let problem = if view.version != FORMAT_VERSION {
                Some(format!("format version {}", view.version))
            } else if view.number != head.number + 1 {
                Some(format!("expected commit {}, found {}", head.number + 1, view.number))
            } else if hasher.finish() != view.hash {
                Some("its hash does not match its records and the commit before".to_owned())
            } else {
                None
            };
            if let Some(p) = problem {
                let mut first: Option<(String, u64)> = None;
                let _ = walk_commit(bytes, |_, _, project, seq, _| {
                    first.get_or_insert_with(|| (String::from_utf8_lossy(project).into_owned(), seq));
                });
                let first = first.as_ref().map(|(p, s)| (p.as_str(), *s));
                fail(&mut broken, first, format!("commit chain broken at commit {}: {p}", head.number + 1));
            }
            head = CommitHead { number: view.number, hash: view.hash };
            if !broken {
                log.commit(view.number, view.hash, &records);
            }
        }
    }
    Ok((listed, head, found, log))
}

/// The transparency log rebuilt from the commit entries as replay reads them, checked on the way
/// against the stored leaves (`l`) and tree hashes (`n`), in order, and against the root of every
/// stored checkpoint (`k`) when the rebuilt tree reaches its size. Memory: the map and the
/// tree's right edge (at most 64 hashes), whatever the log's size.
struct LogRebuild<'t> {
    map: HeadsMap,
    size: u64,
    /// The stored hashes of the complete subtrees along the tree's right edge.
    frontier: std::collections::BTreeMap<u64, fiscus_tlog::Hash>,
    last: Option<LogLeaf>,
    leaves: Items<'t>,
    nodes: Items<'t>,
    checkpoints: sled::Iter,
    next_checkpoint: Option<(u64, sled::IVec)>,
    /// The first problem: the commit it is at and what it is.
    problem: Option<(u64, String)>,
    /// Set when no log is stored at all: what to write.
    migration: Option<LogMigration>,
}

/// The fixed-size items of the runs of one keyspace (keyed by their first number), in order.
struct Items<'t> {
    iter: sled::Iter,
    prefix: u8,
    size: usize,
    value: Option<(u64, sled::IVec, usize)>,
    _tree: std::marker::PhantomData<&'t sled::Tree>,
}

impl Items<'_> {
    fn new(tree: &sled::Tree, prefix: u8, size: usize) -> Items<'_> {
        Items { iter: tree.scan_prefix([prefix]), prefix, size, value: None, _tree: std::marker::PhantomData }
    }

    /// The stored item numbered `number` (the items are asked for in order from the first);
    /// `Ok(None)` past the last one.
    fn next(&mut self, number: u64) -> Result<Option<Vec<u8>>, String> {
        let what = if self.prefix == LEAVES { "log leaf" } else { "log tree hash" };
        if self.value.as_ref().is_none_or(|(_, v, at)| *at >= v.len()) {
            let Some(item) = self.iter.next() else { return Ok(None) };
            let (key, value) = item.map_err(|e| e.to_string())?;
            let first = key_number(&key);
            if key.len() != 9 || first != number {
                return Err(format!("{what} {number} is not stored (the next run begins at {first})"));
            }
            if value.is_empty() || value.len() % self.size != 0 {
                return Err(format!("the run of {what}s from {first} is {} bytes long", value.len()));
            }
            self.value = Some((first, value, 0));
        }
        let Some((_, value, at)) = self.value.as_mut() else { return Ok(None) };
        let item = value.get(*at..*at + self.size).map(<[u8]>::to_vec);
        *at += self.size;
        Ok(item)
    }

    /// True when every stored item was asked for.
    fn exhausted(&mut self) -> bool {
        self.value.as_ref().is_none_or(|(_, v, at)| *at >= v.len()) && self.iter.next().is_none()
    }
}

impl<'t> LogRebuild<'t> {
    fn new(tree: &'t sled::Tree) -> Result<LogRebuild<'t>, LedgerError> {
        let stored = tree.scan_prefix([LEAVES]).next().transpose()?.is_some();
        let mut checkpoints = tree.scan_prefix([CHECKPOINTS]);
        let next_checkpoint = checkpoints.next().transpose()?.map(|(k, v)| (key_number(&k), v));
        Ok(LogRebuild {
            map: HeadsMap::new(),
            size: 0,
            frontier: std::collections::BTreeMap::new(),
            last: None,
            leaves: Items::new(tree, LEAVES, LOG_LEAF_BYTES),
            nodes: Items::new(tree, NODES, fiscus_tlog::HASH_BYTES),
            checkpoints,
            next_checkpoint,
            problem: None,
            migration: (!stored).then(LogMigration::default),
        })
    }

    fn fail(&mut self, commit: u64, problem: String) {
        self.problem.get_or_insert((commit, problem));
    }

    /// Appends the commit `number` (hash `hash`, records in commit order) and checks what is stored
    /// for it.
    fn commit(&mut self, number: u64, hash: Hash, records: &[(String, u64, Hash)]) {
        if self.problem.is_some() {
            return;
        }
        for (chain, seq, record) in records {
            match self.map.set(chain, *seq, record) {
                Ok(Some(at)) => {
                    if let Some(m) = &mut self.migration {
                        m.indexes.push((chain.clone(), at));
                    }
                }
                Ok(None) => {}
                Err(e) => return self.fail(number, e.to_string()),
            }
        }
        let leaf = self.map.leaf(number, hash);
        let bytes = leaf.to_bytes();
        let run = match fiscus_tlog::tree::hashes_to_append(self.size, &[leaf.leaf_hash()], &self.frontier) {
            Ok(run) => run,
            Err(e) => return self.fail(number, e.to_string()),
        };
        let base = fiscus_tlog::tree::stored_hash_count(self.size);
        match &mut self.migration {
            Some(m) => {
                m.leaves.extend_from_slice(&bytes);
                m.nodes.extend(run.iter().flat_map(|h| h.0));
            }
            None => {
                match self.leaves.next(number) {
                    Ok(Some(stored)) if stored == bytes => {}
                    Ok(Some(_)) => {
                        return self
                            .fail(number, "the stored log leaf differs from the one its commit entry makes".into())
                    }
                    Ok(None) => return self.fail(number, "the log has no leaf for this commit".into()),
                    Err(e) => return self.fail(number, e),
                }
                for (i, hash) in run.iter().enumerate() {
                    match self.nodes.next(base + i as u64) {
                        Ok(Some(stored)) if stored == hash.0 => {}
                        Ok(_) => {
                            return self.fail(
                                number,
                                format!("the log tree's stored hash {} is wrong or missing", base + i as u64),
                            )
                        }
                        Err(e) => return self.fail(number, e),
                    }
                }
            }
        }
        self.size += 1;
        for (i, hash) in run.into_iter().enumerate() {
            self.frontier.insert(base + i as u64, hash);
        }
        // keep only the right edge: the complete subtrees that tile the tree's leaves
        let keep: Vec<u64> = (0..64u32)
            .filter(|level| self.size >> level & 1 == 1)
            .map(|level| fiscus_tlog::tree::stored_hash_index(level, (self.size >> level) - 1))
            .collect();
        self.frontier.retain(|index, _| keep.contains(index));
        self.last = Some(leaf);
        self.check_checkpoints();
    }

    /// Checks the stored checkpoints up to the rebuilt size: each of this size must have its root.
    fn check_checkpoints(&mut self) {
        while let Some((size, text)) = self.next_checkpoint.take() {
            if size > self.size {
                self.next_checkpoint = Some((size, text));
                return;
            }
            if size == self.size {
                let root = fiscus_tlog::tree::tree_root(self.size, &self.frontier);
                let body = std::str::from_utf8(&text)
                    .ok()
                    .and_then(|t| fiscus_tlog::Note::parse(t).ok())
                    .and_then(|n| fiscus_tlog::Checkpoint::parse_body(&n.text).ok());
                match (body, root) {
                    (Some(c), Ok(root)) if c.size == size && c.root == root => {}
                    (Some(_), Ok(_)) => {
                        return self.fail(size, format!("the checkpoint of size {size} has another root than the log"))
                    }
                    _ => return self.fail(size, format!("the checkpoint of size {size} is not a checkpoint")),
                }
            } else if size > 0 {
                // a size whose commit did not verify was left behind by the commit chain's damage
                return self.fail(size, format!("a checkpoint of size {size} for no commit of the log"));
            }
            self.next_checkpoint = self.checkpoints.next().transpose().ok().flatten().map(|(k, v)| (key_number(&k), v));
        }
    }

    /// The rebuilt log, after checking that nothing is stored past it; damage goes to `damage`.
    fn finish(
        mut self,
        tree: &sled::Tree,
        damage: &mut Vec<Damage>,
    ) -> Result<(LogState, Option<LogMigration>), LedgerError> {
        if self.size == 0 {
            self.check_checkpoints();
        }
        if self.problem.is_none() && self.migration.is_none() {
            if !self.leaves.exhausted() || !self.nodes.exhausted() {
                self.fail(self.size + 1, "the log holds leaves or hashes past the last commit".into());
            }
            if let Some((size, _)) = &self.next_checkpoint {
                let size = *size;
                self.fail(size, format!("a checkpoint of size {size}, past the log's {} commits", self.size));
            }
        }
        if self.problem.is_none() && self.migration.is_none() {
            let mut stored = 0u64;
            for item in tree.scan_prefix([LOG_INDEX]) {
                let (key, value) = item?;
                stored += 1;
                let chain = String::from_utf8_lossy(&key[1..]).into_owned();
                let at = <[u8; 8]>::try_from(value.as_ref()).ok().map(u64::from_be_bytes);
                if at.is_none() || at != self.map.index_of(&chain) {
                    self.fail(
                        self.size,
                        format!("the stored map index of chain {chain:?} is not the one its first commit gives"),
                    );
                    break;
                }
            }
            if self.problem.is_none() && stored != self.map.len() {
                self.fail(self.size, format!("{} chains in the map, {stored} stored map indexes", self.map.len()));
            }
        }
        if let Some((commit, problem)) = self.problem.take() {
            damage.push(Damage { project: LOG_NAME.to_owned(), seq: commit, problem });
        }
        let root = fiscus_tlog::tree::tree_root(self.size, &self.frontier).map_err(|e| LedgerError::Corrupt {
            project: LOG_NAME.to_owned(),
            seq: self.size,
            problem: e.to_string(),
        })?;
        let migration = self.migration.filter(|m| !m.leaves.is_empty());
        let log =
            LogState { map: self.map, size: self.size, root, last: self.last, frontier: self.frontier, recent: None };
        Ok((log, migration))
    }
}

struct Chain {
    id: String,
    project: Option<ProjectId>,
    head: Head,
    digest: Fingerprint,
    problem: Option<(u64, String)>,
}

impl Chain {
    fn start(project: &str) -> Chain {
        let parsed = ProjectId::parse("project", project).ok();
        let hash = parsed.as_ref().map_or([0; 32], genesis_hash);
        let mut chain = Chain {
            id: project.to_owned(),
            project: parsed,
            head: Head { seq: 0, hash },
            digest: Fingerprint::default(),
            problem: None,
        };
        if chain.project.is_none() {
            chain.fail(1, "malformed project id in a record key".to_owned());
        }
        chain
    }

    fn fail(&mut self, seq: u64, problem: String) {
        if self.problem.is_none() {
            self.problem = Some((seq, problem));
        }
    }

    /// Compares the chain with the commit log and its head entry; pins down the first bad seq if any.
    fn finish(self, tree: &sled::Tree, listed: &mut Listing, damage: &mut Vec<Damage>) -> Result<(), LedgerError> {
        let log = listed.remove(self.id.as_bytes());
        let mut problem = self.problem.clone();
        if problem.is_none() {
            problem = match &log {
                None => Some((1, "the project's records are not in the commit log".to_owned())),
                Some(l) if l.problem.is_some() => l.problem.clone(),
                Some(l) if l.next_seq - 1 != self.head.seq => Some(if l.next_seq - 1 > self.head.seq {
                    (self.head.seq + 1, format!("record missing: the commit log lists {} records", l.next_seq - 1))
                } else {
                    (l.next_seq, "record not in the commit log".to_owned())
                }),
                Some(l) if l.digest != self.digest => {
                    Some((1, "the records do not match the commit log's listing".to_owned()))
                }
                Some(_) => None,
            };
        }
        if problem.is_none() {
            let mut head_key = vec![HEADS];
            head_key.extend_from_slice(self.id.as_bytes());
            let stored = tree.get(&head_key)?;
            let expected = crate::store::head_value(&self.head);
            if stored.as_deref() != Some(expected.as_slice()) {
                problem = Some((self.head.seq, "the head entry does not match the chain".to_owned()));
            }
        }
        if let Some((seq, text)) = problem {
            let (seq, text) = locate(tree, &self.id)?.unwrap_or((seq, text));
            damage.push(Damage { project: self.id.clone(), seq, problem: text });
        }
        Ok(())
    }
}

/// Walks one project's records against the commit log's listing, with the chain walker's checks,
/// to name the first bad seq.
fn locate(tree: &sled::Tree, project: &str) -> Result<Option<(u64, String)>, LedgerError> {
    let Ok(id) = ProjectId::parse("project", project) else {
        return Ok(Some((1, "malformed project id in a record key".to_owned())));
    };
    // (seq, hash, commit, recorded_at) as the commit log lists them
    let mut listed: Vec<(u64, Hash, u64, i64)> = Vec::new();
    let mut unpacker = Unpacker::new();
    for item in tree.scan_prefix([COMMITS]) {
        let (_, value) = item?;
        let Ok(value) = unpacker.unpack(&value) else { continue };
        for view in Framed::commits(&value).filter_map(|b| b.and_then(CommitView::decode).ok()) {
            listed.extend(
                view.records
                    .iter()
                    .filter(|r| r.project == project)
                    .map(|r| (r.seq, r.hash, view.number, view.recorded_at)),
            );
        }
    }
    let history = StoredHistory::new(tree);
    let mut walker = ChainWalker::new(id);
    let sealed = tree.range(record_key(project, 0)..=record_key(project, u64::MAX));
    for item in sealed.chain(tree.range(tail_key(project, 0)..=tail_key(project, u64::MAX))) {
        let (key, value) = item?;
        let expected = walker.state().head.seq + 1;
        let Some((_, key_seq)) = parse_record_key(&key) else { continue };
        if key_seq != expected {
            return Ok(Some((expected, format!("record missing (next stored key is seq {key_seq})"))));
        }
        let value = match unpacker.unpack(&value) {
            Ok(v) => v,
            Err(e) => return Ok(Some((expected, e.to_string()))),
        };
        for bytes in Framed::new(&value) {
            let expected = walker.state().head.seq + 1;
            let Ok(bytes) = bytes else {
                return Ok(Some((expected, "record framing is damaged".to_owned())));
            };
            let hash = match walker.push(bytes, &history) {
                Ok(h) => h,
                Err(LedgerError::Corrupt { problem, .. }) => return Ok(Some((expected, problem))),
                Err(e) => return Err(e),
            };
            let Some((s, h, number, at)) = usize::try_from(expected - 1).ok().and_then(|i| listed.get(i)) else {
                return Ok(Some((expected, "record not in the commit log".to_owned())));
            };
            if *s != expected || *h != hash {
                return Ok(Some((expected, "stored bytes do not match the hash the commit log holds".to_owned())));
            }
            if let Ok(view) = RecordView::decode(bytes) {
                if view.commit != *number {
                    return Ok(Some((
                        expected,
                        format!("record says commit {}; commit {number} lists it", view.commit),
                    )));
                }
                if view.recorded_at != *at {
                    return Ok(Some((
                        expected,
                        format!("record says recorded_at {}; commit {number} says {at}", view.recorded_at),
                    )));
                }
            }
        }
    }
    let expected = walker.state().head.seq + 1;
    if (expected as usize) <= listed.len() {
        return Ok(Some((expected, format!("record missing: the commit log lists {} records", listed.len()))));
    }
    Ok(None)
}
