//! `fiscus record`: one event from flags, or a commit from a JSON file. Both go through the same
//! [`EventSpec`] (the shape of one event in a commit file, documented in `docs/RECORD.md`), which
//! becomes a ledger `Event` checked field by field before anything is sent.
//!
//! An event without an `event_id` gets one derived from its validated, normalised content
//! (`cli-` and 24 hex digits, [`crate::identity::content_id`]), so running the same command or file
//! twice records it once, however its amounts or line endings were spelt: the second run answers
//! "already recorded". Give `--id` (or `event_id`) to record two events that are otherwise
//! identical.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use clap::{Args, Subcommand};
use fiscus_client::fiscus_ledger::ids::{check_event_id, parse_date, EVENT_ID_LEN_MAX};
use fiscus_client::fiscus_ledger::money::parse_amount;
use fiscus_client::fiscus_ledger::{
    Currency, Event, EventKind, ExpenseDetails, Fund, LedgerError, Money, ProjectId, ProjectKind, Receipt, Source,
};
use serde::{Deserialize, Serialize};

use crate::fail::Failure;
use crate::files::FileError;
use crate::identity::{content_id, normalise_text, Origin};

/// `fiscus record --help`'s after-help: both forms and the commit file's shape (`docs/RECORD.md`
/// has the whole list of kinds and fields).
pub const RECORD_HELP: &str = r#"One event from flags (the envelope flags may come before or after the kind):
  fiscus record contribution --project rustconf-2026 --amount 10000.00 --currency USD \
      --from "Ferrous Systems" --source sponsorship --reference INV-2026-001
  fiscus record expense --project berlin-rust-meetup --amount 350.00 --currency EUR \
      --payee "Pizzeria Napoli" --category catering --receipt ./pizza-feb.pdf
  fiscus record approve --project berlin-rust-meetup --seq 7

A commit from a JSON file (all its events are stored, or none):
  fiscus record --file package.json
  {
    "events": [
      {"project": "rustconf-2026", "date": "2026-03-01", "kind": "contribution",
       "amount": "10000.00", "currency": "USD", "from": "Ferrous Systems",
       "source": "sponsorship", "reference": "PKG-2026-0001", "memo": "Package share"},
      {"project": "berlin-rust-meetup", "date": "2026-03-01", "kind": "contribution",
       "amount": "2000.00", "currency": "EUR", "from": "Ferrous Systems",
       "source": "sponsorship", "reference": "PKG-2026-0001"}
    ],
    "expected_seq": {"rustconf-2026": 12}
  }
Each event: project, date (YYYY-MM-DD), memo, reference, event_id (all but project and date
optional), "kind" (a subcommand name below) and that kind's flags as fields with '_' for '-'
(fee_bps, due_date, receipt_hash, to_amount ...). Amounts are decimal strings, never numbers.
A fund is "unrestricted" or "restricted:<purpose>". An expense's "receipt" is a file whose blake3
hash is recorded (relative to the JSON file), or a name with "receipt_hash".
Without an event_id, the id is derived from the event's content: the same command or file run
twice records once. See docs/RECORD.md."#;

/// A commit file: `{"events": [ … ], "expected_seq": {"project": seq}}`.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct CommitFile {
    /// The events, in order; stored together or not at all.
    pub events: Vec<EventSpec>,
    /// Optional head seq per project that the commit must find.
    #[serde(default)]
    pub expected_seq: BTreeMap<String, u64>,
}

/// One event of a commit file: the envelope and the kind's own fields side by side.
#[derive(Deserialize, Serialize, Debug, Clone)]
pub struct EventSpec {
    /// Idempotency key; derived from the content when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// The project (or `sponsor` for a sponsor-wide `close-period`).
    pub project: String,
    /// The accounting date, `YYYY-MM-DD`.
    pub date: String,
    /// Free text.
    #[serde(default)]
    pub memo: String,
    /// External reference (invoice, bank transaction).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// What happened.
    #[serde(flatten)]
    pub kind: KindSpec,
}

/// Every kind of event `fiscus record` can record: a subcommand each, and the `kind` of a commit
/// file's event. Amounts are decimal strings, never numbers.
#[derive(Subcommand, Deserialize, Serialize, Debug, Clone)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum KindSpec {
    /// Open a project (admin).
    OpenProject(OpenProject),
    /// Change a project's fee or advance limit (admin).
    ChangeTerms(ChangeTerms),
    /// Money received for a project: a sponsorship, donation, ticket sales …
    Contribution(Contribution),
    /// A sponsor's promise to pay later.
    Pledge(Pledge),
    /// A pledge paid, in part or in full.
    PledgePayment(PledgePayment),
    /// What remains of a pledge will not be paid.
    PledgeCancel(SeqOf),
    /// A grant from the sponsor's own funds.
    Grant(Grant),
    /// Money advanced to a project, owed back.
    Advance(Advance),
    /// An advance paid back.
    AdvanceRepayment(Amount),
    /// A vendor paid directly by accounting.
    Expense(Expense),
    /// An expense filed for approval (a project token may file it).
    ExpenseRequest(Expense),
    /// Approve an expense request (not by its requester).
    Approve(SeqOf),
    /// Reject an expense request.
    Reject(Reject),
    /// Pay an approved expense request in full.
    Pay(SeqOf),
    /// Part or all of a contribution paid back.
    Refund(Refund),
    /// Money sent to another project (records both sides in one commit).
    Transfer(Transfer),
    /// Restricted money released to the unrestricted fund.
    Release(Release),
    /// Unrestricted money converted into another currency.
    Convert(Convert),
    /// A balance brought over from earlier books.
    OpeningBalance(OpeningBalance),
    /// Negate an earlier event's postings.
    Reverse(Reverse),
    /// Close a project whose balances are all zero (admin).
    CloseProject(Nothing),
    /// Close the books through a date (project `sponsor` for every project).
    ClosePeriod(ClosePeriod),
}

/// An amount and its currency.
#[derive(Args, Deserialize, Serialize, Debug, Clone)]
pub struct Amount {
    /// Amount, a decimal string such as 1250.00.
    #[arg(long)]
    pub amount: String,
    /// ISO 4217 currency code, such as USD.
    #[arg(long)]
    pub currency: String,
}

/// `open-project` fields.
#[derive(Args, Deserialize, Serialize, Debug, Clone)]
pub struct OpenProject {
    /// Display name, such as "RustConf 2026".
    #[arg(long)]
    pub name: String,
    /// conference, meetup, workshop, open-source or other.
    #[arg(long = "project-kind", default_value = DEFAULT_PROJECT_KIND)]
    #[serde(default = "default_project_kind")]
    pub project_kind: String,
    /// The sponsor's fee in basis points (800 = 8 %).
    #[arg(long)]
    pub fee_bps: u32,
    /// Home currency.
    #[arg(long)]
    pub currency: String,
    /// Most the project may owe in advances, in its home currency.
    #[arg(long, default_value = DEFAULT_ADVANCE_LIMIT)]
    #[serde(default = "default_advance_limit")]
    pub advance_limit: String,
}

// A field a flag may leave out may be left out of a commit file too, with the same default: one
// constant gives both (`--help` shows it, `docs/RECORD.md` documents it).
/// `project_kind` when not given.
pub const DEFAULT_PROJECT_KIND: &str = "conference";
/// `advance_limit` when not given.
pub const DEFAULT_ADVANCE_LIMIT: &str = "0";
/// A contribution's `source` when not given.
pub const DEFAULT_SOURCE: &str = "sponsorship";

fn default_project_kind() -> String {
    DEFAULT_PROJECT_KIND.to_owned()
}

fn default_advance_limit() -> String {
    DEFAULT_ADVANCE_LIMIT.to_owned()
}

fn default_source() -> String {
    DEFAULT_SOURCE.to_owned()
}

/// `change-terms` fields.
#[derive(Args, Deserialize, Serialize, Debug, Clone)]
pub struct ChangeTerms {
    /// New fee in basis points.
    #[arg(long)]
    #[serde(default)]
    pub fee_bps: Option<u32>,
    /// New advance limit.
    #[arg(long)]
    #[serde(default)]
    pub advance_limit: Option<String>,
}

/// `contribution` fields.
#[derive(Args, Deserialize, Serialize, Debug, Clone)]
pub struct Contribution {
    #[command(flatten)]
    #[serde(flatten)]
    /// How much.
    pub money: Amount,
    /// Who paid.
    #[arg(long)]
    pub from: String,
    /// sponsorship, donation, ticket-sales, grant or other.
    #[arg(long, default_value = DEFAULT_SOURCE)]
    #[serde(default = "default_source")]
    pub source: String,
    /// unrestricted (default) or restricted:<purpose>.
    #[arg(long)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fund: Option<String>,
    /// Fee for this contribution in basis points (default: the project's).
    #[arg(long)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fee_bps: Option<u32>,
}

/// `pledge` fields.
#[derive(Args, Deserialize, Serialize, Debug, Clone)]
pub struct Pledge {
    #[command(flatten)]
    #[serde(flatten)]
    /// How much.
    pub money: Amount,
    /// The sponsor.
    #[arg(long)]
    pub sponsor: String,
    /// When payment is due, YYYY-MM-DD.
    #[arg(long)]
    pub due_date: String,
}

/// `pledge-payment` fields.
#[derive(Args, Deserialize, Serialize, Debug, Clone)]
pub struct PledgePayment {
    #[command(flatten)]
    #[serde(flatten)]
    /// How much.
    pub money: Amount,
    /// Seq of the pledge.
    #[arg(long)]
    pub pledge: u64,
    /// Fee in basis points (default: the project's).
    #[arg(long)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fee_bps: Option<u32>,
}

/// An event naming an earlier one by seq (`pledge-cancel`, `approve`, `pay`).
#[derive(Args, Deserialize, Serialize, Debug, Clone)]
pub struct SeqOf {
    /// Seq of the pledge or expense request in the same project.
    #[arg(long)]
    pub seq: u64,
}

/// `grant` fields.
#[derive(Args, Deserialize, Serialize, Debug, Clone)]
pub struct Grant {
    #[command(flatten)]
    #[serde(flatten)]
    /// How much.
    pub money: Amount,
    /// The grant program, such as community-fund.
    #[arg(long)]
    pub program: String,
}

/// `advance` fields.
#[derive(Args, Deserialize, Serialize, Debug, Clone)]
pub struct Advance {
    #[command(flatten)]
    #[serde(flatten)]
    /// How much, in the project's home currency.
    pub money: Amount,
    /// What it is for.
    #[arg(long)]
    pub purpose: String,
}

/// `expense` and `expense-request` fields.
#[derive(Args, Deserialize, Serialize, Debug, Clone)]
pub struct Expense {
    #[command(flatten)]
    #[serde(flatten)]
    /// How much.
    pub money: Amount,
    /// Who is paid.
    #[arg(long)]
    pub payee: String,
    /// Expense category, such as venue or catering.
    #[arg(long)]
    pub category: String,
    /// unrestricted (default) or restricted:<purpose>.
    #[arg(long)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fund: Option<String>,
    /// The invoice or receipt file: it is hashed (blake3) and its name recorded.
    #[arg(long)]
    pub receipt: String,
    /// The receipt's blake3 hash (64 hex digits), when the file is kept elsewhere.
    #[arg(long)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt_hash: Option<String>,
}

/// `reject` fields.
#[derive(Args, Deserialize, Serialize, Debug, Clone)]
pub struct Reject {
    /// Seq of the expense request.
    #[arg(long)]
    pub seq: u64,
    /// Why, shown to the requester.
    #[arg(long)]
    pub reason: String,
}

/// `refund` fields.
#[derive(Args, Deserialize, Serialize, Debug, Clone)]
pub struct Refund {
    #[command(flatten)]
    #[serde(flatten)]
    /// How much.
    pub money: Amount,
    /// Seq of the contribution refunded.
    #[arg(long)]
    pub contribution: u64,
}

/// `transfer` fields.
#[derive(Args, Deserialize, Serialize, Debug, Clone)]
pub struct Transfer {
    #[command(flatten)]
    #[serde(flatten)]
    /// How much.
    pub money: Amount,
    /// The receiving project.
    #[arg(long)]
    pub to: String,
}

/// `release` fields.
#[derive(Args, Deserialize, Serialize, Debug, Clone)]
pub struct Release {
    #[command(flatten)]
    #[serde(flatten)]
    /// How much.
    pub money: Amount,
    /// The restricted fund's purpose.
    #[arg(long)]
    pub purpose: String,
}

/// `convert` fields.
#[derive(Args, Deserialize, Serialize, Debug, Clone)]
pub struct Convert {
    #[command(flatten)]
    #[serde(flatten)]
    /// Amount given up.
    pub money: Amount,
    /// Amount obtained.
    #[arg(long)]
    pub to_amount: String,
    /// Its currency.
    #[arg(long)]
    pub to_currency: String,
}

/// `opening-balance` fields.
#[derive(Args, Deserialize, Serialize, Debug, Clone)]
pub struct OpeningBalance {
    #[command(flatten)]
    #[serde(flatten)]
    /// How much.
    pub money: Amount,
    /// unrestricted (default) or restricted:<purpose>.
    #[arg(long)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fund: Option<String>,
}

/// `reverse` fields.
#[derive(Args, Deserialize, Serialize, Debug, Clone)]
pub struct Reverse {
    /// Seq of the event to reverse.
    #[arg(long)]
    pub seq: u64,
    /// Why.
    #[arg(long)]
    pub reason: String,
}

/// `close-period` fields.
#[derive(Args, Deserialize, Serialize, Debug, Clone)]
pub struct ClosePeriod {
    /// Last date closed, YYYY-MM-DD: before the event's --date (which, as every event's, is not
    /// after tomorrow, UTC: a close cannot be undone).
    #[arg(long)]
    pub through: String,
}

/// No fields.
#[derive(Args, Deserialize, Serialize, Debug, Clone)]
pub struct Nothing {}

fn invalid(e: LedgerError) -> Failure {
    Failure::Ledger(e)
}

fn money(field: &str, a: &Amount) -> Result<Money, Failure> {
    Money::parse(field, &a.amount, &a.currency).map_err(invalid)
}

fn fund(field: &str, text: Option<&str>) -> Result<Fund, Failure> {
    match text {
        None | Some("") | Some("unrestricted") => Ok(Fund::Unrestricted),
        Some(t) => match t.strip_prefix("restricted:") {
            Some(p) => Ok(Fund::Restricted(p.to_owned())),
            None => Err(invalid(LedgerError::invalid(
                field,
                format!("{t:?} is neither \"unrestricted\" nor \"restricted:<purpose>\""),
            ))),
        },
    }
}

/// The receipt of an expense: hashed from the file, or the given hash with the file's name.
fn receipt(field: &str, path: &str, hash: Option<&str>, base: &Path) -> Result<Receipt, Failure> {
    let name = Path::new(path).file_name().and_then(|n| n.to_str()).unwrap_or(path).to_owned();
    let hash = match hash {
        Some(h) => {
            let bytes = hex::decode(h.trim()).ok().and_then(|b| <[u8; 32]>::try_from(b).ok());
            bytes.ok_or_else(|| {
                invalid(LedgerError::invalid(&format!("{field}_hash"), "must be 64 hex digits (blake3)"))
            })?
        }
        None => {
            let file = base.join(path);
            let max = crate::files::EVIDENCE_FILE_BYTES_MAX;
            let (hash, bytes) = crate::files::blake3_file(&file, max).map_err(|e| {
                let why = match e {
                    FileError::Io(e) => format!("cannot read {} ({e})", file.display()),
                    FileError::TooLarge(max) => {
                        format!("{} is larger than the {max} bytes fiscus hashes (or has no end)", file.display())
                    }
                    FileError::NotText => format!("cannot read {}", file.display()),
                };
                Failure::other(format!(
                    "{field}: {why}; give the receipt's blake3 hash with receipt_hash (--receipt-hash) \
                     when the file is kept elsewhere"
                ))
            })?;
            if bytes == 0 {
                return Err(Failure::other(format!(
                    "{field}: {} is empty; an expense's receipt is its invoice or receipt file (or give its blake3 \
                     hash with receipt_hash, --receipt-hash)",
                    file.display()
                )));
            }
            hash
        }
    };
    Ok(Receipt { hash, file_name: name })
}

fn details(e: &Expense, base: &Path) -> Result<ExpenseDetails, Failure> {
    Ok(ExpenseDetails {
        amount: money("amount", &e.money)?,
        payee: e.payee.clone(),
        category: e.category.clone(),
        fund: fund("fund", e.fund.as_deref())?,
        receipt: receipt("receipt", &e.receipt, e.receipt_hash.as_deref(), base)?,
    })
}

fn project(field: &str, id: &str) -> Result<ProjectId, Failure> {
    ProjectId::parse(field, id).map_err(invalid)
}

impl EventSpec {
    /// The ledger events of this spec (two for a transfer), checked; `base` is where receipt files
    /// are looked up; `at` prefixes field names in errors (`events[2]`).
    pub fn to_events(&self, base: &Path, at: &str) -> Result<Vec<Event>, Failure> {
        let f = |n: &str| if at.is_empty() { n.to_owned() } else { format!("{at}.{n}") };
        let memo = normalise_text(&self.memo);
        // Without an event_id, the id is derived from the events once they are built (below).
        let given = self.event_id.clone();
        let project = project(&f("project"), &self.project)?;
        let date: NaiveDate = parse_date(&f("date"), &self.date).map_err(invalid)?;
        let kind = match &self.kind {
            KindSpec::OpenProject(o) => {
                let currency = Currency::parse(&f("currency"), &o.currency).map_err(invalid)?;
                EventKind::ProjectOpened {
                    name: o.name.clone(),
                    kind: ProjectKind::parse(&f("project_kind"), &o.project_kind).map_err(invalid)?,
                    fee_bps: o.fee_bps,
                    currency,
                    advance_limit: parse_amount(&f("advance_limit"), &o.advance_limit, Some(currency))
                        .map_err(invalid)?,
                }
            }
            KindSpec::ChangeTerms(t) => EventKind::ProjectTermsChanged {
                fee_bps: t.fee_bps,
                advance_limit: t
                    .advance_limit
                    .as_deref()
                    .map(|l| parse_amount(&f("advance_limit"), l, None))
                    .transpose()
                    .map_err(invalid)?,
            },
            KindSpec::Contribution(c) => EventKind::ContributionReceived {
                amount: money(&f("amount"), &c.money)?,
                from: c.from.clone(),
                source: Source::parse(&f("source"), &c.source).map_err(invalid)?,
                fund: fund(&f("fund"), c.fund.as_deref())?,
                fee_bps: c.fee_bps,
            },
            KindSpec::Pledge(p) => EventKind::PledgeRecorded {
                amount: money(&f("amount"), &p.money)?,
                sponsor: p.sponsor.clone(),
                due_date: parse_date(&f("due_date"), &p.due_date).map_err(invalid)?,
            },
            KindSpec::PledgePayment(p) => EventKind::PledgeFulfilled {
                amount: money(&f("amount"), &p.money)?,
                pledge: p.pledge,
                fee_bps: p.fee_bps,
            },
            KindSpec::PledgeCancel(s) => EventKind::PledgeCancelled { pledge: s.seq, amount: None },
            KindSpec::Grant(g) => {
                EventKind::GrantAwarded { amount: money(&f("amount"), &g.money)?, program: g.program.clone() }
            }
            KindSpec::Advance(a) => {
                EventKind::AdvanceIssued { amount: money(&f("amount"), &a.money)?, purpose: a.purpose.clone() }
            }
            KindSpec::AdvanceRepayment(a) => EventKind::AdvanceRepaid { amount: money(&f("amount"), a)? },
            KindSpec::Expense(e) => EventKind::ExpensePaid { request: None, details: Some(details(e, base)?) },
            KindSpec::ExpenseRequest(e) => EventKind::ExpenseRequested { details: details(e, base)? },
            KindSpec::Approve(s) => EventKind::ExpenseApproved { request: s.seq },
            KindSpec::Reject(r) => EventKind::ExpenseRejected { request: r.seq, reason: r.reason.clone() },
            KindSpec::Pay(s) => EventKind::ExpensePaid { request: Some(s.seq), details: None },
            KindSpec::Refund(r) => EventKind::RefundIssued {
                amount: money(&f("amount"), &r.money)?,
                contribution: r.contribution,
                fund: None,
                fee_share: None,
            },
            KindSpec::Transfer(t) => {
                let amount = money(&f("amount"), &t.money)?;
                let to = self::project(&f("to"), &t.to)?;
                let envelope = |project: ProjectId, kind: EventKind| Event {
                    event_id: String::new(),
                    project,
                    effective_date: date,
                    memo: memo.clone(),
                    reference: self.reference.clone(),
                    kind,
                };
                let mut events = vec![
                    envelope(project.clone(), EventKind::TransferSent { amount, to: to.clone() }),
                    envelope(to, EventKind::TransferReceived { amount, from: project }),
                ];
                // The two events are `ID-out` and `ID-in`: a given id leaves room for the suffix.
                if let Some(id) = &given {
                    let max = EVENT_ID_LEN_MAX - "-out".len();
                    check_event_id(&f("event_id"), id).map_err(invalid)?;
                    if id.len() > max {
                        return Err(invalid(LedgerError::invalid(
                            &f("event_id"),
                            format!(
                                "a transfer's id must be at most {max} characters (its events are ID-out and \
                                 ID-in), got {}",
                                id.len()
                            ),
                        )));
                    }
                }
                let id = given.unwrap_or_else(|| content_id(Origin::Record, &events));
                events[0].event_id = format!("{id}-out");
                events[1].event_id = format!("{id}-in");
                // both sides come from the one entry at `at` (its flags, or events[i] of a file)
                for e in &events {
                    e.validate(at).map_err(invalid)?;
                }
                return Ok(events);
            }
            KindSpec::Release(r) => {
                EventKind::FundsReleased { amount: money(&f("amount"), &r.money)?, purpose: r.purpose.clone() }
            }
            KindSpec::Convert(c) => EventKind::CurrencyConverted {
                amount: money(&f("amount"), &c.money)?,
                to: Money::parse(&f("to_amount"), &c.to_amount, &c.to_currency).map_err(invalid)?,
            },
            KindSpec::OpeningBalance(o) => EventKind::OpeningBalance {
                amount: money(&f("amount"), &o.money)?,
                fund: fund(&f("fund"), o.fund.as_deref())?,
            },
            KindSpec::Reverse(r) => {
                EventKind::EventReversed { target_seq: r.seq, reason: r.reason.clone(), target: None }
            }
            KindSpec::CloseProject(_) => EventKind::ProjectClosed {},
            KindSpec::ClosePeriod(c) => {
                EventKind::PeriodClosed { through: parse_date(&f("through"), &c.through).map_err(invalid)? }
            }
        };
        let mut event = Event {
            event_id: String::new(),
            project,
            effective_date: date,
            memo,
            reference: self.reference.clone(),
            kind,
        };
        event.event_id = given.unwrap_or_else(|| content_id(Origin::Record, std::slice::from_ref(&event)));
        event.validate(at).map_err(invalid)?;
        Ok(vec![event])
    }
}

/// The fields every event of a commit file may have, whatever its kind.
const ENVELOPE_FIELDS: [&str; 6] = ["event_id", "project", "date", "memo", "reference", "kind"];

/// The first field of a commit file's events that its kind does not have (`events[i].name`), if
/// any. The events' shape is the envelope flattened with the kind's fields, which serde cannot
/// check for strangers itself; a misspelt optional field would otherwise be dropped without a word.
/// A kind's fields are its subcommand's arguments: the same structs give both.
fn unknown_event_field(text: &str) -> Option<String> {
    let file: serde_json::Value = serde_json::from_str(text).ok()?;
    let commands = KindSpec::augment_subcommands(clap::Command::new("record"));
    for (i, event) in file.get("events")?.as_array()?.iter().enumerate() {
        let Some(fields) = event.as_object() else { continue };
        let Some(kind) = fields.get("kind").and_then(|k| k.as_str()).and_then(|k| commands.find_subcommand(k)) else {
            continue;
        };
        let known = |name: &str| ENVELOPE_FIELDS.contains(&name) || kind.get_arguments().any(|a| a.get_id() == name);
        if let Some(name) = fields.keys().find(|name| !known(name)) {
            return Some(format!("events[{i}].{name}"));
        }
    }
    None
}

/// Expected head seq per project.
pub type ExpectedHeads = Vec<(ProjectId, u64)>;

/// Most bytes of a commit file. A commit file holds one commit: at most
/// [`fiscus_client::fiscus_ledger::commit::COMMIT_EVENTS_MAX`] events, sent as one request of at
/// most the contract's 4 MiB; its JSON, with every memo at its longest and escaped, stays well
/// under this. A larger file is refused before it is read whole.
pub const COMMIT_FILE_BYTES_MAX: u64 = 16 * 1024 * 1024;

/// Reads a commit file (`-` for standard input) into events and expected heads.
pub fn read_commit_file(path: &Path) -> Result<(Vec<Event>, ExpectedHeads), Failure> {
    let name = path.display().to_string();
    let (text, base) = if path == Path::new("-") {
        (read_bounded(std::io::stdin(), "standard input")?, PathBuf::from("."))
    } else {
        let file = crate::files::open_within(path, COMMIT_FILE_BYTES_MAX)
            .map_err(|e| Failure::other(format!("cannot read {}", e.message(&name, "commit file"))))?;
        (read_bounded(file, &name)?, path.parent().map(Path::to_path_buf).unwrap_or_default())
    };
    parse_commit_file(&text, &base, &name)
}

/// The text of `reader` (named `name` in messages), refused past [`COMMIT_FILE_BYTES_MAX`].
fn read_bounded(reader: impl Read, name: &str) -> Result<String, Failure> {
    crate::files::read_text_from(reader, COMMIT_FILE_BYTES_MAX).map_err(|e| match e {
        FileError::Io(e) => Failure::other(format!("cannot read {name}: {e}")),
        FileError::TooLarge(_) => Failure::other(format!(
            "{name}: a commit file is at most {} MiB (it holds one commit of at most {} events); split it",
            COMMIT_FILE_BYTES_MAX / (1024 * 1024),
            fiscus_client::fiscus_ledger::commit::COMMIT_EVENTS_MAX
        )),
        FileError::NotText => Failure::other(format!("{name}: a commit file is UTF-8 JSON text")),
    })
}

/// Checks, before anything is sent, that a commit's receipt can be kept in `path`: an existing
/// file there must hold one earlier receipt, whole ([`read_receipt`]; never an invoice, a commit file or any other file: the
/// same path given as an expense's evidence and as `--receipt` would lose the evidence), and the
/// folder must let the file be written. Answers true when the check created `path` (empty), for
/// [`drop_receipt_file`] when the commit then fails.
pub fn check_receipt_file(path: &Path) -> Result<bool, Failure> {
    let refuse = |why: String| Failure::usage(format!("--receipt {}: {why}; nothing was recorded", path.display()));
    // A link (even one to nowhere) would have the receipt written wherever it points.
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(refuse("is a symbolic link; give the path of the file itself".to_owned()));
    }
    let not_a_receipt = |why: &str| {
        refuse(format!(
            "the file exists and is not one receipt ({why}); it is not overwritten (an invoice, a commit file, \
             receipts kept together?): give another path"
        ))
    };
    // A file is read no further than a receipt can be long: the path may name a file of any size.
    let existed = match std::fs::metadata(path) {
        Ok(m) if !m.is_file() => {
            return Err(refuse("is not a regular file; give the path of a file to keep the receipt in".to_owned()))
        }
        Ok(m) if m.len() == 0 => true,
        Ok(_) => match read_receipt(path) {
            Ok(_) => true,
            Err(why) => return Err(not_a_receipt(&why)),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => return Err(refuse(format!("cannot be read ({e})"))),
    };
    // the rule the receipt's writing keeps (no file in a store's folder), checked before sending
    crate::files::refuse_unless_file(path).map_err(|e| refuse(e.to_string()))?;
    // A new file is made with O_EXCL, which never follows a link made meanwhile.
    std::fs::OpenOptions::new()
        .write(true)
        .create(!existed)
        .create_new(!existed)
        .truncate(false)
        .open(path)
        .map_err(|e| refuse(format!("cannot be written ({e})")))?;
    Ok(!existed)
}

/// The receipt kept in `file` (read up to a tlog-proof's limit, then parsed whole as one receipt:
/// the tlog-proof, its extra data, and its checkpoint as a signed note of a checkpoint body);
/// verifies no signature and no proof. The error says why the file is not a receipt.
pub fn read_receipt(file: &Path) -> Result<fiscus_client::fiscus_ledger::log::Receipt, String> {
    let max = fiscus_client::fiscus_tlog::tlog_proof::TLOG_PROOF_BYTES_MAX as u64;
    let text = crate::files::read_named(file, max, "receipt")?;
    let proof = fiscus_client::fiscus_tlog::TlogProof::parse(&text).map_err(|e| e.to_string())?;
    let receipt = fiscus_client::fiscus_ledger::log::Receipt::from_tlog_proof(&proof).map_err(|e| e.to_string())?;
    // the tlog-proof ends with its checkpoint: a signed note of a checkpoint body, and nothing after
    let note =
        fiscus_client::fiscus_tlog::Note::parse(&receipt.checkpoint).map_err(|e| format!("its checkpoint: {e}"))?;
    fiscus_client::fiscus_tlog::Checkpoint::parse_body(&note.text).map_err(|e| format!("its checkpoint: {e}"))?;
    Ok(receipt)
}

/// Removes the empty file [`check_receipt_file`] created, when no receipt came to fill it.
pub fn drop_receipt_file(path: &Path, created: bool) {
    if created && std::fs::metadata(path).is_ok_and(|m| m.len() == 0) {
        let _ = std::fs::remove_file(path);
    }
}

/// Parses the text of a commit file named `name` (for messages) into events and expected heads;
/// receipt files are read relative to `base`.
pub fn parse_commit_file(text: &str, base: &Path, name: &str) -> Result<(Vec<Event>, ExpectedHeads), Failure> {
    let file: CommitFile = serde_json::from_str(text)
        .map_err(|e| Failure::other(format!("{name}: not a commit file: {e} (see `fiscus record --help`)")))?;
    if let Some(field) = unknown_event_field(text) {
        return Err(Failure::other(format!(
            "{name}: {field}: unknown field for this kind of event (see `fiscus record --help`)"
        )));
    }
    if file.events.is_empty() {
        return Err(Failure::other(format!("{name}: the commit has no events")));
    }
    let mut events = Vec::new();
    for (i, spec) in file.events.iter().enumerate() {
        events.extend(spec.to_events(base, &format!("events[{i}]"))?);
    }
    let expected = file
        .expected_seq
        .iter()
        .map(|(p, s)| Ok((project(&format!("expected_seq.{p}"), p)?, *s)))
        .collect::<Result<Vec<_>, Failure>>()?;
    Ok((events, expected))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_commit_file_past_its_size_limit_is_refused_without_reading_it_whole() {
        use std::io::Read;
        // An endless stream (a file that keeps growing, /dev/zero): read up to the limit only.
        let err = read_bounded(std::io::repeat(b' '), "endless.json").expect_err("too large");
        assert!(err.to_string().contains("endless.json: a commit file is at most 16 MiB"), "{err}");
        let at_limit = std::io::repeat(b' ').take(COMMIT_FILE_BYTES_MAX);
        assert_eq!(read_bounded(at_limit, "full.json").expect("at the limit").len() as u64, COMMIT_FILE_BYTES_MAX);
        assert!(read_bounded(&[0xff_u8, 0xfe][..], "bin.json").is_err());
    }

    #[test]
    fn a_package_file_parses_into_three_events_with_stable_ids() {
        let text = r#"{"events": [
            {"project": "conf-a", "date": "2026-03-01", "kind": "contribution", "amount": "10000.00",
             "currency": "USD", "from": "Ferrous Systems", "source": "sponsorship", "reference": "PKG-1"},
            {"project": "conf-b", "date": "2026-03-01", "kind": "contribution", "amount": "2000",
             "currency": "EUR", "from": "Ferrous Systems", "reference": "PKG-1", "source": "sponsorship"},
            {"event_id": "mine", "project": "conf-c", "date": "2026-03-01", "kind": "transfer",
             "amount": "5", "currency": "USD", "to": "conf-a"}
        ]}"#;
        let file: CommitFile = serde_json::from_str(text).expect("parses");
        let a = file.events[0].to_events(Path::new("."), "events[0]").expect("valid");
        let again = file.events[0].to_events(Path::new("."), "events[0]").expect("valid");
        assert_eq!(a[0].event_id, again[0].event_id);
        assert!(a[0].event_id.starts_with("cli-"));
        let t = file.events[2].to_events(Path::new("."), "events[2]").expect("valid");
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].event_id, "mine-out");
    }

    #[test]
    fn a_transfer_id_too_long_for_its_suffixes_is_refused_with_its_own_length() {
        let spec = |id: &str| {
            let text = format!(
                r#"{{"events": [{{"event_id": "{id}", "project": "conf-c", "date": "2026-03-01",
                    "kind": "transfer", "amount": "5", "currency": "USD", "to": "conf-a"}}]}}"#
            );
            serde_json::from_str::<CommitFile>(&text).expect("parses").events.remove(0)
        };
        let sixty = "t".repeat(60);
        let t = spec(&sixty).to_events(Path::new("."), "events[0]").expect("60 characters leave room");
        assert_eq!(t[1].event_id.len(), 63);
        let err = spec(&"t".repeat(62)).to_events(Path::new("."), "events[0]").expect_err("62 + 4 is past 64");
        let text = err.to_string();
        assert!(
            text.contains("events[0].event_id") && text.contains("at most 60") && text.contains("got 62"),
            "{text}"
        );
        assert!(!text.contains("66"), "{text}");
    }

    #[test]
    fn a_receipt_path_that_is_a_link_is_refused_and_nothing_is_made_where_it_points() {
        let dir = tempfile::tempdir().expect("temp dir");
        let target = dir.path().join("elsewhere");
        let link = dir.path().join("receipt.proof");
        std::os::unix::fs::symlink(&target, &link).expect("a dangling link");
        let err = check_receipt_file(&link).expect_err("a link is refused");
        assert!(err.to_string().contains("is a symbolic link"), "{err}");
        assert!(!target.exists(), "the file the link points to was made");
        let plain = dir.path().join("new.proof");
        assert!(check_receipt_file(&plain).expect("a new path"), "made by the check");
        assert!(!check_receipt_file(&plain).expect("an empty receipt file is reused"));
    }

    /// A file at the `--receipt` path is replaced only when it holds one receipt, whole: two
    /// receipts kept in one file, a receipt with notes after it, or any file that merely starts as
    /// a receipt does are refused and left as they are.
    #[test]
    fn only_a_file_holding_one_receipt_is_replaced() {
        use fiscus_client::fiscus_ledger::log::{LogLeaf, Receipt, ReceiptRecord};
        use fiscus_client::fiscus_tlog::{empty_root, Checkpoint, NoteSigner};
        let signer = NoteSigner::from_seed("example.org/log", [3; 32]).expect("a key");
        let receipt = |commit: u64| {
            let body = Checkpoint::new("example.org/log", 5, empty_root()).expect("a checkpoint").body();
            let checkpoint = signer.sign_note(&body).expect("signed").to_text();
            let leaf = LogLeaf { commit, commit_hash: [1; 32], map_size: 1, map_root: empty_root() };
            let records = vec![ReceiptRecord { hash: [2; 32], bytes: None }];
            let r = Receipt { checkpoint, commit, prev_commit_hash: [0; 32], records, leaf, proof: vec![] };
            r.to_tlog_proof().expect("a receipt").to_text()
        };
        let dir = tempfile::tempdir().expect("temp dir");
        let kept = dir.path().join("kept.proof");
        std::fs::write(&kept, receipt(3)).expect("write");
        assert!(!check_receipt_file(&kept).expect("an earlier receipt is replaced"), "it existed");
        for (name, text) in [
            ("two", format!("{}{}", receipt(3), receipt(4))),
            ("notes", format!("{}\n\nMy notes on this payment\n", receipt(3))),
            ("start", "c2sp.org/tlog-proof@v1\nsomething else entirely\n".to_owned()),
            ("invoice", "%PDF-1.7 an invoice".to_owned()),
        ] {
            let path = dir.path().join(name);
            std::fs::write(&path, &text).expect("write");
            let err = check_receipt_file(&path).expect_err("not one receipt").to_string();
            assert!(err.contains("the file exists and is not one receipt"), "{name}: {err}");
            assert_eq!(std::fs::read_to_string(&path).expect("still there"), text, "{name} is left as it was");
        }
    }

    #[test]
    fn a_field_the_kind_does_not_have_is_refused_by_name() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("commit.json");
        let good = r#"{"events": [
            {"project": "conf-a", "date": "2026-03-01", "kind": "contribution", "amount": "10.00",
             "currency": "USD", "from": "Acme", "source": "sponsorship", "fee_bps": 0, "memo": "m"},
            {"project": "conf-a", "date": "2026-03-02", "kind": "expense", "amount": "5.00",
             "currency": "USD", "payee": "Venue", "category": "venue", "receipt": "invoice-1.pdf",
             "receipt_hash": "abababababababababababababababababababababababababababababababab"}
        ]}"#;
        std::fs::write(&path, good).expect("write");
        let (events, _) = read_commit_file(&path).expect("every field is known");
        assert_eq!(events.len(), 2);
        // a misspelt optional field would otherwise silently fall back to the project's own fee
        let typo = good.replace("\"fee_bps\"", "\"fee_bp\"");
        std::fs::write(&path, typo).expect("write");
        let err = read_commit_file(&path).expect_err("unknown field").to_string();
        assert!(err.contains("events[0].fee_bp: unknown field"), "{err}");
        // a field of another kind is unknown too
        let other = good.replace("\"receipt_hash\"", "\"from\"");
        std::fs::write(&path, other).expect("write");
        let err = read_commit_file(&path).expect_err("not an expense's field").to_string();
        assert!(err.contains("events[1].from"), "{err}");
    }

    #[test]
    fn every_flag_default_is_a_commit_file_default() {
        // Each argument with a default (what --help shows) may be left out of a commit file.
        let commands = KindSpec::augment_subcommands(clap::Command::new("record"));
        let mut defaults = 0;
        for sub in commands.get_subcommands() {
            for arg in sub.get_arguments().filter(|a| !a.get_default_values().is_empty()) {
                defaults += 1;
                let name = arg.get_id().as_str();
                let value = arg.get_default_values()[0].to_string_lossy().into_owned();
                // The fields of a complete event of this kind, from an explicit example below.
                let (complete, field) = match (sub.get_name(), name) {
                    ("open-project", "project_kind" | "advance_limit") => (
                        r#"{"project": "p", "date": "2026-01-01", "kind": "open-project", "name": "P",
                            "project_kind": "conference", "fee_bps": 0, "currency": "USD", "advance_limit": "0"}"#,
                        name,
                    ),
                    ("contribution", "source") => (
                        r#"{"project": "p", "date": "2026-01-01", "kind": "contribution", "amount": "1",
                            "currency": "USD", "from": "A", "source": "sponsorship"}"#,
                        name,
                    ),
                    (kind, field) => panic!("{kind} --{field} has a default: add it to this test"),
                };
                let mut event: serde_json::Value = serde_json::from_str(complete).expect("json");
                assert_eq!(event[field], serde_json::Value::from(value.clone()), "{field}'s default");
                event.as_object_mut().expect("object").remove(field);
                let spec: EventSpec = serde_json::from_value(event)
                    .unwrap_or_else(|e| panic!("{} without {field} is refused: {e}", sub.get_name()));
                let back = serde_json::to_value(&spec).expect("json");
                assert_eq!(back[field], serde_json::Value::from(value), "{field} defaults as the flag does");
            }
        }
        assert_eq!(defaults, 3);
    }

    #[test]
    fn amounts_must_be_strings_and_fields_are_named() {
        let text = r#"{"events": [{"project": "conf-a", "date": "2026-03-01", "kind": "grant",
            "amount": 10.5, "currency": "USD", "program": "x"}]}"#;
        assert!(serde_json::from_str::<CommitFile>(text).is_err(), "a JSON number is refused");
        let text = r#"{"events": [{"project": "conf-a", "date": "2026-03-01", "kind": "grant",
            "amount": "10.555", "currency": "USD", "program": "x"}]}"#;
        let file: CommitFile = serde_json::from_str(text).expect("parses");
        let err = file.events[0].to_events(Path::new("."), "events[0]").expect_err("3 decimals").to_string();
        assert!(err.contains("events[0].amount"), "{err}");
    }

    /// A transfer's two sides come from one entry: a refusal names that entry's path (it said
    /// `[0].transfer_sent.to`, with no `events`, or `events[1][0]…` in a file).
    #[test]
    fn a_transfer_to_itself_is_named_at_its_entry() {
        let text = r#"{"events": [{"project": "conf-a", "date": "2026-03-01", "kind": "grant", "amount": "1",
            "currency": "USD", "program": "x"}, {"project": "conf-a", "date": "2026-03-01", "kind": "transfer",
            "to": "conf-a", "amount": "1", "currency": "USD"}]}"#;
        let file: CommitFile = serde_json::from_str(text).expect("parses");
        let err = file.events[1].to_events(Path::new("."), "events[1]").expect_err("to itself").to_string();
        assert!(err.contains("events[1].transfer_sent.to: a transfer needs two different projects"), "{err}");
        let flags = file.events[1].to_events(Path::new("."), "").expect_err("to itself").to_string();
        assert!(flags.contains(" transfer_sent.to: ") && !flags.contains("[0]"), "{flags}");
    }
}
