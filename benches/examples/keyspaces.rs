//! Prints the live bytes of each keyspace of a store (keys and values), to see where its size goes.
//!
//! `cargo run --release -p fiscus-bench --example keyspaces -- DIR`

fn main() {
    let dir = std::env::args().nth(1).expect("usage: keyspaces DIR");
    let (db, tree) = fiscus_ledger::store::open_tree(std::path::Path::new(&dir)).expect("open");
    let mut sizes = std::collections::BTreeMap::new();
    for item in tree.iter() {
        let (k, v) = item.expect("read");
        let e = sizes.entry(k[0] as char).or_insert((0u64, 0u64, 0u64));
        e.0 += 1;
        e.1 += k.len() as u64;
        e.2 += v.len() as u64;
    }
    for (space, (n, k, v)) in sizes {
        println!("{space}: {n} entries, {k} key bytes, {v} value bytes");
    }
    println!("sled size_on_disk: {:?}", db.size_on_disk());
}
