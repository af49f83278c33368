//! Chain verification on arbitrary, correctly hashed and linked records: the input is split into
//! record bodies (everything after the chain fields), and the target writes the chain fields itself
//! (format byte, project, seq, the hash of the record before, commit, recorded_at), so every record
//! hashes and links and the fuzzer explores the events. Verification answers Ok or an error naming
//! the project and a seq of the chain, never a panic.
#![no_main]

use fiscus_fuzz::{chain, PROJECTS};
use fiscus_ledger::LedgerError;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((project, records)) = chain(data) else { return };
    let id = fiscus_ledger::ProjectId::parse("project", PROJECTS[project]).expect("a valid id");
    match fiscus_ledger::verify::verify_chain(&id, records.iter().map(Vec::as_slice)) {
        Ok(state) => assert_eq!(state.head.seq, records.len() as u64),
        Err(LedgerError::Corrupt { project: p, seq, .. }) => {
            assert_eq!(p, id.as_str());
            assert!(seq >= 1 && seq <= records.len() as u64, "seq {seq} of {}", records.len());
        }
        Err(other) => panic!("not a verification error: {other}"),
    }
});
