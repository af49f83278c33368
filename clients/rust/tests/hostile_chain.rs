//! A lying server's chains: random event sequences, every record correctly hashed and linked, fed
//! to the client's verification. The answer is Ok with the balances a separately written reference
//! model gives, or an error naming the project and the seq of the first illegal record; never a
//! panic (issue 10: "a lying server cannot crash the client that checks it").

use chrono::NaiveDate;
use fiscus_client::fiscus_ledger::chain::genesis_hash;
use fiscus_client::fiscus_ledger::chain::record_hash;
use fiscus_client::fiscus_ledger::event::{ExpenseDetails, ProjectKind, Receipt};
use fiscus_client::fiscus_ledger::projection::Balance;
use fiscus_client::fiscus_ledger::record::{Record, FORMAT_VERSION};
use fiscus_client::fiscus_ledger::{Currency, Event, EventKind, Fund, Money, ProjectId, Source};
use fiscus_client::{verify_records, Balances, ChainHead, ClientError, RawRecord};
use proptest::prelude::*;
use rust_decimal::{Decimal, RoundingStrategy};

const PROJECT: &str = "hostile";

/// What a generated record holds: events the reference model knows, and wild ones it does not.
#[derive(Clone, Debug)]
enum Step {
    /// A contribution of `cents` with a fee rate (over 5,000 bps is illegal).
    Contribution { cents: i64, fee_bps: u32 },
    /// A direct payment of `cents` from the unrestricted fund.
    Payment { cents: i64 },
    /// Opening the project again.
    Reopen,
    /// Anything else, with references and amounts drawn at random.
    Wild(EventKind),
}

fn usd(cents: i64) -> Money {
    Money::parse("amount", &Decimal::new(cents, 2).to_string(), "USD").expect("a valid amount")
}

fn details(cents: i64) -> ExpenseDetails {
    ExpenseDetails {
        amount: usd(cents),
        payee: "Venue".to_owned(),
        category: "venue".to_owned(),
        fund: Fund::Unrestricted,
        receipt: Receipt { hash: [3; 32], file_name: "r.pdf".to_owned() },
    }
}

fn kind_of(step: &Step) -> EventKind {
    match step {
        Step::Contribution { cents, fee_bps } => EventKind::ContributionReceived {
            amount: usd(*cents),
            from: "Acme".to_owned(),
            source: Source::Donation,
            fund: Fund::Unrestricted,
            fee_bps: Some(*fee_bps),
        },
        Step::Payment { cents } => EventKind::ExpensePaid { request: None, details: Some(details(*cents)) },
        Step::Reopen => opened(),
        Step::Wild(kind) => kind.clone(),
    }
}

fn opened() -> EventKind {
    EventKind::ProjectOpened {
        name: "Hostile".to_owned(),
        kind: ProjectKind::Meetup,
        fee_bps: 500,
        currency: Currency::from_code("USD").expect("USD"),
        advance_limit: Decimal::from(1_000),
    }
}

fn wild() -> impl Strategy<Value = EventKind> {
    let cents = 1i64..5_000_000_000;
    let seq = 0u64..12;
    prop_oneof![
        (cents.clone(), seq.clone(), 0u32..6_000).prop_map(|(c, p, b)| EventKind::PledgeFulfilled {
            amount: usd(c),
            pledge: p,
            fee_bps: Some(b)
        }),
        cents.clone().prop_map(|c| EventKind::PledgeRecorded {
            amount: usd(c),
            sponsor: "Acme".to_owned(),
            due_date: NaiveDate::from_ymd_opt(2026, 6, 1).expect("date")
        }),
        (seq.clone(), cents.clone()).prop_map(|(p, c)| EventKind::PledgeCancelled { pledge: p, amount: Some(usd(c)) }),
        cents.clone().prop_map(|c| EventKind::AdvanceIssued { amount: usd(c), purpose: "travel".to_owned() }),
        cents.clone().prop_map(|c| EventKind::AdvanceRepaid { amount: usd(c) }),
        (cents.clone(), seq.clone(), 0i64..100_000).prop_map(|(c, s, f)| EventKind::RefundIssued {
            amount: usd(c),
            contribution: s,
            fund: Some(Fund::Unrestricted),
            fee_share: Some(Decimal::new(f, 2)),
        }),
        cents.clone().prop_map(|c| EventKind::ExpenseRequested { details: details(c) }),
        seq.clone().prop_map(|r| EventKind::ExpenseApproved { request: r }),
        (seq.clone(), cents.clone())
            .prop_map(|(r, c)| EventKind::ExpensePaid { request: Some(r), details: Some(details(c)) }),
        (seq.clone(), any::<bool>()).prop_map(|(t, with)| EventKind::EventReversed {
            target_seq: t,
            reason: "mistake".to_owned(),
            target: with.then(|| Box::new(EventKind::AdvanceRepaid { amount: usd(100) })),
        }),
        cents.clone().prop_map(|c| EventKind::FundsReleased { amount: usd(c), purpose: "sprints".to_owned() }),
        cents.prop_map(|c| EventKind::OpeningBalance { amount: usd(c), fund: Fund::Restricted("sprints".to_owned()) }),
        Just(EventKind::ProjectClosed {}),
        Just(EventKind::ProjectTermsChanged { fee_bps: Some(9_999), advance_limit: None }),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (1i64..1_000_000_000_000, prop_oneof![4 => 0u32..=5_000, 1 => 5_001u32..100_000])
            .prop_map(|(cents, fee_bps)| Step::Contribution { cents, fee_bps }),
        4 => (1i64..1_000_000_000_000).prop_map(|cents| Step::Payment { cents }),
        1 => Just(Step::Reopen),
        2 => wild().prop_map(Step::Wild),
    ]
}

/// The reference model: a project with one unrestricted fund in USD. Returns the balance and fees
/// after the steps, or the 1-based index of the first step the rules refuse; `None` once a wild
/// step comes (the model does not know those rules).
fn model(steps: &[Step]) -> Option<Result<(Decimal, Decimal), usize>> {
    let (mut balance, mut fees) = (Decimal::ZERO, Decimal::ZERO);
    for (i, s) in steps.iter().enumerate() {
        let seq = i + 2; // seq 1 opens the project
        match s {
            Step::Contribution { cents, fee_bps } => {
                if *fee_bps > 5_000 {
                    return Some(Err(seq));
                }
                let amount = Decimal::new(*cents, 2);
                let fee = (amount * Decimal::from(*fee_bps) / Decimal::from(10_000))
                    .round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
                balance += amount - fee;
                fees += fee;
            }
            Step::Payment { cents } => {
                let amount = Decimal::new(*cents, 2);
                if amount > balance {
                    return Some(Err(seq));
                }
                balance -= amount;
            }
            Step::Reopen => return Some(Err(seq)),
            Step::Wild(_) => return None,
        }
    }
    Some(Ok((balance, fees)))
}

/// The chain of the steps, every record correctly hashed and linked.
fn chain(steps: &[Step]) -> Vec<RawRecord> {
    let project = ProjectId::parse("project", PROJECT).expect("id");
    let mut prev = genesis_hash(&project);
    let kinds = std::iter::once(opened()).chain(steps.iter().map(kind_of));
    kinds
        .enumerate()
        .map(|(i, kind)| {
            let seq = i as u64 + 1;
            let record = Record {
                version: FORMAT_VERSION,
                seq,
                prev,
                commit: seq,
                // 2027-01-01T00:00:00Z: after every date the chains give their events
                recorded_at: 1_798_761_600_000_000,
                actor: "accountant:alice".to_owned(),
                event: Event {
                    event_id: format!("e-{seq}"),
                    project: project.clone(),
                    effective_date: NaiveDate::from_ymd_opt(2026, 3, 1).expect("date"),
                    memo: String::new(),
                    reference: None,
                    kind,
                },
            };
            let bytes = record.encode();
            let hash = record_hash(&bytes);
            prev = hash;
            RawRecord { seq, bytes, hash }
        })
        .collect()
}

fn verify(records: &[RawRecord], claimed: Vec<Balance>) -> Result<Vec<Balance>, ClientError> {
    let project = ProjectId::parse("project", PROJECT).expect("id");
    let last = records.last().expect("seq 1 is always there");
    let head = ChainHead { project: project.clone(), seq: last.seq, hash: last.hash };
    let balances = Balances { project: project.clone(), head_seq: last.seq, commit: 0, balances: claimed };
    verify_records(&project, records, &head, &balances, None).map(|v| v.balances)
}

fn usd_balance(balance: Decimal, fees: Decimal) -> Balance {
    Balance {
        currency: Currency::from_code("USD").expect("USD"),
        balance,
        available: balance,
        restricted: Vec::new(),
        held: Decimal::ZERO,
        pledged: Decimal::ZERO,
        advances_outstanding: Decimal::ZERO,
        fees_to_date: fees,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn a_hostile_chain_is_verified_or_refused_at_its_seq(steps in proptest::collection::vec(step(), 0..24)) {
        let records = chain(&steps);
        let expected = model(&steps);
        let claimed = match &expected {
            Some(Ok((balance, fees))) if !steps.is_empty() => vec![usd_balance(*balance, *fees)],
            _ => Vec::new(),
        };
        match (verify(&records, claimed), expected) {
            (Ok(balances), Some(Ok((balance, fees)))) => {
                let got = balances.iter().find(|b| b.currency.code() == "USD");
                let (b, f) = got.map_or((Decimal::ZERO, Decimal::ZERO), |b| (b.balance, b.fees_to_date));
                prop_assert_eq!((b, f), (balance, fees));
            }
            (Ok(_), Some(Err(seq))) => prop_assert!(false, "seq {} is illegal, and the chain verified", seq),
            (Ok(_), None) => {}
            (Err(ClientError::Verification { project, seq, problem }), expected) => {
                prop_assert_eq!(project.as_str(), PROJECT);
                prop_assert!(seq >= 1 && seq <= records.len() as u64, "seq {} of {}: {}", seq, records.len(), problem);
                match expected {
                    Some(Ok(_)) => prop_assert!(false, "a lawful chain refused at seq {}: {}", seq, problem),
                    Some(Err(bad)) => prop_assert_eq!(seq, bad as u64, "{}", problem),
                    None => {}
                }
            }
            (Err(other), _) => prop_assert!(false, "not a verification error: {}", other),
        }
    }
}

#[test]
fn a_pledge_of_10_then_a_fulfilment_of_20_is_refused_at_seq_3() {
    let pledge = EventKind::PledgeRecorded {
        amount: usd(1_000),
        sponsor: "Acme".to_owned(),
        due_date: NaiveDate::from_ymd_opt(2026, 6, 1).expect("date"),
    };
    let fulfil = EventKind::PledgeFulfilled { amount: usd(2_000), pledge: 2, fee_bps: Some(500) };
    let records = chain(&[Step::Wild(pledge), Step::Wild(fulfil)]);
    match verify(&records, Vec::new()) {
        Err(ClientError::Verification { project, seq, problem }) => {
            assert_eq!((project.as_str(), seq), (PROJECT, 3), "{problem}");
            assert!(problem.contains("rules refuse"), "{problem}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_well_hashed_overdraft_is_refused() {
    let records = chain(&[Step::Contribution { cents: 10_000, fee_bps: 0 }, Step::Payment { cents: 10_001 }]);
    match verify(&records, vec![usd_balance(Decimal::new(-1, 2), Decimal::ZERO)]) {
        Err(ClientError::Verification { project, seq, problem }) => {
            assert_eq!((project.as_str(), seq), (PROJECT, 3), "{problem}");
            assert!(problem.contains("overdraft"), "{problem}");
        }
        other => panic!("{other:?}"),
    }
}
