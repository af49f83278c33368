//! Fiscus's checkpoints, signatures, cosignatures, tlog-proofs and RFC 6962 proofs checked by an
//! independent implementation, Go's reference `golang.org/x/mod/sumdb/note` and `sumdb/tlog`
//! (tests/go/verify.go), and the reverse: a note Go signs and proofs Go builds, checked here.
//!
//! Go and the module come from Debian (`golang-go`, `golang-golang-x-mod-dev`), installed by
//! `bash .ci/install`; the program builds offline with `GOPATH=/usr/share/gocode
//! GO111MODULE=off`. Without them this test fails (it never skips).

use std::path::Path;
use std::process::Command;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use fiscus_tlog::{
    leaf_hash, open_checkpoint, verify_consistency, verify_inclusion, Checkpoint, Cosigner, Hash, MemoryTree, Note,
    NoteSigner, NoteVerifier, TlogProof,
};
use serde_json::{json, Value};

const ORIGIN: &str = "fiscus.example/ledger";
const GOPATH: &str = "/usr/share/gocode";

fn hashes(proof: &[Hash]) -> Vec<String> {
    proof.iter().map(Hash::to_base64).collect()
}

fn run_go(input: &Value) -> Value {
    let go_file = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/go/verify.go");
    let work = tempfile::tempdir().unwrap();
    let input_path = work.path().join("in.json");
    let output_path = work.path().join("out.json");
    std::fs::write(&input_path, serde_json::to_vec_pretty(input).unwrap()).unwrap();
    assert!(
        Path::new(GOPATH).join("src/golang.org/x/mod/sumdb/note").is_dir(),
        "Go's golang.org/x/mod is missing from {GOPATH}: run `bash .ci/install` (Debian's golang-golang-x-mod-dev)"
    );
    // The build cache lives beside the test binaries, so later runs reuse it.
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("go-build-cache");
    let output = Command::new("go")
        .arg("run")
        .arg(&go_file)
        .arg(&input_path)
        .arg(&output_path)
        .env("GOPATH", GOPATH)
        .env("GO111MODULE", "off")
        .env_remove("GOFLAGS")
        .env("GOCACHE", &cache)
        .env("GOPROXY", "off")
        .env("GOTOOLCHAIN", "local")
        .output()
        .unwrap_or_else(|e| panic!("cannot run `go` ({e}): run `bash .ci/install` (Debian's golang-go)"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "Go's reference code refused Fiscus's output:\n{stdout}\n{stderr}");
    println!("{stdout}");
    serde_json::from_slice(&std::fs::read(&output_path).unwrap()).unwrap()
}

#[test]
fn go_reference_code_agrees() {
    // Fiscus's side: a log of 37 leaves, checkpoints of several sizes, proofs between them.
    let log = NoteSigner::from_seed(ORIGIN, *b"fiscus interop log key seed 0001").unwrap();
    let witness = Cosigner::from_seed("witness.example/w1", *b"fiscus interop witness seed 0001").unwrap();
    let data: Vec<Vec<u8>> = (0..37u32).map(|i| format!("commit {i}").into_bytes()).collect();
    let mut tree = MemoryTree::new();
    for item in &data {
        tree.append(leaf_hash(item));
    }
    let sizes = [1u64, 2, 3, 8, 13, 16, 31, 37];
    let checkpoints: Vec<String> = sizes
        .iter()
        .map(|&size| {
            let checkpoint = Checkpoint::new(ORIGIN, size, tree.root_at(size).unwrap()).unwrap();
            checkpoint.sign(&log).unwrap().to_text()
        })
        .collect();
    let mut inclusion = Vec::new();
    for &size in &sizes {
        for index in [0, size / 2, size - 1] {
            inclusion.push(
                json!({"index": index, "size": size, "proof": hashes(&tree.inclusion_proof(index, size).unwrap())}),
            );
        }
    }
    let mut consistency = Vec::new();
    for (i, &old) in sizes.iter().enumerate() {
        for &new in &sizes[i..] {
            consistency
                .push(json!({"old": old, "new": new, "proof": hashes(&tree.consistency_proof(old, new).unwrap())}));
        }
    }
    let body = Checkpoint::new(ORIGIN, 37, tree.root()).unwrap().body();
    let mut cosigned = log.sign_note(&body).unwrap();
    cosigned.signatures.push(witness.cosign(&body, 1_764_460_800).unwrap());
    let proof = TlogProof {
        extra: Some(b"record 12".to_vec()),
        index: 12,
        inclusion: tree.inclusion_proof(12, 37).unwrap(),
        checkpoint: cosigned.to_text(),
    };
    let input = json!({
        "origin": ORIGIN,
        "verifier_key": log.verifier_key(),
        "leaves": data.iter().map(|d| STANDARD.encode(d)).collect::<Vec<_>>(),
        "checkpoints": checkpoints,
        "inclusion": inclusion,
        "consistency": consistency,
        "cosigner_key": witness.verifier_key(),
        "cosigned": cosigned.to_text(),
        "tlog_proof": proof.to_text(),
        "tlog_proof_leaf": 12,
    });
    let expected_checks = checkpoints.len() + inclusion.len() + consistency.len() + 2;

    let output = run_go(&input);
    assert_eq!(output["checked"].as_u64(), Some(expected_checks as u64), "Go ran every check");

    // Go's side: its key strings, its signed checkpoint, its roots and proofs.
    let go_verifier = NoteVerifier::from_verifier_key(output["verifier_key"].as_str().unwrap()).unwrap();
    let go_signer = NoteSigner::from_signer_key(output["signer_key"].as_str().unwrap()).unwrap();
    assert_eq!(go_signer.verifier_key(), go_verifier.verifier_key(), "Go's signer and verifier keys parse alike");
    let opened =
        open_checkpoint(output["checkpoint"].as_str().unwrap(), "go.example/log", std::slice::from_ref(&go_verifier))
            .unwrap();
    assert_eq!(opened.checkpoint.size, 21);
    // Signing Go's text with Go's key here gives Go's bytes (Ed25519 is deterministic).
    assert_eq!(go_signer.sign_note(&opened.note.text).unwrap(), opened.note);

    let go_leaves: Vec<Hash> = output["leaves"]
        .as_array()
        .unwrap()
        .iter()
        .map(|leaf| leaf_hash(&STANDARD.decode(leaf.as_str().unwrap()).unwrap()))
        .collect();
    let mut go_tree = MemoryTree::new();
    go_tree.append_all(&go_leaves);
    let roots: Vec<Hash> =
        output["roots"].as_array().unwrap().iter().map(|r| Hash::from_base64(r.as_str().unwrap()).unwrap()).collect();
    for (size, root) in (1u64..).zip(&roots) {
        assert_eq!(go_tree.root_at(size).unwrap(), *root, "root of size {size}");
    }
    assert_eq!(opened.checkpoint.root, go_tree.root());
    let parse = |v: &Value| -> Vec<Hash> {
        v.as_array()
            .map(|a| a.iter().map(|h| Hash::from_base64(h.as_str().unwrap()).unwrap()).collect())
            .unwrap_or_default()
    };
    for case in output["inclusion"].as_array().unwrap() {
        let (index, size) = (case["index"].as_u64().unwrap(), case["size"].as_u64().unwrap());
        let proof = parse(&case["proof"]);
        assert_eq!(proof, go_tree.inclusion_proof(index, size).unwrap());
        verify_inclusion(&go_leaves[index as usize], index, size, &proof, &opened.checkpoint.root).unwrap();
    }
    for case in output["consistency"].as_array().unwrap() {
        let (old, new) = (case["old"].as_u64().unwrap(), case["new"].as_u64().unwrap());
        let proof = parse(&case["proof"]);
        assert_eq!(proof, go_tree.consistency_proof(old, new).unwrap());
        verify_consistency(old, new, &roots[old as usize - 1], &roots[new as usize - 1], &proof).unwrap();
    }
    // And Go's note refuses to open under another key of the same name.
    let impostor = NoteSigner::from_seed("go.example/log", [0; 32]).unwrap();
    assert!(Note::parse(output["checkpoint"].as_str().unwrap()).unwrap().verify(&[impostor.verifier()]).is_err());
}

/// docs/FORMAT.md section 8 checked by Go's reference code: the page's log leaves hashed and
/// stored by `sumdb/tlog` give the root of the page's checkpoint, which `sumdb/note` opens with the
/// page's verifier key, and the page's proof of the last leaf passes `tlog.CheckRecord`.
#[test]
fn go_reference_code_checks_the_format_page() {
    let page = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/FORMAT.md")).unwrap();
    let block = |fence: &str| -> String {
        let start = page.find(fence).unwrap_or_else(|| panic!("FORMAT.md has a {fence} block")) + fence.len() + 1;
        let end = page[start..].find("```").unwrap() + start;
        page[start..end].to_owned()
    };
    let vectors = block("```fiscus-log-vectors");
    let value = |label: &str| -> &str {
        vectors
            .lines()
            .find_map(|line| line.strip_prefix(label).and_then(|rest| rest.strip_prefix(": ")))
            .unwrap_or_else(|| panic!("FORMAT.md has {label}"))
    };
    let leaves: Vec<String> =
        (1..=7).map(|n| STANDARD.encode(hex::decode(value(&format!("log-leaf {n}"))).unwrap())).collect();
    let proof: Vec<String> =
        value("log-proof rustconf-2026").split(' ').map(|h| STANDARD.encode(hex::decode(h).unwrap())).collect();
    let input = json!({
        "origin": "sponsor.example/ledger",
        "verifier_key": value("verifier-key"),
        "leaves": leaves,
        "checkpoints": [block("```fiscus-log-checkpoint")],
        "inclusion": [{"index": 6, "size": 7, "proof": proof}],
        "consistency": [],
    });
    let output = run_go(&input);
    assert_eq!(output["checked"].as_u64(), Some(2), "Go opened the checkpoint and checked the proof");
}
