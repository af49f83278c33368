//! Amount arithmetic at the limits through the real daemon: the refund of the largest contribution
//! at a 9 % fee (whose fee share once overflowed a `Decimal` and panicked the writer) is recorded
//! and the daemon goes on writing; an account pushed past the ledger's limit is a refusal naming
//! the field, and the daemon goes on writing.

use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

use fiscus_proto::pb;
use fiscus_proto::pb::event::Kind;

use crate::support::*;

const MAX: &str = "1000000000000000";

fn refund(id: &str, contribution: u64, amount: &str) -> pb::Event {
    let kind = Kind::RefundIssued(pb::RefundIssued {
        amount: money(amount, "USD"),
        contribution,
        fund: None,
        fee_share: None,
    });
    event(id, OWN_PROJECT, "2026-03-02", kind)
}

async fn serving(d: &Daemon) -> i32 {
    let mut health = HealthClient::new(d.channel().await);
    let asked = HealthCheckRequest { service: "fiscus.v1.Ledger".into() };
    health.check(asked).await.expect("health").into_inner().status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refund_of_the_largest_contribution_at_900_bps_is_recorded_and_writes_go_on() {
    let d = Daemon::start().await;
    let t = d.tokens.clone();
    let mut admin = d.ledger(Some(&t.admin)).await;
    open(&mut admin, OWN_PROJECT, 900).await;
    let mut acc = d.ledger(Some(&t.accountant)).await;
    let c = record(&mut acc, vec![contribution("max", OWN_PROJECT, MAX, None)]).await.expect("contribution");
    let seq = c.positions[0].seq;
    assert_eq!(usd_balance(&mut acc, OWN_PROJECT).await.fees_to_date, "90000000000000.00");

    let r = record(&mut acc, vec![refund("refund-all", seq, MAX)]).await.expect("the refund is recorded");
    assert_eq!(r.positions[0].seq, seq + 1);
    let b = usd_balance(&mut acc, OWN_PROJECT).await;
    assert_eq!((b.balance.as_str(), b.fees_to_date.as_str()), ("0.00", "0.00"), "the whole fee given back");

    // The writer is alive: later writes are accepted, and health says so truthfully.
    record(&mut acc, vec![contribution("later", OWN_PROJECT, "5.00", None)]).await.expect("a later write");
    assert_eq!(serving(&d).await, ServingStatus::Serving as i32);
    let d = d.restart().await;
    let mut acc = d.ledger(Some(&t.accountant)).await;
    assert_eq!(usd_balance(&mut acc, OWN_PROJECT).await.balance, "4.55", "5.00 less the 9 % fee");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_past_the_ledgers_limit_is_failed_precondition_naming_the_field() {
    let d = Daemon::start().await;
    let t = d.tokens.clone();
    let mut admin = d.ledger(Some(&t.admin)).await;
    open(&mut admin, OWN_PROJECT, 0).await;
    let mut acc = d.ledger(Some(&t.accountant)).await;
    // 1,000 contributions of the largest amount: the bank account reaches the limit of 1e18.
    let thousand = (0..1_000).map(|i| contribution(&format!("c{i}"), OWN_PROJECT, MAX, None)).collect();
    record(&mut acc, thousand).await.expect("up to the limit");
    let over = vec![contribution("over-a", OWN_PROJECT, "0.01", None)];
    let status = record(&mut acc, over).await.expect_err("past the limit");
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert!(
        status.message().contains("events[0].contribution_received.amount"),
        "names the field: {}",
        status.message()
    );
    assert!(status.message().contains("Assets:Bank:USD"), "names the account: {}", status.message());

    // Nothing changed, and the writer goes on.
    let b = usd_balance(&mut acc, OWN_PROJECT).await;
    assert_eq!(b.balance, "1000000000000000000.00");
    record(&mut acc, vec![refund("back", 2, "1.00")]).await.expect("money out is fine");
    record(&mut acc, vec![contribution("fits", OWN_PROJECT, "1.00", None)]).await.expect("and fits again");
    assert_eq!(serving(&d).await, ServingStatus::Serving as i32);
}
