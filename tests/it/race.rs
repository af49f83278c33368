//! Reads racing the writer: three clients commit 1–5 contributions at a time into one project with
//! fee 0 while readers call every read RPC and stream, over and over, and check each answer
//! against the contract. Every read answers from one consistent state: seqs contiguous from the
//! asked position, none past the head it reports, a statement with one line per contribution up to
//! its head and a closing balance equal to their sum, an export that verifies, a subscription with
//! every commit in order and no `DATA_LOSS`, a per-project verification that passes; and each
//! state an answer names by commit number (heads, balances, the trial balance, verification) is
//! the one the commit log shows at that commit.
//!
//!
//! The readers most likely to meet a chunk being sealed are the ones reading many records at once
//! (statements, the per-project verification, whole exports) and the live subscribers, which read
//! each commit's records while the writer applies the next batch; there are several of each. Before
//! reads were bounded by their snapshot's head, every run here found wrong answers.
//!
//! Bounded: at most [`COMMITS_PER_WRITER_MAX`] commits per writer and [`WRITE_TIME_MAX`] of
//! writing; readers stop with the writers, or after [`READ_TIME_MAX`] whatever happens.

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

/// The one project written and read.
const PROJECT: &str = "race";
/// Clients committing.
const WRITERS: usize = 3;
/// Commits each writer has under way at once.
const IN_FLIGHT: usize = 8;
/// Commits per writer at most.
const COMMITS_PER_WRITER_MAX: usize = 1_000;
/// Writing time at most.
const WRITE_TIME_MAX: Duration = Duration::from_secs(6);
/// Readers stop when the writers do, or at the latest after this.
const READ_TIME_MAX: Duration = Duration::from_secs(20);
/// Readers of the last events.
const LIST_EVENTS_READERS: usize = 2;
/// Subscribers from commit 1 that stay to the end.
const LIVE_SUBSCRIBERS: usize = 3;
/// Readers of the statement.
const STATEMENT_READERS: usize = 4;
/// How long the last subscriber may take to reach the last commit once the writers stop.
const DRAIN_DEADLINE: Duration = Duration::from_secs(30);
/// How long a subscriber waits for a message before it looks whether the writing ended.
const POLL: Duration = Duration::from_millis(100);
/// Bytes of each event's memo.
const MEMO_BYTES: usize = 900;
/// Every contribution is of this amount, with fee 0: a balance is (head seq − 1) × it.
const AMOUNT: &str = "1.00";

/// Whether the writers are still writing; never past a deadline, whatever happens to them.
#[derive(Clone)]
struct Running {
    on: Arc<AtomicBool>,
    until: Instant,
}

impl Running {
    fn on(&self) -> bool {
        self.on.load(Ordering::Acquire) && Instant::now() < self.until
    }

    fn stop(&self) {
        self.on.store(false, Ordering::Release);
    }
}

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
    wrong_count: u64,
    checked: BTreeMap<&'static str, u64>,
    claims: Vec<Claim>,
}

type Shared = Arc<Mutex<Findings>>;

/// Wrong answers kept for the report (all are counted).
const WRONG_KEPT_MAX: usize = 100;

fn wrong(findings: &Shared, what: String) {
    let mut f = findings.lock().expect("not poisoned");
    f.wrong_count += 1;
    if f.wrong.len() < WRONG_KEPT_MAX {
        f.wrong.push(what);
    }
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
/// One writer: a client with up to [`IN_FLIGHT`] commits under way at once (so that the daemon
/// groups them), each of 1 to 5 contributions. A refused commit stops the whole run.
async fn write(d: &Daemon, w: usize, running: Running, findings: Shared) -> u64 {
    let client = d.ledger(Some(&d.tokens.accountant)).await;
    let started = Instant::now();
    let mut under_way = tokio::task::JoinSet::new();
    let mut events = 0u64;
    for i in 0..COMMITS_PER_WRITER_MAX {
        if started.elapsed() > WRITE_TIME_MAX || !running.on() {
            break;
        }
        if under_way.len() >= IN_FLIGHT {
            events += under_way.join_next().await.map_or(0, |done| done.unwrap_or(0));
        }
        let n = 1 + (i * 3 + w) % 5;
        let batch: Vec<_> = (0..n)
            .map(|k| {
                let mut e = contribution(&format!("w{w}-{i}-{k}"), PROJECT, AMOUNT, None);
                e.memo = memo(w, i, k);
                e
            })
            .collect();
        let (mut client, running, findings) = (client.clone(), running.clone(), findings.clone());
        under_way.spawn(async move {
            match record(&mut client, batch).await {
                Ok(_) => n as u64,
                Err(s) => {
                    wrong(&findings, format!("writer {w} commit {i}: {s:?}"));
                    running.stop();
                    0
                }
            }
        });
    }
    while let Some(done) = under_way.join_next().await {
        events += done.unwrap_or(0);
    }
    events
}

/// A long memo, different in every event: records of about a kilobyte, so that reading a chunk
/// takes a while (as it does in a store with real memos).
fn memo(w: usize, i: usize, k: usize) -> String {
    let words = ["grant", "venue", "travel", "catering", "sponsorship", "donation", "print", "audio"];
    let mut memo = format!("writer {w} commit {i} event {k}:");
    let mut n = w * 7919 + i * 104_729 + k * 1_299_709;
    while memo.len() < MEMO_BYTES {
        n = n.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        memo.push(' ');
        memo.push_str(words[(n >> 33) % words.len()]);
    }
    memo
}

async fn list_events(d: &Daemon, running: Running, findings: Shared) {
    let mut client = d.ledger(Some(&d.tokens.auditor)).await;
    let mut head = 1u64;
    while running.on() {
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
        tokio::task::yield_now().await;
    }
}

/// Most pages of one statement the test reads (a page holds about 3 MiB of lines).
const STATEMENT_PAGES_MAX: usize = 64;

/// Statements of the whole year and, every other time, of the days after the contributions' date
/// (no lines: an opening and a closing balance that include every record up to the head).
async fn statement(d: &Daemon, running: Running, findings: Shared) {
    let mut client = d.ledger(Some(&d.tokens.auditor)).await;
    let mut round = 0u64;
    while running.on() {
        round += 1;
        let whole = round.is_multiple_of(2);
        let from_date = if whole { "2026-01-01" } else { "2026-03-02" };
        let asked = pb::GetStatementRequest {
            page_token: String::new(),
            project: PROJECT.into(),
            from_date: from_date.into(),
            to_date: "2026-12-31".into(),
            currency: None,
        };
        match client.get_statement(asked.clone()).await {
            Ok(r) => {
                let r = r.into_inner();
                let mut lines: Vec<u64> = r.statements.iter().flat_map(|s| s.lines.iter().map(|l| l.seq)).collect();
                // A statement past one message's budget comes in pages, all of the first page's head.
                let mut token = r.next_page_token.clone();
                let mut pages = 1;
                while !token.is_empty() && pages < STATEMENT_PAGES_MAX {
                    pages += 1;
                    let next = pb::GetStatementRequest { page_token: token, ..asked.clone() };
                    match client.get_statement(next).await {
                        Ok(p) => {
                            let p = p.into_inner();
                            if p.head_seq != r.head_seq {
                                wrong(
                                    &findings,
                                    format!("a statement page of head {} after {}", p.head_seq, r.head_seq),
                                );
                            }
                            lines.extend(p.statements.iter().flat_map(|s| s.lines.iter().map(|l| l.seq)));
                            token = p.next_page_token;
                        }
                        Err(status) => {
                            wrong(&findings, format!("GetStatement page {pages}: {status}"));
                            break;
                        }
                    }
                }
                let opening: Decimal = r.statements.iter().map(|s| amount(&s.opening_balance)).sum();
                let closing: Decimal = r.statements.iter().map(|s| amount(&s.closing_balance)).sum();
                // the opening moves no money; every other record is one contribution line
                let (due_lines, due_opening) = if whole {
                    ((2..=r.head_seq).collect(), Decimal::ZERO)
                } else {
                    (Vec::new(), balance_at(r.head_seq))
                };
                if lines != due_lines || opening != due_opening || closing != balance_at(r.head_seq) {
                    wrong(
                        &findings,
                        format!(
                            "GetStatement from {from_date}: head_seq {} but lines [{}], opening {opening}, closing {closing}",
                            r.head_seq,
                            ranges(&lines)
                        ),
                    );
                }
            }
            Err(s) => wrong(&findings, format!("GetStatement: {s:?}")),
        }
        checked(&findings, "GetStatement");
        tokio::task::yield_now().await;
    }
}

async fn balances(d: &Daemon, running: Running, findings: Shared) {
    let mut client = d.ledger(Some(&d.tokens.auditor)).await;
    while running.on() {
        let asked = pb::GetBalanceRequest { project: PROJECT.into(), currency: Some("USD".into()), as_of: None };
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
        tokio::task::yield_now().await;
        match client.get_trial_balance(pb::GetTrialBalanceRequest::default()).await {
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
        tokio::task::yield_now().await;
    }
}

/// Exports from near the head and, every other time, the whole chain, and verifies what came.
async fn export(d: &Daemon, running: Running, findings: Shared) {
    let mut audit = d.audit(Some(&d.tokens.auditor)).await;
    let id = ProjectId::parse("project", PROJECT).expect("project id");
    let mut head = 1u64;
    let mut round = 0u64;
    while running.on() {
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
        tokio::task::yield_now().await;
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

async fn head_and_verify(d: &Daemon, running: Running, findings: Shared) {
    let mut audit = d.audit(Some(&d.tokens.auditor)).await;
    while running.on() {
        match audit.get_head(pb::GetHeadRequest { project: PROJECT.into() }).await {
            Ok(r) => {
                let r = r.into_inner();
                let seq = r.projects.iter().find(|p| p.project == PROJECT).map_or(0, |p| p.seq);
                claim(&findings, Claim::Head { commit: r.commit, hash: r.commit_hash, seq });
            }
            Err(s) => wrong(&findings, format!("GetHead: {s:?}")),
        }
        checked(&findings, "GetHead");
        tokio::task::yield_now().await;
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
        tokio::task::yield_now().await;
    }
}

/// What the commit log says, per commit: its hash and the project's head seq after it.
type Log = BTreeMap<u64, (Vec<u8>, u64)>;

/// Subscribes after commit 1 and reads every commit up to `until` (or, with `None`, while the
/// writers run and then up to the last commit), checking order, links and hashes. A stream that
/// ends in an error is a wrong answer (`what` names the subscriber), and the subscriber resumes
/// after the last commit it received, as a client would; an answer out of order ends it.
async fn subscribe(d: &Daemon, what: &str, until: Option<u64>, running: Running, findings: Shared) -> Log {
    let mut client = d.ledger(Some(&d.tokens.auditor)).await;
    let mut audit = d.audit(Some(&d.tokens.auditor)).await;
    let mut log = Log::new();
    let (mut last, mut prev, mut head) = (1u64, None::<Vec<u8>>, 1u64);
    let mut target = until;
    let mut waiting = Instant::now();
    let mut stream = None;
    let fail = |e: String| wrong(&findings, format!("Subscribe after_commit 1 ({what}): {e}"));
    loop {
        if target.is_none() && !running.on() {
            match audit.get_head(pb::GetHeadRequest { project: String::new() }).await {
                Ok(h) => target = Some(h.into_inner().commit),
                Err(s) => {
                    fail(format!("GetHead: {s:?}"));
                    return log;
                }
            }
        }
        if target.is_some_and(|t| last >= t) {
            return log;
        }
        if waiting.elapsed() > DRAIN_DEADLINE {
            fail(format!("no commit after {last} in {DRAIN_DEADLINE:?}"));
            return log;
        }
        let Some(messages) = stream.as_mut() else {
            let asked = pb::SubscribeRequest { after_commit: last, project: String::new() };
            match client.subscribe(asked).await {
                Ok(s) => stream = Some(s.into_inner()),
                Err(s) => {
                    fail(format!("resuming after commit {last}: {s:?}"));
                    tokio::time::sleep(POLL).await;
                }
            }
            continue;
        };
        // a short wait, so that the end of the writing is seen while no commit comes
        let m = match tokio::time::timeout(POLL, messages.message()).await {
            Err(_) => continue,
            Ok(Ok(Some(m))) => m,
            Ok(Err(s)) => {
                fail(format!("after commit {last}: {s:?}"));
                stream = None;
                continue;
            }
            Ok(Ok(None)) => {
                fail(format!("the stream ended after commit {last}"));
                stream = None;
                continue;
            }
        };
        waiting = Instant::now();
        if let Err(e) = check_commit(&m, last, prev.as_deref(), &mut head) {
            fail(e);
            return log;
        }
        if last == 1 {
            log.insert(1, (m.prev_commit_hash.clone(), 1)); // the opening
        }
        log.insert(m.commit, (m.commit_hash.clone(), head));
        last = m.commit;
        prev = Some(m.commit_hash);
    }
}

/// The commit after `last` (whose hash is `prev`, when known), linked to it, hashing to its commit
/// hash, with the seqs after `head` (moved on to its last).
fn check_commit(m: &pb::SubscribeResponse, last: u64, prev: Option<&[u8]>, head: &mut u64) -> Result<(), String> {
    if m.commit != last + 1 {
        return Err(format!("commit {} after commit {last}", m.commit));
    }
    if prev.is_some_and(|p| p != m.prev_commit_hash) {
        return Err(format!("commit {}: prev_commit_hash is not commit {last}'s hash", m.commit));
    }
    let prev_hash: Hash = m.prev_commit_hash.as_slice().try_into().map_err(|_| "a 32-byte hash".to_owned())?;
    let hashes: Vec<Hash> = m.events.iter().filter_map(|e| e.hash.as_slice().try_into().ok()).collect();
    if commit_hash(&prev_hash, m.commit, &hashes).to_vec() != m.commit_hash {
        return Err(format!("commit {}: its events do not hash to its commit hash", m.commit));
    }
    for e in &m.events {
        if e.seq != *head + 1 {
            return Err(format!("commit {}: seq {} after seq {head}", m.commit, e.seq));
        }
        *head = e.seq;
    }
    Ok(())
}

/// Subscribers that catch up from commit 1 to the head of the moment, again and again.
async fn catch_up(d: &Daemon, running: Running, findings: Shared) {
    let mut audit = d.audit(Some(&d.tokens.auditor)).await;
    while running.on() {
        let until = match audit.get_head(pb::GetHeadRequest { project: String::new() }).await {
            Ok(h) => h.into_inner().commit,
            Err(s) => {
                wrong(&findings, format!("GetHead: {s:?}"));
                tokio::task::yield_now().await;
                continue;
            }
        };
        subscribe(d, &format!("catching up to {until}"), Some(until), running.clone(), findings.clone()).await;
        checked(&findings, "Subscribe (catch-up)");
        tokio::task::yield_now().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_read_answers_from_one_consistent_state_while_commits_land() {
    let d = Arc::new(Daemon::start().await);
    let mut admin = d.ledger(Some(&d.tokens.admin)).await;
    open(&mut admin, PROJECT, 0).await;
    let running = Running { on: Arc::new(AtomicBool::new(true)), until: Instant::now() + READ_TIME_MAX };
    let findings: Shared = Arc::default();

    // live subscribers read each commit's records as soon as it is published, while the writer
    // applies the next batch (which may seal their chunk)
    let live: Vec<_> = (0..LIVE_SUBSCRIBERS)
        .map(|_| {
            let (d, running, findings) = (d.clone(), running.clone(), findings.clone());
            tokio::spawn(async move { subscribe(&d, "live", None, running, findings).await })
        })
        .collect();
    let mut readers = Vec::new();
    macro_rules! reader {
        ($f:ident) => {{
            let (d, running, findings) = (d.clone(), running.clone(), findings.clone());
            readers.push(tokio::spawn(async move { $f(&d, running, findings).await }));
        }};
    }
    for _ in 0..LIST_EVENTS_READERS {
        reader!(list_events);
    }
    // whole-chain reads: the reads most likely to meet a chunk being sealed
    for _ in 0..STATEMENT_READERS {
        reader!(statement);
    }
    reader!(balances);
    reader!(export);
    reader!(export);
    reader!(head_and_verify);
    reader!(catch_up);
    reader!(catch_up);
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (d, running, findings) = (d.clone(), running.clone(), findings.clone());
            tokio::spawn(async move { write(&d, w, running, findings).await })
        })
        .collect();
    let mut written = 0;
    for w in writers {
        written += w.await.expect("a writer ends without panicking");
    }
    running.stop();
    for r in readers {
        r.await.expect("a reader ends without panicking");
    }
    let mut log = Log::new();
    for subscriber in live {
        let seen = subscriber.await.expect("a subscriber ends without panicking");
        if log.is_empty() {
            log = seen;
        } else if seen != log {
            wrong(&findings, "two live subscribers saw different commit logs".to_owned());
        }
    }

    let mut findings = Arc::try_unwrap(findings).ok().expect("every reader ended").into_inner().expect("not poisoned");
    let seen = log.last_key_value().map_or(0, |(_, (_, head))| *head);
    if seen != written + 1 {
        findings.wrong_count += 1;
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
            findings.wrong_count += 1;
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
        findings.wrong_count == 0,
        "{} answers broke the contract; the first ones:\n{}",
        findings.wrong_count,
        findings.wrong.iter().take(8).cloned().collect::<Vec<_>>().join("\n")
    );
}
