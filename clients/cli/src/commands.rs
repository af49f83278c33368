//! The commands that read, record, import, export, follow and manage tokens. Each takes the
//! backend and prints a table, or JSON with `--json`.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use fiscus_client::fiscus_ledger::chain::Hash;
use fiscus_client::fiscus_ledger::commit::{Committed, COMMIT_EVENTS_MAX};
use fiscus_client::fiscus_ledger::export;
use fiscus_client::fiscus_ledger::ids::{parse_date, DATE_MAX, DATE_MIN};
use fiscus_client::fiscus_ledger::{Currency, Event, ProjectId};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use crate::backend::Backend;
use crate::check;
use crate::fail::Failure;
use crate::import;
use crate::record::{self, EventSpec, KindSpec};
use crate::show;

/// A project id argument.
pub fn project_arg(id: &str) -> Result<ProjectId, Failure> {
    ProjectId::parse("project", id).map_err(|e| Failure::usage(e.to_string()))
}

fn currency_arg(code: Option<&str>) -> Result<Option<Currency>, Failure> {
    code.map(|c| Currency::parse("currency", &c.to_ascii_uppercase()).map_err(|e| Failure::usage(e.to_string())))
        .transpose()
}

fn date_arg(name: &str, text: Option<&str>, default: NaiveDate) -> Result<NaiveDate, Failure> {
    match text {
        Some(t) => parse_date(name, t).map_err(|e| Failure::usage(e.to_string())),
        None => Ok(default),
    }
}

/// A progress bar on standard error (drawn only on a terminal), with `what` as its message.
pub fn progress(len: Option<u64>, what: &str) -> ProgressBar {
    let bar = match len {
        Some(n) => ProgressBar::new(n).with_style(
            ProgressStyle::with_template("{msg} {bar:40.cyan/blue} {pos}/{len} ({per_sec}, {eta} left)")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        ),
        None => ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{spinner} {msg} {pos} ({per_sec}) {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        ),
    };
    bar.set_message(what.to_owned());
    bar
}

/// An optional date argument (`--as-of`), read by the one date parser.
fn opt_date_arg(name: &str, text: Option<&str>) -> Result<Option<NaiveDate>, Failure> {
    text.map(|t| parse_date(name, t).map_err(|e| Failure::usage(e.to_string()))).transpose()
}

/// `fiscus balance`, now or `--as-of` a date (events whose effective date is on or before it).
pub async fn balance(
    b: &Backend,
    project: &str,
    currency: Option<&str>,
    as_of: Option<&str>,
    json: bool,
) -> Result<(), Failure> {
    let as_of = opt_date_arg("as-of", as_of)?;
    let balances = b.balance_as_of(&project_arg(project)?, currency_arg(currency)?, as_of).await?;
    if json {
        let mut value = show::balances_json(&balances);
        if let (Some(d), Some(o)) = (as_of, value.as_object_mut()) {
            o.insert("as_of".to_owned(), json!(d.to_string()));
        }
        show::print_json(&value);
    } else {
        outln!("{}", show::balances_table(&balances, as_of));
    }
    Ok(())
}

/// `fiscus statement`.
pub async fn statement(
    b: &Backend,
    project: &str,
    from: Option<&str>,
    to: Option<&str>,
    currency: Option<&str>,
    json: bool,
) -> Result<(), Failure> {
    let (from, to) = (date_arg("from", from, DATE_MIN)?, date_arg("to", to, DATE_MAX)?);
    if from > to {
        return Err(Failure::usage(format!("--from {from} is after --to {to}")));
    }
    let s = b.statement(&project_arg(project)?, from, to, currency_arg(currency)?).await?;
    if json {
        show::print_json(&json!({
            "project": s.project.as_str(),
            "from": s.from.to_string(),
            "to": s.to.to_string(),
            "head_seq": s.head_seq,
            "statements": s.statements.iter().map(show::statement_json).collect::<Vec<_>>(),
        }));
    } else {
        if s.statements.is_empty() {
            outln!("{}: no money recorded yet", s.project);
        }
        for st in &s.statements {
            outln!("{}", show::statement_table(s.project.as_str(), st));
        }
    }
    Ok(())
}

/// `fiscus events`: pages through the chain from `after`, at most `limit` events.
pub async fn events(b: &Backend, project: &str, after: u64, limit: u32, json: bool) -> Result<(), Failure> {
    let project = project_arg(project)?;
    let mut all = Vec::new();
    let mut cursor = after;
    let mut head = 0;
    while (all.len() as u64) < u64::from(limit) {
        let want = (u64::from(limit) - all.len() as u64).min(1000) as u32;
        let page = b.events(&project, cursor, want).await?;
        head = page.head_seq;
        if page.events.is_empty() {
            break;
        }
        cursor = page.next_after_seq;
        all.extend(page.events);
        if cursor >= head {
            break;
        }
    }
    let page = fiscus_client::EventsPage { next_after_seq: cursor, head_seq: head, events: all };
    if json {
        show::print_json(&show::events_json(&page));
    } else {
        outln!("{project}: events {}–{} of {}", after + 1, page.next_after_seq, page.head_seq);
        // the requests that approvals, rejections and payments on this page name, for their amounts
        let mut requests: std::collections::HashMap<u64, fiscus_client::fiscus_ledger::ExpenseDetails> =
            std::collections::HashMap::new();
        for e in &page.events {
            if let fiscus_client::fiscus_ledger::EventKind::ExpenseRequested { details } = &e.event.kind {
                requests.insert(e.seq, details.clone());
            }
        }
        let missing: Vec<Event> = page
            .events
            .iter()
            .filter(|e| request_of(&e.event.kind).is_some_and(|r| !requests.contains_key(&r)))
            .map(|e| e.event.clone())
            .collect();
        for ((_, seq), details) in requests_named(b, &missing).await {
            requests.insert(seq, details);
        }
        outln!("{}", show::events_table(&page.events, &requests));
        if page.next_after_seq < page.head_seq {
            outln!("more: fiscus events {project} --after {}", page.next_after_seq);
        }
    }
    Ok(())
}

/// `fiscus projects`.
pub async fn projects(b: &Backend, all: bool, json: bool) -> Result<(), Failure> {
    let projects = b.projects(all).await?;
    if json {
        show::print_json(&serde_json::Value::Array(projects.iter().map(show::project_json).collect()));
    } else {
        outln!("{}", show::projects_table(&projects));
    }
    Ok(())
}

/// `fiscus trial-balance`, now or `--as-of` a date.
pub async fn trial_balance(b: &Backend, as_of: Option<&str>, json: bool) -> Result<(), Failure> {
    let as_of = opt_date_arg("as-of", as_of)?;
    let tb = b.trial_balance_as_of(as_of).await?;
    if json {
        show::print_json(&show::trial_json(&tb));
    } else {
        outln!("{}", show::trial_table(&tb, as_of));
    }
    Ok(())
}

/// `fiscus pledges`: open pledges as of a date (default: today's local date), overdue ones
/// marked, and the receivables ageing per currency.
pub async fn pledges(b: &Backend, project: Option<&str>, as_of: Option<&str>, json: bool) -> Result<(), Failure> {
    let project = project.map(project_arg).transpose()?;
    let as_of = opt_date_arg("as-of", as_of)?.unwrap_or_else(today);
    let open = b.open_pledges(project.as_ref(), as_of).await?;
    if json {
        show::print_json(&show::pledges_json(&open));
    } else if open.pledges.is_empty() {
        outln!("no open pledges as of {as_of}");
    } else {
        outln!("{}", show::pledges_table(&open));
    }
    Ok(())
}

/// `fiscus pending`.
pub async fn pending(b: &Backend, project: Option<&str>, json: bool) -> Result<(), Failure> {
    let project = project.map(project_arg).transpose()?;
    let p = b.pending(project.as_ref()).await?;
    if json {
        show::print_json(&show::pending_json(&p));
    } else if p.is_empty() {
        outln!("no expense requests waiting");
    } else {
        outln!("{}", show::pending_table(&p));
    }
    Ok(())
}

/// What `fiscus record` was given.
pub struct RecordInput {
    /// A commit file.
    pub file: Option<PathBuf>,
    /// Envelope flags for one event.
    pub project: Option<String>,
    /// Its date.
    pub date: Option<String>,
    /// Its memo.
    pub memo: String,
    /// Its reference.
    pub reference: Option<String>,
    /// Its id.
    pub id: Option<String>,
    /// Expected head seq of its project.
    pub expected_seq: Option<u64>,
    /// Record likely duplicates anyway.
    pub allow_duplicate: bool,
    /// Record a receipt the project already holds (`--allow-same-receipt`).
    pub allow_same_receipt: bool,
    /// Its kind and fields.
    pub kind: Option<KindSpec>,
    /// Where to keep the commit's receipt.
    pub receipt: Option<PathBuf>,
}

/// Today's date where the user is: the local calendar date (the `TZ` time zone, else the
/// system's), not the UTC date, so that a gift recorded at 15:50 on 31 December in Los Angeles is
/// dated 31 December, and a retry at 16:10 the same evening gets the same date and the same id.
pub fn today() -> NaiveDate {
    chrono::Local::now().date_naive()
}

/// `fiscus record`. With `--receipt FILE`, the file is checked before anything is sent
/// ([`record::check_receipt_file`]).
pub async fn record(b: &mut Backend, input: RecordInput, json: bool) -> Result<(), Failure> {
    let receipt = input.receipt.clone();
    let created = receipt.as_deref().map(record::check_receipt_file).transpose()?;
    let result = record_unchecked(b, input, json).await;
    if let (Some(path), Some(created), Err(_)) = (&receipt, created, &result) {
        record::drop_receipt_file(path, created);
    }
    result
}

async fn record_unchecked(b: &mut Backend, input: RecordInput, json: bool) -> Result<(), Failure> {
    let (events, expected) = match (input.file, input.kind) {
        (Some(path), None) => record::read_commit_file(&path)?,
        (None, Some(kind)) => {
            let project = input.project.ok_or_else(|| Failure::usage("give --project for the event"))?;
            let spec = EventSpec {
                event_id: input.id,
                project: project.clone(),
                date: input.date.unwrap_or_else(|| today().to_string()),
                memo: input.memo,
                reference: input.reference,
                kind,
            };
            let events = spec.to_events(Path::new("."), "")?;
            let expected = match input.expected_seq {
                Some(s) => vec![(project_arg(&project)?, s)],
                None => Vec::new(),
            };
            (events, expected)
        }
        _ => return Err(Failure::usage(
            "give an event kind (such as `fiscus record contribution ...`) or --file FILE; see fiscus record --help",
        )),
    };
    if !input.allow_duplicate {
        let duplicates = check::likely_duplicates(b, &events).await?;
        if !duplicates.is_empty() {
            let list: Vec<String> = duplicates.iter().map(|d| format!("likely a duplicate: {d}")).collect();
            return Err(Failure::other(format!(
                "{}\nnothing was recorded; give --allow-duplicate to record it anyway (or --id for a new event id)",
                list.join("\n")
            )));
        }
    }
    let options = fiscus_client::CommitOptions { allow_same_receipt: input.allow_same_receipt, dry_run: false };
    let requests = requests_named(b, &events).await;
    let committed = match &input.receipt {
        Some(path) => b.record_keeping_receipt(&events, &expected, options, path).await?,
        None => b.record_with(&events, &expected, options).await?,
    };
    print_committed(&events, &committed, &requests, json);
    Ok(())
}

/// The expense request an approval, rejection or payment names, if it carries none of its own
/// details: its seq.
fn request_of(kind: &fiscus_client::fiscus_ledger::EventKind) -> Option<u64> {
    use fiscus_client::fiscus_ledger::EventKind as K;
    match kind {
        K::ExpenseApproved { request } | K::ExpenseRejected { request, .. } => Some(*request),
        K::ExpensePaid { request: Some(request), .. } => Some(*request),
        _ => None,
    }
}

/// The details of every expense request that `events` approve, reject or pay, read from their
/// chains (so that the confirmation shows the amount and payee concerned); a request that cannot
/// be read is left out, and the commit goes on (it refuses a request that does not exist itself).
async fn requests_named(
    b: &Backend,
    events: &[Event],
) -> std::collections::HashMap<(ProjectId, u64), fiscus_client::fiscus_ledger::ExpenseDetails> {
    let mut out = std::collections::HashMap::new();
    for e in events {
        let Some(seq) = request_of(&e.kind) else { continue };
        let Ok(page) = b.events(&e.project, seq.saturating_sub(1), 1).await else { continue };
        if let Some(fiscus_client::fiscus_ledger::EventKind::ExpenseRequested { details }) =
            page.events.first().filter(|r| r.seq == seq).map(|r| &r.event.kind)
        {
            out.insert((e.project.clone(), seq), details.clone());
        }
    }
    out
}

fn print_committed(
    events: &[Event],
    c: &Committed,
    requests: &std::collections::HashMap<(ProjectId, u64), fiscus_client::fiscus_ledger::ExpenseDetails>,
    json: bool,
) {
    // the amount of the event, or of the expense request it approves, rejects or pays
    let requested = |e: &Event| request_of(&e.kind).and_then(|seq| requests.get(&(e.project.clone(), seq)));
    let money = |e: &Event| show::headline_money(&e.kind).or_else(|| requested(e).map(|d| d.amount));
    if json {
        show::print_json(&json!({
            "commit": c.commit,
            "duplicate": c.duplicate,
            "positions": events.iter().zip(&c.positions).map(|(e, p)| {
                let mut v = json!({ "event_id": e.event_id, "project": p.project.as_str(), "seq": p.seq });
                if let Some(o) = v.as_object_mut() {
                    if let Some(seq) = request_of(&e.kind) {
                        o.insert("request".to_owned(), json!(seq));
                    }
                    if let Some(m) = money(e) {
                        o.insert("amount".to_owned(), show::amount_json(m.amount(), m.currency()));
                        o.insert("currency".to_owned(), json!(m.currency().code()));
                    }
                }
                v
            }).collect::<Vec<_>>(),
        }));
        return;
    }
    let mut t = show::table(&["Event id", "Project", "Seq", "Event", "Amount"], &[2, 4]);
    for (e, p) in events.iter().zip(&c.positions) {
        let amount = money(e).map(|m| show::amount(m.amount(), m.currency())).unwrap_or_default();
        let what = match (request_of(&e.kind), requested(e)) {
            (Some(seq), Some(d)) => format!("{} of request seq {seq} ({}, {})", e.kind.name(), d.payee, d.category),
            (Some(seq), None) => format!("{} of request seq {seq}", e.kind.name()),
            (None, _) => e.kind.name().to_owned(),
        };
        t.add_row(vec![e.event_id.clone(), p.project.to_string(), p.seq.to_string(), what, amount]);
    }
    if c.duplicate {
        outln!("already recorded in commit {} (nothing new was stored)\n{t}", c.commit);
    } else {
        outln!("recorded in commit {}\n{t}", c.commit);
    }
}

/// The status of a row that passed every check of an import refused for other rows.
const NOT_RECORDED: &str = "not recorded (other rows are refused)";

/// What became of one CSV row: where it is (or would be) stored, or why it is refused.
struct RowOutcome {
    /// The row.
    row: import::Row,
    /// Its seq, when recorded (or, in a dry run, the seq it would get).
    seq: Option<u64>,
    /// `already recorded`, `recorded`, `would be recorded`, [`NOT_RECORDED`] or `refused`.
    status: &'static str,
    /// Why it is refused.
    problem: Option<String>,
}

fn row_amount(r: &import::Row) -> String {
    show::headline_money(&r.event.kind).map(|m| show::amount(m.amount(), m.currency())).unwrap_or_default()
}

fn print_outcomes(outcomes: &[RowOutcome]) {
    let mut t = show::table(&["Line", "Project", "Date", "Event", "Amount", "Seq", "Status"], &[0, 4, 5]);
    for o in outcomes {
        let status = match &o.problem {
            Some(p) => format!("{}: {p}", o.status),
            None => o.status.to_owned(),
        };
        t.add_row(vec![
            o.row.line.to_string(),
            o.row.event.project.to_string(),
            o.row.event.effective_date.to_string(),
            o.row.event.kind.name().to_owned(),
            row_amount(&o.row),
            o.seq.map(|s| s.to_string()).unwrap_or_default(),
            status,
        ]);
    }
    outln!("{t}");
}

fn outcomes_json(outcomes: &[RowOutcome]) -> Vec<serde_json::Value> {
    outcomes
        .iter()
        .map(|o| {
            json!({
                "line": o.row.line,
                "project": o.row.event.project.as_str(),
                "event_id": o.row.event.event_id,
                "seq": o.seq,
                "status": o.status,
                "message": o.problem,
            })
        })
        .collect()
}

/// The refused rows as a failure naming each line, after printing them (`--json`: on stdout).
fn refuse_rows(path: &Path, outcomes: &mut [RowOutcome], json: bool, dry_run: bool) -> Failure {
    // a row that passed is not recorded either: it shows no seq, as nothing will be stored at one
    if !dry_run {
        for o in outcomes.iter_mut().filter(|o| o.status == "would be recorded") {
            (o.seq, o.status) = (None, NOT_RECORDED);
        }
    }
    let outcomes = &*outcomes;
    let refused: Vec<&RowOutcome> = outcomes.iter().filter(|o| o.problem.is_some()).collect();
    if json {
        show::print_json(&json!({
            "rows": outcomes.len(),
            "recorded": 0,
            "would_record": 0,
            "lines": outcomes_json(outcomes),
            "errors": refused.iter().map(|o| json!({"line": o.row.line, "column": null, "message": o.problem})).collect::<Vec<_>>(),
        }));
    } else {
        print_outcomes(outcomes);
    }
    let list: Vec<String> = refused
        .iter()
        .map(|o| format!("{}: line {}: {}", path.display(), o.row.line, o.problem.as_deref().unwrap_or_default()))
        .collect();
    let note = if dry_run { "the import would record nothing" } else { "nothing was recorded" };
    Failure::other(format!("{}\n{note}", list.join("\n")))
}

/// Commit numbers as runs: `2 to 324` for consecutive ones, commas between runs (`2 to 4, 9`).
fn runs(numbers: &[u64]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while let Some(&first) = numbers.get(i) {
        let mut last = first;
        while numbers.get(i + 1) == Some(&(last + 1)) {
            last += 1;
            i += 1;
        }
        out.push(if last == first { first.to_string() } else { format!("{first} to {last}") });
        i += 1;
    }
    out.join(", ")
}

/// `fiscus import csv`: parses every row, checks each against the ledger's current state (the
/// ledger's own staging on the verified chains, [`check::Chains`]), refuses likely duplicates
/// unless `allow_duplicate`, then records in commits of at most 1,000 rows (none with `dry_run`).
/// A row whose receipt hash the project already holds (or an earlier row holds) is refused unless
/// `allow_same_receipt`, which the commits then carry (`CommitRequest::allow_same_receipt`).
pub async fn import_csv(
    b: &mut Backend,
    path: &Path,
    dry_run: bool,
    allow_duplicate: bool,
    allow_same_receipt: bool,
    json: bool,
) -> Result<(), Failure> {
    let text = import::read(path).map_err(Failure::other)?;
    let lines = text.iter().filter(|&&c| c == b'\n').count() as u64;
    let bar = progress(Some(lines.saturating_sub(1)), "checking rows");
    let parsed = import::parse(&text, &mut |n| bar.set_position(n));
    bar.finish_and_clear();
    let rows = match parsed {
        Ok(rows) => rows,
        Err(errors) => {
            let list: Vec<String> = errors.iter().map(|e| format!("{}: {e}", import::source_name(path))).collect();
            if json {
                show::print_json(&json!({
                    "recorded": 0,
                    "errors": errors.iter().map(|e| json!({"line": e.line, "column": e.column, "message": e.message})).collect::<Vec<_>>(),
                }));
            }
            return Err(Failure::other(format!("{}\nnothing was recorded", list.join("\n"))));
        }
    };
    let projects: BTreeSet<ProjectId> = rows.iter().map(|r| r.event.project.clone()).collect();
    let chains = check::Chains::read(b, &projects).await?;
    let mut outcomes: Vec<RowOutcome> = rows
        .iter()
        .map(|r| {
            let seq = chains.known.recorded_seq(&r.event);
            RowOutcome {
                row: r.clone(),
                seq,
                status: if seq.is_some() { "already recorded" } else { "" },
                problem: None,
            }
        })
        .collect();
    let new: Vec<usize> = (0..outcomes.len()).filter(|&i| outcomes[i].seq.is_none()).collect();
    // Each new row against the state, in the order it would be recorded: its seq or why not.
    let events: Vec<Event> = new.iter().map(|&i| outcomes[i].row.event.clone()).collect();
    let mut earlier: std::collections::HashMap<fiscus_cli::identity::MatchKey, u64> = std::collections::HashMap::new();
    for (&i, checked) in new.iter().zip(chains.check_each(&events, allow_same_receipt)) {
        let o = &mut outcomes[i];
        match checked {
            // `recorded` once its commit is answered
            Ok(seq) => (o.seq, o.status) = (Some(seq), "would be recorded"),
            Err(e) => (o.status, o.problem) = ("refused", Some(e.to_string())),
        }
        if let (false, Some(dup)) = (allow_duplicate, chains.known.duplicate_of(&o.row.event)) {
            (o.seq, o.status) = (None, "refused");
            o.problem = Some(format!("likely a duplicate: {dup}; give --allow-duplicate to record it anyway"));
        }
        // The same rule within the file: a bank export that lists one transaction twice.
        if let Some(key) = fiscus_cli::identity::MatchKey::of(&o.row.event) {
            match (allow_duplicate, earlier.get(&key)) {
                (false, Some(line)) => {
                    (o.seq, o.status) = (None, "refused");
                    o.problem = Some(format!(
                        "likely a duplicate of line {line} of this file: {key}; give --allow-duplicate to record both"
                    ));
                }
                _ => {
                    earlier.entry(key).or_insert(o.row.line);
                }
            }
        }
    }
    if outcomes.iter().any(|o| o.problem.is_some()) {
        return Err(refuse_rows(path, &mut outcomes, json, dry_run));
    }
    // The commits as they will be sent, checked whole (a commit is all or nothing).
    let chunks: Vec<Vec<usize>> = new.chunks(COMMIT_EVENTS_MAX).map(<[usize]>::to_vec).collect();
    let commits: Vec<Vec<Event>> =
        chunks.iter().map(|c| c.iter().map(|&i| outcomes[i].row.event.clone()).collect()).collect();
    if let Err((k, e)) = chains.check_commits(&commits, allow_same_receipt) {
        let rows: Vec<import::Row> = chunks[k].iter().map(|&i| outcomes[i].row.clone()).collect();
        return Err(Failure::other(format!(
            "{}: {}\nnothing was recorded",
            import::source_name(path),
            import::locate(&e.to_string(), &rows)
        )));
    }
    // A daemon checks each commit as it would record it (the token's role included), storing
    // nothing: what the ledger's staging above cannot know is refused here, by CSV line. It checks
    // each on the state before the import: a later commit's refusal by the state (an overdraft
    // that an earlier commit's money covers) is what the staging above has already decided, with
    // the earlier commits in it, and is not the daemon's to repeat.
    if matches!(b, Backend::Remote(_)) {
        for (k, (chunk, events)) in chunks.iter().zip(&commits).enumerate() {
            let options = fiscus_client::CommitOptions { allow_same_receipt, dry_run: true };
            let checked = b.record_with(events, &[], options).await;
            if let (true, Err(Failure::Client(e))) = (k > 0, &checked) {
                if matches!(e.code(), Some(fiscus_client::Code::FailedPrecondition | fiscus_client::Code::Aborted)) {
                    continue;
                }
            }
            if let Err(e) = checked {
                let rows: Vec<import::Row> = chunk.iter().map(|&i| outcomes[i].row.clone()).collect();
                let message = format!("{}: {}", import::source_name(path), import::locate(&e.to_string(), &rows));
                let note = if dry_run { "the import would record nothing" } else { "nothing was recorded" };
                if json {
                    show::print_json(&json!({
                        "rows": outcomes.len(),
                        "recorded": 0,
                        "errors": [{"line": null, "column": null, "message": message}],
                    }));
                }
                return Err(Failure::other(format!("{message}\n{note}")));
            }
        }
    }
    let mut numbers = Vec::new();
    if !dry_run {
        let bar = progress(Some(new.len() as u64), "recording");
        for (chunk, events) in chunks.iter().zip(&commits) {
            let options = fiscus_client::CommitOptions { allow_same_receipt, dry_run: false };
            match b.record_with(events, &[], options).await {
                Ok(c) => {
                    numbers.push(c.commit);
                    for (&i, p) in chunk.iter().zip(&c.positions) {
                        (outcomes[i].seq, outcomes[i].status) = (Some(p.seq), "recorded");
                    }
                }
                Err(e) => {
                    bar.finish_and_clear();
                    let rows: Vec<import::Row> = chunk.iter().map(|&i| outcomes[i].row.clone()).collect();
                    let recorded: usize = chunks[..numbers.len()].iter().map(Vec::len).sum();
                    // A commit the daemon did not answer may or may not have been recorded.
                    let (cause, in_doubt) = match &e {
                        Failure::Unanswered(cause) => (cause.to_string(), rows.len()),
                        other => (other.to_string(), 0),
                    };
                    let note = import::failed_commit_note(recorded, (in_doubt > 0).then_some(rows.as_slice()));
                    let message = format!("{}: {}", import::source_name(path), import::locate(&cause, &rows));
                    if json {
                        show::print_json(&json!({
                            "rows": outcomes.len(),
                            "recorded": recorded,
                            "may_have_been_recorded": in_doubt,
                            "commits": numbers,
                            "errors": [{"line": null, "column": null, "message": message}],
                        }));
                    }
                    return Err(Failure::other(format!("{message}\n{note}")));
                }
            }
            bar.inc(events.len() as u64);
        }
        bar.finish_and_clear();
    }
    let already = outcomes.len() - new.len();
    if json {
        show::print_json(&json!({
            "rows": outcomes.len(),
            "already_recorded": already,
            "recorded": if dry_run { 0 } else { new.len() },
            "would_record": if dry_run { new.len() } else { 0 },
            "commits": numbers,
            "lines": outcomes_json(&outcomes),
        }));
    } else {
        print_outcomes(&outcomes);
        let commits = if numbers.len() == 1 { "commit" } else { "commits" };
        let numbers = runs(&numbers);
        match (dry_run, new.len()) {
            (true, n) => {
                outln!("{} checked; {n} would be recorded, {already} already are", import::rows(outcomes.len()))
            }
            (false, 0) => outln!("{}, all already recorded: nothing new", import::rows(outcomes.len())),
            (false, n) => {
                outln!("{}; {n} recorded in {commits} {numbers}; {already} already were", import::rows(outcomes.len()))
            }
        }
    }
    Ok(())
}

/// Export formats.
#[derive(Clone, Copy, Debug)]
pub enum Format {
    /// hledger journal.
    Hledger,
    /// beancount.
    Beancount,
    /// CSV per posting.
    Csv,
    /// JSON lines per event.
    Jsonl,
}

/// `fiscus export`.
pub async fn export(
    b: &Backend,
    format: Format,
    project: Option<&str>,
    output: Option<&Path>,
    json: bool,
) -> Result<(), Failure> {
    let mut project = project.map(project_arg).transpose()?;
    let bar = progress(None, "reading records");
    let records = b.records(&mut project, &mut |n| bar.set_position(n)).await?;
    bar.finish_and_clear();
    let scope = project.as_ref();
    let bar = progress(Some(records.len() as u64), "exporting");
    let items = records.iter().map(|(r, h)| {
        bar.inc(1);
        (r, *h)
    });
    let write = |out: &mut dyn Write| match format {
        Format::Hledger => export::hledger(out, items, scope),
        Format::Beancount => export::beancount(out, items, scope),
        Format::Csv => export::csv(out, items, scope),
        Format::Jsonl => export::jsonl(out, items, scope),
    };
    let summary = match output.filter(|p| *p != Path::new("-")) {
        // a new private file put in place whole: never written into what is at the path
        Some(path) => crate::files::write_replacing(path, write)
            .map_err(|e| Failure::other(format!("cannot write {}: {e}", path.display())))?,
        None => write(&mut std::io::stdout().lock()).or_else(|e| match e.kind() {
            // A reader that stopped early (`fiscus export … | head`) is not an error.
            std::io::ErrorKind::BrokenPipe => Ok(export::Summary::default()),
            _ => Err(Failure::other(format!("export: {e}"))),
        })?,
    };
    bar.finish_and_clear();
    if let Some(path) = output.filter(|p| *p != Path::new("-")) {
        if json {
            show::print_json(&json!({
                "file": path.display().to_string(),
                "records": summary.records,
                "transactions": summary.transactions,
                "postings": summary.postings,
            }));
        } else {
            outln!(
                "wrote {}: {} events, {} transactions, {} postings",
                path.display(),
                summary.records,
                summary.transactions,
                summary.postings
            );
        }
    }
    Ok(())
}

/// `fiscus tail`: commits as they are made.
pub async fn tail(
    b: &Backend,
    project: Option<&str>,
    after: Option<u64>,
    limit: Option<u64>,
    json: bool,
) -> Result<(), Failure> {
    let Backend::Remote(client) = b else {
        return Err(Failure::usage("tail follows a daemon: give --server (a local store has no live commits)"));
    };
    let project = project.map(project_arg).transpose()?;
    let head = client.head(project.as_ref()).await?.commit;
    let after = after.unwrap_or(head);
    if after > head {
        eprintln!("fiscus tail: the server's head is commit {head}; nothing is shown before commit {}", after + 1);
    }
    // The commit tail is at and its hash (the last one shown, or the one it started after):
    // following again, the server must still hold it.
    let mut shown: Option<(u64, Hash)> = None;
    let mut sub = match (&project, after) {
        // Commit `after` is read first, not shown: it anchors the history followed, so that a
        // server that comes back with another one is found before anything is shown.
        (None, 1..) if after <= head => {
            let mut sub = client.subscribe(after - 1, None).await?;
            match sub.next().await {
                Some(Ok(anchor)) if anchor.commit == after => shown = Some((anchor.commit, anchor.commit_hash)),
                Some(Ok(other)) => {
                    return Err(Failure::other(format!(
                        "the server answered commit {} for commit {after}",
                        other.commit
                    )))
                }
                Some(Err(e)) => return Err(e.into()),
                None => return Err(Failure::other(format!("the server ended the stream before commit {after}"))),
            }
            sub
        }
        _ => client.subscribe(after, project.as_ref()).await?,
    };
    eprintln!("fiscus tail: following the commits after commit {after}");
    let mut last = after;
    // With --project: the project's last record shown (seq and hash), which the server must still hold.
    let mut shown_record: Option<(u64, Hash)> = None;
    let mut seen = 0u64;
    let mut attempts = 0u32;
    while limit.is_none_or(|l| seen < l) {
        let mut lost = match sub.next().await {
            Some(Ok(notice)) => {
                attempts = 0;
                last = notice.commit;
                shown = Some((notice.commit, notice.commit_hash));
                if let Some(e) = notice.events.last() {
                    shown_record = Some((e.seq, e.hash));
                }
                seen += 1;
                print_notice(&notice, json);
                continue;
            }
            Some(Err(e)) if !transient(&e) => return Err(e.into()),
            Some(Err(e)) => e.to_string(),
            None => "the server ended the stream".to_owned(),
        };
        // Follow again from the last commit shown: none is missed, none shown twice, and the
        // history followed is the one shown (`follow_again`).
        sub = loop {
            attempts += 1;
            if attempts > TAIL_RECONNECTS_MAX {
                return Err(Failure::other(format!(
                    "lost the server ({lost}); gave up after {TAIL_RECONNECTS_MAX} attempts to follow again"
                )));
            }
            let wait = TAIL_BACKOFF_FIRST.saturating_mul(1 << (attempts - 1).min(6)).min(TAIL_BACKOFF_MAX);
            eprintln!("fiscus tail: {lost}; following again after commit {last} in {} ms", wait.as_millis());
            tokio::time::sleep(wait).await;
            let at = match &project {
                Some(p) => At::Record(p, shown_record),
                None => At::Commit(shown),
            };
            match follow_again(client, at, last).await {
                Ok(s) => break s,
                Err(Failure::Client(e)) if transient(&e) => lost = e.to_string(),
                Err(e) => return Err(e),
            }
        };
    }
    Ok(())
}

/// Where `tail` is in the history it follows, to be found again on the server.
enum At<'p> {
    /// Following every commit: the commit it is at (the last one shown, or the one it started
    /// after), with its hash.
    Commit(Option<(u64, Hash)>),
    /// Following one project: its last record shown (seq and hash).
    Record(&'p ProjectId, Option<(u64, Hash)>),
}

/// `tail`'s stream after commit `last` once the server was lost, checked to continue the history
/// followed: the server still holds the commit tail is at (its head is not behind it, and read
/// again first, not shown twice, it has the same hash), or with --project the project's last
/// record shown (read from its chain at that seq, which does not wait for a new commit). A daemon
/// restarted on another ledger, or on a copy that lost commits, is refused by name instead of
/// being followed as if it went on from what was shown.
async fn follow_again(
    client: &fiscus_client::Client,
    at: At<'_>,
    last: u64,
) -> Result<fiscus_client::Subscription, Failure> {
    let another = |what: String| {
        Failure::other(format!(
            "the server's history is not the one that was followed: {what} (another ledger, or a copy that was \
             changed or lost commits), so tail stops"
        ))
    };
    match at {
        At::Commit(None) | At::Record(_, None) => {}
        At::Record(project, Some((seq, hash))) => {
            let unknown = |e: fiscus_client::ClientError| match e.code() {
                Some(fiscus_client::Code::NotFound) => another(format!("the server does not know project {project}")),
                _ => Failure::Client(e),
            };
            let mut chain = client.export_chain_stream(project, seq).await.map_err(unknown)?;
            let first = chain.next_batch().await.map_err(unknown)?.and_then(|b| b.into_iter().next());
            match first {
                Some(r) if r.seq == seq && fiscus_client::fiscus_ledger::chain::record_hash(&r.bytes) == hash => {}
                Some(r) => {
                    let now = fiscus_client::fiscus_ledger::chain::record_hash(&r.bytes);
                    return Err(another(format!(
                        "{project}#{seq}, where tail was, had hash {}, and the server now has {} there",
                        fiscus_client::short(&hash),
                        fiscus_client::short(&now)
                    )));
                }
                None => return Err(another(format!("{project}'s chain ends before {project}#{seq}, where tail was"))),
            }
            return Ok(client.subscribe(last, Some(project)).await?);
        }
        At::Commit(Some((commit, hash))) => {
            let head = client.head(None).await?.commit;
            if head < commit {
                return Err(Failure::other(format!(
                    "the server's head is commit {head}, behind commit {commit} where tail was: it is not the ledger \
                     that was followed (another one, or a copy that lost commits), so tail stops"
                )));
            }
            let mut sub = client.subscribe(commit.saturating_sub(1), None).await?;
            return match sub.next().await {
                Some(Ok(again)) if again.commit == commit && again.commit_hash == hash => Ok(sub),
                Some(Ok(again)) => Err(another(format!(
                    "commit {commit}, where tail was, had hash {}, and the server now has {}",
                    fiscus_client::short(&hash),
                    match again.commit == commit {
                        true => format!("hash {} there", fiscus_client::short(&again.commit_hash)),
                        false => format!("commit {} next", again.commit),
                    }
                ))),
                Some(Err(e)) => Err(e.into()),
                None => Err(Failure::Client(fiscus_client::ClientError::Status {
                    code: fiscus_client::Code::Unavailable,
                    message: "the server ended the stream".to_owned(),
                    field: None,
                })),
            };
        }
    }
    let project = match at {
        At::Record(p, _) => Some(p),
        At::Commit(_) => None,
    };
    Ok(client.subscribe(last, project).await?)
}

/// Attempts in a row to follow again after the server is lost, before `tail` gives up.
const TAIL_RECONNECTS_MAX: u32 = 30;
/// The wait before the first attempt; it doubles with each failed one, up to [`TAIL_BACKOFF_MAX`].
const TAIL_BACKOFF_FIRST: std::time::Duration = std::time::Duration::from_millis(250);
/// The longest wait between two attempts.
const TAIL_BACKOFF_MAX: std::time::Duration = std::time::Duration::from_secs(10);

/// True for a lost connection or a server restarting or busy; false for a refusal that another try
/// would meet again (a bad token, another project's data, a bad argument).
fn transient(e: &fiscus_client::ClientError) -> bool {
    use fiscus_client::{ClientError, Code};
    match e {
        ClientError::Connect { .. } => true,
        ClientError::Status { code, .. } => matches!(
            code,
            Code::Unavailable | Code::Unknown | Code::Cancelled | Code::DeadlineExceeded | Code::ResourceExhausted
        ),
        _ => false,
    }
}

/// One event of `tail` on one line, in columns that line up from one line to the next: commit,
/// date, kind and amount padded to fixed widths (the longest kind name, an amount of 1e15 with
/// its currency), `project#seq` padded to the longest project id and an eight-digit seq, then the
/// memo and the actor.
fn notice_line(commit: u64, e: &fiscus_client::RecordedEvent) -> String {
    let money = show::headline_money(&e.event.kind).map(|m| show::amount(m.amount(), m.currency())).unwrap_or_default();
    let at = format!("{}#{}", e.event.project, e.seq);
    format!(
        "commit {commit:>6}  {}  {:<20}  {money:>24}  {at:<49}  {}  ({})",
        e.event.effective_date,
        e.event.kind.name(),
        show::clip(&e.event.memo, 60),
        e.actor
    )
}

fn print_notice(notice: &fiscus_client::CommitNotice, json: bool) {
    for e in &notice.events {
        if json {
            let mut v = show::event_as_json(e);
            if let Some(o) = v.as_object_mut() {
                o.insert("commit_hash".into(), show::hex(&notice.commit_hash).into());
            }
            outln!("{v}");
        } else {
            outln!("{}", notice_line(notice.commit, e));
        }
    }
    let _ = std::io::stdout().flush();
}

/// `fiscus token`: the same words as `fiscusd token` (one implementation, `fiscus_tokens::run`);
/// `--json` for scripts.
pub fn token(command: fiscus_tokens::TokenAction, json: bool) -> Result<(), Failure> {
    let failure = |e: fiscus_tokens::TokenError| Failure::other(e.to_string());
    if let fiscus_tokens::TokenAction::Add { role, .. } = &command {
        fiscus_tokens::Role::parse(role).map_err(|e| Failure::usage(e.to_string()))?;
    }
    if !json {
        return fiscus_tokens::run(&command, &mut std::io::stdout(), &mut std::io::stderr()).map_err(failure);
    }
    match command {
        fiscus_tokens::TokenAction::Add { tokens, role, name } => {
            let (token, name) = crate::tokens::add(&tokens, &role, name.as_deref())?;
            show::print_json(&json!({ "token": token, "name": name, "role": role }));
        }
        fiscus_tokens::TokenAction::List { tokens } => {
            let list = crate::tokens::list(&tokens)?;
            show::print_json(&serde_json::Value::Array(
                list.iter().map(|(n, r)| json!({ "name": n, "role": r })).collect(),
            ));
        }
        fiscus_tokens::TokenAction::Revoke { tokens, name } => {
            let entry = fiscus_tokens::revoke(&tokens, &name).map_err(failure)?;
            show::print_json(&json!({ "revoked": entry.name, "role": entry.role.to_string() }));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use fiscus_client::fiscus_ledger::event::{Fund, Source};
    use fiscus_client::fiscus_ledger::{EventKind, Money};

    use super::*;

    /// An import's commits read as runs: the 323 commits of a 32 MiB file are one line, not 323 numbers.
    #[test]
    fn commit_numbers_read_as_runs() {
        assert_eq!(runs(&[3]), "3");
        assert_eq!(runs(&(2..=324).collect::<Vec<_>>()), "2 to 324");
        assert_eq!(runs(&[2, 3, 4, 9, 11, 12]), "2 to 4, 9, 11 to 12");
        assert_eq!(runs(&[]), "");
    }

    fn recorded(project: &str, seq: u64, kind: EventKind) -> fiscus_client::RecordedEvent {
        let event = Event {
            event_id: format!("e{seq}"),
            project: project_arg(project).expect("project id"),
            effective_date: parse_date("date", "2026-03-01").expect("date"),
            memo: "memo".to_owned(),
            reference: None,
            kind,
        };
        fiscus_client::RecordedEvent {
            seq,
            commit: seq,
            actor: "accountant:bob".to_owned(),
            recorded_at_us: 0,
            hash: [0; 32],
            event,
        }
    }

    #[test]
    fn tail_lines_keep_their_columns_whatever_the_project_kind_and_amount() {
        let usd = |a: &str| Money::parse("amount", a, "USD").expect("money");
        let gift = EventKind::ContributionReceived {
            amount: usd("1250000.00"),
            from: "Acme".to_owned(),
            source: Source::Sponsorship,
            fund: Fund::Unrestricted,
            fee_bps: None,
        };
        let lines = [
            notice_line(7, &recorded("a", 1, EventKind::AdvanceRepaid { amount: usd("5.00") })),
            notice_line(123_456, &recorded("rustconf-2026-with-a-long-name", 1234, gift)),
            notice_line(8, &recorded("meetup", 2, EventKind::ProjectClosed {})),
        ];
        let memo_at: Vec<Option<usize>> = lines.iter().map(|l| l.find("  memo  (")).collect();
        assert!(memo_at.iter().all(|m| m.is_some() && *m == memo_at[0]), "{lines:#?}");
        let kind_at: Vec<Option<usize>> = ["AdvanceRepaid", "ContributionReceived", "ProjectClosed"]
            .iter()
            .zip(&lines)
            .map(|(k, l)| l.find(k))
            .collect();
        assert!(kind_at.iter().all(|k| k.is_some() && *k == kind_at[0]), "{lines:#?}");
    }
}
