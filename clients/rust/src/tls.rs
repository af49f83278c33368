//! What a failed connection to `fiscusd` means when TLS is involved, in words: the server's
//! certificate expired, is for another host name, is a CA certificate used as a server's, is
//! signed by a CA this client does not trust, is not for TLS servers; or the server does not speak
//! TLS at all (`https://` to a plaintext port), or speaks it to an `http://` URL ([`speaks_tls`]).
//!
//! The facts come from rustls's error (`rustls::CertificateError`), found in the transport error's
//! chain of sources.

use std::error::Error;
use std::time::Duration;

use rustls::pki_types::UnixTime;
use rustls::CertificateError;
use tonic::transport::{ClientTlsConfig, Endpoint};

/// Where an operator finds how to make a certificate that works.
const RECIPE: &str = "daemon/README.md, \"TLS\", has a recipe for one";

/// How long [`speaks_tls`] waits for its whole probe: the connection and the handshake.
pub const PROBE_TIMEOUT_MS: u64 = 5_000;

/// The rustls error in `e`'s chain of sources, if any (tokio-rustls hands it over inside an
/// `io::Error`, whose `source` skips it).
fn rustls_error<'a>(e: &'a (dyn Error + 'static)) -> Option<&'a rustls::Error> {
    let mut next: Option<&'a (dyn Error + 'static)> = Some(e);
    while let Some(err) = next {
        if let Some(r) = err.downcast_ref::<rustls::Error>() {
            return Some(r);
        }
        if let Some(r) = err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return Some(r);
        }
        next = err.source();
    }
    None
}

/// `books.example.org` of rustls's `DnsName("books.example.org")`, `127.0.0.1` of
/// `IpAddress(127.0.0.1)`.
fn plain_name(presented: &str) -> &str {
    presented
        .split_once('(')
        .and_then(|(_, rest)| rest.strip_suffix(')'))
        .map(|inner| inner.trim_matches('"'))
        .unwrap_or(presented)
}

fn date(t: &UnixTime) -> String {
    chrono::DateTime::from_timestamp(i64::try_from(t.as_secs()).unwrap_or(i64::MAX), 0)
        .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| format!("{} seconds after 1970", t.as_secs()))
}

/// The words for a failed connection to `url`, when TLS explains it; `None` otherwise.
pub fn explain(url: &str, e: &(dyn Error + 'static)) -> Option<String> {
    let host = url.split("://").nth(1).unwrap_or(url).split(['/', '?']).next().unwrap_or(url);
    let problem = match rustls_error(e)? {
        rustls::Error::InvalidCertificate(c) => match c {
            CertificateError::ExpiredContext { not_after, .. } => {
                format!("fiscusd's TLS certificate expired on {}; its operator must renew it", date(not_after))
            }
            CertificateError::Expired => "fiscusd's TLS certificate has expired; its operator must renew it".to_owned(),
            CertificateError::NotValidYetContext { not_before, .. } => format!(
                "fiscusd's TLS certificate is not valid before {} (is this machine's clock right?)",
                date(not_before)
            ),
            CertificateError::NotValidYet => {
                "fiscusd's TLS certificate is not valid yet (is this machine's clock right?)".to_owned()
            }
            CertificateError::UnknownIssuer => "fiscusd's TLS certificate is not signed by a CA this client trusts: \
                 give the CA certificate that signed it (fiscus --tls-ca CA.pem, or FISCUS_TLS_CA); without one, \
                 the system's roots are used"
                .to_owned(),
            CertificateError::NotValidForNameContext { expected, presented } => format!(
                "fiscusd's TLS certificate is not for the name {} this client connects to; it is for {}: \
                 connect by one of those names, or give the name to expect (fiscus --tls-domain NAME)",
                expected.to_str(),
                presented.iter().map(|p| plain_name(p)).collect::<Vec<_>>().join(", ")
            ),
            CertificateError::NotValidForName => format!(
                "fiscusd's TLS certificate is not for {host}: connect by a name it lists, or give the name to \
                 expect (fiscus --tls-domain NAME)"
            ),
            CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => format!(
                "fiscusd's TLS certificate is not for TLS servers (its extendedKeyUsage lacks serverAuth); {RECIPE}"
            ),
            CertificateError::BadSignature => {
                "fiscusd's TLS certificate's signature does not verify with its issuer's key".to_owned()
            }
            CertificateError::Other(other) if other.to_string().contains("CaUsedAsEndEntity") => format!(
                "fiscusd's TLS certificate is a CA certificate (basicConstraints CA:TRUE, as a plain `openssl req \
                 -x509` makes), and a server needs one with CA:FALSE signed by a CA; {RECIPE}"
            ),
            other => format!("fiscusd's TLS certificate is refused: {other}"),
        },
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => {
            format!("the server at {host} does not speak TLS: if fiscusd listens there in plaintext, use http://{host}")
        }
        other => format!("the TLS handshake with {host} failed: {other}"),
    };
    Some(problem)
}

/// Whether the server at `url` (`http://host:port`) answers a TLS handshake: a plaintext call that
/// failed at the HTTP/2 layer may have reached a TLS port. Any certificate, trusted or not, is an
/// answer in TLS. No answer within [`PROBE_TIMEOUT_MS`] (a stopped server's port takes the
/// connection and answers nothing) is "no".
pub async fn speaks_tls(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("http://") else { return false };
    let Ok(endpoint) = Endpoint::from_shared(format!("https://{rest}")) else { return false };
    let Ok(endpoint) = endpoint
        .connect_timeout(Duration::from_millis(PROBE_TIMEOUT_MS))
        .tls_config(ClientTlsConfig::new().with_native_roots())
    else {
        return false;
    };
    match tokio::time::timeout(Duration::from_millis(PROBE_TIMEOUT_MS), endpoint.connect()).await {
        Ok(Ok(_)) => true,
        Ok(Err(e)) => matches!(rustls_error(&e), Some(rustls::Error::InvalidCertificate(_))),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As tokio-rustls hands a handshake error over: inside an `io::Error`.
    fn handed_over(e: rustls::Error) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::InvalidData, e)
    }

    #[test]
    fn certificate_errors_are_said_in_words() {
        let url = "https://books.example.org:7878";
        let expired = handed_over(rustls::Error::InvalidCertificate(CertificateError::ExpiredContext {
            time: UnixTime::since_unix_epoch(Duration::from_secs(1_800_000_000)),
            not_after: UnixTime::since_unix_epoch(Duration::from_secs(1_700_000_000)),
        }));
        let said = explain(url, &expired).expect("explained");
        assert!(said.contains("expired on 2023-11-14 22:13 UTC") && said.contains("renew"), "{said}");
        let name = handed_over(rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext {
            expected: rustls::pki_types::ServerName::try_from("books.example.org").expect("name"),
            presented: vec!["DnsName(\"localhost\")".to_owned(), "IpAddress(127.0.0.1)".to_owned()],
        }));
        let said = explain(url, &name).expect("explained");
        assert!(
            said.contains("not for the name books.example.org") && said.contains("for localhost, 127.0.0.1"),
            "{said}"
        );
        let plain = handed_over(rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType));
        let said = explain(url, &plain).expect("explained");
        assert!(said.contains("does not speak TLS") && said.contains("http://books.example.org:7878"), "{said}");
        assert_eq!(explain(url, &std::io::Error::other("connection refused")), None);
    }
}
