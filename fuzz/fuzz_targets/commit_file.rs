//! `fiscus record --file`: arbitrary bytes as a commit file's text, through the command line's own
//! parser (`fiscus_cli::record::parse_commit_file`). It answers events or an error, never panics;
//! the events it answers are well-formed requests (`Event::validate`).
//!
//! Receipt files are read relative to a folder that does not exist, and an input naming a receipt
//! by an absolute path is skipped, so no input reads a real file.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

/// True when some event of the commit file names its receipt file by an absolute path.
fn names_an_absolute_path(text: &str) -> bool {
    let Ok(file) = serde_json::from_str::<serde_json::Value>(text) else { return false };
    let Some(events) = file.get("events").and_then(|e| e.as_array()) else { return false };
    events.iter().any(|e| e.get("receipt").and_then(|r| r.as_str()).is_some_and(|r| Path::new(r).is_absolute()))
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if names_an_absolute_path(text) {
        return;
    }
    let base = Path::new("/nonexistent/fiscus-fuzz");
    if let Ok((events, _expected)) = fiscus_cli::record::parse_commit_file(text, base, "fuzz.json") {
        for (i, e) in events.iter().enumerate() {
            if let Err(err) = e.validate(&format!("events[{i}]")) {
                panic!("the commit file parser answered an event the ledger refuses in shape: {err}");
            }
        }
    }
});
