//! `fiscus demo`: a sponsor's year end to end on an embedded store — the scripted year of
//! `fiscus_ledger::workload::demo_year` (or N generated events with `--events N`) — then balances,
//! one statement and a verified chain.

use std::path::{Path, PathBuf};
use std::time::Instant;

use fiscus_client::fiscus_ledger::commit::CommitRequest;
use fiscus_client::fiscus_ledger::ids::{DATE_MAX, DATE_MIN};
use fiscus_client::fiscus_ledger::store::Store;
use fiscus_client::fiscus_ledger::verify::verify_chain;
use fiscus_client::{short, Balances, ProjectSummary};
use fiscus_workload::{demo_year, generate, WorkloadConfig};
use serde_json::json;

use crate::commands::progress;
use crate::fail::Failure;
use crate::show;

/// Commit requests written per group (one batch, one sync) when generating a large year.
pub const DEMO_GROUP_REQUESTS: usize = 256;

/// The project whose statement the scripted demo shows.
pub const DEMO_STATEMENT_PROJECT: &str = "rustconf-2026";

fn store_dir(dir: Option<&Path>) -> Result<PathBuf, Failure> {
    match dir {
        Some(d) => Ok(d.to_owned()),
        None => {
            let tmp = tempfile::Builder::new()
                .prefix("fiscus-demo-")
                .tempdir()
                .map_err(|e| Failure::other(format!("no temporary directory: {e}")))?;
            Ok(tmp.keep())
        }
    }
}

/// One line per commit of the scripted year: what happened, in a few words.
fn year_table(requests: &[CommitRequest]) -> comfy_table::Table {
    let mut t = show::table(&["#", "Date", "By", "Project", "Event", "Amount", "Memo"], &[0, 5]);
    for (i, r) in requests.iter().enumerate() {
        for (j, e) in r.events.iter().enumerate() {
            let money =
                show::headline_money(&e.kind).map(|m| show::amount(m.amount(), m.currency())).unwrap_or_default();
            t.add_row(vec![
                if j == 0 { (i + 1).to_string() } else { String::new() },
                if j == 0 { e.effective_date.to_string() } else { String::new() },
                if j == 0 { r.actor.clone() } else { String::new() },
                e.project.to_string(),
                e.kind.name().to_owned(),
                money,
                show::clip(&e.memo, 40),
            ]);
        }
    }
    t
}

/// `fiscus demo [--store DIR] [--events N] [--seed S]`.
pub fn run(dir: Option<&Path>, events: Option<u64>, seed: u64, json: bool) -> Result<(), Failure> {
    let dir = store_dir(dir)?;
    let started = Instant::now();
    let (mut store, _) = Store::open(&dir)?;
    if store.projection().events > 0 {
        return Err(Failure::other(format!(
            "{} already holds a ledger ({} events); give a new or empty directory, or leave out --store",
            dir.display(),
            store.projection().events
        )));
    }
    let scripted = events.is_none();
    let mut year_view = None;
    match events {
        None => {
            let requests = demo_year();
            for r in &requests {
                store.commit(r).map_err(|e| Failure::other(format!("the demo year was refused: {e}")))?;
            }
            year_view = Some(year_table(&requests));
        }
        Some(n) => {
            let bar = progress(Some(n), "recording a generated year");
            let mut workload = generate(&WorkloadConfig::new(n, seed));
            loop {
                let group: Vec<CommitRequest> = workload.by_ref().take(DEMO_GROUP_REQUESTS).collect();
                if group.is_empty() {
                    break;
                }
                let events: u64 = group.iter().map(|r| r.events.len() as u64).sum();
                for answer in store.commit_group(&group)? {
                    answer.map_err(|e| Failure::other(format!("a generated commit was refused (seed {seed}): {e}")))?;
                }
                bar.inc(events);
            }
            bar.finish_and_clear();
        }
    }
    let recorded_ms = started.elapsed().as_millis();
    let p = store.projection();
    let rows: Vec<(ProjectSummary, Balances)> = p
        .projects()
        .filter_map(|s| {
            let summary = ProjectSummary::of(s)?;
            let balances = Balances {
                project: s.id.clone(),
                head_seq: s.head.seq,
                commit: p.commit_head.number,
                balances: s.balances(),
            };
            Some((summary, balances))
        })
        .collect();
    let statement_project = if scripted {
        DEMO_STATEMENT_PROJECT.to_owned()
    } else {
        p.projects().max_by_key(|s| s.head.seq).map(|s| s.id.to_string()).unwrap_or_default()
    };
    let statement = match p.project(&statement_project).and_then(|s| s.info.as_ref()) {
        Some(info) => Some(store.statement(&statement_project, DATE_MIN, DATE_MAX, Some(info.currency))?),
        None => None,
    };
    store.close()?;

    // Verify as an auditor would: reopen (every chain re-hashed, the projection rebuilt from the
    // records), then each chain again with the client's verifier, and compare with the first run.
    let verify_started = Instant::now();
    let (store, report) = Store::open(&dir)?;
    if let Some(d) = report.damage.first() {
        return Err(Failure::other(format!("verification failed: {} seq {}: {}", d.project, d.seq, d.problem)));
    }
    for chain in store.projection().chains() {
        let limit = usize::try_from(chain.head.seq).unwrap_or(usize::MAX);
        let raws = store.raw_records(chain.id.as_str(), 1, limit)?;
        let state = verify_chain(&chain.id, raws.iter().map(|r| r.bytes.as_slice()))?;
        if state.head != chain.head || state.balances() != chain.balances() {
            return Err(Failure::other(format!("verification failed: {} does not add up", chain.id)));
        }
    }
    let verify_ms = verify_started.elapsed().as_millis().max(1);
    let head = store.projection().commit_head;
    let events_total = report.events;
    let rate = u128::from(events_total) * 1000 / verify_ms;
    let balances_match = rows
        .iter()
        .all(|(_, b)| store.projection().project(b.project.as_str()).is_some_and(|s| s.balances() == b.balances));
    store.close()?;
    if !balances_match {
        return Err(Failure::other("verification failed: the reopened store's balances differ"));
    }

    if json {
        show::print_json(&json!({
            "store": dir.display().to_string(),
            "events": events_total,
            "commits": report.commits,
            "projects": rows.iter().map(|(s, b)| {
                let mut v = show::project_json(s);
                if let Some(o) = v.as_object_mut() {
                    o.insert("balances".into(), show::balances_json(b)["balances"].clone());
                }
                v
            }).collect::<Vec<_>>(),
            "statement": statement.as_ref().map(|s| {
                let mut v = show::statement_json(s);
                if let Some(o) = v.as_object_mut() {
                    o.insert("project".into(), statement_project.clone().into());
                }
                v
            }),
            "verification": {
                "ok": true,
                "chains": report.chains,
                "commit_head": head.number,
                "commit_hash": show::hex(&head.hash),
                "milliseconds": verify_ms.to_string(),
            },
        }));
        return Ok(());
    }
    if let Some(t) = year_view {
        outln!("A year of a fiscal sponsor, commit by commit:\n{t}\n");
    } else {
        outln!("Generated {events_total} events (seed {seed}) in {recorded_ms} ms.\n");
    }
    outln!("Balances:\n{}\n", show::overview_table(&rows));
    if let Some(s) = &statement {
        outln!("{}\n", show::statement_table(&statement_project, s));
    }
    outln!(
        "Verified: {events_total} records in {} chains re-hashed and linked from their genesis hashes, \
         {} commits chained to head {} ({}), balances rebuilt from the records and equal — in {verify_ms} ms \
         ({rate} events/s).",
        report.chains,
        report.commits,
        head.number,
        short(&head.hash)
    );
    outln!("\nThe store is in {}. Look around:", dir.display());
    let d = dir.display();
    outln!("  fiscus --store {d} projects");
    outln!("  fiscus --store {d} balance {statement_project}");
    outln!("  fiscus --store {d} events {statement_project}");
    outln!("  fiscus --store {d} trial-balance");
    outln!("  fiscus --store {d} verify");
    outln!("  fiscus --store {d} export hledger");
    Ok(())
}
