//! The `fiscus` command line against a real `fiscusd`: every command's table and `--json` output,
//! refusals and exit codes, with the token of each role.
//!
//! `fiscus` is a binary of another package (fiscus-cli), so it is found next to `fiscusd` in the
//! same target directory: `cargo test --workspace` builds it; when it is missing (this package's
//! tests run alone) it is built once with the same cargo.

use std::path::PathBuf;
use std::process::Command;
use std::sync::mpsc::Receiver;
use std::sync::OnceLock;

use fiscus_proto::pb;
use serde_json::Value;
use tonic::Code;

use crate::support::*;

/// The `fiscus` binary beside `fiscusd`, built if missing.
pub(crate) fn fiscus_bin() -> &'static PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let daemon = PathBuf::from(env!("CARGO_BIN_EXE_fiscusd"));
        let dir = daemon.parent().expect("fiscusd is in a directory").to_owned();
        let bin = dir.join(format!("fiscus{}", std::env::consts::EXE_SUFFIX));
        if !bin.exists() {
            let target = dir.parent().expect("the profile directory is in the target directory");
            let mut build = Command::new(env!("CARGO"));
            build.args(["build", "-p", "fiscus-cli", "--bin", "fiscus", "--target-dir"]).arg(target);
            if dir.file_name().is_some_and(|n| n == "release") {
                build.arg("--release");
            }
            let status = build.status().expect("cargo runs");
            assert!(status.success(), "cargo build -p fiscus-cli failed");
        }
        assert!(bin.exists(), "no fiscus binary at {}; run `cargo build -p fiscus-cli` first", bin.display());
        bin
    })
}

/// `fiscus` against daemon `d` with `token`.
fn fiscus(d: &Daemon, token: Option<&str>, args: &[&str]) -> (i32, String, String) {
    let mut c = Command::new(fiscus_bin());
    c.env_remove("FISCUS_STORE").env("FISCUS_SERVER", format!("http://{}", d.addr));
    match token {
        Some(t) => c.env("FISCUS_TOKEN", t),
        None => c.env_remove("FISCUS_TOKEN"),
    };
    let out = c.args(args).output().expect("fiscus runs");
    (
        out.status.code().expect("fiscus exits"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[track_caller]
fn ok(d: &Daemon, token: &str, args: &[&str]) -> String {
    let (code, out, err) = fiscus(d, Some(token), args);
    assert_eq!(code, 0, "fiscus {args:?}:\n{out}\n{err}");
    out
}

#[track_caller]
fn json(d: &Daemon, token: &str, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = ok(d, token, &all);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("fiscus {args:?}: no JSON ({e}):\n{out}"))
}

#[track_caller]
fn refused(d: &Daemon, token: Option<&str>, args: &[&str], code: i32, says: &str) {
    let (got, out, err) = fiscus(d, token, args);
    assert_eq!(got, code, "fiscus {args:?}:\n{out}\n{err}");
    assert!(err.contains(says), "fiscus {args:?} should say {says:?}:\n{err}");
}

/// Blocking process calls from an async test: run them off the runtime's threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("joined")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_against_fiscusd() {
    let d = std::sync::Arc::new(Daemon::start().await);
    let d2 = d.clone();
    blocking(move || commands(&d2)).await;
}

fn commands(d: &Daemon) {
    let t = d.tokens.clone();
    // Opening projects needs admin; an accountant is refused with exit 1.
    let open = |id: &str| {
        vec![
            "record".to_owned(),
            "open-project".to_owned(),
            "--project".to_owned(),
            id.to_owned(),
            "--name".to_owned(),
            format!("Conference {id}"),
            "--fee-bps".to_owned(),
            "1000".to_owned(),
            "--currency".to_owned(),
            "USD".to_owned(),
            "--advance-limit".to_owned(),
            "5000".to_owned(),
            "--date".to_owned(),
            "2026-01-01".to_owned(),
        ]
    };
    let a: Vec<String> = open("conf-a");
    let args: Vec<&str> = a.iter().map(String::as_str).collect();
    refused(d, Some(&t.accountant), &args, 1, "PERMISSION_DENIED");
    for id in ["conf-a", "conf-b", "conf-c"] {
        let a = open(id);
        let args: Vec<&str> = a.iter().map(String::as_str).collect();
        let v = json(d, &t.admin, &args);
        assert_eq!(v["positions"][0]["seq"], 1);
    }

    // A sponsorship package from a commit file, then the same file again.
    let file = d.dir.path().join("package.json");
    let events: Vec<String> = [("conf-a", "10000.00"), ("conf-b", "5000.00"), ("conf-c", "2500.00")]
        .iter()
        .map(|(p, a)| {
            format!(
                r#"{{"project": "{p}", "date": "2026-03-01", "kind": "contribution", "amount": "{a}",
                "currency": "USD", "from": "Ferrous Systems", "source": "sponsorship", "reference": "PKG-1"}}"#
            )
        })
        .collect();
    std::fs::write(&file, format!(r#"{{"events": [{}]}}"#, events.join(","))).expect("write");
    let f = file.display().to_string();
    let out = ok(d, &t.accountant, &["record", "--file", &f]);
    assert!(out.contains("recorded in commit") && out.contains("10,000.00 USD"), "{out}");
    assert_eq!(json(d, &t.accountant, &["record", "--file", &f])["duplicate"], true);

    // The organiser's token reads its own project, and only it.
    let own = OWN_PROJECT;
    let b = json(d, &t.project, &["balance", own]);
    assert_eq!(b["balances"][0]["balance"], "9000.00");
    assert!(ok(d, &t.project, &["balance", own]).contains("9,000.00 USD"));
    refused(d, Some(&t.project), &["balance", "conf-b"], 1, "PERMISSION_DENIED");
    refused(d, None, &["balance", own], 1, "UNAUTHENTICATED");
    refused(d, None, &["balance", own], 1, "give --token or set FISCUS_TOKEN");
    refused(d, Some(&t.accountant), &["balance", "no-such"], 1, "NOT_FOUND");
    assert_eq!(json(d, &t.project, &["projects"]).as_array().map(Vec::len), Some(1));
    assert_eq!(json(d, &t.accountant, &["projects"]).as_array().map(Vec::len), Some(3));
    assert!(ok(d, &t.accountant, &["projects"]).contains("Conference conf-b"));

    // The organiser verifies its chain and balance without trusting the server.
    let v = json(d, &t.project, &["verify", "--project", own]);
    assert_eq!(v["ok"], true);
    assert_eq!(v["projects"][0]["records"], 2);
    assert!(ok(d, &t.project, &["verify", "--project", own]).contains("verified"));
    let all = json(d, &t.auditor, &["verify"]);
    assert_eq!(all["projects"].as_array().map(Vec::len), Some(3));

    // An expense request by the organiser, approved by an accountant, then pending and paid.
    let receipt = d.dir.path().join("invoice.pdf");
    std::fs::write(&receipt, b"%PDF invoice").expect("write");
    let r = receipt.display().to_string();
    let req = json(
        d,
        &t.project,
        &[
            "record",
            "expense-request",
            "--project",
            own,
            "--amount",
            "300.00",
            "--currency",
            "USD",
            "--payee",
            "Venue Ltd",
            "--category",
            "venue",
            "--receipt",
            &r,
            "--date",
            "2026-03-05",
            "--memo",
            "Room",
        ],
    );
    let seq = req["positions"][0]["seq"].as_u64().expect("seq");
    let pending = json(d, &t.accountant, &["pending"]);
    assert_eq!(pending[0]["approved"], false);
    assert_eq!(pending[0]["receipt"]["hash"], blake3::hash(b"%PDF invoice").to_hex().to_string());
    refused(
        d,
        Some(&t.project),
        &["record", "approve", "--project", own, "--seq", &seq.to_string(), "--date", "2026-03-06"],
        1,
        "PERMISSION_DENIED",
    );
    ok(d, &t.accountant, &["record", "approve", "--project", own, "--seq", &seq.to_string(), "--date", "2026-03-06"]);
    assert!(ok(d, &t.project, &["pending", own]).contains("approved, held"));
    assert_eq!(json(d, &t.project, &["balance", own])["balances"][0]["available"], "8700.00");
    ok(d, &t.accountant, &["record", "pay", "--project", own, "--seq", &seq.to_string(), "--date", "2026-03-07"]);
    assert_eq!(json(d, &t.accountant, &["pending"]), Value::Array(vec![]));
    // An overdraft is refused with the server's code and message.
    refused(
        d,
        Some(&t.accountant),
        &[
            "record",
            "expense",
            "--project",
            own,
            "--amount",
            "99999.00",
            "--currency",
            "USD",
            "--payee",
            "X",
            "--category",
            "venue",
            "--receipt",
            &r,
            "--date",
            "2026-03-08",
        ],
        1,
        "FAILED_PRECONDITION",
    );

    // Reads: statement, events, trial balance.
    let st = json(d, &t.project, &["statement", own, "--from", "2026-03-01", "--to", "2026-03-31"]);
    assert_eq!(st["statements"][0]["closing_balance"], "8700.00");
    assert!(ok(d, &t.project, &["statement", own]).contains("Closing balance"));
    let ev = json(d, &t.project, &["events", own]);
    assert_eq!(ev["events"].as_array().map(Vec::len), Some(5));
    assert!(ok(d, &t.project, &["events", own]).contains("ExpenseApproved"));
    let tb = json(d, &t.auditor, &["trial-balance"]);
    let sum: rust_decimal::Decimal = tb
        .as_array()
        .expect("array")
        .iter()
        .map(|l| l["amount"].as_str().expect("string").parse::<rust_decimal::Decimal>().expect("decimal"))
        .sum();
    assert!(sum.is_zero(), "{tb}");
    assert!(tb
        .as_array()
        .expect("array")
        .iter()
        .any(|l| l["account"] == "Assets:Bank:USD" && l["amount"] == "17200.00"));
    assert!(ok(d, &t.auditor, &["trial-balance"]).contains("Income:Fees:conf-a"));
    refused(d, Some(&t.project), &["trial-balance"], 1, "PERMISSION_DENIED");

    // Import over gRPC: a bad row records nothing; the same good file twice records once.
    let head = |p: &str| json(d, &t.accountant, &["balance", p])["head_seq"].as_u64().expect("seq");
    let before = head("conf-b");
    let bad = d.dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        "date,project,kind,amount,currency,counterparty,memo,reference\n\
         2026-04-01,conf-b,donation,10.00,USD,Ann,Gift,\n\
         2026-04-02,conf-b,donation,10.00,XXX,Bob,Gift,\n",
    )
    .expect("write");
    refused(d, Some(&t.accountant), &["import", "csv", &bad.display().to_string()], 1, "line 3, column currency");
    assert_eq!(head("conf-b"), before);
    let good = d.dir.path().join("good.csv");
    std::fs::write(
        &good,
        "date,project,kind,amount,currency,counterparty,memo,reference\n\
         2026-04-01,conf-b,donation,10.00,USD,Ann,Gift,\n\
         2026-04-02,conf-c,expense,-100.00,USD,Printer,Badges,P-1\n",
    )
    .expect("write");
    let g = good.display().to_string();
    assert_eq!(json(d, &t.accountant, &["import", "csv", &g])["recorded"], 2);
    assert_eq!(json(d, &t.accountant, &["import", "csv", &g])["recorded"], 0);
    assert_eq!(head("conf-b"), before + 1);

    // Export and tail.
    let jsonl = ok(d, &t.auditor, &["export", "jsonl"]);
    let total: u64 = ["conf-a", "conf-b", "conf-c"].iter().map(|p| head(p)).sum();
    assert_eq!(jsonl.lines().count() as u64, total);
    assert!(ok(d, &t.project, &["export", "hledger", "--project", own])
        .contains("Liabilities:Projects:conf-a:Unrestricted"));
    // Without --project, a project token's export is of its own project, and says so.
    let own_only = ok(d, &t.project, &["export", "hledger"]);
    assert!(own_only.starts_with(&format!("; Fiscus journal of project {own} for hledger.")), "{own_only}");
    assert!(!own_only.contains("conf-b"), "another project's records: {own_only}");
    let whole = ok(d, &t.auditor, &["export", "beancount"]);
    assert!(whole.starts_with("; Fiscus ledger of the whole sponsor for beancount."), "{whole}");
    let tail = ok(d, &t.auditor, &["--json", "tail", "--after", "0", "--limit", "3"]);
    let lines: Vec<Value> = tail.lines().map(|l| serde_json::from_str(l).expect("JSON lines")).collect();
    assert_eq!(lines.first().map(|l| l["kind"].clone()), Some(Value::from("ProjectOpened")));
    assert!(ok(d, &t.auditor, &["tail", "--after", "0", "--limit", "1"]).contains("conf-a#1"));

    // Usage errors exit 2 without calling the server.
    let (code, _, _) = fiscus(d, Some(&t.auditor), &["statement", own, "--from", "2026-13-01"]);
    assert_eq!(code, 2);
}

/// How long the reconnecting `tail` may take to show every commit before the test fails.
const TAIL_DEADLINE: std::time::Duration = std::time::Duration::from_secs(60);

/// A daemon whose commit 1 opens conf-a and whose commit 2 is a contribution of 10.00 to it with
/// the event id `id`.
async fn with_two_commits(id: &str) -> Daemon {
    let d = Daemon::start().await;
    open(&mut d.ledger(Some(&d.tokens.admin)).await, "conf-a", 500).await;
    let mut acc = d.ledger(Some(&d.tokens.accountant)).await;
    record(&mut acc, vec![contribution(id, "conf-a", "10.00", None)]).await.expect("commit 2");
    d
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_follows_the_daemon_across_a_restart_without_gaps_or_repeats() {
    let d = with_two_commits("before-1").await;
    let (tail, rx, errs) = follow(&d, &["--after", "0", "--limit", "4"]);
    let mut lines = Vec::new();
    for _ in 0..2 {
        lines.push(rx.recv_timeout(TAIL_DEADLINE).expect("the first two commits are shown"));
    }

    let d = d.restart_at_same_address().await;
    let mut acc = d.ledger(Some(&d.tokens.accountant)).await;
    record(&mut acc, vec![contribution("after-1", "conf-a", "11.00", None)]).await.expect("commit 3");
    record(&mut acc, vec![contribution("after-2", "conf-a", "12.00", None)]).await.expect("commit 4");
    for _ in 0..2 {
        lines.push(rx.recv_timeout(TAIL_DEADLINE).expect("commits after the restart are shown"));
    }
    let (code, err) = ended(tail, errs).await;
    assert_eq!(code, Some(0), "tail ends after --limit 4: {err}");
    assert!(err.contains("following again after commit 2"), "it said it reconnects: {err}");
    let events: Vec<Value> = lines.iter().map(|l| serde_json::from_str(l).expect("JSON line")).collect();
    let ids: Vec<&str> = events.iter().map(|e| e["event_id"].as_str().expect("event_id")).collect();
    assert_eq!(ids[1..], ["before-1", "after-1", "after-2"], "{ids:?}");
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().expect("seq")).collect();
    assert_eq!(seqs, [1, 2, 3, 4]);
}

/// `fiscus tail` following `d` as the auditor, with `extra` arguments (`--after 0` for every
/// commit): the process, and the lines it prints on standard output and on standard error as they
/// come.
fn follow(d: &Daemon, extra: &[&str]) -> (std::process::Child, Receiver<String>, Receiver<String>) {
    let mut tail = Command::new(fiscus_bin())
        .env_remove("FISCUS_STORE")
        .env("FISCUS_SERVER", format!("http://{}", d.addr))
        .env("FISCUS_TOKEN", &d.tokens.auditor)
        .args(["--json", "tail"])
        .args(extra)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("fiscus tail starts");
    let out = lines_of(tail.stdout.take().expect("piped"));
    let err = lines_of(tail.stderr.take().expect("piped"));
    (tail, out, err)
}

/// The lines `from` gives, as they come, from a thread of their own.
fn lines_of(from: impl std::io::Read + Send + 'static) -> Receiver<String> {
    use std::io::BufRead;
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(from).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    rx
}

/// The exit status of `tail` once it ends (within [`TAIL_DEADLINE`]), and the lines of standard
/// error that `errs` had not given yet.
async fn ended(mut tail: std::process::Child, errs: Receiver<String>) -> (Option<i32>, String) {
    blocking(move || {
        let started = std::time::Instant::now();
        while started.elapsed() < TAIL_DEADLINE {
            if let Some(status) = tail.try_wait().expect("waits") {
                let rest: Vec<String> = errs.iter().collect();
                return (status.code(), rest.join("\n"));
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = tail.kill();
        let _ = tail.wait();
        panic!("tail has not ended {TAIL_DEADLINE:?} after it should have");
    })
    .await
}

/// A `tail` whose daemon comes back on another ledger stops and says so, instead of going on as if
/// that ledger continued the one shown: one with fewer commits than were shown, and one with as
/// many whose commit shown last is another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_stops_when_its_daemon_comes_back_on_another_ledger() {
    let d = with_two_commits("a-1").await;
    let (tail, lines, errs) = follow(&d, &["--after", "0"]);
    for _ in 0..2 {
        lines.recv_timeout(TAIL_DEADLINE).expect("the two commits are shown");
    }
    // another ledger, one commit: behind the commit shown
    let d = replaced_by_another_ledger(d, 0).await;
    stopped_saying(tail, errs, lines, "the server's head is commit 1, behind commit 2 where tail was").await;

    // following it (two commits shown), then a third ledger with more commits: commit 2 differs
    let mut acc = d.ledger(Some(&d.tokens.accountant)).await;
    record(&mut acc, vec![contribution("b-1", "conf-a", "20.00", None)]).await.expect("commit 2");
    let (tail, lines, errs) = follow(&d, &["--after", "0"]);
    for _ in 0..2 {
        lines.recv_timeout(TAIL_DEADLINE).expect("the two commits are shown");
    }
    drop(acc);
    let d = replaced_by_another_ledger(d, 3).await;
    stopped_saying(
        tail,
        errs,
        lines,
        "the server's history is not the one that was followed: commit 2, where tail was",
    )
    .await;

    // following from the head (commit 4), nothing shown yet, then a ledger with more commits
    let (tail, lines, errs) = follow(&d, &[]);
    let started = errs.recv_timeout(TAIL_DEADLINE).expect("tail says where it starts");
    assert!(started.contains("following the commits after commit 4"), "{started}");
    let d = replaced_by_another_ledger(d, 5).await;
    stopped_saying(
        tail,
        errs,
        lines,
        "the server's history is not the one that was followed: commit 4, where tail was",
    )
    .await;
    d.stop();
}

/// `tail --project`, whose daemon comes back on another ledger, stops and says so from the
/// project's chain, without waiting for the project's next commit: a chain that ends before the
/// record shown, and one whose record there is another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_of_one_project_stops_when_its_daemon_comes_back_on_another_ledger() {
    let d = with_two_commits("a-1").await;
    let (tail, lines, errs) = follow(&d, &["--project", "conf-a", "--after", "0"]);
    for _ in 0..2 {
        lines.recv_timeout(TAIL_DEADLINE).expect("the project's two records are shown");
    }
    let d = replaced_by_another_ledger(d, 0).await;
    stopped_saying(tail, errs, lines, "conf-a's chain ends before conf-a#2, where tail was").await;

    let mut acc = d.ledger(Some(&d.tokens.accountant)).await;
    record(&mut acc, vec![contribution("b-1", "conf-a", "20.00", None)]).await.expect("commit 2");
    drop(acc);
    let (tail, lines, errs) = follow(&d, &["--project", "conf-a", "--after", "0"]);
    for _ in 0..2 {
        lines.recv_timeout(TAIL_DEADLINE).expect("the project's two records are shown");
    }
    let d = replaced_by_another_ledger(d, 3).await;
    stopped_saying(tail, errs, lines, "conf-a#2, where tail was, had hash").await;
    d.stop();
}

/// Replaces `d` at its address by a daemon on another ledger (the same tokens) holding project
/// conf-a and `contributions` contributions to it: commits 1 to `contributions + 1`.
async fn replaced_by_another_ledger(d: Daemon, contributions: usize) -> Daemon {
    let other = d.another_ledger().await;
    open(&mut other.ledger(Some(&d.tokens.admin)).await, "conf-a", 500).await;
    let mut acc = other.ledger(Some(&d.tokens.accountant)).await;
    for i in 0..contributions {
        record(&mut acc, vec![contribution(&format!("other-{i}"), "conf-a", "30.00", None)]).await.expect("commit");
    }
    drop(acc);
    d.replace_at_same_address_by(other).await
}

/// Checks that `tail` ended with exit code 1, its standard error saying `why`, and showed nothing
/// more.
async fn stopped_saying(tail: std::process::Child, errs: Receiver<String>, lines: Receiver<String>, why: &str) {
    let (code, err) = ended(tail, errs).await;
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains(why), "{why:?} in {err}");
    assert!(lines.try_recv().is_err(), "nothing of the other ledger is shown");
}

/// `fiscus` with `args` and the environment `env` (no FISCUS_TOKEN unless given).
fn fiscus_env(d: &Daemon, env: &[(&str, &str)], args: &[&str]) -> (i32, String, String) {
    let mut c = Command::new(fiscus_bin());
    c.env_remove("FISCUS_STORE").env_remove("FISCUS_TOKEN").env_remove("FISCUS_TOKEN_FILE");
    c.env("FISCUS_SERVER", format!("http://{}", d.addr));
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.args(args).output().expect("fiscus runs");
    (
        out.status.code().expect("fiscus exits"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_stay_off_the_command_line() {
    use std::os::unix::fs::PermissionsExt;
    let d = Daemon::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("token");
    std::fs::write(&file, format!("{}\n", d.tokens.auditor)).expect("write");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let path = file.display().to_string();

    // From a private file, by flag or environment: no warning.
    let (code, out, err) = fiscus_env(&d, &[], &["--token-file", &path, "--json", "projects"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(!err.contains("warning"), "{err}");
    let (code, _, err) = fiscus_env(&d, &[("FISCUS_TOKEN_FILE", &path)], &["projects"]);
    assert_eq!(code, 0, "{err}");
    // FISCUS_TOKEN: no warning either.
    let (code, _, err) = fiscus_env(&d, &[("FISCUS_TOKEN", &d.tokens.auditor)], &["projects"]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("warning"), "{err}");
    // On the command line: it works, with a one-line warning.
    let (code, _, err) = fiscus_env(&d, &[], &["--token", &d.tokens.auditor, "projects"]);
    assert_eq!(code, 0, "{err}");
    let warnings: Vec<&str> = err.lines().filter(|l| l.contains("warning")).collect();
    assert_eq!(warnings.len(), 1, "{err}");
    assert!(warnings[0].contains("--token-file"), "{err}");
    // A token file others may read is refused.
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let (code, _, err) = fiscus_env(&d, &[], &["--token-file", &path, "projects"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("chmod 600"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_goes_over_plaintext_only_to_this_machine() {
    let d = Daemon::start().await;
    let env = [("FISCUS_TOKEN", d.tokens.auditor.as_str())];
    let (code, _, err) = fiscus_env(&d, &env, &["--server", "http://books.example.invalid:7878", "projects"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("plaintext") && err.contains("--allow-plaintext"), "{err}");
    // Loopback over http:// is fine.
    let (code, _, err) = fiscus_env(&d, &env, &["projects"]);
    assert_eq!(code, 0, "{err}");
}

/// Issue 13 §1, §2, §5 against `fiscusd`: an import's dry run stages every row on the chains read
/// over `ExportChain` and refuses by file line what the real import would refuse; the seqs it
/// announces are those the real import gets; a likely duplicate is refused; a project token's
/// refused write says what it may record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_is_checked_against_the_daemons_state_by_line() {
    let d = std::sync::Arc::new(Daemon::start().await);
    let d2 = d.clone();
    blocking(move || import_checks(&d2)).await;
}

/// An import of more rows than one commit holds, whose later rows spend what its earlier rows
/// brought in: the daemon checks each commit on the state before the import, so a later commit's
/// overdraft there is not the import's (the staging, with the earlier commits in it, decides);
/// both the dry run and the import record every row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_of_several_commits_spends_what_its_earlier_commits_bring_in() {
    let d = std::sync::Arc::new(Daemon::start().await);
    let d2 = d.clone();
    blocking(move || {
        let d = &*d2;
        let t = d.tokens.clone();
        let open = "record open-project --project p3 --name P3 --fee-bps 0 --currency EUR --date 2026-01-01";
        ok(d, &t.admin, &open.split_whitespace().collect::<Vec<_>>());
        let rows = fiscus_client::fiscus_ledger::commit::COMMIT_EVENTS_MAX;
        let mut csv = String::from("date,project,kind,amount,currency,counterparty,memo,reference\n");
        for i in 0..rows {
            csv.push_str(&format!("2026-03-01,p3,donation,1.00,EUR,Donor {i},gift,D-{i}\n"));
        }
        csv.push_str("2026-03-02,p3,expense,-500.00,EUR,Venue,deposit,E-1\n");
        let file = d.dir.path().join("many.csv");
        std::fs::write(&file, csv).expect("write");
        let f = file.display().to_string();
        let dry = json(d, &t.accountant, &["import", "csv", &f, "--dry-run"]);
        assert_eq!(dry["would_record"], rows + 1, "{dry}");
        let done = json(d, &t.accountant, &["import", "csv", &f]);
        assert_eq!(done["recorded"], rows + 1, "{done}");
        assert_eq!(done["commits"].as_array().map(Vec::len), Some(2), "{done}");
        let balance = json(d, &t.accountant, &["balance", "p3"]);
        assert_eq!(balance["head_seq"], rows + 2, "{balance}");
    })
    .await;
}

fn import_checks(d: &Daemon) {
    let t = d.tokens.clone();
    let own = OWN_PROJECT;
    ok(
        d,
        &t.admin,
        &[
            "record",
            "open-project",
            "--project",
            own,
            "--name",
            "Conf A",
            "--fee-bps",
            "0",
            "--currency",
            "USD",
            "--date",
            "2026-01-01",
        ],
    );
    let csv = d.dir.path().join("march.csv");
    std::fs::write(
        &csv,
        format!(
            "date,project,kind,amount,currency,counterparty,memo,reference\r\n\
             2026-03-01,{own},donation,50.00,USD,Ann,a,R-1\r\n\
             2026-03-02,no-such-project,donation,5.00,USD,Bob,b,R-2\r\n\
             2026-03-03,{own},expense,-80.00,USD,Venue,c,R-3\r\n"
        ),
    )
    .expect("write");
    let c = csv.display().to_string();
    for dry in [true, false] {
        let mut args = vec!["import", "csv", c.as_str()];
        if dry {
            args.push("--dry-run");
        }
        let (code, out, err) = fiscus(d, Some(&t.accountant), &args);
        assert_eq!(code, 1, "dry run {dry}: {out}\n{err}");
        assert!(err.contains("line 3") && err.contains("no-such-project"), "dry run {dry}: {err}");
        assert!(err.contains("line 4") && err.contains("overdraft"), "dry run {dry}: {err}");
    }
    let head = || json(d, &t.accountant, &["balance", own])["head_seq"].as_u64().expect("seq");
    assert_eq!(head(), 1, "nothing was recorded");

    std::fs::write(
        &csv,
        format!(
            "date,project,kind,amount,currency,counterparty,memo,reference\r\n\
             2026-03-01,{own},donation,50.00,USD,Ann,a,R-1\r\n\
             2026-03-03,{own},expense,-20.00,USD,Venue,c,R-3\r\n"
        ),
    )
    .expect("write");
    let dry = json(d, &t.accountant, &["import", "csv", &c, "--dry-run"]);
    let seqs: Vec<(u64, u64)> = dry["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .map(|l| (l["line"].as_u64().expect("line"), l["seq"].as_u64().expect("seq")))
        .collect();
    assert_eq!(seqs, [(2, 2), (3, 3)], "{dry}");
    let done = json(d, &t.accountant, &["import", "csv", &c]);
    assert_eq!(done["lines"][1]["seq"], 3, "{done}");
    assert_eq!(head(), 3);

    // The same bank transaction typed in by hand is refused unless asked.
    let by_hand = [
        "record",
        "contribution",
        "--project",
        own,
        "--amount",
        "50",
        "--currency",
        "USD",
        "--from",
        "Ann",
        "--source",
        "donation",
        "--reference",
        "R-1",
        "--date",
        "2026-03-01",
    ];
    refused(d, Some(&t.accountant), &by_hand, 1, "likely a duplicate");
    assert_eq!(head(), 3);

    // A project token's refused write says what it may do, not what it may read.
    let (code, _, err) = fiscus(
        d,
        Some(&t.project),
        &[
            "record",
            "expense-request",
            "--project",
            "conf-b",
            "--amount",
            "5",
            "--currency",
            "USD",
            "--payee",
            "Printer",
            "--category",
            "print",
            "--receipt",
            "badges.pdf",
            "--receipt-hash",
            "abababababababababababababababababababababababababababababababab",
            "--date",
            "2026-03-04",
        ],
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("PERMISSION_DENIED") && err.contains("may record only"), "{err}");
    assert!(!err.contains("may read"), "{err}");

    // A dry run answers what the real import answers, the token's role included: a project token
    // may not record its own project's sponsorship, so both refuse by line and record nothing.
    std::fs::write(
        &csv,
        format!(
            "date,project,kind,amount,currency,counterparty,memo,reference\r\n\
             2026-03-05,{own},sponsorship,900.00,USD,Acme,own row,R-9\r\n"
        ),
    )
    .expect("write");
    for dry in [true, false] {
        let mut args = vec!["import", "csv", c.as_str()];
        if dry {
            args.push("--dry-run");
        }
        let (code, out, err) = fiscus(d, Some(&t.project), &args);
        assert_eq!(code, 1, "dry run {dry}: {out}\n{err}");
        assert!(err.contains("PERMISSION_DENIED") && err.contains("line 2"), "dry run {dry}: {err}");
    }
    assert_eq!(head(), 3, "nothing was recorded");
}

/// Issue 13 §4: `token revoke` and `token list` say the same from both binaries; SIGHUP makes a
/// running `fiscusd` reload the tokens file, logging what changed: the revoked token is refused,
/// and a connection made before with another token goes on working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_is_refused_after_sighup_and_other_connections_go_on() {
    let d = Daemon::start().await;
    let file = d.dir.path().join("tokens.toml");
    let t = d.tokens.clone();
    let mut alice = d.ledger(Some(&t.accountant)).await;
    alice.list_projects(pb::ListProjectsRequest::default()).await.expect("alice reads");
    let mut bob = d.ledger(Some(&t.accountant2)).await;
    bob.list_projects(pb::ListProjectsRequest::default()).await.expect("bob reads");

    let both = |args: &[&str]| {
        let by_fiscusd = Command::new(fiscusd_bin()).args(args).output().expect("fiscusd runs");
        let by_fiscus = Command::new(fiscus_bin()).args(args).output().expect("fiscus runs");
        (by_fiscusd, by_fiscus)
    };
    let f = file.display().to_string();
    let (a, b) = both(&["token", "list", "--tokens", &f]);
    assert!(a.status.success() && b.status.success());
    assert_eq!(a.stdout, b.stdout, "token list says the same from both binaries");
    assert!(String::from_utf8_lossy(&a.stdout).contains("accountant:bob"));
    let revoked = Command::new(fiscus_bin())
        .args(["token", "revoke", "--tokens", &f, "--name", "accountant:bob"])
        .output()
        .expect("fiscus runs");
    let note = String::from_utf8_lossy(&revoked.stderr);
    assert!(revoked.status.success() && note.contains("revoked token \"accountant:bob\""), "{note}");
    let again = Command::new(fiscusd_bin())
        .args(["token", "revoke", "--tokens", &f, "--name", "accountant:bob"])
        .output()
        .expect("fiscusd runs");
    assert!(!again.status.success() && String::from_utf8_lossy(&again.stderr).contains("no token is named"));
    // Until the daemon reloads the file, it knows bob's token.
    bob.list_projects(pb::ListProjectsRequest::default()).await.expect("not reloaded yet");

    let sent = Command::new("kill").args(["-HUP", &d.pid().to_string()]).status().expect("kill runs");
    assert!(sent.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let mut fresh = d.ledger(Some(&t.accountant2)).await;
        match fresh.list_projects(pb::ListProjectsRequest::default()).await {
            Err(s) if s.code() == Code::Unauthenticated => break,
            other => {
                assert!(std::time::Instant::now() < deadline, "bob's token still works after SIGHUP: {other:?}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
    let refused = bob.list_projects(pb::ListProjectsRequest::default()).await;
    assert_eq!(refused.map(drop).map_err(|s| s.code()), Err(Code::Unauthenticated), "on bob's old connection too");
    alice.list_projects(pb::ListProjectsRequest::default()).await.expect("alice's connection goes on");
    let log = d.log();
    assert!(log.contains("tokens file reloaded") && log.contains("accountant:bob"), "{log}");
}

/// Issue 13 §4: `fiscusd` takes its address before it replays the store, and a port in use is
/// refused at once naming the address; plaintext on an address other machines reach is warned of.
#[tokio::test]
async fn the_address_is_taken_before_the_replay_and_named_when_in_use() {
    let d = Daemon::start().await;
    let other = tempfile::tempdir().expect("temp dir");
    let out = Command::new(fiscusd_bin())
        .arg("--data")
        .arg(other.path().join("data"))
        .arg("--create")
        .arg("--tokens")
        .arg(d.dir.path().join("tokens.toml"))
        .args(["--listen", &d.addr.to_string()])
        .env("RUST_LOG", "info")
        .output()
        .expect("fiscusd runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains(&format!("cannot listen on {}", d.addr)), "names the address: {err}");
    assert!(!err.contains("opening the store"), "refused before the replay: {err}");

    // Plaintext on 0.0.0.0: served, with a warning that tokens travel in clear.
    let log = other.path().join("open.log");
    let mut child = Command::new(fiscusd_bin())
        .arg("--data")
        .arg(other.path().join("data2"))
        .arg("--create")
        .arg("--tokens")
        .arg(d.dir.path().join("tokens.toml"))
        .args(["--listen", "0.0.0.0:0"])
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("fiscusd starts");
    let stdout = child.stdout.take().expect("piped");
    let first = tokio::task::spawn_blocking(move || {
        use std::io::BufRead;
        std::io::BufReader::new(stdout).lines().next()
    });
    let first = tokio::time::timeout(std::time::Duration::from_secs(60), first).await;
    let _ = child.kill();
    let _ = child.wait();
    let first = first.expect("in time").expect("joined");
    assert!(first.is_some_and(|l| l.is_ok_and(|l| l.starts_with("fiscusd listening on 0.0.0.0:"))));
    let text = std::fs::read_to_string(&log).expect("log");
    assert!(text.contains("plaintext") && text.contains("--tls-cert"), "{text}");
}

/// Runs `fiscus` against `addr` with each (token, arguments) at once, and waits at most `bound`
/// in all: each one's exit code and standard error, or `None` for one still running then (it is
/// killed).
async fn run_all_within(
    addr: std::net::SocketAddr,
    commands: Vec<(String, Vec<&'static str>)>,
    bound: std::time::Duration,
) -> Vec<Option<(Option<i32>, String)>> {
    let children: Vec<std::process::Child> = commands
        .into_iter()
        .map(|(token, args)| {
            Command::new(fiscus_bin())
                .env_remove("FISCUS_STORE")
                .env("FISCUS_SERVER", format!("http://{addr}"))
                .env("FISCUS_TOKEN", token)
                .args(&args)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("fiscus starts")
        })
        .collect();
    blocking(move || {
        let started = std::time::Instant::now();
        children
            .into_iter()
            .map(|mut child| {
                while started.elapsed() < bound {
                    if child.try_wait().expect("waits").is_some() {
                        let out = child.wait_with_output().expect("output");
                        return Some((out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned()));
                    }
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                let _ = child.kill();
                let _ = child.wait();
                None
            })
            .collect()
    })
    .await
}

/// fiscusd stops answering (SIGSTOP: its port open, nothing answers): a command ends once its
/// call's deadline (`--timeout 2`) has passed, with DEADLINE_EXCEEDED and how to set the deadline,
/// instead of waiting for ever (a commit also says it may or may not be recorded, and that the
/// same command records it once); once fiscusd runs again the same command answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_ends_at_its_deadline_when_fiscusd_stops_answering() {
    let d = Daemon::start().await;
    ok(
        &d,
        &d.tokens.admin,
        &[
            "record",
            "open-project",
            "--project",
            "conf-a",
            "--name",
            "A",
            "--fee-bps",
            "500",
            "--currency",
            "USD",
            "--date",
            "2026-01-01",
        ],
    );
    let addr = d.addr;
    let pid = d.pid().to_string();
    let stop = std::process::Command::new("kill").args(["-STOP", &pid]).status().expect("kill runs");
    assert!(stop.success());
    // each command with its token, ended by its deadline or taken to hang past 30 s (the
    // connection's own deadline is 10 s)
    let commands: Vec<(String, Vec<&'static str>)> = vec![
        (d.tokens.admin.clone(), vec!["--timeout", "2", "projects"]),
        (
            d.tokens.accountant.clone(),
            "--timeout 2 record contribution --project conf-a --amount 5 --currency USD --from Acme --source donation --date 2026-03-01"
                .split_whitespace()
                .collect(),
        ),
        // with a reference, `record` first reads the project's events for a likely duplicate
        (
            d.tokens.accountant.clone(),
            "--timeout 2 record contribution --project conf-a --amount 7 --currency USD --from Acme --source donation --date 2026-03-02 --reference INV-7"
                .split_whitespace()
                .collect(),
        ),
    ];
    let ran = run_all_within(addr, commands, std::time::Duration::from_secs(30)).await;
    let cont = std::process::Command::new("kill").args(["-CONT", &pid]).status().expect("kill runs");
    assert!(cont.success());
    for (i, ran) in ran.into_iter().enumerate() {
        let (code, err) =
            ran.unwrap_or_else(|| panic!("command {i} ends within 30 s of a server that stopped answering"));
        assert_eq!(code, Some(1), "{err}");
        assert!(err.contains(&format!("DEADLINE_EXCEEDED: {}", fiscus_client::NO_ANSWER_IN_TIME)), "{err}");
        assert!(err.contains("the deadline was 2 s: --timeout SECONDS"), "{err}");
        let write = i == 1;
        assert_eq!(err.contains("may or may not have been recorded: run the same command again"), write, "{err}");
        let before_commit = i == 2;
        assert_eq!(
            err.contains("nothing was recorded: the command stopped before sending its commit"),
            before_commit,
            "{err}"
        );
    }
    // running again, the same commands answer, and the commit is recorded once
    let (code, _, err) = fiscus(&d, Some(&d.tokens.admin), &["--timeout", "2", "projects"]);
    assert_eq!(code, 0, "{err}");
    let again = "record contribution --project conf-a --amount 5 --currency USD --from Acme --source donation --date 2026-03-01";
    ok(&d, &d.tokens.accountant, &again.split_whitespace().collect::<Vec<_>>());
    let v = json(&d, &d.tokens.accountant, &["balance", "conf-a"]);
    assert_eq!(v["head_seq"], 2, "the contribution is recorded once: {v}");
    d.stop();
}

/// A daemon holding project conf-a, then stopped (SIGSTOP: its port takes connections and
/// nothing answers), with its pid for [`resume`].
async fn stopped_with_conf_a() -> (Daemon, String) {
    let d = Daemon::start().await;
    let open = "record open-project --project conf-a --name A --fee-bps 500 --currency USD --date 2026-01-01";
    ok(&d, &d.tokens.admin, &open.split_whitespace().collect::<Vec<_>>());
    let pid = d.pid().to_string();
    assert!(std::process::Command::new("kill").args(["-STOP", &pid]).status().expect("kill runs").success());
    (d, pid)
}

/// Lets the daemon `pid` that [`stopped_with_conf_a`] stopped go on.
fn resume(pid: &str) {
    assert!(std::process::Command::new("kill").args(["-CONT", pid]).status().expect("kill runs").success());
}

/// `verify` of a project on a daemon that stopped answering says the project was not checked,
/// not that its verification failed (which would read as damage).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_against_a_daemon_that_stopped_answering_says_not_checked() {
    let (d, pid) = stopped_with_conf_a().await;
    let (addr, token) = (d.addr, d.tokens.auditor.clone());
    let ran = blocking(move || {
        Command::new(fiscus_bin())
            .env_remove("FISCUS_STORE")
            .env("FISCUS_SERVER", format!("http://{addr}"))
            .env("FISCUS_TOKEN", token)
            .args(["--timeout", "2", "verify", "--project", "conf-a"])
            .output()
            .expect("fiscus runs")
    })
    .await;
    resume(&pid);
    let out = String::from_utf8_lossy(&ran.stdout);
    assert_eq!(ran.status.code(), Some(1), "{out}");
    assert!(out.contains("NOT CHECKED (the server did not answer)") && !out.contains("FAILED"), "{out}");
    d.stop();
}

/// A command whose deadline is longer than the connection's keep-alive check (20 s, then 10 s
/// for the PING's answer) ends when that check fails, saying the server stopped answering, and a
/// write says its commit may or may not be recorded; before, a read then probed the port for TLS
/// with no bound and waited for as long as the server stayed stopped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_with_a_long_deadline_ends_when_fiscusd_stops_answering() {
    let (d, pid) = stopped_with_conf_a().await;
    let addr = d.addr;
    let write = "--timeout 120 record contribution --project conf-a --amount 5 --currency USD --from Acme --source donation --date 2026-03-01";
    let commands: Vec<(String, Vec<&'static str>)> = vec![
        (d.tokens.accountant.clone(), vec!["--timeout", "120", "projects"]),
        (d.tokens.accountant.clone(), write.split_whitespace().collect()),
    ];
    // a bound on the test, not a measurement: the check fails after about 30 s
    let ran = run_all_within(addr, commands, std::time::Duration::from_secs(50)).await;
    resume(&pid);
    for (i, ran) in ran.into_iter().enumerate() {
        let (code, err) =
            ran.unwrap_or_else(|| panic!("command {i} ends within 50 s of a server that stopped answering"));
        assert_eq!(code, Some(1), "{err}");
        assert!(err.contains(fiscus_client::STOPPED_ANSWERING), "command {i} says the server stopped answering: {err}");
        assert_eq!(err.contains("may or may not have been recorded"), i == 1, "{err}");
    }
    d.stop();
}

/// A tokens file emptied (an editor or a tool caught while writing it) or unparsable, loaded again
/// on SIGHUP, keeps the tokens in force, saying why on one log line: an emptied file was taken as
/// "every token removed", and every call after it was UNAUTHENTICATED.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tokens_file_emptied_or_broken_keeps_the_tokens_in_force() {
    let d = Daemon::start().await;
    let file = d.dir.path().join("tokens.toml");
    let kept = std::fs::read(&file).expect("tokens file");
    let reload = |wanted: &'static str| {
        let d = &d;
        async move {
            let sent = Command::new("kill").args(["-HUP", &d.pid().to_string()]).status().expect("kill runs");
            assert!(sent.success());
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
            loop {
                let log = d.log();
                if let Some(line) = log.lines().find(|l| l.contains(wanted)) {
                    return line.to_owned();
                }
                assert!(std::time::Instant::now() < deadline, "no {wanted:?} in the log:\n{log}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    };
    std::fs::write(&file, "").expect("emptied");
    reload("the tokens file is empty").await;
    let mut acc = d.ledger(Some(&d.tokens.accountant)).await;
    acc.list_projects(pb::ListProjectsRequest::default()).await.expect("the tokens in force stay");
    std::fs::write(&file, "[[token]]\nname = \"x\"\nrole = \n").expect("broken");
    let line = reload("cannot be used").await;
    assert!(line.contains("line 3, column 8") && line.contains("must be quoted"), "the reason on one line: {line}");
    acc.list_projects(pb::ListProjectsRequest::default()).await.expect("the tokens in force stay");
    // a pipe at the path: the reload hung on it, and every call with it, for good
    std::fs::remove_file(&file).expect("removed");
    let made = Command::new("mkfifo").args(["-m", "600"]).arg(&file).status().expect("mkfifo runs");
    assert!(made.success());
    let line = reload("not a regular file").await;
    assert!(line.contains("cannot be used"), "{line}");
    let answered =
        tokio::time::timeout(std::time::Duration::from_secs(10), acc.list_projects(pb::ListProjectsRequest::default()))
            .await
            .expect("answered: the reload holds nothing up");
    answered.expect("the tokens in force stay");
    std::fs::remove_file(&file).expect("removed");
    std::fs::write(&file, kept).expect("restored");
    // the last token revoked (`token = []`, as `token revoke` writes it) is applied: no token works
    std::fs::write(&file, "token = []\n").expect("every token revoked");
    reload("tokens file reloaded").await;
    let refused = acc.list_projects(pb::ListProjectsRequest::default()).await;
    assert_eq!(refused.map(drop).map_err(|s| s.code()), Err(Code::Unauthenticated));
    d.stop();
}
