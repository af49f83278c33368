//! Replay: reading every stored record back, verifying both chains, and rebuilding the projection.
//!
//! Two sequential scans: the commit log (re-hashing the commit chain, and keeping per project a
//! digest of the `(seq, hash)` pairs it lists) and the records (re-hashing each record's stored
//! bytes, checking seq and `prev`, decoding and folding it in, and keeping the same digest). A
//! project verifies when both digests, its record count and its head entry agree. Only when one
//! does not is the project read again, record by record, to name the first bad seq. Memory stays
//! the projection's size (plus one digest per project), whatever the store's.

use std::collections::HashMap;

use serde::Deserialize;

use crate::chain::{commit_hash, genesis_hash, Hash, RecordHasher, COMMIT_GENESIS};
use crate::error::LedgerError;
use crate::ids::ProjectId;
use crate::projection::{CommitHead, Head, Projection};
use crate::record::{Framed, RecordView, FORMAT_VERSION};
use crate::store::{parse_record_key, record_key, COMMITS, HEADS, RECORDS};

/// A chain that failed verification, with its first bad record.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Damage {
    /// The chain.
    pub project: String,
    /// The first bad seq (for a broken commit chain: the first record of the first bad commit).
    pub seq: u64,
    /// What is wrong.
    pub problem: String,
}

/// What a replay produced.
pub struct Replayed {
    /// The projection of every record that verified.
    pub projection: Projection,
    /// Damaged chains; empty when everything verified.
    pub damage: Vec<Damage>,
    /// Commits in the commit log.
    pub commits: u64,
}

#[derive(Deserialize)]
struct CommitView<'a> {
    version: u8,
    number: u64,
    #[allow(dead_code)]
    recorded_at: i64,
    #[serde(borrow)]
    records: Vec<(&'a str, u64, Hash)>,
    hash: Hash,
}

struct Listed {
    next_seq: u64,
    digest: blake3::Hasher,
    problem: Option<(u64, String)>,
}

impl Listed {
    fn new() -> Listed {
        Listed { next_seq: 1, digest: blake3::Hasher::new(), problem: None }
    }
}

fn digest_pair(d: &mut blake3::Hasher, seq: u64, hash: &Hash) {
    d.update(&seq.to_be_bytes());
    d.update(hash);
}

/// Replays the store's tree. `progress` is told the number of records done, now and then.
pub fn replay(tree: &sled::Tree, progress: Option<&dyn Fn(u64)>) -> Result<Replayed, LedgerError> {
    let mut damage: Vec<Damage> = Vec::new();
    let (listed, head, commits) = scan_commits(tree, &mut damage)?;
    let mut listed = listed;
    let mut projection = Projection::new();
    projection.commit_head = head;

    let mut hasher = RecordHasher::new();
    let mut current: Option<Chain> = None;
    let mut done: u64 = 0;
    for item in tree.scan_prefix([RECORDS]) {
        let (key, value) = item?;
        let Some((project, key_seq)) = parse_record_key(&key) else {
            damage.push(Damage { project: String::from_utf8_lossy(&key).into_owned(), seq: 0, problem: "malformed record key".to_owned() });
            continue;
        };
        if current.as_ref().is_none_or(|c| c.id.as_str() != project) {
            if let Some(c) = current.take() {
                c.finish(tree, &mut listed, &mut projection, &mut damage)?;
            }
            current = Some(Chain::start(project));
        }
        let chain = current.as_mut().expect("set above");
        if chain.problem.is_some() {
            continue;
        }
        if key_seq != chain.head.seq + 1 {
            chain.fail(chain.head.seq + 1, format!("record missing (next stored key is seq {key_seq})"));
            continue;
        }
        let state = match &chain.project {
            Some(id) => projection.chain_mut(id),
            None => continue,
        };
        for bytes in Framed::new(&value) {
            let expected = chain.head.seq + 1;
            let bytes = match bytes {
                Ok(b) => b,
                Err(e) => {
                    chain.fail(expected, e.to_string());
                    break;
                }
            };
            let hash = hasher.hash(bytes);
            let view = match RecordView::decode(bytes) {
                Ok(v) => v,
                Err(e) => {
                    chain.fail(expected, e.to_string());
                    break;
                }
            };
            let problem = if view.version != FORMAT_VERSION {
                Some(format!("format version {}", view.version))
            } else if view.project != project {
                Some(format!("record says project {:?}", view.project))
            } else if view.seq != expected {
                Some(format!("record says seq {}", view.seq))
            } else if view.prev != chain.head.hash {
                Some("prev does not match the hash of the record before".to_owned())
            } else if !view.kind.is_completed() {
                Some("event fields the ledger completes are empty".to_owned())
            } else {
                None
            };
            if let Some(p) = problem {
                chain.fail(expected, p);
                break;
            }
            state.apply(expected, hash, view.effective_date, view.actor, &view.kind);
            digest_pair(&mut chain.digest, expected, &hash);
            chain.head = Head { seq: expected, hash };
            done += 1;
            if let Some(report) = progress {
                if done % 262_144 == 0 {
                    report(done);
                }
            }
        }
    }
    if let Some(c) = current.take() {
        c.finish(tree, &mut listed, &mut projection, &mut damage)?;
    }
    for (project, l) in listed {
        if l.next_seq > 1 {
            damage.push(Damage { project, seq: 1, problem: "the commit log lists records that are not in the store".to_owned() });
        }
    }
    projection.events = projection.chains().map(|c| c.head.seq).sum();
    damage.sort_by(|a, b| (&a.project, a.seq).cmp(&(&b.project, b.seq)));
    Ok(Replayed { projection, damage, commits })
}

type Listing = HashMap<String, Listed>;

fn scan_commits(tree: &sled::Tree, damage: &mut Vec<Damage>) -> Result<(Listing, CommitHead, u64), LedgerError> {
    let mut listed: Listing = HashMap::new();
    let mut head = CommitHead { number: 0, hash: COMMIT_GENESIS };
    let mut broken = false;
    for item in tree.scan_prefix([COMMITS]) {
        let (key, value) = item?;
        let number = key.get(1..).and_then(|b| <[u8; 8]>::try_from(b).ok()).map(u64::from_be_bytes);
        let fail = |damage: &mut Vec<Damage>, first: Option<(&str, u64)>, problem: String| {
            let (project, seq) = first.map_or((String::new(), 0), |(p, s)| (p.to_owned(), s));
            damage.push(Damage { project, seq, problem });
        };
        let view: CommitView<'_> = match bincode::serde::borrow_decode_from_slice(&value, crate::record::codec_config()) {
            Ok((v, used)) if used == value.len() => v,
            _ => {
                let n = number.unwrap_or(0);
                if !broken {
                    fail(damage, None, format!("commit chain broken at commit {n}: the entry does not decode"));
                }
                broken = true;
                continue;
            }
        };
        let first = view.records.first().map(|(p, s, _)| (*p, *s));
        if !broken {
            let problem = if view.version != FORMAT_VERSION {
                Some(format!("format version {}", view.version))
            } else if number != Some(view.number) || view.number != head.number + 1 {
                Some(format!("expected commit {}, found {}", head.number + 1, view.number))
            } else if commit_hash(&head.hash, view.number, view.records.iter().map(|r| &r.2)) != view.hash {
                Some("its hash does not match its records and the commit before".to_owned())
            } else {
                None
            };
            if let Some(p) = problem {
                fail(damage, first, format!("commit chain broken at commit {}: {p}", view.number));
                broken = true;
            }
        }
        for (project, seq, hash) in &view.records {
            let l = match listed.get_mut(*project) {
                Some(l) => l,
                None => listed.entry((*project).to_owned()).or_insert_with(Listed::new),
            };
            if *seq != l.next_seq && l.problem.is_none() {
                l.problem = Some((l.next_seq, format!("the commit log lists seq {seq} where {} was due", l.next_seq)));
            }
            digest_pair(&mut l.digest, *seq, hash);
            l.next_seq += 1;
        }
        head = CommitHead { number: view.number, hash: view.hash };
    }
    Ok((listed, head, head.number))
}

struct Chain {
    id: String,
    project: Option<ProjectId>,
    head: Head,
    digest: blake3::Hasher,
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
            digest: blake3::Hasher::new(),
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
    fn finish(self, tree: &sled::Tree, listed: &mut Listing, projection: &mut Projection, damage: &mut Vec<Damage>) -> Result<(), LedgerError> {
        let log = listed.remove(&self.id);
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
                Some(l) if l.digest.finalize() != self.digest.finalize() => Some((1, "the records do not match the commit log's listing".to_owned())),
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
            let _ = projection;
        }
        Ok(())
    }
}

/// Walks one project's records against the commit log's listing, to name the first bad seq.
fn locate(tree: &sled::Tree, project: &str) -> Result<Option<(u64, String)>, LedgerError> {
    let mut listed: Vec<(u64, Hash)> = Vec::new();
    for item in tree.scan_prefix([COMMITS]) {
        let (_, value) = item?;
        if let Ok((view, _)) = bincode::serde::borrow_decode_from_slice::<CommitView<'_>, _>(&value, crate::record::codec_config()) {
            listed.extend(view.records.iter().filter(|r| r.0 == project).map(|r| (r.1, r.2)));
        }
    }
    let mut hasher = RecordHasher::new();
    let mut prev = ProjectId::parse("project", project).map_or([0; 32], |p| genesis_hash(&p));
    let mut expected = 1u64;
    for item in tree.range(record_key(project, 0)..=record_key(project, u64::MAX)) {
        let (key, value) = item?;
        let Some((_, key_seq)) = parse_record_key(&key) else { continue };
        if key_seq != expected {
            return Ok(Some((expected, format!("record missing (next stored key is seq {key_seq})"))));
        }
        for bytes in Framed::new(&value) {
            let Ok(bytes) = bytes else {
                return Ok(Some((expected, "record framing is damaged".to_owned())));
            };
            let hash = hasher.hash(bytes);
            match listed.get(expected as usize - 1) {
                None => return Ok(Some((expected, "record not in the commit log".to_owned()))),
                Some((s, h)) if *s != expected || *h != hash => {
                    return Ok(Some((expected, "stored bytes do not match the hash the commit log holds".to_owned())))
                }
                Some(_) => {}
            }
            let view = match RecordView::decode(bytes) {
                Ok(v) => v,
                Err(e) => return Ok(Some((expected, e.to_string()))),
            };
            if view.seq != expected || view.prev != prev || view.project != project {
                return Ok(Some((expected, "seq, prev or project does not match its place in the chain".to_owned())));
            }
            prev = hash;
            expected += 1;
        }
    }
    if (expected as usize) <= listed.len() {
        return Ok(Some((expected, format!("record missing: the commit log lists {} records", listed.len()))));
    }
    Ok(None)
}
