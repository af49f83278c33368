//! Property tests of the pure core: postings balance, refusals change nothing, records round-trip,
//! fees round as DESIGN.md says. Event sequences come from the workload generator (seeded by proptest).

use std::collections::BTreeMap;

use chrono::NaiveDate;
use fiscus_ledger::commit::{CommitRequest, MemoryLedger};
use fiscus_ledger::event::{Event, EventKind, ExpenseDetails, Fund, Receipt, Source};
use fiscus_ledger::ids::ProjectId;
use fiscus_ledger::money::{fee, Currency, Money};
use fiscus_ledger::posting::{postings, sums_per_currency};
use fiscus_ledger::projection::Projection;
use fiscus_ledger::record::{Record, FORMAT_VERSION};
use fiscus_ledger::rules::History;
use fiscus_workload::{generate, Rng, WorkloadConfig};
use proptest::prelude::*;
use rust_decimal::Decimal;

fn config(cases: u32) -> ProptestConfig {
    // Failures print their minimal input; integration tests have no lib.rs for a regressions file.
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

/// Debit-positive sums of the trial balance per currency.
fn trial_sums(p: &Projection) -> BTreeMap<Currency, Decimal> {
    let mut sums = BTreeMap::new();
    for line in p.trial_balance() {
        *sums.entry(line.currency).or_insert(Decimal::ZERO) += line.amount;
    }
    sums
}

/// "No overdraft, ever": no fund is below zero or below its holds, nothing owed is negative.
fn assert_nothing_overdrawn(p: &Projection) -> Result<(), String> {
    for chain in p.projects() {
        for (c, b) in &chain.books {
            let mut funds = vec![Fund::Unrestricted];
            funds.extend(b.restricted.keys().map(|k| Fund::Restricted(k.clone())));
            for fund in funds {
                if b.fund_available(&fund) < Decimal::ZERO {
                    return Err(format!(
                        "{} {c} {}: balance {} held {}",
                        chain.id,
                        fund.label(),
                        b.fund_balance(&fund),
                        b.held(&fund)
                    ));
                }
            }
            if b.advances_receivable < Decimal::ZERO
                || b.pledges_receivable < Decimal::ZERO
                || b.pledged > Decimal::ZERO
            {
                return Err(format!("{} {c}: negative advances or pledges: {b:?}", chain.id));
            }
        }
    }
    Ok(())
}

/// Applies a generated workload, every commit of which must be accepted; calls `each` after each.
fn run(
    events: u64,
    seed: u64,
    mut each: impl FnMut(&MemoryLedger, &CommitRequest, &fiscus_ledger::Committed),
) -> MemoryLedger {
    let mut ledger = MemoryLedger::default();
    for req in generate(&WorkloadConfig::new(events, seed)) {
        let ok = match ledger.commit(&req) {
            Ok(ok) => ok,
            Err(e) => panic!("seed {seed}: generated commit refused: {e}\n{req:#?}"),
        };
        each(&ledger, &req, &ok);
    }
    ledger
}

proptest! {
    #![proptest_config(config(48))]

    /// (a) Every stored event's postings sum to zero per currency, and so does the trial balance
    /// after every commit.
    #[test]
    fn postings_and_trial_balance_sum_to_zero(seed in any::<u64>(), events in 50u64..400) {
        let mut legs_seen = 0usize;
        let ledger = run(events, seed, |ledger, req, ok| {
            assert_eq!(ok.positions.len(), req.events.len());
            for pos in &ok.positions {
                let event = ledger.lookup.event_at(&pos.project, pos.seq).expect("lookup").expect("stored");
                assert!(event.kind.is_completed(), "stored events are completed: {event:?}");
                let legs = postings(&event.project, &event.kind);
                legs_seen += legs.len();
                for (c, sum) in sums_per_currency(&legs) {
                    assert_eq!(sum, Decimal::ZERO, "seed {seed}: {} seq {} in {c}: {legs:?}", pos.project, pos.seq);
                }
                assert_eq!(legs.is_empty(), !event.kind.has_postings(), "{event:?}");
            }
            for (c, sum) in trial_sums(&ledger.projection) {
                assert_eq!(sum, Decimal::ZERO, "seed {seed}: trial balance in {c} after commit {}", ok.commit);
            }
            if let Err(e) = assert_nothing_overdrawn(&ledger.projection) {
                panic!("seed {seed}: after commit {}: {e}", ok.commit);
            }
        });
        prop_assert_eq!(ledger.projection.events, events);
        prop_assert!(legs_seen > 0);
    }
}

/// What the refusal test may name: projects, their heads, the last date of the generated year.
struct Scene {
    projects: Vec<(ProjectId, u64, Currency)>,
    closed: Vec<ProjectId>,
    last_date: NaiveDate,
}

impl Scene {
    fn of(ledger: &MemoryLedger, last_date: NaiveDate) -> Scene {
        let projects = ledger
            .projection
            .projects()
            .filter(|p| !p.closed)
            .map(|p| (p.id.clone(), p.head.seq, p.info.as_ref().expect("a project has terms").currency))
            .collect();
        let closed = ledger.projection.projects().filter(|p| p.closed).map(|p| p.id.clone()).collect();
        Scene { projects, closed, last_date }
    }
}

fn money(amount: Decimal, c: Currency) -> Money {
    let a = amount
        .round_dp_with_strategy(c.minor_units(), rust_decimal::RoundingStrategy::ToZero)
        .max(Decimal::new(1, c.minor_units()));
    Money::new("amount", a, c).expect("positive, within minor units")
}

fn receipt() -> Receipt {
    Receipt { hash: [9; 32], file_name: "r.pdf".to_owned() }
}

/// A commit that is often invalid: an overdraft, an over-refund, an over-release, an advance over
/// the limit, a closed project or period, a self-approval, paying an unapproved or paid request, a
/// second reversal, an unpaired transfer; sometimes a valid one.
fn mischief(ledger: &MemoryLedger, scene: &Scene, rng: &mut Rng, n: u64) -> CommitRequest {
    let (id, head, home) = rng.pick(&scene.projects).clone();
    let state = ledger.projection.project(id.as_str()).expect("scene project");
    let books = state.books(home);
    let available = books.fund_available(&Fund::Unrestricted).max(Decimal::ZERO);
    let seq = rng.range(1, head.max(1) + 1);
    let extra = Decimal::from(rng.range(0, 2_000));
    let mut date = scene.last_date;
    let mut project = id.clone();
    let mut actor = "accountant:bob".to_owned();
    let mut events_extra = Vec::new();
    let kind = match rng.below(13) {
        0 => EventKind::ExpensePaid {
            request: None,
            details: Some(ExpenseDetails {
                amount: money(available + extra, home),
                payee: "Vendor".to_owned(),
                category: "venue".to_owned(),
                fund: Fund::Unrestricted,
                receipt: receipt(),
            }),
        },
        1 => EventKind::RefundIssued {
            amount: money(extra * Decimal::from(50), home),
            contribution: seq,
            fund: None,
            fee_share: None,
        },
        2 => {
            let purpose = books.restricted.keys().next().cloned().unwrap_or_else(|| "travel-grants".to_owned());
            let held = books.fund_balance(&Fund::Restricted(purpose.clone())).max(Decimal::ZERO);
            EventKind::FundsReleased { amount: money(held + extra, home), purpose }
        }
        3 => {
            let limit = state.info.as_ref().map_or(Decimal::ZERO, |i| i.advance_limit);
            EventKind::AdvanceIssued {
                amount: money(limit - books.advances_receivable + extra, home),
                purpose: "Deposit".to_owned(),
            }
        }
        4 => {
            if let Some(closed) = scene.closed.first() {
                project = closed.clone();
            }
            EventKind::ContributionReceived {
                amount: money(extra, home),
                from: "Donor".to_owned(),
                source: Source::Donation,
                fund: Fund::Unrestricted,
                fee_bps: None,
            }
        }
        5 => {
            date = ledger.projection.sponsor_closed_through().unwrap_or(scene.last_date)
                - chrono::Days::new(rng.range(0, 20));
            EventKind::GrantAwarded { amount: money(extra, home), program: "event-support".to_owned() }
        }
        6 => {
            // Self-approval when the project has a pending request; else approve whatever seq.
            let pending = state.requests.iter().find(|(_, r)| !r.approved).map(|(s, r)| (*s, r.requester.clone()));
            match pending {
                Some((s, requester)) => {
                    actor = requester;
                    EventKind::ExpenseApproved { request: s }
                }
                None => EventKind::ExpenseApproved { request: seq },
            }
        }
        7 => EventKind::ExpensePaid { request: Some(seq), details: None },
        8 => {
            let target = state.reversed.iter().next().copied().unwrap_or(seq);
            EventKind::EventReversed { target_seq: target, reason: "Again".to_owned(), target: None }
        }
        9 => {
            let other = rng.pick(&scene.projects).0.clone();
            EventKind::TransferSent { amount: money(extra, home), to: other }
        }
        10 => EventKind::PledgeFulfilled { amount: money(extra * Decimal::from(20), home), pledge: seq, fee_bps: None },
        11 => EventKind::AdvanceRepaid { amount: money(books.advances_receivable + extra, home) },
        _ => {
            // A transfer pair, valid when the sender has the money.
            let (other, _, _) = rng.pick(&scene.projects).clone();
            let amount = money(extra, home);
            if other != id {
                let kind = EventKind::TransferReceived { amount, from: id.clone() };
                events_extra.push(Event {
                    event_id: format!("m{n}-b"),
                    project: other.clone(),
                    effective_date: date,
                    memo: "Transfer in".to_owned(),
                    reference: None,
                    kind,
                });
            }
            EventKind::TransferSent { amount, to: other }
        }
    };
    let mut events = vec![Event {
        event_id: format!("m{n}"),
        project,
        effective_date: date,
        memo: "Mischief".to_owned(),
        reference: None,
        kind,
    }];
    events.extend(events_extra);
    CommitRequest {
        allow_same_receipt: false,
        events,
        expected_heads: Vec::new(),
        actor,
        recorded_at: 4_102_444_800_000_000 + n as i64,
    }
}

proptest! {
    #![proptest_config(config(32))]

    /// (b) A refused commit leaves the state exactly as it was; an accepted one keeps the books
    /// balanced. At least a third of the mischief must be refused, so this cannot pass vacuously.
    #[test]
    fn refusals_leave_the_state_unchanged(seed in any::<u64>(), events in 100u64..300, ops in 20u64..60, salt in any::<u64>()) {
        let mut last_date = None;
        let mut ledger = run(events, seed, |_, req, _| last_date = req.events.last().map(|e| e.effective_date));
        let last_date = last_date.expect("at least one commit");
        let mut rng = Rng::new(salt);
        let mut refused = 0u64;
        let mut kinds: BTreeMap<String, u64> = BTreeMap::new();
        for n in 0..ops {
            let scene = Scene::of(&ledger, last_date);
            let req = mischief(&ledger, &scene, &mut rng, n);
            let before = ledger.projection.clone();
            match ledger.commit(&req) {
                Err(e) => {
                    refused += 1;
                    // Tally by variant name, so that the test also shows that refusals are of many kinds.
                    *kinds.entry(format!("{e:?}").split([' ', '{']).next().unwrap_or("").to_owned()).or_default() += 1;
                    prop_assert!(ledger.projection == before, "refused ({e}) but the state changed: {req:#?}");
                    prop_assert_eq!(ledger.projection.events, before.events);
                    prop_assert_eq!(ledger.projection.commit_head, before.commit_head);
                }
                Ok(ok) => {
                    prop_assert!(!ok.duplicate);
                    prop_assert_eq!(ledger.projection.events, before.events + req.events.len() as u64);
                    for (c, sum) in trial_sums(&ledger.projection) {
                        prop_assert_eq!(sum, Decimal::ZERO, "trial balance in {} after {:?}", c, req);
                    }
                    if let Err(e) = assert_nothing_overdrawn(&ledger.projection) {
                        prop_assert!(false, "accepted {:?} overdrew: {}", req, e);
                    }
                }
            }
        }
        prop_assert!(refused * 3 >= ops, "only {refused} of {ops} refused: {kinds:?}");
        prop_assert!(kinds.len() >= 3, "refusals of too few kinds: {kinds:?}");
    }
}

fn record(event: Event, seq: u64, n: u64) -> Record {
    Record {
        version: FORMAT_VERSION,
        seq,
        prev: *blake3::hash(&seq.to_le_bytes()).as_bytes(),
        commit: n,
        recorded_at: 1_767_225_600_000_000 + n as i64,
        actor: "accountant:bob".to_owned(),
        event,
    }
}

proptest! {
    #![proptest_config(config(32))]

    /// (c) Records of generated events, as requested and as stored (completed), decode to what was
    /// encoded.
    #[test]
    fn records_round_trip(seed in any::<u64>(), events in 50u64..250) {
        let mut n = 0u64;
        let mut kinds = std::collections::BTreeSet::new();
        run(events, seed, |ledger, req, ok| {
            for (asked, pos) in req.events.iter().zip(&ok.positions) {
                n += 1;
                let stored = ledger.lookup.event_at(&pos.project, pos.seq).expect("lookup").expect("stored");
                for event in [asked.clone(), stored] {
                    kinds.insert(event.kind.name());
                    let r = record(event, pos.seq, n);
                    let bytes = r.encode();
                    assert_eq!(bytes[0], FORMAT_VERSION);
                    let back = Record::decode(&bytes).expect("decodes");
                    assert_eq!(back, r);
                    assert_eq!(back.encode(), bytes, "re-encoding gives the same bytes");
                }
            }
        });
        prop_assert!(kinds.len() >= 5, "{kinds:?}");
    }

    /// (c) An amount encodes the same however many trailing zeros it was written with.
    #[test]
    fn equal_amounts_encode_identically(mantissa in 1i64..1_000_000_000_000, scale in 0u32..3, zeros in 1u32..4) {
        let usd = Currency::from_code("USD").expect("USD");
        let a = Decimal::new(mantissa, scale);
        let mut b = a;
        b.rescale(scale + zeros);
        prop_assert_eq!(a, b);
        let ma = Money::new("amount", a, usd).expect("a");
        let mb = Money::new("amount", b, usd).expect("b");
        let event = |m: Money| Event {
            event_id: "e1".to_owned(),
            project: ProjectId::parse("project", "p").expect("id"),
            effective_date: NaiveDate::from_ymd_opt(2026, 1, 1).expect("date"),
            memo: "Same amount".to_owned(),
            reference: None,
            kind: EventKind::GrantAwarded { amount: m, program: "x".to_owned() },
        };
        prop_assert_eq!(record(event(ma), 1, 1).encode(), record(event(mb), 1, 1).encode());
    }
}

#[test]
fn ten_and_a_half_encodes_like_ten_fifty() {
    let eur = Currency::from_code("EUR").expect("EUR");
    let a = Money::parse("amount", "10.5", "EUR").expect("10.5");
    let b = Money::parse("amount", "10.50", "EUR").expect("10.50");
    assert_eq!(a, b);
    assert_eq!(a.amount().scale(), 1);
    let grant = |m: Money| Event {
        event_id: "e1".to_owned(),
        project: ProjectId::parse("project", "p").expect("id"),
        effective_date: NaiveDate::from_ymd_opt(2026, 1, 1).expect("date"),
        memo: "Ten fifty".to_owned(),
        reference: None,
        kind: EventKind::GrantAwarded { amount: m, program: "x".to_owned() },
    };
    let (ra, rb) = (record(grant(a), 1, 1), record(grant(b), 1, 1));
    assert_eq!(ra.encode(), rb.encode());
    assert_eq!(fiscus_ledger::chain::record_hash(&ra.encode()), fiscus_ledger::chain::record_hash(&rb.encode()));
    assert_eq!(Money::new("amount", Decimal::new(1050, 2), eur).expect("m"), a);
}

proptest! {
    #![proptest_config(config(64))]

    /// (d) A fee is within half a minor unit of amount × bps / 10000, never negative, with at most
    /// the currency's minor units.
    #[test]
    fn fees_round_to_half_a_minor_unit(mantissa in 1i64..10_000_000_000_000, bps in 0u32..=5_000, index in 0usize..44) {
        let currencies: Vec<Currency> = Currency::all().collect();
        let c = currencies[index % currencies.len()];
        let units = c.minor_units();
        let amount = Decimal::new(mantissa, units);
        let f = fee(amount, bps, c);
        let exact = amount * Decimal::from(bps) / Decimal::from(10_000u32);
        let half = Decimal::new(5, units + 1);
        prop_assert!(f >= Decimal::ZERO);
        prop_assert!(f.normalize().scale() <= units, "{} has more than {} places", f, units);
        prop_assert!(f <= exact + half, "{} > {} + {}", f, exact, half);
        prop_assert!(f >= exact - half, "{} < {} - {}", f, exact, half);
        prop_assert!(f <= amount);
        // Midpoint away from zero: an exact half rounds up.
        if (exact - exact.trunc_with_scale(units)) == half {
            prop_assert_eq!(f, exact + half);
        }
    }

    /// (d) An exact half of a minor unit rounds away from zero: 50 % of an odd number of minor
    /// units is that number plus one, halved.
    #[test]
    fn fee_midpoints_round_away_from_zero(odd in 0i64..1_000_000_000, index in 0usize..44) {
        let currencies: Vec<Currency> = Currency::all().collect();
        let c = currencies[index % currencies.len()];
        let units = c.minor_units();
        let minor = 2 * odd + 1;
        let f = fee(Decimal::new(minor, units), 5_000, c);
        prop_assert_eq!(f, Decimal::new((minor + 1) / 2, units));
    }
}
