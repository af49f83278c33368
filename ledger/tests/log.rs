//! The ledger's transparency log (`fiscus_ledger::log`): a chain proves its latest head under a
//! signed checkpoint, and the forgeries a server could try are refused.

use fiscus_ledger::chain::{commit_hash, COMMIT_GENESIS};
use fiscus_ledger::log::{map_leaf_data, HeadProof, LedgerLog, LogError, LogLeaf};
use fiscus_ledger::record::{CommitEntry, Listed, FORMAT_VERSION};
use fiscus_ledger::Hash;
use fiscus_tlog::{open_checkpoint, verify_consistency, Checkpoint, NoteSigner};

const ORIGIN: &str = "sponsor.example/ledger";

fn record_hash(chain: &str, seq: u64) -> Hash {
    *blake3::hash(format!("{chain}/{seq}").as_bytes()).as_bytes()
}

/// Commit entries: commit n writes one record to chain `n % 3` (alpha, beta, gamma) and, every
/// fourth commit, one to the sponsor chain too.
fn entries(count: u64) -> Vec<CommitEntry> {
    let chains = ["alpha", "beta", "gamma"];
    let mut seqs = std::collections::HashMap::new();
    let mut prev = COMMIT_GENESIS;
    let mut out = Vec::new();
    for number in 1..=count {
        let mut records = Vec::new();
        let mut touched = vec![chains[(number % 3) as usize]];
        if number % 4 == 0 {
            touched.push("sponsor");
        }
        for chain in touched {
            let seq = seqs.entry(chain).and_modify(|s| *s += 1).or_insert(1u64);
            records.push(Listed { project: chain.to_owned(), seq: *seq, hash: record_hash(chain, *seq) });
        }
        let hash = commit_hash(&prev, number, records.iter().map(|r| &r.hash));
        prev = hash;
        out.push(CommitEntry { version: FORMAT_VERSION, number, recorded_at: number as i64, records, hash });
    }
    out
}

fn log_of(entries: &[CommitEntry]) -> LedgerLog {
    let mut log = LedgerLog::new();
    for entry in entries {
        log.append(entry).unwrap();
    }
    log
}

fn signed(log: &LedgerLog, key: &NoteSigner) -> Checkpoint {
    let text = Checkpoint::new(ORIGIN, log.size(), log.root()).unwrap().sign(key).unwrap().to_text();
    open_checkpoint(&text, ORIGIN, &[key.verifier()]).unwrap().checkpoint
}

#[test]
fn a_chain_proves_its_latest_head() {
    let key = NoteSigner::from_seed(ORIGIN, [1; 32]).unwrap();
    let all = entries(40);
    let log = log_of(&all);
    let checkpoint = signed(&log, &key);
    for (chain, seq) in [("alpha", 13), ("beta", 14), ("gamma", 13), ("sponsor", 10)] {
        let proof = log.head_proof(chain).unwrap();
        assert_eq!(proof.verify(chain, &checkpoint).unwrap(), (seq, record_hash(chain, seq)), "{chain}");
    }
    assert!(log.head_proof("delta").is_none());
    // Rebuilt from the same entries, the log is the same: anyone can recompute it.
    assert_eq!(log_of(&all).root(), log.root());
    // Out of order entries are refused.
    let mut fresh = LedgerLog::new();
    assert_eq!(fresh.append(&all[1]), Err(LogError::OutOfOrder { expected: 1, found: 2 }));
}

#[test]
fn forged_head_proofs_are_refused() {
    let key = NoteSigner::from_seed(ORIGIN, [1; 32]).unwrap();
    let all = entries(40);
    let log = log_of(&all);
    let checkpoint = signed(&log, &key);
    let alpha = log.head_proof("alpha").unwrap();

    // Another chain's proof, offered for alpha.
    let beta = log.head_proof("beta").unwrap();
    assert!(matches!(beta.verify("alpha", &checkpoint), Err(LogError::WrongChain { .. })));
    // ... or relabelled as alpha's: the map leaf binds the chain id.
    let relabelled = HeadProof { chain: "alpha".to_owned(), ..beta.clone() };
    assert!(matches!(relabelled.verify("alpha", &checkpoint), Err(LogError::Proof(_))));

    // A seq that is not the latest, with the latest leaf.
    let stale = HeadProof { seq: alpha.seq - 1, hash: record_hash("alpha", alpha.seq - 1), ..alpha.clone() };
    assert!(matches!(stale.verify("alpha", &checkpoint), Err(LogError::Proof(_))));

    // An older proof (true when it was made) against the newer checkpoint: not the last leaf.
    let older_log = log_of(&all[..30]);
    let older = older_log.head_proof("alpha").unwrap();
    assert!(matches!(older.verify("alpha", &checkpoint), Err(LogError::NotLatest { .. })));
    // ... with its leaf renumbered as the latest: its inclusion fails.
    let renumbered = HeadProof { leaf: LogLeaf { commit: 40, ..older.leaf }, ..older.clone() };
    assert!(renumbered.verify("alpha", &checkpoint).is_err());
    // ... and it still verifies against its own checkpoint, which the newer one extends.
    let older_checkpoint = signed(&older_log, &key);
    older.verify("alpha", &older_checkpoint).unwrap();
    let consistency = log.consistency_proof(30, 40).unwrap();
    verify_consistency(30, 40, &older_checkpoint.root, &checkpoint.root, &consistency).unwrap();

    // A history rewritten (one record of commit 7 changed, every later commit hash recomputed):
    // the chains would pass alone, but the log root differs, so the signed checkpoint does not
    // cover it and no consistency proof leads from the honest checkpoint to it.
    let mut rewritten = entries(40);
    rewritten[6].records[0].hash = record_hash("forged", 1);
    let mut prev = rewritten[5].hash;
    for entry in &mut rewritten[6..] {
        entry.hash = commit_hash(&prev, entry.number, entry.records.iter().map(|r| &r.hash));
        prev = entry.hash;
    }
    let forged_log = log_of(&rewritten);
    assert_ne!(forged_log.root(), checkpoint.root);
    let forged_proof = forged_log.head_proof("alpha").unwrap();
    assert!(forged_proof.verify("alpha", &checkpoint).is_err());
    let forged_checkpoint = Checkpoint::new(ORIGIN, 40, forged_log.root()).unwrap();
    let proof = log.consistency_proof(30, 40).unwrap();
    assert!(verify_consistency(30, 40, &older_checkpoint.root, &forged_checkpoint.root, &proof).is_err());

    // A map node posing as a map leaf: its hash as the head, one level of proof fewer.
    let node_proof = HeadProof { map_proof: alpha.map_proof[1..].to_vec(), map_index: alpha.map_index / 2, ..alpha };
    assert!(node_proof.verify("alpha", &checkpoint).is_err());
}

#[test]
fn leaves_parse_back_and_refuse_garbage() {
    let log = log_of(&entries(5));
    let leaf = log.last_leaf().unwrap();
    assert_eq!(LogLeaf::parse(&leaf.to_bytes()).unwrap(), leaf);
    assert!(LogLeaf::parse(&leaf.to_bytes()[1..]).is_err());
    let mut other_format = leaf.to_bytes();
    other_format[0] = 2;
    assert!(LogLeaf::parse(&other_format).is_err());
    assert!(map_leaf_data(&"x".repeat(256), 1, &[0; 32]).is_err());
}

// ---- The vectors of docs/FORMAT.md section 8, built from the commits of section 7 ----

const FORMAT_MD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/FORMAT.md");
const LOG_FENCE: &str = "```fiscus-log-vectors";
const CHECKPOINT_FENCE: &str = "```fiscus-log-checkpoint";
/// The seed of the vectors' log key (32 bytes of 0x46, "F"), origin [`ORIGIN`].
const VECTOR_SEED: [u8; 32] = [0x46; 32];

/// The bodies of the blocks opened by `fence`.
fn block_bodies(page: &str, fence: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut open: Option<String> = None;
    for line in page.lines() {
        match open.as_mut() {
            None if line.trim_end() == fence => open = Some(String::new()),
            Some(body) if line.trim_end() == "```" => {
                out.push(std::mem::take(body));
                open = None;
            }
            Some(body) => {
                body.push_str(line);
                body.push('\n');
            }
            None => {}
        }
    }
    out
}

fn labels(body: &str) -> Vec<(String, String)> {
    body.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once(": ").map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect()
}

fn hex32(text: &str) -> Hash {
    hex::decode(text).unwrap().try_into().unwrap()
}

/// The commit entries of section 7, from its `commit-records`, `record-hash` and `commit` lines.
fn section_7_entries(page: &str) -> Vec<CommitEntry> {
    let all: std::collections::HashMap<String, String> =
        block_bodies(page, "```fiscus-vectors").iter().flat_map(|b| labels(b)).collect();
    let mut out = Vec::new();
    for number in 1u64.. {
        let Some(listed) = all.get(&format!("commit-records {number}")) else { break };
        let records = listed
            .split_whitespace()
            .map(|item| {
                let (project, seq) = item.split_once('/').unwrap();
                let hash = hex32(&all[&format!("record-hash {project} {seq}")]);
                Listed { project: project.to_owned(), seq: seq.parse().unwrap(), hash }
            })
            .collect();
        let hash = hex32(&all[&format!("commit {number}")]);
        out.push(CommitEntry { version: FORMAT_VERSION, number, recorded_at: 0, records, hash });
    }
    out
}

/// The section 8 vectors the code produces: (log vector lines, signed checkpoint text).
fn produced_log_vectors(page: &str) -> (String, String) {
    let entries = section_7_entries(page);
    assert_eq!(entries.len(), 7, "section 7 has seven commits");
    let mut log = LedgerLog::new();
    let mut lines = String::from("# One line per commit: its log leaf (81 bytes) and the log root after it\n");
    for entry in &entries {
        let leaf = log.append(entry).unwrap();
        lines.push_str(&format!("log-leaf {}: {}\n", entry.number, hex::encode(leaf.to_bytes())));
        lines.push_str(&format!("log-root {}: {}\n", entry.number, hex::encode(log.root().0)));
    }
    lines.push_str("# Head proofs at size 7: map index, map proof, log proof (hashes hex, leaf's sibling first)\n");
    for chain in ["rustconf-2026", "pyweek-2026", "sponsor"] {
        let proof = log.head_proof(chain).unwrap();
        let hashes = |p: &[fiscus_tlog::Hash]| p.iter().map(|h| hex::encode(h.0)).collect::<Vec<_>>().join(" ");
        lines.push_str(&format!(
            "map-leaf {chain}: {}\n",
            hex::encode(map_leaf_data(chain, proof.seq, &proof.hash).unwrap())
        ));
        lines.push_str(&format!("map-index {chain}: {}\n", proof.map_index));
        lines.push_str(&format!("map-proof {chain}: {}\n", hashes(&proof.map_proof)));
        lines.push_str(&format!("log-proof {chain}: {}\n", hashes(&proof.log_proof)));
    }
    let key = NoteSigner::from_seed(ORIGIN, VECTOR_SEED).unwrap();
    lines.push_str(&format!("verifier-key: {}\n", key.verifier_key()));
    let checkpoint = Checkpoint::new(ORIGIN, log.size(), log.root()).unwrap().sign(&key).unwrap().to_text();
    (lines, checkpoint)
}

fn replace_block(page: &str, fence: &str, body: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for line in page.lines() {
        if !inside && line.trim_end() == fence {
            inside = true;
            out.push_str(line);
            out.push('\n');
            out.push_str(body);
        } else if inside && line.trim_end() == "```" {
            inside = false;
            out.push_str(line);
            out.push('\n');
        } else if !inside {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// docs/FORMAT.md section 8 holds exactly what the code produces. Regenerate after a deliberate
/// format change with `FISCUS_BLESS_VECTORS=1 cargo test -p fiscus-ledger --test log`.
#[test]
fn format_md_log_vectors() {
    let page = std::fs::read_to_string(FORMAT_MD).unwrap();
    let (lines, checkpoint) = produced_log_vectors(&page);
    if std::env::var_os("FISCUS_BLESS_VECTORS").is_some_and(|v| !v.is_empty() && v != "0") {
        let page = replace_block(&page, LOG_FENCE, &lines);
        let page = replace_block(&page, CHECKPOINT_FENCE, &checkpoint);
        std::fs::write(FORMAT_MD, page).unwrap();
        return;
    }
    assert_eq!(block_bodies(&page, LOG_FENCE), vec![lines], "docs/FORMAT.md section 8 log vectors");
    assert_eq!(block_bodies(&page, CHECKPOINT_FENCE), vec![checkpoint.clone()], "docs/FORMAT.md checkpoint");
    // The page's checkpoint opens with the page's verifier key, and each page head proof verifies.
    let key_line = labels(&block_bodies(&page, LOG_FENCE)[0])
        .into_iter()
        .find(|(k, _)| k == "verifier-key")
        .map(|(_, v)| v)
        .unwrap();
    let verifier = fiscus_tlog::NoteVerifier::from_verifier_key(&key_line).unwrap();
    let opened = open_checkpoint(&checkpoint, ORIGIN, &[verifier]).unwrap();
    assert_eq!(opened.checkpoint.size, 7);
}
