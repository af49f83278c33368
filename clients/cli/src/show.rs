//! How results are shown: tables for people (comfy-table; amounts right-aligned with their
//! currency code) and JSON for scripts (every amount a decimal string, never a JSON number).

use comfy_table::{presets, Cell, CellAlignment, ColumnConstraint, ContentArrangement, Table};
use fiscus_client::fiscus_ledger::export::event_json;
use fiscus_client::fiscus_ledger::ids::{DATE_MAX, DATE_MIN};
use fiscus_client::fiscus_ledger::money::{display_amount, format_amount};
use fiscus_client::fiscus_ledger::projection::Balance;
use fiscus_client::fiscus_ledger::record::{Record, FORMAT_VERSION};
use fiscus_client::fiscus_ledger::report::AgeingBucket;
use fiscus_client::fiscus_ledger::statement::Statement;
use fiscus_client::fiscus_ledger::{Currency, EventKind};
use fiscus_client::{
    Balances, ChainHead, EventsPage, OpenPledges, PendingExpense, ProjectSummary, RecordedEvent, TrialBalance,
};
use rust_decimal::Decimal;
use serde_json::{json, Value};

/// `1,250.00 USD`: the amount for people to read, by the one display formatter
/// (`fiscus_ledger::money::display_amount`: the currency's minor units, thousands grouped, then
/// the code). JSON keeps [`amount_json`]'s plain digits.
pub fn amount(value: Decimal, currency: Currency) -> String {
    display_amount(value, currency)
}

/// `1,250.00`: [`amount`] without the code, for a table whose row names the currency.
pub fn grouped(value: Decimal, currency: Currency) -> String {
    let shown = display_amount(value, currency);
    match shown.strip_suffix(currency.code()) {
        Some(number) => number.trim_end().to_owned(),
        None => shown,
    }
}

/// The amount with the currency's minor units; a negative zero shows as zero.
fn plain(value: Decimal, currency: Currency) -> String {
    let value = if value.is_zero() { Decimal::ZERO } else { value };
    format_amount(value, currency)
}

/// An amount as a JSON decimal string with the currency's minor units.
pub fn amount_json(value: Decimal, currency: Currency) -> Value {
    Value::String(plain(value, currency))
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The width tables must fit, in columns: `COLUMNS` when it holds a positive number (as shells
/// set it, and as a user may to force a width); otherwise `None`, and comfy-table measures the
/// terminal itself when standard output is one (a pipe or a file gets unwrapped lines).
pub fn terminal_width() -> Option<u16> {
    std::env::var("COLUMNS").ok().and_then(|v| v.trim().parse::<u16>().ok()).filter(|n| *n > 0)
}

/// A table with `headers`; the columns whose index is in `right` are right-aligned (amounts). It
/// fits the terminal's width ([`terminal_width`]): comfy-table's dynamic arrangement wraps the
/// widest cells (memos, descriptions) onto more lines instead of running past the edge.
pub fn table(headers: &[&str], right: &[usize]) -> Table {
    let mut t = Table::new();
    t.load_preset(presets::UTF8_FULL_CONDENSED).set_content_arrangement(ContentArrangement::Dynamic);
    if let Some(width) = terminal_width() {
        t.set_width(width);
    }
    t.set_header(headers.iter().map(Cell::new));
    for (i, header) in headers.iter().enumerate() {
        if let Some(c) = t.column_mut(i) {
            if right.contains(&i) {
                c.set_cell_alignment(CellAlignment::Right);
            }
            // amounts, numbers, dates and hashes stay whole; text columns take what is left
            if right.contains(&i) || UNWRAPPED_HEADERS.contains(header) {
                c.set_constraint(ColumnConstraint::ContentWidth);
            }
        }
    }
    t
}

/// Columns of text that is never wrapped (besides the right-aligned amounts and numbers).
const UNWRAPPED_HEADERS: [&str; 5] = ["Date", "Due", "Hash", "Currency", "Opened"];

/// Prints a JSON value, pretty, to stdout.
pub fn print_json(value: &Value) {
    outln!("{}", serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string()));
}

// ----- balances -----

fn balance_json(b: &Balance) -> Value {
    let c = b.currency;
    json!({
        "currency": c.code(),
        "balance": amount_json(b.balance, c),
        "available": amount_json(b.available, c),
        "restricted": b.restricted.iter().map(|r| json!({
            "purpose": r.purpose,
            "balance": amount_json(r.balance, c),
            "available": amount_json(r.available, c),
        })).collect::<Vec<_>>(),
        "held": amount_json(b.held, c),
        "pledged": amount_json(b.pledged, c),
        "advances_outstanding": amount_json(b.advances_outstanding, c),
        "fees_to_date": amount_json(b.fees_to_date, c),
        "funds_held": amount_json(funds_held(b), c),
    })
}

/// A project's balances as JSON.
pub fn balances_json(b: &Balances) -> Value {
    json!({
        "project": b.project.as_str(),
        "head_seq": b.head_seq,
        "commit": b.commit,
        "balances": b.balances.iter().map(balance_json).collect::<Vec<_>>(),
    })
}

/// The funds the sponsor holds for the project in one currency: the unrestricted fund plus every
/// restricted fund. It is the statement's closing balance (a statement counts both kinds of fund),
/// while `balance` alone is the unrestricted fund.
pub fn funds_held(b: &Balance) -> Decimal {
    b.restricted.iter().fold(b.balance, |s, r| s.saturating_add(r.balance))
}

/// A project's funds at a glance, one labelled table per currency: the unrestricted fund, its
/// holds and what is available, each restricted purpose, their sum (the statement's closing
/// balance), advances the project owes back, what is pledged and not yet paid, and fees to date.
pub fn balances_table(b: &Balances, as_of: Option<chrono::NaiveDate>) -> String {
    let when = as_of.map(|d| format!(", as of {d} (by effective date)")).unwrap_or_default();
    let mut out = format!("{} at seq {} (commit {}){when}", b.project, b.head_seq, b.commit);
    if b.balances.is_empty() {
        out.push_str("\n(no money recorded yet)");
    }
    for x in &b.balances {
        let c = x.currency;
        let mut t = table(&[c.code(), "Amount"], &[1]);
        let held_unrestricted = x.balance.saturating_sub(x.available);
        t.add_row(vec!["Unrestricted (Balance)".to_owned(), amount(x.balance, c)]);
        t.add_row(vec!["  less holds of approved expenses".to_owned(), amount(-held_unrestricted, c)]);
        t.add_row(vec!["  available to spend".to_owned(), amount(x.available, c)]);
        for r in &x.restricted {
            t.add_row(vec![format!("Restricted: {}", r.purpose), amount(r.balance, c)]);
            let held = r.balance.saturating_sub(r.available);
            if !held.is_zero() {
                t.add_row(vec!["  less holds of approved expenses".to_owned(), amount(-held, c)]);
                t.add_row(vec!["  available for this purpose".to_owned(), amount(r.available, c)]);
            }
        }
        t.add_row(vec!["Funds held (statement closing balance)".to_owned(), amount(funds_held(x), c)]);
        t.add_row(vec!["Holds of approved expenses, all funds".to_owned(), amount(x.held, c)]);
        t.add_row(vec![
            "Advances outstanding (owed back to the sponsor)".to_owned(),
            amount(x.advances_outstanding, c),
        ]);
        t.add_row(vec!["Pledged, not yet paid".to_owned(), amount(x.pledged, c)]);
        t.add_row(vec!["Fees to date".to_owned(), amount(x.fees_to_date, c)]);
        out.push_str(&format!("\n{t}"));
    }
    out
}

/// Several projects' balances, one row per project and currency (amounts in the row's currency,
/// without repeating its code, so that the table fits an 80-column terminal; `fiscus balance P`
/// shows one project's in full).
pub fn overview_table(rows: &[(ProjectSummary, Balances)]) -> Table {
    let mut t =
        table(&["Project", "Currency", "Balance", "Available", "Restricted", "Pledged", "Advances"], &[2, 3, 4, 5, 6]);
    for (p, b) in rows {
        for x in &b.balances {
            let c = x.currency;
            let restricted = x.restricted.iter().fold(Decimal::ZERO, |s, r| s.saturating_add(r.balance));
            t.add_row(vec![
                p.project.to_string(),
                c.code().to_owned(),
                grouped(x.balance, c),
                grouped(x.available, c),
                grouped(restricted, c),
                grouped(x.pledged, c),
                grouped(x.advances_outstanding, c),
            ]);
        }
    }
    t
}

// ----- projects -----

/// A project summary as JSON.
pub fn project_json(p: &ProjectSummary) -> Value {
    json!({
        "project": p.project.as_str(),
        "name": p.name,
        "kind": p.kind.name(),
        "fee_bps": p.fee_bps,
        "currency": p.currency.code(),
        "advance_limit": amount_json(p.advance_limit, p.currency),
        "opened_on": p.opened_on.to_string(),
        "closed": p.closed,
        "closed_through": p.closed_through.map(|d| d.to_string()),
        "head_seq": p.head_seq,
    })
}

/// Projects as a table.
pub fn projects_table(projects: &[ProjectSummary]) -> Table {
    let mut t = table(&["Project", "Name", "Kind", "Fee", "Advance limit", "Opened", "Events", "Status"], &[3, 4, 6]);
    for p in projects {
        let status = match (p.closed, p.closed_through) {
            (true, _) => "closed".to_owned(),
            (false, Some(d)) => format!("open, books closed through {d}"),
            (false, None) => "open".to_owned(),
        };
        t.add_row(vec![
            p.project.to_string(),
            p.name.clone(),
            p.kind.name().to_owned(),
            format!("{}.{:02} %", p.fee_bps / 100, p.fee_bps % 100),
            amount(p.advance_limit, p.currency),
            p.opened_on.to_string(),
            p.head_seq.to_string(),
            status,
        ]);
    }
    t
}

// ----- statements -----

/// One statement as JSON.
pub fn statement_json(s: &Statement) -> Value {
    let c = s.currency;
    let totals = |m: &std::collections::BTreeMap<String, Decimal>| {
        m.iter().map(|(k, v)| json!({ "name": k, "amount": amount_json(*v, c) })).collect::<Vec<_>>()
    };
    json!({
        "currency": c.code(),
        "from": s.from.to_string(),
        "to": s.to.to_string(),
        "opening_balance": amount_json(s.opening, c),
        "lines": s.lines.iter().map(|l| json!({
            "date": l.date.to_string(),
            "seq": l.seq,
            "kind": l.kind,
            "memo": l.memo,
            "reference": l.reference,
            "amount": amount_json(l.amount, c),
            "gross": l.gross.map(|v| amount_json(v, c)),
            "fee": l.fee.map(|v| amount_json(v, c)),
            "counterparty": l.counterparty,
            "detail": l.detail,
            "running_balance": amount_json(l.running, c),
            "reverses": l.reverses.as_ref().map(|r| json!({
                "kind": r.kind,
                "seq": r.seq,
                "counts_under": r.under,
                "reason": r.reason,
            })),
        })).collect::<Vec<_>>(),
        "totals_by_source": totals(&s.by_source),
        "totals_by_category": totals(&s.by_category),
        "totals_by_kind": totals(&s.by_kind),
        "closing_balance": amount_json(s.closing, c),
    })
}

/// One statement as a table of lines and a table of totals.
pub fn statement_table(project: &str, s: &Statement) -> String {
    let c = s.currency;
    // amounts in the statement's currency (named in its heading), so that the table fits 80 columns
    let mut t =
        table(&["Date", "Event (seq)", "Counterparty, memo, ref", "Gross", "Fee", "Net", "Balance"], &[3, 4, 5, 6]);
    let blank = String::new;
    t.add_row(vec![blank(), "Opening balance".to_owned(), blank(), blank(), blank(), blank(), grouped(s.opening, c)]);
    for l in &s.lines {
        let event = match &l.reverses {
            // What it reverses and why, where the reversal counts (its target's total).
            Some(r) => format!("{} of {} seq {} ({}): {}", l.kind, r.kind, r.seq, r.under, clip(&r.reason, 40)),
            None => l.kind.to_owned(),
        };
        let event = match l.detail.as_str() {
            "" => format!("{event} (seq {})", l.seq),
            detail => format!("{event} (seq {})\n{detail}", l.seq),
        };
        let who = [l.counterparty.clone(), Some(clip(&l.memo, 48)), l.reference.as_ref().map(|r| format!("ref {r}"))];
        let who: Vec<String> = who.into_iter().flatten().filter(|x| !x.is_empty()).collect();
        t.add_row(vec![
            l.date.to_string(),
            event,
            who.join("\n"),
            l.gross.map(|v| grouped(v, c)).unwrap_or_default(),
            l.fee.map(|v| grouped(v, c)).unwrap_or_default(),
            grouped(l.amount, c),
            grouped(l.running, c),
        ]);
    }
    t.add_row(vec![blank(), "Closing balance".to_owned(), blank(), blank(), blank(), blank(), grouped(s.closing, c)]);
    let mut totals = table(&["Total", "Name", "Amount"], &[2]);
    for (group, m) in [("source", &s.by_source), ("category", &s.by_category), ("other", &s.by_kind)] {
        for (name, v) in m {
            totals.add_row(vec![group.to_owned(), name.clone(), amount(*v, c)]);
        }
    }
    let range = match (s.from == DATE_MIN, s.to == DATE_MAX) {
        (true, true) => "all dates".to_owned(),
        (true, false) => format!("through {}", s.to),
        (false, true) => format!("from {}", s.from),
        (false, false) => format!("{} to {}", s.from, s.to),
    };
    format!(
        "Statement of {project} in {c}, {range}: the funds held (unrestricted and restricted; `fiscus \
         balance` shows them apart); amounts in {c}\n{t}\n{totals}"
    )
}

/// Text cut to `max` characters, on one line.
pub fn clip(text: &str, max: usize) -> String {
    let one: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one.chars().count() <= max {
        one
    } else {
        let cut: String = one.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

// ----- events -----

pub use fiscus_cli::identity::headline_money;

/// A short description of an event's own fields.
pub fn describe(kind: &EventKind) -> String {
    match kind {
        EventKind::ProjectOpened { name, kind, fee_bps, currency, .. } => {
            format!("{name} ({}, {currency}, fee {fee_bps} bps)", kind.name())
        }
        EventKind::ProjectTermsChanged { fee_bps, advance_limit } => {
            format!("fee {fee_bps:?} bps, advance limit {advance_limit:?}")
        }
        EventKind::ContributionReceived { from, source, fund, .. } => {
            format!("from {from} ({}, {})", source.name(), fund.label())
        }
        EventKind::PledgeRecorded { sponsor, due_date, .. } => format!("{sponsor}, due {due_date}"),
        EventKind::PledgeFulfilled { pledge, .. } => format!("pledge seq {pledge}"),
        EventKind::PledgeCancelled { pledge, .. } => format!("pledge seq {pledge}"),
        EventKind::GrantAwarded { program, .. } => format!("program {program}"),
        EventKind::AdvanceIssued { purpose, .. } => purpose.clone(),
        EventKind::ExpensePaid { request: Some(r), details } => {
            format!("request seq {r}{}", details.as_ref().map(|d| format!(" to {}", d.payee)).unwrap_or_default())
        }
        EventKind::ExpensePaid { request: None, details: Some(d) } | EventKind::ExpenseRequested { details: d } => {
            format!("to {} ({}, {})", d.payee, d.category, d.fund.label())
        }
        EventKind::ExpenseApproved { request } => format!("request seq {request}"),
        EventKind::ExpenseRejected { request, reason } => format!("request seq {request}: {reason}"),
        EventKind::RefundIssued { contribution, .. } => format!("of contribution seq {contribution}"),
        EventKind::TransferSent { to, .. } => format!("to {to}"),
        EventKind::TransferReceived { from, .. } => format!("from {from}"),
        EventKind::FundsReleased { purpose, .. } => format!("from restricted:{purpose}"),
        EventKind::CurrencyConverted { to, .. } => format!("into {to}"),
        EventKind::OpeningBalance { fund, .. } => fund.label(),
        EventKind::EventReversed { target_seq, reason, .. } => format!("seq {target_seq}: {reason}"),
        EventKind::PeriodClosed { through } => format!("through {through}"),
        EventKind::ProjectClosed {} | EventKind::ExpensePaid { .. } | EventKind::AdvanceRepaid { .. } => String::new(),
    }
}

/// One event as JSON (the export's JSON lines object, without `prev`, which a page does not carry).
pub fn event_as_json(e: &RecordedEvent) -> Value {
    let record = Record {
        version: FORMAT_VERSION,
        seq: e.seq,
        prev: [0; 32],
        commit: e.commit,
        recorded_at: e.recorded_at_us,
        actor: e.actor.clone(),
        event: e.event.clone(),
    };
    let mut v = event_json(&record, &e.hash);
    if let Some(o) = v.as_object_mut() {
        o.remove("prev");
    }
    v
}

/// A page of events as JSON.
pub fn events_json(page: &EventsPage) -> Value {
    json!({
        "events": page.events.iter().map(event_as_json).collect::<Vec<_>>(),
        "next_after_seq": page.next_after_seq,
        "head_seq": page.head_seq,
    })
}

/// Events as a table. `requests` holds the expense requests (by seq) that approvals, rejections
/// and payments name: such a row shows the request's amount and payee.
pub fn events_table(
    events: &[RecordedEvent],
    requests: &std::collections::HashMap<u64, fiscus_client::fiscus_ledger::ExpenseDetails>,
) -> Table {
    let mut t = table(&["Seq", "Date", "Event", "Amount", "Details / memo", "Actor", "Hash"], &[0, 3]);
    for e in events {
        let request = match &e.event.kind {
            EventKind::ExpenseApproved { request } | EventKind::ExpenseRejected { request, .. } => Some(*request),
            EventKind::ExpensePaid { request: Some(request), .. } => Some(*request),
            _ => None,
        };
        let requested = request.and_then(|r| requests.get(&r));
        let details = match requested {
            Some(d) => clip(&format!("{} ({}, {})", describe(&e.event.kind), d.payee, d.category), 60),
            None => clip(&describe(&e.event.kind), 48),
        };
        let memo = clip(&e.event.memo, 40);
        let money = headline_money(&e.event.kind).or_else(|| requested.map(|d| d.amount));
        t.add_row(vec![
            e.seq.to_string(),
            e.event.effective_date.to_string(),
            e.event.kind.name().to_owned(),
            money.map(|m| amount(m.amount(), m.currency())).unwrap_or_default(),
            match (details.is_empty(), memo.is_empty()) {
                (false, false) => format!("{details}\n{memo}"),
                (true, _) => memo,
                (false, true) => details,
            },
            e.actor.clone(),
            hex(&e.hash[..6]),
        ]);
    }
    t
}

// ----- trial balance, pending, heads -----

/// The trial balance as the JSON array scripts read: `account`, `currency`, `amount` (debit positive).
pub fn trial_json(tb: &TrialBalance) -> Value {
    Value::Array(
        tb.lines
            .iter()
            .map(|l| json!({ "account": l.account, "currency": l.currency.code(), "amount": amount_json(l.amount, l.currency) }))
            .collect(),
    )
}

/// The trial balance as a table, with a total per currency (zero when the books balance).
pub fn trial_table(tb: &TrialBalance, as_of: Option<chrono::NaiveDate>) -> String {
    let mut t = table(&["Account", "Amount"], &[1]);
    let mut totals: std::collections::BTreeMap<Currency, Decimal> = Default::default();
    for l in &tb.lines {
        t.add_row(vec![l.account.clone(), amount(l.amount, l.currency)]);
        // (the lines are a server's answer: a sum past a Decimal's range saturates, never panics)
        let total = totals.entry(l.currency).or_default();
        *total = total.saturating_add(l.amount);
    }
    for (c, v) in totals {
        t.add_row(vec![format!("Total {c}"), amount(v, c)]);
    }
    let closed = tb.closed_through.map(|d| format!(", books closed through {d}")).unwrap_or_default();
    let when = as_of.map(|d| format!(", as of {d} (by effective date)")).unwrap_or_default();
    format!("Trial balance at commit {}{when} (debit positive){closed}\n{t}", tb.commit)
}

/// Pending expenses as JSON.
pub fn pending_json(p: &[PendingExpense]) -> Value {
    Value::Array(
        p.iter()
            .map(|x| {
                let m = x.details.amount;
                json!({
                    "project": x.project.as_str(),
                    "seq": x.seq,
                    "requested_on": x.requested_on.to_string(),
                    "payee": x.details.payee,
                    "category": x.details.category,
                    "fund": x.details.fund.label(),
                    "amount": amount_json(m.amount(), m.currency()),
                    "currency": m.currency().code(),
                    "receipt": { "file_name": x.details.receipt.file_name, "hash": hex(&x.details.receipt.hash) },
                    "requester": x.requester,
                    "approved": x.approved,
                    "same_receipt": x.same_receipt,
                })
            })
            .collect(),
    )
}

/// Pending expenses as a table.
pub fn pending_table(p: &[PendingExpense]) -> Table {
    let mut t =
        table(&["Project", "Seq", "Requested", "Payee", "Category", "Fund", "Amount", "Requester", "Status"], &[1, 6]);
    for x in p {
        let m = x.details.amount;
        t.add_row(vec![
            x.project.to_string(),
            x.seq.to_string(),
            x.requested_on.to_string(),
            x.details.payee.clone(),
            x.details.category.clone(),
            x.details.fund.label(),
            amount(m.amount(), m.currency()),
            x.requester.clone(),
            pending_status(x),
        ]);
    }
    t
}

/// A pending request's status, with a warning when its receipt is also on other seqs.
fn pending_status(x: &PendingExpense) -> String {
    let status = if x.approved { "approved, held" } else { "awaiting approval" };
    if x.same_receipt.is_empty() {
        return status.to_owned();
    }
    let seqs: Vec<String> = x.same_receipt.iter().map(u64::to_string).collect();
    format!("{status}; SAME RECEIPT as seq {}", seqs.join(", "))
}

/// Chain heads as a table.
pub fn heads_table(heads: &[ChainHead]) -> Table {
    let mut t = table(&["Chain", "Head seq", "Head hash"], &[1]);
    for h in heads {
        t.add_row(vec![h.project.to_string(), h.seq.to_string(), hex(&h.hash)]);
    }
    t
}

// ----- open pledges -----

/// Open pledges and their ageing as JSON: amounts as decimal strings in the pledge's currency.
pub fn pledges_json(p: &OpenPledges) -> Value {
    json!({
        "commit": p.commit,
        "as_of": p.as_of.to_string(),
        "pledges": p.pledges.iter().map(|x| {
            let c = x.pledged.currency();
            json!({
                "project": x.project.as_str(),
                "seq": x.seq,
                "sponsor": x.sponsor,
                "pledged_on": x.pledged_on.to_string(),
                "due_date": x.due_date.to_string(),
                "currency": c.code(),
                "pledged": amount_json(x.pledged.amount(), c),
                "fulfilled": amount_json(x.fulfilled, c),
                "outstanding": amount_json(x.outstanding, c),
                "days_overdue": x.days_overdue,
                "overdue": x.overdue(),
                "bucket": x.bucket().name(),
            })
        }).collect::<Vec<_>>(),
        "ageing": p.ageing.iter().map(|(c, t)| {
            let mut o = serde_json::Map::new();
            o.insert("currency".to_owned(), json!(c.code()));
            for b in AgeingBucket::ALL {
                o.insert(b.name().to_owned(), amount_json(t.get(b), *c));
            }
            o.insert("total".to_owned(), amount_json(t.total(), *c));
            Value::Object(o)
        }).collect::<Vec<_>>(),
    })
}

/// Open pledges as a table (overdue ones marked), then the receivables ageing per currency.
pub fn pledges_table(p: &OpenPledges) -> String {
    let mut t =
        table(&["Pledge", "Sponsor", "Currency", "Pledged", "Paid", "Outstanding", "Due", "Status"], &[3, 4, 5]);
    for x in &p.pledges {
        let c = x.pledged.currency();
        let status = if x.overdue() { format!("OVERDUE {} days", x.days_overdue) } else { "not yet due".to_owned() };
        t.add_row(vec![
            format!("{}#{}", x.project, x.seq),
            x.sponsor.clone(),
            c.code().to_owned(),
            grouped(x.pledged.amount(), c),
            grouped(x.fulfilled, c),
            grouped(x.outstanding, c),
            x.due_date.to_string(),
            status,
        ]);
    }
    let mut a = table(&["Currency", "Current", "1-30", "31-60", "61-90", "Over 90", "Total"], &[1, 2, 3, 4, 5, 6]);
    for (c, totals) in &p.ageing {
        let mut row = vec![c.code().to_owned()];
        row.extend(AgeingBucket::ALL.iter().map(|b| grouped(totals.get(*b), *c)));
        row.push(grouped(totals.total(), *c));
        a.add_row(row);
    }
    format!(
        "Open pledges as of {} (commit {}); Pledge is project#seq\n{t}\nReceivables ageing: outstanding by days overdue\n{a}",
        p.as_of, p.commit
    )
}
