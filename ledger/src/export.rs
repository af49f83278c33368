//! Exports of the books: an hledger journal, a beancount ledger, CSV (one line per posting) and
//! JSON lines (one object per event).
//!
//! Every export is a pure function of stored records and their hashes, written to any
//! [`std::io::Write`] (buffered inside; no sled needed). The caller reads records in whatever order
//! it likes (chain by chain, or commit by commit); a [`Scope`] of one project keeps only that
//! project's records, and since the postings of every event balance on their own per currency, the
//! export of one project balances too.
//!
//! The postings are [`crate::posting::postings`], the very expansion the projection folds, so the
//! balances hledger and beancount compute from an export are Fiscus's trial balance.
//!
//! ## hledger
//!
//! The journal is read by hledger and, as it is, by ledger-cli (`ledger -f FILE balance`, tested
//! with ledger 3.3 on the same years in `ledger/tests/export.rs`).
//!
//! - `decimal-mark .` first; amounts are written `-930.00 USD`: the number with exactly the currency's
//!   minor units, a space, then the ISO code (commodity on the right), declared by `commodity 1000.00 USD`
//!   (`commodity 1000. JPY` for a currency without minor units).
//! - One transaction per event with postings: `DATE * Kind | memo`, then a comment line of tags
//!   `; event_id:…, project:…, seq:…, commit:…, hash:…` plus `reference:…` and `receipt:…` (the
//!   receipt's blake3 hash) when the event has them. A tag value ends at a comma in hledger, so in
//!   tag values `%` is written `%25`, `,` `%2C`, and leading or trailing whitespace or any control
//!   character as `%XX` (percent-encoding, reversible).
//! - A reversal says what it reverses and why, in its description (`EventReversed: reverses
//!   ContributionReceived seq 3 (source:donation): charged back | memo`, [`event_label`]) and in its
//!   tags `reverses:ContributionReceived, reverses_seq:3, reverses_source:donation` (or
//!   `reverses_category:catering` for a paid expense) and `reason:…`. Its postings are the negation
//!   of its target's, so it counts, negated, on the very accounts its target counted on.
//! - The memo goes into the description on one line: line breaks, tabs and runs of whitespace become
//!   one space, it is trimmed, and `;` (which starts a comment in hledger) becomes `,`. The exact memo
//!   is in the CSV and JSON lines exports.
//! - Events without postings (project opened, terms changed, expense requested, approved or
//!   rejected, project or period closed) are kept as comment lines (`; DATE Kind | memo ; tags`), so
//!   that every seq of a chain appears in the file; hledger ignores them.
//! - `commodity` and `account` directives for everything used come at the end of the file (hledger
//!   reads them wherever they are; `hledger check --strict` accepts the journal).
//!
//! ## beancount
//!
//! - Transactions `DATE * "Kind" "memo"` (payee: the event kind, narration: the memo, on one line as
//!   for hledger but with `;` kept; `"` and `\` are escaped), with metadata `event_id: "…"`,
//!   `project: "…"`, `seq: 4`, `commit: 3`, `hash: "…"`, and `reference: "…"`, `receipt: "…"` when
//!   present. Events without postings are comment lines, written as for hledger. A reversal's payee
//!   is its label as for hledger, and its metadata `reverses: "ContributionReceived"`,
//!   `reverses_seq: 3`, `reverses_source: "donation"` (or `reverses_category`) and `reason: "…"`.
//! - Account names ([`beancount_account`]): beancount wants every component after the root to start
//!   with an upper-case letter or a digit. The fixed components of Fiscus's names already do; a
//!   variable component (project id, restricted purpose, grant program, all `[a-z0-9-]`) gets its
//!   first letter upper-cased (`Liabilities:Projects:rustconf-2026:Unrestricted` →
//!   `Liabilities:Projects:Rustconf-2026:Unrestricted`), a leading digit is kept, and one that starts
//!   with `-` gets the prefix `XX` (`-x` → `XX-x`). Since Fiscus's components have no upper-case
//!   letter, the mapping is one-to-one; [`fiscus_account`] reverses it.
//! - At the end: `option "operating_currency"` (the currency with the most postings), a `commodity`
//!   directive per currency and an `open` directive per account, dated on the first date it is used.
//!   `bean-check` accepts the file: every transaction balances per currency, as Fiscus's do.
//!
//! ## CSV and JSON lines
//!
//! - [`csv`]: a header, then one line per posting: `date, project, seq, event_id, kind, account,
//!   currency, amount, memo, reference, hash, reverses, reverses_seq, reverses_under, reason`
//!   (the last four for a reversal only: its target's kind and seq, `source:<source>` or
//!   `category:<category>`, and its reason), amounts debit-positive with the currency's minor units,
//!   RFC 4180: CRLF line ends, a field holding `"`, `,`, CR or LF (or starting or ending with
//!   whitespace) is quoted, with `"` doubled. Memo, reference, event id and reason are exact, except that
//!   one starting with `=`, `+`, `-`, `@`, a tab or CR gets a leading `'`, so that a spreadsheet
//!   shows it as text instead of running it as a formula (memos come from bank imports: a memo
//!   `=HYPERLINK(…)` would otherwise be a link in the accountant's spreadsheet; OWASP's "CSV
//!   injection" rule). Only these text fields are changed: amounts keep their `-`, and dates,
//!   ids, accounts and hashes cannot start with those characters.
//! - [`jsonl`]: one JSON object per event, postings included; every amount is a decimal string
//!   (`"1250.00"`), never a JSON number.

use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, BufWriter, Write};

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde_json::{json, Map, Value};

use crate::chain::Hash;
use crate::event::{EventKind, ExpenseDetails};
use crate::ids::ProjectId;
use crate::money::{format_amount, Currency, Money};
use crate::posting::{postings, sums_per_currency, Account, Postings};
use crate::record::Record;

/// What an export covers: the whole sponsor (`None`: every chain, the sponsor-wide one included) or
/// one project's records (`Some`). Records outside the scope are skipped.
pub type Scope<'a> = Option<&'a ProjectId>;

/// What an export wrote.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Summary {
    /// Records in scope (events exported, with or without postings).
    pub records: u64,
    /// Events with postings (transactions in hledger and beancount).
    pub transactions: u64,
    /// Postings written.
    pub postings: u64,
}

/// The accounts, currencies and counts an export has seen, for the declarations at its end.
#[derive(Default)]
struct Seen {
    /// Account name (in the export's naming) → first date used.
    accounts: BTreeMap<String, NaiveDate>,
    /// Currency → (first date used, postings).
    currencies: BTreeMap<Currency, (NaiveDate, u64)>,
    summary: Summary,
}

impl Seen {
    fn account(&mut self, name: String, date: NaiveDate) {
        let first = self.accounts.entry(name).or_insert(date);
        *first = (*first).min(date);
    }

    fn currency(&mut self, currency: Currency, date: NaiveDate) {
        let entry = self.currencies.entry(currency).or_insert((date, 0));
        entry.0 = entry.0.min(date);
        entry.1 += 1;
    }

    /// The currency with the most postings (the first in code order on a tie).
    fn operating_currency(&self) -> Option<Currency> {
        let mut best: Option<(Currency, u64)> = None;
        for (c, (_, n)) in &self.currencies {
            if best.is_none_or(|(_, m)| *n > m) {
                best = Some((*c, *n));
            }
        }
        best.map(|(c, _)| c)
    }
}

/// The in-scope records with their postings, checked: each event balances per currency and every
/// name that goes into an account name is `[a-z0-9-]`.
fn in_scope<'r>(record: &'r Record, scope: Scope<'_>) -> io::Result<Option<Postings<'r>>> {
    if scope.is_some_and(|p| *p != record.event.project) {
        return Ok(None);
    }
    let legs = postings(&record.event.project, &record.event.kind);
    let bad = |what: String| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("record {} seq {}: {what}", record.event.project, record.seq),
        )
    };
    if let Some((c, sum)) = sums_per_currency(&legs).into_iter().find(|(_, s)| !s.is_zero()) {
        return Err(bad(format!("postings do not balance: {sum} {c}")));
    }
    for leg in &legs {
        for name in variable_components(&leg.account) {
            if crate::ids::check_slug("account", name, "account name component").is_err() {
                return Err(bad(format!("{name:?} cannot be part of an account name")));
            }
        }
    }
    Ok(Some(legs))
}

/// The components of an account's name that come from data (project id, purpose, program).
fn variable_components<'a>(account: &Account<'a>) -> Vec<&'a str> {
    match *account {
        Account::Bank(_) | Account::Clearing => vec![],
        Account::PledgesReceivable(p)
        | Account::AdvancesReceivable(p)
        | Account::Unrestricted(p)
        | Account::Pledged(p)
        | Account::Fees(p)
        | Account::Grants(p) => vec![p],
        Account::Restricted(p, r) => vec![p, r],
    }
}

/// Lower-case hexadecimal.
fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// The receipt hash an event carries, if any.
fn receipt(kind: &EventKind) -> Option<&Hash> {
    match kind {
        EventKind::ExpensePaid { details: Some(d), .. } | EventKind::ExpenseRequested { details: d } => {
            Some(&d.receipt.hash)
        }
        _ => None,
    }
}

/// What a reversal reverses, from its stored event alone: the target's kind and seq, the total
/// the target counts under where its own fields name one (`source:donation` for a contribution,
/// `category:catering` for a paid expense), and the reversal's reason.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Reverses<'a> {
    /// The reversed event's kind, such as `ContributionReceived`.
    pub kind: &'static str,
    /// Its seq.
    pub seq: u64,
    /// `source:<source>` or `category:<category>`, when the target carries one.
    pub under: Option<String>,
    /// Why it was reversed.
    pub reason: &'a str,
}

impl Reverses<'_> {
    /// `reverses ContributionReceived seq 3 (source:donation): charged back`, on one line.
    pub fn note(&self) -> String {
        let under = self.under.as_ref().map(|u| format!(" ({u})")).unwrap_or_default();
        one_line(&format!("reverses {} seq {}{under}: {}", self.kind, self.seq, self.reason))
    }
}

/// What `kind` reverses, when it is a completed `EventReversed`.
pub fn reverses(kind: &EventKind) -> Option<Reverses<'_>> {
    let EventKind::EventReversed { target_seq, reason, target: Some(target) } = kind else { return None };
    let under = match &**target {
        EventKind::ContributionReceived { source, .. } => Some(format!("source:{}", source.name())),
        EventKind::ExpensePaid { details: Some(d), .. } => Some(format!("category:{}", d.category)),
        _ => None,
    };
    Some(Reverses { kind: target.name(), seq: *target_seq, under, reason })
}

/// The title of an event in the journals: its kind, and for a reversal what it reverses and why
/// (`EventReversed: reverses ExpensePaid seq 7 (category:catering): duplicate invoice`).
pub fn event_label(kind: &EventKind) -> String {
    match reverses(kind) {
        Some(r) => format!("{}: {}", kind.name(), r.note()),
        None => kind.name().to_owned(),
    }
}

/// Text on one line: every run of whitespace (line breaks and tabs included) and any control
/// character becomes one space, and the ends are trimmed.
pub fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split(|c: char| c.is_whitespace() || c.is_control()).filter(|w| !w.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// An hledger transaction description: `Kind | memo` on one line, `;` replaced by `,` (`kind` is
/// the event's label, [`event_label`]).
pub fn hledger_description(kind: &str, memo: &str) -> String {
    let kind = one_line(kind).replace(';', ",");
    let memo = one_line(memo).replace(';', ",");
    if memo.is_empty() {
        kind
    } else {
        format!("{kind} | {memo}")
    }
}

/// An hledger tag value: `%`, `,`, control characters and whitespace at either end percent-encoded.
pub fn hledger_tag_value(value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    let lead = chars.iter().take_while(|c| c.is_whitespace()).count();
    let trail = chars.iter().rev().take_while(|c| c.is_whitespace()).count();
    let mut out = String::with_capacity(value.len());
    for (i, &c) in chars.iter().enumerate() {
        let edge = i < lead || i + trail >= chars.len();
        if c == '%' || c == ',' || c.is_control() || (edge && c.is_whitespace()) {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                let _ = write!(out, "%{b:02X}");
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A beancount string literal: quoted, with `\` and `"` escaped.
pub fn beancount_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// A variable account-name component (`[a-z0-9-]`) in beancount form: first letter upper-cased,
/// `XX` prefixed when it starts with `-`.
fn beancount_component(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some('-') => format!("XX{name}"),
        Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

/// Reverses [`beancount_component`].
fn fiscus_component(name: &str) -> Option<String> {
    if let Some(rest) = name.strip_prefix("XX") {
        return rest.starts_with('-').then(|| rest.to_owned());
    }
    let mut chars = name.chars();
    let first = chars.next()?;
    if !(first.is_ascii_uppercase() || first.is_ascii_digit()) {
        return None;
    }
    let out = first.to_ascii_lowercase().to_string() + chars.as_str();
    crate::ids::check_slug("account", &out, "component").ok()?;
    Some(out)
}

/// An account's beancount name (see the module documentation for the mapping).
pub fn beancount_account(account: &Account<'_>) -> String {
    let c = beancount_component;
    match *account {
        Account::Bank(cur) => format!("Assets:Bank:{cur}"),
        Account::PledgesReceivable(p) => format!("Assets:Receivable:Pledges:{}", c(p)),
        Account::AdvancesReceivable(p) => format!("Assets:Receivable:Advances:{}", c(p)),
        Account::Clearing => "Assets:Clearing:Transfers".to_owned(),
        Account::Unrestricted(p) => format!("Liabilities:Projects:{}:Unrestricted", c(p)),
        Account::Restricted(p, r) => format!("Liabilities:Projects:{}:Restricted:{}", c(p), c(r)),
        Account::Pledged(p) => format!("Liabilities:Projects:{}:Pledged", c(p)),
        Account::Fees(p) => format!("Income:Fees:{}", c(p)),
        Account::Grants(g) => format!("Expenses:Grants:{}", c(g)),
    }
}

/// The Fiscus (hledger) name of a beancount account name that [`beancount_account`] wrote; `None`
/// for any other name.
pub fn fiscus_account(beancount: &str) -> Option<String> {
    let parts: Vec<&str> = beancount.split(':').collect();
    let f = fiscus_component;
    match parts.as_slice() {
        ["Assets", "Bank", cur] => Currency::from_code(cur).map(|c| format!("Assets:Bank:{c}")),
        ["Assets", "Receivable", which @ ("Pledges" | "Advances"), p] => {
            Some(format!("Assets:Receivable:{which}:{}", f(p)?))
        }
        ["Assets", "Clearing", "Transfers"] => Some("Assets:Clearing:Transfers".to_owned()),
        ["Liabilities", "Projects", p, which @ ("Unrestricted" | "Pledged")] => {
            Some(format!("Liabilities:Projects:{}:{which}", f(p)?))
        }
        ["Liabilities", "Projects", p, "Restricted", r] => {
            Some(format!("Liabilities:Projects:{}:Restricted:{}", f(p)?, f(r)?))
        }
        ["Income", "Fees", p] => Some(format!("Income:Fees:{}", f(p)?)),
        ["Expenses", "Grants", g] => Some(format!("Expenses:Grants:{}", f(g)?)),
        _ => None,
    }
}

fn scope_label(scope: Scope<'_>) -> String {
    match scope {
        Some(p) => format!("project {p}"),
        None => "the whole sponsor".to_owned(),
    }
}

/// hledger tags of a record, as one comment text.
fn hledger_tags(record: &Record, hash: &Hash) -> String {
    let e = &record.event;
    let mut tags = format!(
        "event_id:{}, project:{}, seq:{}, commit:{}, hash:{}",
        hledger_tag_value(&e.event_id),
        e.project,
        record.seq,
        record.commit,
        hex(hash)
    );
    if let Some(r) = &e.reference {
        let _ = write!(tags, ", reference:{}", hledger_tag_value(r));
    }
    if let Some(h) = receipt(&e.kind) {
        let _ = write!(tags, ", receipt:{}", hex(h));
    }
    if let Some(r) = reverses(&e.kind) {
        let _ = write!(tags, ", reverses:{}, reverses_seq:{}", r.kind, r.seq);
        if let Some((name, value)) = r.under.as_deref().and_then(|u| u.split_once(':')) {
            let _ = write!(tags, ", reverses_{name}:{}", hledger_tag_value(value));
        }
        let _ = write!(tags, ", reason:{}", hledger_tag_value(r.reason));
    }
    tags
}

/// Writes an hledger journal of the records in `scope` (see the module documentation for the form).
/// `records` are (record, record hash) pairs in any order.
pub fn hledger<W, R, I>(out: W, records: I, scope: Scope<'_>) -> io::Result<Summary>
where
    W: Write,
    R: Borrow<Record>,
    I: IntoIterator<Item = (R, Hash)>,
{
    let mut out = BufWriter::new(out);
    let mut seen = Seen::default();
    writeln!(out, "; Fiscus journal of {} for hledger.", scope_label(scope))?;
    writeln!(out, "; One transaction per event with postings; events without postings are comments.")?;
    writeln!(out, "; Amounts: number, space, ISO currency code. Declarations are at the end.")?;
    writeln!(out, "decimal-mark .")?;
    for (record, hash) in records {
        let record = record.borrow();
        let Some(legs) = in_scope(record, scope)? else { continue };
        let e = &record.event;
        let date = e.effective_date;
        let description = hledger_description(&event_label(&e.kind), &e.memo);
        seen.summary.records += 1;
        writeln!(out)?;
        if legs.is_empty() {
            writeln!(out, "; {date} {description} ; {}", hledger_tags(record, &hash))?;
            continue;
        }
        seen.summary.transactions += 1;
        writeln!(out, "{date} * {description}")?;
        writeln!(out, "    ; {}", hledger_tags(record, &hash))?;
        for leg in &legs {
            let account = leg.account.to_string();
            writeln!(out, "    {account:<60}  {} {}", format_amount(leg.amount, leg.currency), leg.currency)?;
            seen.account(account, date);
            seen.currency(leg.currency, date);
            seen.summary.postings += 1;
        }
    }
    writeln!(out)?;
    writeln!(out, "; Declarations")?;
    for currency in seen.currencies.keys() {
        let sample = format_amount(Decimal::from(1000), *currency);
        let dot = if currency.minor_units() == 0 { "." } else { "" };
        writeln!(out, "commodity {sample}{dot} {currency}")?;
    }
    for account in seen.accounts.keys() {
        writeln!(out, "account {account}")?;
    }
    out.flush()?;
    Ok(seen.summary)
}

/// beancount metadata lines of a record.
fn beancount_meta(record: &Record, hash: &Hash) -> String {
    let e = &record.event;
    let mut meta = format!(
        "  event_id: {}\n  project: {}\n  seq: {}\n  commit: {}\n  hash: \"{}\"\n",
        beancount_string(&e.event_id),
        beancount_string(e.project.as_str()),
        record.seq,
        record.commit,
        hex(hash)
    );
    if let Some(r) = &e.reference {
        let _ = writeln!(meta, "  reference: {}", beancount_string(r));
    }
    if let Some(h) = receipt(&e.kind) {
        let _ = writeln!(meta, "  receipt: \"{}\"", hex(h));
    }
    if let Some(r) = reverses(&e.kind) {
        let _ = writeln!(meta, "  reverses: {}\n  reverses_seq: {}", beancount_string(r.kind), r.seq);
        if let Some((name, value)) = r.under.as_deref().and_then(|u| u.split_once(':')) {
            let _ = writeln!(meta, "  reverses_{name}: {}", beancount_string(value));
        }
        let _ = writeln!(meta, "  reason: {}", beancount_string(r.reason));
    }
    meta
}

/// Writes a beancount ledger of the records in `scope` (see the module documentation for the form
/// and the account names). `records` are (record, record hash) pairs in any order.
pub fn beancount<W, R, I>(out: W, records: I, scope: Scope<'_>) -> io::Result<Summary>
where
    W: Write,
    R: Borrow<Record>,
    I: IntoIterator<Item = (R, Hash)>,
{
    let mut out = BufWriter::new(out);
    let mut seen = Seen::default();
    let label = scope_label(scope);
    writeln!(out, "; Fiscus ledger of {label} for beancount.")?;
    writeln!(out, "; One transaction per event with postings; events without postings are comments.")?;
    writeln!(out, "; Options, commodities and open directives are at the end.")?;
    writeln!(out, "option \"title\" {}", beancount_string(&format!("Fiscus: {label}")))?;
    for (record, hash) in records {
        let record = record.borrow();
        let Some(legs) = in_scope(record, scope)? else { continue };
        let e = &record.event;
        let date = e.effective_date;
        seen.summary.records += 1;
        writeln!(out)?;
        if legs.is_empty() {
            let description = hledger_description(&event_label(&e.kind), &e.memo);
            writeln!(out, "; {date} {description} ; {}", hledger_tags(record, &hash))?;
            continue;
        }
        seen.summary.transactions += 1;
        let payee = beancount_string(&one_line(&event_label(&e.kind)));
        writeln!(out, "{date} * {payee} {}", beancount_string(&one_line(&e.memo)))?;
        out.write_all(beancount_meta(record, &hash).as_bytes())?;
        for leg in &legs {
            let account = beancount_account(&leg.account);
            writeln!(out, "  {account:<60}  {} {}", format_amount(leg.amount, leg.currency), leg.currency)?;
            seen.account(account, date);
            seen.currency(leg.currency, date);
            seen.summary.postings += 1;
        }
    }
    writeln!(out)?;
    writeln!(out, "; Declarations")?;
    if let Some(c) = seen.operating_currency() {
        writeln!(out, "option \"operating_currency\" \"{c}\"")?;
    }
    for (currency, (date, _)) in &seen.currencies {
        writeln!(out, "{date} commodity {currency}")?;
    }
    for (account, date) in &seen.accounts {
        writeln!(out, "{date} open {account}")?;
    }
    out.flush()?;
    Ok(seen.summary)
}

/// One CSV text field (memo, reference, event id): neutralised by [`csv_text`], then quoted by
/// [`csv_field`].
pub fn csv_text_field(text: &str) -> String {
    csv_field(&csv_text(text))
}

/// The characters that make a spreadsheet read a cell as a formula when they start it.
pub const CSV_FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// `text` with a leading `'` when it starts with one of [`CSV_FORMULA_STARTS`], so that a
/// spreadsheet shows it as text and never runs it as a formula (the usual rule against CSV
/// injection). Apply it to free text only: an amount such as `-12.50` must keep its sign.
pub fn csv_text(text: &str) -> std::borrow::Cow<'_, str> {
    if text.starts_with(CSV_FORMULA_STARTS) {
        std::borrow::Cow::Owned(format!("'{text}"))
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

/// One CSV field, quoted as RFC 4180 asks when it holds `"`, `,`, CR or LF (and when it starts or
/// ends with whitespace, which some readers would trim).
pub fn csv_field(text: &str) -> String {
    let padded = text.starts_with(char::is_whitespace) || text.ends_with(char::is_whitespace);
    if padded || text.contains(['"', ',', '\r', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

/// The CSV export's header line (without its CRLF).
pub const CSV_HEADER: &str =
    "date,project,seq,event_id,kind,account,currency,amount,memo,reference,hash,reverses,reverses_seq,reverses_under,reason";

/// Writes one CSV line per posting of the records in `scope`, after [`CSV_HEADER`]; RFC 4180 with
/// CRLF line ends. Events without postings have no line.
pub fn csv<W, R, I>(out: W, records: I, scope: Scope<'_>) -> io::Result<Summary>
where
    W: Write,
    R: Borrow<Record>,
    I: IntoIterator<Item = (R, Hash)>,
{
    let mut out = BufWriter::new(out);
    let mut summary = Summary::default();
    write!(out, "{CSV_HEADER}\r\n")?;
    for (record, hash) in records {
        let record = record.borrow();
        let Some(legs) = in_scope(record, scope)? else { continue };
        summary.records += 1;
        summary.transactions += u64::from(!legs.is_empty());
        let e = &record.event;
        let hash = hex(&hash);
        let reversal = reverses(&e.kind);
        let reversed = [
            reversal.as_ref().map(|r| r.kind.to_owned()).unwrap_or_default(),
            reversal.as_ref().map(|r| r.seq.to_string()).unwrap_or_default(),
            reversal.as_ref().and_then(|r| r.under.as_deref()).map(csv_text_field).unwrap_or_default(),
            reversal.as_ref().map(|r| csv_text_field(r.reason)).unwrap_or_default(),
        ];
        for leg in &legs {
            summary.postings += 1;
            let fields = [
                e.effective_date.to_string(),
                e.project.to_string(),
                record.seq.to_string(),
                csv_text_field(&e.event_id),
                e.kind.name().to_owned(),
                leg.account.to_string(),
                leg.currency.to_string(),
                format_amount(leg.amount, leg.currency),
                csv_text_field(&e.memo),
                csv_text_field(e.reference.as_deref().unwrap_or("")),
                hash.clone(),
            ];
            write!(out, "{},{}\r\n", fields.join(","), reversed.join(","))?;
        }
    }
    out.flush()?;
    Ok(summary)
}

fn money_json(m: &Money) -> Value {
    json!({ "amount": format_amount(m.amount(), m.currency()), "currency": m.currency().code() })
}

fn details_json(d: &ExpenseDetails) -> Value {
    json!({
        "amount": money_json(&d.amount),
        "payee": d.payee,
        "category": d.category,
        "fund": d.fund.label(),
        "receipt": { "hash": hex(&d.receipt.hash), "file_name": d.receipt.file_name },
    })
}

/// The fields of an event kind as JSON, every amount a decimal string.
fn fields_json(kind: &EventKind) -> Value {
    match kind {
        EventKind::ProjectOpened { name, kind, fee_bps, currency, advance_limit } => json!({
            "name": name,
            "project_kind": kind.name(),
            "fee_bps": fee_bps,
            "currency": currency.code(),
            "advance_limit": format_amount(*advance_limit, *currency),
        }),
        EventKind::ProjectTermsChanged { fee_bps, advance_limit } => json!({
            "fee_bps": fee_bps,
            "advance_limit": advance_limit.map(|l| l.normalize().to_string()),
        }),
        EventKind::ContributionReceived { amount, from, source, fund, fee_bps } => json!({
            "amount": money_json(amount),
            "from": from,
            "source": source.name(),
            "fund": fund.label(),
            "fee_bps": fee_bps,
        }),
        EventKind::PledgeRecorded { amount, sponsor, due_date } => json!({
            "amount": money_json(amount),
            "sponsor": sponsor,
            "due_date": due_date.to_string(),
        }),
        EventKind::PledgeFulfilled { amount, pledge, fee_bps } => json!({
            "amount": money_json(amount),
            "pledge": pledge,
            "fee_bps": fee_bps,
        }),
        EventKind::PledgeCancelled { pledge, amount } => json!({
            "pledge": pledge,
            "amount": amount.as_ref().map(money_json),
        }),
        EventKind::GrantAwarded { amount, program } => json!({ "amount": money_json(amount), "program": program }),
        EventKind::AdvanceIssued { amount, purpose } => json!({ "amount": money_json(amount), "purpose": purpose }),
        EventKind::AdvanceRepaid { amount } => json!({ "amount": money_json(amount) }),
        EventKind::ExpensePaid { request, details } => json!({
            "request": request,
            "details": details.as_ref().map(details_json),
        }),
        EventKind::ExpenseRequested { details } => json!({ "details": details_json(details) }),
        EventKind::ExpenseApproved { request } => json!({ "request": request }),
        EventKind::ExpenseRejected { request, reason } => json!({ "request": request, "reason": reason }),
        EventKind::RefundIssued { amount, contribution, fund, fee_share } => json!({
            "amount": money_json(amount),
            "contribution": contribution,
            "fund": fund.as_ref().map(|f| f.label()),
            "fee_share": fee_share.map(|f| format_amount(f, amount.currency())),
        }),
        EventKind::TransferSent { amount, to } => json!({ "amount": money_json(amount), "to": to.as_str() }),
        EventKind::TransferReceived { amount, from } => {
            json!({ "amount": money_json(amount), "from": from.as_str() })
        }
        EventKind::FundsReleased { amount, purpose } => json!({ "amount": money_json(amount), "purpose": purpose }),
        EventKind::CurrencyConverted { amount, to } => json!({ "amount": money_json(amount), "to": money_json(to) }),
        EventKind::OpeningBalance { amount, fund } => json!({ "amount": money_json(amount), "fund": fund.label() }),
        EventKind::EventReversed { target_seq, reason, target } => json!({
            "target_seq": target_seq,
            "reason": reason,
            "target": target.as_deref().map(|t| json!({ "kind": t.name(), "fields": fields_json(t) })),
        }),
        EventKind::ProjectClosed {} => json!({}),
        EventKind::PeriodClosed { through } => json!({ "through": through.to_string() }),
    }
}

/// One record as the JSON object [`jsonl`] writes.
pub fn event_json(record: &Record, hash: &Hash) -> Value {
    let e = &record.event;
    let legs: Vec<Value> = postings(&e.project, &e.kind)
        .iter()
        .map(|leg| {
            json!({
                "account": leg.account.to_string(),
                "currency": leg.currency.code(),
                "amount": format_amount(leg.amount, leg.currency),
            })
        })
        .collect();
    let recorded_at = chrono::DateTime::from_timestamp_micros(record.recorded_at)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true));
    let mut obj = Map::new();
    obj.insert("project".into(), e.project.as_str().into());
    obj.insert("seq".into(), record.seq.into());
    obj.insert("commit".into(), record.commit.into());
    obj.insert("hash".into(), hex(hash).into());
    obj.insert("prev".into(), hex(&record.prev).into());
    obj.insert("recorded_at".into(), recorded_at.into());
    obj.insert("recorded_at_us".into(), record.recorded_at.into());
    obj.insert("actor".into(), record.actor.as_str().into());
    obj.insert("event_id".into(), e.event_id.as_str().into());
    obj.insert("kind".into(), e.kind.name().into());
    obj.insert("date".into(), e.effective_date.to_string().into());
    obj.insert("memo".into(), e.memo.as_str().into());
    obj.insert("reference".into(), e.reference.as_deref().into());
    obj.insert("fields".into(), fields_json(&e.kind));
    obj.insert("postings".into(), Value::Array(legs));
    Value::Object(obj)
}

/// Writes one JSON object per record in `scope`, one per line ([`event_json`]: chain position,
/// hash, actor, the event's fields and its postings; amounts as decimal strings).
pub fn jsonl<W, R, I>(out: W, records: I, scope: Scope<'_>) -> io::Result<Summary>
where
    W: Write,
    R: Borrow<Record>,
    I: IntoIterator<Item = (R, Hash)>,
{
    let mut out = BufWriter::new(out);
    let mut summary = Summary::default();
    for (record, hash) in records {
        let record = record.borrow();
        let Some(legs) = in_scope(record, scope)? else { continue };
        summary.records += 1;
        summary.transactions += u64::from(!legs.is_empty());
        summary.postings += legs.len() as u64;
        serde_json::to_writer(&mut out, &event_json(record, &hash))?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_flattens_and_trims() {
        assert_eq!(one_line("  a\nb\r\n\tc  "), "a b c");
        assert_eq!(one_line("x\u{2028}y\u{7}z"), "x y z");
        assert_eq!(one_line("\n\n"), "");
        assert_eq!(one_line("ü 日本 🦀"), "ü 日本 🦀");
    }

    #[test]
    fn hledger_descriptions_have_no_comment_or_line_break() {
        assert_eq!(hledger_description("GrantAwarded", ""), "GrantAwarded");
        let d = hledger_description("ExpensePaid", "  ; venue; deposit\n  paid \"now\" | ok");
        assert_eq!(d, "ExpensePaid | , venue, deposit paid \"now\" | ok");
        assert!(!d.contains(';') && !d.contains('\n'));
    }

    #[test]
    fn hledger_tag_values_are_percent_encoded() {
        assert_eq!(hledger_tag_value("inv-1"), "inv-1");
        assert_eq!(hledger_tag_value("a,b%c"), "a%2Cb%25c");
        assert_eq!(hledger_tag_value(" a b "), "%20a b%20");
        assert_eq!(hledger_tag_value("x:y;z"), "x:y;z");
    }

    #[test]
    fn beancount_strings_escape_quotes_and_backslashes() {
        assert_eq!(beancount_string(r#"say "hi" \o/"#), r#""say \"hi\" \\o/""#);
    }

    #[test]
    fn beancount_names_map_both_ways() {
        let cases = [
            (Account::Unrestricted("rustconf-2026"), "Liabilities:Projects:Rustconf-2026:Unrestricted"),
            (Account::Restricted("2026-x", "-odd"), "Liabilities:Projects:2026-x:Restricted:XX-odd"),
            (Account::Restricted("xx-a", "venue"), "Liabilities:Projects:Xx-a:Restricted:Venue"),
            (Account::Pledged("p"), "Liabilities:Projects:P:Pledged"),
            (Account::PledgesReceivable("p"), "Assets:Receivable:Pledges:P"),
            (Account::AdvancesReceivable("p"), "Assets:Receivable:Advances:P"),
            (Account::Fees("p"), "Income:Fees:P"),
            (Account::Grants("community"), "Expenses:Grants:Community"),
            (Account::Clearing, "Assets:Clearing:Transfers"),
            (Account::Bank(Currency::from_code("KWD").expect("KWD")), "Assets:Bank:KWD"),
        ];
        for (account, name) in cases {
            assert_eq!(beancount_account(&account), name);
            assert_eq!(fiscus_account(name), Some(account.to_string()), "{name}");
        }
        assert_eq!(fiscus_account("Liabilities:Projects:rustconf:Unrestricted"), None);
        assert_eq!(fiscus_account("Assets:Bank:XYZ"), None);
        assert_eq!(fiscus_account("Equity:Opening"), None);
    }

    #[test]
    fn csv_fields_follow_rfc_4180() {
        assert_eq!(csv_field("plain text"), "plain text");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
        assert_eq!(csv_field("cr\r"), "\"cr\r\"");
        assert_eq!(csv_field(""), "");
        assert_eq!(csv_field(" padded "), "\" padded \"");
        assert_eq!(csv_field("-12.50"), "-12.50", "a plain field (an amount) is not neutralised");
    }

    #[test]
    fn csv_text_fields_never_start_a_formula() {
        assert_eq!(csv_text_field("=HYPERLINK(\"http://x\",\"y\")"), "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\"");
        for (text, want) in [("+1", "'+1"), ("-2+3", "'-2+3"), ("@SUM(A1)", "'@SUM(A1)"), ("a=b", "a=b"), ("", "")] {
            assert_eq!(csv_text_field(text), want);
        }
        assert_eq!(csv_text_field("\tx"), "'\tx");
        assert_eq!(csv_text_field("\rx"), "\"'\rx\"");
    }

    #[test]
    fn hex_is_lower_case() {
        assert_eq!(hex(&[0, 0xab, 0x10]), "00ab10");
    }
}
