//! `fiscus witness serve` as a real process on a loopback port: it cosigns a consistent
//! checkpoint, refuses a forked history, another key's checkpoint and an older one with the
//! tlog-witness statuses, keeps its state across a restart, and bounds what it reads.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fiscus_client::witness::{add_checkpoint, WitnessCallError};
use fiscus_tlog::{leaf_hash, AddCheckpoint, Checkpoint, MemoryTree, Note, NoteSigner, NoteVerifier, Policy};

const ORIGIN: &str = "fiscus.example/ledger";
const NAME: &str = "witness.example/w1";
const TIMEOUT: Duration = Duration::from_secs(10);

fn fiscus() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_fiscus"));
    for var in ["FISCUS_SERVER", "FISCUS_TOKEN", "FISCUS_STORE", "FISCUS_TLS_CA"] {
        c.env_remove(var);
    }
    c
}

/// A running witness; killed when dropped.
struct Served {
    child: Child,
    url: String,
    addr: SocketAddr,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(state: &Path, extra: &[&str]) -> Served {
    let mut child = fiscus()
        .args(["witness", "serve", "--listen", "127.0.0.1:0", "--state"])
        .arg(state)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("fiscus witness serve starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("piped")).read_line(&mut line).expect("reads its address");
    let addr: SocketAddr = line
        .trim()
        .strip_prefix("fiscus witness listening on ")
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    assert!(addr.ip().is_loopback());
    Served { child, url: format!("http://{addr}"), addr }
}

/// A log: its key and its tree.
struct Log {
    key: NoteSigner,
    tree: MemoryTree,
}

impl Log {
    fn new(seed: u8) -> Log {
        Log { key: NoteSigner::from_seed(ORIGIN, [seed; 32]).unwrap(), tree: MemoryTree::new() }
    }
    fn grow(&mut self, leaves: u32) {
        let start = self.tree.size() as u32;
        for i in start..start + leaves {
            self.tree.append(leaf_hash(&i.to_be_bytes()));
        }
    }
    fn checkpoint(&self, size: u64) -> String {
        let root = self.tree.root_at(size).unwrap();
        Checkpoint::new(ORIGIN, size, root).unwrap().sign(&self.key).unwrap().to_text()
    }
    fn request(&self, old: u64, new: u64) -> AddCheckpoint {
        AddCheckpoint {
            old_size: old,
            proof: self.tree.consistency_proof(old, new).unwrap(),
            checkpoint: self.checkpoint(new),
        }
    }
}

fn witness_key(state: &Path) -> NoteVerifier {
    let out = fiscus().args(["witness", "key", "--state"]).arg(state).output().expect("fiscus witness key runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    NoteVerifier::from_verifier_key(String::from_utf8(out.stdout).unwrap().trim()).expect("a verifier key")
}

fn refused_status(e: WitnessCallError) -> u16 {
    match e {
        WitnessCallError::Refused { status, .. } => status,
        other => panic!("expected an HTTP refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn cosigns_refuses_forks_other_keys_and_rollbacks_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("witness");
    let mut log = Log::new(1);
    let log_key = log.key.verifier_key();
    let served = serve(&state, &["--name", NAME, "--log", &log_key]);
    let key = witness_key(&state);
    assert_eq!(key.name(), NAME);
    let policy = Policy::k_of_n(vec![log.key.verifier()], vec![key.clone()], 1).unwrap();

    // A first checkpoint (old 0, empty proof) is cosigned; the cosignature verifies.
    log.grow(5);
    let request = log.request(0, 5);
    let lines = add_checkpoint(&served.url, &request, TIMEOUT).await.expect("cosigned");
    let cosigned = policy.add_cosignatures(&request.checkpoint, &lines).unwrap();
    let opened = policy.verify_checkpoint(&cosigned, ORIGIN).expect("cosignature verifies");
    assert_eq!(opened.opened.checkpoint.size, 5);

    // A consistent growth is cosigned.
    log.grow(7);
    let lines = add_checkpoint(&served.url, &log.request(5, 12), TIMEOUT).await.expect("cosigned");
    assert_eq!(lines.len(), 1);

    // A fork: another history of the same size 12: 409, and not a size conflict.
    let mut fork = Log::new(1);
    fork.grow(11);
    fork.tree.append(leaf_hash(b"forged"));
    let forked = AddCheckpoint { old_size: 12, proof: vec![], checkpoint: fork.checkpoint(12) };
    let refused = add_checkpoint(&served.url, &forked, TIMEOUT).await.unwrap_err();
    assert_eq!(refused_status(refused), 409);
    // The fork grown further: no consistency proof leads to it: 422.
    fork.grow(3);
    let grown = AddCheckpoint {
        old_size: 12,
        proof: fork.tree.consistency_proof(12, 15).unwrap(),
        checkpoint: fork.checkpoint(15),
    };
    assert_eq!(refused_status(add_checkpoint(&served.url, &grown, TIMEOUT).await.unwrap_err()), 422);

    // Signed by another key with the log's name: 403.
    let mut impostor = Log::new(9);
    impostor.grow(13);
    let refused = add_checkpoint(&served.url, &impostor.request(12, 13), TIMEOUT).await.unwrap_err();
    assert_eq!(refused_status(refused), 403);

    // An older checkpoint replayed as newer: 409 with the held size.
    let older = log.request(0, 4);
    assert_eq!(
        add_checkpoint(&served.url, &older, TIMEOUT).await.unwrap_err(),
        WitnessCallError::SizeConflict { size: 12 }
    );
    let claimed = AddCheckpoint { old_size: 12, proof: vec![], checkpoint: log.checkpoint(4) };
    assert_eq!(refused_status(add_checkpoint(&served.url, &claimed, TIMEOUT).await.unwrap_err()), 400);

    // The state files are the owner's only.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&state), 0o700);
        assert_eq!(mode(&state.join("witness.key")), 0o600);
        for entry in std::fs::read_dir(state.join("logs")).unwrap() {
            assert_eq!(mode(&entry.unwrap().path()), 0o600);
        }
    }

    // A restart keeps the key and the held checkpoint: size 12, and the fork is still refused.
    drop(served);
    let served = serve(&state, &["--log", &log_key]);
    assert_eq!(witness_key(&state), key);
    assert_eq!(
        add_checkpoint(&served.url, &log.request(0, 12), TIMEOUT).await.unwrap_err(),
        WitnessCallError::SizeConflict { size: 12 }
    );
    assert_eq!(refused_status(add_checkpoint(&served.url, &forked, TIMEOUT).await.unwrap_err()), 409);
    log.grow(1);
    let request = log.request(12, 13);
    let lines = add_checkpoint(&served.url, &request, TIMEOUT).await.expect("cosigned after the restart");
    let cosigned = policy.add_cosignatures(&request.checkpoint, &lines).unwrap();
    assert_eq!(Note::parse(&cosigned).unwrap().signatures.len(), 2);
    policy.verify_checkpoint(&cosigned, ORIGIN).expect("still the same witness key");
}

#[tokio::test]
async fn unknown_logs_bad_requests_and_oversized_bodies_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("witness");
    let mut log = Log::new(1);
    let served = serve(&state, &["--name", NAME, "--log", &log.key.verifier_key()]);

    let stranger = NoteSigner::from_seed("other.example/log", [3; 32]).unwrap();
    let body = Checkpoint::new("other.example/log", 1, leaf_hash(b"x")).unwrap().sign(&stranger).unwrap();
    let request = AddCheckpoint { old_size: 0, proof: vec![], checkpoint: body.to_text() };
    assert_eq!(refused_status(add_checkpoint(&served.url, &request, TIMEOUT).await.unwrap_err()), 404);

    // Raw HTTP: garbage, a wrong path, a wrong method, a body over the limit.
    let raw = |request: &[u8]| -> String {
        let mut stream = std::net::TcpStream::connect(served.addr).unwrap();
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        stream.write_all(request).unwrap();
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        answer
    };
    let post = |body: &str| {
        format!(
            "POST /add-checkpoint HTTP/1.1\r\nHost: w\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    assert!(raw(post("old 01\n\n").as_bytes()).starts_with("HTTP/1.1 400"));
    assert!(raw(post("hello").as_bytes()).starts_with("HTTP/1.1 400"));
    assert!(raw(b"GET /add-checkpoint HTTP/1.1\r\nHost: w\r\nConnection: close\r\n\r\n").starts_with("HTTP/1.1 405"));
    assert!(raw(b"POST /other HTTP/1.1\r\nHost: w\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
        .starts_with("HTTP/1.1 404"));
    let huge = format!(
        "POST /add-checkpoint HTTP/1.1\r\nHost: w\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        10 * 1024 * 1024
    );
    assert!(raw(huge.as_bytes()).starts_with("HTTP/1.1 413"));
    // Chunked, without a length: cut at the limit as it streams.
    let mut chunked =
        b"POST /add-checkpoint HTTP/1.1\r\nHost: w\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..40 {
        chunked.extend_from_slice(format!("{:x}\r\n{}\r\n", 4096, "a".repeat(4096)).as_bytes());
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    assert!(raw(&chunked).starts_with("HTTP/1.1 413"));

    // Still serving.
    log.grow(2);
    assert!(add_checkpoint(&served.url, &log.request(0, 2), TIMEOUT).await.is_ok());
}

#[test]
fn refuses_to_start_without_logs_a_name_or_with_a_damaged_state() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("witness");
    let run = |args: &[&str]| {
        let out = fiscus().args(["witness"]).args(args).arg("--state").arg(&state).output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let log = NoteSigner::from_seed(ORIGIN, [1; 32]).unwrap().verifier_key();
    let (code, err) = run(&["key"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--name"), "{err}");
    let (code, err) = run(&["serve", "--name", NAME]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--log"), "{err}");
    let (code, err) = run(&["serve", "--log", "not a key"]);
    assert_eq!(code, Some(2), "{err}");
    // A held checkpoint that does not open under the log's key: refused, not forgotten.
    std::fs::create_dir_all(state.join("logs")).unwrap();
    let other = NoteSigner::from_seed(ORIGIN, [7; 32]).unwrap();
    let note = Checkpoint::new(ORIGIN, 3, leaf_hash(b"x")).unwrap().sign(&other).unwrap().to_text();
    let file = format!("{}.checkpoint", &blake3::hash(ORIGIN.as_bytes()).to_hex()[..32]);
    std::fs::write(state.join("logs").join(file), note).unwrap();
    let (code, err) = run(&["serve", "--name", NAME, "--log", &log, "--listen", "127.0.0.1:0"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("refusing to start"), "{err}");
}

/// A signing key given as the witness's config (`--config S/witness.key`) is refused with the
/// place of the fault and none of the key's text (toml's message printed the line); a `witness.key`
/// that is a link (here to `/dev/zero`) is refused as not a regular file, never with `chmod`
/// advice that would change the device it names.
#[cfg(unix)]
#[test]
fn a_key_as_the_config_and_a_link_as_the_key_are_refused_safely() {
    let dir = tempfile::tempdir().unwrap();
    let made = dir.path().join("made");
    let out = fiscus().args(["witness", "key", "--name", NAME, "--state"]).arg(&made).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let key_file = made.join("witness.key");
    let key_text = std::fs::read_to_string(&key_file).unwrap();
    let secret = key_text.trim().splitn(5, '+').nth(4).unwrap().to_owned();
    assert!(key_text.starts_with("PRIVATE+KEY+") && secret.len() > 20, "{key_text}");
    let log = NoteSigner::from_seed(ORIGIN, [1; 32]).unwrap().verifier_key();
    let state = dir.path().join("state");
    let out = fiscus()
        .args(["witness", "serve", "--name", NAME, "--log", &log, "--listen", "127.0.0.1:0", "--config"])
        .arg(&key_file)
        .arg("--state")
        .arg(&state)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(&format!("--config {}: line 1, column ", key_file.display())), "{err}");
    assert!(!err.contains(&secret) && !err.contains("PRIVATE+KEY"), "{err}");

    let linked = dir.path().join("linked");
    std::fs::create_dir(&linked).unwrap();
    std::fs::set_permissions(&linked, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    std::os::unix::fs::symlink("/dev/zero", linked.join("witness.key")).unwrap();
    let out = fiscus().args(["witness", "key", "--state"]).arg(&linked).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("is not a regular file (a symbolic link)") && !err.contains("chmod"), "{err}");
}
