//! Issue 13 §4: opening a store. A path with no store is refused by `fiscusd --data` and
//! `fiscus --store`, naming the path and the flag that makes one, and nothing is created; asked to
//! create, both make it. A store held by a running process is refused naming that process.

use std::path::Path;
use std::process::{Command, Output};

use crate::cli::fiscus_bin;
use crate::support::*;

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// `fiscus --store DIR ARGS…` with no server in the environment.
fn fiscus_on(store: &Path, args: &[&str]) -> Output {
    let mut c = Command::new(fiscus_bin());
    for var in ["FISCUS_SERVER", "FISCUS_TOKEN", "FISCUS_TOKEN_FILE", "FISCUS_STORE"] {
        c.env_remove(var);
    }
    c.arg("--store").arg(store).args(args).output().expect("fiscus runs")
}

/// `fiscusd --data DATA --tokens TOKENS ARGS…` on a free port, run until it exits (it is expected
/// to refuse to start).
fn fiscusd_refusing(data: &Path, tokens: &Path, args: &[&str]) -> Output {
    Command::new(fiscusd_bin())
        .arg("--data")
        .arg(data)
        .arg("--tokens")
        .arg(tokens)
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .output()
        .expect("fiscusd runs")
}

#[test]
fn a_path_with_no_store_is_refused_unless_asked_to_create() {
    let dir = tempfile::tempdir().expect("temp dir");
    let tokens = dir.path().join("tokens.toml");
    std::fs::write(&tokens, "").expect("tokens file");
    let missing = dir.path().join("typo");

    let out = fiscusd_refusing(&missing, &tokens, &[]);
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains(&format!("no store in {}", missing.display())) && said.contains("--create"), "{said}");
    assert!(!missing.exists(), "fiscusd made the folder: {said}");

    let out = fiscus_on(&missing, &["projects"]);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains(&format!("no store in {}", missing.display())), "{said}");
    assert!(said.contains("init") && said.contains("--create"), "names the way to make one: {said}");
    assert!(!missing.exists(), "fiscus made the folder: {said}");

    // Asked to: `init` makes it (once), `--create` makes it, and both then read it.
    let books = dir.path().join("books");
    let out = fiscus_on(&books, &["init"]);
    assert!(out.status.success() && text(&out).contains("made a new, empty store"), "{}", text(&out));
    let out = fiscus_on(&books, &["init"]);
    assert!(out.status.success() && text(&out).contains("already"), "{}", text(&out));
    assert!(fiscus_on(&books, &["projects"]).status.success());
    let other = dir.path().join("other");
    let out = fiscus_on(&other, &["--create", "projects"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(fiscus_on(&other, &["projects"]).status.success(), "made by --create");
}

#[tokio::test]
async fn a_store_in_use_names_the_process_holding_it() {
    let d = Daemon::start().await;
    let held = format!("process {} (fiscusd)", d.pid());

    let out = fiscus_on(&d.data(), &["projects"]);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("is in use by") && said.contains(&held), "names the holder: {said}");
    assert!(!said.contains("Os {") && !said.contains("WouldBlock"), "in words, not a debug dump: {said}");

    let out = fiscusd_refusing(&d.data(), &d.dir.path().join("tokens.toml"), &[]);
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains(&held), "a second fiscusd names the first: {said}");
}
