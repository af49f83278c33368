//! Running the real `fiscus` binary from the command line's tests: one copy of the helpers.

#![allow(dead_code)]

use std::io::Write as _;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

/// The environment that would point `fiscus` elsewhere (a server, a token, a store).
pub const TARGET_VARS: [&str; 6] =
    ["FISCUS_SERVER", "FISCUS_TOKEN", "FISCUS_STORE", "FISCUS_TLS_CA", "FISCUS_TOKEN_FILE", "FISCUS_TIMEOUT"];

/// The `fiscus` binary with none of [`TARGET_VARS`].
pub fn fiscus() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_fiscus"));
    for var in TARGET_VARS {
        c.env_remove(var);
    }
    c
}

/// Runs `fiscus args…` with `env` set; returns (exit code, stdout, stderr).
pub fn run_env(env: &[(&str, &str)], args: &[&str]) -> (i32, String, String) {
    let mut c = fiscus();
    c.envs(env.iter().copied());
    let out: Output = c.args(args).output().expect("fiscus runs");
    let code = out.status.code().expect("fiscus exits, not killed");
    (code, String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Runs `fiscus args…` with `input` on its standard input; returns (exit code, stdout, stderr).
pub fn run_with_input(args: &[&str], input: &[u8]) -> (i32, String, String) {
    let mut child = fiscus()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("fiscus runs");
    let mut stdin = child.stdin.take().expect("its standard input");
    // A fiscus that refuses before reading all of it closes the pipe: that is its answer, not ours.
    let _ = stdin.write_all(input);
    drop(stdin);
    let out = child.wait_with_output().expect("fiscus exits");
    let code = out.status.code().expect("fiscus exits, not killed");
    (code, String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Runs `fiscus args…`; returns (exit code, stdout, stderr).
pub fn run(args: &[&str]) -> (i32, String, String) {
    run_env(&[], args)
}

/// Runs and expects exit 0, returning stdout.
#[track_caller]
pub fn ok(args: &[&str]) -> String {
    let (code, out, err) = run(args);
    assert_eq!(code, 0, "fiscus {args:?} failed:\n{out}\n{err}");
    out
}

/// Runs with `--json`, expects exit 0, parses stdout.
#[track_caller]
pub fn json(args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = ok(&all);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("fiscus {args:?} printed no JSON ({e}):\n{out}"))
}
