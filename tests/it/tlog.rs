//! The transparency log served by the real daemon: receipts on every `RecordCommit`, signed
//! checkpoints (latest and of a size, kept across restarts), inclusion and consistency proofs, a
//! chain's proof of its latest head (its own project only for a project's token), raw commit
//! entries from which anyone rebuilds the log, and bad input refused with the field named.

use fiscus_ledger::chain::commit_hash;
use fiscus_ledger::log::{HeadProof, LedgerLog, LogLeaf};
use fiscus_ledger::record::CommitEntry;
use fiscus_proto::pb;
use fiscus_tlog::{open_checkpoint, verify_consistency, verify_inclusion, Checkpoint, Hash, NoteVerifier};
use tonic::Code;

use crate::support::*;

/// The default origin of a daemon started without `log_origin`.
const ORIGIN: &str = "localhost/fiscus";

/// `fiscusd key show` on the daemon's data folder.
pub fn verifier_key(data: &std::path::Path) -> String {
    key_show(data, false)
}

/// `fiscusd key show --create`: the key made before the daemon's first start, as a sponsor who
/// publishes it beforehand makes it.
pub fn verifier_key_made(data: &std::path::Path) -> String {
    key_show(data, true)
}

fn key_show(data: &std::path::Path, create: bool) -> String {
    let mut command = std::process::Command::new(fiscusd_bin());
    command.args(["key", "show", "--data"]).arg(data);
    if create {
        command.arg("--create");
    }
    let out = command.output().expect("fiscusd key show runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("UTF-8").trim().to_owned()
}

/// `fiscusd key show` on a folder with no key (a mistyped `--data`) makes no key that could be
/// published and pinned by mistake: it is refused, naming `--create`, and the folder is not made.
#[test]
fn key_show_makes_no_key_without_create() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("dta");
    let show = |create: bool| {
        let mut command = std::process::Command::new(fiscusd_bin());
        command.args(["key", "show", "--data"]).arg(&data);
        if create {
            command.arg("--create");
        }
        command.output().expect("fiscusd key show runs")
    };
    let refused = show(false);
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success() && refused.stdout.is_empty(), "{said}");
    assert!(said.contains("no log key") && said.contains("--create"), "{said}");
    assert!(!data.exists(), "no folder is made without --create");
    let made = show(true);
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let key = String::from_utf8(made.stdout).expect("UTF-8");
    assert!(key.starts_with(&format!("{ORIGIN}+")), "{key}");
    assert_eq!(verifier_key(&data), key.trim(), "the key made is the one shown after");
}

/// `fiscusd key show` on a key made for another origin than the one expected says where the
/// expected one came from (the default, `--log-origin` or the config file) and to give
/// `--log-origin` with the key's origin: it said "the config says" with no config file given.
#[test]
fn key_show_of_another_origin_says_where_the_expected_one_came_from() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("og");
    let origin = "books.example.org/—";
    let show = |extra: &[&std::ffi::OsStr]| {
        let out = std::process::Command::new(fiscusd_bin())
            .args(["key", "show", "--data"])
            .arg(&data)
            .args(extra)
            .output()
            .expect("fiscusd key show runs");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (made, key, err) = show(&["--create".as_ref(), "--log-origin".as_ref(), origin.as_ref()]);
    assert!(made && key.starts_with(&format!("{origin}+")), "{err}");
    let advice = format!("give --log-origin {origin:?}");

    let (ok, out, err) = show(&[]);
    assert!(!ok && out.is_empty(), "{out}");
    assert!(!err.contains("config says"), "{err}");
    assert!(err.contains(&format!("signs for origin {origin:?}, not {ORIGIN:?} (the default origin")), "{err}");
    assert!(err.contains(&advice), "{err}");

    let (ok, _, err) = show(&["--log-origin".as_ref(), "other.example/x".as_ref()]);
    assert!(!ok && err.contains("not \"other.example/x\" (given with --log-origin)") && err.contains(&advice), "{err}");

    let config = dir.path().join("fiscusd.toml");
    std::fs::write(&config, "log_origin = \"conf.example/y\"\n").expect("write the config");
    let (ok, _, err) = show(&["--config".as_ref(), config.as_os_str()]);
    let from = format!("not \"conf.example/y\" (the log_origin of the config file {})", config.display());
    assert!(!ok && err.contains(&from) && err.contains(&advice), "{err}");

    // as advised: the key shown
    let (ok, shown, err) = show(&["--log-origin".as_ref(), origin.as_ref()]);
    assert!(ok && shown == key, "{err}");
}

/// A store whose checkpoints are signed is never given another log key: with its `log.key`
/// missing (a backup without the secret), fiscusd made a new key and signed every new checkpoint
/// under another identity; with another store's key, it signed with that one. Both are refused,
/// and no key is left made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_is_never_given_another_log_key() {
    let d = Daemon::start().await;
    let mut admin = d.ledger(Some(&d.tokens.admin)).await;
    open(&mut admin, OWN_PROJECT, 500).await;
    let (dir, tokens) = (d.dir.clone(), d.tokens.clone());
    assert!(d.stop().success());
    let key_file = dir.path().join("data/log.key");
    let kept = std::fs::read(&key_file).expect("the key");
    std::fs::remove_file(&key_file).expect("remove");
    let (code, err) = refused_start(dir.path());
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("log.key is missing") && err.contains("restore it from a backup"), "{err}");
    assert!(!key_file.exists(), "no new key is left in place");
    // another store's key, of the same origin
    let other = tempfile::tempdir().expect("tempdir");
    let made = std::process::Command::new(fiscusd_bin())
        .args(["key", "show", "--create", "--data"])
        .arg(other.path().join("data"))
        .output()
        .expect("key show runs");
    assert!(made.status.success());
    std::fs::copy(other.path().join("data/log.key"), &key_file).expect("copy");
    let (code, err) = refused_start(dir.path());
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("is not the key that signed the store's checkpoints"), "{err}");
    // its own key back: it serves again
    std::fs::write(&key_file, &kept).expect("write");
    let d = Daemon::spawn(dir.clone(), tokens, &[]).await;
    assert!(d.stop().success());
}

fn hash(bytes: &[u8]) -> Hash {
    Hash(bytes.try_into().expect("32 bytes"))
}

fn hashes(list: &[Vec<u8>]) -> Vec<Hash> {
    list.iter().map(|h| hash(h)).collect()
}

fn opened(text: &str, key: &NoteVerifier) -> Checkpoint {
    open_checkpoint(text, ORIGIN, std::slice::from_ref(key)).expect("a checkpoint signed by the pinned key").checkpoint
}

/// Checks a receipt offline: the checkpoint's signature, the commit's hash from its records, and
/// the inclusion of its leaf.
fn check_receipt(receipt: &pb::CommitReceipt, key: &NoteVerifier) -> Checkpoint {
    let checkpoint = opened(&receipt.checkpoint, key);
    let leaf = LogLeaf::parse(&receipt.leaf).expect("an 81-byte leaf");
    assert_eq!(leaf.commit, receipt.commit);
    let records: Vec<[u8; 32]> = receipt.records.iter().map(|r| r.hash.clone().try_into().expect("32")).collect();
    let prev: [u8; 32] = receipt.prev_commit_hash.clone().try_into().expect("32");
    assert_eq!(commit_hash(&prev, receipt.commit, records.iter()), leaf.commit_hash, "the leaf binds the records");
    verify_inclusion(&leaf.leaf_hash(), receipt.commit - 1, checkpoint.size, &hashes(&receipt.proof), &checkpoint.root)
        .expect("the leaf is in the checkpoint's tree");
    checkpoint
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_checkpoints_and_proofs_verify_against_the_pinned_key() {
    let d = Daemon::start().await;
    let key = NoteVerifier::from_verifier_key(&verifier_key(&d.data())).expect("a verifier key");
    assert_eq!(key.name(), ORIGIN);
    let t = d.tokens.clone();
    let mut admin = d.ledger(Some(&t.admin)).await;
    let mut auditor = d.audit(Some(&t.auditor)).await;
    open(&mut admin, OWN_PROJECT, 500).await;
    open(&mut admin, "conf-b", 500).await;

    // Every RecordCommit answers with a receipt that verifies offline.
    let mut receipts = Vec::new();
    for i in 0..6 {
        let project = if i % 2 == 0 { OWN_PROJECT } else { "conf-b" };
        let answer = record(&mut admin, vec![contribution(&format!("g-{i}"), project, "25.00", None)]).await.unwrap();
        let receipt = answer.receipt.expect("a receipt");
        assert_eq!(receipt.commit, answer.commit);
        assert_eq!(receipt.records.len(), 1);
        assert_eq!(receipt.records[0].project, project);
        let checkpoint = check_receipt(&receipt, &key);
        assert!(checkpoint.size >= answer.commit);
        receipts.push(receipt);
    }
    // A retry answers the original commit with a receipt too.
    let again = record(&mut admin, vec![contribution("g-0", OWN_PROJECT, "25.00", None)]).await.unwrap();
    assert!(again.duplicate);
    check_receipt(&again.receipt.expect("a receipt"), &key);

    // The latest checkpoint covers every commit.
    let latest = auditor.get_checkpoint(pb::GetCheckpointRequest { size: 0 }).await.unwrap().into_inner();
    let head = auditor.get_head(pb::GetHeadRequest::default()).await.unwrap().into_inner();
    let latest_cp = opened(&latest.checkpoint, &key);
    assert_eq!((latest.size, latest_cp.size), (head.commit, head.commit));
    // Each receipt's checkpoint is served again by its size, and is consistent with the latest.
    for receipt in &receipts {
        let old = opened(&receipt.checkpoint, &key);
        let again = auditor.get_checkpoint(pb::GetCheckpointRequest { size: old.size }).await.unwrap().into_inner();
        assert_eq!(again.checkpoint, receipt.checkpoint);
        let proof = auditor
            .get_consistency_proof(pb::GetConsistencyProofRequest { old_size: old.size, new_size: 0 })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(proof.new_size, latest_cp.size);
        verify_consistency(old.size, latest_cp.size, &old.root, &latest_cp.root, &hashes(&proof.proof)).unwrap();
    }
    // Every commit's inclusion proof in the latest checkpoint.
    for commit in 1..=head.commit {
        let p =
            auditor.get_inclusion_proof(pb::GetInclusionProofRequest { commit, size: 0 }).await.unwrap().into_inner();
        let leaf = LogLeaf::parse(&p.leaf).unwrap();
        let cp = opened(&p.checkpoint, &key);
        verify_inclusion(&leaf.leaf_hash(), commit - 1, cp.size, &hashes(&p.proof), &cp.root).unwrap();
    }

    // The raw commit entries, a page at a time, rebuild the same log.
    let mut log = LedgerLog::new();
    let mut from = 0;
    loop {
        let page = auditor
            .list_commit_entries(pb::ListCommitEntriesRequest { from, page_size: 3 })
            .await
            .unwrap()
            .into_inner();
        assert!(page.entries.len() <= 3);
        let Some(last) = page.entries.last().map(|e| e.number) else { break };
        for e in &page.entries {
            log.append(&CommitEntry::decode(&e.bytes).expect("an entry")).unwrap();
        }
        from = last + 1;
    }
    assert_eq!((log.size(), log.root()), (latest_cp.size, latest_cp.root));

    // A project proves its latest head with its own token, and only its own.
    let mut own = d.audit(Some(&t.project)).await;
    let p = own.get_head_proof(pb::GetHeadProofRequest { project: OWN_PROJECT.into() }).await.unwrap().into_inner();
    let proof = HeadProof {
        chain: p.project.clone(),
        seq: p.seq,
        hash: p.hash.clone().try_into().unwrap(),
        map_index: p.map_index,
        map_proof: hashes(&p.map_proof),
        leaf: LogLeaf::parse(&p.leaf).unwrap(),
        log_proof: hashes(&p.log_proof),
    };
    let cp = opened(&p.checkpoint, &key);
    assert_eq!(proof.verify(OWN_PROJECT, &cp).unwrap().0, head_seq(&mut auditor, OWN_PROJECT).await);
    assert!(proof.verify("conf-b", &cp).is_err(), "a proof for one chain is no proof for another");
    let denied = own.get_head_proof(pb::GetHeadProofRequest { project: "conf-b".into() }).await;
    assert_code(denied, Code::PermissionDenied);
    assert_code(own.list_commit_entries(pb::ListCommitEntriesRequest::default()).await, Code::PermissionDenied);

    // Bad input: the field named, the right status.
    let s = assert_code(
        auditor.get_inclusion_proof(pb::GetInclusionProofRequest { commit: 0, size: 0 }).await,
        Code::InvalidArgument,
    );
    assert!(s.message().contains("commit"), "{s:?}");
    let s = assert_code(
        auditor.get_inclusion_proof(pb::GetInclusionProofRequest { commit: head.commit + 1, size: 0 }).await,
        Code::InvalidArgument,
    );
    assert!(s.message().contains("commit"), "{s:?}");
    let s = assert_code(
        auditor.get_consistency_proof(pb::GetConsistencyProofRequest { old_size: head.commit + 1, new_size: 0 }).await,
        Code::InvalidArgument,
    );
    assert!(s.message().contains("old_size"), "{s:?}");
    assert_code(auditor.get_checkpoint(pb::GetCheckpointRequest { size: head.commit + 100 }).await, Code::NotFound);
    let s = assert_code(
        auditor.list_commit_entries(pb::ListCommitEntriesRequest { from: 0, page_size: 1_000_000 }).await,
        Code::InvalidArgument,
    );
    assert!(s.message().contains("page_size"), "{s:?}");
    assert_code(
        auditor.get_head_proof(pb::GetHeadProofRequest { project: "Not An Id".into() }).await,
        Code::InvalidArgument,
    );
    assert_code(auditor.get_head_proof(pb::GetHeadProofRequest { project: "nobody".into() }).await, Code::NotFound);

    // After a restart: the same key, every old checkpoint served again, the log carried on.
    let first = receipts[0].checkpoint.clone();
    let d = d.restart().await;
    assert_eq!(verifier_key(&d.data()), key.verifier_key());
    let mut auditor = d.audit(Some(&t.auditor)).await;
    let size = opened(&first, &key).size;
    let again = auditor.get_checkpoint(pb::GetCheckpointRequest { size }).await.unwrap().into_inner();
    assert_eq!(again.checkpoint, first);
    let mut admin = d.ledger(Some(&t.admin)).await;
    let answer = record(&mut admin, vec![contribution("after", OWN_PROJECT, "5.00", None)]).await.unwrap();
    let cp = check_receipt(&answer.receipt.unwrap(), &key);
    let p = auditor
        .get_consistency_proof(pb::GetConsistencyProofRequest { old_size: latest_cp.size, new_size: cp.size })
        .await
        .unwrap()
        .into_inner();
    verify_consistency(latest_cp.size, cp.size, &latest_cp.root, &cp.root, &hashes(&p.proof)).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(d.data().join("log.key")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the signing key is its owner's only");
    }
}

/// Runs Go's reference code (`tlog/tests/go/verify.go`, `golang.org/x/mod/sumdb/note` and
/// `sumdb/tlog` from Debian's packages) on `input`; answers how many checks it made.
fn run_go(input: &serde_json::Value) -> u64 {
    const GOPATH: &str = "/usr/share/gocode";
    let go_file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tlog/tests/go/verify.go");
    let work = tempfile::tempdir().unwrap();
    let (input_path, output_path) = (work.path().join("in.json"), work.path().join("out.json"));
    std::fs::write(&input_path, serde_json::to_vec_pretty(input).unwrap()).unwrap();
    assert!(
        std::path::Path::new(GOPATH).join("src/golang.org/x/mod/sumdb/note").is_dir(),
        "Go's golang.org/x/mod is missing from {GOPATH}: run `bash .ci/install` (Debian's golang-golang-x-mod-dev)"
    );
    let output = std::process::Command::new("go")
        .arg("run")
        .arg(&go_file)
        .arg(&input_path)
        .arg(&output_path)
        .env("GOPATH", GOPATH)
        .env("GO111MODULE", "off")
        .env_remove("GOFLAGS")
        .env("GOCACHE", std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("go-build-cache"))
        .env("GOPROXY", "off")
        .env("GOTOOLCHAIN", "local")
        .output()
        .unwrap_or_else(|e| panic!("cannot run `go` ({e}): run `bash .ci/install` (Debian's golang-go)"));
    assert!(
        output.status.success(),
        "Go's reference code refused what fiscusd served:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let out: serde_json::Value = serde_json::from_slice(&std::fs::read(&output_path).unwrap()).unwrap();
    out["checked"].as_u64().expect("a count")
}

/// What a real fiscusd serves — its stored checkpoints, the log leaves, inclusion and consistency
/// proofs, and a receipt kept as a C2SP tlog-proof — checked by Go's reference code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_reference_code_checks_what_fiscusd_serves() {
    use base64::Engine as _;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let d = Daemon::start().await;
    let key = verifier_key(&d.data());
    let t = d.tokens.clone();
    let mut admin = d.ledger(Some(&t.admin)).await;
    let mut auditor = d.audit(Some(&t.auditor)).await;
    open(&mut admin, OWN_PROJECT, 250).await;
    let mut receipts = Vec::new();
    for i in 0..9 {
        let answer = record(&mut admin, vec![contribution(&format!("go-{i}"), OWN_PROJECT, "12.50", None)]).await;
        receipts.push(answer.unwrap().receipt.expect("a receipt"));
    }
    let latest = auditor.get_checkpoint(pb::GetCheckpointRequest { size: 0 }).await.unwrap().into_inner();
    let size = latest.size;
    // every checkpoint the receipts name, and the latest
    let mut checkpoints: Vec<(u64, String)> = receipts
        .iter()
        .map(|r| (opened(&r.checkpoint, &NoteVerifier::from_verifier_key(&key).unwrap()).size, r.checkpoint.clone()))
        .collect();
    checkpoints.push((size, latest.checkpoint.clone()));
    checkpoints.sort();
    checkpoints.dedup();
    let mut leaves = Vec::new();
    let mut inclusion = Vec::new();
    for commit in 1..=size {
        let p = auditor.get_inclusion_proof(pb::GetInclusionProofRequest { commit, size }).await.unwrap().into_inner();
        leaves.push(b64(&p.leaf));
        let proof: Vec<String> = p.proof.iter().map(|h| b64(h)).collect();
        inclusion.push(serde_json::json!({"index": commit - 1, "size": size, "proof": proof}));
    }
    let mut consistency = Vec::new();
    for (old, _) in &checkpoints {
        let p = auditor
            .get_consistency_proof(pb::GetConsistencyProofRequest { old_size: *old, new_size: size })
            .await
            .unwrap()
            .into_inner();
        let proof: Vec<String> = p.proof.iter().map(|h| b64(h)).collect();
        consistency.push(serde_json::json!({"old": old, "new": size, "proof": proof}));
    }
    // a receipt, as the tlog-proof `fiscus record --receipt` keeps
    let receipt = fiscus_client::receipt_of(&receipts[4]).unwrap();
    let tlog_proof = receipt.to_tlog_proof().unwrap().to_text();
    let input = serde_json::json!({
        "origin": ORIGIN,
        "verifier_key": key,
        "leaves": leaves,
        "checkpoints": checkpoints.iter().map(|(_, c)| c.clone()).collect::<Vec<_>>(),
        "inclusion": inclusion,
        "consistency": consistency,
        "cosigner_key": "",
        "cosigned": "",
        "tlog_proof": tlog_proof,
        "tlog_proof_leaf": receipt.commit - 1,
    });
    let expected = checkpoints.len() + inclusion.len() + consistency.len() + 1;
    assert_eq!(run_go(&input), expected as u64, "Go ran every check");
}

/// Copies a folder and everything in it.
fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
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

async fn gifts(d: &Daemon, prefix: &str, count: usize) {
    let mut admin = d.ledger(Some(&d.tokens.admin)).await;
    for i in 0..count {
        record(&mut admin, vec![contribution(&format!("{prefix}-{i}"), OWN_PROJECT, "10.00", None)]).await.unwrap();
    }
}

async fn project_client(d: &Daemon) -> fiscus_client::Client {
    let options = fiscus_client::ClientOptions { token: Some(d.tokens.project.clone()), ..Default::default() };
    fiscus_client::Client::connect(&format!("http://{}", d.addr), options).await.unwrap()
}

/// The provable balance: a project's client pins the log key and keeps the last checkpoint it
/// accepted; a checkpoint signed by another key, a valid signature over another history, and an
/// older checkpoint replayed as newer are all refused, and nothing is kept from them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pinned_client_refuses_forged_checkpoints() {
    let d = Daemon::start().await;
    let pin = NoteVerifier::from_verifier_key(&verifier_key(&d.data())).unwrap();
    let mut admin = d.ledger(Some(&d.tokens.admin)).await;
    open(&mut admin, OWN_PROJECT, 500).await;
    gifts(&d, "a", 3).await;
    let project = fiscus_client::project_id(OWN_PROJECT).unwrap();
    let states = tempfile::tempdir().unwrap();
    let state = states.path().join("checkpoint");
    let client = project_client(&d).await;
    let first = client.verify_project_pinned(&project, &pin, &state, None, &mut |_, _| {}).await.unwrap();
    assert!(first.previous.is_none() && first.verified.checkpoint_proven);
    assert_eq!(first.checkpoint.size, 4);
    assert_eq!(first.verified.head_seq, 4);
    gifts(&d, "b", 2).await;
    let second = client.verify_project_pinned(&project, &pin, &state, None, &mut |_, _| {}).await.unwrap();
    assert_eq!(second.previous.as_ref().map(|c| c.size), Some(4));
    assert_eq!(second.checkpoint.size, 6);
    let kept = std::fs::read_to_string(&state).unwrap();

    // A snapshot of the honest store at size 6, for the replay below.
    let (dir, tokens) = (d.dir.clone(), d.tokens.clone());
    assert!(d.stop().success());
    let snapshot = std::sync::Arc::new(tempfile::tempdir().unwrap());
    copy_dir(dir.path(), snapshot.path());
    std::fs::remove_file(snapshot.path().join("fiscusd.log")).unwrap();
    let d = Daemon::spawn(dir, tokens.clone(), &[]).await;
    gifts(&d, "c", 2).await;
    let third =
        project_client(&d).await.verify_project_pinned(&project, &pin, &state, None, &mut |_, _| {}).await.unwrap();
    assert_eq!((third.previous.as_ref().map(|c| c.size), third.checkpoint.size), (Some(6), 8));
    let at_8 = std::fs::read_to_string(&state).unwrap();

    // An older checkpoint replayed as newer: the snapshot's server, honest key, size 6.
    let stale = Daemon::spawn(snapshot, tokens, &[]).await;
    let refused =
        project_client(&stale).await.verify_project_pinned(&project, &pin, &state, None, &mut |_, _| {}).await;
    let e = refused.expect_err("an older checkpoint is refused").to_string();
    assert!(e.contains("older than the one seen before"), "{e}");
    assert_eq!(std::fs::read_to_string(&state).unwrap(), at_8, "nothing kept from a refused checkpoint");

    // A checkpoint signed by another key: a server with its own key and the same project.
    let other = Daemon::start().await;
    let mut other_admin = other.ledger(Some(&other.tokens.admin)).await;
    open(&mut other_admin, OWN_PROJECT, 500).await;
    gifts(&other, "a", 9).await;
    let fresh = states.path().join("fresh");
    let refused =
        project_client(&other).await.verify_project_pinned(&project, &pin, &fresh, None, &mut |_, _| {}).await;
    let e = refused.expect_err("another key's checkpoint is refused").to_string();
    assert!(e.contains("checkpoint is refused"), "{e}");
    assert!(!fresh.exists());

    // A valid signature over another root: a server of a history of its own signed with the
    // honest key from its start (an operator forging one; fiscusd refuses to sign a store's
    // checkpoints with another key than their own) — consistent with nothing the client kept.
    let (forged_dir, forged_tokens) = Daemon::prepare();
    std::fs::create_dir(forged_dir.path().join("data")).unwrap();
    {
        use std::os::unix::fs::PermissionsExt as _;
        let data = forged_dir.path().join("data");
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    std::fs::copy(d.data().join("log.key"), forged_dir.path().join("data/log.key")).unwrap();
    let other = Daemon::spawn(forged_dir, forged_tokens, &[]).await;
    let mut forger = other.ledger(Some(&other.tokens.admin)).await;
    open(&mut forger, OWN_PROJECT, 500).await;
    gifts(&other, "z", 11).await;
    let refused =
        project_client(&other).await.verify_project_pinned(&project, &pin, &state, None, &mut |_, _| {}).await;
    let e = refused.expect_err("another history under the honest key is refused").to_string();
    assert!(e.contains("not consistent") || e.contains("forked"), "{e}");
    // Alone (no checkpoint kept), that history verifies: keeping checkpoints is what catches it.
    let alone = states.path().join("alone");
    project_client(&other).await.verify_project_pinned(&project, &pin, &alone, None, &mut |_, _| {}).await.unwrap();
    assert_eq!(std::fs::read_to_string(&state).unwrap(), at_8);
    drop(kept);
}

/// `fiscus` with the daemon's address and a token.
fn fiscus(d: &Daemon, token: &str, args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(crate::cli::fiscus_bin())
        .env_remove("FISCUS_STORE")
        .env("FISCUS_SERVER", format!("http://{}", d.addr))
        .env("FISCUS_TOKEN", token)
        .args(args)
        .output()
        .expect("fiscus runs");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// `fiscus verify --pin KEY` of a project that holds no money (only opened) says so, where it
/// printed an empty balance ("balance ; proven under …"); its JSON lists no balances.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proven_project_with_no_money_says_so() {
    let d = Daemon::start().await;
    let key = verifier_key(&d.data());
    let t = d.tokens.clone();
    let mut admin = d.ledger(Some(&t.admin)).await;
    open(&mut admin, OWN_PROJECT, 500).await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state").display().to_string();
    let args = ["verify", "--project", OWN_PROJECT, "--pin", &key, "--state", &state];
    let (ok, out) = fiscus(&d, &t.project, &args);
    assert!(ok, "{out}");
    assert!(out.contains("balance: nothing (no money recorded yet); proven under checkpoint"), "{out}");
    assert!(!out.contains("balance ;"), "{out}");
    let mut json = vec!["--json"];
    json.extend_from_slice(&args);
    let (ok, out) = fiscus(&d, &t.project, &json);
    assert!(ok, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(v["projects"][0]["balances"], serde_json::json!([]), "{out}");
    assert_eq!(v["projects"][0]["ok"], true, "{out}");
}

/// `fiscus record --receipt FILE` keeps the receipt, `fiscus verify --receipt FILE --pin KEY`
/// checks it offline (and refuses it with another key, or altered), and `fiscus verify --pin KEY`
/// says which checkpoint it verified against.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_keeps_and_checks_receipts_and_verifies_under_the_pinned_key() {
    let d = Daemon::start().await;
    let key = verifier_key(&d.data());
    let t = d.tokens.clone();
    let mut admin = d.ledger(Some(&t.admin)).await;
    open(&mut admin, OWN_PROJECT, 500).await;
    let dir = tempfile::tempdir().unwrap();
    let commit = dir.path().join("commit.json");
    std::fs::write(
        &commit,
        format!(
            r#"{{"events": [{{"project": "{OWN_PROJECT}", "date": "2026-03-01", "kind": "contribution",
            "amount": "40.00", "currency": "USD", "from": "Acme", "source": "donation"}}]}}"#
        ),
    )
    .unwrap();
    // a receipt path in the daemon's data folder (a store's folder) is refused before anything is sent
    let inside = d.data().join("commit.tlog-proof");
    let (ok, out) = fiscus(
        &d,
        &t.accountant,
        &["record", "--file", &commit.display().to_string(), "--receipt", &inside.display().to_string()],
    );
    assert!(!ok && out.contains("which holds a store") && out.contains("nothing was recorded"), "{out}");
    assert!(!inside.exists(), "no file made in the store's folder");
    let receipt = dir.path().join("commit.tlog-proof");
    let r = receipt.display().to_string();
    let (ok, out) = fiscus(&d, &t.accountant, &["record", "--file", &commit.display().to_string(), "--receipt", &r]);
    assert!(ok, "{out}");
    assert!(std::fs::read_to_string(&receipt).unwrap().starts_with("c2sp.org/tlog-proof@v1\n"));
    // offline: no server needed
    let offline = std::process::Command::new(crate::cli::fiscus_bin())
        .env_remove("FISCUS_SERVER")
        .env_remove("FISCUS_STORE")
        .args(["verify", "--receipt", &r, "--pin", &key])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&offline.stdout);
    assert!(offline.status.success(), "{text}{}", String::from_utf8_lossy(&offline.stderr));
    assert!(text.contains("receipt verified: commit 2") && text.contains(ORIGIN), "{text}");
    // another key: refused
    let other = fiscus_tlog::NoteSigner::generate(ORIGIN).unwrap().verifier_key();
    let (ok, out) = fiscus(&d, &t.accountant, &["verify", "--receipt", &r, "--pin", &other]);
    assert!(!ok && out.contains("refused"), "{out}");
    // asked for a project the receipt holds no record of: refused; of its own project: verified
    let (ok, out) = fiscus(&d, &t.accountant, &["verify", "--receipt", &r, "--pin", &key, "--project", "conf-zz"]);
    assert!(!ok && out.contains("holds no record of --project conf-zz"), "{out}");
    let (ok, out) = fiscus(&d, &t.accountant, &["verify", "--receipt", &r, "--pin", &key, "--project", OWN_PROJECT]);
    assert!(ok && out.contains("receipt verified: commit 2"), "{out}");
    // the log's signing key given as the pin: named as a secret, and never echoed
    let signing = std::fs::read_to_string(d.data().join("log.key")).unwrap();
    let (ok, out) = fiscus(&d, &t.accountant, &["verify", "--receipt", &r, "--pin", signing.trim()]);
    let secret = signing.trim().rsplit('+').next().unwrap();
    assert!(!ok && out.contains("private signing key") && !out.contains(secret), "{out}");
    // one record hash changed in the receipt: refused
    let parsed = fiscus_tlog::TlogProof::parse(&std::fs::read_to_string(&receipt).unwrap()).unwrap();
    let mut forged = fiscus_ledger::log::Receipt::from_tlog_proof(&parsed).unwrap();
    forged.records[0].hash[0] ^= 1;
    let forged_file = dir.path().join("forged.tlog-proof");
    std::fs::write(&forged_file, forged.to_tlog_proof().unwrap().to_text()).unwrap();
    let (ok, out) =
        fiscus(&d, &t.accountant, &["verify", "--receipt", &forged_file.display().to_string(), "--pin", &key]);
    assert!(!ok && out.contains("refused"), "{out}");

    // The provable balance with the project's own token, twice: the second is checked against the first.
    let state = dir.path().join("state").display().to_string();
    let args = ["verify", "--project", OWN_PROJECT, "--pin", &key, "--state", &state];
    let (ok, out) = fiscus(&d, &t.project, &args);
    assert!(
        ok && out.contains("proven under checkpoint localhost/fiscus size 2")
            && out.contains("no earlier checkpoint was kept: this one is trusted on first use"),
        "{out}"
    );
    record(&mut admin, vec![contribution("later", OWN_PROJECT, "5.00", None)]).await.unwrap();
    let (ok, out) = fiscus(&d, &t.project, &args);
    assert!(ok && out.contains("size 3") && out.contains("consistent with checkpoint 2"), "{out}");
    let (ok, out) = fiscus(&d, &t.project, &["verify", "--project", OWN_PROJECT, "--pin", &other, "--state", &state]);
    assert!(!ok, "{out}");
}
