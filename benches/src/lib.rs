//! Shared pieces of the Fiscus benchmarks: building a generated store, the measured passes over it,
//! and the crash loop ([`crash`]), which the integration tests run too.

pub mod crash;

use std::path::Path;
use std::time::Instant;

use fiscus_ledger::chain::RecordHasher;
use fiscus_ledger::commit::CommitRequest;
use fiscus_ledger::record::Framed;
use fiscus_ledger::replay::ReplayOptions;
use fiscus_ledger::store::{open_tree, Store};
use fiscus_ledger::LedgerError;

/// Commit requests per group (one batch, one sync) when building a store: the most a group takes, as
/// a bulk import would use. Smaller groups (a daemon under light load) make sled rewrite more pages.
pub const BUILD_GROUP_REQUESTS: usize = fiscus_ledger::store::GROUP_REQUESTS_MAX;

/// Builds a store in `dir` from a stream of commit requests, committing them in groups of
/// `group_requests`. `progress` is told the events stored so far after each group. Returns the events
/// stored.
pub fn build_store(
    dir: &Path,
    requests: impl IntoIterator<Item = CommitRequest>,
    group_requests: usize,
    mut progress: impl FnMut(u64),
) -> Result<u64, LedgerError> {
    let (mut store, _) = Store::open(dir)?;
    let group_requests = group_requests.clamp(1, fiscus_ledger::store::GROUP_REQUESTS_MAX);
    let mut group = Vec::with_capacity(group_requests);
    let mut stored = 0u64;
    let flush = |store: &mut Store, group: &mut Vec<CommitRequest>| -> Result<u64, LedgerError> {
        let answers = store.commit_group(group)?;
        let mut n = 0;
        for (req, answer) in group.iter().zip(answers) {
            match answer {
                Ok(_) => n += req.events.len() as u64,
                Err(e) => {
                    return Err(LedgerError::invalid(
                        "workload",
                        format!("the generator made a commit the ledger refused: {e}"),
                    ))
                }
            }
        }
        group.clear();
        Ok(n)
    };
    for req in requests {
        group.push(req);
        if group.len() == group_requests {
            stored += flush(&mut store, &mut group)?;
            progress(stored);
        }
    }
    if !group.is_empty() {
        stored += flush(&mut store, &mut group)?;
        progress(stored);
    }
    store.close()?;
    Ok(stored)
}

/// What one measured pass over a store did.
#[derive(Clone, Copy, Debug)]
pub struct Pass {
    /// Records seen.
    pub events: u64,
    /// Wall time of the whole pass, sled's open included, in seconds.
    pub seconds: f64,
}

/// Full verification: opens the store as the daemon does (both chains verified, every record
/// decoded and folded into the projection), replaying on `threads` threads. Fails if the store is
/// damaged.
pub fn full_pass(dir: &Path, threads: usize) -> Result<Pass, LedgerError> {
    let started = Instant::now();
    let (store, report) = Store::open_with(dir, ReplayOptions::threads(threads))?;
    let seconds = started.elapsed().as_secs_f64();
    if let Some(d) = report.damage.first() {
        return Err(LedgerError::Corrupt { project: d.project.clone(), seq: d.seq, problem: d.problem.clone() });
    }
    let events = store.projection().events;
    drop(store);
    Ok(Pass { events, seconds })
}

/// The baseline: iterate the stored record values (decompressing sealed chunks) and blake3 every
/// record's bytes; no decoding.
pub fn hash_pass(dir: &Path) -> Result<Pass, LedgerError> {
    let started = Instant::now();
    let (_db, tree) = open_tree(dir)?;
    let mut hasher = RecordHasher::new();
    let mut events = 0u64;
    let mut fold = 0u8;
    let mut unpacker = fiscus_ledger::pack::Unpacker::new();
    for item in tree.scan_prefix(b"r").chain(tree.scan_prefix(b"t")) {
        let (_, value) = item?;
        let value = unpacker.unpack(&value)?;
        for bytes in Framed::new(&value) {
            fold ^= hasher.hash(bytes?)[0];
            events += 1;
        }
    }
    std::hint::black_box(fold);
    Ok(Pass { events, seconds: started.elapsed().as_secs_f64() })
}

/// Peak resident set size of this process, in bytes (Linux `VmHWM`), if known.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// The median of a non-empty list of timings.
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}
