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
use crate::tlog::verifier_key_made;

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
        WitnessProcess::start_at(dir, name, log_key, "127.0.0.1:0")
    }

    /// Starts it as [`WitnessProcess::start`] does, listening on `listen` (to restart one where
    /// a daemon's config expects it).
    fn start_at(dir: &Path, name: &str, log_key: &str, listen: &str) -> WitnessProcess {
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
            .args(["witness", "serve", "--listen", listen, "--log", log_key, "--state"])
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

/// fiscusd with two witnesses of its log, w1 and w2 ("one" and "two" in its config, `config`),
/// and the project `OWN_PROJECT` opened with `contributions` contributions committed.
struct TwoWitnesses {
    dir: std::sync::Arc<tempfile::TempDir>,
    log_key: String,
    w1: WitnessProcess,
    w2: WitnessProcess,
    config: PathBuf,
    d: Daemon,
    /// The admin's connection.
    admin: Ledger,
}

impl TwoWitnesses {
    async fn start(contributions: usize) -> TwoWitnesses {
        let (dir, tokens) = Daemon::prepare();
        let log_key = verifier_key_made(&dir.path().join("data"));
        let w1 = WitnessProcess::start(dir.path(), "w1", &log_key);
        let w2 = WitnessProcess::start(dir.path(), "w2", &log_key);
        let config = config(dir.path(), &[("one", &w1), ("two", &w2)]);
        let d = Daemon::spawn(dir.clone(), tokens, &["--config", config.to_str().unwrap()]).await;
        let mut admin = d.ledger(Some(&d.tokens.admin)).await;
        open(&mut admin, OWN_PROJECT, 500).await;
        commit_contributions(&mut admin, "a", contributions).await;
        TwoWitnesses { dir, log_key, w1, w2, config, d, admin }
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

/// `fiscus bundle` of `project` from `d` into `file` with `extra` arguments: success, stdout and
/// stderr.
fn bundle_with(
    d: &Daemon,
    token: &str,
    project: &str,
    file: &Path,
    pin: &str,
    extra: &[&str],
) -> (bool, String, String) {
    let out = fiscus()
        .env("FISCUS_SERVER", format!("http://{}", d.addr))
        .env("FISCUS_TOKEN", token)
        .args(["bundle", "--project", project, "--pin", pin, "--out"])
        .arg(file)
        .args(extra)
        .output()
        .expect("fiscus bundle runs");
    let (stdout, stderr) =
        (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned());
    (out.status.success(), stdout, stderr)
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
    let TwoWitnesses { dir, log_key, mut w1, mut w2, config, d, .. } = TwoWitnesses::start(3).await;
    let t = d.tokens.clone();
    let mut audit = d.audit(Some(&t.auditor)).await;

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
    let log_key = verifier_key_made(&data);
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
    let log_key = verifier_key_made(&dir.path().join("data"));
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

/// `fiscus verify --server --project P --pin KEY [--policy FILE --wait SECONDS] --state FILE
/// --json` with the project's own token: success, the JSON report and the text of stderr.
fn verify_live(
    d: &Daemon,
    pin: &str,
    state: &Path,
    policy: Option<(&Path, u64)>,
    json: bool,
) -> (bool, serde_json::Value, String) {
    let mut c = fiscus();
    c.env("FISCUS_SERVER", format!("http://{}", d.addr))
        .env("FISCUS_TOKEN", &d.tokens.project)
        .args(["verify", "--project", OWN_PROJECT, "--pin", pin, "--state"])
        .arg(state);
    if let Some((file, wait)) = policy {
        c.arg("--policy").arg(file).args(["--wait", &wait.to_string()]);
    }
    if json {
        c.arg("--json");
    }
    let out = c.output().expect("fiscus verify runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let report = if json { serde_json::from_str(&stdout).unwrap_or(serde_json::Value::Null) } else { stdout.into() };
    (out.status.success(), report, stderr)
}

/// A live balance under a witness policy (`fiscus verify --server --pin --policy`): 2-of-2 accepts
/// once both witnesses cosigned a checkpoint containing the head's, and the state file keeps that
/// cosigned checkpoint; a policy holding a wrong key for one witness is refused naming it; with
/// one witness stopped and the log moved on, 2-of-2 is refused naming the silent witness and the
/// state file is left as it was, while 1-of-2 and no policy at all still accept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_balance_needs_the_policy_quorum_of_cosignatures() {
    let TwoWitnesses { log_key, w1, mut w2, d, mut admin, .. } = TwoWitnesses::start(3).await;
    let t = d.tokens.clone();

    let files = tempfile::tempdir().unwrap();
    let two_of_two = files.path().join("2-of-2.policy");
    std::fs::write(&two_of_two, policy_text(&log_key, &[&w1.key, &w2.key], 2)).unwrap();
    let one_of_two = files.path().join("1-of-2.policy");
    std::fs::write(&one_of_two, policy_text(&log_key, &[&w1.key, &w2.key], 1)).unwrap();
    let log = NoteVerifier::from_verifier_key(&log_key).unwrap();
    let both = Policy::k_of_n(vec![log.clone()], vec![w1.key.clone(), w2.key.clone()], 2).unwrap();

    // 2-of-2 accepts (waiting for the cosignatures when they are not there yet).
    let state = files.path().join("state");
    let (ok, report, err) = verify_live(&d, &log_key, &state, Some((&two_of_two, 60)), true);
    assert!(ok, "2-of-2 accepts with both witnesses up: {report} {err}");
    let one = &report["projects"][0];
    assert_eq!(one["ok"], true, "{report}");
    let head_size = one["checkpoint"]["size"].as_u64().expect("the head's checkpoint size");
    let cosigned = &one["cosigned_checkpoint"];
    let cosigned_size = cosigned["size"].as_u64().expect("the cosigned checkpoint's size");
    assert!(cosigned_size >= head_size, "{report}");
    assert_eq!(cosigned["cosigned_by"], serde_json::json!(["w1", "w2"]), "{report}");
    assert_eq!(one["balances"][0]["balance"], "71.25", "3 x 25.00 less 5 %: {report}");
    // The state file keeps the cosigned checkpoint, cosignatures included.
    let kept = std::fs::read_to_string(&state).expect("the state file is written");
    let opened = both.verify_checkpoint(&kept, ORIGIN).expect("the state file keeps the cosigned checkpoint");
    assert_eq!(opened.opened.checkpoint.size, cosigned_size);
    // The text names the checkpoint and the witnesses.
    let (ok, text, err) = verify_live(&d, &log_key, &state, Some((&two_of_two, 60)), false);
    assert!(ok, "{text} {err}");
    let text = text.as_str().unwrap_or_default();
    assert!(text.contains("w1, w2") && text.contains("proven under checkpoint"), "{text}");
    // `quorum none` needs no cosignature and says so (never "cosigned by ,"); a first use says
    // that nothing was kept before.
    let none = files.path().join("none.policy");
    std::fs::write(&none, format!("log {log_key}\nquorum none\n")).unwrap();
    let (ok, text, err) = verify_live(&d, &log_key, &files.path().join("none-state"), Some((&none, 1)), false);
    assert!(ok, "{text} {err}");
    let text = text.as_str().unwrap_or_default();
    assert!(text.contains("no cosignatures needed (quorum none)") && !text.contains("cosigned by ,"), "{text}");
    assert!(text.contains("no earlier checkpoint was kept: this one is trusted on first use"), "{text}");

    // A policy with another key for w2 (same name, another key: a cosignature by the real w2 is
    // no cosignature by that key) is refused, naming w2.
    let impostor = fiscus_tlog::Cosigner::from_seed(w2.key.name(), [42; 32]).unwrap().verifier();
    let wrong = files.path().join("wrong-key.policy");
    std::fs::write(&wrong, policy_text(&log_key, &[&w1.key, &impostor], 2)).unwrap();
    let before = std::fs::read_to_string(&state).unwrap();
    let (ok, _, err) = verify_live(&d, &log_key, &state, Some((&wrong, 1)), true);
    assert!(!ok, "a wrong witness key is refused");
    assert!(err.contains("witness policy not met") && err.contains("w2 has not cosigned any checkpoint"), "{err}");
    assert_eq!(std::fs::read_to_string(&state).unwrap(), before, "a refusal keeps nothing");

    // A policy that does not list the pinned log key is a usage error, said as such.
    let no_log = files.path().join("no-log.policy");
    std::fs::write(&no_log, format!("witness w1 {}\nquorum w1\n", w1.key.verifier_key())).unwrap();
    let (ok, _, err) = verify_live(&d, &log_key, &state, Some((&no_log, 1)), true);
    assert!(!ok && err.contains("lists no log line with the pinned key"), "{err}");
    assert_eq!(std::fs::read_to_string(&state).unwrap(), before, "a refusal keeps nothing");

    // Witness two stops and the log moves on: nothing at or after the head's checkpoint is
    // cosigned by both, so 2-of-2 is refused, naming w2 and the size.
    w2.stop();
    commit_contributions(&mut admin, "b", 3).await;
    let mut audit = d.audit(Some(&t.auditor)).await;
    let only_one = Policy::k_of_n(vec![log.clone()], vec![w1.key.clone()], 1).unwrap();
    let (latest, _) = wait_cosigned(&d, &mut audit, &only_one, cosigned_size + 3).await;
    let (ok, _, err) = verify_live(&d, &log_key, &state, Some((&two_of_two, 1)), true);
    assert!(!ok, "2-of-2 is refused with one witness down");
    assert!(
        err.contains(&format!("w2 has not cosigned any checkpoint at or after size {latest}"))
            && err.contains("cosigned by 1 of the policy's witnesses (w1)"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&state).unwrap(), before, "a refusal keeps nothing");
    // 1-of-2 accepts, and so does no policy at all (as before: the log's signature only).
    let (ok, report, err) = verify_live(&d, &log_key, &state, Some((&one_of_two, 60)), true);
    assert!(ok, "1-of-2 accepts: {report} {err}");
    assert_eq!(report["projects"][0]["cosigned_checkpoint"]["cosigned_by"], serde_json::json!(["w1"]));
    let plain = files.path().join("plain-state");
    let (ok, report, err) = verify_live(&d, &log_key, &plain, None, true);
    assert!(ok, "no policy: {report} {err}");
    assert!(report["projects"][0].get("cosigned_checkpoint").is_none(), "{report}");
    assert_eq!(report["projects"][0]["balances"][0]["balance"], "142.50", "{report}");
    d.stop();
}

/// Idle connections held open to `fiscus witness serve` (more than its 64 request permits) do not
/// delay a real submission: it is cosigned while they are still open, well before the old header
/// timeout of the idle ones would have freed a permit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_do_not_hold_up_a_witness() {
    let dir = tempfile::tempdir().unwrap();
    let signer = NoteSigner::from_seed("example.org/idle-test", [5; 32]).unwrap();
    let witness = WitnessProcess::start(dir.path(), "busy", &signer.verifier_key());
    let addr = witness.url.trim_start_matches("http://").to_owned();
    // 200 connections that send nothing, held open; each is accepted by the kernel.
    let idle: Vec<std::net::TcpStream> =
        (0..200).map(|_| std::net::TcpStream::connect(&addr).expect("an idle connection")).collect();
    let checkpoint = Checkpoint::new("example.org/idle-test", 1, Hash([3; 32])).unwrap().sign(&signer).unwrap();
    let request = AddCheckpoint { old_size: 0, proof: vec![], checkpoint: checkpoint.to_text() };
    // A generous deadline, far below the 10 s x 3 that 200 idle connections cost before.
    let lines = add_checkpoint(&witness.url, &request, Duration::from_secs(8))
        .await
        .expect("the submission is answered while idle connections are open");
    assert_eq!(lines.len(), 1, "one cosignature line");
    assert_eq!(lines[0].name, witness.key.name());
    drop(idle);
}

/// A client waiting for cosignatures (`verify_project_pinned` with a 2-of-2 policy) on a head
/// whose own checkpoint, of size S, w2 never saw: w2 is down when S is signed.
struct Waiting {
    dir: std::sync::Arc<tempfile::TempDir>,
    log_key: String,
    d: Daemon,
    admin: Ledger,
    /// Still cosigning.
    _w1: WitnessProcess,
    /// Where w2 listened, to start it again there.
    w2_listen: String,
    /// fiscusd's config, naming both witnesses.
    config: PathBuf,
    both: Policy,
    head_size: u64,
    state: PathBuf,
    _files: tempfile::TempDir,
    verifying: tokio::task::JoinHandle<Result<fiscus_client::PinnedVerification, fiscus_client::ClientError>>,
}

impl Waiting {
    /// Starts the daemon with witnesses w1 and w2, commits, stops w2, commits up to S, and
    /// returns once the client, started on the head proven under S, has looked for a cosigned
    /// checkpoint at least once (one `ListCheckpoints` access line per look). The client waits
    /// up to `wait`.
    async fn start(wait: Duration) -> Waiting {
        let TwoWitnesses { dir, log_key, w1, mut w2, config, d, mut admin } = TwoWitnesses::start(2).await;
        let w2_listen = w2.url.trim_start_matches("http://").to_owned();
        let t = d.tokens.clone();
        let log = NoteVerifier::from_verifier_key(&log_key).unwrap();
        let mut audit = d.audit(Some(&t.auditor)).await;
        let both = Policy::k_of_n(vec![log.clone()], vec![w1.key.clone(), w2.key.clone()], 2).unwrap();
        wait_cosigned(&d, &mut audit, &both, 3).await;

        // w2 stops; the log grows to S, which w2 never sees.
        w2.stop();
        commit_contributions(&mut admin, "b", 2).await;
        let (head_size, _) = checkpoint(&mut audit, 0).await;
        let scans_before = d.log().matches("ListCheckpoints").count();
        let requirement = fiscus_client::WitnessRequirement { policy: both.clone(), wait };
        let files = tempfile::tempdir().unwrap();
        let state = files.path().join("state");
        let client = {
            let options = fiscus_client::ClientOptions { token: Some(t.project.clone()), ..Default::default() };
            fiscus_client::Client::connect(&format!("http://{}", d.addr), options).await.unwrap()
        };
        let pin = log.clone();
        let project = fiscus_ledger::ProjectId::parse("project", OWN_PROJECT).unwrap();
        let (state_in, project_in) = (state.clone(), project.clone());
        let verifying = tokio::spawn(async move {
            client.verify_project_pinned(&project_in, &pin, &state_in, Some(&requirement), &mut |_, _| {}).await
        });
        let started = Instant::now();
        while d.log().matches("ListCheckpoints").count() <= scans_before {
            assert!(started.elapsed() < COSIGN_DEADLINE, "the client never looked:\n{}", d.log());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Waiting { dir, log_key, d, admin, _w1: w1, w2_listen, config, both, head_size, state, _files: files, verifying }
    }

    /// Commits once more (to S + 1), starts w2 again where fiscusd expects it, and checks what
    /// the client accepts: the head proven under S, the balance at S, under a later checkpoint
    /// cosigned by both, which the state file keeps.
    async fn move_on_and_check(mut self) {
        commit_contributions(&mut self.admin, "c", 1).await;
        let _w2 = WitnessProcess::start_at(self.dir.path(), "w2", &self.log_key, &self.w2_listen);
        let d = &self.d;
        let v = tokio::time::timeout(COSIGN_DEADLINE, self.verifying)
            .await
            .expect("the client answers within its wait")
            .expect("the task runs")
            .unwrap_or_else(|e| panic!("accepted under a later cosigned checkpoint: {e}\nlog:\n{}", d.log()));
        let head_size = self.head_size;
        assert_eq!(v.checkpoint.size, head_size, "the head is proven under the checkpoint it was fetched with");
        // The record committed after S is not counted: only the records up to the proven head.
        assert_eq!(v.verified.records, v.verified.head_seq, "records counted up to the proven head only");
        let cosigned = v.cosigned.expect("a cosigned checkpoint");
        assert!(cosigned.checkpoint.size > head_size, "{} > {head_size}", cosigned.checkpoint.size);
        assert_eq!(cosigned.cosigned_by, ["w1", "w2"]);
        // The balance is the one at S: four contributions of 25.00 less 5 %.
        assert_eq!(v.verified.balances[0].balance.to_string(), "95.00");
        let kept = std::fs::read_to_string(&self.state).expect("the state file is written");
        assert_eq!(
            self.both.verify_checkpoint(&kept, ORIGIN).unwrap().opened.checkpoint.size,
            cosigned.checkpoint.size
        );
        self.d.stop();
    }
}

/// The head's own checkpoint is never cosigned by both witnesses (one is down when it is signed),
/// but a later one is: the client, waiting, accepts the head as the latest at its checkpoint's
/// size S, under the later cosigned checkpoint C that contains it (C > S), and keeps C.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_is_accepted_under_a_later_cosigned_checkpoint_that_contains_it() {
    Waiting::start(COSIGN_DEADLINE).await.move_on_and_check().await;
}

/// fiscusd stops for a second and starts again on the same address while a client waits for
/// cosignatures: the client asks again until it is back, and accepts as it would have without
/// the restart, rather than giving up at the first refused connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_for_cosignatures_outlasts_a_restart_of_fiscusd() {
    let mut waiting = Waiting::start(COSIGN_DEADLINE).await;
    let t = waiting.d.tokens.clone();
    let config = waiting.config.to_str().unwrap().to_owned();
    // down for several of the client's looks (one every 200 ms)
    waiting.d = waiting.d.restart_at_same_address_after(Duration::from_secs(1), &["--config", &config]).await;
    assert!(!waiting.verifying.is_finished(), "the client is still waiting after the restart");
    waiting.admin = waiting.d.ledger(Some(&t.admin)).await;
    waiting.move_on_and_check().await;
}

/// fiscusd stops answering (SIGSTOP: the process is there, its port open, nothing answers) while
/// a client waits 3 s for cosignatures: the client ends when its wait does, saying the server
/// stopped answering and the policy was not checked, rather than hang on a call that never
/// returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_for_cosignatures_ends_with_its_wait_when_fiscusd_stops_answering() {
    let waiting = Waiting::start(Duration::from_secs(3)).await;
    let pid = waiting.d.pid().to_string();
    assert!(Command::new("kill").args(["-STOP", &pid]).status().expect("kill runs").success());
    let answer = tokio::time::timeout(COSIGN_DEADLINE, waiting.verifying).await;
    assert!(Command::new("kill").args(["-CONT", &pid]).status().expect("kill runs").success());
    let err = answer.expect("the client ends with its wait").expect("the task runs").expect_err("nothing is accepted");
    let text = err.to_string();
    assert!(matches!(err, fiscus_client::ClientError::Connect { .. }), "{err:?}");
    assert!(
        text.contains("the server stopped answering while the client waited")
            && text.contains("(no answer); the policy was not checked"),
        "{text}"
    );
    waiting.d.stop();
}

/// One state folder, one witness: a second `fiscus witness serve` on the folder of a running one
/// is refused at start, naming the folder and the process holding it (two processes would each
/// hold their own checkpoint and could cosign two different roots of one size); the first still
/// serves, and once it has stopped a new start on the folder serves, holding what it cosigned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_witness_on_one_state_folder_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let origin = "example.org/lock-test";
    let signer = NoteSigner::from_seed(origin, [6; 32]).unwrap();
    let log_key = signer.verifier_key();
    let mut first = WitnessProcess::start(dir.path(), "shared", &log_key);
    let pid = first.child.as_ref().map(Child::id).expect("running");
    let state = dir.path().join("shared");

    let mut second = fiscus()
        .args(["witness", "serve", "--listen", "127.0.0.1:0", "--log", &log_key, "--state"])
        .arg(&state)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("fiscus witness serve starts");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = second.try_wait().expect("wait") {
            break Some(status);
        }
        if started.elapsed() > START_DEADLINE {
            let _ = second.kill();
            let _ = second.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let status = status.expect("a second witness on the same state folder must not keep serving");
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut second.stderr.take().expect("piped"), &mut stderr).unwrap();
    assert!(!status.success(), "{stderr}");
    assert!(stderr.contains("in use by process"), "{stderr}");
    assert!(stderr.contains(&pid.to_string()), "names the holding process: {stderr}");
    assert!(stderr.contains(&state.display().to_string()), "names the folder: {stderr}");

    // The first still serves.
    let tree_root = Hash([4; 32]);
    let checkpoint = Checkpoint::new(origin, 1, tree_root).unwrap().sign(&signer).unwrap().to_text();
    let request = AddCheckpoint { old_size: 0, proof: vec![], checkpoint };
    let lines = add_checkpoint(&first.url, &request, Duration::from_secs(10)).await.expect("the first still serves");
    assert_eq!(lines.len(), 1);

    // Stopped, its folder is free again, and the new witness holds size 1.
    first.stop();
    let restarted = WitnessProcess::start(dir.path(), "shared", &log_key);
    let again = AddCheckpoint { old_size: 1, ..request };
    let lines = add_checkpoint(&restarted.url, &again, Duration::from_secs(10)).await.expect("the restart serves");
    assert_eq!(lines[0].name, restarted.key.name());
}

/// `fiscus bundle --policy FILE --wait S` made right after a commit waits until the head's own
/// checkpoint meets the policy, so that `fiscus verify --bundle --policy` passes; with a witness
/// down it is refused after the wait, naming the policy, and writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bundle_made_with_a_policy_is_under_a_checkpoint_meeting_it() {
    let TwoWitnesses { log_key, w1, mut w2, d, mut admin, .. } = TwoWitnesses::start(2).await;
    let t = d.tokens.clone();
    let files = tempfile::tempdir().unwrap();
    let two_of_two = files.path().join("2-of-2.policy");
    std::fs::write(&two_of_two, policy_text(&log_key, &[&w1.key, &w2.key], 2)).unwrap();
    let policy = two_of_two.to_str().unwrap();

    let file = files.path().join("cosigned.bundle");
    let (ok, out, err) = bundle_with(&d, &t.admin, OWN_PROJECT, &file, &log_key, &["--policy", policy, "--wait", "60"]);
    assert!(ok, "{out} {err}");
    assert!(out.contains("cosigned by w1, w2") && !err.contains("warning"), "{out} {err}");
    let (ok, text) = verify_bundle(&file, &log_key, &two_of_two);
    assert!(ok, "the bundle made with --policy passes verify --bundle --policy: {text}");

    // w2 down and the log moved on: the head's checkpoint never meets 2-of-2.
    w2.stop();
    commit_contributions(&mut admin, "b", 1).await;
    let refused = files.path().join("refused.bundle");
    let (ok, out, err) =
        bundle_with(&d, &t.admin, OWN_PROJECT, &refused, &log_key, &["--policy", policy, "--wait", "1"]);
    assert!(!ok && err.contains("witness policy not met"), "{out} {err}");
    assert!(!refused.exists(), "nothing is written on a refusal");
    d.stop();
}

/// Without --policy, a bundle under a checkpoint with no cosignature (a log without witnesses)
/// is written with a warning on stderr saying that `verify --bundle --policy` will refuse it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bundle_without_cosignatures_warns() {
    let (dir, tokens) = Daemon::prepare();
    let log_key = verifier_key_made(&dir.path().join("data"));
    let d = Daemon::spawn(dir.clone(), tokens, &[]).await;
    let t = d.tokens.clone();
    let mut admin = d.ledger(Some(&t.admin)).await;
    open(&mut admin, OWN_PROJECT, 500).await;
    commit_contributions(&mut admin, "a", 1).await;
    let files = tempfile::tempdir().unwrap();
    let file = files.path().join("plain.bundle");
    let (ok, out, err) = bundle_with(&d, &t.admin, OWN_PROJECT, &file, &log_key, &[]);
    assert!(ok && file.exists(), "{out} {err}");
    assert!(err.contains("warning: checkpoint") && err.contains("carries no cosignatures"), "{err}");
    d.stop();
}

/// A witness started on a running fiscusd's data folder is refused, naming fiscusd, and leaves
/// the folder's `holder` naming fiscusd; a store opened in a running witness's state folder is
/// refused, naming the witness, and makes nothing there. Each took the other's folder: the
/// witness wrote its pid into fiscusd's `holder` (later refusals then named a process that had
/// ended, inviting the operator to treat a live lock as stale), and `fiscus --store` made a store
/// beside a witness's key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_witness_and_a_store_never_take_each_others_folder() {
    let d = Daemon::start().await;
    let held = format!("process {} (fiscusd)", d.pid());
    let holder_before = std::fs::read_to_string(d.data().join("holder")).expect("fiscusd's holder file");
    let log_key = verifier_key_made(&d.data());
    let out = fiscus()
        .args(["witness", "serve", "--listen", "127.0.0.1:0", "--log", &log_key, "--state"])
        .arg(d.data())
        .output()
        .expect("fiscus witness serve runs");
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("in use by") && said.contains(&held), "names fiscusd: {said}");
    assert_eq!(std::fs::read_to_string(d.data().join("holder")).expect("holder"), holder_before);

    let dir = tempfile::tempdir().unwrap();
    let origin = "example.org/folder-test";
    let witnessed = NoteSigner::from_seed(origin, [7; 32]).unwrap().verifier_key();
    let witness = WitnessProcess::start(dir.path(), "w", &witnessed);
    let pid = witness.child.as_ref().map(Child::id).expect("running");
    let state = dir.path().join("w");
    let out = fiscus().arg("--store").arg(&state).args(["init"]).output().expect("fiscus runs");
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("in use by") && said.contains(&pid.to_string()), "names the witness: {said}");
    assert!(!state.join("db").exists(), "a store was made in the witness's folder");
}
