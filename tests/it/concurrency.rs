//! Many concurrent clients recording into the same and different projects: every chain verifies,
//! seqs have no gap, and the accepted amounts add up to the balances.

use std::collections::BTreeMap;
use std::time::Duration;

use fiscus_proto::pb;
use rust_decimal::Decimal;

use crate::support::*;

const TASKS: usize = 16;
const COMMITS_PER_TASK: usize = 25;
const PROJECTS: [&str; 4] = ["conf-a", "conf-b", "conf-c", "conf-d"];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_clients_recording_concurrently_keep_every_chain_whole() {
    let d = Daemon::start().await;
    let mut admin = d.ledger(Some(&d.tokens.admin)).await;
    for p in PROJECTS {
        open(&mut admin, p, 0).await;
    }
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let mut client = d.ledger(Some(&d.tokens.accountant)).await;
        tasks.push(tokio::spawn(async move {
            let mut accepted: BTreeMap<&'static str, Decimal> = BTreeMap::new();
            for i in 0..COMMITS_PER_TASK {
                // Every task writes its own project and, every third commit, the shared conf-a too.
                let own = PROJECTS[t % PROJECTS.len()];
                let cents = 100 + t * 1_000 + i;
                let amount = format!("{}.{:02}", cents / 100, cents % 100);
                let mut events = vec![contribution(&format!("t{t}-c{i}"), own, &amount, None)];
                if i % 3 == 0 && own != "conf-a" {
                    events.push(contribution(&format!("t{t}-c{i}-shared"), "conf-a", "1.00", None));
                }
                let answer = record(&mut client, events.clone()).await.expect("every commit is accepted");
                assert!(!answer.duplicate);
                for e in &events {
                    let pb::event::Kind::ContributionReceived(c) = e.kind.as_ref().expect("kind") else {
                        unreachable!("only contributions are sent")
                    };
                    let amount: Decimal = c.amount.as_ref().expect("amount").amount.parse().expect("decimal");
                    let project = PROJECTS.iter().find(|p| **p == e.project).expect("known project");
                    *accepted.entry(project).or_default() += amount;
                }
            }
            accepted
        }));
    }
    let mut expected: BTreeMap<&str, Decimal> = BTreeMap::new();
    let all = tokio::time::timeout(Duration::from_secs(120), futures_join(tasks)).await.expect("in time");
    for accepted in all {
        for (p, v) in accepted {
            *expected.entry(p).or_default() += v;
        }
    }

    let mut acc = d.ledger(Some(&d.tokens.auditor)).await;
    let mut total_events = 0u64;
    for p in PROJECTS {
        let balance: Decimal = usd_balance(&mut acc, p).await.balance.parse().expect("decimal");
        assert_eq!(balance, expected[p], "{p}: the balance is the sum of the accepted amounts");
        // Read the whole chain: seqs 1..=head with no gap.
        let mut after = 0;
        let mut head = 0;
        for _ in 0..1_000 {
            let page = acc
                .list_events(pb::ListEventsRequest { project: p.into(), after_seq: after, page_size: 100 })
                .await
                .expect("events")
                .into_inner();
            for e in &page.events {
                assert_eq!(e.seq, after + 1, "{p}: no gap");
                after = e.seq;
            }
            head = page.head_seq;
            if after == head {
                break;
            }
        }
        assert_eq!(after, head);
        total_events += head;
    }
    let shared = (0..TASKS).filter(|t| PROJECTS[t % PROJECTS.len()] != "conf-a").count() * COMMITS_PER_TASK.div_ceil(3);
    assert_eq!(total_events, (PROJECTS.len() + TASKS * COMMITS_PER_TASK + shared) as u64);

    let mut audit = d.audit(Some(&d.tokens.auditor)).await;
    let v = audit.verify(pb::VerifyRequest { project: String::new() }).await.expect("verify").into_inner();
    assert!(v.ok, "{v:?}");
    assert_eq!(v.records, total_events);
    assert_eq!(v.commits, (PROJECTS.len() + TASKS * COMMITS_PER_TASK) as u64);
}

async fn futures_join<T>(tasks: Vec<tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        out.push(t.await.expect("task ends without panicking"));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_write_queue_refuses_at_once_and_loses_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("fiscusd.toml");
    std::fs::write(&config, "[limits]\nqueue_depth_max = 1\ngroup_requests_max = 1\n").expect("config");
    let d = Daemon::start_with(&["--config", config.to_str().expect("utf-8 path")]).await;
    let mut admin = d.ledger(Some(&d.tokens.admin)).await;
    open(&mut admin, "conf-a", 0).await;
    const CLIENTS: usize = 48;
    let mut pending: Vec<usize> = (0..CLIENTS).collect();
    let mut refused_total = 0;
    // Each round sends every event not yet accepted, all at once; refused ones are retried with the
    // same event id. Bounded in rounds.
    for _ in 0..200 {
        let mut calls = Vec::new();
        for &i in &pending {
            let mut c = d.ledger(Some(&d.tokens.accountant)).await;
            calls.push(tokio::spawn(async move {
                (i, record(&mut c, vec![contribution(&format!("q-{i}"), "conf-a", "1.00", None)]).await)
            }));
        }
        let mut still = Vec::new();
        for call in calls {
            let (i, result) = call.await.expect("task");
            match result {
                Ok(_) => {}
                Err(s) => {
                    assert_eq!(s.code(), tonic::Code::ResourceExhausted, "{s:?}");
                    refused_total += 1;
                    still.push(i);
                }
            }
        }
        pending = still;
        if pending.is_empty() {
            break;
        }
    }
    assert!(pending.is_empty(), "every event got in by retrying");
    let b = usd_balance(&mut admin, "conf-a").await;
    assert_eq!(b.balance, format!("{CLIENTS}.00"), "each event once, after {refused_total} refusals");
    let mut audit = d.audit(Some(&d.tokens.auditor)).await;
    assert_eq!(head_seq(&mut audit, "conf-a").await, 1 + CLIENTS as u64);
}
