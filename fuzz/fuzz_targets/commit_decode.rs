//! The commit entry decoder on arbitrary bytes: Ok or Err, never a panic, and what it accepts
//! encodes back to the same bytes.
#![no_main]

use fiscus_ledger::record::{encode_value, CommitEntry, CommitView, Framed};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(view) = CommitView::decode(data) {
        let entry = CommitEntry::from(&view);
        assert_eq!(encode_value(&entry), data, "a decoded commit entry encodes to other bytes");
    }
    // the same bytes as a stored value of framed entries
    for item in Framed::commits(data) {
        let Ok(bytes) = item else { break };
        let _ = CommitView::decode(bytes);
    }
});
