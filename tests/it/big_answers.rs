//! Everything the daemon accepts, its clients can read back (issue 14, section 6): a commit of
//! 1,000 events with 1,000-character memos in 4-byte characters and long payer and reference texts
//! is read back through ListEvents pages, Subscribe parts and statement pages that each stay under
//! the contract's 4 MiB (`fiscus_proto::MESSAGE_BYTES_MAX`), by a stock tonic client (its default
//! receive limit is those 4 MiB) and by the `fiscus` command line (`events`, `import csv`, `tail`,
//! `statement`).

use std::process::Command;

use fiscus_proto::pb;
use prost::Message;
use serde_json::Value;

use crate::support::*;

const P: &str = "big-conf";
const EVENTS: usize = 1_000;

/// A 4-byte character (U+1D11E, musical symbol G clef).
const WIDE: char = '\u{1D11E}';

fn wide(chars: usize) -> String {
    std::iter::repeat_n(WIDE, chars).collect()
}

fn fat_contribution(i: usize) -> pb::Event {
    let mut e = contribution(&format!("fat-{i:04}"), P, "1.00", None);
    e.memo = wide(1_000);
    e.reference = Some(wide(128));
    if let Some(pb::event::Kind::ContributionReceived(c)) = &mut e.kind {
        c.from = wide(200);
    }
    e
}

fn fiscus(d: &Daemon, token: &str, args: &[&str]) -> String {
    let out = Command::new(crate::cli::fiscus_bin())
        .env_remove("FISCUS_STORE")
        .env("FISCUS_SERVER", format!("http://{}", d.addr))
        .env("FISCUS_TOKEN", token)
        .args(args)
        .output()
        .expect("fiscus runs");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "fiscus {args:?} failed: {stderr}");
    stdout.into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_of_fat_events_reads_back_through_every_answer() {
    // A commit of this size is over the default request limit; the operator raised it, and the
    // answers must still fit every client.
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("fiscusd.toml");
    std::fs::write(&config, "[limits]\nrequest_bytes_max = 16777216\n").expect("config");
    let d = Daemon::start_with(&["--config", config.to_str().expect("utf-8 path")]).await;
    let mut admin = d.ledger(Some(&d.tokens.admin)).await;
    open(&mut admin, P, 0).await; // commit 1
    let mut acc = d.ledger(Some(&d.tokens.accountant)).await;
    let events: Vec<pb::Event> = (0..EVENTS).map(fat_contribution).collect();
    let request =
        pb::RecordCommitRequest { events, expected_seq: Default::default(), allow_same_receipt: false, dry_run: false };
    assert!(request.encoded_len() > fiscus_proto::MESSAGE_BYTES_MAX, "the commit itself is over 4 MiB");
    acc.record_commit(request).await.expect("commit 2 is accepted"); // commit 2

    // ListEvents, page size 1000, through a stock client (4 MiB receive limit): pages end early
    // and continue from next_after_seq to the head.
    let mut seqs = Vec::new();
    let mut after = 0;
    let mut pages = 0;
    loop {
        let page = acc
            .list_events(pb::ListEventsRequest { project: P.into(), after_seq: after, page_size: 1_000 })
            .await
            .expect("a page fits a stock client")
            .into_inner();
        assert!(page.encoded_len() <= fiscus_proto::MESSAGE_BYTES_MAX);
        pages += 1;
        assert!(!page.events.is_empty());
        seqs.extend(page.events.iter().map(|e| e.seq));
        after = page.next_after_seq;
        assert_eq!(after, seqs[seqs.len() - 1]);
        if after >= page.head_seq {
            break;
        }
        assert!(pages < 10, "pages move on");
    }
    assert!(pages >= 2, "the 1,001 events take more than one page");
    assert_eq!(seqs, (1..=1 + EVENTS as u64).collect::<Vec<_>>());

    // Subscribe: the big commit comes in parts under 4 MiB, which put together are the commit.
    let mut stream = acc
        .subscribe(pb::SubscribeRequest { after_commit: 1, project: String::new() })
        .await
        .expect("subscribe")
        .into_inner();
    let mut parts = Vec::new();
    loop {
        let m = stream.message().await.expect("a part fits a stock client").expect("the stream goes on");
        assert!(m.encoded_len() <= fiscus_proto::MESSAGE_BYTES_MAX);
        assert_eq!(m.commit, 2);
        let continues = m.continues;
        parts.push(m);
        if !continues {
            break;
        }
    }
    assert!(parts.len() >= 2, "the commit's notice comes in parts");
    let hashes: Vec<Vec<u8>> = parts.iter().flat_map(|p| p.events.iter().map(|e| e.hash.clone())).collect();
    assert_eq!(hashes.len(), EVENTS);
    let mut h = blake3::Hasher::new();
    h.update(&parts[0].prev_commit_hash);
    h.update(&2u64.to_be_bytes());
    for x in &hashes {
        h.update(x);
    }
    assert_eq!(h.finalize().as_bytes().to_vec(), parts[0].commit_hash, "the parts recompute the commit hash");
    drop(stream);

    // GetStatement: pages of lines, each under 4 MiB.
    let mut token = String::new();
    let mut lines = 0;
    for _ in 0..10 {
        let page = acc
            .get_statement(pb::GetStatementRequest {
                project: P.into(),
                from_date: "2026-01-01".into(),
                to_date: "2026-12-31".into(),
                currency: None,
                page_token: token.clone(),
            })
            .await
            .expect("a statement page fits a stock client")
            .into_inner();
        assert!(page.encoded_len() <= fiscus_proto::MESSAGE_BYTES_MAX);
        lines += page.statements.iter().map(|s| s.lines.len()).sum::<usize>();
        token = page.next_page_token;
        if token.is_empty() {
            break;
        }
    }
    assert!(token.is_empty() && lines == EVENTS, "{lines} lines");

    // The command line, whose client keeps the contract's 4 MiB limit.
    record(&mut acc, vec![contribution("after-big", P, "2.00", None)]).await.expect("commit 3");
    let token = d.tokens.accountant.clone();
    let d2 = &d;
    let events: Value =
        serde_json::from_str(&fiscus(d2, &token, &["--json", "events", P, "--limit", "1000"])).expect("events json");
    assert_eq!(events["events"].as_array().map(Vec::len), Some(1_000), "fiscus events --limit 1000");
    let tail = fiscus(d2, &token, &["--json", "tail", "--after", "1", "--limit", "2"]);
    assert_eq!(tail.lines().count(), EVENTS + 1, "fiscus tail past the big commit");
    let statement: Value = serde_json::from_str(&fiscus(
        d2,
        &token,
        &["--json", "statement", P, "--from", "2026-01-01", "--to", "2026-12-31"],
    ))
    .expect("statement json");
    let lines = statement.to_string().matches("\"running_balance\"").count();
    assert_eq!(lines, EVENTS + 1, "fiscus statement reads every page");
    let csv = dir.path().join("late.csv");
    std::fs::write(&csv, format!("date,project,kind,amount,currency,counterparty,memo,reference\n2026-04-01,{P},donation,5.00,USD,Ann,late gift,\n"))
        .expect("csv");
    fiscus(d2, &token, &["import", "csv", csv.to_str().expect("utf-8 path")]);
    let page = acc
        .list_events(pb::ListEventsRequest { project: P.into(), after_seq: 1 + EVENTS as u64 + 1, page_size: 10 })
        .await
        .expect("page")
        .into_inner();
    assert_eq!(page.events.len(), 1, "the import recorded its row");
}

/// An expense request with the longest payee and receipt name, in 4-byte characters: about 1.7 KB
/// as a `PendingExpense`.
fn fat_request(i: usize) -> pb::Event {
    let mut details = expense("1.00");
    details.payee = wide(200);
    if let Some(r) = details.receipt.as_mut() {
        r.file_name = wide(200);
        r.hash = blake3::hash(format!("fat invoice {i}").as_bytes()).as_bytes().to_vec();
    }
    event(
        &format!("req-{i:04}"),
        P,
        "2026-03-02",
        pb::event::Kind::ExpenseRequested(pb::ExpenseRequested { details: Some(details) }),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_expenses_past_the_byte_budget_come_in_pages() {
    const REQUESTS: usize = 2_000;
    let d = Daemon::start().await;
    let mut admin = d.ledger(Some(&d.tokens.admin)).await;
    open(&mut admin, P, 0).await;
    let mut acc = d.ledger(Some(&d.tokens.accountant)).await;
    for part in 0..REQUESTS / 1_000 {
        let events: Vec<pb::Event> = (part * 1_000..(part + 1) * 1_000).map(fat_request).collect();
        let request = pb::RecordCommitRequest {
            events,
            expected_seq: Default::default(),
            allow_same_receipt: false,
            dry_run: false,
        };
        acc.record_commit(request).await.expect("a commit of 1,000 requests");
    }
    // A stock client (4 MiB receive limit) pages with `after` = `next_after`.
    let mut seqs = Vec::new();
    let (mut after, mut pages, mut commit) = (None, 0, None);
    loop {
        let page = acc
            .list_pending_expenses(pb::ListPendingExpensesRequest { project: P.into(), after: after.clone() })
            .await
            .expect("a page fits a stock client")
            .into_inner();
        assert!(page.encoded_len() <= fiscus_proto::MESSAGE_BYTES_MAX);
        let items: usize = page.expenses.iter().map(|e| e.encoded_len() + 4).sum();
        assert!(items <= fiscus_proto::ITEMS_BYTES_MAX + 4 * page.expenses.len());
        assert!(commit.is_none_or(|c| c == page.commit), "no commit in between");
        commit = Some(page.commit);
        pages += 1;
        assert!(!page.expenses.is_empty());
        seqs.extend(page.expenses.iter().filter_map(|e| e.position.as_ref().map(|p| p.seq)));
        match page.next_after {
            None => break,
            Some(next) => {
                assert_eq!(Some(next.seq), seqs.last().copied(), "next_after is the last request answered");
                after = Some(next);
            }
        }
        assert!(pages < 10, "pages move on");
    }
    assert!(pages >= 2, "2,000 fat requests take more than one page");
    assert_eq!(seqs, (2..2 + REQUESTS as u64).collect::<Vec<_>>());

    // The Rust client reads every page.
    let options = fiscus_client::ClientOptions { token: Some(d.tokens.accountant.clone()), ..Default::default() };
    let client = fiscus_client::Client::connect(&format!("http://{}", d.addr), options).await.expect("client");
    let project = fiscus_client::project_id(P).expect("project id");
    let pending = client.pending(Some(&project)).await.expect("every page");
    assert_eq!(pending.len(), REQUESTS);
}
