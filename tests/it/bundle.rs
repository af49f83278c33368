//! `fiscus bundle --project P --out FILE --pin KEY` against the real daemon: the bundle it writes
//! verifies offline with `fiscus verify --bundle FILE --pin KEY` once the daemon is gone, and
//! reports the project's balance; another key refuses it; a project's token cannot make a bundle
//! of another project and learns nothing of it.

use std::process::Command;

use serde_json::Value;

use crate::support::*;
use crate::tlog::verifier_key;

/// `fiscus ARGS` with `token` against `d` (none: offline); success and stdout + stderr.
fn fiscus(d: Option<&Daemon>, token: Option<&str>, args: &[&str]) -> (bool, String) {
    let mut c = Command::new(crate::cli::fiscus_bin());
    c.env_remove("FISCUS_STORE").env_remove("FISCUS_SERVER").env_remove("FISCUS_TOKEN");
    if let Some(d) = d {
        c.env("FISCUS_SERVER", format!("http://{}", d.addr));
    }
    if let Some(t) = token {
        c.env("FISCUS_TOKEN", t);
    }
    let out = c.args(args).output().expect("fiscus runs");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bundle_written_from_the_daemon_verifies_offline_under_the_pinned_key_only() {
    let d = Daemon::start().await;
    let key = verifier_key(&d.data());
    let t = d.tokens.clone();
    let mut admin = d.ledger(Some(&t.admin)).await;
    open(&mut admin, OWN_PROJECT, 500).await;
    open(&mut admin, "conf-b", 500).await;
    for i in 0..4 {
        record(&mut admin, vec![contribution(&format!("g-{i}"), OWN_PROJECT, "25.00", None)]).await.unwrap();
        record(&mut admin, vec![contribution(&format!("b-{i}"), "conf-b", "10.00", None)]).await.unwrap();
    }
    record(&mut admin, vec![expense_paid("pay-1", OWN_PROJECT, "7.50")]).await.unwrap();
    let balance = usd_balance(&mut admin, OWN_PROJECT).await;
    let mut audit = d.audit(Some(&t.auditor)).await;
    let head = head_seq(&mut audit, OWN_PROJECT).await;
    let (ok, journal) = fiscus(Some(&d), Some(&t.admin), &["export", "hledger", "--project", OWN_PROJECT]);
    assert!(ok, "{journal}");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("conf-a.bundle");
    let f = file.display().to_string();
    // the project's own token makes its bundle
    let (ok, out) =
        fiscus(Some(&d), Some(&t.project), &["bundle", "--project", OWN_PROJECT, "--out", &f, "--pin", &key]);
    assert!(ok, "{out}");
    assert!(out.contains(&format!("head seq {head}")), "{out}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o077, 0, "owner-only");
    }
    let written: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(written["verifier_key"], key.as_str());
    assert_eq!(written["records"].as_array().unwrap().len() as u64, head);
    assert_eq!(written["journal"].as_str().unwrap(), journal, "the journal `fiscus export hledger` writes");

    // A project token of another project: refused, and the refusal says nothing of conf-b.
    let other = dir.path().join("conf-b.bundle");
    let o = other.display().to_string();
    let (ok, out) = fiscus(Some(&d), Some(&t.project), &["bundle", "--project", "conf-b", "--out", &o, "--pin", &key]);
    assert!(!ok && out.contains("PERMISSION_DENIED"), "{out}");
    assert!(!out.contains("conf-b") && !other.exists(), "{out}");

    // A local store has no signed checkpoint: refused, and no store is made.
    let store = dir.path().join("store");
    let s = store.display().to_string();
    let (ok, out) =
        fiscus(None, None, &["--store", &s, "bundle", "--project", OWN_PROJECT, "--out", &o, "--pin", &key]);
    assert!(!ok && out.contains("needs --server") && !store.exists() && !other.exists(), "{out}");

    // Offline: the daemon is gone.
    d.stop();
    let (ok, out) = fiscus(None, None, &["--json", "verify", "--bundle", &f, "--pin", &key]);
    assert!(ok, "{out}");
    let verified: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(verified["verified"], true);
    assert_eq!(verified["project"], OWN_PROJECT);
    assert_eq!(verified["head_seq"], head);
    let usd = &verified["balances"].as_array().unwrap()[0];
    assert_eq!(usd["currency"], "USD");
    assert_eq!(usd["balance"].as_str().unwrap(), balance.balance, "{out}");
    assert_eq!(usd["available"].as_str().unwrap(), balance.available, "{out}");
    let (ok, out) = fiscus(None, None, &["verify", "--bundle", &f, "--pin", &key]);
    assert!(ok && out.contains("Verified bundle of conf-a") && out.contains("balance"), "{out}");
    // The same bundle through a pipe (`cat FILE | fiscus verify --bundle /dev/stdin`, or `<(…)`),
    // and from standard input (`-`).
    for from in ["/dev/stdin", "-"] {
        let mut child = Command::new(crate::cli::fiscus_bin())
            .args(["verify", "--bundle", from, "--pin", &key])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("fiscus runs");
        let bytes = std::fs::read(&file).unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let writer = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &bytes));
        let piped = child.wait_with_output().expect("fiscus exits");
        let _ = writer.join();
        let out = format!("{}{}", String::from_utf8_lossy(&piped.stdout), String::from_utf8_lossy(&piped.stderr));
        assert!(piped.status.success() && out.contains("Verified bundle of conf-a"), "through a pipe, {from}: {out}");
    }

    // Another key: refused.
    let wrong = fiscus_tlog::NoteSigner::generate("localhost/fiscus").unwrap().verifier_key();
    let (ok, out) = fiscus(None, None, &["verify", "--bundle", &f, "--pin", &wrong]);
    assert!(!ok && out.contains("does not verify"), "{out}");

    // Asked for one project, a bundle of another is refused; of the same one, verified.
    let (ok, out) = fiscus(None, None, &["verify", "--bundle", &f, "--pin", &key, "--project", "conf-b"]);
    assert!(!ok && out.contains("the bundle is of project conf-a, not of --project conf-b"), "{out}");
    let (ok, out) = fiscus(None, None, &["verify", "--bundle", &f, "--pin", &key, "--project", OWN_PROJECT]);
    assert!(ok && out.contains("Verified bundle of conf-a"), "{out}");
    // a receipt and a bundle at once: refused, not one of them checked in silence
    let (ok, out) = fiscus(None, None, &["verify", "--bundle", &f, "--receipt", &f, "--pin", &key]);
    assert!(!ok && out.contains("cannot be used with"), "{out}");
}
