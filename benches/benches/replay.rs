//! Criterion bench `replay`: a generated store of `FISCUS_BENCH_EVENTS` events (1,000,000 unless set)
//! replayed with full verification, and the parts alone: sled iteration, hashing, decoding, folding.
//!
//! `cargo bench -p fiscus-bench --bench replay`

#![allow(missing_docs, reason = "criterion_group! makes an undocumented function")]

use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use fiscus_bench::{build_store, full_pass, hash_pass};
use fiscus_ledger::chain::RecordHasher;
use fiscus_ledger::projection::Projection;
use fiscus_ledger::record::{Framed, RecordView};
use fiscus_ledger::store::{open_tree, parse_record_key};
use fiscus_ledger::ProjectId;
use fiscus_workload::{generate, WorkloadConfig};

fn events() -> u64 {
    std::env::var("FISCUS_BENCH_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000)
}

fn store_dir(n: u64) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fiscus-criterion-replay-{n}-layout-{}", fiscus_ledger::store::LAYOUT));
    let marker = dir.join("built");
    if !marker.exists() {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("bench store directory");
        let config = WorkloadConfig::new(n, 1);
        build_store(&dir, generate(&config), fiscus_bench::BUILD_GROUP_REQUESTS, |_| {}).expect("bench store builds");
        std::fs::write(&marker, b"").expect("marker");
    }
    dir
}

/// Every stored record's bytes with its project, read once into memory for the part benches.
fn load(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let (_db, tree) = open_tree(dir).expect("open");
    let mut out = Vec::new();
    let mut unpacker = fiscus_ledger::pack::Unpacker::new();
    for item in tree.scan_prefix(b"r").chain(tree.scan_prefix(b"t")) {
        let (key, value) = item.expect("read");
        let (project, _) = parse_record_key(&key).expect("record key");
        let value = unpacker.unpack(&value).expect("a readable chunk");
        for bytes in Framed::new(&value) {
            out.push((project.to_owned(), bytes.expect("framing").to_vec()));
        }
    }
    out
}

fn replay(c: &mut Criterion) {
    let n = events();
    let dir = store_dir(n);
    let records = load(&dir);
    let mut g = c.benchmark_group("replay");
    g.sample_size(10);
    g.throughput(Throughput::Elements(records.len() as u64));

    g.bench_function("full_verify", |b| b.iter(|| full_pass(&dir, 2).expect("verifies")));
    g.bench_function("full_verify_1_thread", |b| b.iter(|| full_pass(&dir, 1).expect("verifies")));
    g.bench_function("hash_only", |b| b.iter(|| hash_pass(&dir).expect("hashes")));
    g.bench_function("sled_iterate", |b| {
        b.iter(|| {
            let (_db, tree) = open_tree(&dir).expect("open");
            tree.scan_prefix(b"r").chain(tree.scan_prefix(b"t")).map(|i| i.expect("read").1.len()).sum::<usize>()
        })
    });
    g.bench_function("hash", |b| {
        let mut h = RecordHasher::new();
        b.iter(|| records.iter().fold(0u8, |acc, (_, r)| acc ^ h.hash(r)[0]))
    });
    g.bench_function("decode", |b| {
        b.iter(|| records.iter().map(|(_, r)| RecordView::decode(r).expect("decodes").seq).sum::<u64>())
    });
    let decoded: Vec<_> = records
        .iter()
        .map(|(p, r)| {
            let v = RecordView::decode(r).expect("decodes");
            (ProjectId::parse("p", p).expect("id"), v.seq, v.effective_date, v.actor.to_owned(), v.kind)
        })
        .collect();
    g.bench_function("fold", |b| {
        b.iter(|| {
            let mut projection = Projection::new();
            let mut current: Option<&ProjectId> = None;
            for (p, seq, date, actor, kind) in &decoded {
                if current != Some(p) {
                    current = Some(p);
                }
                projection.chain_mut(p).apply(*seq, [0; 32], *date, actor, kind);
            }
            projection.events
        })
    });
    g.finish();
}

criterion_group!(benches, replay);
criterion_main!(benches);
