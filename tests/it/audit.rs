//! `fiscus audit` against the real daemon and on archives written by `fiscus archive`: a clean
//! ledger passes online and offline with the same counts; forgeries are caught and named — a
//! history rewritten on disk with every hash recomputed (its chains, commit chain and log pass
//! alone; only the checkpoints signed before give it away), a checkpoint signed by another key, a
//! stored checkpoint whose root disagrees, a record changed in an archive, a truncated archive.

use std::path::Path;

use fiscus_tlog::{Checkpoint, Hash, NoteSigner};
use serde_json::Value;

use crate::support::*;
use crate::tlog::verifier_key;

/// The default origin of a daemon started without `log_origin`.
const ORIGIN: &str = "localhost/fiscus";

/// `fiscus --json` against `d` with `token`: (success, stdout as JSON or null, stdout + stderr).
fn fiscus(d: &Daemon, token: &str, args: &[&str]) -> (bool, Value, String) {
    let mut command = std::process::Command::new(crate::cli::fiscus_bin());
    command.env_remove("FISCUS_STORE").env("FISCUS_SERVER", format!("http://{}", d.addr)).env("FISCUS_TOKEN", token);
    run(command, args)
}

/// `fiscus --json` on the store in `data` (`FISCUS_STORE`), with no server.
fn on_store(data: &Path, args: &[&str]) -> (bool, Value, String) {
    let mut command = std::process::Command::new(crate::cli::fiscus_bin());
    command.env_remove("FISCUS_SERVER").env_remove("FISCUS_TOKEN").env("FISCUS_STORE", data);
    run(command, args)
}

/// `fiscus --json` with no server at all.
fn offline(args: &[&str]) -> (bool, Value, String) {
    let mut command = std::process::Command::new(crate::cli::fiscus_bin());
    command.env_remove("FISCUS_STORE").env_remove("FISCUS_SERVER").env_remove("FISCUS_TOKEN");
    run(command, args)
}

fn run(mut command: std::process::Command, args: &[&str]) -> (bool, Value, String) {
    let out = command.arg("--json").args(args).output().expect("fiscus runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let json = serde_json::from_str(&stdout).unwrap_or(Value::Null);
    (out.status.success(), json, format!("{stdout}{}", String::from_utf8_lossy(&out.stderr)))
}

/// Two projects opened (commits 1 and 2).
async fn opened(d: &Daemon) {
    let mut admin = d.ledger(Some(&d.tokens.admin)).await;
    open(&mut admin, OWN_PROJECT, 500).await;
    open(&mut admin, "other-conf", 300).await;
}

/// Gifts `range`, one commit each, alternating between the projects; gift `forged` is 999.00
/// instead of 10.00.
async fn gifts(d: &Daemon, range: std::ops::Range<usize>, forged: Option<usize>) {
    let mut admin = d.ledger(Some(&d.tokens.admin)).await;
    for i in range {
        let amount = if forged == Some(i) { "999.00" } else { "10.00" };
        let project = if i % 2 == 0 { OWN_PROJECT } else { "other-conf" };
        record(&mut admin, vec![contribution(&format!("gift-{i}"), project, amount, None)]).await.unwrap();
    }
}

/// A daemon's books, the two projects opened and `count` gifts recorded, after it stopped: its
/// folder (which holds them while it lives), its data folder and its log's verifier key.
async fn stopped_books(count: usize) -> (std::sync::Arc<tempfile::TempDir>, std::path::PathBuf, String) {
    let d = Daemon::start().await;
    let key = verifier_key(&d.data());
    opened(&d).await;
    gifts(&d, 0..count, None).await;
    let (dir, data) = (d.dir.clone(), d.data());
    assert!(d.stop().success());
    (dir, data, key)
}

/// Copies a folder and everything in it.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// The frames of an archive: (kind, payload), after its magic line.
fn frames(bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut rest = bytes.strip_prefix(b"fiscus-archive 1\n".as_slice()).expect("the magic line");
    let mut out = Vec::new();
    while let Some((&kind, after)) = rest.split_first() {
        let (len, after) = after.split_first_chunk::<4>().expect("a length");
        let len = u32::from_be_bytes(*len) as usize;
        out.push((kind, after[..len].to_vec()));
        rest = &after[len..];
    }
    out
}

fn assemble(frames: &[(u8, Vec<u8>)]) -> Vec<u8> {
    let mut out = b"fiscus-archive 1\n".to_vec();
    for (kind, payload) in frames {
        out.push(*kind);
        out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        out.extend_from_slice(payload);
    }
    out
}

/// Replaces the note of the archive's checkpoint frame of `size` with `note`.
fn with_checkpoint(frames: &[(u8, Vec<u8>)], size: u64, note: &str) -> Vec<u8> {
    let mut frames = frames.to_vec();
    let frame = frames
        .iter_mut()
        .find(|(kind, p)| *kind == b'K' && p[..8] == size.to_be_bytes())
        .expect("a checkpoint of that size");
    frame.1 = [size.to_be_bytes().as_slice(), note.as_bytes()].concat();
    assemble(&frames)
}

/// The audit's damage as (place, problem).
fn damage(json: &Value) -> Vec<(String, String)> {
    json["damage"]
        .as_array()
        .expect("a damage list")
        .iter()
        .map(|d| (d["place"].as_str().unwrap().to_owned(), d["problem"].as_str().unwrap().to_owned()))
        .collect()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path.display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_ledger_passes_online_and_from_its_archive_and_forged_archives_are_caught() {
    let d = Daemon::start().await;
    let key = verifier_key(&d.data());
    opened(&d).await;
    gifts(&d, 0..6, None).await;
    let auditor = d.tokens.auditor.clone();

    // online: 8 commits (two openings, six gifts), each its own group and checkpoint
    let (ok, online, out) = fiscus(&d, &auditor, &["audit", "--pin", &key]);
    assert!(ok, "{out}");
    assert_eq!(online["ok"], true, "{out}");
    assert_eq!((online["commits"].as_u64(), online["records"].as_u64()), (Some(8), Some(8)), "{out}");
    assert_eq!(online["chains"], 2, "{out}");
    assert_eq!(online["checkpoints"], 8, "{out}");
    assert_eq!(online["verified_against"]["size"], 8, "{out}");
    assert_eq!(online["verified_against"]["origin"], ORIGIN, "{out}");
    // the human summary names the checkpoint and the counts
    let text = std::process::Command::new(crate::cli::fiscus_bin())
        .env("FISCUS_SERVER", format!("http://{}", d.addr))
        .env("FISCUS_TOKEN", &auditor)
        .args(["audit", "--pin", &key])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&text.stdout);
    assert!(text.status.success() && said.contains("verified against checkpoint localhost/fiscus size 8"), "{said}");
    assert!(said.contains("8 commits, 8 records in 2 chains, 8 checkpoints"), "{said}");
    assert!(
        text.stderr.is_empty(),
        "no progress bar when stderr is no terminal: {}",
        String::from_utf8_lossy(&text.stderr)
    );

    // a project's token may not read every commit entry
    let (ok, _, out) = fiscus(&d, &d.tokens.project, &["audit", "--pin", &key]);
    assert!(!ok && out.contains("PERMISSION_DENIED"), "{out}");

    // another key: every checkpoint refused, the audit fails
    let other = NoteSigner::generate(ORIGIN).unwrap();
    let (ok, json, out) = fiscus(&d, &auditor, &["audit", "--pin", &other.verifier_key()]);
    assert!(!ok && json["ok"] == false, "{out}");
    let found = damage(&json);
    assert!(found.iter().any(|(place, p)| place == "checkpoint of size 8" && p.contains("pinned key")), "{found:?}");
    assert!(json["verified_against"].is_null(), "{out}");

    // the archive: owner-only, and the same audit offline
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("books.archive");
    let f = file.display().to_string();
    let (ok, _, out) = fiscus(&d, &auditor, &["archive", "--out", &f]);
    assert!(ok, "{out}");
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    }
    // a link or a pipe at --out is refused and left as it is (the rename replaced it)
    let link = dir.path().join("link.archive");
    std::os::unix::fs::symlink(&file, &link).unwrap();
    let (ok, _, out) = fiscus(&d, &auditor, &["archive", "--out", &link.display().to_string()]);
    assert!(!ok && out.contains("is a symbolic link"), "{out}");
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    let (ok, archived, out) = offline(&["audit", "--archive", &f, "--pin", &key]);
    assert!(ok, "{out}");
    // a server given as well is not read, and the audit says so
    let (ok, _, out) = fiscus(&d, &auditor, &["audit", "--archive", &f, "--pin", &key]);
    assert!(ok && out.contains("the archive is audited offline; http://"), "{out}");
    for field in ["commits", "records", "chains", "checkpoints", "verified_against"] {
        assert_eq!(archived[field], online[field], "{field}: {out}");
    }
    let bytes = std::fs::read(&file).unwrap();
    let frames = frames(&bytes);

    // truncated: refused, named
    let cut = write(dir.path(), "cut.archive", &bytes[..bytes.len() * 2 / 3]);
    let (ok, _, out) = offline(&["audit", "--archive", &cut, "--pin", &key]);
    assert!(!ok && out.contains("truncated"), "{out}");
    let cut = write(dir.path(), "no-end.archive", &bytes[..bytes.len() - 29]);
    let (ok, _, out) = offline(&["audit", "--archive", &cut, "--pin", &key]);
    assert!(!ok && out.contains("truncated"), "{out}");

    // one checkpoint signed by another key (same origin, same body)
    let honest = frames.iter().find(|(k, p)| *k == b'K' && p[..8] == 5u64.to_be_bytes()).unwrap();
    let body =
        Checkpoint::parse_body(&fiscus_tlog::Note::parse(std::str::from_utf8(&honest.1[8..]).unwrap()).unwrap().text)
            .unwrap();
    let forged =
        write(dir.path(), "other-key.archive", &with_checkpoint(&frames, 5, &body.sign(&other).unwrap().to_text()));
    let (ok, json, out) = offline(&["audit", "--archive", &forged, "--pin", &key]);
    assert!(!ok, "{out}");
    let found = damage(&json);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, "checkpoint of size 5");
    assert!(found[0].1.contains("refused with the pinned key"), "{found:?}");

    // a stored checkpoint, signed by the log's own key, whose root disagrees with the log
    let log_key = std::fs::read_to_string(d.data().join("log.key")).unwrap();
    let signer = NoteSigner::from_signer_key(log_key.trim_end()).unwrap();
    let lying = Checkpoint::new(ORIGIN, 5, Hash([7; 32])).unwrap().sign(&signer).unwrap().to_text();
    let forged = write(dir.path(), "other-root.archive", &with_checkpoint(&frames, 5, &lying));
    let (ok, json, out) = offline(&["audit", "--archive", &forged, "--pin", &key]);
    assert!(!ok, "{out}");
    let found = damage(&json);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, "checkpoint of size 5");
    assert!(found[0].1.contains("is not the root"), "{found:?}");

    // a witness policy: the latest checkpoint must carry the quorum's cosignatures
    let witness = fiscus_tlog::Cosigner::from_seed("witness.example/w1", [8; 32]).unwrap();
    let policy_text = format!("log {key}\nwitness w1 {}\nquorum w1\n", witness.verifier_key());
    let policy_file = write(dir.path(), "policy", policy_text.as_bytes());
    let (ok, json, out) = offline(&["audit", "--archive", &f, "--pin", &key, "--policy", &policy_file]);
    assert!(!ok, "{out}");
    let found = damage(&json);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].0 == "checkpoint of size 8" && found[0].1.contains("witness policy"), "{found:?}");
    let latest = frames.iter().find(|(k, p)| *k == b'K' && p[..8] == 8u64.to_be_bytes()).unwrap();
    let note = std::str::from_utf8(&latest.1[8..]).unwrap();
    let body = fiscus_tlog::Note::parse(note).unwrap().text;
    let policy = fiscus_tlog::Policy::parse(&policy_text).unwrap();
    let cosigned = policy.add_cosignatures(note, &[witness.cosign(&body, 1_700_000_000).unwrap()]).unwrap();
    let witnessed = write(dir.path(), "witnessed.archive", &with_checkpoint(&frames, 8, &cosigned));
    let (ok, json, out) = offline(&["audit", "--archive", &witnessed, "--pin", &key, "--policy", &policy_file]);
    assert!(ok, "{out}");
    assert_eq!(
        (json["cosignatures"].as_u64(), json["cosignatures_verified"].as_bool()),
        (Some(1), Some(true)),
        "{out}"
    );
    assert_eq!(json["witnessed_size"].as_u64(), Some(8), "{out}");
    // a policy naming another log: refused as such before anything is read
    let wrong_text = format!("log {}\nwitness w1 {}\nquorum w1\n", other.verifier_key(), witness.verifier_key());
    let wrong_policy = write(dir.path(), "wrong-policy", wrong_text.as_bytes());
    let (ok, _, out) = offline(&["audit", "--archive", &witnessed, "--pin", &key, "--policy", &wrong_policy]);
    assert!(!ok && out.contains("lists no log line with the pinned key"), "{out}");
    // only an older checkpoint cosigned (the newest is not yet, as right after a commit): the audit
    // passes and says up to which size the witnesses vouch
    let older = frames.iter().find(|(k, p)| *k == b'K' && p[..8] == 5u64.to_be_bytes()).unwrap();
    let older_note = std::str::from_utf8(&older.1[8..]).unwrap();
    let older_body = fiscus_tlog::Note::parse(older_note).unwrap().text;
    let older_cosigned =
        policy.add_cosignatures(older_note, &[witness.cosign(&older_body, 1_700_000_000).unwrap()]).unwrap();
    let lagging = write(dir.path(), "lagging.archive", &with_checkpoint(&frames, 5, &older_cosigned));
    let (ok, json, out) = offline(&["audit", "--archive", &lagging, "--pin", &key, "--policy", &policy_file]);
    assert!(ok, "{out}");
    assert_eq!(json["witnessed_size"].as_u64(), Some(5), "{out}");
    assert_eq!(json["latest_not_witnessed"]["size"].as_u64(), Some(8), "{out}");

    // one byte of a record changed in the archive: its chain names the seq
    let mut changed = frames.clone();
    let at = changed
        .iter()
        .position(|(k, p)| {
            *k == b'R'
                && p[1..1 + OWN_PROJECT.len()] == *OWN_PROJECT.as_bytes()
                && p[1 + OWN_PROJECT.len()..][..8] == 3u64.to_be_bytes()
        })
        .expect("record 3 of the project");
    let last = changed[at].1.len() - 1;
    changed[at].1[last] ^= 1;
    let forged = write(dir.path(), "record.archive", &assemble(&changed));
    let (ok, json, out) = offline(&["audit", "--archive", &forged, "--pin", &key]);
    assert!(!ok, "{out}");
    let found = damage(&json);
    assert_eq!(found.first().map(|f| f.0.as_str()), Some(format!("chain {OWN_PROJECT} seq 3").as_str()), "{found:?}");

    // a commit entry's time changed (no hash covers it): its records' times name it
    let mut moved = frames.clone();
    let at = moved.iter().position(|(k, p)| *k == b'C' && p[..8] == 4u64.to_be_bytes()).expect("commit 4");
    let entry = &mut moved[at].1[8..];
    // version 1, the number 4 (one byte), then recorded_at: a zigzag varint of 8 bytes after 0xfd
    assert_eq!(entry[..3], [1, 4, 0xfd], "the entry's layout (docs/FORMAT.md section 6)");
    entry[3] ^= 2; // one microsecond
    let forged = write(dir.path(), "time.archive", &assemble(&moved));
    let (ok, json, out) = offline(&["audit", "--archive", &forged, "--pin", &key]);
    assert!(!ok, "a moved commit time passed: {out}");
    let found = damage(&json);
    assert!(found.iter().any(|(_, problem)| problem.contains("commit 4's entry says")), "{found:?}");

    // a cosignature line of the policy's witness that does not verify, on a checkpoint before the
    // cosigned latest: damage, though the quorum is met at the latest
    let line_start = format!("\u{2014} {} ", witness.name());
    let bad: String = older_cosigned
        .lines()
        .map(|line| match line.strip_prefix(&line_start) {
            Some(sig) => {
                let mut sig = sig.to_owned().into_bytes();
                sig[60] = if sig[60] == b'A' { b'B' } else { b'A' };
                format!("{line_start}{}\n", String::from_utf8(sig).unwrap())
            }
            None => format!("{line}\n"),
        })
        .collect();
    assert_ne!(bad, older_cosigned);
    let mut frames_bad = frames.clone();
    for (kind, payload) in frames_bad.iter_mut() {
        if *kind == b'K' && payload[..8] == 8u64.to_be_bytes() {
            *payload = [8u64.to_be_bytes().as_slice(), cosigned.as_bytes()].concat();
        }
    }
    let forged = write(dir.path(), "bad-cosignature.archive", &with_checkpoint(&frames_bad, 5, &bad));
    let (ok, json, out) = offline(&["audit", "--archive", &forged, "--pin", &key, "--policy", &policy_file]);
    assert!(!ok, "a bad cosignature of a listed witness passed: {out}");
    let found = damage(&json);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].0 == "checkpoint of size 5" && found[0].1.contains("witness policy"), "{found:?}");

    // a record frame labelled with another record's place (the label over the bytes' own seq),
    // and the last record of a chain twice: the archive is refused as malformed
    let record_at = |frames: &[(u8, Vec<u8>)], seq: u64| {
        frames
            .iter()
            .position(|(k, p)| {
                *k == b'R'
                    && p[1..1 + OWN_PROJECT.len()] == *OWN_PROJECT.as_bytes()
                    && p[1 + OWN_PROJECT.len()..][..8] == seq.to_be_bytes()
            })
            .expect("a record of the project")
    };
    let mut relabelled = frames.clone();
    let at = record_at(&relabelled, 3);
    relabelled[at].1[1 + OWN_PROJECT.len()..][..8].copy_from_slice(&2u64.to_be_bytes());
    let forged = write(dir.path(), "relabelled.archive", &assemble(&relabelled));
    let (ok, _, out) = offline(&["audit", "--archive", &forged, "--pin", &key]);
    assert!(!ok && out.contains("labelled seq 2 where seq 3 was due"), "{out}");
    let mut doubled = frames.clone();
    let at = record_at(&doubled, 4);
    doubled.insert(at + 1, doubled[at].clone());
    let end = doubled.last_mut().expect("the end frame");
    let records = u64::from_be_bytes(end.1[16..24].try_into().unwrap()) + 1;
    end.1[16..24].copy_from_slice(&records.to_be_bytes());
    let forged = write(dir.path(), "doubled.archive", &assemble(&doubled));
    let mut short_head = frames.clone();
    short_head[0].1 = 7u64.to_be_bytes().to_vec();
    let odd = write(dir.path(), "short-head.archive", &assemble(&short_head));
    let (ok, _, out) = offline(&["audit", "--archive", &odd, "--pin", &key]);
    assert!(!ok && out.contains("a checkpoint of size 8, beyond the commit head 7"), "{out}");
    let mut unknown = frames.clone();
    let end = unknown.len() - 1;
    unknown.insert(end, (b'Z', vec![1, 2, 3]));
    let odd = write(dir.path(), "unknown.archive", &assemble(&unknown));
    let (ok, _, out) = offline(&["audit", "--archive", &odd, "--pin", &key]);
    assert!(!ok && out.contains("a frame of unknown kind 0x5a"), "{out}");
    let (ok, _, out) = offline(&["audit", "--archive", &forged, "--pin", &key]);
    assert!(!ok && out.contains("labelled seq 4 where seq 5 was due"), "a record twice passed: {out}");
}

/// A server that rewrites one record on disk and recomputes every later hash (its chains, commit
/// chain and log are consistent, and even signed by the log's key) passes an audit alone; with the
/// checkpoints it had signed before kept in its store, the audit names the first one after the
/// change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_history_rewritten_on_disk_fails_only_against_its_stored_checkpoints() {
    let honest = Daemon::start().await;
    let key = verifier_key(&honest.data());
    opened(&honest).await;
    gifts(&honest, 0..3, None).await;
    let tokens = honest.tokens.clone();
    let (honest_dir, honest_data) = (honest.dir.clone(), honest.data());
    assert!(honest.stop().success());
    // the store after commit 5, where the rewrite starts
    let dir = std::sync::Arc::new(tempfile::tempdir().unwrap());
    copy_dir(honest_dir.path(), dir.path());
    std::fs::remove_file(dir.path().join("fiscusd.log")).unwrap();
    let honest = Daemon::spawn(honest_dir.clone(), tokens.clone(), &[]).await;
    gifts(&honest, 3..6, None).await;
    // an auditor keeps the checkpoint of the honest history it audited
    let kept = tempfile::tempdir().unwrap();
    let state = kept.path().join("checkpoint").display().to_string();
    let (ok, json, out) = fiscus(&honest, &tokens.auditor, &["audit", "--pin", &key, "--state", &state]);
    assert!(ok && json["kept_size"].is_null(), "{out}");
    let (ok, json, out) = fiscus(&honest, &tokens.auditor, &["audit", "--pin", &key, "--state", &state]);
    assert!(ok && json["kept_size"] == 8, "the second audit holds the first one's checkpoint: {out}");
    let kept_note = std::fs::read_to_string(&state).unwrap();
    assert!(kept_note.starts_with(&format!("{ORIGIN}\n8\n")), "{kept_note}");
    assert!(honest.stop().success());

    // the same history from commit 6 on with gift 3 changed, every later hash recomputed and
    // signed by the same key
    let forged = Daemon::spawn(dir.clone(), tokens.clone(), &[]).await;
    // before its new commits, it is behind the checkpoint kept: a log never goes back
    let (ok, json, out) = fiscus(&forged, &tokens.auditor, &["audit", "--pin", &key, "--state", &state]);
    assert!(!ok, "{out}");
    let found = damage(&json);
    assert!(
        found.iter().any(|(place, p)| place == "checkpoint of size 8" && p.contains("never goes back")),
        "{found:?}"
    );
    gifts(&forged, 3..6, Some(3)).await;
    let (ok, json, out) = fiscus(&forged, &tokens.auditor, &["audit", "--pin", &key]);
    assert!(ok && json["ok"] == true, "the rewritten history passes alone: {out}");
    // against the checkpoint kept from the honest history, it is another history; the file stays
    let (ok, json, out) = fiscus(&forged, &tokens.auditor, &["audit", "--pin", &key, "--state", &state]);
    assert!(!ok, "{out}");
    let found = damage(&json);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].0 == "checkpoint of size 8" && found[0].1.contains("another history"), "{found:?}");
    assert_eq!(std::fs::read_to_string(&state).unwrap(), kept_note, "a failing audit keeps nothing");
    assert!(forged.stop().success());

    // the checkpoints the server had signed for the honest history, kept in its store
    {
        let (_, from) = fiscus_ledger::store::open_tree(&honest_data).unwrap();
        let (db, to) = fiscus_ledger::store::open_tree(&dir.path().join("data")).unwrap();
        for item in from.scan_prefix([b'k']) {
            let (k, v) = item.unwrap();
            to.insert(k, v).unwrap();
        }
        db.flush().unwrap();
    }
    let forged = Daemon::spawn(dir.clone(), tokens.clone(), &[]).await;
    let (ok, json, out) = fiscus(&forged, &tokens.auditor, &["audit", "--pin", &key]);
    assert!(!ok && json["ok"] == false, "{out}");
    let found = damage(&json);
    // every chain and the commit chain verify: only the checkpoints disagree, from commit 6 on
    // (the server, whose own replay found its log damaged, serves its log up to there only)
    assert!(found.iter().all(|(place, _)| !place.starts_with("chain")), "{found:?}");
    assert_eq!(found[0].0, "checkpoint of size 6", "{found:?}");
    assert!(found[0].1.contains("is not the root"), "{found:?}");
    assert_eq!(json["verified_against"]["size"], 5, "{out}");
    assert_eq!(json["records"], 8, "{out}");

    // the store itself, audited offline: every stored checkpoint from size 6 on disagrees
    let data = forged.data();
    assert!(forged.stop().success());
    let (ok, json, out) = on_store(&data, &["audit", "--pin", &key]);
    assert!(!ok, "{out}");
    let found = damage(&json);
    let places: Vec<&str> = found.iter().map(|(place, _)| place.as_str()).collect();
    assert_eq!(places, ["checkpoint of size 6", "checkpoint of size 7", "checkpoint of size 8"], "{found:?}");
    assert_eq!((json["records"].as_u64(), json["checkpoints"].as_u64()), (Some(8), Some(8)), "{out}");
}

/// A store with a record changed on disk: `fiscus --store DIR audit` names its chain and seq
/// (the walker's check), the commit chain, the log and every checkpoint still pass, and every
/// other chain is walked to its end after the damaged one (read ahead on the store's reading
/// thread).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_with_a_record_changed_on_disk_is_named_by_its_audit() {
    let (_dir, data, key) = stopped_books(6).await;
    {
        // one flipped bit in the project's last record (seq 4, a gift's amount region), at the
        // end of the stored value of the project's that begins last (its chunk is not sealed)
        let (db, tree) = fiscus_ledger::store::open_tree(&data).unwrap();
        let mut last: Option<(u64, Vec<u8>, Vec<u8>)> = None;
        for key in [fiscus_ledger::store::record_key(OWN_PROJECT, 0), fiscus_ledger::store::tail_key(OWN_PROJECT, 0)] {
            for item in tree.scan_prefix(&key[..key.len() - 8]) {
                let (k, v) = item.unwrap();
                let seq = u64::from_be_bytes(k[k.len() - 8..].try_into().unwrap());
                if last.as_ref().is_none_or(|(first, _, _)| seq > *first) {
                    last = Some((seq, k.to_vec(), v.to_vec()));
                }
            }
        }
        let (_, key, mut value) = last.expect("the project's records are stored");
        let at = value.len() - 30;
        value[at] ^= 0x01;
        tree.insert(key, value).unwrap();
        db.flush().unwrap();
    }
    let (ok, json, out) = on_store(&data, &["audit", "--pin", &key]);
    assert!(!ok && json["ok"] == false, "{out}");
    let found = damage(&json);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, format!("chain {OWN_PROJECT} seq 4"), "{found:?}");
    assert_eq!(json["verified_against"]["size"], 8, "{out}");
    // the project walked up to its damage (seqs 1 to 3), the other project's 4 records to the end
    let counts = (json["commits"].as_u64(), json["chains"].as_u64(), json["records"].as_u64());
    assert_eq!(counts, (Some(8), Some(2), Some(7)), "{out}");
}

/// A data folder whose sled files lost their last commits (an older copy of `db` and `conf` under
/// the synced head of the later commits): every chain, the commit chain, the log and the stored
/// checkpoints of what is left agree, so only the synced head tells. `audit --store` fails naming
/// the commit, `archive` writes nothing, and fiscusd refuses to serve it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_lost_synced_commits_fails_its_audit_and_is_not_served() {
    let d = Daemon::start().await;
    let key = verifier_key(&d.data());
    opened(&d).await;
    gifts(&d, 0..2, None).await;
    let (dir, data, tokens) = (d.dir.clone(), d.data(), d.tokens.clone());
    assert!(d.stop().success());
    // the folder after commit 4, kept aside
    let lost = tempfile::tempdir().unwrap();
    copy_dir(&data, &lost.path().join("data"));
    std::fs::copy(dir.path().join("tokens.toml"), lost.path().join("tokens.toml")).unwrap();
    let d = Daemon::spawn(dir.clone(), tokens, &[]).await;
    gifts(&d, 2..4, None).await;
    assert!(d.stop().success());
    let synced = std::fs::read(data.join("synced")).expect("the synced head");
    std::fs::write(lost.path().join("data/synced"), &synced).unwrap();

    let kept = lost.path().join("data").display().to_string();
    let (ok, json, out) = on_store(Path::new(&kept), &["audit", "--pin", &key]);
    assert!(!ok && json["ok"] == false, "a store without its last synced commits passed: {out}");
    let found = damage(&json);
    assert!(
        found.iter().any(|(place, p)| place == "commit 6" && p.contains("found when the store opened")),
        "{found:?}"
    );
    let archive = lost.path().join("lost.archive");
    let (ok, _, out) = on_store(Path::new(&kept), &["archive", "--out", &archive.display().to_string()]);
    assert!(!ok && out.contains("the store is damaged (commit 6:"), "{out}");
    assert!(!archive.exists(), "no archive written");

    // nor are any project's books read from it
    for args in [
        vec!["balance", OWN_PROJECT],
        vec!["statement", OWN_PROJECT],
        vec!["projects"],
        vec!["events", OWN_PROJECT],
        vec!["export", "csv"],
    ] {
        let (ok, _, out) = on_store(Path::new(&kept), &args);
        assert!(!ok && out.contains("commit 6 failed verification"), "{args:?} read a store that lost commits: {out}");
    }

    let (code, err) = refused_start(lost.path());
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("is damaged, and nothing is served from it") && err.contains("commit 6 was synced"), "{err}");
}

/// A store whose derived entries are damaged (a chain's head entry deleted, a key outside every
/// keyspace added) refuses writes when it opens; `audit --store` passed it ("every chain, the
/// commit chain, the log and every checkpoint agree"), since it reads the records and commit
/// entries only. It now fails, naming what the opening found.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_with_damaged_derived_entries_fails_its_audit() {
    let (_dir, data, key) = stopped_books(2).await;
    // (the heads keyspace is `h`, docs/FORMAT.md section 6)
    let head_key = [b"h".as_slice(), OWN_PROJECT.as_bytes()].concat();
    let cases =
        [("head entry deleted", format!("chain {OWN_PROJECT} seq ")), ("stray key", "the store's keys".to_owned())];
    for (what, place) in cases {
        let copy = tempfile::tempdir().unwrap();
        let store = copy.path().join("data");
        copy_dir(&data, &store);
        std::fs::remove_file(store.join("holder")).ok();
        {
            let (db, tree) = fiscus_ledger::store::open_tree(&store).unwrap();
            match what {
                "head entry deleted" => drop(tree.remove(&head_key).unwrap().expect("the head entry is stored")),
                _ => drop(tree.insert(b"zz", b"x".to_vec()).unwrap()),
            }
            db.flush().unwrap();
        }
        let (ok, json, out) = on_store(&store, &["audit", "--pin", &key]);
        assert!(!ok && json["ok"] == false, "{what}: the audit passed: {out}");
        let found = damage(&json);
        assert!(
            found.iter().any(|(p, problem)| p.starts_with(&place) && problem.contains("found when the store opened")),
            "{what}: {found:?}"
        );
    }
}

/// A commit written with `fiscus --store` to a store whose log fiscusd signs is refused, and
/// nothing is recorded: it went in under no checkpoint, and the store's next audit failed ("the
/// head is under no stored checkpoint") until fiscusd opened the store again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_commit_to_a_store_with_a_signed_log_is_refused() {
    let (_dir, data, key) = stopped_books(2).await;
    let args =
        ["record", "contribution", "--project", OWN_PROJECT, "--amount", "2", "--currency", "USD", "--from", "Emb"];
    let (ok, _, out) = on_store(&data, &args);
    assert!(!ok && out.contains("record through fiscusd") && out.contains("nothing was recorded"), "{out}");
    let (ok, json, out) = on_store(&data, &["audit", "--pin", &key]);
    assert!(ok && json["ok"] == true, "the store audits clean: {out}");
}
