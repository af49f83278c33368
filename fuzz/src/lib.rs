//! Helpers of the fuzz targets: building correctly hashed chains around fuzzed record bodies.

use fiscus_ledger::chain::{genesis_hash, record_hash, Hash};
use fiscus_ledger::ProjectId;

/// The chains a fuzzed input may name (its first byte, modulo their number).
pub const PROJECTS: [&str; 2] = ["fuzz-project", "sponsor"];

/// Most records one input builds.
pub const RECORDS_MAX: usize = 64;

/// When the chain fields say the records were recorded (2026-01-05T09:00:00Z, µs).
pub const RECORDED_AT: i64 = 1_767_603_600_000_000;

/// The chain fields of record `seq` of `project` after a record hashed `prev`, in stored form:
/// format byte, project, seq, prev, commit (= seq), recorded_at.
pub fn chain_fields(project: &str, seq: u64, prev: &Hash) -> Vec<u8> {
    let mut out = vec![1u8];
    varint(&mut out, project.len() as u64);
    out.extend_from_slice(project.as_bytes());
    varint(&mut out, seq);
    out.push(32);
    out.extend_from_slice(prev);
    varint(&mut out, seq);
    varint(&mut out, (RECORDED_AT as u64) << 1);
    out
}

/// bincode's varint, shortest form.
pub fn varint(out: &mut Vec<u8>, v: u64) {
    if v <= 250 {
        out.push(v as u8);
    } else if v < 1 << 16 {
        out.push(251);
        out.extend_from_slice(&(v as u16).to_le_bytes());
    } else if v < 1 << 32 {
        out.push(252);
        out.extend_from_slice(&(v as u32).to_le_bytes());
    } else {
        out.push(253);
        out.extend_from_slice(&v.to_le_bytes());
    }
}

/// Splits `data` into a chain: the first byte picks the project, then each body is a u16 LE
/// length and that many bytes. Returns the project's index and the records, chain fields written
/// and linked by their hashes.
pub fn chain(data: &[u8]) -> Option<(usize, Vec<Vec<u8>>)> {
    let (&pick, mut rest) = data.split_first()?;
    let project = usize::from(pick) % PROJECTS.len();
    let id = ProjectId::parse("project", PROJECTS[project]).ok()?;
    let mut prev = genesis_hash(&id);
    let mut records = Vec::new();
    while records.len() < RECORDS_MAX {
        let Some((len, tail)) = rest.split_first_chunk::<2>() else { break };
        let len = usize::from(u16::from_le_bytes(*len)).min(tail.len());
        let (body, tail) = tail.split_at(len);
        rest = tail;
        let mut bytes = chain_fields(PROJECTS[project], records.len() as u64 + 1, &prev);
        bytes.extend_from_slice(body);
        prev = record_hash(&bytes);
        records.push(bytes);
    }
    Some((project, records))
}
