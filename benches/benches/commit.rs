//! Criterion bench `commit`: the latency of one durable commit on the store (validation, the
//! group's batch with its log leaves, tree hashes and signed checkpoint, write, flush and sync),
//! plus the copy of the log state the daemon publishes after each group, with 10 and with 10,000
//! projects open, in temporary directories; and a commit's receipt (the signed checkpoint, the
//! commit's records, its log leaf and inclusion proof) made from the published log in memory,
//! next to the same receipt read from the store (what the daemon did for every `RecordCommit`,
//! and still does for a commit older than the groups the published log keeps).
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
    let (mut store, _) = Store::open(dir).expect("a store");
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

criterion_group!(benches, commit);
criterion_main!(benches);
