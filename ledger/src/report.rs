//! Month-end reports: balances and the trial balance as of a date, and open pledges with their
//! receivables ageing.
//!
//! **Which date counts.** An event counts as of a date when its *effective date* (the accounting
//! date it carries) is on or before that date, whenever it was recorded: a gift dated 31 October
//! and recorded on 3 November is in the balance as of 31 October, and an event recorded in
//! October but dated 1 November is not. A reversal counts on its own effective date. The state as
//! of a date is the chain's events so dated folded in seq order by the projection's own `apply`
//! (so holds, open pledges and advances follow the same rules as the live balance); callers pass
//! the events of one snapshot (up to one head seq per chain), so the answer is consistent.
//!
//! **Ageing.** A pledge is overdue the day after its due date; its age is the number of days from
//! the due date to the report's date. Buckets: `current` (not yet overdue), `1-30`, `31-60`,
//! `61-90` and `over-90` days overdue, totalled per currency over what is outstanding.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::chain::Hash;
use crate::event::{Event, EventKind};
use crate::ids::ProjectId;
use crate::money::{Currency, Money};
use crate::projection::{trial_balance_of, ProjectState, TrialLine};

/// The state of chain `id` as of `as_of`: its events whose effective date is on or before
/// `as_of`, folded in seq order (any order given). Its `head` is the last event folded, with a
/// zero hash (the state is a report, not a chain to extend).
pub fn state_as_of(id: &ProjectId, events: impl IntoIterator<Item = (u64, Event)>, as_of: NaiveDate) -> ProjectState {
    let mut events: Vec<(u64, Event)> = events.into_iter().filter(|(_, e)| e.effective_date <= as_of).collect();
    events.sort_by_key(|(seq, _)| *seq);
    let mut state = ProjectState::new(id.clone());
    for (seq, e) in &events {
        state.fold(*seq, Hash::default(), e.effective_date, "", &e.kind);
    }
    state
}

/// The trial balance as of `as_of` of every chain given (each with its events up to one
/// snapshot's head): every account and currency with a non-zero sum, in account order.
pub fn trial_balance_as_of(
    chains: impl IntoIterator<Item = (ProjectId, Vec<(u64, Event)>)>,
    as_of: NaiveDate,
) -> Vec<TrialLine> {
    let states: Vec<ProjectState> = chains.into_iter().map(|(id, events)| state_as_of(&id, events, as_of)).collect();
    trial_balance_of(states.iter())
}

/// How long a pledge is overdue, as receivables ageing counts it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum AgeingBucket {
    /// Not yet due, or due on the report's date.
    Current,
    /// 1 to 30 days past its due date.
    Days1To30,
    /// 31 to 60 days.
    Days31To60,
    /// 61 to 90 days.
    Days61To90,
    /// More than 90 days.
    Over90,
}

impl AgeingBucket {
    /// Every bucket, youngest first.
    pub const ALL: [AgeingBucket; 5] = [
        AgeingBucket::Current,
        AgeingBucket::Days1To30,
        AgeingBucket::Days31To60,
        AgeingBucket::Days61To90,
        AgeingBucket::Over90,
    ];

    /// The bucket of a pledge `days_overdue` days past its due date (0 or less: current).
    pub fn of(days_overdue: i64) -> AgeingBucket {
        match days_overdue {
            i64::MIN..=0 => AgeingBucket::Current,
            1..=30 => AgeingBucket::Days1To30,
            31..=60 => AgeingBucket::Days31To60,
            61..=90 => AgeingBucket::Days61To90,
            _ => AgeingBucket::Over90,
        }
    }

    /// Its name in reports and on the wire: `current`, `1-30`, `31-60`, `61-90`, `over-90`.
    pub fn name(self) -> &'static str {
        match self {
            AgeingBucket::Current => "current",
            AgeingBucket::Days1To30 => "1-30",
            AgeingBucket::Days31To60 => "31-60",
            AgeingBucket::Days61To90 => "61-90",
            AgeingBucket::Over90 => "over-90",
        }
    }

    /// The bucket named `name` ([`AgeingBucket::name`]).
    pub fn from_name(name: &str) -> Option<AgeingBucket> {
        AgeingBucket::ALL.into_iter().find(|b| b.name() == name)
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// A pledge not yet fully paid nor cancelled, as of a date.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct OpenPledge {
    /// Its project.
    pub project: ProjectId,
    /// The seq of its `PledgeRecorded`.
    pub seq: u64,
    /// The sponsor (the counterparty who owes it).
    pub sponsor: String,
    /// The `PledgeRecorded`'s effective date.
    pub pledged_on: NaiveDate,
    /// When payment is due.
    pub due_date: NaiveDate,
    /// What was pledged.
    pub pledged: Money,
    /// Paid so far (pledged − outstanding).
    pub fulfilled: Decimal,
    /// Still owed.
    pub outstanding: Decimal,
    /// Days past the due date on the report's date (0 when not yet due).
    pub days_overdue: i64,
}

impl OpenPledge {
    /// True once the due date has passed.
    pub fn overdue(&self) -> bool {
        self.days_overdue > 0
    }

    /// Its ageing bucket.
    pub fn bucket(&self) -> AgeingBucket {
        AgeingBucket::of(self.days_overdue)
    }
}

/// The open pledges of chain `id` as of `as_of`, in seq order: those recorded on or before it and
/// neither paid in full nor cancelled by then (payments and cancellations dated later do not
/// count), each with what is outstanding and how long it is overdue.
pub fn open_pledges(
    id: &ProjectId,
    events: impl IntoIterator<Item = (u64, Event)>,
    as_of: NaiveDate,
) -> Vec<OpenPledge> {
    let events: Vec<(u64, Event)> = events.into_iter().collect();
    let state = state_as_of(id, events.iter().cloned(), as_of);
    let mut out = Vec::new();
    for (seq, e) in &events {
        let EventKind::PledgeRecorded { amount, sponsor, due_date } = &e.kind else { continue };
        let Some(left) = state.pledges.get(seq) else { continue };
        let days_overdue = (as_of - *due_date).num_days().max(0);
        out.push(OpenPledge {
            project: id.clone(),
            seq: *seq,
            sponsor: sponsor.clone(),
            pledged_on: e.effective_date,
            due_date: *due_date,
            pledged: *amount,
            // (apply keeps what remains within what was pledged)
            fulfilled: amount.amount().saturating_sub(left.amount()),
            outstanding: left.amount(),
            days_overdue,
        });
    }
    out.sort_by_key(|p| p.seq);
    out
}

/// Outstanding pledges per ageing bucket, in one currency.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct AgeingTotals {
    /// Sums per bucket, in [`AgeingBucket::ALL`] order.
    pub buckets: [Decimal; 5],
}

impl AgeingTotals {
    /// The sum in one bucket.
    pub fn get(&self, bucket: AgeingBucket) -> Decimal {
        self.buckets[bucket.index()]
    }

    /// The sum of every bucket (saturating: each outstanding amount is at most 1e15).
    pub fn total(&self) -> Decimal {
        self.buckets.iter().fold(Decimal::ZERO, |s, b| s.saturating_add(*b))
    }
}

/// Receivables ageing: the outstanding amounts of `pledges` per currency and bucket.
pub fn ageing<'a>(pledges: impl IntoIterator<Item = &'a OpenPledge>) -> BTreeMap<Currency, AgeingTotals> {
    let mut out: BTreeMap<Currency, AgeingTotals> = BTreeMap::new();
    for p in pledges {
        let slot = &mut out.entry(p.pledged.currency()).or_default().buckets[p.bucket().index()];
        *slot = slot.saturating_add(p.outstanding);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_split_at_their_edges() {
        let cases =
            [(-5, "current"), (0, "current"), (1, "1-30"), (30, "1-30"), (31, "31-60"), (60, "31-60"), (61, "61-90")];
        for (days, name) in cases {
            assert_eq!(AgeingBucket::of(days).name(), name, "{days} days");
        }
        assert_eq!(AgeingBucket::of(90), AgeingBucket::Days61To90);
        assert_eq!(AgeingBucket::of(91), AgeingBucket::Over90);
        for b in AgeingBucket::ALL {
            assert_eq!(AgeingBucket::from_name(b.name()), Some(b));
        }
    }

    fn day(s: &str) -> NaiveDate {
        crate::ids::parse_date("date", s).expect("test date")
    }

    fn usd(amount: &str) -> Money {
        Money::parse("amount", amount, "USD").expect("test money")
    }

    fn ev(date: &str, kind: EventKind) -> Event {
        Event {
            event_id: format!("e-{date}"),
            project: ProjectId::parse("project", "rustconf").expect("id"),
            effective_date: day(date),
            memo: String::new(),
            reference: None,
            kind,
        }
    }

    /// A small October and November, computed by hand: as of 31 October the project holds
    /// 1,000.00 − 10 % = 900.00 of a gift and 2,000.00 of a pledge's first payment, and owes back a
    /// 500.00 advance; what is dated in November (the second payment, recorded on 2 November but
    /// dated 1 November, and a gift dated 3 November) does not count yet.
    fn october() -> Vec<(u64, Event)> {
        use crate::event::{Fund, Source};
        let gift = |amount: &str| EventKind::ContributionReceived {
            amount: usd(amount),
            from: "Ferrous".to_owned(),
            source: Source::Donation,
            fund: Fund::Unrestricted,
            fee_bps: Some(1000),
        };
        let pledge = EventKind::PledgeRecorded {
            amount: usd("5000.00"),
            sponsor: "Acme".to_owned(),
            due_date: day("2026-09-15"),
        };
        let pay = |amount: &str| EventKind::PledgeFulfilled { amount: usd(amount), pledge: 2, fee_bps: Some(0) };
        vec![
            (1, ev("2026-10-01", gift("1000.00"))),
            (2, ev("2026-08-01", pledge)),
            (3, ev("2026-10-20", pay("2000.00"))),
            (4, ev("2026-10-25", EventKind::AdvanceIssued { amount: usd("500.00"), purpose: "venue".to_owned() })),
            (5, ev("2026-11-01", pay("1000.00"))),
            (6, ev("2026-11-03", gift("300.00"))),
        ]
    }

    #[test]
    fn the_balance_as_of_a_date_counts_events_by_effective_date() {
        let id = ProjectId::parse("project", "rustconf").expect("id");
        let usd = Currency::from_code("USD").expect("USD");
        let at_end = state_as_of(&id, october(), day("2026-10-31"));
        let b = at_end.balances().into_iter().find(|b| b.currency == usd).expect("USD books");
        // 900.00 of the gift + 2,000.00 of the pledge + the 500.00 advance
        assert_eq!(b.balance, "3400.00".parse::<Decimal>().expect("d"));
        assert_eq!(b.pledged, "3000.00".parse::<Decimal>().expect("d"));
        assert_eq!(b.advances_outstanding, "500.00".parse::<Decimal>().expect("d"));
        assert_eq!(b.fees_to_date, "100.00".parse::<Decimal>().expect("d"));
        assert_eq!(at_end.head.seq, 4);
        let now = state_as_of(&id, october(), day("2026-12-31"));
        let b = now.balances().into_iter().find(|b| b.currency == usd).expect("USD books");
        assert_eq!(b.balance, "4670.00".parse::<Decimal>().expect("d"));
        // before anything: no books at all
        assert!(state_as_of(&id, october(), day("2026-07-31")).books.is_empty());
        let tb = trial_balance_as_of([(id.clone(), october())], day("2026-10-31"));
        let bank = tb.iter().find(|l| l.account == "Assets:Bank:USD").expect("bank line");
        assert_eq!(bank.amount, "3000.00".parse::<Decimal>().expect("d"));
    }

    #[test]
    fn open_pledges_show_what_is_outstanding_and_how_overdue_as_of_a_date() {
        let id = ProjectId::parse("project", "rustconf").expect("id");
        let open = open_pledges(&id, october(), day("2026-10-31"));
        assert_eq!(open.len(), 1);
        let p = &open[0];
        assert_eq!((p.seq, p.sponsor.as_str(), p.due_date), (2, "Acme", day("2026-09-15")));
        assert_eq!(p.fulfilled, "2000.00".parse::<Decimal>().expect("d"));
        assert_eq!(p.outstanding, "3000.00".parse::<Decimal>().expect("d"));
        // 15 September to 31 October: 46 days overdue
        assert_eq!((p.days_overdue, p.overdue(), p.bucket()), (46, true, AgeingBucket::Days31To60));
        let totals = ageing(&open);
        let usd = Currency::from_code("USD").expect("USD");
        assert_eq!(totals[&usd].get(AgeingBucket::Days31To60), p.outstanding);
        assert_eq!(totals[&usd].total(), p.outstanding);
        // not yet due on 1 September; not yet pledged on 31 July
        let early = open_pledges(&id, october(), day("2026-09-01"));
        assert_eq!((early[0].days_overdue, early[0].bucket()), (0, AgeingBucket::Current));
        assert_eq!(early[0].outstanding, "5000.00".parse::<Decimal>().expect("d"));
        assert!(open_pledges(&id, october(), day("2026-07-31")).is_empty());
    }
}
