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
    let out = std::process::Command::new(fiscusd_bin())
        .args(["key", "show", "--data"])
        .arg(data)
        .output()
        .expect("fiscusd key show runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("UTF-8").trim().to_owned()
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
