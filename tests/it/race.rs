//! Reads racing the writer: three clients commit 1–5 contributions at a time into one project with
//! fee 0 while readers call every read RPC and stream, over and over, and check each answer
//! against the contract. Every read answers from one consistent state: seqs contiguous from the
//! asked position, none past the head it reports, a statement with one line per contribution up to
//! its head and a closing balance equal to their sum, an export that verifies, a subscription with
//! every commit in order and no `DATA_LOSS`, a per-project verification that passes; and each
//! state an answer names by commit number (heads, balances, the trial balance, verification) is
//! the one the commit log shows at that commit.
//!
//! Bounded: at most [`COMMITS_PER_WRITER_MAX`] commits per writer and [`WRITE_TIME_MAX`] of writing.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fiscus_ledger::chain::{commit_hash, genesis_hash, record_hash, Hash};
use fiscus_ledger::record::Record;
use fiscus_ledger::ProjectId;
use fiscus_proto::pb;
use rust_decimal::Decimal;

use crate::support::*;

const PROJECT: &str = "race";
const WRITERS: usize = 3;
/// Commits each writer has under way at once.
const IN_FLIGHT: usize = 8;
const COMMITS_PER_WRITER_MAX: usize = 1_000;
const WRITE_TIME_MAX: Duration = Duration::from_secs(4);
/// How long the last subscriber may take to reach the last commit once the writers stop.
const DRAIN_DEADLINE: Duration = Duration::from_secs(30);
/// How long a subscriber waits for a message before it looks whether the writing ended.
const POLL: Duration = Duration::from_millis(100);
/// Every contribution is of this amount, with fee 0: a balance is (head seq − 1) × it.
const AMOUNT: &str = "1.00";

/// A state an answer names by commit number, checked against the commit log when all is done.
#[derive(Debug)]
enum Claim {
    /// GetHead: the commit, its hash, the project's head seq.
    Head { commit: u64, hash: Vec<u8>, seq: u64 },
    /// GetBalance: the commit and the head seq it reports.
    Balance { commit: u64, seq: u64 },
    /// GetTrialBalance: the commit and the bank's balance.
    Trial { commit: u64, bank: Decimal },
    /// Verify of the project: the commit and the records verified.
    Verify { commit: u64, records: u64 },
}

/// What the readers found: answers that break the contract, answers checked per read, and claims.
#[derive(Default)]
struct Findings {
    wrong: Vec<String>,
    checked: BTreeMap<&'static str, u64>,
    claims: Vec<Claim>,
}

type Shared = Arc<Mutex<Findings>>;

fn wrong(findings: &Shared, what: String) {
    findings.lock().expect("not poisoned").wrong.push(what);
}

fn checked(findings: &Shared, read: &'static str) {
    *findings.lock().expect("not poisoned").checked.entry(read).or_default() += 1;
}

fn claim(findings: &Shared, c: Claim) {
    findings.lock().expect("not poisoned").claims.push(c);
}

/// `seqs` as ranges, e.g. "2272..=2304, 2337..=2338".
fn ranges(seqs: &[u64]) -> String {
    let mut out: Vec<(u64, u64)> = Vec::new();
    for &s in seqs {
        match out.last_mut() {
            Some((_, hi)) if *hi + 1 == s => *hi = s,
            _ => out.push((s, s)),
        }
    }
    out.iter().map(|(a, b)| format!("{a}..={b}")).collect::<Vec<_>>().join(", ")
}

fn amount(text: &str) -> Decimal {
    text.parse().unwrap_or(Decimal::MIN)
}

/// The balance of `head` seqs: one opening, then contributions of [`AMOUNT`].
fn balance_at(head: u64) -> Decimal {
    Decimal::from(head.saturating_sub(1)) * amount(AMOUNT)
}

/// One writer: a client with up to [`IN_FLIGHT`] commits under way at once (so that the daemon
/// groups them), each of 1 to 5 contributions.
async fn write(d: &Daemon, w: usize) -> u64 {
    let client = d.ledger(Some(&d.tokens.accountant)).await;
    let started = Instant::now();
    let mut under_way = tokio::task::JoinSet::new();
    let mut events = 0u64;
    for i in 0..COMMITS_PER_WRITER_MAX {
        if started.elapsed() > WRITE_TIME_MAX {
            break;
        }
        if under_way.len() >= IN_FLIGHT {
            events += under_way.join_next().await.expect("one under way").expect("a commit task ends");
        }
        let n = 1 + (i * 3 + w) % 5;
        let batch: Vec<_> = (0..n).map(|k| contribution(&format!("w{w}-{i}-{k}"), PROJECT, AMOUNT, None)).collect();
        let mut client = client.clone();
        under_way.spawn(async move {
            record(&mut client, batch).await.unwrap_or_else(|s| panic!("writer {w} commit {i}: {s:?}"));
            n as u64
        });
    }
    while let Some(done) = under_way.join_next().await {
        events += done.expect("a commit task ends");
    }
    events
}

async fn list_events(d: &Daemon, running: Arc<AtomicBool>, findings: Shared) {
    let mut client = d.ledger(Some(&d.tokens.auditor)).await;
    let mut head = 1u64;
    while running.load(Ordering::Acquire) {
        let after = head.saturating_sub(60);
        let asked = pb::ListEventsRequest { project: PROJECT.into(), after_seq: after, page_size: 100 };
        match client.list_events(asked).await {
            Ok(page) => {
                let page = page.into_inner();
                let seqs: Vec<u64> = page.events.iter().map(|e| e.seq).collect();
                let due: Vec<u64> = (after + 1..=page.head_seq.min(after + 100)).collect();
                if seqs != due || page.next_after_seq != due.last().copied().unwrap_or(after) {
                    wrong(
                        &findings,
                        format!(
                            "ListEvents after_seq {after}: head_seq {} but seqs [{}], next_after_seq {}",
                            page.head_seq,
                            ranges(&seqs),
                            page.next_after_seq
                        ),
                    );
                }
                head = head.max(page.head_seq);
            }
            Err(s) => wrong(&findings, format!("ListEvents after_seq {after}: {s:?}")),
        }
        checked(&findings, "ListEvents");
    }
}

async fn statement(d: &Daemon, running: Arc<AtomicBool>, findings: Shared) {
    let mut client = d.ledger(Some(&d.tokens.auditor)).await;
    while running.load(Ordering::Acquire) {
        let asked = pb::GetStatementRequest {
            project: PROJECT.into(),
            from_date: "2026-01-01".into(),
            to_date: "2026-12-31".into(),
            currency: None,
        };
        match client.get_statement(asked).await {
            Ok(r) => {
                let r = r.into_inner();
                let lines: Vec<u64> = r.statements.iter().flat_map(|s| s.lines.iter().map(|l| l.seq)).collect();
                let closing: Decimal = r.statements.iter().map(|s| amount(&s.closing_balance)).sum();
                // the opening moves no money; every other record is one contribution line
                if lines != (2..=r.head_seq).collect::<Vec<_>>() || closing != balance_at(r.head_seq) {
                    wrong(
                        &findings,
                        format!(
                            "GetStatement: head_seq {} but lines [{}], closing {closing}",
                            r.head_seq,
                            ranges(&lines)
                        ),
                    );
                }
            }
            Err(s) => wrong(&findings, format!("GetStatement: {s:?}")),
        }
        checked(&findings, "GetStatement");
    }
}

async fn balances(d: &Daemon, running: Arc<AtomicBool>, findings: Shared) {
    let mut client = d.ledger(Some(&d.tokens.auditor)).await;
    while running.load(Ordering::Acquire) {
        let asked = pb::GetBalanceRequest { project: PROJECT.into(), currency: Some("USD".into()) };
        match client.get_balance(asked).await {
            Ok(r) => {
                let r = r.into_inner();
                let balance: Decimal = r.balances.iter().map(|b| amount(&b.balance)).sum();
                if balance != balance_at(r.head_seq) {
                    wrong(&findings, format!("GetBalance: head_seq {} but balance {balance}", r.head_seq));
                }
                claim(&findings, Claim::Balance { commit: r.commit, seq: r.head_seq });
            }
            Err(s) => wrong(&findings, format!("GetBalance: {s:?}")),
        }
        checked(&findings, "GetBalance");
        match client.get_trial_balance(pb::GetTrialBalanceRequest {}).await {
            Ok(r) => {
                let r = r.into_inner();
                let sum: Decimal = r.lines.iter().map(|l| amount(&l.amount)).sum();
                let bank = r
                    .lines
                    .iter()
                    .find(|l| l.account == "Assets:Bank:USD")
                    .map_or(Decimal::ZERO, |l| amount(&l.amount));
                if !sum.is_zero() {
                    wrong(&findings, format!("GetTrialBalance at commit {}: the lines sum to {sum}", r.commit));
                }
                claim(&findings, Claim::Trial { commit: r.commit, bank });
            }
            Err(s) => wrong(&findings, format!("GetTrialBalance: {s:?}")),
        }
        checked(&findings, "GetTrialBalance");
    }
}

/// Exports from near the head and, every other time, the whole chain, and verifies what came.
async fn export(d: &Daemon, running: Arc<AtomicBool>, findings: Shared) {
    let mut audit = d.audit(Some(&d.tokens.auditor)).await;
    let id = ProjectId::parse("project", PROJECT).expect("project id");
    let mut head = 1u64;
    let mut round = 0u64;
    while running.load(Ordering::Acquire) {
        round += 1;
        let from = if round.is_multiple_of(2) { 1 } else { head.saturating_sub(80).max(1) };
        match export_from(&mut audit, &id, from).await {
            Ok((head_seq, records)) => {
                head = head.max(head_seq);
                if let Err(e) = check_export(&id, from, head_seq, &records) {
                    wrong(&findings, format!("ExportChain from_seq {from} (head_seq {head_seq}): {e}"));
                }
            }
            Err(s) => wrong(&findings, format!("ExportChain from_seq {from}: {s:?}")),
        }
        checked(&findings, "ExportChain");
    }
}

async fn export_from(audit: &mut Audit, id: &ProjectId, from: u64) -> Result<(u64, Vec<pb::RawRecord>), tonic::Status> {
    let asked = pb::ExportChainRequest { project: id.as_str().into(), from_seq: from };
    let mut stream = audit.export_chain(asked).await?.into_inner();
    let (mut head_seq, mut records) = (None, Vec::new());
    while let Some(m) = stream.message().await? {
        if head_seq.is_some_and(|h| h != m.head_seq) {
            return Err(tonic::Status::internal(format!("head_seq changed from {head_seq:?} to {}", m.head_seq)));
        }
        head_seq = Some(m.head_seq);
        records.extend(m.records);
    }
    Ok((head_seq.unwrap_or(0), records))
}

/// Seqs `from ..= head_seq`, each hash over its bytes, each record linked to the one before; a
/// whole chain also verifies with the verifier clients use.
fn check_export(id: &ProjectId, from: u64, head_seq: u64, records: &[pb::RawRecord]) -> Result<(), String> {
    let seqs: Vec<u64> = records.iter().map(|r| r.seq).collect();
    if seqs != (from..=head_seq).collect::<Vec<_>>() {
        return Err(format!("seqs [{}]", ranges(&seqs)));
    }
    let mut prev: Option<Hash> = (from == 1).then(|| genesis_hash(id));
    for r in records {
        let hash = record_hash(&r.bytes);
        if r.hash != hash.to_vec() {
            return Err(format!("seq {}: the hash is not over the bytes", r.seq));
        }
        let record = Record::decode(&r.bytes).map_err(|e| format!("seq {}: {e}", r.seq))?;
        if record.seq != r.seq || prev.is_some_and(|p| p != record.prev) {
            return Err(format!("seq {}: not linked to the record before", r.seq));
        }
        prev = Some(hash);
    }
    if from == 1 {
        let state = fiscus_ledger::verify::verify_chain(id, records.iter().map(|r| r.bytes.as_slice()))
            .map_err(|e| format!("the client's verifier: {e}"))?;
        if state.head.seq != head_seq
            || state.balances().iter().map(|b| b.balance).sum::<Decimal>() != balance_at(head_seq)
        {
            return Err(format!("verified to head {} with balances {:?}", state.head.seq, state.balances()));
        }
    }
    Ok(())
}

async fn head_and_verify(d: &Daemon, running: Arc<AtomicBool>, findings: Shared) {
    let mut audit = d.audit(Some(&d.tokens.auditor)).await;
    while running.load(Ordering::Acquire) {
        match audit.get_head(pb::GetHeadRequest { project: PROJECT.into() }).await {
            Ok(r) => {
                let r = r.into_inner();
                let seq = r.projects.iter().find(|p| p.project == PROJECT).map_or(0, |p| p.seq);
                claim(&findings, Claim::Head { commit: r.commit, hash: r.commit_hash, seq });
            }
            Err(s) => wrong(&findings, format!("GetHead: {s:?}")),
        }
        checked(&findings, "GetHead");
        match audit.verify(pb::VerifyRequest { project: PROJECT.into() }).await {
            Ok(r) => {
                let r = r.into_inner();
                if !r.ok || !r.damage.is_empty() {
                    wrong(
                        &findings,
                        format!("Verify {PROJECT} at commit {}: ok={} damage {:?}", r.commit, r.ok, r.damage),
                    );
                }
                claim(&findings, Claim::Verify { commit: r.commit, records: r.records });
            }
            Err(s) => wrong(&findings, format!("Verify {PROJECT}: {s:?}")),
        }
        checked(&findings, "Verify");
    }
}

/// What the commit log says, per commit: its hash and the project's head seq after it.
type Log = BTreeMap<u64, (Vec<u8>, u64)>;

/// Subscribes after commit 1 and reads every commit up to `until` (or, with `None`, while the
/// writers run and then up to the last commit), checking order, links and hashes.
async fn subscribe(d: &Daemon, until: Option<u64>, running: Arc<AtomicBool>) -> Result<Log, String> {
    let mut client = d.ledger(Some(&d.tokens.auditor)).await;
    let mut audit = d.audit(Some(&d.tokens.auditor)).await;
    let asked = pb::SubscribeRequest { after_commit: 1, project: String::new() };
    let mut stream = client.subscribe(asked).await.map_err(|s| format!("{s:?}"))?.into_inner();
    let mut log = Log::new();
    let (mut last, mut prev, mut head) = (1u64, None::<Vec<u8>>, 1u64);
    let mut target = until;
    let mut waiting = Instant::now();
    loop {
        if target.is_none() && !running.load(Ordering::Acquire) {
            let h = audit.get_head(pb::GetHeadRequest { project: String::new() }).await;
            target = Some(h.map_err(|s| format!("GetHead: {s:?}"))?.into_inner().commit);
        }
        if target.is_some_and(|t| last >= t) {
            return Ok(log);
        }
        // a short wait, so that the end of the writing is seen while no commit comes
        let m = match tokio::time::timeout(POLL, stream.message()).await {
            Err(_) if waiting.elapsed() < DRAIN_DEADLINE => continue,
            Err(_) => return Err(format!("no commit after {last} in {DRAIN_DEADLINE:?}")),
            Ok(Err(s)) => return Err(format!("after commit {last}: {s:?}")),
            Ok(Ok(None)) => return Err(format!("the stream ended after commit {last}")),
            Ok(Ok(Some(m))) => m,
        };
        waiting = Instant::now();
        if m.commit != last + 1 {
            return Err(format!("commit {} after commit {last}", m.commit));
        }
        if last == 1 {
            log.insert(1, (m.prev_commit_hash.clone(), 1)); // the opening
        }
        if prev.as_ref().is_some_and(|p| *p != m.prev_commit_hash) {
            return Err(format!("commit {}: prev_commit_hash is not commit {last}'s hash", m.commit));
        }
        let prev_hash: Hash = m.prev_commit_hash.as_slice().try_into().map_err(|_| "a 32-byte hash".to_owned())?;
        let hashes: Vec<Hash> = m.events.iter().filter_map(|e| e.hash.as_slice().try_into().ok()).collect();
        if commit_hash(&prev_hash, m.commit, &hashes).to_vec() != m.commit_hash {
            return Err(format!("commit {}: its events do not hash to its commit hash", m.commit));
        }
        for e in &m.events {
            if e.seq != head + 1 {
                return Err(format!("commit {}: seq {} after seq {head}", m.commit, e.seq));
            }
            head = e.seq;
        }
        log.insert(m.commit, (m.commit_hash.clone(), head));
        last = m.commit;
        prev = Some(m.commit_hash);
    }
}

/// Subscribers that catch up from commit 1 to the head of the moment, again and again.
async fn catch_up(d: &Daemon, running: Arc<AtomicBool>, findings: Shared) {
    let mut audit = d.audit(Some(&d.tokens.auditor)).await;
    while running.load(Ordering::Acquire) {
        let until = match audit.get_head(pb::GetHeadRequest { project: String::new() }).await {
            Ok(h) => h.into_inner().commit,
            Err(s) => {
                wrong(&findings, format!("GetHead: {s:?}"));
                continue;
            }
        };
        if let Err(e) = subscribe(d, Some(until), running.clone()).await {
            wrong(&findings, format!("Subscribe after_commit 1 (catching up to {until}): {e}"));
        }
        checked(&findings, "Subscribe (catch-up)");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_read_answers_from_one_consistent_state_while_commits_land() {
    let d = Arc::new(Daemon::start().await);
    let mut admin = d.ledger(Some(&d.tokens.admin)).await;
    open(&mut admin, PROJECT, 0).await;
    let running = Arc::new(AtomicBool::new(true));
    let findings: Shared = Arc::default();

    let live = {
        let (d, running) = (d.clone(), running.clone());
        tokio::spawn(async move { subscribe(&d, None, running).await })
    };
    let mut readers = Vec::new();
    macro_rules! reader {
        ($f:ident) => {{
            let (d, running, findings) = (d.clone(), running.clone(), findings.clone());
            readers.push(tokio::spawn(async move { $f(&d, running, findings).await }));
        }};
    }
    reader!(list_events);
    reader!(list_events);
    reader!(statement);
    reader!(statement);
    reader!(statement);
    reader!(balances);
    reader!(export);
    reader!(export);
    reader!(head_and_verify);
    reader!(catch_up);
    reader!(catch_up);
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let d = d.clone();
            tokio::spawn(async move { write(&d, w).await })
        })
        .collect();
    let mut written = 0;
    for w in writers {
        written += w.await.expect("a writer ends without panicking");
    }
    running.store(false, Ordering::Release);
    for r in readers {
        r.await.expect("a reader ends without panicking");
    }
    let log = match live.await.expect("the subscriber ends without panicking") {
        Ok(log) => log,
        Err(e) => {
            wrong(&findings, format!("Subscribe after_commit 1 (live): {e}"));
            Log::new()
        }
    };

    let mut findings = Arc::try_unwrap(findings).ok().expect("every reader ended").into_inner().expect("not poisoned");
    let seen = log.last_key_value().map_or(0, |(_, (_, head))| *head);
    if seen != written + 1 {
        findings.wrong.push(format!("the live subscriber saw seqs up to {seen} of {}", written + 1));
    }
    for c in &findings.claims {
        let at = |commit: &u64| log.get(commit).map(|(hash, head)| (hash.clone(), *head));
        let fine = match c {
            Claim::Head { commit, hash, seq } => at(commit) == Some((hash.clone(), *seq)),
            Claim::Balance { commit, seq } => at(commit).is_some_and(|(_, h)| h == *seq),
            Claim::Trial { commit, bank } => at(commit).is_some_and(|(_, h)| balance_at(h) == *bank),
            Claim::Verify { commit, records } => at(commit).is_some_and(|(_, h)| h == *records),
        };
        if !fine {
            let logged = match c {
                Claim::Head { commit, .. }
                | Claim::Balance { commit, .. }
                | Claim::Trial { commit, .. }
                | Claim::Verify { commit, .. } => log.get(commit).map(|(_, h)| *h),
            };
            findings.wrong.push(format!("{c:?}: the commit log has head seq {logged:?} at that commit"));
        }
    }
    let reads: u64 = findings.checked.values().sum();
    eprintln!("{written} events written; {reads} answers checked: {:?}", findings.checked);
    for read in ["ListEvents", "GetStatement", "GetBalance", "GetTrialBalance", "ExportChain", "GetHead", "Verify"] {
        assert!(findings.checked.get(read).is_some_and(|n| *n > 0), "no {read} answer was checked");
    }
    assert!(written > 4 * 32, "too few chunks sealed while reading: {written} events");
    assert!(
        findings.wrong.is_empty(),
        "{} answers broke the contract; the first ones:\n{}",
        findings.wrong.len(),
        findings.wrong.iter().take(8).cloned().collect::<Vec<_>>().join("\n")
    );
}
