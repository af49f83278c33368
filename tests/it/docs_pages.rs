//! `clients/README.md` followed literally against a real `fiscusd`: its shell blocks run in order in
//! one bash script, in a fresh directory with a fresh `HOME` (the page keeps tokens in
//! `~/.fiscus`), with `fiscus` and `fiscusd` of this build first on `PATH` and the page's port
//! 7878 replaced by a free loopback port chosen at run time. The balance the page states is
//! checked against the balance the commands produce. (The page's console block, the demo, runs with
//! trycmd in `clients/cli/tests/docs.rs`.)
//!
//! `README.md`'s and `daemon/README.md`'s blocks run the same way. Left out, each for a stated
//! reason: lines that run `cargo` or `bash .ci/…` (the build and the suite the test already is, the
//! client crate's examples), `tail`, which follows forever, and the Python reflection example's
//! lines (`python3 -m venv`, `.venv/bin/…`), which install packages from the network. The pages'
//! `target/release/` paths name the binaries of this build (first on `PATH`), and
//! `$(pidof fiscusd)` the daemon the page started (not every `fiscusd` on the machine).

use std::path::Path;
use std::process::{Command, Stdio};

use crate::cli::fiscus_bin;

/// The page's shell blocks, in order.
fn shell_blocks(page: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut rest = page;
    while let Some(start) = rest.find("```sh\n") {
        let body = &rest[start + "```sh\n".len()..];
        let end = body.find("\n```").expect("a shell block ends");
        blocks.push(body[..end].to_owned());
        rest = &body[end + 4..];
    }
    blocks
}

/// What the page says RustConf's balance is, as `9300.00 USD`.
fn stated_balance(page: &str) -> String {
    let marker = "RustConf's balance is ";
    let at = page.find(marker).expect("the page states RustConf's balance") + marker.len();
    page[at..].split(':').next().expect("the figure ends with a colon").trim().to_owned()
}

/// A page's shell blocks after they ran: the directory they ran in (also their `HOME`), the port
/// the page's daemon listens on, and their output. Dropping it stops the daemon the page started.
struct Followed {
    dir: tempfile::TempDir,
    port: u16,
    script: String,
    output: String,
    ok: bool,
}

impl Drop for Followed {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(self.dir.path().join("fiscusd.pid")) {
            let _ = Command::new("kill").arg(pid.trim()).status();
        }
    }
}

/// The script that follows `page`: its shell blocks in order, except lines that run `cargo` or the
/// whole test suite (the build this test already is) and `tail` (which follows forever); the page's
/// port 7878 becomes `port`, and the line that starts the daemon (`fiscusd --data …`) runs it in the
/// background on that port, then waits (bounded) until it accepts connections.
fn script_of(page: &str, port: u16) -> String {
    let mut script = String::from("set -euo pipefail\n");
    for block in shell_blocks(page) {
        for line in block.lines() {
            if line.contains("cargo ")
                || line.starts_with("bash .ci/")
                || line.contains(" tail ")
                || line.starts_with("python3 -m venv")
                || line.contains(".venv/bin/")
            {
                continue;
            }
            let mut line = line
                .replace("127.0.0.1:7878", &format!("127.0.0.1:{port}"))
                .replace("target/release/", "")
                .replace("$(pidof fiscusd)", "$(cat fiscusd.pid)");
            if line.starts_with("fiscusd --data") {
                let command = line.split(" #").next().unwrap_or_default().trim_end().trim_end_matches('&').trim_end();
                line = if command.contains("--listen") {
                    format!("{command} &")
                } else {
                    format!("{command} --listen 127.0.0.1:{port} &")
                };
                script.push_str(&line);
                script.push_str("\necho $! > fiscusd.pid\n");
                script.push_str(&format!(
                    "for _ in $(seq 600); do (exec 3<>/dev/tcp/127.0.0.1/{port}) 2>/dev/null && break; sleep 0.05; done\n"
                ));
                continue;
            }
            script.push_str(&line);
            script.push('\n');
        }
    }
    script
}

/// Runs the shell blocks of the page at `path` (from the repository's root) as [`script_of`] says.
fn follow(path: &str) -> Followed {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("daemon/ is in the repository");
    let page = std::fs::read_to_string(root.join(path)).expect("the page reads");
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("addr").port();
    let script = script_of(&page, port);
    let dir = tempfile::tempdir().expect("temp dir");
    let bins = fiscus_bin().parent().expect("the binaries' directory").to_owned();
    let path_var = format!("{}:{}", bins.display(), std::env::var("PATH").unwrap_or_default());
    let log = dir.path().join("script.out");
    let out = std::fs::File::create(&log).expect("log file");
    let status = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(dir.path())
        .env("HOME", dir.path())
        .env("PATH", path_var)
        .env_remove("FISCUS_SERVER")
        .env_remove("FISCUS_TOKEN")
        .env_remove("FISCUS_TOKEN_FILE")
        .env_remove("FISCUS_STORE")
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("log file"))
        .stderr(out)
        .status()
        .expect("bash runs");
    let output = std::fs::read_to_string(&log).expect("the log reads");
    Followed { dir, port, script, output, ok: status.success() }
}

#[test]
fn clients_readme_runs_as_written_against_fiscusd() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("daemon/ is in the repository");
    let page = std::fs::read_to_string(root.join("clients/README.md")).expect("the page reads");
    let f = follow("clients/README.md");
    assert!(f.ok, "the page's commands failed:\n{}\n---\n{}", f.script, f.output);
    // What the page's organiser sees, before the daemon the page started is stopped.
    let balance = Command::new(fiscus_bin())
        .args(["--server", &format!("http://127.0.0.1:{}", f.port), "--json", "balance", "rustconf-2026"])
        .env("FISCUS_TOKEN_FILE", f.dir.path().join(".fiscus/organiser"))
        .env_remove("FISCUS_TOKEN")
        .output()
        .expect("fiscus runs");
    let v: serde_json::Value = serde_json::from_slice(&balance.stdout)
        .unwrap_or_else(|e| panic!("fiscus balance --json: {e}: {}", String::from_utf8_lossy(&balance.stderr)));
    let shown = format!("{} USD", v["balances"][0]["balance"].as_str().expect("a balance"));
    assert_eq!(shown, stated_balance(&page), "the page's figure against what its commands recorded");
}

/// The README's "Running the daemon": tokens, the daemon, and the accountant's first command.
#[test]
fn readme_runs_as_written_against_fiscusd() {
    let f = follow("README.md");
    assert!(f.ok, "the page's commands failed:\n{}\n---\n{}", f.script, f.output);
    assert!(f.output.contains("Project"), "`fiscus projects` shows its table:\n{}", f.output);
}

/// `daemon/README.md`: tokens made with `fiscusd token add`, the daemon on a new store, the TLS
/// recipe's certificates, and a token revoked with `token revoke` and `kill -HUP`: the revoked
/// token is refused afterwards while the others still work.
#[test]
fn daemon_readme_runs_as_written_against_fiscusd() {
    let f = follow("daemon/README.md");
    assert!(f.ok, "the page's commands failed:\n{}\n---\n{}", f.script, f.output);
    for file in ["cert.pem", "key.pem", "ca.pem"] {
        assert!(f.dir.path().join(file).exists(), "the TLS recipe made {file}:\n{}", f.output);
    }
    let projects = |token: &str| {
        Command::new(fiscus_bin())
            .args(["--server", &format!("http://127.0.0.1:{}", f.port), "projects"])
            .env("FISCUS_TOKEN_FILE", f.dir.path().join(".fiscus").join(token))
            .env_remove("FISCUS_TOKEN")
            .output()
            .expect("fiscus runs")
    };
    // The reload is the daemon's answer to the signal: wait for it, bounded (20 s: a loaded
    // machine running the whole suite took more than 5).
    let mut refused = None;
    for _ in 0..400 {
        let out = projects("alice");
        if !out.status.success() {
            refused = Some(String::from_utf8_lossy(&out.stderr).into_owned());
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let refused = refused.expect("the revoked token is refused after SIGHUP");
    assert!(refused.contains("UNAUTHENTICATED") || refused.contains("token"), "{refused}");
    let ann = projects("ann");
    assert!(ann.status.success(), "another token still works: {}", String::from_utf8_lossy(&ann.stderr));
}
