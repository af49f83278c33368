//! `fiscus demo`: a sponsor's year end to end on an embedded store — the scripted year of
//! `fiscus_workload::demo_year` (or N generated events with `--events N`) — then balances,
//! one statement and a verified chain.
//!
//! A generated year is summed up rather than listed (its output is bounded whatever N is): totals per
//! currency, the busiest projects, one month's statement of one project. Without `--store` the
//! store is a temporary directory, removed at the end unless `--keep` is given; the output says
//! where it is and how to remove it.

use std::path::{Path, PathBuf};
use std::time::Instant;

use std::collections::BTreeMap;

use chrono::NaiveDate;
use fiscus_client::fiscus_ledger::commit::CommitRequest;
use fiscus_client::fiscus_ledger::ids::{DATE_MAX, DATE_MIN};
use fiscus_client::fiscus_ledger::money::Currency;
use fiscus_client::fiscus_ledger::statement::Statement;
use fiscus_client::fiscus_ledger::store::Store;
use fiscus_client::fiscus_ledger::verify::verify_chain;
use fiscus_client::{short, Balances, ProjectSummary};
use fiscus_workload::{demo_year, generate, WorkloadConfig};
use rust_decimal::Decimal;
use serde_json::json;

use crate::commands::progress;
use crate::fail::Failure;
use crate::show;

/// Commit requests written per group (one batch, one sync) when generating a large year.
pub const DEMO_GROUP_REQUESTS: usize = 256;

/// The project whose statement the scripted demo shows.
pub const DEMO_STATEMENT_PROJECT: &str = "rustconf-2026";

/// Projects a generated year's summary lists (the busiest, by events).
pub const SUMMARY_PROJECTS: usize = 5;

/// Most lines of the one statement a generated year's summary shows: it is one month of the busiest
/// project whose month has at most this many.
pub const SUMMARY_STATEMENT_LINES_MAX: usize = 25;

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

/// Totals per currency of a generated year: projects holding it, balances, restricted funds,
/// pledges, advances owed and fees, summed over projects.
fn totals_table(rows: &[(ProjectSummary, Balances)]) -> comfy_table::Table {
    #[derive(Default)]
    struct Sum {
        projects: u64,
        balance: Decimal,
        restricted: Decimal,
        pledged: Decimal,
        advances: Decimal,
        fees: Decimal,
    }
    let mut sums: BTreeMap<&str, (Currency, Sum)> = BTreeMap::new();
    for (_, b) in rows {
        for x in &b.balances {
            let (_, s) = sums.entry(x.currency.code()).or_insert_with(|| (x.currency, Sum::default()));
            let restricted = x.restricted.iter().fold(Decimal::ZERO, |a, r| a.saturating_add(r.balance));
            s.projects += 1;
            s.balance = s.balance.saturating_add(x.balance);
            s.restricted = s.restricted.saturating_add(restricted);
            s.pledged = s.pledged.saturating_add(x.pledged);
            s.advances = s.advances.saturating_add(x.advances_outstanding);
            s.fees = s.fees.saturating_add(x.fees_to_date);
        }
    }
    let mut t = show::table(
        &["Currency", "Projects", "Balances", "Restricted", "Pledged", "Advances owed", "Fees"],
        &[1, 2, 3, 4, 5, 6],
    );
    for (code, (c, s)) in &sums {
        t.add_row(vec![
            (*code).to_owned(),
            s.projects.to_string(),
            show::amount(s.balance, *c),
            show::amount(s.restricted, *c),
            show::amount(s.pledged, *c),
            show::amount(s.advances, *c),
            show::amount(s.fees, *c),
        ]);
    }
    t
}

/// `fiscus demo [--store DIR] [--events N] [--seed S] [--keep]`.
pub fn run(dir: Option<&Path>, events: Option<u64>, seed: u64, keep: bool, json: bool) -> Result<(), Failure> {
    let temporary = dir.is_none();
    let dir = store_dir(dir)?;
    let removed = temporary && !keep;
    let result = run_in(&dir, events, seed, !removed, json);
    if removed {
        // Best effort: a failure to remove a temporary directory is reported, not fatal.
        if let Err(e) = std::fs::remove_dir_all(&dir) {
            eprintln!("could not remove the demo's store {}: {e}", dir.display());
        }
    }
    let shown = result?;
    if json {
        return Ok(());
    }
    let d = dir.display();
    if removed {
        outln!("\nThe store was a temporary directory, {d}, now removed; give --keep (or --store DIR) to keep it.");
        return Ok(());
    }
    outln!("\nThe store is in {d}. Look around:");
    outln!("  fiscus --store {d} projects");
    outln!("  fiscus --store {d} balance {shown}");
    outln!("  fiscus --store {d} events {shown}");
    outln!("  fiscus --store {d} trial-balance");
    outln!("  fiscus --store {d} verify");
    outln!("  fiscus --store {d} export hledger");
    outln!("Remove it when done: rm -r {d}");
    Ok(())
}

/// Records the year into `dir` and prints it; answers the project whose statement it showed.
fn run_in(dir: &Path, events: Option<u64>, seed: u64, kept: bool, json: bool) -> Result<String, Failure> {
    let dir = dir.to_owned();
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
    let (statement_project, statement) = if scripted {
        let statement = match p.project(DEMO_STATEMENT_PROJECT).and_then(|s| s.info.as_ref()) {
            Some(info) => Some(store.statement(DEMO_STATEMENT_PROJECT, DATE_MIN, DATE_MAX, Some(info.currency))?),
            None => None,
        };
        (DEMO_STATEMENT_PROJECT.to_owned(), statement)
    } else {
        month_statement(&store, WorkloadConfig::new(0, seed).year)?
    };
    store.close()?;

    // Verify as an auditor would: reopen (every chain re-hashed, the projection rebuilt from the
    // records), then each chain again with the client's verifier, and compare with the first run.
    let verify_started = Instant::now();
    let (store, report) = Store::open(&dir)?;
    if let Some(d) = report.damage.first() {
        return Err(Failure::other(format!("verification failed: {}: {}", d.place(), d.problem)));
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
            "store_kept": kept,
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
        return Ok(statement_project);
    }
    if let Some(t) = year_view {
        outln!("A year of a fiscal sponsor, commit by commit:\n{t}\n");
        outln!("Balances:\n{}\n", show::overview_table(&rows));
    } else {
        outln!("Generated {events_total} events of {} projects (seed {seed}) in {recorded_ms} ms.\n", rows.len());
        outln!("Totals per currency, over all projects:\n{}\n", totals_table(&rows));
        let mut busiest: Vec<&(ProjectSummary, Balances)> = rows.iter().collect();
        busiest.sort_by(|a, b| b.0.head_seq.cmp(&a.0.head_seq).then_with(|| a.0.project.cmp(&b.0.project)));
        busiest.truncate(SUMMARY_PROJECTS);
        let top: Vec<(ProjectSummary, Balances)> = busiest.into_iter().cloned().collect();
        let events: Vec<String> = top.iter().map(|(s, _)| format!("{} {}", s.project, s.head_seq)).collect();
        outln!("The {} busiest projects (events: {}):\n{}\n", top.len(), events.join(", "), show::overview_table(&top));
    }
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
    Ok(statement_project)
}

/// One month's statement (the year's December, in the project's currency) of the busiest project
/// whose month has one to [`SUMMARY_STATEMENT_LINES_MAX`] lines (none if no project's does), so
/// that a generated year's summary stays short however large the year.
fn month_statement(store: &Store, year: i32) -> Result<(String, Option<Statement>), Failure> {
    let (Some(from), Some(to)) = (NaiveDate::from_ymd_opt(year, 12, 1), NaiveDate::from_ymd_opt(year, 12, 31)) else {
        return Ok((String::new(), None));
    };
    let mut projects: Vec<(u64, String, Currency)> = store
        .projection()
        .projects()
        .filter_map(|s| s.info.as_ref().map(|i| (s.head.seq, s.id.to_string(), i.currency)))
        .collect();
    projects.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    for (events, id, c) in &projects {
        // A project with this many events in its year would not fit in a month: skip the read.
        if *events > (SUMMARY_STATEMENT_LINES_MAX as u64) * 24 {
            continue;
        }
        let s = store.statement(id, from, to, Some(*c))?;
        if !s.lines.is_empty() && s.lines.len() <= SUMMARY_STATEMENT_LINES_MAX {
            return Ok((id.clone(), Some(s)));
        }
    }
    Ok((String::new(), None))
}
