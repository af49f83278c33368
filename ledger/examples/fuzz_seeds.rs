//! Seed inputs for the fuzz targets in `fuzz/` from the demo year: real records (`record_decode`),
//! commit entries (`commit_decode`) and each chain's record bodies (`chain_verify`: a project byte,
//! then per record a u16 LE length and the bytes after its chain fields).
//!
//! `cargo run -p fiscus-ledger --example fuzz_seeds -- fuzz/corpus`

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use fiscus_ledger::commit::{Group, MemoryLedger};
use fiscus_ledger::record::{encode_value, RecordView};

fn write(dir: &Path, name: String, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join(name), bytes)
}

fn varint(out: &mut Vec<u8>, v: u64) {
    match v {
        0..=250 => out.push(v as u8),
        251..=0xffff => {
            out.push(251);
            out.extend_from_slice(&(v as u16).to_le_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(252);
            out.extend_from_slice(&(v as u32).to_le_bytes());
        }
        _ => {
            out.push(253);
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
}

/// The bytes of a record after its chain fields (version, project, seq, prev, commit, recorded_at).
fn body_of(bytes: &[u8]) -> Option<Vec<u8>> {
    let view = RecordView::decode(bytes).ok()?;
    let mut fields = vec![1u8];
    varint(&mut fields, view.project.len() as u64);
    fields.extend_from_slice(view.project);
    varint(&mut fields, view.seq);
    fields.push(32);
    fields.extend_from_slice(&view.prev);
    varint(&mut fields, view.commit);
    varint(&mut fields, ((view.recorded_at << 1) ^ (view.recorded_at >> 63)) as u64);
    bytes.strip_prefix(fields.as_slice()).map(<[u8]>::to_vec)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "fuzz/corpus".to_owned()));
    let mut ledger = MemoryLedger::default();
    let mut chains: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for (n, req) in fiscus_workload::demo_year().iter().enumerate() {
        let mut group = Group::new(&ledger.projection);
        group.stage(req, &ledger.lookup)?;
        let commits = ledger.projection.absorb(group.finish());
        ledger.lookup.absorb(&commits);
        for c in &commits {
            write(&root.join("commit_decode"), format!("demo-{n}"), &encode_value(&c.entry))?;
            for r in &c.records {
                let project = r.event.project.as_str();
                write(&root.join("record_decode"), format!("{project}-{}", r.seq), &r.bytes)?;
                let Some(body) = body_of(&r.bytes) else { continue };
                // the chain target's first byte picks its project: 0 a project, 1 the sponsor chain
                let chain = chains.entry(project.to_owned()).or_insert_with(|| vec![u8::from(project == "sponsor")]);
                if chain.len() < 16 * 1024 {
                    chain.extend_from_slice(&u16::try_from(body.len())?.to_le_bytes());
                    chain.extend_from_slice(&body);
                }
            }
        }
    }
    for (project, chain) in chains {
        write(&root.join("chain_verify"), format!("demo-{project}"), &chain)?;
    }
    Ok(())
}
