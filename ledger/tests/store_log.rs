//! The transparency log kept by the store: written in each group's batch, checkpoints signed and
//! stored, every proof served from the stored hashes, rebuilt and checked by replay, and a
//! history rewritten on disk with every hash recomputed caught by the stored checkpoints.

use std::path::Path;

use chrono::NaiveDate;
use fiscus_ledger::commit::CommitRequest;
use fiscus_ledger::event::{Event, EventKind, Fund, ProjectKind, Source};
use fiscus_ledger::log::{LedgerLog, LogLeaf, LOG_NAME};
use fiscus_ledger::money::{Currency, Money};
use fiscus_ledger::store::{open_tree, LogSigner, Store};
use fiscus_ledger::ProjectId;
use fiscus_tlog::{open_checkpoint, verify_consistency, verify_inclusion, NoteSigner};
use rust_decimal::Decimal;

const ORIGIN: &str = "books.example/fiscus";

fn key() -> NoteSigner {
    NoteSigner::from_seed(ORIGIN, [7; 32]).unwrap()
}

fn event(id: &str, project: &str, kind: EventKind) -> Event {
    Event {
        event_id: id.to_owned(),
        project: ProjectId::parse("project", project).unwrap(),
        effective_date: NaiveDate::from_ymd_opt(2026, 1, 10).unwrap(),
        memo: format!("memo of {id}"),
        reference: None,
        kind,
    }
}

fn request(events: Vec<Event>, at: i64) -> CommitRequest {
    CommitRequest {
        allow_same_receipt: false,
        events,
        expected_heads: vec![],
        actor: "accountant:alice".to_owned(),
        // µs after 2027-01-01T00:00:00Z: after the day the events are dated
        recorded_at: 1_798_761_600_000_000 + at,
    }
}

fn opened(project: &str) -> Event {
    event(
        &format!("open-{project}"),
        project,
        EventKind::ProjectOpened {
            name: format!("Project {project}"),
            kind: ProjectKind::Conference,
            fee_bps: 500,
            currency: Currency::from_code("USD").unwrap(),
            advance_limit: Decimal::from(1_000),
        },
    )
}

fn gift(id: &str, project: &str, amount: &str) -> Event {
    event(
        id,
        project,
        EventKind::ContributionReceived {
            amount: Money::parse("amount", amount, "USD").unwrap(),
            from: "Acme".to_owned(),
            source: Source::Donation,
            fund: Fund::Unrestricted,
            fee_bps: None,
        },
    )
}

/// Writes a small history: three projects, then `rounds` groups of one gift per project; the gift
/// `forged` (a round and project index) gets 999.00 instead of 10.00.
fn history(dir: &Path, signer: Option<NoteSigner>, rounds: usize, forged: Option<(usize, usize)>) -> Store {
    let (mut store, _) = Store::open(dir).unwrap();
    if let Some(signer) = signer {
        store.set_log_signer(LogSigner { origin: ORIGIN.to_owned(), signer }).unwrap();
    }
    let projects = ["alpha", "beta", "gamma"];
    let opens: Vec<_> = projects.iter().enumerate().map(|(i, p)| request(vec![opened(p)], i as i64)).collect();
    for answer in store.commit_group(&opens).unwrap() {
        answer.unwrap();
    }
    for round in 0..rounds {
        let group: Vec<_> = projects
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let amount = if forged == Some((round, i)) { "999.00" } else { "10.00" };
                request(vec![gift(&format!("g-{round}-{p}"), p, amount)], 100 + round as i64)
            })
            .collect();
        for answer in store.commit_group(&group).unwrap() {
            answer.unwrap();
        }
    }
    store
}

#[test]
fn the_store_keeps_the_log_signs_checkpoints_and_serves_every_proof() {
    let dir = tempfile::tempdir().unwrap();
    let store = history(dir.path(), Some(key()), 5, None);
    let reader = store.reader();
    let log = store.log().clone();
    assert_eq!(log.size, 18);
    // The log is the one anyone rebuilds from the commit entries.
    let mut rebuilt = LedgerLog::new();
    for entry in reader.commits(0, 18, 100).unwrap() {
        rebuilt.append(&entry).unwrap();
    }
    assert_eq!(rebuilt.root(), log.root);
    assert_eq!(reader.log_root(18).unwrap(), log.root);
    // One checkpoint per group (and the empty log's, signed when the key was set), each verifying.
    let verifier = key().verifier();
    let mut sizes = Vec::new();
    for size in 0..=18 {
        if let Some(text) = reader.checkpoint(size).unwrap() {
            let opened = open_checkpoint(&text, ORIGIN, std::slice::from_ref(&verifier)).unwrap();
            assert_eq!(opened.checkpoint.size, size);
            assert_eq!(opened.checkpoint.root, rebuilt.root_at(size).unwrap());
            sizes.push(size);
        }
    }
    assert_eq!(sizes, vec![0, 3, 6, 9, 12, 15, 18]);
    // Every commit's leaf is included in every later checkpoint; every pair is consistent.
    for commit in 1..=18u64 {
        let leaf = reader.log_leaf(commit).unwrap();
        assert_eq!(leaf.commit, commit);
        for &size in sizes.iter().filter(|s| **s >= commit) {
            let proof = reader.inclusion_proof(commit - 1, size).unwrap();
            verify_inclusion(&leaf.leaf_hash(), commit - 1, size, &proof, &rebuilt.root_at(size).unwrap()).unwrap();
        }
    }
    for &old in &sizes {
        for &new in sizes.iter().filter(|s| **s >= old) {
            let proof = reader.consistency_proof(old, new).unwrap();
            verify_consistency(old, new, &rebuilt.root_at(old).unwrap(), &rebuilt.root_at(new).unwrap(), &proof)
                .unwrap();
        }
    }
    // Each chain proves its latest head under the latest checkpoint.
    let latest = open_checkpoint(&reader.checkpoint(18).unwrap().unwrap(), ORIGIN, &[verifier]).unwrap().checkpoint;
    for project in ["alpha", "beta", "gamma"] {
        let proof = log.head_proof(project, reader.inclusion_proof(17, 18).unwrap()).unwrap();
        let head = store.projection().project(project).unwrap().head;
        assert_eq!(proof.verify(project, &latest).unwrap(), (head.seq, head.hash));
    }
    // Raw commit entries are the stored bytes, decoding to the entries.
    let raw = reader.raw_commits(0, 18, 100).unwrap();
    assert_eq!(raw.len(), 18);
    assert_eq!(raw[4].0, 5);
    drop(reader);
    store.close().unwrap();

    // Reopened, replay rebuilds the same log and finds it sound.
    let (store, report) = Store::open(dir.path()).unwrap();
    assert!(report.damage.is_empty(), "{:?}", report.damage);
    assert_eq!(store.log().root, log.root);
    assert_eq!(store.log().size, 18);
    assert_eq!(store.log().last, log.last);
}

#[test]
fn a_store_without_a_log_gets_it_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let store = history(dir.path(), None, 3, None);
    let root = store.log().root;
    store.close().unwrap();
    // As a store written before the log existed: no leaves, no tree hashes, no map indexes.
    {
        let (db, tree) = open_tree(dir.path()).unwrap();
        for prefix in [b'i', b'l', b'n'] {
            for item in tree.scan_prefix([prefix]) {
                tree.remove(item.unwrap().0).unwrap();
            }
        }
        db.flush().unwrap();
    }
    let (store, report) = Store::open(dir.path()).unwrap();
    assert!(report.damage.is_empty(), "{:?}", report.damage);
    assert_eq!(store.log().root, root);
    assert_eq!(store.reader().log_root(12).unwrap(), root);
    store.close().unwrap();
    let (_, report) = Store::open(dir.path()).unwrap();
    assert!(report.damage.is_empty(), "{:?}", report.damage);
}

/// Damage to the stored log is reported like other damage, and the store opens read-only.
#[test]
fn damage_to_the_stored_log_is_reported() {
    type Damage = fn(&sled::Tree);
    let cases: [(&str, Damage); 4] = [
        ("a leaf changed", |tree| {
            let (key, value) = tree.scan_prefix([b'l']).nth(1).unwrap().unwrap();
            let mut bytes = value.to_vec();
            bytes[50] ^= 1;
            tree.insert(key, bytes).unwrap();
        }),
        ("a tree hash changed", |tree| {
            let (key, value) = tree.scan_prefix([b'n']).nth(2).unwrap().unwrap();
            let mut bytes = value.to_vec();
            bytes[0] ^= 1;
            tree.insert(key, bytes).unwrap();
        }),
        ("a run of leaves removed", |tree| {
            let (key, _) = tree.scan_prefix([b'l']).nth(2).unwrap().unwrap();
            tree.remove(key).unwrap();
        }),
        ("a map index changed", |tree| {
            let (key, _) = tree.scan_prefix([b'i']).next().unwrap().unwrap();
            tree.insert(key, 7u64.to_be_bytes().to_vec()).unwrap();
        }),
    ];
    for (what, damage) in cases {
        let dir = tempfile::tempdir().unwrap();
        history(dir.path(), Some(key()), 4, None).close().unwrap();
        {
            let (db, tree) = open_tree(dir.path()).unwrap();
            damage(&tree);
            db.flush().unwrap();
        }
        let (mut store, report) = Store::open(dir.path()).unwrap();
        assert!(report.damage.iter().any(|d| d.project == LOG_NAME), "{what}: {:?}", report.damage);
        assert!(store.commit(&request(vec![gift("late", "alpha", "1.00")], 9)).is_err(), "{what}: read-only");
    }
}

/// A server rewrites one record on disk and recomputes every later hash: the chains, the commit
/// chain and the log all pass, and only the checkpoints it signed before give it away.
#[test]
fn a_rewritten_history_fails_only_against_its_stored_checkpoints() {
    let (honest, forged) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    history(honest.path(), Some(key()), 4, None).close().unwrap();
    // the same history with one gift changed, every hash recomputed, signed by no key
    history(forged.path(), None, 4, Some((1, 2))).close().unwrap();
    let (store, report) = Store::open(forged.path()).unwrap();
    assert!(report.damage.is_empty(), "the rewritten history passes alone: {:?}", report.damage);
    drop(store);
    // now with the checkpoints the server signed for the honest history
    {
        let (_, from) = open_tree(honest.path()).unwrap();
        let (db, to) = open_tree(forged.path()).unwrap();
        for item in from.scan_prefix([b'k']) {
            let (key, value) = item.unwrap();
            to.insert(key, value).unwrap();
        }
        db.flush().unwrap();
    }
    let (_, report) = Store::open(forged.path()).unwrap();
    let log_damage: Vec<_> = report.damage.iter().filter(|d| d.project == LOG_NAME).collect();
    assert_eq!(log_damage.len(), 1, "{:?}", report.damage);
    // The first checkpoint after the forged gift (commit 3 + 3 + 3 = 9) is where it shows.
    assert_eq!(log_damage[0].seq, 9, "{:?}", log_damage);
    assert!(log_damage[0].problem.contains("another root"), "{:?}", log_damage);
    // A leaf parses back to what the store wrote.
    let (store, _) = Store::open(honest.path()).unwrap();
    let leaf = store.reader().log_leaf(9).unwrap();
    assert_eq!(LogLeaf::parse(&leaf.to_bytes()).unwrap(), leaf);
}

/// The receipts the published log makes in memory for the commits of the last groups are
/// exactly those the store gives (`Reader::receipt_parts`: checkpoint, entry, record bytes, leaf,
/// stored hashes), and verify with every record's label; other commits get none there (the
/// store's gives theirs). The tree's right edge kept in memory is the one replay rebuilds.
#[test]
fn receipts_made_in_memory_are_the_stored_ones() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = history(dir.path(), Some(key()), 5, None);
    let check = |store: &Store| -> u64 {
        let log = store.log();
        let reader = store.reader();
        let size = log.size;
        let checkpoint = reader.checkpoint(size).unwrap().unwrap();
        let entries = reader.commits(0, size, 1_000).unwrap();
        let mut made = 0;
        for commit in 1..=size + 1 {
            let Some(r) = log.receipt(commit) else {
                if commit <= size {
                    // the store answers for every commit of the log
                    assert_eq!(reader.receipt_parts(commit, size).unwrap().commit, commit);
                } else {
                    assert!(reader.receipt_parts(commit, size).is_err());
                }
                continue;
            };
            made += 1;
            assert_eq!(r, reader.receipt_parts(commit, size).unwrap(), "commit {commit}");
            assert_eq!(r.checkpoint, checkpoint);
            assert_eq!(r.commit, commit);
            assert_eq!(r.leaf, reader.log_leaf(commit).unwrap());
            assert_eq!(r.proof, reader.inclusion_proof(commit - 1, size).unwrap());
            let listed: Vec<_> =
                entries[commit as usize - 1].records.iter().map(|l| (l.project.clone(), l.seq, l.hash)).collect();
            let made_of: Vec<_> = r.records.iter().map(|c| (c.chain.clone(), c.seq, c.hash)).collect();
            assert_eq!(made_of, listed);
            let receipt = fiscus_ledger::log::Receipt {
                checkpoint: r.checkpoint.clone(),
                commit,
                prev_commit_hash: r.prev_commit_hash,
                records: r
                    .records
                    .iter()
                    .map(|c| fiscus_ledger::log::ReceiptRecord { hash: c.hash, bytes: Some(c.bytes.clone()) })
                    .collect(),
                leaf: r.leaf,
                proof: r.proof.clone(),
            };
            let (opened, labels) = receipt.verify_labels(ORIGIN, &[key().verifier()]).unwrap();
            assert_eq!(opened.size, size);
            let labels: Vec<_> = labels.into_iter().map(Option::unwrap).collect();
            let listed_labels: Vec<_> = listed.iter().map(|(p, s, _)| (p.clone(), *s)).collect();
            assert_eq!(labels, listed_labels);
        }
        made
    };
    // 18 commits in groups of three: all six groups are kept
    assert_eq!(check(&store), 18);
    // groups of other sizes, the tree passing 32 and 64 leaves
    let projects = ["alpha", "beta", "gamma"];
    let mut kept = 18u64;
    for (i, n) in [1u64, 2, 5, 7, 16, 1, 20].into_iter().enumerate() {
        let group: Vec<_> =
            (0..n).map(|k| request(vec![gift(&format!("x-{i}-{k}"), projects[k as usize % 3], "1.00")], 500)).collect();
        for answer in store.commit_group(&group).unwrap() {
            answer.unwrap();
        }
        kept += n;
        assert_eq!(check(&store), kept);
    }
    // past RECENT_GROUPS_MAX groups, the oldest go: groups of one commit, then the last 64 are kept
    for i in 0..fiscus_ledger::log::RECENT_GROUPS_MAX + 6 {
        let group = [request(vec![gift(&format!("y-{i}"), projects[i % 3], "1.00")], 500)];
        for answer in store.commit_group(&group).unwrap() {
            answer.unwrap();
        }
    }
    assert_eq!(check(&store), fiscus_ledger::log::RECENT_GROUPS_MAX as u64);
    let frontier = store.log().frontier.clone();
    assert!(!frontier.is_empty());
    store.close().unwrap();
    let (mut store, report) = Store::open(dir.path()).unwrap();
    assert!(report.damage.is_empty(), "{:?}", report.damage);
    assert_eq!(store.log().frontier, frontier);
    assert_eq!(check(&store), 0);
    // leaving the log out (a measurement) is refused once there are commits
    assert!(store.measure_without_log().is_err());
}

/// A store written without its log (for measuring the log's cost) gets it on the next open.
#[test]
fn a_store_measured_without_its_log_gets_it_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, _) = Store::open(dir.path()).unwrap();
    store.measure_without_log().unwrap();
    for p in ["alpha", "beta"] {
        store.commit(&request(vec![opened(p)], 1)).unwrap();
        store.commit(&request(vec![gift(&format!("g-{p}"), p, "5.00")], 2)).unwrap();
    }
    assert_eq!(store.log().size, 0);
    store.close().unwrap();
    let (store, report) = Store::open(dir.path()).unwrap();
    assert!(report.damage.is_empty(), "{:?}", report.damage);
    assert_eq!(store.log().size, 4);
    let mut rebuilt = LedgerLog::new();
    for entry in store.reader().commits(0, 4, 10).unwrap() {
        rebuilt.append(&entry).unwrap();
    }
    assert_eq!(store.reader().log_root(4).unwrap(), rebuilt.root());
}
