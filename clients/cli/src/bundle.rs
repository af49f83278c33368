//! The take-away bundle (`docs/FORMAT.md`, "The take-away bundle"): everything a project needs to
//! prove its books offline, with only the log's verifier key — its raw chain, the proof of its
//! latest head under a signed (and cosigned) checkpoint as a C2SP `tlog-proof`, the verifier key
//! and an hledger journal of its books.
//!
//! A bundle is one JSON object (`format` `fiscus-bundle/v1`). Its `head_proof` is a tlog-proof of
//! the checkpoint's last log leaf, whose `extra` data carries the rest of the head proof (the leaf
//! itself, the chain's head and its map proof); the extra data is not trusted, it is checked:
//! the leaf by the tlog-proof's inclusion proof, the head by the map proof under the leaf's map
//! root. [`verify`] checks every piece and that they agree; the journal must be exactly the one
//! the verified chain gives.

use std::path::Path;

use fiscus_client::fiscus_ledger::chain::record_hash;
use fiscus_client::fiscus_ledger::log::{HeadProof, LogLeaf, LOG_LEAF_BYTES};
use fiscus_client::fiscus_ledger::money::format_amount;
use fiscus_client::fiscus_ledger::projection::Balance;
use fiscus_client::fiscus_ledger::record::Record;
use fiscus_client::fiscus_ledger::verify::{head_of, verify_chain};
use fiscus_client::fiscus_ledger::{export, Hash, ProjectId};
use fiscus_tlog::proof::PROOF_HASHES_MAX;
use fiscus_tlog::{open_checkpoint, NoteVerifier, Policy, TlogProof};
use serde::{Deserialize, Serialize};

use crate::fail::Failure;

/// The `format` of a bundle of this layout.
pub const BUNDLE_FORMAT: &str = "fiscus-bundle/v1";

/// Format byte leading a head proof's extra data.
pub const HEAD_PROOF_EXTRA_FORMAT: u8 = 1;

/// Most bytes of a bundle file read (a chain of about a million records).
pub const BUNDLE_BYTES_MAX: u64 = 2 * 1024 * 1024 * 1024;

/// A bundle file.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Bundle {
    /// [`BUNDLE_FORMAT`].
    pub format: String,
    /// The project id.
    pub project: String,
    /// The log's verifier key (`<origin>+<key id>+<base64 key>`), as the bundle's maker pinned it.
    pub verifier_key: String,
    /// The project's raw chain from seq 1 to the proven head.
    pub records: Vec<BundleRecord>,
    /// The tlog-proof of the head (see the module documentation).
    pub head_proof: String,
    /// The hledger journal of the chain (`fiscus export hledger --project P` of these records).
    pub journal: String,
}

/// One stored record.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct BundleRecord {
    /// Its seq.
    pub seq: u64,
    /// The stored bytes, hex.
    pub bytes: String,
    /// Their blake3 record hash, hex (recomputed by the verifier).
    pub hash: String,
}

/// Why a bundle does not verify.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// Not JSON of a bundle: cut short, or not a bundle at all.
    #[error("not a Fiscus bundle, or truncated: {0}")]
    Malformed(String),
    /// A piece that does not check out.
    #[error("the bundle does not verify: {0}")]
    Invalid(String),
}

fn invalid(why: impl Into<String>) -> BundleError {
    BundleError::Invalid(why.into())
}

/// What a verified bundle proves.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The project.
    pub project: ProjectId,
    /// Records in the chain, all verified.
    pub records: u64,
    /// The proven head seq and hash.
    pub head: (u64, Hash),
    /// The checkpoint's origin and tree size.
    pub origin: String,
    /// The checkpoint's tree size.
    pub checkpoint_size: u64,
    /// The witnesses (policy names) whose cosignatures verified, with a policy.
    pub cosigned_by: Vec<String>,
    /// The balances the verified chain adds up to.
    pub balances: Vec<Balance>,
}

/// Encodes a head proof as a tlog-proof of its log leaf, under the signed checkpoint `checkpoint`.
pub fn head_proof_to_tlog(proof: &HeadProof, checkpoint: &str) -> TlogProof {
    let mut extra = vec![HEAD_PROOF_EXTRA_FORMAT];
    extra.extend_from_slice(&proof.leaf.to_bytes());
    extra.push(u8::try_from(proof.chain.len()).unwrap_or(u8::MAX));
    extra.extend_from_slice(proof.chain.as_bytes());
    extra.extend_from_slice(&proof.seq.to_be_bytes());
    extra.extend_from_slice(&proof.hash);
    extra.extend_from_slice(&proof.map_index.to_be_bytes());
    for hash in &proof.map_proof {
        extra.extend_from_slice(&hash.0);
    }
    TlogProof {
        extra: Some(extra),
        index: proof.leaf.commit.saturating_sub(1),
        inclusion: proof.log_proof.clone(),
        checkpoint: checkpoint.to_owned(),
    }
}

/// Decodes the head proof a tlog-proof carries (untrusted: [`HeadProof::verify`] checks it).
pub fn head_proof_from_tlog(tlog: &TlogProof) -> Result<HeadProof, BundleError> {
    let bad = |why: &str| invalid(format!("head proof extra data: {why}"));
    let extra = tlog.extra.as_deref().ok_or_else(|| bad("missing"))?;
    let (&format, rest) = extra.split_first().ok_or_else(|| bad("empty"))?;
    if format != HEAD_PROOF_EXTRA_FORMAT {
        return Err(bad("unknown format byte"));
    }
    let (leaf, rest) = rest.split_at_checked(LOG_LEAF_BYTES).ok_or_else(|| bad("short log leaf"))?;
    let leaf = LogLeaf::parse(leaf).map_err(|e| bad(&e.to_string()))?;
    let (&len, rest) = rest.split_first().ok_or_else(|| bad("no chain id"))?;
    let (chain, rest) = rest.split_at_checked(usize::from(len)).ok_or_else(|| bad("short chain id"))?;
    let chain = std::str::from_utf8(chain).map_err(|_| bad("chain id is not UTF-8"))?.to_owned();
    let (seq, rest) = rest.split_first_chunk::<8>().ok_or_else(|| bad("no head seq"))?;
    let (hash, rest) = rest.split_first_chunk::<32>().ok_or_else(|| bad("no head hash"))?;
    let (map_index, rest) = rest.split_first_chunk::<8>().ok_or_else(|| bad("no map index"))?;
    if rest.len() % 32 != 0 || rest.len() / 32 > PROOF_HASHES_MAX {
        return Err(bad("the map proof is not whole hashes, or too long"));
    }
    let map_proof =
        rest.chunks_exact(32).map(|c| fiscus_tlog::Hash(c.try_into().unwrap_or([0; 32]))).collect::<Vec<_>>();
    if leaf.commit == 0 || tlog.index != leaf.commit - 1 {
        return Err(invalid(format!(
            "the tlog-proof is of leaf index {}, but its log leaf is of commit {}",
            tlog.index, leaf.commit
        )));
    }
    Ok(HeadProof {
        chain,
        seq: u64::from_be_bytes(*seq),
        hash: *hash,
        map_index: u64::from_be_bytes(*map_index),
        map_proof,
        leaf,
        log_proof: tlog.inclusion.clone(),
    })
}

/// The hledger journal of a project's chain: exactly what `fiscus export hledger --project P`
/// writes for these records.
pub fn journal(project: &ProjectId, records: &[(Record, Hash)]) -> Result<String, BundleError> {
    let mut out = Vec::new();
    export::hledger(&mut out, records.iter().map(|(r, h)| (r, *h)), Some(project))
        .map_err(|e| invalid(format!("writing the journal: {e}")))?;
    String::from_utf8(out).map_err(|_| invalid("the journal is not UTF-8"))
}

/// Verifies a bundle's text offline against the pinned log key `pin` (and, when given, a witness
/// `policy`): the checkpoint's signature (and quorum), the tlog-proof of its last log leaf, the
/// project's head under the leaf's map root, every record of the chain up to that head, and the
/// journal. The first failure is an error that says which piece failed.
pub fn verify(text: &str, pin: &NoteVerifier, policy: Option<&Policy>) -> Result<Verified, BundleError> {
    let bundle: Bundle = serde_json::from_str(text).map_err(|e| BundleError::Malformed(e.to_string()))?;
    if bundle.format != BUNDLE_FORMAT {
        return Err(invalid(format!("format {:?} is not {BUNDLE_FORMAT}", bundle.format)));
    }
    let project = ProjectId::parse("project", &bundle.project).map_err(|e| invalid(e.to_string()))?;
    if bundle.verifier_key != pin.verifier_key() {
        return Err(invalid(format!(
            "it names the log key {:?}, not the pinned {:?}",
            bundle.verifier_key,
            pin.verifier_key()
        )));
    }
    let tlog = TlogProof::parse(&bundle.head_proof).map_err(|e| invalid(format!("head proof: {e}")))?;
    let origin = pin.name();
    let opened = open_checkpoint(&tlog.checkpoint, origin, std::slice::from_ref(pin))
        .map_err(|e| invalid(format!("checkpoint against the pinned key: {e}")))?;
    let cosigned_by = match policy {
        Some(policy) => {
            policy
                .verify_checkpoint(&tlog.checkpoint, origin)
                .map_err(|e| invalid(format!("witness policy: {e}")))?
                .cosigned_by
        }
        None => Vec::new(),
    };
    let proof = head_proof_from_tlog(&tlog)?;
    tlog.verify(&proof.leaf.leaf_hash(), origin, std::slice::from_ref(pin))
        .map_err(|e| invalid(format!("head proof: the log leaf is not in the checkpoint: {e}")))?;
    let (seq, hash) =
        proof.verify(project.as_str(), &opened.checkpoint).map_err(|e| invalid(format!("head proof: {e}")))?;

    let mut bytes = Vec::with_capacity(bundle.records.len());
    for (i, r) in bundle.records.iter().enumerate() {
        let due = i as u64 + 1;
        if r.seq != due {
            return Err(invalid(format!("record {} is where seq {due} was due", r.seq)));
        }
        let raw = hex::decode(&r.bytes).map_err(|_| invalid(format!("record {due}: bytes are not hex")))?;
        if hex::encode(record_hash(&raw)) != r.hash {
            return Err(invalid(format!("record {due}: its hash is not the hash of its bytes")));
        }
        bytes.push(raw);
    }
    let state = verify_chain(&project, bytes.iter().map(Vec::as_slice)).map_err(|e| invalid(format!("chain: {e}")))?;
    let (chain_seq, chain_hash) = head_of(&state);
    if (chain_seq, chain_hash) != (seq, hash) {
        return Err(invalid(format!(
            "the chain ends at seq {chain_seq} ({}), but the checkpoint proves head seq {seq} ({})",
            &hex::encode(chain_hash)[..16],
            &hex::encode(hash)[..16]
        )));
    }
    let mut records = Vec::with_capacity(bytes.len());
    for raw in &bytes {
        let record = Record::decode(raw).map_err(|e| invalid(format!("record: {e}")))?;
        records.push((record, record_hash(raw)));
    }
    let expected = journal(&project, &records)?;
    if expected != bundle.journal {
        let line = expected.lines().zip(bundle.journal.lines()).take_while(|(a, b)| a == b).count() + 1;
        return Err(invalid(format!(
            "the journal is not the one the verified chain gives (first difference at line {line})"
        )));
    }
    Ok(Verified {
        project,
        records: bytes.len() as u64,
        head: (seq, hash),
        origin: origin.to_owned(),
        checkpoint_size: opened.checkpoint.size,
        cosigned_by,
        balances: state.balances(),
    })
}

/// Builds a bundle from its verified parts.
pub fn build(
    project: &ProjectId,
    pin: &NoteVerifier,
    raw: &[(u64, Vec<u8>)],
    proof: &HeadProof,
    checkpoint: &str,
) -> Result<Bundle, BundleError> {
    let mut records = Vec::with_capacity(raw.len());
    for (_, bytes) in raw {
        let record = Record::decode(bytes).map_err(|e| invalid(format!("record: {e}")))?;
        records.push((record, record_hash(bytes)));
    }
    Ok(Bundle {
        format: BUNDLE_FORMAT.to_owned(),
        project: project.as_str().to_owned(),
        verifier_key: pin.verifier_key(),
        records: raw
            .iter()
            .map(|(seq, bytes)| BundleRecord {
                seq: *seq,
                bytes: hex::encode(bytes),
                hash: hex::encode(record_hash(bytes)),
            })
            .collect(),
        head_proof: head_proof_to_tlog(proof, checkpoint).to_text(),
        journal: journal(project, &records)?,
    })
}

/// Reads the tlog-policy file at `path`, when given; with `pin`, one of its `log` lines must be
/// that key (otherwise no checkpoint of the pinned log could meet it, and every one would be
/// refused for want of a known signature).
pub fn read_policy(path: Option<&Path>, pin: Option<&NoteVerifier>) -> Result<Option<Policy>, Failure> {
    let Some(path) = path else { return Ok(None) };
    let max = fiscus_client::fiscus_tlog::policy::POLICY_BYTES_MAX as u64;
    let text =
        crate::files::read_named(path, max, "witness policy").map_err(|e| Failure::usage(format!("--policy {e}")))?;
    let policy = Policy::parse(&text).map_err(|e| Failure::usage(format!("--policy {}: {e}", path.display())))?;
    if let Some(pin) = pin {
        policy.check_log(pin).map_err(|e| Failure::usage(format!("--policy {}: {e}", path.display())))?;
    }
    Ok(Some(policy))
}

/// The text of the bundle at `path` (`-`: standard input), read up to [`BUNDLE_BYTES_MAX`] from
/// one opening of it (a pipe, `<(…)` or `/dev/stdin`, is read as a file is). A file that cannot be a bundle (a bundle
/// is a JSON object, so its first byte past any whitespace is `{`) is refused from its first
/// 4 KiB: another file given by mistake (an archive, a receipt, `/dev/zero`) is named as such, not
/// read for gigabytes.
fn read_bundle(path: &Path) -> Result<String, Failure> {
    use std::io::Read;
    let name = path.display().to_string();
    let failed = |e: crate::files::FileError| Failure::other(e.message(&name, "bundle"));
    let mut file: Box<dyn Read> = match path == Path::new("-") {
        true => Box::new(std::io::stdin().lock()),
        false => Box::new(crate::files::open_within(path, BUNDLE_BYTES_MAX).map_err(failed)?),
    };
    let mut start = Vec::with_capacity(4096);
    (&mut file).take(4096).read_to_end(&mut start).map_err(|e| Failure::other(format!("{name}: {e}")))?;
    match start.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => {}
        None if start.len() < 4096 => return Err(Failure::other(format!("{name}: the file is empty, not a bundle"))),
        _ => {
            return Err(Failure::other(format!(
                "{name}: not a bundle (a bundle is the JSON object `fiscus bundle` writes, starting with {{)"
            )))
        }
    }
    crate::files::read_text_from(std::io::Cursor::new(start).chain(file), BUNDLE_BYTES_MAX).map_err(failed)
}

/// `fiscus verify --bundle FILE --pin KEY [--policy FILE] [--project P]`: checks the bundle offline
/// and shows what it proves; with `project`, a bundle of another project is refused.
pub fn verify_file(
    path: &Path,
    pin: &str,
    policy: Option<&Path>,
    project: Option<&str>,
    json: bool,
) -> Result<(), Failure> {
    let pin = crate::verify::pin_of(pin)?;
    let project = project.map(fiscus_client::project_id).transpose()?;
    let policy = read_policy(policy, Some(&pin))?;
    let text = read_bundle(path)?;
    let verified =
        verify(&text, &pin, policy.as_ref()).map_err(|e| Failure::other(format!("{}: {e}", path.display())))?;
    if let Some(project) = project.filter(|p| *p != verified.project) {
        return Err(Failure::other(format!(
            "{}: the bundle is of project {}, not of --project {project}",
            path.display(),
            verified.project
        )));
    }
    let hash = hex::encode(verified.head.1);
    if json {
        let balances: Vec<serde_json::Value> = verified
            .balances
            .iter()
            .map(|b| {
                serde_json::json!({
                    "currency": b.currency.to_string(),
                    "balance": format_amount(b.balance, b.currency),
                    "available": format_amount(b.available, b.currency),
                })
            })
            .collect();
        outln!(
            "{}",
            serde_json::json!({
                "verified": true,
                "project": verified.project.as_str(),
                "records": verified.records,
                "head_seq": verified.head.0,
                "head_hash": hash,
                "origin": verified.origin,
                "checkpoint_size": verified.checkpoint_size,
                "cosigned_by": verified.cosigned_by,
                "balances": balances,
            })
        );
    } else {
        let cosigned = if verified.cosigned_by.is_empty() {
            String::new()
        } else {
            format!(", cosigned by {}", verified.cosigned_by.join(", "))
        };
        outln!(
            "Verified bundle of {}: {} records, head seq {} ({}), proven under checkpoint {} of {}{cosigned}.",
            verified.project,
            verified.records,
            verified.head.0,
            &hash[..16],
            verified.checkpoint_size,
            verified.origin,
        );
        for b in &verified.balances {
            outln!(
                "  balance {} (available {})",
                crate::show::amount(b.balance, b.currency),
                crate::show::amount(b.available, b.currency)
            );
        }
    }
    Ok(())
}

/// `fiscus bundle --project P --out FILE --pin KEY`: fetches from the daemon the project's latest
/// head proof, the checkpoint it is under with every cosignature stored for it, and the project's
/// raw chain up to that head; builds the bundle ([`build`]), checks it as `fiscus verify --bundle`
/// would ([`verify`], against `pin`), and only then writes it to `out` atomically (a temporary
/// file in the same folder, owner-only, synced and renamed). The token must be allowed to read
/// the project (an admin, an auditor, or the project's own token).
///
/// With `witnesses` (`--policy FILE [--wait SECONDS]`), the bundle holds one checkpoint, so it is
/// made only under a head checkpoint that itself meets the policy: the latest head proof is
/// fetched again every 200 ms until its checkpoint, with the cosignatures the server holds for it
/// by now, meets the quorum (`Policy::verify_checkpoint`, the rule `fiscus verify --bundle
/// --policy` checks), for up to `witnesses.wait`. Without a policy, a checkpoint with no
/// cosignature is written with a warning on stderr (`verify --bundle --policy` would refuse it).
///
/// Errors: the server's refusal (for example `PERMISSION_DENIED`), a checkpoint that does not
/// open with `pin`, a policy without `pin` as a `log` line or not met in time, a chain shorter
/// than the proven head, a bundle that does not verify, or the file not written.
pub async fn write_file(
    backend: &crate::backend::Backend,
    project: &str,
    out: &Path,
    pin: &str,
    witnesses: Option<&fiscus_client::WitnessRequirement>,
    json: bool,
) -> Result<(), Failure> {
    let pin = crate::verify::pin_of(pin)?;
    let crate::backend::Backend::Remote(client) = backend else {
        return Err(Failure::usage("fiscus bundle needs --server: the bundle's checkpoint is signed by fiscusd"));
    };
    if let Some(w) = witnesses {
        w.policy.check_log(&pin).map_err(|e| Failure::usage(format!("--policy: {e}")))?;
    }
    let project = fiscus_client::project_id(project)?;
    let started = std::time::Instant::now();
    let (proof, checkpoint) = loop {
        let (proof, head_checkpoint) = client.head_proof(&project).await?;
        let size = fiscus_client::open_pinned(&head_checkpoint, &pin)
            .map_err(|e| Failure::other(format!("the server's checkpoint against --pin: {e}")))?
            .size;
        // the same checkpoint, with every cosignature the server holds for it by now
        let checkpoint = client.checkpoint(size).await?;
        let Some(w) = witnesses else {
            let cosigned = fiscus_tlog::Note::parse(&checkpoint)
                .map(|n| n.signatures.iter().any(|s| s.name != pin.name()))
                .unwrap_or(false);
            if !cosigned {
                eprintln!(
                    "fiscus: warning: checkpoint {size} carries no cosignatures yet: `fiscus verify --bundle --policy` \
                     will refuse this bundle (make it with --policy FILE to wait for them)"
                );
            }
            break (proof, checkpoint);
        };
        match w.policy.verify_checkpoint(&checkpoint, pin.name()) {
            Ok(_) => break (proof, checkpoint),
            Err(e) => {
                let waited = started.elapsed();
                let wait = w.wait.min(fiscus_client::COSIGNED_WAIT_MAX);
                if waited >= wait {
                    return Err(Failure::other(format!(
                        "witness policy not met for {project}: checkpoint {size}, the one its head is proven under, \
                         {e} (waited {} ms; the bundle holds one checkpoint, so its own cosignatures must meet the \
                         quorum)",
                        waited.as_millis()
                    )));
                }
                tokio::time::sleep(BUNDLE_POLL.min(wait - waited)).await;
            }
        }
    };
    let mut raw: Vec<(u64, Vec<u8>)> = Vec::new();
    let mut export = client.export_chain_stream(&project, 1).await?;
    while (raw.len() as u64) < proof.seq {
        let Some(batch) = export.next_batch().await? else { break };
        raw.extend(batch.into_iter().map(|r| (r.seq, r.bytes)));
    }
    if (raw.len() as u64) < proof.seq {
        return Err(Failure::other(format!(
            "the server sent {} records of {project}, but its head proof is of seq {}",
            raw.len(),
            proof.seq
        )));
    }
    raw.truncate(usize::try_from(proof.seq).unwrap_or(usize::MAX));
    let bundle = build(&project, &pin, &raw, &proof, &checkpoint).map_err(|e| Failure::other(e.to_string()))?;
    let text = serde_json::to_string_pretty(&bundle).map_err(|e| Failure::other(format!("the bundle: {e}")))?;
    let policy = witnesses.map(|w| &w.policy);
    let verified = verify(&text, &pin, policy).map_err(|e| Failure::other(format!("the server's answers: {e}")))?;
    write_atomically(out, text.as_bytes()).map_err(|e| Failure::other(format!("{}: {e}", out.display())))?;
    if json {
        outln!(
            "{}",
            serde_json::json!({
                "written": out.display().to_string(),
                "project": verified.project.as_str(),
                "records": verified.records,
                "head_seq": verified.head.0,
                "head_hash": hex::encode(verified.head.1),
                "origin": verified.origin,
                "checkpoint_size": verified.checkpoint_size,
                "cosigned_by": verified.cosigned_by,
            })
        );
    } else {
        let cosigned = if verified.cosigned_by.is_empty() {
            String::new()
        } else {
            format!(", cosigned by {}", verified.cosigned_by.join(", "))
        };
        outln!(
            "Bundle of {} written to {}: {} records, head seq {}, under checkpoint {} of {}{cosigned}.",
            verified.project,
            out.display(),
            verified.records,
            verified.head.0,
            verified.checkpoint_size,
            verified.origin,
        );
    }
    Ok(())
}

/// The pause between two looks for the head checkpoint's cosignatures (`fiscus bundle --policy`).
const BUNDLE_POLL: std::time::Duration = std::time::Duration::from_millis(200);

/// Writes `bytes` to `path` so that a crash leaves no file or the whole one
/// ([`crate::files::write_replacing`]).
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    crate::files::write_replacing(path, |out| out.write_all(bytes))
}

#[cfg(test)]
mod tests {
    use fiscus_client::fiscus_ledger::log::LedgerLog;
    use fiscus_client::fiscus_ledger::store::Store;
    use fiscus_tlog::{Checkpoint, Cosigner, NoteSigner};
    use fiscus_workload::demo_year;

    use super::*;

    const ORIGIN: &str = "books.example/fiscus";

    /// The demo year on a store, its log rebuilt from the commit entries, and a bundle of
    /// `project` under a checkpoint signed by `key`.
    fn setup(project: &str) -> (NoteSigner, String, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, _) = Store::open(&dir.path().join("books")).unwrap();
        for r in &demo_year() {
            store.commit(r).unwrap();
        }
        let head = store.projection().commit_head.number;
        let entries = store.reader().commits(0, head, usize::MAX).unwrap();
        let mut log = LedgerLog::new();
        for entry in &entries {
            log.append(entry).unwrap();
        }
        let key = NoteSigner::from_seed(ORIGIN, [3; 32]).unwrap();
        let checkpoint = Checkpoint::new(ORIGIN, log.size(), log.root()).unwrap().sign(&key).unwrap().to_text();
        let project = ProjectId::parse("project", project).unwrap();
        let raw: Vec<(u64, Vec<u8>)> =
            store.raw_records(project.as_str(), 1, usize::MAX).unwrap().into_iter().map(|r| (r.seq, r.bytes)).collect();
        let proof = log.head_proof(project.as_str()).unwrap();
        let bundle = build(&project, &key.verifier(), &raw, &proof, &checkpoint).unwrap();
        (key, serde_json::to_string_pretty(&bundle).unwrap(), dir)
    }

    fn edited(text: &str, edit: impl FnOnce(&mut Bundle)) -> String {
        let mut bundle: Bundle = serde_json::from_str(text).unwrap();
        edit(&mut bundle);
        serde_json::to_string(&bundle).unwrap()
    }

    #[test]
    fn a_bundle_verifies_offline_and_every_alteration_is_refused() {
        let (key, text, _dir) = setup("rustconf-2026");
        let pin = key.verifier();
        let verified = verify(&text, &pin, None).unwrap();
        assert_eq!(verified.project.as_str(), "rustconf-2026");
        assert!(verified.records >= 5 && verified.head.0 == verified.records);
        assert!(!verified.balances.is_empty());

        // Truncated anywhere: refused as malformed.
        for cut in [text.len() / 3, text.len() - 2] {
            assert!(matches!(verify(&text[..cut], &pin, None), Err(BundleError::Malformed(_))));
        }
        // Another pinned key: refused.
        let other = NoteSigner::from_seed(ORIGIN, [4; 32]).unwrap().verifier();
        assert!(verify(&text, &other, None).is_err());
        // A record changed (its hash recomputed): the chain no longer ends at the proven head.
        let changed = edited(&text, |b| {
            let mut raw = hex::decode(&b.records[1].bytes).unwrap();
            let last = raw.len() - 1;
            raw[last] ^= 1;
            b.records[1].hash = hex::encode(record_hash(&raw));
            b.records[1].bytes = hex::encode(raw);
        });
        let refused = verify(&changed, &pin, None).unwrap_err().to_string();
        assert!(refused.contains("record") || refused.contains("chain"), "{refused}");
        // The last record dropped: a head that is not the latest.
        let dropped = edited(&text, |b| {
            b.records.pop();
        });
        assert!(verify(&dropped, &pin, None).unwrap_err().to_string().contains("proves head seq"));
        // A journal edited to show more money.
        let journal = edited(&text, |b| b.journal = b.journal.replacen("USD", "EUR", 1));
        assert!(verify(&journal, &pin, None).unwrap_err().to_string().contains("journal"));
        // The head proof of another project, with this project's chain: refused.
        let (_, pyweek, _dir2) = setup("berlin-rust-meetup");
        let theirs: Bundle = serde_json::from_str(&pyweek).unwrap();
        let swapped = edited(&text, |b| b.head_proof = theirs.head_proof.clone());
        assert!(verify(&swapped, &pin, None).unwrap_err().to_string().contains("chain"));
        // A checkpoint signature moved onto another root: refused.
        let moved = edited(&text, |b| {
            let tlog = TlogProof::parse(&b.head_proof).unwrap();
            let mut note = fiscus_tlog::Note::parse(&tlog.checkpoint).unwrap();
            let mut body = fiscus_tlog::Checkpoint::parse_body(&note.text).unwrap();
            body.root = fiscus_tlog::leaf_hash(b"elsewhere");
            note.text = body.body();
            b.head_proof = TlogProof { checkpoint: note.to_text(), ..tlog }.to_text();
        });
        assert!(verify(&moved, &pin, None).unwrap_err().to_string().contains("checkpoint"));
    }

    #[test]
    fn a_witness_policy_needs_its_cosignatures() {
        let (key, text, _dir) = setup("rustconf-2026");
        let witness = Cosigner::from_seed("witness.example/w1", [8; 32]).unwrap();
        let policy = Policy::k_of_n(vec![key.verifier()], vec![witness.verifier()], 1).unwrap();
        assert!(verify(&text, &key.verifier(), Some(&policy)).unwrap_err().to_string().contains("quorum"));
        let cosigned = edited(&text, |b| {
            let tlog = TlogProof::parse(&b.head_proof).unwrap();
            let body = fiscus_tlog::Note::parse(&tlog.checkpoint).unwrap().text;
            let note =
                policy.add_cosignatures(&tlog.checkpoint, &[witness.cosign(&body, 1_700_000_000).unwrap()]).unwrap();
            b.head_proof = TlogProof { checkpoint: note, ..tlog }.to_text();
        });
        let verified = verify(&cosigned, &key.verifier(), Some(&policy)).unwrap();
        assert_eq!(verified.cosigned_by, vec!["w1".to_owned()]);
    }
}
