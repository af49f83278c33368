//! Local verification of a project's chain: the client's answer to "why should I believe the
//! server?". Every raw record is re-hashed and linked from the genesis hash and folded with the
//! ledger's own `apply` (`fiscus_ledger::verify::verify_chain`); the head and balances the server
//! states are then compared with what the verified records add up to. Nothing the server says is
//! taken on its word.
//!
//! The proof that the head lies inside a checkpoint signed by the daemon (and so is the head every
//! other reader sees) comes with the audit-proof work: [`HeadProof`] is where it plugs in.

use std::collections::{BTreeMap, BTreeSet};

use fiscus_ledger::chain::{record_hash, Hash};
use fiscus_ledger::money::format_amount;
use fiscus_ledger::projection::{Balance, ProjectState};
use fiscus_ledger::verify::verify_chain;
use fiscus_ledger::{Currency, LedgerError, ProjectId};
use rust_decimal::Decimal;

use crate::error::ClientError;
use crate::responses::{Balances, ChainHead, RawRecord};

/// Checks that a project's head is the one a signed checkpoint commits to (a Merkle inclusion
/// proof). Implemented by the signed-checkpoint work; `verify_project` passes `None` until then.
pub trait HeadProof {
    /// `Ok` when `(project, seq, hash)` is proven to be inside the checkpoint; otherwise why not.
    fn prove_head(&self, project: &ProjectId, seq: u64, hash: &Hash) -> Result<(), String>;
}

/// What a successful verification established: a provable head and balances.
#[derive(Clone, Debug)]
pub struct VerifiedProject {
    /// The project.
    pub project: ProjectId,
    /// Records verified (the whole chain from seq 1).
    pub records: u64,
    /// The head seq the server stated, now verified.
    pub head_seq: u64,
    /// Its hash, recomputed from the stored bytes.
    pub head_hash: Hash,
    /// The balances the verified chain adds up to at `head_seq` (the server's reported balances,
    /// checked at the seq they state, may be of an earlier seq: a commit landed between the two
    /// reads, or the server answered with old balances).
    pub balances: Vec<Balance>,
    /// Whether a checkpoint proof was checked as well.
    pub checkpoint_proven: bool,
    /// The project's state folded from the verified records.
    pub state: ProjectState,
}

fn fail(project: &ProjectId, seq: u64, problem: impl Into<String>) -> ClientError {
    ClientError::Verification { project: project.to_string(), seq, problem: problem.into() }
}

fn chain_error(project: &ProjectId, e: LedgerError) -> ClientError {
    match e {
        LedgerError::Corrupt { project: p, seq, problem } => {
            let problem = if problem.starts_with("prev does not match") && seq > 1 {
                format!("{problem}: record {} or {seq} is not as it was recorded", seq - 1)
            } else {
                problem
            };
            ClientError::Verification { project: p, seq, problem }
        }
        other => fail(project, 0, other.to_string()),
    }
}

/// Verifies `records` (the project's raw chain from seq 1) against what the server stated: its
/// `head` (GetHead) and its `balances` (GetBalance), and, when given, a checkpoint `proof`.
/// The first difference is an error naming the project, the seq and what differs.
pub fn verify_records(
    project: &ProjectId,
    records: &[RawRecord],
    head: &ChainHead,
    balances: &Balances,
    proof: Option<&dyn HeadProof>,
) -> Result<VerifiedProject, ClientError> {
    for (i, r) in records.iter().enumerate() {
        let due = i as u64 + 1;
        if r.seq != due {
            return Err(fail(project, due, format!("the server sent seq {} where seq {due} was due", r.seq)));
        }
        if record_hash(&r.bytes) != r.hash {
            return Err(fail(project, due, "the hash the server states is not the hash of the record's bytes"));
        }
    }
    let total = records.len() as u64;
    let state_at = |n: u64| -> Result<ProjectState, ClientError> {
        let n = usize::try_from(n).map_err(|_| fail(project, n, "seq out of range"))?;
        verify_chain(project, records[..n].iter().map(|r| r.bytes.as_slice())).map_err(|e| chain_error(project, e))
    };
    let full = state_at(total)?;
    if head.project != *project {
        return Err(fail(project, head.seq, format!("the server's head is of project {}", head.project)));
    }
    if head.seq > total {
        return Err(fail(
            project,
            head.seq,
            format!("the server's head is seq {}, but its chain ends at seq {total}", head.seq),
        ));
    }
    let at_head = if head.seq == total { full.clone() } else { state_at(head.seq)? };
    if at_head.head.hash != head.hash {
        return Err(fail(
            project,
            head.seq,
            format!(
                "the server's head hash {} is not the verified chain's {}",
                short(&head.hash),
                short(&at_head.head.hash)
            ),
        ));
    }
    if balances.head_seq > total {
        return Err(fail(
            project,
            balances.head_seq,
            format!("the server's balances are as of seq {}, but its chain ends at seq {total}", balances.head_seq),
        ));
    }
    // The server's balances are checked at the seq they state; what is verified and returned is the
    // balance at the head verified, whatever seq the server's balances were of.
    let at_balance = match balances.head_seq {
        seq if seq == head.seq => at_head.clone(),
        seq if seq == total => full.clone(),
        seq => state_at(seq)?,
    };
    compare_balances(project, balances.head_seq, &balances.balances, &at_balance.balances())?;
    let local = at_head.balances();
    let checkpoint_proven = match proof {
        Some(p) => {
            p.prove_head(project, head.seq, &head.hash).map_err(|why| fail(project, head.seq, why))?;
            true
        }
        None => false,
    };
    Ok(VerifiedProject {
        project: project.clone(),
        records: total,
        head_seq: head.seq,
        head_hash: head.hash,
        balances: local,
        checkpoint_proven,
        state: full,
    })
}

/// The first 16 hex digits of a hash, for messages.
pub fn short(hash: &Hash) -> String {
    hash[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// Compares the balances the server reported with the verified ones; a currency missing on one
/// side counts as all zero.
fn compare_balances(project: &ProjectId, seq: u64, server: &[Balance], local: &[Balance]) -> Result<(), ClientError> {
    let by = |v: &[Balance]| v.iter().map(|b| (b.currency, b.clone())).collect::<BTreeMap<Currency, Balance>>();
    let (s, l) = (by(server), by(local));
    let currencies: BTreeSet<Currency> = s.keys().chain(l.keys()).copied().collect();
    for c in currencies {
        let zero = Balance {
            currency: c,
            balance: Decimal::ZERO,
            available: Decimal::ZERO,
            restricted: Vec::new(),
            held: Decimal::ZERO,
            pledged: Decimal::ZERO,
            advances_outstanding: Decimal::ZERO,
            fees_to_date: Decimal::ZERO,
        };
        let (sb, lb) = (s.get(&c).unwrap_or(&zero), l.get(&c).unwrap_or(&zero));
        let mut fields: Vec<(String, Decimal, Decimal)> = vec![
            ("balance".into(), sb.balance, lb.balance),
            ("available".into(), sb.available, lb.available),
            ("held".into(), sb.held, lb.held),
            ("pledged".into(), sb.pledged, lb.pledged),
            ("advances outstanding".into(), sb.advances_outstanding, lb.advances_outstanding),
            ("fees to date".into(), sb.fees_to_date, lb.fees_to_date),
        ];
        let purposes: BTreeSet<&String> = sb.restricted.iter().chain(&lb.restricted).map(|r| &r.purpose).collect();
        for p in purposes {
            let find = |v: &[fiscus_ledger::projection::RestrictedBalance]| {
                v.iter().find(|r| &r.purpose == p).map_or((Decimal::ZERO, Decimal::ZERO), |r| (r.balance, r.available))
            };
            let (sr, lr) = (find(&sb.restricted), find(&lb.restricted));
            fields.push((format!("restricted:{p} balance"), sr.0, lr.0));
            fields.push((format!("restricted:{p} available"), sr.1, lr.1));
        }
        for (name, server, verified) in fields {
            if server != verified {
                return Err(fail(
                    project,
                    seq,
                    format!(
                        "{c} {name}: the server reports {}, the verified chain gives {}",
                        format_amount(server, c),
                        format_amount(verified, c)
                    ),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use fiscus_ledger::commit::{Group, MemoryLedger};

    /// The demo year staged in memory, and one project's raw records, head and balances.
    fn demo(project: &str) -> (ProjectId, Vec<RawRecord>, ChainHead, Balances) {
        let mut ledger = MemoryLedger::default();
        let id = ProjectId::parse("p", project).expect("id");
        let mut records: Vec<RawRecord> = Vec::new();
        for req in fiscus_workload::demo_year() {
            let mut group = Group::new(&ledger.projection);
            group.stage(&req, &ledger.lookup).expect("demo commit");
            let commits = ledger.projection.absorb(group.finish());
            ledger.lookup.absorb(&commits);
            for r in commits.iter().flat_map(|c| &c.records).filter(|r| r.event.project == id) {
                records.push(RawRecord { seq: r.seq, bytes: r.bytes.clone(), hash: r.hash });
            }
        }
        let state = ledger.projection.project(project).expect("project");
        let head = ChainHead { project: id.clone(), seq: state.head.seq, hash: state.head.hash };
        let balances =
            Balances { project: id.clone(), head_seq: state.head.seq, commit: 0, balances: state.balances() };
        (id, records, head, balances)
    }

    #[test]
    fn an_honest_chain_verifies() {
        let (id, records, head, balances) = demo("rustconf-2026");
        let v = verify_records(&id, &records, &head, &balances, None).expect("verifies");
        assert_eq!(v.records, records.len() as u64);
        assert_eq!(v.balances, balances.balances);
    }

    #[test]
    fn a_changed_byte_is_caught_at_its_seq() {
        let (id, mut records, head, balances) = demo("rustconf-2026");
        let n = records[3].bytes.len();
        records[3].bytes[n - 3] ^= 1;
        records[3].hash = record_hash(&records[3].bytes);
        let err = verify_records(&id, &records, &head, &balances, None).expect_err("caught");
        match err {
            ClientError::Verification { project, seq, .. } => {
                assert_eq!(project, "rustconf-2026");
                assert!(seq == 4 || seq == 5, "seq {seq}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_wrong_balance_or_head_is_caught() {
        let (id, records, head, mut balances) = demo("rustconf-2026");
        balances.balances[0].balance += Decimal::ONE;
        let err = verify_records(&id, &records, &head, &balances, None).expect_err("caught").to_string();
        assert!(err.contains("rustconf-2026") && err.contains("balance"), "{err}");
        let (id, records, mut head, balances) = demo("rustconf-2026");
        head.hash[0] ^= 1;
        let err = verify_records(&id, &records, &head, &balances, None).expect_err("caught").to_string();
        assert!(err.contains("head hash"), "{err}");
        let (id, mut records, head, balances) = demo("rustconf-2026");
        records.remove(2);
        let err = verify_records(&id, &records, &head, &balances, None).expect_err("caught").to_string();
        assert!(err.contains("seq 3"), "{err}");
    }

    struct Refuse;
    impl HeadProof for Refuse {
        fn prove_head(&self, _: &ProjectId, _: u64, _: &Hash) -> Result<(), String> {
            Err("not in the checkpoint".into())
        }
    }

    #[test]
    fn a_failed_checkpoint_proof_fails_verification() {
        let (id, records, head, balances) = demo("serde-tools");
        let err = verify_records(&id, &records, &head, &balances, Some(&Refuse)).expect_err("refused");
        assert!(err.to_string().contains("not in the checkpoint"));
    }
}
