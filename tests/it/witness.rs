//! `fiscusd` submitting its checkpoints to witnesses: the real daemon and two real `fiscus witness
//! serve` processes on loopback ports chosen at run time. Each new checkpoint ends up cosigned by
//! both (`GetCheckpoint`, latest and of a size), a 2-of-2 policy accepts the bundle made from it; a
//! stopped witness stops nothing else (commits go on, health stays SERVING) and only a 1-of-2
//! policy accepts then; a restart submits nothing already cosigned; a witness that holds a forked
//! history of the log refuses, and nothing of it is stored; one that never answers is given up
//! after its timeout and holds up nothing; a bad `[[witnesses]]` entry stops the start, naming its
//! field.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fiscus_client::witness::add_checkpoint;
use fiscus_proto::pb;
use fiscus_tlog::{AddCheckpoint, Checkpoint, Hash, Note, NoteSigner, NoteVerifier, Policy};
use tonic_health::pb::health_check_response::ServingStatus;

use crate::support::*;
use crate::tlog::verifier_key;

/// The default origin of a daemon started without `log_origin`.
const ORIGIN: &str = "localhost/fiscus";
/// How long a cosignature may take to reach the stored checkpoint.
const COSIGN_DEADLINE: Duration = Duration::from_secs(60);

/// `fiscus` without the environment's server, token or store.
fn fiscus() -> Command {
    let mut c = Command::new(crate::cli::fiscus_bin());
    for var in ["FISCUS_SERVER", "FISCUS_TOKEN", "FISCUS_STORE", "FISCUS_TLS_CA"] {
        c.env_remove(var);
    }
    c
}

/// A running `fiscus witness serve`; killed when dropped.
struct WitnessProcess {
    child: Option<Child>,
    url: String,
    key: NoteVerifier,
}

impl WitnessProcess {
    /// Starts a witness of the log `log_key`, its state in `dir/<name>`, named
    /// `witness.example/<name>`, on a loopback port picked by the kernel.
    fn start(dir: &Path, name: &str, log_key: &str) -> WitnessProcess {
        let state = dir.join(name);
        let key_name = format!("witness.example/{name}");
        let out = fiscus()
            .args(["witness", "key", "--name", &key_name, "--state"])
            .arg(&state)
            .output()
            .expect("fiscus witness key runs");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let key = NoteVerifier::from_verifier_key(String::from_utf8(out.stdout).unwrap().trim()).expect("a key");
        let log = std::fs::File::create(dir.join(format!("{name}.log"))).expect("witness log file");
        let mut child = fiscus()
            .args(["witness", "serve", "--listen", "127.0.0.1:0", "--log", log_key, "--state"])
            .arg(&state)
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("fiscus witness serve starts");
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            // Reads every line, so the witness never blocks on a full pipe.
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let line = rx.recv_timeout(START_DEADLINE).expect("the witness prints its address");
        let addr: std::net::SocketAddr = line
            .strip_prefix("fiscus witness listening on ")
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
        assert!(addr.ip().is_loopback());
        WitnessProcess { child: Some(child), url: format!("http://{addr}"), key }
    }

    /// Kills it and waits for it to be gone.
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for WitnessProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The `[[witnesses]]` entries of a config file for `witnesses`, labelled as given.
fn config(dir: &Path, witnesses: &[(&str, &WitnessProcess)]) -> PathBuf {
    let mut text = String::new();
    for (name, w) in witnesses {
        text.push_str(&format!(
            "[[witnesses]]\nname = \"{name}\"\nurl = \"{}\"\nkey = \"{}\"\ntimeout_ms = 5000\ninterval_ms = 50\n\n",
            w.url,
            w.key.verifier_key()
        ));
    }
    let path = dir.join("fiscusd.toml");
    std::fs::write(&path, text).expect("config written");
    path
}

/// A tlog-policy text: the log, the witnesses w1, w2, ... and a quorum of `k` of them.
fn policy_text(log_key: &str, witnesses: &[&NoteVerifier], k: usize) -> String {
    let log = NoteVerifier::from_verifier_key(log_key).expect("log key");
    let policy =
        Policy::k_of_n(vec![log.clone()], witnesses.iter().map(|w| (*w).clone()).collect(), k).expect("policy");
    // The same policy as text, for `fiscus verify --policy`.
    let mut text = format!("log {}\n", log.verifier_key());
    let mut names = Vec::new();
    for (i, w) in witnesses.iter().enumerate() {
        text.push_str(&format!("witness w{} {}\n", i + 1, w.verifier_key()));
        names.push(format!("w{}", i + 1));
    }
    text.push_str(&format!("group quorum {k} {}\nquorum quorum\n", names.join(" ")));
    assert_eq!(Policy::parse(&text).expect("parses"), policy);
    text
}

/// `GetCheckpoint` of `size` (0: the latest): its size and text.
async fn checkpoint(audit: &mut Audit, size: u64) -> (u64, String) {
    let r = audit.get_checkpoint(pb::GetCheckpointRequest { size }).await.expect("a checkpoint").into_inner();
    (r.size, r.checkpoint)
}

/// Waits until the latest checkpoint, of a size of at least `size_min`, satisfies `policy`;
/// answers its size and text.
async fn wait_cosigned(d: &Daemon, audit: &mut Audit, policy: &Policy, size_min: u64) -> (u64, String) {
    let started = Instant::now();
    loop {
        let (size, text) = checkpoint(audit, 0).await;
        if size >= size_min && policy.verify_checkpoint(&text, ORIGIN).is_ok() {
            return (size, text);
        }
        assert!(
            started.elapsed() < COSIGN_DEADLINE,
            "the latest checkpoint (size {size}) was not cosigned as the policy needs in time:\n{text}\nlog:\n{}",
            d.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The signature lines of `text` by `key`.
fn lines_by(text: &str, key: &NoteVerifier) -> usize {
    let note = Note::parse(text).expect("a note");
    note.signatures.iter().filter(|s| s.name == key.name() && s.key_id == key.key_id()).count()
}

/// `fiscus bundle` of `project` from `d` into `file`.
fn bundle(d: &Daemon, token: &str, project: &str, file: &Path, pin: &str) {
    let out = fiscus()
        .env("FISCUS_SERVER", format!("http://{}", d.addr))
        .env("FISCUS_TOKEN", token)
        .args(["bundle", "--project", project, "--pin", pin, "--out"])
        .arg(file)
        .output()
        .expect("fiscus bundle runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// `fiscus verify --bundle FILE --pin KEY --policy POLICY` offline: success and its output.
fn verify_bundle(file: &Path, pin: &str, policy: &Path) -> (bool, String) {
    let out = fiscus()
        .args(["verify", "--pin", pin, "--bundle"])
        .arg(file)
        .arg("--policy")
        .arg(policy)
        .output()
        .expect("fiscus verify runs");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

async fn commit_contributions(admin: &mut Ledger, prefix: &str, count: usize) {
    for i in 0..count {
        record(admin, vec![contribution(&format!("{prefix}-{i}"), OWN_PROJECT, "25.00", None)])
            .await
            .expect("the commit is taken whatever the witnesses do");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_witnesses_cosign_and_a_stopped_one_stops_nothing_but_its_quorum() {
    let (dir, tokens) = Daemon::prepare();
    let log_key = verifier_key(&dir.path().join("data"));
    let mut w1 = WitnessProcess::start(dir.path(), "w1", &log_key);
    let mut w2 = WitnessProcess::start(dir.path(), "w2", &log_key);
    let config = config(dir.path(), &[("one", &w1), ("two", &w2)]);
    let d = Daemon::spawn(dir.clone(), tokens, &["--config", config.to_str().unwrap()]).await;
    let t = d.tokens.clone();
    let mut admin = d.ledger(Some(&t.admin)).await;
    let mut audit = d.audit(Some(&t.auditor)).await;
    open(&mut admin, OWN_PROJECT, 500).await;
    commit_contributions(&mut admin, "a", 3).await;

    // GetCheckpoint, latest: cosigned by both, each cosignature valid for its witness's key.
    let log = NoteVerifier::from_verifier_key(&log_key).unwrap();
    let both = Policy::k_of_n(vec![log.clone()], vec![w1.key.clone(), w2.key.clone()], 2).unwrap();
    let (size, latest) = wait_cosigned(&d, &mut audit, &both, 4).await;
    let opened = both.verify_checkpoint(&latest, ORIGIN).unwrap();
    assert_eq!(opened.cosigned_by, ["w1", "w2"]);
    assert_eq!((lines_by(&latest, &w1.key), lines_by(&latest, &w2.key)), (1, 1), "one line each:\n{latest}");
    // ... and of that size.
    let (at, of_size) = checkpoint(&mut audit, size).await;
    assert_eq!(at, size);
    both.verify_checkpoint(&of_size, ORIGIN).expect("the checkpoint of a size carries its cosignatures");

    // The bundle made from the daemon passes a 2-of-2 policy offline.
    let files = tempfile::tempdir().unwrap();
    let two_of_two = files.path().join("2-of-2.policy");
    std::fs::write(&two_of_two, policy_text(&log_key, &[&w1.key, &w2.key], 2)).unwrap();
    let one_of_two = files.path().join("1-of-2.policy");
    std::fs::write(&one_of_two, policy_text(&log_key, &[&w1.key, &w2.key], 1)).unwrap();
    let first = files.path().join("first.bundle");
    bundle(&d, &t.admin, OWN_PROJECT, &first, &log_key);
    let (ok, out) = verify_bundle(&first, &log_key, &two_of_two);
    assert!(ok, "2-of-2 accepts the bundle cosigned by both: {out}");

    // A restart submits nothing the stored checkpoint already holds: still one line each.
    let status = d.stop();
    assert!(status.success());
    let d = Daemon::spawn(dir.clone(), t.clone(), &["--config", config.to_str().unwrap()]).await;
    let started = Instant::now();
    while d.log().matches("already holds this witness's cosignature").count() < 2 {
        assert!(started.elapsed() < COSIGN_DEADLINE, "the restart did not look at the stored lines:\n{}", d.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut admin = d.ledger(Some(&t.admin)).await;
    let mut audit = d.audit(Some(&t.auditor)).await;
    let (_, again) = checkpoint(&mut audit, size).await;
    assert_eq!((lines_by(&again, &w1.key), lines_by(&again, &w2.key)), (1, 1), "one line each:\n{again}");

    // Witness two stops: commits go on, health stays SERVING, witness one cosigns the new ones
    // (learning the size it holds from its 409 answer, this fiscusd being new).
    w2.stop();
    commit_contributions(&mut admin, "b", 3).await;
    let only_one = Policy::k_of_n(vec![log.clone()], vec![w1.key.clone()], 1).unwrap();
    let (later, latest) = wait_cosigned(&d, &mut audit, &only_one, size + 3).await;
    assert_eq!(lines_by(&latest, &w2.key), 0, "{latest}");
    assert!(
        d.log().lines().any(|l| l.contains("witness=one") && l.contains("holds another size")),
        "witness one's size learnt from its 409:\n{}",
        d.log()
    );
    assert!(both.verify_checkpoint(&latest, ORIGIN).is_err(), "2-of-2 refuses a checkpoint witness two missed");
    assert_eq!(d.health("fiscus.v1.Ledger").await, ServingStatus::Serving as i32);
    assert_eq!(d.health("").await, ServingStatus::Serving as i32);
    // The earlier checkpoint keeps both cosignatures.
    both.verify_checkpoint(&checkpoint(&mut audit, size).await.1, ORIGIN).expect("still cosigned by both");

    let second = files.path().join("second.bundle");
    bundle(&d, &t.admin, OWN_PROJECT, &second, &log_key);
    let (ok, out) = verify_bundle(&second, &log_key, &two_of_two);
    assert!(!ok && out.contains("quorum"), "2-of-2 refuses with one witness down: {out}");
    let (ok, out) = verify_bundle(&second, &log_key, &one_of_two);
    assert!(ok, "1-of-2 accepts: {out}");
    assert!(later > size);
    // The failure is logged in words, naming the witness.
    let started = Instant::now();
    while !d.log().lines().any(|l| l.contains("two") && l.contains("did not cosign") && l.contains("unreachable")) {
        assert!(started.elapsed() < COSIGN_DEADLINE, "no warning about witness two:\n{}", d.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    w1.stop();
    d.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_witness_holding_a_forked_history_refuses_and_nothing_of_it_is_stored() {
    let (dir, tokens) = Daemon::prepare();
    let data = dir.path().join("data");
    let log_key = verifier_key(&data);
    let honest = WitnessProcess::start(dir.path(), "honest", &log_key);
    let forked = WitnessProcess::start(dir.path(), "forked", &log_key);
    // The forked witness first sees another history of this log: a checkpoint of size 2 signed by
    // the log's own key over another root.
    let signer_key = std::fs::read_to_string(data.join("log.key")).expect("the log key");
    let signer = NoteSigner::from_signer_key(signer_key.trim_end()).expect("a signer key");
    let other = Checkpoint::new(ORIGIN, 2, Hash([7; 32])).unwrap().sign(&signer).unwrap().to_text();
    let request = AddCheckpoint { old_size: 0, proof: vec![], checkpoint: other };
    add_checkpoint(&forked.url, &request, Duration::from_secs(10)).await.expect("it cosigns the other history");

    let config = config(dir.path(), &[("honest", &honest), ("forked", &forked)]);
    let d = Daemon::spawn(dir.clone(), tokens, &["--config", config.to_str().unwrap()]).await;
    let t = d.tokens.clone();
    let mut admin = d.ledger(Some(&t.admin)).await;
    let mut audit = d.audit(Some(&t.auditor)).await;
    open(&mut admin, OWN_PROJECT, 500).await;
    commit_contributions(&mut admin, "a", 4).await;
    let log = NoteVerifier::from_verifier_key(&log_key).unwrap();
    let by_honest = Policy::k_of_n(vec![log.clone()], vec![honest.key.clone()], 1).unwrap();
    let (size, _) = wait_cosigned(&d, &mut audit, &by_honest, 5).await;
    // fiscusd sent the forked witness the proof from the size it holds, and it refused.
    let started = Instant::now();
    while !d.log().lines().any(|l| l.contains("forked") && l.contains("refused with HTTP")) {
        assert!(started.elapsed() < COSIGN_DEADLINE, "no refusal by the forked witness logged:\n{}", d.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // No checkpoint of any size holds a line by the forked witness.
    for at in 1..=size {
        let Ok(r) = audit.get_checkpoint(pb::GetCheckpointRequest { size: at }).await else { continue };
        let text = r.into_inner().checkpoint;
        assert_eq!(lines_by(&text, &forked.key), 0, "size {at}:\n{text}");
    }
    let by_forked = Policy::k_of_n(vec![log], vec![forked.key.clone()], 1).unwrap();
    assert!(by_forked.verify_checkpoint(&checkpoint(&mut audit, 0).await.1, ORIGIN).is_err());
    d.stop();
}

#[tokio::test]
async fn a_bad_witness_entry_stops_the_start_naming_its_field() {
    let (dir, _tokens) = Daemon::prepare();
    let config = dir.path().join("fiscusd.toml");
    // a log key where a witness's cosigner key belongs
    let log_key = verifier_key(&dir.path().join("data"));
    std::fs::write(
        &config,
        format!("[[witnesses]]\nname = \"auditor\"\nurl = \"http://127.0.0.1:7380\"\nkey = \"{log_key}\"\n"),
    )
    .unwrap();
    let mut child = under_umask_022(fiscusd_bin())
        .arg("--data")
        .arg(dir.path().join("data"))
        .arg("--tokens")
        .arg(dir.path().join("tokens.toml"))
        .args(["--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("fiscusd starts");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > START_DEADLINE {
            let _ = child.kill();
            panic!("fiscusd kept running with a bad witness entry");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("piped"), &mut err).unwrap();
    assert!(!status.success());
    assert!(err.contains("witnesses[0].key") && err.contains("cosigner key"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_witness_that_never_answers_holds_up_nothing() {
    // A "witness" that takes connections and never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().take(1_000) {
            let Ok(stream) = stream else { break };
            held.push(stream);
        }
    });
    let key = fiscus_tlog::Cosigner::from_seed("witness.example/silent", [9; 32]).unwrap().verifier_key();
    let (dir, tokens) = Daemon::prepare();
    let config = dir.path().join("fiscusd.toml");
    std::fs::write(
        &config,
        format!("[[witnesses]]\nname = \"silent\"\nurl = \"http://{addr}\"\nkey = \"{key}\"\ntimeout_ms = 300\ninterval_ms = 50\n"),
    )
    .unwrap();
    let d = Daemon::spawn(dir.clone(), tokens, &["--config", config.to_str().unwrap()]).await;
    let t = d.tokens.clone();
    let mut admin = d.ledger(Some(&t.admin)).await;
    open(&mut admin, OWN_PROJECT, 500).await;
    commit_contributions(&mut admin, "a", 10).await;
    // The call is given up after its timeout, in words, and tried again later.
    let started = Instant::now();
    while !d.log().lines().any(|l| l.contains("witness=silent") && l.contains("no answer within 300 ms")) {
        assert!(started.elapsed() < COSIGN_DEADLINE, "no timeout logged:\n{}", d.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    commit_contributions(&mut admin, "b", 3).await;
    assert_eq!(d.health("fiscus.v1.Ledger").await, ServingStatus::Serving as i32);
    let mut audit = d.audit(Some(&t.auditor)).await;
    let (size, latest) = checkpoint(&mut audit, 0).await;
    assert_eq!(size, 14);
    assert_eq!(Note::parse(&latest).unwrap().signatures.len(), 1, "the log's signature only:\n{latest}");
    let status = d.stop();
    assert!(status.success(), "a clean stop with a submission in flight: {status}");
}
