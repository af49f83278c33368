//! A store that fails verification on start: the damage is reported with project and seq, reads of
//! intact projects go on, the damaged chain answers DATA_LOSS, and writes are refused.

use fiscus_ledger::store::{open_tree, tail_key};
use fiscus_proto::pb;
use tonic::Code;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_record_is_reported_and_only_its_chain_is_withheld() {
    let d = Daemon::start().await;
    let mut admin = d.ledger(Some(&d.tokens.admin)).await;
    open(&mut admin, "conf-a", 0).await;
    open(&mut admin, "conf-b", 0).await;
    let mut acc = d.ledger(Some(&d.tokens.accountant)).await;
    for i in 0..3 {
        record(&mut acc, vec![contribution(&format!("a-{i}"), "conf-a", "10.00", None)]).await.expect("commit");
        record(&mut acc, vec![contribution(&format!("b-{i}"), "conf-b", "10.00", None)]).await.expect("commit");
    }
    let balance_a = usd_balance(&mut acc, "conf-a").await;
    drop((admin, acc));
    let (dir, tokens, data) = (d.dir.clone(), d.tokens.clone(), d.data());
    assert!(d.stop().success());
    {
        // One flipped bit in conf-b's second record (a contribution's amount region).
        let (db, tree) = open_tree(&data).expect("the stopped daemon released its store");
        let key = tail_key("conf-b", 2);
        let mut value = tree.get(&key).expect("read").expect("the record is stored").to_vec();
        let at = value.len() - 30;
        value[at] ^= 0x01;
        tree.insert(key, value).expect("write");
        db.flush().expect("flush");
    }
    let d = Daemon::spawn(dir, tokens, &[]).await;
    let log = d.log();
    assert!(log.contains("chain failed verification") && log.contains("conf-b") && log.contains("seq=2"), "{log}");
    // Read-only until an operator acts: health says so (writes refused), Audit serves.
    use tonic_health::pb::health_check_response::ServingStatus;
    assert_eq!(d.health("").await, ServingStatus::NotServing as i32, "a damaged store is not SERVING");
    assert_eq!(d.health("fiscus.v1.Ledger").await, ServingStatus::NotServing as i32);
    assert_eq!(d.health("fiscus.v1.Audit").await, ServingStatus::Serving as i32);

    let mut acc = d.ledger(Some(&d.tokens.accountant)).await;
    assert_eq!(usd_balance(&mut acc, "conf-a").await, balance_a, "the intact project is served");
    assert_code(
        acc.get_balance(pb::GetBalanceRequest { project: "conf-b".into(), currency: None, as_of: None }).await,
        Code::DataLoss,
    );
    assert_code(
        acc.list_events(pb::ListEventsRequest { project: "conf-b".into(), after_seq: 0, page_size: 0 }).await,
        Code::DataLoss,
    );
    // Nothing is summed over the whole ledger: the trial balance took in the damaged record's
    // amount, and the pledges and pending expenses of every project silently left conf-b out.
    for as_of in [None, Some("2999-12-31".to_owned())] {
        let request = pb::GetTrialBalanceRequest { as_of: as_of.clone(), ..Default::default() };
        let s = assert_code(acc.get_trial_balance(request).await, Code::DataLoss);
        assert!(s.message().contains("conf-b seq 2") && s.message().contains("not whole"), "{}", s.message());
    }
    let pledges = pb::ListOpenPledgesRequest { as_of: Some("2999-12-31".into()), ..Default::default() };
    let s = assert_code(acc.list_open_pledges(pledges).await, Code::DataLoss);
    assert!(s.message().contains("conf-b seq 2"), "{}", s.message());
    let s = assert_code(acc.list_pending_expenses(pb::ListPendingExpensesRequest::default()).await, Code::DataLoss);
    assert!(s.message().contains("conf-b seq 2"), "{}", s.message());
    // Each intact project's own lists go on.
    let pledges_a = pb::ListOpenPledgesRequest { project: "conf-a".into(), ..Default::default() };
    acc.list_open_pledges(pledges_a).await.expect("the intact project's pledges");
    let pending_a = pb::ListPendingExpensesRequest { project: "conf-a".into(), ..Default::default() };
    acc.list_pending_expenses(pending_a).await.expect("the intact project's pending expenses");
    let s = assert_code(record(&mut acc, vec![contribution("a-new", "conf-a", "1.00", None)]).await, Code::Unavailable);
    assert!(s.message().contains("conf-b"), "{}", s.message());

    let mut audit = d.audit(Some(&d.tokens.auditor)).await;
    let v = audit.verify(pb::VerifyRequest::default()).await.expect("a damaged store is reported, not an error");
    let v = v.into_inner();
    assert!(!v.ok);
    assert!(v.damage.iter().any(|x| x.project == "conf-b" && x.seq == 2), "{v:?}");
    let mut export = audit
        .export_chain(pb::ExportChainRequest { project: "conf-b".into(), from_seq: 0 })
        .await
        .expect("export starts")
        .into_inner();
    let mut seqs = Vec::new();
    let end = loop {
        match export.message().await {
            Ok(Some(m)) => seqs.extend(m.records.iter().map(|r| r.seq)),
            Ok(None) => break None,
            Err(s) => break Some(s.code()),
        }
    };
    assert_eq!(seqs, [1], "the export stops before the first bad record");
    assert_eq!(end, Some(Code::DataLoss));
}
