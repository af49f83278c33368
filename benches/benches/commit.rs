//! Criterion bench `commit`: the latency of one durable commit on the store (validation, the
//! group's batch with its log leaves, tree hashes and signed checkpoint, write, flush and sync),
//! plus the copy of the log state the daemon publishes after each group, with 10 and with 10,000
//! projects open, in temporary directories; and a commit's receipt (the signed checkpoint, the
//! commit's records, its log leaf and inclusion proof) made from the published log in memory,
//! next to the same receipt read from the store (what the daemon did for every `RecordCommit`,
//! and still does for a commit older than the groups the published log keeps). Last, the writer
//! thread's CPU time for one group of 20 commits with the log and without it (`group/`), run with
//! fiscusd's allocator.
//!
//! `cargo bench -p fiscus-bench --bench commit`

#![allow(missing_docs, reason = "criterion_group! makes an undocumented function")]

use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDate;
use criterion::{criterion_group, criterion_main, Criterion};
use fiscus_ledger::commit::CommitRequest;
use fiscus_ledger::event::{Event, EventKind, Fund, ProjectKind, Source};
use fiscus_ledger::money::{Currency, Money};
use fiscus_ledger::store::{LogSigner, Store};
use fiscus_ledger::ProjectId;
use fiscus_tlog::NoteSigner;
use rust_decimal::Decimal;

/// fiscusd's allocator, so that the writer's allocations cost here what they cost in the daemon.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn event(id: String, project: &str, kind: EventKind) -> Event {
    Event {
        event_id: id,
        project: ProjectId::parse("project", project).expect("a project id"),
        effective_date: NaiveDate::from_ymd_opt(2026, 1, 10).expect("a date"),
        memo: "bench".to_owned(),
        reference: None,
        kind,
    }
}

fn request(events: Vec<Event>) -> CommitRequest {
    CommitRequest {
        allow_same_receipt: false,
        events,
        expected_heads: vec![],
        actor: "accountant:bench".to_owned(),
        recorded_at: 1_764_460_800,
    }
}

fn opened(project: &str) -> Event {
    event(
        format!("open-{project}"),
        project,
        EventKind::ProjectOpened {
            name: format!("Project {project}"),
            kind: ProjectKind::Conference,
            fee_bps: 500,
            currency: Currency::from_code("USD").expect("USD"),
            advance_limit: Decimal::ZERO,
        },
    )
}

fn gift(id: u64, project: &str) -> Event {
    event(
        format!("gift-{id}"),
        project,
        EventKind::ContributionReceived {
            amount: Money::parse("amount", "10.00", "USD").expect("an amount"),
            from: "Bench Donor".to_owned(),
            source: Source::Donation,
            fund: Fund::Unrestricted,
            fee_bps: None,
        },
    )
}

/// A store with a log key and `projects` open projects (opened 1,000 per group).
fn store(dir: &std::path::Path, projects: usize) -> (Store, Vec<String>) {
    store_with(dir, projects, true)
}

/// A store with `projects` open projects, with its transparency log or (`log` false) without it,
/// as `fiscusd --measure-without-log` writes one.
fn store_with(dir: &std::path::Path, projects: usize, log: bool) -> (Store, Vec<String>) {
    let (mut store, _) = Store::open(dir).expect("a store");
    if !log {
        store.measure_without_log().expect("a store without commits");
    }
    let signer = NoteSigner::from_seed("bench.example/fiscus", [7; 32]).expect("a key");
    store.set_log_signer(LogSigner { origin: "bench.example/fiscus".to_owned(), signer }).expect("signer");
    let names: Vec<String> = (0..projects).map(|i| format!("p{i:05}")).collect();
    for chunk in names.chunks(1_000) {
        let requests: Vec<CommitRequest> = chunk.iter().map(|p| request(vec![opened(p)])).collect();
        for answer in store.commit_group(&requests).expect("stored") {
            answer.expect("opened");
        }
    }
    (store, names)
}

fn commit(c: &mut Criterion) {
    let mut group = c.benchmark_group("commit");
    group.sample_size(30).measurement_time(Duration::from_secs(10));
    let mut kept = None;
    for projects in [10, 10_000] {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let (mut store, names) = store(dir.path(), projects);
        let mut next = 0u64;
        group.bench_function(format!("one_event_durable_and_published_{projects}_projects"), |b| {
            b.iter(|| {
                next += 1;
                let project = &names[(next as usize * 7_919) % names.len()];
                store.commit(&request(vec![gift(next, project)])).expect("committed");
                // what the writer publishes after the group
                Arc::new(store.log().clone())
            })
        });
        kept = Some((store, dir));
    }
    group.finish();
    if let Some((store, _dir)) = kept {
        receipts(c, &store);
    }
    groups(c);
}

/// The writer's share of the log's cost, without the network: one group of 20 one-event commits
/// over 16 projects (what a group holds in `fiscus-bench logcost --clients 64`), durable and
/// published, with the log (leaves, map and tree hashes, the signed checkpoint, the group kept for
/// receipts) and without it (`Store::measure_without_log`). The time is the CPU time of the thread
/// that commits (the writer's), not the wall time: the wait for the disk's sync, which is most of
/// the wall time and varies the most, is left out.
fn groups(c: &mut Criterion) {
    let mut group = c.benchmark_group("group");
    group.sample_size(50).measurement_time(Duration::from_secs(10));
    for log in [true, false] {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let (mut store, names) = store_with(dir.path(), 16, log);
        let mut next = 0u64;
        let name = if log { "20_commits_16_projects_with_log" } else { "20_commits_16_projects_without_log" };
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let started = thread_cpu();
                for _ in 0..iters {
                    let requests: Vec<CommitRequest> = (0..20)
                        .map(|_| {
                            next += 1;
                            request(vec![gift(next, &names[(next as usize * 7) % names.len()])])
                        })
                        .collect();
                    for answer in store.commit_group(&requests).expect("stored") {
                        answer.expect("committed");
                    }
                    std::hint::black_box((Arc::new(store.log().clone()), Arc::new(store.projection().clone())));
                }
                thread_cpu().saturating_sub(started)
            })
        });
    }
    group.finish();
}

/// The parts of the last commit's receipt (with its records' bytes), from memory and from the
/// store (`Reader::receipt_parts`).
fn receipts(c: &mut Criterion, store: &Store) {
    let log = store.log().clone();
    let reader = store.reader();
    let (size, commit) = (log.size, log.size);
    let mut group = c.benchmark_group("receipt");
    group.bench_function(format!("from_published_log_{size}_commits"), |b| {
        b.iter(|| log.receipt(commit).expect("a commit of the last group"))
    });
    group.bench_function(format!("from_store_{size}_commits"), |b| {
        b.iter(|| reader.receipt_parts(commit, size).expect("read"))
    });
    group.finish();
}

/// CPU time the calling thread has used (Linux's `/proc/thread-self/schedstat`, first field, ns).
fn thread_cpu() -> Duration {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").expect("schedstat (Linux)");
    let ns = text.split_whitespace().next().and_then(|f| f.parse().ok()).expect("a run time in ns");
    Duration::from_nanos(ns)
}

criterion_group!(benches, commit);
criterion_main!(benches);
