//! Amount arithmetic at the limits: every sum is checked, and an overflow is a refusal naming the
//! field, never a panic (the overflow policy in ARCHITECTURE.md).

use chrono::NaiveDate;
use fiscus_ledger::commit::{CommitRequest, MemoryLedger};
use fiscus_ledger::event::{Event, EventKind, Fund, ProjectKind, Source};
use fiscus_ledger::money::{Currency, Money, AMOUNT_MAX, BALANCE_MAX};
use fiscus_ledger::store::Store;
use fiscus_ledger::{ErrorClass, LedgerError, ProjectId};
use rust_decimal::Decimal;

const MAX: &str = "1000000000000000";

fn usd(amount: &str) -> Money {
    Money::parse("amount", amount, "USD").expect("test amount")
}

fn event(id: &str, kind: EventKind) -> Event {
    Event {
        event_id: id.to_owned(),
        project: ProjectId::parse("project", "big").expect("project id"),
        effective_date: NaiveDate::from_ymd_opt(2026, 3, 1).expect("date"),
        memo: format!("memo of {id}"),
        reference: None,
        kind,
    }
}

fn request(events: Vec<Event>) -> CommitRequest {
    CommitRequest {
        allow_same_receipt: false,
        events,
        expected_heads: vec![],
        actor: "accountant:alice".to_owned(),
        // 2027-01-01T00:00:00Z: after the day the events are dated
        recorded_at: 1_798_761_600_000_000,
    }
}

fn open(fee_bps: u32, advance_limit: Decimal) -> CommitRequest {
    let kind = EventKind::ProjectOpened {
        name: "Big".to_owned(),
        kind: ProjectKind::Conference,
        fee_bps,
        currency: Currency::from_code("USD").expect("USD"),
        advance_limit,
    };
    request(vec![event("open", kind)])
}

fn contribution(id: &str, amount: &str) -> Event {
    let kind = EventKind::ContributionReceived {
        amount: usd(amount),
        from: "A donor".to_owned(),
        source: Source::Sponsorship,
        fund: Fund::Unrestricted,
        fee_bps: None,
    };
    event(id, kind)
}

fn refund(id: &str, contribution: u64, amount: &str) -> Event {
    let kind = EventKind::RefundIssued { amount: usd(amount), contribution, fund: None, fee_share: None };
    event(id, kind)
}

/// The scenario of issue 10: fee 900 bps, a contribution of the documented maximum, then a refund
/// of all of it. The refund's fee share (9e13 × 1e15 / 1e15) used to overflow a `Decimal`
/// multiplication and panic; it is exact now and gives the whole fee back.
fn refund_of_the_maximum(commit: &mut dyn FnMut(&CommitRequest) -> Result<(), LedgerError>) {
    commit(&open(900, Decimal::ZERO)).expect("open");
    commit(&request(vec![contribution("c1", MAX)])).expect("contribution");
    commit(&request(vec![refund("r1", 2, MAX)])).expect("the refund of the maximum is accepted");
}

fn assert_refunded_whole(state: &fiscus_ledger::projection::ProjectState) {
    let usd = Currency::from_code("USD").expect("USD");
    let books = state.books(usd);
    assert_eq!(books.bank, Decimal::ZERO);
    assert_eq!(books.unrestricted, Decimal::ZERO);
    assert_eq!(books.fees, Decimal::ZERO, "the whole fee of 9e13 is given back");
    let refunded = state.refunds.get(&2).expect("refund recorded");
    assert_eq!(refunded.amount, AMOUNT_MAX);
    assert_eq!(refunded.fee, "90000000000000".parse::<Decimal>().expect("fee"));
}

#[test]
fn refund_of_the_maximum_contribution_at_900_bps_in_memory() {
    let mut ledger = MemoryLedger::default();
    refund_of_the_maximum(&mut |r| ledger.commit(r).map(|_| ()));
    assert_refunded_whole(ledger.projection.project("big").expect("project"));
}

#[test]
fn refund_of_the_maximum_contribution_at_900_bps_in_a_store_and_after_reopening() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let (mut store, _) = Store::open(dir.path()).expect("open store");
        refund_of_the_maximum(&mut |r| store.commit(r).map(|_| ()));
        assert_refunded_whole(store.projection().project("big").expect("project"));
        // The writer goes on: a later commit is accepted.
        store.commit(&request(vec![contribution("c2", "5")])).expect("a later write");
        store.close().expect("close");
    }
    let (store, report) = Store::open(dir.path()).expect("reopen");
    assert!(report.damage.is_empty(), "{:?}", report.damage);
    let state = store.projection().project("big").expect("project");
    assert_eq!(state.head.seq, 4);
    assert_eq!(state.books(Currency::from_code("USD").expect("USD")).bank, Decimal::from(5));
}

/// Partial refunds of the maximum, down to a cent, in every order the fee rounding cares about.
#[test]
fn partial_refunds_of_the_maximum_give_back_exactly_the_whole_fee() {
    let mut ledger = MemoryLedger::default();
    ledger.commit(&open(5_000, Decimal::ZERO)).expect("open at the largest fee");
    ledger.commit(&request(vec![contribution("c1", MAX)])).expect("contribution");
    let parts = ["0.01", "333333333333333.33", "0.01", "666666666666666.64", "0.01"];
    let mut sum = Decimal::ZERO;
    for (i, part) in parts.iter().enumerate() {
        ledger.commit(&request(vec![refund(&format!("r{i}"), 2, part)])).expect("partial refund");
        sum += part.parse::<Decimal>().expect("part");
    }
    assert_eq!(sum, AMOUNT_MAX);
    let books = ledger.projection.project("big").expect("project").books(Currency::from_code("USD").expect("USD"));
    assert_eq!(books.fees, Decimal::ZERO);
    assert_eq!(books.unrestricted, Decimal::ZERO);
    let err = ledger.commit(&request(vec![refund("more", 2, "0.01")])).expect_err("nothing left");
    assert!(matches!(err, LedgerError::ExceedsRemaining { .. }), "{err}");
}

/// An account may reach `BALANCE_MAX` (1,000 × the largest amount) and not pass it: the event that
/// would is refused as an overflow naming its amount, and nothing changes.
#[test]
fn an_account_past_balance_max_is_a_refusal_naming_the_field() {
    let mut ledger = MemoryLedger::default();
    ledger.commit(&open(0, Decimal::ZERO)).expect("open");
    let thousand = (0..1_000).map(|i| contribution(&format!("c{i}"), MAX)).collect();
    ledger.commit(&request(thousand)).expect("1,000 contributions of the maximum");
    let dollars = Currency::from_code("USD").expect("USD");
    assert_eq!(ledger.projection.project("big").expect("project").books(dollars).bank, BALANCE_MAX);

    let before = ledger.projection.clone();
    let err = ledger.commit(&request(vec![contribution("x0", "0.01")])).expect_err("over");
    assert_eq!(err.class(), ErrorClass::Refused, "{err}");
    assert_eq!(err.field(), Some("events[0].contribution_received.amount"), "{err}");
    assert!(matches!(&err, LedgerError::Overflow { account, .. } if account == "Assets:Bank:USD"), "{err}");
    assert!(ledger.projection == before, "a refused commit changed nothing");

    // In a package, the event that overflows is named, and the package is refused whole.
    let package = vec![refund("r0", 2, "10"), contribution("x1", "10.01")];
    let err = ledger.commit(&request(package)).expect_err("over");
    assert_eq!(err.field(), Some("events[1].contribution_received.amount"), "{err}");
    assert!(ledger.projection == before, "a refused package changed nothing");

    // What goes out makes room again, up to the limit exactly.
    ledger.commit(&request(vec![refund("r1", 2, "10"), contribution("x2", "10")])).expect("back to the limit");
    assert_eq!(ledger.projection.project("big").expect("project").books(dollars).bank, BALANCE_MAX);
}
