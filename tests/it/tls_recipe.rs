//! Issue 13 §4, TLS an operator can run with: the certificate recipe of `daemon/README.md` ("TLS"),
//! run as written with openssl, gives a certificate fiscusd serves and `fiscus --tls-ca` connects
//! to; a bad certificate is explained in words when fiscusd starts (a self-signed CA certificate
//! from the usual `openssl req -x509`, a key that is not the certificate's) and when a client
//! connects (unknown issuer, wrong host name, https to a plaintext port, http to a TLS port).

use std::path::Path;
use std::process::{Command, Output};

use fiscus_proto::pb;

use crate::cli::fiscus_bin;
use crate::support::*;

/// The first ```sh block after the "## TLS" heading of daemon/README.md.
fn recipe() -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("daemon/README.md");
    let (_, section) = readme.split_once("\n## TLS\n").expect("daemon/README.md has a TLS section");
    let (_, block) = section.split_once("```sh\n").expect("the TLS section has a sh block");
    let (block, _) = block.split_once("\n```").expect("the block ends");
    block.to_owned()
}

fn run_in(dir: &Path, script: &str) -> Output {
    Command::new("bash").args(["-euo", "pipefail", "-c", script]).current_dir(dir).output().expect("bash runs")
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// `fiscus projects` against `url` with the admin token and `extra` flags.
fn fiscus_at(d: &Daemon, url: &str, extra: &[&str]) -> Output {
    let mut c = Command::new(fiscus_bin());
    for var in ["FISCUS_SERVER", "FISCUS_STORE", "FISCUS_TLS_CA", "FISCUS_TOKEN_FILE"] {
        c.env_remove(var);
    }
    c.env("FISCUS_TOKEN", &d.tokens.admin).args(["--server", url]).args(extra).arg("projects");
    c.output().expect("fiscus runs")
}

/// fiscusd on `dir`'s store and tokens with `--tls-cert cert --tls-key key`, until it exits.
fn refused_with(dir: &Path, cert: &Path, key: &Path) -> String {
    let out = Command::new(fiscusd_bin())
        .arg("--data")
        .arg(dir.join("data"))
        .arg("--create")
        .arg("--tokens")
        .arg(dir.join("tokens.toml"))
        .args(["--listen", "127.0.0.1:0", "--tls-cert"])
        .arg(cert)
        .arg("--tls-key")
        .arg(key)
        .output()
        .expect("fiscusd runs");
    assert!(!out.status.success(), "fiscusd started with a certificate clients refuse");
    text(&out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_recipe_serves_tls_and_bad_certificates_are_explained() {
    let (dir, tokens) = Daemon::prepare();
    let certs = tempfile::tempdir().expect("temp dir");
    let out = run_in(certs.path(), &recipe());
    assert!(out.status.success(), "the recipe runs as written:\n{}", text(&out));
    let (cert, key, ca) = (certs.path().join("cert.pem"), certs.path().join("key.pem"), certs.path().join("ca.pem"));

    // The usual self-signed certificate: refused at start, in words, pointing at the recipe.
    let usual = "openssl req -x509 -newkey rsa:2048 -nodes -days 365 -subj /CN=localhost \
                 -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout usual.key -out usual.pem";
    assert!(run_in(certs.path(), usual).status.success());
    let said = refused_with(dir.path(), &certs.path().join("usual.pem"), &certs.path().join("usual.key"));
    assert!(said.contains("is a CA certificate") && said.contains("daemon/README.md"), "{said}");
    assert!(!said.contains("CaUsedAsEndEntity"), "in words: {said}");
    // A key that is not the certificate's.
    let said = refused_with(dir.path(), &cert, &certs.path().join("usual.key"));
    assert!(said.contains("does not match the certificate"), "{said}");

    let ca_pem = std::fs::read(&ca).expect("ca.pem");
    let args = ["--tls-cert", cert.to_str().expect("utf-8"), "--tls-key", key.to_str().expect("utf-8")];
    let d = Daemon::spawn_tls(dir, tokens, &args, Some(ca_pem)).await;
    let mut admin = d.ledger(Some(&d.tokens.admin)).await;
    open(&mut admin, "conf-a", 0).await;
    let b = admin.get_balance(pb::GetBalanceRequest { project: "conf-a".into(), currency: None, as_of: None }).await;
    assert!(b.is_ok(), "{b:?}");
    let https = format!("https://{}", d.addr);
    let ca_flag = ["--tls-ca", ca.to_str().expect("utf-8")];
    let out = fiscus_at(&d, &https, &ca_flag);
    assert!(out.status.success() && text(&out).contains("conf-a"), "fiscus --tls-ca connects:\n{}", text(&out));
    let out = fiscus_at(&d, &format!("https://localhost:{}", d.addr.port()), &ca_flag);
    assert!(out.status.success(), "by the name localhost too:\n{}", text(&out));

    // A client that does not trust the CA, or expects another name, is told so in words.
    let said = text(&fiscus_at(&d, &https, &[]));
    assert!(said.contains("not signed by a CA this client trusts") && said.contains("--tls-ca"), "{said}");
    let said = text(&fiscus_at(&d, &https, &[&ca_flag[..], &["--tls-domain", "other.example"]].concat()));
    assert!(said.contains("not for the name other.example") && said.contains("books.example.org"), "{said}");
    // http:// to the TLS port.
    let said = text(&fiscus_at(&d, &format!("http://{}", d.addr), &[]));
    assert!(said.contains("serves TLS: use https://"), "{said}");

    // https:// to a plaintext port.
    let plain = Daemon::start().await;
    let said = text(&fiscus_at(&plain, &format!("https://{}", plain.addr), &ca_flag));
    assert!(said.contains("does not speak TLS") && said.contains(&format!("use http://{}", plain.addr)), "{said}");
}
