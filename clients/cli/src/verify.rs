//! `fiscus verify`: every chain of a local store, offline; or a project's chain and balance from a
//! daemon, verified locally without trusting the daemon (`fiscus_client::Client::verify_project`);
//! with `--pin KEY`, under a checkpoint signed by the log's key and consistent with the last one
//! kept (`Client::verify_project_pinned`), and with `--policy FILE` only under one a quorum of
//! witnesses cosigned; or a receipt kept by `fiscus record --receipt`, offline.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fiscus_client::fiscus_ledger::verify::verify_chain;
use fiscus_client::fiscus_tlog::note::KEY_TYPE_COSIGNATURE_V1;
use fiscus_client::fiscus_tlog::{Checkpoint, NoteVerifier};
use fiscus_client::{short, CosignedCheckpoint, VerifiedProject, WitnessRequirement};
use serde_json::json;

use crate::backend::Backend;
use crate::commands::{progress, project_arg};
use crate::fail::Failure;
use crate::show;

/// Verifies every chain of the store in `dir` and rebuilds its projection (as opening it does),
/// then re-verifies each chain from its raw records with the client's verifier and compares.
pub fn store(dir: &Path, json: bool) -> Result<(), Failure> {
    if !dir.join("db").exists() {
        return Err(Failure::other(format!("no Fiscus store in {}", dir.display())));
    }
    let started = Instant::now();
    let (store, report) = crate::backend::open_store(dir)?;
    let open_ms = started.elapsed().as_millis().max(1);
    let p = store.projection();
    let mut problems: Vec<(String, u64, String)> =
        report.damage.iter().map(|d| (d.project.clone(), d.seq, d.problem.clone())).collect();
    // A second, independent pass: the client's verifier over each chain's raw records.
    let second = Instant::now();
    let bar = progress(Some(p.events), "re-verifying chains");
    for chain in p.chains() {
        if problems.iter().any(|(name, _, _)| name == chain.id.as_str()) {
            continue;
        }
        let limit = usize::try_from(chain.head.seq).unwrap_or(usize::MAX);
        let raws = store.raw_records(chain.id.as_str(), 1, limit)?;
        match verify_chain(&chain.id, raws.iter().map(|r| r.bytes.as_slice())) {
            Ok(state) if state.head == chain.head && state.balances() == chain.balances() => {}
            Ok(state) => problems.push((
                chain.id.to_string(),
                state.head.seq,
                "the chain verifies but does not add up to the store's projection".to_owned(),
            )),
            Err(fiscus_client::fiscus_ledger::LedgerError::Corrupt { project, seq, problem }) => {
                problems.push((project, seq, problem))
            }
            Err(e) => problems.push((chain.id.to_string(), 0, e.to_string())),
        }
        bar.inc(chain.head.seq);
    }
    bar.finish_and_clear();
    let total_ms = started.elapsed().as_millis();
    let rate = u128::from(report.events) * 1000 / open_ms;
    let projects = p.projects().count();
    let heads: Vec<fiscus_client::ChainHead> = p
        .chains()
        .map(|c| fiscus_client::ChainHead { project: c.id.clone(), seq: c.head.seq, hash: c.head.hash })
        .collect();
    if json {
        show::print_json(&json!({
            "ok": problems.is_empty(),
            "events": report.events,
            "projects": projects,
            "chains": report.chains,
            "commits": report.commits,
            "commit_head": { "commit": p.commit_head.number, "hash": show::hex(&p.commit_head.hash) },
            "heads": heads.iter().map(|h| json!({"project": h.project.as_str(), "seq": h.seq, "hash": show::hex(&h.hash)})).collect::<Vec<_>>(),
            "open_ms": open_ms.to_string(),
            "events_per_second": rate.to_string(),
            "damage": problems.iter().map(|(p, s, m)| json!({"project": p, "seq": s, "problem": m})).collect::<Vec<_>>(),
        }));
    } else {
        outln!("{}", show::heads_table(&heads));
        outln!(
            "{} events in {} projects ({} chains, {} commits); commit head {} {}",
            report.events,
            projects,
            report.chains,
            report.commits,
            p.commit_head.number,
            short(&p.commit_head.hash)
        );
        outln!(
            "opened and verified in {open_ms} ms ({rate} events/s); independent re-verification {} ms; total {total_ms} ms",
            second.elapsed().as_millis()
        );
    }
    store.close()?;
    if problems.is_empty() {
        if !json {
            outln!("every chain verified");
        }
        Ok(())
    } else {
        let mut t = show::table(&["Chain", "First bad seq", "Problem"], &[1]);
        for (p, s, m) in &problems {
            t.add_row(vec![p.clone(), s.to_string(), m.clone()]);
        }
        if !json {
            outln!("{t}");
        }
        let (project, seq, problem) = problems[0].clone();
        let first = fiscus_client::fiscus_ledger::replay::Damage { project, seq, problem };
        Err(Failure::other(format!(
            "verification failed: {} problem(s); first: {}: {}",
            problems.len(),
            first.place(),
            first.problem
        )))
    }
}

/// Verifies one project (or every readable one) from a daemon, trusting nothing it says; without
/// a pinned key the head is checked against the chain and the server's stated head only.
pub async fn server(b: &Backend, project: Option<&str>, json: bool) -> Result<(), Failure> {
    let Backend::Remote(_) = b else { return Err(Failure::usage("verify --project needs --server")) };
    remote(b, project, None, json).await
}

/// The default state file of a pinned key: `~/.fiscus/checkpoint-<key id>`.
fn default_state(pin: &NoteVerifier) -> Result<PathBuf, Failure> {
    let home = std::env::var_os("HOME").ok_or_else(|| Failure::usage("give --state FILE (no HOME to keep it in)"))?;
    let dir = PathBuf::from(home).join(".fiscus");
    std::fs::create_dir_all(&dir).map_err(|e| Failure::other(format!("{}: {e}", dir.display())))?;
    Ok(dir.join(format!("checkpoint-{:08x}", pin.key_id())))
}

/// The log key of `--pin` (for `verify`, `audit` and `bundle`): a verifier key string of an
/// Ed25519 signer (C2SP signed-note, type 0x01). A witness's cosignature key (type 0x04, from
/// `fiscus witness key`) is refused by name: it never signs a checkpoint's body, so every checkpoint
/// would otherwise be refused as "of another origin".
pub(crate) fn pin_of(key: &str) -> Result<NoteVerifier, Failure> {
    let pin = NoteVerifier::from_verifier_key(key.trim())
        .map_err(|e| Failure::usage(format!("--pin: not a verifier key (name+keyid+base64): {e}")))?;
    if pin.key_type() == KEY_TYPE_COSIGNATURE_V1 {
        return Err(Failure::usage(format!(
            "--pin: {:?} is a witness's cosignature key (type 0x04, as `fiscus witness key` prints); pin the \
             log's own key, which `fiscusd key show` prints, and name witnesses in a --policy file",
            pin.name()
        )));
    }
    Ok(pin)
}

#[cfg(test)]
mod tests {
    use fiscus_client::fiscus_tlog::{Cosigner, NoteSigner};

    use super::*;

    /// `--pin` takes the log's Ed25519 key and refuses a witness's cosignature key by name.
    #[test]
    fn a_witness_key_given_to_pin_is_refused_by_name() {
        let log = NoteSigner::from_seed("ledger.example/books", [1; 32]).expect("a key").verifier_key();
        assert_eq!(pin_of(&log).expect("the log's key").name(), "ledger.example/books");
        let witness = Cosigner::from_seed("witness.example/w1", [2; 32]).expect("a key").verifier_key();
        let refused = pin_of(&witness).expect_err("a cosignature key");
        assert!(matches!(refused, Failure::Usage(_)), "{refused:?}");
        let said = refused.to_string();
        assert!(said.contains("witness's cosignature key") && said.contains("fiscusd key show"), "{said}");
        assert!(said.contains("witness.example/w1"), "{said}");
    }
}

/// How long `fiscus verify --policy` waits for cosignatures unless told (`--wait`), in seconds:
/// `fiscusd` submits a new checkpoint to its witnesses within about a second by default.
pub const WAIT_SECONDS_DEFAULT: u64 = 10;

/// The witness requirement of `--policy FILE` and `--wait SECONDS`, when a policy is given.
pub fn witnesses(policy: Option<&Path>, wait: Option<u64>) -> Result<Option<WitnessRequirement>, Failure> {
    let Some(policy) = crate::bundle::read_policy(policy, None)? else { return Ok(None) };
    let seconds = wait.unwrap_or(WAIT_SECONDS_DEFAULT);
    let wait = Duration::from_secs(seconds);
    if wait > fiscus_client::COSIGNED_WAIT_MAX {
        return Err(Failure::usage(format!(
            "--wait {seconds}: at most {} seconds",
            fiscus_client::COSIGNED_WAIT_MAX.as_secs()
        )));
    }
    Ok(Some(WitnessRequirement { policy, wait }))
}

/// Verifies one project (or every readable one) under a checkpoint signed by the pinned key and
/// consistent with the last one accepted (and, with `witnesses`, contained in one a quorum of
/// witnesses cosigned), and says which checkpoint that was.
pub async fn pinned(
    b: &Backend,
    project: Option<&str>,
    key: &str,
    state: Option<&Path>,
    witnesses: Option<&WitnessRequirement>,
    json: bool,
) -> Result<(), Failure> {
    let Backend::Remote(_) = b else { return Err(Failure::usage("verify --pin needs --server")) };
    let pin = pin_of(key)?;
    if let Some(w) = witnesses {
        w.policy.check_log(&pin).map_err(|e| Failure::usage(format!("--policy: {e}")))?;
    }
    let state = match state {
        Some(s) => s.to_owned(),
        None => default_state(&pin)?,
    };
    remote(b, project, Some(Pinned { pin: &pin, state: &state, witnesses }), json).await
}

/// What a pinned verification is given: the log key, the state file and the witness policy.
#[derive(Clone, Copy)]
struct Pinned<'a> {
    pin: &'a NoteVerifier,
    state: &'a Path,
    witnesses: Option<&'a WitnessRequirement>,
}

/// What verifying one project from a daemon gave: the chain and balances, and with a pinned key
/// the checkpoint its head was proven under, the one kept before and, with a policy, the cosigned
/// one that contains it.
struct Outcome {
    verified: VerifiedProject,
    checkpoint: Option<Checkpoint>,
    previous: Option<Checkpoint>,
    cosigned: Option<CosignedCheckpoint>,
}

/// What a project's line says of a verification that did not pass: "NOT CHECKED" when the server
/// could not be reached or did not answer (nothing was found wrong, nothing was proven), "FAILED"
/// when the check itself failed (damage, a bad proof, a refusal).
fn result_word(e: &fiscus_client::ClientError) -> &'static str {
    match e.is_unreachable() {
        true => "NOT CHECKED (the server did not answer)",
        false => "FAILED",
    }
}

/// The one loop of `fiscus verify --server`: each project verified locally (under the pinned key
/// and its state file when `pinned` is given), with a progress bar, then one report.
async fn remote(b: &Backend, project: Option<&str>, pinned: Option<Pinned<'_>>, json: bool) -> Result<(), Failure> {
    let Backend::Remote(client) = b else { return Err(Failure::usage("verify --project needs --server")) };
    let projects = match project {
        Some(p) => vec![project_arg(p)?],
        None => client.projects(true).await?.into_iter().map(|p| p.project).collect(),
    };
    let started = Instant::now();
    let mut results: Vec<(String, Result<Outcome, fiscus_client::ClientError>)> = Vec::new();
    for p in &projects {
        let bar = progress(Some(0), &format!("verifying {p}"));
        let mut shown = |done: u64, head: u64| {
            bar.set_length(head);
            bar.set_position(done);
        };
        let r = match pinned {
            None => client.verify_project_with(p, None, &mut shown).await.map(|verified| Outcome {
                verified,
                checkpoint: None,
                previous: None,
                cosigned: None,
            }),
            Some(Pinned { pin, state, witnesses }) => {
                client.verify_project_pinned(p, pin, state, witnesses, &mut shown).await.map(|v| Outcome {
                    verified: v.verified,
                    checkpoint: Some(v.checkpoint),
                    previous: v.previous,
                    cosigned: v.cosigned,
                })
            }
        };
        bar.finish_and_clear();
        results.push((p.to_string(), r));
    }
    let failures: Vec<String> = results.iter().filter_map(|(_, r)| r.as_ref().err().map(ToString::to_string)).collect();
    if json {
        let mut out = json!({
            "ok": failures.is_empty(),
            "projects": results.iter().map(|(p, r)| match r {
                Ok(o) => {
                    let v = &o.verified;
                    let mut one = json!({
                        "project": p,
                        "ok": true,
                        "records": v.records,
                        "head_seq": v.head_seq,
                        "head_hash": show::hex(&v.head_hash),
                        "checkpoint_proven": v.checkpoint_proven,
                        "balances": v.balances.iter().map(|b| json!({
                            "currency": b.currency.code(),
                            "balance": show::amount_json(b.balance, b.currency),
                            "available": show::amount_json(b.available, b.currency),
                        })).collect::<Vec<_>>(),
                    });
                    if let Some(c) = &o.checkpoint {
                        one["checkpoint"] = json!({ "origin": c.origin, "size": c.size, "root": c.root.to_base64() });
                        one["previous_checkpoint_size"] = json!(o.previous.as_ref().map(|c| c.size));
                    }
                    if let Some(c) = &o.cosigned {
                        // the head is the latest at checkpoint.size, which this cosigned one contains
                        one["cosigned_checkpoint"] = json!({
                            "origin": c.checkpoint.origin,
                            "size": c.checkpoint.size,
                            "root": c.checkpoint.root.to_base64(),
                            "cosigned_by": c.cosigned_by,
                        });
                    }
                    one
                }
                Err(e) => json!({ "project": p, "ok": false, "checked": !e.is_unreachable(), "error": e.to_string() }),
            }).collect::<Vec<_>>(),
        });
        if let Some(Pinned { state, witnesses, .. }) = pinned {
            out["state"] = json!(state.display().to_string());
            if let Some(w) = witnesses {
                out["policy_quorum"] = json!(w.policy.quorum_text());
            }
        }
        show::print_json(&out);
    } else if let Some(Pinned { state, .. }) = pinned {
        for (p, r) in &results {
            match r {
                Ok(Outcome { verified: v, checkpoint: Some(c), previous, cosigned }) => {
                    let since = match previous {
                        Some(old) => format!(", consistent with checkpoint {} seen before", old.size),
                        None => "; no earlier checkpoint was kept: this one is trusted on first use".to_owned(),
                    };
                    let witnessed = match cosigned {
                        Some(w) if w.cosigned_by.is_empty() => "; no cosignatures needed (quorum none)".to_owned(),
                        Some(w) if w.checkpoint.size == c.size => {
                            format!("; cosigned by {}", w.cosigned_by.join(", "))
                        }
                        Some(w) => format!(
                            "; the latest at size {}, which checkpoint {} cosigned by {} contains",
                            c.size,
                            w.checkpoint.size,
                            w.cosigned_by.join(", ")
                        ),
                        None => String::new(),
                    };
                    outln!(
                        "{p}: verified {} records, head seq {} {}, {}; proven under checkpoint {} size {} \
                         root {}{witnessed}{since}",
                        v.records,
                        v.head_seq,
                        short(&v.head_hash),
                        balance_phrase(v),
                        c.origin,
                        c.size,
                        c.root.to_base64()
                    );
                }
                Ok(_) => outln!("{p}: FAILED: no checkpoint"),
                Err(e) => outln!("{p}: {}: {e}", result_word(e)),
            }
        }
        if results.iter().any(|(_, r)| matches!(r, Ok(Outcome { checkpoint: Some(_), .. }))) {
            outln!("checkpoint kept in {}", state.display());
        }
    } else {
        let mut t = show::table(&["Project", "Records", "Head", "Verified balance", "Result"], &[1]);
        for (p, r) in &results {
            match r {
                Ok(Outcome { verified: v, .. }) => t.add_row(vec![
                    p.clone(),
                    v.records.to_string(),
                    format!("seq {} {}", v.head_seq, short(&v.head_hash)),
                    balances_text(v),
                    "verified: chain intact, head and balances match".to_owned(),
                ]),
                Err(e) => t.add_row(vec![
                    p.clone(),
                    String::new(),
                    String::new(),
                    String::new(),
                    format!("{}: {e}", result_word(e)),
                ]),
            };
        }
        outln!("{t}");
        outln!(
            "{} of {} projects verified locally in {} ms. The balance is checked against the chain only: the head is the \
             one the server states, not proven under a signed checkpoint; add --pin KEY (the log's verifier key, from \
             `fiscusd key show`) for a provable balance.",
            results.len() - failures.len(),
            results.len(),
            started.elapsed().as_millis()
        );
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(Failure::other(failures.join("\n")))
    }
}

/// What a verified project that holds no money shows as its balance (its JSON `balances` is `[]`).
const NO_MONEY: &str = "nothing (no money recorded yet)";

/// A verified project's balances, one per currency, for a line of text; [`NO_MONEY`] when its
/// chain moved no money (a project only opened), rather than an empty text.
fn balances_text(v: &VerifiedProject) -> String {
    if v.balances.is_empty() {
        return NO_MONEY.to_owned();
    }
    v.balances.iter().map(|b| show::amount(b.balance, b.currency)).collect::<Vec<_>>().join(", ")
}

/// "balance 1,250.00 USD", or "balance: nothing (no money recorded yet)".
fn balance_phrase(v: &VerifiedProject) -> String {
    match v.balances.is_empty() {
        true => format!("balance: {NO_MONEY}"),
        false => format!("balance {}", balances_text(v)),
    }
}

/// Checks a receipt file offline against the pinned key.
pub fn receipt(file: &Path, key: Option<&str>, project: Option<&str>, json: bool) -> Result<(), Failure> {
    let key = key.ok_or_else(|| Failure::usage("verify --receipt needs --pin KEY"))?;
    let pin = pin_of(key)?;
    let project = project.map(fiscus_client::project_id).transpose()?;
    let checked = crate::record::read_receipt(file).and_then(|r| {
        r.verify_labels(pin.name(), std::slice::from_ref(&pin)).map(|c| (r, c)).map_err(|e| e.to_string())
    });
    let (r, (checkpoint, labels)) =
        checked.map_err(|e| Failure::other(format!("receipt {} refused: {e}", file.display())))?;
    if let Some(project) = &project {
        if !labels.iter().flatten().any(|(p, _)| p == project.as_str()) {
            return Err(Failure::other(format!(
                "receipt {}: it proves commit {}, which holds no record of --project {project} (a record kept as \
                 its hash alone is of a project the receipt does not name)",
                file.display(),
                r.commit
            )));
        }
    }
    // labels come from the records' bytes, bound by the commit hash; a record without bytes is a hash
    let shown = r.records.iter().zip(&labels);
    if json {
        show::print_json(&json!({
            "ok": true,
            "commit": r.commit,
            "records": shown.map(|(x, l)| match l {
                Some((p, s)) => json!({"project": p, "seq": s, "hash": show::hex(&x.hash)}),
                None => json!({"project": null, "seq": null, "hash": show::hex(&x.hash)}),
            }).collect::<Vec<_>>(),
            "checkpoint": { "origin": checkpoint.origin, "size": checkpoint.size, "root": checkpoint.root.to_base64() },
        }));
    } else {
        for (x, l) in shown {
            match l {
                Some((p, s)) => outln!("{p} seq {s} {}", short(&x.hash)),
                None => outln!("a record of another chain {}", short(&x.hash)),
            }
        }
        outln!(
            "receipt verified: commit {} is in the log under checkpoint {} size {} root {}",
            r.commit,
            checkpoint.origin,
            checkpoint.size,
            checkpoint.root.to_base64()
        );
    }
    Ok(())
}
