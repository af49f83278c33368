//! The tokens file can be trusted: concurrent `fiscusd token add` runs all land, and a copy of a
//! token's hash under another name (or a lookalike name) keeps the daemon from starting.

use std::process::{Command, Stdio};

use crate::support::*;

#[test]
fn ten_concurrent_token_adds_each_print_a_stored_token() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("tokens.toml");
    let children: Vec<_> = (0..10)
        .map(|i| {
            under_umask_022(fiscusd_bin())
                .args(["token", "add", "--tokens"])
                .arg(&file)
                .args(["--role", "auditor", "--name", &format!("auditor:{i}")])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("fiscusd token add starts")
        })
        .collect();
    let mut printed = Vec::new();
    for child in children {
        let out = child.wait_with_output().expect("token add ends");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        printed.push(String::from_utf8(out.stdout).expect("text").trim().to_owned());
    }
    let stored = fiscus_tokens::load(&file).expect("the file loads");
    assert_eq!(stored.len(), 10, "every add landed");
    for token in &printed {
        let hash = fiscus_tokens::hash_token(token);
        assert!(stored.iter().any(|e| e.hash == hash), "the printed token {token:.12}… is stored");
    }
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&file).expect("metadata").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let names = Command::new(fiscusd_bin()).args(["token", "list", "--tokens"]).arg(&file).output().expect("list");
    assert_eq!(String::from_utf8_lossy(&names.stdout).lines().count(), 10);
}

#[tokio::test]
async fn a_copied_hash_keeps_the_daemon_from_starting() {
    let d = Daemon::start().await;
    let dir = d.dir.clone();
    assert!(d.stop().success());
    let file = dir.path().join("tokens.toml");
    let admin = fiscus_tokens::load(&file).expect("load").into_iter().find(|e| e.name == "admin:root").expect("admin");
    let mut text = std::fs::read_to_string(&file).expect("read");
    text.push_str(&format!(
        "\n[[token]]\nname = \"auditor:evil\"\nrole = \"auditor\"\nhash = \"{}\"\n",
        admin.hash.to_hex()
    ));
    std::fs::write(&file, text).expect("write");
    let (code, err) = refused_start(dir.path());
    assert_ne!(code, Some(0));
    assert!(err.contains("also the hash of \"admin:root\""), "{err}");
}

/// A SIGHUP sent once the port accepts connections, while the store is still being opened and
/// verified (as `systemctl reload` may), reloads the tokens once they serve: it ended the daemon
/// without a word, SIGHUP's default, before its handler was installed.
#[test]
fn a_sighup_while_the_store_opens_does_not_end_fiscusd() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    // a year of books, so that opening and verifying them takes a while
    let made = Command::new(crate::cli::fiscus_bin())
        .args(["demo", "--store"])
        .arg(&data)
        .env_remove("FISCUS_STORE")
        .output()
        .expect("fiscus demo runs");
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let tokens = dir.path().join("tokens.toml");
    let added = under_umask_022(fiscusd_bin())
        .args(["token", "add", "--tokens"])
        .arg(&tokens)
        .args(["--role", "auditor", "--name", "auditor:ann"])
        .output()
        .expect("token add runs");
    assert!(added.status.success());
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("addr").port();
    let log = dir.path().join("fiscusd.log");
    let mut child = under_umask_022(fiscusd_bin())
        .arg("--data")
        .arg(&data)
        .arg("--tokens")
        .arg(&tokens)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(&log).expect("log file")))
        .spawn()
        .expect("fiscusd starts");
    let started = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(started.elapsed() < std::time::Duration::from_secs(30), "fiscusd never listened");
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    let sent = Command::new("kill").args(["-HUP", &child.id().to_string()]).status().expect("kill runs");
    assert!(sent.success());
    let mut reloaded = false;
    while started.elapsed() < std::time::Duration::from_secs(60) {
        if let Some(status) = child.try_wait().expect("wait") {
            panic!("fiscusd ended ({status}) on a SIGHUP while it opened its store:\n{}", read_log(&log));
        }
        if read_log(&log).contains("SIGHUP: tokens file reloaded") {
            reloaded = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(reloaded, "no reload logged:\n{}", read_log(&log));
}
