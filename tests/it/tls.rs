//! TLS: with a certificate and key, fiscusd serves over rustls; a client trusting the certificate
//! gets through, a plaintext client does not.

use fiscus_proto::pb;
use fiscus_proto::pb::ledger_client::LedgerClient;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_serves_clients_that_trust_the_certificate() {
    let plain = Daemon::start().await;
    let (dir, tokens) = (plain.dir.clone(), plain.tokens.clone());
    assert!(plain.stop().success());
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("a self-signed certificate");
    let (cert_pem, key_pem) = (cert.cert.pem(), cert.key_pair.serialize_pem());
    let (cert_file, key_file) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_file, &cert_pem).expect("cert");
    std::fs::write(&key_file, &key_pem).expect("key");
    let args =
        ["--tls-cert", cert_file.to_str().expect("utf-8 path"), "--tls-key", key_file.to_str().expect("utf-8 path")];
    let d = Daemon::spawn_tls(dir, tokens, &args, Some(cert_pem.into_bytes())).await;
    assert!(d.log().contains("https"), "the log says it serves TLS");
    let mut admin = d.ledger(Some(&d.tokens.admin)).await;
    open(&mut admin, "conf-a", 0).await;
    let b = admin.get_balance(pb::GetBalanceRequest { project: "conf-a".into(), currency: None, as_of: None }).await;
    assert!(b.is_ok(), "{b:?}");
    // Plaintext to the TLS port fails.
    let url = format!("http://{}", d.addr);
    let plaintext = async {
        let channel = tonic::transport::Endpoint::from_shared(url)?.connect().await?;
        let mut c = LedgerClient::new(channel);
        c.list_projects(pb::ListProjectsRequest::default())
            .await
            .map_err(|s| Box::new(s) as Box<dyn std::error::Error>)?;
        Ok::<(), Box<dyn std::error::Error>>(())
    };
    let plaintext = tokio::time::timeout(std::time::Duration::from_secs(20), plaintext).await.expect("in time");
    assert!(plaintext.is_err());
}
