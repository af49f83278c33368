//! Every parser of untrusted text answers an error, never a panic: arbitrary strings, and valid
//! texts with bytes changed, cut or repeated.

use fiscus_tlog::{
    leaf_hash, AddCheckpoint, Checkpoint, Cosigner, MemoryTree, Note, NoteSigner, NoteVerifier, TlogProof,
};
use proptest::prelude::*;

fn parse_everything(text: &str, known: &[NoteVerifier]) {
    if let Ok(note) = Note::parse(text) {
        let _ = note.verify(known);
        let _ = Checkpoint::parse_body(&note.text);
    }
    let _ = Checkpoint::parse_body(text);
    let _ = fiscus_tlog::open_checkpoint(text, "example.org/ledger", known);
    if let Ok(proof) = TlogProof::parse(text) {
        let _ = proof.verify(&leaf_hash(b"x"), "example.org/ledger", known);
    }
    let _ = AddCheckpoint::parse(text);
    let _ = NoteVerifier::from_verifier_key(text);
    let _ = NoteSigner::from_signer_key(text);
    let _ = Cosigner::from_signer_key(text);
}

/// A valid tlog-proof whose checkpoint carries a cosignature, and an add-checkpoint request.
fn samples() -> (Vec<String>, Vec<NoteVerifier>) {
    static SAMPLES: std::sync::OnceLock<(Vec<String>, Vec<NoteVerifier>)> = std::sync::OnceLock::new();
    SAMPLES.get_or_init(make_samples).clone()
}

fn make_samples() -> (Vec<String>, Vec<NoteVerifier>) {
    let log = NoteSigner::from_seed("example.org/ledger", [1; 32]).unwrap();
    let witness = Cosigner::from_seed("witness.example", [2; 32]).unwrap();
    let mut tree = MemoryTree::new();
    for i in 0..9u8 {
        tree.append(leaf_hash(&[i]));
    }
    let body = Checkpoint::new("example.org/ledger", 9, tree.root()).unwrap().body();
    let mut note = log.sign_note(&body).unwrap();
    note.signatures.push(witness.cosign(&body, 1_700_000_000).unwrap());
    let proof = TlogProof {
        extra: Some(vec![1, 2, 3]),
        index: 3,
        inclusion: tree.inclusion_proof(3, 9).unwrap(),
        checkpoint: note.to_text(),
    };
    let request =
        AddCheckpoint { old_size: 4, proof: tree.consistency_proof(4, 9).unwrap(), checkpoint: note.to_text() };
    (
        vec![proof.to_text(), request.to_text(), note.to_text(), log.verifier_key(), log.signer_key()],
        vec![log.verifier(), witness.verifier()],
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text(text in "\\PC{0,400}") {
        let (_, known) = samples();
        parse_everything(&text, &known);
    }

    #[test]
    fn altered_valid_text(which in 0usize..5, at: usize, byte: u8, cut: usize, repeat in 0usize..3) {
        let (texts, known) = samples();
        let mut bytes = texts[which].clone().into_bytes();
        let at = at % bytes.len();
        bytes[at] = byte;
        // Cut at `cut` (when it falls inside the text), then repeat the second half.
        bytes.truncate(cut % (bytes.len() + 1) + bytes.len() / 2);
        let tail = bytes[bytes.len() / 2..].to_vec();
        for _ in 0..repeat {
            bytes.extend_from_slice(&tail);
        }
        parse_everything(&String::from_utf8_lossy(&bytes), &known);
    }
}

#[test]
fn samples_are_valid() {
    let (texts, known) = samples();
    let proof = TlogProof::parse(&texts[0]).unwrap();
    let verified = proof.verify(&leaf_hash(&[3]), "example.org/ledger", &known).unwrap();
    assert_eq!(verified.verified.len(), 2);
    assert_eq!(AddCheckpoint::parse(&texts[1]).unwrap().old_size, 4);
}

/// A valid text whose line endings became CR LF (a Windows editor, a text-mode transfer) or CR, or
/// that gained a byte order mark, is refused by every parser with the one hint that names what
/// happened, not as a wrong first line or a stray control character; a policy names the line too.
#[test]
fn line_endings_and_a_byte_order_mark_are_named_as_such() {
    let (texts, _) = samples();
    let crlf = |text: &str| text.replace('\n', "\r\n");
    let hint = fiscus_tlog::CRLF_LINE_ENDINGS;
    let proof = TlogProof::parse(&crlf(&texts[0])).unwrap_err().to_string();
    assert_eq!(proof, format!("malformed tlog-proof: {hint}"));
    let request = AddCheckpoint::parse(&crlf(&texts[1])).unwrap_err().to_string();
    assert!(request.ends_with(&format!("malformed add-checkpoint request: {hint}")), "{request}");
    let note = Note::parse(&crlf(&texts[2])).unwrap_err().to_string();
    assert_eq!(note, format!("malformed note: {hint}"));
    let body = Note::parse(&texts[2]).unwrap().text;
    let checkpoint = Checkpoint::parse_body(&crlf(&body)).unwrap_err().to_string();
    assert_eq!(checkpoint, format!("malformed checkpoint: {hint}"));
    let policy_text = format!("# kept on a Windows share\nlog {}\nquorum none\n", texts[3]);
    assert!(fiscus_tlog::Policy::parse(&policy_text).is_ok());
    let policy = fiscus_tlog::Policy::parse(&crlf(&policy_text)).unwrap_err().to_string();
    assert_eq!(policy, format!("policy line 1: {hint}"));
    // a lone CR inside a line is still a control character, not a line ending
    let lone = texts[2].replacen('\n', "\r", 1);
    assert!(Note::parse(&lone).unwrap_err().to_string().contains("control character"));
    // CR line endings throughout, and a byte order mark, are named too
    let cr = |text: &str| text.replace('\n', "\r");
    let cr_hint = fiscus_tlog::CR_LINE_ENDINGS;
    assert_eq!(TlogProof::parse(&cr(&texts[0])).unwrap_err().to_string(), format!("malformed tlog-proof: {cr_hint}"));
    assert_eq!(
        fiscus_tlog::Policy::parse(&cr(&policy_text)).unwrap_err().to_string(),
        format!("policy line 1: {cr_hint}")
    );
    let bom = fiscus_tlog::BYTE_ORDER_MARK;
    let with_bom = |text: &str| format!("\u{feff}{text}");
    assert_eq!(TlogProof::parse(&with_bom(&texts[0])).unwrap_err().to_string(), format!("malformed tlog-proof: {bom}"));
    assert_eq!(Note::parse(&with_bom(&texts[2])).unwrap_err().to_string(), format!("malformed note: {bom}"));
    assert_eq!(
        fiscus_tlog::Policy::parse(&with_bom(&policy_text)).unwrap_err().to_string(),
        format!("policy line 1: {bom}")
    );
}
