//! Request conversion: arbitrary bytes decoded as a `RecordCommitRequest` (as tonic decodes a
//! request body), every event converted by `fiscus-wire` as the daemon does, then the commit staged
//! on a ledger that holds the demo year and two projects with the largest amounts in them (so the
//! rules run on whatever amounts, references and ids came in, near the limits too).
//! Conversion answers an event or an error naming a field of that event; staging answers or
//! refuses (and a refusal stages nothing; the same request again is a duplicate of the first
//! answer); neither panics. A converted event written back to the wire reads back the same.

#![no_main]

use std::sync::OnceLock;

use chrono::NaiveDate;
use fiscus_ledger::commit::{CommitRequest, Group, MemoryLedger};
use fiscus_ledger::event::{Event, EventKind, Fund, ProjectKind, Source};
use fiscus_ledger::money::{Currency, Money};
use fiscus_ledger::ProjectId;
use fiscus_proto::pb;
use libfuzzer_sys::fuzz_target;
use prost::Message;

/// The demo year, then projects `a` and `b` (fee 9 %) each given the largest amount, 1e15 USD.
/// Built once; every input is staged on it without changing it.
fn ledger() -> &'static MemoryLedger {
    static LEDGER: OnceLock<MemoryLedger> = OnceLock::new();
    LEDGER.get_or_init(|| {
        let mut ledger = MemoryLedger::default();
        for req in fiscus_workload::demo_year() {
            ledger.commit(&req).expect("the demo year commits");
        }
        let usd = Currency::from_code("USD").expect("USD");
        let date = NaiveDate::from_ymd_opt(2026, 12, 31).expect("date");
        let event = |id: &str, project: &str, kind: EventKind| Event {
            event_id: id.to_owned(),
            project: ProjectId::parse("project", project).expect("id"),
            effective_date: date,
            memo: String::new(),
            reference: None,
            kind,
        };
        let mut events = Vec::new();
        for p in ["a", "b"] {
            let opened = EventKind::ProjectOpened {
                name: p.to_owned(),
                kind: ProjectKind::Conference,
                fee_bps: 900,
                currency: usd,
                advance_limit: "1000".parse().expect("limit"),
            };
            events.push(event(&format!("open-{p}"), p, opened));
            let amount = Money::parse("amount", "1000000000000000", "USD").expect("max");
            let given = EventKind::ContributionReceived {
                amount,
                from: "x".to_owned(),
                source: Source::Donation,
                fund: Fund::Unrestricted,
                fee_bps: None,
            };
            events.push(event(&format!("give-{p}"), p, given));
        }
        let req = CommitRequest { events, expected_heads: Vec::new(), actor: "admin:fuzz".to_owned(), recorded_at: 1, allow_same_receipt: false };
        ledger.commit(&req).expect("the largest amounts commit");
        ledger
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(req) = pb::RecordCommitRequest::decode(data) else { return };
    let mut events = Vec::new();
    for (i, e) in req.events.iter().enumerate() {
        let field = format!("events[{i}]");
        match fiscus_wire::event_from_pb(e, &field, None) {
            Ok(event) => {
                let back = fiscus_wire::event_from_pb(&fiscus_wire::event_pb(&event, None), &field, None);
                assert_eq!(back.ok().as_ref(), Some(&event), "an event written back to the wire reads the same");
                events.push(event);
            }
            Err(err) => {
                let named = err.field().is_some_and(|f| f.starts_with(&field));
                assert!(named, "a conversion error names a field under {field}: {err}");
            }
        }
    }
    let mut expected_heads = Vec::new();
    for (project, seq) in &req.expected_seq {
        if let Ok(id) = fiscus_wire::project_id(&format!("expected_seq[{project}]"), project) {
            expected_heads.push((id, *seq));
        }
    }
    if events.is_empty() {
        return;
    }
    let ledger = ledger();
    let request = CommitRequest { events, expected_heads, actor: "accountant:fuzz".to_owned(), recorded_at: 2, allow_same_receipt: false };
    let mut group = Group::new(&ledger.projection);
    match group.stage(&request, &ledger.lookup) {
        Ok(first) => {
            // the same request again is answered as a duplicate, at the same positions
            let again = group.stage(&request, &ledger.lookup).expect("a resent commit is answered");
            assert!(again.duplicate, "a resent commit is a duplicate");
            assert_eq!((again.commit, &again.positions), (first.commit, &first.positions), "a duplicate's positions");
        }
        Err(_) => assert!(group.is_empty(), "a refused commit changes nothing"),
    }
});
