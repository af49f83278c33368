//! Month-end reports against the real `fiscusd` (issue 13, section 3): balances and the trial
//! balance as of a date, open pledges with their ageing, and who may see them. The numbers are
//! computed by hand from the events below.

use fiscus_proto::pb;
use fiscus_proto::pb::event::Kind;
use serde_json::Value;
use tonic::Code;
use tonic_types::StatusExt;

use crate::support::*;

fn pledge(id: &str, project: &str, date: &str, amount: &str, due: &str) -> pb::Event {
    let kind = Kind::PledgeRecorded(pb::PledgeRecorded {
        amount: money(amount, "USD"),
        sponsor: format!("Sponsor of {project}"),
        due_date: due.into(),
    });
    event(id, project, date, kind)
}

fn paid(id: &str, project: &str, date: &str, amount: &str, pledge: u64) -> pb::Event {
    event(
        id,
        project,
        date,
        Kind::PledgeFulfilled(pb::PledgeFulfilled { amount: money(amount, "USD"), pledge, fee_bps: None }),
    )
}

fn gift(id: &str, project: &str, date: &str, amount: &str) -> pb::Event {
    let mut e = contribution(id, project, amount, None);
    e.effective_date = date.into();
    e
}

/// conf-a (no fee): a 5,000.00 pledge dated 1 August, due 15 September (seq 2); a 1,000.00 gift on
/// 15 October (seq 3); 2,000.00 of the pledge paid on 20 October (seq 4) and 1,000.00 on
/// 1 November (seq 5). conf-b: a 700.00 pledge dated 1 October, due 1 December (seq 2).
async fn books() -> Daemon {
    let d = Daemon::start().await;
    let mut admin = d.ledger(Some(&d.tokens.admin)).await;
    open(&mut admin, "conf-a", 0).await;
    open(&mut admin, "conf-b", 0).await;
    let mut acc = d.ledger(Some(&d.tokens.accountant)).await;
    for events in [
        vec![pledge("p-a", "conf-a", "2026-08-01", "5000.00", "2026-09-15")],
        vec![gift("g-a", "conf-a", "2026-10-15", "1000.00")],
        vec![paid("pay-1", "conf-a", "2026-10-20", "2000.00", 2)],
        vec![paid("pay-2", "conf-a", "2026-11-01", "1000.00", 2)],
        vec![pledge("p-b", "conf-b", "2026-10-01", "700.00", "2026-12-01")],
    ] {
        record(&mut acc, events).await.expect("recorded");
    }
    d
}

fn balance_as_of(project: &str, as_of: Option<&str>) -> pb::GetBalanceRequest {
    pb::GetBalanceRequest { project: project.into(), currency: None, as_of: as_of.map(Into::into) }
}

#[track_caller]
fn names_field(status: &tonic::Status, field: &str) {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let named =
        status.get_error_details().bad_request().and_then(|b| b.field_violations.first().map(|v| v.field.clone()));
    assert_eq!(named.as_deref(), Some(field), "{status:?}");
}

#[tokio::test]
async fn balances_and_the_trial_balance_as_of_a_date_count_by_effective_date() {
    let d = books().await;
    let mut acc = d.ledger(Some(&d.tokens.accountant)).await;
    let october = acc.get_balance(balance_as_of("conf-a", Some("2026-10-31"))).await.expect("balance").into_inner();
    assert_eq!(october.as_of.as_deref(), Some("2026-10-31"));
    assert_eq!(october.head_seq, 5, "as of a date, still one snapshot's head");
    let usd = &october.balances[0];
    assert_eq!((usd.balance.as_str(), usd.pledged.as_str()), ("3000.00", "3000.00"), "{usd:?}");
    let now = acc.get_balance(balance_as_of("conf-a", None)).await.expect("balance").into_inner();
    assert_eq!(now.as_of, None);
    assert_eq!((now.balances[0].balance.as_str(), now.balances[0].pledged.as_str()), ("4000.00", "2000.00"));
    let july = acc.get_balance(balance_as_of("conf-a", Some("2026-07-31"))).await.expect("balance").into_inner();
    assert!(july.balances.is_empty(), "nothing but the opening by then: {july:?}");

    for bad in ["2026-10-32", "2026-1-31", "31.10.2026", ""] {
        let refused = assert_code(acc.get_balance(balance_as_of("conf-a", Some(bad))).await, Code::InvalidArgument);
        names_field(&refused, "as_of");
        let request = pb::GetTrialBalanceRequest { as_of: Some(bad.into()), ..Default::default() };
        names_field(&assert_code(acc.get_trial_balance(request).await, Code::InvalidArgument), "as_of");
        let request = pb::ListOpenPledgesRequest { as_of: Some(bad.into()), ..Default::default() };
        names_field(&assert_code(acc.list_open_pledges(request).await, Code::InvalidArgument), "as_of");
    }

    let request = pb::GetTrialBalanceRequest { as_of: Some("2026-10-31".into()), ..Default::default() };
    let tb = acc.get_trial_balance(request).await.expect("trial balance").into_inner();
    assert_eq!(tb.as_of.as_deref(), Some("2026-10-31"));
    let line = |account: &str| tb.lines.iter().find(|l| l.account == account).map(|l| l.amount.clone());
    assert_eq!(line("Assets:Bank:USD").as_deref(), Some("3000.00"));
    assert_eq!(line("Assets:Receivable:Pledges:conf-a").as_deref(), Some("3000.00"));
    assert_eq!(line("Assets:Receivable:Pledges:conf-b").as_deref(), Some("700.00"));
    assert_eq!(line("Liabilities:Projects:conf-a:Unrestricted").as_deref(), Some("-3000.00"));
    let total: rust_decimal::Decimal =
        tb.lines.iter().map(|l| l.amount.parse::<rust_decimal::Decimal>().expect("decimal")).sum();
    assert!(total.is_zero(), "the trial balance as of a date balances: {tb:?}");
}

#[tokio::test]
async fn open_pledges_are_aged_and_a_project_token_sees_only_its_own() {
    let d = books().await;
    let mut acc = d.ledger(Some(&d.tokens.accountant)).await;
    let october = pb::ListOpenPledgesRequest { as_of: Some("2026-10-31".into()), ..Default::default() };
    let all = acc.list_open_pledges(october.clone()).await.expect("pledges").into_inner();
    assert_eq!(all.as_of, "2026-10-31");
    assert_eq!(all.pledges.len(), 2, "{all:?}");
    let a = &all.pledges[0];
    assert_eq!(a.position, Some(pb::Position { project: "conf-a".into(), seq: 2 }));
    assert_eq!(
        (a.fulfilled.as_str(), a.outstanding.as_str(), a.due_date.as_str()),
        ("2000.00", "3000.00", "2026-09-15")
    );
    assert_eq!((a.days_overdue, a.overdue, a.bucket.as_str()), (46, true, "31-60"));
    assert_eq!(a.pledged, money("5000.00", "USD"));
    let b = &all.pledges[1];
    assert_eq!((b.outstanding.as_str(), b.overdue, b.bucket.as_str()), ("700.00", false, "current"));
    let usd = &all.ageing[0];
    assert_eq!(
        (usd.currency.as_str(), usd.current.as_str(), usd.days_31_60.as_str(), usd.total.as_str()),
        ("USD", "700.00", "3000.00", "3700.00")
    );

    // a project token: its own project only, and nothing of the other in the ageing
    let mut org = d.ledger(Some(&d.tokens.project)).await;
    let own = org.list_open_pledges(october.clone()).await.expect("own pledges").into_inner();
    assert_eq!(own.pledges.len(), 1);
    assert_eq!(own.pledges[0].position.as_ref().map(|p| p.project.as_str()), Some(OWN_PROJECT));
    assert_eq!(own.ageing[0].total, "3000.00", "no other project in the totals: {own:?}");
    let other = pb::ListOpenPledgesRequest { project: "conf-b".into(), ..october.clone() };
    assert_code(org.list_open_pledges(other).await, Code::PermissionDenied);
    let unknown = pb::ListOpenPledgesRequest { project: "no-such".into(), ..october };
    assert_code(acc.list_open_pledges(unknown).await, Code::NotFound);

    // with no date, the server's date today: the same answer as that date named
    let today = acc.list_open_pledges(pb::ListOpenPledgesRequest::default()).await.expect("pledges").into_inner();
    assert_eq!(today.as_of.len(), 10, "{today:?}");
    let named = pb::ListOpenPledgesRequest { as_of: Some(today.as_of.clone()), ..Default::default() };
    let named = acc.list_open_pledges(named).await.expect("pledges").into_inner();
    assert_eq!(today, named, "(unless the date changed between the two calls)");
}

#[tokio::test]
async fn the_command_line_shows_the_reports_of_the_daemon() {
    let d = books().await;
    let d = std::sync::Arc::new(d);
    let run = |token: String, args: Vec<&'static str>| {
        let d = d.clone();
        tokio::task::spawn_blocking(move || {
            let mut c = std::process::Command::new(crate::cli::fiscus_bin());
            for var in ["FISCUS_SERVER", "FISCUS_TOKEN", "FISCUS_STORE", "FISCUS_TLS_CA", "FISCUS_TOKEN_FILE"] {
                c.env_remove(var);
            }
            let out = c
                .args(["--server", &format!("http://{}", d.addr), "--token", &token, "--json"])
                .args(&args)
                .output()
                .expect("fiscus runs");
            assert!(out.status.success(), "fiscus {args:?}: {}", String::from_utf8_lossy(&out.stderr));
            serde_json::from_slice::<Value>(&out.stdout).expect("JSON")
        })
    };
    let org = d.tokens.project.clone();
    let acc = d.tokens.accountant.clone();
    let b = run(org.clone(), vec!["balance", "conf-a", "--as-of", "2026-10-31"]).await.expect("ran");
    assert_eq!((b["as_of"].as_str(), b["balances"][0]["balance"].as_str()), (Some("2026-10-31"), Some("3000.00")));
    let p = run(org, vec!["pledges", "--as-of", "2026-10-31"]).await.expect("ran");
    assert_eq!(p["pledges"].as_array().map(Vec::len), Some(1), "{p}");
    assert_eq!(
        (p["pledges"][0]["project"].as_str(), p["pledges"][0]["bucket"].as_str()),
        (Some("conf-a"), Some("31-60"))
    );
    let all = run(acc.clone(), vec!["pledges", "--as-of", "2026-10-31"]).await.expect("ran");
    assert_eq!(all["ageing"][0]["total"], "3700.00");
    let tb = run(acc, vec!["trial-balance", "--as-of", "2026-10-31"]).await.expect("ran");
    assert!(tb
        .as_array()
        .expect("lines")
        .iter()
        .any(|l| l["account"] == "Assets:Bank:USD" && l["amount"] == "3000.00"));
}
