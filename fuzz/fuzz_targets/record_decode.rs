//! The record decoder on arbitrary bytes: it answers Ok or Err, never panics, and what it accepts
//! encodes back to the same bytes (one encoding per value, docs/FORMAT.md section 1).
#![no_main]

use fiscus_ledger::record::{Record, RecordView};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let view = RecordView::decode(data);
    if let Ok(record) = Record::decode(data) {
        assert!(view.is_ok(), "the owned decoder accepts what the view refuses");
        assert_eq!(record.encode(), data, "a decoded record encodes to other bytes");
    }
});
