//! Record a sponsorship package: one sponsor paying three events at once, as one atomic commit of
//! three `ContributionReceived` sharing a reference; each project's own fee applies. Needs an
//! accountant's (or admin's) token and the three projects open.
//!
//! ```sh
//! FISCUS_SERVER=http://127.0.0.1:7878 FISCUS_TOKEN=fiscus_… \
//!     cargo run -p fiscus-client --example sponsorship_package -- rustconf-2026 berlin-rust-meetup tokyo-rust-workshop
//! ```

use chrono::NaiveDate;
use fiscus_client::fiscus_ledger::{Currency, Event, EventKind, Fund, Money, Source};
use fiscus_client::{project_id, Client, ClientError, ClientOptions};
use rust_decimal::Decimal;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), ClientError> {
    let url = std::env::var("FISCUS_SERVER").unwrap_or_else(|_| "http://127.0.0.1:7878".to_owned());
    let token = std::env::var("FISCUS_TOKEN").ok();
    let mut projects: Vec<String> = std::env::args().skip(1).collect();
    if projects.is_empty() {
        projects = vec!["rustconf-2026".into(), "berlin-rust-meetup".into(), "tokyo-rust-workshop".into()];
    }
    let client = Client::connect(&url, ClientOptions { token, ..ClientOptions::default() }).await?;

    let usd = Currency::from_code("USD").expect("USD is in the table");
    let date = NaiveDate::from_ymd_opt(2026, 3, 1).expect("a valid date");
    let share = Money::new("amount", Decimal::new(500_000, 2), usd).map_err(ClientError::Request)?; // 5000.00
    let mut events = Vec::new();
    for p in &projects {
        events.push(Event {
            // The idempotency key: a retry of this commit is answered with the original positions.
            event_id: format!("pkg-2026-0001-{p}"),
            project: project_id(p)?,
            effective_date: date,
            memo: "Ferrous Systems sponsorship package".to_owned(),
            reference: Some("PKG-2026-0001".to_owned()),
            kind: EventKind::ContributionReceived {
                amount: share,
                from: "Ferrous Systems".to_owned(),
                source: Source::Sponsorship,
                fund: Fund::Unrestricted,
                fee_bps: None,
            },
        });
    }
    let committed = client.record_commit(&events, &[]).await?;
    let note = if committed.duplicate { " (already recorded)" } else { "" };
    println!("commit {}{note}", committed.commit);
    for pos in &committed.positions {
        let b = client.balance(&pos.project, Some(usd)).await?;
        let balance = b.balances.first().map(|x| x.balance).unwrap_or_default();
        println!("  {} seq {}: balance now {balance} USD", pos.project, pos.seq);
    }
    Ok(())
}
