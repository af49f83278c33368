//! Criterion bench `tlog`: the transparency log's tree and its signatures, in memory.
//!
//! - `append`: appending leaves to a tree (stored hashes written, `hashes_to_append`);
//! - `inclusion` / `consistency`: building a proof from the stored hashes of a tree of 1,023 and
//!   of 1,048,575 leaves, and verifying it (RFC 9162);
//! - `checkpoint`: signing a checkpoint note (Ed25519), opening a signed checkpoint, cosigning;
//! - `ledger_log`: the ledger's log over 10,000 projects (`fiscus_ledger::log`): appending a commit
//!   of one record (map update and log leaf), building and verifying a project's head proof (the
//!   inclusion of the last log leaf and the map proof) after 10,000 and after 1,000,000 commits, a
//!   group of 64 commits to 64 projects with the checkpoint after it built and signed, and the
//!   copy of the project-heads map the daemon publishes per group (persistent: a pointer copy)
//!   next to a copy of the same map kept in flat arrays and a hash map (as it was kept before).
//!
//! `cargo bench -p fiscus-bench --bench tlog`

#![allow(missing_docs, reason = "criterion_group! makes an undocumented function")]

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use fiscus_tlog::tree::hashes_to_append;
use fiscus_tlog::{
    leaf_hash, open_checkpoint, verify_consistency, verify_inclusion, Checkpoint, Cosigner, Hash, MemoryTree,
    NoteSigner,
};

/// 2^20 - 1 leaves: every proof has its full 20 levels and the rightmost edge is ragged.
const TREE_LEAVES: u64 = (1 << 20) - 1;

fn leaves(n: u64, salt: u64) -> Vec<Hash> {
    (0..n).map(|i| leaf_hash(&(i ^ salt).to_be_bytes())).collect()
}

fn big_tree() -> MemoryTree {
    let mut tree = MemoryTree::new();
    tree.append_all(&leaves(TREE_LEAVES, 0));
    tree
}

fn append(c: &mut Criterion) {
    let mut group = c.benchmark_group("append");
    let batch = leaves(4_096, 1);
    group.throughput(Throughput::Elements(batch.len() as u64));
    group.bench_function("4096_leaves_into_empty_tree", |b| {
        b.iter_batched(MemoryTree::new, |mut tree| tree.append_all(&batch), BatchSize::SmallInput)
    });
    let tree = big_tree();
    let group_of_64 = leaves(64, 2);
    group.throughput(Throughput::Elements(64));
    group.bench_function("64_leaves_onto_1M_tree", |b| {
        b.iter(|| hashes_to_append(tree.size(), &group_of_64, &tree).expect("stored hashes present"))
    });
    group.finish();
}

fn small_proofs(c: &mut Criterion) {
    const SMALL: u64 = 1_023;
    let mut tree = MemoryTree::new();
    tree.append_all(&leaves(SMALL, 3));
    let root = tree.root();
    let index = 701;
    let leaf = tree.leaf(index).expect("leaf");
    let mut group = c.benchmark_group("inclusion");
    group.bench_function("build_1k", |b| b.iter(|| tree.inclusion_proof(index, SMALL).expect("proof")));
    let proof = tree.inclusion_proof(index, SMALL).expect("proof");
    group.bench_function("verify_1k", |b| b.iter(|| verify_inclusion(&leaf, index, SMALL, &proof, &root).expect("ok")));
    group.finish();
    let old = 513;
    let old_root = tree.root_at(old).expect("root");
    let mut group = c.benchmark_group("consistency");
    group.bench_function("build_513_to_1k", |b| b.iter(|| tree.consistency_proof(old, SMALL).expect("proof")));
    let proof = tree.consistency_proof(old, SMALL).expect("proof");
    group.bench_function("verify_513_to_1k", |b| {
        b.iter(|| verify_consistency(old, SMALL, &old_root, &root, &proof).expect("verifies"))
    });
    group.finish();
}

fn proofs(c: &mut Criterion) {
    let tree = big_tree();
    let root = tree.root();
    let index = 700_001;
    let leaf = tree.leaf(index).expect("leaf");
    let mut group = c.benchmark_group("inclusion");
    group.bench_function("build_1M", |b| b.iter(|| tree.inclusion_proof(index, TREE_LEAVES).expect("proof")));
    let proof = tree.inclusion_proof(index, TREE_LEAVES).expect("proof");
    group.bench_function("verify_1M", |b| {
        b.iter(|| verify_inclusion(&leaf, index, TREE_LEAVES, &proof, &root).expect("verifies"))
    });
    group.finish();

    let old = 524_289;
    let old_root = tree.root_at(old).expect("root");
    let mut group = c.benchmark_group("consistency");
    group.bench_function("build_524289_to_1M", |b| b.iter(|| tree.consistency_proof(old, TREE_LEAVES).expect("proof")));
    let proof = tree.consistency_proof(old, TREE_LEAVES).expect("proof");
    group.bench_function("verify_524289_to_1M", |b| {
        b.iter(|| verify_consistency(old, TREE_LEAVES, &old_root, &root, &proof).expect("verifies"))
    });
    group.bench_function("root_of_1M", |b| b.iter(|| tree.root_at(TREE_LEAVES).expect("root")));
    group.finish();
}

fn checkpoints(c: &mut Criterion) {
    let signer = NoteSigner::from_seed("bench.example/ledger", [7; 32]).expect("key");
    let witness = Cosigner::from_seed("bench.example/witness", [8; 32]).expect("key");
    let checkpoint = Checkpoint::new("bench.example/ledger", TREE_LEAVES, leaf_hash(b"root")).expect("checkpoint");
    let mut group = c.benchmark_group("checkpoint");
    group.bench_function("sign", |b| b.iter(|| checkpoint.sign(&signer).expect("signs").to_text()));
    let text = checkpoint.sign(&signer).expect("signs").to_text();
    let known = [signer.verifier()];
    group.bench_function("open_and_verify", |b| {
        b.iter(|| open_checkpoint(&text, "bench.example/ledger", &known).expect("opens"))
    });
    let body = checkpoint.body();
    group.bench_function("cosign", |b| b.iter(|| witness.cosign(&body, 1_764_460_800).expect("cosigns")));
    group.finish();
}

fn ledger_log(c: &mut Criterion) {
    use fiscus_ledger::chain::commit_hash;
    use fiscus_ledger::log::LedgerLog;
    use fiscus_ledger::record::{CommitEntry, Listed, FORMAT_VERSION};

    const PROJECTS: u64 = 10_000;
    let entry = |number: u64, project: u64, seq: u64| -> CommitEntry {
        let records = vec![Listed {
            project: format!("project-{project}"),
            seq,
            hash: *blake3::hash(&number.to_be_bytes()).as_bytes(),
        }];
        let hash = commit_hash(&[0; 32], number, records.iter().map(|r| &r.hash));
        CommitEntry { version: FORMAT_VERSION, number, recorded_at: 0, records, hash }
    };
    let mut log = LedgerLog::new();
    for number in 1..=PROJECTS {
        log.append(&entry(number, number - 1, 1)).expect("in order");
    }
    let key = NoteSigner::from_seed("bench.example/ledger", [7; 32]).expect("key");
    let mut group = c.benchmark_group("ledger_log");
    group.bench_function("append_commit_of_1_record_10000_projects", |b| {
        b.iter_batched(
            || log.clone(),
            // the log is handed back, so that its drop is not timed
            |mut log| {
                log.append(&entry(PROJECTS + 1, 4_321, 2)).expect("in order");
                log
            },
            BatchSize::LargeInput,
        )
    });
    group.bench_function("head_proof_build_10000_projects", |b| {
        b.iter(|| log.head_proof("project-4321").expect("a head"))
    });
    let checkpoint = Checkpoint::new("bench.example/ledger", log.size(), log.root()).expect("checkpoint");
    let proof = log.head_proof("project-4321").expect("a head");
    group.bench_function("head_proof_verify_10000_projects", |b| {
        b.iter(|| proof.verify("project-4321", &checkpoint).expect("verifies"))
    });
    group.bench_function("checkpoint_sign_10000_projects", |b| {
        b.iter(|| Checkpoint::new("bench.example/ledger", log.size(), log.root()).expect("c").sign(&key).expect("s"))
    });
    // A commit group as the writer makes one: 64 commits, each a record of another project, into
    // the map and the log, then the checkpoint after the group built and signed.
    let size = log.size();
    let commits: Vec<CommitEntry> = (1..=64).map(|i| entry(size + i, i * 151 % PROJECTS, 2)).collect();
    group.throughput(Throughput::Elements(64));
    group.bench_function("group_of_64_commits_and_checkpoint_10000_projects", |b| {
        b.iter_batched(
            || log.clone(),
            |mut log| {
                for c in &commits {
                    log.append(c).expect("in order");
                }
                let note =
                    Checkpoint::new("bench.example/ledger", log.size(), log.root()).expect("c").sign(&key).expect("s");
                (log, note)
            },
            BatchSize::LargeInput,
        )
    });
    group.throughput(Throughput::Elements(1));
    // What the daemon copies per group to publish the log: the persistent map ...
    group.bench_function("publish_heads_map_10000_projects", |b| b.iter(|| log.map().clone()));
    // ... next to the same map in flat levels, a hash map and a list of heads, copied whole.
    let mut dense = fiscus_tlog::dense::DenseTree::new();
    let mut index = std::collections::HashMap::new();
    let mut heads = Vec::new();
    for (at, chain) in log.map().chains() {
        dense.push(leaf_hash(chain.as_bytes()));
        index.insert(chain.to_owned(), at);
        heads.push((chain.to_owned(), 1u64, [0u8; 32]));
    }
    let flat = (dense, index, heads);
    group.bench_function("copy_flat_heads_map_10000_projects", |b| b.iter(|| flat.clone()));
    group.finish();

    // A log of a million commits over the same 10,000 projects.
    let mut big = LedgerLog::new();
    for number in 1..=1_000_000u64 {
        let project = (number - 1) % PROJECTS;
        big.append(&entry(number, project, 1 + (number - 1) / PROJECTS)).expect("in order");
    }
    let mut group = c.benchmark_group("ledger_log_1M_commits");
    group.bench_function("head_proof_build_10000_projects", |b| {
        b.iter(|| big.head_proof("project-4321").expect("a head"))
    });
    let checkpoint = Checkpoint::new("bench.example/ledger", big.size(), big.root()).expect("checkpoint");
    let proof = big.head_proof("project-4321").expect("a head");
    group.bench_function("head_proof_verify_10000_projects", |b| {
        b.iter(|| proof.verify("project-4321", &checkpoint).expect("verifies"))
    });
    group.finish();
}

criterion_group!(benches, append, small_proofs, proofs, checkpoints, ledger_log);
criterion_main!(benches);
