//! The sled store: atomic, idempotent commits; reopening rebuilds the same projection; every kind of
//! damage on disk is reported with the first bad record.

use std::path::Path;

use chrono::NaiveDate;
use fiscus_ledger::commit::CommitRequest;
use fiscus_ledger::event::{Event, EventKind, Fund, ProjectKind, Source};
use fiscus_ledger::money::{Currency, Money};
use fiscus_ledger::store::{open_tree, parse_record_key, tail_key, Store, CHUNK_RECORDS};
use fiscus_ledger::{LedgerError, ProjectId};
use rust_decimal::Decimal;

fn usd(amount: &str) -> Money {
    Money::parse("amount", amount, "USD").expect("test amount")
}

fn date(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 1, 1).expect("date") + chrono::Days::new(u64::from(d))
}

fn event(id: &str, project: &str, day: u32, kind: EventKind) -> Event {
    Event {
        event_id: id.to_owned(),
        project: ProjectId::parse("project", project).expect("project id"),
        effective_date: date(day),
        memo: format!("memo of {id}"),
        reference: None,
        kind,
    }
}

fn request(events: Vec<Event>) -> CommitRequest {
    CommitRequest {
        allow_same_receipt: false,
        events,
        expected_heads: vec![],
        actor: "accountant:alice".to_owned(),
        // 2027-01-01T00:00:00Z, after every day the tests close
        recorded_at: 1_798_761_600_000_000,
    }
}

fn open_event(id: &str, project: &str) -> Event {
    event(
        id,
        project,
        0,
        EventKind::ProjectOpened {
            name: format!("Project {project}"),
            kind: ProjectKind::Conference,
            fee_bps: 700,
            currency: Currency::from_code("USD").expect("USD"),
            advance_limit: Decimal::from(5_000),
        },
    )
}

fn contribution(id: &str, project: &str, amount: &str) -> Event {
    event(
        id,
        project,
        10,
        EventKind::ContributionReceived {
            amount: usd(amount),
            from: "Acme".to_owned(),
            source: Source::Sponsorship,
            fund: Fund::Unrestricted,
            fee_bps: None,
        },
    )
}

/// A store with `projects` projects and `per_project` contributions each, committed one event per commit.
fn build(dir: &Path, projects: usize, per_project: usize) -> Store {
    let (mut store, _) = Store::open(dir).expect("open");
    for p in 0..projects {
        let id = format!("proj-{p}");
        store.commit(&request(vec![open_event(&format!("open-{p}"), &id)])).expect("open project");
    }
    for i in 0..per_project {
        let reqs: Vec<_> = (0..projects)
            .map(|p| request(vec![contribution(&format!("c-{p}-{i}"), &format!("proj-{p}"), "100.50")]))
            .collect();
        for answer in store.commit_group(&reqs).expect("group") {
            answer.expect("contribution accepted");
        }
    }
    store
}

fn reopen(dir: &Path) -> Store {
    Store::open(dir).expect("reopen").0
}

#[test]
fn reopening_replays_to_the_same_projection() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = build(dir.path(), 3, 40);
    let live = store.projection().clone();
    assert_eq!(live.events, 3 * 41);
    let b = live.project("proj-1").expect("proj-1").balances();
    // 40 × (100.50 − fee 7.04)
    assert_eq!(b[0].balance, Decimal::new(373_840, 2));
    store.close().expect("close");
    let store = reopen(dir.path());
    assert!(store.damage().is_empty(), "{:?}", store.damage());
    assert_eq!(store.projection(), &live);
}

#[test]
fn balances_follow_from_the_events() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = build(dir.path(), 2, 3);
    let b = &store.projection().project("proj-0").expect("proj-0").balances()[0];
    // 3 × (100.50 − fee 7.035 → 7.04) = 3 × 93.46
    assert_eq!(b.balance, Decimal::new(28038, 2));
    assert_eq!(b.fees_to_date, Decimal::new(2112, 2));
    let trial = store.projection().trial_balance();
    let sum: Decimal = trial.iter().map(|l| l.amount).sum();
    assert_eq!(sum, Decimal::ZERO);
    assert!(trial.iter().any(|l| l.account == "Assets:Bank:USD" && l.amount == Decimal::new(60300, 2)));
}

#[test]
fn chunks_are_sealed_and_read_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let per = (CHUNK_RECORDS * 2 + 5) as usize;
    let store = build(dir.path(), 1, per);
    let raw = store.raw_records("proj-0", 1, usize::MAX).expect("records");
    assert_eq!(raw.len(), per + 1);
    assert!(raw.iter().enumerate().all(|(i, r)| r.seq == i as u64 + 1));
    let mid = store.raw_records("proj-0", CHUNK_RECORDS + 3, 2).expect("records");
    assert_eq!(mid.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![CHUNK_RECORDS + 3, CHUNK_RECORDS + 4]);
    store.close().expect("close");
    let (_db, tree) = open_tree(dir.path()).expect("tree");
    let keys = |prefix: &[u8]| -> Vec<u64> {
        tree.scan_prefix(prefix).keys().map(|k| parse_record_key(&k.expect("key")).expect("record key").1).collect()
    };
    // two sealed chunks under `r`, then the unsealed tail one record per key under `t`
    assert_eq!(keys(b"r"), vec![1, CHUNK_RECORDS + 1]);
    assert_eq!(keys(b"t"), (CHUNK_RECORDS * 2 + 1..=CHUNK_RECORDS * 2 + 6).collect::<Vec<_>>());
}

#[test]
fn a_refused_commit_changes_nothing_on_disk_or_in_memory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = build(dir.path(), 3, 2);
    let before = store.projection().clone();
    let (_, tree_before) = dump(&store);
    // a package whose third event overdraws: nothing of it may be stored
    let package = request(vec![
        contribution("pkg-0", "proj-0", "10"),
        contribution("pkg-1", "proj-1", "10"),
        event("pkg-2", "proj-2", 11, EventKind::GrantAwarded { amount: usd("10"), program: "x".to_owned() }),
        event(
            "pkg-3",
            "proj-2",
            11,
            EventKind::ExpensePaid {
                request: None,
                details: Some(fiscus_ledger::ExpenseDetails {
                    amount: usd("100000"),
                    payee: "Venue".to_owned(),
                    category: "venue".to_owned(),
                    fund: Fund::Unrestricted,
                    receipt: fiscus_ledger::Receipt { hash: [7; 32], file_name: "inv.pdf".to_owned() },
                }),
            },
        ),
    ]);
    let err = store.commit(&package).expect_err("overdraft");
    assert!(matches!(err, LedgerError::Overdraft { .. }), "{err}");
    assert_eq!(store.projection(), &before);
    let (_, tree_after) = dump(&store);
    assert_eq!(tree_before, tree_after);
    store.close().expect("close");
    assert_eq!(reopen(dir.path()).projection(), &before);
}

fn dump(store: &Store) -> ((), Vec<(u64, Vec<u8>)>) {
    let mut all = Vec::new();
    for p in store.projection().chains() {
        for r in store.raw_records(p.id.as_str(), 1, usize::MAX).expect("records") {
            all.push((r.seq, r.bytes));
        }
    }
    ((), all)
}

#[test]
fn idempotent_by_event_id_across_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = build(dir.path(), 1, 1);
    let req = request(vec![contribution("same", "proj-0", "5")]);
    let first = store.commit(&req).expect("first");
    assert!(!first.duplicate);
    let again = store.commit(&req).expect("again");
    assert!(again.duplicate);
    assert_eq!(again.positions, first.positions);
    assert_eq!(again.commit, first.commit);
    store.close().expect("close");
    let mut store = reopen(dir.path());
    let events = store.projection().events;
    assert!(store.commit(&req).expect("after reopen").duplicate);
    let changed = request(vec![contribution("same", "proj-0", "6")]);
    assert!(matches!(store.commit(&changed), Err(LedgerError::IdConflict { .. })));
    assert_eq!(store.projection().events, events);
}

#[test]
fn event_ids_are_scoped_per_project_across_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = build(dir.path(), 2, 1);
    let in_0 = request(vec![contribution("bank-7", "proj-0", "5")]);
    let in_1 = request(vec![contribution("bank-7", "proj-1", "6")]);
    let first = store.commit(&in_0).expect("proj-0");
    let second = store.commit(&in_1).expect("the same id in proj-1 is another event");
    assert!(!second.duplicate);
    assert_ne!(first.commit, second.commit);
    store.close().expect("close");
    let mut store = reopen(dir.path());
    for (req, answer) in [(&in_0, &first), (&in_1, &second)] {
        let again = store.commit(req).expect("retry");
        assert!(again.duplicate);
        assert_eq!(again.positions, answer.positions);
    }
    let changed = request(vec![contribution("bank-7", "proj-1", "7")]);
    match store.commit(&changed) {
        Err(LedgerError::IdConflict { project, seq, .. }) => {
            assert_eq!((project.as_str(), seq), ("proj-1", second.positions[0].seq))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn expected_head_mismatch_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = build(dir.path(), 1, 1);
    let mut req = request(vec![contribution("x", "proj-0", "5")]);
    req.expected_heads = vec![(ProjectId::parse("p", "proj-0").expect("id"), 1)];
    match store.commit(&req) {
        Err(LedgerError::HeadMismatch { expected: 1, head: 2, .. }) => {}
        other => panic!("expected a head mismatch, got {other:?}"),
    }
    req.expected_heads[0].1 = 2;
    assert_eq!(store.commit(&req).expect("matching head").positions[0].seq, 3);
}

// ---- damage on disk: each is found and named by project and first bad seq ----

/// A store made by `build`, closed, damaged by `setup` with sled directly, and opened again (in a
/// directory that lives as long as the returned store's).
fn reopened_after(build: impl FnOnce(&Path) -> Store, setup: impl FnOnce(&sled::Tree)) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    build(dir.path()).close().expect("close");
    {
        let (db, tree) = open_tree(dir.path()).expect("tree");
        setup(&tree);
        db.flush().expect("flush");
    }
    let (store, report) = Store::open(dir.path()).expect("a damaged store still opens read-only");
    assert_eq!(report.damage, store.damage());
    assert!(!store.damage().is_empty(), "damage not detected");
    (dir, store)
}

fn damaged(setup: impl FnOnce(&sled::Tree)) -> Vec<fiscus_ledger::replay::Damage> {
    let (_dir, mut store) = reopened_after(|dir| build(dir, 2, 8), setup);
    let err = store.commit(&request(vec![contribution("after", "proj-0", "1")])).expect_err("writes refused");
    assert!(matches!(err, LedgerError::ReadOnly(_)), "{err}");
    // the intact project is still fully there
    assert_eq!(store.projection().project("proj-0").expect("intact").head.seq, 9);
    store.damage().to_vec()
}

fn value(tree: &sled::Tree, seq: u64) -> Vec<u8> {
    tree.get(tail_key("proj-1", seq)).expect("get").expect("present").to_vec()
}

#[test]
fn flipped_byte_is_reported_at_its_record() {
    let d = damaged(|tree| {
        let mut v = value(tree, 4);
        let last = v.len() - 30;
        v[last] ^= 0x01;
        tree.insert(tail_key("proj-1", 4), v).expect("insert");
    });
    assert_eq!((d[0].project.as_str(), d[0].seq), ("proj-1", 4), "{d:?}");
}

#[test]
fn removed_record_is_reported() {
    let d = damaged(|tree| {
        tree.remove(tail_key("proj-1", 5)).expect("remove");
    });
    assert_eq!((d[0].project.as_str(), d[0].seq), ("proj-1", 5), "{d:?}");
}

#[test]
fn swapped_records_are_reported() {
    let d = damaged(|tree| {
        let (a, b) = (value(tree, 3), value(tree, 6));
        tree.insert(tail_key("proj-1", 3), b).expect("insert");
        tree.insert(tail_key("proj-1", 6), a).expect("insert");
    });
    assert_eq!((d[0].project.as_str(), d[0].seq), ("proj-1", 3), "{d:?}");
}

#[test]
fn inserted_record_is_reported() {
    // a forged record that links correctly to the head, but no commit stored it
    let d = damaged(|tree| {
        let head = tree.get(b"hproj-1").expect("get").expect("head");
        let prev: [u8; 32] = head[8..].try_into().expect("hash");
        let forged = fiscus_ledger::record::Record {
            version: 1,
            seq: 10,
            prev,
            commit: 99,
            recorded_at: 0,
            actor: "mallory".to_owned(),
            event: contribution("forged", "proj-1", "1000"),
        };
        let mut v = Vec::new();
        fiscus_ledger::record::push_framed(&mut v, &forged.encode());
        tree.insert(tail_key("proj-1", 10), v).expect("insert");
    });
    assert_eq!((d[0].project.as_str(), d[0].seq), ("proj-1", 10), "{d:?}");
}

#[test]
fn truncated_tail_is_reported() {
    let d = damaged(|tree| {
        tree.remove(tail_key("proj-1", 9)).expect("remove");
    });
    assert_eq!((d[0].project.as_str(), d[0].seq), ("proj-1", 9), "{d:?}");
}

#[test]
fn commit_chain_mismatch_is_reported() {
    let d = damaged(|tree| {
        // change the hash a commit entry holds for its record: the commit chain no longer adds up
        let key = fiscus_ledger::store::commit_key(7);
        let value = tree.get(&key).expect("get").expect("entry");
        let bytes = fiscus_ledger::record::Framed::new(&value).next().expect("one entry").expect("framed");
        let mut entry = fiscus_ledger::record::CommitEntry::decode(bytes).expect("decode");
        entry.records[0].hash[0] ^= 0xff;
        let mut framed = Vec::new();
        fiscus_ledger::record::push_framed(&mut framed, &fiscus_ledger::record::encode_value(&entry));
        tree.insert(key, framed).expect("insert");
    });
    assert!(d.iter().any(|x| x.problem.contains("commit chain broken at commit 7")), "{d:?}");
}

#[test]
fn statement_has_opening_lines_running_totals_and_closing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = build(dir.path(), 1, 2);
    // one more contribution dated later, and a direct expense
    let mut late = contribution("late", "proj-0", "50");
    late.effective_date = date(40);
    late.kind = EventKind::ContributionReceived {
        amount: usd("50"),
        from: "Jo".to_owned(),
        source: Source::Donation,
        fund: Fund::Unrestricted,
        fee_bps: Some(0),
    };
    store.commit(&request(vec![late])).expect("late");
    let reader = store.reader();
    let s = reader.statement(store.projection(), "proj-0", date(20), date(60), None).expect("statement");
    // opening: two contributions of 100.50 less 7.04 fee each, dated day 10
    assert_eq!(s.opening, Decimal::new(18692, 2));
    assert_eq!(s.lines.len(), 1);
    assert_eq!(s.lines[0].amount, Decimal::from(50));
    assert_eq!(s.lines[0].running, Decimal::new(23692, 2));
    assert_eq!(s.by_source.get("donation"), Some(&Decimal::from(50)));
    assert_eq!(s.closing, store.projection().project("proj-0").expect("p").balances()[0].balance);
    let all = reader.statement(store.projection(), "proj-0", date(0), date(60), None).expect("statement");
    assert_eq!(all.opening, Decimal::ZERO);
    assert_eq!(all.lines.len(), 3);
    assert_eq!(all.by_source.get("sponsorship"), Some(&Decimal::new(18692, 2)));
    assert!(matches!(
        reader.statement(store.projection(), "nope", date(0), date(1), None),
        Err(LedgerError::UnknownProject { .. })
    ));
}

#[test]
fn reader_pages_the_commit_log_across_chunks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = build(dir.path(), 2, 40); // 2 openings + 80 contributions = 82 commits
    let reader = store.reader();
    let all = reader.commits(0, 82, usize::MAX).expect("commits");
    assert_eq!(all.iter().map(|c| c.number).collect::<Vec<_>>(), (1..=82).collect::<Vec<_>>());
    let page = reader.commits(63, 82, 3).expect("page");
    assert_eq!(page.iter().map(|c| c.number).collect::<Vec<_>>(), vec![64, 65, 66]);
    assert_eq!(
        page[1].records[0].hash,
        store.raw_records(&page[1].records[0].project, page[1].records[0].seq, 1).expect("r")[0].hash
    );
    assert!(reader.commits(82, 82, 10).expect("none").is_empty());
}

#[test]
fn a_chain_verifies_from_its_raw_records_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = build(dir.path(), 2, 40);
    let raw = store.raw_records("proj-1", 1, usize::MAX).expect("records");
    let id = ProjectId::parse("p", "proj-1").expect("id");
    let state = fiscus_ledger::verify::verify_chain(&id, raw.iter().map(|r| r.bytes.as_slice())).expect("verifies");
    let served = store.projection().project("proj-1").expect("served");
    assert_eq!(state.head, served.head);
    assert_eq!(state.balances(), served.balances());
    // a changed byte, a dropped record and a swapped pair are each caught at their seq
    let mut changed: Vec<Vec<u8>> = raw.iter().map(|r| r.bytes.clone()).collect();
    let n = changed[9].len();
    changed[9][n - 3] ^= 1;
    let err = fiscus_ledger::verify::verify_chain(&id, changed.iter().map(Vec::as_slice)).expect_err("changed");
    assert!(matches!(err, LedgerError::Corrupt { seq: 10 | 11, .. }), "{err}");
    let dropped: Vec<&[u8]> =
        raw.iter().enumerate().filter(|(i, _)| *i != 5).map(|(_, r)| r.bytes.as_slice()).collect();
    let err = fiscus_ledger::verify::verify_chain(&id, dropped).expect_err("dropped");
    assert!(matches!(err, LedgerError::Corrupt { seq: 6, .. }), "{err}");
    let mut swapped: Vec<&[u8]> = raw.iter().map(|r| r.bytes.as_slice()).collect();
    swapped.swap(2, 3);
    let err = fiscus_ledger::verify::verify_chain(&id, swapped).expect_err("swapped");
    assert!(matches!(err, LedgerError::Corrupt { seq: 3, .. }), "{err}");
}

#[test]
fn a_generated_year_replays_to_the_live_projection_on_one_thread_and_on_three() {
    use fiscus_ledger::replay::ReplayOptions;
    use fiscus_workload::{generate, WorkloadConfig};
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut store, _) = Store::open(dir.path()).expect("open");
    let requests: Vec<_> = generate(&WorkloadConfig::new(3_000, 11)).collect();
    for group in requests.chunks(97) {
        for answer in store.commit_group(group).expect("group") {
            answer.expect("the generator's commits are valid");
        }
    }
    let live = store.projection().clone();
    assert_eq!(live.events, 3_000);
    store.close().expect("close");
    for threads in [1, 3] {
        let (store, report) = Store::open_with(dir.path(), ReplayOptions::threads(threads)).expect("reopen");
        assert!(report.damage.is_empty(), "{:?}", report.damage);
        assert_eq!(store.projection(), &live, "replay on {threads} thread(s)");
        drop(store);
    }
    // progress reports, as fiscusd logs them while a store opens
    let reports = std::sync::Mutex::new(Vec::new());
    let progress = |n: u64| reports.lock().expect("not poisoned").push(n);
    let options = ReplayOptions { progress_every: 1_000, ..ReplayOptions::default() };
    let (store, _) = Store::open_reporting(dir.path(), options, Some(&progress)).expect("reopen");
    drop(store);
    assert_eq!(reports.into_inner().expect("not poisoned"), vec![1_000, 2_000, 3_000]);
}

#[test]
fn the_largest_commit_reopens() {
    // COMMIT_EVENTS_MAX openings of projects with 40-character ids: a commit entry over 64 KiB
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut store, _) = Store::open(dir.path()).expect("open");
    let events: Vec<_> = (0..fiscus_ledger::commit::COMMIT_EVENTS_MAX)
        .map(|i| open_event(&format!("open-{i}"), &format!("{:0>40}", i)))
        .collect();
    store.commit(&request(events)).expect("the largest commit");
    let live = store.projection().clone();
    store.close().expect("close");
    let store = reopen(dir.path());
    assert!(store.damage().is_empty(), "{:?}", store.damage());
    assert_eq!(store.projection(), &live);
    assert_eq!(store.reader().commits(0, 1, 10).expect("commit log")[0].records.len(), 1_000);
}

// ---- runs and compressed chunks ----

/// One project, opened, then `groups` groups of `per_group` contributions each (one commit each).
fn build_runs(dir: &Path, groups: usize, per_group: usize) -> Store {
    let (mut store, _) = Store::open(dir).expect("open");
    store.commit(&request(vec![open_event("open-r", "runs")])).expect("open project");
    for g in 0..groups {
        let reqs: Vec<_> =
            (0..per_group).map(|i| request(vec![contribution(&format!("r-{g}-{i}"), "runs", "5.00")])).collect();
        for answer in store.commit_group(&reqs).expect("group") {
            answer.expect("contribution accepted");
        }
    }
    store
}

fn record_keys(tree: &sled::Tree, prefix: &[u8]) -> Vec<u64> {
    tree.scan_prefix(prefix).keys().map(|k| parse_record_key(&k.expect("key")).expect("record key").1).collect()
}

#[test]
fn a_group_writes_one_run_per_project_and_chunk() {
    let dir = tempfile::tempdir().expect("tempdir");
    // seq 1 opens; groups of 5 add seqs 2..=6, 7..=11, …, 37..=41
    let store = build_runs(dir.path(), 8, 5);
    assert_eq!(store.projection().project("runs").expect("chain").head.seq, 41);
    // every read position, including the middle of a run and across the sealed chunk
    for from in [1, 2, 4, 31, 33, 35, 39, 41] {
        let raw = store.raw_records("runs", from, 3).expect("records");
        let seqs: Vec<u64> = raw.iter().map(|r| r.seq).collect();
        let want: Vec<u64> = (from..=(from + 2).min(41)).collect();
        assert_eq!(seqs, want, "from {from}");
    }
    let live = store.projection().clone();
    store.close().expect("close");
    {
        let (_db, tree) = open_tree(dir.path()).expect("tree");
        assert_eq!(record_keys(&tree, b"r"), vec![1]);
        // the group of seqs 32..=36 crossed the chunk boundary: its seqs 33..=36 are one run
        assert_eq!(record_keys(&tree, b"t"), vec![33, 37]);
        let sealed = tree.get(fiscus_ledger::store::record_key("runs", 1)).expect("get").expect("chunk");
        assert!(fiscus_ledger::pack::is_packed(&sealed), "a sealed chunk is compressed");
    }
    let store = reopen(dir.path());
    assert!(store.damage().is_empty(), "{:?}", store.damage());
    assert_eq!(store.projection(), &live);
}

/// Damage done to the store of [`build_runs`] (9 groups of 5: head seq 46), reported after reopening.
fn damaged_runs(setup: impl FnOnce(&sled::Tree)) -> Vec<fiscus_ledger::replay::Damage> {
    let (_dir, store) = reopened_after(|dir| build_runs(dir, 9, 5), setup);
    store.damage().to_vec()
}

#[test]
fn a_flipped_byte_inside_a_run_is_reported_at_its_record() {
    let d = damaged_runs(|tree| {
        // the run of seqs 37..=41: damage its third record (seq 39)
        let key = tail_key("runs", 37);
        let mut v = tree.get(&key).expect("get").expect("run").to_vec();
        let items: Vec<Vec<u8>> = fiscus_ledger::record::Framed::new(&v).map(|b| b.expect("framed").to_vec()).collect();
        assert_eq!(items.len(), 5);
        let offset: usize = items[..2].iter().map(|b| b.len() + 4).sum::<usize>() + 4 + items[2].len() - 20;
        v[offset] ^= 0x01;
        tree.insert(key, v).expect("insert");
    });
    assert_eq!((d[0].project.as_str(), d[0].seq), ("runs", 39), "{d:?}");
}

#[test]
fn a_damaged_compressed_chunk_is_reported() {
    let d = damaged_runs(|tree| {
        let key = fiscus_ledger::store::record_key("runs", 1);
        let mut v = tree.get(&key).expect("get").expect("chunk").to_vec();
        let middle = v.len() / 2;
        v[middle] ^= 0x40;
        tree.insert(key, v).expect("insert");
    });
    assert_eq!(d[0].project, "runs", "{d:?}");
    assert!((1..=CHUNK_RECORDS).contains(&d[0].seq), "{d:?}");
}

#[test]
fn a_chunk_rewritten_with_other_records_compressed_the_same_way_is_reported() {
    // whoever changes a record and compresses the chunk again still changes the record's hash
    let d = damaged_runs(|tree| {
        let key = fiscus_ledger::store::record_key("runs", 1);
        let stored = tree.get(&key).expect("get").expect("chunk");
        let plain = fiscus_ledger::pack::Unpacker::new().unpack(&stored).expect("unpack").into_owned();
        let mut records: Vec<Vec<u8>> =
            fiscus_ledger::record::Framed::new(&plain).map(|b| b.expect("framed").to_vec()).collect();
        let last = records[9].len() - 20;
        records[9][last] ^= 0x01; // seq 10
        let mut value = Vec::new();
        for r in &records {
            fiscus_ledger::record::push_framed(&mut value, r);
        }
        let packed = fiscus_ledger::pack::Packer::new().pack(value).expect("pack");
        tree.insert(key, packed).expect("insert");
    });
    assert_eq!((d[0].project.as_str(), d[0].seq), ("runs", 10), "{d:?}");
}

#[test]
fn a_plain_sealed_chunk_still_reads() {
    // chunks that do not compress are stored plain, and stores written before compression hold only those
    let dir = tempfile::tempdir().expect("tempdir");
    let live = {
        let store = build_runs(dir.path(), 9, 5);
        let live = store.projection().clone();
        store.close().expect("close");
        live
    };
    {
        let (db, tree) = open_tree(dir.path()).expect("tree");
        let key = fiscus_ledger::store::record_key("runs", 1);
        let stored = tree.get(&key).expect("get").expect("chunk");
        let plain = fiscus_ledger::pack::Unpacker::new().unpack(&stored).expect("unpack").into_owned();
        tree.insert(key, plain).expect("insert");
        db.flush().expect("flush");
    }
    let store = reopen(dir.path());
    assert!(store.damage().is_empty(), "{:?}", store.damage());
    assert_eq!(store.projection(), &live);
    assert_eq!(store.raw_records("runs", 30, 5).expect("records").len(), 5);
}

/// Rewrites the store in `from` as a layout 1 store in `to`: sled's page compression on with
/// 512 KiB segments, sealed chunks plain, one value per tail record and per newest commit.
fn as_layout_1(from: &Path, to: &Path) {
    use fiscus_ledger::record::{push_framed, Framed};
    let (_db, tree) = open_tree(from).expect("tree");
    let old = sled::Config::new()
        .path(to)
        .use_compression(true)
        .compression_factor(1)
        .segment_size(512 * 1024)
        .open()
        .expect("layout 1 database");
    let out = old.open_tree("fiscus").expect("tree");
    let mut unpacker = fiscus_ledger::pack::Unpacker::new();
    for item in tree.iter() {
        let (key, value) = item.expect("read");
        let plain = unpacker.unpack(&value).expect("unpack").into_owned();
        let single = |n: u64| {
            let mut k = key[..key.len() - 8].to_vec();
            k.extend_from_slice(&n.to_be_bytes());
            k
        };
        let first = || u64::from_be_bytes(key[key.len() - 8..].try_into().expect("number"));
        let is_run = key[0] == b't' || (key[0] == b'c' && (first() - 1) % 64 != 0);
        if is_run {
            for (i, item) in Framed::commits(&plain).enumerate() {
                let mut v = Vec::new();
                push_framed(&mut v, item.expect("framed"));
                out.insert(single(first() + i as u64), v).expect("insert");
            }
        } else {
            out.insert(key, plain).expect("insert");
        }
    }
    old.flush().expect("flush");
}

#[test]
fn a_layout_1_store_opens_replays_and_takes_commits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let new_dir = dir.path().join("layout-2");
    let old_dir = dir.path().join("layout-1");
    let live = {
        let store = build(&new_dir, 3, 45); // sealed chunks, runs of 3 commits, tails of 14
        let live = store.projection().clone();
        store.close().expect("close");
        live
    };
    as_layout_1(&new_dir, &old_dir);
    let settings = fiscus_ledger::store::SledSettings::persisted(&old_dir).expect("conf").expect("present");
    assert!(settings.use_compression && settings.segment_size == 512 * 1024, "{settings:?}");
    let (mut store, report) = Store::open(&old_dir).expect("a layout 1 store opens");
    assert!(report.damage.is_empty(), "{:?}", report.damage);
    assert_eq!(store.projection(), &live);
    // it takes commits in the current layout, sealing chunks begun in the old one
    for i in 0..40 {
        store.commit(&request(vec![contribution(&format!("late-{i}"), "proj-2", "1.00")])).expect("commit");
    }
    let head = store.projection().project("proj-2").expect("chain").head;
    store.close().expect("close");
    let store = reopen(&old_dir);
    assert!(store.damage().is_empty(), "{:?}", store.damage());
    assert_eq!(store.projection().project("proj-2").expect("chain").head, head);
    assert_eq!(head.seq, 46 + 40);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 12, ..proptest::prelude::ProptestConfig::default() })]

    /// Whatever the grouping (runs of any length, chunks sealed from runs written by earlier groups,
    /// groups crossing chunk boundaries, reopening in between), every record and commit reads back
    /// from any position and the store replays to the live projection.
    #[test]
    fn any_grouping_reads_back_and_replays(seed in 0u64..1_000, sizes in proptest::collection::vec(1usize..80, 1..12)) {
        use fiscus_workload::{generate, WorkloadConfig};
        let dir = tempfile::tempdir().expect("tempdir");
        let requests: Vec<_> = generate(&WorkloadConfig::new(600, seed)).collect();
        let (mut store, _) = Store::open(dir.path()).expect("open");
        let mut rest = requests.as_slice();
        let mut turn = 0;
        while !rest.is_empty() {
            let (group, later) = rest.split_at(sizes[turn % sizes.len()].min(rest.len()));
            for answer in store.commit_group(group).expect("group") {
                answer.expect("the generator's commits are valid");
            }
            rest = later;
            turn += 1;
            if turn % 7 == 0 {
                store.close().expect("close");
                store = reopen(dir.path());
            }
        }
        let live = store.projection().clone();
        for chain in live.chains() {
            let all = store.raw_records(chain.id.as_str(), 1, usize::MAX).expect("records");
            proptest::prop_assert_eq!(all.len() as u64, chain.head.seq);
            proptest::prop_assert_eq!(all.last().map(|r| r.hash), (chain.head.seq > 0).then_some(chain.head.hash));
            for from in [1, chain.head.seq / 3, chain.head.seq / 2 + 1, chain.head.seq] {
                let page = store.raw_records(chain.id.as_str(), from.max(1), 5).expect("page");
                let want: Vec<u64> = (from.max(1)..=chain.head.seq).take(5).collect();
                proptest::prop_assert_eq!(page.iter().map(|r| r.seq).collect::<Vec<_>>(), want);
                proptest::prop_assert!(page.iter().all(|r| all[(r.seq - 1) as usize] == *r));
            }
        }
        let commits = live.commit_head.number;
        for after in [0, commits / 2, commits.saturating_sub(3)] {
            let got = store.reader().commits(after, commits, 70).expect("commits");
            let want: Vec<u64> = (after + 1..=commits).take(70).collect();
            proptest::prop_assert_eq!(got.iter().map(|c| c.number).collect::<Vec<_>>(), want);
        }
        store.close().expect("close");
        let store = reopen(dir.path());
        proptest::prop_assert!(store.damage().is_empty(), "{:?}", store.damage());
        proptest::prop_assert_eq!(store.projection(), &live);
    }
}

// ---- reads racing the writer ----

/// Readers on other threads, reading near the head while the writer seals chunks, get exactly the
/// records `from ..= head` and the commits `after + 1 ..= head` of the head they were published:
/// no chunk skipped, nothing past it. (The writer publishes a head only after its batch is applied,
/// as the daemon's writer does.) Bounded: at most `GROUPS` groups and a few seconds.
/// Runs `open` on a thread of its own and answers its result, or fails the test when it has not
/// answered within ten seconds (it blocked: the thread is left behind).
fn within_seconds<T: Send + 'static>(open: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(open());
    });
    rx.recv_timeout(std::time::Duration::from_secs(10)).expect("answered at once, not blocked on a named pipe")
}

fn mkfifo(path: &Path) {
    let made = std::process::Command::new("mkfifo").arg(path).status().expect("mkfifo runs");
    assert!(made.success(), "mkfifo {}", path.display());
}

/// A named pipe in a store's folder where sled's `conf` or `db`, or the `holder` file, belongs is
/// refused at once naming it (each blocked the open for good), as is a link there; a folder held
/// by `lock_folder` refuses a pipe as its holder file too.
#[cfg(unix)]
#[test]
fn a_pipe_among_the_store_files_is_refused_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    build(dir.path(), 1, 1).close().expect("close");
    for name in ["conf", "holder", "db"] {
        let copy = copy_store(dir.path());
        let path = copy.path().join(name);
        std::fs::remove_file(&path).expect("remove");
        mkfifo(&path);
        let at = copy.path().to_owned();
        let refused = within_seconds(move || Store::open(&at).map(|_| ())).expect_err(name);
        let message = refused.to_string();
        assert!(
            message.contains(&path.display().to_string()) && message.contains("is not a regular file (a named pipe)"),
            "{name}: {message}"
        );
    }
    // sled's snapshots: a pipe, a link to /dev/zero, a sparse file far past the database
    for odd in ["pipe", "zero", "sparse"] {
        let copy = copy_store(dir.path());
        let path = copy.path().join("snap.00000000FFFFFFFF");
        match odd {
            "pipe" => mkfifo(&path),
            "zero" => std::os::unix::fs::symlink("/dev/zero", &path).expect("symlink"),
            _ => std::fs::File::create(&path).expect("create").set_len(20 << 30).expect("sparse"),
        }
        let at = copy.path().to_owned();
        let refused = within_seconds(move || Store::open(&at).map(|_| ())).expect_err(odd).to_string();
        assert!(refused.contains(&path.display().to_string()), "{odd}: {refused}");
    }
    let copy = copy_store(dir.path());
    let conf = copy.path().join("conf");
    let moved = copy.path().join("conf.real");
    std::fs::rename(&conf, &moved).expect("rename");
    std::os::unix::fs::symlink(&moved, &conf).expect("symlink");
    let refused = Store::open(copy.path()).map(|_| ()).expect_err("a link as conf").to_string();
    assert!(refused.contains("(a symbolic link)"), "{refused}");
    let folder = tempfile::tempdir().expect("tempdir");
    mkfifo(&folder.path().join("holder"));
    let at = folder.path().to_owned();
    let refused = within_seconds(move || fiscus_ledger::store::lock_folder(&at, "witness state folder").map(|_| ()))
        .expect_err("a pipe as holder");
    assert!(refused.to_string().contains("is not a regular file (a named pipe)"), "{refused}");
}

#[test]
fn readers_racing_the_writer_see_exactly_the_published_heads() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};
    const GROUPS: usize = 600;
    const RUN_MAX: Duration = Duration::from_secs(3);
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut store, _) = Store::open(dir.path()).expect("open");
    store.commit(&request(vec![open_event("open-race", "race")])).expect("open project");
    let reader = store.reader();
    let published = Arc::new(Mutex::new((1u64, 1u64))); // (head seq of "race", commit number)
    let done = Arc::new(AtomicBool::new(false));
    let writer = {
        let (published, done) = (published.clone(), done.clone());
        std::thread::spawn(move || {
            let started = Instant::now();
            for g in 0..GROUPS {
                if started.elapsed() > RUN_MAX {
                    break;
                }
                // 1 to 5 requests per group, one contribution each: runs of every length, seals mid-group
                let reqs: Vec<_> = (0..1 + g % 5)
                    .map(|i| request(vec![contribution(&format!("race-{g}-{i}"), "race", "1.00")]))
                    .collect();
                for answer in store.commit_group(&reqs).expect("group") {
                    answer.expect("contribution accepted");
                }
                let p = store.projection();
                *published.lock().expect("lock") = (p.project("race").expect("race").head.seq, p.commit_head.number);
            }
            done.store(true, Ordering::Release);
            store
        })
    };
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (reader, published, done) = (reader.clone(), published.clone(), done.clone());
            std::thread::spawn(move || {
                let (mut reads, mut wrong) = (0u64, Vec::new());
                while !done.load(Ordering::Acquire) {
                    let (head, commit) = *published.lock().expect("lock");
                    let from = head.saturating_sub(40).max(1);
                    let count = (head - from + 1) as usize;
                    match reader.raw_records("race", from, head, count + 5) {
                        Ok(raws) => {
                            let seqs: Vec<u64> = raws.iter().map(|r| r.seq).collect();
                            if seqs != (from..=head).collect::<Vec<_>>() {
                                wrong.push(format!("records {from}..={head}: got {seqs:?}"));
                            }
                        }
                        Err(e) => wrong.push(format!("records {from}..={head}: {e}")),
                    }
                    let after = commit.saturating_sub(70);
                    match reader.commits(after, commit, 100) {
                        Ok(entries) => {
                            let numbers: Vec<u64> = entries.iter().map(|c| c.number).collect();
                            if numbers != (after + 1..=commit).collect::<Vec<_>>() {
                                wrong.push(format!("commits {after}<..={commit}: got {numbers:?}"));
                            }
                        }
                        Err(e) => wrong.push(format!("commits {after}<..={commit}: {e}")),
                    }
                    reads += 1;
                }
                (reads, wrong)
            })
        })
        .collect();
    let store = writer.join().expect("writer");
    let mut wrong = Vec::new();
    for r in readers {
        let (reads, mut w) = r.join().expect("reader");
        assert!(reads > 0, "a reader read nothing");
        wrong.append(&mut w);
    }
    assert!(store.projection().project("race").expect("race").head.seq > 4 * CHUNK_RECORDS, "too few seals raced");
    assert!(wrong.is_empty(), "{} wrong reads, first: {:?}", wrong.len(), &wrong[..wrong.len().min(3)]);
}

/// A record missing below the head a read is bounded by is damage named by its seq, not a shorter
/// answer; a read that stops before it answers exactly what is asked.
#[test]
fn a_bounded_read_names_a_missing_record() {
    let (_dir, store) = reopened_after(
        |dir| build(dir, 2, 8),
        |tree| {
            tree.remove(tail_key("proj-1", 5)).expect("remove");
        },
    );
    let reader = store.reader();
    match reader.raw_records("proj-1", 3, 9, 100) {
        Err(LedgerError::Corrupt { project, seq: 5, .. }) if project == "proj-1" => {}
        other => panic!("expected proj-1 seq 5 to be missing, got {other:?}"),
    }
    let seqs = |from, head, limit| -> Vec<u64> {
        reader.raw_records("proj-1", from, head, limit).expect("read").iter().map(|r| r.seq).collect()
    };
    // a chunk is read whole from its first record: a read after the gap in the same chunk finds it
    assert!(matches!(reader.raw_records("proj-1", 6, 9, 100), Err(LedgerError::Corrupt { seq: 5, .. })));
    assert_eq!(seqs(1, 4, 100), vec![1, 2, 3, 4]);
    assert_eq!(seqs(0, 9, 2), vec![1, 2]);
    assert!(seqs(10, 9, 100).is_empty());
    assert!(seqs(1, 9, 0).is_empty());
}

// ---------------------------------------------------------------------------------------------
// Consistently re-hashed damage: stores whose every hash, link, listing and head adds up, but
// whose content breaks a rule of docs/FORMAT.md. Only a verifier that checks the rule finds them.

/// Rewrites the store in `tree` (plain runs only: fewer than 32 records per chain, 64 commits)
/// with `edit` applied to each record before it is encoded and `patch` to its bytes after, then
/// re-links and re-hashes everything: each record's `prev`, the commit log's hashes and chain, the
/// heads. The result is damaged only in what `edit` and `patch` did.
fn forge(
    tree: &sled::Tree,
    mut edit: impl FnMut(&mut fiscus_ledger::record::Record),
    mut patch: impl FnMut(&fiscus_ledger::record::Record, &mut Vec<u8>),
) {
    use fiscus_ledger::chain::{commit_hash, genesis_hash, record_hash, COMMIT_GENESIS};
    use fiscus_ledger::record::{encode_value, push_framed, CommitEntry, Framed, Record};
    use fiscus_ledger::store::{commit_key, head_value};
    use std::collections::HashMap;
    let mut records: HashMap<(String, u64), Record> = HashMap::new();
    let mut entries: Vec<CommitEntry> = Vec::new();
    for item in tree.iter() {
        let (key, value) = item.expect("read");
        match key[0] {
            b'c' => {
                entries.extend(Framed::commits(&value).map(|b| CommitEntry::decode(b.expect("framed")).expect("entry")))
            }
            b't' => {
                for b in Framed::new(&value) {
                    let r = Record::decode(b.expect("framed")).expect("record");
                    records.insert((r.event.project.to_string(), r.seq), r);
                }
            }
            b'r' => panic!("forge reads plain runs only"),
            // the transparency log: dropped, and rebuilt from the forged commit log when the store
            // opens, as a forger recomputing every hash would (no checkpoint is signed here)
            b'i' | b'l' | b'n' => {}
            _ => continue,
        }
        if key[0] != b'm' {
            tree.remove(key).expect("remove");
        }
    }
    let mut heads: HashMap<String, fiscus_ledger::projection::Head> = HashMap::new();
    let mut prev_commit = COMMIT_GENESIS;
    for entry in &mut entries {
        let mut hashes = Vec::new();
        for listed in &mut entry.records {
            let mut r = records.remove(&(listed.project.clone(), listed.seq)).expect("listed record");
            let id = ProjectId::parse("p", &listed.project).expect("id");
            let head = heads
                .entry(listed.project.clone())
                .or_insert(fiscus_ledger::projection::Head { seq: 0, hash: genesis_hash(&id) });
            r.prev = head.hash;
            edit(&mut r);
            let mut bytes = r.encode();
            patch(&r, &mut bytes);
            let hash = record_hash(&bytes);
            *head = fiscus_ledger::projection::Head { seq: listed.seq, hash };
            listed.hash = hash;
            hashes.push(hash);
            let mut framed = Vec::new();
            push_framed(&mut framed, &bytes);
            tree.insert(tail_key(&listed.project, listed.seq), framed).expect("record");
        }
        entry.hash = commit_hash(&prev_commit, entry.number, &hashes);
        prev_commit = entry.hash;
        let mut framed = Vec::new();
        push_framed(&mut framed, &encode_value(entry));
        tree.insert(commit_key(entry.number), framed).expect("entry");
    }
    for (project, head) in heads {
        let mut key = vec![b'h'];
        key.extend_from_slice(project.as_bytes());
        tree.insert(key, head_value(&head)).expect("head");
    }
}

/// The store of `damaged` with `edit` forged into record `seq` of proj-1.
fn forged(seq: u64, mut edit: impl FnMut(&mut fiscus_ledger::record::Record)) -> Vec<fiscus_ledger::replay::Damage> {
    damaged(|tree| {
        forge(
            tree,
            |r| {
                if r.event.project.as_str() == "proj-1" && r.seq == seq {
                    edit(r)
                }
            },
            |_, _| {},
        )
    })
}

fn assert_first(d: &[fiscus_ledger::replay::Damage], project: &str, seq: u64, words: &str) {
    assert!(!d.is_empty(), "no damage");
    assert_eq!((d[0].project.as_str(), d[0].seq), (project, seq), "{d:?}");
    assert!(d[0].problem.contains(words), "{:?} does not say {words:?}", d[0].problem);
}

#[test]
fn forging_without_a_change_is_no_damage() {
    let dir = tempfile::tempdir().expect("tempdir");
    build(dir.path(), 2, 8).close().expect("close");
    {
        let (db, tree) = open_tree(dir.path()).expect("tree");
        forge(&tree, |_| {}, |_, _| {});
        db.flush().expect("flush");
    }
    let (store, _) = Store::open(dir.path()).expect("open");
    assert!(store.damage().is_empty(), "{:?}", store.damage());
}

#[test]
fn a_record_whose_commit_number_disagrees_with_its_commit_is_damage() {
    let d = forged(4, |r| r.commit += 1);
    assert_first(&d, "proj-1", 4, "commit");
}

#[test]
fn a_record_whose_recorded_at_disagrees_with_its_commit_is_damage() {
    let d = forged(4, |r| r.recorded_at += 1);
    assert_first(&d, "proj-1", 4, "recorded_at");
}

#[test]
fn a_commit_entry_whose_recorded_at_moved_is_damage() {
    let d = damaged(|tree| {
        // commit 8 lists one record of proj-1 (seq 4); no hash covers an entry's recorded_at. Each
        // group of two commits is one run, keyed by its first commit.
        let key = fiscus_ledger::store::commit_key(7);
        let value = tree.get(&key).expect("get").expect("run");
        let mut framed = Vec::new();
        for bytes in fiscus_ledger::record::Framed::commits(&value) {
            let mut entry = fiscus_ledger::record::CommitEntry::decode(bytes.expect("framed")).expect("decode");
            if entry.number == 8 {
                assert_eq!(entry.records[0].project, "proj-1");
                entry.recorded_at -= 3_600_000_000;
            }
            fiscus_ledger::record::push_framed(&mut framed, &fiscus_ledger::record::encode_value(&entry));
        }
        tree.insert(key, framed).expect("insert");
    });
    let seq = 4; // commits 1-2 open the projects, then proj-0 and proj-1 take turns
    assert_first(&d, "proj-1", seq, "recorded_at");
}

#[test]
fn a_head_entry_for_a_chain_without_records_is_damage() {
    let d = damaged(|tree| {
        tree.insert(
            b"hghost",
            fiscus_ledger::store::head_value(&fiscus_ledger::projection::Head { seq: 1, hash: [7; 32] }),
        )
        .expect("insert");
    });
    assert_first(&d, "ghost", 0, "head entry for a chain with no records");
}

#[test]
fn a_key_outside_every_keyspace_is_damage() {
    for key in [&b"a-key"[..], b"d", b"s\x00", b"zz", b"\xff\xff"] {
        let d = damaged(|tree| {
            tree.insert(key, &b"x"[..]).expect("insert");
        });
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(d[0].problem.contains("outside every keyspace"), "{d:?}");
        // placed as the store's keys, not as a chain named after the key ("zz seq 0")
        assert_eq!(d[0].place(), "the store's keys", "{d:?}");
    }
}

#[test]
fn a_memo_that_is_not_utf8_is_damage() {
    let d = damaged(|tree| {
        forge(
            tree,
            |r| {
                if r.event.project.as_str() == "proj-1" && r.seq == 3 {
                    r.event.memo = "MEMO".to_owned();
                }
            },
            |r, bytes| {
                if r.event.project.as_str() == "proj-1" && r.seq == 3 {
                    let at = bytes.windows(4).position(|w| w == b"MEMO").expect("memo");
                    bytes[at..at + 4].copy_from_slice(&[0xff, 0xfe, 0xff, 0xfe]);
                }
            },
        )
    });
    assert_first(&d, "proj-1", 3, "UTF-8");
}

#[test]
fn stored_fields_over_their_limits_are_damage() {
    type Edit = Box<dyn Fn(&mut fiscus_ledger::record::Record)>;
    let cases: Vec<(&str, Edit)> = vec![
        ("event_id", Box::new(|r| r.event.event_id = "e".repeat(65))),
        ("event_id", Box::new(|r| r.event.event_id = "tab\there".to_owned())),
        ("event_id", Box::new(|r| r.event.event_id = String::new())),
        ("actor", Box::new(|r| r.actor = "a".repeat(129))),
        ("actor", Box::new(|r| r.actor = String::new())),
        ("memo", Box::new(|r| r.event.memo = "m".repeat(1_001))),
        ("memo", Box::new(|r| r.event.memo = "bell\u{7}".to_owned())),
        ("reference", Box::new(|r| r.event.reference = Some("r".repeat(129)))),
        (
            "purpose",
            Box::new(|r| {
                if let EventKind::ContributionReceived { fund, .. } = &mut r.event.kind {
                    *fund = Fund::Restricted("Not A Slug!".to_owned());
                }
            }),
        ),
        (
            "from",
            Box::new(|r| {
                if let EventKind::ContributionReceived { from, .. } = &mut r.event.kind {
                    *from = " ".to_owned();
                }
            }),
        ),
    ];
    for (field, edit) in cases {
        let d = forged(5, |r| edit(r));
        assert_first(&d, "proj-1", 5, "limits");
        assert!(d[0].problem.contains(field), "{field}: {d:?}");
    }
}

#[test]
fn a_duplicate_event_id_is_damage() {
    // the same id twice in one chain
    let d = forged(6, |r| r.event.event_id = "c-1-1".to_owned());
    assert_first(&d, "proj-1", 6, "c-1-1");
    // an id of another chain is lawful: event ids are unique per project (docs/FORMAT.md section 2)
    let (_dir, store) = forged_whole(6, |r| r.event.event_id = "c-0-1".to_owned());
    assert!(store.damage().is_empty(), "{:?}", store.damage());
}

/// A store of 2 projects and 8 contributions each whose proj-1 record `seq` is changed by `edit`,
/// every later hash recomputed, opened again.
fn forged_whole(seq: u64, mut edit: impl FnMut(&mut fiscus_ledger::record::Record)) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    build(dir.path(), 2, 8).close().expect("close");
    {
        let (db, tree) = open_tree(dir.path()).expect("tree");
        forge(
            &tree,
            |r| {
                if r.event.project.as_str() == "proj-1" && r.seq == seq {
                    edit(r);
                }
            },
            |_, _| {},
        );
        db.flush().expect("flush");
    }
    // the whole history is rewritten, so the synced head kept beside it would name another commit
    std::fs::remove_file(dir.path().join(fiscus_ledger::synced::SYNCED_FILE)).expect("remove the synced head");
    let (store, _) = Store::open(dir.path()).expect("open");
    (dir, store)
}

#[test]
fn a_non_period_closed_record_on_the_sponsor_chain_is_damage() {
    let (_dir, store) = reopened_after(
        |dir| {
            let mut store = build(dir, 2, 3);
            let close = event("close-2025", "sponsor", 5, EventKind::PeriodClosed { through: date(1) });
            store.commit(&request(vec![close])).expect("period closed");
            store
        },
        |tree| {
            forge(
                tree,
                |r| {
                    if r.event.project.as_str() == "sponsor" {
                        r.event.kind = EventKind::AdvanceRepaid { amount: usd("10") };
                    }
                },
                |_, _| {},
            )
        },
    );
    assert_first(store.damage(), "sponsor", 1, "PeriodClosed");
}

#[test]
fn a_well_hashed_illegal_history_is_damage_not_a_panic() {
    // a pledge of 10 then a fulfilment of 20 of it, every hash and link correct (issue 10, 2)
    let d = damaged(|tree| {
        forge(
            tree,
            |r| match (r.event.project.as_str(), r.seq) {
                ("proj-1", 2) => {
                    r.event.kind =
                        EventKind::PledgeRecorded { amount: usd("10"), sponsor: "Acme".to_owned(), due_date: date(40) }
                }
                ("proj-1", 3) => {
                    r.event.kind = EventKind::PledgeFulfilled { amount: usd("20"), pledge: 2, fee_bps: Some(700) }
                }
                _ => {}
            },
            |_, _| {},
        )
    });
    assert_first(&d, "proj-1", 3, "rules refuse");
    // an overdraft: a direct payment of more than the project holds
    let d = forged(4, |r| {
        r.event.kind = EventKind::ExpensePaid {
            request: None,
            details: Some(fiscus_ledger::event::ExpenseDetails {
                amount: usd("1000"),
                payee: "Venue".to_owned(),
                category: "venue".to_owned(),
                fund: Fund::Unrestricted,
                receipt: fiscus_ledger::event::Receipt { hash: [1; 32], file_name: "r.pdf".to_owned() },
            }),
        }
    });
    assert_first(&d, "proj-1", 4, "overdraft");
    // a completed field that is not what the rules give: a fee rate the project never had is
    // lawful (a request may name it), but a refund's fee share must be the rules' own
    let d = forged(5, |r| {
        r.event.kind = EventKind::RefundIssued {
            amount: usd("10"),
            contribution: 2,
            fund: Some(Fund::Unrestricted),
            fee_share: Some(Decimal::new(1, 2)),
        }
    });
    assert_first(&d, "proj-1", 5, "completes");
}

#[test]
fn a_record_key_past_the_index_range_is_damage_not_an_abort() {
    let d = damaged(|tree| {
        let v = value(tree, 4);
        tree.insert(tail_key("proj-1", 1 << 44), v.clone()).expect("insert");
        tree.insert(tail_key("proj-1", u64::MAX), v).expect("insert");
    });
    assert_eq!(d[0].project, "proj-1", "{d:?}");
}

/// A stored record dated after the day after it was recorded is not damage: events dated ahead
/// were accepted before that rule (2026-12-01), and a record is judged by the rules in force when
/// it was recorded. Checked on replay, the rule locked every store holding one (writes refused,
/// the chain's money not served, an old archive failing its audit); only new commits follow it.
#[test]
fn a_stored_record_dated_ahead_of_its_recording_is_lawful() {
    let (_dir, mut store) =
        forged_whole(9, |r| r.event.effective_date = chrono::NaiveDate::from_ymd_opt(2062, 5, 1).expect("date"));
    assert!(store.damage().is_empty(), "{:?}", store.damage());
    // a new commit dated so is refused
    let mut ahead = contribution("late", "proj-1", "1.00");
    ahead.effective_date = chrono::NaiveDate::from_ymd_opt(2062, 5, 1).expect("date");
    let err = store.commit(&request(vec![ahead])).expect_err("dated ahead");
    assert_eq!(err.field(), Some("events[0].effective_date"), "{err}");
}

/// Copies the files of a closed store's folder into a fresh one.
fn copy_store(from: &Path) -> tempfile::TempDir {
    let to = tempfile::tempdir().expect("tempdir");
    for entry in walk(from) {
        let relative = entry.strip_prefix(from).expect("inside");
        let target = to.path().join(relative);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).expect("folder");
        }
        std::fs::copy(&entry, &target).expect("copy");
    }
    to
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read folder") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// A store whose sled files lost their end (as sled recovers a log with a damaged record: up to
/// there) opens with its synced commits missing; the synced head kept beside them says so, and
/// the store refuses writes. A store whose history was replaced past it is caught the same way.
#[test]
fn a_store_behind_the_commits_it_synced_is_damaged() {
    let dir = tempfile::tempdir().expect("tempdir");
    build(dir.path(), 2, 1).close().expect("close");
    let before = copy_store(dir.path());
    let mut store = reopen(dir.path());
    store.commit(&request(vec![contribution("late-1", "proj-0", "7.00")])).expect("commit");
    store.commit(&request(vec![contribution("late-2", "proj-1", "8.00")])).expect("commit");
    let synced = store.projection().commit_head.number;
    store.close().expect("close");
    let kept = std::fs::read(dir.path().join("synced")).expect("the synced head is kept");

    // the earlier sled files with the later synced head
    std::fs::write(before.path().join("synced"), &kept).expect("write");
    let (mut lost, report) = Store::open(before.path()).expect("opens");
    let problem = report.damage.iter().find(|d| d.project == "commit log").expect("damage reported");
    assert_eq!(problem.seq, synced, "{problem:?}");
    assert!(problem.problem.contains(&format!("commit {synced} was synced")), "{problem:?}");
    assert!(lost.commit(&request(vec![contribution("more", "proj-0", "1.00")])).is_err(), "read-only");
    drop(lost);
    assert_eq!(std::fs::read(before.path().join("synced")).expect("kept"), kept, "the evidence is left as it was");

    // an empty synced head (its commits gone with it) is damage too, not a store without one
    std::fs::write(before.path().join("synced"), b"").expect("write");
    let (_, report) = Store::open(before.path()).expect("opens");
    let problem = report.damage.iter().find(|d| d.project == "commit log").expect("damage reported");
    assert!(problem.problem.contains("is empty"), "{problem:?}");

    // the same first commits, then others past the synced number: another history
    let other = tempfile::tempdir().expect("tempdir");
    let mut store = build(other.path(), 2, 1);
    for i in 0..3 {
        store.commit(&request(vec![contribution(&format!("other-{i}"), "proj-0", "1.00")])).expect("commit");
    }
    store.close().expect("close");
    std::fs::write(other.path().join("synced"), &kept).expect("write");
    let (_, report) = Store::open(other.path()).expect("opens");
    let problem = report.damage.iter().find(|d| d.project == "commit log").expect("damage reported");
    assert!(problem.problem.contains(&format!("commit {synced} is not")), "{problem:?}");

    // the store itself, untouched, opens sound
    let (_, report) = Store::open(dir.path()).expect("opens");
    assert!(report.damage.is_empty(), "{:?}", report.damage);
}

/// One flipped byte anywhere in a closed store's files never yields a store that opens with fewer
/// commits and no damage: it opens whole, or reports damage, or is refused as damaged. (sled
/// takes a record failing its checksum for the torn end of its log and drops the rest.)
#[test]
fn a_flipped_byte_in_the_store_files_never_loses_commits_quietly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = build(dir.path(), 2, 3);
    let commits = store.projection().commit_head.number;
    store.close().expect("close");
    let db = std::fs::read(dir.path().join("db")).expect("db");
    let mut quiet = Vec::new();
    for at in (0..db.len()).step_by(61) {
        let copy = copy_store(dir.path());
        let mut bytes = db.clone();
        bytes[at] ^= 0x10;
        std::fs::write(copy.path().join("db"), &bytes).expect("write");
        match Store::open(copy.path()) {
            Ok((store, report)) => {
                if store.projection().commit_head.number < commits && report.damage.is_empty() {
                    quiet.push((at, store.projection().commit_head.number));
                }
            }
            Err(LedgerError::Damaged { .. }) => {}
            Err(e) => panic!("a flip at {at}: {e}"),
        }
    }
    assert!(
        quiet.is_empty(),
        "{commits} commits; flips that opened with fewer and no damage (offset, commits): {quiet:?}"
    );
}
