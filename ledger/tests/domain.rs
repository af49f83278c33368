//! Domain tests of the pure core: given commits applied to a `MemoryLedger`, when one more commit,
//! expect its answer, and on refusal an unchanged state. One test per rule of DESIGN.md, with numbers.

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::NaiveDate;
use fiscus_ledger::commit::{CommitRequest, Committed, MemoryLedger, Position};
use fiscus_ledger::event::{Event, EventKind, ExpenseDetails, Fund, ProjectKind, Receipt, Source};
use fiscus_ledger::ids::ProjectId;
use fiscus_ledger::money::{Currency, Money};
use fiscus_ledger::posting::postings;
use fiscus_ledger::rules::History;
use fiscus_ledger::LedgerError;
use rust_decimal::Decimal;

// ---- the harness --------------------------------------------------------------------------------

/// Applies `given` (each must be accepted), then `when`; asserts `expect` holds of the answer and,
/// when `when` is refused, that the state is exactly as before. Returns the ledger and the answer.
fn check(
    given: &[CommitRequest],
    when: &CommitRequest,
    expect: impl FnOnce(&Result<Committed, LedgerError>) -> bool,
) -> (MemoryLedger, Result<Committed, LedgerError>) {
    let mut ledger = MemoryLedger::default();
    for (i, g) in given.iter().enumerate() {
        if let Err(e) = ledger.commit(g) {
            panic!("given[{i}] was refused: {e}\n{g:#?}");
        }
    }
    let before = ledger.projection.clone();
    let result = ledger.commit(when);
    assert!(expect(&result), "unexpected answer: {result:?}");
    if result.is_err() {
        assert!(ledger.projection == before, "a refused commit changed the state");
        assert_eq!(ledger.projection.events, before.events);
    }
    (ledger, result)
}

/// `check` expecting acceptance.
fn accepted(given: &[CommitRequest], when: &CommitRequest) -> (MemoryLedger, Committed) {
    let (ledger, result) = check(given, when, Result::is_ok);
    (ledger, result.expect("checked above"))
}

/// `check` expecting a refusal; returns the error.
fn refused(given: &[CommitRequest], when: &CommitRequest) -> LedgerError {
    check(given, when, Result::is_err).1.expect_err("checked above")
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

fn d(s: &str) -> Decimal {
    s.parse().expect("test decimal")
}

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("test date")
}

fn pid(s: &str) -> ProjectId {
    ProjectId::parse("project", s).expect("test project id")
}

fn cur(code: &str) -> Currency {
    Currency::from_code(code).expect("test currency")
}

fn m(amount: &str, code: &str) -> Money {
    Money::parse("amount", amount, code).expect("test money")
}

fn ev(project: &str, date: &str, kind: EventKind) -> Event {
    Event {
        event_id: format!("t{}", NEXT_ID.fetch_add(1, Ordering::Relaxed)),
        project: pid(project),
        effective_date: day(date),
        memo: "test entry".to_owned(),
        reference: None,
        kind,
    }
}

fn by(actor: &str, events: Vec<Event>) -> CommitRequest {
    CommitRequest {
        allow_same_receipt: false,
        events,
        expected_heads: Vec::new(),
        actor: actor.to_owned(),
        recorded_at: RECORDED_AT,
    }
}

/// When the tests' events are recorded: 2027-01-01T00:00:00Z, after every date they close.
const RECORDED_AT: i64 = 1_798_761_600_000_000;

const CLERK: &str = "accountant:bob";
const APPROVER: &str = "accountant:alice";

/// One event by the clerk, dated `date`.
fn one(project: &str, date: &str, kind: EventKind) -> CommitRequest {
    by(CLERK, vec![ev(project, date, kind)])
}

fn open(project: &str, code: &str, fee_bps: u32, limit: &str) -> CommitRequest {
    let kind = EventKind::ProjectOpened {
        name: format!("{project} name"),
        kind: ProjectKind::Conference,
        fee_bps,
        currency: cur(code),
        advance_limit: d(limit),
    };
    by("admin:carol", vec![ev(project, "2026-01-02", kind)])
}

fn contribution(amount: Money, fund: Fund, fee_bps: Option<u32>) -> EventKind {
    EventKind::ContributionReceived {
        amount,
        from: "Ferrous Systems".to_owned(),
        source: Source::Sponsorship,
        fund,
        fee_bps,
    }
}

fn give(project: &str, amount: &str, code: &str) -> CommitRequest {
    one(project, "2026-01-10", contribution(m(amount, code), Fund::Unrestricted, None))
}

/// An expense with its own invoice: the receipt hash follows from the amount and fund, so that
/// two different expenses never share a receipt (the same receipt twice is refused).
fn details(amount: Money, fund: Fund) -> ExpenseDetails {
    let invoice = format!("invoice {} {} {}", amount.amount(), amount.currency(), fund.label());
    ExpenseDetails {
        amount,
        payee: "Grand Hall Venues".to_owned(),
        category: "venue".to_owned(),
        fund,
        receipt: Receipt { hash: *blake3::hash(invoice.as_bytes()).as_bytes(), file_name: "invoice-17.pdf".to_owned() },
    }
}

fn restricted(purpose: &str) -> Fund {
    Fund::Restricted(purpose.to_owned())
}

/// The postings of the stored event at `pos`, as (account, currency, amount).
fn legs(ledger: &MemoryLedger, pos: &Position) -> Vec<(String, String, Decimal)> {
    let event = ledger.lookup.event_at(&pos.project, pos.seq).expect("lookup").expect("stored event");
    let out = postings(&event.project, &event.kind)
        .iter()
        .map(|l| (l.account.to_string(), l.currency.code().to_owned(), l.amount))
        .collect();
    out
}

fn expect_legs(ledger: &MemoryLedger, pos: &Position, expected: &[(&str, &str, &str)]) {
    let got = legs(ledger, pos);
    let want: Vec<(String, String, Decimal)> =
        expected.iter().map(|(a, c, x)| ((*a).to_owned(), (*c).to_owned(), d(x))).collect();
    assert_eq!(got, want, "postings of {pos:?}");
}

/// (balance, available) of a project's unrestricted fund in a currency.
fn balance(ledger: &MemoryLedger, project: &str, code: &str) -> (Decimal, Decimal) {
    let state = ledger.projection.project(project).expect("project");
    state
        .balances()
        .into_iter()
        .find(|b| b.currency == cur(code))
        .map_or((Decimal::ZERO, Decimal::ZERO), |b| (b.balance, b.available))
}

fn stored(ledger: &MemoryLedger, pos: &Position) -> Event {
    ledger.lookup.event_at(&pos.project, pos.seq).expect("lookup").expect("stored event")
}

fn assert_trial_balance_zero(ledger: &MemoryLedger) {
    let mut sums: std::collections::BTreeMap<String, Decimal> = std::collections::BTreeMap::new();
    for line in ledger.projection.trial_balance() {
        *sums.entry(line.currency.code().to_owned()).or_default() += line.amount;
    }
    for (c, s) in sums {
        assert_eq!(s, Decimal::ZERO, "trial balance in {c}");
    }
}

// ---- postings of every event kind ---------------------------------------------------------------

#[test]
fn contribution_credits_the_fund_less_the_fee() {
    let (ledger, ok) = accepted(&[open("p", "USD", 700, "0")], &give("p", "1000", "USD"));
    expect_legs(
        &ledger,
        &ok.positions[0],
        &[
            ("Assets:Bank:USD", "USD", "1000"),
            ("Liabilities:Projects:p:Unrestricted", "USD", "-930"),
            ("Income:Fees:p", "USD", "-70"),
        ],
    );
    assert_eq!(balance(&ledger, "p", "USD"), (d("930"), d("930")));
    // The fee rate in force is completed into the stored event.
    let EventKind::ContributionReceived { fee_bps, .. } = stored(&ledger, &ok.positions[0]).kind else {
        panic!("a contribution")
    };
    assert_eq!(fee_bps, Some(700));
    assert_trial_balance_zero(&ledger);
}

#[test]
fn contribution_to_a_restricted_fund_with_its_own_fee() {
    let when = one("p", "2026-01-10", contribution(m("2000", "USD"), restricted("travel-grants"), Some(250)));
    let (ledger, ok) = accepted(&[open("p", "USD", 700, "0")], &when);
    expect_legs(
        &ledger,
        &ok.positions[0],
        &[
            ("Assets:Bank:USD", "USD", "2000"),
            ("Liabilities:Projects:p:Restricted:travel-grants", "USD", "-1950"),
            ("Income:Fees:p", "USD", "-50"),
        ],
    );
    assert_eq!(balance(&ledger, "p", "USD"), (d("0"), d("0")));
}

#[test]
fn fees_round_to_minor_units_midpoint_away_from_zero() {
    let given = [open("p", "USD", 0, "0")];
    // (amount, currency, bps, fee): 0.75375 → 0.75; 0.125 → 0.13; 12.5 → 13; 0.07035 → 0.070; 0.0049 → 0.
    let cases = [
        ("10.05", "USD", 750, "0.75"),
        ("1.25", "USD", 1000, "0.13"),
        ("250", "JPY", 500, "13"),
        ("1.005", "KWD", 700, "0.07"),
        ("0.07", "USD", 700, "0"),
    ];
    for (amount, code, bps, fee) in cases {
        let when = one("p", "2026-01-10", contribution(m(amount, code), Fund::Unrestricted, Some(bps)));
        let (ledger, ok) = accepted(&given, &when);
        let got = legs(&ledger, &ok.positions[0]);
        let fee_leg = got.iter().find(|l| l.0 == "Income:Fees:p").map_or(Decimal::ZERO, |l| -l.2);
        assert_eq!(fee_leg, d(fee), "{amount} {code} at {bps} bps");
        let fund = got.iter().find(|l| l.0.ends_with(":Unrestricted")).expect("fund leg").2;
        assert_eq!(-fund, d(amount) - d(fee), "{amount} {code} at {bps} bps");
    }
}

#[test]
fn sponsorship_package_applies_each_projects_own_fee() {
    let given = [open("conf", "USD", 700, "0"), open("meetup", "EUR", 500, "0"), open("workshop", "JPY", 0, "0")];
    let mut events = vec![
        ev("conf", "2026-02-10", contribution(m("10000", "USD"), Fund::Unrestricted, None)),
        ev("meetup", "2026-02-10", contribution(m("2000", "EUR"), Fund::Unrestricted, None)),
        ev("workshop", "2026-02-10", contribution(m("300000", "JPY"), Fund::Unrestricted, None)),
    ];
    for e in &mut events {
        e.reference = Some("PKG-2026-0001".to_owned());
    }
    let (ledger, ok) = accepted(&given, &by(CLERK, events));
    assert_eq!(ok.commit, 4);
    assert!(!ok.duplicate);
    assert_eq!(
        ok.positions.iter().map(|p| (p.project.as_str(), p.seq)).collect::<Vec<_>>(),
        [("conf", 2), ("meetup", 2), ("workshop", 2)]
    );
    assert_eq!(balance(&ledger, "conf", "USD").0, d("9300"));
    assert_eq!(balance(&ledger, "meetup", "EUR").0, d("1900"));
    assert_eq!(balance(&ledger, "workshop", "JPY").0, d("300000"));
    expect_legs(
        &ledger,
        &ok.positions[2],
        &[("Assets:Bank:JPY", "JPY", "300000"), ("Liabilities:Projects:workshop:Unrestricted", "JPY", "-300000")],
    );
}

#[test]
fn a_package_is_atomic() {
    let given = [open("conf", "USD", 700, "0")];
    let when = by(
        CLERK,
        vec![
            ev("conf", "2026-02-10", contribution(m("10000", "USD"), Fund::Unrestricted, None)),
            ev("ghost", "2026-02-10", contribution(m("2000", "USD"), Fund::Unrestricted, None)),
        ],
    );
    let err = refused(&given, &when);
    assert!(matches!(&err, LedgerError::UnknownProject { project } if project.as_str() == "ghost"), "{err}");
}

#[test]
fn pledge_recorded_fulfilled_and_cancelled() {
    let pledge = EventKind::PledgeRecorded {
        amount: m("5000", "USD"),
        sponsor: "Acme Cloud".to_owned(),
        due_date: day("2026-04-30"),
    };
    let given = vec![open("p", "USD", 700, "0"), one("p", "2026-02-01", pledge)];
    let fulfil = |amount: &str| {
        one("p", "2026-03-01", EventKind::PledgeFulfilled { amount: m(amount, "USD"), pledge: 2, fee_bps: None })
    };

    let (ledger, ok) = accepted(&given, &fulfil("2000"));
    expect_legs(
        &ledger,
        &Position { project: pid("p"), seq: 2 },
        &[("Assets:Receivable:Pledges:p", "USD", "5000"), ("Liabilities:Projects:p:Pledged", "USD", "-5000")],
    );
    expect_legs(
        &ledger,
        &ok.positions[0],
        &[
            ("Assets:Bank:USD", "USD", "2000"),
            ("Assets:Receivable:Pledges:p", "USD", "-2000"),
            ("Liabilities:Projects:p:Pledged", "USD", "2000"),
            ("Liabilities:Projects:p:Unrestricted", "USD", "-1860"),
            ("Income:Fees:p", "USD", "-140"),
        ],
    );
    let mut given = given;
    given.push(fulfil("2000"));

    // More than what remains of the pledge.
    let err = refused(&given, &fulfil("3500"));
    assert!(
        matches!(&err, LedgerError::ExceedsRemaining { what: "pledge", seq: 2, remaining, requested, .. } if *remaining == d("3000") && *requested == d("3500")),
        "{err}"
    );

    // A cancellation that names the wrong remainder is malformed.
    let wrong = one("p", "2026-03-02", EventKind::PledgeCancelled { pledge: 2, amount: Some(m("2500", "USD")) });
    assert_eq!(refused(&given, &wrong).field(), Some("events[0].pledge_cancelled.amount"));

    // Cancelling releases exactly what remains.
    let cancel = one("p", "2026-03-02", EventKind::PledgeCancelled { pledge: 2, amount: None });
    let (ledger, ok) = accepted(&given, &cancel);
    expect_legs(
        &ledger,
        &ok.positions[0],
        &[("Assets:Receivable:Pledges:p", "USD", "-3000"), ("Liabilities:Projects:p:Pledged", "USD", "3000")],
    );
    let EventKind::PledgeCancelled { amount, .. } = stored(&ledger, &ok.positions[0]).kind else {
        panic!("a cancellation")
    };
    assert_eq!(amount, Some(m("3000", "USD")));
    let state = ledger.projection.project("p").expect("p");
    assert!(state.pledges.is_empty());
    assert_eq!(state.balances()[0].pledged, Decimal::ZERO);

    // A cancelled pledge cannot be paid.
    given.push(cancel);
    let err = refused(&given, &fulfil("100"));
    assert!(matches!(&err, LedgerError::BadReference { seq: 2, .. }), "{err}");
    assert_eq!(err.field(), Some("events[0].pledge_fulfilled.pledge"));
}

#[test]
fn grant_credits_the_project_without_a_fee() {
    let when = one(
        "p",
        "2026-03-20",
        EventKind::GrantAwarded { amount: m("3000", "USD"), program: "maintainer-fund".to_owned() },
    );
    let (ledger, ok) = accepted(&[open("p", "USD", 700, "0")], &when);
    expect_legs(
        &ledger,
        &ok.positions[0],
        &[("Expenses:Grants:maintainer-fund", "USD", "3000"), ("Liabilities:Projects:p:Unrestricted", "USD", "-3000")],
    );
    assert_eq!(balance(&ledger, "p", "USD").0, d("3000"));
}

#[test]
fn advances_up_to_the_limit_and_repaid_up_to_what_is_outstanding() {
    let advance = |a: &str| {
        one("p", "2026-01-10", EventKind::AdvanceIssued { amount: m(a, "USD"), purpose: "Venue deposit".to_owned() })
    };
    let repay = |a: &str| one("p", "2026-03-10", EventKind::AdvanceRepaid { amount: m(a, "USD") });
    let given = vec![open("p", "USD", 0, "5000")];

    let (ledger, ok) = accepted(&given, &advance("3000"));
    expect_legs(
        &ledger,
        &ok.positions[0],
        &[("Assets:Receivable:Advances:p", "USD", "3000"), ("Liabilities:Projects:p:Unrestricted", "USD", "-3000")],
    );
    assert_eq!(ledger.projection.project("p").expect("p").balances()[0].advances_outstanding, d("3000"));

    let mut given = given;
    given.push(advance("3000"));
    let err = refused(&given, &advance("2500"));
    assert!(
        matches!(&err, LedgerError::AdvanceLimit { limit, outstanding, requested, .. }
            if *limit == d("5000") && *outstanding == d("3000") && *requested == d("2500")),
        "{err}"
    );
    accepted(&given, &advance("2000"));

    // The advance is in the project's currency.
    let eur =
        one("p", "2026-01-10", EventKind::AdvanceIssued { amount: m("10", "EUR"), purpose: "Deposit".to_owned() });
    assert_eq!(refused(&given, &eur).field(), Some("events[0].advance_issued.amount.currency"));

    given.push(give("p", "10000", "USD"));
    let (ledger, ok) = accepted(&given, &repay("3000"));
    expect_legs(
        &ledger,
        &ok.positions[0],
        &[("Liabilities:Projects:p:Unrestricted", "USD", "3000"), ("Assets:Receivable:Advances:p", "USD", "-3000")],
    );
    assert_eq!(balance(&ledger, "p", "USD").0, d("10000"));

    let err = refused(&given, &repay("3500"));
    assert!(
        matches!(&err, LedgerError::ExceedsOutstanding { outstanding, requested, account, .. }
            if *outstanding == d("3000") && *requested == d("3500") && account == "Assets:Receivable:Advances:p"),
        "{err}"
    );
}

#[test]
fn advance_repaid_beyond_what_is_available_is_an_overdraft() {
    let given = [
        open("p", "USD", 0, "5000"),
        one("p", "2026-01-10", EventKind::AdvanceIssued { amount: m("3000", "USD"), purpose: "Deposit".to_owned() }),
        one(
            "p",
            "2026-01-11",
            EventKind::ExpensePaid { request: None, details: Some(details(m("2500", "USD"), Fund::Unrestricted)) },
        ),
    ];
    let err = refused(&given, &one("p", "2026-02-01", EventKind::AdvanceRepaid { amount: m("600", "USD") }));
    assert!(
        matches!(&err, LedgerError::Overdraft { available, requested, .. } if *available == d("500") && *requested == d("600")),
        "{err}"
    );
}

#[test]
fn direct_payment_never_overdraws_a_fund() {
    let given = [
        open("p", "USD", 0, "0"),
        give("p", "1000", "USD"),
        one("p", "2026-01-11", contribution(m("300", "USD"), restricted("travel"), None)),
    ];
    let pay = |a: &str, fund: Fund| {
        one("p", "2026-02-01", EventKind::ExpensePaid { request: None, details: Some(details(m(a, "USD"), fund)) })
    };

    let (ledger, ok) = accepted(&given, &pay("1000", Fund::Unrestricted));
    expect_legs(
        &ledger,
        &ok.positions[0],
        &[("Liabilities:Projects:p:Unrestricted", "USD", "1000"), ("Assets:Bank:USD", "USD", "-1000")],
    );
    assert_eq!(balance(&ledger, "p", "USD").0, d("0"));

    let err = refused(&given, &pay("1000.01", Fund::Unrestricted));
    assert!(
        matches!(&err, LedgerError::Overdraft { fund, available, requested, .. }
            if fund == "unrestricted" && *available == d("1000") && *requested == d("1000.01")),
        "{err}"
    );
    let err = refused(&given, &pay("300.01", restricted("travel")));
    assert!(
        matches!(&err, LedgerError::Overdraft { fund, available, .. } if fund == "restricted:travel" && *available == d("300")),
        "{err}"
    );
    // A currency the project never held has nothing available.
    let yen = one(
        "p",
        "2026-02-01",
        EventKind::ExpensePaid { request: None, details: Some(details(m("1", "JPY"), Fund::Unrestricted)) },
    );
    assert!(matches!(refused(&given, &yen), LedgerError::Overdraft { .. }));
}

#[test]
fn expense_requests_are_approved_by_someone_else_then_paid_once() {
    let requester = "project:p";
    let request = |a: &str| {
        by(
            requester,
            vec![ev(
                "p",
                "2026-02-01",
                EventKind::ExpenseRequested { details: details(m(a, "USD"), Fund::Unrestricted) },
            )],
        )
    };
    let approve =
        |seq: u64, actor: &str| by(actor, vec![ev("p", "2026-02-02", EventKind::ExpenseApproved { request: seq })]);
    let pay = |seq: u64| one("p", "2026-02-03", EventKind::ExpensePaid { request: Some(seq), details: None });
    // seq 1 opened, 2 contribution, 3 request of 600, 4 request of 500.
    let mut given = vec![open("p", "USD", 0, "0"), give("p", "1000", "USD"), request("600"), request("500")];

    let (ledger, ok) = accepted(&given, &request("50"));
    assert!(legs(&ledger, &ok.positions[0]).is_empty(), "a request posts nothing");
    assert_eq!(ledger.projection.project("p").expect("p").requests[&ok.positions[0].seq].requester, requester);

    let err = refused(&given, &approve(3, requester));
    assert!(matches!(&err, LedgerError::SelfApproval { request: 3, actor, .. } if actor == requester), "{err}");

    // An unapproved request cannot be paid.
    let err = refused(&given, &pay(3));
    assert!(matches!(&err, LedgerError::BadReference { seq: 3, .. }), "{err}");
    assert_eq!(err.field(), Some("events[0].expense_paid.request"));

    let (ledger, _) = accepted(&given, &approve(3, APPROVER));
    assert_eq!(balance(&ledger, "p", "USD"), (d("1000"), d("400")), "the approval holds 600");
    given.push(approve(3, APPROVER));

    // The hold counts against a second approval and against direct payments.
    let err = refused(&given, &approve(4, APPROVER));
    assert!(
        matches!(&err, LedgerError::Overdraft { available, requested, .. } if *available == d("400") && *requested == d("500")),
        "{err}"
    );
    let direct = one(
        "p",
        "2026-02-02",
        EventKind::ExpensePaid { request: None, details: Some(details(m("401", "USD"), Fund::Unrestricted)) },
    );
    assert!(matches!(refused(&given, &direct), LedgerError::Overdraft { .. }));
    // Approving twice is refused.
    assert!(matches!(refused(&given, &approve(3, APPROVER)), LedgerError::BadReference { seq: 3, .. }));

    let (ledger, ok) = accepted(&given, &pay(3));
    expect_legs(
        &ledger,
        &ok.positions[0],
        &[("Liabilities:Projects:p:Unrestricted", "USD", "600"), ("Assets:Bank:USD", "USD", "-600")],
    );
    assert_eq!(balance(&ledger, "p", "USD"), (d("400"), d("400")), "payment releases the hold");
    let EventKind::ExpensePaid { details: Some(paid), .. } = stored(&ledger, &ok.positions[0]).kind else {
        panic!("completed payment")
    };
    assert_eq!(paid.amount, m("600", "USD"));

    given.push(pay(3));
    let err = refused(&given, &pay(3));
    assert!(matches!(&err, LedgerError::BadReference { seq: 3, .. }), "paid twice: {err}");
}

#[test]
fn rejection_releases_the_hold() {
    let given = [
        open("p", "USD", 0, "0"),
        give("p", "1000", "USD"),
        by(
            "project:p",
            vec![ev(
                "p",
                "2026-02-01",
                EventKind::ExpenseRequested { details: details(m("600", "USD"), Fund::Unrestricted) },
            )],
        ),
        by(APPROVER, vec![ev("p", "2026-02-02", EventKind::ExpenseApproved { request: 3 })]),
    ];
    let reject = by(
        APPROVER,
        vec![ev("p", "2026-02-03", EventKind::ExpenseRejected { request: 3, reason: "No receipt".to_owned() })],
    );
    let (ledger, _) = accepted(&given, &reject);
    assert_eq!(balance(&ledger, "p", "USD"), (d("1000"), d("1000")));
    assert!(ledger.projection.project("p").expect("p").requests.is_empty());
    let mut given = given.to_vec();
    given.push(reject);
    let pay = one("p", "2026-02-04", EventKind::ExpensePaid { request: Some(3), details: None });
    assert!(matches!(refused(&given, &pay), LedgerError::BadReference { seq: 3, .. }));
}

#[test]
fn refunds_give_back_the_fees_share_and_never_more_than_was_paid() {
    let refund = |a: &str| {
        one(
            "p",
            "2026-03-01",
            EventKind::RefundIssued { amount: m(a, "USD"), contribution: 2, fund: None, fee_share: None },
        )
    };
    let mut given = vec![open("p", "USD", 700, "0"), give("p", "1000", "USD")];

    let (ledger, ok) = accepted(&given, &refund("300"));
    expect_legs(
        &ledger,
        &ok.positions[0],
        &[
            ("Liabilities:Projects:p:Unrestricted", "USD", "279"),
            ("Income:Fees:p", "USD", "21"),
            ("Assets:Bank:USD", "USD", "-300"),
        ],
    );
    given.push(refund("300"));
    let err = refused(&given, &refund("700.01"));
    assert!(
        matches!(&err, LedgerError::ExceedsRemaining { what: "contribution", seq: 2, remaining, .. } if *remaining == d("700")),
        "{err}"
    );
    let (ledger, _) = accepted(&given, &refund("700"));
    assert_eq!(balance(&ledger, "p", "USD").0, Decimal::ZERO);
    assert_eq!(ledger.projection.project("p").expect("p").balances()[0].fees_to_date, Decimal::ZERO);

    // Only a contribution can be refunded.
    let wrong = one(
        "p",
        "2026-03-01",
        EventKind::RefundIssued { amount: m("1", "USD"), contribution: 1, fund: None, fee_share: None },
    );
    assert!(matches!(refused(&given, &wrong), LedgerError::BadReference { seq: 1, .. }));
}

#[test]
fn refunding_in_awkward_parts_returns_exactly_the_whole_fee() {
    // 100.01 at 750 bps: fee 7.50075 → 7.50. Three refunds whose shares each round.
    let mut ledger = MemoryLedger::default();
    ledger.commit(&open("p", "USD", 750, "0")).expect("open");
    ledger.commit(&give("p", "100.01", "USD")).expect("contribution");
    let mut shares = Decimal::ZERO;
    for part in ["33.33", "33.33", "0.01", "33.34"] {
        let req = one(
            "p",
            "2026-03-01",
            EventKind::RefundIssued { amount: m(part, "USD"), contribution: 2, fund: None, fee_share: None },
        );
        let ok = ledger.commit(&req).expect("refund");
        let EventKind::RefundIssued { fee_share: Some(share), .. } = stored(&ledger, &ok.positions[0]).kind else {
            panic!("completed refund")
        };
        assert!(share.scale() <= 2, "share {share} within minor units");
        shares += share;
    }
    assert_eq!(shares, d("7.50"));
    let b = &ledger.projection.project("p").expect("p").balances()[0];
    assert_eq!(b.fees_to_date, Decimal::ZERO);
    assert_eq!(b.balance, Decimal::ZERO);
    assert_trial_balance_zero(&ledger);
}

#[test]
fn transfers_are_committed_as_a_pair() {
    let given = [open("a", "USD", 0, "0"), open("b", "EUR", 0, "0"), give("a", "500", "USD")];
    let sent = |a: &str| ev("a", "2026-03-01", EventKind::TransferSent { amount: m(a, "USD"), to: pid("b") });
    let received = |a: &str| ev("b", "2026-03-01", EventKind::TransferReceived { amount: m(a, "USD"), from: pid("a") });

    let (ledger, ok) = accepted(&given, &by(CLERK, vec![sent("100"), received("100")]));
    expect_legs(
        &ledger,
        &ok.positions[0],
        &[("Liabilities:Projects:a:Unrestricted", "USD", "100"), ("Assets:Clearing:Transfers", "USD", "-100")],
    );
    expect_legs(
        &ledger,
        &ok.positions[1],
        &[("Assets:Clearing:Transfers", "USD", "100"), ("Liabilities:Projects:b:Unrestricted", "USD", "-100")],
    );
    assert_eq!(balance(&ledger, "a", "USD").0, d("400"));
    assert_eq!(balance(&ledger, "b", "USD").0, d("100"));
    assert!(
        ledger.projection.trial_balance().iter().all(|l| l.account != "Assets:Clearing:Transfers"),
        "clearing nets to zero"
    );

    assert_eq!(refused(&given, &by(CLERK, vec![sent("100")])).field(), Some("events[0]"));
    assert_eq!(refused(&given, &by(CLERK, vec![received("100")])).field(), Some("events[0]"));
    assert_eq!(refused(&given, &by(CLERK, vec![sent("100"), received("90")])).field(), Some("events[0]"));
    let err = refused(&given, &by(CLERK, vec![sent("500.01"), received("500.01")]));
    assert!(matches!(&err, LedgerError::Overdraft { available, .. } if *available == d("500")), "{err}");

    let ghost = vec![
        ev("a", "2026-03-01", EventKind::TransferSent { amount: m("10", "USD"), to: pid("ghost") }),
        ev("ghost", "2026-03-01", EventKind::TransferReceived { amount: m("10", "USD"), from: pid("a") }),
    ];
    let err = refused(&given, &by(CLERK, ghost));
    assert!(matches!(&err, LedgerError::UnknownProject { project } if project.as_str() == "ghost"), "{err}");
}

#[test]
fn restricted_funds_are_released_up_to_their_balance() {
    let given =
        [open("p", "USD", 0, "0"), one("p", "2026-01-11", contribution(m("500", "USD"), restricted("travel"), None))];
    let release = |a: &str| {
        one("p", "2026-02-01", EventKind::FundsReleased { amount: m(a, "USD"), purpose: "travel".to_owned() })
    };
    let (ledger, ok) = accepted(&given, &release("300"));
    expect_legs(
        &ledger,
        &ok.positions[0],
        &[
            ("Liabilities:Projects:p:Restricted:travel", "USD", "300"),
            ("Liabilities:Projects:p:Unrestricted", "USD", "-300"),
        ],
    );
    let b = &ledger.projection.project("p").expect("p").balances()[0];
    assert_eq!((b.balance, b.restricted[0].balance), (d("300"), d("200")));

    let err = refused(&given, &release("500.01"));
    assert!(
        matches!(&err, LedgerError::Overdraft { fund, available, requested, .. }
            if fund == "restricted:travel" && *available == d("500") && *requested == d("500.01")),
        "{err}"
    );
    let other =
        one("p", "2026-02-01", EventKind::FundsReleased { amount: m("1", "USD"), purpose: "childcare".to_owned() });
    assert!(matches!(refused(&given, &other), LedgerError::Overdraft { .. }));
}

#[test]
fn conversion_moves_money_between_currencies() {
    let given = [open("p", "USD", 0, "0"), give("p", "1000", "USD")];
    let convert =
        |a: &str| one("p", "2026-02-01", EventKind::CurrencyConverted { amount: m(a, "USD"), to: m("92", "EUR") });
    let (ledger, ok) = accepted(&given, &convert("100"));
    expect_legs(
        &ledger,
        &ok.positions[0],
        &[
            ("Liabilities:Projects:p:Unrestricted", "USD", "100"),
            ("Assets:Bank:USD", "USD", "-100"),
            ("Assets:Bank:EUR", "EUR", "92"),
            ("Liabilities:Projects:p:Unrestricted", "EUR", "-92"),
        ],
    );
    assert_eq!((balance(&ledger, "p", "USD").0, balance(&ledger, "p", "EUR").0), (d("900"), d("92")));
    assert!(matches!(refused(&given, &convert("1000.01")), LedgerError::Overdraft { .. }));
    let same = one("p", "2026-02-01", EventKind::CurrencyConverted { amount: m("1", "USD"), to: m("1", "USD") });
    assert_eq!(refused(&given, &same).field(), Some("events[0].currency_converted.to.currency"));
}

#[test]
fn opening_balance_brings_a_balance_over() {
    let when =
        one("p", "2026-01-03", EventKind::OpeningBalance { amount: m("1200", "EUR"), fund: restricted("childcare") });
    let (ledger, ok) = accepted(&[open("p", "EUR", 500, "0")], &when);
    expect_legs(
        &ledger,
        &ok.positions[0],
        &[("Assets:Bank:EUR", "EUR", "1200"), ("Liabilities:Projects:p:Restricted:childcare", "EUR", "-1200")],
    );
}

#[test]
fn terms_changes_apply_to_later_events() {
    let terms = by(
        "admin:carol",
        vec![ev(
            "p",
            "2026-02-01",
            EventKind::ProjectTermsChanged { fee_bps: Some(1000), advance_limit: Some(d("100")) },
        )],
    );
    let given = [open("p", "USD", 700, "0"), give("p", "1000", "USD"), terms];
    let later = one("p", "2026-02-05", contribution(m("1000", "USD"), Fund::Unrestricted, None));
    let (ledger, ok) = accepted(&given, &later);
    let fee_leg = legs(&ledger, &ok.positions[0]).into_iter().find(|l| l.0 == "Income:Fees:p").expect("fee leg").2;
    assert_eq!(fee_leg, d("-100"));
    assert_eq!(balance(&ledger, "p", "USD").0, d("1830"));
    let advance =
        one("p", "2026-02-02", EventKind::AdvanceIssued { amount: m("101", "USD"), purpose: "Deposit".to_owned() });
    assert!(matches!(refused(&given, &advance), LedgerError::AdvanceLimit { .. }));
    let nothing = by(
        "admin:carol",
        vec![ev("p", "2026-02-01", EventKind::ProjectTermsChanged { fee_bps: None, advance_limit: None })],
    );
    assert_eq!(refused(&given, &nothing).field(), Some("events[0].project_terms_changed.fee_bps"));
}

// ---- dates: terms by effective date, events not before what they depend on ---------------------

fn terms(project: &str, date: &str, fee_bps: Option<u32>, advance_limit: Option<&str>) -> CommitRequest {
    let kind = EventKind::ProjectTermsChanged { fee_bps, advance_limit: advance_limit.map(d) };
    by("admin:carol", vec![ev(project, date, kind)])
}

/// The completed fee rate and the fee leg of the stored event at `pos`.
fn fee_of(ledger: &MemoryLedger, pos: &Position) -> (Option<u32>, Decimal) {
    let fee_bps = match stored(ledger, pos).kind {
        EventKind::ContributionReceived { fee_bps, .. } | EventKind::PledgeFulfilled { fee_bps, .. } => fee_bps,
        other => panic!("not a contribution: {other:?}"),
    };
    let fee = legs(ledger, pos).into_iter().find(|l| l.0.starts_with("Income:Fees:")).map_or(Decimal::ZERO, |l| -l.2);
    (fee_bps, fee)
}

fn open_on(project: &str, date: &str, code: &str, fee_bps: u32, limit: &str) -> CommitRequest {
    let mut request = open(project, code, fee_bps, limit);
    request.events[0].effective_date = day(date);
    request
}

#[test]
fn a_contribution_takes_the_fee_rate_in_force_on_its_own_date() {
    // Issue 14 §2: 5 % from 5 January, 8 % from 1 July; rows of May and June recorded late.
    let given =
        [open_on("fee-meetup", "2026-01-05", "EUR", 500, "0"), terms("fee-meetup", "2026-07-01", Some(800), None)];
    let gift =
        |date: &str, amount: &str| one("fee-meetup", date, contribution(m(amount, "EUR"), Fund::Unrestricted, None));
    let (ledger, ok) = accepted(&given, &gift("2026-05-10", "100.00"));
    assert_eq!(fee_of(&ledger, &ok.positions[0]), (Some(500), d("5")));
    let (ledger, ok) = accepted(&given, &gift("2026-06-30", "1000.00"));
    assert_eq!(fee_of(&ledger, &ok.positions[0]), (Some(500), d("50")));
    let (ledger, ok) = accepted(&given, &gift("2026-07-01", "1000.00"));
    assert_eq!(fee_of(&ledger, &ok.positions[0]), (Some(800), d("80")));
    // A change dated next year, recorded in December, does not touch a December gift.
    let next_year =
        [open_on("fee-meetup", "2026-01-05", "EUR", 500, "0"), terms("fee-meetup", "2027-01-01", Some(800), None)];
    let (ledger, ok) = accepted(&next_year, &gift("2026-12-15", "100.00"));
    assert_eq!(fee_of(&ledger, &ok.positions[0]), (Some(500), d("5")));
    // Changes recorded out of date order: each date takes the change in force then.
    let shuffled = [
        open_on("fee-meetup", "2026-01-05", "EUR", 500, "0"),
        terms("fee-meetup", "2026-09-01", Some(1000), None),
        terms("fee-meetup", "2026-07-01", Some(800), None),
    ];
    let (ledger, ok) = accepted(&shuffled, &gift("2026-08-01", "100.00"));
    assert_eq!(fee_of(&ledger, &ok.positions[0]), (Some(800), d("8")));
    let (ledger, ok) = accepted(&shuffled, &gift("2026-09-02", "100.00"));
    assert_eq!(fee_of(&ledger, &ok.positions[0]), (Some(1000), d("10")));
}

#[test]
fn a_pledge_pays_the_fee_rate_in_force_on_the_payment_date() {
    let pledge = EventKind::PledgeRecorded {
        amount: m("1000", "USD"),
        sponsor: "Acme Cloud".to_owned(),
        due_date: day("2026-09-30"),
    };
    let given = [open("p", "USD", 500, "0"), one("p", "2026-03-01", pledge), terms("p", "2026-07-01", Some(800), None)];
    let pay =
        |date: &str| one("p", date, EventKind::PledgeFulfilled { amount: m("1000", "USD"), pledge: 2, fee_bps: None });
    let (ledger, ok) = accepted(&given, &pay("2026-06-15"));
    assert_eq!(fee_of(&ledger, &ok.positions[0]), (Some(500), d("50")));
    let (ledger, ok) = accepted(&given, &pay("2026-08-01"));
    assert_eq!(fee_of(&ledger, &ok.positions[0]), (Some(800), d("80")));
}

#[test]
fn the_advance_limit_in_force_on_the_advance_date_applies() {
    let given = [open("p", "USD", 700, "1000"), terms("p", "2026-07-01", None, Some("100"))];
    let advance = |date: &str| {
        one("p", date, EventKind::AdvanceIssued { amount: m("500", "USD"), purpose: "Deposit".to_owned() })
    };
    accepted(&given, &advance("2026-06-15"));
    let err = refused(&given, &advance("2026-07-02"));
    assert!(matches!(&err, LedgerError::AdvanceLimit { limit, .. } if *limit == d("100")), "{err}");
}

fn dated_before(err: &LedgerError, date: &str, before: &str) -> bool {
    matches!(err, LedgerError::DatedBefore { date: a, before: b, .. } if *a == day(date) && *b == day(before))
        && err.to_string().contains(date)
        && err.to_string().contains(before)
}

#[test]
fn an_event_is_not_dated_before_the_event_it_names() {
    // Issue 14 §1: a refund dated before its contribution, a gift before the opening.
    let conf = [
        open_on("dated-conf", "2026-01-05", "USD", 1000, "1000"),
        one("dated-conf", "2026-06-01", contribution(m("500.00", "USD"), Fund::Unrestricted, None)),
    ];
    let refund = EventKind::RefundIssued { amount: m("100.00", "USD"), contribution: 2, fund: None, fee_share: None };
    let err = refused(&conf, &one("dated-conf", "2026-03-01", refund.clone()));
    assert!(dated_before(&err, "2026-03-01", "2026-06-01"), "{err}");
    accepted(&conf, &one("dated-conf", "2026-06-01", refund));
    let early = one("dated-conf", "2025-06-01", contribution(m("10.00", "USD"), Fund::Unrestricted, None));
    let err = refused(&conf, &early);
    assert!(dated_before(&err, "2025-06-01", "2026-01-05"), "{err}");
    // An opening balance may be older than the project.
    let opening = EventKind::OpeningBalance { amount: m("10.00", "USD"), fund: Fund::Unrestricted };
    accepted(&conf, &one("dated-conf", "2025-12-31", opening));

    // A reversal before its target.
    let reverse = EventKind::EventReversed { target_seq: 2, reason: "chargeback".to_owned(), target: None };
    let err = refused(&conf, &one("dated-conf", "2026-05-31", reverse));
    assert!(dated_before(&err, "2026-05-31", "2026-06-01"), "{err}");

    // A pledge paid or cancelled before it was made, or due before it was made.
    let pledge = |due: &str| EventKind::PledgeRecorded {
        amount: m("1000", "USD"),
        sponsor: "Acme Cloud".to_owned(),
        due_date: day(due),
    };
    let err = refused(&conf, &one("dated-conf", "2026-03-01", pledge("2026-02-28")));
    assert!(dated_before(&err, "2026-02-28", "2026-03-01"), "{err}");
    assert_eq!(err.field(), Some("events[0].pledge_recorded.due_date"));
    let pledged = [conf[0].clone(), conf[1].clone(), one("dated-conf", "2026-03-01", pledge("2026-04-30"))];
    let pay = EventKind::PledgeFulfilled { amount: m("1000", "USD"), pledge: 3, fee_bps: None };
    let err = refused(&pledged, &one("dated-conf", "2026-02-01", pay));
    assert!(dated_before(&err, "2026-02-01", "2026-03-01"), "{err}");
    let cancel = EventKind::PledgeCancelled { pledge: 3, amount: None };
    let err = refused(&pledged, &one("dated-conf", "2026-02-01", cancel));
    assert!(dated_before(&err, "2026-02-01", "2026-03-01"), "{err}");

    // A request approved, rejected or paid before it was filed.
    let request = one(
        "dated-conf",
        "2026-06-10",
        EventKind::ExpenseRequested { details: details(m("50", "USD"), Fund::Unrestricted) },
    );
    let filed = [conf[0].clone(), conf[1].clone(), request];
    let approve = by(APPROVER, vec![ev("dated-conf", "2026-06-09", EventKind::ExpenseApproved { request: 3 })]);
    let err = refused(&filed, &approve);
    assert!(dated_before(&err, "2026-06-09", "2026-06-10"), "{err}");
    let reject = EventKind::ExpenseRejected { request: 3, reason: "duplicate".to_owned() };
    let err = refused(&filed, &by(APPROVER, vec![ev("dated-conf", "2026-06-09", reject)]));
    assert!(dated_before(&err, "2026-06-09", "2026-06-10"), "{err}");
    let approved = [
        filed[0].clone(),
        filed[1].clone(),
        filed[2].clone(),
        by(APPROVER, vec![ev("dated-conf", "2026-06-10", EventKind::ExpenseApproved { request: 3 })]),
    ];
    let pay = one("dated-conf", "2026-06-09", EventKind::ExpensePaid { request: Some(3), details: None });
    let err = refused(&approved, &pay);
    assert!(dated_before(&err, "2026-06-09", "2026-06-10"), "{err}");
}

#[test]
fn no_overdraft_holds_in_date_order_too() {
    let conf = [
        open_on("dated-conf", "2026-01-05", "USD", 1000, "1000"),
        one("dated-conf", "2026-06-01", contribution(m("500.00", "USD"), Fund::Unrestricted, None)),
    ];
    // A back-dated direct expense before any income.
    let expense = |date: &str| {
        one(
            "dated-conf",
            date,
            EventKind::ExpensePaid { request: None, details: Some(details(m("100", "USD"), Fund::Unrestricted)) },
        )
    };
    let err = refused(&conf, &expense("2026-03-01"));
    assert!(
        matches!(&err, LedgerError::DatedOverdraft { date, balance, requested, .. }
            if *date == day("2026-03-01") && balance.is_zero() && *requested == d("100")),
        "{err}"
    );
    accepted(&conf, &expense("2026-06-01"));
    // 450 in June, 400 spent in July, 900 more in August: 100 back-dated to June 15 would leave
    // July at -50 although today's balance is 950.
    let spent = [
        conf[0].clone(),
        conf[1].clone(),
        one(
            "dated-conf",
            "2026-07-01",
            EventKind::ExpensePaid { request: None, details: Some(details(m("400", "USD"), Fund::Unrestricted)) },
        ),
        one("dated-conf", "2026-08-01", contribution(m("1000.00", "USD"), Fund::Unrestricted, None)),
    ];
    let err = refused(&spent, &expense("2026-06-15"));
    assert!(
        matches!(&err, LedgerError::DatedOverdraft { on, balance, .. } if *on == day("2026-07-01") && *balance == d("50")),
        "{err}"
    );
    accepted(&spent, &expense("2026-08-01"));
    // An advance repaid before it was issued.
    let advanced = [
        conf[0].clone(),
        conf[1].clone(),
        one(
            "dated-conf",
            "2026-06-10",
            EventKind::AdvanceIssued { amount: m("300", "USD"), purpose: "Deposit".to_owned() },
        ),
    ];
    let err =
        refused(&advanced, &one("dated-conf", "2026-06-05", EventKind::AdvanceRepaid { amount: m("300", "USD") }));
    assert!(matches!(&err, LedgerError::DatedOverdraft { account, .. } if account.contains("Advances")), "{err}");
    accepted(&advanced, &one("dated-conf", "2026-06-10", EventKind::AdvanceRepaid { amount: m("300", "USD") }));
}

#[test]
fn money_that_came_in_as_a_pledge_payment_can_be_refunded() {
    // Issue 14 §5: a pledge of 1000.00 at 7 % paid in full, then 300.00 refunded with the fee's share.
    let pledge = EventKind::PledgeRecorded {
        amount: m("1000.00", "USD"),
        sponsor: "Acme Cloud".to_owned(),
        due_date: day("2026-04-30"),
    };
    let paid = EventKind::PledgeFulfilled { amount: m("1000.00", "USD"), pledge: 2, fee_bps: None };
    let given = [open("p", "USD", 700, "0"), one("p", "2026-02-01", pledge), one("p", "2026-03-01", paid)];
    let refund = |amount: &str| {
        one(
            "p",
            "2026-03-10",
            EventKind::RefundIssued { amount: m(amount, "USD"), contribution: 3, fund: None, fee_share: None },
        )
    };
    let (ledger, ok) = accepted(&given, &refund("300.00"));
    assert_eq!(balance(&ledger, "p", "USD").0, d("651.00"));
    expect_legs(
        &ledger,
        &ok.positions[0],
        &[
            ("Liabilities:Projects:p:Unrestricted", "USD", "279.00"),
            ("Income:Fees:p", "USD", "21.00"),
            ("Assets:Bank:USD", "USD", "-300.00"),
        ],
    );
    assert_trial_balance_zero(&ledger);
    // More than was paid is refused as for a contribution; a partly refunded payment is not reversed.
    let mut refunded = given.to_vec();
    refunded.push(refund("300.00"));
    let err = refused(&refunded, &refund("700.01"));
    assert!(matches!(&err, LedgerError::ExceedsRemaining { remaining, .. } if *remaining == d("700.00")), "{err}");
    let reverse = EventKind::EventReversed { target_seq: 3, reason: "bounced".to_owned(), target: None };
    let err = refused(&refunded, &by(APPROVER, vec![ev("p", "2026-03-11", reverse)]));
    assert!(matches!(err, LedgerError::NotReversible { .. }), "{err}");
    // The refusal of something else says what may be refunded, without a double negative.
    let err = refused(
        &given,
        &one(
            "p",
            "2026-03-10",
            EventKind::RefundIssued { amount: m("1.00", "USD"), contribution: 2, fund: None, fee_share: None },
        ),
    );
    assert!(err.to_string().ends_with("which is not a contribution or a pledge payment"), "{err}");
}

#[test]
fn a_reversal_counts_in_the_statement_where_its_target_counted() {
    // Issue 14 §4: in February a 100.00 donation is charged back and a 75.00 catering expense reversed.
    let donation = EventKind::ContributionReceived {
        amount: m("100.00", "USD"),
        from: "Jo".to_owned(),
        source: Source::Donation,
        fund: Fund::Unrestricted,
        fee_bps: Some(0),
    };
    let mut catering = details(m("75.00", "USD"), Fund::Unrestricted);
    catering.category = "catering".to_owned();
    let reverse = |seq: u64, why: &str| {
        by(
            APPROVER,
            vec![ev(
                "p",
                "2026-02-20",
                EventKind::EventReversed { target_seq: seq, reason: why.to_owned(), target: None },
            )],
        )
    };
    let given = [
        open("p", "USD", 0, "0"),
        give("p", "500.00", "USD"),
        one("p", "2026-02-01", donation),
        one("p", "2026-02-02", EventKind::ExpensePaid { request: None, details: Some(catering) }),
        reverse(3, "chargeback"),
    ];
    let (ledger, _) = accepted(&given, &reverse(4, "paid twice"));
    let events: Vec<(u64, Event)> =
        (1..=6).map(|seq| (seq, ledger.lookup.event_at(&pid("p"), seq).expect("lookup").expect("stored"))).collect();
    let s = fiscus_ledger::statement::statement(&pid("p"), cur("USD"), day("2026-02-01"), day("2026-02-28"), events)
        .expect("statement");
    assert_eq!(s.by_source.get("donation"), Some(&Decimal::ZERO), "{:?}", s.by_source);
    assert_eq!(s.by_category.get("catering"), Some(&Decimal::ZERO), "{:?}", s.by_category);
    assert!(s.by_kind.is_empty(), "no EventReversed lump: {:?}", s.by_kind);
    assert_eq!((s.opening, s.closing), (d("500.00"), d("500.00")));
    // Each reversal's line says what it reverses, where it counts, and why.
    let said: Vec<_> = s
        .lines
        .iter()
        .filter_map(|l| l.reverses.as_ref().map(|r| (l.seq, r.kind, r.seq, r.under.as_str(), r.reason.as_str())))
        .collect();
    assert_eq!(
        said,
        [
            (5, "ContributionReceived", 3, "source:donation", "chargeback"),
            (6, "ExpensePaid", 4, "category:catering", "paid twice")
        ]
    );
    assert!(s.lines.iter().filter(|l| l.reverses.is_none()).all(|l| l.kind != "EventReversed"));
}

// ---- reversals ----------------------------------------------------------------------------------

#[test]
fn reversal_negates_the_target_once() {
    let reverse = |target_seq: u64| {
        by(
            APPROVER,
            vec![ev(
                "p",
                "2026-02-01",
                EventKind::EventReversed { target_seq, reason: "Duplicate entry".to_owned(), target: None },
            )],
        )
    };
    let mut given = vec![open("p", "USD", 700, "0"), give("p", "1000", "USD")];

    let (ledger, ok) = accepted(&given, &reverse(2));
    expect_legs(
        &ledger,
        &ok.positions[0],
        &[
            ("Assets:Bank:USD", "USD", "-1000"),
            ("Liabilities:Projects:p:Unrestricted", "USD", "930"),
            ("Income:Fees:p", "USD", "70"),
        ],
    );
    assert_eq!(balance(&ledger, "p", "USD").0, Decimal::ZERO);
    assert!(ledger.projection.trial_balance().is_empty(), "{:?}", ledger.projection.trial_balance());

    given.push(reverse(2));
    let err = refused(&given, &reverse(2));
    assert!(
        matches!(&err, LedgerError::NotReversible { seq: 2, reason, .. } if reason.contains("already")),
        "twice: {err}"
    );
    let err = refused(&given, &reverse(3));
    assert!(
        matches!(&err, LedgerError::NotReversible { seq: 3, reason, .. } if reason.contains("reversal")),
        "a reversal: {err}"
    );
    let err = refused(&given, &reverse(1));
    assert!(matches!(&err, LedgerError::NotReversible { seq: 1, .. }), "no postings: {err}");
    let err = refused(&given, &reverse(9));
    assert!(matches!(&err, LedgerError::BadReference { seq: 9, .. }), "{err}");
    assert_eq!(err.field(), Some("events[0].event_reversed.target_seq"));
    // A reversed contribution cannot be refunded.
    let refund = one(
        "p",
        "2026-03-01",
        EventKind::RefundIssued { amount: m("1", "USD"), contribution: 2, fund: None, fee_share: None },
    );
    assert!(matches!(refused(&given, &refund), LedgerError::BadReference { seq: 2, .. }));
}

#[test]
fn events_without_postings_transfers_and_refunded_contributions_are_not_reversed() {
    let reverse = |target_seq: u64| {
        by(
            APPROVER,
            vec![ev(
                "a",
                "2026-04-01",
                EventKind::EventReversed { target_seq, reason: "Wrong".to_owned(), target: None },
            )],
        )
    };
    let given = [
        open("a", "USD", 0, "0"),
        open("b", "USD", 0, "0"),
        give("a", "1000", "USD"),
        by(
            "project:a",
            vec![ev(
                "a",
                "2026-02-01",
                EventKind::ExpenseRequested { details: details(m("10", "USD"), Fund::Unrestricted) },
            )],
        ),
        by(
            CLERK,
            vec![
                ev("a", "2026-03-01", EventKind::TransferSent { amount: m("5", "USD"), to: pid("b") }),
                ev("b", "2026-03-01", EventKind::TransferReceived { amount: m("5", "USD"), from: pid("a") }),
            ],
        ),
        one(
            "a",
            "2026-03-02",
            EventKind::RefundIssued { amount: m("1", "USD"), contribution: 2, fund: None, fee_share: None },
        ),
    ];
    assert!(matches!(refused(&given, &reverse(3)), LedgerError::NotReversible { seq: 3, .. }), "a request");
    assert!(matches!(refused(&given, &reverse(4)), LedgerError::NotReversible { seq: 4, .. }), "a transfer");
    assert!(matches!(refused(&given, &reverse(2)), LedgerError::NotReversible { seq: 2, .. }), "refunded contribution");
    // The refund itself can be reversed, which frees the contribution again.
    let mut given = given.to_vec();
    given.push(give("a", "100", "USD"));
    given.push(reverse(5));
    accepted(&given, &reverse(2));
}

#[test]
fn reversal_that_would_overdraw_is_refused() {
    let given = [
        open("p", "USD", 0, "0"),
        give("p", "1000", "USD"),
        one(
            "p",
            "2026-02-01",
            EventKind::ExpensePaid { request: None, details: Some(details(m("900", "USD"), Fund::Unrestricted)) },
        ),
    ];
    let reverse = by(
        APPROVER,
        vec![ev(
            "p",
            "2026-02-02",
            EventKind::EventReversed { target_seq: 2, reason: "Bounced".to_owned(), target: None },
        )],
    );
    let err = refused(&given, &reverse);
    assert!(
        matches!(&err, LedgerError::Overdraft { available, requested, .. } if *available == d("100") && *requested == d("1000")),
        "{err}"
    );
}

// ---- closed projects and periods ----------------------------------------------------------------

#[test]
fn closed_projects_take_nothing_more() {
    let close = |p: &str| by("admin:carol", vec![ev(p, "2026-05-01", EventKind::ProjectClosed {})]);
    let given = vec![open("p", "USD", 0, "0"), open("q", "USD", 0, "0"), give("q", "100", "USD")];

    let err = refused(&given, &close("q"));
    assert!(matches!(&err, LedgerError::NotEmpty { reason, .. } if reason.contains("USD")), "{err}");

    let mut given = given;
    given.push(close("p"));
    let err = refused(&given, &give("p", "10", "USD"));
    assert!(matches!(&err, LedgerError::ProjectClosed { project } if project.as_str() == "p"), "{err}");
    let transfer = by(
        CLERK,
        vec![
            ev("q", "2026-05-02", EventKind::TransferSent { amount: m("10", "USD"), to: pid("p") }),
            ev("p", "2026-05-02", EventKind::TransferReceived { amount: m("10", "USD"), from: pid("q") }),
        ],
    );
    assert!(matches!(refused(&given, &transfer), LedgerError::ProjectClosed { .. }));
    assert!(matches!(refused(&given, &open("p", "USD", 0, "0")), LedgerError::ProjectExists { .. }));
}

#[test]
fn a_project_with_open_obligations_cannot_close() {
    let close = by("admin:carol", vec![ev("p", "2026-05-01", EventKind::ProjectClosed {})]);
    let pledge = one(
        "p",
        "2026-02-01",
        EventKind::PledgeRecorded { amount: m("10", "USD"), sponsor: "Acme".to_owned(), due_date: day("2026-06-01") },
    );
    let advance =
        one("p", "2026-02-01", EventKind::AdvanceIssued { amount: m("10", "USD"), purpose: "Deposit".to_owned() });
    let spend = one(
        "p",
        "2026-02-02",
        EventKind::ExpensePaid { request: None, details: Some(details(m("10", "USD"), Fund::Unrestricted)) },
    );
    let request = by(
        "project:p",
        vec![ev(
            "p",
            "2026-02-01",
            EventKind::ExpenseRequested { details: details(m("10", "USD"), Fund::Unrestricted) },
        )],
    );
    for given in [
        vec![open("p", "USD", 0, "100"), pledge],
        vec![open("p", "USD", 0, "100"), advance, spend],
        vec![open("p", "USD", 0, "0"), request],
    ] {
        assert!(matches!(refused(&given, &close), LedgerError::NotEmpty { .. }));
    }
}

#[test]
fn sponsor_wide_closed_period_refuses_earlier_dates_everywhere() {
    let close = |through: &str, on: &str| {
        by("admin:carol", vec![ev("sponsor", on, EventKind::PeriodClosed { through: day(through) })])
    };
    let given = vec![open("p", "USD", 0, "0"), close("2026-01-31", "2026-02-03")];
    let at = |date: &str| one("p", date, contribution(m("10", "USD"), Fund::Unrestricted, None));

    let err = refused(&given, &at("2026-01-31"));
    assert!(
        matches!(&err, LedgerError::PeriodClosed { date, through, .. } if *date == day("2026-01-31") && *through == day("2026-01-31")),
        "{err}"
    );
    accepted(&given, &at("2026-02-01"));
    // Opening a project inside a closed month is refused too.
    let late_open = by(
        "admin:carol",
        vec![ev(
            "q",
            "2026-01-15",
            EventKind::ProjectOpened {
                name: "Q".to_owned(),
                kind: ProjectKind::Meetup,
                fee_bps: 0,
                currency: cur("USD"),
                advance_limit: d("0"),
            },
        )],
    );
    assert!(matches!(refused(&given, &late_open), LedgerError::PeriodClosed { .. }));
    // Closing an earlier period again is malformed.
    assert_eq!(refused(&given, &close("2026-01-15", "2026-02-04")).field(), Some("events[0].period_closed.through"));
    // Only PeriodClosed goes on the sponsor chain.
    let other = one("sponsor", "2026-03-01", contribution(m("10", "USD"), Fund::Unrestricted, None));
    assert_eq!(refused(&given, &other).field(), Some("events[0].project"));
}

/// An event is recorded on or after its date: one dated after the day after it is recorded (UTC; a
/// day's grace for time zones ahead of UTC) is refused naming `effective_date`. A close through
/// 2999 recorded by a typo or a script (its own date 2999-12-31) froze every project's books for
/// good, as a close cannot be undone; a contribution dated 2062 counted in every balance and in no
/// statement. A close through the day it is recorded, dated the next day, is accepted.
#[test]
fn an_event_is_not_dated_after_the_day_it_is_recorded() {
    let recorded = |request: CommitRequest, day_recorded: &str| {
        let mut request = request;
        let midday = day(day_recorded).and_hms_opt(12, 0, 0).expect("time").and_utc();
        request.recorded_at = midday.timestamp_micros();
        request
    };
    let close = |through: &str, on: &str| {
        by("admin:carol", vec![ev("sponsor", on, EventKind::PeriodClosed { through: day(through) })])
    };
    let given = vec![open("p", "USD", 0, "0")];
    let gift = |date: &str| one("p", date, contribution(m("10", "USD"), Fund::Unrestricted, None));
    for (request, date) in [
        (close("2999-12-30", "2999-12-31"), "2999-12-31"),
        (close("2026-05-02", "2026-05-03"), "2026-05-03"),
        (gift("2062-05-01"), "2062-05-01"),
        (gift("2026-05-03"), "2026-05-03"),
    ] {
        let err = refused(&given, &recorded(request, "2026-05-01"));
        assert_eq!(err.field(), Some("events[0].effective_date"), "{err}");
        let text = err.to_string();
        assert!(text.contains(&format!("{date} is after the day this is recorded (2026-05-01)")), "{text}");
    }
    accepted(&given, &recorded(gift("2026-05-02"), "2026-05-01"));
    let (mut ledger, _) = accepted(&given, &recorded(close("2026-05-01", "2026-05-02"), "2026-05-01"));
    let after = recorded(gift("2026-05-02"), "2026-05-02");
    assert!(ledger.commit(&after).is_ok(), "the day after the close is open");
}

#[test]
fn project_closed_period_refuses_only_that_project() {
    let close = by("admin:carol", vec![ev("a", "2026-04-02", EventKind::PeriodClosed { through: day("2026-03-31") })]);
    let given = [open("a", "USD", 0, "0"), open("b", "USD", 0, "0"), close];
    let err = refused(&given, &one("a", "2026-03-31", contribution(m("10", "USD"), Fund::Unrestricted, None)));
    assert!(matches!(&err, LedgerError::PeriodClosed { project, .. } if project.as_str() == "a"), "{err}");
    accepted(&given, &one("b", "2026-03-15", contribution(m("10", "USD"), Fund::Unrestricted, None)));
    accepted(&given, &one("a", "2026-04-01", contribution(m("10", "USD"), Fund::Unrestricted, None)));
}

// ---- commits: idempotency, heads, unknown projects, malformed input ------------------------------

#[test]
fn same_event_id_same_content_is_a_duplicate_with_the_original_position() {
    let mut first = give("p", "1000", "USD");
    first.events[0].event_id = "inv-2026-001".to_owned();
    let given = [open("p", "USD", 700, "0"), first.clone()];

    let mut again = first.clone();
    again.recorded_at += 5_000_000;
    again.actor = APPROVER.to_owned();
    let (ledger, result) = check(&given, &again, Result::is_ok);
    let ok = result.expect("duplicate answer");
    assert!(ok.duplicate);
    assert_eq!(ok.commit, 2);
    assert_eq!(ok.positions, [Position { project: pid("p"), seq: 2 }]);
    assert_eq!(ledger.projection.events, 2, "nothing new stored");
    assert_eq!(balance(&ledger, "p", "USD").0, d("930"));

    let mut other = first.clone();
    other.events[0].kind = contribution(m("999", "USD"), Fund::Unrestricted, None);
    let err = refused(&given, &other);
    assert!(
        matches!(&err, LedgerError::IdConflict { event_id, seq: 2, project } if event_id == "inv-2026-001" && project.as_str() == "p"),
        "{err}"
    );

    // A commit mixing a recorded id with new events is malformed.
    let mut mixed = first.clone();
    mixed.events.push(ev("p", "2026-01-10", contribution(m("5", "USD"), Fund::Unrestricted, None)));
    assert_eq!(refused(&given, &mixed).field(), Some("events[0].event_id"));
}

#[test]
fn event_ids_are_scoped_per_project() {
    // The same id in another project is another event: recorded, not a conflict, not a duplicate.
    let mut in_p = give("p", "1000", "USD");
    in_p.events[0].event_id = "bank-7".to_owned();
    let given = [open("p", "USD", 0, "0"), open("q", "USD", 0, "0"), in_p.clone()];
    let mut in_q = give("q", "5", "USD");
    in_q.events[0].event_id = "bank-7".to_owned();
    let (ledger, ok) = accepted(&given, &in_q);
    assert!(!ok.duplicate);
    assert_eq!(ok.positions, [Position { project: pid("q"), seq: 2 }]);
    assert_eq!(balance(&ledger, "q", "USD").0, d("5"));
    // A conflict names the project the request is about, never another one.
    let mut given = given.to_vec();
    given.push(in_q.clone());
    let mut other = in_q.clone();
    other.events[0].kind = contribution(m("6", "USD"), Fund::Unrestricted, None);
    let err = refused(&given, &other);
    assert!(matches!(&err, LedgerError::IdConflict { seq: 2, project, .. } if project.as_str() == "q"), "{err}");
    assert!(!err.to_string().contains("p seq"), "{err}");
    // Retries of each are duplicates at their own place.
    let (_, ok) = accepted(&given, &in_p);
    assert_eq!((ok.duplicate, ok.positions[0].seq, ok.positions[0].project.as_str()), (true, 2, "p"));
    // One commit may use an id once per project.
    let mut both = give("p", "1", "USD");
    let mut in_q2 = give("q", "1", "USD");
    both.events[0].event_id = "pair-1".to_owned();
    in_q2.events[0].event_id = "pair-1".to_owned();
    both.events.push(in_q2.events[0].clone());
    let (_, ok) = accepted(&given, &both);
    assert_eq!(ok.positions.len(), 2);
    let mut twice = both.clone();
    twice.events[1].project = pid("p");
    assert_eq!(refused(&given, &twice).field(), Some("events[1].event_id"));
}

#[test]
fn expected_head_mismatch_is_refused_with_the_head() {
    let given = [open("p", "USD", 0, "0"), give("p", "10", "USD")];
    let mut when = give("p", "10", "USD");
    when.expected_heads = vec![(pid("p"), 1)];
    let err = refused(&given, &when);
    assert!(matches!(&err, LedgerError::HeadMismatch { expected: 1, head: 2, .. }), "{err}");
    when.expected_heads = vec![(pid("p"), 2)];
    let (_, ok) = accepted(&given, &when);
    assert_eq!(ok.positions[0].seq, 3);
}

#[test]
fn unknown_project_is_not_found() {
    let err = refused(&[open("p", "USD", 0, "0")], &give("ghost", "10", "USD"));
    assert!(matches!(&err, LedgerError::UnknownProject { project } if project.as_str() == "ghost"), "{err}");
    assert_eq!(err.class(), fiscus_ledger::ErrorClass::NotFound);
}

#[test]
fn malformed_fields_are_named() {
    let given = [open("p", "USD", 0, "0")];
    let field = |req: CommitRequest| {
        let err = refused(&given, &req);
        assert_eq!(err.class(), fiscus_ledger::ErrorClass::Invalid, "{err}");
        err.field().map(str::to_owned)
    };

    let mut long_memo = by(
        CLERK,
        vec![
            ev("p", "2026-01-10", contribution(m("1", "USD"), Fund::Unrestricted, None)),
            ev("p", "2026-01-10", contribution(m("1", "USD"), Fund::Unrestricted, None)),
        ],
    );
    long_memo.events[1].memo = "m".repeat(1_001);
    assert_eq!(field(long_memo).as_deref(), Some("events[1].memo"));

    let mut no_id = give("p", "1", "USD");
    no_id.events[0].event_id = String::new();
    assert_eq!(field(no_id).as_deref(), Some("events[0].event_id"));

    let mut twice = by(CLERK, vec![ev("p", "2026-01-10", contribution(m("1", "USD"), Fund::Unrestricted, None))]);
    twice.events.push(twice.events[0].clone());
    assert_eq!(field(twice).as_deref(), Some("events[1].event_id"));

    let purpose = one("p", "2026-01-10", contribution(m("1", "USD"), restricted("Travel Grants"), None));
    assert_eq!(field(purpose).as_deref(), Some("events[0].contribution_received.fund.restricted_purpose"));

    let mut fee = open("q", "USD", 0, "0");
    if let EventKind::ProjectOpened { fee_bps, .. } = &mut fee.events[0].kind {
        *fee_bps = 5_001;
    }
    assert_eq!(field(fee).as_deref(), Some("events[0].project_opened.fee_bps"));

    let filled = one(
        "p",
        "2026-01-10",
        EventKind::RefundIssued { amount: m("1", "USD"), contribution: 1, fund: None, fee_share: Some(d("1")) },
    );
    assert_eq!(field(filled).as_deref(), Some("events[0].refund_issued.fee_share"));

    let both = one(
        "p",
        "2026-01-10",
        EventKind::ExpensePaid { request: Some(2), details: Some(details(m("1", "USD"), Fund::Unrestricted)) },
    );
    assert_eq!(field(both).as_deref(), Some("events[0].expense_paid.details"));

    let neither = one("p", "2026-01-10", EventKind::ExpensePaid { request: None, details: None });
    assert_eq!(field(neither).as_deref(), Some("events[0].expense_paid.request"));

    assert_eq!(field(by(CLERK, Vec::new())).as_deref(), Some("events"));
    assert_eq!(
        field(by("", vec![ev("p", "2026-01-10", contribution(m("1", "USD"), Fund::Unrestricted, None))])).as_deref(),
        Some("actor")
    );

    // Amounts are checked where they are built, naming the request field.
    for (amount, code) in
        [("-5", "USD"), ("0", "USD"), ("12.345", "USD"), ("1.5", "JPY"), ("1000000000000000.01", "USD"), ("1e3", "USD")]
    {
        let err = Money::parse("events[0].amount", amount, code).expect_err(amount);
        assert_eq!(err.field(), Some("events[0].amount"), "{amount} {code}");
    }
    let err = Money::parse("events[0].amount", "12", "XYZ").expect_err("currency");
    assert_eq!(err.field(), Some("events[0].amount.currency"));
}

#[test]
fn a_long_mixed_history_keeps_the_trial_balance_at_zero() {
    let mut ledger = MemoryLedger::default();
    let reqs = [
        open("a", "USD", 700, "5000"),
        open("b", "EUR", 500, "0"),
        give("a", "1234.56", "USD"),
        give("b", "99.99", "EUR"),
        one("a", "2026-01-11", EventKind::AdvanceIssued { amount: m("2500", "USD"), purpose: "Deposit".to_owned() }),
        one("a", "2026-01-12", EventKind::CurrencyConverted { amount: m("100", "USD"), to: m("92.5", "EUR") }),
        by(
            CLERK,
            vec![
                ev("a", "2026-01-13", EventKind::TransferSent { amount: m("50", "EUR"), to: pid("b") }),
                ev("b", "2026-01-13", EventKind::TransferReceived { amount: m("50", "EUR"), from: pid("a") }),
            ],
        ),
        one(
            "b",
            "2026-01-14",
            EventKind::RefundIssued { amount: m("33.33", "EUR"), contribution: 2, fund: None, fee_share: None },
        ),
        one("a", "2026-01-15", EventKind::AdvanceRepaid { amount: m("1000", "USD") }),
    ];
    for r in &reqs {
        ledger.commit(r).expect("accepted");
        assert_trial_balance_zero(&ledger);
    }
    assert_eq!(ledger.projection.events, 10);
    // a: 1234.56 − 86.42 fee = 1148.14; + 2500 − 100 − 1000 = 2548.14 USD; 92.5 − 50 = 42.5 EUR.
    assert_eq!(balance(&ledger, "a", "USD").0, d("2548.14"));
    assert_eq!(balance(&ledger, "a", "EUR").0, d("42.5"));
    // b: 99.99 − 5.00 fee = 94.99; + 50; refund 33.33 with fee share round(5 × 33.33 / 99.99) = 1.67 → −31.66.
    assert_eq!(balance(&ledger, "b", "EUR").0, d("113.33"));
}

// ---- the same receipt twice (issue 14, section 3) -----------------------------------------------

/// Commits `req` on `ledger` keeping the stored bytes of its records (for a verification walk).
fn commit_keeping(
    ledger: &mut MemoryLedger,
    req: &CommitRequest,
    bytes: &mut Vec<Vec<u8>>,
) -> Result<Committed, LedgerError> {
    let mut group = fiscus_ledger::commit::Group::new(&ledger.projection);
    let answer = group.stage(req, &ledger.lookup)?;
    let staged = group.finish();
    bytes.extend(staged.commits.iter().flat_map(|c| c.records.iter().map(|r| r.bytes.clone())));
    let commits = ledger.projection.absorb(staged);
    ledger.lookup.absorb(&commits);
    Ok(answer)
}

fn with_receipt(amount: &str, hash: [u8; 32]) -> ExpenseDetails {
    ExpenseDetails {
        receipt: Receipt { hash, file_name: "VH-2026-017.pdf".to_owned() },
        ..details(m(amount, "USD"), Fund::Unrestricted)
    }
}

fn allowing(mut req: CommitRequest) -> CommitRequest {
    req.allow_same_receipt = true;
    req
}

/// The example: one invoice paid through a request, paid again directly by another
/// accountant, and filed a third time. The second and third are refused naming the first (the
/// earlier seq), unless the commit allows the same receipt; `pending` then marks the third.
#[test]
fn the_same_receipt_twice_is_refused_unless_allowed_and_marked_in_pending() {
    let invoice = *blake3::hash(b"invoice VH-2026-017").as_bytes();
    let mut ledger = MemoryLedger::default();
    let mut bytes = Vec::new();
    let mut ok = |ledger: &mut MemoryLedger, req: CommitRequest| {
        commit_keeping(ledger, &req, &mut bytes).unwrap_or_else(|e| panic!("refused: {e}"))
    };
    ok(&mut ledger, open("p", "USD", 0, "0"));
    ok(&mut ledger, give("p", "1000", "USD"));
    let filed = by(
        "project:p",
        vec![ev("p", "2026-02-01", EventKind::ExpenseRequested { details: with_receipt("300", invoice) })],
    );
    assert_eq!(ok(&mut ledger, filed).positions[0].seq, 3);
    ok(&mut ledger, by("accountant:alice", vec![ev("p", "2026-02-02", EventKind::ExpenseApproved { request: 3 })]));
    ok(&mut ledger, one("p", "2026-02-03", EventKind::ExpensePaid { request: Some(3), details: None }));

    // Paid again directly, by another accountant: refused, naming request seq 3; nothing changes.
    let direct = by(
        "accountant:bob",
        vec![ev(
            "p",
            "2026-02-04",
            EventKind::ExpensePaid { request: None, details: Some(with_receipt("300", invoice)) },
        )],
    );
    let before = ledger.projection.clone();
    let err = ledger.commit(&direct).expect_err("the same receipt again is refused");
    match &err {
        LedgerError::SameReceipt { project, field, seq, what, hash } => {
            assert_eq!(project.as_str(), "p");
            assert_eq!(field, "events[0].expense_paid.details.receipt.hash");
            assert_eq!((*seq, *what), (3, "expense request"));
            assert_eq!(hash, &hex(&invoice));
        }
        other => panic!("expected SameReceipt, got {other:?}"),
    }
    assert_eq!(err.class(), fiscus_ledger::ErrorClass::Refused);
    assert!(err.to_string().contains("seq 3"), "{err}");
    assert!(ledger.projection == before, "a refused commit changed nothing");
    // Allowed explicitly: recorded.
    assert_eq!(ok(&mut ledger, allowing(direct)).positions[0].seq, 6);

    // Filed a third time: refused naming the earliest holder, then recorded when allowed.
    let again = by(
        "project:p",
        vec![ev("p", "2026-02-05", EventKind::ExpenseRequested { details: with_receipt("300", invoice) })],
    );
    let err = ledger.commit(&again).expect_err("refused");
    assert!(matches!(err, LedgerError::SameReceipt { seq: 3, .. }), "{err:?}");
    assert_eq!(ok(&mut ledger, allowing(again)).positions[0].seq, 7);

    // `pending` marks it with the other seqs holding its receipt.
    let pending = ledger.projection.pending_requests();
    assert_eq!(pending.len(), 1);
    assert_eq!((pending[0].seq, pending[0].same_receipt.clone()), (7, vec![3, 6]));

    // The same receipt within one commit is caught too (the second sees the first).
    let twice = by(
        "accountant:alice",
        vec![
            ev("p", "2026-02-06", EventKind::ExpensePaid { request: None, details: Some(with_receipt("10", [1; 32])) }),
            ev("p", "2026-02-06", EventKind::ExpensePaid { request: None, details: Some(with_receipt("11", [1; 32])) }),
        ],
    );
    let err = ledger.commit(&twice).expect_err("refused");
    assert!(
        matches!(&err, LedgerError::SameReceipt { seq: 8, field, .. } if field == "events[1].expense_paid.details.receipt.hash"),
        "{err:?}"
    );

    // A rejected request and a reversed payment no longer hold their receipt.
    let filed = by(
        "project:p",
        vec![ev("p", "2026-02-07", EventKind::ExpenseRequested { details: with_receipt("20", [2; 32]) })],
    );
    let seq = ok(&mut ledger, filed.clone()).positions[0].seq;
    let reason = "duplicate".to_owned();
    ok(
        &mut ledger,
        by("accountant:alice", vec![ev("p", "2026-02-08", EventKind::ExpenseRejected { request: seq, reason })]),
    );
    ok(
        &mut ledger,
        by(
            "project:p",
            vec![ev("p", "2026-02-09", EventKind::ExpenseRequested { details: with_receipt("20", [2; 32]) })],
        ),
    );
    let paid =
        one("p", "2026-02-10", EventKind::ExpensePaid { request: None, details: Some(with_receipt("30", [3; 32])) });
    let seq = ok(&mut ledger, paid).positions[0].seq;
    let reverse = EventKind::EventReversed { target_seq: seq, reason: "wrong vendor".to_owned(), target: None };
    ok(&mut ledger, one("p", "2026-02-11", reverse));
    ok(
        &mut ledger,
        one("p", "2026-02-12", EventKind::ExpensePaid { request: None, details: Some(with_receipt("30", [3; 32])) }),
    );

    // A rule of requests only: the stored chain, duplicates and all, verifies.
    let project = pid("p");
    let verified =
        fiscus_ledger::verify::verify_chain(&project, bytes.iter().map(Vec::as_slice)).expect("the chain verifies");
    assert_eq!(&verified, ledger.projection.project("p").expect("p"));
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
