//! The TLS certificate and key fiscusd serves with, checked at start the way a client will check
//! them, so that a certificate no client can accept is refused in words when fiscusd starts, not
//! discovered as a handshake failure on every client later.
//!
//! Checked: the files hold a PEM certificate chain and a PEM private key; the key is the
//! certificate's (same public key); and the certificate verifies as a TLS server certificate
//! (RFC 5280 path validation by webpki, as rustls clients do) with the file's own certificates as
//! the trusted roots: not expired, valid already, not a CA certificate (basicConstraints
//! `CA:FALSE`), for TLS servers (extendedKeyUsage `serverAuth` when the extension is present).
//! What only a client can know, its trusted CAs and the host name it connects to, is not checked
//! here; a client explains those in words when it connects (`fiscus-client`).

use std::path::Path;
use std::sync::Arc;

use fiscus_ledger::files::{read_bounded, Links};

use tonic::transport::Identity;
use tonic::transport::ServerTlsConfig;

use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, Error as TlsError, InconsistentKeys, RootCertStore};

use crate::config::TlsFiles;

/// Most bytes of the PEM certificate chain (`--tls-cert`), as the command line's `--tls-ca`.
pub const CERTIFICATES_BYTES_MAX: u64 = 1024 * 1024;

/// Most bytes of the PEM private key (`--tls-key`): an RSA key of 16384 bits is about 13 KiB.
pub const KEY_BYTES_MAX: u64 = 64 * 1024;

/// Where an operator finds how to make a certificate that works.
const RECIPE: &str = "see daemon/README.md, \"TLS\", for a recipe that makes one";

/// Reads and checks `files`; answers the TLS configuration with that identity, or why it cannot
/// serve, naming the file.
pub fn server_config(files: &TlsFiles) -> Result<ServerTlsConfig, String> {
    let cert = read_bounded(&files.cert, CERTIFICATES_BYTES_MAX, "TLS certificate chain", Links::Follow)
        .map_err(|e| format!("TLS certificate {}: {e}", files.cert.display()))?;
    let key = read_bounded(&files.key, KEY_BYTES_MAX, "TLS key", Links::Follow)
        .map_err(|e| format!("TLS key {}: {e}", files.key.display()))?;
    check(&cert, &key, &files.cert, &files.key, UnixTime::now())?;
    Ok(ServerTlsConfig::new().identity(Identity::from_pem(cert, key)))
}

/// The checks of the module's page on PEM bytes, at time `now`.
pub fn check(cert_pem: &[u8], key_pem: &[u8], cert_path: &Path, key_path: &Path, now: UnixTime) -> Result<(), String> {
    let cert_file = cert_path.display();
    let key_file = key_path.display();
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("TLS certificate {cert_file}: not a PEM certificate chain ({e})"))?;
    let Some(leaf) = chain.first() else {
        return Err(format!("TLS certificate {cert_file}: no certificate in it (a PEM \"BEGIN CERTIFICATE\" block)"));
    };
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|e| format!("TLS key {key_file}: not a PEM private key ({e})"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    match rustls::sign::CertifiedKey::from_der(chain.clone(), key, &provider) {
        Ok(_) => {}
        Err(TlsError::InconsistentKeys(InconsistentKeys::KeyMismatch)) => {
            return Err(format!(
                "the TLS key {key_file} does not match the certificate {cert_file}: the certificate was made for \
                 another key (give the key it was made with)"
            ))
        }
        Err(e) => return Err(format!("TLS key {key_file} cannot be used: {e}")),
    }
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(chain.iter().cloned());
    let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map_err(|e| format!("TLS certificate {cert_file}: {e}"))?;
    // A name no certificate lists: a name mismatch is the client's to judge, and is checked last.
    let name = ServerName::try_from("fiscusd.invalid").expect("a valid DNS name");
    match verifier.verify_server_cert(leaf, &chain[1..], &name, &[], now) {
        Ok(_) => Ok(()),
        Err(TlsError::InvalidCertificate(
            CertificateError::UnknownIssuer
            | CertificateError::NotValidForName
            | CertificateError::NotValidForNameContext { .. },
        )) => Ok(()),
        Err(TlsError::InvalidCertificate(problem)) => Err(format!(
            "TLS certificate {cert_file}: {}; clients will refuse it, so fiscusd does not start with it ({RECIPE})",
            certificate_problem(&problem)
        )),
        Err(e) => Err(format!("TLS certificate {cert_file}: {e} ({RECIPE})")),
    }
}

/// A certificate problem in words, as an operator reads it.
fn certificate_problem(problem: &CertificateError) -> String {
    let date = |t: &UnixTime| {
        chrono::DateTime::from_timestamp(i64::try_from(t.as_secs()).unwrap_or(i64::MAX), 0)
            .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
            .unwrap_or_else(|| format!("{} seconds after 1970", t.as_secs()))
    };
    match problem {
        CertificateError::ExpiredContext { not_after, .. } => format!("it expired on {}", date(not_after)),
        CertificateError::Expired => "it has expired".to_owned(),
        CertificateError::NotValidYetContext { not_before, .. } => {
            format!("it is not valid before {} (is the clock right?)", date(not_before))
        }
        CertificateError::NotValidYet => "it is not valid yet (is the clock right?)".to_owned(),
        CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
            "it is not for TLS servers (its extendedKeyUsage lacks serverAuth)".to_owned()
        }
        CertificateError::Other(other) if other.to_string().contains("CaUsedAsEndEntity") => {
            "it is a CA certificate (basicConstraints CA:TRUE, which a plain `openssl req -x509` makes), not a server \
             certificate: make a small CA and sign a server certificate with CA:FALSE"
                .to_owned()
        }
        CertificateError::BadSignature => "its signature does not verify with its issuer's key".to_owned(),
        CertificateError::BadEncoding => "it is not a well-formed X.509 certificate".to_owned(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths() -> (&'static Path, &'static Path) {
        (Path::new("cert.pem"), Path::new("key.pem"))
    }

    #[test]
    fn a_certificate_of_another_key_is_refused_in_words() {
        let a = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("cert");
        let b = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("cert");
        let (c, k) = paths();
        let ok = check(a.cert.pem().as_bytes(), a.key_pair.serialize_pem().as_bytes(), c, k, UnixTime::now());
        assert_eq!(ok, Ok(()));
        let err = check(a.cert.pem().as_bytes(), b.key_pair.serialize_pem().as_bytes(), c, k, UnixTime::now())
            .expect_err("another key");
        assert!(err.contains("does not match the certificate"), "{err}");
        let err = check(b"nothing", b"", c, k, UnixTime::now()).expect_err("no PEM");
        assert!(err.contains("no certificate in it"), "{err}");
    }

    #[test]
    fn expired_and_ca_certificates_are_refused_in_words() {
        let (c, k) = paths();
        let key = rcgen::KeyPair::generate().expect("key");
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).expect("params");
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        let expired = params.self_signed(&key).expect("cert");
        let err = check(expired.pem().as_bytes(), key.serialize_pem().as_bytes(), c, k, UnixTime::now())
            .expect_err("expired");
        assert!(err.contains("it expired on 2021-01-01"), "{err}");
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).expect("params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = params.self_signed(&key).expect("cert");
        let err = check(ca.pem().as_bytes(), key.serialize_pem().as_bytes(), c, k, UnixTime::now()).expect_err("a CA");
        assert!(err.contains("is a CA certificate") && err.contains("README"), "{err}");
    }
}
