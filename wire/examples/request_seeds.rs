//! Seed inputs for the `request_convert` fuzz target in `fuzz/`: every commit of the demo year as
//! the `RecordCommitRequest` a client sends (the target's ledger holds the demo year, so these are
//! answered as duplicates until the fuzzer changes them), and requests at the largest amounts on
//! the target's projects `a` and `b` (each holding 1e15 USD at a 9 % fee).
//!
//! `cargo run -p fiscus-wire --example request_seeds -- fuzz/corpus`

use std::path::PathBuf;

use fiscus_proto::pb;
use fiscus_proto::pb::event::Kind;
use prost::Message;

/// A request of `events`, expecting no heads.
fn request(events: Vec<pb::Event>) -> pb::RecordCommitRequest {
    pb::RecordCommitRequest { events, ..Default::default() }
}

/// An event of project `project` dated 2026-12-31.
fn event(id: &str, project: &str, kind: Kind) -> pb::Event {
    pb::Event {
        event_id: id.to_owned(),
        project: project.to_owned(),
        effective_date: "2026-12-31".to_owned(),
        memo: String::new(),
        reference: None,
        kind: Some(kind),
    }
}

fn usd(amount: &str) -> Option<pb::Money> {
    Some(pb::Money { amount: amount.to_owned(), currency: "USD".to_owned() })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "fuzz/corpus".to_owned()));
    let dir = root.join("request_convert");
    std::fs::create_dir_all(&dir)?;
    for (n, req) in fiscus_workload::demo_year().iter().enumerate() {
        let events = req.events.iter().map(|e| fiscus_wire::event_pb(e, None)).collect();
        let mut pb = request(events);
        pb.expected_seq = req.expected_heads.iter().map(|(p, s)| (p.as_str().to_owned(), *s)).collect();
        std::fs::write(dir.join(format!("demo-{n}")), pb.encode_to_vec())?;
    }
    const MAX: &str = "1000000000000000";
    let refund = pb::RefundIssued { amount: usd(MAX), contribution: 2, fund: None, fee_share: None };
    let give = pb::ContributionReceived {
        amount: usd(MAX),
        from: "x".to_owned(),
        source: pb::ContributionSource::Donation.into(),
        fund: None,
        fee_bps: Some(5000),
    };
    let sent = pb::TransferSent { amount: usd(MAX), to: "b".to_owned() };
    let received = pb::TransferReceived { amount: usd(MAX), from: "a".to_owned() };
    let seeds = [
        ("refund-largest", request(vec![event("r", "a", Kind::RefundIssued(refund))])),
        ("give-largest", request(vec![event("g", "a", Kind::ContributionReceived(give))])),
        (
            "transfer-largest",
            request(vec![
                event("t-out", "a", Kind::TransferSent(sent)),
                event("t-in", "b", Kind::TransferReceived(received)),
            ]),
        ),
    ];
    for (name, req) in seeds {
        std::fs::write(dir.join(name), req.encode_to_vec())?;
    }
    Ok(())
}
