//! When two events are the same fact: the content ids that `fiscus record` (flags and commit files)
//! and `fiscus import csv` give events without an `event_id`, and the likely duplicates they warn of.
//!
//! A content id is derived from the *validated, normalised* event, never from its text as typed:
//! amounts are the ledger's normalised decimals (`200.00`, `200.0` and `200` are one amount), kinds,
//! sources and funds are the ledger's values (`tickets` and `ticket-sales` are one source), and a
//! memo's line endings are `\n` whatever the file or terminal wrote (`\r\n` and `\r` are read as
//! `\n` before anything else, so a file converted by dos2unix is the same file). The same fact
//! spelt differently therefore gets the same id, and the ledger's idempotency (project, event id)
//! records it once.
//!
//! A *likely duplicate* is a new event with another id that matches a recorded one of the same
//! project on reference, effective date and amount (the same bank transaction recorded once by
//! `record` and once by `import csv`): refused unless `--allow-duplicate` is given.

use chrono::NaiveDate;
use fiscus_client::fiscus_ledger::{Currency, Event, EventKind, Money, ProjectId};
use rust_decimal::Decimal;

/// Where a content id was derived: its prefix says which command made it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// `fiscus record` (flags or a commit file): `cli-` and 24 hex digits.
    Record,
    /// `fiscus import csv`: `csv-` and 32 hex digits.
    Import,
}

impl Origin {
    fn prefix_and_digits(self) -> (&'static str, usize) {
        match self {
            Origin::Record => ("cli-", 24),
            Origin::Import => ("csv-", 32),
        }
    }
}

/// Domain separation of the content hash (blake3 derive-key context).
const CONTENT_ID_CONTEXT: &str = "fiscus content id v1";

/// A memo with its line endings normalised: `\r\n` and a lone `\r` become `\n`.
pub fn normalise_text(text: &str) -> String {
    if !text.contains('\r') {
        return text.to_owned();
    }
    text.replace("\r\n", "\n").replace('\r', "\n")
}

/// The content id of `events` (one event, or the two sides of a transfer), from everything but
/// their `event_id`s: project, effective date, memo, reference and the kind with its fields, as
/// the ledger holds them (serde of [`EventKind`], whose amounts serialise normalised). `events`
/// must already be normalised ([`normalise_text`] on memos) and validated.
pub fn content_id(origin: Origin, events: &[Event]) -> String {
    let mut hasher = blake3::Hasher::new_derive_key(CONTENT_ID_CONTEXT);
    for e in events {
        let canonical = (e.project.as_str(), e.effective_date.to_string(), &e.memo, &e.reference, &e.kind);
        // Serialising plain data into memory cannot fail; an empty text would still be stable.
        let bytes = serde_json::to_vec(&canonical).unwrap_or_default();
        hasher.update(&(bytes.len() as u64).to_le_bytes());
        hasher.update(&bytes);
    }
    let (prefix, digits) = origin.prefix_and_digits();
    format!("{prefix}{}", &hasher.finalize().to_hex()[..digits])
}

/// The amount an event is about, when it has one: what tables show and what duplicates match on.
pub fn headline_money(kind: &EventKind) -> Option<Money> {
    match kind {
        EventKind::ContributionReceived { amount, .. }
        | EventKind::PledgeRecorded { amount, .. }
        | EventKind::PledgeFulfilled { amount, .. }
        | EventKind::GrantAwarded { amount, .. }
        | EventKind::AdvanceIssued { amount, .. }
        | EventKind::AdvanceRepaid { amount }
        | EventKind::RefundIssued { amount, .. }
        | EventKind::TransferSent { amount, .. }
        | EventKind::TransferReceived { amount, .. }
        | EventKind::FundsReleased { amount, .. }
        | EventKind::CurrencyConverted { amount, .. }
        | EventKind::OpeningBalance { amount, .. } => Some(*amount),
        EventKind::PledgeCancelled { amount, .. } => *amount,
        EventKind::ExpensePaid { details, .. } => details.as_ref().map(|d| d.amount),
        EventKind::ExpenseRequested { details } => Some(details.amount),
        _ => None,
    }
}

/// What a likely duplicate matches on: project, reference, effective date, amount and currency.
/// References are compared without regard to case or the spaces around them (`INV-7` and ` inv-7`
/// are one bank reference: banks and accountants write them both ways).
#[derive(Clone, Debug)]
pub struct MatchKey {
    /// The project.
    pub project: ProjectId,
    /// The external reference as the event gives it, trimmed (events without one are never matched).
    pub reference: String,
    /// The accounting date.
    pub date: NaiveDate,
    /// The amount, normalised.
    pub amount: Decimal,
    /// Its currency.
    pub currency: Currency,
    /// The reference as compared: lower case.
    folded: String,
}

impl MatchKey {
    /// The key of an event with a reference and an amount; `None` for any other event.
    pub fn of(event: &Event) -> Option<MatchKey> {
        let reference = event.reference.as_ref().filter(|r| !r.trim().is_empty())?;
        let money = headline_money(&event.kind)?;
        Some(MatchKey {
            project: event.project.clone(),
            reference: reference.trim().to_owned(),
            date: event.effective_date,
            amount: money.amount().normalize(),
            currency: money.currency(),
            folded: reference.trim().to_lowercase(),
        })
    }

    /// What two keys are compared on.
    fn compared(&self) -> (&ProjectId, &str, NaiveDate, Decimal, Currency) {
        (&self.project, &self.folded, self.date, self.amount, self.currency)
    }
}

impl PartialEq for MatchKey {
    fn eq(&self, other: &Self) -> bool {
        self.compared() == other.compared()
    }
}

impl Eq for MatchKey {}

impl std::hash::Hash for MatchKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.compared().hash(state);
    }
}

impl PartialOrd for MatchKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for MatchKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.compared().cmp(&other.compared())
    }
}

impl std::fmt::Display for MatchKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} on {} with reference {:?}",
            fiscus_client::fiscus_ledger::money::display_amount(self.amount, self.currency),
            self.date,
            self.reference
        )
    }
}

/// A new event that matches a recorded one with another id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LikelyDuplicate {
    /// The new event's id.
    pub event_id: String,
    /// What both have in common.
    pub key: MatchKey,
    /// The recorded event's seq and id.
    pub recorded_seq: u64,
    /// The recorded event's id.
    pub recorded_id: String,
}

impl std::fmt::Display for LikelyDuplicate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} matches {}#{} (event id {}): {}",
            self.event_id, self.key.project, self.recorded_seq, self.recorded_id, self.key
        )
    }
}

/// The recorded events of some chains, indexed by what a new event is compared with.
#[derive(Default, Debug)]
pub struct Known {
    ids: std::collections::HashMap<(ProjectId, String), u64>,
    keys: std::collections::HashMap<MatchKey, (u64, String)>,
}

impl Known {
    /// Remembers a recorded event at `seq`.
    pub fn add(&mut self, seq: u64, event: &Event) {
        self.ids.insert((event.project.clone(), event.event_id.clone()), seq);
        if let Some(key) = MatchKey::of(event) {
            self.keys.entry(key).or_insert((seq, event.event_id.clone()));
        }
    }

    /// The seq of the event recorded under `event`'s id in its project, if any.
    pub fn recorded_seq(&self, event: &Event) -> Option<u64> {
        self.ids.get(&(event.project.clone(), event.event_id.clone())).copied()
    }

    /// The recorded event `event` would likely duplicate: same project, reference, date and amount
    /// under another id. An event whose own id is recorded is a retry, never a duplicate.
    pub fn duplicate_of(&self, event: &Event) -> Option<LikelyDuplicate> {
        if self.recorded_seq(event).is_some() {
            return None;
        }
        let key = MatchKey::of(event)?;
        let (seq, id) = self.keys.get(&key)?;
        Some(LikelyDuplicate { event_id: event.event_id.clone(), key, recorded_seq: *seq, recorded_id: id.clone() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fiscus_client::fiscus_ledger::{Fund, Source};

    fn gift(amount: &str, memo: &str) -> Event {
        Event {
            event_id: String::new(),
            project: ProjectId::parse("project", "conf-a").expect("id"),
            effective_date: NaiveDate::from_ymd_opt(2026, 3, 1).expect("date"),
            memo: normalise_text(memo),
            reference: Some("BANK-1".to_owned()),
            kind: EventKind::ContributionReceived {
                amount: Money::parse("amount", amount, "USD").expect("amount"),
                from: "Ann".to_owned(),
                source: Source::Donation,
                fund: Fund::Unrestricted,
                fee_bps: None,
            },
        }
    }

    #[test]
    fn the_same_fact_spelt_differently_has_one_id() {
        let a = content_id(Origin::Record, &[gift("200.00", "Weekly payout\r\nline two")]);
        assert_eq!(a, content_id(Origin::Record, &[gift("200.0", "Weekly payout\nline two")]));
        assert_eq!(a, content_id(Origin::Record, &[gift("200", "Weekly payout\rline two")]));
        assert_ne!(a, content_id(Origin::Record, &[gift("200.01", "Weekly payout\nline two")]));
        assert!(a.starts_with("cli-") && a.len() == 4 + 24, "{a}");
        let c = content_id(Origin::Import, &[gift("200", "x")]);
        assert!(c.starts_with("csv-") && c.len() == 4 + 32, "{c}");
    }

    #[test]
    fn a_likely_duplicate_matches_on_reference_date_amount_and_project() {
        let mut known = Known::default();
        let mut first = gift("200.00", "by record");
        first.event_id = "cli-1".to_owned();
        known.add(7, &first);
        let mut second = gift("200", "by import");
        second.event_id = "csv-2".to_owned();
        let dup = known.duplicate_of(&second).expect("a likely duplicate");
        assert_eq!((dup.recorded_seq, dup.recorded_id.as_str()), (7, "cli-1"));
        assert!(dup.to_string().contains("200.00 USD on 2026-03-01"), "{dup}");
        assert!(known.duplicate_of(&first).is_none(), "a retry of the same id is no duplicate");
        let mut other_day = second.clone();
        other_day.effective_date = NaiveDate::from_ymd_opt(2026, 3, 2).expect("date");
        assert!(known.duplicate_of(&other_day).is_none());
        let mut no_reference = second.clone();
        no_reference.reference = None;
        assert!(known.duplicate_of(&no_reference).is_none());
        let mut other_case = second.clone();
        other_case.reference = Some(" bank-1 ".to_owned());
        let dup = known.duplicate_of(&other_case).expect("the same reference in another case");
        assert!(dup.to_string().contains("\"bank-1\""), "the new event's own reference is named: {dup}");
        let mut other_reference = second.clone();
        other_reference.reference = Some("BANK-10".to_owned());
        assert!(known.duplicate_of(&other_reference).is_none());
    }
}
