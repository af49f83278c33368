//! `fiscus demo --events N`: a generated year is summed up in a bounded number of lines (totals
//! per currency, the busiest projects, one month's statement), and the output says where the store
//! is and how to remove it; a temporary store is removed unless `--keep` is given.

use std::path::Path;

mod common;
use common::{json, ok};

/// Most lines the summary of a generated year may print, whatever its size (the whole year's
/// balances and statement ran to 2,311 lines for 100,000 events).
const SUMMARY_LINES_MAX: usize = 100;

/// The directory the output names after `marker` (up to the next space, `.` or `;` ending it).
fn named_dir(out: &str, marker: &str) -> String {
    let at = out.find(marker).unwrap_or_else(|| panic!("no {marker:?} in:\n{out}")) + marker.len();
    let rest = &out[at..];
    let end = rest.find(|c: char| c.is_whitespace() || c == ',').unwrap_or(rest.len());
    rest[..end].trim_end_matches('.').to_owned()
}

#[test]
fn a_generated_year_is_summed_up_and_its_temporary_store_removed() {
    let out = ok(&["demo", "--events", "6000", "--seed", "3"]);
    let lines = out.lines().count();
    assert!(lines <= SUMMARY_LINES_MAX, "{lines} lines:\n{out}");
    for want in [
        "Generated 6000 events of ",
        "Totals per currency, over all projects:",
        "The 5 busiest projects (events: ",
        "Statement of ",
        "Closing balance",
        "Verified: 6000 records",
    ] {
        assert!(out.contains(want), "the summary lacks {want:?}:\n{out}");
    }
    // Totals name each currency once, and the statement is one month's.
    assert!(out.contains("2026-12-01 to 2026-12-31"), "{out}");
    let dir = named_dir(&out, "The store was a temporary directory, ");
    assert!(!Path::new(&dir).exists(), "{dir} was not removed:\n{out}");
    assert!(out.contains("give --keep (or --store DIR) to keep it"), "{out}");
}

#[test]
fn a_kept_or_given_store_is_named_with_how_to_remove_it() {
    let out = ok(&["demo", "--events", "600", "--keep"]);
    let dir = named_dir(&out, "The store is in ");
    assert!(Path::new(&dir).is_dir(), "{dir} was not kept:\n{out}");
    assert!(out.contains(&format!("Remove it when done: rm -r {dir}")), "{out}");
    assert!(out.contains(&format!("fiscus --store {dir} projects")), "{out}");
    let verify = json(&["verify", "--store", &dir]);
    assert_eq!(verify["events"], 600);
    std::fs::remove_dir_all(&dir).expect("remove the kept store");

    let tmp = tempfile::tempdir().expect("temp dir");
    let given = tmp.path().join("books").display().to_string();
    let v = json(&["demo", "--store", &given, "--events", "300"]);
    assert_eq!(v["store_kept"], true);
    assert!(Path::new(&given).is_dir());
    let out = ok(&["demo", "--store", &tmp.path().join("more").display().to_string(), "--events", "300"]);
    assert!(out.contains("Remove it when done: rm -r "), "{out}");
}
