//! Witness submission: `fiscusd` sends each new signed checkpoint to the C2SP `tlog-witness`es its
//! config lists, with the consistency proof from the size each witness holds, verifies the
//! cosignature each answers against that witness's key, and stores it with the checkpoint, so that
//! `Audit.GetCheckpoint` (latest or of a size) and the bundles made from it carry it
//! (c2sp.org/tlog-witness, c2sp.org/tlog-cosignature).
//!
//! ```toml
//! [[witnesses]]
//! name = "auditor"                       # a label for the log lines, unique
//! url = "http://witness.example:7380"    # the submission prefix (POST <url>/add-checkpoint)
//! key = "witness.example/w1+1b2c3d4e+BC..."  # its cosigner verifier key (`fiscus witness key`)
//! timeout_ms = 10000                     # one call, connection included [default: 10000]
//! interval_ms = 1000                     # shortest pause between two submissions [default: 1000]
//! ```
//!
//! Never in the writer's way: one task per witness on the runtime watches the published log and
//! submits only the newest checkpoint (those signed while a submission is in flight or during a
//! pause are skipped: the next one covers them, its consistency proof spans them). The writer's
//! only part is to append the verified lines to the stored checkpoint, a job on its queue offered
//! with `try_send` (a full queue is left to the commits, and the storing is tried again), at most
//! once per witness and `interval_ms`.
//!
//! A checkpoint that already holds a valid cosignature by the witness (after a restart) is not
//! submitted again. The size a witness holds is learnt from its answers: 0 at first, the checkpoint's size after a
//! cosignature, and the size a 409 Conflict answer names (then the proof from that size is sent at
//! once, a few times at most). A witness that holds a size past the log's, refuses, answers no
//! valid cosignature, or cannot be reached is logged in words and tried again after a pause that
//! doubles from `interval_ms` up to [`BACKOFF_MAX`] (4 s, or `interval_ms` if longer), so that
//! one back from an outage cosigns within seconds; nothing from it is stored. Writes and health
//! never depend on a witness.

use std::time::Duration;

use fiscus_client::witness::{add_checkpoint, check_url, WitnessCallError, WITNESS_TIMEOUT_MS};
use fiscus_ledger::store::Reader;
use fiscus_tlog::note::KEY_TYPE_COSIGNATURE_V1;
use fiscus_tlog::{AddCheckpoint, Note, NoteSignature, NoteVerifier};
use serde::Deserialize;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::writer::{LogSnapshot, WriterHandle};

/// Shortest pause between two submissions to one witness by default, in milliseconds.
pub const INTERVAL_MS_DEFAULT: u64 = 1_000;
/// Longest pause after failures (or `interval_ms` when that is longer). Short, so that a witness
/// back from an outage cosigns within seconds rather than after a long doubled pause; a retry costs
/// one call, cheap for both sides, and only the newest checkpoint is ever sent.
pub const BACKOFF_MAX: Duration = Duration::from_secs(4);
/// Most `add-checkpoint` calls for one checkpoint (a 409 Conflict naming another size is answered
/// with the proof from that size; a witness whose size keeps changing is tried again later).
const CALLS_PER_CHECKPOINT_MAX: usize = 3;
/// Most attempts at handing the cosignature to the writer when its queue is full.
const STORE_ATTEMPTS_MAX: usize = 5;

/// One witness in the config file (`[[witnesses]]`).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct WitnessConfig {
    /// A label for the log lines; unique among the witnesses.
    pub name: String,
    /// Its submission prefix, `http://host[:port][/prefix]`; the request goes to
    /// `<url>/add-checkpoint`.
    pub url: String,
    /// Its cosigner verifier key, `<name>+<key id>+<base64(0x04 ‖ Ed25519 public key)>`, as
    /// `fiscus witness key` prints it.
    pub key: String,
    /// How long one call may take, connection included, in milliseconds [default: 10000].
    pub timeout_ms: Option<u64>,
    /// The shortest pause between two submissions to it, in milliseconds [default: 1000].
    pub interval_ms: Option<u64>,
}

/// A witness ready to be submitted to (a checked [`WitnessConfig`]).
#[derive(Clone, Debug)]
pub struct Witness {
    /// Its label.
    pub name: String,
    /// Its submission prefix.
    pub url: String,
    /// Its cosigner key.
    pub key: NoteVerifier,
    /// How long one call may take.
    pub timeout: Duration,
    /// The shortest pause between two submissions.
    pub interval: Duration,
}

/// A witness entry that cannot be used: `field` is its path in the config file
/// (`witnesses[1].key`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessConfigError {
    /// The field, as `witnesses[<index>].<name>`.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

/// Checks every `[[witnesses]]` entry: a non-empty unique name, an `http://` submission prefix,
/// a `cosignature/v1` verifier key (type 0x04) given once, and timings within 1 ms to 1 hour.
pub fn resolve(entries: &[WitnessConfig]) -> Result<Vec<Witness>, WitnessConfigError> {
    let mut witnesses: Vec<Witness> = Vec::with_capacity(entries.len());
    for (index, entry) in entries.iter().enumerate() {
        let bad =
            |field: &str, message: String| WitnessConfigError { field: format!("witnesses[{index}].{field}"), message };
        if entry.name.is_empty() || entry.name.len() > 100 || entry.name.chars().any(char::is_control) {
            return Err(bad(
                "name",
                format!("{:?} is not a label: 1 to 100 characters, no control characters", entry.name),
            ));
        }
        if let Some(other) = witnesses.iter().position(|w| w.name == entry.name) {
            return Err(bad("name", format!("{:?} is already the name of witnesses[{other}]", entry.name)));
        }
        check_url(&entry.url).map_err(|e| bad("url", e.to_string()))?;
        let key =
            NoteVerifier::from_verifier_key(&entry.key).map_err(|e| bad("key", format!("not a verifier key: {e}")))?;
        if key.key_type() != KEY_TYPE_COSIGNATURE_V1 {
            return Err(bad(
                "key",
                format!(
                    "{} is not a witness cosigner key (cosignature/v1, type 0x04; `fiscus witness key` prints one)",
                    entry.key
                ),
            ));
        }
        if let Some(other) = witnesses.iter().position(|w| w.key.public_key() == key.public_key()) {
            return Err(bad("key", format!("the same key as witnesses[{other}]: a witness counts once")));
        }
        let ms = |field: &str, value: Option<u64>, default: u64| match value.unwrap_or(default) {
            v @ 1..=3_600_000 => Ok(Duration::from_millis(v)),
            v => Err(bad(field, format!("{v} is outside 1 to 3600000"))),
        };
        let timeout = ms("timeout_ms", entry.timeout_ms, WITNESS_TIMEOUT_MS)?;
        let interval = ms("interval_ms", entry.interval_ms, INTERVAL_MS_DEFAULT)?;
        witnesses.push(Witness { name: entry.name.clone(), url: entry.url.clone(), key, timeout, interval });
    }
    Ok(witnesses)
}

/// Starts one submission task per witness on the current runtime. Each ends when the log's
/// publisher (the writer) is gone or the runtime stops.
pub fn spawn(witnesses: Vec<Witness>, log: watch::Receiver<LogSnapshot>, reader: Reader, writer: WriterHandle) {
    for witness in witnesses {
        info!(
            witness = %witness.name,
            url = %witness.url,
            key = %witness.key.verifier_key(),
            "submitting each new checkpoint to this witness"
        );
        tokio::spawn(submit_loop(witness, log.clone(), reader.clone(), writer.clone()));
    }
}

/// The lines of `lines` by `key` whose cosignature verifies over the checkpoint body `body`: at
/// most one (a witness counts once).
pub fn valid_cosignatures(body: &str, key: &NoteVerifier, lines: &[NoteSignature]) -> Vec<NoteSignature> {
    lines
        .iter()
        .filter(|l| l.name == key.name() && l.key_id == key.key_id())
        .filter(|l| matches!(key.verify(body.as_bytes(), &l.signature), Some(Some(_))))
        .take(1)
        .cloned()
        .collect()
}

async fn submit_loop(witness: Witness, mut log: watch::Receiver<LogSnapshot>, reader: Reader, writer: WriterHandle) {
    // The size the witness holds, as far as this task knows.
    let mut held: u64 = 0;
    // The size of the checkpoint it last cosigned for us (stored), to skip resubmitting it.
    let mut cosigned: u64 = 0;
    let mut backoff = witness.interval;
    loop {
        let size = log.borrow_and_update().size;
        if size == 0 || size == cosigned {
            // Nothing new: wait for the next published log.
            if log.changed().await.is_err() {
                return;
            }
            continue;
        }
        match submit(&witness, &reader, &writer, size, &mut held).await {
            Ok(Stored::Yes) => {
                cosigned = size;
                backoff = witness.interval;
                info!(witness = %witness.name, size, "the witness cosigned the checkpoint; cosignature stored");
                tokio::time::sleep(witness.interval).await;
            }
            Ok(Stored::Already) => {
                cosigned = size;
                info!(witness = %witness.name, size, "the stored checkpoint already holds this witness's cosignature");
            }
            Ok(Stored::WriterGone) => return,
            Err(why) => {
                backoff = next_backoff(backoff, witness.interval);
                warn!(
                    witness = %witness.name,
                    url = %witness.url,
                    size,
                    retry_in_ms = backoff.as_millis() as u64,
                    "the witness did not cosign the checkpoint: {why}"
                );
                tokio::time::sleep(backoff).await;
            }
        }
    }
}

/// The pause after another failure, from the last one: doubled, at most [`BACKOFF_MAX`] or
/// `interval` when that is longer (a witness is never called more often than its `interval_ms`).
fn next_backoff(last: Duration, interval: Duration) -> Duration {
    last.saturating_mul(2).min(BACKOFF_MAX.max(interval))
}

/// What became of a cosignature.
enum Stored {
    Yes,
    /// The stored checkpoint already held a valid cosignature by the witness (a restart).
    Already,
    WriterGone,
}

/// Runs a blocking store read on the blocking pool.
async fn read<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, fiscus_ledger::LedgerError> + Send + 'static,
) -> Result<T, String> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(e) => Err(format!("a read task failed: {e}")),
    }
}

/// Submits the stored checkpoint of `size` with the proof from `held`, following a 409's size a
/// few times, verifies the answer and hands the valid cosignature to the writer.
async fn submit(
    witness: &Witness,
    reader: &Reader,
    writer: &WriterHandle,
    size: u64,
    held: &mut u64,
) -> Result<Stored, String> {
    let r = reader.clone();
    let note = read(move || r.checkpoint(size))
        .await
        .map_err(|e| format!("reading the checkpoint of size {size}: {e}"))?
        .ok_or_else(|| format!("no checkpoint of size {size} is stored"))?;
    let parsed = Note::parse(&note).map_err(|e| format!("the stored checkpoint of size {size}: {e}"))?;
    if !valid_cosignatures(&parsed.text, &witness.key, &parsed.signatures).is_empty() {
        // Cosigned before a restart: another line by the same witness would add nothing.
        return Ok(Stored::Already);
    }
    // The checkpoint as signed by the log alone (its line comes first; cosignatures are appended
    // after it): the witness cosigns the body, and other witnesses' lines are none of its business.
    let plain =
        Note { text: parsed.text.clone(), signatures: parsed.signatures.into_iter().take(1).collect() }.to_text();
    let body = parsed.text;
    for _ in 0..CALLS_PER_CHECKPOINT_MAX {
        let old = *held;
        if old > size {
            // It may have been fed another history; ask it afresh next time.
            *held = 0;
            return Err(format!(
                "it holds a checkpoint of size {old} of this log, past the log's {size}: it has seen another history \
                 of this log, or this store was rolled back"
            ));
        }
        let proof = if old == 0 || old == size {
            Vec::new()
        } else {
            let r = reader.clone();
            read(move || r.consistency_proof(old, size))
                .await
                .map_err(|e| format!("the consistency proof from {old} to {size}: {e}"))?
        };
        let request = AddCheckpoint { old_size: old, proof, checkpoint: plain.clone() };
        match add_checkpoint(&witness.url, &request, witness.timeout).await {
            Ok(lines) => {
                let valid = valid_cosignatures(&body, &witness.key, &lines);
                if valid.is_empty() {
                    return Err(format!(
                        "its answer ({} signature lines) holds no cosignature that verifies with the configured key \
                         {}",
                        lines.len(),
                        witness.key.verifier_key()
                    ));
                }
                *held = size;
                return store(writer, size, valid).await;
            }
            Err(WitnessCallError::SizeConflict { size: theirs }) if theirs <= size => {
                info!(witness = %witness.name, holds = theirs, size, "the witness holds another size; sending the proof from it");
                *held = theirs;
            }
            // Past the log's size: refused at the top of the next turn.
            Err(WitnessCallError::SizeConflict { size: theirs }) => *held = theirs,
            Err(e @ WitnessCallError::Refused { status: 409 | 422, .. }) => {
                return Err(format!(
                    "{e} (it refuses a checkpoint that is not consistent with the one it holds for this log: a fork, \
                     or another log with this origin)"
                ));
            }
            Err(e) => return Err(e.to_string()),
        }
    }
    Err(format!("its size changed {CALLS_PER_CHECKPOINT_MAX} times in a row"))
}

/// Hands `lines` to the writer to be stored with the checkpoint of `size`, trying again a few
/// times while its queue is full.
async fn store(writer: &WriterHandle, size: u64, lines: Vec<NoteSignature>) -> Result<Stored, String> {
    let mut pause = Duration::from_millis(50);
    for _ in 0..STORE_ATTEMPTS_MAX {
        match writer.add_cosignatures(size, lines.clone()) {
            Ok(answer) => {
                return match answer.await {
                    Ok(Ok(())) => Ok(Stored::Yes),
                    Ok(Err(e)) => Err(format!("storing its cosignature: {e}")),
                    Err(_) => Ok(Stored::WriterGone),
                }
            }
            Err(crate::writer::Offer::Full) => {
                tokio::time::sleep(pause).await;
                pause = pause.saturating_mul(2);
            }
            Err(crate::writer::Offer::Closed) => return Ok(Stored::WriterGone),
        }
    }
    Err("storing its cosignature: the writer's queue stayed full".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_retry_pause_doubles_to_a_few_seconds() {
        let interval = Duration::from_millis(INTERVAL_MS_DEFAULT);
        let mut pause = interval;
        let mut pauses = Vec::new();
        for _ in 0..10 {
            pause = next_backoff(pause, interval);
            pauses.push(pause.as_millis());
        }
        assert_eq!(pauses, [2_000, 4_000, 4_000, 4_000, 4_000, 4_000, 4_000, 4_000, 4_000, 4_000]);
        // From a short interval (the tests' 50 ms) it never passes the cap either.
        let mut pause = Duration::from_millis(50);
        for _ in 0..20 {
            pause = next_backoff(pause, Duration::from_millis(50));
        }
        assert_eq!(pause, BACKOFF_MAX);
        // A witness asked to be called at most every 10 s keeps that pause.
        let slow = Duration::from_secs(10);
        assert_eq!(next_backoff(slow, slow), slow);
    }
    use fiscus_tlog::{Cosigner, NoteSigner};

    fn entry(name: &str, key: &str) -> WitnessConfig {
        WitnessConfig {
            name: name.to_owned(),
            url: "http://127.0.0.1:7380".to_owned(),
            key: key.to_owned(),
            timeout_ms: None,
            interval_ms: None,
        }
    }

    #[test]
    fn entries_are_checked_naming_the_field() {
        let w1 = Cosigner::from_seed("witness.example/w1", [1; 32]).unwrap().verifier_key();
        let w2 = Cosigner::from_seed("witness.example/w2", [2; 32]).unwrap().verifier_key();
        let log = NoteSigner::from_seed("books.example/fiscus", [3; 32]).unwrap().verifier_key();
        let ok = resolve(&[entry("a", &w1), entry("b", &w2)]).unwrap();
        assert_eq!(ok.len(), 2);
        assert_eq!(ok[0].timeout, Duration::from_millis(WITNESS_TIMEOUT_MS));
        assert_eq!(ok[1].interval, Duration::from_millis(INTERVAL_MS_DEFAULT));

        let field = |entries: &[WitnessConfig]| resolve(entries).unwrap_err().field;
        assert_eq!(field(&[entry("a", &w1), entry("b", "nonsense")]), "witnesses[1].key");
        assert_eq!(field(&[entry("a", &log)]), "witnesses[0].key");
        assert_eq!(field(&[entry("a", &w1), entry("b", &w1)]), "witnesses[1].key");
        assert_eq!(field(&[entry("a", &w1), entry("a", &w2)]), "witnesses[1].name");
        assert_eq!(field(&[entry("", &w1)]), "witnesses[0].name");
        let mut https = entry("a", &w1);
        https.url = "https://w.example".to_owned();
        assert_eq!(field(&[https]), "witnesses[0].url");
        let mut zero = entry("a", &w1);
        zero.timeout_ms = Some(0);
        assert_eq!(field(&[zero]), "witnesses[0].timeout_ms");
        let error = resolve(&[entry("a", &log)]).unwrap_err();
        assert!(error.message.contains("cosigner key"), "{}", error.message);
    }

    #[test]
    fn only_a_valid_cosignature_by_the_key_is_kept() {
        let witness = Cosigner::from_seed("witness.example/w1", [1; 32]).unwrap();
        let other = Cosigner::from_seed("witness.example/w1", [2; 32]).unwrap();
        let body = "books.example/fiscus\n3\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
        let good = witness.cosign(body, 1_700_000_000).unwrap();
        let wrong_body = witness.cosign("books.example/fiscus\n4\nAAAA\n", 1_700_000_000).unwrap();
        let wrong_key = other.cosign(body, 1_700_000_000).unwrap();
        let key = witness.verifier();
        assert_eq!(valid_cosignatures(body, &key, &[wrong_key.clone(), good.clone(), good.clone()]), vec![good]);
        assert!(valid_cosignatures(body, &key, &[wrong_key, wrong_body]).is_empty());
    }
}
