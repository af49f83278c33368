//! `fiscus demo`: a sponsor's year end to end on an embedded store — the scripted year of
//! `fiscus_workload::demo_year` (or N generated events with `--events N`) — then balances,
//! one statement and a verified chain.
//!
//! A generated year is summed up rather than listed (its output is bounded whatever N is): totals per
//! currency, the busiest projects, one month's statement of one project. Without `--store` the
//! store is a temporary directory, removed at the end unless `--keep` is given, or when the demo
//! is stopped by Ctrl-C (SIGINT) or SIGTERM; the output says where it is and how to remove it.
//! `--events` is at most [`DEMO_EVENTS_MAX`], and a generated year reports its progress on
//! standard error: a bar on a terminal, else a line every [`PROGRESS_EVERY`].

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

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

/// Most events `--events` may ask for: a generated store takes about 350 bytes of disk and as much
/// memory per event (3.5 GB each at this bound); more is a mistake, not a demo.
pub const DEMO_EVENTS_MAX: u64 = 10_000_000;

/// How often a generated year reports its progress on standard error when that is not a terminal
/// (on a terminal a bar is drawn).
pub const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// How long the demo is given to stop on its own after SIGINT or SIGTERM before its temporary
/// store is removed under it.
pub const STOP_GRACE: Duration = Duration::from_secs(10);

/// Exit code after SIGINT (128 + 2), as a shell reports a process it stopped with Ctrl-C.
pub const EXIT_SIGINT: i32 = 130;
/// Exit code after SIGTERM (128 + 15).
pub const EXIT_SIGTERM: i32 = 143;

/// `--events N`: a whole number from 0 to [`DEMO_EVENTS_MAX`] (clap names the flag and the value).
pub fn events_arg(text: &str) -> Result<u64, String> {
    let bound = "at most 10,000,000 events (a generated year takes about 350 bytes of disk and of memory per event)";
    let n: u64 = text.trim().parse().map_err(|_| format!("a whole number of events is needed, {bound}"))?;
    if n > DEMO_EVENTS_MAX {
        return Err(bound.to_owned());
    }
    Ok(n)
}

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

/// SIGINT and SIGTERM, watched from before the demo's store exists until it ends, so that a
/// stopped demo removes its temporary store (the default action would leave it behind).
struct Stops {
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
}

impl Stops {
    fn watch() -> Stops {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let watch = |kind: SignalKind, name: &str| match signal(kind) {
                Ok(s) => Some(s),
                Err(e) => {
                    eprintln!(
                        "fiscus: cannot watch for {name} ({e}): stopping the demo with it leaves its store behind"
                    );
                    None
                }
            };
            Stops {
                interrupt: watch(SignalKind::interrupt(), "SIGINT"),
                terminate: watch(SignalKind::terminate(), "SIGTERM"),
            }
        }
        #[cfg(not(unix))]
        Stops {}
    }

    /// Waits for a signal; answers the exit code it calls for.
    async fn next(&mut self) -> i32 {
        #[cfg(unix)]
        {
            async fn recv(s: &mut Option<tokio::signal::unix::Signal>) {
                match s {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            }
            tokio::select! {
                () = recv(&mut self.interrupt) => EXIT_SIGINT,
                () = recv(&mut self.terminate) => EXIT_SIGTERM,
            }
        }
        #[cfg(not(unix))]
        {
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
            EXIT_SIGINT
        }
    }
}

/// `fiscus demo [--store DIR] [--events N] [--seed S] [--keep]`.
pub async fn run(dir: Option<&Path>, events: Option<u64>, seed: u64, keep: bool, json: bool) -> Result<(), Failure> {
    // Before the temporary store exists: a signal from then on finds it.
    let mut stops = Stops::watch();
    let temporary = dir.is_none();
    let dir = store_dir(dir)?;
    let removed = temporary && !keep;
    let stop = Arc::new(AtomicBool::new(false));
    let mut work = tokio::task::spawn_blocking({
        let (dir, stop) = (dir.clone(), Arc::clone(&stop));
        move || run_in(&dir, events, seed, !removed, json, &stop)
    });
    let result = tokio::select! {
        joined = &mut work => joined.map_err(|e| Failure::other(format!("the demo stopped: {e}"))).and_then(|r| r),
        code = stops.next() => {
            // Let the demo stop between two groups of commits and close its store; remove the store
            // under it if it does not in time (the process ends right after).
            stop.store(true, Ordering::Relaxed);
            let _ = tokio::time::timeout(STOP_GRACE, &mut work).await;
            let d = dir.display();
            if removed {
                match remove_dir(&dir) {
                    Ok(()) => eprintln!("fiscus: demo stopped; its temporary store {d} was removed"),
                    Err(e) => eprintln!("fiscus: demo stopped; could not remove its temporary store {d}: {e}"),
                }
            } else {
                eprintln!("fiscus: demo stopped; its store {d} is kept, with what was recorded so far");
            }
            std::process::exit(code);
        }
    };
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

/// Removes the demo's temporary store, trying again a few times: a store still being written can
/// gain a file while it is being removed.
fn remove_dir(dir: &Path) -> std::io::Result<()> {
    let mut tries = 3;
    loop {
        match std::fs::remove_dir_all(dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound && tries > 1 => tries -= 1,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            other => return other,
        }
    }
}

/// The error of a demo stopped by a signal (`stop`); the signal's handler reports it.
fn stopped() -> Failure {
    Failure::other("the demo was stopped")
}

/// Records the year into `dir` and prints it; answers the project whose statement it showed.
/// Stops between two groups of commits, or two chains verified, once `stop` is set.
fn run_in(
    dir: &Path,
    events: Option<u64>,
    seed: u64,
    kept: bool,
    json: bool,
    stop: &AtomicBool,
) -> Result<String, Failure> {
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
            // Not on a terminal, the bar is not drawn: a line every PROGRESS_EVERY instead.
            let lines = bar.is_hidden();
            let mut reported = Instant::now();
            let mut workload = generate(&WorkloadConfig::new(n, seed));
            loop {
                if stop.load(Ordering::Relaxed) {
                    return Err(stopped());
                }
                let group: Vec<CommitRequest> = workload.by_ref().take(DEMO_GROUP_REQUESTS).collect();
                if group.is_empty() {
                    break;
                }
                let events: u64 = group.iter().map(|r| r.events.len() as u64).sum();
                for answer in store.commit_group(&group)? {
                    answer.map_err(|e| Failure::other(format!("a generated commit was refused (seed {seed}): {e}")))?;
                }
                bar.inc(events);
                if lines && reported.elapsed() >= PROGRESS_EVERY {
                    reported = Instant::now();
                    let done = bar.position();
                    let percent = u128::from(done) * 100 / u128::from(n.max(1));
                    eprintln!(
                        "fiscus demo: recorded {done} of {n} events ({percent}%) in {} s, into {}",
                        started.elapsed().as_secs(),
                        dir.display()
                    );
                }
            }
            bar.finish_and_clear();
            if started.elapsed() >= PROGRESS_EVERY {
                eprintln!("fiscus demo: recorded {n} events; verifying the store (every record re-hashed)");
            }
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
        if stop.load(Ordering::Relaxed) {
            return Err(stopped());
        }
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
