//! `fiscus import csv`: arbitrary bytes as a CSV export, through the command line's own parser
//! (`fiscus_cli::import::parse`). It answers rows (below the header, each a well-formed request) or
//! errors naming a line: a bad header alone, or at most `ROW_ERRORS_MAX` bad rows. Never a panic.

#![no_main]

use fiscus_cli::import::{parse, ROW_ERRORS_MAX};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match parse(data, &mut |_| {}) {
        Ok(rows) => {
            for r in &rows {
                assert!(r.line >= 2, "a row is below the header");
                if let Err(err) = r.event.validate("") {
                    panic!("line {}: the import answered an event the ledger refuses in shape: {err}", r.line);
                }
            }
        }
        Err(errors) => {
            assert!(!errors.is_empty(), "a refusal says why");
            let header = errors.iter().all(|e| e.line == 1);
            assert!(header || errors.len() <= ROW_ERRORS_MAX, "{} errors; at most {ROW_ERRORS_MAX} rows", errors.len());
        }
    }
});
