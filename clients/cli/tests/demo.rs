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

/// Runs `fiscus args…` and answers (exit code, stdout, stderr), or kills it and fails the test after
/// `seconds`: what is refused at once must not run a demo until killed.
fn run_within(args: &[&str], seconds: u64) -> (i32, String, String) {
    // A demo killed here leaves its store in this folder, removed with it.
    let tmp = tempfile::tempdir().expect("temp dir");
    let child = common::fiscus()
        .env("TMPDIR", tmp.path())
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("fiscus runs");
    let pid = child.id().to_string();
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    match finished.recv_timeout(std::time::Duration::from_secs(seconds)) {
        Ok(out) => {
            let out = out.expect("fiscus exits");
            let code = out.status.code().expect("fiscus exits, not killed");
            (code, String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
        }
        Err(_) => {
            let _ = std::process::Command::new("kill").args(["-KILL", &pid]).status();
            panic!("fiscus {args:?} still ran after {seconds} s");
        }
    }
}

#[test]
fn events_beyond_the_bound_are_refused_naming_the_flag() {
    for too_many in ["99999999999999999", "10000001"] {
        let (code, out, err) = run_within(&["demo", "--events", too_many], 30);
        assert_eq!(code, 2, "{out}\n{err}");
        assert!(err.contains("--events") && err.contains("at most 10,000,000"), "{err}");
        assert!(out.is_empty(), "{out}");
    }
    let help = ok(&["demo", "--help"]);
    assert!(help.contains("at most 10,000,000"), "{help}");
}

/// The `fiscus-demo-*` folders in `dir`.
fn demo_dirs(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("read the child's TMPDIR")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("fiscus-demo-"))
        .collect()
}

#[test]
fn a_stopped_demo_reports_progress_and_removes_its_temporary_store() {
    use std::io::BufRead as _;
    use std::process::Stdio;
    use std::time::{Duration, Instant};

    for (signal, code) in [("INT", 130), ("TERM", 143)] {
        let tmp = tempfile::tempdir().expect("temp dir");
        let mut child = common::fiscus()
            .env("TMPDIR", tmp.path())
            .args(["demo", "--events", "10000000"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("fiscus runs");
        // Its standard error is no terminal: progress comes as lines, the first within seconds.
        let stderr = child.stderr.take().expect("its standard error");
        let (lines, seen) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = lines.send(line);
            }
        });
        let first = seen.recv_timeout(Duration::from_secs(120));
        let Ok(first) = first else {
            let _ = child.kill();
            panic!("no progress on standard error within 120 s: {first:?}");
        };
        assert!(first.starts_with("fiscus demo: recorded ") && first.contains(" of 10000000 events"), "{first}");
        assert_eq!(demo_dirs(tmp.path()).len(), 1, "the demo's store is in TMPDIR");

        let sent = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success());
        // The reader ends when fiscus closes its standard error, that is when it exits.
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut rest = Vec::new();
        loop {
            match seen.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => rest.push(line),
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    let _ = child.kill();
                    panic!("fiscus did not stop within 60 s of SIG{signal}: {rest:?}");
                }
            }
        }
        let status = child.wait().expect("wait for fiscus");
        reader.join().expect("stderr read");
        assert_eq!(status.code(), Some(code), "SIG{signal}: {status:?}\n{rest:?}");
        assert!(demo_dirs(tmp.path()).is_empty(), "SIG{signal} left the demo's store: {rest:?}");
        assert!(rest.iter().any(|l| l.contains("demo stopped; its temporary store")), "{rest:?}");
    }
}
