//! Exports load in the real tools and agree with Fiscus: the demo year and a generated year are
//! exported to hledger and beancount, loaded with `hledger`, with `ledger` (ledger-cli, the same
//! hledger journal) and with beancount's own loader (after
//! `bean-check`), and every account's balance per currency is compared, exactly, with
//! `Projection::trial_balance()` (and, for one project's export, with that project's books).
//!
//! The tools come from Debian: `bash .ci/install`. Without them these tests fail (they
//! never skip).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;
use std::sync::OnceLock;

use chrono::NaiveDate;
use fiscus_ledger::commit::{CommitRequest, Group, MemoryLookup};
use fiscus_ledger::event::{Event, EventKind, ExpenseDetails, Fund, ProjectKind, Receipt, Source};
use fiscus_ledger::export::{self, Scope};
use fiscus_ledger::money::{Currency, Money};
use fiscus_ledger::posting::Account;
use fiscus_ledger::projection::{ProjectState, Projection};
use fiscus_ledger::record::Record;
use fiscus_ledger::store::Store;
use fiscus_ledger::{Hash, ProjectId};
use fiscus_workload::{demo_year, generate, WorkloadConfig};
use rust_decimal::Decimal;

const INSTALL: &str = "bash .ci/install";

/// (account in Fiscus's naming, currency code) → debit-positive balance; zero balances left out.
type Balances = BTreeMap<(String, String), Decimal>;

// ---------------------------------------------------------------------------------------------
// The tools

/// The python interpreter that has beancount (Debian's python3-beancount lives in /usr/bin/python3,
/// which need not be the first `python3` on PATH).
fn beancount_python() -> &'static str {
    static PYTHON: OnceLock<Option<String>> = OnceLock::new();
    let found = PYTHON.get_or_init(|| {
        ["/usr/bin/python3", "python3"].into_iter().map(str::to_owned).find(|py| {
            Command::new(py).args(["-c", "import beancount.loader"]).output().is_ok_and(|o| o.status.success())
        })
    });
    match found {
        Some(py) => py,
        None => panic!("no python3 with the beancount module: run {INSTALL} (apt-get install beancount)"),
    }
}

fn run(program: &str, args: &[&str]) -> String {
    let output = Command::new(program).args(args).output().unwrap_or_else(|e| {
        panic!("cannot run {program} ({e}): the accounting tools are not installed; run {INSTALL}")
    });
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{program} {args:?} failed ({}):\n{stderr}\n{stdout}", output.status);
    stdout
}

fn require_tools() {
    for (tool, arg) in [("hledger", "--version"), ("bean-check", "--version"), ("ledger", "--version")] {
        let ok = Command::new(tool).arg(arg).output().is_ok_and(|o| o.status.success());
        assert!(ok, "{tool} is not installed: run {INSTALL} (it installs hledger, beancount and ledger from Debian)");
    }
    let _ = beancount_python();
}

fn decimal(text: &str, what: &str) -> Decimal {
    Decimal::from_str(text.trim()).unwrap_or_else(|e| panic!("{what}: {text:?} is not a decimal: {e}"))
}

/// Balances as hledger computes them: `balance --flat --no-total -O csv --layout=bare` gives one
/// row per account and commodity. `hledger check --strict` must pass first (accounts and
/// commodities declared, the journal parses).
fn hledger_balances(file: &Path) -> Balances {
    let f = file.to_str().expect("utf-8 path");
    run("hledger", &["-f", f, "check", "--strict"]);
    let out = run("hledger", &["-f", f, "balance", "--flat", "--no-total", "-O", "csv", "--layout=bare"]);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some(r#""account","commodity","balance""#), "hledger csv header:\n{out}");
    let mut balances = Balances::new();
    for line in lines.filter(|l| !l.is_empty()) {
        let cells: Vec<&str> = line.split(',').map(|c| c.trim_matches('"')).collect();
        let [account, commodity, amount] = cells.as_slice() else { panic!("hledger csv row {line:?}") };
        let amount = decimal(amount, "hledger balance");
        if !amount.is_zero() {
            let old = balances.insert((account.to_string(), commodity.to_string()), amount);
            assert!(old.is_none(), "hledger printed {account} {commodity} twice");
        }
    }
    balances
}

/// Balances as ledger-cli computes them from the same hledger journal: `ledger -f FILE balance` must
/// read it, then `register` prints every posting as `account<TAB>quantity<TAB>commodity` (exact
/// decimals), summed here per account and commodity.
fn ledger_cli_balances(file: &Path) -> Balances {
    let f = file.to_str().expect("utf-8 path");
    run("ledger", &["-f", f, "balance"]);
    let out =
        run("ledger", &["-f", f, "register", "--format", "%(account)\t%(quantity(amount))\t%(commodity(amount))\n"]);
    let mut balances = Balances::new();
    for line in out.lines().filter(|l| !l.is_empty()) {
        let cells: Vec<&str> = line.split('\t').collect();
        let [account, amount, commodity] = cells.as_slice() else { panic!("ledger register row {line:?}") };
        let sum = balances.entry((account.to_string(), commodity.to_string())).or_insert(Decimal::ZERO);
        *sum = sum.checked_add(decimal(amount, "ledger register")).expect("ledger sums in range");
    }
    balances.retain(|_, v| !v.is_zero());
    balances
}

/// The beancount loader, run by a small script: errors go to stderr (and fail it), balances per
/// account and currency come from beancount's own realization, printed as exact decimals.
const BEANCOUNT_BALANCES: &str = r#"
import sys
from beancount import loader
from beancount.core import realization
entries, errors, options = loader.load_file(sys.argv[1])
for e in errors:
    print(e, file=sys.stderr)
if errors:
    sys.exit(1)
for acc in realization.iter_children(realization.realize(entries)):
    for pos in acc.balance:
        print(acc.account, pos.units.currency, str(pos.units.number), sep="\t")
"#;

/// Balances as beancount computes them, with account names mapped back to Fiscus's.
fn beancount_balances(file: &Path) -> Balances {
    let f = file.to_str().expect("utf-8 path");
    let check = run("bean-check", &[f]);
    assert!(check.trim().is_empty(), "bean-check printed:\n{check}");
    let out = run(beancount_python(), &["-c", BEANCOUNT_BALANCES, f]);
    let mut balances = Balances::new();
    for line in out.lines().filter(|l| !l.is_empty()) {
        let cells: Vec<&str> = line.split('\t').collect();
        let [account, currency, amount] = cells.as_slice() else { panic!("beancount row {line:?}") };
        let fiscus = export::fiscus_account(account)
            .unwrap_or_else(|| panic!("beancount account {account} is not one the export writes"));
        let amount = decimal(amount, "beancount balance");
        if !amount.is_zero() {
            let old = balances.insert((fiscus, currency.to_string()), amount);
            assert!(old.is_none(), "beancount has {account} {currency} twice");
        }
    }
    balances
}

/// Balances from the CSV export, parsed by Python's csv module (an independent RFC 4180 reader).
const CSV_BALANCES: &str = r#"
import csv, sys
from decimal import Decimal
sums = {}
with open(sys.argv[1], newline="", encoding="utf-8") as f:
    rows = list(csv.reader(f, strict=True))
assert rows[0] == ["date","project","seq","event_id","kind","account","currency","amount","memo","reference","hash",
    "reverses","reverses_seq","reverses_under","reason"], rows[0]
for row in rows[1:]:
    assert len(row) == 15, row
    # A reversal says what it reverses (kind and seq); nothing else does.
    assert (row[4] == "EventReversed") == (row[11] != "" and row[12].isdigit()), row
    key = (row[5], row[6])
    sums[key] = sums.get(key, Decimal(0)) + Decimal(row[7])
for (account, currency), total in sorted(sums.items()):
    print(account, currency, str(total), sep="\t")
"#;

fn csv_balances(file: &Path) -> Balances {
    let f = file.to_str().expect("utf-8 path");
    let out = run(beancount_python(), &["-c", CSV_BALANCES, f]);
    let mut balances = Balances::new();
    for line in out.lines().filter(|l| !l.is_empty()) {
        let cells: Vec<&str> = line.split('\t').collect();
        let [account, currency, amount] = cells.as_slice() else { panic!("csv sum row {line:?}") };
        let amount = decimal(amount, "csv sum");
        if !amount.is_zero() {
            balances.insert((account.to_string(), currency.to_string()), amount);
        }
    }
    balances
}

/// Balances from the JSON lines export; every amount must be a JSON string.
fn jsonl_balances(text: &str) -> Balances {
    let mut balances = Balances::new();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("jsonl line parses");
        for p in v["postings"].as_array().expect("postings array") {
            let amount = p["amount"].as_str().unwrap_or_else(|| panic!("posting amount is not a string: {p}"));
            let key = (
                p["account"].as_str().expect("account").to_owned(),
                p["currency"].as_str().expect("currency").to_owned(),
            );
            *balances.entry(key).or_default() += decimal(amount, "jsonl amount");
        }
    }
    balances.retain(|_, v| !v.is_zero());
    balances
}

// ---------------------------------------------------------------------------------------------
// Fiscus's side

fn trial_balance(projection: &Projection) -> Balances {
    projection
        .trial_balance()
        .into_iter()
        .map(|line| ((line.account, line.currency.code().to_owned()), line.amount))
        .collect()
}

/// The accounts one project's events moved, from its books.
fn project_balances(state: &ProjectState) -> Balances {
    state.accounts().into_iter().map(|line| ((line.account, line.currency.code().to_owned()), line.amount)).collect()
}

/// Compares two balance sets entry by entry, naming every difference.
fn assert_same(what: &str, tool: &Balances, fiscus: &Balances) {
    let mut diffs = Vec::new();
    for (key, want) in fiscus {
        match tool.get(key) {
            Some(got) if got == want => {}
            Some(got) => diffs.push(format!("{} {}: tool {got}, Fiscus {want}", key.0, key.1)),
            None => diffs.push(format!("{} {}: missing in the tool, Fiscus {want}", key.0, key.1)),
        }
    }
    for (key, got) in tool {
        if !fiscus.contains_key(key) {
            diffs.push(format!("{} {}: tool {got}, Fiscus has no balance", key.0, key.1));
        }
    }
    assert!(diffs.is_empty(), "{what}: {} differences:\n{}", diffs.len(), diffs.join("\n"));
    assert!(!fiscus.is_empty(), "{what}: nothing to compare");
}

/// A store in a temporary directory holding `requests` (committed in groups), and every record of
/// every chain read back with its hash, chain by chain.
fn store_with(requests: &[CommitRequest]) -> (tempfile::TempDir, Projection, Vec<(Record, Hash)>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut store, _) = Store::open(dir.path()).expect("open store");
    for group in requests.chunks(512) {
        for (i, answer) in store.commit_group(group).expect("storage").into_iter().enumerate() {
            if let Err(e) = answer {
                panic!("request {i} of a group refused: {e}");
            }
        }
    }
    let projection = store.projection().clone();
    let mut records = Vec::new();
    for chain in projection.chains() {
        let raw = store.raw_records(chain.id.as_str(), 1, usize::MAX).expect("read chain");
        assert_eq!(raw.len() as u64, chain.head.seq, "{} reads back whole", chain.id);
        for r in raw {
            records.push((Record::decode(&r.bytes).expect("decode"), r.hash));
        }
    }
    store.close().expect("close");
    (dir, projection, records)
}

/// The same in memory (staging as the store does), for hand-made books.
fn memory_with(requests: &[CommitRequest]) -> (Projection, Vec<(Record, Hash)>) {
    let mut projection = Projection::new();
    let mut lookup = MemoryLookup::default();
    let mut records = Vec::new();
    for req in requests {
        let mut group = Group::new(&projection);
        if let Err(e) = group.stage(req, &lookup) {
            panic!("request refused: {e}\n{req:?}");
        }
        let commits = projection.absorb(group.finish());
        lookup.absorb(&commits);
        for c in &commits {
            for r in &c.records {
                records.push((Record::decode(&r.bytes).expect("decode"), r.hash));
            }
        }
    }
    (projection, records)
}

type Exporter = fn(&mut Vec<u8>, &[(Record, Hash)], Scope<'_>) -> std::io::Result<export::Summary>;

fn write_export(dir: &Path, name: &str, records: &[(Record, Hash)], scope: Scope<'_>, f: Exporter) -> PathBuf {
    let mut bytes = Vec::new();
    f(&mut bytes, records, scope).expect("export");
    let path = dir.join(name);
    let mut file = std::fs::File::create(&path).expect("create export file");
    file.write_all(&bytes).expect("write export file");
    // FISCUS_EXPORT_KEEP=DIR keeps a copy of every export for a look.
    if let Some(keep) = std::env::var_os("FISCUS_EXPORT_KEEP") {
        let scope = scope.map_or("all", |p| p.as_str());
        let copy = Path::new(&keep).join(format!("{}-{scope}-{name}", records.len()));
        std::fs::write(&copy, &bytes).expect("keep a copy of the export");
    }
    path
}

fn hledger_export(out: &mut Vec<u8>, r: &[(Record, Hash)], scope: Scope<'_>) -> std::io::Result<export::Summary> {
    export::hledger(out, r.iter().map(|(rec, h)| (rec, *h)), scope)
}

fn beancount_export(out: &mut Vec<u8>, r: &[(Record, Hash)], scope: Scope<'_>) -> std::io::Result<export::Summary> {
    export::beancount(out, r.iter().map(|(rec, h)| (rec, *h)), scope)
}

fn csv_export(out: &mut Vec<u8>, r: &[(Record, Hash)], scope: Scope<'_>) -> std::io::Result<export::Summary> {
    export::csv(out, r.iter().map(|(rec, h)| (rec, *h)), scope)
}

fn jsonl_export(out: &mut Vec<u8>, r: &[(Record, Hash)], scope: Scope<'_>) -> std::io::Result<export::Summary> {
    export::jsonl(out, r.iter().map(|(rec, h)| (rec, *h)), scope)
}

/// Exports `records` in all four forms for `scope` and compares each with `expected`.
fn check_all_formats(what: &str, records: &[(Record, Hash)], scope: Scope<'_>, expected: &Balances) {
    let dir = tempfile::tempdir().expect("temp dir");
    let journal = write_export(dir.path(), "books.journal", records, scope, hledger_export);
    assert_same(&format!("{what}: hledger"), &hledger_balances(&journal), expected);
    assert_same(&format!("{what}: ledger-cli"), &ledger_cli_balances(&journal), expected);
    let ledger = write_export(dir.path(), "books.beancount", records, scope, beancount_export);
    assert_same(&format!("{what}: beancount"), &beancount_balances(&ledger), expected);
    let csv = write_export(dir.path(), "books.csv", records, scope, csv_export);
    assert_same(&format!("{what}: csv"), &csv_balances(&csv), expected);
    let mut jsonl = Vec::new();
    jsonl_export(&mut jsonl, records, scope).expect("jsonl");
    let jsonl = String::from_utf8(jsonl).expect("jsonl is utf-8");
    assert_same(&format!("{what}: jsonl"), &jsonl_balances(&jsonl), expected);
}

/// The project with the most records (ties: the first in id order).
fn busiest_project(projection: &Projection) -> &ProjectState {
    projection.projects().max_by_key(|p| (p.head.seq, std::cmp::Reverse(p.id.clone()))).expect("a project")
}

// ---------------------------------------------------------------------------------------------
// Tests against the tools

#[test]
fn demo_year_exports_load_with_fiscus_balances() {
    require_tools();
    let (_dir, projection, records) = store_with(&demo_year());
    check_all_formats("demo year", &records, None, &trial_balance(&projection));
    for id in ["rustconf-2026", "berlin-rust-meetup"] {
        let project = ProjectId::parse("project", id).expect("demo project");
        let state = projection.project(id).expect("demo project exists");
        let expected = project_balances(state);
        check_all_formats(&format!("demo year, {id}"), &records, Some(&project), &expected);
        // The project's own balance view agrees with its Unrestricted account in the export.
        for b in state.balances() {
            let key = (Account::Unrestricted(id).to_string(), b.currency.code().to_owned());
            assert_eq!(-expected.get(&key).copied().unwrap_or_default(), b.balance, "{id} {}", b.currency);
        }
    }
}

#[test]
fn generated_year_exports_load_with_fiscus_balances() {
    require_tools();
    let requests: Vec<CommitRequest> = generate(&WorkloadConfig::new(3_000, 7)).collect();
    let (_dir, projection, records) = store_with(&requests);
    assert_eq!(records.len(), 3_000);
    let trial = trial_balance(&projection);
    let currencies: std::collections::BTreeSet<&str> = trial.keys().map(|(_, c)| c.as_str()).collect();
    assert!(currencies.len() >= 2, "the generated year uses several currencies: {currencies:?}");
    check_all_formats("generated year", &records, None, &trial);
    let busiest = busiest_project(&projection);
    check_all_formats(
        &format!("generated year, {}", busiest.id),
        &records,
        Some(&busiest.id),
        &project_balances(busiest),
    );
}

// ---------------------------------------------------------------------------------------------
// Tricky text

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).expect("test decimal")
}

fn event(id: &str, project: &str, day: u32, memo: &str, reference: Option<&str>, kind: EventKind) -> Event {
    Event {
        event_id: id.to_owned(),
        project: ProjectId::parse("project", project).expect("project id"),
        effective_date: NaiveDate::from_ymd_opt(2026, 3, day).expect("date"),
        memo: memo.to_owned(),
        reference: reference.map(str::to_owned),
        kind,
    }
}

fn request(events: Vec<Event>) -> CommitRequest {
    CommitRequest {
        allow_same_receipt: false,
        events,
        expected_heads: vec![],
        actor: "accountant:alice".to_owned(),
        // 2027-01-01T00:00:00Z: after every date the tests give their events
        recorded_at: 1_798_761_600_000_000,
    }
}

fn money(amount: &str, code: &str) -> Money {
    Money::parse("amount", amount, code).expect("test money")
}

fn open(id: &str, project: &str, code: &str) -> Event {
    let kind = EventKind::ProjectOpened {
        name: format!("Project {project}"),
        kind: ProjectKind::Conference,
        fee_bps: 700,
        currency: Currency::from_code(code).expect("currency"),
        advance_limit: d("100000"),
    };
    event(id, project, 1, "", None, kind)
}

fn contribution(amount: Money, fund: Fund) -> EventKind {
    EventKind::ContributionReceived {
        amount,
        from: "ACME, \"Inc.\"".to_owned(),
        source: Source::Donation,
        fund,
        fee_bps: None,
    }
}

/// Memos, references and event ids that could break a journal, with odd names and currencies.
fn tricky_books() -> Vec<CommitRequest> {
    let memos = [
        "semi; colon ;; and a trailing ;",
        "two\nlines\n\nand a\ttab",
        "   leading spaces and trailing   ",
        "quotes \"double\" and 'single' and a back\\slash \\\" mix",
        "unicode: Grüße, 日本語, emoji 🦀, rtl עברית",
        "| starts with a pipe | and has | more",
        "; starts like a comment",
        "* starts like a heading",
        "2026-03-04 * \"looks like a transaction\"",
        "  Assets:Bank:USD  100.00 USD",
        "#hashtag :tag: key:value, other:thing",
        "",
    ]
    .map(str::to_owned)
    .into_iter()
    .chain(["🦀 ü".repeat(250), format!("{}\n{}", "x".repeat(500), "y".repeat(499))]);
    let (p, odd) = ("tricky-conf", "9-odd");
    let mut out = vec![request(vec![open("open-1", p, "USD"), open("open-2", odd, "KWD")])];
    for (i, memo) in memos.enumerate() {
        let id = match i % 4 {
            0 => format!("e,{i};x"),
            1 => format!(" spaced {i} "),
            2 => format!("pct%{i}\"q\"\\"),
            _ => format!("plain-{i}"),
        };
        let fund = if i % 3 == 0 { Fund::Restricted("9-lives".to_owned()) } else { Fund::Unrestricted };
        let reference = (i % 2 == 0).then(|| format!("INV, {i}; \"x\" %"));
        let kind = contribution(money(&format!("{}.05", 100 + i), "USD"), fund);
        out.push(request(vec![event(&id, p, 2 + i as u32, &memo, reference.as_deref(), kind)]));
    }
    let kwd = contribution(money("12.345", "KWD"), Fund::Restricted("9x".to_owned()));
    out.push(request(vec![event("kwd-1", odd, 20, "three decimals; KWD", None, kwd)]));
    let convert = EventKind::CurrencyConverted { amount: money("50.00", "USD"), to: money("7500", "JPY") };
    out.push(request(vec![event("fx-1", p, 21, "to yen\nfor the venue", Some("FX/1"), convert)]));
    let receipt = Receipt { hash: *blake3::hash(b"invoice").as_bytes(), file_name: "inv \"1\".pdf".to_owned() };
    let details = ExpenseDetails {
        amount: money("1000", "JPY"),
        payee: "Hotel; \"Tokyo\"".to_owned(),
        category: "venue".to_owned(),
        fund: Fund::Unrestricted,
        receipt,
    };
    let paid = EventKind::ExpensePaid { request: None, details: Some(details) };
    out.push(request(vec![event("pay-1", p, 22, "deposit\n; not a comment", Some("R-1"), paid)]));
    let requested = EventKind::ExpenseRequested {
        details: ExpenseDetails {
            amount: money("10.00", "USD"),
            payee: "Printer".to_owned(),
            category: "print".to_owned(),
            fund: Fund::Unrestricted,
            receipt: Receipt { hash: [7; 32], file_name: "r.pdf".to_owned() },
        },
    };
    out.push(request(vec![event("req-1", p, 23, "no postings\n2026-01-01 * \"x\"", None, requested)]));
    out
}

#[test]
fn tricky_text_keeps_journals_valid_and_tags_exact() {
    require_tools();
    let books = tricky_books();
    let (projection, records) = memory_with(&books);
    let trial = trial_balance(&projection);
    check_all_formats("tricky books", &records, None, &trial);

    let dir = tempfile::tempdir().expect("temp dir");
    // hledger: descriptions are `Kind | memo` on one line; the tags decode to the exact values.
    let journal = write_export(dir.path(), "t.journal", &records, None, hledger_export);
    let f = journal.to_str().expect("utf-8 path");
    let printed: serde_json::Value =
        serde_json::from_str(&run("hledger", &["-f", f, "print", "-O", "json"])).expect("hledger json");
    let txns = printed.as_array().expect("transactions");
    let with_postings: Vec<&(Record, Hash)> =
        records.iter().filter(|(r, _)| r.event.kind.has_postings() && !r.event.project.is_sponsor()).collect();
    assert_eq!(txns.len(), with_postings.len());
    for (t, (record, hash)) in txns.iter().zip(&with_postings) {
        let e = &record.event;
        let description = t["tdescription"].as_str().expect("description");
        assert_eq!(description, export::hledger_description(&export::event_label(&e.kind), &e.memo));
        let tags: BTreeMap<String, String> = t["ttags"]
            .as_array()
            .expect("tags")
            .iter()
            .map(|pair| (pair[0].as_str().expect("name").to_owned(), pair[1].as_str().expect("value").to_owned()))
            .collect();
        assert_eq!(percent_decode(&tags["event_id"]), e.event_id);
        assert_eq!(tags["project"], e.project.as_str());
        assert_eq!(tags["seq"], record.seq.to_string());
        assert_eq!(tags["hash"], hex::encode(hash));
        assert_eq!(tags.get("reference").map(|r| percent_decode(r)), e.reference);
    }

    // beancount: payee is the kind, narration the memo on one line, metadata exact.
    let ledger = write_export(dir.path(), "t.beancount", &records, None, beancount_export);
    let script = r#"
import sys, json
from beancount import loader
from beancount.core import data
entries, errors, options = loader.load_file(sys.argv[1])
assert not errors, errors
for t in entries:
    if isinstance(t, data.Transaction):
        print(json.dumps({"payee": t.payee, "narration": t.narration, "event_id": t.meta["event_id"],
            "seq": int(t.meta["seq"]), "hash": t.meta["hash"], "reference": t.meta.get("reference"),
            "receipt": t.meta.get("receipt")}))
"#;
    let out = run(beancount_python(), &["-c", script, ledger.to_str().expect("utf-8 path")]);
    let mut by_id: BTreeMap<String, serde_json::Value> = BTreeMap::new();
    for line in out.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("script json");
        by_id.insert(v["event_id"].as_str().expect("event_id").to_owned(), v);
    }
    assert_eq!(by_id.len(), with_postings.len());
    for (record, hash) in &with_postings {
        let e = &record.event;
        let t = &by_id[&e.event_id];
        assert_eq!(t["payee"], export::one_line(&export::event_label(&e.kind)));
        assert_eq!(t["narration"], export::one_line(&e.memo));
        assert_eq!(t["seq"], record.seq);
        assert_eq!(t["hash"], hex::encode(hash));
        assert_eq!(t["reference"].as_str(), e.reference.as_deref());
        if let EventKind::ExpensePaid { details: Some(d), .. } = &e.kind {
            assert_eq!(t["receipt"], hex::encode(d.receipt.hash));
        }
    }

    // The no-postings request is a comment in both, with its tags.
    let journal_text = std::fs::read_to_string(&journal).expect("read journal");
    assert!(journal_text.contains("\n; 2026-03-23 ExpenseRequested | no postings 2026-01-01 * \"x\" ; event_id:req-1,"));
    let beancount_text = std::fs::read_to_string(&ledger).expect("read ledger");
    assert!(
        beancount_text.contains("\n; 2026-03-23 ExpenseRequested | no postings 2026-01-01 * \"x\" ; event_id:req-1,")
    );
    assert!(beancount_text.contains("open Liabilities:Projects:9-odd:Restricted:9x"), "{beancount_text}");
    assert!(beancount_text.contains("Liabilities:Projects:Tricky-conf:Restricted:9-lives"));
    assert!(journal_text.contains("commodity 1000. JPY") && journal_text.contains("commodity 1000.000 KWD"));
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hexpair = std::str::from_utf8(&bytes[i + 1..i + 3]).expect("ascii");
            out.push(u8::from_str_radix(hexpair, 16).expect("percent escape"));
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).expect("utf-8")
}

// ---------------------------------------------------------------------------------------------
// Formats without the tools

#[test]
fn csv_quotes_memo_and_reference_exactly() {
    let (_, records) = memory_with(&tricky_books());
    let mut out = Vec::new();
    let summary = csv_export(&mut out, &records, None).expect("csv");
    let text = String::from_utf8(out).expect("utf-8");
    assert!(text.starts_with(&format!("{}\r\n", export::CSV_HEADER)));
    let rows = parse_rfc4180(&text);
    assert_eq!(rows.len() as u64, summary.postings + 1);
    let memos: std::collections::BTreeSet<&str> = records.iter().map(|(r, _)| r.event.memo.as_str()).collect();
    for row in &rows[1..] {
        assert_eq!(row.len(), 15, "{row:?}");
        assert!(memos.contains(row[8].as_str()), "memo {:?} comes back exactly", row[8]);
        let record = records
            .iter()
            .map(|(r, _)| r)
            .find(|r| r.event.event_id == row[3])
            .unwrap_or_else(|| panic!("event id {:?} comes back exactly", row[3]));
        assert_eq!(row[9], record.event.reference.clone().unwrap_or_default());
        assert_eq!(row[2], record.seq.to_string());
    }
    // A multi-line memo is one quoted field; a plain one is not quoted.
    assert!(text.contains(",\"two\nlines\n\nand a\ttab\","));
    assert!(text.contains(",\"quotes \"\"double\"\" and 'single' and a back\\slash \\\"\" mix\","));
}

#[test]
fn csv_neutralises_formulas_in_text_fields_only() {
    let p = "formula-conf";
    let memo = "=HYPERLINK(\"http://evil.example\",\"click\")";
    let kind = contribution(money("100.00", "USD"), Fund::Unrestricted);
    let books = vec![
        request(vec![open("open-f", p, "USD")]),
        request(vec![event("=cmd|' /C calc'!A0", p, 2, memo, Some("+1-555"), kind)]),
        request(vec![event(
            "e2",
            p,
            3,
            "-2+3",
            Some("@SUM(A1)"),
            contribution(money("5.00", "USD"), Fund::Unrestricted),
        )]),
    ];
    let (_, records) = memory_with(&books);
    let mut out = Vec::new();
    csv_export(&mut out, &records, None).expect("csv");
    let text = String::from_utf8(out).expect("utf-8");
    let rows = parse_rfc4180(&text);
    let first: Vec<_> = rows.iter().filter(|r| r[3] == "'=cmd|' /C calc'!A0").collect();
    assert!(!first.is_empty(), "the event id is neutralised:\n{text}");
    for row in &first {
        assert_eq!(row[8], format!("'{memo}"));
        assert_eq!(row[9], "'+1-555");
    }
    let second: Vec<_> = rows.iter().filter(|r| r[3] == "e2").collect();
    assert!(second.iter().all(|r| r[8] == "'-2+3" && r[9] == "'@SUM(A1)"), "{second:?}");
    // Amounts keep their sign: the credits are negative numbers, not text.
    let negative: Vec<_> = rows[1..].iter().filter(|r| r[7].starts_with('-')).collect();
    assert!(!negative.is_empty());
    for row in negative {
        assert!(row[7].parse::<rust_decimal::Decimal>().is_ok(), "{row:?}");
    }
    for row in &rows[1..] {
        for cell in [&row[3], &row[8], &row[9]] {
            assert!(!cell.starts_with(['=', '+', '-', '@', '\t', '\r']), "{cell:?} could start a formula");
        }
    }
}

/// A strict RFC 4180 reader: CRLF records, quoted fields with doubled quotes.
fn parse_rfc4180(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' => {
                assert!(field.is_empty(), "a quote inside an unquoted field");
                quoted = true;
            }
            ',' => row.push(std::mem::take(&mut field)),
            '\r' => {
                assert_eq!(chars.next(), Some('\n'), "CR without LF outside quotes");
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            '\n' => panic!("a bare LF outside quotes"),
            _ => field.push(c),
        }
    }
    assert!(!quoted && field.is_empty() && row.is_empty(), "the text ends with CRLF");
    rows
}

#[test]
fn jsonl_has_one_object_per_event_with_string_amounts() {
    let (_, records) = memory_with(&tricky_books());
    let mut out = Vec::new();
    let summary = jsonl_export(&mut out, &records, None).expect("jsonl");
    let text = String::from_utf8(out).expect("utf-8");
    assert_eq!(text.lines().count(), records.len());
    assert_eq!(summary.records, records.len() as u64);
    let mut amounts = 0;
    for (line, (record, hash)) in text.lines().zip(&records) {
        let v: serde_json::Value = serde_json::from_str(line).expect("json");
        assert_eq!(v["event_id"], record.event.event_id.as_str());
        assert_eq!(v["memo"], record.event.memo.as_str(), "memo exact");
        assert_eq!(v["seq"], record.seq);
        assert_eq!(v["hash"], hex::encode(hash));
        assert_eq!(v["kind"], record.event.kind.name());
        // No JSON number anywhere is money: walk the object and check every "amount"/"fee_share".
        amounts += check_amounts_are_strings(&v);
    }
    assert!(amounts > 20, "{amounts} amounts seen");
    let first_contribution = text.lines().find(|l| l.contains("\"ContributionReceived\"")).expect("one");
    let v: serde_json::Value = serde_json::from_str(first_contribution).expect("json");
    assert_eq!(v["fields"]["amount"]["amount"], "100.05");
    assert_eq!(v["postings"][0]["amount"], "100.05");
    assert_eq!(v["postings"][1]["amount"], "-93.05");
    assert_eq!(v["postings"][2]["amount"], "-7.00");
}

fn check_amounts_are_strings(v: &serde_json::Value) -> usize {
    match v {
        serde_json::Value::Object(map) => map
            .iter()
            .map(|(k, v)| {
                let here = if ["amount", "fee_share", "advance_limit"].contains(&k.as_str()) {
                    assert!(v.is_string() || v.is_object() || v.is_null(), "{k} is {v}");
                    usize::from(v.is_string())
                } else {
                    0
                };
                here + check_amounts_are_strings(v)
            })
            .sum(),
        serde_json::Value::Array(items) => items.iter().map(check_amounts_are_strings).sum(),
        _ => 0,
    }
}

#[test]
fn one_project_scope_keeps_only_its_records() {
    let (projection, records) = memory_with(&tricky_books());
    let odd = ProjectId::parse("project", "9-odd").expect("id");
    let mut out = Vec::new();
    let summary = hledger_export(&mut out, &records, Some(&odd)).expect("hledger");
    let text = String::from_utf8(out).expect("utf-8");
    assert_eq!(summary.records, projection.project("9-odd").expect("odd").head.seq);
    assert!(text.contains("project:9-odd") && !text.contains("project:tricky-conf"));
    assert_eq!(summary.transactions, 1);
}

#[test]
fn a_record_with_a_bad_account_name_is_refused() {
    let (_, mut records) = memory_with(&tricky_books());
    // A purpose that is not `[a-z0-9-]` (only possible in a hand-made record) would break both journals.
    let (record, _) = records.iter_mut().find(|(r, _)| r.event.event_id == "kwd-1").expect("kwd");
    if let EventKind::ContributionReceived { fund, .. } = &mut record.event.kind {
        *fund = Fund::Restricted("Bad Name;".to_owned());
    }
    let err = hledger_export(&mut Vec::new(), &records, None).expect_err("refused");
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
    assert!(err.to_string().contains("9-odd seq 2"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Reversals (issue 14, section 4)

/// February's books of the issue: a 100.00 donation charged back and a 75.00 catering expense
/// reversed, with reasons that need escaping.
fn reversed_books() -> Vec<CommitRequest> {
    let p = "rev-conf";
    let donation = EventKind::ContributionReceived {
        amount: money("100.00", "USD"),
        from: "Jo".to_owned(),
        source: Source::Donation,
        fund: Fund::Unrestricted,
        fee_bps: None,
    };
    let catering = ExpenseDetails {
        amount: money("75.00", "USD"),
        payee: "Pizzeria".to_owned(),
        category: "catering".to_owned(),
        fund: Fund::Unrestricted,
        receipt: Receipt { hash: [5; 32], file_name: "pizza.pdf".to_owned() },
    };
    let reverse =
        |seq: u64, why: &str| EventKind::EventReversed { target_seq: seq, reason: why.to_owned(), target: None };
    vec![
        request(vec![open("open", p, "USD")]),
        request(vec![event(
            "give",
            p,
            2,
            "seed money",
            None,
            contribution(money("500.00", "USD"), Fund::Unrestricted),
        )]),
        request(vec![event("don", p, 3, "a gift", None, donation)]),
        request(vec![event(
            "cat",
            p,
            4,
            "lunch",
            None,
            EventKind::ExpensePaid { request: None, details: Some(catering) },
        )]),
        request(vec![event("rev-1", p, 20, "bank says", None, reverse(3, "charged back, card; \"stolen\" 100%"))]),
        request(vec![event("rev-2", p, 21, "", None, reverse(4, "paid twice"))]),
    ]
}

#[test]
fn reversals_say_what_they_reverse_and_why_in_every_export() {
    require_tools();
    let (projection, records) = memory_with(&reversed_books());
    check_all_formats("reversed books", &records, None, &trial_balance(&projection));
    let dir = tempfile::tempdir().expect("temp dir");

    // hledger: the description and the tags.
    let journal = write_export(dir.path(), "r.journal", &records, None, hledger_export);
    let f = journal.to_str().expect("utf-8 path");
    let printed: serde_json::Value =
        serde_json::from_str(&run("hledger", &["-f", f, "print", "-O", "json"])).expect("hledger json");
    let reversals: Vec<&serde_json::Value> = printed
        .as_array()
        .expect("transactions")
        .iter()
        .filter(|t| t["tdescription"].as_str().is_some_and(|d| d.starts_with("EventReversed")))
        .collect();
    assert_eq!(reversals.len(), 2);
    let tags = |t: &serde_json::Value| -> BTreeMap<String, String> {
        t["ttags"]
            .as_array()
            .expect("tags")
            .iter()
            .map(|p| (p[0].as_str().expect("name").to_owned(), percent_decode(p[1].as_str().expect("value"))))
            .collect()
    };
    assert_eq!(
        reversals[0]["tdescription"],
        "EventReversed: reverses ContributionReceived seq 3 (source:donation): charged back, card, \"stolen\" 100% | bank says"
    );
    let t0 = tags(reversals[0]);
    assert_eq!(
        (t0["reverses"].as_str(), t0["reverses_seq"].as_str(), t0["reverses_source"].as_str()),
        ("ContributionReceived", "3", "donation")
    );
    assert_eq!(t0["reason"], "charged back, card; \"stolen\" 100%");
    assert_eq!(
        reversals[1]["tdescription"],
        "EventReversed: reverses ExpensePaid seq 4 (category:catering): paid twice"
    );
    let t1 = tags(reversals[1]);
    assert_eq!((t1["reverses"].as_str(), t1["reverses_category"].as_str()), ("ExpensePaid", "catering"));

    // beancount: payee and metadata.
    let ledger = write_export(dir.path(), "r.beancount", &records, None, beancount_export);
    let script = r#"
import sys, json
from beancount import loader
from beancount.core import data
entries, errors, options = loader.load_file(sys.argv[1])
assert not errors, errors
for t in entries:
    if isinstance(t, data.Transaction) and "reverses" in t.meta:
        print(json.dumps({"payee": t.payee, "narration": t.narration, "reverses": t.meta["reverses"],
            "seq": int(t.meta["reverses_seq"]), "source": t.meta.get("reverses_source"),
            "category": t.meta.get("reverses_category"), "reason": t.meta["reason"]}))
"#;
    let out = run(beancount_python(), &["-c", script, ledger.to_str().expect("utf-8 path")]);
    let got: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).expect("json")).collect();
    assert_eq!(got.len(), 2, "{out}");
    assert_eq!(
        got[0]["payee"],
        "EventReversed: reverses ContributionReceived seq 3 (source:donation): charged back, card; \"stolen\" 100%"
    );
    assert_eq!((got[0]["reverses"].as_str(), got[0]["seq"].as_u64()), (Some("ContributionReceived"), Some(3)));
    assert_eq!(got[0]["source"], "donation");
    assert_eq!(got[0]["reason"], "charged back, card; \"stolen\" 100%");
    assert_eq!((got[1]["category"].as_str(), got[1]["reason"].as_str()), (Some("catering"), Some("paid twice")));

    // CSV: the four columns, on every posting line of a reversal.
    let mut out = Vec::new();
    csv_export(&mut out, &records, None).expect("csv");
    let rows = parse_rfc4180(&String::from_utf8(out).expect("utf-8"));
    let reversal_rows: Vec<&Vec<String>> = rows[1..].iter().filter(|r| r[4] == "EventReversed").collect();
    assert!(!reversal_rows.is_empty());
    for row in reversal_rows {
        let want: [&str; 4] = if row[2] == "5" {
            ["ContributionReceived", "3", "source:donation", "charged back, card; \"stolen\" 100%"]
        } else {
            ["ExpensePaid", "4", "category:catering", "paid twice"]
        };
        assert_eq!(&row[11..15], &want.map(str::to_owned), "{row:?}");
    }
    for row in rows[1..].iter().filter(|r| r[4] != "EventReversed") {
        assert!(row[11..15].iter().all(String::is_empty), "{row:?}");
    }
}
